"""Numba tier of ``tinysr/ops/add.py``: every ``*_numba`` function here equals the ``*_reference`` one there.

The equations, the shapes and the NumPy reference are in ``tinysr/ops/add.py``; here is only
what makes them fast on a CPU (``prange`` loops over independent outputs).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _add_kernel(a, b, out):
    # flat arrays; each element is its own output
    for i in prange(a.size):
        out[i] = a[i] + b[i]


@njit(cache=True, parallel=True)
def _copy_twice_kernel(source, first, second):
    for i in prange(source.size):
        first[i] = source[i]
        second[i] = source[i]


def add_forward_numba(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Numba tier of :func:`add_forward_reference` (arrays contiguous)."""
    out = np.empty_like(a)
    _add_kernel(a.reshape(-1), b.reshape(-1), out.reshape(-1))
    return out


def add_backward_numba(grad_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numba tier of :func:`add_backward_reference` (``grad_output`` contiguous)."""
    grad_a = np.empty_like(grad_output)
    grad_b = np.empty_like(grad_output)
    _copy_twice_kernel(grad_output.reshape(-1), grad_a.reshape(-1), grad_b.reshape(-1))
    return grad_a, grad_b
