"""The parameter updates of SGD (with momentum) and Adam, PyTorch's rules, as ops with three tiers.

``tinysr.optim.SGD`` and ``tinysr.optim.Adam`` hold the parameters and their state; ``step()``
calls one update per parameter on the tier ``tinysr.tiers.choose_tier`` picks. An update changes
``param`` and its state in place and only reads ``grad``.

One element's rule is written once below (``sgd_direction``, ``adam_moments``, ``adam_param``);
the Numba tier (``tinysr/ops/cpu/optim.py``) and the CUDA tier (``tinysr/ops/cuda/optim.py``)
compile these very functions and apply them to every element in float64. A state the rule
updates (the momentum buffer, Adam's moments) is stored in the parameter's dtype before the
parameter update reads it, as the NumPy reference does, so in float64 the three tiers agree to
the last bit (and in float32 they round at the same places).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["adam_step_reference", "sgd_step_reference"]


# --------------------------------------------------------------------------- the scalar rules


def sgd_direction(param, grad, momentum_buffer, first_step, momentum, weight_decay):
    """One element's SGD direction ``d`` (the update is ``param - lr * d``).

    ``g = grad + weight_decay * param``; without momentum ``d = g``, with momentum ``d`` is the
    new momentum buffer: ``g`` at the first step, ``momentum * buffer + g`` after.
    """
    g = np.float64(grad)
    if weight_decay != 0.0:
        g = g + weight_decay * param
    if momentum != 0.0 and not first_step:
        return momentum_buffer * momentum + g
    return g


def adam_moments(param, grad, exp_avg, exp_avg_sq, beta1, beta2, weight_decay):
    """One element's Adam moments, updated: ``(beta1 m + (1 - beta1) g, beta2 v + (1 - beta2) g^2)``."""
    g = np.float64(grad)
    if weight_decay != 0.0:
        g = g + weight_decay * param
    return exp_avg * beta1 + (1.0 - beta1) * g, exp_avg_sq * beta2 + (1.0 - beta2) * g * g


def adam_param(param, exp_avg, exp_avg_sq, eps, step_size, bias_correction2_sqrt):
    """One element's Adam update from the updated moments: ``param - step_size m / (sqrt(v) / bc2 + eps)``."""
    denom = math.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    return param - step_size * exp_avg / denom


def adam_constants(step: int, lr: float, beta1: float, beta2: float) -> tuple[float, float]:
    """``(step_size, bc2) = (lr / (1 - beta1^t), sqrt(1 - beta2^t))``: computed once per step, on the host."""
    return float(lr / (1 - beta1**step)), float((1 - beta2**step) ** 0.5)


# --------------------------------------------------------------------------- the NumPy reference tier


def sgd_step_reference(
    param: np.ndarray, grad: np.ndarray, momentum_buffer: np.ndarray, step: int,
    lr: float, momentum: float, weight_decay: float,
) -> None:
    """One SGD update of ``param`` (and ``momentum_buffer``) in place; NumPy tier.

    PyTorch's ``torch.optim.SGD`` with ``dampening=0, nesterov=False``::

        g   = grad + weight_decay * param                 (only if weight_decay != 0)
        buf = g                          at step 1        (only if momentum != 0)
        buf = momentum * buf + g         at later steps
        param = param - lr * buf         (param - lr * g without momentum)

    Args:
        param, grad, momentum_buffer: arrays of one shape and dtype; ``grad`` is only read.
        step: the number of this update, 1 for the first.
    """
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        if step == 1:
            momentum_buffer[...] = grad
        else:
            momentum_buffer *= momentum
            momentum_buffer += grad
        grad = momentum_buffer
    param -= lr * grad


def adam_step_reference(
    param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray, step: int,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
) -> None:
    """One Adam update of ``param``, ``exp_avg`` and ``exp_avg_sq`` in place; NumPy tier.

    PyTorch's ``torch.optim.Adam`` (``amsgrad=False``), with ``t = step``::

        g = grad + weight_decay * param                     (L2 penalty, not AdamW's decoupled decay)
        m = beta1 * m + (1 - beta1) * g                     (exp_avg)
        v = beta2 * v + (1 - beta2) * g^2                   (exp_avg_sq)
        step_size = lr / (1 - beta1^t)
        denom = sqrt(v) / sqrt(1 - beta2^t) + eps           (eps outside the square root)
        param = param - step_size * m / denom

    which is ``param - lr * m_hat / (sqrt(v_hat) + eps)`` with the bias-corrected moments
    ``m_hat = m / (1 - beta1^t)`` and ``v_hat = v / (1 - beta2^t)``, written in PyTorch's order.

    Args:
        param, grad, exp_avg, exp_avg_sq: arrays of one shape and dtype; ``grad`` is only read.
        step: the number of this update, 1 for the first (the moments start at zero).
    """
    if weight_decay != 0:
        grad = grad + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    param -= step_size * exp_avg / denom
