# %% [markdown]
# # Tutorial 4: PReLU and the sub-pixel layer
#
# SRResNet enlarges its feature maps with a *sub-pixel convolution*: a convolution to `r * r` times
# the channels, then `PixelShuffle(r)`, which rearranges those channels into an `r` times larger
# image, then a `PReLU`. This tutorial takes the two new layers apart:
#
# 1. **PReLU**, a ReLU whose negative slope is learned: its gradient with respect to the slope, and
#    a slope learned from data;
# 2. **pixel shuffle**, which computes nothing at all: it is a permutation, and the gradient of a
#    permutation is the inverse permutation;
# 3. **checkerboard artifacts** that a randomly initialised sub-pixel convolution paints over every
#    image, and **ICNR**, the initialisation that removes them.
#
# Figures go to `tutorial_output/04/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/04/`.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinysr
from tinysr import nn
from tinysr.data import sample_images_dir
from tinysr.image import read_image, rgb_to_y
from tinysr.losses import MSELoss
from tinysr.models import SRResNet
from tinysr.models.srresnet import icnr_
from tinysr.ops.pixel_shuffle import pixel_shuffle_backward, pixel_shuffle_forward, pixel_unshuffle_forward
from tinysr.optim import Adam

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "04"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")


def save(fig, name):
    path = OUT / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


# %% [markdown]
# ## 1. PReLU: a learnable slope
#
# `PReLU(num_parameters=C)` keeps one slope `a[c]` per channel:
#
#     y = x              where x > 0
#     y = a[c] * x       where x <= 0
#
# It is elementwise, so its input gradient is the upstream gradient times the local slope. The
# slope is used at every non-positive element of its channel, so its gradient is a sum over them:
#
#     dL/dx    = g                  where x > 0,   a[c] * g  elsewhere
#     dL/da[c] = sum of g * x       over the elements of channel c where x <= 0
#
# (At exactly `x = 0` tinysr, like PyTorch, takes the slope `a[c]`.)

# %%
rng = np.random.default_rng(0)
prelu = nn.PReLU(3, init=0.25, dtype=np.float64)
prelu.weight.data[...] = [0.25, -0.1, 0.6]  # slopes may be anything, even negative
x = rng.standard_normal((2, 3, 4, 4))
g = rng.standard_normal(x.shape)

prelu.zero_grad()
y = prelu.forward(x)
grad_x = prelu.backward(g)
slopes = prelu.weight.data[None, :, None, None]
np.testing.assert_array_equal(y, np.where(x > 0, x, slopes * x))
np.testing.assert_allclose(grad_x, np.where(x > 0, g, slopes * g), rtol=1e-15)
np.testing.assert_allclose(prelu.weight.grad, np.where(x > 0, 0.0, g * x).sum(axis=(0, 2, 3)), rtol=1e-12)
print("dL/da =", np.round(prelu.weight.grad, 6))
report = tinysr.gradcheck(prelu, x)
print(report)
assert report.passed

# %% [markdown]
# ### Learning a slope
#
# If the data were made by a leaky ReLU with slopes 0.1, 0.3 and -0.2 in three channels, PReLU
# should find those slopes. Start every slope at PReLU's default 0.25 and follow the gradient of the
# mean squared error with Adam.

# %%
true_slopes = np.array([0.1, 0.3, -0.2])
learner = nn.PReLU(3, init=0.25, dtype=np.float64)
optimizer = Adam(learner.parameters(), lr=0.02)
criterion = MSELoss()
slope_path = [learner.weight.data.copy()]
for _ in range(300):
    batch = rng.standard_normal((4, 3, 8, 8))
    target = np.where(batch > 0, batch, true_slopes[None, :, None, None] * batch)
    optimizer.zero_grad()
    criterion.forward(learner.forward(batch), target)
    learner.backward(criterion.backward())
    optimizer.step()
    slope_path.append(learner.weight.data.copy())
slope_path = np.array(slope_path)
print("learned slopes:", np.round(learner.weight.data, 4), " true:", true_slopes)
np.testing.assert_allclose(learner.weight.data, true_slopes, atol=5e-3)

fig, ax = plt.subplots(figsize=(7, 4.5))
for c in range(3):
    ax.plot(slope_path[:, c], color=f"C{c}", label=f"channel {c} (true slope {true_slopes[c]})")
    ax.axhline(true_slopes[c], color=f"C{c}", linestyle=":", linewidth=1)
ax.set_xlabel("Adam step (lr 0.02)")
ax.set_ylabel("PReLU slope a[c]")
ax.set_title("PReLU learns the slopes of the leaky ReLU that made its data")
ax.legend()
fig.tight_layout()
save(fig, "prelu_slopes.png")

# %% [markdown]
# ## 2. Pixel shuffle is a permutation
#
# `PixelShuffle(r)` turns `(N, C r^2, H, W)` into `(N, C, r H, r W)`:
#
#     out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]
#
# Channel `c*r*r + i*r + j` becomes the pixel at offset `(i, j)` of every `r x r` block. Nothing is
# added or multiplied: every input element lands in exactly one output element. The easiest way to
# see it is to shuffle the numbers 0, 1, 2, ... themselves.

