"""Synthetic market: configuration validation, determinism, intervals, frames and provenance."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

import levguard.data.synth as sm
from levguard.data.crashes import NAMED_CRASHES, CrashProfile
from levguard.data.frames import interval_to_ns
from levguard.errors import InputError
from levguard.kernels import synth as ks
from levguard.kernels._jit import NUMBA_DISABLED


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("years", 0),
        ("years", -1.0),
        ("years", float("nan")),
        ("years", 1000),
        ("interval", "7m"),
        ("interval", "30s"),
        ("interval", "2d"),
        ("interval", "90m"),
        ("interval", "hourly"),
        ("seed", -1),
        ("seed", 1.5),
        ("start", "not a date"),
        ("start", "2021-01-01T00:30:00Z"),
        ("start", dt.datetime(2021, 1, 1)),  # naive
        ("start_price", 0.0),
        ("start_price", float("inf")),
        ("start_price", 1.7e308),  # finite, but its paths overflowed to inf (a campaign, 2026-12-05)
        ("symbol", " "),
        ("crashes", [NAMED_CRASHES[0]]),
        ("params", "btc"),
    ],
)
def test_bad_config_raises_input_error_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(InputError, match=field):
        sm.SynthConfig(**{field: value})


def test_the_market_is_refused_past_the_bars_memory_allows() -> None:
    assert sm.SynthConfig(years=19, interval="1m").n_bars() <= sm.MAX_SYNTH_BARS
    assert sm.SynthConfig(years=100, interval="15m").n_bars() <= sm.MAX_SYNTH_BARS
    with pytest.raises(InputError, match=r"gives 10,512,000 bars .* at most 10,000,000"):
        sm.SynthConfig(years=20, interval="1m")


def test_the_last_bar_must_end_within_int64_nanoseconds() -> None:
    # Found by a bad-input campaign (2026-12-05): 2262-04-01 plus 0.05 years wrapped around to
    # 1677 and wrote a file that `levguard data check` refused.
    with pytest.raises(InputError, match=r"start '2262-04-01' plus years=0.05 runs past 2262-04-11"):
        sm.SynthConfig(years=0.05, start="2262-04-01")
    market = sm.synth_market(sm.SynthConfig(years=0.001, start="2262-04-11", crashes=()))
    assert market.ohlcv.index.is_monotonic_increasing
    assert str(market.ohlcv.index[-1]) == "2262-04-11 08:00:00+00:00"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vol_ann", (0.4, 0.6)),
        ("vol_ann", (0.4, -0.6, 1.0)),
        ("drift_ann", (0.0, float("nan"), 0.0)),
        ("duration_days", (0.0, 1.0, 1.0)),
        ("exit_to", ((1.0, 0.0, 0.0), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0))),  # bull never leaves
        ("garch_beta", 0.95),  # alpha + beta >= 1
        ("t_dof", 4.0),
        ("jump_p_down", 1.5),
        ("jump_mean_down", 0.0),
        ("basis_ar1_hourly", 1.0),
        ("mark_excursion", 2.0),
        ("funding_interval_hours", 5),
        ("funding_cap", 0.0),
        ("funding_ar1", -0.1),
        ("crashes_per_year", -1.0),
        ("volume_per_hour", 0.0),
    ],
)
def test_bad_params_raise_input_error_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(InputError, match=field.split("[")[0]):
        sm.SynthParams(**{field: value})


def test_bad_crash_profile() -> None:
    with pytest.raises(InputError, match="depth"):
        CrashProfile("x", "2020-01-01", 1.2, 10, 3, 0.1, 0.1, 2.0, 0.0, -0.2)
    with pytest.raises(InputError, match="speed_hours"):
        CrashProfile("x", "2020-01-01", 0.2, 30, 3, 0.1, 0.1, 2.0, 0.0, -0.2)


def test_same_seed_same_frames_other_seed_differs() -> None:
    a = sm.synth_market(years=0.3, seed=5)
    b = sm.synth_market(years=0.3, seed=5)
    c = sm.synth_market(years=0.3, seed=6)
    for x, y in ((a.ohlcv, b.ohlcv), (a.mark, b.mark), (a.funding, b.funding)):
        pd.testing.assert_frame_equal(x, y, check_exact=True)
    pd.testing.assert_series_equal(a.regime, b.regime)
    assert not np.array_equal(a.ohlcv["close"].to_numpy(), c.ohlcv["close"].to_numpy())


@pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")
def test_compiled_and_python_twins_give_the_same_market(monkeypatch: pytest.MonkeyPatch) -> None:
    params = sm.SynthParams(crashes_per_year=8.0)
    cfg = sm.SynthConfig(years=0.5, interval="15m", seed=3, params=params)
    compiled = sm.synth_market(cfg)
    monkeypatch.setattr(sm, "market_path_nb", ks.market_path_py)
    monkeypatch.setattr(sm, "regime_chain_nb", ks.regime_chain_py)
    monkeypatch.setattr(sm, "funding_path_nb", ks.funding_path_py)
    python = sm.synth_market(cfg)
    assert len(compiled.crashes) == 4
    for x, y in ((compiled.ohlcv, python.ohlcv), (compiled.mark, python.mark), (compiled.funding, python.funding)):
        pd.testing.assert_frame_equal(x, y, check_exact=True)


@pytest.mark.parametrize(("interval", "years"), [("1m", 0.01), ("5m", 0.05), ("15m", 0.2), ("4h", 2.0), ("1d", 3.0)])
def test_intervals_give_consistent_frames(interval: str, years: float) -> None:
    m = sm.synth_market(years=years, interval=interval, seed=2, start="2022-03-01")
    o = m.ohlcv
    step = interval_to_ns(interval)
    assert len(o) == round(years * 365 * 86_400e9 / step)
    assert o.index[0] == pd.Timestamp("2022-03-01", tz="UTC")
    assert (np.diff(o.index.asi8) == step).all()
    assert o.attrs == {"kind": "ohlcv", "symbol": "BTC-SYNTH", "interval": interval, "source": "synthetic(seed=2)"}
    assert m.mark.attrs["kind"] == "mark"
    assert m.funding.attrs == {
        "kind": "funding",
        "symbol": "BTC-SYNTH",
        "interval": "8h",
        "source": "synthetic(seed=2)",
    }
    for frame in (o, m.mark):
        lo, hi = frame["low"].to_numpy(), frame["high"].to_numpy()
        op, cl = frame["open"].to_numpy(), frame["close"].to_numpy()
        assert (lo > 0).all()
        assert (lo <= np.minimum(op, cl)).all()
        assert (np.maximum(op, cl) <= hi).all()
    assert (o["volume"] > 0).all()
    hours = m.funding.index.hour
    assert set(np.unique(hours)) <= {0, 8, 16}
    assert (m.funding.index > o.index[0]).all()
    assert m.regime.index.equals(o.index)
    assert set(np.unique(m.regime)) <= {0, 1, 2}


def test_multi_hour_bars_aggregate_the_hourly_market() -> None:
    """4h bars are the hourly market of the same seed resampled (same hourly steps)."""
    hourly = sm.synth_market(years=0.5, interval="1h", seed=9)
    four = sm.synth_market(years=0.5, interval="4h", seed=9)
    agg = hourly.ohlcv.resample("4h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    np.testing.assert_allclose(four.ohlcv.to_numpy(), agg.to_numpy(), rtol=1e-12)
    pd.testing.assert_frame_equal(four.funding, hourly.funding)


def test_overrides_and_no_crashes() -> None:
    cfg = sm.SynthConfig(years=3, crashes=())
    m = sm.synth_market(cfg, symbol="ETH-SYNTH", seed=1)
    assert m.config.symbol == "ETH-SYNTH"
    assert m.ohlcv.attrs["symbol"] == "ETH-SYNTH"
    assert m.crashes.empty
    assert list(m.crashes.columns) == ["name", "start", "trough", "depth", "speed_hours", "funding_min"]
    aware = sm.synth_market(years=0.01, start=dt.datetime(2020, 5, 1, tzinfo=dt.UTC))
    assert aware.ohlcv.index[0] == pd.Timestamp("2020-05-01", tz="UTC")


def test_stationary_distribution_and_transition_matrix() -> None:
    p = sm.BTC_PARAMS.transition_matrix()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    pi = sm.BTC_PARAMS.stationary()
    np.testing.assert_allclose(pi @ p, pi, atol=1e-12)
    # Expected durations: 1 / (1 - P_ii) hours.
    np.testing.assert_allclose(1.0 / (1.0 - np.diag(p)) / 24.0, sm.BTC_PARAMS.duration_days)
