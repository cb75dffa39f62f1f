"""CcxtVenue.cancel_order: an order cancelled by its client order id (where ccxt's cancel_order
takes one) or by the venue's order id; failures raised as levguard's errors.  The guardian cancels
an order the venue keeps with a status levguard does not know (live/inflight.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt
import pytest

from levguard.errors import VenueAuthError, VenuePermanentError
from levguard.venues.ccxt_adapter import CcxtVenue

SYMBOL = "X/USDT:USDT"
MARKET = {
    "id": "XUSDT", "symbol": SYMBOL, "base": "X", "quote": "USDT", "settle": "USDT", "type": "swap",
    "swap": True, "spot": False, "future": False, "option": False, "contract": True, "linear": True,
    "inverse": False, "contractSize": 1.0, "active": True, "precision": {"amount": 0.001, "price": 0.1},
    "limits": {"amount": {"min": 0.001, "max": None}, "market": {}, "cost": {}, "price": {}, "leverage": {}},
}  # fmt: skip


def _venue(exchange_id: str, cancel: Any, **stubs: Any) -> CcxtVenue:
    v = CcxtVenue(exchange_id)
    v._exchange.set_markets([MARKET])
    v._markets_loaded = True
    v._exchange.cancel_order = cancel
    for name, fn in stubs.items():
        setattr(v._exchange, name, fn)
    return v


def _run(v: CcxtVenue, *args: Any) -> None:
    async def main() -> None:
        try:
            await v.cancel_order(*args)
        finally:
            await v.close()

    asyncio.run(main())


def test_binance_cancels_by_its_client_order_id() -> None:
    calls: list[tuple[Any, ...]] = []

    async def cancel(id: str, symbol: str, params: Any = None) -> dict[str, Any]:
        calls.append((id, symbol, dict(params or {})))
        return {"id": "1", "status": "canceled"}

    _run(_venue("binanceusdm", cancel), SYMBOL, "lgabc", None)
    assert calls == [("lgabc", SYMBOL, {"origClientOrderId": "lgabc"})]


def test_gate_cancels_by_the_venue_order_id_found_by_its_client_id() -> None:
    """Gate's cancel takes the venue's order id: the one the answer carried, else the one found
    among the open orders by the client id (``text`` ``t-...``)."""
    calls: list[tuple[Any, ...]] = []

    async def cancel(id: str, symbol: str, params: Any = None) -> dict[str, Any]:
        calls.append((id, symbol, dict(params or {})))
        return {"id": id, "status": "canceled"}

    async def fetch_open_orders(symbol: str, *a: Any) -> list[dict[str, Any]]:
        return [{"id": "98765", "clientOrderId": "t-lgabc", "info": {"text": "t-lgabc"}, "symbol": SYMBOL,
                 "status": "open", "amount": 1.0, "filled": 0.0}]  # fmt: skip

    _run(_venue("gate", cancel), SYMBOL, "lgabc", "12345")
    assert calls == [("12345", SYMBOL, {})]
    calls.clear()
    _run(_venue("gate", cancel, fetch_open_orders=fetch_open_orders), SYMBOL, "lgabc", None)
    assert calls == [("98765", SYMBOL, {})]


@pytest.mark.parametrize(
    ("error", "raised"),
    [(ccxt.OrderNotFound("gone"), VenuePermanentError), (ccxt.AuthenticationError("bad key"), VenueAuthError)],
)
def test_a_failed_cancel_is_raised_as_levguards_error(error: Exception, raised: type[Exception]) -> None:
    async def cancel(id: str, symbol: str, params: Any = None) -> dict[str, Any]:
        raise error

    with pytest.raises(raised):
        _run(_venue("okx", cancel), SYMBOL, "lgabc", None)
