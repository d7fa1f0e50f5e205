"""Tests of ``tinysr.ops.linear``: gradients, tiers, dtypes, bad inputs, and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr.gradcheck import gradcheck
from tinysr.ops.linear import linear_backward, linear_forward

BACKENDS = ["reference", "numba"]


@st.composite
def linear_configs(draw):
    """Shapes ``(N, in_features, out_features)``, whether there is a bias, and a seed."""
    n_batch = draw(st.integers(1, 6))
    in_features = draw(st.integers(1, 7))
    out_features = draw(st.integers(1, 5))
    return n_batch, in_features, out_features, draw(st.booleans()), draw(seeds)


def _arrays(config, dtype=np.float64):
    n_batch, in_features, out_features, has_bias, seed = config
    x = random_array(seed, (n_batch, in_features)).astype(dtype)
    weight = random_array(seed + 1, (out_features, in_features)).astype(dtype)
    bias = random_array(seed + 2, (out_features,)).astype(dtype) if has_bias else None
    grad_output = random_array(seed + 3, (n_batch, out_features)).astype(dtype)
    return x, weight, bias, grad_output


def _forward_backward(x, weight, bias, grad_output, backend):
    out, cache = linear_forward(x, weight, bias, backend=backend)
    return (out, *linear_backward(grad_output, cache, backend=backend))


# -- the four properties of the op contract --------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@given(config=linear_configs())
def test_gradient_matches_finite_differences(backend, config):
    x, weight, bias, _ = _arrays(config)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    op = (
        lambda *arrays: linear_forward(*arrays, backend=backend),
        lambda grad_output, cache: linear_backward(grad_output, cache, backend=backend),
    )
    report = gradcheck(op, *inputs, rtol=1e-6)
    assert report.max_error <= 1e-6


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@given(config=linear_configs())
def test_numba_tier_matches_reference(dtype, rtol, config):
    arrays = _arrays(config, dtype)
    for fast, slow in zip(_forward_backward(*arrays, "numba"), _forward_backward(*arrays, "reference")):
        if slow is None:
            assert fast is None
            continue
        assert fast.dtype == dtype and fast.shape == slow.shape
        np.testing.assert_allclose(fast, slow, rtol=rtol, atol=rtol)


@given(config=linear_configs())
def test_float32_agrees_with_float64(config):
    results32 = _forward_backward(*_arrays(config, np.float32), "numba")
    results64 = _forward_backward(*_arrays(config, np.float64), "numba")
    for r32, r64 in zip(results32, results64):
        if r64 is None:
            continue
        assert r32.dtype == np.float32
        np.testing.assert_allclose(r32, r64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@given(config=linear_configs())
def test_inputs_are_not_mutated(backend, config):
    arrays = _arrays(config)
    copies = [None if a is None else a.copy() for a in arrays]
    _forward_backward(*arrays, backend)
    for a, before in zip(arrays, copies):
        if a is not None:
            assert np.array_equal(a, before)


# -- op-specific properties ----------------------------------------------------------------
def test_known_values():
    x = np.array([[1.0, 2.0]])
    weight = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    bias = np.array([0.5, -0.5, 0.0])
    out, cache = linear_forward(x, weight, bias)
    np.testing.assert_array_equal(out, [[1.5, 1.5, 3.0]])
    grad_input, grad_weight, grad_bias = linear_backward(np.array([[1.0, 0.0, 2.0]]), cache)
    np.testing.assert_array_equal(grad_input, [[3.0, 2.0]])
    np.testing.assert_array_equal(grad_weight, [[1.0, 2.0], [0.0, 0.0], [2.0, 4.0]])
    np.testing.assert_array_equal(grad_bias, [1.0, 0.0, 2.0])


def test_no_bias_gives_none_gradient():
    x, weight, _, grad_output = _arrays((3, 4, 2, False, 0))
    out, cache = linear_forward(x, weight)
    assert linear_backward(grad_output, cache)[2] is None
    np.testing.assert_allclose(out, x @ weight.T, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_inputs(backend):
    x, weight, bias, grad_output = _arrays((4, 3, 5, True, 7))
    x_strided = np.asfortranarray(x)
    weight_view = np.ascontiguousarray(weight.T).T  # same values, transposed memory layout
    got = _forward_backward(x_strided, weight_view, bias, grad_output, backend)
    want = _forward_backward(x, weight, bias, grad_output, "reference")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)


# -- bad inputs ------------------------------------------------------------------------------
def test_bad_inputs_raise_errors_naming_the_op():
    x, weight, bias, _ = _arrays((2, 4, 3, True, 0))
    with pytest.raises(ValueError, match=r"linear: expected x with 2 dimensions .* got 3 dimensions"):
        linear_forward(x[None], weight, bias)
    with pytest.raises(ValueError, match=r"linear: expected weight with 2 dimensions"):
        linear_forward(x, weight.ravel(), bias)
    with pytest.raises(ValueError, match=r"linear: expected weight with 4 input features to match x of shape "
                       r"\(2, 4\), got weight \(3, 5\)"):
        linear_forward(x, np.ones((3, 5)), bias)
    with pytest.raises(ValueError, match=r"linear: expected bias of shape \(3,\) .* got bias \(4,\)"):
        linear_forward(x, weight, np.ones(4))
    with pytest.raises(TypeError, match=r"linear: expected x with dtype float32 or float64, got dtype int64"):
        linear_forward(np.ones((2, 4), dtype=np.int64), weight, bias)
    with pytest.raises(TypeError, match=r"linear: expected all arrays to share one dtype .*weight: float32"):
        linear_forward(x, weight.astype(np.float32), bias)
    with pytest.raises(TypeError, match=r"linear: expected x to be a numpy.ndarray"):
        linear_forward(x.tolist(), weight, bias)
    with pytest.raises(ValueError, match=r"linear: unknown backend 'cuda', expected one of 'reference', 'numba'"):
        linear_forward(x, weight, bias, backend="cuda")


def test_bad_grad_output_raises():
    x, weight, bias, _ = _arrays((2, 4, 3, True, 0))
    _, cache = linear_forward(x, weight, bias)
    with pytest.raises(ValueError, match=r"linear: expected grad_output of shape \(2, 3\) .* got \(3, 2\)"):
        linear_backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match=r"linear: expected grad_output with dtype float64 .* got dtype float32"):
        linear_backward(np.ones((2, 3), dtype=np.float32), cache)


# -- PyTorch -----------------------------------------------------------------------------------
@given(config=linear_configs())
def test_matches_torch(config):
    torch = pytest.importorskip("torch", reason="torch is not installed: the live comparison with "
                                "torch.nn.functional.linear is skipped")
    x, weight, bias, grad_output = _arrays(config)
    ours = _forward_backward(x, weight, bias, grad_output, "numba")
    x_t = torch.tensor(x, requires_grad=True)
    weight_t = torch.tensor(weight, requires_grad=True)
    bias_t = None if bias is None else torch.tensor(bias, requires_grad=True)
    out_t = torch.nn.functional.linear(x_t, weight_t, bias_t)
    out_t.backward(torch.tensor(grad_output))
    theirs = [out_t.detach(), x_t.grad, weight_t.grad, None if bias_t is None else bias_t.grad]
    for a, b in zip(ours, theirs):
        if b is None:
            assert a is None
            continue
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-12)
