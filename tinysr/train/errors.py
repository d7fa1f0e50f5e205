"""The three ways a training run ends early; ``tinysr train`` turns each into one line on stderr."""

from __future__ import annotations

__all__ = ["TrainingDiverged", "TrainingError", "TrainingInterrupted"]


class TrainingError(ValueError):
    """A setting or a run folder that cannot be trained with; the message says which and why."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; ``str(error)`` says where the checkpoint is."""
