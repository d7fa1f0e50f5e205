"""Numba tier of ``tinysr/ops/prelu.py``: every ``*_numba`` function here equals the ``*_reference`` one there.

The element rules are leaky ReLU's (``tinysr/ops/activations.py``) with the channel's slope, and
``prelu_slope_grad`` (``tinysr/ops/prelu.py``), compiled with ``numba.njit``. Each ``prange``
iteration owns one (n, c) plane, so it knows its slope and writes only its own cells; the slope
gradient is summed per plane into ``partial[n, c]`` and the planes' sums are added afterwards,
never with ``+=`` into one cell from parallel iterations.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinysr.ops import activations, prelu

leaky_relu = njit(activations.leaky_relu)
leaky_relu_grad = njit(activations.leaky_relu_grad)
prelu_slope_grad = njit(prelu.prelu_slope_grad)


@njit(cache=True, parallel=True)
def _prelu_map(x, weight, out):
    """x, out (N, C, S): one (n, c) plane per iteration, with that channel's slope."""
    n_batch, channels, size = x.shape
    for plane in prange(n_batch * channels):
        n, c = plane // channels, plane % channels
        slope = weight[0] if weight.shape[0] == 1 else weight[c]
        for s in range(size):
            out[n, c, s] = leaky_relu(x[n, c, s], slope)


# ``reassoc`` lets LLVM split the slope-gradient sum over SIMD lanes (nothing else is relaxed).
@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _prelu_grad_map(grad_output, x, weight, grad_input, partial):
    """grad_input of every plane, and partial[n, c] = that plane's share of the slope gradient.

    Each iteration owns its own cell of ``partial``, so there is no race; the caller sums them.
    """
    n_batch, channels, size = x.shape
    for plane in prange(n_batch * channels):
        n, c = plane // channels, plane % channels
        slope = weight[0] if weight.shape[0] == 1 else weight[c]
        acc = 0.0
        for s in range(size):
            grad_input[n, c, s] = leaky_relu_grad(grad_output[n, c, s], x[n, c, s], slope)
            acc += prelu_slope_grad(grad_output[n, c, s], x[n, c, s])
        partial[n, c] = acc


def _planes(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], a.shape[1], -1)


def prelu_forward_numba(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Numba tier of ``prelu_forward_reference``."""
    out = np.empty_like(x)
    _prelu_map(_planes(x), weight, _planes(out))
    return out


def prelu_backward_numba(grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numba tier of ``prelu_backward_reference``: the slope gradient is summed per plane in float64."""
    grad_input = np.empty_like(x)
    partial = np.empty((x.shape[0], x.shape[1]), dtype=np.float64)
    _prelu_grad_map(_planes(grad_output), _planes(x), weight, _planes(grad_input), partial)
    grad_weight = partial.sum().reshape(1) if weight.size == 1 else partial.sum(axis=0)
    return grad_input, grad_weight.astype(x.dtype)
