"""Numba tier of ``tinysr/ops/losses.py``: each loss's two scalar rules, applied to every element.

The rules (``mse``, ``mse_grad``, ...) are the ones in ``tinysr/ops/losses.py``, compiled here with
``numba.njit``. A forward kernel sums ``rule(p[i], y[i])`` in float64 in one plain loop (the sum's
order is the reference's), a backward kernel writes ``rule_grad(p[i], y[i], grad_output / n)``.
Every function equals the ``*_reference`` function of the same name there. (One loop per loss
rather than a generic kernel made by a factory: Numba could not cache that; see
``tinysr/ops/cpu/activations.py``.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinysr.ops import losses as rules

mse = njit(rules.mse)
mse_grad = njit(rules.mse_grad)
l1 = njit(rules.l1)
l1_grad = njit(rules.l1_grad)
bce = njit(rules.bce)
bce_grad = njit(rules.bce_grad)
bce_with_logits = njit(rules.bce_with_logits)
bce_with_logits_grad = njit(rules.bce_with_logits_grad)


@njit(cache=True)
def _mse_sum(prediction, target):
    total = 0.0
    for i in range(prediction.size):
        total += mse(prediction[i], target[i])
    return total


@njit(cache=True)
def _mse_grad_map(scale, prediction, target, grad_input):
    for i in range(prediction.size):
        grad_input[i] = mse_grad(prediction[i], target[i], scale)


@njit(cache=True)
def _l1_sum(prediction, target):
    total = 0.0
    for i in range(prediction.size):
        total += l1(prediction[i], target[i])
    return total


@njit(cache=True)
def _l1_grad_map(scale, prediction, target, grad_input):
    for i in range(prediction.size):
        grad_input[i] = l1_grad(prediction[i], target[i], scale)


@njit(cache=True)
def _bce_sum(prediction, target):
    total = 0.0
    for i in range(prediction.size):
        total += bce(prediction[i], target[i])
    return total


@njit(cache=True)
def _bce_grad_map(scale, prediction, target, grad_input):
    for i in range(prediction.size):
        grad_input[i] = bce_grad(prediction[i], target[i], scale)


@njit(cache=True)
def _bce_with_logits_sum(prediction, target):
    total = 0.0
    for i in range(prediction.size):
        total += bce_with_logits(prediction[i], target[i])
    return total


@njit(cache=True)
def _bce_with_logits_grad_map(scale, prediction, target, grad_input):
    for i in range(prediction.size):
        grad_input[i] = bce_with_logits_grad(prediction[i], target[i], scale)



def _tier(op: str, sum_kernel, grad_kernel):
    """The Numba tier of one loss: ``(NAME_forward_numba, NAME_backward_numba)`` from its two loops."""

    def forward(prediction: np.ndarray, target: np.ndarray) -> float:
        return float(sum_kernel(prediction.reshape(-1), target.reshape(-1)) / prediction.size)

    def backward(grad_output: float, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        grad_input = np.empty_like(prediction)
        grad_kernel(grad_output / prediction.size, prediction.reshape(-1), target.reshape(-1), grad_input.reshape(-1))
        return grad_input

    forward.__name__, backward.__name__ = f"{op}_forward_numba", f"{op}_backward_numba"
    forward.__doc__ = f"Numba tier of ``{op}_forward_reference``."
    backward.__doc__ = f"Numba tier of ``{op}_backward_reference``."
    return forward, backward


mse_loss_forward_numba, mse_loss_backward_numba = _tier("mse_loss", _mse_sum, _mse_grad_map)
l1_loss_forward_numba, l1_loss_backward_numba = _tier("l1_loss", _l1_sum, _l1_grad_map)
bce_loss_forward_numba, bce_loss_backward_numba = _tier("bce_loss", _bce_sum, _bce_grad_map)
bce_with_logits_loss_forward_numba, bce_with_logits_loss_backward_numba = _tier(
    "bce_with_logits_loss", _bce_with_logits_sum, _bce_with_logits_grad_map)
