"""The paper venue liquidates as the venue it simulates (levguard.core.liquidation_outcome).

Binance-style takeovers are covered in test_paper_account.py; here the book venues:
Hyperliquid (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations: no clearance fee, the
remaining collateral stays with the trader; 20 % of positions above 100k USDC, the whole position
during the 30 s after a partial liquidation; backstop below 2/3 of the maintenance margin) and
Deribit (support.deribit.com 25944769313309: incremental, stops once the maintenance margin is
below the equity; liquidation fee 0.75 % for BTC).
"""

from __future__ import annotations

import asyncio

import pytest

from levguard import TierTable
from levguard.errors import InputError
from levguard.venues.paper import Liquidation, PaperVenue, scripted_crash

TEN_S = 10 * 1_000_000_000


def _hl(qty: float, mode: str = "isolated", wallet: float = 1_000.0) -> PaperVenue:
    return PaperVenue(
        "hyperliquid",
        feeds={"BTC": scripted_crash(100_000.0, 0.10, 30, flat=5)},
        wallet_balance=wallet,
        positions=[{"symbol": "BTC", "qty": qty, "entry": 100_000.0, "margin_mode": mode, "leverage": 20}],
        tick_ns=TEN_S,
    )


def _until_liquidated(venue: PaperVenue) -> Liquidation:
    for _ in range(60):
        report = venue.step_sync()
        if report.liquidations:
            return report.liquidations[0]
    raise AssertionError("never liquidated")


def test_hyperliquid_isolated_book_liquidation_releases_the_remainder() -> None:
    venue = _hl(0.8)  # 80k USDC: closed whole
    margin = asyncio.run(venue.fetch_positions())[0].isolated_margin
    assert margin == pytest.approx(4_000.0)
    liq = _until_liquidated(venue)
    assert not liq.taken_over
    assert not liq.partial
    assert liq.fee == 0.0
    assert liq.price == liq.mark_price  # closed in the book, at the mark
    assert liq.kept == pytest.approx(4_000.0 + 0.8 * (liq.mark_price - 100_000.0))
    assert liq.kept > 0.0
    assert venue.wallet_balance == pytest.approx(1_000.0 + liq.kept)
    assert asyncio.run(venue.fetch_positions()) == []


def test_hyperliquid_slices_a_large_position_then_takes_the_whole_in_the_cooldown() -> None:
    venue = _hl(2.0)  # 200k USDC: 20 % first
    first = _until_liquidated(venue)
    assert first.partial
    assert first.qty == pytest.approx(0.4)
    (pos,) = asyncio.run(venue.fetch_positions())
    assert pos.qty == pytest.approx(1.6)
    assert pos.isolated_margin == pytest.approx(first.kept)
    second = _until_liquidated(venue)
    assert second.ts_ns - first.ts_ns < 30 * 1_000_000_000  # inside the cool-down
    assert not second.partial
    assert second.qty == pytest.approx(1.6)


@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_hyperliquid_cool_down_after_a_partial_liquidation_is_the_users(mode: str) -> None:
    # "After a block where any position of a user is partially liquidated, there is a cooldown
    # period of 30 seconds. During this cooldown period, all market liquidation orders for that
    # user will be for the entire position."  200k USDC of BTC and of ETH at 10x, both gapping
    # below their maintenance: the first liquidation slices 20 %, the other position's (the same
    # tick when isolated, the next one in cross margin) takes it whole, not a slice of its own.
    venue = PaperVenue(
        "hyperliquid",
        feeds={"BTC": [100_000.0] * 3 + [90_800.0] * 6, "ETH": [4_000.0] * 3 + [3_660.0] * 6},
        wallet_balance=40_000.0 if mode == "cross" else 1_000.0,
        funding_rate=0.0,
        positions=[
            {"symbol": "BTC", "qty": 2.0, "entry": 100_000.0, "margin_mode": mode, "leverage": 10},
            {"symbol": "ETH", "qty": 50.0, "entry": 4_000.0, "margin_mode": mode, "leverage": 10},
        ],
        tick_ns=TEN_S,
    )
    liqs: list[Liquidation] = []
    for _ in range(6):
        liqs.extend(venue.step_sync().liquidations)
    first, second = liqs[0], liqs[1]
    assert first.partial
    assert second.symbol != first.symbol
    assert second.ts_ns - first.ts_ns < 30 * 1_000_000_000
    assert not second.partial
    assert second.qty == pytest.approx(2.0 if second.symbol == "BTC" else 50.0)


