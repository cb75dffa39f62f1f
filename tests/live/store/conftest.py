"""Fixtures for the store tests: a SQLite file and, when 127.0.0.1:5432 answers, a throwaway
PostgreSQL database (created for the session, dropped after) with a fresh schema per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from levguard.live.store import Store

PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "connect_timeout": 2}


def _pg_admin_connect() -> object | None:
    try:
        import psycopg
    except ImportError:
        return None
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(user=user, autocommit=True, **PG_ADMIN)
        except psycopg.Error:
            continue
    return None


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL | None]:
    """URL of a throwaway database ``levguard_test_<random>``, or None when PostgreSQL is unreachable."""
    admin = _pg_admin_connect()
    if admin is None:
        yield None
        return
    name = f"levguard_test_{uuid.uuid4().hex[:12]}"
    user = admin.info.user  # type: ignore[attr-defined]
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    try:
        yield URL.create("postgresql+psycopg", username=user, host="127.0.0.1", port=5432, database=name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


def fresh_pg_url(base: URL) -> str:
    """A URL whose search_path is a new, empty schema of the throwaway database."""
    import psycopg

    schema = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host=base.host, port=base.port, user=base.username, dbname=base.database, autocommit=True
    ) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'levguard.db'}"
    base = request.getfixturevalue("pg_database")
    if base is None:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")
    return fresh_pg_url(base)


@pytest.fixture
def pg_url(pg_database: URL | None) -> str:
    """A URL of a fresh PostgreSQL schema (skips when PostgreSQL is unreachable)."""
    if pg_database is None:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")
    return fresh_pg_url(pg_database)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on an empty database."""
    s = Store(store_url)
    try:
        yield s
    finally:
        s.close()
