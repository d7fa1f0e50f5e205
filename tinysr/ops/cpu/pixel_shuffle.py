"""Numba tier of ``tinysr/ops/pixel_shuffle.py``: every ``*_numba`` function here equals the ``*_reference`` one there.

The equations, the shapes and the NumPy reference are in ``tinysr/ops/pixel_shuffle.py``; here is only
what makes them fast on a CPU (``prange`` loops over independent outputs).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _pairing_kernel(small, big, r, shuffle):
    # The one pairing of positions behind both ops, with small (N, C * r * r, H, W) and big
    # (N, C, H * r, W * r):  big[n, c, h * r + i, w * r + j]  <->  small[n, c * r * r + i * r + j, h, w].
    # shuffle copies small into big, unshuffle big into small. One (n, c) plane of big per
    # iteration (it owns the r * r channels c * r * r ... of small), each row of big in order.
    n_batch, channels, big_height, big_width = big.shape
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for h in range(big_height // r):
            for i in range(r):
                for w in range(big_width // r):
                    for j in range(r):
                        if shuffle:
                            big[n, c, h * r + i, w * r + j] = small[n, c * r * r + i * r + j, h, w]
                        else:
                            small[n, c * r * r + i * r + j, h, w] = big[n, c, h * r + i, w * r + j]


def pixel_shuffle_forward_numba(x: np.ndarray, upscale_factor: int) -> np.ndarray:
    """Numba tier of :func:`pixel_shuffle_forward_reference` (``x`` contiguous)."""
    r = upscale_factor
    n_batch, channels, height, width = x.shape
    out = np.empty((n_batch, channels // (r * r), height * r, width * r), dtype=x.dtype)
    _pairing_kernel(x, out, r, True)
    return out


def pixel_unshuffle_forward_numba(x: np.ndarray, downscale_factor: int) -> np.ndarray:
    """Numba tier of :func:`pixel_unshuffle_forward_reference` (``x`` contiguous)."""
    r = downscale_factor
    n_batch, channels, height, width = x.shape
    out = np.empty((n_batch, channels * r * r, height // r, width // r), dtype=x.dtype)
    _pairing_kernel(out, x, r, False)
    return out


def pixel_shuffle_backward_numba(grad_output: np.ndarray, upscale_factor: int) -> np.ndarray:
    """Numba tier of :func:`pixel_shuffle_backward_reference`."""
    return pixel_unshuffle_forward_numba(grad_output, upscale_factor)


def pixel_unshuffle_backward_numba(grad_output: np.ndarray, downscale_factor: int) -> np.ndarray:
    """Numba tier of :func:`pixel_unshuffle_backward_reference`."""
    return pixel_shuffle_forward_numba(grad_output, downscale_factor)
