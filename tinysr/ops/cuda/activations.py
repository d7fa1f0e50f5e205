"""numba.cuda tier of ``tinysr/ops/activations.py``: ReLU, LeakyReLU, PReLU, sigmoid and tanh on the GPU.

The CPU kernels are ``for i in prange(x.size): out[i] = f(x[i])``. On the GPU the same loop
is spread over the threads of the grid, ``for i in range(cuda.grid(1), n, cuda.gridsize(1))``:
with ``blocks(n)`` blocks of ``THREADS`` threads, thread i computes element i, once (see
``_common``). Results and
sub-gradients at the kinks are the CPU tier's (and PyTorch's), element for element.

PReLU's slope gradient is a sum, ``grad_weight[c] = sum over (n, s) of g * min(x, 0)``: the CPU
kernel gives each (n, c) plane to one ``prange`` iteration; here each channel c gets one block
(``blockIdx.x = c``), whose threads share the channel's N * S values and add them up with
``block_sum``. A shared slope then adds the channels' sums in one more small kernel.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numba import cuda

from tinysr.ops.cuda._common import (
    THREADS,
    block_sum,
    blocks,
    check_device_array,
    check_grad_output,
    empty,
    empty_like,
)

__all__ = [
    "leaky_relu_backward",
    "leaky_relu_forward",
    "prelu_backward",
    "prelu_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "tanh_backward",
    "tanh_forward",
]


def _check_slope(negative_slope, op: str) -> float:
    if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"{op}: expected negative_slope to be a real number, got {negative_slope!r}")
    if not math.isfinite(negative_slope):
        raise ValueError(f"{op}: expected a finite negative_slope, got {negative_slope}")
    return float(negative_slope)


# --------------------------------------------------------------------------- ReLU


@cuda.jit
def _relu_forward_kernel(x, out):
    """CPU: ``for i in prange(x.size)``; GPU: thread i. ``x <= 0 ? 0 : x`` lets NaN through, as in PyTorch."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[i] = 0 if x[i] <= 0 else x[i]


@cuda.jit
def _relu_backward_kernel(grad_output, x, grad_input):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_input[i] = 0 if x[i] <= 0 else grad_output[i]


def relu_forward(x, inplace: bool = False) -> tuple:
    """``out = max(x, 0)`` on the GPU (into ``x`` if ``inplace``); ``cache = (out,)``.

    See ``tinysr.ops.activations.relu_forward``.
    """
    check_device_array(x, name="x", op="relu")
    out = x if inplace else empty_like(x)
    _relu_forward_kernel[blocks(x.size), THREADS](x.ravel(), out.ravel())
    return out, (out,)


def relu_backward(grad_output, cache: tuple):
    """``grad_input = grad_output * [x > 0]`` on the GPU; ``cache = (out,)`` (``[out > 0] = [x > 0]``)."""
    (x,) = cache
    check_grad_output(grad_output, x.shape, x.dtype, "relu")
    grad_input = empty_like(x)
    _relu_backward_kernel[blocks(x.size), THREADS](grad_output.ravel(), x.ravel(), grad_input.ravel())
    return grad_input


# --------------------------------------------------------------------------- LeakyReLU


@cuda.jit
def _leaky_relu_forward_kernel(x, negative_slope, out):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[i] = x[i] if x[i] > 0 else negative_slope * x[i]


@cuda.jit
def _leaky_relu_backward_kernel(grad_output, x, negative_slope, grad_input):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_input[i] = grad_output[i] if x[i] > 0 else negative_slope * grad_output[i]


def leaky_relu_forward(x, negative_slope: float = 0.01) -> tuple:
    """``out = x if x > 0 else negative_slope * x`` on the GPU; ``cache = (x, negative_slope)``."""
    negative_slope = _check_slope(negative_slope, "leaky_relu")
    check_device_array(x, name="x", op="leaky_relu")
    out = empty_like(x)
    # the slope in x's dtype keeps float32 arithmetic in float32, as in the CPU tier
    _leaky_relu_forward_kernel[blocks(x.size), THREADS](x.ravel(), x.dtype.type(negative_slope), out.ravel())
    return out, (x, negative_slope)


def leaky_relu_backward(grad_output, cache: tuple):
    """``grad_input = grad_output`` where ``x > 0``, else ``negative_slope * grad_output``."""
    x, negative_slope = cache
    check_grad_output(grad_output, x.shape, x.dtype, "leaky_relu")
    grad_input = empty_like(x)
    _leaky_relu_backward_kernel[blocks(x.size), THREADS](
        grad_output.ravel(), x.ravel(), x.dtype.type(negative_slope), grad_input.ravel()
    )
    return grad_input


# --------------------------------------------------------------------------- PReLU


