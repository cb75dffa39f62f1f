"""A paper account holding a perpetual and its dated future keeps them apart: their marks,
positions, orders and tier tables (a delivery contract has its own brackets on Binance, not its
perpetual's: https://www.binance.com/en/futures/trading-rules/quarterly/leverage-margin)."""

from __future__ import annotations

import asyncio

from levguard.core.rules.binance import BUILTIN_TIERS
from levguard.venues.base import OrderRequest
from levguard.venues.paper import PaperVenue

PERP, FUT = "BTC/USDT:USDT", "BTC/USDT:USDT-250328"
FLAT_TIER = [{"max_notional": 1e9, "mmr": 0.05, "max_leverage": 10, "maintenance_amount": 0.0}]


def two_contracts(**kwargs: object) -> PaperVenue:
    return PaperVenue(
        feeds={PERP: [60_000.0, 61_000.0], FUT: [61_500.0, 62_000.0]},
        wallet_balance=50_000.0,
        positions=[{"symbol": PERP, "qty": 1.0, "entry": 60_000.0}, {"symbol": FUT, "qty": -1.0, "entry": 61_000.0}],
        tiers={FUT: FLAT_TIER},  # Binance's built-in brackets are its perpetuals'
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_perpetual_and_its_future_have_their_own_marks_and_positions() -> None:
    venue = two_contracts()
    assert asyncio.run(venue.fetch_marks([PERP, FUT])) == {PERP: 60_000.0, FUT: 61_500.0}
    pos = {p.symbol: p for p in asyncio.run(venue.fetch_positions())}
    assert (pos[PERP].qty, pos[FUT].qty) == (1.0, -1.0)
    asyncio.run(
        venue.create_order(OrderRequest(symbol=FUT, side="buy", qty=0.5, client_order_id="c1", reduce_only=True))
    )
    pos = {p.symbol: p for p in asyncio.run(venue.fetch_positions())}
    assert (pos[PERP].qty, pos[FUT].qty) == (1.0, -0.5)
    assert asyncio.run(venue.fetch_order(PERP, "c1")) is None
    assert asyncio.run(venue.fetch_order(FUT, "c1")) is not None


def test_override_tiers_apply_to_their_own_contract_only() -> None:
    venue = two_contracts()
    fut = asyncio.run(venue.fetch_tiers(FUT))
    assert fut is not None
    assert fut.tiers[0].mmr == 0.05
    perp = asyncio.run(venue.fetch_tiers(PERP))
    assert perp == BUILTIN_TIERS["BTCUSDT"]
    report = {p.symbol: p for p in venue.evaluate().positions}
    assert report[FUT].maintenance_margin == 0.05 * 61_500.0
