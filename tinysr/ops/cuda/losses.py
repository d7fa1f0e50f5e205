"""numba.cuda tier of ``tinysr/ops/losses.py``: MSE, L1, BCE and BCE-with-logits on the GPU.

Forward: the loss is a mean over all n elements, accumulated in float64 as on the CPU. The CPU
kernel is one loop ``total += l(p[i], y[i])``; on the GPU the sum is done in two steps:

1. ``reduction_blocks(n)`` blocks of THREADS threads. Thread ``g = cuda.grid(1)`` adds up
   elements g, g + G, g + 2G, ... where G = ``cuda.gridsize(1)`` is the number of threads in the
   grid (a *grid-stride loop*: any n works with a fixed grid), then each block adds up its
   threads' sums with ``block_sum`` and writes one partial sum, ``partials[blockIdx.x]``.
2. ``_common.sum_to_host`` adds the partial sums in one block and copies the total, one float64,
   back to the host: the loss is returned as a Python float, like the CPU tier's. That copy is
   the one place where a training step waits for the GPU.

Backward: one thread per element, the CPU kernel's loop body (float64 arithmetic, rounded once
to the prediction's dtype). ``grad_output`` is the scalar dL/d(loss), passed to the kernel as a
float.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinysr.ops.cuda._common import (
    THREADS,
    block_sum,
    blocks,
    check_device_array,
    empty,
    empty_like,
    reduction_blocks,
    sum_to_host,
)
from tinysr.ops.losses import BCE_EPSILON, LOG_CLAMP, _check_grad_output

__all__ = [
    "bce_loss_backward",
    "bce_loss_forward",
    "bce_with_logits_loss_backward",
    "bce_with_logits_loss_forward",
    "l1_loss_backward",
    "l1_loss_forward",
    "mse_loss_backward",
    "mse_loss_forward",
]


def _check_pair(prediction, target, op: str, prediction_name: str = "prediction"):
    check_device_array(prediction, name=prediction_name, op=op)
    check_device_array(target, name="target", op=op)
    if prediction.dtype != target.dtype:
        raise TypeError(f"{op}: expected all arrays to share one dtype (no silent casting), "
                        f"got {prediction_name}: {prediction.dtype}, target: {target.dtype}")
    if tuple(prediction.shape) != tuple(target.shape):
        raise ValueError(
            f"{op}: expected {prediction_name} and target of the same shape (no broadcasting), "
            f"got {prediction_name} {prediction.shape} and target {target.shape}"
        )
    if prediction.size == 0:
        raise ValueError(f"{op}: expected a non-empty {prediction_name}, got shape {prediction.shape}")
    return prediction.ravel(), target.ravel()


def _mean(sum_kernel, prediction, target, *extra) -> float:
    """Run a step-1 sum kernel over the flat arrays, then add its partial sums: the mean as a Python float."""
    n_blocks = reduction_blocks(prediction.size)
    partials = empty(n_blocks, np.float64)
    sum_kernel[n_blocks, THREADS](prediction, target, *extra, partials)
    return sum_to_host(partials) / prediction.size


# --------------------------------------------------------------------------- MSE


@cuda.jit
def _mse_sum_kernel(prediction, target, partials):
    """partials[block] = sum of (p - y)^2 over this block's share of the elements (grid-stride loop)."""
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    acc = 0.0
    for i in range(cuda.grid(1), prediction.size, cuda.gridsize(1)):
        diff = np.float64(prediction[i]) - np.float64(target[i])
        acc += diff * diff
    acc = block_sum(partial, acc)
    if cuda.threadIdx.x == 0:
        partials[cuda.blockIdx.x] = acc


@cuda.jit
def _mse_backward_kernel(grad_output, prediction, target, grad_input):
    for i in range(cuda.grid(1), prediction.size, cuda.gridsize(1)):
        diff = np.float64(prediction[i]) - np.float64(target[i])
        grad_input[i] = (2.0 / prediction.size) * diff * grad_output


def mse_loss_forward(prediction, target) -> tuple:
    """``mean((p - y)^2)`` as a Python float; ``cache = (prediction, target)`` (device arrays)."""
    flat = _check_pair(prediction, target, "mse_loss")
    return _mean(_mse_sum_kernel, *flat), (prediction, target)


def mse_loss_backward(grad_output: float, cache: tuple):
    """``grad_output * 2 (p - y) / n`` on the GPU, shaped like ``p``."""
    prediction, target = cache
    grad_output = _check_grad_output(grad_output, "mse_loss")
    grad_input = empty_like(prediction)
    _mse_backward_kernel[blocks(prediction.size), THREADS](grad_output, prediction.ravel(), target.ravel(),
                                                           grad_input.ravel())
    return grad_input


# --------------------------------------------------------------------------- L1


@cuda.jit
def _l1_sum_kernel(prediction, target, partials):
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    acc = 0.0
    for i in range(cuda.grid(1), prediction.size, cuda.gridsize(1)):
        acc += abs(np.float64(prediction[i]) - np.float64(target[i]))
    acc = block_sum(partial, acc)
    if cuda.threadIdx.x == 0:
        partials[cuda.blockIdx.x] = acc


@cuda.jit
def _l1_backward_kernel(grad_output, prediction, target, grad_input):
    for i in range(cuda.grid(1), prediction.size, cuda.gridsize(1)):
        scale = grad_output / prediction.size
        diff = np.float64(prediction[i]) - np.float64(target[i])
        if diff > 0:
            grad_input[i] = scale
        elif diff < 0:
            grad_input[i] = -scale
        else:
            grad_input[i] = 0.0


