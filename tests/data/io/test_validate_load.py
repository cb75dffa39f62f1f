"""Loading and validation: every rule names file, row, line, timestamp and value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.data.frames import interval_to_ns, make_ohlcv_frame, ns_to_interval, ohlcv_arrays
from levguard.data.loaders import check_file, load_funding, load_ohlcv, load_series, save_frame
from levguard.data.validate import validate_ohlcv
from levguard.errors import DataError

HEADER = "timestamp,open,high,low,close,volume\n"
H = 3_600_000_000_000


def _csv(tmp_path: Path, rows: list[str], name: str = "TEST_1h.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + "\n".join(rows) + "\n")
    return p


def _bars(n: int = 5, start: str = "2024-01-01") -> list[str]:
    t0 = pd.Timestamp(start, tz="UTC")
    return [f"{(t0 + pd.Timedelta(hours=i)).strftime('%Y-%m-%dT%H:%M:%SZ')},10,11,9,10.5,1" for i in range(n)]


def test_a_clean_file_loads_with_provenance_and_zero_copy_views(tmp_path: Path) -> None:
    f = load_ohlcv(_csv(tmp_path, _bars()))
    assert f.attrs == {"kind": "ohlcv", "symbol": "TEST", "interval": "1h", "source": str(tmp_path / "TEST_1h.csv")}
    assert str(f.index.tz) == "UTC"
    assert f.index.name == "timestamp"
    arrays = ohlcv_arrays(f)
    assert np.shares_memory(arrays.close, f["close"].to_numpy())
    assert arrays.ts_ns[1] - arrays.ts_ns[0] == H


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: [r[0], r[2], r[1], *r[3:]], "row 2 (line 4), 2024-01-01T01:00:00Z: timestamp is earlier"),
        (lambda r: [r[0], r[1], r[1], *r[2:]], "row 2 (line 4), 2024-01-01T01:00:00Z: timestamp repeats"),
        (
            lambda r: [*r[:3], r[3].replace(",10.5,", ",nan,"), *r[4:]],
            "row 3 (line 5), 2024-01-01T03:00:00Z: close is not a finite number, was nan",
        ),
        (
            lambda r: [*r[:1], r[1].replace(",10,11,9,", ",0,11,9,"), *r[2:]],
            "row 1 (line 3), 2024-01-01T01:00:00Z: open must be > 0, was 0.0",
        ),
        (lambda r: [*r[:1], r[1].replace(",10,11,9,", ",10,8,9,"), *r[2:]], "high is below low, was 8.0"),
        (lambda r: [*r[:1], r[1].replace(",10,11,9,", ",12,11,9,"), *r[2:]], "open is outside [low, high], was 12.0"),
        (lambda r: [*r[:1], r[1].replace(",10.5,", ",8.5,"), *r[2:]], "close is outside [low, high], was 8.5"),
        (lambda r: [*r[:1], r[1].replace("T01:00:00Z", "T01:30:00Z"), *r[2:]], "not a multiple of the 1h interval"),
        (lambda r: [*r[:1], r[1][:-1] + "-1", *r[2:]], "volume must be >= 0, was -1.0"),
    ],
    ids=["unsorted", "duplicate", "nan", "non_positive", "high_low", "open_range", "close_range", "mixed", "volume"],
)
def test_each_rule_raises_a_data_error_naming_file_row_and_value(tmp_path: Path, mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    p = _csv(tmp_path, mutate(_bars()))
    with pytest.raises(DataError) as exc:
        load_ohlcv(p)
    assert str(p) in str(exc.value)
    assert needle in str(exc.value)


def test_gaps_are_reported_filled_or_errors(tmp_path: Path) -> None:
    rows = _bars(6)
    p = _csv(tmp_path, rows[:2] + rows[4:])
    f, report = load_ohlcv(p, return_report=True)
    assert report.ok
    assert len(f) == 4
    assert report.missing_bars == 2
    assert report.gaps[0].after == "2024-01-01T01:00:00Z"
    filled, rep2 = load_ohlcv(p, gaps="fill", return_report=True)
    assert len(filled) == 6
    assert rep2.filled_bars == 2
    flat = filled.iloc[2]
    assert flat["open"] == flat["high"] == flat["low"] == flat["close"] == 10.5
    assert flat["volume"] == 0
    with pytest.raises(DataError, match="bars are missing before this row"):
        load_ohlcv(p, gaps="error")


def test_declared_interval_mismatch(tmp_path: Path) -> None:
    p = _csv(tmp_path, _bars(), name="TEST_4h.csv")
    with pytest.raises(DataError, match="bars are 1h apart but the declared interval is 4h"):
        load_ohlcv(p)


def test_a_month_in_the_file_name_is_not_a_minute(tmp_path: Path) -> None:
    # Binance names monthly klines "1M"; read case-blind, the name declared 1-minute bars.
    assert load_ohlcv(_csv(tmp_path, _bars(), name="TEST-1M.csv")).attrs["interval"] == "1h"
    assert load_ohlcv(_csv(tmp_path, _bars(), name="TEST-1H.csv")).attrs["interval"] == "1h"
    with pytest.raises(DataError, match="declared interval is 1m"):
        load_ohlcv(_csv(tmp_path, _bars(), name="TEST-1m.csv"))


def test_timestamps_in_epoch_units_and_naive_times_refused(tmp_path: Path) -> None:
    ms = tmp_path / "EP_1h.csv"
    ms.write_text("open_time,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,3\n1704070800000,1,2,0.5,1.5,3\n")
    us = tmp_path / "EU_1h.csv"
    us.write_text(
        "open_time,open,high,low,close,volume\n1704067200000000,1,2,0.5,1.5,3\n1704070800000000,1,2,0.5,1.5,3\n"
    )
    assert load_ohlcv(ms).index[0] == load_ohlcv(us).index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    naive = tmp_path / "NV_1h.csv"
    naive.write_text(HEADER + "2024-01-01 00:00:00,1,2,0.5,1.5,3\n")
    with pytest.raises(DataError, match=r"row 0 \(line 2\): timestamp '2024-01-01 00:00:00' has no UTC offset"):
        load_ohlcv(naive)


def test_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_ohlcv(tmp_path / "missing.csv")
    odd = tmp_path / "x.json"
    odd.write_text("{}")
    with pytest.raises(DataError, match="unknown format"):
        load_ohlcv(odd)
    cols = _csv(tmp_path, ["2024-01-01T00:00:00Z,1,2,0.5,1.5,3"], name="C_1h.csv")
    cols.write_text("timestamp,o,h,l,c\n2024-01-01T00:00:00Z,1,2,0.5,1.5\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['open', 'high', 'low', 'close'\]"):
        load_ohlcv(cols)
    text = _csv(tmp_path, ["2024-01-01T00:00:00Z,1,abc,0.5,1.5,3"], name="T_1h.csv")
    with pytest.raises(DataError, match=r"row 0 \(line 2\): high is not a number, was 'abc'"):
        load_ohlcv(text)
    underscore = _csv(tmp_path, ["2024-01-01T00:00:00Z,1_000,2,0.5,1.5,3"], name="U_1h.csv")
    with pytest.raises(DataError, match=r"row 0 \(line 2\): open is not a number, was '1_000'"):
        load_ohlcv(underscore)  # Python's float() reads it, pandas does not


def test_cells_a_bad_input_campaign_found(tmp_path: Path) -> None:
    # Found 2026-12-05: each of these ended in a traceback (OverflowError, NaT's strftime,
    # UnicodeDecodeError) in every command that loads bars (data check, risk --history, validate...).
    big = _csv(tmp_path, ["2024-01-01T00:00:00Z,1,2,0.5,1.5,3", "2024-01-01T01:00:00Z,1," + "9" * 401 + ",0.5,1.5,3"])
    with pytest.raises(DataError, match=r"row 1 \(line 3\): high is beyond float64's range, was "):
        load_ohlcv(big)
    with pytest.raises(DataError, match=r"row 1 \(line 3\): high is beyond float64's range"):
        check_file(big)
    frame = pd.DataFrame({"open": [1.0, 1.0], "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.5]})
    nat = tmp_path / "NAT_1h.parquet"
    frame.assign(timestamp=pd.to_datetime(["2024-01-01T00:00Z", None], utc=True)).to_parquet(nat)
    with pytest.raises(DataError, match=r"NAT_1h\.parquet, row 1: timestamp is missing"):
        load_ohlcv(nat)
    raw = tmp_path / "BIN_1h.parquet"
    frame.assign(timestamp=[b"\xff\xfe", b"\xff"]).to_parquet(raw)
    with pytest.raises(DataError, match=r"column 'timestamp' holds bytes that are not UTF-8 text"):
        load_ohlcv(raw)
    flags = tmp_path / "BOOL_1h.parquet"
    ts = pd.to_datetime(["2024-01-01T00:00Z", "2024-01-01T01:00Z"], utc=True)
    frame.assign(timestamp=ts, close=[True, True]).to_parquet(flags)
    with pytest.raises(DataError, match=r"BOOL_1h\.parquet: column 'close' holds true/false values, not numbers"):
        load_ohlcv(flags)


def test_parquet_round_trip_keeps_provenance(tmp_path: Path) -> None:
    f = load_ohlcv(_csv(tmp_path, _bars()))
    out = save_frame(f, tmp_path / "out.parquet")
    back = load_ohlcv(out)
    pd.testing.assert_frame_equal(back, f, check_freq=False)
    assert back.attrs["symbol"] == "TEST"
    csv = save_frame(f, tmp_path / "again_1h.csv")
    assert load_ohlcv(csv)["close"].tolist() == f["close"].tolist()


def test_funding_files(tmp_path: Path) -> None:
    p = tmp_path / "BTCUSDT_funding.csv"
    p.write_text("timestamp,funding_rate\n2024-01-01T00:00:00Z,0.0001\n2024-01-01T08:00:00Z,5.6e-05\n")
    f = load_series(p)
    assert f.attrs["kind"] == "funding"
    assert f.attrs["interval"] == "8h"
    assert f.attrs["symbol"] == "BTCUSDT"
    binance = tmp_path / "b.csv"
    binance.write_text(
        "calc_time,funding_interval_hours,last_funding_rate\n1704067200000,8,0.0001\n1704096000000,8,-0.0002\n"
    )
    assert load_funding(binance)["funding_rate"].tolist() == [0.0001, -0.0002]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,funding_rate\n2024-01-01T00:00:00Z,0.5\n")
    with pytest.raises(DataError, match=r"row 0 \(line 2\), 2024-01-01T00:00:00Z: \|funding_rate\| must be below 0.1"):
        load_funding(bad)


def test_check_file_lists_every_problem_without_raising(tmp_path: Path) -> None:
    rows = _bars()
    rows[1] = rows[1].replace(",10,11,9,", ",10,8,9,")
    rows[3] = rows[3].replace(",10.5,", ",-1,")
    report = check_file(_csv(tmp_path, rows))
    assert not report.ok
    assert report.counts["high_low"] == 1
    assert report.counts["non_positive"] == 1
    assert report.to_dict()["issues"][0]["line"] == 3


def test_interval_helpers() -> None:
    assert interval_to_ns("15m") == 15 * 60 * 10**9
    assert ns_to_interval(4 * H) == "4h"
    assert ns_to_interval(24 * H) == "1d"
    with pytest.raises(DataError, match="interval must look like"):
        interval_to_ns("1M")


def test_in_memory_frames_need_utc() -> None:
    f = make_ohlcv_frame([0, H], [1, 1], [2, 2], [0.5, 0.5], [1, 1], symbol="X", interval="1h", source="mem")
    f.index = f.index.tz_localize(None)
    with pytest.raises(DataError, match="timezone-aware UTC"):
        validate_ohlcv(f)


@pytest.mark.shared_data
def test_shared_binance_files_validate(shared_dir: Path) -> None:
    """Real Binance history: perp 1h has no gaps; spot 1h has the 27 gaps / 122 bars PROVENANCE.md lists."""
    perp, rep = load_ohlcv(shared_dir / "data/ohlcv/BTCUSDT-PERP_1h.csv", return_report=True)
    assert rep.ok
    assert rep.missing_bars == 0
    assert len(perp) == 58_623
    _, spot = load_ohlcv(shared_dir / "data/ohlcv/BTCUSDT-SPOT_1h.csv", return_report=True)
    assert (len(spot.gaps), spot.missing_bars) == (27, 122)
    funding = load_funding(shared_dir / "data/funding/BTCUSDT_funding.csv")
    assert funding.attrs["interval"] == "8h"
    assert len(funding) == 7_323


def test_public_namespace_resolves_lazily() -> None:
    """Every name in levguard.data.__all__ resolves; importing the package does not load ccxt."""
    import subprocess
    import sys

    code = (
        "import sys, levguard.data as d; assert 'ccxt' not in sys.modules; "
        "[getattr(d, n) for n in d.__all__]; print(len(d.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) >= 20


def test_times_outside_the_nanosecond_range_are_refused_by_name(tmp_path: Path) -> None:
    # Found by a bad-input campaign (2026-12-05): ISO times past 2262 raised pandas'
    # OutOfBoundsDatetime through every loader, and epoch seconds past 2262 wrapped around int64.
    late = _csv(tmp_path, ["9999-01-01T00:00:00Z,1,2,0.5,1.5,3", "9999-01-01T01:00:00Z,1,2,0.5,1.5,3"], name="L_1h.csv")
    with pytest.raises(DataError, match=r"column 'timestamp' has a time outside 1677-09-22 to 2262-04-11 UTC"):
        load_ohlcv(late)
    wraps = tmp_path / "W_1h.csv"
    wraps.write_text("open_time,open,high,low,close,volume\n99999999999,1,2,0.5,1.5,3\n99999999999,1,2,0.5,1.5,3\n")
    with pytest.raises(DataError, match=r"row 0 \(line 2\): open_time 99999999999 is outside 1677-09-22"):
        load_ohlcv(wraps)


def test_a_utc_datetime_column_in_parquet_loads(tmp_path: Path) -> None:
    # A time-zone-aware column (what pandas writes for a UTC Series) raised a TypeError.
    times = pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC")
    table = pd.DataFrame({"timestamp": times, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 3.0})
    path = tmp_path / "Z_1h.parquet"
    table.to_parquet(path)
    assert list(load_ohlcv(path).index) == list(times)


def test_corrupt_and_cut_gzip_files_are_data_errors(tmp_path: Path) -> None:
    import gzip

    good = gzip.compress((HEADER + "2024-01-01T00:00:00Z,1,2,0.5,1.5,3\n" * 50).encode())
    cut = tmp_path / "C_1h.csv.gz"
    cut.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "G_1h.csv.gz"
    garbage.write_bytes(good[:10] + bytes(range(256)) * 4)
    for path in (cut, garbage):
        with pytest.raises(DataError, match=rf"{path.name}: cannot be read"):
            load_ohlcv(path)


def test_an_interval_longer_than_any_history_is_refused() -> None:
    # `levguard data check --interval 99999999999d` overflowed int64 deep in the validator.
    assert interval_to_ns("10000d") == 10_000 * 86_400 * 10**9
    with pytest.raises(DataError, match=r"interval must be at most 10000d \(about 27 years\), was '10001d'"):
        interval_to_ns("10001d")
    with pytest.raises(DataError, match="at most 10000d"):
        interval_to_ns("99999999999d")


def test_save_frame_names_a_path_it_cannot_write(tmp_path: Path) -> None:
    frame = load_ohlcv(_csv(tmp_path, ["2024-01-01T00:00:00Z,1,2,0.5,1.5,3", "2024-01-01T01:00:00Z,1,2,0.5,1.5,3"]))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(DataError, match=r"a_file/out.csv: cannot be written \("):  # was FileExistsError
        save_frame(frame, blocker / "out.csv")


def test_bars_stamped_with_close_times_are_refused_by_row(tmp_path: Path) -> None:
    # Binance's close_time (08:59:59.999 for the 08:00 bar) read as an open time: the loaders took
    # it, and funding settling at 09:00 was charged to the 08:00 bar.
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    rows = [f"{(t0 + pd.Timedelta(hours=i + 1, milliseconds=-1)).isoformat()},10,11,9,10.5,1" for i in range(5)]
    p = _csv(tmp_path, rows)
    with pytest.raises(DataError) as exc:
        load_ohlcv(p)
    assert str(exc.value) == (
        f"{p}, row 0 (line 2), 2024-01-01T00:59:59.999Z: bar time is 1 ms before the 1h grid (multiples of 1h "
        "from 00:00 UTC): a close time (open + 1h - 1 ms); stamp bars with their open time (4 more problem(s))"
    )
    report = check_file(p)
    assert report.counts == {"misaligned": 5}
    assert (report.first, report.last) == ("2024-01-01T00:59:59.999Z", "2024-01-01T04:59:59.999Z")


def test_close_times_in_microseconds_are_named_and_other_offsets_load(tmp_path: Path) -> None:
    us = tmp_path / "US_1h.csv"
    close = [1_704_070_800_000_000 - 1 + i * 3_600_000_000 for i in range(4)]  # Binance's µs close_time
    us.write_text("open_time,open,high,low,close,volume\n" + "".join(f"{t},1,2,0.5,1.5,3\n" for t in close))
    with pytest.raises(DataError, match=r"row 0 \(line 2\), 2024-01-01T00:59:59.999999Z: .*open \+ 1h - 1 µs"):
        load_ohlcv(us)
    # A constant offset is a venue's own grid (hourly bars at :30, daily candles at 16:00 UTC for
    # Hong Kong time, 4h bars from 01:00): they load, as before the rule.
    half = _csv(tmp_path, [r.replace(":00:00Z", ":30:00Z") for r in _bars(4)], name="H_1h.csv")
    assert len(load_ohlcv(half)) == 4
    four = _csv(tmp_path, [r for i, r in enumerate(_bars(24)) if i % 4 == 1], name="F_4h.csv")
    assert check_file(four).ok
    days = [f"2024-01-0{d}T16:00:00Z,1,2,0.5,1.5,3" for d in (1, 2, 3)]
    assert check_file(_csv(tmp_path, days, name="N_1d.csv")).ok


def test_only_intervals_that_divide_a_day_are_checked_for_close_times(tmp_path: Path) -> None:
    # Weekly bars open on Monday (Binance), not on the epoch's Thursday: not checked.
    mondays = [f"{d}T00:00:00Z,1,2,0.5,1.5,3" for d in ("2024-01-01", "2024-01-08", "2024-01-15")]
    assert load_ohlcv(_csv(tmp_path, mondays, name="W_1w.csv")).attrs["interval"] == "1w"
    closes = [f"2024-01-0{d}T23:59:59.999Z,1,2,0.5,1.5,3" for d in (1, 2, 3)]
    assert check_file(_csv(tmp_path, closes, name="D_1d.csv")).counts == {"misaligned": 3}


@pytest.mark.shared_data
def test_every_shared_ohlcv_file_is_on_its_grid(shared_dir: Path) -> None:
    files = sorted((shared_dir / "data/ohlcv").glob("*.csv"))
    assert files
    for path in files:
        report = check_file(path)
        assert report.ok, report.first_error()
        assert "misaligned" not in report.counts


def test_line_numbers_count_the_blank_lines_pandas_skips(tmp_path: Path) -> None:
    # Lines were row + 2, but pandas skips blank (and whitespace-only) lines: the error named a
    # line above the bad row.
    import gzip

    rows = _bars(4)
    rows[3] = rows[3].replace(",10,11,9,", ",10,8,9,")
    text = "\n" + HEADER + rows[0] + "\n\n  \n" + rows[1] + "\n" + rows[2] + "\n\t\n" + rows[3] + "\n\n"
    p = tmp_path / "B_1h.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=r"row 3 \(line 9\), 2024-01-01T03:00:00Z: high is below low"):
        load_ohlcv(p)
    assert {i.line for i in check_file(p).issues} == {9}
    assert text.splitlines()[8] == rows[3]
    gz = tmp_path / "B_1h.csv.gz"
    gz.write_bytes(gzip.compress(text.replace("\n", "\r\n").encode()))
    assert {i.line for i in check_file(gz).issues} == {9}
    funding = tmp_path / "X_funding.csv"
    funding.write_text("timestamp,funding_rate\n\n2024-01-01T00:00:00Z,0.0001\n\n2024-01-01T08:00:00Z,0.5\n")
    with pytest.raises(DataError, match=r"row 1 \(line 5\), 2024-01-01T08:00:00Z: \|funding_rate\|"):
        load_funding(funding)


def test_a_line_that_cannot_be_known_is_left_out(tmp_path: Path) -> None:
    # A quoted cell across two lines: rows and lines no longer match one to one.
    rows = [r + ',"x"' for r in _bars(3)]
    rows[0] = rows[0].replace('"x"', '"two\nlines"')
    rows[2] = rows[2].replace(",10,11,9,", ",10,8,9,")
    p = tmp_path / "Q_1h.csv"
    p.write_text(HEADER.replace("\n", ",note\n") + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"Q_1h\.csv, row 2, 2024-01-01T02:00:00Z: high is below low"):
        load_ohlcv(p)
    assert check_file(p).issues[0].line is None


def _mark_rows(n: int = 5) -> list[str]:
    return [f"{row},10.1,10.9,9.2,10.4" for row in _bars(n)]


def test_mark_columns_travel_with_the_bars_and_obey_the_price_rules(tmp_path: Path) -> None:
    head = "timestamp,open,high,low,close,volume,mark_open,mark_high,mark_low,mark_close\n"
    p = tmp_path / "TEST_1h.csv"
    p.write_text(head + "\n".join(_mark_rows()) + "\n")
    f = load_ohlcv(p)
    assert list(f.columns[-4:]) == ["mark_open", "mark_high", "mark_low", "mark_close"]
    assert f["mark_high"].iloc[0] == 10.9
    rows = _mark_rows()
    rows[3] = rows[3].replace(",10.9,9.2,", ",9.0,9.2,")  # mark high below mark low
    p.write_text(head + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"row 3 \(line 5\).*mark_high is below mark_low, was 9\.0"):
        load_ohlcv(p)
    # A partial set would be read as last-price bars by the forecasts: refused, naming what is missing.
    p.write_text("timestamp,open,high,low,close,volume,mark_close\n" + "\n".join(f"{r},10.4" for r in _bars()) + "\n")
    with pytest.raises(DataError, match=r"missing \['mark_high', 'mark_low'\]"):
        load_ohlcv(p)
    # Gaps filled flat fill the mark flat too (at the previous mark close).
    rows = _mark_rows(6)
    del rows[2]
    p.write_text(head + "\n".join(rows) + "\n")
    filled = load_ohlcv(p, gaps="fill")
    assert filled["mark_low"].iloc[2] == filled["mark_close"].iloc[1] == 10.4
    assert not filled.isna().any().any()
