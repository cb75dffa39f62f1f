"""Issue 14 in the store: fenced leases under a stable identity, intents with their audit row in one
transaction, fills that move the expected position, persisted disabled state, keyset paging."""

from __future__ import annotations

import pytest

from levguard.errors import InputError
from levguard.live.store import LeaseLost, Store

S = 10**9
T0 = 1_700_000_000 * S


def test_same_identity_takes_back_at_once_and_bumps_the_epoch(store: Store) -> None:
    first = store.take_leases(["a"], "g1", 30.0, T0, instance="i1")["a"]
    assert first.held
    assert first.taken
    assert first.previous_owner is None
    again = store.take_leases(["a"], "g1", 30.0, T0 + S, instance="i1")["a"]
    assert again.held
    assert again.epoch == first.epoch  # a renewal keeps the epoch
    # A restart of g1 (new instance) takes the unexpired lease at once, under a new epoch.
    restart = store.take_leases(["a"], "g1", 30.0, T0 + 2 * S, instance="i2")["a"]
    assert restart.held
    assert restart.epoch == first.epoch + 1
    assert restart.previous_owner == "g1"
    assert restart.previous_renewed_ns == T0 + S
    # Another identity cannot, while it is alive; after expiry it can (epoch moves on).
    assert not store.take_leases(["a"], "g2", 30.0, T0 + 3 * S, instance="j")["a"].held
    late = store.take_leases(["a"], "g2", 30.0, T0 + 40 * S, instance="j")["a"]
    assert late.held
    assert late.epoch == restart.epoch + 1
    assert (T0 + 40 * S - late.previous_renewed_ns) / S == 38  # unwatched for 38 s
    rows = {r["account"]: r for r in store.leases()}
    assert rows["a"]["owner"] == "g2"
    assert rows["a"]["instance"] == "j"


def test_an_intent_is_fenced_by_the_lease_epoch(store: Store) -> None:
    store.upsert_account("a", "binance-usdm", live_enabled=True)
    lease = store.take_leases(["a"], "g1", 30.0, T0, instance="i1")["a"]
    audit = ({"qty": 2.0}, {"client_order_id": "c1"}, ["state ACT"])
    assert store.record_intent("a", "c1", "BTCUSDT", "sell", 0.5, T0, "r", lease=("g1", "i1", lease.epoch), audit=audit)
    (row,) = store.audit_log(account="a", event="deleverage")
    assert row["decision"] == {"client_order_id": "c1"}
    assert store.order("c1")["epoch"] == lease.epoch  # type: ignore[index]
    # Taken over by a restart: the old instance is fenced out and writes nothing.
    store.take_leases(["a"], "g1", 30.0, T0 + S, instance="i2")
    with pytest.raises(LeaseLost, match="not held"):
        store.record_intent(
            "a", "c2", "BTCUSDT", "sell", 0.5, T0 + S, "r", lease=("g1", "i1", lease.epoch), audit=audit
        )
    assert store.order("c2") is None
    assert len(store.audit_log(account="a", event="deleverage")) == 1
    # A lease about to expire does not cover a new order either (fence margin).
    new = store.leases()[0]["epoch"]
    with pytest.raises(LeaseLost):
        store.record_intent("a", "c3", "BTCUSDT", "sell", 0.5, T0 + 29 * S, "r", lease=("g1", "i2", new), fence_s=5.0)
    assert store.record_intent("a", "c3", "BTCUSDT", "sell", 0.5, T0 + 2 * S, "r", lease=("g1", "i2", new), fence_s=5.0)


