"""Time one training step of SRCNN and of an SRResNet residual block, tinysr beside PyTorch.

    python benchmarks/bench_training_step.py [--repeats 20]

A step is: zero the gradients, forward, MSE loss, backward, Adam update. Times are medians over
``--repeats`` steps after warm-up (so Numba compilation is excluded). The cold start is measured
in fresh processes: import tinysr, build the network and run its first step, once with Numba's
on-disk cache as it is (what a user sees on every run after the first) and once with an empty
cache directory (the very first run, compiling every kernel). GFLOP/s counts the convolutions
only (forward + both backward products = 3x the forward multiply-adds x 2). When PyTorch is
installed it runs the same network with the same number of threads in the same process, and the
ratio ``tinysr / PyTorch`` is printed: the target is <= 1.5. The machine is shared and noisy:
compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

import tinysr
from tinysr import nn
from tinysr.losses import MSELoss
from tinysr.optim import Adam


def srcnn_rgb(rng) -> nn.Sequential:
    """SRCNN 9-5-5 on RGB with 'same' padding: 3 -> 64 (9x9) -> 32 (5x5) -> 3 (5x5)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 9, padding=4, rng=rng), nn.ReLU(),
        nn.Conv2d(64, 32, 5, padding=2, rng=rng), nn.ReLU(),
        nn.Conv2d(32, 3, 5, padding=2, rng=rng),
    )


def residual_block(rng) -> nn.Residual:
    """One SRResNet residual block: conv 64->64 3x3, BN, PReLU, conv, BN, plus the skip."""
    return nn.Residual(nn.Sequential(
        nn.Conv2d(64, 64, 3, padding=1, rng=rng), nn.BatchNorm2d(64), nn.PReLU(),
        nn.Conv2d(64, 64, 3, padding=1, rng=rng), nn.BatchNorm2d(64),
    ))


CASES = {
    # name: (builder, input shape, conv multiply-adds of one forward pass)
    "SRCNN 9-5-5 RGB, batch 16, 33x33": (srcnn_rgb, (16, 3, 33, 33),
                                          16 * 33 * 33 * (64 * 3 * 81 + 32 * 64 * 25 + 3 * 32 * 25)),
    "SRResNet block 64ch, batch 16, 24x24": (residual_block, (16, 64, 24, 24),
                                             2 * 16 * 24 * 24 * 64 * 64 * 9),
}


def time_steps(step, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``step`` after three warm-up calls."""
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold_start(case: str, cache_dir: str | None) -> float:
    """Seconds for a fresh Python process to import tinysr and run one step of ``case``."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--one-step", case], env=env, check=True)
    return time.perf_counter() - start


def tinysr_step(builder, shape, seed=0):
    rng = np.random.default_rng(seed)
    model = builder(rng)
    x = rng.standard_normal(shape).astype(np.float32)
    with_target = model.forward(x)
    target = rng.standard_normal(with_target.shape).astype(np.float32)
    criterion, optimizer = MSELoss(), Adam(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad()
        criterion.forward(model.forward(x), target)
        model.backward(criterion.backward())
        optimizer.step()

    return step


def torch_step(name, shape, seed=0):
    import torch

    torch.manual_seed(seed)
    tnn = torch.nn
    if name.startswith("SRCNN"):
        model = tnn.Sequential(tnn.Conv2d(3, 64, 9, padding=4), tnn.ReLU(), tnn.Conv2d(64, 32, 5, padding=2),
                               tnn.ReLU(), tnn.Conv2d(32, 3, 5, padding=2))
    else:
        body = tnn.Sequential(tnn.Conv2d(64, 64, 3, padding=1), tnn.BatchNorm2d(64), tnn.PReLU(),
                              tnn.Conv2d(64, 64, 3, padding=1), tnn.BatchNorm2d(64))

        class Block(tnn.Module):
            def __init__(self):
                super().__init__()
                self.body = body

            def forward(self, x):
                return x + self.body(x)

        model = Block()
    x = torch.randn(shape)
    target = torch.randn(model(x).shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    criterion = tnn.MSELoss()

    def step():
        optimizer.zero_grad()
        criterion(model(x), target).backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--one-step", metavar="CASE", help=argparse.SUPPRESS)  # used by cold_start
    args = parser.parse_args()
    if args.one_step:
        builder, shape, _ = CASES[args.one_step]
        tinysr_step(builder, shape)()
        return
    threads = numba.get_num_threads()
    try:
        import torch

        torch.set_num_threads(threads)
        torch_version = torch.__version__
    except ImportError:
        torch = None
        torch_version = "not installed"
    print(f"tinysr {tinysr.__version__}, numba {numba.__version__} ({threads} threads), "
          f"PyTorch {torch_version}, float32, median of {args.repeats} steps")
    header = f"{'case':40s} {'tinysr ms':>10s} {'GFLOP/s':>8s} {'torch ms':>9s} {'ratio':>6s}"
    print(header)
    print("-" * len(header))
    for name, (builder, shape, macs) in CASES.items():
        ours = time_steps(tinysr_step(builder, shape), args.repeats)
        gflops = 3 * 2 * macs / ours / 1e9
        line = f"{name:40s} {ours * 1e3:10.1f} {gflops:8.1f}"
        if torch is not None:
            theirs = time_steps(torch_step(name, shape), args.repeats)
            line += f" {theirs * 1e3:9.1f} {ours / theirs:6.2f}"
        print(line, flush=True)
    print("\ncold start: a fresh process imports tinysr, builds the network and runs one step")
    for name in CASES:
        warm = cold_start(name, cache_dir=None)
        with tempfile.TemporaryDirectory() as empty:
            compiling = cold_start(name, cache_dir=empty)
        print(f"{name:40s} {warm:5.1f} s with Numba's on-disk cache, {compiling:5.1f} s compiling from scratch",
              flush=True)


if __name__ == "__main__":
    main()
