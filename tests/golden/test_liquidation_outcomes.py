"""Golden tests: what a liquidation leaves the trader on each venue, from the venues' own examples.

Sources (each test cites its page):
* BitMEX, testnet.bitmex.com/app/liquidationExamples: long 1 contract at 100.00, liquidation price
  99.50, bankruptcy price 99.00; the engine's limit order at the bankruptcy price fills at 99.25
  (0.25 to the insurance fund), or another trader's at 98.75 (the fund pays 0.25).
  bitmex.com/app/isolatedMarginExamples: wallet 10,000 USDT, 20 ETHUSDT @ 1,000 at 50x:
  maintenance margin 200, liquidation price 510, bankruptcy price 500; bitmex.com/app/liquidation:
  "your maintenance margin will be lost".
* Gate, gate.com/help/futures/futures-logic/22081 (insurance fund): bankruptcy price 10,000 USDT,
  liquidation fill 10,100 USDT: 100 USDT to the fund; the user loses the margin.
* Bybit, bybit.com/en/help-center/article/Insurance-Fund: long BTCUSD, liquidation price 7,000 USD,
  bankruptcy price 6,950 USD; filled at 6,980 the remaining margin goes to the fund, at 6,930 the
  fund covers the loss.
* OKX, okx.com/support/hc/en-us/articles/360020411711: a tier-3 position of 15,000 swaps is reduced
  to tier 1 (2,000 swaps): 13,000 swaps closed.
* dYdX, v4 documentation "Contract Loss Mechanisms" (concepts/trading/contract-loss-mechanism, read
  at dydx-documentation-six.vercel.app), insurance fund example: 100 USD deposit, long 500 ABC at 1,
  maintenance 3 % (15 USD), liquidated at 0.77; v4-chain ``insurance_fund_delta`` for the fee case.
* Hyperliquid, hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations: no clearance fee, the
  remaining collateral stays with the trader; 20 % of positions above 100k USDC; backstop below 2/3
  of the maintenance margin (the maintenance margin is not returned).  MM = half the initial
  margin at the maximum leverage (40x for BTC: 1.25 %).
* Deribit, support.deribit.com 25944769313309 (incremental liquidation) and 25944826427293
  (11 January 2022: maintenance 1 % + size x 0.005 %, BTC liquidation fee 0.75 %); the linear
  perpetual page's 25 BTC example: maintenance 1.125 % = 28,125 USDC at 100,000.
* Binance, binance.com/en/support/faq/360033525271 (liquidation protocols): closed at the
  bankruptcy price, the remaining collateral to the insurance fund; docs/margin.md's worked LP
  (1 BTC @ 60,000, 3,000 USDT isolated: LP 57,236.18, BP 57,000).
"""

from __future__ import annotations

import pytest

from fakes.tiers import FOUR_TIERS
from levguard.core.liquidation_outcome import LiquidationOutcome, cascade_regime_fields, liquidation_outcome
from levguard.core.rules import get_venue, venue_names
from levguard.core.rules.binance import BUILTIN_TIERS
from levguard.core.rules.dydx import bankruptcy_quote_quantums, insurance_fund_delta
from levguard.core.tiers import TierTable
from levguard.errors import InputError


def _conserved(o: LiquidationOutcome) -> None:
    assert o.margin == pytest.approx(o.kept + o.insurance_fund - o.trading_pnl, abs=1e-9 * max(1.0, abs(o.margin)))


@pytest.mark.parametrize(("fill", "fund"), [(99.25, 0.25), (98.75, -0.25)])
def test_bitmex_liquidation_examples(fill: float, fund: float) -> None:
    # Long 1 @ 100.00 with 1.00 of margin: bankruptcy price 99.00.
    o = liquidation_outcome("bitmex", 1.0, 100.0, fill, 1.0)
    assert o.bankruptcy_price == pytest.approx(99.0)
    assert o.taken_over
    assert o.kept == 0.0
    assert o.insurance_fund == pytest.approx(fund)
    _conserved(o)


def test_bitmex_cross_example_loses_the_maintenance_margin() -> None:
    # Wallet 10,000, 20 ETHUSDT @ 1,000: BP 500; liquidated at the LP 510 the fund receives the
    # maintenance margin, 200, and the trader keeps nothing of the wallet.
    o = liquidation_outcome("bitmex", 20.0, 1_000.0, 510.0, 10_000.0, maintenance_margin=200.0)
    assert o.bankruptcy_price == pytest.approx(500.0)
    assert o.kept == 0.0
    assert o.insurance_fund == pytest.approx(200.0)
    assert o.fee == pytest.approx(200.0)
    _conserved(o)


@pytest.mark.parametrize(("entry", "margin"), [(11_000.0, 1_000.0), (10_500.0, 500.0), (10_100.0, 100.0)])
def test_gate_insurance_fund_example(entry: float, margin: float) -> None:
    # Any long of 1 BTC whose bankruptcy price is 10,000 USDT, filled at 10,100 USDT.
    o = liquidation_outcome("gate", 1.0, entry, 10_100.0, margin)
    assert o.bankruptcy_price == pytest.approx(10_000.0)
    assert o.insurance_fund == pytest.approx(100.0)
    assert o.kept == 0.0
    _conserved(o)


