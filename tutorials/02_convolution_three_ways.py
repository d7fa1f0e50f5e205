# %% [markdown]
# # Tutorial 2: convolution, three ways
#
# Almost all the arithmetic of a super-resolution network is convolution, so how it is computed
# decides how fast the network trains. This tutorial computes one convolution three ways and checks
# that they agree to the last bits:
#
# 1. **seven nested loops**, the definition written out (obviously right, hopelessly slow);
# 2. **im2col + one matrix product**: copy every window into a column of a matrix, then let a
#    matrix-multiplication library (BLAS) do the sums;
# 3. **tinysr's Numba kernel**, `tinysr.ops.conv2d.conv2d_forward`, which runs BLAS products inside
#    compiled code, one image per thread.
#
# Then the backward pass: we show that both of its gradients are themselves convolutions, which
# is why one fast convolution makes training fast too. Last, why gradient checks run in float64.
#
# Figures go to `tutorial_output/02/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/02/`.

# %%
import os
import time
from pathlib import Path

# NumPy's matrix product would otherwise start one BLAS thread per core; on a busy machine those
# threads wait for each other and a 1 ms product can take 50 ms. tinysr's kernel gives each of its
# threads a single-threaded BLAS, so one BLAS thread for NumPy compares like with like. (This only
# works before NumPy is first imported.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numba
import numpy as np

import tinysr
from tinysr.models import SRCNN
from tinysr.ops.activations import tanh_forward
from tinysr.ops.conv2d import conv2d_backward, conv2d_forward, conv2d_forward_reference

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "02"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")

# %% [markdown]
# ## 1. Seven loops
#
# With `xpad` the input with `p` rows and columns of zeros around it, a convolution (strictly a
# cross-correlation, as in every deep-learning library) with stride 1 is
#
#     out[n, o, i, j] = bias[o] + sum_{c, u, v} weight[o, c, u, v] * xpad[n, c, i + u, j + v]
#
# Four loops pick the output element `(n, o, i, j)`, three more run the sum over `(c, u, v)`.

# %%
def conv_seven_loops(x, weight, bias, padding):
    n_images, in_channels, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    xpad = np.zeros((n_images, in_channels, height + 2 * padding, width + 2 * padding), dtype=x.dtype)
    xpad[:, :, padding : padding + height, padding : padding + width] = x  # zero padding
    h_out, w_out = height + 2 * padding - k_h + 1, width + 2 * padding - k_w + 1
    out = np.zeros((n_images, out_channels, h_out, w_out), dtype=x.dtype)
    for n in range(n_images):
        for o in range(out_channels):
            for i in range(h_out):
                for j in range(w_out):
                    total = bias[o]
                    for c in range(in_channels):
                        for u in range(k_h):
                            for v in range(k_w):
                                total += weight[o, c, u, v] * xpad[n, c, i + u, j + v]
                    out[n, o, i, j] = total
    return out


rng = np.random.default_rng(0)
SMALL = {"N": 2, "C_in": 3, "C_out": 4, "H": 12, "k": 3, "padding": 1}
x = rng.standard_normal((SMALL["N"], SMALL["C_in"], SMALL["H"], SMALL["H"]))
weight = rng.standard_normal((SMALL["C_out"], SMALL["C_in"], SMALL["k"], SMALL["k"]))
bias = rng.standard_normal(SMALL["C_out"])
out_loops = conv_seven_loops(x, weight, bias, SMALL["padding"])
print(f"x {x.shape} * weight {weight.shape} -> out {out_loops.shape}")

# %% [markdown]
# ## 2. im2col + one matrix product
#
# For one image, collect every `k x k` window of every input channel into one *column* of a matrix
# `cols` of shape `(C_in k k, H_out W_out)`: row `(c, u, v)`, column `(i, j)` holds
# `xpad[c, i + u, j + v]`. Flatten the weight to `(C_out, C_in k k)`. Then the seven loops collapse
# into one matrix product:
#
#     out[n].reshape(C_out, H_out W_out) = weight.reshape(C_out, -1) @ cols + bias[:, None]
#
# The copy costs memory (each pixel is copied `k * k` times) but the product runs at the speed of
# the matrix library, tens of times faster than any loop we would write. This is how Caffe computed
# convolutions, and how tinysr's kernel does it when an image has fewer than 4 channels.

