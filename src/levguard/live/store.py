"""The guardian's crash-safe store: accounts, snapshots, alerts, audit log, orders and leases.

One :class:`Store` wraps one SQLAlchemy engine over SQLite (the default, a local file) or
PostgreSQL (``postgresql+psycopg://user:password@host/db``; several guardian processes may share
one database). The schema is created and upgraded by the Alembic migrations shipped in
``levguard/live/migrations`` (run programmatically by ``Store(url)``; ``migrate=False`` skips
them).

Tables
------
``accounts``      name (PK), venue, live_enabled, policy (JSON), kill_switch, created_ns
``kill_switch``   one row (id = 1): the global kill switch
``snapshots``     id, account, ts_ns, state, figures (JSON): the time series of margin/risk figures
``alerts``        id, account (NULL = global), ts_ns, level, kind, message, data (JSON), acked_ns
``audit_log``     id, account, ts_ns, event, inputs, decision, reasons (JSON): append-only;
                  triggers created by the migration reject UPDATE and DELETE (and TRUNCATE on
                  PostgreSQL)
``orders``        client_order_id (PK), account, symbol, side, qty, reason, status, intent_ns,
                  sent_ns, result_ns, filled, average_price, venue_order_id
``leases``        account (PK), owner (NULL = free), expires_ns

Every timestamp is an int of nanoseconds since the epoch, UTC (BIGINT). Account names are not
enforced by foreign keys, so a snapshot, alert or audit row is never lost to bookkeeping order.

Secrets
-------
The store has no column for API keys or any other credential. ``policy`` and every JSON payload
are stored exactly as given: callers must never put secrets in them. Database passwords are
redacted from ``repr(store)``, :attr:`Store.url_redacted` and every error message.

Errors
------
Every method wraps database failures (connection refused, lost connection, locked database,
missing schema...) into :class:`StoreUnavailable` naming the operation and the redacted URL, so
the guardian can catch one type and refuse to act without a record. Caller mistakes (an unknown
account or order id, an invalid order status, a payload that is not JSON) raise
:class:`levguard.errors.InputError`.

Write-ahead orders
------------------
:meth:`Store.record_intent` commits the decision and its deterministic client order id *before*
the order is sent; a second call with the same id returns False and changes nothing. After a
crash, :meth:`Store.unresolved_orders` lists the intents and sent orders without a final status
(closed, canceled, rejected, expired) for reconciliation with the venue by client order id.

Leases
------
One guardian process holds an account at a time through a lease row with an expiry. Acquisition
is a single atomic statement::

    INSERT INTO leases (account, owner, expires_ns) VALUES (:account, :owner, :now + :ttl)
    ON CONFLICT (account) DO UPDATE SET owner = excluded.owner, expires_ns = excluded.expires_ns
    WHERE leases.owner IS NULL OR leases.expires_ns <= :now OR leases.owner = :owner
    RETURNING owner

It is safe across processes because the row is the only arbiter and the check and the write are
one statement. On PostgreSQL, ``INSERT ... ON CONFLICT`` either inserts (the unique key admits one
inserter; a concurrent inserter waits for it and then takes the conflict path) or locks the
existing row and evaluates the ``WHERE`` against its latest committed version, so of two racing
processes the second sees the first one's unexpired lease and gets no row back. On SQLite, every
write transaction starts with ``BEGIN IMMEDIATE``, which takes the database's single write lock
before reading, so racing writers are serialised and each sees the previous one's commit. Renewal
and release are conditional updates on ``owner = :owner`` (renewal also requires the lease to be
unexpired) checked by rowcount. ``now_ns`` comes from the caller, so hosts sharing a database
need clocks that agree to well within the lease TTL, and a holder should renew before each
action and stop acting when a renewal fails.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from importlib import resources
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from levguard.errors import InputError, LevguardError
from levguard.live.schema import (
    ACCOUNTS,
    ALERTS,
    API_TOKENS,
    AUDIT_LOG,
    KILL_SWITCH,
    LEASES,
    METADATA,
    ORDERS,
    SNAPSHOTS,
)

__all__ = [
    "FINAL_ORDER_STATUSES",
    "METADATA",
    "ORDER_STATUSES",
    "Lease",
    "LeaseLost",
    "Store",
    "StoreUnavailable",
]

logger = logging.getLogger(__name__)

#: Order statuses :meth:`Store.mark_result` accepts (ccxt's vocabulary).
ORDER_STATUSES = frozenset({"open", "closed", "canceled", "rejected", "expired"})
#: Statuses after which an order needs no reconciliation.
FINAL_ORDER_STATUSES = frozenset({"closed", "canceled", "rejected", "expired"})

#: Alembic's version table, named so it cannot clash with another application's.
VERSION_TABLE = "levguard_alembic_version"

_SQLITE_BUSY_TIMEOUT_S = 15.0
_PG_CONNECT_TIMEOUT_S = 5
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


class StoreUnavailable(LevguardError):  # noqa: N818 - the name is the guardian's contract
    """The database cannot be reached or used; the message names the operation and the redacted URL."""


class LeaseLost(LevguardError):  # noqa: N818 - a state, not a failure of the caller
    """The caller no longer holds the account's lease under the epoch it acts on (fencing): another
    process took the account over, or the lease expired; nothing was recorded."""


@dataclasses.dataclass(frozen=True)
class Lease:
    """The outcome of taking or renewing one account's lease.

    ``held``: the caller holds it; ``epoch``: the fencing epoch (bumped whenever the holder, owner
    or instance, changes); ``taken``: this call started the holding (a new epoch);
    ``previous_owner`` and ``previous_renewed_ns``: who held it before and when it was last
    renewed by anyone (None when never), to tell how long the account went unwatched.
    """

    held: bool
    epoch: int
    taken: bool = False
    previous_owner: str | None = None
    previous_renewed_ns: int | None = None
    previous_instance: str | None = None
    previous_expires_ns: int | None = None


def _jsonable(value: Any, field: str) -> Any:
    # Convert a payload to plain JSON types: non-finite floats become None (JSON has no NaN and
    # PostgreSQL rejects it), numpy scalars and arrays become Python numbers and lists, Decimal
    # becomes its exact string, datetimes ISO strings, enums their value, dataclasses dicts.
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, f"{field}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, field)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), field)
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return _jsonable(value.tolist(), field)
    raise InputError(f"{field} must be JSON-serialisable, was {type(value).__name__}")


def _int(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{field} must be an int of nanoseconds, was {value!r}") from None


def _row(row: Any) -> dict[str, Any]:
    # Column name -> value; the column types already give bool, int, float and decoded JSON.
    return dict(row._mapping)


def _redact(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _migrations_dir() -> str:
    return str(resources.files("levguard.live") / "migrations")


# --------------------------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------------------------


class Store:
    """Persist the guardian's state in SQLite or PostgreSQL, crash-safely.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path.db`` (default ``sqlite:///levguard.db``, relative to the
        working directory), ``sqlite://`` for an in-memory database (one shared connection: for
        tests and demos, not for concurrent threads), or
        ``postgresql+psycopg://user:password@host:5432/db``.
    migrate
        Run ``alembic upgrade head`` on construction (idempotent; concurrent migrations are
        serialised by an advisory lock on PostgreSQL and the write lock on SQLite).

    Raises
    ------
    StoreUnavailable
        The database cannot be reached or migrated.
    InputError
        The URL is malformed or names a database other than SQLite or PostgreSQL.
    """

    def __init__(self, url: str = "sqlite:///levguard.db", *, migrate: bool = True) -> None:
        try:
            parsed = make_url(url)
        except Exception:
            # The message of a parse error may echo the password, so say nothing of it.
            raise InputError("store url is not a valid SQLAlchemy URL") from None
        self._url = parsed
        self.url_redacted: str = _redact(parsed)
        self._password = parsed.password if isinstance(parsed.password, str) and parsed.password else None
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise InputError(f"store url must be sqlite or postgresql, was {backend!r}")
        self._sqlite = backend == "sqlite"
        self.concurrent_writes = True
        #: Held around every transaction of an in-memory database (one connection shared by every
        #: thread); a file or server database needs no lock.
        self.lock = threading.RLock()
        self._serialise = False
        try:
            self._engine = self._make_engine(parsed)
        except (ImportError, sa.exc.SQLAlchemyError) as exc:  # e.g. psycopg not installed: levguard[postgres]
            self._fail("connect", exc)
        if migrate:
            try:
                self._migrate()
            except BaseException:
                self._engine.dispose()
                raise

    def __repr__(self) -> str:
        return f"Store(url={self.url_redacted!r})"

    def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        self._engine.dispose()

    # ---------------------------------------------------------------- engine and transactions

    def _make_engine(self, url: URL) -> Engine:
        if not self._sqlite:
            return sa.create_engine(
                url,
                pool_pre_ping=True,
                connect_args={"connect_timeout": _PG_CONNECT_TIMEOUT_S},
            )
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

    def _fail(self, op: str, exc: BaseException) -> NoReturn:
        orig = getattr(exc, "orig", None) or exc
        detail = " ".join(str(orig).split()) or type(orig).__name__
        leaked = self._password is not None and self._password in detail
        if self._password is not None:
            detail = detail.replace(self._password, "***")
        message = f"store unavailable during {op} on {self.url_redacted}: {type(orig).__name__}: {detail}"
        logger.warning("%s", message)
        if leaked or (self._password is not None and self._password in str(exc)):
            raise StoreUnavailable(message) from None
        raise StoreUnavailable(message) from exc

    @contextmanager
    def _tx(self, op: str, *, write: bool = False) -> Iterator[Connection]:
        # One transaction, committed on success; database errors become StoreUnavailable and
        # integrity violations InputError.
        try:
            with self.lock if self._serialise else nullcontext(), self._engine.connect() as conn:
                if write:
                    conn = conn.execution_options(levguard_write=True)
                with conn.begin():
                    yield conn
        except sa.exc.IntegrityError as exc:
            detail = " ".join(str(getattr(exc, "orig", exc)).split())
            if self._password is not None:
                detail = detail.replace(self._password, "***")
            raise InputError(f"{op} violates the store's constraints: {detail}") from None
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            self._fail(op, exc)

    def _insert(self, table: sa.Table) -> Any:
        # The dialect's INSERT, which knows ON CONFLICT.
        return (sqlite_dialect.insert if self._sqlite else pg.insert)(table)

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", _migrations_dir().replace("%", "%%"))
        try:
            with self._tx("migrate", write=True) as conn:
                if not self._sqlite:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except (StoreUnavailable, InputError):
            raise
        except Exception as exc:  # alembic's own errors (e.g. a revision this code does not know)
            self._fail("migrate", exc)

    # ---------------------------------------------------------------- accounts

    def upsert_account(
        self, name: str, venue: str, *, live_enabled: bool = False, policy: dict[str, Any] | None = None
    ) -> None:
        """Create the account or overwrite its venue, live flag and policy.

        The per-account kill switch and ``created_ns`` are kept. ``policy`` is stored as given
        (JSON): never put secrets in it.
        """
        values = {
            "name": str(name),
            "venue": str(venue),
            "live_enabled": bool(live_enabled),
            "policy": _jsonable(policy, "policy"),
        }
        stmt = self._insert(ACCOUNTS).values(**values, kill_switch=False, created_ns=time.time_ns())
        stmt = stmt.on_conflict_do_update(
            index_elements=[ACCOUNTS.c.name],
            set_={"venue": values["venue"], "live_enabled": values["live_enabled"], "policy": values["policy"]},
        )
        with self._tx("upsert_account", write=True) as conn:
            conn.execute(stmt)

    def account(self, name: str) -> dict[str, Any] | None:
        """Return ``{"name", "venue", "live_enabled", "policy", "kill_switch", "created_ns",
        "disabled_reason", "disabled_ns", "expected", "expected_ns"}`` or None.

        ``kill_switch`` is the account's own switch; :meth:`kill_switch` also honours the global one.
        """
        with self._tx("account") as conn:
            row = conn.execute(sa.select(ACCOUNTS).where(ACCOUNTS.c.name == name)).first()
        return None if row is None else _row(row)

    def accounts(self) -> list[dict[str, Any]]:
        """Return every account (as :meth:`account` does), ordered by name."""
        with self._tx("accounts") as conn:
            rows = conn.execute(sa.select(ACCOUNTS).order_by(ACCOUNTS.c.name)).all()
        return [_row(r) for r in rows]

    def set_live(self, name: str, enabled: bool) -> None:
        """Opt the account in to (or out of) live actions; InputError if it is unknown."""
        with self._tx("set_live", write=True) as conn:
            result = conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == name).values(live_enabled=bool(enabled)))
            if result.rowcount == 0:
                raise InputError(f"account must exist, was {name!r}")

    def set_disabled(self, name: str, reason: str | None, ts_ns: int) -> None:
        """Stop acting on the account (``reason``, e.g. an authentication failure) until an operator
        clears it with ``reason=None``; persisted, so a restart keeps it.  InputError if unknown."""
        values = {"disabled_reason": None if reason is None else str(reason), "disabled_ns": _int(ts_ns, "ts_ns")}
        with self._tx("set_disabled", write=True) as conn:
            if conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == name).values(**values)).rowcount == 0:
                raise InputError(f"account must exist, was {name!r}")

    def set_expected(self, name: str, expected: Mapping[str, float], ts_ns: int) -> None:
        """Persist the positions the guardian expects on the account (``{symbol: signed qty}``):
        what it last saw, adjusted by its own fills.  A no-op for an unknown account."""
        values = {
            "expected": {str(k): float(v) for k, v in expected.items()},
            "expected_ns": _int(ts_ns, "ts_ns"),
        }
        with self._tx("set_expected", write=True) as conn:
            conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == name).values(**values))

    def set_kill_switch(self, account: str | None, on: bool) -> None:
        """Set the kill switch of one account, or the global one when ``account`` is None."""
        with self._tx("set_kill_switch", write=True) as conn:
            if account is None:
                stmt = self._insert(KILL_SWITCH).values(id=1, on=bool(on))
                conn.execute(stmt.on_conflict_do_update(index_elements=[KILL_SWITCH.c.id], set_={"on": bool(on)}))
                return
            result = conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == account).values(kill_switch=bool(on)))
            if result.rowcount == 0:
                raise InputError(f"account must exist, was {account!r}")

    def kill_switch(self, account: str) -> bool:
        """Return True when the global kill switch or the account's own is on."""
        with self._tx("kill_switch") as conn:
            glob = conn.execute(sa.select(KILL_SWITCH.c.on).where(KILL_SWITCH.c.id == 1)).scalar()
            own = conn.execute(sa.select(ACCOUNTS.c.kill_switch).where(ACCOUNTS.c.name == account)).scalar()
        return bool(glob) or bool(own)

    # ---------------------------------------------------------------- snapshots

    def add_snapshot(self, account: str, ts_ns: int, state: str, figures: dict[str, Any]) -> int:
        """Append one snapshot of the account's margin/risk figures; return its id.

        Non-finite floats in ``figures`` are stored as null (JSON has no NaN).
        """
        values = {
            "account": str(account),
            "ts_ns": _int(ts_ns, "ts_ns"),
            "state": str(state),
            "figures": _jsonable(figures, "figures"),
        }
        with self._tx("add_snapshot", write=True) as conn:
            return int(conn.execute(SNAPSHOTS.insert().values(**values).returning(SNAPSHOTS.c.id)).scalar_one())

    def snapshots(self, account: str, *, since_ns: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Return the latest ``limit`` snapshots with ``ts_ns >= since_ns``, oldest first.

        Each is ``{"id", "account", "ts_ns", "state", "figures"}``.
        """
        stmt = sa.select(SNAPSHOTS).where(SNAPSHOTS.c.account == account)
        if since_ns is not None:
            stmt = stmt.where(SNAPSHOTS.c.ts_ns >= _int(since_ns, "since_ns"))
        stmt = stmt.order_by(SNAPSHOTS.c.ts_ns.desc(), SNAPSHOTS.c.id.desc()).limit(max(int(limit), 0))
        with self._tx("snapshots") as conn:
            rows = conn.execute(stmt).all()
        return [_row(r) for r in reversed(rows)]

    # ---------------------------------------------------------------- alerts

    def add_alert(
        self, account: str | None, ts_ns: int, level: str, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> int:
        """Record an alert (``account`` None for a global one); return its id."""
        values = {
            "account": None if account is None else str(account),
            "ts_ns": _int(ts_ns, "ts_ns"),
            "level": str(level),
            "kind": str(kind),
            "message": str(message),
            "data": _jsonable(data, "data"),
        }
        with self._tx("add_alert", write=True) as conn:
            return int(conn.execute(ALERTS.insert().values(**values).returning(ALERTS.c.id)).scalar_one())

    def alerts(
        self,
        *,
        account: str | None = None,
        unacked_only: bool = False,
        limit: int = 100,
        offset: int = 0,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return alerts, newest first; ``account`` None means every account and the global ones.

        Each is ``{"id", "account", "ts_ns", "level", "kind", "message", "data", "acked", "acked_ns"}``.
        ``before_id`` pages by key (rows with a smaller id: stable while alerts are appended).
        """
        stmt = sa.select(ALERTS)
        if before_id is not None:
            stmt = stmt.where(ALERTS.c.id < _int(before_id, "before_id"))
        if account is not None:
            stmt = stmt.where(ALERTS.c.account == account)
        if unacked_only:
            stmt = stmt.where(ALERTS.c.acked_ns.is_(None))
        stmt = stmt.order_by(ALERTS.c.id.desc()).limit(max(int(limit), 0)).offset(max(int(offset), 0))
        with self._tx("alerts") as conn:
            rows = conn.execute(stmt).all()
        return [{**_row(r), "acked": r.acked_ns is not None} for r in rows]

    def ack_alert(self, alert_id: int, ts_ns: int) -> bool:
        """Acknowledge an alert; True if this call acknowledged it, False if unknown or already acked."""
        stmt = (
            ALERTS.update()
            .where(ALERTS.c.id == int(alert_id), ALERTS.c.acked_ns.is_(None))
            .values(acked_ns=_int(ts_ns, "ts_ns"))
        )
        with self._tx("ack_alert", write=True) as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    # ---------------------------------------------------------------- audit log

    def audit(
        self,
        account: str | None,
        ts_ns: int,
        event: str,
        inputs: dict[str, Any],
        decision: dict[str, Any],
        reasons: list[str],
    ) -> int:
        """Append one decision with its inputs and reasons to the audit log; return its id.

        The log is append-only: the database rejects UPDATE and DELETE on it.
        """
        values = {
            "account": None if account is None else str(account),
            "ts_ns": _int(ts_ns, "ts_ns"),
            "event": str(event),
            "inputs": _jsonable(inputs, "inputs"),
            "decision": _jsonable(decision, "decision"),
            "reasons": [str(r) for r in reasons],
        }
        with self._tx("audit", write=True) as conn:
            return int(conn.execute(AUDIT_LOG.insert().values(**values).returning(AUDIT_LOG.c.id)).scalar_one())

    def record_cycle(
        self,
        snapshots: list[tuple[str, int, str, dict[str, Any]]],
        audits: list[tuple[str | None, int, str, dict[str, Any], dict[str, Any], list[str]]],
    ) -> None:
        """Append many snapshots ``(account, ts_ns, state, figures)`` and audit rows ``(account,
        ts_ns, event, inputs, decision, reasons)`` in one transaction (one commit per guardian
        cycle instead of two per account).  Decisions that lead to orders are written at once by
        :meth:`audit` and :meth:`record_intent`, never batched."""
        snap_rows = [
            {"account": str(a), "ts_ns": _int(t, "ts_ns"), "state": str(st), "figures": _jsonable(f, "figures")}
            for a, t, st, f in snapshots
        ]
        audit_rows = [
            {
                "account": None if a is None else str(a),
                "ts_ns": _int(t, "ts_ns"),
                "event": str(e),
                "inputs": _jsonable(i, "inputs"),
                "decision": _jsonable(d, "decision"),
                "reasons": [str(r) for r in rs],
            }
            for a, t, e, i, d, rs in audits
        ]
        if not snap_rows and not audit_rows:
            return
        with self._tx("record_cycle", write=True) as conn:
            if snap_rows:
                conn.execute(SNAPSHOTS.insert(), snap_rows)
            if audit_rows:
                conn.execute(AUDIT_LOG.insert(), audit_rows)

    def audit_log(
        self,
        *,
        account: str | None = None,
        event: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
        offset: int = 0,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return audit rows, newest first: ``{"id", "account", "ts_ns", "event", "inputs", "decision", "reasons"}``.

        ``before_id`` pages by key (rows with a smaller id: stable while rows are appended).
        """
        stmt = sa.select(AUDIT_LOG)
        if before_id is not None:
            stmt = stmt.where(AUDIT_LOG.c.id < _int(before_id, "before_id"))
        if account is not None:
            stmt = stmt.where(AUDIT_LOG.c.account == account)
        if event is not None:
            stmt = stmt.where(AUDIT_LOG.c.event == event)
        if since_ns is not None:
            stmt = stmt.where(AUDIT_LOG.c.ts_ns >= _int(since_ns, "since_ns"))
        stmt = stmt.order_by(AUDIT_LOG.c.id.desc()).limit(max(int(limit), 0)).offset(max(int(offset), 0))
        with self._tx("audit_log") as conn:
            rows = conn.execute(stmt).all()
        return [_row(r) for r in rows]

    # ---------------------------------------------------------------- orders (write-ahead)

    def record_intent(
        self,
        account: str,
        client_order_id: str,
        symbol: str,
        side: str,
        qty: float,
        ts_ns: int,
        reason: str,
        *,
        lease: tuple[str, str | None, int] | None = None,
        fence_s: float = 0.0,
        audit: tuple[dict[str, Any], dict[str, Any], list[str]] | None = None,
    ) -> bool:
        """Commit an order intent before the order is sent; False if the id exists (nothing changes).

        The row starts with status ``"intent"``; the commit is durable when this returns True.

        ``lease`` = ``(owner, instance, epoch)`` fences the write: in the same transaction the
        account's lease must still be held by that owner and instance under that epoch, and valid
        for at least ``fence_s`` more seconds, else :class:`LeaseLost` is raised and nothing is
        written (a process that lost its lease can never record, hence never send).  ``audit`` =
        ``(inputs, decision, reasons)`` appends the decision's ``deleverage`` audit row in the same
        transaction, so an intent never exists without its audit row.
        """
        now = _int(ts_ns, "ts_ns")
        values = {
            "client_order_id": str(client_order_id),
            "account": str(account),
            "symbol": str(symbol),
            "side": str(side),
            "qty": float(qty),
            "reason": str(reason),
            "status": "intent",
            "intent_ns": now,
            "filled": 0.0,
            "owner": None if lease is None else str(lease[0]),
            "epoch": None if lease is None else int(lease[2]),
        }
        stmt = (
            self._insert(ORDERS)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[ORDERS.c.client_order_id])
            .returning(ORDERS.c.client_order_id)  # a row back means this call inserted it
        )
        with self._tx("record_intent", write=True) as conn:
            if lease is not None:
                self._fence(conn, str(account), lease, now, fence_s, f"order {client_order_id} not recorded")
            inserted = conn.execute(stmt).first() is not None
            if inserted and audit is not None:
                inputs, decision, reasons = audit
                conn.execute(
                    AUDIT_LOG.insert().values(
                        account=str(account),
                        ts_ns=now,
                        event="deleverage",
                        inputs=_jsonable(inputs, "inputs"),
                        decision=_jsonable(decision, "decision"),
                        reasons=[str(r) for r in reasons],
                    )
                )
            return inserted

    def mark_sent(
        self,
        client_order_id: str,
        ts_ns: int,
        *,
        lease: tuple[str, str | None, int] | None = None,
        fence_s: float = 0.0,
    ) -> bool:
        """Mark an intent as sent; True when this call did, False when the order is no longer an
        intent (already sent, or resolved meanwhile, e.g. expired by a process that took the
        account over): then it must not be sent.  InputError if unknown.

        ``lease`` fences the write as in :meth:`record_intent` (:class:`LeaseLost` when the
        caller no longer holds the account), in the same transaction, so an order is only ever
        sent by the current holder of a lease that has at least ``fence_s`` seconds left.
        """
        now = _int(ts_ns, "ts_ns")
        stmt = (
            ORDERS.update()
            .where(ORDERS.c.client_order_id == client_order_id, ORDERS.c.status == "intent")
            .values(status="sent", sent_ns=now)
            .returning(ORDERS.c.account)
        )
        with self._tx("mark_sent", write=True) as conn:
            if lease is not None:
                found = conn.execute(
                    sa.select(ORDERS.c.account).where(ORDERS.c.client_order_id == client_order_id)
                ).first()
                if found is None:
                    raise InputError(f"client_order_id must name a recorded order, was {client_order_id!r}")
                self._fence(conn, str(found.account), lease, now, fence_s, f"order {client_order_id} not sent")
            if conn.execute(stmt).first() is None:
                self._require_order(conn, client_order_id)
                return False
            return True

    @staticmethod
    def _fence(
        conn: Connection, account: str, lease: tuple[str, str | None, int], now: int, fence_s: float, what: str
    ) -> None:
        # The lease row, locked until the caller's commit (a concurrent takeover waits for it on
        # PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), must still be held by
        # this (owner, instance) under this epoch for at least fence_s more seconds.
        owner, instance, epoch = lease
        row = conn.execute(
            sa.select(LEASES.c.owner, LEASES.c.instance, LEASES.c.epoch, LEASES.c.expires_ns)
            .where(LEASES.c.account == account)
            .with_for_update()
        ).first()
        margin = round(max(float(fence_s), 0.0) * 1e9)
        if (
            row is None
            or row.owner != str(owner)
            or (instance is not None and row.instance != str(instance))
            or int(row.epoch) != int(epoch)
            or int(row.expires_ns) <= now + margin
        ):
            held = None if row is None else f"{row.owner}/{row.instance} epoch {row.epoch}"
            raise LeaseLost(f"lease of {account!r} not held by {owner!r} at epoch {epoch} (held: {held}); {what}")

    def mark_result(
        self,
        client_order_id: str,
        status: str,
        filled: float,
        average_price: float | None,
        venue_order_id: str | None,
        ts_ns: int,
        *,
        error: str | None = None,
        audit: tuple[str, dict[str, Any], dict[str, Any], list[str]] | None = None,
    ) -> float:
        """Record the venue's answer (or a reconciliation): ``status`` is one of ccxt's statuses.

        ``"open"`` leaves the order unresolved; closed, canceled, rejected and expired are final.
        A later call overwrites an earlier result (the venue's latest word wins).  In the same
        transaction the fill not yet booked (``filled`` minus what was recorded before) moves the
        account's expected position of the symbol (:meth:`set_expected`), so the guardian's own
        fills are never mistaken for the venue's doing, even across a crash.  Returns that newly
        booked fill (>= 0, in the position's units).  ``audit`` = ``(event, inputs, decision,
        reasons)`` appends an audit row of the order's account in the same transaction.
        """
        if status not in ORDER_STATUSES:
            raise InputError(f"status must be one of {sorted(ORDER_STATUSES)}, was {status!r}")
        price = None if average_price is None or not math.isfinite(float(average_price)) else float(average_price)
        filled_f = float(filled)
        if not (math.isfinite(filled_f) and filled_f >= 0.0):
            raise InputError(f"filled must be a finite number >= 0, was {filled!r}")
        values: dict[str, Any] = {
            "status": status,
            "filled": filled_f,
            "average_price": price,
            "venue_order_id": None if venue_order_id is None else str(venue_order_id),
            "result_ns": _int(ts_ns, "ts_ns"),
        }
        if error is not None:
            values["error"] = str(error)[:2000]
        with self._tx("mark_result", write=True) as conn:
            row = conn.execute(
                sa.select(ORDERS.c.account, ORDERS.c.symbol, ORDERS.c.side, ORDERS.c.filled)
                .where(ORDERS.c.client_order_id == client_order_id)
                .with_for_update()  # two answers for one fill book it once (PostgreSQL)
            ).first()
            if row is None:
                raise InputError(f"client_order_id must name a recorded order, was {client_order_id!r}")
            conn.execute(ORDERS.update().where(ORDERS.c.client_order_id == client_order_id).values(**values))
            if audit is not None:
                event, inputs, decision, reasons = audit
                conn.execute(
                    AUDIT_LOG.insert().values(
                        account=row.account,
                        ts_ns=_int(ts_ns, "ts_ns"),
                        event=str(event),
                        inputs=_jsonable(inputs, "inputs"),
                        decision=_jsonable(decision, "decision"),
                        reasons=[str(r) for r in reasons],
                    )
                )
            delta = max(filled_f - float(row.filled), 0.0)
            if delta > 0.0:
                acct = conn.execute(
                    sa.select(ACCOUNTS.c.expected).where(ACCOUNTS.c.name == row.account).with_for_update()
                ).first()
                expected = dict(acct.expected or {}) if acct is not None else None
                if expected is not None and row.symbol in expected:
                    sign = -1.0 if row.side == "sell" else 1.0
                    expected[row.symbol] = float(expected[row.symbol]) + sign * delta
                    conn.execute(
                        ACCOUNTS.update()
                        .where(ACCOUNTS.c.name == row.account)
                        .values(expected=expected, expected_ns=_int(ts_ns, "ts_ns"))
                    )
        return delta

    @staticmethod
    def _require_order(conn: Connection, client_order_id: str) -> None:
        found = conn.execute(sa.select(ORDERS.c.client_order_id).where(ORDERS.c.client_order_id == client_order_id))
        if found.first() is None:
            raise InputError(f"client_order_id must name a recorded order, was {client_order_id!r}")

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        """Return the order (see :meth:`orders` for its keys) or None."""
        with self._tx("order") as conn:
            row = conn.execute(sa.select(ORDERS).where(ORDERS.c.client_order_id == client_order_id)).first()
        return None if row is None else _row(row)

    def order_count(self, account: str, symbol: str) -> int:
        """Number of orders ever recorded for ``account`` on ``symbol`` (any status)."""
        stmt = sa.select(sa.func.count()).where(ORDERS.c.account == account, ORDERS.c.symbol == symbol)
        with self._tx("order_count") as conn:
            return int(conn.execute(stmt).scalar_one())

    def orders(
        self,
        *,
        account: str | None = None,
        limit: int = 100,
        offset: int = 0,
        before: tuple[int, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Return orders, newest intent first.

        Each is ``{"client_order_id", "account", "symbol", "side", "qty", "reason", "status",
        "intent_ns", "sent_ns", "result_ns", "filled", "average_price", "venue_order_id", "owner",
        "epoch", "error"}``; status is ``"intent"``, ``"sent"`` or one of :data:`ORDER_STATUSES`.
        ``before`` = ``(intent_ns, client_order_id)`` of the last row of the previous page pages by
        key (stable while orders are recorded).
        """
        stmt = sa.select(ORDERS)
        if account is not None:
            stmt = stmt.where(ORDERS.c.account == account)
        if before is not None:
            b_ns, b_id = _int(before[0], "before[0]"), str(before[1])
            stmt = stmt.where(
                sa.or_(ORDERS.c.intent_ns < b_ns, sa.and_(ORDERS.c.intent_ns == b_ns, ORDERS.c.client_order_id < b_id))
            )
        stmt = stmt.order_by(ORDERS.c.intent_ns.desc(), ORDERS.c.client_order_id.desc())
        stmt = stmt.limit(max(int(limit), 0)).offset(max(int(offset), 0))
        with self._tx("orders") as conn:
            rows = conn.execute(stmt).all()
        return [_row(r) for r in rows]

    def unresolved_orders(self, account: str) -> list[dict[str, Any]]:
        """Return the account's orders without a final status (intent, sent, open), oldest first."""
        stmt = (
            sa.select(ORDERS)
            .where(ORDERS.c.account == account, ORDERS.c.status.not_in(sorted(FINAL_ORDER_STATUSES)))
            .order_by(ORDERS.c.intent_ns, ORDERS.c.client_order_id)
        )
        with self._tx("unresolved_orders") as conn:
            rows = conn.execute(stmt).all()
        return [_row(r) for r in rows]

    # ---------------------------------------------------------------- leases

    @staticmethod
    def _expiry(ttl_s: float, now_ns: int) -> int:
        if not (math.isfinite(float(ttl_s)) and ttl_s > 0):
            raise InputError(f"ttl_s must be > 0, was {ttl_s!r}")
        return _int(now_ns, "now_ns") + round(float(ttl_s) * 1e9)

    def _lease_upsert(self, account: str, owner: str, expires: int, now: int, instance: str | None = None) -> Any:
        # The single atomic statement that takes a free, expired or own lease (module docstring);
        # the epoch moves on unless the same (owner, instance) renews an unexpired lease.
        stmt = self._insert(LEASES).values(
            account=str(account), owner=str(owner), expires_ns=expires, instance=instance, epoch=1, renewed_ns=now
        )
        same_holder = sa.and_(
            LEASES.c.owner == str(owner),
            LEASES.c.instance.is_(None) if instance is None else LEASES.c.instance == instance,
            LEASES.c.expires_ns > now,
        )
        return stmt.on_conflict_do_update(
            index_elements=[LEASES.c.account],
            set_={
                "owner": stmt.excluded.owner,
                "expires_ns": stmt.excluded.expires_ns,
                "instance": stmt.excluded.instance,
                "renewed_ns": stmt.excluded.renewed_ns,
                "epoch": sa.case((same_holder, LEASES.c.epoch), else_=LEASES.c.epoch + 1),
            },
            where=sa.or_(LEASES.c.owner.is_(None), LEASES.c.expires_ns <= now, LEASES.c.owner == str(owner)),
        ).returning(LEASES.c.owner, LEASES.c.instance, LEASES.c.epoch)

    def acquire_lease(self, account: str, owner: str, ttl_s: float, now_ns: int) -> bool:
        """Take the account's lease if it is free, expired or already ``owner``'s; atomic across processes.

        Returns True when ``owner`` holds the lease until ``now_ns + ttl_s`` (see the module
        docstring for why two racing processes cannot both win).
        """
        stmt = self._lease_upsert(account, owner, self._expiry(ttl_s, now_ns), _int(now_ns, "now_ns"))
        with self._tx("acquire_lease", write=True) as conn:
            won = conn.execute(stmt).first()
        return won is not None and won.owner == str(owner)

    def acquire_leases(self, accounts: list[str], owner: str, ttl_s: float, now_ns: int) -> dict[str, bool]:
        """:meth:`take_leases` without an instance: account -> held."""
        return {k: v.held for k, v in self.take_leases(accounts, owner, ttl_s, now_ns).items()}

    def take_leases(
        self, accounts: list[str], owner: str, ttl_s: float, now_ns: int, *, instance: str | None = None
    ) -> dict[str, Lease]:
        """Take or renew the leases of many accounts in one transaction (one commit per guardian
        cycle); returns account -> :class:`Lease`.

        ``owner`` is the guardian's stable identity (the same after a restart), ``instance`` the
        running process's (new at every start).  A lease is taken when it is free, expired, or
        held by ``owner`` (so a restarted guardian takes its accounts back at once); the fencing
        epoch is bumped whenever the holding ``(owner, instance)`` changes, so a previous process
        of the same identity that still runs can no longer record an order
        (:meth:`record_intent` with ``lease``).  Each account's take is the atomic upsert of the
        module docstring.
        """
        expires = self._expiry(ttl_s, now_ns)
        now = _int(now_ns, "now_ns")
        owner_s = str(owner)
        inst = None if instance is None else str(instance)
        out: dict[str, Lease] = {}
        names = [str(a) for a in accounts]
        with self._tx("acquire_leases", write=True) as conn:
            # Steady state: every lease is already ours and unexpired, one UPDATE renews them all.
            mine = sa.and_(
                LEASES.c.account.in_(names),
                LEASES.c.owner == owner_s,
                LEASES.c.expires_ns > now,
                LEASES.c.instance.is_(None) if inst is None else LEASES.c.instance == inst,
            )
            renewed = {
                r.account: int(r.epoch)
                for r in conn.execute(
                    LEASES.update()
                    .where(mine)
                    .values(expires_ns=expires, renewed_ns=now)
                    .returning(LEASES.c.account, LEASES.c.epoch)
                )
            }
            out.update({a: Lease(True, e) for a, e in renewed.items()})
            rest = [a for a in names if a not in renewed]
            if not rest:
                return out
            before = {
                r.account: r
                for r in conn.execute(
                    sa.select(
                        LEASES.c.account, LEASES.c.owner, LEASES.c.instance, LEASES.c.renewed_ns, LEASES.c.expires_ns
                    ).where(LEASES.c.account.in_(rest))
                )
            }
            for account in rest:
                prev = before.get(account)
                won = conn.execute(self._lease_upsert(account, owner_s, expires, now, inst)).first()
                held = won is not None and won.owner == owner_s and won.instance == inst
                out[account] = Lease(
                    held,
                    int(won.epoch) if held and won is not None else -1,
                    taken=held,
                    previous_owner=None if prev is None else prev.owner,
                    previous_renewed_ns=None if prev is None or prev.renewed_ns is None else int(prev.renewed_ns),
                    previous_instance=None if prev is None else prev.instance,
                    previous_expires_ns=None if prev is None else int(prev.expires_ns),
                )
        return out

    def leases(self) -> list[dict[str, Any]]:
        """Every lease row: ``{"account", "owner", "instance", "epoch", "expires_ns", "renewed_ns"}``."""
        with self._tx("leases") as conn:
            return [_row(r) for r in conn.execute(sa.select(LEASES).order_by(LEASES.c.account))]

    # ---------------------------------------------------------------- API tokens (hashes only)

    def add_token(self, name: str, scope: str, token_hash: str, ts_ns: int) -> int:
        """Store a token's SHA-256 hex digest with its scope (``read`` or ``admin``); never the token."""
        if scope not in ("read", "admin"):
            raise InputError(f"scope must be read or admin, was {scope!r}")
        if not (isinstance(token_hash, str) and len(token_hash) == 64):
            raise InputError("token_hash must be a 64-character SHA-256 hex digest")
        values = {
            "name": str(name),
            "scope": scope,
            "token_hash": token_hash,
            "created_ns": _int(ts_ns, "ts_ns"),
            "revoked": False,
        }
        with self._tx("add_token", write=True) as conn:
            return int(conn.execute(API_TOKENS.insert().values(**values).returning(API_TOKENS.c.id)).scalar_one())

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        """The unrevoked token with this digest: ``{"id", "name", "scope"}``, or None."""
        stmt = sa.select(API_TOKENS.c.id, API_TOKENS.c.name, API_TOKENS.c.scope).where(
            API_TOKENS.c.token_hash == token_hash, API_TOKENS.c.revoked.is_(False)
        )
        with self._tx("token_by_hash") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else {"id": int(row.id), "name": row.name, "scope": row.scope}

    def tokens(self) -> list[dict[str, Any]]:
        """Every token's ``id, name, scope, created_ns, revoked`` (no digests)."""
        stmt = sa.select(
            API_TOKENS.c.id, API_TOKENS.c.name, API_TOKENS.c.scope, API_TOKENS.c.created_ns, API_TOKENS.c.revoked
        ).order_by(API_TOKENS.c.id)
        with self._tx("tokens") as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token; True when it existed and was active."""
        stmt = API_TOKENS.update().where(API_TOKENS.c.id == int(token_id), API_TOKENS.c.revoked.is_(False))
        with self._tx("revoke_token", write=True) as conn:
            return bool(conn.execute(stmt.values(revoked=True)).rowcount == 1)

    def renew_lease(self, account: str, owner: str, ttl_s: float, now_ns: int) -> bool:
        """Extend ``owner``'s unexpired lease to ``now_ns + ttl_s``; False if not held (or expired)."""
        expires = self._expiry(ttl_s, now_ns)
        stmt = (
            LEASES.update()
            .where(LEASES.c.account == account, LEASES.c.owner == owner, LEASES.c.expires_ns > _int(now_ns, "now_ns"))
            .values(expires_ns=expires)
        )
        with self._tx("renew_lease", write=True) as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def release_lease(self, account: str, owner: str) -> None:
        """Free the lease if ``owner`` holds it (a no-op otherwise)."""
        stmt = (
            LEASES.update().where(LEASES.c.account == account, LEASES.c.owner == owner).values(owner=None, expires_ns=0)
        )
        with self._tx("release_lease", write=True) as conn:
            conn.execute(stmt)

    def lease_owner(self, account: str, now_ns: int) -> str | None:
        """Return the owner of the account's unexpired lease, or None."""
        stmt = sa.select(LEASES.c.owner).where(
            LEASES.c.account == account, LEASES.c.owner.is_not(None), LEASES.c.expires_ns > _int(now_ns, "now_ns")
        )
        with self._tx("lease_owner") as conn:
            owner = conn.execute(stmt).scalar()
        return None if owner is None else str(owner)