@pytest.mark.parametrize(("fill", "sign"), [(6_980.0, 1.0), (6_930.0, -1.0)])
def test_bybit_insurance_fund_example_inverse(fill: float, sign: float) -> None:
    # Inverse BTCUSD long of 7,500 USD entered at 7,500 with the margin that puts its bankruptcy
    # price at 6,950 (1/BP = 1/EP + margin/q).
    q, ep = 7_500.0, 7_500.0
    margin = q * (1.0 / 6_950.0 - 1.0 / ep)
    o = liquidation_outcome("bybit-inverse", q, ep, fill, margin, inverse=True)
    assert o.bankruptcy_price == pytest.approx(6_950.0)
    assert o.kept == 0.0
    assert sign * o.insurance_fund > 0.0
    assert o.insurance_fund == pytest.approx(q * (1.0 / 6_950.0 - 1.0 / fill))  # in BTC
    _conserved(o)


def test_binance_takeover_of_the_docs_position() -> None:
    # Liquidated at its LP, the isolated margin's remainder (the maintenance margin at the LP,
    # 57,236.18 x 0.5 % - 50) is the clearance; the trader keeps nothing.
    lp = (60_000.0 - 3_000.0 - 50.0) / (1.0 - 0.005)  # bracket 2: MMR 0.5 %, cum 50
    assert lp == pytest.approx(57_236.18, abs=0.005)
    o = liquidation_outcome("binance-usdm", 1.0, 60_000.0, lp, 3_000.0, tiers=BUILTIN_TIERS["BTCUSDT"])
    assert o.bankruptcy_price == pytest.approx(57_000.0)
    assert o.kept == 0.0
    assert o.fee == pytest.approx(lp * 0.005 - 50.0)
    assert o.insurance_fund == pytest.approx(lp - 57_000.0)
    _conserved(o)


def test_okx_tier_three_is_reduced_to_tier_one() -> None:
    # Tiers in swaps (contract size 1 at a price of 100): tier 1 up to 2,000, tier 2 up to
    # 12,000, tier 3 beyond; 15,000 swaps held.
    price = 100.0
    tiers = TierTable.from_rows(
        [
            {"notional_floor": 0, "notional_cap": 2_000 * price, "mmr": 0.01, "max_leverage": 50},
            {"notional_floor": 2_000 * price, "notional_cap": 12_000 * price, "mmr": 0.015, "max_leverage": 25},
            {"notional_floor": 12_000 * price, "notional_cap": None, "mmr": 0.02, "max_leverage": 20},
        ]
    )
    o = liquidation_outcome("okx", 15_000.0, 105.0, price, 100_000.0, tiers=tiers)
    assert o.partial
    assert o.closed_qty == pytest.approx(13_000.0)
    # The reduction pays the liquidation fee at the account's taker rate: OKX's 0.05 % by default
    # (it was 0 unless the caller passed taker_fee).
    assert o.fee == pytest.approx(0.0005 * 13_000.0 * price)
    assert liquidation_outcome("okx", 15_000.0, 105.0, price, 100_000.0, tiers=tiers, taker_fee=0.0).fee == 0.0
    assert o.remaining_qty == pytest.approx(2_000.0)
    assert not o.taken_over
    _conserved(o)
    # Equity below the whole position's requirement at tier 1's rate plus the fee (OKX help
    # 360020411711: "the margin ratio ... below tier 1's MMR + liquidation fee"): the whole goes to
    # the liquidation engine at the bankruptcy price.  82,500 of margin at 100 leaves 7,500 of
    # equity against 1.5M x 1.05 % = 15,750; levguard reduced it and left the trader 16,850.
    deep = liquidation_outcome("okx", 15_000.0, 105.0, price, 82_500.0, tiers=tiers)
    assert not deep.partial
    assert deep.taken_over
    assert deep.kept == 0.0
    assert deep.insurance_fund == pytest.approx(7_500.0)
    _conserved(deep)
    # In tier 2 (10,000 swaps) OKX liquidates the whole position at the bankruptcy price.
    full = liquidation_outcome("okx", 10_000.0, 105.0, price, 50_000.0, tiers=tiers)
    assert not full.partial
    assert full.taken_over
    assert full.kept == 0.0


