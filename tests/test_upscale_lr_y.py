"""Upscaling and evaluating with the networks that read the LR Y channel (FSRCNN, ESPCN)."""

import subprocess
import sys

import numpy as np
import pytest
from shared_datasets import dataset_dir

from tinysr.checkpoint import save_weights
from tinysr.data import load_eval_pairs
from tinysr.evaluate import evaluate
from tinysr.image import imresize, read_image, rgb_to_ycbcr, to_float, to_uint8, ycbcr_to_rgb
from tinysr.metrics import psnr
from tinysr.models import ESPCN, FSRCNN
from tinysr.upscale import _upscale_tiled, upscale


def _small(name: str, scale: int):
    if name == "fsrcnn":
        return FSRCNN(scale, d=6, s=3, m=1, rng=5).eval()
    return ESPCN(scale, rng=5).eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Weights files of a small FSRCNN x3 and an ESPCN x2 (random weights: the plumbing is what is tested)."""
    folder = tmp_path_factory.mktemp("w")
    paths = {}
    for name, scale in (("fsrcnn", 3), ("espcn", 2)):
        paths[name] = folder / f"{name}_x{scale}.npz"
        save_weights(paths[name], _small(name, scale), scale=scale)
    return paths


@pytest.mark.parametrize("name, scale", [("fsrcnn", 3), ("espcn", 2)])
def test_colour_image_network_on_lr_y_bicubic_on_chroma(name, scale):
    """The network reads the LR Y channel (no bicubic first); Cb and Cr go up with bicubic; back to RGB."""
    network = _small(name, scale)
    image = read_image("tinysr/sample_images/coffee.png")[:30, :41]
    result = upscale(image, scale, network)
    ycbcr = rgb_to_ycbcr(to_float(image))
    expected = imresize(ycbcr, scale=scale)
    expected[:, :, 0] = network.forward(np.ascontiguousarray(ycbcr[None, None, :, :, 0], dtype=np.float32))[0, 0]
    expected = to_uint8(ycbcr_to_rgb(expected))
    assert result.shape == (30 * scale, 41 * scale, 3) and result.dtype == np.uint8
    assert np.abs(result.astype(int) - expected).max() <= 1  # float rounding at .5 boundaries


@pytest.mark.parametrize("name, scale", [("fsrcnn", 3), ("espcn", 2)])
def test_tiled_equals_untiled(name, scale):
    network = _small(name, scale)
    image = read_image("tinysr/sample_images/chelsea.png")[:61, :75]
    shape = (61 * scale, 75 * scale, 3)
    tiled, whole = np.empty(shape, np.float32), np.empty(shape, np.float32)
    _upscale_tiled(image, scale, network, tiled, tile=16 * scale, batch_size=3)
    _upscale_tiled(image, scale, network, whole, tile=10_000, batch_size=1)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_grey_runs_the_network_on_the_grey_level_and_rgba_keeps_alpha():
    network = _small("fsrcnn", 3)
    grey = read_image("tinysr/sample_images/rocket.png")[:20, :24, 0]
    out = upscale(grey, 3, network)
    direct = network.forward(np.ascontiguousarray(grey[None, None], dtype=np.float32) / 255)[0, 0]
    assert out.shape == (60, 72)
    assert np.abs(out.astype(int) - to_uint8(direct)[:, :]).max() <= 1
    rgba = np.dstack([np.repeat(grey[:, :, None], 3, axis=2), np.full((20, 24), 77, np.uint8)])
    assert np.all(upscale(rgba, 3, network)[:, :, 3] == 77)


def test_network_scale_must_match():
    with pytest.raises(ValueError, match="the network upscales x3, but scale=2"):
        upscale(np.zeros((20, 20, 3), np.uint8), 2, _small("fsrcnn", 3))


def test_eval_feeds_the_unrounded_lr_y(weights):
    """The protocol's LR: bicubic down, not rounded; the network's output rounded; ``scale`` pixels shaved."""
    report = evaluate(dataset_dir("Set5"), 3, ["bicubic", "fsrcnn"], weights=weights["fsrcnn"])
    network = _small("fsrcnn", 3)
    for pair, score in zip(load_eval_pairs(dataset_dir("Set5"), 3), report["results"]["fsrcnn"]["psnr"]):
        assert pair["lr_float"].shape == (pair["hr"].shape[0] // 3, pair["hr"].shape[1] // 3)
        assert pair["lr_float"].dtype == np.float32 and 0 <= pair["lr_float"].min()
        out = network.forward(np.ascontiguousarray(pair["lr_float"][None, None]))[0, 0]
        assert score == pytest.approx(psnr(to_uint8(out)[:, :, None], pair["hr"], crop_border=3), abs=1e-6)
    np.testing.assert_allclose(np.mean(report["results"]["bicubic"]["psnr"]), 30.39, atol=0.005)


def _tinysr(*args):
    return subprocess.run([sys.executable, "-m", "tinysr", *args], capture_output=True, text=True)


def test_cli_upscale_and_eval_take_fsrcnn_and_espcn(tmp_path, weights):
    out = tmp_path / "coffee_x2.png"
    done = _tinysr("upscale", "tinysr/sample_images/coffee.png", "-o", str(out), "--scale", "2", "--model",
                   "espcn", "--weights", str(weights["espcn"]), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert read_image(out).shape == (800, 1200, 3)
    done = _tinysr("eval", "--data", str(dataset_dir("Set5")), "--scale", "3", "--model", "bicubic", "fsrcnn",
                   "--weights", str(weights["fsrcnn"]))
    assert done.returncode == 0, done.stderr
    assert "fsrcnn PSNR / SSIM" in done.stdout


def test_cli_takes_the_network_and_scale_from_the_weights_file(tmp_path, weights):
    """Without --model and --scale, upscale and eval use what the weights file says it holds (ESPCN x2)."""
    out = tmp_path / "coffee_x2.png"
    done = _tinysr("upscale", "tinysr/sample_images/coffee.png", "-o", str(out), "--weights", str(weights["espcn"]),
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    expected = upscale(read_image("tinysr/sample_images/coffee.png"), 2, _small("espcn", 2))
    np.testing.assert_array_equal(read_image(out), expected)
    done = _tinysr("eval", "--data", str(dataset_dir("Set5")), "--weights", str(weights["fsrcnn"]))
    assert done.returncode == 0, done.stderr
    assert "at x3" in done.stdout and "fsrcnn PSNR / SSIM" in done.stdout and "bicubic PSNR" in done.stdout


@pytest.mark.parametrize("args, file, message", [
    (["--model", "espcn", "--scale", "3"], "fsrcnn", "holds a fsrcnn (scale=3, d=6, s=3, m=1) model, "
                                                      "not the espcn asked for"),
    (["--model", "fsrcnn", "--scale", "2"], "fsrcnn", "trained for x3 upscaling, not the x2"),
    (["--model", "srcnn", "--scale", "2"], "espcn", "holds a espcn (scale=2) model, not the srcnn asked for"),
])
def test_cli_weights_for_another_model_or_scale_is_one_line(tmp_path, weights, args, file, message):
    out = tmp_path / "x.png"
    done = _tinysr("upscale", "tinysr/sample_images/coffee.png", "-o", str(out), *args, "--weights",
                   str(weights[file]), "--no-progress")
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("training, folder, shared", [
    ("data/BSD68", "data/B100", True),        # BSD68 is part of B100
    (["data/T91", "data/bsd68"], "x/b100", True),
    ("data/Set5", "elsewhere/set5", True),    # the same dataset, wherever it lies
    (["data/T91", "data/BSD200"], "data/B100", False),
    ("data/BSD68", "data/Set14", False),
    (None, "data/B100", False),               # a weights file that does not say
])
def test_shared_training_folder(training, folder, shared):
    from tinysr.data import shared_training_folder

    found = shared_training_folder(training, folder)
    assert (found is not None) == shared


def test_eval_refuses_a_network_scored_on_images_it_was_trained_on(tmp_path):
    """A network trained on BSD68 is never scored on B100: one line, exit status 1, no table."""
    b100 = tmp_path / "B100"
    b100.mkdir()
    (b100 / "a.png").write_bytes((dataset_dir("Set5") / "baby.png").read_bytes())
    weights = tmp_path / "w.npz"
    save_weights(weights, _small("espcn", 2), scale=2, extra={"training": {"data": "somewhere/BSD68"}})
    done = _tinysr("eval", "--data", str(b100), "--scale", "2", "--model", "bicubic", "espcn",
                   "--weights", str(weights))
    assert done.returncode == 1 and "PSNR" not in done.stdout
    assert "trained on somewhere/BSD68, which holds images of" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    save_weights(weights, _small("espcn", 2), scale=2, extra={"training": {"data": ["T91", "BSD200"]}})
    assert _tinysr("eval", "--data", str(b100), "--scale", "2", "--model", "espcn", "--weights",
                   str(weights)).returncode == 0
