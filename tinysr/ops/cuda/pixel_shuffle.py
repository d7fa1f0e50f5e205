"""numba.cuda tier of ``tinysr/ops/pixel_shuffle.py``: pixel shuffle and unshuffle on the GPU.

Both only move elements::

    shuffle:    out[n, c, h * r + i, w * r + j] = x[n, c * r * r + i * r + j, h, w]
    unshuffle:  out[n, c * r * r + i * r + j, h, w] = x[n, c, h * r + i, w * r + j]

Both are one pairing of positions, copied one way or the other, as in the CPU tier. The CPU
kernel loops over (n, c) planes of the big image in ``prange``; here there is one thread per
element of the big image (a grid-stride loop): thread o splits its flat index into (n, c, row,
col), works out the paired element of the small one, and copies. Consecutive threads touch
consecutive elements of the big image (coalesced); their accesses to the small one are spread
over ``r * r`` channels, which the cache absorbs. The backward of each is the other, applied to
``grad_output``. The inputs were checked, and any leading batch dimensions folded
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
def _pairing_kernel(small, big, r, shuffle):
    """big[n, c, h r + i, w r + j] <-> small[n, c r r + i r + j, h, w]; one thread per element of big.

    small is (N, C r r, H, W), big (N, C, H r, W r); shuffle copies small into big, unshuffle big
    into small.
    """
    _, channels, big_height, big_width = big.shape
    for o in range(cuda.grid(1), big.size, cuda.gridsize(1)):
        col = o % big_width
        row = (o // big_width) % big_height
        c = (o // (big_width * big_height)) % channels
        n = o // (big_width * big_height * channels)
        k, h, w = c * r * r + (row % r) * r + col % r, row // r, col // r
        if shuffle:
            big[n, c, row, col] = small[n, k, h, w]
        else:
            small[n, k, h, w] = big[n, c, row, col]


def pixel_shuffle_forward_cuda(x, upscale_factor: int):
    """``pixel_shuffle_forward_reference`` for a device array: (N, C r r, H, W) -> (N, C, H r, W r)."""
    r = upscale_factor
    n_batch, channels, height, width = x.shape
    out = empty((n_batch, channels // (r * r), height * r, width * r), x.dtype)
    _pairing_kernel[blocks(out.size), THREADS](x, out, r, True)
    return out


def pixel_unshuffle_forward_cuda(x, downscale_factor: int):
    """``pixel_unshuffle_forward_reference`` for a device array: (N, C, H r, W r) -> (N, C r r, H, W)."""
    r = downscale_factor
    n_batch, channels, height, width = x.shape
    out = empty((n_batch, channels * r * r, height // r, width // r), x.dtype)
    _pairing_kernel[blocks(x.size), THREADS](out, x, r, False)
    return out


def pixel_shuffle_backward_cuda(grad_output, upscale_factor: int):
    """``pixel_shuffle_backward_reference`` on the GPU: the unshuffle of grad_output."""
    return pixel_unshuffle_forward_cuda(grad_output, upscale_factor)


def pixel_unshuffle_backward_cuda(grad_output, downscale_factor: int):
    """``pixel_unshuffle_backward_reference`` on the GPU: the shuffle of grad_output."""
    return pixel_shuffle_forward_cuda(grad_output, downscale_factor)
