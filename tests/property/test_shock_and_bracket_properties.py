"""Invariants of the stress shock measurement and of bracket leverage limits (issue 13, part 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.rules.binance import BUILTIN_TIERS
from levguard.data.crashes import measure_shock

SETTINGS = settings(max_examples=150, deadline=None)

_steps = st.lists(st.floats(-0.08, 0.08, allow_nan=False), min_size=30, max_size=120)


def _bars(steps: list[float]) -> pd.DataFrame:
    close = 100.0 * np.exp(np.cumsum(steps))
    idx = pd.date_range("2024-01-01", periods=len(close), freq="1h", tz="UTC")
    return pd.DataFrame({"high": close * 1.01, "low": close * 0.99}, index=idx)


@SETTINGS
@given(_steps, st.integers(1, 48), st.integers(1, 48))
def test_a_longer_window_never_measures_a_smaller_shock(steps: list[float], w1: int, w2: int) -> None:
    bars = _bars(steps)
    short, long_ = sorted((w1, w2))
    a = measure_shock(bars, "2024-01-01", window_hours=short)
    b = measure_shock(bars, "2024-01-01", window_hours=long_)
    assert 0.0 < a.depth < 1.0
    assert b.depth >= a.depth
    assert a.peak <= a.trough
    assert (a.trough - a.peak) <= pd.Timedelta(hours=short)
    # The measured fall is real: the peak's high and the trough's low are in the bars.
    assert a.depth == 1.0 - bars["low"][a.trough] / bars["high"][a.peak]


@SETTINGS
@given(st.floats(0.0, 1e9), st.floats(0.0, 1e9))
def test_a_larger_position_never_gets_more_leverage(n1: float, n2: float) -> None:
    table = BUILTIN_TIERS["BTCUSDT"]
    lo, hi = sorted((n1, n2))
    assert table.max_leverage(hi) <= table.max_leverage(lo)
