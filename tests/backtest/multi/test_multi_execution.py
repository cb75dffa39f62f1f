"""Limit execution (maker fee, fill at the limit or expire) and the initial-margin check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from multi_helpers import frame

from levguard.backtest.engine import run
from levguard.core.tiers import TierTable


def _flat(low: np.ndarray) -> pd.DataFrame:
    close = np.full(low.shape[0], 100.0)
    return frame(close, low=low, high=close * 1.001, wick=0.0)


def test_limit_fills_at_limit_with_maker_fee_when_low_reaches_it() -> None:
    low = np.full(6, 99.0)  # every bar trades down to 99
    df = _flat(low)
    res = run(df, np.ones(6), 2.0, execution="limit", limit_offset_bps=50.0, fees=(0.0005, 0.0002), rebalance="never")
    tr = res.trades
    assert len(tr) == 1
    limit = 100.0 * (1 - 0.005)
    assert tr["kind"].iloc[0] == "limit"
    assert tr["timestamp"].iloc[0] == df.index[1]
    assert tr["price"].iloc[0] == pytest.approx(limit, rel=1e-15)
    qty = 2.0 * 10_000.0 / 100.0
    assert tr["qty"].iloc[0] == pytest.approx(qty)
    assert tr["fee"].iloc[0] == pytest.approx(0.0002 * qty * limit, rel=1e-12)
    assert res.metrics["limit_orders_unfilled"] == 0.0


def test_limit_unfilled_when_low_stays_above_and_counted() -> None:
    low = np.full(8, 99.9)
    low[5] = 99.5  # first bar trading through the 99.6 limit
    df = _flat(low)
    res = run(df, np.ones(8), 2.0, execution="limit", limit_offset_bps=40.0, fees=(0.0005, 0.0002), rebalance="never")
    # Orders decided at bars 0..3 expire at bars 1..4; the one decided at 4 fills at bar 5.
    assert res.metrics["limit_orders_unfilled"] == 4.0
    assert len(res.trades) == 1
    assert res.trades["timestamp"].iloc[0] == df.index[5]
    assert res.trades["price"].iloc[0] == pytest.approx(99.6)
    assert (res.positions["qty"].iloc[:5] == 0.0).all()
    # Market execution fills at the next open with the taker fee regardless.
    mkt = run(df, np.ones(8), 2.0, fees=(0.0005, 0.0002), rebalance="never")
    assert mkt.trades["timestamp"].iloc[0] == df.index[1]
    assert mkt.trades["fee"].iloc[0] == pytest.approx(0.0005 * 200.0 * 100.0)


MAX20 = TierTable.from_rows([{"notional_floor": 0, "notional_cap": None, "mmr": 0.005, "max_leverage": 20}])


@pytest.mark.parametrize("check", [True, False])
def test_initial_margin_check_clips_to_tier_max_leverage(check: bool) -> None:
    close = np.full(10, 100.0)
    df = frame(close, wick=0.0)
    res = run(df, np.ones(10), 50.0, tiers=MAX20, fees=0.0, check_initial_margin=check, rebalance="never")
    assert res.liquidations.empty
    first = res.trades.iloc[0]
    lev_at_fill = abs(first["qty"]) * first["price"] / res.equity.iloc[0]
    if check:
        assert lev_at_fill == pytest.approx(20.0, rel=1e-12)
        assert res.metrics["orders_clipped"] > 0
    else:
        assert lev_at_fill == pytest.approx(50.0, rel=1e-12)
        assert res.metrics["orders_clipped"] == 0.0


def test_a_refused_increase_keeps_the_position_it_does_not_cut_it() -> None:
    # 30x wanted where 20x is the most: the fill at 100 opens 20x (2,000 units on 10,000).  At
    # 99.5 the equity is 9,000 and the 199,000 held is 22.1x: below the target, so the policy
    # asks for more, and 20x of the equity (180,000) is less than the position.  The venue
    # refuses the increase; it does not reduce the position to 180,000.
    close = np.array([100.0, 100.0, 99.5, 99.5, 99.5, 99.5])
    res = run(frame(close, wick=0.0), np.ones(6), 30.0, tiers=MAX20, fees=0.0, rebalance="band")
    assert len(res.trades) == 1
    assert res.trades["qty"].iloc[0] == pytest.approx(2_000.0, rel=1e-12)
    held = res.positions["qty"].to_numpy()[1:]
    assert held == pytest.approx(np.full(held.shape, 2_000.0), rel=1e-12)
    assert res.metrics["orders_clipped"] >= 4


def test_no_position_beyond_the_last_tiers_cap() -> None:
    """The last bracket's published cap is the largest position (Binance ``notionalCap``): 5x on
    10,000,000 where the last bracket (5x) ends at 20,000,000 opens 20,000,000, clipped and
    counted; it opened 50,000,000.  Tiers without a published cap open it whole."""
    capped = TierTable.from_rows(
        [
            {"notional_floor": 0, "notional_cap": 1e6, "mmr": 0.01, "max_leverage": 20},
            {"notional_floor": 1e6, "notional_cap": 2e7, "mmr": 0.05, "max_leverage": 5},
        ]
    )
    open_ended = TierTable.from_rows([*capped.to_rows()[:1], {**capped.to_rows()[1], "notional_cap": None}])
    df = frame(np.full(6, 100.0), wick=0.0)
    kw = {"fees": 0.0, "slippage": 0.0, "initial_equity": 1e7, "rebalance": "never"}
    res = run(df, np.ones(6), 5.0, tiers=capped, **kw)
    assert abs(res.trades["qty"].iloc[0]) * 100.0 == pytest.approx(2e7, rel=1e-12)
    assert res.metrics["orders_clipped"] == 1.0
    free = run(df, np.ones(6), 5.0, tiers=open_ended, **kw)
    assert abs(free.trades["qty"].iloc[0]) * 100.0 == pytest.approx(5e7, rel=1e-12)
    assert free.metrics["orders_clipped"] == 0.0
