"""A change made through the API and its audit row are one transaction: whatever the request's
answer (a 503 at the deadline included), the change is stored with its row or not at all, and the
guardian uses a new policy only once both are stored (docs/service.md, Audit)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from levguard.live.store_engine import StoreUnavailable
from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token
from levguard.service.runtime import Runtime, paper_demo_runtime

ACCOUNT = "paper-btc"
Svc = tuple[TestClient, Runtime, dict[str, str], Path]


class _Locked:
    """Right after the wrapped store write returns, another connection takes the SQLite write lock
    for ``hold_s`` (a backup, another tool): a second transaction of the same change waits for it."""

    def __init__(self, db: Path, hold_s: float) -> None:
        self.db, self.hold_s = db, hold_s
        self.taken = threading.Event()
        self.threads: list[threading.Thread] = []

    def _hold(self) -> None:
        other = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        other.execute("BEGIN IMMEDIATE")
        self.taken.set()
        time.sleep(self.hold_s)
        other.execute("ROLLBACK")
        other.close()

    def after(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            out = fn(*args, **kwargs)
            t = threading.Thread(target=self._hold, daemon=True)
            t.start()
            self.threads.append(t)
            self.taken.wait(5)
            return out

        return call

    def join(self) -> None:
        for t in self.threads:
            t.join(self.hold_s + 5)


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[Svc]:
    db = tmp_path / "guard.db"
    rt = paper_demo_runtime(f"sqlite:///{db}", interval_s=0.05)
    admin = {"Authorization": f"Bearer {ensure_admin_token(rt.store)}"}
    with TestClient(create_app(rt, store_timeout_s=1.0), raise_server_exceptions=False) as client:
        assert client.get("/api/status", headers=admin).status_code == 200
        yield client, rt, admin, db


def _rows(rt: Runtime, event: str) -> int:
    return len(rt.store.audit_log(event=event, limit=100))


def _locked_after(
    svc: Svc, monkeypatch: pytest.MonkeyPatch, method: str, send: Callable[[], Any], read: Callable[[], Any]
) -> tuple[Any, Any]:
    # ``send()`` with the store's ``method`` followed by another connection's lock; ``read()``
    # while that lock is still held (WAL: readers are not blocked).
    _, rt, _, db = svc
    lock = _Locked(db, 3.0)
    monkeypatch.setattr(rt.store, method, lock.after(getattr(rt.store, method)))
    try:
        answer = send()
        return answer, read()
    finally:
        lock.join()


def test_kill_switch_and_its_audit_row_commit_together(sqlite_service: Svc, monkeypatch: pytest.MonkeyPatch) -> None:
    client, rt, admin, _ = sqlite_service
    r, (on, rows) = _locked_after(
        sqlite_service,
        monkeypatch,
        "set_kill_switch",
        lambda: client.post("/api/kill-switch", json={"on": True}, headers=admin),
        lambda: (rt.store.kill_switch(ACCOUNT), _rows(rt, "kill_switch")),
    )
    assert on == (rows == 1), f"answer {r.status_code}: kill switch {on} with {rows} kill_switch audit rows"
    assert r.status_code == (200 if on else 503), r.text


def test_mode_and_its_audit_row_commit_together(sqlite_service: Svc, monkeypatch: pytest.MonkeyPatch) -> None:
    client, rt, admin, _ = sqlite_service
    was = rt.store.account(ACCOUNT)["live_enabled"]
    r, (changed, rows) = _locked_after(
        sqlite_service,
        monkeypatch,
        "set_live",
        lambda: client.post(f"/api/accounts/{ACCOUNT}/mode", json={"live": not was, "confirm": ACCOUNT}, headers=admin),
        lambda: (rt.store.account(ACCOUNT)["live_enabled"] != was, _rows(rt, "mode")),
    )
    assert changed == (rows == 1), f"answer {r.status_code}: live flag changed {changed} with {rows} mode rows"


def test_policy_is_used_only_once_stored_with_its_audit_row(
    sqlite_service: Svc, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, rt, admin, _ = sqlite_service
    new = {"policy": {"type": "fixed", "leverage": 2}}
    setup = next(s for s in rt.guardian.accounts if s.name == ACCOUNT)
    r, (stored, rows, in_use) = _locked_after(
        sqlite_service,
        monkeypatch,
        "set_policy",
        lambda: client.put(f"/api/accounts/{ACCOUNT}/policy", json=new, headers=admin),
        lambda: (rt.store.account(ACCOUNT)["policy"] == new, _rows(rt, "policy"), setup.policy_in_use == new),
    )
    assert stored == (rows == 1), f"answer {r.status_code}: policy stored {stored} with {rows} policy rows"
    assert in_use == stored == (r.status_code == 200), f"answer {r.status_code}: in use {in_use}, stored {stored}"


def test_a_shock_whose_audit_row_fails_is_not_applied(sqlite_service: Svc, monkeypatch: pytest.MonkeyPatch) -> None:
    client, rt, admin, _ = sqlite_service
    venue = rt.venue(ACCOUNT)

    def down(*_: Any, **__: Any) -> Any:
        raise StoreUnavailable("store unavailable during audit: test")

    monkeypatch.setattr(rt.store, "audit", down)
    before = venue._feeds["BTCUSDT"].source  # type: ignore[attr-defined]
    r = client.post(f"/api/paper/{ACCOUNT}/shock", json={"symbol": "BTCUSDT", "drop": 0.2, "ticks": 3}, headers=admin)
    assert r.status_code == 503, r.text
    assert venue._feeds["BTCUSDT"].source == before, "the price move ran without its audit row"  # type: ignore[attr-defined]
