"""Numba tier of ``tinysr/ops/conv2d.py``: the same sums as matrix products done by BLAS, in four layouts.

``conv2d_forward_numba`` / ``conv2d_backward_numba`` equal ``conv2d_forward_reference`` /
``conv2d_backward_reference`` (tests hold them to it within 1e-10 in float64). A convolution's
sums can be laid out as matrix products in several ways, and which is fastest depends on the
shapes. ``choose_plan`` picks one with the thresholds measured on SR networks; each layout is
one file, which opens with its idea:

============================  ==========================================  ===================
layout                        when (forward)                              file
============================  ==========================================  ===================
``"winograd"`` (forward only)  stride 1, 5 kernel rows, >= 4 input and     ``conv2d_winograd``
                              >= 16 output channels (SRCNN's 64->32)
``"direct"`` (forward only)   stride 1, at most 3 output channels         ``conv2d_direct``
                              (the last layer of every SR network)
``"windows"``                 4 or more input channels                    ``conv2d_windows``
``"im2col"``                  1 to 3 input channels (a Y or RGB image)    ``conv2d_im2col``
============================  ==========================================  ===================

The backward pass uses the shifted windows from 4 input channels on, else im2col. The products
are BLAS ``gemm`` calls from inside Numba ``prange`` loops (``blas.py``), with BLAS itself kept
single-threaded. To run a chosen layout (tests do, to reach every one), wrap the calls in
``with force(layout="im2col"):`` (also ``share_images=`` and ``block=``, below).

Work is shared out without races: the forward kernels split the output into disjoint blocks
(bands of output rows for im2col, stretches of flat output columns for the shifted windows and
Winograd rows), each finished over every kernel tap before the next starts, so what its products
read is still in the core's cache. Two schedules share out the blocks:

* whole images per thread (when the batch divides evenly among the threads, e.g. training
  batches): thread t takes images t, t + n_threads, ..., pads each into its own scratch and runs
  its blocks one after another. One parallel loop, no waiting.
* shared images (``share_images``; e.g. one big tile at inference, where a per-image loop would
  leave cores idle): all threads first pad every (image, channel) plane into one shared buffer,
  then share out all (image, block) pairs, so even a single image keeps every core busy.

The backward kernels take whole images, thread t of n_threads images t, t + n_threads, ..., each
thread adding grad_weight and grad_bias into its own partial sums, added up at the end.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np

from tinysr.ops.cpu import conv2d_direct, conv2d_im2col, conv2d_windows, conv2d_winograd
from tinysr.ops.cpu.blas import single_threaded_blas

__all__ = ["LAYOUTS", "Plan", "choose_plan", "conv2d_backward_numba", "conv2d_forward_numba", "force"]

#: the forward layouts, each in its own file
LAYOUTS = {"im2col": conv2d_im2col, "windows": conv2d_windows, "winograd": conv2d_winograd,
           "direct": conv2d_direct}

# Each shifted-window product sums over C_in terms only; with 1-3 input channels that is too few to
# keep BLAS busy and im2col's one long product is faster. From 4 channels on the shifted windows won
# on every SR shape measured (single thread, float32).
WINDOW_MIN_CHANNELS = 4
# Direct rows for stride 1 and at most this many output channels: 2-9x faster than the shifted
# windows for 1 or 3 output channels (measurements: conv2d_direct.py). Not for 4: 56->4 5x5 on a
# 150x150 map (FSRCNN x2's deconvolution as phases) took 11.5 ms direct, 3.7 ms by windows.
DIRECT_MAX_OUT_CHANNELS = 3


@dataclass(frozen=True)
class Plan:
    """How the Numba tier computes one forward convolution.

    layout: a key of ``LAYOUTS``; share_images: the schedule (module docstring); block: the most
    work per block, in im2col entries (im2col) or flat output columns (windows, Winograd rows);
    None for the layout's default.
    """

    layout: str
    share_images: bool
    block: int | None = None


#: what the innermost ``force`` block set (None outside any)
_forced: contextvars.ContextVar[dict | None] = contextvars.ContextVar("tinysr_conv2d_plan", default=None)


@contextlib.contextmanager
def force(layout: str | None = None, share_images: bool | None = None, block: int | None = None) -> Iterator[None]:
    """Inside the block, every Numba convolution uses ``layout`` (and the schedule and block size given).

    "winograd" and "direct" are taken only where they apply (stride 1; Winograd: 5 kernel rows),
    else the shifted windows. The backward pass follows: im2col if ``layout="im2col"``, else windows.
    """
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"conv2d: unknown layout {layout!r}, expected one of {', '.join(map(repr, LAYOUTS))}")
    settings = {"layout": layout, "share_images": share_images, "block": block}
    token = _forced.set({name: value for name, value in settings.items() if value is not None})
    try:
        yield
    finally:
        _forced.reset(token)


def choose_plan(x_shape: tuple, weight_shape: tuple, stride: tuple[int, int]) -> Plan:
    """The forward plan for x (N, C_in, H, W) and weight (C_out, C_in, kH, kW): layout and schedule."""
    n_images, in_channels = x_shape[:2]
    out_channels, _, k_h, _ = weight_shape
    forced = _forced.get() or {}
    unit_stride = tuple(stride) == (1, 1)
    layout = forced.get("layout")
    if layout is None:
        if (unit_stride and k_h == 5 and in_channels >= WINDOW_MIN_CHANNELS
                and out_channels >= conv2d_winograd.MIN_OUT_CHANNELS):
            layout = "winograd"
        elif unit_stride and out_channels <= DIRECT_MAX_OUT_CHANNELS:
            layout = "direct"
        else:
            layout = "windows" if in_channels >= WINDOW_MIN_CHANNELS else "im2col"
    elif (layout == "winograd" and not (unit_stride and k_h == 5)) or (layout == "direct" and not unit_stride):
        layout = "windows"
    # share every image's blocks among the threads unless the images divide evenly among them
    share_images = forced.get("share_images", n_images % numba.get_num_threads() != 0)
    return Plan(layout, share_images, forced.get("block"))


def _backward_layout(in_channels: int) -> str:
    forced = (_forced.get() or {}).get("layout")
    if forced is not None:
        return "im2col" if forced == "im2col" else "windows"
    return "windows" if in_channels >= WINDOW_MIN_CHANNELS else "im2col"


def conv2d_forward_numba(x, weight, bias, stride, padding, *, plan: Plan | None = None) -> np.ndarray:
    """Numba tier of ``conv2d_forward_reference``: the same arguments (C-contiguous) and result.

    ``plan``: the layout and schedule; by default ``choose_plan``'s.
    """
    (sh, sw), (ph, pw) = stride, padding
    n_images, _, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    h_out, w_out = (height + 2 * ph - k_h) // sh + 1, (width + 2 * pw - k_w) // sw + 1
    plan = plan or choose_plan(x.shape, weight.shape, stride)
    out = np.empty((n_images, out_channels, h_out, w_out), dtype=x.dtype)
    bias = np.zeros(out_channels, dtype=x.dtype) if bias is None else bias
    with single_threaded_blas():
        LAYOUTS[plan.layout].forward(x, weight, bias, stride, padding, out, plan.share_images, plan.block)
    return out


def conv2d_backward_numba(grad_output, cache) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Numba tier of ``conv2d_backward_reference`` (grad_output C-contiguous): one image per thread."""
    x, weight, has_bias, stride, padding = cache
    layout = LAYOUTS[_backward_layout(x.shape[1])]
    with single_threaded_blas():
        grad_input, grad_weight, grad_bias = layout.backward(grad_output, x, weight, stride, padding)
    return grad_input, grad_weight, grad_bias if has_bias else None

