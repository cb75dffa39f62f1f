"""The late watch on the order's row (``orders.late_until_ns``, ``late_as``): put on with the
order's final status, listed for any holder of the account, ended once, fenced by the holding."""

from __future__ import annotations

import pytest

from levguard.live.store import LeaseLost, Store

S = 10**9
T0 = 1_700_000_000 * S


def _sent(store: Store) -> tuple[str, str, int]:
    store.upsert_account("a", "binance-usdm", live_enabled=True)
    lease = store.take_leases(["a"], "g1", 30.0, T0, instance="i1")["a"]
    held = ("g1", "i1", lease.epoch)
    for cid in ("c1", "c2"):
        assert store.record_intent("a", cid, "BTCUSDT", "sell", 0.5, T0, "r", lease=held)
        assert store.mark_sent(cid, T0, lease=held)
    return held


def test_the_watch_is_put_on_with_the_final_status_and_listed_for_a_new_holder(store: Store) -> None:
    held = _sent(store)
    until = T0 + 200 * S
    store.mark_result("c1", "expired", 0.0, None, None, T0 + 25 * S, error="never", lease=held, late=(until, "why"))
    store.mark_result("c2", "closed", 0.5, 60_000.0, "v", T0 + 25 * S, lease=held)
    store.take_leases(["a"], "g2", 30.0, T0 + 100 * S, instance="j")  # a takeover: the rows stay
    rows = store.late_orders("a")
    assert [(r["client_order_id"], r["status"], r["late_until_ns"], r["late_as"]) for r in rows] == [
        ("c1", "expired", until, "why")
    ]
    assert store.late_orders("other") == []


def test_a_late_fill_recorded_twice_moves_the_row_once_and_ends_the_watch(store: Store) -> None:
    held = _sent(store)
    store.mark_result("c1", "expired", 0.0, None, None, T0, lease=held, late=(T0 + 200 * S, "why"))
    # An open (partial) answer keeps the watch; the final one ends it; a second changes nothing.
    assert store.mark_result("c1", "open", 0.2, 60_000.0, "v", T0 + S, lease=held, book=False) == 0.2
    assert [r["client_order_id"] for r in store.late_orders("a")] == ["c1"]
    assert store.mark_result("c1", "closed", 0.5, 60_000.0, "v", T0 + 2 * S, lease=held, book=False, late_end=True)
    assert store.mark_result("c1", "closed", 0.5, 60_000.0, "v", T0 + 3 * S, lease=held, book=False) == 0.0
    order = store.order("c1")
    assert order is not None
    assert (order["status"], order["filled"], order["late_until_ns"], order["late_as"]) == ("closed", 0.5, None, "why")
    assert store.late_orders("a") == []


def test_the_watch_ends_once_and_only_for_its_holder(store: Store) -> None:
    held = _sent(store)
    store.mark_result("c1", "expired", 0.0, None, None, T0, lease=held, late=(T0 + 200 * S, "why"))
    store.take_leases(["a"], "g2", 30.0, T0 + 100 * S, instance="j")
    with pytest.raises(LeaseLost, match="late watch of order c1 not ended"):
        store.end_late_watch("c1", T0 + 101 * S, lease=held)
    assert [r["client_order_id"] for r in store.late_orders("a")] == ["c1"]
    new = ("g2", "j", store.leases()[0]["epoch"])
    assert store.end_late_watch("c1", T0 + 201 * S, lease=new) is True
    assert store.end_late_watch("c1", T0 + 202 * S, lease=new) is False  # said once
    assert store.end_late_watch("c2", T0 + 202 * S, lease=new) is False  # never on it
    assert store.late_orders("a") == []


def test_an_alert_is_stored_with_the_fill_it_is_about_and_the_watch_end(store: Store) -> None:
    """The late_order alerts commit with the row they are about: a kill after the commit cannot
    lose them (they were written after it, a second transaction), nor is one stored for a fill
    not recorded (fenced out) or already recorded (nothing new), nor for a watch already ended."""
    held = _sent(store)
    store.mark_result("c1", "expired", 0.0, None, None, T0, lease=held, late=(T0 + 200 * S, "why"))

    def said(delta: float) -> tuple[str, str, str, dict[str, object]]:
        return ("critical", "late_order", f"{delta:g} late", {"delta": delta})

    assert store.mark_result("c1", "open", 0.2, 60_000.0, "v", T0 + S, lease=held, book=False, alert=said) == 0.2
    assert store.mark_result("c1", "open", 0.2, 60_000.0, "v", T0 + 2 * S, lease=held, book=False, alert=said) == 0
    stale = ("g1", "i1", held[2] - 1)
    with pytest.raises(LeaseLost):
        store.mark_result("c1", "closed", 0.5, 60_000.0, "v", T0 + 3 * S, lease=stale, book=False, alert=said)
    warn = ("warning", "late_order", "no longer watched", {"client_order_id": "c1"})
    assert store.end_late_watch("c1", T0 + 4 * S, lease=held, alert=warn) is True
    assert store.end_late_watch("c1", T0 + 5 * S, lease=held, alert=warn) is False
    rows = [(a["account"], a["ts_ns"], a["level"], a["message"], a["data"]) for a in store.alerts(account="a")]
    assert rows == [
        ("a", T0 + 4 * S, "warning", "no longer watched", {"client_order_id": "c1"}),
        ("a", T0 + S, "critical", "0.2 late", {"delta": 0.2}),
    ]
