"""Time a training step on the GPU: tinysr's numba.cuda kernels beside PyTorch + cuDNN, same GPU, same run.

    pip install ".[cuda]" torch          # a CUDA build of PyTorch for the comparison
    python benchmarks/bench_gpu.py [--repeats 20] [--case srcnn|srresnet] [--defer-frees] [--json FILE]
                                   [--layers]

Cases (float32; a step is zero the gradients, forward, MSE loss, backward, Adam update):

* SRCNN 9-5-5 on the Y channel, batch 128 of 33x33 patches (the paper's training setting);
* SRResNet x4, 16 residual blocks, 64 features, batch 16 of 24x24 RGB crops -> 96x96.

Both libraries read the loss back to the host every step (tinysr's ``forward`` returns a Python
float; PyTorch calls ``loss.item()``), and the GPU is synchronised before each clock reading.
Times are medians over ``--repeats`` steps after warm-up (which excludes numba's compilation of
the kernels, reported separately, and cuDNN's algorithm search: ``cudnn.benchmark = True``).
TF32 is off on the PyTorch side (``torch.backends.cuda.matmul.allow_tf32 = False``,
``torch.backends.cudnn.allow_tf32 = False``), so both run true float32 arithmetic. The ratio is
tinysr's time over PyTorch's; the target is <= 3. GFLOP/s counts the convolutions only (forward
plus both backward products = 3 x the forward multiply-adds x 2).

Each library's peak GPU memory during its warm-up and timed steps is read from the driver
(``gpu_memory.py``: used memory sampled every few milliseconds, minus what was used before); for
PyTorch it includes the memory that loading cuDNN and cuBLAS takes, and ``torch alloc`` gives its
caching allocator's own peak (``torch.cuda.max_memory_allocated``). Patches/s is the batch size
over the median step time. ``--json FILE`` also writes every figure as JSON (for
``benchmarks/gpu_check.py``).

``--layers`` then shows where a step's time goes: each tinysr layer's forward and backward,
the loss and the optimizer, timed with the GPU synchronised around each call, and PyTorch's own
profile of its GPU kernels.

``--defer-frees`` wraps each tinysr step in ``numba.cuda.defer_cleanup()``, so that the device
memory of the step's temporaries is handed back to the driver between steps rather than every
few arrays (numba's default, ``NUMBA_CUDA_MAX_PENDING_DEALLOCS_COUNT=10``): an experiment, to
see how much of a step goes to freeing memory.

Without a usable GPU (or under the CUDA simulator, where times mean nothing) it says so in one
line and exits with status 1.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import statistics
import sys
import time

import numpy as np
from gpu_memory import MIB, PeakGPUMemory

import tinysr
from tinysr.losses import MSELoss
from tinysr.models import SRCNN, SRResNet
from tinysr.optim import Adam


def _srresnet_macs(batch: int, size: int, blocks: int = 16, features: int = 64, scale: int = 4) -> int:
    """Multiply-adds of the convolutions of one SRResNet forward pass on ``batch`` crops of ``size`` x ``size``."""
    f = features
    pixels = size * size
    macs = pixels * f * 3 * 81                      # head, 9x9
    macs += (2 * blocks + 1) * pixels * f * f * 9   # residual blocks and the trunk convolution, 3x3
    side = size
    for _ in range(scale.bit_length() - 1):         # sub-pixel convolutions, 64 -> 256, 3x3
        macs += side * side * 4 * f * f * 9
        side *= 2
    macs += side * side * 3 * f * 81                # tail, 9x9, at full resolution
    return batch * macs


CASES = {
    "srcnn": {
        "title": "SRCNN 9-5-5 Y, batch 128, 33x33",
        "lr_shape": (128, 1, 33, 33), "hr_shape": (128, 1, 33, 33),
        "macs": 128 * 33 * 33 * (1 * 64 * 81 + 64 * 32 * 25 + 32 * 1 * 25),
    },
    "srresnet": {
        "title": "SRResNet x4 16 blocks, batch 16, 24->96",
        "lr_shape": (16, 3, 24, 24), "hr_shape": (16, 3, 96, 96),
        "macs": _srresnet_macs(16, 24),
    },
}


def _no_gpu_reason() -> str | None:
    from tinysr.device import _simulator_requested, _unavailable_reason

    if _simulator_requested():
        return "NUMBA_ENABLE_CUDASIM=1 runs the kernels on the CPU simulator, where times mean nothing"
    return _unavailable_reason()


def _median_time(step, synchronize, repeats: int, warmup: int = 3) -> tuple[float, float]:
    """(seconds of the first call, median seconds of ``repeats`` calls after ``warmup`` calls)."""
    start = time.perf_counter()
    step()
    synchronize()
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        step()
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def _tinysr_setup(case: str, seed: int):
    """The model, batch, loss and optimizer of a tinysr step, all on the GPU."""
    rng = np.random.default_rng(seed)
    model = SRCNN.preset("9-5-5", channels=1, rng=rng) if case == "srcnn" else SRResNet(rng=rng)
    model.to("cuda")
    x = tinysr.to_device(rng.random(CASES[case]["lr_shape"], dtype=np.float32), "cuda")
    y = tinysr.to_device(rng.random(CASES[case]["hr_shape"], dtype=np.float32), "cuda")
    return model, x, y, MSELoss(), Adam(model.parameters(), lr=1e-4)


def _training_step(model, x, y, criterion, optimizer):
    """The step both timings run: zero the gradients, forward, loss, backward, update."""

    def step():
        optimizer.zero_grad()
        criterion.forward(model.forward(x), y)  # the loss comes back as a Python float
        model.backward(criterion.backward())
        optimizer.step()

    return step


def tinysr_step(case: str, seed: int = 0, defer_frees: bool = False):
    """One training step of tinysr on the GPU, with the model, batch and optimizer state all on the device."""
    from numba import cuda

    step = _training_step(*_tinysr_setup(case, seed))

    def step_with_deferred_frees():
        with cuda.defer_cleanup():
            step()

    return step_with_deferred_frees if defer_frees else step


def tinysr_layer_profile(case: str, steps: int = 5, seed: int = 0) -> list[tuple[str, int, float]]:
    """Where a tinysr step's time goes: (what, calls per step, ms per step), slowest first.

    Every leaf layer's forward and backward, the loss and the optimizer are timed with the GPU
    synchronised before and after, so the figures add up to a little more than a step (the
    synchronisations cost a few microseconds each). Layers with the same ``repr`` are summed.
    """
    from numba import cuda

    setup = _tinysr_setup(case, seed)
    model, _, _, criterion, optimizer = setup
    step = _training_step(*setup)  # it looks the methods up at each call, so it runs the timed ones below
    totals: dict = collections.defaultdict(float)
    calls: dict = collections.defaultdict(int)

    def timed(label, function):
        def wrapper(*args):
            cuda.synchronize()
            started = time.perf_counter()
            result = function(*args)
            cuda.synchronize()
            totals[label] += time.perf_counter() - started
            calls[label] += 1
            return result
        return wrapper

    for module in model.modules():
        if next(module.children(), None) is None:  # a leaf: one op
            module.forward = timed(f"{module!r} forward", module.forward)
            module.backward = timed(f"{module!r} backward", module.backward)
    criterion.forward = timed("MSELoss forward (and the loss to the host)", criterion.forward)
    criterion.backward = timed("MSELoss backward", criterion.backward)
    optimizer.zero_grad = timed("Adam zero_grad", optimizer.zero_grad)
    optimizer.step = timed("Adam step", optimizer.step)
    step()  # compiles
    totals.clear()
    calls.clear()
    for _ in range(steps):
        step()
    rows = [(label, calls[label] // steps, seconds / steps * 1e3) for label, seconds in totals.items()]
    return sorted(rows, key=lambda row: -row[2])


def torch_kernel_profile(case: str, steps: int = 5) -> str:
    """PyTorch's own profile of its step: the GPU kernels that take the time (cuDNN's names)."""
    import torch

    step = torch_step(case)
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    averages = profile.key_averages()
    for key in ("device_time_total", "cuda_time_total"):
        try:
            return averages.table(sort_by=key, row_limit=12)
        except Exception:  # the key's name changed between releases
            continue
    return averages.table(row_limit=12)


def torch_step(case: str, seed: int = 0):
    """The same step in PyTorch on the same GPU (cuDNN, TF32 off)."""
    import torch

    tnn = torch.nn
    torch.manual_seed(seed)
    if case == "srcnn":
        model = tnn.Sequential(tnn.Conv2d(1, 64, 9, padding=4), tnn.ReLU(), tnn.Conv2d(64, 32, 5, padding=2),
                               tnn.ReLU(), tnn.Conv2d(32, 1, 5, padding=2))
    else:
        model = _torch_srresnet(tnn)
    model = model.cuda()
    x = torch.rand(CASES[case]["lr_shape"], device="cuda")
    y = torch.rand(CASES[case]["hr_shape"], device="cuda")
    criterion, optimizer = tnn.MSELoss(), torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()

    return step


def _torch_srresnet(tnn, blocks: int = 16, f: int = 64):
    """tinysr.models.SRResNet's architecture in PyTorch (x4)."""

    class Residual(tnn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, x):
            return x + self.body(x)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.head = tnn.Sequential(tnn.Conv2d(3, f, 9, padding=4), tnn.PReLU())
            self.blocks = tnn.Sequential(*[Residual(tnn.Sequential(
                tnn.Conv2d(f, f, 3, padding=1), tnn.BatchNorm2d(f), tnn.PReLU(),
                tnn.Conv2d(f, f, 3, padding=1), tnn.BatchNorm2d(f))) for _ in range(blocks)])
            self.trunk = tnn.Sequential(tnn.Conv2d(f, f, 3, padding=1), tnn.BatchNorm2d(f))
            self.upsample = tnn.Sequential(*[layer for _ in range(2) for layer in (
                tnn.Conv2d(f, 4 * f, 3, padding=1), tnn.PixelShuffle(2), tnn.PReLU())])
            self.tail = tnn.Conv2d(f, 3, 9, padding=4)

        def forward(self, x):
            head = self.head(x)
            return self.tail(self.upsample(head + self.trunk(self.blocks(head))))

    return Net()


