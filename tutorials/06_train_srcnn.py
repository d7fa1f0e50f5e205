# %% [markdown]
# # Tutorial 6: train SRCNN on the CPU and look at the result
#
# Everything from tutorials 1 to 5 in one loop: SRCNN (Dong et al., 2014), three convolutions and
# two ReLUs, learns to turn a bicubic-upscaled image into a sharper one, trained with MSE and Adam.
# Then we measure it the way papers do, which needs some care:
#
# 1. the data: random patches of photos, degraded the way the test images are;
# 2. the network and the training loop, written out (600 steps, about a minute);
# 3. PSNR and SSIM, computed by hand and with `tinysr.metrics`;
# 4. why the "bicubic" row differs from paper to paper, measured: Y channel or RGB, the bicubic
#    kernel (MATLAB, Pillow, OpenCV), rounding the low-resolution image, the border shave;
# 5. bicubic vs our quickly trained SRCNN vs the SRCNN weights that ship with tinysr (trained for
#    24,000 steps), on Set5, and crops to look at.
#
# Data: `../shared/datasets/` next to the repository (or `$TINYSR_DATASETS`) with `BSD68` (training)
# and `Set5` (testing). Without them, the tutorial trains on three of the photos shipped in
# `tinysr/sample_images/` and tests on the fourth, and says so.
# `TINYSR_TUTORIAL_LONG=1` trains ten times longer (a few minutes).
#
# Figures go to `tutorial_output/06/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/06/`.

# %%
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

from tinysr.checkpoint import load_weights
from tinysr.data import SRDataset, list_images, load_eval_pairs, sample_images_dir
from tinysr.image import (
    bicubic_degrade,
    bicubic_upscale,
    modcrop,
    read_image,
    rgb_to_y_uint8,
    to_uint8,
)
from tinysr.losses import MSELoss
from tinysr.metrics import psnr, ssim
from tinysr.models import SRCNN
from tinysr.optim import Adam
from tinysr.upscale import shipped_weights_path, upscale

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "06"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")

LONG = os.environ.get("TINYSR_TUTORIAL_LONG") == "1"
SCALE = 3
STEPS = 6000 if LONG else 600
BATCH = 16
PATCH = 33  # SRCNN's paper trained on 33x33 patches
print(f"{'long' if LONG else 'short'} version: {STEPS} steps of {BATCH} patches of {PATCH}x{PATCH}, x{SCALE}")


def save(fig, name):
    path = OUT / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


def find_datasets():
    """The folder holding BSD68 and Set5: $TINYSR_DATASETS if set, else ../shared/datasets by the repository."""
    if os.environ.get("TINYSR_DATASETS"):
        candidates = [Path(os.environ["TINYSR_DATASETS"])]
    else:
        here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()  # a notebook has no __file__
        candidates = [here.parent.parent / "shared" / "datasets", Path.cwd().parent / "shared" / "datasets"]
    return next((path for path in candidates if path.is_dir()), None)


datasets = find_datasets()
BSD68 = datasets / "BSD68" if datasets and (datasets / "BSD68").is_dir() else None
SET5 = datasets / "Set5" if datasets and (datasets / "Set5").is_dir() else None
print(f"BSD68: {BSD68 or 'not found'};  Set5: {SET5 or 'not found'}")

# %% [markdown]
# ## 1. The data
#
# Super-resolution learns to undo a known degradation, so we make the low-resolution input from
# the high-resolution photo with the degradation the test uses: the Y channel (see section 3),
# bicubic downscaling by 3, rounding to 8 bits. SRCNN's input is that low-resolution image
# upscaled back with bicubic (the "interpolated LR", ILR): the network only has to add the detail
# bicubic cannot. `tinysr.data.SRDataset` does all this once, then cuts random 33x33 patch pairs
# (with random flips and rotations) from it for every batch.
#
# We train on BSD68 and test on Set5 and on `chelsea.png` (the cat), neither of which the network
# ever sees in training.