def test_bybit_steps_down_one_risk_limit_then_takes_over() -> None:
    tiers = TierTable.from_rows(
        [
            {"notional_floor": 0, "notional_cap": 2_000_000, "mmr": 0.005, "max_leverage": 100},
            {"notional_floor": 2_000_000, "notional_cap": 4_000_000, "mmr": 0.01, "max_leverage": 50},
            {"notional_floor": 4_000_000, "notional_cap": None, "mmr": 0.015, "max_leverage": 33},
        ]
    )
    # 50 BTC at 60,000 (3M, tier 2, maintenance at entry on Bybit): reduced to the 2M cap.
    # 3,000,000 of notional on 200,000 filled at 59,000: equity 150,000 against a 30,000 maintenance, so the
    # trigger is not tested (check_trigger=False): the step's size is.
    kw = {"tiers": tiers, "taker_fee": 0.00055, "check_trigger": False}
    o = liquidation_outcome("bybit-linear", 50.0, 60_000.0, 59_000.0, 200_000.0, mm_at_entry=True, **kw)
    assert o.partial
    assert o.remaining_qty == pytest.approx(2_000_000 / 60_000.0)
    # The reduce order pays the taker fee (Bybit has no published liquidation fee for it).
    assert o.fee == pytest.approx(0.00055 * o.closed_qty * 59_000.0)
    _conserved(o)
    # By the venue's name the tiers are read at entry as Bybit values them (it read them at the
    # fill unless told: 33.898 BTC left instead of 33.333).
    assert liquidation_outcome("bybit-linear", 50.0, 60_000.0, 59_000.0, 200_000.0, **kw) == o
    # On the lowest risk limit (or still in liquidation after the reduction) it is taken over.
    # 20 BTC @ 60,000 on 55,000 filled at 57,500: equity 5,000 below the 6,000 maintenance at entry.
    low = liquidation_outcome("bybit-linear", 20.0, 60_000.0, 57_500.0, 55_000.0, tiers=tiers, mm_at_entry=True)
    assert low.taken_over
    assert low.kept == 0.0
    assert not low.partial


def test_bybit_reduces_to_the_risk_limit_that_restores_the_margin_in_one_order() -> None:
    # Bybit (help.bybit.com 900000167723): one FillOrKill "of the difference between the current
    # position value and the lower margin tier value which satisfies the margin requirement".
    # 25 BTC long @ 100,000 (2.5M, tier 3) on 62,500, filled at 98,000: equity 12,500.  At the
    # 2M limit the MM is 15,000 (1 %, deduction 5,000): not enough; at the 1M limit 5,000: the
    # order closes 15 BTC and 10 stay with 32,500 behind them.  One tier per trigger closed 5
    # and, in the backtester's bar, took the other 20 over (the trader kept 0).
    o = liquidation_outcome("bybit-linear", 25.0, 100_000, 98_000, 62_500, tiers=FOUR_TIERS, taker_fee=0.0)
    assert o.partial
    assert not o.taken_over
    assert o.closed_qty == pytest.approx(15.0, rel=1e-12)
    assert o.remaining_qty == pytest.approx(10.0, rel=1e-12)
    assert o.kept == pytest.approx(32_500.0, rel=1e-12)
    _conserved(o)
    # The rest is out of liquidation: its equity at the fill covers its MM at entry.
    assert o.kept + 10.0 * (98_000 - 100_000) > FOUR_TIERS.maintenance_margin(10.0 * 100_000)
    # Gate lowers the limit tier by tier until the ratio is back above 100 % (help 22159): the
    # same place, its tiers read at the fill (1M / 98,000 = 10.2041 BTC stay).
    g = liquidation_outcome("gate", 25.0, 100_000, 98_000, 62_500, tiers=FOUR_TIERS, taker_fee=0.0)
    assert g.remaining_qty == pytest.approx(1e6 / 98_000, rel=1e-9)
    assert not g.taken_over


def test_bitmex_reduces_once_below_the_next_limit_then_takes_over() -> None:
    # BitMEX (testnet.bitmex.com/app/liquidationExamples): one FillOrKill to bring the position
    # "below a lower tier Risk Limit"; "if after a successful execution the position is still in
    # liquidation, then the entire position is taken over".  The same 25 BTC: below 2M the MM is
    # 1 % of the whole (20,000 > 12,500 of equity), so the whole position is taken over.
    table = FOUR_TIERS.without_deduction()
    o = liquidation_outcome("bitmex", 25.0, 100_000, 98_000, 62_500, tiers=table, taker_fee=0.0)
    assert o.taken_over
    assert o.kept == 0.0
    # With 82,500 of margin (equity 32,500 at the fill) one reduction restores it: the rest sits
    # strictly below the 2M limit, so it pays 1 %, not 1.5 %.
    r = liquidation_outcome("bitmex", 25.0, 100_000, 98_000, 82_500, tiers=table, taker_fee=0.0)
    assert r.partial
    assert r.remaining_qty < 20.0
    assert r.remaining_qty == pytest.approx(20.0, rel=1e-8)
    assert table.index(r.remaining_qty * 100_000) == 1
    _conserved(r)


