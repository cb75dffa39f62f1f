"""The largest order the guardian may send is the market's largest **market** order: Gate, OKX and
Bybit give a smaller maximum for market orders than for limit orders (ccxt's ``limits.amount.max``),
and only in the market's raw ``info``.  Markets are ccxt's own parse of the exchanges' documented
instruments; the network calls are stubbed."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from levguard.errors import VenueOrderRejectedError
from levguard.venues.base import OrderRequest
from levguard.venues.ccxt_adapter import CcxtVenue

# Gate APIv4 "List futures contracts": BTC_USDT, 0.0001 BTC a contract; limit orders up to
# 1,000,000 contracts (order_size_max), market orders up to 300,000 (market_order_size_max).
GATE_RAW = {
    "name": "BTC_USDT", "type": "direct", "quanto_multiplier": "0.0001", "order_price_round": "0.1",
    "mark_price_round": "0.01", "order_size_min": 1, "order_size_max": 1000000, "market_order_size_max": "300000",
    "leverage_min": "1", "leverage_max": "100", "mark_price": "60000", "last_price": "60000", "index_price": "60000",
    "maintenance_rate": "0.005", "funding_rate": "0.0001", "funding_interval": 28800, "risk_limit_base": "1000000",
    "risk_limit_step": "1000000", "risk_limit_max": "8000000", "maker_fee_rate": "-0.00025",
    "taker_fee_rate": "0.00075", "in_delisting": False, "status": "trading", "create_time": 1669688556,
}  # fmt: skip
# OKX v5 GET /public/instruments: BTC-USDT-SWAP, 0.01 BTC a contract; maxLmtSz 100,000,000, maxMktSz 12,000.
OKX_RAW = {
    "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear", "ctVal": "0.01",
    "ctValCcy": "BTC", "expTime": "", "instFamily": "BTC-USDT", "instId": "BTC-USDT-SWAP", "instType": "SWAP",
    "lever": "100", "listTime": "1573557408000", "lotSz": "0.01", "maxLmtSz": "100000000", "maxMktSz": "12000",
    "minSz": "0.01", "optType": "", "quoteCcy": "", "settleCcy": "USDT", "state": "live", "stk": "",
    "tickSz": "0.1", "uly": "BTC-USDT",
}  # fmt: skip
# Bybit V5 GET /v5/market/instruments-info (linear): maxOrderQty 1,190 BTC, maxMktOrderQty 119 BTC.
BYBIT_RAW = {
    "symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": "BTC",
    "quoteCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
    "priceScale": "2", "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
    "priceFilter": {"minPrice": "0.50", "maxPrice": "999999.00", "tickSize": "0.50"},
    "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                      "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "119.000", "minNotionalValue": "5"},
    "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
}  # fmt: skip
SYMBOL = "BTC/USDT:USDT"


def _bybit_markets() -> list[Any]:
    sync = ccxt.bybit()

    def instruments(params: Any = None) -> dict[str, Any]:
        listed = [] if (params or {}).get("status") == "PreLaunch" else [BYBIT_RAW]
        return {"retCode": 0, "result": {"category": "linear", "list": listed, "nextPageCursor": ""}}

    sync.publicGetV5MarketInstrumentsInfo = instruments
    return list(sync.fetch_future_markets({"category": "linear"}))


def _venue(exchange_id: str) -> CcxtVenue:
    v = CcxtVenue(exchange_id)
    ex = v._exchange
    if exchange_id == "gate":
        ex.set_markets([ex.parse_contract_market(GATE_RAW, "usdt")])
    elif exchange_id == "okx":
        ex.set_markets([ex.parse_market(OKX_RAW)])
    else:
        ex.set_markets(_bybit_markets())
    v._markets_loaded = True
    return v


def _cap_and_send(exchange_id: str) -> tuple[float | None, list[tuple[str, float]]]:
    """The venue's largest order (position units) and what a step of that size sends."""
    v = _venue(exchange_id)
    sent: list[tuple[str, float]] = []

    async def create_order(symbol: str, type: str, side: str, amount: float, price: Any = None, params: Any = None):
        sent.append((type, float(amount)))
        return {"id": "1", "status": "open", "filled": 0.0, "symbol": symbol}

    v._exchange.create_order = create_order

    async def main() -> float | None:
        try:
            most = await v.max_order_qty(SYMBOL)
            assert most is not None
            await v.create_order(OrderRequest(SYMBOL, "sell", most, "c1"))
            return most
        finally:
            await v.close()

    return asyncio.run(main()), sent


@pytest.mark.parametrize(
    ("exchange_id", "most", "contracts"),
    [
        # Gate: 300,000 contracts of 0.0001 BTC (was 1,000,000 = 100 BTC, 3.3x what the venue takes).
        ("gate", 30.0, 300_000.0),
        # OKX: 12,000 contracts of 0.01 BTC (was 100,000,000 = 1,000,000 BTC, 8,333x).
        ("okx", 120.0, 12_000.0),
        # Bybit: 119 BTC (was 1,190 BTC, 10x).
        ("bybit", 119.0, 119.0),
    ],
)
def test_the_cap_is_the_market_order_maximum(exchange_id: str, most: float, contracts: float) -> None:
    """The guardian's capped step is a market order within the venue's market-order maximum."""
    got, sent = _cap_and_send(exchange_id)
    assert got == pytest.approx(most, rel=1e-12)
    assert sent == [("market", contracts)]


@pytest.mark.parametrize(("exchange_id", "above"), [("gate", 30.0001), ("okx", 120.01), ("bybit", 119.001)])
def test_a_market_order_above_the_market_order_maximum_is_refused_locally(exchange_id: str, above: float) -> None:
    """One amount step above the market-order maximum is refused before it reaches the venue."""
    v = _venue(exchange_id)

    async def main() -> Decimal:
        try:
            return await v.round_qty(SYMBOL, above)
        finally:
            await v.close()

    with pytest.raises(VenueOrderRejectedError, match="above the maximum"):
        asyncio.run(main())


def test_okx_spot_max_mkt_sz_is_not_a_contract_count() -> None:
    """OKX spot ``maxMktSz`` is a quote amount: it is not read as a maximum of base units."""
    from levguard.venues.ccxt_orders import max_contracts

    spot = {"contract": False, "limits": {"amount": {"max": 5.0}}, "info": {"maxMktSz": "1"}}
    assert max_contracts(spot, "okx") == Decimal("5.0")
