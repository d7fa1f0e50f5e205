"""numba.cuda tier of ``tinysr/ops/batchnorm.py``: ``BatchNorm2d`` forward and backward on the GPU.

The equations are in ``tinysr/ops/batchnorm.py``, which checks the inputs. The CPU kernels give
each channel to one ``prange`` iteration, which walks over the channel's ``M = N * H * W``
values two or three times. Here:

* sums over a channel (the batch mean and variance; ``sum g`` and ``sum g * x_hat`` in the
  backward pass) use one *block* per channel (``blockIdx.x = c``): its THREADS threads take the
  channel's values in turn (thread t: t, t + THREADS, ...) and ``block_sum`` adds their float64
  partial sums. Thread 0 then writes the channel's statistics, and in training updates the
  running buffers in place, with the rule of ``update_running_statistics``;
* everything elementwise (normalising, the input gradient) uses one *thread* per element of
  ``x``, which reads the statistics of its channel ``c = (i // S) % C``.

Statistics are float64 (as in the CPU tier); the output and gradients keep the input's dtype.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinysr.ops.cuda._common import THREADS, block_sum, blocks, empty, empty_like

__all__ = ["batch_norm2d_backward_cuda", "batch_norm2d_forward_cuda"]


@cuda.jit
def _batch_statistics_kernel(x, eps, momentum, running_mean, running_var, mean, var, inv_std):
    """Block c: mean and biased variance of channel c of x (N, C, S) in two passes; update the running buffers."""
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    n_batch, _, size = x.shape
    m = n_batch * size
    c = cuda.blockIdx.x
    total = 0.0
    for e in range(cuda.threadIdx.x, m, THREADS):
        total += x[e // size, c, e % size]
    mu = block_sum(partial, total) / m
    # Two passes (mean first, then squared deviations) avoid E[x^2] - E[x]^2 cancellation.
    squares = 0.0
    for e in range(cuda.threadIdx.x, m, THREADS):
        d = x[e // size, c, e % size] - mu
        squares += d * d
    v = block_sum(partial, squares) / m
    if cuda.threadIdx.x == 0:
        mean[c] = mu
        var[c] = v
        inv_std[c] = 1.0 / math.sqrt(v + eps)
        # PyTorch's rule: the running variance gets the unbiased estimate v * M / (M - 1)
        running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mu
        running_var[c] = (1.0 - momentum) * running_var[c] + momentum * (v * m / (m - 1))


@cuda.jit
def _eval_statistics_kernel(running_mean, running_var, eps, mean, var, inv_std):
    """One thread per channel: the running buffers, in float64, are the statistics."""
    for c in range(cuda.grid(1), mean.size, cuda.gridsize(1)):
        mean[c] = running_mean[c]
        var[c] = running_var[c]
        inv_std[c] = 1.0 / math.sqrt(var[c] + eps)


@cuda.jit
def _normalize_kernel(x, weight, bias, mean, inv_std, channels, size, out):
    """One thread per element i of x (flat), in channel c = (i // S) % C: out = (x - mean) * weight * inv_std + bias."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        c = (i // size) % channels
        out[i] = (x[i] - mean[c]) * (weight[c] * inv_std[c]) + bias[c]


@cuda.jit
def _backward_sums_kernel(grad_output, x, mean, inv_std, sum_g, sum_g_xhat, grad_weight, grad_bias):
    """Block c: sum g and sum g * x_hat over channel c of (N, C, S); they are grad_bias[c] and grad_weight[c]."""
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    n_batch, _, size = x.shape
    c = cuda.blockIdx.x
    mu = mean[c]
    istd = inv_std[c]
    g_total = 0.0
    g_xhat_total = 0.0
    for e in range(cuda.threadIdx.x, n_batch * size, THREADS):
        n = e // size
        s = e % size
        g = grad_output[n, c, s]
        g_total += g
        g_xhat_total += g * ((x[n, c, s] - mu) * istd)
    g_total = block_sum(partial, g_total)
    g_xhat_total = block_sum(partial, g_xhat_total)
    if cuda.threadIdx.x == 0:
        sum_g[c] = g_total
        sum_g_xhat[c] = g_xhat_total
        grad_bias[c] = g_total
        grad_weight[c] = g_xhat_total


@cuda.jit
def _backward_input_kernel(grad_output, x, weight, mean, inv_std, sum_g, sum_g_xhat, training, channels, size,
                           grad_input):
    """One thread per element: grad_input = (w inv_std / M) (M g - sum g - x_hat sum(g x_hat)); g w inv_std in eval."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        c = (i // size) % channels
        if training:
            m = x.size // channels
            x_hat = (x[i] - mean[c]) * inv_std[c]
            k = weight[c] * inv_std[c] / m
            grad_input[i] = k * (m * grad_output[i] - sum_g[c] - x_hat * sum_g_xhat[c])
        else:
            grad_input[i] = weight[c] * inv_std[c] * grad_output[i]


def _as_channels(a):
    return a.reshape(a.shape[0], a.shape[1], a.size // (a.shape[0] * a.shape[1]))


def batch_norm2d_forward_cuda(x, weight, bias, running_mean, running_var, training: bool, momentum: float,
                              eps: float) -> tuple:
    """``tinysr.ops.batchnorm.batch_norm2d_forward_reference`` for device arrays: ``(out, mean, inv_std)``.

    x (N, C, H, W); weight, bias, running_mean, running_var (C,); in training the running buffers
    are updated in place on the GPU. The statistics are float64 (C,) device arrays.
    """
    _, channels, height, width = x.shape
    mean, var, inv_std = (empty(channels, np.float64) for _ in range(3))
    if training:
        _batch_statistics_kernel[channels, THREADS](_as_channels(x), eps, momentum, running_mean, running_var,
                                                    mean, var, inv_std)
    else:
        _eval_statistics_kernel[blocks(channels), THREADS](running_mean, running_var, eps, mean, var, inv_std)
    out = empty_like(x)
    _normalize_kernel[blocks(x.size), THREADS](x.ravel(), weight, bias, mean, inv_std, channels, height * width,
                                               out.ravel())
    return out, mean, inv_std


def batch_norm2d_backward_cuda(grad_output, x, weight, mean, inv_std, training: bool) -> tuple:
    """``tinysr.ops.batchnorm.batch_norm2d_backward_reference`` on the GPU: ``(grad_input, grad_weight, grad_bias)``.

    The training or eval rule of the forward pass; grad_output and x (N, C, H, W), the rest (C,).
    """
    channels = x.shape[1]
    sum_g, sum_g_xhat = empty(channels, np.float64), empty(channels, np.float64)
    grad_weight, grad_bias = empty(channels, x.dtype), empty(channels, x.dtype)
    _backward_sums_kernel[channels, THREADS](_as_channels(grad_output), _as_channels(x), mean, inv_std,
                                             sum_g, sum_g_xhat, grad_weight, grad_bias)
    grad_input = empty_like(x)
    _backward_input_kernel[blocks(x.size), THREADS](grad_output.ravel(), x.ravel(), weight, mean, inv_std, sum_g,
                                                    sum_g_xhat, training, channels, x.shape[2] * x.shape[3],
                                                    grad_input.ravel())
    return grad_input, grad_weight, grad_bias
