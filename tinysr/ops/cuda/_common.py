"""What every numba.cuda kernel of tinysr shares: the block size, input checks, and the block-wide sum.

How a CPU loop becomes a CUDA launch
------------------------------------
A Numba CPU kernel runs ``for i in prange(n)`` on a few cores. A CUDA kernel runs the *body* of
that loop on thousands of threads at once: the launch ``kernel[n_blocks, THREADS](args)`` starts
``n_blocks`` blocks of ``THREADS`` threads each, and thread ``threadIdx.x`` of block
``blockIdx.x`` has the global index ``g = blockIdx.x * THREADS + threadIdx.x``
(``cuda.grid(1)``) among the ``G = n_blocks * THREADS`` threads of the grid
(``cuda.gridsize(1)``). The elementwise kernels keep the loop, as a *grid-stride loop*::

    for i in range(cuda.grid(1), n, cuda.gridsize(1)):   # thread g takes i = g, g + G, g + 2G, ...
        out[i] = f(x[i])

``blocks(n)`` launches enough blocks for one element per thread (G >= n), so on the GPU each
thread runs the body once, or not at all in the last, partly used block; the loop only matters
when the grid is capped (huge arrays, or the simulator below).

Threads of one block can share fast on-chip memory (``cuda.shared.array``) and wait for each
other (``cuda.syncthreads()``); threads of different blocks cannot. So a sum over many values is
done in two steps: each thread adds up its own values (a grid-stride loop again), then the
block adds up its threads' partial sums in shared memory (``block_sum``, a tree: 256 -> 128 ->
... -> 1 in 8 steps). Partial sums are kept per block and added up by a second, small kernel,
never with ``+=`` into one cell from many threads (a race; and atomics would make the result
depend on the order in which threads happen to run).

The CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) runs every CUDA thread as a Python thread, so
there the blocks are smaller and the grids capped (``THREADS = 16`` instead of 256, at most 4
blocks, and smaller convolution tiles): the same kernels, only cheaper to simulate.
"""

from __future__ import annotations

import math

from numba import config, cuda

from tinysr._validation import check_float_array

#: True under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1 when numba was imported)
SIMULATOR = bool(config.ENABLE_CUDASIM)

if SIMULATOR:  # two of the simulator's shortcuts race between its threads: see _simulator.py
    from tinysr.ops.cuda import _simulator

    _simulator.make_thread_safe()

#: threads per block of the one-dimensional kernels (a power of two, for ``block_sum``)
THREADS = 16 if SIMULATOR else 256

#: most blocks an elementwise launch starts (then each thread loops over several elements)
MAX_BLOCKS = 4 if SIMULATOR else 1 << 20

#: most blocks a grid-stride sum starts (each writes one partial sum, added up by ``sum_kernel``)
MAX_REDUCTION_BLOCKS = 4 if SIMULATOR else 1024


def blocks(n: int) -> int:
    """Blocks of ``THREADS`` threads for a grid-stride loop over ``n`` elements: one element per thread, capped."""
    return min(max(1, math.ceil(n / THREADS)), MAX_BLOCKS)


def reduction_blocks(n: int) -> int:
    """Blocks for a grid-stride sum over ``n`` values: enough to fill the GPU, at most one per THREADS values."""
    return min(blocks(n), MAX_REDUCTION_BLOCKS)


# --------------------------------------------------------------------------- input checks


def check_device_array(x, *, name: str, op: str, ndim: int | None = None):
    """Return ``x`` if it is a C-contiguous float32/float64 device array (with ``ndim`` dimensions), else raise.

    A NumPy array here means that one argument was left on the host; the rest is
    ``tinysr._validation.check_float_array``, the one check of both devices.
    """
    if not getattr(x, "__cuda_ndarray__", False):
        raise TypeError(
            f"{op}: expected {name} on the GPU (a numba.cuda device array) like the other inputs, "
            f"got {type(x).__name__}; move it with tinysr.to_device({name}, 'cuda')"
        )
    return check_float_array(x, name=name, layer=op, ndim=ndim)


def empty(shape, dtype):
    """An uninitialised device array (``numpy.empty`` on the GPU)."""
    return cuda.device_array(shape, dtype=dtype)


def empty_like(x):
    """An uninitialised device array with the shape and dtype of ``x``."""
    return cuda.device_array(x.shape, dtype=x.dtype)


# --------------------------------------------------------------------------- sums


@cuda.jit(device=True)
def block_sum(partial, value):
    """Sum ``value`` over the THREADS threads of a block; every thread gets the total.

    ``partial`` is a shared array of THREADS cells. Step s adds the upper half of the live
    cells onto the lower half (cell t += cell t + stride), halving ``stride`` until cell 0 holds
    the total: log2(THREADS) steps instead of THREADS - 1 additions in a row. Every thread of
    the block must call it (``syncthreads`` waits for all of them).
    """
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    stride = THREADS // 2
    while stride > 0:
        if t < stride:
            partial[t] += partial[t + stride]
        cuda.syncthreads()
        stride //= 2
    total = partial[0]
    cuda.syncthreads()  # nobody may overwrite partial[0] (in a next call) before everyone has read it
    return total


@cuda.jit
def sum_kernel(values, out):
    """``out[0] = sum(values)`` in float64, by one block: the second step of a two-step sum.

    values (n,) holds the partial sums of the blocks of the first step; thread t adds
    values[t], values[t + THREADS], ..., then ``block_sum`` adds the threads' sums.
    """
    partial = cuda.shared.array(THREADS, dtype=values.dtype)
    total = 0.0
    for i in range(cuda.threadIdx.x, values.size, THREADS):
        total += values[i]
    total = block_sum(partial, total)
    if cuda.threadIdx.x == 0:
        out[0] = total


def sum_to_host(partials) -> float:
    """Add up a float64 device array of partial sums on the GPU and copy the one number back."""
    result = cuda.device_array(1, dtype=partials.dtype)
    sum_kernel[1, THREADS](partials, result)
    return float(result.copy_to_host()[0])
