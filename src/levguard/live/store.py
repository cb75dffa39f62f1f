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

The tables are grouped in families, one class each, composed by :class:`Store` over one
:class:`~levguard.live.store_engine.StoreEngine`: :class:`~levguard.live.store_accounts.AccountStore`
(accounts, kill switch), :class:`~levguard.live.store_journal.JournalStore` (snapshots, alerts,
audit log), :class:`~levguard.live.store_orders.OrderStore` (orders),
:class:`~levguard.live.store_leases.LeaseStore` (leases) and
:class:`~levguard.live.store_tokens.TokenStore` (API tokens).

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

from contextlib import AbstractContextManager

from levguard.live.schema import METADATA
from levguard.live.store_accounts import AccountStore
from levguard.live.store_engine import VERSION_TABLE, StoreEngine, StoreUnavailable
from levguard.live.store_journal import JournalStore
from levguard.live.store_leases import Lease, LeaseLost, LeaseStore
from levguard.live.store_orders import FINAL_ORDER_STATUSES, ORDER_STATUSES, OrderStore
from levguard.live.store_tokens import TokenStore

__all__ = [
    "FINAL_ORDER_STATUSES",
    "METADATA",
    "ORDER_STATUSES",
    "VERSION_TABLE",
    "AccountStore",
    "JournalStore",
    "Lease",
    "LeaseLost",
    "LeaseStore",
    "OrderStore",
    "Store",
    "StoreEngine",
    "StoreUnavailable",
    "TokenStore",
]


class Store(AccountStore, JournalStore, OrderStore, LeaseStore, TokenStore):
    """Persist the guardian's state in SQLite or PostgreSQL, crash-safely.

    The table families over one :class:`~levguard.live.store_engine.StoreEngine` (see the module
    docstring).  A caller that needs one family only may build it over an engine of its own,
    e.g. ``OrderStore(StoreEngine(url))``.

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
    create
        Create a SQLite file that does not exist (default).  ``False`` for commands that only
        read or amend an existing store (``serve-token --list``, ``guard-enable``): a mistyped
        path is then an error instead of a new, empty database, and a database that holds no
        levguard store (another application's) is refused instead of migrated into.

    Raises
    ------
    StoreUnavailable
        The database cannot be reached or migrated.
    InputError
        The URL is malformed or names a database other than SQLite or PostgreSQL, or (with
        ``create=False``) a SQLite file that does not exist or a database without a levguard store.
    """

    def __init__(self, url: str = "sqlite:///levguard.db", *, migrate: bool = True, create: bool = True) -> None:
        # One engine shared by every family (their own __init__ only stores it).
        self._db = StoreEngine(url, migrate=migrate, create=create)
        self.url_redacted: str = self._db.url_redacted
        #: False for an in-memory database: one connection shared by every thread, so callers
        #: must not write from a second thread.
        self.concurrent_writes: bool = self._db.concurrent_writes
        #: Held around every transaction of an in-memory database; a file or server database
        #: needs no lock.
        self.lock = self._db.lock

    def __repr__(self) -> str:
        return f"Store(url={self.url_redacted!r})"

    def bounded(self, deadline: float) -> AbstractContextManager[None]:
        """Bound this thread's store calls inside the block by ``deadline`` (``time.monotonic()``):
        see :meth:`StoreEngine.bounded <levguard.live.store_engine.StoreEngine.bounded>`."""
        return self._db.bounded(deadline)

    def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        self._db.close()
