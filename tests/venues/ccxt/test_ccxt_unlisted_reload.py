"""A position in a market ccxt does not list (even after reloading its markets) is left out; a
reload refused for authentication is raised (it was logged and swallowed: the account kept
going with its key refused)."""

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


def test_the_left_out_alert_says_the_accounts_figures_exclude_an_unlisted_position() -> None:
    """A review (2026-12-07): the alert said only that the unlisted position is not evaluated,
    while in a cross wallet its loss and margin are missing from the figures of the positions
    that are (a venue ratio of 0.829 read 0.030)."""
    from types import SimpleNamespace

    from levguard.live import watch

    alerts: list[tuple[str, str]] = []

    async def alert(name: str, level: str, kind: str, message: str, **_: Any) -> None:
        alerts.append((level, message))

    g = SimpleNamespace(_alert=alert, _recent={})
    setup = SimpleNamespace(name="acct", venue=SimpleNamespace(settle="USDT", left_out={"PEPE-USDT-SWAP": UNLISTED}))
    st = SimpleNamespace(left_out_cycles=0, positions={})
    asyncio.run(watch.left_out(g, setup, st))  # type: ignore[arg-type]
    assert alerts[0][0] == "critical"
    assert "the account's margin figures EXCLUDE their loss and margin" in alerts[0][1]
