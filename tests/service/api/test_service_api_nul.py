"""A NUL character in a request's string (a body's ``"\\u0000"``, a query's or path's ``%00``) is
a 422 naming the field, before any store call: PostgreSQL's text refuses it, which the service
answered 503 "database unavailable" and logged as a store outage (docs/service.md, Strict inputs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from levguard.service.app import create_app
from levguard.service.auth import ensure_admin_token
from levguard.service.runtime import paper_demo_runtime

ACCOUNT = "paper-btc"
NUL = "\\u0000"  # as JSON writes it

CASES = [
    ("POST", "/api/kill-switch", '{"on": true, "account": "a%sb"}', "account"),
    ("POST", f"/api/paper/{ACCOUNT}/shock", '{"symbol": "BTC%s", "drop": 0.1}', "symbol"),
    ("PUT", f"/api/accounts/{ACCOUNT}/policy", '{"policy": {"type": "fixed", "leverage": 3, "note": "a%sb"}}', "note"),
    ("GET", "/api/alerts?account=a%00b", None, "account"),
    ("GET", "/api/actions?account=a%00b", None, "account"),
    ("GET", "/api/audit?event=a%00b", None, "event"),
    ("GET", "/api/audit?account=a%00b", None, "account"),
    ("GET", "/api/accounts/a%00b", None, "name"),
    ("GET", "/api/accounts/a%00b/policy", None, "name"),
]


def _pg_url() -> Iterator[str]:
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed")
    for user in ("postgres", "root"):
        try:
            conn = psycopg.connect(host="127.0.0.1", port=5432, user=user, dbname="test", connect_timeout=2)
            break
        except psycopg.Error:
            continue
    else:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")
    schema = f"s_nul_{uuid.uuid4().hex[:12]}"
    conn.autocommit = True
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client_admin(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, dict[str, str]]]:
    urls = iter(["sqlite://"]) if request.param == "sqlite" else _pg_url()
    url = next(urls)
    rt = paper_demo_runtime(url, interval_s=0.05)
    admin = {"Authorization": f"Bearer {ensure_admin_token(rt.store)}"}
    try:
        with TestClient(create_app(rt), raise_server_exceptions=False) as client:
            yield client, admin
    finally:
        rt.store.close()
        next(urls, None)  # drops the schema


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES)
def test_a_nul_is_a_422_naming_the_field(
    client_admin: tuple[TestClient, dict[str, str]], method: str, path: str, body: str | None, field: str
) -> None:
    client, admin = client_admin
    content = None if body is None else (body % NUL).encode()
    r = client.request(method, path, content=content, headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert field in r.json()["error"], r.text
    assert "NUL" in r.json()["error"], r.text
    assert client.get("/api/status", headers=admin).json()["kill_switch"] is False
