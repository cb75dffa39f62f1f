"""Hourly bars of the guardian's forecaster fetched from the account's venue: mark klines merged in.

:class:`VenueBars` is a :data:`~levguard.live.forecasts.BarsSource` (``bars(symbol)``) whose
frames come from the venue's ``fetch_klines`` (:meth:`levguard.venues.ccxt_adapter.CcxtVenue.fetch_klines`):
the last-price klines with the mark-price klines merged as ``mark_open, mark_high, mark_low,
mark_close`` by :func:`levguard.data.perp.perp_frame` (the bars both series have), so the
forecaster is fitted on the mark, which triggers liquidations.  When the mark klines are
unavailable (the venue has none, or the fetch failed or timed out) the last-price klines are used
and the frame's ``attrs["source"]`` says so; the guardian reports it per position
(``forecast_source``).

The guardian awaits :meth:`VenueBars.refresh` before it fits its forecasters: at most one attempt
per symbol and hour (the forecaster is refitted once an hour), the two requests run concurrently
and each is bounded by ``timeout_s`` (default the venue's own request timeout,
:attr:`CcxtVenue.timeout_s`), without retries.  A failing or hanging fetch therefore costs a cycle
at most ``timeout_s`` once an hour, and never fails it: the last bars fetched (or the marks seen)
are used.  After the first fetch only the hours closed since are asked for.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from levguard.core.risk.forecast import HOUR_NS
from levguard.errors import InputError, LevguardError
from levguard.venues.base import Klines

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["VenueBars", "venue_bars"]

log = logging.getLogger("levguard.guardian")

_COLUMNS = ("open", "high", "low", "close")


def venue_bars(venue: Any, **kwargs: Any) -> VenueBars | None:
    """A :class:`VenueBars` over ``venue`` when it serves candles (``fetch_klines`` and
    ``capabilities.klines`` or ``mark_klines``), else None."""
    caps = getattr(venue, "capabilities", None)
    if not callable(getattr(venue, "fetch_klines", None)) or caps is None:
        return None
    if not (getattr(caps, "klines", False) or getattr(caps, "mark_klines", False)):
        return None
    return VenueBars(venue, **kwargs)


class VenueBars:
    """Hourly bars per symbol from a venue's klines, mark-price columns merged (see the module docstring).

    Parameters
    ----------
    venue : Venue with ``fetch_klines``
        The account's venue (:class:`~levguard.venues.ccxt_adapter.CcxtVenue`).
    hours : int
        Hourly bars kept per symbol (and asked for on the first fetch).
    timeout_s : float, optional
        Bound on each kline request, seconds (default the venue's ``timeout_s``, else 10).
    """

    def __init__(self, venue: Any, *, hours: int = 1000, timeout_s: float | None = None) -> None:
        if not (isinstance(hours, int) and not isinstance(hours, bool) and hours >= 2):
            raise InputError(f"hours must be an int >= 2, was {hours!r}")
        if timeout_s is None:
            timeout_s = float(getattr(venue, "timeout_s", 10.0))
        if not (isinstance(timeout_s, int | float) and 0.0 < timeout_s < float("inf")):
            raise InputError(f"timeout_s must be a finite number > 0, was {timeout_s!r}")
        self.venue = venue
        self.hours = hours
        self.timeout_s = float(timeout_s)
        caps = venue.capabilities
        self._has_last = bool(getattr(caps, "klines", False))
        self._has_mark = bool(getattr(caps, "mark_klines", False))
        # symbol -> closed bars as {open ns: (o, h, l, c)}, per series.
        self._last: dict[str, dict[int, tuple[float, float, float, float]]] = {}
        self._mark: dict[str, dict[int, tuple[float, float, float, float]]] = {}
        self._frames: dict[str, pd.DataFrame | None] = {}
        self._attempted: dict[str, int] = {}  # symbol -> hour index of the last attempt
        self._why_no_mark: dict[str, str] = {}
        self._sources: dict[tuple[str, str], str] = {}  # (symbol, price) -> the venue's source

    def __call__(self, symbol: str) -> pd.DataFrame | None:
        """The bars of ``symbol`` fetched so far (None before the first successful fetch)."""
        return self._frames.get(symbol)

    async def refresh(self, symbols: list[str], now_ns: int) -> None:
        """Fetch the hours closed since the last fetch of each symbol, once per symbol and hour.

        Never raises for a venue failure or a timeout (logged; the bars fetched before stay).
        """
        hour = int(now_ns) // HOUR_NS
        todo = [s for s in dict.fromkeys(symbols) if self._attempted.get(s) != hour]
        for s in todo:
            self._attempted[s] = hour
        if todo:
            await asyncio.gather(*(self._refresh_one(s, int(now_ns)) for s in todo))

    async def _refresh_one(self, symbol: str, now_ns: int) -> None:
        last, mark = await asyncio.gather(
            self._fetch(symbol, "last", now_ns) if self._has_last else _none(),
            self._fetch(symbol, "mark", now_ns) if self._has_mark else _none(),
        )
        if not self._has_mark:
            self._why_no_mark[symbol] = "the venue has no mark-price klines"
        elif mark is None:
            self._why_no_mark.setdefault(symbol, "mark-price klines failed")
        else:
            self._why_no_mark.pop(symbol, None)
        if last is not None:
            self._store(self._last, symbol, last, now_ns)
        if mark is not None:
            self._store(self._mark, symbol, mark, now_ns)
        if last is None and mark is None:
            return
        try:
            self._frames[symbol] = self._frame(symbol)
        except LevguardError as exc:
            log.warning("klines of %s not usable (%s); the bars fetched before are used", symbol, exc)

    async def _fetch(self, symbol: str, price: str, now_ns: int) -> Klines | None:
        known = (self._mark if price == "mark" else self._last).get(symbol)
        since = max(known) + HOUR_NS if known else None
        limit = self.hours if since is None else min(self.hours, max(1, (now_ns - since) // HOUR_NS + 1))
        try:
            return await asyncio.wait_for(
                self.venue.fetch_klines(symbol, price=price, timeframe="1h", since_ns=since, limit=int(limit)),
                self.timeout_s,
            )
        except TimeoutError:
            why = f"{price}-price klines timed out after {self.timeout_s:g} s"
        except LevguardError as exc:
            why = f"{price}-price klines failed: {exc}"
        except Exception as exc:  # not a classified venue error: still only the forecast's input
            why = f"{price}-price klines failed: {type(exc).__name__}: {exc}"
        log.warning("%s: %s", symbol, why)
        if price == "mark":
            self._why_no_mark[symbol] = why
        return None

    def _store(
        self, book: dict[str, dict[int, tuple[float, float, float, float]]], symbol: str, k: Klines, now_ns: int
    ) -> None:
        bars = book.setdefault(symbol, {})
        for ts, o, h, lo, c in k.rows:
            if ts % HOUR_NS == 0 and ts + HOUR_NS <= now_ns:  # closed hourly bars only
                bars[int(ts)] = (o, h, lo, c)
        if len(bars) > self.hours:
            for ts in sorted(bars)[: len(bars) - self.hours]:
                del bars[ts]
        self._sources[(symbol, k.price)] = k.source

    def _series(self, bars: dict[int, tuple[float, float, float, float]], source: str) -> pd.DataFrame:
        import pandas as pd  # on first use: a guardian whose venues serve no candles never loads it

        ts = np.array(sorted(bars), dtype=np.int64)
        values = np.array([bars[t] for t in ts], dtype=np.float64).reshape(-1, 4)
        frame = pd.DataFrame(dict(zip(_COLUMNS, values.T, strict=True)), index=pd.DatetimeIndex(ts, tz="UTC"))
        frame.attrs = {"interval": "1h", "source": source}
        return frame

    def _frame(self, symbol: str) -> pd.DataFrame | None:
        sources = self._sources
        last, mark = self._last.get(symbol), self._mark.get(symbol)
        mark_frame = self._series(mark, sources.get((symbol, "mark"), "mark-price klines")) if mark else None
        if last:
            last_frame = self._series(last, sources.get((symbol, "last"), "last-price klines"))
            if mark_frame is not None:
                try:
                    from levguard.data.perp import perp_frame

                    out = perp_frame(last_frame, mark_frame)
                    out.attrs["source"] = f"mark-price klines ({out.attrs['mark_source']})"
                    return out
                except LevguardError as exc:  # no common hour: the last price alone
                    self._why_no_mark[symbol] = f"mark-price klines not aligned with the last price: {exc}"
            why = self._why_no_mark.get(symbol, "mark-price klines unavailable")
            last_frame.attrs["source"] = (
                f"last-price klines ({last_frame.attrs['source']}; {why}: the last price stands in for the mark)"
            )
            return last_frame
        if mark_frame is not None:  # the mark alone: it is the series forecast
            out = mark_frame.assign(**{f"mark_{c}": mark_frame[c] for c in _COLUMNS})
            out.attrs = {"interval": "1h", "source": f"mark-price klines ({mark_frame.attrs['source']})"}
            return out
        return None


async def _none() -> None:
    return None
