# %% [markdown]
# # Tutorial 8: write your own layer, and prove its gradient
#
# tinysr has no autograd, so a new layer is a class with two methods that you write yourself:
# `forward(x)`, which computes the output and keeps what the gradient will need, and
# `backward(grad_output)`, which returns the gradient of the input and *adds* the gradients of the
# parameters into their `.grad`. This tutorial writes two layers that tinysr does not have:
#
# 1. **2x nearest-neighbour upsampling** (no parameters), the other common way to enlarge an image
#    in a network (a "resize-convolution", Odena et al. 2016, free of checkerboard artifacts);
# 2. a **depthwise convolution** (one `k x k` filter per channel, as in MobileNet), which has
#    parameters;
#
# then proves both three ways: against a layer tinysr already has, with `tinysr.gradcheck`, and
# with a property-based test (hypothesis) that tries many random shapes. Finally the depthwise
# layer learns three known filters from data.
#
# Figures go to `tutorial_output/08/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/08/`.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinysr
from tinysr import nn
from tinysr.losses import MSELoss
from tinysr.nn import Module, Parameter
from tinysr.nn.init import bias_uniform, get_rng, kaiming_uniform
from tinysr.optim import Adam

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "08"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")


def save(fig, name):
    path = OUT / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


# %% [markdown]
# ## 1. Nearest-neighbour upsampling by 2
#
# Forward: every input pixel is copied into a 2x2 block of the output,
#
#     out[n, c, 2h + i, 2w + j] = x[n, c, h, w]        for i, j in {0, 1}
#
# Backward: each input pixel reaches the loss through its four copies, so its gradient is the *sum*
# of the four upstream gradients of its block (tutorial 1: a value used in several places collects
# the sum of their gradients):
#
#     grad_x[n, c, h, w] = sum_{i, j} grad_out[n, c, 2h + i, 2w + j]
#
# With the output seen as `(N, C, H, 2, W, 2)` that is one `reshape` and one `sum`. The layer checks
# its input and says what it expected, as tinysr's layers do; it caches nothing but the input shape.

# %%
class NearestUpsample2x(Module):
    """``(N, C, H, W) -> (N, C, 2H, 2W)``: each pixel becomes a 2x2 block. No parameters."""

    def __init__(self):
        self._cache = None

    def forward(self, x):
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            raise ValueError(f"NearestUpsample2x: expected an (N, C, H, W) array, got {getattr(x, 'shape', x)!r}")
        self._cache = x.shape
        return np.repeat(np.repeat(x, 2, axis=2), 2, axis=3)

    def backward(self, grad_output):
        n, c, h, w = self._require_cache()
        return grad_output.reshape(n, c, h, 2, w, 2).sum(axis=(3, 5))


rng = np.random.default_rng(0)
up = NearestUpsample2x()
x = rng.standard_normal((2, 3, 4, 5))
y = up.forward(x)
assert y.shape == (2, 3, 8, 10) and np.array_equal(y[:, :, 1::2, ::2], x)
report = tinysr.gradcheck(up, x)
print(report)
assert report.passed

# %% [markdown]
# ### A buggy version, caught
#
# A tempting mistake is to *average* the four gradients, as if the backward of "copy" were
# "average". The forward pass is identical, so no output-based test notices; `gradcheck` does, and
# its hint points at the constant factor.

# %%
class NearestUpsample2xAveraging(NearestUpsample2x):
    def backward(self, grad_output):
        n, c, h, w = self._require_cache()
        return grad_output.reshape(n, c, h, 2, w, 2).mean(axis=(3, 5))  # BUG: sum, not mean


bad = tinysr.gradcheck(NearestUpsample2xAveraging(), x, raise_on_failure=False)
print(bad.failure_message())
assert not bad.passed

