"""Saving and loading networks (weights files) and whole training runs (checkpoints).

Both are NumPy ``.npz`` archives: the arrays under their own names, plus one entry
``__meta__`` holding a JSON document (a 0-d unicode array, so no pickle is ever needed:
files are read with ``allow_pickle=False`` and cannot run code).

* A **weights file** (``save_weights`` / ``load_weights``) is what ``tinysr upscale --weights``
  reads and what the package ships: the model's ``state_dict`` and ::

      {"format": "tinysr-weights", "version": 1, "model": model.config, "scale": 3, ...extra}

* A **checkpoint** (``save_checkpoint`` / ``load_checkpoint``) is everything a training run needs
  to continue bit for bit: weights, optimizer state, step, the dataset's RNG state, the training
  settings and the loss/validation history.

A weights file may also be a **safetensors** file (``tinysr export --format safetensors``): the
same arrays under the same names (those of the PyTorch twin's ``state_dict``), and the same JSON
document in the header's metadata under the key ``tinysr``. ``load_weights`` reads either.

Every file is written atomically: to a temporary file in the same directory, flushed to disk,
then renamed over the target with ``os.replace``. A crash (or a full disk) at any moment leaves
either the old file or the new one, never half a file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from tinysr._files import atomic_write
from tinysr.models import MODELS, build_model
from tinysr.nn import Module

__all__ = [
    "CheckpointError",
    "load_checkpoint",
    "load_weights",
    "save_checkpoint",
    "save_safetensors",
    "save_weights",
]

WEIGHTS_FORMAT = "tinysr-weights"
CHECKPOINT_FORMAT = "tinysr-checkpoint"
VERSION = 1
_META = "__meta__"


class CheckpointError(ValueError):
    """A weights file or checkpoint that is missing, corrupt, or does not fit what was asked."""


# --------------------------------------------------------------------------- atomic writing


def _write_npz(path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    entries = dict(arrays)
    entries[_META] = np.array(json.dumps(meta))
    atomic_write(path, lambda file: np.savez(file, **entries))


def _read_npz(path, kind: str) -> tuple[dict[str, np.ndarray], dict]:
    """All arrays and the parsed meta of an archive, with one clear error for every way it can be bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{kind} file {path} does not exist")
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"{path} is not a tinysr {kind} file (expected a NumPy .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as error:
        raise CheckpointError(f"{kind} file {path} is corrupt or truncated ({error})") from None
    if _META not in arrays:
        raise CheckpointError(f"{path} is not a tinysr {kind} file (it has no '{_META}' entry)")
    try:
        meta = json.loads(str(arrays.pop(_META)))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{kind} file {path} is corrupt: its metadata is not valid JSON ({error})") from None
    return arrays, meta


def _is_safetensors(path: Path) -> bool:
    """A safetensors file starts with its header's length (8 bytes, little-endian), then the JSON header."""
    with open(path, "rb") as file:
        start = file.read(9)
    return len(start) == 9 and start[8:9] == b"{" and int.from_bytes(start[:8], "little") < 100_000_000


def _read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError:
        raise CheckpointError(f"{path} is a safetensors file; reading it needs pip install 'tinysr[export]'") from None
    try:
        with safe_open(str(path), framework="numpy") as file:
            header = file.metadata() or {}
            arrays = {name: file.get_tensor(name) for name in file.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"weights file {path} is corrupt or truncated ({error})") from None
    if "tinysr" not in header:
        raise CheckpointError(f"{path} is a safetensors file without tinysr's metadata (not exported by tinysr)")
    try:
        return arrays, json.loads(header["tinysr"])
    except json.JSONDecodeError as error:
        raise CheckpointError(f"weights file {path} is corrupt: its metadata is not valid JSON ({error})") from None


def save_safetensors(path: str | os.PathLike, model: Module, meta: dict) -> None:
    """Write ``model``'s ``state_dict`` as a safetensors file with ``meta`` (a weights file's JSON), atomically."""
    from safetensors.numpy import save

    data = save({name: array.copy(order="C") for name, array in model.state_dict().items()},  # 0-d stays 0-d
                metadata={"tinysr": json.dumps(meta)})
    atomic_write(path, lambda file: file.write(data))


