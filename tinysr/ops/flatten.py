"""Flatten: ``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``, the bridge from feature maps to ``linear``.

Forward (C order, as ``torch.flatten(x, start_dim=1)`` and ``torch.nn.Flatten``)::

    out[n, k] = x[n, i1, i2, ...]        with k the row-major position of (i1, i2, ...)

    x:   (N, *)    at least 2 dimensions
    out: (N, prod(*))

Backward: flattening only renames positions, so the gradient is reshaped back::

    grad_input = grad_output.reshape(x.shape)

Both tiers are trivial; they exist so that flatten has the same shape as every other op. Unlike
``torch.flatten`` (which returns a view), the output is a fresh array, so writing into it can
never change ``x``.
"""

from __future__ import annotations

import math

import numpy as np

from tinysr._validation import check_float_array, check_grad_output, contiguous
from tinysr.tiers import choose_tier, tier_function

__all__ = ["flatten_backward", "flatten_forward"]

_OP = "flatten"




# --------------------------------------------------------------------------- reference tier


def flatten_forward_reference(x: np.ndarray) -> np.ndarray:
    """NumPy tier: a C-order reshape to ``(N, -1)``, copied."""
    return x.reshape(x.shape[0], math.prod(x.shape[1:])).copy()


def flatten_backward_reference(grad_output: np.ndarray, in_shape: tuple) -> np.ndarray:
    """NumPy tier: reshape the gradient back to ``in_shape``, copied."""
    return grad_output.reshape(in_shape).copy()


# --------------------------------------------------------------------------- public API


def flatten_forward(x: np.ndarray, *, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Flatten every dimension after the first: ``(N, *) -> (N, prod(*))`` in C order.

    Args:
        x: ``(N, *)``, float32 or float64, at least 2 dimensions (e.g. ``(N, C, H, W)``).
        backend: the tier, ``"reference"``, ``"numba"`` or ``"cuda"`` (default: ``tinysr.tier``'s, else the
            fastest for the arrays' device; ``tinysr/tiers.py``).
    Returns:
        ``(out, cache)``: ``out`` of shape ``(N, prod(*))``, a new array in the dtype of ``x``;
        ``cache = (x.shape, x.dtype)``.
    """
    tier_name = choose_tier(x, backend, _OP)
    check_float_array(x, name="x", layer=_OP)
    if x.ndim < 2:
        raise ValueError(f"{_OP}: expected x with at least 2 dimensions (N, *), got shape {x.shape}")
    out = tier_function(tier_name, "flatten", "flatten_forward")(contiguous(x))
    return out, (tuple(x.shape), x.dtype)


def flatten_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`flatten_forward`: ``grad_output`` ``(N, prod(*))`` reshaped to ``x.shape``."""
    tier_name = choose_tier(grad_output, backend, _OP)
    in_shape, dtype = cache
    grad_output = check_grad_output(grad_output, (in_shape[0], math.prod(in_shape[1:])), dtype, _OP)
    return tier_function(tier_name, "flatten", "flatten_backward")(grad_output, in_shape)
