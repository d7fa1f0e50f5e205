# %% [markdown]
# # Tutorial 3: batch normalisation's backward pass
#
# SRResNet puts a batch normalisation layer (`BatchNorm2d`) after almost every convolution. Its
# forward pass is four lines; its backward pass is the first one in this series where the gradient
# of one element depends on *every other element* of the batch, because the mean and the variance
# it divides by are computed from the whole batch. This tutorial
#
# 1. derives the backward pass twice: step by step through the computation graph, then simplified
#    into one line, and checks both against tinysr;
# 2. shows the difference between training mode (batch statistics) and eval mode (running ones);
# 3. shows why checking a gradient with an upstream gradient of all ones hides real bugs.
#
# Figures go to `tutorial_output/03/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/03/`.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinysr
from tinysr import nn
from tinysr.ops.batchnorm import batch_norm2d_backward, batch_norm2d_forward

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "03"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")

# %% [markdown]
# ## The forward pass
#
# For each channel `c`, over its `M = N * H * W` values (every image of the batch, every pixel):
#
#     mean    = (1/M) sum x
#     var     = (1/M) sum (x - mean)^2                  (biased: divide by M, not M - 1)
#     inv_std = 1 / sqrt(var + eps)
#     x_hat   = (x - mean) * inv_std                    (mean 0, variance 1 in every channel)
#     y       = gamma * x_hat + beta                    (gamma = weight, beta = bias: learnable)
#
# The input below has a different mean and spread in each of its 3 channels; after the layer each
# channel has mean `beta` and standard deviation `gamma` (exactly `gamma * sqrt(var / (var + eps))`).

# %%
rng = np.random.default_rng(0)
N, C, H, W = 4, 3, 5, 5
channel_means, channel_stds = np.array([2.0, -1.0, 0.5]), np.array([3.0, 0.5, 1.0])
x = rng.standard_normal((N, C, H, W)) * channel_stds[None, :, None, None] + channel_means[None, :, None, None]
gamma = np.array([1.5, 0.8, 1.0])
beta = np.array([0.1, -0.3, 0.0])
EPS = 1e-5

y, cache = batch_norm2d_forward(x, gamma, beta, np.zeros(C), np.ones(C), training=True, eps=EPS)
print("input  mean per channel:", np.round(x.mean(axis=(0, 2, 3)), 3), " std:", np.round(x.std(axis=(0, 2, 3)), 3))
print("output mean per channel:", np.round(y.mean(axis=(0, 2, 3)), 3), " std:", np.round(y.std(axis=(0, 2, 3)), 3))
np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), beta, atol=1e-12)
batch_var = x.var(axis=(0, 2, 3))
np.testing.assert_allclose(y.std(axis=(0, 2, 3)), gamma * np.sqrt(batch_var / (batch_var + EPS)), rtol=1e-12)

# %% [markdown]
# ## The backward pass, step by step through the graph
#
# Write the forward pass as a chain of small steps and walk it backwards, one local derivative at
# a time (`g = dL/dy`, sums over the `M` values of a channel, `xc = x - mean`):
#
#     dL/dbeta   = sum g                     dL/dgamma = sum g * x_hat
#     dL/dx_hat  = g * gamma
#     dL/dinv_std = sum dL/dx_hat * xc                               (x_hat = xc * inv_std)
#     dL/dvar    = dL/dinv_std * (-1/2) (var + eps)^(-3/2)            (inv_std = (var + eps)^(-1/2))
#     dL/dxc     = dL/dx_hat * inv_std + dL/dvar * 2 xc / M          (xc reaches x_hat directly and via var)
#     dL/dmean   = -sum dL/dxc                                       (xc = x - mean)
#     dL/dx      = dL/dxc + dL/dmean / M                             (x reaches xc directly and via mean)
#
# The two "+" are where a variable feeds two paths: its gradient is the sum over the paths.

# %%
def per_channel(a):
    """(C,) -> (1, C, 1, 1), so that a per-channel number broadcasts over an (N, C, H, W) batch."""
    return a.reshape(1, -1, 1, 1)


