"""Batch normalisation over ``(N, H, W)`` for each channel of an ``(N, C, H, W)`` batch (``BatchNorm2d``).

Forward, for each channel ``c`` over its ``M = N * H * W`` values::

    mean_c  = (1/M) sum x                   (training: the batch's; eval: running_mean[c])
    var_c   = (1/M) sum (x - mean_c)**2     (biased; eval: running_var[c])
    inv_std = 1 / sqrt(var_c + eps)
    x_hat   = (x - mean_c) * inv_std
    out     = weight[c] * x_hat + bias[c]

In training mode the running buffers move towards the batch statistics, in place, exactly as
PyTorch does (the variance buffer gets the unbiased estimate ``var_c * M / (M - 1)``)::

    running_mean = (1 - momentum) * running_mean + momentum * mean_c
    running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)

Backward (``g = grad_output``, sums over the ``M`` positions of channel ``c``)::

    grad_bias[c]   = sum g
    grad_weight[c] = sum g * x_hat
    grad_input     = (weight[c] * inv_std / M) * (M * g - sum g - x_hat * sum(g * x_hat))   (training)
    grad_input     = g * weight[c] * inv_std                                                (eval)

Derivation of the training rule: with ``d = g * weight`` (the gradient reaching ``x_hat``),
``x_hat`` depends on ``x`` directly and through ``mean`` and ``var``. Using
``dmean/dx = 1/M`` and ``dvar/dx = 2 (x - mean) / M`` (the ``-2/M sum(x - mean)`` term vanishes)::

    dL/dx = inv_std * (d - mean(d) - x_hat * mean(d * x_hat))

which is the line above once ``mean(d) = weight * sum(g) / M`` is written out. In eval mode the
statistics are constants, so only the direct path remains.

Statistics are accumulated in float64 for both float32 and float64 input (the cache holds them
in float64); outputs and gradients keep the input's dtype.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinysr._validation import (
    check_float_array,
    check_grad_output,
    check_same_device,
    check_same_dtype,
    check_shape,
    contiguous,
)
from tinysr.device import is_device_array
from tinysr.tiers import choose_tier, tier_function

__all__ = ["batch_norm2d_backward", "batch_norm2d_forward"]

_LAYER = "batch_norm2d"


def _per_channel(a: np.ndarray) -> np.ndarray:
    """``(C,)`` -> ``(1, C, 1, 1)`` so that it broadcasts over an ``(N, C, H, W)`` batch."""
    return a.reshape(1, -1, 1, 1)


def eval_statistics(running_mean: np.ndarray, running_var: np.ndarray, eps: float):
    """Eval mode's statistics: the running buffers, in float64, and ``1 / sqrt(var + eps)``."""
    mean = running_mean.astype(np.float64)
    var = running_var.astype(np.float64)
    return mean, var, 1.0 / np.sqrt(var + eps)


def update_running_statistics(running_mean, running_var, mean, var, m: int, momentum: float) -> None:
    """PyTorch's rule, in place: ``running = (1 - momentum) running + momentum batch``, unbiased variance.

    The running variance gets ``var * m / (m - 1)`` (``var`` is the batch's biased variance of
    ``m = N H W`` values), so that it estimates the population's variance.
    """
    running_mean[...] = (1.0 - momentum) * running_mean + momentum * mean
    running_var[...] = (1.0 - momentum) * running_var + momentum * (var * m / (m - 1))


# --------------------------------------------------------------------------- reference tier


