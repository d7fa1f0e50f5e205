"""Image files: ``read_image`` and ``write_image``, for 8-bit and 16-bit PNG, JPEG, BMP, TIFF and WebP.

Arrays are ``(H, W, C)`` NumPy images, ``uint8`` for 8-bit files and ``uint16`` for 16-bit greyscale
PNG/TIFF files, with ``C`` 1 (grey), 3 (RGB) or 4 (RGBA). Everything else about images (colour,
resizing, the benchmark protocol) is in ``tinysr/image.py``, which also exports these two functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from tinysr._files import atomic_write

__all__ = ["ImageError", "read_image", "write_image"]


class ImageError(ValueError):
    """An image file that cannot be read or written: missing, corrupt, truncated, or an unsupported mode."""


# ---------------------------------------------------------------------------------------------------------
# Reading and writing
# ---------------------------------------------------------------------------------------------------------

# Pillow modes whose pixels come back unchanged as uint8 (H, W, C).
_UINT8_MODES = {"L": 1, "RGB": 3, "RGBA": 4}
# Pillow's names for 16-bit greyscale (machine, little- and big-endian byte orders).
_UINT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# Modes Pillow converts for us without losing information that matters here.
_CONVERT_TO = {"1": "L", "RGBX": "RGB", "RGBa": "RGBA", "La": "LA", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB"}


def read_image(path) -> np.ndarray:
    """Read an image file into an ``(H, W, C)`` array: uint8, or uint16 for 16-bit greyscale.

    Formats: whatever Pillow decodes; PNG, JPEG, BMP, TIFF and WebP are the ones tinysr promises and tests.
    The first frame of a multi-frame file is read. EXIF orientation is applied (so a phone photo comes out
    upright, as every viewer shows it).

    Modes, and the array you get:

    ========================== ======================================================================
    file                       array
    ========================== ======================================================================
    grey ("L", 1-bit "1")      (H, W, 1) uint8 (1-bit pixels become 0 / 255)
    16-bit grey ("I;16", "I")  (H, W, 1) uint16 (mode "I" only if every value fits in [0, 65535])
    RGB, CMYK, YCbCr JPEG      (H, W, 3) uint8 (CMYK / YCbCr converted to RGB by Pillow)
    RGBA                       (H, W, 4) uint8
    palette ("P")              (H, W, 3) uint8, or (H, W, 4) if the palette has transparency
    grey + alpha ("LA")        (H, W, 4) uint8: the grey copied into R, G and B, then alpha (tinysr has
                               no 2-channel images, and RGBA keeps the alpha intact)
    16-bit RGB / RGBA          (H, W, 3 or 4) uint16, read with pypng (PNG) or tifffile (TIFF): Pillow 13
                               decodes these only by dropping the low byte of every sample. EXIF
                               orientation is not applied to these. Other formats: ImageError.
    float ("F"), 32-bit "I"    ImageError (not an image tinysr can treat as pixels)
    ========================== ======================================================================

    Raises ``ImageError`` (a ``ValueError``) naming the path and the reason for a missing file, a
    directory, an unidentifiable, corrupt or truncated file, or an unsupported mode.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"cannot read image {path}: no such file")
    if path.is_dir():
        raise ImageError(f"cannot read image {path}: it is a directory, not an image file")
    try:
        with Image.open(path) as image:
            # The raw mode says how many bits each sample has on disk, before Pillow narrows it.
            rawmode = _tile_rawmode(image)
            if image.mode in ("RGB", "RGBA") and rawmode is not None and ";16" in rawmode:
                return _read_16bit_colour(path, image.format)
            image.load()
            image = ImageOps.exif_transpose(image)
            return _pixels(image, path)
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError(f"cannot read image {path}: {error}") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Pillow reports unidentifiable files as UnidentifiedImageError (an OSError), truncated ones as
        # OSError("image file is truncated"), and some broken headers as SyntaxError or ValueError.
        reason = str(error) or type(error).__name__
        raise ImageError(f"cannot read image {path}: not a readable image file ({reason})") from error


def _read_16bit_colour(path: Path, image_format: str | None) -> np.ndarray:
    """A 16-bit RGB or RGBA file as ``(H, W, 3 or 4)`` uint16, without Pillow (which keeps only 8 bits)."""
    if image_format == "PNG":
        import png

        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        pixels = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
        return np.ascontiguousarray(pixels.reshape(height, width, info["planes"]))
    if image_format == "TIFF":
        import tifffile

        pixels = tifffile.imread(path)
        if pixels.ndim == 3 and pixels.shape[0] in (3, 4) and pixels.shape[2] not in (3, 4):
            pixels = pixels.transpose(1, 2, 0)  # planar (C, H, W) storage
        if pixels.dtype == np.uint16 and pixels.ndim == 3 and pixels.shape[2] in (3, 4):
            return np.ascontiguousarray(pixels)
        raise ImageError(f"cannot read image {path}: unexpected 16-bit TIFF layout {pixels.shape} {pixels.dtype}")
    raise ImageError(f"cannot read image {path}: 16-bit colour is supported in PNG and TIFF, not {image_format}")


