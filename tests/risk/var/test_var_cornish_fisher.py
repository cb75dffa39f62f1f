"""Cornish-Fisher VaR/ES outside the expansion's domain: the rearranged quantile function.

Before the fix ``cornish_fisher_var`` read VaR and ES off the raw expansion wherever it was not
monotone: S = 2, K = 1 at 0.99 gave ES 2.313 < VaR 2.525, and a window of XRPUSDT daily returns
(loss skew -6.05, excess kurtosis 64.6) a negative VaR and ES that crashed ``var_backtest``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtri

from levguard.core.risk.cornish_fisher import cf_coefficients, cf_is_monotone, cf_rearranged_var_es
from levguard.core.risk.var import cornish_fisher_var, var_from_sample
from levguard.risk.var import var_backtest


def _coefficients(skew: float, kurt: float) -> tuple[float, float, float, float]:
    c0, c1, c2, c3 = (float(c) for c in cf_coefficients(skew, kurt))
    return c0, c1, c2, c3


def _sorted_grid(skew: float, kurt: float, level: float, n: int = 2_000_000) -> tuple[float, float]:
    """VaR and ES of the rearrangement as Chernozhukov et al. state it: sort the CF quantiles
    over a fine grid of probabilities, VaR at the level, ES the mean of those beyond it."""
    c0, c1, c2, c3 = _coefficients(skew, kurt)
    z = ndtri((np.arange(n) + 0.5) / n)
    q = np.sort(c0 + z * (c1 + z * (c2 + z * c3)))
    k = int(np.ceil(n * level))
    return float(q[k - 1]), float(q[k:].mean())


@pytest.mark.parametrize(
    ("skew", "kurt", "level"),
    [
        (2.0, 1.0, 0.99),
        (-1.5, 0.0, 0.99),
        (0.0, -1.0, 0.99),
        (3.0, 0.0, 0.975),
        (-6.05, 64.6, 0.975),
        (1.0, 10.0, 0.99),
    ],
)
def test_outside_the_domain_var_and_es_are_those_of_the_sorted_quantiles(
    skew: float, kurt: float, level: float
) -> None:
    r = cornish_fisher_var(level, sd=1.0, skew=skew, excess_kurtosis=kurt)
    assert r.details["monotone"] == 0.0
    var, es = _sorted_grid(skew, kurt, level)
    assert r.var == pytest.approx(var, rel=2e-3)
    assert r.es == pytest.approx(es, rel=2e-3)
    assert r.es >= r.var


def test_skew_2_kurtosis_1_no_longer_gives_es_below_var() -> None:
    # Reported: VaR 2.525, ES 2.313 (the raw expansion turns down beyond z = 2.35).
    r = cornish_fisher_var(0.99, sd=1.0, skew=2.0, excess_kurtosis=1.0)
    assert r.var == pytest.approx(2.5040, abs=1e-4)
    assert r.es == pytest.approx(2.8940, abs=1e-4)


@pytest.mark.parametrize(("skew", "kurt"), [(0.0, 0.0), (0.5, 3.0), (-0.4, 1.0), (0.2, 6.0), (1.0, 8.0)])
@pytest.mark.parametrize("level", [0.9, 0.975, 0.99, 0.999])
def test_inside_the_domain_the_rearrangement_is_the_closed_form(skew: float, kurt: float, level: float) -> None:
    """Where w increases, sorting changes nothing: the exact rearrangement equals the closed form
    (which the function keeps there)."""
    c = _coefficients(skew, kurt)
    assert cf_is_monotone(c[1], c[2], c[3])
    r = cornish_fisher_var(level, sd=1.0, skew=skew, excess_kurtosis=kurt)
    var, es = cf_rearranged_var_es(c, level)
    assert var == pytest.approx(r.var, rel=1e-10)
    assert es == pytest.approx(r.es, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    st.floats(-8.0, 8.0),
    st.floats(-3.0, 100.0),
    st.floats(0.9, 0.999),
    st.floats(0.9, 0.999),
)
def test_es_at_least_var_and_both_increase_with_the_level(skew: float, kurt: float, a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    r_lo = cornish_fisher_var(lo, sd=1.0, skew=skew, excess_kurtosis=kurt)
    r_hi = cornish_fisher_var(hi, sd=1.0, skew=skew, excess_kurtosis=kurt)
    tol = 1e-9 * max(1.0, abs(r_hi.es))
    assert r_lo.es >= r_lo.var - tol
    assert r_hi.es >= r_hi.var - tol
    assert r_hi.var >= r_lo.var - tol
    assert r_hi.es >= r_lo.es - tol


def _one_big_gain() -> np.ndarray:
    # 400 quiet days and one gain of 35 %: the 250-day loss windows holding it have skew about -12
    # and excess kurtosis about 180, far outside the expansion's domain.
    r = np.random.default_rng(7).standard_normal(400) * 0.01
    r[150] = 0.35
    return r


def test_synthetic_window_outside_the_domain_backtests() -> None:
    """The raw expansion forecast a negative VaR and ES (-0.344) for these windows and the backtest
    died in the Z2 test; the rearranged forecasts are positive losses with ES >= VaR."""
    r = _one_big_gain()
    w = -r[100:350]
    assert var_from_sample(w, 0.975, method="cornish_fisher").details["monotone"] == 0.0
    b = var_backtest(r, method="cornish_fisher", window=250, level=0.975, n_sims=100, seed=0)
    f = b.forecasts
    assert (f["var"] > 0.0).all()
    assert (f["es"] >= f["var"]).all()
    assert b.z2.verdict in ("accept", "reject")


def test_a_window_of_gains_leaves_z2_not_computable() -> None:
    """ES <= 0 (every day of the window a gain) stopped the whole backtest with an InputError
    about es_forecasts[0]; now Z2 alone is not computable and says why."""
    up = np.abs(np.random.default_rng(3).standard_normal(200)) * 0.01 + 0.001
    days = pd.date_range("2024-01-01", periods=200, tz="UTC")
    b = var_backtest(pd.Series(up, index=days), method="historical", window=50, n_sims=100, seed=0)
    assert b.z2.verdict == "not computable"
    assert np.isnan(b.z2.statistic)
    assert np.isnan(b.z2.pvalue)
    assert "ES forecast is <= 0 on 150 day(s), the first at 2024-02-20" in b.z2.reason
    assert b.kupiec.n == 150
    assert b.summary().loc["acerbi_szekely_z2", "verdict"] == "not computable"


@pytest.mark.shared_data
def test_xrp_daily_cornish_fisher_backtest(shared_dir: Path) -> None:
    """The reported case: XRPUSDT-PERP daily log returns, 250-day windows at 97.5 %.  The window
    before 2023-07-18 (loss skew -6.05, excess kurtosis 64.6) gave VaR -0.0918 and ES -0.0177 and
    the backtest raised; rearranged, VaR 0.0795 and ES 0.0968 (historical: 0.0623, 0.0881)."""
    path = shared_dir / "data" / "ohlcv" / "XRPUSDT-PERP_1d.csv"
    if not path.is_file():
        pytest.skip("shared XRPUSDT-PERP_1d.csv is not present")
    close = pd.read_csv(path, index_col=0, parse_dates=True)["close"]
    r = np.log(close).diff().dropna()
    b = var_backtest(r, method="cornish_fisher", window=250, level=0.975, n_sims=100, seed=0)
    f = b.forecasts
    assert len(f) == r.size - 250
    assert (f["es"] >= f["var"]).all()
    assert (f["es"] > 0.0).all()
    day = f.loc[pd.Timestamp("2023-07-18", tz=f.index.tz)]
    assert day["var"] == pytest.approx(0.0795, abs=5e-4)
    assert day["es"] == pytest.approx(0.0968, abs=5e-4)
    assert b.z2.verdict in ("accept", "reject")
