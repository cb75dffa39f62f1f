"""Named-crash magnitudes: recomputed from the shared Binance data, reproduced by the generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.data.crashes import NAMED_CRASHES, crash_by_name, measure_crash
from levguard.data.synth import SynthConfig, SynthParams, synth_market
from levguard.errors import DataError, InputError


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), utc=True), name="timestamp")
    return frame


@pytest.mark.shared_data
def test_constants_match_the_shared_binance_data(shared_dir: Path) -> None:
    """Every recorded magnitude equals the measurement rule applied to BTCUSDT perp 1h + funding."""
    bars = shared_dir / "data/ohlcv/BTCUSDT-PERP_1h.csv"
    prints = shared_dir / "data/funding/BTCUSDT_funding.csv"
    if not (bars.is_file() and prints.is_file()):
        pytest.skip("shared BTCUSDT files are not present")
    marks = shared_dir / "data/ohlcv/BTCUSDT-MARK_1h.csv"
    ohlcv, funding, mark = _read(bars), _read(prints), _read(marks)
    for c in NAMED_CRASHES:
        m = measure_crash(ohlcv, c.date, funding, c.name, mark=mark)
        assert m.mark_excess == pytest.approx(c.mark_excess, abs=5e-5), c.name
        assert m.speed_hours == c.speed_hours, c.name
        assert m.trough_hour == c.trough_hour, c.name
        for field, tol in (("depth", 5e-5), ("wick", 5e-5), ("rebound_24h", 5e-5), ("day_drop", 5e-5)):
            assert getattr(m, field) == pytest.approx(getattr(c, field), abs=tol), (c.name, field)
        assert m.volume_mult == pytest.approx(c.volume_mult, abs=5e-3), c.name
        assert m.funding_min == pytest.approx(c.funding_min, abs=5e-7), c.name


def test_measurement_rule_recovers_the_injected_crashes() -> None:
    """Re-measuring a generated market with the same rule gives back depth and funding (no noise
    continuation: one crash per 60 days, the measured day is the trough's)."""
    cfg = SynthConfig(years=1.0, seed=21, params=SynthParams(crashes_per_year=6.0))
    m = synth_market(cfg)
    assert len(m.crashes) == 6
    assert sorted(m.crashes["name"]) == sorted(c.name for c in NAMED_CRASHES)
    for _, row in m.crashes.iterrows():
        profile = crash_by_name(row["name"])
        got = measure_crash(m.ohlcv, f"{row['trough']:%Y-%m-%d}", m.funding, row["name"])
        assert row["trough"].hour == profile.trough_hour
        assert got.depth >= profile.depth - 1e-9
        assert got.depth == pytest.approx(profile.depth, abs=0.06)
        assert got.speed_hours >= 1
        assert got.funding_min <= profile.funding_min + 1e-12


def test_crash_by_name() -> None:
    assert crash_by_name("ftx").date == "2022-11-08"
    assert crash_by_name("2020-03-12").name == "black-thursday"
    with pytest.raises(InputError, match="crash"):
        crash_by_name("nope")


def test_mark_price_follows_the_crash_wick_to_its_measured_excess() -> None:
    """At each injected trough the mark low is within the profile's mark_excess of the last-price low
    (Binance: 0.2-3 %), not at the bar's close: mark prices trigger liquidations, so a mark that
    skipped the wick would understate every liquidation in a crash."""
    cfg = SynthConfig(years=1.0, seed=21, params=SynthParams(crashes_per_year=6.0))
    m = synth_market(cfg)
    for _, row in m.crashes.iterrows():
        profile = crash_by_name(row["name"])
        trough = row["trough"]
        last_low = float(m.ohlcv.loc[trough, "low"])
        mark_low = float(m.mark.loc[trough, "low"])
        assert mark_low / last_low - 1 == pytest.approx(profile.mark_excess, abs=1e-9), row["name"]
        assert mark_low < float(m.ohlcv.loc[trough, "close"]) * (1 - profile.wick / 2), row["name"]


def _hourly_dip() -> pd.DataFrame:
    # 33 days of flat hourly bars at 100 with a fall to 80 at 2024-02-01 12:00 UTC.
    idx = pd.date_range("2024-01-01", "2024-02-02 23:00", freq="1h", tz="UTC")
    close = np.full(idx.size, 100.0)
    close[idx >= pd.Timestamp("2024-02-01 12:00", tz="UTC")] = 80.0
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0}, index=idx
    )


def test_measure_crash_names_a_bad_day_and_a_missing_price() -> None:
    """measure_crash(bars, "abc") leaked pandas' DateParseError, and a NaN high or low was taken by
    np.argmax/argmin as the peak or trough; both are refused with levguard errors naming the value."""
    bars = _hourly_dip()
    assert measure_crash(bars, "2024-02-01").depth == pytest.approx(1 - 79.2 / 101)
    with pytest.raises(InputError, match="day must be a date YYYY-MM-DD, was 'abc'"):
        measure_crash(bars, "abc")
    for col, at in (("high", "2024-02-01 03:00"), ("low", "2024-02-01 20:00")):
        broken = bars.copy()
        broken.loc[pd.Timestamp(at, tz="UTC"), col] = np.nan
        with pytest.raises(DataError, match=f"the {col} of the bar at {at.replace(' ', 'T')}:00\\+00:00 must be"):
            measure_crash(broken, "2024-02-01")
