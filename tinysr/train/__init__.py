"""Training super-resolution networks: ``tinysr train srcnn|srresnet|srgan ...`` runs :func:`train`.

Read the files in this order:

* ``loop.py``: :func:`train`, the loop, and the supervised step (zero_grad, forward, loss,
  backward, step) that SRCNN and SRResNet take;
* ``recipes.py``: one recipe per network: its settings and defaults, how to build it, its step
  (SRGAN's is ``tinysr.gan.srgan_step``);
* ``settings.py``: the settings shared by every network, their checks, the learning-rate schedule;
* ``run.py``: what a run holds and how it is saved in its folder and resumed;
* ``report.py``: validation, sample grids, curves and timing;
* ``errors.py``: how a run ends early.
"""

from tinysr.train.errors import TrainingDiverged, TrainingError, TrainingInterrupted
from tinysr.train.loop import supervised_step, train
from tinysr.train.recipes import RECIPES, SRCNN_PRESETS, SRGAN_PRESETS, Recipe, load_network
from tinysr.train.report import write_curves
from tinysr.train.settings import (
    COMMON_DEFAULTS,
    DEFAULTS,
    MODEL_DEFAULTS,
    RESUMABLE,
    SCALES,
    SCHEDULES,
    SETTINGS,
    check_settings,
    defaults,
    learning_rate,
)

__all__ = [
    "COMMON_DEFAULTS",
    "DEFAULTS",
    "MODEL_DEFAULTS",
    "RECIPES",
    "RESUMABLE",
    "SCALES",
    "SCHEDULES",
    "SETTINGS",
    "SRCNN_PRESETS",
    "SRGAN_PRESETS",
    "Recipe",
    "TrainingDiverged",
    "TrainingError",
    "TrainingInterrupted",
    "check_settings",
    "defaults",
    "learning_rate",
    "load_network",
    "supervised_step",
    "train",
    "write_curves",
]
