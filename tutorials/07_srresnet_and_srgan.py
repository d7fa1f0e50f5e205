# %% [markdown]
# # Tutorial 7: SRResNet and SRGAN
#
# SRGAN (Ledig et al., 2017, "Photo-realistic single image super-resolution using a generative
# adversarial network") trains two networks against each other. The *generator* G, an SRResNet,
# turns a low-resolution (LR) image into a high-resolution (HR) one. The *discriminator* D looks at
# an HR crop and says how much it believes the crop is a real photo. G is trained to stay close to
# the true HR image (MSE, the *content loss*) **and** to make D believe its output (the
# *adversarial loss*). An MSE-trained network averages all the details that could be there and
# paints a smooth, blurry mean; the adversarial loss punishes exactly that look.
#
# This tutorial:
#
# 1. counts the parameters of the paper's two networks, layer group by layer group, by formula;
# 2. writes the **adversarial gradient path** out by hand: `D.backward` returns the gradient of
#    the adversarial loss with respect to D's *input image*, which is added, weighted by `1e-3`, to
#    the MSE gradient before `G.backward`; checks that this is what `tinysr.gan.srgan_step` does;
# 3. proves that path with `tinysr.gradcheck` (and shows it catching a forgotten weight);
# 4. trains tiny networks for a short while: SRResNet with MSE, then SRGAN steps, with curves of
#    D(real), D(fake) and both losses;
# 5. compares the outputs: bicubic, MSE only, GAN, HR, with PSNR and a sharpness measure;
# 6. shows the shipped SRResNet and SRGAN weights on a crop, if the package has them.
#
# The training data are the photos shipped in `tinysr/sample_images/` (three of them; the fourth,
# `chelsea.png`, is kept for testing). `TINYSR_TUTORIAL_LONG=1` trains five times longer.
#
# Figures go to `tutorial_output/07/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/07/`.

# %%
import copy
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

import tinysr
from tinysr.data import SRDataset, sample_images_dir
from tinysr.evaluate import gradient_magnitude
from tinysr.gan import srgan_step
from tinysr.image import bicubic_degrade, bicubic_upscale, read_image, rgb_to_y, to_uint8
from tinysr.losses import BCEWithLogitsLoss, MSELoss
from tinysr.metrics import psnr
from tinysr.models import Discriminator, SRResNet
from tinysr.nn import Module
from tinysr.optim import Adam
from tinysr.upscale import load_model, shipped_weights_path

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "07"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")

LONG = os.environ.get("TINYSR_TUTORIAL_LONG") == "1"
PRETRAIN_STEPS = 2000 if LONG else 400
GAN_STEPS = 1000 if LONG else 200
print(f"{'long' if LONG else 'short'} version: {PRETRAIN_STEPS} MSE steps, then {GAN_STEPS} SRGAN steps")


def save(fig, name):
    path = OUT / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


# %% [markdown]
# ## 1. The two networks of the paper
#
# **SRResNet** works at low resolution and enlarges only at the end (`tinysr/models/srresnet.py`):
#
#     head      conv 9x9 (3 -> F) -> PReLU
#     blocks    B x [conv 3x3 -> BN -> PReLU -> conv 3x3 -> BN, + input]
#     trunk     conv 3x3 -> BN, + head            (the long skip connection)
#     upsample  log2(scale) x [conv 3x3 (F -> 4F) -> PixelShuffle(2) -> PReLU]
#     tail      conv 9x9 (F -> 3)
#
# with `F = 64` features and `B = 16` blocks in the paper. A `k x k` convolution from `C_in` to
# `C_out` channels has `C_in C_out k^2` weights and `C_out` biases; a BatchNorm over `C` channels
# has `2C` (a scale and a shift); a PReLU here has one slope. Adding up the layer list gives the
# count below, which must equal what tinysr built.
#
# **The discriminator** (`tinysr/models/discriminator.py`) judges 96x96 crops: eight 3x3
# convolutions (64, 64, 128, 128, 256, 256, 512, 512 channels, every second one with stride 2),
# LeakyReLU(0.2), BatchNorm after all but the first, then `Linear(512 * 6 * 6 -> 1024)`,
# LeakyReLU and `Linear(1024 -> 1)`: one *logit* `z` per crop, `sigmoid(z)` being D's belief that
# the crop is real.

