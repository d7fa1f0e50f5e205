"""Numba tier of ``tinysr/ops/linear.py``: every ``*_numba`` function here equals the ``*_reference`` one there.

The equations, the shapes and the NumPy reference are in ``tinysr/ops/linear.py``; here is only
what makes them fast on a CPU (``prange`` loops over independent outputs).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _matmul_kernel(a, b):
    # np.dot inside nopython code calls BLAS (through scipy), the fastest way to multiply.
    return np.dot(a, b)


@njit(cache=True, parallel=True)
def _add_bias_kernel(out, bias):
    # rows are independent outputs, so they can be split between threads
    n_batch, features = out.shape
    for n in prange(n_batch):
        for o in range(features):
            out[n, o] += bias[o]


@njit(cache=True)
def _sum_rows_kernel(grad_output):
    # sample by sample, so that each row is read contiguously
    n_batch, features = grad_output.shape
    total = np.zeros(features, dtype=grad_output.dtype)
    for n in range(n_batch):
        for o in range(features):
            total[o] += grad_output[n, o]
    return total


def linear_forward_numba(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """Numba tier of :func:`linear_forward_reference` (arrays contiguous)."""
    out = _matmul_kernel(x, weight.T)
    if bias is not None:
        _add_bias_kernel(out, bias)
    return out


def linear_backward_numba(
    grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, has_bias: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Numba tier of :func:`linear_backward_reference`."""
    grad_input = _matmul_kernel(grad_output, weight)
    grad_weight = _matmul_kernel(grad_output.T, x)
    grad_bias = _sum_rows_kernel(grad_output) if has_bias else None
    return grad_input, grad_weight, grad_bias
