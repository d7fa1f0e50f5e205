"""Training and evaluation data: patches of high-resolution (HR) images and their bicubic-degraded inputs.

Super-resolution learns the inverse of a known degradation. We make the low-resolution (LR) image from
the HR one with the evaluation protocol's own degradation (``tinysr.image.bicubic_degrade``: MATLAB-style
bicubic downscale by ``scale``, rounded to uint8), so that the network trains on exactly the kind of
input it is scored on. Two input kinds::

    mode "lr"   input = LR                                   (h, w) = (H / scale, W / scale)
    mode "ilr"  input = clip(imresize(LR / 255, scale), 0, 1)    (H, W): "interpolated LR", for
                                                                 pre-upsampling networks such as SRCNN

The ILR is bicubic-upsampled in float and clipped to [0, 1] but not rounded (rounding would throw away
information the network can use). ``load_eval_pairs`` builds it the same way, so training and validation
inputs come from one recipe.

Colour (``channels``)::

    "y"    one channel: the MATLAB ``rgb2ycbcr`` Y of the uint8 RGB image, rounded to uint8, then / 255
           (Y lies in [16, 235] / 255). A greyscale file is taken as Y as it is: its grey values are
           used unchanged, not squeezed into the studio range (what MATLAB SR scripts do too).
    "rgb"  three channels, / 255. A greyscale file is repeated into three equal channels.

An alpha channel (RGBA, grey + alpha) is dropped. 16-bit files are rounded to 8 bits
(``to_uint8(to_float(image))``), since the degradation protocol is defined on uint8.

Every image is loaded, converted and degraded once, when the dataset is built; ``SRDataset.batch`` only
slices arrays that are already in memory (5 bytes per HR pixel and channel in mode "ilr", 1 + 1 / scale² in
mode "lr"), so drawing a batch costs far less than a training step.

Shapes: images at the edges are ``(H, W, C)`` uint8; batches are ``(N, C, P, P)`` float32 in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinysr._validation import check_positive_int
from tinysr.image import ImageError, bicubic_degrade, imresize, modcrop, read_image, rgb_to_y, to_float, to_uint8

__all__ = ["IMAGE_SUFFIXES", "SRDataset", "list_images", "load_eval_pairs", "sample_images_dir"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MODES = ("ilr", "lr")
CHANNELS = ("y", "rgb")
_STATE_FORMAT = "tinysr-dataset"
_STATE_VERSION = 1


def sample_images_dir() -> Path:
    """The folder of embedded public-domain / CC0 photos (package data), used when no folder is given.

    ``CREDITS.md`` in that folder names each file's source, author and licence.
    """
    return Path(__file__).resolve().parent / "sample_images"


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside ``folder`` (not in subfolders), sorted by name.

    A file counts as an image if its suffix, in any case, is one of ``IMAGE_SUFFIXES``; hidden files
    (name starting with ".", e.g. macOS "._photo.png") are skipped. Sorting makes the order, and so
    every seeded draw, the same on every file system.

    Raises ``ValueError`` if the folder is missing, is not a folder, or holds no image file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"expected a folder of images, got {folder}, which is not a folder")
    files = sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )
    if not files:
        raise ValueError(
            f"image folder {folder} holds no image files (looked for {' '.join(IMAGE_SUFFIXES)}, "
            f"any case, not in subfolders)"
        )
    return files


def _check_choice(value, choices: tuple[str, ...], *, name: str, where: str) -> str:
    if value not in choices:
        raise ValueError(f"{where}: expected {name} to be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _read_hr(path: Path, channels: str) -> np.ndarray:
    """Read one file as the HR image: ``(H, W, 1)`` uint8 Y for "y", ``(H, W, 3)`` uint8 RGB for "rgb"."""
    try:
        image = read_image(path)
    except ImageError:
        raise
    except (OSError, ValueError) as error:  # read_image should already say ImageError; never let a file slip by
        raise ImageError(f"{path}: cannot read this image ({error})") from error
    if image.dtype == np.uint16:
        image = to_uint8(to_float(image))
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or image.dtype != np.uint8:
        raise ImageError(
            f"{path}: expected an 8- or 16-bit grey, RGB or RGBA image, got an array of shape {image.shape} "
            f"and dtype {image.dtype}"
        )
    if image.shape[2] in (2, 4):  # grey + alpha, RGBA: the alpha channel is not part of the photo
        image = image[:, :, :-1]
    is_grey = image.shape[2] == 1
    if channels == "y":
        if is_grey:
            return np.ascontiguousarray(image)
        y = rgb_to_y(np.ascontiguousarray(image))  # float64 in [0, 255], unrounded
        return np.floor(y + 0.5).astype(np.uint8)[:, :, None]  # MATLAB rounds half away from zero
    if is_grey:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


def _degrade(hr: np.ndarray, scale: int, *, round_lr: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lr, ilr, lr_float)`` of a modcropped HR image ``(H, W, C)`` uint8.

    ``lr = bicubic_degrade(hr, scale)`` is ``(H / scale, W / scale, C)`` uint8; ``ilr`` is the bicubic
    upscale of the LR back to ``(H, W, C)``, float32 clipped to [0, 1]. With ``round_lr`` (training) the
    upscale starts from the uint8 LR, as a real low-resolution file would be; without it (evaluation)
    from the unrounded float LR, which is the protocol of the published tables (``tinysr.image``).
    ``lr_float`` is that unrounded LR, float32 clipped to [0, 1]: what the protocol feeds networks that
    read the LR image itself (FSRCNN, ESPCN).
    """
    lr_float = bicubic_degrade(hr, scale, round_to_uint8=False)
    lr = to_uint8(lr_float).reshape(hr.shape[0] // scale, hr.shape[1] // scale, hr.shape[2])
    ilr = imresize(to_float(lr) if round_lr else lr_float, scale=scale)
    ilr = np.clip(ilr, 0.0, 1.0).astype(np.float32, copy=False).reshape(hr.shape)
    return lr, ilr, np.clip(lr_float, 0.0, 1.0).astype(np.float32, copy=False).reshape(lr.shape)


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
    min_images=1)``

    * ``folder``: any folder of images (see ``list_images``), or a list of folders whose images are
      pooled (T91 and BSD200 together are the standard 291-image set); ``None`` uses the embedded
      sample photos.
    * ``scale``: the upscaling factor (int >= 2). Every image is first cropped to a multiple of it.
    * ``patch_size``: the side P of the HR (target) patch. The input patch is P x P in mode "ilr" and
      P/scale x P/scale in mode "lr" (P must then be a multiple of scale).
    * ``mode``, ``channels``: see the module docstring.
    * ``seed``: seeds the one ``numpy.random.Generator`` behind every draw; ``state_dict`` captures it.
    * ``augment``: apply one of the 8 flips/rotations of the square to each patch pair.
    * ``min_images``: fewer images than this in the folder is an error.

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
        }

        # Targets are kept as uint8 (C, H, W) and divided by 255 per batch: a quarter of the memory of
        # float32. Inputs are uint8 LR in mode "lr" and float32 ILR in mode "ilr" (unrounded, see above).
        self._targets: list[np.ndarray] = []
        self._inputs: list[np.ndarray] = []
        for path in self.files:
            hr = self._load_checked(path, channel_name)
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

    def _load_checked(self, path: Path, channel_name: str) -> np.ndarray:
        hr = _read_hr(path, channel_name)
        height, width = hr.shape[:2]
        hr = modcrop(hr, self.scale)
        if min(hr.shape[:2]) < self.patch_size:
            cropped = "" if hr.shape[:2] == (height, width) else (
                f" ({hr.shape[0]}x{hr.shape[1]} once cropped to a multiple of scale {self.scale})"
            )
            raise ValueError(
                f"{path}: image is {height}x{width} pixels (height x width){cropped}, smaller than the "
                f"{self.patch_size}x{self.patch_size} patch: use a smaller patch_size or remove this image"
            )
        return hr

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


def _as_list(folder) -> list:
    """``folder`` as a list of folders: a list or tuple as it is, anything else as a list of one."""
    return list(folder) if isinstance(folder, (list, tuple)) else [folder]


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

    Colour handling is ``SRDataset``'s (module docstring). Raises ``ValueError`` naming the folder or
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