def batchnorm_backward_staged(g, x, gamma, eps):
    """The graph, walked backwards one node at a time; per channel over axes (0, 2, 3)."""
    axes = (0, 2, 3)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=axes)
    xc = x - per_channel(mean)
    var = (xc**2).mean(axis=axes)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * per_channel(inv_std)

    grad_beta = g.sum(axis=axes)
    grad_gamma = (g * x_hat).sum(axis=axes)
    grad_x_hat = g * per_channel(gamma)
    grad_inv_std = (grad_x_hat * xc).sum(axis=axes)
    grad_var = grad_inv_std * -0.5 * (var + eps) ** -1.5
    grad_xc = grad_x_hat * per_channel(inv_std) + per_channel(grad_var) * 2.0 * xc / m
    grad_mean = -grad_xc.sum(axis=axes)
    grad_x = grad_xc + per_channel(grad_mean) / m
    return grad_x, grad_gamma, grad_beta


# %% [markdown]
# ## ... and simplified into one line
#
# Substituting the steps into each other, with `d = g * gamma` (the gradient reaching `x_hat`),
# almost everything cancels (the `sum(xc)` terms are zero, since `xc` has mean zero):
#
#     dL/dx = inv_std * (d - mean(d) - x_hat * mean(d * x_hat))
#
# Read it as: the direct path `d * inv_std`, minus what the mean takes away (`mean(d)`: every input
# moves the mean, which moves every output), minus what the variance takes away (the projection
# of `d` on `x_hat`: every input moves the spread, which rescales every output). This is the form
# tinysr computes (`tinysr/ops/batchnorm.py`, written with sums instead of means).

# %%
def batchnorm_backward_simplified(g, x, gamma, eps):
    axes = (0, 2, 3)
    mean = x.mean(axis=axes)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes) + eps)
    x_hat = (x - per_channel(mean)) * per_channel(inv_std)
    d = g * per_channel(gamma)
    grad_x = per_channel(inv_std) * (
        d - d.mean(axis=axes, keepdims=True) - x_hat * (d * x_hat).mean(axis=axes, keepdims=True)
    )
    return grad_x, (g * x_hat).sum(axis=axes), g.sum(axis=axes)


g = rng.standard_normal(x.shape)  # a random upstream gradient dL/dy
staged = batchnorm_backward_staged(g, x, gamma, EPS)
simplified = batchnorm_backward_simplified(g, x, gamma, EPS)
tinysr_grads = batch_norm2d_backward(g, cache)  # (grad_input, grad_weight, grad_bias), the Numba tier
reference_grads = batch_norm2d_backward(g, cache, backend="reference")
for name, a, b, c, d in zip(("dL/dx", "dL/dgamma", "dL/dbeta"), staged, simplified, tinysr_grads, reference_grads):
    print(f"{name:>10}: staged vs simplified {np.max(np.abs(a - b)):.1e}, staged vs tinysr {np.max(np.abs(a - c)):.1e}")
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a, d, rtol=1e-10, atol=1e-12)

# %% [markdown]
# And the proof by finite differences: `tinysr.gradcheck` on the `BatchNorm2d` layer, in training
# mode (it restores the running statistics before every forward call, so that nudging an input
# does not also drift the buffers).

# %%
layer = nn.BatchNorm2d(C, eps=EPS, dtype=np.float64)
layer.weight.data[...] = gamma
layer.bias.data[...] = beta
report = tinysr.gradcheck(layer, x)
print("training mode:", report)
assert report.passed

# %% [markdown]
# ## Training mode and eval mode
#
# In training mode the statistics are the batch's, so an image's output depends on which other
# images share its batch. At inference we want one image to give one answer, so the layer also
# keeps *running* averages of the batch statistics (`running_mean`, `running_var`, updated in place
# with `momentum` 0.1 at every training step; the variance with PyTorch's unbiased `M / (M - 1)`),
# and in eval mode (`layer.eval()`) it normalises with those instead. Then `mean` and `inv_std` are
# constants, only the direct path is left, and the backward pass is just `dL/dx = g * gamma * inv_std`.
#
# Below: 60 training batches drawn from the same distribution as `x`; the running statistics
# approach the true ones.

