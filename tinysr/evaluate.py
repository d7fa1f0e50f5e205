"""Evaluate upscalers on a folder of images with the protocol of the published tables.

For every image (``tinysr.data.load_eval_pairs``): the Y channel of the uint8 RGB image, cropped
to a multiple of the scale, is downscaled with bicubic (unrounded), upscaled with bicubic (the
input of SRCNN), run through each model, rounded to uint8, and compared with the original Y with
``scale`` pixels shaved from every border: Y-PSNR (peak 255) and SSIM. On Set5 this gives the
bicubic row of every paper: 33.66 / 30.39 / 28.42 dB at x2 / x3 / x4.

``evaluate(...)`` returns the numbers; ``format_table`` prints them; ``save_figure`` draws the
same crop of each image from every method side by side, for people who would rather look.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinysr._files import atomic_write
from tinysr.data import list_images, load_eval_pairs
from tinysr.image import bicubic_degrade, modcrop, read_image, to_uint8
from tinysr.metrics import psnr, ssim
from tinysr.nn import Module
from tinysr.upscale import load_model, upscale

__all__ = ["evaluate", "format_table", "save_figure"]


def _network_y(network: Module, ilr: np.ndarray) -> np.ndarray:
    """Run a Y-channel network on one ``(H, W)`` ILR image; return the rounded uint8 ``(H, W, 1)``."""
    out = network.forward(np.ascontiguousarray(ilr[None, None], dtype=np.float32))[0, 0]
    return to_uint8(out)[:, :, None]


def evaluate(folder, scale: int, models: list[str] = ("bicubic", "srcnn"), weights=None, progress=None) -> dict:
    """Y-PSNR and SSIM of every model on every image of ``folder``.

    Returns ``{"scale", "images": [names], "results": {model: {"psnr": [...], "ssim": [...]}}}``,
    lists in the order of ``images``. ``weights`` (a path) replaces the shipped SRCNN weights.
    ``progress``, if given, is called as ``progress(done, total)`` after each image.
    """
    list_images(folder)  # a missing or empty folder is reported before any model is loaded
    networks = {name: load_model(name, scale, weights if name != "bicubic" else None) for name in models}
    for name, network in networks.items():
        if network is not None and network.config.get("channels", 1) != 1:
            raise ValueError(f"eval: the {name} weights are for RGB input; evaluation follows the Y-channel protocol")
    pairs = load_eval_pairs(folder, scale, channels="y")
    results = {name: {"psnr": [], "ssim": []} for name in models}
    for done, pair in enumerate(pairs, start=1):
        for name, network in networks.items():
            sr = to_uint8(pair["ilr"])[:, :, None] if network is None else _network_y(network, pair["ilr"])
            results[name]["psnr"].append(psnr(sr, pair["hr"], crop_border=scale))
            results[name]["ssim"].append(ssim(sr, pair["hr"], crop_border=scale))
        if progress is not None:
            progress(done, len(pairs))
    return {"scale": scale, "images": [p["name"] for p in pairs], "results": results}


def format_table(report: dict) -> str:
    """A plain-text table: one row per image and a mean row, ``PSNR / SSIM`` per model."""
    models = list(report["results"])
    width = max(8, *(len(name) for name in report["images"]))
    header = f"{'image':<{width}}" + "".join(f"  {name + ' PSNR / SSIM':>22}" for name in models)
    lines = [f"Y-PSNR (dB) / SSIM at x{report['scale']}, {report['scale']} border pixels shaved", header,
             "-" * len(header)]
    for i, image in enumerate(report["images"]):
        cells = "".join(
            f"  {report['results'][m]['psnr'][i]:>13.2f} / {report['results'][m]['ssim'][i]:.4f}" for m in models
        )
        lines.append(f"{image:<{width}}{cells}")
    lines.append("-" * len(header))
    means = "".join(
        f"  {np.mean(report['results'][m]['psnr']):>13.2f} / {np.mean(report['results'][m]['ssim']):.4f}"
        for m in models
    )
    lines.append(f"{'mean':<{width}}{means}")
    return "\n".join(lines)


def save_figure(path, folder, scale: int, report: dict, weights=None, crop: int = 96) -> None:
    """Side by side, for each image: the HR crop, then the same crop from every model (colour).

    The crop (``crop`` x ``crop`` pixels of the HR image) is where bicubic loses most detail: the
    window with the largest HR gradient energy. Colour images go through ``tinysr.upscale`` (the
    network on Y, bicubic Cb and Cr), each panel titled with that image's Y-PSNR. Written atomically.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(report["results"])
    names = report["images"]
    paths = {p.stem: p for p in list_images(folder)}
    fig, axes = plt.subplots(len(names), len(models) + 1, figsize=(2.6 * (len(models) + 1), 2.7 * len(names)),
                             squeeze=False)
    for row, name in enumerate(names):
        hr = modcrop(read_image(paths[name]), scale)[:, :, :3]
        lr = bicubic_degrade(hr, scale)
        top, left = _detailed_window(hr, crop)
        window = (slice(top, top + crop), slice(left, left + crop))
        panels = [("HR (original)", hr)]
        for model in models:
            sr = upscale(lr, scale, model, weights if model != "bicubic" else None)
            panels.append((f"{model}: {report['results'][model]['psnr'][row]:.2f} dB", sr))
        for col, (title, image) in enumerate(panels):
            ax = axes[row, col]
            shown = image[window]
            ax.imshow(shown[:, :, 0] if shown.shape[2] == 1 else shown, cmap="gray", vmin=0, vmax=255,
                      interpolation="nearest")
            ax.set_title(title if col else f"{name}: {title}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"x{scale} super-resolution, {crop}x{crop} crops (Y-PSNR of the whole image)")
    fig.tight_layout()
    try:
        image_format = Path(path).suffix.lstrip(".").lower() or "png"
        atomic_write(path, lambda file: fig.savefig(file, format=image_format, dpi=110))
    finally:
        plt.close(fig)


def _detailed_window(image: np.ndarray, crop: int) -> tuple[int, int]:
    """Top-left corner of the ``crop`` x ``crop`` window with the most gradient energy."""
    grey = image.astype(np.float64).mean(axis=2)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    crop = min(crop, energy.shape[0], energy.shape[1])
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[crop:, crop:] - integral[:-crop, crop:] - integral[crop:, :-crop] + integral[:-crop, :-crop]
    top, left = np.unravel_index(np.argmax(sums), sums.shape)
    return int(top), int(left)
