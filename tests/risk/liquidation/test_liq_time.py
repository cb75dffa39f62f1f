"""Time to liquidation: quantiles consistent with the CDF, expected times, MC vs closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard.core.risk.liquidation import (
    TimeToLiquidation,
    prob_liquidation,
    prob_liquidation_curve,
    time_to_liquidation,
)

KOU = {"lam": 10.0, "p_up": 0.4, "eta_up": 12.0, "eta_down": 8.0}
LONG = {"side": "long", "price": 60_000.0, "liq_price": 48_000.0, "sigma": 0.8, "horizon_days": 30.0}
SHORT = {"side": "short", "price": 60_000.0, "liq_price": 66_000.0, "sigma": 0.6, "horizon_days": 14.0, "mu": 0.2}


@pytest.mark.parametrize(
    "kw",
    [LONG, SHORT, {**LONG, "model": "kou", **KOU}],
    ids=["gbm-long", "gbm-short", "kou"],
)
def test_quantiles_invert_the_cdf(kw: dict[str, object]) -> None:
    # Continuous monitoring; the step CDF of discrete monitoring: tests/risk/liquidation/test_liq_discrete.py.
    res = time_to_liquidation(**kw, quantile_levels=(0.01, 0.1, 0.2, 0.3, 0.5, 0.9))
    p = res.prob
    assert p == prob_liquidation(**kw)
    base = {k: v for k, v in kw.items() if k != "horizon_days"}

    def cdf(days: float) -> float:
        return prob_liquidation(**base, horizon_days=days)

    tol = 2e-4 if kw.get("model") == "kou" else 1e-9
    for q, t_q, c_q in zip(res.quantile_levels, res.quantiles_days, res.conditional_quantiles_days, strict=True):
        assert cdf(c_q) == pytest.approx(q * p, abs=tol)
        if q <= p:
            assert t_q <= res.horizon_days
            assert cdf(t_q) == pytest.approx(q, abs=tol)
        else:
            assert t_q == math.inf
    assert list(res.conditional_quantiles_days) == sorted(res.conditional_quantiles_days)


def test_expected_times_match_numerical_integration_of_the_cdf() -> None:
    res = time_to_liquidation(**LONG)
    grid = np.linspace(0.0, 30.0, 30_001)
    cdf = np.array([prob_liquidation(**{**LONG, "horizon_days": float(t)}) if t > 0 else 0.0 for t in grid[::10]])
    coarse = grid[::10]
    area = float(np.sum((cdf[1:] + cdf[:-1]) * np.diff(coarse)) / 2.0)
    assert res.expected_days_capped == pytest.approx(30.0 - area, abs=1e-5)
    assert res.expected_days_if_liquidated == pytest.approx((30.0 * res.prob - area) / res.prob, abs=1e-4)


def test_capped_expectation_tends_to_the_mean_first_passage_time() -> None:
    """Drift towards the barrier: E[tau] = |b| / |nu| (Wald), reached as the cap grows."""
    sigma, mu = 0.5, -0.375  # nu = mu - sigma^2/2 = -0.5 per year
    b = math.log(0.8)
    expected_days = abs(b) / 0.5 * 365.0
    res = time_to_liquidation("long", 100.0, 80.0, sigma, 365.0 * 60, mu)
    assert res.prob == pytest.approx(1.0, abs=1e-12)
    assert res.expected_days_capped == pytest.approx(expected_days, rel=1e-6)
    assert res.expected_days_if_liquidated == pytest.approx(expected_days, rel=1e-6)


@pytest.mark.parametrize(
    "kw",
    [LONG, SHORT, {**LONG, "model": "kou", **KOU}],
    ids=["gbm-long", "gbm-short", "kou"],
)
def test_monte_carlo_times_agree_with_the_closed_forms(kw: dict[str, object]) -> None:
    n = 200_000
    exact = time_to_liquidation(**kw)
    mc = time_to_liquidation(**kw, method="mc", n_paths=n, seed=31)
    assert mc.method == "monte_carlo"
    assert mc.n_paths == n
    assert abs(mc.prob - exact.prob) < 3.0 * mc.prob_std_error
    horizon = float(kw["horizon_days"])
    half_step = 0.5 * min(1.0, horizon / 100.0)
    # Standard error of the capped mean: sd(min(tau, T)) / sqrt(n) <= T / (2 sqrt(n)).
    assert abs(mc.expected_days_capped - exact.expected_days_capped) < 3.0 * horizon / (2.0 * math.sqrt(n)) + half_step
    hits = exact.prob * n
    assert (
        abs(mc.expected_days_if_liquidated - exact.expected_days_if_liquidated)
        < 3.0 * horizon / (2.0 * math.sqrt(hits)) + half_step
    )
    # Quantiles: the closed-form CDF at the MC quantile is within 3 binomial SEs of the level
    # (conditional on a hit), allowing the half-step dating of MC crossings.
    base = {k: v for k, v in kw.items() if k != "horizon_days"}
    for q, c_mc in zip(exact.quantile_levels, mc.conditional_quantiles_days, strict=True):
        lo = prob_liquidation(**base, horizon_days=max(c_mc - half_step, 1e-6)) / exact.prob
        hi = prob_liquidation(**base, horizon_days=c_mc + half_step) / exact.prob
        se = math.sqrt(q * (1.0 - q) / hits)
        assert lo - 3.0 * se < q < hi + 3.0 * se


def test_edge_cases_of_the_time_distribution() -> None:
    none = time_to_liquidation("long", 100.0, None, 0.5, 10.0)
    assert isinstance(none, TimeToLiquidation)
    assert none.prob == 0.0
    assert none.expected_days_capped == 10.0
    assert math.isnan(none.expected_days_if_liquidated)
    assert all(math.isinf(x) for x in none.quantiles_days)
    assert all(math.isnan(x) for x in none.conditional_quantiles_days)
    past = time_to_liquidation("short", 100.0, 95.0, 0.5, 10.0)
    assert past.prob == 1.0
    assert past.expected_days_capped == 0.0
    assert past.quantiles_days == (0.0,) * 5
    # Monitoring coarser than the horizon: no check happens.
    coarse = time_to_liquidation("long", 100.0, 90.0, 0.5, 1.0, monitoring_dt_days=2.0)
    assert coarse.prob == 0.0
    assert prob_liquidation("long", 100.0, 90.0, 0.5, 1.0, monitoring_dt_days=2.0) == 0.0
    # A probability too small for any level: all unconditional quantiles are beyond the horizon.
    tiny = time_to_liquidation("long", 100.0, 80.0, 0.3, 1.0)
    assert 0.0 < tiny.prob < 1e-10
    assert all(math.isinf(x) for x in tiny.quantiles_days)
    assert all(0.0 < x <= 1.0 for x in tiny.conditional_quantiles_days)


def test_curve_matches_single_horizons_and_is_monotone_for_monte_carlo() -> None:
    horizons = (1.0, 7.0, 30.0)
    closed = prob_liquidation_curve("long", 60_000.0, 48_000.0, 0.8, horizons)
    assert closed == tuple(prob_liquidation("long", 60_000.0, 48_000.0, 0.8, h) for h in horizons)
    mc = prob_liquidation_curve(
        "long", 60_000.0, 48_000.0, 0.8, (30.0, 1.0, 7.0), model="merton", lam=5.0, jump_mean=-0.05, jump_std=0.05
    )
    assert mc[1] <= mc[2] <= mc[0]
    gbm_mc = prob_liquidation_curve("long", 60_000.0, 48_000.0, 0.8, horizons, method="mc", n_paths=200_000, seed=3)
    for p_mc, p_ex in zip(gbm_mc, closed, strict=True):
        assert abs(p_mc - p_ex) < 3.0 * math.sqrt(max(p_ex * (1.0 - p_ex), 1e-6) / 200_000)
    monitored = prob_liquidation_curve("long", 60_000.0, 48_000.0, 0.8, (0.5, 2.5), monitoring_dt_days=1.0)
    assert monitored[0] == 0.0
    assert monitored[1] == prob_liquidation("long", 60_000.0, 48_000.0, 0.8, 2.0, monitoring_dt_days=1.0)