# %%
r = 2
numbers = np.arange(1 * 4 * 3 * 3, dtype=np.float64).reshape(1, 4, 3, 3)  # C r^2 = 4 channels of 3x3
shuffled, shuffle_cache = pixel_shuffle_forward(numbers, r)
print("input channels:\n", numbers[0])
print("shuffled (1 channel, 6x6):\n", shuffled[0, 0])
assert shuffled.shape == (1, 1, 6, 6)
assert np.array_equal(np.sort(shuffled.ravel()), numbers.ravel())  # every number once: a permutation
assert shuffled[0, 0, 1, 0] == numbers[0, 2, 0, 0]  # offset (i, j) = (1, 0) of block (0, 0) is channel 1*2 + 0

# %% [markdown]
# ### The gradient of a permutation is the inverse permutation
#
# Write the permutation as `out.flat[k] = x.flat[perm[k]]`; the shuffled numbers above *are*
# `perm`. Each input element reaches the output in one place, with slope 1, so its gradient is the
# upstream gradient at that place: `grad_x.flat[perm[k]] = g.flat[k]`. Sending every value back to
# where it came from is the inverse permutation, `PixelUnshuffle(r)`, which is what tinysr's
# backward pass calls. In matrix terms: a permutation matrix `P` is orthogonal, `P^T = P^-1`, and
# the backward pass of any linear map multiplies by its transpose.

# %%
perm = shuffled.ravel().astype(np.int64)
g_out = rng.standard_normal(shuffled.shape)
grad_by_hand = np.zeros(numbers.size)
grad_by_hand[perm] = g_out.ravel()  # send each gradient back to where its value came from
grad_tinysr = pixel_shuffle_backward(g_out, shuffle_cache)
np.testing.assert_array_equal(grad_tinysr.ravel(), grad_by_hand)
np.testing.assert_array_equal(grad_tinysr, pixel_unshuffle_forward(g_out, r)[0])
np.testing.assert_array_equal(pixel_unshuffle_forward(shuffled, r)[0], numbers)  # unshuffle undoes shuffle
x_any = rng.standard_normal(numbers.shape)
left, right = np.sum(pixel_shuffle_forward(x_any, r)[0] * g_out), np.sum(x_any * grad_tinysr)
print(f"<P x, g> = {left:.12f} = <x, P^T g> = {right:.12f}")
assert abs(left - right) < 1e-12
report = tinysr.gradcheck(nn.PixelShuffle(3), rng.standard_normal((2, 18, 3, 3)))
print(report)
assert report.passed

fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [2.1, 1]})
channel_of = np.repeat(np.arange(4), 9).reshape(1, 4, 3, 3).astype(np.float64)  # colour = source channel
mosaic = np.full((3, 4 * 3 + 3), np.nan)
for c in range(4):
    mosaic[:, c * 4 : c * 4 + 3] = c
ax_in.imshow(mosaic, cmap="tab10", vmin=0, vmax=9)
for c in range(4):
    for (row, col), value in np.ndenumerate(numbers[0, c]):
        ax_in.text(c * 4 + col, row, f"{value:.0f}", ha="center", va="center", color="white", fontsize=11)
ax_in.set_xticks([c * 4 + 1 for c in range(4)], [f"channel {c}\n(i, j) = ({c // 2}, {c % 2})" for c in range(4)])
ax_in.set_yticks([])
ax_in.set_title("input: 4 = r^2 channels of 3x3")
ax_out.imshow(pixel_shuffle_forward(channel_of, r)[0][0, 0], cmap="tab10", vmin=0, vmax=9)
for (row, col), value in np.ndenumerate(shuffled[0, 0]):
    ax_out.text(col, row, f"{value:.0f}", ha="center", va="center", color="white", fontsize=11)
ax_out.set_xlabel("column w*r + j")
ax_out.set_ylabel("row h*r + i")
ax_out.set_title("PixelShuffle(2): 1 channel of 6x6")
fig.suptitle("Pixel shuffle moves numbers, it never changes them (colour: the channel a number came from)")
fig.tight_layout()
save(fig, "pixel_shuffle.png")

# %% [markdown]
# ## 3. Checkerboard artifacts and ICNR
#
# Feed a sub-pixel convolution (`Conv2d(1, 4, 3)` then `PixelShuffle(2)`) a photo. Each of the four
# positions of every 2x2 output block is computed by its *own* 3x3 kernel: output channel
# `i*2 + j` goes to offset `(i, j)`. With random kernels the four positions respond differently to
# the same neighbourhood, and a 2x2 grid pattern appears everywhere: a *checkerboard artifact*.
# Training can learn it away, but it starts there, and traces often survive.
#
# ICNR (Aitken et al., 2017, "Checkerboard artifact free sub-pixel convolution") initialises the
# four kernels of each group with the same random kernel (`tinysr.models.srresnet.icnr_(conv, r)`).
# Then all positions of a block are equal: the layer starts as a convolution followed by
# nearest-neighbour upsampling, and the network learns from there. On a flat grey input, which an
# upsampler should leave flat, the difference is plain: random kernels print a periodic pattern,
# ICNR prints nothing.

