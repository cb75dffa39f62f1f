"""The guardian's orders against what a venue's market and answers say: the market's largest
order, the position's margin mode, an order status the adapter does not know."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from guardian_helpers import guardian, run_crash

from levguard.core.tiers import TierTable
from levguard.live.store import Store
from levguard.venues.base import OrderRequest, OrderState
from levguard.venues.paper import PaperVenue, scripted_crash


def _venue(kind: type[PaperVenue], qty: float = 2.0, wallet: float = 12_000.0, **kw: Any) -> Any:
    """A BTCUSDT long of ``qty`` from 60,000 through a 25 % crash (60 one-minute steps)."""
    return kind(
        "binance-usdm",
        feeds={"BTCUSDT": scripted_crash(60_000.0, 0.25, 60, flat=5, tail=20)},
        wallet_balance=wallet,
        positions=[{"symbol": "BTCUSDT", "qty": qty, "entry_price": 60_000.0}],
        funding_rate=0.0,
        tiers={"BTCUSDT": TierTable.from_max_leverage([(0, 100)])},
        **kw,
    )


def _store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    s.upsert_account("paper", "binance-usdm", live_enabled=True)
    return s


class _MarketMaximum(PaperVenue):
    """The paper venue with a ccxt market's limits (the adapter's round_qty and max_order_qty on a
    market set offline): market orders of 0.05 BTC at most (Binance MARKET_LOT_SIZE maxQty)."""

    ccxt: Any = None

    async def round_qty(self, symbol: str, qty: float) -> Any:
        return await self.ccxt.round_qty("BTC/USDT:USDT", qty)

    async def max_order_qty(self, symbol: str) -> float | None:
        most: float | None = await self.ccxt.max_order_qty("BTC/USDT:USDT")
        return most


def _ccxt_market() -> Any:
    from levguard.venues.ccxt_adapter import CcxtVenue

    cv = CcxtVenue("binanceusdm", api_key="x", secret="y")
    cv._exchange.set_markets(
        [
            {
                "id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
                "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "swap": True,
                "spot": False, "future": False, "option": False, "contract": True, "linear": True,
                "inverse": False, "contractSize": 1.0, "active": True, "precision": {"amount": 0.001, "price": 0.1},
                "limits": {"amount": {"min": 0.001, "max": 1000.0}, "market": {"min": 0.001, "max": 0.05},
                           "cost": {"min": 100.0}, "price": {}, "leverage": {}},
            }
        ]
    )  # fmt: skip
    cv._markets_loaded = True
    return cv


def test_a_step_above_the_markets_largest_order_is_capped_and_sent(tmp_path: Path) -> None:
    """Steps of 0.1-0.5 BTC on a market taking 0.05 BTC at most per market order were refused by
    round_qty ("above the maximum") and skipped every cycle as order_size: no order was ever sent
    while the position fell toward liquidation.  Capped to 0.05, each cycle sends one."""
    v = _venue(_MarketMaximum)
    v.ccxt = _ccxt_market()
    s = _store(tmp_path)
    run_crash(v, guardian(v, s))
    orders = s.orders(account="paper")
    assert len(orders) >= 3
    assert all(abs(o["qty"] - 0.05) < 1e-12 for o in orders)
    assert v.fills
    skipped = [r for r in s.audit_log(account="paper", limit=10_000) if r["event"] == "deleverage_skipped"]
    assert not [r for r in skipped if (r["decision"] or {}).get("skipped") == "order_size"]
    assert any("capped to the venue's largest order 0.05" in str(r["reasons"]) for r in s.audit_log(account="paper"))


class _Recording(PaperVenue):
    """The paper venue keeping the order requests it is sent."""

    requests: list[OrderRequest]

    async def create_order(self, request: OrderRequest) -> OrderState:
        self.requests.append(request)
        return await super().create_order(request)


def test_an_order_carries_the_margin_mode_of_the_position_it_reduces(tmp_path: Path) -> None:
    """OKX selects the position by the order's tdMode: the guardian's request now says the
    position's margin mode (the adapter sends it where the venue needs it)."""
    v = _venue(_Recording)
    v.requests = []
    s = _store(tmp_path)
    run_crash(v, guardian(v, s))
    assert v.requests
    assert {r.margin_mode for r in v.requests} == {"cross"}


class _UnknownStatus(PaperVenue):
    """The paper venue answering every order with a status the adapter does not know (Gate's
    ``finish_as`` values ccxt passed on raw; any status a venue adds): open, ``venue_status`` set."""

    async def create_order(self, request: OrderRequest) -> OrderState:
        state = await super().create_order(request)
        return dataclasses.replace(state, status="open", venue_status="reduce_only")

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        state = await super().fetch_order(symbol, client_order_id)
        return None if state is None else dataclasses.replace(state, status="open", venue_status="reduce_only")


def test_an_order_with_an_unknown_status_is_alerted_and_not_waited_for_forever(tmp_path: Path) -> None:
    """An order whose status levguard did not know was read as open: it stayed in flight for good
    and no later step was ever sent on the symbol (one order in 9 cycles at ACT).  Now it is
    alerted (warning), asked for again for ten times the expiry limit ((5 + 10) s x 10 = 150 s),
    then taken as final (expired, its fill booked, critical alert) and the next step goes out."""
    v = _venue(_UnknownStatus, order_expiry_s=5.0)
    s = _store(tmp_path)
    run_crash(v, guardian(v, s))
    orders = s.orders(account="paper")
    assert len(orders) >= 2
    assert orders[0]["status"] == "expired"
    assert orders[0]["filled"] > 0
    alerts = [a for a in s.alerts(account="paper", limit=10_000) if a["kind"] == "order_status"]
    levels = {a["level"] for a in alerts}
    assert levels == {"warning", "critical"}
    assert any("'reduce_only', unknown to levguard" in a["message"] for a in alerts)
    # Its fill was booked once, as the guardian's own: no position change alerted.
    assert not [a for a in s.alerts(account="paper", limit=10_000) if a["kind"] == "venue_change"]
