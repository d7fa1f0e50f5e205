"""Direct rows: the forward convolution with no matrix product (stride 1, at most 3 output channels).

A matrix product with 1-4 rows keeps BLAS waiting on memory, and the last layer of every SR
network makes 1 or 3 channels. So each output row is summed directly from C_in kH kW input rows,
each scaled by one weight: ``out[n, o, i, :] += weight[o, c, u, v] * xpad[n, c, i + u, v:v + W_out]``
(the forward sum of ``conv2d_forward_reference``, row by row), a loop that Numba vectorises.
Measured against the shifted windows (2 threads): 32->1 5x5 on a 420x420 tile 16 ms instead of
147, on 32 x 33x33 3.5 instead of 13.1; 16->3 9x9 on 8 x 48x48 7.2 instead of 16.8.
Forward only: the backward pass uses the shifted windows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinysr.ops.cpu.conv2d_planes import split_all_planes


@njit(parallel=True, cache=True)
def _forward_rows(padded, weight, bias, hp, wp, out):
    """Stride 1, few output channels: out[n, o, i, :] = bias[o] + sum_{c,u,v} weight[o,c,u,v] xpad[n,c,i+u,v:v+W_out].

    padded: every image already padded, flat (N, C_in, hp, wp) (``split_all_planes``); weight
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



def forward(x, weight, bias, stride, padding, out, share_images: bool, block: int | None = None) -> None:
    """``out = conv(x)`` by direct rows (stride 1): every output row of every image is a work item.

    ``share_images`` and ``block`` are accepted for the common signature of the layouts and unused.
    """
    ph, pw = padding
    n_images, in_channels, height, width = x.shape
    hp, wp = height + 2 * ph, width + 2 * pw
    padded = np.zeros(n_images * in_channels * hp * wp, dtype=x.dtype)
    split_all_planes(x, ph, pw, 1, 1, hp, wp, padded)
    _forward_rows(padded, weight, bias, hp, wp, out)
