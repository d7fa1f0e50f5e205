# %% [markdown]
# # Tutorial 5: losses and Adam
#
# The loss turns a prediction into one number whose gradient starts the backward pass; the
# optimizer turns gradients into steps. This tutorial looks at both ends of training:
#
# 1. **MSE** (and L1), the pixel losses of super-resolution, and their gradients;
# 2. **binary cross-entropy**, the loss of a GAN's discriminator: why it must be computed from the
#    raw score (the *logit*) and not from a probability, or it overflows and its gradient vanishes;
# 3. **Adam**: its update, its bias correction, and its path on a 2-parameter problem, beside plain
#    gradient descent, with a plot.
#
# Figures go to `tutorial_output/05/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/05/`.

# %%
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinysr
from tinysr import nn
from tinysr.losses import BCELoss, BCEWithLogitsLoss, L1Loss, MSELoss
from tinysr.nn import Parameter
from tinysr.ops.losses import bce_with_logits_loss_backward, bce_with_logits_loss_forward
from tinysr.optim import SGD, Adam

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "05"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")

# %% [markdown]
# ## 1. Pixel losses: MSE and L1
#
# With `p` the prediction, `t` the target and `n` the number of elements:
#
#     MSE = (1/n) sum (p - t)^2        dMSE/dp = 2 (p - t) / n
#     L1  = (1/n) sum |p - t|          dL1/dp  = sign(p - t) / n
#
# The MSE gradient is proportional to the error: big errors pull hard, small ones barely. The L1
# gradient has the same size for every pixel, however small its error, which is why L1-trained
# networks keep sharpening details that MSE-trained ones leave blurred. PSNR, the score of
# tutorial 6, is a function of the MSE, so training with MSE optimises PSNR directly.
#
# A loss's `backward(grad_output=1.0)` returns `dL/dp`, the gradient that the network's backward
# pass starts from.

# %%
rng = np.random.default_rng(0)
p = rng.random((2, 1, 4, 4))
t = rng.random((2, 1, 4, 4))
mse, l1 = MSELoss(), L1Loss()
print(f"MSE {mse.forward(p, t):.6f}, L1 {l1.forward(p, t):.6f}")
np.testing.assert_allclose(mse.forward(p, t), np.mean((p - t) ** 2), rtol=1e-14)
np.testing.assert_allclose(mse.backward(), 2 * (p - t) / p.size, rtol=1e-14)
np.testing.assert_allclose(l1.forward(p, t), np.mean(np.abs(p - t)), rtol=1e-14)
np.testing.assert_allclose(l1.backward(), np.sign(p - t) / p.size, rtol=1e-14)

# %% [markdown]
# ## 2. Binary cross-entropy, and why it wants logits
#
# A discriminator outputs a score `z` (any real number); `sigmoid(z) = 1 / (1 + exp(-z))` turns it
# into a probability `q` that the image is real. Against a label `y` (1 real, 0 fake) the loss is
#
#     BCE = -(y log q + (1 - y) log(1 - q))
#
# Computed literally, it breaks for confident scores. In float64, `sigmoid(40)` rounds to exactly
# 1.0, so for `y = 0` the loss `-log(1 - q)` is `-log(0) = inf`, although the true loss is about 40.
# PyTorch's `BCELoss` (and tinysr's) clamps each log at -100, which keeps it finite but wrong.
# Substituting the sigmoid into the formula and simplifying gives a form that never rounds away:
#
#     BCE(z, y) = max(z, 0) - z y + log(1 + exp(-|z|))         exp of a number <= 0 only: no overflow
#     dBCE/dz   = sigmoid(z) - y                               the logs and the sigmoid cancel
#
# That is `BCEWithLogitsLoss`. Below, `y = 0`, so the true loss is `log(1 + exp(z))`.

# %%
def naive_bce(z, y):
    q = 1.0 / (1.0 + np.exp(-z))
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


