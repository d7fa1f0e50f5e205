"""Pixel shuffle (sub-pixel convolution's rearrangement) and its inverse, pixel unshuffle.

Pixel shuffle with upscale factor ``r`` turns ``r * r`` channels into an ``r x r`` block of
pixels, in PyTorch's order::

    out[n, c, h * r + i, w * r + j] = x[n, c * r * r + i * r + j, h, w]

    x:   (N, C * r * r, H, W)   ->   out: (N, C, H * r, W * r)

Pixel unshuffle with downscale factor ``r`` is exactly the inverse permutation::

    out[n, c * r * r + i * r + j, h, w] = x[n, c, h * r + i, w * r + j]

    x:   (N, C, H * r, W * r)   ->   out: (N, C * r * r, H, W)

Both only move elements, so the backward pass moves the gradient back: the backward of
shuffle is unshuffle of ``grad_output`` and the backward of unshuffle is shuffle. Like
PyTorch, any number of leading batch dimensions is accepted (``(*, C, H, W)``, at least 3 dims).
"""

from __future__ import annotations

import math

import numpy as np

from tinysr._validation import check_float_array, check_grad_output, check_positive_int, contiguous
from tinysr.tiers import choose_tier, tier_function

__all__ = [
    "pixel_shuffle_backward",
    "pixel_shuffle_forward",
    "pixel_unshuffle_backward",
    "pixel_unshuffle_forward",
]


# --------------------------------------------------------------------------- reference tier
# x is (N, C, H, W) here; the public functions fold any leading batch dimensions into N.


def pixel_shuffle_forward_reference(x: np.ndarray, upscale_factor: int) -> np.ndarray:
    """NumPy tier: split the channel axis into ``(C, i, j)`` and interleave ``i`` with ``H``, ``j`` with ``W``."""
    r = upscale_factor
    n_batch, channels, height, width = x.shape
    c_out = channels // (r * r)
    blocks = x.reshape(n_batch, c_out, r, r, height, width)  # axes (n, c, i, j, h, w)
    # Copy into a fresh array seen as (n, c, h, i, w, j): a plain reshape could return a view
    # of x (for r = 1, say), and an output that aliases the input is a trap.
    out = np.empty((n_batch, c_out, height * r, width * r), dtype=x.dtype)
    out.reshape(n_batch, c_out, height, r, width, r)[...] = blocks.transpose(0, 1, 4, 2, 5, 3)
    return out


