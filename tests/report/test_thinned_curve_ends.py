"""Thinned report curves keep the run's first and last bar (a hunt: the demo's `fixed 3x` equity
started at its fourth bar, 83.88 % of the start, and its drawdown at -16.1 %; the drawdown traces
ended an hour before the equity)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from levguard.report.html import _thin, _thin_range


def _early_fall() -> pd.Series:
    values = 100 * np.r_[1.0, 1.02, 0.84, np.linspace(0.85, 2.0, 3000)]
    return pd.Series(values, index=pd.date_range("2021-01-01", periods=values.size, freq="h"))


@pytest.mark.parametrize(
    "thin", [lambda s: _thin_range(s, 1000), lambda s: _thin(s, "min", 1000), lambda s: _thin(s, "last", 1000)]
)
def test_a_thinned_curve_starts_at_the_first_bar_and_ends_at_the_last(thin) -> None:  # type: ignore[no-untyped-def]
    s = _early_fall()
    kept = thin(s)
    assert kept.index[0] == s.index[0]
    assert kept.iloc[0] == 100.0
    assert kept.index[-1] == s.index[-1]
    assert kept.iloc[-1] == s.iloc[-1]
    assert kept.index.is_monotonic_increasing
    assert kept.index.is_unique


def test_the_drawdown_keeps_its_deepest_point_and_both_ends() -> None:
    s = -_early_fall().pct_change().fillna(0.0).abs()
    kept = _thin(s, "min", 500)
    assert kept.min() == s.min()
    assert (kept.index[0], kept.index[-1]) == (s.index[0], s.index[-1])
