"""The backtester books liquidations as each venue does, and stops a ruined account.

Venue rules (levguard.core.liquidation_outcome; sources in docs/margin.md): Binance, Bybit, OKX,
Gate and BitMEX take the position over at the bankruptcy price (the margin behind it goes to the
insurance fund); Hyperliquid closes in the book without a fee (20 % slices above 100k USDC, a
backstop below 2/3 of the maintenance margin); Deribit closes just enough to restore the
maintenance margin; Bybit steps a position down its risk limits first.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bt_engine_helpers import crash_frame, frame

from fakes.tiers import FOUR_TIERS
from levguard.backtest.engine import BacktestResult, run
from levguard.backtest.metrics import compute_metrics
from levguard.core.tiers import TierTable
from levguard.data.perp import load_perp_dir


def _drop_frame(start: float, after: float, low: float, n_flat: int = 5, n_after: int = 3) -> pd.DataFrame:
    """Flat at ``start``, then one bar down to ``after`` whose low (and mark low) is ``low``."""
    close = np.r_[np.full(n_flat, start), np.full(n_after, after)]
    prev = np.r_[close[0], close[:-1]]
    lo = np.minimum(close, prev)
    lo[n_flat] = low
    return frame(close, low=lo, high=np.maximum(close, prev), wick=0.0)


@pytest.mark.shared_data
def test_all_in_10x_binance_long_through_2020_03_12_is_wiped_out_and_ruined(shared_dir: Path) -> None:
    # Acceptance: Binance BTCUSDT perpetual (last price and mark klines from shared/data), a 10x
    # isolated long with the whole account from 2020-03-11.  Black Thursday liquidates it: the
    # position is taken over at its bankruptcy price and the insurance fund keeps what was left
    # (binance.com/en/support/faq/360033525271), so the run is ruined and stops.
    data = load_perp_dir(shared_dir / "data", "BTCUSDT", "1h", start="2020-03-11", end="2020-03-14")
    assert "mark_low" in data.columns
    res = run(data, np.ones(len(data)), 10.0, venue="binance-usdm", margin_mode="isolated", rebalance="never")
    (liq,) = res.liquidations.itertuples()
    assert liq.timestamp.strftime("%Y-%m-%d") == "2020-03-12"
    assert liq.taken_over
    assert liq.margin > 9_000.0
    assert liq.kept / liq.margin < 0.005  # less than 0.5 % of the margin is left: here nothing
    assert res.ruined_at == liq.timestamp
    assert res.metrics["ruined"] == 1.0
    after = res.equity[res.equity.index >= res.ruined_at]
    assert (after == after.iloc[0]).all()  # no dust trading on
    assert after.iloc[0] == 0.0
    assert (res.trades["timestamp"] <= res.ruined_at).all()
    assert (res.positions["qty"][res.positions.index >= res.ruined_at] == 0.0).all()
    assert res.metrics["total_return"] == -1.0
    assert math.isnan(res.metrics["sharpe"])  # no ratio of a ruined run (docs/backtest.md, "Ruin")


def test_binance_isolated_liquidation_keeps_nothing_and_ruins_the_account() -> None:
    df = crash_frame()
    res = run(df, np.ones(len(df)), 20.0, rebalance="never")
    liq = res.liquidations.iloc[0]
    assert bool(liq["taken_over"])
    assert liq["kept"] == 0.0
    assert liq["fee"] == pytest.approx(liq["margin"] - liq["loss"])  # the clearance: all that was left
    assert res.ruined_at == liq["timestamp"]
    assert len(res.liquidations) == 1


def test_hyperliquid_slices_then_liquidates_the_rest_and_the_trader_keeps_the_remainder() -> None:
    # 2 BTC at 100,000 (20x): the LP is crossed, 20 % goes first (200k > 100k USDC), the rest's
    # new LP is crossed in the same bar (the 30 s cool-down: the whole position) and the trader
    # keeps the maintenance margin at that price (no clearance fee).
    df = _drop_frame(100_000.0, 96_000.0, 94_000.0)
    res = run(df, np.ones(len(df)), 20.0, venue="hyperliquid", symbol="BTC", rebalance="never", cooldown_bars=99)
    first, second = res.liquidations.itertuples()
    assert first.partial
    assert first.qty == pytest.approx(0.2 * 2.0)
    assert first.fee == 0.0
    assert not second.partial
    assert not second.taken_over
    assert second.qty == pytest.approx(1.6)
    assert second.kept == pytest.approx(1.6 * second.price * 0.0125, rel=1e-9)  # MM at 40x max
    assert res.ruined_at is None
    assert res.equity.iloc[-1] == pytest.approx(second.kept)


def test_hyperliquid_backstop_after_a_gap_keeps_nothing() -> None:
    # The bar opens 9 % lower: equity at the open mark is far below 2/3 of the maintenance margin.
    close = np.r_[np.full(5, 100_000.0), np.full(3, 91_000.0)]
    df = frame(close, open_=close.copy(), wick=0.0)
    res = run(df, np.ones(len(df)), 15.0, venue="hyperliquid", symbol="BTC", rebalance="never")
    liq = res.liquidations.iloc[0]
    assert bool(liq["taken_over"])
    assert liq["kept"] == 0.0
    assert res.ruined_at == liq["timestamp"]


def test_deribit_incremental_liquidation_keeps_part_of_the_position() -> None:
    # A shallow dip beyond the LP: only enough is closed to restore the maintenance margin.
    df = _drop_frame(100_000.0, 97_600.0, 97_300.0)
    res = run(df, np.ones(len(df)), 30.0, venue="deribit", symbol="BTC_USDC-PERPETUAL", rebalance="never")
    (liq,) = res.liquidations.itertuples()
    assert liq.partial
    assert 0.0 < liq.qty < 3.0
    # Deribit's 0.75 % liquidation fee comes on top of the taker fee (0.05 % by default here).
    assert res.params["liquidation_fee_rate"] == pytest.approx(0.0075 + res.params["taker_fee"])
    assert liq.fee == pytest.approx((0.0075 + 0.0005) * liq.qty * liq.price)
    assert res.positions["qty"].iloc[5] == pytest.approx(3.0 - liq.qty)
    assert liq.kept > 0.0
    assert res.ruined_at is None


def test_deribit_deep_move_closes_the_dust_and_ruins() -> None:
    # A deep move keeps cutting the position to restore the margin until what would be left is
    # below Deribit's smallest order (0.001 BTC of BTC_USDC-PERPETUAL, about 97 USDC here): that
    # rest is closed too, and the equity left cannot open a new order at 50x, so the run is
    # ruined rather than trading dust.
    df = _drop_frame(100_000.0, 96_500.0, 95_000.0)
    res = run(df, np.ones(len(df)), 30.0, venue="deribit", symbol="BTC_USDC-PERPETUAL", rebalance="never")
    (liq,) = res.liquidations.itertuples()
    assert not liq.partial
    assert liq.qty == pytest.approx(3.0)
    assert 0.0 < liq.kept < 0.001 * 95_000.0 / 50.0
    assert res.ruined_at == df.index[5]
    assert (res.equity.iloc[5:] == res.equity.iloc[5]).all()
    assert res.equity.iloc[5] == pytest.approx(liq.kept, rel=1e-6)
    assert (res.positions["qty"].iloc[5:] == 0.0).all()


def test_bybit_steps_down_a_risk_limit_then_takes_the_position_over() -> None:
    tiers = TierTable.from_rows(
        [
            {"notional_floor": 0, "notional_cap": 200_000, "mmr": 0.005, "max_leverage": 100},
            {"notional_floor": 200_000, "notional_cap": 400_000, "mmr": 0.01, "max_leverage": 50},
            {"notional_floor": 400_000, "notional_cap": None, "mmr": 0.015, "max_leverage": 25},
        ]
    )
    df = _drop_frame(100_000.0, 96_500.0, 95_000.0)
    res = run(
        df, np.ones(len(df)), 30.0, venue="bybit-linear", tiers=tiers, rebalance="never", check_initial_margin=False
    )
    step, full = res.liquidations.itertuples()
    assert step.partial
    assert step.qty == pytest.approx(1.0)  # 3 BTC (300k at entry, tier 2) down to the 200k cap
    assert full.taken_over
    assert full.kept == 0.0
    assert res.ruined_at == full.timestamp


def test_a_cross_takeover_takes_the_whole_account() -> None:
    a = _drop_frame(100.0, 90.0, 90.0)
    b = frame(np.full(8, 50.0), wick=0.0)
    data = {"BTCUSDT": a, "ETHUSDT": b}
    directions = {"BTCUSDT": np.ones(8), "ETHUSDT": -np.ones(8)}
    policy = {"BTCUSDT": 20.0, "ETHUSDT": 2.0}
    cross = run(data, directions, policy, margin_mode="cross", rebalance="never")
    assert set(cross.liquidations["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    assert cross.liquidations["taken_over"].all()
    assert cross.equity.iloc[-1] == 0.0
    assert cross.ruined_at == df_index(a)[5]
    # Isolated: only the BTC sleeve is lost; the ETH sleeve (half the capital) trades on.
    iso = run(data, directions, policy, margin_mode="isolated", rebalance="never")
    assert list(iso.liquidations["symbol"]) == ["BTCUSDT"]
    assert iso.ruined_at is None
    assert iso.equity.iloc[-1] > 4_900.0


def df_index(df: pd.DataFrame) -> pd.DatetimeIndex:
    index = df.index
    assert isinstance(index, pd.DatetimeIndex)
    return index


def test_the_generic_rule_books_the_fee_and_keeps_the_rest() -> None:
    df = crash_frame()
    res = run(df, np.ones(len(df)), 20.0, rebalance="never", liquidation="generic", fees=0.0005, cooldown_bars=99)
    liq = res.liquidations.iloc[0]
    assert not bool(liq["taken_over"])
    assert liq["fee"] == pytest.approx(0.0005 * liq["qty"] * liq["price"])
    assert liq["kept"] == pytest.approx(liq["margin"] - liq["loss"] - liq["fee"])
    assert res.ruined_at is None


def test_ruin_closes_what_is_left_and_freezes_the_equity() -> None:
    # A minimum order so large that a 4 % loss leaves the account unable to open it at the tiers'
    # 2x (the first order, 20,000 at 2x, is above it: an order below the minimum is not filled).
    df = crash_frame(n_down=30, step=0.005)
    tiers = TierTable.fixed_rate(0.005, 0.0, 2.0)
    res = run(df, np.ones(len(df)), 2.0, tiers=tiers, rebalance="never", min_notional=0.96 * 10_000.0 * 2)
    assert res.ruined_at is not None
    k = int(df.index.get_loc(res.ruined_at))
    ruin = res.trades[res.trades["kind"] == "ruin"]
    assert len(ruin) == 1
    assert ruin["timestamp"].iloc[0] == res.ruined_at
    assert ruin["price"].iloc[0] == df["close"].iloc[k]
    assert res.liquidations.empty
    tail = res.equity.iloc[k:]
    assert (tail == tail.iloc[0]).all()
    assert tail.iloc[0] == res.positions["cash"].iloc[k]
    assert (res.positions["qty"].iloc[k:] == 0.0).all()
    assert (res.funding.iloc[k + 1 :] == 0.0).all()
    assert res.params["min_notional"] == pytest.approx(0.96 * 10_000.0 * 2)
    # The metrics are those of the bars up to the ruin.
    m = compute_metrics(
        res.equity.to_numpy()[: k + 1],
        10_000.0,
        res.params["periods_per_year"],
        leverage=res.positions["leverage"].to_numpy()[: k + 1],
        fees=res.fees.to_numpy()[: k + 1],
        funding=res.funding.to_numpy()[: k + 1],
        traded_notional=float((res.trades["qty"].abs() * res.trades["price"]).sum()),
        n_liquidations=0,
    )
    for name in ("total_return", "cagr", "volatility", "max_drawdown", "worst_bar", "time_under_water"):
        assert res.metrics[name] == pytest.approx(m[name]), name
    # No ratio describes a ruined run: Sharpe, Sortino and Calmar are NaN.
    for name in ("sharpe", "sortino", "calmar"):
        assert math.isnan(res.metrics[name]), name
        assert not math.isnan(m[name]), name


def test_the_venue_minimum_order_is_the_default_ruin_threshold() -> None:
    res = run(crash_frame(), np.ones(40), 1.0, rebalance="never")
    assert res.params["min_notional"] == 100.0  # Binance USDⓈ-M BTCUSDT (5 USDT for most symbols)
    assert res.ruined_at is None
    assert res.metrics["ruined"] == 0.0


@pytest.mark.parametrize(
    ("gap_to", "account_equity"),
    [
        (94.0, 9_875.0 - 2_000.0 * 6.0),  # the account is under water: the fund pays its shortfall
        (95.1125, 100.0),  # BTC's own share is negative, the account is not: the fund is owed 100
    ],
)
def test_a_cross_takeover_books_the_account_once(gap_to: float, account_equity: float) -> None:
    # Binance cross: a gap takes the account below its maintenance margin; it is bankrupt as a
    # whole, so what the insurance fund receives (the clearance) or pays (bad debt) is the
    # account's equity at the fill, once: ETH's maintenance margin must not be counted as a
    # clearance on its row and again as BTC's bad debt (binance.com/en/support/faq/360033525271:
    # "a portion of the remaining collateral (if any)" to the fund; a negative balance brought
    # back to 0 by the fund).
    close = np.r_[np.full(5, 100.0), np.full(3, gap_to)]
    a = frame(close, open_=close.copy(), wick=0.0)
    b = frame(np.full(8, 50.0), wick=0.0)
    data = {"BTCUSDT": a, "ETHUSDT": b}
    directions = {"BTCUSDT": np.ones(8), "ETHUSDT": np.ones(8)}
    policy = {"BTCUSDT": 40.0, "ETHUSDT": 10.0}
    res = run(data, directions, policy, margin_mode="cross", rebalance="never", check_initial_margin=False)
    assert res.positions["cash"].iloc[4] == pytest.approx(9_875.0)  # 250k opened at 0.05 %
    liqs = res.liquidations
    assert set(liqs["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    assert liqs["taken_over"].all()
    assert liqs["fee"].sum() == pytest.approx(max(account_equity, 0.0), abs=1e-6)
    assert res.metrics["bad_debt"] == pytest.approx(max(-account_equity, 0.0), abs=1e-6)
    assert (liqs["fee"] - liqs["bad_debt"]).sum() == pytest.approx(account_equity, abs=1e-6)
    assert (liqs["kept"] == 0.0).all()
    assert res.equity.iloc[-1] == 0.0
    assert res.ruined_at == df_index(a)[5]


def test_isolated_sleeves_that_lose_everything_ruin_without_a_minimum_order() -> None:
    # Three equal sleeves (weights 1/3 each: their float sum leaves 1.5e-11 of "idle" capital)
    # all taken over; with no minimum order only an equity of 0 ruins, and that is what is left.
    df = crash_frame()
    data = {s: df for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    tiers = TierTable.from_rows([{"notional_floor": 0, "notional_cap": None, "mmr": 0.005, "max_leverage": 100}])
    res = run(
        data,
        {s: np.ones(len(df)) for s in data},
        {s: 20.0 for s in data},
        margin_mode="isolated",
        rebalance="never",
        tiers=dict.fromkeys(data, tiers),
        min_notional=0.0,
    )
    assert len(res.liquidations) == 3
    assert res.liquidations["taken_over"].all()
    assert res.equity.iloc[-1] == 0.0
    assert res.ruined_at == res.liquidations["timestamp"].iloc[-1]
    assert res.metrics["ruined"] == 1.0


def test_a_book_venue_without_a_minimum_order_is_ruined_at_dust() -> None:
    # dYdX v4 keeps the remainder after each liquidation; re-entering at 50x down a long slide
    # shrinks the equity geometrically.  With no minimum order known (min_notional 0) the run is
    # ruined once its equity is below one millionth of the initial equity, not left trading dust.
    df = crash_frame(n_flat=10, n_down=600, step=0.01)
    res = run(df, np.ones(len(df)), 50.0, venue="dydx-v4", symbol="BTC-USD", margin_mode="isolated", min_notional=0.0)
    assert res.ruined_at is not None
    assert 0.0 <= res.equity.iloc[-1] < 1e-6 * 10_000.0
    assert (res.equity.loc[res.ruined_at :] == res.equity.iloc[-1]).all()
    after = res.trades[res.trades["timestamp"] > res.ruined_at]
    assert after.empty


def test_a_venue_minimum_quantity_is_a_ruin_threshold_too() -> None:
    # OKX publishes a minimum size (0.1 contract x 0.01 BTC = 0.001 BTC on BTC-USDT-SWAP), not
    # a minimum notional: at 100 USDT and 100x its initial margin is 0.001 USDT, so an account of
    # 0.0009 USDT cannot open it and is ruined at once; told that no minimum exists (min_notional=0)
    # the same account trades on.
    table = TierTable.fixed_rate(0.005, 0.0, 100.0)
    args = (crash_frame(), np.ones(40), 1.0)
    res = run(*args, venue="okx", tiers=table, initial_equity=0.0009, rebalance="never")
    assert res.params["min_qty"] == pytest.approx(0.001)
    assert res.params["min_notional"] == 0.0
    assert res.ruined_at == res.equity.index[0]
    free = run(*args, venue="okx", tiers=table, initial_equity=0.0009, rebalance="never", min_notional=0.0)
    assert free.params["min_qty"] == 0.0
    assert free.ruined_at is None
    enough = run(args[0], args[1], 100.0, venue="okx", tiers=table, initial_equity=0.0011, rebalance="never")
    assert enough.trades.shape[0] > 0  # 0.0011 opens 0.001 BTC's margin at 100x (at 1x it is below the minimum)


def test_gate_initial_margin_check_holds_the_close_fee() -> None:
    """Gate's IM is ``N / L + N t`` (help 22148): with 1,000 of equity, a 100x cap and a 0.075 %
    taker fee the check admits 1 / (1/100 + 0.00075) = 93.03x of notional; it admitted 100x, an
    IM of 1,075 by the engine's rule (a review)."""
    idx = pd.date_range("2024-01-01", periods=6, freq="1h", tz="UTC")
    px = np.full(6, 50_000.0)
    df = pd.DataFrame({"open": px, "high": px, "low": px, "close": px, "volume": np.ones(6)}, index=idx)
    tiers = TierTable.from_rows([{"notional_floor": 0, "notional_cap": 1e7, "max_leverage": 100, "mmr": 0.005}])
    args = {"symbol": "BTC_USDT", "initial_equity": 1_000.0, "fees": 0.00075, "slippage": 0.0, "tiers": tiers}

    def opened(res: BacktestResult) -> float:  # the first fill's notional over the equity it was sized on
        first = res.trades.iloc[0]
        return float(abs(first["qty"]) * first["price"] / 1_000.0)

    gate = run(df, np.ones(6), 100.0, venue="gate", **args)
    assert opened(gate) == pytest.approx(1.0 / (1.0 / 100 + 0.00075), rel=1e-9)
    # The fee paid then lifts the leverage held to 100x: a refused increase leaves the position.
    assert len(gate.trades) == 1
    okx = run(df, np.ones(6), 100.0, venue="okx", **args)
    assert opened(okx) == pytest.approx(100.0, rel=1e-9)
    assert okx.positions["leverage"].iloc[-1] == pytest.approx(100.0, rel=1e-3)


