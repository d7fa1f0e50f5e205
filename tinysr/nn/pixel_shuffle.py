"""``PixelShuffle`` and ``PixelUnshuffle``: the sub-pixel layer (see ``tinysr.ops.pixel_shuffle``)."""

from __future__ import annotations

import numpy as np

from tinysr._validation import check_positive_int
from tinysr.nn._checks import check_layer_input
from tinysr.nn.module import Module
from tinysr.ops import pixel_shuffle as ops


class PixelShuffle(Module):
    """``(N, C*r*r, H, W) -> (N, C, H*r, W*r)``, ``out[n, c, h*r+i, w*r+j] = in[n, c*r*r + i*r + j, h, w]``.

    A pure permutation of the input: its backward is ``PixelUnshuffle`` of the gradient.
    """

    def __init__(self, upscale_factor: int):
        self.upscale_factor = check_positive_int(upscale_factor, name="upscale_factor", layer="PixelShuffle")
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``(N, C r^2, H, W)`` to ``(N, C, H r, W r)``."""
        check_layer_input(self, x, ndim=4)
        out, self._cache = ops.pixel_shuffle_forward(x, self.upscale_factor)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """The unshuffle of ``grad_output``: ``(N, C, H r, W r)`` to ``(N, C r^2, H, W)``."""
        return ops.pixel_shuffle_backward(grad_output, self._require_cache())

    def extra_repr(self) -> str:
        """The factor, for ``repr``."""
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``(N, C, H*r, W*r) -> (N, C*r*r, H, W)``: the inverse permutation of ``PixelShuffle``."""

    def __init__(self, downscale_factor: int):
        self.downscale_factor = check_positive_int(
            downscale_factor, name="downscale_factor", layer="PixelUnshuffle"
        )
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``(N, C, H r, W r)`` to ``(N, C r^2, H, W)``."""
        check_layer_input(self, x, ndim=4)
        out, self._cache = ops.pixel_unshuffle_forward(x, self.downscale_factor)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """The shuffle of ``grad_output``: ``(N, C r^2, H, W)`` to ``(N, C, H r, W r)``."""
        return ops.pixel_unshuffle_backward(grad_output, self._require_cache())

    def extra_repr(self) -> str:
        """The factor, for ``repr``."""
        return f"downscale_factor={self.downscale_factor}"
