"""Alert sinks of the guardian: the log, a webhook (POST of a JSON body) and e-mail over SMTP.

Every alert is also stored (``Store.add_alert``) by the guardian; sinks deliver it.  A failing
sink never stops the guardian: its error is logged and counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import urllib.request
from dataclasses import dataclass, field
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
        return {
            "account": self.account,
            "ts_ns": self.ts_ns,
            "level": self.level,
            "kind": self.kind,
            "message": self.message,
            "data": self.data,
        }


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


class Alerter:
    """Fan an alert out to every sink without blocking the event loop or failing the cycle."""

    def __init__(self, sinks: list[Any] | None = None) -> None:
        self.sinks = list(sinks) if sinks is not None else [LogSink()]
        self.failures = 0
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        """Deliver to every sink (blocking sinks run in a thread)."""
        self.sent.append(alert)
        for sink in self.sinks:
            try:
                await asyncio.to_thread(sink.send, alert)
            except Exception as exc:
                self.failures += 1
                log.error("alert sink %s failed: %s", type(sink).__name__, exc)
