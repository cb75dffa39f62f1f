"""A fake Binance Portfolio Margin account (papi) that ccxt's ``binance`` with
``options={"portfolioMargin": True}`` talks to.

On top of :class:`fakes.binance_usdm.FakeBinanceUsdm` (``/fapi/v1/exchangeInfo``, klines, ...)
it answers, in the shapes of Binance's "Portfolio Margin" and "Portfolio Margin Pro" REST docs:

* ``GET /papi/v1/balance`` ("Account Balance(USER_DATA)"): per asset ``totalWalletBalance``,
  ``crossMarginAsset``, ``crossMarginBorrowed``, ``crossMarginInterest``, ``umWalletBalance``,
  ``umUnrealizedPNL``, ``cmWalletBalance``, ``cmUnrealizedPNL``, ``negativeBalance``...;
* ``GET /papi/v1/account`` ("Account Information(USER_DATA)"): ``uniMMR``, ``accountEquity``,
  ``actualEquity``, ``accountInitialMargin``, ``accountMaintMargin``, ``accountStatus``...;
* ``GET /papi/v1/um/positionRisk`` ("Query UM Position Information(USER_DATA)") and
  ``GET /papi/v1/um/leverageBracket`` ("UM Notional and Leverage Brackets (USER_DATA)");
* ``GET /sapi/v1/portfolio/asset-index-price`` ("Query Portfolio Margin Asset Index Price");
* ``GET /sapi/v2/portfolio/collateralRate`` ("Portfolio Margin Pro Tiered Collateral Rate":
  ``[{"asset", "collateralInfo": [{"tierFloor", "tierCap", "collateralRate", "cum"}]}]``) and
  ``GET /sapi/v1/portfolio/collateralRate`` ("Classic Portfolio Margin Collateral Rate":
  ``[{"asset", "collateralRate"}]``);
* ``GET /fapi/v1/premiumIndex`` ("Mark Price").

Signed endpoints check ``X-MBX-APIKEY`` and the HMAC-SHA256 ``signature`` of the query ("SIGNED
Endpoint security"); a wrong key or signature is Binance's ``401 {"code": -2015, ...}``.  The
account's numbers are the test's (:meth:`FakeBinancePm.wallet`, :meth:`FakeBinancePm.position`,
:attr:`FakeBinancePm.account`): the fake states what the venue would report, it computes nothing.
``delays[path]`` holds an answer back for that many seconds (a hanging endpoint).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fakes._server import Recorded, Reply
from fakes.binance_usdm import FakeBinanceUsdm, Symbol

API_KEY = "pmK3yFakeBinancePortfolioMargin0123456789abcdefABCDEF0123456789ab"
SECRET = "pmS3cretFakeBinancePortfolioMargin0123456789abcdefABCDEF012345678"

CCXT_OPTIONS: dict[str, Any] = {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}
"""ccxt options that keep ``binance.load_markets`` on ``/fapi/v1/exchangeInfo`` only."""

# Binance's USDⓈ-M ETHUSDT brackets (the first three), as GET /papi/v1/um/leverageBracket gives them.
ETHUSDT_BRACKETS: list[dict[str, Any]] = [
    {"bracket": 1, "initialLeverage": 100, "notionalCap": 10000, "notionalFloor": 0, "maintMarginRatio": 0.005, "cum": 0.0},
    {"bracket": 2, "initialLeverage": 75, "notionalCap": 100000, "notionalFloor": 10000, "maintMarginRatio": 0.0065, "cum": 15.0},
    {"bracket": 3, "initialLeverage": 50, "notionalCap": 500000, "notionalFloor": 100000, "maintMarginRatio": 0.01, "cum": 365.0},
]  # fmt: skip


def _s(x: float) -> str:
    return f"{x:.8f}"


class FakeBinancePm(FakeBinanceUsdm):
    """Fake papi server.  Fill the account with :meth:`wallet`, :meth:`position`, :attr:`account`,
    :attr:`index_prices` and :attr:`collateral_v2` (or :attr:`collateral_v1`), then start it."""

    def __init__(self, symbols: Sequence[Symbol] = (Symbol("BTCUSDT", "BTC"), Symbol("ETHUSDT", "ETH"))) -> None:
        super().__init__(symbols)
        self.api_key, self.secret = API_KEY, SECRET
        self.balances: list[dict[str, Any]] = []
        self.positions: list[dict[str, Any]] = []
        self.account: dict[str, Any] = {}
        self.index_prices: dict[str, float] = {}
        self.collateral_v2: list[dict[str, Any]] | None = None
        self.collateral_v1: list[dict[str, Any]] | None = None
        self.brackets = {"ETHUSDT": ETHUSDT_BRACKETS}
        self.delays: dict[str, float] = {}
        self.released = threading.Event()  # set on stop: hanging answers end
        self.route("GET", "/fapi/v1/premiumIndex", self._premium)
        for path, handler in {
            "/papi/v1/balance": lambda req: Reply.json(self.balances),
            "/papi/v1/account": lambda req: Reply.json(self.account),
            "/papi/v1/um/positionRisk": lambda req: Reply.json(self.positions),
            "/papi/v1/um/leverageBracket": self._um_brackets,
            "/sapi/v1/portfolio/asset-index-price": self._index_prices,
            "/sapi/v2/portfolio/collateralRate": lambda req: self._rows(self.collateral_v2),
            "/sapi/v1/portfolio/collateralRate": lambda req: self._rows(self.collateral_v1),
        }.items():
            self.route("GET", path, self._signed(path, handler))

    # -- the account ----------------------------------------------------------------------------

    def wallet(
        self, asset: str, total: float, *, borrowed: float = 0.0, interest: float = 0.0, um_upnl: float = 0.0
    ) -> None:
        """One row of ``/papi/v1/balance``: ``total`` coins held (all in cross margin), a loan."""
        self.balances.append(
            {
                "asset": asset,
                "totalWalletBalance": _s(total),
                "crossMarginAsset": _s(total),
                "crossMarginBorrowed": _s(borrowed),
                "crossMarginFree": _s(total),
                "crossMarginInterest": _s(interest),
                "crossMarginLocked": _s(0.0),
                "umWalletBalance": _s(0.0),
                "umUnrealizedPNL": _s(um_upnl),
                "cmWalletBalance": _s(0.0),
                "cmUnrealizedPNL": _s(0.0),
                "updateTime": int(time.time() * 1000),
                "negativeBalance": "0",
            }
        )

    def position(self, symbol: str, amount: float, entry: float, mark: float) -> None:
        """One row of ``/papi/v1/um/positionRisk`` (one-way mode; ``amount`` signed)."""
        self.positions.append(
            {
                "symbol": symbol,
                "positionAmt": f"{amount:.3f}",
                "entryPrice": f"{entry:.1f}",
                "markPrice": _s(mark),
                "unRealizedProfit": _s(amount * (mark - entry)),
                "liquidationPrice": "0",
                "leverage": "20",
                "positionSide": "BOTH",
                "updateTime": int(time.time() * 1000),
                "maxNotionalValue": "2000000",
                "notional": _s(amount * mark),
                "breakEvenPrice": f"{entry:.1f}",
            }
        )

    def report(self, uni_mmr: float, equity: float, maint_margin: float, status: str = "NORMAL") -> None:
        """``/papi/v1/account`` with the venue's own figures."""
        self.account = {
            "uniMMR": _s(uni_mmr),
            "accountEquity": _s(equity),
            "actualEquity": _s(equity),
            "accountInitialMargin": _s(maint_margin * 2),
            "accountMaintMargin": _s(maint_margin),
            "accountStatus": status,
            "virtualMaxWithdrawAmount": _s(max(equity - maint_margin * 2, 0.0)),
            "totalAvailableBalance": "",
            "totalMarginOpenLoss": "",
            "updateTime": int(time.time() * 1000),
        }

    def stop(self) -> None:
        self.released.set()
        super().stop()

    # -- handlers -------------------------------------------------------------------------------

    def _signed(self, path: str, handler: Any) -> Any:
        def serve(req: Recorded) -> Reply:
            delay = self.delays.get(path, 0.0)
            if delay:
                self.released.wait(delay)
            if req.header("X-MBX-APIKEY") != self.api_key or not self._signature_ok(req):
                return self.error(401, -2015, "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1")
            return handler(req)  # type: ignore[no-any-return]

        return serve

    def _signature_ok(self, req: Recorded) -> bool:
        # ccxt signs the urlencoded query without the signature, which is appended last.
        signature = req.query.get("signature", "")
        payload = urlencode([(k, v) for k, v in req.query.items() if k != "signature"])
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def _rows(self, rows: list[dict[str, Any]] | None) -> Reply:
        if rows is None:  # Binance's error list: -21001 "Request ID is not a Portfolio Margin Account."
            return self.error(400, -21001, "Request ID is not a Portfolio Margin Account.")
        return Reply.json(rows)

    def _um_brackets(self, req: Recorded) -> Reply:
        wanted = req.query.get("symbol")
        out = [
            {"symbol": s, "notionalCoef": "1.0", "brackets": b}
            for s, b in self.brackets.items()
            if wanted is None or s == wanted
        ]
        return Reply.json(out)

    def _index_prices(self, req: Recorded) -> Reply:
        wanted = req.query.get("asset")
        now = int(time.time() * 1000)
        return Reply.json(
            [
                {"asset": a, "assetIndexPrice": _s(p), "time": now}
                for a, p in self.index_prices.items()
                if wanted is None or a == wanted
            ]
        )

    def _premium(self, req: Recorded) -> Reply:
        now = int(time.time() * 1000)
        rows = [
            {
                "symbol": p["symbol"],
                "markPrice": p["markPrice"],
                "indexPrice": p["markPrice"],
                "estimatedSettlePrice": p["markPrice"],
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": now + 3_600_000,
                "time": now,
            }
            for p in self.positions
        ]
        wanted = req.query.get("symbol")
        if wanted is not None:
            rows = [r for r in rows if r["symbol"] == wanted]
            return Reply.json(rows[0]) if rows else self.error(400, -1121, "Invalid symbol.")
        return Reply.json(rows)
