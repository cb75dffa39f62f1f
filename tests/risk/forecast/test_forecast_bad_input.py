"""Forecast arguments the third bad-input campaign (2026-12-06) found unchecked: a half-life
so long that every probability came out 0, integers past float64's range, an empty distance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.core.risk.excursion import ExcursionParams
from levguard.data import synth_market
from levguard.errors import InputError
from levguard.risk import liquidation_forecasts
from levguard.risk.forecast import liquidation_forecaster


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return synth_market(years=0.3, seed=1, interval="1h").ohlcv


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        # 0.5 ** (1 / 1e17) rounds to 1: the volatility was NaN and every probability 0.
        ({"long_half_life_h": 1e17}, "long_half_life_h must be at most 876000 hours, was 1e+17"),
        ({"short_half_life_h": 1e17, "short_weight": 1.0}, "short_half_life_h must be at most 876000 hours"),
        ({"short_weight": None}, "short_weight must be a number, was None"),  # TypeError before
        ({"tail_quantile": None}, "tail_quantile must be a number, was None"),
        ({"refit_days": 1e300}, "refit_days must be at most 36500 days"),  # OverflowError in the refit grid
        ({"refit_days": 1e-20}, "refit_days must be at least 1/24 (an hour), was 1e-20"),  # a 0 ns step
        ({"min_history_days": float("nan")}, "min_history_days must be finite, was nan"),
    ],
)
def test_excursion_params_are_bounded(params: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        ExcursionParams(**params)
    assert needle in str(exc.value)


def test_the_longest_half_life_still_forecasts(bars: pd.DataFrame) -> None:
    p = liquidation_forecasts(
        bars, bars.index[-1], "long", [1e-4, 0.05], [30, 30], params=ExcursionParams(long_half_life_h=876_000.0)
    )
    assert np.isfinite(p).all()
    assert p[0] > p[1] > 0.0


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", 10**400, 1), "distance must be numbers within"),
        (
            lambda b, f: liquidation_forecasts(b, b.index[-1], "long", 0.05, 10**400),
            "horizon_days must be a number within float64 range",
        ),
        (lambda b, f: f.prob(1, 10**400, 24), "distance and hours must be numbers within float64 range"),
        (lambda b, f: f.prob(1, 0.05, 10**400), "were 0.05 and <integer of about 401 digits>"),
    ],
)
def test_integers_past_float64_are_input_errors(bars: pd.DataFrame, call: Callable[..., Any], needle: str) -> None:
    forecaster = liquidation_forecaster(bars)
    with pytest.raises(InputError) as exc:  # each was an OverflowError
        call(bars, forecaster)
    assert needle in str(exc.value)


def test_no_distance_is_no_forecast(bars: pd.DataFrame) -> None:
    # The fitted forecaster raised NumPy's ValueError where liquidation_forecasts returned [].
    assert liquidation_forecaster(bars).prob(1, [], 24).shape == (0,)
    assert liquidation_forecasts(bars, bars.index[-1], "long", [], 1).shape == (0,)
