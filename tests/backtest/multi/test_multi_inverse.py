"""Inverse (coin-margined) contracts: quantity in USD, PnL and equity in the coin."""

from __future__ import annotations

import numpy as np
import pytest
from multi_helpers import cross_lps, random_frame, settlements

from levguard.backtest.engine import run
from levguard.core.tiers import TierTable

N = 200
SYM = "BTCUSD_PERP"
ROWS: list[dict[str, float | None]] = [
    {"notional_floor": 0, "notional_cap": 5, "mmr": 0.005, "max_leverage": 100},
    {"notional_floor": 5, "notional_cap": None, "mmr": 0.02, "max_leverage": 25},
]
TIERS = TierTable.from_rows(ROWS)
CONTRACT_USD = 100.0  # BTCUSD_PERP: one contract is 100 USD


def _frame(funding: bool = False):  # type: ignore[no-untyped-def]
    df = random_frame(n=N, seed=51, sigma=0.004).drop(columns="funding_rate")
    df["volume"] *= 30_000.0
    if funding:
        df["funding_rate"] = settlements(N, 0.0004)
    return df


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_hold_equity_is_the_inverse_pnl_in_coin(side: float) -> None:
    df = _frame()
    e0, lev = 2.0, 3.0
    res = run(
        df,
        np.full(N, side),
        lev,
        symbol=SYM,
        venue="binance-coinm",
        tiers=TIERS,
        fees=0.0,
        rebalance="never",
        initial_equity=e0,
    )
    assert res.params["settlement"] == "BTC"
    q = res.positions["qty"].to_numpy()
    assert q[1] == pytest.approx(side * lev * e0 * df["close"].iloc[0])  # USD contracts
    assert np.all(q[1:] == q[1])
    entry = df["open"].iloc[1]
    expected = e0 + q[1] * (1.0 / entry - 1.0 / df["close"].to_numpy()[1:])
    np.testing.assert_allclose(res.equity.to_numpy()[1:], expected, rtol=1e-12)
    assert res.equity.iloc[0] == e0
    # The liquidation price is the margin engine's for the same position and wallet (6 BTC
    # notional at 3x of 2 BTC: the second tier).
    for t in (1, 100, N - 1):
        lp = cross_lps(
            [
                {
                    "symbol": SYM,
                    "qty": float(q[t]) / CONTRACT_USD,  # the evaluator counts contracts
                    "entry_price": float(res.instruments[SYM]["entry_price"].iloc[t]),
                    "mark_price": float(df["close"].iloc[t]),
                    "tiers": ROWS,
                }
            ],
            float(res.positions["cash"].iloc[t]),
            venue="binance-coinm",
        )[0]
        assert res.positions["liquidation_price"].iloc[t] == pytest.approx(lp, rel=1e-9)


def test_inverse_funding_is_qty_over_mark_times_rate() -> None:
    df = _frame(funding=True)
    res = run(
        df,
        np.ones(N),
        2.0,
        symbol=SYM,
        venue="binance-coinm",
        tiers=TIERS,
        fees=0.0,
        rebalance="never",
        initial_equity=1.0,
    )
    q = res.positions["qty"].to_numpy()
    cash = res.positions["cash"].to_numpy()
    paid = res.funding.to_numpy()
    for t in (8, 16, 104):
        expected_payment = -q[t - 1] / df["open"].iloc[t] * 0.0004  # wallet change, in BTC
        assert paid[t] == pytest.approx(-expected_payment, rel=1e-12)
        assert cash[t] - cash[t - 1] == pytest.approx(expected_payment, rel=1e-12)
    assert paid[0] == 0.0  # nothing carried into bar 0
    assert np.all(paid[~np.isfinite(df["funding_rate"].to_numpy())] == 0.0)
    assert res.funding.sum() > 0.0  # a long pays positive funding
