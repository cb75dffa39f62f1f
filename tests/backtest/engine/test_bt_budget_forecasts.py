"""Backtests budget against the liquidation forecaster (issue 13: one P(liq) path everywhere)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from levguard.backtest._policy_paths import SHARED_VOL_WARMUP
from levguard.backtest.engine import prepare
from levguard.core.risk.forecast import HourlyBars
from levguard.core.sizing.base import MarketContext, SizingState
from levguard.core.sizing.venue import LiquidationBudget
from levguard.data.frames import hourly_bars
from levguard.risk import liquidation_forecaster


def _bars(hours: int, minutes: int = 60, seed: int = 9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = hours * 60 // minutes
    r = rng.standard_t(4, size=n) * 0.005 * np.sqrt(minutes / 60)
    close = 30_000.0 * np.exp(np.cumsum(r))
    opens = np.concatenate([[30_000.0], close[:-1]])
    wig = np.abs(rng.normal(0.0, 0.001, size=(2, n)))
    idx = pd.date_range("2023-01-01", periods=n, freq=f"{minutes}min", tz="UTC")
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * (1 + wig[0]),
            "low": np.minimum(opens, close) * (1 - wig[1]),
            "close": close,
            "volume": 1e6,
        },
        index=idx,
    )


def test_the_budget_in_a_backtest_is_the_forecaster_at_each_close() -> None:
    data = _bars(24 * 120)
    policy = LiquidationBudget(0.01, 7.0, max_leverage=50.0)
    where = {"venue": "binance-usdm", "symbol": "BTCUSDT"}
    prep = prepare(data, np.ones(len(data)), policy, **where)
    lev = prep.leverage[:, 0]
    # The forecaster's week of warm-up: the GBM closed form on the EWMA volatility, as decide
    # without a forecaster (0 only in the EWMA's own warm-up); a forecast-only budget holds nothing.
    gbm = prepare(data, np.ones(len(data)), LiquidationBudget(0.01, 7.0, model="gbm", max_leverage=50.0), **where)
    only = prepare(data, np.ones(len(data)), LiquidationBudget(0.01, 7.0, model="forecast", max_leverage=50.0), **where)
    np.testing.assert_array_equal(lev[:168], gbm.leverage[:168, 0])
    assert np.all(lev[: SHARED_VOL_WARMUP - 1] == 0.0)
    assert np.all(lev[SHARED_VOL_WARMUP:168] > 1.0)
    assert np.all(only.leverage[:168, 0] == 0.0)
    assert lev[168] != gbm.leverage[168, 0]
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT")
    for t in (200, 24 * 40 + 5, 24 * 90, len(data) - 1):
        close_time = data.index[t] + pd.Timedelta("1h")
        state = SizingState(
            equity=10_000.0,
            price=float(data["close"].iloc[t]),
            context=ctx,
            liquidation_forecaster=liquidation_forecaster(data.iloc[: t + 1], close_time),
        )
        assert lev[t] == pytest.approx(policy.decide(state).target_leverage, rel=1e-9), t


def test_the_forecast_budget_differs_from_the_closed_form_one() -> None:
    data = _bars(24 * 120)
    ones = np.ones(len(data))
    fc = prepare(data, ones, LiquidationBudget(0.01, 7.0), venue="binance-usdm", symbol="BTCUSDT").leverage
    gbm = prepare(data, ones, LiquidationBudget(0.01, 7.0, model="gbm"), venue="binance-usdm", symbol="BTCUSDT")
    assert not np.allclose(fc[200:], gbm.leverage[200:])


def test_coarser_bars_fall_back_to_the_closed_form() -> None:
    data = (
        _bars(24 * 200)
        .resample("4h")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    )
    ones = np.ones(len(data))
    default = prepare(data, ones, LiquidationBudget(0.01, 7.0), venue="binance-usdm", symbol="BTCUSDT").leverage
    gbm = prepare(data, ones, LiquidationBudget(0.01, 7.0, model="gbm"), venue="binance-usdm", symbol="BTCUSDT")
    np.testing.assert_array_equal(default, gbm.leverage)


def test_finer_bars_are_aggregated_per_hour() -> None:
    fine = _bars(24 * 10, minutes=15)
    t = fine.index.as_unit("ns").asi8
    agg = HourlyBars.from_finer(t, fine["high"], fine["low"], fine["close"])
    hourly = fine.resample("1h").agg({"high": "max", "low": "min", "close": "last"})
    ref = hourly_bars(hourly)
    assert agg is not None
    assert agg.start_ns == ref.start_ns
    np.testing.assert_array_equal(agg.log_high, ref.log_high)
    np.testing.assert_array_equal(agg.log_low, ref.log_low)
    np.testing.assert_array_equal(agg.log_close, ref.log_close)
    coarse = fine.resample("4h").last()
    assert (
        HourlyBars.from_finer(coarse.index.as_unit("ns").asi8, coarse["high"], coarse["low"], coarse["close"]) is None
    )
