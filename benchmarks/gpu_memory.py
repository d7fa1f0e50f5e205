"""Peak GPU memory while a piece of code runs, read from the driver (NVML), not from an allocator.

    with PeakGPUMemory() as peak:
        run_the_step()
    print(peak.describe())        # e.g. "812 MiB" (peak used minus used before), or "n/a (why)"

numba.cuda keeps no statistics of its allocations (PyTorch's ``max_memory_allocated`` has no
counterpart), so a thread samples the GPU's used memory every few milliseconds through NVML
(the ``nvidia-ml-py`` package, imported as ``pynvml``), or through ``nvidia-smi`` where that
package is missing, and keeps the maximum. The figure is the whole GPU's, so it includes the
CUDA context (a few hundred MiB) when the code under test creates it; run nothing else on the
GPU meanwhile. A short peak between two samples can be missed: it is a lower bound.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

MIB = 1024 * 1024


def _reader():
    """A function returning the GPU's used bytes, and None; or None and the reason there is none."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return (lambda: int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)), None
    except Exception as error:  # no package, no driver, no GPU: fall back to nvidia-smi
        nvml_error = f"{type(error).__name__}: {error}"
    if shutil.which("nvidia-smi") is None:
        return None, f"neither NVML ({nvml_error}) nor nvidia-smi"

    def used_by_nvidia_smi() -> int:
        text = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                              capture_output=True, text=True, timeout=10).stdout
        return int(text.split()[0]) * MIB

    try:
        used_by_nvidia_smi()
    except Exception as error:
        return None, f"nvidia-smi did not answer ({error})"
    return used_by_nvidia_smi, None


class PeakGPUMemory:
    """A context manager: ``peak_bytes`` = the largest used memory seen inside minus the used memory before."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.peak_bytes: int | None = None
        self.reason: str | None = None
        self._read, self.reason = _reader()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakGPUMemory:
        if self._read is None:
            return self
        self._baseline = self._read()
        self._highest = self._baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._highest = max(self._highest, self._read())

    def __exit__(self, *exc) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._highest = max(self._highest, self._read())
        self.peak_bytes = self._highest - self._baseline

    def describe(self) -> str:
        if self.peak_bytes is None:
            return f"n/a ({self.reason})" if self.reason else "n/a"
        return f"{self.peak_bytes / MIB:.0f} MiB"
