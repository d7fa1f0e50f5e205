"""2-D convolution (cross-correlation, as in PyTorch): forward rule, backward rule, NumPy and Numba tiers.

Shapes (PyTorch's layout and names)::

    x            (N, C_in, H, W)           input images
    weight       (C_out, C_in, kH, kW)     one kH x kW filter per (output channel, input channel)
    bias         (C_out,) or None
    out          (N, C_out, H_out, W_out)  H_out = floor((H + 2 ph - kH) / sh) + 1, likewise W_out
    grad_output  (N, C_out, H_out, W_out)  d loss / d out

``stride = (sh, sw)`` and ``padding = (ph, pw)`` (zero padding) may each be given as one int.

Forward. With ``xpad`` the input with ``ph`` zero rows above and below and ``pw`` zero columns
left and right, (N, C_in, H + 2 ph, W + 2 pw)::

    out[n, o, i, j] = bias[o] + sum_{c, u, v} weight[o, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]

Backward. Differentiate that sum with respect to each factor::

    grad_bias[o]            = sum_{n, i, j} grad_output[n, o, i, j]
    grad_weight[o, c, u, v] = sum_{n, i, j} grad_output[n, o, i, j] * xpad[n, c, i*sh + u, j*sw + v]
    grad_xpad[n, c, p, q]   = sum of grad_output[n, o, i, j] * weight[o, c, u, v]
                              over all (o, i, j, u, v) with i*sh + u = p and j*sw + v = q
    grad_input              = grad_xpad[:, :, ph:ph + H, pw:pw + W]   (padding has no gradient)

``grad_weight`` is a correlation of the input with ``grad_output``. ``grad_xpad`` is a scatter-add:
every output pixel sends ``grad_output * weight`` back to the window it was computed from. For
stride 1 that is a "full" correlation of the zero-padded ``grad_output`` with the kernel flipped
in both directions (``weight[o, c, kH-1-u, kW-1-v]``) and input/output channels swapped. When the
stride skips the last rows or columns of ``xpad`` (``(H + 2 ph - kH) % sh != 0``), no window
touches them and their gradient is 0.

Tiers. ``conv2d_forward_<tier>(x, weight, bias, stride, padding) -> out`` and
``conv2d_backward_<tier>(grad_output, cache) -> (grad_input, grad_weight, grad_bias)``, called by
``conv2d_forward``/``conv2d_backward`` with validated, C-contiguous arrays and (int, int) pairs:

* ``reference`` (below): NumPy, one ``einsum`` per kernel offset ``(u, v)``. Read these first.
* ``numba``: ``tinysr/ops/cpu/conv2d.py``, the same sums as BLAS matrix products in one of four
  layouts (im2col, shifted windows, Winograd rows, direct rows), each in its own file.
* ``cuda``: ``tinysr/ops/cuda/conv2d.py``, tiled numba.cuda kernels for GPU arrays.
"""

from __future__ import annotations

import numpy as np

from tinysr._validation import check_grad_output, check_weighted_arrays, contiguous, pair
from tinysr.ops.cpu.conv2d import conv2d_backward_numba, conv2d_forward_numba
from tinysr.tiers import choose_tier, tier_function

__all__ = [
    "conv2d_backward",
    "conv2d_backward_numba",
    "conv2d_backward_reference",
    "conv2d_forward",
    "conv2d_forward_numba",
    "conv2d_forward_reference",
]

_LAYER = "conv2d"


def _output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1, PyTorch's rule."""
    return (size + 2 * padding - kernel) // stride + 1


# ----------------------------------------------------------------------------- reference tier


def conv2d_forward_reference(x, weight, bias, stride, padding) -> np.ndarray:
    """``out[n,o,i,j] = bias[o] + sum_{c,u,v} weight[o,c,u,v] * xpad[n,c,i*sh+u,j*sw+v]`` in NumPy.

    x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,) or None, stride (sh, sw),
    padding (ph, pw) -> out (N, C_out, H_out, W_out). One einsum per kernel offset (u, v): the
    window ``xpad[:, :, u::sh, v::sw]`` (cut to H_out x W_out) is the input pixel that offset
    (u, v) of every output pixel looks at, and ``weight[:, :, u, v]`` mixes its channels.
    """
    (sh, sw), (ph, pw) = stride, padding
    n_images, _, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    h_out, w_out = _output_size(height, k_h, sh, ph), _output_size(width, k_w, sw, pw)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n_images, out_channels, h_out, w_out), dtype=x.dtype)
    for u in range(k_h):
        for v in range(k_w):
            window = xpad[:, :, u : u + sh * h_out : sh, v : v + sw * w_out : sw]  # (N, C_in, H_out, W_out)
            out += np.einsum("nchw,oc->nohw", window, weight[:, :, u, v])
    if bias is not None:
        out += bias[None, :, None, None]
    return out


