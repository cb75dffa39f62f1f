"""The store's database: one SQLAlchemy engine over SQLite or PostgreSQL, its transactions and
its Alembic migrations, with the helpers every table family of :mod:`levguard.live.store` shares.

See :mod:`levguard.live.store` for the tables, the error contract and the lease protocol.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from importlib import resources
from typing import Any, NoReturn
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from levguard.errors import InputError, LevguardError

__all__ = ["VERSION_TABLE", "StoreEngine", "StoreUnavailable", "as_int", "audit_values", "jsonable", "row_dict"]

# The store's log records keep the name of the module that defined them before the split.
logger = logging.getLogger("levguard.live.store")

#: Alembic's version table, named so it cannot clash with another application's.
VERSION_TABLE = "levguard_alembic_version"

_SQLITE_BUSY_TIMEOUT_S = 15.0
_PG_CONNECT_TIMEOUT_S = 5
# PostgreSQL bounds on every session, so a store call never waits without end (the guardian calls
# the store between venue calls): a lock held by another client (a hung process in a
# transaction, an operator's LOCK TABLE) is waited for as long as SQLite's busy timeout; a
# statement at most _PG_STATEMENT_TIMEOUT_S; a session of ours left idle inside a transaction is
# ended by the server; and unacknowledged data on a dead network fails the call after
# _PG_TCP_TIMEOUT_S (libpq's tcp_user_timeout; keepalives find a dead idle connection).
_PG_LOCK_TIMEOUT_S = _SQLITE_BUSY_TIMEOUT_S
_PG_STATEMENT_TIMEOUT_S = 60.0
_PG_IDLE_IN_TRANSACTION_S = 60.0
_PG_TCP_TIMEOUT_S = 30.0
# Key of the PostgreSQL advisory lock that serialises concurrent migrations.
_MIGRATE_LOCK_KEY = 0x6C657667  # "levg"


def _set_wal(cursor: Any) -> None:
    """Switch a SQLite database to WAL, waiting out a concurrent writer.

    Changing the journal mode needs the database to itself, and SQLite answers "database is
    locked" at once (no busy wait) when another connection of a first start holds it; so retry
    for up to the busy timeout.  Once the file is in WAL mode the PRAGMA is a no-op.
    """
    import sqlite3

    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_PG_LOCK_TIMEOUT_MS = round(_PG_LOCK_TIMEOUT_S * 1000)
# A transaction's own bounds (is_local: they end with it).
_PG_BOUND = sa.text("SELECT set_config('lock_timeout', :lock, true), set_config('statement_timeout', :stmt, true)")


@contextmanager
def _sqlite_busy(conn: Connection, wait_ms: int | None) -> Iterator[None]:
    """The SQLite connection's busy timeout at ``wait_ms`` for the block (before its BEGIN), then
    back to the store's own; nothing when None."""
    if wait_ms is None:
        yield
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA busy_timeout = {min(int(wait_ms), round(_SQLITE_BUSY_TIMEOUT_S * 1000))}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout = {round(_SQLITE_BUSY_TIMEOUT_S * 1000)}")


def _pg_connect_args(url: URL) -> dict[str, Any]:
    """libpq parameters bounding every wait of a PostgreSQL session (the timeouts above).

    The server settings go in libpq's ``options`` ahead of any the URL gives (``?options=``,
    e.g. a ``search_path``), so a URL's own ``-c statement_timeout=...`` still wins.

    Notes
    -----
    PostgreSQL 15 documentation, 20.11 "Client Connection Defaults" (statement_timeout,
    lock_timeout, idle_in_transaction_session_timeout, in milliseconds) and libpq 34.1.2
    "Parameter Key Words" (options, connect_timeout, keepalives*, tcp_user_timeout).
    """
    ms = {
        "lock_timeout": _PG_LOCK_TIMEOUT_S,
        "statement_timeout": _PG_STATEMENT_TIMEOUT_S,
        "idle_in_transaction_session_timeout": _PG_IDLE_IN_TRANSACTION_S,
    }
    options = " ".join(f"-c {k}={round(v * 1000)}" for k, v in ms.items())
    given = url.query.get("options")
    if given:
        options += " " + (" ".join(given) if isinstance(given, tuple) else given)
    return {
        "connect_timeout": _PG_CONNECT_TIMEOUT_S,
        "options": options,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": round(_PG_TCP_TIMEOUT_S * 1000),
    }


