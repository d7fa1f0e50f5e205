"""Winograd rows: the forward convolution for stride 1 and 5 kernel rows in 2.5x fewer multiplications.

Four neighbouring output rows of a 5-row kernel share most of their 8 input rows, and Winograd's
F(4, 5) gets the 4 outputs from 8 transformed rows with 8 row correlations instead of 20. Taken for
at least ``MIN_OUT_CHANNELS`` output channels (the transforms cost per channel, the products per
pair of channels): SRCNN's 64->32 5x5 layer. Against the shifted windows, 64 input channels,
2 threads: on a 200x200 image 1.7x faster with 32 output channels, 1.6x with 16, 1.1x with 8; on
32 images of 33x33 1.2x faster with 32, even with 16, 1.35x slower with 8. Forward only; the
rounding error grows a little (about 1e-6 of the largest output in float32 instead of 3e-7).
Must equal ``conv2d_forward_reference``; tests/test_ops_conv2d_blocks.py checks the matrices.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinysr.ops.cpu.blas import gemm
from tinysr.ops.cpu.conv2d_planes import equal_parts, thread_count

#: output channels from which Winograd rows beat the shifted windows (see above)
MIN_OUT_CHANNELS = 16
#: a block has at most this many columns of the (row group, column) plane (128 and 512 were no faster)
BLOCK_COLUMNS = 256

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
# pair of them: hence only with enough output channels, MIN_OUT_CHANNELS). The float32
# rounding error grows a little (about 1e-6 of the largest output instead of 3e-7).
# The smaller F(2, 5) (6 products for 2 rows: 1.67x less), which tinysr used before, took 1.3x as
# long on SRCNN's 64->32 layer over a 400x400 tile (1 and 2 threads), and the same on 33x33 patches.
BT = np.array([[4, 0, -21, 0, 21, 0, -4, 0],
                         [0, -4, -4, 17, 17, -4, -4, 0],
                         [0, 4, -4, -17, 17, 4, -4, 0],
                         [0, 2, 1, -10, -5, 8, 4, 0],
                         [0, -2, 1, 10, -5, -8, 4, 0],
                         [0, 4, 8, -5, -10, 1, 2, 0],
                         [0, -4, 8, 5, -10, -1, 2, 0],
                         [0, -4, 0, 21, 0, -21, 0, 4]], dtype=np.float64)
G = np.array([[1 / 4, 0, 0, 0, 0],
                        [1 / 18, 1 / 18, 1 / 18, 1 / 18, 1 / 18],
                        [1 / 18, -1 / 18, 1 / 18, -1 / 18, 1 / 18],
                        [1 / 360, 1 / 180, 1 / 90, 1 / 45, 2 / 45],
                        [1 / 360, -1 / 180, 1 / 90, -1 / 45, 2 / 45],
                        [16 / 45, 8 / 45, 4 / 45, 2 / 45, 1 / 45],
                        [16 / 45, -8 / 45, 4 / 45, -2 / 45, 1 / 45],
                        [0, 0, 0, 0, 1 / 4]], dtype=np.float64)
AT = np.array([[1, 1, 1, 1, 1, 1, 1, 0],
                         [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0],
                         [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0],
                         [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 1]], dtype=np.float64)
#: output rows per group (m) and transformed rows (m + 4) of F(m, 5)
ROWS, POINTS = AT.shape


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
    at: AT (4, 8) in the input's dtype; scratch lines (8, count + kW - 1),
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
            for z in range(seg):  # the rows of BT, written out; rows 1-6 in pairs (p + q, p - q)
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
def _forward_blocks(x, taps_g, at, bias, k_w, ph, pw, block, n_threads, share_images, out):
    """Stride 1, kH = 5: out = conv(x) by Winograd rows (see above), ``block`` plane columns at a time.

    taps_g, at: as for ``_winograd_block``, which reads x's rows as if padded: no padded copy
    is made (on a 400x400 tile of 64 channels that copy cost as much as the input transform).
    Thread t takes images t, t + n_threads, ..., or, if ``share_images``, (image, block) pairs t,
    t + n_threads, ... (the two schedules: see tinysr/ops/cpu/conv2d.py).
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



def winograd_taps(weight: np.ndarray) -> np.ndarray:
    """weight (C_out, C_in, 5, kW) -> (8 kW, C_out C_in): row k*kW + v is sum_u G[k, u] weight[:, :, u, v].

    Computed in float64 and rounded once to the weight's dtype.
    """
    taps = np.einsum("ku,ocuv->kvoc", G, weight.astype(np.float64))
    return np.ascontiguousarray(taps, dtype=weight.dtype).reshape(POINTS * weight.shape[3], -1)


def forward(x, weight, bias, stride, padding, out, share_images: bool, block: int | None = None) -> None:
    """``out = conv(x)`` by Winograd rows, in blocks of at most ``block`` plane columns (default ``BLOCK_COLUMNS``)."""
    ph, pw = padding
    n_images, _, _, width = x.shape
    k_w = weight.shape[3]
    h_out, w_out = out.shape[2:]
    groups = -(-h_out // ROWS)
    block, n_blocks = equal_parts((groups - 1) * (width + 2 * pw) + w_out, block or BLOCK_COLUMNS)
    threads = thread_count(n_images * n_blocks if share_images else n_images)
    _forward_blocks(x, winograd_taps(weight), AT.astype(x.dtype), bias, k_w, ph, pw, block, threads,
                    share_images, out)
