"""A training run: what it holds between steps, how it starts or resumes, and how it is saved.

A run lives in one folder::

    RUN_DIR/checkpoint.npz    everything needed to continue bit for bit (--resume)
    RUN_DIR/weights.npz       just the network, for ``tinysr upscale --weights``
    RUN_DIR/curves.png        loss and validation PSNR against step (and D(real), D(fake) for SRGAN)
    RUN_DIR/samples/          SRResNet and SRGAN: a grid of validation crops (LR, output, HR) per validation

Every file is written atomically (``tinysr/checkpoint.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinysr.checkpoint import load_checkpoint, save_checkpoint, save_weights
from tinysr.nn import Module
from tinysr.optim import Adam
from tinysr.train.errors import TrainingError
from tinysr.train.recipes import RECIPES, Recipe, start_from_init
from tinysr.train.report import write_curves
from tinysr.train.settings import check_settings, resumed_settings

__all__ = ["CHECKPOINT", "CURVES", "SAMPLES", "WEIGHTS", "Run", "open_run"]

CHECKPOINT = "checkpoint.npz"
WEIGHTS = "weights.npz"
CURVES = "curves.png"
SAMPLES = "samples"


@dataclass
class Run:
    """Everything a run holds between steps; ``save()`` writes it, ``open_run(..., resume=True)`` reads it back.

    ``model`` is the network being trained (in a GAN run, the generator); ``discriminator`` and
    its optimizer are ``None`` except in a GAN run. ``history`` holds the curves: ``step``,
    ``loss`` (and a GAN's ``d_loss``, ``d_real``, ...), ``val_step``, ``val_psnr``, ``bicubic_psnr``.
    """

    settings: dict
    out: Path
    recipe: Recipe
    model: Module
    optimizer: Adam
    dataset: object  # tinysr.data.SRDataset
    step: int = 0
    history: dict = field(default_factory=lambda: {"step": [], "loss": [], "val_step": [], "val_psnr": []})
    discriminator: Module | None = None
    discriminator_optimizer: Adam | None = None
    #: the loss a supervised step minimises (the loop sets it: ``MSELoss()``)
    criterion: object = None
    #: True while weights change: a second Ctrl-C then keeps the old checkpoint instead of saving half an update
    updating: bool = False

    @property
    def checkpoint_path(self) -> Path:
        """``RUN_DIR/checkpoint.npz``."""
        return self.out / CHECKPOINT

    @property
    def name(self) -> str:
        """The network in one line: "SRCNN 9-5-5 Y x3"."""
        return self.recipe.describe(self.settings, self.model)

    def optimizers(self) -> list[Adam]:
        """The run's optimizers (the discriminator's too in a GAN run)."""
        return [self.optimizer] + ([self.discriminator_optimizer] if self.discriminator_optimizer else [])

    def set_updating(self, flag: bool) -> None:
        """Mark that weights are (or are no longer) being changed."""
        self.updating = flag

    def save(self) -> None:
        """Write the checkpoint, the weights and the curves (each atomically), making the folder if needed.

        The folder is made here, at the first save, not when the run opens: a run that fails on its
        images or settings leaves nothing behind, not even an empty folder.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        history = {key: np.asarray(value, dtype=np.float64) for key, value in self.history.items()}
        save_checkpoint(self.checkpoint_path, model=self.model, optimizer=self.optimizer, step=self.step,
                        dataset_state=self.dataset.state_dict(), config=self.settings, history=history,
                        discriminator=self.discriminator, discriminator_optimizer=self.discriminator_optimizer)
        extra = {"step": self.step, "training": self.settings}
        if self.history["val_psnr"]:
            extra["val_psnr"] = self.history["val_psnr"][-1]
        save_weights(self.out / WEIGHTS, self.model, scale=self.settings["scale"], extra=extra)
        self.write_curves()

    def write_curves(self, note: str = "") -> None:
        """Write ``curves.png`` (atomically); ``note`` is added to its title."""
        self.out.mkdir(parents=True, exist_ok=True)
        write_curves(self.out / CURVES, self.history, title=self.name + note, label=self.name.split()[0])


def open_run(settings: dict, out: str | Path, *, resume: bool, device: str) -> Run:
    """A new run in ``out`` (its settings checked, its networks built), or the one saved there (``resume``).

    The networks and their optimizers are on ``device``; the dataset draws its patches where the
    saved run left off. Raises ``TrainingError`` for a bad folder or bad settings.
    """
    from tinysr.data import FSRCNN_DOWNSCALES, SRDataset  # images are only needed once a run starts

    out = Path(out)
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise TrainingError(f"--resume: {out / CHECKPOINT} does not exist; start a new run without --resume")
        saved = load_checkpoint(out / CHECKPOINT)
        settings = resumed_settings(saved["config"], settings)
        model, discriminator = saved["model"], saved["discriminator"]
    else:
        if (out / CHECKPOINT).exists():
            raise TrainingError(
                f"{out} already holds a run ({CHECKPOINT}); pass --resume to continue it or choose another --out"
            )
        settings = check_settings(settings)
        if out.exists() and not out.is_dir():
            raise TrainingError(f"--out {out} exists and is not a folder")
        model, discriminator = RECIPES[settings["model"]].build(settings)
        if not RECIPES[settings["model"]].build_reads_init:  # a fine-tune; SRGAN's build reads --init itself
            model = start_from_init(settings, model)

    recipe = RECIPES[settings["model"]]
    dataset = SRDataset(settings["data"], scale=settings["scale"], patch_size=settings["patch"],
                        mode=recipe.input_mode, channels=settings["channels"], seed=settings["seed"], augment=True,
                        downscales=FSRCNN_DOWNSCALES if settings["scale_augment"] else ())
    model.to(device)
    run = Run(settings, out, recipe, model, Adam(model.parameters(), lr=settings["lr"]), dataset)
    if discriminator is not None:
        run.discriminator = discriminator.to(device)
        run.discriminator_optimizer = Adam(discriminator.parameters(), lr=settings["lr"])
    if resume:
        run.step = saved["step"]
        run.history = {key: list(np.asarray(value).tolist()) for key, value in saved["history"].items()}
        dataset.load_state_dict(saved["dataset_state"])
        run.optimizer.load_state_dict(saved["optimizer"])
        if run.discriminator_optimizer is not None:
            run.discriminator_optimizer.load_state_dict(saved["discriminator_optimizer"])
    return run
