"""A position whose unrealised profit covers what funding took from its margin is not liquidated.

Venues liquidate when the margin balance (wallet balance plus unrealised PnL) reaches the
maintenance margin (Binance support FAQ "How to Check Futures Wallet Balance"). The backtester
used to treat a non-positive wallet (collateral) as bankruptcy whatever the unrealised PnL: a
3x buy-and-hold long on a rising market paying funding was "liquidated" with its whole equity
taken as a fee (the demo's fixed-3x run was ruined that way in a calm uptrend).
"""

from __future__ import annotations

import numpy as np
import pytest
from bt_engine_helpers import frame

from levguard.backtest import BuyAndHold, run
from levguard.core.sizing.base import FixedLeverage


def _rising_market_paying_funding(n: int = 24 * 360) -> object:
    # A year from 30,000 to 90,000 with longs paying 0.05 % per 8 h (a bull market's funding):
    # about 32,000 USDT of funding drains the 10,000 wallet far below zero while the position
    # gains 60,000.
    close = np.linspace(30_000.0, 90_000.0, n)
    funding = np.full(n, np.nan)
    funding[::8] = 0.0005
    return frame(close, wick=0.001, funding=funding)


@pytest.mark.parametrize("margin_mode", ["isolated", "cross"])
def test_a_drained_wallet_with_profit_is_not_bankrupt(margin_mode: str) -> None:
    res = run(
        _rising_market_paying_funding(),
        BuyAndHold(),
        FixedLeverage(3.0),
        margin_mode=margin_mode,  # type: ignore[arg-type]
        rebalance="never",
        initial_equity=10_000.0,
    )
    assert res.funding.sum() > 10_000.0  # funding paid exceeds the whole starting wallet
    assert len(res.liquidations) == 0
    assert res.ruined_at is None
    final = float(res.equity.iloc[-1])
    assert final == pytest.approx(10_000.0 + 60_000.0 - res.funding.sum() - res.fees.sum(), rel=1e-9)
    # The liquidation price reported for the open position is a number (below the mark), not
    # "none": the unrealised PnL still backs the position.
    lp = res.instruments["BTCUSDT"]["liquidation_price"] if hasattr(res, "instruments") else None
    if lp is not None:
        last = float(lp.iloc[-1])
        assert np.isfinite(last)
        assert last < 90_000.0


def test_a_position_liquidatable_at_every_price_is_still_liquidated() -> None:
    # A 3x long whose market falls 60 %: liquidated (the price rule), never left open.
    n = 24 * 10
    close = np.linspace(30_000.0, 12_000.0, n)
    res = run(frame(close), BuyAndHold(), FixedLeverage(3.0), rebalance="never", initial_equity=10_000.0)
    assert len(res.liquidations) >= 1
