"""The Numba tier: ``tinysr/ops/cpu/NAME.py`` computes what ``tinysr/ops/NAME.py``'s reference computes, fast.

Each file here mirrors an op file and names the reference it must equal; tests hold it to that
reference (within 1e-10 in float64). Read the op file first: the equations and the NumPy
reference are there; here is only the machinery that makes them fast on a CPU (``prange`` loops
over independent outputs, BLAS products, cache-sized blocks).

Numba caches the compiled kernels on disk (``@njit(cache=True)``), but its cache only watches the
kernel's own file: after editing a rule in ``tinysr/ops/NAME.py`` that a kernel here calls, or
``blas.py``, delete the stale cache with ``find tinysr -name '*.nb[ic]' -delete`` (or run with
``NUMBA_CACHE_DIR`` set to a fresh folder). ``NUMBA_DISABLE_JIT=1`` runs every kernel as plain
Python, to step through it in a debugger.
"""
