"""Make the PyTorch reference fixtures in ``tests/reference/*.npz``.

Run by hand (PyTorch is not a dependency of tinysr or of its tests)::

    pip install torch==2.13.0
    python tests/reference/make_fixtures.py

Each fixture is one layer (or loss, or optimizer) on fixed, seeded inputs, computed by PyTorch
in float64. A layer fixture stores, under names that tinysr shares with PyTorch:

* ``config``: JSON ``{"layer": "Conv2d", "kwargs": {...}, "training": true}``
* ``input``, ``grad_output`` (a random upstream gradient, never all ones), ``output``, ``grad_input``
* ``param.<name>`` (the initial values), ``grad.<name>`` (dL/d<name>)
* ``buffer_before.<name>`` / ``buffer_after.<name>`` (BatchNorm's running statistics)

``tests/test_reference.py`` rebuilds each layer in tinysr, loads the same parameters and checks
every array. Inputs hold some exact zeros, so the sub-gradient conventions at kinks are pinned too.

``srgan_tiny.npz`` is a whole network pair instead of one layer: a tiny SRResNet feeding a tiny
Discriminator (built by tinysr, so that tinysr's own initial weights are used, and copied into the
same networks written in PyTorch, ``torch_srgan.py``), through the generator's adversarial loss.

Make one group only with ``python tests/reference/make_fixtures.py srgan`` (groups: layers,
losses, optimizers, srgan; all of them by default). Every fixture is reproduced byte for byte.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch_srgan import TorchDiscriminator, TorchSRResNet, load_tinysr_state

from tinysr.models import Discriminator, SRResNet

HERE = Path(__file__).parent
torch.set_default_dtype(torch.float64)


def _save(name: str, config: dict, arrays: dict) -> None:
    arrays = {k: np.asarray(v, dtype=np.int64 if "num_batches" in k else np.float64) for k, v in arrays.items()}
    np.savez_compressed(HERE / f"{name}.npz", config=np.array(json.dumps(config)), **arrays)
    print(f"wrote {name}.npz")


def _input(rng: np.random.Generator, shape, zeros: bool = True) -> np.ndarray:
    x = rng.standard_normal(shape)
    if zeros:  # a few exact zeros pin the gradient convention at kinks (ReLU'(0) = 0, ...)
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, size=max(1, flat.size // 10), replace=False)] = 0.0
    return x


def layer_fixture(name, layer, input_shape, *, training=True, seed=0, buffers=None, zeros=True):
    """Run ``layer`` forward and backward in PyTorch and save everything tinysr must reproduce."""
    rng = np.random.default_rng(seed)
    kwargs = layer.tinysr_kwargs
    if buffers:  # give BatchNorm non-trivial running statistics before the step
        for buffer_name, value in buffers.items():
            getattr(layer, buffer_name).copy_(torch.from_numpy(np.asarray(value)))
    layer.train(training)
    with torch.no_grad():  # random parameters instead of PyTorch's init, so nothing is 0 or 1
        for _, p in layer.named_parameters():
            p.copy_(torch.from_numpy(rng.uniform(-1.0, 1.0, size=tuple(p.shape)) + 0.5))
    arrays = {f"param.{n}": p.detach().numpy().copy() for n, p in layer.named_parameters()}
    arrays.update({f"buffer_before.{n}": b.numpy().copy() for n, b in layer.named_buffers()})
    x = torch.from_numpy(_input(rng, input_shape, zeros)).requires_grad_(True)
    out = layer(x)
    grad_output = torch.from_numpy(rng.standard_normal(tuple(out.shape)))
    out.backward(grad_output)
    arrays.update(input=x.detach().numpy(), output=out.detach().numpy(),
                  grad_output=grad_output.numpy(), grad_input=x.grad.numpy())
    arrays.update({f"grad.{n}": p.grad.numpy() for n, p in layer.named_parameters()})
    arrays.update({f"buffer_after.{n}": b.numpy().copy() for n, b in layer.named_buffers()})
    config = {"layer": type(layer).__name__, "kwargs": kwargs, "training": training}
    _save(name, config, arrays)


def make(cls, **kwargs):
    layer = cls(**kwargs)
    layer.tinysr_kwargs = kwargs
    return layer


def layers() -> None:
    nn = torch.nn
    layer_fixture("conv2d_k3_s1_p0", make(nn.Conv2d, in_channels=3, out_channels=4, kernel_size=3), (2, 3, 7, 6))
    layer_fixture("conv2d_k3_s2_p1", make(nn.Conv2d, in_channels=2, out_channels=5, kernel_size=3, stride=2,
                                          padding=1), (2, 2, 9, 8))
    layer_fixture("conv2d_rect_pairs", make(nn.Conv2d, in_channels=3, out_channels=2, kernel_size=(3, 5),
                                            stride=(1, 2), padding=(2, 0)), (1, 3, 6, 11))
    layer_fixture("conv2d_k9_p4_nobias", make(nn.Conv2d, in_channels=1, out_channels=3, kernel_size=9,
                                              padding=4, bias=False), (1, 1, 10, 12))
    layer_fixture("conv2d_s3_leftover", make(nn.Conv2d, in_channels=2, out_channels=2, kernel_size=2, stride=3),
                  (2, 2, 8, 10))
    layer_fixture("conv_transpose2d_k3_s2_p1_op1", make(nn.ConvTranspose2d, in_channels=3, out_channels=2,
                                                         kernel_size=3, stride=2, padding=1, output_padding=1),
                  (2, 3, 4, 5))
    layer_fixture("conv_transpose2d_fsrcnn_x3", make(nn.ConvTranspose2d, in_channels=4, out_channels=1,
                                                     kernel_size=9, stride=3, padding=4, output_padding=2),
                  (1, 4, 3, 4))
    layer_fixture("conv_transpose2d_rect_nobias", make(nn.ConvTranspose2d, in_channels=2, out_channels=3,
                                                       kernel_size=(2, 3), stride=(1, 2), padding=(0, 1),
                                                       bias=False), (2, 2, 3, 3))
    layer_fixture("relu", make(nn.ReLU), (2, 3, 4, 5))
    layer_fixture("leaky_relu_0.2", make(nn.LeakyReLU, negative_slope=0.2), (2, 3, 4, 5))
    layer_fixture("leaky_relu_default", make(nn.LeakyReLU), (2, 3, 4, 5))
    layer_fixture("prelu_shared", make(nn.PReLU), (2, 3, 4, 5))
    layer_fixture("prelu_per_channel", make(nn.PReLU, num_parameters=3), (2, 3, 4, 5))
    layer_fixture("sigmoid", make(nn.Sigmoid), (2, 3, 4, 5))
    layer_fixture("tanh", make(nn.Tanh), (2, 3, 4, 5))
    rng = np.random.default_rng(7)
    stats = {"running_mean": rng.standard_normal(4), "running_var": rng.uniform(0.5, 2.0, 4),
             "num_batches_tracked": np.array(3)}
    layer_fixture("batchnorm_train", make(nn.BatchNorm2d, num_features=4), (3, 4, 5, 6),
                  training=True, buffers=stats, zeros=False)
    layer_fixture("batchnorm_train_momentum0.3", make(nn.BatchNorm2d, num_features=4, momentum=0.3, eps=1e-3),
                  (2, 4, 3, 3), training=True, buffers=stats, zeros=False)
    layer_fixture("batchnorm_eval", make(nn.BatchNorm2d, num_features=4), (3, 4, 5, 6),
                  training=False, buffers=stats, zeros=False)
    layer_fixture("pixel_shuffle_r2", make(nn.PixelShuffle, upscale_factor=2), (2, 8, 3, 4))
    layer_fixture("pixel_shuffle_r3", make(nn.PixelShuffle, upscale_factor=3), (1, 18, 2, 3))
    layer_fixture("pixel_unshuffle_r2", make(nn.PixelUnshuffle, downscale_factor=2), (2, 3, 4, 6))
    layer_fixture("linear", make(nn.Linear, in_features=7, out_features=3), (4, 7))
    layer_fixture("linear_nobias", make(nn.Linear, in_features=5, out_features=2, bias=False), (1, 5))
    layer_fixture("flatten", make(nn.Flatten), (2, 3, 4, 5))


def loss_fixture(name: str, loss_name: str, prediction: np.ndarray, target: np.ndarray) -> None:
    p = torch.from_numpy(prediction).requires_grad_(True)
    loss = getattr(torch.nn, loss_name)()(p, torch.from_numpy(target))
    loss.backward()
    _save(name, {"loss": loss_name},
          {"prediction": prediction, "target": target, "loss": loss.item(), "grad_prediction": p.grad.numpy()})


def losses() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    loss_fixture("loss_mse", "MSELoss", a, b)
    tied = a.copy()
    tied[0, 0] = b[0, 0]  # prediction == target: L1's gradient there is sign(0) = 0
    loss_fixture("loss_l1", "L1Loss", tied, b)
    probs = rng.uniform(0.0, 1.0, (4, 5))
    probs[0, :3] = [0.0, 1.0, 1e-30]  # log clamps at -100
    targets = rng.uniform(0.0, 1.0, (4, 5))
    targets[0, :2] = [1.0, 0.0]
    loss_fixture("loss_bce", "BCELoss", probs, targets)
    logits = rng.standard_normal((3, 6)) * 3
    logits[0] = [1e4, -1e4, 50.0, -50.0, 1e4, -1e4]
    labels = (rng.uniform(size=(3, 6)) > 0.5).astype(np.float64)
    labels[0] = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    loss_fixture("loss_bce_with_logits", "BCEWithLogitsLoss", logits, labels)


def optimizer_fixture(name: str, cls_name: str, kwargs: dict, steps: int = 6, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    init = rng.standard_normal((3, 4))
    grads = rng.standard_normal((steps, 3, 4))
    p = torch.nn.Parameter(torch.from_numpy(init.copy()))
    opt = getattr(torch.optim, cls_name)([p], **kwargs)
    after = []
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        after.append(p.detach().numpy().copy())
    _save(name, {"optimizer": cls_name, "kwargs": kwargs},
          {"param_init": init, "grads": grads, "param_after": np.stack(after)})


def optimizers() -> None:
    optimizer_fixture("adam_default", "Adam", {"lr": 1e-2})
    optimizer_fixture("adam_weight_decay", "Adam", {"lr": 3e-2, "betas": [0.8, 0.99], "eps": 1e-6,
                                                    "weight_decay": 0.1})
    optimizer_fixture("sgd_momentum", "SGD", {"lr": 0.1, "momentum": 0.9})
    optimizer_fixture("sgd_plain", "SGD", {"lr": 0.05})


def _off_special_values(state: dict, rng: np.random.Generator) -> dict:
    """Batch-norm gamma, beta and running statistics, PReLU slopes and conv weights moved to random values."""
    moved = dict(state)
    batchnorm = {"weight": (0.5, 1.5), "bias": (-0.2, 0.2), "running_mean": (-0.5, 0.5), "running_var": (0.5, 2.0)}
    for key, value in state.items():
        layer, _, name = key.rpartition(".")
        if f"{layer}.running_mean" in state:  # a BatchNorm2d
            moved[key] = rng.uniform(*batchnorm[name], value.shape) if name in batchnorm else np.array(5)
        elif name == "weight" and value.shape == (1,):  # a PReLU's shared slope (0.25 at first)
            moved[key] = rng.uniform(0.05, 0.5, 1)
        elif name == "weight" and value.ndim == 4:  # a convolution; this also breaks ICNR's equal kernels
            moved[key] = value * rng.uniform(0.5, 1.5, value.shape)
    return moved


def srgan(seed: int = 11) -> None:
    """The generator's adversarial loss ``BCEWithLogits(D(G(x)), 1)``, forward and backward, in training mode.

    G is ``SRResNet(scale=2, num_blocks=1, num_features=8)`` on a batch of three 8x8 LR crops, D is
    ``Discriminator(hr_size=16, num_features=1)`` (channels 1, 1, 2, 2, 4, 4, 8, 8; BatchNorm's
    statistics at its last, 1x1 layer come from the 3 crops). The file must stay small (every
    gradient is stored in float64, and D's ``Linear(8, 1024)`` alone has 9,216 parameters), hence
    the narrow D and one residual block.

    The weights are tinysr's initial ones moved off their special values (at batch-norm gamma = 1,
    beta = 0 and ICNR's equal sub-pixel kernels some wrong formulas give right answers), then
    rounded to float16 so that they are stored exactly in 2 bytes each; the running statistics
    start away from 0 and 1. Both libraries then run in float64. Stored, with ``generator.`` and
    ``discriminator.`` prefixes: ``param.*`` and ``buffer_before.*`` (the two state dicts),
    ``input`` (the LR batch), ``output`` (G(x)), ``logits`` (D(G(x))), ``loss``, ``grad_output``
    (dL/dG(x): what D's backward hands to G's), ``grad_input`` (dL/dx), ``grad.*`` (every parameter
    of both networks) and ``buffer_after.*`` (the running statistics after the forward pass).
    """
    generator = SRResNet(scale=2, num_blocks=1, num_features=8, rng=seed)
    discriminator = Discriminator(hr_size=16, num_features=1, rng=seed + 1)
    torch_generator, torch_discriminator = TorchSRResNet(2, 1, 8), TorchDiscriminator(16, 1)
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, ours, theirs in (("generator", generator, torch_generator),
                                 ("discriminator", discriminator, torch_discriminator)):
        parameters = dict(ours.named_parameters())
        state = _off_special_values(ours.state_dict(), rng)
        state = {key: value.astype(np.float16) if key in parameters else value for key, value in state.items()}
        load_tinysr_state(theirs, state)  # the key names are the same in both libraries: checked here
        theirs.train()
        for key, value in state.items():
            arrays[f"{'param' if key in parameters else 'buffer_before'}.{prefix}.{key}"] = value
    x = torch.from_numpy(np.random.default_rng(seed + 2).uniform(0.0, 1.0, (3, 3, 8, 8))).requires_grad_(True)
    fake = torch_generator(x)
    fake.retain_grad()
    logits = torch_discriminator(fake)
    loss = torch.nn.BCEWithLogitsLoss()(logits, torch.ones_like(logits))
    loss.backward()
    results = {"input": x.detach(), "output": fake.detach(), "logits": logits.detach(), "loss": loss.detach(),
               "grad_input": x.grad, "grad_output": fake.grad}
    for prefix, module in (("generator", torch_generator), ("discriminator", torch_discriminator)):
        results.update({f"grad.{prefix}.{n}": p.grad for n, p in module.named_parameters()})
        results.update({f"buffer_after.{prefix}.{n}": b.clone() for n, b in module.named_buffers()})
    arrays.update({key: value.numpy() for key, value in results.items()})
    config = {"srgan": {"generator": generator.config, "discriminator": discriminator.config, "training": True,
                        "criterion": "BCEWithLogitsLoss", "target": 1.0}}
    np.savez_compressed(HERE / "srgan_tiny.npz", config=np.array(json.dumps(config)), **arrays)
    print("wrote srgan_tiny.npz")


GROUPS = {"layers": layers, "losses": losses, "optimizers": optimizers, "srgan": srgan}

if __name__ == "__main__":
    for group in sys.argv[1:] or GROUPS:
        if group not in GROUPS:
            raise SystemExit(f"make_fixtures.py: unknown group {group!r}, expected some of {', '.join(GROUPS)}")
        GROUPS[group]()
