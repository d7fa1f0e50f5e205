"""numba.cuda tier of ``tinysr/ops/flatten.py``: ``(N, *) -> (N, prod(*))`` and back, on the GPU.

A C-order flatten only renames positions, so both passes are a copy (one thread per element)
into a fresh array of the new shape; like the CPU tier, the output never aliases the input. The
inputs were checked by ``tinysr.ops.flatten``.
"""

from __future__ import annotations

import math

from tinysr.ops.cuda.arrays import copy

__all__ = ["flatten_backward_cuda", "flatten_forward_cuda"]


def flatten_forward_cuda(x):
    """``flatten_forward_reference`` for a device array: (N, *) -> (N, prod(*)), a fresh array."""
    return copy(x).reshape(x.shape[0], math.prod(x.shape[1:]))


def flatten_backward_cuda(grad_output, in_shape: tuple):
    """``flatten_backward_reference`` on the GPU: grad_output (N, prod(*)) reshaped to ``in_shape``, a fresh array."""
    return copy(grad_output).reshape(in_shape)
