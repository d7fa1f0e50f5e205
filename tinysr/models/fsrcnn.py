"""FSRCNN (Dong, Loy and Tang, ECCV 2016): SRCNN made fast by working at low resolution.

SRCNN convolves the bicubic-upscaled image, so every layer pays for ``scale^2`` times the pixels.
FSRCNN reads the low-resolution Y channel itself and learns the upscaling in its last layer, a
transposed convolution with stride ``scale`` (``tinysr/ops/conv_transpose2d.py``)::

    conv 5x5 (d)      -> PReLU      feature extraction
    conv 1x1 (s)      -> PReLU      shrinking: d -> s channels, so the mapping is cheap
    m x [conv 3x3 (s) -> PReLU]     mapping
    conv 1x1 (d)      -> PReLU      expanding: s -> d channels
    deconv 9x9, stride scale (1)    upscaling to the HR grid (padding 4, output_padding scale - 1)

Shapes: input ``(N, 1, h, w)`` float in [0, 1], output ``(N, 1, scale*h, scale*w)``. The paper's
x3 network (d, s, m) = (56, 12, 4) has 12,464 weights (the paper's count), 12,637 with the biases,
and 172 PReLU slopes (one per channel).

Initialisation as the paper: the convolutions with He et al.'s method for PReLU networks
(``N(0, 2 / fan_in)``; the paper's PReLU slopes start at 0.25), biases 0, and the deconvolution
``N(0, 0.001^2)``, so that training starts from a near-zero output and the first layers learn first.
"""

from __future__ import annotations

import math

import numpy as np

from tinysr.nn import Conv2d, ConvTranspose2d, Module, PReLU, Sequential
from tinysr.nn.init import get_rng

__all__ = ["FSRCNN"]

SCALES = (2, 3, 4)


class FSRCNN(Module):
    """``FSRCNN(scale)``: the paper's network for one upscaling factor, on 1 channel (Y).

    Args:
        scale: 2, 3 or 4 (the deconvolution's stride).
        d, s, m: feature channels, shrunk channels, mapping layers ((56, 12, 4) in the paper).
        dtype, rng: float32 for training, float64 for gradient checks; seed or Generator.

    Attributes:
        config: ``{"name": "fsrcnn", "scale", "d", "s", "m"}`` for ``build_model``.
        receptive_field: side, in output pixels, of the upscaled LR window one output pixel can see
            (an upper bound), for tiling.
        input_mode, channels: "lr", 1: it reads the low-resolution Y channel itself.
    """

    input_mode, channels = "lr", 1

    def __init__(self, scale: int = 3, d: int = 56, s: int = 12, m: int = 4, *, dtype=np.float32,
                 rng: int | np.random.Generator | None = None):
        if isinstance(scale, bool) or scale not in SCALES:
            raise ValueError(f"FSRCNN: expected scale 2, 3 or 4, got {scale!r}")
        for name, value, low in (("d", d, 1), ("s", s, 1), ("m", m, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"FSRCNN: expected {name} to be an int >= {low}, got {value!r}")
        rng = get_rng(rng)
        d, s, m, scale = int(d), int(s), int(m), int(scale)

        def conv(c_in: int, c_out: int, k: int) -> Sequential:
            layer = Conv2d(c_in, c_out, k, padding=k // 2, dtype=dtype, rng=rng)
            layer.weight.data[...] = rng.normal(0.0, math.sqrt(2.0 / (c_in * k * k)), layer.weight.shape)
            layer.bias.data[...] = 0
            return Sequential(layer, PReLU(c_out, dtype=dtype))

        self.features = conv(1, d, 5)
        self.shrink = conv(d, s, 1)
        self.mapping = Sequential(*[conv(s, s, 3) for _ in range(m)])
        self.expand = conv(s, d, 1)
        self.deconv = ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1, dtype=dtype,
                                      rng=rng)
        self.deconv.weight.data[...] = rng.normal(0.0, 0.001, self.deconv.weight.shape)
        self.deconv.bias.data[...] = 0
        self.scale = scale
        # one LR pixel reaches 2 + m LR pixels to each side through the convolutions (2 for the 5x5, 1 per
        # 3x3), and the deconvolution spreads each LR pixel over 9 output pixels, scale apart
        self.receptive_field = 2 * (2 + m) * scale + 9
        self.config = {"name": "fsrcnn", "scale": scale, "d": d, "s": s, "m": m}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """LR Y images ``(N, 1, h, w)`` to SR images ``(N, 1, scale h, scale w)``."""
        x = self.expand.forward(self.mapping.forward(self.shrink.forward(self.features.forward(x))))
        return self.deconv.forward(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """The forward pass in reverse: ``dL/dx`` ``(N, 1, h, w)``; fills every parameter's ``.grad``."""
        grad = self.mapping.backward(self.expand.backward(self.deconv.backward(grad_output)))
        return self.features.backward(self.shrink.backward(grad))

    def num_parameters(self) -> int:
        """The number of trainable weights (every element of every parameter, PReLU slopes included)."""
        return sum(p.data.size for p in self.parameters())

    def extra_repr(self) -> str:
        """The network's configuration, for ``repr``."""
        return ", ".join(f"{key}={value}" for key, value in self.config.items() if key != "name")
