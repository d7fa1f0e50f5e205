# %% [markdown]
# # Tutorial 10: Three ways to upsample
#
# A super-resolution network has to get from the small grid of the low-resolution (LR) image to the
# large grid of the high-resolution (HR) one. tinysr has three networks that do it three ways:
#
# * **SRCNN** (`tinysr/models/srcnn.py`): bicubic interpolation first, then every convolution runs
#   on the HR grid;
# * **FSRCNN** (`tinysr/models/fsrcnn.py`): convolutions on the LR grid, then a *transposed
#   convolution* with stride `r` at the end;
# * **ESPCN** (`tinysr/models/espcn.py`): convolutions on the LR grid, then a *sub-pixel
#   convolution* at the end (a convolution to `r*r` channels, then `PixelShuffle(r)`).
#
# This tutorial shows that the three are closer than they look, each claim checked by an assertion:
#
# 1. a transposed convolution's forward pass **is** a convolution's backward pass (its input gradient);
# 2. bicubic upscaling is itself a transposed convolution, with a fixed kernel;
# 3. a sub-pixel convolution is a transposed convolution with its weights rearranged, and back;
# 4. where checkerboard artifacts come from (uneven overlap, and kernels that differ per position),
#    and how ICNR starts a layer without them;
# 5. what each network costs per output pixel, counted from its layers and timed.
#
# Figures go to `tutorial_output/10/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/10/`.

# %%
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from tinysr import nn
from tinysr.data import sample_images_dir
from tinysr.image import imresize, read_image, rgb_to_y
from tinysr.models import ESPCN, FSRCNN, SRCNN
from tinysr.models.srresnet import icnr_
from tinysr.ops.conv2d import conv2d_backward, conv2d_forward
from tinysr.ops.conv_transpose2d import conv_transpose2d_forward
from tinysr.ops.pixel_shuffle import pixel_shuffle_forward

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "10"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")
rng = np.random.default_rng(10)


def save(fig, name):
    path = OUT / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


def transposed(x, weight, stride, padding, output_padding=0):
    return conv_transpose2d_forward(x, weight, None, stride, padding, output_padding, backend="reference")[0]


# %% [markdown]
# ## 1. A transposed convolution is a convolution run backwards
#
# A convolution with stride `s` reads a `k x k` window of its input for each output pixel, the
# windows `s` apart. Its backward pass sends each output pixel's gradient back over the same window:
# every `grad_output` pixel *stamps* a `k x k` copy of the kernel, scaled by its value, into
# `grad_input`, the stamps `s` apart (tutorial 2 derives it). Use that scatter as a layer, with the
# small image in place of `grad_output`, and the image grows `s` times: that is a transposed
# convolution (`tinysr/ops/conv_transpose2d.py`):
#
#     full[n, o, i*s + u, j*s + v] += x[n, c, i, j] * weight[c, o, u, v]      then crop `padding`
#
# Its weight has the layout `(C_in, C_out, k, k)`, in-channels first, because it is the weight of the
# convolution it runs backwards, `(C_out', C_in', k, k)` with the roles swapped. So we can check the
# claim literally: take a convolution from 3 channels to 5 with stride 3 and padding 4, whose input
# is as large as the transposed convolution's output; its `conv2d_backward` with `grad_output = x`
# gives the transposed convolution of `x`.

# %%
x = rng.standard_normal((2, 5, 6, 7))                 # (N, C_in, h, w): 5 channels on the small grid
weight = rng.standard_normal((5, 3, 9, 9))             # (C_in, C_out, k, k): FSRCNN's 9x9 kernel, 3 outputs
stride, padding, output_padding = 3, 4, 2              # FSRCNN x3's last layer
up = transposed(x, weight, stride, padding, output_padding)
print(f"transposed convolution: {x.shape} -> {up.shape}")

big_input = np.zeros(up.shape)                         # the convolution's input: the size of the output above
_, cache = conv2d_forward(big_input, weight, None, stride, padding, backend="reference")
grad_input, _, _ = conv2d_backward(x, cache, backend="reference")
assert grad_input.shape == up.shape
np.testing.assert_allclose(up, grad_input, rtol=1e-12, atol=1e-12)
print("transposed convolution forward == convolution input gradient: equal to 1e-12")

