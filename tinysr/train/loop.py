"""The training loop: ``tinysr train srcnn|srresnet|srgan ...`` runs :func:`train`.

One step of SRCNN and SRResNet is the textbook sequence, with nothing hidden (``supervised_step``)::

    optimizer.zero_grad()
    loss = criterion.forward(model.forward(inputs), targets)
    model.backward(criterion.backward())               # fills every parameter's .grad
    optimizer.step()                                   # Adam changes the weights

and the loop around it draws a batch of random patches, sets the learning rate of the step,
runs the step, and records the loss. An SRGAN step is ``tinysr.gan.srgan_step`` (read that file):
each network's recipe (``recipes.py``) says which step it takes, how to build it and its defaults.

Around the loop: a progress bar (loss, steps/s, ETA), the validation Y-PSNR every ``val_every``
steps, and a checkpoint every ``checkpoint_every`` steps and at the end (``report.py``, ``run.py``).
Ctrl-C finishes the current step, saves a checkpoint and stops; a NaN or infinite loss stops the
run before it touches the weights and keeps the last good checkpoint.

Why the defaults (SRCNN 9-5-5 on Y, x3): Adam with a cosine learning-rate decay from 5e-4 to
1e-5 over 60,000 steps of 32 patches of 33x33 (about 1.5 hours on 2 cores). The issue's PyTorch
calibration (constant 3e-4, same batch and patches) was still improving after 30 minutes (~17k
steps); a longer run and a decay that settles the weights at the end go further. A short test at
500 steps had 3e-4 slightly ahead of 1e-3 (Set14 28.17 vs 27.99 dB), so the peak is kept moderate.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from tinysr.data import EVALUATION_SETS, FSRCNN_DOWNSCALES
from tinysr.device import check_device, to_device
from tinysr.losses import MSELoss
from tinysr.train.errors import TrainingDiverged, TrainingInterrupted
from tinysr.train.report import Timing, Validation, postfix, progress_bar
from tinysr.train.run import SAMPLES, WEIGHTS, Run, open_run
from tinysr.train.settings import learning_rate

__all__ = ["supervised_step", "train"]


def supervised_step(run: Run, inputs, targets) -> dict:
    """One step of a network trained on its MSE to the target (SRCNN, SRResNet); returns ``{"loss": ...}``.

    Raises ``FloatingPointError`` (before any weight changes) when the loss is NaN or infinite.
    """
    run.optimizer.zero_grad()
    loss = run.criterion.forward(run.model.forward(inputs), targets)
    if not math.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss}")
    run.model.backward(run.criterion.backward())
    run.set_updating(True)
    run.optimizer.step()
    run.set_updating(False)
    return {"loss": loss}


def train(settings: dict, out: str | Path, *, resume: bool = False, progress: bool = True,
          callback: Callable[[int, float], None] | None = None, log: Callable[[str], None] | None = None,
          device: str = "cpu") -> dict:
    """Train (or continue training) a network; returns a summary dict.

    Args:
        settings: training settings (see ``defaults(model)``); missing ones take the default. When
            resuming, only ``steps``, ``val_every`` and ``checkpoint_every`` may differ from the
            saved run; other given values must equal the saved ones.
        out: the run folder (created if needed). Without ``resume`` it must not hold a checkpoint.
        resume: continue the run saved in ``out``.
        progress: show a tqdm progress bar.
        callback: called as ``callback(step, loss)`` after every completed step (tests use it to
            stop a run; raising ``KeyboardInterrupt`` there behaves like Ctrl-C).
        log: where one-line messages go (default: print, flushed).
        device: "cpu" or "cuda": where the networks, their optimizers and each batch live (the
            run's files are the same either way, so a run may be resumed on the other device).

    Returns:
        ``{"step", "loss", "val_psnr", "bicubic_psnr", "timing", "out"}``.

    Raises:
        TrainingError (bad settings or run folder), TrainingDiverged (NaN/inf loss),
        TrainingInterrupted (Ctrl-C, after saving), CheckpointError, ImageError.
    """
    log = log or _print
    check_device(device)  # before any file is touched: "cuda" without a GPU is a one-line DeviceError
    run = open_run(settings, out, resume=resume, device=device)
    run.criterion = MSELoss()
    take_step = run.recipe.step or supervised_step
    settings, steps = run.settings, run.settings["steps"]
    validation = _start_validation(run, log)
    _log_start(run, log)

    timing, bar, averages = Timing(), progress_bar(steps, run.step, progress), {}
    try:
        with _StopRequest() as stop:
            while run.step < steps:
                if stop.requested:
                    raise KeyboardInterrupt
                timing.start()
                inputs, targets = run.dataset.batch(settings["batch_size"])    # random patches, flips, rotations
                inputs, targets = to_device(inputs, device), to_device(targets, device)
                timing.lap("data")
                for optimizer in run.optimizers():
                    optimizer.lr = learning_rate(run.step, settings)           # cosine decay (or constant)
                try:
                    losses = take_step(run, inputs, targets)                   # forward, backward, update
                except FloatingPointError as error:
                    raise TrainingDiverged(_diverged_message(str(error), run)) from None
                timing.lap("compute")

                run.step += 1
                timing.steps += 1
                run.history["step"].append(run.step)
                for key, value in losses.items():
                    run.history.setdefault(key, []).append(value)
                    averages[key] = value if key not in averages else 0.98 * averages[key] + 0.02 * value
                bar.update(1)
                bar.set_postfix_str(postfix(averages, run.history), refresh=False)
                if validation and (run.step % settings["val_every"] == 0 or run.step == steps):
                    with timing.measure("validation"):
                        message = _validate(run, validation, averages)
                    if progress:
                        bar.write(message)
                    else:
                        log(message)
                if run.step % settings["checkpoint_every"] == 0 and run.step < steps:
                    with timing.measure("checkpoint"):
                        run.save()
                if callback is not None:
                    callback(run.step, losses["loss"])
                timing.lap("bookkeeping")
    except KeyboardInterrupt:
        bar.close()
        if run.updating:  # a second Ctrl-C during an update: the weights are half-updated, keep the old file
            raise TrainingInterrupted(f"interrupted during an update at step {run.step + 1}; "
                                      f"{run.checkpoint_path} (if any) was kept unchanged") from None
        run.save()
        raise TrainingInterrupted(f"interrupted at step {run.step}: checkpoint saved to {run.checkpoint_path}; "
                                  "continue with --resume") from None
    except TrainingDiverged:
        bar.close()
        run.write_curves(" (diverged)")
        raise
    bar.close()
    with timing.measure("checkpoint"):
        run.save()
    log(timing.report())
    return _summary(run, validation, timing, log)


def _print(line: str) -> None:
    print(line, flush=True)  # flushed, so that a log file shows progress as it happens


def _start_validation(run: Run, log) -> Validation | None:
    """The validation images of ``--val`` (None without), their bicubic score logged and kept in the history."""
    from tinysr.data import load_eval_pairs

    settings = run.settings
    if not settings["val"]:
        return None
    scale, channels = settings["scale"], settings["channels"]
    validation = Validation(load_eval_pairs(settings["val"], scale, channels=channels), scale, channels,
                            run.recipe.input_mode)
    run.history.setdefault("bicubic_psnr", [validation.bicubic_psnr])
    log(f"validation on {len(validation.pairs)} images from {settings['val']}: "
        f"bicubic x{scale} Y-PSNR {validation.bicubic_psnr:.2f} dB")
    return validation


def _log_start(run: Run, log) -> None:
    settings = run.settings
    data = settings["data"] if isinstance(settings["data"], list) else [settings["data"]] if settings["data"] else []
    for folder in data:
        if Path(folder).name.lower() in EVALUATION_SETS:
            log(f"warning: training on {folder} makes every score measured on it meaningless")
    discriminator = ("" if run.discriminator is None
                     else f"; discriminator {run.discriminator.num_parameters():,}")
    shrunk = f" (each also shrunk by {', '.join(map(str, FSRCNN_DOWNSCALES))})" if settings["scale_augment"] else ""
    start = f", starting from {settings['init']}" if settings["init"] else ""
    log(f"training {run.name} ({run.model.num_parameters():,} parameters{discriminator}{start}) on "
        f"{run.dataset.num_images} images{shrunk} from {', '.join(data) or 'the embedded samples'}: "
        f"steps {run.step}..{settings['steps']}, batch {settings['batch_size']} of {settings['patch']}x"
        f"{settings['patch']}, Adam lr {settings['lr']:g} ({settings['schedule']}) -> {run.out}")


def _validate(run: Run, validation: Validation, averages: dict) -> str:
    """Score the network on the validation images (and save a sample grid); returns the line to show."""
    run.history["val_step"].append(run.step)
    run.history["val_psnr"].append(validation.psnr(run.model))
    if run.recipe.input_mode == "lr" and run.settings["channels"] == "rgb":  # RGB networks that upscale themselves
        validation.save_grid(run.model, run.out / SAMPLES / f"step_{run.step:06d}.png",
                             title=f"{run.name}, step {run.step}")
    return (f"step {run.step}: validation Y-PSNR {run.history['val_psnr'][-1]:.2f} dB "
            f"(bicubic {validation.bicubic_psnr:.2f}), {postfix(averages, {})}")


def _diverged_message(what: str, run: Run) -> str:
    step = run.step + 1
    kept = (f"the last good checkpoint {run.checkpoint_path} is kept" if run.checkpoint_path.exists()
            else "no checkpoint had been written yet")
    return (f"{what} at step {step} (learning rate {learning_rate(step - 1, run.settings):.3g}); "
            f"training stopped and {kept}; try a lower --lr")


def _summary(run: Run, validation: Validation | None, timing: Timing, log) -> dict:
    history = run.history
    summary = {
        "step": run.step,
        "loss": history["loss"][-1] if history["loss"] else None,
        "val_psnr": history["val_psnr"][-1] if history["val_psnr"] else None,
        "bicubic_psnr": validation.bicubic_psnr if validation else None,
        "timing": timing.summary(),
        "out": str(run.out),
    }
    final = f"done: {run.step} steps, weights in {run.out / WEIGHTS}"
    if summary["val_psnr"] is not None:
        final += f", validation Y-PSNR {summary['val_psnr']:.2f} dB (bicubic {summary['bicubic_psnr']:.2f})"
    log(final)
    return summary


class _StopRequest:
    """While active, Ctrl-C (SIGINT) only sets ``requested``: the loop stops between steps.

    A second Ctrl-C raises ``KeyboardInterrupt`` at once. Outside the main thread (where signal
    handlers cannot be installed) nothing changes and Ctrl-C raises as usual.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
