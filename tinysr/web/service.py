"""What the web page asks for, without the HTTP: read an upload, upscale it, look inside a network.

Every function here takes bytes and plain values and returns bytes or JSON-ready dicts, so the
tests call them directly and ``tinysr.web.app`` only adds the HTTP around them. Bad input raises
``RequestError`` with one line saying what was expected and what was received, and the HTTP status
it deserves (400, or 413 for something too large).

Limits (``LIMITS``): an upload is at most 8 MiB and an image at most 1,048,576 pixels (1024x1024),
checked from the file's header before any pixel is decoded, so a small file that claims a huge
image (a decompression bomb) is refused without allocating it. At x4 such an image becomes 16.8
million output pixels, about 8 s with SRCNN and 30 s with SRResNet on a 2-core machine.
"""

from __future__ import annotations

import base64
import io
import math
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from tinysr.checkpoint import CheckpointError
from tinysr.image import bicubic_degrade, imresize, modcrop, rgb_to_ycbcr, to_float
from tinysr.image_files import ImageError, read_image, write_image
from tinysr.metrics import psnr, ssim
from tinysr.nn import Module
from tinysr.upscale import NETWORKS, SCALES, input_channels, load_model, reads_lr, shipped_weights_path, upscale
from tinysr.web.inspect import inspect_network

__all__ = ["LIMITS", "SAMPLES_DIR", "RequestError", "available_models", "decode_image", "inspect_image",
           "sample_names", "upscale_image"]

LIMITS = {
    "max_upload_bytes": 8 * 1024 * 1024,  # an image or a weights file
    "max_pixels": 1024 * 1024,            # width x height of an image to upscale
    "inspect_size": 32,                   # default side of the crop "inside the network" looks at (LR pixels)
    "max_inspect_size": 64,
}
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "sample_images"


class RequestError(ValueError):
    """Bad input from a client: ``str(error)`` is the one-line message, ``status`` the HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------------------------------- inputs

def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB ({size:,} bytes)"


def check_upload_size(size: int, what: str) -> None:
    """Refuse an upload over ``LIMITS["max_upload_bytes"]`` (413), naming both sizes."""
    limit = LIMITS["max_upload_bytes"]
    if size > limit:
        raise RequestError(f"the {what} is {_mib(size)}; the limit is {_mib(limit)}", status=413)


def decode_image(data: bytes) -> np.ndarray:
    """An uploaded image file's bytes -> ``(H, W, C)`` uint8 or uint16 (as ``tinysr.image.read_image``).

    The header's width and height are checked against the pixel limit before decoding: a
    decompression bomb (a few kilobytes that claim gigapixels) is refused before it costs memory.
    """
    if not data:
        raise RequestError("expected an image file in field 'image', got an empty file")
    check_upload_size(len(data), "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below is stricter
            with Image.open(io.BytesIO(data)) as header:
                width, height = header.size
    except Image.DecompressionBombError as error:
        raise RequestError(f"refused a decompression bomb: {error}", status=413) from error
    except Exception as error:  # Pillow raises several types for bytes that are not an image
        raise RequestError(f"expected an image file (PNG, JPEG, BMP, TIFF, WebP), got bytes that are not one "
                           f"({type(error).__name__})") from error
    limit = LIMITS["max_pixels"]
    if width * height > limit:
        raise RequestError(f"the image is {width}x{height} = {width * height:,} pixels; the limit is "
                           f"{limit:,} pixels (for example 1024x1024)", status=413)
    with tempfile.TemporaryDirectory(prefix="tinysr-web-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        try:
            return read_image(path)
        except ImageError as error:  # name the upload, not the temporary path
            raise RequestError(str(error).replace(f"cannot read image {path}", "cannot read the image")) from error


def encode_png(image: np.ndarray) -> bytes:
    """``(H, W[, C])`` uint8/uint16 -> PNG file bytes (through ``write_image``, so 16-bit colour works)."""
    with tempfile.TemporaryDirectory(prefix="tinysr-web-") as folder:
        path = Path(folder) / "image.png"
        write_image(path, image)
        return path.read_bytes()


def sample_names() -> list[str]:
    """The package's sample photos, by file name."""
    return sorted(p.name for p in SAMPLES_DIR.glob("*.png"))


def available_models() -> list[dict]:
    """``[{"name": "srcnn", "scales": [2, 3, 4], "reads": ...}, ...]``: what has shipped weights, and bicubic."""
    reads = {"srcnn": "bicubic-upscaled Y channel", "fsrcnn": "low-resolution Y channel",
             "espcn": "low-resolution Y channel", "srresnet": "low-resolution RGB", "srgan": "low-resolution RGB"}
    models = [{"name": "bicubic", "scales": list(SCALES), "reads": "low-resolution image"}]
    for name in NETWORKS:
        scales = [s for s in SCALES if shipped_weights_path(name, s).exists()]
        if scales:
            models.append({"name": name, "scales": scales, "reads": reads[name]})
    return models


