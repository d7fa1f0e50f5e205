"""train, upscale and eval with device="cuda" (what ``--device cuda`` calls) give the CPU's results."""

import numpy as np
import pytest

from tinysr.checkpoint import load_checkpoint, save_weights
from tinysr.evaluate import evaluate
from tinysr.image import read_image
from tinysr.models import SRCNN, SRResNet
from tinysr.train import train
from tinysr.upscale import upscale

TINY_SRRESNET = {"model": "srresnet", "num_blocks": 1, "num_features": 4, "patch": 8, "batch_size": 2, "steps": 2,
                 "checkpoint_every": 1, "scale": 2, "schedule": "constant"}


def quiet(line):
    pass


def test_training_on_the_gpu_matches_the_cpu(tmp_path):
    settings = TINY_SRRESNET
    cpu = train(settings, tmp_path / "cpu", progress=False, log=quiet, device="cpu")
    gpu = train(settings, tmp_path / "gpu", progress=False, log=quiet, device="cuda")
    assert gpu["loss"] == pytest.approx(cpu["loss"], rel=1e-4)
    saved_cpu = load_checkpoint(tmp_path / "cpu" / "checkpoint.npz")["model"].state_dict()
    saved_gpu = load_checkpoint(tmp_path / "gpu" / "checkpoint.npz")["model"].state_dict()
    # A conv bias followed by BatchNorm has a gradient of exactly zero in exact arithmetic (the batch
    # mean removes it): what is left is rounding noise, which Adam turns into +-lr steps that differ
    # between any two summation orders. Every other parameter must agree.
    before_batchnorm = ("body.0.bias", "body.3.bias", "trunk.0.bias")
    for name in saved_cpu:  # the checkpoint of a GPU run holds NumPy arrays, as a CPU run's does
        assert isinstance(saved_gpu[name], np.ndarray)
        if not name.endswith(before_batchnorm):
            np.testing.assert_allclose(saved_gpu[name], saved_cpu[name], rtol=1e-3, atol=1e-5, err_msg=name)


def test_srgan_training_on_the_gpu_matches_the_cpu(tmp_path):
    init = tmp_path / "g.npz"
    save_weights(init, SRResNet(2, num_blocks=1, num_features=4, rng=0), scale=2)
    settings = {"model": "srgan", "init": str(init), "scale": 2, "d_features": 2, "patch": 16, "batch_size": 2,
                "steps": 1, "checkpoint_every": 1, "val_every": 1}
    cpu = train(settings, tmp_path / "cpu", progress=False, log=quiet, device="cpu")
    gpu = train(settings, tmp_path / "gpu", progress=False, log=quiet, device="cuda")
    assert gpu["loss"] == pytest.approx(cpu["loss"], rel=1e-4)
    assert load_checkpoint(tmp_path / "gpu" / "checkpoint.npz")["discriminator"] is not None


def test_upscale_and_eval_on_the_gpu_match_the_cpu(tmp_path):
    image = read_image("tinysr/sample_images/coffee.png")[:12, :14]
    network = SRCNN(1, n1=4, n2=2, f1=3, f2=1, f3=3, rng=0)
    np.testing.assert_array_equal(upscale(image, 2, network, device="cuda"), upscale(image, 2, network.to("cpu")))
    weights = tmp_path / "w.npz"
    save_weights(weights, SRResNet(2, num_blocks=1, num_features=4, rng=1), scale=2)
    folder = tmp_path / "images"
    folder.mkdir()
    from tinysr.image import write_image

    write_image(folder / "a.png", read_image("tinysr/sample_images/chelsea.png")[:16, :18])
    cpu = evaluate(folder, 2, ["srresnet"], weights=weights, device="cpu")
    gpu = evaluate(folder, 2, ["srresnet"], weights=weights, device="cuda")
    assert gpu["results"]["srresnet"]["psnr"] == pytest.approx(cpu["results"]["srresnet"]["psnr"], abs=1e-3)
