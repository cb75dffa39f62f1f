"""Taker fills are bounded by the fill bar's traded range.

Market orders fill in bar ``t`` at ``open[t] * (1 +- slip)`` and stops at their level in the bar
that crosses it, with the square-root impact of the previous bar's volume.  After a tiny
previous volume (a listing bar) the impact alone reached the 99 % cap, so a buy paid up to
1.99 x the open, far above anything bar ``t`` traded (XRPUSDT's first hour: a buy at 0.2985
in a bar that traded 0.2004-0.2222).  A buy pays at most the bar's high, a sell gets at least
its low (docs/backtest.md, Semantics step 3).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bt_engine_helpers import random_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.backtest.engine import run
from levguard.kernels import backtest as kb
from levguard.kernels._jit import NUMBA_DISABLED
from levguard.kernels.backtest_orders import slipped_price
from levguard.kernels.backtest_records import (
    CONFIG_DTYPE,
    INST_DTYPE,
    ContractKind,
    MarginMode,
    account_out,
    market_of,
    positions_out,
    tiers_of,
)


def _cfg(slip_bps: float, impact: float) -> Any:
    cfg = np.zeros(1, dtype=CONFIG_DTYPE)[0]
    cfg["slip_bps"] = slip_bps
    cfg["impact"] = impact
    return cfg


def test_slipped_price_is_bounded_by_the_bar() -> None:
    cfg = _cfg(10.0, 0.5)
    # 100 x the reference volume: the slippage is capped at 99 %, far outside [95, 105].
    assert slipped_price(100.0, 100.0, 1.0, cfg, 95.0, 105.0) == 105.0
    assert slipped_price(100.0, -100.0, 1.0, cfg, 95.0, 105.0) == 95.0
    # Inside the range the fill is the slippage model's: 100 (1 +- (0.001 + 0.5 x 0.1)).
    assert slipped_price(100.0, 0.01, 1.0, cfg, 90.0, 110.0) == 100.0 * (1.0 + (0.001 + 0.5 * 0.1))
    assert slipped_price(100.0, -0.01, 1.0, cfg, 90.0, 110.0) == 100.0 * (1.0 - (0.001 + 0.5 * 0.1))
    # A missing bound is not applied.
    assert slipped_price(100.0, 100.0, 1.0, cfg, math.nan, math.nan) == 100.0 * 1.99


def _in_bar(trades: pd.DataFrame, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    bar = df.loc[trades["timestamp"]]
    lo, hi, px = bar["low"].to_numpy(), bar["high"].to_numpy(), trades["price"].to_numpy()
    return (lo <= px) & (px <= hi), (px == lo) | (px == hi)


@pytest.mark.parametrize("margin_mode", ["isolated", "cross"])
def test_every_fill_lies_in_its_bar_after_tiny_volumes(margin_mode: str) -> None:
    df = random_frame(n=400, seed=11, sigma=0.01)
    # Every fifth bar trades almost nothing: the next bar's orders and stops see a tiny volume.
    df.loc[df.index[::5], "volume"] = 1e-6
    direction = np.sign(np.sin(np.arange(len(df)) / 3.0))
    res = run(
        df,
        direction,
        5.0,
        margin_mode=margin_mode,  # type: ignore[arg-type]
        slippage=(5.0, 0.5),
        stop_loss=0.01,
        take_profit=0.015,
        rebalance={"band": 0.05},
        min_notional=1.0,
    )
    inside, at_edge = _in_bar(res.trades, df)
    assert inside.all(), res.trades[~inside]
    assert at_edge.sum() > 10  # the bound did act
    assert {"rebalance", "stop_loss", "take_profit"} <= set(res.trades["kind"])


@st.composite
def _case(draw: st.DrawFn) -> tuple[Any, ...]:
    """One instrument over random bars (gaps, thin volumes), orders and stops."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(3, 40))
    inverse = draw(st.booleans())
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, draw(st.sampled_from([0.005, 0.03, 0.1])), n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 0.02, n) * (rng.random(n) < 0.3))
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.005, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.005, n))
    volume = 10.0 ** rng.uniform(-6.0, 3.0, n)
    basis = 1.0 + rng.normal(0.0, draw(st.sampled_from([0.0, 0.01, 0.05])), n)
    marks = [open_ * basis, high * basis, low * basis, close * basis]
    marks[1] = np.maximum.reduce(marks)
    marks[2] = np.minimum.reduce(marks)
    funding = np.where(rng.random(n) < 0.2, rng.normal(0.0, 0.001, n), np.nan)
    mkt = np.ascontiguousarray(np.stack([open_, high, low, close, volume, *marks, funding])[:, :, None])
    direction = rng.integers(-1, 2, (n, 1)).astype(float)
    lev = rng.uniform(0.0, 60.0, (n, 1))
    inst = np.zeros(1, dtype=INST_DTYPE)
    inst["kind"] = ContractKind.INVERSE if inverse else ContractKind.LINEAR
    inst["weight"] = 1.0
    inst["taker"] = 0.0005
    inst["maker"] = 0.0002
    inst["liq_fee"] = 0.005
    inst["tier_start"], inst["tier_stop"] = 0, 1
    tiers = tiers_of(np.array([[np.inf, 0.005, 0.0, 100.0]]))
    cfg = _cfg(draw(st.sampled_from([0.0, 5.0, 200.0])), draw(st.sampled_from([0.0, 0.1, 2.0])))
    cfg["initial_equity"] = 10_000.0
    cfg["margin_mode"] = draw(st.sampled_from([MarginMode.ISOLATED, MarginMode.CROSS]))
    cfg["band"] = 0.1
    cfg["max_step"] = 100.0
    cfg["stop_loss"] = draw(st.sampled_from([0.0, 0.01, 0.05, 0.2]))
    cfg["take_profit"] = draw(st.sampled_from([0.0, 0.02, 0.1]))
    cfg["liquidation_first"] = draw(st.booleans())
    cfg["check_im"] = draw(st.booleans())
    return market_of(mkt), direction, lev, inst, tiers, cfg


def _simulate(fn: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    n = args[0].close.shape[0]
    acct, pos = account_out(n), positions_out(n, 1)
    trades = np.zeros(kb.trade_capacity(n, 1), dtype=kb.TRADE_DTYPE)
    liqs = np.zeros(kb.liq_capacity(n, 1), dtype=kb.LIQ_DTYPE)
    counts = fn(*args, acct, pos, trades, liqs)
    return acct, pos, trades[: counts.trades], liqs[: counts.liqs], counts


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: simulate_nb is simulate_py")
@settings(max_examples=150, deadline=None)
@given(case=_case())
def test_fills_stay_in_the_bar_and_compiled_equals_python(case: tuple[Any, ...]) -> None:
    market = case[0]
    acct, pos, trades, liqs, counts = _simulate(kb.simulate_py, case)
    bars = trades["bar"]
    lo, hi = market.low[bars, 0], market.high[bars, 0]
    assert ((lo <= trades["price"]) & (trades["price"] <= hi)).all()
    # A flat account holds no negative wallet: what a trade left below 0 is bad debt.
    flat = pos.qty[:, 0] == 0.0
    assert (acct.cash[flat] >= 0.0).all()
    assert (acct.equity[flat] >= 0.0).all()
    nb = _simulate(kb.simulate_nb, case)
    for a, b in zip((*acct, *pos), (*nb[0], *nb[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    for rec_py, rec_nb in ((trades, nb[2]), (liqs, nb[3])):
        for name in rec_py.dtype.names:
            np.testing.assert_array_equal(rec_py[name], rec_nb[name])
    assert counts == nb[4]
