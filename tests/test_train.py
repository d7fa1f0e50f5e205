"""The training loop: bit-exact resume, Ctrl-C, NaN stop, refusing to overwrite, a real short run."""

import numpy as np
import pytest

from tinysr.checkpoint import load_checkpoint
from tinysr.data import sample_images_dir
from tinysr.train import TrainingDiverged, TrainingError, TrainingInterrupted, learning_rate, train
from tinysr.train import loop as train_loop

# small and quick: the 9-1-5 preset on 17x17 patches of the embedded images
SMALL = {"preset": "9-1-5", "patch": 17, "batch_size": 4, "steps": 8, "checkpoint_every": 3, "val_every": 4}


def run(out, resume=False, callback=None, **changes):
    return train({**SMALL, **changes}, out, resume=resume, progress=False, callback=callback, log=lambda line: None)


def weights_of(run_dir):
    with np.load(run_dir / "weights.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files if name != "__meta__"}


def assert_same_weights(a, b):
    wa, wb = weights_of(a), weights_of(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert wa[name].tobytes() == wb[name].tobytes(), name


def stop_at(step_to_stop):
    def callback(step, loss):
        if step == step_to_stop:
            raise KeyboardInterrupt

    return callback


def test_interrupt_then_resume_is_bit_exact(tmp_path):
    run(tmp_path / "straight")
    with pytest.raises(TrainingInterrupted, match="interrupted at step 4: checkpoint saved"):
        run(tmp_path / "split", callback=stop_at(4))
    assert load_checkpoint(tmp_path / "split" / "checkpoint.npz")["step"] == 4
    summary = run(tmp_path / "split", resume=True)
    assert summary["step"] == 8
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    split = load_checkpoint(tmp_path / "split" / "checkpoint.npz")
    assert straight["dataset_state"] == split["dataset_state"]
    np.testing.assert_array_equal(straight["history"]["loss"], split["history"]["loss"])
    for i, state in straight["optimizer"]["state"].items():
        assert state["exp_avg"].tobytes() == split["optimizer"]["state"][i]["exp_avg"].tobytes()


def test_resume_with_more_steps_continues_a_constant_schedule_exactly(tmp_path):
    run(tmp_path / "straight", schedule="constant")
    run(tmp_path / "split", schedule="constant", steps=4)
    run(tmp_path / "split", resume=True, steps=8)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    class NaNAfterFive(train_loop.MSELoss):
        calls = 0

        def forward(self, prediction, target):
            NaNAfterFive.calls += 1
            loss = super().forward(prediction, target)
            return float("nan") if NaNAfterFive.calls >= 5 else loss

    monkeypatch.setattr(train_loop, "MSELoss", NaNAfterFive)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5 .*last good checkpoint .* is kept"):
        run(out)
    assert load_checkpoint(out / "checkpoint.npz")["step"] == 3
    assert (out / "curves.png").is_file()


def test_huge_learning_rate_diverges_with_a_clear_message(tmp_path):
    with pytest.raises(TrainingDiverged, match="try a lower --lr"):
        run(tmp_path / "run", lr=1e12, lr_min=1e12, steps=30, checkpoint_every=100)


def test_run_folder_rules(tmp_path):
    with pytest.raises(TrainingError, match=r"--resume: .*checkpoint\.npz does not exist"):
        run(tmp_path / "empty", resume=True)
    run(tmp_path / "run", steps=2)
    with pytest.raises(TrainingError, match=r"already holds a run .*pass --resume"):
        run(tmp_path / "run", steps=2)
    with pytest.raises(TrainingError, match=r"--lr 0\.5 differs from the saved 0\.0005"):
        run(tmp_path / "run", resume=True, lr=0.5)


@pytest.mark.parametrize(("changes", "message"), [
    ({"scale": 5}, "unsupported scale 5"),
    ({"steps": 0}, "--steps must be a positive integer"),
    ({"lr": float("nan")}, "--lr must be a positive number"),
    ({"data": "/no/such/folder"}, "--data folder /no/such/folder does not exist"),
    ({"preset": "1-2-3"}, "unknown preset"),
])
def test_bad_settings_are_explained(tmp_path, changes, message):
    with pytest.raises(TrainingError, match=message):
        run(tmp_path / "run", **changes)
    assert not (tmp_path / "run").exists()


def test_cosine_schedule_goes_from_lr_to_lr_min():
    settings = {"schedule": "cosine", "lr": 1e-3, "lr_min": 1e-5, "steps": 100}
    assert learning_rate(0, settings) == pytest.approx(1e-3)
    assert learning_rate(50, settings) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate(100, settings) == pytest.approx(1e-5)
    assert learning_rate(7, {**settings, "schedule": "constant"}) == 1e-3


def test_a_short_real_run_learns_and_writes_its_files(tmp_path):
    losses = []
    summary = run(tmp_path / "run", steps=40, batch_size=16, lr=2e-3, val_every=40, checkpoint_every=20,
                  val=str(sample_images_dir()), callback=lambda step, loss: losses.append(loss))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert summary["val_psnr"] > 15 and summary["bicubic_psnr"] > 20
    for name in ("checkpoint.npz", "weights.npz", "curves.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timing = summary["timing"]
    assert timing["steps"] == 40 and timing["compute"] > 0 and timing["bookkeeping"] >= 0


def test_a_new_network_is_one_recipe(tmp_path, monkeypatch):
    """Adding a network to ``tinysr train`` is adding a Recipe: the loop, checkpoints and resume need nothing else."""
    from tinysr.models import SRResNet
    from tinysr.train import RECIPES, Recipe, check_settings

    tiny = Recipe(
        name="tiny",
        defaults={"width": 4, "channels": "rgb", "scale": 2, "steps": 4, "batch_size": 2, "patch": 16,
                  "lr": 1e-3, "lr_min": 1e-5},
        scales=(2,),
        input_mode="lr",
        build=lambda s: (SRResNet(s["scale"], 1, s["width"], rng=np.random.default_rng(s["seed"])), None),
        describe=lambda s, model: f"tiny {s['width']} x{s['scale']}",
    )
    monkeypatch.setitem(RECIPES, "tiny", tiny)
    quiet = {"progress": False, "log": lambda line: None}
    straight = train({"model": "tiny", "width": 3, "checkpoint_every": 2}, tmp_path / "straight", **quiet)
    assert straight["step"] == 4 and np.isfinite(straight["loss"])
    assert load_checkpoint(tmp_path / "straight" / "checkpoint.npz")["config"]["width"] == 3
    with pytest.raises(TrainingInterrupted):
        train({"model": "tiny", "width": 3}, tmp_path / "split", callback=stop_at(2), **quiet)
    train({}, tmp_path / "split", resume=True, **quiet)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    with pytest.raises(TrainingError, match="--width does not apply to srcnn"):
        check_settings({"model": "srcnn", "width": 4})
    with pytest.raises(TrainingError, match="unsupported scale 3 for tiny"):
        check_settings({"model": "tiny", "scale": 3})


@pytest.mark.parametrize("model, scale", [("fsrcnn", 3), ("espcn", 2)])
def test_fsrcnn_and_espcn_train_validate_and_resume(tmp_path, model, scale):
    """The networks that read the LR Y channel: their recipes, a validation on whole images, a bit-exact resume."""
    settings = {"model": model, "scale": scale, "steps": 4, "batch_size": 3, "checkpoint_every": 2, "val_every": 4,
                "val": str(sample_images_dir())}
    if model == "fsrcnn":
        settings.update(num_features=8, shrink_features=4, mapping_layers=1)
    quiet = {"progress": False, "log": lambda line: None}
    summary = train(settings, tmp_path / "straight", **quiet)
    assert summary["step"] == 4 and np.isfinite(summary["loss"])
    assert np.isfinite(summary["val_psnr"]) and summary["bicubic_psnr"] > 20
    saved = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    assert saved["config"]["patch"] == min(20, 76 // scale) * scale and saved["model"].config["name"] == model
    with pytest.raises(TrainingInterrupted):
        train(settings, tmp_path / "split", callback=stop_at(2), **quiet)
    train({}, tmp_path / "split", resume=True, **quiet)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    with pytest.raises(TrainingError, match=f"{model} works on the Y channel"):
        train({**settings, "channels": "rgb"}, tmp_path / "rgb", **quiet)


def test_data_may_pool_several_folders(tmp_path):
    """--data T91 BSD200: the images of every folder are pooled (here the embedded photos, twice over)."""
    samples = str(sample_images_dir())
    other = tmp_path / "copies"
    other.mkdir()
    for path in sorted(sample_images_dir().glob("*.png"))[:2]:
        (other / path.name).write_bytes(path.read_bytes())
    logs = []
    run(tmp_path / "run", steps=2, data=[samples, str(other)], callback=None, val=None)
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert saved["config"]["data"] == [str(sample_images_dir().resolve()), str(other.resolve())]
    train({"steps": 3, "data": [samples, str(other)]}, tmp_path / "run", resume=True, progress=False, log=logs.append)
    assert any("6 images from" in line for line in logs)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"image folder .*empty holds no image files"):
        run(tmp_path / "bad", data=[samples, str(empty)])
    with pytest.raises(TrainingError, match=r"--val takes one folder"):
        run(tmp_path / "bad2", val=[samples, samples])


def test_init_starts_a_run_from_saved_weights(tmp_path):
    """--init: a fine-tune starts from the file's weights (a weights.npz or a checkpoint.npz), not from random ones."""
    run(tmp_path / "first", steps=2)
    start = weights_of(tmp_path / "first")
    barely = {"steps": 1, "lr": 1e-12, "lr_min": 1e-12, "val": None}  # one step that moves nothing measurable
    for init in ("weights.npz", "checkpoint.npz"):
        run(tmp_path / init, init=str(tmp_path / "first" / init), **barely)
        for name, value in weights_of(tmp_path / init).items():
            np.testing.assert_allclose(value, start[name], atol=1e-9, err_msg=name)
        saved = load_checkpoint(tmp_path / init / "checkpoint.npz")["config"]
        assert saved["init"] == str((tmp_path / "first" / init).resolve())
    run(tmp_path / "fresh", **barely)  # the same seed from scratch: the random weights the first run started from
    fresh = weights_of(tmp_path / "fresh")
    assert not all(np.allclose(fresh[name], start[name], atol=1e-6) for name in start)


def test_init_must_hold_the_same_network(tmp_path):
    run(tmp_path / "srcnn", steps=1, val=None)
    weights = str(tmp_path / "srcnn" / "weights.npz")
    with pytest.raises(TrainingError, match=r"weights\.npz holds a srcnn with f2=1, but these settings build f2=5"):
        run(tmp_path / "other_preset", init=weights, preset="9-5-5")
    with pytest.raises(TrainingError, match=r"--init .*weights\.npz: .*holds a srcnn .*model, not the fsrcnn"):
        train({"model": "fsrcnn", "scale": 3, "init": weights}, tmp_path / "fsrcnn", progress=False,
              log=lambda line: None)
    with pytest.raises(TrainingError, match=r"--init .*weights\.npz: .*trained for x3 upscaling, not the x2"):
        run(tmp_path / "x2", init=weights, scale=2)
    with pytest.raises(TrainingError, match=r"--init file .*missing\.npz does not exist"):
        run(tmp_path / "missing", init=str(tmp_path / "missing.npz"))
    with pytest.raises(TrainingError, match="scale_augment must be True or False, got 'yes'"):
        run(tmp_path / "augment", scale_augment="yes")
    for name in ("other_preset", "fsrcnn", "x2", "missing", "augment"):
        assert not (tmp_path / name).exists(), name


def test_scale_augment_trains_on_shrunk_copies_too_and_resumes(tmp_path):
    from tinysr.data import FSRCNN_DOWNSCALES

    logs = []
    train({**SMALL, "steps": 2, "scale_augment": True}, tmp_path / "run", progress=False, log=logs.append)
    assert any("images (each also shrunk by 0.9, 0.8, 0.7, 0.6)" in line for line in logs)
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert saved["config"]["scale_augment"] is True
    assert saved["dataset_state"]["config"]["downscales"] == list(FSRCNN_DOWNSCALES) == [0.9, 0.8, 0.7, 0.6]
    assert run(tmp_path / "run", resume=True, steps=3)["step"] == 3
