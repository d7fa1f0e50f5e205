"""Loss functions: mean squared error, mean absolute error and binary cross-entropy.

A loss turns a prediction and a target of the same shape into one number, the mean over all
``n`` elements of a per-element penalty ``l_i``::

    loss = (1 / n) * sum_i l_i(prediction_i, target_i)

Its backward pass receives ``grad_output = dL/d(loss)`` (a scalar, ``1.0`` when the loss is
the final output) and returns ``grad_input = dL/d(prediction)``, shaped like ``prediction``::

    grad_input_i = grad_output * (1 / n) * dl_i / d(prediction_i)

Conventions (checked against PyTorch 2.13):

* ``forward`` returns the loss as a Python ``float``, computed and accumulated in float64
  whatever the dtype of the inputs (PyTorch returns a 0-d tensor of the input dtype).
* ``backward`` returns an array with the shape and dtype of ``prediction``; the arithmetic is
  done in float64 and rounded once at the end.
* ``l1_loss``: the sub-gradient at ``prediction == target`` is 0 (``sign(0) = 0``).
* ``bce_loss`` clamps each log at -100 exactly like ``torch.nn.BCELoss``, so that a
  probability of exactly 0 or 1 gives a finite loss (at most 100 per element), and its
  gradient divides by ``max(p (1 - p), 1e-12)`` like PyTorch's backward (where the constant
  is the float32 number nearest to 1e-12, as in PyTorch's C++ source).
* ``bce_with_logits_loss`` works on raw scores and is finite for logits of any size.

Shapes must match exactly (no broadcasting); both arrays share one float dtype.

Every op follows the tinysr op contract: ``NAME_forward(prediction, target) -> (loss, cache)``
and ``NAME_backward(grad_output, cache) -> grad_input``. Each loss is two scalar rules written
once below, ``l_i`` (``mse``, ...) and its derivative times ``scale = grad_output / n``
(``mse_grad``, ...): the NumPy reference writes them for whole arrays, the Numba tier
(``tinysr/ops/cpu/losses.py``) and the CUDA tier (``tinysr/ops/cuda/losses.py``) compile these
very functions and apply them to every element, summing in float64.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinysr._validation import check_float_array, check_same_device, check_same_dtype, contiguous
from tinysr.device import is_device_array
from tinysr.tiers import choose_tier, tier_function

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

#: PyTorch's BCELoss clamps each log at -100 so that p = 0 or p = 1 gives a finite loss.
LOG_CLAMP = -100.0
#: PyTorch's BCELoss backward divides by max(p (1 - p), EPSILON) with EPSILON a C++ float 1e-12.
BCE_EPSILON = float(np.float32(1e-12))



# --------------------------------------------------------------------------- the scalar rules
# ``p`` a prediction (or logit), ``y`` its target, both taken to float64; the ``*_grad`` rules
# return d loss / d p for that element, given ``scale = grad_output / n``.


def mse(p, y):
    """``(p - y)^2``."""
    diff = np.float64(p) - np.float64(y)
    return diff * diff


def mse_grad(p, y, scale):
    """``scale * 2 (p - y)``."""
    return scale * 2.0 * (np.float64(p) - np.float64(y))


def l1(p, y):
    """``|p - y|``."""
    return abs(np.float64(p) - np.float64(y))


def l1_grad(p, y, scale):
    """``scale * sign(p - y)``, with ``sign(0) = 0`` as in PyTorch."""
    diff = np.float64(p) - np.float64(y)
    return scale if diff > 0 else (-scale if diff < 0 else 0.0)


def bce(p, y):
    """``-(y max(log p, -100) + (1 - y) max(log(1 - p), -100))``."""
    p, y = np.float64(p), np.float64(y)
    log_p = math.log(p) if p > 0 else LOG_CLAMP
    log_1mp = math.log1p(-p) if p < 1 else LOG_CLAMP
    return (y - 1.0) * max(log_1mp, LOG_CLAMP) - y * max(log_p, LOG_CLAMP)


def bce_grad(p, y, scale):
    """``scale * (p - y) / max(p (1 - p), 1e-12)``: PyTorch's guard against dividing by 0."""
    p, y = np.float64(p), np.float64(y)
    return scale * (p - y) / max((1.0 - p) * p, BCE_EPSILON)