class StoreUnavailable(LevguardError):  # noqa: N818 - the name is the guardian's contract
    """The database cannot be reached or used; the message names the operation and the redacted URL."""


def jsonable(value: Any, field: str) -> Any:
    """Convert a payload to plain JSON types; InputError naming ``field`` when it cannot be.

    Non-finite floats become None (JSON has no NaN and PostgreSQL rejects it), numpy scalars and
    arrays become Python numbers and lists, Decimal becomes its exact string, datetimes ISO
    strings, enums their value, dataclasses dicts.  The error names the offending element's path
    below ``field`` (``figures.positions[3].mark``).
    """
    try:
        return _plain(value)
    except _NotJsonableError as exc:
        path = "".join(reversed(exc.path))
        raise InputError(f"{field}{path} must be JSON-serialisable, was {exc.kind}") from None


class _NotJsonableError(Exception):
    # Raised by _plain with the offending type's name; each container on the way up adds its key
    # to ``path`` (innermost first), so paths are formatted only when a payload is refused.
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.path: list[str] = []


def _plain(value: Any) -> Any:
    # The guardian's snapshots are dicts and lists of floats, strings and None: those exact types
    # first (a snapshot is written every cycle), every other type through _plain_other.
    t = type(value)
    if t is float:
        return value if math.isfinite(value) else None
    if value is None or t is str or t is bool or t is int:
        return value
    if t is dict:
        return _plain_mapping(value)
    if t is list:
        return _plain_items(value)
    return _plain_other(value)


def _plain_mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    out = {}
    for k, v in value.items():
        try:
            out[str(k)] = _plain(v)
        except _NotJsonableError as exc:
            exc.path.append(f".{k}")
            raise
    return out


def _plain_items(value: Any) -> list[Any]:
    out = []
    for i, v in enumerate(value):
        try:
            out.append(_plain(v))
        except _NotJsonableError as exc:
            exc.path.append(f"[{i}]")
            raise
    return out


