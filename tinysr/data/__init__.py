"""Training and evaluation data, in three files to read in this order:

* ``folders.py``: which files of a folder are images, how one is read as the HR image (Y or RGB), and
  how the LR (and bicubic-upscaled ILR) input is made from it with the evaluation protocol's degradation;
* ``patches.py``: ``SRDataset``, random (input, target) training patches from one or more folders;
* ``evaluation.py``: ``load_eval_pairs``, the whole-image pairs an evaluation scores, and
  ``shared_training_folder``, which says when a training folder holds images of an evaluation set.
"""

from tinysr.data.evaluation import CONTAINED_IN, EVALUATION_SETS, load_eval_pairs, shared_training_folder
from tinysr.data.folders import CHANNELS, IMAGE_SUFFIXES, list_images, sample_images_dir
from tinysr.data.patches import FSRCNN_DOWNSCALES, MODES, SRDataset

__all__ = [
    "CHANNELS",
    "CONTAINED_IN",
    "EVALUATION_SETS",
    "FSRCNN_DOWNSCALES",
    "IMAGE_SUFFIXES",
    "MODES",
    "SRDataset",
    "list_images",
    "load_eval_pairs",
    "sample_images_dir",
    "shared_training_folder",
]
