"""Evaluate upscalers on a folder of images with the protocol of the published tables.

For every image (``tinysr.data.load_eval_pairs``): the Y channel of the uint8 RGB image, cropped
to a multiple of the scale, is downscaled with bicubic (unrounded), upscaled with bicubic (the
input of SRCNN), run through each model, rounded to uint8, and compared with the original Y with
``scale`` pixels shaved from every border: Y-PSNR (peak 255) and SSIM. On Set5 this gives the
bicubic row of every paper: 33.66 / 30.39 / 28.42 dB at x2 / x3 / x4.

FSRCNN and ESPCN, which read the LR Y channel itself, get the unrounded LR Y (the input the
published MATLAB test code gives them; SRCNN's ILR is the bicubic upscale of the same LR).
Networks that take the LR RGB image (SRResNet, SRGAN) get the uint8 RGB LR image (as a real
low-resolution file would be); their rounded RGB output is converted to Y (MATLAB ``rgb2ycbcr``,
rounded) and scored in the same way. Greyscale files are fed as three equal channels and scored
on the mean of the three output channels.

Sharpness: besides PSNR and SSIM, ``evaluate`` reports the mean gradient magnitude of each
output's Y channel divided by the HR image's (same shaved region). An MSE-trained network
averages the plausible details away and scores below 1; a GAN output should come closer to 1.
PSNR cannot show this, which is why SRGAN is judged on it (and on the figure).

``evaluate(...)`` returns the numbers; ``format_table`` prints them; ``save_figure`` draws the
same crop of each image from every method side by side, for people who would rather look.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinysr._files import atomic_write
from tinysr.checkpoint import load_weights
from tinysr.data import list_images, load_eval_pairs, shared_training_folder
from tinysr.device import forward_on_host
from tinysr.image import bicubic_degrade, modcrop, read_image, rgb_to_y_uint8, to_uint8
from tinysr.metrics import psnr, ssim
from tinysr.nn import Module
from tinysr.upscale import input_channels, load_model, reads_lr, shipped_weights_path, upscale

__all__ = ["evaluate", "format_table", "gradient_magnitude", "save_figure"]


def _network_y(network: Module, y: np.ndarray) -> np.ndarray:
    """Run a Y-channel network on one ``(h, w)`` image (the ILR, or the LR for FSRCNN and ESPCN);
    return its rounded uint8 output ``(H, W, 1)``."""
    out = forward_on_host(network, np.ascontiguousarray(y[None, None], dtype=np.float32))[0, 0]
    return to_uint8(out)[:, :, None]


def _network_rgb_y(network: Module, lr: np.ndarray, grey: bool) -> np.ndarray:
    """Run an LR-input RGB network on one ``(h, w, 3)`` uint8 image; return its rounded Y ``(H, W, 1)``."""
    x = np.ascontiguousarray(lr.transpose(2, 0, 1)[None], dtype=np.float32) / 255
    out = forward_on_host(network, x)[0].transpose(1, 2, 0)
    if grey:
        return to_uint8(out.mean(axis=2))[:, :, None]
    return rgb_to_y_uint8(to_uint8(out))[:, :, None]


def _check_not_trained_on(name: str, weights, folder) -> None:
    """Raise ``ValueError`` if the weights file says its network was trained on images of ``folder``."""
    training = load_weights(weights)[1].get("training", {}).get("data")
    shared = shared_training_folder(training, folder)
    if shared is not None:
        raise ValueError(f"eval: the {name} weights were trained on {shared}, which holds images of {folder}: "
                         "scores on images a network was trained on are meaningless (BSD68 is part of B100)")


def gradient_magnitude(image: np.ndarray, crop_border: int = 0) -> float:
    """Mean ``sqrt(dx^2 + dy^2)`` of a ``(H, W[, 1])`` image (forward differences), ``crop_border`` shaved."""
    y = np.asarray(image, dtype=np.float64).reshape(image.shape[0], image.shape[1])
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    dy, dx = np.diff(y, axis=0)[:, :-1], np.diff(y, axis=1)[:-1, :]
    return float(np.mean(np.sqrt(dx * dx + dy * dy)))


def evaluate(folder, scale: int, models: list[str] = ("bicubic", "srcnn"), weights=None, progress=None,
             device: str = "cpu") -> dict:
    """Y-PSNR, SSIM and sharpness of every model on every image of ``folder``.

    Returns ``{"scale", "images": [names], "results": {model: {"psnr": [...], "ssim": [...],
    "sharpness": [...]}}}``, lists in the order of ``images``; sharpness is the output's mean Y
    gradient magnitude divided by the HR image's. ``weights`` (a path) replaces the shipped
    weights of the one network model in ``models``. ``progress``, if given, is called as
    ``progress(done, total)`` after each image. ``device``: "cpu" or "cuda", where the networks run.
    """
    list_images(folder)  # a missing or empty folder is reported before any model is loaded
    if weights is not None and sum(name != "bicubic" for name in models) != 1:
        raise ValueError(f"eval: --weights replaces the weights of one network, but the models are {list(models)}; "
                         "evaluate that network alone with bicubic")
    networks = {name: load_model(name, scale, weights if name != "bicubic" else None) for name in models}
    for name in networks:
        if networks[name] is not None:
            _check_not_trained_on(name, weights or shipped_weights_path(name, scale), folder)
    for network in networks.values():
        if network is not None:
            network.to(device)
    for name, network in networks.items():
        if network is not None and not reads_lr(network) and input_channels(network) != 1:
            raise ValueError(f"eval: the {name} weights are for RGB input; evaluation follows the Y-channel protocol")
    pairs = load_eval_pairs(folder, scale, channels="y")
    needs_rgb = any(reads_lr(network) and input_channels(network) == 3 for network in networks.values())
    rgb_pairs = load_eval_pairs(folder, scale, channels="rgb") if needs_rgb else [None] * len(pairs)
    results = {name: {"psnr": [], "ssim": [], "sharpness": []} for name in models}
    for done, (pair, rgb_pair) in enumerate(zip(pairs, rgb_pairs), start=1):
        hr_sharpness = gradient_magnitude(pair["hr"], scale)
        for name, network in networks.items():
            if network is None:
                sr = to_uint8(pair["ilr"])[:, :, None]
            elif reads_lr(network) and input_channels(network) == 3:
                grey = read_image(pair["path"]).shape[2] in (1, 2)
                sr = _network_rgb_y(network, rgb_pair["lr"], grey)
            else:
                sr = _network_y(network, pair["lr_float"] if reads_lr(network) else pair["ilr"])
            results[name]["psnr"].append(psnr(sr, pair["hr"], crop_border=scale))
            results[name]["ssim"].append(ssim(sr, pair["hr"], crop_border=scale))
            results[name]["sharpness"].append(gradient_magnitude(sr, scale) / hr_sharpness)
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
    if all("sharpness" in report["results"][m] for m in models):
        sharpness = ", ".join(f"{m} {np.mean(report['results'][m]['sharpness']):.3f}" for m in models)
        lines.append(f"sharpness (mean Y gradient magnitude / HR's, 1 = as sharp as HR): {sharpness}")
    return "\n".join(lines)


def save_figure(path, folder, scale: int, report: dict, weights=None, crop: int = 96, device: str = "cpu") -> None:
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
            sr = upscale(lr, scale, model, weights if model != "bicubic" else None, device=device)
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
