"""The backtester's liquidation process: the strict trigger of dYdX and Hyperliquid, the account's
equity in cross-margin closes, and an incremental liquidation that ends taken over."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bt_engine_helpers import frame

from levguard.backtest.engine import run
from levguard.core.rules.base import LiquidationRule


def _drop_frame(start: float, after: float, low: float, n_flat: int = 5, n_after: int = 3) -> pd.DataFrame:
    close = np.r_[np.full(n_flat, start), np.full(n_after, after)]
    prev = np.r_[close[0], close[:-1]]
    lo = np.minimum(close, prev)
    lo[n_flat] = low
    return frame(close, low=lo, high=np.maximum(close, prev), wick=0.0)


@pytest.mark.parametrize(
    ("venue", "symbol", "strict"),
    [("hyperliquid", "BTC", True), ("dydx-v4", "BTC-USD", True), ("binance-usdm", "BTCUSDT", False)],
)
def test_a_mark_at_the_liquidation_price_liquidates_only_where_the_trigger_is_not_strict(
    venue: str, symbol: str, strict: bool
) -> None:
    # At the liquidation price the margin balance equals the maintenance margin: Binance
    # liquidates there (balance <= MM), dYdX (TNC < TMMR) and Hyperliquid (equity below MM) not.
    kw = {"venue": venue, "symbol": symbol, "rebalance": "never", "fees": 0.0, "slippage": 0.0}
    kw |= {"initial_equity": 10_000.0, "check_initial_margin": False}
    flat = run(frame(np.full(8, 100_000.0), wick=0.0), np.ones(8), 10.0, **kw)  # type: ignore[arg-type]
    lp = float(flat.positions["liquidation_price"].iloc[4])
    assert 80_000.0 < lp < 100_000.0
    low = np.full(8, 100_000.0)
    low[5] = lp  # the bar's (mark) low touches the liquidation price exactly
    res = run(frame(np.full(8, 100_000.0), low=low, wick=0.0), np.ones(8), 10.0, **kw)  # type: ignore[arg-type]
    assert res.liquidations.empty is strict


def test_dydx_cross_account_at_its_maintenance_is_not_liquidated_on_a_flat_bar() -> None:
    # BTC liquidated at its LP leaves the account at TNC = TMMR (600 = ETH's MM: the fee
    # TNC x MM_i / TMMR keeps the ratio).  dYdX's trigger is strict, so ETH stays open on the same
    # bar (it was closed at 3,000 with fee 600 and the equity went to 0).
    data = {"BTC-USD": _drop_frame(100_000.0, 85_000.0, 80_000.0), "ETH-USD": frame(np.full(8, 3_000.0), wick=0.0)}
    res = run(
        data,
        {s: np.ones(8) for s in data},
        10.0,
        venue="dydx-v4",
        margin_mode="cross",
        rebalance="never",
        fees=0.0,
        slippage=0.0,
        initial_equity=10_000.0,
        check_initial_margin=False,
    )
    at_drop = res.liquidations[res.liquidations["timestamp"] == data["ETH-USD"].index[5]]
    assert list(at_drop["symbol"]) == ["BTC-USD"]
    assert float(res.equity.iloc[5]) == pytest.approx(600.0, rel=1e-9)


@pytest.mark.parametrize(
    "rule",
    [
        LiquidationRule(kind="takeover", partial="restore"),
        LiquidationRule(kind="book", fee_rate=0.0, partial="restore", backstop=2 / 3),
    ],
)
def test_an_incremental_liquidation_ending_taken_over_says_so(rule: LiquidationRule) -> None:
    # A gap from 100k to 80k: no fraction restores the maintenance, the position is taken over
    # (by the rule, or by the backstop); the row said taken_over False.
    close = np.r_[np.full(5, 100_000.0), np.full(3, 80_000.0)]
    df = frame(
        close,
        open_=np.r_[np.full(6, 100_000.0), np.full(2, 80_000.0)],
        low=close,
        high=np.r_[np.full(6, 100_000.0), np.full(2, 80_000.0)],
        wick=0.0,
    )
    res = run(
        df,
        np.ones(8),
        10.0,
        venue="binance-usdm",
        rebalance="never",
        fees=0.0,
        slippage=0.0,
        initial_equity=10_000.0,
        liquidation=rule,
    )
    row = res.liquidations.iloc[0]
    assert not row["partial"]
    assert row["taken_over"]
    assert row["kept"] == 0.0
    assert row["margin"] == pytest.approx(row["kept"] + row["fee"] - row["bad_debt"] + row["loss"], abs=1e-9)


@pytest.mark.parametrize(
    "rule",
    [
        LiquidationRule(kind="takeover", partial="restore"),
        LiquidationRule(kind="book", fee_rate=0.0, partial="restore", backstop=2 / 3),
    ],
)
def test_a_cross_incremental_liquidation_ending_taken_over_takes_the_account(rule: LiquidationRule) -> None:
    # Cross, BTC and ETH at 10x on 10,000, BTC gapping 100k -> 80k: the account's equity is 0.
    # The takeover took BTC alone (bad debt 200, the others' MM) and left ETH on 200 with rows
    # of 1.3e-9 ETH; now the account goes as a whole (every cross position, wallet 0).
    close = np.r_[np.full(5, 100_000.0), np.full(3, 80_000.0)]
    btc = frame(close, open_=close, low=close, high=close, wick=0.0)
    data = {"BTCUSDT": btc, "ETHUSDT": frame(np.full(8, 3_000.0), wick=0.0)}
    res = run(
        data,
        {s: np.ones(8) for s in data},
        10.0,
        venue="binance-usdm",
        margin_mode="cross",
        rebalance="never",
        fees=0.0,
        slippage=0.0,
        initial_equity=10_000.0,
        liquidation=rule,
        check_initial_margin=False,
    )
    liqs = res.liquidations
    assert list(liqs["symbol"]) == ["BTCUSDT", "ETHUSDT"]
    assert liqs["taken_over"].all()
    assert not liqs["partial"].any()
    assert float(res.equity.iloc[-1]) == 0.0
    btc_row = liqs.iloc[0]
    assert btc_row["margin"] == pytest.approx(btc_row["fee"] - btc_row["bad_debt"] + btc_row["loss"], abs=1e-9)
