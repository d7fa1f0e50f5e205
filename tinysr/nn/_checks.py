"""The input check every layer runs first, so that errors name the layer (``Conv2d(3, 64, ...)``)."""

from __future__ import annotations

import numpy as np

from tinysr._validation import check_float_array
from tinysr.device import device_of


def check_layer_input(
    layer, x, *, ndim: int | None = None, channels: int | None = None, axis1: str = "channels"
) -> np.ndarray:
    """Check a layer's input: float array, ``ndim`` dimensions, ``channels`` at axis 1, layer's dtype.

    ``axis1`` names what axis 1 holds in the message ("channels", or "features" for ``Linear``).

    ``layer.dtype`` (when the layer has parameters) must equal ``x.dtype``: tinysr never casts
    silently, so a float64 input to a float32 layer is an error that says to call
    ``layer.astype(np.float64)`` or to convert the input. Likewise the input must be on the
    parameters' device (a NumPy array, or a numba.cuda device array after ``layer.to("cuda")``).
    """
    name = repr(layer).split("\n")[0]
    check_float_array(x, name="input", layer=name, ndim=ndim)  # a NumPy or a (C-contiguous) device array
    if channels is not None and (x.ndim < 2 or x.shape[1] != channels):
        raise ValueError(
            f"{name}: expected input with {channels} {axis1} at axis 1, got shape {x.shape}"
        )
    params = layer.parameters()
    if params and device_of(params[0].data) != device_of(x):
        want = device_of(params[0].data)
        raise TypeError(
            f"{name}: input is on {device_of(x)} but the layer's parameters are on {want}; move the input "
            f"with tinysr.to_device(x, {want!r}) or the layer with layer.to({device_of(x)!r})"
        )
    if params and params[0].data.dtype != x.dtype:
        raise TypeError(
            f"{name}: input dtype {x.dtype} differs from the layer's parameters "
            f"({params[0].data.dtype}); convert the input or call layer.astype({x.dtype.name})"
        )
    return x
