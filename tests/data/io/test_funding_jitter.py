"""Funding prints stamped a few milliseconds past the hour (Binance's REST ``fundingTime``) and
one settlement printed twice a few milliseconds apart (freqtrade's ``1h`` and ``8h`` files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.data import validate
from levguard.data.frames import make_funding_frame, make_ohlcv_frame
from levguard.data.loaders import check_file, load_funding, load_series
from levguard.data.perp import perp_frame
from levguard.data.validate import validate_funding
from levguard.errors import DataError

H_NS = 3_600 * 1_000_000_000
# Real BTCUSDT fundingTime values, Nov 2022 (/fapi/v1/fundingRate): ms past 00/08/16:00.
REAL_MS = [1667462400016, 1667491200005, 1667520000000, 1667548800004, 1667577600020, 1667606400009,
           1667635200007, 1667664000018, 1667692800009, 1667721600000, 1667750400010, 1667779200012]  # fmt: skip


def _write(path: Path, ms: list[int], rates: list[float]) -> Path:
    lines = ["symbol,fundingTime,fundingRate"] + [f"BTCUSDT,{t},{r}" for t, r in zip(ms, rates, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_real_millisecond_offsets_load_with_the_8h_interval(tmp_path: Path) -> None:
    p = _write(tmp_path / "BTCUSDT_funding.csv", REAL_MS, [1e-4] * len(REAL_MS))
    f, report = load_funding(p, return_report=True)  # was: DataError "bar length must be a whole number of seconds"
    assert report.ok
    assert report.interval == "8h"
    assert len(f) == len(REAL_MS)
    assert load_series(p).attrs["interval"] == "8h"
    assert check_file(p).interval == "8h"
    # The prints keep their own times and land in the bar they settle in (08:00:00.016 -> 08:00).
    bars_ts = REAL_MS[0] * 1_000_000 - 16_000_000 + np.arange(24 * 4) * H_NS
    c = np.full(bars_ts.size, 100.0)
    bars = make_ohlcv_frame(bars_ts, c, c, c, c, np.ones(bars_ts.size), symbol="BTCUSDT", interval="1h", source="t")
    p_frame = perp_frame(bars, None, f)
    charged = p_frame["funding_rate"].dropna()
    assert (charged.index.asi8 - bars_ts[0]).tolist() == [i * 8 * H_NS for i in range(len(charged))]


def test_funding_interval_rounds_steps_to_the_minute_and_never_raises() -> None:
    ts = np.array(REAL_MS, dtype=np.int64) * 1_000_000
    assert validate.funding_interval_ns(ts) == 8 * H_NS
    assert validate.funding_interval_ns(ts[:1]) is None
    assert validate.funding_interval_ns(np.array([0, 3, 7], dtype=np.int64)) is None  # all under half a minute


def _frame(times: list[pd.Timestamp], rates: list[float]) -> pd.DataFrame:
    ts = np.array([t.value for t in times], dtype=np.int64)
    return make_funding_frame(ts, np.array(rates), symbol="SOLUSDT", source="t")


T0 = pd.Timestamp("2025-02-01", tz="UTC")
MS5 = pd.Timedelta(milliseconds=5)


def test_a_print_repeated_ms_apart_with_the_same_rate_is_dropped_with_a_note() -> None:
    times = [T0 + pd.Timedelta(hours=8 * i) for i in range(6)]
    times = sorted([*times, times[3] + MS5])
    out, report = validate_funding(_frame(times, [1e-4] * len(times)))
    assert report.ok
    assert report.interval == "8h"
    assert len(out) == 6
    assert out.index.is_unique
    assert (out.index == pd.DatetimeIndex(times).delete(4)).all()
    assert len(report.notes) == 1
    assert "2025-02-02T00:00:00.005Z" in report.notes[0]
    # charged once, not twice, on the 1h bar it settles in
    bars_ts = T0.value + np.arange(48) * H_NS
    c = np.full(bars_ts.size, 100.0)
    bars = make_ohlcv_frame(bars_ts, c, c, c, c, np.ones(bars_ts.size), symbol="SOLUSDT", interval="1h", source="t")
    assert perp_frame(bars, None, out)["funding_rate"].dropna().tolist() == [1e-4] * 6


def test_a_print_repeated_ms_apart_with_another_rate_is_a_duplicate_error(tmp_path: Path) -> None:
    ms = [int((T0 + pd.Timedelta(hours=8 * i)).value // 1_000_000) for i in range(4)]
    p = _write(tmp_path / "BTCUSDT_funding.csv", [*ms[:2], ms[1] + 5, *ms[2:]], [1e-4, 1e-4, 2e-4, 1e-4, 1e-4])
    with pytest.raises(DataError, match=r"row 2 \(line 4\), 2025-02-01T08:00:00.005Z.*2025-02-01T08:00:00Z"):
        load_funding(p)
    report = check_file(p)
    assert report.counts == {"duplicate": 1}
    assert report.issues[0].rule == "duplicate"


def test_load_funding_through_the_loader_drops_the_repeat(tmp_path: Path) -> None:
    ms = [int((T0 + pd.Timedelta(hours=8 * i)).value // 1_000_000) for i in range(4)]
    p = _write(tmp_path / "BTCUSDT_funding.csv", [*ms[:2], ms[1] + 5, *ms[2:]], [1e-4] * 5)
    f, report = load_funding(p, return_report=True)
    assert len(f) == 4
    assert report.notes


def test_a_saved_perp_frame_reads_as_bars_with_optional_settlements(tmp_path: Path) -> None:
    # detect_kind looked for a funding column first: load_series and `data check` read the saved
    # frame as a funding file and called every bar without a settlement a NaN error.
    from levguard.data.loaders import detect_kind, load_ohlcv, save_frame

    n = 48
    ts = T0.value + np.arange(n) * H_NS
    c = np.full(n, 100.0)
    bars = make_ohlcv_frame(ts, c, c + 1, c - 1, c, np.ones(n), symbol="XUSDT", interval="1h", source="t")
    fund = make_funding_frame(ts[::8], np.full(n // 8, 1e-4), symbol="XUSDT", source="f")
    perp = perp_frame(bars, bars.copy(), fund)
    path = save_frame(perp, tmp_path / "XUSDT_perp.parquet")
    assert detect_kind(pd.read_parquet(path)) == "ohlcv"
    loaded = load_series(path)
    assert loaded.attrs["kind"] == "ohlcv"
    assert loaded["funding_rate"].notna().sum() == n // 8
    assert loaded["mark_close"].tolist() == c.tolist()
    report = check_file(path)
    assert report.kind == "ohlcv"
    assert report.ok
    # The settlements obey the funding rules, named by the bar's row.
    perp.iloc[9, perp.columns.get_loc("funding_rate")] = np.inf
    bad = save_frame(perp, tmp_path / "XUSDT_bad.csv")
    with pytest.raises(DataError, match=r"row 9 \(line 11\), .*funding_rate is not a finite number, was inf"):
        load_ohlcv(bad)
    assert check_file(bad).counts == {"nan": 1, "range": 1}  # as in a funding file
