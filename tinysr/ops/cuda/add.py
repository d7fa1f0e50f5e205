"""numba.cuda tier of ``tinysr/ops/add.py``: the residual add ``out = a + b`` and its gradient on the GPU.

The CPU kernel ``for i in prange(a.size): out[i] = a[i] + b[i]`` becomes one thread per element
(a grid-stride loop, see ``_common``). The backward pass copies ``grad_output`` into two fresh arrays, one per
branch, in one kernel.
"""

from __future__ import annotations

from numba import cuda

from tinysr.ops.cuda._common import THREADS, blocks, check_device_array, check_grad_output, empty_like

__all__ = ["add_backward", "add_forward"]

_OP = "add"


@cuda.jit
def _add_kernel(a, b, out):
    for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        out[i] = a[i] + b[i]


@cuda.jit
def _copy_twice_kernel(source, first, second):
    for i in range(cuda.grid(1), source.size, cuda.gridsize(1)):
        first[i] = source[i]
        second[i] = source[i]


def add_forward(a, b) -> tuple:
    """``out = a + b`` for device arrays of one shape and dtype (no broadcasting); ``cache = (a.shape, a.dtype)``."""
    check_device_array(a, name="a", op=_OP)
    check_device_array(b, name="b", op=_OP)
    if a.dtype != b.dtype:
        raise TypeError(f"{_OP}: expected all arrays to share one dtype (no silent casting), "
                        f"got a: {a.dtype}, b: {b.dtype}")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{_OP}: expected b of the same shape as a {a.shape} (no broadcasting), got b {b.shape}")
    out = empty_like(a)
    _add_kernel[blocks(a.size), THREADS](a.ravel(), b.ravel(), out.ravel())
    return out, (tuple(a.shape), a.dtype)


def add_backward(grad_output, cache: tuple) -> tuple:
    """``(grad_a, grad_b) = (grad_output, grad_output)``, two fresh device arrays."""
    shape, dtype = cache
    check_grad_output(grad_output, shape, dtype, _OP)
    grad_a, grad_b = empty_like(grad_output), empty_like(grad_output)
    _copy_twice_kernel[blocks(grad_output.size), THREADS](grad_output.ravel(), grad_a.ravel(), grad_b.ravel())
    return grad_a, grad_b
