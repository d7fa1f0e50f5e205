"""numba.cuda tier of ``tinysr/ops/activations.py``: ReLU, LeakyReLU, sigmoid and tanh on the GPU.

The scalar rules are the ones in ``tinysr/ops/activations.py``, compiled for the GPU by
``maps.elementwise``: one thread per element, ``out[i] = rule(x[i])`` (see ``_common`` for how a
CPU ``prange`` loop becomes a grid of threads). Every function equals the ``*_reference``
function of the same name there, element for element, sub-gradients at the kinks included.
The public ops in ``tinysr/ops/activations.py`` have checked the arrays already (C-contiguous
device arrays of one dtype and the right shapes).
"""

from __future__ import annotations

from tinysr.ops import activations as rules
from tinysr.ops.cuda._common import empty_like
from tinysr.ops.cuda.maps import elementwise

_relu = elementwise(rules.relu, arrays=1)
_relu_grad = elementwise(rules.relu_grad, arrays=2)
_leaky_relu = elementwise(rules.leaky_relu, arrays=1, scalars=1)
_leaky_relu_grad = elementwise(rules.leaky_relu_grad, arrays=2, scalars=1)
_sigmoid = elementwise(rules.sigmoid, arrays=1)
_sigmoid_grad = elementwise(rules.sigmoid_grad, arrays=2)
_tanh = elementwise(rules.tanh, arrays=1)
_tanh_grad = elementwise(rules.tanh_grad, arrays=2)


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
