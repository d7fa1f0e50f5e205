"""Activation layers around ``tinysr.ops.activations`` (read that file for the maths)."""

from __future__ import annotations

import numpy as np

from tinysr.nn._checks import check_layer_input
from tinysr.nn.module import Module, Parameter
from tinysr.ops import activations as ops
from tinysr.ops.prelu import prelu_backward, prelu_forward


class ReLU(Module):
    """``max(x, 0)`` elementwise; gradient 1 where x > 0, else 0. Any shape.

    ``inplace=True`` (as in PyTorch) writes the result into the input array and returns it,
    which saves one array per call; only use it where nothing else still needs the input (after
    a convolution, say: SRCNN does). The backward pass reads its mask from the output, which
    is the same either way.
    """

    def __init__(self, inplace: bool = False):
        self.inplace = bool(inplace)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``max(x, 0)``, shaped like ``x`` (``x`` itself with ``inplace=True``)."""
        check_layer_input(self, x)
        out, self._cache = ops.relu_forward(x, inplace=self.inplace)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``grad_output * [x > 0]``, shaped like ``x``."""
        return ops.relu_backward(grad_output, self._require_cache())


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x`` elementwise. Any shape.

    ``inplace`` is accepted so that PyTorch code runs unchanged, but has no effect: the output
    is always a new array. (Unlike ReLU's, the backward pass needs the sign of the input, which
    the output does not keep when ``negative_slope`` is negative.)
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x if x > 0 else negative_slope * x``, shaped like ``x``."""
        check_layer_input(self, x)
        out, self._cache = ops.leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``grad_output * (1 if x > 0 else negative_slope)``, shaped like ``x``."""
        return ops.leaky_relu_backward(grad_output, self._require_cache())

    def extra_repr(self) -> str:
        """The slope, for ``repr``."""
        return f"negative_slope={self.negative_slope}"


class PReLU(Module):
    """LeakyReLU with a learnable slope ``weight``: one shared (``num_parameters=1``) or one per channel.

    Input ``(N, C, ...)``; with ``num_parameters=C`` channel c uses ``weight[c]``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype=np.float32):
        if int(num_parameters) < 1:
            raise ValueError(f"PReLU: expected num_parameters >= 1, got {num_parameters}")
        self.num_parameters = int(num_parameters)
        self.weight = Parameter(np.full(self.num_parameters, init, dtype=dtype))
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x if x > 0 else weight[c] * x`` for ``x`` ``(N, C, ...)``, shaped like ``x``."""
        channels = None if self.num_parameters == 1 else self.num_parameters
        check_layer_input(self, x, channels=channels)
        out, self._cache = prelu_forward(x, self.weight.data)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx`` shaped like ``x``; adds ``sum of grad * x where x <= 0`` to ``weight.grad`` (C,) or (1,)."""
        grad_input, grad_weight = prelu_backward(grad_output, self._require_cache())
        self.weight.accumulate_grad(grad_weight)
        return grad_input

    def extra_repr(self) -> str:
        """The number of slopes, for ``repr``."""
        return f"num_parameters={self.num_parameters}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``; gradient ``out * (1 - out)`` from the cached output. Any shape."""

    def __init__(self):
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``1 / (1 + exp(-x))``, shaped like ``x``."""
        check_layer_input(self, x)
        out, self._cache = ops.sigmoid_forward(x)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``grad_output * out * (1 - out)``, shaped like ``x``."""
        return ops.sigmoid_backward(grad_output, self._require_cache())


class Tanh(Module):
    """``tanh(x)``; gradient ``1 - out**2`` from the cached output. Any shape."""

    def __init__(self):
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``tanh(x)``, shaped like ``x``."""
        check_layer_input(self, x)
        out, self._cache = ops.tanh_forward(x)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``grad_output * (1 - out**2)``, shaped like ``x``."""
        return ops.tanh_backward(grad_output, self._require_cache())