def _plain_other(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return _plain_mapping(value)
    if isinstance(value, list | tuple | set | frozenset):
        return _plain_items(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return _plain(value.tolist())
    raise _NotJsonableError(type(value).__name__)


def as_int(value: Any, field: str) -> int:
    """Return ``value`` as an int of nanoseconds; InputError naming ``field`` otherwise."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{field} must be an int of nanoseconds, was {value!r}") from None


def row_dict(row: Any) -> dict[str, Any]:
    """Return a result row as column name -> value (the column types already give bool, int,
    float and decoded JSON)."""
    return dict(row._mapping)


def audit_values(
    account: str | None, ts_ns: int, event: str, inputs: Any, decision: Any, reasons: Any
) -> dict[str, Any]:
    """Return the column values of one ``audit_log`` row (payloads as JSON, reasons as strings)."""
    return {
        "account": None if account is None else str(account),
        "ts_ns": as_int(ts_ns, "ts_ns"),
        "event": str(event),
        "inputs": jsonable(inputs, "inputs"),
        "decision": jsonable(decision, "decision"),
        "reasons": [str(r) for r in reasons],
    }


def alert_values(account: str | None, ts_ns: int, level: str, kind: str, message: str, data: Any) -> dict[str, Any]:
    """Return the column values of one ``alerts`` row (``data`` as JSON)."""
    return {
        "account": None if account is None else str(account),
        "ts_ns": as_int(ts_ns, "ts_ns"),
        "level": str(level),
        "kind": str(kind),
        "message": str(message),
        "data": jsonable(data, "data"),
    }


def _redact(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _secret_pattern(password: str | None) -> re.Pattern[str] | None:
    """The password as it may show in a driver's message (as given, or percent-encoded as in a
    URL), as a whole token only: a short password (``p``) is not a part of ``port``."""
    if password is None:
        return None
    forms = sorted({password, quote(password, safe="")}, key=len, reverse=True)
    return re.compile(r"(?<![0-9A-Za-z])(?:" + "|".join(map(re.escape, forms)) + r")(?![0-9A-Za-z])")


def _migrations_dir() -> str:
    return str(resources.files("levguard.live") / "migrations")


class StoreEngine:
    """One database of the guardian's store: the engine, its transactions and the migrations.

    The table families (:class:`~levguard.live.store_accounts.AccountStore`, ...) run their
    statements through :meth:`tx`; :class:`~levguard.live.store.Store` composes them over one
    engine.

    Parameters, defaults and errors are those of :class:`~levguard.live.store.Store` (``url``,
    ``migrate``; :class:`StoreUnavailable`, :class:`~levguard.errors.InputError`).
    """

    def __init__(self, url: str = "sqlite:///levguard.db", *, migrate: bool = True, create: bool = True) -> None:
        try:
            parsed = make_url(url)
        except Exception:
            # The message of a parse error may echo the password, so say nothing of it.
            raise InputError("store url is not a valid SQLAlchemy URL") from None
        self._url = parsed
        self.url_redacted: str = _redact(parsed)
        self._password = parsed.password if isinstance(parsed.password, str) and parsed.password else None
        self._secret = _secret_pattern(self._password)
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise InputError(f"store url must be sqlite or postgresql, was {backend!r}")
        self._sqlite = backend == "sqlite"
        file = parsed.database if self._sqlite and parsed.database not in (None, "", ":memory:") else None
        if file is not None and str(parsed.query.get("uri", "")).lower() in ("true", "1"):
            file = file.removeprefix("file:")  # SQLite's URI form, sqlite:///file:a.db?uri=true
        if not create and file and file != ":memory:" and not os.path.isfile(file):
            raise InputError(f"no SQLite database at {file!r} (store url {self.url_redacted})")
        self.concurrent_writes = True
        #: Held around every transaction of an in-memory database (one connection shared by every
        #: thread); a file or server database needs no lock.
        self.lock = threading.RLock()
        self._serialise = False
        self._bound = threading.local()  # a deadline of this thread's transactions (bounded)
        try:
            self._engine = self._make_engine(parsed)
        except (ImportError, sa.exc.SQLAlchemyError) as exc:  # e.g. psycopg not installed: levguard[postgres]
            self._fail("connect", exc)
        if not create and not (self._sqlite and file is None):  # in memory: nothing to find
            self._require_store()  # an existing store only: another application's database is left alone
        if migrate:
            try:
                self._migrate()
            except BaseException:
                self._engine.dispose()
                raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url_redacted!r})"

    def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        self._engine.dispose()

    # ---------------------------------------------------------------- engine and transactions

    def _make_engine(self, url: URL) -> Engine:
        if not self._sqlite:
            return sa.create_engine(url, pool_pre_ping=True, connect_args=_pg_connect_args(url))
        memory = url.database in (None, "", ":memory:")
        # One shared connection in memory: writes from a second thread would interleave with the
        # caller's transactions, so callers must not write concurrently (see concurrent_writes).
        self.concurrent_writes = not memory
        self._serialise = memory
        kwargs: dict[str, Any] = {"connect_args": {"timeout": _SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}}
        if memory:
            kwargs["poolclass"] = StaticPool  # one connection, so every thread sees one database
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite so BEGIN is ours (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                if not memory:
                    _set_wal(cursor)  # readers do not block the writer
                cursor.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
            finally:
                cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Write transactions take the write lock before reading (no lost updates between
            # processes); read transactions stay deferred so readers run concurrently.
            write = conn.get_execution_options().get("levguard_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _redacted(self, text: str) -> str:
        # The password, where a message shows it, as ***.
        return text if self._secret is None else self._secret.sub("***", text)

    def _fail(self, op: str, exc: BaseException) -> NoReturn:
        orig = getattr(exc, "orig", None) or exc
        detail = " ".join(str(orig).split()) or type(orig).__name__
        leaked = self._secret is not None and self._secret.search(detail) is not None
        detail = self._redacted(detail)
        message = f"store unavailable during {op} on {self.url_redacted}: {type(orig).__name__}: {detail}"
        # Opening the store (connect, migrate): the caller gets the error and reports it (the CLI
        # as its one error line); later, a running guardian logs the outage it rides out.
        logger.log(logging.DEBUG if op in ("connect", "migrate") else logging.WARNING, "%s", message)
        if leaked or (self._secret is not None and self._secret.search(str(exc)) is not None):
            raise StoreUnavailable(message) from None
        raise StoreUnavailable(message) from exc

    @contextmanager
    def bounded(self, deadline: float) -> Iterator[None]:
        """Bound every transaction this thread opens inside the block by ``deadline`` (a
        ``time.monotonic()`` instant): a SQLite lock is waited for (busy timeout), and a
        PostgreSQL lock or statement (``lock_timeout``, ``statement_timeout``), at most until
        then, not the store's own 15 s / 60 s.  What the HTTP service's store calls run in, so a
        refused call gives its thread back by the request's deadline."""
        before = getattr(self._bound, "deadline", None)
        self._bound.deadline = float(deadline)
        try:
            yield
        finally:
            self._bound.deadline = before

    def _wait_ms(self) -> int | None:
        # Milliseconds left to this thread's deadline (at least 1), or None without one.
        deadline = getattr(self._bound, "deadline", None)
        return None if deadline is None else max(1, int((deadline - time.monotonic()) * 1000))

    @contextmanager
    def tx(self, op: str, *, write: bool = False) -> Iterator[Connection]:
        """Open one transaction named ``op``, committed on success; ``write`` takes the write lock
        first (SQLite).  Database errors become :class:`StoreUnavailable` and integrity
        violations :class:`~levguard.errors.InputError`.  Inside :meth:`bounded` its waits end
        at the deadline."""
        wait_ms = self._wait_ms()
        try:
            with self.lock if self._serialise else nullcontext(), self._engine.connect() as conn:
                if write:
                    conn = conn.execution_options(levguard_write=True)
                with _sqlite_busy(conn, wait_ms if self._sqlite else None), conn.begin():
                    if wait_ms is not None and not self._sqlite:
                        bound = {"lock": str(min(wait_ms, _PG_LOCK_TIMEOUT_MS)), "stmt": str(wait_ms)}
                        conn.execute(_PG_BOUND, bound)
                    yield conn
        except sa.exc.IntegrityError as exc:
            detail = self._redacted(" ".join(str(getattr(exc, "orig", exc)).split()))
            raise InputError(f"{op} violates the store's constraints: {detail}") from None
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            self._fail(op, exc)

    def insert(self, table: sa.Table) -> Any:
        """Return the dialect's INSERT of ``table``, which knows ON CONFLICT."""
        return (sqlite_dialect.insert if self._sqlite else pg.insert)(table)

    def _require_store(self) -> None:
        try:
            with self.tx("connect") as conn:
                found = sa.inspect(conn).has_table(VERSION_TABLE)
        except BaseException:
            self._engine.dispose()
            raise
        if not found:
            self._engine.dispose()
            raise InputError(f"{self.url_redacted} is not a levguard store (it has no {VERSION_TABLE} table)")

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", _migrations_dir().replace("%", "%%"))
        try:
            with self.tx("migrate", write=True) as conn:
                if not self._sqlite:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except (StoreUnavailable, InputError):
            raise
        except Exception as exc:  # alembic's own errors (e.g. a revision this code does not know)
            self._fail("migrate", exc)
