"""Time one SRGAN iteration and one SRResNet training step, tinysr beside PyTorch on the CPU; memory too.

    python benchmarks/bench_srgan.py [--batch 16] [--blocks 16] [--features 64] [--lr-size 24]
                                     [--repeats 5] [--growth-steps 4] [--no-torch]

The issue's setting (the defaults): batch 16 of 24x24 LR crops -> 96x96 HR, SRResNet x4 with 16
residual blocks of 64 features, ``Discriminator(96)``, float32, Adam.

* SRGAN iteration: ``tinysr.gan.srgan_step``, a discriminator step (D on the real and on the fake
  batch, backward, Adam) then a generator step (MSE + 1e-3 x BCE(D(G(x)), 1), the adversarial
  gradient back through D into G, Adam). PyTorch runs the same two steps the usual way
  (``fake.detach()`` for D, one ``backward`` per network): the same forward and backward passes.
* SRResNet step: zero the gradients, forward, MSE, backward, Adam, on the same batch.

Times are medians of ``--repeats`` runs after two warm-up runs (Numba compilation excluded).
PyTorch (when installed) runs the same networks (``tests/reference/torch_srgan.py``, loaded with
tinysr's weights) with as many threads as Numba uses, in the same process, after tinysr; the
ratio is tinysr / PyTorch (the target is <= 1.5).

Memory: the peak RSS (``resource.getrusage``) after tinysr's steps, before PyTorch is imported,
so it is tinysr's alone; and a check for per-step growth: the resident memory and the memory
traced by ``tracemalloc`` (which sees NumPy's arrays, not Numba's internal allocations) after
``k`` and after ``2k`` more SRGAN iterations. A training step that keeps a reference to
something each step grows linearly; a flat line means each step frees what it allocated.

The machine is shared and noisy: compare ratios measured in the same run, not absolute times.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import time
import tracemalloc
from pathlib import Path

import numba
import numpy as np

import tinysr
from tinysr.gan import srgan_step
from tinysr.losses import MSELoss
from tinysr.models import Discriminator, SRResNet
from tinysr.optim import Adam

TORCH_NETWORKS = Path(__file__).resolve().parent.parent / "tests" / "reference" / "torch_srgan.py"
MB = 1024 * 1024


def median_seconds(step, repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``step`` after two warm-up calls."""
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


# --------------------------------------------------------------------------- tinysr


def tinysr_steps(generator, discriminator, lr, hr):
    """``(srgan_iteration, srresnet_step)`` as closures over their networks and optimizers."""
    g_optimizer = Adam(generator.parameters(), lr=1e-4, betas=(0.9, 0.999))
    d_optimizer = Adam(discriminator.parameters(), lr=1e-4, betas=(0.9, 0.999))
    mse = MSELoss()

    def srgan_iteration():
        srgan_step(generator, discriminator, g_optimizer, d_optimizer, lr, hr, adversarial_weight=1e-3)

    def srresnet_step():
        g_optimizer.zero_grad()
        mse.forward(generator.forward(lr), hr)
        generator.backward(mse.backward())
        g_optimizer.step()

    return srgan_iteration, srresnet_step


def allocation_growth(step, k: int) -> dict:
    """Resident and traced memory after ``k`` and after ``2k`` calls of ``step`` (after one warm-up call)."""
    step()
    rss = []
    for _ in range(2):
        for _ in range(k):
            step()
        rss.append(current_rss_mb())
    tracemalloc.start()
    traced = []
    for _ in range(2):
        for _ in range(k):
            step()
        traced.append(tracemalloc.get_traced_memory()[0] / MB)
    tracemalloc.stop()
    return {"rss": rss, "traced": traced}


# --------------------------------------------------------------------------- PyTorch