def _release_numba_memory() -> None:
    """Hand the device memory of dropped numba arrays back now, not after the next ten frees."""
    from numba import cuda

    gc.collect()
    pending = getattr(cuda.current_context(), "deallocations", None)  # the simulator has none
    if pending is not None:
        pending.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--case", choices=sorted(CASES), action="append", help="default: both")
    parser.add_argument("--defer-frees", action="store_true", help="free device memory between steps only")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    parser.add_argument("--layers", action="store_true",
                        help="then where each step's time goes: tinysr's layers, PyTorch's kernels")
    args = parser.parse_args()
    reason = _no_gpu_reason()
    if reason is not None:
        print(f"bench_gpu: no GPU to time: {reason}", file=sys.stderr)
        return 1
    from numba import cuda

    try:
        import torch

        if not torch.cuda.is_available():
            raise ImportError("this PyTorch build has no CUDA")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        torch_version = f"{torch.__version__}, cuDNN {torch.backends.cudnn.version()}"
    except ImportError as error:
        torch = None
        torch_version = f"not available ({error})"
    import numba

    name = cuda.get_current_device().name
    name = name.decode() if isinstance(name, bytes) else name
    print(f"GPU {name}; tinysr {tinysr.__version__}, numba {numba.__version__}; PyTorch {torch_version}; "
          f"float32, TF32 off, median of {args.repeats} steps")
    header = (f"{'case':42s} {'tinysr ms':>10s} {'GFLOP/s':>8s} {'patches/s':>10s} {'MiB':>6s}"
              f" {'torch ms':>9s} {'GFLOP/s':>8s} {'MiB':>6s} {'alloc':>6s} {'ratio':>6s} {'first step':>11s}")
    print(header)
    print("-" * len(header))
    results = {"gpu": name, "numba": numba.__version__, "torch": torch_version, "repeats": args.repeats, "cases": {}}
    for case in args.case or list(CASES):
        flops = 3 * 2 * CASES[case]["macs"]
        batch = CASES[case]["lr_shape"][0]
        with PeakGPUMemory() as ours_memory:
            step = tinysr_step(case, defer_frees=args.defer_frees)
            first, ours = _median_time(step, cuda.synchronize, args.repeats)
            del step
        _release_numba_memory()
        figures = {"title": CASES[case]["title"], "batch": batch, "tinysr_ms": ours * 1e3,
                   "tinysr_gflops": flops / ours / 1e9, "tinysr_patches_per_s": batch / ours,
                   "tinysr_peak_mib": None if ours_memory.peak_bytes is None else ours_memory.peak_bytes / MIB,
                   "tinysr_first_step_s": first}
        line = (f"{CASES[case]['title']:42s} {ours * 1e3:10.1f} {flops / ours / 1e9:8.0f} {batch / ours:10.0f}"
                f" {_mib(ours_memory.peak_bytes):>6s}")
        if torch is not None:
            torch.cuda.reset_peak_memory_stats()
            with PeakGPUMemory() as theirs_memory:
                step = torch_step(case)
                _, theirs = _median_time(step, torch.cuda.synchronize, args.repeats)
                del step
            allocated = torch.cuda.max_memory_allocated()
            gc.collect()
            torch.cuda.empty_cache()
            figures.update({"torch_ms": theirs * 1e3, "torch_gflops": flops / theirs / 1e9,
                            "torch_peak_mib": None if theirs_memory.peak_bytes is None
                            else theirs_memory.peak_bytes / MIB,
                            "torch_allocated_mib": allocated / MIB, "ratio": ours / theirs})
            line += (f" {theirs * 1e3:9.1f} {flops / theirs / 1e9:8.0f} {_mib(theirs_memory.peak_bytes):>6s}"
                     f" {_mib(allocated):>6s} {ours / theirs:6.2f}")
        else:
            line += f" {'-':>9s} {'-':>8s} {'-':>6s} {'-':>6s} {'-':>6s}"
        results["cases"][case] = figures
        print(f"{line} {first:9.1f} s", flush=True)
    if args.layers:
        for case in args.case or list(CASES):
            print(f"\ntinysr, {CASES[case]['title']}: ms per step, synchronised around each call")
            profile = tinysr_layer_profile(case)
            for label, count, ms in profile:
                print(f"{ms:9.2f} ms  {count:3d}x  {label}")
            results["cases"][case]["tinysr_layers"] = profile
            _release_numba_memory()
            if torch is not None:
                print(f"\nPyTorch, {CASES[case]['title']}: its GPU kernels over 5 steps")
                print(torch_kernel_profile(case), flush=True)
                gc.collect()
                torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)
    return 0


def _mib(nbytes: int | None) -> str:
    return "n/a" if nbytes is None else f"{nbytes / MIB:.0f}"


if __name__ == "__main__":
    sys.exit(main())
