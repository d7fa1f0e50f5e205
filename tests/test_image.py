"""Tests of tinysr.image: files in and out, value conversions, MATLAB colour, bicubic resizing, degradation."""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from strategies import random_array, seeds

from tinysr.image import (
    RGB_TO_YCBCR_MATRIX,
    YCBCR_TO_RGB_MATRIX,
    ImageError,
    bicubic_degrade,
    bicubic_upscale,
    imresize,
    modcrop,
    read_image,
    rgb_to_y,
    rgb_to_y_uint8,
    rgb_to_ycbcr,
    to_float,
    to_uint8,
    write_image,
    ycbcr_to_rgb,
)


def random_uint8(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def smooth_uint8(seed: int, shape) -> np.ndarray:
    """A smooth random image: lossy codecs keep it close, so a round trip can be checked tightly."""
    rng = np.random.default_rng(seed)
    height, width, channels = shape
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    planes = [
        127.5 + 100 * np.sin(2 * np.pi * (rng.uniform(0.5, 1.5) * xx + rng.uniform(0.5, 1.5) * yy + rng.uniform()))
        for _ in range(channels)
    ]
    return np.stack(planes, axis=-1).round().astype(np.uint8)


def write_png16(path: Path, pixels: np.ndarray, color_type: int) -> None:
    """A 16-bit PNG written byte by byte (Pillow cannot write 16-bit colour): color_type 0 grey, 2 RGB, 6 RGBA."""
    height, width = pixels.shape[:2]
    rows = b"".join(b"\x00" + pixels[i].astype(">u2").tobytes() for i in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------------------------------------
# read_image / write_image
# ---------------------------------------------------------------------------------------------------------

LOSSLESS = [
    (".png", 1), (".png", 3), (".png", 4), (".tif", 1), (".tiff", 3), (".tif", 4), (".bmp", 1), (".bmp", 3),
    (".webp", 3), (".webp", 4),
]


@pytest.mark.parametrize(("suffix", "channels"), LOSSLESS)
def test_lossless_round_trip_is_exact(tmp_path, suffix, channels):
    image = random_uint8(channels, (9, 13, channels))
    path = tmp_path / f"image{suffix}"
    write_image(path, image)
    back = read_image(path)
    assert back.dtype == np.uint8 and back.shape == image.shape
    np.testing.assert_array_equal(back, image)


@pytest.mark.parametrize(("suffix", "channels"), [(".jpg", 1), (".jpeg", 3)])
def test_lossy_round_trip_is_close(tmp_path, suffix, channels):
    image = smooth_uint8(0, (32, 40, channels))
    path = tmp_path / f"image{suffix}"
    write_image(path, image)
    back = read_image(path)
    assert back.shape == image.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - image.astype(int)).mean() < 2.0


def test_webp_stores_grey_as_rgb(tmp_path):
    image = random_uint8(1, (16, 16, 1))
    write_image(tmp_path / "grey.webp", image)
    np.testing.assert_array_equal(read_image(tmp_path / "grey.webp"), np.repeat(image, 3, axis=2))


def test_two_dimensional_array_is_written_as_grey(tmp_path):
    image = random_uint8(2, (6, 5))
    write_image(tmp_path / "grey.png", image)
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png"), image[:, :, None])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_uint16_grey_round_trip_is_exact(tmp_path, suffix):
    image = np.random.default_rng(3).integers(0, 65536, size=(7, 11, 1), dtype=np.uint16)
    write_image(tmp_path / f"deep{suffix}", image)
    back = read_image(tmp_path / f"deep{suffix}")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, image)


def test_16_bit_grey_png_written_byte_by_byte_is_read_as_uint16(tmp_path):
    pixels = (np.arange(12).reshape(3, 4) * 5000).astype(np.uint16)
    write_png16(tmp_path / "grey16.png", pixels, color_type=0)
    back = read_image(tmp_path / "grey16.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back[:, :, 0], pixels)


@pytest.mark.parametrize(("color_type", "channels"), [(2, 3), (6, 4)])
def test_16_bit_colour_png_is_read_in_full_not_truncated(tmp_path, color_type, channels):
    pixels = (np.arange(2 * 3 * channels).reshape(2, 3, channels) * 2000 + 7).astype(np.uint16)
    path = tmp_path / "colour16.png"
    write_png16(path, pixels, color_type=color_type)  # a file made byte by byte, independent of tinysr
    # What Pillow itself does with it: a uint8 image holding only the high byte of every sample.
    with Image.open(path) as opened:
        np.testing.assert_array_equal(np.asarray(opened), (pixels >> 8).astype(np.uint8))
    back = read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, pixels)


