"""The Binance archive downloader against a local fake of data.binance.vision.

The fake serves zip + CHECKSUM files this module writes in the archive's format; "now" is fixed
at 2024-03-05T12:00Z, so February 2024 is the most recent complete month and March the current.
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from fakes._server import Reply
from fakes.binance_archive import FakeBinanceArchive, funding_rows, kline_rows
from levguard.data.cache import ParquetCache
from levguard.data.download import BinanceArchive, HttpClient, RateLimiter, RetryPolicy, RichProgress
from levguard.data.download.binance_archive import (
    archive_path,
    epoch_to_ns,
    parse_checksum,
    parse_funding_csv,
    parse_kline_csv,
)
from levguard.data.download.http import part_path
from levguard.errors import DataError, InputError, VenuePermanentError, VenueRetryableError

MS_H = 3_600_000
MS_D = 24 * MS_H
NS_MS = 1_000_000
JAN = 1_704_067_200_000  # 2024-01-01T00:00Z in ms
FEB = 1_706_745_600_000
MAR = 1_709_251_200_000
NOW_NS = (MAR + 4 * MS_D + 12 * MS_H) * NS_MS  # 2024-03-05T12:00Z


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[FakeBinanceArchive]:
    with FakeBinanceArchive(tmp_path / "archive") as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def downloader(tmp_path: Path, archive: FakeBinanceArchive, sleeps: list[float]) -> BinanceArchive:
    client = HttpClient(
        timeout_s=5, retry=RetryPolicy(attempts=3, base_delay_s=0.5), sleep=sleeps.append, rng=random.Random(1)
    )
    return BinanceArchive(
        ParquetCache(tmp_path / "cache"), base_url=archive.base_url, client=client, clock=lambda: NOW_NS
    )


def month_of_4h(start_ms: int, end_ms: int, **kw: object) -> list[list[object]]:
    return kline_rows(start_ms, 4 * MS_H, (end_ms - start_ms) // (4 * MS_H), **kw)  # type: ignore[arg-type]


def zip_path(symbol: str, interval: str, period: str, kind: str = "klines") -> str:
    gran = "monthly" if len(period) == 7 else "daily"
    return f"/data/futures/um/{gran}/{kind}/{symbol}/{interval}/{symbol}-{interval}-{period}.zip"


def test_archive_paths_follow_the_published_layout() -> None:
    assert archive_path("ohlcv", "BTCUSDT", "1h", "2024-01") == (
        "data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"
    )
    assert archive_path("mark", "BTCUSDT", "1h", "2024-03-04") == (
        "data/futures/um/daily/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-03-04.zip"
    )
    assert archive_path("index", "ETHUSDT", "1d", "2024-01") == (
        "data/futures/um/monthly/indexPriceKlines/ETHUSDT/1d/ETHUSDT-1d-2024-01.zip"
    )
    assert archive_path("funding", "BTCUSDT", "", "2024-01") == (
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
    )
    with pytest.raises(InputError, match="monthly only"):
        archive_path("funding", "BTCUSDT", "", "2024-01-01")


@pytest.mark.parametrize("february_published", [True, False])
def test_monthly_files_then_daily_fallback(
    archive: FakeBinanceArchive, downloader: BinanceArchive, february_published: bool
) -> None:
    archive.put_klines("BTCUSDT", "4h", "2024-01", month_of_4h(JAN, FEB))
    if february_published:
        archive.put_klines("BTCUSDT", "4h", "2024-02", month_of_4h(FEB, MAR, base=300.0))
    else:  # the most recent month's monthly file is not out yet: daily files instead
        for d in range(29):
            day = FEB + d * MS_D
            archive.put_klines(
                "BTCUSDT", "4h", f"2024-02-{d + 1:02d}", kline_rows(day, 4 * MS_H, 6, base=300.0 + 6 * d)
            )
    for d in range(4):  # the current month: daily files up to yesterday
        day = MAR + d * MS_D
        archive.put_klines("BTCUSDT", "4h", f"2024-03-{d + 1:02d}", kline_rows(day, 4 * MS_H, 6, base=500.0 + 6 * d))

    res = downloader.download("BTCUSDT", "klines", "4h", "2024-01-20", "2024-03-06")

    f = res.frame
    ts_ms = f.index.asi8 // NS_MS
    first = JAN + 19 * MS_D
    assert ts_ms[0] == first
    assert ts_ms[-1] == MAR + 4 * MS_D - 4 * MS_H  # the last bar of 2024-03-04
    assert np.all(np.diff(ts_ms) == 4 * MS_H)  # sorted, unique, no gaps across file boundaries
    assert len(f) == (MAR + 4 * MS_D - first) // (4 * MS_H)
    assert f.attrs["kind"] == "ohlcv"
    assert f.attrs["symbol"] == "BTCUSDT"
    assert f.attrs["interval"] == "4h"
    assert f.attrs["source"].startswith(archive.base_url + "/data/futures/um/")
    assert f.loc["2024-02-01 00:00", "open"] == 300.0
    assert f.loc["2024-03-01 00:00", "open"] == 500.0
    assert any("not in the archive yet" in n for n in res.notes)  # 2024-03-05 onwards
    feb_monthly = archive.count(zip_path("BTCUSDT", "4h", "2024-02"))
    assert feb_monthly == (2 if february_published else 1)  # CHECKSUM + zip, or a 404 on the CHECKSUM
    if february_published:
        assert "2024-02" in res.fetched
        assert archive.count("/data/futures/um/daily/klines/BTCUSDT/4h/BTCUSDT-4h-2024-02") == 0
    else:
        assert any("2024-02: monthly file not published yet" in n for n in res.notes)
        assert "2024-02-29" in res.fetched
    assert archive.count("/data/futures/um/daily/klines/BTCUSDT/4h/BTCUSDT-4h-2024-03-05") == 0  # never asked
    assert not list((downloader.cache.root / "raw").rglob("*.zip"))  # zips are removed once unpacked


def test_repeated_download_of_a_cached_range_sends_no_request(
    archive: FakeBinanceArchive, downloader: BinanceArchive
) -> None:
    archive.put_klines("BTCUSDT", "4h", "2024-01", month_of_4h(JAN, FEB))
    for d in range(29):
        archive.put_klines("BTCUSDT", "4h", f"2024-02-{d + 1:02d}", kline_rows(FEB + d * MS_D, 4 * MS_H, 6))
    first = downloader.download("BTCUSDT", "ohlcv", "4h", "2024-01-01", "2024-03-01")
    assert archive.count() > 0
    archive.clear_log()
    again = downloader.download("BTCUSDT", "ohlcv", "4h", "2024-01-01", "2024-03-01")
    inner = downloader.download("BTCUSDT", "ohlcv", "4h", "2024-01-10", "2024-02-10")
    assert archive.count() == 0  # not even the February monthly file is asked for again
    assert again.fetched == ()
    assert inner.fetched == ()
    assert again.frame.equals(first.frame)
    assert len(inner.frame) == 31 * 6
    assert downloader.cache.cached_range("binance", "um", "ohlcv", "BTCUSDT", "4h") == (
        JAN * NS_MS,
        (MAR - 4 * MS_H) * NS_MS,
    )
    # Months later, February's days still answer for February: no request for its monthly file.
    later = BinanceArchive(
        downloader.cache, base_url=archive.base_url, client=downloader.client, clock=lambda: 2 * NOW_NS
    )
    assert later.download("BTCUSDT", "ohlcv", "4h", "2024-01-01", "2024-03-01").frame.equals(first.frame)
    assert archive.count() == 0


@pytest.mark.parametrize(("header", "unit"), [(True, "ms"), (False, "ms"), (True, "us"), (False, "us")])
def test_header_and_headerless_files_in_ms_and_us(
    archive: FakeBinanceArchive, downloader: BinanceArchive, header: bool, unit: str
) -> None:
    archive.put_klines("ETHUSDT", "1d", "2023-06", kline_rows(JAN, MS_D, 30, unit=unit), header=header)
    f = downloader.download("ETHUSDT", "klines", "1d", "2023-06-01", "2023-07-01").frame
    # The file's times are what count (here January 2024 rows in a "June" file): outside the range, dropped.
    assert len(f) == 0
    f = downloader.download("ETHUSDT", "klines", "1d", "2023-06-01", "2024-02-01").frame
    assert archive.count(zip_path("ETHUSDT", "1d", "2023-06")) == 2  # cached after the first call
    assert list(f.index.asi8[:2]) == [JAN * NS_MS, (JAN + MS_D) * NS_MS]
    assert f["close"].iloc[0] == 101.0
    assert f["volume"].iloc[1] == 11.0


def test_epoch_units_and_checksum_parsing() -> None:
    assert list(epoch_to_ns(np.array([JAN, JAN * 1000]))) == [JAN * NS_MS, JAN * NS_MS]
    digest = "a" * 64
    assert parse_checksum(f"{digest}  BTCUSDT-1h-2024-01.zip\n", "BTCUSDT-1h-2024-01.zip") == digest
    with pytest.raises(DataError, match=r"BTCUSDT-1h-2024-01\.zip\.CHECKSUM"):
        parse_checksum(f"{digest}  OTHER.zip", "BTCUSDT-1h-2024-01.zip")
    with pytest.raises(DataError, match="CHECKSUM"):
        parse_checksum("<html>oops</html>", "BTCUSDT-1h-2024-01.zip")


def test_checksum_mismatch_deletes_the_file_and_names_it(
    archive: FakeBinanceArchive, downloader: BinanceArchive
) -> None:
    archive.put_klines("BTCUSDT", "1h", "2024-01", kline_rows(JAN, MS_H, 744), checksum="0" * 64)
    with pytest.raises(DataError, match=r"BTCUSDT-1h-2024-01\.zip: SHA-256 mismatch"):
        downloader.download("BTCUSDT", "klines", "1h", "2024-01-01", "2024-02-01")
    raw = downloader.raw_path("ohlcv", "BTCUSDT", "1h", "2024-01")
    assert not raw.exists()
    assert not part_path(raw).exists()
    assert downloader.cache.entries("binance", "um", "ohlcv", "BTCUSDT", "1h") == []


def test_resume_of_a_partial_part_file(archive: FakeBinanceArchive, downloader: BinanceArchive) -> None:
    zip_file = archive.put_klines("BTCUSDT", "1h", "2024-01", kline_rows(JAN, MS_H, 744))
    data = zip_file.read_bytes()
    raw = downloader.raw_path("ohlcv", "BTCUSDT", "1h", "2024-01")
    raw.parent.mkdir(parents=True)
    part_path(raw).write_bytes(data[:1000])  # an earlier run stopped here

    f = downloader.download("BTCUSDT", "klines", "1h", "2024-01-01", "2024-02-01").frame

    zips = [r for r in archive.requests if r.path.endswith(".zip")]
    assert len(zips) == 1
    assert zips[0].header("Range") == "bytes=1000-"
    assert len(f) == 744
    assert f["open"].iloc[-1] == 100.0 + 743
    assert not part_path(raw).exists()


def test_a_connection_dropped_mid_file_resumes_with_a_range_request(
    archive: FakeBinanceArchive, downloader: BinanceArchive, sleeps: list[float]
) -> None:
    archive.put_klines("BTCUSDT", "1h", "2024-01", kline_rows(JAN, MS_H, 744))
    archive.truncate_next(zip_path("BTCUSDT", "1h", "2024-01"), 700)
    f = downloader.download("BTCUSDT", "klines", "1h", "2024-01-01", "2024-02-01").frame
    zips = [r for r in archive.requests if r.path.endswith(".zip")]
    assert [r.header("Range") for r in zips] == [None, "bytes=700-"]
    assert len(f) == 744
    assert len(sleeps) == 1


def test_a_503_is_retried_with_backoff_then_succeeds(
    archive: FakeBinanceArchive, downloader: BinanceArchive, sleeps: list[float]
) -> None:
    archive.put_klines("BTCUSDT", "1h", "2024-01", kline_rows(JAN, MS_H, 744))
    archive.inject(zip_path("BTCUSDT", "1h", "2024-01"), Reply(503, b"Slow Down"))
    f = downloader.download("BTCUSDT", "klines", "1h", "2024-01-01", "2024-02-01").frame
    assert len(f) == 744
    assert archive.count(zip_path("BTCUSDT", "1h", "2024-01")) == 3  # CHECKSUM, 503, zip
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5


def test_retry_after_is_honoured_and_persistent_failures_raise_retryable(
    archive: FakeBinanceArchive, downloader: BinanceArchive, sleeps: list[float]
) -> None:
    checksum = zip_path("BTCUSDT", "1h", "2024-01") + ".CHECKSUM"
    archive.inject(checksum, Reply(429, headers={"Retry-After": "7"}), Reply(502), Reply(500))
    with pytest.raises(VenueRetryableError, match=r"failed after 3 attempt\(s\); last error: HTTP 500"):
        downloader.download("BTCUSDT", "klines", "1h", "2024-01-01", "2024-02-01")
    assert sleeps[0] == 7.0  # Retry-After beats the 0.5 s backoff
    assert 0.5 <= sleeps[1] <= 1.0  # second backoff: 1 s with jitter
    assert archive.count(checksum) == 3


def test_a_403_is_permanent_and_not_retried(
    archive: FakeBinanceArchive, downloader: BinanceArchive, sleeps: list[float]
) -> None:
    archive.inject(zip_path("BTCUSDT", "1h", "2024-01") + ".CHECKSUM", Reply(403, b"AccessDenied"))
    with pytest.raises(VenuePermanentError, match="HTTP 403"):
        downloader.download("BTCUSDT", "klines", "1h", "2024-01-01", "2024-02-01")
    assert sleeps == []


def test_months_before_listing_are_skipped_with_a_note_and_remembered(
    archive: FakeBinanceArchive, downloader: BinanceArchive
) -> None:
    archive.put_klines("NEWUSDT", "1d", "2023-12", kline_rows(JAN - 31 * MS_D, MS_D, 31))
    archive.put_klines("NEWUSDT", "1d", "2024-01", kline_rows(JAN, MS_D, 31))
    res = downloader.download("NEWUSDT", "klines", "1d", "2023-10-01", "2024-02-01")
    assert len(res.frame) == 62
    assert res.frame.index[0].isoformat() == "2023-12-01T00:00:00+00:00"
    skipped = [n for n in res.notes if "before the symbol listed" in n]
    assert [n[:7] for n in skipped] == ["2023-10", "2023-11"]
    archive.clear_log()
    again = downloader.download("NEWUSDT", "klines", "1d", "2023-10-01", "2024-02-01")
    assert archive.count() == 0
    assert len(again.frame) == 62


@pytest.mark.parametrize(("kind", "folder"), [("mark", "markPriceKlines"), ("index", "indexPriceKlines")])
def test_mark_and_index_klines(archive: FakeBinanceArchive, downloader: BinanceArchive, kind: str, folder: str) -> None:
    archive.put_klines("BTCUSDT", "1h", "2024-01", kline_rows(JAN, MS_H, 744, base=42_000.0), kind=folder)
    f = downloader.download("BTCUSDT", kind, "1h", "2024-01-01", "2024-02-01").frame
    assert f.attrs["kind"] == kind
    assert len(f) == 744
    assert f["open"].iloc[0] == 42_000.0
    assert archive.count(f"/data/futures/um/monthly/{folder}/BTCUSDT/1h/") == 2
    cached = downloader.cache.dataset_dir("binance", "um", kind, "BTCUSDT", "1h")
    assert (cached / "2024-01.parquet").is_file()


def test_funding_rates(archive: FakeBinanceArchive, downloader: BinanceArchive) -> None:
    archive.put_funding("BTCUSDT", "2024-01", funding_rows(JAN, 93))
    archive.put_funding("BTCUSDT", "2024-02", funding_rows(FEB, 87))
    res = downloader.download("BTCUSDT", "fundingRate", "ignored", "2024-01-01", "2024-03-05")
    f = res.frame
    assert list(f.columns) == ["funding_rate"]
    assert f.attrs["kind"] == "funding"
    assert f.attrs["interval"] == "8h"
    assert len(f) == 93 + 87
    assert f["funding_rate"].iloc[:3].tolist() == [0.0001, 0.0002, 0.0003]
    assert any(n.startswith("2024-03: funding rates are archived monthly") for n in res.notes)
    assert archive.count("/data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-03") == 0
    assert (downloader.cache.dataset_dir("binance", "um", "funding", "BTCUSDT", "") / "2024-02.parquet").is_file()


_KLINE_HEAD = "open_time,open,high,low,close,volume,close_time\n"
_BAR = "{t},1,2,0.5,1.5,10,{c}"
_H = 3_600_000


def _kline(data: str) -> None:
    parse_kline_csv(data.encode(), name="f.csv", symbol="BTCUSDT", interval="1h", kind="ohlcv", source="t")


def _bars(*lows: float, start: int = JAN) -> list[str]:
    return [
        _BAR.format(t=start + i * _H, c=start + (i + 1) * _H - 1).replace(",0.5,", f",{lo},")
        for i, lo in enumerate(lows)
    ]


def test_archive_lines_count_blank_lines_and_sorted_rows() -> None:
    # pandas skips blank lines, so the third bar of a file with two blank lines on top is on
    # line 6, not row 2 + 2 = 4 (the line the message named before).
    with pytest.raises(DataError, match=r"f\.csv, row 2 \(line 6\).*high is below low"):
        _kline(_KLINE_HEAD + "\n \n" + "\n".join(_bars(0.5, 0.5, 3.0)) + "\n")
    with pytest.raises(DataError, match=r"f\.csv: line 5: open is not a number, was 'x'"):
        _kline(_KLINE_HEAD + "\n" + "\n".join(_bars(0.5, 0.5)) + "\n" + _bars(0.5)[0].replace("1,2,", "x,2,", 1))
    # Rows out of time order: the bad bar is still named by its own line (before: no line at all).
    rows = _bars(0.5, 3.0, 0.5)
    with pytest.raises(DataError, match=r"row 1 \(line 2\)"):
        _kline(_KLINE_HEAD + "\n".join([rows[1], rows[0], rows[2]]) + "\n")


def test_archive_times_with_a_fraction_are_refused_not_truncated() -> None:
    rows = _bars(0.5, 0.5)
    rows[1] = rows[1].replace(f"{JAN + _H},", f"{JAN + _H}.7,", 1)
    with pytest.raises(
        DataError, match=r"f\.csv: line 3: open_time must be a whole number of milliseconds, was 1704070800000\.7"
    ):
        _kline(_KLINE_HEAD + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"f\.csv: line 2: open_time 1e\+30 is outside"):
        _kline(_KLINE_HEAD + _bars(0.5)[0].replace(str(JAN), "1e30", 1) + "\n")
    funding = "calc_time,funding_interval_hours,last_funding_rate\n{t},8,0.0001\n{t2}.5,8,0.0001\n"
    with pytest.raises(DataError, match=r"line 3: calc_time must be a whole number"):
        parse_funding_csv(funding.format(t=JAN, t2=JAN + 8 * _H).encode(), name="f.csv", symbol="BTCUSDT", source="t")


def test_malformed_csv_is_named_by_file_and_line(archive: FakeBinanceArchive, downloader: BinanceArchive) -> None:
    rows = kline_rows(JAN, MS_D, 31)
    rows[4][2] = "n/a"
    archive.put_klines("BTCUSDT", "1d", "2024-01", rows)
    with pytest.raises(DataError, match=r"BTCUSDT-1d-2024-01\.csv: line 6: high is not a number, was 'n/a'"):
        downloader.download("BTCUSDT", "klines", "1d", "2024-01-01", "2024-02-01")
    rows = kline_rows(JAN, MS_D, 31)
    rows[2][3] = "999"  # low above high
    archive.put_klines("BTCUSDT", "1d", "2024-01", rows)
    with pytest.raises(DataError, match=r"BTCUSDT-1d-2024-01\.csv.*line 4"):
        downloader.download("BTCUSDT", "klines", "1d", "2024-01-01", "2024-02-01")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("btc-usdt!", "klines", "1h", "2024-01-01"), "symbol must be a Binance"),
        (("BTCUSDT", "trades", "1h", "2024-01-01"), "kind must be klines, mark, index or funding"),
        (("BTCUSDT", "klines", "7m", "2024-01-01"), "interval must be one of"),
        (("BTCUSDT", "klines", "1h", "yesterday-ish"), "start must be a date or timestamp"),
        (("BTCUSDT", "klines", "1h", "2024-02-01", "2024-01-01"), "end must be after start"),
    ],
)
def test_bad_input(downloader: BinanceArchive, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        downloader.download(*args)


def test_rich_progress_draws_bars(tmp_path: Path, archive: FakeBinanceArchive) -> None:
    archive.put_klines("BTCUSDT", "1h", "2024-01", kline_rows(JAN, MS_H, 744))
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    client = HttpClient(timeout_s=5, retry=RetryPolicy(attempts=1))
    with RichProgress(console) as progress:
        BinanceArchive(
            ParquetCache(tmp_path / "c"),
            base_url=archive.base_url,
            client=client,
            progress=progress,
            clock=lambda: NOW_NS,
        ).download("BTCUSDT", "klines", "1h", "2024-01-01", "2024-02-01")
    assert "BTCUSDT 1h klines" in out.getvalue()
    assert "1/1 files" in out.getvalue()


def test_range_refused_restarts_and_rate_limiter_spaces_requests(archive: FakeBinanceArchive, tmp_path: Path) -> None:
    zip_file = archive.put_klines("BTCUSDT", "1h", "2024-01", kline_rows(JAN, MS_H, 24))
    dest = tmp_path / "dl" / zip_file.name
    dest.parent.mkdir()
    part_path(dest).write_bytes(b"x" * (zip_file.stat().st_size + 10))  # longer than the file: 416
    clock = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    client = HttpClient(timeout_s=5, limiter=RateLimiter(0.25, clock=lambda: clock[0], sleep=sleep))
    assert client.download(archive.base_url + zip_path("BTCUSDT", "1h", "2024-01"), dest)
    assert dest.read_bytes() == zip_file.read_bytes()
    assert [r.header("Range") for r in archive.requests] == [f"bytes={zip_file.stat().st_size + 10}-", None]
    assert waits == [0.25]  # the second request waited for its slot
    assert client.get_bytes(archive.base_url + "/nope") is None
    assert client.requests_made == 3


def test_retry_policy_schedule() -> None:
    p = RetryPolicy(attempts=5, base_delay_s=1.0, max_delay_s=5.0, jitter=0.0)
    assert [p.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    j = RetryPolicy(base_delay_s=2.0, jitter=0.5)
    rng = random.Random(3)
    assert all(1.0 <= j.delay(1, rng) <= 2.0 for _ in range(50))
    with pytest.raises(InputError, match="attempts must be an integer >= 1"):
        RetryPolicy(attempts=0)


@pytest.mark.network
@pytest.mark.skipif(
    os.environ.get("LEVGUARD_NETWORK_TESTS") != "1", reason="needs the internet (LEVGUARD_NETWORK_TESTS=1)"
)
def test_real_archive_month(tmp_path: Path) -> None:
    """Needs the internet: one real monthly file from data.binance.vision, checksum verified."""
    f = BinanceArchive(ParquetCache(tmp_path)).download("BTCUSDT", "klines", "1d", "2024-01-01", "2024-02-01").frame
    assert len(f) == 31


def test_times_are_utc_and_naive_datetimes_are_refused() -> None:
    import datetime as dt

    import pandas as pd

    from levguard.data.download import to_ns

    assert to_ns("2024-01-01") == JAN * NS_MS
    assert to_ns("2024-01-01T02:00+02:00") == JAN * NS_MS
    assert to_ns(pd.Timestamp("2024-01-01", tz="UTC")) == JAN * NS_MS
    assert to_ns(JAN * NS_MS) == JAN * NS_MS
    with pytest.raises(InputError, match="naive datetimes are refused"):
        to_ns(dt.datetime(2024, 1, 1), "--start")
    with pytest.raises(InputError, match="at or after 1970-01-01"):
        to_ns("1969-12-31")


class _UnresolvableOpener:
    """An opener whose every request fails in name resolution (errno ``code``), counting attempts."""

    def __init__(self, code: int) -> None:
        self.code, self.calls = code, 0

    def open(self, req: object, timeout: float) -> object:
        import socket
        import urllib.error

        self.calls += 1
        raise urllib.error.URLError(socket.gaierror(self.code, "name resolution failed"))


def test_a_host_that_does_not_resolve_fails_at_once_but_a_resolver_hiccup_is_retried(sleeps: list[float]) -> None:
    # Offline or a wrong host: getaddrinfo answers EAI_NONAME and no retry can help (5 tries took
    # 6 s before); EAI_AGAIN is the resolver's temporary failure and is retried with backoff.
    import socket

    from levguard.data.download.http import unknown_host

    client = HttpClient(retry=RetryPolicy(attempts=3, base_delay_s=0.5), sleep=sleeps.append)
    client._opener = offline = _UnresolvableOpener(socket.EAI_NONAME)  # type: ignore[assignment]
    with pytest.raises(VenuePermanentError, match="does not resolve"):
        client.get_bytes("https://data.binance.vision/x.zip")
    assert (offline.calls, sleeps) == (1, [])
    client._opener = hiccup = _UnresolvableOpener(socket.EAI_AGAIN)  # type: ignore[assignment]
    with pytest.raises(VenueRetryableError, match=r"after 3 attempt\(s\)"):
        client.get_bytes("https://data.binance.vision/x.zip")
    assert (hiccup.calls, len(sleeps)) == (3, 2)
    # The chain is followed through causes and URLError.reason (ccxt -> requests -> urllib3 -> gaierror).
    outer = ConnectionError("HTTPSConnectionPool: Max retries exceeded")
    outer.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert unknown_host(outer)
    assert not unknown_host(ConnectionError("reset by peer"))
    assert not unknown_host(socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"))
