"""numba.cuda tier of ``tinysr/ops/optim.py``: one SGD or Adam step on the GPU.

Thread i of the grid updates element i of ``param`` and of its state (momentum buffer; Adam's
two moments) in place with the scalar rules of ``tinysr/ops/optim.py`` compiled for the GPU,
storing a state before the parameter update reads it back, as on the CPU. The step-dependent
constants (Adam's bias corrections) are computed once on the host and passed in as floats, so
nothing is copied to or from the GPU but the launch itself. Every function equals the
``*_reference`` function of the same name there.
"""

from __future__ import annotations

from numba import cuda

from tinysr.ops import optim as rules
from tinysr.ops.cuda._common import THREADS, blocks

sgd_direction = cuda.jit(device=True)(rules.sgd_direction)
adam_moments = cuda.jit(device=True)(rules.adam_moments)
adam_param = cuda.jit(device=True)(rules.adam_param)


@cuda.jit
def _sgd_map(param, grad, momentum_buffer, first_step, lr, momentum, weight_decay):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        direction = sgd_direction(param[i], grad[i], momentum_buffer[i], first_step, momentum, weight_decay)
        if momentum != 0.0:
            momentum_buffer[i] = direction
            direction = momentum_buffer[i]  # as stored, like the reference
        param[i] = param[i] - lr * direction


@cuda.jit
def _adam_map(param, grad, exp_avg, exp_avg_sq, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt):
    for i in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        exp_avg[i], exp_avg_sq[i] = adam_moments(param[i], grad[i], exp_avg[i], exp_avg_sq[i], beta1, beta2,
                                                 weight_decay)
        param[i] = adam_param(param[i], exp_avg[i], exp_avg_sq[i], eps, step_size, bias_correction2_sqrt)


def sgd_step_cuda(param, grad, momentum_buffer, step: int, lr: float, momentum: float, weight_decay: float) -> None:
    """CUDA tier of ``sgd_step_reference``: device arrays updated in place."""
    _sgd_map[blocks(param.size), THREADS](param.ravel(), grad.ravel(), momentum_buffer.ravel(), step == 1,
                                          float(lr), float(momentum), float(weight_decay))


def adam_step_cuda(param, grad, exp_avg, exp_avg_sq, step: int, lr: float, beta1: float, beta2: float, eps: float,
                   weight_decay: float) -> None:
    """CUDA tier of ``adam_step_reference``: device arrays updated in place."""
    step_size, bias_correction2_sqrt = rules.adam_constants(step, lr, beta1, beta2)
    _adam_map[blocks(param.size), THREADS](param.ravel(), grad.ravel(), exp_avg.ravel(), exp_avg_sq.ravel(),
                                           float(beta1), float(beta2), float(eps), float(weight_decay), step_size,
                                           bias_correction2_sqrt)
