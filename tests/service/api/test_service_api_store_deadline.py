"""A store that blocks (a hung PostgreSQL server, a SQLite file another process holds locked) must
not freeze the service: its calls run off the event loop, so ``/healthz`` answers at once, and
each request waits for the store at most ``store_timeout_s``, then gets 503 ``database
unavailable`` (docs/service.md, Failure model)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import Service, _service

from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token
from levguard.service.runtime import paper_demo_runtime


def _blocking(
    fn: Callable[..., Any], release: threading.Event, hold_s: float, started: threading.Event | None = None
) -> Callable[..., Any]:
    # The store method, hung until ``release`` is set (at most hold_s: the old code, which called
    # the store on the event loop, must come back for its test to fail rather than hang); it sets
    # ``started`` when called.
    def call(*args: Any, **kwargs: Any) -> Any:
        if started is not None:
            started.set()
        release.wait(hold_s)
        return fn(*args, **kwargs)

    return call


def _hang(monkeypatch: pytest.MonkeyPatch, store: Any, method: str) -> threading.Event:
    # The store's ``method`` hung (30 s at most) until the returned event is set.
    release = threading.Event()
    monkeypatch.setattr(store, method, _blocking(getattr(store, method), release, 30.0))
    return release


def _in_background(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    return t, out


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    got = fn()
    return got, time.monotonic() - t0


@pytest.fixture
def quick_service() -> Iterator[Service]:
    yield from _service(store_timeout_s=0.5, store_threads=2)


def test_healthz_answers_while_a_token_lookup_hangs(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(
        service.runtime.store, "token_by_hash", _blocking(service.runtime.store.token_by_hash, release, 3.0)
    )
    try:
        t, _ = _in_background(lambda: service.client.get("/api/status", headers=service.viewer))
        time.sleep(0.3)  # the status request is waiting for the store
        health, took = _timed(lambda: service.client.get("/healthz"))
        assert health.status_code == 200
        assert took < 1.0, f"/healthz took {took:.2f} s behind a hung store call"
    finally:
        release.set()
    t.join(10)


def test_a_hung_store_answers_503_within_the_deadline(quick_service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    s = quick_service
    release = threading.Event()
    store = s.runtime.store
    monkeypatch.setattr(store, "token_by_hash", _blocking(store.token_by_hash, release, 30.0))
    try:
        # More requests than store threads: the later ones wait for a slot, within the same deadline.
        calls = [_in_background(lambda: s.client.get("/api/status", headers=s.viewer)) for _ in range(3)]
        got, took = _timed(lambda: s.client.post("/api/kill-switch", json={"on": True}, headers=s.admin))
        assert got.status_code == 503, got.text
        assert got.json()["error"].startswith("database unavailable: ")
        assert took < 2.0, took
        health, took = _timed(lambda: s.client.get("/healthz"))
        assert health.status_code == 200
        assert took < 1.0
        for t, out in calls:
            t.join(5)
            assert out, "no answer"
            assert out[0].status_code == 503, out[0].text
    finally:
        release.set()
    # Once the store answers again, so does the service (the hung calls gave their threads back).
    assert s.wait(lambda: s.client.get("/api/status", headers=s.viewer).status_code == 200, timeout=5)


def test_a_hung_write_leaves_the_reads_and_the_health_check_answering(
    quick_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = quick_service
    release = threading.Event()
    store = s.runtime.store
    started = threading.Event()
    monkeypatch.setattr(store, "set_kill_switch", _blocking(store.set_kill_switch, release, 30.0, started))
    try:
        t, out = _in_background(lambda: s.client.post("/api/kill-switch", json={"on": True}, headers=s.admin))
        assert started.wait(5), "the kill switch's write never started"
        status, took = _timed(lambda: s.client.get("/api/status", headers=s.viewer))
        assert status.status_code == 200, status.text
        assert took < 1.0, took
        t.join(5)
        assert out[0].status_code == 503, out[0].text
    finally:
        release.set()


@contextlib.contextmanager
def _sqlite_app(tmp_path: Path, **kwargs: Any) -> Iterator[tuple[TestClient, dict[str, str], Any, Path]]:
    # The paper service over a SQLite file (another process can lock it), its first read answered.
    db = tmp_path / "guard.db"
    rt = paper_demo_runtime(f"sqlite:///{db}", interval_s=0.05)
    admin = {"Authorization": f"Bearer {ensure_admin_token(rt.store)}"}
    app = create_app(rt, **kwargs)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/status", headers=admin).status_code == 200
        yield client, admin, app, db


@contextlib.contextmanager
def _locked(db: Path, begin: str) -> Iterator[None]:
    # Another process's write transaction on the file (a backup, another tool) for the block.
    other = sqlite3.connect(db, isolation_level=None, timeout=30)
    other.execute(begin)
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_sqlite_store_locked_by_another_process(tmp_path: Path) -> None:
    with _sqlite_app(tmp_path, store_timeout_s=1.0) as (client, admin, _, _db):
        with _locked(_db, "BEGIN EXCLUSIVE"):
            t, out = _in_background(lambda: client.post("/api/kill-switch", json={"on": True}, headers=admin))
            time.sleep(0.2)
            health, took = _timed(lambda: client.get("/healthz"))
            assert health.status_code == 200
            assert took < 1.0, took
            t.join(5)
            assert out[0].status_code == 503
            assert out[0].json()["error"].startswith("database unavailable")
        assert client.get("/api/status", headers=admin).status_code == 200


def test_the_deadline_is_checked() -> None:
    from levguard.errors import InputError

    rt = paper_demo_runtime()
    for bad in ({"store_timeout_s": 0.0}, {"store_timeout_s": float("nan")}, {"store_threads": 0}):
        with pytest.raises(InputError):
            create_app(rt, **bad)  # type: ignore[arg-type]
    rt.guardian.close()


def test_hung_reads_leave_the_kill_switch_and_the_token_checks_their_threads(
    quick_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = quick_service
    release = _hang(monkeypatch, s.runtime.store, "audit_log")
    try:
        # As many hung reads as shared store threads (2): every shared thread is taken.
        calls = [_in_background(lambda: s.client.get("/api/audit", headers=s.viewer)) for _ in range(2)]
        time.sleep(0.2)
        got, took = _timed(lambda: s.client.post("/api/kill-switch", json={"on": True}, headers=s.admin))
        assert got.status_code == 200, got.text
        assert took < 0.5, took
        assert s.runtime.store.kill_switch("paper-btc")
        for t, out in calls:
            t.join(5)
            assert out[0].status_code == 503, out[0].text
    finally:
        release.set()


def test_kill_switch_presses_refused_by_a_locked_sqlite_file_leave_the_token_checks_answering(tmp_path: Path) -> None:
    with (
        _sqlite_app(tmp_path, store_timeout_s=1.0, store_threads=2) as (client, admin, app, db),
        _locked(db, "BEGIN IMMEDIATE"),
    ):
        presses = [
            _in_background(lambda: client.post("/api/kill-switch", json={"on": True}, headers=admin)) for _ in range(4)
        ]
        for t, out in presses:
            t.join(5)
            assert out[0].status_code == 503, out[0].text
        # The refused writes gave their threads back at their deadline (the database waited
        # no longer than it): a request needing a token look-up and a read answers at once.
        status, took = _timed(lambda: client.get("/api/status", headers=admin))
        assert status.status_code == 200, status.text
        assert took < 0.5, took
        # Every store thread is free again within moments of the deadline (was: 15 s, the
        # busy timeout, while the lock is held).
        pools = app.state.store_pools.values()
        deadline = time.monotonic() + 1.0
        while not all(p._slots is None or p._slots._value == p.threads for p in pools):
            assert time.monotonic() < deadline, "a refused write still holds its store thread"
            time.sleep(0.02)


def _slow(fn: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return fn(*args, **kwargs)

    return call


def test_the_deadline_is_the_requests_not_each_store_calls(
    quick_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two store calls of 0.35 s each (the token, the page) under a 0.5 s deadline: 503 by 0.5 s,
    # not a 200 after 0.7 s (each call had its own 0.5 s).
    s = quick_service
    store = s.runtime.store
    monkeypatch.setattr(store, "token_by_hash", _slow(store.token_by_hash, 0.35))
    monkeypatch.setattr(store, "audit_log", _slow(store.audit_log, 0.35))
    got, took = _timed(lambda: s.client.get("/api/audit", headers=s.viewer))
    assert got.status_code == 503, (got.status_code, f"{took:.2f} s")
    assert took < 0.65, took


def test_a_request_looks_its_token_up_once(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    store = service.runtime.store
    looked: list[str] = []
    look_up = store.token_by_hash
    monkeypatch.setattr(store, "token_by_hash", lambda h: looked.append(h) or look_up(h))
    for method, path, body in [
        ("GET", "/api/audit?limt=5", None),  # an unknown parameter: 422
        ("POST", "/api/kill-switch", b'{"on": 0}'),  # a body of the wrong type: 422
        ("GET", "/api/audit", None),
    ]:
        looked.clear()
        r = service.client.request(
            method, path, content=body, headers={**service.admin, "Content-Type": "application/json"}
        )
        assert r.status_code in (200, 422), r.text
        assert len(looked) == 1, f"{method} {path}: {len(looked)} token look-ups"
