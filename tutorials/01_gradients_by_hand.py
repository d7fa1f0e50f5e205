# %% [markdown]
# # Tutorial 1: gradients by hand
#
# A neural network learns by following the gradient of its loss: for every number it can change
# (every weight, every bias), how much does the loss move when that number moves a little? tinysr
# has no autograd: every layer's gradient is written by hand. This tutorial writes one out for the
# smallest network that still has everything a super-resolution network has:
#
#     x  --conv 3x3-->  z  --ReLU-->  y  --MSE against t-->  L
#
# We derive the backward pass with the chain rule, compute it step by step with plain loops,
# check one number by nudging it, check everything against tinysr's layers, and finally prove it
# with `tinysr.gradcheck`, which is what the library's own tests do for every layer.
#
# Run it as a script (`python tutorials/01_gradients_by_hand.py`) or open it as a notebook. Figures
# go to `tutorial_output/01/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/01/`.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write figures to files; no window needed
import matplotlib.pyplot as plt
import numpy as np

import tinysr
from tinysr import nn
from tinysr.losses import MSELoss

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "01"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")

# %% [markdown]
# ## The forward pass
#
# Shapes are NCHW, as everywhere in tinysr (and PyTorch): a batch of `N` images, `C` channels,
# `H` rows, `W` columns. Two 8x8 greyscale images go through one convolution with two 3x3 filters
# and no padding, so each output is 6x6:
#
#     z[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x[n, c, i + u, j + v]      (convolution)
#     y = max(z, 0)                                                                   (ReLU)
#     L = (1 / M) * sum (y - t)^2,    M = number of elements of y                     (mean squared error)
#
# Everything is float64 here: gradient checks need the precision (tutorial 2 says why).

# %%
rng = np.random.default_rng(0)
N, C_IN, C_OUT, SIZE, K = 2, 1, 2, 8, 3
x = rng.standard_normal((N, C_IN, SIZE, SIZE))
w = rng.standard_normal((C_OUT, C_IN, K, K)) * 0.5
b = np.array([0.1, -0.2])
OUT_SIZE = SIZE - K + 1
t = rng.standard_normal((N, C_OUT, OUT_SIZE, OUT_SIZE))


def forward(x, w, b, t):
    """The three steps of the forward pass, written as loops; returns L and what backward needs."""
    n_images, _, height, width = x.shape
    out_channels, _, k_h, k_w = w.shape
    z = np.zeros((n_images, out_channels, height - k_h + 1, width - k_w + 1))
    for n in range(n_images):
        for o in range(out_channels):
            for i in range(z.shape[2]):
                for j in range(z.shape[3]):
                    z[n, o, i, j] = b[o] + np.sum(w[o] * x[n, :, i : i + k_h, j : j + k_w])
    y = np.maximum(z, 0.0)
    loss = np.mean((y - t) ** 2)
    return loss, (x, w, z, y, t)


loss, cache = forward(x, w, b, t)
z, y = cache[2], cache[3]
print(f"x {x.shape} -> z {z.shape} -> y {y.shape};  L = {loss:.6f}")
print(f"{np.mean(z > 0):.0%} of z is positive, so the ReLU both passes and blocks gradient here")
assert 0 < np.mean(z > 0) < 1

# %% [markdown]
# ## The backward pass, one link of the chain at a time
#
# The chain rule says: the gradient of `L` with respect to something early in the network is the
# gradient with respect to the thing right after it, times the local derivative. So we walk
# backwards, and each step only needs the gradient from the step after it and what the forward
# pass cached.
#
# **MSE.** `L = (1/M) sum (y - t)^2`, so `dL/dy = 2 (y - t) / M`, one number per element of `y`.
#
# **ReLU.** `y = max(z, 0)` has slope 1 where `z > 0` and 0 elsewhere (at exactly 0 tinysr, like
# PyTorch, takes 0). So `dL/dz = dL/dy * (z > 0)`: the gradient passes where the unit was on and
# is blocked where it was off.
#
# **Convolution.** `z[n, o, i, j]` is a sum of products, and the derivative of a sum of products
# with respect to one factor is the other factor. Each `w[o, c, u, v]` appears in every output
# pixel of channel `o`, each `b[o]` too, and each input pixel `x[n, c, p, q]` in every output
# pixel whose 3x3 window covers it. Adding up every path:
#
#     dL/db[o]          = sum_{n, i, j} dL/dz[n, o, i, j]
#     dL/dw[o, c, u, v] = sum_{n, i, j} dL/dz[n, o, i, j] * x[n, c, i + u, j + v]
#     dL/dx[n, c, p, q] = sum over (o, u, v) with i = p - u, j = q - v inside z
#                         of dL/dz[n, o, i, j] * w[o, c, u, v]
#
# The last one is easiest to write as a *scatter*: every output pixel sends `dL/dz * w` back to
# the 3x3 window it was computed from (tutorial 2 shows that this is itself a convolution).