# %%
def conv(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def srresnet_parts(scale=4, blocks=16, f=64):
    return {
        "head (conv 9x9 + PReLU)": conv(3, f, 9) + 1,
        f"{blocks} residual blocks": blocks * (2 * conv(f, f, 3) + 2 * 2 * f + 1),
        "trunk (conv 3x3 + BN)": conv(f, f, 3) + 2 * f,
        f"{int(math.log2(scale))} sub-pixel blocks": int(math.log2(scale)) * (conv(f, 4 * f, 3) + 1),
        "tail (conv 9x9)": conv(f, 3, 9),
    }


def discriminator_parts(hr_size=96, f=64):
    widths = [f, f, 2 * f, 2 * f, 4 * f, 4 * f, 8 * f, 8 * f]
    convs = sum(conv(c_in, c_out, 3) for c_in, c_out in zip([3, *widths], widths))
    side = hr_size // 16
    return {
        "8 convolutions": convs,
        "7 BatchNorms": sum(2 * c for c in widths[1:]),
        f"Linear({8 * f}*{side}*{side} -> 1024)": conv(8 * f * side * side, 1024, 1),
        "Linear(1024 -> 1)": conv(1024, 1, 1),
    }


generator_paper, discriminator_paper = SRResNet(rng=0), Discriminator(rng=0)
for name, parts, network in (("SRResNet x4", srresnet_parts(), generator_paper),
                             ("discriminator", discriminator_parts(), discriminator_paper)):
    total = sum(parts.values())
    print(f"{name}: {total:,} parameters")
    for part, count in parts.items():
        print(f"    {part:<32} {count:>12,}  ({100 * count / total:4.1f} %)")
    assert network.num_parameters() == total
assert discriminator_parts()["Linear(512*6*6 -> 1024)"] > 0.75 * discriminator_paper.num_parameters()

lr_demo = np.random.default_rng(0).random((1, 3, 12, 12), dtype=np.float32)
print("SRResNet x4:", lr_demo.shape, "->", generator_paper.eval().forward(lr_demo).shape)
print("discriminator:", (1, 3, 96, 96), "->", discriminator_paper.eval().forward(np.zeros((1, 3, 96, 96),
                                                                                           np.float32)).shape)
del generator_paper, discriminator_paper  # 25 million parameters we do not need any more

# %% [markdown]
# Most of the generator is its 16 residual blocks; most of the discriminator (80 %) is its first
# dense layer, which sees the whole 6x6x512 feature map at once. Yet the discriminator does far
# less arithmetic per pixel than the generator: its convolutions run at ever smaller sizes.
#
# ## 2. The adversarial gradient path, by hand
#
# Write `fake = G(x)` for the generator's output on an LR batch `x` with HR targets `y`, and
# `z = D(fake)` for D's logits, one per image of the batch (`N` of them). The generator's loss is
#
#     L_G   = MSE(fake, y) + w * L_adv                       w = 1e-3 (the paper's weight)
#     L_adv = BCE(z, 1) = mean_n -log sigmoid(z_n)           "make D say real"
#
# Its gradient with respect to the generated image has two terms, one per loss:
#
#     dL_G/dfake = 2 (fake - y) / M   +   w * dL_adv/dfake   (M = number of pixel values)
#
# The first is the MSE gradient of tutorial 5. The second goes **through the discriminator**:
#
#     dL_adv/dz_n  = (sigmoid(z_n) - 1) / N                  (BCE on logits, tutorial 5)
#     dL_adv/dfake = D.backward(dL_adv/dz)                   the chain rule through all of D
#
# `D.backward` is the backward pass of every layer of D in turn, down to its input: it returns an
# array the shape of the image, which says, pixel by pixel, which way to move `fake` to look more
# real to D. That array is the only thing that connects the two networks. It is added to the MSE
# gradient, and `G.backward` takes the sum down through the generator.
#
# We check it on tiny networks in float64: an x2 SRResNet with one block of 4 features, and a
# discriminator for 16x16 crops with 4 features in its first layer, batch of 4.

# %%
W_ADV = 1e-3
rng = np.random.default_rng(7)


def tiny_pair(seed):
    return (SRResNet(2, num_blocks=1, num_features=4, dtype=np.float64, rng=seed),
            Discriminator(16, 4, dtype=np.float64, rng=seed + 1))


generator, discriminator = tiny_pair(10)
x_small = rng.uniform(0.0, 1.0, (4, 3, 8, 8))
y_small = rng.uniform(0.0, 1.0, (4, 3, 16, 16))
generator_start, discriminator_start = copy.deepcopy(generator), copy.deepcopy(discriminator)

fake = generator.forward(x_small)
mse, bce = MSELoss(), BCEWithLogitsLoss()
content_loss = mse.forward(fake, y_small)
grad_content = mse.backward()
np.testing.assert_allclose(grad_content, 2 * (fake - y_small) / fake.size, rtol=1e-12)

z = discriminator.forward(fake)
adversarial_loss = bce.forward(z, np.ones_like(z))
sigmoid_z = 1 / (1 + np.exp(-z))
grad_z = (sigmoid_z - 1) / z.shape[0]  # dL_adv/dz, by hand
np.testing.assert_allclose(bce.backward(), grad_z, rtol=1e-12)
np.testing.assert_allclose(adversarial_loss, np.mean(-np.log(sigmoid_z)), rtol=1e-12)

grad_adversarial = discriminator.backward(grad_z)  # dL_adv/dfake: D's verdict, pixel by pixel
assert grad_adversarial.shape == fake.shape
grad_fake = grad_content + W_ADV * grad_adversarial
generator.zero_grad()
generator.backward(grad_fake)  # fills every generator parameter's .grad
by_hand = {name: p.grad.copy() for name, p in generator.named_parameters()}
print(f"content loss {content_loss:.4f}, adversarial loss {adversarial_loss:.4f}, D's beliefs "
      f"sigmoid(z) = {np.round(sigmoid_z.ravel(), 3)}")
print(f"|MSE gradient| = {np.linalg.norm(grad_content):.2e}, "
      f"|w * adversarial gradient| = {np.linalg.norm(W_ADV * grad_adversarial):.2e}")

# %% [markdown]
# ### The same path inside `srgan_step`
#
# `tinysr.gan.srgan_step(G, D, G_optimizer, D_optimizer, x, y)` does a whole SRGAN iteration:
# first a **discriminator step**, `L_D = BCE(D(y), 1) + BCE(D(G(x)), 0)` ("real is 1, fake is
# 0"), in two backward passes, then the **generator step** above. Its optimizers change the
# weights, so to compare gradients we hand it optimizers that only *record* the gradients they are
# given. (The generator step then sees the same D as our hand-written path; in real training it
# sees D just after D's update.) The D step, by hand, is two forward/backward passes that add
# into D's gradients.

# %%
class RecordingOptimizer:
    """An optimizer that changes nothing: ``step`` keeps copies of the gradients it was handed."""

    def __init__(self, params):
        self.params, self.recorded = list(params), None

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        self.recorded = [p.grad.copy() for p in self.params]


# the discriminator's step, by hand, on copies of the networks as they were
hand_d, hand_g = copy.deepcopy(discriminator_start), copy.deepcopy(generator_start)
fake_start = hand_g.forward(x_small)
real_logits = hand_d.forward(y_small)
d_loss = bce.forward(real_logits, np.ones_like(real_logits))
hand_d.backward(bce.backward())  # each forward overwrites D's caches: backward right after it
fake_logits = hand_d.forward(fake_start)
d_loss += bce.forward(fake_logits, np.zeros_like(fake_logits))
hand_d.backward(bce.backward())

g_record = RecordingOptimizer(generator_start.parameters())
d_record = RecordingOptimizer(discriminator_start.parameters())
losses = srgan_step(generator_start, discriminator_start, g_record, d_record, x_small, y_small,
                    adversarial_weight=W_ADV)
print({key: round(value, 6) for key, value in losses.items()})
np.testing.assert_allclose(losses["d_loss"], d_loss, rtol=1e-12)
for (name, p), recorded in zip(hand_d.named_parameters(), d_record.recorded):
    np.testing.assert_allclose(recorded, p.grad, rtol=1e-10, atol=1e-15, err_msg=name)
np.testing.assert_allclose(losses["content_loss"], content_loss, rtol=1e-12)
np.testing.assert_allclose(losses["adversarial_loss"], adversarial_loss, rtol=1e-12)
np.testing.assert_allclose(losses["loss"], content_loss + W_ADV * adversarial_loss, rtol=1e-12)
for (name, _), recorded in zip(generator.named_parameters(), g_record.recorded):
    np.testing.assert_allclose(recorded, by_hand[name], rtol=1e-9, atol=1e-15, err_msg=name)
print(f"srgan_step's gradients equal the hand-written path: {len(by_hand)} generator and "
      f"{len(d_record.recorded)} discriminator parameter tensors")

# %% [markdown]
# ## 3. Proving the path with `gradcheck`
#
# Agreeing with `srgan_step` shows that we wrote what tinysr does, not that either is right. For
# that, `tinysr.gradcheck` compares the hand-written backward pass with finite differences of the
# loss itself. We wrap the generator's loss in a module: `forward(x)` returns `L_G`, `backward`
# is the path above. gradcheck nudges the input, every generator parameter and every
# discriminator parameter (D's parameters get gradients in the generator step too, which
# `srgan_step` never applies: the next D step starts with `zero_grad`).
#
# One detail matters here. Above we multiplied D's *output* `D.backward(dL_adv/dz)` by `w`. For
# the image gradient that is the same as starting D's backward pass from `w * dL_adv/dz` (a
# backward pass is linear in the gradient it receives), but `D.backward` also *adds D's parameter
# gradients* on its way down, and those would then be the gradients of `L_adv`, not of
# `w * L_adv`: a thousand times too large. So the module, like `srgan_step`, hands the weight to
# the loss's backward, `bce.backward(w)` (the argument is dL_G/dL_adv), and everything below it is
# right. (Written the first way, this check fails on every discriminator parameter, with the hint
# "analytic == 1000 * numeric".)

# %%
class GeneratorLoss(Module):
    """``x -> MSE(G(x), y) + w * BCE(D(G(x)), 1)``, a scalar; backward is the adversarial path."""

    def __init__(self, generator, discriminator, target, adversarial_weight, *, forget_weight=False):
        self.generator, self.discriminator = generator, discriminator
        self.target, self.adversarial_weight, self.forget_weight = target, adversarial_weight, forget_weight
        self.mse, self.bce = MSELoss(), BCEWithLogitsLoss()

    def forward(self, x):
        fake = self.generator.forward(x)
        logits = self.discriminator.forward(fake)
        adversarial = self.bce.forward(logits, np.ones_like(logits))
        return np.asarray(self.mse.forward(fake, self.target) + self.adversarial_weight * adversarial)

    def backward(self, grad_output=1.0):
        g = float(grad_output)  # dL/dL_G, 1 for the loss itself
        weight = 1.0 if self.forget_weight else self.adversarial_weight  # the bug, when asked for
        # dL/dL_adv = g * w goes into BCE's backward, so everything below it (D's parameter
        # gradients too) is the gradient of w * L_adv; srgan_step does the same
        grad_fake = self.mse.backward(g) + self.discriminator.backward(self.bce.backward(g * weight))
        return self.generator.backward(grad_fake)


generator, discriminator = tiny_pair(20)
report = tinysr.gradcheck(GeneratorLoss(generator, discriminator, y_small, W_ADV), x_small,
                          max_checks_per_tensor=8, seed=1)
print(report)
assert report.passed
checked = [t.name for t in report.tensors]
assert "generator.head.0.weight" in checked and "discriminator.classifier.3.weight" in checked
assert len(checked) == 1 + len(generator.parameters()) + len(discriminator.parameters())

# %% [markdown]
# A typical mistake: the loss has `w * L_adv`, but the backward pass forgets to multiply D's
# gradient by `w`. The adversarial term then pushes the generator a thousand times harder than
# the loss says, and nothing in the forward pass shows it. gradcheck does (we check only the
# input gradient here, which is enough):

# %%
buggy = tinysr.gradcheck(GeneratorLoss(generator, discriminator, y_small, W_ADV, forget_weight=True), x_small,
                         check_params=False, max_checks_per_tensor=8, seed=1, raise_on_failure=False)
print(buggy.failure_message())
assert not buggy.passed

# %% [markdown]
# ## 4. A short training run
#
# The recipe of the paper, shrunk to run in about a minute and a half on a 2-core CPU:
#
# * **pre-train** SRResNet with MSE alone (the paper: 10^6 steps; here a tiny network,
#   `SRResNet(4, num_blocks=2, num_features=16)` with 38 thousand parameters instead of 1.5 million,
#   for a few hundred steps of 8 random 48x48 HR crops, Adam with a cosine decay from 2e-3);
# * **then SRGAN**: `srgan_step` on the same kind of batches, starting G from the pre-trained
#   network, with a fresh discriminator (`Discriminator(48, 8)`: 8 features in the first layer
#   instead of 64), Adam at 1e-4 for both networks and `w = 1e-3`, as in the paper.
#
# The batches come from `tinysr.data.SRDataset(mode="lr", channels="rgb")`: random HR crops and
# their bicubic-degraded 12x12 LR crops, with random flips and rotations.
#
# What to watch: D starts at chance (`sigmoid(z) = 0.5` for everything, `L_D = 2 log 2 = 1.39`).
# As it learns, D(real) rises above D(fake), `L_D` falls, and the generator's adversarial loss
# `-log D(fake)` rises: G is chasing a target that moves. Its content loss stays about where
# pre-training left it: `w = 1e-3` keeps the adversarial push small.

# %%
started = time.process_time()
train_folder = Path(tempfile.mkdtemp(prefix="tinysr_tutorial07_"))
for name in ("astronaut", "coffee", "rocket"):  # chelsea.png stays out, for testing
    shutil.copy(sample_images_dir() / f"{name}.png", train_folder)
dataset = SRDataset(train_folder, scale=4, patch_size=48, mode="lr", channels="rgb", seed=0)
shutil.rmtree(train_folder)  # the dataset holds the images in memory

generator = SRResNet(4, num_blocks=2, num_features=16, rng=1)
optimizer, mse = Adam(generator.parameters(), lr=2e-3), MSELoss()
pretrain_losses = []
for step in range(PRETRAIN_STEPS):
    optimizer.lr = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / PRETRAIN_STEPS))
    lr_batch, hr_batch = dataset.batch(8)
    optimizer.zero_grad()
    pretrain_losses.append(mse.forward(generator.forward(lr_batch), hr_batch))
    generator.backward(mse.backward())
    optimizer.step()
