"""Inputs at the edges of the write routes: a policy the guardian cannot size with, strings that are
not UTF-8 text, a read token's scope checked before its body or query, and valid JSON the parser
gives up on (too deep, an integer too long)."""

from __future__ import annotations

import sys

import pytest
from service_helpers import ACCOUNT, OTHER, Service

KELLY_GIVEN = {"policy": {"type": "kelly"}}  # mu_estimator 'given' (the default): needs a mu_forecast


@pytest.mark.parametrize("account", [OTHER, ACCOUNT])
def test_a_policy_no_account_can_be_sized_with_is_refused_whatever_the_account_holds(
    service: Service, account: str
) -> None:
    # OTHER: not watched by the guardian (no positions to try the policy on); ACCOUNT: a position.
    r = service.client.put(f"/api/accounts/{account}/policy", json=KELLY_GIVEN, headers=service.admin)
    assert r.status_code == 422, r.text
    assert "mu_estimator" in r.json()["error"]
    assert "policy" in r.json()["error"]
    stored = service.client.get("/api/accounts", headers=service.viewer).json()
    assert next(a for a in stored if a["name"] == account)["policy"] is None  # nothing stored


def test_a_kelly_that_estimates_its_mean_is_accepted_on_an_unwatched_account(service: Service) -> None:
    body = {"policy": {"type": "kelly", "mu_estimator": "ewma_mean"}}
    r = service.client.put(f"/api/accounts/{OTHER}/policy", json=body, headers=service.admin)
    assert r.status_code == 200, r.text


SURROGATE = "\\ud800"  # a lone surrogate as JSON writes it: valid JSON, not UTF-8 text

WRITES = [
    ("POST", "/api/kill-switch", '{"on": true, "account": "%s"}', "account"),
    ("POST", f"/api/accounts/{ACCOUNT}/mode", '{"live": false, "confirm": "%s"}', "confirm"),
    ("POST", f"/api/accounts/{ACCOUNT}/enable", '{"confirm": "%s"}', "confirm"),
    ("POST", f"/api/paper/{ACCOUNT}/shock", '{"symbol": "%s", "drop": 0.1}', "symbol"),
    ("PUT", f"/api/accounts/{OTHER}/policy", '{"policy": {"type": "fixed", "leverage": 3, "x": "%s"}}', "policy.x"),
    ("PUT", f"/api/accounts/{OTHER}/policy", '{"policy": {"type": "%s"}}', "policy.type"),
    ("PUT", f"/api/accounts/{OTHER}/policy", '{"policy": {"type": "fixed", "%s": 3}}', "policy"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRITES)
def test_a_lone_surrogate_in_a_write_body_is_a_422_naming_the_field(
    service: Service, method: str, path: str, body: str, field: str
) -> None:
    r = service.client.request(
        method,
        path,
        content=(body % SURROGATE).encode(),
        headers={**service.admin, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert field in r.json()["error"], r.text
    assert "UTF-8" in r.json()["error"], r.text
    assert service.client.get("/api/status", headers=service.viewer).json()["kill_switch"] is False


def test_a_lone_surrogate_in_a_query_never_reaches_the_store(service: Service) -> None:
    # Percent-decoding replaces what is not UTF-8, so a query or path carries none: still no 500.
    r = service.client.get("/api/alerts?account=%ED%A0%80", headers=service.viewer)
    assert r.status_code == 200, r.text


READ_TOKEN_ON_WRITES = [
    ("POST", "/api/kill-switch", b"{not json", {}),
    ("POST", "/api/kill-switch", b'{"on": 1}', {}),
    ("POST", "/api/kill-switch", b'{"on": true}', {"limt": "5"}),
    ("PUT", f"/api/accounts/{ACCOUNT}/policy", b"[[[", {}),
    ("POST", f"/api/accounts/{ACCOUNT}/mode", b'{"live": true, "confirm": "x"}', {"x": "1"}),
    ("POST", "/api/alerts/1/ack", b"", {"x": "1"}),
    ("POST", "/api/kill-switch", b'{"on": ' + b"9" * 5000 + b"}", {}),
]


@pytest.mark.parametrize(("method", "path", "body", "params"), READ_TOKEN_ON_WRITES)
def test_a_read_token_on_a_write_route_is_a_403_before_its_body_or_query_is_judged(
    service: Service, method: str, path: str, body: bytes, params: dict[str, str]
) -> None:
    headers = {**service.viewer, "Content-Type": "application/json"}
    r = service.client.request(method, path, content=body, params=params, headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "this route needs an admin token"


def test_an_admin_token_still_gets_the_body_and_query_errors(service: Service) -> None:
    headers = {**service.admin, "Content-Type": "application/json"}
    assert service.client.post("/api/kill-switch", content=b"{not json", headers=headers).status_code == 400
    assert service.client.post("/api/kill-switch?limt=5", json={"on": True}, headers=headers).status_code == 422


DIGITS = sys.get_int_max_str_digits()


@pytest.mark.parametrize("recursion_limit", [1_000, 100_000])  # 100,000: what web3 sets at import
@pytest.mark.parametrize(
    ("path", "body", "why"),
    [
        ("/api/calculate", b'{"wallet_balance": ' + b"9" * 5000 + b"}", f"integer with more than {DIGITS} digits"),
        ("/api/calculate", b"[" * 30000 + b"]" * 30000, "nested too deeply"),
        ("/api/kill-switch", b'{"on": true, "account": ' + b"[" * 20000 + b"]" * 20000 + b"}", "nested too deeply"),
        ("/api/calculate", b"[" * 513 + b"]" * 513, "nested too deeply"),
    ],
)
def test_valid_json_the_parser_gives_up_on_is_a_400_naming_the_cause(
    service: Service, path: str, body: bytes, why: str, recursion_limit: int
) -> None:
    # With web3 imported first (the suite's workers, an on-chain guardian's process) json.loads
    # parsed 30,000 levels and the answer was a 422: the depth is now checked before parsing.
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(recursion_limit)
    try:
        _refused_before_parsing(service, path, body, why)
    finally:
        sys.setrecursionlimit(before)


def _refused_before_parsing(service: Service, path: str, body: bytes, why: str) -> None:
    headers = {**service.admin, "Content-Type": "application/json"}
    r = service.client.post(path, content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == f"invalid JSON body: {why}"
    # Without a token: the 401 first, as for any other body.
    r = service.client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401, r.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/kill-switch", '{"on": true, "%s": 1}'),
        (f"/api/accounts/{ACCOUNT}/mode", '{"live": false, "confirm": "x", "%s": 1}'),
    ],
)
def test_a_lone_surrogate_in_an_unknown_key_is_a_422_naming_the_key(service: Service, path: str, body: str) -> None:
    r = service.client.post(
        path, content=(body % SURROGATE).encode(), headers={**service.admin, "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert "a key of the body is not UTF-8 text: a lone surrogate" in r.json()["error"], r.text
    assert service.client.get("/api/status", headers=service.viewer).json()["kill_switch"] is False
