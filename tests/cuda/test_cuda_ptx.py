"""Every kernel the other tests launched on the simulator also compiles for a real GPU (PTX, sm_80).

This test runs last (tests/cuda/conftest.py orders it): the strict simulator recorded each
kernel and the argument types of each launch; ``compile_ptx.py`` compiles them all in a fresh
process without the simulator. Skipped on a GPU (running the tests there compiled them) and
where numba-cuda has no NVVM compiler.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cuda_helpers import LAUNCHES, SIMULATOR


def test_every_launched_kernel_compiles_for_a_real_gpu(tmp_path):
    if not SIMULATOR:
        pytest.skip("on a GPU the tests compiled every kernel they ran")
    if not LAUNCHES:
        pytest.skip("no kernel was launched before this test: run the whole of tests/cuda")
    launches = [{"module": module, "qualname": qualname, "signatures": sorted(signatures)}
                for (module, qualname), signatures in sorted(LAUNCHES.items())]
    path = tmp_path / "launches.json"
    path.write_text(json.dumps(launches))
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"}
    script = Path(__file__).with_name("compile_ptx.py")
    result = subprocess.run([sys.executable, str(script), str(path)], env=env, capture_output=True, text=True,
                            timeout=1200)
    if result.returncode == 3:
        pytest.skip(f"numba-cuda cannot compile here: {result.stdout.strip()} (pip install 'numba-cuda[cu12]')")
    assert result.returncode == 0, result.stdout + result.stderr
    signatures = sum(len(entry["signatures"]) for entry in launches)
    compiled = int(result.stdout.split("compiled ")[1].split()[0])
    assert compiled >= signatures, result.stdout  # closures are compiled once per tile shape
