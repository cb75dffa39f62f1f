"""Read routes: shapes, authentication, unknown accounts, the OpenAPI document."""

from __future__ import annotations

import math

import pytest
from service_helpers import ACCOUNT, OTHER, Service

READ_ROUTES = [
    "/api/status",
    "/api/accounts",
    f"/api/accounts/{ACCOUNT}",
    f"/api/accounts/{ACCOUNT}/positions",
    f"/api/accounts/{ACCOUNT}/risk",
    f"/api/accounts/{ACCOUNT}/policy",
    f"/api/accounts/{ACCOUNT}/snapshots",
    "/api/alerts",
    "/api/orders",
    "/api/actions",
    "/api/audit",
    "/metrics",
]


def test_every_read_route_needs_a_valid_token(service: Service) -> None:
    c = service.client
    for path in READ_ROUTES:
        r = c.get(path)
        assert r.status_code == 401, path
        assert r.json() == {"error": "missing bearer token", "status": 401}
        assert r.headers["www-authenticate"] == "Bearer"
        r = c.get(path, headers={"Authorization": "Bearer lg_not-a-token"})
        assert r.status_code == 401, path
        assert r.json()["error"] == "invalid or revoked token"
        assert c.get(path, headers=service.viewer).status_code == 200, path
    # A token in the query string is accepted nowhere.
    assert c.get(f"/api/status?token={service.viewer_token}").status_code == 401
    assert c.get("/healthz").status_code == 200


def test_status_and_accounts(service: Service) -> None:
    c = service.client
    status = c.get("/api/status", headers=service.viewer).json()
    assert status["cycles"] >= 1
    assert status["live"] is True
    assert status["kill_switch"] is False
    assert status["accounts"] == 1  # watched by the guardian
    assert status["started_ns"] > 0
    accounts = c.get("/api/accounts", headers=service.viewer).json()
    assert [a["name"] for a in accounts] == [ACCOUNT, OTHER]
    assert accounts[1]["status"] is None
    acc = accounts[0]
    assert acc["venue"] == "binance-usdm"
    assert acc["status"] == "ok"
    assert acc["state"] == "OK"
    assert acc["live_enabled"] is True
    assert c.get(f"/api/accounts/{ACCOUNT}", headers=service.viewer).json() == acc


def test_positions_carry_the_full_margin_report(service: Service) -> None:
    body = service.client.get(f"/api/accounts/{ACCOUNT}/positions", headers=service.viewer).json()
    assert body["account"] == ACCOUNT
    assert body["status"] == "ok"
    assert body["margin_error"] is None
    assert body["margin"]["venue"] == "binance-usdm"
    assert body["equity"] == pytest.approx(30_000.0)
    (pos,) = body["positions"]
    assert pos["symbol"] == "BTCUSDT"
    assert pos["qty"] == 2.0
    assert pos["state"] == "OK"
    assert pos["leverage"] == pytest.approx(4.0)
    assert pos["target_leverage"] == 3.0
    assert pos["binding_constraint"] == "fixed target"
    m = pos["margin"]
    # The margin report is evaluated at the cycle's mark: it agrees with the guardian's view.
    assert m["mark_price"] == pos["mark"]
    assert m["liquidation_price"] == pytest.approx(pos["liquidation_price"])
    assert pos["bankruptcy_price"] == m["bankruptcy_price"] < pos["liquidation_price"] < pos["mark"]
    assert pos["health"] == pytest.approx(pos["distance"])
    assert 0 < pos["margin_ratio"] < 1
    assert 0 <= pos["p_liq"] < 1e-6


def test_risk_per_position(service: Service) -> None:
    body = service.client.get(f"/api/accounts/{ACCOUNT}/risk", headers=service.viewer).json()
    (pos,) = body["positions"]
    assert pos["vol"] == 0.8
    p = pos["p_liq"]
    assert list(p) == ["1d", "7d", "30d"]
    assert 0 <= p["1d"] <= p["7d"] <= p["30d"] < 1
    # One-day 99 % normal VaR: z_0.99 sigma sqrt(1/365) |notional|.
    notional = 2.0 * pos["mark"]
    assert pos["notional"] == pytest.approx(notional)
    assert pos["var_1d_99"] == pytest.approx(2.326347874 * 0.8 / math.sqrt(365) * notional, rel=1e-6)
    assert pos["es_1d_99"] > pos["var_1d_99"]


