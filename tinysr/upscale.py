"""Upscale a whole photo: ``tinysr.upscale(image, scale=3, model="srcnn") -> array``.

How an image goes through an SRCNN trained on the Y channel (the paper's set-up)::

    RGB uint8 -> float [0, 1] -> YCbCr (MATLAB rgb2ycbcr)
              -> bicubic x scale of Y, Cb and Cr                (the "interpolated LR", ILR)
              -> SRCNN on Y (clipped to [0, 1], as in training); Cb and Cr stay bicubic
              -> YCbCr -> RGB -> rounded to uint8

A model trained on RGB (``channels=3``) runs on all three bicubic-upscaled channels instead, and
``model="bicubic"`` stops after the bicubic step. The other networks read the low-resolution
image itself and enlarge it inside (their ``input_mode`` is "lr"): FSRCNN and ESPCN its Y channel
(Cb and Cr go up with bicubic, as for SRCNN), SRResNet and SRGAN (an SRResNet network) its RGB.
An alpha channel is upscaled with bicubic on its own. Greyscale images go through the Y path
directly (their grey level is their luma).

Tiles. A 4000x3000 photo at x3 is 108 million output pixels: with 64 feature maps in float32
the first layer alone would need 28 GB. So the image is cut into tiles of ``tile`` x ``tile``
output pixels, each processed with a margin of extra input around it and then cropped: the
margin covers the bicubic kernel (2 LR pixels) and the network's receptive field, so every
output pixel sees exactly the inputs it would see in one piece, and a tiled upscale equals an
untiled one up to float rounding. All tiles have the same size (the last row and column of tiles
are shifted back to end at the image border), so several go through the network as one batch
and use every core. Memory is bounded by the tile size, not the image size (plus the output).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinysr.checkpoint import load_weights
from tinysr.device import forward_on_host
from tinysr.image import imresize, rgb_to_ycbcr, to_float, ycbcr_to_rgb
from tinysr.nn import Module

__all__ = ["SCALES", "input_channels", "load_model", "reads_lr", "shipped_weights_path", "upscale"]

#: the upscaling factors weights may be shipped for (which are: the files in tinysr/weights/)
SCALES = (2, 3, 4)
#: the network each model name loads (an SRGAN generator is an SRResNet)
NETWORKS = {"srcnn": "srcnn", "fsrcnn": "fsrcnn", "espcn": "espcn", "srresnet": "srresnet", "srgan": "srresnet"}
#: default tile side (output pixels) and tiles per batch, for every model: the convolutions share
#: one tile's blocks among the cores, so one 384-pixel tile goes at a time. Larger tiles redo fewer
#: margins (a 512x512 photo at x3 goes through SRCNN as 16 windows of 400x400 pixels instead of 121
#: of 157x157), ~290 MB of working memory. On that photo (2 threads, medians of 5, two rounds)
#: 384-pixel tiles took 1.36-1.42 s, 512-pixel 1.45-1.47 s and 768-pixel 1.19-1.39 s: within the
#: noise, while memory grows with the square.
TILING = (384, 1)
WEIGHTS_DIR = Path(__file__).parent / "weights"


def shipped_weights_path(model: str, scale: int) -> Path:
    """Where the package keeps its pretrained weights: ``tinysr/weights/{model}_x{scale}.npz``."""
    return WEIGHTS_DIR / f"{model}_x{scale}.npz"


def load_model(model: str | Module = "srcnn", scale: int = 3, weights=None) -> Module | None:
    """The network for ``upscale``: ``None`` for "bicubic", a Module as given, else load weights.

    ``weights`` (a path) overrides the shipped file for that model and scale; the file must have
    been trained for ``scale`` and hold a ``model`` network, or ``CheckpointError`` says which it is.
    """
    if isinstance(model, Module):
        return model.eval()
    if model == "bicubic":
        if weights is not None:
            raise ValueError("upscale: model 'bicubic' takes no weights; pass model='srcnn' to use a weights file")
        return None
    if model not in NETWORKS:
        raise ValueError(f"upscale: expected model {', '.join(map(repr, NETWORKS))} or 'bicubic', got {model!r}")
    if weights is None:
        weights = shipped_weights_path(model, scale)
        if not weights.exists():
            shipped = ", ".join(f"x{s}" for s in SCALES if shipped_weights_path(model, s).exists()) or "none"
            raise FileNotFoundError(f"upscale: no shipped {model} weights for x{scale} (shipped: {shipped}; "
                                    f"looked for {weights})")
    network, _ = load_weights(weights, expected_scale=scale, expected_model=NETWORKS[model])
    return network.eval()


def reads_lr(network: Module | None) -> bool:
    """True for networks that read the LR image itself (FSRCNN, ESPCN, SRResNet), False for the ILR (SRCNN)."""
    return network is not None and getattr(network, "input_mode", "ilr") == "lr"


def input_channels(network: Module) -> int:
    """The image channels a network reads: 1 (Y) or 3 (RGB); 1 for a module that does not say."""
    return getattr(network, "channels", getattr(network, "config", {}).get("channels", 1))


def upscale(
    image: np.ndarray,
    scale: int = 3,
    model: str | Module = "srcnn",
    weights=None,
    *,
    tile: int | None = None,
    batch_size: int | None = None,
    progress=None,
    device: str = "cpu",
) -> np.ndarray:
    """Upscale ``image`` by ``scale`` with a network (default: tinysr's shipped SRCNN) or bicubic.

    Args:
        image: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` (RGBA), uint8 or uint16.
        scale: 2, 3 or 4 for the shipped weights (any int >= 2 with your own weights or bicubic).
        model: "srcnn", "fsrcnn", "espcn", "srresnet", "srgan", "bicubic", or a ``Module`` (e.g. from
            ``tinysr.checkpoint.load_weights``).
        weights: path of a weights file to use instead of the shipped one.
        tile: side of the output tiles, in pixels; memory grows with its square (default 384).
        batch_size: tiles per network call (default 1: the convolutions share one tile among
            every core).
        progress: ``None``, or a callable ``progress(done, total)`` called after each batch of tiles.
        device: "cpu" or "cuda": where the network runs (tiles are copied in and out).

    Returns:
        ``(H * scale, W * scale[, C])`` with the input's dtype and channels.
    """
    image, squeeze = _check_image(image)
    scale = _check_int(scale, "scale", minimum=2)
    network = load_model(model, scale, weights)
    if network is not None:
        network.to(device)
    if reads_lr(network) and network.scale != scale:
        raise ValueError(f"upscale: the network upscales x{network.scale}, but scale={scale} was asked for")
    default_tile, default_batch = TILING
    tile = _check_int(default_tile if tile is None else tile, "tile", minimum=16)
    batch_size = _check_int(default_batch if batch_size is None else batch_size, "batch_size", minimum=1)
    radius = 0 if network is None else (getattr(network, "receptive_field", 1) - 1) // 2
    height, width = image.shape[:2]
    min_side = 2 * radius // scale + 1
    if network is not None and min(height, width) < min_side:
        raise ValueError(
            f"upscale: the image is {height}x{width} pixels, smaller than the network's receptive field "
            f"needs at x{scale} (at least {min_side}x{min_side})"
        )
    out = np.empty((height * scale, width * scale, image.shape[2]), dtype=image.dtype)
    _upscale_tiled(image, scale, network, out, tile=tile, batch_size=batch_size, progress=progress)
    return out[:, :, 0] if squeeze else out


def _upscale_tiled(image, scale, network, out, *, tile, batch_size, progress=None) -> None:
    """Fill ``out`` tile by tile: rounded to its integer dtype, or unrounded if it is float (for tests)."""
    peak = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(out.dtype)
    radius = 0 if network is None else (getattr(network, "receptive_field", 1) - 1) // 2
    tiles = list(_tiles(image.shape[0], image.shape[1], scale, tile, margin=math.ceil(radius / scale) + 3))
    for start in range(0, len(tiles), batch_size):
        group = tiles[start : start + batch_size]
        crops = np.stack([image[t.crop_rows, t.crop_cols] for t in group])
        if reads_lr(network):
            parts = _upscale_lr_crops(to_float(crops), scale, network,
                                      [(t.owned_in_crop_rows, t.owned_in_crop_cols) for t in group])
        else:  # each result covers only its window: the owned rows and columns are relative to it
            windows = _network_windows(group, scale, radius, crops.shape[1:3])
            results = _upscale_crops(crops, scale, network, windows)
            parts = [result[_shift(t.owned_in_crop_rows, rows.start), _shift(t.owned_in_crop_cols, cols.start)]
                     for t, result, (rows, cols) in zip(group, results, windows)]
        for t, owned in zip(group, parts):
            out[t.out_rows, t.out_cols] = owned if peak is None else np.clip(np.floor(owned * peak + 0.5), 0, peak)
        if progress is not None:
            progress(min(start + batch_size, len(tiles)), len(tiles))


def _network_windows(group: list[_Tile], scale: int, radius: int, crop_shape) -> list[tuple[slice, slice]]:
    """Per tile, the part of its crop's ILR that an ILR network (SRCNN) must see to get its owned pixels.

    The crop's margin (in LR pixels) also covers the bicubic kernel, so its ILR reaches further
    than the network's receptive field needs: running the network on the whole ILR would redo
    ~10% more pixels (a 420x420 crop for a 384-pixel tile at x3, where 400x400 suffice). A window
    is the owned part plus ``radius`` output pixels on each side, clamped to the crop; the windows
    of one batch all have the size of the largest owned part plus ``2 * radius`` (or the whole
    crop). Where a window is clamped at the crop's edge, that edge is the image border (the
    margin is at least ``radius``), so the network pads it exactly as in an untiled pass.
    """
    rows = max(t.owned_in_crop_rows.stop - t.owned_in_crop_rows.start for t in group) + 2 * radius
    cols = max(t.owned_in_crop_cols.stop - t.owned_in_crop_cols.start for t in group) + 2 * radius
    return [(_window_axis(t.owned_in_crop_rows, scale * crop_shape[0], rows, radius),
             _window_axis(t.owned_in_crop_cols, scale * crop_shape[1], cols, radius)) for t in group]


def _window_axis(owned: slice, crop_len: int, size: int, radius: int) -> slice:
    size = min(size, crop_len)
    first = min(max(owned.start - radius, 0), crop_len - size)
    return slice(first, first + size)


def _shift(part: slice, by: int) -> slice:
    return slice(part.start - by, part.stop - by)


def _upscale_crops(crops: np.ndarray, scale: int, network: Module | None, windows=None) -> np.ndarray:
    """``(T, h, w, C)`` integer crops -> ``(T, h*scale, w*scale, C)`` float in ~[0, 1] (unrounded).

    ``windows``: for an ILR network (SRCNN) or bicubic, optionally one ``(rows, cols)`` pair of
    slices per crop, all of one size, in upscaled pixels: then only that window of each crop's ILR
    goes through the network, and the result is ``(T, window rows, window cols, C)``.
    """
    crops = to_float(crops)
    colour = crops.shape[3] in (3, 4)
    if reads_lr(network):
        return np.stack(_upscale_lr_crops(crops, scale, network))
    bicubic = []
    for i, crop in enumerate(crops):
        if colour and network is not None and getattr(network, "config", {}).get("channels", 1) == 1:
            crop = np.concatenate([rgb_to_ycbcr(crop[:, :, :3]), crop[:, :, 3:]], axis=2)
        upscaled = imresize(crop, scale=scale)  # the whole crop: a window's edge needs the bicubic kernel's context
        bicubic.append(upscaled if windows is None else upscaled[windows[i]])
    results = np.stack(bicubic).astype(np.float32, copy=False)
    if network is None:
        return results
    channels = getattr(network, "config", {}).get("channels", 1)
    ilr = np.clip(results, 0.0, 1.0)
    if channels == 1:
        y = forward_on_host(network, np.ascontiguousarray(ilr[:, None, :, :, 0]))[:, 0]
        results[:, :, :, 0] = y
        if colour:
            results[:, :, :, :3] = ycbcr_to_rgb(results[:, :, :, :3])
    else:
        rgb = ilr[..., :3] if colour else np.repeat(ilr[..., :1], 3, axis=3)
        sr = forward_on_host(network, np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))).transpose(0, 2, 3, 1)
        if colour:
            results[..., :3] = sr
        else:
            results[..., 0] = sr.mean(axis=3)
    return results


def _upscale_lr_crops(crops: np.ndarray, scale: int, network: Module, owned=None) -> list[np.ndarray]:
    """``_upscale_crops`` for a network that reads the LR image: (T, h, w, C) float in [0, 1] -> T arrays (H', W', C).

    On RGB (SRResNet): RGB in, RGB out (a grey image as three equal channels, the output's mean).
    On Y (FSRCNN, ESPCN): the network upscales the LR Y channel; Cb and Cr go up with bicubic.
    Alpha, if any, goes up with bicubic on its own. ``owned`` (one ``(rows, cols)`` pair of slices
    per crop, in upscaled pixels) keeps only that part of each crop: the colour work is done on it
    alone, not on the margin that only the network and the bicubic kernel need. Default: all of it.
    """
    colour = crops.shape[3] in (3, 4)
    owned = owned or [(slice(None), slice(None))] * len(crops)
    if input_channels(network) == 3:
        rgb = crops[..., :3] if colour else np.repeat(crops[..., :1], 3, axis=3)
        sr = forward_on_host(network, np.ascontiguousarray(rgb.transpose(0, 3, 1, 2), dtype=np.float32))
        sr = sr.transpose(0, 2, 3, 1)
        parts = [s[rows, cols] if colour else s[rows, cols].mean(axis=2, keepdims=True)
                 for s, (rows, cols) in zip(sr, owned)]
    elif colour:
        ycbcr = rgb_to_ycbcr(crops[..., :3])
        sr_y = forward_on_host(network, np.ascontiguousarray(ycbcr[:, None, :, :, 0], dtype=np.float32))[:, 0]
        parts = []
        for y, lr, (rows, cols) in zip(sr_y, ycbcr, owned):
            cbcr = imresize(lr[..., 1:], scale=scale)[rows, cols]  # Cb and Cr: bicubic of the whole crop
            parts.append(ycbcr_to_rgb(np.concatenate([y[rows, cols, None], cbcr], axis=2)))
    else:
        sr_y = forward_on_host(network, np.ascontiguousarray(crops[:, None, :, :, 0], dtype=np.float32))[:, 0]
        parts = [y[rows, cols, None] for y, (rows, cols) in zip(sr_y, owned)]
    if crops.shape[3] == 4:
        parts = [np.concatenate([part, imresize(alpha, scale=scale)[rows, cols]], axis=2)
                 for part, alpha, (rows, cols) in zip(parts, crops[..., 3:], owned)]
    return parts


@dataclass(frozen=True)
class _Tile:
    crop_rows: slice           # rows of the input read for this tile (owned rows plus margin)
    crop_cols: slice
    owned_in_crop_rows: slice  # rows of the crop's output that this tile writes
    owned_in_crop_cols: slice
    out_rows: slice            # where they go in the output
    out_cols: slice


def _tiles(height: int, width: int, scale: int, tile: int, margin: int) -> Iterator[_Tile]:
    """Cut an ``height x width`` input into equal crops whose owned parts cover the output once.

    In input (LR) pixels: each tile owns about ``tile // scale`` rows and columns (the tiles along
    an axis are made equal, so that no thin last tile pays for a full crop) and reads ``margin``
    more on each side, clamped to the image (a crop never reaches past the border, so the border
    is treated exactly as in an untiled pass).
    """
    row_step, col_step = _balanced_step(height, tile // scale), _balanced_step(width, tile // scale)
    for row_start, row_crop, row_owned in _axis(height, row_step, margin):
        for col_start, col_crop, col_owned in _axis(width, col_step, margin):
            yield _Tile(
                crop_rows=slice(row_crop, row_crop + min(row_step + 2 * margin, height)),
                crop_cols=slice(col_crop, col_crop + min(col_step + 2 * margin, width)),
                owned_in_crop_rows=slice((row_start - row_crop) * scale, (row_start - row_crop + row_owned) * scale),
                owned_in_crop_cols=slice((col_start - col_crop) * scale, (col_start - col_crop + col_owned) * scale),
                out_rows=slice(row_start * scale, (row_start + row_owned) * scale),
                out_cols=slice(col_start * scale, (col_start + col_owned) * scale),
            )


def _balanced_step(size: int, step: int) -> int:
    """The step <= ``step`` that cuts ``size`` into the fewest, most equal pieces."""
    pieces = math.ceil(size / max(1, step))
    return math.ceil(size / pieces)


def _axis(size: int, step: int, margin: int) -> Iterator[tuple[int, int, int]]:
    """Per tile along one axis: (first owned pixel, first crop pixel, number of owned pixels)."""
    crop = min(step + 2 * margin, size)
    for start in range(0, size, step):
        owned = min(step, size - start)
        crop_start = min(max(start - margin, 0), size - crop)
        yield start, crop_start, owned


def _check_image(image) -> tuple[np.ndarray, bool]:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"upscale: expected image to be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"upscale: expected image with dtype uint8 or uint16, got dtype {image.dtype}")
    if image.ndim == 2:
        return image[:, :, None], True
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"upscale: expected image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got {image.shape}")
    return image, False


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"upscale: expected {name} to be an int >= {minimum}, got {value!r}")
    return int(value)
