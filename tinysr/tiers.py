"""Which tier runs an op: the NumPy reference, the Numba CPU kernels, or the numba.cuda kernels.

Every op has three implementations with one signature (README, "How an op is built"):

* ``"reference"``: plain NumPy, the maths as written in the op's docstring: slow, obviously right;
* ``"numba"``: the compiled CPU kernels, the default for NumPy arrays;
* ``"cuda"``: the numba.cuda kernels, the only tier for arrays on the GPU.

By default an op runs the fastest tier for the device its arrays are on. A learner can choose
another for everything inside a ``with`` block, layers, losses and optimizers included::

    import tinysr

    with tinysr.tier("reference"):            # the whole network on the NumPy reference
        out = model.forward(x)
        model.backward(grad_out)

The ``backend=`` argument of an op, a loss or an optimizer chooses for that call or object alone
and wins over the block. A CPU tier for GPU arrays, or ``"cuda"`` for NumPy arrays, is an error
that says so: nothing is silently run elsewhere than asked.
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from tinysr.device import is_device_array

__all__ = ["TIERS", "check_backend", "choose_tier", "current_tier", "tier", "tier_function"]

#: the tiers every op has, slowest first
TIERS = ("reference", "numba", "cuda")
CPU_TIERS = ("reference", "numba")

#: the tier chosen by the innermost ``with tinysr.tier(...)`` block (None: the fastest)
_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("tinysr_tier", default=None)


@contextmanager
def tier(name: str) -> Iterator[str]:
    """Run every op inside the block on tier ``name``: "reference", "numba" or "cuda" (GPU arrays)."""
    if name not in TIERS:
        raise ValueError(f"tinysr.tier: unknown tier {name!r}, expected one of {', '.join(map(repr, TIERS))}")
    token = _chosen.set(name)
    try:
        yield name
    finally:
        _chosen.reset(token)


def current_tier() -> str | None:
    """The tier chosen by the innermost ``with tinysr.tier(...)`` block, or None outside any."""
    return _chosen.get()


def choose_tier(array, backend: str | None, op: str) -> str:
    """The tier that runs ``op`` on ``array`` (its first input): the one rule every op, loss and optimizer uses.

    ``backend`` (an argument of the call) wins, then the innermost ``tinysr.tier`` block, then the
    fastest tier for the array's device: "cuda" for a GPU array, "numba" for a NumPy array.
    Raises ``ValueError`` for an unknown name or a tier of the other device.
    """
    wanted = backend if backend is not None else _chosen.get()
    on_gpu = is_device_array(array)
    if wanted is None:
        return "cuda" if on_gpu else "numba"
    how = "backend" if backend is not None else "tinysr.tier"
    if on_gpu and wanted != "cuda":
        raise ValueError(f"{op}: {how} {wanted!r} runs on the CPU, but the arrays are on the GPU, where the tier "
                         f"is 'cuda'; move them with tinysr.to_device(x, 'cpu') to run {wanted!r}")
    if not on_gpu and wanted not in CPU_TIERS:
        hint = " ('cuda' runs on GPU arrays: tinysr.to_device(x, 'cuda'))" if wanted == "cuda" else ""
        raise ValueError(f"{op}: unknown {how} {wanted!r}, expected one of 'reference', 'numba' for NumPy "
                         f"arrays{hint}")
    return wanted


def check_backend(backend: str | None, owner: str) -> str | None:
    """The ``backend=`` of a loss or an optimizer: None (follow ``choose_tier``) or a CPU tier, else ``ValueError``.

    An object keeps its choice for every call, whatever arrays come; on GPU arrays the tier is
    always "cuda" (the default), so only the CPU tiers are worth naming here.
    """
    if backend is not None and backend not in CPU_TIERS:
        choices = ", ".join(repr(name) for name in CPU_TIERS)
        raise ValueError(f"{owner}: unknown backend {backend!r}, expected one of {choices}")
    return backend


#: where each tier of ``tinysr/ops/NAME.py`` lives
_TIER_MODULES = {"reference": "tinysr.ops.{}", "numba": "tinysr.ops.cpu.{}", "cuda": "tinysr.ops.cuda.{}"}


def tier_function(tier_name: str, op_file: str, name: str):
    """``NAME_<tier>`` of an op: ``relu_forward_numba`` from ``tinysr/ops/cpu/activations.py``, for example.

    The reference tier is in ``tinysr/ops/<op_file>.py`` itself, the Numba tier in
    ``tinysr/ops/cpu/<op_file>.py``, the CUDA tier in ``tinysr/ops/cuda/<op_file>.py``; all three
    take the same arguments. Imported on first use, so the CPU tiers never import numba.cuda.
    """
    return getattr(importlib.import_module(_TIER_MODULES[tier_name].format(op_file)), f"{name}_{tier_name}")

