"""Write routes: scopes, rate limit, confirmation, body limits, kill switch, policy, shock."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from service_helpers import ACCOUNT, OTHER, Service

SHOCK = {"symbol": "BTCUSDT", "drop": 0.2, "ticks": 5}
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/kill-switch", {"on": True}),
    ("POST", "/api/alerts/1/ack", {}),
    ("POST", f"/api/accounts/{ACCOUNT}/mode", {"live": False, "confirm": ACCOUNT}),
    ("PUT", f"/api/accounts/{ACCOUNT}/policy", {"policy": {"type": "fixed", "leverage": 2}}),
    ("POST", f"/api/paper/{ACCOUNT}/shock", SHOCK),
]


def _stored(service: Service) -> dict[str, Any]:
    row = service.runtime.store.account(ACCOUNT)
    assert row is not None
    return row


def test_writes_need_an_admin_token(service: Service) -> None:
    c = service.client
    for method, path, body in WRITES:
        assert c.request(method, path, json=body).status_code == 401, path
        r = c.request(method, path, json=body, headers=service.viewer)
        assert r.status_code == 403, path
        assert r.json() == {"error": "this route needs an admin token", "status": 403}
    # Nothing changed.
    assert c.get("/api/status", headers=service.viewer).json()["kill_switch"] is False


def test_write_rate_limit(limited_service: Service) -> None:
    c = limited_service.client
    codes = [
        c.post("/api/kill-switch", json={"on": False}, headers=limited_service.admin).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    r = c.post("/api/kill-switch", json={"on": True}, headers=limited_service.admin)
    assert r.json() == {"error": "write rate limit: 3 per minute", "status": 429}
    # Reads are not limited.
    assert c.get("/api/status", headers=limited_service.admin).status_code == 200


def test_body_limits_and_validation(service: Service) -> None:
    c, h = service.client, service.admin
    big = {"policy": {"type": "fixed", "leverage": 2}, "pad": "x" * 70_000}
    r = c.put(f"/api/accounts/{ACCOUNT}/policy", json=big, headers=h)
    assert r.status_code == 413
    assert r.json()["status"] == 413
    r = c.post("/api/calculate", json={"pad": "x" * 70_000}, headers=service.viewer)
    assert r.status_code == 413
    for body in ({}, {"on": "maybe"}, {"on": True, "extra": 1}, [1, 2]):
        r = c.post("/api/kill-switch", json=body, headers=h)
        assert r.status_code == 422, body
        assert r.json()["status"] == 422
    r = c.post("/api/kill-switch", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("invalid JSON body")
    r = c.post("/api/kill-switch", json={"on": 0}, headers=h)  # strict: 0 is not a boolean
    assert r.status_code == 422
    r = c.post(f"/api/paper/{ACCOUNT}/shock", json={**SHOCK, "ticks": 0}, headers=h)
    assert r.status_code == 422
    r = c.post(f"/api/paper/{ACCOUNT}/shock", json={**SHOCK, "symbol": "ETHUSDT"}, headers=h)
    assert r.status_code == 400
    assert "symbol must be one of BTCUSDT" in r.json()["error"]


def test_mode_needs_the_confirmation(service: Service) -> None:
    c, h = service.client, service.admin
    r = c.post(f"/api/accounts/{ACCOUNT}/mode", json={"live": False, "confirm": "yes"}, headers=h)
    assert r.status_code == 409
    assert r.json() == {"error": f"confirm must repeat the account name {ACCOUNT!r} to switch it", "status": 409}
    assert _stored(service)["live_enabled"] is True
    r = c.post(f"/api/accounts/{ACCOUNT}/mode", json={"live": False, "confirm": ACCOUNT}, headers=h)
    assert r.status_code == 200
    assert r.json() == {"account": ACCOUNT, "live_enabled": False, "effective_live": False}
    assert _stored(service)["live_enabled"] is False
    r = c.post(f"/api/accounts/{ACCOUNT}/mode", json={"live": True, "confirm": ACCOUNT}, headers=h)
    assert r.json()["effective_live"] is True
    (row, _) = c.get(f"/api/audit?event=mode&account={ACCOUNT}", headers=h).json()["items"]
    assert row["decision"] == {"live_enabled": True, "effective_live": True}
    assert row["inputs"]["by"] == "first-start admin"
    r = c.post("/api/accounts/nope/mode", json={"live": True, "confirm": "nope"}, headers=h)
    assert r.status_code == 404


def test_kill_switch_stops_orders(service: Service) -> None:
    c, h, rt = service.client, service.admin, service.runtime
    assert c.post("/api/kill-switch", json={"on": True, "account": ACCOUNT}, headers=h).json() == {
        "account": ACCOUNT,
        "on": True,
    }
    assert rt.store.kill_switch(ACCOUNT)
    assert c.get(f"/api/accounts/{ACCOUNT}", headers=h).json()["kill_switch"] is True
    assert c.post(f"/api/paper/{ACCOUNT}/shock", json=SHOCK, headers=h).status_code == 200
    skipped = service.wait(lambda: c.get("/api/audit?event=deleverage_skipped", headers=h).json()["items"])
    assert skipped[0]["decision"]["skipped"] == "kill_switch"
    assert c.get("/api/orders", headers=h).json()["items"] == []
    actions = c.get("/api/actions", headers=h).json()["items"]
    assert actions
    assert {a["event"] for a in actions} == {"deleverage_skipped"}
    # Switched off, the guardian deleverages (live paper account): an order is recorded.
    assert c.post("/api/kill-switch", json={"on": False, "account": ACCOUNT}, headers=h).status_code == 200
    orders = service.wait(lambda: c.get(f"/api/orders?account={ACCOUNT}", headers=h).json()["items"])
    assert orders[0]["side"] == "sell"
    assert orders[0]["symbol"] == "BTCUSDT"
    assert any(a["event"] == "deleverage" for a in c.get("/api/actions?limit=50", headers=h).json()["items"])
    audit = c.get("/api/audit?event=kill_switch", headers=h).json()["items"]
    assert [r["decision"]["on"] for r in audit] == [False, True]


def test_global_kill_switch(service: Service) -> None:
    c, h = service.client, service.admin
    assert c.post("/api/kill-switch", json={"on": True}, headers=h).json() == {"account": None, "on": True}
    assert c.get("/api/status", headers=h).json()["kill_switch"] is True
    assert c.get(f"/api/accounts/{ACCOUNT}", headers=h).json()["kill_switch"] is False  # its own switch
    assert service.runtime.store.kill_switch(ACCOUNT)
    r = c.post("/api/kill-switch", json={"on": True, "account": "nope"}, headers=h)
    assert r.status_code == 404


def test_policy_update_is_validated_stored_audited_and_used(service: Service) -> None:
    c, h = service.client, service.admin
    bad = {"policy": {"type": "vol_target", "target_vol": 0}}
    r = c.put(f"/api/accounts/{ACCOUNT}/policy", json=bad, headers=h)
    assert r.status_code == 422
    assert r.json()["error"].startswith("policy: policy.target_vol: must be greater than 0")
    r = c.put(f"/api/accounts/{ACCOUNT}/policy", json={"policy": {"type": "fixd"}}, headers=h)
    assert r.status_code == 422
    assert "unknown policy type" in r.json()["error"]
    r = c.put(f"/api/accounts/{ACCOUNT}/policy", json={"polcy": {}}, headers=h)
    assert r.status_code == 422
    assert _stored(service)["policy"] is None

    policy = {"policy": {"type": "vol_target", "target_vol": 0.8, "max_leverage": 5}}
    r = c.put(f"/api/accounts/{ACCOUNT}/policy", json=policy, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["policy"] == policy
    assert body["target_leverage"] == 1.0  # target vol / vol = 0.8 / 0.8
    assert body["binding_constraint"]
    row = _stored(service)
    assert row["policy"] == policy
    assert row["venue"] == "binance-usdm"
    assert row["live_enabled"] is True
    (audit,) = c.get("/api/audit?event=policy", headers=h).json()["items"]
    assert audit["id"] == body["audit_id"]
    assert audit["inputs"]["policy"] == policy
    assert audit["inputs"]["previous"] is None
    # The running guardian sizes with it from the next cycle on.
    got = service.wait(
        lambda: [
            p
            for p in c.get(f"/api/accounts/{ACCOUNT}/policy", headers=h).json()["positions"]
            if p["target_leverage"] != 3.0
        ]
    )
    assert got[0]["target_leverage"] == 1.0
    assert got[0]["binding_constraint"] != "fixed target"
    assert c.get(f"/api/accounts/{ACCOUNT}/policy", headers=h).json()["policy"] == policy
    assert c.put("/api/accounts/nope/policy", json=policy, headers=h).status_code == 404


def test_a_policy_update_never_undoes_a_mode_switch_made_during_its_trial(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PUT wrote back the live flag it had read before its trial sizing: a switch to dry run
    made while the trial ran was undone (orders live again).  It now writes the policy column only."""
    import levguard.sizing as sizing

    c, h = service.client, service.admin
    assert (
        c.post(f"/api/accounts/{ACCOUNT}/mode", json={"live": True, "confirm": ACCOUNT}, headers=h).status_code == 200
    )
    real = sizing.size_account
    started, release = threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        if not release.is_set():  # the trial: held until the mode switch is done
            started.set()
            release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(sizing, "size_account", slow)
    out: dict[str, Any] = {}

    def put() -> None:
        body = {"policy": {"type": "fixed", "leverage": 2}}
        out["put"] = c.put(f"/api/accounts/{ACCOUNT}/policy", json=body, headers=h)

    t = threading.Thread(target=put)
    t.start()
    try:
        assert started.wait(10)
        r = c.post(f"/api/accounts/{ACCOUNT}/mode", json={"live": False, "confirm": ACCOUNT}, headers=h)
        assert r.status_code == 200, r.text
    finally:
        release.set()
        t.join(20)
    assert out["put"].status_code == 200, out["put"].text
    assert out["put"].json()["target_leverage"] == 2.0  # the trial ran
    row = _stored(service)
    assert row["live_enabled"] is False
    assert row["policy"] == {"policy": {"type": "fixed", "leverage": 2}}


