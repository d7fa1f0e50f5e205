"""Look inside a network: every layer's feature maps, the input gradient, each weight's gradient.

What the web page's "inside the network" view shows, computed with the same calls a learner reads
in the code and would write in a training loop::

    outputs = {}                                   # each shown layer's output, recorded on the way
    sr = network.forward(x)                        # x: the crop the network reads, (1, C, h, w)
    loss = mean((sr - target) ** 2)                # MSE against the ground truth, if there is one
    network.zero_grad()
    grad_x = network.backward(2 * (sr - target) / sr.size)   # dL/dx, and every parameter's .grad

Which layers are shown ("taps"): the output of every activation (ReLU, PReLU, Tanh) that is not
inside a residual block, of every residual block, and the input and output of every pixel shuffle.
For SRCNN that is its 64 and 32 feature maps; for FSRCNN its 56 features, 12 shrunk maps, the
mapping layers and the 56 expanded maps; for ESPCN its 64 and 32 maps and the scale^2 sub-pixel
maps before they are shuffled into the image; for SRResNet each residual block.

A layer's output is recorded by giving that one module instance a ``forward`` that calls its
class's ``forward`` and keeps a copy of the result (PyTorch calls this a forward hook); the
instances get their own ``forward`` back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from tinysr.nn import Module, PixelShuffle, PReLU, ReLU, Residual, Tanh

__all__ = ["Inspection", "inspect_network", "named_modules", "taps"]

_ACTIVATIONS = (ReLU, PReLU, Tanh)


@dataclass
class Inspection:
    """What ``inspect_network`` found.

    Attributes:
        feature_maps: ``(layer name, (C, H, W) float32 array)`` in the order the forward pass made them.
        output: the network's output for the crop, ``(C, H', W')``.
        loss: the MSE against the target, or ``None`` without a target.
        input_gradient: dL/dx ``(C, h, w)``, or ``None`` without a target.
        weight_gradients: ``(parameter name, shape, |dL/dw|, |w|)`` (L2 norms), empty without a target.
    """

    feature_maps: list[tuple[str, np.ndarray]]
    output: np.ndarray
    loss: float | None = None
    input_gradient: np.ndarray | None = None
    weight_gradients: list[tuple[str, tuple[int, ...], float, float]] = field(default_factory=list)


def named_modules(module: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """Every sub-module with its dotted name (``"mapping.0.1"``), parents before children."""
    for name, child in module.named_children():
        yield prefix + name, child
        yield from named_modules(child, prefix + name + ".")


def taps(network: Module) -> list[tuple[str, Module]]:
    """The layers whose outputs the page shows (see the module docstring), in forward order."""
    found, inside_residual = [], []
    for name, module in named_modules(network):
        if any(name.startswith(block + ".") for block in inside_residual):
            continue
        if isinstance(module, Residual):
            inside_residual.append(name)
            found.append((name, module))
        elif isinstance(module, (*_ACTIVATIONS, PixelShuffle)):
            found.append((name, module))
    return found


@contextmanager
def _recording(layers: list[tuple[str, Module]]):
    """Within the block, each listed module appends ``(label, copy of its output)`` to the yielded list.

    A pixel shuffle also records its input (the scale^2 sub-pixel maps per output channel).
    """
    recorded: list[tuple[str, np.ndarray]] = []

    def recorder(name: str, module: Module):
        def forward(x):
            if isinstance(module, PixelShuffle):
                recorded.append((f"{name} input ({type(module).__name__}: before the shuffle)", x[0].copy()))
            out = type(module).forward(module, x)
            recorded.append((f"{name} ({type(module).__name__})", np.array(out[0], copy=True)))
            return out
        return forward

    for name, module in layers:
        module.forward = recorder(name, module)
    try:
        yield recorded
    finally:
        for _, module in layers:
            del module.forward  # the instance attribute goes; the class's forward is found again


def inspect_network(network: Module, x: np.ndarray, target: np.ndarray | None = None) -> Inspection:
    """Run ``network`` on one crop ``x`` ``(C, h, w)`` in [0, 1], recording each tapped layer's output.

    ``x`` is cast to the network's dtype (float32 to run, float64 for a gradient check).

    With ``target`` (the ground truth ``(C, H', W')`` the output should equal), also take the MSE
    loss's gradient back through ``network.backward``: the gradient at the input pixels and the L2
    norm of every parameter's gradient. The network's weights are not changed (no optimizer step);
    its ``.grad`` arrays are left holding this crop's gradients.
    """
    if x.ndim != 3:
        raise ValueError(f"inspect_network: expected x of shape (C, h, w), got {x.shape}")
    dtype = network.parameters()[0].dtype
    batch = np.ascontiguousarray(x[None], dtype=dtype)
    with _recording(taps(network)) as recorded:
        out = network.forward(batch)
    inspection = Inspection(feature_maps=recorded, output=out[0].copy())
    if target is None:
        return inspection
    if target.shape != out.shape[1:]:
        raise ValueError(f"inspect_network: expected target of shape {out.shape[1:]}, got {target.shape}")
    diff = out - target[None].astype(dtype)
    inspection.loss = float(np.mean(diff.astype(np.float64) ** 2))
    network.zero_grad()
    inspection.input_gradient = network.backward(2.0 * diff / diff.size)[0]
    inspection.weight_gradients = [
        (name, tuple(p.shape), float(np.linalg.norm(p.grad)), float(np.linalg.norm(p.data)))
        for name, p in network.named_parameters()
    ]
    return inspection