scores = np.array([-1000.0, -40.0, -5.0, 0.0, 5.0, 40.0, 1000.0])
print(f"{'z':>8} {'true loss':>12} {'naive':>12} {'BCELoss(sigmoid(z))':>20} {'BCEWithLogitsLoss':>18}")
for z in scores:
    zs, ys = np.array([z]), np.array([0.0])
    true_loss = np.logaddexp(0.0, z)  # log(1 + e^z), computed stably by NumPy
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        naive = naive_bce(zs, ys)[0]
        q = 1.0 / (1.0 + np.exp(-zs))
    clamped = BCELoss().forward(q, ys)
    stable = BCEWithLogitsLoss().forward(zs, ys)
    print(f"{z:>8g} {true_loss:>12.6g} {naive:>12.6g} {clamped:>20.6g} {stable:>18.6g}")
    np.testing.assert_allclose(stable, true_loss, rtol=1e-12)
    if z >= 40:
        assert not np.isfinite(naive) and abs(clamped - true_loss) > 1.0

# %% [markdown]
# ### The gradient vanishes through a saturated sigmoid
#
# Worse than a wrong loss is a missing gradient. Take a confidently wrong score, `z = -40` for a real
# image (`y = 1`). The true gradient is `sigmoid(z) - y`, about -1: a strong push. Through the layers
# `Sigmoid` then `BCELoss`, it is the product of `dBCE/dq = -1/q`, which is huge (PyTorch's formula,
# which tinysr follows, caps it by dividing by at least 1e-12), and `dq/dz = q (1 - q)`, which is
# about 4e-18. The product should be -1; with the cap it is about -4e-6, and the network would barely
# learn from its worst mistakes. The logits form has no such product.

# %%
z = np.array([[-40.0]])
y = np.array([[1.0]])
sigmoid_layer, bce = nn.Sigmoid(), BCELoss()
bce.forward(sigmoid_layer.forward(z), y)
grad_through_sigmoid = sigmoid_layer.backward(bce.backward())[0, 0]
logits_loss = BCEWithLogitsLoss()
logits_loss.forward(z, y)
grad_from_logits = logits_loss.backward()[0, 0]
print(f"dL/dz at z = -40, y = 1: through Sigmoid + BCELoss {grad_through_sigmoid:.3g}, "
      f"BCEWithLogitsLoss {grad_from_logits:.12f}")
np.testing.assert_allclose(grad_from_logits, 1.0 / (1.0 + math.exp(40.0)) - 1.0, rtol=1e-12)
assert abs(grad_through_sigmoid) < 1e-3

# %% [markdown]
# The op can be proven like any layer: `gradcheck` takes the pair `(forward_op, backward_op)`. A
# loss returns a Python float, so the forward op wraps it in an array; the labels are constants,
# not inputs to differentiate, so the functions take them from outside.

# %%
labels = (rng.random((3, 5)) > 0.5).astype(np.float64)


def logits_forward(z):
    loss, cache = bce_with_logits_loss_forward(z, labels)
    return np.array(loss), cache


def logits_backward(grad_output, cache):
    return bce_with_logits_loss_backward(float(grad_output), cache)


report = tinysr.gradcheck((logits_forward, logits_backward), rng.standard_normal((3, 5)) * 4)
print(report)
assert report.passed


# %% [markdown]
# ## 3. Adam
#
# Gradient descent steps `-lr * g`: its step is as large as the gradient, so a steep direction
# forces a small `lr` and a flat direction then crawls. Adam (Kingma and Ba, 2015) keeps two running
# averages per parameter, of the gradient and of its square, and steps by their ratio:
#
#     m = b1 m + (1 - b1) g             (b1 = 0.9: the direction, smoothed)
#     v = b2 v + (1 - b2) g^2           (b2 = 0.999: the typical size of g)
#     m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)          bias correction, t = step number
#     param -= lr * m_hat / (sqrt(v_hat) + eps)
#
# `m_hat / sqrt(v_hat)` is about +-1 when the gradient is consistent, whatever its size: every
# parameter moves about `lr` per step, steep or flat.
#
# **Bias correction.** `m` and `v` start at zero, so early on they are too small: after one step
# `m = 0.1 g` and `v = 0.001 g^2`. Dividing by `1 - b^t` undoes that exactly, so the first step is
# `lr * g / |g| = lr`. Without the correction the ratio `m / sqrt(v)` would be off by
# `(1 - b1^t) / sqrt(1 - b2^t)`: 3.2 at the first step, 6.5 at the tenth, still 1.3 after a
# thousand: Adam's first steps would be several times larger than `lr` says.

# %%
weight = Parameter(np.array([0.3, -2.0]))
adam = Adam([weight], lr=0.01)
weight.grad[...] = [5.0, -0.001]  # gradients of very different sizes
before = weight.data.copy()
adam.step()
first_step = weight.data - before
print("first Adam step:", first_step, "(lr = 0.01 for both, whatever the gradient's size)")
np.testing.assert_allclose(np.abs(first_step), 0.01, rtol=1e-4)
assert np.all(np.sign(first_step) == -np.sign(weight.grad))

