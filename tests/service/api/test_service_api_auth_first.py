"""A request without a valid token gets 401 before its query or body is judged; ``?token=`` is
refused on every route, the dashboard's static files included."""

from __future__ import annotations

import pytest
from service_helpers import ACCOUNT, Service

BAD = {"Authorization": "Bearer lg_not-a-token"}


@pytest.mark.parametrize("headers", [{}, BAD], ids=["no-token", "wrong-token"])
def test_unauthenticated_requests_get_401_before_validation(service: Service, headers: dict[str, str]) -> None:
    c = service.client
    json_headers = {**headers, "Content-Type": "application/json"}
    cases = [
        c.post("/api/kill-switch", content=b"{bad", headers=json_headers),  # malformed JSON: was 400
        c.post("/api/kill-switch", json={"engaged": "maybe"}, headers=headers),  # invalid body: was 422
        c.get("/api/audit?x=1", headers=headers),  # unknown parameter: was 422 listing the parameters
        c.get("/api/audit?limit=-5", headers=headers),  # invalid parameter: was 422
        c.get(f"/api/accounts/{ACCOUNT}/positions?x=1", headers=headers),
        c.get("/api/events?x=1", headers=headers),
    ]
    for r in cases:
        assert r.status_code == 401, (r.request.url, r.text)
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert "this route takes" not in r.text


def test_a_valid_token_still_gets_the_validation_errors(service: Service) -> None:
    c = service.client
    r = c.post("/api/kill-switch", content=b"{bad", headers={**service.admin, "Content-Type": "application/json"})
    assert r.status_code == 400
    r = c.get("/api/audit?x=1", headers=service.viewer)
    assert r.status_code == 422
    assert "this route takes" in r.json()["error"]
    assert c.get("/healthz?x=1").status_code == 422  # the public route has no token to check


@pytest.mark.parametrize("path", ["/", "/index.html", "/app.js", "/no-such-file"])
def test_a_token_in_the_url_is_refused_on_the_dashboard_too(service: Service, path: str) -> None:
    c = service.client
    r = c.get(f"{path}?token=lg_secret")
    assert r.status_code == 401
    assert r.json()["error"].startswith("a token in the URL is not accepted")
    assert c.get(f"{path}?x=1").status_code in (200, 404)  # other parameters: the files as before


def test_a_ticket_counts_for_the_401_only_when_the_book_holds_it(service: Service) -> None:
    c = service.client
    # Without a token, a ticket never issued (or too long to be one) is a 401 before the query
    # or the headers are judged: any ticket was enough to get a 422 listing the parameters.
    for params, headers in [
        ({"ticket": "bogus", "zzz": "1"}, {}),
        ({"ticket": "x" * 300}, {}),
        ({"ticket": "bogus"}, {"Last-Event-ID": "x" * 61}),
    ]:
        r = c.get("/api/events", params=params, headers=headers)
        assert r.status_code == 401, (params, r.text)
        assert r.json()["error"] == "invalid, used or expired stream ticket"
        assert r.headers["WWW-Authenticate"] == "Bearer"
    # An outstanding ticket stands for its token: its holder gets the 422, and the check does
    # not spend it (it still opens the stream, once).
    ticket = c.post("/api/stream-ticket", headers=service.viewer).json()["ticket"]
    r = c.get("/api/events", params={"ticket": ticket, "zzz": "1"})
    assert r.status_code == 422
    assert "this route takes" in r.json()["error"]
    with c.stream("GET", "/api/events", params={"ticket": ticket}) as s:
        assert s.status_code == 200
    assert c.get("/api/events", params={"ticket": ticket}).status_code == 401
