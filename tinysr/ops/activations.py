"""Elementwise activations: ReLU, LeakyReLU, PReLU, sigmoid and tanh.

Every activation maps each element on its own, ``y = f(x)``, so its backward pass is the
chain rule element by element, ``dL/dx = dL/dy * f'(x)``. Shapes: ``x``, ``out``,
``grad_output`` and ``grad_input`` all share one shape, any shape for relu/leaky_relu/
sigmoid/tanh and ``(N, C, ...)`` (at least 2 dimensions) for prelu.

Sub-gradients at the kinks follow PyTorch exactly (checked against torch 2.13):

* ``relu'(0) = 0``                       (PyTorch: ``x > 0 ? 1 : 0``)
* ``leaky_relu'(0) = negative_slope``    (PyTorch: ``x > 0 ? 1 : negative_slope``)
* ``prelu'(0) = weight``; the slope gradient collects ``x * grad`` wherever ``x <= 0``.

Each op follows the tinysr op contract: ``NAME_forward(...) -> (out, cache)`` and
``NAME_backward(grad_output, cache) -> grad_input`` (prelu: ``(grad_input, grad_weight)``),
each dispatching to a NumPy reference tier and a Numba tier with identical signatures.
The Numba kernels work on flat (or ``(N, C, S)``) views of contiguous arrays.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numba import njit, prange

from tinysr._validation import check_float_array, check_grad_output, check_same_dtype
from tinysr.device import cuda_tier
from tinysr.tiers import choose_tier

__all__ = [
    "leaky_relu_backward",
    "leaky_relu_forward",
    "prelu_backward",
    "prelu_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "tanh_backward",
    "tanh_forward",
]


# --------------------------------------------------------------------------- helpers




def _check_input(x, op: str) -> np.ndarray:
    check_float_array(x, name="x", layer=op)
    return np.ascontiguousarray(x)




def _check_slope(negative_slope, op: str) -> float:
    if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"{op}: expected negative_slope to be a real number, got {negative_slope!r}")
    if not math.isfinite(negative_slope):
        raise ValueError(f"{op}: expected a finite negative_slope, got {negative_slope}")
    return float(negative_slope)


# --------------------------------------------------------------------------- ReLU


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


@njit(cache=True, parallel=True)
def _relu_forward_kernel(x, out):
    for i in prange(x.size):
        # Not max(x, 0): ``x <= 0 ? 0 : x`` lets NaN through, as PyTorch does.
        if x[i] <= 0:
            out[i] = 0
        else:
            out[i] = x[i]


@njit(cache=True, parallel=True)
def _relu_backward_kernel(grad_output, x, grad_input):
    for i in prange(x.size):
        if x[i] <= 0:
            grad_input[i] = 0
        else:
            grad_input[i] = grad_output[i]


def relu_forward_numba(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Numba tier of :func:`relu_forward_reference` (``x`` and ``out`` contiguous; ``out`` may be ``x``)."""
    out = np.empty_like(x) if out is None else out
    _relu_forward_kernel(x.reshape(-1), out.reshape(-1))
    return out


