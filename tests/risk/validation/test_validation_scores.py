"""Forecast scores against hand computations and independent references (scipy's Mann-Whitney U)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from levguard.core.risk.scoring import (
    RELIABILITY_EDGES,
    auc,
    brier_score,
    calibration_in_the_large,
    diebold_mariano,
    log_score,
    newey_west_variance,
    reliability_table,
    score_forecasts,
    wilson_interval,
)
from levguard.errors import InputError

P = np.array([0.1, 0.4, 0.35, 0.8])
Y = np.array([0, 0, 1, 1])


# ----------------------------------------------------------------------------- Wilson
def test_wilson_interval_hand_computed() -> None:
    """k=5, n=20, z=1.96: centre (5 + 1.9208) / 23.8416, half 1.96 / 23.8416 * sqrt(3.75 + 0.9604)."""
    z = 1.959963984540054
    z2 = z * z
    centre = (5 + z2 / 2) / (20 + z2)
    half = z / (20 + z2) * math.sqrt(5 * 15 / 20 + z2 / 4)
    lo, hi = wilson_interval(5, 20)
    assert lo == pytest.approx(centre - half, abs=1e-15)
    assert hi == pytest.approx(centre + half, abs=1e-15)
    # Rounded value of the textbook example (Brown, Cai, DasGupta 2001 style): [0.1119, 0.4687].
    assert (round(lo, 4), round(hi, 4)) == (0.1119, 0.4687)


def test_wilson_interval_edges() -> None:
    """Zero successes start at 0, all successes end at 1, no trials is the whole interval."""
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(1.959963984540054**2 / (10 + 1.959963984540054**2))
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0
    assert lo == pytest.approx(10 / (10 + 1.959963984540054**2))
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (1.5, 5), (True, 3)])
def test_wilson_interval_bad_input(k: object, n: int) -> None:
    with pytest.raises(InputError, match="k"):
        wilson_interval(k, n)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Brier, log score
def test_brier_hand_computed() -> None:
    """(0.01 + 0.16 + 0.4225 + 0.04) / 4."""
    assert brier_score(P, Y) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4, abs=1e-15)


def test_log_score_hand_computed() -> None:
    """-(ln 0.9 + ln 0.6 + ln 0.35 + ln 0.8) / 4."""
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert log_score(P, Y) == pytest.approx(expected, abs=1e-15)


def test_log_score_clips_at_one_in_a_million() -> None:
    """A certain forecast that is wrong costs -ln(1e-6), not infinity; a right one costs -ln(1 - 1e-6)."""
    assert log_score([0.0], [1]) == pytest.approx(-math.log(1e-6))
    assert log_score([1.0], [1]) == pytest.approx(-math.log1p(-1e-6))
    assert log_score([0.0, 1.0], [1, 0]) == pytest.approx(-math.log(1e-6))


# ----------------------------------------------------------------------------- AUC
def test_auc_hand_computed() -> None:
    """Pairs (event, non-event): (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, 0.1) yes, (0.8, 0.4) yes: 3/4."""
    assert auc(P, Y) == pytest.approx(0.75)


def test_auc_ties_count_one_half() -> None:
    """All forecasts equal: AUC = 0.5."""
    assert auc([0.2, 0.2, 0.2, 0.2], [0, 1, 0, 1]) == pytest.approx(0.5)
    assert auc([0.1, 0.3, 0.3], [0, 0, 1]) == pytest.approx((1 + 0.5) / 2)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_auc_is_the_mann_whitney_u_over_n1_n0(seed: int) -> None:
    """Against scipy.stats.mannwhitneyu (events' sample first), ties included by rounding."""
    rng = np.random.default_rng(seed)
    n = 500
    y = (rng.random(n) < 0.2).astype(int)
    p = np.round(np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.2, n), 0, 1), 2)
    u = mannwhitneyu(p[y == 1], p[y == 0], alternative="two-sided").statistic
    assert auc(p, y) == pytest.approx(u / (y.sum() * (n - y.sum())), abs=1e-12)


def test_auc_undefined_without_both_outcomes() -> None:
    assert math.isnan(auc([0.1, 0.2], [0, 0]))
    assert math.isnan(auc([0.1, 0.2], [1, 1]))


# ----------------------------------------------------------------------------- calibration, reliability
def test_calibration_in_the_large() -> None:
    """2 events over 0.1 + 0.4 + 0.35 + 0.8 = 1.65 expected."""
    assert calibration_in_the_large(P, Y) == pytest.approx(2 / 1.65)
    assert math.isnan(calibration_in_the_large([0.0, 0.0], [0, 1]))


