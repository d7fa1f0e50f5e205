"""ONNX Runtime against tinysr on an exported network: a 512x512 photo x3, and the exported files' sizes.

    NUMBA_NUM_THREADS=2 python benchmarks/bench_export.py [--repeats 5] [--threads 2]

For SRCNN, FSRCNN and ESPCN (the shipped x3 weights): ``tinysr export`` to safetensors and ONNX
(sizes printed), then the network alone on what ``tinysr.upscale`` feeds it for a 512x512 photo
at x3, one image in one piece: SRCNN the bicubic-upscaled Y (1536x1536), FSRCNN and ESPCN the
low-resolution Y (512x512). Timed: ``network.forward`` in tinysr (Numba, ``--threads`` threads)
and ``InferenceSession.run`` in ONNX Runtime (CPU provider, ``--threads`` intra-op threads), in the
same process, after one warm-up call each; medians of ``--repeats``, and the ratio tinysr / ORT.
The outputs are compared too (largest difference). The whole ``tinysr.upscale`` call (tiles,
colour, bicubic) is ``bench_upscale.py``'s. The machine may be shared: compare the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from tinysr.export import export
from tinysr.upscale import load_model


def median_seconds(call, repeats: int) -> float:
    call()  # warm-up: compilation, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=numba.get_num_threads())
    args = parser.parse_args()
    import onnxruntime as ort

    numba.set_num_threads(args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    print(f"{args.threads} threads, medians of {args.repeats}, onnxruntime {ort.__version__}")
    print(f"{'model':8} {'input':>11} {'safetensors':>12} {'onnx':>10} {'tinysr':>9} {'ORT':>9} {'ratio':>6} "
          f"{'max diff':>9}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for name in ("srcnn", "fsrcnn", "espcn"):
            sizes = {fmt: export(name, Path(folder) / f"{name}.{fmt}", scale=3).stat().st_size
                     for fmt in ("safetensors", "onnx")}
            network = load_model(name, 3)
            side = 512 if getattr(network, "input_mode", "ilr") == "lr" else 1536
            x = rng.random((1, 1, side, side)).astype(np.float32)
            session = ort.InferenceSession(str(Path(folder) / f"{name}.onnx"), options,
                                           providers=["CPUExecutionProvider"])
            tinysr_s = median_seconds(lambda: network.forward(x), args.repeats)  # noqa: B023
            ort_s = median_seconds(lambda: session.run(None, {"input": x}), args.repeats)  # noqa: B023
            diff = float(np.abs(session.run(None, {"input": x})[0] - network.forward(x)).max())
            print(f"{name:8} {f'{side}x{side}':>11} {sizes['safetensors']:>12,} {sizes['onnx']:>10,} "
                  f"{tinysr_s:>8.3f}s {ort_s:>8.3f}s {tinysr_s / ort_s:>6.2f} {diff:>9.1e}")


if __name__ == "__main__":
    main()