@pytest.mark.parametrize(("fill", "kept", "fund"), [(0.77, 0.0, -15.0), (0.81, 0.0, 5.0), (0.85, 18.625, 6.375)])
def test_dydx_contract_loss_example(fill: float, kept: float, fund: float) -> None:
    # 100 USD deposit, 500 ABC long at 1: bankruptcy price 0.80.  At 0.77 the fund covers 15 USD;
    # at 0.81 the remainder is 5 USD and the fund takes min(1.5 % x 405, 5) = 5 (mainnet's 15,000
    # ppm; 0.5 % under the protocol's default config left 2.975); at 0.85, min(6.375, 25).
    # Liquidated (the example's premise), it fills at or above the bankruptcy price; at 0.85 the
    # equity at the fill, 25, is above the 15 of maintenance, so the trigger is not tested there.
    o = liquidation_outcome("dydx-v4", 500.0, 1.0, fill, 100.0, maintenance_margin=15.0, check_trigger=False)
    assert o.bankruptcy_price == pytest.approx(0.8)
    assert o.kept == pytest.approx(kept, abs=1e-9)
    assert o.insurance_fund == pytest.approx(fund, abs=1e-9)
    assert not o.taken_over
    _conserved(o)
    # The same fund change as the protocol's own function, in quote quantums.
    received, bankruptcy = round(500 * fill * 1e6), round(500 * 0.8 * 1e6)
    assert insurance_fund_delta(received, bankruptcy) == pytest.approx(fund * 1e6, abs=1)


def _hl_lp(qty: float, entry: float, margin: float, mmr: float = 0.0125) -> float:
    # Hyperliquid's docs: liq = price - side * margin_available / position_size / (1 - l * side)
    # with margin_available = isolated_margin - MM at the entry price (long, side +1).
    available = margin - qty * entry * mmr
    return entry - available / qty / (1.0 - mmr)


def test_hyperliquid_book_liquidation_keeps_the_remainder() -> None:
    # 0.8 BTC at 100,000 (80k < 100k USDC: closed whole), 4,000 USDC isolated: at the LP the
    # equity is the maintenance margin, kept in full (no clearance fee).
    lp = _hl_lp(0.8, 100_000.0, 4_000.0)
    mm = 0.8 * lp * 0.0125
    o = liquidation_outcome("hyperliquid", 0.8, 100_000.0, lp, 4_000.0, maintenance_margin=mm)
    assert not o.partial
    assert not o.taken_over
    assert o.fee == 0.0
    assert o.kept == pytest.approx(mm, rel=1e-9)
    _conserved(o)


def test_hyperliquid_slices_large_positions_then_the_whole_in_the_cooldown() -> None:
    lp = _hl_lp(2.0, 100_000.0, 10_000.0)  # 2 BTC: 192k USDC at the LP, above 100k
    mm = 2.0 * lp * 0.0125
    o = liquidation_outcome("hyperliquid", 2.0, 100_000.0, lp, 10_000.0, maintenance_margin=mm)
    assert o.partial
    assert o.closed_qty == pytest.approx(0.4)  # 20 %
    assert o.kept == pytest.approx(10_000.0 + 0.4 * (lp - 100_000.0))
    _conserved(o)
    whole = liquidation_outcome(
        "hyperliquid",
        1.6,
        100_000.0,
        lp,
        o.kept,
        maintenance_margin=1.6 * lp * 0.0125,
        allow_partial=False,
        check_trigger=False,  # liquidated again within the cool-down (the slice restored it at lp)
    )
    assert not whole.partial
    assert whole.remaining_qty == 0.0
    assert whole.kept == pytest.approx(o.kept + 1.6 * (lp - 100_000.0))


def test_hyperliquid_backstop_below_two_thirds_of_maintenance_keeps_nothing() -> None:
    # A gap: the equity at the fill is half the maintenance margin (< 2/3): backstop liquidation.
    qty, entry, margin = 0.5, 100_000.0, 2_500.0
    fill = 95_200.0
    equity = margin + qty * (fill - entry)  # 100
    mm = 200.0
    assert equity < 2.0 / 3.0 * mm
    o = liquidation_outcome("hyperliquid", qty, entry, fill, margin, maintenance_margin=mm)
    assert o.taken_over
    assert o.kept == 0.0
    assert o.insurance_fund == pytest.approx(equity)
    assert "backstop" in o.reason
    # Just above 2/3 the book liquidation keeps the remainder.
    above = liquidation_outcome("hyperliquid", qty, entry, fill, margin, maintenance_margin=149.0)
    assert not above.taken_over
    assert above.kept == pytest.approx(equity)


