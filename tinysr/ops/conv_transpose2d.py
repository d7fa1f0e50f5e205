"""2-D transposed convolution (PyTorch's ``conv_transpose2d``): a convolution's input gradient, used as a layer.

Shapes (PyTorch's layout and names)::

    x            (N, C_in, H, W)            input images
    weight       (C_in, C_out, kH, kW)      in-channels first (a convolution's weight is out-channels first)
    bias         (C_out,) or None
    out          (N, C_out, H_out, W_out)   H_out = (H - 1) sh - 2 ph + kH + oph, likewise W_out
    grad_output  (N, C_out, H_out, W_out)   d loss / d out

``stride = (sh, sw) >= 1``, ``padding = (ph, pw) >= 0`` and ``output_padding = (oph, opw)``, each
smaller than its stride, may each be given as one int.

Forward. Every input pixel spreads a kH x kW patch of its channel's kernel into the output, the
patches ``stride`` apart, into a frame ``ph`` (``pw``) larger on each side than the output::

    full[n, o, i*sh + u, j*sw + v] += x[n, c, i, j] * weight[c, o, u, v]     for every (c, i, j, u, v)
    out[n, o, y, x]                 = full[n, o, y + ph, x + pw] + bias[o]

With stride s the image grows s times: this is how FSRCNN learns its upscaling. Compare with
``conv2d.py``: that scatter-add is exactly the *input gradient* of a convolution whose weight is
this same array (a convolution's weight is (C_out', C_in', kH, kW) = (C_in, C_out, kH, kW) here)
and whose ``grad_output`` is ``x``. A transposed convolution's forward pass is a convolution's
backward pass, and the other way round.

Backward. ``out`` is linear in ``x`` and in ``weight``; differentiating the sum above::

    grad_input[n, c, i, j]  = sum_{o, u, v} gfull[n, o, i*sh + u, j*sw + v] * weight[c, o, u, v]
    grad_weight[c, o, u, v] = sum_{n, i, j} x[n, c, i, j] * gfull[n, o, i*sh + u, j*sw + v]
    grad_bias[o]            = sum_{n, y, x} grad_output[n, o, y, x]

where ``gfull`` is ``grad_output`` put back into the frame, zero on its ``ph`` / ``pw`` border. So
``grad_input`` is an ordinary convolution of ``grad_output`` with ``weight`` (``conv2d``'s forward
pass, same stride and padding), and ``grad_weight`` is ``conv2d``'s weight gradient with the roles
of its input and its ``grad_output`` taken by ``grad_output`` and ``x``.

Tiers. ``conv_transpose2d_forward_<tier>(x, weight, bias, stride, padding, output_padding) -> out``
and ``conv_transpose2d_backward_<tier>(grad_output, cache) -> (grad_input, grad_weight, grad_bias)``:

* ``reference`` (below): NumPy, one ``einsum`` per kernel offset ``(u, v)``. Read these first.
* ``numba`` (``tinysr/ops/cpu/conv_transpose2d.py``) and ``cuda`` (``tinysr/ops/cuda/conv_transpose2d.py``):
  the convolution's own fast passes, as the equations above say.
"""

from __future__ import annotations

import numpy as np

from tinysr._validation import check_grad_output, check_weighted_arrays, contiguous, pair
from tinysr.tiers import choose_tier, tier_function

__all__ = ["conv_transpose2d_backward", "conv_transpose2d_forward", "output_size"]

_LAYER = "conv_transpose2d"


def output_size(size: int, kernel: int, stride: int, padding: int, output_padding: int) -> int:
    """``(size - 1) stride - 2 padding + kernel + output_padding``, PyTorch's rule."""
    return (size - 1) * stride - 2 * padding + kernel + output_padding


# ----------------------------------------------------------------------------- reference tier


def conv_transpose2d_forward_reference(x, weight, bias, stride, padding, output_padding) -> np.ndarray:
    """``full[n,o,i*sh+u,j*sw+v] += x[n,c,i,j] weight[c,o,u,v]``, cropped by the padding, plus bias; NumPy.

    x (N, C_in, H, W), weight (C_in, C_out, kH, kW), bias (C_out,) or None; pairs for the rest.
    """
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    n_images, _, height, width = x.shape
    _, out_channels, k_h, k_w = weight.shape
    h_out, w_out = output_size(height, k_h, sh, ph, oph), output_size(width, k_w, sw, pw, opw)
    full = np.zeros((n_images, out_channels, h_out + 2 * ph, w_out + 2 * pw), dtype=x.dtype)
    for u in range(k_h):
        for v in range(k_w):
            rows, cols = slice(u, u + sh * height, sh), slice(v, v + sw * width, sw)
            full[:, :, rows, cols] += np.einsum("nchw,co->nohw", x, weight[:, :, u, v])
    out = full[:, :, ph : ph + h_out, pw : pw + w_out]
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out)


