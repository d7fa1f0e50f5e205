"""Tests of ``tinysr.ops.batchnorm``: gradients in both modes, tiers, dtypes, running statistics, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr.gradcheck import gradcheck
from tinysr.ops.batchnorm import batch_norm2d_backward, batch_norm2d_forward

BACKENDS = ["reference", "numba"]
MODES = [True, False]  # training, eval


@st.composite
def bn_configs(draw):
    """An (N, C, H, W) shape with N * H * W > 1 (training needs two values per channel),
    momentum, eps and a seed."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if n * h * w == 1:
        n = 2
    momentum = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]) | st.floats(0.0, 1.0))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    return (n, c, h, w), momentum, eps, draw(seeds)


def _arrays(shape, seed, dtype=np.float64):
    """x (shifted and scaled per channel), weight, bias, running_mean, running_var, grad_output."""
    channels = shape[1]
    x = random_array(seed, shape, low=-2, high=2) * random_array(seed + 1, (1, channels, 1, 1), low=0.5, high=3)
    x = x + random_array(seed + 2, (1, channels, 1, 1), low=-3, high=3)
    weight = random_array(seed + 3, (channels,), low=0.5, high=2) * np.where(np.arange(channels) % 2, -1, 1)
    bias = random_array(seed + 4, (channels,))
    running_mean = random_array(seed + 5, (channels,))
    running_var = random_array(seed + 6, (channels,), low=0.5, high=2)
    grad_output = random_array(seed + 7, shape)
    return [a.astype(dtype) for a in (x, weight, bias, running_mean, running_var, grad_output)]


def _step(x, weight, bias, running_mean, running_var, grad_output, training, momentum, eps, backend):
    """One forward and backward: (out, grad_input, grad_weight, grad_bias); the buffers are updated."""
    out, cache = batch_norm2d_forward(
        x, weight, bias, running_mean, running_var, training, momentum, eps, backend=backend
    )
    return (out, *batch_norm2d_backward(grad_output, cache, backend=backend))


# -- the four properties of the op contract --------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("training", MODES)
@given(config=bn_configs())
def test_gradient_matches_finite_differences(training, backend, config):
    shape, momentum, eps, seed = config
    x, weight, bias, running_mean, running_var, _ = _arrays(shape, seed)
    # gradcheck draws its own random (never all-ones) upstream gradient: with all ones the
    # training-mode input gradient is exactly zero and a backward returning zeros would pass.
    op = (
        lambda a, w, b: batch_norm2d_forward(a, w, b, running_mean, running_var, training, momentum, eps,
                                             backend=backend),
        lambda g, cache: batch_norm2d_backward(g, cache, backend=backend),
    )
    assert gradcheck(op, x, weight, bias, rtol=1e-6).max_error <= 1e-6


@pytest.mark.parametrize("training", MODES)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@given(config=bn_configs())
def test_numba_matches_reference(dtype, rtol, training, config):
    shape, momentum, eps, seed = config
    arrays = _arrays(shape, seed, dtype)
    buffers = {}
    results = {}
    for backend in BACKENDS:
        x, weight, bias, running_mean, running_var, grad_output = (a.copy() for a in arrays)
        results[backend] = _step(x, weight, bias, running_mean, running_var, grad_output, training, momentum,
                                 eps, backend)
        buffers[backend] = (running_mean, running_var)
    for e, g in zip(results["reference"] + buffers["reference"], results["numba"] + buffers["numba"]):
        assert g.dtype == dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * max(1.0, np.abs(e).max()))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("training", MODES)
@given(config=bn_configs())
def test_float32_agrees_with_float64(backend, training, config):
    shape, momentum, eps, seed = config
    # float32 rounds x to ~1e-7 * |x|; x_hat divides that by sqrt(var + eps). eps >= 1e-3 keeps
    # a batch that happens to have almost equal values from amplifying it past the tolerance.
    eps = max(eps, 1e-3)
    results = {}
    for dtype in (np.float32, np.float64):
        arrays = _arrays(shape, seed, dtype)
        results[dtype] = _step(*arrays, training, momentum, eps, backend) + tuple(arrays[3:5])
    for r32, r64 in zip(results[np.float32], results[np.float64]):
        assert r32.dtype == np.float32
        # A training-mode gradient can be a small difference of O(M) terms: scale by the largest.
        np.testing.assert_allclose(r32, r64, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(r64).max()))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("training", MODES)
@given(config=bn_configs())
def test_only_the_running_statistics_are_mutated(backend, training, config):
    shape, momentum, eps, seed = config
    arrays = _arrays(shape, seed)
    copies = [a.copy() for a in arrays]
    results = _step(*arrays, training, momentum, eps, backend)
    assert not any(np.shares_memory(r, a) for r in results for a in arrays)
    x, weight, bias, running_mean, running_var, grad_output = arrays
    for a, saved in zip((x, weight, bias, grad_output), copies[:3] + copies[5:]):
        np.testing.assert_array_equal(a, saved)
    if not training:
        np.testing.assert_array_equal(running_mean, copies[3])
        np.testing.assert_array_equal(running_var, copies[4])