@cuda.jit
def _prelu_forward_kernel(x, weight, channels, size, out):
    """x, out flat views of (N, C, S); element i is in channel (i // S) % C. One thread per element."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        slope = weight[0] if weight.size == 1 else weight[(i // size) % channels]
        out[i] = x[i] if x[i] > 0 else slope * x[i]


@cuda.jit
def _prelu_backward_kernel(grad_output, x, weight, grad_input, channel_sums):
    """Block c owns channel c of x (N, C, S): grad_input there, and channel_sums[c] = sum of g * min(x, 0).

    The CPU kernel's ``prange`` over (n, c) planes becomes one block per channel; the block's
    threads take the channel's N * S values in turn (thread t: values t, t + THREADS, ...), each
    keeps its own float64 sum, and ``block_sum`` adds the THREADS sums.
    """
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    n_batch, _, size = x.shape
    c = cuda.blockIdx.x
    slope = weight[0] if weight.size == 1 else weight[c]
    acc = 0.0
    for e in range(cuda.threadIdx.x, n_batch * size, THREADS):
        n = e // size
        s = e % size
        v = x[n, c, s]
        g = grad_output[n, c, s]
        grad_input[n, c, s] = g if v > 0 else slope * g
        acc += g * min(v, 0.0)
    acc = block_sum(partial, acc)
    if cuda.threadIdx.x == 0:
        channel_sums[c] = acc


@cuda.jit
def _prelu_slope_gradient_kernel(channel_sums, grad_weight):
    """One block: grad_weight[c] = channel_sums[c], or for a shared slope grad_weight[0] = their sum."""
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    channels = channel_sums.size
    if grad_weight.size == 1:
        acc = 0.0
        for c in range(cuda.threadIdx.x, channels, THREADS):
            acc += channel_sums[c]
        acc = block_sum(partial, acc)
        if cuda.threadIdx.x == 0:
            grad_weight[0] = acc
    else:
        for c in range(cuda.threadIdx.x, channels, THREADS):
            grad_weight[c] = channel_sums[c]


def _as_planes(a):
    """(N, C, ...) -> (N, C, S) with S the product of the trailing sizes (a view, no copy)."""
    return a.reshape(a.shape[0], a.shape[1], a.size // (a.shape[0] * a.shape[1]))


def prelu_forward(x, weight) -> tuple:
    """PReLU on the GPU: ``out = x if x > 0 else w_c * x``; ``cache = (x, weight)``.

    x (N, C, ...) and weight (1,) or (C,), device arrays of one dtype.
    """
    check_device_array(x, name="x", op="prelu")
    check_device_array(weight, name="weight", op="prelu")
    if x.ndim < 2:
        raise ValueError(f"prelu: expected x with at least 2 dimensions (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    if weight.ndim != 1 or weight.size not in (1, channels):
        raise ValueError(
            f"prelu: expected weight of shape (1,) or (C,) = ({channels},) for x of shape {x.shape}, "
            f"got weight of shape {weight.shape}"
        )
    if weight.dtype != x.dtype:
        raise TypeError(f"prelu: expected all arrays to share one dtype (no silent casting), "
                        f"got x: {x.dtype}, weight: {weight.dtype}")
    out = empty_like(x)
    size = x.size // (x.shape[0] * channels) if x.size else 1
    _prelu_forward_kernel[blocks(x.size), THREADS](x.ravel(), weight, channels, size, out.ravel())
    return out, (x, weight)


def prelu_backward(grad_output, cache: tuple) -> tuple:
    """``(grad_input, grad_weight)`` of PReLU on the GPU (see ``tinysr.ops.activations.prelu_forward``)."""
    x, weight = cache
    check_grad_output(grad_output, x.shape, x.dtype, "prelu")
    grad_input = empty_like(x)
    channels = x.shape[1]
    channel_sums = empty(channels, np.float64)
    _prelu_backward_kernel[channels, THREADS](
        _as_planes(grad_output), _as_planes(x), weight, _as_planes(grad_input), channel_sums
    )
    grad_weight = empty(weight.shape, x.dtype)
    _prelu_slope_gradient_kernel[1, THREADS](channel_sums, grad_weight)
    return grad_input, grad_weight


# --------------------------------------------------------------------------- sigmoid


@cuda.jit
def _sigmoid_forward_kernel(x, out):
    """Stable for any |x|: exp only ever sees a non-positive number (see the CPU tier)."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        v = x[i]
        if v >= 0:
            out[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            out[i] = e / (1.0 + e)


@cuda.jit
def _sigmoid_backward_kernel(grad_output, out, grad_input):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        grad_input[i] = grad_output[i] * out[i] * (1 - out[i])


def sigmoid_forward(x) -> tuple:
    """``out = 1 / (1 + exp(-x))`` on the GPU; ``cache = (out,)``."""
    check_device_array(x, name="x", op="sigmoid")
    out = empty_like(x)
    _sigmoid_forward_kernel[blocks(x.size), THREADS](x.ravel(), out.ravel())
    return out, (out,)


def sigmoid_backward(grad_output, cache: tuple):
    """``grad_input = grad_output * out * (1 - out)`` on the GPU."""
    (out,) = cache
    check_grad_output(grad_output, out.shape, out.dtype, "sigmoid")
    grad_input = empty_like(out)
    _sigmoid_backward_kernel[blocks(out.size), THREADS](grad_output.ravel(), out.ravel(), grad_input.ravel())
    return grad_input


# --------------------------------------------------------------------------- tanh


@cuda.jit
def _tanh_forward_kernel(x, out):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[i] = math.tanh(x[i])


@cuda.jit
def _tanh_backward_kernel(grad_output, out, grad_input):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        grad_input[i] = grad_output[i] * (1 - out[i] * out[i])


def tanh_forward(x) -> tuple:
    """``out = tanh(x)`` on the GPU; ``cache = (out,)``."""
    check_device_array(x, name="x", op="tanh")
    out = empty_like(x)
    _tanh_forward_kernel[blocks(x.size), THREADS](x.ravel(), out.ravel())
    return out, (out,)


def tanh_backward(grad_output, cache: tuple):
    """``grad_input = grad_output * (1 - out**2)`` on the GPU."""
    (out,) = cache
    check_grad_output(grad_output, out.shape, out.dtype, "tanh")
    grad_input = empty_like(out)
    _tanh_backward_kernel[blocks(out.size), THREADS](grad_output.ravel(), out.ravel(), grad_input.ravel())
    return grad_input