def test_16_bit_colour_tiff_is_read_in_full(tmp_path):
    import tifffile

    path = tmp_path / "colour16.tif"
    pixels = np.random.default_rng(4).integers(0, 65536, size=(4, 5, 3), dtype=np.uint16)
    tifffile.imwrite(path, pixels, photometric="rgb")
    np.testing.assert_array_equal(read_image(path), pixels)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_round_trip_is_exact(tmp_path, suffix, channels):
    pixels = np.random.default_rng(channels).integers(0, 65536, size=(6, 7, channels), dtype=np.uint16)
    write_image(tmp_path / f"c{suffix}", pixels)
    back = read_image(tmp_path / f"c{suffix}")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, pixels)


def test_palette_is_read_as_rgb_and_palette_with_transparency_as_rgba(tmp_path):
    rgb = smooth_uint8(4, (10, 12, 3))
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(tmp_path / "p.png")
    palette = read_image(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as opened:
        expected = np.asarray(opened.convert("RGB"))
    assert palette.shape == (10, 12, 3)
    np.testing.assert_array_equal(palette, expected)

    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(
        tmp_path / "pt.png", transparency=0
    )
    transparent = read_image(tmp_path / "pt.png")
    assert transparent.shape == (10, 12, 4)
    assert set(np.unique(transparent[:, :, 3])) <= {0, 255}


def test_grey_alpha_becomes_rgba_with_grey_copied(tmp_path):
    grey_alpha = random_uint8(5, (6, 7, 2))
    Image.fromarray(grey_alpha, mode="LA").save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    assert image.shape == (6, 7, 4)
    for channel in range(3):
        np.testing.assert_array_equal(image[:, :, channel], grey_alpha[:, :, 0])
    np.testing.assert_array_equal(image[:, :, 3], grey_alpha[:, :, 1])


def test_one_bit_image_becomes_0_and_255(tmp_path):
    bits = random_uint8(6, (8, 8)) > 127
    Image.fromarray(bits).save(tmp_path / "bits.png")
    image = read_image(tmp_path / "bits.png")
    assert image.shape == (8, 8, 1)
    np.testing.assert_array_equal(image[:, :, 0], np.where(bits, 255, 0))


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    image = read_image(tmp_path / "cmyk.jpg")
    assert image.shape == (4, 5, 3)
    assert image[..., 0].min() > 200 and image[..., 1:].max() < 60  # red


def test_exif_orientation_is_applied(tmp_path):
    rgb = smooth_uint8(7, (6, 10, 3))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(rgb).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    assert read_image(tmp_path / "rotated.jpg").shape == (10, 6, 3)


def test_32_bit_integer_image_in_16_bit_range_is_uint16_and_out_of_range_is_refused(tmp_path):
    values = np.array([[0, 1000], [65535, 7]], dtype=np.int32)
    Image.fromarray(values).save(tmp_path / "i.tif")
    image = read_image(tmp_path / "i.tif")
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image[:, :, 0], values)
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(tmp_path / "wide.tif")
    with pytest.raises(ImageError, match=r"wide\.tif.*outside the 16-bit range"):
        read_image(tmp_path / "wide.tif")


