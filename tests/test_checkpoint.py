"""Weights files and checkpoints: round trips, atomic writes, and a clear error for every bad file."""

import os

import numpy as np
import pytest

from tinysr import checkpoint
from tinysr.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint, save_weights
from tinysr.models import SRCNN
from tinysr.optim import Adam


def small_model(seed=0, **kwargs):
    return SRCNN(n1=4, n2=3, f1=3, f2=1, f3=3, rng=seed, **kwargs)


def test_weights_round_trip(tmp_path):
    model = small_model()
    save_weights(tmp_path / "w.npz", model, scale=3, extra={"step": 7})
    loaded, meta = load_weights(tmp_path / "w.npz", expected_scale=3, expected_model="srcnn")
    assert meta["format"] == "tinysr-weights" and meta["version"] == 1
    assert meta["scale"] == 3 and meta["step"] == 7 and meta["model"] == model.config
    assert loaded.config == model.config
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], value)
        assert loaded.state_dict()[name].dtype == np.float32


def test_weights_for_another_scale_or_architecture_are_refused(tmp_path):
    path = tmp_path / "w.npz"
    save_weights(path, small_model(), scale=2)
    with pytest.raises(CheckpointError, match=r"trained for x2 upscaling, not the x3 asked for"):
        load_weights(path, expected_scale=3)
    with pytest.raises(CheckpointError, match=r"holds a srcnn \(channels=1, n1=4.*not the srgan"):
        load_weights(path, expected_model="srgan")
    with pytest.raises(CheckpointError, match="not the srcnn"):
        load_weights(path, expected_model=SRCNN(rng=0).config)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_text("hello"), "is not a tinysr weights file"),
    (lambda p: np.savez(p, a=np.zeros(3)), "has no '__meta__' entry"),
    (lambda p: np.savez(p, __meta__=np.array('{"format": "other"}')), "format 'other'"),
    (lambda p: np.savez(p, __meta__=np.array("{not json")), "metadata is not valid JSON"),
])
def test_files_that_are_not_tinysr_weights(tmp_path, make, message):
    path = tmp_path / "w.npz"
    make(path)
    with pytest.raises(CheckpointError, match=message):
        load_weights(path)


def test_truncated_and_mismatched_files_are_called_corrupt(tmp_path):
    path = tmp_path / "w.npz"
    save_weights(path, small_model(), scale=3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_weights(path)
    # a config that does not fit the arrays (edited by hand, or written by a buggy tool)
    arrays = small_model().state_dict()
    arrays["conv1.weight"] = np.zeros((5, 1, 3, 3), np.float32)
    meta = '{"format": "tinysr-weights", "version": 1, "scale": 3, "model": ' \
           '{"name": "srcnn", "channels": 1, "n1": 4, "n2": 3, "f1": 3, "f2": 1, "f3": 3}}'
    np.savez(path, __meta__=np.array(meta), **arrays)
    with pytest.raises(CheckpointError, match="arrays do not fit its model config"):
        load_weights(path)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    save_weights(path, small_model(seed=0), scale=3)
    before = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        save_weights(path, small_model(seed=1), scale=3)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]


def test_checkpoint_round_trip_restores_optimizer_and_random_state(tmp_path):
    model = small_model()
    optimizer = Adam(model.parameters(), lr=2e-3)
    x = np.random.default_rng(0).random((2, 1, 6, 6), dtype=np.float32)
    model.forward(x)
    model.backward(np.ones_like(x))
    optimizer.step()
    generator = np.random.default_rng(3)
    save_checkpoint(tmp_path / "c.npz", model=model, optimizer=optimizer, step=11,
                    dataset_state={"rng": generator.bit_generator.state},
                    rng_state={"extra": [1, 2.5, np.arange(3)]}, config={"lr": 2e-3, "data": None},
                    history={"loss": np.array([0.5, 0.25])})
    loaded = load_checkpoint(tmp_path / "c.npz")
    assert loaded["step"] == 11 and loaded["config"] == {"lr": 2e-3, "data": None}
    assert loaded["dataset_state"]["rng"] == generator.bit_generator.state
    np.testing.assert_array_equal(loaded["rng_state"]["extra"][2], np.arange(3))
    np.testing.assert_array_equal(loaded["history"]["loss"], [0.5, 0.25])
    restored = Adam(loaded["model"].parameters())
    restored.load_state_dict(loaded["optimizer"])
    assert restored.lr == 2e-3
    for i, state in optimizer.state.items():
        assert restored.state[i]["step"] == state["step"]
        np.testing.assert_array_equal(restored.state[i]["exp_avg_sq"], state["exp_avg_sq"])
    with pytest.raises(CheckpointError, match="is not a tinysr checkpoint file"):
        load_checkpoint(_weights_file(tmp_path))


def _weights_file(folder):
    save_weights(folder / "w.npz", small_model(), scale=3)
    return folder / "w.npz"
