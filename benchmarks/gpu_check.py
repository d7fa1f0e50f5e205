"""The GPU check: what tinysr's numba.cuda tier must show on a real NVIDIA GPU, in one command.

    benchmarks/gpu_check.sh [REPORT_DIR]               # on the GPU machine, from a plain checkout
    python benchmarks/gpu_check.py --out REPORT_DIR    # the same, where tinysr's needs are installed
    python benchmarks/gpu_check.py --out DIR --simulate   # a dry run on numba's CUDA simulator, no GPU

Each step runs in its own process with a time limit, so that one failure does not hide the
others, and its output goes to REPORT_DIR/NAME.log:

1. ``environment``: the GPU's name and memory, the driver, CUDA, numba, numba-cuda and PyTorch versions;
2. ``bench``: ``benchmarks/bench_gpu.py``, SRCNN (batch 128, 33x33 Y) and SRResNet (batch 16,
   24 -> 96, 16 blocks x 64) training steps beside PyTorch + cuDNN on the same GPU, TF32 off;
3. ``train``: ``tinysr train srcnn --device cuda --batch-size 128`` on the package's sample photos,
   stopped by Ctrl-C (SIGINT) after 60 s, which saves its checkpoint and weights;
4. ``upscale``: ``tinysr upscale --device cuda`` of a sample photo at x3, with the weights just
   trained and with the shipped ones, against ``--device cpu``; and the network's own float output
   on both devices (it must agree to float32 precision: max |difference| <= 1e-5);
5. ``eval``: ``tinysr eval --device cuda`` on the sample photos, whose table must equal ``--device cpu``'s;
6. ``tests``: ``pytest tests/cuda tests/test_cuda_device.py`` on the GPU (no simulator): every
   kernel against the CPU tier, the gradchecks, and the CPU-against-GPU agreement of training
   steps, ``train``, ``upscale`` and ``eval``. They run last, with the time left of ``--deadline``
   (pytest-xdist, when installed, spreads them over the cores: compiling the kernels is most of it).

The peak GPU memory of every step is read from the driver (``gpu_memory.py``). REPORT_DIR/report.md
gathers the figures (rewritten after every step, so a check cut short keeps what it measured); the
exit status is 1 if any step failed.

``--simulate`` runs the same steps on numba's CUDA simulator, to try this script on a machine
without a GPU. The simulator runs every CUDA thread as a Python thread, far too slowly for SRCNN's
64 filters, so there the check trains a tiny SRResNet (one block, 4 features, x2) instead, upscales
and evaluates small crops with it, and skips the shipped weights and the benchmark; nothing it
times means anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from gpu_memory import PeakGPUMemory

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tinysr" / "sample_images"
#: the CPU's figure that the GPU's SRCNN throughput is held to (bench_srcnn_training.py --batch-size 128,
#: 2 threads, on the project's 2-core development machine; README's GPU section gives the date)
CPU_SRCNN_PATCHES_PER_S = 417
FLOAT32_TOLERANCE = 1e-5


class Check:
    """Runs the steps, keeps their figures and writes the report."""

    def __init__(self, out: Path, simulate: bool):
        self.out = out
        self.simulate = simulate
        self.rows: list[tuple[str, str, str, str, str]] = []  # step, verdict, seconds, peak memory, figures
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), self.env.get("PYTHONPATH")) if p)
        self.env["PYTHONUNBUFFERED"] = "1"
        # what is trained, upscaled and evaluated: the real thing, or a tiny stand-in for the simulator
        self.model, self.scale = ("srresnet", 2) if simulate else ("srcnn", 3)
        if simulate:
            self.env["NUMBA_ENABLE_CUDASIM"] = "1"
        else:
            self.env.pop("NUMBA_ENABLE_CUDASIM", None)

    def run(self, name: str, command: list[str], timeout: float, interrupt_after: float | None = None):
        """Run ``command`` in ROOT, its output to NAME.log; returns (exit status, output, seconds, memory)."""
        log = self.out / f"{name}.log"
        started = time.perf_counter()
        with PeakGPUMemory(interval_s=0.02) as memory, open(log, "w") as file:
            file.write(f"$ {' '.join(command)}\n")
            file.flush()
            process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=file, stderr=subprocess.STDOUT)
            try:
                if interrupt_after is not None:
                    try:
                        process.wait(timeout=interrupt_after)
                    except subprocess.TimeoutExpired:
                        process.send_signal(signal.SIGINT)  # tinysr train saves its checkpoint and stops
                status = process.wait(timeout=timeout - (time.perf_counter() - started))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                status = None
        seconds = time.perf_counter() - started
        output = log.read_text(errors="replace")
        print(f"[{name}] {'timed out' if status is None else f'exit {status}'} after {seconds:.0f} s", flush=True)
        return status, output, seconds, memory

    def run_on_both_devices(self, name: str, command, timeout: float):
        """``command(device)`` with --device cpu, then cuda: ({device: (status, output)}, seconds, GPU run's memory)."""
        results, total, gpu_memory = {}, 0.0, None
        for device in ("cpu", "cuda"):
            status, output, seconds, memory = self.run(f"{name}_{device}", command(device), timeout=timeout)
            results[device] = (status, output)
            total += seconds
            gpu_memory = memory if device == "cuda" else gpu_memory
        return results, total, gpu_memory

    def record(self, step: str, ok: bool | None, seconds: float, memory, figures: str) -> None:
        verdict = "skipped" if ok is None else ("passed" if ok else "FAILED")
        peak = memory.describe() if memory is not None else ""
        self.rows.append((step, verdict, f"{seconds:.0f}", peak, figures))
        print(f"[{step}] {verdict}: {figures}", flush=True)
        self.write_report(quiet=True)  # after every step, so that a check cut short still leaves its figures

    def tinysr(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "tinysr", *arguments]

    # ------------------------------------------------------------------------------------------- steps

    def environment(self) -> str:
        code = (
            "import json, numba, numpy\n"
            "from importlib.metadata import version\n"
            "from numba import cuda\n"
            "info = {'python': __import__('platform').python_version(), 'numpy': numpy.__version__,"
            " 'numba': numba.__version__}\n"
            "try: info['numba-cuda'] = version('numba-cuda')\n"
            "except Exception as e: info['numba-cuda'] = f'not installed ({e})'\n"
            "if numba.config.ENABLE_CUDASIM: info['gpu'] = \"numba's CUDA simulator\"\n"
            "else:\n"
            "  try:\n"
            "    d = cuda.get_current_device(); n = d.name\n"
            "    info['gpu'] = n.decode() if isinstance(n, bytes) else n\n"
            "    info['compute capability'] = '.'.join(map(str, d.compute_capability))\n"
            "    info['cuda runtime'] = '.'.join(map(str, cuda.runtime.get_version()))\n"
            "    info['cuda driver api'] = '.'.join(map(str, cuda.cudadrv.driver.driver.get_version()))\n"
            "  except Exception as e: info['gpu'] = f'none usable ({type(e).__name__}: {e})'\n"
            "try:\n"
            "    import torch; info['torch'] = torch.__version__ + ', cuDNN ' + str(torch.backends.cudnn.version())\n"
            "except Exception as e: info['torch'] = f'not available ({e})'\n"
            "print(json.dumps(info))\n"
        )
        status, output, seconds, _ = self.run("environment", [sys.executable, "-c", code], timeout=120)
        info = {}
        if status == 0:
            info = json.loads(output.strip().splitlines()[-1])
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True) if not self.simulate and _has("nvidia-smi") else None
        if smi is not None and smi.returncode == 0:
            info["nvidia-smi"] = smi.stdout.strip()
        info["host"] = f"{platform.node()}, {os.cpu_count()} CPUs"
        self.info = info
        self.record("environment", status == 0, seconds, None, "; ".join(f"{k}: {v}" for k, v in info.items()))
        return info.get("gpu", "")

    def tests(self, timeout: float) -> None:
        command = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "tests/cuda",
                   "tests/test_cuda_device.py"]
        if self.simulate:  # a quick sample: the full simulator run is README's test command
            command += ["-k", "relu or upscale_and_eval or flatten"]
        elif _importable("xdist"):
            # most of the time goes to compiling kernels, which numba does in the process that launches
            # them: one worker per core, each with one Numba thread for the CPU side of the comparisons
            command += ["-n", str(min(16, os.cpu_count() or 1))]
            self.env["NUMBA_NUM_THREADS"] = "1"
        status, output, seconds, memory = self.run("tests", command, timeout=timeout)
        self.env.pop("NUMBA_NUM_THREADS", None)
        summary = _last_line_matching(output, r"(passed|failed|error)") or "no summary (see tests.log)"
        failures = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)
        figures = summary.strip("= ") + ("; failing: " + ", ".join(failures) if failures else "")
        self.record("tests", status == 0, seconds, memory, figures)

    def bench(self) -> None:
        path = self.out / "bench_gpu.json"
        command = [sys.executable, "benchmarks/bench_gpu.py", "--repeats", "20", "--layers", "--json", str(path)]
        status, output, seconds, memory = self.run("bench", command, timeout=240)
        if self.simulate and status == 1 and "no GPU to time" in output:
            self.record("bench", None, seconds, None, "no GPU to time on the simulator")
            return
        if status != 0 or not path.exists():
            self.record("bench", False, seconds, memory, _tail(output))
            return
        results = json.loads(path.read_text())
        parts = []
        for case, f in results["cases"].items():
            text = (f"{case}: tinysr {f['tinysr_ms']:.1f} ms ({f['tinysr_patches_per_s']:.0f} patches/s, "
                    f"{_mib(f['tinysr_peak_mib'])})")
            if "torch_ms" in f:
                text += (f", PyTorch {f['torch_ms']:.1f} ms ({_mib(f['torch_peak_mib'])}), "
                         f"ratio {f['ratio']:.2f} (target <= 3)")
            if case == "srcnn":
                text += (f", {f['tinysr_patches_per_s'] / CPU_SRCNN_PATCHES_PER_S:.0f}x the 2-core CPU's "
                         f"{CPU_SRCNN_PATCHES_PER_S} patches/s (target >= 10x)")
            parts.append(text)
        self.bench_results = results
        self.record("bench", True, seconds, memory, "; ".join(parts))

    def train(self) -> Path | None:
        run_dir = self.out / f"train_{self.model}"
        size = ["--batch-size", "128"]
        if self.simulate:
            size = ["--batch-size", "2", "--patch", "8", "--num-blocks", "1", "--num-features", "4", "--scale", "2"]
        command = self.tinysr("train", self.model, "--device", "cuda", "--out", str(run_dir), "--steps", "1000000",
                              "--no-progress", "--val-every", "1000000", "--checkpoint-every", "1000000",
                              "--schedule", "constant", *size)
        limit = 30 if self.simulate else 60
        _, output, seconds, memory = self.run("train", command, timeout=limit + 120, interrupt_after=limit)
        stopped = re.search(r"interrupted at step (\d+)", output)
        weights = run_dir / "weights.npz"
        ok = stopped is not None and weights.exists()
        if ok:
            steps = int(stopped.group(1))
            batch = int(size[1])
            figures = (f"{steps} steps of batch {batch} in {limit} s after start-up, compilation included "
                       f"({steps * batch / limit:.0f} patches/s over the whole run); weights.npz written")
        else:
            figures = _tail(output)
        self.record("train", ok, seconds, memory, figures)
        return weights if ok else None

    def upscale(self, weights: Path | None) -> None:
        image = SAMPLES / "chelsea.png"
        if self.simulate:
            image = self.out / "chelsea_crop.png"
            _write_crop(SAMPLES / "chelsea.png", image, 20)
        for label, extra in (("trained", ["--weights", str(weights)] if weights else None), ("shipped", [])):
            if self.simulate and label == "shipped":
                self.record(f"upscale ({label} weights)", None, 0, None, "too slow for the simulator")
                continue
            if extra is None:
                self.record(f"upscale ({label} weights)", False, 0, None, "no weights: the train step failed")
                continue
            outputs = {device: self.out / f"chelsea_x{self.scale}_{label}_{device}.png" for device in ("cpu", "cuda")}
            runs, total, memory = self.run_on_both_devices(
                f"upscale_{label}",
                lambda device, extra=extra, outputs=outputs: self.tinysr(
                    "upscale", str(image), "-o", str(outputs[device]), "--scale", str(self.scale), "--model",
                    self.model, "--no-progress", "--device", device, *extra),
                timeout=180)
            worst = next((f"--device {device} failed: {_tail(output)}"
                          for device, (status, output) in runs.items() if status != 0), None)
            if worst is None:
                helper = [sys.executable, str(Path(__file__)), "--compare", self.model, str(self.scale), str(image),
                          str(outputs["cpu"]), str(outputs["cuda"]), extra[1] if extra else "-"]
                status, output, seconds, _ = self.run(f"compare_{label}", helper, timeout=180)
                total += seconds
                if status == 0:
                    comparison = json.loads(output.strip().splitlines()[-1])
                    ok = comparison["network_max_abs_diff"] <= FLOAT32_TOLERANCE and comparison["max_level_diff"] <= 1
                    self.record(f"upscale ({label} weights)", ok, total, memory,
                                f"network output on GPU vs CPU: max abs diff {comparison['network_max_abs_diff']:.1e} "
                                f"(limit {FLOAT32_TOLERANCE:.0e}); PNGs: {comparison['differing_pixels']} of "
                                f"{comparison['pixels']} pixel values differ, by at most "
                                f"{comparison['max_level_diff']} level")
                    continue
                worst = _tail(output)
            self.record(f"upscale ({label} weights)", False, total, None, worst)

    def eval(self, weights: Path | None) -> None:
        folder, models = SAMPLES, ["bicubic", "srcnn"]
        if self.simulate:
            if weights is None:
                self.record("eval", False, 0, None, "no weights: the train step failed")
                return
            folder = self.out / "eval_images"
            folder.mkdir(exist_ok=True)
            _write_crop(SAMPLES / "coffee.png", folder / "coffee.png", 16)
            models = ["bicubic", "srresnet", "--weights", str(weights)]
        runs, total, memory = self.run_on_both_devices(
            "eval", lambda device: self.tinysr("eval", "--data", str(folder), "--scale", str(self.scale),
                                               "--device", device, "--model", *models), timeout=180)
        tables = {}
        for device, (status, output) in runs.items():
            lines = [line for line in output.splitlines() if re.match(r"^(mean|\w+)\s+\d+\.\d+ / ", line)]
            tables[device] = lines if status == 0 else None
        ok = tables["cpu"] is not None and tables["cpu"] == tables["cuda"]
        mean = next((line for line in tables["cuda"] or [] if line.startswith("mean")), "no table")
        figures = ("the table equals the CPU's" if ok else "the tables differ (see eval_cpu.log, eval_cuda.log)")
        self.record("eval", ok, total, memory, f"{figures}; {' '.join(mean.split())}")

    # ------------------------------------------------------------------------------------------ report

    def write_report(self, quiet: bool = False) -> bool:
        failed = [row[0] for row in self.rows if row[1] == "FAILED"]
        lines = [f"# tinysr GPU check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
        if self.simulate:
            lines += ["**Dry run on numba's CUDA simulator: no figure here is a GPU's.**", ""]
        lines += [f"- {key}: {value}" for key, value in getattr(self, "info", {}).items()]
        lines += ["", "| step | verdict | seconds | peak GPU memory | figures |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        lines += ["", f"Result: {'all steps passed' if not failed else 'FAILED: ' + ', '.join(failed)}", ""]
        (self.out / "report.md").write_text("\n".join(lines))
        if not quiet:
            print("\n".join(lines))
        return not failed


def compare(model: str, scale: int, image_path: str, cpu_png: str, cuda_png: str, weights: str | None) -> None:
    """Print, as JSON, how far the GPU's upscale is from the CPU's: the PNGs and the network's float output.

    The network's input is what ``tinysr.upscale`` gives it for the whole image: SRCNN the
    bicubic-upscaled Y channel, SRResNet the low-resolution RGB image.
    """
    import numpy as np

    from tinysr.device import forward_on_host
    from tinysr.image import imresize, read_image, rgb_to_ycbcr, to_float
    from tinysr.upscale import load_model

    a, b = read_image(cpu_png).astype(np.int64), read_image(cuda_png).astype(np.int64)
    levels = np.abs(a - b)
    network = load_model(model, scale, weights)
    image = to_float(read_image(image_path))
    if model == "srcnn":
        x = imresize(rgb_to_ycbcr(image)[:, :, 0], scale)[None, None]
    else:
        x = image.transpose(2, 0, 1)[None]
    x = np.ascontiguousarray(x, dtype=np.float32)
    on_cpu = forward_on_host(network, x)
    on_gpu = forward_on_host(network.to("cuda"), x)
    print(json.dumps({"pixels": int(levels.size), "differing_pixels": int((levels > 0).sum()),
                      "max_level_diff": int(levels.max()),
                      "network_max_abs_diff": float(np.abs(on_cpu - on_gpu).max())}))


def _write_crop(source: Path, target: Path, side: int) -> None:
    from tinysr.image import read_image, write_image

    write_image(target, read_image(source)[:side, :side])


def _has(program: str) -> bool:
    from shutil import which

    return which(program) is not None


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _last_line_matching(text: str, pattern: str) -> str | None:
    matches = [line for line in text.splitlines() if re.search(pattern, line)]
    return matches[-1] if matches else None


def _tail(text: str, lines: int = 3) -> str:
    return " / ".join(line.strip() for line in text.strip().splitlines()[-lines:]).replace("|", "\\|")


def _mib(value: float | None) -> str:
    return "peak n/a" if value is None else f"peak {value:.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check_report"), help="report folder (created)")
    parser.add_argument("--simulate", action="store_true", help="dry run on numba's CUDA simulator (no GPU)")
    parser.add_argument("--deadline", type=float, default=470,
                        help="seconds for the whole check; the tests, run last, get what is left (default: 470)")
    parser.add_argument("--compare", nargs=6, help=argparse.SUPPRESS)  # MODEL SCALE IMAGE CPU_PNG CUDA_PNG WEIGHTS|-
    args = parser.parse_args()
    if args.compare:
        model, scale, image, cpu_png, cuda_png, weights = args.compare
        compare(model, int(scale), image, cpu_png, cuda_png, None if weights == "-" else weights)
        return 0
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    check = Check(args.out, args.simulate)
    started = time.perf_counter()
    gpu = check.environment()
    if not args.simulate and gpu.startswith("none usable"):
        print(f"gpu_check: {gpu}", file=sys.stderr)
        check.write_report()
        return 1
    check.bench()
    weights = check.train()
    check.upscale(weights)
    check.eval(weights)
    check.tests(timeout=max(60.0, args.deadline - (time.perf_counter() - started)))
    print(f"gpu_check: {time.perf_counter() - started:.0f} s in all", flush=True)
    return 0 if check.write_report() else 1


if __name__ == "__main__":
    sys.exit(main())
