"""Alert sinks: a webhook receives the JSON body, SMTP delivers a mail, a failing sink is contained."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
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
        alerter = Alerter([sink])
        asyncio.run(alerter.send(ALERT))
        assert alerter.flush(10.0)
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
        alerter = Alerter([sink])
        asyncio.run(alerter.send(ALERT))
        info = Alert("main", 1, "info", "state", "recovered")
        asyncio.run(alerter.send(info))  # below min_level: not mailed
        assert alerter.flush(10.0)
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
        assert alerter.flush(10.0)
    assert seen == [ALERT]
    assert alerter.failures == 1
    assert "Broken failed" in caplog.text
    assert "BTCUSDT: DANGER -> ACT" in caplog.text


def test_webhook_url_is_checked() -> None:
    with pytest.raises(InputError, match="webhook url"):
        WebhookSink("ftp://example.com")


def test_a_webhook_that_never_answers_delays_nothing() -> None:
    """A receiver that accepts the connection and never answers: submitting alerts returns at once
    (well under 50 ms each), the other sinks still deliver, and the queue stays bounded."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    seen: list[Alert] = []

    class Recorder:
        def send(self, alert: Alert) -> None:
            seen.append(alert)

    try:
        hook = WebhookSink(f"http://127.0.0.1:{port}/hook", timeout_s=5.0)
        alerter = Alerter([hook, Recorder()])
        worst = 0.0
        for i in range(50):
            t0 = time.perf_counter()
            asyncio.run(alerter.send(Alert("main", i, "critical", "state", f"alert {i}")))
            worst = max(worst, time.perf_counter() - t0)
        assert worst < 0.05
        deadline = time.monotonic() + 5.0
        while len(seen) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(seen) == 50  # the hanging webhook holds only its own queue
        assert len(alerter.sent) == 50
        bounded = Alerter([hook], queue_size=5)
        for i in range(50):
            bounded.submit(Alert("main", i, "critical", "state", f"alert {i}"))
        assert bounded.dropped >= 40  # the full queue dropped the oldest waiting alerts
    finally:
        listener.close()


def test_history_is_bounded() -> None:
    alerter = Alerter([], history=10)
    for i in range(100):
        alerter.submit(Alert(None, i, "info", "state", str(i)))
    assert [a.ts_ns for a in alerter.sent] == list(range(90, 100))
    with pytest.raises(InputError, match="history"):
        Alerter([], history=0)
