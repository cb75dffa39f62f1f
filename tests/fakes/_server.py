"""A tiny threaded HTTP server on 127.0.0.1 with a route table, a request log and fault injection.

Fake venues subclass :class:`FakeServer`, register handlers with :meth:`FakeServer.route` and
override :meth:`FakeServer.fallback` for paths without a route (e.g. static files).
"""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Return a header value, case-insensitively."""
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class Reply:
    """A response to send. ``declared_length`` > ``len(body)`` simulates a connection dropped mid-body."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Reply:
        """A JSON response."""
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})


Handler = Callable[[Recorded], Reply]


class FakeServer:
    """Base class of the fakes: ``with FakeX() as fake: ... fake.base_url ... fake.requests``."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Recorded] = []
        self._faults: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.handler_errors: list[BaseException | None] = []

    # -- configuration ------------------------------------------------------------------------

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method path`` with ``handler``."""
        self.routes[(method.upper(), path)] = handler

    def inject(self, path: str, *replies: Reply) -> None:
        """Answer the next ``len(replies)`` requests for ``path`` with these replies, in order."""
        with self._lock:
            self._faults[path].extend(replies)

    def fallback(self, req: Recorded) -> Reply:
        """Answer a request without a route (default: 404)."""
        return Reply(404, b"not found")

    # -- inspection ---------------------------------------------------------------------------

    def count(self, prefix: str = "") -> int:
        """Number of requests whose path starts with ``prefix``."""
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(prefix))

    def paths(self) -> list[str]:
        """Paths of all requests so far, in order."""
        with self._lock:
            return [r.path for r in self.requests]

    def clear_log(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self.requests.clear()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the port is chosen by the OS)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> Self:
        """Start serving on an ephemeral port in a daemon thread."""
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
                del format, args

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Recorded(method, parts.path, dict(parse_qsl(parts.query)), dict(self.headers.items()), body)
                reply = fake._dispatch(req)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                declared = reply.declared_length if reply.declared_length is not None else len(reply.body)
                self.send_header("Content-Length", str(declared))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(reply.body)
                self.wfile.flush()
                self.close_connection = True

            def do_GET(self) -> None:
                self._serve("GET")

            def do_HEAD(self) -> None:
                self._serve("HEAD")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # An exception in a handler (typically a client that timed out and closed the
                # socket before a slow reply was written) is recorded, not printed: the handler
                # thread may outlive its test, and socketserver's default would print the
                # traceback into whatever stderr a later test is capturing.
                del request, client_address
                fake.handler_errors.append(sys.exc_info()[1])

        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _dispatch(self, req: Recorded) -> Reply:
        with self._lock:
            self.requests.append(req)
            queued = self._faults.get(req.path)
            injected = queued.popleft() if queued else None
        if injected is not None:
            return injected
        handler = self.routes.get((req.method if req.method != "HEAD" else "GET", req.path))
        try:
            return handler(req) if handler is not None else self.fallback(req)
        except Exception as exc:  # a bug in a fake should show up as a 500, not a hung test
            return Reply(500, f"fake server error: {exc!r}".encode())
