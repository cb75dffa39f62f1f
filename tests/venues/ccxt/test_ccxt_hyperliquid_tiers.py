"""Hyperliquid's margin tiers through ccxt: the venue's own table, else an assumption said so.

ccxt has no tier endpoint for Hyperliquid; its markets' ``info`` (the ``meta`` universe entry)
carries the coin's ``marginTableId``.  An id below 50 is one tier at max leverage = the id
(hyperliquid-docs/trading/margin-tiers); a larger id is a tiered table, read from the info
endpoint ``{"type": "marginTable", "id": id}``.  Without a table, a coin with a built-in table
keeps it and any other coin gets one tier at the ``maxLeverage`` of the venue's meta (ccxt:
``limits.leverage.max``), MM half the initial margin there: logged as an assumption and named
in the source.  Before, every coin outside the (incomplete) built-in list got that flat tier
silently, so LDO at 5M was margined at 10x where the venue margins it at 5x.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ccxt
import pytest

import levguard
from levguard.core.rules.hyperliquid import single_tier
from levguard.errors import InputError
from levguard.venues import ccxt_margin_tables
from levguard.venues.ccxt_adapter import CcxtVenue
from levguard.venues.ccxt_margin_tables import margin_table_id

TIERED_10X = {
    "description": "tiered 10x",
    "marginTiers": [{"lowerBound": "0.0", "maxLeverage": 10}, {"lowerBound": "3000000.0", "maxLeverage": 5}],
}


def _market(coin: str, max_leverage: int | None, table_id: int | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"name": coin, "maxLeverage": max_leverage}
    if table_id is not None:
        info["marginTableId"] = table_id
    return {
        "id": coin, "symbol": f"{coin}/USDC:USDC", "base": coin, "quote": "USDC", "settle": "USDC", "baseId": coin,
        "quoteId": "USDC", "settleId": "USDC", "type": "swap", "spot": False, "swap": True, "future": False,
        "option": False, "contract": True, "linear": True, "inverse": False, "contractSize": 1.0, "active": True,
        "precision": {"amount": 0.01, "price": 0.0001}, "limits": {"leverage": {"min": None, "max": max_leverage}},
        "info": info,
    }  # fmt: skip


def _tiers(symbol: str, markets: list[dict[str, Any]], answer: Any = None) -> tuple[Any, list[Any]]:
    """(fetch_tiers(symbol), the requests sent to the info endpoint); ``answer`` an exception to raise."""
    venue = CcxtVenue("hyperliquid", api_key="0x" + "1" * 40)
    venue._exchange.set_markets(markets)
    sent: list[Any] = []

    async def loaded(*args: Any, **kwargs: Any) -> Any:
        return venue._exchange.markets

    async def info(request: Any) -> Any:
        sent.append(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    venue._exchange.load_markets = loaded
    venue._exchange.public_post_info = info

    async def body() -> levguard.TierTable | None:
        try:
            return await venue.fetch_tiers(symbol)
        finally:
            await venue.close()

    return asyncio.run(body()), sent


def _rows(table: levguard.TierTable) -> list[tuple[float, float, float]]:
    return [(t.notional_floor, t.mmr, t.max_leverage) for t in table.tiers]


def test_a_tiered_table_id_is_read_from_the_venue() -> None:
    """LDO, table 51 (10x to 3M, 5x above): 5M long at 1 has MM 350k, not the flat 250k."""
    table, sent = _tiers("LDO/USDC:USDC", [_market("LDO", 10, 51)], TIERED_10X)
    assert sent == [{"type": "marginTable", "id": 51}]
    assert table is not None
    assert _rows(table) == [(0.0, 0.05, 10.0), (3e6, 0.1, 5.0)]
    assert table.maintenance_margin(5e6) == pytest.approx(350_000.0)
    assert "marginTable 51" in table.source
    # A coin with a built-in table reads the venue's too (the venue's table is the one it applies).
    btc = {"marginTiers": [{"lowerBound": "0.0", "maxLeverage": 40}, {"lowerBound": "150000000.0", "maxLeverage": 20}]}
    table, sent = _tiers("BTC/USDC:USDC", [_market("BTC", 40, 56)], btc)
    assert sent == [{"type": "marginTable", "id": 56}]
    assert table is not None
    assert _rows(table) == [(0.0, 0.0125, 40.0), (150e6, 0.025, 20.0)]


def test_a_table_id_below_50_is_one_tier_at_that_leverage_without_a_request() -> None:
    table, sent = _tiers("PENDLE/USDC:USDC", [_market("PENDLE", 5, 5)])
    assert sent == []
    assert table is not None
    assert _rows(table) == [(0.0, 0.1, 5.0)]
    assert "marginTableId 5" in table.source


def test_a_coin_without_a_table_gets_one_tier_at_its_max_leverage_as_a_logged_assumption(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ccxt_margin_tables._warned.discard("PENDLE/USDC:USDC")  # logged once per symbol
    with caplog.at_level(logging.WARNING, logger="levguard.venues.ccxt_margin_tables"):
        table, sent = _tiers("PENDLE/USDC:USDC", [_market("PENDLE", 5), _market("BTC", 40)])
    assert sent == []
    assert table is not None
    assert _rows(table) == [(0.0, 0.1, 5.0)]
    assert "assumed one tier" in table.source
    assert "assuming one tier at max leverage 5" in caplog.text
    spec = {
        "venue": "hyperliquid", "wallet_balance": 10_000.0, "tiers": {"PENDLE/USDC:USDC": table},
        "positions": [{"symbol": "PENDLE/USDC:USDC", "qty": 10_000.0, "entry_price": 4.0, "mark_price": 4.0}],
    }  # fmt: skip
    (p,) = levguard.evaluate_account(spec).positions
    assert p.maintenance_margin == pytest.approx(40_000.0 * 0.1)  # half the 20 % IM at 5x
    without = {**spec, "tiers": {}}
    with pytest.raises(InputError, match="no built-in tiers for this symbol on hyperliquid"):
        levguard.evaluate_account(without)


def test_a_refused_request_falls_back_to_the_built_in_table_or_the_assumption() -> None:
    refused = ccxt.BadRequest("hyperliquid Failed to deserialize the JSON body")
    table, sent = _tiers("LDO/USDC:USDC", [_market("LDO", 10, 51)], refused)
    assert sent
    assert table is None
    table, _ = _tiers("NEWCOIN/USDC:USDC", [_market("NEWCOIN", 3, 60)], refused)
    assert table is not None
    assert _rows(table) == [(0.0, 1 / 6, 3.0)]
    assert "marginTable 60 not read" in table.source
    # A builder-deployed (HIP-3) dex's table ids are its own: not looked up in the main dex's.
    hip3 = _market("XYZ-TSLA", 10, 51)
    hip3["info"]["hip3"] = True
    table, sent = _tiers("XYZ-TSLA/USDC:USDC", [hip3], TIERED_10X)
    assert sent == []
    assert table is not None
    assert _rows(table) == [(0.0, 0.05, 10.0)]


@pytest.mark.parametrize(
    "answer",
    [
        ccxt.NetworkError("timed out"),
        ccxt.RateLimitExceeded("429"),
        {"marginTiers": [{"lowerBound": "1000.0", "maxLeverage": 10}]},
        {"marginTiers": []},
        {"marginTiers": [{"lowerBound": "0.0", "maxLeverage": 0}]},
        {"marginTiers": [{"lowerBound": "x", "maxLeverage": 3}]},
    ],
)
def test_a_failed_request_or_a_bad_table_falls_back(answer: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A rate limit at start-up was raised: the guardian kept "no table" for its hour of tier caching
    and a coin without a built-in table could not be evaluated (NoTiersError every cycle)."""
    with caplog.at_level(logging.WARNING, logger="levguard.venues.ccxt_margin_tables"):
        table, sent = _tiers("LDO/USDC:USDC", [_market("LDO", 10, 51)], answer)
        assert sent
        assert table is None  # LDO: the built-in table
        table, _ = _tiers("NEWCOIN/USDC:USDC", [_market("NEWCOIN", 3, 60)], answer)
    assert table is not None
    assert _rows(table) == [(0.0, 1 / 6, 3.0)]
    assert "marginTable 60 not read" in table.source
    assert "marginTable 51 failed" in caplog.text


def test_built_in_tables_and_unknown_leverage_are_left_to_the_engine() -> None:
    # BTC's and LDO's max leverage falls with size: without a table id the built-in tables stay in charge.
    assert _tiers("BTC/USDC:USDC", [_market("BTC", 40)])[0] is None
    assert _tiers("LDO/USDC:USDC", [_market("LDO", 10)])[0] is None
    assert _tiers("NEW/USDC:USDC", [_market("NEW", None)])[0] is None
    with pytest.raises(InputError, match="max_leverage must be > 0"):
        single_tier(0.0)


@pytest.mark.parametrize(
    ("info", "expected"),
    [({"marginTableId": 56}, 56), ({"marginTableId": "5"}, 5), ({"marginTableId": 0}, None),
     ({"marginTableId": 5.5}, None), ({"marginTableId": True}, None), ({}, None), (None, None)],
)  # fmt: skip
def test_margin_table_id(info: Any, expected: int | None) -> None:
    assert margin_table_id({"info": info}) == expected
