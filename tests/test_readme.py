"""README's examples run, and the gradcheck failure it shows is the real output."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

if not README.exists():  # an installed copy of the tests without the repository around it
    pytest.skip("README.md is not next to the tests", allow_module_level=True)

TEXT = README.read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)


def _run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    return out.getvalue()


def test_readme_has_its_examples():
    assert len(PYTHON_BLOCKS) >= 2


def test_training_example_runs_and_gradcheck_passes():
    output = _run(next(block for block in PYTHON_BLOCKS if "gradcheck" in block))
    assert output.startswith("gradcheck passed")


def test_buggy_layer_example_fails_as_readme_shows():
    buggy = next(block for block in PYTHON_BLOCKS if "BUG" in block)
    output = _run(buggy).strip()
    shown = re.search(r"It fails and says where and how:\n\n```text\n(.*?)```", TEXT, flags=re.DOTALL).group(1)
    assert "input 0" in output and "FAILED" in output
    assert output == shown.strip(), f"README shows a different gradcheck message; the real one is:\n{output}"
    fixed = buggy.replace("return grad_output                      # BUG: should be grad_output * scale",
                          "return grad_output * self.scale.data[None, :, None, None]")
    assert fixed != buggy
    assert "FAILED" not in _run(fixed)  # with the bug fixed, no error is printed


def test_export_snippets_run(tmp_path, monkeypatch):
    """README's PyTorch and ONNX Runtime snippets, on files made as README says (``tinysr export``)."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed: pip install 'tinysr[export]'")
    from tinysr.export import export

    monkeypatch.chdir(tmp_path)
    export("srcnn", "srcnn_x3.onnx", scale=3)
    export("srcnn", "my_srcnn.safetensors", scale=3)
    onnx_block = next(block for block in PYTHON_BLOCKS if "ort.InferenceSession" in block)
    assert _run(onnx_block).strip() == "(1, 1, 300, 400)"
    pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    namespace = {}
    exec(next(block for block in PYTHON_BLOCKS if "torch_twin" in block), namespace)
    assert not namespace["model"].training and len(namespace["model"].state_dict()) == 6
