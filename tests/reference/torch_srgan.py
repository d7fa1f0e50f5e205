"""SRResNet and the SRGAN discriminator written in PyTorch, laid out exactly as tinysr's.

Used by ``make_fixtures.py`` (the float64 reference values of ``srgan_tiny.npz``), by the
parameter-count test in ``tests/test_srgan_models.py`` and by ``benchmarks/bench_srgan.py``.
Module and attribute names mirror ``tinysr.models.SRResNet`` and ``tinysr.models.Discriminator``,
so one ``state_dict`` fits both libraries key for key (``head.0.weight``,
``blocks.1.body.4.running_var``, ``features.2.weight``, ``classifier.1.weight``...).

Nothing here changes PyTorch's global state (no default dtype): callers pick the dtype.
"""

from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Module):
    """``y = x + body(x)``, as ``tinysr.nn.Residual``."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class TorchSRResNet(nn.Module):
    """Ledig et al.'s generator: 9x9 head + PReLU, residual blocks, conv + BN + long skip, sub-pixel x2 blocks, 9x9."""

    def __init__(self, scale: int = 4, num_blocks: int = 16, num_features: int = 64):
        super().__init__()
        f = num_features
        self.head = nn.Sequential(nn.Conv2d(3, f, 9, padding=4), nn.PReLU())
        self.blocks = nn.Sequential(*[
            Residual(nn.Sequential(nn.Conv2d(f, f, 3, padding=1), nn.BatchNorm2d(f), nn.PReLU(),
                                   nn.Conv2d(f, f, 3, padding=1), nn.BatchNorm2d(f)))
            for _ in range(num_blocks)
        ])
        self.trunk = nn.Sequential(nn.Conv2d(f, f, 3, padding=1), nn.BatchNorm2d(f))
        upsample = []
        for _ in range(scale.bit_length() - 1):
            upsample += [nn.Conv2d(f, 4 * f, 3, padding=1), nn.PixelShuffle(2), nn.PReLU()]
        self.upsample = nn.Sequential(*upsample)
        self.tail = nn.Conv2d(f, 3, 9, padding=4)

    def forward(self, x):
        head = self.head(x)
        return self.tail(self.upsample(head + self.trunk(self.blocks(head))))


class TorchDiscriminator(nn.Module):
    """Eight 3x3 convs (stride 2 every second one), BN after all but the first, LeakyReLU(0.2), Linear(1024), 1."""

    def __init__(self, hr_size: int = 96, num_features: int = 64):
        super().__init__()
        f = num_features
        layers, channels_in = [], 3
        for i, channels_out in enumerate((f, f, 2 * f, 2 * f, 4 * f, 4 * f, 8 * f, 8 * f)):
            layers.append(nn.Conv2d(channels_in, channels_out, 3, stride=2 if i % 2 else 1, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(channels_out))
            layers.append(nn.LeakyReLU(0.2))
            channels_in = channels_out
        self.features = nn.Sequential(*layers)
        side = hr_size // 16
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(channels_in * side * side, 1024), nn.LeakyReLU(0.2),
                                        nn.Linear(1024, 1))

    def forward(self, x):
        return self.classifier(self.features(x))


def load_tinysr_state(module: nn.Module, state: dict) -> None:
    """Copy a tinysr ``state_dict`` (NumPy arrays) into ``module``; the keys must match exactly."""
    own = module.state_dict()
    if sorted(own) != sorted(state):
        raise KeyError(f"state_dict keys differ: only in torch {sorted(set(own) - set(state))}, "
                       f"only in tinysr {sorted(set(state) - set(own))}")
    module.load_state_dict({key: torch.as_tensor(value).to(own[key].dtype) for key, value in state.items()})