def test_float_image_mode_is_refused(tmp_path):
    Image.fromarray(np.zeros((3, 3), dtype=np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(ImageError, match=r"float\.tif.*unsupported Pillow mode 'F'"):
        read_image(tmp_path / "float.tif")


def test_missing_file_directory_garbage_and_truncated_files_raise_image_error(tmp_path):
    with pytest.raises(ImageError, match=r"missing\.png: no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a directory"):
        read_image(tmp_path)
    (tmp_path / "garbage.png").write_bytes(b"this is not an image")
    with pytest.raises(ImageError, match=r"garbage\.png: not a readable image file"):
        read_image(tmp_path / "garbage.png")
    write_image(tmp_path / "whole.png", random_uint8(8, (64, 64, 3)))
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.png: not a readable image file \(image file is truncated\)"):
        read_image(tmp_path / "cut.png")
    assert issubclass(ImageError, ValueError)


def test_write_refuses_bad_dtypes_shapes_suffixes_and_combinations(tmp_path):
    good = random_uint8(9, (4, 4, 3))
    with pytest.raises(TypeError, match=r"dtype uint8 or uint16, got dtype float32.*to_uint8"):
        write_image(tmp_path / "x.png", good.astype(np.float32))
    with pytest.raises(TypeError, match=r"numpy.ndarray, got list"):
        write_image(tmp_path / "x.png", good.tolist())
    with pytest.raises(ValueError, match=r"C in \(1, 3, 4\).*got \(4, 4, 2\)"):
        write_image(tmp_path / "x.png", random_uint8(0, (4, 4, 2)))
    with pytest.raises(ValueError, match=r"got \(4,\)"):
        write_image(tmp_path / "x.png", random_uint8(0, (4,)))
    with pytest.raises(ImageError, match=r"unknown suffix '\.gif'"):
        write_image(tmp_path / "x.gif", good)
    with pytest.raises(ImageError, match="JPEG cannot store 4 channels"):
        write_image(tmp_path / "x.jpg", random_uint8(0, (4, 4, 4)))
    with pytest.raises(ImageError, match="BMP cannot store 4 channels"):
        write_image(tmp_path / "x.bmp", random_uint8(0, (4, 4, 4)))
    with pytest.raises(ImageError, match="16-bit images can be written only as PNG or TIFF, got JPEG"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 1), dtype=np.uint16))
    with pytest.raises(ImageError, match="does not exist"):
        write_image(tmp_path / "no" / "x.png", good)
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic_when_saving_fails(tmp_path, monkeypatch):
    path = tmp_path / "kept.png"
    original = random_uint8(10, (8, 8, 3))
    write_image(path, original)

    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"half an image")  # a partial write into the temporary file
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(ImageError, match=r"kept\.png: disk full"):
        write_image(path, random_uint8(11, (8, 8, 3)))
    monkeypatch.undo()
    np.testing.assert_array_equal(read_image(path), original)
    assert [p.name for p in tmp_path.iterdir()] == ["kept.png"]  # no temporary file left behind


def test_write_replaces_existing_file_with_normal_permissions(tmp_path):
    path = tmp_path / "out.png"
    write_image(path, random_uint8(12, (5, 5, 1)))
    replacement = random_uint8(13, (6, 4, 3))
    write_image(path, replacement)
    np.testing.assert_array_equal(read_image(path), replacement)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# ---------------------------------------------------------------------------------------------------------
# to_float / to_uint8
# ---------------------------------------------------------------------------------------------------------


@given(seeds)
def test_to_uint8_of_to_float_is_the_identity(seed):
    image = random_uint8(seed, (5, 6, 3))
    as_float = to_float(image)
    assert as_float.dtype == np.float32 and as_float.min() >= 0 and as_float.max() <= 1
    np.testing.assert_array_equal(to_uint8(as_float), image)


def test_to_float_scales_uint8_and_uint16():
    np.testing.assert_array_equal(to_float(np.array([0, 51, 255], dtype=np.uint8)), np.float32([0, 0.2, 1]))
    np.testing.assert_allclose(to_float(np.array([0, 65535], dtype=np.uint16)), [0, 1])
    assert to_float(np.array([0.25])).dtype == np.float32
    with pytest.raises(TypeError, match="got dtype int32"):
        to_float(np.zeros(3, dtype=np.int32))


