"""``Conv2d``: the layer around ``tinysr.ops.conv2d`` (read that file for the maths)."""

from __future__ import annotations

import numpy as np

from tinysr._validation import pair
from tinysr.device import cuda_tier, is_device_array
from tinysr.nn._checks import check_layer_input
from tinysr.nn.init import default_parameters, get_rng
from tinysr.nn.module import Module
from tinysr.ops.conv2d import conv2d_backward, conv2d_forward


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every deep-learning library), NCHW.

    Shapes: input ``(N, C_in, H, W)``, ``weight`` ``(C_out, C_in, kH, kW)``, ``bias`` ``(C_out,)``,
    output ``(N, C_out, H_out, W_out)`` with ``H_out = (H + 2*pH - kH) // sH + 1``.

    ``padding`` is an int, a pair ``(pH, pW)``, or, as in PyTorch, ``"valid"`` (no padding) or
    ``"same"`` (stride 1 only: output size = input size; an even kernel puts the extra row and
    column of zeros at the bottom and right, as PyTorch does).

    Initialised as PyTorch: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    ``fan_in = C_in * kH * kW``, drawn from ``rng`` (seed, Generator, or the default generator).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        *,
        dtype=np.float32,
        rng: int | np.random.Generator | None = None,
    ):
        self.in_channels, self.out_channels, self.kernel_size, self.stride = checked_sizes(
            "Conv2d", in_channels, out_channels, kernel_size, stride)
        # (top/left padding, extra bottom/right padding): the extra is nonzero only for "same" with an even kernel
        self.padding, self._extra_padding = _resolve_padding(padding, self.kernel_size, self.stride)
        self.weight, self.bias = default_parameters((self.out_channels, self.in_channels, *self.kernel_size),
                                                    self.in_channels * self.kernel_size[0] * self.kernel_size[1],
                                                    self.out_channels if bias else None, get_rng(rng), dtype)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Convolve ``x`` ``(N, C_in, H, W)`` into ``(N, C_out, H_out, W_out)`` (``tinysr.ops.conv2d``)."""
        check_layer_input(self, x, ndim=4, channels=self.in_channels)
        bias = None if self.bias is None else self.bias.data
        extra_h, extra_w = self._extra_padding
        if extra_h or extra_w:  # "same" with an even kernel: the op pads symmetrically, so add the rest here
            x = _pad_bottom_right(x, extra_h, extra_w)
        out, self._cache = conv2d_forward(x, self.weight.data, bias, self.stride, self.padding)
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx`` ``(N, C_in, H, W)`` from ``dL/dout``; adds to ``weight.grad`` and ``bias.grad``."""
        grad_input, grad_weight, grad_bias = conv2d_backward(grad_output, self._require_cache())
        self.weight.accumulate_grad(grad_weight)
        if self.bias is not None:
            self.bias.accumulate_grad(grad_bias)
        extra_h, extra_w = self._extra_padding
        if extra_h or extra_w:  # the padded zeros are not inputs: drop their gradient
            grad_input = _crop_bottom_right(grad_input, extra_h, extra_w)
        return grad_input

    def extra_repr(self) -> str:
        """Channels, kernel, stride and padding, for ``repr``."""
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self._extra_padding != (0, 0):
            text += ", padding='same'"
        elif self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text


def checked_sizes(layer: str, in_channels, out_channels, kernel_size, stride) -> tuple:
    """A convolution layer's channel counts (ints >= 1), kernel size and stride (pairs of ints >= 1)."""
    if int(in_channels) < 1 or int(out_channels) < 1:
        raise ValueError(f"{layer}: expected channel counts >= 1, got {in_channels}, {out_channels}")
    return (int(in_channels), int(out_channels), pair(kernel_size, name="kernel_size", layer=layer, minimum=1),
            pair(stride, name="stride", layer=layer, minimum=1))


def _pad_bottom_right(x, extra_h: int, extra_w: int):
    """x (N, C, H, W) with ``extra_h`` zero rows below and ``extra_w`` zero columns on the right."""
    if is_device_array(x):
        return cuda_tier("arrays").pad_bottom_right(x, extra_h, extra_w)
    return np.pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))


def _crop_bottom_right(x, extra_h: int, extra_w: int):
    """x (N, C, H, W) without its last ``extra_h`` rows and ``extra_w`` columns, C-contiguous."""
    if is_device_array(x):
        return cuda_tier("arrays").crop_bottom_right(x, extra_h, extra_w)
    return np.ascontiguousarray(x[:, :, : x.shape[2] - extra_h, : x.shape[3] - extra_w])


def _resolve_padding(padding, kernel_size: tuple[int, int], stride: tuple[int, int]):
    """Return ``((pH, pW), (extra_h, extra_w))`` for an int, a pair, ``"valid"`` or ``"same"``."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"Conv2d: expected padding to be an int, a pair, 'valid' or 'same', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"Conv2d: padding='same' needs stride 1 (as in PyTorch), got stride={stride}")
        totals = (kernel_size[0] - 1, kernel_size[1] - 1)
        return (totals[0] // 2, totals[1] // 2), (totals[0] % 2, totals[1] % 2)
    return pair(padding, name="padding", layer="Conv2d", minimum=0), (0, 0)
