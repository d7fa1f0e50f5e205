"""One recipe per network: its settings and their defaults, how to build it, and its training step.

The loop (``loop.py``) knows nothing about SRCNN, SRResNet or SRGAN: it asks the run's recipe.
Adding a network to ``tinysr train`` means writing one ``Recipe`` here and adding it to ``RECIPES``:

    name          what ``tinysr train NAME`` and the checkpoint call it
    defaults      the settings only this network takes, with their defaults (``--num-blocks``, ...)
    scales        the upscaling factors it can be trained for
    input_mode    what the network reads: "ilr" (the bicubic-upscaled image, as SRCNN) or "lr" (the
                  small image; the network upscales itself)
    fill          settings it derives from others before any check (SRGAN's preset sets patch and batch)
    check         the checks only this network needs, after the common ones (raise TrainingError)
    build         a new run's networks: ``(model, discriminator or None)``; ``run.py`` then loads
                  ``--init``'s weights into the model where one is given (``start_from_init``: a fine-tune)
    build_reads_init  True where ``build`` uses ``--init`` itself (SRGAN: it is the generator)
    describe      a one-line name for logs and plots: "SRCNN 9-5-5 Y x3"
    step          one training step, or None for the supervised step of ``loop.py`` (zero_grad,
                  forward, MSE loss, backward, Adam step), which SRCNN and SRResNet share

SRGAN's step is ``tinysr.gan.srgan_step`` (a discriminator step, then a generator step whose
gradient comes back through the discriminator); it starts from a trained SRResNet (``--init``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinysr.gan import srgan_step
from tinysr.models import ESPCN, FSRCNN, PRESETS, SRCNN, Discriminator, SRResNet
from tinysr.nn import Module
from tinysr.train.errors import TrainingError

__all__ = ["RECIPES", "SRCNN_PRESETS", "SRGAN_PRESETS", "Recipe", "load_network", "start_from_init"]

SRCNN_PRESETS = tuple(PRESETS)
#: SRGAN crop size and batch: the paper's, and the set-up of the student presentation tinysr started from
SRGAN_PRESETS: dict[str, dict[str, int]] = {
    "paper": {"patch": 96, "batch_size": 16},
    "seed": {"patch": 128, "batch_size": 1},
}


@dataclass(frozen=True)
class Recipe:
    """How ``tinysr train`` trains one network (the fields are described in this module's docstring)."""

    name: str
    defaults: dict
    scales: tuple[int, ...]
    input_mode: str
    build: Callable[[dict], tuple[Module, Module | None]]
    describe: Callable[[dict, Module | None], str]
    fill: Callable[[dict, dict], dict] = field(default=lambda merged, given: merged)
    check: Callable[[dict], dict] = field(default=lambda merged: merged)
    step: Callable | None = None
    build_reads_init: bool = False


def _seeded(settings: dict, stream: int) -> np.random.Generator:
    """The run's random stream ``stream`` (1: the network's initial weights, 2: the discriminator's)."""
    return np.random.default_rng([settings["seed"], stream])


# --------------------------------------------------------------------------- --init: where a run starts


def load_network(path: str | Path, name: str, scale: int) -> Module:
    """The network ``name`` for ``scale`` saved in ``path`` (a weights.npz, or a checkpoint.npz of ``tinysr train``)."""
    from tinysr.checkpoint import CheckpointError, load_checkpoint, load_weights

    try:
        network, _ = load_weights(path, expected_scale=scale, expected_model=name)
    except CheckpointError as weights_error:
        try:
            saved = load_checkpoint(path)
        except CheckpointError:
            raise TrainingError(f"--init {path}: {weights_error}") from None
        network = saved["model"]
        if network.config.get("name") != name or saved["config"].get("scale") != scale:
            raise TrainingError(f"--init {path} holds a {network.config.get('name')} x{saved['config'].get('scale')} "
                                f"run, not a {name} x{scale}") from None
    return network


def start_from_init(settings: dict, model: Module) -> Module:
    """``model`` with the weights of ``settings["init"]`` (a fine-tune) when one is given, else as built.

    The file must hold the same network (name, scale and every size), so that only where training starts
    differs from a run from scratch.
    """
    if settings["init"] is None:
        return model
    saved = load_network(settings["init"], settings["model"], settings["scale"])
    differ = [key for key in sorted(saved.config.keys() | model.config.keys())
              if saved.config.get(key) != model.config.get(key)]
    if differ:
        saved_sizes, my_sizes = (", ".join(f"{key}={config.get(key)}" for key in differ)
                                 for config in (saved.config, model.config))
        raise TrainingError(f"--init {settings['init']} holds a {settings['model']} with {saved_sizes}, but these "
                            f"settings build {my_sizes}: give the network options of the run that made it")
    model.load_state_dict(saved.state_dict())
    return model


# --------------------------------------------------------------------------- SRCNN


def _check_srcnn(merged: dict) -> dict:
    if merged["preset"] not in SRCNN_PRESETS:
        raise TrainingError(f"unknown preset {merged['preset']!r}; expected one of {', '.join(SRCNN_PRESETS)}")
    return merged


SRCNN_RECIPE = Recipe(
    name="srcnn",
    defaults={
        "preset": "9-5-5",
        "channels": "y",
        "scale": 3,
        "steps": 60_000,
        "batch_size": 32,
        "patch": 33,         # HR patch side; SRCNN's input is the bicubic-upscaled patch of the same size
        "lr": 5e-4,
        "lr_min": 1e-5,
    },
    scales=(2, 3, 4),
    input_mode="ilr",
    check=_check_srcnn,
    build=lambda s: (SRCNN.preset(s["preset"], channels=1 if s["channels"] == "y" else 3, rng=_seeded(s, 1)), None),
    describe=lambda s, model: f"SRCNN {s['preset']} {s['channels'].upper()} x{s['scale']}",
)


# --------------------------------------------------------------------------- FSRCNN and ESPCN


def _lr_patch_for_scale(merged: dict, given: dict) -> dict:
    """Default HR patch: 20 LR pixels times the scale (60 at x3), where the user gave none.

    The networks pad every convolution with zeros, so a patch's pixels near its edges learn from
    zeros that a whole image does not have; FSRCNN sees 6 LR pixels to each side, so on an 11-pixel
    patch (the paper's, which used no padding) every pixel sees some. With 20-pixel patches, and a
    batch of 20 for about the same pixels per step as 64 of 11, FSRCNN x3 scored 31.41 dB on Set5
    after 6,000 steps against 31.32 dB, at 18 ms per step instead of 23 (one thread).
    At x4 that would be 80x80, larger than T91's smallest image (78x78, 76x76 once cropped to a
    multiple of 4): the default is at most 76 HR pixels (19 LR pixels at x4).
    """
    scale = merged["scale"]
    return merged if given.get("patch") is not None else {**merged, "patch": min(20, 76 // scale) * scale}


def _check_y_and_lr_patch(merged: dict) -> dict:
    """FSRCNN and ESPCN: the Y channel, and an HR patch that the scale divides (the LR patch is patch / scale)."""
    if merged["channels"] != "y":
        raise TrainingError(f"{merged['model']} works on the Y channel: --channels must be y, got "
                            f"{merged['channels']!r}")
    if merged["patch"] % merged["scale"]:
        raise TrainingError(f"--patch {merged['patch']} is the HR patch side: it must be a multiple of the scale "
                            f"{merged['scale']} (the LR input patch is patch / scale pixels)")
    return merged


_LOW_RESOLUTION_Y = {
    "channels": "y",
    "scale": 3,
    "steps": 100_000,
    "batch_size": 20,
    "patch": None,       # None: 20 LR pixels times the scale
    "lr": 1e-3,
    "lr_min": 1e-5,
}

FSRCNN_RECIPE = Recipe(
    name="fsrcnn",
    defaults={"num_features": 56, "shrink_features": 12, "mapping_layers": 4, **_LOW_RESOLUTION_Y},
    scales=(2, 3, 4),
    input_mode="lr",
    fill=_lr_patch_for_scale,
    check=_check_y_and_lr_patch,
    build=lambda s: (FSRCNN(s["scale"], s["num_features"], s["shrink_features"], s["mapping_layers"],
                            rng=_seeded(s, 1)), None),
    describe=lambda s, model: (f"FSRCNN ({s['num_features']}, {s['shrink_features']}, {s['mapping_layers']}) "
                               f"x{s['scale']}"),
)

ESPCN_RECIPE = Recipe(
    name="espcn",
    defaults=dict(_LOW_RESOLUTION_Y),
    scales=(2, 3, 4),
    input_mode="lr",
    fill=_lr_patch_for_scale,
    check=_check_y_and_lr_patch,
    build=lambda s: (ESPCN(s["scale"], rng=_seeded(s, 1)), None),
    describe=lambda s, model: f"ESPCN x{s['scale']}",
)


# --------------------------------------------------------------------------- SRResNet


def _check_rgb_and_lr_patch(merged: dict) -> dict:
    """SRResNet and SRGAN: RGB images, and an HR patch that the scale divides (the LR patch is patch / scale)."""
    model = merged["model"]
    if merged["channels"] != "rgb":
        raise TrainingError(f"{model} works on RGB images: --channels must be rgb, got {merged['channels']!r}")
    if merged["patch"] % merged["scale"]:
        raise TrainingError(f"--patch {merged['patch']} is the HR patch side: it must be a multiple of the scale "
                            f"{merged['scale']} (the LR input patch is patch / scale pixels)")
    return merged


SRRESNET_RECIPE = Recipe(
    name="srresnet",
    defaults={
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
    scales=(2, 4),
    input_mode="lr",
    check=_check_rgb_and_lr_patch,
    build=lambda s: (SRResNet(s["scale"], s["num_blocks"], s["num_features"], rng=_seeded(s, 1)), None),
    describe=lambda s, model: f"SRResNet {s['num_blocks']}x{s['num_features']} x{s['scale']}",
)


# --------------------------------------------------------------------------- SRGAN


def _fill_srgan_preset(merged: dict, given: dict) -> dict:
    """The preset's patch and batch size, where the user gave none."""
    if merged["preset"] not in SRGAN_PRESETS:
        raise TrainingError(f"unknown srgan preset {merged['preset']!r}; expected one of {', '.join(SRGAN_PRESETS)}")
    return {**merged, **{key: value for key, value in SRGAN_PRESETS[merged["preset"]].items()
                         if given.get(key) is None}}


def _check_srgan(merged: dict) -> dict:
    if merged["init"] is None:
        raise TrainingError("srgan needs --init: the SRResNet weights.npz or checkpoint.npz to start the "
                            "generator from (train one with: tinysr train srresnet --out RUN_DIR)")
    weight = merged["adversarial_weight"]
    if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise TrainingError(f"--adversarial-weight must be a number >= 0, got {weight!r}")
    if merged["patch"] % 16:
        raise TrainingError(f"srgan: --patch {merged['patch']} must be a multiple of 16 (the discriminator "
                            "halves it four times)")
    return _check_rgb_and_lr_patch(merged)


def _build_srgan(settings: dict) -> tuple[Module, Module]:
    generator = load_network(settings["init"], "srresnet", settings["scale"])
    return generator, Discriminator(settings["patch"], settings["d_features"], rng=_seeded(settings, 2))


def _describe_srgan(settings: dict, model: Module | None) -> str:
    blocks = f" (SRResNet {model.config['num_blocks']}x{model.config['num_features']})" if model is not None else ""
    return f"SRGAN{blocks} x{settings['scale']}"


def _srgan_step(run, inputs, targets) -> dict:
    """One SRGAN iteration (read ``tinysr/gan.py``): raises ``GANStepDiverged`` on a NaN loss."""
    return srgan_step(run.model, run.discriminator, run.optimizer, run.discriminator_optimizer, inputs, targets,
                      adversarial_weight=run.settings["adversarial_weight"], on_update=run.set_updating)


SRGAN_RECIPE = Recipe(
    name="srgan",
    defaults={
        "preset": "paper",   # "paper": 96x96 HR crops, batch 16; "seed": 128x128 crops, batch 1 (SRGAN_PRESETS)
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
    scales=(2, 4),
    input_mode="lr",
    fill=_fill_srgan_preset,
    check=_check_srgan,
    build=_build_srgan,
    describe=_describe_srgan,
    step=_srgan_step,
    build_reads_init=True,
)

#: every network ``tinysr train`` knows, by name
RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (SRCNN_RECIPE, FSRCNN_RECIPE, ESPCN_RECIPE,
                                                                 SRRESNET_RECIPE, SRGAN_RECIPE)}
