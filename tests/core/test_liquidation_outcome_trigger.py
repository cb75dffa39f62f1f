"""A healthy position is not liquidated: ``liquidation_outcome`` closes nothing on any venue while
the equity at the fill covers the maintenance margin (the venue's trigger, ``VenueModel.liquidatable``),
as Deribit's incremental liquidation already did; at equality each venue keeps its own convention.
"""

from __future__ import annotations

import pytest

from levguard.core.liquidation_outcome import liquidation_outcome
from levguard.core.rules import get_venue, venue_names
from levguard.core.tiers import TierTable

OKX_ROWS = [
    {"notional_floor": 0, "notional_cap": 2000, "mmr": 0.01, "max_leverage": 50},
    {"notional_floor": 2000, "notional_cap": 12000, "mmr": 0.015, "max_leverage": 25},
    {"notional_floor": 12000, "notional_cap": None, "mmr": 0.02, "max_leverage": 20},
]


def test_okx_healthy_position_is_not_stepped_down() -> None:
    """Long 15,000 @ 105 filled at 150 with 100,000 margin: equity 775,000 against MM 46,125."""
    tiers = TierTable.from_rows(OKX_ROWS, deduction=False, basis="quantity")
    o = liquidation_outcome("okx", 15_000.0, 105.0, 150.0, 100_000.0, tiers=tiers, check_trigger=True)
    assert (o.closed_qty, o.remaining_qty, o.partial, o.taken_over, o.fee) == (0.0, 15_000.0, False, False, 0.0)
    assert (o.kept, o.insurance_fund) == (100_000.0, 0.0)
    assert o.reason == "equity covers the maintenance margin"


def test_okx_liquidated_position_still_steps_down_to_tier_1() -> None:
    """okx.com 360020411711: a tier-3 position of 15,000 in liquidation keeps 2,000."""
    tiers = TierTable.from_rows(OKX_ROWS, deduction=False, basis="quantity")
    # Fill 100: equity 105,000 + 15,000 x (100 - 105) = 30,000 < MM 1,500,000 x (2 % + 0.05 %) = 30,750.
    o = liquidation_outcome("okx", 15_000.0, 105.0, 100.0, 105_000.0, tiers=tiers, check_trigger=True)
    assert o.partial
    assert o.closed_qty == pytest.approx(13_000.0)
    assert o.remaining_qty == pytest.approx(2_000.0)


@pytest.mark.parametrize("venue", venue_names())
def test_no_venue_liquidates_a_healthy_position(venue: str) -> None:
    """Bybit: long 1 @ 20,000 filled at 25,000 with 10,000 margin was "taken over", the fund +15,000."""
    tiers = TierTable.fixed_rate(0.005)
    model = get_venue(venue)
    kw: dict[str, object] = {"maintenance_margin": 125.0} if model.rate_based else {"tiers": tiers}
    o = liquidation_outcome(venue, 1.0, 20_000.0, 25_000.0, 10_000.0, check_trigger=True, **kw)  # type: ignore[arg-type]
    assert (o.closed_qty, o.taken_over, o.partial, o.kept, o.insurance_fund) == (0.0, False, False, 10_000.0, 0.0)


@pytest.mark.parametrize(("venue", "closes"), [("bybit-linear", True), ("binance-usdm", True), ("hyperliquid", False)])
def test_at_equality_each_venue_keeps_its_trigger(venue: str, closes: bool) -> None:
    """Equity 100 exactly at MM 100: liquidated where E <= MM, kept where E < MM (Hyperliquid)."""
    o = liquidation_outcome(
        venue, 1.0, 20_000.0, 20_000.0, 100.0, maintenance_margin=100.0, allow_partial=False, check_trigger=True
    )
    assert (o.closed_qty > 0.0) is closes


def test_unchecked_trigger_applies_the_rule_as_it_is() -> None:
    """The default (and the callers that found the position liquidated themselves: VaR, stress,
    paper venue) applies the rule as it is."""
    o = liquidation_outcome(
        "bybit-linear", 1.0, 20_000.0, 25_000.0, 10_000.0, tiers=TierTable.fixed_rate(0.005), check_trigger=False
    )
    assert o.taken_over
    assert o.closed_qty == 1.0


_SYMBOLS = {"binance-usdm": "BTCUSDT", "bybit-linear": "BTCUSDT", "okx": "BTC-USDT-SWAP", "bitmex": "XBTUSDT"}
_TIERS = [
    {"notional_floor": 0, "notional_cap": 200_000, "mmr": 0.004, "max_leverage": 50},
    {"notional_floor": 200_000, "notional_cap": 1_000_000, "mmr": 0.01, "max_leverage": 25},
    {"notional_floor": 1_000_000, "notional_cap": None, "mmr": 0.02, "max_leverage": 20},
]


@pytest.mark.parametrize(
    ("venue", "qty", "entry", "leverage"),
    [
        ("binance-usdm", -7.997, 84_146.1, 2),
        ("bybit-linear", -0.573, 51_723.8, 5),
        ("okx", -24.05, 81_724.7, 2),
        ("bitmex", -5.191, 46_445.8, 5),
        ("bitmex", 18.766, 83_024.6, 20),
    ],
)
def test_the_default_liquidates_at_the_engines_own_liquidation_price(
    venue: str, qty: float, entry: float, leverage: int
) -> None:
    """At the margin engine's liquidation price equity and maintenance agree only up to rounding
    (here the equity is above it by ~1e-14): by default (no trigger test) the rule applies there on
    every venue; with the trigger tested by default a review found 30-70 % of random positions
    closing nothing at their own liquidation price, these among them."""
    import levguard
    from levguard.core.margin import venue_tiers
    from levguard.core.spec import account_from_spec

    tiers = {} if venue == "binance-usdm" else {"tiers": _TIERS}
    position = {"symbol": _SYMBOLS[venue], "qty": qty, "entry_price": entry, "mark_price": entry, "leverage": leverage}
    spec = {"venue": venue, "wallet_balance": 1e7, "positions": [{**position, "margin_mode": "isolated", **tiers}]}
    p = levguard.evaluate_account(spec).positions[0]
    assert p.liquidation_price is not None
    margin = p.margin_balance - p.unrealized_pnl
    spec["positions"][0]["mark_price"] = p.liquidation_price
    table = venue_tiers(get_venue(venue), account_from_spec(spec).positions[0])
    o = liquidation_outcome(venue, qty, entry, p.liquidation_price, margin, tiers=table)
    assert o.closed_qty != 0.0
