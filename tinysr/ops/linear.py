"""The fully connected (linear, dense) layer: ``out = x @ weight.T + bias``.

Forward, with PyTorch's layout (``torch.nn.functional.linear``)::

    out[n, o] = sum_i x[n, i] * weight[o, i] + bias[o]

    x:      (N, in_features)
    weight: (out_features, in_features)
    bias:   (out_features,)            optional
    out:    (N, out_features)

Backward. Each ``weight[o, i]`` meets ``x[n, i]`` once per sample, each ``x[n, i]`` meets every
``weight[o, i]``, and ``bias[o]`` is added to every sample's output ``o``, so with
``G = grad_output`` of shape ``(N, out_features)``::

    grad_input  = G @ weight          (N, in_features)      dL/dx[n, i] = sum_o G[n, o] weight[o, i]
    grad_weight = G.T @ x             (out_features, in_features)
    grad_bias   = G.sum(axis=0)       (out_features,)

Both tiers are matrix products: the reference tier writes them with ``@``, the Numba tier
(``tinysr/ops/cpu/linear.py``) calls ``np.dot`` (BLAS) inside ``@njit`` and sums the bias
gradient in a plain loop.
"""

from __future__ import annotations

import numpy as np

from tinysr._validation import check_grad_output, check_weighted_arrays, contiguous
from tinysr.tiers import choose_tier, tier_function

__all__ = ["linear_backward", "linear_forward"]

_OP = "linear"


# --------------------------------------------------------------------------- reference tier


def linear_forward_reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """NumPy tier: ``x @ weight.T (+ bias)``; ``(N, in) x (out, in) -> (N, out)``."""
    out = x @ weight.T
    if bias is not None:
        out = out + bias  # bias (out,) is added to every row: the one broadcast the op defines
    return out


def linear_backward_reference(
    grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, has_bias: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """NumPy tier: ``(G @ weight, G.T @ x, G.sum(0) or None)``."""
    grad_input = grad_output @ weight
    grad_weight = grad_output.T @ x
    grad_bias = grad_output.sum(axis=0) if has_bias else None
    return grad_input, grad_weight, grad_bias


# --------------------------------------------------------------------------- public API


def linear_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *, backend: str | None = None
) -> tuple[np.ndarray, tuple]:
    """``out = x @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Args:
        x: ``(N, in_features)``, float32 or float64.
        weight: ``(out_features, in_features)``, the dtype of ``x``.
        bias: ``(out_features,)`` or ``None``.
        backend: the tier, ``"reference"``, ``"numba"`` or ``"cuda"`` (default: ``tinysr.tier``'s, else the
            fastest for the arrays' device; ``tinysr/tiers.py``).
    Returns:
        ``(out, cache)``: ``out`` of shape ``(N, out_features)`` in the dtype of ``x``;
        ``cache = (x, weight, has_bias)`` for :func:`linear_backward`.
    """
    tier_name = choose_tier(x, backend, _OP)
    check_weighted_arrays(_OP, x, weight, bias, ndim=2)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"{_OP}: expected weight with {x.shape[1]} input features to match x of shape {x.shape}, "
            f"got weight {weight.shape}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"{_OP}: expected bias of shape ({weight.shape[0]},) to match weight {weight.shape}, "
            f"got bias {bias.shape}"
        )
    x, weight, bias = contiguous(x), contiguous(weight), None if bias is None else contiguous(bias)
    out = tier_function(tier_name, "linear", "linear_forward")(x, weight, bias)
    return out, (x, weight, bias is not None)


def linear_backward(
    grad_output: np.ndarray, cache: tuple, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`linear_forward`.

    Args:
        grad_output: ``G = dL/d(out)``, ``(N, out_features)``, the dtype of ``x``.
        cache: from :func:`linear_forward`.
    Returns:
        ``(grad_input, grad_weight, grad_bias)``: ``G @ weight`` ``(N, in_features)``,
        ``G.T @ x`` ``(out_features, in_features)``, and ``G.sum(axis=0)`` ``(out_features,)``,
        or ``None`` when the forward pass had no bias.
    """
    tier_name = choose_tier(cache[0], backend, _OP)
    x, weight, has_bias = cache
    grad_output = check_grad_output(grad_output, (x.shape[0], weight.shape[0]), x.dtype, _OP, like=x)
    return tier_function(tier_name, "linear", "linear_backward")(grad_output, x, weight, has_bias)
