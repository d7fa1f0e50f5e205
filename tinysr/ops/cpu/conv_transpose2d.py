"""Numba tier of ``tinysr/ops/conv_transpose2d.py``: one convolution per output phase, then interleaved.

A transposed convolution with stride ``s`` gives output pixel ``Y`` (in the frame before the
padding is cropped) the sum over the input pixels ``i`` and kernel rows ``U`` with
``i*s + U = Y``. Write ``Y = q*s + a``: only the kernel rows ``U = d*s + a`` (``d = q - i``) reach
it, so each *phase* ``a`` (and ``b`` for columns) of the output is an ordinary stride-1
convolution of the input with the sub-kernel ``weight[:, :, a::s, b::s]``, flipped::

    full[n, o, q*s + a, t*s + b] = sum_{c,j,l} xpad[n, c, q + j, t + l] * g[o, a, b, c, j, l]
    g[o, a, b, c, j, l]          = weight[c, o, (D-1-j)*s + a, (D-1-l)*s + b]   (0 beyond the kernel)

with ``D = ceil(k / s)`` taps per phase and ``xpad`` the input with ``D - 1`` zeros before it. All
``s*s`` phases are one convolution to ``C_out*s*s`` channels (``conv2d_forward_numba``, the fast
stride-1 kernels), and interleaving its channels into the frame is a pixel shuffle: a transposed
convolution *is* a sub-pixel convolution with rearranged weights (tutorial 10 proves it).

The backward pass is the op file's equations as they stand: the input gradient is ``conv2d``'s
forward pass of ``grad_output`` (same weight, stride and padding), and the weight gradient is
``conv2d``'s weight gradient with ``grad_output`` in the role of its input and ``x`` in that of its
``grad_output``. (``conv2d_backward_numba`` also computes an input gradient there, the size of
``grad_output``, which is thrown away. The phases' own backward pass would avoid it, but measured
slower on FSRCNN's shapes: 3.3 ms instead of 1.0 for a batch of 16 11x11 maps, one thread.) Each
function equals the ``*_reference`` function of the same name in the op file.
"""

from __future__ import annotations

import numpy as np

from tinysr.ops.conv_transpose2d import output_size
from tinysr.ops.cpu.conv2d import conv2d_backward_numba, conv2d_forward_numba


def _taps(kernel: int, stride: int) -> int:
    """``D``: the kernel taps one output phase uses, ``ceil(kernel / stride)``."""
    return -(-kernel // stride)


def _phase_weights(weight: np.ndarray, stride) -> np.ndarray:
    """``(C_in, C_out, kH, kW)`` -> the phase kernels ``g`` as one conv2d weight ``(C_out*sh*sw, C_in, Dh, Dw)``."""
    (sh, sw), (c_in, c_out, k_h, k_w) = stride, weight.shape
    d_h, d_w = _taps(k_h, sh), _taps(k_w, sw)
    padded = np.zeros((c_in, c_out, d_h * sh, d_w * sw), weight.dtype)
    padded[:, :, :k_h, :k_w] = weight
    by_phase = padded.reshape(c_in, c_out, d_h, sh, d_w, sw)[:, :, ::-1, :, ::-1, :]  # (c, o, j, a, l, b)
    return np.ascontiguousarray(by_phase.transpose(1, 3, 5, 0, 2, 4).reshape(c_out * sh * sw, c_in, d_h, d_w))


def _geometry(x_shape, weight_shape, stride, padding, output_padding) -> tuple:
    """The input's zero padding ``((Dh - 1, bottom), (Dw - 1, right))`` and the output's size.

    ``bottom`` (``right``) adds rows where the cropped output reaches past the phases' last row
    (an output padding larger than the padding).
    """
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    _, _, height, width = x_shape
    _, _, k_h, k_w = weight_shape
    h_out, w_out = output_size(height, k_h, sh, ph, oph), output_size(width, k_w, sw, pw, opw)
    rows, cols = -(-(ph + h_out) // sh), -(-(pw + w_out) // sw)  # phase rows and columns the output needs
    pads = ((_taps(k_h, sh) - 1, max(rows - height, 0)), (_taps(k_w, sw) - 1, max(cols - width, 0)))
    return pads, (h_out, w_out)


def conv_transpose2d_forward_numba(x, weight, bias, stride, padding, output_padding) -> np.ndarray:
    """Numba tier of ``conv_transpose2d_forward_reference``: the phases' convolution, interleaved and cropped."""
    (sh, sw), (ph, pw) = stride, padding
    (pad_h, pad_w), (h_out, w_out) = _geometry(x.shape, weight.shape, stride, padding, output_padding)
    xpad = np.pad(x, ((0, 0), (0, 0), pad_h, pad_w))
    phases = conv2d_forward_numba(xpad, _phase_weights(weight, stride), None, (1, 1), (0, 0))
    n_images, _, rows, cols = phases.shape
    out_channels = weight.shape[1]
    full = phases.reshape(n_images, out_channels, sh, sw, rows, cols).transpose(0, 1, 4, 2, 5, 3)
    full = full.reshape(n_images, out_channels, rows * sh, cols * sw)
    out = np.ascontiguousarray(full[:, :, ph : ph + h_out, pw : pw + w_out])
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return out


def conv_transpose2d_backward_numba(grad_output, cache) -> tuple:
    """Numba tier of ``conv_transpose2d_backward_reference``: conv2d's forward pass and its weight gradient."""
    x, weight, has_bias, stride, padding, _ = cache
    grad_input = conv2d_forward_numba(grad_output, weight, None, stride, padding)
    _, grad_weight, _ = conv2d_backward_numba(x, (grad_output, weight, False, stride, padding))
    grad_bias = grad_output.sum(axis=(0, 2, 3), dtype=np.float64).astype(x.dtype) if has_bias else None
    return grad_input, grad_weight, grad_bias
