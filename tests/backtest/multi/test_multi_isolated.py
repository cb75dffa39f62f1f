"""Isolated sleeves: a liquidation in one sleeve leaves the others untouched."""

from __future__ import annotations

import numpy as np
import pytest
from multi_helpers import crash_frame, random_frame

from levguard.backtest.engine import run

N = 80


def test_liquidated_sleeve_does_not_touch_the_other() -> None:
    crash = crash_frame(n_flat=10, n_down=30, step=0.01, n=N)
    calm = random_frame(n=N, seed=41, sigma=0.004, start=2_000.0)
    d = {"BTCUSDT": np.ones(N), "ETHUSDT": np.ones(N)}
    both = run(
        {"BTCUSDT": crash, "ETHUSDT": calm},
        d,
        {"BTCUSDT": 20.0, "ETHUSDT": 3.0},
        margin_mode="isolated",
        weights={"BTCUSDT": 0.5, "ETHUSDT": 0.5},
        fees=0.0004,
        rebalance="never",
    )
    assert len(both.liquidations) >= 1
    assert set(both.liquidations["symbol"]) == {"BTCUSDT"}
    alone = run(
        {"ETHUSDT": calm},
        np.ones(N),
        3.0,
        margin_mode="isolated",
        weights={"ETHUSDT": 0.5},
        fees=0.0004,
        rebalance="never",
    )
    eth_both = both.instruments["ETHUSDT"]
    eth_alone = alone.instruments["ETHUSDT"]
    np.testing.assert_allclose(eth_both["capital"].to_numpy(), eth_alone["capital"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(eth_both["qty"].to_numpy(), eth_alone["qty"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        eth_both["liquidation_price"].to_numpy(), eth_alone["liquidation_price"].to_numpy(), rtol=1e-12
    )
    # The account is the sum of its sleeves.
    total = both.instruments["BTCUSDT"]["capital"] + eth_both["capital"]
    np.testing.assert_allclose(both.equity.to_numpy(), total.to_numpy(), rtol=1e-12)
    # In cross the same crash drags the ETH position's collateral down with it.
    cross = run(
        {"BTCUSDT": crash, "ETHUSDT": calm},
        d,
        {"BTCUSDT": 20.0, "ETHUSDT": 3.0},
        margin_mode="cross",
        fees=0.0004,
        rebalance="never",
    )
    k = int(np.searchsorted(crash.index, both.liquidations["timestamp"].iloc[0]))
    assert not np.allclose(
        cross.instruments["ETHUSDT"]["liquidation_price"].iloc[k - 1],
        both.instruments["ETHUSDT"]["liquidation_price"].iloc[k - 1],
    )


def test_isolated_unallocated_capital_stays_in_equity() -> None:
    df = random_frame(n=50, seed=42)
    res = run({"BTCUSDT": df}, np.zeros(50), 2.0, margin_mode="isolated", weights={"BTCUSDT": 0.5})
    # Flat throughout: nothing traded, nothing paid; the account still holds its 10,000.
    assert res.trades.empty
    assert res.equity.iloc[0] == pytest.approx(10_000.0)
    assert res.metrics["total_return"] == pytest.approx(0.0)


def test_cross_unallocated_capital_stays_in_equity() -> None:
    """The cross-margin counterpart of the xfail above passes: the two modes disagree."""
    df = random_frame(n=50, seed=42)
    res = run({"BTCUSDT": df}, np.zeros(50), 2.0, margin_mode="cross", weights={"BTCUSDT": 0.5})
    assert res.equity.iloc[-1] == pytest.approx(10_000.0)
