"""Pure ASGI middleware of the service: the request body limit (enforced while the body streams
in) and the security headers of every response.

Both wrap the whole application, outside FastAPI's own error handling, so they also apply to the
answers of its exception handlers (500s included) and of the static dashboard.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from levguard.documents import JSON_PARSE_DEPTH, json_depth_exceeds

__all__ = [
    "DASHBOARD_CSP",
    "DEFAULT_CSP",
    "PARSE_FAILED",
    "BodyLimit",
    "DepthCheckedRoute",
    "SecurityHeaders",
    "send_error",
]

#: FastAPI's answer to a body whose parsing raised something else than a JSON syntax error.
PARSE_FAILED = "There was an error parsing the body"


class DepthCheckedRoute(APIRoute):
    """A route that refuses a JSON body nested deeper than
    :data:`~levguard.documents.JSON_PARSE_DEPTH` levels before FastAPI parses it.

    :func:`json.loads` recurses once per level, bounded by ``sys.getrecursionlimit()``: 1,000 by
    default (a ``RecursionError``, answered 400 ``invalid JSON body: nested too deeply``), but
    web3 raises it to 100,000 at import, as the on-chain guardian's process does; 30,000 levels
    then parsed and were answered 422, and in the test suite which answer came depended on what
    the worker had imported.  The answer is the 400 in every process (after the token checks,
    as every parse failure).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            body = await request.body()  # kept on the request: FastAPI reads it from there
            if body and json_depth_exceeds(body.decode("utf-8", "replace"), JSON_PARSE_DEPTH):
                deep = RecursionError(f"nested deeper than {JSON_PARSE_DEPTH} levels")
                raise HTTPException(400, PARSE_FAILED) from deep
            return await handler(request)

        return checked


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The dashboard's policy: its own scripts, styles and API only, nothing inline, no framing.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; object-src 'none'; frame-ancestors 'none'"
)
#: Every other answer (JSON, the event stream, static assets): nothing may load or frame it.
DEFAULT_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

_ALWAYS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


async def send_error(send: Send, status: int, message: str, *, close: bool = False) -> None:
    """Answer with the API's JSON error body (``{"error", "status"}``); ``close`` asks the server
    to close the connection afterwards (the rest of the request is not read)."""
    body = json.dumps({"error": message, "status": status}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` without buffering them.

    * ``Content-Length`` over the limit: 413 at once, nothing read; an invalid one (not digits,
      or several that disagree): 400.
    * Otherwise (chunked bodies included) the bytes of ``http.request`` messages are counted as
      the application reads them, and the request is answered with 413 as soon as the count
      passes the limit; the application then sees a disconnect and whatever it answers is
      dropped.  At most ``max_bytes`` plus one chunk is ever held.
    * A body that does not arrive in full within ``timeout_s`` of the request's start is
      answered with 408 (a slow client cannot hold a request open forever by trickling bytes).

    Errors close the connection (``Connection: close``): the rest of the body is never read.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float | None = 30.0) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = [v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"]
        if lengths:
            values = {int(v) for v in lengths if v.strip().isdigit()}
            if len(values) != 1 or len(lengths) != sum(1 for v in lengths if v.strip().isdigit()):
                await send_error(send, 400, "invalid Content-Length", close=True)
                return
            if values.pop() > self.max_bytes:
                await send_error(send, 413, f"request body larger than {self.max_bytes} bytes", close=True)
                return
        await _LimitedRequest(self, scope, receive, send).run()


class _LimitedRequest:
    """One request under :class:`BodyLimit`: counts the body, answers 413/408 itself when due."""

    def __init__(self, limit: BodyLimit, scope: Scope, receive: Receive, send: Send) -> None:
        self.limit = limit
        self.scope = scope
        self._receive = receive
        self._send = send
        self.received = 0
        self.body_done = False
        self.refused = False  # we answered: the application's own answer is dropped
        self.started = False
        loop = asyncio.get_running_loop()
        self.deadline = None if limit.timeout_s is None else loop.time() + limit.timeout_s

    async def run(self) -> None:
        try:
            await self.limit.app(self.scope, self.receive, self.send)
        except Exception:
            if not self.refused:
                raise
            # The application failed on the disconnect we made it see: the client has its answer.

    async def _refuse(self, status: int, message: str) -> Message:
        self.refused = True
        if not self.started:
            self.started = True
            await send_error(self._send, status, message, close=True)
        return {"type": "http.disconnect"}

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        if self.body_done or self.deadline is None:
            message = await self._receive()
        else:
            remaining = self.deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(self._receive(), max(remaining, 0.0))
            except TimeoutError:
                return await self._refuse(408, f"request body not received within {self.limit.timeout_s:g} s")
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit.max_bytes:
                return await self._refuse(413, f"request body larger than {self.limit.max_bytes} bytes")
            if not message.get("more_body", False):
                self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class SecurityHeaders:
    """Add ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
    no-referrer`` and a ``Content-Security-Policy`` to every HTTP response.

    The policy is :data:`DASHBOARD_CSP` for HTML and :data:`DEFAULT_CSP` for anything else, unless
    the response set its own (the optional API documentation pages do).
    """

    def __init__(self, app: ASGIApp, *, html_csp: str = DASHBOARD_CSP, default_csp: str = DEFAULT_CSP) -> None:
        self.app = app
        self.html_csp = html_csp.encode()
        self.default_csp = default_csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in dict(_ALWAYS)]
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                    csp = self.html_csp if ctype.lower().startswith(b"text/html") else self.default_csp
                    headers.append((b"content-security-policy", csp))
                message["headers"] = [*headers, *_ALWAYS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
