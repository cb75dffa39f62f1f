"""A guardian pass (levguard.live.passes): accounts on different venues never wait on one another;
routine audit rows when something changed (or once a minute); snapshots kept for a retention."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakes.frozen_venue import FrozenVenue
from levguard.live.alerts import Alerter
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.passes import drain, lanes, settle
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


def _pair(tmp_path: Path, slow_venue: type[FrozenVenue]) -> tuple[Guardian, FrozenVenue, FrozenVenue, Store, list[int]]:
    """Account a-slow on ``slow_venue`` and b-ok at ACT (about 4 % from liquidation) on its own
    venue, both live; a pass waits 50 ms for its lanes."""
    now = [NOW]
    long = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 57_600.0}
    slow = slow_venue("binance-usdm", [dict(long)], 50_000.0, lambda: now[0])
    ok = FrozenVenue("binance-usdm", [dict(long)], 3_000.0, lambda: now[0])
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    setups = []
    for name, venue in (("a-slow", slow), ("b-ok", ok)):
        s.upsert_account(name, "binance-usdm", live_enabled=True)
        setups.append(AccountSetup(name, venue, live=True, venue_bars=False, vol=None, cooldown_s=0.0))
    g = Guardian(setups, s, live=True, alerter=Alerter([]), clock=lambda: now[0], cycle_budget_s=0.05)
    return g, slow, ok, s, now


def test_a_hanging_venue_does_not_hold_up_the_accounts_of_other_venues(tmp_path: Path) -> None:
    g, slow, act, s, now = _pair(tmp_path, Hanging)
    assert [[a.name for a in lane] for lane in lanes(g.accounts)] == [["a-slow"], ["b-ok"]]

    expires = []

    async def go() -> list[list[dict[str, object]]]:
        out = []
        for _ in range(5):  # at 0, 20, 40, 60 and 80 s
            out.append(await g.cycle())
            expires.append(({r["account"]: r for r in s.leases()}["a-slow"]["expires_ns"] - NOW) // 10**9)
            now[0] += 20 * 10**9
        await drain(g)
        return out

    passes = asyncio.run(go())
    assert [p[0]["status"] for p in passes] == ["busy"] * 5
    assert [p[1]["status"] for p in passes] == ["ok"] * 5
    assert [p[1]["positions"][0]["state"] for p in passes] == ["ACT"] * 5  # type: ignore[index]
    assert len(act.orders) == 5
    # The hanging cycle is not started again while it runs; past half the lease a critical alert
    # says the account is not protected, and its lease is left to expire (30 s after the first
    # pass) for another guardian to take over; past two leases (60 s) the cycle is cancelled and
    # the next pass starts another one.
    assert slow.calls == 2
    kinds = [a["message"] for a in s.alerts(account="a-slow", limit=100) if a["kind"] == "busy"]
    assert any("not protected" in m for m in kinds)
    assert any("cancelled after" in m for m in kinds)
    assert expires == [30, 30, 30, 30, 110]  # taken at 0 s, left to expire, taken back at 80 s


def test_a_slow_lane_reports_its_last_cycle_marked_busy(tmp_path: Path) -> None:
    """A lane a little slower than the budget: its cycle ends in the background; the next pass
    shows that report (its level keeps run()'s fast interval), marked busy while one runs."""
    now = [NOW]
    long = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 57_600.0}

    class Slow(FrozenVenue):
        async def fetch_positions(self) -> list[VenuePosition]:
            await asyncio.sleep(0.1)
            return await super().fetch_positions()

    v = Slow("binance-usdm", [long], 3_000.0, lambda: now[0])
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("a", "binance-usdm", live_enabled=True)
    setup = AccountSetup("a", v, live=True, venue_bars=False, vol=None, cooldown_s=0.0)
    g = Guardian([setup], s, live=True, alerter=Alerter([]), clock=lambda: now[0], cycle_budget_s=0.02)

    async def go() -> list[dict[str, object]]:
        first = (await g.cycle())[0]
        await asyncio.sleep(0.3)  # the cycle ends meanwhile
        now[0] += 10**9
        second = (await g.cycle())[0]
        await drain(g)
        return [first, second]

    first, second = asyncio.run(go())
    assert first["status"] == "busy"
    assert (second["status"], second["level"], second["busy"]) == ("ok", 3, True)
    assert len(s.snapshots("a")) == 1  # the first cycle, stored at the drain; the second, cancelled, left none


