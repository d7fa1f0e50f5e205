"""What ``gradcheck`` reports: one ``TensorCheck`` per tensor, a ``GradcheckReport``, and a hint at the bug.

``gradcheck`` (``tinysr/gradcheck.py``) measures the errors; this file turns them into a verdict a
learner can act on: the worst element, its analytic and numeric values, and a guess at the kind
of bug from the pattern of the mismatch (a sign error, a factor 2, a missing 1/N, a border).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["GradcheckError", "GradcheckReport", "TensorCheck", "compare"]


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with finite differences (or backward returned a wrong shape)."""


@dataclass
class TensorCheck:
    """What was checked in one tensor, and where it was worst.

    ``name`` is ``"input 0"`` for the first input, or a parameter name such as ``"1.bias"``.
    ``worst_index`` is the index (a tuple) of the element with the largest error, where the
    gradients were ``worst_analytic`` and ``worst_numeric``.
    """

    name: str
    shape: tuple[int, ...]
    num_checked: int
    max_error: float
    worst_index: tuple[int, ...]
    worst_analytic: float
    worst_numeric: float
    passed: bool
    hint: str = ""

    @property
    def num_elements(self) -> int:
        """How many elements of the tensor were compared."""
        return int(np.prod(self.shape, dtype=np.int64))

    def location(self) -> str:
        """Where the largest error is, as an index tuple into the tensor."""
        return f"{self.name}[{', '.join(str(i) for i in self.worst_index)}]"


@dataclass
class GradcheckReport:
    """The outcome of ``gradcheck``: one ``TensorCheck`` per checked tensor and the overall verdict."""

    passed: bool
    max_error: float
    tensors: list[TensorCheck] = field(default_factory=list)
    eps: float = 1e-6
    rtol: float = 1e-6
    atol: float = 1e-2
    seed: int = 0
    floor: float = 1e-2  #: ``atol * max(1, G)``, the denominator's floor used in this check

    @property
    def worst(self) -> TensorCheck | None:
        """The tensor check with the largest error (``None`` if nothing was checked)."""
        if not self.tensors:
            return None
        return max(self.tensors, key=lambda t: t.max_error)

    @property
    def num_checked(self) -> int:
        """How many elements were compared, over every tensor."""
        return sum(t.num_checked for t in self.tensors)

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        head = f"gradcheck {verdict}: worst error {self.max_error:.2e} (rtol {self.rtol:.0e})"
        worst = self.worst
        if worst is not None:
            head += (
                f" at {worst.location()}: analytic {worst.worst_analytic:.6g}, "
                f"numeric {worst.worst_numeric:.6g}"
            )
        checked = ", ".join(f"{t.name} {t.num_checked}/{t.num_elements}" for t in self.tensors)
        return f"{head}; elements checked: {checked}"

    def failure_message(self) -> str:
        """The long form used by ``GradcheckError``: every tensor, then what to look at."""
        measure = f"error = |a - n| / max(|a|, |n|, floor), floor = atol * max(1, G) = {self.floor:.3g}"
        lines = [str(self), f"per tensor ({measure}; eps {self.eps:g}, seed {self.seed}):"]
        for t in self.tensors:
            status = "ok" if t.passed else "FAILED"
            lines.append(
                f"  {t.name:>12} shape {t.shape}: max error {t.max_error:.2e} at {t.location()} "
                f"(analytic {t.worst_analytic:.6g}, numeric {t.worst_numeric:.6g}) {status}"
            )
        for t in self.tensors:
            if not t.passed and t.hint:
                lines.append(f"hint for {t.name}: {t.hint}")
        return "\n".join(lines)


def compare(name, shape, chosen, analytic, numeric, rtol, floor) -> TensorCheck:
    """Errors ``|a - n| / max(|a|, |n|, floor)`` of one tensor's checked elements, and the worst."""
    if len(chosen) == 0:
        return TensorCheck(name, tuple(shape), 0, 0.0, (), 0.0, 0.0, True)
    with np.errstate(invalid="ignore", over="ignore"):
        errors = np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    errors = np.where(np.isfinite(errors), errors, np.inf)  # a NaN gradient is a failure
    k = int(np.argmax(errors))
    max_error = float(errors[k])
    passed = max_error <= rtol
    index = tuple(int(i) for i in np.unravel_index(int(chosen[k]), shape))
    hint = "" if passed else _hint(name, analytic, numeric, errors, rtol, floor)
    return TensorCheck(name, tuple(shape), len(chosen), max_error, index,
                       float(analytic[k]), float(numeric[k]), passed, hint)


def _hint(name, analytic, numeric, errors, rtol, floor) -> str:
    """Guess the kind of bug from the pattern of the mismatch."""
    is_param = not name.startswith("input ")
    if not np.all(np.isfinite(analytic)):
        return "the analytic gradient contains NaN or inf: look for a division by zero or a log of 0."
    if np.all(analytic == 0) and np.any(np.abs(numeric) > floor * rtol):
        if is_param:
            return (f"the analytic gradient is zero everywhere: backward never added into {name}.grad "
                    f"(write {name}.grad += ... in backward).")
        return "backward returned zeros for this input although the output depends on it."
    if np.all(np.abs(numeric) <= floor * rtol) and np.any(analytic != 0):
        return ("the numeric gradient is zero: the output does not depend on this tensor, so backward "
                "should return zeros for it (or forward forgot to use it).")
    # judge the ratio where the gradient stands well above round-off
    big = np.abs(numeric) >= 0.1 * np.max(np.abs(numeric))
    if big.any():
        ratios = analytic[big] / numeric[big]
        ratio = float(np.median(ratios))
        if np.allclose(ratios, ratio, rtol=1e-3):
            if abs(ratio + 1) < 1e-3:
                return "analytic == -numeric everywhere: a sign error."
            if abs(ratio - 2) < 1e-3 or abs(ratio - 0.5) < 1e-3:
                return (f"analytic == {ratio:g} * numeric everywhere: a factor-2 error (a term counted "
                        "twice, or a missing 1/2 or 2 from a square).")
            return (f"analytic == {ratio:.4g} * numeric everywhere: a missing or extra constant factor "
                    "(e.g. 1/N of a mean, a scale, a step size).")
    bad = int(np.sum(errors > rtol))
    if bad < len(errors):
        return (f"only {bad} of {len(errors)} checked elements are wrong: look at indexing, borders "
                "(padding, stride) or a special case in backward.")
    return "every checked element is wrong, without a simple pattern: re-derive the backward equation."
