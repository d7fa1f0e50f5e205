"""tinysr.data: the patch dataset, evaluation pairs, and the embedded sample images.

The alignment tests do not trust the dataset's own arrays: they rebuild HR, LR and ILR from the pixels the
test wrote, find each target patch by exact search over every crop position and every flip/rotation, and
then require the input patch to be the same transform of the same place.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from shared_datasets import dataset_dir

import tinysr.data.folders as folders
from tinysr.data import IMAGE_SUFFIXES, SRDataset, list_images, load_eval_pairs, sample_images_dir
from tinysr.data.patches import _dihedral
from tinysr.image import ImageError, bicubic_degrade, imresize, read_image, rgb_to_y, to_float, to_uint8

# Sizes on purpose not multiples of 2, 3 or 4, so that modcrop matters.
NOISE_SIZES = [(41, 37), (31, 53), (47, 47)]


def _noise_images(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in NOISE_SIZES]


def _write(folder: Path, images, suffix: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(folder / f"img{i}{suffix}")


@pytest.fixture(scope="module")
def noise_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("noise")
    _write(folder, _noise_images())
    return folder


def _expected(rgb: np.ndarray, scale: int, channels: str, mode: str):
    """(HR, input) as (C, H, W) float32 in [0, 1], built from the raw pixels with tinysr.image alone."""
    hr = np.floor(rgb_to_y(rgb) + 0.5).astype(np.uint8)[:, :, None] if channels == "y" else rgb
    hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    lr = bicubic_degrade(hr, scale)
    inputs = to_float(lr) if mode == "lr" else np.clip(imresize(to_float(lr), scale=scale), 0, 1)
    return to_float(hr).transpose(2, 0, 1), inputs.astype(np.float32).transpose(2, 0, 1)


def _inverse(k: int) -> int:
    """Index of the inverse symmetry: quarter turns undo with the opposite turn; flipped ones are involutions."""
    return (4 - k) % 4 if k < 4 else k


def _locate(target: np.ndarray, hrs: list[np.ndarray]) -> list[tuple[int, int, int, int]]:
    """Every (image, row, col, k) with target == _dihedral(hr[:, row:row+P, col:col+P], k)."""
    side = target.shape[-1]
    found = []
    for k in range(8):
        original = _dihedral(target, _inverse(k))
        for j, hr in enumerate(hrs):
            corner = np.all(hr[:, : hr.shape[1] - side + 1, : hr.shape[2] - side + 1] == original[:, :1, :1], axis=0)
            for y, x in zip(*np.nonzero(corner)):
                if np.array_equal(hr[:, y : y + side, x : x + side], original):
                    found.append((j, int(y), int(x), k))
    return found


# ---------------------------------------------------------------------------------------------------------
# The eight symmetries of the square
# ---------------------------------------------------------------------------------------------------------


def test_dihedral_matches_numpy_rot90_and_flip():
    patch = np.arange(2 * 5 * 5).reshape(2, 5, 5)
    for k in range(8):
        expected = np.rot90(patch, k % 4, axes=(1, 2))
        if k >= 4:
            expected = np.flip(expected, axis=2)
        np.testing.assert_array_equal(_dihedral(patch, k), expected)
        np.testing.assert_array_equal(_dihedral(_dihedral(patch, k), _inverse(k)), patch)
    assert len({_dihedral(patch, k).tobytes() for k in range(8)}) == 8


# ---------------------------------------------------------------------------------------------------------
# Shapes, dtypes, ranges; the embedded default
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ilr", "lr"])
@pytest.mark.parametrize("channels", ["y", "rgb"])
def test_default_dataset_uses_the_sample_images(mode, channels):
    dataset = SRDataset(scale=3, patch_size=33, mode=mode, channels=channels)
    assert dataset.num_images == len(list_images(sample_images_dir())) >= 4
    assert dataset.channels == (1 if channels == "y" else 3)
    assert dataset.scale == 3
    inputs, targets = dataset.batch(5)
    side = 33 if mode == "ilr" else 11
    assert inputs.shape == (5, dataset.channels, side, side) and targets.shape == (5, dataset.channels, 33, 33)
    for array in (inputs, targets):
        assert array.dtype == np.float32 and array.flags.c_contiguous
        assert 0.0 <= array.min() and array.max() <= 1.0
    if channels == "y":  # MATLAB Y is studio range
        assert targets.min() >= 16 / 255 - 1e-7 and targets.max() <= 235 / 255 + 1e-7


@given(
    scale=st.sampled_from([2, 3, 4]),
    multiple=st.integers(1, 5),
    batch_size=st.integers(1, 12),
    mode=st.sampled_from(["ilr", "lr"]),
    channels=st.sampled_from(["y", "rgb"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_batches_are_aligned_crops_under_the_same_symmetry(
    noise_folder, scale, multiple, batch_size, mode, channels, seed
):
    patch = scale * multiple if mode == "lr" else 3 * multiple + 1  # "ilr" patches need not divide by scale
    dataset = SRDataset(noise_folder, scale=scale, patch_size=patch, mode=mode, channels=channels, seed=seed)
    expected = [_expected(rgb, scale, channels, mode) for rgb in _noise_images()]
    hrs = [hr for hr, _ in expected]
    inputs, targets = dataset.batch(batch_size)
    side = patch if mode == "ilr" else patch // scale
    assert inputs.shape == (batch_size, dataset.channels, side, side)
    assert targets.shape == (batch_size, dataset.channels, patch, patch)
    for i in range(batch_size):
        matches = _locate(targets[i], hrs)
        assert matches, f"target patch {i} is not a flip/rotation of any HR crop"
        for j, y, x, k in matches:
            if mode == "lr":  # the HR crop starts on the LR grid
                assert y % scale == 0 and x % scale == 0
                y, x = y // scale, x // scale
            crop = expected[j][1][:, y : y + side, x : x + side]
            if np.array_equal(inputs[i], _dihedral(crop, k)):
                break
        else:
            pytest.fail(f"input patch {i} is not the same transform of the same place as its target ({matches})")


def test_augment_uses_all_eight_symmetries_and_off_uses_none(noise_folder):
    hrs = [hr for hr, _ in (_expected(rgb, 2, "rgb", "ilr") for rgb in _noise_images())]
    for augment, allowed in ((True, set(range(8))), (False, {0})):
        dataset = SRDataset(noise_folder, scale=2, patch_size=5, channels="rgb", augment=augment, seed=1)
        seen = {_locate(target, hrs)[0][3] for target in dataset.batch(200)[1]}
        assert seen == allowed


# ---------------------------------------------------------------------------------------------------------
# Randomness: seeds, degrade once, resume
# ---------------------------------------------------------------------------------------------------------


def test_same_seed_same_batches_other_seed_other_batches(noise_folder):
    def draws(seed):
        dataset = SRDataset(noise_folder, scale=3, patch_size=9, seed=seed)
        return [dataset.batch(4) for _ in range(3)]

    for (a_in, a_tg), (b_in, b_tg) in zip(draws(7), draws(7)):
        np.testing.assert_array_equal(a_in, b_in)
        np.testing.assert_array_equal(a_tg, b_tg)
    assert not np.array_equal(draws(7)[0][1], draws(8)[0][1])


def test_changing_a_returned_batch_changes_nothing_inside(noise_folder):
    one = SRDataset(noise_folder, scale=2, patch_size=8, mode="lr")
    two = SRDataset(noise_folder, scale=2, patch_size=8, mode="lr")
    for inputs, targets in (one.batch(3), two.batch(3)):
        inputs[...] = -1
        targets[...] = -1
    np.testing.assert_array_equal(one.batch(3)[1], two.batch(3)[1])


def test_each_image_is_degraded_once_at_construction(noise_folder, monkeypatch):
    calls = []
    original = folders.bicubic_degrade

    def counting(hr, scale, **kwargs):
        calls.append(hr.shape)
        return original(hr, scale, **kwargs)

    monkeypatch.setattr(folders, "bicubic_degrade", counting)  # where the degradation is called
    dataset = SRDataset(noise_folder, scale=3, patch_size=9)
    assert len(calls) == len(NOISE_SIZES)
    for _ in range(20):
        dataset.batch(16)
    assert len(calls) == len(NOISE_SIZES)


def test_resume_from_state_dict_gives_the_same_batches(noise_folder):
    original = SRDataset(noise_folder, scale=3, patch_size=12, mode="lr", channels="rgb", seed=3)
    for _ in range(5):
        original.batch(8)
    state = json.loads(json.dumps(original.state_dict()))  # what a checkpoint stores
    expected = [original.batch(8) for _ in range(4)]

    resumed = SRDataset(noise_folder, scale=3, patch_size=12, mode="lr", channels="rgb", seed=999)
    resumed.load_state_dict(state)
    for (exp_in, exp_tg), (got_in, got_tg) in zip(expected, (resumed.batch(8) for _ in range(4))):
        np.testing.assert_array_equal(got_in, exp_in)
        np.testing.assert_array_equal(got_tg, exp_tg)


def test_load_state_dict_refuses_other_settings_or_garbage(noise_folder):
    state = SRDataset(noise_folder, scale=3, patch_size=12).state_dict()
    other = SRDataset(noise_folder, scale=3, patch_size=9)
    with pytest.raises(ValueError, match=r"patch_size 12 \(saved\) vs 9"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match=r"expected a dict from SRDataset\.state_dict"):
        other.load_state_dict({"rng": 1})
    broken = SRDataset(noise_folder, scale=3, patch_size=12).state_dict()
    broken["rng"] = {"bit_generator": "MT19937"}
    with pytest.raises(ValueError, match="PCG64"):
        other.load_state_dict(dict(broken, config=other.state_dict()["config"]))


def test_downscales_add_the_shrunk_copies_that_still_hold_a_patch(noise_folder):
    """FSRCNN's scale augmentation: each image also at 0.9 and 0.5, shrunk by MATLAB bicubic, then cropped."""
    scale, patch = 2, 20
    dataset = SRDataset(noise_folder, scale=scale, patch_size=patch, mode="lr", channels="rgb", augment=False,
                        downscales=(0.9, 0.5), seed=4)
    originals = _noise_images()
    copies = originals + [to_uint8(imresize(to_float(rgb), scale=f)) for f in (0.9, 0.5) for rgb in originals]
    pairs = [_expected(rgb, scale, "rgb", "lr") for rgb in copies]
    hrs, inputs = [hr for hr, _ in pairs], [lr for _, lr in pairs]
    holds_a_patch = [min(hr.shape[1:]) >= patch for hr in hrs]
    # 41x37, 31x53, 47x47: all three at 0.9; at 0.5 (20x18, 16x26, 24x24 once cropped) only the last
    assert holds_a_patch == [True] * 6 + [False, False, True]
    assert dataset.num_images == 3  # files, not copies
    batch_inputs, batch_targets = dataset.batch(300)
    seen = set()
    for lr, target in zip(batch_inputs, batch_targets):
        matches = [(j, y, x) for j, y, x, k in _locate(target, hrs) if k == 0 and y % scale == 0 == x % scale]
        assert matches, "a target patch is not a crop of an image or of one of its shrunk copies"
        assert any(np.array_equal(inputs[j][:, y // scale : y // scale + patch // scale,
                                            x // scale : x // scale + patch // scale], lr) for j, y, x in matches)
        seen.update(j for j, _, _ in matches)
    assert seen == {j for j, holds in enumerate(holds_a_patch) if holds}


@pytest.mark.parametrize("downscales", [(1.0,), (0.0,), (0.5, -0.1), (float("nan"),), ("half",), 0.9])
def test_downscales_must_be_factors_between_0_and_1(noise_folder, downscales):
    with pytest.raises(ValueError, match=r"expected downscales to be a sequence of factors between 0 and 1"):
        SRDataset(noise_folder, scale=2, patch_size=4, downscales=downscales)


def test_a_state_saved_before_downscales_existed_loads_as_none(noise_folder):
    state = SRDataset(noise_folder, scale=3, patch_size=12).state_dict()
    del state["config"]["downscales"]
    SRDataset(noise_folder, scale=3, patch_size=12, seed=5).load_state_dict(state)
    with pytest.raises(ValueError, match=r"downscales \[\] \(saved\) vs \[0\.8\]"):
        SRDataset(noise_folder, scale=3, patch_size=12, downscales=(0.8,)).load_state_dict(state)


# ---------------------------------------------------------------------------------------------------------
# Colour handling
# ---------------------------------------------------------------------------------------------------------


def test_y_is_matlab_luma_of_the_uint8_rgb_rounded(tmp_path):
    rgb = _noise_images(5)[0]
    _write(tmp_path, [rgb])
    pair = load_eval_pairs(tmp_path, 2, channels="y")[0]
    r, g, b = (rgb[:40, :36, c].astype(np.float64) / 255 for c in range(3))
    y = np.floor(16 + 65.481 * r + 128.553 * g + 24.966 * b + 0.5)
    np.testing.assert_array_equal(pair["hr"][:, :, 0], y)


def test_greyscale_files_keep_their_values_and_alpha_is_dropped(tmp_path):
    grey = _noise_images(6)[0][:, :, :1]
    Image.fromarray(grey[:, :, 0]).save(tmp_path / "grey.png")
    rgb = _noise_images(7)[1]
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 77, np.uint8)], axis=2)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")

    pairs = {p["name"]: p for p in load_eval_pairs(tmp_path, 3, channels="y")}
    np.testing.assert_array_equal(pairs["grey"]["hr"], grey[:39, :36])  # not squeezed into 16..235
    np.testing.assert_array_equal(pairs["rgba"]["hr"], pairs["rgb"]["hr"])
    rgb_pairs = {p["name"]: p for p in load_eval_pairs(tmp_path, 3, channels="rgb")}
    np.testing.assert_array_equal(rgb_pairs["grey"]["hr"], np.repeat(grey[:39, :36], 3, axis=2))
    np.testing.assert_array_equal(rgb_pairs["rgba"]["hr"], rgb_pairs["rgb"]["hr"])


