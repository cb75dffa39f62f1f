"""Service hardening (issue 14): security headers, where the API documentation is served, 405s
from the API itself, malformed JSON, unknown query parameters, single-use stream tickets, keyset
paging, the rate limit of the computed reads, re-enabling an account, the health check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import ACCOUNT, OTHER, Service, _service

from levguard.errors import InputError
from levguard.service.app import create_app
from levguard.service.middleware import DASHBOARD_CSP, DEFAULT_CSP
from levguard.service.runtime import paper_demo_runtime
from levguard.service.stream import StreamTickets

SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "margin_mode": "cross",
    "wallet_balance": 10_000,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60_000, "mark_price": 58_000}],
}
BODY_ROUTES: list[tuple[str, str]] = [
    ("POST", "/api/calculate"),
    ("POST", "/api/kill-switch"),
    ("POST", f"/api/accounts/{ACCOUNT}/mode"),
    ("PUT", f"/api/accounts/{ACCOUNT}/policy"),
    ("POST", f"/api/paper/{ACCOUNT}/shock"),
    ("POST", f"/api/accounts/{ACCOUNT}/enable"),
]


def _assert_secure(headers: Any, csp: str = DEFAULT_CSP) -> None:
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"] == csp
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


# ---------------------------------------------------------------------- headers


def test_security_headers_on_every_kind_of_response(service: Service) -> None:
    c = service.client
    for r in (
        c.get("/api/status", headers=service.viewer),  # JSON
        c.get("/api/status"),  # 401
        c.get("/api/nope", headers=service.viewer),  # 404
        c.request("DELETE", "/api/kill-switch", headers=service.admin),  # 405
        c.post("/api/calculate", json={"pad": "x" * 70_000}, headers=service.viewer),  # 413 (middleware)
        c.get("/healthz"),
        c.get("/metrics", headers=service.viewer),
        c.get("/app.js"),
    ):
        _assert_secure(r.headers)
    page = c.get("/")
    assert page.headers["content-type"].startswith("text/html")
    _assert_secure(page.headers, DASHBOARD_CSP)
    # The policy moved from the page's meta tag into the header.
    assert 'http-equiv="Content-Security-Policy"' not in page.text
    ticket = c.post("/api/stream-ticket", headers=service.viewer).json()["ticket"]
    with c.stream("GET", f"/api/events?ticket={ticket}") as r:
        assert r.status_code == 200
        _assert_secure(r.headers)


def test_an_unexpected_error_is_a_500_with_the_headers(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> list[dict[str, Any]]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(service.runtime.store, "accounts", boom)
    r = service.client.get("/api/accounts", headers=service.viewer)
    assert r.status_code == 500
    assert r.json() == {"error": "internal error (logged on the server)", "status": 500}
    _assert_secure(r.headers)


# ---------------------------------------------------------------------- API documentation


@pytest.fixture(params=["token", "off", "public"])
def docs_service(request: pytest.FixtureRequest) -> Iterator[Service]:
    yield from _service(docs=request.param)


def test_docs_setting(docs_service: Service) -> None:
    c, mode = docs_service.client, docs_service.client.app.state.docs  # type: ignore[attr-defined]
    anonymous = c.get("/openapi.json")
    with_token = c.get("/openapi.json", headers=docs_service.viewer)
    pages = [c.get("/docs"), c.get("/redoc")]
    if mode == "token":
        assert anonymous.status_code == 401
        assert with_token.status_code == 200
        assert "/api/status" in with_token.json()["paths"]
        assert [p.status_code for p in pages] == [404, 404]
    elif mode == "off":
        assert anonymous.status_code == 404
        assert with_token.status_code == 404
        assert [p.status_code for p in pages] == [404, 404]
    else:
        assert anonymous.status_code == 200
        assert [p.status_code for p in pages] == [200, 200]
        for page in pages:
            csp = page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp
            assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
            assert page.headers["x-frame-options"] == "DENY"
        assert "'sha256-" in pages[0].headers["content-security-policy"]  # Swagger UI's inline script


def test_docs_setting_is_validated() -> None:
    with pytest.raises(InputError, match="docs must be token, off or public"):
        create_app(paper_demo_runtime("sqlite://"), docs="everyone")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- methods, JSON, query


def test_other_methods_get_405_with_allow_from_the_api(service: Service) -> None:
    c = service.client
    cases = [
        ("OPTIONS", "/api/kill-switch", "POST"),
        ("GET", "/api/kill-switch", "POST"),
        ("OPTIONS", f"/api/accounts/{ACCOUNT}/policy", "GET, PUT"),
        ("DELETE", f"/api/accounts/{ACCOUNT}", "GET"),
        ("POST", "/api/status", "GET"),
        ("PATCH", f"/api/paper/{ACCOUNT}/shock", "POST"),
        ("GET", "/api/stream-ticket", "POST"),
    ]
    for method, path, allow in cases:
        r = c.request(method, path, headers=service.admin)
        assert r.status_code == 405, (method, path)
        assert r.headers["allow"] == allow, (method, path)
        assert r.json() == {
            "error": f"method {method} not allowed on {path} (allowed: {allow})",
            "status": 405,
        }
    r = c.request("OPTIONS", "/api/no-such-route", headers=service.admin)
    assert r.status_code == 404
    assert r.json()["status"] == 404


@pytest.fixture
def cors_service() -> Iterator[Service]:
    yield from _service(cors_origins=("https://grafana.example",))


def test_cors_preflight_when_origins_are_configured(cors_service: Service) -> None:
    c = cors_service.client
    preflight = {"Origin": "https://grafana.example", "Access-Control-Request-Method": "POST"}
    r = c.options("/api/kill-switch", headers={**preflight, "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://grafana.example"
    assert "POST" in r.headers["access-control-allow-methods"]
    r = c.options("/api/kill-switch", headers={**preflight, "Origin": "https://evil.example"})
    assert r.status_code == 400
    # A plain OPTIONS (no preflight) is still the API's 405.
    assert c.options("/api/kill-switch").status_code == 405


def test_malformed_json_is_400_on_every_body_route(service: Service) -> None:
    c = service.client
    doc = c.get("/openapi.json", headers=service.viewer).json()
    for method, path in BODY_ROUTES:
        r = c.request(
            method, path, content=b'{"on": tru', headers={**service.admin, "Content-Type": "application/json"}
        )
        assert r.status_code == 400, path
        assert r.json()["error"].startswith("invalid JSON body"), path
    # ... and documented, with the 413, on every operation that takes a body.
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "requestBody" in op:
                assert {"400", "413"} <= set(op["responses"]), (method, path)


def test_unknown_query_parameters_are_refused(service: Service) -> None:
    c = service.client
    r = c.get("/api/audit?limt=5", headers=service.viewer)
    assert r.status_code == 422
    assert r.json()["error"].startswith("unknown query parameter(s) 'limt'")
    r = c.get("/api/audit?offset=5", headers=service.viewer)
    assert r.status_code == 422
    assert "before_id" in r.json()["error"]
    r = c.get(f"/api/accounts?token={service.viewer_token}")
    assert r.status_code == 401
    assert "not accepted" in r.json()["error"]


# ---------------------------------------------------------------------- stream tickets


def _stream_status(c: TestClient, url: str) -> int:
    with c.stream("GET", url) as r:
        return r.status_code


def test_stream_tickets_are_single_use(service: Service) -> None:
    c = service.client
    assert c.post("/api/stream-ticket").status_code == 401  # a ticket needs a token (header)
    body = c.post("/api/stream-ticket", headers=service.viewer).json()
    assert body["expires_in_s"] == 30.0
    ticket = body["ticket"]
    assert ticket.startswith("st_")
    assert _stream_status(c, f"/api/events?ticket={ticket}") == 200
    r = c.get(f"/api/events?ticket={ticket}")  # spent
    assert r.status_code == 401
    assert r.json()["error"] == "invalid, used or expired stream ticket"
    # Stored as digests only.
    book: StreamTickets = c.app.state.stream_tickets  # type: ignore[attr-defined]
    fresh = c.post("/api/stream-ticket", headers=service.viewer).json()["ticket"]
    assert fresh not in repr(book.__dict__)


def test_stream_tickets_expire_and_die_with_their_token(service: Service) -> None:
    c, rt = service.client, service.runtime
    c.app.state.stream_tickets = StreamTickets(ttl_s=0.1)  # type: ignore[attr-defined]
    ticket = c.post("/api/stream-ticket", headers=service.viewer).json()["ticket"]
    time.sleep(0.2)
    assert c.get(f"/api/events?ticket={ticket}").status_code == 401
    ticket = c.post("/api/stream-ticket", headers=service.viewer).json()["ticket"]
    viewer_id = next(t["id"] for t in rt.store.tokens() if t["name"] == "viewer")
    assert rt.store.revoke_token(viewer_id)
    r = c.get(f"/api/events?ticket={ticket}")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid or revoked token"


def test_outstanding_tickets_are_bounded(service: Service) -> None:
    c = service.client
    c.app.state.stream_tickets = StreamTickets(max_outstanding=2)  # type: ignore[attr-defined]
    codes = [c.post("/api/stream-ticket", headers=service.viewer).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# ---------------------------------------------------------------------- keyset paging

PAGER = "pager"  # an account of its own: the running guardian writes nothing for it


def _pages(c: TestClient, h: dict[str, str], url: str, key: str, between: Any = None) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor = None
    while True:
        sep = "&" if "?" in url else "?"
        body = c.get(url + (f"{sep}{key}={cursor}" if cursor is not None else ""), headers=h).json()
        pages.append(body["items"])
        if between is not None:
            between()
        cursor = body["next"]
        if cursor is None:
            return pages


def test_alert_pages_do_not_shift_while_alerts_are_appended(service: Service) -> None:
    c, h, store = service.client, service.viewer, service.runtime.store
    ids = [store.add_alert(PAGER, 1_000 + i, "info", "test", f"alert {i}") for i in range(7)]
    newer: list[int] = []
    pages = _pages(
        c,
        h,
        f"/api/alerts?account={PAGER}&limit=3",
        "before_id",
        between=lambda: newer.append(store.add_alert(PAGER, 9_000, "info", "test", "newer")),
    )
    got = [[a["id"] for a in page] for page in pages]
    expected = sorted(ids, reverse=True)
    assert got == [expected[:3], expected[3:6], expected[6:]]
    assert not set(newer) & {i for page in got for i in page}
    assert c.get(f"/api/alerts?account={PAGER}&limit=7&before_id={min(ids)}", headers=h).json() == {
        "items": [],
        "next": None,
    }


def test_order_pages_follow_intent_then_client_order_id(service: Service) -> None:
    c, h, store = service.client, service.viewer, service.runtime.store
    # Two orders share each intent time: the client order id breaks the tie.
    rows = [(1_000 + i // 2, f"lg-{i:02d}") for i in range(7)]
    for ns, cid in rows:
        assert store.record_intent(PAGER, cid, "BTCUSDT", "sell", 0.1, ns, "test")
    pages = _pages(
        c,
        h,
        f"/api/orders?account={PAGER}&limit=2",
        "before",
        between=lambda: store.record_intent(PAGER, f"lg-new-{time.monotonic_ns()}", "BTCUSDT", "sell", 0.1, 5_000, "t"),
    )
    got = [o["client_order_id"] for page in pages for o in page]
    assert got == [cid for _, cid in sorted(rows, reverse=True)]
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    # The cursor is opaque to clients; a malformed one is a 422.
    assert c.get("/api/orders?before=abc", headers=h).status_code == 422


def test_action_and_audit_pages(service: Service) -> None:
    c, h, store = service.client, service.viewer, service.runtime.store
    events = ["deleverage", "deleverage_dry_run", "deleverage_skipped", "cycle"] * 3
    ids = [store.audit(PAGER, 1_000 + i, e, {}, {}, ["test"]) for i, e in enumerate(events)]
    actions = _pages(c, h, f"/api/actions?account={PAGER}&limit=4", "before_id")
    got = [r["id"] for page in actions for r in page]
    assert got == sorted((i for i, e in zip(ids, events, strict=True) if e != "cycle"), reverse=True)
    assert [len(p) for p in actions] == [4, 4, 1]
    audit = _pages(c, h, f"/api/audit?account={PAGER}&limit=5", "before_id")
    assert [r["id"] for page in audit for r in page] == sorted(ids, reverse=True)


# ---------------------------------------------------------------------- computed reads


@pytest.fixture
def compute_limited() -> Iterator[Service]:
    yield from _service(compute_rate_per_minute=3)


def test_computed_reads_are_rate_limited_per_token(compute_limited: Service) -> None:
    c, viewer, admin = compute_limited.client, compute_limited.viewer, compute_limited.admin
    codes = [
        c.post("/api/calculate", json=SPEC, headers=viewer).status_code,
        c.get(f"/api/accounts/{ACCOUNT}/risk", headers=viewer).status_code,
        c.get(f"/api/accounts/{ACCOUNT}/positions", headers=viewer).status_code,
        c.post("/api/calculate", json=SPEC, headers=viewer).status_code,
    ]
    assert codes == [200, 200, 200, 429]
    r = c.post("/api/calculate", json=SPEC, headers=viewer)
    assert r.json() == {"error": "rate limit of the computed reads: 3 per minute", "status": 429}
    # Another token has its own budget; plain reads are not limited.
    assert c.post("/api/calculate", json=SPEC, headers=admin).status_code == 200
    assert c.get("/api/status", headers=viewer).status_code == 200
    doc = c.get("/openapi.json", headers=admin).json()
    for path, method in (("/api/calculate", "post"), ("/api/accounts/{name}/risk", "get")):
        assert "429" in doc["paths"][path][method]["responses"]


# ---------------------------------------------------------------------- enable


def test_enable_re_enables_an_account_disabled_by_an_auth_failure(service: Service) -> None:
    c, h, rt = service.client, service.admin, service.runtime
    faults = rt.venue(ACCOUNT).faults
    rt.submit(faults.fail, "fetch_positions", times=None, error="auth").result(5)  # on the guardian's thread
    service.wait(lambda: c.get(f"/api/accounts/{ACCOUNT}", headers=h).json()["status"] == "disabled")
    rt.submit(faults.clear).result(5)
    time.sleep(0.2)
    # Watched again, but acting stays disabled until an operator re-enables it.
    reason = c.get(f"/api/accounts/{ACCOUNT}", headers=h).json()["disabled_reason"]
    assert "authentication failed" in reason or "API key" in reason
    body = {"confirm": ACCOUNT}
    assert c.post(f"/api/accounts/{ACCOUNT}/enable", json=body, headers=service.viewer).status_code == 403
    r = c.post(f"/api/accounts/{ACCOUNT}/enable", json={"confirm": "yes"}, headers=h)
    assert r.status_code == 409
    assert c.post("/api/accounts/nope/enable", json={"confirm": "nope"}, headers=h).status_code == 404
    assert c.post(f"/api/accounts/{OTHER}/enable", json={"confirm": OTHER}, headers=h).status_code == 404
    r = c.post(f"/api/accounts/{ACCOUNT}/enable", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"account": ACCOUNT, "enabled": True}
    assert c.get(f"/api/accounts/{ACCOUNT}", headers=h).json()["disabled_reason"] is None
    assert rt.guardian.disabled(ACCOUNT) is None
    service.wait(lambda: c.get(f"/api/accounts/{ACCOUNT}", headers=h).json()["status"] == "ok")
    (row,) = c.get(f"/api/audit?account={ACCOUNT}&event=enabled", headers=h).json()["items"]
    assert "first-start admin" in " ".join(row["reasons"])
    assert any(e["kind"] == "control" and e["data"].get("kind") == "enable" for e in rt.bus.recent)


# ---------------------------------------------------------------------- health


def test_healthz_reports_a_stopped_guardian(service: Service) -> None:
    c, rt = service.client, service.runtime
    assert c.get("/healthz").json()["guardian"] == "running"
    rt.submit(lambda: asyncio.get_running_loop().stop())  # the guardian's loop dies (a bug)
    service.wait(lambda: not rt.running)
    r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["guardian"] == "stopped"
