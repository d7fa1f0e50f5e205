"""Loss ops (tinysr.ops.losses) and loss classes (tinysr.losses).

Properties: analytic gradient == finite differences (float64), numba tier == reference tier,
float32 agrees with float64, inputs not mutated, agreement with PyTorch, and the edge cases
that PyTorch pins down (BCE's clamp at p in {0, 1}, logits of +-1e4, sign(0) = 0 for L1).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr import losses
from tinysr.gradcheck import gradcheck
from tinysr.ops import losses as ops

NO_TORCH = "torch is not installed: skipping the live PyTorch comparison"
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def _inputs(name: str, seed: int, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Valid (prediction, target) for each loss, kept away from kinks for finite differences."""
    rng = np.random.default_rng(seed)
    target = rng.uniform(0.0, 1.0, size=shape)
    if name == "mse_loss":
        return random_array(seed + 1, shape, low=-2, high=2), target
    if name == "l1_loss":  # |p - y| >= 0.05: finite differences never straddle the kink
        return target + random_array(seed + 1, shape, away_from_zero=0.05), target
    if name == "bce_loss":
        return random_array(seed + 1, shape, low=0.05, high=0.95), target
    return random_array(seed + 1, shape, low=-6, high=6), target  # logits


NAMES = ["mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss"]


def _ops(name):
    return getattr(ops, name + "_forward"), getattr(ops, name + "_backward")


@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds, shape=shapes)
def test_gradient_matches_finite_differences(name, seed, shape):
    forward, backward = _ops(name)
    prediction, target = _inputs(name, seed, shape)
    gradcheck((lambda p: forward(p, target), backward), prediction, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(seed=seeds, shape=shapes, grad_output=st.floats(-3, 3))
def test_numba_matches_reference(name, dtype, seed, shape, grad_output):
    forward, backward = _ops(name)
    prediction, target = (a.astype(dtype) for a in _inputs(name, seed, shape))
    loss_ref, cache_ref = forward(prediction, target, backend="reference")
    loss_nb, cache_nb = forward(prediction, target, backend="numba")
    assert isinstance(loss_nb, float) and isinstance(loss_ref, float)
    assert loss_nb == pytest.approx(loss_ref, rel=1e-12, abs=1e-15)
    grad_ref = backward(grad_output, cache_ref, backend="reference")
    grad_nb = backward(grad_output, cache_nb, backend="numba")
    assert grad_nb.dtype == grad_ref.dtype == dtype and grad_nb.shape == shape
    tolerance = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(grad_nb, grad_ref, rtol=tolerance, atol=tolerance * np.abs(grad_ref).max())


@pytest.mark.parametrize("name", NAMES)
@given(seed=seeds, shape=shapes)
def test_float32_agrees_with_float64(name, seed, shape):
    forward, backward = _ops(name)
    prediction, target = _inputs(name, seed, shape)
    p32, t32 = prediction.astype(np.float32), target.astype(np.float32)
    loss64, cache64 = forward(prediction, target)
    loss32, cache32 = forward(p32, t32)
    assert loss32 == pytest.approx(loss64, rel=1e-5, abs=1e-6)
    grad64, grad32 = backward(1.0, cache64), backward(1.0, cache32)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-6 * np.abs(grad64).max())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", ["reference", "numba"])
@given(seed=seeds, shape=shapes)
def test_inputs_not_mutated(name, backend, seed, shape):
    forward, backward = _ops(name)
    prediction, target = _inputs(name, seed, shape)
    saved = prediction.copy(), target.copy()
    _, cache = forward(prediction, target, backend=backend)
    backward(0.7, cache, backend=backend)
    np.testing.assert_array_equal(prediction, saved[0])
    np.testing.assert_array_equal(target, saved[1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", ["reference", "numba"])
@given(seed=seeds, shape=shapes, grad_output=st.floats(-3, 3))
def test_matches_torch(name, backend, seed, shape, grad_output):
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    function = {
        "mse_loss": torch.nn.functional.mse_loss,
        "l1_loss": torch.nn.functional.l1_loss,
        "bce_loss": torch.nn.functional.binary_cross_entropy,
        "bce_with_logits_loss": torch.nn.functional.binary_cross_entropy_with_logits,
    }[name]
    forward, backward = _ops(name)
    prediction, target = _inputs(name, seed, shape)
    loss, cache = forward(prediction, target, backend=backend)
    grad = backward(grad_output, cache, backend=backend)
    p = torch.tensor(prediction, requires_grad=True)
    expected = function(p, torch.tensor(target))
    expected.backward(torch.tensor(grad_output, dtype=torch.float64))
    assert loss == pytest.approx(expected.item(), rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_clamp_at_zero_and_one_like_torch(backend, dtype):
    p = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=dtype)
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 0.7], dtype=dtype)
    loss, cache = ops.bce_loss_forward(p, y, backend=backend)
    grad = ops.bce_loss_backward(1.0, cache, backend=backend)
    # each log is clamped at -100: the per-element losses are 0, 100, 100, 0, 30, 30
    assert loss == pytest.approx((0 + 100 + 100 + 0 + 30 + 30) / 6, rel=1e-7)
    assert np.all(np.isfinite(grad))
    # PyTorch: (p - y) / max(p (1 - p), EPSILON) / n with EPSILON the float32 nearest 1e-12
    expected = (p.astype(np.float64) - y.astype(np.float64)) / float(np.float32(1e-12)) / 6
    np.testing.assert_allclose(grad, expected.astype(dtype), rtol=1e-6)
    assert grad[1] == pytest.approx(-1.000000003995803e12 / 6, rel=1e-6)
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    tp = torch.tensor(p, requires_grad=True)
    torch.nn.functional.binary_cross_entropy(tp, torch.tensor(y)).backward()
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_is_finite_and_right_at_huge_logits(backend, dtype):
    z = np.array([1e4, -1e4, 1e4, -1e4, 0.0, 800.0], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.25], dtype=dtype)
    loss, cache = ops.bce_with_logits_loss_forward(z, y, backend=backend)
    grad = ops.bce_with_logits_loss_backward(1.0, cache, backend=backend)
    # per element: 1e4, 1e4, 0, 0, log 2, 0.75 * 800
    expected_loss = (1e4 + 1e4 + np.log(2.0) + 600.0) / 6
    assert np.isfinite(loss) and loss == pytest.approx(expected_loss, rel=1e-12)
    expected_grad = np.array([1.0, -1.0, 0.0, 0.0, 0.0, 0.75]) / 6
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, expected_grad.astype(dtype), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_l1_gradient_is_zero_where_prediction_equals_target(backend):
    p = np.array([1.0, 2.0, -3.0, 0.5])
    y = np.array([1.0, 1.0, -3.0, 1.0])
    _, cache = ops.l1_loss_forward(p, y, backend=backend)
    np.testing.assert_array_equal(ops.l1_loss_backward(1.0, cache, backend=backend), [0.0, 0.25, 0.0, -0.25])