# %%
def im2col(xpad_image, k_h, k_w, h_out, w_out):
    """(C, Hp, Wp) -> cols (C k_h k_w, h_out w_out): one row per (c, u, v), one column per output pixel."""
    channels = xpad_image.shape[0]
    cols = np.empty((channels, k_h, k_w, h_out, w_out), dtype=xpad_image.dtype)
    for u in range(k_h):
        for v in range(k_w):
            cols[:, u, v] = xpad_image[:, u : u + h_out, v : v + w_out]  # every window's (u, v) pixel at once
    return cols.reshape(channels * k_h * k_w, h_out * w_out)


def conv_im2col(x, weight, bias, padding):
    n_images, _, height, width = x.shape
    out_channels, _, k_h, k_w = weight.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out, w_out = height + 2 * padding - k_h + 1, width + 2 * padding - k_w + 1
    weight_2d = weight.reshape(out_channels, -1)
    out = np.empty((n_images, out_channels, h_out, w_out), dtype=x.dtype)
    for n in range(n_images):
        out[n] = (weight_2d @ im2col(xpad[n], k_h, k_w, h_out, w_out) + bias[:, None]).reshape(
            out_channels, h_out, w_out
        )
    return out


out_im2col = conv_im2col(x, weight, bias, SMALL["padding"])
print(f"im2col matrix of one image: {SMALL['C_in'] * SMALL['k'] ** 2} rows x {SMALL['H'] ** 2} columns")
print(f"im2col vs loops: largest difference {np.max(np.abs(out_im2col - out_loops)):.1e}")
np.testing.assert_allclose(out_im2col, out_loops, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## 3. tinysr's Numba kernel
#
# `conv2d_forward(x, weight, bias, stride, padding)` follows tinysr's op contract: it returns the
# output and a `cache` for the backward pass. Its `backend="numba"` tier (the default) runs one
# `prange` over the images of the batch; each thread calls a single-threaded BLAS matrix product
# (`sgemm`/`dgemm`) on its own scratch buffers. With 1 to 3 input channels it uses im2col as above;
# with 4 or more, "shifted windows": one accumulating product per kernel tap `(u, v)` on the padded
# image, so no `k * k` copy is made. `backend="reference"` is the readable NumPy version (one
# `einsum` per kernel tap), in `tinysr/ops/conv2d.py`; the Numba layouts are in `tinysr/ops/cpu/`,
# one file each (`conv2d_im2col.py`, `conv2d_windows.py`, ...), chosen by `tinysr/ops/cpu/conv2d.py`.

# %%
out_numba, cache = conv2d_forward(x, weight, bias, 1, SMALL["padding"])
out_reference = conv2d_forward_reference(x, weight, bias, (1, 1), (SMALL["padding"],) * 2)
print(f"numba vs loops: largest difference {np.max(np.abs(out_numba - out_loops)):.1e}")
np.testing.assert_allclose(out_numba, out_loops, rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(out_reference, out_loops, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ### A whole network on the reference tier: `tinysr.tier`
#
# Every op has its tiers side by side, with one signature, and one rule picks which one runs
# (`tinysr/tiers.py`): the op's `backend=` argument, else the innermost `with tinysr.tier(...)`
# block, else the fastest tier for the arrays' device (`"numba"` for NumPy arrays, `"cuda"` for
# GPU arrays). Inside the block every layer, loss and optimizer runs the NumPy reference, the maths
# you can read, and the numbers are the same:

# %%
network = SRCNN(channels=1, n1=8, n2=4, f1=5, f2=1, f3=3, rng=0).astype(np.float64)
low_res = np.random.default_rng(2).random((2, 1, 16, 16))
out_fast = network.forward(low_res)
with tinysr.tier("reference"):
    out_readable = network.forward(low_res)
print(f"SRCNN, numba tier vs reference tier: largest difference {np.max(np.abs(out_fast - out_readable)):.1e}")
np.testing.assert_allclose(out_readable, out_fast, rtol=1e-10, atol=1e-12)

# %% [markdown]
# ### What im2col looks like
#
# One 6x6 image with pixels numbered 0..35, a 3x3 kernel and padding 1: each column of `cols` is
# one window, read row by row. Neighbouring columns are neighbouring windows, so each row of `cols`
# is the image shifted by `(u - 1, v - 1)`; the zeros are the padding.

# %%
tiny = np.arange(36, dtype=np.float64).reshape(1, 6, 6)
tiny_cols = im2col(np.pad(tiny, ((0, 0), (1, 1), (1, 1))), 3, 3, 6, 6)
assert tiny_cols.shape == (9, 36)
assert np.array_equal(tiny_cols[4], tiny.ravel())  # the centre tap (u, v) = (1, 1) sees the image itself

fig, (ax_image, ax_cols) = plt.subplots(1, 2, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1, 3.2]})
ax_image.imshow(tiny[0], cmap="viridis")
for (row, col), value in np.ndenumerate(tiny[0]):
    ax_image.text(col, row, f"{value:.0f}", ha="center", va="center", color="white", fontsize=9)
ax_image.set_title("input image (1 channel, 6x6)")
ax_image.set_xlabel("column")
ax_image.set_ylabel("row")
ax_cols.imshow(tiny_cols, cmap="viridis", aspect="auto")
for (row, col), value in np.ndenumerate(tiny_cols):
    ax_cols.text(col, row, f"{value:.0f}", ha="center", va="center", color="white", fontsize=6)
ax_cols.set_title("im2col matrix: one column per output pixel (i, j), one row per kernel tap (u, v)")
ax_cols.set_xlabel("output pixel i * 6 + j")
ax_cols.set_ylabel("kernel tap u * 3 + v")
fig.tight_layout()
path = OUT / "im2col.png"
fig.savefig(path, dpi=110)
plt.close(fig)
print(f"figure: {path}")

# %% [markdown]
# ## Timings
#
# On the small case all three ways run; on a medium layer (batch 8, 16 -> 16 channels, 32x32, what
# a small SR network sees) the Python loops would take tens of seconds, so they are left out. To see
# that *compiling* the loops is not enough, the same seven loops also run under `numba.njit`.
# float32 throughout, as in training; the first call of each compiled function is excluded (that
# is when Numba compiles it, or loads it from its on-disk cache).

# %%
conv_seven_loops_njit = numba.njit(conv_seven_loops)  # the very same Python function, compiled


def best_time(function, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def timings(shape, with_python_loops):
    n, c_in, c_out, size, k, padding = (shape[key] for key in ("N", "C_in", "C_out", "H", "k", "padding"))
    gen = np.random.default_rng(1)
    xs = gen.standard_normal((n, c_in, size, size)).astype(np.float32)
    ws = gen.standard_normal((c_out, c_in, k, k)).astype(np.float32)
    bs = gen.standard_normal(c_out).astype(np.float32)
    ways = {
        "im2col + NumPy matmul": lambda: conv_im2col(xs, ws, bs, padding),
        "seven loops, numba.njit": lambda: conv_seven_loops_njit(xs, ws, bs, padding),
        "tinysr Numba kernel": lambda: conv2d_forward(xs, ws, bs, 1, padding)[0],
    }
    if with_python_loops:
        ways = {"seven loops, Python": lambda: conv_seven_loops(xs, ws, bs, padding), **ways}
    results = {name: function() for name, function in ways.items()}  # warm-up (and compile)
    first = next(iter(results.values()))
    for name, result in results.items():
        np.testing.assert_allclose(result, first, rtol=1e-4, atol=1e-4, err_msg=name)
    return {name: best_time(function) for name, function in ways.items()}


MEDIUM = {"N": 8, "C_in": 16, "C_out": 16, "H": 32, "k": 3, "padding": 1}
small_times = timings(SMALL, with_python_loops=True)
medium_times = timings(MEDIUM, with_python_loops=False)
for label, shape, measured in [("small", SMALL, small_times), ("medium", MEDIUM, medium_times)]:
    flops = 2 * shape["N"] * shape["C_out"] * shape["H"] ** 2 * shape["C_in"] * shape["k"] ** 2
    print(f"{label} {shape}, {numba.get_num_threads()} Numba thread(s):")
    for name, seconds in measured.items():
        print(f"  {name:<26} {seconds * 1e3:9.3f} ms   {flops / seconds / 1e9:7.2f} GFLOP/s")
assert medium_times["tinysr Numba kernel"] < medium_times["seven loops, numba.njit"]

# %% [markdown]
# ## The backward pass is a convolution too
#
# Tutorial 1 derived, for stride 1,
#
#     grad_weight[o, c, u, v] = sum_{n, i, j} grad_output[n, o, i, j] * xpad[n, c, i + u, j + v]
#     grad_xpad[n, c, p, q]   = sum_{o, u, v} grad_output[n, o, p - u, q - v] * weight[o, c, u, v]
#
# The first is a correlation of the input with `grad_output`, in which the *batch* plays the part of
# the channels: swap the first two axes of `x` and of `grad_output` and call the same forward
# convolution. The second is a "full" correlation: pad `grad_output` by `k - 1 - p` on each side and
# correlate it with the kernel flipped in both directions, input and output channels swapped. (In
# matrix terms: the forward pass multiplies by a big sparse matrix `A`, and the input gradient
# multiplies by `A^T`; the test for that is `<A x, g> = <x, A^T g>`.)

# %%
grad_output = rng.standard_normal(out_numba.shape)
grad_input, grad_weight, grad_bias = conv2d_backward(grad_output, cache)
k, p = SMALL["k"], SMALL["padding"]

flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C_in, C_out, k, k)
grad_input_as_conv, _ = conv2d_forward(grad_output, flipped, None, 1, k - 1 - p)
print(f"grad_input  == full correlation with the flipped kernel: "
      f"difference {np.max(np.abs(grad_input_as_conv - grad_input)):.1e}")
np.testing.assert_allclose(grad_input_as_conv, grad_input, rtol=1e-12, atol=1e-12)

x_t = np.ascontiguousarray(x.transpose(1, 0, 2, 3))  # (C_in, N, H, W): images as channels
g_t = np.ascontiguousarray(grad_output.transpose(1, 0, 2, 3))  # (C_out, N, H_out, W_out)
grad_weight_as_conv, _ = conv2d_forward(x_t, g_t, None, 1, p)  # (C_in, C_out, k, k)
grad_weight_as_conv = grad_weight_as_conv.transpose(1, 0, 2, 3)
print(f"grad_weight == correlation of x with grad_output:        "
      f"difference {np.max(np.abs(grad_weight_as_conv - grad_weight)):.1e}")
np.testing.assert_allclose(grad_weight_as_conv, grad_weight, rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(grad_bias, grad_output.sum(axis=(0, 2, 3)), rtol=1e-12)

no_bias_out, no_bias_cache = conv2d_forward(x, weight, None, 1, p)
left = np.sum(no_bias_out * grad_output)  # <A x, g>
right = np.sum(x * conv2d_backward(grad_output, no_bias_cache)[0])  # <x, A^T g>
print(f"<A x, g> = {left:.10f},  <x, A^T g> = {right:.10f}")
assert abs(left - right) < 1e-9 * abs(left)

# %% [markdown]
# Strides and padding make the bookkeeping harder, not the idea: the gradient still scatters back
# to each window. `tinysr.gradcheck` proves the kernel's backward pass on a strided, padded case,
# given as a pair of op functions.

# %%
def strided_forward(x, weight, bias):
    return conv2d_forward(x, weight, bias, 2, 1)


report = tinysr.gradcheck((strided_forward, conv2d_backward), x[:, :, :7, :7], weight, bias)
print(report)
assert report.passed

# %% [markdown]
# ## Why gradient checks run in float64
#
# A finite difference `(f(w + eps) - f(w - eps)) / (2 eps)` makes two errors. *Truncation*: the
# formula is exact only for quadratics, so it is off by about `eps^2 f''' / 6`, which wants a small
# `eps`. *Round-off*: `f` is only known to about `machine epsilon * |f|` (1e-7 relative in float32,
# 1e-16 in float64), and dividing by `2 eps` magnifies that, which wants a large `eps`. The best
# `eps` is where the two meet. Below, `f = sum(tanh(conv(x, w)) * g)` and the exact derivative comes
# from the backward pass in float64. In float32 the best we can do is 1e-5 to 1e-4 relative error,
# too coarse to tell a subtle bug from noise; in float64 it is about 1e-10.

# %%
def scalar_loss(weight_value, dtype):
    w_local = weight.astype(dtype).copy()
    w_local[0, 0, 1, 1] = weight_value
    z, _ = conv2d_forward(x.astype(dtype), w_local, bias.astype(dtype), 1, p)
    y, _ = tanh_forward(z)
    return np.sum(y.astype(np.float64) * grad_output)


z64, cache64 = conv2d_forward(x, weight, bias, 1, p)
y64, _ = tanh_forward(z64)
exact = conv2d_backward(grad_output * (1 - y64**2), cache64)[1][0, 0, 1, 1]  # chain rule through tanh

epsilons = np.logspace(-10, -0.5, 40)
errors = {}
for dtype in (np.float32, np.float64):
    w0 = dtype(weight[0, 0, 1, 1])
    error = []
    for eps in epsilons:
        w_plus, w_minus = w0 + dtype(eps), w0 - dtype(eps)
        step = float(w_plus) - float(w_minus)  # the step actually taken, after rounding to dtype
        if step == 0:  # eps vanished in rounding: w0 + eps == w0, no derivative to measure
            error.append(np.nan)
            continue
        numeric = (scalar_loss(w_plus, dtype) - scalar_loss(w_minus, dtype)) / step
        error.append(abs(numeric - exact) / abs(exact))
    errors[dtype.__name__] = np.array(error)
# The floor of each curve is the median of its five best points: at one eps the truncation and round-off
# errors can cancel by luck (the error changes sign there), and one such point says nothing about the floor.
floors = {}
for name, error in errors.items():
    best = np.nanargmin(error)
    floors[name] = np.median(np.sort(error[~np.isnan(error)])[:5])
    print(f"{name}: best relative error {error[best]:.1e} at eps = {epsilons[best]:.1e}; floor {floors[name]:.1e}")
assert floors["float64"] < 1e-8 < floors["float32"]

fig, (ax_time, ax_eps) = plt.subplots(1, 2, figsize=(13, 4.8))
names = list(small_times)
positions = np.arange(len(names))
ax_time.barh(positions + 0.2, [small_times[n] * 1e3 for n in names], height=0.4, label=f"small {tuple(SMALL.values())}")
ax_time.barh(positions[1:] - 0.2, [medium_times[n] * 1e3 for n in names[1:]], height=0.4,
             label=f"medium {tuple(MEDIUM.values())}")
ax_time.set_yticks(positions, names)
ax_time.set_xscale("log")
ax_time.set_xlabel("time per forward pass (ms, log scale, float32, 1 call)")
ax_time.set_title("one convolution, three ways (shape: N, C_in, C_out, H, k, padding)")
ax_time.legend(fontsize=8)
for name, error in errors.items():
    ax_eps.loglog(epsilons, error, "o-", markersize=3, label=name)
ax_eps.set_xlabel("finite-difference step eps")
ax_eps.set_ylabel("relative error of the central difference")
ax_eps.set_title("truncation (right) vs round-off (left)")
ax_eps.legend()
ax_eps.grid(True, which="major", alpha=0.3)
fig.tight_layout()
path = OUT / "timings_and_eps.png"
fig.savefig(path, dpi=110)
plt.close(fig)
print(f"figure: {path}")

# %% [markdown]
# ## What to take away
#
# * A convolution is a sum of products; how you arrange that sum decides the speed. Writing it as
#   matrix products lets BLAS do the work, and that beats any loop, compiled or not.
# * Both gradients of a convolution are convolutions: of the input with the output gradient (for
#   the weights), and of the output gradient with the flipped kernel (for the input).
# * Check gradients in float64: in float32, round-off hides errors of 1e-5 to 1e-4.
#
# Next: tutorial 3 derives the backward pass of batch normalisation, where the gradient of one
# element depends on every other element of the batch.
