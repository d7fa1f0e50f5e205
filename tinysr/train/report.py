"""What a run shows and keeps besides the weights: validation, sample grids, curves and timing.

* ``Validation``: the network's Y-PSNR on whole validation images with MATLAB's protocol (the
  output rounded to uint8, ``scale`` pixels shaved at each border), and, for networks that read
  the small image, a PNG grid of crops (LR, output, HR) per validation.
* ``write_curves``: ``curves.png``, the training loss and the validation PSNR against step (and,
  for a GAN, the discriminator's belief in real and generated crops).
* ``Timing``: where a step's time goes (data, compute, bookkeeping), printed at the end.
* ``progress_bar``, ``postfix``: the tqdm bar and its one-line summary.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tinysr._files import atomic_write
from tinysr.device import forward_on_host

__all__ = ["Timing", "Validation", "postfix", "progress_bar", "write_curves"]


def progress_bar(total: int, initial: int, enabled: bool):
    """A tqdm bar over steps (``enabled=False``: a silent one)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", disable=not enabled, dynamic_ncols=True,
                smoothing=0.05, mininterval=0.5)


def postfix(averages: dict, history: dict) -> str:
    """The progress bar's summary: smoothed loss (and D(real), D(fake) in a GAN run), last validation."""
    text = f"loss {averages['loss']:.2e}" if "loss" in averages else ""
    if "d_real" in averages:
        text += f", D(real) {averages['d_real']:.2f}, D(fake) {averages['d_fake']:.2f}"
    if history.get("val_psnr"):
        text += f", val {history['val_psnr'][-1]:.2f} dB"
    return text


class Timing:
    """Seconds spent per part of the run: ``lap("data")`` adds the time since the last lap to "data".

    Time spent inside ``measure("validation")`` or ``measure("checkpoint")`` is counted there and
    left out of the lap that contains it, so "bookkeeping" is what is left of a step after them.
    """

    def __init__(self):
        self.seconds = {"data": 0.0, "compute": 0.0, "bookkeeping": 0.0, "validation": 0.0, "checkpoint": 0.0}
        self.steps = 0
        self._mark, self._measured = time.perf_counter(), 0.0

    def start(self) -> None:
        """Start a step's first lap."""
        self._mark, self._measured = time.perf_counter(), 0.0

    def lap(self, part: str) -> None:
        """Count the time since the last lap (less what ``measure`` counted) as ``part``."""
        now = time.perf_counter()
        self.seconds[part] += now - self._mark - self._measured
        self._mark, self._measured = now, 0.0

    @contextmanager
    def measure(self, part: str):
        """Count the time inside the ``with`` block as ``part``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.seconds[part] += spent
            self._measured += spent

    def summary(self) -> dict:
        """``{"data", "compute", "bookkeeping", "validation", "checkpoint"}`` in seconds, and ``"steps"``."""
        return {**self.seconds, "steps": self.steps}

    def report(self) -> str:
        """One line: milliseconds per step of each part, and the share of the step outside the compute."""
        timing, steps = self.seconds, max(self.steps, 1)
        loop = timing["data"] + timing["compute"] + timing["bookkeeping"]
        if loop <= 0:
            return "timing: no steps were run"
        share = 100 * (timing["data"] + timing["bookkeeping"]) / loop
        return (f"time per step: compute (forward, backward, Adam) {1000 * timing['compute'] / steps:.1f} ms, "
                f"data {1000 * timing['data'] / steps:.2f} ms, bookkeeping "
                f"{1000 * timing['bookkeeping'] / steps:.2f} ms (data + bookkeeping {share:.1f}% of the step); "
                f"validation {timing['validation']:.1f} s and checkpoints {timing['checkpoint']:.1f} s in total")


# --------------------------------------------------------------------------- validation


class Validation:
    """Y-PSNR of a network on whole images, with MATLAB's protocol (uint8 rounding, ``scale`` shaved)."""

    def __init__(self, pairs: list[dict], scale: int, channels: str, mode: str = "ilr"):
        from tinysr.image import to_uint8
        from tinysr.metrics import psnr

        self.pairs, self.scale, self.channels, self.mode = pairs, scale, channels, mode
        self._to_uint8, self._psnr = to_uint8, psnr
        self.references = [self._reference(pair["hr"]) for pair in pairs]
        self.bicubic_psnr = float(np.mean([
            self._score(pair["ilr"], reference) for pair, reference in zip(pairs, self.references)
        ]))

    def _reference(self, hr: np.ndarray) -> np.ndarray:
        """What the network's output is compared with: the rounded Y channel (or RGB) of the HR image."""
        from tinysr.image import rgb_to_y

        if self.channels == "rgb":
            return hr
        if hr.ndim == 3 and hr.shape[2] >= 3:
            return np.floor(rgb_to_y(hr[:, :, :3]) + 0.5).astype(np.uint8)
        return hr if hr.ndim == 2 else hr[:, :, 0]

    def _score(self, prediction: np.ndarray, reference: np.ndarray) -> float:
        """PSNR of a float prediction in [0, 1] ((H, W) or (H, W, 3)) against a uint8 reference."""
        predicted = self._to_uint8(prediction)
        if self.channels == "rgb":
            return self._psnr(predicted, reference, crop_border=self.scale, test_y_channel=True)
        return self._psnr(predicted.reshape(reference.shape), reference, crop_border=self.scale)

    def psnr(self, model) -> float:
        """Mean Y-PSNR of ``model`` over the validation images."""
        scores = []
        model.eval()
        for pair, reference in zip(self.pairs, self.references):
            image = (np.asarray(pair["ilr"], dtype=np.float32) if self.mode == "ilr"
                     else pair["lr"].astype(np.float32) / 255)
            x = image[None, None] if image.ndim == 2 else np.ascontiguousarray(image.transpose(2, 0, 1)[None])
            output = forward_on_host(model, x)[0]
            prediction = output[0] if output.shape[0] == 1 and image.ndim == 2 else output.transpose(1, 2, 0)
            scores.append(self._score(prediction, reference))
        model.train()
        drop_caches(model)
        return float(np.mean(scores))


    def save_grid(self, model, path: Path, *, title: str, images: int = 4) -> None:
        """Save a PNG grid of validation crops: LR (enlarged by pixel repetition), the network's output, HR.

        One row per image (at most ``images``), the central ``128 / scale`` LR pixels of each. The
        network sees 8 more LR pixels on every side, so that the crop is free of border effects.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        scale, side, margin = self.scale, 128 // self.scale, 8
        rows = []
        model.eval()
        for pair in self.pairs[:images]:
            lr, hr = pair["lr"], pair["hr"]
            if min(lr.shape[:2]) < side:
                continue
            top, left = (lr.shape[0] - side) // 2, (lr.shape[1] - side) // 2
            y0, x0 = max(top - margin, 0), max(left - margin, 0)
            window = lr[y0:top + side + margin, x0:left + side + margin].astype(np.float32) / 255
            output = forward_on_host(model, np.ascontiguousarray(window.transpose(2, 0, 1)[None]))[0]
            output = output.transpose(1, 2, 0)
            dy, dx = (top - y0) * scale, (left - x0) * scale
            crop = self._to_uint8(output[dy:dy + side * scale, dx:dx + side * scale])
            lr_crop = lr[top:top + side, left:left + side]
            hr_crop = hr[top * scale:(top + side) * scale, left * scale:(left + side) * scale]
            rows.append((pair["name"], np.repeat(np.repeat(lr_crop, scale, axis=0), scale, axis=1), crop, hr_crop))
        model.train()
        drop_caches(model)
        if not rows:
            return
        figure = Figure(figsize=(9, 3 * len(rows)), dpi=100)
        axes = figure.subplots(len(rows), 3, squeeze=False)
        for row, (name, *crops) in zip(axes, rows):
            for ax, crop, label in zip(row, crops, (f"LR ({name}, x{scale} pixels)", "network output", "HR")):
                ax.imshow(crop.squeeze(), cmap="gray" if crop.shape[-1] == 1 else None, vmin=0, vmax=255,
                          interpolation="nearest")
                ax.set_title(label)
                ax.axis("off")
        figure.suptitle(title)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda file: figure.savefig(file, format="png"))


def drop_caches(model) -> None:
    """Free the whole-image activations a validation pass left in the layers' caches."""
    for module in model.modules():
        if hasattr(module, "_cache"):
            module._cache = None


