"""Discretely monitored GBM: the exact recursion against independent references.

``prob_liquidation(..., monitoring_dt_days=dt)`` checks the mark only at ``dt, 2 dt, ...``.  Over
at most ``EXACT_MAX_DATES`` dates it is computed exactly (a recursion over the dates,
:mod:`levguard.core.risk.discrete_monitoring`); the Broadie-Glasserman-Kou shift it replaced
understated the probability badly over few dates (1 date, LP 10 % below at 80 % vol: 0.0021
where the truth is 0.0063).  References: the normal CDF (one date), the joint normal law of the
checked log prices (two and three dates, ``scipy.stats.multivariate_normal``) and a Monte Carlo
of the checked prices written here in numpy (7 to 30 dates).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr
from scipy.stats import multivariate_normal

from levguard.core.risk.discrete_monitoring import EXACT_MAX_DATES, DiscreteGbm, discrete_hit_probs
from levguard.core.risk.liquidation import prob_liquidation, prob_liquidation_curve, time_to_liquidation
from levguard.core.sizing.base import MarketContext
from levguard.core.sizing.venue import LiquidationBudget

YEAR = 365.0


def _log_walk(side: str, price: float, liq: float, sigma: float, mu: float) -> tuple[float, float]:
    # The mirrored log barrier and drift per year: a short is a long on -ln S.
    sign = 1.0 if side == "long" else -1.0
    return sign * math.log(liq / price), sign * (mu - 0.5 * sigma * sigma)


def _joint_normal(side: str, price: float, liq: float, sigma: float, mu: float, dt_days: float, m: int) -> float:
    # P(some Y_k <= b, k = 1..m) by inclusion-exclusion over the lower orthants of the checked log
    # prices (each a small probability, computed with relative precision).
    b, nu = _log_walk(side, price, liq, sigma, mu)
    t = np.arange(1, m + 1) * dt_days / YEAR
    mean, cov = nu * t, sigma * sigma * np.minimum.outer(t, t)
    total = 0.0
    for r in range(1, m + 1):
        for sub in itertools.combinations(range(m), r):
            idx = list(sub)
            if r == 1:
                p = float(ndtr((b - mean[idx[0]]) / math.sqrt(cov[idx[0], idx[0]])))
            else:
                law = multivariate_normal(mean[idx], cov[np.ix_(idx, idx)], abseps=1e-13, releps=1e-11, maxpts=400_000)
                p = float(law.cdf(np.full(r, b)))
            total += (-1) ** (r + 1) * p
    return total


def _checked_paths(
    side: str, price: float, liq: float, sigma: float, mu: float, dt_days: float, m: int, n: int, seed: int
) -> tuple[float, float]:
    # Monte Carlo of the checked log prices: exact Gaussian steps between the dates, the barrier
    # read at the dates only.  Returns (estimate, standard error).
    b, nu = _log_walk(side, price, liq, sigma, mu)
    dt = dt_days / YEAR
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n, 100_000):
        k = min(100_000, n - start)
        paths = np.cumsum(nu * dt + sigma * math.sqrt(dt) * rng.standard_normal((k, m)), axis=1)
        hits += int(np.count_nonzero(paths.min(axis=1) <= b))
    p = hits / n
    return p, math.sqrt(p * (1.0 - p) / n)


# --- one date: the normal CDF -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("side", "liq", "sigma", "mu", "dt"),
    [
        ("long", 90.0, 0.8, 0.0, 1.0),  # the BGK shift gave 0.00207 for 0.00629
        ("long", 85.0, 0.8, 0.0, 1.0),  # 8.8e-6 for 5.66e-5
        ("long", 95.0, 0.8, 0.0, 1.0),  # 0.0734 for 0.1143
        ("short", 120.0, 0.8, 0.0, 1.0),  # 7.2e-7 for 6.1e-6
        ("long", 99.0, 0.3, 0.5, 0.25),
        ("short", 103.0, 1.5, -1.0, 2.0),
        ("long", 60.0, 0.8, 0.0, 1.0),  # 1e-101: relative precision in the far tail
    ],
)
def test_one_date_is_the_normal_cdf(side: str, liq: float, sigma: float, mu: float, dt: float) -> None:
    b, nu = _log_walk(side, 100.0, liq, sigma, mu)
    t = dt / YEAR
    exact = float(ndtr((b - nu * t) / (sigma * math.sqrt(t))))
    got = prob_liquidation(side, 100.0, liq, sigma, dt, mu, monitoring_dt_days=dt)
    assert got == pytest.approx(exact, rel=1e-12, abs=0.0)
    # A horizon short of the second date reads the first date too.
    assert prob_liquidation(side, 100.0, liq, sigma, 1.9 * dt, mu, monitoring_dt_days=dt) == got


# --- two and three dates: the joint normal law ------------------------------------------------
@pytest.mark.parametrize(
    ("side", "liq", "sigma", "mu", "dt", "m"),
    [
        ("long", 90.0, 0.8, 0.0, 1.0, 2),  # BGK 0.0303 for 0.0424
        ("long", 90.0, 0.8, 0.0, 1.0, 3),  # BGK 0.0785 for 0.0922
        ("long", 85.0, 0.8, 0.3, 1.0, 3),
        ("short", 110.0, 0.6, -0.5, 1.0, 3),
        ("long", 97.0, 0.8, 0.0, 0.5, 3),
        ("short", 120.0, 0.8, 0.0, 1.0, 2),
        ("long", 80.0, 0.8, 0.0, 1.0, 2),  # 3e-12
    ],
)
def test_two_and_three_dates_match_the_joint_normal_law(
    side: str, liq: float, sigma: float, mu: float, dt: float, m: int
) -> None:
    exact = _joint_normal(side, 100.0, liq, sigma, mu, dt, m)
    got = prob_liquidation(side, 100.0, liq, sigma, m * dt, mu, monitoring_dt_days=dt)
    # multivariate_normal's quasi-Monte Carlo is good to about 1e-10 here (a nested quadrature of
    # the same cases agrees with the recursion to 3e-13).
    assert got == pytest.approx(exact, rel=1e-6, abs=1e-9)


# --- 7 to 30 dates: Monte Carlo of the checked prices ---------------------------------------------
@pytest.mark.parametrize(
    ("side", "liq", "sigma", "mu", "dt", "m", "seed"),
    [
        ("long", 90.0, 0.8, 0.0, 1.0, 7, 1),  # BGK 0.2575 for 0.2664
        ("long", 80.0, 0.8, 0.0, 1.0, 7, 2),  # BGK 0.0288 for 0.0320
        ("long", 80.0, 0.8, 0.0, 1.0, 30, 3),
        ("short", 110.0, 0.6, 0.4, 1.0, 14, 4),
        ("long", 95.0, 1.2, -0.6, 1.0 / 3.0, 30, 5),
    ],
)
def test_seven_to_thirty_dates_match_a_monte_carlo_of_the_checked_prices(
    side: str, liq: float, sigma: float, mu: float, dt: float, m: int, seed: int
) -> None:
    # 200,000 paths a case (standard error 1e-3 or less); with 2e7 paths the first two gave
    # 0.266425 +- 0.000099 and 0.031927 +- 0.000039 (recursion 0.266432 and 0.031962).
    mc, se = _checked_paths(side, 100.0, liq, sigma, mu, dt, m, 200_000, seed)
    got = prob_liquidation(side, 100.0, liq, sigma, m * dt, mu, monitoring_dt_days=dt)
    assert abs(got - mc) < 4.0 * se, f"recursion {got:.6f} vs MC {mc:.6f}: {(got - mc) / se:+.2f} SE"


def test_the_recursion_converges_in_its_grid() -> None:
    # The table's own discretisation: the same walk at half the grid step agrees to 1e-12.
    from levguard.core.risk import discrete_monitoring as dm

    probs = discrete_hit_probs(math.log(0.9), -0.32, 0.8, 1.0 / YEAR, 60)
    assert probs is not None
    saved = dm.GRID_STEP
    try:
        dm.GRID_STEP = 0.1
        dm._tables.clear()
        fine = discrete_hit_probs(math.log(0.9), -0.32, 0.8, 1.0 / YEAR, 60)
    finally:
        dm.GRID_STEP = saved
        dm._tables.clear()
    assert fine is not None
    assert np.max(np.abs(probs - fine)) < 1e-12
    assert np.all(np.diff(probs) >= 0.0)


# --- the step CDF, curves and the time to liquidation ------------------------------------------------
def test_the_cdf_is_a_step_function_of_the_monitoring_dates() -> None:
    kw: dict[str, Any] = {"side": "long", "price": 60_000.0, "liq_price": 51_000.0, "sigma": 0.8, "mu": 0.1}
    dt = 1.0
    dates = [prob_liquidation(**kw, horizon_days=float(k), monitoring_dt_days=dt) for k in range(1, 31)]
    assert dates == sorted(dates)
    assert prob_liquidation(**kw, horizon_days=12.7, monitoring_dt_days=dt) == dates[11]
    curve = prob_liquidation_curve(**kw, horizons_days=[0.5, 2.5, 12.7, 30.0], monitoring_dt_days=dt)
    assert curve == (0.0, dates[1], dates[11], dates[29])
    res = time_to_liquidation(**kw, horizon_days=30.0, monitoring_dt_days=dt, quantile_levels=(0.01, 0.1, 0.3))
    assert res.prob == dates[-1]
    # tau takes the values 1..30 days: E[min(tau, T)] = sum_{k=0}^{29} P(tau > k) and
    # E[tau | tau <= T] = sum_k k (F(k) - F(k - 1)) / p.
    f = [0.0, *dates]
    assert res.expected_days_capped == pytest.approx(sum(1.0 - x for x in f[:30]), rel=1e-12)
    mean = sum(k * (f[k] - f[k - 1]) for k in range(1, 31)) / res.prob
    assert res.expected_days_if_liquidated == pytest.approx(mean, rel=1e-12)
    # Quantiles are monitoring dates: the first date with F >= q (conditional: q p).
    for q, t_q, c_q in zip(res.quantile_levels, res.quantiles_days, res.conditional_quantiles_days, strict=True):
        for level, t in ((q, t_q), (q * res.prob, c_q)):
            if level > res.prob:
                assert t == math.inf
                continue
            k = round(t)
            assert t == pytest.approx(k, abs=1e-9)
            assert f[k] >= level > f[k - 1]


def test_kou_with_jumps_reads_the_shifted_cdf_at_the_dates() -> None:
    jumps = {"lam": 10.0, "p_up": 0.4, "eta_up": 12.0, "eta_down": 8.0}
    kw: dict[str, Any] = {"side": "long", "price": 100.0, "liq_price": 85.0, "sigma": 0.8, "model": "kou", **jumps}
    res = time_to_liquidation(**kw, horizon_days=10.0, monitoring_dt_days=1.0, quantile_levels=(0.25, 0.5))
    assert res.prob == prob_liquidation(**kw, horizon_days=10.0, monitoring_dt_days=1.0)
    for t in (*res.quantiles_days, *res.conditional_quantiles_days):
        assert math.isinf(t) or t == pytest.approx(round(t), abs=1e-9)
    # Without jumps the Kou model is GBM, exact at the dates.
    gbm = prob_liquidation("long", 100.0, 85.0, 0.8, 10.0, monitoring_dt_days=1.0)
    kou0 = prob_liquidation(**{**kw, "lam": 0.0}, horizon_days=10.0, monitoring_dt_days=1.0)
    assert kou0 == gbm


# --- beyond EXACT_MAX_DATES ------------------------------------------------------------------------
def test_beyond_the_exact_dates_the_shift_never_falls_below_the_last_exact_date() -> None:
    # Drift away from the barrier (0.05 step deviations a date) and a barrier 1.6 deviations away:
    # P has levelled off by 256 dates and the BGK shift alone is 2e-4 below the exact value there.
    sigma, dt = 0.5, 1.0
    s = sigma * math.sqrt(dt / YEAR)
    mu = 0.05 * s / (dt / YEAR) + 0.5 * sigma * sigma
    liq = 100.0 * math.exp(-1.6 * s)
    m = EXACT_MAX_DATES
    last_exact = prob_liquidation("long", 100.0, liq, sigma, m * dt, mu, monitoring_dt_days=dt)
    walk = DiscreteGbm(math.log(liq / 100.0), mu - 0.5 * sigma * sigma, sigma, dt / YEAR, m + 1)
    assert walk._bgk(m + 1) < last_exact  # the shift alone
    assert prob_liquidation("long", 100.0, liq, sigma, (m + 1) * dt, mu, monitoring_dt_days=dt) == last_exact
    assert prob_liquidation("long", 100.0, liq, sigma, 4 * m * dt, mu, monitoring_dt_days=dt) >= last_exact


def test_beyond_the_exact_dates_the_shift_is_close() -> None:
    # 512 daily dates at 80 % vol, LP -50 %: the shift is within 0.2 % of Monte Carlo.
    got = prob_liquidation("long", 100.0, 50.0, 0.8, 512.0, monitoring_dt_days=1.0)
    exact_256 = prob_liquidation("long", 100.0, 50.0, 0.8, 256.0, monitoring_dt_days=1.0)
    continuous = prob_liquidation("long", 100.0, 50.0, 0.8, 512.0)
    assert exact_256 < got < continuous


# --- properties ------------------------------------------------------------------------------------
FEW = settings(max_examples=40, deadline=None)
sides = st.sampled_from(["long", "short"])
sigmas = st.floats(0.1, 2.0)
mus = st.floats(-1.0, 1.0)
steps = st.floats(0.05, 3.0)  # days between checks


def _liq(side: str, dist: float) -> float:
    return 100.0 * math.exp(-dist) if side == "long" else 100.0 * math.exp(dist)


@FEW
@given(side=sides, a=st.floats(1e-4, 1.0), b=st.floats(1e-4, 1.0), sigma=sigmas, mu=mus, dt=steps, k=st.integers(1, 80))
def test_more_distance_never_raises_the_probability(
    side: str, a: float, b: float, sigma: float, mu: float, dt: float, k: int
) -> None:
    near, far = min(a, b), max(a, b)
    p_near = prob_liquidation(side, 100.0, _liq(side, near), sigma, k * dt, mu, monitoring_dt_days=dt)
    p_far = prob_liquidation(side, 100.0, _liq(side, far), sigma, k * dt, mu, monitoring_dt_days=dt)
    assert p_far <= p_near + 1e-12


@FEW
@given(
    side=sides,
    dist=st.floats(1e-4, 1.0),
    sigma=sigmas,
    mu=mus,
    dt=steps,
    k1=st.integers(1, 300),
    k2=st.integers(1, 300),
)
def test_a_longer_horizon_never_lowers_the_probability(
    side: str, dist: float, sigma: float, mu: float, dt: float, k1: int, k2: int
) -> None:
    lo, hi = min(k1, k2), max(k1, k2)
    liq = _liq(side, dist)
    p_lo = prob_liquidation(side, 100.0, liq, sigma, lo * dt, mu, monitoring_dt_days=dt)
    p_hi = prob_liquidation(side, 100.0, liq, sigma, hi * dt, mu, monitoring_dt_days=dt)
    assert p_lo <= p_hi + 1e-12


@FEW
@given(side=sides, dist=st.floats(1e-4, 1.0), sigma=sigmas, mu=mus, dt=steps, k=st.integers(1, 40), j=st.integers(2, 6))
def test_more_frequent_monitoring_never_lowers_the_probability(
    side: str, dist: float, sigma: float, mu: float, dt: float, k: int, j: int
) -> None:
    # Checks every dt/j include those every dt (same horizon), and continuous monitoring all.
    liq, days = _liq(side, dist), k * dt
    p_coarse = prob_liquidation(side, 100.0, liq, sigma, days, mu, monitoring_dt_days=dt)
    p_fine = prob_liquidation(side, 100.0, liq, sigma, days, mu, monitoring_dt_days=dt / j)
    p_cont = prob_liquidation(side, 100.0, liq, sigma, days, mu)
    assert p_coarse <= p_fine + 1e-12 <= p_cont + 2e-12


# --- the liquidation budget --------------------------------------------------------------------------
def test_the_liquidation_budget_prices_discrete_monitoring_exactly() -> None:
    ctx = MarketContext(mmr=0.005)
    policy = LiquidationBudget(0.01, 3.0, model="gbm", monitoring_dt_days=1.0, context=ctx)
    lev, binding, p = policy.solve(ctx, 1e4, 100.0, 0.8)
    assert binding == "liquidation_budget"
    assert p == policy.prob(ctx, 1e4, 100.0, 0.8, lev) <= 0.01
    assert policy.prob(ctx, 1e4, 100.0, 0.8, lev * (1.0 + 1e-6)) > 0.01
    lp = policy.liquidation_price(ctx, 1e4, 100.0, lev)
    assert lp is not None
    assert p == prob_liquidation("long", 100.0, lp, 0.8, 3.0, monitoring_dt_days=1.0)


def test_the_memoised_tables_stay_within_their_byte_bound() -> None:
    # Strongly adverse drifts need grids of about 5,900 points, 12 MB a full table: sixteen of them
    # (the old count bound) held about 200 MB. The bound is in bytes, the newest table kept.
    from levguard.core.risk import discrete_monitoring as dm

    sigma, dt = 1.0, 1.0 / 365.0
    s = sigma * math.sqrt(dt)
    first = None
    for i in range(10):
        d = -4.0 + 0.01 * i
        p = discrete_hit_probs(-0.5, d * s / dt, sigma, dt, EXACT_MAX_DATES)
        assert p is not None
        first = p if first is None else first
    held = sum(len(w.rows) * w.x.shape[0] * 8 for w in dm._tables.values())
    assert held <= dm.CACHE_BYTES
    assert 2 <= len(dm._tables) < 10  # several large tables fit, not all ten
    # A table that was let go is built again to the same numbers.
    again = discrete_hit_probs(-0.5, -4.0 * s / dt, sigma, dt, EXACT_MAX_DATES)
    assert again is not None
    assert np.array_equal(again, first)
    assert next(reversed(dm._tables))[0] == pytest.approx(-4.0)  # the newest is kept
