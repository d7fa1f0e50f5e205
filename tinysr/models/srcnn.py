"""SRCNN (Dong, Loy, He and Tang, 2014/2016): the first convolutional network for super-resolution.

The input is the low-resolution image already upscaled to the target size with bicubic
interpolation (the "interpolated low-resolution" image, ILR). Three convolutions then map it to
the high-resolution image, each with a meaning in the paper::

    conv f1 x f1, n1 filters, ReLU     patch extraction and representation
    conv f2 x f2, n2 filters, ReLU     non-linear mapping
    conv f3 x f3, C filters            reconstruction

Shapes: input ``(N, C, H, W)`` float in [0, 1] (C = 1 for the Y channel, 3 for RGB),
output ``(N, C, H, W)``. Every convolution uses "same" zero padding, so the output has the
input's size (the paper used no padding and lost ``receptive_field - 1`` pixels; padding lets
one network process a whole photo and tile it seamlessly).

Initialisation: PyTorch's default (weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
The paper drew weights from N(0, 0.001) and trained with plain SGD for days; with Adam that
tiny initialisation wastes the first thousands of steps growing the weights, while the default
trains from the first step (this is also what the PyTorch comparison runs in the issue used).
"""

from __future__ import annotations

import numpy as np

from tinysr.nn import Conv2d, Module, ReLU
from tinysr.nn.init import get_rng

__all__ = ["PRESETS", "SRCNN"]

#: the variants in the literature, as keyword arguments of ``SRCNN``
PRESETS: dict[str, dict[str, int]] = {
    "9-5-5": {"n1": 64, "n2": 32, "f1": 9, "f2": 5, "f3": 5},   # the paper's best (2016), the default
    "9-1-5": {"n1": 64, "n2": 32, "f1": 9, "f2": 1, "f3": 5},   # the paper's base model (2014)
    "9-3-5": {"n1": 64, "n2": 32, "f1": 9, "f2": 3, "f3": 5},
    "keras": {"n1": 128, "n2": 64, "f1": 9, "f2": 3, "f3": 5},  # the widely copied Keras variant
}


class SRCNN(Module):
    """conv f1 (n1) -> ReLU -> conv f2 (n2) -> ReLU -> conv f3 (channels), "same" padding.

    Args:
        channels: image channels in and out: 1 (the Y channel, as in the paper) or 3 (RGB).
        n1, n2: filters of the first two convolutions.
        f1, f2, f3: kernel sizes (odd, so that "same" padding is symmetric).
        dtype: float32 (training) or float64 (gradient checks).
        rng: seed or ``numpy.random.Generator`` for the initial weights.

    Attributes:
        config: everything needed to rebuild the architecture, ``build_model(model.config)``.
        receptive_field: side of the input window that one output pixel sees, ``f1 + f2 + f3 - 2``.
        input_mode: "ilr": it reads the bicubic-upscaled image, and ``channels`` of it.
    """

    input_mode = "ilr"

    def __init__(self, channels: int = 1, n1: int = 64, n2: int = 32, f1: int = 9, f2: int = 5, f3: int = 5,
                 *, dtype=np.float32, rng: int | np.random.Generator | None = None):
        sizes = {"channels": channels, "n1": n1, "n2": n2, "f1": f1, "f2": f2, "f3": f3}
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"SRCNN: expected {name} to be a positive int, got {value!r}")
        if channels not in (1, 3):
            raise ValueError(f"SRCNN: expected channels 1 (Y) or 3 (RGB), got {channels}")
        for name in ("f1", "f2", "f3"):
            if sizes[name] % 2 == 0:
                raise ValueError(
                    f"SRCNN: expected odd kernel sizes for symmetric 'same' padding, got {name}={sizes[name]}"
                )
        rng = get_rng(rng)  # one generator for all three layers (a seed would restart per layer)
        # In place: each ReLU overwrites the fresh output of the convolution before it (one feature
        # map fewer per layer; at inference on a 400x400 tile that is 41 MB not allocated and filled).
        self.conv1 = Conv2d(channels, n1, f1, padding="same", dtype=dtype, rng=rng)
        self.relu1 = ReLU(inplace=True)
        self.conv2 = Conv2d(n1, n2, f2, padding="same", dtype=dtype, rng=rng)
        self.relu2 = ReLU(inplace=True)
        self.conv3 = Conv2d(n2, channels, f3, padding="same", dtype=dtype, rng=rng)
        self.config = {"name": "srcnn", **{key: int(value) for key, value in sizes.items()}}
        self.receptive_field = f1 + f2 + f3 - 2
        self.channels = int(channels)

    @classmethod
    def preset(cls, name: str = "9-5-5", channels: int = 1, *, dtype=np.float32,
               rng: int | np.random.Generator | None = None) -> SRCNN:
        """One of ``PRESETS`` ("9-5-5", "9-1-5", "9-3-5", "keras") for 1 (Y) or 3 (RGB) channels."""
        if name not in PRESETS:
            raise ValueError(f"SRCNN.preset: unknown preset {name!r}, expected one of {', '.join(PRESETS)}")
        return cls(channels, **PRESETS[name], dtype=dtype, rng=rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``conv1 -> ReLU -> conv2 -> ReLU -> conv3``: ``(N, C, H, W)`` (bicubic-upscaled) to the same shape."""
        x = self.relu1.forward(self.conv1.forward(x))
        x = self.relu2.forward(self.conv2.forward(x))
        return self.conv3.forward(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """The forward pass in reverse: ``dL/dx`` ``(N, C, H, W)`` from ``dL/dout``; fills every ``.grad``."""
        grad = self.conv3.backward(grad_output)
        grad = self.conv2.backward(self.relu2.backward(grad))
        return self.conv1.backward(self.relu1.backward(grad))

    def num_parameters(self) -> int:
        """The number of trainable weights (every element of every parameter)."""
        return sum(p.data.size for p in self.parameters())

    def extra_repr(self) -> str:
        """The network's configuration (filters and kernel sizes), for ``repr``."""
        return ", ".join(f"{key}={value}" for key, value in self.config.items() if key != "name")

    def __repr__(self) -> str:
        return super().__repr__().replace("SRCNN(", f"SRCNN({self.extra_repr()})(", 1)
