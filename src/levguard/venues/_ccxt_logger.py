"""ccxt's ``exchange.logger`` stand-in that scrubs credentials (:class:`~levguard.venues.ccxt_adapter.CcxtVenue`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["ScrubbingLogger"]


class ScrubbingLogger:
    """Stands in for ccxt's ``exchange.logger``: formats, scrubs credentials, logs to ``ccxt.base.exchange``."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        self._logger = logging.getLogger("ccxt.base.exchange")
        self._scrub = scrub

    def _log(self, level: int, msg: object, args: tuple[object, ...]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(str(a) for a in (msg, *args))
        self._logger.log(level, "%s", self._scrub(text)[:4000])

    def debug(self, msg: object, *args: object, **_: object) -> None:
        self._log(logging.DEBUG, msg, args)

    def info(self, msg: object, *args: object, **_: object) -> None:
        self._log(logging.INFO, msg, args)

    def warning(self, msg: object, *args: object, **_: object) -> None:
        self._log(logging.WARNING, msg, args)

    def error(self, msg: object, *args: object, **_: object) -> None:
        self._log(logging.ERROR, msg, args)

    def exception(self, msg: object, *args: object, **_: object) -> None:
        self._log(logging.ERROR, msg, args)
