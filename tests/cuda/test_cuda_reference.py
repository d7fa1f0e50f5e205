"""The PyTorch reference values of ``tests/reference/*.npz``, reproduced by layers, losses and optimizers on the GPU.

The same fixtures and tolerances as ``tests/test_reference.py``; each layer is built on the host,
loaded with the stored parameters and buffers, moved with ``.to("cuda")``, and run on device arrays.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cuda_helpers import gpu, host
from test_reference import LAYER_FIXTURES, LOSS_FIXTURES, OPTIMIZER_FIXTURES, _build_layer

from tinysr import losses, nn, optim


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-10, 1e-12), (np.float32, 2e-4, 2e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("path", LAYER_FIXTURES, ids=lambda p: p.stem)
def test_layer_on_gpu_matches_pytorch(path, dtype, rtol, atol):
    with np.load(path) as data:
        config = json.loads(str(data["config"]))
        layer = _build_layer(config, data, dtype).to("cuda")
        x = gpu(data["input"].astype(dtype))
        out = layer.forward(x)
        grad_input = layer.backward(gpu(data["grad_output"].astype(dtype)))

        np.testing.assert_allclose(host(out), data["output"], rtol=rtol, atol=atol, err_msg="output")
        np.testing.assert_allclose(host(grad_input), data["grad_input"], rtol=rtol, atol=atol, err_msg="grad_input")
        params = dict(layer.named_parameters())
        for key in (k for k in data.files if k.startswith("grad.")):
            name = key.removeprefix("grad.")
            np.testing.assert_allclose(host(params[name].grad), data[key], rtol=rtol, atol=atol, err_msg=key)
            np.testing.assert_array_equal(host(params[name].data), data[f"param.{name}"].astype(dtype))
        buffers = dict(layer.named_buffers())
        for key in (k for k in data.files if k.startswith("buffer_after.")):
            name = key.removeprefix("buffer_after.")
            np.testing.assert_allclose(host(buffers[name]), data[key], rtol=rtol, atol=atol, err_msg=key)
        np.testing.assert_array_equal(host(x), data["input"].astype(dtype))  # the input is not changed


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-10, 1e-12), (np.float32, 1e-4, 1e-6)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("path", LOSS_FIXTURES, ids=lambda p: p.stem)
def test_loss_on_gpu_matches_pytorch(path, dtype, rtol, atol):
    with np.load(path) as data:
        config = json.loads(str(data["config"]))
        criterion = getattr(losses, config["loss"])()
        loss = criterion.forward(gpu(data["prediction"].astype(dtype)), gpu(data["target"].astype(dtype)))
        grad = criterion.backward()
        assert isinstance(loss, float)
        np.testing.assert_allclose(loss, data["loss"], rtol=rtol, atol=atol)
        np.testing.assert_allclose(host(grad), data["grad_prediction"], rtol=rtol, atol=atol)


@pytest.mark.parametrize("path", OPTIMIZER_FIXTURES, ids=lambda p: p.stem)
def test_optimizer_on_gpu_matches_pytorch(path):
    with np.load(path) as data:
        config = json.loads(str(data["config"]))
        kwargs = dict(config["kwargs"])
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        param = nn.Parameter(gpu(data["param_init"].copy()))
        optimizer = getattr(optim, config["optimizer"])([param], **kwargs)
        for step, (grad, expected) in enumerate(zip(data["grads"], data["param_after"])):
            optimizer.zero_grad()
            param.accumulate_grad(gpu(grad))
            optimizer.step()
            # float64 throughout; the GPU may fuse a multiply and an add (FMA), hence not bit for bit
            np.testing.assert_allclose(host(param.data), expected, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")
