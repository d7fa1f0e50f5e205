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

The backward pass is that convolution's backward pass (``conv2d_backward_numba``: the input and the
phase kernels' gradients in one call), after un-interleaving ``grad_output``; the phase kernels'
gradient is rearranged back into the weight's layout. Each function equals the ``*_reference``
function of the same name in the op file.
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


def _weight_from_phases(phases: np.ndarray, weight_shape, stride) -> np.ndarray:
    """The inverse of ``_phase_weights`` (taps beyond the kernel dropped): for the weight's gradient."""
    (sh, sw), (c_in, c_out, k_h, k_w) = stride, weight_shape
    d_h, d_w = phases.shape[2:]
    by_phase = phases.reshape(c_out, sh, sw, c_in, d_h, d_w).transpose(3, 0, 4, 1, 5, 2)[:, :, ::-1, :, ::-1, :]
    return np.ascontiguousarray(by_phase.reshape(c_in, c_out, d_h * sh, d_w * sw)[:, :, :k_h, :k_w])


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
    """Numba tier of ``conv_transpose2d_backward_reference``: the phases' convolution's backward pass."""
    x, weight, has_bias, stride, padding, output_padding = cache
    (sh, sw), (ph, pw) = stride, padding
    (pad_h, pad_w), (h_out, w_out) = _geometry(x.shape, weight.shape, stride, padding, output_padding)
    n_images, out_channels = grad_output.shape[:2]
    rows, cols = x.shape[2] + sum(pad_h) - _taps(weight.shape[2], sh) + 1, x.shape[3] + sum(pad_w) - \
        _taps(weight.shape[3], sw) + 1
    grad_full = np.zeros((n_images, out_channels, rows * sh, cols * sw), grad_output.dtype)
    grad_full[:, :, ph : ph + h_out, pw : pw + w_out] = grad_output
    grad_phases = grad_full.reshape(n_images, out_channels, rows, sh, cols, sw).transpose(0, 1, 3, 5, 2, 4)
    grad_phases = np.ascontiguousarray(grad_phases.reshape(n_images, out_channels * sh * sw, rows, cols))
    xpad = np.pad(x, ((0, 0), (0, 0), pad_h, pad_w))
    grad_xpad, grad_phase_weights, _ = conv2d_backward_numba(
        grad_phases, (xpad, _phase_weights(weight, stride), False, (1, 1), (0, 0)))
    grad_input = np.ascontiguousarray(grad_xpad[:, :, pad_h[0] : pad_h[0] + x.shape[2],
                                                pad_w[0] : pad_w[0] + x.shape[3]])
    grad_weight = _weight_from_phases(grad_phase_weights, weight.shape, stride)
    grad_bias = grad_output.sum(axis=(0, 2, 3), dtype=np.float64).astype(x.dtype) if has_bias else None
    return grad_input, grad_weight, grad_bias
