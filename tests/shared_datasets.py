"""Where the tests find the real images: ``../shared/datasets`` next to the checkout, or $TINYSR_DATASETS.

They are never copied into the repository. A test that needs them calls ``dataset_dir("Set5")``,
which skips the test with a clear reason when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def datasets_root() -> Path | None:
    """The folder holding Set5, Set14 and BSD68, or None when neither location has it."""
    candidates = [os.environ.get("TINYSR_DATASETS"), Path(__file__).resolve().parents[2] / "shared" / "datasets"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "Set5").is_dir():
            return Path(candidate)
    return None


def dataset_dir(name: str) -> Path:
    """``datasets_root() / name``, or skip the calling test saying where it looked."""
    root = datasets_root()
    if root is None or not (root / name).is_dir():
        pytest.skip(f"dataset {name} not found: set TINYSR_DATASETS or put it in ../shared/datasets")
    return root / name
