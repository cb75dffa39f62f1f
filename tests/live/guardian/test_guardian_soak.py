"""A long run through measured crashes, and a guardian taking over from a dead one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from guardian_helpers import guardian, run_crash, store

from levguard.data.crashes import crash_by_name
from levguard.venues.paper import PaperVenue, crash_feed


@pytest.mark.parametrize("name", ["black-thursday", "oct-2025-liquidations"])
def test_soak_through_a_measured_crash_without_liquidation(tmp_path: Path, name: str) -> None:
    crash = crash_by_name(name)
    ticks_per_hour = 12  # 5-minute ticks
    feed = crash_feed(crash, 60_000.0, ticks_per_hour=ticks_per_hour, flat=24)

    def make() -> PaperVenue:
        return PaperVenue(
            "binance-usdm",
            feeds={"BTCUSDT": feed},
            wallet_balance=12_000.0,
            positions=[{"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0}],
            tick_ns=300_000_000_000,
        )

    unguarded = make()
    run_crash(unguarded, None)
    assert unguarded.liquidations, f"{name}: the 10x long should be liquidated without the guardian"
    guarded = make()
    s = store(tmp_path)
    reports = run_crash(guarded, guardian(guarded, s))
    assert len(reports) > 300  # a long run
    assert guarded.liquidations == []
    assert s.orders(account="paper")
    assert all(o["status"] == "closed" for o in s.orders(account="paper"))


def test_a_dead_guardians_accounts_are_taken_over(tmp_path: Path) -> None:
    from guardian_helpers import venue

    v = venue(drop=0.01, ticks=200)
    s = store(tmp_path)
    a = guardian(v, s)
    b = guardian(v, s)
    a.lease_ttl_s = b.lease_ttl_s = 30.0
    b.owner = "standby"
    assert asyncio.run(a.cycle())[0]["status"] == "ok"
    assert asyncio.run(b.cycle())[0]["status"] == "lease_held_elsewhere"
    # a dies (stops cycling); its 30 s lease expires as simulated time passes (60 s ticks).
    v.step_sync()
    assert asyncio.run(b.cycle())[0]["status"] == "ok"
    assert s.lease_owner("paper", v.now_ns) == "standby"
    # a comes back: the account is b's now.
    assert asyncio.run(a.cycle())[0]["status"] == "lease_held_elsewhere"
    a.flush()
    b.flush()
