"""CcxtVenue with the real ccxt library on exchanges whose quirks it handles (venues/ccxt_quirks.py):
ccxt's own request building and parsing run; only its generated endpoint methods are replaced by
stubs answering in the exchanges' documented shapes (the examples of ccxt's source)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from levguard.errors import VenueOrderRejectedError
from levguard.venues.base import OrderRequest
from levguard.venues.ccxt_adapter import CcxtVenue

_T = TypeVar("_T")

Stub = Callable[..., Awaitable[Any]]


def _run(venue: CcxtVenue, body: Callable[[CcxtVenue], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        try:
            return await body(venue)
        finally:
            await venue.close()

    return asyncio.run(main())


# --- Deribit ------------------------------------------------------------------------------------
# public/get_instruments (ccxt deribit.fetch_markets' example): BTC-PERPETUAL, 10 USD contracts.
DERIBIT_PERP = {
    "tick_size": 0.5, "taker_commission": 0.0005, "settlement_period": "perpetual", "settlement_currency": "BTC",
    "quote_currency": "USD", "min_trade_amount": 10.0, "max_liquidation_commission": 0.0075, "max_leverage": 50,
    "maker_commission": 0.0, "kind": "future", "is_active": True, "instrument_name": "BTC-PERPETUAL",
    "future_type": "reversed", "expiration_timestamp": 32503708800000, "creation_timestamp": 1534242287000,
    "counter_currency": "USD", "contract_size": 10.0, "block_trade_commission": 0.0001, "base_currency": "BTC",
}  # fmt: skip
DERIBIT_SYMBOL = "BTC/USD:BTC"


def deribit_position(size: float, average: float = 7440.18, mark: float = 7476.65) -> dict[str, Any]:
    """A private/get_positions row (ccxt deribit.fetch_positions' example): ``size`` in USD."""
    return {
        "average_price": average, "delta": 0.006687487, "direction": "buy" if size > 0 else "sell",
        "estimated_liquidation_price": 1.74, "floating_profit_loss": 0, "index_price": 7466.79,
        "initial_margin": 0.000197283, "instrument_name": "BTC-PERPETUAL", "kind": "future", "leverage": 34,
        "maintenance_margin": 0.000143783, "mark_price": mark, "open_orders_margin": 0.000197288,
        "realized_funding": -1e-8, "realized_profit_loss": -9e-9, "settlement_price": mark, "size": size,
        "size_currency": size / mark, "total_profit_loss": 0.000032781,
    }  # fmt: skip


def deribit(positions: list[dict[str, Any]], sent: list[dict[str, Any]]) -> CcxtVenue:
    """A Deribit venue whose endpoints answer with ``positions`` and record the orders ``sent``."""
    venue = CcxtVenue("deribit", api_key="key123456", secret="secret123456")
    ex = venue._exchange

    async def instruments(params: Any = None) -> Any:
        return {"result": [DERIBIT_PERP]}

    async def currencies(params: Any = None) -> Any:
        return {"result": [{"currency": "BTC", "currency_long": "Bitcoin", "fee_precision": 4}]}

    async def get_positions(params: Any = None) -> Any:
        return {"result": positions}

    async def order(params: Any = None) -> Any:
        params = dict(params or {})
        sent.append(params)
        amount = float(params["amount"])
        answer = {
            "order_id": f"BTC-{len(sent)}", "order_state": "filled", "amount": amount, "filled_amount": amount,
            "average_price": 7476.0, "instrument_name": "BTC-PERPETUAL", "label": params.get("label", ""),
            "direction": "sell", "creation_timestamp": 1, "last_update_timestamp": 1, "order_type": "market",
        }  # fmt: skip
        return {"result": {"order": answer, "trades": []}}

    ex.publicGetGetInstruments = instruments
    ex.publicGetGetCurrencies = currencies
    ex.privateGetGetPositions = get_positions
    ex.privateGetBuy = order
    ex.privateGetSell = order
    return venue


def test_deribit_amounts_are_position_units_not_contracts() -> None:
    """ccxt's Deribit amounts are USD for perpetuals and inverse futures (Deribit's own ``size`` and
    ``amount``); multiplied by the 10 USD contract size, a 50 USD position read as 500, an order of
    1,000 USD was sent as 100 and closing the 50 USD position was refused (rounds to 0)."""
    sent: list[dict[str, Any]] = []
    venue = deribit([deribit_position(50.0)], sent)

    async def body(v: CcxtVenue) -> Any:
        positions = await v.fetch_positions()
        closing = await v.create_order(OrderRequest(DERIBIT_SYMBOL, "sell", 50.0, "c1"))
        large = await v.create_order(OrderRequest(DERIBIT_SYMBOL, "sell", 1_000.0, "c2"))
        odd = await v.round_qty(DERIBIT_SYMBOL, 55.0)
        with pytest.raises(VenueOrderRejectedError, match="below the minimum 10"):
            await v.round_qty(DERIBIT_SYMBOL, 5.0)
        return positions, closing, large, odd

    positions, closing, large, odd = _run(venue, body)
    assert [(p.qty, p.inverse) for p in positions] == [(50.0, True)]
    assert [s["amount"] for s in sent] == ["50", "1000"]
    assert (closing.filled, large.filled) == (50.0, 1_000.0)
    assert odd == 50  # whole 10 USD contracts: 55 rounds down to 50
