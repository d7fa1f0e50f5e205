"""Training settings: the defaults, their checks, and the learning-rate schedule.

A run's settings are one flat dict (the command line's options, ``--batch-size`` as
``"batch_size"``). ``check_settings`` merges what the user gave with the network's defaults
(its recipe's) and checks every value, so that a bad setting is one clear ``TrainingError``
before any file is touched. The checked dict is saved in the checkpoint; ``--resume`` reads it
back and lets only ``RESUMABLE`` settings change.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tinysr.train.errors import TrainingError
from tinysr.train.recipes import RECIPES

__all__ = [
    "COMMON_DEFAULTS",
    "DEFAULTS",
    "MODEL_DEFAULTS",
    "RESUMABLE",
    "SCALES",
    "SCHEDULES",
    "SETTINGS",
    "check_settings",
    "defaults",
    "known_settings",
    "learning_rate",
    "resumed_settings",
]

#: settings shared by every model, and their defaults
COMMON_DEFAULTS: dict = {
    "model": "srcnn",
    "data": None,            # None: the images embedded in the package
    "val": None,             # None: no validation
    "schedule": "cosine",
    "init": None,            # a weights.npz or checkpoint.npz to start the network from (SRGAN: required)
    "scale_augment": False,  # True: every image also shrunk by tinysr.data.FSRCNN_DOWNSCALES (FSRCNN's augmentation)
    "seed": 0,
    "val_every": 1000,
    "checkpoint_every": 1000,
}


def known_settings() -> tuple[str, ...]:
    """Every setting any network takes: the common ones, then each recipe's own (the CLI offers them all)."""
    return tuple(dict.fromkeys([*COMMON_DEFAULTS, *(key for recipe in RECIPES.values() for key in recipe.defaults)]))


#: each model's own settings and defaults (its recipe's); a setting of another model is an error
MODEL_DEFAULTS: dict[str, dict] = {name: recipe.defaults for name, recipe in RECIPES.items()}
#: every training setting, with SRCNN's defaults (``defaults(model)`` gives another model's)
DEFAULTS: dict = {**COMMON_DEFAULTS, **MODEL_DEFAULTS["srcnn"]}
#: every setting the built-in networks take (the command line offers all of them)
SETTINGS: tuple[str, ...] = known_settings()
#: settings that may change when a run is resumed (they do not change what the run computes)
RESUMABLE = ("steps", "val_every", "checkpoint_every")
SCALES = (2, 3, 4)
SCHEDULES = ("cosine", "constant")
_POSITIVE_INTEGERS = ("steps", "batch_size", "patch", "val_every", "checkpoint_every", "num_blocks", "num_features",
                      "d_features", "shrink_features", "mapping_layers")


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
    """Every setting of ``model`` ("srcnn", "srresnet", "srgan" or any name in ``RECIPES``) with its default."""
    return {**COMMON_DEFAULTS, "model": model, **RECIPES[model].defaults}


def check_settings(settings: dict) -> dict:
    """``defaults(settings["model"])`` updated with ``settings``, each value checked; raises ``TrainingError``."""
    known = known_settings()
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TrainingError(f"unknown training settings {unknown}; known: {sorted(known)}")
    model = settings.get("model") or COMMON_DEFAULTS["model"]
    if model not in RECIPES:
        raise TrainingError(f"unknown model {model!r}; tinysr trains: {', '.join(RECIPES)}")
    recipe = RECIPES[model]
    given = {key: value for key, value in settings.items() if value is not None}
    foreign = sorted(set(given) - set(defaults(model)))
    if foreign:
        raise TrainingError(f"{', '.join('--' + key.replace('_', '-') for key in foreign)} does not apply to "
                            f"{model}; its settings are {', '.join(sorted(defaults(model)))}")
    merged = recipe.fill({**defaults(model), **given}, given)
    if merged["scale"] not in recipe.scales:
        raise TrainingError(f"unsupported scale {merged['scale']!r} for {model}; expected one of "
                            f"{', '.join(map(str, recipe.scales))}")
    _check_choices(merged)
    _check_numbers(merged)
    if not isinstance(merged["scale_augment"], (bool, np.bool_)):
        raise TrainingError(f"scale_augment must be True or False, got {merged['scale_augment']!r}")
    if merged["init"] is not None:
        if not Path(merged["init"]).is_file():
            raise TrainingError(f"--init file {merged['init']} does not exist")
        merged["init"] = str(Path(merged["init"]).resolve())
    merged = recipe.check(merged)
    merged["data"] = _checked_folders("data", merged["data"])
    merged["val"] = _checked_folders("val", merged["val"])
    return merged


def _checked_folders(key: str, value):
    """None, one folder (a resolved str) or, for --data only, several (a list of resolved str)."""
    if value is None:
        return None
    folders = list(value) if isinstance(value, (list, tuple)) else [value]
    if not folders or (key != "data" and len(folders) > 1):
        raise TrainingError(f"--{key} takes {'one or more folders' if key == 'data' else 'one folder'}, got {value!r}")
    resolved = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise TrainingError(f"--{key} folder {folder} does not exist or is not a folder")
        resolved.append(str(folder.resolve()))
    return resolved[0] if len(resolved) == 1 else resolved


def _check_choices(merged: dict) -> None:
    if merged["channels"] not in ("y", "rgb"):
        raise TrainingError(f"--channels must be 'y' or 'rgb', got {merged['channels']!r}")
    if merged["schedule"] not in SCHEDULES:
        raise TrainingError(f"unknown schedule {merged['schedule']!r}; expected one of {', '.join(SCHEDULES)}")


def _check_numbers(merged: dict) -> None:
    for key in _POSITIVE_INTEGERS:
        value = merged.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise TrainingError(f"--{key.replace('_', '-')} must be a positive integer, got {value!r}")
    for key in ("lr", "lr_min"):
        value = merged[key]
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise TrainingError(f"--{key.replace('_', '-')} must be a positive number, got {value!r}")
    if merged["lr_min"] > merged["lr"]:
        raise TrainingError(f"--lr-min ({merged['lr_min']}) must not exceed --lr ({merged['lr']})")
    if not isinstance(merged["seed"], (int, np.integer)) or merged["seed"] < 0:
        raise TrainingError(f"--seed must be a non-negative integer, got {merged['seed']!r}")


def _resolved(value):
    """A folder or file given on the command line, resolved; several (--data) as a list, one as a str."""
    values = [str(Path(v).resolve()) for v in (value if isinstance(value, (list, tuple)) else [value])]
    return values[0] if len(values) == 1 else values


def resumed_settings(saved: dict, given: dict) -> dict:
    """The saved settings, with the resumable ones overridden; any other change is an error."""
    settings = dict(saved)
    for key, value in given.items():
        if value is None:
            continue
        if key in ("data", "val", "init"):
            value = _resolved(value)
        if key in RESUMABLE:
            settings[key] = value
        elif settings.get(key) != value:
            raise TrainingError(
                f"--resume keeps the run's settings: --{key.replace('_', '-')} {value} differs from the saved "
                f"{settings.get(key)}; only --steps, --val-every and --checkpoint-every may change"
            )
    return check_settings(settings)