def _check_format(path, meta: dict, expected: str, kind: str) -> None:
    if not isinstance(meta, dict) or meta.get("format") != expected:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path} is not a tinysr {kind} file (format {found!r}, expected {expected!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path} is a version {meta.get('version')!r} {kind} file; this tinysr reads version {VERSION}"
        )


def _model_from(path, config, state: dict[str, np.ndarray], kind: str) -> Module:
    """Build the network ``config`` describes and load ``state`` into it, or explain why not."""
    try:
        model = build_model(config)
        model.load_state_dict(state)
    except (KeyError, ValueError, TypeError) as error:
        message = error.args[0] if error.args else error
        raise CheckpointError(f"{kind} file {path} is corrupt: its arrays do not fit its model config ({message})") \
            from None
    return model


# --------------------------------------------------------------------------- weights files


def save_weights(path: str | os.PathLike, model: Module, *, scale: int, extra: dict | None = None) -> None:
    """Write ``model``'s weights and config to ``path`` (an ``.npz``), atomically.

    ``extra`` (JSON-serialisable: the training command, the step, scores...) is stored in the
    metadata next to ``format``, ``version``, ``model`` and ``scale``.
    """
    meta = {"format": WEIGHTS_FORMAT, "version": VERSION, "model": model.config, "scale": int(scale)}
    meta.update(extra or {})
    _write_npz(path, model.state_dict(), meta)


def load_weights(path: str | os.PathLike, *, expected_scale: int | None = None,
                 expected_model: str | dict | None = None) -> tuple[Module, dict]:
    """Read a weights file (``.npz``, or ``.safetensors`` from ``tinysr export``): returns ``(model, meta)``.

    The model is in float32, ready to run.

    Args:
        expected_scale: if given, the file must be for this upscaling factor.
        expected_model: if given, a model name (``"srcnn"``) or a full config dict that the
            file's architecture must match.

    Raises:
        CheckpointError: the file is missing, not a tinysr weights file, corrupt or truncated, or
            for another scale or architecture. The message names the file and the mismatch.
    """
    if Path(path).is_file() and _is_safetensors(Path(path)):
        state, meta = _read_safetensors(Path(path))
    else:
        state, meta = _read_npz(path, "weights")
    _check_format(path, meta, WEIGHTS_FORMAT, "weights")
    config, scale = meta.get("model"), meta.get("scale")
    if not isinstance(config, dict) or config.get("name") not in MODELS:
        raise CheckpointError(f"weights file {path} is corrupt: unknown model config {config!r}")
    if expected_model is not None:
        wanted = expected_model if isinstance(expected_model, str) else expected_model.get("name")
        if config["name"] != wanted or (isinstance(expected_model, dict) and config != expected_model):
            raise CheckpointError(
                f"weights file {path} holds a {_describe(config)} model, not the {_describe(expected_model)} asked for"
            )
    if expected_scale is not None and scale != expected_scale:
        raise CheckpointError(
            f"weights file {path} was trained for x{scale} upscaling, not the x{expected_scale} asked for"
        )
    return _model_from(path, config, state, "weights"), meta


