"""Small array operations on the GPU that NumPy would do on the host: fill, ``+=``, copy, pad, crop.

Device arrays have no arithmetic (``grad += g`` or ``numpy.pad`` would copy them to the host and
back, or fail), so layers and optimizers call these instead, through ``tinysr.device`` and
``Parameter``. Each is one thread per element of its output (a grid-stride loop, see ``_common``).
"""

from __future__ import annotations

from numba import cuda

from tinysr.ops.cuda._common import THREADS, blocks, check_device_array, empty

__all__ = ["add_into", "copy", "crop_bottom_right", "fill", "pad_bottom_right", "zeros", "zeros_like"]


@cuda.jit
def _fill_kernel(x, value):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        x[i] = value


@cuda.jit
def _add_into_kernel(target, source):
    for i in range(cuda.grid(1), target.size, cuda.gridsize(1)):
        target[i] += source[i]


@cuda.jit
def _copy_kernel(source, target):
    for i in range(cuda.grid(1), target.size, cuda.gridsize(1)):
        target[i] = source[i]


@cuda.jit
def _corner_kernel(x, out):
    """out (N, C, h, w) = the top-left h x w corner of x, zeros where x ends; one thread per element of out.

    With out larger than x it pads x below and to the right; with out smaller it crops x.
    """
    _, channels, height, width = out.shape
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        col = i % width
        row = (i // width) % height
        plane = i // (width * height)  # n * channels + c
        inside = row < x.shape[2] and col < x.shape[3]
        out[plane // channels, plane % channels, row, col] = (
            x[plane // channels, plane % channels, row, col] if inside else 0
        )


def fill(x, value) -> None:
    """``x[...] = value`` in place."""
    check_device_array(x, name="x", op="fill")
    _fill_kernel[blocks(x.size), THREADS](x.ravel(), x.dtype.type(value))


def zeros(shape, dtype):
    """``numpy.zeros`` on the GPU (``cuda.device_array`` leaves the memory uninitialised)."""
    out = empty(shape, dtype)
    if out.size:
        _fill_kernel[blocks(out.size), THREADS](out.ravel(), out.dtype.type(0))
    return out


def zeros_like(x):
    """A device array of zeros with the shape and dtype of ``x``."""
    return zeros(x.shape, x.dtype)


def add_into(target, source) -> None:
    """``target += source`` in place (same shape and dtype: no broadcasting, no casting)."""
    check_device_array(target, name="target", op="add_into")
    check_device_array(source, name="source", op="add_into")
    if tuple(target.shape) != tuple(source.shape) or target.dtype != source.dtype:
        raise ValueError(f"add_into: expected source of shape {target.shape} and dtype {target.dtype}, "
                         f"got shape {source.shape} and dtype {source.dtype}")
    _add_into_kernel[blocks(target.size), THREADS](target.ravel(), source.ravel())


def copy(x):
    """A fresh device array with the values of ``x`` (``x.copy()``)."""
    check_device_array(x, name="x", op="copy")
    out = empty(x.shape, x.dtype)
    if x.size:
        _copy_kernel[blocks(x.size), THREADS](x.ravel(), out.ravel())
    return out


def pad_bottom_right(x, extra_h: int, extra_w: int):
    """``numpy.pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))`` for x (N, C, H, W) on the GPU."""
    check_device_array(x, name="x", op="pad_bottom_right", ndim=4)
    n_images, channels, height, width = x.shape
    out = empty((n_images, channels, height + extra_h, width + extra_w), x.dtype)
    _corner_kernel[blocks(out.size), THREADS](x, out)
    return out


def crop_bottom_right(x, extra_h: int, extra_w: int):
    """``x[:, :, :H - extra_h, :W - extra_w]`` as a fresh C-contiguous device array."""
    check_device_array(x, name="x", op="crop_bottom_right", ndim=4)
    n_images, channels, height, width = x.shape
    out = empty((n_images, channels, height - extra_h, width - extra_w), x.dtype)
    _corner_kernel[blocks(out.size), THREADS](x, out)
    return out