def test_to_uint8_rounds_half_up_like_matlab_and_clips():
    halves = np.array([0.5, 1.5, 2.5, 254.5], dtype=np.float64) / 255
    np.testing.assert_array_equal(to_uint8(halves), [1, 2, 3, 255])  # np.round would give 0, 2, 2, 254
    np.testing.assert_array_equal(to_uint8(np.array([-0.3, 1.7, 0.49 / 255])), [0, 255, 0])
    with pytest.raises(ValueError, match="NaN or infinity"):
        to_uint8(np.array([0.1, np.nan]))
    with pytest.raises(TypeError, match="got dtype uint8"):
        to_uint8(np.zeros(3, dtype=np.uint8))


# ---------------------------------------------------------------------------------------------------------
# Colour
# ---------------------------------------------------------------------------------------------------------


def test_known_ycbcr_values():
    colours = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    expected = np.array(
        [
            [235, 128, 128],
            [16, 128, 128],
            [16 + 65.481, 128 - 37.797, 128 + 112],
            [16 + 128.553, 128 - 74.203, 128 - 93.786],
            [16 + 24.966, 128 + 112, 128 - 18.214],
        ]
    )
    ycbcr = rgb_to_ycbcr(colours)
    assert ycbcr.dtype == np.float64
    np.testing.assert_allclose(ycbcr[0], expected, atol=1e-12)
    np.testing.assert_allclose(rgb_to_y(colours)[0], expected[:, 0], atol=1e-12)
    np.testing.assert_allclose(rgb_to_ycbcr(colours / 255.0)[0], expected / 255, atol=1e-14)
    np.testing.assert_array_equal(rgb_to_y_uint8(colours)[0], [235, 16, 81, 145, 41])


def test_inverse_matrix_is_exact_and_studio_white_maps_back_to_one():
    np.testing.assert_allclose(YCBCR_TO_RGB_MATRIX @ RGB_TO_YCBCR_MATRIX, np.eye(3), atol=1e-15)
    # MATLAB's ycbcr2rgb printed coefficients (to 4 decimals) of its inverse matrix, times 255.
    np.testing.assert_allclose(
        YCBCR_TO_RGB_MATRIX * 255,
        [[1.1644, 0.0, 1.5960], [1.1644, -0.3918, -0.8130], [1.1644, 2.0172, 0.0]],
        atol=5e-5,
    )
    np.testing.assert_allclose(ycbcr_to_rgb(np.array([235.0, 128, 128]) / 255), [1, 1, 1], atol=1e-14)
    np.testing.assert_allclose(ycbcr_to_rgb(np.array([16, 128, 128], dtype=np.uint8)), [0, 0, 0], atol=1e-12)


@given(seeds, st.sampled_from([np.float32, np.float64]))
def test_float_colour_round_trip(seed, dtype):
    rgb = random_array(seed, (4, 5, 3), low=0.0, high=1.0).astype(dtype)
    ycbcr = rgb_to_ycbcr(rgb)
    assert ycbcr.dtype == dtype
    assert ycbcr[..., 0].min() >= 16 / 255 - 1e-6 and ycbcr[..., 0].max() <= 235 / 255 + 1e-6
    back = ycbcr_to_rgb(ycbcr)
    assert back.dtype == dtype
    np.testing.assert_allclose(back, rgb, atol=1e-12 if dtype == np.float64 else 1e-6)


@given(seeds)
def test_uint8_colour_is_the_float_conversion_times_255(seed):
    rgb = random_uint8(seed, (3, 4, 3))
    np.testing.assert_allclose(rgb_to_ycbcr(rgb), rgb_to_ycbcr(rgb / 255.0) * 255, atol=1e-10)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb) / 255) * 255, rgb, atol=1e-10)
    np.testing.assert_allclose(rgb_to_y(rgb), rgb_to_ycbcr(rgb)[..., 0], atol=1e-12)


def test_grey_image_is_its_own_luma():
    grey = random_uint8(14, (5, 6, 1))
    np.testing.assert_array_equal(rgb_to_y(grey), grey[:, :, 0].astype(np.float64))
    np.testing.assert_array_equal(rgb_to_y_uint8(grey), grey[:, :, 0])
    grey_float = to_float(grey)
    np.testing.assert_array_equal(rgb_to_y(grey_float), grey_float[:, :, 0])


