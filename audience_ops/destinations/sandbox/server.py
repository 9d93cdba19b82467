"""One WSGI app serving every sandbox emulator under its own prefix, and a threaded server for it.

- ``/meta/v25.0/...``: Meta's Graph API (custom audiences); ``/_sandbox/meta/...``: its test controls.
- ``/tiktok/open_api/v1.3/...``: TikTok's Business API (segment audiences); ``/_sandbox/tiktok/...``.
- ``/google/v1/...``: Google's Data Manager API (Customer Match members); ``/_sandbox/google/...``.
- ``/segment/v1/batch``: a Segment-Spec receiver; ``/webhook/...``: a Standard Webhooks receiver
  (``/_sandbox/segment/...``, ``/_sandbox/webhook/...``; see :mod:`.receivers`).

``manage.py run_sandbox`` serves it until interrupted; tests start it in a thread on a free port
(:func:`start_in_thread`). It is plain ``wsgiref``: no dependency, one thread per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import google, meta, receivers, tiktok
from .http import Request, Response, parse_request, send

logger = logging.getLogger(__name__)


class SandboxApp:
    """Routes a request to the emulator whose prefix it starts with."""

    def __init__(self) -> None:
        self.meta = meta.MetaSandbox()
        self.tiktok = tiktok.TikTokSandbox()
        self.google = google.GoogleSandbox()
        self.segment = receivers.SegmentReceiver()
        self.webhook = receivers.WebhookReceiver()

    def routes(self) -> list[tuple[str, Callable[[Request], Response]]]:
        """(path prefix, handler) per emulator API and control surface, tried in this order."""
        return [
            (meta.API_PREFIX, self.meta.handle_api),
            (meta.CONTROL_PREFIX, self.meta.handle_control),
            (tiktok.API_PREFIX, self.tiktok.handle_api),
            (tiktok.CONTROL_PREFIX, self.tiktok.handle_control),
            (google.API_PREFIX, self.google.handle_api),
            (google.CONTROL_PREFIX, self.google.handle_control),
            (receivers.SEGMENT_API_PREFIX, self.segment.handle_api),
            (receivers.SEGMENT_CONTROL_PREFIX, self.segment.handle_control),
            (receivers.WEBHOOK_API_PREFIX, self.webhook.handle_api),
            (receivers.WEBHOOK_CONTROL_PREFIX, self.webhook.handle_control),
        ]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = parse_request(environ)
        path = request.path
        for prefix, handler in self.routes():
            if path.startswith(prefix + "/"):
                request.path = path[len(prefix) :]
                return send(handler(request), start_response)
        if path in ("/", "/_sandbox", "/_sandbox/"):
            response = Response(
                200,
                {
                    "sandboxes": {
                        "meta": {"api": meta.API_PREFIX, "control": meta.CONTROL_PREFIX},
                        "tiktok": {"api": tiktok.API_PREFIX + tiktok.VERSION_PREFIX, "control": tiktok.CONTROL_PREFIX},
                        "google": {"api": google.API_PREFIX + google.VERSION_PREFIX, "control": google.CONTROL_PREFIX},
                        "segment": {"api": receivers.SEGMENT_API_PREFIX, "control": receivers.SEGMENT_CONTROL_PREFIX},
                        "webhook": {"api": receivers.WEBHOOK_API_PREFIX, "control": receivers.WEBHOOK_CONTROL_PREFIX},
                    },
                    "note": "Local emulators of destination APIs, for the demo and tests only.",
                },
            )
        else:
            response = Response(404, {"error": {"message": f"No sandbox serves {path}", "code": 404}})
        return send(response, start_response)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A request per thread, so a hanging request does not block the others; threads die with the server."""

    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    """Logs nothing on stderr; ``run_sandbox`` logs method and path only (a query string can carry a token)."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        logger.debug("%s %s %s", self.command, path, code)


def make_sandbox_server(host: str = "127.0.0.1", port: int = 0, app: SandboxApp | None = None) -> WSGIServer:
    """A server bound to ``host:port`` (port 0: any free port), not yet serving."""
    return make_server(host, port, app or SandboxApp(), server_class=ThreadingWSGIServer, handler_class=QuietHandler)


@dataclass
class RunningSandbox:
    """A sandbox serving in a background thread; ``url`` is its root, ``app`` its in-process state."""

    server: WSGIServer
    thread: threading.Thread
    app: SandboxApp

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_in_thread(host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    """Serve every sandbox from a daemon thread (tests, or embedding in another process)."""
    app = SandboxApp()
    server = make_sandbox_server(host, port, app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.name = "sandbox-server"
    thread.start()
    return RunningSandbox(server=server, thread=thread, app=app)