def test_hyperliquid_cross_book_liquidation_keeps_the_wallet_rest() -> None:
    venue = _hl(0.8, mode="cross", wallet=4_000.0)
    liq = _until_liquidated(venue)
    assert not liq.taken_over
    assert liq.margin_mode == "cross"
    assert venue.wallet_balance == pytest.approx(4_000.0 + 0.8 * (liq.mark_price - 100_000.0))
    assert venue.wallet_balance > 0.0


def test_deribit_incremental_liquidation_keeps_part_of_the_position() -> None:
    venue = PaperVenue(
        "deribit",
        feeds={"BTC_USDC-PERPETUAL": scripted_crash(100_000.0, 0.10, 30, flat=5)},
        wallet_balance=1_000.0,
        positions=[
            {"symbol": "BTC_USDC-PERPETUAL", "qty": 3.0, "entry": 100_000.0, "margin_mode": "isolated", "leverage": 30}
        ],
    )
    liq = _until_liquidated(venue)
    assert liq.partial
    assert 0.0 < liq.qty < 3.0
    # Deribit's 0.75 % liquidation fee comes on top of the taker fee (the paper venue's 0.05 %).
    assert liq.fee == pytest.approx((0.0075 + venue.taker_fee) * liq.qty * liq.price)
    (pos,) = asyncio.run(venue.fetch_positions())
    assert pos.qty == pytest.approx(3.0 - liq.qty)
    assert pos.isolated_margin == pytest.approx(liq.kept)
    assert venue.wallet_balance == 1_000.0  # the loss came out of the isolated margin


def test_deribit_mark_exactly_at_the_liquidation_price_closes_a_sliver_and_keeps_the_position() -> None:
    # 1 BTC long at 100,000 with 1,994.95 of isolated margin: at a mark of 99,000 the margin
    # balance is exactly Deribit's maintenance margin (1 % + 1 BTC x 0.005 % of 99,000 = 994.95).
    # The engine flags it (balance <= MM); Deribit's incremental liquidation stops once MM is
    # below the balance, so it closes a sliver (RESTORE_MARGIN of the maintenance) and the
    # account ends strictly above it.  The position stays open with its margin and loss; it must
    # not vanish with the margin paid back to the wallet as if the 1,000 USDC loss had never
    # happened.
    from levguard.kernels.liquidation import RESTORE_MARGIN

    sym = "BTC_USDC-PERPETUAL"
    venue = PaperVenue(
        "deribit",
        feeds={sym: [100_000.0] * 3 + [99_000.0] * 5},
        wallet_balance=1_000.0,
        funding_rate=0.0,
        positions=[
            {"symbol": sym, "qty": 1.0, "entry": 100_000.0, "margin_mode": "isolated", "isolated_margin": 1_994.95}
        ],
    )
    for _ in range(5):
        venue.step_sync()
    (rep,) = venue.evaluate().positions
    assert rep.mark_price == 99_000.0
    assert not rep.liquidatable  # restored: strictly above the maintenance margin
    assert len(venue.liquidations) == 1  # once: it is not found liquidatable again at the same mark
    assert 0.0 < venue.liquidations[0].qty < 1e3 * RESTORE_MARGIN
    (pos,) = asyncio.run(venue.fetch_positions())
    assert pos.qty == pytest.approx(1.0, abs=1e3 * RESTORE_MARGIN)
    assert pos.qty < 1.0
    assert pos.isolated_margin == pytest.approx(1_994.95, rel=1e-6)
    assert venue.wallet_balance == 1_000.0


