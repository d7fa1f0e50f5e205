"""2-D convolution (cross-correlation, as in PyTorch): forward rule, backward rule, NumPy and Numba tiers.

Shapes (PyTorch's layout and names)::

    x            (N, C_in, H, W)           input images
    weight       (C_out, C_in, kH, kW)     one kH x kW filter per (output channel, input channel)
    bias         (C_out,) or None
    out          (N, C_out, H_out, W_out)  H_out = floor((H + 2 ph - kH) / sh) + 1, likewise W_out
    grad_output  (N, C_out, H_out, W_out)  d loss / d out

``stride = (sh, sw)`` and ``padding = (ph, pw)`` (zero padding) may each be given as one int.

Forward. With ``xpad`` the input with ``ph`` zero rows above and below and ``pw`` zero columns
left and right, (N, C_in, H + 2 ph, W + 2 pw)::

    out[n, o, i, j] = bias[o] + sum_{c, u, v} weight[o, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]

Backward. Differentiate that sum with respect to each factor::

    grad_bias[o]            = sum_{n, i, j} grad_output[n, o, i, j]
    grad_weight[o, c, u, v] = sum_{n, i, j} grad_output[n, o, i, j] * xpad[n, c, i*sh + u, j*sw + v]
    grad_xpad[n, c, p, q]   = sum of grad_output[n, o, i, j] * weight[o, c, u, v]
                              over all (o, i, j, u, v) with i*sh + u = p and j*sw + v = q
    grad_input              = grad_xpad[:, :, ph:ph + H, pw:pw + W]   (padding has no gradient)

``grad_weight`` is a correlation of the input with ``grad_output``. ``grad_xpad`` is a scatter-add:
every output pixel sends ``grad_output * weight`` back to the window it was computed from. For
stride 1 that is a "full" correlation of the zero-padded ``grad_output`` with the kernel flipped
in both directions (``weight[o, c, kH-1-u, kW-1-v]``) and input/output channels swapped. When the
stride skips the last rows or columns of ``xpad`` (``(H + 2 ph - kH) % sh != 0``), no window
touches them and their gradient is 0.

Tiers. ``conv2d_forward_<tier>(x, weight, bias, stride, padding) -> out`` and
``conv2d_backward_<tier>(grad_output, cache) -> (grad_input, grad_weight, grad_bias)``, called by
``conv2d_forward``/``conv2d_backward`` with validated, C-contiguous arrays and (int, int) pairs:

* ``reference``: NumPy, one ``einsum`` per kernel offset ``(u, v)``. Read these first.
* ``numba``: the same sums as matrix products done by BLAS (``tinysr.ops._blas.gemm``), called
  from Numba ``prange`` loops (how the work is cut and shared out: see "numba tier" below).
  Two ways to lay the sums out as matrix products:

  - im2col (1 to 3 input channels): copy every kH x kW window of one image into a column
    of a (C_in kH kW, H_out W_out) matrix ``cols``; then ``out = weight.reshape(C_out, -1) @ cols``.
  - shifted windows (4 or more input channels): flatten the padded image to (C_in, Hp * Wp).
    With stride 1, for a fixed offset (u, v) the pixels ``xpad[c, i + u, j + v]`` of all output
    pixels (i, j) are one contiguous stretch of that flat image, starting at ``u * Wp + v``, if
    the output is laid out "wide" with rows of length Wp (the last ``kW - 1`` entries of each wide
    row are junk and get dropped). So the forward pass is kH * kW accumulating products
    ``wide += weight[:, :, u, v] @ xflat[:, u*Wp + v:]``, and no kH kW-fold copy is made.
    With stride s the padded image is first split into s_h * s_w "phases",
    ``phase[a, b][c, i, j] = xpad[c, a + i*sh, b + j*sw]``: tap (u, v) only ever reads phase
    (u % sh, v % sw), at offset (u // sh, v // sw) and stride 1, so the same trick applies.
  - Winograd rows (forward only; stride 1, 5 kernel rows, at least 16 output channels, e.g.
    SRCNN's 64->32 5x5 layer): groups of 4 output rows from 8 transformed input rows with 8 kW
    shifted-window products instead of 20 kW (Winograd's F(4, 5); see "Winograd rows" below).
  - direct rows (forward only; stride 1, at most 4 output channels, e.g. the last layer of every
    SR network, which makes 1 or 3 channels): no matrix product at all, since one with 1-4 rows
    keeps BLAS waiting on memory. Each output row is the sum of C_in kH kW input rows scaled by
    one weight each, ``out[n, o, i, :] += weight[o, c, u, v] * xpad[n, c, i + u, v:v + W_out]``,
    a loop that Numba vectorises (see ``_forward_direct``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from tinysr._validation import check_float_array, check_same_dtype, check_shape, pair
from tinysr.device import cuda_tier
from tinysr.ops._blas import gemm, single_threaded_blas
from tinysr.tiers import choose_tier

__all__ = [
    "conv2d_backward",
    "conv2d_backward_numba",
    "conv2d_backward_reference",
    "conv2d_forward",
    "conv2d_forward_numba",
    "conv2d_forward_reference",
]

_LAYER = "conv2d"

# Each shifted-window product sums over C_in terms only; with 1-3 input channels (a Y or RGB
# image) that is too few to keep BLAS busy and im2col's one long product is faster. From 4
# channels on the shifted windows won on every SR shape measured (single thread, float32).
_WINDOW_MIN_CHANNELS = 4

# Forward work items (see "numba tier" below): a shifted-window block has at most
# _WINDOW_BLOCK_COLUMNS columns of the flat output; an im2col band has as many output rows as keep
# its im2col matrix under _IM2COL_BLOCK_ENTRIES entries (128 KB in float32), and at least one.
# Both keep what a block reads inside a core's L2 cache; halving or doubling them changed the
# times of SRCNN's layers by at most ~15% (measured on 420x420 and 33x33 images, one thread).
_WINDOW_BLOCK_COLUMNS = 1024
_IM2COL_BLOCK_ENTRIES = 32768

# Winograd rows (forward only; see "Winograd rows" below) for stride 1, 5 kernel rows, at least
# 4 input channels and this many output channels. Against the shifted windows, 64 input
# channels, 2 threads: on a 200x200 image 1.7x faster with 32 output channels, 1.6x with 16,
# 1.1x with 8; on 32 images of 33x33 1.2x faster with 32, even with 16, 1.35x slower with 8.
# A block has at most _WINOGRAD_BLOCK_COLUMNS columns of the (row group, column) plane (128 and
# 512 were no faster).
_WINOGRAD_MIN_OUT_CHANNELS = 16
_WINOGRAD_BLOCK_COLUMNS = 256

# Direct rows (forward only; see ``_forward_direct``) for stride 1 and at most this many output
# channels: 2-9x faster than the shifted windows for 1 or 3 output channels (2 threads: 32->1 5x5 on
# a 420x420 tile 16 ms instead of 147, on 32 x 33x33 3.5 instead of 13.1; 16->3 9x9 on 8 x 48x48
# 7.2 instead of 16.8; 64->3 9x9 on 16 x 96x96 138 instead of 480).
_DIRECT_MAX_OUT_CHANNELS = 4


def _output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1, PyTorch's rule."""
    return (size + 2 * padding - kernel) // stride + 1