def torch_steps(torch, generator, discriminator, lr, hr):
    """The same two steps in PyTorch, on the same networks (tinysr's weights copied in)."""
    spec = importlib.util.spec_from_file_location("torch_srgan", TORCH_NETWORKS)
    networks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(networks)
    config = generator.config
    g = networks.TorchSRResNet(config["scale"], config["num_blocks"], config["num_features"])
    d = networks.TorchDiscriminator(discriminator.hr_size, discriminator.config["num_features"])
    networks.load_tinysr_state(g, generator.state_dict())
    networks.load_tinysr_state(d, discriminator.state_dict())
    g_optimizer = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.9, 0.999))
    d_optimizer = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.9, 0.999))
    bce, mse = torch.nn.BCEWithLogitsLoss(), torch.nn.MSELoss()
    lr_t, hr_t = torch.from_numpy(lr), torch.from_numpy(hr)
    ones, zeros = torch.ones(len(lr), 1), torch.zeros(len(lr), 1)

    def srgan_iteration():
        fake = g(lr_t)
        d_optimizer.zero_grad()
        (bce(d(hr_t), ones) + bce(d(fake.detach()), zeros)).backward()
        d_optimizer.step()
        g_optimizer.zero_grad()
        (mse(fake, hr_t) + 1e-3 * bce(d(fake), ones)).backward()
        g_optimizer.step()

    def srresnet_step():
        g_optimizer.zero_grad()
        mse(g(lr_t), hr_t).backward()
        g_optimizer.step()

    return srgan_iteration, srresnet_step


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=16, help="residual blocks of the generator")
    parser.add_argument("--features", type=int, default=64, help="features of the generator")
    parser.add_argument("--lr-size", type=int, default=24, help="LR crop side; HR is 4x (a multiple of 16)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--growth-steps", type=int, default=4, metavar="K",
                        help="SRGAN iterations between the memory readings of the growth check")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    args = parser.parse_args()
    hr_size = 4 * args.lr_size
    if hr_size % 16:
        parser.error(f"--lr-size must be a multiple of 4 (the discriminator needs HR sides divisible by 16), "
                     f"got {args.lr_size}")

    threads = numba.get_num_threads()
    rng = np.random.default_rng(0)
    lr = rng.uniform(0.0, 1.0, (args.batch, 3, args.lr_size, args.lr_size)).astype(np.float32)
    hr = rng.uniform(0.0, 1.0, (args.batch, 3, hr_size, hr_size)).astype(np.float32)
    rss_start = current_rss_mb()
    generator = SRResNet(4, args.blocks, args.features, rng=1)
    discriminator = Discriminator(hr_size, rng=2)
    print(f"tinysr {tinysr.__version__}, numba {numba.__version__}, {threads} threads; batch {args.batch}, "
          f"{args.lr_size}x{args.lr_size} -> {hr_size}x{hr_size}, SRResNet x4 {args.blocks} blocks "
          f"{args.features} features ({generator.num_parameters():,} parameters), Discriminator({hr_size}) "
          f"({discriminator.num_parameters():,} parameters), float32, median of {args.repeats}", flush=True)

    srgan_iteration, srresnet_step = tinysr_steps(generator, discriminator, lr, hr)
    ours = {"SRResNet MSE step": median_seconds(srresnet_step, args.repeats)}
    peak_srresnet = peak_rss_mb()
    ours["SRGAN iteration (D step + G step)"] = median_seconds(srgan_iteration, args.repeats)
    peak_srgan = peak_rss_mb()
    growth = allocation_growth(srgan_iteration, args.growth_steps)

    theirs, torch_version = {}, "not run"
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch, torch_version = None, "not installed"
        if torch is not None:
            torch.set_num_threads(threads)
            torch_version = f"{torch.__version__} ({torch.get_num_threads()} threads)"
            torch_srgan, torch_srresnet = torch_steps(torch, generator, discriminator, lr, hr)
            theirs["SRResNet MSE step"] = median_seconds(torch_srresnet, args.repeats)
            theirs["SRGAN iteration (D step + G step)"] = median_seconds(torch_srgan, args.repeats)

    print(f"PyTorch {torch_version}")
    header = f"{'':36s} {'tinysr s':>9s} {'PyTorch s':>10s} {'ratio':>6s}"
    print(header)
    print("-" * len(header))
    for name, seconds in ours.items():
        line = f"{name:36s} {seconds:9.3f}"
        if name in theirs:
            line += f" {theirs[name]:10.3f} {seconds / theirs[name]:6.2f}"
        print(line)
    print(f"\nmemory (tinysr only; {rss_start:.0f} MB resident before building the networks)")
    print(f"  peak RSS after the SRResNet steps: {peak_srresnet:8.0f} MB")
    print(f"  peak RSS after the SRGAN steps:    {peak_srgan:8.0f} MB")
    k = args.growth_steps
    rss, traced = growth["rss"], growth["traced"]
    print(f"  resident after {k} / {2 * k} more SRGAN iterations: {rss[0]:.0f} / {rss[1]:.0f} MB "
          f"({(rss[1] - rss[0]) / k:+.2f} MB per iteration)")
    print(f"  traced by tracemalloc after {k} / {2 * k} more:      {traced[0]:.1f} / {traced[1]:.1f} MB "
          f"({(traced[1] - traced[0]) / k:+.3f} MB per iteration)")


if __name__ == "__main__":
    main()
