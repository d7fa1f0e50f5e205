"""numba.cuda tier of ``tinysr/ops/conv2d.py``: the convolution and its gradients as tiled matrix products.

The equations are in the CPU file. Its Numba tier writes each sum as a matrix product and hands
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

Tiles. A block of ``threads_y x threads_x`` threads computes one ``rows x cols`` tile of the
result (``rows = threads_y * rows_per_thread``, likewise ``cols``), so ``blockIdx.y`` picks the
tile's rows and ``blockIdx.x`` its columns: these two are the CPU tier's independent loops. The
depth is walked in slices of ``depth`` (TK). For each slice the block's threads together copy the
``TK x rows`` piece of the left matrix and the ``TK x cols`` piece of the right one into shared
memory (``a_tile``, ``b_tile``: one global read per element, by neighbouring threads reading
neighbouring addresses), wait (``syncthreads``), and then every thread multiplies its own
``rows_per_thread x cols_per_thread`` block of outputs out of shared memory, keeping the sums in
registers (``acc``). Each element read from global memory is so used ``rows`` or ``cols`` times.
Thread (ty, tx) owns outputs ``(ty + a*threads_y, tx + b*threads_x)``, spread out so that
neighbouring threads read neighbouring shared-memory cells and write neighbouring outputs.
Gathering needs integer divisions (a column index q into (n, i, j), a depth index k into
(c, u, v)), which cost GPUs far more than a multiply-add, so each is done once, not per element:
the block's thread count is a multiple of the tile's columns, so each thread always gathers the
same column and splits its q before the depth loop; the TK depth indices of a slice are split
by TK threads into small shared tables (``tap_c``, ``tap_u``, ``tap_v``) that the others read.
For the input gradient the weight is first rearranged into a plain (C_in, C_out kH kW) matrix
(``_transpose_weight_kernel``).

The weight gradient's depth, N H_out W_out, is long and its result small, so the depth is also
split between blocks (``blockIdx.z``, "split-K"): each block writes its partial sums to its own
slice of ``partials``, and ``_sum_splits_kernel`` adds the slices in float64. No two threads ever
write the same cell, so the result does not depend on the order in which blocks run. The bias
gradient is a per-channel sum, one block per channel.

Two tile shapes: ``WIDE`` (64 x 64, 256 threads) and ``NARROW`` (8 x 256) for products with at
most 8 rows, such as the last layer of SRCNN (1 output channel) or the input gradient of its
first (1 input channel), where a 64-row tile would compute 63 rows of zeros. Under the CUDA
simulator both are much smaller (see ``_common``): the same kernels, cheaper to simulate.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinysr._validation import pair
from tinysr.ops.cuda._common import (
    MAX_REDUCTION_BLOCKS,
    SIMULATOR,
    THREADS,
    block_sum,
    blocks,
    check_device_array,
    empty,
    empty_like,
)
from tinysr.ops.cuda.arrays import zeros

__all__ = ["NARROW", "WIDE", "Tiles", "conv2d_backward", "conv2d_forward"]

_LAYER = "conv2d"


def _output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


# ----------------------------------------------------------------------------- the tiled kernels


def _build_kernels(threads_y: int, threads_x: int, rows_per_thread: int, cols_per_thread: int, depth: int):
    """Compile-time constants for one tile shape, closed over by the three kernels (CUDA needs
    shared and local array sizes fixed at compile time; numba freezes these closure values)."""
    TY, TX, RY, RX, TK = threads_y, threads_x, rows_per_thread, cols_per_thread, depth
    TM, TN, NT = TY * RY, TX * RX, TY * TX  # tile rows, tile columns, threads per block

    @cuda.jit(device=True)
    def multiply_tiles(a_tile, b_tile, acc):
        """acc[a, b] += sum_kk a_tile[kk, ty + a*TY] * b_tile[kk, tx + b*TX]: this thread's RY x RX outputs."""
        ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
        a_values = cuda.local.array(RY, dtype=acc.dtype)
        b_values = cuda.local.array(RX, dtype=acc.dtype)
        for kk in range(TK):
            for a in range(RY):
                a_values[a] = a_tile[kk, ty + a * TY]
            for b in range(RX):
                b_values[b] = b_tile[kk, tx + b * TX]
            for a in range(RY):
                for b in range(RX):
                    acc[a, b] += a_values[a] * b_values[b]

    @cuda.jit
    def forward(x, weight, bias, sh, sw, ph, pw, k_h, k_w, out):
        """Tile (blockIdx.y, blockIdx.x) of out[o, (n, i, j)] = sum_k weight[o, k] window[k, (n, i, j)] + bias[o].

        weight is (C_out, C_in kH kW); x (N, C_in, H, W); out (N, C_out, H_out, W_out).
        """
        n_images, channels, height, width = x.shape
        out_channels, h_out, w_out = out.shape[1], out.shape[2], out.shape[3]
        taps = k_h * k_w
        depth_total = channels * taps
        pixels = h_out * w_out
        n_cols = n_images * pixels
        a_tile = cuda.shared.array((TK, TM), dtype=x.dtype)  # a_tile[kk, rr] = weight[r0 + rr, k0 + kk]
        b_tile = cuda.shared.array((TK, TN), dtype=x.dtype)  # b_tile[kk, qq] = window[k0 + kk, q0 + qq]
        tap_c = cuda.shared.array(TK, dtype=np.int64)  # depth index k0 + kk is (tap_c, tap_u, tap_v)[kk]
        tap_u = cuda.shared.array(TK, dtype=np.int64)
        tap_v = cuda.shared.array(TK, dtype=np.int64)
        acc = cuda.local.array((RY, RX), dtype=x.dtype)
        for a in range(RY):
            for b in range(RX):
                acc[a, b] = 0
        t = cuda.threadIdx.y * TX + cuda.threadIdx.x
        r0 = cuda.blockIdx.y * TM
        q0 = cuda.blockIdx.x * TN
        # This thread always fills column qq of b_tile (NT is a multiple of TN), so it finds its
        # output pixel (n, i, j) once, and the input pixel at the top-left corner of its window.
        qq = t % TN
        q = q0 + qq
        n = q // pixels
        top = ((q % pixels) // w_out) * sh - ph
        left = (q % w_out) * sw - pw
        for k0 in range(0, depth_total, TK):
            if t < TK:  # split the slice's depth indices k into (c, u, v) once, for the whole block
                k = k0 + t
                tap_c[t], tap_u[t], tap_v[t] = k // taps, (k % taps) // k_w, k % k_w
            for e in range(t, TK * TM, NT):
                rr, kk = e // TK, e % TK  # neighbouring threads read neighbouring weights
                r, k = r0 + rr, k0 + kk
                a_tile[kk, rr] = weight[r, k] if r < out_channels and k < depth_total else 0
            cuda.syncthreads()  # the (c, u, v) of the slice are known
            for kk in range(t // TN, TK, NT // TN):  # neighbouring threads read neighbouring pixels
                b_tile[kk, qq] = 0
                if k0 + kk < depth_total and q < n_cols:
                    row, col = top + tap_u[kk], left + tap_v[kk]  # the pixel of x under tap (u, v)
                    if 0 <= row < height and 0 <= col < width:
                        b_tile[kk, qq] = x[n, tap_c[kk], row, col]
            cuda.syncthreads()  # the tiles are complete
            multiply_tiles(a_tile, b_tile, acc)
            cuda.syncthreads()  # everyone is done with them before they are overwritten
        for a in range(RY):
            r = r0 + cuda.threadIdx.y + a * TY
            for b in range(RX):
                q = q0 + cuda.threadIdx.x + b * TX
                if r < out_channels and q < n_cols:
                    n, p = q // pixels, q % pixels
                    out[n, r, p // w_out, p % w_out] = acc[a, b] + bias[r]

    @cuda.jit
    def input_gradient(grad_output, weight_t, sh, sw, ph, pw, k_h, k_w, grad_input):
        """Tile of grad_x[c, (n, y, x)] = sum_(o, u, v) weight[o, c, u, v] g_window[(o, u, v), (n, y, x)].

        weight_t is the weight rearranged as (C_in, C_out kH kW); grad_output (N, C_out, H_out,
        W_out); grad_input (N, C_in, H, W).
        """
        n_images, out_channels, h_out, w_out = grad_output.shape
        channels, height, width = grad_input.shape[1], grad_input.shape[2], grad_input.shape[3]
        taps = k_h * k_w
        depth_total = out_channels * taps
        pixels = height * width
        n_cols = n_images * pixels
        a_tile = cuda.shared.array((TK, TM), dtype=weight_t.dtype)
        b_tile = cuda.shared.array((TK, TN), dtype=weight_t.dtype)
        tap_o = cuda.shared.array(TK, dtype=np.int64)  # depth index k0 + kk is (tap_o, tap_u, tap_v)[kk]
        tap_u = cuda.shared.array(TK, dtype=np.int64)
        tap_v = cuda.shared.array(TK, dtype=np.int64)
        acc = cuda.local.array((RY, RX), dtype=weight_t.dtype)
        for a in range(RY):
            for b in range(RX):
                acc[a, b] = 0
        t = cuda.threadIdx.y * TX + cuda.threadIdx.x
        r0 = cuda.blockIdx.y * TM
        q0 = cuda.blockIdx.x * TN
        # this thread's column of b_tile: input pixel (n, y, x), in the padded image's coordinates
        qq = t % TN
        q = q0 + qq
        n = q // pixels
        row = (q % pixels) // width + ph
        col = q % width + pw
        for k0 in range(0, depth_total, TK):
            if t < TK:
                k = k0 + t
                tap_o[t], tap_u[t], tap_v[t] = k // taps, (k % taps) // k_w, k % k_w
            for e in range(t, TK * TM, NT):
                rr, kk = e // TK, e % TK
                r, k = r0 + rr, k0 + kk
                a_tile[kk, rr] = weight_t[r, k] if r < channels and k < depth_total else 0
            cuda.syncthreads()
            for kk in range(t // TN, TK, NT // TN):
                b_tile[kk, qq] = 0
                if k0 + kk < depth_total and q < n_cols:
                    # the output pixel (i, j) whose tap (u, v) read this input pixel, if there is one:
                    # i * sh + u = row and j * sw + v = col
                    i, j = row - tap_u[kk], col - tap_v[kk]
                    on_grid = i >= 0 and j >= 0
                    if on_grid and (sh > 1 or sw > 1):  # with stride 1 every pixel is on the grid
                        on_grid = i % sh == 0 and j % sw == 0
                        i, j = i // sh, j // sw
                    if on_grid and i < h_out and j < w_out:
                        b_tile[kk, qq] = grad_output[n, tap_o[kk], i, j]
            cuda.syncthreads()
            multiply_tiles(a_tile, b_tile, acc)
            cuda.syncthreads()
        for a in range(RY):
            r = r0 + cuda.threadIdx.y + a * TY
            for b in range(RX):
                q = q0 + cuda.threadIdx.x + b * TX
                if r < channels and q < n_cols:
                    n, p = q // pixels, q % pixels
                    grad_input[n, r, p // width, p % width] = acc[a, b]

    @cuda.jit
    def weight_gradient(x, grad_output, sh, sw, ph, pw, k_h, k_w, chunk, partials):
        """Tile of partials[z, o, k] = sum over this block's share of (n, i, j) of g[o, (n, i, j)] window[k, (n, i, j)].

        Block (x, y, z) sums the depth from z * chunk to (z + 1) * chunk; partials is (splits, C_out, C_in kH kW).
        """
        n_images, channels, height, width = x.shape
        out_channels, h_out, w_out = grad_output.shape[1], grad_output.shape[2], grad_output.shape[3]
        taps = k_h * k_w
        n_cols = channels * taps  # the columns of grad_weight are k = (c, u, v)
        pixels = h_out * w_out
        q_end = min((cuda.blockIdx.z + 1) * chunk, n_images * pixels)
        a_tile = cuda.shared.array((TK, TM), dtype=x.dtype)  # a_tile[kk, rr] = grad_output[o = r0 + rr at q0 + kk]
        b_tile = cuda.shared.array((TK, TN), dtype=x.dtype)  # b_tile[kk, cc] = window[k = c0 + cc, q0 + kk]
        column_c = cuda.shared.array(TN, dtype=np.int64)  # column c0 + cc is k = (column_c, column_u, column_v)[cc]
        column_u = cuda.shared.array(TN, dtype=np.int64)
        column_v = cuda.shared.array(TN, dtype=np.int64)
        acc = cuda.local.array((RY, RX), dtype=x.dtype)
        for a in range(RY):
            for b in range(RX):
                acc[a, b] = 0
        t = cuda.threadIdx.y * TX + cuda.threadIdx.x
        r0 = cuda.blockIdx.y * TM
        c0 = cuda.blockIdx.x * TN
        for cc in range(t, TN, NT):  # the block's columns are the same at every depth: split them once
            k = c0 + cc
            column_c[cc], column_u[cc], column_v[cc] = k // taps, (k % taps) // k_w, k % k_w
        cuda.syncthreads()
        kk = t % TK  # this thread always fills depth index kk of both tiles (NT is a multiple of TK)
        for q0 in range(cuda.blockIdx.z * chunk, q_end, TK):
            q = q0 + kk  # the output pixel (n, i, j) this thread reads; neighbouring threads, neighbouring pixels
            inside = q < q_end
            n, p = q // pixels, q % pixels
            i, j = p // w_out, p % w_out
            for rr in range(t // TK, TM, NT // TK):
                r = r0 + rr
                a_tile[kk, rr] = grad_output[n, r, i, j] if inside and r < out_channels else 0
            top, left = i * sh - ph, j * sw - pw
            for cc in range(t // TK, TN, NT // TK):
                b_tile[kk, cc] = 0
                if inside and c0 + cc < n_cols:
                    row, col = top + column_u[cc], left + column_v[cc]
                    if 0 <= row < height and 0 <= col < width:
                        b_tile[kk, cc] = x[n, column_c[cc], row, col]
            cuda.syncthreads()
            multiply_tiles(a_tile, b_tile, acc)
            cuda.syncthreads()
        for a in range(RY):
            r = r0 + cuda.threadIdx.y + a * TY
            for b in range(RX):
                k = c0 + cuda.threadIdx.x + b * TX
                if r < out_channels and k < n_cols:
                    partials[cuda.blockIdx.z, r, k] = acc[a, b]

    return forward, input_gradient, weight_gradient


class Tiles:
    """One tile shape and its three kernels: ``forward``, ``input_gradient``, ``weight_gradient``.

    A block is ``threads_y x threads_x`` threads and computes a ``rows x cols`` tile of its result,
    ``rows = threads_y * rows_per_thread`` and ``cols = threads_x * cols_per_thread``; the depth of
    the product is walked ``depth`` at a time through shared memory.
    """

    def __init__(self, threads_y: int, threads_x: int, rows_per_thread: int, cols_per_thread: int, depth: int):
        threads = threads_y * threads_x
        if threads % (threads_x * cols_per_thread) or threads % depth:
            # each thread then gathers one fixed column (forward, input gradient) or one fixed depth
            # index (weight gradient) of b_tile, and works out its pixel once instead of per element
            raise ValueError(f"Tiles: the {threads} threads of a block must be a multiple of the tile's "
                             f"{threads_x * cols_per_thread} columns and of its depth {depth}")
        self.block = (threads_x, threads_y)  # CUDA counts x first: threadIdx.x runs along a tile's columns
        self.rows = threads_y * rows_per_thread
        self.cols = threads_x * cols_per_thread
        self.depth = depth
        self.forward, self.input_gradient, self.weight_gradient = _build_kernels(
            threads_y, threads_x, rows_per_thread, cols_per_thread, depth
        )

    def grid(self, rows: int, cols: int, splits: int = 1) -> tuple[int, int, int]:
        """Blocks to cover a rows x cols result: (column tiles, row tiles, depth splits)."""
        return math.ceil(cols / self.cols), math.ceil(rows / self.rows), splits

    def __repr__(self) -> str:
        return f"Tiles({self.rows} x {self.cols}, depth {self.depth}, block {self.block})"


if SIMULATOR:  # every simulated CUDA thread is a Python thread: small tiles, same code
    WIDE = Tiles(threads_y=2, threads_x=8, rows_per_thread=2, cols_per_thread=2, depth=16)  # 4 x 16
    NARROW = Tiles(threads_y=1, threads_x=16, rows_per_thread=2, cols_per_thread=1, depth=16)  # 2 x 16
    #: the weight gradient's depth is split so that there are about this many blocks, each with at least MIN_SPLIT
    TARGET_BLOCKS, MIN_SPLIT = 4, 8
else:
    WIDE = Tiles(threads_y=16, threads_x=16, rows_per_thread=4, cols_per_thread=4, depth=16)  # 64 x 64
    NARROW = Tiles(threads_y=2, threads_x=128, rows_per_thread=4, cols_per_thread=2, depth=16)  # 8 x 256
    TARGET_BLOCKS, MIN_SPLIT = 1024, 256


def _tiles(rows: int) -> Tiles:
    """NARROW for products with few rows (where a WIDE tile would be mostly zeros), else WIDE."""
    return NARROW if rows <= NARROW.rows else WIDE


def _splits(depth_total: int, tiles: int, step: int) -> tuple[int, int]:
    """Split a depth of ``depth_total`` between blocks: (number of splits, length of each, a multiple of ``step``)."""
    wanted = max(1, TARGET_BLOCKS // tiles)
    most = max(1, depth_total // MIN_SPLIT)
    splits = min(wanted, most)
    chunk = math.ceil(math.ceil(depth_total / splits) / step) * step
    return math.ceil(depth_total / chunk), chunk


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
def _bias_gradient_kernel(grad_output, grad_bias):
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


# ----------------------------------------------------------------------------- public API


def conv2d_forward(x, weight, bias=None, stride=1, padding=0) -> tuple:
    """The convolution of device arrays; same arguments, result and cache as ``tinysr.ops.conv2d.conv2d_forward``.

    x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,) or None -> out (N, C_out, H_out, W_out)
    and ``cache = (x, weight, has_bias, stride, padding)``, all on the GPU.
    """
    check_device_array(x, name="x", op=_LAYER, ndim=4)
    check_device_array(weight, name="weight", op=_LAYER, ndim=4)
    if bias is not None:
        check_device_array(bias, name="bias", op=_LAYER, ndim=1)
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{_LAYER}: expected all arrays to share one dtype (no silent casting), "
                            f"got x: {x.dtype}, {name}: {a.dtype}")
    stride = pair(stride, name="stride", layer=_LAYER, minimum=1)
    padding = pair(padding, name="padding", layer=_LAYER, minimum=0)
    if x.size == 0 or weight.size == 0:
        raise ValueError(f"{_LAYER}: expected non-empty x and weight, got x {x.shape} and weight {weight.shape}")
    out_channels, in_channels, k_h, k_w = weight.shape
    if in_channels != x.shape[1]:
        raise ValueError(
            f"{_LAYER}: expected weight with {x.shape[1]} input channels to match x of shape {x.shape}, "
            f"got weight {weight.shape}"
        )
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{_LAYER}: expected bias of shape ({out_channels},) to match weight {weight.shape}, "
                         f"got bias {bias.shape}")
    (sh, sw), (ph, pw) = stride, padding
    n_images, _, height, width = x.shape
    if k_h > height + 2 * ph or k_w > width + 2 * pw:
        raise ValueError(f"{_LAYER}: expected a kernel no larger than the padded input "
                         f"{(height + 2 * ph, width + 2 * pw)} (x {x.shape}, padding {padding}), "
                         f"got kernel ({k_h}, {k_w})")
    h_out, w_out = _output_size(height, k_h, sh, ph), _output_size(width, k_w, sw, pw)
    out = empty((n_images, out_channels, h_out, w_out), x.dtype)
    bias_or_zeros = zeros(out_channels, x.dtype) if bias is None else bias
    tiles = _tiles(out_channels)
    grid = tiles.grid(rows=out_channels, cols=n_images * h_out * w_out)
    tiles.forward[grid, tiles.block](x, weight.reshape(out_channels, in_channels * k_h * k_w), bias_or_zeros,
                                     sh, sw, ph, pw, k_h, k_w, out)
    return out, (x, weight, bias is not None, stride, padding)


def conv2d_backward(grad_output, cache: tuple) -> tuple:
    """``(grad_input, grad_weight, grad_bias)`` of the convolution, on the GPU (grad_bias None without a bias)."""
    x, weight, has_bias, (sh, sw), (ph, pw) = cache
    check_device_array(grad_output, name="grad_output", op=_LAYER, ndim=4)
    if grad_output.dtype != x.dtype:
        raise TypeError(f"{_LAYER}: expected all arrays to share one dtype (no silent casting), "
                        f"got x: {x.dtype}, grad_output: {grad_output.dtype}")
    n_images, in_channels, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    expected = (n_images, out_channels, _output_size(height, k_h, sh, ph), _output_size(width, k_w, sw, pw))
    if tuple(grad_output.shape) != expected:
        raise ValueError(f"{_LAYER}: expected grad_output of shape {expected}, got {grad_output.shape}")
    h_out, w_out = expected[2], expected[3]

    grad_input = empty_like(x)
    weight_t = empty((in_channels, out_channels * k_h * k_w), x.dtype)
    _transpose_weight_kernel[blocks(weight.size), THREADS](weight, weight_t)
    tiles = _tiles(in_channels)
    grid = tiles.grid(rows=in_channels, cols=n_images * height * width)
    tiles.input_gradient[grid, tiles.block](grad_output, weight_t, sh, sw, ph, pw, k_h, k_w, grad_input)

    depth = in_channels * k_h * k_w
    tiles = _tiles(out_channels)
    column_tiles, row_tiles, _ = tiles.grid(rows=out_channels, cols=depth)
    splits, chunk = _splits(n_images * h_out * w_out, column_tiles * row_tiles, tiles.depth)
    partials = empty((splits, out_channels, depth), x.dtype)
    tiles.weight_gradient[(column_tiles, row_tiles, splits), tiles.block](
        x, grad_output, sh, sw, ph, pw, k_h, k_w, chunk, partials
    )
    grad_weight = empty(weight.shape, x.dtype)
    _sum_splits_kernel[blocks(weight.size), THREADS](partials.reshape(splits, weight.size), grad_weight.ravel())

    grad_bias = None
    if has_bias:
        grad_bias = empty(out_channels, x.dtype)
        _bias_gradient_kernel[min(out_channels, MAX_REDUCTION_BLOCKS), THREADS](
            grad_output.reshape(n_images, out_channels, h_out * w_out), grad_bias)
    return grad_input, grad_weight, grad_bias
