"""Properties of the scores: perfect forecasts win, calibration in the large, bounds."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from levguard.core.risk.scoring import (
    auc,
    brier_score,
    calibration_in_the_large,
    log_score,
    newey_west_variance,
    reliability_table,
    wilson_interval,
)

outcomes = arrays(np.int8, st.integers(1, 60), elements=st.integers(0, 1))
probs = st.floats(0.0, 1.0, allow_nan=False)


@given(y=outcomes, data=st.data())
def test_perfect_forecasts_score_better_than_any_other(y: np.ndarray, data: st.DataObject) -> None:
    """p = y has Brier 0 and the smallest log score; any other forecast is no better (strictly worse if it differs)."""
    other = data.draw(arrays(np.float64, y.size, elements=probs))
    perfect = y.astype(np.float64)
    assert brier_score(perfect, y) == 0.0
    assert brier_score(other, y) >= brier_score(perfect, y)
    assert log_score(other, y) >= log_score(perfect, y)
    if np.any(np.abs(other - perfect) > 1e-3):
        assert brier_score(other, y) > 0.0
        assert log_score(other, y) > log_score(perfect, y)


@given(y=outcomes, data=st.data())
def test_calibration_in_the_large_of_y_consistent_forecasts_is_one(y: np.ndarray, data: st.DataObject) -> None:
    """Forecasts whose sum equals the number of events (the base rate everywhere, or any rescaling) give 1."""
    assume(y.sum() > 0)
    assert math.isclose(calibration_in_the_large(np.full(y.size, y.mean()), y), 1.0, rel_tol=1e-12)
    raw = data.draw(arrays(np.float64, y.size, elements=st.floats(0.01, 1.0)))
    scaled = raw * y.sum() / raw.sum()
    assume(np.all(scaled <= 1.0))
    assert math.isclose(calibration_in_the_large(scaled, y), 1.0, rel_tol=1e-9)


@given(y=outcomes, data=st.data())
def test_auc_is_invariant_to_increasing_transforms(y: np.ndarray, data: st.DataObject) -> None:
    """AUC depends on the ranks only; in [0, 1]; 1 - AUC for reversed forecasts."""
    assume(0 < y.sum() < y.size)
    # On a grid of 1/1000 so that the transforms keep distinct forecasts distinct (no underflow).
    p = data.draw(arrays(np.int64, y.size, elements=st.integers(0, 1000))) / 1000.0
    a = auc(p, y)
    assert 0.0 <= a <= 1.0
    assert math.isclose(auc(p**3, y), a, abs_tol=1e-12)
    assert math.isclose(auc(1.0 - p, y), 1.0 - a, abs_tol=1e-12)


@given(k=st.integers(0, 500), extra=st.integers(0, 500))
def test_wilson_interval_contains_the_proportion(k: int, extra: int) -> None:
    n = k + extra
    assume(n > 0)
    lo, hi = wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


@given(y=outcomes, data=st.data())
def test_reliability_table_partitions_the_forecasts(y: np.ndarray, data: st.DataObject) -> None:
    """Every forecast lands in exactly one bucket, within its bounds."""
    p = data.draw(arrays(np.float64, y.size, elements=probs))
    bins = reliability_table(p, y)
    assert sum(b.count for b in bins) == y.size
    assert sum(b.events for b in bins) == int(y.sum())
    for b in bins:
        if b.count:
            assert b.lower - 1e-12 <= b.mean_forecast <= b.upper + 1e-12


@given(x=arrays(np.float64, st.integers(1, 80), elements=st.floats(-1e3, 1e3)), lag=st.integers(0, 10))
def test_newey_west_variance_is_non_negative(x: np.ndarray, lag: int) -> None:
    assert newey_west_variance(x, lag) >= 0.0