# %%
def backward(cache):
    """dL/dx, dL/dw, dL/db for ``forward``, one link of the chain rule at a time."""
    x, w, z, y, t = cache
    grad_y = 2.0 * (y - t) / y.size  # MSE
    grad_z = grad_y * (z > 0)  # ReLU: pass where the unit was on
    grad_b = grad_z.sum(axis=(0, 2, 3))  # the bias touches every output pixel of its channel
    grad_w = np.zeros_like(w)
    grad_x = np.zeros_like(x)
    k_h, k_w = w.shape[2:]
    for n in range(z.shape[0]):
        for o in range(z.shape[1]):
            for i in range(z.shape[2]):
                for j in range(z.shape[3]):
                    window = x[n, :, i : i + k_h, j : j + k_w]
                    grad_w[o] += grad_z[n, o, i, j] * window  # d z / d w = the input window
                    grad_x[n, :, i : i + k_h, j : j + k_w] += grad_z[n, o, i, j] * w[o]  # scatter back
    return grad_x, grad_w, grad_b, {"grad_y": grad_y, "grad_z": grad_z}


grad_x, grad_w, grad_b, steps = backward(cache)
print("dL/db =", np.round(grad_b, 6))
print("dL/dw[0, 0] =\n", np.round(grad_w[0, 0], 6))

# %% [markdown]
# ## Check one number by nudging it
#
# The definition of a derivative is a recipe we can run: move one weight by a small `eps` up and
# down, and divide the change of the loss by `2 eps` (a *central difference*: its error shrinks
# like `eps^2`, where a one-sided difference's shrinks only like `eps`).

# %%
eps = 1e-6
w_plus, w_minus = w.copy(), w.copy()
w_plus[0, 0, 1, 1] += eps
w_minus[0, 0, 1, 1] -= eps
numeric = (forward(x, w_plus, b, t)[0] - forward(x, w_minus, b, t)[0]) / (2 * eps)
print(f"dL/dw[0,0,1,1]: by the chain rule {grad_w[0, 0, 1, 1]:.10f}, by nudging {numeric:.10f}")
assert abs(numeric - grad_w[0, 0, 1, 1]) < 1e-8 * max(1.0, abs(numeric))

# %% [markdown]
# ## The same network built from tinysr's layers
#
# `tinysr.nn.Conv2d`, `ReLU` and `tinysr.losses.MSELoss` compute exactly these formulas (with fast
# kernels instead of loops). A layer's `backward(grad_output)` returns the gradient of its input and
# *adds* the gradients of its parameters into `parameter.grad`; `Sequential.backward` calls the
# layers in reverse order, which is the chain rule above.

# %%
conv = nn.Conv2d(C_IN, C_OUT, K, dtype=np.float64)
conv.weight.data[...] = w
conv.bias.data[...] = b
network = nn.Sequential(conv, nn.ReLU())
criterion = MSELoss()

network.zero_grad()
tinysr_loss = criterion.forward(network.forward(x), t)
tinysr_grad_x = network.backward(criterion.backward())
print(f"loss: ours {loss:.12f}, tinysr {tinysr_loss:.12f}")
for name, ours, theirs in [
    ("dL/dx", grad_x, tinysr_grad_x),
    ("dL/dw", grad_w, conv.weight.grad),
    ("dL/db", grad_b, conv.bias.grad),
]:
    print(f"{name}: largest difference {np.max(np.abs(ours - theirs)):.2e}")
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)
assert abs(loss - tinysr_loss) < 1e-12

