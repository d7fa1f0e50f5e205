"""tinysr against PyTorch reference values stored in ``tests/reference/*.npz``.

The fixtures were computed by PyTorch in float64 (``tests/reference/make_fixtures.py``); these
tests need no PyTorch. Each layer is rebuilt in tinysr with the same parameters and buffers, run
forward and backward with the stored upstream gradient, and every array is compared: in float64
to ~1e-10, and in float32 to float32 precision.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinysr import losses, nn, optim

REFERENCE = Path(__file__).parent / "reference"


def _fixtures(kind: str) -> list[Path]:
    found = []
    for path in sorted(REFERENCE.glob("*.npz")):
        with np.load(path) as data:
            if kind in json.loads(str(data["config"])):
                found.append(path)
    return found


LAYER_FIXTURES = _fixtures("layer")
LOSS_FIXTURES = _fixtures("loss")
OPTIMIZER_FIXTURES = _fixtures("optimizer")


def test_fixtures_are_present():
    # Guards against a glob that silently matches nothing and parametrises zero tests.
    assert len(LAYER_FIXTURES) >= 20 and len(LOSS_FIXTURES) == 4 and len(OPTIMIZER_FIXTURES) == 4


def _build_layer(config: dict, data, dtype) -> nn.Module:
    layer = getattr(nn, config["layer"])(**config["kwargs"]).astype(dtype)
    layer.train(config["training"])
    state = {}
    for key in data.files:
        if key.startswith("param."):
            state[key.removeprefix("param.")] = data[key].astype(dtype)
        elif key.startswith("buffer_before."):
            value = data[key]
            state[key.removeprefix("buffer_before.")] = value.astype(dtype) if value.dtype.kind == "f" else value
    layer.load_state_dict(state)
    return layer


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-10, 1e-12), (np.float32, 2e-4, 2e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("path", LAYER_FIXTURES, ids=lambda p: p.stem)
def test_layer_matches_pytorch(path, dtype, rtol, atol):
    with np.load(path) as data:
        config = json.loads(str(data["config"]))
        layer = _build_layer(config, data, dtype)
        x = data["input"].astype(dtype)
        x_before = x.copy()
        out = layer.forward(x)
        grad_input = layer.backward(data["grad_output"].astype(dtype))

        assert out.dtype == dtype and grad_input.dtype == dtype
        np.testing.assert_allclose(out, data["output"], rtol=rtol, atol=atol, err_msg="output")
        np.testing.assert_allclose(grad_input, data["grad_input"], rtol=rtol, atol=atol, err_msg="grad_input")
        params = dict(layer.named_parameters())
        expected_grads = [k for k in data.files if k.startswith("grad.")]
        assert sorted(params) == sorted(k.removeprefix("grad.") for k in expected_grads)
        for key in expected_grads:
            name = key.removeprefix("grad.")
            np.testing.assert_allclose(params[name].grad, data[key], rtol=rtol, atol=atol, err_msg=key)
            # backward never changes the parameters themselves
            np.testing.assert_array_equal(params[name].data, data[f"param.{name}"].astype(dtype))
        buffers = dict(layer.named_buffers())
        for key in (k for k in data.files if k.startswith("buffer_after.")):
            name = key.removeprefix("buffer_after.")
            assert buffers[name].dtype == (dtype if data[key].dtype.kind == "f" else data[key].dtype), key
            np.testing.assert_allclose(buffers[name], data[key], rtol=rtol, atol=atol, err_msg=key)
        np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-10, 1e-12), (np.float32, 1e-4, 1e-6)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("path", LOSS_FIXTURES, ids=lambda p: p.stem)
def test_loss_matches_pytorch(path, dtype, rtol, atol):
    with np.load(path) as data:
        config = json.loads(str(data["config"]))
        criterion = getattr(losses, config["loss"])()
        loss = criterion.forward(data["prediction"].astype(dtype), data["target"].astype(dtype))
        grad = criterion.backward()
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        np.testing.assert_allclose(loss, data["loss"], rtol=rtol, atol=atol)
        np.testing.assert_allclose(grad, data["grad_prediction"], rtol=rtol, atol=atol)


@pytest.mark.parametrize("path", OPTIMIZER_FIXTURES, ids=lambda p: p.stem)
def test_optimizer_matches_pytorch(path):
    with np.load(path) as data:
        config = json.loads(str(data["config"]))
        kwargs = dict(config["kwargs"])
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        param = nn.Parameter(data["param_init"].copy())
        optimizer = getattr(optim, config["optimizer"])([param], **kwargs)
        for step, (grad, expected) in enumerate(zip(data["grads"], data["param_after"])):
            optimizer.zero_grad()
            param.grad += grad
            optimizer.step()
            np.testing.assert_allclose(param.data, expected, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")


SRGAN_FIXTURE = REFERENCE / "srgan_tiny.npz"


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-9, 1e-12), (np.float32, 2e-3, 2e-5)],
                         ids=["float64", "float32"])
def test_srgan_adversarial_path_matches_pytorch(dtype, rtol, atol):
    """SRResNet -> Discriminator -> BCEWithLogits(., 1), against the same networks in PyTorch.

    The fixture (``make_fixtures.srgan``) holds tinysr's initial weights of a tiny generator and
    discriminator, the PyTorch forward pass in training mode (G(x), D(G(x)), the loss, the running
    statistics) and the backward pass: dL/dG(x) (what D's backward hands to G), dL/dx, and the
    gradient of every parameter of both networks. float32 runs the fast kernels training uses; its
    tolerance is float32 round-off grown through ~30 layers, two of them batch norms of 3 values.
    """
    from tinysr.losses import BCEWithLogitsLoss
    from tinysr.models import build_model

    with np.load(SRGAN_FIXTURE) as data:
        fixture = {key: data[key] for key in data.files}
    config = json.loads(str(fixture.pop("config")))["srgan"]
    networks = {"generator": build_model(config["generator"], dtype=dtype),
                "discriminator": build_model(config["discriminator"], dtype=dtype)}
    for prefix, network in networks.items():
        state = {}
        for key, value in fixture.items():
            kind, _, rest = key.partition(".")
            if kind in ("param", "buffer_before") and rest.startswith(prefix + "."):
                state[rest.removeprefix(prefix + ".")] = value.astype(dtype) if value.dtype.kind == "f" else value
        network.load_state_dict(state)  # every key must be there: the names are PyTorch's
        network.train()
    generator, discriminator = networks["generator"], networks["discriminator"]
    criterion = BCEWithLogitsLoss()

    def close(actual, key):
        assert actual.dtype == dtype, key
        np.testing.assert_allclose(actual, fixture[key], rtol=rtol, atol=atol, err_msg=key)

    fake = generator.forward(fixture["input"].astype(dtype))
    close(fake, "output")
    logits = discriminator.forward(fake)
    close(logits, "logits")
    loss = criterion.forward(logits, np.ones_like(logits))
    np.testing.assert_allclose(loss, fixture["loss"], rtol=rtol, err_msg="loss")
    grad_fake = discriminator.backward(criterion.backward())  # the adversarial gradient, per pixel of G(x)
    close(grad_fake, "grad_output")
    close(generator.backward(grad_fake), "grad_input")

    for prefix, network in networks.items():
        params = dict(network.named_parameters())
        expected = sorted(key.removeprefix(f"grad.{prefix}.") for key in fixture if key.startswith(f"grad.{prefix}."))
        assert sorted(params) == expected, prefix
        for name, param in params.items():
            close(param.grad, f"grad.{prefix}.{name}")
        for name, buffer in network.named_buffers():
            key = f"buffer_after.{prefix}.{name}"
            if buffer.dtype.kind == "f":
                close(buffer, key)
            else:
                np.testing.assert_array_equal(buffer, fixture[key], err_msg=key)
