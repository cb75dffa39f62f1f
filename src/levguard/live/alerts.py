"""Alert sinks of the guardian: the log, a webhook (POST of a JSON body) and e-mail over SMTP.

Every alert is also stored (``Store.add_alert``) by the guardian; sinks deliver it from their own
threads, off the guardian's decision path.  A failing or hanging sink never stops or delays the
guardian: its error is logged and counted.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field, fields
from email.message import EmailMessage
from typing import Any

from levguard.errors import InputError

__all__ = ["Alert", "Alerter", "EmailSink", "LogSink", "WebhookSink"]

log = logging.getLogger("levguard.guardian")


@dataclass(frozen=True)
class Alert:
    """One alert: ``level`` info/warning/critical, a ``kind`` (state, stale, drift, venue_change,
    action, auth, database...) and a JSON-able ``data`` payload."""

    account: str | None
    ts_ns: int
    level: str
    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body sent to webhooks."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class LogSink:
    """Alerts to the ``levguard.guardian`` logger (warning and critical as such)."""

    def send(self, alert: Alert) -> None:
        """Log the alert."""
        lvl = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}.get(
            alert.level, logging.WARNING
        )
        log.log(lvl, "[%s] %s: %s", alert.account or "-", alert.kind, alert.message)


@dataclass(frozen=True)
class WebhookSink:
    """POST each alert as JSON to ``url`` (Slack, PagerDuty, any HTTP receiver)."""

    url: str
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise InputError(f"webhook url must start with http:// or https://, was {self.url!r}")

    def send(self, alert: Alert) -> None:
        """POST the alert (raises on HTTP errors; the Alerter catches and logs)."""
        body = json.dumps(alert.to_dict(), default=str).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            resp.read()


@dataclass(frozen=True)
class EmailSink:
    """E-mail each alert of at least ``min_level`` through an SMTP server."""

    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    min_level: str = "warning"
    timeout_s: float = 10.0

    def __repr__(self) -> str:
        return f"EmailSink(host={self.host!r}, port={self.port}, sender={self.sender!r}, to={self.to!r}, password=***)"

    def send(self, alert: Alert) -> None:
        """Send the alert by SMTP when its level is at least ``min_level``."""
        order = {"info": 0, "warning": 1, "critical": 2}
        if order.get(alert.level, 1) < order.get(self.min_level, 1):
            return
        msg = EmailMessage()
        msg["Subject"] = f"[levguard {alert.level}] {alert.account or 'guardian'}: {alert.kind}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(f"{alert.message}\n\n{json.dumps(alert.data, indent=1, default=str)}")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)


class _SinkWorker:
    """One sink's bounded queue and the daemon thread draining it (a slow or hanging sink delays
    only its own deliveries; when its queue is full the oldest alert waiting is dropped)."""

    def __init__(self, sink: Any, maxsize: int, owner: Alerter) -> None:
        self.sink = sink
        self.owner = owner
        self.queue: deque[Alert] = deque()
        self.maxsize = maxsize
        self.cond = threading.Condition()
        self.busy = False
        self.closed = False
        name = f"levguard-alerts-{type(sink).__name__}"
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def put(self, alert: Alert) -> None:
        with self.cond:
            if len(self.queue) >= self.maxsize:
                self.queue.popleft()
                self.owner.dropped += 1
            self.queue.append(alert)
            self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.queue and not self.closed:
                    self.cond.wait()
                if not self.queue:
                    return
                alert = self.queue.popleft()
                self.busy = True
            try:
                self.sink.send(alert)
            except Exception as exc:
                self.owner.failures += 1
                log.error("alert sink %s failed: %s", type(self.sink).__name__, exc)
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()

    def idle(self) -> bool:
        return not self.queue and not self.busy

    def wait_idle(self, deadline: float) -> bool:
        with self.cond:
            while not self.idle():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class Alerter:
    """Fan alerts out to every sink off the caller's path: :meth:`submit` returns at once.

    Each sink has its own bounded queue drained by its own daemon thread, so a webhook that never
    answers delays no order and no other sink (it holds only its own queue, within the sink's
    timeout).  ``sent`` keeps the last ``history`` alerts submitted; ``failures`` counts sink
    errors and ``dropped`` alerts pushed out of a full queue.

    Parameters
    ----------
    sinks : list, optional
        Objects with ``send(alert)`` (default: :class:`LogSink`).
    queue_size : int
        Alerts waiting per sink before the oldest is dropped.
    history : int
        Alerts kept in ``sent``.
    """

    def __init__(self, sinks: list[Any] | None = None, *, queue_size: int = 1000, history: int = 1000) -> None:
        if not (isinstance(queue_size, int) and queue_size > 0):
            raise InputError(f"queue_size must be an int > 0, was {queue_size!r}")
        if not (isinstance(history, int) and history > 0):
            raise InputError(f"history must be an int > 0, was {history!r}")
        self.sinks = list(sinks) if sinks is not None else [LogSink()]
        self.queue_size = queue_size
        self.failures = 0
        self.dropped = 0
        self.sent: deque[Alert] = deque(maxlen=history)
        self._workers: dict[int, _SinkWorker] = {}
        self._lock = threading.Lock()

    def _worker(self, sink: Any) -> _SinkWorker:
        with self._lock:
            worker = self._workers.get(id(sink))
            if worker is None or worker.sink is not sink:
                worker = _SinkWorker(sink, self.queue_size, self)
                self._workers[id(sink)] = worker
            return worker

    def submit(self, alert: Alert) -> None:
        """Queue the alert for every sink and return at once (never blocks, never raises)."""
        self.sent.append(alert)
        for sink in list(self.sinks):
            self._worker(sink).put(alert)

    async def send(self, alert: Alert) -> None:
        """:meth:`submit` (a coroutine for callers on an event loop; it does not wait for delivery)."""
        self.submit(alert)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued alert was handed to its sink; False if ``timeout_s`` ran out."""
        deadline = time.monotonic() + max(float(timeout_s), 0.0)
        with self._lock:
            workers = list(self._workers.values())
        return all(w.wait_idle(deadline) for w in workers)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout_s``) and stop the workers."""
        self.flush(timeout_s)
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for w in workers:
            w.close()
