"""numba.cuda tier of ``tinysr/ops/linear.py``: ``out = x @ weight.T + bias`` on the GPU.

A linear layer is a 1x1 convolution of a 1x1 image: with x seen as (N, in_features, 1, 1) and
weight as (out_features, in_features, 1, 1), ``conv2d`` computes
``out[n, o] = sum_i weight[o, i] x[n, i] + bias[o]``, and its three backward products are
exactly ``G @ weight``, ``G.T @ x`` and ``G.sum(axis=0)``. So this tier reshapes (a view, no
copy) and runs the tiled matrix-product kernels of ``tinysr/ops/cuda/conv2d.py``.
"""

from __future__ import annotations

from tinysr.ops.cuda import conv2d
from tinysr.ops.cuda._common import check_device_array

__all__ = ["linear_backward", "linear_forward"]

_OP = "linear"


def linear_forward(x, weight, bias=None) -> tuple:
    """``out = x @ weight.T + bias`` for device arrays x (N, in), weight (out, in), bias (out,) or None.

    Returns ``(out, cache)``: out (N, out_features) and ``cache = (x, weight, has_bias)``.
    """
    check_device_array(x, name="x", op=_OP, ndim=2)
    check_device_array(weight, name="weight", op=_OP, ndim=2)
    if bias is not None:
        check_device_array(bias, name="bias", op=_OP, ndim=1)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"{_OP}: expected weight with {x.shape[1]} input features to match x of shape {x.shape}, "
                         f"got weight {weight.shape}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"{_OP}: expected bias of shape ({weight.shape[0]},) to match weight {weight.shape}, "
                         f"got bias {bias.shape}")
    n_batch, in_features = x.shape
    out_features = weight.shape[0]
    out, _ = conv2d.conv2d_forward(
        x.reshape(n_batch, in_features, 1, 1), weight.reshape(out_features, in_features, 1, 1), bias
    )
    return out.reshape(n_batch, out_features), (x, weight, bias is not None)


def linear_backward(grad_output, cache: tuple) -> tuple:
    """``(G @ weight, G.T @ x, G.sum(axis=0) or None)`` on the GPU, ``G = grad_output`` (N, out_features)."""
    x, weight, has_bias = cache
    check_device_array(grad_output, name="grad_output", op=_OP)
    expected = (x.shape[0], weight.shape[0])
    if tuple(grad_output.shape) != expected:
        raise ValueError(f"{_OP}: expected grad_output of shape {expected} (the output's), got {grad_output.shape}")
    if grad_output.dtype != x.dtype:
        raise TypeError(f"{_OP}: expected grad_output with dtype {x.dtype} to match x, got dtype {grad_output.dtype}")
    n_batch, in_features = x.shape
    out_features = weight.shape[0]
    cache_4d = (x.reshape(n_batch, in_features, 1, 1), weight.reshape(out_features, in_features, 1, 1),
                has_bias, (1, 1), (0, 0))
    grad_input, grad_weight, grad_bias = conv2d.conv2d_backward(
        grad_output.reshape(n_batch, out_features, 1, 1), cache_4d
    )
    return grad_input.reshape(n_batch, in_features), grad_weight.reshape(out_features, in_features), grad_bias
