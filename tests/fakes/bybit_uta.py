"""A fake Bybit v5 Unified Trading Account that ccxt's ``bybit`` talks to.

Answers in the shapes of Bybit's v5 API docs (bybit-exchange.github.io/docs/v5):

* ``GET /v5/market/instruments-info?category=linear`` ("Get Instruments Info"),
* ``GET /v5/market/tickers?category=linear`` ("Get Tickers": ``markPrice``),
* ``GET /v5/market/risk-limit?category=linear`` ("Get Risk Limit"),
* ``GET /v5/spot-margin-trade/collateral`` ("Get Tiered Collateral Ratio", public:
  ``{"list": [{"currency", "collateralRatioList": [{"minQty", "maxQty", "collateralRatio"}]}]}``),
* ``GET /v5/asset/coin/query-info`` ("Get Coin Info": what ccxt's ``fetch_currencies`` reads),
* ``GET /v5/account/wallet-balance?accountType=UNIFIED`` ("Get Wallet Balance": account
  ``accountMMRate``, ``totalEquity``, ``totalMaintenanceMargin``...; per coin ``equity``,
  ``usdValue``, ``walletBalance``, ``borrowAmount``, ``spotBorrow``, ``collateralSwitch``...),
* ``GET /v5/position/list?category=linear`` ("Get Position Info").

Private endpoints check ``X-BAPI-API-KEY`` and ``X-BAPI-SIGN`` = HMAC-SHA256 of timestamp + key +
recv window + query string ("Integration Guidance: authentication"); a wrong key is Bybit's
``{"retCode": 10003, "retMsg": "API key is invalid. ..."}``, a wrong signature ``10004``.  The
account's numbers are the test's (:meth:`FakeBybitUta.coin`, :meth:`FakeBybitUta.position`,
:meth:`FakeBybitUta.totals`): the fake computes nothing.  ``delays[path]`` holds an answer back
for that many seconds (a hanging endpoint).

ccxt options for a UTA without the key-permission calls (``/v5/user/query-api``):
:data:`CCXT_OPTIONS`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fakes._server import FakeServer, Recorded, Reply

API_KEY = "byK3yFakeUta0123456789"
SECRET = "byS3cretFakeUta0123456789abcdefABCDEF01"

CCXT_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["linear"]},
    "enableUnifiedAccount": True,
    "enableUnifiedMargin": False,
    "unifiedMarginStatus": 6,
}
"""ccxt options: linear markets only, and the account known to be a UTA (ccxt asks otherwise)."""

# Bybit's linear risk limits of ETHUSDT (first two, "Get Risk Limit" shape): MM rate 0.5 % up to
# 1,000,000 USDT of position value.
ETHUSDT_RISK: list[dict[str, Any]] = [
    {"id": 1, "symbol": "ETHUSDT", "riskLimitValue": "1000000", "maintenanceMargin": "0.005",
     "initialMargin": "0.01", "isLowestRisk": 1, "maxLeverage": "100.00", "mmDeduction": ""},
    {"id": 2, "symbol": "ETHUSDT", "riskLimitValue": "1800000", "maintenanceMargin": "0.0095",
     "initialMargin": "0.0145", "isLowestRisk": 0, "maxLeverage": "68.96", "mmDeduction": "4500"},
]  # fmt: skip


def _instrument(symbol: str, base: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": "USDT",
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": "0.001",
            "qtyStep": "0.001",
            "postOnlyMaxOrderQty": "1190.000",
            "maxMktOrderQty": "500.000",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": "USDT",
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "symbolType": "",
    }


def _s(x: float) -> str:
    return f"{x:.8f}"


class FakeBybitUta(FakeServer):
    """Fake Bybit v5 server.  Fill the account with :meth:`coin`, :meth:`position`, :meth:`totals`
    and :attr:`collateral` (the tiered ratios), then start it."""

    def __init__(self, symbols: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.api_key, self.secret = API_KEY, SECRET
        self.symbols = dict(symbols or {"BTCUSDT": "BTC", "ETHUSDT": "ETH"})
        self.coins: list[dict[str, Any]] = []
        self.positions: list[dict[str, Any]] = []
        self.wallet_totals: dict[str, str] = {}
        self.collateral: list[dict[str, Any]] = []
        self.risk_limits: dict[str, list[dict[str, Any]]] = {"ETHUSDT": ETHUSDT_RISK}
        self.delays: dict[str, float] = {}
        self.released = threading.Event()
        for path, handler, private in (
            ("/v5/market/instruments-info", self._instruments, False),
            ("/v5/market/tickers", self._tickers, False),
            ("/v5/market/risk-limit", self._risk_limit, False),
            ("/v5/spot-margin-trade/collateral", self._collateral, False),
            ("/v5/asset/coin/query-info", self._coin_info, True),
            ("/v5/account/wallet-balance", self._wallet, True),
            ("/v5/position/list", self._positions, True),
        ):
            self.route("GET", path, self._guarded(path, handler, private))

    # -- the account ----------------------------------------------------------------------------

    def coin(
        self,
        coin: str,
        wallet: float,
        usd_price: float,
        *,
        upnl: float = 0.0,
        borrow: float = 0.0,
        spot_borrow: float = 0.0,
        position_mm: float = 0.0,
    ) -> None:
        """One ``coin[]`` entry of the wallet: its wallet balance, its USD price (``usdValue`` =
        ``equity`` x price), the perpetuals' PnL settled in it and its liabilities."""
        equity = wallet - spot_borrow + upnl
        self.coins.append(
            {
                "availableToBorrow": "",
                "bonus": "0",
                "accruedInterest": "0",
                "availableToWithdraw": "",
                "totalOrderIM": "0",
                "equity": _s(equity),
                "totalPositionMM": _s(position_mm),
                "usdValue": _s(equity * usd_price),
                "spotHedgingQty": "0",
                "unrealisedPnl": _s(upnl),
                "collateralSwitch": True,
                "borrowAmount": _s(borrow),
                "totalPositionIM": _s(position_mm * 2),
                "walletBalance": _s(wallet),
                "cumRealisedPnl": "0",
                "locked": "0",
                "marginCollateral": True,
                "coin": coin,
                "spotBorrow": _s(spot_borrow),
            }
        )

    def totals(self, *, mm_rate: float, equity: float, margin_balance: float, maint_margin: float) -> None:
        """The account-wide fields of the wallet (``accountMMRate`` is Bybit's own ratio)."""
        self.wallet_totals = {
            "totalEquity": _s(equity),
            "accountIMRate": _s(min(2 * mm_rate, 1.0)),
            "accountIMRateByMp": _s(min(2 * mm_rate, 1.0)),
            "totalMarginBalance": _s(margin_balance),
            "totalInitialMargin": _s(2 * maint_margin),
            "totalInitialMarginByMp": _s(2 * maint_margin),
            "accountType": "UNIFIED",
            "totalAvailableBalance": _s(max(margin_balance - 2 * maint_margin, 0.0)),
            "accountMMRate": f"{mm_rate:.4f}",
            "accountMMRateByMp": f"{mm_rate:.4f}",
            "totalPerpUPL": "0",
            "totalWalletBalance": _s(margin_balance),
            "accountLTV": "0",
            "totalMaintenanceMargin": _s(maint_margin),
            "totalMaintenanceMarginByMp": _s(maint_margin),
        }

    def position(self, symbol: str, qty: float, entry: float, mark: float) -> None:
        """One linear position (one-way mode, cross margin; ``qty`` signed)."""
        self.positions.append(
            {
                "positionIdx": 0,
                "riskId": 1,
                "riskLimitValue": "1000000",
                "symbol": symbol,
                "side": "Buy" if qty > 0 else "Sell",
                "size": f"{abs(qty):.3f}",
                "avgPrice": f"{entry:.2f}",
                "positionValue": _s(abs(qty) * entry),
                "tradeMode": 0,
                "positionStatus": "Normal",
                "autoAddMargin": 0,
                "adlRankIndicator": 2,
                "leverage": "10",
                "breakEvenPrice": f"{entry:.2f}",
                "positionBalance": "0",
                "markPrice": f"{mark:.2f}",
                "liqPrice": "",
                "bustPrice": "",
                "positionMM": "0",
                "positionMMByMp": "0",
                "positionIM": "0",
                "positionIMByMp": "0",
                "tpslMode": "Full",
                "takeProfit": "0.00",
                "stopLoss": "0.00",
                "trailingStop": "0.00",
                "unrealisedPnl": _s(qty * (mark - entry)),
                "curRealisedPnl": "0",
                "cumRealisedPnl": "0",
                "seq": 5723621632,
                "isReduceOnly": False,
                "mmrSysUpdateTime": "",
                "leverageSysUpdatedTime": "",
                "sessionAvgPrice": "",
                "createdTime": "1676538056258",
                "updatedTime": str(int(time.time() * 1000)),
            }
        )

    def ccxt_urls(self, api_urls: Mapping[str, Any]) -> dict[str, str]:
        """Map every string entry of ccxt's ``urls["api"]`` to this server, keeping its path."""
        return {k: self.base_url + urlsplit(v).path for k, v in api_urls.items() if isinstance(v, str)}

    def stop(self) -> None:
        self.released.set()
        super().stop()

    # -- handlers -------------------------------------------------------------------------------

    @staticmethod
    def ok(result: Any) -> Reply:
        """A Bybit success envelope."""
        return Reply.json(
            {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": int(time.time() * 1000)}
        )

    @staticmethod
    def error(code: int, msg: str) -> Reply:
        """A Bybit error envelope (HTTP 200, ``retCode`` != 0)."""
        return Reply.json(
            {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": int(time.time() * 1000)}
        )

    def _guarded(self, path: str, handler: Any, private: bool) -> Any:
        def serve(req: Recorded) -> Reply:
            delay = self.delays.get(path, 0.0)
            if delay:
                self.released.wait(delay)
            if private:
                if req.header("X-BAPI-API-KEY") != self.api_key:
                    return self.error(10003, "API key is invalid. Check whether the key and domain are matched.")
                if not self._signature_ok(req):
                    return self.error(10004, "Error sign, please check your signature generation algorithm.")
            return handler(req)  # type: ignore[no-any-return]

        return serve

    def _signature_ok(self, req: Recorded) -> bool:
        query = "&".join(f"{k}={v}" for k, v in req.query.items())
        payload = (req.header("X-BAPI-TIMESTAMP") or "") + self.api_key + (req.header("X-BAPI-RECV-WINDOW") or "")
        expected = hmac.new(self.secret.encode(), (payload + query).encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, req.header("X-BAPI-SIGN") or "")

    def _instruments(self, req: Recorded) -> Reply:
        if req.query.get("category") != "linear":
            return self.ok({"category": req.query.get("category", ""), "list": [], "nextPageCursor": ""})
        rows = [_instrument(s, b) for s, b in self.symbols.items()]
        return self.ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    def _tickers(self, req: Recorded) -> Reply:
        wanted = req.query.get("symbol")
        # The contract shape of "Get Tickers" (ccxt reads a row without openInterestValue as spot).
        rows = [
            {"symbol": p["symbol"], "lastPrice": p["markPrice"], "indexPrice": p["markPrice"],
             "markPrice": p["markPrice"], "prevPrice24h": p["markPrice"], "price24hPcnt": "0",
             "highPrice24h": p["markPrice"], "lowPrice24h": p["markPrice"], "prevPrice1h": p["markPrice"],
             "openInterest": "1000", "openInterestValue": "3100000", "turnover24h": "0", "volume24h": "0",
             "fundingRate": "0.0001", "nextFundingTime": "1760371200000", "predictedDeliveryPrice": "",
             "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0", "ask1Size": "1",
             "bid1Price": p["markPrice"], "ask1Price": p["markPrice"], "bid1Size": "1", "basis": "",
             "fundingIntervalHour": "8"}
            for p in self.positions
            if wanted is None or p["symbol"] == wanted
        ]  # fmt: skip
        return self.ok({"category": "linear", "list": rows})

    def _risk_limit(self, req: Recorded) -> Reply:
        wanted = req.query.get("symbol")
        rows = [r for s, rs in self.risk_limits.items() if wanted is None or s == wanted for r in rs]
        return self.ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    def _collateral(self, req: Recorded) -> Reply:
        wanted = req.query.get("currency")
        return self.ok({"list": [c for c in self.collateral if wanted is None or c["currency"] == wanted]})

    def _coin_info(self, req: Recorded) -> Reply:
        rows = [{"name": c, "coin": c, "remainAmount": "10000000", "chains": []} for c in ("BTC", "ETH", "USDT")]
        return self.ok({"rows": rows})

    def _wallet(self, req: Recorded) -> Reply:
        if req.query.get("accountType") != "UNIFIED":
            return self.error(10001, "accountType only support UNIFIED.")
        return self.ok({"list": [{**self.wallet_totals, "coin": self.coins}]})

    def _positions(self, req: Recorded) -> Reply:
        return self.ok({"list": self.positions, "nextPageCursor": "", "category": "linear"})
