"""Numba tier of ``tinysr/ops/optim.py``: one SGD or Adam step, its scalar rules applied to every element.

Every function equals the ``*_reference`` function of the same name there. One plain loop over
the flat parameter; a state (momentum buffer, moments) is stored, in the parameter's dtype,
before the parameter update reads it back, as in the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinysr.ops import optim as rules

sgd_direction = njit(rules.sgd_direction)
adam_moments = njit(rules.adam_moments)
adam_param = njit(rules.adam_param)


@njit(cache=True)
def _sgd_map(param, grad, momentum_buffer, first_step, lr, momentum, weight_decay):
    for i in range(param.size):
        direction = sgd_direction(param[i], grad[i], momentum_buffer[i], first_step, momentum, weight_decay)
        if momentum != 0.0:
            momentum_buffer[i] = direction
            direction = momentum_buffer[i]  # as stored, like the reference
        param[i] = param[i] - lr * direction


@njit(cache=True)
def _adam_map(param, grad, exp_avg, exp_avg_sq, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt):
    for i in range(param.size):
        exp_avg[i], exp_avg_sq[i] = adam_moments(param[i], grad[i], exp_avg[i], exp_avg_sq[i], beta1, beta2,
                                                 weight_decay)
        param[i] = adam_param(param[i], exp_avg[i], exp_avg_sq[i], eps, step_size, bias_correction2_sqrt)


def sgd_step_numba(param: np.ndarray, grad: np.ndarray, momentum_buffer: np.ndarray, step: int,
                   lr: float, momentum: float, weight_decay: float) -> None:
    """Numba tier of ``sgd_step_reference`` (``param`` and ``momentum_buffer`` C-contiguous)."""
    _sgd_map(param.reshape(-1), np.ascontiguousarray(grad).reshape(-1), momentum_buffer.reshape(-1),
             step == 1, float(lr), float(momentum), float(weight_decay))


def adam_step_numba(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray, step: int,
                    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float) -> None:
    """Numba tier of ``adam_step_reference`` (``param`` and the moments C-contiguous)."""
    step_size, bias_correction2_sqrt = rules.adam_constants(step, lr, beta1, beta2)
    _adam_map(param.reshape(-1), np.ascontiguousarray(grad).reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
              float(beta1), float(beta2), float(eps), float(weight_decay), step_size, bias_correction2_sqrt)
