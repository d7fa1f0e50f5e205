"""Shared by the web tests: skip without the web extra, a live server in a thread, image files as bytes."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

starlette = pytest.importorskip("starlette", reason="the web extra is not installed: pip install 'tinysr[web]'")
uvicorn = pytest.importorskip("uvicorn", reason="the web extra is not installed: pip install 'tinysr[web]'")
pytest.importorskip("multipart", reason="the web extra is not installed: pip install 'tinysr[web]'")


class LiveServer:
    """``tinysr serve``'s application on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, app):
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def photo(height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth colour test picture (gradients and a few discs), uint8 (H, W, 3)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(seed)
    image = np.stack([rows / height, cols / width, 0.5 + 0.5 * np.sin((rows + cols) / 7)], axis=2)
    for _ in range(4):
        r, c, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(4, 12)
        image[(rows - r) ** 2 + (cols - c) ** 2 < radius**2] = rng.uniform(0, 1, 3)
    return (image * 255).round().astype(np.uint8)


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header says ``width`` x ``height``: a decompression bomb's calling card."""
    data = bytearray(png_bytes(np.zeros((1, 1), dtype=np.uint8)))
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type; its 13 data bytes start here
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)
