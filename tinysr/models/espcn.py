"""ESPCN (Shi et al., CVPR 2016): an efficient sub-pixel convolutional network.

Like FSRCNN, ESPCN reads the low-resolution Y channel and upscales only at its end, but with a
*sub-pixel* convolution: a convolution to ``scale^2`` channels, which ``PixelShuffle(scale)``
rearranges into one channel ``scale`` times larger (``tinysr/ops/pixel_shuffle.py``)::

    conv 5x5 (64) -> tanh
    conv 3x3 (32) -> tanh
    conv 3x3 (scale^2) -> PixelShuffle(scale)

Shapes: input ``(N, 1, h, w)`` float in [0, 1], output ``(N, 1, scale*h, scale*w)``.

Initialisation: the paper does not give one; the convolutions start as PyTorch's do
(``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``), and the sub-pixel convolution with ICNR (Aitken et al.,
2017): the ``scale^2`` kernels that fill one ``scale x scale`` block start equal, so the first
output is a nearest-neighbour upscaling without the checkerboard a random start draws.
"""

from __future__ import annotations

import numpy as np

from tinysr.models.srresnet import icnr_
from tinysr.nn import Conv2d, Module, PixelShuffle, Sequential, Tanh
from tinysr.nn.init import get_rng

__all__ = ["ESPCN"]

SCALES = (2, 3, 4)


class ESPCN(Module):
    """``ESPCN(scale)``: the paper's network, on 1 channel (Y).

    Attributes:
        config: ``{"name": "espcn", "scale"}`` for ``build_model``.
        receptive_field: side, in output pixels, of the upscaled LR window one output pixel sees.
        input_mode, channels: "lr", 1: it reads the low-resolution Y channel itself.
    """

    input_mode, channels = "lr", 1

    def __init__(self, scale: int = 3, *, dtype=np.float32, rng: int | np.random.Generator | None = None):
        if isinstance(scale, bool) or scale not in SCALES:
            raise ValueError(f"ESPCN: expected scale 2, 3 or 4, got {scale!r}")
        rng = get_rng(rng)
        scale = int(scale)
        subpixel = icnr_(Conv2d(32, scale * scale, 3, padding=1, dtype=dtype, rng=rng), scale)
        self.body = Sequential(
            Conv2d(1, 64, 5, padding=2, dtype=dtype, rng=rng), Tanh(),
            Conv2d(64, 32, 3, padding=1, dtype=dtype, rng=rng), Tanh(),
            subpixel, PixelShuffle(scale),
        )
        self.scale = scale
        self.receptive_field = scale * (2 * (2 + 1 + 1) + 1)  # in LR pixels the three convs reach 2 + 1 + 1
        self.config = {"name": "espcn", "scale": scale}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """LR Y images ``(N, 1, h, w)`` to SR images ``(N, 1, scale h, scale w)``."""
        return self.body.forward(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx`` ``(N, 1, h, w)`` from ``dL/dout``; fills every parameter's ``.grad``."""
        return self.body.backward(grad_output)

    def num_parameters(self) -> int:
        """The number of trainable weights (every element of every parameter)."""
        return sum(p.data.size for p in self.parameters())

    def extra_repr(self) -> str:
        """The scale, for ``repr``."""
        return f"scale={self.scale}"
