"""Every tutorial runs to the end, and writes the figures it says it writes.

Each ``tutorials/NN_*.py`` runs in a fresh Python process (``sys.executable``), in a temporary
working directory, with ``TINYSR_TUTORIAL_OUT`` pointing into that directory, so nothing is
written into the repository. A tutorial asserts what it claims itself (a failed assertion is a
non-zero exit status); this test checks the exit status, and that every figure the tutorial
announces with a line ``figure: PATH`` exists, is a PNG, and lies in the tutorial's own folder
``$TINYSR_TUTORIAL_OUT/NN/``, and that nothing else was left in the working directory. New
tutorials are picked up by the glob, with no change here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS_DIR = Path(__file__).resolve().parents[1] / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("[0-9]*.py")) if TUTORIALS_DIR.is_dir() else []

if not TUTORIALS:  # an installed copy of the tests without the repository around it
    pytest.skip("tutorials/ is not next to the tests", allow_module_level=True)

FIGURE_LINE = re.compile(r"^figure: (.+?)\s*$", re.MULTILINE)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: each tutorial aims at under 30 s (tutorial 6 at about 90 s); this only stops a hung one
TIMEOUT_S = 600


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda path: path.stem)
def test_tutorial_runs_and_writes_its_figures(script: Path, tmp_path: Path):
    out = tmp_path / "tutorial_output"
    env = {**os.environ, "TINYSR_TUTORIAL_OUT": str(out), "MPLBACKEND": "Agg"}
    env.pop("TINYSR_TUTORIAL_LONG", None)  # the defaults, which must stay short
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 0, (
        f"{script.name} exited with status {result.returncode}\n--- stdout (end) ---\n{_tail(result.stdout)}"
        f"\n--- stderr (end) ---\n{_tail(result.stderr)}"
    )

    announced = FIGURE_LINE.findall(result.stdout)
    assert announced, f"{script.name} printed no 'figure: PATH' line; every tutorial writes at least one figure"
    own_folder = (out / script.name[:2]).resolve()
    for name in announced:
        path = (tmp_path / name).resolve()  # a relative path is relative to the working directory
        assert path.is_file(), f"{script.name} announced {name} but did not write it"
        assert path.parent == own_folder, f"{script.name} wrote {path}, expected it in {own_folder}"
        with path.open("rb") as file:
            assert file.read(8) == PNG_SIGNATURE, f"{path} is not a PNG file"
        assert path.stat().st_size > 5000, f"{path} is only {path.stat().st_size} bytes: an empty figure?"
    left_behind = sorted(entry.name for entry in tmp_path.iterdir() if entry != out)
    assert not left_behind, f"{script.name} wrote {left_behind} into its working directory, outside its output folder"


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda path: path.stem)
def test_tutorial_is_a_percent_format_notebook_listed_in_the_readme(script: Path):
    text = script.read_text()
    assert text.startswith("# %% [markdown]"), f"{script.name} should open with a '# %% [markdown]' cell"
    assert text.count("# %%\n") >= 2, f"{script.name} should have code cells ('# %%')"
    readme = (TUTORIALS_DIR / "README.md").read_text()
    assert script.name in readme, f"tutorials/README.md has no line for {script.name}"
