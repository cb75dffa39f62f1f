"""Layouts of real Binance files the loaders read: funding-column aliases on bar files, ``+00``
offsets, header-less kline CSVs (ms and µs open times), and repeated klines in archive files.

Each loader change is checked on rows of the real files in ../shared/data (skipped when absent)
and on a small hand-written file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.data.download.binance_archive import parse_funding_csv, parse_kline_csv
from levguard.data.frames import BINANCE_KLINE_COLUMNS
from levguard.data.loaders import check_file, load_funding, load_ohlcv, load_series, read_table
from levguard.errors import DataError

ROWS = 72  # three days of 1h bars: nine 8-hourly funding prints


def _real(shared_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first ROWS bars of BTCUSDT perp from 2020 on, and the funding prints in their span, as read."""
    bars = pd.read_csv(shared_dir / "data/ohlcv/BTCUSDT-PERP_1h.csv")
    bars = bars[bars["timestamp"] >= "2020-01-01"].head(ROWS).reset_index(drop=True)
    funding = pd.read_csv(shared_dir / "data/funding/BTCUSDT_funding.csv")
    funding = funding[funding["timestamp"].isin(bars["timestamp"])].reset_index(drop=True)
    assert len(funding) == 9
    return bars, funding


def _epoch(stamps: pd.Series, unit: str) -> np.ndarray:
    ns = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)).as_unit("ns").asi8
    return ns // {"ms": 1_000_000, "us": 1_000}[unit]


def _kline_lines(bars: pd.DataFrame, unit: str = "ms") -> list[str]:
    """``bars`` as rows of a data.binance.vision kline CSV (12 columns, open/close time in ``unit``)."""
    opened = _epoch(bars["timestamp"], unit)
    step = {"ms": 3_600_000, "us": 3_600_000_000}[unit]
    return [
        f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r},{t + step - 1},{c * v!r},100,{v / 2!r},{c * v / 2!r},0"
        for t, o, h, lo, c, v in zip(
            opened, bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"], strict=True
        )
    ]


def _same_bars(frame: pd.DataFrame, bars: pd.DataFrame) -> None:
    assert list(frame.index) == list(pd.to_datetime(bars["timestamp"], utc=True))
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(frame[col].to_numpy(), bars[col].to_numpy(dtype=np.float64))


# -- 1. a bar file's funding column by any of the funding file's names ---------------------------


@pytest.mark.parametrize("alias", ["fundingRate", "last_funding_rate", "rate", "funding_rate"])
def test_a_bar_files_funding_column_is_read_by_its_aliases(shared_dir: Path, tmp_path: Path, alias: str) -> None:
    # It was read as `funding_rate` only: `fundingRate` was dropped without a word, and a
    # backtest on the file charged no funding.
    bars, funding = _real(shared_dir)
    table = bars.merge(funding.rename(columns={"funding_rate": alias}), on="timestamp", how="left")
    path = tmp_path / "BTCUSDT-PERP_1h.csv"
    table.to_csv(path, index=False)
    frame = load_ohlcv(path)
    _same_bars(frame, bars)
    paid = frame["funding_rate"].dropna()
    assert list(paid.index) == list(pd.to_datetime(funding["timestamp"], utc=True))
    np.testing.assert_array_equal(paid.to_numpy(), funding["funding_rate"].to_numpy())
    assert check_file(path).ok


def test_a_bar_files_funding_alias_obeys_the_funding_rules(tmp_path: Path) -> None:
    path = tmp_path / "X_1h.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume,fundingRate\n"
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,10,0.0001\n"
        "2024-01-01T01:00:00Z,1,2,0.5,1.5,10,\n"
        "2024-01-01T02:00:00Z,1,2,0.5,1.5,10,0.5\n"
    )
    with pytest.raises(DataError, match=r"row 2 \(line 4\).*funding_rate"):
        load_ohlcv(path)


@pytest.mark.parametrize("load", [load_ohlcv, load_funding])
def test_two_funding_columns_are_refused_as_ambiguous(tmp_path: Path, load: object) -> None:
    path = tmp_path / "X_1h.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume,funding_rate,fundingRate\n"
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,10,0.0001,0.0002\n"
    )
    with pytest.raises(DataError, match=r"'funding_rate' and 'fundingRate' are ambiguous"):
        load(path)  # type: ignore[operator]


# -- 2. repeated klines in an archive file --------------------------------------------------------


