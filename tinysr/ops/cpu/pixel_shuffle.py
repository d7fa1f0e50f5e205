"""Numba tier of ``tinysr/ops/pixel_shuffle.py``: every ``*_numba`` function here equals the ``*_reference`` one there.

The equations, the shapes and the NumPy reference are in ``tinysr/ops/pixel_shuffle.py``; here is only
what makes them fast on a CPU (``prange`` loops over independent outputs).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _shuffle_kernel(x, r, out):
    # out (N, C, H * r, W * r), x (N, C * r * r, H, W); one (n, c) plane of out per iteration,
    # and each output row is written left to right.
    n_batch, c_out, out_height, out_width = out.shape
    height = out_height // r
    width = out_width // r
    for plane in prange(n_batch * c_out):
        n = plane // c_out
        c = plane % c_out
        for h in range(height):
            for i in range(r):
                for w in range(width):
                    for j in range(r):
                        out[n, c, h * r + i, w * r + j] = x[n, c * r * r + i * r + j, h, w]


@njit(cache=True, parallel=True)
def _unshuffle_kernel(x, r, out):
    # x (N, C, H * r, W * r), out (N, C * r * r, H, W); one (n, c) plane of x per iteration,
    # which owns the r * r output channels c * r * r ... c * r * r + r * r - 1.
    n_batch, channels, in_height, in_width = x.shape
    height = in_height // r
    width = in_width // r
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for h in range(height):
            for i in range(r):
                for w in range(width):
                    for j in range(r):
                        out[n, c * r * r + i * r + j, h, w] = x[n, c, h * r + i, w * r + j]


def pixel_shuffle_forward_numba(x: np.ndarray, upscale_factor: int) -> np.ndarray:
    """Numba tier of :func:`pixel_shuffle_forward_reference` (``x`` contiguous)."""
    r = upscale_factor
    n_batch, channels, height, width = x.shape
    out = np.empty((n_batch, channels // (r * r), height * r, width * r), dtype=x.dtype)
    _shuffle_kernel(x, r, out)
    return out


def pixel_unshuffle_forward_numba(x: np.ndarray, downscale_factor: int) -> np.ndarray:
    """Numba tier of :func:`pixel_unshuffle_forward_reference` (``x`` contiguous)."""
    r = downscale_factor
    n_batch, channels, height, width = x.shape
    out = np.empty((n_batch, channels * r * r, height // r, width // r), dtype=x.dtype)
    _unshuffle_kernel(x, r, out)
    return out


def pixel_shuffle_backward_numba(grad_output: np.ndarray, upscale_factor: int) -> np.ndarray:
    """Numba tier of :func:`pixel_shuffle_backward_reference`."""
    return pixel_unshuffle_forward_numba(grad_output, upscale_factor)


def pixel_unshuffle_backward_numba(grad_output: np.ndarray, downscale_factor: int) -> np.ndarray:
    """Numba tier of :func:`pixel_unshuffle_backward_reference`."""
    return pixel_shuffle_forward_numba(grad_output, downscale_factor)
