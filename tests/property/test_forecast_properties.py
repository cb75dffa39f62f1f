"""Invariants of the liquidation forecaster (issue 13): monotone in distance and horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.risk import liquidation_forecasts

SETTINGS = settings(max_examples=60, deadline=None)


def _market(seed: int, hours: int = 24 * 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.standard_t(3, size=hours) * 0.004
    close = 100.0 * np.exp(np.cumsum(r))
    opens = np.concatenate([[100.0], close[:-1]])
    wig = np.abs(rng.normal(0.0, 0.002, size=(2, hours)))
    idx = pd.date_range("2023-01-01", periods=hours, freq="1h", tz="UTC")
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * (1 + wig[0]),
            "low": np.minimum(opens, close) * (1 - wig[1]),
            "close": close,
        },
        index=idx,
    )


MARKETS = {seed: _market(seed) for seed in (1, 2, 3)}
models = st.sampled_from(["default", "naive"])
markets = st.sampled_from(sorted(MARKETS))
as_of_hours = st.integers(200, 24 * 200)
sides = st.sampled_from(["long", "short"])
distances = st.floats(0.0, 0.9, allow_nan=False)
horizons = st.floats(1 / 24, 30.0, allow_nan=False)


@SETTINGS
@given(markets, as_of_hours, sides, distances, distances, horizons, models)
def test_more_distance_never_raises_the_probability(
    seed: int, hour: int, side: str, d1: float, d2: float, days: float, model: str
) -> None:
    m = MARKETS[seed]
    t = m.index[0] + pd.Timedelta(hours=hour)
    near, far = sorted((d1, d2))
    p = liquidation_forecasts(m, t, side, [near, far], days, model=model)
    assert 0.0 <= p[1] <= p[0] <= 1.0


@SETTINGS
@given(markets, as_of_hours, sides, distances, horizons, horizons, models)
def test_a_longer_horizon_never_lowers_the_probability(
    seed: int, hour: int, side: str, d: float, h1: float, h2: float, model: str
) -> None:
    m = MARKETS[seed]
    t = m.index[0] + pd.Timedelta(hours=hour)
    short, long_ = sorted((h1, h2))
    p = liquidation_forecasts(m, t, side, d, [short, long_], model=model)
    # Up to rounding: two horizons interpolated between the same grid points may land one ulp
    # apart the wrong way (seen: 9.52180849698587e-07 at 1 day vs ...869e-07 at 2.5 days).
    assert 0.0 <= p[0] <= p[1] * (1.0 + 1e-12)
    assert p[1] <= 1.0


@SETTINGS
@given(markets, as_of_hours, st.floats(0.001, 0.9), horizons)
def test_a_long_is_never_likelier_to_be_hit_than_a_short_at_the_same_distance(
    seed: int, hour: int, d: float, days: float
) -> None:
    # The pooled excursions are the same for both sides and a long needs the larger log move
    # (-ln(1 - d) > ln(1 + d)).
    m = MARKETS[seed]
    t = m.index[0] + pd.Timedelta(hours=hour)
    p = liquidation_forecasts(m, t, ["long", "short"], d, days)
    assert p[0] <= p[1]


@pytest.mark.parametrize("model", ["default", "naive"])
def test_zero_distance_is_certain(model: str) -> None:
    m = MARKETS[1]
    assert liquidation_forecasts(m, m.index[-1], ["long", "short"], 0.0, 1, model=model).tolist() == [1.0, 1.0]
