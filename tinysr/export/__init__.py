"""Take a tinysr network elsewhere: ``tinysr export`` to safetensors (PyTorch) or ONNX.

    tinysr export srcnn --scale 3 --format onnx -o srcnn_x3.onnx
    tinysr export runs/x3/weights.npz --format safetensors -o srcnn_x3.safetensors

The exported network is the one ``tinysr.upscale`` runs, with the same input and output: for
SRCNN the bicubic-upscaled Y channel ``(N, 1, H, W)``, for FSRCNN and ESPCN the low-resolution Y
channel, for SRResNet and SRGAN the low-resolution RGB, all float32 in [0, 1]; the colour
conversion, the bicubic steps and the rounding stay outside, as in ``tinysr/upscale.py``.

* ``safetensors``: the tensors under the names and layouts of the equivalent PyTorch module's
  ``state_dict`` (tinysr uses PyTorch's names and layouts already; BatchNorm's running statistics
  and ``num_batches_tracked`` included), and tinysr's own metadata (model, scale, training) in the
  file's header, so that ``load_weights`` and ``--weights`` read it back. ``torch_twins.py`` has
  the PyTorch modules it loads into.
* ``onnx``: the graph of ``onnx_graph.py``.

Needs the optional extra ``pip install "tinysr[export]"`` (safetensors, onnx; onnxruntime to run the result).
"""

from __future__ import annotations

import os
from pathlib import Path

from tinysr._files import atomic_write
from tinysr.checkpoint import load_weights, save_safetensors
from tinysr.upscale import NETWORKS, SCALES, shipped_weights_path

__all__ = ["FORMATS", "export"]

FORMATS = ("safetensors", "onnx")


def _source(model_or_weights: str | os.PathLike, scale: int | None) -> Path:
    """A shipped model's name (with ``scale``) or a weights file's path -> the weights file to read."""
    text = str(model_or_weights)
    if text in NETWORKS:
        if scale is None:
            raise ValueError(f"export: a shipped model needs a scale (--scale {' or '.join(map(str, SCALES))})")
        path = shipped_weights_path(text, scale)
        if not path.exists():
            shipped = ", ".join(f"x{s}" for s in SCALES if shipped_weights_path(text, s).exists()) or "none"
            raise ValueError(f"export: no shipped {text} weights for x{scale} (shipped: {shipped})")
        return path
    path = Path(model_or_weights)
    if not path.exists():
        raise ValueError(f"export: expected a model name ({', '.join(NETWORKS)}) or a weights file, "
                         f"got {text!r}: no such model or file")
    return path


def export(model_or_weights: str | os.PathLike, path: str | os.PathLike, *, format: str | None = None,
           scale: int | None = None) -> Path:
    """Write a shipped network (by name, with ``scale``) or a weights file to ``path``; returns ``path``.

    ``format``: "safetensors" or "onnx" (default: from the suffix of ``path``). ``scale``, if given
    with a weights file, must be the scale it was trained for. Written atomically: an error leaves no
    partial file, and ``path`` may not be the source file.
    """
    path = Path(path)
    format = format or path.suffix.lstrip(".").lower()
    if format not in FORMATS:
        raise ValueError(f"export: expected format {' or '.join(FORMATS)}, got {format!r}")
    if not path.parent.is_dir():
        raise ValueError(f"export: cannot write {path}: the folder {path.parent} does not exist")
    source = _source(model_or_weights, scale)
    if path.exists() and path.resolve() == source.resolve():
        raise ValueError(f"export: the output {path} is the weights file being exported; choose another name")
    network, meta = load_weights(source, expected_scale=scale)
    if format == "safetensors":
        save_safetensors(path, network, meta)
    else:
        from tinysr.export.onnx_graph import to_onnx

        doc = f"tinysr {network.config['name']} x{meta['scale']}, from {source.name}"
        data = to_onnx(network, doc=doc).SerializeToString()
        atomic_write(path, lambda file: file.write(data))
    return path
