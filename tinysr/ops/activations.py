"""Elementwise activations: ReLU, LeakyReLU, sigmoid and tanh (PReLU, with its learned slope: ``prelu.py``).

Every activation maps each element on its own, ``y = f(x)``, so its backward pass is the
chain rule element by element, ``dL/dx = dL/dy * f'(x)``. Shapes: ``x``, ``out``,
``grad_output`` and ``grad_input`` all share one shape, any shape.

Sub-gradients at the kinks follow PyTorch exactly (checked against torch 2.13):

* ``relu'(0) = 0``                       (PyTorch: ``x > 0 ? 1 : 0``)
* ``leaky_relu'(0) = negative_slope``    (PyTorch: ``x > 0 ? 1 : negative_slope``)

Each op follows the tinysr op contract: ``NAME_forward(...) -> (out, cache)`` and
``NAME_backward(grad_output, cache) -> grad_input``,
each dispatching through ``tinysr.tiers`` to a tier with one signature: the NumPy reference
below, ``tinysr/ops/cpu/activations.py`` (Numba) or ``tinysr/ops/cuda/activations.py`` (GPU).

The scalar rules (``relu``, ``relu_grad``, ...) are each rule once, for one element: the Numba
and CUDA tiers compile these very functions (``numba.njit`` and ``cuda.jit(device=True)``) and
apply them to every element; the NumPy reference writes the same rule for whole arrays.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinysr._validation import check_float_array, check_grad_output, contiguous
from tinysr.tiers import choose_tier, tier_function

__all__ = [
    "leaky_relu_backward",
    "leaky_relu_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "tanh_backward",
    "tanh_forward",
]


# --------------------------------------------------------------------------- the scalar rules
# One element in, one element out: ``grad`` is dL/d(out) of that element, the result dL/d(x).


def relu(x):
    """``max(x, 0)``, written ``x <= 0 ? 0 : x`` so that NaN passes through, as in PyTorch."""
    return 0 if x <= 0 else x


def relu_grad(grad, x):
    """``grad * [x > 0]`` (the sub-gradient at 0 is 0; ``x`` may be the output: same sign)."""
    return 0 if x <= 0 else grad


def leaky_relu(x, slope):
    """``x`` where ``x > 0``, else ``slope * x`` (also PReLU, with the channel's slope)."""
    return x if x > 0 else slope * x


def leaky_relu_grad(grad, x, slope):
    """``grad`` where ``x > 0``, else ``slope * grad`` (the sub-gradient at 0 is ``slope``)."""
    return grad if x > 0 else slope * grad


def sigmoid(x):
    """``1 / (1 + exp(-x))``, stable for any ``|x|``: exp only ever sees a non-positive number."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def sigmoid_grad(grad, out):
    """``grad * out * (1 - out)``, from the output ``out = sigmoid(x)``."""
    return grad * out * (1 - out)


def tanh(x):
    """``tanh(x)``."""
    return math.tanh(x)


def tanh_grad(grad, out):
    """``grad * (1 - out**2)``, from the output ``out = tanh(x)``."""
    return grad * (1 - out * out)


# --------------------------------------------------------------------------- the NumPy reference tier


def relu_forward_reference(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``out = max(x, 0)``; NumPy tier (written ``x <= 0 ? 0 : x`` so that NaN passes through, as in PyTorch).

    ``out``: where to write the result (``x`` itself for an in-place ReLU); a new array if ``None``.
    """
    result = np.where(x <= 0, np.zeros((), dtype=x.dtype), x)
    if out is None:
        return result
    np.copyto(out, result)
    return out


def relu_backward_reference(grad_output: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``grad_input = grad_output * [x > 0]``; NumPy tier (``x <= 0 ? 0 : grad_output``, PyTorch's NaN rule)."""
    return np.where(x <= 0, np.zeros((), dtype=x.dtype), grad_output)


def leaky_relu_forward_reference(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """``out = x if x > 0 else negative_slope * x``; NumPy tier."""
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward_reference(grad_output: np.ndarray, x: np.ndarray, negative_slope: float) -> np.ndarray:
    """``grad_input = grad_output * (1 if x > 0 else negative_slope)``; NumPy tier."""
    return np.where(x > 0, grad_output, grad_output * x.dtype.type(negative_slope))


def sigmoid_forward_reference(x: np.ndarray) -> np.ndarray:
    """``out = 1 / (1 + exp(-x))``; NumPy tier, stable for any ``|x|``.

    ``exp`` only ever sees ``-|x| <= 0``, so it cannot overflow: for ``x >= 0`` use
    ``1 / (1 + e)``, for ``x < 0`` the equal ``e / (1 + e)``, with ``e = exp(-|x|)``.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward_reference(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``grad_input = grad_output * out * (1 - out)``; NumPy tier."""
    return grad_output * out * (1 - out)


def tanh_forward_reference(x: np.ndarray) -> np.ndarray:
    """``out = tanh(x)``; NumPy tier."""
    return np.tanh(x)


def tanh_backward_reference(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``grad_input = grad_output * (1 - out**2)``; NumPy tier."""
    return grad_output * (1 - out * out)


# --------------------------------------------------------------------------- the public ops: check once, pick a tier


def _check_input(x, op: str):
    return contiguous(check_float_array(x, name="x", layer=op))


def _check_slope(negative_slope, op: str) -> float:
    if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"{op}: expected negative_slope to be a real number, got {negative_slope!r}")
    if not math.isfinite(negative_slope):
        raise ValueError(f"{op}: expected a finite negative_slope, got {negative_slope}")
    return float(negative_slope)


def _run(tier_name: str, name: str, *args):
    return tier_function(tier_name, "activations", name)(*args)


def relu_forward(x: np.ndarray, *, inplace: bool = False, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Rectified linear unit.

    Forward:  ``out = max(x, 0)``.
    Backward: ``grad_input = grad_output * [x > 0]`` (so the sub-gradient at ``x == 0`` is 0).
    ``out > 0`` exactly where ``x > 0`` (and a NaN stays NaN), so the backward pass can read the
    mask from ``out`` instead of ``x``: that is what lets ReLU overwrite its input, as PyTorch's
    ``inplace=True`` does, and still be differentiated.

    Args:
        x: any shape, float32 or float64 (NumPy or GPU array).
        inplace: write the result into ``x`` and return ``x`` (saves one array the size of ``x``;
            ``x``'s old values are gone, so nothing else may still need them).
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x`` (``x`` itself if ``inplace``); ``cache = (out,)``.
    """
    contiguous_x = _check_input(x, "relu")
    out = _run(choose_tier(x, backend, "relu"), "relu_forward", contiguous_x, contiguous_x if inplace else None)
    if inplace and out is not x:  # x was a strided NumPy view: the result went into a copy
        x[...] = out
    return (x if inplace else out), (out,)


def relu_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`relu_forward`: ``grad_input = grad_output * [x > 0]``, shaped like ``x``.

    ``cache`` is ``(out,)`` from the forward pass; ``(x,)`` gives the same result (``[out > 0] = [x > 0]``).
    """
    (x,) = cache
    grad_output = check_grad_output(grad_output, x.shape, x.dtype, "relu", like=x)
    return _run(choose_tier(x, backend, "relu"), "relu_backward", grad_output, x)


def leaky_relu_forward(
    x: np.ndarray, negative_slope: float = 0.01, *, backend: str | None = None
) -> tuple[np.ndarray, tuple]:
    """Leaky rectified linear unit (PyTorch's default slope 0.01).

    Forward:  ``out = x`` where ``x > 0``, else ``negative_slope * x``.
    Backward: ``grad_input = grad_output`` where ``x > 0``, else ``negative_slope * grad_output``
    (so the sub-gradient at ``x == 0`` is ``negative_slope``, as in PyTorch).

    Args:
        x: any shape, float32 or float64.
        negative_slope: a finite real number.
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x``; ``cache = (x, negative_slope)``.
    """
    negative_slope = _check_slope(negative_slope, "leaky_relu")
    x = _check_input(x, "leaky_relu")
    out = _run(choose_tier(x, backend, "leaky_relu"), "leaky_relu_forward", x, negative_slope)
    return out, (x, negative_slope)


def leaky_relu_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`leaky_relu_forward`, shaped like ``x``."""
    x, negative_slope = cache
    grad_output = check_grad_output(grad_output, x.shape, x.dtype, "leaky_relu", like=x)
    return _run(choose_tier(x, backend, "leaky_relu"), "leaky_relu_backward", grad_output, x, negative_slope)


def sigmoid_forward(x: np.ndarray, *, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Logistic sigmoid, numerically stable for large ``|x|`` (no overflow at ``x = -1e4``).

    Forward:  ``out = 1 / (1 + exp(-x))``.
    Backward: ``grad_input = grad_output * out * (1 - out)``, computed from the cached output.

    Args:
        x: any shape, float32 or float64.
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x``; ``cache = (out,)``.
    """
    x = _check_input(x, "sigmoid")
    out = _run(choose_tier(x, backend, "sigmoid"), "sigmoid_forward", x)
    return out, (out,)


def sigmoid_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`sigmoid_forward`: ``grad_output * out * (1 - out)``, shaped like ``x``."""
    (out,) = cache
    grad_output = check_grad_output(grad_output, out.shape, out.dtype, "sigmoid", like=out)
    return _run(choose_tier(out, backend, "sigmoid"), "sigmoid_backward", grad_output, out)


def tanh_forward(x: np.ndarray, *, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Hyperbolic tangent.

    Forward:  ``out = tanh(x)``.
    Backward: ``grad_input = grad_output * (1 - out**2)``, computed from the cached output.

    Args:
        x: any shape, float32 or float64.
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x``; ``cache = (out,)``.
    """
    x = _check_input(x, "tanh")
    out = _run(choose_tier(x, backend, "tanh"), "tanh_forward", x)
    return out, (out,)


def tanh_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`tanh_forward`: ``grad_output * (1 - out**2)``, shaped like ``x``."""
    (out,) = cache
    grad_output = check_grad_output(grad_output, out.shape, out.dtype, "tanh", like=out)
    return _run(choose_tier(out, backend, "tanh"), "tanh_backward", grad_output, out)


def __getattr__(name: str):
    """``prelu_forward`` and ``prelu_backward`` lived here before PReLU got its own file: still found here."""
    if name in ("prelu_forward", "prelu_backward"):
        from tinysr.ops import prelu

        return getattr(prelu, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
