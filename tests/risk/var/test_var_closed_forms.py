"""VaR/ES estimators against closed forms, numerical integration and known samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from levguard.core.risk.var import (
    GarchParams,
    cornish_fisher_var,
    empirical_var_es,
    fhs_returns,
    fhs_var,
    garch_filter,
    historical_var,
    monte_carlo_var,
    normal_var,
    student_t_var,
    var_from_sample,
)
from levguard.errors import InputError


@pytest.mark.parametrize("level", [0.95, 0.975, 0.99, 0.999])
def test_normal_closed_form(level: float) -> None:
    """VaR = mu + sd z, ES = mu + sd phi(z)/(1 - level), moments scaled by h and sqrt(h)."""
    r = normal_var(level, sd=2.0, mean=0.5, horizon_days=4)
    z = stats.norm.ppf(level)
    mu, sd = 0.5 * 4, 2.0 * 2.0
    assert r.var == pytest.approx(mu + sd * z, rel=1e-12)
    assert r.es == pytest.approx(mu + sd * stats.norm.pdf(z) / (1 - level), rel=1e-12)
    # ES is the tail mean of the quantile function.
    tail, _ = integrate.quad(lambda u: mu + sd * stats.norm.ppf(u), level, 1)
    assert r.es == pytest.approx(tail / (1 - level), rel=1e-7)
    assert (r.method, r.horizon_days, r.n) == ("normal", 4.0, 0)


def test_normal_textbook_multipliers() -> None:
    """Unit normal at 99%: VaR 2.3263, ES 2.6652 (McNeil-Frey-Embrechts ex. 2.14)."""
    r = normal_var(0.99, sd=1.0)
    assert r.var == pytest.approx(2.3263, abs=1e-4)
    assert r.es == pytest.approx(2.6652, abs=1e-4)


@pytest.mark.parametrize("nu", [3.0, 4.0, 10.0])
def test_student_t_closed_form_against_scipy(nu: float) -> None:
    """t ES equals the tail expectation computed by scipy; sd-form scales to unit variance."""
    level = 0.99
    scale = 1.7
    r = student_t_var(level, nu=nu, scale=scale, mean=0.1)
    q = stats.t.ppf(level, nu)
    assert r.var == pytest.approx(0.1 + scale * q, rel=1e-10)
    tail = stats.t.expect(lambda x: x, args=(nu,), loc=0.1, scale=scale, lb=0.1 + scale * q, conditional=True)
    assert r.es == pytest.approx(tail, rel=1e-6)
    unit = student_t_var(level, nu=nu, sd=1.0)
    assert unit.details["scale"] == pytest.approx(math.sqrt((nu - 2) / nu))
    assert unit.var == pytest.approx(stats.t.ppf(level, nu) * math.sqrt((nu - 2) / nu))


def test_student_t_approaches_normal_and_is_fatter() -> None:
    n = normal_var(0.99, sd=1.0)
    t4 = student_t_var(0.99, nu=4.0, sd=1.0)
    t_big = student_t_var(0.99, nu=1e6, sd=1.0)
    assert t_big.var == pytest.approx(n.var, rel=1e-4)
    assert t_big.es == pytest.approx(n.es, rel=1e-4)
    assert t4.es > n.es
    assert t4.var == pytest.approx(2.649, abs=1e-3)
    assert t4.es == pytest.approx(3.692, abs=1e-3)


def test_cornish_fisher_reduces_to_normal() -> None:
    n = normal_var(0.99, sd=1.3, mean=0.2, horizon_days=3)
    cf = cornish_fisher_var(0.99, sd=1.3, mean=0.2, horizon_days=3)
    assert cf.var == pytest.approx(n.var, rel=1e-14)
    assert cf.es == pytest.approx(n.es, rel=1e-14)
    assert cf.details["monotone"] == 1.0


@pytest.mark.parametrize(("skew", "kurt"), [(0.5, 3.0), (-0.4, 1.0), (0.2, 6.0)])
def test_cornish_fisher_es_is_the_tail_integral(skew: float, kurt: float) -> None:
    """The closed-form ES equals numerical integration of the CF quantile over (level, 1)."""
    level = 0.975
    r = cornish_fisher_var(level, sd=1.0, skew=skew, excess_kurtosis=kurt)

    def w(u: float) -> float:
        z = stats.norm.ppf(u)
        return z + (z**2 - 1) * skew / 6 + (z**3 - 3 * z) * kurt / 24 - (2 * z**3 - 5 * z) * skew**2 / 36

    assert r.var == pytest.approx(w(level), rel=1e-12)
    tail, _ = integrate.quad(w, level, 1, limit=200)
    assert r.es == pytest.approx(tail / (1 - level), rel=1e-7)
    assert r.es >= r.var


def test_cornish_fisher_horizon_scales_cumulants() -> None:
    """Skew / sqrt(h) and excess kurtosis / h: i.i.d. cumulants add."""
    r = cornish_fisher_var(0.99, sd=1.0, skew=1.0, excess_kurtosis=4.0, horizon_days=4)
    assert r.details["skew"] == pytest.approx(0.5)
    assert r.details["excess_kurtosis"] == pytest.approx(1.0)
    assert r.details["sd"] == pytest.approx(2.0)


def test_cornish_fisher_flags_non_monotone_expansion() -> None:
    assert cornish_fisher_var(0.99, sd=1.0, skew=0.5, excess_kurtosis=3.0).details["monotone"] == 1.0
    assert cornish_fisher_var(0.99, sd=1.0, skew=3.0, excess_kurtosis=0.0).details["monotone"] == 0.0


def test_historical_known_sample() -> None:
    """Losses 1..100: lower empirical quantile and Acerbi-Tasche ES."""
    losses = np.arange(1.0, 101.0)
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(losses)
    r = historical_var(shuffled, 0.99)
    assert (r.var, r.es) == (99.0, 100.0)
    r = historical_var(shuffled, 0.975)
    assert r.var == 98.0
    assert r.es == pytest.approx((100 + 99 + 0.5 * 98) / 2.5)
    r = historical_var(shuffled, 0.95)
    assert r.var == 95.0
    assert r.es == pytest.approx(np.mean([96, 97, 98, 99, 100]))
    # P&L input: loss = -pnl.
    assert historical_var(-shuffled, 0.99, kind="pnl").var == 99.0


def test_historical_small_sample_uses_the_maximum() -> None:
    var, es, m = empirical_var_es(np.array([3.0, 1.0, 2.0]), 0.99)
    assert (var, es) == (3.0, 3.0)
    assert m == pytest.approx(0.03)


def test_monte_carlo_confidence_interval_brackets_truth() -> None:
    x = np.random.default_rng(3).standard_normal(200_000)
    r = monte_carlo_var(x, 0.99)
    truth = normal_var(0.99, sd=1.0)
    assert r.details["var_ci_low"] <= truth.var <= r.details["var_ci_high"]
    assert r.es == pytest.approx(truth.es, abs=4 * r.details["es_se"])
    assert r.method == "monte_carlo"


def test_var_from_sample_methods() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal(20_000) * 0.02 + 0.001
    n = var_from_sample(x, 0.99, method="normal")
    assert n.var == pytest.approx(0.001 + 0.02 * 2.3263, rel=0.03)
    t = var_from_sample(x, 0.99, method="t")
    assert t.details["nu"] > 20  # a normal sample fits a large nu
    cf = var_from_sample(x, 0.99, method="cornish_fisher")
    assert cf.var == pytest.approx(n.var, rel=0.02)
    h = var_from_sample(x, 0.99, method="historical", horizon_days=5)
    assert h.details["n_windows"] == x.size - 4
    assert h.var == pytest.approx(0.005 + 0.02 * math.sqrt(5) * 2.3263, rel=0.06)
    fixed = var_from_sample(rng.standard_t(4, 5000), 0.99, method="t", nu=4.0)
    assert fixed.details["nu"] == 4.0


def test_fhs_one_day_is_sigma_times_residual_quantile() -> None:
    z = np.random.default_rng(1).standard_t(5, 3000) / math.sqrt(5 / 3)
    a = fhs_var(z, 0.02, 0.99)
    b = fhs_var(z, 0.04, 0.99)
    ref = historical_var(-0.02 * z, 0.99)
    assert a.var == pytest.approx(ref.var, rel=1e-12)
    assert a.es == pytest.approx(ref.es, rel=1e-12)
    assert b.var == pytest.approx(2 * a.var, rel=1e-12)
    assert a.n == z.size


def test_fhs_constant_vol_bootstrap_variance_is_h_sigma2() -> None:
    z = np.random.default_rng(2).standard_normal(5000)
    z = (z - z.mean()) / z.std()
    paths = fhs_returns(z, 0.03, horizon_days=10, n_sims=40_000, seed=1)
    assert paths.shape == (40_000, 10, 1)
    assert paths.sum(axis=1).var() == pytest.approx(10 * 0.03**2, rel=0.03)


def test_fhs_garch_recursion_matches_variance_term_structure() -> None:
    """h-day variance = sum_j E[sigma2_{T+j}], sigma_bar^2 + p^(j-1) (sigma2_{T+1} - sigma_bar^2)."""
    z = np.random.default_rng(4).standard_normal(20_000)
    z = (z - z.mean()) / z.std()
    g = GarchParams(omega=1e-5, alpha=0.1, beta=0.85)
    sigma_bar2 = g.omega / (1 - g.persistence)
    s1 = 0.05
    h = 10
    expected = sum(sigma_bar2 + g.persistence ** (j - 1) * (s1**2 - sigma_bar2) for j in range(1, h + 1))
    paths = fhs_returns(z, s1, horizon_days=h, garch=g, n_sims=60_000, seed=7)
    assert paths.sum(axis=1)[:, 0].var() == pytest.approx(expected, rel=0.04)
    # High current vol mean-reverts: below the sqrt-of-time extrapolation of sigma_{T+1}.
    assert expected < h * s1**2
    res = fhs_var(z, s1, 0.99, horizon_days=h, garch=g, n_sims=20_000, seed=7)
    flat = fhs_var(z, s1, 0.99, horizon_days=h, n_sims=20_000, seed=7)
    assert res.var < flat.var


def test_fhs_garch_without_dynamics_equals_constant_vol() -> None:
    z = np.random.default_rng(8).standard_normal(1000)
    g = GarchParams(omega=0.02**2, alpha=0.0, beta=0.0)
    a = fhs_returns(z, 0.02, horizon_days=5, garch=g, n_sims=1000, seed=3)
    b = fhs_returns(z, 0.02, horizon_days=5, n_sims=1000, seed=3)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_fhs_multi_asset_resamples_rows_jointly() -> None:
    rng = np.random.default_rng(9)
    a = rng.standard_normal(2000)
    z = np.column_stack([a, a])  # perfectly dependent residuals
    paths = fhs_returns(z, [0.01, 0.03], horizon_days=3, n_sims=500, seed=1)
    np.testing.assert_allclose(paths[:, :, 1], 3 * paths[:, :, 0], rtol=1e-12)


def test_garch_filter_recursion() -> None:
    r = np.array([0.01, -0.02, 0.015, -0.03])
    g = GarchParams(omega=1e-6, alpha=0.05, beta=0.9, gamma=0.1)
    sigma, z = garch_filter(r, g, sigma2_0=4e-4)
    s2 = 4e-4
    for t, x in enumerate(r):
        assert sigma[t] == pytest.approx(math.sqrt(s2))
        assert z[t] == pytest.approx(x / math.sqrt(s2))
        s2 = g.omega + (g.alpha + (g.gamma if x < 0 else 0.0)) * x * x + g.beta * s2
    assert sigma[-1] == pytest.approx(math.sqrt(s2))


@pytest.mark.parametrize("level", [0.5, 1.0, 99, 0.0, float("nan"), True, "0.99"])
def test_level_is_validated(level: object) -> None:
    with pytest.raises(InputError, match="level"):
        normal_var(level, sd=1.0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="level"):
        historical_var([1.0, 2.0], level)  # type: ignore[arg-type]


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(InputError, match=r"sample\[1\] must be finite"):
        historical_var([1.0, float("nan")], 0.99)
    with pytest.raises(InputError, match="sample must not be empty"):
        historical_var([], 0.99)
    with pytest.raises(InputError, match="sample must be 1-D"):
        historical_var(np.ones((2, 2)), 0.99)
    with pytest.raises(InputError, match="kind"):
        historical_var([1.0], 0.99, kind="profit")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="sd must be > 0"):
        normal_var(0.99, sd=0.0)
    with pytest.raises(InputError, match="exactly one of sd or scale"):
        student_t_var(0.99, nu=4.0)
    with pytest.raises(InputError, match="nu must be > 2"):
        student_t_var(0.99, nu=2.0, sd=1.0)
    with pytest.raises(InputError, match="nu must be > 1"):
        student_t_var(0.99, nu=1.0, scale=1.0)
    with pytest.raises(InputError, match="horizon_days"):
        normal_var(0.99, sd=1.0, horizon_days=0)
    with pytest.raises(InputError, match="horizon_days must be a whole number"):
        fhs_var(np.ones(10), 0.01, 0.99, horizon_days=1.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="sigma_next"):
        fhs_returns(np.ones(10), -0.01)
    with pytest.raises(InputError, match=r"residuals\[3\] must be finite"):
        fhs_returns([1.0, 2.0, 3.0, float("nan")], 0.01)
    with pytest.raises(InputError, match=r"garch.alpha must be >= 0"):
        GarchParams(omega=1e-6, alpha=-0.1, beta=0.9)
    with pytest.raises(InputError, match="method"):
        var_from_sample(np.ones(10), 0.99, method="garch")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="zero variance"):
        var_from_sample(np.ones(10), 0.99, method="normal")
