"""Input checks shared by every op and layer.

Every check raises an error that names the layer, what it expected and what it received,
so that a learner who feeds a layer the wrong thing is told how to fix it. Nothing here is
clever: each function is a handful of ``if`` statements.
"""

from __future__ import annotations

import numpy as np

from tinysr.device import is_device_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_array(x, *, name: str, layer: str, ndim: int | None = None) -> np.ndarray:
    """Return ``x`` if it is a float32/float64 array (with ``ndim`` dimensions), else raise.

    A NumPy array, or a C-contiguous numba.cuda device array (the CUDA kernels index flat memory).
    Raises ``TypeError`` for a non-array or a non-float dtype (integers, bool, float16) and
    ``ValueError`` for a wrong number of dimensions or a strided device view.
    """
    on_gpu = is_device_array(x)
    if not on_gpu and not isinstance(x, np.ndarray):
        raise TypeError(
            f"{layer}: expected {name} to be a numpy.ndarray of float32 or float64, "
            f"got {type(x).__name__}"
        )
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{layer}: expected {name} with dtype float32 or float64, got dtype {x.dtype} "
            f"(convert with {name}.astype(np.float32))"
        )
    if ndim is not None and x.ndim != ndim:
        layout = {1: "(C,)", 2: "(N, features)", 4: "(N, C, H, W)"}.get(ndim, f"{ndim} dimensions")
        raise ValueError(
            f"{layer}: expected {name} with {ndim} dimensions {layout}, "
            f"got {x.ndim} dimensions with shape {x.shape}"
        )
    if on_gpu and not x.is_c_contiguous():
        raise ValueError(
            f"{layer}: expected a C-contiguous device array for {name}, got a strided view of shape {x.shape} "
            "(a slice of a device array); copy it into a fresh array first"
        )
    return x


def check_same_device(layer: str, **arrays) -> None:
    """Raise ``TypeError`` unless every non-None array is on the device of the first one (host or GPU)."""
    present = [(name, a) for name, a in arrays.items() if a is not None]
    first_name, first = present[0]
    on_gpu = is_device_array(first)
    for name, a in present[1:]:
        if is_device_array(a) != on_gpu:
            where = "on the GPU (a numba.cuda device array)" if on_gpu else "in host memory (a numpy.ndarray)"
            raise TypeError(
                f"{layer}: expected {name} {where} like {first_name}, got {type(a).__name__}; "
                f"move it with tinysr.to_device({name}, {'cuda' if on_gpu else 'cpu'!r})"
            )


def contiguous(x):
    """``x`` as a C-contiguous array: a copy only for a strided NumPy view (device arrays are checked instead)."""
    return x if is_device_array(x) else np.ascontiguousarray(x)


def check_same_dtype(layer: str, **arrays) -> np.dtype:
    """Raise ``TypeError`` unless every non-None array has the same dtype; return that dtype."""
    present = {name: a for name, a in arrays.items() if a is not None}
    dtypes = {name: a.dtype for name, a in present.items()}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{name}: {dt}" for name, dt in dtypes.items())
        raise TypeError(
            f"{layer}: expected all arrays to share one dtype (no silent casting), got {listing}"
        )
    return next(iter(dtypes.values()))


def check_shape(x: np.ndarray, expected: tuple, *, name: str, layer: str) -> None:
    """Raise ``ValueError`` unless ``x.shape`` matches ``expected`` (``None`` matches any size)."""
    ok = len(x.shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected, x.shape)
    )
    if not ok:
        sizes = ["*" if e is None else str(e) for e in expected]
        shown = f"({sizes[0]},)" if len(sizes) == 1 else "(" + ", ".join(sizes) + ")"
        raise ValueError(f"{layer}: expected {name} of shape {shown}, got {x.shape}")


def check_positive_int(value, *, name: str, layer: str, minimum: int = 1) -> int:
    """Return ``value`` as a Python int if it is an integer >= ``minimum``, else raise ``ValueError``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer}: expected {name} to be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{layer}: expected {name} >= {minimum}, got {value}")
    return int(value)


def pair(value, *, name: str, layer: str, minimum: int) -> tuple[int, int]:
    """Turn ``k`` or ``(kh, kw)`` into ``(kh, kw)`` of ints >= ``minimum`` (PyTorch's convention)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{layer}: expected {name} to be an int or a pair, got {value!r}")
        return (
            check_positive_int(value[0], name=name, layer=layer, minimum=minimum),
            check_positive_int(value[1], name=name, layer=layer, minimum=minimum),
        )
    v = check_positive_int(value, name=name, layer=layer, minimum=minimum)
    return (v, v)


def check_grad_output(grad_output, shape: tuple, dtype: np.dtype, op: str, *, like=None) -> np.ndarray:
    """Check the upstream gradient of a backward pass: the output's shape and dtype; return it contiguous.

    ``like``: an array of the forward pass; ``grad_output`` must be on its device.
    """
    if like is not None:
        check_same_device(op, x=like, grad_output=grad_output)
    check_float_array(grad_output, name="grad_output", layer=op)
    if grad_output.dtype != dtype:
        raise TypeError(
            f"{op}: expected grad_output with dtype {dtype} to match the forward input, got dtype {grad_output.dtype}"
        )
    if tuple(grad_output.shape) != tuple(shape):
        raise ValueError(f"{op}: expected grad_output of shape {tuple(shape)} (the output's), got {grad_output.shape}")
    return contiguous(grad_output)


def check_weighted_arrays(layer: str, x, weight, bias, *, ndim: int) -> None:
    """The arrays of an op with a weight (conv2d, conv_transpose2d, linear): x and weight ``ndim``-D,
    bias 1-D or None, all on one device and of one dtype."""
    check_float_array(x, name="x", layer=layer, ndim=ndim)
    check_float_array(weight, name="weight", layer=layer, ndim=ndim)
    if bias is not None:
        check_float_array(bias, name="bias", layer=layer, ndim=1)
    check_same_device(layer, x=x, weight=weight, bias=bias)
    check_same_dtype(layer, x=x, weight=weight, bias=bias)
