"""Tests of ``tinysr.ops.conv_transpose2d`` and ``nn.ConvTranspose2d``: gradients, tiers, bad input, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr import nn
from tinysr.gradcheck import gradcheck
from tinysr.ops.conv2d import conv2d_backward, conv2d_forward
from tinysr.ops.conv_transpose2d import conv_transpose2d_backward, conv_transpose2d_forward

BACKENDS = ["reference", "numba"]


@st.composite
def transpose_configs(draw, max_channels=4, max_size=5):
    """A valid transposed convolution: strides 1-4, padding, output_padding, rectangular kernels, a seed."""
    n_images = draw(st.integers(1, 2))
    in_channels, out_channels = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s_h, s_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    op_h, op_w = draw(st.integers(0, s_h - 1)), draw(st.integers(0, s_w - 1))
    height, width = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    # padding may not remove the whole output: (H - 1) s - 2 p + k + op >= 1
    p_h = draw(st.integers(0, max(0, ((height - 1) * s_h + k_h + op_h - 1) // 2)))
    p_w = draw(st.integers(0, max(0, ((width - 1) * s_w + k_w + op_w - 1) // 2)))
    shapes = (n_images, in_channels, height, width), (in_channels, out_channels, k_h, k_w)
    return shapes, (s_h, s_w), (p_h, p_w), (op_h, op_w), draw(st.booleans()), draw(seeds)


def _arrays(config, dtype=np.float64):
    (x_shape, w_shape), stride, padding, output_padding, has_bias, seed = config
    x = random_array(seed, x_shape).astype(dtype)
    weight = random_array(seed + 1, w_shape).astype(dtype)
    bias = random_array(seed + 2, (w_shape[1],)).astype(dtype) if has_bias else None
    out, _ = conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding, backend="reference")
    return x, weight, bias, random_array(seed + 3, out.shape).astype(dtype)


def _forward_backward(config, arrays, backend):
    _, stride, padding, output_padding, _, _ = config
    x, weight, bias, grad_output = arrays
    out, cache = conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding, backend=backend)
    return (out, *conv_transpose2d_backward(grad_output, cache, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
@given(config=transpose_configs())
def test_gradient_matches_finite_differences(backend, config):
    _, stride, padding, output_padding, _, _ = config
    x, weight, bias, _ = _arrays(config)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    op = (
        lambda *arrays: conv_transpose2d_forward(*arrays, stride=stride, padding=padding,
                                                 output_padding=output_padding, backend=backend),
        lambda grad_output, cache: conv_transpose2d_backward(grad_output, cache, backend=backend),
    )
    report = gradcheck(op, *inputs, rtol=1e-6, max_checks_per_tensor=40)
    assert report.max_error <= 1e-6


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@given(config=transpose_configs(max_channels=6, max_size=7))
def test_numba_tier_matches_reference(dtype, rtol, config):
    arrays = _arrays(config, dtype)
    fast, slow = _forward_backward(config, arrays, "numba"), _forward_backward(config, arrays, "reference")
    for name, f, s in zip(["out", "grad_input", "grad_weight", "grad_bias"], fast, slow):
        if s is None:
            assert f is None, name
            continue
        assert f.shape == s.shape and f.dtype == s.dtype, name
        np.testing.assert_allclose(f, s, rtol=rtol, atol=rtol * max(1.0, np.abs(s).max()), err_msg=name)


@given(config=transpose_configs())
def test_forward_is_the_convolutions_input_gradient(config):
    """The lesson of the op file, as an assertion: conv_transpose2d(x, w) = d conv2d(y, w) / dy applied to x."""
    _, stride, padding, output_padding, _, _ = config
    x, weight, _, _ = _arrays(config)
    out, _ = conv_transpose2d_forward(x, weight, None, stride, padding, output_padding, backend="reference")
    stand_in = np.zeros(out.shape)  # conv2d's input: only its shape matters for the input gradient
    _, cache = conv2d_forward(stand_in, weight, None, stride, padding, backend="reference")
    grad_input, _, _ = conv2d_backward(x, cache, backend="reference")
    np.testing.assert_allclose(out, grad_input, rtol=1e-12, atol=1e-12)


def test_known_values_stride_2():
    # one input pixel of value 2 spreads its 2x2 kernel, at stride 2 the four pixels tile the output
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    weight = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    out, _ = conv_transpose2d_forward(x, weight, np.array([0.5]), stride=2)
    expected = np.kron(x[0, 0], weight[0, 0]) + 0.5
    np.testing.assert_array_equal(out[0, 0], expected)


def test_output_padding_rows_get_only_the_bias_and_no_gradient():
    x = np.ones((1, 1, 2, 2))
    weight = np.ones((1, 1, 1, 1))
    out, cache = conv_transpose2d_forward(x, weight, np.array([3.0]), stride=2, output_padding=1)
    assert out.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(out[0, 0, 3], 3.0)  # the extra bottom row: no input pixel reaches it
    grad_input, _, _ = conv_transpose2d_backward(np.ones(out.shape), cache)
    np.testing.assert_array_equal(grad_input, np.ones((1, 1, 2, 2)))


def test_bad_inputs_raise_errors_naming_the_op():
    x, weight = np.ones((1, 2, 3, 3)), np.ones((2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"conv_transpose2d: expected output_padding smaller than the stride"):
        conv_transpose2d_forward(x, weight, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"expected weight \(C_in, C_out, kH, kW\) with C_in = 3"):
        conv_transpose2d_forward(np.ones((1, 3, 3, 3)), weight)
    with pytest.raises(ValueError, match=r"expected bias of shape \(4,\)"):
        conv_transpose2d_forward(x, weight, np.ones(2))
    with pytest.raises(ValueError, match=r"the padding \(5, 5\) leaves no output"):
        conv_transpose2d_forward(x, weight, padding=5)
    with pytest.raises(TypeError, match=r"conv_transpose2d: expected all arrays to share one dtype"):
        conv_transpose2d_forward(x.astype(np.float32), weight)
    _, cache = conv_transpose2d_forward(x, weight)
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(1, 4, 5, 5\)"):
        conv_transpose2d_backward(np.ones((1, 4, 3, 3)), cache)


def test_layer_shapes_init_and_errors():
    layer = nn.ConvTranspose2d(56, 1, 9, stride=3, padding=4, output_padding=2, rng=0)
    assert layer.weight.shape == (56, 1, 9, 9) and layer.bias.shape == (1,)
    bound = 1 / np.sqrt(1 * 9 * 9)  # PyTorch's fan_in of a transposed convolution: C_out kH kW
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.weight.data).max() > 0.9 * bound
    x = np.zeros((2, 56, 8, 10), np.float32)
    assert layer.forward(x).shape == (2, 1, 24, 30)  # x3, as FSRCNN's last layer
    assert layer.backward(np.ones((2, 1, 24, 30), np.float32)).shape == x.shape
    assert "output_padding=(2, 2)" in repr(layer)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(56, 1, .*expected input with 56 channels"):
        layer.forward(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"ConvTranspose2d: expected output_padding smaller than the stride"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)


@given(config=transpose_configs(max_channels=3, max_size=4))
def test_layer_gradients(config):
    (x_shape, w_shape), stride, padding, output_padding, has_bias, seed = config
    layer = nn.ConvTranspose2d(w_shape[0], w_shape[1], w_shape[2:], stride, padding, output_padding, bias=has_bias,
                               dtype=np.float64, rng=seed)
    report = gradcheck(layer, random_array(seed, x_shape), rtol=1e-6, max_checks_per_tensor=30)
    assert report.max_error <= 1e-6


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@given(config=transpose_configs(max_channels=5, max_size=6))
def test_matches_torch(dtype, rtol, config):
    torch = pytest.importorskip("torch", reason="torch is not installed: the live comparison with "
                                "torch.nn.functional.conv_transpose2d is skipped")
    _, stride, padding, output_padding, _, _ = config
    x, weight, bias, grad_output = _arrays(config, dtype)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, weight)]
    t_bias = None if bias is None else torch.tensor(bias, requires_grad=True)
    t_out = torch.nn.functional.conv_transpose2d(*tensors, t_bias, stride=stride, padding=padding,
                                                 output_padding=output_padding)
    t_out.backward(torch.tensor(grad_output))
    ours = _forward_backward(config, (x, weight, bias, grad_output), "numba")
    theirs = [t_out, tensors[0].grad, tensors[1].grad, None if t_bias is None else t_bias.grad]
    for name, a, b in zip(["out", "grad_input", "grad_weight", "grad_bias"], ours, theirs):
        if b is None:
            assert a is None, name
            continue
        b = b.detach().numpy()
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, np.abs(b).max()), err_msg=name)
