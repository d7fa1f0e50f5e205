"""Tests of ``tinysr.ops.pixel_shuffle``: index formula, inverse pair, gradients, tiers, bad inputs, PyTorch."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr.gradcheck import gradcheck
from tinysr.ops.pixel_shuffle import (
    pixel_shuffle_backward,
    pixel_shuffle_forward,
    pixel_unshuffle_backward,
    pixel_unshuffle_forward,
)

BACKENDS = ["reference", "numba"]
OPS = {
    "pixel_shuffle": (pixel_shuffle_forward, pixel_shuffle_backward),
    "pixel_unshuffle": (pixel_unshuffle_forward, pixel_unshuffle_backward),
}


@st.composite
def shuffle_configs(draw):
    """A factor r, leading batch dims (0 to 2 of them), C, H, W and a seed, valid for both ops:
    the shuffle input is ``(*, C * r * r, H, W)``, the unshuffle input ``(*, C, H * r, W * r)``."""
    r = draw(st.integers(1, 3))
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return r, batch, c, h, w, draw(seeds)


def _input(name, config, dtype=np.float64):
    r, batch, c, h, w, seed = config
    shape = (*batch, c * r * r, h, w) if name == "pixel_shuffle" else (*batch, c, h * r, w * r)
    return random_array(seed, shape).astype(dtype)


def _run(name, x, r, backend, seed=0):
    forward, backward = OPS[name]
    out, cache = forward(x, r, backend=backend)
    grad_output = random_array(seed + 1, out.shape).astype(x.dtype)
    return out, grad_output, backward(grad_output, cache, backend=backend)


# -- the properties of the op contract -------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", OPS)
@given(config=shuffle_configs())
def test_gradient_matches_finite_differences(name, backend, config):
    forward, backward = OPS[name]
    r = config[0]
    op = (lambda a: forward(a, r, backend=backend), lambda g, cache: backward(g, cache, backend=backend))
    assert gradcheck(op, _input(name, config), rtol=1e-6).max_error <= 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPS)
@given(config=shuffle_configs())
def test_numba_matches_reference_exactly(name, dtype, config):
    """A permutation moves values without arithmetic: the tiers agree bit for bit, in both dtypes
    (so float32 agrees with float64 exactly too)."""
    x = _input(name, config, dtype)
    expected = _run(name, x, config[0], "reference")
    got = _run(name, x, config[0], "numba")
    for e, g in zip(expected, got):
        assert g.dtype == dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)
    x64 = _input(name, config)
    np.testing.assert_array_equal(got[0], _run(name, x64, config[0], "numba")[0].astype(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", OPS)
@given(config=shuffle_configs())
def test_inputs_not_mutated(name, backend, config):
    x = _input(name, config)
    saved = x.copy()
    forward, backward = OPS[name]
    out, cache = forward(x, config[0], backend=backend)
    grad_output = out.copy()
    grad_input = backward(grad_output, cache, backend=backend)
    np.testing.assert_array_equal(x, saved)
    np.testing.assert_array_equal(grad_output, out)
    # Outputs are fresh arrays, even where the permutation is the identity (r = 1).
    assert not np.shares_memory(out, x) and not np.shares_memory(grad_input, grad_output)


# -- op-specific properties ------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@given(config=shuffle_configs())
def test_shuffle_and_unshuffle_are_inverse(backend, config):
    r = config[0]
    x = _input("pixel_shuffle", config)
    shuffled, _ = pixel_shuffle_forward(x, r, backend=backend)
    np.testing.assert_array_equal(pixel_unshuffle_forward(shuffled, r, backend=backend)[0], x)
    y = _input("pixel_unshuffle", config)
    unshuffled, _ = pixel_unshuffle_forward(y, r, backend=backend)
    np.testing.assert_array_equal(pixel_shuffle_forward(unshuffled, r, backend=backend)[0], y)


@pytest.mark.parametrize("backend", BACKENDS)
@given(config=shuffle_configs())
def test_index_formula(backend, config):
    """``out[n, c, h * r + i, w * r + j] == x[n, c * r * r + i * r + j, h, w]``, element by element."""
    r, _, c_out, height, width, _ = config
    x = _input("pixel_shuffle", config).reshape(-1, c_out * r * r, height, width)
    out, _ = pixel_shuffle_forward(x, r, backend=backend)
    assert out.shape == (x.shape[0], c_out, height * r, width * r)
    for n in range(x.shape[0]):
        for c in range(c_out):
            for i in range(r):
                for j in range(r):
                    for h in range(height):
                        for w in range(width):
                            assert out[n, c, h * r + i, w * r + j] == x[n, c * r * r + i * r + j, h, w]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", OPS)
@given(config=shuffle_configs())
def test_backward_is_the_adjoint(name, backend, config):
    """``<grad_output, f(x)> == <f^T(grad_output), x>``: the backward of a permutation is its inverse."""
    x = _input(name, config)
    out, grad_output, grad_input = _run(name, x, config[0], backend, seed=config[-1])
    assert grad_input.shape == x.shape
    np.testing.assert_allclose(np.sum(grad_output * out), np.sum(grad_input * x), rtol=1e-12, atol=1e-12)
    other = "pixel_unshuffle" if name == "pixel_shuffle" else "pixel_shuffle"
    np.testing.assert_array_equal(grad_input, OPS[other][0](grad_output, config[0], backend=backend)[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_factor_one_is_the_identity(backend):
    x = random_array(0, (2, 3, 4, 5))
    for name in OPS:
        out, _ = OPS[name][0](x, 1, backend=backend)
        np.testing.assert_array_equal(out, x)


# -- bad inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, x, r, error, message",
    [
        ("pixel_shuffle", np.ones((2, 3, 4, 4)), 2, ValueError,
         (r"pixel_shuffle: expected the channel count of x to be divisible by upscale_factor\*\*2 = 4, "
          r"got x of shape \(2, 3, 4, 4\) with 3 channels")),
        ("pixel_unshuffle", np.ones((2, 3, 5, 4)), 2, ValueError,
         (r"pixel_unshuffle: expected the height and width of x to be divisible by downscale_factor = 2, "
          r"got x of shape \(2, 3, 5, 4\)")),
        ("pixel_unshuffle", np.ones((2, 3, 4, 3)), 2, ValueError, r"pixel_unshuffle: .*got x of shape \(2, 3, 4, 3\)"),
        ("pixel_shuffle", np.ones((2, 4, 4, 4)), 0, ValueError, r"pixel_shuffle: expected upscale_factor >= 1, got 0"),
        ("pixel_unshuffle", np.ones((2, 4, 4, 4)), -2, ValueError,
         r"pixel_unshuffle: expected downscale_factor >= 1, got -2"),
        ("pixel_shuffle", np.ones((2, 4, 4, 4)), 2.0, TypeError,
         r"pixel_shuffle: expected upscale_factor to be an int >= 1, got 2.0"),
        ("pixel_shuffle", np.ones((4, 4)), 2, ValueError,
         r"pixel_shuffle: expected x with at least 3 dimensions \(\*, C, H, W\), got shape \(4, 4\)"),
        ("pixel_unshuffle", np.ones((1, 4, 4, 4), dtype=np.int32), 2, TypeError,
         r"pixel_unshuffle: expected x with dtype float32 or float64, got dtype int32"),
    ],
)
def test_rejects_bad_inputs(name, x, r, error, message):
    with pytest.raises(error, match=message):
        OPS[name][0](x, r)


@pytest.mark.parametrize("name", OPS)
def test_rejects_bad_grad_output_and_backend(name):
    forward, backward = OPS[name]
    out, cache = forward(np.ones((1, 4, 4, 4)), 2)
    with pytest.raises(ValueError, match=re.escape(f"{name}: expected grad_output of shape {out.shape}")):
        backward(np.ones((1, 4, 4, 5)), cache)
    with pytest.raises(TypeError, match=rf"{name}: expected grad_output with dtype float64 to match the forward "
                                        r"input, got dtype float32"):
        backward(out.astype(np.float32), cache)
    with pytest.raises(ValueError, match=rf"{name}: unknown backend 'cuda', expected one of 'reference', 'numba'"):
        forward(np.ones((1, 4, 4, 4)), 2, backend="cuda")


# -- PyTorch, when it is installed -----------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", OPS)
@given(config=shuffle_configs())
def test_matches_pytorch(name, backend, config):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: skipping the live comparison")
    x = _input(name, config)
    out, grad_output, grad_input = _run(name, x, config[0], backend, seed=config[-1])
    x_t = torch.tensor(x, requires_grad=True)
    out_t = getattr(torch.nn.functional, name)(x_t, config[0])
    out_t.backward(torch.tensor(grad_output))
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_array_equal(grad_input, x_t.grad.numpy())
