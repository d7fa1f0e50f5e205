"""Single-threaded BLAS matrix products that Numba kernels can call: ``gemm`` and ``single_threaded_blas``.

Why this file exists: a convolution is mostly matrix products, and a hand-written Numba loop
reaches about half the FMA peak of this CPU (Numba emits 256-bit vectors), while BLAS reaches
nearly all of it. Numba's ``np.dot`` cannot accumulate into an output (``beta = 1``) nor take a
leading dimension, which the convolution kernels need, so we call BLAS ``sgemm``/``dgemm`` directly.

How: SciPy ships the Fortran BLAS with C-callable wrappers (``scipy.linalg.cython_blas``). We look
up their addresses and register them with LLVM under our own symbol names; the kernels then call
them as ``numba.types.ExternalFunction``. Unlike capturing a ctypes pointer, this keeps
``@njit(cache=True)`` working: the cached machine code refers to the symbol by name, and importing
this module registers the name again in every new process.

Row-major vs column-major: NumPy arrays are row-major, Fortran BLAS is column-major. A row-major
matrix ``A`` (m x k, row stride ``lda``) is the column-major matrix ``A^T`` with the same ``lda``,
and ``C = A @ B`` is ``C^T = B^T @ A^T``; so ``gemm`` swaps the operands before calling BLAS.

Threads: the kernels call ``gemm`` from inside ``prange`` (one image per thread), so BLAS itself
must stay single-threaded, or the two thread pools fight (3-26x slower, see
``shared/notes/numba-performance.md``). ``single_threaded_blas()`` sets SciPy's OpenBLAS to one
thread for the duration of a ``with`` block. (NumPy loads its own, separate OpenBLAS.)

Caching caveat: Numba's on-disk cache of a kernel that calls ``gemm`` does not notice edits to
this file (it only watches the kernel's own file). After changing this file, delete the cached
``tinysr/ops/cpu/__pycache__/*.nbi`` / ``*.nbc`` files.

Debugging: under ``NUMBA_DISABLE_JIT=1`` the kernels run as Python and ``gemm`` below is plain
NumPy, so the same kernels can be stepped through in a debugger.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os

import llvmlite.binding as llvm
import numpy as np
import scipy
from numba import types
from numba.extending import get_cython_function_address, overload
from numpy.lib.stride_tricks import as_strided

__all__ = ["gemm", "single_threaded_blas"]


# OpenBLAS (0.3.2x/0.3.3x, SkylakeX kernels, as in SciPy's wheels) multiplies products of at most
# 100**3 multiply-adds with a "small-matrix" kernel that skips packing the operands. On the
# convolution's thin products (e.g. 32 x 1217 x 64) that kernel ran at ~105-110 GFLOP/s on one core
# against 70-90 for the packed path, so ``gemm`` cuts a larger product into blocks of output
# columns under that size, unless the blocks would get narrower than _MIN_BLOCK columns. For a
# transposed first BLAS operand (our ``trans_b`` without ``trans_a``) the small kernel is also
# refused when the output block has more than 1200 entries. (Measured on this project's machine;
# with another BLAS the split merely costs a little.)
_SMALL_MNK = 1_000_000
_SMALL_TN_MN = 1200
_MIN_BLOCK = 16


def _bind(name: str, real: types.Type) -> types.ExternalFunction:
    """Register SciPy's ``name`` (sgemm/dgemm) as ``tinysr_name`` and return it as a Numba function."""
    symbol = f"tinysr_{name}"
    llvm.add_symbol(symbol, get_cython_function_address("scipy.linalg.cython_blas", name))
    char_p, int_p, real_p = types.CPointer(types.int8), types.CPointer(types.int32), types.CPointer(real)
    # void ?gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc): every argument by pointer
    signature = types.void(
        char_p, char_p, int_p, int_p, int_p, real_p, real_p, int_p, real_p, int_p, real_p, real_p, int_p
    )
    return types.ExternalFunction(symbol, signature)


