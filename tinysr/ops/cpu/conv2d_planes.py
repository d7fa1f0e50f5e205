"""The buffers the Numba convolution reads: padded planes, stride phases, and work cut into blocks.

BLAS wants a start pointer and a row stride, not a NumPy view, so the CPU convolution copies each
image once into a flat 1-D buffer: its zero-padded planes (``pad_into``), or, for a stride s, its
s_h * s_w "phases" (``split_phases``), ``phase[a, b][c, i, j] = xpad[c, a + i*sh, b + j*sw]``.
Kernel tap (u, v) only ever reads phase (u % sh, v % sw), at offset (u // sh, v // sw) and stride
1, so a strided convolution becomes a sum of stride-1 ones. With stride 1 there is one phase: the
padded plane itself. ``thread_count`` and ``equal_parts`` size the work items shared among threads.
These copies change no value: every layout still equals ``conv2d_forward_reference``.
"""

from __future__ import annotations

import numba
from numba import njit, prange


@njit(cache=True)
def pad_into(image, ph, pw, padded):
    """Copy image (C, H, W) into the interior of the flat zero-bordered padded (C * Hp * Wp)."""
    channels, height, width = image.shape
    hp, wp = height + 2 * ph, width + 2 * pw
    for c in range(channels):
        for i in range(height):
            start = (c * hp + i + ph) * wp + pw
            for j in range(width):
                padded[start + j] = image[c, i, j]


@njit(cache=True)
def crop_from(padded, ph, pw, image):
    """Copy the interior of the flat padded (C * Hp * Wp) into image (C, H, W): drop the padding."""
    channels, height, width = image.shape
    hp, wp = height + 2 * ph, width + 2 * pw
    for c in range(channels):
        for i in range(height):
            start = (c * hp + i + ph) * wp + pw
            for j in range(width):
                image[c, i, j] = padded[start + j]



@njit(cache=True)
def split_phases(image, ph, pw, sh, sw, hq, wq, phases):
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
def merge_phases(phases, ph, pw, sh, sw, hq, wq, image):
    """The inverse of ``split_phases`` on the interior: image[c, y, x] = xpad[c, y + ph, x + pw]."""
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
def tap_start(u, v, sh, sw, hq, wq):
    """Flat index in channel 0's phases where tap (u, v) starts: phase (u % sh, v % sw), row u // sh, col v // sw.

    Channel c starts ``c * sh * sw * hq * wq`` further on: that is the row stride of the products.
    """
    return ((u % sh) * sw + v % sw) * hq * wq + (u // sh) * wq + v // sw


@njit(parallel=True, cache=True)
def split_all_planes(x, ph, pw, sh, sw, hq, wq, phases):
    """Split every image of x into ``phases`` (N C_in sh sw hq wq), in parallel over the (image, channel) planes.

    The first step of the shared-images schedule of the three BLAS layouts, and of direct rows:
    with stride 1 the one phase of a channel is its zero-padded plane (hq x wq; rows below
    H + 2 ph stay zero).
    """
    n_images, channels = x.shape[:2]
    channel_size = sh * sw * hq * wq
    for item in prange(n_images * channels):
        n, c = item // channels, item % channels
        split_phases(x[n, c:c + 1], ph, pw, sh, sw, hq, wq, phases[item * channel_size:(item + 1) * channel_size])



def thread_count(n_items: int) -> int:
    """Threads for ``n_items`` work items: at most Numba's thread count, at least 1."""
    # Read here, not inside the kernels: a kernel that calls numba.get_num_threads() cannot be cached.
    return max(1, min(numba.get_num_threads(), n_items))


def equal_parts(size: int, most: int) -> tuple[int, int]:
    """Cut ``size`` into the fewest parts of at most ``most`` (at least 1), made equal: (part size, parts)."""
    parts = -(-size // max(1, most))
    part = -(-size // parts)
    return part, -(-size // part)