# %% [markdown]
# The other way round holds too (the module docstring writes it out): the transposed convolution's
# input gradient is an ordinary convolution of its `grad_output`. tinysr's Numba and CUDA tiers of
# `conv_transpose2d` contain no new kernel: they call the convolution's passes.
#
# One input pixel's stamp is easiest to see: a single 1 on the small grid gives the kernel itself,
# and two neighbours give two kernels `stride` apart, overlapping.

# %%
one = np.zeros((1, 1, 3, 3))
one[0, 0, 1, 1] = 1.0
kernel = rng.standard_normal((1, 1, 5, 5))
stamp = transposed(one, kernel, 2, 0)[0, 0]
np.testing.assert_array_equal(stamp[2:7, 2:7], kernel[0, 0])   # pixel (1, 1) lands at (2, 2): stride 2
assert np.count_nonzero(stamp) == 25

# %% [markdown]
# ## 2. Bicubic upscaling is a transposed convolution with a fixed kernel
#
# MATLAB's `imresize` (and `tinysr.image.imresize`) upscales by `r` by mapping each output pixel `Y`
# back to the input coordinate `(Y + 0.5) / r - 0.5` and weighting the four nearest input pixels with
# Keys' cubic `k(t)`. The weights depend only on `Y mod r` (the *phase* of the output pixel), so the
# whole operation is "each input pixel stamps a fixed kernel, the stamps `r` apart": a transposed
# convolution. Its kernel is the cubic sampled every `1/r`:
#
#     T[U] = k((P + (r - 1) / 2 - U) / r)     for U = 0 .. 4r, with padding P = (3r + 1) / 2 (r odd)
#
# in each direction (the 2-D kernel is the outer product). Away from the border, where `imresize`
# repeats edge pixels and the transposed convolution sees zeros, the two agree to float32 precision.
# So SRCNN's "bicubic first" is a transposed convolution that nobody trains, followed by
# convolutions that pay for every HR pixel.

# %%
def cubic(t):
    t = np.abs(t)
    return np.where(t <= 1, 1.5 * t**3 - 2.5 * t**2 + 1, np.where(t < 2, -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2, 0.0))


r = 3
P = (3 * r + 1) // 2
taps = cubic((P + (r - 1) / 2 - np.arange(4 * r + 1)) / r)
bicubic_kernel = np.outer(taps, taps)[None, None]      # (1, 1, 13, 13)
assert np.allclose([taps[phase::r].sum() for phase in range(r)], 1.0)   # every phase's weights sum to 1

photo = read_image(sample_images_dir() / "chelsea.png")
lr = (rgb_to_y(photo)[60:124, 150:214] / 255.0).astype(np.float32)     # 64x64 of the cat, Y in [0, 1]
by_imresize = imresize(lr, scale=r)
by_transposed = transposed(lr[None, None].astype(np.float64), bicubic_kernel, r, P)[0, 0]
assert by_transposed.shape == by_imresize.shape == (64 * r, 64 * r)
inner = (slice(3 * r, -3 * r), slice(3 * r, -3 * r))
error = np.abs(by_transposed[inner] - by_imresize[inner]).max()
print(f"bicubic x{r}: imresize vs transposed convolution with the cubic kernel, max difference {error:.1e}")
assert error < 1e-5

# %% [markdown]
# ## 3. A sub-pixel convolution is a transposed convolution with its weights rearranged
#
# ESPCN's last layer is a `k x k` convolution (padding `p = (k - 1) / 2`) from `C` channels to `r*r`,
# then `PixelShuffle(r)`, which sends channel `a*r + b` to position `(a, b)` of every `r x r` block.
# Write out one HR pixel, `(i*r + a, j*r + b)`:
#
#     out[i*r + a, j*r + b] = sum_{c,u,v} w[a*r + b, c, u, v] * x[c, i + u - p, j + v - p]
#
# and the transposed convolution with stride `r`, padding `P` and one output channel:
#
#     out[Y, X] = sum_{c,i',j'} x[c, i', j'] * T[c, 0, Y - i'*r + P, X - j'*r + P]
#
# Put `i' = i + u - p` and `Y = i*r + a`: the index is `(p - u)*r + a + P`. With `P = p*r` the two
# sums are the same sum when
#
#     T[c, 0, (2p - u)*r + a, (2p - v)*r + b] = w[a*r + b, c, u, v]
#
# a `k*r x k*r` kernel in which the `r*r` small kernels are flipped and interleaved (Shi et al. 2016,
# and "Is the deconvolution layer the same as a convolutional layer?", Shi et al., 2016). Build one
# from the other and compare. (A sub-pixel convolution's bias has `r*r` values, one per position; the
# transposed convolution has one per output channel, so we compare without biases: section 4
# comes back to what a per-position bias paints.)

