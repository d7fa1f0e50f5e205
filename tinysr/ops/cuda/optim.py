"""numba.cuda tier of the parameter updates in ``tinysr/optim.py``: one SGD or Adam step on the GPU.

The CPU kernels are one loop over the flat parameter, ``for i in range(param.size)``, each
element updated on its own. Here thread i of the grid updates element i of ``param`` and
of its state (momentum buffer; Adam's two moments) in place, with the CPU kernel's arithmetic
in the same order (float64, rounded when stored). The step-dependent constants (Adam's bias
corrections) are computed once on the host and passed in as floats, so nothing is copied to or
from the GPU but the launch itself.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinysr.ops.cuda._common import THREADS, blocks

__all__ = ["adam_step", "sgd_step"]


@cuda.jit
def _sgd_kernel(param, grad, momentum_buffer, first_step, lr, momentum, weight_decay):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        g = np.float64(grad[i])
        if weight_decay != 0.0:
            g = g + weight_decay * param[i]
        if momentum != 0.0:
            if first_step:
                momentum_buffer[i] = g
            else:
                momentum_buffer[i] = momentum_buffer[i] * momentum + g
            g = momentum_buffer[i]
        param[i] = param[i] - lr * g


@cuda.jit
def _adam_kernel(param, grad, exp_avg, exp_avg_sq, beta1, beta2, eps, weight_decay, step_size,
                 bias_correction2_sqrt):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        g = np.float64(grad[i])
        if weight_decay != 0.0:
            g = g + weight_decay * param[i]
        exp_avg[i] = exp_avg[i] * beta1 + (1.0 - beta1) * g
        exp_avg_sq[i] = exp_avg_sq[i] * beta2 + (1.0 - beta2) * g * g
        denom = math.sqrt(exp_avg_sq[i]) / bias_correction2_sqrt + eps
        param[i] = param[i] - step_size * exp_avg[i] / denom


def sgd_step(param, grad, momentum_buffer, step: int, lr: float, momentum: float, weight_decay: float) -> None:
    """One SGD update of the device arrays ``param`` and ``momentum_buffer`` in place (see ``sgd_step_reference``)."""
    _sgd_kernel[blocks(param.size), THREADS](
        param.ravel(), grad.ravel(), momentum_buffer.ravel(), step == 1, float(lr), float(momentum),
        float(weight_decay),
    )


def adam_step(param, grad, exp_avg, exp_avg_sq, step: int, lr: float, beta1: float, beta2: float, eps: float,
              weight_decay: float) -> None:
    """One Adam update of the device arrays ``param``, ``exp_avg``, ``exp_avg_sq`` in place.

    Same arguments and rule as ``tinysr.optim.adam_step_reference``.
    """
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    _adam_kernel[blocks(param.size), THREADS](
        param.ravel(), grad.ravel(), exp_avg.ravel(), exp_avg_sq.ravel(), float(beta1), float(beta2), float(eps),
        float(weight_decay), float(step_size), float(bias_correction2_sqrt),
    )