steps = np.arange(1, 3001)
uncorrected_factor = (1 - 0.9**steps) / np.sqrt(1 - 0.999**steps)
print(f"without bias correction the step is {uncorrected_factor[0]:.2f}x at t = 1, "
      f"{uncorrected_factor[9]:.2f}x at t = 10, {uncorrected_factor[999]:.2f}x at t = 1000")
assert uncorrected_factor.max() > 5

# %% [markdown]
# ### A 2-parameter problem
#
# Minimise a long, narrow valley: `f(w) = 1/2 (w - w*)^T H (w - w*)` with `H = diag(1, 100)`: flat
# along `w[0]`, steep along `w[1]`, minimum at `w* = (1, 0.5)`. We start on the valley's side, far
# along it from the minimum. Gradient descent is stable only for `lr < 2 / 100`; we give it 0.015,
# and it then crawls along the flat direction. Adam, with lr 0.05, and Adam without bias correction
# (written out by hand below; tinysr's `Adam` always corrects) start from the same point.

# %%
def valley(angle_degrees):
    """The Hessian of the valley, its axes turned by ``angle_degrees`` from the parameter axes."""
    angle = np.deg2rad(angle_degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return rotation @ np.diag([1.0, 100.0]) @ rotation.T, rotation


hessian, rotation = valley(0)
minimum = np.array([1.0, 0.5])
flat_direction, steep_direction = rotation[:, 0], rotation[:, 1]
start = minimum - 2.0 * flat_direction + 1.0 * steep_direction  # up the valley's side, far along it
STEPS = 300


def f(w, scale=1.0):
    d = w - minimum
    return 0.5 * scale * d @ hessian @ d


def gradient(w, scale=1.0, hess=hessian):
    return scale * hess @ (w - minimum)


def run(make_optimizer, scale=1.0, steps=STEPS, hess=hessian):
    """The path of a tinysr optimizer: ``make_optimizer(params)``; the gradient is set by hand each step."""
    w = Parameter(start.copy())
    optimizer = make_optimizer([w])
    path = [w.data.copy()]
    for _ in range(steps):
        optimizer.zero_grad()
        w.grad += gradient(w.data, scale, hess)  # what a backward pass would have accumulated
        optimizer.step()
        path.append(w.data.copy())
    return np.array(path)


def run_adam_without_bias_correction(lr, steps=STEPS, b1=0.9, b2=0.999, eps=1e-8):
    w, m, v = start.copy(), np.zeros(2), np.zeros(2)
    path = [w.copy()]
    for _ in range(steps):
        g = gradient(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * m / (np.sqrt(v) + eps)
        path.append(w.copy())
    return np.array(path)


paths = {
    "gradient descent, lr 0.015": run(lambda params: SGD(params, lr=0.015)),
    "Adam, lr 0.05": run(lambda params: Adam(params, lr=0.05)),
    "Adam without bias correction, lr 0.05": run_adam_without_bias_correction(0.05),
}
for name, path in paths.items():
    print(f"{name:<40} after {STEPS} steps: distance to the minimum {np.linalg.norm(path[-1] - minimum):.2e}, "
          f"f = {f(path[-1]):.2e}")
adam_path = paths["Adam, lr 0.05"]
assert np.linalg.norm(adam_path[-1] - minimum) < 1e-3  # Adam reaches the minimum
assert np.linalg.norm(paths["gradient descent, lr 0.015"][-1] - minimum) > 1e3 * np.linalg.norm(adam_path[-1] - minimum)
first_moves = {name: np.linalg.norm(path[1] - path[0]) for name, path in paths.items()}
print(f"first step length: Adam {first_moves['Adam, lr 0.05']:.4f}, "
      f"without bias correction {first_moves['Adam without bias correction, lr 0.05']:.4f}")
assert first_moves["Adam without bias correction, lr 0.05"] > 3 * first_moves["Adam, lr 0.05"]

# %% [markdown]
# Adam rescales each *parameter* on its own. That is exactly right when the steep and the flat
# directions are the parameters' own axes, as here. Tilt the valley by 30 degrees and both
# parameters see the steep direction's large gradients, so both take small steps: Adam loses most of
# its advantage (in a network, with millions of parameters, it still helps a lot in practice).

# %%
tilted = run(lambda params: Adam(params, lr=0.05), hess=valley(30)[0])
print(f"Adam, lr 0.05, valley tilted by 30 degrees: distance after {STEPS} steps "
      f"{np.linalg.norm(tilted[-1] - minimum):.2e} (aligned: {np.linalg.norm(adam_path[-1] - minimum):.2e})")
assert np.linalg.norm(tilted[-1] - minimum) > 100 * np.linalg.norm(adam_path[-1] - minimum)

# %% [markdown]
# ### Adam does not care how big the loss is
#
# Multiply `f` by 1000 (a loss in other units, or summed instead of averaged). Every gradient is
# 1000 times larger; gradient descent with the same `lr` now diverges. Adam's step divides the
# gradient by its own typical size, so its path does not change (up to `eps`).

# %%
adam_path_scaled = run(lambda params: Adam(params, lr=0.05), scale=1000.0)
difference = np.max(np.abs(adam_path_scaled - adam_path))
print(f"Adam on 1000 f vs on f: paths differ by at most {difference:.1e}")
assert difference < 1e-6
sgd_scaled = run(lambda params: SGD(params, lr=0.015), scale=1000.0, steps=20)
print(f"gradient descent on 1000 f: distance after 20 steps {np.linalg.norm(sgd_scaled[-1] - minimum):.1e} (diverged)")
assert np.linalg.norm(sgd_scaled[-1] - minimum) > 1e6

# %%
fig, (ax_path, ax_loss, ax_bias) = plt.subplots(1, 3, figsize=(20, 6.2), gridspec_kw={"width_ratios": [1.5, 1, 1]})
a_grid, b_grid = np.meshgrid(np.linspace(-1.3, 2.0, 240), np.linspace(-0.1, 1.7, 160))
points = np.stack([a_grid - minimum[0], b_grid - minimum[1]], axis=-1)
f_grid = 0.5 * np.einsum("...i,ij,...j->...", points, hessian, points)
ax_path.contour(a_grid, b_grid, f_grid, levels=np.logspace(-2, 2.5, 14), colors="0.7", linewidths=0.7)
for (name, path), colour in zip(paths.items(), ("C0", "C1", "C2")):
    ax_path.plot(path[:, 0], path[:, 1], ".-", color=colour, markersize=2.5, linewidth=0.8, label=name)
ax_path.plot(*start, "ks", label="start")
ax_path.plot(*minimum, "r*", markersize=14, label="minimum w* = (1, 0.5)")
ax_path.set_xlabel("parameter w[0]")
ax_path.set_ylabel("parameter w[1]")
ax_path.set_title(f"{STEPS} steps on a narrow valley, f = (w0 - 1)^2 / 2 + 100 (w1 - 0.5)^2 / 2", fontsize=10)
ax_path.set_aspect("equal")
ax_path.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)

for (name, path), colour in zip(paths.items(), ("C0", "C1", "C2")):
    ax_loss.semilogy([max(f(w), 1e-20) for w in path], color=colour, label=name)
ax_loss.set_xlabel("step")
ax_loss.set_ylabel("f(w) - f(w*)  (log scale)")
ax_loss.set_title("distance to the minimum in loss")
ax_loss.legend(fontsize=8)

ax_bias.semilogx(steps, uncorrected_factor, color="C2")
ax_bias.axhline(1.0, color="0.5", linestyle="--", label="with bias correction (exactly 1)")
ax_bias.set_xlabel("step t (log scale)")
ax_bias.set_ylabel("(1 - 0.9^t) / sqrt(1 - 0.999^t)")
ax_bias.set_title("how much larger steps are without bias correction")
ax_bias.legend()
fig.tight_layout()
path = OUT / "adam.png"
fig.savefig(path, dpi=110)
plt.close(fig)
print(f"figure: {path}")

# %% [markdown]
# ## What to take away
#
# * A loss's backward pass is where every gradient starts: `2 (p - t) / n` for MSE.
# * Compute cross-entropy from logits: the stable form never overflows, and its gradient
#   `sigmoid(z) - y` does not vanish when the network is confidently wrong.
# * Adam moves each parameter by about `lr` per step whatever the size of its gradient; bias
#   correction makes that true from the first step.
#
# Next: tutorial 6 puts it all together and trains SRCNN.
