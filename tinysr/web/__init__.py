"""``tinysr serve``: a local web page to upscale a photo and look inside the network.

Three files, one concern each:

* ``inspect.py``: the maths the page shows (each layer's feature maps, and the gradients a
  ``backward`` call gives for one crop); no web code;
* ``service.py``: what the page asks for, without the HTTP: read an upload within the limits,
  upscale it, inspect it; bytes and JSON-ready dicts in and out;
* ``app.py``: the HTTP around it (Starlette), one job at a time in a queue.

The page itself is ``static/index.html``, ``static/app.js`` and ``static/style.css``: plain
HTML, JavaScript and CSS, served by tinysr, with nothing loaded from the internet.

Needs the optional extra ``pip install "tinysr[web]"`` (Starlette, Uvicorn, python-multipart).
"""

from __future__ import annotations

__all__ = ["serve"]


def serve(host: str = "127.0.0.1", port: int = 8000, *, ready=None) -> None:
    """Serve the page and its API at ``http://host:port`` until Ctrl-C.

    ``ready``: called with the address once the server listens (the command line prints it).
    Raises ``OSError`` if the address cannot be bound (a port in use, say), before anything starts.
    """
    import socket

    import uvicorn

    from tinysr.web.app import create_app

    # Bound here rather than by Uvicorn, so that a port in use is an OSError for the caller to report
    # in one line (Uvicorn would log it and exit); port 0 picks a free port.
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    address = f"http://{f'[{host}]' if ':' in host else host}:{listener.getsockname()[1]}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if ready is not None and self.started:
                ready(address)

    _Server(uvicorn.Config(create_app(), log_level="warning")).run(sockets=[listener])