print(f"pre-training: MSE {np.mean(pretrain_losses[:20]):.4f} -> {np.mean(pretrain_losses[-20:]):.4f} "
      f"({time.process_time() - started:.1f} s of CPU time)")
generator_mse = copy.deepcopy(generator)  # the SRResNet, kept for the comparison

started = time.process_time()
discriminator = Discriminator(48, 8, rng=2)
g_optimizer, d_optimizer = Adam(generator.parameters(), lr=1e-4), Adam(discriminator.parameters(), lr=1e-4)
history = []
for _ in range(GAN_STEPS):
    lr_batch, hr_batch = dataset.batch(8)
    history.append(srgan_step(generator, discriminator, g_optimizer, d_optimizer, lr_batch, hr_batch,
                              adversarial_weight=W_ADV))
print(f"SRGAN: {GAN_STEPS} steps ({time.process_time() - started:.1f} s of CPU time)")
curves = {key: np.array([h[key] for h in history]) for key in history[0]}

# %% [markdown]
# GAN curves are noisy, so we plot (and test) averages over windows of 25 steps: the first window,
# where D is still at chance, against the last 100 steps.

# %%
WINDOW = 25


def smooth(values, window=WINDOW):
    return np.convolve(values, np.ones(window) / window, mode="valid")


for key, values in curves.items():
    assert np.all(np.isfinite(values)), f"{key} became NaN or infinite"
    print(f"{key:>17}: first {WINDOW} steps {values[:WINDOW].mean():.4f}, last 100 steps {values[-100:].mean():.4f}")
