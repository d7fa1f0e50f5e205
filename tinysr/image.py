"""Images at the edges of tinysr: colour conversion, bicubic resizing, degradation (files: ``image_files.py``).

Arrays at this level are ``(H, W, C)`` NumPy images:

* ``uint8`` for 8-bit files, ``uint16`` for 16-bit greyscale PNG/TIFF files;
* ``C`` is 1 (grey), 3 (RGB) or 4 (RGBA). Alpha is just another channel here; the upscaler resizes it
  with bicubic on its own.

Inside the library, images are floats in [0, 1] (``to_float`` / ``to_uint8`` convert).

**Colour** follows MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` (ITU-R BT.601, studio range), the convention of
every published super-resolution table. With R, G, B in [0, 1]::

    Y  =  16 + 65.481 R + 128.553 G +  24.966 B        in [16, 235]
    Cb = 128 - 37.797 R -  74.203 G + 112.000 B        in [16, 240]
    Cr = 128 + 112.000 R - 93.786 G -  18.214 B        in [16, 240]

and the inverse uses the exact inverse of that 3x3 matrix (``np.linalg.inv``, as MATLAB's ``ycbcr2rgb``).

**Resizing** is bicubic as MATLAB's ``imresize``: Pillow's ``BICUBIC`` filter (Keys' cubic with a = -0.5,
antialiased when shrinking: the kernel is stretched by 1/scale) run on float32 mode-"F" images, one channel
at a time, so nothing is rounded or clipped in between. Pillow treats the border by renormalising the
truncated kernel where MATLAB mirrors the image; on the benchmark this costs under 0.03 dB.

**The benchmark protocol** (reproduces the published Set5 bicubic table exactly: Y-PSNR 33.66 / 30.39 /
28.42 dB and SSIM 0.9299 / 0.8682 / 0.8104 at x2 / x3 / x4; see ``tests/test_protocol.py``)::

    hr = modcrop(rgb_to_y_uint8(read_image(path)), scale)        # Y rounded to uint8, H, W multiples of scale
    lr = bicubic_degrade(hr, scale, round_to_uint8=False)        # bicubic down, float32, NOT rounded
    sr = bicubic_upscale(lr, scale)                              # bicubic up, THEN rounded to uint8
    psnr(hr, sr, crop_border=scale), ssim(hr, sr, crop_border=scale)

This is the order of SRCNN's MATLAB evaluation code (``im2double`` of the uint8 Y, ``imresize`` down and up in
double, ``uint8`` at the end). Rounding the low-resolution image to uint8 in between (as a saved LR file
would be) gives 33.65 dB and SSIM 0.9296 at x2 instead: close, but not the published table.
Greyscale files are used as their own Y (see ``rgb_to_y``).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from tinysr.image_files import ImageError, read_image, write_image

__all__ = [
    "ImageError",
    "bicubic_degrade",
    "bicubic_upscale",
    "imresize",
    "modcrop",
    "read_image",
    "rgb_to_y",
    "rgb_to_y_uint8",
    "rgb_to_ycbcr",
    "to_float",
    "to_uint8",
    "write_image",
    "ycbcr_to_rgb",
]


# ---------------------------------------------------------------------------------------------------------
# Value conversions
# ---------------------------------------------------------------------------------------------------------


def to_float(image: np.ndarray) -> np.ndarray:
    """Integer pixels to float32 in [0, 1]: uint8 / 255, uint16 / 65535. Float input is returned as float32.

    Shape is unchanged. Other dtypes (int32, bool, float16) raise ``TypeError``.
    """
    _check_array(image, "to_float", "image")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    if image.dtype == np.uint16:
        return (image.astype(np.float64) / 65535.0).astype(np.float32)
    if image.dtype in (np.float32, np.float64):
        return image.astype(np.float32)
    raise TypeError(f"to_float: expected image with dtype uint8, uint16, float32 or float64, got dtype {image.dtype}")


def to_uint8(image_float: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] to uint8, rounding like MATLAB: ``clip(floor(255 x + 0.5), 0, 255)``.

    That is round-half-up (MATLAB's ``uint8()`` rounds halves away from zero, the same for x >= 0),
    not NumPy's round-half-to-even. Values outside [0, 1] are clipped. The product is taken in float64 so
    that a float32 input rounds the same as its float64 value. Shape is unchanged.

    Raises ``TypeError`` for non-float input and ``ValueError`` for NaN or infinite values.
    """
    _check_array(image_float, "to_uint8", "image_float")
    if image_float.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"to_uint8: expected image_float with dtype float32 or float64, got dtype {image_float.dtype}"
        )
    scaled = image_float.astype(np.float64) * 255.0
    if not np.all(np.isfinite(scaled)):
        raise ValueError("to_uint8: expected finite values in image_float, got NaN or infinity")
    return np.clip(np.floor(scaled + 0.5), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------
# Colour: MATLAB rgb2ycbcr / ycbcr2rgb (BT.601 studio range)
# ---------------------------------------------------------------------------------------------------------

# Rows give Y, Cb, Cr for R, G, B in [0, 1], in units of 1/255 (MATLAB's rgb2ycbcr table).
RGB_TO_YCBCR_MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
# The exact inverse (computed, not a rounded copy), as MATLAB's ycbcr2rgb does.
YCBCR_TO_RGB_MATRIX = np.linalg.inv(RGB_TO_YCBCR_MATRIX)


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr``: RGB ``(..., 3)`` to YCbCr ``(..., 3)``, BT.601 studio range.

    With R, G, B in [0, 1] and M = ``RGB_TO_YCBCR_MATRIX``::

        [Y, Cb, Cr] = [16, 128, 128] + M @ [R, G, B]        (in 0..255 units)

    Scaling of inputs and outputs:

    * float32/float64 in [0, 1] -> same dtype in [0, 1], i.e. the above divided by 255
      (Y in [16/255, 235/255], Cb and Cr in [16/255, 240/255]);
    * uint8 in [0, 255] -> float64 in [0, 255], **unrounded** (MATLAB returns uint8 here, rounded; round
      with ``np.floor(y + 0.5)`` if you need MATLAB's integers). White gives Y = 235, black Y = 16.

    Raises ``TypeError`` for other dtypes and ``ValueError`` unless the last axis has 3 channels.
    """
    rgb, restore = _colour_input(image, "rgb_to_ycbcr")
    return restore(_affine(rgb, RGB_TO_YCBCR_MATRIX / 255.0, YCBCR_OFFSET / 255.0))


def ycbcr_to_rgb(image: np.ndarray) -> np.ndarray:
    """MATLAB ``ycbcr2rgb``: the exact inverse of ``rgb_to_ycbcr``::

        [R, G, B] = M^-1 @ ([Y, Cb, Cr] - [16, 128, 128])     (Y, Cb, Cr in 0..255 units, R, G, B in [0, 1])

    Same scaling rules: float in [0, 1] -> same float dtype in [0, 1] (not clipped: YCbCr values outside the
    RGB gamut give RGB outside [0, 1]); uint8 in [0, 255] -> float64 RGB in [0, 255], unrounded, unclipped.
    To undo ``rgb_to_ycbcr`` of a uint8 image, pass its float64 result divided by 255 and multiply by 255.
    """
    ycbcr, restore = _colour_input(image, "ycbcr_to_rgb")
    return restore(_affine(ycbcr, 255.0 * YCBCR_TO_RGB_MATRIX, -YCBCR_TO_RGB_MATRIX @ YCBCR_OFFSET))


def _affine(image: np.ndarray, matrix: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``matrix @ pixel + offset`` for every pixel of ``image`` (..., 3), in the image's float dtype.

    Written out per output channel, ``out[..., k] = offset[k] + sum_j matrix[k, j] image[..., j]``:
    ``image @ matrix.T`` on an image is one small product per row (about 1.6x slower on a 450x450
    tile), and a single (pixels, 3) x (3, 3) product goes to BLAS, whose threads then fight Numba's.
    """
    matrix, offset = matrix.astype(image.dtype), offset.astype(image.dtype)
    out = np.empty_like(image)
    for k in range(3):
        out[..., k] = matrix[k, 0] * image[..., 0] + matrix[k, 1] * image[..., 1] + matrix[k, 2] * image[..., 2]
        out[..., k] += offset[k]
    return out


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """The Y (luma) channel of MATLAB ``rgb2ycbcr``, shape ``(H, W)``, same scaling rules as ``rgb_to_ycbcr``::

        Y = 16 + 65.481 R + 128.553 G + 24.966 B              (R, G, B in [0, 1]; Y in 0..255 units)

    uint8 ``(H, W, 3)`` in -> float64 in [16, 235], unrounded; float in [0, 1] -> same float dtype in
    [16/255, 235/255].

    A greyscale ``(H, W, 1)`` image is its own luma: its single channel is returned unchanged (as float64 in
    0..255 for uint8, as is for floats), *not* mapped into the studio range. This is what the published
    MATLAB benchmark scripts do (``if size(im, 3) == 3, im = rgb2ycbcr(im); end``), and it is the choice
    that matters on Set14, whose ``bridge.png`` is a greyscale file: with it, tinysr's Set14 bicubic table
    is 30.23 / 27.54 / 26.00 dB (published: 30.24 / 27.55 / 26.00); treating grey as R = G = B would give
    30.33 / 27.63 / 26.10 dB. Use ``image[..., :3]`` to drop an alpha channel first.
    """
    _check_array(image, "rgb_to_y", "image")
    if image.ndim == 3 and image.shape[2] == 1:
        grey = image[:, :, 0]
        if image.dtype == np.uint8:
            return grey.astype(np.float64)
        if image.dtype in (np.float32, np.float64):
            return grey.copy()
    rgb, restore = _colour_input(image, "rgb_to_y")
    y = (16.0 + rgb @ RGB_TO_YCBCR_MATRIX[0]) / 255.0
    return restore(y)


def rgb_to_y_uint8(image: np.ndarray) -> np.ndarray:
    """MATLAB's rounded Y: ``floor(rgb_to_y(image) + 0.5)`` as uint8 ``(H, W)``, from uint8 ``(H, W, 3|1)``.

    Step 1 of the benchmark protocol (MATLAB's ``rgb2ycbcr`` on uint8 returns uint8, rounded half up).
    """
    _check_uint8(image, "rgb_to_y_uint8", "image")
    return np.floor(rgb_to_y(image) + 0.5).astype(np.uint8)


def _colour_input(image, function: str):
    """Validate a colour-conversion input; return it as float in [0, 1] and a function restoring the scale."""
    _check_array(image, function, "image")
    if image.ndim < 1 or image.shape[-1] != 3:
        raise ValueError(f"{function}: expected image of shape (..., 3), got {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0, lambda out: out * 255.0
    if image.dtype in (np.float32, np.float64):  # computed in the image's own precision
        return image, lambda out: out
    raise TypeError(
        f"{function}: expected image with dtype uint8 (0..255) or float32/float64 (0..1), got dtype {image.dtype}"
    )


def _check_array(image, function: str, name: str) -> None:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{function}: expected {name} to be a numpy.ndarray, got {type(image).__name__}")


# ---------------------------------------------------------------------------------------------------------
# Bicubic resizing and the degradation protocol
# ---------------------------------------------------------------------------------------------------------


def imresize(
    image: np.ndarray, scale: float | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Bicubic resize as MATLAB ``imresize(image, scale)``: float ``(H, W)`` or ``(H, W, C)`` in, float32 out.

    Give exactly one of ``scale`` (a positive number) or ``size`` (``(out_height, out_width)``). With
    ``scale`` the output size follows MATLAB: ``(ceil(H * scale), ceil(W * scale))``, computed so that
    floating-point noise cannot add a pixel (``255 * (1 / 3)`` gives 85, not 86).

    The kernel is Keys' cubic convolution with a = -0.5::

        k(t) = 1.5 |t|^3 - 2.5 |t|^2 + 1                 for |t| <= 1
        k(t) = -0.5 |t|^3 + 2.5 |t|^2 - 4 |t| + 2        for 1 < |t| < 2
        k(t) = 0                                         otherwise

    sampled at output pixel centres mapped back to the input (x_in = (x_out + 0.5) / scale - 0.5), stretched
    by 1/scale when shrinking (antialiasing), weights normalised to sum 1. Pillow's ``BICUBIC`` on mode "F"
    implements exactly this, one channel at a time. The result is neither clipped nor rounded (bicubic
    overshoots: values slightly outside [0, 1] are expected). When ``size`` is not ``scale`` times the
    input, Pillow uses the true per-axis ratio ``out / in``; MATLAB would use ``scale``.

    Raises ``TypeError`` for non-float input (convert with ``to_float``) and ``ValueError`` for a bad
    shape, scale or size.
    """
    _check_array(image, "imresize", "image")
    if image.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"imresize: expected image with dtype float32 or float64, got dtype {image.dtype} "
            f"(convert integer images with tinysr.image.to_float)"
        )
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"imresize: expected image of shape (H, W) or (H, W, C) with H, W > 0, got {image.shape}")
    height, width = image.shape[:2]
    out_height, out_width = _output_size(height, width, scale, size)
    planes = image[:, :, None] if image.ndim == 2 else image
    out = np.empty((out_height, out_width, planes.shape[2]), dtype=np.float32)
    for channel in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[:, :, channel], dtype=np.float32))
        resized = plane.resize((out_width, out_height), resample=Image.Resampling.BICUBIC)
        out[:, :, channel] = np.asarray(resized, dtype=np.float32)
    return out[:, :, 0] if image.ndim == 2 else out


def _output_size(height: int, width: int, scale, size) -> tuple[int, int]:
    if (scale is None) == (size is None):
        raise ValueError(f"imresize: expected exactly one of scale or size, got scale={scale!r}, size={size!r}")
    if size is not None:
        if (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size)
        ):
            raise ValueError(f"imresize: expected size to be (out_height, out_width) of positive ints, got {size!r}")
        return int(size[0]), int(size[1])
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise ValueError(f"imresize: expected scale to be a positive number, got {scale!r}")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"imresize: expected scale to be a positive finite number, got {scale!r}")
    # Round away float noise before the ceiling: 255 * (1/3) = 85.00000000000001 must give 85.
    out_height = math.ceil(round(height * float(scale), 9))
    out_width = math.ceil(round(width * float(scale), 9))
    if out_height < 1 or out_width < 1:
        raise ValueError(
            f"imresize: scale {scale!r} turns an image of {height}x{width} into {out_height}x{out_width} pixels"
        )
    return out_height, out_width


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W down to multiples of ``scale``, keeping the top-left corner (a copy).

    ``(H, W[, C]) -> (H - H % scale, W - W % scale[, C])``, any dtype. Raises ``ValueError`` if the image
    is smaller than ``scale`` pixels along an axis or has no (H, W) axes.
    """
    _check_array(image, "modcrop", "image")
    scale = _check_scale(scale, "modcrop")
    if image.ndim not in (2, 3):
        raise ValueError(f"modcrop: expected image of shape (H, W) or (H, W, C), got {image.shape}")
    height, width = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    if height == 0 or width == 0:
        raise ValueError(f"modcrop: expected an image at least {scale}x{scale} for scale {scale}, got {image.shape}")
    return image[:height, :width].copy()


def bicubic_degrade(hr_uint8: np.ndarray, scale: int, *, round_to_uint8: bool = True) -> np.ndarray:
    """The protocol's low-resolution image: ``(H, W[, C])`` uint8 -> ``(H // scale, W // scale[, C])``.

    In order::

        hr = modcrop(hr_uint8, scale)                 # H, W multiples of scale
        lr = imresize(to_float(hr), 1 / scale)        # bicubic, antialiased, float32 in ~[0, 1], unrounded
        lr = to_uint8(lr)                             # only if round_to_uint8 (the default)

    ``round_to_uint8=True`` returns uint8: the LR image as a file would hold it, the input for training
    pairs. ``round_to_uint8=False`` returns the float32 LR before rounding (values may overshoot [0, 1]
    slightly): this is the LR of the published benchmark tables, which round only once, after upscaling
    (see the module docstring); ``bicubic_upscale`` accepts either.
    """
    _check_uint8(hr_uint8, "bicubic_degrade", "hr_uint8")
    scale = _check_scale(scale, "bicubic_degrade")
    lr = imresize(to_float(modcrop(hr_uint8, scale)), scale=1.0 / scale)
    return to_uint8(lr) if round_to_uint8 else lr


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic baseline: ``(h, w[, C])`` LR -> ``(h * scale, w * scale[, C])`` uint8.

    ``to_uint8(imresize(to_float(lr), scale))``: bicubic up, then rounded half up and clipped like MATLAB's
    ``uint8``. ``lr`` is uint8 (a real LR image) or float in [0, 1] (``bicubic_degrade(...,
    round_to_uint8=False)``, the benchmark protocol).
    """
    _check_array(lr, "bicubic_upscale", "lr")
    if lr.dtype not in (np.uint8, np.float32, np.float64):
        raise TypeError(f"bicubic_upscale: expected lr with dtype uint8, float32 or float64, got dtype {lr.dtype}")
    if lr.ndim not in (2, 3):
        raise ValueError(f"bicubic_upscale: expected lr of shape (H, W) or (H, W, C), got {lr.shape}")
    scale = _check_scale(scale, "bicubic_upscale")
    return to_uint8(imresize(to_float(lr), scale=scale))


def _check_uint8(image, function: str, name: str) -> None:
    _check_array(image, function, name)
    if image.dtype != np.uint8:
        raise TypeError(f"{function}: expected {name} with dtype uint8, got dtype {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(f"{function}: expected {name} of shape (H, W) or (H, W, C), got {image.shape}")


def _check_scale(scale, function: str) -> int:
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"{function}: expected scale to be an int >= 1, got {scale!r}")
    return int(scale)