def pixel_unshuffle_forward_reference(x: np.ndarray, downscale_factor: int) -> np.ndarray:
    """NumPy tier: split ``H`` into ``(h, i)`` and ``W`` into ``(w, j)``, then move ``i, j`` next to ``C``."""
    r = downscale_factor
    n_batch, channels, height, width = x.shape
    blocks = x.reshape(n_batch, channels, height // r, r, width // r, r)  # axes (n, c, h, i, w, j)
    out = np.empty((n_batch, channels * r * r, height // r, width // r), dtype=x.dtype)
    out.reshape(n_batch, channels, r, r, height // r, width // r)[...] = blocks.transpose(0, 1, 3, 5, 2, 4)
    return out


def pixel_shuffle_backward_reference(grad_output: np.ndarray, upscale_factor: int) -> np.ndarray:
    """The gradient of a permutation is the inverse permutation: unshuffle ``grad_output``."""
    return pixel_unshuffle_forward_reference(grad_output, upscale_factor)


def pixel_unshuffle_backward_reference(grad_output: np.ndarray, downscale_factor: int) -> np.ndarray:
    """The gradient of a permutation is the inverse permutation: shuffle ``grad_output``."""
    return pixel_shuffle_forward_reference(grad_output, downscale_factor)


# --------------------------------------------------------------------------- public API


def pixel_shuffle_forward(
    x: np.ndarray, upscale_factor: int, *, backend: str | None = None
) -> tuple[np.ndarray, tuple]:
    """Rearrange ``(*, C * r * r, H, W)`` into ``(*, C, H * r, W * r)``, as ``torch.nn.functional.pixel_shuffle``.

    Forward:  ``out[n, c, h * r + i, w * r + j] = x[n, c * r * r + i * r + j, h, w]``.
    Backward: ``grad_input = pixel_unshuffle(grad_output, r)``.

    Args:
        x: ``(*, C * r * r, H, W)``, float32 or float64, at least 3 dimensions.
        upscale_factor: ``r >= 1``; the channel count must be divisible by ``r * r``.
    Returns:
        ``(out, cache)``: ``out`` of shape ``(*, C, H * r, W * r)``; ``cache = (x.shape, out.shape, dtype, r)``.
    """
    return _forward("pixel_shuffle", x, upscale_factor, backend)


def pixel_shuffle_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`pixel_shuffle_forward`: ``pixel_unshuffle(grad_output, r)``, shaped like ``x``."""
    return _backward(choose_tier(grad_output, backend, "pixel_shuffle"), "pixel_shuffle", grad_output, cache)


def pixel_unshuffle_forward(
    x: np.ndarray, downscale_factor: int, *, backend: str | None = None
) -> tuple[np.ndarray, tuple]:
    """Rearrange ``(*, C, H * r, W * r)`` into ``(*, C * r * r, H, W)``, the inverse of pixel shuffle.

    Forward:  ``out[n, c * r * r + i * r + j, h, w] = x[n, c, h * r + i, w * r + j]``.
    Backward: ``grad_input = pixel_shuffle(grad_output, r)``.

    Args:
        x: ``(*, C, H * r, W * r)``, float32 or float64, at least 3 dimensions.
        downscale_factor: ``r >= 1``; the height and width must be divisible by ``r``.
    Returns:
        ``(out, cache)``: ``out`` of shape ``(*, C * r * r, H, W)``; ``cache = (x.shape, out.shape, dtype, r)``.
    """
    return _forward("pixel_unshuffle", x, downscale_factor, backend)


def pixel_unshuffle_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`pixel_unshuffle_forward`: ``pixel_shuffle(grad_output, r)``, shaped like ``x``."""
    return _backward(choose_tier(grad_output, backend, "pixel_unshuffle"), "pixel_unshuffle", grad_output, cache)


def _check_input(x, factor, op: str) -> int:
    """Check x (host or GPU, at least 3 dimensions) and the factor r for every tier; return r.

    Shuffle needs a channel count divisible by r * r, unshuffle a height and width divisible by r.
    """
    factor_name = "upscale_factor" if op == "pixel_shuffle" else "downscale_factor"
    check_float_array(x, name="x", layer=op)
    if x.ndim < 3:
        raise ValueError(f"{op}: expected x with at least 3 dimensions (*, C, H, W), got shape {x.shape}")
    r = check_positive_int(factor, name=factor_name, layer=op)
    channels, height, width = tuple(x.shape)[-3:]
    if op == "pixel_shuffle" and channels % (r * r) != 0:
        raise ValueError(f"{op}: expected the channel count of x to be divisible by upscale_factor**2 = {r * r}, "
                         f"got x of shape {x.shape} with {channels} channels")
    if op == "pixel_unshuffle" and (height % r != 0 or width % r != 0):
        raise ValueError(f"{op}: expected the height and width of x to be divisible by downscale_factor = {r}, "
                         f"got x of shape {x.shape}")
    return r


def _as_4d(a):
    """Fold the leading batch dimensions into one: ``(*, C, H, W)`` -> ``(prod(*), C, H, W)``."""
    shape = tuple(a.shape)
    return contiguous(a).reshape(math.prod(shape[:-3]), *shape[-3:])


def _forward(op: str, x, factor, backend: str | None) -> tuple:
    """Check, then run ``op``'s forward tier on x seen as (N, C, H, W); ``(out, cache)`` with x's batch dimensions."""
    tier_name = choose_tier(x, backend, op)
    r = _check_input(x, factor, op)
    out = tier_function(tier_name, "pixel_shuffle", f"{op}_forward")(_as_4d(x), r)
    out = out.reshape(tuple(x.shape)[:-3] + tuple(out.shape)[1:])
    return out, (tuple(x.shape), tuple(out.shape), x.dtype, r)


def _backward(tier_name: str, op: str, grad_output, cache: tuple):
    """``op``'s backward tier (the other rearrangement) on the checked grad_output, shaped like x."""
    in_shape, out_shape, dtype, r = cache
    grad_output = check_grad_output(grad_output, out_shape, dtype, op)
    return tier_function(tier_name, "pixel_shuffle", f"{op}_backward")(_as_4d(grad_output), r).reshape(in_shape)
