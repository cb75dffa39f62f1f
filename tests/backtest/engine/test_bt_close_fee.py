"""Bybit inverse: the backtester liquidates a cross position where the margin engine says.

Bybit's inverse cross equation counts the fee to close at the bankruptcy price, ``Qty x fee /
BP``, in the maintenance margin (help.bybit.com 360039261334; its isolated equation has no fee
term).  The margin engine counts it (golden: AB 0.5 BTC, long 10,000 @ 8,000 -> LP 5,739.08);
the backtester took only the venue's fee in the maintenance rate and liquidated later.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import pytest
from bt_engine_helpers import frame
from test_bt_kernel_parity import _columns, _inputs, _run

import levguard
from levguard.backtest.engine import prepare, run
from levguard.core.rules import get_venue
from levguard.core.tiers import TierTable
from levguard.kernels import backtest as kb
from levguard.kernels._jit import NUMBA_DISABLED
from levguard.kernels.backtest_records import ContractKind, Execution, MarginMode

ROWS = [{"notional_floor": 0, "notional_cap": None, "mmr": 0.005, "max_leverage": 100}]


def _crossing(side: int) -> pd.DataFrame:
    # Flat at 50,000 for five bars, then a wick 30 % against the side and a close 20 % against it.
    close = np.r_[np.full(5, 50_000.0), np.full(3, 50_000.0 * (1 - 0.2 * side))]
    extreme = 50_000.0 * (1 - 0.3 * side)
    o = np.r_[close[0], close[:-1]]
    lo = np.minimum(o, close)
    hi = np.maximum(o, close)
    if side > 0:
        lo[5] = extreme
    else:
        hi[5] = extreme
    return frame(close, open_=o, low=lo, high=hi, volume=1e9)


def _engine_lp(symbol: str, qty: float, entry: float, wallet: float, mode: str) -> float:
    pos = {"symbol": symbol, "qty": qty, "entry_price": entry, "mark_price": entry, "tiers": ROWS, "margin_mode": mode}
    if mode == "isolated":
        pos["isolated_margin"] = wallet
    spec = {"venue": "bybit-inverse", "wallet_balance": wallet if mode == "cross" else 0.0, "positions": [pos]}
    lp = levguard.evaluate_account(spec).positions[0].liquidation_price
    assert lp is not None
    return float(lp)


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("mode", ["cross", "isolated"])
def test_bybit_inverse_is_liquidated_at_the_margin_engines_price(side: int, mode: Literal["cross", "isolated"]) -> None:
    # 20x on 0.2 BTC: 200,000 contracts at 50,000 on a 0.197 BTC wallet after the entry fee.
    res = run(
        _crossing(side),
        np.full(8, float(side)),
        20.0,
        venue="bybit-inverse",
        symbol="BTCUSD",
        tiers=TierTable.from_rows(ROWS),
        initial_equity=0.2,
        margin_mode=mode,
        rebalance="never",
    )
    trade = res.trades.iloc[0]
    wallet = float(res.positions["cash"].iloc[1])
    assert trade["qty"] == pytest.approx(side * 200_000.0)
    expected = _engine_lp("BTCUSD", float(trade["qty"]), float(trade["price"]), wallet, mode)
    assert res.liquidations["price"].iloc[0] == pytest.approx(expected, rel=1e-12)
    if mode == "cross":  # the close fee moves the price toward the entry: 47,881.25 / 52,314.94 without it
        assert expected == pytest.approx(47_917.3375 if side > 0 else 52_275.9048, abs=1e-3)


def test_the_close_fee_rate_follows_the_taker_and_a_swept_taker() -> None:
    from levguard.backtest._run_settings import _apply_run

    data = _crossing(1)
    tiers = TierTable.from_rows(ROWS)
    prep = prepare(data, np.ones(8), 2.0, venue="bybit-inverse", symbol="BTCUSD", fees=0.0005, tiers=tiers)
    assert float(prep.inst[0]["close_fee"]) == 0.0005
    inst = prep.inst.copy()
    _apply_run(prep.cfg[0].copy(), inst, {"taker_fee": 0.001}, prep.params)
    assert float(inst[0]["close_fee"]) == 0.001
    linear = prepare(data, np.ones(8), 2.0, venue="bybit-linear", symbol="BTCUSDT", fees=0.0005, tiers=tiers)
    assert float(linear.inst[0]["close_fee"]) == 0.0
    assert get_venue("bybit-inverse").cross_close_fee(0.0005) == 0.0005


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: simulate_nb is simulate_py")
@pytest.mark.parametrize("mode", [MarginMode.ISOLATED, MarginMode.CROSS])
def test_the_close_fee_agrees_compiled_and_python(mode: int) -> None:
    mkt, direction, lev, inst, tiers, cfg = _inputs(mode, True, True, Execution.MARKET, False, stops=False)
    inverse = inst["kind"] == ContractKind.INVERSE
    inst["close_fee"][inverse] = 0.00075
    inst["rule"] = get_venue("bybit-inverse").liquidation.vector(0.00075)
    inst["liq_fee"] = 0.00075
    args = (mkt, direction, lev, inst, tiers, cfg)
    py = _run(kb.simulate_py, args)
    nb = _run(kb.simulate_nb, args)
    assert py[3].shape[0] > 0
    for a, b in zip(_columns(py), _columns(nb), strict=True):
        np.testing.assert_array_equal(a, b)
