"""Numba tier of ``tinysr/ops/activations.py``: each activation's scalar rule, applied to every element in parallel.

The rules (``relu``, ``relu_grad``, ...) are the ones in ``tinysr/ops/activations.py``, compiled
here with ``numba.njit``; each kernel is a ``prange`` loop that applies one to every element of
flat, contiguous arrays: ``for i in prange(x.size): out[i] = rule(x[i])``. Every function equals
the ``*_reference`` function of the same name there (the same arguments and result).

Why a loop per op and not one generic ``map(rule)`` kernel made by a factory, as minitorch does:
Numba cannot cache a kernel that captures another function (numba#2065, numba#6264), and
compiling each one in every new process (0.2-0.5 s a kernel) would triple tinysr's 0.7 s cold
start. A loop written out per op is cached on disk; its body is still only a call to the rule.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinysr.ops import activations as rules

relu = njit(rules.relu)
relu_grad = njit(rules.relu_grad)
leaky_relu = njit(rules.leaky_relu)
leaky_relu_grad = njit(rules.leaky_relu_grad)
prelu_slope_grad = njit(rules.prelu_slope_grad)
sigmoid = njit(rules.sigmoid)
sigmoid_grad = njit(rules.sigmoid_grad)
tanh = njit(rules.tanh)
tanh_grad = njit(rules.tanh_grad)


@njit(cache=True, parallel=True)
def _relu_map(x, out):
    for i in prange(x.size):
        out[i] = relu(x[i])


@njit(cache=True, parallel=True)
def _relu_grad_map(grad_output, x, grad_input):
    for i in prange(x.size):
        grad_input[i] = relu_grad(grad_output[i], x[i])


@njit(cache=True, parallel=True)
def _leaky_relu_map(x, slope, out):
    for i in prange(x.size):
        out[i] = leaky_relu(x[i], slope)


@njit(cache=True, parallel=True)
def _leaky_relu_grad_map(grad_output, x, slope, grad_input):
    for i in prange(x.size):
        grad_input[i] = leaky_relu_grad(grad_output[i], x[i], slope)


@njit(cache=True, parallel=True)
def _sigmoid_map(x, out):
    for i in prange(x.size):
        out[i] = sigmoid(x[i])


@njit(cache=True, parallel=True)
def _sigmoid_grad_map(grad_output, out, grad_input):
    for i in prange(out.size):
        grad_input[i] = sigmoid_grad(grad_output[i], out[i])


@njit(cache=True, parallel=True)
def _tanh_map(x, out):
    for i in prange(x.size):
        out[i] = tanh(x[i])


@njit(cache=True, parallel=True)
def _tanh_grad_map(grad_output, out, grad_input):
    for i in prange(out.size):
        grad_input[i] = tanh_grad(grad_output[i], out[i])


@njit(cache=True, parallel=True)
def _prelu_map(x, weight, out):
    """x, out (N, C, S): one (n, c) plane per iteration, with that channel's slope."""
    n_batch, channels, size = x.shape
    for plane in prange(n_batch * channels):
        n, c = plane // channels, plane % channels
        slope = weight[0] if weight.shape[0] == 1 else weight[c]
        for s in range(size):
            out[n, c, s] = leaky_relu(x[n, c, s], slope)


# ``reassoc`` lets LLVM split the slope-gradient sum over SIMD lanes (nothing else is relaxed).
@njit(cache=True, parallel=True, fastmath={"reassoc"})
def _prelu_grad_map(grad_output, x, weight, grad_input, partial):
    """grad_input of every plane, and partial[n, c] = that plane's share of the slope gradient.

    Each iteration owns its own cell of ``partial``, so there is no race; the caller sums them.
    """
    n_batch, channels, size = x.shape
    for plane in prange(n_batch * channels):
        n, c = plane // channels, plane % channels
        slope = weight[0] if weight.shape[0] == 1 else weight[c]
        acc = 0.0
        for s in range(size):
            grad_input[n, c, s] = leaky_relu_grad(grad_output[n, c, s], x[n, c, s], slope)
            acc += prelu_slope_grad(grad_output[n, c, s], x[n, c, s])
        partial[n, c] = acc


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)


def _planes(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], a.shape[1], -1)


def relu_forward_numba(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Numba tier of ``relu_forward_reference`` (``out`` may be ``x`` itself)."""
    out = np.empty_like(x) if out is None else out
    _relu_map(_flat(x), _flat(out))
    return out


def relu_backward_numba(grad_output: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Numba tier of ``relu_backward_reference``."""
    grad_input = np.empty_like(x)
    _relu_grad_map(_flat(grad_output), _flat(x), _flat(grad_input))
    return grad_input


def leaky_relu_forward_numba(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """Numba tier of ``leaky_relu_forward_reference``."""
    out = np.empty_like(x)
    # the slope in x's dtype keeps float32 arithmetic in float32, like the reference tier
    _leaky_relu_map(_flat(x), x.dtype.type(negative_slope), _flat(out))
    return out


def leaky_relu_backward_numba(grad_output: np.ndarray, x: np.ndarray, negative_slope: float) -> np.ndarray:
    """Numba tier of ``leaky_relu_backward_reference``."""
    grad_input = np.empty_like(x)
    _leaky_relu_grad_map(_flat(grad_output), _flat(x), x.dtype.type(negative_slope), _flat(grad_input))
    return grad_input


def prelu_forward_numba(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Numba tier of ``prelu_forward_reference``."""
    out = np.empty_like(x)
    _prelu_map(_planes(x), weight, _planes(out))
    return out


def prelu_backward_numba(grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numba tier of ``prelu_backward_reference``: the slope gradient is summed per plane in float64."""
    grad_input = np.empty_like(x)
    partial = np.empty((x.shape[0], x.shape[1]), dtype=np.float64)
    _prelu_grad_map(_planes(grad_output), _planes(x), weight, _planes(grad_input), partial)
    grad_weight = partial.sum().reshape(1) if weight.size == 1 else partial.sum(axis=0)
    return grad_input, grad_weight.astype(x.dtype)


def sigmoid_forward_numba(x: np.ndarray) -> np.ndarray:
    """Numba tier of ``sigmoid_forward_reference``."""
    out = np.empty_like(x)
    _sigmoid_map(_flat(x), _flat(out))
    return out


def sigmoid_backward_numba(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Numba tier of ``sigmoid_backward_reference``."""
    grad_input = np.empty_like(out)
    _sigmoid_grad_map(_flat(grad_output), _flat(out), _flat(grad_input))
    return grad_input


def tanh_forward_numba(x: np.ndarray) -> np.ndarray:
    """Numba tier of ``tanh_forward_reference``."""
    out = np.empty_like(x)
    _tanh_map(_flat(x), _flat(out))
    return out


def tanh_backward_numba(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Numba tier of ``tanh_backward_reference``."""
    grad_input = np.empty_like(out)
    _tanh_grad_map(_flat(grad_output), _flat(out), _flat(grad_input))
    return grad_input