def test_deribit_incremental_liquidation_closes_against_the_size_dependent_maintenance() -> None:
    # Reference section 5, [DERIBIT_LINEAR_SM]: the MM rate is 1 % + 0.005 % per BTC, so closing
    # part of 100 BTC lowers the rate of the rest too.  On 140,000 (MM 150,000 at 100,000) the
    # venue closes 8.645 BTC (fee 0.8 %: 6,915.77), not the 14.29 BTC one rate of 1.5 % needs.
    sym = "BTC_USDC-PERPETUAL"
    venue = PaperVenue(
        "deribit",
        feeds={sym: [100_000.0] * 5},
        wallet_balance=0.0,
        funding_rate=0.0,
        positions=[
            {"symbol": sym, "qty": 100.0, "entry": 100_000.0, "margin_mode": "isolated", "isolated_margin": 140_000.0}
        ],
    )
    (liq,) = venue.step_sync().liquidations
    assert liq.partial
    assert liq.qty == pytest.approx(8.6447127, rel=1e-7)
    assert liq.fee == pytest.approx(6_915.77, abs=0.01)
    (rep,) = venue.evaluate().positions
    assert not rep.liquidatable
    assert rep.margin_balance > rep.maintenance_margin


def test_dydx_cross_fee_is_capped_by_the_positions_share_of_the_account_equity() -> None:
    # Reference section 6, [DYDX_INSURANCE_DELTA]: the fund takes min(1.5 % x |quote|, d) with
    # d = quote - bankruptcy quote, the bankruptcy quote -DNNV - TNC |DMMR| / TMMR.  Wallet 1,800,
    # 1 BTC @ 100,000 and 40 ETH @ 2,500 (MM 1,200 each; TNC 1,800 < TMMR 2,400): BTC (the larger
    # first) pays d = 100,000 - 99,100 = 900, not the 600 left behind it after ETH's MM.  The
    # account (TNC 900 < 1,200) then loses ETH the same way: its own d is 900, and the wallet is 0.
    from levguard.core.rules.dydx import bankruptcy_quote_quantums, insurance_fund_delta

    venue = PaperVenue(
        "dydx-v4",
        feeds={"BTC-USD": [100_000.0] * 3, "ETH-USD": [2_500.0] * 3},
        wallet_balance=1_800.0,
        positions=[
            {"symbol": "BTC-USD", "qty": 1.0, "entry": 100_000.0},
            {"symbol": "ETH-USD", "qty": 40.0, "entry": 2_500.0},
        ],
        taker_fee=0.0,
    )
    btc, eth = venue.step_sync().liquidations
    assert btc.symbol == "BTC-USD"
    assert btc.fee == pytest.approx(
        insurance_fund_delta(100_000, bankruptcy_quote_quantums(-100_000, 1_800, -1_200, 2_400))
    )
    assert btc.fee == pytest.approx(900.0)
    assert btc.realised_pnl == pytest.approx(-900.0)  # the wallet: 1,800 -> 900
    assert eth.fee == pytest.approx(
        insurance_fund_delta(100_000, bankruptcy_quote_quantums(-100_000, 900, -1_200, 1_200))
    )
    assert venue.wallet_balance == pytest.approx(0.0, abs=1e-9)
    assert btc.fee + eth.fee == pytest.approx(1_800.0)  # money: the wallet went to the fund


_FLAT_1PCT = [{"notional_floor": 0, "notional_cap": None, "mmr": 0.01, "max_leverage": 50}]


def _hl_pair(btc: float, eth: float, wallet: float, btc_qty: float, eth_qty: float) -> PaperVenue:
    # A Hyperliquid cross account: BTC long losing, ETH short winning, 1 % maintenance on both.
    return PaperVenue(
        "hyperliquid",
        feeds={"BTC": [100_000.0] + [btc] * 3, "ETH": [4_000.0] + [eth] * 3},
        wallet_balance=wallet,
        funding_rate=0.0,
        tiers={"BTC": _FLAT_1PCT, "ETH": _FLAT_1PCT},
        positions=[
            {"symbol": "BTC", "qty": btc_qty, "entry": 100_000.0, "margin_mode": "cross", "leverage": 20},
            {"symbol": "ETH", "qty": eth_qty, "entry": 4_000.0, "margin_mode": "cross", "leverage": 10},
        ],
        tick_ns=TEN_S,
    )


def _cross_equity(venue: PaperVenue) -> float:
    return venue.wallet_balance + sum(r.unrealized_pnl for r in venue.evaluate().positions)


