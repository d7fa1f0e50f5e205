"""The ``tinysr`` command line (also ``python -m tinysr``): one sub-command per task.

    tinysr upscale IN... -o OUT      upscale photos with a shipped network (or bicubic, or your weights)
    tinysr eval --data DIR           Y-PSNR / SSIM table (and a figure) with the published protocol
    tinysr train srcnn --out RUN     train SRCNN (see ``tinysr train --help``)
    tinysr demo                      build a tiny network, gradcheck it, train it for a few steps
    tinysr serve                     a local web page: upscale a photo, look inside the network
    tinysr export MODEL -o FILE      a network as safetensors (PyTorch) or ONNX (phones, browsers)

Bad input ends with one line on stderr and a non-zero exit status, never a traceback:
2 for a malformed command line, 1 for anything found later (a missing folder, a bad checkpoint,
a diverged run), 130 after Ctrl-C (the run was saved first).
"""

from __future__ import annotations

import argparse
import sys

from tinysr.train import MODEL_DEFAULTS, SCALES, SCHEDULES, SETTINGS, SRCNN_PRESETS, SRGAN_PRESETS, defaults
from tinysr.upscale import NETWORKS, shipped_weights_path
from tinysr.upscale import SCALES as UPSCALE_SCALES
from tinysr.video import VIDEO_SUFFIXES

#: the networks ``tinysr upscale`` and ``tinysr eval`` take by name
UPSCALERS = tuple(NETWORKS)


