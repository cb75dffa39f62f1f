"""Accounts, kill switch, snapshots, alerts, the append-only audit log and write-ahead orders,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa

from levguard.errors import InputError
from levguard.live.store import FINAL_ORDER_STATUSES, Store


def test_accounts_upsert_read_and_flags(store: Store) -> None:
    assert store.account("a") is None
    assert store.accounts() == []
    policy = {"name": "target", "target_leverage": 3.0, "caps": {"max_order": 0.5}, "venues": ["binance"]}
    store.upsert_account("b", "bybit")
    store.upsert_account("a", "binance", live_enabled=True, policy=policy)
    a = store.account("a")
    assert a is not None
    assert a == {
        "name": "a",
        "venue": "binance",
        "live_enabled": True,
        "policy": policy,
        "kill_switch": False,
        "created_ns": a["created_ns"],
        "disabled_reason": None,
        "disabled_ns": None,
        "expected": None,
        "expected_ns": None,
    }
    assert isinstance(a["created_ns"], int)
    assert a["created_ns"] > 1_600_000_000 * 10**9
    assert [x["name"] for x in store.accounts()] == ["a", "b"]
    assert store.account("b")["policy"] is None  # type: ignore[index]

    # Upsert overwrites venue, live flag and policy; keeps created_ns and the kill switch.
    store.set_kill_switch("a", True)
    store.upsert_account("a", "okx", policy={"name": "other"})
    a2 = store.account("a")
    assert a2 is not None
    assert (a2["venue"], a2["live_enabled"], a2["policy"], a2["kill_switch"]) == ("okx", False, {"name": "other"}, True)
    assert a2["created_ns"] == a["created_ns"]

    store.set_live("a", True)
    assert store.account("a")["live_enabled"] is True  # type: ignore[index]
    store.set_live("a", False)
    assert store.account("a")["live_enabled"] is False  # type: ignore[index]
    with pytest.raises(InputError, match="nope"):
        store.set_live("nope", True)


def test_set_policy_changes_the_policy_column_only(store: Store) -> None:
    store.upsert_account("a", "binance", live_enabled=True, policy={"policy": {"type": "fixed", "leverage": 3}})
    store.set_kill_switch("a", True)
    before = store.account("a")
    store.set_live("a", False)  # a switch made while a policy update was being tried
    store.set_policy("a", {"policy": {"type": "fixed", "leverage": 2}})
    after = store.account("a")
    assert after == {**before, "live_enabled": False, "policy": {"policy": {"type": "fixed", "leverage": 2}}}  # type: ignore[dict-item]
    with pytest.raises(InputError, match="nope"):
        store.set_policy("nope", None)
    assert store.account("nope") is None


def test_kill_switch_global_or_per_account(store: Store) -> None:
    store.upsert_account("a", "binance")
    store.upsert_account("b", "binance")
    assert not store.kill_switch("a")
    assert not store.kill_switch("unknown")
    store.set_kill_switch("a", True)
    assert store.kill_switch("a")
    assert not store.kill_switch("b")
    store.set_kill_switch(None, True)
    assert store.kill_switch("b")
    assert store.kill_switch("unknown")
    assert store.account("b")["kill_switch"] is False  # type: ignore[index]  # the account's own switch
    store.set_kill_switch(None, False)
    store.set_kill_switch("a", False)
    assert not store.kill_switch("a")
    assert not store.kill_switch("b")
    with pytest.raises(InputError, match="nope"):
        store.set_kill_switch("nope", True)


def test_snapshots_time_series(store: Store) -> None:
    ids = [store.add_snapshot("a", 1_000 * i, "OK" if i < 3 else "WARN", {"margin_ratio": 0.1 * i}) for i in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    store.add_snapshot("b", 500, "OK", {})
    rows = store.snapshots("a")
    assert [r["ts_ns"] for r in rows] == [0, 1_000, 2_000, 3_000, 4_000]
    assert rows[3] == {
        "id": ids[3],
        "account": "a",
        "ts_ns": 3_000,
        "state": "WARN",
        "figures": {"margin_ratio": 0.30000000000000004},
    }
    assert [r["ts_ns"] for r in store.snapshots("a", since_ns=2_000)] == [2_000, 3_000, 4_000]
    assert [r["ts_ns"] for r in store.snapshots("a", limit=2)] == [3_000, 4_000]  # latest two, oldest first
    assert store.snapshots("nobody") == []


def test_payloads_become_plain_json(store: Store) -> None:
    class Color(enum.Enum):
        RED = "red"

    figures = {
        "nan": float("nan"),
        "inf": float("inf"),
        "np_float": np.float64(1.5),
        "np_int": np.int64(7),
        "array": np.array([1.0, 2.0]),
        "decimal": Decimal("0.1"),
        "tuple": (1, 2),
        "when": dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
        "enum": Color.RED,
        3: "int key",
    }
    store.add_snapshot("a", 1, "OK", figures)
    assert store.snapshots("a")[0]["figures"] == {
        "nan": None,
        "inf": None,
        "np_float": 1.5,
        "np_int": 7,
        "array": [1.0, 2.0],
        "decimal": "0.1",
        "tuple": [1, 2],
        "when": "2024-01-02T00:00:00+00:00",
        "enum": "red",
        "3": "int key",
    }
    with pytest.raises(InputError, match=r"figures\.bad"):
        store.add_snapshot("a", 2, "OK", {"bad": object()})


def test_alerts_filter_page_and_ack(store: Store) -> None:
    a1 = store.add_alert("a", 10, "warn", "state", "a is WARN", {"margin_ratio": 0.6})
    a2 = store.add_alert(None, 20, "critical", "db", "database was unavailable")
    a3 = store.add_alert("b", 30, "info", "state", "b is OK")
    rows = store.alerts()
    assert [r["id"] for r in rows] == [a3, a2, a1]  # newest first
    assert rows[2] == {
        "id": a1,
        "account": "a",
        "ts_ns": 10,
        "level": "warn",
        "kind": "state",
        "message": "a is WARN",
        "data": {"margin_ratio": 0.6},
        "acked": False,
        "acked_ns": None,
    }
    assert rows[1]["account"] is None
    assert rows[1]["data"] is None
    assert [r["id"] for r in store.alerts(account="a")] == [a1]
    assert [r["id"] for r in store.alerts(limit=1, offset=1)] == [a2]
    assert store.ack_alert(a1, 99) is True
    assert store.ack_alert(a1, 100) is False  # already acknowledged
    assert store.ack_alert(10_000, 100) is False  # unknown
    assert [r["id"] for r in store.alerts(unacked_only=True)] == [a3, a2]
    acked = store.alerts(account="a")[0]
    assert (acked["acked"], acked["acked_ns"]) == (True, 99)


def test_audit_log_append_and_query(store: Store) -> None:
    i1 = store.audit("a", 100, "decide", {"leverage": 8.0}, {"action": "reduce", "qty": 0.5}, ["leverage 8 > target 3"])
    i2 = store.audit("b", 200, "decide", {}, {"action": "none"}, [])
    i3 = store.audit(None, 300, "startup", {"accounts": ["a", "b"]}, {}, ["restart"])
    assert [r["id"] for r in store.audit_log()] == [i3, i2, i1]
    assert store.audit_log(account="a") == [
        {
            "id": i1,
            "account": "a",
            "ts_ns": 100,
            "event": "decide",
            "inputs": {"leverage": 8.0},
            "decision": {"action": "reduce", "qty": 0.5},
            "reasons": ["leverage 8 > target 3"],
        }
    ]
    assert [r["id"] for r in store.audit_log(event="decide")] == [i2, i1]
    assert [r["id"] for r in store.audit_log(since_ns=200)] == [i3, i2]
    assert [r["id"] for r in store.audit_log(limit=1, offset=2)] == [i1]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET event = 'forged'",
        "UPDATE audit_log SET reasons = inputs WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
    ],
)
def test_audit_rows_cannot_be_updated_or_deleted(store_url: str, sql: str) -> None:
    store = Store(store_url)
    try:
        store.audit("a", 1, "decide", {"x": 1}, {"y": 2}, ["r"])
        engine = sa.create_engine(store_url)
        try:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(sql))
            if engine.dialect.name == "postgresql":
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(sa.text("TRUNCATE audit_log"))
        finally:
            engine.dispose()
        assert [(r["event"], r["inputs"]) for r in store.audit_log()] == [("decide", {"x": 1})]
    finally:
        store.close()


def test_record_intent_is_idempotent(store: Store, store_url: str) -> None:
    assert store.record_intent("a", "lg-a-1", "BTC/USDT:USDT", "sell", 0.5, 1_000, "deleverage to 3x") is True
    assert store.record_intent("a", "lg-a-1", "ETH/USDT:USDT", "buy", 9.0, 2_000, "other") is False
    assert store.order("lg-a-1") == {
        "client_order_id": "lg-a-1",
        "account": "a",
        "symbol": "BTC/USDT:USDT",
        "side": "sell",
        "qty": 0.5,
        "reason": "deleverage to 3x",
        "status": "intent",
        "intent_ns": 1_000,
        "sent_ns": None,
        "result_ns": None,
        "filled": 0.0,
        "average_price": None,
        "venue_order_id": None,
        "owner": None,
        "epoch": None,
        "error": None,
        "late_until_ns": None,
        "late_as": None,
    }
    assert store.order("missing") is None
    # The intent is committed: another store on the same database sees it at once.
    other = Store(store_url, migrate=False)
    try:
        assert other.order("lg-a-1") is not None
        assert other.record_intent("a", "lg-a-1", "BTC/USDT:USDT", "sell", 0.5, 1_000, "again") is False
    finally:
        other.close()


def test_order_lifecycle_and_unresolved(store: Store) -> None:
    for i, cid in enumerate(["i", "s", "o", "closed", "canceled", "rejected", "expired"]):
        assert store.record_intent("a", cid, "BTC/USDT:USDT", "sell", 1.0, 100 + i, "r")
    store.record_intent("b", "other-account", "BTC/USDT:USDT", "buy", 1.0, 50, "r")
    for cid in ["s", "o", "closed", "canceled", "rejected", "expired"]:
        store.mark_sent(cid, 200)
    store.mark_result("o", "open", 0.25, 100.0, "v-o", 300)
    for cid in ["closed", "canceled", "rejected", "expired"]:
        store.mark_result(
            cid, cid, 1.0 if cid == "closed" else 0.0, 101.5 if cid == "closed" else None, f"v-{cid}", 300
        )

    assert [o["client_order_id"] for o in store.unresolved_orders("a")] == ["i", "s", "o"]  # oldest first
    assert {o["status"] for o in store.unresolved_orders("a")} == {"intent", "sent", "open"}
    assert [o["client_order_id"] for o in store.unresolved_orders("b")] == ["other-account"]
    assert store.unresolved_orders("nobody") == []

    closed = store.order("closed")
    assert closed is not None
    assert (closed["status"], closed["sent_ns"], closed["result_ns"]) == ("closed", 200, 300)
    assert (closed["filled"], closed["average_price"], closed["venue_order_id"]) == (1.0, 101.5, "v-closed")

    # mark_sent after a result changes nothing; a later result moves an open order to final.
    store.mark_sent("closed", 999)
    assert store.order("closed") == closed
    store.mark_result("o", "closed", 1.0, 100.5, "v-o", 400)
    assert [o["client_order_id"] for o in store.unresolved_orders("a")] == ["i", "s"]
    assert {o["status"] for o in store.orders(account="a")} >= FINAL_ORDER_STATUSES

    assert [o["client_order_id"] for o in store.orders(account="a", limit=2)] == ["expired", "rejected"]  # newest first
    assert [o["client_order_id"] for o in store.orders(limit=1, offset=7)] == ["other-account"]
    assert len(store.orders()) == 8

    with pytest.raises(InputError, match="missing"):
        store.mark_sent("missing", 1)
    with pytest.raises(InputError, match="missing"):
        store.mark_result("missing", "closed", 0.0, None, None, 1)
    with pytest.raises(InputError, match="status"):
        store.mark_result("i", "filled", 0.0, None, None, 1)


def test_api_tokens_are_stored_as_digests_only(store: Store) -> None:
    import hashlib

    digest = hashlib.sha256(b"tok").hexdigest()
    tid = store.add_token("first", "admin", digest, 1)
    assert store.token_by_hash(digest) == {"id": tid, "name": "first", "scope": "admin"}
    assert store.token_by_hash(hashlib.sha256(b"other").hexdigest()) is None
    assert "token_hash" not in store.tokens()[0]
    assert store.revoke_token(tid)
    assert store.token_by_hash(digest) is None
    with pytest.raises(InputError, match="scope"):
        store.add_token("x", "root", digest, 1)


def test_two_active_tokens_cannot_share_a_name(store: Store) -> None:
    import hashlib

    def h(i: int) -> str:
        return hashlib.sha256(f"tok{i}".encode()).hexdigest()

    first = store.add_token("oncall", "read", h(1), 1)
    with pytest.raises(InputError, match="an active token is already named 'oncall'"):
        store.add_token("oncall", "admin", h(2), 2)
    # A revoked token's name is free again.
    assert store.revoke_token(first)
    store.add_token("oncall", "read", h(3), 3)
    assert [t["revoked"] for t in store.tokens() if t["name"] == "oncall"] == [True, False]


def test_tokens_created_at_once_under_one_name_yield_one(store_url: str) -> None:
    # Four processes' stores (own engines and connections) create a token named "oncall" at the
    # same moment: the check and the insert are one serialised write, so exactly one succeeds.
    import hashlib
    import threading

    stores = [Store(store_url) for _ in range(4)]
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def create(i: int) -> None:
        barrier.wait()
        try:
            stores[i].add_token("oncall", "read", hashlib.sha256(f"t{i}".encode()).hexdigest(), i)
            outcomes.append("created")
        except InputError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert outcomes.count("created") == 1, outcomes
        assert all("already named 'oncall'" in o for o in outcomes if o != "created"), outcomes
        assert sum(1 for t in stores[0].tokens() if t["name"] == "oncall" and not t["revoked"]) == 1
    finally:
        for s in stores:
            s.close()


def test_order_count_per_account_and_symbol(store: Store) -> None:
    assert store.order_count("a", "BTCUSDT") == 0
    store.record_intent("a", "c1", "BTCUSDT", "sell", 1.0, 1, "r")
    store.record_intent("a", "c2", "ETHUSDT", "sell", 1.0, 2, "r")
    store.record_intent("b", "c3", "BTCUSDT", "sell", 1.0, 3, "r")
    assert store.order_count("a", "BTCUSDT") == 1
    assert store.order_count("b", "BTCUSDT") == 1


def test_a_postgresql_lock_held_elsewhere_fails_the_call_instead_of_hanging(
    pg_url: str, pg_database: sa.engine.URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client holds the accounts table locked in an open transaction (a hung process, an
    operator's LOCK TABLE): a store write waits the lock timeout, then fails with
    StoreUnavailable, and the URL's own options (the search_path) still apply."""
    import time

    import psycopg

    from levguard.live import store_engine
    from levguard.live.store import StoreUnavailable

    monkeypatch.setattr(store_engine, "_PG_LOCK_TIMEOUT_S", 0.5)
    s = Store(pg_url)
    s.upsert_account("a", "binance-usdm", live_enabled=False)
    schema = str(sa.engine.make_url(pg_url).query["options"]).split("=", 1)[1]
    base = pg_database
    with psycopg.connect(host=base.host, port=base.port, user=base.username, dbname=base.database) as other:
        other.execute(f'LOCK TABLE "{schema}".accounts IN ACCESS EXCLUSIVE MODE')
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable, match="lock timeout"):
            s.upsert_account("b", "binance-usdm", live_enabled=False)
        assert time.monotonic() - t0 < 10.0
        other.rollback()
    s.upsert_account("b", "binance-usdm", live_enabled=False)  # the lock gone, the call succeeds
    assert {r["name"] for r in s.accounts()} == {"a", "b"}
    with s._db._engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "500ms"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1min"
    s.close()