def conv_transpose2d_backward_reference(grad_output, cache) -> tuple:
    """``(grad_input, grad_weight, grad_bias)`` of the equations in the module docstring; NumPy."""
    x, weight, has_bias, (sh, sw), (ph, pw), _ = cache
    _, _, height, width = x.shape
    _, _, k_h, k_w = weight.shape
    gfull = np.pad(grad_output, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    grad_input = np.zeros_like(x)
    grad_weight = np.zeros_like(weight)
    for u in range(k_h):
        for v in range(k_w):
            window = gfull[:, :, u : u + sh * height : sh, v : v + sw * width : sw]  # (N, C_out, H, W)
            grad_input += np.einsum("nohw,co->nchw", window, weight[:, :, u, v])
            grad_weight[:, :, u, v] = np.einsum("nchw,nohw->co", x, window)
    grad_bias = grad_output.sum(axis=(0, 2, 3)) if has_bias else None
    return grad_input, grad_weight, grad_bias


# ----------------------------------------------------------------------------- public API


def conv_transpose2d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, *,
                             backend: str | None = None) -> tuple:
    """Transposed convolution of x (N, C_in, H, W) with weight (C_in, C_out, kH, kW); returns (out, cache).

    ``out`` is (N, C_out, (H - 1) sh - 2 ph + kH + oph, (W - 1) sw - 2 pw + kW + opw), like
    ``torch.nn.functional.conv_transpose2d``. ``backend``: "reference", "numba" or "cuda" (GPU arrays);
    by default ``tinysr.tier``'s, else the fastest for the arrays' device. ``cache = (x, weight,
    has_bias, stride, padding, output_padding)`` is what ``conv_transpose2d_backward`` needs.
    """
    tier_name = choose_tier(x, backend, _LAYER)
    x, weight, bias, stride, padding, output_padding = _checked_inputs(x, weight, bias, stride, padding,
                                                                       output_padding)
    out = tier_function(tier_name, "conv_transpose2d", "conv_transpose2d_forward")(
        x, weight, bias, stride, padding, output_padding)
    return out, (x, weight, bias is not None, stride, padding, output_padding)


def conv_transpose2d_backward(grad_output, cache: tuple, *, backend: str | None = None) -> tuple:
    """``(grad_input, grad_weight, grad_bias)``: shaped like x (N, C_in, H, W), weight, and (C_out,) or None."""
    tier_name = choose_tier(cache[0], backend, _LAYER)
    x, weight, _, (sh, sw), (ph, pw), (oph, opw) = cache
    expected = (x.shape[0], weight.shape[1], output_size(x.shape[2], weight.shape[2], sh, ph, oph),
                output_size(x.shape[3], weight.shape[3], sw, pw, opw))
    grad_output = check_grad_output(grad_output, expected, x.dtype, _LAYER, like=x)
    return tier_function(tier_name, "conv_transpose2d", "conv_transpose2d_backward")(grad_output, cache)


def _checked_inputs(x, weight, bias, stride, padding, output_padding) -> tuple:
    """The forward pass's inputs checked for every tier (host or GPU arrays), contiguous, pairs normalised."""
    check_weighted_arrays(_LAYER, x, weight, bias, ndim=4)
    stride = pair(stride, name="stride", layer=_LAYER, minimum=1)
    padding = pair(padding, name="padding", layer=_LAYER, minimum=0)
    output_padding = pair(output_padding, name="output_padding", layer=_LAYER, minimum=0)
    if output_padding[0] >= stride[0] or output_padding[1] >= stride[1]:
        raise ValueError(f"{_LAYER}: expected output_padding smaller than the stride {stride}, got {output_padding}")
    if x.size == 0 or weight.size == 0:
        raise ValueError(f"{_LAYER}: expected non-empty x and weight, got x {x.shape} and weight {weight.shape}")
    in_channels, out_channels, k_h, k_w = weight.shape
    if in_channels != x.shape[1]:
        raise ValueError(f"{_LAYER}: expected weight (C_in, C_out, kH, kW) with C_in = {x.shape[1]} to match x of "
                         f"shape {x.shape}, got weight {weight.shape}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{_LAYER}: expected bias of shape ({out_channels},) to match weight {weight.shape}, "
                         f"got bias {bias.shape}")
    size = (output_size(x.shape[2], k_h, stride[0], padding[0], output_padding[0]),
            output_size(x.shape[3], k_w, stride[1], padding[1], output_padding[1]))
    if min(size) < 1:
        raise ValueError(f"{_LAYER}: the padding {padding} leaves no output: x {x.shape}, kernel ({k_h}, {k_w}), "
                         f"stride {stride} give an output of {size}")
    bias = None if bias is None else contiguous(bias)
    return contiguous(x), contiguous(weight), bias, stride, padding, output_padding