def test_backward_takes_a_0d_array_or_a_float():
    p, y = np.array([0.5, 1.5]), np.array([1.0, 1.0])
    _, cache = ops.mse_loss_forward(p, y)
    as_array = ops.mse_loss_backward(np.array(2.0), cache)
    np.testing.assert_array_equal(as_array, ops.mse_loss_backward(2.0, cache))
    np.testing.assert_array_equal(ops.mse_loss_backward(1.0, cache), [-0.5, 0.5])


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_naming_the_op(name):
    forward, backward = _ops(name)
    good = np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match=rf"{name}: .*same shape.*\(2, 3\).*\(3, 2\)"):
        forward(good, np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=rf"{name}: .*same shape"):
        forward(good, np.full((1, 3), 0.5))  # no broadcasting
    with pytest.raises(TypeError, match=rf"{name}: .*dtype float32 or float64, got dtype int64"):
        forward(np.ones((2, 3), dtype=np.int64), good)
    with pytest.raises(TypeError, match=rf"{name}: .*one dtype.*float64.*float32"):
        forward(good, good.astype(np.float32))
    with pytest.raises(TypeError, match=rf"{name}: .*numpy.ndarray.*got list"):
        forward([0.5], np.array([0.5]))
    with pytest.raises(ValueError, match=rf"{name}: .*non-empty"):
        forward(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match=rf"{name}: unknown backend 'cuda'"):
        forward(good, good, backend="cuda")
    _, cache = forward(good, good)
    with pytest.raises(ValueError, match=rf"{name}: expected grad_output to be a scalar.*\(2, 3\)"):
        backward(np.ones((2, 3)), cache)
    with pytest.raises(TypeError, match=rf"{name}: expected grad_output to be a real number"):
        backward("1.0", cache)


def test_bce_refuses_values_outside_the_unit_interval():
    good = np.full(3, 0.5)
    with pytest.raises(ValueError, match=r"bce_loss: .*target in \[0, 1\].*1\.5"):
        ops.bce_loss_forward(good, np.array([0.0, 1.5, 0.5]))
    with pytest.raises(ValueError, match=r"bce_loss: .*prediction in \[0, 1\].*bce_with_logits_loss.*-0\.1"):
        ops.bce_loss_forward(np.array([-0.1, 0.5, 0.5]), good)
    with pytest.raises(ValueError, match=r"bce_loss: .*prediction in \[0, 1\].*NaN"):
        ops.bce_loss_forward(np.array([np.nan, 0.5, 0.5]), good)


# ----------------------------------------------------------------------------- the classes

CLASSES = {
    "mse_loss": losses.MSELoss,
    "l1_loss": losses.L1Loss,
    "bce_loss": losses.BCELoss,
    "bce_with_logits_loss": losses.BCEWithLogitsLoss,
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_loss_class_calls_the_ops(name, backend):
    forward, backward = _ops(name)
    prediction, target = _inputs(name, 3, (2, 3))
    criterion = CLASSES[name](backend=backend)
    loss = criterion(prediction, target)
    expected, cache = forward(prediction, target, backend=backend)
    assert isinstance(loss, float) and loss == expected
    np.testing.assert_array_equal(criterion.backward(), backward(1.0, cache, backend=backend))
    np.testing.assert_array_equal(criterion.backward(0.5), backward(0.5, cache, backend=backend))
    assert criterion.forward(prediction, target) == loss


@pytest.mark.parametrize("name", NAMES)
def test_loss_class_backward_before_forward_raises(name):
    with pytest.raises(RuntimeError, match=r"before forward\(\).*call forward"):
        CLASSES[name]().backward()


def test_loss_class_refuses_unknown_backend():
    with pytest.raises(ValueError, match=r"MSELoss: unknown backend 'gpu'"):
        losses.MSELoss(backend="gpu")
