"""Kelly's estimated drift: log to arithmetic with the variance of the drift's own sample.

The conversion added half the *forecast* variance, so a negative trailing log drift gave more
leverage at a higher volatility forecast (-15 %/yr, rolling mean, half Kelly: 0x at a 30 %
forecast, 0.042x at 60 %, 0.23x at 200 %).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.policies import Kelly


def _returns(seed: int, n: int, drift: float, scale: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(drift, scale, n)


def _state(r: np.ndarray, vol: float | None, side: int = 1) -> SizingState:
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT", side=side)
    return SizingState(equity=1e4, price=6e4, vol_forecast=vol, returns=r, periods_per_year=365.0, context=ctx)


def test_the_hunts_case_falls_with_the_forecast() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.03, 400)
    r = r - r[-365:].mean() - 0.15 / 365  # a trailing log drift of -15 %/yr
    k = Kelly(fraction=0.5, mu_estimator="rolling_mean", lookback=365, max_leverage=10)
    window = r[-365:]
    mu = (window.mean() + 0.5 * window.var(ddof=1)) * 365.0
    levs = []
    for v in (0.3, 0.6, 0.9, 1.2, 2.0):
        d = k.decide(_state(r, v))
        assert d.details["mu"] == pytest.approx(mu, rel=1e-9)  # the same at every forecast
        assert d.target_leverage == pytest.approx(0.5 * mu / v**2, rel=1e-9)
        levs.append(d.target_leverage)
    assert levs == sorted(levs, reverse=True)
    assert levs[0] == pytest.approx(0.0835, abs=5e-4)


def test_ewma_drift_uses_the_ewma_weighted_variance_of_the_same_weights() -> None:
    r = _returns(1, 200, -0.001, 0.02)
    lam, ppy = 0.94, 365.0
    n = r.shape[0]
    w = (1 - lam) * lam ** np.arange(n - 1, -1, -1)
    w[0] = lam ** (n - 1)  # seeded with the first return
    m = float(w @ r)
    var = float(w @ r**2) - m * m
    d = Kelly(fraction=1.0, mu_estimator="ewma_mean", lookback=30, lam=lam).decide(_state(r, 0.5))
    assert d.details["mu"] == pytest.approx((m + 0.5 * var) * ppy, rel=1e-9)


ESTIMATORS = st.sampled_from(["rolling_mean", "ewma_mean"])


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.floats(-0.01, 0.01),
    st.floats(0.001, 0.08),
    ESTIMATORS,
    st.floats(0.01, 3.0),
    st.floats(0.01, 3.0),
    st.sampled_from([-1, 1]),
)
def test_more_forecast_volatility_never_gives_more_kelly_leverage(
    seed: int, drift: float, scale: float, estimator: str, v1: float, v2: float, side: int
) -> None:
    r = _returns(seed, 80, drift, scale)
    k = Kelly(fraction=0.5, mu_estimator=estimator, lookback=40, max_leverage=1000.0)  # type: ignore[arg-type]
    lo, hi = sorted((v1, v2))
    assert k.decide(_state(r, hi, side)).target_leverage <= k.decide(_state(r, lo, side)).target_leverage
    n = r.shape[0]
    paths = [
        k.leverage_path(SeriesInputs(r, 365.0, vol_forecast=np.full(n, v), side=np.full(n, side))) for v in (lo, hi)
    ]
    assert np.all(paths[1] <= paths[0])


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.floats(-0.01, 0.01),
    st.floats(0.001, 0.08),
    ESTIMATORS,
    st.one_of(st.none(), st.floats(0.01, 3.0)),
    st.sampled_from([-1, 1]),
    st.integers(2, 60),
)
def test_decide_is_the_paths_last_bar(
    seed: int, drift: float, scale: float, estimator: str, vol: float | None, side: int, n: int
) -> None:
    r = _returns(seed, n, drift, scale)
    k = Kelly(fraction=0.5, mu_estimator=estimator, lookback=20, max_leverage=5.0)  # type: ignore[arg-type]
    inputs = SeriesInputs(r, 365.0, vol_forecast=None if vol is None else np.full(n, vol), side=np.full(n, side))
    assert k.decide(_state(r, vol, side)).target_leverage == pytest.approx(k.leverage_path(inputs)[-1], abs=1e-12)
