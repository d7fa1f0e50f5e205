"""SRResNet (Ledig et al., 2017): the generator of SRGAN, trained alone with MSE.

The input is the low-resolution RGB image itself (no bicubic pre-upsampling): the network
works at low resolution and only its last layers enlarge the image, with sub-pixel
convolutions (a convolution to ``4 x`` the features, then ``PixelShuffle(2)``)::

    conv 9x9 (F) -> PReLU                                          head, kept for the long skip
    num_blocks x [conv 3x3 -> BN -> PReLU -> conv 3x3 -> BN, + x]  residual blocks
    conv 3x3 -> BN, + head                                         long skip
    log2(scale) x [conv 3x3 (4F) -> PixelShuffle(2) -> PReLU]      upsampling, x2 each
    conv 9x9 (3)                                                   back to RGB

Shapes: input ``(N, 3, h, w)`` float in [0, 1], output ``(N, 3, scale*h, scale*w)``.

Sub-pixel convolutions start with ICNR (Aitken et al., 2017): each group of ``r*r`` output
channels that ``PixelShuffle(r)`` spreads over one ``r x r`` block starts with the *same*
kernel, so that the first output is a nearest-neighbour upsampling of the features and has no
checkerboard pattern. Random kernels would give each of the ``r*r`` positions its own
response, a grid the network must then learn away.
"""

from __future__ import annotations

import numpy as np

from tinysr.nn import BatchNorm2d, Conv2d, Module, PixelShuffle, PReLU, Residual, Sequential
from tinysr.nn.init import get_rng
from tinysr.ops.add import add_backward, add_forward

__all__ = ["SRResNet", "icnr_"]

SCALES = (2, 4, 8)


def icnr_(conv: Conv2d, upscale_factor: int) -> Conv2d:
    """Give a sub-pixel convolution ICNR weights (in place); returns ``conv``.

    ``conv`` has ``C * r * r`` output channels; ``PixelShuffle(r)`` sends output channel
    ``c * r * r + k`` to position ``k`` of the ``r x r`` block of channel ``c``. ICNR keeps the
    first kernel of each group and copies it over the other ``r * r - 1`` (bias too), so all
    positions of a block start equal: ``weight[c*r*r + k] = weight[c*r*r]``.
    """
    group = upscale_factor * upscale_factor
    if conv.out_channels % group:
        raise ValueError(f"icnr_: {conv.out_channels} output channels is not a multiple of r*r = {group}")
    weight = conv.weight.data.reshape(conv.out_channels // group, group, *conv.weight.data.shape[1:])
    weight[:, 1:] = weight[:, :1]
    if conv.bias is not None:
        bias = conv.bias.data.reshape(-1, group)
        bias[:, 1:] = bias[:, :1]
    return conv


class SRResNet(Module):
    """The SRGAN generator; ``SRResNet()`` is the paper's x4 network with 1,549,462 parameters.

    Args:
        scale: 2, 4 or 8 (one sub-pixel block per factor of 2).
        num_blocks: residual blocks (16 in the paper).
        num_features: channels inside the network (64 in the paper).
        icnr: initialise the sub-pixel convolutions with ICNR (default) instead of at random.
        dtype, rng: float32 for training, float64 for gradient checks; seed or Generator.

    Attributes:
        config: ``{"name": "srresnet", "scale", "num_blocks", "num_features"}`` for ``build_model``.
        scale: the upscaling factor.
        receptive_field: side, in output pixels, of the window of the LR image (upscaled) that
            one output pixel can see (an upper bound), for tiling.
        input_mode, channels: "lr", 3: it reads the low-resolution RGB image itself.

    Parameter names follow the layout above: ``head.0.weight``, ``blocks.3.body.1.running_mean``,
    ``trunk.0.weight``, ``upsample.0.weight`` (the first sub-pixel conv), ``tail.weight``.
    """

    input_mode, channels = "lr", 3

    def __init__(self, scale: int = 4, num_blocks: int = 16, num_features: int = 64, *, icnr: bool = True,
                 dtype=np.float32, rng: int | np.random.Generator | None = None):
        if isinstance(scale, bool) or scale not in SCALES:
            raise ValueError(f"SRResNet: expected scale 2, 4 or 8, got {scale!r}")
        for name, value in (("num_blocks", num_blocks), ("num_features", num_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"SRResNet: expected {name} to be a positive int, got {value!r}")
        rng = get_rng(rng)
        features = int(num_features)

        def conv(c_in: int, c_out: int, k: int) -> Conv2d:
            return Conv2d(c_in, c_out, k, padding=k // 2, dtype=dtype, rng=rng)

        self.head = Sequential(conv(3, features, 9), PReLU(dtype=dtype))
        self.blocks = Sequential(*[
            Residual(Sequential(conv(features, features, 3), BatchNorm2d(features, dtype=dtype), PReLU(dtype=dtype),
                                conv(features, features, 3), BatchNorm2d(features, dtype=dtype)))
            for _ in range(int(num_blocks))
        ])
        self.trunk = Sequential(conv(features, features, 3), BatchNorm2d(features, dtype=dtype))
        upsample = []
        for _ in range(int(scale).bit_length() - 1):  # log2(scale) x2 blocks
            subpixel = conv(features, 4 * features, 3)
            if icnr:
                icnr_(subpixel, 2)
            upsample += [subpixel, PixelShuffle(2), PReLU(dtype=dtype)]
        self.upsample = Sequential(*upsample)
        self.tail = conv(features, 3, 9)
        self.scale = int(scale)
        # Receptive field, in output (HR) pixels, for tiling: in LR pixels each 3x3 conv reaches 1 pixel
        # further and the 9x9 head 4; the convolutions after the first sub-pixel layer reach less than
        # one LR pixel each, counted as 1 per layer (plus 1 for the tail), an upper bound.
        lr_radius = 4 + 2 * int(num_blocks) + 1 + len(upsample) // 3 + 1
        self.receptive_field = self.scale * (2 * lr_radius + 1)
        self.config = {"name": "srresnet", "scale": int(scale), "num_blocks": int(num_blocks),
                       "num_features": features}
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """LR images ``(N, 3, h, w)`` to SR images ``(N, 3, scale h, scale w)``."""
        head = self.head.forward(x)
        trunk = self.trunk.forward(self.blocks.forward(head))
        summed, self._cache = add_forward(head, trunk)  # the long skip
        return self.tail.forward(self.upsample.forward(summed))

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx`` ``(N, 3, h, w)`` from ``dL/dout`` ``(N, 3, scale h, scale w)``; fills every ``.grad``."""
        grad_sum = self.upsample.backward(self.tail.backward(grad_output))
        grad_skip, grad_trunk = add_backward(grad_sum, self._require_cache())
        # the gradient reaches head twice, along the long skip and through the blocks, and the two add
        grad_head, _ = add_forward(grad_skip, self.blocks.backward(self.trunk.backward(grad_trunk)))
        return self.head.backward(grad_head)

    def num_parameters(self) -> int:
        """The number of trainable weights (every element of every parameter)."""
        return sum(p.data.size for p in self.parameters())

    def extra_repr(self) -> str:
        """The network's configuration (scale, blocks, features), for ``repr``."""
        return ", ".join(f"{key}={value}" for key, value in self.config.items() if key != "name")