def test_fills_move_the_expected_position_once(store: Store) -> None:
    store.upsert_account("a", "binance-usdm")
    store.set_expected("a", {"BTCUSDT": 2.0, "ETHUSDT": -3.0}, T0)
    store.record_intent("a", "c1", "BTCUSDT", "sell", 0.5, T0, "r")
    store.record_intent("a", "c2", "ETHUSDT", "buy", 1.0, T0, "r")
    assert store.mark_result("c1", "open", 0.2, 60_000.0, "v1", T0 + S) == pytest.approx(0.2)
    assert store.mark_result("c1", "closed", 0.5, 60_000.0, "v1", T0 + 2 * S) == pytest.approx(0.3)
    assert store.mark_result("c1", "closed", 0.5, 60_000.0, "v1", T0 + 3 * S) == 0.0  # the same answer again
    assert store.mark_result("c2", "closed", 1.0, 3_000.0, "v2", T0 + 3 * S) == 1.0
    assert store.account("a")["expected"] == {"BTCUSDT": pytest.approx(1.5), "ETHUSDT": pytest.approx(-2.0)}  # type: ignore[index]
    with pytest.raises(InputError, match="filled"):
        store.mark_result("c1", "closed", float("nan"), None, None, T0)
    store.record_intent("a", "c3", "BTCUSDT", "sell", 0.5, T0, "r")
    store.mark_result("c3", "rejected", 0.0, None, None, T0, error="auth: HTTP 401")
    assert store.order("c3")["error"] == "auth: HTTP 401"  # type: ignore[index]


def test_a_result_only_moves_forward(store: Store) -> None:
    """A stale answer after the final one moved the order back to open and its fill down, and the
    next answer booked the difference again (a fill booked 1.5 times)."""
    store.upsert_account("a", "binance-usdm")
    store.set_expected("a", {"BTCUSDT": 2.0}, T0)
    store.record_intent("a", "c1", "BTCUSDT", "sell", 1.0, T0, "r")
    assert store.mark_result("c1", "closed", 1.0, 60_000.0, "v1", T0 + S) == 1.0
    assert store.mark_result("c1", "open", 0.5, 59_000.0, None, T0 + 2 * S) == 0.0  # stale: changes nothing
    row = store.order("c1")
    assert row is not None
    assert (row["status"], row["filled"], row["average_price"]) == ("closed", 1.0, 60_000.0)
    assert (row["venue_order_id"], row["result_ns"]) == ("v1", T0 + S)
    assert store.unresolved_orders("a") == []
    assert store.mark_result("c1", "closed", 1.0, 60_000.0, "v1", T0 + 3 * S) == 0.0
    assert store.account("a")["expected"] == {"BTCUSDT": pytest.approx(1.0)}  # type: ignore[index]
    # A lagging read while open: the fill and its price stay; a later, larger fill books the rest.
    store.record_intent("a", "c2", "BTCUSDT", "sell", 0.5, T0, "r")
    assert store.mark_result("c2", "open", 0.3, 61_000.0, "v2", T0 + S) == pytest.approx(0.3)
    assert store.mark_result("c2", "open", 0.1, 62_000.0, None, T0 + 2 * S) == 0.0
    assert (store.order("c2")["filled"], store.order("c2")["average_price"]) == (0.3, 61_000.0)  # type: ignore[index]
    assert store.mark_result("c2", "canceled", 0.4, 61_500.0, "v2", T0 + 3 * S) == pytest.approx(0.1)
    assert store.order("c2")["status"] == "canceled"  # type: ignore[index]
    assert store.account("a")["expected"] == {"BTCUSDT": pytest.approx(0.6)}  # type: ignore[index]


