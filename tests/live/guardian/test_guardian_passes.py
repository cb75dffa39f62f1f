"""Accounts on different venues never wait on one another (levguard.live.passes: lanes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakes.frozen_venue import FrozenVenue
from levguard.live.alerts import Alerter
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.passes import lanes
from levguard.live.store import Store
from levguard.venues.base import VenuePosition

NOW = 1_700_000_000 * 10**9


class Hanging(FrozenVenue):
    """A venue whose position reads never answer (a request that hangs until cancelled)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.calls = 0

    async def fetch_positions(self) -> list[VenuePosition]:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_a_hanging_venue_does_not_hold_up_the_accounts_of_other_venues(tmp_path: Path) -> None:
    now = [NOW]
    long = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 57_600.0}
    slow = Hanging("binance-usdm", [dict(long)], 50_000.0, lambda: now[0])
    act = FrozenVenue("binance-usdm", [dict(long)], 3_000.0, lambda: now[0])  # about 4 % from liquidation
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    for name in ("a-slow", "b-act"):
        s.upsert_account(name, "binance-usdm", live_enabled=True)
    setups = [
        AccountSetup("a-slow", slow, live=True, venue_bars=False, vol=None, cooldown_s=0.0),
        AccountSetup("b-act", act, live=True, venue_bars=False, vol=None, cooldown_s=0.0),
    ]
    assert [[a.name for a in lane] for lane in lanes(setups)] == [["a-slow"], ["b-act"]]
    g = Guardian(setups, s, live=True, alerter=Alerter([]), clock=lambda: now[0], cycle_budget_s=0.05)

    async def go() -> list[list[dict[str, object]]]:
        out = []
        for _ in range(4):
            out.append(await g.cycle())
            now[0] += 20 * 10**9  # beyond half the 30 s lease: every pass renews it
        g.flush()
        return out

    passes = asyncio.run(go())
    assert [p[0]["status"] for p in passes] == ["busy"] * 4
    assert slow.calls == 1  # the hanging cycle is not started again while it runs
    assert [p[1]["status"] for p in passes] == ["ok"] * 4
    assert [p[1]["positions"][0]["state"] for p in passes] == ["ACT"] * 4  # type: ignore[index]
    assert len(act.orders) == 4
    held = {r["account"]: r for r in s.leases()}
    assert held["a-slow"]["owner"] == g.owner
    assert held["a-slow"]["expires_ns"] > now[0] - 20 * 10**9  # renewed by the last pass
