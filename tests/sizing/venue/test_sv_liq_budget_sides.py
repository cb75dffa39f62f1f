"""LiquidationBudget paths of a strategy that flips sides: each bar budgets the side it holds.

The path read ``context.side`` for every bar, and the backtester filled it with the first trade's
side: a strategy long for 30 days and then short had its short bars sized as longs (BTCUSDT 2022,
1 % in 7 days: 3.89x where a short's ``decide`` gives 2.90x, P(liquidation) 0.048 instead of 0.01).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.engine import prepare
from levguard.core.risk.forecast import HourlyBars, forecast_path
from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.venue import LiquidationBudget
from levguard.core.tiers import TierTable
from levguard.risk import liquidation_forecaster

HOUR = 3_600_000_000_000
TIERS = TierTable.from_max_leverage([(0, 50), (5e4, 25), (5e5, 10), (5e6, 5)])
CTXS = (
    # A long pays funding here, a short receives it: the funding distance is the side's too.
    MarketContext(tiers=TIERS, funding_rate=0.0004),
    MarketContext(venue="binance-usdm", symbol="BTCUSDT", funding_rate=-0.0003),
    MarketContext(venue="binance-coinm", symbol="BTCUSD", mmr=0.005),
    # Deribit's size-scaled rate: the Python path.
    MarketContext(venue="deribit", symbol="BTC_USDC-PERPETUAL"),
)
N = 24 * 6


def _equity(ctx: MarketContext, rng: np.random.Generator) -> np.ndarray:
    # USDT or USDC; coins on an inverse venue.
    return rng.uniform(1e3, 2e5, N) * (1e-4 if ctx.venue == "binance-coinm" else 1.0)


def _hourly(n: int, seed: int) -> HourlyBars:
    rng = np.random.default_rng(seed)
    r = rng.standard_t(3, size=n) * 0.006 / np.sqrt(3.0)
    close = 30_000.0 * np.exp(np.cumsum(r))
    opens = np.concatenate([[30_000.0], close[:-1]])
    wig = np.abs(rng.normal(0.0, 0.002, size=(2, n)))
    t0 = pd.Timestamp("2022-01-01", tz="UTC").value
    return HourlyBars.from_arrays(
        t0 + np.arange(n, dtype=np.int64) * HOUR,
        np.maximum(opens, close) * (1 + wig[0]),
        np.minimum(opens, close) * (1 - wig[1]),
        close,
    )


def _sides(n: int) -> np.ndarray:
    # Long, short, flat (budgeted as a long, as GapCap and Kelly read it), short again.
    side = np.ones(n)
    side[n // 4 : n // 2] = -1.0
    side[n // 2 : n // 2 + 5] = 0.0
    side[3 * n // 4 :] = -1.0
    return side


def _check(policy: LiquidationBudget, ctx: MarketContext, lev: np.ndarray, states: list[SizingState]) -> None:
    side = _sides(len(states))
    for t in range(0, len(states), 7):
        held = replace(ctx, side=-1 if side[t] < 0 else 1)
        expected = policy.decide(replace(states[t], context=held)).target_leverage
        assert expected > 0.0
        assert lev[t] == pytest.approx(expected, rel=1e-8), (t, side[t])
    short, long = side < 0, side > 0
    assert not np.allclose(lev[short][:5], lev[long][:5])  # the sides do differ


@pytest.mark.parametrize("ctx", CTXS)
def test_forecast_path_of_a_flipping_strategy_equals_decide_for_each_bars_side(ctx: MarketContext) -> None:
    bars = _hourly(24 * 40, 5)
    ts = bars.end_ns - np.arange(N, 0, -1, dtype=np.int64) * HOUR + HOUR
    path = forecast_path(bars, ts)
    px = np.exp(bars.log_close[-N:])
    eq = _equity(ctx, np.random.default_rng(2))
    policy = LiquidationBudget(0.01, 7.0, max_leverage=60.0, context=ctx)
    inputs = SeriesInputs(np.zeros(N), price=px, equity=eq, liquidation_forecasts=path, side=_sides(N))
    lev = policy.leverage_path(inputs)
    states = [
        SizingState(equity=float(eq[t]), price=float(px[t]), context=ctx, liquidation_forecaster=path.at(t))
        for t in range(N)
    ]
    _check(policy, ctx, lev, states)


@pytest.mark.parametrize("ctx", CTXS)
def test_closed_form_path_of_a_flipping_strategy_equals_decide_for_each_bars_side(ctx: MarketContext) -> None:
    rng = np.random.default_rng(4)
    vol = rng.uniform(0.3, 1.5, N)
    px = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, N)))
    eq = _equity(ctx, rng)
    policy = LiquidationBudget(0.01, 7.0, max_leverage=60.0, model="gbm", context=ctx)
    lev = policy.leverage_path(SeriesInputs(np.zeros(N), vol_forecast=vol, price=px, equity=eq, side=_sides(N)))
    states = [
        SizingState(equity=float(eq[t]), price=float(px[t]), context=ctx, vol_forecast=float(vol[t])) for t in range(N)
    ]
    _check(policy, ctx, lev, states)


def test_without_sides_the_path_is_the_contexts_side() -> None:
    rng = np.random.default_rng(6)
    vol = rng.uniform(0.3, 1.5, 20)
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT", side=-1, funding_rate=-0.0003)
    policy = LiquidationBudget(0.01, 7.0, model="gbm", context=ctx)
    px, eq = np.full(20, 30_000.0), np.full(20, 1e4)
    alone = policy.leverage_path(SeriesInputs(np.zeros(20), vol_forecast=vol, price=px, equity=eq))
    shorts = policy.leverage_path(SeriesInputs(np.zeros(20), vol_forecast=vol, price=px, equity=eq, side=-np.ones(20)))
    assert np.array_equal(alone, shorts)


@pytest.mark.shared_data
def test_btcusdt_2022_long_then_short_budgets_the_short_as_a_short(shared_dir: Path) -> None:
    # BTCUSDT 2022, 1 % in 7 days, long for 30 days then short: on 2022-03-02 the short was sized
    # as a long, 3.8948x (P(liquidation of the short) 0.048); a short's decide gives 2.8950x.
    from levguard.data.loaders import load_ohlcv
    from levguard.data.perp import perp_frame

    d = shared_dir / "data" / "ohlcv"
    data = perp_frame(load_ohlcv(d / "BTCUSDT-PERP_1h.csv"), load_ohlcv(d / "BTCUSDT-MARK_1h.csv", kind="mark"))
    t = 24 * 60
    data = data.loc["2022-01-01":].iloc[: t + 1]  # the forecaster at t reads nothing after t
    dirs = np.where(np.arange(len(data)) < 24 * 30, 1.0, -1.0)
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT", side=-1)
    policy = LiquidationBudget(0.01, 7.0, max_leverage=100.0)
    lev = prepare(data, dirs, policy, venue="binance-usdm", symbol="BTCUSDT").leverage[:, 0]
    price = float(data["close"].iloc[t])
    fc = liquidation_forecaster(data.iloc[: t + 1], data.index[t] + pd.Timedelta("1h"))
    state = SizingState(equity=10_000.0, price=price, context=ctx, liquidation_forecaster=fc)
    decided = LiquidationBudget(0.01, 7.0, max_leverage=100.0, context=ctx).decide(state).target_leverage
    assert decided == pytest.approx(2.8950, abs=5e-5)
    assert lev[t] == pytest.approx(decided, rel=1e-9)
    p = policy.forecast_prob(ctx, price, policy.liquidation_price(ctx, 10_000.0, price, lev[t]), fc)
    assert p == pytest.approx(0.01, rel=1e-6)