def test_bybit_gap_steps_down_in_one_order_to_the_limit_that_restores_the_margin() -> None:
    """25 BTC @ 100,000 at 40x (2.5M, tier 3) on 62,500, and a bar that opens at 98,000: equity
    12,500.  The 2M limit would leave 20 BTC needing 15,000; the 1M limit leaves 10 BTC needing
    5,000, so one order closes 15 BTC and 10 stay with 32,500 behind them (help.bybit.com
    900000167723).  One tier per trigger closed 5 and took the other 20 over at the next touch."""
    close = np.array([100_000.0] * 3 + [98_000.0] * 3)
    res = run(
        frame(close, open_=close, wick=0.0), np.ones(6), 40.0, venue="bybit-linear", tiers=FOUR_TIERS,
        initial_equity=62_500.0, fees=0.0, slippage=0.0, rebalance="never",
    )  # fmt: skip
    liq = res.liquidations
    assert liq["qty"].tolist() == pytest.approx([15.0], rel=1e-12)
    assert liq["price"].tolist() == pytest.approx([98_000.0], rel=1e-12)
    assert liq["kept"].tolist() == pytest.approx([32_500.0], rel=1e-12)
    assert liq["partial"].all()
    assert not liq["taken_over"].any()
    assert res.positions["qty"].iloc[-1] == pytest.approx(10.0, rel=1e-12)


