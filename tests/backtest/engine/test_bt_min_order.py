"""Orders below the venue's minimum: an order that opens or adds less than the smallest order is
refused, a reduction passes (Binance USDⓈ-M error -4164 "Order's notional must be no smaller
than 5 (unless you choose reduce only)"; developers.binance.com, derivatives "Error Codes")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from bt_engine_helpers import frame

from levguard.backtest.engine import run
from levguard.core.sizing.base import SeriesInputs, SizingDecision, SizingState
from levguard.kernels.backtest_orders import below_minimum
from levguard.kernels.backtest_records import INST_DTYPE
from levguard.typing import Float64Array1D


def _spec(min_notional: float, min_qty: float = 0.0) -> np.void:
    inst = np.zeros(1, dtype=INST_DTYPE)
    inst[0]["min_notional"] = min_notional
    inst[0]["min_qty"] = min_qty
    return inst[0]


@pytest.mark.parametrize(
    ("qty", "new_qty", "inverse", "below"),
    [
        (0.0, 0.9, False, True),  # opens 90 < 100
        (0.0, 1.0, False, False),  # opens 100
        (5.0, 5.5, False, True),  # adds 50
        (5.0, 0.1, False, False),  # a reduction has no minimum
        (5.0, 0.0, False, False),  # nor a close
        (5.0, -0.5, False, True),  # reverses into 50
        (5.0, -2.0, False, False),  # reverses into 200
        (0.0, 99.0, True, True),  # inverse: 99 USD of contracts < 100
        (0.0, 100.0, True, False),
    ],
)
def test_below_minimum_reads_the_part_that_opens_or_adds(
    qty: float, new_qty: float, inverse: bool, below: bool
) -> None:
    assert below_minimum(_spec(100.0), qty, new_qty, inverse, 100.0) is below


def test_below_minimum_reads_the_minimum_quantity_too() -> None:
    # 0.001 BTC minimum at 100: 0.0005 (5 USDT of notional, above a 1 USDT minimum) is refused.
    assert below_minimum(_spec(1.0, 0.001), 0.0, 0.0005, False, 100.0)
    assert not below_minimum(_spec(1.0, 0.001), 0.0, 0.02, False, 100.0)
    assert not below_minimum(_spec(0.0), 0.0, 1e-9, False, 100.0)  # no minimum known


def test_an_opening_order_below_the_minimum_is_not_filled() -> None:
    """3x on 30 USDT is a 90 USDT order where BTCUSDT's minimum is 100: refused every bar and
    counted, the account stays in cash (it can still open the smallest order at 125x, so it is
    not ruined).  It filled before."""
    df = frame(np.full(6, 100.0), wick=0.0)
    res = run(df, np.ones(6), 3.0, initial_equity=30.0, min_notional=100.0, fees=0.0, slippage=0.0)
    assert res.trades.empty
    assert res.metrics["orders_below_minimum"] == 5.0
    assert res.metrics["ruined"] == 0.0
    ok = run(df, np.ones(6), 3.0, initial_equity=40.0, min_notional=100.0, fees=0.0, slippage=0.0)
    assert len(ok.trades) == 1
    assert ok.metrics["orders_below_minimum"] == 0.0


def test_rebalancing_adds_nothing_below_the_minimum_and_reduces_freely() -> None:
    """BTC-like wiggles rebalanced every bar at 3x on 10,000: every fill that opens or adds is at
    least the 500 USDT minimum at its decision price; reductions below it still fill."""
    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, 300)))
    df = frame(close, wick=0.0)
    res = run(df, np.ones(300), 3.0, initial_equity=10_000.0, min_notional=500.0, fees=0.0, slippage=0.0)
    tr = res.trades
    held_before = res.positions["qty"].shift(1).fillna(0.0).reindex(tr["timestamp"]).to_numpy()
    dec_px = df["close"].shift(1).reindex(tr["timestamp"]).to_numpy()
    adds = np.sign(tr["qty"].to_numpy()) == np.sign(held_before + tr["qty"].to_numpy())
    adds &= np.abs(held_before + tr["qty"].to_numpy()) > np.abs(held_before)
    notional = np.abs(tr["qty"].to_numpy()) * dec_px
    assert adds.any()
    assert (notional[adds] >= 500.0).all()
    assert (notional[~adds] < 500.0).any()  # reduce-only orders have no minimum
    assert res.metrics["orders_below_minimum"] > 0


@dataclass(frozen=True)
class _Path:
    """A policy that returns the leverage path it is given."""

    path: tuple[float, ...]
    name: str = "path"
    cap: float = float("inf")

    def decide(self, state: SizingState) -> SizingDecision:
        return SizingDecision(self.path[0], self.name, ("path",))

    def leverage_path(self, inputs: SeriesInputs) -> Float64Array1D:
        return np.asarray(self.path, dtype=float)


def test_a_reversal_into_less_than_the_minimum_only_closes() -> None:
    """Long 2x (20,000 USDT), then short at 0.005x: the short side would be 50 USDT, below the
    100 USDT minimum, so the order closes the long and opens nothing; the later decisions, 50 USDT
    from flat, are refused too (3 counted)."""
    df = frame(np.full(6, 100.0), wick=0.0)
    side = np.array([1.0, 1.0, -1.0, -1.0, -1.0, -1.0])
    policy = _Path((2.0, 2.0, 0.005, 0.005, 0.005, 0.005))
    res = run(df, side, policy, initial_equity=10_000.0, min_notional=100.0, fees=0.0, slippage=0.0)
    assert res.trades["qty"].tolist() == [200.0, -200.0]
    assert res.positions["qty"].tolist() == [0.0, 200.0, 200.0, 0.0, 0.0, 0.0]
    assert res.metrics["orders_below_minimum"] == 3.0
