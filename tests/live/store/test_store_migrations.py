"""Migrations from scratch and twice, concurrent first starts, the schema matching the code,
StoreUnavailable with the password redacted."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from levguard.errors import InputError, LevguardError
from levguard.live.store import METADATA, VERSION_TABLE, Store, StoreUnavailable

TABLES = {
    "accounts",
    "kill_switch",
    "snapshots",
    "alerts",
    "audit_log",
    "orders",
    "leases",
    "api_tokens",
    VERSION_TABLE,
}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_migrations_run_from_scratch_and_are_idempotent(store_url: str) -> None:
    assert _tables(store_url) == set()
    first = Store(store_url)
    first.upsert_account("a", "binance", policy={"k": 1})
    first.audit("a", 1, "decide", {}, {}, [])
    first.close()
    assert _tables(store_url) == TABLES
    second = Store(store_url)  # upgrade head again: a no-op that keeps the data
    try:
        assert second.account("a")["policy"] == {"k": 1}  # type: ignore[index]
        assert len(second.audit_log()) == 1
    finally:
        second.close()
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all() == ["0004"]
            # The tables the code uses are exactly the ones the migration built.
            assert (
                compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), METADATA)
                == []
            )
    finally:
        engine.dispose()


def test_concurrent_first_starts_migrate_once(store_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        try:
            barrier.wait()
            Store(store_url).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert _tables(store_url) == TABLES


def test_migrate_false_touches_nothing(store_url: str) -> None:
    store = Store(store_url, migrate=False)
    try:
        assert _tables(store_url) == set()
        with pytest.raises(StoreUnavailable, match="accounts"):
            store.accounts()  # no schema: the store is unusable, and says which operation failed
    finally:
        store.close()


SECRET = "s3cr3t-pa55"
UNREACHABLE = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test"


def test_unreachable_database_raises_store_unavailable_without_password() -> None:
    with pytest.raises(StoreUnavailable) as info:
        Store(UNREACHABLE)
    message = str(info.value)
    assert "migrate" in message
    assert "127.0.0.1:1" in message
    assert SECRET not in message
    assert "***" in message
    assert isinstance(info.value, LevguardError)
    cause = info.value.__cause__
    assert cause is None or SECRET not in str(cause)


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("account", ("a",)),
        ("add_alert", (None, 1, "critical", "db", "x")),
        ("record_intent", ("a", "c1", "BTC/USDT:USDT", "sell", 1.0, 1, "r")),
        ("acquire_lease", ("a", "p1", 10.0, 1)),
        ("audit_log", ()),
    ],
)
def test_every_operation_names_itself_when_unavailable(method: str, args: tuple[object, ...]) -> None:
    store = Store(UNREACHABLE, migrate=False)
    assert SECRET not in repr(store)
    assert SECRET not in store.url_redacted
    assert store.url_redacted == "postgresql+psycopg://postgres:***@127.0.0.1:1/test"
    with pytest.raises(StoreUnavailable, match=method) as info:
        getattr(store, method)(*args)
    assert SECRET not in str(info.value)
    store.close()


def test_sqlite_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="migrate"):
        Store(f"sqlite:///{tmp_path / 'missing' / 'levguard.db'}")


def test_in_memory_sqlite_works_across_threads() -> None:
    store = Store("sqlite://")
    try:
        t = threading.Thread(target=store.upsert_account, args=("a", "paper"))
        t.start()
        t.join()
        assert store.account("a")["venue"] == "paper"  # type: ignore[index]
    finally:
        store.close()


@pytest.mark.parametrize("url", ["mysql://u:p@localhost/db", "not a url"])
def test_unsupported_or_malformed_url(url: str) -> None:
    with pytest.raises(InputError) as info:
        Store(url)
    assert ":p@" not in str(info.value)


def test_a_short_password_is_redacted_as_a_whole_token_only() -> None:
    # A one-letter password used to turn every "p" of the message into ***: "***ort 1 failed".
    store = Store("postgresql+psycopg://postgres:p@127.0.0.1:1/test", migrate=False)
    with pytest.raises(StoreUnavailable) as info:
        store.account("a")
    message = str(info.value)
    assert "port 1" in message, message
    assert "***ort" not in message, message
    assert store.url_redacted == "postgresql+psycopg://postgres:***@127.0.0.1:1/test"
    store.close()


@pytest.mark.parametrize(
    ("password", "text", "redacted"),
    [
        ("p", "dsn user=postgres password=p port=1 (opening)", "dsn user=postgres password=*** port=1 (opening)"),
        ("p@ss", "postgresql://postgres:p%40ss@host failed", "postgresql://postgres:***@host failed"),
        (SECRET, f"password={SECRET}", "password=***"),
    ],
)
def test_the_password_is_redacted_where_a_message_shows_it(password: str, text: str, redacted: str) -> None:
    from levguard.live.store_engine import _secret_pattern

    pattern = _secret_pattern(password)
    assert pattern is not None
    assert pattern.sub("***", text) == redacted
