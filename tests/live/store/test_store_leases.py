"""Leases: one owner per account, atomic across threads and processes, expiry and takeover."""

from __future__ import annotations

import multiprocessing as mp
import threading
from typing import Any

import pytest

from levguard.errors import InputError
from levguard.live.store import Store

S = 10**9  # one second in nanoseconds


def test_lease_acquire_renew_release_and_takeover(store: Store) -> None:
    t0 = 1_700_000_000 * S
    assert store.lease_owner("a", t0) is None
    assert store.acquire_lease("a", "p1", 10.0, t0) is True
    assert store.lease_owner("a", t0) == "p1"
    assert store.acquire_lease("a", "p2", 10.0, t0 + 1 * S) is False  # held
    assert store.acquire_lease("a", "p1", 10.0, t0 + 1 * S) is True  # the holder may re-acquire (extends)
    assert store.acquire_lease("b", "p2", 10.0, t0) is True  # leases are per account
    assert store.renew_lease("a", "p2", 10.0, t0 + 2 * S) is False  # renew by a non-owner fails
    assert store.lease_owner("a", t0 + 2 * S) == "p1"
    assert store.renew_lease("a", "p1", 10.0, t0 + 5 * S) is True  # now expires at t0 + 15 s
    assert store.acquire_lease("a", "p2", 10.0, t0 + 14 * S) is False
    # Expiry: p1 died; p2 takes over; p1 can neither renew nor release p2's lease.
    assert store.lease_owner("a", t0 + 15 * S) is None
    assert store.acquire_lease("a", "p2", 10.0, t0 + 15 * S) is True
    assert store.lease_owner("a", t0 + 16 * S) == "p2"
    assert store.renew_lease("a", "p1", 10.0, t0 + 16 * S) is False
    store.release_lease("a", "p1")
    assert store.lease_owner("a", t0 + 16 * S) == "p2"
    # A holder whose lease lapsed cannot renew it, even if nobody took it: it must re-acquire.
    assert store.renew_lease("b", "p2", 10.0, t0 + 11 * S) is False
    assert store.acquire_lease("b", "p2", 10.0, t0 + 11 * S) is True
    # Release frees the lease at once.
    store.release_lease("a", "p2")
    assert store.lease_owner("a", t0 + 16 * S) is None
    assert store.acquire_lease("a", "p3", 10.0, t0 + 16 * S) is True
    assert store.renew_lease("missing", "p1", 10.0, t0) is False
    with pytest.raises(InputError, match="ttl_s"):
        store.acquire_lease("a", "p1", 0.0, t0)


def test_lease_race_between_threads_has_one_winner(store_url: str) -> None:
    n = 6
    stores = [Store(store_url, migrate=i == 0) for i in range(n)]  # one engine each: separate connections
    try:
        for account in ("race-1", "race-2", "race-3"):
            barrier = threading.Barrier(n)
            results: list[bool] = [False] * n

            def contend(
                i: int, account: str = account, barrier: threading.Barrier = barrier, results: list[bool] = results
            ) -> None:
                barrier.wait()
                results[i] = stores[i].acquire_lease(account, f"owner-{i}", 30.0, 1_000 * S)

            threads = [threading.Thread(target=contend, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert sum(results) == 1, results
            assert stores[0].lease_owner(account, 1_000 * S) == f"owner-{results.index(True)}"
    finally:
        for s in stores:
            s.close()


def _contend_in_process(url: str, account: str, owner: str, now_ns: int, barrier: Any, out: Any) -> None:
    store = Store(url, migrate=False)
    try:
        barrier.wait(timeout=20)
        out.put((owner, store.acquire_lease(account, owner, 30.0, now_ns)))
    finally:
        store.close()


def test_lease_race_between_processes_has_one_winner(store_url: str) -> None:
    Store(store_url).close()  # migrate once
    ctx = mp.get_context("fork")
    n = 4
    for round_ in range(2):
        account = f"proc-race-{round_}"
        barrier = ctx.Barrier(n)
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_contend_in_process, args=(store_url, account, f"proc-{i}", 1_000 * S, barrier, out))
            for i in range(n)
        ]
        for p in procs:
            p.start()
        results = dict(out.get(timeout=30) for _ in range(n))
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        winners = [owner for owner, won in results.items() if won]
        assert len(winners) == 1, results
        check = Store(store_url, migrate=False)
        try:
            assert check.lease_owner(account, 1_000 * S) == winners[0]
            # The dead winner's lease expires and another process takes it over.
            loser = next(o for o in results if o != winners[0])
            assert check.acquire_lease(account, loser, 30.0, 1_000 * S + 30 * S) is True
        finally:
            check.close()


def test_acquire_leases_in_one_transaction(store: Store) -> None:
    s = 1_000_000_000
    assert store.acquire_lease("b", "other", 30, 0)
    held = store.acquire_leases(["a", "b", "c"], "me", 30, 0)
    assert held == {"a": True, "b": False, "c": True}
    # Renewal of leases already held (the bulk UPDATE path) and no steal of b before it expires.
    assert store.acquire_leases(["a", "b", "c"], "me", 30, 20 * s) == {"a": True, "b": False, "c": True}
    assert store.lease_owner("a", 45 * s) == "me"  # renewed at 20 s: valid until 50 s
    # b expired at 30 s: taken over.
    assert store.acquire_leases(["b"], "me", 30, 31 * s) == {"b": True}
    assert store.lease_owner("b", 40 * s) == "me"


def test_record_cycle_writes_snapshots_and_audit_rows_at_once(store: Store) -> None:
    store.record_cycle(
        [("acct", 1, "OK", {"equity": 1.0}), ("acct", 2, "WARN", {"equity": float("nan")})],
        [("acct", 2, "cycle", {"x": 1}, {"state": "WARN"}, ["BTCUSDT: WARN"])],
    )
    snaps = store.snapshots("acct")
    assert [s["state"] for s in snaps] == ["OK", "WARN"]
    assert snaps[1]["figures"]["equity"] is None
    (row,) = store.audit_log(account="acct")
    assert row["event"] == "cycle"
    assert row["reasons"] == ["BTCUSDT: WARN"]
    store.record_cycle([], [])  # nothing to write: no error
