"""A tinysr network as an ONNX graph, built layer by layer from tinysr's own modules.

Each layer becomes the ONNX operator that computes the same thing (opset 17), its parameters
become initializers, and the graph's height and width are left symbolic, so that ONNX Runtime
(on a phone, in a browser through onnxruntime-web, on a server) runs it on any image size::

    Conv2d           -> Conv                (weight (C_out, C_in, kH, kW), the same layout)
    ConvTranspose2d  -> ConvTranspose       (weight (C_in, C_out, kH, kW), the same layout)
    ReLU, Tanh       -> Relu, Tanh
    PReLU            -> PRelu               (slope reshaped to (C, 1, 1) to broadcast over H, W)
    BatchNorm2d      -> BatchNormalization  (eval mode: the running statistics)
    PixelShuffle     -> DepthToSpace        (mode "CRD", the channel order of PixelShuffle)
    Residual         -> its body, then Add  (x + body(x))
    Sequential       -> its layers in order

A network is the chain of its children in order (SRCNN, FSRCNN, ESPCN), except SRResNet, whose
long skip adds the head's output to the trunk's (written out in ``_srresnet``).
"""

from __future__ import annotations

import numpy as np

from tinysr.models import ESPCN, FSRCNN, SRCNN, SRResNet
from tinysr.nn import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Module,
    PixelShuffle,
    PReLU,
    ReLU,
    Residual,
    Sequential,
    Tanh,
)

__all__ = ["OPSET", "to_onnx"]

OPSET = 17


class _Graph:
    """The nodes and initializers being collected, and fresh tensor names."""

    def __init__(self):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attributes))
        return name


def _conv(layer: Conv2d, x: str, g: _Graph, name: str) -> str:
    if any(getattr(layer, "_extra_padding", None) or ()):
        raise ValueError(f"export: {name} pads unevenly ('same' with an even kernel); ONNX Conv here takes even pads")
    inputs = [x, g.constant(f"{name}.weight", layer.weight.data)]
    if layer.bias is not None:
        inputs.append(g.constant(f"{name}.bias", layer.bias.data))
    (pad_h, pad_w), kernel = layer.padding, list(layer.weight.shape[2:])
    return g.node("Conv", inputs, name, kernel_shape=kernel, strides=list(layer.stride),
                  pads=[pad_h, pad_w, pad_h, pad_w])


def _conv_transpose(layer: ConvTranspose2d, x: str, g: _Graph, name: str) -> str:
    inputs = [x, g.constant(f"{name}.weight", layer.weight.data)]
    if layer.bias is not None:
        inputs.append(g.constant(f"{name}.bias", layer.bias.data))
    (pad_h, pad_w), kernel = layer.padding, list(layer.weight.shape[2:])
    return g.node("ConvTranspose", inputs, name, kernel_shape=kernel, strides=list(layer.stride),
                  pads=[pad_h, pad_w, pad_h, pad_w], output_padding=list(layer.output_padding))


def _prelu(layer: PReLU, x: str, g: _Graph, name: str) -> str:
    slope = g.constant(f"{name}.weight", layer.weight.data.reshape(-1, 1, 1))
    return g.node("PRelu", [x, slope], name)


def _batchnorm(layer: BatchNorm2d, x: str, g: _Graph, name: str) -> str:
    inputs = [x] + [g.constant(f"{name}.{key}", value) for key, value in (
        ("weight", layer.weight.data), ("bias", layer.bias.data),
        ("running_mean", layer.running_mean), ("running_var", layer.running_var))]
    return g.node("BatchNormalization", inputs, name, epsilon=layer.eps)


def _residual(layer: Residual, x: str, g: _Graph, name: str) -> str:
    return g.node("Add", [x, _emit(layer.body, x, g, f"{name}.body")], name)


def _srresnet(network: SRResNet, x: str, g: _Graph, name: str) -> str:
    head = _emit(network.head, x, g, "head")
    trunk = _emit(network.trunk, _emit(network.blocks, head, g, "blocks"), g, "trunk")
    summed = g.node("Add", [head, trunk], "long_skip")
    return _emit(network.tail, _emit(network.upsample, summed, g, "upsample"), g, "tail")


def _chain(module: Module, x: str, g: _Graph, name: str) -> str:
    for child_name, child in module.named_children():
        x = _emit(child, x, g, f"{name}.{child_name}" if name else child_name)
    return x


_EMITTERS = {
    Conv2d: _conv, ConvTranspose2d: _conv_transpose, PReLU: _prelu, BatchNorm2d: _batchnorm, Residual: _residual,
    ReLU: lambda layer, x, g, name: g.node("Relu", [x], name),
    Tanh: lambda layer, x, g, name: g.node("Tanh", [x], name),
    PixelShuffle: lambda layer, x, g, name: g.node("DepthToSpace", [x], name, blocksize=layer.upscale_factor,
                                                   mode="CRD"),
    SRResNet: _srresnet, Sequential: _chain, SRCNN: _chain, FSRCNN: _chain, ESPCN: _chain,
}


def _emit(module: Module, x: str, g: _Graph, name: str) -> str:
    """Append ``module``'s nodes reading tensor ``x``; return the name of its output tensor."""
    emitter = _EMITTERS.get(type(module))
    if emitter is None:
        raise ValueError(f"export: no ONNX operator for {type(module).__name__} ({name or 'the network'})")
    return emitter(module, x, g, name)


def to_onnx(network: Module, *, doc: str = ""):
    """``network`` (eval mode, float32) as an ``onnx.ModelProto``: input ``(N, C, H, W)`` -> output, any H, W."""
    from onnx import TensorProto, checker, helper

    network = network.eval()
    g = _Graph()
    output = _emit(network, "input", g, "")
    channels = getattr(network, "channels", network.config.get("channels", 1))
    scaled = getattr(network, "input_mode", "ilr") == "lr"
    graph = helper.make_graph(
        [*g.nodes, helper.make_node("Identity", [output], ["output"], name="output")],
        network.config["name"],
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, "height", "width"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [
            "batch", channels, "out_height" if scaled else "height", "out_width" if scaled else "width"])],
        g.initializers, doc_string=doc)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tinysr",
                              doc_string=doc)
    model.ir_version = min(model.ir_version, 9)  # readable by ONNX Runtime releases of the last years
    checker.check_model(model, full_check=True)
    return model
