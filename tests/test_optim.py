"""Optimizers (tinysr.optim): hand-computed updates, PyTorch agreement, tiers, checkpoints."""

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr import optim
from tinysr.nn.module import Parameter

NO_TORCH = "torch is not installed: skipping the live PyTorch comparison"
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)
learning_rates = st.floats(1e-4, 0.2)
weight_decays = st.sampled_from([0.0, 1e-4, 0.1, 0.5])


def _params(seed: int, shapes_, dtype=np.float64) -> list[Parameter]:
    return [Parameter(random_array(seed + i, shape).astype(dtype)) for i, shape in enumerate(shapes_)]


def _grads(seed: int, params, steps: int) -> list[list[np.ndarray]]:
    """Per step, one gradient per parameter (standard normal, seeded)."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(steps)]


def _run(optimizer, params, grads) -> None:
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        optimizer.step()


# ----------------------------------------------------------------------------- by hand


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_sgd_matches_hand_computed_updates(backend):
    w, b = Parameter(np.array([1.0])), Parameter(np.array([-2.0]))
    sgd = optim.SGD([w, b], lr=0.1, momentum=0.9, weight_decay=0.5, backend=backend)
    w.grad[...], b.grad[...] = 0.4, 1.0
    sgd.step()
    # g = 0.4 + 0.5 * 1 = 0.9; buf = g at the first step; w = 1 - 0.1 * 0.9
    # g = 1.0 + 0.5 * -2 = 0.0;                              b = -2 - 0
    assert w.data[0] == pytest.approx(0.91, rel=1e-15)
    assert b.data[0] == pytest.approx(-2.0, rel=1e-15)
    sgd.step()
    # g = 0.4 + 0.5 * 0.91 = 0.855; buf = 0.9 * 0.9 + 0.855 = 1.665; w = 0.91 - 0.1665
    # g = 1.0 + 0.5 * -2 = 0; buf = 0.9 * 0 + 0 = 0;                   b = -2
    assert w.data[0] == pytest.approx(0.7435, rel=1e-15)
    assert b.data[0] == pytest.approx(-2.0, rel=1e-15)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_adam_matches_hand_computed_updates(backend):
    w, b = Parameter(np.array([1.0])), Parameter(np.array([-2.0]))
    adam = optim.Adam([w, b], lr=0.1, betas=(0.5, 0.75), eps=0.0, backend=backend)
    w.grad[...], b.grad[...] = 2.0, 1.0
    adam.step()
    # step 1: m_hat = g and v_hat = g^2, so every parameter moves by lr * sign(g)
    assert w.data[0] == pytest.approx(0.9, rel=1e-15)
    assert b.data[0] == pytest.approx(-2.1, rel=1e-15)
    w.grad[...], b.grad[...] = 2.0, -1.0
    adam.step()
    # w: m = 0.25*2 + 0.5*2 = 1.5, m_hat = 1.5/0.75 = 2; v = 0.1875*4 + 0.25*4 = 1.75, v_hat = 1.75/0.4375 = 4
    #    w = 0.9 - 0.1 * 2 / 2 = 0.8
    # b: m = 0.25 - 0.5 = -0.25, m_hat = -1/3; v = 0.1875 + 0.25 = 0.4375, v_hat = 1;  b = -2.1 + 0.1/3
    assert w.data[0] == pytest.approx(0.8, rel=1e-15)
    assert b.data[0] == pytest.approx(-2.1 + 0.1 / 3, rel=1e-15)
    assert adam.state[0]["step"] == 2
    assert adam.state[1]["exp_avg"][0] == pytest.approx(-0.25, rel=1e-15)


def test_adam_puts_eps_outside_the_square_root():
    p = Parameter(np.array([0.0]))
    adam = optim.Adam([p], lr=1.0, betas=(0.0, 0.0), eps=1.0)
    p.grad[...] = 4.0
    adam.step()
    # m_hat = 4, sqrt(v_hat) = 4: update 4 / (4 + 1) (eps inside the root would give 4 / sqrt(17))
    assert p.data[0] == pytest.approx(-0.8, rel=1e-15)


# ----------------------------------------------------------------------------- PyTorch, live


@given(seed=seeds, shape_list=st.lists(shapes, min_size=1, max_size=3), lr=learning_rates,
       beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999), eps=st.sampled_from([1e-8, 1e-6, 1e-3]),
       weight_decay=weight_decays, dtype=st.sampled_from([np.float64, np.float32]),
       backend=st.sampled_from(["reference", "numba"]))
def test_adam_matches_torch(seed, shape_list, lr, beta1, beta2, eps, weight_decay, dtype, backend):
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    params = _params(seed, shape_list, dtype)
    torch_params = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in params]
    grads = _grads(seed, params, steps=6)
    ours = optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                      backend=backend)
    theirs = torch.optim.Adam(torch_params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    _run(ours, params, grads)
    for step_grads in grads:
        for tp, g in zip(torch_params, step_grads):
            tp.grad = torch.tensor(g)
        theirs.step()
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for i, (p, tp) in enumerate(zip(params, torch_params)):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=rtol, atol=rtol * lr)
        np.testing.assert_allclose(ours.state[i]["exp_avg"], theirs.state[tp]["exp_avg"].numpy(), rtol=rtol,
                                   atol=rtol)
        np.testing.assert_allclose(ours.state[i]["exp_avg_sq"], theirs.state[tp]["exp_avg_sq"].numpy(),
                                   rtol=rtol, atol=rtol)


@given(seed=seeds, shape_list=st.lists(shapes, min_size=1, max_size=3), lr=learning_rates,
       momentum=st.sampled_from([0.0, 0.5, 0.9, 0.99]), weight_decay=weight_decays,
       dtype=st.sampled_from([np.float64, np.float32]), backend=st.sampled_from(["reference", "numba"]))
def test_sgd_matches_torch(seed, shape_list, lr, momentum, weight_decay, dtype, backend):
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    params = _params(seed, shape_list, dtype)
    torch_params = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in params]
    grads = _grads(seed, params, steps=6)
    ours = optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, backend=backend)
    theirs = torch.optim.SGD(torch_params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    _run(ours, params, grads)
    for step_grads in grads:
        for tp, g in zip(torch_params, step_grads):
            tp.grad = torch.tensor(g)
        theirs.step()
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for p, tp in zip(params, torch_params):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=rtol, atol=rtol)


# ----------------------------------------------------------------------------- tiers and in-place


@pytest.mark.parametrize("name", ["SGD", "Adam"])
@given(seed=seeds, shape_list=st.lists(shapes, min_size=1, max_size=3), lr=learning_rates,
       weight_decay=weight_decays, dtype=st.sampled_from([np.float64, np.float32]))
def test_numba_tier_matches_reference_tier(name, seed, shape_list, lr, weight_decay, dtype):
    kwargs = {"momentum": 0.9} if name == "SGD" else {"betas": (0.8, 0.99)}
    results = []
    for backend in ("reference", "numba"):
        params = _params(seed, shape_list, dtype)
        optimizer = getattr(optim, name)(params, lr=lr, weight_decay=weight_decay, backend=backend, **kwargs)
        _run(optimizer, params, _grads(seed, params, steps=4))
        results.append([p.data for p in params])
    for reference, numba in zip(*results):
        if dtype == np.float64:  # same operations in the same order: identical to the last bit
            np.testing.assert_array_equal(numba, reference)
        else:
            np.testing.assert_allclose(numba, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_step_updates_data_in_place_and_leaves_grad_alone(name, backend):
    params = _params(0, [(2, 3), (4,)])
    arrays = [p.data for p in params]
    optimizer = getattr(optim, name)(params, lr=0.1, weight_decay=0.1, backend=backend)
    before = [a.copy() for a in arrays]
    for p in params:
        p.grad[...] = 1.0
    grads = [p.grad for p in params]
    optimizer.step()
    for p, a, b, g in zip(params, arrays, before, grads):
        assert p.data is a, "step() must update .data in place, never rebind it"
        assert not np.array_equal(a, b)
        assert p.grad is g and np.all(g == 1.0), "step() must not touch .grad"
    optimizer.zero_grad()
    assert all(np.all(p.grad == 0) for p in params) and all(p.grad is g for p, g in zip(params, grads))


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("name", ["SGD", "Adam"])
@pytest.mark.parametrize("backend", ["reference", "numba"])
@given(seed=seeds, before=st.integers(0, 3), dtype=st.sampled_from([np.float64, np.float32]))
def test_state_dict_round_trip_continues_bit_for_bit(name, backend, seed, before, dtype):
    if name == "SGD":
        kwargs = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}
    else:
        kwargs = {"lr": 0.01, "weight_decay": 0.01}
    params = _params(seed, [(3, 2), (5,)], dtype)
    grads = _grads(seed, params, steps=before + 3)
    optimizer = getattr(optim, name)(params, backend=backend, **kwargs)
    _run(optimizer, params, grads[:before])
    saved_state = copy.deepcopy(optimizer.state_dict())
    saved_params = [p.data.copy() for p in params]
    _run(optimizer, params, grads[before:])

    resumed_params = [Parameter(a) for a in saved_params]
    resumed = getattr(optim, name)(resumed_params, lr=123.0, backend=backend)  # lr comes from the state
    resumed.load_state_dict(saved_state)
    _run(resumed, resumed_params, grads[before:])
    for p, q in zip(params, resumed_params):
        np.testing.assert_array_equal(q.data, p.data)


def test_state_dict_holds_copies():
    p = Parameter(np.ones(3))
    adam = optim.Adam([p], lr=0.1)
    p.grad[...] = 1.0
    adam.step()
    state = adam.state_dict()
    assert state["param_groups"][0] == {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                        "params": [0]}
    assert state["state"][0]["step"] == 1
    state["state"][0]["exp_avg"][...] = 99.0
    assert adam.state[0]["exp_avg"][0] != 99.0


def test_load_state_dict_refuses_mismatched_state():
    adam = optim.Adam([Parameter(np.ones(3))], lr=0.1)
    other = optim.Adam([Parameter(np.ones(4))], lr=0.1)
    other.params[0].grad[...] = 1.0
    other.step()
    with pytest.raises(ValueError, match=r"load_state_dict: expected exp_avg of parameter 0 with shape \(3"):
        adam.load_state_dict(other.state_dict())
    two = optim.Adam([Parameter(np.ones(3)), Parameter(np.ones(3))])
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: expected one parameter group of 1 "):
        adam.load_state_dict(two.state_dict())


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -0.1}, r"Adam: invalid lr=-0.1"),
        ({"lr": float("nan")}, r"Adam: invalid lr=nan"),
        ({"betas": (1.0, 0.999)}, r"Adam: invalid betas\[0\]=1.0, expected 0.0 <= betas\[0\] < 1.0"),
        ({"betas": (0.9, -0.1)}, r"Adam: invalid betas\[1\]=-0.1"),
        ({"betas": (0.9,)}, r"Adam: expected betas to be a pair"),
        ({"eps": -1e-8}, r"Adam: invalid eps=-1e-08"),
        ({"weight_decay": -1.0}, r"Adam: invalid weight_decay=-1.0"),
        ({"backend": "cuda"}, r"Adam: unknown backend 'cuda'"),
    ],
)
def test_adam_refuses_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.Adam([Parameter(np.ones(2))], **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, r"SGD: invalid lr=-1.0"),
        ({"lr": 0.1, "momentum": -0.5}, r"SGD: invalid momentum=-0.5"),
        ({"lr": 0.1, "weight_decay": -0.5}, r"SGD: invalid weight_decay=-0.5"),
    ],
)
def test_sgd_refuses_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.SGD([Parameter(np.ones(2))], **kwargs)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_optimizers_refuse_bad_parameter_lists(name):
    cls = getattr(optim, name)
    with pytest.raises(ValueError, match=rf"{name}: got an empty parameter list"):
        cls([], lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: expected Parameter objects, got ndarray at position 1"):
        cls([Parameter(np.ones(2)), np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: expected an iterable of Parameters"):
        cls(Parameter(np.ones(2)), lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: expected lr to be a real number"):
        cls([Parameter(np.ones(2))], lr="0.1")
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match=rf"{name}: a parameter appears more than once"):
        cls([p, p], lr=0.1)


def test_step_refuses_a_grad_of_the_wrong_shape():
    p = Parameter(np.ones(3))
    p.grad = np.ones(4)
    with pytest.raises(ValueError, match=r"SGD: parameter 0 has data of shape \(3,\).*grad of shape \(4,\)"):
        optim.SGD([p], lr=0.1).step()