def test_hyperliquid_cross_book_close_larger_than_the_wallet_keeps_the_account_equity() -> None:
    # Wallet 980, BTC -3,000 (MM 70), ETH +2,100 (MM 19): equity 80 <= 89.  BTC (the larger) is
    # closed in the book without a fee (equity behind it 61 >= 2/3 x 70: no backstop).  The
    # account keeps its equity, 80, in ETH's profit: closing BTC must not hand it 2,020 USDC by
    # flooring the wallet at 0 while ETH's profit stays open.
    venue = _hl_pair(70_000.0, 1_900.0, 980.0, 0.1, -1.0)
    liq = _until_liquidated(venue)
    assert liq.symbol == "BTC"
    assert not liq.taken_over
    assert liq.fee == 0.0
    assert [p.symbol for p in asyncio.run(venue.fetch_positions())] == ["ETH"]
    assert _cross_equity(venue) == pytest.approx(80.0)
    assert venue.wallet_balance >= 0.0


def test_hyperliquid_cross_backstop_needs_the_account_below_two_thirds_of_its_maintenance() -> None:
    # Reference section 7: the vault takes over when the equity is below 2/3 of the maintenance
    # margin, cross positions and cross margin together, so the test is the account's.  Wallet
    # 1,600, BTC 0.9 @ 100,000 (MM 1,125) and ETH 20 @ 2,500 (MM 1,000): equity 1,600 < 2,125,
    # above 2/3 of it (1,416.67).  BTC (the larger, 90k <= 100k: whole) is closed in the book
    # without a fee; the wallet keeps 1,600 and ETH stays open.  Testing BTC's share alone (600
    # against 2/3 of 1,125) handed both positions and the whole wallet to the vault.
    venue = PaperVenue(
        "hyperliquid",
        feeds={"BTC": [100_000.0] * 5, "ETH": [2_500.0] * 5},
        wallet_balance=1_600.0,
        positions=[{"symbol": "BTC", "qty": 0.9, "entry": 100_000.0}, {"symbol": "ETH", "qty": 20.0, "entry": 2_500.0}],
        taker_fee=0.0,
    )
    (liq,) = venue.step_sync().liquidations
    assert liq.symbol == "BTC"
    assert not liq.taken_over
    assert liq.qty == pytest.approx(0.9)
    assert liq.kept == pytest.approx(600.0)
    assert venue.wallet_balance == pytest.approx(1_600.0)
    assert [p.symbol for p in asyncio.run(venue.fetch_positions())] == ["ETH"]


def test_hyperliquid_cross_slice_larger_than_the_wallet_does_not_crash() -> None:
    # Wallet 3,000, BTC 2 long -20,000 (200k > 100k: sliced), ETH 10 short +18,500: equity 1,500,
    # below the maintenance margin (1,800 + 215) and above the backstop.  The 20 % slice realises
    # -4,000, more than the wallet: the account stays solvent and must go on (no InputError for
    # a negative wallet), its equity unchanged by the fee-less slice.
    venue = _hl_pair(90_000.0, 2_150.0, 3_000.0, 2.0, -10.0)
    liq = _until_liquidated(venue)
    assert liq.partial
    assert liq.qty == pytest.approx(0.4)
    assert _cross_equity(venue) == pytest.approx(1_500.0)
    venue.step_sync()  # the next tick evaluates the account again
    assert venue.wallet_balance >= 0.0


def _binance_cross(positions: list[dict[str, object]], feeds: dict[str, object], wallet: float) -> PaperVenue:
    return PaperVenue("binance-usdm", feeds=feeds, wallet_balance=wallet, positions=positions)  # type: ignore[arg-type]


def test_binance_cross_takeover_records_the_clearance_fee_it_debits() -> None:
    # Binance takes a cross account over at the bankruptcy price and the remaining margin goes to
    # the insurance fund (binance.com/en/support/faq/360033525271): the row carries that clearance.
    wallet = 12_000.0
    venue = _binance_cross(
        [{"symbol": "BTCUSDT", "qty": 2.0, "entry": 60_000.0, "margin_mode": "cross", "leverage": 10}],
        {"BTCUSDT": scripted_crash(60_000.0, 0.15, 30, flat=5)},
        wallet,
    )
    liq = _until_liquidated(venue)
    assert liq.taken_over
    assert not liq.partial
    trading = 2.0 * (liq.mark_price - 60_000.0)  # realised at the mark
    assert liq.fee > 0.0
    assert liq.fee == pytest.approx(wallet + trading)  # the equity left at the mark: the clearance
    assert liq.kept == 0.0
    assert venue.wallet_balance == 0.0
    # The wallet's debit is the trading loss plus the clearance fee, and the row says so.
    assert wallet - venue.wallet_balance == pytest.approx(-trading + liq.fee)
    assert liq.realised_pnl == pytest.approx(venue.wallet_balance - wallet)
    assert liq.realised_pnl == pytest.approx(2.0 * (liq.price - 60_000.0))  # the PnL at the bankruptcy price