def test_ack_alert(service: Service) -> None:
    c, h = service.client, service.admin
    c.post(f"/api/paper/{ACCOUNT}/shock", json=SHOCK, headers=h)
    alerts = service.wait(lambda: c.get("/api/alerts?unacked=true", headers=h).json()["items"])
    first = alerts[0]
    assert {"id", "level", "kind", "message", "ts_ns", "acked"} <= set(first)
    r = c.post(f"/api/alerts/{first['id']}/ack", headers=h)
    assert r.json() == {"id": first["id"], "acked": True}
    assert first["id"] not in [a["id"] for a in c.get("/api/alerts?unacked=true", headers=h).json()["items"]]
    acked = [a for a in c.get("/api/alerts", headers=h).json()["items"] if a["id"] == first["id"]]
    assert acked[0]["acked"] is True
    assert acked[0]["acked_ns"] > 0
    assert c.post(f"/api/alerts/{first['id']}/ack", headers=h).status_code == 404
    assert c.post("/api/alerts/999999/ack", headers=h).status_code == 404
    assert c.post("/api/alerts/0/ack", headers=h).status_code == 422


def test_shock_only_on_paper_venues(service: Service) -> None:
    c, h = service.client, service.admin
    r = c.post(f"/api/paper/{OTHER}/shock", json=SHOCK, headers=h)
    assert r.status_code == 404
    assert "not on a paper venue" in r.json()["error"]
    assert c.post("/api/paper/nope/shock", json=SHOCK, headers=h).status_code == 404
    r = c.post(f"/api/paper/{ACCOUNT}/shock", json=SHOCK, headers=h)
    assert r.json() == {"account": ACCOUNT, **SHOCK}
    reached = service.wait(
        lambda: c.get(f"/api/accounts/{ACCOUNT}/positions", headers=h).json()["state"] in ("DANGER", "ACT")
    )
    assert reached


