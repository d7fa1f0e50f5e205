"""numba.cuda tier of ``tinysr/ops/prelu.py``: PReLU forward and backward on the GPU.

The element rules are leaky ReLU's (``tinysr/ops/activations.py``) and ``prelu_slope_grad``
(``tinysr/ops/prelu.py``), compiled as device functions. The forward pass is one thread per
element, which reads its channel's slope.

The slope gradient is a sum, ``grad_weight[c] = sum over (n, s) of g * min(x, 0)``: the CPU
kernel gives each (n, c) plane to one ``prange`` iteration; here each channel c gets one block
(``blockIdx.x = c``), whose threads share the channel's N * S values and add them up with
``block_sum``. A shared slope then adds the channels' sums in one more small kernel. The public
ops in ``tinysr/ops/prelu.py`` have checked the arrays already.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinysr.ops import activations, prelu
from tinysr.ops.cuda._common import THREADS, block_sum, blocks, empty, empty_like

__all__ = ["prelu_backward_cuda", "prelu_forward_cuda"]

leaky_relu = cuda.jit(device=True)(activations.leaky_relu)
leaky_relu_grad = cuda.jit(device=True)(activations.leaky_relu_grad)
prelu_slope_grad = cuda.jit(device=True)(prelu.prelu_slope_grad)


@cuda.jit
def _prelu_forward_kernel(x, weight, channels, size, out):
    """x, out flat views of (N, C, S); element i is in channel (i // S) % C. One thread per element."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        slope = weight[0] if weight.size == 1 else weight[(i // size) % channels]
        out[i] = leaky_relu(x[i], slope)


@cuda.jit
def _prelu_backward_kernel(grad_output, x, weight, grad_input, channel_sums):
    """Block c owns channel c of x (N, C, S): grad_input there, and channel_sums[c] = its slope gradient.

    The block's threads take the channel's N * S values in turn (thread t: values t, t + THREADS,
    ...), each keeps its own float64 sum, and ``block_sum`` adds the THREADS sums.
    """
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    n_batch, _, size = x.shape
    c = cuda.blockIdx.x
    slope = weight[0] if weight.size == 1 else weight[c]
    acc = 0.0
    for e in range(cuda.threadIdx.x, n_batch * size, THREADS):
        n, s = e // size, e % size
        grad_input[n, c, s] = leaky_relu_grad(grad_output[n, c, s], x[n, c, s], slope)
        acc += prelu_slope_grad(grad_output[n, c, s], x[n, c, s])
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


def prelu_forward_cuda(x, weight):
    """CUDA tier of ``prelu_forward_reference``."""
    out = empty_like(x)
    channels = x.shape[1]
    size = x.size // (x.shape[0] * channels) if x.size else 1
    _prelu_forward_kernel[blocks(x.size), THREADS](x.ravel(), weight, channels, size, out.ravel())
    return out


def prelu_backward_cuda(grad_output, x, weight):
    """CUDA tier of ``prelu_backward_reference``: ``(grad_input, grad_weight)``."""
    grad_input = empty_like(x)
    channels = x.shape[1]
    channel_sums = empty(channels, np.float64)
    _prelu_backward_kernel[channels, THREADS](
        _as_planes(grad_output), _as_planes(x), weight, _as_planes(grad_input), channel_sums
    )
    grad_weight = empty(weight.shape, x.dtype)
    _prelu_slope_gradient_kernel[1, THREADS](channel_sums, grad_weight)
    return grad_input, grad_weight
