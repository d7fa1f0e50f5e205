"""Where arrays live: in host memory (NumPy arrays) or on an NVIDIA GPU (numba.cuda device arrays).

tinysr has no tensor class of its own. An array on the GPU is a ``numba.cuda`` device array
(``DeviceNDArray``), and every op looks at its input: a NumPy array runs the CPU kernels of
``tinysr/ops/NAME.py``, a device array the numba.cuda kernels of ``tinysr/ops/cuda/NAME.py``,
whose results stay on the GPU. So a network whose parameters and input are on the GPU runs
forward, backward and the optimizer step there, with no copy to the host between layers::

    import tinysr
    model.to("cuda")                          # parameters, gradients and buffers to the GPU
    x = tinysr.to_device(x, "cuda")           # one host -> device copy per batch
    out = model.forward(x)                    # a device array
    loss = criterion.forward(out, y)          # a Python float: one 8-byte copy back
    model.backward(criterion.backward())
    optimizer.step()                          # updates the device arrays in place
    image = tinysr.to_device(out, "cpu")      # device -> host copy, a NumPy array

``numba.cuda`` is imported only when a GPU is asked for, so the CPU path needs no CUDA package.
It comes from the ``numba-cuda`` package (``pip install "tinysr[cuda]"``). Without a GPU the
kernels still run, slowly, on numba's CUDA simulator, which executes every CUDA thread as a
Python thread: set ``NUMBA_ENABLE_CUDASIM=1`` before numba is imported (that is, in the
environment of a fresh process), and ``"cuda"`` becomes available.

Device arrays do not support NumPy arithmetic: ``a + b`` of two device arrays is an error (and
``numpy.asarray(device_array)`` silently copies to the host), which is why layers add gradients
with ``Parameter.accumulate_grad`` and the helpers below rather than ``+=``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np

__all__ = [
    "DEVICES",
    "DeviceError",
    "add_into",
    "check_device",
    "copy",
    "cuda_available",
    "cuda_tier",
    "device_of",
    "fill",
    "is_device_array",
    "to_device",
    "zeros_like",
]

#: the device names tinysr knows
DEVICES = ("cpu", "cuda")


class DeviceError(RuntimeError):
    """The GPU was asked for but cannot be used; the message is one line that says why."""


def is_device_array(x) -> bool:
    """True for a numba.cuda device array (including the simulator's), without importing numba.cuda.

    Every numba.cuda array class carries the marker ``__cuda_ndarray__ = True``.
    """
    return bool(getattr(x, "__cuda_ndarray__", False))


def device_of(x) -> str:
    """``"cuda"`` for a device array, ``"cpu"`` for anything else (a NumPy array)."""
    return "cuda" if is_device_array(x) else "cpu"


def _simulator_requested() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def _unavailable_reason() -> str | None:
    """Why the GPU cannot be used, or None when it can."""
    if importlib.util.find_spec("numba_cuda") is None and not _simulator_requested():
        return 'the numba-cuda package is not installed (pip install "tinysr[cuda]")'
    from numba import cuda

    if not cuda.is_available():
        return ("numba.cuda found no usable NVIDIA GPU or driver "
                "(NUMBA_ENABLE_CUDASIM=1 runs the kernels on the CPU simulator, slowly)")
    return None


def cuda_available() -> bool:
    """True when ``"cuda"`` can be used: numba-cuda and a GPU with its driver, or the CUDA simulator."""
    return _unavailable_reason() is None


def check_device(device: str) -> str:
    """Return ``device`` (``"cpu"`` or ``"cuda"``) if it can be used; else raise.

    ``ValueError`` for an unknown name; ``DeviceError`` (one line) for ``"cuda"`` without a GPU.
    """
    if device not in DEVICES:
        raise ValueError(f"expected device 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        reason = _unavailable_reason()
        if reason is not None:
            raise DeviceError(f"device 'cuda' is not available: {reason}")
    return device


def to_device(x, device: str = "cuda"):
    """Return ``x`` on ``device``: a device array for ``"cuda"``, a NumPy array for ``"cpu"``.

    An array already there is returned as it is (no copy); otherwise it is copied (a
    non-contiguous NumPy array, or one with a stride of 0 such as ``x[None]``, is made
    C-contiguous first). Raises ``DeviceError`` for
    ``"cuda"`` without a usable GPU and ``TypeError`` for anything but an array.
    """
    check_device(device)
    if not (isinstance(x, np.ndarray) or is_device_array(x)):
        raise TypeError(f"to_device: expected a numpy.ndarray or a numba.cuda device array, got {type(x).__name__}")
    if device == "cpu":
        return x.copy_to_host() if is_device_array(x) else x
    if is_device_array(x):
        return x
    from numba import cuda

    host = np.ascontiguousarray(x)
    if host.size and 0 in host.strides:
        # x[None] is C-contiguous to NumPy with a stride of 0 on the new axis, but numba.cuda keeps
        # the strides and counts a 0 stride as broadcast, not contiguous: the kernels would refuse it
        host = host.copy()
    return cuda.to_device(host)


def cuda_tier(op_file: str):
    """The numba.cuda tier of ``tinysr/ops/<op_file>.py``: the module ``tinysr/ops/cuda/<op_file>.py``.

    Imported on first use, so that the CPU tiers never import numba.cuda.
    """
    return importlib.import_module(f"tinysr.ops.cuda.{op_file}")


# --------------------------------------------------------------------------- on either device
# What layers and optimizers need beyond the ops, for NumPy and device arrays alike: on the host
# these are one NumPy expression, on the GPU a small kernel of tinysr/ops/cuda/arrays.py.


def zeros_like(x):
    """``numpy.zeros_like(x)`` on the device of ``x``."""
    return cuda_tier("arrays").zeros_like(x) if is_device_array(x) else np.zeros_like(x)


def fill(x, value) -> None:
    """``x[...] = value``, in place, on the device of ``x``."""
    if is_device_array(x):
        cuda_tier("arrays").fill(x, value)
    else:
        x[...] = value


def add_into(target, source) -> None:
    """``target += source``, in place; both on the same device (a gradient into ``Parameter.grad``)."""
    if device_of(target) != device_of(source):
        raise ValueError(f"add_into: expected source on the device of target ({device_of(target)}), "
                         f"got source on {device_of(source)}")
    if is_device_array(target):
        cuda_tier("arrays").add_into(target, source)
    else:
        target += source


def copy(x):
    """A fresh copy of ``x`` on its device (``x.copy()``)."""
    return cuda_tier("arrays").copy(x) if is_device_array(x) else x.copy()


def module_device(model) -> str:
    """Where ``model``'s parameters live: ``"cuda"`` after ``model.to("cuda")``, else ``"cpu"``."""
    for parameter in model.parameters():
        return parameter.device
    return "cpu"


def forward_on_host(model, x: np.ndarray) -> np.ndarray:
    """``model.forward(x)`` for a NumPy ``x``, wherever the model lives; returns a NumPy array.

    On the GPU the input is copied in and the output copied back: one round trip per call, which
    is what inference on whole images and tiles (``tinysr.upscale``, ``tinysr eval``) needs.
    """
    device = module_device(model)
    if device == "cpu":
        return model.forward(x)
    return to_device(model.forward(to_device(x, device)), "cpu")
