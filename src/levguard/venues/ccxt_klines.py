"""Candles through ccxt for :class:`levguard.venues.ccxt_adapter.CcxtVenue`: last-price and mark-price klines.

The guardian fits its liquidation forecaster on hourly *mark* bars (liquidations are triggered
by the mark); :func:`fetch_klines` reads them with ccxt's unified ``fetch_mark_ohlcv`` and the
last-price candles with ``fetch_ohlcv``, in levguard's units (UTC ns open times).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from levguard.errors import InputError, VenuePermanentError
from levguard.venues._ccxt_numbers import ccxt_number as _num
from levguard.venues.base import Klines

if TYPE_CHECKING:
    from levguard.venues.ccxt_adapter import CcxtVenue

__all__ = ["fetch_klines"]


def _price(value: object) -> float | None:
    # A candle's price: a number > 0 and finite (ccxt gives float, int or str; None when not reported).
    out = _num(value)
    return out if out is not None and out > 0.0 else None


async def fetch_klines(
    venue: CcxtVenue,
    symbol: str,
    *,
    price: Literal["last", "mark"] = "last",
    timeframe: str = "1h",
    since_ns: int | None = None,
    limit: int | None = None,
) -> Klines:
    """Candles of ``symbol``: last-price (``fetch_ohlcv``) or mark-price klines.

    Mark klines come from ccxt's unified ``fetch_mark_ohlcv(symbol, timeframe, since, limit)``
    where ``exchange.has["fetchMarkOHLCV"]`` is true, else (capability not stated)
    ``fetch_ohlcv(..., params={"price": "mark"})``, as ccxt documents both
    (docs.ccxt.com, "Fetch Ohlcv Mark Index Price" example, 2026-12-03).  ``since_ns`` (UTC ns
    of the first open time) None: the most recent ``limit`` candles.  The candle still open is
    included as the venue reports it.

    Raises
    ------
    InputError
        ``price`` is not last or mark, or ``limit`` is not a positive int.
    VenuePermanentError
        The exchange has no such candles through ccxt (``fetchMarkOHLCV`` false), or an
        unlisted symbol.
    VenueRetryableError
        Network failures, timeouts, rate limits (classified as every other call).
    """
    if price not in ("last", "mark"):
        raise InputError(f"price must be 'last' or 'mark', was {price!r}")
    if limit is not None and not (isinstance(limit, int) and not isinstance(limit, bool) and limit > 0):
        raise InputError(f"limit must be a positive int or None, was {limit!r}")
    await venue._market(symbol, "fetch_klines")
    has = venue._exchange.has
    since = None if since_ns is None else int(since_ns) // 1_000_000
    what = f"fetch_klines({symbol} {price} {timeframe})"
    if price == "last":
        if has.get("fetchOHLCV") is False:
            raise VenuePermanentError(f"{venue.exchange_id} {what}: no candles through ccxt (fetchOHLCV)")
        method = "fetch_ohlcv"
        raw = await venue._call(what, venue._exchange.fetch_ohlcv, symbol, timeframe, since, limit)
    elif has.get("fetchMarkOHLCV"):
        method = "fetch_mark_ohlcv"
        raw = await venue._call(what, venue._exchange.fetch_mark_ohlcv, symbol, timeframe, since, limit)
    elif has.get("fetchMarkOHLCV") is None:
        method = "fetch_ohlcv(price=mark)"
        raw = await venue._call(what, venue._exchange.fetch_ohlcv, symbol, timeframe, since, limit, {"price": "mark"})
    else:
        raise VenuePermanentError(f"{venue.exchange_id} {what}: no mark-price candles through ccxt (fetchMarkOHLCV)")
    rows: dict[int, tuple[int, float, float, float, float]] = {}
    for r in raw or []:
        if not isinstance(r, list | tuple) or len(r) < 5 or not isinstance(r[0], int | float):
            continue
        o, h, lo, c = (_price(x) for x in r[1:5])
        if o is None or h is None or lo is None or c is None:
            continue  # a candle without a price (no trade, or not reported) is left out
        ts = int(r[0]) * 1_000_000
        rows[ts] = (ts, o, h, lo, c)
    return Klines(
        symbol=symbol,
        price=price,
        timeframe=timeframe,
        rows=tuple(rows[t] for t in sorted(rows)),
        source=f"ccxt:{venue.exchange_id} {method} {symbol} {timeframe}",
    )