def l1_loss_forward(prediction, target) -> tuple:
    """``mean(|p - y|)`` as a Python float; ``cache = (prediction, target)``."""
    flat = _check_pair(prediction, target, "l1_loss")
    return _mean(_l1_sum_kernel, *flat), (prediction, target)


def l1_loss_backward(grad_output: float, cache: tuple):
    """``grad_output * sign(p - y) / n`` on the GPU (0 where p == y)."""
    prediction, target = cache
    grad_output = _check_grad_output(grad_output, "l1_loss")
    grad_input = empty_like(prediction)
    _l1_backward_kernel[blocks(prediction.size), THREADS](grad_output, prediction.ravel(), target.ravel(),
                                                          grad_input.ravel())
    return grad_input


# --------------------------------------------------------------------------- BCE on probabilities


@cuda.jit
def _count_outside_unit_interval_kernel(values, partials):
    """partials[block] = how many of this block's elements are not in [0, 1] (NaN counts: it fails both tests)."""
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    acc = 0.0
    for i in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        if not (values[i] >= 0 and values[i] <= 1):
            acc += 1.0
    acc = block_sum(partial, acc)
    if cuda.threadIdx.x == 0:
        partials[cuda.blockIdx.x] = acc


def _check_in_unit_interval(values, name: str, op: str, hint: str = "") -> None:
    n_blocks = reduction_blocks(values.size)
    partials = empty(n_blocks, np.float64)
    _count_outside_unit_interval_kernel[n_blocks, THREADS](values, partials)
    outside = int(sum_to_host(partials))
    if outside:
        raise ValueError(f"{op}: expected every element of {name} in [0, 1]{hint}, "
                         f"got {outside} of {values.size} elements outside [0, 1] or NaN")


@cuda.jit
def _bce_sum_kernel(prediction, target, log_clamp, partials):
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    acc = 0.0
    for i in range(cuda.grid(1), prediction.size, cuda.gridsize(1)):
        p = np.float64(prediction[i])
        y = np.float64(target[i])
        log_p = math.log(p) if p > 0 else log_clamp
        log_1mp = math.log1p(-p) if p < 1 else log_clamp
        acc += (y - 1.0) * max(log_1mp, log_clamp) - y * max(log_p, log_clamp)
    acc = block_sum(partial, acc)
    if cuda.threadIdx.x == 0:
        partials[cuda.blockIdx.x] = acc


@cuda.jit
def _bce_backward_kernel(grad_output, prediction, target, epsilon, grad_input):
    n = prediction.size
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        p = np.float64(prediction[i])
        y = np.float64(target[i])
        grad_input[i] = grad_output * (p - y) / max((1.0 - p) * p, epsilon) / n


def bce_loss_forward(prediction, target) -> tuple:
    """Binary cross-entropy on probabilities (each log clamped at -100), as a Python float."""
    flat = _check_pair(prediction, target, "bce_loss")
    _check_in_unit_interval(flat[0], "prediction", "bce_loss",
                            " (probabilities; for raw scores use bce_with_logits_loss)")
    _check_in_unit_interval(flat[1], "target", "bce_loss")
    return _mean(_bce_sum_kernel, *flat, LOG_CLAMP), (prediction, target)


def bce_loss_backward(grad_output: float, cache: tuple):
    """``grad_output (p - y) / max(p (1 - p), 1e-12) / n`` on the GPU."""
    prediction, target = cache
    grad_output = _check_grad_output(grad_output, "bce_loss")
    grad_input = empty_like(prediction)
    _bce_backward_kernel[blocks(prediction.size), THREADS](grad_output, prediction.ravel(), target.ravel(),
                                                           BCE_EPSILON, grad_input.ravel())
    return grad_input


# --------------------------------------------------------------------------- BCE on logits


@cuda.jit
def _bce_with_logits_sum_kernel(logits, target, partials):
    partial = cuda.shared.array(THREADS, dtype=np.float64)
    acc = 0.0
    for i in range(cuda.grid(1), logits.size, cuda.gridsize(1)):
        z = np.float64(logits[i])
        y = np.float64(target[i])
        acc += max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))
    acc = block_sum(partial, acc)
    if cuda.threadIdx.x == 0:
        partials[cuda.blockIdx.x] = acc


@cuda.jit
def _bce_with_logits_backward_kernel(grad_output, logits, target, grad_input):
    n = logits.size
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        z = np.float64(logits[i])
        e = math.exp(-abs(z))
        sigmoid = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
        grad_input[i] = grad_output * (sigmoid - np.float64(target[i])) / n


def bce_with_logits_loss_forward(logits, target) -> tuple:
    """``mean(max(z, 0) - z y + log1p(exp(-|z|)))`` as a Python float; ``cache = (logits, target)``."""
    flat = _check_pair(logits, target, "bce_with_logits_loss", prediction_name="logits")
    return _mean(_bce_with_logits_sum_kernel, *flat), (logits, target)


def bce_with_logits_loss_backward(grad_output: float, cache: tuple):
    """``grad_output (sigmoid(z) - y) / n`` on the GPU."""
    logits, target = cache
    grad_output = _check_grad_output(grad_output, "bce_with_logits_loss")
    grad_input = empty_like(logits)
    _bce_with_logits_backward_kernel[blocks(logits.size), THREADS](grad_output, logits.ravel(), target.ravel(),
                                                                   grad_input.ravel())
    return grad_input
