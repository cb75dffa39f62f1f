"""The deleverage planner never sends (nor books) a step below the venue's smallest order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from guardian_helpers import guardian, run_crash

from levguard.core.tiers import TierTable
from levguard.live.store import Store
from levguard.venues.paper import PaperVenue, scripted_crash


def _venue(
    rules: str, qty: float = 2.0, wallet: float = 12_000.0, drop: float = 0.25, kind: type[PaperVenue] = PaperVenue
) -> PaperVenue:
    """A BTCUSDT position of ``qty`` from 60,000 through a crash of ``drop`` (60 one-minute steps)."""
    steps, flat, tail = (60, 5, 20) if drop >= 0.01 else (10, 5, 5)
    return kind(
        rules,
        feeds={"BTCUSDT": scripted_crash(60_000.0, drop, steps, flat=flat, tail=tail)},
        wallet_balance=wallet,
        positions=[{"symbol": "BTCUSDT", "qty": qty, "entry_price": 60_000.0}],
        funding_rate=0.0,
        tiers={"BTCUSDT": TierTable.from_max_leverage([(0, 100)])},
    )


def _store(tmp_path: Path, rules: str) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    s.upsert_account("paper", rules, live_enabled=True)
    return s


def test_a_step_below_the_minimum_quantity_is_skipped_not_sent(tmp_path: Path) -> None:
    """Bybit's BTCUSDT takes 0.001 BTC at least: steps capped at 30 USD (0.0005-0.0007 BTC at
    45,000-60,000) were recorded and sent, which the venue refuses."""
    v = _venue("bybit-linear")
    s = _store(tmp_path, "bybit-linear")
    run_crash(v, guardian(v, s, max_order_notional=30.0))
    assert v.fills == []
    assert s.orders(account="paper") == []
    skips = [
        row
        for row in s.audit_log(account="paper", limit=10_000)
        if row["event"] == "deleverage_skipped" and "below the venue's minimum order 0.001" in str(row["reasons"])
    ]
    assert skips
    kinds = [a for a in s.alerts(account="paper", limit=1000) if "not deleveraged" in a["message"]]
    assert kinds


def test_a_reduce_only_step_below_the_minimum_notional_is_sent(tmp_path: Path) -> None:
    """Binance's minimum notional (100 USDT on BTCUSDT) does not bound a reduce-only order (-4164
    "unless you choose reduce only"): the 30 USD steps go out."""
    v = _venue("binance-usdm")
    s = _store(tmp_path, "binance-usdm")
    run_crash(v, guardian(v, s, max_order_notional=30.0))
    assert v.fills
    assert all(o["qty"] <= 30.0 / 45_000.0 + 1e-12 for o in s.orders(account="paper"))


def test_a_step_below_the_minimum_is_raised_to_it_when_the_position_and_the_cap_allow(tmp_path: Path) -> None:
    """A step of 0.0003 BTC (a tenth of the excess of 0.004 BTC at 20x over 3x) on Bybit, whose
    BTCUSDT takes 0.001 at least, within max_order_notional: reducing by 0.001 protects, skipping
    left the position at its acting level (it was skipped)."""
    v = _venue("bybit-linear", qty=0.004, wallet=12.0, drop=0.25)
    s = _store(tmp_path, "bybit-linear")
    run_crash(v, guardian(v, s, step_fraction=0.1))
    orders = s.orders(account="paper")
    assert orders
    assert all(abs(o["qty"] - 0.001) < 1e-12 for o in orders)
    reasons = [
        str(row["reasons"])
        for row in s.audit_log(account="paper", limit=10_000)
        if "raised to the venue's minimum order 0.001" in str(row["reasons"])
    ]
    assert reasons


class _MarketLimits(PaperVenue):
    """The paper venue with a ccxt market's own limits (the adapter's round_qty and min_order_qty
    on a market set offline): 0.001 BTC at least, in steps of 0.001."""

    ccxt: Any = None

    async def round_qty(self, symbol: str, qty: float) -> Any:
        return await self.ccxt.round_qty("BTC/USDT:USDT", qty)

    async def min_order_qty(self, symbol: str) -> float:
        return float(await self.ccxt.min_order_qty("BTC/USDT:USDT"))


def _ccxt_market(exchange_id: str, rules: str) -> Any:
    from levguard.venues.ccxt_adapter import CcxtVenue

    cv = CcxtVenue(exchange_id, rule_set=rules, api_key="x", secret="y")
    cv._exchange.set_markets(
        [
            {
                "id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
                "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "swap": True,
                "spot": False, "future": False, "option": False, "contract": True, "linear": True,
                "inverse": False, "contractSize": 1.0, "active": True, "precision": {"amount": 0.001, "price": 0.1},
                "limits": {"amount": {"min": 0.001, "max": 1000.0}, "market": {"min": 0.001, "max": 120.0},
                           "cost": {"min": 100.0}, "price": {}, "leverage": {}},
            }
        ]
    )  # fmt: skip
    cv._markets_loaded = True
    return cv


def test_the_markets_own_minimum_raises_a_step_where_the_rule_set_has_none(tmp_path: Path) -> None:
    """Binance USDⓈ-M's rule set gives no minimum quantity; its BTCUSDT market takes 0.001 BTC
    at least: steps of 0.0003 BTC were refused by round_qty and skipped every cycle until the
    venue liquidated the position (a review)."""
    v = _venue("binance-usdm", qty=0.004, wallet=12.0, drop=0.25, kind=_MarketLimits)
    assert isinstance(v, _MarketLimits)
    v.ccxt = _ccxt_market("binanceusdm", "binance-usdm")
    s = _store(tmp_path, "binance-usdm")
    run_crash(v, guardian(v, s, step_fraction=0.1))
    orders = s.orders(account="paper")
    assert orders
    assert all(abs(o["qty"] - 0.001) < 1e-12 for o in orders)


def test_a_position_below_the_minimum_is_a_critical_alert(tmp_path: Path) -> None:
    """0.0005 BTC on Bybit (0.001 at least): no step can reduce it, so the skip is critical."""
    v = _venue("bybit-linear", qty=0.0005, wallet=2.0, drop=0.25)
    s = _store(tmp_path, "bybit-linear")
    run_crash(v, guardian(v, s))
    assert s.orders(account="paper") == []
    alerts = [a for a in s.alerts(account="paper", limit=1000) if "not deleveraged" in a["message"]]
    assert alerts
    assert {a["level"] for a in alerts} == {"critical"}
    assert "and the position is smaller" in alerts[0]["message"]


@pytest.mark.parametrize("rebalance", [None, {"band": 0.3}])
def test_the_guardian_aims_at_the_policys_target_not_a_row_kept_for_the_minimum(
    tmp_path: Path, rebalance: dict[str, float] | None
) -> None:
    """0.004 BTC at 3.64x on Bybit, policy 3x: the trade to 3x (0.0007 BTC) is below the venue's
    0.001, so `levguard size` keeps the row at 3.64x; the guardian took that as its target, read
    itself "at target" and sold half the position (0.002 BTC, to 1.8x) instead of 0.001 (a
    review). A rebalance band kept the same row before."""
    from levguard.cli.guard import _sizer
    from levguard.live.states import Level

    v = _venue("bybit-linear", qty=0.004, wallet=66.0, drop=0.001)
    s = _store(tmp_path, "bybit-linear")
    spec: dict[str, Any] = {"policy": {"type": "fixed", "leverage": 3.0}}
    if rebalance:
        spec["rebalance"] = rebalance
    g = guardian(v, s, step_fraction=0.5, act_level=Level.OK, sizer=_sizer(spec, 0.8), target_leverage=3.0)
    run_crash(v, g, steps=1)
    orders = s.orders(account="paper")
    assert [round(o["qty"], 12) for o in orders] == [0.001]


def test_a_sized_row_keeps_the_policys_target_beside_what_is_traded() -> None:
    from levguard.sizing import size_account

    spec = {
        "venue": "bybit-linear",
        "wallet_balance": 66.0,
        "positions": [
            {"symbol": "BTCUSDT", "qty": 0.004, "entry_price": 60_000.0, "mark_price": 60_000.0, "mmr": 0.005}
        ],
    }
    policy = {"policy": {"type": "fixed", "leverage": 3.0}}
    rows = size_account(spec, policy, vol=0.8).to_dict()["positions"]
    assert isinstance(rows, list)
    row = rows[0]
    assert row["trade_qty"] == 0.0
    assert row["target_leverage"] == pytest.approx(240.0 / 66.0)
    assert row["policy_target_leverage"] == pytest.approx(3.0)
