"""The guardian's hourly bars from the venue's klines: mark-price klines merged as mark_* columns
(levguard.data.perp.perp_frame), the last price standing in (and said so) when the mark klines
fail, and a hanging fetch bounded by its timeout (issue 13).  ccxt talks to the fake Binance
USDⓈ-M server of tests/fakes; no network."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pytest
from guardian_helpers import guardian, store

from fakes._server import Recorded, Reply
from fakes.binance_usdm import CCXT_OPTIONS, FakeBinanceUsdm
from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.forecast import HourlyBars, fit_forecaster
from levguard.errors import InputError
from levguard.live.forecasts import LiquidationForecasts
from levguard.live.venue_bars import VenueBars, venue_bars
from levguard.venues.base import Klines
from levguard.venues.ccxt_adapter import CcxtVenue
from levguard.venues.paper import PaperVenue, scripted_crash

BTC = "BTC/USDT:USDT"
HOUR = 3_600_000_000_000
HOUR_MS = 3_600_000
T0_MS = 1_709_251_200_000  # 2024-03-01 00:00 UTC
N = 24 * 40


def _walk(n: int, seed: int, base: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return base * np.exp(np.cumsum(rng.normal(0.0, 0.006, n)))


def _rest_rows(close: np.ndarray, *, up: float, down: float) -> list[list[Any]]:
    # Binance's kline shape, the open the previous close.
    rows = []
    for i, c in enumerate(close):
        o = close[i - 1] if i else c
        t = T0_MS + i * HOUR_MS
        rows.append(
            [t, f"{o:.4f}", f"{max(o, c) * up:.4f}", f"{min(o, c) * down:.4f}", f"{c:.4f}", "1.0", t + HOUR_MS - 1,
             "1.0", 1, "0.5", "0.5", "0"]
        )  # fmt: skip
    return rows


LAST = _rest_rows(_walk(N, 1, 60_000.0), up=1.004, down=0.995)
MARK = _rest_rows(_walk(N, 2, 60_000.0), up=1.003, down=0.996)


def _bars(rows: list[list[Any]]) -> HourlyBars:
    ts = np.array([r[0] for r in rows], dtype=np.int64) * 1_000_000
    high, low, close = (np.array([float(r[k]) for r in rows]) for k in (2, 3, 4))
    return HourlyBars.from_arrays(ts, high, low, close)


@pytest.fixture
def fake() -> Iterator[FakeBinanceUsdm]:
    server = FakeBinanceUsdm()
    server.add_klines("BTCUSDT", "1h", LAST)
    server.add_klines("BTCUSDT", "1h", MARK, kind="markPriceKlines")
    with server:
        yield server


def _venue(fake: FakeBinanceUsdm) -> CcxtVenue:
    api = ccxt.binanceusdm().urls["api"]
    v = CcxtVenue("binanceusdm", urls=fake.ccxt_urls(api), options=dict(CCXT_OPTIONS), timeout_ms=3000)
    v._exchange.timeout_on_exit = 0
    return v


def _run(fake: FakeBinanceUsdm, body: Any, **kw: Any) -> Any:
    async def main() -> Any:
        v = _venue(fake)
        try:
            return await body(VenueBars(v, **kw))
        finally:
            await v.close()

    return asyncio.run(main())


NOW = (T0_MS + N * HOUR_MS) * 1_000_000 + 10 * 60 * 1_000_000_000  # ten minutes into the next hour


def test_mark_klines_are_merged_and_the_forecaster_fits_the_mark(fake: FakeBinanceUsdm) -> None:
    async def body(vb: VenueBars) -> tuple[Any, Any, str]:
        await vb.refresh([BTC], NOW)
        f = LiquidationForecasts(vb)
        return vb(BTC), f.forecaster(BTC, NOW, 0.8), f.source(BTC)

    frame, forecaster, source = _run(fake, body)
    assert {"mark_open", "mark_high", "mark_low", "mark_close"} <= set(frame.columns)
    assert len(frame) == N
    assert frame["mark_close"].iloc[-1] == pytest.approx(float(MARK[-1][4]))
    assert frame["close"].iloc[-1] == pytest.approx(float(LAST[-1][4]))
    assert "fetch_mark_ohlcv" in frame.attrs["source"]
    assert fake.count("/fapi/v1/markPriceKlines") == 1
    assert fake.count("/fapi/v1/klines") == 1
    want = fit_forecaster(_bars(MARK), NOW)
    assert forecaster.prob(1, 0.05, 24)[0] == pytest.approx(want.prob(1, 0.05, 24)[0], rel=1e-9)
    assert forecaster.prob(1, 0.05, 24)[0] != pytest.approx(fit_forecaster(_bars(LAST), NOW).prob(1, 0.05, 24)[0])
    assert "mark-price klines" in source
    assert f"{N} hourly bars" in source


def test_one_fetch_per_hour_then_only_the_new_hours(fake: FakeBinanceUsdm) -> None:
    async def body(vb: VenueBars) -> list[Recorded]:
        await vb.refresh([BTC], NOW)
        await vb.refresh([BTC], NOW + 20 * 60 * 1_000_000_000)  # same hour: nothing asked
        assert fake.count("/fapi/v1/markPriceKlines") == 1
        await vb.refresh([BTC], NOW + HOUR)
        return [r for r in fake.requests if r.path == "/fapi/v1/markPriceKlines"]

    first, second = _run(fake, body)
    assert "startTime" not in first.query
    assert first.query["limit"] == "1000"
    assert int(second.query["startTime"]) == T0_MS + N * HOUR_MS  # the hour after the last one held


def test_failing_mark_klines_fall_back_to_the_last_price_and_say_so(fake: FakeBinanceUsdm) -> None:
    fake.inject("/fapi/v1/markPriceKlines", Reply(503, b"unavailable"))

    async def body(vb: VenueBars) -> tuple[Any, Any, str]:
        await vb.refresh([BTC], NOW)
        f = LiquidationForecasts(vb)
        return vb(BTC), f.forecaster(BTC, NOW, 0.8), f.source(BTC)

    frame, forecaster, source = _run(fake, body)
    assert "mark_close" not in frame.columns
    assert "last-price klines" in source
    assert "mark-price klines failed" in source
    assert "stands in for the mark" in source
    want = fit_forecaster(_bars(LAST), NOW)
    assert forecaster.prob(1, 0.05, 24)[0] == pytest.approx(want.prob(1, 0.05, 24)[0], rel=1e-9)


def test_a_hanging_mark_fetch_is_bounded_by_the_timeout(fake: FakeBinanceUsdm) -> None:
    def hang(req: Recorded) -> Reply:
        time.sleep(2.5)  # longer than the bound below, shorter than ccxt's own 3 s
        return Reply.json([])

    fake.route("GET", "/fapi/v1/markPriceKlines", hang)

    async def body(vb: VenueBars) -> tuple[float, Any]:
        await vb.venue.fetch_klines(BTC, limit=1)  # markets loaded outside the timed part
        t = time.monotonic()
        await vb.refresh([BTC], NOW)
        return time.monotonic() - t, vb(BTC)

    elapsed, frame = _run(fake, body, timeout_s=0.3)
    assert elapsed < 1.5
    assert "mark_close" not in frame.columns
    assert "timed out after 0.3 s" in frame.attrs["source"]


class _KlinePaper(PaperVenue):
    """A paper account whose venue also serves hourly klines (or hangs on them)."""

    def __init__(self, klines: dict[str, list[Any]] | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.capabilities = dataclasses.replace(self.capabilities, klines=True, mark_klines=True)
        self.timeout_s = 0.2
        self._klines = klines
        self.kline_calls = 0

    async def fetch_klines(self, symbol: str, *, price: Any = "last", **kw: Any) -> Klines:
        self.kline_calls += 1
        if self._klines is None:
            await asyncio.sleep(3_600)  # a venue that never answers
        assert self._klines is not None
        return Klines(symbol, price, "1h", tuple(self._klines[price]), source=f"test {price} klines")


def _paper(klines: Any) -> _KlinePaper:
    rows = {
        p: [(int(r[0]) * 1_000_000, *(float(x) for x in r[1:5])) for r in src]
        for p, src in (("last", LAST), ("mark", MARK))
    }
    mark0 = float(MARK[-1][4])
    return _KlinePaper(
        rows if klines else None,
        name="binance-usdm",
        feeds={"BTCUSDT": scripted_crash(mark0, 0.05, 5, flat=5, tail=5)},
        wallet_balance=mark0 / 5.0,
        positions=[{"symbol": "BTCUSDT", "qty": 2.0, "entry_price": mark0}],
        funding_rate=0.0,
        start_ns=NOW,
    )


def test_guardian_fits_the_venue_mark_klines(tmp_path: Path) -> None:
    v = _paper(klines=True)
    g = guardian(v, store(tmp_path))
    (rep,) = asyncio.run(g.cycle())
    (pos,) = rep["positions"]
    assert v.kline_calls == 2  # last and mark, once
    d = (pos["mark"] - pos["liquidation_price"]) / pos["mark"]
    assert pos["p_liq"] == pytest.approx(fit_forecaster(_bars(MARK), NOW).prob(1, d, 24)[0], rel=1e-9)
    assert "test mark klines" in pos["forecast_source"]
    g.close()


def test_a_hanging_venue_never_holds_the_guardian_cycle(tmp_path: Path) -> None:
    v = _paper(klines=False)
    g = guardian(v, store(tmp_path), vol=0.7)

    async def two_cycles() -> tuple[float, float, list[dict[str, Any]]]:
        t = time.monotonic()
        first = await g.cycle()
        t1 = time.monotonic() - t
        await v.step()  # one minute later, the same hour: no new attempt
        t = time.monotonic()
        await g.cycle()
        return t1, time.monotonic() - t, first

    t1, t2, (rep,) = asyncio.run(two_cycles())
    assert rep["status"] == "ok"
    assert t1 < 1.5  # two requests in parallel, each cut at 0.2 s
    assert t2 < 0.15
    assert v.kline_calls == 2
    (pos,) = rep["positions"]
    assert isinstance(g.forecaster("paper", "BTCUSDT"), GbmForecaster)
    assert "closed-form GBM" in pos["forecast_source"]
    g.close()


def test_venue_bars_only_for_venues_with_klines() -> None:
    plain = PaperVenue(feeds={"BTCUSDT": scripted_crash(100.0, 0.1, 5)}, wallet_balance=1.0)
    assert venue_bars(plain) is None
    assert isinstance(venue_bars(_paper(klines=True)), VenueBars)
    with pytest.raises(InputError, match="hours"):
        VenueBars(_paper(klines=True), hours=1)
    with pytest.raises(InputError, match="timeout_s"):
        VenueBars(_paper(klines=True), timeout_s=0.0)
