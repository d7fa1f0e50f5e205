"""The ``tinysr`` command line (also ``python -m tinysr``): one sub-command per task.

    tinysr demo                      build a tiny network, gradcheck it, train it for a few steps
    tinysr train srcnn --out RUN     train SRCNN (see ``tinysr train --help``)

Bad input ends with one line on stderr and a non-zero exit status, never a traceback:
2 for a malformed command line, 1 for anything found later (a missing folder, a bad checkpoint,
a diverged run), 130 after Ctrl-C (the run was saved first).
"""

from __future__ import annotations

import argparse
import sys

from tinysr.train import DEFAULTS, SCALES, SCHEDULES, SRCNN_PRESETS

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``tinysr train: error: ...``) with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinysr", description="Image super-resolution from scratch on NumPy and Numba.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser("demo", help="build a tiny network, gradcheck it and train it for a few steps")
    demo.add_argument("--steps", type=int, default=200, help="training steps (default: 200)")
    demo.add_argument("--seed", type=int, default=0, help="seed for weights and data (default: 0)")

    _add_train_parser(commands)
    return parser


def _add_train_parser(commands) -> None:
    d = DEFAULTS
    train = commands.add_parser(
        "train", help="train a super-resolution network (SRCNN) with checkpoints, validation and plots",
        description="Train SRCNN on random patches of a folder of images. Writes RUN_DIR/checkpoint.npz (to "
                    "continue with --resume), RUN_DIR/weights.npz (for tinysr upscale --weights) and "
                    "RUN_DIR/curves.png. Ctrl-C saves a checkpoint and stops.",
        epilog="example: tinysr train srcnn --scale 3 --data ../shared/datasets/BSD68 "
               "--val ../shared/datasets/Set14 --out runs/srcnn_x3",
    )
    train.add_argument("model", choices=["srcnn"], help="the network to train")
    train.add_argument("--scale", type=int, choices=SCALES, default=None,
                       help=f"upscaling factor (default: {d['scale']})")
    train.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder for checkpoint, weights and curves")
    train.add_argument("--resume", action="store_true", help="continue the run saved in RUN_DIR, bit for bit")
    train.add_argument("--data", metavar="DIR", help="folder of training images (default: the embedded samples)")
    train.add_argument("--val", metavar="DIR",
                       help="folder of validation images, scored every --val-every steps (default: none)")
    train.add_argument("--preset", choices=SRCNN_PRESETS, default=None,
                       help=f"SRCNN variant f1-f2-f3 (default: {d['preset']}; keras = 128/64 filters, 9-3-5)")
    train.add_argument("--channels", choices=["y", "rgb"], default=None,
                       help=f"train on the Y channel or on RGB (default: {d['channels']})")
    train.add_argument("--steps", type=int, metavar="N", help=f"total training steps (default: {d['steps']})")
    train.add_argument("--batch-size", type=int, metavar="B", help=f"patches per step (default: {d['batch_size']})")
    train.add_argument("--patch", type=int, metavar="P", help=f"patch side in HR pixels (default: {d['patch']})")
    train.add_argument("--lr", type=float, help=f"Adam learning rate at the start (default: {d['lr']:g})")
    train.add_argument("--lr-min", type=float, help=f"learning rate at the end of the cosine decay "
                                                     f"(default: {d['lr_min']:g})")
    train.add_argument("--schedule", choices=SCHEDULES, default=None,
                       help=f"learning-rate schedule (default: {d['schedule']})")
    train.add_argument("--seed", type=int, help=f"seed for the initial weights and the patches (default: {d['seed']})")
    train.add_argument("--val-every", type=int, metavar="K", help=f"validate every K steps (default: {d['val_every']})")
    train.add_argument("--checkpoint-every", type=int, metavar="K",
                       help=f"save a checkpoint every K steps (default: {d['checkpoint_every']})")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.steps < 1:
            parser.error(f"--steps must be >= 1, got {args.steps}")
        from tinysr.demo import run

        run(steps=args.steps, seed=args.seed)
        return 0
    if args.command == "train":
        return _train(args)
    parser.print_help()
    return 1


def _train(args: argparse.Namespace) -> int:
    from tinysr.checkpoint import CheckpointError
    from tinysr.image import ImageError
    from tinysr.train import TrainingDiverged, TrainingError, TrainingInterrupted, train

    settings = {key: getattr(args, key) for key in DEFAULTS if hasattr(args, key)}
    try:
        train(settings, args.out, resume=args.resume, progress=not args.no_progress)
    except TrainingInterrupted as stopped:
        print(f"tinysr train: {stopped}", file=sys.stderr)
        return 130
    except TrainingDiverged as diverged:
        print(f"tinysr train: stopped: {diverged}", file=sys.stderr)
        return 1
    except (TrainingError, CheckpointError, ImageError, ValueError, OSError) as error:
        print(f"tinysr train: error: {error}", file=sys.stderr)
        return 1
    return 0