# %%
bn = nn.BatchNorm2d(C, dtype=np.float64)
history_mean, history_var = [], []
for _ in range(60):
    batch = rng.standard_normal((8, C, 6, 6)) * channel_stds[None, :, None, None] + channel_means[None, :, None, None]
    bn.forward(batch)  # training mode: normalise with the batch, update the running statistics
    history_mean.append(bn.running_mean.copy())
    history_var.append(bn.running_var.copy())
history_mean, history_var = np.array(history_mean), np.array(history_var)
print("running mean:", np.round(bn.running_mean, 3), " true:", channel_means)
print("running var: ", np.round(bn.running_var, 3), " true:", channel_stds**2)
np.testing.assert_allclose(bn.running_mean, channel_means, atol=0.25 * channel_stds.max())
np.testing.assert_allclose(bn.running_var, channel_stds**2, rtol=0.3)
assert int(bn.num_batches_tracked) == 60

images = x[:2]
train_alone, train_together = bn.forward(images[:1])[0], bn.forward(images)[0]
bn.eval()
eval_alone, eval_together = bn.forward(images[:1])[0], bn.forward(images)[0]
train_change = np.max(np.abs(train_alone - train_together))
eval_change = np.max(np.abs(eval_alone - eval_together))
print(f"image 0 alone vs with a companion: training mode differs by {train_change:.3f}, eval mode by {eval_change:.1e}")
assert train_change > 1e-3
np.testing.assert_array_equal(eval_alone, eval_together)

_, eval_cache = batch_norm2d_forward(x, gamma, beta, bn.running_mean, bn.running_var, training=False, eps=bn.eps)
eval_grad_x = batch_norm2d_backward(g, eval_cache)[0]
expected = g * (gamma / np.sqrt(bn.running_var + bn.eps))[None, :, None, None]
np.testing.assert_allclose(eval_grad_x, expected, rtol=1e-12)
eval_report = tinysr.gradcheck(bn, x)
print("eval mode:    ", eval_report)
assert eval_report.passed

# %% [markdown]
# ## Why an all-ones upstream gradient hides bugs
#
# A tempting shortcut for testing a backward pass is to call it with `g = ones` (as if the loss were
# `sum(y)`). For batch normalisation in training mode that tests nothing: `sum(y)` over a channel is
# `M * beta` whatever `x` is, so the true `dL/dx` is exactly **zero**, and `dL/dgamma = sum(x_hat)`
# is zero too. Any backward pass that returns zeros there passes; so does one that forgets the
# whole variance path, since with `g = ones` the term it forgets, `x_hat * mean(d * x_hat)`, is zero.
#
# Two buggy backward passes, compared with the correct one under both upstream gradients:

# %%
def backward_forgets_variance_path(g, x, gamma, eps):
    axes = (0, 2, 3)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes) + eps)
    x_hat = (x - per_channel(x.mean(axis=axes))) * per_channel(inv_std)
    d = g * per_channel(gamma)
    grad_x = per_channel(inv_std) * (d - d.mean(axis=axes, keepdims=True))  # BUG: no "- x_hat * mean(d * x_hat)"
    return grad_x, (g * x_hat).sum(axis=axes), g.sum(axis=axes)


def backward_returns_zeros(g, x, gamma, eps):
    return np.zeros_like(x), np.zeros_like(gamma), g.sum(axis=(0, 2, 3))  # BUG: "gradients" of nothing


upstreams = {"g = ones": np.ones_like(x), "g random": g}
buggy = {"forgets the variance path": backward_forgets_variance_path, "returns zeros": backward_returns_zeros}
errors = {}
for upstream_name, upstream in upstreams.items():
    correct = batchnorm_backward_simplified(upstream, x, gamma, EPS)[0]
    print(f"{upstream_name}: largest |true dL/dx| = {np.max(np.abs(correct)):.1e}")
    for bug_name, backward in buggy.items():
        error = np.max(np.abs(backward(upstream, x, gamma, EPS)[0] - correct))
        errors[(upstream_name, bug_name)] = error
        print(f"    backward that {bug_name:<27} is off by {error:.1e}")
    if upstream_name == "g = ones":
        assert np.max(np.abs(correct)) < 1e-12  # the true gradient is zero
