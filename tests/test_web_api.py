"""``tinysr serve``'s HTTP API: what it answers, what it refuses, and that it keeps serving under load."""

from __future__ import annotations

import io
import re
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from web_helpers import LiveServer, photo, png_bytes, png_claiming

from tinysr import upscale
from tinysr.image import bicubic_degrade, modcrop
from tinysr.metrics import psnr, ssim
from tinysr.models import SRCNN
from tinysr.web import service
from tinysr.web.app import create_app
from tinysr.web.inspect import inspect_network

httpx = pytest.importorskip("httpx", reason="httpx (the test client) is not installed: pip install 'tinysr[test]'")
with warnings.catch_warnings():  # Starlette 1.x would rather have httpx's successor; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PACKAGE = Path(service.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


def _post(client, route="/api/upscale", image=None, **fields):
    files = {"image": ("photo.png", png_bytes(photo()) if image is None else image, "image/png")}
    if "weights" in fields:
        files["weights"] = ("weights.npz", fields.pop("weights"), "application/octet-stream")
    return client.post(route, files=files, data={key: str(value) for key, value in fields.items()})


def _decoded(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and "\n" not in message and message
    return message


# ------------------------------------------------------------------------------------------- the page

def test_models_lists_the_shipped_weights_and_bicubic(client):
    answer = client.get("/api/models").json()
    listed = {m["name"]: m["scales"] for m in answer["models"]}
    shipped = {}
    for file in (PACKAGE / "weights").glob("*_x*.npz"):
        name, scale = file.stem.rsplit("_x", 1)
        shipped.setdefault(name, []).append(int(scale))
    assert listed.pop("bicubic") == [2, 3, 4]
    assert listed == {name: sorted(scales) for name, scales in shipped.items()}
    assert answer["limits"]["max_pixels"] == 1024 * 1024


def test_the_page_loads_nothing_from_the_internet(client):
    for path in ("/", "/static/app.js", "/static/style.css"):
        response = client.get(path)
        assert response.status_code == 200
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", response.text.replace("http://host", "")), path
    page = client.get("/").text
    assert 'src="/static/app.js"' in page and 'href="/static/style.css"' in page


def test_samples_are_the_package_photos(client):
    names = client.get("/api/samples").json()["samples"]
    assert names == sorted(p.name for p in (PACKAGE / "sample_images").glob("*.png")) and names
    response = client.get(f"/api/samples/{names[0]}")
    assert response.content == (PACKAGE / "sample_images" / names[0]).read_bytes()
    assert "expected one of the samples" in _error(client.get("/api/samples/nosuch.png"), 404)
    _error(client.get("/api/samples/..%2Fweights%2Fsrcnn_x3.npz"), 404)
    _error(client.get("/api/no-such-route"), 404)


# ------------------------------------------------------------------------------------------ upscale

@pytest.mark.parametrize(("model", "scale"), [("bicubic", 2), ("srcnn", 3), ("fsrcnn", 3)])
def test_upscale_answers_what_tinysr_upscale_computes(client, model, scale):
    image = photo()
    result = _decoded(_post(client, image=png_bytes(image), model=model, scale=scale))
    np.testing.assert_array_equal(result, upscale(image, scale, model))


def test_pretend_scores_the_shrunk_copy_against_the_original(client):
    image = photo(61, 82)  # not a multiple of 3: the ground truth is cut to one
    response = _post(client, image=png_bytes(image), model="srcnn", scale=3, pretend="1")
    result = _decoded(response)
    truth = modcrop(image, 3)
    expected = upscale(bicubic_degrade(truth, 3), 3, "srcnn")
    np.testing.assert_array_equal(result, expected)
    assert float(response.headers["X-Tinysr-PSNR-Y"]) == pytest.approx(
        psnr(expected, truth, crop_border=3, test_y_channel=True), abs=1e-4)
    assert float(response.headers["X-Tinysr-SSIM-Y"]) == pytest.approx(
        ssim(expected, truth, crop_border=3, test_y_channel=True), abs=1e-6)
    assert "X-Tinysr-PSNR-Y" not in _post(client, model="bicubic", scale=3).headers


def test_your_own_weights_file(client, tmp_path):
    from tinysr.checkpoint import save_weights

    network = SRCNN(n1=8, n2=4, f1=3, f2=1, f3=3, rng=0)
    save_weights(tmp_path / "w.npz", network, scale=2)
    result = _decoded(_post(client, model="srcnn", scale=2, weights=(tmp_path / "w.npz").read_bytes()))
    np.testing.assert_array_equal(result, upscale(photo(), 2, network))


# ------------------------------------------------------------------------------------------ inspect

def test_inspect_shows_each_layer_and_the_gradients(client):
    answer = _post(client, "/api/inspect", image=png_bytes(photo(90, 90)), model="srcnn", scale=3, pretend=1,
                   x=10, y=12, size=16).json()
    assert answer["crop"] == {"x": 2, "y": 4, "size": 16}  # centred on (10, 12), kept inside the 30x30 LR image
    assert [(layer["name"], layer["maps"], layer["width"]) for layer in answer["layers"]] == [
        ("relu1 (ReLU)", 64, 48), ("relu2 (ReLU)", 32, 48)]
    grid = Image.open(io.BytesIO(__import__("base64").b64decode(answer["layers"][0]["image"].split(",")[1])))
    assert grid.size == (8 * 48 + 7, 8 * 48 + 7)  # 64 maps as 8 x 8 tiles, 1-pixel gaps
    assert answer["loss"] > 0 and answer["input_gradient"]["max_abs"] > 0
    assert [g["name"] for g in answer["weight_gradients"]] == [
        f"conv{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")]
    assert all(g["grad_norm"] > 0 for g in answer["weight_gradients"])
    no_truth = _post(client, "/api/inspect", model="fsrcnn", scale=2).json()
    assert no_truth["input_gradient"] is None and no_truth["weight_gradients"] == [] and no_truth["target"] is None
    assert [layer["maps"] for layer in no_truth["layers"]] == [56, 12, 12, 12, 12, 12, 56]


