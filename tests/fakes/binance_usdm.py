"""A fake Binance USDⓈ-M Futures REST API (fapi) that ccxt's ``binanceusdm`` can talk to.

Market-data endpoints answer from in-memory tables in Binance's documented JSON shapes:

* ``GET /fapi/v1/exchangeInfo``: the markets (what ``load_markets`` reads with
  ``options={"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}``),
* ``GET /fapi/v1/klines``, ``/fapi/v1/markPriceKlines``, ``/fapi/v1/indexPriceKlines``:
  ``startTime``/``endTime``/``limit`` (default 500, max 1500) like Binance,
* ``GET /fapi/v1/fundingRate``: ``startTime``/``endTime``/``limit`` (default 100, max 1000),
* ``GET /fapi/v1/leverageBracket``: signed (needs ``X-MBX-APIKEY``; the signature is not checked),
* ``GET /fapi/v1/ping``, ``GET /fapi/v1/time``.

Errors use Binance's body ``{"code": -1121, "msg": "Invalid symbol."}``. Everything is a route
in :attr:`FakeServer.routes`, so the live guardian's tests can add account endpoints
(positions, balances, orders) with :meth:`FakeServer.route`.

Point ccxt at the fake with ``exchange.urls["api"].update(fake.ccxt_urls(exchange.urls["api"]))``
(or ``make_exchange(..., api_urls=...)``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fakes._server import FakeServer, Recorded, Reply

CCXT_OPTIONS: dict[str, Any] = {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}
"""ccxt options that keep ``binanceusdm.load_markets`` on ``/fapi/v1/exchangeInfo`` only."""

_KLINE_PATHS = {
    "/fapi/v1/klines": "klines",
    "/fapi/v1/markPriceKlines": "markPriceKlines",
    "/fapi/v1/indexPriceKlines": "indexPriceKlines",
}


@dataclass(frozen=True)
class Symbol:
    """One perpetual contract listed by the fake."""

    symbol: str
    base: str
    quote: str = "USDT"
    onboard_ms: int = 1_569_398_400_000  # 2019-09-25, BTCUSDT's listing

    def exchange_info(self) -> dict[str, Any]:
        """The ``symbols[]`` entry of ``/fapi/v1/exchangeInfo``."""
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4_133_404_800_000,
            "onboardDate": self.onboard_ms,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base,
            "quoteAsset": self.quote,
            "marginAsset": self.quote,
            "pricePrecision": 2,
            "quantityPrecision": 3,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": ["PoW"],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
                {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": "100"},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": "1.0500",
                    "multiplierDown": "0.9500",
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }


def rest_klines(start_ms: int, interval_ms: int, n: int, *, base: float = 100.0) -> list[list[Any]]:
    """``n`` candles in the REST shape ``[openTime, "open", "high", "low", "close", "volume", closeTime,
    "quoteVolume", trades, "takerBuyBase", "takerBuyQuote", "0"]``."""
    rows = []
    for i in range(n):
        t = start_ms + i * interval_ms
        o = base + i
        rows.append(
            [t, f"{o:.2f}", f"{o + 2:.2f}", f"{o - 1:.2f}", f"{o + 1:.2f}", f"{10 + i:.3f}", t + interval_ms - 1,
             f"{(10 + i) * o:.4f}", 100 + i, f"{5 + i:.3f}", f"{(5 + i) * o:.4f}", "0"]
        )  # fmt: skip
    return rows


def rest_funding(symbol: str, start_ms: int, n: int, *, hours: int = 8, rate: float = 0.0001) -> list[dict[str, Any]]:
    """``n`` funding records in the shape of ``/fapi/v1/fundingRate``."""
    return [
        {
            "symbol": symbol,
            "fundingTime": start_ms + i * hours * 3_600_000,
            "fundingRate": f"{rate * (1 + i % 3):.8f}",
            "markPrice": f"{100 + i:.8f}",
        }
        for i in range(n)
    ]


# Binance's published USDⓈ-M BTCUSDT brackets (first five), the shape of /fapi/v1/leverageBracket.
BTCUSDT_BRACKETS: list[dict[str, Any]] = [
    {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0},
    {"bracket": 2, "initialLeverage": 100, "notionalCap": 600000, "notionalFloor": 50000, "maintMarginRatio": 0.005, "cum": 50.0},
    {"bracket": 3, "initialLeverage": 75, "notionalCap": 3000000, "notionalFloor": 600000, "maintMarginRatio": 0.0065, "cum": 950.0},
    {"bracket": 4, "initialLeverage": 50, "notionalCap": 12000000, "notionalFloor": 3000000, "maintMarginRatio": 0.01, "cum": 11450.0},
    {"bracket": 5, "initialLeverage": 25, "notionalCap": 70000000, "notionalFloor": 12000000, "maintMarginRatio": 0.02, "cum": 131450.0},
]  # fmt: skip


class FakeBinanceUsdm(FakeServer):
    """Fake fapi server. Fill :attr:`klines`, :attr:`funding`, :attr:`brackets`, then start it."""

    def __init__(self, symbols: Sequence[Symbol] = (Symbol("BTCUSDT", "BTC"), Symbol("ETHUSDT", "ETH"))) -> None:
        super().__init__()
        self.symbols = {s.symbol: s for s in symbols}
        self.klines: dict[tuple[str, str, str], list[list[Any]]] = {}
        self.funding: dict[str, list[dict[str, Any]]] = {}
        self.brackets: dict[str, list[dict[str, Any]]] = {}
        self.route("GET", "/fapi/v1/ping", lambda req: Reply.json({}))
        self.route("GET", "/fapi/v1/time", lambda req: Reply.json({"serverTime": int(time.time() * 1000)}))
        self.route("GET", "/fapi/v1/exchangeInfo", self._exchange_info)
        for path in _KLINE_PATHS:
            self.route("GET", path, self._klines)
        self.route("GET", "/fapi/v1/fundingRate", self._funding_rate)
        self.route("GET", "/fapi/v1/leverageBracket", self._leverage_bracket)

    # -- data ---------------------------------------------------------------------------------

    def add_klines(self, symbol: str, interval: str, rows: list[list[Any]], *, kind: str = "klines") -> None:
        """Serve ``rows`` (REST shape) for ``kind`` (``klines``, ``markPriceKlines``, ``indexPriceKlines``)."""
        self.klines.setdefault((kind, symbol, interval), []).extend(rows)
        self.klines[(kind, symbol, interval)].sort(key=lambda r: r[0])

    def ccxt_urls(self, api_urls: Mapping[str, Any]) -> dict[str, str]:
        """Map every string entry of ccxt's ``urls["api"]`` to this server, keeping its path."""
        return {k: self.base_url + urlsplit(v).path for k, v in api_urls.items() if isinstance(v, str)}

    @staticmethod
    def error(status: int, code: int, msg: str) -> Reply:
        """A Binance error reply, e.g. ``error(400, -1121, "Invalid symbol.")``."""
        return Reply.json({"code": code, "msg": msg}, status)

    # -- handlers -----------------------------------------------------------------------------

    def _exchange_info(self, req: Recorded) -> Reply:
        return Reply.json(
            {
                "timezone": "UTC",
                "serverTime": int(time.time() * 1000),
                "futuresType": "U_MARGINED",
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                ],
                "exchangeFilters": [],
                "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
                "symbols": [s.exchange_info() for s in self.symbols.values()],
            }
        )

    def _window(self, req: Recorded, rows: list[Any], ts: Any, default: int, maximum: int) -> list[Any]:
        try:
            limit = min(int(req.query.get("limit", default)), maximum)
            start = int(req.query["startTime"]) if "startTime" in req.query else None
            end = int(req.query["endTime"]) if "endTime" in req.query else None
        except ValueError:
            raise _BadRequestError(-1100, "Illegal characters found in a parameter.") from None
        picked = [r for r in rows if (start is None or ts(r) >= start) and (end is None or ts(r) <= end)]
        return picked[-limit:] if start is None else picked[:limit]

    def _klines(self, req: Recorded) -> Reply:
        kind = _KLINE_PATHS[req.path]
        symbol = req.query.get("pair" if kind == "indexPriceKlines" else "symbol", "")
        if symbol not in self.symbols:
            return self.error(400, -1121, "Invalid symbol.")
        rows = self.klines.get((kind, symbol, req.query.get("interval", "")), [])
        try:
            return Reply.json(self._window(req, rows, lambda r: r[0], 500, 1500))
        except _BadRequestError as exc:
            return self.error(400, exc.code, exc.msg)

    def _funding_rate(self, req: Recorded) -> Reply:
        symbol = req.query.get("symbol", "")
        if symbol not in self.symbols:
            return self.error(400, -1121, "Invalid symbol.")
        try:
            return Reply.json(self._window(req, self.funding.get(symbol, []), lambda r: r["fundingTime"], 100, 1000))
        except _BadRequestError as exc:
            return self.error(400, exc.code, exc.msg)

    def _leverage_bracket(self, req: Recorded) -> Reply:
        if not req.header("X-MBX-APIKEY"):
            return self.error(401, -2014, "API-key format invalid.")
        if "signature" not in req.query or "timestamp" not in req.query:
            return self.error(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        wanted = req.query.get("symbol")
        out = [
            {"symbol": s, "notionalCoef": 1.0, "brackets": b}
            for s, b in self.brackets.items()
            if wanted is None or s == wanted
        ]
        if wanted is not None:
            return Reply.json(out[0]) if out else self.error(400, -1121, "Invalid symbol.")
        return Reply.json(out)


class _BadRequestError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
