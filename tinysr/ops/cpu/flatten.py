"""Numba tier of ``tinysr/ops/flatten.py``: every ``*_numba`` function here equals the ``*_reference`` one there.

The equations, the shapes and the NumPy reference are in ``tinysr/ops/flatten.py``; here is only
what makes them fast on a CPU (``prange`` loops over independent outputs).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _copy_kernel(source, out):
    # source and out are flat; every element is its own output, so any split between threads is safe
    for i in prange(source.size):
        out[i] = source[i]


def _copy_reshaped(a: np.ndarray, shape: tuple) -> np.ndarray:
    """Copy the contiguous array ``a`` into a new array of ``shape`` (same number of elements)."""
    out = np.empty(shape, dtype=a.dtype)
    _copy_kernel(a.reshape(-1), out.reshape(-1))
    return out


def flatten_forward_numba(x: np.ndarray) -> np.ndarray:
    """Numba tier of :func:`flatten_forward_reference` (``x`` contiguous)."""
    return _copy_reshaped(x, (x.shape[0], math.prod(x.shape[1:])))


def flatten_backward_numba(grad_output: np.ndarray, in_shape: tuple) -> np.ndarray:
    """Numba tier of :func:`flatten_backward_reference` (``grad_output`` contiguous)."""
    return _copy_reshaped(grad_output, in_shape)
