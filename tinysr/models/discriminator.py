"""The SRGAN discriminator (Ledig et al., 2017): is this 96x96 RGB crop a real photo or a generated one?

Eight 3x3 convolutions, every second one with stride 2 (halving the size), each followed by
LeakyReLU(0.2), with BatchNorm after all but the first; then two dense layers::

    conv 64 -> LReLU
    conv 64/s2 -> BN -> LReLU, conv 128 -> BN -> LReLU, conv 128/s2 -> BN -> LReLU,
    conv 256 -> BN -> LReLU, conv 256/s2 -> BN -> LReLU, conv 512 -> BN -> LReLU,
    conv 512/s2 -> BN -> LReLU
    flatten -> Linear(1024) -> LReLU -> Linear(1)

Shapes: input ``(N, 3, hr_size, hr_size)`` in [0, 1], output ``(N, 1)``: a *logit* ``z``, the
log-odds that the crop is real (``sigmoid(z)`` is the probability). Losses take the logit
(``BCEWithLogitsLoss``), which is numerically stable where ``log(sigmoid(z))`` is not. The paper
ends with a sigmoid; leaving it to the loss computes the same thing.

``backward`` returns the gradient with respect to the *input image*: in SRGAN that gradient is
what carries the adversarial loss back into the generator.
"""

from __future__ import annotations

import numpy as np

from tinysr.nn import BatchNorm2d, Conv2d, Flatten, LeakyReLU, Linear, Module, Sequential
from tinysr.nn.init import get_rng

__all__ = ["Discriminator"]


class Discriminator(Module):
    """The SRGAN discriminator for ``hr_size x hr_size`` RGB crops; returns one logit per crop.

    Args:
        hr_size: side of the crops it judges; a multiple of 16 (four stride-2 convolutions).
        num_features: channels of the first convolution (64 in the paper); they double every
            two layers up to 8x.
        dtype, rng: float32 or float64; seed or Generator for the initial weights.

    Attributes:
        config: ``{"name": "discriminator", "hr_size", "num_features"}`` for ``build_model``.
    """

    def __init__(self, hr_size: int = 96, num_features: int = 64, *, dtype=np.float32,
                 rng: int | np.random.Generator | None = None):
        for name, value in (("hr_size", hr_size), ("num_features", num_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Discriminator: expected {name} to be a positive int, got {value!r}")
        if hr_size % 16:
            raise ValueError(f"Discriminator: expected hr_size to be a multiple of 16 (four halvings), got {hr_size}")
        rng = get_rng(rng)
        f = int(num_features)
        layers: list[Module] = []
        channels_in = 3
        for i, channels_out in enumerate((f, f, 2 * f, 2 * f, 4 * f, 4 * f, 8 * f, 8 * f)):
            stride = 2 if i % 2 else 1
            layers.append(Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, dtype=dtype, rng=rng))
            if i > 0:
                layers.append(BatchNorm2d(channels_out, dtype=dtype))
            layers.append(LeakyReLU(0.2))
            channels_in = channels_out
        self.features = Sequential(*layers)
        side = hr_size // 16
        self.classifier = Sequential(
            Flatten(),
            Linear(channels_in * side * side, 1024, dtype=dtype, rng=rng),
            LeakyReLU(0.2),
            Linear(1024, 1, dtype=dtype, rng=rng),
        )
        self.hr_size = int(hr_size)
        self.config = {"name": "discriminator", "hr_size": int(hr_size), "num_features": f}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, 1)`` for HR images ``x`` ``(N, 3, patch, patch)`` (sigmoid(logit): belief that x is real)."""
        if x.ndim != 4 or x.shape[1:] != (3, self.hr_size, self.hr_size):
            raise ValueError(
                f"Discriminator: expected input (N, 3, {self.hr_size}, {self.hr_size}), got shape {x.shape}"
            )
        return self.classifier.forward(self.features.forward(x))

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx`` ``(N, 3, patch, patch)`` from ``dL/dlogits`` ``(N, 1)``; fills every parameter's ``.grad``."""
        return self.features.backward(self.classifier.backward(grad_output))

    def num_parameters(self) -> int:
        """The number of trainable weights (every element of every parameter)."""
        return sum(p.data.size for p in self.parameters())

    def extra_repr(self) -> str:
        """The constructor's settings, for ``repr``."""
        return f"hr_size={self.hr_size}, num_features={self.config['num_features']}"
