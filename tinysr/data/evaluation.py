"""Evaluation data: the pairs an evaluation scores (``load_eval_pairs``), and which training folders
overlap which evaluation sets (``shared_training_folder``).

The pairs follow the protocol of the published tables (``tinysr.image``): the LR is the unrounded bicubic
downscale, made by the same recipe as the training inputs (``folders.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinysr._validation import check_positive_int
from tinysr.data.folders import CHANNELS, _as_list, _check_choice, _degrade, _read_hr, list_images
from tinysr.image import modcrop

__all__ = ["CONTAINED_IN", "EVALUATION_SETS", "load_eval_pairs", "shared_training_folder"]

#: the evaluation sets (folder names, any case), and the training sets known to hold some of their images:
#: BSD68 is 68 of the 100 images of B100 (both come from the BSDS300 test split)
EVALUATION_SETS = ("set5", "set14", "b100")
CONTAINED_IN = {"b100": ("bsd68", "bsd100"), "bsd100": ("bsd68", "b100")}


def shared_training_folder(training_folders, folder) -> str | None:
    """The first of ``training_folders`` that holds images of ``folder`` (the same folder, the same
    dataset name, or a dataset known to be part of it, as BSD68 of B100), or None.

    Scores measured on images a network was trained on say nothing about how it does on new images.
    """
    name, place = Path(folder).name.lower(), Path(folder).resolve()
    for training in _as_list(training_folders):
        if training is None:
            continue
        training_name = Path(training).name.lower()
        if Path(training).resolve() == place or training_name == name or training_name in CONTAINED_IN.get(name, ()):
            return str(training)
    return None



def load_eval_pairs(folder: str | os.PathLike, scale: int, channels: str = "y") -> list[dict]:
    """Every image of ``folder`` as an evaluation pair, in file-name order (see ``list_images``).

    Each item is a dict::

        "name"  the file name without suffix, e.g. "baby"
        "path"  the file's Path
        "hr"    (H, W, C) uint8, cropped to a multiple of ``scale`` (C = 1 for "y", 3 for "rgb")
        "lr"    (H / scale, W / scale, C) uint8: ``bicubic_degrade(hr, scale)``
        "ilr"   float32 in [0, 1]: the bicubic upscale of the unrounded LR (the published protocol,
                see ``tinysr.image``), clipped, not rounded; (H, W) for "y", (H, W, 3) for "rgb"
        "lr_float"  float32 in [0, 1]: the unrounded LR itself, clipped; (h, w) for "y", (h, w, 3) for
                "rgb" (what FSRCNN and ESPCN read under the protocol)

    Colour handling is ``folders.py``'s (its module docstring). Raises ``ValueError`` naming the folder or
    file for a missing/empty folder or an image smaller than ``scale``, ``ImageError`` for an unreadable
    file.
    """
    where = "load_eval_pairs"
    scale = check_positive_int(scale, name="scale", layer=where, minimum=2)
    _check_choice(channels, CHANNELS, name="channels", where=where)
    pairs = []
    for path in list_images(folder):
        hr = _read_hr(path, channels)
        if min(hr.shape[:2]) < scale:
            raise ValueError(
                f"{path}: image is {hr.shape[0]}x{hr.shape[1]} pixels (height x width), "
                f"smaller than the scale {scale}"
            )
        hr = np.ascontiguousarray(modcrop(hr, scale))
        lr, ilr, lr_float = _degrade(hr, scale, round_lr=False)
        if channels == "y":
            ilr, lr_float = ilr[:, :, 0], lr_float[:, :, 0]
        pairs.append({"name": path.stem, "path": path, "hr": hr, "lr": lr, "ilr": ilr, "lr_float": lr_float})
    return pairs
