"""Time a ConvTranspose2d training step (forward + all three gradients) beside PyTorch's, on FSRCNN's shapes.

    python benchmarks/bench_conv_transpose.py [--repeats 15] [--threads N]

FSRCNN's last layer (x3): ``ConvTranspose2d(56, 1, 9, stride=3, padding=4, output_padding=2)`` on a
batch of 16 LR patches, float32. Ours and PyTorch's runs alternate on the same number of threads
(``torch.set_num_threads(numba.get_num_threads())``); medians after one warm-up call. Compare the
ratio ours / PyTorch (issue 13's target: at most 1.5), not the milliseconds: the machine is shared.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from tinysr.ops.conv_transpose2d import conv_transpose2d_backward, conv_transpose2d_forward

# name -> (N, C_in, H, W, C_out, k, stride, padding, output_padding)
CASES = {
    "FSRCNN x3 last layer 56->1 k9 s3, b16 11x11": (16, 56, 11, 11, 1, 9, 3, 4, 2),
    "FSRCNN x3 last layer 56->1 k9 s3, b16 32x32": (16, 56, 32, 32, 1, 9, 3, 4, 2),
    "FSRCNN x2 last layer 56->1 k9 s2, b16 32x32": (16, 56, 32, 32, 1, 9, 2, 4, 1),
}


def _median_ms(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(numba.get_num_threads())
    except ImportError:
        torch = None
    print(f"numba {numba.__version__} ({numba.get_num_threads()} threads), float32, median of {args.repeats}"
          + (f", PyTorch {torch.__version__}" if torch else ", PyTorch not installed"))
    print(f"{'case':48s} {'tinysr ms':>10s} {'torch ms':>9s} {'ratio':>6s}")
    rng = np.random.default_rng(0)
    for name, case in CASES.items():
        mine, theirs = _time_case(case, rng, torch, args.repeats)
        if theirs is not None:
            print(f"{name:48s} {mine:10.2f} {theirs:9.2f} {mine / theirs:6.2f}")
        else:
            print(f"{name:48s} {mine:10.2f} {'-':>9s} {'-':>6s}")


def _time_case(case, rng, torch, repeats: int) -> tuple[float, float | None]:
    """Median ms of our step and of PyTorch's (None without PyTorch), alternating."""
    n, c, h, w, o, k, s, p, op = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = (rng.standard_normal((c, o, k, k)) / np.sqrt(o * k * k)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    out, _ = conv_transpose2d_forward(x, weight, bias, s, p, op)
    grad_output = rng.standard_normal(out.shape).astype(np.float32)

    def ours():
        _, cache = conv_transpose2d_forward(x, weight, bias, s, p, op)
        conv_transpose2d_backward(grad_output, cache)

    ours_ms = [_median_ms(ours, repeats)]
    if torch is None:
        return ours_ms[0], None
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    tg = torch.tensor(grad_output)

    def theirs():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=s, padding=p, output_padding=op).backward(tg)

    torch_ms = _median_ms(theirs, repeats)
    ours_ms.append(_median_ms(ours, repeats))  # again, after PyTorch: noise hits both alike
    return float(np.median(ours_ms)), torch_ms

if __name__ == "__main__":
    main()