def _tile_rawmode(image: Image.Image) -> str | None:
    """The raw (on-disk) mode of the first decoder tile, or None when Pillow does not say."""
    tile = getattr(image, "tile", None)
    if not tile:
        return None
    args = tile[0][3] if len(tile[0]) > 3 else None
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _pixels(image: Image.Image, path: Path) -> np.ndarray:
    """Turn a loaded Pillow image into the (H, W, C) array described in ``read_image``."""
    mode = image.mode
    if mode == "P":
        mode = "RGBA" if "transparency" in image.info else "RGB"
        image = image.convert(mode)
    elif mode in _CONVERT_TO:
        mode = _CONVERT_TO[mode]
        image = image.convert(mode)
    if mode == "LA":
        grey_alpha = np.asarray(image, dtype=np.uint8)
        grey, alpha = grey_alpha[..., 0], grey_alpha[..., 1]
        return np.stack([grey, grey, grey, alpha], axis=-1)
    if mode in _UINT8_MODES:
        pixels = np.asarray(image, dtype=np.uint8)
        return np.ascontiguousarray(pixels.reshape(image.height, image.width, _UINT8_MODES[mode]))
    if mode in _UINT16_MODES or mode == "I":
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageError(
                f"cannot read image {path}: mode {mode} holds values in [{values.min()}, {values.max()}], "
                f"outside the 16-bit range [0, 65535]"
            )
        return values.astype(np.uint16).reshape(image.height, image.width, 1)
    raise ImageError(
        f"cannot read image {path}: unsupported Pillow mode {mode!r} (expected grey, RGB, RGBA, palette "
        f"or 16-bit grey)"
    )


# Suffix -> (Pillow format, save options). JPEG is lossy (quality 95 keeps upscaled detail); WebP is written
# lossless, because lossy WebP subsamples colour and would blur exactly the detail an upscaler adds.
_FORMATS = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
    ".webp": ("WEBP", {"lossless": True}),
}
# Channel counts each format stores faithfully for uint8 (JPEG and BMP have no alpha in Pillow).
_UINT8_CHANNELS = {"PNG": (1, 3, 4), "JPEG": (1, 3), "BMP": (1, 3), "TIFF": (1, 3, 4), "WEBP": (1, 3, 4)}


def write_image(path, image: np.ndarray) -> None:
    """Write an ``(H, W, C)`` (or ``(H, W)``) uint8/uint16 array to ``path``; the format comes from the suffix.

    ============ ============================ =========================================================
    suffix       uint8 channels               uint16
    ============ ============================ =========================================================
    .png         1, 3, 4                      1, 3, 4 (colour via pypng)
    .tif .tiff   1, 3, 4                      1, 3, 4 (colour via tifffile)
    .jpg .jpeg   1, 3 (quality 95)            no
    .bmp         1, 3                         no
    .webp        1, 3, 4 (lossless; grey is   no
                 stored as RGB by WebP)
    ============ ============================ =========================================================

    The write is atomic: the image goes to a temporary file in the same directory, which then replaces
    ``path`` with ``os.replace``, so a crash never leaves a half-written file. Existing files are replaced.

    Raises ``TypeError`` for a non-array or a dtype other than uint8/uint16 (convert floats with
    ``to_uint8``), ``ValueError`` for a shape that is not an image, and ``ImageError`` for an unknown suffix,
    a combination the format cannot store, a missing directory, or a failed write.
    """
    path = Path(path)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"write_image: expected image to be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(
            f"write_image: expected image with dtype uint8 or uint16, got dtype {image.dtype} "
            f"(convert float images in [0, 1] with tinysr.image.to_uint8)"
        )
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(
            f"write_image: expected image of shape (H, W) or (H, W, C) with C in (1, 3, 4) and H, W > 0, "
            f"got {image.shape}"
        )
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        known = ", ".join(sorted(_FORMATS))
        raise ImageError(f"cannot write image {path}: unknown suffix {path.suffix!r}, expected one of {known}")
    image_format, options = _FORMATS[suffix]
    channels = image.shape[2]
    save = None
    if image.dtype == np.uint16:
        if image_format not in ("PNG", "TIFF"):
            raise ImageError(
                f"cannot write image {path}: 16-bit images can be written only as PNG or TIFF, got {image_format}"
            )
        if channels == 1:
            pil_image = Image.fromarray(np.ascontiguousarray(image[:, :, 0]))  # mode "I;16"
        else:  # Pillow cannot write 16-bit colour: pypng / tifffile do
            save = _16bit_colour_saver(np.ascontiguousarray(image), image_format)
    else:
        if channels not in _UINT8_CHANNELS[image_format]:
            raise ImageError(
                f"cannot write image {path}: {image_format} cannot store {channels} channels, "
                f"expected {_UINT8_CHANNELS[image_format]} (use .png or .tif for RGBA)"
            )
        pixels = np.ascontiguousarray(image[:, :, 0] if channels == 1 else image)
        pil_image = Image.fromarray(pixels)
    directory = path.parent
    if not directory.is_dir():
        raise ImageError(f"cannot write image {path}: directory {directory} does not exist")
    if save is None:
        def save(file) -> None:
            pil_image.save(file, format=image_format, **options)
    _atomic_save(save, path)


def _16bit_colour_saver(image: np.ndarray, image_format: str):
    """A function writing ``(H, W, 3 or 4)`` uint16 to a binary file, as 16-bit PNG (pypng) or TIFF (tifffile)."""
    height, width, channels = image.shape

    def save(file) -> None:
        if image_format == "PNG":
            import png

            writer = png.Writer(width, height, greyscale=False, alpha=channels == 4, bitdepth=16)
            writer.write(file, image.reshape(height, width * channels))
        else:
            import io

            import tifffile

            encoded = io.BytesIO()  # tifffile wants a seekable named file or a buffer, not a raw descriptor
            tifffile.imwrite(encoded, image, photometric="rgb")
            file.write(encoded.getvalue())

    return save


def _atomic_save(save, path: Path) -> None:
    """``save(file)`` through ``atomic_write``; a failed write becomes an ``ImageError`` naming ``path``."""
    try:
        atomic_write(path, save)
    except OSError as error:
        raise ImageError(f"cannot write image {path}: {error}") from error
