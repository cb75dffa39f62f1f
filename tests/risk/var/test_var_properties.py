"""Hypothesis properties of VaR and ES: ES >= VaR, monotone in level, positive homogeneity."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from levguard.core.risk.backtest import christoffersen, kupiec_pof
from levguard.core.risk.var import cornish_fisher_var, historical_var, normal_var, student_t_var

samples = arrays(
    np.float64,
    st.integers(1, 300),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
levels = st.floats(0.5, 0.999, exclude_min=True)
TOL = 1e-9


@settings(max_examples=150, deadline=None)
@given(samples, levels)
def test_es_at_least_var(x: np.ndarray, level: float) -> None:
    r = historical_var(x, level)
    assert r.es >= r.var
    assert x.min() <= r.var <= x.max()
    assert r.es <= x.max() + TOL * max(1.0, abs(x.max()))


@settings(max_examples=150, deadline=None)
@given(samples, levels, levels)
def test_var_and_es_monotone_in_level(x: np.ndarray, a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    r_lo, r_hi = historical_var(x, lo), historical_var(x, hi)
    assert r_lo.var <= r_hi.var
    scale = TOL * max(1.0, float(np.abs(x).max()))
    assert r_lo.es <= r_hi.es + scale


@settings(max_examples=150, deadline=None)
@given(samples, levels, st.floats(1e-3, 1e3))
def test_scaling_pnl_scales_var(x: np.ndarray, level: float, c: float) -> None:
    base = historical_var(x, level, kind="pnl")
    scaled = historical_var(c * x, level, kind="pnl")
    tol = 1e-9 * c * max(1.0, float(np.abs(x).max()))
    assert abs(scaled.var - c * base.var) <= tol
    assert abs(scaled.es - c * base.es) <= tol


@settings(max_examples=100, deadline=None)
@given(
    levels,
    st.floats(1e-4, 1e4),
    st.floats(-1e3, 1e3),
    st.floats(2.05, 200.0),
    st.floats(-0.5, 0.5),
    st.floats(0.0, 3.0),
)
def test_parametric_es_at_least_var_and_monotone(
    level: float, sd: float, mean: float, nu: float, skew: float, kurt: float
) -> None:
    for fn in (
        lambda lv: normal_var(lv, sd=sd, mean=mean),
        lambda lv: student_t_var(lv, nu=nu, sd=sd, mean=mean),
        lambda lv: cornish_fisher_var(lv, sd=sd, mean=mean, skew=skew, excess_kurtosis=kurt),
    ):
        r = fn(level)
        assert r.es >= r.var - 1e-9 * sd
        higher = fn(min(0.9999, level + 0.01))
        assert higher.var >= r.var - 1e-9 * sd


@settings(max_examples=100, deadline=None)
@given(arrays(np.bool_, st.integers(2, 400)), st.floats(0.9, 0.999))
def test_lr_statistics_are_finite_and_non_negative(exc: np.ndarray, level: float) -> None:
    k = kupiec_pof(exc, level)
    c = christoffersen(exc, level)
    for stat in (k.statistic, c.independence.statistic, c.statistic):
        assert np.isfinite(stat)
        assert stat >= 0.0
    assert 0.0 <= c.pvalue <= 1.0
    assert c.statistic == k.statistic + c.independence.statistic
