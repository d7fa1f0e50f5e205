"""The layers of ``tinysr.nn``: gradients of whole layers and small networks, and the Module protocol.

The ops under each layer have their own tests (``test_ops_*.py``); here we check what the layer
adds: parameters receive their gradients (accumulated, never assigned), shapes and errors name the
layer, train/eval, state_dict, dtype conversion and PyTorch's initialisation.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr import nn
from tinysr.gradcheck import gradcheck

# -- gradients of every layer, float64, against finite differences ---------------------------

@st.composite
def conv_layers(draw):
    c_in, c_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = draw(st.integers(0, 2) | st.tuples(st.integers(0, 2), st.integers(0, 2)))
    ph, pw = padding if isinstance(padding, tuple) else (padding, padding)
    h, w = draw(st.integers(max(1, kh - 2 * ph), 7)), draw(st.integers(max(1, kw - 2 * pw), 7))
    layer = nn.Conv2d(c_in, c_out, (kh, kw), stride, padding, bias=draw(st.booleans()),
                      dtype=np.float64, rng=draw(seeds))
    return layer, (draw(st.integers(1, 3)), c_in, h, w)


@given(conv_layers(), seeds)
def test_conv2d_gradients(case, seed):
    layer, shape = case
    gradcheck(layer, random_array(seed, shape), seed=seed)


@st.composite
def elementwise_layers(draw):
    channels = draw(st.integers(1, 4))
    choice = draw(st.sampled_from(["relu", "leaky", "prelu1", "preluC", "sigmoid", "tanh"]))
    slope = draw(st.floats(-2.0, 2.0, allow_nan=False))
    layer = {
        "relu": lambda: nn.ReLU(),
        "leaky": lambda: nn.LeakyReLU(slope),
        "prelu1": lambda: nn.PReLU(1, init=slope, dtype=np.float64),
        "preluC": lambda: nn.PReLU(channels, init=slope, dtype=np.float64),
        "sigmoid": lambda: nn.Sigmoid(),
        "tanh": lambda: nn.Tanh(),
    }[choice]()
    return layer, (draw(st.integers(1, 3)), channels, draw(st.integers(1, 4)), draw(st.integers(1, 4)))


@given(elementwise_layers(), seeds)
def test_activation_gradients(case, seed):
    layer, shape = case
    # |x| >= 0.05: finite differences with eps 1e-6 never straddle the kink at 0
    gradcheck(layer, random_array(seed, shape, low=-2, high=2, away_from_zero=0.05), seed=seed)


@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.booleans(),
       st.floats(0.0, 1.0), seeds)
def test_batchnorm_gradients(channels, n, h, w, training, momentum, seed):
    if training and n * h * w == 1:
        n = 2  # training mode needs more than one value per channel
    layer = nn.BatchNorm2d(channels, momentum=momentum, dtype=np.float64).train(training)
    rng = np.random.default_rng(seed)
    layer.weight.data[:] = rng.uniform(0.5, 1.5, channels)
    layer.bias.data[:] = rng.uniform(-1, 1, channels)
    layer.running_var[:] = rng.uniform(0.5, 2.0, channels)
    gradcheck(layer, random_array(seed, (n, channels, h, w), low=-3, high=3), seed=seed)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), seeds)
def test_pixel_shuffle_layer_gradients(r, c, h, w, seed):
    gradcheck(nn.PixelShuffle(r), random_array(seed, (2, c * r * r, h, w)), seed=seed)
    gradcheck(nn.PixelUnshuffle(r), random_array(seed, (2, c, h * r, w * r)), seed=seed)


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.booleans(), seeds)
def test_linear_and_flatten_gradients(in_features, out_features, n, bias, seed):
    layer = nn.Linear(in_features, out_features, bias=bias, dtype=np.float64, rng=seed)
    gradcheck(layer, random_array(seed, (n, in_features)), seed=seed)
    gradcheck(nn.Flatten(), random_array(seed, (n, 2, 3, in_features)), seed=seed)


def residual_block(features: int, rng) -> nn.Residual:
    """The SRResNet residual block: conv, BN, PReLU, conv, BN, plus the skip."""
    return nn.Residual(nn.Sequential(
        nn.Conv2d(features, features, 3, padding=1, rng=rng),
        nn.BatchNorm2d(features),
        nn.PReLU(),
        nn.Conv2d(features, features, 3, padding=1, rng=rng),
        nn.BatchNorm2d(features),
    ))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_residual_block_gradients(training):
    block = residual_block(4, np.random.default_rng(0)).astype(np.float64).train(training)
    x = random_array(1, (2, 4, 5, 6), away_from_zero=0.01)
    report = gradcheck(block, x, seed=0)
    assert report.max_error <= 1e-6


def test_small_sr_network_gradients():
    rng = np.random.default_rng(0)
    network = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.PReLU(4), nn.Conv2d(4, 8, 3, padding=1, rng=rng),
        nn.LeakyReLU(0.2), nn.PixelShuffle(2), nn.Conv2d(2, 1, 3, stride=2, rng=rng), nn.Tanh(),
        nn.Flatten(), nn.Linear(4, 1, rng=rng), nn.Sigmoid(),
    ).astype(np.float64)
    gradcheck(network, random_array(3, (2, 1, 3, 3)), seed=3)


# -- the Module protocol -------------------------------------------------------------------

def test_backward_accumulates_into_grad_and_never_changes_data():
    layer = nn.Conv2d(2, 3, 3, rng=0)
    x = random_array(0, (2, 2, 5, 5)).astype(np.float32)
    g = random_array(1, (2, 3, 3, 3)).astype(np.float32)
    weight_before = layer.weight.data.copy()
    layer.forward(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)
    np.testing.assert_array_equal(layer.weight.data, weight_before)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


@pytest.mark.parametrize("layer", [nn.Conv2d(1, 1, 1), nn.ReLU(), nn.LeakyReLU(), nn.PReLU(), nn.Sigmoid(),
                                   nn.Tanh(), nn.BatchNorm2d(1), nn.PixelShuffle(1), nn.PixelUnshuffle(1),
                                   nn.Linear(1, 1), nn.Flatten(), nn.Residual(nn.ReLU())],
                         ids=lambda m: type(m).__name__)
def test_backward_before_forward_is_a_clear_error(layer):
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 1, 1, 1), dtype=np.float32))


def test_named_parameters_follow_pytorch_names():
    network = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.PReLU(), nn.Flatten(), nn.Linear(2, 1))
    assert [name for name, _ in network.named_parameters()] == [
        "0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "4.weight", "4.bias"]
    assert sorted(network.state_dict()) == sorted(
        ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
         "2.weight", "4.weight", "4.bias"])


def test_state_dict_round_trip_and_mismatch_errors():
    a = residual_block(3, np.random.default_rng(1))
    b = residual_block(3, np.random.default_rng(2))
    a.body[1].running_mean[:] = 0.5
    b.load_state_dict(a.state_dict())
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[key], value)
    state = a.state_dict()
    state["body.0.weight"] = state["body.0.weight"][:, :2]
    with pytest.raises(ValueError, match=r"body\.0\.weight.*\(3, 3, 3, 3\).*\(3, 2, 3, 3\)"):
        b.load_state_dict(state)
    with pytest.raises(KeyError, match="missing keys"):
        b.load_state_dict({})
    # state_dict returns copies: changing them leaves the layer alone
    a.state_dict()["body.0.weight"][...] = 0
    assert a.body[0].weight.data.any()


def test_train_eval_switches_every_batchnorm():
    block = residual_block(2, np.random.default_rng(0))
    assert all(m.training for m in block.modules())
    block.eval()
    assert not any(m.training for m in block.modules())
    x = random_array(0, (2, 2, 4, 4)).astype(np.float32)
    before = copy.deepcopy(block.state_dict())
    first = block.forward(x)
    np.testing.assert_array_equal(block.forward(x), first)  # inference is deterministic
    for key, value in block.state_dict().items():
        np.testing.assert_array_equal(value, before[key])  # eval never touches running stats
    block.train()
    block.forward(x)
    assert not np.array_equal(block.body[1].running_mean, before["body.1.running_mean"])


def test_astype_keeps_parameter_objects_and_converts_buffers():
    network = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    params = network.parameters()
    network.astype(np.float64)
    assert all(p is q for p, q in zip(params, network.parameters()))
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in params)
    assert network[1].running_var.dtype == np.float64
    with pytest.raises(TypeError, match="float32 or float64"):
        network.astype(np.int32)


def test_default_initialisation_is_pytorch_kaiming_uniform_and_seeded():
    layer = nn.Conv2d(16, 32, 3, rng=0)
    bound = 1 / np.sqrt(16 * 3 * 3)
    assert layer.weight.data.dtype == np.float32
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.weight.data).max() > 0.95 * bound
    assert np.abs(layer.bias.data).max() <= bound
    # a uniform distribution on [-b, b] has standard deviation b / sqrt(3)
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.05 * bound
    np.testing.assert_array_equal(nn.Conv2d(16, 32, 3, rng=0).weight.data, layer.weight.data)
    nn.manual_seed(5)
    first = nn.Linear(4, 4).weight.data
    nn.manual_seed(5)
    np.testing.assert_array_equal(nn.Linear(4, 4).weight.data, first)


def test_prelu_and_batchnorm_defaults_match_pytorch():
    assert nn.PReLU().weight.data.tolist() == [0.25]
    assert nn.PReLU(3, init=0.1).weight.shape == (3,)
    bn = nn.BatchNorm2d(3)
    assert (bn.eps, bn.momentum) == (1e-5, 0.1)
    assert bn.weight.data.tolist() == [1, 1, 1] and bn.bias.data.tolist() == [0, 0, 0]
    assert bn.running_mean.tolist() == [0, 0, 0] and bn.running_var.tolist() == [1, 1, 1]
    assert nn.LeakyReLU().negative_slope == 0.01


# -- errors name the layer, what it expected and what it got --------------------------------

def test_layer_errors_name_the_layer_and_the_shapes():
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*expected input with 4 dimensions.*got 3"):
        conv.forward(np.zeros((3, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*3 channels.*\(1, 4, 5, 5\)"):
        conv.forward(np.zeros((1, 4, 5, 5), dtype=np.float32))
    with pytest.raises(TypeError, match=r"Conv2d.*float32 or float64.*int64"):
        conv.forward(np.zeros((1, 3, 5, 5), dtype=np.int64))
    with pytest.raises(TypeError, match=r"Conv2d.*float64.*astype"):
        conv.forward(np.zeros((1, 3, 5, 5), dtype=np.float64))
    with pytest.raises(ValueError, match=r"Linear.*5 features.*\(2, 4\)"):
        nn.Linear(5, 2).forward(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(2.*\(1, 3, 2, 2\)"):
        nn.BatchNorm2d(2).forward(np.zeros((1, 3, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"PReLU.*3 channels"):
        nn.PReLU(3).forward(np.zeros((1, 2, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Conv2d.*stride >= 1"):
        nn.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match=r"Conv2d.*padding >= 0"):
        nn.Conv2d(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match=r"Residual.*shape"):
        nn.Residual(nn.Conv2d(1, 1, 3)).forward(np.zeros((1, 1, 5, 5), dtype=np.float32))


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, (2, 5), (3, 4)])
def test_same_and_valid_padding_match_pytorch_semantics(kernel_size):
    layer = nn.Conv2d(2, 3, kernel_size, padding="same", dtype=np.float64, rng=0)
    x = random_array(0, (2, 2, 6, 7))
    assert layer.forward(x).shape == (2, 3, 6, 7)
    report = gradcheck(layer, x, seed=0)
    assert report.passed
    # "same" with an even kernel pads one more zero at the bottom/right: the same as padding the input by hand
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    by_hand = nn.Conv2d(2, 3, kernel_size, dtype=np.float64, rng=0)
    padded = np.pad(x, ((0, 0), (0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
    np.testing.assert_allclose(layer.forward(x), by_hand.forward(padded), rtol=1e-12)
    assert nn.Conv2d(2, 3, kernel_size, padding="valid").padding == (0, 0)


def test_same_padding_errors():
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'valid' or 'same', got 'full'"):
        nn.Conv2d(1, 1, 3, padding="full")


def test_pytorch_style_arguments_are_accepted():
    assert nn.ReLU(inplace=True).inplace and nn.LeakyReLU(0.2, inplace=True).negative_slope == 0.2
    network = nn.Sequential(nn.ReLU(), nn.Tanh())
    assert [type(m).__name__ for m in network] == ["ReLU", "Tanh"]
    assert [name for name, _ in network.named_children()] == ["0", "1"]


def test_inplace_relu_overwrites_its_input_and_backpropagates_like_relu():
    x = random_array(0, (2, 3, 4, 5)).astype(np.float32)
    grad_output = random_array(1, x.shape).astype(np.float32)
    plain, inplace = nn.ReLU(), nn.ReLU(inplace=True)
    expected = plain.forward(x)
    target = x.copy()
    out = inplace.forward(target)
    assert out is target and not np.shares_memory(expected, x)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(inplace.backward(grad_output), plain.backward(grad_output))


def test_inplace_leaky_relu_keeps_its_input():
    """LeakyReLU's backward pass needs the input's sign, which a negative slope's output does not keep."""
    x = random_array(0, (2, 3)).astype(np.float32)
    saved = x.copy()
    out = nn.LeakyReLU(-0.5, inplace=True).forward(x)
    np.testing.assert_array_equal(x, saved)
    assert not np.shares_memory(out, x)


def test_num_batches_tracked_counts_training_steps_only():
    bn = nn.BatchNorm2d(2)
    x = random_array(0, (2, 2, 3, 3)).astype(np.float32)
    bn.forward(x)
    bn.forward(x)
    bn.eval().forward(x)
    assert bn.num_batches_tracked == 2 and bn.state_dict()["num_batches_tracked"].dtype == np.int64
    bn.astype(np.float64)
    assert bn.num_batches_tracked.dtype == np.int64 and bn.running_mean.dtype == np.float64
