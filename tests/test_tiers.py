"""``tinysr.tier``: one rule picks the tier of every op, loss and optimizer, and a learner can choose it.

A whole network gives the same output and the same parameter gradients on the NumPy reference
as on the Numba kernels (float64, within 1e-10); asking for a tier of the other device is an error.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinysr
from tinysr.losses import MSELoss
from tinysr.models import SRCNN, SRResNet
from tinysr.ops import conv2d as conv2d_module
from tinysr.ops.activations import relu_forward
from tinysr.ops.cpu import conv2d as cpu_conv2d
from tinysr.optim import Adam
from tinysr.tiers import choose_tier, current_tier


def _step(model, x, y, tier):
    """Forward, MSE loss, backward and one Adam step on ``tier``: (output, loss, {name: grad}, {name: new value})."""
    criterion, optimizer = MSELoss(), Adam(model.parameters(), lr=1e-3)
    with tinysr.tier(tier):
        optimizer.zero_grad()
        out = model.forward(x)
        loss = criterion.forward(out, y)
        model.backward(criterion.backward())
        grads = {name: p.grad.copy() for name, p in model.named_parameters()}
        optimizer.step()
    return out, loss, grads, model.state_dict()


@pytest.mark.parametrize("build, lr_shape, hr_shape", [
    (lambda: SRCNN.preset("9-5-5", channels=1, rng=0), (2, 1, 17, 15), (2, 1, 17, 15)),
    (lambda: SRResNet(scale=2, num_blocks=2, num_features=8, rng=0), (2, 3, 9, 8), (2, 3, 18, 16)),
], ids=["srcnn_9_5_5", "small_srresnet"])
def test_a_whole_network_is_the_same_on_the_reference_and_numba_tiers(build, lr_shape, hr_shape, monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.random(lr_shape), rng.random(hr_shape)
    ran = []  # which conv2d tier ran: the comparison means nothing if the block were ignored
    for tier, module in (("reference", conv2d_module), ("numba", cpu_conv2d)):
        function = getattr(module, f"conv2d_backward_{tier}")
        monkeypatch.setattr(module, f"conv2d_backward_{tier}", lambda *a, f=function, t=tier: ran.append(t) or f(*a))
    results = {}
    for tier in ("reference", "numba"):
        ran.clear()
        results[tier] = _step(build().astype(np.float64), x, y, tier)
        assert set(ran) == {tier}
    (out_r, loss_r, grads_r, after_r), (out_n, loss_n, grads_n, after_n) = results["reference"], results["numba"]
    np.testing.assert_allclose(out_n, out_r, rtol=1e-10, atol=1e-12)
    assert loss_n == pytest.approx(loss_r, rel=1e-10)
    assert grads_n.keys() == grads_r.keys() and len(grads_r) > 0
    scale = max(float(np.abs(g).max()) for g in grads_r.values())
    for name in grads_r:
        np.testing.assert_allclose(grads_n[name], grads_r[name], rtol=1e-10, atol=1e-10 * scale, err_msg=name)
        if np.abs(grads_r[name]).max() < 1e-10 * scale:
            # a conv bias followed by BatchNorm: its gradient is zero in exact arithmetic (the batch
            # mean removes it), so both tiers hold rounding noise, which Adam turns into +-lr steps
            continue
        np.testing.assert_allclose(after_n[name], after_r[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_block_reaches_every_op_and_backend_wins_over_it(monkeypatch):
    calls = []
    reference = conv2d_module.conv2d_forward_reference
    monkeypatch.setattr(conv2d_module, "conv2d_forward_reference",
                        lambda *a: calls.append("reference") or reference(*a))
    model = SRCNN(channels=1, n1=4, n2=2, f1=3, f2=1, f3=3, rng=0)
    x = np.zeros((1, 1, 6, 6), np.float32)
    model.forward(x)
    assert calls == []  # the default is the fastest tier
    with tinysr.tier("reference"):
        assert current_tier() == "reference"
        model.forward(x)
        assert calls == ["reference"] * 3
        conv2d_module.conv2d_forward(x, np.ones((1, 1, 3, 3), np.float32), None, backend="numba")
        assert len(calls) == 3  # an explicit backend= wins over the block
        with tinysr.tier("numba"):  # the innermost block wins
            model.forward(x)
            assert len(calls) == 3
    assert current_tier() is None


def test_cuda_for_numpy_arrays_and_unknown_tiers_are_errors_that_say_so():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"relu: unknown tinysr.tier 'cuda', expected one of 'reference', "
                                         r"'numba' for NumPy arrays \('cuda' runs on GPU arrays"):
        with tinysr.tier("cuda"):
            relu_forward(x)
    with pytest.raises(ValueError, match=r"tinysr.tier: unknown tier 'gpu', expected one of 'reference', "
                                         r"'numba', 'cuda'"):
        with tinysr.tier("gpu"):
            pass
    with pytest.raises(ValueError, match=r"Adam: unknown tinysr.tier 'cuda'"):
        model = SRCNN(channels=1, n1=4, n2=2, f1=3, f2=1, f3=3, rng=0)
        optimizer = Adam(model.parameters())
        with tinysr.tier("cuda"):
            optimizer.step()
    assert choose_tier(x, None, "op") == "numba" and choose_tier(x, "reference", "op") == "reference"


def test_cached_numba_kernels_older_than_their_rules_are_dropped(tmp_path):
    # a kernel of cpu/losses.py cached before losses.py was edited must be compiled afresh
    import os

    from tinysr.ops.cpu import drop_stale_caches

    ops, cache = tmp_path / "ops", tmp_path / "ops" / "cpu" / "__pycache__"
    cache.mkdir(parents=True)
    rules = ops / "losses.py"
    rules.write_text("def mse(p, y): ...\n")
    stale, fresh, other = (cache / "losses._mse_sum-24.py311.nbi", cache / "losses._l1_sum-31.py311.nbc",
                           cache / "activations._relu_map-30.py311.nbi")
    for path in (stale, fresh, other):
        path.write_bytes(b"")
    os.utime(stale, (1000, 1000))
    os.utime(other, (1000, 1000))  # old, but activations.py is not in this folder: kept
    os.utime(rules, (2000, 2000))
    os.utime(fresh, (3000, 3000))
    assert drop_stale_caches(ops, cache) == [stale]
    assert not stale.exists() and fresh.exists() and other.exists()
    # cpu/prelu.py compiles leaky ReLU's rules from activations.py: editing that file drops its kernels too
    prelu_rules, activation_rules = ops / "prelu.py", ops / "activations.py"
    prelu_cached = cache / "prelu._prelu_map-21.py311.nbi"
    for path in (prelu_rules, activation_rules, prelu_cached):
        path.write_bytes(b"")
    os.utime(prelu_rules, (1000, 1000))
    os.utime(prelu_cached, (2000, 2000))
    os.utime(activation_rules, (3000, 3000))
    os.utime(other, (4000, 4000))
    assert drop_stale_caches(ops, cache) == [prelu_cached]
