"""Structured logs for the service: one JSON object per line (``ts``, ``level``, ``logger``,
``message``, and ``exc`` when an exception is attached), for log shippers; and the logging setup
``levguard serve`` uses (``--json-logs``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import IO, Any

__all__ = ["JsonFormatter", "configure_logging"]

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept (but
# uvicorn's ``color_message``, the message again with terminal colour codes).
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
    ``message``; ``exc`` (the formatted traceback) when the record carries an exception, and
    the fields passed with ``extra=`` (made JSON-safe with ``str`` where needed)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(
    *, json_logs: bool, level: int = logging.INFO, access_log: bool = False, stream: IO[str] | None = None
) -> logging.Handler:
    """Send the ``levguard`` and ``uvicorn`` loggers to one stderr handler, as JSON lines or plain
    text; returns the handler.  Other libraries stay at WARNING."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("levguard", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(level)
    access = logging.getLogger("uvicorn.access")
    access.setLevel(level if access_log else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.propagate = True
    return handler
