"""SRGAN's two networks, SRResNet (the generator) and the Discriminator, and one ``srgan_step``.

* parameter counts from the layer list (and against the same networks in PyTorch when installed);
* every gradient against finite differences in float64 on tiny networks: the generator, the
  discriminator, and the generator's adversarial loss ``BCE(D(G(x)), 1)`` whose gradient goes back
  through ``D.backward`` into ``G.backward`` (``tests/test_reference.py`` holds the same path
  against PyTorch's numbers); ``srgan_step`` hands each network the gradient of its own loss;
* BatchNorm: running statistics move in training mode only, eval mode is per image and repeatable;
* ICNR: no checkerboard at initialisation;
* a short GAN run on a toy problem: D learns first, then G lowers its adversarial loss;
* weight files of both networks, and bad input.
"""

from __future__ import annotations

import copy
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from tinysr.checkpoint import load_weights, save_weights
from tinysr.gan import srgan_step
from tinysr.gradcheck import gradcheck
from tinysr.losses import BCEWithLogitsLoss, MSELoss
from tinysr.models import Discriminator, SRResNet, build_model
from tinysr.models.srresnet import icnr_
from tinysr.nn import BatchNorm2d, Conv2d, Module, PixelShuffle, PReLU
from tinysr.optim import SGD, Adam

MAX_CHECKS = 24  # elements checked per tensor by gradcheck (all of them in tensors this small or smaller)


# --------------------------------------------------------------------------- parameter counts


def conv_parameters(c_in: int, c_out: int, k: int) -> int:
    return c_out * c_in * k * k + c_out  # weight + bias


def batchnorm_parameters(c: int) -> int:
    return 2 * c  # gamma and beta; the running statistics are buffers, not parameters


PRELU = 1  # one slope shared by all channels, PyTorch's default


def srresnet_parameters(scale: int, num_blocks: int, f: int) -> int:
    """Ledig et al.'s generator, layer by layer (see the docstring of ``tinysr.models.srresnet``)."""
    head = conv_parameters(3, f, 9) + PRELU
    block = 2 * conv_parameters(f, f, 3) + 2 * batchnorm_parameters(f) + PRELU
    trunk = conv_parameters(f, f, 3) + batchnorm_parameters(f)
    upsample = round(math.log2(scale)) * (conv_parameters(f, 4 * f, 3) + PRELU)
    tail = conv_parameters(f, 3, 9)
    return head + num_blocks * block + trunk + upsample + tail