# -- op-specific properties ------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(config=bn_configs())
def test_running_statistics_follow_pytorch_formula(backend, dtype, config):
    """Two training steps: each moves the buffers by momentum towards the batch mean and the
    unbiased batch variance, in place (the same array objects)."""
    shape, momentum, eps, seed = config
    x, weight, bias, running_mean, running_var, _ = _arrays(shape, seed, dtype)
    expected_mean = running_mean.astype(np.float64)
    expected_var = running_var.astype(np.float64)
    mean_buffer, var_buffer = running_mean, running_var
    for step in range(2):
        batch = x.astype(np.float64) * (1 + step)
        batch_mean = batch.mean(axis=(0, 2, 3))
        batch_var_unbiased = batch.var(axis=(0, 2, 3), ddof=1)
        expected_mean = (1 - momentum) * expected_mean + momentum * batch_mean
        expected_var = (1 - momentum) * expected_var + momentum * batch_var_unbiased
        batch_norm2d_forward(batch.astype(dtype), weight, bias, running_mean, running_var, True, momentum, eps,
                             backend=backend)
    assert running_mean is mean_buffer and running_var is var_buffer
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(running_mean, expected_mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(running_var, expected_var, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
@given(config=bn_configs())
def test_training_output_is_normalised_and_gradient_is_projected(backend, config):
    """In training each channel of ``(out - bias) / weight`` has mean 0 and variance var / (var + eps).
    The input gradient sums to 0 per channel (the mean direction is removed), and its projection
    on x_hat is only what eps leaves: ``sum(dx * x_hat) = w * inv_std * sum(g * x_hat) * eps / (var + eps)``
    (from ``sum(x_hat**2) = M * var / (var + eps)``)."""
    shape, momentum, eps, seed = config
    x, weight, bias, running_mean, running_var, grad_output = _arrays(shape, seed)
    out, grad_input, _, _ = _step(x, weight, bias, running_mean, running_var, grad_output, True, momentum, eps,
                                  backend)
    per_channel = (0, 2, 3)
    var = x.var(axis=per_channel)
    inv_std = 1 / np.sqrt(var + eps)
    from_out = (out - bias[None, :, None, None]) / weight[None, :, None, None]
    np.testing.assert_allclose(from_out.mean(axis=per_channel), 0.0, atol=1e-10)
    np.testing.assert_allclose(from_out.var(axis=per_channel), var / (var + eps), rtol=1e-8)

    x_hat = (x - x.mean(axis=per_channel, keepdims=True)) * inv_std[None, :, None, None]
    magnitude = np.abs(grad_input * x_hat).sum(axis=per_channel) + np.abs(grad_output).sum(axis=per_channel)
    np.testing.assert_allclose(grad_input.sum(axis=per_channel), 0.0, atol=1e-10 * magnitude.max())
    expected = weight * inv_std * (grad_output * x_hat).sum(axis=per_channel) * eps / (var + eps)
    np.testing.assert_allclose((grad_input * x_hat).sum(axis=per_channel), expected, rtol=1e-6,
                               atol=1e-10 * magnitude.max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_eval_mode_uses_running_statistics(backend):
    x, weight, bias, running_mean, running_var, grad_output = _arrays((3, 2, 4, 5), 7)
    out, grad_input, grad_weight, grad_bias = _step(x, weight, bias, running_mean, running_var, grad_output,
                                                    False, 0.1, 1e-5, backend)
    inv_std = 1 / np.sqrt(running_var + 1e-5)
    x_hat = (x - running_mean[None, :, None, None]) * inv_std[None, :, None, None]
    np.testing.assert_allclose(out, weight[None, :, None, None] * x_hat + bias[None, :, None, None], rtol=1e-12)
    np.testing.assert_allclose(grad_input, grad_output * (weight * inv_std)[None, :, None, None], rtol=1e-12)
    np.testing.assert_allclose(grad_weight, (grad_output * x_hat).sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(grad_bias, grad_output.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_statistics_survive_a_large_mean(backend):
    """Values around 1000 with a spread of 0.01: a one-pass E[x^2] - E[x]^2 in float32 would lose
    every digit; the two-pass float64 statistics keep the float32 output accurate."""
    x64 = 1000.0 + 0.01 * random_array(3, (4, 3, 6, 6))
    arrays = [x64.astype(np.float32), np.ones(3, np.float32), np.zeros(3, np.float32),
              np.zeros(3, np.float32), np.ones(3, np.float32)]
    out, _ = batch_norm2d_forward(*arrays, True, 0.1, 1e-12, backend=backend)
    x32_as64 = arrays[0].astype(np.float64)  # the float32 input, exactly
    mean = x32_as64.mean(axis=(0, 2, 3), keepdims=True)
    expected = (x32_as64 - mean) / np.sqrt(x32_as64.var(axis=(0, 2, 3), keepdims=True) + 1e-12)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


# -- bad inputs ------------------------------------------------------------------------------
def _good():
    return _arrays((2, 3, 4, 4), 0)[:5]


def test_training_needs_more_than_one_value_per_channel():
    x, weight, bias, running_mean, running_var = _good()
    saved = running_mean.copy(), running_var.copy()
    with pytest.raises(ValueError, match=r"batch_norm2d: expected more than 1 value per channel when training, "
                                         r"got input of shape \(1, 3, 1, 1\)"):
        batch_norm2d_forward(x[:1, :, :1, :1], weight, bias, running_mean, running_var, True)
    np.testing.assert_array_equal(running_mean, saved[0])
    np.testing.assert_array_equal(running_var, saved[1])
    out, _ = batch_norm2d_forward(x[:1, :, :1, :1], weight, bias, running_mean, running_var, False)  # eval: fine
    assert out.shape == (1, 3, 1, 1)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda a: {**a, "x": a["x"][0]}, ValueError,
         r"batch_norm2d: expected x with 4 dimensions \(N, C, H, W\), got 3 dimensions with shape \(3, 4, 4\)"),
        (lambda a: {**a, "weight": np.ones(4)}, ValueError,
         r"batch_norm2d: expected weight \(one per channel of x \(2, 3, 4, 4\)\) of shape \(3,\), got \(4,\)"),
        (lambda a: {**a, "running_var": np.ones((3, 1))}, ValueError,
         r"batch_norm2d: expected running_var with 1 dimensions \(C,\), got 2 dimensions"),
        (lambda a: {**a, "x": a["x"].astype(np.int64)}, TypeError,
         r"batch_norm2d: expected x with dtype float32 or float64, got dtype int64"),
        (lambda a: {**a, "bias": a["bias"].astype(np.float32)}, TypeError,
         r"batch_norm2d: expected all arrays to share one dtype.*bias: float32"),
        (lambda a: {**a, "training": 1}, TypeError, r"batch_norm2d: expected training to be a bool, got 1"),
        (lambda a: {**a, "momentum": 1.5}, ValueError, r"batch_norm2d: expected momentum in \[0.0, 1.0\], got 1.5"),
        (lambda a: {**a, "momentum": None}, TypeError,
         r"batch_norm2d: expected momentum to be a real number, got None"),
        (lambda a: {**a, "eps": 0.0}, ValueError, r"batch_norm2d: expected eps in \(0.0, inf\], got 0.0"),
        (lambda a: {**a, "backend": "cuda"}, ValueError,
         r"batch_norm2d: unknown backend 'cuda', expected one of 'reference', 'numba'"),
    ],
)
def test_rejects_bad_inputs(change, error, message):
    x, weight, bias, running_mean, running_var = _good()
    args = {"x": x, "weight": weight, "bias": bias, "running_mean": running_mean, "running_var": running_var}
    args["training"] = True
    with pytest.raises(error, match=message):
        batch_norm2d_forward(**change(args))


def test_rejects_read_only_buffers_in_training():
    x, weight, bias, running_mean, running_var = _good()
    running_var.flags.writeable = False
    with pytest.raises(ValueError, match=r"batch_norm2d: running_var is updated in place in training mode, "
                                         r"got a read-only array"):
        batch_norm2d_forward(x, weight, bias, running_mean, running_var, True)
    batch_norm2d_forward(x, weight, bias, running_mean, running_var, False)  # eval only reads them


def test_backward_rejects_bad_grad_output():
    x, weight, bias, running_mean, running_var = _good()
    _, cache = batch_norm2d_forward(x, weight, bias, running_mean, running_var, True)
    with pytest.raises(ValueError, match=r"batch_norm2d: expected grad_output of shape \(2, 3, 4, 4\) .*"
                                         r"got \(2, 3, 4\)"):
        batch_norm2d_backward(np.ones((2, 3, 4)), cache)
    with pytest.raises(TypeError, match=r"batch_norm2d: expected grad_output with dtype float64 to match the "
                                        r"forward input, got dtype float32"):
        batch_norm2d_backward(np.ones(x.shape, np.float32), cache)


# -- PyTorch, when it is installed -----------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("training", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(config=bn_configs())
def test_matches_pytorch(dtype, training, backend, config):
    """Output, the three gradients and the updated running statistics against
    ``torch.nn.functional.batch_norm`` on the same random upstream gradient."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: skipping the live comparison")
    shape, momentum, eps, seed = config
    if dtype == np.float32:
        eps = max(eps, 1e-3)  # see test_float32_agrees_with_float64
    x, weight, bias, running_mean, running_var, grad_output = _arrays(shape, seed, dtype)
    x_t, weight_t, bias_t = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    running_mean_t, running_var_t = torch.tensor(running_mean), torch.tensor(running_var)
    out_t = torch.nn.functional.batch_norm(x_t, running_mean_t, running_var_t, weight_t, bias_t, training,
                                           momentum, eps)
    out_t.backward(torch.tensor(grad_output))

    got = _step(x, weight, bias, running_mean, running_var, grad_output, training, momentum, eps, backend)
    got += (running_mean, running_var)
    expected = (out_t, x_t.grad, weight_t.grad, bias_t.grad, running_mean_t, running_var_t)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for g, e in zip(got, expected):
        e = e.detach().numpy()
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol * max(1.0, np.abs(e).max()))