# %%
held_out = sample_images_dir() / "chelsea.png"
workdir = tempfile.TemporaryDirectory()  # removed at exit
if BSD68 is not None:
    train_folder = BSD68
else:
    print("BSD68 not found: training on the shipped sample photos except chelsea.png instead")
    train_folder = Path(workdir.name)
    for path in list_images(sample_images_dir()):
        if path != held_out:
            shutil.copy(path, train_folder / path.name)

dataset = SRDataset(train_folder, scale=SCALE, patch_size=PATCH, mode="ilr", channels="y", seed=0)
inputs, targets = dataset.batch(BATCH)
print(f"{dataset.num_images} training images; a batch: inputs {inputs.shape}, targets {targets.shape}, "
      f"values in [{inputs.min():.2f}, {inputs.max():.2f}]")
assert inputs.shape == targets.shape == (BATCH, 1, PATCH, PATCH)

# %% [markdown]
# ## 2. The network and the training loop
#
# SRCNN 9-5-5: a 9x9 convolution to 64 features (patch extraction), ReLU, a 5x5 convolution to 32
# (non-linear mapping), ReLU, a 5x5 convolution back to one channel (reconstruction), all with
# "same" padding. The loop is the one of tutorial 5, with a cosine learning-rate schedule: from
# 1e-3 down to 1e-5, large steps first, small ones to settle. Every 100 steps we measure the PSNR
# (section 3) on the held-out photo. The network first learns to copy its input (the bicubic image),
# which takes a couple of hundred steps, and only then to improve on it.

# %%
def y_pair(path):
    """(HR Y uint8 (H, W), ILR float32 (H, W)) of one photo, by the test protocol (section 3)."""
    folder = tempfile.mkdtemp(dir=workdir.name)
    shutil.copy(path, folder)
    pair = load_eval_pairs(folder, SCALE, channels="y")[0]
    return pair["hr"][:, :, 0], pair["ilr"]


def network_y(network, ilr):
    """Run a Y-channel network on one ILR image; the output rounded to uint8 like a saved image."""
    network.eval()
    out = network.forward(np.ascontiguousarray(ilr[None, None], dtype=np.float32))[0, 0]
    network.train()
    return to_uint8(np.clip(out, 0.0, 1.0))


validation_hr, validation_ilr = y_pair(held_out)
bicubic_validation = psnr(validation_hr, to_uint8(validation_ilr), crop_border=SCALE)

network = SRCNN.preset("9-5-5", rng=0)
print(network, f"{network.num_parameters():,} parameters")
optimizer = Adam(network.parameters(), lr=1e-3)
criterion = MSELoss()
LR_MAX, LR_MIN = 1e-3, 1e-5
history = {"step": [], "loss": [], "val_step": [], "val_psnr": []}

start = time.perf_counter()
for step in range(STEPS):
    optimizer.lr = LR_MIN + (LR_MAX - LR_MIN) * 0.5 * (1 + math.cos(math.pi * step / STEPS))
    inputs, targets = dataset.batch(BATCH)
    optimizer.zero_grad()
    loss = criterion.forward(network.forward(inputs), targets)
    network.backward(criterion.backward())
    optimizer.step()
    history["step"].append(step + 1)
    history["loss"].append(loss)
    if (step + 1) % 100 == 0 or step + 1 == STEPS:
        score = psnr(validation_hr, network_y(network, validation_ilr), crop_border=SCALE)
        history["val_step"].append(step + 1)
        history["val_psnr"].append(score)
        print(f"step {step + 1:5d}  loss {np.mean(history['loss'][-100:]):.5f}  chelsea Y-PSNR {score:.2f} dB "
              f"(bicubic {bicubic_validation:.2f})")
