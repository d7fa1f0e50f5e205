"""Time conv2d forward + backward (grad input, weight and bias) on super-resolution shapes.

    python benchmarks/bench_conv2d.py [--repeats 15] [--dtype float32] [--backend numba] [--threads N]

Prints, per case: our median time, GFLOP/s and, when PyTorch is importable, PyTorch's median on
the same number of threads (``torch.set_num_threads(numba.get_num_threads())``) and the ratio
ours / torch. ``--threads`` sets both (default: Numba's default, one per core). Timings are
after compilation (one warm-up call). Ours and PyTorch's runs alternate, so that noise from other
processes on the machine hits both alike: compare ratios, not milliseconds. On a busy machine
PyTorch's multi-threaded convolution degrades much more than ours, which flatters the ratio:
trust runs on a quiet machine, or ``--threads 1``.

Both sides compute all three gradients, including the input gradient of SRCNN's first layer
(which a real training step would not need; PyTorch skips it there, tinysr always computes it).
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from tinysr.ops.conv2d import conv2d_backward, conv2d_forward

# name -> list of convolutions (N, C_in, H, W, C_out, k, stride, padding) timed together
CASES = {
    "SRCNN 9-5-5 RGB, b16 33x33 (3 convs)": [
        (16, 3, 33, 33, 64, 9, 1, 4),
        (16, 64, 33, 33, 32, 5, 1, 2),
        (16, 32, 33, 33, 3, 5, 1, 2),
    ],
    "  SRCNN conv1 3->64 k9": [(16, 3, 33, 33, 64, 9, 1, 4)],
    "  SRCNN conv2 64->32 k5": [(16, 64, 33, 33, 32, 5, 1, 2)],
    "  SRCNN conv3 32->3 k5": [(16, 32, 33, 33, 3, 5, 1, 2)],
    "64->64 k3 p1, b16 24x24": [(16, 64, 24, 24, 64, 3, 1, 1)],
    "64->64 k3 s2 p1, b16 48x48": [(16, 64, 48, 48, 64, 3, 2, 1)],
}


def _make(conv, dtype, rng):
    n, c, h, w, o, k, s, p = conv
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(dtype)
    bias = rng.standard_normal(o).astype(dtype)
    h_out, w_out = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    grad_output = rng.standard_normal((n, o, h_out, w_out)).astype(dtype)
    flops = 3 * 2 * n * o * h_out * w_out * c * k * k  # forward, grad input, grad weight
    return (x, weight, bias, s, p, grad_output), flops


def _ours(problems, backend):
    def run():
        for x, weight, bias, s, p, grad_output in problems:
            _, cache = conv2d_forward(x, weight, bias, s, p, backend=backend)
            conv2d_backward(grad_output, cache, backend=backend)

    return run


def _torch(problems):
    import torch

    tensors = []
    for x, weight, bias, s, p, grad_output in problems:
        tensors.append(
            (
                torch.from_numpy(x).requires_grad_(),
                torch.from_numpy(weight).requires_grad_(),
                torch.from_numpy(bias).requires_grad_(),
                s,
                p,
                torch.from_numpy(grad_output),
            )
        )

    def run():
        for x, weight, bias, s, p, grad_output in tensors:
            x.grad = weight.grad = bias.grad = None
            torch.nn.functional.conv2d(x, weight, bias, s, p).backward(grad_output)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backend", choices=["numba", "reference"], default="numba")
    parser.add_argument("--threads", type=int, default=numba.get_num_threads())
    parser.add_argument("--cases", default="", help="comma-separated substrings of case names to run")
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(numba.get_num_threads())
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"threads: {numba.get_num_threads()}, dtype {args.dtype}, backend {args.backend}, "
          f"median of {args.repeats}, forward + backward (grad input, weight, bias)")
    header = f"{'case':40s} {'ours ms':>9s} {'GFLOP/s':>8s}"
    if torch is not None:
        header += f" {'torch ms':>9s} {'GFLOP/s':>8s} {'ratio':>6s}"
    print(header)
    for name, convs in CASES.items():
        if args.cases and not any(part in name for part in args.cases.split(",")):
            continue
        made = [_make(conv, np.dtype(args.dtype), rng) for conv in convs]
        problems, flops = [m[0] for m in made], sum(m[1] for m in made)
        runners = {"ours": _ours(problems, args.backend)}
        if torch is not None:
            runners["torch"] = _torch(problems)
        times = {key: [] for key in runners}
        for run in runners.values():
            run()  # warm-up: compilation, allocator, caches
        for _ in range(args.repeats):
            for key, run in runners.items():
                start = time.perf_counter()
                run()
                times[key].append(time.perf_counter() - start)
        ours = float(np.median(times["ours"]))
        line = f"{name:40s} {ours * 1e3:9.2f} {flops / ours / 1e9:8.1f}"
        if torch is not None:
            theirs = float(np.median(times["torch"]))
            line += f" {theirs * 1e3:9.2f} {flops / theirs / 1e9:8.1f} {ours / theirs:6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
