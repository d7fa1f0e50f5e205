"""``Residual``: the skip connection ``y = x + body(x)`` of ResNet blocks."""

from __future__ import annotations

import numpy as np

from tinysr.nn.module import Module
from tinysr.ops.add import add_backward, add_forward


class Residual(Module):
    """``y = x + body(x)``; ``body`` must keep the shape of ``x``.

    Backward: the upstream gradient reaches ``x`` along two paths, straight through the skip
    and through ``body``, and the two contributions add:
    ``dL/dx = dL/dy + body.backward(dL/dy)``.
    """

    def __init__(self, body: Module):
        if not isinstance(body, Module):
            raise TypeError(f"Residual: expected a Module as body, got {type(body).__name__}")
        self.body = body
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x + body(x)``, shaped like ``x`` (the body must keep the shape)."""
        body_out = self.body.forward(x)
        if body_out.shape != x.shape:
            raise ValueError(
                f"Residual: body must keep the input's shape {x.shape}, but it returned {body_out.shape}"
            )
        out, self._cache = add_forward(x, body_out)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``grad_output + body.backward(grad_output)``: the skip path's gradient plus the body's."""
        grad_skip, grad_body = add_backward(grad_output, self._require_cache())
        grad_input, _ = add_forward(grad_skip, self.body.backward(grad_body))  # the two paths' gradients add
        return grad_input
