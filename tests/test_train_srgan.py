"""Training SRResNet and SRGAN: settings, bit-exact resume of both networks, NaN stop, sample grids."""

import numpy as np
import pytest

from tinysr import gan as gan_module
from tinysr.checkpoint import load_checkpoint, load_weights, save_weights
from tinysr.models import SRResNet
from tinysr.train import TrainingDiverged, TrainingError, TrainingInterrupted, check_settings, train

# tiny and quick: 1 block of 4 features, 32x32 HR patches of the embedded images
SRRESNET = {"model": "srresnet", "num_blocks": 1, "num_features": 4, "patch": 32, "batch_size": 2, "steps": 6,
            "checkpoint_every": 2, "val_every": 3}


def run(out, settings, resume=False, callback=None, **changes):
    return train({**settings, **changes}, out, resume=resume, progress=False, callback=callback,
                 log=lambda line: None)


def arrays(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files if name != "__meta__"}


def assert_same_arrays(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory):
    """A tiny SRResNet x4 weights file to start SRGAN runs from."""
    path = tmp_path_factory.mktemp("init") / "srresnet.npz"
    save_weights(path, SRResNet(4, num_blocks=1, num_features=4, rng=0), scale=4)
    return path


def gan_settings(generator_file):
    return {"model": "srgan", "init": str(generator_file), "d_features": 4, "patch": 32, "batch_size": 2,
            "steps": 6, "checkpoint_every": 2, "val_every": 3}


def stop_at(step_to_stop):
    def callback(step, loss):
        if step == step_to_stop:
            raise KeyboardInterrupt

    return callback


def test_srresnet_defaults_are_the_papers_setup():
    settings = check_settings({"model": "srresnet"})
    assert (settings["num_blocks"], settings["num_features"], settings["scale"]) == (16, 64, 4)
    assert (settings["patch"], settings["batch_size"], settings["channels"]) == (96, 16, "rgb")


def test_srgan_presets_fill_patch_and_batch_unless_given(generator_file):
    paper = check_settings({"model": "srgan", "init": str(generator_file)})
    seed = check_settings({"model": "srgan", "init": str(generator_file), "preset": "seed"})
    mixed = check_settings({"model": "srgan", "init": str(generator_file), "preset": "seed", "batch_size": 4})
    assert (paper["patch"], paper["batch_size"]) == (96, 16)
    assert (seed["patch"], seed["batch_size"]) == (128, 1)
    assert (mixed["patch"], mixed["batch_size"]) == (128, 4)
    assert paper["lr"] == 1e-4 and paper["adversarial_weight"] == 1e-3


@pytest.mark.parametrize(("settings", "message"), [
    ({"model": "srresnet", "scale": 3}, "unsupported scale 3 for srresnet"),
    ({"model": "srresnet", "preset": "9-5-5"}, "--preset does not apply to srresnet"),
    ({"model": "srresnet", "channels": "y"}, "srresnet works on RGB images"),
    ({"model": "srresnet", "patch": 30}, "must be a multiple of the scale"),
    ({"model": "srcnn", "num_blocks": 4}, "--num-blocks does not apply to srcnn"),
    ({"model": "srgan"}, "srgan needs --init"),
    ({"model": "srgan", "init": "no/such/file.npz"}, "does not exist"),
    ({"model": "srgan", "init": __file__, "patch": 40}, "multiple of 16"),
    ({"model": "srgan", "init": __file__, "preset": "9-5-5"}, "unknown srgan preset"),
    ({"model": "srgan", "init": __file__, "adversarial_weight": -1.0}, "adversarial-weight must be a number >= 0"),
    ({"model": "gan"}, "unknown model 'gan'"),
])
def test_bad_settings_are_explained(settings, message):
    with pytest.raises(TrainingError, match=message):
        check_settings(settings)


def test_srgan_init_must_be_an_srresnet_of_the_same_scale(tmp_path, generator_file):
    with pytest.raises(TrainingError, match="not the srresnet asked for"):
        run(tmp_path / "a", gan_settings(generator_file), init="tinysr/weights/srcnn_x4.npz")
    with pytest.raises(TrainingError, match="trained for x4 upscaling, not the x2"):
        run(tmp_path / "b", gan_settings(generator_file), scale=2)


def test_srresnet_run_writes_weights_curves_and_sample_grids(tmp_path):
    out = tmp_path / "run"
    summary = run(out, SRRESNET, val="tinysr/sample_images")
    assert summary["step"] == 6 and summary["val_psnr"] is not None
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000003.png", "step_000006.png"]
    _, meta = load_weights(out / "weights.npz", expected_scale=4, expected_model="srresnet")
    assert meta["model"] == {"name": "srresnet", "scale": 4, "num_blocks": 1, "num_features": 4}
    assert (out / "curves.png").stat().st_size > 10_000


def test_srgan_interrupt_then_resume_is_bit_exact_for_both_networks(tmp_path, generator_file):
    settings = gan_settings(generator_file)
    run(tmp_path / "straight", settings)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 3: checkpoint saved"):
        run(tmp_path / "split", settings, callback=stop_at(3))
    run(tmp_path / "split", settings, resume=True)
    assert_same_arrays(arrays(tmp_path / "straight" / "checkpoint.npz"), arrays(tmp_path / "split" / "checkpoint.npz"))
    saved = load_checkpoint(tmp_path / "split" / "checkpoint.npz")
    assert saved["discriminator"].config == {"name": "discriminator", "hr_size": 32, "num_features": 4}
    assert saved["discriminator_optimizer"]["state"]  # Adam's moments of D were saved and restored
    history = saved["history"]
    assert len(history["d_real"]) == len(history["d_fake"]) == len(history["loss"]) == 6
    assert np.all((history["d_real"] > 0) & (history["d_real"] < 1))


def test_srgan_starts_from_the_init_generator(tmp_path, generator_file):
    settings = gan_settings(generator_file)
    def first_step(step, loss):
        raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        run(tmp_path / "run", {**settings, "lr": 1e-12, "lr_min": 1e-12}, callback=first_step)
    start, _ = load_weights(generator_file)
    after_one_step = load_checkpoint(tmp_path / "run" / "checkpoint.npz")["model"]
    for (name, a), (_, b) in zip(start.state_dict().items(), after_one_step.state_dict().items()):
        if name.endswith(("weight", "bias")):  # moved by at most lr-sized Adam steps
            np.testing.assert_allclose(a, b, atol=1e-9, err_msg=name)


def test_srgan_nan_stops_with_the_last_good_checkpoint(tmp_path, generator_file, monkeypatch):
    calls = {"n": 0}
    real_step = gan_module.srgan_step

    def nan_after_three(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise gan_module.GANStepDiverged("the discriminator's loss became nan", {})
        return real_step(*args, **kwargs)

    import tinysr.train.recipes as recipes
    monkeypatch.setattr(recipes, "srgan_step", nan_after_three)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"discriminator's loss became nan at step 3 .*last good checkpoint"):
        run(out, gan_settings(generator_file))
    assert load_checkpoint(out / "checkpoint.npz")["step"] == 2
