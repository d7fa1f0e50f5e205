"""The quick-start demo: build a tiny super-resolution network, prove its gradients, train it.

Run it with ``tinysr demo`` (or ``python -m tinysr demo``). It takes well under a minute:

1. builds ``conv 3x3 -> PReLU -> conv 3x3 -> PixelShuffle(2)``, a 2x upscaler for greyscale images;
2. checks every gradient of that network against finite differences with ``tinysr.gradcheck``;
3. trains it with Adam on patches of a synthetic image (the low-resolution input is the 2x2
   block mean of the high-resolution target) and prints the loss falling.
"""

from __future__ import annotations

import time

import numpy as np

from tinysr import nn
from tinysr.gradcheck import gradcheck
from tinysr.losses import MSELoss
from tinysr.optim import Adam


def build_network(seed: int = 0) -> nn.Sequential:
    """A sub-pixel 2x upscaler: ``(N, 1, H, W) -> (N, 1, 2H, 2W)``."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1, rng=rng),
        nn.PReLU(16),
        nn.Conv2d(16, 4, kernel_size=3, padding=1, rng=rng),
        nn.PixelShuffle(2),
    )


def synthetic_image(size: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth greyscale image in [0, 1] made of a few random sinusoids."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.zeros((size, size))
    for _ in range(6):
        fy, fx, phase = rng.uniform(1, 8), rng.uniform(1, 8), rng.uniform(0, 2 * np.pi)
        image += np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
    return (image - image.min()) / (image.max() - image.min())


def make_batch(image: np.ndarray, rng: np.random.Generator, batch: int = 8, patch: int = 16):
    """Random HR patches ``(N, 1, patch, patch)`` and their LR inputs by 2x2 block means."""
    tops = rng.integers(0, image.shape[0] - patch + 1, size=batch)
    lefts = rng.integers(0, image.shape[1] - patch + 1, size=batch)
    hr = np.stack([image[t:t + patch, s:s + patch] for t, s in zip(tops, lefts)])[:, None]
    lr = hr.reshape(batch, 1, patch // 2, 2, patch // 2, 2).mean(axis=(3, 5))
    return lr.astype(np.float32), hr.astype(np.float32)


def run(steps: int = 200, seed: int = 0) -> dict:
    """Run the demo and return what it measured (the tests use this)."""
    network = build_network(seed)
    print(network)
    print(f"parameters: {sum(p.data.size for p in network.parameters()):,}")

    rng = np.random.default_rng(seed)
    x_check = rng.uniform(0.0, 1.0, size=(2, 1, 5, 5))
    report = gradcheck(network, x_check, seed=seed)
    print(report)

    image = synthetic_image(seed=seed)
    criterion = MSELoss()
    optimizer = Adam(network.parameters(), lr=3e-3)
    losses = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        lr_batch, hr_batch = make_batch(image, rng)
        optimizer.zero_grad()
        loss = criterion.forward(network.forward(lr_batch), hr_batch)
        network.backward(criterion.backward())
        optimizer.step()
        losses.append(loss)
        if step == 1 or step % 50 == 0:
            print(f"step {step:4d}  MSE loss {loss:.5f}")
    elapsed = time.perf_counter() - start
    first, last = float(np.mean(losses[:10])), float(np.mean(losses[-10:]))
    print(f"trained {steps} steps in {elapsed:.1f} s: mean loss of the first 10 steps {first:.5f}, "
          f"of the last 10 {last:.5f} ({first / last:.0f}x lower)")
    return {"gradcheck": report, "first_loss": first, "last_loss": last}