def test_a_result_is_fenced_by_the_lease_epoch(store: Store) -> None:
    store.upsert_account("a", "binance-usdm", live_enabled=True)
    store.set_expected("a", {"BTCUSDT": 2.0}, T0)
    old = store.take_leases(["a"], "g1", 30.0, T0, instance="i1")["a"]
    assert store.record_intent("a", "c1", "BTCUSDT", "sell", 0.5, T0, "r", lease=("g1", "i1", old.epoch))
    store.take_leases(["a"], "g1", 30.0, T0 + S, instance="i2")  # a restart takes the account over
    audit = ("reconcile", {"order": {"client_order_id": "c1"}}, {"status": "closed"}, ["asked the venue"])
    with pytest.raises(LeaseLost, match="result of order c1 not recorded"):
        store.mark_result("c1", "closed", 0.5, 60_000.0, "v1", T0 + 2 * S, audit=audit, lease=("g1", "i1", old.epoch))
    assert (store.order("c1")["status"], store.order("c1")["filled"]) == ("intent", 0.0)  # type: ignore[index]
    assert store.account("a")["expected"] == {"BTCUSDT": 2.0}  # type: ignore[index]
    assert store.audit_log(account="a", event="reconcile") == []
    new = store.leases()[0]["epoch"]
    assert store.mark_result("c1", "closed", 0.5, 60_000.0, "v1", T0 + 2 * S, lease=("g1", "i2", new)) == 0.5
    with pytest.raises(InputError, match="missing"):
        store.mark_result("missing", "closed", 0.0, None, None, T0, lease=("g1", "i2", new))


def test_a_late_answer_to_a_lapsed_lease_nobody_took_is_recorded(store: Store) -> None:
    """A venue's answer arriving after the lease lapsed (a 10 s ccxt timeout against the 5 s left
    at sending) was refused with a critical lease alert although no process had taken the account:
    the epoch alone decides, as any takeover moves it on."""
    store.upsert_account("a", "binance-usdm", live_enabled=True)
    lease = store.take_leases(["a"], "g1", 30.0, T0, instance="i1")["a"]
    held = ("g1", "i1", lease.epoch)
    assert store.record_intent("a", "c1", "BTCUSDT", "sell", 0.5, T0, "r", lease=held)
    late = T0 + 40 * S  # the lease expired at T0 + 30 s, nobody took it
    assert store.mark_result("c1", "closed", 0.5, 60_000.0, "v1", late, lease=held) == 0.5
    # A takeover (the epoch moves on) still fences the old holder's answers out.
    assert store.record_intent("a", "c2", "BTCUSDT", "sell", 0.5, T0, "r", lease=held)
    store.take_leases(["a"], "g2", 30.0, late + S, instance="j")
    with pytest.raises(LeaseLost, match="result of order c2 not recorded"):
        store.mark_result("c2", "closed", 0.5, 60_000.0, "v2", late + 2 * S, lease=held)


def test_disabled_is_persisted(store: Store) -> None:
    store.upsert_account("a", "binance-usdm")
    store.set_disabled("a", "authentication failed", T0)
    assert store.account("a")["disabled_reason"] == "authentication failed"  # type: ignore[index]
    store.set_disabled("a", None, T0 + S)
    assert store.account("a")["disabled_reason"] is None  # type: ignore[index]
    with pytest.raises(InputError, match="account"):
        store.set_disabled("nope", "x", T0)