def test_16_bit_greyscale_is_rounded_to_8_bits(tmp_path):
    values = np.array([[0, 128, 257, 65535], [32896, 1000, 40000, 65000]] * 2, dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "deep.png").dtype == np.uint16
    hr = load_eval_pairs(tmp_path, 2)[0]["hr"][:, :, 0]
    np.testing.assert_array_equal(hr, np.floor(values / 65535 * 255 + 0.5))


# ---------------------------------------------------------------------------------------------------------
# Evaluation pairs
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", ["y", "rgb"])
def test_load_eval_pairs_follows_the_protocol(noise_folder, channels):
    pairs = load_eval_pairs(noise_folder, 3, channels=channels)
    assert [p["name"] for p in pairs] == ["img0", "img1", "img2"]
    for pair, rgb in zip(pairs, _noise_images()):
        c = 1 if channels == "y" else 3
        h, w = rgb.shape[0] // 3 * 3, rgb.shape[1] // 3 * 3
        assert pair["hr"].shape == (h, w, c) and pair["hr"].dtype == np.uint8
        assert pair["lr"].shape == (h // 3, w // 3, c) and pair["lr"].dtype == np.uint8
        assert pair["ilr"].shape == ((h, w) if c == 1 else (h, w, 3)) and pair["ilr"].dtype == np.float32
        np.testing.assert_array_equal(pair["lr"], bicubic_degrade(pair["hr"], 3))
        # the published protocol upscales the unrounded LR (tinysr.image's module docstring)
        ilr = np.clip(imresize(bicubic_degrade(pair["hr"], 3, round_to_uint8=False), scale=3), 0, 1)
        np.testing.assert_array_equal(pair["ilr"], ilr[:, :, 0] if c == 1 else ilr)



def test_eval_pairs_reproduce_the_set5_bicubic_table_at_x3():
    psnrs = []
    for pair in load_eval_pairs(dataset_dir("Set5"), 3):
        sr = np.floor(pair["ilr"] * 255 + 0.5)[3:-3, 3:-3]  # the bicubic baseline, rounded, shaved
        hr = pair["hr"][3:-3, 3:-3, 0].astype(np.float64)
        psnrs.append(10 * np.log10(255**2 / np.mean((sr - hr) ** 2)))
    assert np.mean(psnrs) == pytest.approx(30.3929, abs=5e-4)  # 30.39 as published (rounded LR: 30.3884)


# ---------------------------------------------------------------------------------------------------------
# Folders and errors
# ---------------------------------------------------------------------------------------------------------


def test_list_images_sorted_any_case_no_hidden_no_subfolders(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    for name in ("b.PNG", "a.jpg", "c.Jpeg", ".hidden.png", "notes.txt"):
        Image.fromarray(image).save(tmp_path / name, format="PNG")
    (tmp_path / "sub").mkdir()
    Image.fromarray(image).save(tmp_path / "sub" / "d.png")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.Jpeg"]


def test_missing_not_a_folder_and_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=r"image folder .*nowhere does not exist"):
        SRDataset(tmp_path / "nowhere", scale=2, patch_size=4)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"file\.png, which is not a folder"):
        list_images(tmp_path / "file.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"holds no image files \(looked for \.png \.jpg .*\.webp"):
        load_eval_pairs(empty, 2)
    assert ".tiff" in IMAGE_SUFFIXES and ".bmp" in IMAGE_SUFFIXES


def test_corrupt_file_is_named(tmp_path):
    _write(tmp_path, _noise_images()[:1])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    with pytest.raises(ImageError, match=r"broken\.png"):
        SRDataset(tmp_path, scale=2, patch_size=4)
    with pytest.raises(ImageError, match=r"broken\.png"):
        load_eval_pairs(tmp_path, 2)


def test_image_smaller_than_the_patch_is_named_with_sizes(tmp_path):
    _write(tmp_path, _noise_images()[:1])
    Image.fromarray(np.zeros((20, 31, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(ValueError, match=r"tiny\.png: image is 20x31 pixels .* smaller than the 24x24 patch"):
        SRDataset(tmp_path, scale=3, patch_size=24)
    # 22x22 is big enough for 21 until modcrop to a multiple of 4 leaves 20x20
    Image.fromarray(np.zeros((22, 22, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(ValueError, match=r"tiny\.png: image is 22x22 pixels .*20x20 once cropped .* 21x21 patch"):
        SRDataset(tmp_path, scale=4, patch_size=21)
    Image.fromarray(np.zeros((2, 9, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(ValueError, match=r"tiny\.png: image is 2x9 pixels .*smaller than the scale 3"):
        load_eval_pairs(tmp_path, 3)


def test_too_few_images(noise_folder):
    with pytest.raises(ValueError, match=r"holds 3 image\(s\), expected at least min_images=5"):
        SRDataset(noise_folder, scale=2, patch_size=4, min_images=5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"scale": 1}, ValueError, "expected scale >= 2, got 1"),
        ({"scale": 2.0}, TypeError, "expected scale to be an int"),
        ({"patch_size": 0}, ValueError, "expected patch_size >= 1, got 0"),
        ({"mode": "lr", "patch_size": 10, "scale": 3}, ValueError, "multiple of scale 3 .* got patch_size 10"),
        ({"mode": "pre"}, ValueError, "expected mode to be one of 'ilr', 'lr', got 'pre'"),
        ({"channels": "ycbcr"}, ValueError, "expected channels to be one of 'y', 'rgb', got 'ycbcr'"),
        ({"seed": -1}, ValueError, "expected seed >= 0"),
        ({"augment": "yes"}, TypeError, "expected augment to be True or False"),
        ({"min_images": 0}, ValueError, "expected min_images >= 1"),
    ],
)
def test_bad_arguments(noise_folder, kwargs, error, message):
    arguments = {"scale": 2, "patch_size": 4, **kwargs}
    with pytest.raises(error, match=message):
        SRDataset(noise_folder, **arguments)


def test_bad_batch_size_and_eval_arguments(noise_folder):
    dataset = SRDataset(noise_folder, scale=2, patch_size=4)
    with pytest.raises(ValueError, match=r"SRDataset\.batch: expected batch_size >= 1, got 0"):
        dataset.batch(0)
    with pytest.raises(ValueError, match="load_eval_pairs: expected channels to be one of"):
        load_eval_pairs(noise_folder, 2, channels="RGB")
    with pytest.raises(ValueError, match="load_eval_pairs: expected scale >= 2"):
        load_eval_pairs(noise_folder, 1)


# ---------------------------------------------------------------------------------------------------------
# The embedded photos and their credits
# ---------------------------------------------------------------------------------------------------------


def test_sample_images_are_small_credited_rgb_photos():
    folder = sample_images_dir()
    files = list_images(folder)
    assert len(files) >= 4
    assert sum(path.stat().st_size for path in folder.iterdir()) < 5 * 1024 * 1024
    credits = (folder / "CREDITS.md").read_text(encoding="utf-8")
    for path in files:
        assert f"`{path.name}`" in credits, f"{path.name} is not in CREDITS.md"
        image = read_image(path)
        assert image.dtype == np.uint8 and image.shape[2] == 3 and min(image.shape[:2]) >= 256
    assert "public domain" in credits and "CC0" in credits
    assert {p.name for p in folder.iterdir()} == {p.name for p in files} | {"CREDITS.md"}