# --------------------------------------------------------------------------- curves


def write_curves(path: str | Path, history: dict, *, title: str, label: str = "network") -> None:
    """Plot the training loss (raw and smoothed, log scale) and validation PSNR against step; atomic."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    gan = bool(history.get("d_real"))
    figure = Figure(figsize=(15 if gan else 10, 4), dpi=100)
    loss_axes, psnr_axes, *gan_axes = figure.subplots(1, 3 if gan else 2)
    steps, losses = np.asarray(history["step"]), np.asarray(history["loss"])
    if len(losses):
        loss_axes.plot(steps, losses, color="0.75", linewidth=0.5, label="per step")
        window = max(1, min(len(losses) // 20, 500))
        smoothed = np.convolve(losses, np.ones(window) / window, mode="valid")
        loss_axes.plot(steps[window - 1:], smoothed, color="C0", label=f"mean of {window} steps")
        loss_axes.set_yscale("log")
        loss_axes.legend()
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("generator loss (MSE + adversarial)" if gan else "training loss (MSE)")
    loss_axes.set_title("training loss")
    if history.get("val_psnr"):
        psnr_axes.plot(history["val_step"], history["val_psnr"], "o-", color="C1", label=label)
    if history.get("bicubic_psnr"):
        psnr_axes.axhline(history["bicubic_psnr"][0], color="0.5", linestyle="--", label="bicubic")
    if history.get("val_psnr") or history.get("bicubic_psnr"):
        psnr_axes.legend()
    else:
        psnr_axes.text(0.5, 0.5, "no validation (--val)", ha="center", va="center", transform=psnr_axes.transAxes)
    psnr_axes.set_xlabel("step")
    psnr_axes.set_ylabel("validation Y-PSNR (dB)")
    psnr_axes.set_title("validation")
    if gan:  # the two players: D's mean belief that real and generated crops are real
        axes = gan_axes[0]
        axes.plot(steps, history["d_real"], color="C2", linewidth=0.5, alpha=0.6, label="D(real)")
        axes.plot(steps, history["d_fake"], color="C3", linewidth=0.5, alpha=0.6, label="D(fake)")
        axes.set_ylim(-0.02, 1.02)
        axes.set_xlabel("step")
        axes.set_ylabel("mean sigmoid(D(x))")
        axes.set_title("discriminator: real vs generated")
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    atomic_write(path, lambda file: figure.savefig(file, format="png"))