def test_policy_snapshots_and_logs(service: Service) -> None:
    c, h = service.client, service.viewer
    pol = c.get(f"/api/accounts/{ACCOUNT}/policy", headers=h).json()
    assert pol["policy"] is None
    assert pol["positions"][0]["target_leverage"] == 3.0
    assert pol["positions"][0]["binding_constraint"] == "fixed target"
    service.wait(lambda: len(c.get(f"/api/accounts/{ACCOUNT}/snapshots", headers=h).json()) >= 3)
    snaps = c.get(f"/api/accounts/{ACCOUNT}/snapshots?limit=2", headers=h).json()
    assert len(snaps) == 2
    assert snaps[0]["ts_ns"] <= snaps[1]["ts_ns"]
    assert snaps[1]["figures"]["positions"][0]["symbol"] == "BTCUSDT"
    later = c.get(f"/api/accounts/{ACCOUNT}/snapshots?since_ns={snaps[1]['ts_ns']}", headers=h).json()
    assert later
    assert all(s["ts_ns"] >= snaps[1]["ts_ns"] for s in later)
    # Audit log: filters and keyset pagination (the guardian appends rows meanwhile: the second
    # page continues exactly where the first ended).
    service.wait(lambda: len(c.get("/api/audit?limit=5", headers=h).json()["items"]) >= 5)
    first = c.get("/api/audit?limit=2", headers=h).json()
    second = c.get(f"/api/audit?limit=2&before_id={first['next']}", headers=h).json()
    assert len(first["items"]) == 2
    assert len(second["items"]) == 2
    assert first["next"] == first["items"][-1]["id"]
    ids = [r["id"] for r in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4
    cycles = c.get(f"/api/audit?account={ACCOUNT}&event=cycle&limit=5", headers=h).json()["items"]
    assert cycles
    assert {r["event"] for r in cycles} == {"cycle"}
    assert c.get("/api/audit?event=nothing-like-this", headers=h).json() == {"items": [], "next": None}
    assert c.get(f"/api/audit?since_ns={2**62}", headers=h).json() == {"items": [], "next": None}
    assert c.get("/api/alerts?unacked=true&limit=5", headers=h).json() == {"items": [], "next": None}
    assert c.get(f"/api/orders?account={ACCOUNT}", headers=h).json() == {"items": [], "next": None}
    assert c.get("/api/actions", headers=h).json() == {"items": [], "next": None}


def test_unknown_account_is_404(service: Service) -> None:
    c = service.client
    for tail in ("", "/positions", "/risk", "/policy", "/snapshots"):
        r = c.get(f"/api/accounts/nope{tail}", headers=service.viewer)
        assert r.status_code == 404
        assert r.json() == {"error": "unknown account 'nope'", "status": 404}


def test_bad_query_is_422_json(service: Service) -> None:
    for q in ("limit=0", "limit=100000", "before_id=0", "before_id=-1", "since_ns=-5", "limit=abc", "offset=2"):
        r = service.client.get(f"/api/audit?{q}", headers=service.viewer)
        assert r.status_code == 422, q
        body = r.json()
        assert body["status"] == 422
        assert body["error"]


def test_watched_elsewhere_account_has_no_margin(service: Service) -> None:
    body = service.client.get(f"/api/accounts/{OTHER}/positions", headers=service.viewer).json()
    assert body["positions"] == []
    assert body["margin"] is None
    assert "does not watch" in body["margin_error"]


def test_openapi_documents_the_models(service: Service) -> None:
    assert service.client.get("/openapi.json").status_code == 401  # docs="token": a read token
    doc = service.client.get("/openapi.json", headers=service.viewer).json()
    paths = doc["paths"]
    for path in (
        "/api/status",
        "/api/accounts",
        "/api/accounts/{name}/positions",
        "/api/accounts/{name}/risk",
        "/api/alerts",
        "/api/audit",
        "/api/calculate",
        "/api/kill-switch",
        "/api/accounts/{name}/mode",
        "/api/accounts/{name}/policy",
        "/api/paper/{name}/shock",
        "/api/events",
        "/metrics",
    ):
        assert path in paths, path
    schemas = doc["components"]["schemas"]
    for model in ("PositionsOut", "PositionOut", "AccountMargin", "RiskOut", "AlertOut", "AuditOut", "ErrorOut"):
        assert model in schemas, model
    ok = paths["/api/accounts/{name}/positions"]["get"]["responses"]
    assert ok["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PositionsOut")
    assert "404" in ok
    assert "401" in ok
    assert "429" in paths["/api/kill-switch"]["post"]["responses"]
