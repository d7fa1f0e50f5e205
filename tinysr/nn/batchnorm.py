"""``BatchNorm2d``: the layer around ``tinysr.ops.batchnorm`` (read that file for the maths)."""

from __future__ import annotations

import numpy as np

from tinysr.nn._checks import check_layer_input
from tinysr.nn.module import Module, Parameter
from tinysr.ops.batchnorm import batch_norm2d_backward, batch_norm2d_forward


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) for each of C channels, as ``torch.nn.BatchNorm2d``.

    ``y = weight * (x - mean) / sqrt(var + eps) + bias``. In training mode ``mean`` and ``var``
    are the batch's (biased variance) and the buffers ``running_mean`` / ``running_var`` move
    towards them by ``momentum`` (the running variance uses the unbiased estimate); in eval mode
    the buffers are used instead. ``weight`` (gamma) starts at 1 and ``bias`` (beta) at 0.
    ``num_batches_tracked`` counts training steps, as in PyTorch, so that state dicts have the
    same keys in both libraries.
    """

    _buffers = ("running_mean", "running_var", "num_batches_tracked")

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, *, dtype=np.float32):
        if int(num_features) < 1:
            raise ValueError(f"BatchNorm2d: expected num_features >= 1, got {num_features}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm2d: expected momentum in [0, 1], got {momentum}")
        if eps <= 0:
            raise ValueError(f"BatchNorm2d: expected eps > 0, got {eps}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        self.running_mean = np.zeros(self.num_features, dtype=dtype)
        self.running_var = np.ones(self.num_features, dtype=dtype)
        self.num_batches_tracked = np.array(0, dtype=np.int64)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise ``x`` ``(N, C, H, W)`` per channel (batch statistics in training, running ones in eval)."""
        check_layer_input(self, x, ndim=4, channels=self.num_features)
        out, self._cache = batch_norm2d_forward(
            x,
            self.weight.data,
            self.bias.data,
            self.running_mean,
            self.running_var,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )
        if self.training:
            self.num_batches_tracked[...] += 1
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx`` ``(N, C, H, W)``; adds to ``weight.grad`` and ``bias.grad`` ``(C,)``."""
        grad_input, grad_weight, grad_bias = batch_norm2d_backward(grad_output, self._require_cache())
        self.weight.accumulate_grad(grad_weight)
        self.bias.accumulate_grad(grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        """Features, eps and momentum, for ``repr``."""
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
