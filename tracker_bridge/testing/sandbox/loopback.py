"""The loopback HTTP server every sandbox runs on: read a request, let the app answer, write JSON.

A sandbox is a :class:`SandboxApp`: it turns one :class:`SandboxRequest` into an
:class:`Answer` in its tracker's shapes. :class:`SandboxServer` serves it on a threading
HTTP/1.1 server, logs each request to the app's :class:`RequestLog`, answers 500 (in the
app's error shape) when the app itself fails, and starts and stops in a background thread.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, urlsplit

from tracker_bridge.testing.sandbox.request_log import LoggedRequest, RequestLog

if TYPE_CHECKING:
    from email.message import Message


@dataclass
class Answer:
    """An answer to write: HTTP status, a JSON-able body (None: no body) and extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SandboxRequest:
    """One request as read: method (upper case), raw path, parsed query, headers, body bytes."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        """A request header's value (case-insensitive name), or ``default``."""
        value = self.headers.get(name)
        return default if value is None else str(value)


class SandboxApp(ABC):
    """A tracker's REST API as a sandbox answers it; subclasses supply :meth:`respond`.

    Attributes:
        request_log: Where the server records each answered request.
        content_type: The ``Content-Type`` of every answer with a body.
        server_version: The ``Server`` header's product, or None for http.server's default.
    """

    content_type = "application/json"
    server_version: str | None = None

    def __init__(self, request_log: RequestLog) -> None:
        self.request_log = request_log

    @abstractmethod
    def respond(self, request: SandboxRequest) -> Answer:
        """The answer to one request (error answers included; raise only for a sandbox bug)."""

    def internal_error(self, error: Exception) -> Answer:
        """The answer when :meth:`respond` raised: 500, naming only the exception's type."""
        return Answer(500, {"message": f"sandbox error: {type(error).__name__}"})


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    # Keep-alive with separate header and body writes meets delayed ACKs: 40 ms per request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record."""

    def version_string(self) -> str:
        """The ``Server`` header: the app's product name when it has one."""
        product = self.server.app.server_version
        return product if product is not None else super().version_string()

    def do_GET(self) -> None:
        """Answer a GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Answer a POST."""
        self._serve("POST")

    def do_PUT(self) -> None:
        """Answer a PUT."""
        self._serve("PUT")

    def do_DELETE(self) -> None:
        """Answer a DELETE."""
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        app = self.server.app
        started = time.monotonic()
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = SandboxRequest(method, split.path, query, self.headers, body)
        try:
            answer = app.respond(request)
        except Exception as err:  # noqa: BLE001 - a sandbox bug must answer 500, not hang
            answer = app.internal_error(err)
        ms = round((time.monotonic() - started) * 1000, 1)
        # Logged before the answer is written, so a client that has its answer sees it logged.
        app.request_log.record(LoggedRequest(method, split.path, query, answer.status, ms))
        data = b"" if answer.body is None else json.dumps(answer.body).encode("utf-8")
        try:
            self.send_response(answer.status)
            if answer.body is not None:
                self.send_header("Content-Type", app.content_type)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout it asked for); nothing left to tell it.
            self.close_connection = True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        super().__init__(address, _Handler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up first (a timeout test); report anything else."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """A sandbox app served on ``host``:``port`` (0: any free port); ``url`` is its base URL.

    Args:
        app: What answers the requests.
        host: Address to bind; sandboxes bind loopback.
        port: TCP port, 0 for any free one.
        name: Name of the serving thread (shows in thread dumps).

    Raises:
        OSError: The address cannot be bound (the port is taken).
    """

    def __init__(
        self, app: SandboxApp, *, host: str = "127.0.0.1", port: int = 0, name: str = "sandbox"
    ) -> None:
        self._httpd = _HTTPServer((host, port), app)
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name=name, daemon=True
        )

    def start(self) -> SandboxServer:
        """Serve in a background thread; returns self."""
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` is called from another one."""
        self._httpd.serve_forever(0.05)

    def stop(self) -> None:
        """Stop serving, release the port, and wait (up to 5 s) for the serving thread."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class ServedSandbox:
    """Start, stop and ``with`` for a sandbox whose ``_server`` is a :class:`SandboxServer`.

    A sandbox class sets ``self._server`` and ``self.url`` in its ``__init__``; ``with
    sandbox:`` stops it on leaving.
    """

    _server: SandboxServer
    url: str

    def start(self) -> Self:
        """Serve in a background thread; returns self."""
        self._server.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` is called from another one."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
