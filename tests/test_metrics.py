"""Tests of tinysr.metrics: PSNR and SSIM against scikit-image, on synthetic arrays and on real images."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shared_datasets import dataset_dir
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from strategies import seeds

from tinysr.image import bicubic_degrade, bicubic_upscale, modcrop, read_image, rgb_to_y
from tinysr.metrics import psnr, ssim


def skimage_ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    channel_axis = -1 if a.ndim == 3 else None
    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=channel_axis,
    )


def noisy_pair(seed: int, shape, noise: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 image and a noisy copy of it (clipped), so that PSNR and SSIM are in their usual ranges."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, size=shape), 0, 255).astype(np.uint8)
    return a, b


image_shapes = st.sampled_from([(11, 11), (16, 23), (31, 12, 1), (20, 17, 3), (12, 14, 4)])


# ---------------------------------------------------------------------------------------------------------
# Synthetic arrays (always run)
# ---------------------------------------------------------------------------------------------------------


@given(seeds, image_shapes, st.sampled_from([2, 20, 120]))
def test_uint8_matches_scikit_image(seed, shape, noise):
    a, b = noisy_pair(seed, shape, noise)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-12, abs=0)
    assert ssim(a, b) == pytest.approx(skimage_ssim(a, b, 255), rel=0, abs=1e-6)


@given(seeds, image_shapes)
def test_float_images_use_peak_one_and_match_scikit_image(seed, shape):
    a, b = noisy_pair(seed, shape)
    fa, fb = a / 255.0, b / 255.0
    assert psnr(fa, fb) == pytest.approx(peak_signal_noise_ratio(fa, fb, data_range=1.0), rel=1e-12, abs=0)
    assert ssim(fa, fb) == pytest.approx(skimage_ssim(fa, fb, 1.0), rel=0, abs=1e-6)
    # The same pictures at two scales score the same: PSNR and SSIM are scale-free with L set right.
    assert psnr(fa, fb) == pytest.approx(psnr(a, b), rel=1e-12)
    assert ssim(fa, fb) == pytest.approx(ssim(a, b), abs=1e-12)
    # float32 is computed in float64: the same number as its float64 copy.
    fa32, fb32 = fa.astype(np.float32), fb.astype(np.float32)
    assert psnr(fa32, fb32) == psnr(fa32.astype(np.float64), fb32.astype(np.float64))
    assert ssim(fa32, fb32) == ssim(fa32.astype(np.float64), fb32.astype(np.float64))


@given(seeds, image_shapes)
def test_psnr_and_ssim_are_symmetric(seed, shape):
    a, b = noisy_pair(seed, shape)
    assert psnr(a, b) == psnr(b, a)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-15)


@given(seeds, image_shapes)
def test_identical_images_score_inf_and_one(seed, shape):
    a, _ = noisy_pair(seed, shape)
    assert psnr(a, a.copy()) == math.inf
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


@given(seeds, image_shapes, st.sampled_from([2, 60, 255]))
def test_ssim_lies_in_minus_one_to_one(seed, shape, noise):
    a, b = noisy_pair(seed, shape, noise)
    for other in (b, 255 - a, np.zeros_like(a), np.full_like(a, 255)):
        assert -1.0 <= ssim(a, other) <= 1.0
    assert ssim(a, 255 - a) < 0  # an inverted image is anti-correlated


def test_known_psnr_values():
    zeros = np.zeros((4, 4, 3), dtype=np.uint8)
    assert psnr(zeros, zeros + 1) == pytest.approx(20 * math.log10(255), rel=1e-15)  # MSE 1
    assert psnr(zeros, zeros + 255) == pytest.approx(0.0, abs=1e-12)  # MSE = L^2
    half = np.full((4, 4), 0.5)
    assert psnr(half, half + 0.1) == pytest.approx(20.0, rel=1e-12)  # MSE 0.01, peak 1


@given(seeds, st.integers(0, 5))
def test_crop_border_shaves_every_side(seed, border):
    a, b = noisy_pair(seed, (30, 27, 3))
    inner = (slice(border, 30 - border), slice(border, 27 - border))
    assert psnr(a, b, crop_border=border) == psnr(a[inner], b[inner])
    assert ssim(a, b, crop_border=border) == ssim(a[inner], b[inner])


@given(seeds)
def test_y_channel_is_matlab_luma_with_peak_255(seed):
    a, b = noisy_pair(seed, (24, 21, 3))
    ya, yb = rgb_to_y(a), rgb_to_y(b)  # unrounded float64 in [16, 235]
    assert psnr(a, b, test_y_channel=True) == pytest.approx(
        peak_signal_noise_ratio(ya, yb, data_range=255), rel=1e-12
    )
    assert ssim(a, b, test_y_channel=True) == pytest.approx(skimage_ssim(ya, yb, 255), abs=1e-6)
    assert psnr(a / 255.0, b / 255.0, test_y_channel=True) == pytest.approx(psnr(a, b, test_y_channel=True))
    grey_a, grey_b = a[:, :, :1], b[:, :, :1]
    assert psnr(grey_a, grey_b, test_y_channel=True) == psnr(grey_a, grey_b)  # a grey image is its own Y


def test_bad_input_raises_clear_errors():
    a = np.zeros((16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"psnr: .*same dtype, got img1 uint8 and img2 float64"):
        psnr(a, a.astype(np.float64))
    with pytest.raises(ValueError, match=r"ssim: .*same dtype, got img1 float32 and img2 float64"):
        ssim(a.astype(np.float32), a.astype(np.float64))
    with pytest.raises(ValueError, match=r"ssim: .*same shape, got img1 \(16, 16, 3\) and img2 \(16, 15, 3\)"):
        ssim(a, a[:, :15])
    with pytest.raises(TypeError, match=r"psnr: .*got dtype int16"):
        psnr(a.astype(np.int16), a.astype(np.int16))
    with pytest.raises(TypeError, match=r"psnr: expected img2 to be a numpy\.ndarray, got list"):
        psnr(a, a.tolist())
    with pytest.raises(ValueError, match=r"C in \(1, 3, 4\), got \(16, 16, 2\)"):
        psnr(a[:, :, :2], a[:, :, :2])
    with pytest.raises(ValueError, match="crop_border to be an int >= 0, got -1"):
        psnr(a, a, crop_border=-1)
    with pytest.raises(ValueError, match=r"crop_border to be an int >= 0, got 2\.0"):
        psnr(a, a, crop_border=2.0)
    with pytest.raises(ValueError, match="crop_border=8 leaves nothing of images of 16x16 pixels"):
        psnr(a, a, crop_border=8)
    with pytest.raises(ValueError, match=r"at least 11x11 pixels \(after crop_border=3\), got 10x10"):
        ssim(a, a, crop_border=3)
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="test_y_channel needs RGB or grey images, got 4 channels"):
        ssim(rgba, rgba, test_y_channel=True)


# ---------------------------------------------------------------------------------------------------------
# Real images (skipped without ../shared/datasets)
# ---------------------------------------------------------------------------------------------------------


def real_pairs():
    root = dataset_dir("Set14").parent
    for name, scale in [("Set5/butterfly.png", 3), ("Set5/baby.png", 2), ("Set14/barbara.png", 4),
                        ("Set14/bridge.png", 3), ("Set14/comic.png", 2)]:
        hr = modcrop(read_image(root / name), scale)
        crop = hr[:96, 40:160]  # a crop keeps the test quick; it has edges and texture
        yield name, crop, bicubic_upscale(bicubic_degrade(hr, scale), scale)[:96, 40:160]


def test_real_images_match_scikit_image():
    for name, hr, sr in real_pairs():
        channels_last = hr if hr.shape[2] > 1 else hr[:, :, 0]
        sr_last = sr if sr.shape[2] > 1 else sr[:, :, 0]
        expected_psnr = peak_signal_noise_ratio(channels_last, sr_last, data_range=255)
        assert psnr(hr, sr) == pytest.approx(expected_psnr, rel=1e-12), name
        assert ssim(hr, sr) == pytest.approx(skimage_ssim(channels_last, sr_last, 255), abs=1e-6), name
        assert 15 < psnr(hr, sr) < 45 and 0.3 < ssim(hr, sr) < 1.0, name
        if hr.shape[2] == 3:
            ya, yb = rgb_to_y(hr), rgb_to_y(sr)
            assert psnr(hr, sr, crop_border=3, test_y_channel=True) == pytest.approx(
                peak_signal_noise_ratio(ya[3:-3, 3:-3], yb[3:-3, 3:-3], data_range=255), rel=1e-12
            )
            assert ssim(hr, sr, crop_border=3, test_y_channel=True) == pytest.approx(
                skimage_ssim(ya[3:-3, 3:-3], yb[3:-3, 3:-3], 255), abs=1e-6
            )
