"""Numba tier of ``tinysr/ops/batchnorm.py``: every ``*_numba`` function here equals the ``*_reference`` one there.

The equations, the shapes and the NumPy reference are in ``tinysr/ops/batchnorm.py``; here is only
what makes them fast on a CPU (``prange`` loops over independent outputs).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from tinysr.ops.batchnorm import eval_statistics, update_running_statistics

# x, out, grad arrays are seen as (N, C, S) with S = H * W; one channel per prange iteration,
# so each iteration writes only its own channel's cells. A channel of an SRResNet batch
# (16 x 24 x 24 float32 = 36 KB) stays in cache across the passes over it.
# The sums may be reassociated (only that: no other fast-math licence), which lets LLVM keep
# several partial sums in SIMD lanes instead of one serial chain of additions; the result is
# still deterministic.
_REASSOCIATE = {"reassoc"}


@njit(cache=True, parallel=True, fastmath=_REASSOCIATE)
def _batch_statistics_kernel(x, eps, mean, var, inv_std):
    n_batch, channels, size = x.shape
    m = n_batch * size
    for c in prange(channels):
        total = 0.0
        for n in range(n_batch):
            for s in range(size):
                total += x[n, c, s]
        mu = total / m
        # Two passes (mean first, then squared deviations) avoid E[x^2] - E[x]^2 cancellation.
        squares = 0.0
        for n in range(n_batch):
            for s in range(size):
                d = x[n, c, s] - mu
                squares += d * d
        mean[c] = mu
        var[c] = squares / m
        inv_std[c] = 1.0 / math.sqrt(squares / m + eps)


@njit(cache=True, parallel=True)
def _normalize_kernel(x, weight, bias, mean, inv_std, out):
    n_batch, channels, size = x.shape
    for c in prange(channels):
        mu = mean[c]
        scale = weight[c] * inv_std[c]
        shift = bias[c]
        for n in range(n_batch):
            for s in range(size):
                out[n, c, s] = (x[n, c, s] - mu) * scale + shift


@njit(cache=True, parallel=True, fastmath=_REASSOCIATE)
def _backward_kernel(grad_output, x, weight, mean, inv_std, training, grad_input, grad_weight, grad_bias):
    n_batch, channels, size = x.shape
    m = n_batch * size
    for c in prange(channels):
        mu = mean[c]
        istd = inv_std[c]
        sum_g = 0.0
        sum_g_xhat = 0.0
        for n in range(n_batch):
            for s in range(size):
                g = grad_output[n, c, s]
                sum_g += g
                sum_g_xhat += g * ((x[n, c, s] - mu) * istd)
        grad_bias[c] = sum_g
        grad_weight[c] = sum_g_xhat
        if training:
            k = weight[c] * istd / m
            for n in range(n_batch):
                for s in range(size):
                    x_hat = (x[n, c, s] - mu) * istd
                    grad_input[n, c, s] = k * (m * grad_output[n, c, s] - sum_g - x_hat * sum_g_xhat)
        else:
            k = weight[c] * istd
            for n in range(n_batch):
                for s in range(size):
                    grad_input[n, c, s] = k * grad_output[n, c, s]


def _as_channels(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], a.shape[1], -1)


def batch_norm2d_forward_numba(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, running_mean: np.ndarray,
                              running_var: np.ndarray, training: bool, momentum: float, eps: float) -> tuple:
    """Numba tier of ``batch_norm2d_forward_reference`` (``x`` contiguous): ``(out, mean, inv_std)``."""
    channels = x.shape[1]
    x3 = _as_channels(x)
    if training:
        mean = np.empty(channels)
        var = np.empty(channels)
        inv_std = np.empty(channels)
        _batch_statistics_kernel(x3, float(eps), mean, var, inv_std)
        update_running_statistics(running_mean, running_var, mean, var, x.size // channels, momentum)
    else:
        mean, var, inv_std = eval_statistics(running_mean, running_var, eps)
    out = np.empty_like(x)
    _normalize_kernel(x3, weight.astype(np.float64), bias.astype(np.float64), mean, inv_std, _as_channels(out))
    return out, mean, inv_std


def batch_norm2d_backward_numba(grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, mean: np.ndarray,
                               inv_std: np.ndarray, training: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numba tier of :func:`batch_norm2d_backward_reference` (arrays contiguous)."""
    channels = x.shape[1]
    grad_input = np.empty_like(x)
    grad_weight = np.empty(channels, dtype=x.dtype)
    grad_bias = np.empty(channels, dtype=x.dtype)
    _backward_kernel(
        _as_channels(grad_output),
        _as_channels(x),
        weight.astype(np.float64),
        mean,
        inv_std,
        bool(training),
        _as_channels(grad_input),
        grad_weight,
        grad_bias,
    )
    return grad_input, grad_weight, grad_bias