chance = 2 * math.log(2)
assert abs(curves["d_loss"][:WINDOW].mean() - chance) < 0.2  # D starts at chance
assert curves["d_loss"][-100:].mean() < curves["d_loss"][:WINDOW].mean() - 0.1  # and learns
assert curves["d_real"][-100:].mean() > curves["d_fake"][-100:].mean() + 0.1  # real rated above fake
assert curves["adversarial_loss"][-100:].mean() > curves["adversarial_loss"][:WINDOW].mean() + 0.2  # G is found out
for p in generator.parameters() + discriminator.parameters():
    assert np.all(np.isfinite(p.data))

steps = np.arange(GAN_STEPS)
smoothed_steps = steps[WINDOW - 1:]
fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
ax = axes[0, 0]
ax.semilogy(pretrain_losses, color="0.7", linewidth=0.8, label="per step")
ax.semilogy(np.arange(WINDOW - 1, PRETRAIN_STEPS), smooth(pretrain_losses), color="C0", label=f"mean of {WINDOW}")
ax.set_xlabel("pre-training step")
ax.set_ylabel("MSE (images in [0, 1])")
ax.set_title("1. SRResNet pre-trained with MSE alone")
ax.legend()
ax = axes[0, 1]
for key, colour, label in (("d_real", "C2", "D(real): belief that HR crops are real"),
                           ("d_fake", "C3", "D(fake): belief that G's outputs are real")):
    ax.plot(steps, curves[key], color=colour, alpha=0.25, linewidth=0.8)
    ax.plot(smoothed_steps, smooth(curves[key]), color=colour, label=label)