def conv2d_backward_reference(grad_output, cache) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of the convolution in NumPy, one einsum per kernel offset (u, v).

    grad_output (N, C_out, H_out, W_out) -> grad_input (N, C_in, H, W),
    grad_weight (C_out, C_in, kH, kW), grad_bias (C_out,) or None if the forward had no bias::

        grad_xpad[:, :, window(u, v)] += sum_o grad_output[:, o] * weight[o, :, u, v]   (scatter-add)
        grad_weight[o, c, u, v]        = sum_{n,i,j} grad_output[n, o, i, j] * window(u, v)[n, c, i, j]
        grad_bias[o]                   = sum_{n,i,j} grad_output[n, o, i, j]

    where ``window(u, v) = xpad[:, :, u::sh, v::sw]`` cut to H_out x W_out, as in the forward pass.
    The scatter-add is the transpose of the forward gather; for stride 1 it equals a "full"
    correlation of grad_output (zero-padded by kH-1, kW-1) with the kernel flipped in both
    directions and its two channel axes swapped. ``grad_input`` is ``grad_xpad`` without the padding.
    """
    x, weight, has_bias, (sh, sw), (ph, pw) = cache
    _, _, height, width = x.shape
    _, _, k_h, k_w = weight.shape
    _, _, h_out, w_out = grad_output.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    grad_xpad = np.zeros_like(xpad)
    grad_weight = np.zeros_like(weight)
    for u in range(k_h):
        for v in range(k_w):
            rows, cols = slice(u, u + sh * h_out, sh), slice(v, v + sw * w_out, sw)
            grad_xpad[:, :, rows, cols] += np.einsum("nohw,oc->nchw", grad_output, weight[:, :, u, v])
            grad_weight[:, :, u, v] = np.einsum("nohw,nchw->oc", grad_output, xpad[:, :, rows, cols])
    grad_input = np.ascontiguousarray(grad_xpad[:, :, ph : ph + height, pw : pw + width])
    grad_bias = grad_output.sum(axis=(0, 2, 3)) if has_bias else None
    return grad_input, grad_weight, grad_bias


# ----------------------------------------------------------------------------- public API


def conv2d_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    *,
    backend: str | None = None,
) -> tuple[np.ndarray, tuple]:
    """Convolve x (N, C_in, H, W) with weight (C_out, C_in, kH, kW), add bias (C_out,); return (out, cache).

    ``out[n,o,i,j] = bias[o] + sum_{c,u,v} weight[o,c,u,v] * xpad[n,c,i*sh+u,j*sw+v]``, shape
    (N, C_out, floor((H + 2 ph - kH) / sh) + 1, floor((W + 2 pw - kW) / sw) + 1), like
    ``torch.nn.functional.conv2d``. ``stride`` >= 1 and ``padding`` >= 0 are ints or pairs.
    ``backend`` is the tier: "reference" (NumPy), "numba" (fast) or "cuda" (GPU arrays); by default
    ``tinysr.tier``'s, else the fastest for the arrays' device. ``cache = (x, weight, has_bias, stride,
    padding)`` (contiguous arrays, normalised pairs) is what ``conv2d_backward`` needs.
    """
    tier_name = choose_tier(x, backend, _LAYER)
    x, weight, bias, stride, padding = _checked_inputs(x, weight, bias, stride, padding)
    out = tier_function(tier_name, "conv2d", "conv2d_forward")(x, weight, bias, stride, padding)
    return out, (x, weight, bias is not None, stride, padding)


def conv2d_backward(
    grad_output: np.ndarray, cache: tuple, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return (grad_input, grad_weight, grad_bias) for grad_output (N, C_out, H_out, W_out).

    Shapes: grad_input like x (N, C_in, H, W), grad_weight like weight (C_out, C_in, kH, kW),
    grad_bias (C_out,) or None when the forward pass had no bias. Equations in the module docstring.
    """
    tier_name = choose_tier(cache[0], backend, _LAYER)
    x, weight, _, (sh, sw), (ph, pw) = cache
    expected = (
        x.shape[0],
        weight.shape[0],
        _output_size(x.shape[2], weight.shape[2], sh, ph),
        _output_size(x.shape[3], weight.shape[3], sw, pw),
    )
    grad_output = check_grad_output(grad_output, expected, x.dtype, _LAYER, like=x)
    return tier_function(tier_name, "conv2d", "conv2d_backward")(grad_output, cache)


def _checked_inputs(x, weight, bias, stride, padding) -> tuple:
    """The forward pass's inputs checked (for every tier, host or GPU arrays), contiguous, pairs normalised."""
    check_weighted_arrays(_LAYER, x, weight, bias, ndim=4)
    stride = pair(stride, name="stride", layer=_LAYER, minimum=1)
    padding = pair(padding, name="padding", layer=_LAYER, minimum=0)
    if x.size == 0 or weight.size == 0:
        raise ValueError(f"{_LAYER}: expected non-empty x and weight, got x {x.shape} and weight {weight.shape}")
    out_channels, in_channels, k_h, k_w = weight.shape
    if in_channels != x.shape[1]:
        raise ValueError(
            f"{_LAYER}: expected weight with {x.shape[1]} input channels to match x of shape {x.shape}, "
            f"got weight {weight.shape}"
        )
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(
            f"{_LAYER}: expected bias of shape ({out_channels},) to match weight {weight.shape}, "
            f"got bias {bias.shape}"
        )
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if k_h > padded[0] or k_w > padded[1]:
        raise ValueError(
            f"{_LAYER}: expected a kernel no larger than the padded input {padded} "
            f"(x {x.shape}, padding {padding}), got kernel ({k_h}, {k_w})"
        )
    bias = None if bias is None else contiguous(bias)
    return contiguous(x), contiguous(weight), bias, stride, padding