elapsed = time.perf_counter() - start
print(f"trained {STEPS} steps in {elapsed:.0f} s ({STEPS / elapsed:.1f} steps/s, validation included)")
first, last = np.mean(history["loss"][:20]), np.mean(history["loss"][-20:])
assert last < first / 2, f"the loss should fall: mean of the first 20 steps {first:.5f}, last 20 {last:.5f}"
assert history["val_psnr"][-1] > bicubic_validation, "the trained network should beat bicubic on chelsea.png"

fig, (ax_input, ax_target, ax_loss, ax_psnr) = plt.subplots(
    1, 4, figsize=(19, 4.6), gridspec_kw={"width_ratios": [1, 1, 1.6, 1.6]}
)
ax_input.imshow(inputs[0, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
ax_input.set_title("a training input (ILR patch, Y)")
ax_target.imshow(targets[0, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
ax_target.set_title("its target (HR patch, Y)")
for ax in (ax_input, ax_target):
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel("row (pixels)")
window = 20
smoothed = np.convolve(history["loss"], np.ones(window) / window, mode="valid")
ax_loss.semilogy(history["step"], history["loss"], color="0.75", linewidth=0.6, label="per step")
ax_loss.semilogy(history["step"][window - 1:], smoothed, color="C0", label=f"mean of {window} steps")
ax_loss.set_xlabel("step")
ax_loss.set_ylabel("training loss (MSE, log scale)")
ax_loss.set_title(f"training loss, batch {BATCH}")
ax_loss.legend()
ax_psnr.plot(history["val_step"], history["val_psnr"], "o-", color="C1", label="SRCNN being trained")
ax_psnr.axhline(bicubic_validation, color="0.5", linestyle="--", label="bicubic")
ax_psnr.set_xlabel("step")
ax_psnr.set_ylabel("Y-PSNR on chelsea.png (dB)")
ax_psnr.set_title("validation on a photo never trained on")
ax_psnr.legend()
fig.tight_layout()
save(fig, "training.png")

# %% [markdown]
# ## 3. PSNR and SSIM, as the papers compute them
#
# **PSNR** (peak signal-to-noise ratio) is the mean squared error on a log scale:
#
#     MSE  = mean over pixels of (HR - SR)^2          (8-bit values, 0..255)
#     PSNR = 10 log10(255^2 / MSE)  dB                 (+1 dB = 21% less squared error)
#
# The super-resolution tables compute it
#
# * on the **Y channel** only (luma, MATLAB's `rgb2ycbcr`: `Y = 16 + 65.481 R + 128.553 G + 24.966 B`
#   for R, G, B in [0, 1]), because the eye sees detail in brightness and SRCNN only processes Y;
# * after **shaving** `scale` pixels off every border, where no method has the information it needs;
# * on images **rounded to 8 bits**, as they would be saved.
#
# **SSIM** (structural similarity, Wang et al. 2004) compares local means, contrasts and
# correlations in an 11x11 Gaussian window (sigma 1.5) and averages the map:
#
#     SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_xx + s_yy + C2))
#
# with `C1 = (0.01 * 255)^2`, `C2 = (0.03 * 255)^2`. It is 1 for identical images and drops where
# structure (edges, texture) is lost, even if the squared error there is small.
#
# Below both are computed by hand on the held-out photo's bicubic upscale and compared with
# `tinysr.metrics`. The steps of the protocol: Y of the uint8 RGB image, rounded; crop to a multiple
# of the scale (`modcrop`); bicubic down **without** rounding (MATLAB's scripts stay in double);
# bicubic up; round to uint8; shave; score.

# %%
photo = read_image(held_out)
hr = rgb_to_y_uint8(modcrop(photo, SCALE))
lr = bicubic_degrade(hr, SCALE, round_to_uint8=False)  # float32, not rounded
sr = bicubic_upscale(lr, SCALE)  # uint8

shaved_hr = hr[SCALE:-SCALE, SCALE:-SCALE].astype(np.float64)
shaved_sr = sr[SCALE:-SCALE, SCALE:-SCALE].astype(np.float64)
mse = np.mean((shaved_hr - shaved_sr) ** 2)
psnr_by_hand = 10 * np.log10(255.0**2 / mse)


def ssim_map(x, y):
    """The SSIM map of two float64 images in 0..255, Gaussian window sigma 1.5 (11x11); valid part only."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def local_mean(a):
        return ndimage.gaussian_filter(a, sigma=1.5, truncate=3.5)

    mu_x, mu_y = local_mean(x), local_mean(y)
    s_xx = local_mean(x * x) - mu_x**2
    s_yy = local_mean(y * y) - mu_y**2
    s_xy = local_mean(x * y) - mu_x * mu_y
    full = (2 * mu_x * mu_y + c1) * (2 * s_xy + c2) / ((mu_x**2 + mu_y**2 + c1) * (s_xx + s_yy + c2))
    return full[5:-5, 5:-5]  # drop the 5 pixels where the 11x11 window sticks out of the image


bicubic_ssim_map = ssim_map(shaved_hr, shaved_sr)
print(f"chelsea.png, bicubic x{SCALE}: PSNR by hand {psnr_by_hand:.4f} dB, "
      f"tinysr.metrics.psnr {psnr(hr, sr, crop_border=SCALE):.4f} dB")
print(f"chelsea.png, bicubic x{SCALE}: SSIM by hand {bicubic_ssim_map.mean():.6f}, "
      f"tinysr.metrics.ssim {ssim(hr, sr, crop_border=SCALE):.6f}")
assert abs(psnr_by_hand - psnr(hr, sr, crop_border=SCALE)) < 1e-10
assert abs(bicubic_ssim_map.mean() - ssim(hr, sr, crop_border=SCALE)) < 1e-6
assert abs(psnr(hr, sr, crop_border=SCALE) - bicubic_validation) < 1e-9  # the same protocol as in training

# %% [markdown]
# ## 4. Why the bicubic row differs between papers
#
# Every paper has a "bicubic" baseline, and they do not agree to the hundredth of a dB, sometimes not
# even to the dB. Here is each choice, measured on Set5 at x3 (or on the held-out photo). To be able
# to vary the bicubic itself, we write it out: a resize is a matrix `R` per axis, `out = R_rows @ image
# @ R_cols^T`, whose row `i` holds the kernel weights of output pixel `i`:
#
#     k(t) = (a + 2)|t|^3 - (a + 3)|t|^2 + 1         for |t| <= 1       (Keys' cubic; a = -0.5 in MATLAB
#     k(t) = a|t|^3 - 5a|t|^2 + 8a|t| - 4a           for 1 < |t| < 2      and Pillow, -0.75 in OpenCV)
#
# sampled at `input position = (output index + 0.5) / scale - 0.5`. When *shrinking*, MATLAB and Pillow
# stretch the kernel by `1 / scale` (antialiasing: each output pixel averages the whole area it
# covers); OpenCV's `INTER_CUBIC` does not. At the image border MATLAB mirrors the image; Pillow drops
# the taps that fall outside and renormalises the rest.

# %%
def keys_cubic(t, a):
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t**3 - (a + 3) * t**2 + 1,
                    np.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, 0.0))


def resize_matrix(n_in, n_out, a=-0.5, antialias=True, border="renormalise"):
    """(n_out, n_in): row i holds the weights that make output pixel i from the input pixels."""
    scale = n_out / n_in
    stretch = scale if (antialias and scale < 1) else 1.0  # shrinking with antialiasing: a wider kernel
    centre = (np.arange(n_out) + 0.5) / scale - 0.5  # where output pixel i sits on the input grid
    reach = 2.0 / stretch
    taps = np.floor(centre - reach).astype(int)[:, None] + np.arange(math.ceil(2 * reach) + 2)[None, :]
    weights = stretch * keys_cubic((centre[:, None] - taps) * stretch, a)
    if border == "mirror":  # MATLAB: ... 2 1 0 | 0 1 2 ... n-1 | n-1 n-2 ...
        period = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])
        taps = period[taps % (2 * n_in)]
    else:  # Pillow: taps outside the image get no weight
        weights = np.where((taps >= 0) & (taps < n_in), weights, 0.0)
        taps = np.clip(taps, 0, n_in - 1)
    weights /= weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.repeat(np.arange(n_out), taps.shape[1]), taps.ravel()), weights.ravel())
    return matrix


def resize(image, factor, **options):
    """Resize a float (H, W) image by ``factor`` with the kernel and border ``options``."""
    height, width = image.shape
    rows = resize_matrix(height, round(height * factor), **options)
    cols = resize_matrix(width, round(width * factor), **options)
    return rows @ image @ cols.T


def bicubic_variants(path):
    """Y-PSNR (or RGB-PSNR) of the bicubic x3 baseline of one photo under each choice a paper might make."""
    rgb = modcrop(read_image(path)[:, :, :3], SCALE)
    hr = rgb_to_y_uint8(rgb)
    hr_float = hr.astype(np.float64) / 255
    lr = bicubic_degrade(hr, SCALE, round_to_uint8=False)
    sr = bicubic_upscale(lr, SCALE)
    lr_rgb = bicubic_degrade(rgb, SCALE, round_to_uint8=False)
    from PIL import Image  # Pillow's 8-bit resize, as `Image.resize` is mostly used

    small = Image.fromarray(hr).resize((hr.shape[1] // SCALE, hr.shape[0] // SCALE), Image.Resampling.BICUBIC)
    pillow_8bit = np.asarray(small.resize((hr.shape[1], hr.shape[0]), Image.Resampling.BICUBIC))
    return {
        "the protocol (tinysr eval)": psnr(hr, sr, crop_border=SCALE),
        "same, bicubic as matrices above": psnr(hr, to_uint8(resize(resize(hr_float, 1 / SCALE), SCALE)),
                                                crop_border=SCALE),
        "MATLAB's mirrored border": psnr(
            hr, to_uint8(resize(resize(hr_float, 1 / SCALE, border="mirror"), SCALE, border="mirror")),
            crop_border=SCALE),
        "LR rounded to uint8 first": psnr(hr, bicubic_upscale(to_uint8(lr), SCALE), crop_border=SCALE),
        "Pillow on uint8 images": psnr(hr, pillow_8bit, crop_border=SCALE),
        "no border shave": psnr(hr, sr, crop_border=0),
        f"shave {SCALE} + 6 (EDSR's DIV2K code)": psnr(hr, sr, crop_border=SCALE + 6),
        "OpenCV-like (a = -0.75, no antialias)": psnr(
            hr, to_uint8(resize(resize(hr_float, 1 / SCALE, a=-0.75, antialias=False), SCALE, a=-0.75)),
            crop_border=SCALE),
        "RGB-PSNR instead of Y": psnr(rgb, bicubic_upscale(lr_rgb, SCALE), crop_border=SCALE),
    }


test_images = list_images(SET5) if SET5 is not None else [held_out]
test_name = "Set5" if SET5 is not None else "chelsea.png"
per_image = [bicubic_variants(path) for path in test_images]
variants = {name: float(np.mean([scores[name] for scores in per_image])) for name in per_image[0]}
protocol = variants["the protocol (tinysr eval)"]
print(f"bicubic x{SCALE} on {test_name}, mean PSNR (dB):")
for name, value in variants.items():
    print(f"  {name:<42} {value:7.3f}   ({value - protocol:+.3f})")
for scores in per_image:  # the matrices reproduce tinysr's (Pillow's) bicubic: same numbers
    assert abs(scores["same, bicubic as matrices above"] - scores["the protocol (tinysr eval)"]) < 1e-3
assert abs(variants["MATLAB's mirrored border"] - protocol) < 0.03
assert abs(variants["OpenCV-like (a = -0.75, no antialias)"] - protocol) > 0.1
assert abs(variants["RGB-PSNR instead of Y"] - protocol) > 0.1
if SET5 is not None:
    assert round(protocol, 2) == 30.39, "the published Set5 x3 bicubic Y-PSNR is 30.39 dB"

# %% [markdown]
# What this says (on Set5 x3; the tutorial prints the numbers of your run):
#
# * **Y or RGB** is the big one: RGB-PSNR is well over a dB lower, partly because Y spans only
#   16..235 of the 0..255 scale, so the same error is a smaller fraction of the peak in RGB terms.
# * **The kernel**: a bicubic without antialiasing (OpenCV's `resize`, or `scipy.ndimage.zoom`, used
#   to make the LR image) aliases, and its baseline is most of a dB lower. Worse, a network trained on
#   one degradation and tested on another is scored on a problem it never learned.
# * **MATLAB vs Pillow** (the border rule), **rounding the LR image**, and **the shave** move the
#   number by hundredths of a dB at x3, enough to reorder two methods in a table that reports two
#   decimals. Papers that state none of this cannot be compared to the hundredth.
#
# tinysr's protocol reproduces the published bicubic row of Set5 (33.66 / 30.39 / 28.42 dB at
# x2 / x3 / x4) exactly: `tinysr eval --data ../shared/datasets/Set5 --scale 3`.

# %% [markdown]
# ## 5. Bicubic vs our SRCNN vs the shipped SRCNN
#
# `tinysr/weights/srcnn_x3.npz` is the same 9-5-5 network trained by `tinysr train` for 97,000 steps of
# 32 patches on the standard 291 images, T91 + BSD200 (85,000 steps, then 12,000 with every image also
# shrunk by 0.9 to 0.6, `--scale-augment`: about six and a half hours on one core, over several sessions).
# `tinysr.checkpoint.load_weights` rebuilds it from the file; `tinysr.upscale(image, scale, model=network)`
# runs any Y-channel network on a colour photo (network on Y, bicubic on the colour channels Cb and Cr).

# %%
shipped, meta = load_weights(shipped_weights_path("srcnn", SCALE), expected_scale=SCALE)
networks = {"our SRCNN": network, "shipped SRCNN": shipped}
if SET5 is None:
    print("Set5 not found (../shared/datasets/Set5 or $TINYSR_DATASETS): scoring on chelsea.png only")
scores = {name: {"psnr": [], "ssim": []} for name in ("bicubic", *networks)}
names = []
for path in test_images:
    hr_y, ilr = y_pair(path)
    names.append(path.stem)
    outputs = {"bicubic": to_uint8(ilr), **{name: network_y(net, ilr) for name, net in networks.items()}}
    for name, output in outputs.items():
        scores[name]["psnr"].append(psnr(hr_y, output, crop_border=SCALE))
        scores[name]["ssim"].append(ssim(hr_y, output, crop_border=SCALE))
print(f"{test_name} x{SCALE}, Y-PSNR (dB) / SSIM, {SCALE} pixels shaved:")
print(f"{'image':<12}" + "".join(f"{name:>22}" for name in scores))
for i, name in enumerate(names):
    print(f"{name:<12}" + "".join(f"{s['psnr'][i]:>13.2f} / {s['ssim'][i]:.4f}" for s in scores.values()))
means = {name: (float(np.mean(s["psnr"])), float(np.mean(s["ssim"]))) for name, s in scores.items()}
print(f"{'mean':<12}" + "".join(f"{p:>13.2f} / {q:.4f}" for p, q in means.values()))
assert abs(means["bicubic"][0] - protocol) < 1e-9  # the same protocol as section 4
assert means["bicubic"][0] < means["our SRCNN"][0] < means["shipped SRCNN"][0]
assert means["bicubic"][1] < means["shipped SRCNN"][1]

# %% [markdown]
# ### Crops to look at
#
# Numbers summarise; eyes judge. The crops below come from the image with the most detail in the
# test set (Set5's butterfly, when Set5 is there), where bicubic loses most. The low-resolution input is
# the 8-bit colour image a camera or a file would give (`bicubic_degrade`), upscaled in colour. A second
# figure shows the SSIM map of bicubic on chelsea.png (section 3): dark where structure is lost.

# %%
def detailed_window(image, size):
    """Top-left corner of the size x size window of ``image`` (H, W, 3) with the most edges."""
    grey = image.astype(np.float64).mean(axis=2)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    summed = ndimage.uniform_filter(energy, size=size, mode="constant")
    centre = np.unravel_index(np.argmax(summed[size // 2 : -size // 2, size // 2 : -size // 2]), summed.shape)
    return centre[0], centre[1]  # argmax over the valid part: the window starting there lies inside


figure_image = next((path for path in test_images if path.stem == "butterfly"), test_images[0])
colour_hr = modcrop(read_image(figure_image)[:, :, :3], SCALE)
colour_lr = bicubic_degrade(colour_hr, SCALE)  # uint8, as a file
CROP = 96
top, left = detailed_window(colour_hr, CROP)
window = (slice(top, top + CROP), slice(left, left + CROP))
figure_index = names.index(figure_image.stem)
panels = [("original (HR)", colour_hr, None)]
panels.append(("bicubic", upscale(colour_lr, SCALE, model="bicubic"), scores["bicubic"]["psnr"][figure_index]))
for name, net in networks.items():
    panels.append((name, upscale(colour_lr, SCALE, model=net), scores[name]["psnr"][figure_index]))
for _, image, _ in panels:
    assert image.shape == colour_hr.shape

fig, axes = plt.subplots(2, 2, figsize=(11, 11.6))
for ax, (title, image, score) in zip(axes.ravel(), panels):
    ax.imshow(image[window], interpolation="nearest")
    ax.set_title(title if score is None else f"{title}: {score:.2f} dB (whole image, Y)", fontsize=11)
    ax.set_xlabel(f"column (pixels, from {left})")
    ax.set_ylabel(f"row (pixels, from {top})")
fig.suptitle(f"x{SCALE} super-resolution of {figure_image.name}, {CROP}x{CROP} crop\n"
             f"(our SRCNN: {STEPS} steps of {BATCH}; shipped: {meta['step']} steps of 32)")
fig.tight_layout()
save(fig, "bicubic_vs_srcnn.png")

fig, (ax_photo, ax_map) = plt.subplots(1, 2, figsize=(15, 5.4))
ax_photo.imshow(hr[SCALE:-SCALE, SCALE:-SCALE][5:-5, 5:-5], cmap="gray", vmin=0, vmax=255)
ax_photo.set_title("chelsea.png, Y channel (the part the SSIM map covers)")
shown = ax_map.imshow(bicubic_ssim_map, cmap="magma", vmin=0, vmax=1)
ax_map.set_title(f"SSIM map of its bicubic x{SCALE} upscale (mean {bicubic_ssim_map.mean():.3f}): "
                 "dark = structure lost")
fig.colorbar(shown, ax=ax_map, fraction=0.046, pad=0.04, label="local SSIM")
for ax in (ax_photo, ax_map):
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel("row (pixels)")
fig.tight_layout()
save(fig, "ssim_map.png")
workdir.cleanup()

# %% [markdown]
# ## What to take away
#
# * A few hundred steps on a CPU already beat bicubic; the shipped weights, trained on 80 times more
#   patches, beat it by about 2 dB on Set5 x3. The paper reports 32.75 dB after days on a GPU.
# * PSNR is computed on Y, with the border shaved, on 8-bit images; SSIM looks at local structure.
# * A bicubic baseline is only comparable when its kernel, its colour space, its rounding and its shave
#   are the same. State yours.
#
# Next: tutorial 8 writes a new layer from scratch and proves its gradient.
