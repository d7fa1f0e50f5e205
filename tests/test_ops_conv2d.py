"""Tests of ``tinysr.ops.conv2d``: gradients, tiers and both Numba layouts, dtypes, bad inputs, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit
from strategies import random_array, seeds

from tinysr.gradcheck import gradcheck
from tinysr.ops.conv2d import conv2d_backward, conv2d_forward
from tinysr.ops.cpu.blas import gemm
from tinysr.ops.cpu.conv2d import force

BACKENDS = ["reference", "numba"]


@st.composite
def conv_configs(draw, max_in_channels=20, max_size=9):
    """A valid convolution: shapes, stride and padding (ints or pairs), bias or not, and a seed.

    Sizes are drawn so that the kernel always fits the padded input; strides that leave the last
    rows or columns unused happen often.
    """
    n_images = draw(st.integers(1, 3))
    in_channels = draw(st.integers(1, max_in_channels))
    out_channels = draw(st.integers(1, 5))
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s_h, s_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    p_h, p_w = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    height = draw(st.integers(max(1, k_h - 2 * p_h), max_size))
    width = draw(st.integers(max(1, k_w - 2 * p_w), max_size))
    stride = s_h if s_h == s_w and draw(st.booleans()) else (s_h, s_w)
    padding = p_h if p_h == p_w and draw(st.booleans()) else (p_h, p_w)
    shapes = (n_images, in_channels, height, width), (out_channels, in_channels, k_h, k_w)
    return shapes, stride, padding, draw(st.booleans()), draw(seeds)


def _arrays(config, dtype=np.float64):
    (x_shape, w_shape), stride, padding, has_bias, seed = config
    x = random_array(seed, x_shape).astype(dtype)
    weight = random_array(seed + 1, w_shape).astype(dtype)
    bias = random_array(seed + 2, (w_shape[0],)).astype(dtype) if has_bias else None
    out, _ = conv2d_forward(x, weight, bias, stride, padding, backend="reference")
    grad_output = random_array(seed + 3, out.shape).astype(dtype)
    return x, weight, bias, grad_output


def _forward_backward(x, weight, bias, grad_output, stride, padding, backend):
    out, cache = conv2d_forward(x, weight, bias, stride, padding, backend=backend)
    return (out, *conv2d_backward(grad_output, cache, backend=backend))


# -- the four properties of the op contract --------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@given(config=conv_configs(max_in_channels=4, max_size=6))
def test_gradient_matches_finite_differences(backend, config):
    x, weight, bias, _ = _arrays(config)
    _, stride, padding, _, _ = config
    inputs = (x, weight) if bias is None else (x, weight, bias)
    op = (
        lambda *arrays: conv2d_forward(*arrays, stride=stride, padding=padding, backend=backend),
        lambda grad_output, cache: conv2d_backward(grad_output, cache, backend=backend),
    )
    report = gradcheck(op, *inputs, rtol=1e-6, max_checks_per_tensor=40)
    assert report.max_error <= 1e-6


@pytest.mark.parametrize("layout", ["im2col", "windows"])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@given(config=conv_configs())
def test_numba_tier_matches_reference(layout, dtype, rtol, config):
    _, stride, padding, _, _ = config
    arrays = _arrays(config, dtype)
    with force(layout=layout):
        fast = _forward_backward(*arrays, stride, padding, "numba")
    slow = _forward_backward(*arrays, stride, padding, "reference")
    for name, f, s in zip(["out", "grad_input", "grad_weight", "grad_bias"], fast, slow):
        if s is None:
            assert f is None, name
            continue
        assert f.dtype == dtype and f.shape == s.shape, name
        scale = max(1.0, float(np.abs(s).max()))  # sums of up to C_in*kH*kW*N*H*W terms
        np.testing.assert_allclose(f, s, rtol=rtol, atol=rtol * scale, err_msg=name)


@given(config=conv_configs())
def test_float32_agrees_with_float64(config):
    _, stride, padding, _, _ = config
    results32 = _forward_backward(*_arrays(config, np.float32), stride, padding, "numba")
    results64 = _forward_backward(*_arrays(config, np.float64), stride, padding, "numba")
    for r32, r64 in zip(results32, results64):
        if r64 is None:
            continue
        assert r32.dtype == np.float32
        scale = max(1.0, float(np.abs(r64).max()))
        np.testing.assert_allclose(r32, r64, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("backend", BACKENDS)
@given(config=conv_configs())
def test_inputs_are_not_mutated(backend, config):
    _, stride, padding, _, _ = config
    arrays = _arrays(config)
    copies = [None if a is None else a.copy() for a in arrays]
    _forward_backward(*arrays, stride, padding, backend)
    for a, before in zip(arrays, copies):
        if a is not None:
            assert np.array_equal(a, before)


# -- op-specific properties ----------------------------------------------------------------
def test_known_values():
    # 1 image, 1 channel 3x3, a 2x2 kernel that picks the top-left and bottom-right pixels.
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    weight = np.array([[[[1.0, 0.0], [0.0, 2.0]]]])
    out, cache = conv2d_forward(x, weight, np.array([0.5]))
    np.testing.assert_array_equal(out, [[[[0 + 8 + 0.5, 1 + 10 + 0.5], [3 + 14 + 0.5, 4 + 16 + 0.5]]]])
    grad_input, grad_weight, grad_bias = conv2d_backward(np.ones((1, 1, 2, 2)), cache)
    np.testing.assert_array_equal(grad_input[0, 0], [[1, 1, 0], [1, 3, 2], [0, 2, 2]])
    np.testing.assert_array_equal(grad_weight[0, 0], [[0 + 1 + 3 + 4, 1 + 2 + 4 + 5], [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]])
    np.testing.assert_array_equal(grad_bias, [4.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_skipped_by_the_stride_get_zero_gradient(backend):
    # H = W = 8, k = 3, stride 2, no padding: windows start at rows 0, 2, 4 and cover rows 0..6 only.
    x, weight, bias, _ = _arrays((((2, 3, 8, 8), (4, 3, 3, 3)), 2, 0, True, 5))
    out, cache = conv2d_forward(x, weight, bias, stride=2, backend=backend)
    assert out.shape == (2, 4, 3, 3)
    grad_input = conv2d_backward(np.ones_like(out), cache, backend=backend)[0]
    assert np.all(grad_input[:, :, 7, :] == 0) and np.all(grad_input[:, :, :, 7] == 0)
    assert np.all(grad_input[:, :, 6, :7] != 0) and np.all(grad_input[:, :, :7, 6] != 0)


def test_no_bias_gives_none_gradient():
    x, weight, _, grad_output = _arrays((((2, 3, 6, 5), (4, 3, 3, 3)), 1, 1, False, 0))
    out_without, cache = conv2d_forward(x, weight, None, padding=1)
    assert conv2d_backward(grad_output, cache)[2] is None
    out_with, _ = conv2d_forward(x, weight, np.zeros(4), padding=1)
    np.testing.assert_allclose(out_without, out_with, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_inputs(backend):
    x, weight, bias, grad_output = _arrays((((2, 17, 6, 5), (4, 17, 3, 3)), 1, 1, True, 3))
    x_view = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    weight_view = np.asfortranarray(weight)
    grad_view = np.asfortranarray(grad_output)
    got = _forward_backward(x_view, weight_view, bias, grad_view, 1, 1, backend)
    want = _forward_backward(x, weight, bias, grad_output, 1, 1, "reference")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_batch_bigger_than_thread_count_and_large_image():
    # More images than threads, so each thread sums several images into its partial gradients.
    x, weight, bias, grad_output = _arrays((((7, 18, 13, 11), (5, 18, 3, 5)), 1, (1, 2), True, 11))
    fast = _forward_backward(x, weight, bias, grad_output, 1, (1, 2), "numba")
    slow = _forward_backward(x, weight, bias, grad_output, 1, (1, 2), "reference")
    for f, s in zip(fast, slow):
        np.testing.assert_allclose(f, s, rtol=1e-10, atol=1e-10 * np.abs(s).max())


# -- bad inputs ------------------------------------------------------------------------------
def test_bad_inputs_raise_errors_naming_the_op():
    x, weight, bias, _ = _arrays((((2, 3, 8, 8), (16, 3, 3, 3)), 1, 1, True, 0))
    with pytest.raises(ValueError, match=r"conv2d: expected x with 4 dimensions .* got 3 dimensions"):
        conv2d_forward(x[0], weight, bias)
    with pytest.raises(ValueError, match=r"conv2d: expected weight with 4 dimensions .* got 2 dimensions"):
        conv2d_forward(x, weight.reshape(16, -1), bias)
    with pytest.raises(ValueError, match=r"conv2d: expected weight with 3 input channels to match x of shape "
                       r"\(2, 3, 8, 8\), got weight \(16, 4, 3, 3\)"):
        conv2d_forward(x, np.ones((16, 4, 3, 3)), bias)
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(16,\) .* got bias \(4,\)"):
        conv2d_forward(x, weight, np.ones(4))
    with pytest.raises(ValueError, match=r"conv2d: expected bias with 1 dimensions"):
        conv2d_forward(x, weight, np.ones((16, 1)))
    with pytest.raises(TypeError, match=r"conv2d: expected x with dtype float32 or float64, got dtype int64"):
        conv2d_forward(np.ones((2, 3, 8, 8), dtype=np.int64), weight, bias)
    with pytest.raises(TypeError, match=r"conv2d: expected all arrays to share one dtype .*weight: float32"):
        conv2d_forward(x, weight.astype(np.float32), bias)
    with pytest.raises(ValueError, match=r"conv2d: expected a kernel no larger than the padded input \(10, 4\) "
                       r".* got kernel \(3, 5\)"):
        conv2d_forward(x[:, :, :, :2], np.ones((16, 3, 3, 5)), bias, padding=(1, 1))
    with pytest.raises(ValueError, match=r"conv2d: expected stride >= 1, got 0"):
        conv2d_forward(x, weight, bias, stride=(1, 0))
    with pytest.raises(ValueError, match=r"conv2d: expected padding >= 0, got -1"):
        conv2d_forward(x, weight, bias, padding=-1)
    with pytest.raises(TypeError, match=r"conv2d: expected stride to be an int >= 1, got 1.5"):
        conv2d_forward(x, weight, bias, stride=1.5)
    with pytest.raises(ValueError, match=r"conv2d: unknown backend 'cuda', expected one of 'reference', 'numba'"):
        conv2d_forward(x, weight, bias, backend="cuda")


def test_bad_grad_output_raises():
    x, weight, bias, _ = _arrays((((2, 3, 8, 8), (16, 3, 3, 3)), 2, 1, True, 0))
    _, cache = conv2d_forward(x, weight, bias, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"conv2d: expected grad_output of shape \(2, 16, 4, 4\) "
                                         r"\(the output's\), got \(2, 16, 8, 8\)"):
        conv2d_backward(np.ones((2, 16, 8, 8)), cache)
    with pytest.raises(ValueError, match=r"conv2d: expected grad_output of shape \(2, 16, 4, 4\) .*got \(16, 4, 4\)"):
        conv2d_backward(np.ones((16, 4, 4)), cache)
    with pytest.raises(TypeError, match=r"conv2d: expected grad_output with dtype float64 .*got dtype float32"):
        conv2d_backward(np.ones((2, 16, 4, 4), dtype=np.float32), cache)


# -- PyTorch -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@given(config=conv_configs())
def test_matches_torch(dtype, rtol, config):
    torch = pytest.importorskip("torch", reason="torch is not installed: the live comparison with "
                                "torch.nn.functional.conv2d is skipped")
    _, stride, padding, _, _ = config
    x, weight, bias, grad_output = _arrays(config, dtype)
    ours = _forward_backward(x, weight, bias, grad_output, stride, padding, "numba")
    x_t = torch.tensor(x, requires_grad=True)
    weight_t = torch.tensor(weight, requires_grad=True)
    bias_t = None if bias is None else torch.tensor(bias, requires_grad=True)
    out_t = torch.nn.functional.conv2d(x_t, weight_t, bias_t, stride, padding)
    out_t.backward(torch.tensor(grad_output))
    theirs = [out_t.detach(), x_t.grad, weight_t.grad, None if bias_t is None else bias_t.grad]
    for name, a, b in zip(["out", "grad_input", "grad_weight", "grad_bias"], ours, theirs):
        if b is None:
            assert a is None, name
            continue
        scale = max(1.0, float(b.abs().max()))
        np.testing.assert_allclose(a, b.numpy(), rtol=rtol, atol=rtol * scale, err_msg=name)


# -- the BLAS binding ------------------------------------------------------------------------
@njit
def _call_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m, n, k", [(5, 7, 3), (40, 700, 50), (48, 32, 1086)])
def test_gemm_matches_numpy(dtype, trans_a, trans_b, m, n, k):
    # The larger sizes exceed blas._SMALL_MNK, so gemm cuts them into blocks of columns.
    rng = np.random.default_rng(m + n + k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n + 3)).astype(dtype)  # row stride n + 3: a leading dimension
    want = c.copy()
    want[:, :n] = 0.5 * (a.T if trans_a else a) @ (b.T if trans_b else b) + 2.0 * c[:, :n]
    for call in (_call_gemm, gemm):  # compiled (BLAS), and plain Python (NumPy, NUMBA_DISABLE_JIT)
        got = c.copy()
        call(trans_a, trans_b, m, n, k, 0.5, a.ravel(), a.shape[1], b.ravel(), b.shape[1], 2.0, got.ravel(), n + 3)
        tol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(k))


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((2, 32, 32, 32), (48, 32, 3, 3), 1, 1),   # window layout, every product split into blocks
    ((2, 32, 33, 31), (48, 32, 3, 3), 2, 1),   # window layout with phases
    ((2, 3, 32, 32), (48, 3, 5, 5), 1, 2),     # im2col
])
def test_realistic_sizes_match_reference(x_shape, w_shape, stride, padding):
    x, weight, bias, grad_output = _arrays(((x_shape, w_shape), stride, padding, True, 1))
    fast = _forward_backward(x, weight, bias, grad_output, stride, padding, "numba")
    slow = _forward_backward(x, weight, bias, grad_output, stride, padding, "reference")
    for name, f, s in zip(["out", "grad_input", "grad_weight", "grad_bias"], fast, slow):
        np.testing.assert_allclose(f, s, rtol=1e-10, atol=1e-10 * np.abs(s).max(), err_msg=name)
