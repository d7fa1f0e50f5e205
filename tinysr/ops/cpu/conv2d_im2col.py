"""im2col: the convolution as one matrix product per band of output rows (the layout for 1-3 input channels).

Copy every kH x kW window of one image into a column of a (C_in kH kW, H_out W_out) matrix
``cols``; then the whole forward sum of ``conv2d_forward_reference`` is one product,
``out = weight.reshape(C_out, -1) @ cols`` (+ bias), and the backward pass two:
``grad_weight += grad_output @ cols^T`` and ``grad_cols = weight^T @ grad_output``, whose columns
are scattered back onto the image (``col2im``, the adjoint of im2col). The copy is kH kW times the
image, so it pays only when few input channels make the shifted windows' products too thin (a Y or
RGB image: SRCNN's first layer). The forward pass works in bands of rows whose ``cols`` fit in a
core's L2 cache. Must equal ``conv2d_forward_reference`` / ``conv2d_backward_reference``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinysr.ops.cpu.blas import gemm
from tinysr.ops.cpu.conv2d_planes import crop_from, equal_parts, pad_into, split_all_planes, thread_count

#: a band has as many output rows as keep its im2col matrix under this many entries (128 KB in
#: float32), and at least one: halving or doubling it changed SRCNN's layer times by at most ~15%
BLOCK_ENTRIES = 32768


@njit(cache=True)
def _im2col(padded, channels, hp, wp, k_h, k_w, sh, sw, first_row, rows, w_out, cols):
    """cols[(c*kH + u)*kW + v, (i - first_row)*W_out + j] = xpad[c, i*sh + u, j*sw + v] for the output rows
    i = first_row .. first_row + rows - 1 (flat, row length rows * W_out)."""
    pixels = rows * w_out
    row = 0
    for c in range(channels):
        for u in range(k_h):
            for v in range(k_w):
                for i in range(rows):
                    src = padded[(c * hp + (first_row + i) * sh + u) * wp + v:]
                    dst = cols[row * pixels + i * w_out:]
                    if sw == 1:  # a plain copy, which the compiler turns into vector moves
                        for j in range(w_out):
                            dst[j] = src[j]
                    else:
                        for j in range(w_out):
                            dst[j] = src[j * sw]
                row += 1


@njit(cache=True)
def _col2im_add(cols, channels, hp, wp, k_h, k_w, sh, sw, h_out, w_out, padded):
    """The adjoint of ``_im2col`` (all rows): padded[c, i*sh + u, j*sw + v] += cols[(c*kH + u)*kW + v, i*W_out + j]."""
    row = 0
    for c in range(channels):
        for u in range(k_h):
            for v in range(k_w):
                for i in range(h_out):
                    dst = (c * hp + i * sh + u) * wp + v
                    src = (row * h_out + i) * w_out
                    for j in range(w_out):
                        padded[dst + j * sw] += cols[src + j]
                row += 1


@njit(cache=True)
def _im2col_band(padded, weight_2d, bias, hp, wp, k_h, k_w, sh, sw, first_row, rows, cols, out_image):
    """Output rows first_row .. first_row + rows - 1 of one image: im2col of those rows, one product, bias.

    padded: one padded image, flat (C_in Hp Wp); cols: scratch for (C_in kH kW, rows W_out);
    out_image (C_out, H_out, W_out). The product writes straight into the band's rows of out_image.
    """
    out_channels, h_out, w_out = out_image.shape
    patch, pixels = weight_2d.shape[1], h_out * w_out
    first, count = first_row * w_out, rows * w_out
    _im2col(padded, patch // (k_h * k_w), hp, wp, k_h, k_w, sh, sw, first_row, rows, w_out, cols)
    out_flat = out_image.reshape(out_channels * pixels)
    gemm(False, False, out_channels, count, patch, 1.0, weight_2d.reshape(-1), patch,
         cols, count, 0.0, out_flat[first:], pixels)
    for o in range(out_channels):
        band_o = out_flat[o * pixels + first:]
        for z in range(count):  # (from zero over a view: loops from a runtime start do not vectorise)
            band_o[z] += bias[o]


@njit(parallel=True, cache=True)
def _forward_bands(x, weight_2d, bias, k_h, k_w, sh, sw, ph, pw, band, n_threads, share_images, padded, out):
    """out[n] (C_out, H_out W_out) = weight_2d (C_out, C_in kH kW) @ cols(x[n]) + bias, one band of rows at a time.

    A work item is ``band`` output rows of one image (``_im2col_band``): their im2col columns are
    small enough to stay in cache until the product reads them. ``padded`` (zeros) holds
    n_threads padded images, one per thread, or all N, already padded, if ``share_images`` (the
    two schedules: see tinysr/ops/cpu/conv2d.py).
    """
    n_images, channels, height, width = x.shape
    h_out = out.shape[2]
    hp, wp = height + 2 * ph, width + 2 * pw
    image_size, patch = channels * hp * wp, channels * k_h * k_w
    n_bands = (h_out + band - 1) // band
    if not share_images:
        for t in prange(n_threads):
            mine = padded[t * image_size:(t + 1) * image_size]
            cols = np.empty(patch * band * out.shape[3], x.dtype)
            for n in range(t, n_images, n_threads):
                pad_into(x[n], ph, pw, mine)
                for b in range(n_bands):
                    rows = min(band, h_out - b * band)
                    _im2col_band(mine, weight_2d, bias, hp, wp, k_h, k_w, sh, sw, b * band, rows, cols, out[n])
    else:  # the caller has padded every image into ``padded`` (split_all_planes)
        for t in prange(n_threads):
            cols = np.empty(patch * band * out.shape[3], x.dtype)
            for item in range(t, n_images * n_bands, n_threads):
                n, b = item // n_bands, item % n_bands
                rows = min(band, h_out - b * band)
                _im2col_band(padded[n * image_size:(n + 1) * image_size], weight_2d, bias, hp, wp, k_h, k_w,
                             sh, sw, b * band, rows, cols, out[n])



@njit(parallel=True, cache=True)
def _backward_images(grad_output, x, weight_2d, k_h, k_w, sh, sw, ph, pw, n_threads,
                     grad_input, grad_weight_parts, grad_bias_parts):
    """Per image: grad_weight += g @ cols^T, grad_cols = weight_2d^T @ g, grad_input = col2im(grad_cols).

    g = grad_output[n] as (C_out, H_out W_out). Thread t adds into grad_weight_parts[t]
    (C_out * C_in kH kW) and grad_bias_parts[t] (C_out,); the caller sums over t.
    """
    n_images, channels, height, width = x.shape
    _, out_channels, h_out, w_out = grad_output.shape
    hp, wp = height + 2 * ph, width + 2 * pw
    patch, pixels = channels * k_h * k_w, h_out * w_out
    for t in prange(n_threads):
        padded = np.zeros(channels * hp * wp, x.dtype)
        grad_padded = np.empty(channels * hp * wp, x.dtype)
        cols = np.empty(patch * pixels, x.dtype)
        grad_cols = np.empty(patch * pixels, x.dtype)
        for n in range(t, n_images, n_threads):
            pad_into(x[n], ph, pw, padded)
            _im2col(padded, channels, hp, wp, k_h, k_w, sh, sw, 0, h_out, w_out, cols)
            g = grad_output[n].reshape(out_channels * pixels)
            gemm(False, True, out_channels, patch, pixels, 1.0, g, pixels, cols, pixels,
                 1.0, grad_weight_parts[t], patch)
            gemm(True, False, patch, pixels, out_channels, 1.0, weight_2d.reshape(-1), patch, g, pixels,
                 0.0, grad_cols, pixels)
            grad_padded[:] = 0.0
            _col2im_add(grad_cols, channels, hp, wp, k_h, k_w, sh, sw, h_out, w_out, grad_padded)
            crop_from(grad_padded, ph, pw, grad_input[n])
            for o in range(out_channels):
                total = 0.0
                for p in range(pixels):
                    total += g[o * pixels + p]
                grad_bias_parts[t, o] += total



def forward(x, weight, bias, stride, padding, out, share_images: bool, block: int | None = None) -> None:
    """``out = conv(x)`` by im2col bands of at most ``block`` im2col entries (default ``BLOCK_ENTRIES``)."""
    (sh, sw), (ph, pw) = stride, padding
    n_images, in_channels, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    h_out, w_out = out.shape[2:]
    band, n_bands = equal_parts(h_out, (block or BLOCK_ENTRIES) // (in_channels * k_h * k_w * w_out))
    threads = thread_count(n_images * n_bands if share_images else n_images)
    hp, wp = height + 2 * ph, width + 2 * pw
    padded = np.zeros((n_images if share_images else threads) * in_channels * hp * wp, dtype=x.dtype)
    if share_images:
        split_all_planes(x, ph, pw, 1, 1, hp, wp, padded)
    _forward_bands(x, weight.reshape(out_channels, -1), bias, k_h, k_w, sh, sw, ph, pw, band, threads,
                   share_images, padded, out)


def backward(grad_output, x, weight, stride, padding) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_input, grad_weight, grad_bias) by im2col, one image per thread."""
    (sh, sw), (ph, pw) = stride, padding
    out_channels, _, k_h, k_w = weight.shape
    threads = thread_count(x.shape[0])
    grad_input = np.empty_like(x)
    grad_weight_parts = np.zeros((threads, weight.size), dtype=x.dtype)
    grad_bias_parts = np.zeros((threads, out_channels), dtype=x.dtype)
    _backward_images(grad_output, x, weight.reshape(out_channels, -1), k_h, k_w, sh, sw, ph, pw, threads,
                     grad_input, grad_weight_parts, grad_bias_parts)
    return grad_input, grad_weight_parts.sum(axis=0).reshape(weight.shape), grad_bias_parts.sum(axis=0)
