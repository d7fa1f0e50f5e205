"""The HTTP side of ``tinysr serve``: a Starlette application around ``tinysr.web.service``.

Routes (README, "tinysr serve", documents them for clients other than the page):

    GET  /                      the page (static/index.html, with its script and style)
    GET  /api/models            {"models": [{"name", "scales", "reads"}], "limits": {...}}
    GET  /api/samples           {"samples": ["astronaut.png", ...]}
    GET  /api/samples/NAME      one sample photo (image/png)
    POST /api/upscale           multipart: image, model, scale[, weights][, pretend] -> image/png
    POST /api/inspect           multipart: image, model, scale[, weights][, pretend][, x, y, size] -> JSON

Errors answer a 4xx (or 503) status with ``{"error": "one line"}``.

One job at a time. Upscaling already uses every core (Numba splits each convolution among
them), so running twenty requests side by side would only multiply the memory. Requests wait in
a queue for the single worker thread instead; past ``max_queue`` waiting jobs, new ones are
answered 503 at once. Each waiting job holds at most its upload (8 MiB), so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tinysr.web import service
from tinysr.web.service import LIMITS, RequestError

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
PAGES = {"/": ("index.html", "text/html"), "/static/app.js": ("app.js", "text/javascript"),
         "/static/style.css": ("style.css", "text/css")}
#: a request body may hold an image and a weights file, each at the upload limit, plus the form fields
MAX_BODY = 2 * LIMITS["max_upload_bytes"] + 64 * 1024


class _Worker:
    """One thread runs the jobs in order; counts waiting and running jobs (the tests read ``peak_running``)."""

    def __init__(self, max_queue: int):
        self.max_queue = max_queue
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinysr-web")
        self.waiting = 0           # accepted, not finished (only touched on the event loop)
        self.running = 0           # inside a job (touched on the worker thread)
        self.peak_running = 0
        self.finished = 0
        self._lock = threading.Lock()

    async def run(self, job, *args, **kwargs):
        if self.waiting >= self.max_queue:
            raise RequestError(f"the server is busy: {self.waiting} jobs are queued (the limit is "
                               f"{self.max_queue}); try again in a moment", status=503)
        self.waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, self._counted, job, args, kwargs)
        finally:
            self.waiting -= 1

    def _counted(self, job, args, kwargs):
        with self._lock:
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)
        try:
            return job(*args, **kwargs)
        finally:
            with self._lock:
                self.running -= 1
                self.finished += 1


async def _read_form(request: Request) -> dict:
    """The multipart form, refused (413) once the body passes ``MAX_BODY``, before it is all in memory."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise RequestError(f"the request is {int(length):,} bytes; the limit is {MAX_BODY:,} bytes "
                           f"(an image and a weights file of at most {LIMITS['max_upload_bytes']:,} bytes each)",
                           status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise RequestError(f"the request is over {MAX_BODY:,} bytes, the limit", status=413)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise RequestError("expected a multipart/form-data body (fields image, model, scale), got "
                           f"{request.headers.get('content-type') or 'no content type'}")

    async def replay():  # the body once more, for Starlette's form parser
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    form = await Request(request.scope, replay).form(max_files=2, max_fields=16)
    fields = {}
    for key, value in form.multi_items():
        fields[key] = await value.read() if hasattr(value, "read") else value
    return fields


def _job_arguments(fields: dict) -> dict:
    """The form's fields -> keyword arguments of ``service.upscale_image`` (checked one by one)."""
    image = fields.get("image")
    if not isinstance(image, bytes):
        raise RequestError("expected an image file in field 'image', got "
                           + ("a text field" if image is not None else "no such field"))
    model = fields.get("model", "srcnn")
    weights = fields.get("weights") or None
    if weights is not None and not isinstance(weights, bytes):
        raise RequestError("expected a weights file (.npz from tinysr train) in field 'weights', got a text field")
    pretend = str(fields.get("pretend", "")).lower() in ("1", "true", "on", "yes")
    return {"image": image, "model": model, "scale": service.parse_scale(fields.get("scale", "3")),
            "weights": weights, "pretend": pretend}


def _number(fields: dict, name: str, kind=float):
    value = fields.get(name)
    if value in (None, ""):
        return None
    try:
        return kind(value)
    except ValueError:
        raise RequestError(f"expected field {name!r} to be a number, got {value!r}") from None


def create_app(max_queue: int = 32) -> Starlette:
    """The ``tinysr serve`` application; ``max_queue`` jobs may wait at once (more are answered 503)."""
    worker = _Worker(max_queue)

    async def page(request: Request) -> Response:
        name, media_type = PAGES[request.url.path]
        return FileResponse(STATIC / name, media_type=media_type)

    async def models(request: Request) -> Response:
        return JSONResponse({"models": service.available_models(), "limits": LIMITS})

    async def samples(request: Request) -> Response:
        return JSONResponse({"samples": service.sample_names()})

    async def sample(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in service.sample_names():
            raise RequestError(f"expected one of the samples {', '.join(service.sample_names())}, got {name!r}",
                               status=404)
        return FileResponse(service.SAMPLES_DIR / name, media_type="image/png")

    def upscale_job(image: bytes, model, scale, weights, pretend):
        png, metrics = service.upscale_image(service.decode_image(image), model, scale, weights, pretend)
        headers = {}
        if metrics is not None:
            headers = {"X-Tinysr-PSNR-Y": f"{metrics['psnr_y']:.4f}", "X-Tinysr-SSIM-Y": f"{metrics['ssim_y']:.6f}"}
        return Response(png, media_type="image/png", headers=headers)

    async def upscale(request: Request) -> Response:
        return await worker.run(upscale_job, **_job_arguments(await _read_form(request)))

    def inspect_job(image: bytes, model, scale, weights, pretend, **crop):
        return JSONResponse(service.inspect_image(service.decode_image(image), model, scale, weights, pretend,
                                                  **crop))

    async def inspect(request: Request) -> Response:
        fields = await _read_form(request)
        crop = {"centre_x": _number(fields, "x"), "centre_y": _number(fields, "y"),
                "size": _number(fields, "size", int)}
        return await worker.run(inspect_job, **_job_arguments(fields), **crop)

    async def bad_request(request: Request, error: RequestError) -> Response:
        return JSONResponse({"error": str(error)}, status_code=error.status)

    async def not_found(request: Request, error) -> Response:
        status = getattr(error, "status_code", 404)
        detail = "no such page" if status == 404 else getattr(error, "detail", "bad request")
        return JSONResponse({"error": f"{detail}: {request.method} {request.url.path}"}, status_code=status)

    async def server_error(request: Request, error: Exception) -> Response:
        return JSONResponse({"error": f"internal error ({type(error).__name__}: {error})"}, status_code=500)

    routes = [Route(path, page) for path in PAGES] + [
        Route("/api/models", models), Route("/api/samples", samples), Route("/api/samples/{name}", sample),
        Route("/api/upscale", upscale, methods=["POST"]), Route("/api/inspect", inspect, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={RequestError: bad_request, 404: not_found, 405: not_found,
                                                        Exception: server_error})
    app.state.worker = worker
    return app