# ----------------------------------------------------------------------------- reference tier


def conv2d_forward_reference(x, weight, bias, stride, padding) -> np.ndarray:
    """``out[n,o,i,j] = bias[o] + sum_{c,u,v} weight[o,c,u,v] * xpad[n,c,i*sh+u,j*sw+v]`` in NumPy.

    x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,) or None, stride (sh, sw),
    padding (ph, pw) -> out (N, C_out, H_out, W_out). One einsum per kernel offset (u, v): the
    window ``xpad[:, :, u::sh, v::sw]`` (cut to H_out x W_out) is the input pixel that offset
    (u, v) of every output pixel looks at, and ``weight[:, :, u, v]`` mixes its channels.
    """
    (sh, sw), (ph, pw) = stride, padding
    n_images, _, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    h_out, w_out = _output_size(height, k_h, sh, ph), _output_size(width, k_w, sw, pw)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n_images, out_channels, h_out, w_out), dtype=x.dtype)
    for u in range(k_h):
        for v in range(k_w):
            window = xpad[:, :, u : u + sh * h_out : sh, v : v + sw * w_out : sw]  # (N, C_in, H_out, W_out)
            out += np.einsum("nchw,oc->nohw", window, weight[:, :, u, v])
    if bias is not None:
        out += bias[None, :, None, None]
    return out