def test_keyset_pages_do_not_shift_while_rows_are_appended(store: Store) -> None:
    for i in range(10):
        store.audit("a", T0 + i, "cycle", {}, {"i": i}, [])
        store.add_alert("a", T0 + i, "info", "state", f"alert {i}")
        store.record_intent("a", f"c{i:02d}", "BTCUSDT", "sell", 0.1, T0 + i // 2, "r")
    page1 = store.audit_log(account="a", limit=4)
    store.audit("a", T0 + 99, "cycle", {}, {"i": 99}, [])  # appended between two pages
    page2 = store.audit_log(account="a", limit=4, before_id=page1[-1]["id"])
    assert [r["decision"]["i"] for r in page1 + page2] == [9, 8, 7, 6, 5, 4, 3, 2]
    alerts1 = store.alerts(account="a", limit=6)
    store.add_alert("a", T0 + 99, "info", "state", "late")
    alerts2 = store.alerts(account="a", limit=6, before_id=alerts1[-1]["id"])
    assert [a["message"] for a in alerts1 + alerts2] == [f"alert {i}" for i in range(9, -1, -1)]
    o1 = store.orders(account="a", limit=3)
    store.record_intent("a", "zz", "BTCUSDT", "sell", 0.1, T0 + 50, "r")
    o2 = store.orders(account="a", limit=20, before=(o1[-1]["intent_ns"], o1[-1]["client_order_id"]))
    assert [o["client_order_id"] for o in o1 + o2] == [f"c{i:02d}" for i in range(9, -1, -1)]


def test_mark_sent_is_fenced_and_refuses_an_intent_resolved_meanwhile(store: Store) -> None:
    store.upsert_account("a", "binance-usdm", live_enabled=True)
    old = store.take_leases(["a"], "g1", 30.0, T0, instance="i1")["a"]
    assert store.record_intent("a", "c1", "BTCUSDT", "sell", 0.5, T0, "r", lease=("g1", "i1", old.epoch))
    # A restart takes the account over and finds the intent the venue never saw: not sent.
    store.take_leases(["a"], "g1", 30.0, T0 + S, instance="i2")
    store.mark_result("c1", "expired", 0.0, None, None, T0 + S, error="recorded but never sent")
    # The old process wakes up: it may not send (fenced), and even unfenced the intent is gone.
    with pytest.raises(LeaseLost, match="not sent"):
        store.mark_sent("c1", T0 + 2 * S, lease=("g1", "i1", old.epoch))
    assert store.mark_sent("c1", T0 + 2 * S) is False
    assert store.order("c1")["status"] == "expired"  # type: ignore[index]
    new = store.leases()[0]["epoch"]
    assert store.record_intent("a", "c2", "BTCUSDT", "sell", 0.5, T0 + 2 * S, "r", lease=("g1", "i2", new))
    assert store.mark_sent("c2", T0 + 2 * S, lease=("g1", "i2", new), fence_s=5.0) is True
    assert store.mark_sent("c2", T0 + 3 * S, lease=("g1", "i2", new)) is False  # already sent


def test_a_takeover_waits_for_an_intent_being_recorded(store_url: str) -> None:
    """The intent's transaction locks the lease row: a takeover racing it commits after it and so
    finds the intent (PostgreSQL needs the row lock; SQLite serialises every writer)."""
    import threading
    import time

    store = Store(store_url)
    other = Store(store_url, migrate=False)
    events: list[str] = []

    class Slow:
        # Converted to JSON inside record_intent's transaction, after the fence: holds it open.
        def tolist(self) -> list[int]:
            events.append("recording")
            time.sleep(0.8)
            return [1]

    try:
        store.upsert_account("a", "binance-usdm", live_enabled=True)
        lease = store.take_leases(["a"], "g1", 30.0, T0, instance="i1")["a"]

        def record() -> None:
            store.record_intent(
                "a",
                "c1",
                "BTCUSDT",
                "sell",
                0.5,
                T0,
                "r",
                lease=("g1", "i1", lease.epoch),
                audit=({"x": Slow()}, {}, []),
            )
            events.append("recorded")

        waited: list[float] = []

        def take_over() -> None:
            while "recording" not in events:
                time.sleep(0.01)
            start = time.perf_counter()
            other.take_leases(["a"], "g1", 30.0, T0 + S, instance="i2")
            waited.append(time.perf_counter() - start)
            events.append("taken")
            events.append("sees:" + ",".join(o["client_order_id"] for o in other.unresolved_orders("a")))

        threads = [threading.Thread(target=record), threading.Thread(target=take_over)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        # Once the intent commits both threads wake, so "recorded" and "taken" may be appended in
        # either order; what matters is that the takeover waited for the commit and sees the intent.
        assert events[0] == "recording", events
        assert sorted(events[1:3]) == ["recorded", "taken"], events
        assert events[3] == "sees:c1", events
        assert len(waited) == 1, waited
        assert waited[0] >= 0.5, waited  # blocked while the intent was being recorded (0.8 s)
    finally:
        other.close()
        store.close()


def test_a_result_and_its_audit_row_are_one_transaction(store: Store) -> None:
    store.upsert_account("a", "binance-usdm")
    store.record_intent("a", "c1", "BTCUSDT", "sell", 0.5, T0, "r")
    audit = ("reconcile", {"order": {"client_order_id": "c1"}}, {"status": "closed"}, ["asked the venue"])
    store.mark_result("c1", "closed", 0.5, 60_000.0, "v1", T0 + S, audit=audit)
    (row,) = store.audit_log(account="a", event="reconcile")
    assert row["decision"] == {"status": "closed"}
    with pytest.raises(InputError, match="JSON"):  # an audit row that cannot be written: no result either
        store.mark_result("c1", "canceled", 0.5, None, None, T0 + 2 * S, audit=("reconcile", {"x": object()}, {}, []))
    assert store.order("c1")["status"] == "closed"  # type: ignore[index]


def test_expected_positions_are_fenced_by_the_holding(store: Store) -> None:
    """A holder whose read outlived its lease wrote the account's expected positions over the fill
    its successor had booked (store 0.527 back to 1.0): set_expected is fenced as mark_result."""
    store.upsert_account("a", "binance-usdm", live_enabled=True)
    old = store.take_leases(["a"], "A", 30.0, T0, instance="i1")["a"]
    held = ("A", "i1", old.epoch)
    store.set_expected("a", {"BTCUSDT": 1.0}, T0, lease=held)
    assert store.holds("a", held)
    new = store.take_leases(["a"], "B", 30.0, T0 + 40 * S, instance="j")["a"]
    store.set_expected("a", {"BTCUSDT": 0.527}, T0 + 41 * S, lease=("B", "j", new.epoch))
    assert not store.holds("a", held)
    with pytest.raises(LeaseLost, match="expected positions not stored"):
        store.set_expected("a", {"BTCUSDT": 1.0}, T0 + 42 * S, lease=held)
    assert store.account("a")["expected"] == {"BTCUSDT": 0.527}  # type: ignore[index]
    # A lapsed lease nobody took is still its holder's (the epoch decides, as for results).
    late = T0 + 80 * S
    store.set_expected("a", {"BTCUSDT": 0.5}, late, lease=("B", "j", new.epoch))
    assert store.account("a")["expected"] == {"BTCUSDT": 0.5}  # type: ignore[index]


def test_a_fill_on_a_symbol_kept_by_leg_moves_the_leg_it_reduces(store: Store) -> None:
    """Hedge mode: the expected positions keep "BTCUSDT long" / "BTCUSDT short"; a fill was booked
    by the plain symbol only, so it moved nothing and came back as a venue change.  ``book=False``
    records a fill already taken into the expected position without moving it again."""
    store.upsert_account("a", "binance-usdm")
    store.set_expected("a", {"BTCUSDT long": 0.5, "BTCUSDT short": -1.0}, T0)
    store.record_intent("a", "c1", "BTCUSDT", "buy", 0.4, T0, "r")
    store.record_intent("a", "c2", "BTCUSDT", "sell", 0.2, T0, "r")
    assert store.mark_result("c1", "closed", 0.4, 60_000.0, "v1", T0 + S) == pytest.approx(0.4)
    assert store.mark_result("c2", "closed", 0.2, 60_000.0, "v2", T0 + S) == pytest.approx(0.2)
    expected = {"BTCUSDT long": pytest.approx(0.3), "BTCUSDT short": pytest.approx(-0.6)}
    assert store.account("a")["expected"] == expected  # type: ignore[index]
    store.record_intent("a", "c3", "BTCUSDT", "buy", 0.1, T0, "r")
    assert store.mark_result("c3", "closed", 0.1, 60_000.0, "v3", T0 + 2 * S, book=False) == pytest.approx(0.1)
    assert store.order("c3")["filled"] == pytest.approx(0.1)  # type: ignore[index]
    assert store.account("a")["expected"] == expected  # type: ignore[index]
