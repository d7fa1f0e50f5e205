"""The tiled matrix-product kernels of the CUDA convolution (``conv2d.py`` says which products they compute).

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

from tinysr.ops.cuda._common import SIMULATOR

__all__ = ["MIN_SPLIT", "NARROW", "TARGET_BLOCKS", "WIDE", "Tiles", "depth_splits", "tiles_for"]


def _tile_functions(TY: int, TX: int, RY: int, RX: int, TK: int):
    """The device functions every tiled kernel of one tile shape calls (the shape is fixed at compile time).

    ``zero``, ``multiply_tiles`` and ``store`` work on a thread's RY x RX sums; ``load_rows`` and
    ``split_depth`` fill a depth slice of the tiles (``_slice_functions``).
    """

    @cuda.jit(device=True)
    def zero(acc):
        """acc[:, :] = 0: this thread's RY x RX sums, in registers."""
        for a in range(RY):
            for b in range(RX):
                acc[a, b] = 0

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

    @cuda.jit(device=True)
    def store(acc, r0, q0, n_rows, bias, out):
        """out[n, r, y, x] = acc + bias[r] for this thread's outputs of the tile at rows r0, columns q0.

        The tile's columns q are the pixels (n, y, x) of ``out`` (N, rows, H, W), in that order.
        """
        height, width = out.shape[2], out.shape[3]
        pixels = height * width
        n_cols = out.shape[0] * pixels
        for a in range(RY):
            r = r0 + cuda.threadIdx.y + a * TY
            for b in range(RX):
                q = q0 + cuda.threadIdx.x + b * TX
                if r < n_rows and q < n_cols:
                    n, p = q // pixels, q % pixels
                    out[n, r, p // width, p % width] = acc[a, b] + bias[r]

    return (zero, multiply_tiles, *_slice_functions(TY * RY, TY * TX, TK), store)


def _slice_functions(TM: int, NT: int, TK: int):
    """``load_rows`` and ``split_depth``, for tiles of TM rows, blocks of NT threads, slices of TK."""

    @cuda.jit(device=True)
    def load_rows(matrix, n_rows, depth_total, r0, k0, t, a_tile):
        """a_tile[kk, rr] = matrix[r0 + rr, k0 + kk] (0 past the edges); neighbouring threads, neighbouring cells."""
        for e in range(t, TK * TM, NT):
            rr, kk = e // TK, e % TK
            r, k = r0 + rr, k0 + kk
            a_tile[kk, rr] = matrix[r, k] if r < n_rows and k < depth_total else 0

    @cuda.jit(device=True)
    def split_depth(k0, taps, k_w, t, first, tap_u, tap_v):
        """Threads t < TK split depth index k0 + t into (first, u, v) = (k // taps, (k % taps) // k_w, k % k_w)."""
        if t < TK:
            k = k0 + t
            first[t], tap_u[t], tap_v[t] = k // taps, (k % taps) // k_w, k % k_w

    return load_rows, split_depth


def _forward_kernel(TY: int, TX: int, RY: int, RX: int, TK: int):
    zero, multiply_tiles, load_rows, split_depth, store = _tile_functions(TY, TX, RY, RX, TK)
    TM, TN, NT = TY * RY, TX * RX, TY * TX

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
        zero(acc)
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
            split_depth(k0, taps, k_w, t, tap_c, tap_u, tap_v)  # (c, u, v) of the slice, once for the block
            load_rows(weight, out_channels, depth_total, r0, k0, t, a_tile)
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
        store(acc, r0, q0, out_channels, bias, out)

    return forward


def _input_gradient_kernel(TY: int, TX: int, RY: int, RX: int, TK: int):
    zero, multiply_tiles, load_rows, split_depth, store = _tile_functions(TY, TX, RY, RX, TK)
    TM, TN, NT = TY * RY, TX * RX, TY * TX

    @cuda.jit
    def input_gradient(grad_output, weight_t, zeros, sh, sw, ph, pw, k_h, k_w, grad_input):
        """Tile of grad_x[c, (n, y, x)] = sum_(o, u, v) weight[o, c, u, v] g_window[(o, u, v), (n, y, x)].

        weight_t is the weight rearranged as (C_in, C_out kH kW); grad_output (N, C_out, H_out,
        W_out); grad_input (N, C_in, H, W); zeros (C_in,): there is no bias here, so ``store`` adds 0.
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
        zero(acc)
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
            split_depth(k0, taps, k_w, t, tap_o, tap_u, tap_v)
            load_rows(weight_t, channels, depth_total, r0, k0, t, a_tile)
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
        store(acc, r0, q0, channels, zeros, grad_input)

    return input_gradient


def _weight_gradient_kernel(TY: int, TX: int, RY: int, RX: int, TK: int):
    zero, multiply_tiles, _, _, _ = _tile_functions(TY, TX, RY, RX, TK)
    TM, TN, NT = TY * RY, TX * RX, TY * TX

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
        zero(acc)
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

    return weight_gradient


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
        shape = (threads_y, threads_x, rows_per_thread, cols_per_thread, depth)
        self.forward = _forward_kernel(*shape)
        self.input_gradient = _input_gradient_kernel(*shape)
        self.weight_gradient = _weight_gradient_kernel(*shape)

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


def tiles_for(rows: int) -> Tiles:
    """NARROW for products with few rows (where a WIDE tile would be mostly zeros), else WIDE."""
    return NARROW if rows <= NARROW.rows else WIDE


def depth_splits(depth_total: int, tiles: int, step: int) -> tuple[int, int]:
    """Split a depth of ``depth_total`` between blocks: (number of splits, length of each, a multiple of ``step``)."""
    wanted = max(1, TARGET_BLOCKS // tiles)
    most = max(1, depth_total // MIN_SPLIT)
    splits = min(wanted, most)
    chunk = math.ceil(math.ceil(depth_total / splits) / step) * step
    return math.ceil(depth_total / chunk), chunk
