"""Engine semantics: reference loop, money conservation, liquidation timing, cooldown, SL/TP."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from bt_engine_helpers import crash_frame, evaluate_lp, frame, random_frame

from levguard.backtest.engine import BacktestResult, run
from levguard.core.sizing.base import FixedLeverage
from levguard.core.sizing.policies import VolatilityTarget


def _reference_fixed_long(df: pd.DataFrame, lev: float, fee: float, e0: float) -> np.ndarray:
    """Straightforward loop: long at ``lev`` rebalanced every bar, funding and taker fees."""
    eq = []
    e = e0
    q = 0.0
    prev_close = math.nan
    for i, (_, row) in enumerate(df.iterrows()):
        if i > 0:
            e += q * (row["open"] - prev_close)  # carry overnight to the open
        if q != 0.0 and not math.isnan(row["funding_rate"]):
            e -= q * row["open"] * row["funding_rate"]
        if i > 0:
            target = lev * eq[-1] / prev_close
            e -= fee * abs(target - q) * row["open"]
            q = target
        e += q * (row["close"] - row["open"])
        eq.append(e)
        prev_close = row["close"]
    return np.array(eq)


def test_fixed_long_matches_reference_loop() -> None:
    df = random_frame(n=300, seed=2)
    # The loop trades every bar: no minimum order (BTCUSDT's 100 USDT would skip small increases).
    res = run(df, np.ones(len(df)), FixedLeverage(2.0), fees=0.0004, initial_equity=5_000.0, min_notional=0.0)
    ref = _reference_fixed_long(df, 2.0, 0.0004, 5_000.0)
    np.testing.assert_allclose(res.equity.to_numpy(), ref, rtol=1e-9)
    assert res.liquidations.empty
    assert res.funding.abs().sum() > 0.0


def _conservation(res: BacktestResult, df: pd.DataFrame, e0: float) -> tuple[float, float]:
    tr, lq = res.trades, res.liquidations
    signed_liq = np.where(lq["side"] == "long", lq["qty"], -lq["qty"])
    pnl = -(tr["qty"] * tr["price"]).sum() + (signed_liq * lq["price"]).sum()
    pnl += res.positions["qty"].iloc[-1] * df["close"].iloc[-1]  # mark = last here
    rhs = pnl - res.fees.sum() - res.funding.sum() + lq["bad_debt"].sum()
    return float(res.equity.iloc[-1] - e0), float(rhs)


@pytest.mark.parametrize("margin_mode", ["isolated", "cross"])
def test_money_is_conserved(margin_mode: str) -> None:
    df = random_frame(n=800, seed=5, sigma=0.012)
    direction = np.sign(np.sin(np.arange(len(df)) / 20.0))
    res = run(
        df,
        direction,
        25.0,
        margin_mode=margin_mode,  # type: ignore[arg-type]
        slippage=(3.0, 0.05),
        stop_loss=0.05,
        take_profit=0.08,
        cooldown_bars=2,
        rebalance={"band": 0.2, "min_trade": 50.0},
        min_notional=5.0,  # BTCUSDT's 100 USDT would ruin this bleeding run before its liquidations
    )
    assert len(res.liquidations) > 0
    lhs, rhs = _conservation(res, df, 10_000.0)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-6)
    assert res.metrics["n_liquidations"] == len(res.liquidations)
    assert res.metrics["fees_paid"] == pytest.approx(res.fees.sum())


def test_liquidation_in_first_bar_crossing_tier_aware_price() -> None:
    df = crash_frame()
    e0 = 1_000_000.0  # 10x -> 10M notional: beyond Binance BTCUSDT's first brackets
    res = run(df, np.ones(len(df)), 10.0, rebalance="never", initial_equity=e0, fees=0.0005)
    pos = res.positions
    qty = pos["qty"].iloc[1]
    entry = res.trades["price"].iloc[0]
    cash = pos["cash"].iloc[1]
    lp = evaluate_lp(qty, entry, cash)
    assert lp == pytest.approx(pos["liquidation_price"].iloc[1], rel=1e-9)
    first_cross = int(np.argmax(df["low"].to_numpy() <= lp))
    assert first_cross > 10
    liq = res.liquidations.iloc[0]
    assert liq["timestamp"] == df.index[first_cross]
    assert liq["price"] == pytest.approx(lp, rel=1e-12)
    assert liq["side"] == "long"
    assert liq["qty"] == pytest.approx(qty)
    # Binance takes the position over at its bankruptcy price: the equity left at the
    # liquidation price (its maintenance margin) goes to the insurance fund as the clearance fee
    # and the sleeve keeps nothing (binance.com/en/support/faq/360033525271); it used to be
    # booked as a 0.05 % fee with the rest kept.
    assert liq["fee"] == pytest.approx(cash + qty * (lp - entry), rel=1e-9)
    assert liq["margin"] == pytest.approx(cash)
    assert liq["kept"] == 0.0
    assert bool(liq["taken_over"])
    assert res.ruined_at == df.index[first_cross]
    assert (pos["qty"].iloc[1:first_cross] == qty).all()


def test_isolated_equity_never_negative_and_gap_bad_debt() -> None:
    close = np.r_[np.full(5, 100.0), np.full(5, 80.0)]
    o = close.copy()  # bar 5 opens 20% lower: gap through the LP of a 20x long
    df = frame(close, open_=o, wick=0.0)
    res = run(df, np.ones(10), 20.0, margin_mode="isolated", rebalance="never")
    assert (res.equity >= 0.0).all()
    liq = res.liquidations.iloc[0]
    assert liq["timestamp"] == df.index[5]
    assert liq["price"] == pytest.approx(80.0)
    assert liq["bad_debt"] > 0.0
    assert res.positions["cash"].iloc[5] == 0.0


def test_run_continues_and_reenters_after_cooldown() -> None:
    df = crash_frame(n_down=40, step=0.004)
    # A book close (the generic rule: the remaining margin less the liquidation fee is kept)
    # leaves capital to re-enter with; on Binance the sleeve would keep nothing and be ruined.
    res = run(df, np.ones(len(df)), 50.0, rebalance="never", cooldown_bars=3, liquidation="generic")
    assert len(res.liquidations) >= 1
    k = int(df.index.get_loc(res.liquidations["timestamp"].iloc[0]))
    after = res.trades[res.trades["timestamp"] > df.index[k]]
    assert not after.empty
    assert after["timestamp"].iloc[0] == df.index[k + 4]
    assert (res.positions["qty"].iloc[k : k + 4] == 0.0).all()
    assert res.positions["qty"].iloc[k + 4] > 0.0


def test_no_look_ahead() -> None:
    df = random_frame(n=400, seed=9, sigma=0.006)
    rng = np.random.default_rng(0)
    direction = np.sign(rng.normal(size=len(df)))
    policy = VolatilityTarget(target_vol=0.8, max_leverage=10.0)
    base = run(df, direction, policy, slippage=(1.0, 0.1), stop_loss=0.02, take_profit=0.03)
    for t in (50, 200, 350):
        pert = df.copy()
        factor = np.exp(rng.normal(0.0, 0.05, len(df) - t - 1))
        for c in ("open", "high", "low", "close"):
            pert.iloc[t + 1 :, pert.columns.get_loc(c)] *= factor
        pert.iloc[t + 1 :, pert.columns.get_loc("volume")] *= 3.0
        pert.iloc[t + 1 :, pert.columns.get_loc("funding_rate")] = 0.01
        d2 = direction.copy()
        d2[t + 1 :] = -d2[t + 1 :]
        other = run(pert, d2, policy, slippage=(1.0, 0.1), stop_loss=0.02, take_profit=0.03)
        np.testing.assert_array_equal(other.equity.to_numpy()[: t + 1], base.equity.to_numpy()[: t + 1])


def test_hold_with_never_keeps_constant_quantity() -> None:
    df = random_frame(n=300, seed=4)
    res = run(df, np.ones(len(df)), FixedLeverage(3.0), rebalance="never")
    q = res.positions["qty"].to_numpy()
    assert q[0] == 0.0
    assert np.all(q[1:] == q[1])
    assert q[1] == pytest.approx(3.0 * 10_000.0 / df["close"].iloc[0])
    assert len(res.trades) == 1
    assert res.liquidations.empty


def _both_cross_frame(gap_open: float | None = None) -> pd.DataFrame:
    close = np.full(8, 100.0)
    low = close.copy()
    low[4] = 90.0  # crosses a 3% stop and the ~5% LP of a 20x long
    open_ = np.r_[close[0], close[:-1]]
    if gap_open is not None:
        open_[4] = gap_open
    return frame(close, open_=open_, low=low, high=np.maximum(open_, close), wick=0.0)


@pytest.mark.parametrize("liquidation_first", [True, False])
def test_stop_loss_vs_liquidation_ordering(liquidation_first: bool) -> None:
    # The bar opens at 96, below the 3 % stop (97) and above the LP (the mark too): its first trade
    # triggers the stop, which fills at the gap open whatever the flag (it was left to
    # liquidation_first; see test_bt_stop_before_liquidation.py).
    df = _both_cross_frame(gap_open=96.0)
    res = run(df, np.ones(8), 20.0, rebalance="never", stop_loss=0.03, liquidation_first=liquidation_first)
    stops = res.trades[res.trades["kind"] == "stop_loss"]
    assert res.liquidations.empty
    assert len(stops) == 1
    assert stops["timestamp"].iloc[0] == df.index[4]
    assert stops["price"].iloc[0] == pytest.approx(96.0)  # the stop fills at the gap open
    whole = run(_both_cross_frame(), np.ones(8), 20.0, rebalance="never", stop_loss=0.03)
    assert whole.liquidations.empty
    assert whole.trades["price"].iloc[-1] == pytest.approx(whole.trades["price"].iloc[0] * 0.97)
    # The position is closed at bar 4 and, with the signal unchanged, not reopened after a stop.
    assert res.positions["qty"].iloc[4] == 0.0


def test_stop_loss_precedes_take_profit_and_blocks_reentry() -> None:
    close = np.full(10, 100.0)
    low, high = close.copy(), close.copy()
    low[3], high[3] = 96.0, 104.0
    df = frame(close, low=low, high=high, wick=0.0)
    res = run(df, np.ones(10), 2.0, rebalance="never", stop_loss=0.03, take_profit=0.03)
    assert list(res.trades["kind"]) == ["rebalance", "stop_loss"]
    assert (res.positions["qty"].iloc[3:] == 0.0).all()
    # The signal leaving the side re-arms entries.
    d = np.ones(10)
    d[5] = 0.0
    res2 = run(df, d, 2.0, rebalance="never", stop_loss=0.03, take_profit=0.03)
    assert res2.positions["qty"].iloc[7] > 0.0


def test_take_profit_fills_at_level() -> None:
    close = np.full(6, 100.0)
    high = close.copy()
    high[2] = 110.0
    df = frame(close, high=high, low=close.copy(), wick=0.0)
    res = run(df, -np.ones(6), 2.0, rebalance="never", take_profit=0.05, fees=0.0)
    assert res.trades["kind"].tolist() == ["rebalance"]
    res = run(df, np.ones(6), 2.0, rebalance="never", take_profit=0.05, fees=0.0)
    tp = res.trades[res.trades["kind"] == "take_profit"]
    assert tp["price"].iloc[0] == pytest.approx(105.0)
    assert res.equity.iloc[-1] == pytest.approx(10_000.0 + 200.0 * 5.0)


def test_metrics_present_and_consistent() -> None:
    df = random_frame(n=300, seed=11)
    res = run(df, np.ones(len(df)), 2.0)
    m = res.metrics
    assert m["total_return"] == pytest.approx(res.equity.iloc[-1] / 10_000.0 - 1.0)
    assert 0.0 <= m["max_drawdown"] <= 1.0
    assert 0.0 <= m["time_under_water"] <= 1.0
    assert m["max_leverage"] >= m["avg_leverage"] > 1.5
    assert m["funding_paid"] == pytest.approx(res.funding.sum())
    assert set(m) >= {"cagr", "volatility", "sharpe", "sortino", "calmar", "turnover", "worst_bar"}