def test_hyperliquid_cross_backstop_is_the_account_below_two_thirds_of_its_maintenance() -> None:
    # Reference section 7 (liquidator vault: "equity below 2/3 of MM"; cross positions and margin
    # move to it): wallet 1,600, BTC 0.9 @ 100,000 (MM 1,125) and ETH 20 @ 2,500 (MM 1,000).
    # The account's equity 1,600 is above 2/3 of 2,125 (1,416.67): BTC is closed in the book and
    # keeps its share, 1,600 - 1,000 = 600 (which is below 2/3 of BTC's own 1,125: no matter).
    o = liquidation_outcome(
        "hyperliquid", 0.9, 100_000.0, 100_000.0, 600.0, maintenance_margin=1_125.0, others_maintenance=1_000.0
    )
    assert not o.taken_over
    assert o.kept == pytest.approx(600.0)
    _conserved(o)
    # Below 2/3 of the account's maintenance (equity 1,400 < 1,416.67): the vault takes over.
    below = liquidation_outcome(
        "hyperliquid", 0.9, 100_000.0, 100_000.0, 400.0, maintenance_margin=1_125.0, others_maintenance=1_000.0
    )
    assert below.taken_over
    assert "backstop: equity 1400 below 0.6667 x maintenance 2125" in below.reason
    # Isolated (no other maintenance): one position's numbers, as before.
    assert liquidation_outcome("hyperliquid", 0.9, 100_000.0, 100_000.0, 600.0, maintenance_margin=1_125.0).taken_over


def test_a_cross_position_below_zero_in_a_solvent_account_costs_the_fund_nothing() -> None:
    # Wallet 4,000, BTC 0.99 @ 100,000 (MM 990) and ETH whose MM is 4,500: BTC's share of the
    # collateral is 4,000 - 4,500 = -500, but the account's equity 4,000 is above 2/3 of its
    # maintenance 5,490 (3,660), so BTC is closed in the book.  The account is solvent: the fund
    # pays nothing and BTC keeps -500, borne by the other margin (the fund paid 500 and the
    # account's equity rose to 4,500).
    o = liquidation_outcome(
        "hyperliquid", 0.99, 1e5, 1e5, -500.0, maintenance_margin=990.0, others_maintenance=4_500.0, taker_fee=0.0
    )
    assert not o.taken_over
    assert o.insurance_fund == 0.0
    assert o.kept == -500.0
    _conserved(o)


def test_deribit_keeps_the_rest_of_the_position_and_pays_the_fee() -> None:
    # 25 BTC at 100,000: maintenance 1.125 % = 28,125 USDC; equity 28,000 just below it.
    n, mm, equity = 2_500_000.0, 28_125.0, 28_000.0
    margin = equity  # entry at the fill: no uPnL
    # The 0.75 % fee alone (taker 0; by default Deribit's 0.05 % taker fee comes on top: below).
    o = liquidation_outcome("deribit", 25.0, 100_000.0, 100_000.0, margin, maintenance_margin=mm, taker_fee=0.0)
    x = (mm - equity) / (n * (0.01125 - 0.0075))  # the fraction that restores equity >= MM
    assert o.partial
    assert o.closed_qty == pytest.approx(25.0 * x)
    assert o.fee == pytest.approx(0.0075 * n * x)
    assert o.kept == pytest.approx(equity - 0.0075 * n * x)
    assert o.kept == pytest.approx(mm * (1.0 - x), rel=1e-9)  # exactly the remaining maintenance
    _conserved(o)
    # Liquidated whole (nothing can restore it), the trader keeps the equity less the 0.75 % fee.
    whole = liquidation_outcome(
        "deribit", 25.0, 100_000.0, 100_000.0, margin, maintenance_margin=mm, allow_partial=False, taker_fee=0.0
    )
    assert whole.fee == pytest.approx(18_750.0)
    assert whole.kept == pytest.approx(9_250.0)
    # Deribit charges the liquidation fee "on top of the default transaction fees" (Insurance Fund
    # article): with a 0.075 % taker fee the whole close pays 0.825 %.
    taker = liquidation_outcome(
        "deribit", 25.0, 100_000.0, 100_000.0, margin, maintenance_margin=mm, allow_partial=False, taker_fee=0.00075
    )
    assert taker.fee == pytest.approx(20_625.0)
    assert taker.kept == pytest.approx(7_375.0)
    # By default the taker fee is Deribit's 0.05 % for USDC perpetuals (its Fees article): 0.8 %,
    # as the backtester and the paper venue charge with their default fees.
    default = liquidation_outcome(
        "deribit", 25.0, 100_000.0, 100_000.0, margin, maintenance_margin=mm, allow_partial=False
    )
    assert default.fee == pytest.approx(0.008 * n)
    assert cascade_regime_fields("deribit")["liquidation_fee"] == pytest.approx(0.008)


def _deribit_isolated(qty: float, margin: float) -> object:
    from levguard.core.spec import account_from_spec

    position = {
        "symbol": "BTC_USDC-PERPETUAL", "qty": qty, "entry_price": 100_000.0, "mark_price": 100_000.0,
        "isolated_margin": margin,
    }  # fmt: skip
    return account_from_spec(
        {"venue": "deribit", "margin_mode": "isolated", "wallet_balance": 0, "positions": [position]}
    )


