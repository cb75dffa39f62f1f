"""The engine gives venue-aware policies the run's venue context and a volatility forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd

from levguard.backtest.engine import run
from levguard.backtest.strategies import BuyAndHold
from levguard.core.sizing.base import Composite
from levguard.core.sizing.policies import VolatilityTarget
from levguard.core.sizing.venue import LiquidationBudget, TierCap


def _data(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    op = np.concatenate(([close[0]], close[:-1]))
    return pd.DataFrame(
        {
            "open": op,
            "high": np.maximum(op, close) * 1.002,
            "low": np.minimum(op, close) * 0.998,
            "close": close,
            "volume": 100.0,
        },
        index=idx,
    )


def test_liquidation_budget_trades_with_the_runs_venue_and_vol_forecast() -> None:
    """Without the injected context and EWMA forecast the budget would answer 0 (no tiers, no forecast)."""
    policy = LiquidationBudget(max_prob=0.01, horizon_days=7, max_leverage=10.0)
    res = run(_data(), BuyAndHold(), policy, venue="binance-usdm")
    lev = res.positions["leverage"].to_numpy()
    assert lev[100:].max() > 1.0
    assert policy.context is None  # the caller's policy is not modified


def test_composite_members_get_the_context_too() -> None:
    comp = Composite(
        VolatilityTarget(target_vol=0.5, max_leverage=5.0),
        TierCap(),
        LiquidationBudget(max_prob=0.01, horizon_days=7, max_leverage=10.0),
    )
    res = run(_data(), BuyAndHold(), comp, venue="binance-usdm")
    assert res.positions["leverage"].to_numpy()[100:].max() > 0.5