def bce_with_logits(z, y):
    """``max(z, 0) - z y + log1p(exp(-|z|))``: exp never sees a positive number."""
    z, y = np.float64(z), np.float64(y)
    return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))


def bce_with_logits_grad(z, y, scale):
    """``scale * (sigmoid(z) - y)``, the sigmoid computed stably."""
    z = np.float64(z)
    e = math.exp(-abs(z))
    sigmoid = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)
    return scale * (sigmoid - np.float64(y))


def outside_unit_interval(v):
    """1 if ``v`` is not in [0, 1] (NaN included: it fails both tests), else 0: BCE's input check, counted."""
    return 0.0 if (v >= 0 and v <= 1) else 1.0


# --------------------------------------------------------------------------- the NumPy reference tier


def mse_loss_forward_reference(prediction: np.ndarray, target: np.ndarray) -> float:
    """``loss = mean((prediction - target)^2)`` in float64; NumPy tier."""
    diff = prediction.astype(np.float64) - target.astype(np.float64)
    return float(np.mean(diff * diff))


def mse_loss_backward_reference(grad_output: float, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``grad_input = grad_output * 2 (prediction - target) / n``; NumPy tier."""
    diff = prediction.astype(np.float64) - target.astype(np.float64)
    return ((2.0 / prediction.size) * diff * grad_output).astype(prediction.dtype)


def l1_loss_forward_reference(prediction: np.ndarray, target: np.ndarray) -> float:
    """``loss = mean(|prediction - target|)`` in float64; NumPy tier."""
    return float(np.mean(np.abs(prediction.astype(np.float64) - target.astype(np.float64))))


def l1_loss_backward_reference(grad_output: float, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``grad_input = grad_output * sign(prediction - target) / n`` (``sign(0) = 0``); NumPy tier."""
    diff = prediction.astype(np.float64) - target.astype(np.float64)
    return (np.sign(diff) * (grad_output / prediction.size)).astype(prediction.dtype)


def bce_loss_forward_reference(prediction: np.ndarray, target: np.ndarray) -> float:
    """``loss = mean(-(y max(log p, -100) + (1 - y) max(log(1 - p), -100)))``; NumPy tier."""
    p = prediction.astype(np.float64)
    y = target.astype(np.float64)
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped right away
        log_p = np.maximum(np.log(p), LOG_CLAMP)
        log_1mp = np.maximum(np.log1p(-p), LOG_CLAMP)
    return float(np.mean((y - 1.0) * log_1mp - y * log_p))


def bce_loss_backward_reference(grad_output: float, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``grad_input = grad_output (p - y) / max(p (1 - p), 1e-12) / n``; NumPy tier."""
    p = prediction.astype(np.float64)
    y = target.astype(np.float64)
    grad = grad_output * (p - y) / np.maximum((1.0 - p) * p, BCE_EPSILON) / prediction.size
    return grad.astype(prediction.dtype)


def bce_with_logits_loss_forward_reference(logits: np.ndarray, target: np.ndarray) -> float:
    """``loss = mean(max(z, 0) - z y + log1p(exp(-|z|)))``; NumPy tier."""
    z = logits.astype(np.float64)
    y = target.astype(np.float64)
    return float(np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def _stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow: exp is only ever taken of a non-positive number."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def bce_with_logits_loss_backward_reference(
    grad_output: float, logits: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """``grad_input = grad_output (sigmoid(z) - y) / n``; NumPy tier."""
    z = logits.astype(np.float64)
    y = target.astype(np.float64)
    return (grad_output * (_stable_sigmoid(z) - y) / logits.size).astype(logits.dtype)


# --------------------------------------------------------------------------- checks, and the public ops


def _check_pair(prediction, target, op: str, prediction_name: str = "prediction"):
    """Validate the two inputs of a loss and return them contiguous."""
    check_float_array(prediction, name=prediction_name, layer=op)
    check_same_device(op, **{prediction_name: prediction, "target": target})
    check_float_array(target, name="target", layer=op)
    check_same_dtype(op, **{prediction_name: prediction, "target": target})
    if prediction.shape != target.shape:
        raise ValueError(
            f"{op}: expected {prediction_name} and target of the same shape (no broadcasting), "
            f"got {prediction_name} {prediction.shape} and target {target.shape}"
        )
    if prediction.size == 0:
        raise ValueError(f"{op}: expected a non-empty {prediction_name}, got shape {prediction.shape}")
    return contiguous(prediction), contiguous(target)


def _check_in_unit_interval(x: np.ndarray, name: str, op: str, hint: str = "") -> None:
    if is_device_array(x):  # counted on the GPU: only the count comes back
        outside = tier_function("cuda", "losses", "count_outside_unit_interval")(x)
        if outside:
            raise ValueError(f"{op}: expected every element of {name} in [0, 1]{hint}, "
                             f"got {outside} of {x.size} elements outside [0, 1] or NaN")
        return
    # written so that NaN fails too, as in PyTorch's check
    if not np.all((x >= 0) & (x <= 1)):
        raise ValueError(
            f"{op}: expected every element of {name} in [0, 1]{hint}, "
            f"got values in [{np.nanmin(x)}, {np.nanmax(x)}]"
            + (" and NaN" if np.isnan(x).any() else "")
        )


def _check_grad_output(grad_output, op: str) -> float:
    """``grad_output`` is dL/d(loss): a real number or a 0-d float array."""
    if isinstance(grad_output, np.ndarray):
        if grad_output.ndim != 0 or grad_output.dtype.kind != "f":
            raise ValueError(
                f"{op}: expected grad_output to be a scalar dL/d(loss) (a float or a 0-d float array), "
                f"got an array of shape {grad_output.shape} and dtype {grad_output.dtype}"
            )
        return float(grad_output)
    if isinstance(grad_output, (bool, np.bool_)) or not isinstance(grad_output, numbers.Real):
        raise TypeError(f"{op}: expected grad_output to be a real number dL/d(loss), got {grad_output!r}")
    return float(grad_output)


def _check_probabilities(prediction, target) -> None:
    """BCE's inputs are probabilities: every element of both in [0, 1]."""
    _check_in_unit_interval(prediction, "prediction", "bce_loss",
                            " (probabilities; for raw scores use bce_with_logits_loss)")
    _check_in_unit_interval(target, "target", "bce_loss")


def _forward(op: str, prediction, target, backend: str | None, prediction_name: str = "prediction",
             check_values=None):
    """Check the pair (and, with ``check_values(prediction, target)``, their values), run the tier: (loss, cache)."""
    prediction, target = _check_pair(prediction, target, op, prediction_name)
    if check_values is not None:
        check_values(prediction, target)
    loss = tier_function(choose_tier(prediction, backend, op), "losses", f"{op}_forward")(prediction, target)
    return loss, (prediction, target)


def _backward(op: str, grad_output, cache: tuple, backend: str | None):
    prediction, target = cache
    grad_output = _check_grad_output(grad_output, op)
    return tier_function(choose_tier(prediction, backend, op), "losses", f"{op}_backward")(
        grad_output, prediction, target)


def mse_loss_forward(
    prediction: np.ndarray, target: np.ndarray, *, backend: str | None = None
) -> tuple[float, tuple]:
    """Mean squared error, ``torch.nn.MSELoss()``.

    Forward:  ``loss = (1/n) sum_i (p_i - y_i)^2``.
    Backward: ``dloss/dp_i = 2 (p_i - y_i) / n``.

    Args:
        prediction: ``p``, any shape, float32 or float64.
        target: ``y``, the shape and dtype of ``prediction``.
    Returns:
        ``(loss, cache)``: ``loss`` a Python float; ``cache = (prediction, target)``.
    """
    return _forward("mse_loss", prediction, target, backend)


def mse_loss_backward(grad_output: float, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`mse_loss_forward`: ``grad_output * 2 (p - y) / n``, shaped like ``p``."""
    return _backward("mse_loss", grad_output, cache, backend)


def l1_loss_forward(
    prediction: np.ndarray, target: np.ndarray, *, backend: str | None = None
) -> tuple[float, tuple]:
    """Mean absolute error, ``torch.nn.L1Loss()``.

    Forward:  ``loss = (1/n) sum_i |p_i - y_i|``.
    Backward: ``dloss/dp_i = sign(p_i - y_i) / n``, with ``sign(0) = 0`` as in PyTorch.

    Args:
        prediction: ``p``, any shape, float32 or float64.
        target: ``y``, the shape and dtype of ``prediction``.
    Returns:
        ``(loss, cache)``: ``loss`` a Python float; ``cache = (prediction, target)``.
    """
    return _forward("l1_loss", prediction, target, backend)


def l1_loss_backward(grad_output: float, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`l1_loss_forward`: ``grad_output * sign(p - y) / n``, shaped like ``p``."""
    return _backward("l1_loss", grad_output, cache, backend)


def bce_loss_forward(
    prediction: np.ndarray, target: np.ndarray, *, backend: str | None = None
) -> tuple[float, tuple]:
    """Binary cross-entropy on probabilities, ``torch.nn.BCELoss()``.

    Forward (each log clamped at -100, as in PyTorch, so p = 0 or 1 stays finite)::

        loss = -(1/n) sum_i [ y_i max(log p_i, -100) + (1 - y_i) max(log(1 - p_i), -100) ]

    Backward (the derivative of the unclamped loss, with PyTorch's guard against dividing by 0)::

        dloss/dp_i = (p_i - y_i) / max(p_i (1 - p_i), 1e-12) / n

    At ``p = 0, y = 1`` that is ``-1e12 / n``: huge but finite. If your network ends in a
    sigmoid, use :func:`bce_with_logits_loss_forward` on the logits instead; it never saturates.

    Args:
        prediction: probabilities ``p`` in [0, 1], any shape, float32 or float64.
        target: ``y`` in [0, 1], the shape and dtype of ``prediction``.
    Returns:
        ``(loss, cache)``: ``loss`` a Python float; ``cache = (prediction, target)``.
    Raises:
        ValueError: an element of ``prediction`` or ``target`` outside [0, 1] (or NaN).
    """
    return _forward("bce_loss", prediction, target, backend, check_values=_check_probabilities)


def bce_loss_backward(grad_output: float, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`bce_loss_forward`: ``grad_output (p - y) / max(p (1 - p), 1e-12) / n``."""
    return _backward("bce_loss", grad_output, cache, backend)


def bce_with_logits_loss_forward(
    logits: np.ndarray, target: np.ndarray, *, backend: str | None = None
) -> tuple[float, tuple]:
    """Sigmoid followed by binary cross-entropy, in one stable step: ``torch.nn.BCEWithLogitsLoss()``.

    With ``p = sigmoid(z) = 1 / (1 + exp(-z))`` the per-element loss
    ``-(y log p + (1 - y) log(1 - p))`` simplifies to ``z - z y + log(1 + exp(-z))``; writing
    it as below never takes ``exp`` of a positive number, so it is finite for any ``z``
    (``z = 1e4`` included) and loses no precision where ``p`` rounds to 0 or 1::

        loss = (1/n) sum_i [ max(z_i, 0) - z_i y_i + log1p(exp(-|z_i|)) ]

    Backward (the sigmoid and the log cancel into a difference)::

        dloss/dz_i = (sigmoid(z_i) - y_i) / n

    Like PyTorch, targets are not range-checked (soft targets in [0, 1] are the usual use).

    Args:
        logits: raw scores ``z``, any shape, float32 or float64.
        target: ``y``, the shape and dtype of ``logits``.
    Returns:
        ``(loss, cache)``: ``loss`` a Python float; ``cache = (logits, target)``.
    """
    return _forward("bce_with_logits_loss", logits, target, backend, "logits")


def bce_with_logits_loss_backward(grad_output: float, cache: tuple, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`bce_with_logits_loss_forward`: ``grad_output (sigmoid(z) - y) / n``."""
    return _backward("bce_with_logits_loss", grad_output, cache, backend)