def discriminator_parameters(hr_size: int, f: int) -> int:
    """Eight 3x3 convs, BN after all but the first, then Linear(1024) and Linear(1)."""
    widths = [f, f, 2 * f, 2 * f, 4 * f, 4 * f, 8 * f, 8 * f]
    convs = sum(conv_parameters(c_in, c_out, 3) for c_in, c_out in zip([3, *widths], widths))
    norms = sum(batchnorm_parameters(c) for c in widths[1:])
    flat = widths[-1] * (hr_size // 16) ** 2  # four stride-2 convs halve the side four times
    return convs + norms + (flat * 1024 + 1024) + (1024 + 1)


@pytest.fixture(scope="module")
def default_networks():
    """The paper's SRResNet x4 and Discriminator(96), built once (the discriminator has 23.6 M parameters)."""
    return SRResNet(rng=0), Discriminator(rng=0)


def test_default_networks_have_the_papers_parameter_counts(default_networks):
    generator, discriminator = default_networks
    assert generator.num_parameters() == srresnet_parameters(4, 16, 64) == 1_549_462  # the figure
    assert discriminator.num_parameters() == discriminator_parameters(96, 64)


@pytest.mark.parametrize(("scale", "num_blocks", "num_features"), [(2, 3, 16), (8, 1, 8)])
def test_other_generator_sizes_follow_the_layer_list(scale, num_blocks, num_features):
    model = SRResNet(scale, num_blocks, num_features, rng=0)
    assert model.num_parameters() == srresnet_parameters(scale, num_blocks, num_features)
    x = np.random.default_rng(0).random((1, 3, 5, 6), dtype=np.float32)
    assert model.forward(x).shape == (1, 3, 5 * scale, 6 * scale)


@pytest.mark.parametrize(("hr_size", "num_features"), [(32, 8), (48, 2)])
def test_other_discriminator_sizes_follow_the_layer_list(hr_size, num_features):
    model = Discriminator(hr_size, num_features, rng=0)
    assert model.num_parameters() == discriminator_parameters(hr_size, num_features)
    x = np.random.default_rng(0).random((2, 3, hr_size, hr_size), dtype=np.float32)
    assert model.forward(x).shape == (2, 1)


def _torch_networks():
    """``tests/reference/torch_srgan.py``, the same networks in PyTorch (skips when torch is missing)."""
    pytest.importorskip("torch", reason="torch is not installed: the comparison with PyTorch's networks is skipped")
    path = Path(__file__).parent / "reference" / "torch_srgan.py"
    spec = importlib.util.spec_from_file_location("torch_srgan", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_networks_match_pytorch_name_for_name(default_networks):
    torch_srgan = _torch_networks()
    for ours, theirs in zip(default_networks, (torch_srgan.TorchSRResNet(), torch_srgan.TorchDiscriminator())):
        assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
        # same names in the same order, same shapes: a state dict moves between the two libraries
        assert [(n, p.shape) for n, p in ours.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in theirs.named_parameters()]
        assert sorted((n, np.shape(b)) for n, b in ours.named_buffers()) == sorted(
            (n, tuple(b.shape)) for n, b in theirs.named_buffers())


# --------------------------------------------------------------------------- gradients


def tiny_generator(scale: int = 2, num_blocks: int = 2, *, seed: int = 0, dtype=np.float64) -> SRResNet:
    return _off_initial_values(SRResNet(scale, num_blocks, 8, dtype=dtype, rng=seed), seed)


def tiny_discriminator(*, seed: int = 1, dtype=np.float64) -> Discriminator:
    return _off_initial_values(Discriminator(16, 4, dtype=dtype, rng=seed), seed)


def _off_initial_values(model: Module, seed: int) -> Module:
    """Move every parameter off its initial value (gamma = 1, beta = 0, slope 0.25, ICNR's copies).

    At the initial values some wrong backward passes give right answers: with gamma = 1 a
    batch-norm backward that forgets gamma, with ICNR's equal kernels one that mixes up the
    sub-pixel channels. Convolution weights are scaled by U(0.5, 1.5) per element.
    """
    rng = np.random.default_rng([seed, 99])
    for module in model.modules():
        if isinstance(module, BatchNorm2d):
            module.weight.data[...] = rng.uniform(0.5, 1.5, module.weight.shape)
            module.bias.data[...] = rng.uniform(-0.2, 0.2, module.bias.shape)
        elif isinstance(module, PReLU):
            module.weight.data[...] = rng.uniform(0.05, 0.5, module.weight.shape)
        elif isinstance(module, Conv2d):
            module.weight.data *= rng.uniform(0.5, 1.5, module.weight.shape)
    return model


def _checked_everything(report, model: Module) -> None:
    """gradcheck looked at the input and at every parameter tensor of ``model``."""
    names = [t.name for t in report.tensors]
    assert names == ["input 0", *(name for name, _ in model.named_parameters())]
    assert report.passed


@pytest.mark.parametrize(("scale", "num_blocks"), [(2, 2), (4, 1)])
def test_generator_gradients_match_finite_differences(scale, num_blocks):
    # training mode: BatchNorm uses the batch's statistics, so each image's output depends on the
    # other image; finite differences of the whole function include that, and backward must too
    generator = tiny_generator(scale, num_blocks)
    x = np.random.default_rng(2).uniform(0.0, 1.0, (2, 3, 8, 8))
    _checked_everything(gradcheck(generator, x, max_checks_per_tensor=MAX_CHECKS, seed=3), generator)


def test_discriminator_gradients_match_finite_differences():
    discriminator = tiny_discriminator()
    # batch 4: BatchNorm after the last conv (1x1 there) normalises 4 values per channel
    x = np.random.default_rng(4).uniform(0.0, 1.0, (4, 3, 16, 16))
    _checked_everything(gradcheck(discriminator, x, max_checks_per_tensor=MAX_CHECKS, seed=5), discriminator)


class GeneratorLoss(Module):
    """``x -> content_weight * MSE(G(x), target) + adversarial_weight * BCEWithLogits(D(G(x)), 1)``, a scalar.

    The generator's loss in SRGAN written as one module, so that gradcheck can nudge ``x`` and the
    parameters of both networks. Its backward is the path of the issue: dL/dG(x) comes out of
    ``D.backward`` (plus the content term) and goes into ``G.backward``.
    """

    def __init__(self, generator, discriminator, target=None, *, content_weight=0.0, adversarial_weight=1.0):
        self.generator, self.discriminator = generator, discriminator
        self.target, self.content_weight, self.adversarial_weight = target, content_weight, adversarial_weight
        self.adversarial, self.content = BCEWithLogitsLoss(), MSELoss()

    def forward(self, x):
        fake = self.generator.forward(x)
        logits = self.discriminator.forward(fake)
        loss = self.adversarial_weight * self.adversarial.forward(logits, np.ones_like(logits))
        if self.content_weight:
            loss += self.content_weight * self.content.forward(fake, self.target)
        return np.asarray(loss)

    def backward(self, grad_output=1.0):
        grad_loss = float(grad_output)
        grad_fake = self.discriminator.backward(self.adversarial.backward(grad_loss * self.adversarial_weight))
        if self.content_weight:
            grad_fake += self.content.backward(grad_loss * self.content_weight)
        return self.generator.backward(grad_fake)


def test_adversarial_gradient_flows_through_the_discriminator_into_the_generator():
    loss = GeneratorLoss(tiny_generator(), tiny_discriminator())
    x = np.random.default_rng(6).uniform(0.0, 1.0, (4, 3, 8, 8))
    # D's own gradients were checked above: fewer elements per tensor here keep the test quick
    report = gradcheck(loss, x, max_checks_per_tensor=MAX_CHECKS // 2, seed=7)
    _checked_everything(report, loss)
    # the check is not vacuous: the generator's first layer gets a gradient through D
    head = next(t for t in report.tensors if t.name == "generator.head.0.weight")
    assert abs(head.worst_numeric) > 1e-6


class RecordingOptimizer:
    """An optimizer that changes nothing: ``step`` records copies of the gradients it was handed."""

    def __init__(self, params):
        self.params, self.recorded = list(params), None

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        self.recorded = [p.grad.copy() for p in self.params]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_srgan_step_hands_each_network_the_gradient_of_its_own_loss():
    """D's step descends BCE(D(hr), 1) + BCE(D(G(lr)), 0); G's then descends its loss through the *updated* D."""
    generator, discriminator = tiny_generator(), tiny_discriminator()
    rng = np.random.default_rng(8)
    lr, hr = rng.uniform(0.0, 1.0, (4, 3, 8, 8)), rng.uniform(0.0, 1.0, (4, 3, 16, 16))
    generator_before, discriminator_before = copy.deepcopy(generator), copy.deepcopy(discriminator)
    for p in generator.parameters() + discriminator.parameters():  # stale gradients: each step must clear them
        p.grad[...] = rng.standard_normal(p.shape)
    weight, learning_rate = 0.3, 0.05
    record = RecordingOptimizer(generator.parameters())
    losses = srgan_step(generator, discriminator, record, SGD(discriminator.parameters(), lr=learning_rate),
                        lr, hr, adversarial_weight=weight)

    # the discriminator's loss and its gradient, from two separate passes (real, then fake)
    bce = BCEWithLogitsLoss()
    fake = copy.deepcopy(generator_before).forward(lr)
    expected_d = copy.deepcopy(discriminator_before)
    real_logits = expected_d.forward(hr)
    loss_real = bce.forward(real_logits, np.ones_like(real_logits))
    expected_d.backward(bce.backward())
    fake_logits = expected_d.forward(fake)
    loss_fake = bce.forward(fake_logits, np.zeros_like(fake_logits))
    expected_d.backward(bce.backward())
    np.testing.assert_allclose(losses["d_loss"], loss_real + loss_fake, rtol=1e-12)
    np.testing.assert_allclose(losses["d_real"], np.mean(_sigmoid(real_logits)), rtol=1e-12)
    np.testing.assert_allclose(losses["d_fake"], np.mean(_sigmoid(fake_logits)), rtol=1e-12)
    # plain SGD: the step taken is -lr * gradient
    for (name, before), after, (_, expected) in zip(discriminator_before.named_parameters(),
                                                   discriminator.parameters(), expected_d.named_parameters()):
        np.testing.assert_allclose((before.data - after.data) / learning_rate, expected.grad, rtol=1e-7,
                                   atol=1e-10, err_msg=name)

    # the generator's loss and gradient, through the discriminator as it is after its step
    expected_g = GeneratorLoss(copy.deepcopy(generator_before), copy.deepcopy(discriminator), hr,
                               content_weight=1.0, adversarial_weight=weight)
    total = float(expected_g.forward(lr))
    expected_g.backward(1.0)
    np.testing.assert_allclose(losses["loss"], total, rtol=1e-12)
    np.testing.assert_allclose(losses["content_loss"], MSELoss().forward(fake, hr), rtol=1e-12)
    np.testing.assert_allclose(losses["loss"], losses["content_loss"] + weight * losses["adversarial_loss"],
                               rtol=1e-12)
    assert record.recorded is not None
    for (name, p), recorded in zip(expected_g.generator.named_parameters(), record.recorded):
        np.testing.assert_allclose(recorded, p.grad, rtol=1e-10, atol=1e-14, err_msg=name)
    # the generator was not touched by anything but its (recording) optimizer
    for (name, before), after in zip(generator_before.named_parameters(), generator.parameters()):
        np.testing.assert_array_equal(before.data, after.data, err_msg=name)


# --------------------------------------------------------------------------- training / eval mode


@pytest.mark.parametrize("which", ["generator", "discriminator"])
def test_batchnorm_statistics_move_in_training_only_and_eval_is_per_image(which):
    rng = np.random.default_rng(9)
    if which == "generator":
        model, x = tiny_generator(dtype=np.float32), rng.uniform(0.0, 1.0, (3, 3, 8, 8)).astype(np.float32)
    else:
        model, x = tiny_discriminator(dtype=np.float32), rng.uniform(0.0, 1.0, (3, 3, 16, 16)).astype(np.float32)
    initial = model.state_dict()
    buffers = [name for name, _ in model.named_buffers()]
    assert len(buffers) == 3 * sum(isinstance(m, BatchNorm2d) for m in model.modules()) > 0

    train_out = model.train().forward(x)
    trained = model.state_dict()
    for name in buffers:  # every running mean and variance moved, every counter went up by one
        if name.endswith("num_batches_tracked"):
            assert trained[name] == initial[name] + 1, name
        else:
            assert not np.allclose(trained[name], initial[name]), name
    # in training mode an image's output depends on the others in its batch (batch statistics)
    assert not np.allclose(model.forward(x[:2]), train_out[:2], rtol=1e-3, atol=1e-4)

    model.eval()
    after_train = model.state_dict()
    first, second = model.forward(x), model.forward(x)
    for name, value in model.state_dict().items():  # eval mode changes nothing
        np.testing.assert_array_equal(value, after_train[name], err_msg=name)
    np.testing.assert_array_equal(first, second)
    one_by_one = np.concatenate([model.forward(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(one_by_one, first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.forward(x[::-1].copy()), first[::-1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(first, train_out, rtol=1e-3, atol=1e-4)  # running statistics, not the batch's


# --------------------------------------------------------------------------- ICNR


def _blocks_are_constant(image: np.ndarray, r: int) -> bool:
    """Is ``image (N, C, r*h, r*w)`` constant over each r x r block?"""
    n, c, height, width = image.shape
    blocks = image.reshape(n, c, height // r, r, width // r, r)
    return np.allclose(blocks, blocks[:, :, :, :1, :, :1], rtol=1e-6, atol=1e-7)


def test_icnr_upsampling_has_no_checkerboard_at_initialisation():
    features = np.random.default_rng(10).standard_normal((2, 8, 6, 5)).astype(np.float32)
    model = SRResNet(scale=4, num_blocks=1, num_features=8, rng=0)
    subpixel_convs = [m for m in model.upsample if isinstance(m, Conv2d)]
    assert len(subpixel_convs) == 2
    for conv in subpixel_convs:  # each sub-pixel conv + PixelShuffle(2): a nearest-neighbour enlargement
        assert _blocks_are_constant(PixelShuffle(2).forward(conv.forward(features)), 2)
    # the whole upsampling path (conv, shuffle, PReLU, conv, shuffle, PReLU) too, at the final resolution
    out = model.upsample.forward(features)
    assert out.shape == (2, 8, 24, 20) and _blocks_are_constant(out, 2)
    # random sub-pixel kernels give each of the four positions its own response: the checkerboard
    plain = SRResNet(scale=4, num_blocks=1, num_features=8, icnr=False, rng=0)
    assert not _blocks_are_constant(plain.upsample.forward(features), 2)


@pytest.mark.parametrize("r", [2, 3])
def test_icnr_groups_are_the_channels_pixel_shuffle_puts_in_one_block(r):
    conv = Conv2d(3, 2 * r * r, 3, padding=1, rng=0)
    assert icnr_(conv, r) is conv
    weight, bias = conv.weight.data.reshape(2, r * r, 3, 3, 3), conv.bias.data.reshape(2, r * r)
    assert np.all(weight == weight[:, :1]) and np.all(bias == bias[:, :1])
    assert not np.allclose(weight[0, 0], weight[1, 0])  # the two output channels keep their own kernels
    x = np.random.default_rng(11).standard_normal((1, 3, 4, 5)).astype(np.float32)
    assert _blocks_are_constant(PixelShuffle(r).forward(conv.forward(x)), r)


@pytest.mark.parametrize(("out_channels", "r"), [(6, 2), (8, 3)])
def test_icnr_rejects_a_conv_whose_channels_pixel_shuffle_cannot_group(out_channels, r):
    with pytest.raises(ValueError, match=rf"{out_channels} output channels is not a multiple of r\*r = {r * r}"):
        icnr_(Conv2d(4, out_channels, 3, rng=0), r)


# --------------------------------------------------------------------------- a short GAN run


def toy_pairs(rng: np.random.Generator, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Real 16x16 HR crops: a flat colour plus a fine checkerboard (random phase); LR = 2x2 means.

    Averaging 2x2 blocks cancels the checkerboard exactly, so the LR crop is the flat colour and
    holds no trace of it: whatever the generator makes of a flat input, it is not that texture at
    first, and a discriminator can learn to tell the two apart.
    """
    colour = rng.uniform(0.3, 0.7, (n, 3, 1, 1))
    rows, cols = np.mgrid[:16, :16]
    phase = rng.integers(0, 2, (n, 1, 1, 1))
    hr = (colour + 0.15 * (2.0 * ((rows + cols + phase) % 2) - 1.0)).astype(np.float32)
    lr = hr.reshape(n, 3, 8, 2, 8, 2).mean(axis=(3, 5))
    return lr, hr


def test_short_gan_run_discriminator_learns_then_generator_fools_it_more():
    """Phase 1 (60 steps): G frozen (lr 0), D learns. Phase 2 (100 steps): G learns (lr 1e-3), D slower (1e-4).

    srgan_step does both steps in both phases; only the learning rates change. Assertions are on
    10-step means: D's loss falls and it rates real above fake; then G's adversarial loss falls and
    D's belief in the fakes rises. No loss or weight becomes NaN.
    """
    generator = SRResNet(scale=2, num_blocks=1, num_features=8, rng=20)
    discriminator = Discriminator(16, 4, rng=21)
    g_optimizer, d_optimizer = Adam(generator.parameters(), lr=0.0), Adam(discriminator.parameters(), lr=1e-3)
    rng = np.random.default_rng(22)
    phase1, phase2, window = 60, 100, 10
    history = []
    for step in range(phase1 + phase2):
        if step == phase1:
            g_optimizer.lr, d_optimizer.lr = 1e-3, 1e-4
        lr, hr = toy_pairs(rng)
        losses = srgan_step(generator, discriminator, g_optimizer, d_optimizer, lr, hr, adversarial_weight=0.1)
        history.append(losses)

    def mean(key, start, stop):
        values = [h[key] for h in history[start:stop]]
        assert np.all(np.isfinite(values)), key
        return float(np.mean(values))

    d_loss_start, d_loss_learned = mean("d_loss", 0, window), mean("d_loss", phase1 - window, phase1)
    assert d_loss_learned < 0.25 * d_loss_start  # about 1.2 (chance: 2 log 2 = 1.39) -> below 0.1
    assert mean("d_real", phase1 - window, phase1) - mean("d_fake", phase1 - window, phase1) > 0.5
    adversarial_peak, adversarial_end = mean("adversarial_loss", phase1 - window, phase1), mean(
        "adversarial_loss", -window, None)
    assert adversarial_end < 0.5 * adversarial_peak  # about 4.5 -> about 1
    assert mean("d_fake", -window, None) > mean("d_fake", phase1 - window, phase1) + 0.2
    assert mean("content_loss", -window, None) < mean("content_loss", 0, window)
    for p in generator.parameters() + discriminator.parameters():
        assert np.all(np.isfinite(p.data))


# --------------------------------------------------------------------------- weight files


@pytest.mark.parametrize("which", ["generator", "discriminator"])
def test_weights_round_trip(tmp_path, which):
    rng = np.random.default_rng(12)
    if which == "generator":
        model, x = tiny_generator(dtype=np.float32), rng.uniform(0.0, 1.0, (2, 3, 8, 8)).astype(np.float32)
    else:
        model, x = tiny_discriminator(dtype=np.float32), rng.uniform(0.0, 1.0, (2, 3, 16, 16)).astype(np.float32)
    model.forward(x)  # training mode: running statistics away from their initial 0 and 1
    path = tmp_path / f"{which}.npz"
    save_weights(path, model, scale=2, extra={"note": "round trip"})

    loaded, meta = load_weights(path, expected_model=model.config["name"], expected_scale=2)
    assert type(loaded) is type(model) and loaded.config == model.config and meta["note"] == "round trip"
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert sorted(loaded_state) == sorted(state)
    for name, value in state.items():
        assert loaded_state[name].dtype == value.dtype, name
        np.testing.assert_array_equal(loaded_state[name], value, err_msg=name)
    np.testing.assert_array_equal(loaded.eval().forward(x), model.eval().forward(x))

    rebuilt = build_model(dict(model.config))  # the config alone rebuilds the same architecture
    rebuilt.load_state_dict(state)
    np.testing.assert_array_equal(rebuilt.eval().forward(x), model.forward(x))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SRResNet(scale=3), "SRResNet: expected scale 2, 4 or 8, got 3"),
    (lambda: SRResNet(scale=True), "expected scale 2, 4 or 8, got True"),
    (lambda: SRResNet(num_blocks=0), "expected num_blocks to be a positive int, got 0"),
    (lambda: SRResNet(num_features=2.5), "expected num_features to be a positive int, got 2.5"),
    (lambda: Discriminator(hr_size=90), "Discriminator: expected hr_size to be a multiple of 16.*got 90"),
    (lambda: Discriminator(hr_size=0), "expected hr_size to be a positive int, got 0"),
    (lambda: Discriminator(num_features=-1), "expected num_features to be a positive int, got -1"),
])
def test_bad_settings_are_explained(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def re_shape(shape: tuple[int, ...]) -> str:
    return r"\(" + ", ".join(str(s) for s in shape) + r"\)"


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (3, 16, 16), (2, 1, 16, 16), (2, 3, 16, 15)])
def test_discriminator_names_the_shape_it_expects(shape):
    discriminator = Discriminator(16, 2, rng=0)
    expected = rf"Discriminator: expected input \(N, 3, 16, 16\), got shape {re_shape(shape)}"
    with pytest.raises(ValueError, match=expected):
        discriminator.forward(np.zeros(shape, dtype=np.float32))


def test_generator_names_the_channels_it_expects():
    with pytest.raises(ValueError, match=r"expected input with 3 channels at axis 1, got shape \(2, 1, 8, 8\)"):
        SRResNet(scale=2, num_blocks=1, num_features=4, rng=0).forward(np.zeros((2, 1, 8, 8), dtype=np.float32))
