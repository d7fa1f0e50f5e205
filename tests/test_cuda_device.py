"""``tinysr.device`` without a GPU: the CPU path never imports numba.cuda, and asking for "cuda" says why not.

The numba.cuda kernels themselves are tested in ``tests/cuda`` (``NUMBA_ENABLE_CUDASIM=1 pytest tests/cuda``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import tinysr
from tinysr import device
from tinysr.nn import Conv2d


def test_cpu_training_step_never_imports_numba_cuda():
    code = """
import sys
import numpy as np
import tinysr
from tinysr.models import SRResNet
from tinysr.losses import MSELoss
from tinysr.optim import Adam
model = SRResNet(scale=2, num_blocks=1, num_features=4, rng=0)
optimizer, criterion = Adam(model.parameters()), MSELoss()
x = np.zeros((1, 3, 4, 4), np.float32)
criterion.forward(model.forward(x), np.zeros((1, 3, 8, 8), np.float32))
model.backward(criterion.backward())
optimizer.step()
tinysr.to_device(x, "cpu")
loaded = sorted(m for m in sys.modules if m.startswith(("numba.cuda", "numba_cuda", "tinysr.ops.cuda")))
print(loaded)
"""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_cpu_arrays_stay_where_they_are():
    x = np.ones((2, 3), dtype=np.float32)
    assert tinysr.to_device(x, "cpu") is x
    assert device.device_of(x) == "cpu" and not device.is_device_array(x)
    with pytest.raises(TypeError, match=r"to_device: expected a numpy.ndarray or a numba.cuda device array, got list"):
        tinysr.to_device([1.0, 2.0], "cpu")
    with pytest.raises(ValueError, match=r"expected device 'cpu' or 'cuda', got 'gpu'"):
        tinysr.to_device(x, "gpu")
    with pytest.raises(ValueError, match=r"expected device 'cpu' or 'cuda', got 'cuda:1'"):
        Conv2d(1, 1, 1).to("cuda:1")


@pytest.mark.skipif(tinysr.cuda_available(), reason="a GPU (or the CUDA simulator) is available here")
def test_asking_for_cuda_without_a_gpu_says_why_in_one_line():
    x = np.ones(3, dtype=np.float32)
    for call in (lambda: tinysr.to_device(x, "cuda"), lambda: Conv2d(1, 1, 1).to("cuda"),
                 lambda: device.check_device("cuda")):
        with pytest.raises(tinysr.DeviceError, match=r"^device 'cuda' is not available: ") as error:
            call()
        assert "\n" not in str(error.value)


def test_without_numba_cuda_the_message_says_what_to_install(monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "numba_cuda" else real_find_spec(name, *args))
    assert not tinysr.cuda_available()
    with pytest.raises(tinysr.DeviceError, match=r"the numba-cuda package is not installed \(pip install "
                                                 r"\"tinysr\[cuda\]\"\)"):
        tinysr.to_device(np.ones(3), "cuda")