def test_colour_conversions_refuse_bad_input():
    with pytest.raises(ValueError, match=r"rgb_to_ycbcr: expected image of shape \(\.\.\., 3\), got \(4, 4, 4\)"):
        rgb_to_ycbcr(np.zeros((4, 4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"rgb_to_y: expected image of shape \(\.\.\., 3\), got \(4, 4, 2\)"):
        rgb_to_y(np.zeros((4, 4, 2)))
    with pytest.raises(TypeError, match=r"ycbcr_to_rgb: .*got dtype uint16"):
        ycbcr_to_rgb(np.zeros((4, 3), dtype=np.uint16))
    with pytest.raises(TypeError, match=r"numpy.ndarray, got list"):
        rgb_to_y([[0, 0, 0]])
    with pytest.raises(TypeError, match="rgb_to_y_uint8: expected image with dtype uint8"):
        rgb_to_y_uint8(np.zeros((2, 2, 3)))


# ---------------------------------------------------------------------------------------------------------
# imresize
# ---------------------------------------------------------------------------------------------------------


def keys_cubic(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    t = np.abs(t)
    return np.where(
        t <= 1,
        (a + 2) * t**3 - (a + 3) * t**2 + 1,
        np.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, 0.0),
    )


def resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """The (size_out, size_in) matrix of 1-D bicubic resampling as in imresize's docstring (reference)."""
    ratio = size_in / size_out
    stretch = max(ratio, 1.0)  # the kernel widens by 1/scale when shrinking: antialiasing
    matrix = np.zeros((size_out, size_in))
    for i in range(size_out):
        centre = (i + 0.5) * ratio  # output pixel centre, in input coordinates where pixel j spans [j, j+1)
        lo = max(int(centre - 2 * stretch + 0.5), 0)
        hi = min(int(centre + 2 * stretch + 0.5), size_in)
        taps = np.arange(lo, hi)
        weights = keys_cubic((taps + 0.5 - centre) / stretch)
        matrix[i, lo:hi] = weights / weights.sum()  # truncated at the border, then renormalised
    return matrix


@given(seeds, st.sampled_from([(12, 9, 2.0), (12, 9, 3.0), (24, 18, 1 / 3), (24, 20, 1 / 4), (15, 15, 0.5)]))
def test_imresize_is_separable_keys_cubic(seed, case):
    height, width, scale = case
    image = random_array(seed, (height, width), low=0.0, high=1.0)
    out = imresize(image, scale=scale)
    rows, cols = resize_matrix(height, out.shape[0]), resize_matrix(width, out.shape[1])
    np.testing.assert_allclose(out, rows @ image @ cols.T, atol=2e-6)


@given(
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=1, max_value=40),
    st.sampled_from([2, 3, 4, 0.5, 1 / 3, 0.25, 1.5, 2.7]),
)
def test_imresize_output_size_is_matlab_ceil(height, width, scale):
    expected = (math.ceil(round(height * scale, 9)), math.ceil(round(width * scale, 9)))
    if min(expected) < 1:
        return
    out = imresize(np.zeros((height, width, 2), dtype=np.float32), scale=scale)
    assert out.shape == (*expected, 2) and out.dtype == np.float32


def test_imresize_size_rule_ignores_float_noise():
    assert imresize(np.zeros((255, 12)), scale=1 / 3).shape == (85, 4)
    assert imresize(np.zeros((10, 10)), scale=0.25).shape == (3, 3)  # ceil(2.5)
    assert imresize(np.zeros((10, 10)), size=(7, 13)).shape == (7, 13)


@given(seeds)
def test_imresize_works_channel_by_channel_and_keeps_constants(seed):
    image = random_array(seed, (10, 8, 3), low=0.0, high=1.0)
    out = imresize(image, scale=2)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], imresize(image[:, :, channel], scale=2))
    np.testing.assert_allclose(imresize(np.full((9, 9), 0.3), scale=1 / 3), 0.3, atol=1e-6)


def test_imresize_neither_clips_nor_rounds():
    step = np.zeros((8, 8))
    step[:, 4:] = 1.0
    out = imresize(step, scale=3)
    assert out.min() < -0.01 and out.max() > 1.01  # bicubic overshoot at an edge survives


