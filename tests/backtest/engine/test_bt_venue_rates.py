"""The backtester reads a venue's margin rates and liquidation cool-down as the venue (and the
margin engine) do.

* Deribit, "Linear Perpetual" (support.deribit.com/hc/en-us/articles/25944738177565): the
  BTC_USDC perpetual's initial margin rate is 2 % + size_BTC x 0.005 %, its maintenance rate
  1 % + size_BTC x 0.005 % (350 BTC: IM 3.75 %).  The backtester read both at a size of 1 BTC
  whatever the position held (1.005 % and 2.005 %).
* Hyperliquid, "Liquidations" (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations):
  "After a block where any position of a user is partially liquidated, there is a cooldown
  period of 30 seconds. During this cooldown period, all market liquidation orders for that user
  will be for the entire position."  The backtester's cool-down (the rest of the bar) was per
  instrument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from bt_engine_helpers import frame

import levguard
from levguard.backtest.engine import run
from levguard.backtest.sweeps import sweep
from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.core.margin import instrument_for, venue_tiers
from levguard.core.positions import Position
from levguard.core.rules import get_venue

SYM = "BTC_USDC-PERPETUAL"
ZERO_COSTS: dict[str, Any] = {"fees": 0.0, "slippage": 0.0, "rebalance": "never", "margin_mode": "cross"}


def _drop(start: float, low: float, after: float, *, gap: bool = False, n_flat: int = 5) -> pd.DataFrame:
    """Flat at ``start``, then a bar down to ``after`` whose low is ``low`` (``gap``: that bar
    opens at ``after``, its low and high too)."""
    close = np.r_[np.full(n_flat, start), np.full(3, after)]
    prev = np.r_[close[0], close[:-1]]
    open_ = close.copy() if gap else prev
    open_[:n_flat] = start
    lo = np.minimum(open_, close)
    lo[n_flat] = low
    return frame(close, open_=open_, low=lo, high=np.maximum(open_, close), wick=0.0)


def _engine_lp(qty: float, wallet: float) -> float:
    # The margin engine's liquidation price of a one-position Deribit cross account at 100,000.
    report = levguard.evaluate_account(
        {
            "venue": "deribit",
            "wallet_balance": wallet,
            "margin_mode": "cross",
            "positions": [{"symbol": SYM, "qty": qty, "entry_price": 100_000.0, "mark_price": 100_000.0}],
        }
    )
    lp = report.positions[0].liquidation_price
    assert lp is not None
    return float(lp)


def test_deribit_liquidates_at_the_margin_engines_price_for_the_size_held() -> None:
    # 100 BTC on 1,000,000 USDC: MM rate 1 % + 100 x 0.005 % = 1.5 %, LP 91,370.56 (the rate of
    # 1 BTC, 1.005 %, put it at 90,913.68: a low of 91,100 was not liquidated).
    lp = _engine_lp(100.0, 1_000_000.0)
    assert lp == pytest.approx(91_370.56, abs=0.01)
    below = run(_drop(100_000.0, lp - 50.0, 95_000.0), np.ones(8), 10.0, venue="deribit", symbol=SYM,
                initial_equity=1_000_000.0, **ZERO_COSTS)  # fmt: skip
    assert below.positions["qty"].iloc[4] == pytest.approx(100.0)
    (liq,) = below.liquidations.itertuples()
    assert liq.partial
    assert lp - 50.0 <= below.liquidations["price"].to_numpy()[0] <= lp
    above = run(_drop(100_000.0, lp + 50.0, 95_000.0), np.ones(8), 10.0, venue="deribit", symbol=SYM,
                initial_equity=1_000_000.0, **ZERO_COSTS)  # fmt: skip
    assert above.liquidations.empty


def test_deribit_restore_at_a_gap_closes_what_the_venue_rule_closes_at_the_size() -> None:
    # The bar opens at 91,000, below the LP: the incremental liquidation at that one price
    # closes what liquidation_outcome (the venue's rates at the size, their size term in the
    # restore) closes; the rate of 1 BTC closed a different amount.
    res = run(_drop(100_000.0, 91_000.0, 91_000.0, gap=True), np.ones(8), 10.0, venue="deribit", symbol=SYM,
              initial_equity=1_000_000.0, **ZERO_COSTS)  # fmt: skip
    (liq,) = res.liquidations.itertuples()
    model = get_venue("deribit")
    held = Position(instrument_for(model, SYM), 100.0, 100_000.0, 91_000.0)
    want = liquidation_outcome(
        model, 100.0, 100_000.0, 91_000.0, 1_000_000.0, tiers=venue_tiers(model, held),
        size_coef=model.mm_size_coef(held), taker_fee=0.0,
    )  # fmt: skip
    assert want.partial
    assert liq.partial
    assert liq.price == 91_000.0
    assert liq.qty == pytest.approx(want.closed_qty, rel=1e-9)
    assert liq.fee == pytest.approx(want.fee, rel=1e-9)
    assert res.positions["qty"].iloc[5] == pytest.approx(want.remaining_qty, rel=1e-9)


def _im_rate(qty: float) -> float:
    model = get_venue("deribit")
    rates = model.rates(Position(instrument_for(model, SYM), qty, 100_000.0, 100_000.0))
    assert rates is not None
    return rates.imr


def test_deribit_initial_margin_check_reads_the_rate_at_the_size() -> None:
    # 10,000,000 USDC at 20x asks for 2,000 BTC, whose IM rate is 2 % + 2,000 x 0.005 % = 12 %
    # (8.33x at most: `levguard liq` refuses 20x).  The order is clipped to the largest size whose
    # initial margin fits: q x 100,000 x (2 % + q x 0.005 %) = 10,000,000 (1,228.29 BTC).
    res = run(_drop(100_000.0, 100_000.0, 100_000.0), np.ones(8), 20.0, venue="deribit", symbol=SYM,
              initial_equity=10_000_000.0, **ZERO_COSTS)  # fmt: skip
    assert res.metrics["orders_clipped"] == 1
    q = float(res.positions["qty"].iloc[1])
    assert q == pytest.approx(1_228.2857, rel=1e-6)
    assert q * 100_000.0 * _im_rate(q) == pytest.approx(10_000_000.0, rel=1e-12)
    assert 1.0 / _im_rate(2_000.0) == pytest.approx(100.0 / 12.0)


def test_deribit_sweep_reads_the_size_terms_as_run_does() -> None:
    df = _drop(100_000.0, 91_300.0, 95_000.0)
    kw: dict[str, Any] = {"venue": "deribit", "symbol": SYM, "initial_equity": 1_000_000.0, **ZERO_COSTS}
    table = sweep(df, np.ones(8), {"l10": 10.0, "l20": 20.0}, **{**kw, "initial_equity": 10_000_000.0})
    for lev, row in zip((10.0, 20.0), table.itertuples(), strict=True):
        single = run(df, np.ones(8), lev, **{**kw, "initial_equity": 10_000_000.0})
        assert row.final_equity == single.equity.iloc[-1]
        assert row.n_liquidations == single.metrics["n_liquidations"]
        assert row.orders_clipped == single.metrics["orders_clipped"]
    # 10x: 1,000 BTC at IM 7 % (14.3x at most) passes and is liquidated below 95,744 (MM 6 %);
    # 20x is clipped.
    assert table["orders_clipped"].tolist() == [0.0, 1.0]
    assert table["n_liquidations"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("mode", ["cross", "isolated"])
def test_hyperliquid_cool_down_after_a_slice_is_the_accounts(mode: str) -> None:
    # 500,000 USDC of BTC and of ETH (above the 100k slicing threshold), both falling 20 % in
    # one bar.  The first liquidation of the bar slices 20 %; every later one in the bar takes
    # the whole position, whichever instrument it is (the per-instrument cool-down sliced the
    # other instrument too).
    data = {"BTC": _drop(100_000.0, 80_000.0, 95_000.0), "ETH": _drop(4_000.0, 3_200.0, 3_800.0)}
    res = run(data, np.ones(8), 10.0, venue="hyperliquid", initial_equity=100_000.0,
              **{**ZERO_COSTS, "margin_mode": mode})  # fmt: skip
    liqs = res.liquidations
    assert len(liqs) >= 2
    first = liqs.iloc[0]
    assert bool(first["partial"])
    assert not liqs.iloc[1:]["partial"].any()
    other = liqs[liqs["symbol"] != first["symbol"]]
    (row,) = other.itertuples()
    assert row.qty == pytest.approx(125.0 if row.symbol == "ETH" else 5.0)
