"""CcxtVenue.fetch_klines with the real ccxt library against the fake Binance USDⓈ-M server in tests/fakes:
last-price klines from /fapi/v1/klines, mark-price klines from /fapi/v1/markPriceKlines (ccxt's
``fetch_mark_ohlcv``), in UTC ns open times; no network."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest

from fakes._server import Reply
from fakes.binance_usdm import CCXT_OPTIONS, FakeBinanceUsdm, rest_klines
from levguard.errors import InputError, VenuePermanentError, VenueRetryableError
from levguard.venues.ccxt_adapter import CcxtVenue

BTC = "BTC/USDT:USDT"
T0_MS = 1_709_251_200_000  # 2024-03-01 00:00 UTC
HOUR_MS = 3_600_000


@pytest.fixture
def fake() -> Iterator[FakeBinanceUsdm]:
    server = FakeBinanceUsdm()
    server.add_klines("BTCUSDT", "1h", rest_klines(T0_MS, HOUR_MS, 48, base=100.0))
    server.add_klines("BTCUSDT", "1h", rest_klines(T0_MS, HOUR_MS, 48, base=200.0), kind="markPriceKlines")
    with server:
        yield server


def venue_for(fake: FakeBinanceUsdm, exchange_id: str = "binanceusdm") -> CcxtVenue:
    api = getattr(ccxt, exchange_id)().urls["api"]
    v = CcxtVenue(exchange_id, urls=fake.ccxt_urls(api), options=dict(CCXT_OPTIONS), timeout_ms=3000)
    v._exchange.timeout_on_exit = 0
    return v


def run(fake: FakeBinanceUsdm, body: Any) -> Any:
    async def main() -> Any:
        v = venue_for(fake)
        try:
            return await body(v)
        finally:
            await v.close()

    return asyncio.run(main())


def test_mark_klines_come_from_the_mark_price_endpoint(fake: FakeBinanceUsdm) -> None:
    k = run(fake, lambda v: v.fetch_klines(BTC, price="mark", limit=10))
    assert k.price == "mark"
    assert k.timeframe == "1h"
    assert "fetch_mark_ohlcv" in k.source
    assert len(k.rows) == 10
    ts, o, h, lo, c = k.rows[-1]
    assert ts == (T0_MS + 47 * HOUR_MS) * 1_000_000  # the most recent 10, UTC ns
    assert (o, h, lo, c) == (247.0, 249.0, 246.0, 248.0)  # the mark series (base 200), not the last
    assert fake.count("/fapi/v1/markPriceKlines") == 1
    assert fake.count("/fapi/v1/klines") == 0


def test_last_klines_and_since(fake: FakeBinanceUsdm) -> None:
    since = (T0_MS + 40 * HOUR_MS) * 1_000_000
    k = run(fake, lambda v: v.fetch_klines(BTC, since_ns=since, limit=100))
    assert [r[0] for r in k.rows] == [(T0_MS + i * HOUR_MS) * 1_000_000 for i in range(40, 48)]
    assert k.rows[0][1:] == (140.0, 142.0, 139.0, 141.0)
    assert fake.count("/fapi/v1/klines") == 1


def test_capabilities_say_mark_klines() -> None:
    assert CcxtVenue("binanceusdm").capabilities.mark_klines
    caps = CcxtVenue("hyperliquid").capabilities  # ccxt: fetchMarkOHLCV false
    assert caps.klines
    assert not caps.mark_klines
    assert any("no mark-price candles" in n for n in caps.notes)


def test_a_venue_without_mark_klines_refuses_them(fake: FakeBinanceUsdm) -> None:
    async def body(v: CcxtVenue) -> None:
        v._exchange.has["fetchMarkOHLCV"] = False
        with pytest.raises(VenuePermanentError, match="no mark-price candles"):
            await v.fetch_klines(BTC, price="mark")

    run(fake, body)


def test_mark_klines_through_the_price_param_when_the_capability_is_not_stated(fake: FakeBinanceUsdm) -> None:
    async def body(v: CcxtVenue) -> Any:
        v._exchange.has["fetchMarkOHLCV"] = None
        return await v.fetch_klines(BTC, price="mark", limit=3)

    k = run(fake, body)
    assert "fetch_ohlcv(price=mark)" in k.source
    assert k.rows[-1][1] == 247.0
    assert fake.count("/fapi/v1/markPriceKlines") == 1


def test_failures_are_classified_and_bad_arguments_named(fake: FakeBinanceUsdm) -> None:
    fake.inject("/fapi/v1/markPriceKlines", Reply(503, b"unavailable"))
    with pytest.raises(VenueRetryableError):
        run(fake, lambda v: v.fetch_klines(BTC, price="mark"))
    with pytest.raises(InputError, match="price must be"):
        run(fake, lambda v: v.fetch_klines(BTC, price="index"))
    with pytest.raises(InputError, match="limit must be"):
        run(fake, lambda v: v.fetch_klines(BTC, limit=0))
