"""Numba tier of ``tinysr/ops/conv_transpose2d.py``: the convolution's own fast passes, roles exchanged.

As the op file derives: the transposed convolution's forward pass is ``conv2d``'s input gradient
(with ``grad_output = x`` and the same weight array), its input gradient is ``conv2d``'s forward
pass, and its weight gradient is ``conv2d``'s weight gradient with the two arrays exchanged. Each
function equals the ``*_reference`` one of the same name there.

Not yet tuned: ``conv2d``'s backward computes the input and the weight gradient together, so each
call here computes one product it throws away (a zero-filled stand-in is passed for the array
whose gradient is not wanted).
"""

from __future__ import annotations

import numpy as np

from tinysr.ops.conv_transpose2d import output_size
from tinysr.ops.cpu.conv2d import conv2d_backward_numba, conv2d_forward_numba


def conv_transpose2d_forward_numba(x, weight, bias, stride, padding, output_padding) -> np.ndarray:
    """Numba tier of ``conv_transpose2d_forward_reference``: conv2d's input gradient with grad_output = x."""
    n_images, _, height, width = x.shape
    _, out_channels, k_h, k_w = weight.shape
    shape = (n_images, out_channels, output_size(height, k_h, stride[0], padding[0], output_padding[0]),
             output_size(width, k_w, stride[1], padding[1], output_padding[1]))
    out, _, _ = conv2d_backward_numba(x, (np.zeros(shape, x.dtype), weight, False, stride, padding))
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return out


def conv_transpose2d_backward_numba(grad_output, cache) -> tuple:
    """Numba tier of ``conv_transpose2d_backward_reference``."""
    x, weight, has_bias, stride, padding, _ = cache
    grad_input = conv2d_forward_numba(grad_output, weight, None, stride, padding)
    _, grad_weight, _ = conv2d_backward_numba(x, (grad_output, weight, False, stride, padding))
    grad_bias = grad_output.sum(axis=(0, 2, 3), dtype=np.float64).astype(x.dtype) if has_bias else None
    return grad_input, grad_weight, grad_bias
