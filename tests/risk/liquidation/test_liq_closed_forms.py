"""Closed forms for the probability of liquidation agree with Monte Carlo of the same model.

Each comparison uses a fixed seed and asserts ``|closed form - MC| < 3 standard errors`` of the
MC estimate, ``SE = sqrt(p (1 - p) / n)``.  Where a test also checks that an effect is real
(discrete vs continuous monitoring, bridge vs no bridge) it asserts a gap of many SEs, so the
comparison has power.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from levguard.core.risk.first_passage import (
    gaver_stehfest,
    gbm_hit_laplace,
    gbm_hit_prob,
    kou_hit_laplace,
)
from levguard.core.risk.liquidation import prob_liquidation

N_PATHS = 200_000
KOU = {"lam": 10.0, "p_up": 0.4, "eta_up": 12.0, "eta_down": 8.0}


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1.0 - p), 1e-12) / n)


def _assert_within_3se(exact: float, mc: float, n: int) -> None:
    se = _se(mc, n)
    assert abs(exact - mc) < 3.0 * se, f"closed form {exact:.6f} vs MC {mc:.6f}: {(exact - mc) / se:+.2f} SE"


@dataclass(frozen=True)
class Case:
    side: str
    price: float
    liq: float
    sigma: float
    days: float
    mu: float

    def kw(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "price": self.price,
            "liq_price": self.liq,
            "sigma": self.sigma,
            "horizon_days": self.days,
            "mu": self.mu,
        }


GBM_CASES = [
    Case("long", 60_000.0, 48_000.0, 0.8, 30.0, 0.0),
    Case("long", 60_000.0, 54_000.0, 0.6, 7.0, 0.5),
    Case("long", 3_000.0, 2_000.0, 1.2, 90.0, -0.4),
    Case("short", 60_000.0, 72_000.0, 0.8, 30.0, 0.0),
    Case("short", 60_000.0, 63_000.0, 0.5, 3.0, -0.3),
    Case("short", 100.0, 150.0, 1.5, 60.0, 0.6),
]


@pytest.mark.parametrize("case", GBM_CASES, ids=lambda c: f"{c.side}-{c.liq / c.price:.2f}-{c.days:g}d-mu{c.mu:g}")
def test_gbm_closed_form_matches_monte_carlo(case: Case) -> None:
    exact = prob_liquidation(**case.kw())
    mc = prob_liquidation(**case.kw(), method="mc", n_paths=N_PATHS, seed=11)
    assert 0.005 < exact < 0.995
    _assert_within_3se(exact, mc, N_PATHS)


@pytest.mark.parametrize(
    "case",
    [
        Case("long", 60_000.0, 54_000.0, 0.8, 7.0, 0.0),
        Case("short", 60_000.0, 66_000.0, 0.8, 7.0, 0.2),
        Case("long", 60_000.0, 57_000.0, 0.6, 3.0, -0.5),
    ],
    ids=["long", "short", "long-near"],
)
def test_hourly_monitoring_matches_discretely_monitored_monte_carlo(case: Case) -> None:
    """Hourly mark-price checks (168 and 72 dates: the exact recursion) vs MC checked at the same dates."""
    dt = 1.0 / 24.0
    bgk = prob_liquidation(**case.kw(), monitoring_dt_days=dt)
    mc = prob_liquidation(**case.kw(), monitoring_dt_days=dt, method="mc", n_paths=N_PATHS, seed=12)
    _assert_within_3se(bgk, mc, N_PATHS)
    continuous = prob_liquidation(**case.kw())
    assert continuous - mc > 8.0 * _se(mc, N_PATHS)  # discrete monitoring matters at this size


def test_beyond_the_exact_dates_bgk_is_the_continuous_formula_at_the_shifted_barrier() -> None:
    sigma, dt_days = 0.7, 0.05  # 400 dates in 20 days, more than EXACT_MAX_DATES
    shift = math.exp(-0.5825971579390107 * sigma * math.sqrt(dt_days / 365.0))
    long_bgk = prob_liquidation("long", 100.0, 80.0, sigma, 20.0, monitoring_dt_days=dt_days)
    assert long_bgk == pytest.approx(prob_liquidation("long", 100.0, 80.0 * shift, sigma, 20.0), rel=1e-12)
    short_bgk = prob_liquidation("short", 100.0, 120.0, sigma, 20.0, monitoring_dt_days=dt_days)
    assert short_bgk == pytest.approx(prob_liquidation("short", 100.0, 120.0 / shift, sigma, 20.0), rel=1e-12)
    # The horizon stops at the last monitoring date: 20.03 days checked every 0.05 days ends at 20.
    assert prob_liquidation("long", 100.0, 80.0, sigma, 20.03, monitoring_dt_days=dt_days) == long_bgk


KOU_CASES = [
    (Case("long", 60_000.0, 48_000.0, 0.8, 30.0, 0.0), KOU),
    (Case("short", 60_000.0, 72_000.0, 0.8, 30.0, 0.3), KOU),
    (Case("long", 60_000.0, 54_000.0, 0.5, 7.0, 0.0), {"lam": 50.0, "p_up": 0.3, "eta_up": 20.0, "eta_down": 15.0}),
    (Case("short", 60_000.0, 63_000.0, 0.6, 1.0, 0.0), {"lam": 100.0, "p_up": 0.5, "eta_up": 30.0, "eta_down": 30.0}),
    # One-sided jumps: only adverse (long: down) or only favourable jumps.
    (Case("long", 60_000.0, 51_000.0, 0.6, 14.0, 0.0), {"lam": 20.0, "p_up": 0.0, "eta_up": 10.0, "eta_down": 10.0}),
    (Case("long", 60_000.0, 51_000.0, 0.6, 14.0, 0.0), {"lam": 20.0, "p_up": 1.0, "eta_up": 10.0, "eta_down": 10.0}),
]


@pytest.mark.parametrize(
    ("case", "jumps"), KOU_CASES, ids=["long", "short-mu", "long-frequent", "short-1d", "down-only", "up-only"]
)
def test_kou_laplace_inversion_matches_monte_carlo(case: Case, jumps: dict[str, float]) -> None:
    exact = prob_liquidation(**case.kw(), model="kou", **jumps)
    mc = prob_liquidation(**case.kw(), model="kou", method="mc", n_paths=N_PATHS, seed=13, **jumps)
    _assert_within_3se(exact, mc, N_PATHS)


def test_kou_discrete_monitoring_matches_monte_carlo() -> None:
    case = Case("long", 60_000.0, 54_000.0, 0.8, 7.0, 0.0)
    dt = 1.0 / 24.0
    exact = prob_liquidation(**case.kw(), monitoring_dt_days=dt, model="kou", **KOU)
    mc = prob_liquidation(**case.kw(), monitoring_dt_days=dt, model="kou", method="mc", n_paths=N_PATHS, seed=14, **KOU)
    _assert_within_3se(exact, mc, N_PATHS)


def test_kou_jumps_raise_the_probability_over_gbm() -> None:
    case = Case("long", 60_000.0, 48_000.0, 0.8, 30.0, 0.0)
    assert prob_liquidation(**case.kw(), model="kou", **KOU) > prob_liquidation(**case.kw()) + 0.01


def test_kou_without_jumps_is_gbm() -> None:
    case = Case("long", 60_000.0, 48_000.0, 0.8, 30.0, 0.1)
    gbm = prob_liquidation(**case.kw())
    assert prob_liquidation(**case.kw(), model="kou", **{**KOU, "lam": 0.0}) == gbm
    # A vanishing intensity goes through the Laplace inversion: Gaver-Stehfest accuracy.
    assert prob_liquidation(**case.kw(), model="kou", **{**KOU, "lam": 1e-9}) == pytest.approx(gbm, abs=2e-5)


def test_gaver_stehfest_recovers_the_gbm_cdf() -> None:
    """Invert the GBM first-passage transform and compare with the reflection formula."""
    errors = []
    for sigma in (0.3, 0.8, 1.5):
        for lp in (0.5, 0.8, 0.95, 0.99):
            for days in (1.0, 7.0, 30.0, 365.0):
                for mu in (-0.5, 0.0, 0.5):
                    b, nu, t = math.log(lp), mu - 0.5 * sigma**2, days / 365.0
                    exact = gbm_hit_prob(b, nu, sigma, t)
                    approx = gaver_stehfest(lambda a, b=b, nu=nu, s=sigma: gbm_hit_laplace(a, b, nu, s) / a, t)
                    errors.append(abs(approx - exact))
    err = np.array(errors)
    assert err.max() < 5e-5
    assert np.median(err) < 1e-6
    assert np.quantile(err, 0.9) < 5e-6


def test_kou_laplace_transform_limits() -> None:
    # a -> 0: E[exp(-a tau)] -> P(tau < inf) = 1 with a drift towards the barrier.
    assert kou_hit_laplace(1e-10, -0.2, -0.5, 0.6, 10.0, 0.4, 12.0, 8.0) == pytest.approx(1.0, abs=1e-6)
    # Larger a discounts more; a barrier further away is reached later.
    values = [kou_hit_laplace(a, -0.2, 0.0, 0.6, 10.0, 0.4, 12.0, 8.0) for a in (0.1, 1.0, 10.0, 100.0)]
    assert all(x > y for x, y in itertools.pairwise(values))
    assert kou_hit_laplace(1.0, -0.3, 0.0, 0.6, 10.0, 0.4, 12.0, 8.0) < kou_hit_laplace(
        1.0, -0.2, 0.0, 0.6, 10.0, 0.4, 12.0, 8.0
    )


@pytest.mark.parametrize("side", ["long", "short"])
def test_bridge_makes_coarse_steps_match_continuous_monitoring(side: str) -> None:
    liq = 48_000.0 if side == "long" else 72_000.0
    kw = {"side": side, "price": 60_000.0, "liq_price": liq, "sigma": 0.8, "horizon_days": 30.0, "mu": 0.1}
    exact = prob_liquidation(**kw)
    bridged = prob_liquidation(**kw, method="mc", n_paths=N_PATHS, seed=15, step_days=6.0)  # 5 steps
    _assert_within_3se(exact, bridged, N_PATHS)
    raw = prob_liquidation(**kw, method="mc", n_paths=N_PATHS, seed=15, step_days=6.0, bridge=False)
    assert exact - raw > 20.0 * _se(raw, N_PATHS)


def test_merton_monte_carlo() -> None:
    case = Case("long", 60_000.0, 48_000.0, 0.8, 30.0, 0.0)
    gbm = prob_liquidation(**case.kw())
    no_jumps = prob_liquidation(**case.kw(), model="merton", lam=0.0, jump_mean=-0.1, jump_std=0.05, seed=16)
    _assert_within_3se(gbm, no_jumps, 100_000)
    crashes = prob_liquidation(**case.kw(), model="merton", lam=6.0, jump_mean=-0.08, jump_std=0.04, seed=16)
    assert crashes > gbm + 5.0 * _se(crashes, 100_000)


def test_merton_discrete_monitoring_follows_the_bgk_shift() -> None:
    """Hourly-monitored Merton paths vs continuously monitored ones at the BGK-shifted barrier.

    This checks the kernel's exact jump times and per-piece bridge correction against its
    discrete mode; the shift uses the diffusive sigma (Kou 2003).
    """
    jumps = {"lam": 20.0, "jump_mean": -0.03, "jump_std": 0.03}
    sigma, dt = 0.6, 1.0 / 24.0
    shift = math.exp(-0.5825971579390107 * sigma * math.sqrt(dt / 365.0))
    kw = {"side": "long", "price": 60_000.0, "sigma": sigma, "horizon_days": 7.0, "model": "merton", **jumps}
    discrete = prob_liquidation(liq_price=54_000.0, monitoring_dt_days=dt, n_paths=N_PATHS, seed=20, **kw)
    shifted = prob_liquidation(liq_price=54_000.0 * shift, n_paths=N_PATHS, seed=21, **kw)
    assert abs(discrete - shifted) < 3.0 * math.sqrt(2.0) * _se(discrete, N_PATHS)
    unshifted = prob_liquidation(liq_price=54_000.0, n_paths=N_PATHS, seed=21, **kw)
    assert unshifted - discrete > 8.0 * _se(discrete, N_PATHS)


def test_garch_with_constant_gaussian_variance_is_gbm() -> None:
    """alpha = beta = 0, normal innovations and omega = sigma^2 dt: GBM observed daily."""
    case = Case("long", 60_000.0, 48_000.0, 0.8, 30.0, 0.2)
    omega = 0.8**2 / 365.0
    exact = prob_liquidation(**case.kw())
    mc = prob_liquidation(
        **case.kw(), model="garch_t", omega=omega, alpha=0.0, beta=0.0, nu=math.inf, n_paths=N_PATHS, seed=17
    )
    _assert_within_3se(exact, mc, N_PATHS)
    daily = prob_liquidation(**case.kw(), monitoring_dt_days=1.0, method="mc", n_paths=N_PATHS, seed=17)
    mc_daily = prob_liquidation(
        **case.kw(),
        monitoring_dt_days=1.0,
        model="garch_t",
        omega=omega,
        alpha=0.0,
        beta=0.0,
        nu=math.inf,
        n_paths=N_PATHS,
        seed=18,
    )
    assert abs(daily - mc_daily) < 3.0 * math.sqrt(2.0) * _se(daily, N_PATHS)


def test_bootstrap_of_gaussian_returns_is_gbm() -> None:
    case = Case("short", 60_000.0, 72_000.0, 0.8, 30.0, -0.2)
    returns = np.random.default_rng(5).standard_normal(50_000) * 0.04 + 0.001
    exact = prob_liquidation(**case.kw())
    mc = prob_liquidation(**case.kw(), model="bootstrap", returns=returns, n_paths=N_PATHS, seed=19)
    _assert_within_3se(exact, mc, N_PATHS)
    gbm_daily = prob_liquidation(**case.kw(), monitoring_dt_days=1.0)
    mc_daily = prob_liquidation(
        **case.kw(), monitoring_dt_days=1.0, model="bootstrap", returns=returns, n_paths=N_PATHS, seed=19
    )
    # The GBM probability with 30 daily checks is exact; the bootstrap's returns are close to normal.
    assert mc_daily == pytest.approx(gbm_daily, rel=0.02)


def test_kou_roots_are_shared_across_barriers_and_change_nothing() -> None:
    # The roots of G(x) = a do not depend on the barrier, so a leverage search at one volatility
    # reuses them (an API audit: 62 ms a bar for a Kou liquidation budget in a backtest).  The
    # memoised answer is the one computed afresh, to the bit.
    from levguard.core.risk import first_passage as fp

    params = (0.3, 0.55, 20.0, 0.4, 30.0, 25.0)
    barriers = (-0.01, -0.05, -0.2, -0.7)
    fp._kou_roots.cache_clear()
    first = [fp.kou_hit_prob(b, *params, 7.0 / 365.0) for b in barriers]
    info = fp._kou_roots.cache_info()
    assert info.misses == fp.GS_TERMS  # one root search per Gaver-Stehfest point, whatever the barrier
    assert info.hits == fp.GS_TERMS * (len(barriers) - 1)
    fresh = []
    for b in barriers:
        fp._kou_roots.cache_clear()
        fresh.append(fp.kou_hit_prob(b, *params, 7.0 / 365.0))
    assert first == fresh
    fp._kou_roots.cache_clear()
    only_down = [fp.kou_hit_prob(b, 0.3, 0.55, 20.0, 1.0, 30.0, 25.0, 7.0 / 365.0) for b in barriers]  # Z: no up jumps
    assert len(fp._kou_roots(1.0, 0.3, 0.55, 20.0, 1.0, 30.0, 25.0)) == 1
    assert only_down == sorted(only_down, reverse=True)
