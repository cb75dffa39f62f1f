"""The deleverage planner never sends (nor books) a step below the venue's smallest order."""

from __future__ import annotations

from pathlib import Path

from guardian_helpers import guardian, run_crash

from levguard.core.tiers import TierTable
from levguard.live.store import Store
from levguard.venues.paper import PaperVenue, scripted_crash


def _venue(rules: str) -> PaperVenue:
    return PaperVenue(
        rules,
        feeds={"BTCUSDT": scripted_crash(60_000.0, 0.25, 60, flat=5, tail=20)},
        wallet_balance=12_000.0,
        positions=[{"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0}],
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
    v = PaperVenue(
        "bybit-linear",
        feeds={"BTCUSDT": scripted_crash(60_000.0, 0.25, 60, flat=5, tail=20)},
        wallet_balance=12.0,
        positions=[{"symbol": "BTCUSDT", "qty": 0.004, "entry_price": 60_000.0}],
        funding_rate=0.0,
        tiers={"BTCUSDT": TierTable.from_max_leverage([(0, 100)])},
    )
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
