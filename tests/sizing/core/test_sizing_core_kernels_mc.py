"""Sizing kernels: compiled/Python parity, and the Kelly and CPPI formulas against Monte Carlo."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from levguard.core.sizing.base import SizingState
from levguard.core.sizing.policies import Kelly, cppi_gap_probability, kelly_growth_rate, kelly_ruin_probability
from levguard.kernels import sizing as ks
from levguard.kernels._jit import NUMBA_DISABLED

needs_numba = pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")

N = 2_000
_rng = np.random.default_rng(11)
R = _rng.normal(0.0, 0.01, N)
R[[5, 700]] = np.nan  # missing returns must be handled alike
EQ = 100.0 * np.exp(np.cumsum(_rng.normal(0.0, 0.02, N)))
EQ[[9, 1500]] = [np.nan, -1.0]
SIG = np.abs(_rng.normal(0.5, 0.3, N))
SIG[[3, 4]] = [0.0, np.nan]
MU = _rng.normal(0.1, 0.5, N)
TGT = np.abs(_rng.normal(1.5, 1.0, N))

CASES: dict[str, tuple[Callable[..., None], Callable[..., None], tuple[Any, ...]]] = {
    "ewma_vol": (ks.ewma_vol_path_py, ks.ewma_vol_path_nb, (R, 0.94, 10, 8760.0)),
    "ewma_mean": (ks.ewma_mean_path_py, ks.ewma_mean_path_nb, (R, 0.9, 3, 365.0)),
    "rolling_std": (ks.rolling_std_path_py, ks.rolling_std_path_nb, (R, 24, 8760.0)),
    "rolling_mean": (ks.rolling_mean_path_py, ks.rolling_mean_path_nb, (R, 24, 8760.0)),
    "vol_target": (ks.vol_target_path_py, ks.vol_target_path_nb, (SIG, 0.4, 3.0)),
    "kelly": (ks.kelly_path_py, ks.kelly_path_nb, (MU, SIG, 0.5, 0.2, 0.01, 4.0)),
    "drawdown_linear": (ks.drawdown_path_py, ks.drawdown_path_nb, (EQ, 0.3, 2.0, False, 2.0)),
    "drawdown_convex": (ks.drawdown_path_py, ks.drawdown_path_nb, (EQ, 0.3, 2.0, True, 1.7)),
    "cppi": (ks.cppi_path_py, ks.cppi_path_nb, (EQ, 0.8, 4.0, 3.0, False, math.nan)),
    "cppi_ratchet": (ks.cppi_path_py, ks.cppi_path_nb, (EQ, 0.7, 5.0, 3.0, True, 120.0)),
    "rebalance": (ks.rebalance_path_py, ks.rebalance_path_nb, (TGT, R, 0.0, 1_000.0, 0.1, 5.0, 0.5)),
    "rebalance_plain": (ks.rebalance_path_py, ks.rebalance_path_nb, (TGT, R, 1.0, 1.0, 0.0, 0.0, math.inf)),
}


@needs_numba
@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_equals_python(case: str) -> None:
    py, nb, args = CASES[case]
    n = args[0].shape[0]
    a, b = np.empty(n), np.empty(n)
    py(*args, a)
    nb(*args, b)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, equal_nan=True)
    assert np.isfinite(a).any()


# --------------------------------------------------------------------------- Kelly vs Monte Carlo

MU_A, SIGMA_A, RATE = 0.6, 0.8, 0.02


@pytest.mark.parametrize("c", [0.25, 0.5, 1.0])
def test_fractional_kelly_growth_rate_matches_gbm_monte_carlo(c: float) -> None:
    """Mean log-growth of wealth under f = c f* equals r + c (2 - c) SR^2 / 2 within 3 SE."""
    f = Kelly(c, rate=RATE, max_leverage=100.0).decide(SizingState(1.0, vol_forecast=SIGMA_A, mu_forecast=MU_A))
    assert f.target_leverage == pytest.approx(c * (MU_A - RATE) / SIGMA_A**2)
    lev = f.target_leverage
    rng = np.random.default_rng(2024)
    horizon, steps, paths = 5.0, 250, 20_000
    dt = horizon / steps
    # Exact GBM log-wealth increments of a continuously rebalanced fraction `lev`:
    # d ln W = (r + f (mu - r) - f^2 sigma^2 / 2) dt + f sigma dB.
    drift = (RATE + lev * (MU_A - RATE) - 0.5 * lev**2 * SIGMA_A**2) * dt
    log_w = np.zeros(paths)
    for _ in range(steps):
        log_w += drift + lev * SIGMA_A * math.sqrt(dt) * rng.standard_normal(paths)
    growth = log_w / horizon
    se = growth.std(ddof=1) / math.sqrt(paths)
    assert abs(growth.mean() - kelly_growth_rate(c, MU_A, SIGMA_A, RATE)) < 3 * se


@pytest.mark.parametrize(("c", "x"), [(0.5, 0.5), (1.0, 0.6)])
def test_fractional_kelly_ruin_probability_matches_monte_carlo(c: float, x: float) -> None:
    """P(wealth ever falls to x W0) = x^(2/c - 1), by simulation with a Brownian-bridge correction.

    The horizon is long enough that a first passage after it has probability < 1e-4 (checked
    with the finite-horizon reflection formula), far below the Monte Carlo standard error.
    """
    mu, sigma = 1.0, 1.0
    lev = Kelly(c, max_leverage=100.0).decide(SizingState(1.0, vol_forecast=sigma, mu_forecast=mu)).target_leverage
    nu = lev * mu - 0.5 * lev**2 * sigma**2  # drift of ln W
    s = lev * sigma  # volatility of ln W
    b = math.log(x)
    horizon = 40.0 / c
    norm_cdf = lambda z: 0.5 * math.erfc(-z / math.sqrt(2.0))  # noqa: E731
    finite_t = norm_cdf((b - nu * horizon) / (s * math.sqrt(horizon))) + math.exp(2 * nu * b / s**2) * norm_cdf(
        (b + nu * horizon) / (s * math.sqrt(horizon))
    )
    expected = kelly_ruin_probability(c, x)
    assert abs(finite_t - expected) < 1e-4

    rng = np.random.default_rng(7)
    paths, steps = 8_000, 800
    dt = horizon / steps
    x0 = np.zeros(paths)
    survive = np.ones(paths)
    for _ in range(steps):
        x1 = x0 + nu * dt + s * math.sqrt(dt) * rng.standard_normal(paths)
        # Brownian-bridge probability of touching b between two points above it (exact for BM).
        cross = np.where((x0 > b) & (x1 > b), np.exp(-2.0 * (x0 - b) * (x1 - b) / (s * s * dt)), 1.0)
        survive *= 1.0 - cross
        x0 = x1
    hit = 1.0 - survive
    se = hit.std(ddof=1) / math.sqrt(paths)
    assert abs(hit.mean() - expected) < 3 * se


# --------------------------------------------------------------------------- CPPI gap probability


@pytest.mark.parametrize(("m", "mu", "sigma", "dt"), [(5.0, 0.1, 0.8, 7 / 365), (10.0, 0.0, 1.2, 1 / 365)])
def test_cppi_gap_probability_matches_monte_carlo(m: float, mu: float, sigma: float, dt: float) -> None:
    """A CPPI portfolio with exposure m C breaches its floor in one period with probability P_gap."""
    rng = np.random.default_rng(99)
    paths = 400_000
    v, floor = 100.0, 80.0
    cushion = v - floor
    ret = np.expm1((mu - 0.5 * sigma**2) * dt + sigma * math.sqrt(dt) * rng.standard_normal(paths))
    v_next = v + m * cushion * ret
    breached = (v_next < floor).astype(float)
    p = cppi_gap_probability(m, mu, sigma, dt)
    se = math.sqrt(p * (1 - p) / paths)
    assert abs(breached.mean() - p) < 3 * se
    assert cppi_gap_probability(1.0, mu, sigma, dt) == 0.0