# %% [markdown]
# ## 2. A depthwise convolution
#
# A normal convolution mixes all `C` input channels into each output channel (`C_out * C * k * k`
# weights). A depthwise one filters each channel on its own with its own `k x k` kernel (`C * k * k`
# weights): PyTorch's `Conv2d(C, C, k, groups=C)`, with a weight of shape `(C, 1, k, k)`. With `xpad`
# the input with `p` zeros around it:
#
#     out[n, c, i, j] = bias[c] + sum_{u, v} weight[c, 0, u, v] * xpad[n, c, i + u, j + v]
#
# and, by the same reasoning as for the full convolution in tutorial 1, one channel at a time:
#
#     grad_bias[c]         = sum_{n, i, j} g[n, c, i, j]
#     grad_weight[c, 0, u, v] = sum_{n, i, j} g[n, c, i, j] * xpad[n, c, i + u, j + v]
#     grad_xpad[n, c, i + u, j + v] += g[n, c, i, j] * weight[c, 0, u, v]      (scatter back)
#
# We write it as tinysr's NumPy reference tier writes a convolution: one vectorised line per kernel
# offset `(u, v)`. Initialisation is PyTorch's (`fan_in = k * k` for a depthwise layer), with the
# initialisers of `tinysr.nn.init`. Parameters are `Parameter` attributes: that is all
# `named_parameters()`, optimizers and `gradcheck` need to find them.

# %%
class DepthwiseConv2d(Module):
    """One ``k x k`` filter per channel: ``(N, C, H, W) -> (N, C, H + 2p - k + 1, W + 2p - k + 1)``, stride 1."""

    def __init__(self, channels, kernel_size, padding=0, *, dtype=np.float32, rng=None):
        if channels < 1 or kernel_size < 1 or padding < 0:
            raise ValueError(f"DepthwiseConv2d: expected channels, kernel_size >= 1 and padding >= 0, "
                             f"got {channels}, {kernel_size}, {padding}")
        self.channels, self.kernel_size, self.padding = channels, kernel_size, padding
        generator = get_rng(rng)
        fan_in = kernel_size * kernel_size
        self.weight = Parameter(kaiming_uniform((channels, 1, kernel_size, kernel_size), fan_in, generator, dtype))
        self.bias = Parameter(bias_uniform(channels, fan_in, generator, dtype))
        self._cache = None

    def forward(self, x):
        if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"DepthwiseConv2d: expected input of shape (N, {self.channels}, H, W), "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
        k, p = self.kernel_size, self.padding
        xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        h_out, w_out = xpad.shape[2] - k + 1, xpad.shape[3] - k + 1
        if h_out < 1 or w_out < 1:
            raise ValueError(f"DepthwiseConv2d: input {x.shape} with padding {p} is smaller than the kernel {k}")
        out = np.zeros((x.shape[0], self.channels, h_out, w_out), dtype=x.dtype)
        for u in range(k):
            for v in range(k):
                out += self.weight.data[None, :, 0, u, v, None, None] * xpad[:, :, u : u + h_out, v : v + w_out]
        out += self.bias.data[None, :, None, None]
        self._cache = xpad
        return out

    def backward(self, grad_output):
        xpad = self._require_cache()
        k, p = self.kernel_size, self.padding
        h_out, w_out = grad_output.shape[2:]
        grad_xpad = np.zeros_like(xpad)
        for u in range(k):
            for v in range(k):
                window = xpad[:, :, u : u + h_out, v : v + w_out]
                self.weight.grad[:, 0, u, v] += (grad_output * window).sum(axis=(0, 2, 3))
                weight_uv = self.weight.data[None, :, 0, u, v, None, None]
                grad_xpad[:, :, u : u + h_out, v : v + w_out] += grad_output * weight_uv  # scatter back
        self.bias.grad += grad_output.sum(axis=(0, 2, 3))
        return grad_xpad[:, :, p : grad_xpad.shape[2] - p, p : grad_xpad.shape[3] - p]

    def extra_repr(self):
        return f"{self.channels}, kernel_size={self.kernel_size}, padding={self.padding}"


# %% [markdown]
# ### Proof 1: it is a special case of a layer tinysr already has
#
# A depthwise convolution is a full convolution whose weight is zero except on the "diagonal"
# `full_weight[c, c] = weight[c, 0]`. So tinysr's `Conv2d` with that weight must give the same output,
# the same input gradient, and a weight gradient whose diagonal is ours.