def conv2d_backward_reference(grad_output, cache) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of the convolution in NumPy, one einsum per kernel offset (u, v).

    grad_output (N, C_out, H_out, W_out) -> grad_input (N, C_in, H, W),
    grad_weight (C_out, C_in, kH, kW), grad_bias (C_out,) or None if the forward had no bias::

        grad_xpad[:, :, window(u, v)] += sum_o grad_output[:, o] * weight[o, :, u, v]   (scatter-add)
        grad_weight[o, c, u, v]        = sum_{n,i,j} grad_output[n, o, i, j] * window(u, v)[n, c, i, j]
        grad_bias[o]                   = sum_{n,i,j} grad_output[n, o, i, j]

    where ``window(u, v) = xpad[:, :, u::sh, v::sw]`` cut to H_out x W_out, as in the forward pass.
    The scatter-add is the transpose of the forward gather; for stride 1 it equals a "full"
    correlation of grad_output (zero-padded by kH-1, kW-1) with the kernel flipped in both
    directions and its two channel axes swapped. ``grad_input`` is ``grad_xpad`` without the padding.
    """
    x, weight, has_bias, (sh, sw), (ph, pw) = cache
    _, _, height, width = x.shape
    _, _, k_h, k_w = weight.shape
    _, _, h_out, w_out = grad_output.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    grad_xpad = np.zeros_like(xpad)
    grad_weight = np.zeros_like(weight)
    for u in range(k_h):
        for v in range(k_w):
            rows, cols = slice(u, u + sh * h_out, sh), slice(v, v + sw * w_out, sw)
            grad_xpad[:, :, rows, cols] += np.einsum("nohw,oc->nchw", grad_output, weight[:, :, u, v])
            grad_weight[:, :, u, v] = np.einsum("nohw,nchw->oc", grad_output, xpad[:, :, rows, cols])
    grad_input = np.ascontiguousarray(grad_xpad[:, :, ph : ph + height, pw : pw + width])
    grad_bias = grad_output.sum(axis=(0, 2, 3)) if has_bias else None
    return grad_input, grad_weight, grad_bias


# ----------------------------------------------------------------------------- numba tier
# Buffers are flat 1-D arrays indexed by hand: BLAS wants a start pointer plus a row stride, not a
# NumPy view. No two parallel iterations ever write the same cell: the forward kernels split the
# output into disjoint blocks, and the backward kernels give each thread its own partial sums of
# grad_weight / grad_bias, which are added up after the parallel loop.
#
# Forward: blocks. Each image's output is computed block by block (bands of output rows for
# im2col, stretches of flat output columns for shifted windows and Winograd rows), and a block is
# finished, over every kernel tap, before the next one starts: everything its products read is
# then still in the core's cache (for the shifted windows the kH kW taps read the same pixels
# shifted a little).
# Two schedules share out the blocks:
#   - whole images per thread (when the batch divides evenly among the threads, e.g. training
#     batches): thread t takes images t, t + n_threads, ..., pads each into its own scratch and
#     runs its blocks one after another. One parallel loop, no waiting.
#   - shared images (``share_images``; e.g. one big tile at inference, where a per-image loop
#     would leave cores idle): all threads first pad every (image, channel) plane into one shared
#     buffer (``_split_all_planes``), then share out all (image, block) pairs, so even a single
#     image keeps every core busy.
# Winograd rows pad nothing: a block copies the few padded rows it reads into cache-sized lines
# (``_padded_line``), so both schedules read x itself.
# Direct rows have one schedule: after that same padding pass, every output row of every image
# is a work item (``_forward_direct``).
#
# Backward: whole images; thread t of n_threads takes images t, t + n_threads, ... and owns its
# scratch buffers. (Training batches hold many small images, which fit in cache anyway.)


@njit(cache=True)
def _pad_into(image, ph, pw, padded):
    """Copy image (C, H, W) into the interior of the flat zero-bordered padded (C * Hp * Wp)."""
    channels, height, width = image.shape
    hp, wp = height + 2 * ph, width + 2 * pw
    for c in range(channels):
        for i in range(height):
            start = (c * hp + i + ph) * wp + pw
            for j in range(width):
                padded[start + j] = image[c, i, j]


@njit(cache=True)
def _crop_from(padded, ph, pw, image):
    """Copy the interior of the flat padded (C * Hp * Wp) into image (C, H, W): drop the padding."""
    channels, height, width = image.shape
    hp, wp = height + 2 * ph, width + 2 * pw
    for c in range(channels):
        for i in range(height):
            start = (c * hp + i + ph) * wp + pw
            for j in range(width):
                image[c, i, j] = padded[start + j]


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
def _forward_im2col(x, weight_2d, bias, k_h, k_w, sh, sw, ph, pw, band, n_threads, share_images, padded, out):
    """out[n] (C_out, H_out W_out) = weight_2d (C_out, C_in kH kW) @ cols(x[n]) + bias, one band of rows at a time.

    A work item is ``band`` output rows of one image (``_im2col_band``): their im2col columns are
    small enough to stay in cache until the product reads them. ``padded`` (zeros) holds
    n_threads padded images, one per thread, or all N, already padded, if ``share_images`` (the
    two schedules: see "Forward: blocks" above).
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
                _pad_into(x[n], ph, pw, mine)
                for b in range(n_bands):
                    rows = min(band, h_out - b * band)
                    _im2col_band(mine, weight_2d, bias, hp, wp, k_h, k_w, sh, sw, b * band, rows, cols, out[n])
    else:  # the caller has padded every image into ``padded`` (_split_all_planes)
        for t in prange(n_threads):
            cols = np.empty(patch * band * out.shape[3], x.dtype)
            for item in range(t, n_images * n_bands, n_threads):
                n, b = item // n_bands, item % n_bands
                rows = min(band, h_out - b * band)
                _im2col_band(padded[n * image_size:(n + 1) * image_size], weight_2d, bias, hp, wp, k_h, k_w,
                             sh, sw, b * band, rows, cols, out[n])


@njit(cache=True)
def _split_phases(image, ph, pw, sh, sw, hq, wq, phases):
    """phases[c, a*sw + b, i, j] = xpad[c, a + i*sh, b + j*sw] (flat; each phase plane is hq x wq).

    Phase (a, b) holds the pixels of the padded image that kernel taps (u, v) with u % sh = a and
    v % sw = b ever touch, and a stride-s correlation of xpad is a sum of stride-1 correlations of
    the phases. With stride 1 there is one phase: xpad itself. The sh sw phases of a channel are
    stored one after the other, so one channel of one image is one stretch of ``phases``. Padding
    entries are never written (the caller zeroes ``phases`` once).
    """
    channels, height, width = image.shape
    plane = hq * wq
    for c in range(channels):
        for y in range(height):
            a, i = (y + ph) % sh, (y + ph) // sh
            for b in range(sw):
                first = (b - pw) % sw  # first column z with (z + pw) % sw == b
                dst = (c * sh * sw + a * sw + b) * plane + i * wq + (first + pw) // sw
                count = (width - first + sw - 1) // sw
                phases[dst:dst + count] = image[c, y, first::sw]


@njit(cache=True)
def _merge_phases(phases, ph, pw, sh, sw, hq, wq, image):
    """The inverse of ``_split_phases`` on the interior: image[c, y, x] = xpad[c, y + ph, x + pw]."""
    channels, height, width = image.shape
    plane = hq * wq
    for c in range(channels):
        for y in range(height):
            a, i = (y + ph) % sh, (y + ph) // sh
            for b in range(sw):
                first = (b - pw) % sw
                src = (c * sh * sw + a * sw + b) * plane + i * wq + (first + pw) // sw
                count = (width - first + sw - 1) // sw
                image[c, y, first::sw] = phases[src:src + count]