ax.axhline(0.5, color="0.5", linestyle=":", linewidth=1)
ax.set_ylim(0, 1)
ax.set_xlabel("SRGAN step")
ax.set_ylabel("mean sigmoid(D(crop))")
ax.set_title("2. the discriminator learns to tell them apart")
ax.legend(loc="lower left")
ax = axes[1, 0]
for key, colour, label in (("d_loss", "C4", "D's loss BCE(D(real), 1) + BCE(D(fake), 0)"),
                           ("adversarial_loss", "C1", "G's adversarial loss BCE(D(fake), 1)")):
    ax.plot(steps, curves[key], color=colour, alpha=0.25, linewidth=0.8)
    ax.plot(smoothed_steps, smooth(curves[key]), color=colour, label=label)
ax.axhline(chance, color="C4", linestyle=":", linewidth=1, label="D at chance: 2 log 2")
ax.set_xlabel("SRGAN step")
ax.set_ylabel("binary cross-entropy")
ax.set_title("3. the two adversarial losses")
ax.legend()
ax = axes[1, 1]
ax.plot(steps, curves["content_loss"], color="0.7", linewidth=0.8)
ax.plot(smoothed_steps, smooth(curves["content_loss"]), color="C0", label="content loss MSE(G(x), y)")
ax.plot(smoothed_steps, smooth(W_ADV * curves["adversarial_loss"]), color="C1", label="w * adversarial loss")
ax.set_xlabel("SRGAN step")
ax.set_ylabel("loss")
ax.set_title(f"4. the generator's two terms (w = {W_ADV:g})")
ax.legend()
fig.suptitle(f"Pre-training SRResNet, then {GAN_STEPS} SRGAN steps (curves: means over {WINDOW} steps)")
fig.tight_layout()
save(fig, "srgan_training_curves.png")

