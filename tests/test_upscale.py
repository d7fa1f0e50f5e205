"""``tinysr.upscale``, ``tinysr upscale`` and ``tinysr eval``: tiling, colour paths, files and bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shared_datasets import dataset_dir

from tinysr.checkpoint import save_weights
from tinysr.image import imresize, read_image, rgb_to_ycbcr, to_float, write_image, ycbcr_to_rgb
from tinysr.models import SRCNN
from tinysr.upscale import _upscale_crops, _upscale_tiled, upscale


def _image(seed: int, shape) -> np.ndarray:
    """A smooth random image (noise blurred by bicubic), so that SR has structure to work on."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 1, (max(2, shape[0] // 4), max(2, shape[1] // 4), *tuple(shape[2:])))
    big = imresize(small.astype(np.float32), size=tuple(shape[:2]))
    return np.clip(np.floor(np.clip(big, 0, 1) * 255 + 0.5), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def network():
    return SRCNN(rng=0).eval()


@given(scale=st.sampled_from([2, 3, 4]), tile=st.integers(16, 64), batch=st.integers(1, 3),
       height=st.integers(6, 40), width=st.integers(6, 40), channels=st.sampled_from([1, 3, 4]))
def test_tiled_equals_untiled(network, scale, tile, batch, height, width, channels):
    image = _image(height * width, (height, width, channels))
    untiled = _upscale_crops(image[None], scale, network)[0]
    tiled = np.empty_like(untiled)
    _upscale_tiled(image, scale, network, tiled, tile=tile, batch_size=batch)
    np.testing.assert_allclose(tiled, untiled, atol=1e-5, rtol=0)


def test_the_network_sees_only_the_owned_pixels_plus_its_receptive_field(network, monkeypatch):
    """Each crop's margin also covers the bicubic kernel; the network gets only the part it needs.

    A 64x64 image at x3 with 48-pixel tiles: 16 LR pixels owned per tile, 6 of margin, so the
    ILR crops are (16 + 2 * 6) * 3 = 84 pixels; the network (receptive field 17, radius 8) must
    see 48 + 2 * 8 = 64.
    """
    shapes = []
    forward = network.forward
    monkeypatch.setattr(network, "forward", lambda x: shapes.append(x.shape) or forward(x))
    image = _image(5, (64, 64, 3))
    out = np.empty((192, 192, 3), dtype=np.float32)
    _upscale_tiled(image, 3, network, out, tile=48, batch_size=2)
    assert shapes and set(shapes) == {(2, 1, 64, 64)}, shapes
    np.testing.assert_allclose(out, _upscale_crops(image[None], 3, network)[0], atol=1e-5, rtol=0)


def test_y_path_runs_the_network_on_y_and_keeps_bicubic_chroma(network):
    image = _image(1, (20, 24, 3))
    out = upscale(image, 3, network)
    ilr = imresize(rgb_to_ycbcr(to_float(image)), scale=3)
    y = network.forward(np.clip(ilr, 0, 1)[None, None, :, :, 0])[0, 0]
    expected = ycbcr_to_rgb(np.concatenate([y[:, :, None], ilr[:, :, 1:]], axis=2))
    np.testing.assert_array_equal(out, np.clip(np.floor(expected * 255 + 0.5), 0, 255).astype(np.uint8))


def test_bicubic_model_is_the_bicubic_upscale():
    image = _image(2, (17, 23, 3))
    expected = np.clip(np.floor(imresize(to_float(image), scale=2).astype(np.float64) * 255 + 0.5), 0, 255)
    np.testing.assert_array_equal(upscale(image, 2, "bicubic"), expected.astype(np.uint8))


@pytest.mark.parametrize("shape,dtype", [((20, 21), np.uint8), ((20, 21, 1), np.uint8), ((20, 21, 4), np.uint8),
                                         ((20, 21), np.uint16), ((20, 21, 3), np.uint16)])
def test_shapes_dtypes_and_alpha(network, shape, dtype):
    image = _image(3, shape).astype(dtype) * (257 if dtype == np.uint16 else 1)
    out = upscale(image, 2, network)
    assert out.shape == (40, 42, *shape[2:]) and out.dtype == dtype
    if len(shape) == 3 and shape[2] == 4:  # alpha is upscaled with bicubic, on its own
        alpha = upscale(image[:, :, 3], 2, "bicubic")
        np.testing.assert_array_equal(out[:, :, 3], alpha)


def test_rgb_model(network):
    rgb_net = SRCNN(channels=3, n1=8, n2=4, rng=1).eval()
    image = _image(4, (18, 19, 3))
    assert upscale(image, 3, rgb_net).shape == (54, 57, 3)
    assert upscale(image[:, :, :1], 3, rgb_net).shape == (54, 57, 1)


def test_bad_arguments(network):
    image = _image(5, (20, 20, 3))
    with pytest.raises(TypeError, match="uint8 or uint16, got dtype float32"):
        upscale(image.astype(np.float32), 2, network)
    with pytest.raises(ValueError, match=r"\(H, W\), \(H, W, 1\).*got \(20, 20, 2\)"):
        upscale(image[:, :, :2], 2, network)
    with pytest.raises(ValueError, match="scale to be an int >= 2, got 1"):
        upscale(image, 1, network)
    with pytest.raises(ValueError, match="smaller than the network's receptive field"):
        upscale(image[:3, :3], 3, network)
    with pytest.raises(ValueError, match="expected model 'srcnn', 'fsrcnn', 'espcn', 'srresnet', 'srgan' or "
                                         "'bicubic', got 'edsr'"):
        upscale(image, 2, "edsr")
    with pytest.raises(ValueError, match="bicubic' takes no weights"):
        upscale(image, 2, "bicubic", weights="w.npz")


# -- the command line ------------------------------------------------------------------------------


def _tinysr(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinysr", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, network):
    folder = tmp_path_factory.mktemp("cli")
    write_image(folder / "a.png", _image(6, (24, 30, 3)))
    write_image(folder / "b.jpg", _image(7, (21, 18, 3)))
    save_weights(folder / "w3.npz", network, scale=3)
    save_weights(folder / "w2.npz", network, scale=2)
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_image(folder / "tiny.png", np.zeros((3, 3, 3), np.uint8))
    return folder


def test_cli_upscales_a_file_and_a_folder(workdir):
    result = _tinysr("upscale", "a.png", "-o", "a_big.png", "--scale", "3", "--weights", "w3.npz",
                     "--no-progress", cwd=workdir)
    assert result.returncode == 0, result.stderr
    expected = upscale(read_image(workdir / "a.png"), 3, weights=workdir / "w3.npz")
    np.testing.assert_array_equal(read_image(workdir / "a_big.png"), expected)
    (workdir / "in").mkdir(exist_ok=True)
    for name in ("a.png", "b.jpg"):
        (workdir / "in" / name).write_bytes((workdir / name).read_bytes())
    result = _tinysr("upscale", "in", "-o", "out", "--scale", "2", "--model", "bicubic", "--no-progress",
                     cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["a_x2.png", "b_x2.jpg"]
    assert read_image(workdir / "out" / "b_x2.jpg").shape == (42, 36, 3)


@pytest.mark.parametrize("args,message", [
    (["nothing.png", "-o", "x.png", "--model", "bicubic"], "nothing.png: no such file or folder"),
    (["corrupt.png", "-o", "x.png", "--model", "bicubic"], "cannot read image corrupt.png"),
    (["a.png", "-o", "x.png", "--scale", "5"], "invalid choice: 5"),
    (["a.png", "-o", "x.png", "--scale", "3", "--weights", "w2.npz"], "trained for x2 upscaling, not the x3"),
    (["a.png", "-o", "x.png", "--weights", "corrupt.png"], "corrupt.png"),
    (["a.png", "-o", "a.png", "--model", "bicubic"], "would overwrite an input"),
    (["tiny.png", "-o", "x.png", "--weights", "w3.npz"], "smaller than the network's receptive field"),
    (["a.png", "-o", "x.png", "--model", "bicubic", "--weights", "w3.npz"], "bicubic has no weights"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(workdir, args, message):
    before = sorted(p.name for p in workdir.iterdir())
    result = _tinysr("upscale", *args, "--no-progress", cwd=workdir)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in workdir.iterdir()) == before


def test_cli_eval_reproduces_the_bicubic_row_and_draws_a_figure(workdir, tmp_path):
    result = _tinysr("eval", "--data", str(dataset_dir("Set5")), "--scale", "3", "--model", "bicubic", "srcnn",
                     "--weights", str(workdir / "w3.npz"), "--figure", str(tmp_path / "fig.png"), cwd=workdir)
    assert result.returncode == 0, result.stderr
    mean = next(line for line in result.stdout.splitlines() if line.startswith("mean")).split()
    assert mean[1:4] == ["30.39", "/", "0.8682"]
    assert (tmp_path / "fig.png").stat().st_size > 10_000



@pytest.mark.parametrize("args,message", [
    (["--data", "missing_folder"], "missing_folder"),
    (["--data", ".", "--scale", "3", "--model", "srcnn", "--weights", "w2.npz"], "trained for x2 upscaling"),
    (["--data", ".", "--scale", "7"], "invalid choice: 7"),
])
def test_cli_eval_bad_input_is_one_line(workdir, args, message):
    result = _tinysr("eval", *args, cwd=workdir)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and "image/s" not in line]
    assert len(lines) == 1 and message in lines[0], result.stderr
