"""Training loop for super-resolution networks: ``tinysr train srcnn|srresnet|srgan ...`` runs :func:`train`.

One step (SRCNN, SRResNet) is the textbook loop with nothing hidden::

    inputs, targets = dataset.batch(batch_size)        # random patches, flips and rotations
    optimizer.lr = learning_rate(step)                 # cosine decay (or constant)
    optimizer.zero_grad()
    loss = criterion.forward(model.forward(inputs), targets)
    model.backward(criterion.backward())               # fills every parameter's .grad
    optimizer.step()                                   # Adam changes the weights

An SRGAN step is ``tinysr.gan.srgan_step`` (read that file): a discriminator step, then a
generator step whose gradient comes back through the discriminator. SRGAN starts from a trained
SRResNet (``--init``), as in the paper.

Around it: a progress bar (loss, steps/s, ETA), the validation Y-PSNR every ``val_every`` steps
(MATLAB protocol: rounded to uint8, ``scale`` pixels shaved), and a checkpoint every
``checkpoint_every`` steps and at the end. A run lives in one folder::

    RUN_DIR/checkpoint.npz    everything needed to continue bit for bit (--resume)
    RUN_DIR/weights.npz       just the network, for ``tinysr upscale --weights``
    RUN_DIR/curves.png        loss and validation PSNR against step (and D(real), D(fake) for SRGAN)
    RUN_DIR/samples/          SRResNet and SRGAN: a grid of validation crops (LR, output, HR) per validation

Every file is written atomically. Ctrl-C finishes the current step, saves a checkpoint and
stops; a NaN or infinite loss stops the run before it touches the weights and keeps the last
good checkpoint.

Why the defaults (SRCNN 9-5-5 on Y, x3): Adam with a cosine learning-rate decay from 5e-4 to
1e-5 over 60,000 steps of 32 patches of 33x33 (about 1.5 hours on 2 cores). The issue's PyTorch
calibration (constant 3e-4, same batch and patches) was still improving after 30 minutes (~17k
steps); a longer run and a decay that settles the weights at the end go further. A short test at
500 steps had 3e-4 slightly ahead of 1e-3 (Set14 28.17 vs 27.99 dB), so the peak is kept moderate.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinysr._files import atomic_write
from tinysr.checkpoint import load_checkpoint, save_checkpoint, save_weights
from tinysr.device import check_device, forward_on_host, to_device
from tinysr.gan import GANStepDiverged, srgan_step
from tinysr.losses import MSELoss
from tinysr.models import PRESETS, SRCNN, Discriminator, SRResNet
from tinysr.nn import Module
from tinysr.optim import Adam

__all__ = [
    "DEFAULTS",
    "TrainingDiverged",
    "TrainingError",
    "TrainingInterrupted",
    "check_settings",
    "learning_rate",
    "train",
    "write_curves",
]

#: settings shared by every model, and their defaults
COMMON_DEFAULTS: dict = {
    "model": "srcnn",
    "data": None,            # None: the images embedded in the package
    "val": None,             # None: no validation
    "schedule": "cosine",
    "seed": 0,
    "val_every": 1000,
    "checkpoint_every": 1000,
}
#: each model's own settings and defaults; a setting of another model is an error
MODEL_DEFAULTS: dict[str, dict] = {
    "srcnn": {
        "preset": "9-5-5",
        "channels": "y",
        "scale": 3,
        "steps": 60_000,
        "batch_size": 32,
        "patch": 33,         # HR patch side; SRCNN's input is the bicubic-upscaled patch of the same size
        "lr": 5e-4,
        "lr_min": 1e-5,
    },
    "srresnet": {
        "num_blocks": 16,
        "num_features": 64,
        "channels": "rgb",
        "scale": 4,
        "steps": 20_000,
        "batch_size": 16,
        "patch": 96,         # HR patch side; the input is the 24x24 LR patch (x4), as in the paper
        "lr": 2e-4,
        "lr_min": 1e-6,
    },
    "srgan": {
        "init": None,        # required: an SRResNet weights.npz or checkpoint.npz to start the generator from
        "preset": "paper",   # "paper": 96x96 HR crops, batch 16; "seed": 128x128 crops, batch 1 (see SRGAN_PRESETS)
        "channels": "rgb",
        "scale": 4,
        "steps": 2_000,
        "batch_size": None,  # None: the preset's
        "patch": None,       # None: the preset's
        "lr": 1e-4,          # Adam with beta1 = 0.9 for both networks, as in the paper
        "lr_min": 1e-6,
        "schedule": "constant",
        "adversarial_weight": 1e-3,
        "d_features": 64,    # channels of the discriminator's first convolution (64 in the paper)
    },
}
#: SRGAN crop size and batch: the paper's, and the set-up of the student presentation tinysr started from
SRGAN_PRESETS: dict[str, dict[str, int]] = {
    "paper": {"patch": 96, "batch_size": 16},
    "seed": {"patch": 128, "batch_size": 1},
}
#: every training setting, with SRCNN's defaults (``defaults(model)`` gives another model's)
DEFAULTS: dict = {**COMMON_DEFAULTS, **MODEL_DEFAULTS["srcnn"]}
#: every setting any model takes (the command line offers all of them)
SETTINGS: tuple[str, ...] = tuple(dict.fromkeys([*COMMON_DEFAULTS, *(k for d in MODEL_DEFAULTS.values() for k in d)]))
#: settings that may change when a run is resumed (they do not change what the run computes)
RESUMABLE = ("steps", "val_every", "checkpoint_every")
SCALES = (2, 3, 4)
MODEL_SCALES = {"srcnn": (2, 3, 4), "srresnet": (2, 4), "srgan": (2, 4)}
SCHEDULES = ("cosine", "constant")
SRCNN_PRESETS = tuple(PRESETS)

CHECKPOINT = "checkpoint.npz"
WEIGHTS = "weights.npz"
CURVES = "curves.png"
SAMPLES = "samples"


class TrainingError(ValueError):
    """A setting or a run folder that cannot be trained with; the message says which and why."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; ``str(error)`` says where the checkpoint is."""


