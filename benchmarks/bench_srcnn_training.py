"""SRCNN training throughput (patches/s) of the whole loop, tinysr beside PyTorch on the CPU.

    python benchmarks/bench_srcnn_training.py [--steps 20] [--repeats 3] [--preset 9-5-5]
                                              [--batch-size 32] [--patch 33] [--data DIR]

One step is what ``tinysr train`` does: draw a batch from ``SRDataset`` (random crops, flips and
rotations of the embedded sample images, or ``--data``), set the learning rate, zero the
gradients, forward, MSE loss, backward, Adam update. PyTorch (when installed) trains the same
network (same layers, "same" padding, Adam) on the very same batches, with the same number of
threads, in the same process. Throughput is ``batch_size * steps / seconds`` after two warm-up
steps (Numba compilation excluded), the best of ``--repeats`` runs of ``--steps`` steps; the ratio
is PyTorch's throughput over tinysr's (the target is <= 1.5). The time spent in ``dataset.batch``
is printed as a share of tinysr's step. The machine is shared and noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import time

import numba

from tinysr.data import SRDataset
from tinysr.losses import MSELoss
from tinysr.models import SRCNN
from tinysr.optim import Adam


def tinysr_loop(dataset, model, batch_size: int):
    criterion, optimizer = MSELoss(), Adam(model.parameters(), lr=1e-4)
    spent = {"data": 0.0}

    def step():
        started = time.perf_counter()
        inputs, targets = dataset.batch(batch_size)
        spent["data"] += time.perf_counter() - started
        optimizer.zero_grad()
        criterion.forward(model.forward(inputs), targets)
        model.backward(criterion.backward())
        optimizer.step()

    return step, spent


def torch_loop(batches, config: dict):
    import torch

    torch.manual_seed(0)
    tnn = torch.nn
    c, n1, n2, f1, f2, f3 = (config[key] for key in ("channels", "n1", "n2", "f1", "f2", "f3"))
    model = tnn.Sequential(tnn.Conv2d(c, n1, f1, padding=f1 // 2), tnn.ReLU(),
                           tnn.Conv2d(n1, n2, f2, padding=f2 // 2), tnn.ReLU(),
                           tnn.Conv2d(n2, c, f3, padding=f3 // 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    criterion = tnn.MSELoss()
    position = {"i": 0}

    def step():
        inputs, targets = batches[position["i"] % len(batches)]
        position["i"] += 1
        optimizer.zero_grad()
        criterion(model(torch.from_numpy(inputs)), torch.from_numpy(targets)).backward()
        optimizer.step()

    return step


def throughput(step, steps: int, repeats: int, batch_size: int) -> float:
    for _ in range(2):
        step()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - started)
    return batch_size * steps / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="9-5-5")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patch", type=int, default=33)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--data", default=None, help="training images (default: the embedded samples)")
    args = parser.parse_args()

    threads = numba.get_num_threads()
    dataset = SRDataset(args.data, scale=args.scale, patch_size=args.patch, mode="ilr", channels="y", seed=0)
    model = SRCNN.preset(args.preset, rng=0)
    step, spent = tinysr_loop(dataset, model, args.batch_size)
    ours = throughput(step, args.steps, args.repeats, args.batch_size)
    total_steps = 2 + args.steps * args.repeats
    data_ms = 1000 * spent["data"] / total_steps
    step_ms = 1000 * args.batch_size / ours

    print(f"SRCNN {args.preset} on Y, batch {args.batch_size} of {args.patch}x{args.patch}, x{args.scale}, "
          f"{threads} threads; best of {args.repeats} runs of {args.steps} steps")
    print(f"{'':24s} {'patches/s':>10s} {'ms/step':>8s}")
    print(f"{'tinysr':24s} {ours:10.0f} {step_ms:8.1f}   (dataset.batch {data_ms:.2f} ms = "
          f"{100 * data_ms / step_ms:.1f}% of the step)")
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: no comparison")
        return
    torch.set_num_threads(threads)
    batches = [dataset.batch(args.batch_size) for _ in range(8)]
    theirs = throughput(torch_loop(batches, model.config), args.steps, args.repeats, args.batch_size)
    print(f"{'PyTorch ' + torch.__version__:24s} {theirs:10.0f} {1000 * args.batch_size / theirs:8.1f}   "
          "(same batches, drawn beforehand)")
    print(f"ratio PyTorch / tinysr throughput: {theirs / ours:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
