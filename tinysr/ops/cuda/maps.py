"""Elementwise kernels made from a scalar rule: ``out[i] = rule(a[i], ...)`` and ``sum_i rule(a[i], b[i])``.

An op's scalar rule (``relu``, ``mse``, ``adam`` ...) is written once, as a plain function beside
its NumPy reference in ``tinysr/ops/NAME.py``. ``elementwise(rule, ...)`` compiles it for the
GPU with ``cuda.jit(device=True)`` and wraps it in a grid-stride loop (``_common``), as
minitorch's ``tensor_map`` does; ``summed(rule)`` does the same for the first step of a sum.
(The CPU tier writes its ``prange`` loops out one by one instead: Numba cannot cache a CPU
kernel made by a factory, see ``tinysr/ops/cpu/activations.py``. CUDA kernels are compiled
in every process anyway.)
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinysr.ops.cuda._common import THREADS, block_sum, blocks, empty, reduction_blocks, sum_to_host


def elementwise(rule, arrays: int, scalars: int = 0):
    """A launcher ``run(*flat_arrays, *scalars, out)`` computing ``out[i] = rule(array_0[i], ..., scalar_0, ...)``.

    ``arrays``: 1 or 2 flat device arrays of out's size; ``scalars``: 0 or 1 numbers passed as they are.
    """
    device_rule = cuda.jit(device=True)(rule)
    if (arrays, scalars) == (1, 0):
        def kernel(a, out):
            for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                out[i] = device_rule(a[i])
    elif (arrays, scalars) == (2, 0):
        def kernel(a, b, out):
            for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                out[i] = device_rule(a[i], b[i])
    elif (arrays, scalars) == (1, 1):
        def kernel(a, p, out):
            for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                out[i] = device_rule(a[i], p)
    elif (arrays, scalars) == (2, 1):
        def kernel(a, b, p, out):
            for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
                out[i] = device_rule(a[i], b[i], p)
    else:
        raise ValueError(f"elementwise: no kernel for {arrays} arrays and {scalars} scalars")
    kernel = cuda.jit(_named(kernel, rule))

    def run(*args) -> None:
        kernel[blocks(args[-1].size), THREADS](*args)

    run.kernel = kernel
    return run


def summed(rule, arrays: int = 2):
    """A function ``total(*flat_arrays) -> float``: ``sum_i rule(a[i], b[i])`` (or ``rule(a[i])``) in float64.

    Step 1, the kernel made here: each block adds up its threads' grid-stride sums with
    ``block_sum`` and writes one partial sum; step 2, ``sum_to_host``, adds the partial sums.
    """
    device_rule = cuda.jit(device=True)(rule)
    if arrays == 2:
        def kernel(a, b, partials):
            partial = cuda.shared.array(THREADS, dtype=np.float64)
            acc = 0.0
            for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
                acc += device_rule(a[i], b[i])
            acc = block_sum(partial, acc)
            if cuda.threadIdx.x == 0:
                partials[cuda.blockIdx.x] = acc
    else:
        def kernel(a, partials):
            partial = cuda.shared.array(THREADS, dtype=np.float64)
            acc = 0.0
            for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
                acc += device_rule(a[i])
            acc = block_sum(partial, acc)
            if cuda.threadIdx.x == 0:
                partials[cuda.blockIdx.x] = acc
    kernel = cuda.jit(_named(kernel, rule))

    def total(*flat_arrays) -> float:
        n_blocks = reduction_blocks(flat_arrays[0].size)
        partials = empty(n_blocks, np.float64)
        kernel[n_blocks, THREADS](*flat_arrays, partials)
        return sum_to_host(partials)

    total.kernel = kernel
    return total


def _named(kernel, rule):
    """Name the kernel after its rule (``elementwise.<locals>.relu``), so that profiles and tests tell them apart."""
    kernel.__qualname__ = f"{kernel.__qualname__.rsplit('.', 1)[0]}.{rule.__name__}"
    return kernel