def test_hyperliquid_cross_backstop_tests_the_account_not_one_position() -> None:
    # Hyperliquid cross (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations; reference
    # section 7): the backstop takes over when the account's equity is below 2/3 of its
    # maintenance margin.  0.9 BTC (18x, 1.25 % MM) and 20 ETH (10x, 2 % MM) on 10,000; BTC gaps
    # to 90,500: equity 1,450, total MM 2,018.125 (2/3: 1,345.4), so BTC is closed in the book
    # (81,450 <= 100k: whole) and ETH trades on.  BTC's own share, 1,450 - 1,000 = 450, is below
    # 2/3 of its 1,018.125: the per-position test took the whole account over.
    close = np.r_[np.full(5, 100_000.0), np.full(3, 90_500.0)]
    data = {"BTC": frame(close, open_=close.copy(), wick=0.0), "ETH": frame(np.full(8, 2_500.0), wick=0.0)}
    directions = {"BTC": np.ones(8), "ETH": np.ones(8)}
    res = run(
        data, directions, {"BTC": 18.0, "ETH": 10.0}, venue="hyperliquid", margin_mode="cross",
        rebalance="never", fees=0.0, check_initial_margin=False,
    )  # fmt: skip
    (liq,) = res.liquidations.itertuples()
    assert liq.symbol == "BTC"
    assert not liq.taken_over
    assert liq.qty == pytest.approx(0.9)
    assert liq.kept == pytest.approx(450.0)
    assert res.ruined_at is None
    assert res.equity.iloc[-1] == pytest.approx(1_450.0)  # ETH open at its entry, nothing lost


