"""Stress parts, a second review of 02764af/56543fb: funding beyond an isolated margin, dated
futures, the cross margin ratio and the liquidation price after funding
(src/levguard/core/risk/stress.py ``apply_scenario``, docs/risk.md §5)."""

from __future__ import annotations

from typing import Any

import pytest

from levguard.core.margin import evaluate
from levguard.core.risk.stress import Scenario, apply_scenario
from levguard.core.spec import account_from_spec
from levguard.errors import InputError


def _account(venue: str = "binance-usdm", wallet: float = 0.0, positions: Any = ()) -> Any:
    return account_from_spec({"venue": venue, "wallet_balance": wallet, "positions": list(positions)})


def _iso(qty: float, margin: float, leverage: float = 10, symbol: str = "BTCUSDT") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "qty": qty,
        "entry_price": 100_000,
        "mark_price": 100_000,
        "leverage": leverage,
        "margin_mode": "isolated",
        "isolated_margin": margin,
    }


# ------------------------------------------------------------- 3. funding beyond an isolated margin
def test_funding_beyond_an_isolated_margin_is_bad_debt_not_clipped_away() -> None:
    """An isolated long with 1,000 of margin pays 1,500 of funding (5 % x 3 on 10,000): its part
    is -500, so 500 is bad debt.  Before the fix the margin was clipped to 1e-12 and the 500
    vanished (bad_debt 0)."""
    acc = _account(positions=[_iso(0.1, 1_000.0)])
    r = apply_scenario(acc, Scenario("fund", 0.0, funding_rate=0.05, funding_intervals=3))
    assert r.positions[0].funding == pytest.approx(-1_500.0)
    assert (r.equity_before, r.equity_after) == (pytest.approx(1_000.0), 0.0)
    assert r.pnl == pytest.approx(-1_000.0)
    assert r.bad_debt == pytest.approx(500.0)
    assert r.liquidatable
    assert r.positions[0].liquidated


def test_funding_beyond_an_isolated_margin_is_not_paid_back_by_the_price_gain() -> None:
    """A 100x isolated short (margin 100) in a -50 % crash pays 4,500 of funding (-3 % x 3 on
    50,000) and gains 50,000: its part is 100 - 4,500 + 50,000 = 45,600, P&L +45,500.  Before
    the fix the funding beyond the margin was clipped and the P&L read +49,900 (4,400 created)."""
    acc = _account(positions=[_iso(-1, 100.0, leverage=100)])
    r = apply_scenario(acc, Scenario("bt", -0.5, funding_rate=-0.03, funding_intervals=3))
    assert r.positions[0].funding == pytest.approx(-4_500.0)
    assert r.equity_after == pytest.approx(45_600.0)
    assert r.pnl == pytest.approx(45_500.0)
    assert r.positions[0].pnl == pytest.approx(45_500.0)
    assert r.bad_debt == 0.0


def test_funding_beyond_the_margin_counts_in_the_liquidation_trigger() -> None:
    """Margin 1,000, price +1.2 % (+120 on a 0.1 BTC long), funding 1,100: the balance is 20,
    below the maintenance margin (0.4 % of 10,120 = 40.48), so Binance takes it over and the
    1,000 is lost.  Before the fix the margin read 1e-12 + 120 = 120 (not liquidatable) and the
    P&L -880."""
    acc = _account(positions=[_iso(0.1, 1_000.0)])
    rate = 1_100.0 / (0.1 * 101_200.0 * 3)
    r = apply_scenario(acc, Scenario("fund", 0.012, funding_rate=rate, funding_intervals=3))
    assert r.positions[0].funding == pytest.approx(-1_100.0)
    assert r.liquidatable
    assert r.positions[0].liquidated
    assert r.pnl == pytest.approx(-1_000.0)
    assert r.bad_debt == 0.0