def test_reconciliation_at_start_does_not_wait_on_a_hanging_venue(tmp_path: Path) -> None:
    class HangsOnOrders(FrozenVenue):
        async def fetch_order(self, symbol: str, client_order_id: str) -> None:
            await asyncio.Event().wait()

    g, _, ok, s, now = _pair(tmp_path, HangsOnOrders)
    assert s.record_intent("a-slow", "cid-1", "BTCUSDT", "sell", 0.1, now[0], "an earlier guardian's order")
    assert s.mark_sent("cid-1", now[0])  # sent, its answer lost: reconciliation asks the venue

    async def go() -> list[dict[str, object]]:
        assert await g.reconcile() == []  # a-slow's order stays in flight, nobody waits on it
        reports = await g.cycle()
        await drain(g)
        return reports

    reports = asyncio.run(go())
    assert reports[1]["status"] == "ok"
    assert len(ok.orders) == 1


def _steady(tmp_path: Path, **kw: float) -> tuple[Guardian, FrozenVenue, Store, list[int]]:
    now = [NOW]
    pos = {"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60_000.0, "mark_price": 60_000.0}
    v = FrozenVenue("binance-usdm", [pos], 10_000.0, lambda: now[0])  # far from liquidation: OK
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("a", "binance-usdm", live_enabled=True)
    setup = AccountSetup("a", v, live=True, venue_bars=False, vol=None, cooldown_s=0.0)
    return Guardian([setup], s, live=True, alerter=Alerter([]), clock=lambda: now[0], **kw), v, s, now


def _cycles(g: Guardian, now: list[int], n: int, step_s: float) -> None:
    async def go() -> None:
        for _ in range(n):
            await g.cycle()
            now[0] += int(step_s * 1e9)
        g.flush()

    asyncio.run(go())


def test_a_routine_cycle_is_audited_when_it_changes_or_once_a_minute(tmp_path: Path) -> None:
    g, v, s, now = _steady(tmp_path)
    _cycles(g, now, 30, 5.0)  # 150 s without a change: at 0, 60 and 120 s
    rows = s.audit_log(account="a", event="cycle", limit=100)
    assert [(r["ts_ns"] - NOW) // 10**9 for r in reversed(rows)] == [0, 60, 120]
    assert len(s.snapshots("a")) == 30  # the time series is whole
    v.positions[0]["qty"] = 0.2  # the position changed: audited at once
    _cycles(g, now, 1, 5.0)
    assert len(s.audit_log(account="a", event="cycle", limit=100)) == 4
    (tmp_path / "b").mkdir()
    every, _, s2, now2 = _steady(tmp_path / "b", cycle_audit_every_s=0.0)
    _cycles(every, now2, 5, 5.0)
    assert len(s2.audit_log(account="a", event="cycle", limit=100)) == 5


def test_snapshots_older_than_the_retention_are_deleted_once_an_hour(tmp_path: Path) -> None:
    g, _, s, now = _steady(tmp_path, snapshot_retention_days=1.0)
    _cycles(g, now, 3, 1800.0)  # 0, 30 and 60 min
    assert len(s.snapshots("a")) == 3
    now[0] += 86_400 * 10**9  # a day later: the first three are past the retention
    _cycles(g, now, 1, 1.0)
    assert [(r["ts_ns"] - NOW) // 10**9 for r in s.snapshots("a")] == [86_400 + 5_400]
    assert len(s.audit_log(account="a", event="cycle", limit=100)) == 4  # the audit log keeps all


def test_retention_prunes_only_a_live_guardians_accounts(tmp_path: Path) -> None:
    g, _, s, now = _steady(tmp_path, snapshot_retention_days=1.0)
    s.upsert_account("other", "binance-usdm")
    s.add_snapshot("other", NOW - 2 * 86_400 * 10**9, "OK", {})  # another guardian's history
    s.add_snapshot("a", NOW - 2 * 86_400 * 10**9, "OK", {})
    dry, _, _, _ = _steady(tmp_path)  # the same store, in dry run
    dry.live = False
    _cycles(dry, now, 1, 1.0)
    assert len(s.snapshots("a")) == 2  # a dry run writes no shared state: nothing pruned
    _cycles(g, now, 1, 1.0)
    assert [(r["ts_ns"] - NOW) // 10**9 for r in s.snapshots("a")] == [0, 1]
    assert len(s.snapshots("other")) == 1


def test_settle_marks_the_accounts_of_lanes_still_running(tmp_path: Path) -> None:
    """A venue that answers once, then hangs: settle gives the account's last report marked busy
    (it gave the last report as if fresh), and the other account's own."""

    g, later, _, _, now = _pair(tmp_path, FrozenVenue)

    async def go() -> list[dict[str, object]]:
        assert (await g.cycle())[0]["status"] == "ok"
        later.hang = True
        now[0] += 10**9
        await g.cycle()
        out = await settle(g, 0.01)
        await drain(g)
        return out

    reports = asyncio.run(go())
    assert (reports[0]["status"], reports[0]["busy"]) == ("ok", True)
    assert reports[1]["status"] == "ok"
    assert not reports[1].get("busy")