def test_deribit_restores_against_its_size_dependent_maintenance() -> None:
    # Reference section 5, [DERIBIT_LINEAR_SM]: BTC_USDC perpetual MM rate 1 % + size_BTC x 0.005 %.
    # 100 BTC at 100,000 (rate 1.5 %, MM 150,000) on 140,000; fee 0.75 % + 0.05 % taker.  Closing
    # x leaves (1 - x) 100 BTC at 1.5 % - 0.5 % x: the smallest x with
    # 140,000 - 0.008 x 1e7 = (0.015 - 0.005 x)(1 - x) 1e7 is 0.0864471 (8.64 BTC, fee 6,915.77);
    # one rate of 1.5 % closed 14.29 BTC (fee 11,428.57).
    from levguard.core.margin import evaluate, venue_tiers

    model = get_venue("deribit")
    account = _deribit_isolated(100.0, 140_000.0)
    (rep,) = evaluate(account).positions  # type: ignore[arg-type]
    assert rep.maintenance_margin == pytest.approx(150_000.0)
    coef = model.mm_size_coef(account.positions[0])  # type: ignore[attr-defined]
    assert coef == pytest.approx(0.00005)
    tiers = venue_tiers(model, account.positions[0])  # type: ignore[attr-defined]
    o = liquidation_outcome(
        model, 100.0, 100_000.0, 100_000.0, 140_000.0, tiers=tiers, maintenance_margin=150_000.0, size_coef=coef
    )
    x = (0.012 - (0.012**2 - 4 * 0.005 * 0.001) ** 0.5) / (2 * 0.005)  # 0.005 x^2 - 0.012 x + 0.001 = 0
    assert x == pytest.approx(0.0864471, rel=1e-6)
    assert o.partial
    assert o.closed_qty == pytest.approx(100.0 * x, rel=1e-8)
    assert o.fee == pytest.approx(6_915.77, abs=0.01)
    _conserved(o)
    # The margin engine: the rest is strictly above its maintenance, and a close 1e-6 smaller is not.
    (rest,) = evaluate(_deribit_isolated(o.remaining_qty, o.kept)).positions  # type: ignore[arg-type]
    assert not rest.liquidatable
    assert rest.margin_balance > rest.maintenance_margin
    less = o.closed_qty * (1.0 - 1e-6)
    (short,) = evaluate(_deribit_isolated(100.0 - less, 140_000.0 - 0.008 * less * 1e5)).positions  # type: ignore[arg-type]
    assert short.liquidatable
    # Without the size term (a flat 1.5 %) the same numbers close 1/7 of the position.
    flat = liquidation_outcome(model, 100.0, 100_000.0, 100_000.0, 140_000.0, maintenance_margin=150_000.0)
    assert flat.closed_qty == pytest.approx(100.0 / 7.0)


def test_deribit_without_tiers_reads_its_built_in_rate_at_the_size() -> None:
    # support.deribit.com 25944738177565: BTC_USDC MM rate 1 % + size_BTC x 0.005 %.  1 BTC bought
    # at 100,000 on 10,000 and filled at 90,100: equity 100, MM 1.005 % x 90,100 = 905.5, so it is
    # liquidated (it was valued at an MM of 0: "equity covers the maintenance margin").
    o = liquidation_outcome("deribit", 1.0, 100_000.0, 90_100.0, 10_000.0)
    assert o.closed_qty == 1.0
    assert o.reason != "equity covers the maintenance margin"
    _conserved(o)
    # 100 BTC at 100,000 on 140,000 (the size-dependent restore above): without tiers, the venue's
    # rates at 100 BTC (1.5 %) and their size term give what the margin engine's tiers do.
    from levguard.core.margin import instrument_for, venue_tiers
    from levguard.core.positions import Position

    model = get_venue("deribit")
    position = Position(instrument_for(model, "BTC_USDC-PERPETUAL"), 100.0, 100_000.0, 100_000.0)
    want = liquidation_outcome(
        model, 100.0, 100_000.0, 100_000.0, 140_000.0, tiers=venue_tiers(model, position), size_coef=0.00005
    )
    got = liquidation_outcome("deribit", 100.0, 100_000.0, 100_000.0, 140_000.0)
    assert got == want
    assert got.closed_qty == pytest.approx(8.64471, rel=1e-5)
    # SOL_USDC: 2 % + 0.0005 % per SOL, read for the symbol given.
    sol = liquidation_outcome("deribit", 1_000.0, 200.0, 200.0, 4_000.0, symbol="SOL_USDC-PERPETUAL")
    assert sol.partial  # MM 2.5 % x 200,000 = 5,000 > 4,000


@pytest.mark.parametrize("venue", ["hyperliquid", "dydx-v4", "deribit"])
def test_inverse_is_refused_where_the_margin_engine_refuses_it(venue: str) -> None:
    # Hyperliquid and dYdX list no inverse contracts; Deribit's are not modelled.  Hyperliquid's
    # USDC tiers read a coin notional for one.
    with pytest.raises(InputError, match=f"inverse must be False on {venue}"):
        liquidation_outcome(venue, 100_000.0, 100_000.0, 91_000.0, 0.1, inverse=True, tiers=FOUR_TIERS)
    liquidation_outcome("binance-coinm", 100_000.0, 100_000.0, 91_000.0, 0.1, inverse=True, tiers=FOUR_TIERS)


