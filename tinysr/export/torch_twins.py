"""The PyTorch twin of a tinysr network: the same modules, names and layouts, in ``torch.nn``.

tinysr uses PyTorch's layer names, arguments and weight layouts, so the twin of a network is
its module tree with each tinysr layer swapped for the ``torch.nn`` layer of the same name, and
its ``state_dict`` keys are tinysr's. A safetensors file from ``tinysr export`` loads into it with
``strict=True``::

    from safetensors.torch import load_file
    from tinysr.export.torch_twins import torch_twin

    model = torch_twin("fsrcnn_x3.safetensors").eval()       # built from the file's tinysr metadata
    model.load_state_dict(load_file("fsrcnn_x3.safetensors"), strict=True)

PyTorch is not a dependency of tinysr: this module imports it when called.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from tinysr import nn as tnn
from tinysr.models import SRResNet, build_model

__all__ = ["torch_twin"]


def _twin(module):
    """One tinysr module -> the equivalent ``torch.nn`` module (children mirrored, same names)."""
    import torch

    nn = torch.nn
    kind = type(module)
    if kind is tnn.Conv2d:
        return nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                         module.padding, bias=module.bias is not None)
    if kind is tnn.ConvTranspose2d:
        return nn.ConvTranspose2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                                  module.padding, module.output_padding, bias=module.bias is not None)
    if kind is tnn.BatchNorm2d:
        return nn.BatchNorm2d(module.num_features, eps=module.eps, momentum=module.momentum)
    if kind is tnn.PReLU:
        return nn.PReLU(module.num_parameters)
    if kind is tnn.LeakyReLU:
        return nn.LeakyReLU(module.negative_slope)
    if kind is tnn.Linear:
        return nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    if kind is tnn.PixelShuffle:
        return nn.PixelShuffle(module.upscale_factor)
    simple = {tnn.ReLU: nn.ReLU, tnn.Tanh: nn.Tanh, tnn.Sigmoid: nn.Sigmoid, tnn.Flatten: nn.Flatten}
    if kind in simple:
        return simple[kind]()
    children = {name: _twin(child) for name, child in module.named_children()}
    if kind is tnn.Sequential:
        return nn.Sequential(*children.values())
    containers = _containers()
    container = containers["residual" if kind is tnn.Residual else "srresnet" if kind is SRResNet else "chain"]()
    for name, child in children.items():
        container.add_module(name, child)
    return container


@lru_cache(maxsize=1)
def _containers() -> dict:
    """The three container modules a twin needs besides ``torch.nn``'s (defined once torch is imported)."""
    import torch

    class Chain(torch.nn.Module):
        """SRCNN, FSRCNN, ESPCN, the discriminator: their forward is their children in order."""

        def forward(self, x):
            for child in self.children():
                x = child(x)
            return x

    class Residual(torch.nn.Module):
        """``x + body(x)``."""

        def forward(self, x):
            return x + self.body(x)

    class SRResNet(torch.nn.Module):
        """Head, residual blocks and trunk, the long skip from the head, upsampling, tail."""

        def forward(self, x):
            head = self.head(x)
            return self.tail(self.upsample(head + self.trunk(self.blocks(head))))

    return {"chain": Chain, "residual": Residual, "srresnet": SRResNet}


def torch_twin(network_or_file):
    """The ``torch.nn.Module`` twin of a tinysr network, a weights/safetensors file's network, or a config dict.

    The twin has the architecture only (PyTorch's default initial weights): load the tensors with
    ``load_state_dict``.
    """
    from tinysr.checkpoint import load_weights

    source = network_or_file
    if isinstance(source, (str, os.PathLike)):
        source, _ = load_weights(source)
    elif isinstance(source, dict):
        source = build_model(json.loads(json.dumps(source)))
    return _twin(source)
