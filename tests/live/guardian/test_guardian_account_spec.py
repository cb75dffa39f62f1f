"""The guardian's account spec of what a venue reports (``levguard.live._support.account_spec``)."""

from __future__ import annotations

import asyncio

import pytest

import levguard
from levguard.live._support import account_spec
from levguard.live.account_cache import AccountCache
from levguard.venues.base import VenueBalance, VenuePosition
from levguard.venues.paper import PaperVenue


@pytest.mark.parametrize("symbol", ["BTC/USD:BTC", "XBTUSD", "BTC/USD:BTC-241227"])
def test_an_inverse_bitmex_position_as_ccxt_reports_it_is_evaluated(symbol: str) -> None:
    """ccxt's name of XBTUSD was refused as a quanto contract, so every guardian cycle on BitMEX
    ended in a "cannot evaluate" alert (a review); the venue's own ``inverse`` flag is passed on."""
    pos = VenuePosition(symbol, 10_000.0, 50_000.0, 50_000.0, inverse=True)
    spec = account_spec("bitmex", VenueBalance("BTC", 1.0, 1.0), [pos], {})
    assert spec["positions"][0]["contract_kind"] == "inverse"
    spec["positions"][0]["mmr"] = 0.005
    report = levguard.evaluate_account(spec)
    assert report.positions[0].contract_kind == "inverse"
    assert report.settlement in ("BTC", "XBT")


@pytest.mark.parametrize("venue", ["binance-coinm", "okx"])
def test_an_inverse_position_in_position_units_is_not_scaled_by_the_face_value_again(venue: str) -> None:
    """The adapters report one 100 USD BTC contract as ``qty=100`` (contracts x contract size);
    the spec carried no contract size, so the engine applied the venue's 100 USD face value again:
    notional 0.2 BTC for 0.002 and a liquidation price of about 47,860 for 8,375.  Binance COIN-M
    (its FAQ): 0.01 + 100/50,000 - 100/P = 0.005 x 100/P, so P = 100.5 / 0.012 = 8,375."""
    pos = VenuePosition("BTC/USD:BTC", 100.0, 50_000.0, 50_000.0, inverse=True)
    spec = account_spec(venue, VenueBalance("BTC", 0.01, 0.01), [pos], {})
    spec["positions"][0]["mmr"] = 0.005
    report = levguard.evaluate_account(spec)
    assert report.positions[0].notional == pytest.approx(0.002, rel=1e-12)
    # OKX adds its taker fee (0.05 %) to the maintenance: 100.55 / 0.012.
    fee = 0.0005 if venue == "okx" else 0.0
    assert report.positions[0].liquidation_price == pytest.approx((100.5 + 100.0 * fee) / 0.012, rel=1e-9)


def test_an_option_row_carries_no_contract_size() -> None:
    """The unified option parser has no contract_size field: a bybit-uta account holding an option
    could no longer be evaluated once every row carried one (a review)."""
    rows = account_spec(
        "bybit-uta",
        VenueBalance("USDT", 10_000.0, 10_000.0),
        [
            VenuePosition("BTC/USDC:USDC-241227-70000-C", 0.1, 1_000.0, 1_200.0),
            VenuePosition("BTC/USDT:USDT", 0.1, 6e4, 6e4),
        ],
        {},
    )["positions"]
    assert "contract_size" not in rows[0]
    assert rows[1]["contract_size"] == 1.0


def test_a_linear_position_keeps_the_venues_kind() -> None:
    pos = VenuePosition("BTC/USDT:USDT", 1.0, 50_000.0, 50_000.0)
    spec = account_spec("binance-usdm", VenueBalance("USDT", 5_000.0, 5_000.0), [pos], {})
    assert "contract_kind" not in spec["positions"][0]
    assert levguard.evaluate_account(spec).positions[0].contract_kind == "linear"


def test_a_mixed_account_is_evaluated_position_by_position_as_the_venue_margins_it() -> None:
    """The spec was isolated only when every position was: a BTC cross and ETH isolated (margin
    3,000) account was evaluated as all cross, ETH's liquidation price 2,033.13 for the venue's
    2,710.84 and BTC's 50,321.6 for 50,201.0.  Each row now carries its own margin mode."""
    venue = PaperVenue(
        "binance-usdm",
        feeds={"BTCUSDT": [60_000.0] * 5, "ETHUSDT": [3_000.0] * 5},
        wallet_balance=10_000.0,
        positions=[
            {"symbol": "BTCUSDT", "qty": 1.0, "entry": 60_000.0},
            {"symbol": "ETHUSDT", "qty": 10.0, "entry": 3_000.0, "margin_mode": "isolated", "isolated_margin": 3_000.0},
        ],
        funding_rate=0.0,
    )

    async def read() -> tuple[list[VenuePosition], VenueBalance, dict[str, float]]:
        positions = await venue.fetch_positions()
        return positions, await venue.fetch_balance(), await venue.fetch_marks([p.symbol for p in positions])

    positions, balance, marks = asyncio.run(read())
    spec = account_spec(venue.name, balance, positions, marks)
    assert [(r["margin_mode"], r.get("isolated_margin")) for r in spec["positions"]] == [
        ("cross", None),
        ("isolated", 3_000.0),
    ]
    report = levguard.evaluate_account(spec)
    venue_liq = {p.symbol: p.liquidation_price for p in positions}
    assert venue_liq["ETHUSDT"] == pytest.approx(2_710.84, abs=0.01)
    assert venue_liq["BTCUSDT"] == pytest.approx(50_201.0, abs=0.1)
    for row in report.positions:
        assert row.liquidation_price == pytest.approx(venue_liq[row.symbol], rel=1e-12)
    assert report.equity == pytest.approx(13_000.0)
    # The guardian's cache of the parsed account gives the same report, cycle after cycle.
    cache = AccountCache()
    for _ in range(2):
        assert cache.report(spec) == report
    assert cache.parses == 1