# %% [markdown]
# ## 5. Looking at the outputs
#
# The test photo is `chelsea.png`, which neither network saw: its HR image is degraded by bicubic
# x4 (as the training crops were), and each upscaler enlarges the whole LR image. We measure
#
# * **PSNR** on the Y channel, 4 border pixels shaved (tutorial 6): fidelity to the true pixels;
# * **sharpness**: the mean gradient magnitude `sqrt(dx^2 + dy^2)` of the output's Y channel
#   (`tinysr.evaluate.gradient_magnitude`) divided by the HR image's. Below 1 is smoother than the
#   real photo. An MSE-trained network lands well below 1: where it cannot know the exact
#   texture, the mean of all plausible textures is its best guess, and a mean is smooth.
#
# Both networks are switched to evaluation mode first (BatchNorm uses its running statistics).

# %%
hr_photo = read_image(sample_images_dir() / "chelsea.png")
hr_photo = hr_photo[: hr_photo.shape[0] // 4 * 4, : hr_photo.shape[1] // 4 * 4]
lr_photo = bicubic_degrade(hr_photo, 4)
lr_input = lr_photo.transpose(2, 0, 1)[None].astype(np.float32) / 255
outputs = {"bicubic": bicubic_upscale(lr_photo, 4)}
for name, network in (("SRResNet (MSE only)", generator_mse), ("SRGAN", generator)):
    outputs[name] = to_uint8(network.eval().forward(lr_input)[0].transpose(1, 2, 0))
hr_sharpness = gradient_magnitude(rgb_to_y(hr_photo), crop_border=4)
scores = {}
for name, image in outputs.items():
    scores[name] = (psnr(image, hr_photo, crop_border=4, test_y_channel=True),
                    gradient_magnitude(rgb_to_y(image), crop_border=4) / hr_sharpness)
    print(f"{name:>20}: PSNR {scores[name][0]:.2f} dB, sharpness {scores[name][1]:.3f} x the HR image's")
assert scores["SRGAN"][1] > scores["SRResNet (MSE only)"][1] + 0.1  # the GAN output is sharper
assert scores["SRResNet (MSE only)"][1] < 0.7  # and the MSE output is much smoother than the photo
assert abs(scores["SRGAN"][0] - scores["SRResNet (MSE only)"][0]) < 2.0  # at about the same fidelity


def grid_spread(image, period=4, border=8):
    """How much the ``period x period`` positions of a block differ in mean Y brightness (grey levels).

    A photo's content averages out over the positions; a periodic pattern of that period does not.
    """
    y = rgb_to_y(image)[border:-border, border:-border]
    return float(np.std([y[i::period, j::period].mean() for i in range(period) for j in range(period)]))


grids = {name: grid_spread(image) for name, image in {**outputs, "HR": hr_photo}.items()}
print("spread between the 16 positions of the 4x4 blocks (grey levels):",
      ", ".join(f"{name} {value:.2f}" for name, value in grids.items()))
assert grids["SRGAN"] > 2 * grids["SRResNet (MSE only)"] and grids["SRGAN"] > 2 * grids["HR"]

crop = (slice(120, 216), slice(176, 272))  # 96x96 HR pixels of the cat's face and fur
panels = [("LR input (nearest x4)", np.repeat(np.repeat(lr_photo, 4, axis=0), 4, axis=1)[crop], None),
          *((name, image[crop], scores[name]) for name, image in outputs.items()),
          ("HR (ground truth)", hr_photo[crop], None)]
fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 4))
for ax, (title, image, score) in zip(axes, panels):
    ax.imshow(image, interpolation="nearest")
    if score is not None:
        title += f"\nPSNR {score[0]:.2f} dB, sharpness {score[1]:.2f}"
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("chelsea.png x4, a 96x96 crop (PSNR and sharpness on the whole image; sharpness: HR = 1)")
fig.tight_layout()
save(fig, "srgan_outputs.png")

