"""numba.cuda tier of ``tinysr/ops/linear.py``: ``out = x @ weight.T + bias`` on the GPU.

A linear layer is a 1x1 convolution of a 1x1 image: with x seen as (N, in_features, 1, 1) and
weight as (out_features, in_features, 1, 1), ``conv2d`` computes
``out[n, o] = sum_i weight[o, i] x[n, i] + bias[o]``, and its three backward products are
exactly ``G @ weight``, ``G.T @ x`` and ``G.sum(axis=0)``. So this tier reshapes (a view, no
copy) and runs the tiled matrix-product kernels of ``tinysr/ops/cuda/conv2d.py``. The inputs were
checked by ``tinysr.ops.linear``.
"""

from __future__ import annotations

from tinysr.ops.cuda.conv2d import conv2d_backward_cuda, conv2d_forward_cuda

__all__ = ["linear_backward_cuda", "linear_forward_cuda"]


def linear_forward_cuda(x, weight, bias):
    """``tinysr.ops.linear.linear_forward_reference`` for device arrays: x (N, in), weight (out, in) -> (N, out)."""
    n_batch, in_features = x.shape
    out_features = weight.shape[0]
    out = conv2d_forward_cuda(x.reshape(n_batch, in_features, 1, 1),
                              weight.reshape(out_features, in_features, 1, 1), bias, (1, 1), (0, 0))
    return out.reshape(n_batch, out_features)


def linear_backward_cuda(grad_output, x, weight, has_bias: bool) -> tuple:
    """``tinysr.ops.linear.linear_backward_reference`` on the GPU: (G @ weight, G.T @ x, G.sum(axis=0) or None)."""
    n_batch, in_features = x.shape
    out_features = weight.shape[0]
    cache_4d = (x.reshape(n_batch, in_features, 1, 1), weight.reshape(out_features, in_features, 1, 1),
                has_bias, (1, 1), (0, 0))
    grad_input, grad_weight, grad_bias = conv2d_backward_cuda(
        grad_output.reshape(n_batch, out_features, 1, 1), cache_4d
    )
    return grad_input.reshape(n_batch, in_features), grad_weight.reshape(out_features, in_features), grad_bias