# %%
def transposed_from_subpixel(w, r):
    """(r*r, C, k, k) sub-pixel weights -> (C, 1, k*r, k*r) transposed-convolution weights (padding p*r)."""
    _, channels, k, _ = w.shape
    p = (k - 1) // 2
    t = np.zeros((channels, 1, k * r, k * r))
    for a in range(r):
        for b in range(r):
            for u in range(k):
                for v in range(k):
                    t[:, 0, (2 * p - u) * r + a, (2 * p - v) * r + b] = w[a * r + b, :, u, v]
    return t


espcn = ESPCN(3, dtype=np.float64, rng=1)
subpixel_conv = espcn.body[4]                          # Conv2d(32, 9, 3, padding=1), then PixelShuffle(3)
features = rng.standard_normal((2, 32, 10, 12))        # what its first two layers would give
w = subpixel_conv.weight.data
by_subpixel = pixel_shuffle_forward(conv2d_forward(features, w, None, 1, 1, backend="reference")[0], 3)[0]
by_transposed = transposed(features, transposed_from_subpixel(w, 3), 3, 1 * 3)
assert by_subpixel.shape == by_transposed.shape == (2, 1, 30, 36)
np.testing.assert_allclose(by_subpixel, by_transposed, rtol=1e-12, atol=1e-12)
print("ESPCN's sub-pixel convolution == a transposed convolution with rearranged weights (to 1e-12)")

# %% [markdown]
# And back: FSRCNN's transposed convolution (9x9, stride 3, padding 4, output padding 2) is a sub-pixel
# convolution too. Solving the same index equation for `w`, with the sub-pixel layer's own `k` and `p`
# free, gives `w[a*r + b, c, u, v] = T[c, 0, (p - u)*r + a + P, (p - v)*r + b + P]`, zero where that
# index falls outside the 9x9 kernel. With `P = 4` the indices reach from -2 to 12 for `k = 5`,
# `p = 2`: a 5x5 convolution to 9 channels whose kernels are mostly the 9x9 kernel's taps and a few zeros.

# %%
def subpixel_from_transposed(t, r, padding, k):
    """(C, 1, K, K) transposed-convolution weights (stride r) -> (r*r, C, k, k) sub-pixel weights, padding k // 2."""
    channels, _, big_k, _ = t.shape
    p = k // 2
    w = np.zeros((r * r, channels, k, k))
    for a in range(r):
        for b in range(r):
            for u in range(k):
                for v in range(k):
                    row, col = (p - u) * r + a + padding, (p - v) * r + b + padding
                    if 0 <= row < big_k and 0 <= col < big_k:
                        w[a * r + b, :, u, v] = t[:, 0, row, col]
    return w


fsrcnn = FSRCNN(3, dtype=np.float64, rng=2)
deconv = fsrcnn.deconv                 # ConvTranspose2d(56, 1, 9, stride=3, padding=4, output_padding=2)
features = rng.standard_normal((2, 56, 10, 12))
by_transposed = transposed(features, deconv.weight.data, 3, 4, 2)
w5 = subpixel_from_transposed(deconv.weight.data, 3, 4, k=5)
by_subpixel = pixel_shuffle_forward(conv2d_forward(features, w5, None, 1, 2, backend="reference")[0], 3)[0]
np.testing.assert_allclose(by_subpixel, by_transposed, rtol=1e-12, atol=1e-12)
print(f"FSRCNN's 9x9 transposed convolution == a 5x5 sub-pixel convolution "
      f"({np.count_nonzero(w5[:, 0])} of {w5[:, 0].size} taps used)")