# %% [markdown]
# With these few hundred steps the tiny networks do not beat bicubic on PSNR (an SRResNet needs
# tens of thousands of steps for that; tinysr's shipped weights trained far longer). The
# *difference* between the two is the point: starting from the same network, two hundred
# adversarial steps made the output markedly sharper (about twice the MSE output's sharpness) for
# about a decibel of PSNR.
#
# But look closely at the SRGAN crop: a good part of its new "sharpness" is a fine regular grid,
# not fur. Its period is 4 pixels, the 4x4 block that the two x2 sub-pixel layers fill (tutorial
# 4), and the last number printed above measures it: the 16 positions of the 4x4 blocks differ in
# mean brightness several times more than in the MSE output or in the real photo. The
# adversarial gradient pushes the output towards whatever this young, tiny discriminator takes
# for "real", and the cheapest high frequencies a sub-pixel generator can make are on its own
# grid. The sharpness measure cannot tell texture from artifacts; this is why a GAN is judged by
# looking at its outputs (the paper asked people: mean opinion scores), and why real SRGAN
# training runs far longer, with a far larger discriminator, than this demonstration.
#
# ## 6. The shipped weights
#
# If the package ships trained x4 SRResNet and SRGAN weights (`tinysr/weights/srresnet_x4.npz`,
# `srgan_x4.npz`), here they are on an LR crop of the same photo (with a margin, so that the
# convolutions' zero padding stays out of the crop).