for bug_name in buggy:
    assert errors[("g = ones", bug_name)] < 1e-12 < 1e-2 < errors[("g random", bug_name)]

# %% [markdown]
# `tinysr.gradcheck` always uses a random (seeded) upstream gradient, so it catches the subtle one.
# A layer is anything with `forward` and `backward`: here `BatchNorm2d` with its backward replaced.

# %%
class BatchNormForgettingVariance(nn.BatchNorm2d):
    def backward(self, grad_output):
        x = self._cache[0]
        grad_x, grad_gamma, grad_beta = backward_forgets_variance_path(grad_output, x, self.weight.data, self.eps)
        self.weight.grad += grad_gamma
        self.bias.grad += grad_beta
        return grad_x


buggy_layer = BatchNormForgettingVariance(C, eps=EPS, dtype=np.float64)
buggy_layer.weight.data[...] = gamma
bad = tinysr.gradcheck(buggy_layer, x, raise_on_failure=False)
print(bad.failure_message())
assert not bad.passed and not next(t for t in bad.tensors if t.name == "input 0").passed

# %% [markdown]
# ## Pictures

# %%
fig, (ax_hist, ax_running, ax_bugs) = plt.subplots(1, 3, figsize=(17, 4.8))
before = ax_hist.violinplot([x[:, c].ravel() for c in range(C)], positions=np.arange(C) - 0.2, widths=0.35)
after = ax_hist.violinplot([y[:, c].ravel() for c in range(C)], positions=np.arange(C) + 0.2, widths=0.35)
for body in after["bodies"]:
    body.set_facecolor("C1")
ax_hist.set_xticks(np.arange(C), [f"channel {c}\ngamma {gamma[c]}, beta {beta[c]}" for c in range(C)])
ax_hist.set_ylabel("value")
ax_hist.set_title("values per channel: input x (blue), output y (orange)")

steps = np.arange(1, len(history_mean) + 1)
for c in range(C):
    ax_running.plot(steps, history_mean[:, c], color=f"C{c}", label=f"running_mean[{c}]")
    ax_running.plot(steps, history_var[:, c], "--", color=f"C{c}", label=f"running_var[{c}]")
    ax_running.axhline(channel_means[c], color=f"C{c}", linewidth=0.6, alpha=0.6)
    ax_running.axhline(channel_stds[c] ** 2, color=f"C{c}", linewidth=0.6, alpha=0.6, linestyle=":")
ax_running.set_xlabel("training step")
ax_running.set_ylabel("running statistic (thin lines: true values)")
ax_running.set_title("running statistics, momentum 0.1")
ax_running.legend(fontsize=7, ncol=2)

labels = list(buggy)
positions = np.arange(len(labels))
floor = 1e-17  # log axes cannot show an error of exactly zero
for offset, upstream_name in ((-0.2, "g = ones"), (0.2, "g random")):
    ax_bugs.bar(positions + offset, [max(errors[(upstream_name, b)], floor) for b in labels], width=0.4,
                label=upstream_name)
ax_bugs.set_yscale("log")
ax_bugs.set_xticks(positions, [f"backward that\n{b}" for b in labels])
ax_bugs.set_ylabel("largest error in dL/dx")
ax_bugs.set_title("two buggy backward passes: invisible with g = ones")
ax_bugs.set_ylim(floor / 10, 1e4)
ax_bugs.legend(loc="upper center", ncol=2)
fig.tight_layout()
path = OUT / "batchnorm.png"
fig.savefig(path, dpi=110)
plt.close(fig)
print(f"figure: {path}")

# %% [markdown]
# ## What to take away
#
# * When a value feeds several paths (here `x` feeds `x_hat` directly, through the mean and through
#   the variance), its gradient is the sum over the paths.
# * The long step-by-step derivation and the one-line formula agree; the one-line formula is
#   cheaper and rounds less.
# * Training mode and eval mode are two different functions with two different gradients.
# * Test gradients with a random upstream gradient. `g = ones` tests the gradient of `sum(y)`,
#   which for a normalising layer is zero whether the code is right or wrong.
#
# Next: tutorial 4, the two layers that make SRResNet's upsampling: PReLU and pixel shuffle.
