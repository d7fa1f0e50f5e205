"""Loss classes: ``MSELoss``, ``L1Loss``, ``BCELoss`` and ``BCEWithLogitsLoss``.

Each class is a thin wrapper around the ops in :mod:`tinysr.ops.losses`: ``forward`` computes
the loss and keeps the cache, ``backward`` turns the cache into dL/d(prediction), the gradient
that starts the backward pass through the network::

    criterion = MSELoss()
    loss = criterion(model.forward(x), y)     # a Python float
    model.backward(criterion.backward())      # dloss/d(prediction), shaped like the prediction

All four average over every element (PyTorch's default ``reduction="mean"``).
"""

from __future__ import annotations

import numpy as np

from tinysr.ops import losses as ops
from tinysr.tiers import check_backend

__all__ = ["BCELoss", "BCEWithLogitsLoss", "L1Loss", "MSELoss"]


class _Loss:
    """``forward(prediction, target) -> float`` keeps a cache; ``backward()`` uses it.

    Subclasses name their pair of ops in ``_forward_op`` and ``_backward_op``.
    """

    _forward_op = None
    _backward_op = None

    def __init__(self, *, backend: str | None = None):
        """``backend``: "reference" or "numba" for both ops (default: ``tinysr.tier``'s, else the fastest)."""
        self.backend = check_backend(backend, type(self).__name__)
        self._cache = None

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        """The mean loss over all elements, as a Python float."""
        loss, self._cache = self._forward_op(prediction, target, backend=self.backend)
        return loss

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> float:
        return self.forward(prediction, target)

    def backward(self, grad_output: float = 1.0) -> np.ndarray:
        """dL/d(prediction) for the last ``forward``, with ``grad_output = dL/d(loss)`` (1.0 by default).

        Returns an array with the shape and dtype of the prediction.
        """
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}: backward() was called before forward(); call "
                "forward(prediction, target) first so that the loss can cache what its gradient needs"
            )
        return self._backward_op(grad_output, self._cache, backend=self.backend)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSELoss(_Loss):
    """Mean squared error, ``(1/n) sum (p - y)^2``; gradient ``2 (p - y) / n``."""

    _forward_op = staticmethod(ops.mse_loss_forward)
    _backward_op = staticmethod(ops.mse_loss_backward)


class L1Loss(_Loss):
    """Mean absolute error, ``(1/n) sum |p - y|``; gradient ``sign(p - y) / n`` (0 where p == y)."""

    _forward_op = staticmethod(ops.l1_loss_forward)
    _backward_op = staticmethod(ops.l1_loss_backward)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities in [0, 1], each log clamped at -100 as in PyTorch."""

    _forward_op = staticmethod(ops.bce_loss_forward)
    _backward_op = staticmethod(ops.bce_loss_backward)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy on raw scores (logits), stable for logits of any size.

    ``forward(logits, target)``: the first argument is the raw score ``z``, not a probability.
    """

    _forward_op = staticmethod(ops.bce_with_logits_loss_forward)
    _backward_op = staticmethod(ops.bce_with_logits_loss_backward)