def learning_rate(step: int, settings: dict) -> float:
    """The learning rate of step ``step`` (0-based) of a run of ``settings["steps"]`` steps.

    cosine: ``lr_min + (lr - lr_min) * (1 + cos(pi * step / steps)) / 2``, from ``lr`` down to ``lr_min``.
    constant: ``lr``.
    """
    if settings["schedule"] == "constant":
        return settings["lr"]
    progress = min(step / settings["steps"], 1.0)
    return settings["lr_min"] + (settings["lr"] - settings["lr_min"]) * 0.5 * (1.0 + math.cos(math.pi * progress))


def defaults(model: str) -> dict:
    """Every setting of ``model`` ("srcnn", "srresnet" or "srgan") with its default."""
    return {**COMMON_DEFAULTS, "model": model, **MODEL_DEFAULTS[model]}


def check_settings(settings: dict) -> dict:
    """``defaults(settings["model"])`` updated with ``settings``, each value checked; raises ``TrainingError``."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise TrainingError(f"unknown training settings {unknown}; known: {sorted(SETTINGS)}")
    model = settings.get("model") or COMMON_DEFAULTS["model"]
    if model not in MODEL_DEFAULTS:
        raise TrainingError(f"unknown model {model!r}; tinysr trains: {', '.join(MODEL_DEFAULTS)}")
    given = {key: value for key, value in settings.items() if value is not None}
    foreign = sorted(set(given) - set(defaults(model)))
    if foreign:
        raise TrainingError(f"{', '.join('--' + key.replace('_', '-') for key in foreign)} does not apply to "
                            f"{model}; its settings are {', '.join(sorted(defaults(model)))}")
    merged = {**defaults(model), **given}
    if model == "srgan":
        if merged["preset"] not in SRGAN_PRESETS:
            raise TrainingError(f"unknown srgan preset {merged['preset']!r}; expected one of "
                                f"{', '.join(SRGAN_PRESETS)}")
        merged = {**merged, **{key: value for key, value in SRGAN_PRESETS[merged["preset"]].items()
                               if given.get(key) is None}}
        if merged["init"] is None:
            raise TrainingError("srgan needs --init: the SRResNet weights.npz or checkpoint.npz to start the "
                                "generator from (train one with: tinysr train srresnet --out RUN_DIR)")
        if not Path(merged["init"]).is_file():
            raise TrainingError(f"--init file {merged['init']} does not exist")
        merged["init"] = str(Path(merged["init"]).resolve())
        weight = merged["adversarial_weight"]
        if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise TrainingError(f"--adversarial-weight must be a number >= 0, got {weight!r}")
        if merged["patch"] % 16:
            raise TrainingError(f"srgan: --patch {merged['patch']} must be a multiple of 16 (the discriminator "
                                "halves it four times)")
    if merged["scale"] not in MODEL_SCALES[model]:
        raise TrainingError(f"unsupported scale {merged['scale']!r} for {model}; expected one of "
                            f"{', '.join(map(str, MODEL_SCALES[model]))}")
    if model == "srcnn" and merged["preset"] not in SRCNN_PRESETS:
        raise TrainingError(f"unknown preset {merged['preset']!r}; expected one of {', '.join(SRCNN_PRESETS)}")
    if merged["channels"] not in ("y", "rgb"):
        raise TrainingError(f"--channels must be 'y' or 'rgb', got {merged['channels']!r}")
    if model != "srcnn" and merged["channels"] != "rgb":
        raise TrainingError(f"{model} works on RGB images: --channels must be rgb, got {merged['channels']!r}")
    if merged["schedule"] not in SCHEDULES:
        raise TrainingError(f"unknown schedule {merged['schedule']!r}; expected one of {', '.join(SCHEDULES)}")
    for key in ("steps", "batch_size", "patch", "val_every", "checkpoint_every", "num_blocks", "num_features",
                "d_features"):
        value = merged.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise TrainingError(f"--{key.replace('_', '-')} must be a positive integer, got {value!r}")
    for key in ("lr", "lr_min"):
        value = merged[key]
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise TrainingError(f"--{key.replace('_', '-')} must be a positive number, got {value!r}")
    if model != "srcnn" and merged["patch"] % merged["scale"]:
        raise TrainingError(f"--patch {merged['patch']} is the HR patch side: it must be a multiple of the scale "
                            f"{merged['scale']} (the LR input patch is patch / scale pixels)")
    if merged["lr_min"] > merged["lr"]:
        raise TrainingError(f"--lr-min ({merged['lr_min']}) must not exceed --lr ({merged['lr']})")
    if not isinstance(merged["seed"], (int, np.integer)) or merged["seed"] < 0:
        raise TrainingError(f"--seed must be a non-negative integer, got {merged['seed']!r}")
    for key in ("data", "val"):
        if merged[key] is not None:
            folder = Path(merged[key])
            if not folder.is_dir():
                raise TrainingError(f"--{key} folder {folder} does not exist or is not a folder")
            merged[key] = str(folder.resolve())
    return merged


# --------------------------------------------------------------------------- the run


def train(settings: dict, out: str | Path, *, resume: bool = False, progress: bool = True,
          callback: Callable[[int, float], None] | None = None, log: Callable[[str], None] | None = None,
          device: str = "cpu") -> dict:
    """Train (or continue training) a network; returns a summary dict.

    Args:
        settings: training settings (see ``defaults(model)``); missing ones take the default. When
            resuming, only ``steps``, ``val_every`` and ``checkpoint_every`` may differ from the
            saved run; other given values must equal the saved ones.
        out: the run folder (created if needed). Without ``resume`` it must not hold a checkpoint.
        resume: continue the run saved in ``out``.
        progress: show a tqdm progress bar.
        callback: called as ``callback(step, loss)`` after every completed step (tests use it to
            stop a run; raising ``KeyboardInterrupt`` there behaves like Ctrl-C).
        log: where one-line messages go (default: print, flushed).
        device: "cpu" or "cuda": where the networks, their optimizers and each batch live (the
            run's files are the same either way, so a run may be resumed on the other device).

    Returns:
        ``{"step", "loss", "val_psnr", "bicubic_psnr", "timing", "out"}``.

    Raises:
        TrainingError (bad settings or run folder), TrainingDiverged (NaN/inf loss),
        TrainingInterrupted (Ctrl-C, after saving), CheckpointError, ImageError.
    """
    from tinysr.data import SRDataset, load_eval_pairs  # images are only needed once a run starts

    if log is None:
        def log(line: str) -> None:
            print(line, flush=True)  # flushed, so that a log file shows progress as it happens

    check_device(device)  # before any file is touched: "cuda" without a GPU is a one-line DeviceError
    out = Path(out)
    checkpoint_path = out / CHECKPOINT
    discriminator = None
    if resume:
        if not checkpoint_path.is_file():
            raise TrainingError(f"--resume: {checkpoint_path} does not exist; start a new run without --resume")
        saved = load_checkpoint(checkpoint_path)
        settings = _resumed_settings(saved["config"], settings)
        model, step, discriminator = saved["model"], saved["step"], saved["discriminator"]
        history = {key: list(np.asarray(value).tolist()) for key, value in saved["history"].items()}
    else:
        if checkpoint_path.exists():
            raise TrainingError(
                f"{out} already holds a run ({CHECKPOINT}); pass --resume to continue it or choose another --out"
            )
        settings = check_settings(settings)
        if out.exists() and not out.is_dir():
            raise TrainingError(f"--out {out} exists and is not a folder")
        if settings["model"] == "srgan":
            model = load_generator(settings["init"], settings["scale"])
            discriminator = Discriminator(settings["patch"], settings["d_features"],
                                          rng=np.random.default_rng([settings["seed"], 2]))
        else:
            model = build_network(settings, rng=np.random.default_rng([settings["seed"], 1]))
        step = 0
        history = {"step": [], "loss": [], "val_step": [], "val_psnr": []}
    out.mkdir(parents=True, exist_ok=True)

    scale, channels = settings["scale"], settings["channels"]
    name = describe(settings, model)
    if settings["data"] and Path(settings["data"]).name.lower() in ("set5", "set14"):
        log(f"warning: training on {settings['data']} makes every score measured on it meaningless")
    dataset = SRDataset(settings["data"], scale=scale, patch_size=settings["patch"], mode=input_mode(settings),
                        channels=channels, seed=settings["seed"], augment=True)
    model.to(device)
    if discriminator is not None:
        discriminator.to(device)
    optimizer = Adam(model.parameters(), lr=settings["lr"])
    d_optimizer = None if discriminator is None else Adam(discriminator.parameters(), lr=settings["lr"])
    if resume:
        dataset.load_state_dict(saved["dataset_state"])
        optimizer.load_state_dict(saved["optimizer"])
        if d_optimizer is not None:
            d_optimizer.load_state_dict(saved["discriminator_optimizer"])
    criterion = MSELoss()

    validation = None
    if settings["val"]:
        validation = _Validation(load_eval_pairs(settings["val"], scale, channels=channels), scale, channels,
                                 input_mode(settings))
        if not resume or "bicubic_psnr" not in history:
            history["bicubic_psnr"] = [validation.bicubic_psnr]
        log(f"validation on {len(validation.pairs)} images from {settings['val']}: "
            f"bicubic x{scale} Y-PSNR {validation.bicubic_psnr:.2f} dB")

    def save() -> None:
        started = time.perf_counter()
        save_checkpoint(checkpoint_path, model=model, optimizer=optimizer, step=step,
                        dataset_state=dataset.state_dict(), config=settings,
                        history={key: np.asarray(value, dtype=np.float64) for key, value in history.items()},
                        discriminator=discriminator, discriminator_optimizer=d_optimizer)
        extra = {"step": step, "training": settings}
        if history["val_psnr"]:
            extra["val_psnr"] = history["val_psnr"][-1]
        save_weights(out / WEIGHTS, model, scale=scale, extra=extra)
        write_curves(out / CURVES, history, title=name, label=name.split()[0])
        timing["checkpoint"] += time.perf_counter() - started

    # One training step: returns its losses ({"loss": ...} and, for SRGAN, the discriminator's
    # figures). ``state["updating"]`` is True while weights change, so that a second Ctrl-C
    # there keeps the previous checkpoint instead of saving half-updated weights.
    state = {"updating": False}

    def set_updating(flag: bool) -> None:
        state["updating"] = flag

    def mse_step(inputs: np.ndarray, targets: np.ndarray) -> dict:
        optimizer.lr = learning_rate(step, settings)
        optimizer.zero_grad()
        loss = criterion.forward(model.forward(inputs), targets)
        if not math.isfinite(loss):
            raise TrainingDiverged(_diverged_message(f"the loss became {loss}", step + 1, checkpoint_path, settings))
        model.backward(criterion.backward())
        set_updating(True)
        optimizer.step()
        set_updating(False)
        return {"loss": loss}

    def gan_step(inputs: np.ndarray, targets: np.ndarray) -> dict:
        optimizer.lr = d_optimizer.lr = learning_rate(step, settings)
        try:
            return srgan_step(model, discriminator, optimizer, d_optimizer, inputs, targets,
                              adversarial_weight=settings["adversarial_weight"], on_update=set_updating)
        except GANStepDiverged as error:
            raise TrainingDiverged(_diverged_message(str(error), step + 1, checkpoint_path, settings)) from None

    run_step = mse_step if discriminator is None else gan_step

    log(f"training {name} ({model.num_parameters():,} parameters"
        + ("" if discriminator is None else f"; discriminator {discriminator.num_parameters():,}")
        + f") on {dataset.num_images} images from {settings['data'] or 'the embedded samples'}: "
        f"steps {step}..{settings['steps']}, batch {settings['batch_size']} of {settings['patch']}x"
        f"{settings['patch']}, Adam lr {settings['lr']:g} ({settings['schedule']}) -> {out}")
    timing = {"data": 0.0, "compute": 0.0, "bookkeeping": 0.0, "validation": 0.0, "checkpoint": 0.0, "steps": 0}
    stop = _StopRequest()
    bar = _progress_bar(settings["steps"], step, progress)
    averages: dict[str, float] = {}
    try:
        with stop:
            while step < settings["steps"]:
                if stop.requested:
                    raise KeyboardInterrupt
                started = time.perf_counter()
                inputs, targets = dataset.batch(settings["batch_size"])
                if device != "cpu":
                    inputs, targets = to_device(inputs, device), to_device(targets, device)
                loaded = time.perf_counter()
                losses = run_step(inputs, targets)
                computed = time.perf_counter()
                periodic_before = timing["validation"] + timing["checkpoint"]
                step += 1
                history["step"].append(step)
                for key, value in losses.items():
                    history.setdefault(key, []).append(value)
                    averages[key] = value if key not in averages else 0.98 * averages[key] + 0.02 * value
                bar.update(1)
                bar.set_postfix_str(_postfix(averages, history), refresh=False)
                timing["data"] += loaded - started
                timing["compute"] += computed - loaded
                timing["steps"] += 1
                if validation and (step % settings["val_every"] == 0 or step == settings["steps"]):
                    val_started = time.perf_counter()
                    history["val_step"].append(step)
                    history["val_psnr"].append(validation.psnr(model))
                    message = (f"step {step}: validation Y-PSNR {history['val_psnr'][-1]:.2f} dB "
                               f"(bicubic {validation.bicubic_psnr:.2f}), {_postfix(averages, {})}")
                    if settings["model"] != "srcnn":
                        validation.save_grid(model, out / SAMPLES / f"step_{step:06d}.png",
                                             title=f"{name}, step {step}")
                    if progress:
                        bar.write(message)
                    else:
                        log(message)
                    timing["validation"] += time.perf_counter() - val_started
                if step % settings["checkpoint_every"] == 0 and step < settings["steps"]:
                    save()
                if callback is not None:
                    callback(step, losses["loss"])
                # bookkeeping = everything after the update except validation and checkpoints (timed apart)
                timing["bookkeeping"] += time.perf_counter() - computed - (
                    timing["validation"] + timing["checkpoint"] - periodic_before)
    except KeyboardInterrupt:
        bar.close()
        if state["updating"]:  # a second Ctrl-C during an update: the weights are half-updated, keep the old file
            raise TrainingInterrupted(
                f"interrupted during an update at step {step + 1}; {checkpoint_path} (if any) was kept unchanged"
            ) from None
        save()
        raise TrainingInterrupted(
            f"interrupted at step {step}: checkpoint saved to {checkpoint_path}; continue with --resume"
        ) from None
    except TrainingDiverged:
        bar.close()
        write_curves(out / CURVES, history, title=f"{name} (diverged)", label=name.split()[0])
        raise
    bar.close()
    save()
    summary = {
        "step": step,
        "loss": history["loss"][-1] if history["loss"] else None,
        "val_psnr": history["val_psnr"][-1] if history["val_psnr"] else None,
        "bicubic_psnr": validation.bicubic_psnr if validation else None,
        "timing": timing,
        "out": str(out),
    }
    log(_timing_report(timing))
    final = f"done: {step} steps, weights in {out / WEIGHTS}"
    if summary["val_psnr"] is not None:
        final += f", validation Y-PSNR {summary['val_psnr']:.2f} dB (bicubic {summary['bicubic_psnr']:.2f})"
    log(final)
    return summary


def _postfix(averages: dict, history: dict) -> str:
    """The progress bar's summary: smoothed loss (and D(real), D(fake) in a GAN run), last validation."""
    text = f"loss {averages['loss']:.2e}" if "loss" in averages else ""
    if "d_real" in averages:
        text += f", D(real) {averages['d_real']:.2f}, D(fake) {averages['d_fake']:.2f}"
    if history.get("val_psnr"):
        text += f", val {history['val_psnr'][-1]:.2f} dB"
    return text


def load_generator(path: str | Path, scale: int) -> Module:
    """The SRResNet saved in ``path`` (a weights.npz or a checkpoint.npz of ``tinysr train srresnet``)."""
    from tinysr.checkpoint import CheckpointError, load_weights

    try:
        generator, _ = load_weights(path, expected_scale=scale, expected_model="srresnet")
    except CheckpointError as weights_error:
        try:
            saved = load_checkpoint(path)
        except CheckpointError:
            raise TrainingError(f"--init {path}: {weights_error}") from None
        generator = saved["model"]
        if generator.config.get("name") != "srresnet" or saved["config"].get("scale") != scale:
            raise TrainingError(f"--init {path} holds a {generator.config.get('name')} x{saved['config'].get('scale')} "
                                f"run, not an SRResNet x{scale}") from None
    return generator


def build_network(settings: dict, rng: np.random.Generator) -> Module:
    """The freshly initialised network that ``settings`` (checked) describe."""
    if settings["model"] == "srcnn":
        return SRCNN.preset(settings["preset"], channels=1 if settings["channels"] == "y" else 3, rng=rng)
    return SRResNet(settings["scale"], settings["num_blocks"], settings["num_features"], rng=rng)


def input_mode(settings: dict) -> str:
    """What the network takes: "ilr" (bicubic-upscaled, SRCNN) or "lr" (the small image, SRResNet)."""
    return "ilr" if settings["model"] == "srcnn" else "lr"


def describe(settings: dict, model: Module | None = None) -> str:
    """A one-line name of the run's network: "SRCNN 9-5-5 Y x3", "SRResNet 16x64 x4", "SRGAN (SRResNet 16x64) x4"."""
    if settings["model"] == "srcnn":
        return f"SRCNN {settings['preset']} {settings['channels'].upper()} x{settings['scale']}"
    if settings["model"] == "srresnet":
        return f"SRResNet {settings['num_blocks']}x{settings['num_features']} x{settings['scale']}"
    blocks = f" (SRResNet {model.config['num_blocks']}x{model.config['num_features']})" if model is not None else ""
    return f"SRGAN{blocks} x{settings['scale']}"


def _resumed_settings(saved: dict, given: dict) -> dict:
    """The saved settings, with the resumable ones overridden; any other change is an error."""
    settings = dict(saved)
    for key, value in given.items():
        if value is None:
            continue
        if key in ("data", "val", "init"):
            value = str(Path(value).resolve())
        if key in RESUMABLE:
            settings[key] = value
        elif settings.get(key) != value:
            raise TrainingError(
                f"--resume keeps the run's settings: --{key.replace('_', '-')} {value} differs from the saved "
                f"{settings.get(key)}; only --steps, --val-every and --checkpoint-every may change"
            )
    checked = check_settings(settings)
    return checked


def _diverged_message(what: str, step: int, checkpoint_path: Path, settings: dict) -> str:
    kept = (f"the last good checkpoint {checkpoint_path} is kept" if checkpoint_path.exists()
            else "no checkpoint had been written yet")
    return (f"{what} at step {step} (learning rate {learning_rate(step - 1, settings):.3g}); "
            f"training stopped and {kept}; try a lower --lr")


class _StopRequest:
    """While active, Ctrl-C (SIGINT) only sets ``requested``: the loop stops between steps.

    A second Ctrl-C raises ``KeyboardInterrupt`` at once. Outside the main thread (where signal
    handlers cannot be installed) nothing changes and Ctrl-C raises as usual.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", disable=not enabled, dynamic_ncols=True,
                smoothing=0.05, mininterval=0.5)


def _timing_report(timing: dict) -> str:
    steps = max(timing["steps"], 1)
    loop = timing["data"] + timing["compute"] + timing["bookkeeping"]
    if loop <= 0:
        return "timing: no steps were run"
    share = 100 * (timing["data"] + timing["bookkeeping"]) / loop
    return (f"time per step: compute (forward, backward, Adam) {1000 * timing['compute'] / steps:.1f} ms, "
            f"data {1000 * timing['data'] / steps:.2f} ms, bookkeeping {1000 * timing['bookkeeping'] / steps:.2f} ms "
            f"(data + bookkeeping {share:.1f}% of the step); validation {timing['validation']:.1f} s and "
            f"checkpoints {timing['checkpoint']:.1f} s in total")


# --------------------------------------------------------------------------- validation


class _Validation:
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
        _drop_caches(model)
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
        _drop_caches(model)
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


def _drop_caches(model) -> None:
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