def relu_backward_numba(grad_output: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Numba tier of :func:`relu_backward_reference` (arrays contiguous)."""
    grad_input = np.empty_like(x)
    _relu_backward_kernel(grad_output.reshape(-1), x.reshape(-1), grad_input.reshape(-1))
    return grad_input


_RELU_FORWARD = {"reference": relu_forward_reference, "numba": relu_forward_numba}
_RELU_BACKWARD = {"reference": relu_backward_reference, "numba": relu_backward_numba}


def relu_forward(x: np.ndarray, *, inplace: bool = False, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Rectified linear unit.

    Forward:  ``out = max(x, 0)``.
    Backward: ``grad_input = grad_output * [x > 0]`` (so the sub-gradient at ``x == 0`` is 0).
    ``out > 0`` exactly where ``x > 0`` (and a NaN stays NaN), so the backward pass can read the
    mask from ``out`` instead of ``x``: that is what lets ReLU overwrite its input, as PyTorch's
    ``inplace=True`` does, and still be differentiated.

    Args:
        x: any shape, float32 or float64.
        inplace: write the result into ``x`` and return ``x`` (saves one array the size of ``x``;
            ``x``'s old values are gone, so nothing else may still need them).
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x`` (``x`` itself if ``inplace``); ``cache = (out,)``.
    """
    tier_name = choose_tier(x, backend, "relu")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").relu_forward(x, inplace=inplace)
    contiguous = _check_input(x, "relu")
    out = _RELU_FORWARD[tier_name](contiguous, contiguous if inplace else None)
    if inplace and out is not x:  # x was not contiguous: the result went into a copy
        x[...] = out
    return (x if inplace else out), (out,)


def relu_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`relu_forward`: ``grad_input = grad_output * [x > 0]``, shaped like ``x``.

    ``cache`` is ``(out,)`` from the forward pass; ``(x,)`` gives the same result (``[out > 0] = [x > 0]``).
    """
    tier_name = choose_tier(cache[0], backend, "relu")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").relu_backward(grad_output, cache)
    (x,) = cache
    grad_output = check_grad_output(grad_output, x.shape, x.dtype, "relu")
    return _RELU_BACKWARD[tier_name](grad_output, x)


# --------------------------------------------------------------------------- LeakyReLU


def leaky_relu_forward_reference(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """``out = x if x > 0 else negative_slope * x``; NumPy tier."""
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward_reference(grad_output: np.ndarray, x: np.ndarray, negative_slope: float) -> np.ndarray:
    """``grad_input = grad_output * (1 if x > 0 else negative_slope)``; NumPy tier."""
    return np.where(x > 0, grad_output, grad_output * x.dtype.type(negative_slope))


@njit(cache=True, parallel=True)
def _leaky_relu_forward_kernel(x, negative_slope, out):
    for i in prange(x.size):
        out[i] = x[i] if x[i] > 0 else negative_slope * x[i]


@njit(cache=True, parallel=True)
def _leaky_relu_backward_kernel(grad_output, x, negative_slope, grad_input):
    for i in prange(x.size):
        grad_input[i] = grad_output[i] if x[i] > 0 else negative_slope * grad_output[i]


def leaky_relu_forward_numba(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """Numba tier of :func:`leaky_relu_forward_reference` (``x`` contiguous)."""
    out = np.empty_like(x)
    # The slope in x's dtype keeps float32 arithmetic in float32, like the reference tier.
    _leaky_relu_forward_kernel(x.reshape(-1), x.dtype.type(negative_slope), out.reshape(-1))
    return out


def leaky_relu_backward_numba(grad_output: np.ndarray, x: np.ndarray, negative_slope: float) -> np.ndarray:
    """Numba tier of :func:`leaky_relu_backward_reference` (arrays contiguous)."""
    grad_input = np.empty_like(x)
    _leaky_relu_backward_kernel(
        grad_output.reshape(-1), x.reshape(-1), x.dtype.type(negative_slope), grad_input.reshape(-1)
    )
    return grad_input


_LEAKY_FORWARD = {"reference": leaky_relu_forward_reference, "numba": leaky_relu_forward_numba}
_LEAKY_BACKWARD = {"reference": leaky_relu_backward_reference, "numba": leaky_relu_backward_numba}


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
    tier_name = choose_tier(x, backend, "leaky_relu")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").leaky_relu_forward(x, negative_slope)
    negative_slope = _check_slope(negative_slope, "leaky_relu")
    x = _check_input(x, "leaky_relu")
    out = _LEAKY_FORWARD[tier_name](x, negative_slope)
    return out, (x, negative_slope)


def leaky_relu_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`leaky_relu_forward`, shaped like ``x``."""
    tier_name = choose_tier(cache[0], backend, "leaky_relu")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").leaky_relu_backward(grad_output, cache)
    x, negative_slope = cache
    grad_output = check_grad_output(grad_output, x.shape, x.dtype, "leaky_relu")
    return _LEAKY_BACKWARD[tier_name](grad_output, x, negative_slope)


# --------------------------------------------------------------------------- PReLU


def _prelu_slopes(weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The slope(s) shaped to broadcast against ``x`` of shape ``(N, C, ...)``: ``(1, C, 1, ...)``."""
    shape = [1] * x.ndim
    shape[1] = weight.size  # 1 for a shared slope
    return weight.reshape(shape)


def prelu_forward_reference(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``out[n, c, ...] = x if x > 0 else weight[c] * x`` (``weight[0]`` when shared); NumPy tier."""
    return np.where(x > 0, x, _prelu_slopes(weight, x) * x)


def prelu_backward_reference(
    grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``grad_input = g * (x > 0 ? 1 : w)``, ``grad_weight[c] = sum of g * x where x <= 0``; NumPy tier."""
    positive = x > 0
    grad_input = np.where(positive, grad_output, _prelu_slopes(weight, x) * grad_output)
    contribution = np.where(positive, np.zeros((), dtype=x.dtype), grad_output * x)
    if weight.size == 1:
        grad_weight = contribution.sum().reshape(1)
    else:
        grad_weight = contribution.sum(axis=tuple(a for a in range(x.ndim) if a != 1))
    return grad_input, grad_weight.astype(x.dtype, copy=False)


@njit(cache=True, parallel=True)
def _prelu_forward_kernel(x, weight, out):
    # x, out: (N, C, S) with S = the product of the spatial sizes; one (n, c) plane per iteration.
    n_batch, channels, size = x.shape
    shared = weight.shape[0] == 1
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        slope = weight[0] if shared else weight[c]
        for s in range(size):
            v = x[n, c, s]
            out[n, c, s] = v if v > 0 else slope * v


# ``reassoc`` lets LLVM split the slope-gradient sum over SIMD lanes (nothing else is relaxed).
@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _prelu_backward_kernel(grad_output, x, weight, grad_input, partial):
    # partial[n, c] gets the slope gradient of one plane: each iteration owns its own cell,
    # so there is no race; the caller sums the cells over n (and over c for a shared slope).
    n_batch, channels, size = x.shape
    shared = weight.shape[0] == 1
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        slope = weight[0] if shared else weight[c]
        acc = 0.0
        for s in range(size):
            v = x[n, c, s]
            g = grad_output[n, c, s]
            grad_input[n, c, s] = g if v > 0 else slope * g
            # g * min(v, 0) is g * v where v <= 0 and 0 elsewhere: branch-free, so it vectorises.
            acc += g * min(v, 0.0)
        partial[n, c] = acc


def _as_planes(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], a.shape[1], -1)


def prelu_forward_numba(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Numba tier of :func:`prelu_forward_reference` (arrays contiguous)."""
    out = np.empty_like(x)
    _prelu_forward_kernel(_as_planes(x), weight, _as_planes(out))
    return out


def prelu_backward_numba(
    grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Numba tier of :func:`prelu_backward_reference` (arrays contiguous)."""
    grad_input = np.empty_like(x)
    partial = np.empty((x.shape[0], x.shape[1]), dtype=np.float64)
    _prelu_backward_kernel(_as_planes(grad_output), _as_planes(x), weight, _as_planes(grad_input), partial)
    grad_weight = partial.sum().reshape(1) if weight.size == 1 else partial.sum(axis=0)
    return grad_input, grad_weight.astype(x.dtype)


_PRELU_FORWARD = {"reference": prelu_forward_reference, "numba": prelu_forward_numba}
_PRELU_BACKWARD = {"reference": prelu_backward_reference, "numba": prelu_backward_numba}


def prelu_forward(x: np.ndarray, weight: np.ndarray, *, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Parametric ReLU with a learned slope, shared (``weight`` of shape ``(1,)``) or per channel (``(C,)``).

    Forward:  ``out[n, c, ...] = x[n, c, ...]`` where ``x > 0``, else ``w_c * x[n, c, ...]``,
    with ``w_c = weight[c]`` (per channel) or ``weight[0]`` (shared).

    Backward (``g = grad_output``):
        ``grad_input = g`` where ``x > 0``, else ``w_c * g``  (so ``prelu'(0) = w_c``, as in PyTorch);
        ``grad_weight[c] = sum over n and the spatial positions of g * x`` where ``x <= 0``
        (summed over every position for a shared slope, giving shape ``(1,)``).

    Args:
        x: ``(N, C, ...)``, at least 2 dimensions (``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)``, ...).
        weight: ``(1,)`` or ``(C,)``, same dtype as ``x``.
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x``; ``cache = (x, weight)``.
    """
    tier_name = choose_tier(x, backend, "prelu")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").prelu_forward(x, weight)
    x = check_float_array(x, name="x", layer="prelu")
    check_float_array(weight, name="weight", layer="prelu")
    if x.ndim < 2:
        raise ValueError(f"prelu: expected x with at least 2 dimensions (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    if weight.ndim != 1 or weight.size not in (1, channels):
        raise ValueError(
            f"prelu: expected weight of shape (1,) or (C,) = ({channels},) for x of shape {x.shape}, "
            f"got weight of shape {weight.shape}"
        )
    check_same_dtype("prelu", x=x, weight=weight)
    x = np.ascontiguousarray(x)
    weight = np.ascontiguousarray(weight)
    out = _PRELU_FORWARD[tier_name](x, weight)
    return out, (x, weight)


def prelu_backward(
    grad_output: np.ndarray, cache: tuple, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`prelu_forward`: ``(grad_input, grad_weight)`` shaped like ``x`` and ``weight``."""
    tier_name = choose_tier(cache[0], backend, "prelu")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").prelu_backward(grad_output, cache)
    x, weight = cache
    grad_output = check_grad_output(grad_output, x.shape, x.dtype, "prelu")
    return _PRELU_BACKWARD[tier_name](grad_output, x, weight)


# --------------------------------------------------------------------------- sigmoid


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


@njit(cache=True, parallel=True)
def _sigmoid_forward_kernel(x, out):
    for i in prange(x.size):
        v = x[i]
        if v >= 0:
            out[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            out[i] = e / (1.0 + e)


@njit(cache=True, parallel=True)
def _sigmoid_backward_kernel(grad_output, out, grad_input):
    for i in prange(out.size):
        grad_input[i] = grad_output[i] * out[i] * (1 - out[i])


def sigmoid_forward_numba(x: np.ndarray) -> np.ndarray:
    """Numba tier of :func:`sigmoid_forward_reference` (``x`` contiguous)."""
    out = np.empty_like(x)
    _sigmoid_forward_kernel(x.reshape(-1), out.reshape(-1))
    return out


def sigmoid_backward_numba(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Numba tier of :func:`sigmoid_backward_reference` (arrays contiguous)."""
    grad_input = np.empty_like(out)
    _sigmoid_backward_kernel(grad_output.reshape(-1), out.reshape(-1), grad_input.reshape(-1))
    return grad_input


_SIGMOID_FORWARD = {"reference": sigmoid_forward_reference, "numba": sigmoid_forward_numba}
_SIGMOID_BACKWARD = {"reference": sigmoid_backward_reference, "numba": sigmoid_backward_numba}


def sigmoid_forward(x: np.ndarray, *, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Logistic sigmoid, numerically stable for large ``|x|`` (no overflow at ``x = -1e4``).

    Forward:  ``out = 1 / (1 + exp(-x))``.
    Backward: ``grad_input = grad_output * out * (1 - out)``, computed from the cached output.

    Args:
        x: any shape, float32 or float64.
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x``; ``cache = (out,)``.
    """
    tier_name = choose_tier(x, backend, "sigmoid")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").sigmoid_forward(x)
    x = _check_input(x, "sigmoid")
    out = _SIGMOID_FORWARD[tier_name](x)
    return out, (out,)


def sigmoid_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`sigmoid_forward`: ``grad_output * out * (1 - out)``, shaped like ``x``."""
    tier_name = choose_tier(cache[0], backend, "sigmoid")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").sigmoid_backward(grad_output, cache)
    (out,) = cache
    grad_output = check_grad_output(grad_output, out.shape, out.dtype, "sigmoid")
    return _SIGMOID_BACKWARD[tier_name](grad_output, out)


# --------------------------------------------------------------------------- tanh


def tanh_forward_reference(x: np.ndarray) -> np.ndarray:
    """``out = tanh(x)``; NumPy tier."""
    return np.tanh(x)


def tanh_backward_reference(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``grad_input = grad_output * (1 - out**2)``; NumPy tier."""
    return grad_output * (1 - out * out)


@njit(cache=True, parallel=True)
def _tanh_forward_kernel(x, out):
    for i in prange(x.size):
        out[i] = math.tanh(x[i])


@njit(cache=True, parallel=True)
def _tanh_backward_kernel(grad_output, out, grad_input):
    for i in prange(out.size):
        grad_input[i] = grad_output[i] * (1 - out[i] * out[i])


def tanh_forward_numba(x: np.ndarray) -> np.ndarray:
    """Numba tier of :func:`tanh_forward_reference` (``x`` contiguous)."""
    out = np.empty_like(x)
    _tanh_forward_kernel(x.reshape(-1), out.reshape(-1))
    return out


def tanh_backward_numba(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Numba tier of :func:`tanh_backward_reference` (arrays contiguous)."""
    grad_input = np.empty_like(out)
    _tanh_backward_kernel(grad_output.reshape(-1), out.reshape(-1), grad_input.reshape(-1))
    return grad_input


_TANH_FORWARD = {"reference": tanh_forward_reference, "numba": tanh_forward_numba}
_TANH_BACKWARD = {"reference": tanh_backward_reference, "numba": tanh_backward_numba}


def tanh_forward(x: np.ndarray, *, backend: str | None = None) -> tuple[np.ndarray, tuple]:
    """Hyperbolic tangent.

    Forward:  ``out = tanh(x)``.
    Backward: ``grad_input = grad_output * (1 - out**2)``, computed from the cached output.

    Args:
        x: any shape, float32 or float64.
    Returns:
        ``(out, cache)`` with ``out`` shaped like ``x``; ``cache = (out,)``.
    """
    tier_name = choose_tier(x, backend, "tanh")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").tanh_forward(x)
    x = _check_input(x, "tanh")
    out = _TANH_FORWARD[tier_name](x)
    return out, (out,)


def tanh_backward(grad_output: np.ndarray, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`tanh_forward`: ``grad_output * (1 - out**2)``, shaped like ``x``."""
    tier_name = choose_tier(cache[0], backend, "tanh")
    if tier_name == "cuda":  # on the GPU: the numba.cuda tier, tinysr/ops/cuda/activations.py
        return cuda_tier("activations").tanh_backward(grad_output, cache)
    (out,) = cache
    grad_output = check_grad_output(grad_output, out.shape, out.dtype, "tanh")
    return _TANH_BACKWARD[tier_name](grad_output, out)