def test_inspect_feature_maps_are_the_layers_outputs_and_its_gradient_is_the_loss_gradient():
    network = SRCNN(n1=4, n2=3, f1=3, f2=3, f3=3, dtype=np.float64, rng=1)
    rng = np.random.default_rng(2)
    x, target = rng.random((1, 7, 6)), rng.random((1, 7, 6))
    found = inspect_network(network, x, target)
    assert "forward" not in vars(network.relu1) and "forward" not in vars(network.relu2)  # hooks removed
    conv1 = network.conv1.forward(x[None])
    np.testing.assert_allclose(found.feature_maps[0][1], np.maximum(conv1, 0)[0], rtol=1e-12)

    def loss(pixels):
        return np.mean((network.forward(pixels[None])[0] - target) ** 2)

    step = 1e-6
    for index in [(0, 0, 0), (0, 3, 2), (0, 6, 5)]:
        bumped_up, bumped_down = x.copy(), x.copy()
        bumped_up[index] += step
        bumped_down[index] -= step
        numeric = (loss(bumped_up) - loss(bumped_down)) / (2 * step)
        assert found.input_gradient[index] == pytest.approx(numeric, rel=1e-6, abs=1e-10)


# ------------------------------------------------------------------------------------------ bad input

def _truncated() -> bytes:
    data = png_bytes(photo(64, 64))
    return data[: len(data) // 2]


@pytest.mark.parametrize(("image", "fields", "status", "message"), [
    (b"this is not an image", {}, 400, "expected an image file"),
    (_truncated(), {}, 400, "cannot read the image"),
    (b"", {}, 400, "empty file"),
    (png_bytes(np.zeros((1000, 1100), dtype=np.uint8)), {}, 413,
     "1100x1000 = 1,100,000 pixels; the limit is 1,048,576 pixels"),
    (png_claiming(20000, 5000), {}, 413, "the limit is 1,048,576 pixels"),
    (png_claiming(30000, 30000), {}, 413, "decompression bomb"),
    (None, {"model": "unknown"}, 400, "expected model one of bicubic, srcnn"),
    (None, {"scale": "5"}, 400, "expected scale one of 2, 3, 4"),
    (None, {"scale": "x3"}, 400, "expected scale one of 2, 3, 4"),
    (None, {"model": "srresnet", "scale": "3"}, 400, "no shipped srresnet weights for x3"),
    (None, {"model": "bicubic", "weights": b"PK..."}, 400, "takes no weights"),
    (None, {"model": "fsrcnn", "scale": "2", "weights": (PACKAGE / "weights" / "srcnn_x2.npz").read_bytes()},
     400, "holds a srcnn"),
    (None, {"model": "srcnn", "scale": "2", "weights": (PACKAGE / "weights" / "srcnn_x3.npz").read_bytes()},
     400, "trained for x3 upscaling, not the x2"),
    (None, {"model": "srcnn", "scale": "2", "weights": b"not a weights file"}, 400, "the weights file"),
])
def test_bad_input_is_one_line_and_the_server_keeps_serving(client, image, fields, status, message):
    fields = {"model": "srcnn", "scale": "3", **fields}
    text = _error(_post(client, image=image, **fields), status)
    assert message in text
    assert "/tmp" not in text and "tinysr-web-" not in text  # never the server's temporary paths
    assert client.get("/api/models").status_code == 200


def test_an_upload_over_the_byte_limit_is_refused_with_the_limit_stated(client):
    big = b"\x89PNG\r\n\x1a\n" + bytes(8 * 1024 * 1024)
    assert "the limit is 8.0 MiB (8,388,608 bytes)" in _error(_post(client, image=big), 413)
    huge = bytes(2 * 8 * 1024 * 1024 + 100 * 1024)
    text = _error(client.post("/api/upscale", content=huge, headers={"content-type": "multipart/form-data; b=x"}), 413)
    assert "the limit is" in text


def test_missing_fields_and_wrong_methods(client):
    assert "field 'image'" in _error(client.post("/api/upscale", files={"model": (None, "srcnn")}), 400)
    assert "multipart/form-data" in _error(client.post("/api/upscale", json={"image": "x"}), 400)
    _error(client.get("/api/upscale"), 405)
    assert "no layers" in _error(_post(client, "/api/inspect", model="bicubic"), 400)
    assert "between 8 and 64" in _error(_post(client, "/api/inspect", size=500), 400)


# ------------------------------------------------------------------------------------------ load

def test_twenty_requests_at_once_are_queued_and_all_answered():
    app = create_app()
    image = png_bytes(photo(100, 100))
    with LiveServer(app) as server:
        def one(i):
            with httpx.Client(base_url=server.url, timeout=120) as client:  # each its own connection
                response = client.post("/api/upscale", files={"image": ("p.png", image, "image/png")},
                                       data={"model": "srcnn" if i % 2 else "bicubic", "scale": "3"})
                return response.status_code, _decoded(response).shape

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(one, range(20)))
        assert answers == [(200, (300, 300, 3))] * 20
        assert app.state.worker.peak_running == 1 and app.state.worker.finished == 20  # one at a time
        assert httpx.get(server.url + "/api/models").status_code == 200


