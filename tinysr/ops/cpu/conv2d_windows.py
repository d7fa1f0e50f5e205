"""Shifted windows: the convolution as kH kW matrix products over the flat image (4 or more input channels).

Flatten the padded image to (C_in, Hp * Wp). With stride 1, for a fixed kernel offset (u, v) the
pixels ``xpad[c, i + u, j + v]`` of all output pixels (i, j) are one contiguous stretch of that
flat image, starting at ``u * Wp + v``, if the output is laid out "wide", in rows of length Wp (the
last ``kW - 1`` entries of each wide row are junk and get dropped). So the forward sum of
``conv2d_forward_reference`` is kH kW accumulating products
``wide += weight[:, :, u, v] @ xflat[:, u*Wp + v:]``, with no kH kW-fold copy (im2col's). With a
stride, each tap reads one stride phase (``conv2d_planes``) the same way. The backward pass is the
same products transposed: ``grad_xflat[:, start:] += weight[:, :, u, v]^T @ grad_wide`` (the
scatter-add) and ``grad_weight[:, :, u, v] += grad_wide @ xflat[:, start:]^T`` (the correlation).
Must equal ``conv2d_forward_reference`` / ``conv2d_backward_reference``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinysr.ops.cpu.blas import gemm
from tinysr.ops.cpu.conv2d_planes import (
    equal_parts,
    merge_phases,
    split_all_planes,
    split_phases,
    tap_start,
    thread_count,
)

#: a block has at most this many columns of the flat wide output, so that what its kH kW products
#: read stays in a core's L2 cache (halving or doubling it changed SRCNN's layer times by <= ~15%)
BLOCK_COLUMNS = 1024


@njit(cache=True)
def _window_block(phases, weight_taps, bias, k_h, k_w, sh, sw, hq, wq, first, count, wide, out_image):
    """Columns first .. first + count - 1 of one image's flat ``wide`` output, summed over all taps.

    phases: one image split into phases, flat (C_in sh sw hq wq); wide: scratch for (C_out, count);
    out_image (C_out, H_out, W_out) receives the block's real pixels plus the bias.
    """
    out_channels, _, w_out = out_image.shape
    channels = weight_taps.shape[1] // out_channels
    channel_size = sh * sw * hq * wq  # the row stride of every product's right operand
    for u in range(k_h):
        for v in range(k_w):
            beta = 0.0 if u == 0 and v == 0 else 1.0
            start = tap_start(u, v, sh, sw, hq, wq) + first
            gemm(False, False, out_channels, count, channels, 1.0, weight_taps[u * k_w + v], channels,
                 phases[start:], channel_size, beta, wide, count)
    # Column q of the block is wide position first + q = i * wq + j; keep it when j < W_out.
    q, i, j = 0, first // wq, first % wq
    while q < count:
        in_row = min(wq - j, count - q)  # the block's columns in wide row i
        keep = min(in_row, w_out - j)    # ... of which real pixels (none if j >= W_out)
        for o in range(out_channels):
            src, dst = wide[o * count + q:], out_image[o, i, j:]
            for z in range(keep):  # (from zero over views: loops from a runtime start do not vectorise)
                dst[z] = src[z] + bias[o]
        q, i, j = q + in_row, i + 1, 0


@njit(parallel=True, cache=True)
def _forward_blocks(x, weight_taps, bias, k_h, k_w, sh, sw, ph, pw, block, n_threads, share_images, phases, out):
    """Shifted windows: wide[n] = sum over taps (u, v) of weight[:, :, u, v] @ phase(u, v)[:, start(u, v):].

    weight_taps (kH kW, C_out C_in) holds ``weight[:, :, u, v]`` as row ``u*kW + v``. ``wide`` is
    (C_out, H_out, wq): output rows of the phases' width wq, whose entries past W_out are junk.
    ``phases`` (zeros) holds n_threads images split into phases, one per thread, or all N, already
    split, if ``share_images`` (the two schedules: see tinysr/ops/cpu/conv2d.py).

    A work item is ``block`` consecutive columns of one image's flat ``wide`` (``_window_block``),
    and all kH kW taps are summed into that block before the next one starts. The taps read the
    same input shifted by a few pixels or rows, so after the first tap the rest find it in cache.
    (Looping over the taps outside, one product per tap over the whole image, reads every feature
    map from memory kH kW times: on a 420x420 tile that made the 64->32 5x5 layer memory-bound.)
    """
    n_images, channels, height, width = x.shape
    out_channels, h_out, w_out = out.shape[1:]
    hq, wq = (height + 2 * ph + sh - 1) // sh, (width + 2 * pw + sw - 1) // sw
    channel_size = sh * sw * hq * wq
    image_size = channels * channel_size
    # Flat length covered by one tap: up to the last real output pixel, never past the phase.
    span = (h_out - 1) * wq + w_out
    n_blocks = (span + block - 1) // block
    if not share_images:
        for t in prange(n_threads):
            mine = phases[t * image_size:(t + 1) * image_size]
            wide = np.empty(out_channels * block, x.dtype)
            for n in range(t, n_images, n_threads):
                split_phases(x[n], ph, pw, sh, sw, hq, wq, mine)
                for b in range(n_blocks):
                    count = min(block, span - b * block)
                    _window_block(mine, weight_taps, bias, k_h, k_w, sh, sw, hq, wq, b * block, count, wide, out[n])
    else:  # the caller has split every image into ``phases`` (split_all_planes)
        for t in prange(n_threads):
            wide = np.empty(out_channels * block, x.dtype)
            for item in range(t, n_images * n_blocks, n_threads):
                n, b = item // n_blocks, item % n_blocks
                count = min(block, span - b * block)
                _window_block(phases[n * image_size:(n + 1) * image_size], weight_taps, bias, k_h, k_w, sh, sw,
                              hq, wq, b * block, count, wide, out[n])



@njit(parallel=True, cache=True)
def _backward_images(grad_output, x, weight_taps, k_h, k_w, sh, sw, ph, pw, n_threads,
                     grad_input, grad_weight_parts, grad_bias_parts):
    """Shifted windows, per image and tap (u, v), with g_wide = grad_output[n] in rows of width wq:

        grad_phase(u, v)[:, start:] += weight[:, :, u, v]^T @ g_wide        (the scatter-add)
        grad_weight[:, :, u, v]     += g_wide @ phase(u, v)[:, start:]^T    (the correlation)

    The junk columns of g_wide must be zero so that they add nothing. Thread t adds into
    grad_weight_parts[t] (kH kW, C_out C_in) and grad_bias_parts[t] (C_out,); the caller sums over t.
    """
    n_images, channels, height, width = x.shape
    _, out_channels, h_out, w_out = grad_output.shape
    hq, wq = (height + 2 * ph + sh - 1) // sh, (width + 2 * pw + sw - 1) // sw
    channel_size = sh * sw * hq * wq
    span = (h_out - 1) * wq + w_out
    for t in prange(n_threads):
        phases = np.zeros(channels * channel_size, x.dtype)
        grad_phases = np.empty(channels * channel_size, x.dtype)
        grad_wide = np.zeros(out_channels * h_out * wq, x.dtype)
        for n in range(t, n_images, n_threads):
            split_phases(x[n], ph, pw, sh, sw, hq, wq, phases)
            for o in range(out_channels):
                total = 0.0
                for i in range(h_out):
                    for j in range(w_out):
                        value = grad_output[n, o, i, j]
                        grad_wide[(o * h_out + i) * wq + j] = value
                        total += value
                grad_bias_parts[t, o] += total
            grad_phases[:] = 0.0
            for u in range(k_h):
                for v in range(k_w):
                    start = tap_start(u, v, sh, sw, hq, wq)
                    gemm(True, False, channels, span, out_channels, 1.0, weight_taps[u * k_w + v], channels,
                         grad_wide, h_out * wq, 1.0, grad_phases[start:], channel_size)
                    gemm(False, True, out_channels, channels, span, 1.0, grad_wide, h_out * wq,
                         phases[start:], channel_size, 1.0, grad_weight_parts[t, u * k_w + v], channels)
            merge_phases(grad_phases, ph, pw, sh, sw, hq, wq, grad_input[n])



def taps(weight: np.ndarray) -> np.ndarray:
    """weight (C_out, C_in, kH, kW) -> (kH kW, C_out C_in): row u*kW + v is weight[:, :, u, v], flat."""
    return np.ascontiguousarray(weight.transpose(2, 3, 0, 1)).reshape(weight.shape[2] * weight.shape[3], -1)


def forward(x, weight, bias, stride, padding, out, share_images: bool, block: int | None = None) -> None:
    """``out = conv(x)`` by shifted windows, in blocks of at most ``block`` wide columns (default ``BLOCK_COLUMNS``)."""
    (sh, sw), (ph, pw) = stride, padding
    n_images, in_channels, height, width = x.shape
    _, _, k_h, k_w = weight.shape
    h_out, w_out = out.shape[2:]
    hq, wq = -(-(height + 2 * ph) // sh), -(-(width + 2 * pw) // sw)
    block, n_blocks = equal_parts((h_out - 1) * wq + w_out, block or BLOCK_COLUMNS)
    threads = thread_count(n_images * n_blocks if share_images else n_images)
    image_size = in_channels * sh * sw * hq * wq
    if share_images and (sh, sw, ph, pw) == (1, 1, 0, 0):
        phases = x.reshape(-1)  # stride 1, no padding: the images are their own phases already (no copy)
    else:
        phases = np.zeros((n_images if share_images else threads) * image_size, dtype=x.dtype)
        if share_images:
            split_all_planes(x, ph, pw, sh, sw, hq, wq, phases)
    _forward_blocks(x, taps(weight), bias, k_h, k_w, sh, sw, ph, pw, block, threads, share_images, phases, out)


def backward(grad_output, x, weight, stride, padding) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_input, grad_weight, grad_bias) by shifted windows, one image per thread."""
    (sh, sw), (ph, pw) = stride, padding
    out_channels, in_channels, k_h, k_w = weight.shape
    threads = thread_count(x.shape[0])
    grad_input = np.empty_like(x)
    parts = np.zeros((threads, k_h * k_w, out_channels * in_channels), dtype=x.dtype)
    grad_bias_parts = np.zeros((threads, out_channels), dtype=x.dtype)
    _backward_images(grad_output, x, taps(weight), k_h, k_w, sh, sw, ph, pw, threads, grad_input, parts,
                     grad_bias_parts)
    grad_weight = parts.sum(axis=0).reshape(k_h, k_w, out_channels, in_channels)
    return grad_input, np.ascontiguousarray(grad_weight.transpose(2, 3, 0, 1)), grad_bias_parts.sum(axis=0)