# ---------------------------------------------------------------------- 4. dated futures pay none
def test_a_dated_future_pays_no_funding() -> None:
    """BTCUSDT_240628 is a quarterly future: no funding.  Before the fix 3 x 0.1 % of 60,000 =
    180 was charged."""
    acc = account_from_spec(
        {
            "venue": "binance-usdm",
            "wallet_balance": 10_000,
            "positions": [
                {
                    "symbol": "BTCUSDT_240628",
                    "qty": 1,
                    "entry_price": 60_000,
                    "mark_price": 60_000,
                    "leverage": 10,
                    "mmr": 0.005,
                }
            ],
        }
    )
    r = apply_scenario(acc, Scenario("f", 0.0, funding_rate=0.001, funding_intervals=3))
    assert r.positions[0].funding == 0.0
    assert r.pnl == 0.0
    perp = account_from_spec(
        {
            "venue": "binance-usdm",
            "wallet_balance": 10_000,
            "positions": [{"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10}],
        }
    )
    assert apply_scenario(perp, Scenario("f", 0.0, funding_rate=0.001, funding_intervals=3)).pnl == pytest.approx(
        -180.0
    )


# -------------------------------------------------------------------- 5. the cross margin ratio
def test_margin_ratio_after_is_the_cross_parts_and_none_when_it_is_bankrupt() -> None:
    """Cross BTC long 1 behind 5,000, isolated ETH short with 6,000: at -20 % the cross part is
    -7,000 (bankrupt) while the isolated short gains 12,000.  Before the fix the ratio counted the
    isolated margin and read 0.0349 (healthy); the cross part's ratio is None."""
    acc = account_from_spec(
        {
            "venue": "binance-usdm",
            "wallet_balance": 5_000,
            "positions": [
                {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 12},
                {
                    "symbol": "ETHUSDT",
                    "qty": -20,
                    "entry_price": 3_000,
                    "mark_price": 3_000,
                    "leverage": 10,
                    "margin_mode": "isolated",
                    "isolated_margin": 6_000,
                },
            ],
        }
    )
    r = apply_scenario(acc, Scenario("-20%", -0.2))
    assert r.margin_ratio_after is None
    assert r.liquidatable
    assert r.bad_debt == pytest.approx(7_000.0)
    ok = apply_scenario(acc, Scenario("-2%", -0.02))  # cross part 5,000 - 1,200 = 3,800
    after = evaluate(account_from_spec({"venue": "binance-usdm", "wallet_balance": 0, "positions": [
        {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 58_800, "leverage": 12}]}))  # fmt: skip
    assert ok.margin_ratio_after == pytest.approx(after.maintenance_margin / 3_800.0)


def test_margin_ratio_after_counts_pooled_options() -> None:
    """Deribit pools its options: the cross part is the perpetual's plus their value."""
    acc = account_from_spec({"venue": "deribit", "wallet_balance": 10_000, "positions": [
        {"symbol": "BTC_USDC-PERPETUAL", "qty": 0.5, "entry_price": 60_000, "mark_price": 60_000, "leverage": 5}]})  # fmt: skip
    r = apply_scenario(acc, Scenario("0", 0.0), option_values=(-2_000.0, -2_000.0))
    mm = evaluate(acc).maintenance_margin
    assert r.margin_ratio_after == pytest.approx(mm / 8_000.0)


# ------------------------------------------------------------ 7. the liquidation price after funding
def test_liquidation_price_reads_the_wallet_below_zero_after_funding() -> None:
    """Wallet 100, a 0.1 BTC long at 100,000 marked 130,000 (+3,000), funding 1,500: the wallet is
    -1,400 and the equity 1,600.  Binance's formula with WB = -1,400 and mmr 0.4 % gives
    (10,000 + 1,400) / (0.1 x 0.996) = 114,458; before the fix the wallet was floored at 0
    (100,402)."""
    acc = _account(wallet=100.0, positions=[
        {"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 100_000, "mark_price": 130_000, "leverage": 100}])  # fmt: skip
    r = apply_scenario(acc, Scenario("fund", 0.0, funding_rate=0.0384615, funding_intervals=3))
    assert r.positions[0].funding == pytest.approx(-1_500.0, abs=0.01)
    assert not r.liquidatable
    assert r.positions[0].liquidation_price == pytest.approx((10_000.0 - (100.0 - 1_500.0)) / (0.1 * 0.996), rel=1e-6)


def test_evaluate_takes_a_wallet_below_zero_and_refuses_a_non_finite_one() -> None:
    acc = _account(wallet=0.0, positions=[
        {"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 100_000, "mark_price": 130_000, "leverage": 100}])  # fmt: skip
    rep = evaluate(acc, wallet=-1_400.0)
    assert rep.equity == pytest.approx(1_600.0)
    with pytest.raises(InputError, match="wallet must be finite"):
        evaluate(acc, wallet=float("nan"))


# ------------------------------------------- (b) a liquidated cross part on a takeover venue
def test_a_liquidated_cross_part_is_taken_over_where_the_venue_takes_over() -> None:
    """A 10x BTC long behind 6,000 at -9.8 %: 120 left, below the maintenance margin.  Binance
    takes the position over, so nothing is left, as for the isolated twin (before the fix the
    cross account kept 120); Deribit closes it in the book and the 120 stays the trader's."""
    pos = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": 60_000, "leverage": 10}
    crash = Scenario("-9.8%", -0.098)
    cross = apply_scenario(_account(wallet=6_000.0, positions=[pos]), crash)
    isolated = apply_scenario(_account(positions=[pos | {"margin_mode": "isolated", "isolated_margin": 6_000}]), crash)
    assert cross.positions[0].liquidated
    assert (cross.equity_after, cross.pnl, cross.bad_debt) == (0.0, pytest.approx(-6_000.0), 0.0)
    assert (isolated.equity_after, isolated.pnl) == (0.0, pytest.approx(-6_000.0))
    deribit = _account("deribit", 6_000.0, [pos | {"symbol": "BTC_USDC-PERPETUAL"}])
    book = apply_scenario(deribit, crash)
    assert book.liquidatable
    assert book.equity_after == pytest.approx(120.0)
