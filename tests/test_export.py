"""``tinysr export``: safetensors files that PyTorch loads, ONNX graphs that ONNX Runtime runs, both equal to tinysr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinysr import upscale
from tinysr.checkpoint import CheckpointError, load_weights, save_safetensors, save_weights
from tinysr.models import SRCNN, Discriminator
from tinysr.upscale import WEIGHTS_DIR

NO_EXTRA = "the export extra is not installed: pip install 'tinysr[export]'"
safetensors = pytest.importorskip("safetensors", reason=NO_EXTRA)
onnx = pytest.importorskip("onnx", reason=NO_EXTRA)
ort = pytest.importorskip("onnxruntime", reason=NO_EXTRA)

from tinysr.export import export  # noqa: E402  (needs the extra)

SHIPPED = sorted(WEIGHTS_DIR.glob("*_x*.npz"))


def _name_scale(path: Path) -> tuple[str, int]:
    name, scale = path.stem.rsplit("_x", 1)
    return name, int(scale)


def _input(network, height: int, width: int, seed: int = 0) -> np.ndarray:
    channels = getattr(network, "channels", network.config.get("channels", 1))
    return np.random.default_rng(seed).random((2, channels, height, width)).astype(np.float32)


@pytest.mark.parametrize("weights", SHIPPED, ids=lambda p: p.stem)
def test_safetensors_round_trip_is_exact(weights, tmp_path):
    name, scale = _name_scale(weights)
    out = export(name, tmp_path / "w.safetensors", scale=scale)
    original, meta = load_weights(weights)
    again, meta_again = load_weights(out, expected_scale=scale)
    assert meta_again == meta
    state, state_again = original.state_dict(), again.state_dict()
    assert list(state) == list(state_again)
    for key in state:
        assert state[key].shape == state_again[key].shape and state[key].dtype == state_again[key].dtype, key
        np.testing.assert_array_equal(state[key], state_again[key])


@pytest.mark.parametrize("weights", SHIPPED, ids=lambda p: p.stem)
def test_onnx_runtime_gives_tinysrs_output_on_two_image_sizes(weights, tmp_path):
    name, scale = _name_scale(weights)
    out = export(name, tmp_path / "w.onnx", scale=scale)
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    network = load_weights(weights)[0].eval()  # BatchNorm with its running statistics, as upscale runs it
    for height, width in [(23, 17), (40, 52)]:
        x = _input(network, height, width)
        expected = network.forward(x)
        got = session.run(None, {"input": x})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5)


def test_onnx_uses_the_operators_tinysr_layers_map_to(tmp_path):
    ops = {}
    for name, scale in [("fsrcnn", 3), ("espcn", 3), ("srresnet", 4)]:
        graph = onnx.load(export(name, tmp_path / f"{name}.onnx", scale=scale)).graph
        ops[name] = {node.op_type for node in graph.node}
        assert [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim] == ["batch", "", "height", "width"]
    assert {"Conv", "PRelu", "ConvTranspose"} <= ops["fsrcnn"]
    assert {"Conv", "Tanh", "DepthToSpace"} <= ops["espcn"]
    assert {"Conv", "PRelu", "BatchNormalization", "Add", "DepthToSpace"} <= ops["srresnet"]
    modes = [a.s for n in onnx.load(tmp_path / "espcn.onnx").graph.node for a in n.attribute if a.name == "mode"]
    assert modes == [b"CRD"]


def test_upscale_reads_an_exported_safetensors_file(tmp_path):
    export("fsrcnn", tmp_path / "f.safetensors", scale=2)
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(upscale(image, 2, "fsrcnn", weights=tmp_path / "f.safetensors"),
                                  upscale(image, 2, "fsrcnn"))
    with pytest.raises(CheckpointError, match="trained for x2 upscaling, not the x3"):
        upscale(image, 3, "fsrcnn", weights=tmp_path / "f.safetensors")


# ------------------------------------------------------------------------------------ PyTorch's twins

@pytest.mark.parametrize("source", ["srcnn_x3", "fsrcnn_x3", "espcn_x3", "srresnet_x4", "discriminator"])
def test_the_pytorch_twin_loads_the_file_strictly_and_computes_the_same(source, tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    from safetensors.torch import load_file

    from tinysr.export.torch_twins import torch_twin

    path = tmp_path / "w.safetensors"
    if source == "discriminator":
        network = Discriminator(hr_size=32, num_features=8, rng=0).eval()
        network.features[3].running_mean[...] = np.linspace(-1, 1, 8)  # statistics that matter in eval mode
        network.features[3].num_batches_tracked[...] = 7
        save_safetensors(path, network, {"format": "tinysr-weights", "version": 1, "model": network.config,
                                         "scale": 1})
        x = np.random.default_rng(0).random((2, 3, 32, 32)).astype(np.float32)
    else:
        name, scale = source.rsplit("_x", 1)
        export(name, path, scale=int(scale))
        network = load_weights(path)[0].eval()
        x = _input(network, 19, 21)
    twin = torch_twin(path).eval()
    tensors = load_file(path)
    twin.load_state_dict(tensors, strict=True)  # every key, shape and buffer, num_batches_tracked included
    assert set(tensors) == set(twin.state_dict())
    with torch.no_grad():
        got = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, network.forward(x), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------ the command, bad input

def _tinysr(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tinysr", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_exports_a_trained_weights_file(tmp_path):
    save_weights(tmp_path / "weights.npz", SRCNN(n1=8, n2=4, rng=0), scale=2)
    done = _tinysr("export", str(tmp_path / "weights.npz"), "--format", "onnx", "-o", str(tmp_path / "m.onnx"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {tmp_path / 'm.onnx'}")
    onnx.checker.check_model(onnx.load(tmp_path / "m.onnx"))


@pytest.mark.parametrize(("args", "message"), [
    (["README.md", "-o", "{tmp}/x.onnx"], "is not a tinysr weights file"),
    (["{tmp}/w.npz", "-o", "{tmp}/w.npz", "--format", "onnx"], "is the weights file being exported"),
    (["srcnn", "-o", "{tmp}/x.onnx"], "a shipped model needs a scale"),
    (["srcnn", "--scale", "3", "-o", "{tmp}/x.txt"], "expected format safetensors or onnx, got 'txt'"),
    (["srcnn", "--scale", "3", "-o", "{tmp}/missing/x.onnx"], "does not exist"),
    (["{tmp}/w.npz", "--scale", "3", "-o", "{tmp}/x.onnx"], "trained for x2 upscaling, not the x3"),
    (["{tmp}/truncated.npz", "-o", "{tmp}/x.safetensors"], "corrupt or truncated"),
])
def test_cli_bad_input_is_one_line_and_leaves_no_file(tmp_path, args, message):
    save_weights(tmp_path / "w.npz", SRCNN(n1=8, n2=4, rng=0), scale=2)
    data = (tmp_path / "w.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    before = sorted(tmp_path.iterdir())
    done = _tinysr("export", *[a.format(tmp=tmp_path) for a in args], cwd=Path(__file__).parent.parent)
    assert done.returncode == 1
    assert done.stderr.startswith("tinysr export: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert sorted(tmp_path.iterdir()) == before  # nothing written, no temporary file left
    assert (tmp_path / "w.npz").read_bytes() == data
