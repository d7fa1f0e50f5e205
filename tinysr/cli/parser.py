"""The ``tinysr`` command's arguments: one sub-parser per command, with its options, defaults and help.

What each command then does is in ``commands.py``.
"""

from __future__ import annotations

import argparse

from tinysr.data import FSRCNN_DOWNSCALES
from tinysr.train import MODEL_DEFAULTS, SCALES, SCHEDULES, SRCNN_PRESETS, SRGAN_PRESETS, defaults
from tinysr.upscale import NETWORKS, shipped_weights_path
from tinysr.upscale import SCALES as UPSCALE_SCALES
from tinysr.video import VIDEO_SUFFIXES

__all__ = ["UPSCALERS", "build_parser"]

#: the networks ``tinysr upscale`` and ``tinysr eval`` take by name
UPSCALERS = tuple(NETWORKS)


def _shipped() -> str:
    """Which scales each network ships weights for, from the files in the package: "srcnn x2 x3 x4, ..."."""
    scales = {name: [f"x{s}" for s in UPSCALE_SCALES if shipped_weights_path(name, s).exists()] for name in UPSCALERS}
    return ", ".join(f"{name} {' '.join(found)}" for name, found in scales.items() if found)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``tinysr train: error: ...``) with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``tinysr`` argument parser: its demo, upscale, eval, train, export and serve commands."""
    parser = _Parser(prog="tinysr", description="Image super-resolution from scratch on NumPy and Numba.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser("demo", help="build a tiny network, gradcheck it and train it for a few steps")
    demo.add_argument("--steps", type=int, default=200, help="training steps (default: 200)")
    demo.add_argument("--seed", type=int, default=0, help="seed for weights and data (default: 0)")

    _add_upscale_parser(commands)
    _add_eval_parser(commands)
    _add_train_parser(commands)

    export = commands.add_parser(
        "export", help="write a network as safetensors (PyTorch's state_dict) or ONNX (pip install 'tinysr[export]')",
        description="Export a shipped network (by name, with --scale) or a weights file from tinysr train, with "
                    "the input and output tinysr upscale gives it (README, 'Use your network elsewhere').")
    export.add_argument("source", metavar="MODEL_OR_WEIGHTS",
                        help=f"{', '.join(UPSCALERS)} (shipped weights: {_shipped()}), or a weights file")
    export.add_argument("--scale", type=int, choices=UPSCALE_SCALES, help="the scale (required with a model name)")
    export.add_argument("--format", choices=["safetensors", "onnx"], help="default: from the suffix of -o")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write")

    serve = commands.add_parser(
        "serve", help="a local web page to upscale a photo and look inside the network (pip install 'tinysr[web]')",
        description="Serve tinysr's web page and its HTTP API (README, 'tinysr serve'). Binds to 127.0.0.1, "
                    "this machine only, unless --host says otherwise.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    return parser


def _add_upscale_parser(commands) -> None:
    upscale = commands.add_parser(
        "upscale", help="upscale images x2, x3 or x4 with the shipped SRCNN, FSRCNN, ESPCN, SRResNet or SRGAN, "
                        "bicubic, or your own weights",
        description="Upscale image files, or every image in a folder. Large images are processed in "
                    "overlapping tiles, so memory stays bounded. Outputs keep the input's format.",
        epilog="examples: tinysr upscale photo.jpg -o photo_x3.png --scale 3;  "
               "tinysr upscale photo.jpg -o photo_x3.png --scale 3 --model fsrcnn;  "
               "tinysr upscale photo.jpg -o photo_x4.png --scale 4 --model srgan;  "
               "tinysr upscale photos/ -o big/ --scale 2 --model bicubic",
    )
    upscale.add_argument("inputs", nargs="+", metavar="IN",
                         help=f"image files or folders of images, or one video ({', '.join(VIDEO_SUFFIXES)}; "
                              "pip install 'tinysr[video]')")
    upscale.add_argument("-o", "--out", required=True, metavar="OUT",
                         help="output file (for one input file) or folder (created if needed); outputs in a "
                              "folder are named NAME_xSCALE.SUFFIX")
    upscale.add_argument("--scale", type=int, choices=SCALES,
                         help="upscaling factor (default: the --weights file's, else 3)")
    upscale.add_argument("--model", choices=[*UPSCALERS, "bicubic"],
                         help=f"a network (default: the one in the --weights file, else srcnn; shipped weights: "
                              f"{_shipped()}), or bicubic")
    upscale.add_argument("--weights", metavar="FILE",
                         help="a weights.npz from tinysr train (or a .safetensors from tinysr export), instead "
                              "of the shipped one; it says which network and scale it holds")
    upscale.add_argument("--tile", type=int, default=None,
                         help="tile side in output pixels (default: 384)")
    upscale.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_device_argument(upscale)


def _add_eval_parser(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="Y-PSNR / SSIM per image and mean, with the protocol of the published tables",
        description="Evaluate upscalers on a folder of HR images: Y channel (MATLAB rgb2ycbcr), bicubic "
                    "degradation, SCALE border pixels shaved, PSNR (peak 255) and SSIM (Wang et al. 2004).",
        epilog="example: tinysr eval --data ../shared/datasets/Set5 --scale 3 --figure set5_x3.png",
    )
    evaluate.add_argument("--data", required=True, metavar="DIR", help="folder of high-resolution images")
    evaluate.add_argument("--scale", type=int, choices=SCALES,
                          help="upscaling factor (default: the --weights file's, else 3)")
    evaluate.add_argument("--model", nargs="+", choices=["bicubic", *UPSCALERS],
                          help=f"methods to compare (default: bicubic and the network in the --weights file, else "
                               f"bicubic srcnn; shipped weights: {_shipped()})")
    evaluate.add_argument("--weights", metavar="FILE",
                          help="weights to use instead of the shipped ones (with one network model)")
    evaluate.add_argument("--figure", metavar="OUT.png", help="also save side-by-side crops of every method")
    _add_device_argument(evaluate)


def _add_train_parser(commands) -> None:
    d, r, g, f = defaults("srcnn"), defaults("srresnet"), defaults("srgan"), defaults("fsrcnn")

    def both(key: str, fmt: str = "") -> str:
        text = f"default: srcnn {d[key]:{fmt}}, srresnet {r[key]:{fmt}}"
        text += f", srgan {g[key]:{fmt}}" if g[key] is not None else ", srgan: its --preset's"
        return text + (f", fsrcnn and espcn {f[key]:{fmt}}" if f[key] is not None else
                       ", fsrcnn and espcn: 20 LR pixels x the scale, 76 at x4")

    train = commands.add_parser(
        "train", help="train a super-resolution network (SRCNN, FSRCNN, ESPCN, SRResNet, SRGAN) with checkpoints, "
                      "validation, plots",
        description="Train SRCNN, FSRCNN, ESPCN or SRResNet (MSE), or SRGAN (adversarial, starting from a trained "
                    "SRResNet: --init) "
                    "on random patches of a folder of images. Writes RUN_DIR/checkpoint.npz (to continue with "
                    "--resume), RUN_DIR/weights.npz (for tinysr upscale --weights), RUN_DIR/curves.png and, for "
                    "SRResNet and SRGAN, RUN_DIR/samples/. Ctrl-C saves a checkpoint and stops.",
        epilog="examples: tinysr train srcnn --scale 3 --data ../shared/datasets/T91 ../shared/datasets/BSD200 "
               "--val tinysr/sample_images --out runs/srcnn_x3;  "
               "tinysr train srresnet --data ../shared/datasets/BSD68 --out runs/srresnet_x4;  "
               "tinysr train srgan --init runs/srresnet_x4/weights.npz --data ../shared/datasets/BSD68 "
               "--out runs/srgan_x4;  a fine-tune: tinysr train fsrcnn --scale 3 --init runs/fsrcnn_x3/checkpoint.npz "
               "--scale-augment --lr 2e-4 --data ... --out runs/fsrcnn_x3_finetune",
    )
    train.add_argument("model", choices=list(MODEL_DEFAULTS), help="the network to train")
    train.add_argument("--scale", type=int, choices=SCALES, default=None,
                       help=f"upscaling factor ({both('scale')}; srresnet takes 2 or 4)")
    train.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder for checkpoint, weights and curves")
    train.add_argument("--resume", action="store_true", help="continue the run saved in RUN_DIR, bit for bit")
    train.add_argument("--data", metavar="DIR", nargs="+",
                       help="folder(s) of training images, pooled (default: the embedded samples); the standard "
                            "291 images: --data ../shared/datasets/T91 ../shared/datasets/BSD200")
    train.add_argument("--val", metavar="DIR",
                       help="folder of validation images, scored every --val-every steps (default: none)")
    train.add_argument("--preset", choices=[*SRCNN_PRESETS, *SRGAN_PRESETS], default=None,
                       help=f"SRCNN: variant f1-f2-f3 (default: {d['preset']}; keras = 128/64 filters, 9-3-5); "
                            f"SRGAN: paper (96x96 HR crops, batch 16; the default) or seed (128x128, batch 1)")
    train.add_argument("--init", metavar="FILE",
                       help="SRGAN: the SRResNet weights.npz or checkpoint.npz to start the generator from "
                            "(required); other networks: start from this weights.npz or checkpoint.npz of the same "
                            "network instead of random weights (a fine-tune; a fresh Adam)")
    train.add_argument("--scale-augment", action="store_true", default=None,
                       help=f"also train on every image shrunk by {', '.join(map(str, FSRCNN_DOWNSCALES))} "
                            f"(FSRCNN's augmentation; {len(FSRCNN_DOWNSCALES) + 1}x the images)")
    train.add_argument("--adversarial-weight", type=float, metavar="W",
                       help=f"SRGAN: weight of the adversarial loss (default: {g['adversarial_weight']:g})")
    train.add_argument("--d-features", type=int, metavar="F",
                       help=f"SRGAN: channels of the discriminator's first conv (default: {g['d_features']})")
    train.add_argument("--channels", choices=["y", "rgb"], default=None,
                       help=f"SRCNN: train on the Y channel or on RGB (default: {d['channels']})")
    train.add_argument("--num-blocks", type=int, metavar="B",
                       help=f"SRResNet: residual blocks (default: {r['num_blocks']})")
    train.add_argument("--num-features", type=int, metavar="F",
                       help=f"SRResNet: channels inside the network (default: {r['num_features']}); FSRCNN: d, "
                            f"its feature channels (default: {f['num_features']})")
    train.add_argument("--shrink-features", type=int, metavar="S",
                       help=f"FSRCNN: s, the channels of its mapping layers (default: {f['shrink_features']})")
    train.add_argument("--mapping-layers", type=int, metavar="M",
                       help=f"FSRCNN: m, its 3x3 mapping layers (default: {f['mapping_layers']})")
    train.add_argument("--steps", type=int, metavar="N", help=f"total training steps ({both('steps')})")
    train.add_argument("--batch-size", type=int, metavar="B", help=f"patches per step ({both('batch_size')})")
    train.add_argument("--patch", type=int, metavar="P", help=f"patch side in HR pixels ({both('patch')})")
    train.add_argument("--lr", type=float, help=f"Adam learning rate at the start ({both('lr', 'g')})")
    train.add_argument("--lr-min", type=float, help=f"learning rate at the end of the cosine decay "
                                                     f"({both('lr_min', 'g')})")
    train.add_argument("--schedule", choices=SCHEDULES, default=None,
                       help=f"learning-rate schedule ({both('schedule')})")
    train.add_argument("--seed", type=int, help=f"seed for the initial weights and the patches (default: {d['seed']})")
    train.add_argument("--val-every", type=int, metavar="K", help=f"validate every K steps (default: {d['val_every']})")
    train.add_argument("--checkpoint-every", type=int, metavar="K",
                       help=f"save a checkpoint every K steps (default: {d['checkpoint_every']})")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    _add_device_argument(train)


def _add_device_argument(parser) -> None:
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the networks run: cpu (default) or cuda (an NVIDIA GPU; pip install "
                             "'tinysr[cuda]')")
