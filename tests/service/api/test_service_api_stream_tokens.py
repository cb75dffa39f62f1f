"""The event stream and the tokens: a revoked token's open stream ends, event ids name their
service run, stream tickets are bounded per token, rate limits are per token (not per name) and
two active tokens cannot share a name."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import ACCOUNT, Service, _service

from levguard.errors import InputError
from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token, new_token
from levguard.service.runtime import paper_demo_runtime
from levguard.service.stream import StreamTickets


def _ids(service: Service, headers: dict[str, str], n: int, timeout: float = 10.0) -> list[str]:
    """The ids of the first ``n`` events of a stream opened with ``headers``."""
    ids: list[str] = []
    deadline = time.monotonic() + timeout
    with service.client.stream("GET", "/api/events", headers=headers) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("id: "):
                ids.append(line[4:])
            if len(ids) >= n or time.monotonic() > deadline:
                break
    return ids


def test_revoking_a_token_ends_its_open_stream(service: Service) -> None:
    rt = service.runtime
    service.client.app.state.sse_recheck_s = 0.1  # type: ignore[attr-defined]
    token = new_token(rt.store, "revoke-me", "read")
    token_id = next(t["id"] for t in rt.store.tokens() if t["name"] == "revoke-me")
    got_after: list[str] = []
    revoked_at = 0.0
    deadline = time.monotonic() + 10.0
    with service.client.stream("GET", "/api/events", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():  # cycles arrive every 50 ms
            if not line.startswith("id: "):
                continue
            if not revoked_at:
                assert rt.store.revoke_token(token_id)
                revoked_at = time.monotonic()
            else:
                got_after.append(line)
            assert time.monotonic() < deadline, "the stream of a revoked token did not end"
    # The stream ended within a recheck or two (a handful of 50 ms cycles), not after 10 s.
    assert time.monotonic() - revoked_at < 5.0
    assert len(got_after) < 40
    assert service.client.get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_event_ids_name_the_run_and_an_id_of_another_run_replays(service: Service) -> None:
    bus = service.runtime.bus
    service.wait(lambda: bus.seq >= 5)
    # Ids are <run>-<seq>.
    first = _ids(service, service.viewer, 1)[0]
    run, _, seq = first.rpartition("-")
    assert run == bus.run
    assert int(seq) >= 1
    # Resuming within this run replays the events after the id.
    last = bus.seq - 3
    ids = _ids(service, {**service.viewer, "Last-Event-ID": f"{bus.run}-{last}"}, 1)
    assert ids == [f"{bus.run}-{last + 1}"]
    # An id of another run (a restart: numbers start again at 1), of this run's future, or a bare
    # number: every recent event is replayed, then the live ones (the stream is not silent).
    oldest = bus.recent[0]["id"]
    for stale in ("1-99999999999", f"{bus.run}-99999999999", "99999999999"):
        ids = _ids(service, {**service.viewer, "Last-Event-ID": stale}, 2, timeout=5.0)
        assert len(ids) == 2, stale
        run, _, seq = ids[0].rpartition("-")
        assert run == bus.run, (stale, ids)
        assert int(seq) <= oldest + 5, (stale, ids)  # the oldest still held


def test_an_id_with_a_non_ascii_digit_replays_instead_of_failing() -> None:
    # '²' (latin-1 0xB2 on the wire) passes str.isdigit() but not int(): it was a 500. The test
    # client sends header values as UTF-8, so a wrapper hands the app the latin-1 bytes a real
    # server passes on.
    async def latin1_headers(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v.decode("utf-8").encode("latin-1")) for k, v in scope["headers"]]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    rt = paper_demo_runtime("sqlite://", interval_s=0.05)
    token = ensure_admin_token(rt.store)
    app = create_app(rt)
    with TestClient(latin1_headers) as client:
        bus = rt.bus
        deadline = time.monotonic() + 10.0
        while bus.seq < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        oldest = bus.recent[0]["id"]
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": f"{bus.run}-²".encode()}
        ids: list[str] = []
        with client.stream("GET", "/api/events", headers=headers) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("id: "):
                    ids.append(line[4:])
                if len(ids) >= 2:
                    break
    run, _, seq = ids[0].rpartition("-")
    assert run == bus.run
    assert int(seq) <= oldest + 5  # replayed from the oldest still held


def test_stream_tickets_are_bounded_per_token(service: Service) -> None:
    c = service.client
    c.app.state.stream_tickets = StreamTickets(per_token=3)  # type: ignore[attr-defined]
    codes = [c.post("/api/stream-ticket", headers=service.viewer).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = c.post("/api/stream-ticket", headers=service.viewer)
    assert r.json()["error"] == "too many stream tickets outstanding for this token (3); retry shortly"
    # Another token still gets its tickets.
    assert c.post("/api/stream-ticket", headers=service.admin).status_code == 200


def test_stream_tickets_are_rate_limited_per_token(service: Service) -> None:
    c = service.client
    c.app.state.stream_tickets = StreamTickets(per_token=10_000)  # type: ignore[attr-defined]
    codes = [c.post("/api/stream-ticket", headers=service.viewer).status_code for _ in range(61)]
    assert codes[:60] == [200] * 60
    assert codes[60] == 429
    assert c.post("/api/stream-ticket", headers=service.admin).status_code == 200


def test_default_ticket_book_cannot_be_exhausted_by_one_token(service: Service) -> None:
    c = service.client
    codes = [c.post("/api/stream-ticket", headers=service.viewer).status_code for _ in range(20)]
    assert codes.count(200) == 16
    assert c.post("/api/stream-ticket", headers=service.admin).status_code == 200


@pytest.fixture
def compute_limited() -> Any:
    yield from _service(compute_rate_per_minute=3)


def test_two_tokens_with_one_name_share_no_budget(compute_limited: Service) -> None:
    svc = compute_limited
    store = svc.runtime.store
    # Two tokens of one name as a store written before names were unique may hold.
    from levguard.service.auth import PREFIX, digest

    twin = PREFIX + "twin-of-the-admin"
    from levguard.live.schema import API_TOKENS

    with store._db.tx("old store", write=True) as conn:  # the store itself refuses the twin now
        conn.execute(
            API_TOKENS.insert().values(
                name="first-start admin",
                scope="read",
                token_hash=digest(twin),
                created_ns=time.time_ns(),
                revoked=False,
            )
        )
    for _ in range(4):
        svc.client.get(f"/api/accounts/{ACCOUNT}/positions", headers={"Authorization": f"Bearer {twin}"})
    assert svc.client.get(f"/api/accounts/{ACCOUNT}/positions", headers=svc.admin).status_code == 200


def test_a_new_token_cannot_take_an_active_tokens_name(service: Service) -> None:
    store = service.runtime.store
    with pytest.raises(InputError, match="an active token is already named 'first-start admin'"):
        new_token(store, "first-start admin", "read")
    # A revoked token's name is free again.
    token_id = next(t["id"] for t in store.tokens() if t["name"] == "viewer")
    assert store.revoke_token(token_id)
    assert new_token(store, "viewer", "read").startswith("lg_")


@pytest.fixture
def quick_store() -> Iterator[Service]:
    yield from _service(store_timeout_s=0.2)


def test_a_stream_outlives_re_checks_the_store_cannot_answer_within_its_grace(
    quick_store: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token is valid; its re-checks get 503 (the store hung): the stream stays open for the
    # grace (1.5 s here, 60 s by default), then ends; it did end at the first re-check.
    svc = quick_store
    app = svc.client.app
    app.state.sse_keepalive_s = app.state.sse_recheck_s = 0.1  # type: ignore[attr-defined]
    app.state.sse_grace_s = 1.5  # type: ignore[attr-defined]
    store = svc.runtime.store
    release = threading.Event()
    look_up = store.token_by_hash
    hung_at = 0.0
    try:
        with svc.client.stream("GET", "/api/events", headers=svc.viewer) as r:
            assert r.status_code == 200
            for _ in r.iter_lines():
                if not hung_at:
                    monkeypatch.setattr(store, "token_by_hash", lambda h: release.wait(30) and look_up(h))
                    hung_at = time.monotonic()
                assert time.monotonic() - hung_at < 10.0, "the stream outlived its grace"
        open_for = time.monotonic() - hung_at
    finally:
        release.set()
    assert 1.4 < open_for < 6.0, f"the stream ended {open_for:.2f} s after the store stopped answering"
