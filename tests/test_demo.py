"""The quick-start demo: its gradient check passes and training lowers the loss."""

from tinysr.__main__ import main
from tinysr.demo import run


def test_demo_checks_gradients_and_learns():
    result = run(steps=60, seed=1)
    assert result["gradcheck"].passed
    assert result["last_loss"] < 0.5 * result["first_loss"]


def test_command_line_runs_the_demo(capsys):
    assert main(["demo", "--steps", "5"]) == 0
    assert "gradcheck passed" in capsys.readouterr().out


def test_command_line_rejects_bad_steps(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--steps", "0"])
    assert exit_info.value.code == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
