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


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)


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