@njit(cache=True)
def _tap_start(u, v, sh, sw, hq, wq):
    """Flat index in channel 0's phases where tap (u, v) starts: phase (u % sh, v % sw), row u // sh, col v // sw.

    Channel c starts ``c * sh * sw * hq * wq`` further on: that is the row stride of the products.
    """
    return ((u % sh) * sw + v % sw) * hq * wq + (u // sh) * wq + v // sw


@njit(parallel=True, cache=True)
def _split_all_planes(x, ph, pw, sh, sw, hq, wq, phases):
    """Split every image of x into ``phases`` (N C_in sh sw hq wq), in parallel over the (image, channel) planes.

    The first step of the shared-images schedule of the three BLAS layouts, and of direct rows:
    with stride 1 the one phase of a channel is its zero-padded plane (hq x wq; rows below
    H + 2 ph stay zero).
    """
    n_images, channels = x.shape[:2]
    channel_size = sh * sw * hq * wq
    for item in prange(n_images * channels):
        n, c = item // channels, item % channels
        _split_phases(x[n, c:c + 1], ph, pw, sh, sw, hq, wq, phases[item * channel_size:(item + 1) * channel_size])


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
            start = _tap_start(u, v, sh, sw, hq, wq) + first
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
def _forward_window(x, weight_taps, bias, k_h, k_w, sh, sw, ph, pw, block, n_threads, share_images, phases, out):
    """Shifted windows: wide[n] = sum over taps (u, v) of weight[:, :, u, v] @ phase(u, v)[:, start(u, v):].

    weight_taps (kH kW, C_out C_in) holds ``weight[:, :, u, v]`` as row ``u*kW + v``. ``wide`` is
    (C_out, H_out, wq): output rows of the phases' width wq, whose entries past W_out are junk.
    ``phases`` (zeros) holds n_threads images split into phases, one per thread, or all N, already
    split, if ``share_images`` (the two schedules: see "Forward: blocks" above).

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
                _split_phases(x[n], ph, pw, sh, sw, hq, wq, mine)
                for b in range(n_blocks):
                    count = min(block, span - b * block)
                    _window_block(mine, weight_taps, bias, k_h, k_w, sh, sw, hq, wq, b * block, count, wide, out[n])
    else:  # the caller has split every image into ``phases`` (_split_all_planes)
        for t in prange(n_threads):
            wide = np.empty(out_channels * block, x.dtype)
            for item in range(t, n_images * n_blocks, n_threads):
                n, b = item // n_blocks, item % n_blocks
                count = min(block, span - b * block)
                _window_block(phases[n * image_size:(n + 1) * image_size], weight_taps, bias, k_h, k_w, sh, sw,
                              hq, wq, b * block, count, wide, out[n])


@njit(parallel=True, cache=True)
def _forward_direct(padded, weight, bias, hp, wp, out):
    """Stride 1, few output channels: out[n, o, i, :] = bias[o] + sum_{c,u,v} weight[o,c,u,v] xpad[n,c,i+u,v:v+W_out].

    padded: every image already padded, flat (N, C_in, hp, wp) (``_split_all_planes``); weight
    (C_out, C_in, kH, kW); out (N, C_out, H_out, W_out). A work item is one output row of one
    image, for all C_out channels at once: its C_out accumulator rows stay in the core's L1
    cache while the C_in kH input rows it needs stream past, each read kW times, shifted by one
    pixel each time. The innermost loop (an ``axpy`` over a row) has unsigned indices, so Numba
    adds no negative-index checks and vectorises it.
    """
    n_images, out_channels, h_out, w_out = out.shape
    channels, k_h, k_w = weight.shape[1], weight.shape[2], weight.shape[3]
    width = np.uintp(w_out)
    for item in prange(n_images * h_out):
        n, i = item // h_out, item % h_out
        acc = np.empty((out_channels, w_out), out.dtype)
        for o in range(out_channels):
            acc[o, :] = bias[o]
        for c in range(channels):
            for u in range(k_h):
                row = np.uintp(((n * channels + c) * hp + i + u) * wp)  # start of xpad[n, c, i + u, :]
                for v in range(k_w):
                    start = row + np.uintp(v)
                    for o in range(out_channels):
                        w = weight[o, c, u, v]
                        acc_row = acc[o]
                        for j in range(width):
                            acc_row[j] += w * padded[start + j]
        for o in range(out_channels):
            out[n, o, i, :] = acc[o]


# Winograd rows. A stride-1 convolution with 5 kernel rows computes each output row from 5 input
# rows; four neighbouring output rows share most of their 8 input rows. Winograd's F(4, 5)
# (Toom-Cook interpolation at the points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity; Lavin & Gray
# 2016) gets the 4 outputs of a 5-tap correlation from 8 inputs with 8 multiplications instead of 20:
#
#     y[i] = sum_u g[u] d[i + u]  (i = 0 .. 3)    equals    y = AT @ ((G @ g) * (BT @ d))
#
# (AT is the 4 x 8 evaluation of y's polynomial at the points, G the 8 x 5 one of g's, and BT
# the transposed inverse of the 8 x 8 evaluation; tests/test_ops_conv2d_blocks.py checks them.)
# Applied down every column, for every group of output rows 4r .. 4r + 3 and input channel c:
#   1. transform the 8 input rows 4r .. 4r + 7 into 8 rows  d[k] = sum_t BT[k, t] xpad[c, 4r + t]
#   2. correlate each transformed row with its own 1 x kW filter, the rows of the kernel mixed by G:
#      m[k] = sum_{c, v} (G weight)[k, :, c, v] d[k, c, j + v]; a shifted-window product per (k, v)
#   3. transform back: output row 4r + i = bias + sum_k AT[i, k] m[k]
# So 8 kW products make four output rows, where the shifted windows need 4 * 5 kW: 2.5x less
# arithmetic, plus the two transforms (which cost per input and per output channel, not per
# pair of them: hence only with enough output channels, _WINOGRAD_MIN_OUT_CHANNELS). The float32
# rounding error grows a little (about 1e-6 of the largest output instead of 3e-7).
# The smaller F(2, 5) (6 products for 2 rows: 1.67x less), which tinysr used before, took 1.3x as
# long on SRCNN's 64->32 layer over a 400x400 tile (1 and 2 threads), and the same on 33x33 patches.
_WINOGRAD_BT = np.array([[4, 0, -21, 0, 21, 0, -4, 0],
                         [0, -4, -4, 17, 17, -4, -4, 0],
                         [0, 4, -4, -17, 17, 4, -4, 0],
                         [0, 2, 1, -10, -5, 8, 4, 0],
                         [0, -2, 1, 10, -5, -8, 4, 0],
                         [0, 4, 8, -5, -10, 1, 2, 0],
                         [0, -4, 8, 5, -10, -1, 2, 0],
                         [0, -4, 0, 21, 0, -21, 0, 4]], dtype=np.float64)
_WINOGRAD_G = np.array([[1 / 4, 0, 0, 0, 0],
                        [1 / 18, 1 / 18, 1 / 18, 1 / 18, 1 / 18],
                        [1 / 18, -1 / 18, 1 / 18, -1 / 18, 1 / 18],
                        [1 / 360, 1 / 180, 1 / 90, 1 / 45, 2 / 45],
                        [1 / 360, -1 / 180, 1 / 90, -1 / 45, 2 / 45],
                        [16 / 45, 8 / 45, 4 / 45, 2 / 45, 1 / 45],
                        [16 / 45, -8 / 45, 4 / 45, -2 / 45, 1 / 45],
                        [0, 0, 0, 0, 1 / 4]], dtype=np.float64)
_WINOGRAD_AT = np.array([[1, 1, 1, 1, 1, 1, 1, 0],
                         [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0],
                         [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0],
                         [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 1]], dtype=np.float64)
#: output rows per group (m) and transformed rows (m + 4) of F(m, 5)
_WINOGRAD_ROWS, _WINOGRAD_POINTS = _WINOGRAD_AT.shape


@njit(cache=True)
def _padded_line(image, c, y, ph, pw, j, seg, line):
    """Padded columns j .. j + seg - 1 of row y of channel c's zero-padded plane: a view of the row if
    they all lie inside the image, else copied into ``line`` with the zeros around it.

    The padding is never stored: rows outside the image and columns outside it read as zeros.
    """
    height, width = image.shape[1:]
    y -= ph
    if y < 0 or y >= height:
        line[:seg] = 0.0
        return line
    lo = min(max(pw - j, 0), seg)                 # line[:lo] is left of the image
    hi = max(min(pw + width - j, seg), lo)        # line[hi:seg] is right of it
    if lo == 0 and hi == seg:
        return image[c, y, j - pw:]
    line[:seg] = 0.0
    row, inside = image[c, y, j + lo - pw:], line[lo:]
    for z in range(hi - lo):
        inside[z] = row[z]
    return line


@njit(cache=True)
def _winograd_block(image, ph, pw, taps_g, at, bias, k_w, first, count, lines, d, m, out_image):
    """Flat columns first .. first + count - 1 of one image's (row group, column) plane, by Winograd rows.

    Position p = r * wp + j of the plane (wp = W + 2 pw) is column j of the output rows
    4r .. 4r + 3; columns j >= W_out are junk, as in the shifted windows' ``wide``. image: one
    image (C_in, H, W), read as if zero-padded by (ph, pw) (the rows of a group past the padded
    image read as zeros too); taps_g (8 kW, C_out C_in): row k*kW + v is (G weight)[k, :, :, v];
    at: _WINOGRAD_AT (4, 8) in the input's dtype; scratch lines (8, count + kW - 1),
    d (8, C_in, count + kW - 1) and m (8, C_out, count); out_image (C_out, H_out, W_out).
    The input transform is written out (a loop over BT's 48 non-zero entries took 1.3x as long);
    the output transform, per output channel only, loops over AT.
    """
    out_channels, h_out, w_out = out_image.shape
    channels = taps_g.shape[1] // out_channels
    rows, points = at.shape
    wp = image.shape[2] + 2 * pw
    width = count + k_w - 1  # the block plus the kW - 1 columns its last taps reach
    # 1. d[k, c, q] = sum_t BT[k, t] xpad[c, 4r + t, j] at plane position first + q = r * wp + j
    q, r, j = 0, first // wp, first % wp
    while q < width:
        seg = min(wp - j, width - q)  # the positions of row group r in this stretch
        for c in range(channels):
            y = rows * r  # the 8 padded rows that group r reads
            x0 = _padded_line(image, c, y, ph, pw, j, seg, lines)
            x1 = _padded_line(image, c, y + 1, ph, pw, j, seg, lines[width:])
            x2 = _padded_line(image, c, y + 2, ph, pw, j, seg, lines[2 * width:])
            x3 = _padded_line(image, c, y + 3, ph, pw, j, seg, lines[3 * width:])
            x4 = _padded_line(image, c, y + 4, ph, pw, j, seg, lines[4 * width:])
            x5 = _padded_line(image, c, y + 5, ph, pw, j, seg, lines[5 * width:])
            x6 = _padded_line(image, c, y + 6, ph, pw, j, seg, lines[6 * width:])
            x7 = _padded_line(image, c, y + 7, ph, pw, j, seg, lines[7 * width:])
            d0, d1, d2 = d[c * width + q:], d[(channels + c) * width + q:], d[(2 * channels + c) * width + q:]
            d3, d4 = d[(3 * channels + c) * width + q:], d[(4 * channels + c) * width + q:]
            d5, d6 = d[(5 * channels + c) * width + q:], d[(6 * channels + c) * width + q:]
            d7 = d[(7 * channels + c) * width + q:]
            for z in range(seg):  # the rows of _WINOGRAD_BT, written out; rows 1-6 in pairs (p + q, p - q)
                d0[z] = 4.0 * (x0[z] - x6[z]) + 21.0 * (x4[z] - x2[z])
                p1, q1 = 17.0 * x4[z] - 4.0 * (x2[z] + x6[z]), 17.0 * x3[z] - 4.0 * (x1[z] + x5[z])
                d1[z], d2[z] = p1 + q1, p1 - q1
                p2, q2 = x2[z] - 5.0 * x4[z] + 4.0 * x6[z], 2.0 * x1[z] - 10.0 * x3[z] + 8.0 * x5[z]
                d3[z], d4[z] = p2 + q2, p2 - q2
                p3, q3 = 8.0 * x2[z] - 10.0 * x4[z] + 2.0 * x6[z], 4.0 * x1[z] - 5.0 * x3[z] + x5[z]
                d5[z], d6[z] = p3 + q3, p3 - q3
                d7[z] = 4.0 * (x7[z] - x1[z]) + 21.0 * (x3[z] - x5[z])
        q, r, j = q + seg, r + 1, 0
    # 2. m[k] = sum_v (G weight)[k, :, :, v] @ d[k][:, v:]: a 1 x kW shifted-window correlation per k
    for k in range(points):
        for v in range(k_w):
            gemm(False, False, out_channels, count, channels, 1.0, taps_g[k * k_w + v], channels,
                 d[k * channels * width + v:], width, 0.0 if v == 0 else 1.0, m[k * out_channels * count:], count)
    # 3. output rows 4r + i = bias + sum_k AT[i, k] m[k], real pixels only
    q, r, j = 0, first // wp, first % wp
    while q < count:
        seg = min(wp - j, count - q)
        keep = min(seg, w_out - j)
        for o in range(out_channels):
            for i in range(min(rows, h_out - rows * r)):  # the last group may have fewer real rows
                row = out_image[o, rows * r + i, j:]
                for z in range(keep):
                    row[z] = bias[o]
                for k in range(points):
                    coef = at[i, k]
                    if coef != 0.0:
                        mk = m[(k * out_channels + o) * count + q:]
                        for z in range(keep):
                            row[z] += coef * mk[z]
        q, r, j = q + seg, r + 1, 0


@njit(parallel=True, cache=True)
def _forward_winograd(x, taps_g, at, bias, k_w, ph, pw, block, n_threads, share_images, out):
    """Stride 1, kH = 5: out = conv(x) by Winograd rows (see above), ``block`` plane columns at a time.

    taps_g, at: as for ``_winograd_block``, which reads x's rows as if padded: no padded copy
    is made (on a 400x400 tile of 64 channels that copy cost as much as the input transform).
    Thread t takes images t, t + n_threads, ..., or, if ``share_images``, (image, block) pairs t,
    t + n_threads, ... (the two schedules: see "Forward: blocks" above).
    """
    n_images, channels, _, width = x.shape
    out_channels, h_out, w_out = out.shape[1:]
    wp = width + 2 * pw
    rows, points = at.shape
    span = ((h_out + rows - 1) // rows - 1) * wp + w_out  # up to the last real pixel of the last row group
    n_blocks = (span + block - 1) // block
    n_items = n_images * n_blocks if share_images else n_images
    for t in prange(n_threads):
        lines = np.empty(points * (block + k_w - 1), x.dtype)
        d = np.empty(points * channels * (block + k_w - 1), x.dtype)
        m = np.empty(points * out_channels * block, x.dtype)
        for item in range(t, n_items, n_threads):  # an (image, block) pair, or a whole image
            if share_images:
                n, first_block, end_block = item // n_blocks, item % n_blocks, item % n_blocks + 1
            else:
                n, first_block, end_block = item, 0, n_blocks
            for b in range(first_block, end_block):
                count = min(block, span - b * block)
                _winograd_block(x[n], ph, pw, taps_g, at, bias, k_w, b * block, count, lines, d, m, out[n])


@njit(parallel=True, cache=True)
def _backward_im2col(grad_output, x, weight_2d, k_h, k_w, sh, sw, ph, pw, n_threads,
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
            _pad_into(x[n], ph, pw, padded)
            _im2col(padded, channels, hp, wp, k_h, k_w, sh, sw, 0, h_out, w_out, cols)
            g = grad_output[n].reshape(out_channels * pixels)
            gemm(False, True, out_channels, patch, pixels, 1.0, g, pixels, cols, pixels,
                 1.0, grad_weight_parts[t], patch)
            gemm(True, False, patch, pixels, out_channels, 1.0, weight_2d.reshape(-1), patch, g, pixels,
                 0.0, grad_cols, pixels)
            grad_padded[:] = 0.0
            _col2im_add(grad_cols, channels, hp, wp, k_h, k_w, sh, sw, h_out, w_out, grad_padded)
            _crop_from(grad_padded, ph, pw, grad_input[n])
            for o in range(out_channels):
                total = 0.0
                for p in range(pixels):
                    total += g[o * pixels + p]
                grad_bias_parts[t, o] += total


@njit(parallel=True, cache=True)
def _backward_window(grad_output, x, weight_taps, k_h, k_w, sh, sw, ph, pw, n_threads,
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
            _split_phases(x[n], ph, pw, sh, sw, hq, wq, phases)
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
                    start = _tap_start(u, v, sh, sw, hq, wq)
                    gemm(True, False, channels, span, out_channels, 1.0, weight_taps[u * k_w + v], channels,
                         grad_wide, h_out * wq, 1.0, grad_phases[start:], channel_size)
                    gemm(False, True, out_channels, channels, span, 1.0, grad_wide, h_out * wq,
                         phases[start:], channel_size, 1.0, grad_weight_parts[t, u * k_w + v], channels)
            _merge_phases(grad_phases, ph, pw, sh, sw, hq, wq, grad_input[n])


def _use_window(in_channels: int) -> bool:
    return in_channels >= _WINDOW_MIN_CHANNELS


def _use_winograd(k_h: int, stride: tuple[int, int], in_channels: int, out_channels: int) -> bool:
    return (k_h == 5 and stride == (1, 1) and in_channels >= _WINDOW_MIN_CHANNELS
            and out_channels >= _WINOGRAD_MIN_OUT_CHANNELS)


def _use_direct(stride: tuple[int, int], out_channels: int) -> bool:
    return stride == (1, 1) and out_channels <= _DIRECT_MAX_OUT_CHANNELS


def _winograd_taps(weight: np.ndarray) -> np.ndarray:
    """weight (C_out, C_in, 5, kW) -> (8 kW, C_out C_in): row k*kW + v is sum_u G[k, u] weight[:, :, u, v].

    Computed in float64 and rounded once to the weight's dtype.
    """
    taps = np.einsum("ku,ocuv->kvoc", _WINOGRAD_G, weight.astype(np.float64))
    return np.ascontiguousarray(taps, dtype=weight.dtype).reshape(_WINOGRAD_POINTS * weight.shape[3], -1)


def _taps(weight: np.ndarray) -> np.ndarray:
    """weight (C_out, C_in, kH, kW) -> (kH kW, C_out C_in): row u*kW + v is weight[:, :, u, v], flat."""
    return np.ascontiguousarray(weight.transpose(2, 3, 0, 1)).reshape(weight.shape[2] * weight.shape[3], -1)


def _n_threads(n_items: int) -> int:
    # Read here, not inside the kernels: a kernel that calls numba.get_num_threads() cannot be cached.
    return max(1, min(numba.get_num_threads(), n_items))


def _share_images(n_images: int) -> bool:
    """The forward schedule: share every image's blocks among the threads unless the images divide evenly."""
    return n_images % numba.get_num_threads() != 0


def _equal_parts(size: int, most: int) -> tuple[int, int]:
    """Cut ``size`` into the fewest parts of at most ``most`` (at least 1), made equal: (part size, parts)."""
    parts = -(-size // max(1, most))
    part = -(-size // parts)
    return part, -(-size // part)


def conv2d_forward_numba(x, weight, bias, stride, padding) -> np.ndarray:
    """The forward pass as BLAS products block by block, or as direct rows (layouts: module docstring; blocks:
    "numba tier").

    Same arguments and result as ``conv2d_forward_reference``; x, weight, bias must be C-contiguous.
    """
    (sh, sw), (ph, pw) = stride, padding
    n_images, in_channels, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    h_out, w_out = _output_size(height, k_h, sh, ph), _output_size(width, k_w, sw, pw)
    out = np.empty((n_images, out_channels, h_out, w_out), dtype=x.dtype)
    bias = np.zeros(out_channels, dtype=x.dtype) if bias is None else bias
    share_images = _share_images(n_images)
    with single_threaded_blas():
        if _use_winograd(k_h, stride, in_channels, out_channels):
            groups = -(-h_out // _WINOGRAD_ROWS)
            block, n_blocks = _equal_parts((groups - 1) * (width + 2 * pw) + w_out, _WINOGRAD_BLOCK_COLUMNS)
            n_threads = _n_threads(n_images * n_blocks if share_images else n_images)
            _forward_winograd(x, _winograd_taps(weight), _WINOGRAD_AT.astype(x.dtype), bias, k_w, ph, pw, block,
                              n_threads, share_images, out)
        elif _use_direct(stride, out_channels):
            hp, wp = height + 2 * ph, width + 2 * pw
            padded = np.zeros(n_images * in_channels * hp * wp, dtype=x.dtype)
            _split_all_planes(x, ph, pw, 1, 1, hp, wp, padded)
            _forward_direct(padded, weight, bias, hp, wp, out)
        elif _use_window(in_channels):
            hq, wq = -(-(height + 2 * ph) // sh), -(-(width + 2 * pw) // sw)
            block, n_blocks = _equal_parts((h_out - 1) * wq + w_out, _WINDOW_BLOCK_COLUMNS)
            n_threads = _n_threads(n_images * n_blocks if share_images else n_images)
            image_size = in_channels * sh * sw * hq * wq
            phases = np.zeros((n_images if share_images else n_threads) * image_size, dtype=x.dtype)
            if share_images:
                _split_all_planes(x, ph, pw, sh, sw, hq, wq, phases)
            _forward_window(x, _taps(weight), bias, k_h, k_w, sh, sw, ph, pw, block, n_threads, share_images,
                            phases, out)
        else:
            band, n_bands = _equal_parts(h_out, _IM2COL_BLOCK_ENTRIES // (in_channels * k_h * k_w * w_out))
            n_threads = _n_threads(n_images * n_bands if share_images else n_images)
            image_size = in_channels * (height + 2 * ph) * (width + 2 * pw)
            padded = np.zeros((n_images if share_images else n_threads) * image_size, dtype=x.dtype)
            if share_images:
                _split_all_planes(x, ph, pw, 1, 1, height + 2 * ph, width + 2 * pw, padded)
            _forward_im2col(x, weight.reshape(out_channels, -1), bias, k_h, k_w, sh, sw, ph, pw, band, n_threads,
                            share_images, padded, out)
    return out


def conv2d_backward_numba(grad_output, cache) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The backward pass as BLAS products, one image per thread; same result as ``conv2d_backward_reference``.

    grad_output must be C-contiguous. Each thread sums its images' grad_weight and grad_bias in
    its own buffer; the buffers are added up at the end.
    """
    x, weight, has_bias, stride, (ph, pw) = cache
    (sh, sw) = stride
    n_images, in_channels, _, _ = x.shape
    out_channels, _, k_h, k_w = weight.shape
    n_threads = _n_threads(n_images)
    grad_input = np.empty_like(x)
    grad_bias_parts = np.zeros((n_threads, out_channels), dtype=x.dtype)
    with single_threaded_blas():
        if _use_window(in_channels):
            parts = np.zeros((n_threads, k_h * k_w, out_channels * in_channels), dtype=x.dtype)
            _backward_window(grad_output, x, _taps(weight), k_h, k_w, sh, sw, ph, pw, n_threads,
                             grad_input, parts, grad_bias_parts)
            grad_weight = parts.sum(axis=0).reshape(k_h, k_w, out_channels, in_channels)
            grad_weight = np.ascontiguousarray(grad_weight.transpose(2, 3, 0, 1))
        else:
            weight_2d = weight.reshape(out_channels, -1)
            parts = np.zeros((n_threads, weight.size), dtype=x.dtype)
            _backward_im2col(grad_output, x, weight_2d, k_h, k_w, sh, sw, ph, pw, n_threads,
                             grad_input, parts, grad_bias_parts)
            grad_weight = parts.sum(axis=0).reshape(weight.shape)
    grad_bias = grad_bias_parts.sum(axis=0) if has_bias else None
    return grad_input, grad_weight, grad_bias


# ----------------------------------------------------------------------------- public API

_FORWARD = {"reference": conv2d_forward_reference, "numba": conv2d_forward_numba}
_BACKWARD = {"reference": conv2d_backward_reference, "numba": conv2d_backward_numba}


def conv2d_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    *,
    backend: str | None = None,
) -> tuple[np.ndarray, tuple]:
    """Convolve x (N, C_in, H, W) with weight (C_out, C_in, kH, kW), add bias (C_out,); return (out, cache).

    ``out[n,o,i,j] = bias[o] + sum_{c,u,v} weight[o,c,u,v] * xpad[n,c,i*sh+u,j*sw+v]``, shape
    (N, C_out, floor((H + 2 ph - kH) / sh) + 1, floor((W + 2 pw - kW) / sw) + 1), like
    ``torch.nn.functional.conv2d``. ``stride`` >= 1 and ``padding`` >= 0 are ints or pairs.
    ``backend`` is the tier: "reference" (NumPy), "numba" (fast) or "cuda" (GPU arrays); by default
    ``tinysr.tier``'s, else the fastest for the arrays' device. ``cache = (x, weight, has_bias, stride,
    padding)`` (contiguous arrays, normalised pairs) is what ``conv2d_backward`` needs.
    """
    tier_name = choose_tier(x, backend, _LAYER)
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/conv2d.py
        return cuda_tier("conv2d").conv2d_forward(x, weight, bias, stride, padding)
    x = check_float_array(x, name="x", layer=_LAYER, ndim=4)
    weight = check_float_array(weight, name="weight", layer=_LAYER, ndim=4)
    if bias is not None:
        bias = check_float_array(bias, name="bias", layer=_LAYER, ndim=1)
    check_same_dtype(_LAYER, x=x, weight=weight, bias=bias)
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
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(
            f"{_LAYER}: expected bias of shape ({out_channels},) to match weight {weight.shape}, "
            f"got bias {bias.shape}"
        )
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if k_h > padded[0] or k_w > padded[1]:
        raise ValueError(
            f"{_LAYER}: expected a kernel no larger than the padded input {padded} "
            f"(x {x.shape}, padding {padding}), got kernel ({k_h}, {k_w})"
        )
    forward = _FORWARD[tier_name]
    x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
    bias = None if bias is None else np.ascontiguousarray(bias)
    out = forward(x, weight, bias, stride, padding)
    return out, (x, weight, bias is not None, stride, padding)


def conv2d_backward(
    grad_output: np.ndarray, cache: tuple, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return (grad_input, grad_weight, grad_bias) for grad_output (N, C_out, H_out, W_out).

    Shapes: grad_input like x (N, C_in, H, W), grad_weight like weight (C_out, C_in, kH, kW),
    grad_bias (C_out,) or None when the forward pass had no bias. Equations in the module docstring.
    """
    tier_name = choose_tier(cache[0], backend, _LAYER)
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/conv2d.py
        return cuda_tier("conv2d").conv2d_backward(grad_output, cache)
    x, weight, _, (sh, sw), (ph, pw) = cache
    grad_output = check_float_array(grad_output, name="grad_output", layer=_LAYER, ndim=4)
    check_same_dtype(_LAYER, x=x, grad_output=grad_output)
    expected = (
        x.shape[0],
        weight.shape[0],
        _output_size(x.shape[2], weight.shape[2], sh, ph),
        _output_size(x.shape[3], weight.shape[3], sw, pw),
    )
    check_shape(grad_output, expected, name="grad_output", layer=_LAYER)
    backward = _BACKWARD[tier_name]
    return backward(np.ascontiguousarray(grad_output), cache)
