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
    assert liq.fee == pytest.approx(0.0075 * liq.qty * liq.price)
    (pos,) = asyncio.run(venue.fetch_positions())
    assert pos.qty == pytest.approx(3.0 - liq.qty)
    assert pos.isolated_margin == pytest.approx(liq.kept)
    assert venue.wallet_balance == 1_000.0  # the loss came out of the isolated margin
