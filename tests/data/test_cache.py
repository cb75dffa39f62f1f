"""The Parquet cache: root selection, round trips with provenance, metadata-only queries, markers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import platformdirs
import pyarrow.parquet as pq
import pytest

from levguard.data.cache import (
    ENV_CACHE_DIR,
    CacheKey,
    ParquetCache,
    cache_root,
    empty_frame,
    period_bounds,
    safe_name,
)
from levguard.data.frames import make_funding_frame, make_ohlcv_frame
from levguard.errors import DataError, InputError

H = 3_600 * 10**9
JAN = 1_704_067_200 * 10**9  # 2024-01-01T00:00Z
FEB = 1_706_745_600 * 10**9  # 2024-02-01T00:00Z


def ohlcv(start_ns: int, n: int, step: int = H, source: str = "test") -> pd.DataFrame:
    ts = start_ns + np.arange(n, dtype=np.int64) * step
    o = 100.0 + np.arange(n)
    return make_ohlcv_frame(ts, o, o + 2, o - 1, o + 1, np.full(n, 5.0), symbol="BTCUSDT", interval="1h", source=source)


def key(period: str, kind: str = "ohlcv", interval: str = "1h") -> CacheKey:
    return CacheKey("binance", "um", kind, "BTCUSDT", interval, period)


@pytest.fixture
def cache(tmp_path: Path) -> ParquetCache:
    return ParquetCache(tmp_path / "cache")


def test_root_precedence_argument_then_env_then_platformdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CACHE_DIR, raising=False)
    assert cache_root() == Path(platformdirs.user_cache_dir("levguard"))
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert ParquetCache().root == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"


def test_ohlcv_round_trip_keeps_values_index_and_provenance(cache: ParquetCache) -> None:
    frame = ohlcv(JAN, 24, source="https://data.binance.vision/x.zip")
    entry = cache.write(key("2024-01"), frame)
    assert entry.path == cache.root / "binance/um/ohlcv/BTCUSDT/1h/2024-01.parquet"
    back = cache.read(key("2024-01"))
    pd.testing.assert_frame_equal(back, frame)
    assert back.index.dtype == "datetime64[ns, UTC]"
    assert back.index.name == "timestamp"
    assert back.attrs == {
        "kind": "ohlcv",
        "symbol": "BTCUSDT",
        "interval": "1h",
        "source": "https://data.binance.vision/x.zip",
    }
    # Provenance is in the Parquet file itself, readable by any Parquet tool.
    meta = json.loads(pq.read_schema(entry.path).metadata[b"levguard"])
    assert meta["attrs"]["source"] == "https://data.binance.vision/x.zip"
    assert meta["rows"] == 24
    assert not list(entry.path.parent.glob("*.tmp*"))


def test_funding_round_trip(cache: ParquetCache) -> None:
    ts = JAN + np.arange(3, dtype=np.int64) * 8 * H
    frame = make_funding_frame(ts, [1e-4, -2e-4, 3e-4], symbol="BTCUSDT", source="s", interval="8h")
    k = CacheKey("binance", "um", "funding", "BTCUSDT", "", "2024-01")
    cache.write(k, frame)
    assert cache.path(k).parent.name == "-"
    back = cache.read(k)
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs["interval"] == "8h"


def test_entry_reads_metadata_and_covers(cache: ParquetCache) -> None:
    assert cache.entry(key("2024-01")) is None
    e = cache.write(key("2024-02"), ohlcv(FEB, 10), complete=False, covered_until_ns=FEB + 10 * H)
    got = cache.entry(key("2024-02"))
    assert got is not None
    assert (got.rows, got.first_ns, got.last_ns) == (10, FEB, FEB + 9 * H)
    assert not got.complete
    assert got.covered_until_ns == FEB + 10 * H
    assert got.covers(FEB + 10 * H)
    assert not got.covers(FEB + 11 * H)
    assert e.written_at


def test_missing_marker_is_an_empty_complete_entry(cache: ParquetCache) -> None:
    e = cache.write_missing(key("2019-01"), "before listing")
    assert e.missing
    assert e.complete
    assert e.rows == 0
    assert e.note == "before listing"
    assert e.covers(JAN)
    assert len(cache.read(key("2019-01"))) == 0


def test_cached_range_and_read_range_merge_months_and_days(cache: ParquetCache) -> None:
    assert cache.cached_range("binance", "um", "ohlcv", "BTCUSDT", "1h") is None
    cache.write(key("2024-01"), ohlcv(JAN, 744))
    cache.write(key("2024-02-01"), ohlcv(FEB, 24))
    cache.write(key("2024-01-31"), ohlcv(FEB - 24 * H, 24))  # overlaps the month file
    cache.write_missing(key("2023-12"), "before listing")
    entries = cache.entries("binance", "um", "ohlcv", "BTCUSDT", "1h")
    assert [e.key.period for e in entries] == ["2023-12", "2024-01", "2024-01-31", "2024-02-01"]
    assert cache.cached_range("binance", "um", "ohlcv", "BTCUSDT", "1h") == (JAN, FEB + 23 * H)
    frame = cache.read_range("binance", "um", "ohlcv", "BTCUSDT", "1h", FEB - 2 * H, FEB + 2 * H)
    assert list(frame.index.asi8) == [FEB - 2 * H, FEB - H, FEB, FEB + H]
    assert frame.attrs["source"] == str(cache.dataset_dir("binance", "um", "ohlcv", "BTCUSDT", "1h"))
    assert len(cache.read_range("binance", "um", "ohlcv", "BTCUSDT", "1h")) == 744 + 24


def test_ccxt_symbols_become_path_safe(cache: ParquetCache) -> None:
    assert safe_name("BTC/USDT:USDT") == "BTC_USDT_USDT"
    k = CacheKey("ccxt", "bybit", "ohlcv", "BTC/USDT:USDT", "1h", "2024-01")
    assert cache.path(k) == cache.root / "ccxt/bybit/ohlcv/BTC_USDT_USDT/1h/2024-01.parquet"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "trades"}, "kind must be one of"),
        ({"period": "2024-13"}, "period must look like"),
        ({"period": "24-01"}, "period must look like"),
        ({"symbol": ".."}, "symbol must be a non-empty name"),
        ({"source": ""}, "source must be a non-empty name"),
    ],
)
def test_bad_keys_are_refused(fields: dict[str, str], message: str) -> None:
    base = {"source": "binance", "market": "um", "kind": "ohlcv", "symbol": "BTCUSDT", "interval": "1h"}
    base["period"] = "2024-01"
    with pytest.raises(InputError, match=message):
        CacheKey(**{**base, **fields})


def test_period_bounds() -> None:
    assert period_bounds("2024-01") == (JAN, FEB)
    assert period_bounds("2024-12")[1] == 1_735_689_600 * 10**9
    assert period_bounds("2024-02-29") == (FEB + 28 * 24 * H, FEB + 29 * 24 * H)


def test_write_refuses_a_frame_of_the_wrong_kind(cache: ParquetCache) -> None:
    with pytest.raises(DataError, match="missing column"):
        cache.write(CacheKey("binance", "um", "funding", "BTCUSDT", "", "2024-01"), ohlcv(JAN, 3))


def test_read_of_absent_or_corrupt_files(cache: ParquetCache) -> None:
    with pytest.raises(DataError, match="not in the cache"):
        cache.read(key("2024-01"))
    path = cache.path(key("2024-01"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    assert cache.entry(key("2024-01")) is None  # treated as absent, so it is downloaded again
    with pytest.raises(DataError, match="unreadable cache file"):
        cache.read(key("2024-01"))


def test_empty_frame_has_the_kind_layout() -> None:
    f = empty_frame("mark", "BTCUSDT", "1h", "src")
    assert list(f.columns) == ["open", "high", "low", "close", "volume"]
    assert f.attrs["kind"] == "mark"
    assert list(empty_frame("funding", "BTCUSDT", "", "src").columns) == ["funding_rate"]
