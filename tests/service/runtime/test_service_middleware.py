"""The body limit and security headers as pure ASGI middleware, driven message by message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from levguard.service.middleware import DASHBOARD_CSP, DEFAULT_CSP, BodyLimit, SecurityHeaders


class _Echo:
    """An app that reads the whole body (as Starlette's ``request.body()`` does) and answers its
    length; after a disconnect it answers 400, which the middleware must drop."""

    def __init__(self) -> None:
        self.calls = 0
        self.saw_disconnect = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.calls += 1
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.saw_disconnect = True
                await send({"type": "http.response.start", "status": 400, "headers": []})
                await send({"type": "http.response.body", "body": b"client went away"})
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = json.dumps({"size": size}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def _run(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes], *, gap_s: float = 0.0
) -> tuple[list[dict[str, Any]], int]:
    """Send ``chunks`` as the request body; return the messages sent and the chunks consumed."""
    sent: list[dict[str, Any]] = []
    consumed = 0

    async def go() -> None:
        nonlocal consumed

        async def receive() -> dict[str, Any]:
            nonlocal consumed
            if consumed >= len(chunks):
                await asyncio.sleep(3600)  # a client that stops sending
            if gap_s:
                await asyncio.sleep(gap_s)
            consumed += 1
            return {"type": "http.request", "body": chunks[consumed - 1], "more_body": consumed < len(chunks)}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/api/calculate", "headers": headers}
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(go())
    return sent, consumed


def _status(sent: list[dict[str, Any]]) -> tuple[int, dict[str, Any], dict[bytes, bytes]]:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0]["status"], json.loads(body), dict(starts[0]["headers"])


def test_a_small_body_passes_through() -> None:
    app = _Echo()
    sent, _ = _run(BodyLimit(app, max_bytes=100), [], [b"a" * 40, b"b" * 60])
    assert _status(sent)[:2] == (200, {"size": 100})


def test_content_length_over_the_limit_is_413_before_reading() -> None:
    app = _Echo()
    sent, consumed = _run(BodyLimit(app, max_bytes=100), [(b"content-length", b"101")], [b"x" * 101])
    status, body, headers = _status(sent)
    assert (status, body) == (413, {"error": "request body larger than 100 bytes", "status": 413})
    assert headers[b"connection"] == b"close"
    assert consumed == 0
    assert app.calls == 0


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1e3", b""])
def test_invalid_content_length_is_400(value: bytes) -> None:
    app = _Echo()
    sent, consumed = _run(BodyLimit(app, max_bytes=100), [(b"content-length", value)], [b"x"])
    assert _status(sent)[:2] == (400, {"error": "invalid Content-Length", "status": 400})
    assert consumed == 0


def test_disagreeing_content_lengths_are_400() -> None:
    sent, _ = _run(BodyLimit(_Echo(), max_bytes=100), [(b"content-length", b"5"), (b"content-length", b"6")], [b"x"])
    assert _status(sent)[0] == 400


def test_a_chunked_body_is_cut_as_soon_as_it_passes_the_limit() -> None:
    # No Content-Length: 1,000 chunks of 1 KiB offered, the limit 10 KiB.
    app = _Echo()
    sent, consumed = _run(BodyLimit(app, max_bytes=10 * 1024), [], [b"x" * 1024] * 1000)
    status, body, headers = _status(sent)
    assert status == 413
    assert body["error"] == "request body larger than 10240 bytes"
    assert headers[b"connection"] == b"close"
    assert consumed == 11  # read up to the chunk that passed the limit, no further
    assert app.saw_disconnect  # the app saw a disconnect; its own answer was dropped


def test_a_body_that_trickles_in_too_slowly_is_408() -> None:
    app = _Echo()
    sent, consumed = _run(BodyLimit(app, max_bytes=10_000, timeout_s=0.3), [], [b"x"] * 100, gap_s=0.05)
    status, body, _ = _status(sent)
    assert status == 408
    assert body["error"] == "request body not received within 0.3 s"
    assert consumed < 10


def test_no_deadline_once_the_body_is_complete() -> None:
    # A streaming answer keeps calling receive() (to notice a disconnect): never a 408 then.
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # the (empty) body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(receive(), 0.4)
        await send({"type": "http.response.body", "body": b"done"})

    sent, _ = _run(BodyLimit(app, max_bytes=10, timeout_s=0.1), [], [b""])
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200]


@pytest.mark.parametrize(
    ("ctype", "csp"), [(b"text/html; charset=utf-8", DASHBOARD_CSP), (b"application/json", DEFAULT_CSP)]
)
def test_security_headers_on_every_response(ctype: bytes, csp: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype)]})
        await send({"type": "http.response.body", "body": b"{}"})

    sent, _ = _run(SecurityHeaders(app), [], [b""])
    headers = _status(sent)[2] if ctype == b"application/json" else dict(sent[0]["headers"])
    assert headers[b"x-frame-options"] == b"DENY"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"referrer-policy"] == b"no-referrer"
    assert headers[b"content-security-policy"] == csp.encode()
    assert b"frame-ancestors 'none'" in headers[b"content-security-policy"]


def test_a_page_with_its_own_policy_keeps_it() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html"), (b"content-security-policy", b"default-src 'self'")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    sent, _ = _run(SecurityHeaders(app), [], [b""])
    assert dict(sent[0]["headers"])[b"content-security-policy"] == b"default-src 'self'"