def test_imresize_refuses_bad_input():
    with pytest.raises(TypeError, match=r"dtype float32 or float64, got dtype uint8.*to_float"):
        imresize(np.zeros((4, 4), dtype=np.uint8), scale=2)
    with pytest.raises(ValueError, match="exactly one of scale or size"):
        imresize(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="exactly one of scale or size"):
        imresize(np.zeros((4, 4)), scale=2, size=(8, 8))
    with pytest.raises(ValueError, match="positive finite number, got -2"):
        imresize(np.zeros((4, 4)), scale=-2)
    with pytest.raises(ValueError, match="positive number, got '2'"):
        imresize(np.zeros((4, 4)), scale="2")
    with pytest.raises(ValueError, match=r"positive ints, got \(8, 0\)"):
        imresize(np.zeros((4, 4)), size=(8, 0))
    with pytest.raises(ValueError, match=r"into 0x0 pixels"):
        imresize(np.zeros((4, 4)), scale=1e-12)
    with pytest.raises(ValueError, match=r"got \(2, 2, 2, 2\)"):
        imresize(np.zeros((2, 2, 2, 2)), scale=2)


# ---------------------------------------------------------------------------------------------------------
# modcrop, bicubic_degrade, bicubic_upscale
# ---------------------------------------------------------------------------------------------------------


@given(st.integers(4, 30), st.integers(4, 30), st.integers(1, 4))
def test_modcrop_keeps_the_top_left_multiple_of_scale(height, width, scale):
    image = np.arange(height * width).reshape(height, width)
    cropped = modcrop(image, scale)
    assert cropped.shape == (height - height % scale, width - width % scale)
    np.testing.assert_array_equal(cropped, image[: cropped.shape[0], : cropped.shape[1]])
    cropped[...] = -1
    assert image.min() == 0  # a copy, not a view


def test_modcrop_refuses_bad_input():
    with pytest.raises(ValueError, match="at least 3x3 for scale 3"):
        modcrop(np.zeros((2, 9)), 3)
    with pytest.raises(ValueError, match="int >= 1, got 0"):
        modcrop(np.zeros((6, 6)), 0)
    with pytest.raises(ValueError, match=r"got 1\.5"):
        modcrop(np.zeros((6, 6)), 1.5)


@given(seeds, st.integers(2, 4), st.sampled_from([(), (1,), (3,)]))
def test_bicubic_degrade_follows_its_documented_order(seed, scale, channel_shape):
    image = smooth_uint8(seed, (26, 31, 3))
    hr = image[:, :, : channel_shape[0]] if channel_shape else image[:, :, 0]
    lr = bicubic_degrade(hr, scale)
    assert lr.dtype == np.uint8 and lr.shape == (26 // scale, 31 // scale, *channel_shape)
    unrounded = bicubic_degrade(hr, scale, round_to_uint8=False)
    assert unrounded.dtype == np.float32
    np.testing.assert_array_equal(unrounded, imresize(to_float(modcrop(hr, scale)), scale=1 / scale))
    np.testing.assert_array_equal(lr, to_uint8(unrounded))
    up = bicubic_upscale(lr, scale)
    assert up.dtype == np.uint8 and up.shape == modcrop(hr, scale).shape
    np.testing.assert_array_equal(up, to_uint8(imresize(to_float(lr), scale=scale)))
    assert bicubic_upscale(unrounded, scale).shape == up.shape


def test_bicubic_degrade_and_upscale_refuse_bad_input():
    with pytest.raises(TypeError, match="bicubic_degrade: expected hr_uint8 with dtype uint8, got dtype float64"):
        bicubic_degrade(np.zeros((6, 6)), 2)
    with pytest.raises(ValueError, match=r"bicubic_degrade: expected scale to be an int >= 1, got 0\.5"):
        bicubic_degrade(np.zeros((6, 6), dtype=np.uint8), 0.5)
    with pytest.raises(TypeError, match=r"bicubic_upscale: .*got dtype int64"):
        bicubic_upscale(np.zeros((6, 6), dtype=np.int64), 2)
    with pytest.raises(ValueError, match=r"bicubic_upscale: .*got \(6,\)"):
        bicubic_upscale(np.zeros(6, dtype=np.uint8), 2)
