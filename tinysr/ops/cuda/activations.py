"""numba.cuda tier of ``tinysr/ops/activations.py``: ReLU, LeakyReLU, PReLU, sigmoid and tanh on the GPU.

The scalar rules are the ones in ``tinysr/ops/activations.py``, compiled for the GPU by
``maps.elementwise``: one thread per element, ``out[i] = rule(x[i])`` (see ``_common`` for how a
CPU ``prange`` loop becomes a grid of threads). Every function equals the ``*_reference``
function of the same name there, element for element, sub-gradients at the kinks included.
The public ops in ``tinysr/ops/activations.py`` have checked the arrays already (C-contiguous
device arrays of one dtype and the right shapes).

PReLU's slope gradient is a sum, ``grad_weight[c] = sum over (n, s) of g * min(x, 0)``: the CPU
kernel gives each (n, c) plane to one ``prange`` iteration; here each channel c gets one block
(``blockIdx.x = c``), whose threads share the channel's N * S values and add them up with
``block_sum``. A shared slope then adds the channels' sums in one more small kernel.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinysr.ops import activations as rules
from tinysr.ops.cuda._common import THREADS, block_sum, blocks, empty, empty_like
from tinysr.ops.cuda.maps import elementwise

_relu = elementwise(rules.relu, arrays=1)
_relu_grad = elementwise(rules.relu_grad, arrays=2)
_leaky_relu = elementwise(rules.leaky_relu, arrays=1, scalars=1)
_leaky_relu_grad = elementwise(rules.leaky_relu_grad, arrays=2, scalars=1)
_sigmoid = elementwise(rules.sigmoid, arrays=1)
_sigmoid_grad = elementwise(rules.sigmoid_grad, arrays=2)
_tanh = elementwise(rules.tanh, arrays=1)
_tanh_grad = elementwise(rules.tanh_grad, arrays=2)
leaky_relu = cuda.jit(device=True)(rules.leaky_relu)
leaky_relu_grad = cuda.jit(device=True)(rules.leaky_relu_grad)
prelu_slope_grad = cuda.jit(device=True)(rules.prelu_slope_grad)


def _apply(kernel, *arrays, scalars=(), out=None):
    """Run a rule's kernel over flat arrays into ``out`` (default: a fresh array shaped like the last input).

    Scalars (a slope) are passed in the arrays' dtype, as the CPU tier does.
    """
    out = empty_like(arrays[-1]) if out is None else out
    kernel(*(a.ravel() for a in arrays), *(arrays[-1].dtype.type(s) for s in scalars), out.ravel())
    return out


def relu_forward_cuda(x, out=None):
    """CUDA tier of ``relu_forward_reference`` (``out`` may be ``x`` itself)."""
    return _apply(_relu, x, out=out)


def relu_backward_cuda(grad_output, x):
    """CUDA tier of ``relu_backward_reference``."""
    return _apply(_relu_grad, grad_output, x)


def leaky_relu_forward_cuda(x, negative_slope: float):
    """CUDA tier of ``leaky_relu_forward_reference`` (the slope in x's dtype, as on the CPU)."""
    return _apply(_leaky_relu, x, scalars=(negative_slope,))


def leaky_relu_backward_cuda(grad_output, x, negative_slope: float):
    """CUDA tier of ``leaky_relu_backward_reference``."""
    return _apply(_leaky_relu_grad, grad_output, x, scalars=(negative_slope,))


def sigmoid_forward_cuda(x):
    """CUDA tier of ``sigmoid_forward_reference``."""
    return _apply(_sigmoid, x)


def sigmoid_backward_cuda(grad_output, out):
    """CUDA tier of ``sigmoid_backward_reference``."""
    return _apply(_sigmoid_grad, grad_output, out)


def tanh_forward_cuda(x):
    """CUDA tier of ``tanh_forward_reference``."""
    return _apply(_tanh, x)


def tanh_backward_cuda(grad_output, out):
    """CUDA tier of ``tanh_backward_reference``."""
    return _apply(_tanh_grad, grad_output, out)


# --------------------------------------------------------------------------- PReLU


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
