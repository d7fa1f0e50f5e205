"""numba.cuda tier of ``tinysr/ops/pixel_shuffle.py``: pixel shuffle and unshuffle on the GPU.

Both only move elements::

    shuffle:    out[n, c, h * r + i, w * r + j] = x[n, c * r * r + i * r + j, h, w]
    unshuffle:  out[n, c * r * r + i * r + j, h, w] = x[n, c, h * r + i, w * r + j]

The CPU kernels loop over (n, c) planes in ``prange`` and over the pixels inside. Here there is
one thread per element of ``out`` (a grid-stride loop): thread o splits its flat index into
(n, c, row, col) of ``out``, works out where that element comes from in ``x``, and copies it.
Consecutive threads write consecutive elements of ``out`` (coalesced writes); their reads from
``x`` are scattered over ``r * r`` channels, which the cache absorbs. The backward of each is the
other, applied to ``grad_output``.
"""

from __future__ import annotations

import math

from numba import cuda

from tinysr._validation import check_positive_int
from tinysr.ops.cuda._common import THREADS, blocks, check_device_array, check_grad_output, empty

__all__ = [
    "pixel_shuffle_backward",
    "pixel_shuffle_forward",
    "pixel_unshuffle_backward",
    "pixel_unshuffle_forward",
]


@cuda.jit
def _shuffle_kernel(x, r, out):
    """out (N, C, H r, W r) from x (N, C r r, H, W); one thread per element of out."""
    _, c_out, out_height, out_width = out.shape
    for o in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        col = o % out_width
        row = (o // out_width) % out_height
        c = (o // (out_width * out_height)) % c_out
        n = o // (out_width * out_height * c_out)
        h, i = row // r, row % r
        w, j = col // r, col % r
        out[n, c, row, col] = x[n, c * r * r + i * r + j, h, w]


@cuda.jit
def _unshuffle_kernel(x, r, out):
    """out (N, C r r, H, W) from x (N, C, H r, W r); one thread per element of out."""
    _, c_out, height, width = out.shape
    for o in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        w = o % width
        h = (o // width) % height
        k = (o // (width * height)) % c_out  # = c * r * r + i * r + j
        n = o // (width * height * c_out)
        c, i, j = k // (r * r), (k // r) % r, k % r
        out[n, k, h, w] = x[n, c, h * r + i, w * r + j]


def _as_4d(a):
    """``(*, C, H, W)`` -> ``(prod(*), C, H, W)``, a view of the contiguous device array."""
    shape = tuple(a.shape)
    return a.reshape(math.prod(shape[:-3]), *shape[-3:])


def _shuffle(x4, r):
    n_batch, channels, height, width = x4.shape
    out = empty((n_batch, channels // (r * r), height * r, width * r), x4.dtype)
    _shuffle_kernel[blocks(out.size), THREADS](x4, r, out)
    return out


def _unshuffle(x4, r):
    n_batch, channels, height, width = x4.shape
    out = empty((n_batch, channels * r * r, height // r, width // r), x4.dtype)
    _unshuffle_kernel[blocks(out.size), THREADS](x4, r, out)
    return out


def _check_input(x, factor, *, factor_name: str, op: str) -> int:
    check_device_array(x, name="x", op=op)
    if x.ndim < 3:
        raise ValueError(f"{op}: expected x with at least 3 dimensions (*, C, H, W), got shape {x.shape}")
    return check_positive_int(factor, name=factor_name, layer=op)


def pixel_shuffle_forward(x, upscale_factor: int) -> tuple:
    """``(*, C r r, H, W) -> (*, C, H r, W r)`` on the GPU; ``cache = (x.shape, out.shape, dtype, r)``."""
    op = "pixel_shuffle"
    r = _check_input(x, upscale_factor, factor_name="upscale_factor", op=op)
    channels = tuple(x.shape)[-3]
    if channels % (r * r) != 0:
        raise ValueError(
            f"{op}: expected the channel count of x to be divisible by upscale_factor**2 = {r * r}, "
            f"got x of shape {x.shape} with {channels} channels"
        )
    out = _shuffle(_as_4d(x), r)
    out = out.reshape(*tuple(x.shape)[:-3], *out.shape[1:])
    return out, (tuple(x.shape), tuple(out.shape), x.dtype, r)


def pixel_shuffle_backward(grad_output, cache: tuple):
    """``pixel_unshuffle(grad_output, r)``, shaped like ``x``."""
    in_shape, out_shape, dtype, r = cache
    check_grad_output(grad_output, out_shape, dtype, "pixel_shuffle")
    return _unshuffle(_as_4d(grad_output), r).reshape(in_shape)


def pixel_unshuffle_forward(x, downscale_factor: int) -> tuple:
    """``(*, C, H r, W r) -> (*, C r r, H, W)`` on the GPU; ``cache = (x.shape, out.shape, dtype, r)``."""
    op = "pixel_unshuffle"
    r = _check_input(x, downscale_factor, factor_name="downscale_factor", op=op)
    height, width = tuple(x.shape)[-2:]
    if height % r != 0 or width % r != 0:
        raise ValueError(
            f"{op}: expected the height and width of x to be divisible by downscale_factor = {r}, "
            f"got x of shape {x.shape}"
        )
    out = _unshuffle(_as_4d(x), r)
    out = out.reshape(*tuple(x.shape)[:-3], *out.shape[1:])
    return out, (tuple(x.shape), tuple(out.shape), x.dtype, r)


def pixel_unshuffle_backward(grad_output, cache: tuple):
    """``pixel_shuffle(grad_output, r)``, shaped like ``x``."""
    in_shape, out_shape, dtype, r = cache
    check_grad_output(grad_output, out_shape, dtype, "pixel_unshuffle")
    return _shuffle(_as_4d(grad_output), r).reshape(in_shape)
