"""``ConvTranspose2d``: the layer around ``tinysr.ops.conv_transpose2d`` (read that file for the maths)."""

from __future__ import annotations

import numpy as np

from tinysr._validation import pair
from tinysr.nn._checks import check_layer_input
from tinysr.nn.conv import checked_sizes
from tinysr.nn.init import default_parameters, get_rng
from tinysr.nn.module import Module
from tinysr.ops.conv_transpose2d import conv_transpose2d_backward, conv_transpose2d_forward


class ConvTranspose2d(Module):
    """2-D transposed convolution, NCHW, with PyTorch's names, layout and output size.

    Shapes: input ``(N, C_in, H, W)``, ``weight`` ``(C_in, C_out, kH, kW)``, ``bias`` ``(C_out,)``,
    output ``(N, C_out, H_out, W_out)`` with ``H_out = (H - 1) * sH - 2 * pH + kH + opH``.
    ``output_padding`` (smaller than the stride) adds rows and columns at the bottom and right, so
    that a stride-s layer can give every output size a stride-s convolution maps to the input's.

    Initialised as PyTorch: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    ``fan_in = C_out * kH * kW`` (PyTorch computes it from the weight's second axis), drawn from
    ``rng`` (seed, Generator, or the default generator).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 output_padding: int | tuple[int, int] = 0, bias: bool = True, *, dtype=np.float32,
                 rng: int | np.random.Generator | None = None):
        layer = "ConvTranspose2d"
        self.in_channels, self.out_channels, self.kernel_size, self.stride = checked_sizes(
            layer, in_channels, out_channels, kernel_size, stride)
        self.padding = pair(padding, name="padding", layer=layer, minimum=0)
        self.output_padding = pair(output_padding, name="output_padding", layer=layer, minimum=0)
        if self.output_padding[0] >= self.stride[0] or self.output_padding[1] >= self.stride[1]:
            raise ValueError(f"{layer}: expected output_padding smaller than the stride {self.stride}, "
                             f"got {self.output_padding}")
        self.weight, self.bias = default_parameters((self.in_channels, self.out_channels, *self.kernel_size),
                                                    self.out_channels * self.kernel_size[0] * self.kernel_size[1],
                                                    self.out_channels if bias else None, get_rng(rng), dtype)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``(N, C_in, H, W)`` to ``(N, C_out, H_out, W_out)`` (``tinysr.ops.conv_transpose2d``)."""
        check_layer_input(self, x, ndim=4, channels=self.in_channels)
        bias = None if self.bias is None else self.bias.data
        out, self._cache = conv_transpose2d_forward(x, self.weight.data, bias, self.stride, self.padding,
                                                    self.output_padding)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx`` ``(N, C_in, H, W)`` from ``dL/dout``; adds to ``weight.grad`` and ``bias.grad``."""
        grad_input, grad_weight, grad_bias = conv_transpose2d_backward(grad_output, self._require_cache())
        self.weight.accumulate_grad(grad_weight)
        if self.bias is not None:
            self.bias.accumulate_grad(grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        """Channels, kernel, stride, padding and output padding, for ``repr``."""
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.bias is None:
            text += ", bias=False"
        return text
