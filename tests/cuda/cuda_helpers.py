"""Helpers shared by the tests of the numba.cuda tier (tests/cuda)."""

from __future__ import annotations

import collections
import os

import numpy as np
from hypothesis import settings

import tinysr

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")

#: host <-> device copies counted by the strict simulator (tests/cuda/conftest.py)
TRANSFERS: collections.Counter = collections.Counter()
#: (module, qualname) of every kernel launched -> the argument types of its launches (for test_cuda_ptx.py)
LAUNCHES: dict = {}

#: hypothesis examples per property: the simulator runs every CUDA thread as a Python thread
EXAMPLES = 6 if SIMULATOR else 12
few_examples = settings(max_examples=EXAMPLES, deadline=None)

#: dtype and tolerance of a comparison of the CUDA tier with the CPU's Numba tier
DTYPES = [(np.float64, 1e-10), (np.float32, 1e-5)]


def gpu(x):
    """A host array on the GPU (None stays None)."""
    return None if x is None else tinysr.to_device(np.ascontiguousarray(x), "cuda")


def host(x):
    """A device array back on the host (None and Python numbers stay as they are)."""
    return x if x is None or isinstance(x, (float, int)) else tinysr.to_device(x, "cpu")


def assert_close(got, want, rtol, name=""):
    """``got`` (host or device) equals ``want`` within ``rtol``, relative to the size of ``want``."""
    if want is None:
        assert got is None, name
        return
    got = host(got)
    want = np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (name, got.shape, want.shape, got.dtype, want.dtype)
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=name)


def on_gpu(forward, backward):
    """An op pair that takes and returns host arrays but runs on the GPU: what ``tinysr.gradcheck`` checks.

    Every call copies its inputs to the GPU and its results back, so that finite differences,
    computed on the host, test the CUDA kernels.
    """

    def forward_on_gpu(*arrays):
        out, cache = forward(*[gpu(a) for a in arrays])
        return host(out), cache

    def backward_on_gpu(grad_output, cache):
        grads = backward(gpu(grad_output), cache)
        return tuple(host(g) for g in grads) if isinstance(grads, tuple) else host(grads)

    return forward_on_gpu, backward_on_gpu