def _archive(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _parse(data: bytes) -> pd.DataFrame:
    return parse_kline_csv(
        data, name="BTCUSDT-1h-2020-01.csv", symbol="BTCUSDT", interval="1h", kind="ohlcv", source="test"
    )


def test_an_archive_kline_repeated_with_the_same_values_is_kept_once(shared_dir: Path) -> None:
    bars, _ = _real(shared_dir)
    lines = _kline_lines(bars)
    frame = _parse(_archive([*lines[:10], lines[9], *lines[10:]]))
    _same_bars(frame, bars)


def test_an_archive_kline_repeated_with_other_values_is_refused(shared_dir: Path) -> None:
    # The last of the two was kept without a word (a close of 1.0 in the middle of real BTC bars).
    bars, _ = _real(shared_dir)
    lines = _kline_lines(bars)
    cells = lines[9].split(",")
    cells[4] = repr(float(cells[4]) + 1.0)  # close
    when = pd.Timestamp(bars["timestamp"][9]).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(DataError) as err:
        _parse(_archive([",".join(BINANCE_KLINE_COLUMNS), *lines[:10], ",".join(cells), *lines[10:]]))
    message = str(err.value)
    assert message.startswith("BTCUSDT-1h-2020-01.csv: line 12: kline at " + when)
    assert "line 11 with other values" in message
    assert f"close {float(cells[4])!r}" in message


def test_an_archive_funding_print_repeated_with_another_rate_is_refused() -> None:
    head = "calc_time,funding_interval_hours,last_funding_rate\n"
    same = head + "1704067200000,8,0.0001\n1704067200000,8,0.0001\n1704096000000,8,0.0002\n"
    frame = parse_funding_csv(same.encode(), name="f.csv", symbol="X", source="test")
    assert frame["funding_rate"].tolist() == [0.0001, 0.0002]
    other = head + "1704067200000,8,0.0001\n1704067200000,8,0.0003\n"
    with pytest.raises(DataError, match=r"f.csv: line 3: funding print at 2024-01-01T00:00:00Z .* line 2"):
        parse_funding_csv(other.encode(), name="f.csv", symbol="X", source="test")


# -- 3. "+00" offsets ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["%Y-%m-%d %H:%M:%S+00", "%Y-%m-%dT%H:%M:%S+00", "%Y-%m-%d %H:%M+00"])
def test_a_plus_00_offset_reads_as_utc(shared_dir: Path, tmp_path: Path, form: str) -> None:
    # "2024-01-01 00:00:00+00" (PostgreSQL's text form) was refused as having "no UTC offset".
    bars, funding = _real(shared_dir)
    out = bars.copy()
    out["timestamp"] = pd.to_datetime(bars["timestamp"], utc=True).dt.strftime(form)
    path = tmp_path / "BTCUSDT-PERP_1h.csv"
    out.to_csv(path, index=False)
    _same_bars(load_ohlcv(path), bars)
    prints = funding.copy()
    prints["timestamp"] = pd.to_datetime(funding["timestamp"], utc=True).dt.strftime(form)
    fpath = tmp_path / "BTCUSDT_funding.csv"
    prints.to_csv(fpath, index=False)
    assert list(load_funding(fpath).index) == list(pd.to_datetime(funding["timestamp"], utc=True))


def test_a_time_with_another_offset_is_converted_and_a_bare_date_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "X_1h.csv"
    path.write_text("timestamp,open,high,low,close\n2024-01-01 05:00:00+05,1,1,1,1\n2024-01-01 01:00:00+00,1,1,1,1\n")
    assert [str(t) for t in load_ohlcv(path).index] == ["2024-01-01 00:00:00+00:00", "2024-01-01 01:00:00+00:00"]
    path.write_text("timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n")  # ends in "-01", not an offset
    with pytest.raises(DataError, match=r"'2024-01-01' has no UTC offset .*expected ISO 8601 .*\+00"):
        load_ohlcv(path)


# -- 4. header-less Binance kline CSVs ---------------------------------------------------------


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_a_headerless_binance_kline_csv_loads(shared_dir: Path, tmp_path: Path, unit: str) -> None:
    # The raw data.binance.vision layout (no header in some years; µs open times in spot files
    # from 2025) failed with "missing column(s) ['open', 'high', 'low', 'close']; found
    # ['1577836800000', '7195.24', ...]".
    bars, _ = _real(shared_dir)
    path = tmp_path / "BTCUSDT-PERP_1h.csv"
    path.write_text("\n".join(_kline_lines(bars, unit)) + "\n")
    assert list(read_table(path).columns) == list(BINANCE_KLINE_COLUMNS)
    frame = load_ohlcv(path)
    _same_bars(frame, bars)
    assert frame.attrs["interval"] == "1h"
    headed = tmp_path / "BTCUSDT-PERP_1h_headed.csv"  # the years with a header read the same
    headed.write_text(",".join(BINANCE_KLINE_COLUMNS) + "\n" + path.read_text())
    _same_bars(load_ohlcv(headed, interval="1h"), bars)


def test_a_headerless_kline_csvs_errors_name_the_right_line(shared_dir: Path, tmp_path: Path) -> None:
    bars, _ = _real(shared_dir)
    lines = _kline_lines(bars)
    cells = lines[4].split(",")
    cells[2], cells[3] = cells[3], cells[2]  # high < low on the fifth row, line 5 without a header
    lines[4] = ",".join(cells)
    path = tmp_path / "BTCUSDT-PERP_1h.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"row 4 \(line 5\)"):
        load_ohlcv(path)


@pytest.mark.parametrize("load", [load_ohlcv, load_funding, load_series])
def test_a_headerless_file_of_another_layout_names_the_layouts_expected(tmp_path: Path, load: object) -> None:
    # It was "missing column(s) ['open', 'high', 'low', 'close']; found ['1704067200000', '1', ...]"
    # (load_series: "cannot tell the kind of data from columns [...]", without the file).
    path = tmp_path / "X_1h.csv"
    path.write_text("1704067200000,1,2,0.5,1.5,10\n1704070800000,1,2,0.5,1.5,10\n")
    with pytest.raises(DataError) as err:
        load(path)  # type: ignore[operator]
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: no header row (the first line is data, 6 columns)")
    assert "header-less Binance kline file of 12 columns (open_time in epoch ms or µs" in message


def test_data_check_reads_a_headerless_kline_file_and_refuses_another_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from levguard.cli.main import app

    klines = tmp_path / "BTCUSDT-1h-2024-01.csv"
    klines.write_text(
        "1704067200000,1,2,0.5,1.5,10,1704070799999,15,3,5,7.5,0\n"
        "1704070800000,1.5,2,1,1.2,10,1704074399999,12,3,5,6,0\n"
    )
    frame = load_ohlcv(klines)
    assert (frame.attrs["symbol"], frame.attrs["interval"]) == ("BTCUSDT", "1h")  # from the archive's name
    done = CliRunner().invoke(app, ["data", "check", str(klines)])
    assert done.exit_code == 0, done.output
    assert "2 rows" in done.output
    assert "interval 1h" in done.output
    other = tmp_path / "X_1h.csv"
    other.write_text("1704067200000,1,2,0.5,1.5,10\n")
    done = CliRunner().invoke(app, ["data", "check", str(other)])
    assert done.exit_code == 2
    assert "no header row (the first line is data, 6 columns)" in done.output


# -- a review: what is not a Binance kline file, archive names, blanks and " UTC" ----------------


@pytest.mark.parametrize("first", ["rowid", "yyyymmdd", "seconds"])
def test_twelve_numeric_columns_are_not_klines_unless_the_times_are(
    shared_dir: Path, tmp_path: Path, first: str
) -> None:
    # A header-less export of 12 numbers whose first column is a row id, a YYYYMMDD date or epoch
    # seconds loaded as one-second bars of 1970 (40 daily bars became 40 s of 1970-01-01).
    bars, _ = _real(shared_dir)
    lines = []
    for i, line in enumerate(_kline_lines(bars)):
        cells = line.split(",")
        opened = int(cells[0])
        cells[0] = {"rowid": str(i), "yyyymmdd": "20200101", "seconds": str(opened // 1000)}[first]
        lines.append(",".join(cells))
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="no header row"):
        load_ohlcv(path)


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("BTCUSD_PERP-1h-2024-01.csv", "BTCUSD_PERP"),
        ("BTCUSDT_240628-1h-2024-05-01.csv", "BTCUSDT_240628"),
        ("BTCUSDT-1mo-2024-01.csv", "BTCUSDT"),
    ],
)
def test_archive_names_with_underscores_and_months(tmp_path: Path, name: str, symbol: str) -> None:
    path = tmp_path / name
    path.write_text(
        "1704067200000,1,2,0.5,1.5,10,1704070799999,15,3,5,7.5,0\n"
        "1704070800000,1.5,2,1,1.2,10,1704074399999,12,3,5,6,0\n"
    )
    frame = load_ohlcv(path)
    assert frame.attrs["symbol"] == symbol
    assert frame.attrs["interval"] == "1h"  # a month names none: the bars' spacing tells


@pytest.mark.parametrize("stamp", ["2024-01-01T00:00:00+00 ", " 2024-01-01 00:00:00 UTC", "2024-01-01 00:00:00UTC"])
def test_blanks_around_a_time_and_a_utc_suffix_read_as_utc(tmp_path: Path, stamp: str) -> None:
    # A trailing blank after "+00" raised pandas' multi-line error; " UTC" was "has no UTC offset".
    path = tmp_path / "X_1h.csv"
    path.write_text(f"timestamp,open,high,low,close\n{stamp},1,1,1,1\n")
    assert [str(t) for t in load_ohlcv(path).index] == ["2024-01-01 00:00:00+00:00"]
