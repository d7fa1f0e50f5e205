"""numba.cuda tier of ``tinysr/ops/pixel_shuffle.py``: pixel shuffle and unshuffle on the GPU.

Both only move elements::

    shuffle:    out[n, c, h * r + i, w * r + j] = x[n, c * r * r + i * r + j, h, w]
    unshuffle:  out[n, c * r * r + i * r + j, h, w] = x[n, c, h * r + i, w * r + j]

The CPU kernels loop over (n, c) planes in ``prange`` and over the pixels inside. Here there is
one thread per element of ``out`` (a grid-stride loop): thread o splits its flat index into
(n, c, row, col) of ``out``, works out where that element comes from in ``x``, and copies it.
Consecutive threads write consecutive elements of ``out`` (coalesced writes); their reads from
``x`` are scattered over ``r * r`` channels, which the cache absorbs. The backward of each is the
other, applied to ``grad_output``. The inputs were checked, and any leading batch dimensions folded
into N, by ``tinysr.ops.pixel_shuffle``.
"""

from __future__ import annotations

from numba import cuda

from tinysr.ops.cuda._common import THREADS, blocks, empty

__all__ = [
    "pixel_shuffle_backward_cuda",
    "pixel_shuffle_forward_cuda",
    "pixel_unshuffle_backward_cuda",
    "pixel_unshuffle_forward_cuda",
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


def pixel_shuffle_forward_cuda(x, upscale_factor: int):
    """``pixel_shuffle_forward_reference`` for a device array: (N, C r r, H, W) -> (N, C, H r, W r)."""
    r = upscale_factor
    n_batch, channels, height, width = x.shape
    out = empty((n_batch, channels // (r * r), height * r, width * r), x.dtype)
    _shuffle_kernel[blocks(out.size), THREADS](x, r, out)
    return out


def pixel_unshuffle_forward_cuda(x, downscale_factor: int):
    """``pixel_unshuffle_forward_reference`` for a device array: (N, C, H r, W r) -> (N, C r r, H, W)."""
    r = downscale_factor
    n_batch, channels, height, width = x.shape
    out = empty((n_batch, channels * r * r, height // r, width // r), x.dtype)
    _unshuffle_kernel[blocks(out.size), THREADS](x, r, out)
    return out


def pixel_shuffle_backward_cuda(grad_output, upscale_factor: int):
    """``pixel_shuffle_backward_reference`` on the GPU: the unshuffle of grad_output."""
    return pixel_unshuffle_forward_cuda(grad_output, upscale_factor)


def pixel_unshuffle_backward_cuda(grad_output, downscale_factor: int):
    """``pixel_unshuffle_backward_reference`` on the GPU: the shuffle of grad_output."""
    return pixel_shuffle_forward_cuda(grad_output, downscale_factor)
