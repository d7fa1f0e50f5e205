"""Upscaling and evaluating with LR-input networks (SRResNet, SRGAN generators)."""

import subprocess
import sys

import numpy as np
import pytest
from shared_datasets import dataset_dir

from tinysr.checkpoint import save_weights
from tinysr.evaluate import evaluate, format_table, gradient_magnitude
from tinysr.image import read_image
from tinysr.models import SRResNet
from tinysr.upscale import _upscale_tiled, upscale


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random SRResNet x2 (its output is not a good image, but the plumbing is the same)."""
    network = SRResNet(2, num_blocks=1, num_features=4, rng=3)
    path = tmp_path_factory.mktemp("w") / "tiny.npz"
    save_weights(path, network, scale=2)
    return network.eval(), path


def test_upscale_runs_the_network_on_the_lr_rgb_image(tiny):
    network, _ = tiny
    image = read_image("tinysr/sample_images/coffee.png")[:40, :50]
    result = upscale(image, 2, network)
    direct = network.forward(np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / 255)
    expected = np.clip(np.floor(direct[0].transpose(1, 2, 0) * 255 + 0.5), 0, 255).astype(np.uint8)
    assert result.shape == (80, 100, 3) and result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)


def test_tiled_equals_untiled(tiny):
    network, _ = tiny
    image = read_image("tinysr/sample_images/chelsea.png")[:70, :90]
    tiled = np.empty((140, 180, 3), np.float32)
    whole = np.empty((140, 180, 3), np.float32)
    _upscale_tiled(image, 2, network, tiled, tile=32, batch_size=3)
    _upscale_tiled(image, 2, network, whole, tile=10_000, batch_size=1)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_grey_and_rgba_inputs_keep_their_channels(tiny):
    network, _ = tiny
    rgba = np.dstack([read_image("tinysr/sample_images/rocket.png")[:20, :24], np.full((20, 24), 200, np.uint8)])
    out = upscale(rgba, 2, network)
    assert out.shape == (40, 48, 4)
    assert np.all(out[:, :, 3] == 200)  # a constant alpha stays constant under bicubic
    grey = rgba[:, :, 0]
    assert upscale(grey, 2, network).shape == (40, 48)


def test_network_scale_must_match(tiny):
    network, _ = tiny
    with pytest.raises(ValueError, match="the network upscales x2, but scale=4"):
        upscale(np.zeros((20, 20, 3), np.uint8), 4, network)


def test_gradient_magnitude_is_relative_sharpness():
    flat = np.full((10, 10), 7.0)
    ramp = np.tile(np.arange(10.0), (10, 1))  # horizontal steps of 1
    assert gradient_magnitude(flat) == 0.0
    assert gradient_magnitude(ramp) == pytest.approx(1.0)
    assert gradient_magnitude(3 * ramp, crop_border=2) == pytest.approx(3.0)


def test_eval_scores_an_lr_network_and_reports_sharpness(tiny):
    _, path = tiny
    report = evaluate(dataset_dir("Set5"), 2, ["bicubic", "srresnet"], weights=path)
    assert len(report["results"]["srresnet"]["psnr"]) == 5
    assert 0 < np.mean(report["results"]["bicubic"]["sharpness"]) < 1  # bicubic blurs
    np.testing.assert_allclose(np.mean(report["results"]["bicubic"]["psnr"]), 33.66, atol=0.005)
    assert "sharpness (mean Y gradient magnitude" in format_table(report)


def test_cli_upscale_with_an_srresnet_weights_file(tmp_path, tiny):
    _, path = tiny
    out = tmp_path / "chelsea_x2.png"
    done = subprocess.run([sys.executable, "-m", "tinysr", "upscale", "tinysr/sample_images/chelsea.png", "-o",
                           str(out), "--scale", "2", "--model", "srresnet", "--weights", str(path), "--no-progress"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert read_image(out).shape == (600, 902, 3)
    wrong = subprocess.run([sys.executable, "-m", "tinysr", "upscale", "tinysr/sample_images/chelsea.png", "-o",
                            str(tmp_path / "x.png"), "--scale", "3", "--model", "srgan", "--weights", str(path)],
                           capture_output=True, text=True)
    assert wrong.returncode != 0 and "trained for x2 upscaling, not the x3" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()