def _shipped() -> str:
    """Which scales each network ships weights for, from the files in the package: "srcnn x2 x3 x4, ..."."""
    scales = {name: [f"x{s}" for s in UPSCALE_SCALES if shipped_weights_path(name, s).exists()] for name in UPSCALERS}
    return ", ".join(f"{name} {' '.join(found)}" for name, found in scales.items() if found)

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``tinysr train: error: ...``) with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``tinysr`` argument parser: its ``upscale``, ``eval`` and ``train`` commands and their options."""
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
                         help="image files or folders of images, or one video (.mp4, .mkv, .webm, .gif; "
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
               "--out runs/srgan_x4",
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
                       help="SRGAN: the SRResNet weights.npz or checkpoint.npz to start the generator from (required)")
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


def main(argv: list[str] | None = None) -> int:
    """Run ``tinysr`` with ``argv`` (default: the command line); returns the exit status (0 on success)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.steps < 1:
            parser.error(f"--steps must be >= 1, got {args.steps}")
        from tinysr.demo import run

        run(steps=args.steps, seed=args.seed)
        return 0
    if args.command in ("train", "upscale", "eval"):
        from tinysr.device import DeviceError, check_device

        try:  # "cuda" without a usable GPU: one line, before anything is read or written
            check_device(args.device)
        except DeviceError as error:
            print(f"tinysr {args.command}: error: {error}", file=sys.stderr)
            return 1
    if args.command == "train":
        return _train(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "export":
        return _export(args)
    if args.command in ("upscale", "eval"):
        return _run_reporting_errors(args)
    parser.print_help()
    return 1


def _run_reporting_errors(args: argparse.Namespace) -> int:
    """Run ``upscale`` or ``eval``; any bad input becomes one line on stderr and exit status 1."""
    from tinysr.checkpoint import CheckpointError
    from tinysr.image import ImageError

    try:
        _fill_from_weights(args)
        return _upscale(args) if args.command == "upscale" else _eval(args)
    except (ImageError, CheckpointError, ValueError, TypeError, OSError) as error:
        message = str(error) if not isinstance(error, OSError) or not error.filename else (
            f"{error.filename}: {error.strerror}")
        print(f"tinysr {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tinysr {args.command}: interrupted (finished outputs are complete; none is half-written)",
              file=sys.stderr)
        return 130


def _fill_from_weights(args: argparse.Namespace) -> None:
    """``--model`` and ``--scale`` where they were left out: what the ``--weights`` file holds, else srcnn x3.

    A weights file records its network and scale, so ``tinysr upscale photo.png -o big.png --weights
    runs/fsrcnn_x2/weights.npz`` needs neither; given explicitly, they must agree with the file (else
    ``load_weights`` says which network and scale the file holds).
    """
    saved_model, saved_scale = "srcnn", 3
    if args.weights is not None:
        from tinysr.checkpoint import load_weights

        _, meta = load_weights(args.weights)
        saved_model, saved_scale = meta["model"]["name"], meta["scale"]
    if args.scale is None:
        args.scale = saved_scale
    if args.model is None:
        args.model = saved_model if args.command == "upscale" else ["bicubic", saved_model]


def _export(args: argparse.Namespace) -> int:
    from tinysr.checkpoint import CheckpointError

    try:
        from tinysr.export import export

        path = export(args.source, args.output, format=args.format, scale=args.scale)
    except ImportError as error:
        print(f"tinysr export: error: the export extra is not installed ({error.name} is missing): "
              "pip install 'tinysr[export]'", file=sys.stderr)
        return 1
    except (CheckpointError, ValueError, OSError) as error:
        message = str(error).removeprefix("export: ")
        if isinstance(error, OSError) and error.filename:
            message = f"{error.filename}: {error.strerror}"
        print(f"tinysr export: error: {message}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        print(f"tinysr serve: error: expected --port between 0 and 65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        import multipart  # noqa: F401  (the web extra: python-multipart, Starlette, Uvicorn)
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401

        from tinysr.web import serve
    except ImportError as error:
        print(f"tinysr serve: error: the web extra is not installed ({error.name} is missing): "
              "pip install 'tinysr[web]'", file=sys.stderr)
        return 1
    try:
        serve(args.host, args.port, ready=lambda address: print(f"tinysr serve: {address} (Ctrl-C stops)", flush=True))
    except OSError as error:
        print(f"tinysr serve: error: cannot listen on {args.host}:{args.port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    return 0


def _upscale(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from tinysr.data import IMAGE_SUFFIXES, list_images
    from tinysr.image import read_image, write_image
    from tinysr.upscale import load_model, upscale

    if args.tile is not None and args.tile < 16:
        raise ValueError(f"--tile must be >= 16, got {args.tile}")
    if args.model == "bicubic" and args.weights:
        raise ValueError(f"--weights is for --model {', '.join(UPSCALERS)}; bicubic has no weights")
    files = []
    for name in args.inputs:
        path = Path(name)
        if path.is_dir():
            files.extend(list_images(path))
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"{name}: no such file or folder")
    out = Path(args.out)
    if any(f.suffix.lower() in VIDEO_SUFFIXES for f in files):
        return _upscale_video(args, files, out)
    single = len(files) == 1 and not Path(args.inputs[0]).is_dir() and out.suffix.lower() in IMAGE_SUFFIXES
    if single:
        targets = [out]
    else:
        if out.exists() and not out.is_dir():
            raise ValueError(f"-o {out}: several outputs need a folder, but this is a file")
        targets = [out / f"{f.stem}_x{args.scale}{f.suffix.lower()}" for f in files]
    inputs = {f.resolve() for f in files}
    for target in targets:
        if target.resolve() in inputs:
            raise ValueError(f"{target}: the output would overwrite an input; choose another -o")
    network = load_model(args.model, args.scale, args.weights)  # fails early on bad weights
    if not single:
        out.mkdir(parents=True, exist_ok=True)
    files_bar = tqdm(total=len(files), unit="image", disable=args.no_progress, leave=False)
    for source, target in zip(files, targets):
        image = read_image(source)
        tiles_bar = tqdm(desc=source.name, unit="tile", disable=args.no_progress, leave=False)

        def progress(done, total, bar=tiles_bar):
            bar.total = total
            bar.update(done - bar.n)

        try:
            result = upscale(image, args.scale, network if network is not None else "bicubic",
                             tile=args.tile, progress=progress, device=args.device)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        finally:
            tiles_bar.close()
        write_image(target, result)
        files_bar.update(1)
        files_bar.write(f"{source} -> {target} ({image.shape[1]}x{image.shape[0]} -> "
                        f"{result.shape[1]}x{result.shape[0]})")
    files_bar.close()
    return 0


def _upscale_video(args: argparse.Namespace, files, out) -> int:
    """``tinysr upscale clip.mp4 -o clip_x2.mp4``: one video, frame by frame (``tinysr.video``)."""
    from tqdm import tqdm

    from tinysr.upscale import load_model
    from tinysr.video import upscale_video

    if len(files) != 1:
        raise ValueError(f"a video is upscaled on its own: expected one input, got {len(files)}")
    source = files[0]
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"-o {out}: expected a video file name ending in {', '.join(VIDEO_SUFFIXES)}")
    if out.exists() and out.resolve() == source.resolve():
        raise ValueError(f"{out}: the output would overwrite the input; choose another -o")
    network = load_model(args.model, args.scale, args.weights)
    bars = []  # made at the first frame, so that a file that is not a video gets one line on stderr, no bar

    def progress(done, total):
        if not bars:
            bars.append(tqdm(desc=source.name, unit="frame", disable=args.no_progress, leave=False))
        bars[0].total = total
        bars[0].update(done - bars[0].n)

    try:
        done = upscale_video(source, out, args.scale, network if network is not None else "bicubic",
                             tile=args.tile, device=args.device, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    (width, height), (out_width, out_height) = done["size"], done["out_size"]
    print(f"{source} -> {out} ({done['frames']} frames at {done['fps']:g} fps, {width}x{height} -> "
          f"{out_width}x{out_height}, audio {'copied' if done['audio'] else 'none'})")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tinysr.evaluate import evaluate, format_table, save_figure

    models = list(dict.fromkeys(args.model))
    bars = []  # the bar appears with the first finished image, so that an early error stands alone

    def progress(done, total):
        if not bars:
            bars.append(tqdm(total=total, unit="image", leave=False))
        bars[0].update(done - bars[0].n)

    try:
        report = evaluate(args.data, args.scale, models, weights=args.weights, progress=progress, device=args.device)
    finally:
        for bar in bars:
            bar.close()
    print(format_table(report))
    if args.figure:
        save_figure(args.figure, args.data, args.scale, report, weights=args.weights, device=args.device)
        print(f"figure: {args.figure}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tinysr.checkpoint import CheckpointError
    from tinysr.image import ImageError
    from tinysr.train import TrainingDiverged, TrainingError, TrainingInterrupted, train

    settings = {key: getattr(args, key) for key in SETTINGS if hasattr(args, key)}
    try:
        train(settings, args.out, resume=args.resume, progress=not args.no_progress, device=args.device)
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
