"""Hypothesis properties of the closed-form probability of liquidation (GBM and Kou)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levguard.core.risk.discrete_monitoring import EXACT_MAX_DATES
from levguard.core.risk.liquidation import GS_SETTLED, prob_liquidation, prob_liquidation_curve, time_to_liquidation

SETTINGS = settings(max_examples=200, deadline=None)
FEW = settings(max_examples=25, deadline=None)

prices = st.floats(1e-2, 1e6)
sigmas = st.floats(0.02, 3.0)
horizons = st.floats(0.05, 3650.0)
mus = st.floats(-2.0, 2.0)
# Adverse distance to the liquidation price as a log move, 1e-4 .. 3.
distances = st.floats(1e-4, 3.0)
sides = st.sampled_from(["long", "short"])


def _liq(side: str, price: float, dist: float) -> float:
    return price * math.exp(-dist) if side == "long" else price * math.exp(dist)


@SETTINGS
@given(
    side=sides, price=prices, dist=distances, sigma=sigmas, days=horizons, mu=mus, mon=st.none() | st.floats(0.01, 5.0)
)
def test_probability_is_in_unit_interval(
    side: str, price: float, dist: float, sigma: float, days: float, mu: float, mon: float | None
) -> None:
    p = prob_liquidation(side, price, _liq(side, price, dist), sigma, days, mu, monitoring_dt_days=mon)
    assert 0.0 <= p <= 1.0


@SETTINGS
@given(side=sides, dist=distances, s1=sigmas, s2=sigmas, days=horizons, mu=st.floats(0.0, 2.0))
def test_increases_with_sigma(side: str, dist: float, s1: float, s2: float, days: float, mu: float) -> None:
    """Monotone in sigma for zero drift and for a drift away from the liquidation price.

    In the time change s = sigma^2 t the path is a Brownian motion with drift mu/sigma^2 - 1/2
    over a horizon sigma^2 T; with mu of the position's favourable sign both effects of a
    larger sigma raise the probability.  (With an adverse drift it need not be monotone.)
    """
    lo, hi = min(s1, s2), max(s1, s2)
    drift = mu if side == "long" else -mu
    p_lo = prob_liquidation(side, 100.0, _liq(side, 100.0, dist), lo, days, drift)
    p_hi = prob_liquidation(side, 100.0, _liq(side, 100.0, dist), hi, days, drift)
    assert p_lo <= p_hi + 1e-12


@SETTINGS
@given(side=sides, dist=distances, sigma=sigmas, d1=horizons, d2=horizons, mu=mus, mon=st.none() | st.floats(0.01, 2.0))
def test_increases_with_horizon(
    side: str, dist: float, sigma: float, d1: float, d2: float, mu: float, mon: float | None
) -> None:
    lo, hi = min(d1, d2), max(d1, d2)
    liq = _liq(side, 100.0, dist)
    p_lo = prob_liquidation(side, 100.0, liq, sigma, lo, mu, monitoring_dt_days=mon)
    p_hi = prob_liquidation(side, 100.0, liq, sigma, hi, mu, monitoring_dt_days=mon)
    assert p_lo <= p_hi + 1e-12


@SETTINGS
@given(side=sides, a=distances, b=distances, sigma=sigmas, days=horizons, mu=mus)
def test_increases_as_liquidation_price_approaches(
    side: str, a: float, b: float, sigma: float, days: float, mu: float
) -> None:
    near, far = min(a, b), max(a, b)
    p_near = prob_liquidation(side, 100.0, _liq(side, 100.0, near), sigma, days, mu)
    p_far = prob_liquidation(side, 100.0, _liq(side, 100.0, far), sigma, days, mu)
    assert p_far <= p_near + 1e-12


@SETTINGS
@given(price=prices, dist=distances, sigma=sigmas, days=horizons, mu=mus, mon=st.none() | st.floats(0.01, 2.0))
def test_long_short_symmetry_under_price_inversion(
    price: float, dist: float, sigma: float, days: float, mu: float, mon: float | None
) -> None:
    """A short on S is a long on 1/S; 1/S is GBM with expected return sigma^2 - mu."""
    liq = price * math.exp(dist)
    p_short = prob_liquidation("short", price, liq, sigma, days, mu, monitoring_dt_days=mon)
    p_long = prob_liquidation("long", 1.0 / price, 1.0 / liq, sigma, days, sigma * sigma - mu, monitoring_dt_days=mon)
    assert p_short == pytest.approx(p_long, rel=1e-9, abs=1e-15)


@SETTINGS
@given(
    side=sides,
    dist=distances,
    sigma=sigmas,
    mu=mus,
    coarse=st.floats(0.01, 3.0),
    k=st.integers(1, 500),
    j=st.integers(1, 24),
)
def test_coarser_monitoring_never_raises_the_probability(
    side: str, dist: float, sigma: float, mu: float, coarse: float, k: int, j: int
) -> None:
    """Nested grids over the same horizon: fewer checks, lower probability.

    Exact within EXACT_MAX_DATES dates, by construction beyond them (the BGK shift grows with the
    step).  A coarse grid within them and a fine one beyond compare the recursion with the shift,
    whose error exceeds the gap between the grids where the drift is more than about 0.6 step
    deviations a date (measured, docs/risk.md): those draws are left out.
    """
    nu = abs(mu - 0.5 * sigma * sigma)
    assume(not (k <= EXACT_MAX_DATES < k * j) or nu * math.sqrt(coarse / j / 365.0) / sigma <= 0.5)
    days = k * coarse
    liq = _liq(side, 100.0, dist)
    p_cont = prob_liquidation(side, 100.0, liq, sigma, days, mu)
    p_fine = prob_liquidation(side, 100.0, liq, sigma, days, mu, monitoring_dt_days=coarse / j)
    p_coarse = prob_liquidation(side, 100.0, liq, sigma, days, mu, monitoring_dt_days=coarse)
    assert p_coarse <= p_fine + 1e-12 <= p_cont + 2e-12


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("mu", [-1.0, 0.0, 1.0])
def test_liquidation_price_at_the_price_gives_one(side: str, mu: float) -> None:
    assert prob_liquidation(side, 100.0, 100.0, 0.5, 1.0, mu) == 1.0
    eps = 1e-12 if side == "long" else -1e-12
    assert prob_liquidation(side, 100.0, 100.0 * (1.0 - eps), 0.5, 1.0, mu) > 1.0 - 1e-5
    # Past the liquidation price: already liquidatable.
    assert prob_liquidation(side, 100.0, 100.0 * (1.0 + 10 * eps), 0.5, 1.0, mu) == 1.0


@pytest.mark.parametrize("side", ["long", "short"])
def test_vanishing_volatility_without_drift_gives_zero(side: str) -> None:
    liq = 90.0 if side == "long" else 110.0
    values = [prob_liquidation(side, 100.0, liq, s, 30.0) for s in (0.5, 0.1, 0.02, 1e-3, 1e-6)]
    assert all(x >= y for x, y in itertools.pairwise(values))
    assert values[-1] == 0.0
    # An adverse drift reaches the liquidation price deterministically: -ln(0.9) / 2 = 19 days.
    drift = -2.0 if side == "long" else 2.0
    assert prob_liquidation(side, 100.0, liq, 1e-6, 30.0, drift) == pytest.approx(1.0)
    assert prob_liquidation(side, 100.0, liq, 1e-6, 15.0, drift) == pytest.approx(0.0, abs=1e-12)


# Kou's jumps as the properties draw them (eta > 1 keeps E[exp(jump)] finite).
KOU_JUMPS = {
    "lam": st.floats(0.0, 50.0),
    "p_up": st.floats(0.0, 1.0),
    "eta_up": st.floats(2.0, 50.0),
    "eta_down": st.floats(2.0, 50.0),
}


@FEW
@given(side=sides, dist=st.floats(0.01, 1.0), sigma=st.floats(0.1, 1.5), days=st.floats(0.5, 365.0), **KOU_JUMPS)
def test_kou_probability_is_bounded_and_grows_with_horizon(
    side: str, dist: float, sigma: float, days: float, lam: float, p_up: float, eta_up: float, eta_down: float
) -> None:
    liq = _liq(side, 100.0, dist)
    p = prob_liquidation(
        side, 100.0, liq, sigma, days, model="kou", lam=lam, p_up=p_up, eta_up=eta_up, eta_down=eta_down
    )
    assert 0.0 <= p <= 1.0
    longer = prob_liquidation(
        side, 100.0, liq, sigma, 2.0 * days, model="kou", lam=lam, p_up=p_up, eta_up=eta_up, eta_down=eta_down
    )
    assert p <= longer + GS_SETTLED  # the settled inversion's error budget (or nested Monte Carlo paths)


_STEEP = {"lam": 9.0, "p_up": 1.0, "eta_up": 2.0, "eta_down": 2.0}  # found by a 30x hypothesis run


def test_a_kou_cdf_the_inversion_cannot_resolve_falls_back_to_monte_carlo() -> None:
    # Up jumps of mean size 50 %, nine a year: their compensation is a drift of about -9 a year,
    # so the barrier 3.2 % below is crossed about 1.3 days out, like a step. Gaver-Stehfest gave
    # P(2 d) = 0.967 > P(4 d) = 0.9695 only by luck of rounding, and P(1 d) 0.141 (12 terms:
    # 0.175) against Monte Carlo's 0.126.
    liq = 100.0 * (1.0 - 0.03125)
    got = [prob_liquidation("long", 100.0, liq, 0.109375, d, model="kou", **_STEEP) for d in (1.0, 2.0, 4.0)]
    assert got == sorted(got)
    forced = prob_liquidation("long", 100.0, liq, 0.109375, 1.0, model="kou", method="analytic", **_STEEP)
    assert forced == pytest.approx(0.1413, abs=1e-3)  # still available when asked for
    ttl = time_to_liquidation("long", 100.0, liq, 0.109375, 1.0, model="kou", **_STEEP)
    assert ttl.method == "monte_carlo"
    reference = prob_liquidation(
        "long", 100.0, liq, 0.109375, 1.0, model="kou", method="mc", n_paths=400_000, seed=11, **_STEEP
    )
    assert got[0] == pytest.approx(reference, abs=5 * math.sqrt(reference * (1 - reference) / 100_000))
    # At the front of the step both inversions are below 0 and would agree once clipped to 0; the
    # check compares them before clipping (a 0.75-day P of 0 where Monte Carlo gives 0.5 %).
    for days in (0.7, 0.75, 0.8):
        front = prob_liquidation("long", 100.0, liq, 0.109375, days, model="kou", **_STEEP)
        mc = prob_liquidation("long", 100.0, liq, 0.109375, days, model="kou", method="mc", seed=5, **_STEEP)
        assert front > 0.0
        assert front == pytest.approx(mc, abs=5 * math.sqrt(mc * (1 - mc) / 100_000) + 1e-4)
    # A point and a curve read at the same (last monitoring) date agree.
    point = prob_liquidation("long", 100.0, liq, 0.109375, 1.0, model="kou", monitoring_dt_days=0.7, **_STEEP)
    curve = prob_liquidation_curve(
        "long", 100.0, liq, 0.109375, [1.0, 2.0, 3.0, 4.0], model="kou", monitoring_dt_days=0.7, **_STEEP
    )
    assert point == pytest.approx(curve[0], abs=2e-3)
    # A regular case keeps the closed form.
    regular = {"lam": 10.0, "p_up": 0.4, "eta_up": 12.0, "eta_down": 8.0}
    assert (
        time_to_liquidation("long", 100.0, 80.0, 0.8, 30.0, model="kou", **regular).method == "laplace_gaver_stehfest"
    )


def test_an_inversion_that_agrees_with_one_neighbour_by_chance_is_not_settled() -> None:
    # Found by the horizon property (2026-12-06): down jumps of mean size 50 %, 48 a year, push a
    # short's barrier 10.7 % above to about 2 days out; at half a day the 16- and 14-term
    # inversions gave 3.0e-4 and 4.6e-4 (within 2.5e-4 of each other) where the truth is about
    # 0 (12 terms: -1.4e-3), above the 1-day probability.  Three inversions must now agree.
    jumps = {"lam": 48.0, "p_up": 0.0, "eta_up": 2.0, "eta_down": 2.0}
    liq = 100.0 * math.exp(0.1015625)
    half, day = (prob_liquidation("short", 100.0, liq, 0.125, d, model="kou", **jumps) for d in (0.5, 1.0))
    assert half <= day + GS_SETTLED
    assert half < 1e-4
    ttl = time_to_liquidation("short", 100.0, liq, 0.125, 0.5, model="kou", **jumps)
    assert ttl.method == "monte_carlo"


@settings(max_examples=15, deadline=None)
@given(side=sides, dist=st.floats(0.01, 0.5), sigma=st.floats(0.1, 1.5), days=st.floats(0.5, 60.0), **KOU_JUMPS)
def test_the_default_kou_probability_agrees_with_monte_carlo(
    side: str, dist: float, sigma: float, days: float, lam: float, p_up: float, eta_up: float, eta_down: float
) -> None:
    # Whichever method the default takes (the closed form where its inversion settles), the
    # probability is within the Monte Carlo estimate's error of an independent simulation.
    liq = _liq(side, 100.0, dist)
    kw = {"lam": lam, "p_up": p_up, "eta_up": eta_up, "eta_down": eta_down}
    p = prob_liquidation(side, 100.0, liq, sigma, days, model="kou", **kw)
    ref = prob_liquidation(side, 100.0, liq, sigma, days, model="kou", method="mc", n_paths=50_000, seed=3, **kw)
    se = math.sqrt(max(ref * (1.0 - ref), 1e-4) / 50_000) + math.sqrt(max(p * (1.0 - p), 1e-4) / 100_000)
    assert p == pytest.approx(ref, abs=5.0 * se + 2.0 * GS_SETTLED)
