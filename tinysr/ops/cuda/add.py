"""numba.cuda tier of ``tinysr/ops/add.py``: the residual add ``out = a + b`` and its gradient on the GPU.

The CPU kernel ``for i in prange(a.size): out[i] = a[i] + b[i]`` becomes one thread per element
(a grid-stride loop, see ``_common``). The backward pass copies ``grad_output`` into two fresh arrays, one per
branch, in one kernel. The inputs were checked by ``tinysr.ops.add``.
"""

from __future__ import annotations

from numba import cuda

from tinysr.ops.cuda._common import THREADS, blocks, empty_like

__all__ = ["add_backward_cuda", "add_forward_cuda"]


@cuda.jit
def _add_kernel(a, b, out):
    for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        out[i] = a[i] + b[i]


@cuda.jit
def _copy_twice_kernel(source, first, second):
    for i in range(cuda.grid(1), source.size, cuda.gridsize(1)):
        first[i] = source[i]
        second[i] = source[i]


def add_forward_cuda(a, b):
    """``add_forward_reference`` for device arrays of one shape and dtype: ``a + b``."""
    out = empty_like(a)
    _add_kernel[blocks(a.size), THREADS](a.ravel(), b.ravel(), out.ravel())
    return out


def add_backward_cuda(grad_output) -> tuple:
    """``add_backward_reference`` on the GPU: ``(grad_output, grad_output)``, two fresh device arrays."""
    grad_a, grad_b = empty_like(grad_output), empty_like(grad_output)
    _copy_twice_kernel[blocks(grad_output.size), THREADS](grad_output.ravel(), grad_a.ravel(), grad_b.ravel())
    return grad_a, grad_b
