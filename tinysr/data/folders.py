"""Image folders: which files are images, how one is read as the HR image, and how it is degraded.

Super-resolution learns the inverse of a known degradation. We make the low-resolution (LR) image from
the HR one with the evaluation protocol's own degradation (``tinysr.image.bicubic_degrade``: MATLAB-style
bicubic downscale by ``scale``, rounded to uint8), so that the network trains on exactly the kind of
input it is scored on. Two input kinds (``_degrade`` makes both)::

    mode "lr"   input = LR                                   (h, w) = (H / scale, W / scale)
    mode "ilr"  input = clip(imresize(LR / 255, scale), 0, 1)    (H, W): "interpolated LR", for
                                                                 pre-upsampling networks such as SRCNN

The ILR is bicubic-upsampled in float and clipped to [0, 1] but not rounded (rounding would throw away
information the network can use). Training patches (``patches.py``) and evaluation pairs
(``evaluation.py``) both come from this one recipe.

Colour (``channels``)::

    "y"    one channel: the MATLAB ``rgb2ycbcr`` Y of the uint8 RGB image, rounded to uint8, then / 255
           (Y lies in [16, 235] / 255). A greyscale file is taken as Y as it is: its grey values are
           used unchanged, not squeezed into the studio range (what MATLAB SR scripts do too).
    "rgb"  three channels, / 255. A greyscale file is repeated into three equal channels.

An alpha channel (RGBA, grey + alpha) is dropped. 16-bit files are rounded to 8 bits
(``to_uint8(to_float(image))``), since the degradation protocol is defined on uint8.

Shapes: images here are ``(H, W, C)`` uint8 (the ILR and unrounded LR float32 in [0, 1]).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinysr.image import ImageError, bicubic_degrade, imresize, read_image, rgb_to_y, to_float, to_uint8

__all__ = ["CHANNELS", "IMAGE_SUFFIXES", "list_images", "sample_images_dir"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
CHANNELS = ("y", "rgb")


def sample_images_dir() -> Path:
    """The folder of embedded public-domain / CC0 photos (package data), used when no folder is given.

    ``CREDITS.md`` in that folder names each file's source, author and licence.
    """
    return Path(__file__).resolve().parent.parent / "sample_images"


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside ``folder`` (not in subfolders), sorted by name.

    A file counts as an image if its suffix, in any case, is one of ``IMAGE_SUFFIXES``; hidden files
    (name starting with ".", e.g. macOS "._photo.png") are skipped. Sorting makes the order, and so
    every seeded draw, the same on every file system.

    Raises ``ValueError`` if the folder is missing, is not a folder, or holds no image file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"expected a folder of images, got {folder}, which is not a folder")
    files = sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )
    if not files:
        raise ValueError(
            f"image folder {folder} holds no image files (looked for {' '.join(IMAGE_SUFFIXES)}, "
            f"any case, not in subfolders)"
        )
    return files


def _check_choice(value, choices: tuple[str, ...], *, name: str, where: str) -> str:
    if value not in choices:
        raise ValueError(f"{where}: expected {name} to be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _read_hr(path: Path, channels: str) -> np.ndarray:
    """Read one file as the HR image: ``(H, W, 1)`` uint8 Y for "y", ``(H, W, 3)`` uint8 RGB for "rgb"."""
    try:
        image = read_image(path)
    except ImageError:
        raise
    except (OSError, ValueError) as error:  # read_image should already say ImageError; never let a file slip by
        raise ImageError(f"{path}: cannot read this image ({error})") from error
    if image.dtype == np.uint16:
        image = to_uint8(to_float(image))
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or image.dtype != np.uint8:
        raise ImageError(
            f"{path}: expected an 8- or 16-bit grey, RGB or RGBA image, got an array of shape {image.shape} "
            f"and dtype {image.dtype}"
        )
    if image.shape[2] in (2, 4):  # grey + alpha, RGBA: the alpha channel is not part of the photo
        image = image[:, :, :-1]
    is_grey = image.shape[2] == 1
    if channels == "y":
        if is_grey:
            return np.ascontiguousarray(image)
        y = rgb_to_y(np.ascontiguousarray(image))  # float64 in [0, 255], unrounded
        return np.floor(y + 0.5).astype(np.uint8)[:, :, None]  # MATLAB rounds half away from zero
    if is_grey:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


def _degrade(hr: np.ndarray, scale: int, *, round_lr: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lr, ilr, lr_float)`` of a modcropped HR image ``(H, W, C)`` uint8.

    ``lr = bicubic_degrade(hr, scale)`` is ``(H / scale, W / scale, C)`` uint8; ``ilr`` is the bicubic
    upscale of the LR back to ``(H, W, C)``, float32 clipped to [0, 1]. With ``round_lr`` (training) the
    upscale starts from the uint8 LR, as a real low-resolution file would be; without it (evaluation)
    from the unrounded float LR, which is the protocol of the published tables (``tinysr.image``).
    ``lr_float`` is that unrounded LR, float32 clipped to [0, 1]: what the protocol feeds networks that
    read the LR image itself (FSRCNN, ESPCN).
    """
    lr_float = bicubic_degrade(hr, scale, round_to_uint8=False)
    lr = to_uint8(lr_float).reshape(hr.shape[0] // scale, hr.shape[1] // scale, hr.shape[2])
    ilr = imresize(to_float(lr) if round_lr else lr_float, scale=scale)
    ilr = np.clip(ilr, 0.0, 1.0).astype(np.float32, copy=False).reshape(hr.shape)
    return lr, ilr, np.clip(lr_float, 0.0, 1.0).astype(np.float32, copy=False).reshape(lr.shape)


def _as_list(folder) -> list:
    """``folder`` as a list of folders: a list or tuple as it is, anything else as a list of one."""
    return list(folder) if isinstance(folder, (list, tuple)) else [folder]
