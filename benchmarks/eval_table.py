"""README's table: every shipped network on Set5, Set14 and B100 at x2, x3 and x4, with ``tinysr eval``'s protocol.

    python benchmarks/eval_table.py [--datasets ../shared/datasets] [--scales 2 3 4] [--sets Set5 Set14 B100]

For each scale, the bicubic baseline and every network with shipped weights for that scale
(``tinysr/weights/NAME_xS.npz``) are scored with ``tinysr.evaluate.evaluate``: Y-PSNR (dB) / SSIM,
``scale`` border pixels shaved. A network whose weights say they were trained on images of an
evaluation set (BSD68 is part of B100) is not scored there: its cell says why. Prints one
Markdown table per scale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tinysr.checkpoint import load_weights
from tinysr.data import shared_training_folder
from tinysr.evaluate import evaluate
from tinysr.upscale import NETWORKS, shipped_weights_path

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def cell(folder: Path, scale: int, model: str) -> str:
    """``PSNR / SSIM`` of one model on one folder, or why it is not scored there."""
    if model != "bicubic":
        training = load_weights(shipped_weights_path(model, scale))[1].get("training", {}).get("data")
        shared = shared_training_folder(training, folder)
        if shared is not None:
            return f"not scored (trained on {Path(shared).name})"
    results = evaluate(folder, scale, [model])["results"][model]
    return f"{np.mean(results['psnr']):.2f} / {np.mean(results['ssim']):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14", "B100"])
    args = parser.parse_args()
    for scale in args.scales:
        models = ["bicubic"] + [name for name in NETWORKS if shipped_weights_path(name, scale).exists()]
        print(f"\n| x{scale} | " + " | ".join(args.sets) + " |")
        print("| --- |" + " --- |" * len(args.sets))
        for model in models:
            cells = [cell(args.datasets / name, scale, model) for name in args.sets]
            print(f"| {model} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
