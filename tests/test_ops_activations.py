"""Tests of ``tinysr.ops.activations``: gradients, tiers, dtypes, kinks at 0, stability, bad inputs, PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr.gradcheck import gradcheck
from tinysr.ops.activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from tinysr.ops.prelu import prelu_backward, prelu_forward

BACKENDS = ["reference", "numba"]

# name -> (forward(x, negative_slope, backend), backward, has a kink at 0)
ELEMENTWISE = {
    "relu": (lambda x, slope, backend: relu_forward(x, backend=backend), relu_backward, True),
    "leaky_relu": (
        lambda x, slope, backend: leaky_relu_forward(x, slope, backend=backend),
        leaky_relu_backward,
        True,
    ),
    "sigmoid": (lambda x, slope, backend: sigmoid_forward(x, backend=backend), sigmoid_backward, False),
    "tanh": (lambda x, slope, backend: tanh_forward(x, backend=backend), tanh_backward, False),
}

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
prelu_shapes = st.lists(st.integers(1, 4), min_size=2, max_size=5).map(tuple)
slopes = st.floats(-1.5, 1.5, allow_subnormal=False)


@st.composite
def elementwise_configs(draw):
    """A shape, a seed and a LeakyReLU slope (ignored by the other activations)."""
    return draw(shapes), draw(seeds), draw(slopes)


@st.composite
def prelu_configs(draw):
    """``(N, C, ...)`` with 2 to 5 dimensions, a shared or per-channel slope, and a seed."""
    shape = draw(prelu_shapes)
    weight_size = shape[1] if draw(st.booleans()) else 1
    return shape, weight_size, draw(seeds)


def _elementwise_arrays(name, shape, seed, dtype=np.float64):
    kink = ELEMENTWISE[name][2]
    x = random_array(seed, shape, low=-3, high=3, away_from_zero=0.1 if kink else 0.0).astype(dtype)
    grad_output = random_array(seed + 1, shape).astype(dtype)
    return x, grad_output


def _prelu_arrays(shape, weight_size, seed, dtype=np.float64):
    x = random_array(seed, shape, low=-3, high=3, away_from_zero=0.1).astype(dtype)
    weight = random_array(seed + 1, (weight_size,), low=-1, high=1).astype(dtype)
    grad_output = random_array(seed + 2, shape).astype(dtype)
    return x, weight, grad_output


def _run_elementwise(name, x, slope, grad_output, backend):
    forward, backward, _ = ELEMENTWISE[name]
    out, cache = forward(x, slope, backend)
    return out, backward(grad_output, cache, backend=backend)


def _run_prelu(x, weight, grad_output, backend):
    out, cache = prelu_forward(x, weight, backend=backend)
    return (out, *prelu_backward(grad_output, cache, backend=backend))


# -- the four properties of the op contract --------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ELEMENTWISE)
@given(config=elementwise_configs())
def test_gradient_matches_finite_differences(name, backend, config):
    shape, seed, slope = config
    x, _ = _elementwise_arrays(name, shape, seed)
    forward, backward, _ = ELEMENTWISE[name]
    op = (lambda a: forward(a, slope, backend), lambda g, cache: backward(g, cache, backend=backend))
    assert gradcheck(op, x, rtol=1e-6).max_error <= 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
@given(config=prelu_configs())
def test_prelu_gradient_matches_finite_differences(backend, config):
    x, weight, _ = _prelu_arrays(*config)
    op = (
        lambda a, w: prelu_forward(a, w, backend=backend),
        lambda g, cache: prelu_backward(g, cache, backend=backend),
    )
    assert gradcheck(op, x, weight, rtol=1e-6).max_error <= 1e-6


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("name", ELEMENTWISE)
@given(config=elementwise_configs())
def test_numba_matches_reference(name, dtype, rtol, config):
    shape, seed, slope = config
    x, grad_output = _elementwise_arrays(name, shape, seed, dtype)
    expected = _run_elementwise(name, x, slope, grad_output, "reference")
    got = _run_elementwise(name, x, slope, grad_output, "numba")
    for e, g in zip(expected, got):
        assert g.dtype == dtype and g.shape == x.shape
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@given(config=prelu_configs())
def test_prelu_numba_matches_reference(dtype, rtol, config):
    x, weight, grad_output = _prelu_arrays(*config, dtype=dtype)
    expected = _run_prelu(x, weight, grad_output, "reference")
    got = _run_prelu(x, weight, grad_output, "numba")
    for e, g in zip(expected, got):
        assert g.dtype == dtype and g.shape == e.shape
        # The slope gradient is a sum of up to a few hundred terms: allow for its round-off.
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * max(1.0, np.abs(e).sum()))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [*ELEMENTWISE, "prelu"])
@given(config=prelu_configs(), slope=slopes)
def test_float32_agrees_with_float64(name, backend, config, slope):
    x, weight, grad_output = _prelu_arrays(*config)

    def run(dtype):
        a, w, g = x.astype(dtype), weight.astype(dtype), grad_output.astype(dtype)
        if name == "prelu":
            return _run_prelu(a, w, g, backend)
        return _run_elementwise(name, a, slope, g, backend)

    for r32, r64 in zip(run(np.float32), run(np.float64)):
        assert r32.dtype == np.float32
        np.testing.assert_allclose(r32, r64, rtol=2e-5, atol=2e-5 * max(1.0, np.abs(r64).sum()))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [*ELEMENTWISE, "prelu"])
@given(config=prelu_configs())
def test_inputs_not_mutated(name, backend, config):
    x, weight, grad_output = _prelu_arrays(*config)
    copies = [a.copy() for a in (x, weight, grad_output)]
    if name == "prelu":
        results = _run_prelu(x, weight, grad_output, backend)
    else:
        results = _run_elementwise(name, x, 0.2, grad_output, backend)
    for a, saved in zip((x, weight, grad_output), copies):
        np.testing.assert_array_equal(a, saved)
    assert not any(np.shares_memory(r, a) for r in results for a in (x, weight, grad_output))


# -- op-specific properties ------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subgradients_at_zero_follow_pytorch(backend, dtype):
    """PyTorch's conventions at x == 0 (checked live against torch below): relu' = 0,
    leaky_relu' = slope, prelu' = weight, and x == 0 adds nothing to the slope gradient."""
    x = np.array([[-2.0, 0.0, 3.0], [0.0, -0.0, 1.0]], dtype=dtype)
    g = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=dtype)
    _, relu_grad = _run_elementwise("relu", x, None, g, backend)
    np.testing.assert_array_equal(relu_grad, [[0, 0, 3], [0, 0, 6]])
    _, leaky_grad = _run_elementwise("leaky_relu", x, 0.25, g, backend)
    np.testing.assert_array_equal(leaky_grad, [[0.25, 0.5, 3], [1, 1.25, 6]])
    weight = np.array([0.5, -0.5, 2.0], dtype=dtype)
    out, grad_input, grad_weight = _run_prelu(x, weight, g, backend)
    np.testing.assert_array_equal(out, [[-1, 0, 3], [0, 0, 1]])
    np.testing.assert_array_equal(grad_input, [[0.5, -1.0, 3], [2.0, -2.5, 6]])
    np.testing.assert_array_equal(grad_weight, [-2.0, 0.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_large_inputs(backend, dtype):
    x = np.array([-1e4, -1e3, -100.0, 0.0, 100.0, 1e3, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would raise here
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out, cache = sigmoid_forward(x, backend=backend)
            grad_input = sigmoid_backward(np.ones_like(x), cache, backend=backend)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad_input))
    np.testing.assert_array_equal(out[[0, 1, 5, 6]], [0.0, 0.0, 1.0, 1.0])
    assert out[3] == 0.5 and grad_input[3] == 0.25
    assert 0 <= out[2] < 1e-40 and grad_input[2] < 1e-40


@pytest.mark.parametrize("backend", BACKENDS)
def test_relu_passes_nan_through_like_pytorch(backend):
    out, cache = relu_forward(np.array([np.nan, -1.0, 2.0]), backend=backend)
    assert np.isnan(out[0]) and out[1] == 0 and out[2] == 2
    np.testing.assert_array_equal(relu_backward(np.ones(3), cache, backend=backend), [1.0, 0.0, 1.0])



@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_tanh_is_within_4e_7_of_tanh_on_every_float32_range(backend):
    """The Numba tier computes float32 tanh as a rational function (``tanh_float32``): hold it to float64 tanh
    on a dense grid, at the clamp, on tiny and subnormal values (tanh(x) = x there, not 0), at +-inf and NaN."""
    grid = np.linspace(-20, 20, 2_000_001, dtype=np.float32)
    tiny = np.array([1e-4, 1e-20, 1e-38, 1e-40, 1e-45], dtype=np.float32)
    x = np.concatenate([grid, [7.9, 7.905311, 7.91, 9.0, 88.0, 3e38], tiny, -tiny, [0.0, -0.0]]).astype(np.float32)
    out, _ = tanh_forward(x, backend=backend)
    exact = np.tanh(x.astype(np.float64))
    assert out.dtype == np.float32
    assert np.abs(out - exact).max() <= 4e-7
    assert (np.abs(out - exact) / np.maximum(np.abs(exact), 1e-300)).max() <= 4e-7
    np.testing.assert_allclose(out[-12:-2], x[-12:-2], rtol=4e-7, atol=0)  # tanh(x) = x, subnormals kept
    assert out[-2] == 0 and not np.signbit(out[-2]) and np.signbit(out[-1])
    special, _ = tanh_forward(np.array([np.nan, np.inf, -np.inf], dtype=np.float32), backend=backend)
    assert np.isnan(special[0]) and special[1] == 1 and special[2] == -1

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("contiguous", [True, False])
@given(shape=shapes, seed=seeds)
def test_relu_inplace_overwrites_x_and_has_the_same_gradient(backend, contiguous, shape, seed):
    """inplace=True returns x itself, holding max(x, 0); the cache it leaves gives the same gradient."""
    x = random_array(seed, shape)
    x.reshape(-1)[0] = 0.0  # the kink: its gradient is 0 either way
    grad_output = random_array(seed + 1, shape)
    expected, expected_cache = relu_forward(x, backend=backend)
    target = x.copy() if contiguous else np.asfortranarray(x)  # same values; Fortran order is not C-contiguous
    out, cache = relu_forward(target, inplace=True, backend=backend)
    assert out is target
    np.testing.assert_array_equal(target, np.maximum(x, 0.0))
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(relu_backward(grad_output, cache, backend=backend),
                                  relu_backward(grad_output, expected_cache, backend=backend))
    np.testing.assert_array_equal(relu_backward(grad_output, cache, backend=backend), grad_output * (x > 0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [*ELEMENTWISE, "prelu"])
def test_non_contiguous_input(name, backend):
    x = random_array(0, (3, 4, 5), away_from_zero=0.1).transpose(2, 1, 0)  # (5, 4, 3), not contiguous
    g = random_array(1, x.shape)
    weight = random_array(2, (4,))
    if name == "prelu":
        got = _run_prelu(x, weight, g, backend)
        expected = _run_prelu(x.copy(), weight, g.copy(), "reference")
    else:
        got = _run_elementwise(name, x, 0.3, g, backend)
        expected = _run_elementwise(name, x.copy(), 0.3, g.copy(), "reference")
    for e, a in zip(expected, got):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


# -- bad inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_rejects_bad_dtypes(name):
    forward = ELEMENTWISE[name][0]
    for bad in (np.ones((2, 3), dtype=np.int64), np.ones((2, 3), dtype=np.float16)):
        expected = rf"{name}: expected x with dtype float32 or float64, got dtype {bad.dtype}"
        with pytest.raises(TypeError, match=expected):
            forward(bad, 0.1, "numba")
    with pytest.raises(TypeError, match=rf"{name}: expected x to be a numpy.ndarray.*got list"):
        forward([1.0, 2.0], 0.1, "numba")


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_rejects_bad_grad_output(name):
    forward, backward, _ = ELEMENTWISE[name]
    _, cache = forward(np.ones((2, 3)), 0.1, "numba")
    with pytest.raises(ValueError, match=rf"{name}: expected grad_output of shape \(2, 3\).*got \(3, 2\)"):
        backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match=rf"{name}: expected grad_output with dtype float64.*got dtype float32"):
        backward(np.ones((2, 3), dtype=np.float32), cache)


@pytest.mark.parametrize("name", [*ELEMENTWISE, "prelu"])
def test_unknown_backend(name):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match=rf"{name}: unknown backend 'cuda', expected one of 'reference', 'numba'"):
        if name == "prelu":
            prelu_forward(x, np.ones(3), backend="cuda")
        else:
            ELEMENTWISE[name][0](x, 0.1, "cuda")


def test_leaky_relu_rejects_bad_slopes():
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match=r"leaky_relu: expected negative_slope to be a real number, got '0.1'"):
        leaky_relu_forward(x, "0.1")
    with pytest.raises(TypeError, match=r"leaky_relu: expected negative_slope to be a real number, got True"):
        leaky_relu_forward(x, True)
    with pytest.raises(ValueError, match=r"leaky_relu: expected a finite negative_slope, got nan"):
        leaky_relu_forward(x, float("nan"))


def test_prelu_rejects_bad_inputs():
    x = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match=r"prelu: expected weight of shape \(1,\) or \(C,\) = \(3,\) for x of "
                                         r"shape \(2, 3, 4\), got weight of shape \(2,\)"):
        prelu_forward(x, np.ones(2))
    with pytest.raises(ValueError, match=r"prelu: .*got weight of shape \(1, 3\)"):
        prelu_forward(x, np.ones((1, 3)))
    with pytest.raises(ValueError,
                       match=r"prelu: expected x with at least 2 dimensions \(N, C, ...\), got shape \(3,\)"):
        prelu_forward(np.ones(3), np.ones(1))
    with pytest.raises(TypeError, match=r"prelu: expected all arrays to share one dtype.*x: float64, weight: float32"):
        prelu_forward(x, np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match=r"prelu: expected weight with dtype float32 or float64, got dtype int64"):
        prelu_forward(x, np.ones(3, dtype=np.int64))
    _, cache = prelu_forward(x, np.ones(3))
    with pytest.raises(ValueError, match=r"prelu: expected grad_output of shape \(2, 3, 4\).*got \(2, 3\)"):
        prelu_backward(np.ones((2, 3)), cache)


# -- PyTorch, when it is installed -----------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [*ELEMENTWISE, "prelu"])
@given(config=prelu_configs(), slope=slopes, zeros_seed=seeds)
def test_matches_pytorch(name, backend, config, slope, zeros_seed):
    """Forward and every gradient against torch in float64, with exact zeros planted in x so
    that the sub-gradient conventions at the kinks are compared too."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: skipping the live comparison")
    functional = torch.nn.functional
    shape, weight_size, seed = config
    x = random_array(seed, shape, low=-3, high=3)
    x[np.random.default_rng(zeros_seed).random(shape) < 0.3] = 0.0
    weight = random_array(seed + 1, (weight_size,))
    grad_output = random_array(seed + 2, shape)

    x_t = torch.tensor(x, requires_grad=True)
    weight_t = torch.tensor(weight, requires_grad=True)
    torch_ops = {
        "relu": torch.relu,
        "leaky_relu": lambda t: functional.leaky_relu(t, slope),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "prelu": lambda t: functional.prelu(t, weight_t),
    }
    out_t = torch_ops[name](x_t)
    out_t.backward(torch.tensor(grad_output))
    if name == "prelu":
        got = _run_prelu(x, weight, grad_output, backend)
        expected = (out_t, x_t.grad, weight_t.grad)
    else:
        got = _run_elementwise(name, x, slope, grad_output, backend)
        expected = (out_t, x_t.grad)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_prelu_keeps_its_old_import_path():
    """PReLU moved to ``tinysr/ops/prelu.py``; ``tinysr.ops.activations.prelu_forward`` still names it."""
    from tinysr.ops import activations, prelu

    assert activations.prelu_forward is prelu.prelu_forward
    assert activations.prelu_backward is prelu.prelu_backward
    with pytest.raises(AttributeError, match="has no attribute 'prelu_grad'"):
        activations.prelu_grad  # noqa: B018 (the lookup is the test)
