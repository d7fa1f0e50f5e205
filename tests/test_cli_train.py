"""``tinysr train`` as a user runs it (a subprocess): one-line errors, no tracebacks, a run and its resume."""

import subprocess
import sys

import pytest

from tinysr.__main__ import main as module_main
from tinysr.cli import main


def tinysr(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tinysr", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def assert_one_line_error(result, message):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--scale", "5"], "invalid choice: 5"),
    (["--data", "/no/such/folder"], "--data folder /no/such/folder does not exist"),
    (["--resume"], "checkpoint.npz does not exist"),
    (["--lr", "abc"], "argument --lr: invalid float value: 'abc'"),
    (["--lr", "nan"], "--lr must be a positive number"),
    (["--steps", "-3"], "--steps must be a positive integer"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
])
def test_bad_input_is_one_line_without_traceback(tmp_path, args, message):
    result = tinysr("train", "srcnn", "--out", str(tmp_path / "run"), *args)
    assert_one_line_error(result, message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("model", ["srcnn", "fsrcnn", "espcn"])
@pytest.mark.parametrize("option", ["--data", "--val"])
def test_a_folder_without_images_is_one_line_and_leaves_no_run_folder(tmp_path, model, option):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    result = tinysr("train", model, "--out", str(tmp_path / "run"), option, str(tmp_path / "empty"), "--steps", "2")
    assert_one_line_error(result, "holds no image files")
    assert not (tmp_path / "run").exists()


def test_a_run_refuses_to_overwrite_and_resumes(tmp_path):
    out = str(tmp_path / "run")
    common = ["train", "srcnn", "--out", out, "--preset", "9-1-5", "--patch", "17", "--batch-size", "4",
              "--no-progress"]
    first = tinysr(*common, "--steps", "3")
    assert first.returncode == 0, first.stderr
    assert "time per step" in first.stdout and "done: 3 steps" in first.stdout
    assert_one_line_error(tinysr(*common, "--steps", "3"), "already holds a run")
    resumed = tinysr(*common, "--steps", "5", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "steps 3..5" in resumed.stdout
    assert_one_line_error(tinysr(*common, "--resume", "--lr", "0.1"), "--lr 0.1 differs from the saved")


def test_main_is_shared_by_the_module_and_the_console_script(capsys):
    assert module_main is main
    assert main([]) == 1
    assert "train" in capsys.readouterr().out


def test_init_with_another_networks_weights_is_one_line(tmp_path):
    from tinysr.upscale import shipped_weights_path

    srcnn = str(shipped_weights_path("srcnn", 3))
    result = tinysr("train", "fsrcnn", "--init", srcnn, "--scale-augment", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "holds a srcnn (channels=1, n1=64")
    assert not (tmp_path / "run").exists()