# %%
photo = read_image(sample_images_dir() / "chelsea.png")
lr_photo = rgb_to_y(photo)[100:164, 180:244].astype(np.float64)[None, None]  # 64x64 of the cat's face


def subpixel(icnr, seed=3):
    conv = nn.Conv2d(1, 4, 3, padding=1, dtype=np.float64, rng=seed)
    if icnr:
        icnr_(conv, 2)
    return nn.Sequential(conv, nn.PixelShuffle(2))


def phase_spread(image, r=2, border=4):
    """How much the r x r positions of a block differ on average: 0 for no periodic pattern.

    The mean over the image of each of the r*r positions (i, j), then their standard deviation, on the
    interior (``border`` pixels dropped, where zero padding makes the edges differ anyway).
    """
    inner = image[..., border:-border, border:-border]
    means = [inner[..., i::r, j::r].mean() for i in range(r) for j in range(r)]
    return float(np.std(means))


outputs = {}
flat = np.full((1, 1, 24, 24), 0.5)
for name, icnr in (("random init", False), ("ICNR", True)):
    layer = subpixel(icnr)
    outputs[name] = layer.forward(lr_photo)[0, 0]
    out_flat = layer.forward(flat)[0, 0]
    spread = phase_spread(out_flat)
    print(f"sub-pixel conv, {name:>11}: spread between the 4 positions on a flat input {spread:.2e}")
    if icnr:
        blocks = outputs[name].reshape(64, 2, 64, 2)
        assert np.array_equal(blocks, np.broadcast_to(blocks[:, :1, :, :1], blocks.shape))  # nearest upsampling
        assert spread == 0.0
    else:
        assert spread > 1e-2

# %% [markdown]
# ### In a whole network
#
# SRResNet follows its sub-pixel convolution with PReLU and a 9x9 convolution, which could blur a
# pattern away. They don't: on a flat grey input, a small x2 SRResNet (2 residual blocks, 16
# features) built with `icnr=False` has the pattern in its output, the default `icnr=True` has none.
# We look at the interior: within 24 output pixels of the border the zero padding of the
# convolutions reaches in, and a feature map that is not flat, upsampled and then convolved, is not
# flat either.

# %%
networks = {name: SRResNet(scale=2, num_blocks=2, num_features=16, icnr=icnr, rng=7).eval()
            for name, icnr in (("random init", False), ("ICNR", True))}
grey = np.full((1, 3, 48, 48), 0.5, dtype=np.float32)
network_outputs, spreads = {}, {}
for name, network in networks.items():
    network_outputs[name] = network.forward(grey)[0]
    spreads[name] = max(phase_spread(network_outputs[name][c], border=24) for c in range(3))
    print(f"SRResNet x2, {name:>11}: spread between the 4 positions of a block {spreads[name]:.2e}")
assert spreads["random init"] > 1e-2
assert spreads["ICNR"] < 1e-6

fig, axes = plt.subplots(2, 3, figsize=(13, 9))
lr_grey = lr_photo[0, 0]
panels = [
    (axes[0, 0], lr_grey, "input: 64x64 of chelsea.png (Y)"),
    (axes[0, 1], outputs["random init"], "conv 3x3 (4 random kernels) + PixelShuffle(2)"),
    (axes[0, 2], outputs["ICNR"], "the same layer with ICNR: no grid"),
]
for ax, image, title in panels:
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel("row (pixels)")
zoom = (slice(40, 72), slice(40, 72))
axes[1, 0].imshow(outputs["random init"][zoom], cmap="gray", interpolation="nearest")
axes[1, 0].set_title("random init, 32x32 zoom: the 2x2 grid", fontsize=10)
for ax, name in ((axes[1, 1], "random init"), (axes[1, 2], "ICNR")):
    channel = network_outputs[name][0, 24:-24, 24:-24]  # the interior of the red channel
    centre = channel.mean()
    random_interior = network_outputs["random init"][0, 24:-24, 24:-24]
    half_range = np.abs(random_interior - random_interior.mean()).max()  # one colour scale for both panels
    shown = ax.imshow(channel - centre, cmap="RdBu_r", vmin=-half_range, vmax=half_range, interpolation="nearest")
    ax.set_title(f"SRResNet x2 on flat grey, {name}\n(red channel minus its mean; spread {spreads[name]:.1e})",
                 fontsize=10)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
for ax in axes[1]:
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel("row (pixels)")
fig.suptitle("Checkerboard artifacts of a randomly initialised sub-pixel convolution, and ICNR")
fig.tight_layout()
save(fig, "checkerboard_icnr.png")

# %% [markdown]
# ## What to take away
#
# * PReLU's slope is a parameter like any other: its gradient sums `g * x` over the places it was used.
# * Pixel shuffle is a permutation. Its backward pass moves gradients back where the values came
#   from: the inverse permutation, pixel unshuffle. No arithmetic, no rounding, exact.
# * A sub-pixel convolution starts with a checkerboard unless its kernels start equal within each
#   group: ICNR makes it start as nearest-neighbour upsampling.
#
# Next: tutorial 5, the losses and the optimizer that turn these gradients into learning.