# %% [markdown]
# So the two learned upsamplers compute the same family of functions. What differs is the
# bookkeeping: a sub-pixel convolution is an ordinary convolution on the LR grid (fast everywhere)
# and a transposed convolution scatters (or, as in tinysr, runs a convolution's backward pass).
#
# ## 4. Checkerboard artifacts
#
# Both layers compute each of the `r x r` positions of a block with its own set of weights. If those
# sets respond differently to the same neighbourhood, every block carries the same small pattern: a
# grid laid over the image. Two ways it happens:
#
# **Uneven overlap** (Odena, Dumoulin and Olah, 2016). A transposed convolution whose kernel size is
# not a multiple of its stride stamps some output pixels more often than others. FSRCNN's 9x9 kernel
# at stride 3 overlaps evenly (every output pixel gets 3 x 3 stamps); at stride 2 it does not (5 or 4
# per direction), and even a kernel of all ones on a flat image prints a pattern.

# %%
flat = np.ones((1, 1, 20, 20))
ones = np.ones((1, 1, 9, 9))
for s in (3, 2, 4):
    out = transposed(flat, ones, s, 4, s - 1)[0, 0]
    interior = out[10:-10, 10:-10]                     # away from the border, where fewer stamps arrive
    counts = sorted({int(v) for v in np.unique(interior)})
    print(f"9x9 kernel of ones, stride {s}: a flat input gets {counts} stamps per output pixel")
    if s == 3:
        assert counts == [9]
    else:
        assert len(counts) > 1

# %% [markdown]
# FSRCNN at x2 and x4 has this uneven overlap built in; training has to learn kernels whose phases
# balance out.
#
# **Different kernels per position.** Even with even overlap (and always in a sub-pixel convolution,
# where each position has its own `k x k` kernel) random weights make the `r*r` positions differ.
# Tutorial 4 measures this on a sub-pixel layer and shows ICNR (Aitken et al., 2017): start with the
# `r*r` kernels of a group equal, so that the layer begins as a convolution followed by
# nearest-neighbour upsampling. Through the rearrangement of section 3 we can now see what ICNR means
# for the transposed convolution: its kernel is made of constant `r x r` blocks, so that every
# position of an output block sums the same weights.

# %%
def phase_spread(image, r, border):
    """Standard deviation of the mean of each of the r*r block positions (0: no periodic pattern)."""
    inner = image[..., border:-border, border:-border]
    return float(np.std([inner[..., a::r, b::r].mean() for a in range(r) for b in range(r)]))


random_conv = nn.Conv2d(8, 9, 3, padding=1, dtype=np.float64, rng=5)
icnr_conv = icnr_(nn.Conv2d(8, 9, 3, padding=1, dtype=np.float64, rng=5), 3)
t_icnr = transposed_from_subpixel(icnr_conv.weight.data, 3)
blocks = t_icnr.reshape(8, 1, 3, 3, 3, 3)                # (c, 0, block row, a, block col, b)
assert np.array_equal(blocks, np.broadcast_to(blocks[:, :, :, :1, :, :1], blocks.shape))
flat_features = np.ones((1, 8, 16, 16))
spreads = {}
for name, conv in (("random", random_conv), ("ICNR", icnr_conv)):
    out = pixel_shuffle_forward(conv.forward(flat_features), 3)[0]
    spreads[name] = phase_spread(out, 3, border=6)
    print(f"sub-pixel conv x3, {name:>6} init, flat input: spread between the 9 positions {spreads[name]:.2e}")
assert spreads["ICNR"] < 1e-12 < 1e-3 < spreads["random"]

# %% [markdown]
# The picture: the same 9x9 kernel shapes as images, and what each layer does to a flat grey patch
# and to the cat. Random sub-pixel weights paint a 3x3 grid; ICNR starts from blocks; the all-ones
# kernel at stride 2 prints its uneven overlap.

# %%
lr_cat = lr[None, None].astype(np.float64)
cat_features = np.repeat(lr_cat, 8, axis=1) / 8
panels = [
    ("random sub-pixel kernel\n(as a transposed one)", transposed_from_subpixel(random_conv.weight.data, 3)[0, 0]),
    ("ICNR kernel\n(constant 3x3 blocks)", t_icnr[0, 0]),
    ("random sub-pixel x3\non the cat", pixel_shuffle_forward(random_conv.forward(cat_features), 3)[0][0, 0]),
    ("ICNR sub-pixel x3\non the cat", pixel_shuffle_forward(icnr_conv.forward(cat_features), 3)[0][0, 0]),
    ("9x9 ones, stride 2\non a flat input", transposed(flat, ones, 2, 4, 1)[0, 0, 6:-6, 6:-6]),
]
fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.7))
for ax, (title, image) in zip(axes, panels):
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
save(fig, "checkerboard.png")