_sgemm = _bind("sgemm", types.float32)
_dgemm = _bind("dgemm", types.float64)


def gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) -> None:
    """Row-major ``C = alpha * op(A) @ op(B) + beta * C`` in place, on flat arrays with leading dimensions.

    ``a``, ``b``, ``c`` are 1-D contiguous arrays (usually views that start at an offset into a
    bigger buffer). ``C`` is m x n with row stride ``ldc``; ``op(A)`` is m x k: ``A`` is stored
    m x k with row stride ``lda``, or k x m if ``trans_a``; likewise ``op(B)`` is k x n.
    All three share one dtype, float32 (sgemm) or float64 (dgemm).

    This Python body is what runs under ``NUMBA_DISABLE_JIT=1``; compiled kernels call BLAS
    through the ``overload`` below.
    """
    def matrix(flat, rows, cols, ld):
        return as_strided(flat, (rows, cols), (ld * flat.itemsize, flat.itemsize), writeable=False)

    op_a = matrix(a, k, m, lda).T if trans_a else matrix(a, m, k, lda)
    op_b = matrix(b, n, k, ldb).T if trans_b else matrix(b, k, n, ldb)
    out = as_strided(c, (m, n), (ldc * c.itemsize, c.itemsize))
    product = alpha * (op_a @ op_b)
    out[...] = product if beta == 0 else product + beta * out


@overload(gemm, jit_options={"cache": True})
def _gemm_overload(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    blas = _sgemm if a.dtype == types.float32 else _dgemm
    real = np.float32 if a.dtype == types.float32 else np.float64

    def impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        # Column-major view of the row-major problem: C^T = op(B)^T @ op(A)^T, so B goes first.
        flags = np.empty(2, np.int8)
        flags[0] = ord("T") if trans_b else ord("N")
        flags[1] = ord("T") if trans_a else ord("N")
        sizes = np.empty(6, np.int32)
        sizes[1], sizes[2] = m, k
        sizes[3], sizes[4], sizes[5] = ldb, lda, ldc
        scalars = np.empty(2, real)
        scalars[0], scalars[1] = alpha, beta
        # Blocks of output columns small enough for OpenBLAS's small-matrix kernel (see _SMALL_MNK).
        block = _SMALL_MNK // (m * k)
        if trans_b and not trans_a:  # BLAS "TN": the small kernel also needs (block * m) <= _SMALL_TN_MN
            block = min(block, _SMALL_TN_MN // m)
        if block < _MIN_BLOCK or block >= n:
            block = n
        else:
            block = -(-n // -(-n // block))  # equal blocks: ceil(n / number of blocks)
        for start in range(0, n, block):
            sizes[0] = min(block, n - start)
            b_start = b[start * ldb:] if trans_b else b[start:]
            blas(flags[0:].ctypes, flags[1:].ctypes, sizes[0:].ctypes, sizes[1:].ctypes, sizes[2:].ctypes,
                 scalars[0:].ctypes, b_start.ctypes, sizes[3:].ctypes, a.ctypes, sizes[4:].ctypes,
                 scalars[1:].ctypes, c[start:].ctypes, sizes[5:].ctypes)

    return impl


def _scipy_openblas() -> ctypes.CDLL | None:
    """SciPy's bundled OpenBLAS, or None when SciPy was built against another BLAS."""
    libs = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*.so*")):
        lib = ctypes.CDLL(path)
        if hasattr(lib, "scipy_openblas_set_num_threads"):
            return lib
    return None


_OPENBLAS = _scipy_openblas()


@contextlib.contextmanager
def single_threaded_blas():
    """Run the ``with`` block with SciPy's OpenBLAS on one thread, then restore its thread count."""
    if _OPENBLAS is None:
        yield
        return
    before = _OPENBLAS.scipy_openblas_get_num_threads()
    _OPENBLAS.scipy_openblas_set_num_threads(1)
    try:
        yield
    finally:
        _OPENBLAS.scipy_openblas_set_num_threads(before)
