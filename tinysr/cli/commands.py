"""What each ``tinysr`` command does with its parsed arguments (``parser.py`` defines them).

Bad input ends with one line on stderr and a non-zero exit status, never a traceback:
2 for a malformed command line, 1 for anything found later (a missing folder, a bad checkpoint,
a diverged run), 130 after Ctrl-C (the run was saved first).
"""

from __future__ import annotations

import argparse
import sys

from tinysr.cli.parser import UPSCALERS, build_parser
from tinysr.train import SETTINGS
from tinysr.video import VIDEO_SUFFIXES

__all__ = ["main"]


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