# %%
shipped = {name: shipped_weights_path(name, 4) for name in ("srresnet", "srgan")}
available = {name: path for name, path in shipped.items() if path.is_file()}
for name, path in shipped.items():
    if name not in available:
        print(f"note: {path} is not in this installation; skipping its part of this section")
if available:
    margin = 8  # LR pixels around the crop
    lr_crop = lr_photo[crop[0].start // 4 - margin: crop[0].stop // 4 + margin,
                       crop[1].start // 4 - margin: crop[1].stop // 4 + margin]
    inner = (slice(4 * margin, -4 * margin), slice(4 * margin, -4 * margin))
    hr_crop = hr_photo[crop]
    shipped_outputs = {}
    for name in available:
        network = load_model(name, 4)
        out = network.forward(lr_crop.transpose(2, 0, 1)[None].astype(np.float32) / 255)
        label = {"srresnet": "SRResNet (shipped)", "srgan": "SRGAN (shipped)"}[name]
        shipped_outputs[label] = to_uint8(out[0].transpose(1, 2, 0))[inner]
        assert shipped_outputs[label].shape == hr_crop.shape
    crop_sharpness = gradient_magnitude(rgb_to_y(hr_crop))
    panels = [("bicubic", outputs["bicubic"][crop]), *shipped_outputs.items(), ("HR (ground truth)", hr_crop)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 4.2))
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(image, interpolation="nearest")
        if title != "HR (ground truth)":
            score = psnr(image, hr_crop, test_y_channel=True)
            sharp = gradient_magnitude(rgb_to_y(image)) / crop_sharpness
            print(f"{title:>18} on the crop: PSNR {score:.2f} dB, sharpness {sharp:.2f}")
            title += f"\nPSNR {score:.2f} dB, sharpness {sharp:.2f}"
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("tinysr's shipped x4 weights on a 96x96 crop of chelsea.png (scores on the crop)")
    fig.tight_layout()
    save(fig, "shipped_srresnet_srgan.png")
else:
    print("note: no shipped SRResNet/SRGAN weights yet: train them with `tinysr train srresnet` and "
          "`tinysr train srgan --init RUN_DIR/weights.npz`")

# %% [markdown]
# ## What to take away
#
# * SRGAN's generator loss is `MSE + w * BCE(D(G(x)), 1)`. Its gradient reaches the generator
#   through the discriminator: `D.backward` returns dL/d(image), which is weighted by `w` and added
#   to the MSE gradient before `G.backward`. That is all `srgan_step` adds to a training step, and
#   `gradcheck` proves it like any other backward pass.
# * The discriminator learns first: D(real) rises above D(fake), and the generator's adversarial
#   loss goes up while it learns to fight back.
# * An MSE network is smooth because the mean of plausible details is smooth. The adversarial term
#   pushes the output towards the sharpness of real photos; PSNR cannot see this, a sharpness
#   measure can, but only the eye (or a grid measure) tells real texture from a periodic artifact.
#
# Next: tutorial 8, a layer of your own; tutorial 9, the same ops on a GPU.
