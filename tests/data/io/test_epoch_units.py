"""Epoch times: the unit of each value from its magnitude, whole numbers only, named by row."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.data.download import binance_archive
from levguard.data.frames import make_ohlcv_frame
from levguard.data.loaders import check_file, load_funding, load_ohlcv
from levguard.data.validate import validate_ohlcv
from levguard.errors import DataError

KLINE_HEADER = "open_time,open,high,low,close,volume,close_time\n"
T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
H_MS = 3_600_000
H = 3_600_000_000_000


def test_each_value_is_read_in_its_own_unit() -> None:
    from levguard.data.frames import epoch_to_ns

    t = T0_MS // 1000
    assert epoch_to_ns([t, t * 10**3, t * 10**6, t * 10**9]).tolist() == [t * 10**9] * 4
    assert epoch_to_ns([0, -86_400]).tolist() == [0, -86_400 * 10**9]
    assert binance_archive.epoch_to_ns is epoch_to_ns  # one conversion for the archive and the loaders


def test_a_file_joining_millisecond_and_microsecond_klines_loads(tmp_path: Path) -> None:
    # Binance's spot klines switched from ms to µs in 2025; a file joining both read every time in
    # the unit of the largest, the ms rows as 1970, and failed with "bar length must be a whole
    # number of seconds, was 3600000000 ns", naming neither the file nor a row.
    ms = [T0_MS + i * H_MS for i in range(3)]
    us = [(T0_MS + i * H_MS) * 1000 for i in range(3, 6)]
    p = tmp_path / "BTCUSDT_1h.csv"
    p.write_text(KLINE_HEADER + "".join(f"{t},1,2,0.5,1.5,3,0\n" for t in ms + us))
    bars = load_ohlcv(p)
    assert list(bars.index) == list(pd.date_range("2024-01-01", periods=6, freq="1h", tz="UTC"))
    assert bars.attrs["interval"] == "1h"


def test_bars_a_fraction_of_a_second_apart_are_an_interval_error_with_file_and_row(tmp_path: Path) -> None:
    p = tmp_path / "X.csv"
    p.write_text(
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"2024-01-01T00:00:0{s}Z,1,2,0.5,1.5,3\n" for s in ("0.000", "0.500", "1.000"))
    )
    with pytest.raises(
        DataError, match=rf"^{p}, row 1 \(line 3\), 2024-01-01T00:00:00\.500Z: bars are .* apart, not a"
    ):
        load_ohlcv(p)
    assert check_file(p).counts == {"interval": 1}
    frame = make_ohlcv_frame(
        [0, 3_600_000, 7_200_000],
        [1] * 3,
        [2] * 3,
        [0.5] * 3,
        [1.5] * 3,
        [3] * 3,
        symbol="X",
        interval="",
        source="mem",
    )
    _, report = validate_ohlcv(frame)
    assert report.first_error() == (
        "mem, row 1, 1970-01-01T00:00:00.003600Z: bars are 0 days 00:00:00.003600 apart, not a whole number "
        "of seconds (times in the wrong unit?)"
    )


@pytest.mark.parametrize(
    ("cell", "unit"),
    [(f"{T0_MS + H_MS}.5", "milliseconds"), (f"{(T0_MS + H_MS) // 1000}.25", "seconds")],
)
def test_fractional_epoch_times_are_refused_by_row(tmp_path: Path, cell: str, unit: str) -> None:
    # 1704070800000.5 was cut to 1704070800000 without a word.
    first = T0_MS if unit == "milliseconds" else T0_MS // 1000
    p = tmp_path / "F_1h.csv"
    p.write_text(f"timestamp,open,high,low,close,volume\n{first},1,2,0.5,1.5,3\n{cell},1,2,0.5,1.5,3\n")
    with pytest.raises(
        DataError, match=rf"F_1h\.csv, row 1 \(line 3\): timestamp must be a whole number of {unit}, was {cell}"
    ):
        load_ohlcv(p)


def test_a_fractional_epoch_time_names_its_file_line_past_blank_lines(tmp_path: Path) -> None:
    # The validator's row errors say "row R (line L)"; the loader's fractional-time error said
    # "row 2" alone, and with blank lines in the file row 2 is on line 6, not line 4.
    times = [str(T0_MS), "", str(T0_MS + H_MS), f"{T0_MS + 2 * H_MS}.5"]
    bars = tmp_path / "B_1h.csv"
    bars.write_text("\ntimestamp,open,high,low,close\n" + "".join(f"{t},1,2,0.5,1.5\n" if t else "\n" for t in times))
    funding = tmp_path / "B_funding.csv"
    funding.write_text("\ntimestamp,funding_rate\n" + "".join(f"{t},0.0001\n" if t else "\n" for t in times))
    for path, load in ((bars, load_ohlcv), (funding, load_funding)):
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))}, row 2 \(line 6\): timestamp must be a whole"):
            load(path)


def test_whole_numbers_written_as_floats_load(tmp_path: Path) -> None:
    p = tmp_path / "W_1h.csv"
    p.write_text(
        "timestamp,open,high,low,close,volume\n" + "".join(f"{T0_MS + i * H_MS}.0,1,2,0.5,1.5,3\n" for i in range(3))
    )
    assert load_ohlcv(p).index.as_unit("ns").asi8.tolist() == [T0_MS * 10**6 + i * H for i in range(3)]
    pq = tmp_path / "W_1h.parquet"
    table = pd.DataFrame(
        {"timestamp": np.array([T0_MS, T0_MS + H_MS + 0.5]), "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}
    )
    table.to_parquet(pq)
    with pytest.raises(DataError, match=r"W_1h\.parquet, row 1: timestamp must be a whole number of milliseconds"):
        load_ohlcv(pq)


def test_an_epoch_time_past_int64_nanoseconds_is_refused_not_wrapped() -> None:
    # 10,413,792,000 read as seconds (the year 2300; a kline time missing a digit reads so too)
    # wrapped to 1715, and the archive downloader named the made-up date.
    from levguard.data.frames import epoch_to_ns

    with pytest.raises(DataError, match=r"epoch time 10413792000 \(row 1, read in seconds\) is outside 1677"):
        epoch_to_ns([1_704_067_200_000, 10_413_792_000])
    assert epoch_to_ns([-1_000]).tolist() == [-1_000_000_000_000]
