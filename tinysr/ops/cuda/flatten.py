"""numba.cuda tier of ``tinysr/ops/flatten.py``: ``(N, *) -> (N, prod(*))`` and back, on the GPU.

A C-order flatten only renames positions, so both passes are a copy (one thread per element)
into a fresh array of the new shape; like the CPU tier, the output never aliases the input.
"""

from __future__ import annotations

import math

from tinysr.ops.cuda._common import check_device_array
from tinysr.ops.cuda.arrays import copy

__all__ = ["flatten_backward", "flatten_forward"]

_OP = "flatten"


def flatten_forward(x) -> tuple:
    """``out`` (N, prod(*)), a fresh device array; ``cache = (x.shape, x.dtype)``."""
    check_device_array(x, name="x", op=_OP)
    if x.ndim < 2:
        raise ValueError(f"{_OP}: expected x with at least 2 dimensions (N, *), got shape {x.shape}")
    out = copy(x).reshape(x.shape[0], math.prod(x.shape[1:]))
    return out, (tuple(x.shape), x.dtype)


def flatten_backward(grad_output, cache: tuple):
    """``grad_output`` (N, prod(*)) reshaped to ``x.shape``, as a fresh device array."""
    in_shape, dtype = cache
    check_device_array(grad_output, name="grad_output", op=_OP)
    expected = (in_shape[0], math.prod(in_shape[1:]))
    if tuple(grad_output.shape) != expected:
        raise ValueError(f"{_OP}: expected grad_output of shape {expected} (the output's), got {grad_output.shape}")
    if grad_output.dtype != dtype:
        raise TypeError(f"{_OP}: expected grad_output with dtype {dtype} to match x, got dtype {grad_output.dtype}")
    return copy(grad_output).reshape(in_shape)
