"""Super-resolution networks built from ``tinysr.nn`` layers.

``build_model(config)`` rebuilds a network from the ``config`` dict every model carries
(``model.config``); that dict is what weight files store next to the arrays.
"""

from __future__ import annotations

import numpy as np

from tinysr.models.discriminator import Discriminator
from tinysr.models.espcn import ESPCN
from tinysr.models.fsrcnn import FSRCNN
from tinysr.models.srcnn import PRESETS, SRCNN
from tinysr.models.srresnet import SRResNet
from tinysr.nn import Module

__all__ = ["ESPCN", "FSRCNN", "MODELS", "PRESETS", "SRCNN", "Discriminator", "SRResNet", "build_model"]

#: model name (``config["name"]``) -> class
MODELS = {"srcnn": SRCNN, "fsrcnn": FSRCNN, "espcn": ESPCN, "srresnet": SRResNet, "discriminator": Discriminator}


def build_model(config: dict, *, dtype=np.float32, rng: int | np.random.Generator | None = None) -> Module:
    """A fresh network from ``config`` (``{"name": "srcnn", "channels": 1, "n1": 64, ...}``)."""
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"build_model: expected a dict with a 'name' key, got {config!r}")
    name = config["name"]
    if name not in MODELS:
        raise ValueError(f"build_model: unknown model {name!r}, expected one of {', '.join(MODELS)}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    try:
        return MODELS[name](**arguments, dtype=dtype, rng=rng)
    except TypeError as error:  # an unknown or missing key
        raise ValueError(f"build_model: config {config!r} does not fit {MODELS[name].__name__}: {error}") from None
