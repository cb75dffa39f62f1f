"""Alert sinks: a webhook receives the JSON body, SMTP delivers a mail, a failing sink is contained."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from levguard.errors import InputError
from levguard.live.alerts import Alert, Alerter, EmailSink, LogSink, WebhookSink

ALERT = Alert("main", 1_700_000_000_000_000_000, "critical", "state", "BTCUSDT: DANGER -> ACT", {"symbol": "BTCUSDT"})


def test_webhook_posts_the_json_body() -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"type": self.headers["Content-Type"], "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sink = WebhookSink(f"http://127.0.0.1:{server.server_address[1]}/hook")
        asyncio.run(Alerter([sink]).send(ALERT))
    finally:
        server.shutdown()
    assert received == [{"type": "application/json", "body": ALERT.to_dict()}]


def test_smtp_delivers_and_keeps_the_password_out_of_reprs() -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    messages: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            messages.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sink = EmailSink("127.0.0.1", port, "guard@example.com", ("risk@example.com",), password="hunter2")
        assert "hunter2" not in repr(sink)
        asyncio.run(Alerter([sink]).send(ALERT))
        info = Alert("main", 1, "info", "state", "recovered")
        asyncio.run(Alerter([sink]).send(info))  # below min_level: not mailed
    finally:
        controller.stop()
    assert len(messages) == 1
    text = messages[0].content.decode()
    assert "BTCUSDT: DANGER -> ACT" in text
    assert messages[0].rcpt_tos == ["risk@example.com"]


def test_a_failing_sink_never_stops_the_others(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def send(self, alert: Alert) -> None:
            raise ConnectionError("down")

    seen: list[Alert] = []

    class Recorder:
        def send(self, alert: Alert) -> None:
            seen.append(alert)

    alerter = Alerter([Broken(), Recorder(), LogSink()])
    with caplog.at_level("WARNING", logger="levguard.guardian"):
        asyncio.run(alerter.send(ALERT))
    assert seen == [ALERT]
    assert alerter.failures == 1
    assert "Broken failed" in caplog.text
    assert "BTCUSDT: DANGER -> ACT" in caplog.text


def test_webhook_url_is_checked() -> None:
    with pytest.raises(InputError, match="webhook url"):
        WebhookSink("ftp://example.com")
