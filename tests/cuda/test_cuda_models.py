"""Whole networks on the GPU: a training step equals the CPU's, arrays stay on the device, moving models.

The networks are tiny (SRCNN with 4 and 3 filters, SRResNet with 4 features and one residual
block) so that the simulator gets through them in seconds; every layer type and every kernel of
a training step is still used.
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import gpu, host

import tinysr
from tinysr import nn
from tinysr.device import is_device_array
from tinysr.losses import BCEWithLogitsLoss, L1Loss, MSELoss
from tinysr.models import SRCNN, SRResNet
from tinysr.optim import SGD, Adam


def _tiny_srcnn():
    return SRCNN(channels=1, n1=4, n2=3, f1=3, f2=1, f3=3, rng=0)


def _tiny_srresnet():
    return SRResNet(scale=2, num_blocks=1, num_features=4, rng=0)


def _batch(seed, lr_shape, hr_shape):
    rng = np.random.default_rng(seed)
    return rng.random(lr_shape, dtype=np.float32), rng.random(hr_shape, dtype=np.float32)


def _train_step(model, optimizer, criterion, x, y):
    optimizer.zero_grad()
    loss = criterion.forward(model.forward(x), y)
    grad_input = model.backward(criterion.backward())
    optimizer.step()
    return loss, grad_input


def _assert_models_equal(cuda_model, cpu_model, rtol, skip=()):
    cpu_state = cpu_model.state_dict()
    for name, value in cuda_model.state_dict().items():
        if name in skip:
            continue
        scale = max(1.0, float(np.abs(cpu_state[name]).max()))
        np.testing.assert_allclose(value, cpu_state[name], rtol=rtol, atol=rtol * scale, err_msg=name)


def test_an_array_with_new_axes_reaches_the_gpu_contiguous():
    # NumPy calls y[None, None] C-contiguous although its new axes have a stride of 0; numba.cuda
    # calls it broadcast and the kernels refused it (tinysr eval on an H200 did)
    y = np.arange(30, dtype=np.float32).reshape(5, 6) / 30
    x = y[None, None]
    assert 0 in x.strides
    on_gpu = tinysr.to_device(x, "cuda")
    assert on_gpu.is_c_contiguous() and tuple(on_gpu.strides) == (120, 120, 24, 4)
    model = _tiny_srcnn()
    want = model.forward(x)
    np.testing.assert_allclose(host(model.to("cuda").forward(on_gpu)), want, rtol=1e-5, atol=1e-6)


def test_the_cuda_tier_equals_the_reference_tier_and_cpu_tiers_refuse_gpu_arrays():
    x, y = _batch(3, (2, 1, 9, 11), (2, 1, 9, 11))
    x, y = x.astype(np.float64), y.astype(np.float64)
    results = []
    for device, tier in (("cpu", "reference"), ("cuda", "cuda")):
        model = _tiny_srcnn().astype(np.float64).to(device)
        with tinysr.tier(tier):
            loss, grad_input = _train_step(model, Adam(model.parameters(), lr=1e-2), MSELoss(),
                                           tinysr.to_device(x, device), tinysr.to_device(y, device))
        results.append((loss, host(grad_input), model.to("cpu")))
    (loss_ref, grad_ref, model_ref), (loss_gpu, grad_gpu, model_gpu) = results
    assert loss_gpu == pytest.approx(loss_ref, rel=1e-10)
    np.testing.assert_allclose(grad_gpu, grad_ref, rtol=1e-10, atol=1e-14)
    _assert_models_equal(model_gpu, model_ref, rtol=1e-10)
    model = _tiny_srcnn().to("cuda")
    for tier in ("reference", "numba"):
        with pytest.raises(ValueError, match=rf"conv2d: tinysr.tier '{tier}' runs on the CPU, but the arrays are "
                                             r"on the GPU"), tinysr.tier(tier):
            model.forward(gpu(x.astype(np.float32)))


def test_srcnn_training_steps_on_gpu_equal_cpu():
    x, y = _batch(0, (3, 1, 9, 11), (3, 1, 9, 11))
    cpu_model, cuda_model = _tiny_srcnn(), _tiny_srcnn().to("cuda")
    results = []
    for model, device in ((cpu_model, "cpu"), (cuda_model, "cuda")):
        optimizer, criterion = Adam(model.parameters(), lr=1e-2), MSELoss()
        results.append([_train_step(model, optimizer, criterion, tinysr.to_device(x, device),
                                    tinysr.to_device(y, device)) for _ in range(2)])
    for (loss_cpu, grad_cpu), (loss_gpu, grad_gpu) in zip(*results):
        np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
        np.testing.assert_allclose(host(grad_gpu), grad_cpu, rtol=1e-4, atol=1e-8)
    _assert_models_equal(cuda_model, cpu_model, 1e-5)
    for p in cuda_model.parameters():  # still on the GPU after two steps
        assert is_device_array(p.data) and is_device_array(p.grad)


def test_srresnet_training_step_on_gpu_equals_cpu():
    """Forward, backward (every gradient) and one Adam step of a tiny SRResNet: GPU == CPU.

    A convolution followed by BatchNorm has a bias whose true gradient is 0 (BatchNorm removes
    any constant); the computed one is round-off of order 1e-9 that differs between CPU and GPU,
    and Adam, which divides by the gradient's own size, turns it into a step of about +-lr in a
    random direction. So the Adam step is compared from the same gradients (the CPU's, copied to
    the GPU): it then agrees to float32 precision.
    """
    x, y = _batch(1, (2, 3, 5, 6), (2, 3, 10, 12))
    cpu_model, cuda_model = _tiny_srresnet(), _tiny_srresnet().to("cuda")
    criterion_cpu, criterion_gpu = L1Loss(), L1Loss()
    loss_cpu = criterion_cpu.forward(cpu_model.forward(x), y)
    grad_x_cpu = cpu_model.backward(criterion_cpu.backward())
    loss_gpu = criterion_gpu.forward(cuda_model.forward(gpu(x)), gpu(y))
    grad_x_gpu = cuda_model.backward(criterion_gpu.backward())
    np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
    np.testing.assert_allclose(host(grad_x_gpu), grad_x_cpu, rtol=1e-4, atol=1e-7)
    cpu_params = dict(cpu_model.named_parameters())
    largest = max(float(np.abs(p.grad).max()) for p in cpu_params.values())
    for name, p in cuda_model.named_parameters():
        np.testing.assert_allclose(host(p.grad), cpu_params[name].grad, rtol=1e-4, atol=1e-6 * largest, err_msg=name)
    _assert_models_equal(cuda_model, cpu_model, 1e-5)  # the running statistics moved alike

    for name, p in cuda_model.named_parameters():
        p.grad = gpu(cpu_params[name].grad)
    Adam(cpu_model.parameters(), lr=1e-2).step()
    Adam(cuda_model.parameters(), lr=1e-2).step()
    _assert_models_equal(cuda_model, cpu_model, 1e-5)


def _tiny_discriminator():
    """The layers of the SRGAN discriminator (tinysr.models.Discriminator), at a size the simulator can run."""
    rng = np.random.default_rng(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, rng=rng), nn.LeakyReLU(0.2),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, rng=rng), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 6, rng=rng), nn.LeakyReLU(0.2), nn.Linear(6, 1, rng=rng),
    )


def test_discriminator_layers_and_bce_with_logits_on_gpu_equal_cpu():
    # Conv2d with stride 2, BatchNorm2d, LeakyReLU, Flatten, Linear; SGD with momentum, two steps
    x = np.random.default_rng(2).random((2, 3, 8, 8), dtype=np.float32)
    target = np.array([[1.0], [0.0]], dtype=np.float32)
    models = [_tiny_discriminator(), _tiny_discriminator().to("cuda")]
    results = []
    for model, device in zip(models, ("cpu", "cuda")):
        optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
        results.append([_train_step(model, optimizer, BCEWithLogitsLoss(), tinysr.to_device(x, device),
                                    tinysr.to_device(target, device)) for _ in range(2)])
    for (loss_cpu, grad_cpu), (loss_gpu, grad_gpu) in zip(*results):
        np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
        np.testing.assert_allclose(host(grad_gpu), grad_cpu, rtol=1e-3, atol=1e-7)
    _assert_models_equal(models[1], models[0], 1e-4)


def test_a_training_step_copies_only_the_batch_and_the_loss(transfers):
    model = _tiny_srresnet().to("cuda")
    optimizer, criterion = Adam(model.parameters(), lr=1e-3), MSELoss()
    x, y = _batch(3, (2, 3, 4, 4), (2, 3, 8, 8))
    transfers.clear()  # moving the model copied its parameters
    _train_step(model, optimizer, criterion, gpu(x), gpu(y))  # the first step also creates Adam's state
    # the batch (2 arrays) to the GPU, the loss (one float) back; nothing per layer or per parameter
    assert transfers == {"to_device": 2, "to_host": 1}


def test_module_to_moves_parameters_gradients_and_buffers_and_back():
    model = _tiny_srresnet()
    before = model.state_dict()
    parameters = model.parameters()
    assert model.to("cuda") is model
    assert model.parameters() == parameters  # the same Parameter objects: an optimizer keeps working
    for p in model.parameters():
        assert p.device == "cuda" and is_device_array(p.grad)
    batchnorm = model.blocks[0].body[1]
    assert is_device_array(batchnorm.running_mean) and is_device_array(batchnorm.running_var)
    assert isinstance(batchnorm.num_batches_tracked, np.ndarray)  # a counter, on the host
    state = model.state_dict()  # host copies, whatever the device
    assert all(isinstance(v, np.ndarray) for v in state.values())
    for name, value in before.items():
        np.testing.assert_array_equal(state[name], value)
    model.to("cpu")
    for p in model.parameters():
        assert isinstance(p.data, np.ndarray) and isinstance(p.grad, np.ndarray)
    assert "device='cuda'" not in repr(model.parameters()[0])


def test_load_state_dict_and_astype_on_the_gpu():
    source, model = _tiny_srcnn(), SRCNN(channels=1, n1=4, n2=3, f1=3, f2=1, f3=3, rng=5).to("cuda")
    model.load_state_dict(source.state_dict())
    for name, value in source.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], value)
    assert is_device_array(model.conv1.weight.data)
    host_model = SRCNN(channels=1, n1=4, n2=3, f1=3, f2=1, f3=3, rng=6)
    host_model.load_state_dict({name: gpu(value) for name, value in source.state_dict().items()})
    np.testing.assert_array_equal(host_model.conv2.weight.data, source.conv2.weight.data)
    model.astype(np.float64)
    assert is_device_array(model.conv1.weight.data) and model.conv1.weight.data.dtype == np.float64
    x = np.random.default_rng(4).random((1, 1, 6, 5))
    np.testing.assert_allclose(host(model.forward(gpu(x))), source.astype(np.float64).forward(x), rtol=1e-10)


def test_optimizer_state_dict_from_the_gpu_resumes_bit_for_bit():
    x, y = _batch(5, (2, 1, 6, 6), (2, 1, 6, 6))
    model = _tiny_srcnn().to("cuda")
    optimizer, criterion = Adam(model.parameters(), lr=1e-2), MSELoss()
    _train_step(model, optimizer, criterion, gpu(x), gpu(y))
    saved_model, saved_optimizer = model.state_dict(), optimizer.state_dict()
    assert isinstance(saved_optimizer["state"][0]["exp_avg"], np.ndarray)
    _train_step(model, optimizer, criterion, gpu(x), gpu(y))
    after_two = model.state_dict()

    resumed = _tiny_srcnn()  # as a checkpoint is loaded: on the host, then moved
    resumed.load_state_dict(saved_model)
    resumed.to("cuda")
    optimizer = Adam(resumed.parameters(), lr=1e-2)
    optimizer.load_state_dict(saved_optimizer)
    _train_step(resumed, optimizer, criterion, gpu(x), gpu(y))
    assert is_device_array(optimizer.state[0]["exp_avg"])  # the loaded moments moved to the GPU
    for name, value in resumed.state_dict().items():
        np.testing.assert_array_equal(value, after_two[name])


def test_even_kernel_same_padding_on_the_gpu():
    layer = nn.Conv2d(2, 3, 4, padding="same", rng=0)
    x = np.random.default_rng(6).random((1, 2, 5, 6), dtype=np.float32)
    g = np.random.default_rng(7).random((1, 3, 5, 6), dtype=np.float32)
    want_out, want_grad = layer.forward(x), layer.backward(g)
    layer.zero_grad()
    layer.to("cuda")
    np.testing.assert_allclose(host(layer.forward(gpu(x))), want_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(layer.backward(gpu(g))), want_grad, rtol=1e-5, atol=1e-6)


def test_mixed_devices_are_refused_with_a_hint():
    layer = nn.Conv2d(1, 2, 3).to("cuda")
    with pytest.raises(TypeError, match=r"input is on cpu but the layer's parameters are on cuda; "
                                        r"move the input with tinysr.to_device\(x, 'cuda'\)"):
        layer.forward(np.zeros((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(TypeError, match=r"input is on cuda but the layer's parameters are on cpu"):
        nn.Conv2d(1, 2, 3).forward(gpu(np.zeros((1, 1, 4, 4), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"expected input with dtype float32 or float64, got dtype int64"):
        nn.ReLU().forward(gpu(np.zeros(3, dtype=np.int64)))


def test_srgan_step_on_gpu_equals_cpu():
    from tinysr.gan import srgan_step

    lr, hr = _batch(8, (2, 3, 4, 4), (2, 3, 8, 8))
    results = []
    for device in ("cpu", "cuda"):
        generator, discriminator = _tiny_srresnet().to(device), _tiny_discriminator().to(device)
        # SGD: Adam would turn the round-off gradients of the biases before BatchNorm into +-lr steps
        losses = srgan_step(generator, discriminator, SGD(generator.parameters(), lr=0.05),
                            SGD(discriminator.parameters(), lr=0.05), tinysr.to_device(lr, device),
                            tinysr.to_device(hr, device), adversarial_weight=0.1)
        results.append((losses, generator, discriminator))
    (cpu_losses, cpu_g, cpu_d), (gpu_losses, gpu_g, gpu_d) = results
    for key, value in cpu_losses.items():
        np.testing.assert_allclose(gpu_losses[key], value, rtol=1e-5, err_msg=key)
    _assert_models_equal(gpu_g, cpu_g, 1e-4)
    _assert_models_equal(gpu_d, cpu_d, 1e-4)