def _describe(config) -> str:
    if isinstance(config, str):
        return config
    details = ", ".join(f"{key}={value}" for key, value in config.items() if key != "name")
    return f"{config.get('name')} ({details})" if details else str(config.get("name"))


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, *, model: Module, optimizer, step: int, dataset_state: dict,
                    rng_state: dict | None = None, config: dict, history: dict | None = None,
                    discriminator: Module | None = None, discriminator_optimizer=None) -> None:
    """Write everything a training run needs to continue bit for bit, atomically.

    Args:
        model: the network (its ``config`` and ``state_dict``); in a GAN run, the generator.
        optimizer: an optimizer with ``state_dict()`` (e.g. ``tinysr.optim.Adam``).
        discriminator, discriminator_optimizer: a GAN run's second network and its optimizer
            (both or neither); stored under their own names beside the generator's.
        step: completed training steps.
        dataset_state: ``dataset.state_dict()`` (the RNG that picks patches).
        rng_state: any other random state of the run (nested dicts, lists, numbers, arrays).
        config: the training settings (JSON-serialisable).
        history: curves so far, e.g. ``{"loss": array, "val_step": array, ...}``.
    """
    arrays: dict[str, np.ndarray] = {}
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": VERSION,
        "model": model.config,
        "step": int(step),
        "config": config,
        "optimizer": _pack(optimizer.state_dict(), arrays, "optimizer"),
        "dataset_state": _pack(dataset_state, arrays, "dataset"),
        "rng_state": _pack(rng_state, arrays, "rng"),
        "history": _pack(history or {}, arrays, "history"),
    }
    arrays.update({f"model/{name}": value for name, value in model.state_dict().items()})
    if (discriminator is None) != (discriminator_optimizer is None):
        raise ValueError("save_checkpoint: pass both discriminator and discriminator_optimizer, or neither")
    if discriminator is not None:
        meta["discriminator"] = discriminator.config
        meta["discriminator_optimizer"] = _pack(discriminator_optimizer.state_dict(), arrays, "discriminator_optimizer")
        arrays.update({f"discriminator/{name}": value for name, value in discriminator.state_dict().items()})
    _write_npz(path, arrays, meta)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns a dict with ``model`` (the rebuilt network with its weights), ``model_config``,
    ``optimizer`` (a state dict for ``optimizer.load_state_dict``), ``step``, ``dataset_state``,
    ``rng_state``, ``config``, ``history``, and ``discriminator`` / ``discriminator_optimizer``
    (``None`` unless a GAN run saved them). Raises ``CheckpointError`` with the reason otherwise.
    """
    arrays, meta = _read_npz(path, "checkpoint")
    _check_format(path, meta, CHECKPOINT_FORMAT, "checkpoint")
    try:
        state = {name[len("model/"):]: value for name, value in arrays.items() if name.startswith("model/")}
        loaded = {
            "model_config": meta["model"],
            "step": int(meta["step"]),
            "config": meta["config"],
            "optimizer": _unpack(meta["optimizer"], arrays),
            "dataset_state": _unpack(meta["dataset_state"], arrays),
            "rng_state": _unpack(meta["rng_state"], arrays),
            "history": _unpack(meta["history"], arrays),
        }
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint file {path} is corrupt: missing or malformed entry {error}") from None
    loaded["model"] = _model_from(path, loaded["model_config"], state, "checkpoint")
    loaded["discriminator"] = loaded["discriminator_optimizer"] = None
    if "discriminator" in meta:
        try:
            loaded["discriminator_optimizer"] = _unpack(meta["discriminator_optimizer"], arrays)
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint file {path} is corrupt: missing or malformed entry {error}") from None
        prefix = "discriminator/"
        d_state = {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
        loaded["discriminator"] = _model_from(path, meta["discriminator"], d_state, "checkpoint")
    return loaded


def _pack(value, arrays: dict[str, np.ndarray], prefix: str):
    """A JSON-able copy of ``value`` with every array moved into ``arrays`` (and referenced by key).

    Dicts with non-string keys (an optimizer's ``{0: {...}}``) are stored as lists of pairs so
    that the keys come back with their types; tuples come back as lists.
    """
    if isinstance(value, np.ndarray):
        key = f"{prefix}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        items = [[key, _pack(item, arrays, f"{prefix}/{key}")] for key, item in value.items()]
        if all(isinstance(key, str) for key in value):
            return {"__dict__": items}
        if not all(isinstance(key, (int, np.integer)) and not isinstance(key, bool) for key in value):
            raise TypeError(f"save_checkpoint: cannot store dict keys {list(value)!r} (str or int keys only)")
        return {"__intdict__": [[int(key), item] for key, item in items]}
    if isinstance(value, (list, tuple)):
        return [_pack(item, arrays, f"{prefix}/{i}") for i, item in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"save_checkpoint: cannot store {type(value).__name__} at {prefix!r}")


def _unpack(value, arrays: dict[str, np.ndarray]):
    """The inverse of :func:`_pack`."""
    if isinstance(value, dict):
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__dict__" in value:
            return {key: _unpack(item, arrays) for key, item in value["__dict__"]}
        if "__intdict__" in value:
            return {int(key): _unpack(item, arrays) for key, item in value["__intdict__"]}
        raise ValueError(f"unknown packed object with keys {sorted(value)}")
    if isinstance(value, list):
        return [_unpack(item, arrays) for item in value]
    return value
