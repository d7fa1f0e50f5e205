"""Numba tier of ``tinysr/ops/activations.py``: each activation's scalar rule, applied to every element in parallel.

The rules (``relu``, ``relu_grad``, ...) are the ones in ``tinysr/ops/activations.py``, compiled
here with ``numba.njit``; each kernel is a ``prange`` loop that applies one to every element of
flat, contiguous arrays: ``for i in prange(x.size): out[i] = rule(x[i])``. Every function equals
the ``*_reference`` function of the same name there (the same arguments and result).
One exception, for speed: float32 tanh is ``tanh_float32`` below, a rational function that LLVM
can vectorise (within 4e-7 of tanh), instead of one libm call per element.

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

# tanh in float32 as a rational function (Eigen's ``generic_fast_tanh_float``): tanh(v) ~ v p(v^2) / q(v^2)
# on [-C, C]; beyond C, tanh rounds to +-1 in float32. Why not the rule: ``math.tanh`` is a libm call per
# element (about 27 ns here), which LLVM cannot vectorise; this is multiplies, adds and one division, which
# it can: 16.7 million elements in about 9 ms instead of 620 ms on one core (ESPCN's two tanh layers were
# most of its time). Against float64 tanh, on a dense grid of [-20, 20] and at the float32 extremes: at
# most 4e-7 off, relative error at most 3e-7 (tests/test_ops_activations.py holds it to that).
_TANH_CLAMP = np.float32(7.90531110763549805)
_P1, _P3, _P5, _P7 = (np.float32(a) for a in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                              5.12229709037114e-08))
_P9, _P11, _P13 = (np.float32(a) for a in (-8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
_Q0, _Q2, _Q4, _Q6 = (np.float32(b) for b in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                              1.19825839466702e-06))


@njit(inline="always")  # inlined into the loop (Numba IR), so that LLVM vectorises it: 6 ms, not 93 ms
def tanh_float32(v):
    """``tanh(v)`` for a float32 ``v``, within 4e-7: ``v * (p(v^2) / q(v^2))`` after clamping to [-C, C].

    The clamp is two comparisons, so that NaN passes through (NaN > C is false); ``v * (p / q)``
    rather than ``(v * p) / q`` keeps tiny and subnormal ``v`` exact (tanh(v) = v there).
    """
    v = _TANH_CLAMP if v > _TANH_CLAMP else v
    v = -_TANH_CLAMP if v < -_TANH_CLAMP else v
    v2 = v * v
    p = ((((((_P13 * v2 + _P11) * v2 + _P9) * v2 + _P7) * v2 + _P5) * v2 + _P3) * v2 + _P1)
    q = ((_Q6 * v2 + _Q4) * v2 + _Q2) * v2 + _Q0
    return v * (p / q)


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
def _tanh_float32_map(x, out):
    for i in prange(x.size):
        out[i] = tanh_float32(x[i])


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
    """Numba tier of ``tanh_forward_reference`` (float32: ``tanh_float32``, within 3e-7; float64: libm's tanh)."""
    out = np.empty_like(x)
    (_tanh_float32_map if x.dtype == np.float32 else _tanh_map)(_flat(x), _flat(out))
    return out


def tanh_backward_numba(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Numba tier of ``tanh_backward_reference``."""
    grad_input = np.empty_like(out)
    _tanh_grad_map(_flat(grad_output), _flat(out), _flat(grad_input))
    return grad_input
