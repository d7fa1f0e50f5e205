"""The numba.cuda tier of every op against the CPU's Numba tier, and against finite differences.

Each op is called through its public function in ``tinysr/ops/NAME.py`` with device arrays, so
these tests also prove the dispatch. The CPU tier is held to the NumPy reference and to PyTorch
by the tests in ``tests/``; here the CUDA tier is held to the CPU tier, in float64 (to ~1e-10)
and float32 (to float32 precision), on hypothesis-drawn shapes and on shapes chosen to end just
before or after a block or a tile. The gradient checks run ``tinysr.gradcheck`` (float64 central
differences) on the CUDA kernels themselves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from cuda_helpers import DTYPES, assert_close, few_examples, gpu, host, on_gpu
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr.gradcheck import gradcheck
from tinysr.ops import activations, add, batchnorm, conv2d, conv_transpose2d, flatten, linear, pixel_shuffle, prelu
from tinysr.ops import losses as loss_ops


def _threads():
    from tinysr.ops.cuda._common import THREADS

    return THREADS


def _sizes_around_a_block():
    """Element counts just below, at and just above one and two blocks of threads."""
    t = _threads()
    return [1, t - 1, t, t + 1, 2 * t + 3]


# ----------------------------------------------------------------------------- conv2d


@st.composite
def conv_configs(draw, max_in_channels=6, max_size=7):
    """A valid convolution (as in tests/test_ops_conv2d.py): shapes, stride, padding, bias, seed."""
    n_images = draw(st.integers(1, 2))
    in_channels = draw(st.integers(1, max_in_channels))
    out_channels = draw(st.integers(1, 6))
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s_h, s_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    p_h, p_w = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    height = draw(st.integers(max(1, k_h - 2 * p_h), max_size))
    width = draw(st.integers(max(1, k_w - 2 * p_w), max_size))
    shapes = (n_images, in_channels, height, width), (out_channels, in_channels, k_h, k_w)
    return shapes, (s_h, s_w), (p_h, p_w), draw(st.booleans()), draw(seeds)


def _conv_arrays(config, dtype):
    (x_shape, w_shape), stride, padding, has_bias, seed = config
    x = random_array(seed, x_shape).astype(dtype)
    weight = random_array(seed + 1, w_shape).astype(dtype)
    bias = random_array(seed + 2, (w_shape[0],)).astype(dtype) if has_bias else None
    out, _ = conv2d.conv2d_forward(x, weight, bias, stride, padding)
    grad_output = random_array(seed + 3, out.shape).astype(dtype)
    return x, weight, bias, grad_output


def _conv_both(config, dtype):
    """(out, grad_input, grad_weight, grad_bias) from the CPU Numba tier and from the CUDA tier."""
    _, stride, padding, _, _ = config
    x, weight, bias, grad_output = _conv_arrays(config, dtype)
    out, cache = conv2d.conv2d_forward(x, weight, bias, stride, padding)
    want = (out, *conv2d.conv2d_backward(grad_output, cache))
    out_d, cache_d = conv2d.conv2d_forward(gpu(x), gpu(weight), gpu(bias), stride, padding)
    got = (out_d, *conv2d.conv2d_backward(gpu(grad_output), cache_d))
    return got, want


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@few_examples
@given(config=conv_configs())
def test_conv2d_matches_cpu(dtype, rtol, config):
    got, want = _conv_both(config, dtype)
    for name, g, w in zip(["out", "grad_input", "grad_weight", "grad_bias"], got, want):
        assert_close(g, w, rtol, name)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding", [
    ((1, 2, 3, 4), (2, 3, 3, 3), (1, 1), (0, 1), (0, 0)),
    ((2, 3, 2, 3), (3, 1, 5, 4), (3, 2), (2, 1), (2, 1)),   # FSRCNN-like: one output channel, stride 3
])
def test_conv_transpose2d_matches_cpu(dtype, rtol, x_shape, w_shape, stride, padding, output_padding):
    x = random_array(11, x_shape).astype(dtype)
    weight = random_array(12, w_shape).astype(dtype)
    bias = random_array(13, (w_shape[1],)).astype(dtype)
    out, cache = conv_transpose2d.conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding)
    grad_output = random_array(14, out.shape).astype(dtype)
    want = (out, *conv_transpose2d.conv_transpose2d_backward(grad_output, cache))
    out_d, cache_d = conv_transpose2d.conv_transpose2d_forward(gpu(x), gpu(weight), gpu(bias), stride, padding,
                                                               output_padding)
    got = (out_d, *conv_transpose2d.conv_transpose2d_backward(gpu(grad_output), cache_d))
    for name, g, w in zip(["out", "grad_input", "grad_weight", "grad_bias"], got, want):
        assert_close(g, w, rtol, name)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((1, 2, 5, 4), (3, 2, 3, 3), (1, 1), (1, 1)),
    ((2, 3, 6, 5), (2, 3, 2, 3), (2, 1), (0, 1)),     # few output channels: the narrow tiles
])
def test_conv2d_gradient_matches_finite_differences(x_shape, w_shape, stride, padding):
    x, weight, bias, _ = _conv_arrays(((x_shape, w_shape), stride, padding, True, 7), np.float64)
    op = on_gpu(lambda *a: conv2d.conv2d_forward(*a, stride=stride, padding=padding), conv2d.conv2d_backward)
    report = gradcheck(op, x, weight, bias, max_checks_per_tensor=12)
    assert report.max_error <= 1e-6


def _tile_edge_configs():
    """Rows and columns of each product one short of, equal to and one past a tile of the running config."""
    from tinysr.ops.cuda.conv2d_tiles import NARROW, WIDE

    configs = []
    for rows in (NARROW.rows, NARROW.rows + 1, WIDE.rows + 1):
        for pixels in (WIDE.cols - 1, WIDE.cols + 1):
            # out channels = rows (forward, weight gradient); in channels = rows (input gradient);
            # N * H * W = pixels, with a 3x3 kernel, padding 1: output pixels = input pixels
            configs.append((((1, rows, 1, pixels), (rows, rows, 1, 3)), (1, 1), (0, 1), True, rows + pixels))
    return configs


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_conv2d_at_tile_edges(dtype, rtol):
    for config in _tile_edge_configs():
        got, want = _conv_both(config, dtype)
        for name, g, w in zip(["out", "grad_input", "grad_weight", "grad_bias"], got, want):
            assert_close(g, w, rtol, f"{name} {config[0]}")


def test_conv2d_weight_gradient_split_between_blocks():
    # enough output pixels that the depth (N H_out W_out) of the weight gradient is split: at least
    # two of MIN_SPLIT (8 on the simulator, 256 on a GPU, where 3 x 9 x 7 pixels are one split)
    from tinysr.ops.cuda import conv2d_tiles

    width = max(7, math.ceil((2 * conv2d_tiles.MIN_SPLIT + 1) / (3 * 9)))
    config = (((3, 2, 9, width), (3, 2, 3, 3)), (1, 1), (1, 1), True, 3)
    splits, _ = conv2d_tiles.depth_splits(3 * 9 * width, 1, conv2d_tiles.WIDE.depth)
    assert splits > 1
    got, want = _conv_both(config, np.float64)
    for name, g, w in zip(["out", "grad_input", "grad_weight", "grad_bias"], got, want):
        assert_close(g, w, 1e-10, name)


def test_conv2d_with_the_gpu_tiles(monkeypatch):
    """The tile shapes a GPU runs (64 x 64 and 8 x 256, 256 threads), across tile edges."""
    from tinysr.ops.cuda import _common, conv2d_tiles

    if not _common.SIMULATOR:
        pytest.skip("on a GPU every test runs with these tiles")
    monkeypatch.setattr(conv2d_tiles, "WIDE", conv2d_tiles.Tiles(16, 16, 4, 4, 16))
    monkeypatch.setattr(conv2d_tiles, "NARROW", conv2d_tiles.Tiles(2, 128, 4, 2, 16))
    # forward: 9 rows (wide), 65 columns (two column tiles); input gradient: 2 rows (narrow)
    config = (((1, 2, 5, 13), (9, 2, 3, 3)), (1, 1), (1, 1), True, 11)
    got, want = _conv_both(config, np.float32)
    for name, g, w in zip(["out", "grad_input", "grad_weight", "grad_bias"], got, want):
        assert_close(g, w, 1e-5, name)


def test_conv2d_refuses_mixed_devices_and_bad_shapes():
    x, weight, bias, grad_output = _conv_arrays((((1, 2, 5, 4), (3, 2, 3, 3)), 1, 1, True, 0), np.float32)
    with pytest.raises(TypeError, match=r"conv2d: expected weight on the GPU .* got ndarray"):
        conv2d.conv2d_forward(gpu(x), weight, gpu(bias), 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: expected weight with 2 input channels"):
        conv2d.conv2d_forward(gpu(x), gpu(np.ones((3, 4, 3, 3), np.float32)), None, 1, 1)
    with pytest.raises(TypeError, match=r"conv2d: expected all arrays to share one dtype"):
        conv2d.conv2d_forward(gpu(x), gpu(weight.astype(np.float64)), None, 1, 1)
    _, cache = conv2d.conv2d_forward(gpu(x), gpu(weight), gpu(bias), 1, 1)
    with pytest.raises(ValueError, match=r"conv2d: expected grad_output of shape \(1, 3, 5, 4\)"):
        conv2d.conv2d_backward(gpu(np.ones((1, 3, 4, 4), np.float32)), cache)
    with pytest.raises(TypeError, match=r"conv2d: expected grad_output on the GPU"):
        conv2d.conv2d_backward(grad_output, cache)
    with pytest.raises(ValueError, match=r"C-contiguous device array for x"):
        conv2d.conv2d_forward(gpu(np.ones((1, 2, 5, 8), np.float32))[:, :, :, :4], gpu(weight), None, 1, 1)


# ----------------------------------------------------------------------------- activations

ELEMENTWISE = [
    ("relu", lambda x: activations.relu_forward(x), activations.relu_backward),
    ("leaky_relu", lambda x: activations.leaky_relu_forward(x, 0.2), activations.leaky_relu_backward),
    ("sigmoid", lambda x: activations.sigmoid_forward(x), activations.sigmoid_backward),
    ("tanh", lambda x: activations.tanh_forward(x), activations.tanh_backward),
]


@pytest.mark.parametrize("name, forward, backward", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_elementwise_activations_match_cpu(name, forward, backward, dtype, rtol):
    for size in _sizes_around_a_block():
        x = random_array(size, (size,), low=-6, high=6).astype(dtype)
        x[0] = 0.0  # the kink: the sub-gradient conventions must match
        grad_output = random_array(size + 1, (size,)).astype(dtype)
        out, cache = forward(x)
        out_d, cache_d = forward(gpu(x))
        assert_close(out_d, out, rtol, f"{name} out, {size} elements")
        assert_close(backward(gpu(grad_output), cache_d), backward(grad_output, cache), rtol, f"{name} grad")


def test_relu_inplace_on_the_gpu_overwrites_x_like_the_cpu():
    x = random_array(0, (3, 70), low=-2, high=2).astype(np.float32)
    grad_output = random_array(1, x.shape).astype(np.float32)
    out, cache = activations.relu_forward(x.copy(), inplace=True)
    x_d = gpu(x)
    out_d, cache_d = activations.relu_forward(x_d, inplace=True)
    assert out_d is x_d
    assert_close(x_d, out, 0, "relu in place")
    assert_close(activations.relu_backward(gpu(grad_output), cache_d), activations.relu_backward(grad_output, cache),
                 0, "relu in place, grad")


def test_activations_keep_nan_and_large_values_like_cpu():
    x = np.array([np.nan, -1e4, 1e4, -0.0, 0.0, 3.0], dtype=np.float32)
    for forward in (activations.relu_forward, activations.sigmoid_forward, activations.tanh_forward):
        # a GPU's exp and tanh may differ from the CPU's in the last bit: compare to float32 precision
        np.testing.assert_allclose(host(forward(gpu(x))[0]), forward(x)[0], rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("shape, shared", [((2, 3), False), ((2, 3, 5), True), ((2, 3, 4, 5), False),
                                           ((3, 2, 3, 3), True)])
@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_prelu_matches_cpu(shape, shared, dtype, rtol):
    x = random_array(1, shape).astype(dtype)
    x.reshape(-1)[:3] = 0.0
    weight = random_array(2, (1,) if shared else (shape[1],), low=0, high=0.5).astype(dtype)
    grad_output = random_array(3, shape).astype(dtype)
    out, cache = prelu.prelu_forward(x, weight)
    out_d, cache_d = prelu.prelu_forward(gpu(x), gpu(weight))
    assert_close(out_d, out, rtol, "out")
    for name, g, w in zip(["grad_input", "grad_weight"], prelu.prelu_backward(gpu(grad_output), cache_d),
                          prelu.prelu_backward(grad_output, cache)):
        assert_close(g, w, rtol, name)


def test_prelu_slope_gradient_over_more_values_than_a_block():
    t = _threads()
    x = random_array(4, (2, 3, t + 1)).astype(np.float64)  # each channel: 2 t + 2 values
    weight = np.array([0.1, 0.2, 0.3])
    _, cache = prelu.prelu_forward(x, weight)
    _, cache_d = prelu.prelu_forward(gpu(x), gpu(weight))
    g = random_array(5, x.shape)
    for got, want in zip(prelu.prelu_backward(gpu(g), cache_d), prelu.prelu_backward(g, cache)):
        assert_close(got, want, 1e-12)


@pytest.mark.parametrize("op", ["prelu", "sigmoid", "tanh", "leaky_relu"])
def test_activation_gradients_match_finite_differences(op):
    x = random_array(6, (2, 3, 3), away_from_zero=0.05)
    if op == "prelu":
        pair = on_gpu(prelu.prelu_forward, prelu.prelu_backward)
        report = gradcheck(pair, x, np.array([0.1, 0.2, 0.3]))
    else:
        forward = getattr(activations, f"{op}_forward")
        pair = on_gpu(lambda a: forward(a), getattr(activations, f"{op}_backward"))
        report = gradcheck(pair, x)
    assert report.max_error <= 1e-6


# ----------------------------------------------------------------------------- batchnorm


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 1, 2 * 16 + 1)])
def test_batchnorm_matches_cpu(training, dtype, rtol, shape):
    channels = shape[1]
    x = random_array(1, shape, low=-2, high=3).astype(dtype)
    weight = random_array(2, (channels,), low=0.5, high=2).astype(dtype)
    bias = random_array(3, (channels,)).astype(dtype)
    mean0 = random_array(4, (channels,)).astype(dtype)
    var0 = random_array(5, (channels,), low=0.5, high=2).astype(dtype)
    grad_output = random_array(6, shape).astype(dtype)
    running_mean, running_var = mean0.copy(), var0.copy()
    out, cache = batchnorm.batch_norm2d_forward(x, weight, bias, running_mean, running_var, training, 0.3, 1e-3)
    want = batchnorm.batch_norm2d_backward(grad_output, cache)
    mean_d, var_d = gpu(mean0), gpu(var0)
    out_d, cache_d = batchnorm.batch_norm2d_forward(gpu(x), gpu(weight), gpu(bias), mean_d, var_d, training, 0.3,
                                                    1e-3)
    got = batchnorm.batch_norm2d_backward(gpu(grad_output), cache_d)
    assert_close(out_d, out, rtol, "out")
    assert_close(mean_d, running_mean, rtol, "running_mean")
    assert_close(var_d, running_var, rtol, "running_var")
    if not training:
        np.testing.assert_array_equal(host(mean_d), mean0)
    for name, g, w in zip(["grad_input", "grad_weight", "grad_bias"], got, want):
        assert_close(g, w, rtol * 10 if dtype == np.float32 else rtol, name)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradient_matches_finite_differences(training):
    x = random_array(8, (2, 2, 3, 2), low=-1, high=2)

    def forward(x, weight, bias):
        running_mean, running_var = gpu(np.zeros(2)), gpu(np.ones(2))
        return batchnorm.batch_norm2d_forward(x, weight, bias, running_mean, running_var, training)

    report = gradcheck(on_gpu(forward, batchnorm.batch_norm2d_backward), x, np.array([0.5, 2.0]),
                       np.array([0.1, -0.3]))
    assert report.max_error <= 1e-6


# ----------------------------------------------------------------------------- pixel shuffle, flatten, add


@pytest.mark.parametrize("shape, r", [((2, 8, 3, 5), 2), ((1, 18, 2, 3), 3), ((2, 1, 4, 3, 2), 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pixel_shuffle_and_unshuffle_match_cpu(shape, r, dtype):
    x = random_array(1, shape).astype(dtype)
    out, cache = pixel_shuffle.pixel_shuffle_forward(x, r)
    out_d, cache_d = pixel_shuffle.pixel_shuffle_forward(gpu(x), r)
    np.testing.assert_array_equal(host(out_d), out)  # a permutation: exact
    g = random_array(2, out.shape).astype(dtype)
    np.testing.assert_array_equal(host(pixel_shuffle.pixel_shuffle_backward(gpu(g), cache_d)),
                                  pixel_shuffle.pixel_shuffle_backward(g, cache))
    _, cache = pixel_shuffle.pixel_unshuffle_forward(out, r)
    back_d, cache_d = pixel_shuffle.pixel_unshuffle_forward(out_d, r)
    np.testing.assert_array_equal(host(back_d), x)
    np.testing.assert_array_equal(host(pixel_shuffle.pixel_unshuffle_backward(gpu(x), cache_d)),
                                  pixel_shuffle.pixel_unshuffle_backward(x, cache))


def test_pixel_shuffle_errors_on_the_gpu():
    with pytest.raises(ValueError, match=r"pixel_shuffle: expected the channel count of x to be divisible by"):
        pixel_shuffle.pixel_shuffle_forward(gpu(np.ones((1, 3, 2, 2))), 2)
    with pytest.raises(ValueError, match=r"pixel_unshuffle: expected the height and width"):
        pixel_shuffle.pixel_unshuffle_forward(gpu(np.ones((1, 3, 3, 2))), 2)


@pytest.mark.parametrize("size", [5, 33])
def test_flatten_and_add_match_cpu(size):
    x = random_array(1, (2, 3, size)).astype(np.float32)
    y = random_array(2, (2, 3, size)).astype(np.float32)
    out_d, cache_d = flatten.flatten_forward(gpu(x))
    np.testing.assert_array_equal(host(out_d), x.reshape(2, -1))
    np.testing.assert_array_equal(host(flatten.flatten_backward(out_d, cache_d)), x)
    total_d, cache_d = add.add_forward(gpu(x), gpu(y))
    np.testing.assert_array_equal(host(total_d), add.add_forward(x, y)[0])
    grad_a, grad_b = add.add_backward(gpu(y), cache_d)
    assert grad_a is not grad_b
    np.testing.assert_array_equal(host(grad_a), y)
    np.testing.assert_array_equal(host(grad_b), y)
    with pytest.raises(ValueError, match=r"add: expected b of the same shape as a"):
        add.add_forward(gpu(x), gpu(y[:1].copy()))


# ----------------------------------------------------------------------------- linear


@pytest.mark.parametrize("n, in_features, out_features, has_bias", [(4, 7, 3, True), (1, 5, 2, False),
                                                                    (3, 20, 17, True)])
@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_linear_matches_cpu(n, in_features, out_features, has_bias, dtype, rtol):
    x = random_array(1, (n, in_features)).astype(dtype)
    weight = random_array(2, (out_features, in_features)).astype(dtype)
    bias = random_array(3, (out_features,)).astype(dtype) if has_bias else None
    g = random_array(4, (n, out_features)).astype(dtype)
    out, cache = linear.linear_forward(x, weight, bias)
    out_d, cache_d = linear.linear_forward(gpu(x), gpu(weight), gpu(bias))
    assert_close(out_d, out, rtol, "out")
    for name, got, want in zip(["grad_input", "grad_weight", "grad_bias"], linear.linear_backward(gpu(g), cache_d),
                               linear.linear_backward(g, cache)):
        assert_close(got, want, rtol, name)


def test_linear_gradient_matches_finite_differences():
    x, weight, bias = random_array(1, (3, 4)), random_array(2, (2, 4)), random_array(3, (2,))
    report = gradcheck(on_gpu(linear.linear_forward, linear.linear_backward), x, weight, bias)
    assert report.max_error <= 1e-6


# ----------------------------------------------------------------------------- losses

LOSSES = ["mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss"]


def _loss_inputs(name, shape, dtype, seed=0):
    prediction = random_array(seed, shape, low=-3, high=3)
    target = random_array(seed + 1, shape, low=0, high=1)
    if name == "bce_loss":
        prediction = 1 / (1 + np.exp(-prediction))
        prediction.reshape(-1)[:2] = [0.0, 1.0]  # the clamped logs
    if name == "l1_loss":
        prediction.reshape(-1)[0] = target.reshape(-1)[0]  # sign(0) = 0
    return prediction.astype(dtype), target.astype(dtype)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_losses_match_cpu(name, dtype, rtol):
    forward, backward = getattr(loss_ops, f"{name}_forward"), getattr(loss_ops, f"{name}_backward")
    t = _threads()
    for shape in [(3,), (2, 3, t + 1), (5 * t + 7,)]:  # several reduction blocks, each thread several values
        prediction, target = _loss_inputs(name, shape, dtype)
        loss, cache = forward(prediction, target)
        loss_d, cache_d = forward(gpu(prediction), gpu(target))
        assert isinstance(loss_d, float)
        np.testing.assert_allclose(loss_d, loss, rtol=1e-12)  # accumulated in float64 on both
        assert_close(backward(0.5, cache_d), backward(0.5, cache), rtol, f"{name} grad {shape}")


def test_bce_refuses_values_outside_0_1_on_the_gpu():
    with pytest.raises(ValueError, match=r"bce_loss: expected every element of prediction in \[0, 1\] .*"
                                         r"got 2 of 4 elements outside"):
        loss_ops.bce_loss_forward(gpu(np.array([0.5, 1.5, np.nan, 0.0])), gpu(np.full(4, 0.5)))


@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradients_match_finite_differences(name):
    prediction, target = _loss_inputs(name, (2, 3), np.float64, seed=3)
    if name == "bce_loss":
        prediction = np.clip(prediction, 0.05, 0.95)
    forward, backward = getattr(loss_ops, f"{name}_forward"), getattr(loss_ops, f"{name}_backward")
    if name == "l1_loss":
        prediction = target + np.where(prediction >= target, 0.1, -0.1)  # away from the kink

    def forward_on_gpu(p):  # the loss of a prediction; target fixed
        loss, cache = forward(gpu(p), gpu(target))
        return np.array(loss), cache

    def backward_on_gpu(grad_output, cache):
        return host(backward(float(grad_output), cache))

    report = gradcheck((forward_on_gpu, backward_on_gpu), prediction)
    assert report.max_error <= 1e-6
