"""numba.cuda tier of ``tinysr/ops/conv2d.py``: the convolution and its gradients as tiled matrix products.

The equations are in ``tinysr/ops/conv2d.py``. The Numba tier writes each sum as a matrix product and hands
it to BLAS; a GPU has no BLAS call inside a kernel, so here the matrix products are written out,
in the form every fast GPU kernel uses: *tiles in shared memory*. Three products, each with
rows, columns and a depth (the index summed over)::

    forward         out[n, o, i, j]     = sum_k weight[o, k] * window[k, (n, i, j)]        + bias[o]
                    rows o (C_out), columns (n, i, j) (N H_out W_out), depth k = (c, u, v) (C_in kH kW)
                    window[(c, u, v), (n, i, j)] = xpad[n, c, i*sh + u, j*sw + v]

    input gradient  grad_x[n, c, y, x] = sum_k' weight[o, c, u, v] * g_window[k', (n, y, x)]
                    rows c (C_in), columns (n, y, x) (N H W), depth k' = (o, u, v) (C_out kH kW)
                    g_window[(o, u, v), (n, y, x)] = grad_output[n, o, i, j] where y + ph = i*sh + u
                    and x + pw = j*sw + v (0 if no such i, j): the scatter-add of the CPU file,
                    turned into a gather so that every output element has one owner thread

    weight gradient grad_weight[o, k] = sum_(n, i, j) grad_output[n, o, i, j] * window[k, (n, i, j)]
                    rows o (C_out), columns k (C_in kH kW), depth (n, i, j) (N H_out W_out)

``window`` and ``g_window`` are never built in memory (the CPU tier's im2col buffer would be kH kW
times the input): each block gathers just the piece it needs, straight from ``x`` or
``grad_output``, with the zero padding as a bounds test. That is an "implicit GEMM".

Each product is computed by one of the tiled kernels of ``conv2d_tiles.py`` (read that file for
how a block works through shared memory); this file chooses their tiles and grids, and adds the
three small kernels around them: the weight's rearrangement for the input gradient, the sum of
the weight gradient's split-K partial results, and the bias gradient. The inputs were checked by
``tinysr.ops.conv2d`` (one check for every tier).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinysr.ops.cuda._common import MAX_REDUCTION_BLOCKS, THREADS, block_sum, blocks, empty, empty_like
from tinysr.ops.cuda.arrays import zeros
from tinysr.ops.cuda.conv2d_tiles import depth_splits, tiles_for

__all__ = ["conv2d_backward_cuda", "conv2d_forward_cuda"]


# ----------------------------------------------------------------------------- sums


@cuda.jit
def _sum_splits_kernel(partials, out):
    """out[i] = sum over z of partials[z, i], in float64; one thread per element of out (the weight gradient)."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        total = 0.0
        for z in range(partials.shape[0]):
            total += partials[z, i]
        out[i] = total


@cuda.jit
def _transpose_weight_kernel(weight, weight_t):
    """weight_t[c, (o, u, v)] = weight[o, c, u, v]: the input gradient's left matrix, rows c; one thread per element."""
    out_channels, _, k_h, k_w = weight.shape
    taps = k_h * k_w
    for e in range(cuda.grid(1), weight.size, cuda.gridsize(1)):
        c, k = e // (out_channels * taps), e % (out_channels * taps)
        tap = k % taps
        weight_t[c, k] = weight[k // taps, c, tap // k_w, tap % k_w]


@cuda.jit
def bias_gradient_kernel(grad_output, grad_bias):
    """grad_bias[o] = sum over (n, p) of grad_output[n, o, p], grad_output seen as (N, C_out, H_out W_out).

    A block sums one channel o at a time: o = blockIdx.x, then o + gridDim.x, ... (a grid-stride
    loop over channels), with at most MAX_REDUCTION_BLOCKS blocks: on a GPU (1024) that is a block
    per channel for all of tinysr's layers; the simulator (4) pays for every block it starts, and
    a Linear(..., 1024) has 1024 channels.
    """
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    n_images, out_channels, pixels = grad_output.shape
    for o in range(cuda.blockIdx.x, out_channels, cuda.gridDim.x):
        acc = 0.0
        for e in range(cuda.threadIdx.x, n_images * pixels, THREADS):
            acc += grad_output[e // pixels, o, e % pixels]
        acc = block_sum(partial, acc)
        if cuda.threadIdx.x == 0:
            grad_bias[o] = acc


# ----------------------------------------------------------------------------- the tier


def conv2d_forward_cuda(x, weight, bias, stride: tuple[int, int], padding: tuple[int, int]):
    """``tinysr.ops.conv2d.conv2d_forward_reference`` for device arrays: out (N, C_out, H_out, W_out).

    x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,) or None; stride and padding pairs.
    """
    (sh, sw), (ph, pw) = stride, padding
    n_images, in_channels, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    h_out, w_out = (height + 2 * ph - k_h) // sh + 1, (width + 2 * pw - k_w) // sw + 1
    out = empty((n_images, out_channels, h_out, w_out), x.dtype)
    bias_or_zeros = zeros(out_channels, x.dtype) if bias is None else bias
    tiles = tiles_for(out_channels)
    grid = tiles.grid(rows=out_channels, cols=n_images * h_out * w_out)
    tiles.forward[grid, tiles.block](x, weight.reshape(out_channels, in_channels * k_h * k_w), bias_or_zeros,
                                     sh, sw, ph, pw, k_h, k_w, out)
    return out


def conv2d_backward_cuda(grad_output, cache: tuple) -> tuple:
    """``tinysr.ops.conv2d.conv2d_backward_reference`` for device arrays: (grad_input, grad_weight, grad_bias).

    grad_output (N, C_out, H_out, W_out); ``cache = (x, weight, has_bias, stride, padding)`` of the
    forward pass; grad_bias is None without a bias.
    """
    x, weight, has_bias, (sh, sw), (ph, pw) = cache
    n_images, in_channels, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    h_out, w_out = grad_output.shape[2], grad_output.shape[3]

    grad_input = empty_like(x)
    weight_t = empty((in_channels, out_channels * k_h * k_w), x.dtype)
    _transpose_weight_kernel[blocks(weight.size), THREADS](weight, weight_t)
    tiles = tiles_for(in_channels)
    grid = tiles.grid(rows=in_channels, cols=n_images * height * width)
    tiles.input_gradient[grid, tiles.block](grad_output, weight_t, zeros(in_channels, x.dtype), sh, sw, ph, pw,
                                            k_h, k_w, grad_input)

    depth = in_channels * k_h * k_w
    tiles = tiles_for(out_channels)
    column_tiles, row_tiles, _ = tiles.grid(rows=out_channels, cols=depth)
    splits, chunk = depth_splits(n_images * h_out * w_out, column_tiles * row_tiles, tiles.depth)
    partials = empty((splits, out_channels, depth), x.dtype)
    tiles.weight_gradient[(column_tiles, row_tiles, splits), tiles.block](
        x, grad_output, sh, sw, ph, pw, k_h, k_w, chunk, partials
    )
    grad_weight = empty(weight.shape, x.dtype)
    _sum_splits_kernel[blocks(weight.size), THREADS](partials.reshape(splits, weight.size), grad_weight.ravel())

    grad_bias = None
    if has_bias:
        grad_bias = empty(out_channels, x.dtype)
        bias_gradient_kernel[min(out_channels, MAX_REDUCTION_BLOCKS), THREADS](
            grad_output.reshape(n_images, out_channels, h_out * w_out), grad_bias)
    return grad_input, grad_weight, grad_bias
