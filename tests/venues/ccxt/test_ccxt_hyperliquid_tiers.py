"""Hyperliquid coins without a built-in margin table get one tier at their max leverage.

ccxt has no tier endpoint for Hyperliquid, and levguard's built-in tables cover the coins whose
max leverage falls with size (hyperliquid-docs/trading/margin-tiers).  Every other coin has one
tier at the ``maxLeverage`` of the venue's meta (ccxt: ``limits.leverage.max``), with MM half the
initial margin there (/trading/liquidations).  Before, the ccxt venue returned no tiers and the
margin engine had none for such a coin, so the guardian could not evaluate the account.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import levguard
from levguard.core.rules.hyperliquid import single_tier
from levguard.errors import InputError
from levguard.venues.ccxt_adapter import CcxtVenue


def _market(coin: str, max_leverage: int | None) -> dict[str, Any]:
    return {
        "id": coin, "symbol": f"{coin}/USDC:USDC", "base": coin, "quote": "USDC", "settle": "USDC", "baseId": coin,
        "quoteId": "USDC", "settleId": "USDC", "type": "swap", "spot": False, "swap": True, "future": False,
        "option": False, "contract": True, "linear": True, "inverse": False, "contractSize": 1.0, "active": True,
        "precision": {"amount": 0.01, "price": 0.0001}, "limits": {"leverage": {"min": None, "max": max_leverage}},
        "info": {"name": coin, "maxLeverage": max_leverage},
    }  # fmt: skip


def _tiers(symbol: str, markets: list[dict[str, Any]]) -> levguard.TierTable | None:
    venue = CcxtVenue("hyperliquid", api_key="0x" + "1" * 40)
    venue._exchange.set_markets(markets)

    async def loaded(*args: Any, **kwargs: Any) -> Any:
        return venue._exchange.markets

    venue._exchange.load_markets = loaded

    async def body() -> levguard.TierTable | None:
        try:
            return await venue.fetch_tiers(symbol)
        finally:
            await venue.close()

    return asyncio.run(body())


def test_a_coin_without_a_table_gets_one_tier_at_its_max_leverage() -> None:
    table = _tiers("PENDLE/USDC:USDC", [_market("PENDLE", 5), _market("BTC", 40)])
    assert table is not None
    assert [(t.notional_floor, t.mmr, t.max_leverage) for t in table.tiers] == [(0.0, 0.1, 5.0)]
    spec = {
        "venue": "hyperliquid", "wallet_balance": 10_000.0, "tiers": {"PENDLE/USDC:USDC": table},
        "positions": [{"symbol": "PENDLE/USDC:USDC", "qty": 10_000.0, "entry_price": 4.0, "mark_price": 4.0}],
    }  # fmt: skip
    (p,) = levguard.evaluate_account(spec).positions
    assert p.maintenance_margin == pytest.approx(40_000.0 * 0.1)  # half the 20 % IM at 5x
    without = {**spec, "tiers": {}}
    with pytest.raises(InputError, match="no built-in tiers for this symbol on hyperliquid"):
        levguard.evaluate_account(without)


def test_built_in_tables_and_unknown_leverage_are_left_to_the_engine() -> None:
    # BTC's max leverage falls with size: the built-in two-tier table stays in charge.
    assert _tiers("BTC/USDC:USDC", [_market("BTC", 40)]) is None
    assert _tiers("NEW/USDC:USDC", [_market("NEW", None)]) is None
    with pytest.raises(InputError, match="max_leverage must be > 0"):
        single_tier(0.0)
