"""The two thread races of numba's CUDA simulator that ``tinysr/ops/cuda/_simulator.py`` mends.

Measured before the fix, on a tiled convolution and its gradients launched 100 times under the
simulator: 5 runs out of 100 gave wrong values; with only the swap fixed, 3; with only the shared
arrays fixed, 0. A race that shows up a few times in a hundred makes a poor test, so these tests
force the unlucky interleaving instead, and fail without the fix.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from cuda_helpers import SIMULATOR
from numba import cuda

import tinysr.ops.cuda._common  # noqa: F401  (importing the CUDA tier installs the fix)

pytestmark = pytest.mark.skipif(not SIMULATOR, reason="these are about numba's CUDA simulator, not a GPU")


def test_two_threads_asking_for_one_shared_array_get_the_same_one(monkeypatch):
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    shared = FakeCUDAShared(0)  # one block's shared memory
    real_empty = np.empty

    def slow_empty(*args, **kwargs):
        time.sleep(0.05)  # widen the gap between "not allocated yet" and "stored"
        return real_empty(*args, **kwargs)

    monkeypatch.setattr(np, "empty", slow_empty)
    got = [None, None]

    def ask(i):
        got[i] = shared.array(4, np.float64)  # one source line for both threads, as in a kernel

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got[0] is got[1], "the two threads of a block got different 'shared' arrays"


def test_a_module_stays_swapped_while_any_thread_is_inside_it():
    from numba.cuda.simulator import kernelapi

    module_globals = {"cuda": cuda}
    exec("def device_function(): pass", module_globals)  # a stand-in for a module with a device function
    function, fake = module_globals["device_function"], object()
    first = kernelapi.swapped_cuda_module(function, fake)
    second = kernelapi.swapped_cuda_module(function, fake)
    first.__enter__()   # thread A calls the device function
    second.__enter__()  # thread B calls it too, before A returns
    first.__exit__(None, None, None)  # A returns
    assert module_globals["cuda"] is fake, "thread B would now see the real numba.cuda"
    second.__exit__(None, None, None)
    assert module_globals["cuda"] is cuda
