"""``Linear`` and ``Flatten``: the layers around ``tinysr.ops.linear`` and ``tinysr.ops.flatten``."""

from __future__ import annotations

import numpy as np

from tinysr.nn._checks import check_layer_input
from tinysr.nn.init import default_parameters, get_rng
from tinysr.nn.module import Module
from tinysr.ops.flatten import flatten_backward, flatten_forward
from tinysr.ops.linear import linear_backward, linear_forward


class Linear(Module):
    """``y = x @ weight.T + bias``: input ``(N, in_features)``, weight ``(out_features, in_features)``.

    Initialised as PyTorch: weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features)).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype=np.float32,
        rng: int | np.random.Generator | None = None,
    ):
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(f"Linear: expected feature counts >= 1, got {in_features}, {out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight, self.bias = default_parameters((self.out_features, self.in_features), self.in_features,
                                                    self.out_features if bias else None, get_rng(rng), dtype)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x @ weight.T + bias``: ``(N, in_features)`` to ``(N, out_features)``."""
        check_layer_input(self, x, ndim=2, channels=self.in_features, axis1="features")
        bias = None if self.bias is None else self.bias.data
        out, self._cache = linear_forward(x, self.weight.data, bias)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``G @ weight`` ``(N, in_features)``; adds ``G.T @ x`` to ``weight.grad``, ``G.sum(0)`` to ``bias.grad``."""
        grad_input, grad_weight, grad_bias = linear_backward(grad_output, self._require_cache())
        self.weight.accumulate_grad(grad_weight)
        if self.bias is not None:
            self.bias.accumulate_grad(grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        """Features and bias, for ``repr``."""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """``(N, C, H, W) -> (N, C*H*W)`` (any ``(N, ...)``); backward reshapes the gradient back."""

    def __init__(self):
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``(N, *)`` to ``(N, prod(*))``, a copy in C order."""
        check_layer_input(self, x)
        out, self._cache = flatten_forward(x)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``grad_output`` ``(N, prod(*))`` reshaped back to the input's shape."""
        return flatten_backward(grad_output, self._require_cache())
