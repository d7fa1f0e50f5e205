"""Time ``tinysr.upscale`` of a 512x512 photo at x3 with SRCNN, FSRCNN and ESPCN, and SRCNN's three convolutions.

    NUMBA_NUM_THREADS=2 python benchmarks/bench_upscale.py [--repeats 3] [--models srcnn fsrcnn espcn]
                                                           [--tile T] [--batch-size B]

1. The whole call, ``tinysr.upscale(image, scale=3, model=NAME)`` for each of ``--models`` (shipped
   weights; a network without shipped x3 weights is timed with fresh weights, which take the same
   time; default tiling), after one warm-up call so that Numba compilation is excluded: the median
   of ``--repeats`` runs, and each model's time as a fraction of SRCNN's. Targets: SRCNN under 2 s
   on 2 cores (issue 3); FSRCNN at least 5x faster than SRCNN (issue 13).
2. Where the time goes: the same upscale with the same network, whose three ``Conv2d`` layers are
   wrapped in timers; per layer the median over the repeats of its total time in one upscale,
   and the rest (bicubic, colour conversion, ReLU, tiling) as "other".
3. When PyTorch is installed: ``torch.nn.functional.conv2d`` (no grad, same weights, the same
   number of threads) on exactly the input shapes that each layer saw during the upscale, in the
   same process, and the ratio tinysr / PyTorch per layer.

``--tile`` and ``--batch-size`` override ``upscale``'s defaults, to compare tilings. The machine
may be shared: compare ratios measured in one run, not milliseconds across runs. Beside the wall
time, the process's CPU time and its busiest thread's CPU time are printed: when other processes
hold the cores, the wall time measures them too, and the busiest thread's CPU time is the closer
estimate of the wall time on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numba
import numpy as np

import tinysr
from tinysr.image import read_image
from tinysr.models import MODELS
from tinysr.upscale import load_model, shipped_weights_path

SAMPLE = Path(tinysr.__file__).parent / "sample_images" / "astronaut.png"
#: the clocks of the per-layer timings: wall time, or the process's CPU time (``--clock cpu``)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
SCALE = 3
LAYERS = ("conv1", "conv2", "conv3")


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by each thread of this process (Linux: /proc/self/task; else empty)."""
    seconds = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for task in Path("/proc/self/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds[task.name] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime, in ticks
    return seconds


def network_for(name: str):
    """The shipped x3 network ``name``, or a fresh one (same architecture, same time) where none is shipped."""
    if shipped_weights_path(name, SCALE).exists():
        return load_model(name, SCALE), "shipped"
    return MODELS[name](SCALE, rng=0).eval(), "fresh weights"


def time_upscale(image: np.ndarray, repeats: int, **options) -> list[tuple[float, float, float]]:
    """Per call of ``tinysr.upscale(image, scale=3, **options)``, after a warm-up: (wall, CPU, busiest thread) s.

    CPU is the process's CPU time (all threads). The busiest thread's CPU time is what the call
    would take on an idle machine if no thread ever waited: on a shared machine, where the wall
    time also counts the time other processes held the cores, it is the better estimate of that.
    """
    tinysr.upscale(image, scale=SCALE, **options)
    times = []
    for _ in range(repeats):
        threads_before, cpu_before, start = thread_cpu_seconds(), time.process_time(), time.perf_counter()
        tinysr.upscale(image, scale=SCALE, **options)
        wall, cpu, threads_after = time.perf_counter() - start, time.process_time() - cpu_before, thread_cpu_seconds()
        busiest = max((used - threads_before.get(name, 0.0) for name, used in threads_after.items()), default=cpu)
        times.append((wall, cpu, busiest))
    return times


class _TimedForward:
    """Stands in for ``layer.forward``: adds each call's seconds to ``seconds`` and records the input shape."""

    def __init__(self, forward, clock):
        self.forward, self.clock, self.seconds, self.shapes = forward, clock, 0.0, []

    def __call__(self, x):
        start = self.clock()
        out = self.forward(x)
        self.seconds += self.clock() - start
        self.shapes.append(x.shape)
        return out


def profile_layers(image: np.ndarray, repeats: int, clock, **options):
    """Per layer: median seconds over ``repeats`` upscales, and the input shapes of one upscale; plus totals."""
    network = load_model("srcnn", SCALE)
    per_layer = {name: [] for name in LAYERS}
    totals, shapes = [], {}
    for _ in range(repeats):
        timers = {name: _TimedForward(getattr(network, name).forward, clock) for name in LAYERS}
        for name, timer in timers.items():
            getattr(network, name).forward = timer  # an instance attribute hides the class's method
        start = clock()
        tinysr.upscale(image, scale=SCALE, model=network, **options)
        totals.append(clock() - start)
        for name, timer in timers.items():
            per_layer[name].append(timer.seconds)
            shapes[name] = timer.shapes
            del getattr(network, name).forward
    return network, {name: statistics.median(s) for name, s in per_layer.items()}, statistics.median(totals), shapes


def torch_layers(network, shapes: dict, repeats: int, clock) -> dict | None:
    """Per layer: median seconds of PyTorch's conv2d on the recorded input shapes, or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(numba.get_num_threads())
    rng = np.random.default_rng(0)
    medians = {}
    with torch.no_grad():
        for name in LAYERS:
            layer = getattr(network, name)
            weight = torch.from_numpy(layer.weight.data)
            bias = torch.from_numpy(layer.bias.data)
            inputs = [torch.from_numpy(rng.random(shape, dtype=np.float32)) for shape in sorted(set(shapes[name]))]
            by_shape = dict(zip(sorted(set(shapes[name])), inputs))

            def run(layer=layer, weight=weight, bias=bias, by_shape=by_shape, calls=shapes[name]):
                for shape in calls:
                    torch.nn.functional.conv2d(by_shape[shape], weight, bias, layer.stride, layer.padding)

            run()  # warm-up
            times = []
            for _ in range(repeats):
                start = clock()
                run()
                times.append(clock() - start)
            medians[name] = statistics.median(times)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image", type=Path, default=SAMPLE)
    parser.add_argument("--models", nargs="+", choices=["srcnn", "fsrcnn", "espcn"],
                        default=["srcnn", "fsrcnn", "espcn"], help="networks to time (default: all three)")
    parser.add_argument("--tile", type=int, help="output tile side (default: upscale's)")
    parser.add_argument("--batch-size", type=int, help="tiles per network call (default: upscale's)")
    parser.add_argument("--no-layers", action="store_true", help="time the whole call only")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="per-layer clock; 'cpu' (process CPU time) with NUMBA_NUM_THREADS=1 on a busy machine")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"expected --repeats >= 1, got {args.repeats}")
    options = {key: value for key, value in (("tile", args.tile), ("batch_size", args.batch_size))
               if value is not None}
    image = read_image(args.image)
    threads = numba.get_num_threads()
    print(f"tinysr {tinysr.__version__}, numba {numba.__version__} ({threads} threads), "
          f"{args.image.name} {image.shape}, x{SCALE}, options {options or 'default'}")

    medians = {}
    for name in args.models:
        network, weights = network_for(name)
        times = time_upscale(image, args.repeats, model=network, **options)
        walls = [wall for wall, _, _ in times]
        medians[name] = statistics.median(walls)
        relative = f"; {medians['srcnn'] / medians[name]:.1f}x faster than SRCNN" if "srcnn" in medians else ""
        print(f"tinysr.upscale {name} ({weights}): median {medians[name]:.3f} s of {args.repeats} "
              f"({', '.join(f'{t:.3f}' for t in walls)}){relative}")
        print(f"  CPU time median {statistics.median(cpu for _, cpu, _ in times):.3f} s, busiest thread "
              f"{statistics.median(busiest for _, _, busiest in times):.3f} s (the wall time on an idle machine, "
              "about)")

    if args.no_layers or "srcnn" not in args.models:
        return
    network, ours, total, shapes = profile_layers(image, args.repeats, CLOCKS[args.clock], **options)
    theirs = torch_layers(network, shapes, args.repeats, CLOCKS[args.clock])
    print(f"\nper layer ({args.clock} time, median of {args.repeats} upscales; conv time includes tinysr's checks "
          f"and padding)")
    header = f"{'layer':28s} {'calls':>5s} {'input shape':>22s} {'tinysr s':>9s}"
    if theirs is not None:
        header += f" {'torch s':>8s} {'ratio':>6s}"
    print(header)
    for name in LAYERS:
        layer = getattr(network, name)
        what = f"{name} {layer.in_channels}->{layer.out_channels} k{layer.kernel_size[0]}"
        line = f"{what:28s} {len(shapes[name]):5d} {max(shapes[name])!s:>22s} {ours[name]:9.3f}"
        if theirs is not None:
            line += f" {theirs[name]:8.3f} {ours[name] / theirs[name]:6.2f}"
        print(line)
    convs = sum(ours.values())
    line = f"{'all three':28s} {'':5s} {'':>22s} {convs:9.3f}"
    if theirs is not None:
        line += f" {sum(theirs.values()):8.3f} {convs / sum(theirs.values()):6.2f}"
    print(line)
    print(f"{'other (bicubic, YCbCr, ReLU)':28s} {'':5s} {'':>22s} {total - convs:9.3f}")
    print(f"{'whole upscale (profiled)':28s} {'':5s} {'':>22s} {total:9.3f}")


if __name__ == "__main__":
    main()