def _nested_policy(levels: int) -> dict[str, Any]:
    policy: dict[str, Any] = {"type": "fixed", "leverage": 2}
    for _ in range(levels):
        policy = {"type": "composite", "policies": [policy]}
    return policy


def test_a_policy_nested_past_the_document_limit_is_refused_and_nothing_is_stored(service: Service) -> None:
    """A composite nested 127 levels deep was stored, then answered 500, and every read of the
    account and the audit log answered 500 until another policy replaced it: the body is now held
    to the documents' nesting limit (64 levels of objects and lists, as a file's) first."""
    c, h = service.client, service.admin
    for levels in (40, 127):
        r = c.put(f"/api/accounts/{ACCOUNT}/policy", json={"policy": _nested_policy(levels)}, headers=h)
        assert r.status_code == 422, r.text
        assert "nested deeper than 64 levels" in r.json()["error"]
    assert _stored(service)["policy"] is None
    assert c.get("/api/audit?event=policy", headers=h).json()["items"] == []
    for path in ("/api/accounts", f"/api/accounts/{ACCOUNT}", f"/api/accounts/{ACCOUNT}/policy", "/api/audit"):
        assert c.get(path, headers=h).status_code == 200, path
    # Within the limit a nested composite is a policy like another.
    r = c.put(f"/api/accounts/{ACCOUNT}/policy", json={"policy": _nested_policy(3)}, headers=h)
    assert r.status_code == 200, r.text
    assert c.get(f"/api/accounts/{ACCOUNT}/policy", headers=h).status_code == 200