def test_dydx_cross_fee_cap_is_the_bankruptcy_quote_remainder() -> None:
    # Reference section 6 [DYDX_INSURANCE_DELTA]: a cross subaccount with TNC 1,800 and TMMR 2,400
    # closes 1 BTC @ 100,000 (MM 1,200) at the oracle: the fund takes
    # insurance_fund_delta(100,000, bankruptcy_quote_quantums(-100,000, 1,800, -1,200, 2,400)) = 900.
    # The collateral share behind BTC is 1,800 - 1,200 (ETH's MM) = 600: the account pays 300 of
    # the fee from ETH's margin (kept -300); money is conserved.
    expected = insurance_fund_delta(100_000, bankruptcy_quote_quantums(-100_000, 1_800, -1_200, 2_400))
    o = liquidation_outcome(
        "dydx-v4", 1.0, 100_000.0, 100_000.0, 600.0, maintenance_margin=1_200.0, others_maintenance=1_200.0,
        taker_fee=0.0,
    )  # fmt: skip
    assert o.fee == pytest.approx(expected)
    assert o.insurance_fund == pytest.approx(900.0)
    assert o.kept == pytest.approx(-300.0)
    _conserved(o)
    # A loss at the fill: 1 BTC @ 100,000 filled at 99,700 (TNC 1,500 at the fill): d = 1,500 x
    # 1,200 / 2,400 = 750, the protocol's delta at the fill taken as the oracle price.
    loss = liquidation_outcome(
        "dydx-v4", 1.0, 100_000.0, 99_700.0, 600.0, maintenance_margin=1_200.0, others_maintenance=1_200.0,
        taker_fee=0.0,
    )  # fmt: skip
    assert loss.fee == pytest.approx(
        insurance_fund_delta(99_700, bankruptcy_quote_quantums(-99_700, 1_500, -1_200, 2_400))
    )
    _conserved(loss)
    # An account under water (TNC -200 at the fill): the fund pays the position's share, 100.
    under = liquidation_outcome(
        "dydx-v4", 1.0, 100_000.0, 98_000.0, 600.0, maintenance_margin=1_200.0, others_maintenance=1_200.0,
        taker_fee=0.0,
    )  # fmt: skip
    assert under.fee == 0.0
    assert under.insurance_fund == pytest.approx(
        insurance_fund_delta(98_000, bankruptcy_quote_quantums(-98_000, -200, -1_200, 2_400))
    )
    _conserved(under)
    # Isolated: the remainder, as before (kept 0 when the fee takes all of it).
    iso = liquidation_outcome("dydx-v4", 1.0, 100_000.0, 100_000.0, 600.0, maintenance_margin=1_200.0, taker_fee=0.0)
    assert iso.fee == pytest.approx(600.0)
    assert iso.kept == 0.0


@pytest.mark.parametrize(("margin", "partial", "kept"), [(5_975.0, False, 0.0), (8_000.0, True, 7_625.0)])
def test_gate_step_down_counts_the_fee_in_the_maintenance_from_tiers(margin: float, partial: bool, kept: float) -> None:
    # Gate's maintenance includes the taker fee (reference section 4, [FT_GATE_OKX_ISO_LP]: MMR +
    # taker rate; the margin engine's core.margin).  30 BTC @ 50,000 in a 0.5 %/1 % table (1M cap):
    # MM 10,000 + 0.075 % x 1.5M = 11,125; stepping down to 20 BTC leaves 5,000 + 750 = 5,750 to
    # cover, after the 375 fee on the 10 BTC closed.  On 5,975 that is 5,600 < 5,750: taken over
    # (the tiers alone, without the fee term, kept 5,600 behind a position the engine liquidates);
    # on 8,000: 7,625 is kept behind 20 BTC.
    import levguard

    rows = [
        {"notional_floor": 0, "notional_cap": 1e6, "mmr": 0.005, "max_leverage": 100},
        {"notional_floor": 1e6, "notional_cap": None, "mmr": 0.01, "max_leverage": 50},
    ]

    def report(qty: float, isolated: float) -> object:
        pos = {
            "symbol": "BTC_USDT", "qty": qty, "entry_price": 50_000.0, "mark_price": 50_000.0,
            "isolated_margin": isolated, "tiers": rows,
        }  # fmt: skip
        spec = {"venue": "gate", "wallet_balance": 0, "margin_mode": "isolated", "positions": [pos]}
        return levguard.evaluate_account(spec).positions[0]

    whole = report(30.0, margin)
    assert whole.maintenance_margin == pytest.approx(11_125.0)  # type: ignore[attr-defined]
    o = liquidation_outcome("gate", 30.0, 50_000.0, 50_000.0, margin, tiers=TierTable.from_rows(rows))
    given = liquidation_outcome(
        "gate", 30.0, 50_000.0, 50_000.0, margin, tiers=TierTable.from_rows(rows), maintenance_margin=11_125.0
    )
    assert o == given  # the tiers' default is the engine's maintenance, fee included
    assert o.partial is partial
    assert o.kept == pytest.approx(kept)
    _conserved(o)
    if partial:
        rest = report(o.remaining_qty, o.kept)
        assert rest.maintenance_margin == pytest.approx(5_750.0)  # type: ignore[attr-defined]
        assert not rest.liquidatable  # type: ignore[attr-defined]


