"""The guardian's account spec of what a venue reports (``levguard.live._support.account_spec``)."""

from __future__ import annotations

import pytest

import levguard
from levguard.live._support import account_spec
from levguard.venues.base import VenueBalance, VenuePosition


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


def test_a_linear_position_keeps_the_venues_kind() -> None:
    pos = VenuePosition("BTC/USDT:USDT", 1.0, 50_000.0, 50_000.0)
    spec = account_spec("binance-usdm", VenueBalance("USDT", 5_000.0, 5_000.0), [pos], {})
    assert "contract_kind" not in spec["positions"][0]
    assert levguard.evaluate_account(spec).positions[0].contract_kind == "linear"
