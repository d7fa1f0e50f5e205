"""Tests of the numba.cuda tier: on a real GPU, or on numba's CUDA simulator on any machine.

Run them in their own process, with the simulator switched on before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda

Without the simulator and without a GPU (the plain ``pytest`` run) every test here is skipped,
with the reason. With a GPU, ``pytest tests/cuda`` runs them on it.

Under the simulator this file also makes device arrays *strict*: the simulator's stand-in for a
device array is a thin wrapper around a NumPy array that quietly supports ``a + b``,
``numpy.pad(a)``, ``a.copy()`` and every other NumPy method, none of which a real
``DeviceNDArray`` has (or, for ``numpy.asarray``, which silently copies the whole array to the
host). Code that relied on them would pass here and fail, or crawl, on a GPU. So, for the
duration of the tests, the wrapper refuses everything a real device array does not offer, kernel
launches refuse host arrays (numba would copy them to the device and back at every launch), and
every copy between host and device is counted (``transfers`` fixture).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from cuda_helpers import LAUNCHES, SIMULATOR, TRANSFERS


def _reason_to_skip() -> str | None:
    from tinysr.device import _unavailable_reason

    reason = _unavailable_reason()
    if reason is None:
        return None
    return f"{reason}; the simulator run is: NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda"


SKIP_REASON = _reason_to_skip()


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    ours = [item for item in items if str(item.fspath).startswith(here)]
    if SKIP_REASON is not None:
        for item in ours:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))
        return
    # the PTX check compiles every kernel signature that the other tests launched: it goes last
    last = [item for item in ours if "test_cuda_ptx" in str(item.fspath)]
    for item in last:
        items.remove(item)
        items.append(item)


# --------------------------------------------------------------------------- the strict simulator

#: what a real numba.cuda DeviceNDArray offers on the host (numba_cuda/.../cudadrv/devicearray.py)
DEVICE_ARRAY_API = {
    "shape", "strides", "dtype", "size", "ndim", "nbytes", "alloc_size", "stream", "gpu_data", "flags",
    "T", "transpose", "copy_to_host", "copy_to_device", "reshape", "ravel", "view", "squeeze", "split",
    "bind", "is_c_contiguous", "is_f_contiguous", "getitem", "setitem", "get_ipc_handle",
    "device_ctypes_pointer", "as_cuda_arg", "_numba_type_", "__cuda_array_interface__",
    # what the simulator itself reads from the wrapped array while running a kernel
    "itemsize", "item", "__array_interface__", "data", "ctypes",
}

_ARITHMETIC = [
    "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__", "__imul__",
    "__truediv__", "__rtruediv__", "__itruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__pow__",
    "__neg__", "__pos__", "__abs__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "__and__", "__or__", "__xor__", "__invert__", "__matmul__",
]



def _describe(arg):
    """The numba type a real launch would give ``arg``, as plain data (rebuilt in test_cuda_ptx.py)."""
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray, FakeWithinKernelCUDAArray

    if isinstance(arg, FakeWithinKernelCUDAArray):
        arg = arg._item
    if isinstance(arg, FakeCUDAArray):
        layout = "C" if arg._ary.flags.c_contiguous else "A"
        return ("array", arg._ary.dtype.str, arg._ary.ndim, layout)
    if isinstance(arg, (bool, np.bool_)):
        return ("scalar", "bool")
    if isinstance(arg, np.generic):
        return ("scalar", arg.dtype.str)
    if isinstance(arg, int):
        return ("scalar", "<i8")
    if isinstance(arg, float):
        return ("scalar", "<f8")
    raise TypeError(f"a kernel was launched with an argument of type {type(arg).__name__}")


def _make_strict(monkeypatch):  # noqa: C901 (one check per way a launch can be wrong, in one place)
    from numba import cuda
    from numba.cuda.simulator import kernel as sim_kernel
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    def refuse(name):
        def method(self, *args, **kwargs):
            raise TypeError(f"a numba.cuda device array has no {name} (the simulator's stand-in does); "
                            "use a kernel from tinysr/ops/cuda")
        return method

    for name in _ARITHMETIC:
        if name in vars(FakeCUDAArray):
            monkeypatch.setattr(FakeCUDAArray, name, refuse(name))
    monkeypatch.setattr(FakeCUDAArray, "__hash__", object.__hash__)

    original_getattr = FakeCUDAArray.__getattr__

    def strict_getattr(self, name):
        if name not in DEVICE_ARRAY_API:
            raise AttributeError(f"a numba.cuda device array has no attribute {name!r} (the simulator's "
                                 "stand-in forwards it to NumPy; a real one does not)")
        return original_getattr(self, name)

    monkeypatch.setattr(FakeCUDAArray, "__getattr__", strict_getattr)

    def no_implicit_copy(self, dtype=None, copy=None):
        raise TypeError("numpy.asarray(device_array) copies the whole array to the host; "
                        "call copy_to_host() or tinysr.to_device(x, 'cpu') if that is meant")

    monkeypatch.setattr(FakeCUDAArray, "__array__", no_implicit_copy, raising=False)

    original_is_c_contiguous = FakeCUDAArray.is_c_contiguous

    def strict_is_c_contiguous(self):
        # a real device array with a stride of 0 (x[None] copied as it is) counts as broadcast,
        # never contiguous (numba-cuda's dummyarray), where NumPy and the stand-in call it contiguous
        if self._ary.size and 0 in self._ary.strides:
            return False
        return original_is_c_contiguous(self)

    monkeypatch.setattr(FakeCUDAArray, "is_c_contiguous", strict_is_c_contiguous)

    original_copy_to_host = FakeCUDAArray.copy_to_host

    def counted_copy_to_host(self, *args, **kwargs):
        TRANSFERS["to_host"] += 1
        return original_copy_to_host(self, *args, **kwargs)

    monkeypatch.setattr(FakeCUDAArray, "copy_to_host", counted_copy_to_host)

    original_to_device = cuda.to_device

    def counted_to_device(obj, *args, **kwargs):
        TRANSFERS["to_device"] += 1
        return original_to_device(obj, *args, **kwargs)

    monkeypatch.setattr(cuda, "to_device", counted_to_device)

    original_call = sim_kernel.FakeCUDAKernel.__call__

    def strict_call(self, *args):
        if not self._device and sim_kernel._get_kernel_context() is None:
            for i, arg in enumerate(args):
                if isinstance(arg, np.ndarray) and arg.ndim > 0:
                    raise TypeError(f"kernel {self.fn.__qualname__} got a host array as argument {i}: numba would "
                                    "copy it to the GPU and back at every launch")
            key = (self.fn.__module__, self.fn.__qualname__)
            LAUNCHES.setdefault(key, set()).add(tuple(_describe(arg) for arg in args))
        return original_call(self, *args)

    monkeypatch.setattr(sim_kernel.FakeCUDAKernel, "__call__", strict_call)


@pytest.fixture(autouse=True)
def strict_device_arrays(monkeypatch):
    """Under the simulator, device arrays behave like real ones (see the module docstring)."""
    if SIMULATOR and SKIP_REASON is None:
        # The simulator's block manager polls its Python threads in a busy loop; a short GIL
        # switch interval lets the simulated threads run instead (7x faster measured).
        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-4)
        _make_strict(monkeypatch)
        yield
        sys.setswitchinterval(previous)
    else:
        yield


@pytest.fixture
def transfers():
    """A counter of host <-> device copies ("to_device", "to_host") since the test started (simulator only)."""
    if not SIMULATOR:
        pytest.skip("host <-> device copies are counted on the simulator only")
    TRANSFERS.clear()
    return TRANSFERS
