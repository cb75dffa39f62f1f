"""The guardian against the paper venue: it deleverages before the venue would liquidate, safely."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from guardian_helpers import guardian, run_crash, store, venue

from levguard.live.guardian import client_order_id


def test_without_the_guardian_the_crash_liquidates() -> None:
    v = venue()
    run_crash(v, None)
    assert len(v.liquidations) == 1


def test_the_guardian_deleverages_before_liquidation(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    g = guardian(v, s)
    reports = run_crash(v, g)
    assert v.liquidations == []  # survived the same crash
    assert len(v.fills) >= 1
    orders = s.orders(account="paper")
    assert orders
    assert all(o["status"] == "closed" for o in orders)
    assert all(o["side"] == "sell" for o in orders)
    states = [p["state"] for r in reports for p in r.get("positions", [])]
    assert "ACT" in states
    kinds = {a["kind"] for a in s.alerts(account="paper", limit=1000)}
    assert {"state", "action"} <= kinds
    # Every order was recorded (write-ahead) with its reasons, and audited.
    events = {row["event"] for row in s.audit_log(account="paper", limit=10_000)}
    assert {"cycle", "deleverage"} <= events
    assert s.snapshots("paper")


def test_dry_run_is_the_default_and_sends_nothing(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    g = guardian(v, s, live=False)
    run_crash(v, g)
    assert v.fills == []
    assert len(v.liquidations) == 1  # dry run: the crash goes through
    assert s.orders(account="paper") == []
    assert any(row["event"] == "deleverage_dry_run" for row in s.audit_log(account="paper", limit=10_000))


def test_acting_needs_the_account_opt_in_too(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path, live=False)  # the store's live flag off
    run_crash(v, guardian(v, s, live=True, account_live=True))
    assert v.fills == []


def test_kill_switch_stops_orders(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    s.set_kill_switch(None, True)
    run_crash(v, guardian(v, s))
    assert v.fills == []
    assert any(
        row["event"] == "deleverage_skipped" and "kill switch on" in row["reasons"]
        for row in s.audit_log(account="paper", limit=10_000)
    )


def test_stale_marks_alert_and_never_trade(tmp_path: Path) -> None:
    v = venue()
    v.faults.freeze_marks()
    s = store(tmp_path)
    reports = run_crash(v, guardian(v, s, max_age_s=300.0))
    assert v.fills == []
    assert any(r["status"] == "stale" for r in reports)
    assert any(a["kind"] == "stale" for a in s.alerts(account="paper", limit=1000))


def test_transient_failures_are_retried_then_stale(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    g = guardian(v, s, retries=2)
    v.faults.fail("fetch_positions", times=2, error="5xx")
    first = asyncio.run(g.cycle())[0]
    assert first["status"] == "ok"  # two failures, two retries: served
    v.faults.fail("fetch_balance", times=None, error="timeout")
    second = asyncio.run(g.cycle())[0]
    assert second["status"] == "stale"
    v.faults.clear()
    assert asyncio.run(g.cycle())[0]["status"] == "ok"
    kinds = [a["kind"] for a in s.alerts(account="paper", limit=1000)]
    assert "stale" in kinds
    assert "fresh" in kinds


def test_auth_failure_stops_acting_on_the_account(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    g = guardian(v, s)
    v.faults.fail("fetch_positions", times=1, error="auth")
    assert asyncio.run(g.cycle())[0]["status"] == "disabled"
    run_crash(v, g)
    assert v.fills == []
    assert any(a["kind"] == "auth" and a["level"] == "critical" for a in s.alerts(account="paper", limit=1000))


def test_a_crash_after_the_venue_accepted_the_order_never_duplicates(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    v.faults.crash_after_accept(times=1)
    # No retry: the venue's answer is lost, and the process "dies" right after.
    g = guardian(v, s, retries=0)

    async def until_first_order() -> None:
        while not v.orders and not v.exhausted:
            await g.cycle()
            await v.step()

    asyncio.run(until_first_order())
    assert len(v.orders) == 1  # the venue has it
    (row,) = s.orders(account="paper")
    assert row["status"] in ("intent", "sent")  # the guardian never heard back
    # A new process on the same database reconciles by client order id.
    g2 = guardian(v, s)
    resolved = asyncio.run(g2.reconcile())
    assert [_key(r) for r in resolved] == [("paper", row["client_order_id"], "closed")]
    assert s.unresolved_orders("paper") == []
    assert len(v.orders) == 1
    # Carrying on, every order the venue ever sees was recorded first (write-ahead).
    run_crash(v, g2)
    assert set(v.orders) <= {o["client_order_id"] for o in s.orders(account="paper")}
    assert v.liquidations == []


def test_an_unknown_outcome_in_process_is_reconciled_before_deciding_again(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    v.faults.crash_after_accept(times=1)
    g = guardian(v, s, retries=0)
    run_crash(v, g)
    events = [row["event"] for row in s.audit_log(account="paper", limit=10_000)]
    assert "reconcile" in events
    # The order whose answer was lost is known (closed) before any further order was sent.
    orders = sorted(s.orders(account="paper"), key=lambda o: o["intent_ns"])
    assert orders[0]["status"] == "closed"
    assert set(v.orders) <= {o["client_order_id"] for o in orders}
    assert v.liquidations == []


def test_a_retried_send_after_a_lost_answer_is_deduplicated_by_the_venue(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    v.faults.crash_after_accept(times=1)
    g = guardian(v, s, cooldown_s=10_000.0, retries=2)
    run_crash(v, g, steps=40)
    assert len(v.orders) == 1  # the retry reused the client order id: one order, one fill
    assert len([f for f in v.fills if f.symbol == "BTCUSDT"]) == 1
    (row,) = s.orders(account="paper")
    assert row["status"] == "closed"


def test_an_intent_the_venue_never_saw_is_expired_and_not_resent(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    cid = client_order_id("paper", "BTCUSDT", 0)
    assert s.record_intent("paper", cid, "BTCUSDT", "sell", 0.5, v.now_ns, "crashed before sending")
    g = guardian(v, s)
    assert [_key(r) for r in asyncio.run(g.reconcile())] == [("paper", cid, "not_sent")]
    assert s.order(cid)["status"] == "expired"
    run_crash(v, g)
    ids = [o["client_order_id"] for o in s.orders(account="paper")]
    assert ids.count(cid) == 1  # the next decision uses the next id
    salt = s.account("paper")["created_ns"]  # type: ignore[index]
    assert client_order_id("paper", "BTCUSDT", 1, salt) in ids
    assert cid not in v.orders


def test_database_unavailable_means_no_action(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from levguard.live.store import StoreUnavailable

    v = venue()
    s = store(tmp_path)
    g = guardian(v, s)

    def down(*args: object, **kwargs: object) -> bool:
        raise StoreUnavailable("store unavailable during record_intent on sqlite:///x: disk I/O error")

    monkeypatch.setattr(s, "record_intent", down)
    reports = run_crash(v, g)
    assert v.fills == []
    assert any(r["status"] == "database_unavailable" for r in reports)


def test_venue_side_changes_are_noticed(tmp_path: Path) -> None:
    v = venue(drop=0.01)
    s = store(tmp_path)
    g = guardian(v, s)
    asyncio.run(g.cycle())
    v.adl("BTCUSDT", 0.5)
    asyncio.run(g.cycle())
    changes = [a for a in s.alerts(account="paper", limit=100) if a["kind"] == "venue_change"]
    assert len(changes) == 1
    assert changes[0]["data"]["before"] == 2.0
    assert changes[0]["data"]["after"] == 1.5


def test_one_process_per_account_through_the_lease(tmp_path: Path) -> None:
    v = venue(drop=0.01)
    s = store(tmp_path)
    a = guardian(v, s)
    b = guardian(v, s)
    b.owner = "other"
    assert asyncio.run(a.cycle())[0]["status"] == "ok"
    assert asyncio.run(b.cycle())[0]["status"] == "lease_held_elsewhere"


def test_drift_between_our_and_the_venue_liquidation_price_alerts(tmp_path: Path) -> None:
    v = venue(drop=0.01)
    v.faults.liquidation_price_drift = 0.05
    s = store(tmp_path)
    asyncio.run(guardian(v, s).cycle())
    assert any(a["kind"] == "drift" for a in s.alerts(account="paper", limit=100))


def test_rate_limits_back_off_longer_then_serve(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    g = guardian(v, s, retries=2)
    g.sleep = record
    for setup in g.accounts:
        setup.backoff_s = 0.5
    v.faults.fail("fetch_marks", times=2, error="rate_limit")
    assert asyncio.run(g.cycle())[0]["status"] == "ok"
    assert waits == [2.0, 4.0]  # 4x the backoff, doubling
    v.faults.fail("fetch_marks", times=None, error="rate_limit")
    assert asyncio.run(g.cycle())[0]["status"] == "stale"


def _key(resolved: dict[str, object]) -> tuple[object, object, object]:
    return resolved["account"], resolved["client_order_id"], resolved["status"]


def test_a_new_database_does_not_reuse_the_client_ids_a_venue_still_knows(tmp_path: Path) -> None:
    """Ids were account|symbol|seq alone: a guardian moved to a new (or wiped) store sent its first
    order under the id of the old store's first, and a venue that still knows it answers with the
    old order. Salted with the account row's creation time, the ids are new on a new store and
    the same across restarts on one."""
    v = venue()
    first = store(tmp_path)
    run_crash(v, guardian(v, first), steps=40)
    old = {o["client_order_id"] for o in first.orders(account="paper")}
    assert old
    (tmp_path / "new").mkdir()
    second = store(tmp_path / "new")
    g = guardian(v, second)
    run_crash(v, g)
    new = [o for o in second.orders(account="paper")]
    assert new
    assert old.isdisjoint(o["client_order_id"] for o in new)
    assert all(o["status"] == "closed" and o["filled"] > 0 for o in new)
    salt = second.account("paper")["created_ns"]  # type: ignore[index]
    assert client_order_id("paper", "BTCUSDT", 0, salt) in {o["client_order_id"] for o in new}