def test_every_venue_has_a_cited_rule() -> None:
    for name in venue_names():
        rule = get_venue(name).liquidation
        assert rule.source, name
        assert rule.keeps, name
        assert rule.modelled, name
    takeover = {n for n in venue_names() if get_venue(n).liquidation.kind == "takeover"}
    assert takeover == {"binance-usdm", "binance-coinm", "bybit-linear", "bybit-inverse", "okx", "gate", "bitmex"}
    assert cascade_regime_fields("hyperliquid") == {
        "outcome": "book",
        "backstop": pytest.approx(2.0 / 3.0),
        "liquidation_fee": 0.0,
        "partial": 0.2,
        "partial_min_notional": 100_000.0,
    }


def test_bad_inputs_name_the_value() -> None:
    with pytest.raises(InputError, match="qty"):
        liquidation_outcome("binance-usdm", 0.0, 1.0, 1.0, 1.0)
    with pytest.raises(InputError, match="fill_price"):
        liquidation_outcome("binance-usdm", 1.0, 1.0, -1.0, 1.0)
    with pytest.raises(InputError, match="venue must be one of"):
        liquidation_outcome("nope", 1.0, 1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"maintenance_margin": True}, "maintenance_margin must be a number, was True"),  # was read as 1.0
        ({"maintenance_margin": 1e308}, "maintenance_margin must be at most 1e30"),
        ({"inverse": "yes"}, "inverse must be True or False, was 'yes'"),  # was read as True
        ({"mm_at_entry": "x"}, "mm_at_entry must be True or False, was 'x'"),
        ({"allow_partial": "no"}, "allow_partial must be True or False, was 'no'"),
        ({"taker_fee": -0.5}, "taker_fee must be a fraction in [0, 0.1), was -0.5"),  # named "above 10 %"
        ({"taker_fee": 0.2}, "taker_fee must be a fraction in [0, 0.1), was 0.2"),
        ({"others_maintenance": -1.0}, "others_maintenance must be >= 0"),
        ({"size_coef": "0.00005"}, "size_coef must be a number"),
    ],
)
def test_bad_flags_and_amounts_are_refused_by_name(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        liquidation_outcome("binance-usdm", 1.0, 1.0, 1.0, 1.0, **kwargs)  # type: ignore[arg-type]
    assert needle in str(exc.value)


def test_numpy_numbers_are_accepted() -> None:
    import numpy as np

    plain = liquidation_outcome("hyperliquid", 1.0, 100.0, 99.0, 5.0, maintenance_margin=0.5)
    numpy = liquidation_outcome(
        "hyperliquid", np.float32(1.0), np.float32(100.0), np.float64(99.0), np.float32(5.0),  # type: ignore[arg-type]
        maintenance_margin=np.float32(0.5), inverse=np.bool_(False), taker_fee=np.float32(0.0),  # type: ignore[arg-type]
    )  # fmt: skip
    assert numpy == plain


def test_bitmex_reads_a_built_table_without_its_amounts_as_its_margin_engine_does() -> None:
    # A table from rows (a tier file, ccxt) carries amounts by continuity; BitMEX charges the
    # tier's rate on the whole position (VenueModel.read_tiers).  25 BTC with 67,000 of margin at
    # 98,000: the step-down to 20 BTC leaves 17,000 of equity against 1 % of 2M, 20,000, so the
    # position is still in liquidation and taken over whole.  Read with the amounts, the rest
    # kept 57,000 behind 20 BTC that the BitMEX margin engine says is liquidatable.
    built = liquidation_outcome("bitmex", 25.0, 100_000, 98_000, 67_000, tiers=FOUR_TIERS)
    assert built == liquidation_outcome("bitmex", 25.0, 100_000, 98_000, 67_000, tiers=FOUR_TIERS.without_deduction())
    assert built.taken_over
    assert built.kept == 0.0
    assert built.remaining_qty == 0.0


@pytest.mark.parametrize("qty", [20.0, 20.0001])
def test_bitmex_at_or_just_above_a_limit_steps_below_that_limit(qty: float) -> None:
    # Exactly at 2M BitMEX charges the 1.5 % tier ("< 200 XBT": the limit is not in the lower
    # tier), so one reduction brings it just below 2M, as it does 20.0001 BTC; reading the cap in
    # the lower tier took 10 BTC off the first (a review).
    o = liquidation_outcome("bitmex", qty, 100_000, 98_000, 65_000, tiers=FOUR_TIERS.without_deduction(), taker_fee=0.0)
    assert o.partial
    assert o.remaining_qty == pytest.approx(20.0, rel=1e-8)
    assert o.remaining_qty < 20.0
