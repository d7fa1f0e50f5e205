"""Two thread races in numba's CUDA simulator, and the fix tinysr applies when it runs there.

The simulator (``NUMBA_ENABLE_CUDASIM=1``) runs every CUDA thread of a block as a Python thread.
Two of its shortcuts are not thread-safe, and both bite tinysr's kernels; ``make_thread_safe()``
replaces them with locked versions. It changes nothing on a real GPU, where it is never called.

1. ``cuda.shared.array`` finds a block's shared array by the source line that asks for it: it
   looks the line up in a dict and, if it is not there yet, makes a new array and stores it.
   Two threads that look at the same moment both miss, and each gets *its own* array, so the
   threads of the first block of a launch may write their tile into different "shared" arrays:
   silently wrong results, now and then (seen here: 12 of 140 input-gradient values of a
   tiled convolution read as 0, in one run out of several). A lock makes the look-up and the
   store one step. (It also takes the caller's line from its frame instead of formatting the
   whole call stack, which the simulator did at every call.)

2. Calling a device function swaps the simulator's stand-in for ``numba.cuda`` into the globals
   of the function's module, and puts the real module back when the call returns. When a device
   function from another module (``block_sum`` in ``_common.py``) runs in several threads at
   once, the first thread to return puts the real module back while the others still run, and
   they fail with ``AttributeError: module 'numba.cuda' has no attribute ...`` (fixed upstream
   in numba-cuda, NVIDIA/numba-cuda#690). Here a module's globals stay swapped while any thread
   is inside one of its functions.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import numpy as np

_lock = threading.Lock()
#: id(module globals) -> [threads inside, the entries that were swapped out]
_swapped: dict[int, list] = {}
#: the simulator's own ``FakeCUDAShared.array``, kept for dynamic shared memory (set by make_thread_safe)
_original_shared_array = None


def _shared_array(self, shape, dtype):
    """``cuda.shared.array`` of the simulator, with its look-up and store made one step."""
    if shape == 0:  # dynamic shared memory: one buffer for everything, no look-up to race on
        return _original_shared_array(self, shape, dtype)
    from numba.core import types
    from numba.np import numpy_support

    if isinstance(dtype, types.Type):
        dtype = numpy_support.as_dtype(dtype)
    caller = sys._getframe(1)
    key = (caller.f_code.co_filename, caller.f_lineno)  # the simulator's key: file and line
    with _lock:
        array = self._allocations.get(key)
        if array is None:
            array = self._allocations[key] = np.empty(shape, dtype)
    return array


@contextmanager
def _swapped_cuda_module(fn, fake_cuda_module):
    """The simulator's ``swapped_cuda_module``, counting the threads inside each module."""
    from numba import cuda

    module_globals = fn.__globals__
    key = id(module_globals)
    with _lock:
        entry = _swapped.get(key)
        if entry is None:
            original = {name: value for name, value in module_globals.items() if value is cuda}
            module_globals.update(dict.fromkeys(original, fake_cuda_module))
            entry = _swapped[key] = [0, original]
        entry[0] += 1
    try:
        yield
    finally:
        with _lock:
            entry[0] -= 1
            if entry[0] == 0:
                module_globals.update(entry[1])
                del _swapped[key]


def make_thread_safe() -> None:
    """Install both fixes into numba's simulator (idempotent)."""
    global _original_shared_array
    from numba.cuda.simulator import kernel, kernelapi

    if _original_shared_array is None:
        _original_shared_array = kernelapi.FakeCUDAShared.array
        kernelapi.FakeCUDAShared.array = _shared_array
    for module in (kernelapi, kernel):
        if hasattr(module, "swapped_cuda_module"):
            module.swapped_cuda_module = _swapped_cuda_module
