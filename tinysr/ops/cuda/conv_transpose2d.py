"""numba.cuda tier of ``tinysr/ops/conv_transpose2d.py``: the convolution's GPU passes, roles exchanged.

As on the CPU (``tinysr/ops/cpu/conv_transpose2d.py``): the forward pass is ``conv2d``'s input
gradient with ``grad_output = x``, the input gradient is ``conv2d``'s forward pass, the weight
gradient is ``conv2d``'s weight gradient with the two arrays exchanged, all with the tiled kernels
of ``conv2d_tiles.py``. Here are only the bias's two small kernels: adding it, one thread per
element, and summing its gradient, one block per channel (``conv2d``'s). The public op has
checked the arrays already.
"""

from __future__ import annotations

from numba import cuda

from tinysr.ops.conv_transpose2d import output_size
from tinysr.ops.cuda._common import MAX_REDUCTION_BLOCKS, THREADS, blocks, empty
from tinysr.ops.cuda.arrays import zeros
from tinysr.ops.cuda.conv2d import bias_gradient_kernel, conv2d_backward_cuda, conv2d_forward_cuda

__all__ = ["conv_transpose2d_backward_cuda", "conv_transpose2d_forward_cuda"]


@cuda.jit
def _add_bias_kernel(out, bias, channels, size):
    """out[i] += bias[c] for out seen flat, with c = (i // size) % channels; one thread per element."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] += bias[(i // size) % channels]


def conv_transpose2d_forward_cuda(x, weight, bias, stride, padding, output_padding):
    """``conv_transpose2d_forward_reference`` for device arrays: conv2d's input gradient with grad_output = x."""
    n_images, _, height, width = x.shape
    _, out_channels, k_h, k_w = weight.shape
    shape = (n_images, out_channels, output_size(height, k_h, stride[0], padding[0], output_padding[0]),
             output_size(width, k_w, stride[1], padding[1], output_padding[1]))
    stand_in = zeros(shape, x.dtype)  # conv2d's input, whose values only its weight gradient reads
    out, _, _ = conv2d_backward_cuda(x, (stand_in, weight, False, stride, padding))
    if bias is not None:
        _add_bias_kernel[blocks(out.size), THREADS](out.ravel(), bias, out_channels, shape[2] * shape[3])
    return out


def conv_transpose2d_backward_cuda(grad_output, cache) -> tuple:
    """``conv_transpose2d_backward_reference`` on the GPU: ``(grad_input, grad_weight, grad_bias)``."""
    x, weight, has_bias, stride, padding, _ = cache
    grad_input = conv2d_forward_cuda(grad_output, weight, None, stride, padding)
    _, grad_weight, _ = conv2d_backward_cuda(x, (grad_output, weight, False, stride, padding))
    grad_bias = None
    if has_bias:
        n_images, out_channels, h_out, w_out = grad_output.shape
        grad_bias = empty(out_channels, x.dtype)
        bias_gradient_kernel[min(out_channels, MAX_REDUCTION_BLOCKS), THREADS](
            grad_output.reshape(n_images, out_channels, h_out * w_out), grad_bias)
    return grad_input, grad_weight, grad_bias