def batch_norm2d_forward_reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, running_mean: np.ndarray,
                                  running_var: np.ndarray, training: bool, momentum: float, eps: float) -> tuple:
    """NumPy tier. Returns ``(out, mean, inv_std)``, the statistics as float64 ``(C,)``.

    ``mean`` and the (biased) variance are the batch's in training, which also updates the
    running buffers in place, and the buffers' in eval.
    """
    if training:
        mean = x.mean(axis=(0, 2, 3), dtype=np.float64)
        var = ((x - _per_channel(mean)) ** 2).mean(axis=(0, 2, 3))
        inv_std = 1.0 / np.sqrt(var + eps)
        update_running_statistics(running_mean, running_var, mean, var, x.size // x.shape[1], momentum)
    else:
        mean, var, inv_std = eval_statistics(running_mean, running_var, eps)
    x_hat = (x - _per_channel(mean)) * _per_channel(inv_std)
    out = _per_channel(weight) * x_hat + _per_channel(bias)
    return out.astype(x.dtype, copy=False), mean, inv_std


def batch_norm2d_backward_reference(grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, mean: np.ndarray,
                                   inv_std: np.ndarray, training: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy tier. Returns ``(grad_input, grad_weight, grad_bias)`` (see the module docstring)."""
    n_batch, _, height, width = x.shape
    m = n_batch * height * width
    x_hat = (x - _per_channel(mean)) * _per_channel(inv_std)
    sum_g = grad_output.sum(axis=(0, 2, 3), dtype=np.float64)
    sum_g_xhat = (grad_output * x_hat).sum(axis=(0, 2, 3))
    if training:
        scale = _per_channel(weight * inv_std / m)
        grad_input = scale * (m * grad_output - _per_channel(sum_g) - x_hat * _per_channel(sum_g_xhat))
    else:
        grad_input = grad_output * _per_channel(weight * inv_std)
    dtype = x.dtype
    return grad_input.astype(dtype, copy=False), sum_g_xhat.astype(dtype), sum_g.astype(dtype)


# --------------------------------------------------------------------------- public API


def batch_norm2d_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
    *,
    backend: str | None = None,
) -> tuple[np.ndarray, tuple]:
    """Batch normalisation of an ``(N, C, H, W)`` batch, as ``torch.nn.functional.batch_norm``.

    See the module docstring for the equations. In training mode ``running_mean`` and
    ``running_var`` are updated in place (the only arrays this op ever writes to); in eval mode
    they are read to normalise.

    Args:
        x: ``(N, C, H, W)``, float32 or float64.
        weight, bias: ``(C,)`` (PyTorch's gamma and beta), same dtype as ``x``.
        running_mean, running_var: ``(C,)`` buffers, same dtype as ``x``.
        training: ``True`` for batch statistics (needs ``N * H * W > 1``), ``False`` for running ones.
        momentum: in ``[0, 1]``, the weight of the new batch in the running statistics.
        eps: ``> 0``, added to the variance.
    Returns:
        ``(out, cache)``: ``out`` of shape ``(N, C, H, W)``;
        ``cache = (x, weight, mean, inv_std, training)`` with float64 ``(C,)`` statistics.
    """
    tier_name = choose_tier(x, backend, _LAYER)
    training, momentum, eps = _check_forward(x, weight, bias, running_mean, running_var, training, momentum, eps)
    x = contiguous(x)
    out, mean, inv_std = tier_function(tier_name, "batchnorm", "batch_norm2d_forward")(
        x, weight, bias, running_mean, running_var, training, momentum, eps
    )
    return out, (x, weight, mean, inv_std, training)


def batch_norm2d_backward(
    grad_output: np.ndarray, cache: tuple, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient of :func:`batch_norm2d_forward`: ``(grad_input, grad_weight, grad_bias)``.

    Shapes ``(N, C, H, W)``, ``(C,)``, ``(C,)``; the training or eval rule is the one of the forward pass.
    """
    tier_name = choose_tier(cache[0], backend, _LAYER)
    x, weight, mean, inv_std, training = cache
    grad_output = check_grad_output(grad_output, x.shape, x.dtype, _LAYER, like=x)
    backward = tier_function(tier_name, "batchnorm", "batch_norm2d_backward")
    return backward(grad_output, x, weight, mean, inv_std, training)


def _check_real(value, *, name: str, low: float, high: float, low_inclusive: bool) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{_LAYER}: expected {name} to be a real number, got {value!r}")
    ok = (value >= low if low_inclusive else value > low) and value <= high
    if not ok:
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{_LAYER}: expected {name} in {bracket}{low}, {high}], got {value}")
    return float(value)


def _check_forward(x, weight, bias, running_mean, running_var, training, momentum, eps) -> tuple:
    """Check the forward pass's inputs (host or GPU arrays, every tier); return ``(training, momentum, eps)``."""
    check_float_array(x, name="x", layer=_LAYER, ndim=4)
    channels = x.shape[1]
    named = {"weight": weight, "bias": bias, "running_mean": running_mean, "running_var": running_var}
    for name, a in named.items():
        check_float_array(a, name=name, layer=_LAYER, ndim=1)
        check_shape(a, (channels,), name=f"{name} (one per channel of x {x.shape})", layer=_LAYER)
    check_same_device(_LAYER, x=x, **named)
    check_same_dtype(_LAYER, x=x, **named)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{_LAYER}: expected training to be a bool, got {training!r}")
    momentum = _check_real(momentum, name="momentum", low=0.0, high=1.0, low_inclusive=True)
    eps = _check_real(eps, name="eps", low=0.0, high=math.inf, low_inclusive=False)
    if training and x.size // channels <= 1:
        raise ValueError(f"{_LAYER}: expected more than 1 value per channel when training, got input of shape "
                         f"{x.shape}")
    for name in ("running_mean", "running_var"):
        if training and not is_device_array(named[name]) and not named[name].flags.writeable:
            raise ValueError(f"{_LAYER}: {name} is updated in place in training mode, got a read-only array")
    return bool(training), momentum, eps
