"""One SRGAN iteration, written out: a discriminator step, then a generator step.

Two networks play against each other. The discriminator D looks at an HR crop and outputs a
logit ``z`` (``sigmoid(z)`` = its belief that the crop is a real photo). The generator G (an
SRResNet) turns an LR crop into an HR one and wants D to believe it.

Discriminator step (G is fixed; D learns to tell real from fake)::

    fake  = G(lr)
    L_D   = BCE(D(hr), 1) + BCE(D(fake), 0)          # "real is 1, fake is 0"
    D.backward(...) twice, one pass per batch; Adam updates D only

Generator step (D is fixed; G learns to fool it while staying close to the HR image)::

    L_G   = MSE(fake, hr) + adversarial_weight * BCE(D(fake), 1)
    dL_G/dfake = MSE'(fake, hr) + adversarial_weight * D.backward(BCE'(D(fake), 1))
    G.backward(dL_G/dfake); Adam updates G only

The second line is the heart of SRGAN. ``D.backward`` returns the gradient of the adversarial
loss with respect to D's *input image*: D tells G, pixel by pixel, which way to move ``fake``
to look more real. Nothing else connects the two networks. ``BCE(D(fake), 1)`` (rather than
minimising ``-BCE(D(fake), 0)``) is the "non-saturating" loss of Goodfellow et al.: it gives G a
strong gradient exactly when D confidently rejects its output, which is the case early on.

D's parameters also receive gradients during the generator step (backward always accumulates
them); they are never applied, because the next discriminator step starts with ``zero_grad``.
Both networks stay in training mode here, so D's BatchNorm normalises each batch (real and fake
separately) with that batch's own statistics, as in the PyTorch implementations of SRGAN.
"""

from __future__ import annotations

import math

import numpy as np

from tinysr.device import add_into, device_of, to_device
from tinysr.losses import BCEWithLogitsLoss, MSELoss
from tinysr.nn import Module

__all__ = ["GANStepDiverged", "srgan_step"]


class GANStepDiverged(FloatingPointError):
    """A loss of the GAN step was NaN or infinite; which one is in the message (and ``.losses``)."""

    def __init__(self, message: str, losses: dict):
        super().__init__(message)
        self.losses = losses


def _sigmoid_mean(logits: np.ndarray) -> float:
    """Mean of ``sigmoid(logits)``: D's average belief that the crops are real (stable for any logit)."""
    z = np.asarray(to_device(logits, "cpu"), dtype=np.float64)  # (N, 1): a few bytes from the GPU
    return float(np.mean(0.5 * (1.0 + np.tanh(0.5 * z))))  # sigmoid(z), without overflow in exp(-z)


def srgan_step(generator: Module, discriminator: Module, generator_optimizer, discriminator_optimizer,
               inputs: np.ndarray, targets: np.ndarray, *, adversarial_weight: float = 1e-3,
               on_update=None) -> dict:
    """One discriminator step and one generator step on a batch; returns the losses as floats.

    Args:
        generator: maps ``inputs (N, 3, h, w)`` to ``(N, 3, H, W)``, the shape of ``targets``.
        discriminator: maps ``(N, 3, H, W)`` to logits ``(N, 1)``.
        generator_optimizer, discriminator_optimizer: optimizers over each network's parameters.
        inputs, targets: an LR batch and its HR batch, float in [0, 1].
        adversarial_weight: weight of the adversarial term in the generator's loss (1e-3 in the paper).
        on_update: called with ``True`` just before the first weight changes and with ``False``
            after the last (training uses it to know when an interruption would leave the
            networks half-updated).

    Returns:
        ``{"loss", "content_loss", "adversarial_loss", "d_loss", "d_real", "d_fake"}``: the generator's
        total loss, its two terms, the discriminator's loss (real + fake), and D's mean belief
        ``sigmoid(z)`` on the real and on the fake batch (before its update).

    Raises:
        GANStepDiverged: a loss was NaN or infinite; no weight was changed if it was the
        discriminator's, only D's if it was the generator's.
    """
    bce, mse = BCEWithLogitsLoss(), MSELoss()
    ones = to_device(np.ones((targets.shape[0], 1), dtype=targets.dtype), device_of(targets))
    zeros = to_device(np.zeros((targets.shape[0], 1), dtype=targets.dtype), device_of(targets))

    # The generator's forward pass, once: D sees it as a fixed input now, and G's backward
    # pass below uses the caches it leaves (D's passes do not touch G's caches).
    fake = generator.forward(inputs)

    # ---- discriminator step: real -> 1, fake -> 0
    discriminator_optimizer.zero_grad()
    real_logits = discriminator.forward(targets)
    loss_real = bce.forward(real_logits, ones)
    discriminator.backward(bce.backward())  # each forward overwrites D's caches: backward right after it
    fake_logits = discriminator.forward(fake)
    loss_fake = bce.forward(fake_logits, zeros)
    discriminator.backward(bce.backward())  # the gradient w.r.t. the fake images is not needed here
    losses = {"d_loss": loss_real + loss_fake, "d_real": _sigmoid_mean(real_logits),
              "d_fake": _sigmoid_mean(fake_logits)}
    if not math.isfinite(losses["d_loss"]):
        raise GANStepDiverged(f"the discriminator's loss became {losses['d_loss']}", losses)
    if on_update is not None:
        on_update(True)
    discriminator_optimizer.step()

    # ---- generator step: content loss + adversarial loss, through the updated discriminator
    generator_optimizer.zero_grad()
    content_loss = mse.forward(fake, targets)
    grad_fake = mse.backward()
    adversarial_loss = bce.forward(discriminator.forward(fake), ones)
    # adversarial_weight * dL_adv/dfake: D's verdict, per pixel (the weight enters as dL_G/dL_adv)
    grad_fake_adversarial = discriminator.backward(bce.backward(adversarial_weight))
    add_into(grad_fake, grad_fake_adversarial)  # grad_fake += ..., on the host or the GPU
    losses.update(content_loss=content_loss, adversarial_loss=adversarial_loss,
                  loss=content_loss + adversarial_weight * adversarial_loss)
    if not math.isfinite(losses["loss"]):
        if on_update is not None:
            on_update(False)
        raise GANStepDiverged(f"the generator's loss became {losses['loss']}", losses)
    generator.backward(grad_fake)
    generator_optimizer.step()
    if on_update is not None:
        on_update(False)
    return losses
