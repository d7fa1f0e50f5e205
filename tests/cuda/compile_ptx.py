"""Compile recorded kernel launches to PTX for a real GPU, without one: ``python compile_ptx.py launches.json``.

Run by ``test_cuda_ptx.py`` in a fresh process *without* the CUDA simulator. The simulator runs
kernels as plain Python, so it accepts code that numba's CUDA compiler rejects (a NumPy call it
does not support, a shared array whose size is not a compile-time constant, a type that cannot
be unified); this compiles every kernel for every argument-type signature the simulated tests
launched it with, for compute capability 8.0, which needs numba-cuda and its NVVM compiler (the
``cu12`` or ``cu13`` extra of numba-cuda) but no GPU. Exit status 0: all compiled; 1: a kernel
failed to compile (its error is printed); 3: no NVVM compiler here.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import sys
import time
from types import ModuleType

import numba
import numpy as np
from numba import cuda
from numba.core import types


def _numba_type(description):
    if description[0] == "array":
        _, dtype, ndim, layout = description
        return types.Array(numba.from_dtype(np.dtype(dtype)), ndim, layout)
    return types.boolean if description[1] == "bool" else numba.from_dtype(np.dtype(description[1]))


def _kernels(module_name: str, qualname: str) -> list:
    """The real kernel objects a recorded (module, qualname) stands for (closures: every tile shape)."""
    module = importlib.import_module(module_name)
    if "<locals>" not in qualname:
        return [getattr(module, qualname)]
    name = qualname.rsplit(".", 1)[1]
    holders = [value for value in vars(module).values()
               if hasattr(value, name) and hasattr(value, "block") and not isinstance(value, ModuleType)]
    if holders:  # conv2d's tile closures
        return [getattr(holder, name) for holder in holders]
    # kernels made from a scalar rule by tinysr.ops.cuda.maps: their launcher, in a tier module, holds them
    import tinysr.ops.cuda

    tier_modules = [importlib.import_module(f"tinysr.ops.cuda.{info.name}")
                    for info in pkgutil.iter_modules(tinysr.ops.cuda.__path__)]
    values = [v for m in tier_modules for value in vars(m).values()
              for v in (value.values() if isinstance(value, dict) else [value])]  # launchers, or tables of them
    return [value.kernel for value in values
            if hasattr(value, "kernel") and getattr(value.kernel, "py_func", None) is not None
            and value.kernel.py_func.__qualname__ == qualname]


class _ComputeCapability80:
    """Stands in for the GPU that a device function (``block_sum``, ``multiply_tiles``) asks for its
    compute capability when a kernel that calls it is compiled: there is no GPU here."""

    compute_capability = (8, 0)


def main(path: str) -> int:
    if importlib.util.find_spec("numba_cuda") is None:
        # numba's own (deprecated) CUDA target compiles differently from the maintained numba-cuda,
        # which is what a GPU user installs (the "cuda" extra): check against that one only
        print("the numba-cuda package is not installed")
        return 3
    import numba.cuda.dispatcher

    numba.cuda.dispatcher.get_current_device = _ComputeCapability80
    try:
        cuda.compile_ptx(lambda a: None, (types.float32[::1],), cc=(8, 0))
    except Exception as error:  # numba-cuda without its NVVM compiler
        print(f"no NVVM compiler: {error}".splitlines()[0])
        return 3
    with open(path) as f:
        launches = json.load(f)
    failures, compiled, start = 0, 0, time.time()
    for entry in launches:
        for kernel in _kernels(entry["module"], entry["qualname"]):
            for signature in entry["signatures"]:
                argument_types = tuple(_numba_type(d) for d in signature)
                try:
                    cuda.compile_ptx(kernel.py_func, argument_types, cc=(8, 0))
                    compiled += 1
                except Exception as error:
                    failures += 1
                    print(f"FAILED {entry['module']}.{entry['qualname']}{argument_types}:\n{error}\n")
    print(f"compiled {compiled} kernel signatures to PTX in {time.time() - start:.0f} s, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