def test_binance_cross_takeover_of_several_positions_conserves_money() -> None:
    wallet = 10_000.0
    venue = _binance_cross(
        [
            {"symbol": "BTCUSDT", "qty": 1.0, "entry": 60_000.0, "margin_mode": "cross", "leverage": 10},
            {"symbol": "ETHUSDT", "qty": 10.0, "entry": 3_000.0, "margin_mode": "cross", "leverage": 10},
        ],
        {
            "BTCUSDT": scripted_crash(60_000.0, 0.15, 30, flat=5),
            "ETHUSDT": scripted_crash(3_000.0, 0.15, 30, flat=5),
        },
        wallet,
    )
    for _ in range(60):
        rows = venue.step_sync().liquidations
        if rows:
            break
    else:
        raise AssertionError("never liquidated")
    assert {r.symbol for r in rows} == {"BTCUSDT", "ETHUSDT"}
    assert all(r.taken_over and r.kept == 0.0 and r.fee > 0.0 for r in rows)
    entries = {"BTCUSDT": (1.0, 60_000.0), "ETHUSDT": (10.0, 3_000.0)}
    trading = sum(q * (r.mark_price - e) for r in rows for q, e in [entries[r.symbol]])
    assert sum(r.fee for r in rows) == pytest.approx(wallet + trading)  # the account's equity at the marks
    assert sum(r.realised_pnl for r in rows) == pytest.approx(-wallet)  # what the wallet lost
    assert venue.wallet_balance == 0.0


def test_okx_steps_a_tier_3_position_by_size_down_to_tier_1s_size() -> None:
    """OKX (okx.com/support/hc/en-us/articles/360020411711): a position in tier 3 or above is
    partially liquidated down to tier 1. With tiers by position size (OKX counts contracts) the
    tier is the size's at any price: 25 BTC (tier 3 from 20 BTC) is cut by 15 BTC to tier 1's
    10 BTC, whatever the mark at the liquidation."""
    rows = [
        {"notional_floor": 0, "notional_cap": 10, "mmr": 0.004, "max_leverage": 100},
        {"notional_floor": 10, "notional_cap": 20, "mmr": 0.006, "max_leverage": 50},
        {"notional_floor": 20, "notional_cap": None, "mmr": 0.01, "max_leverage": 20},
    ]
    table = TierTable.from_rows(rows, deduction=False, basis="quantity")
    venue = PaperVenue(
        "okx",
        feeds={"BTCUSDT": scripted_crash(60_000.0, 0.15, 30, flat=5)},
        wallet_balance=1_000.0,
        positions=[{"symbol": "BTCUSDT", "qty": 25.0, "entry": 60_000.0, "margin_mode": "isolated", "leverage": 10}],
        tiers={"BTCUSDT": table},
    )
    assert venue.account_spec()["tiers"]["BTCUSDT"] == {"basis": "quantity", "rows": table.to_rows()}
    first = _until_liquidated(venue)
    assert first.qty == pytest.approx(15.0, rel=1e-12)
    (left,) = asyncio.run(venue.fetch_positions())
    assert left.qty == 10.0  # tier 1's cap itself, not a rounding error above it in tier 2
    with pytest.raises(InputError, match=r"tiers\['BTCUSDT'\]: tiers by quantity .* binance-usdm tiers by notional"):
        PaperVenue("binance-usdm", feeds={"BTCUSDT": scripted_crash(60_000.0, 0.15, 30, flat=5)},
                   wallet_balance=1_000.0, tiers={"BTCUSDT": table})  # fmt: skip