# %%
def as_full_conv(depthwise):
    """A ``tinysr.nn.Conv2d`` computing the same function as ``depthwise`` (block-diagonal weight)."""
    c, k, p = depthwise.channels, depthwise.kernel_size, depthwise.padding
    full = nn.Conv2d(c, c, k, padding=p, dtype=depthwise.weight.data.dtype)
    full.weight.data[...] = 0
    full.weight.data[np.arange(c), np.arange(c)] = depthwise.weight.data[:, 0]
    full.bias.data[...] = depthwise.bias.data
    return full


depthwise = DepthwiseConv2d(3, 3, padding=1, dtype=np.float64, rng=1)
full = as_full_conv(depthwise)
x = rng.standard_normal((2, 3, 6, 7))
g = rng.standard_normal((2, 3, 6, 7))
np.testing.assert_allclose(depthwise.forward(x), full.forward(x), rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(depthwise.backward(g), full.backward(g), rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(depthwise.weight.grad[:, 0], full.weight.grad[np.arange(3), np.arange(3)], rtol=1e-12)
np.testing.assert_allclose(depthwise.bias.grad, full.bias.grad, rtol=1e-12)
print("DepthwiseConv2d agrees with tinysr's Conv2d on a block-diagonal weight: output and all gradients")

# %% [markdown]
# ### Proof 2: `tinysr.gradcheck`
#
# On the layer alone, and inside a small network built from tinysr's own layers: a new layer only
# has to honour the protocol to compose with everything else.

# %%
report = tinysr.gradcheck(DepthwiseConv2d(3, 5, padding=2, dtype=np.float64, rng=2), rng.standard_normal((2, 3, 6, 6)))
print(report)
assert report.passed
network = nn.Sequential(DepthwiseConv2d(3, 3, padding=1, rng=3), nn.PReLU(3), NearestUpsample2x(),
                        nn.Conv2d(3, 1, 3, padding=1, rng=4))
report = tinysr.gradcheck(network, rng.standard_normal((2, 3, 5, 5)))
print(report)
assert report.passed and {t.name for t in report.tensors} >= {"0.weight", "0.bias", "1.weight", "3.weight"}

# %% [markdown]
# ### Proof 3: a property-based test
#
# One example proves little about shapes nobody tried: odd sizes, `k = 1`, no padding, a single
# image. `hypothesis` draws many examples and, when one fails, shrinks it to the smallest failing
# case. The properties: `gradcheck` passes, the layer equals its full-convolution twin, and for the
# upsampling layer the backward pass is the *transpose* of the forward one,
# `<up(x), g> = <x, up.backward(g)>` (the test every linear layer must pass). Here the test function
# is called directly (pytest would collect it the same way from a test file).

# %%
try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.configuration import set_hypothesis_home_dir
except ImportError:  # hypothesis comes with tinysr's test extra: pip install ".[test]"
    given = None
    print("hypothesis is not installed (pip install hypothesis): the property test is skipped")
else:
    # hypothesis keeps caches in ./.hypothesis; a tutorial should leave nothing behind in your folder
    hypothesis_home = tempfile.TemporaryDirectory()
    set_hypothesis_home_dir(hypothesis_home.name)

if given is not None:
    examples = []

    # deadline=None and no "too slow" check: a busy machine must not fail a correct layer
    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(
        batch=st.integers(1, 2),
        channels=st.integers(1, 4),
        height=st.integers(1, 7),
        width=st.integers(1, 7),
        kernel_size=st.sampled_from([1, 3, 5]),
        padding=st.integers(0, 2),
        seed=st.integers(0, 2**16),
    )
    def test_depthwise_and_upsample(batch, channels, height, width, kernel_size, padding, seed):
        if height + 2 * padding < kernel_size or width + 2 * padding < kernel_size:
            return  # no output pixel: the layer rightly refuses such inputs
        generator = np.random.default_rng(seed)
        x = generator.standard_normal((batch, channels, height, width))
        layer = DepthwiseConv2d(channels, kernel_size, padding, dtype=np.float64, rng=seed)
        assert tinysr.gradcheck(layer, x, seed=seed).passed
        twin = as_full_conv(layer)
        np.testing.assert_allclose(layer.forward(x), twin.forward(x), rtol=1e-10, atol=1e-12)

        up = NearestUpsample2x()
        g = generator.standard_normal((batch, channels, 2 * height, 2 * width))
        left, right = np.sum(up.forward(x) * g), np.sum(x * up.backward(g))
        assert abs(left - right) <= 1e-12 * max(1.0, abs(left))
        examples.append((batch, channels, height, width, kernel_size, padding))

    test_depthwise_and_upsample()
    print(f"property test passed on {len(examples)} examples, e.g. (N, C, H, W, k, p) = {examples[:4]}")
    assert len(examples) >= 10
    hypothesis_home.cleanup()

# %% [markdown]
# ## 3. The layer learns
#
# Make data with three known 5x5 filters, one per channel (a Gaussian blur, a vertical-edge detector,
# a shift by one pixel), and let a fresh `DepthwiseConv2d` find them with Adam and MSE. The inputs are
# white noise: it contains every spatial frequency, so every one of the 75 weights is pinned down by
# the data. (On smooth photo crops the high-frequency parts of a kernel barely change the output,
# and learning them takes far longer.) The loss falls by orders of magnitude and the learned kernels
# are the true ones.

# %%
yy, xx = np.mgrid[-2:3, -2:3]
true_kernels = np.stack([
    np.exp(-(xx**2 + yy**2) / 2.0) / np.exp(-(xx**2 + yy**2) / 2.0).sum(),  # Gaussian blur, sigma 1
    np.pad([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], 1) / 4,  # Sobel, vertical edges
    np.eye(5)[2:3].T @ np.eye(5)[1:2],  # a single 1: moves the image by one pixel
])[:, None]
teacher = DepthwiseConv2d(3, 5, padding=2, dtype=np.float64)
teacher.weight.data[...] = true_kernels
teacher.bias.data[...] = 0.0

student = DepthwiseConv2d(3, 5, padding=2, dtype=np.float64, rng=5)
optimizer = Adam(student.parameters(), lr=0.03)
criterion = MSELoss()
losses = []
for step in range(400):
    batch = rng.standard_normal((8, 3, 16, 16))
    optimizer.lr = 0.03 * 0.5 * (1 + np.cos(np.pi * step / 400))  # cosine decay, as in tutorial 6
    optimizer.zero_grad()
    losses.append(criterion.forward(student.forward(batch), teacher.forward(batch)))
    student.backward(criterion.backward())
    optimizer.step()
error = np.max(np.abs(student.weight.data - true_kernels))
print(f"loss {losses[0]:.2e} -> {losses[-1]:.2e}; largest kernel error {error:.1e}, "
      f"bias {np.round(student.bias.data, 4)}")
assert losses[-1] < 1e-10 * losses[0]
assert error < 1e-5

fig, axes = plt.subplot_mosaic([["t0", "t1", "t2", "loss"], ["l0", "l1", "l2", "loss"]], figsize=(16, 7),
                               gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
names = ["Gaussian blur", "vertical edges (Sobel)", "shift by one pixel"]
for c in range(3):
    limit = np.abs(true_kernels[c, 0]).max()
    for key, (label, kernels) in (("t", ("true", true_kernels)), ("l", ("learned", student.weight.data))):
        ax = axes[f"{key}{c}"]
        shown = ax.imshow(kernels[c, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{label}: {names[c]}", fontsize=10)
        ax.set_xlabel("v (column offset)")
        ax.set_ylabel("u (row offset)")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
axes["loss"].semilogy(losses)
axes["loss"].set_xlabel("Adam step (lr 0.03, cosine decay)")
axes["loss"].set_ylabel("MSE against the teacher's output (log scale)")
axes["loss"].set_title("DepthwiseConv2d learning three filters from data")
fig.suptitle("A hand-written layer learns: true (top) and learned (bottom) 5x5 depthwise kernels")
fig.tight_layout()
save(fig, "own_layers.png")

# %% [markdown]
# ## The recipe
#
# 1. Write the forward equation with indices; differentiate it with respect to each input and
#    parameter (a value used in several places collects the sum of their gradients).
# 2. `forward` caches what `backward` needs; `backward` returns the input gradient and adds (`+=`)
#    parameter gradients into `.grad`; it never changes `.data`.
# 3. Prove it: against an equivalent layer if one exists, with `tinysr.gradcheck` in float64, and with
#    a property test over many shapes. Then train it.
#
# To make it fast, write a Numba tier with the same signature and hold it to this reference in the
# tests, as `tinysr/ops/` does for every op.