# %% [markdown]
# ## 5. What each network costs per output pixel
#
# A convolution from `C_in` to `C_out` channels with a `k x k` kernel does `C_in * C_out * k * k`
# multiply-adds per pixel of the grid it runs on. SRCNN runs all its layers on the HR grid; FSRCNN and
# ESPCN on the LR grid, which has `r*r` times fewer pixels, and their last layer too is counted per LR
# pixel (a transposed convolution does `C_in * C_out * k * k` per *input* pixel). Count it from the
# networks' layers, and check the count against the formulas in the papers:
#
# * SRCNN (Dong et al. 2016): `f1^2 n1 + n1 n2 f2^2 + n2 f3^2` per HR pixel;
# * FSRCNN (Dong et al. 2016, section 3.2): `9 m s^2 + 2 s d + 106 d` per LR pixel
#   (`25d` for the first layer, `sd + ds` for shrinking and expanding, `81d` for the deconvolution).

# %%
def multiply_adds_per_input_pixel(network):
    """Multiply-adds per pixel of the grid the network reads, from its Conv2d and ConvTranspose2d layers."""
    return sum(module.weight.data.size                  # C_in * C_out * k * k, whichever the layout
               for module in network.modules() if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)))


r = 3
networks = {"SRCNN 9-5-5": SRCNN(rng=0), "FSRCNN (56, 12, 4)": FSRCNN(r, rng=0), "ESPCN": ESPCN(r, rng=0)}
per_input = {name: multiply_adds_per_input_pixel(net) for name, net in networks.items()}
assert per_input["SRCNN 9-5-5"] == 9**2 * 64 + 64 * 32 * 5**2 + 32 * 5**2
d, s, m = 56, 12, 4
assert per_input["FSRCNN (56, 12, 4)"] == 9 * m * s**2 + 2 * s * d + 106 * d
assert per_input["ESPCN"] == 5**2 * 64 + 64 * 32 * 3**2 + 32 * r * r * 3**2
# per HR pixel: SRCNN reads the HR grid already; FSRCNN and ESPCN read a grid r*r times smaller
cost = {name: count / (r * r if networks[name].input_mode == "lr" else 1) for name, count in per_input.items()}

lr_side = 96
lr_y = rng.random((1, 1, lr_side, lr_side), dtype=np.float32)
ilr_y = imresize(lr_y[0, 0], scale=r)[None, None]
seconds = {}
for name, network in networks.items():
    network.eval()
    x = ilr_y if network.input_mode == "ilr" else lr_y
    network.forward(x)                                 # the first call compiles the kernels
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        network.forward(x)
        runs.append(time.perf_counter() - start)
    seconds[name] = float(np.median(runs))
print(f"\nx{r}, a {lr_side}x{lr_side} LR image -> {r * lr_side}x{r * lr_side} (median of 3, this machine):")
print(f"{'network':<20} {'parameters':>10} {'multiply-adds per HR pixel':>27} {'time':>9}")
for name, network in networks.items():
    print(f"{name:<20} {network.num_parameters():>10,} {cost[name]:>27,.0f} {seconds[name] * 1e3:>7.1f} ms")
assert cost["SRCNN 9-5-5"] > 20 * cost["FSRCNN (56, 12, 4)"]
assert cost["SRCNN 9-5-5"] > 20 * cost["ESPCN"]

# %% [markdown]
# FSRCNN has fewer weights than SRCNN and does about 40 times fewer multiply-adds per output pixel,
# because it works on the small grid and only its last layer reaches the large one. The measured times
# shrink less than the counts: on small feature maps with few channels the machinery around each
# multiply-add (loads, stores, loop bounds) weighs more. README's table gives the trained networks'
# PSNR beside their speed (`benchmarks/bench_upscale.py`): learning the upsampling at the end made
# FSRCNN about five times faster than SRCNN on a whole photo, with a score at least as good.