# %% [markdown]
# ## The proof: `tinysr.gradcheck`
#
# Checking one weight is a spot check. `tinysr.gradcheck` does the nudging for *every* input and
# parameter element and compares each with the analytic gradient. It accepts a pair of functions
# in tinysr's op contract, `forward_op(*inputs) -> (out, cache)` and `backward_op(grad_output,
# cache) -> gradients`, so our hand-written functions can be checked directly. It multiplies the
# output by a random upstream gradient `g` (the loss it differentiates is `sum(out * g)`), so our
# backward must scale by `g`: that is the chain rule once more, one level up.

# %%
def loss_forward_op(x, w, b):
    loss, cache = forward(x, w, b, t)
    return np.array(loss), cache  # gradcheck wants an array out


def loss_backward_op(grad_output, cache):
    grad_x, grad_w, grad_b, _ = backward(cache)
    g = float(grad_output)  # dL_total / dL
    return grad_x * g, grad_w * g, grad_b * g


report = tinysr.gradcheck((loss_forward_op, loss_backward_op), x, w, b)
print(report)
assert report.passed

# %% [markdown]
# It also checks modules, parameters included: here is tinysr's `Sequential(Conv2d, ReLU)` on its own.

# %%
module_report = tinysr.gradcheck(network, x)
print(module_report)
assert module_report.passed and {check.name for check in module_report.tensors} == {"input 0", "0.weight", "0.bias"}

# %% [markdown]
# ## What a mistake looks like
#
# Forget the ReLU link (pass `dL/dy` straight on as `dL/dz`) and the gradient is wrong exactly
# where the ReLU was off. `gradcheck` says so, names the tensor and the element, and gives both
# values. (`raise_on_failure=False` returns the report instead of raising, so we can look at it.)

# %%
def backward_forgetting_relu(grad_output, cache):
    x, w, z, y, t = cache
    grad_z = 2.0 * (y - t) / y.size * float(grad_output)  # BUG: no "* (z > 0)"
    grad_w = np.zeros_like(w)
    grad_x = np.zeros_like(x)
    for n in range(z.shape[0]):
        for o in range(z.shape[1]):
            for i in range(z.shape[2]):
                for j in range(z.shape[3]):
                    grad_w[o] += grad_z[n, o, i, j] * x[n, :, i : i + K, j : j + K]
                    grad_x[n, :, i : i + K, j : j + K] += grad_z[n, o, i, j] * w[o]
    return grad_x, grad_w, grad_z.sum(axis=(0, 2, 3))


bad = tinysr.gradcheck((loss_forward_op, backward_forgetting_relu), x, w, b, raise_on_failure=False)
print(bad.failure_message())
assert not bad.passed

# %% [markdown]
# ## A picture of the backward pass
#
# Each panel is the first image of the batch, first channel; the top row is the forward pass, the bottom
# row the backward pass. Notice how `dL/dz` is `dL/dy` with holes where
# `z <= 0` (the ReLU was off), and how `dL/dx` is spread over a border two pixels wider than `dL/dz`:
# each output pixel sends its gradient back over its whole 3x3 window.

# %%
panels = [
    ("input x", x[0, 0]),
    ("z = conv(x)", z[0, 0]),
    ("y = ReLU(z)", y[0, 0]),
    ("dL/dy", steps["grad_y"][0, 0]),
    ("dL/dz = dL/dy * (z > 0)", steps["grad_z"][0, 0]),
    ("dL/dx (scattered back)", grad_x[0, 0]),
]
fig, axes = plt.subplots(2, 3, figsize=(12, 7.6))
for ax, (title, image) in zip(axes.ravel(), panels):
    limit = np.max(np.abs(image)) or 1.0
    shown = ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("column j")
    ax.set_ylabel("row i")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
fig.suptitle("conv 3x3 -> ReLU -> MSE, image 0, channel 0: forward pass (top), backward pass (bottom)")
fig.tight_layout()
figure_path = OUT / "backward_pass.png"
fig.savefig(figure_path, dpi=110)
plt.close(fig)
print(f"figure: {figure_path}")

# %% [markdown]
# ## What to take away
#
# * The backward pass is the chain rule, one layer at a time, from the loss back to the input.
# * Each layer needs only the gradient of its output and what it cached in the forward pass.
# * A parameter used in many places (a convolution weight, a bias) collects the *sum* of the
#   gradients of all the places it was used.
# * Never trust a hand-written gradient until finite differences agree: `tinysr.gradcheck`.
#
# Next: tutorial 2 makes the convolution fast, three ways, and shows that its backward pass is
# itself a convolution.
