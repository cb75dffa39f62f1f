"""A local Binance USDⓈ-M Futures REST server (aiohttp.web on 127.0.0.1) that real ccxt talks to.

It answers the endpoints ccxt 4.5's ``binanceusdm`` calls for :class:`levguard.venues.ccxt_adapter.CcxtVenue`,
in the shapes of Binance's "Derivatives Trading USDⓈ-M Futures" REST docs (page names cited
per handler).  Signed endpoints check ``X-MBX-APIKEY`` and the HMAC-SHA256 ``signature`` of the
query string / form body ("General Info: SIGNED endpoint security").  Every request is recorded;
``server.fail(path, status, body)`` injects one faulty answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


@dataclass
class Recorded:
    """One request as the server saw it (query and form merged into ``params``)."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeBinanceUsdm:
    """State of the fake: recorded requests, orders by client id, one-shot faults by path."""

    base: str = ""
    requests: list[Recorded] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, tuple[int, str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    next_order_id: int = 8389765519

    def fail(self, path: str, status: int, body: object) -> None:
        """Answer the next request to ``path`` with ``status`` and ``body`` (JSON unless a str)."""
        self.faults[path] = (status, body if isinstance(body, str) else json.dumps(body))

    def reset(self) -> None:
        self.requests.clear()
        self.orders.clear()
        self.faults.clear()
        self.unknown.clear()

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def ccxt_urls(self, api: dict[str, str]) -> dict[str, str]:
        """ccxt's ``urls["api"]`` entries with the host replaced by this server."""
        return {k: re.sub(r"^https://[^/]+", self.base, v) for k, v in api.items() if isinstance(v, str)}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _filters(tick: str, min_price: str, max_price: str, step: str, min_qty: str, max_qty: str, mkt_max: str) -> list:
    return [
        {"filterType": "PRICE_FILTER", "minPrice": min_price, "maxPrice": max_price, "tickSize": tick},
        {"filterType": "LOT_SIZE", "stepSize": step, "maxQty": max_qty, "minQty": min_qty},
        {"filterType": "MARKET_LOT_SIZE", "stepSize": step, "maxQty": mkt_max, "minQty": min_qty},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
    ]


def _symbol(symbol: str, base: str, price_prec: int, qty_prec: int, filters: list) -> dict[str, Any]:
    # Binance USDⓈ-M docs, "Exchange Information": one entry of `symbols`.
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": price_prec,
        "quantityPrecision": qty_prec,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"] if base == "BTC" else ["Layer-1"],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": filters,
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


EXCHANGE_INFO: dict[str, Any] = {
    "timezone": "UTC",
    "serverTime": 0,
    "futuresType": "U_MARGINED",
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ],
    "exchangeFilters": [],
    "assets": [
        {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
        {"asset": "USDC", "marginAvailable": True, "autoAssetExchange": "-10000"},
    ],
    "symbols": [
        _symbol("BTCUSDT", "BTC", 2, 3, _filters("0.10", "556.80", "4529764", "0.001", "0.001", "1000", "120")),
        _symbol("ETHUSDT", "ETH", 2, 3, _filters("0.01", "39.86", "306177", "0.001", "0.001", "10000", "2000")),
    ],
}


# Binance USDⓈ-M docs, "Notional and Leverage Brackets (USER_DATA)": GET /fapi/v1/leverageBracket.
def _brackets(symbol: str, rows: list[tuple[int, int, int, float, float]]) -> dict[str, Any]:
    # One symbol's brackets from (initialLeverage, notionalFloor, notionalCap, maintMarginRatio, cum).
    return {
        "symbol": symbol,
        "notionalCoef": 1.0,
        "brackets": [
            {
                "bracket": i + 1,
                "initialLeverage": lev,
                "notionalCap": cap,
                "notionalFloor": floor,
                "maintMarginRatio": mmr,
                "cum": cum,
            }
            for i, (lev, floor, cap, mmr, cum) in enumerate(rows)
        ],
    }


BRACKETS: list[dict[str, Any]] = [
    _brackets(
        "BTCUSDT",
        [
            (125, 0, 50000, 0.004, 0.0),
            (100, 50000, 500000, 0.005, 50.0),
            (50, 500000, 8000000, 0.01, 2550.0),
            (20, 8000000, 50000000, 0.025, 122550.0),
            (10, 50000000, 80000000, 0.05, 1372550.0),
            (5, 80000000, 100000000, 0.1, 5372550.0),
            (4, 100000000, 200000000, 0.125, 7872550.0),
            (3, 200000000, 400000000, 0.15, 12872550.0),
            (2, 400000000, 600000000, 0.25, 52872550.0),
            (1, 600000000, 1000000000, 0.5, 202872550.0),
        ],
    ),
    _brackets(
        "ETHUSDT",
        [
            (100, 0, 10000, 0.005, 0.0),
            (75, 10000, 100000, 0.0065, 15.0),
            (50, 100000, 500000, 0.01, 365.0),
            (25, 500000, 1000000, 0.02, 5365.0),
            (10, 1000000, 2000000, 0.05, 35365.0),
        ],
    ),
]

# Binance USDⓈ-M docs, "Position Information V3 (USER_DATA)": GET /fapi/v3/positionRisk (one-way mode).
POSITIONS: list[dict[str, Any]] = [
    {  # cross long 0.5 BTC at 20x
        "symbol": "BTCUSDT",
        "positionSide": "BOTH",
        "positionAmt": "0.500",
        "entryPrice": "60000.0",
        "breakEvenPrice": "60024.0",
        "markPrice": "62000.00000000",
        "unRealizedProfit": "1000.00000000",
        "liquidationPrice": "41234.56789012",
        "isolatedMargin": "0",
        "notional": "31000.00000000",
        "marginAsset": "USDT",
        "isolatedWallet": "0",
        "initialMargin": "1550.00000000",
        "maintMargin": "124.00000000",
        "positionInitialMargin": "1550.00000000",
        "openOrderInitialMargin": "0",
        "adl": 2,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": 1722062678998,
    },
    {  # isolated short 4 ETH at 10x: 1200 USDT posted, isolatedMargin = wallet + uPnL
        "symbol": "ETHUSDT",
        "positionSide": "BOTH",
        "positionAmt": "-4.000",
        "entryPrice": "3000.0",
        "breakEvenPrice": "2998.8",
        "markPrice": "3100.00000000",
        "unRealizedProfit": "-400.00000000",
        "liquidationPrice": "3277.12000000",
        "isolatedMargin": "800.00000000",
        "notional": "-12400.00000000",
        "marginAsset": "USDT",
        "isolatedWallet": "1200.00000000",
        "initialMargin": "1240.00000000",
        "maintMargin": "80.60000000",
        "positionInitialMargin": "1240.00000000",
        "openOrderInitialMargin": "0",
        "adl": 1,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": 1722062679001,
    },
]

# Binance USDⓈ-M docs, "Mark Price": GET /fapi/v1/premiumIndex.
PREMIUM: list[dict[str, Any]] = [
    {
        "symbol": "BTCUSDT",
        "markPrice": "62000.00000000",
        "indexPrice": "61990.12000000",
        "estimatedSettlePrice": "61995.43000000",
        "lastFundingRate": "0.00010000",
        "interestRate": "0.00010000",
        "nextFundingTime": 1722067200000,
        "time": 1722062679000,
    },
    {
        "symbol": "ETHUSDT",
        "markPrice": "3100.00000000",
        "indexPrice": "3099.51000000",
        "estimatedSettlePrice": "3099.80000000",
        "lastFundingRate": "-0.00002500",
        "interestRate": "0.00010000",
        "nextFundingTime": 1722067200000,
        "time": 1722062679000,
    },
]


def _account() -> dict[str, Any]:
    # Binance USDⓈ-M docs, "Account Information V3 (USER_DATA)": GET /fapi/v3/account.
    usdt = {
        "asset": "USDT",
        "walletBalance": "10000.00000000",
        "unrealizedProfit": "600.00000000",
        "marginBalance": "10600.00000000",
        "maintMargin": "204.60000000",
        "initialMargin": "2790.00000000",
        "positionInitialMargin": "2790.00000000",
        "openOrderInitialMargin": "0.00000000",
        "crossWalletBalance": "8800.00000000",
        "crossUnPnl": "1000.00000000",
        "availableBalance": "7810.00000000",
        "maxWithdrawAmount": "7810.00000000",
        "updateTime": 1722062678998,
    }
    usdc = {**usdt, "asset": "USDC", "updateTime": 0}
    for k in ("walletBalance", "unrealizedProfit", "marginBalance", "maintMargin", "initialMargin"):
        usdc[k] = "0.00000000"
    return {
        "totalInitialMargin": "2790.00000000",
        "totalMaintMargin": "204.60000000",
        "totalWalletBalance": "10000.00000000",
        "totalUnrealizedProfit": "600.00000000",
        "totalMarginBalance": "10600.00000000",
        "totalPositionInitialMargin": "2790.00000000",
        "totalOpenOrderInitialMargin": "0.00000000",
        "totalCrossWalletBalance": "8800.00000000",
        "totalCrossUnPnl": "1000.00000000",
        "availableBalance": "7810.00000000",
        "maxWithdrawAmount": "7810.00000000",
        "assets": [usdt, usdc],
        "positions": [],
    }


def _err(code: int, msg: str, status: int = 400) -> web.Response:
    # Binance error body: {"code": -1121, "msg": "Invalid symbol."} ("Error Codes" page).
    return web.json_response({"code": code, "msg": msg}, status=status)


def _signed_ok(request: web.Request, raw: str) -> bool:
    # "SIGNED (TRADE and USER_DATA) Endpoint security": HMAC SHA256 of the total params.
    if request.headers.get("X-MBX-APIKEY") != API_KEY:
        return False
    payload, _, signature = raw.rpartition("&signature=")
    expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def make_app(state: FakeBinanceUsdm) -> web.Application:
    public = {"/fapi/v1/exchangeInfo", "/fapi/v1/premiumIndex", "/fapi/v1/time", "/fapi/v1/ping"}
    private = {"/fapi/v3/positionRisk", "/fapi/v3/account", "/fapi/v1/leverageBracket", "/fapi/v1/order"}

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        params = dict(parse_qsl(request.query_string))
        params.update(parse_qsl(body))
        path = request.path
        state.requests.append(Recorded(request.method, path, params, dict(request.headers)))
        if path in state.faults:
            status, text = state.faults.pop(path)
            ctype = "application/json" if text.startswith("{") else "text/html"
            return web.Response(status=status, text=text, content_type=ctype)
        if path not in public | private:
            state.unknown.append(f"{request.method} {path}")
            return web.Response(status=404, text="Not Found")
        if path in private:
            raw = request.query_string if request.method in ("GET", "DELETE") else body
            if not _signed_ok(request, raw):
                return _err(-2015, "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1", 401)
        symbol = params.get("symbol")
        if path == "/fapi/v1/time":  # "Check Server Time"
            return web.json_response({"serverTime": _now_ms()})
        if path == "/fapi/v1/ping":  # "Test Connectivity"
            return web.json_response({})
        if path == "/fapi/v1/exchangeInfo":
            return web.json_response({**EXCHANGE_INFO, "serverTime": _now_ms()})
        if path == "/fapi/v1/premiumIndex":
            if symbol:
                rows = [p for p in PREMIUM if p["symbol"] == symbol]
                return web.json_response(rows[0]) if rows else _err(-1121, "Invalid symbol.")
            return web.json_response(PREMIUM)
        if path == "/fapi/v1/leverageBracket":
            rows = [b for b in BRACKETS if not symbol or b["symbol"] == symbol]
            return web.json_response(rows)
        if path == "/fapi/v3/positionRisk":
            flat = {**POSITIONS[0], "symbol": "XRPUSDT", "positionAmt": "0", "entryPrice": "0.0", "notional": "0"}
            return web.json_response([*POSITIONS, flat])
        if path == "/fapi/v3/account":
            return web.json_response(_account())
        if path == "/fapi/v1/order" and request.method == "POST":
            return _new_order(state, params)
        if path == "/fapi/v1/order" and request.method == "GET":
            # "Query Order (USER_DATA)": by orderId or origClientOrderId.
            cid = params.get("origClientOrderId")
            order = state.orders.get(cid or "")
            if order is None or order["symbol"] != symbol:
                return _err(-2013, "Order does not exist.")
            filled = {**order, "status": "FILLED", "executedQty": order["origQty"], "avgPrice": "61990.00"}
            filled["cumQuote"] = f"{float(order['origQty']) * 61990.0:.5f}"
            return web.json_response(filled)
        return _err(-1100, "Illegal characters found in a parameter.")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _new_order(state: FakeBinanceUsdm, params: dict[str, str]) -> web.Response:
    # "New Order (TRADE)": POST /fapi/v1/order; a MARKET order is acknowledged as NEW.
    cid = params.get("newClientOrderId", "")
    if cid in state.orders:
        return _err(-4116, "ClientOrderId is duplicated.")
    now = _now_ms()
    order = {
        "orderId": state.next_order_id,
        "symbol": params["symbol"],
        "status": "NEW",
        "clientOrderId": cid,
        "price": "0.00",
        "avgPrice": "0.00",
        "origQty": params["quantity"],
        "executedQty": "0.000",
        "cumQty": "0.000",
        "cumQuote": "0.00000",
        "timeInForce": "GTC",
        "type": params["type"],
        "reduceOnly": params.get("reduceOnly") == "true",
        "closePosition": False,
        "side": params["side"],
        "positionSide": "BOTH",
        "stopPrice": "0.00",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": params["type"],
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": now,
        "updateTime": now,
    }
    state.next_order_id += 1
    state.orders[cid] = order
    return web.json_response(order)


@contextmanager
def serve_in_thread(state: FakeBinanceUsdm) -> Iterator[FakeBinanceUsdm]:
    """Run the fake in a background thread with its own event loop, on a free port of 127.0.0.1."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(state), access_log=None)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        host, port = runner.addresses[0][:2]
        state.base = f"http://{host}:{port}"
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="fake-binance-usdm", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("fake Binance server did not start")
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
