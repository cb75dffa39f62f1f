"""The ccxt downloader against a local fake of Binance's USDⓈ-M REST API, through real ccxt.

"now" is fixed at 2024-02-10T05:30Z: January 2024 is complete, February is in progress.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest

from fakes._server import Reply
from fakes.binance_usdm import BTCUSDT_BRACKETS, CCXT_OPTIONS, FakeBinanceUsdm, rest_funding, rest_klines
from levguard import TierTable
from levguard.data.cache import ParquetCache
from levguard.data.download import CcxtSource, RetryPolicy, classify_ccxt_error, make_exchange
from levguard.errors import InputError, VenuePermanentError, VenueRetryableError

MS_H = 3_600_000
MS_D = 24 * MS_H
NS_MS = 1_000_000
JAN = 1_704_067_200_000  # 2024-01-01T00:00Z in ms
FEB = 1_706_745_600_000
NOW_MS = FEB + 9 * MS_D + 5 * MS_H + 30 * 60_000  # 2024-02-10T05:30Z


@pytest.fixture
def fake() -> Iterator[FakeBinanceUsdm]:
    server = FakeBinanceUsdm()
    server.add_klines("BTCUSDT", "1h", rest_klines(JAN, MS_H, (NOW_MS - JAN) // MS_H + 1))
    server.funding["BTCUSDT"] = rest_funding("BTCUSDT", JAN, 31 * 3 + 28)
    server.brackets["BTCUSDT"] = BTCUSDT_BRACKETS
    with server:
        yield server


def exchange_for(fake: FakeBinanceUsdm, *, keys: bool = True) -> Any:
    return make_exchange(
        "binanceusdm",
        api_key="dummy-key" if keys else None,
        secret="dummy-secret" if keys else None,
        api_urls=fake.ccxt_urls(ccxt.binanceusdm().urls["api"]),
        rate_limit_ms=1,
        timeout_ms=5_000,
        options=CCXT_OPTIONS,
    )


@pytest.fixture
def sleeps() -> list[float]:
    return []


def source_for(fake: FakeBinanceUsdm, tmp_path: Path, sleeps: list[float], **kw: Any) -> CcxtSource:
    clock = kw.pop("clock", lambda: NOW_MS * NS_MS)
    return CcxtSource(
        exchange_for(fake, keys=kw.pop("keys", True)),
        ParquetCache(tmp_path / "cache"),
        retry=RetryPolicy(attempts=3, base_delay_s=0.5),
        sleep=sleeps.append,
        clock=clock,
        **kw,
    )


@pytest.fixture
def source(fake: FakeBinanceUsdm, tmp_path: Path, sleeps: list[float]) -> CcxtSource:
    return source_for(fake, tmp_path, sleeps, page_limit=100)


def klines_requests(fake: FakeBinanceUsdm, path: str = "/fapi/v1/klines") -> list[dict[str, str]]:
    return [r.query for r in fake.requests if r.path == path]


def test_ohlcv_pages_through_a_month(fake: FakeBinanceUsdm, source: CcxtSource) -> None:
    res = source.download("BTC/USDT:USDT", "klines", "1h", "2024-01-10", "2024-01-20")
    f = res.frame
    assert len(f) == 10 * 24
    assert f.index[0].isoformat() == "2024-01-10T00:00:00+00:00"
    assert f.attrs == {
        "kind": "ohlcv",
        "symbol": "BTCUSDT",
        "interval": "1h",
        "source": "ccxt:binanceusdm fetch_ohlcv BTC/USDT:USDT 1h",
    }
    assert f["open"].iloc[0] == 100.0 + 9 * 24
    # The whole month is fetched and cached: 744 candles in pages of 100, each page starting
    # one interval after the last candle received.
    queries = klines_requests(fake)
    assert [int(q["startTime"]) for q in queries] == [JAN + i * 100 * MS_H for i in range(8)]
    assert {q["limit"] for q in queries} == {"100"}
    assert fake.paths()[0] == "/fapi/v1/exchangeInfo"
    assert res.fetched == ("2024-01",)
    entry = source.cache.entries("ccxt", "binanceusdm", "ohlcv", "BTC/USDT:USDT", "1h")[0]
    assert entry.complete
    assert entry.rows == 744


def test_cached_months_need_no_request_at_all(fake: FakeBinanceUsdm, source: CcxtSource, tmp_path: Path) -> None:
    source.download("BTC/USDT:USDT", "ohlcv", "1h", "2024-01-01", "2024-02-01")
    fake.clear_log()
    # A fresh source (new exchange object, markets not loaded) over the same cache.
    again = source_for(fake, tmp_path, [], page_limit=100)
    res = again.download("BTC/USDT:USDT", "ohlcv", "1h", "2024-01-05", "2024-01-06")
    assert fake.count() == 0  # not even load_markets
    assert len(res.frame) == 24
    assert res.fetched == ()


def test_the_current_month_is_extended_incrementally(
    fake: FakeBinanceUsdm, tmp_path: Path, sleeps: list[float]
) -> None:
    now = [NOW_MS * NS_MS]
    src = source_for(fake, tmp_path, sleeps, page_limit=1000, clock=lambda: now[0])
    first = src.download("BTCUSDT", "ohlcv", "1h", "2024-02-01")
    assert first.frame.index[-1].isoformat() == "2024-02-10T04:00:00+00:00"  # the 05:00 bar is still open
    entry = src.cache.entries("ccxt", "binanceusdm", "ohlcv", "BTCUSDT", "1h")[0]
    assert not entry.complete
    assert entry.covered_until_ns == (FEB + 9 * MS_D + 5 * MS_H) * NS_MS
    fake.clear_log()
    src.download("BTCUSDT", "ohlcv", "1h", "2024-02-01", "2024-02-10T05:00")
    assert fake.count() == 0  # covered
    now[0] += 2 * MS_H * NS_MS  # two hours later
    fake.add_klines("BTCUSDT", "1h", rest_klines(NOW_MS - 30 * 60_000 + MS_H, MS_H, 2, base=900.0))
    later = src.download("BTCUSDT", "ohlcv", "1h", "2024-02-01")
    assert [int(q["startTime"]) for q in klines_requests(fake)] == [FEB + 9 * MS_D + 5 * MS_H]
    assert later.frame.index[-1].isoformat() == "2024-02-10T06:00:00+00:00"
    assert len(later.frame) == len(first.frame) + 2


def test_funding_history_pages(fake: FakeBinanceUsdm, tmp_path: Path, sleeps: list[float]) -> None:
    src = source_for(fake, tmp_path, sleeps, page_limit=40)
    res = src.download("BTCUSDT", "funding", "", "2024-01-01", "2024-02-01")
    f = res.frame
    assert list(f.columns) == ["funding_rate"]
    assert len(f) == 93
    assert f.attrs["interval"] == "8h"
    assert f.attrs["kind"] == "funding"
    assert f.attrs["symbol"] == "BTCUSDT"
    assert f["funding_rate"].iloc[:4].tolist() == [0.0001, 0.0002, 0.0003, 0.0001]
    starts = [int(q["startTime"]) for q in klines_requests(fake, "/fapi/v1/fundingRate")]
    assert starts[:3] == [JAN, JAN + 40 * 8 * MS_H - 8 * MS_H + 1, JAN + 80 * 8 * MS_H - 8 * MS_H + 1]


@pytest.mark.parametrize(
    ("kind", "path", "param"),
    [("mark", "/fapi/v1/markPriceKlines", "symbol"), ("index", "/fapi/v1/indexPriceKlines", "pair")],
)
def test_mark_and_index_candles(fake: FakeBinanceUsdm, source: CcxtSource, kind: str, path: str, param: str) -> None:
    folder = {"mark": "markPriceKlines", "index": "indexPriceKlines"}[kind]
    fake.add_klines("BTCUSDT", "1d", rest_klines(JAN, MS_D, 31, base=42_000.0), kind=folder)
    f = source.download("BTCUSDT", kind, "1d", "2024-01-01", "2024-02-01").frame
    assert len(f) == 31
    assert f.attrs["kind"] == kind
    assert f["open"].iloc[0] == 42_000.0
    assert all(q[param] == "BTCUSDT" for q in klines_requests(fake, path))


def test_leverage_tiers_become_a_tier_table(fake: FakeBinanceUsdm, source: CcxtSource) -> None:
    tables = source.leverage_tiers(["BTCUSDT"])
    table = tables["BTCUSDT"]
    assert isinstance(table, TierTable)
    assert [t.notional_floor for t in table.tiers] == [b["notionalFloor"] for b in BTCUSDT_BRACKETS]
    assert [t.mmr for t in table.tiers] == [b["maintMarginRatio"] for b in BTCUSDT_BRACKETS]
    assert [t.maint_amount for t in table.tiers] == [b["cum"] for b in BTCUSDT_BRACKETS]
    assert [t.max_leverage for t in table.tiers] == [b["initialLeverage"] for b in BTCUSDT_BRACKETS]
    assert table.source.startswith("ccxt:binanceusdm leverage tiers BTC/USDT:USDT at 2024-02-10T05:30")
    bracket_request = next(r for r in fake.requests if r.path == "/fapi/v1/leverageBracket")
    assert bracket_request.header("X-MBX-APIKEY") == "dummy-key"
    fake.clear_log()
    again = source.leverage_tiers(["BTCUSDT"])  # today's snapshot
    assert fake.count() == 0
    assert again["BTCUSDT"].tiers == table.tiers
    assert source.cache.snapshot_path("ccxt", "binanceusdm", "tiers", "BTCUSDT", "2024-02-10").is_file()


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ccxt.NetworkError, VenueRetryableError),
        (ccxt.RequestTimeout, VenueRetryableError),
        (ccxt.RateLimitExceeded, VenueRetryableError),
        (ccxt.DDoSProtection, VenueRetryableError),
        (ccxt.ExchangeNotAvailable, VenueRetryableError),
        (ccxt.OnMaintenance, VenueRetryableError),
        (ccxt.AuthenticationError, VenuePermanentError),
        (ccxt.PermissionDenied, VenuePermanentError),
        (ccxt.BadSymbol, VenuePermanentError),
        (ccxt.BadRequest, VenuePermanentError),
        (ccxt.NotSupported, VenuePermanentError),
        (ccxt.ExchangeError, VenuePermanentError),
        (ValueError, None),
    ],
)
def test_error_classification(exc: type[Exception], expected: type[Exception] | None) -> None:
    assert classify_ccxt_error(exc("boom")) is expected


def test_a_network_error_from_a_host_that_does_not_resolve_is_permanent() -> None:
    # ccxt -> requests -> urllib3 -> socket.gaierror(EAI_NONAME): offline or a wrong api_urls host.
    import socket

    err = ccxt.NetworkError("bybit GET https://api.bybit.com/v5/market/time")
    err.__cause__ = ConnectionError("Max retries exceeded")
    err.__cause__.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert classify_ccxt_error(err) is VenuePermanentError
    err.__cause__.__cause__ = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert classify_ccxt_error(err) is VenueRetryableError


def test_transient_errors_are_retried_then_succeed(
    fake: FakeBinanceUsdm, source: CcxtSource, sleeps: list[float]
) -> None:
    fake.inject("/fapi/v1/klines", Reply(503, b"Service Unavailable"), Reply(429, b""))
    f = source.download("BTCUSDT", "ohlcv", "1h", "2024-01-01", "2024-01-02").frame
    assert len(f) == 24
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0


def test_persistent_transient_errors_raise_retryable(
    fake: FakeBinanceUsdm, source: CcxtSource, sleeps: list[float]
) -> None:
    fake.inject("/fapi/v1/klines", *(Reply(503, b"Service Unavailable") for _ in range(3)))
    with pytest.raises(VenueRetryableError, match=r"fetch_ohlcv\(BTC/USDT:USDT, 1h\) failed after 3 attempt"):
        source.download("BTCUSDT", "ohlcv", "1h", "2024-01-01", "2024-01-02")
    assert fake.count("/fapi/v1/klines") == 3
    assert len(sleeps) == 2
    assert source.cache.entries("ccxt", "binanceusdm", "ohlcv", "BTCUSDT", "1h") == []


def test_permanent_errors_are_not_retried(
    fake: FakeBinanceUsdm, tmp_path: Path, source: CcxtSource, sleeps: list[float]
) -> None:
    fake.inject("/fapi/v1/klines", fake.error(400, -1121, "Invalid symbol."))
    with pytest.raises(VenuePermanentError, match="BadSymbol"):
        source.download("BTCUSDT", "ohlcv", "1h", "2024-01-01", "2024-01-02")
    assert fake.count("/fapi/v1/klines") == 1
    assert sleeps == []
    fake.inject("/fapi/v1/leverageBracket", fake.error(401, -2015, "Invalid API-key, IP, or permissions for action."))
    with pytest.raises(VenuePermanentError, match="AuthenticationError"):
        source.leverage_tiers(["BTCUSDT"])
    keyless = source_for(fake, tmp_path / "k", sleeps, keys=False)
    with pytest.raises(VenuePermanentError, match="apiKey"):
        keyless.leverage_tiers(["BTCUSDT"])
    assert sleeps == []


def test_symbols_resolve_by_unified_name_or_exchange_id(source: CcxtSource) -> None:
    assert source.resolve_market("BTC/USDT:USDT")["id"] == "BTCUSDT"
    assert source.resolve_market("ETHUSDT")["symbol"] == "ETH/USDT:USDT"
    with pytest.raises(InputError, match="symbol 'DOGEUSDT' is not listed on binanceusdm"):
        source.resolve_market("DOGEUSDT")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("BTCUSDT", "ohlcv", "7m", "2024-01-01"), "interval must be one of binanceusdm's timeframes"),
        (("BTCUSDT", "trades", "1h", "2024-01-01"), "kind must be"),
        (("BTCUSDT", "ohlcv", "1h", "2024-01-02", "2024-01-01"), "end must be after start"),
    ],
)
def test_bad_input(source: CcxtSource, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        source.download(*args)


def test_make_exchange_refuses_unknown_ids() -> None:
    with pytest.raises(InputError, match="exchange must be a ccxt exchange id"):
        make_exchange("binance-but-not-really")


@pytest.mark.network
@pytest.mark.skipif(
    os.environ.get("LEVGUARD_NETWORK_TESTS") != "1", reason="needs the internet (LEVGUARD_NETWORK_TESTS=1)"
)
def test_real_binance_usdm_klines(tmp_path: Path) -> None:
    """Needs the internet: one day of real BTCUSDT candles through ccxt."""
    src = CcxtSource(make_exchange("binanceusdm"), ParquetCache(tmp_path))
    f = src.download("BTCUSDT", "ohlcv", "1h", "2024-01-01", "2024-01-02").frame
    assert len(f) == 24


def _scripted(pages: list[list[tuple[int]]], calls: list[int]) -> Any:
    # A page fetcher returning the given pages of (ms,) rows in turn, recording each cursor.
    def fetch(cursor: int) -> list[tuple[int]]:
        calls.append(cursor)
        return pages[len(calls) - 1]

    return fetch


def test_pages_keep_the_span_and_step_past_the_last_row(source: CcxtSource) -> None:
    calls: list[int] = []
    fetch = _scripted([[(5,), (10,), (20,)], [(20,), (25,)]], calls)
    rows = list(source._pages("test", fetch, (10 * NS_MS, 25 * NS_MS), 1, lambda r: r[0]))
    assert rows == [(10,), (20,)]  # [10, 25) ms only; 25 moves the cursor past the end
    assert calls == [10, 21]


def test_pages_stop_when_the_exchange_ignores_since_or_has_nothing(source: CcxtSource) -> None:
    calls: list[int] = []
    fetch = _scripted([[(10,), (20,)], [(3,), (4,)], [(30,)]], calls)
    rows = list(source._pages("test", fetch, (10 * NS_MS, 100 * NS_MS), 1, lambda r: r[0]))
    assert rows == [(10,), (20,)]
    assert calls == [10, 21]
    assert list(source._pages("test", lambda cursor: None, (0, 50 * NS_MS), 1, lambda r: r[0])) == []


def test_deribit_hourly_funding_records_pay_their_hour() -> None:
    """Deribit's funding history has one record an hour whose ccxt ``fundingRate`` is the 8-hour
    rate (``interest_8h``); summing them charged 8 times the funding (46 instead of 5.75 on
    10,000 held 46 hours at 0.01 % per 8 hours; a helper's audit).  The hour pays ``interest_1h``."""
    from levguard.data.download.ccxt_source import funding_print

    record = {"timestamp": 0, "fundingRate": 0.0001, "info": {"interest_8h": 0.0001, "interest_1h": 0.0000125}}
    assert funding_print("deribit", record) == 0.0000125
    assert funding_print("deribit", {"timestamp": 0, "fundingRate": 0.0001, "info": {}}) == pytest.approx(0.0000125)
    assert funding_print("binanceusdm", record) == 0.0001
    assert funding_print("bybit", {"timestamp": 0, "fundingRate": None}) is None


def test_funding_with_millisecond_fundingtime_offsets_downloads(tmp_path: Path, sleeps: list[float]) -> None:
    # Binance's fundingTime is a few ms past the hour (real BTCUSDT offsets, Nov 2022); the
    # month's validation raised "bar length must be a whole number of seconds".
    jitter = [16, 5, 0, 4, 20, 9, 7, 18, 9, 0, 10, 12, 14, 6, 0, 1, 5, 0, 13, 4]
    server = FakeBinanceUsdm()
    records = rest_funding("BTCUSDT", JAN, 93)
    for i, rec in enumerate(records):
        rec["fundingTime"] += jitter[i % len(jitter)]
    records.insert(5, {**records[4], "fundingTime": records[4]["fundingTime"] + 3})  # the same print again, 3 ms on
    server.funding["BTCUSDT"] = records
    server.brackets["BTCUSDT"] = BTCUSDT_BRACKETS
    with server:
        f = source_for(server, tmp_path, sleeps).download("BTCUSDT", "funding", "", "2024-01-01", "2024-02-01").frame
    assert len(f) == 93
    assert f.attrs["interval"] == "8h"
