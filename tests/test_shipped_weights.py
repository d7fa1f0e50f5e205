"""The pretrained SRCNN weights in the package: present, trained on BSD68, and as good as README says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_datasets import dataset_dir

from tinysr.checkpoint import load_weights
from tinysr.evaluate import evaluate
from tinysr.upscale import shipped_weights_path

SCALES = (2, 3, 4)


@pytest.mark.parametrize("scale", SCALES)
def test_shipped_weights_load_and_were_trained_on_bsd68(scale):
    path = shipped_weights_path("srcnn", scale)
    assert path.is_file(), f"no shipped SRCNN weights for x{scale}"
    model, meta = load_weights(path, expected_scale=scale, expected_model="srcnn")
    assert model.config == {"name": "srcnn", "channels": 1, "n1": 64, "n2": 32, "f1": 9, "f2": 5, "f3": 5}
    assert Path(meta["training"]["data"]).name == "BSD68"  # never Set5 or Set14
    assert Path(meta["training"]["val"]).name == "sample_images"


@pytest.mark.parametrize("scale", SCALES)
def test_shipped_weights_beat_bicubic_on_set5(scale):
    report = evaluate(dataset_dir("Set5"), scale, ["bicubic", "srcnn"])
    bicubic, srcnn = (np.mean(report["results"][m]["psnr"]) for m in ("bicubic", "srcnn"))
    assert srcnn > bicubic + 1.0
    if scale == 3:
        assert srcnn >= 32.3  # the target for the shipped x3 model
