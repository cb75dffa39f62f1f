"""A position in a market ccxt does not list (even after reloading its markets) is left out, but
the figures the venue gives it without its market (unrealised PnL, maintenance margin) are kept
for the guardian to count in the cross account; a reload refused for authentication is raised."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt
import pytest
from test_ccxt_orders import OKX_BTC, OKX_POSITION, PEPE_POSITION

from levguard.errors import VenueAuthError
from levguard.venues.base import UNLISTED
from levguard.venues.ccxt_adapter import CcxtVenue


def _okx(positions: list[dict[str, Any]], reload_error: Exception | None = None) -> CcxtVenue:
    v = CcxtVenue("okx")
    ex = v._exchange
    ex.set_markets([ex.parse_market(OKX_BTC)])
    v._markets_loaded = True

    async def load_markets(reload: bool = False, params: Any = None) -> Any:
        if reload_error is not None:
            raise reload_error
        return ex.markets

    async def fetch_positions(symbols: Any = None, params: Any = None) -> list[dict[str, Any]]:
        return [ex.parse_position(p) for p in positions]

    ex.load_markets, ex.fetch_positions = load_markets, fetch_positions
    return v


def _positions(v: CcxtVenue) -> Any:
    async def main() -> Any:
        try:
            return await v.fetch_positions()
        finally:
            await v.close()

    return asyncio.run(main())


def test_an_unlisted_position_keeps_the_venues_pnl_and_maintenance_margin() -> None:
    """OKX PEPE-USDT-SWAP (not listed): upl -412.5 USDT, mmr 37.4 USDT, cross; the account's
    figures left both out (docs/guardian.md: its loss and margin share the cross wallet)."""
    pepe = {**PEPE_POSITION, "upl": "-412.5", "mmr": "37.4", "notionalUsd": "5000"}
    v = _okx([OKX_POSITION, pepe])
    positions = _positions(v)
    assert [p.symbol for p in positions] == ["BTC/USDT:USDT"]
    assert v.left_out == {"PEPE-USDT-SWAP": UNLISTED}
    assert v.unlisted_figures == {
        "PEPE-USDT-SWAP": {
            "unrealized_pnl": -412.5,
            "maintenance_margin": 37.4,
            "notional": 5000.0,
            "margin_mode": "cross",
        }
    }


def test_a_reload_refused_for_authentication_is_raised() -> None:
    """A failed reload was logged and swallowed whatever the failure, an AuthenticationError too:
    the account kept going with its key refused; now it is raised (acting is disabled)."""
    v = _okx([OKX_POSITION, PEPE_POSITION], reload_error=ccxt.AuthenticationError("okx 50113 Invalid Sign"))
    with pytest.raises(VenueAuthError):
        _positions(v)


def test_a_reload_failing_otherwise_still_leaves_the_position_out() -> None:
    v = _okx([OKX_POSITION, PEPE_POSITION], reload_error=ccxt.NetworkError("timed out"))
    assert [p.symbol for p in _positions(v)] == ["BTC/USDT:USDT"]
    assert v.left_out == {"PEPE-USDT-SWAP": UNLISTED}