def test_past_the_queue_limit_requests_are_refused_at_once_and_the_rest_served():
    app = create_app(max_queue=3)
    release = threading.Event()
    app.state.worker.executor.submit(release.wait, 60)  # keep the worker busy until the queue has filled
    image = png_bytes(photo(40, 40))
    with LiveServer(app) as server, ThreadPoolExecutor(7) as pool:
        def one(_):
            response = httpx.post(server.url + "/api/upscale", files={"image": ("p.png", image, "image/png")},
                                  data={"model": "bicubic", "scale": "2"}, timeout=120)
            return response.status_code, response.json()["error"] if response.status_code != 200 else ""

        futures = [pool.submit(one, i) for i in range(7)]
        deadline = time.monotonic() + 60
        while sum(f.done() for f in futures) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)  # the four past the limit come back while the worker is still blocked
        refused = [f.result() for f in futures if f.done()]
        release.set()
        answers = sorted(f.result()[0] for f in futures)
        assert answers == [200, 200, 200, 503, 503, 503, 503]
        assert len(refused) == 4
        assert all(status == 503 and "the server is busy" in text and "limit is 3" in text for status, text in refused)
        assert httpx.get(server.url + "/api/models").status_code == 200


# ------------------------------------------------------------------------------------------ the command

def test_tinysr_serve_prints_its_address_serves_and_refuses_a_port_in_use():
    import subprocess
    import sys

    command = [sys.executable, "-m", "tinysr", "serve", "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        address = re.fullmatch(r"tinysr serve: (http://127\.0\.0\.1:(\d+)) \(Ctrl-C stops\)\n", line)
        assert address, line
        assert httpx.get(address[1] + "/api/models").status_code == 200
        taken = subprocess.run([*command[:-1], address[2]], capture_output=True, text=True, timeout=60)
        assert taken.returncode == 1
        assert taken.stderr == f"tinysr serve: error: cannot listen on 127.0.0.1:{address[2]}: Address already in use\n"
    finally:
        server.terminate()
        server.wait(timeout=30)
    bad = subprocess.run([*command[:-1], "70000"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected --port between 0 and 65535, got 70000" in bad.stderr