def test_reliability_table_buckets_right_closed() -> None:
    """0.01 falls in [0, 0.01], 0.0100001 in (0.01, 0.05]; 0 in the first; 1 in the last."""
    p = [0.0, 0.01, 0.0100001, 0.05, 0.5, 1.0, 1.0]
    y = [0, 1, 0, 0, 1, 1, 0]
    bins = reliability_table(p, y)
    assert len(bins) == len(RELIABILITY_EDGES) - 1
    counts = [b.count for b in bins]
    assert counts == [2, 2, 0, 0, 0, 1, 0, 2]
    first = bins[0]
    assert (first.events, first.observed) == (1, 0.5)
    assert first.mean_forecast == pytest.approx(0.005)
    assert (first.wilson_low, first.wilson_high) == pytest.approx(wilson_interval(1, 2))
    assert math.isnan(bins[2].mean_forecast)
    assert math.isnan(bins[2].observed)
    assert bins[7].observed == 0.5


def test_score_forecasts_low_share() -> None:
    """Forecasts <= 1 %: their share and how many were followed by the event."""
    s = score_forecasts([0.005, 0.01, 0.2, 0.9], [1, 0, 0, 1])
    assert (s.n, s.events, s.low_n, s.low_events) == (4, 2, 2, 1)
    assert s.low_share == 0.5
    assert s.low_observed == 0.5
    assert s.to_dict()["reliability"][0]["count"] == 2  # type: ignore[index]


@pytest.mark.parametrize(
    ("p", "y", "needle"),
    [
        ([0.1, 1.2], [0, 1], r"forecasts\[1\] must be a probability in \[0, 1\], was 1.2"),
        ([0.1, math.nan], [0, 1], r"forecasts\[1\] must be a probability"),
        ([0.1, 0.2], [0, 2], r"outcomes\[1\] must be 0 or 1, was 2.0"),
        ([0.1, 0.2], [0], "same length, were 2 and 1"),
        ([[0.1]], [[1]], "must be 1-D"),
    ],
)
def test_bad_forecasts(p: object, y: object, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        brier_score(p, y)  # type: ignore[arg-type]


def test_empty_forecasts_are_refused() -> None:
    with pytest.raises(InputError, match="at least one forecast"):
        brier_score([], [])


# ----------------------------------------------------------------------------- Newey-West, Diebold-Mariano
def test_newey_west_hand_computed() -> None:
    """x = (1, 2, 4, 3), xbar 2.5, d = (-1.5, -0.5, 1.5, 0.5), T = 4.

    g0 = (2.25 + 0.25 + 2.25 + 0.25) / 4 = 1.25; g1 = (0.75 - 0.75 + 0.75) / 4 = 0.1875;
    g2 = (-2.25 - 0.25) / 4 = -0.625.  Lag 2 (Bartlett weights 2/3, 1/3):
    S = 1.25 + 2 (2/3 * 0.1875 + 1/3 * -0.625) = 1.25 + 2 (0.125 - 0.208333) = 1.083333.
    """
    x = [1.0, 2.0, 4.0, 3.0]
    assert newey_west_variance(x, 0) == pytest.approx(1.25)
    assert newey_west_variance(x, 1) == pytest.approx(1.25 + 2 * 0.5 * 0.1875)
    assert newey_west_variance(x, 2) == pytest.approx(1.25 + 2 * (2 / 3 * 0.1875 + 1 / 3 * -0.625))


def test_diebold_mariano_hand_computed() -> None:
    """d = a - b = (1, 2, 4, 3) - 0: DM = 2.5 / sqrt(S / 4) with S from the Newey-West test above."""
    a = np.array([1.0, 2.0, 4.0, 3.0])
    r = diebold_mariano(a, np.zeros(4), lag=1)
    s = 1.25 + 0.1875
    assert r.long_run_variance == pytest.approx(s)
    assert r.statistic == pytest.approx(2.5 / math.sqrt(s / 4))
    assert r.pvalue == pytest.approx(math.erfc(abs(r.statistic) / math.sqrt(2)))
    assert r.pvalue_better == pytest.approx(1 - r.pvalue / 2)  # a is worse: "a better" is not supported
    assert r.mean_difference == 2.5
    assert (r.n, r.lag) == (4, 1)


def test_diebold_mariano_sign_and_degenerate_cases() -> None:
    """Lower loss for a gives a negative statistic; equal losses give NaN, not a division by zero."""
    rng = np.random.default_rng(4)
    b = rng.random(300)
    a = b - 0.05 + rng.normal(0, 0.01, 300)
    r = diebold_mariano(a, b, lag=7)
    assert r.statistic < -10
    assert r.pvalue_better < 1e-6
    same = diebold_mariano(b, b, lag=1)
    assert math.isnan(same.statistic)
    assert math.isnan(same.pvalue)
    assert same.to_dict()["statistic"] is None


def test_diebold_mariano_size_under_the_null() -> None:
    """MA(6) loss differentials (7-day overlap) with mean 0: about 5 % rejections at 5 % with lag 7."""
    rng = np.random.default_rng(7)
    rejections = 0
    runs = 400
    for _ in range(runs):
        e = rng.standard_normal(1006)
        d = np.convolve(e, np.ones(7), mode="valid")  # 1000 values, MA(6)
        rejections += diebold_mariano(d, np.zeros_like(d), lag=7).pvalue < 0.05
    assert 0.02 < rejections / runs < 0.10