def _choice(value, field: str, choices) -> str:
    if value not in choices:
        raise RequestError(f"expected {field} one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def parse_scale(value) -> int:
    """A form field's scale ("3") -> 3, or RequestError naming the scales that exist."""
    try:
        return int(_choice(str(value), "scale", [str(s) for s in SCALES]))
    except RequestError as error:
        raise RequestError(f"{error} (an upscaling factor)") from None


@lru_cache(maxsize=16)
def _shipped_network(model: str, scale: int) -> Module:
    return load_model(model, scale)


def network_for(model: str, scale: int, weights: bytes | None = None) -> Module | None:
    """The network to run: ``None`` for bicubic, the shipped weights, or an uploaded weights file."""
    _choice(model, "model", ["bicubic", *NETWORKS])
    if model == "bicubic":
        if weights:
            raise RequestError("model 'bicubic' takes no weights file; choose the model the weights are for")
        return None
    if not weights:
        shipped = [s for s in SCALES if shipped_weights_path(model, s).exists()]
        if scale not in shipped:
            raise RequestError(f"no shipped {model} weights for x{scale}; shipped: "
                               f"{', '.join(f'x{s}' for s in shipped) or 'none'}")
        return _shipped_network(model, scale)
    check_upload_size(len(weights), "weights file")
    with tempfile.TemporaryDirectory(prefix="tinysr-web-") as folder:
        path = Path(folder) / "weights.npz"
        path.write_bytes(weights)
        try:
            return load_model(model, scale, weights=path)
        except (CheckpointError, ValueError) as error:
            raise RequestError(str(error).replace(f"weights file {path}", "the weights file")
                               .replace(str(path), "the weights file")) from error


# ------------------------------------------------------------------------------------------ upscale

def _ground_truth(image: np.ndarray, scale: int) -> np.ndarray:
    """"Pretend it was low resolution": the image as 8-bit grey or RGB, cut to a multiple of ``scale``."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    return modcrop(image[:, :, :3] if image.shape[2] == 4 else image, scale)


def upscale_image(image: np.ndarray, model: str, scale: int, weights: bytes | None = None,
                  pretend: bool = False) -> tuple[bytes, dict | None]:
    """Upscale ``image`` (or, with ``pretend``, its bicubic-downscaled copy); return PNG bytes and metrics.

    With ``pretend`` the image is the ground truth: it is shrunk by ``scale`` as the benchmark
    protocol does (bicubic, rounded to 8 bits, as a saved low-resolution file), upscaled again, and
    compared with the original: ``{"psnr_y": dB, "ssim_y": ...}`` on the Y channel, ``scale``
    pixels shaved from each border, as ``tinysr eval``. Without ``pretend`` the metrics are None.
    """
    network = network_for(model, scale, weights)
    truth = _ground_truth(image, scale) if pretend else None
    lr = bicubic_degrade(truth, scale) if pretend else image
    if min(lr.shape[:2]) < 4:
        raise RequestError(f"expected an image at least 4x4 pixels to upscale, got {lr.shape[1]}x{lr.shape[0]}")
    try:
        sr = upscale(lr, scale, network if network is not None else "bicubic")
    except ValueError as error:  # an image smaller than the network's receptive field
        shrunk = f" (the photo shrunk x{scale}, as 'pretend it was low resolution' asks)" if pretend else ""
        raise RequestError(str(error).removeprefix("upscale: ") + shrunk) from error
    metrics = None
    if pretend:
        metrics = {"psnr_y": psnr(sr, truth, crop_border=scale, test_y_channel=True),
                   "ssim_y": ssim(sr, truth, crop_border=scale, test_y_channel=True)}
    return encode_png(sr), metrics


# ------------------------------------------------------------------------------------------ inspect

def _y_or_rgb(crop: np.ndarray, channels: int) -> np.ndarray:
    """A uint8/uint16 crop ``(h, w, C)`` -> its Y channel ``(1, h, w)`` or its RGB ``(3, h, w)``, float32.

    A grey image is its own Y (and three equal channels where RGB is asked for); alpha is dropped.
    """
    image = to_float(crop[:, :, :3] if crop.shape[2] == 4 else crop)
    if channels == 3:
        picked = image if image.shape[2] == 3 else np.repeat(image, 3, axis=2)
    else:
        picked = rgb_to_ycbcr(image)[:, :, :1] if image.shape[2] == 3 else image
    return np.ascontiguousarray(picked.transpose(2, 0, 1), dtype=np.float32)


def _network_input(crop: np.ndarray, network: Module, scale: int) -> np.ndarray:
    """What ``network`` reads of an LR crop: SRCNN the bicubic-upscaled Y, FSRCNN and ESPCN the Y, SRResNet the RGB."""
    x = _y_or_rgb(crop, input_channels(network))
    if reads_lr(network):
        return x
    ilr = np.clip(imresize(x.transpose(1, 2, 0), scale=scale), 0.0, 1.0)
    return np.ascontiguousarray(ilr.transpose(2, 0, 1), dtype=np.float32)


def _crop_box(lr_shape, centre_x: float | None, centre_y: float | None, size: int) -> tuple[int, int, int]:
    """The ``size`` x ``size`` crop of the LR image centred near (x, y), moved inside the image."""
    height, width = lr_shape[:2]
    size = min(size, height, width)
    x = width / 2 if centre_x is None else centre_x
    y = height / 2 if centre_y is None else centre_y
    left = int(min(max(round(x - size / 2), 0), width - size))
    top = int(min(max(round(y - size / 2), 0), height - size))
    return left, top, size


def inspect_image(image: np.ndarray, model: str, scale: int, weights: bytes | None = None, pretend: bool = False,
                  centre_x: float | None = None, centre_y: float | None = None, size: int | None = None) -> dict:
    """Everything the "inside the network" view shows, for a crop of the low-resolution image.

    ``centre_x``, ``centre_y``: the crop's centre in the LR image's pixels (the uploaded image, or its
    downscaled copy with ``pretend``); default the image's centre. ``size``: the crop's side in LR
    pixels. With ``pretend`` the original image gives the target, so the answer also holds the
    loss, the gradient at the input pixels and the size of every weight's gradient.
    """
    size = LIMITS["inspect_size"] if size is None else int(size)
    if not 8 <= size <= LIMITS["max_inspect_size"]:
        raise RequestError(f"expected size between 8 and {LIMITS['max_inspect_size']} pixels, got {size}")
    network = network_for(model, scale, weights)
    if network is None:
        raise RequestError("bicubic has no layers to look inside; choose a network (srcnn, fsrcnn, ...)")
    truth = _ground_truth(image, scale) if pretend else None
    lr = bicubic_degrade(truth, scale) if pretend else image
    left, top, size = _crop_box(lr.shape, centre_x, centre_y, size)
    x = _network_input(lr[top:top + size, left:left + size], network, scale)
    target = None
    if truth is not None:
        hr = truth[top * scale:(top + size) * scale, left * scale:(left + size) * scale]
        target = _y_or_rgb(hr, input_channels(network))
    found = inspect_network(network, x, target)
    answer = {
        "model": model, "scale": scale, "crop": {"x": left, "y": top, "size": size},
        "input": _png_url(_as_picture(x)), "output": _png_url(_as_picture(np.clip(found.output, 0, 1))),
        "target": None if target is None else _png_url(_as_picture(target)),
        "layers": [{"name": name, "maps": int(maps.shape[0]), "height": int(maps.shape[1]),
                    "width": int(maps.shape[2]), "min": float(maps.min()), "max": float(maps.max()),
                    "image": _png_url(feature_grid(maps))} for name, maps in found.feature_maps],
        "loss": found.loss, "input_gradient": None, "weight_gradients": [],
    }
    if found.input_gradient is not None:
        signed = found.input_gradient.sum(axis=0)  # over colour channels for an RGB network
        answer["psnr_y_crop"] = float(10 * math.log10(1.0 / max(found.loss, 1e-12)))
        answer["input_gradient"] = {"image": _png_url(diverging(signed)), "max_abs": float(np.abs(signed).max())}
        answer["weight_gradients"] = [{"name": name, "shape": list(shape), "grad_norm": grad, "weight_norm": norm}
                                      for name, shape, grad, norm in found.weight_gradients]
    return answer


# ------------------------------------------------------------------------------------------ pictures

def _png_url(picture: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _as_picture(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` float in [0, 1] (C = 1 or 3) -> uint8 ``(H, W)`` or ``(H, W, 3)``."""
    pixels = np.clip(np.floor(image.transpose(1, 2, 0) * 255 + 0.5), 0, 255).astype(np.uint8)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def feature_grid(maps: np.ndarray, gap: int = 1) -> np.ndarray:
    """``(C, H, W)`` feature maps -> one uint8 RGB picture: a grid of C tiles, each map scaled to its own range.

    Each map is stretched from its own minimum (dark) to its own maximum (bright) with the viridis
    colour map; a map that is constant everywhere is drawn dark. Tiles are ``gap`` pixels apart.
    """
    from matplotlib import colormaps

    count, height, width = maps.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    scaled = np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0)
    coloured = (colormaps["viridis"](scaled)[..., :3] * 255 + 0.5).astype(np.uint8)  # (C, H, W, 3)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, dtype=np.uint8)
    for i in range(count):
        r, c = divmod(i, columns)
        grid[r * (height + gap):r * (height + gap) + height, c * (width + gap):c * (width + gap) + width] = coloured[i]
    return grid


def diverging(values: np.ndarray) -> np.ndarray:
    """A signed ``(H, W)`` map -> uint8 RGB: red where positive, blue where negative, white at 0 (|max| = full)."""
    from matplotlib import colormaps

    limit = float(np.abs(values).max()) or 1.0
    return (colormaps["RdBu_r"](0.5 + 0.5 * values / limit)[..., :3] * 255 + 0.5).astype(np.uint8)