def test_dydx_cross_fee_is_the_positions_share_of_the_account_equity() -> None:
    # dYdX v4 (reference section 6, [DYDX_INSURANCE_DELTA]): the fund takes min(1.5 % x quote, d),
    # d = quote - bankruptcy quote = TNC x MM_BTC / TMMR at the fill.  1 BTC and 40 ETH (20x each,
    # MM 1.2 %) on 10,000; BTC gaps to 92,000: TNC 2,000, MM 1,104 + 1,200, d = 958.33 (the
    # 1.5 % fee is 1,380).  The 800 left behind BTC after ETH's MM capped it at 800.
    from levguard.core.rules.dydx import bankruptcy_quote_quantums, insurance_fund_delta

    close = np.r_[np.full(5, 100_000.0), np.full(3, 92_000.0)]
    data = {"BTC-USD": frame(close, open_=close.copy(), wick=0.0), "ETH-USD": frame(np.full(8, 2_500.0), wick=0.0)}
    directions = {"BTC-USD": np.ones(8), "ETH-USD": np.ones(8)}
    res = run(
        data, directions, {"BTC-USD": 20.0, "ETH-USD": 20.0}, venue="dydx-v4", margin_mode="cross",
        rebalance="never", fees=0.0, check_initial_margin=False,
    )  # fmt: skip
    first = res.liquidations.iloc[0]
    assert first["symbol"] == "BTC-USD"
    assert not bool(first["taken_over"])
    quote = insurance_fund_delta(92_000, bankruptcy_quote_quantums(-92_000, 2_000, -1_104, 2_304))
    assert first["fee"] == pytest.approx(2_000.0 * 1_104.0 / 2_304.0)
    assert first["fee"] == pytest.approx(quote, abs=1.0)  # the protocol's quantums round up the quote
    assert first["bad_debt"] == 0.0
    # Money: what the wallet lost is the trading loss plus the fees, nothing paid by the fund.
    assert res.liquidations["bad_debt"].sum() == 0.0
    assert res.equity.iloc[-1] == pytest.approx(10_000.0 - 8_000.0 - res.liquidations["fee"].sum(), abs=1e-6)


def test_a_negative_share_in_a_solvent_cross_account_is_no_bad_debt() -> None:
    """Hyperliquid cross, BTC 0.99 and DOGE on 10,000: BTC gaps to 94,000 (a loss of 5,940). Its
    collateral share goes below 0 (-440) while the account keeps 4,060: the fund pays nothing, so
    the liquidation row books no bad debt (it booked 440 although the equity stayed 4,060)."""
    close = np.r_[np.full(5, 100_000.0), np.full(3, 94_000.0)]
    data = {"BTC": frame(close, open_=close.copy(), wick=0.0), "DOGE": frame(np.full(8, 0.2), wick=0.0)}
    res = run(data, {"BTC": np.ones(8), "DOGE": np.ones(8)}, {"BTC": 19.8, "DOGE": 18.0}, venue="hyperliquid",
              margin_mode="cross", rebalance="never", fees=0.0, check_initial_margin=False)  # fmt: skip
    assert float(res.equity.iloc[-1]) == pytest.approx(4_060.0)
    assert res.liquidations["bad_debt"].sum() == 0.0
    assert res.metrics["bad_debt"] == 0.0
