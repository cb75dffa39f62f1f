"""The engine gives venue-aware policies the run's venue context and a volatility forecast."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.backtest.engine import run
from levguard.backtest.strategies import BuyAndHold
from levguard.core.sizing.base import Composite, FixedLeverage, SeriesInputs
from levguard.core.sizing.policies import Kelly, VolatilityTarget
from levguard.core.sizing.regime import RegimeSwitch
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


def _own_path(policy: Any, df: pd.DataFrame) -> np.ndarray:
    # The policy's target from its own estimator (no forecast given), as positions show it: the
    # decision at a bar's close is the target of the next bar.
    r = np.concatenate(([0.0], np.diff(np.log(df["close"].to_numpy()))))
    return np.concatenate(([0.0], policy.leverage_path(SeriesInputs(r, 8760.0))[:-1]))


@pytest.mark.parametrize(
    "policy",
    [
        VolatilityTarget(target_vol=0.5, max_leverage=5.0),  # the defaults: the shared forecast itself
        VolatilityTarget(target_vol=0.5, lam=0.5, max_leverage=5.0),
        VolatilityTarget(target_vol=0.5, lookback=100, max_leverage=5.0),
        VolatilityTarget(target_vol=0.5, estimator="close_to_close", lookback=5, max_leverage=5.0),
        Kelly(fraction=0.5, mu_estimator="ewma_mean", sigma_estimator="close_to_close", lam=0.9, max_leverage=5.0),
    ],
    ids=["defaults", "lam", "lookback", "close_to_close", "kelly"],
)
def test_a_policy_with_its_own_estimator_settings_uses_them(policy: Any) -> None:
    """The run's shared forecast (EWMA 0.94 after 30 bars) is a VolatilityTarget's defaults; other
    estimator settings were ignored (a sweep over lam, estimator and lookback gave equal rows)."""
    df = _data()
    res = run(df, BuyAndHold(), policy, venue="binance-usdm")
    target = res.positions["target_leverage"].to_numpy()
    np.testing.assert_allclose(target, _own_path(policy, df), rtol=1e-12, atol=1e-12)


def test_own_estimators_inside_composites_and_regime_switches() -> None:
    df = _data(600)
    own = VolatilityTarget(target_vol=0.5, estimator="close_to_close", lookback=5, max_leverage=5.0)
    comp = Composite(own, FixedLeverage(4.0))
    res = run(df, BuyAndHold(), comp, venue="binance-usdm")
    np.testing.assert_allclose(res.positions["target_leverage"], np.minimum(_own_path(own, df), 4.0), rtol=1e-12)
    switch = RegimeSwitch({"calm": own, "stress": own}, min_obs=10, lookback=100)
    res = run(df, BuyAndHold(), switch, venue="binance-usdm")
    np.testing.assert_allclose(res.positions["target_leverage"], _own_path(own, df), rtol=1e-12, atol=1e-12)
    assert isinstance(switch.policies["calm"], VolatilityTarget)  # the caller's policy is not modified
