"""The residual add: ``out = a + b`` for two arrays of exactly the same shape.

Forward (the skip connection of a ResNet block, ``out = x + body(x)``)::

    out[...] = a[...] + b[...]         a, b, out: any shape, all the same (no broadcasting)

Backward: ``d(a + b)/da = d(a + b)/db = 1``, so the upstream gradient flows unchanged into
both branches::

    grad_a = grad_output        grad_b = grad_output

They are returned as two separate copies, so that a caller who changes one in place cannot
corrupt the other. Broadcasting is refused on purpose: in a residual block a shape mismatch
is a bug (a wrong padding, a stride), and broadcasting would hide it.
"""

from __future__ import annotations

import numpy as np

from tinysr._validation import check_float_array, check_grad_output, check_same_device, check_same_dtype, contiguous
from tinysr.tiers import choose_tier, tier_function

__all__ = ["add_backward", "add_forward"]

_OP = "add"


# --------------------------------------------------------------------------- reference tier


def add_forward_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy tier: ``a + b`` (same shapes)."""
    return a + b


def add_backward_reference(grad_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy tier: ``(grad_output, grad_output)``, two copies."""
    return grad_output.copy(), grad_output.copy()


# --------------------------------------------------------------------------- public API


def add_forward(a: np.ndarray, b: np.ndarray, *, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """``out = a + b`` for arrays of identical shape and dtype (no broadcasting).

    Args:
        a, b: any shape (the same for both), float32 or float64 (the same for both).
        backend: the tier, ``"reference"``, ``"numba"`` or ``"cuda"`` (default: ``tinysr.tier``'s, else the
            fastest for the arrays' device; ``tinysr/tiers.py``).
    Returns:
        ``(out, cache)``: ``out`` of the shape and dtype of ``a``; ``cache = (a.shape, a.dtype)``.
    """
    tier_name = choose_tier(a, backend, _OP)
    check_float_array(a, name="a", layer=_OP)
    check_float_array(b, name="b", layer=_OP)
    check_same_device(_OP, a=a, b=b)
    check_same_dtype(_OP, a=a, b=b)
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{_OP}: expected b of the same shape as a {a.shape} (no broadcasting), got b {b.shape}"
        )
    out = tier_function(tier_name, "add", "add_forward")(contiguous(a), contiguous(b))
    return out, (tuple(a.shape), a.dtype)


def add_backward(
    grad_output: np.ndarray, cache: tuple, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`add_forward`: ``(grad_a, grad_b) = (grad_output, grad_output)``, as copies."""
    tier_name = choose_tier(grad_output, backend, _OP)
    shape, dtype = cache
    grad_output = check_grad_output(grad_output, shape, dtype, _OP)
    return tier_function(tier_name, "add", "add_backward")(grad_output)
