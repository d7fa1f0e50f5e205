"""PReLU, the parametric ReLU: a leaky ReLU whose slope is learned, shared or one per channel.

Shapes::

    x, out, grad_output, grad_input   (N, C, ...)   at least 2 dimensions: (N, C), (N, C, H, W), ...
    weight, grad_weight               (1,) (one slope shared by every channel) or (C,)

Forward, with ``w_c = weight[c]`` (per channel) or ``weight[0]`` (shared)::

    out[n, c, ...] = x[n, c, ...]          where x > 0
                     w_c * x[n, c, ...]    elsewhere

Backward (``g = grad_output``). Each element is a leaky ReLU with slope ``w_c``, so its input
gradient is leaky ReLU's; the slope is new: every element of channel c where ``x <= 0`` used it,
so its gradient is a sum over all of them (over every element for a shared slope)::

    grad_input[n, c, ...] = g              where x > 0
                            w_c * g        elsewhere       (prelu'(0) = w_c, as in PyTorch)
    grad_weight[c]        = sum over n and the positions of g * x where x <= 0

That sum is the one thing PReLU adds to the activations of ``activations.py``: a parameter
shared by many elements collects a gradient from each of them. The element rules are leaky
ReLU's (``leaky_relu``, ``leaky_relu_grad``) and ``prelu_slope_grad`` below; the Numba tier
(``tinysr/ops/cpu/prelu.py``) and the CUDA tier (``tinysr/ops/cuda/prelu.py``) compile these very
functions.
"""

from __future__ import annotations

import numpy as np

from tinysr._validation import check_float_array, check_grad_output, check_same_device, check_same_dtype, contiguous
from tinysr.tiers import choose_tier, tier_function

__all__ = ["prelu_backward", "prelu_forward", "prelu_slope_grad"]

_OP = "prelu"


# --------------------------------------------------------------------------- the scalar rule


def prelu_slope_grad(grad, x):
    """What one element adds to its slope's gradient: ``grad * x`` where ``x <= 0``, else 0.

    Written ``grad * min(x, 0)``: branch-free, so that the CPU loop summing it vectorises.
    """
    return grad * min(x, 0.0)


# --------------------------------------------------------------------------- the NumPy reference tier


def _prelu_slopes(weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The slope(s) shaped to broadcast against ``x`` of shape ``(N, C, ...)``: ``(1, C, 1, ...)``."""
    shape = [1] * x.ndim
    shape[1] = weight.size  # 1 for a shared slope
    return weight.reshape(shape)


def prelu_forward_reference(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``out[n, c, ...] = x if x > 0 else weight[c] * x`` (``weight[0]`` when shared); NumPy tier."""
    return np.where(x > 0, x, _prelu_slopes(weight, x) * x)


def prelu_backward_reference(
    grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``grad_input = g * (x > 0 ? 1 : w)``, ``grad_weight[c] = sum of g * x where x <= 0``; NumPy tier."""
    positive = x > 0
    grad_input = np.where(positive, grad_output, _prelu_slopes(weight, x) * grad_output)
    contribution = np.where(positive, np.zeros((), dtype=x.dtype), grad_output * x)
    if weight.size == 1:
        grad_weight = contribution.sum().reshape(1)
    else:
        grad_weight = contribution.sum(axis=tuple(a for a in range(x.ndim) if a != 1))
    return grad_input, grad_weight.astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- the public ops: check once, pick a tier


def prelu_forward(x: np.ndarray, weight: np.ndarray, *, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Parametric ReLU with a learned slope, shared (``weight`` of shape ``(1,)``) or per channel (``(C,)``).

    Forward:  ``out[n, c, ...] = x[n, c, ...]`` where ``x > 0``, else ``w_c * x[n, c, ...]``,
    with ``w_c = weight[c]`` (per channel) or ``weight[0]`` (shared).

    Backward (``g = grad_output``):
        ``grad_input = g`` where ``x > 0``, else ``w_c * g``  (so ``prelu'(0) = w_c``, as in PyTorch);
        ``grad_weight[c] = sum over n and the spatial positions of g * x`` where ``x <= 0``
        (summed over every position for a shared slope, giving shape ``(1,)``).

    Args:
        x: ``(N, C, ...)``, at least 2 dimensions (``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)``, ...).
        weight: ``(1,)`` or ``(C,)``, same dtype and device as ``x``.
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x``; ``cache = (x, weight)``.
    """
    x = contiguous(check_float_array(x, name="x", layer=_OP))
    check_same_device(_OP, x=x, weight=weight)
    weight = contiguous(check_float_array(weight, name="weight", layer=_OP))
    if x.ndim < 2:
        raise ValueError(f"{_OP}: expected x with at least 2 dimensions (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    if weight.ndim != 1 or weight.size not in (1, channels):
        raise ValueError(
            f"{_OP}: expected weight of shape (1,) or (C,) = ({channels},) for x of shape {x.shape}, "
            f"got weight of shape {weight.shape}"
        )
    check_same_dtype(_OP, x=x, weight=weight)
    out = tier_function(choose_tier(x, backend, _OP), "prelu", "prelu_forward")(x, weight)
    return out, (x, weight)


def prelu_backward(
    grad_output: np.ndarray, cache: tuple, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`prelu_forward`: ``(grad_input, grad_weight)`` shaped like ``x`` and ``weight``."""
    x, weight = cache
    grad_output = check_grad_output(grad_output, x.shape, x.dtype, _OP, like=x)
    return tier_function(choose_tier(x, backend, _OP), "prelu", "prelu_backward")(grad_output, x, weight)
