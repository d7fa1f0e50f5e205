"""The Numba tier: ``tinysr/ops/cpu/NAME.py`` computes what ``tinysr/ops/NAME.py``'s reference computes, fast.

Each file here mirrors an op file and names the reference it must equal; tests hold it to that
reference (within 1e-10 in float64). Read the op file first: the equations and the NumPy
reference are there; here is only the machinery that makes them fast on a CPU (``prange`` loops
over independent outputs, BLAS products, cache-sized blocks).

Numba caches the compiled kernels on disk (``@njit(cache=True)``), but its cache only watches the
kernel's own file, and the kernels here call the scalar rules of ``tinysr/ops/NAME.py``. So on
import, ``drop_stale_caches`` deletes the cached kernels of ``cpu/NAME.py`` that are older than
``NAME.py`` (or than another op file whose rules they compile, ``RULES_FROM``): an edited rule is
compiled afresh. (After editing ``blas.py`` or ``conv2d_planes.py``,
delete the cache by hand: ``find tinysr -name '*.nb[ic]' -delete``.) ``NUMBA_DISABLE_JIT=1`` runs
every kernel as plain Python, to step through it in a debugger.
"""

from __future__ import annotations

from pathlib import Path

#: the op files whose scalar rules ``cpu/NAME.py`` compiles, where that is more than ``NAME.py``
#: (PReLU's elements follow leaky ReLU's rules, which live in activations.py)
RULES_FROM = {"prelu": ("prelu", "activations")}


def drop_stale_caches(ops_folder: Path, cache_folder: Path) -> list[Path]:
    """Delete the Numba cache files ``cache_folder/NAME.*.nbi|nbc`` older than their rules; return them.

    The rules of ``NAME`` are ``ops_folder/NAME.py`` and the files ``RULES_FROM[NAME]`` names. One
    listing of the cache folder and a few ``stat`` calls per cache file: this runs at every import.
    """
    dropped = []
    if not cache_folder.is_dir():
        return dropped
    for cached in cache_folder.iterdir():
        if cached.suffix not in (".nbi", ".nbc"):
            continue
        name = cached.name.split(".", 1)[0]
        rules_files = [ops_folder / f"{rules}.py" for rules in RULES_FROM.get(name, (name,))]
        try:
            newest = max((path.stat().st_mtime for path in rules_files if path.is_file()), default=None)
            if newest is not None and cached.stat().st_mtime < newest:
                cached.unlink()
                dropped.append(cached)
        except OSError:  # a read-only install, or another process got there first
            pass
    return dropped

drop_stale_caches(Path(__file__).parent.parent, Path(__file__).parent / "__pycache__")
