"""``SRDataset``: random training patches (HR target, LR or ILR input) cut from folders of images.

How an image becomes an (input, target) pair, and the colour choices, are in ``folders.py``.
Every image is loaded, converted and degraded once, when the dataset is built; ``SRDataset.batch`` only
slices arrays that are already in memory (5 bytes per HR pixel and channel in mode "ilr", 1 + 1 / scale² in
mode "lr"), so drawing a batch costs far less than a training step.

Shapes: batches are ``(N, C, P, P)`` float32 in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinysr._validation import check_positive_int
from tinysr.data.folders import CHANNELS, _as_list, _check_choice, _degrade, _read_hr, list_images, sample_images_dir
from tinysr.image import imresize, modcrop, to_float, to_uint8

__all__ = ["FSRCNN_DOWNSCALES", "MODES", "SRDataset"]

MODES = ("ilr", "lr")
#: FSRCNN's scale augmentation (Dong, Loy and Tang, 2016, section 4.1): each image also at 0.9, 0.8, 0.7, 0.6
FSRCNN_DOWNSCALES = (0.9, 0.8, 0.7, 0.6)
_STATE_FORMAT = "tinysr-dataset"
_STATE_VERSION = 1


def _dihedral(patch: np.ndarray, k: int) -> np.ndarray:
    """A view of ``patch`` (C, P, P) under the k-th of the 8 symmetries of the square (0 <= k < 8).

    k % 4 is the number of counter-clockwise quarter turns (``np.rot90`` on the last two axes) and
    k >= 4 adds a left-right flip afterwards. Written as transposes and reversed slices, which cost a
    few hundred nanoseconds, where ``np.rot90`` costs microseconds.
    """
    turns = k % 4
    if turns == 1:
        patch = patch.transpose(0, 2, 1)[:, ::-1, :]
    elif turns == 2:
        patch = patch[:, ::-1, ::-1]
    elif turns == 3:
        patch = patch.transpose(0, 2, 1)[:, :, ::-1]
    if k >= 4:
        patch = patch[:, :, ::-1]
    return patch


class SRDataset:
    """Random training patches from a folder of images: ``(inputs, targets)`` batches, NCHW float32 in [0, 1].

    ``SRDataset(folder=None, *, scale, patch_size, mode="ilr", channels="y", seed=0, augment=True,
    min_images=1, downscales=())``

    * ``folder``: any folder of images (see ``list_images``), or a list of folders whose images are
      pooled (T91 and BSD200 together are the standard 291-image set); ``None`` uses the embedded
      sample photos.
    * ``scale``: the upscaling factor (int >= 2). Every image is first cropped to a multiple of it.
    * ``patch_size``: the side P of the HR (target) patch. The input patch is P x P in mode "ilr" and
      P/scale x P/scale in mode "lr" (P must then be a multiple of scale).
    * ``mode``, ``channels``: see the module docstring of ``folders.py``.
    * ``seed``: seeds the one ``numpy.random.Generator`` behind every draw; ``state_dict`` captures it.
    * ``augment``: apply one of the 8 flips/rotations of the square to each patch pair.
    * ``min_images``: fewer images than this in the folder is an error.
    * ``downscales``: factors in (0, 1) at which every image is also used, shrunk with MATLAB's bicubic
      (``tinysr.image.imresize``) before it is cropped and degraded: more HR images, with finer detail per
      pixel. ``FSRCNN_DOWNSCALES`` is FSRCNN's augmentation (4 more copies of each image). A copy smaller
      than the patch is left out.

    A batch draws each patch uniformly over every valid crop position of every image, so a large image
    contributes more patches than a small one (as when a paper cuts all images into patches with a fixed
    stride). In mode "lr" the HR crop starts on a multiple of ``scale``, so that input and target cover
    exactly the same area. Flips and rotations act on the input and target patch alike.

    Attributes: ``num_images``, ``channels`` (1 or 3), ``scale``, ``patch_size``, ``input_size``
    (side of the input patch), ``mode``, ``files`` (the image paths, sorted), ``config`` (a dict of
    the constructor arguments).

    Raises ``ValueError`` naming the folder or file when the folder is missing or empty, holds fewer
    than ``min_images`` images, or an image is smaller than the patch; ``tinysr.image.ImageError`` (a
    ``ValueError``) for a file that cannot be read; ``ValueError``/``TypeError`` for bad arguments.
    """

    def __init__(
        self,
        folder: str | os.PathLike | list | tuple | None = None,
        *,
        scale: int,
        patch_size: int,
        mode: str = "ilr",
        channels: str = "y",
        seed: int = 0,
        augment: bool = True,
        min_images: int = 1,
        downscales: tuple[float, ...] = (),
    ) -> None:
        where = "SRDataset"
        self.scale = check_positive_int(scale, name="scale", layer=where, minimum=2)
        self.patch_size = check_positive_int(patch_size, name="patch_size", layer=where)
        self.mode = _check_choice(mode, MODES, name="mode", where=where)
        channel_name = _check_choice(channels, CHANNELS, name="channels", where=where)
        seed = check_positive_int(seed, name="seed", layer=where, minimum=0)
        min_images = check_positive_int(min_images, name="min_images", layer=where)
        if not isinstance(augment, (bool, np.bool_)):
            raise TypeError(f"{where}: expected augment to be True or False, got {augment!r}")
        try:
            factors = tuple(float(f) for f in downscales)
        except (TypeError, ValueError):
            factors = None
        if factors is None or not all(0 < f < 1 for f in factors):
            raise ValueError(f"{where}: expected downscales to be a sequence of factors between 0 and 1 "
                             f"(exclusive), got {downscales!r}")
        downscales = factors
        if self.mode == "lr" and self.patch_size % self.scale != 0:
            raise ValueError(
                f"{where}: in mode 'lr' patch_size must be a multiple of scale {self.scale} so that the LR "
                f"patch has a whole number of pixels, got patch_size {self.patch_size}"
            )
        folders = [sample_images_dir()] if folder is None else [Path(f) for f in _as_list(folder)]
        if not folders:
            raise ValueError(f"{where}: expected a folder of images or a list of folders, got an empty list")
        self.files = [path for one in folders for path in list_images(one)]
        folder = folders[0] if len(folders) == 1 else ", ".join(map(str, folders))
        if len(self.files) < min_images:
            raise ValueError(
                f"{where}: image folder {folder} holds {len(self.files)} image(s), "
                f"expected at least min_images={min_images}"
            )
        self.augment = bool(augment)
        self.channels = 1 if channel_name == "y" else 3
        self.input_size = self.patch_size if self.mode == "ilr" else self.patch_size // self.scale
        self.config = {
            "folder": str(folders[0]) if len(folders) == 1 else [str(f) for f in folders],
            "scale": self.scale,
            "patch_size": self.patch_size,
            "mode": self.mode,
            "channels": channel_name,
            "seed": seed,
            "augment": self.augment,
            "downscales": list(downscales),
        }

        # Targets are kept as uint8 (C, H, W) and divided by 255 per batch: a quarter of the memory of
        # float32. Inputs are uint8 LR in mode "lr" and float32 ILR in mode "ilr" (unrounded, see ``folders.py``).
        self._targets: list[np.ndarray] = []
        self._inputs: list[np.ndarray] = []
        for path in self.files:
            for hr in self._load_checked(path, channel_name, downscales):
                lr, ilr, _ = _degrade(hr, self.scale)
                self._targets.append(np.ascontiguousarray(hr.transpose(2, 0, 1)))
                self._inputs.append(np.ascontiguousarray((ilr if self.mode == "ilr" else lr).transpose(2, 0, 1)))
        self.num_images = len(self.files)

        # Crop positions are counted on the input's pixel grid (the LR grid in mode "lr"): image j has
        # rows[j] * cols[j] of them, and position t of the whole dataset lies in image j where
        # first[j] <= t < first[j + 1].
        side = self.input_size
        self._rows = np.array([x.shape[1] - side + 1 for x in self._inputs], dtype=np.int64)
        self._cols = np.array([x.shape[2] - side + 1 for x in self._inputs], dtype=np.int64)
        counts = self._rows * self._cols
        self._first = np.concatenate([[0], np.cumsum(counts)])
        self._rng = np.random.default_rng(seed)

    def _load_checked(self, path: Path, channel_name: str, downscales: tuple[float, ...]) -> list[np.ndarray]:
        """The HR image of ``path``, then its copies shrunk by ``downscales`` that still hold a patch."""
        original = _read_hr(path, channel_name)
        height, width = original.shape[:2]
        hr = modcrop(original, self.scale)
        if min(hr.shape[:2]) < self.patch_size:
            cropped = "" if hr.shape[:2] == (height, width) else (
                f" ({hr.shape[0]}x{hr.shape[1]} once cropped to a multiple of scale {self.scale})"
            )
            raise ValueError(
                f"{path}: image is {height}x{width} pixels (height x width){cropped}, smaller than the "
                f"{self.patch_size}x{self.patch_size} patch: use a smaller patch_size or remove this image"
            )
        copies = [modcrop(to_uint8(imresize(to_float(original), scale=f)), self.scale) for f in downscales]
        return [hr, *(copy for copy in copies if min(copy.shape[:2]) >= self.patch_size)]

    def batch(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``batch_size`` random patch pairs: ``inputs (N, C, p, p)``, ``targets (N, C, P, P)``.

        ``p = P`` in mode "ilr" and ``P / scale`` in mode "lr"; both float32 in [0, 1], freshly allocated.
        """
        n = check_positive_int(batch_size, name="batch_size", layer="SRDataset.batch")
        rng = self._rng
        position = rng.integers(0, self._first[-1], size=n)
        image = np.searchsorted(self._first, position, side="right") - 1
        row, col = np.divmod(position - self._first[image], self._cols[image])
        symmetry = rng.integers(0, 8, size=n) if self.augment else np.zeros(n, dtype=np.int64)

        side, big, step = self.input_size, self.patch_size, self.patch_size // self.input_size
        inputs = np.empty((n, self.channels, side, side), dtype=np.float32)
        targets = np.empty((n, self.channels, big, big), dtype=np.float32)
        # Python ints make the slicing below several times faster than numpy integer scalars.
        for i, (j, y, x, k) in enumerate(zip(image.tolist(), row.tolist(), col.tolist(), symmetry.tolist())):
            inputs[i] = _dihedral(self._inputs[j][:, y : y + side, x : x + side], k)
            ty, tx = y * step, x * step
            targets[i] = _dihedral(self._targets[j][:, ty : ty + big, tx : tx + big], k)
        targets /= 255
        if self.mode == "lr":
            inputs /= 255
        return inputs, targets

    def state_dict(self) -> dict:
        """The random generator's state (plus the settings it belongs to), for a bit-exact resume.

        A plain dict of str/int/bool values, JSON-serialisable. After ``load_state_dict(state)`` on a
        dataset built with the same settings, ``batch`` returns what this one would have returned next.
        """
        config = {key: value for key, value in self.config.items() if key not in ("folder", "seed")}
        config["num_images"] = self.num_images
        return {
            "format": _STATE_FORMAT,
            "version": _STATE_VERSION,
            "config": config,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore the random generator from ``state_dict()``; the settings must match this dataset's.

        The folder and the seed are not compared (the folder may have moved; the saved state supersedes
        the seed). Raises ``ValueError`` naming what differs, or what is malformed.
        """
        where = "SRDataset.load_state_dict"
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise ValueError(f"{where}: expected a dict from SRDataset.state_dict(), got {type(state).__name__}")
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"{where}: expected state version {_STATE_VERSION}, got {state.get('version')!r}")
        mine = self.state_dict()
        saved_config = state.get("config")
        if not isinstance(saved_config, dict):
            raise ValueError(f"{where}: expected a 'config' dict in the state, got {saved_config!r}")
        saved_config = {"downscales": [], **saved_config}  # states saved before downscales existed had none
        differ = [
            f"{key} {saved_config.get(key)!r} (saved) vs {value!r} (this dataset)"
            for key, value in mine["config"].items()
            if saved_config.get(key) != value
        ]
        if differ:
            raise ValueError(f"{where}: the state belongs to a dataset with other settings: {'; '.join(differ)}")
        rng_state = state.get("rng")
        expected = mine["rng"]["bit_generator"]
        if not isinstance(rng_state, dict) or rng_state.get("bit_generator") != expected:
            raise ValueError(f"{where}: expected an 'rng' state of a {expected} generator, got {rng_state!r}")
        try:
            self._rng.bit_generator.state = rng_state
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"{where}: the saved 'rng' state is malformed ({error})") from error
