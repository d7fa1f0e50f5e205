"""Tests of the shape-level ops: ``tinysr.ops.flatten`` and the residual ``tinysr.ops.add``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr.gradcheck import gradcheck
from tinysr.ops.add import add_backward, add_forward
from tinysr.ops.flatten import flatten_backward, flatten_forward

BACKENDS = ["reference", "numba"]

# (N, *) with 2 to 4 dimensions, small sizes
shapes = st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple)


def _pair(op_forward, op_backward, backend):
    return (
        lambda *arrays: op_forward(*arrays, backend=backend),
        lambda grad_output, cache: op_backward(grad_output, cache, backend=backend),
    )


# -- flatten -----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@given(shape=shapes, seed=seeds)
def test_flatten_gradient_matches_finite_differences(backend, shape, seed):
    report = gradcheck(_pair(flatten_forward, flatten_backward, backend), random_array(seed, shape))
    assert report.max_error <= 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(shape=shapes, seed=seeds)
def test_flatten_tiers_agree_and_match_numpy(dtype, shape, seed):
    x = random_array(seed, shape).astype(dtype)
    grad_output = random_array(seed + 1, (shape[0], math.prod(shape[1:]))).astype(dtype)
    x_before = x.copy()
    results = {}
    for backend in BACKENDS:
        out, cache = flatten_forward(x, backend=backend)
        grad_input = flatten_backward(grad_output, cache, backend=backend)
        assert out.dtype == dtype and grad_input.dtype == dtype and grad_input.shape == shape
        results[backend] = (out, grad_input)
    # C order, exactly as torch.flatten(x, start_dim=1): a pure rearrangement, so exact equality
    np.testing.assert_array_equal(results["numba"][0], x.reshape(shape[0], -1))
    np.testing.assert_array_equal(results["numba"][1], grad_output.reshape(shape))
    for a, b in zip(results["numba"], results["reference"]):
        np.testing.assert_array_equal(a, b)
    assert np.array_equal(x, x_before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flatten_output_is_a_copy(backend):
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    out, _ = flatten_forward(x, backend=backend)
    out[...] = -1
    assert x[0, 0, 0] == 0


def test_flatten_non_contiguous_input():
    x = random_array(0, (3, 4, 5)).transpose(0, 2, 1)  # a view with permuted strides
    for backend in BACKENDS:
        out, _ = flatten_forward(x, backend=backend)
        np.testing.assert_array_equal(out, x.reshape(3, 20))


def test_flatten_bad_inputs():
    with pytest.raises(ValueError, match=r"flatten: expected x with at least 2 dimensions \(N, \*\), got shape \(5,\)"):
        flatten_forward(np.ones(5))
    with pytest.raises(TypeError, match=r"flatten: expected x with dtype float32 or float64, got dtype int32"):
        flatten_forward(np.ones((2, 3), dtype=np.int32))
    with pytest.raises(ValueError, match=r"flatten: unknown backend 'gpu'"):
        flatten_forward(np.ones((2, 3)), backend="gpu")
    _, cache = flatten_forward(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"flatten: expected grad_output of shape \(2, 12\) .* got \(2, 3, 4\)"):
        flatten_backward(np.ones((2, 3, 4)), cache)
    with pytest.raises(TypeError, match=r"flatten: expected grad_output with dtype float64 .* got dtype float32"):
        flatten_backward(np.ones((2, 12), dtype=np.float32), cache)


# -- add ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@given(shape=shapes, seed=seeds)
def test_add_gradient_matches_finite_differences(backend, shape, seed):
    a, b = random_array(seed, shape), random_array(seed + 1, shape)
    report = gradcheck(_pair(add_forward, add_backward, backend), a, b)
    assert report.max_error <= 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(shape=shapes, seed=seeds)
def test_add_tiers_agree_and_inputs_are_not_mutated(dtype, shape, seed):
    a, b = random_array(seed, shape).astype(dtype), random_array(seed + 1, shape).astype(dtype)
    grad_output = random_array(seed + 2, shape).astype(dtype)
    before = [a.copy(), b.copy(), grad_output.copy()]
    for backend in BACKENDS:
        out, cache = add_forward(a, b, backend=backend)
        grad_a, grad_b = add_backward(grad_output, cache, backend=backend)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, a + b)  # one rounding per element in every tier
        np.testing.assert_array_equal(grad_a, grad_output)
        np.testing.assert_array_equal(grad_b, grad_output)
        assert grad_a is not grad_output and not np.shares_memory(grad_a, grad_b)
    for array, copy in zip((a, b, grad_output), before):
        assert np.array_equal(array, copy)


@given(shape=shapes, seed=seeds)
def test_add_float32_agrees_with_float64(shape, seed):
    a, b = random_array(seed, shape), random_array(seed + 1, shape)
    out64, _ = add_forward(a, b)
    out32, _ = add_forward(a.astype(np.float32), b.astype(np.float32))
    np.testing.assert_allclose(out32, out64, rtol=1e-6, atol=1e-6)


def test_add_refuses_broadcasting_and_bad_inputs():
    a = np.ones((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"add: expected b of the same shape as a \(2, 3, 4, 4\) \(no broadcasting\), "
                       r"got b \(1, 3, 4, 4\)"):
        add_forward(a, np.ones((1, 3, 4, 4)))
    with pytest.raises(TypeError, match=r"add: expected all arrays to share one dtype .*b: float32"):
        add_forward(a, a.astype(np.float32))
    with pytest.raises(TypeError, match=r"add: expected b with dtype float32 or float64, got dtype bool"):
        add_forward(a, a > 0)
    with pytest.raises(ValueError, match=r"add: unknown backend"):
        add_forward(a, a, backend="fast")
    _, cache = add_forward(a, a)
    with pytest.raises(ValueError, match=r"add: expected grad_output of shape \(2, 3, 4, 4\) .* got \(2, 3, 4\)"):
        add_backward(np.ones((2, 3, 4)), cache)
    with pytest.raises(TypeError, match=r"add: expected grad_output with dtype float64 .* got dtype float32"):
        add_backward(a.astype(np.float32), cache)
