"""The guardian store's tables (SQLAlchemy Core); the Alembic migrations in
``levguard/live/migrations`` create exactly these (a test compares them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

__all__ = ["ACCOUNTS", "ALERTS", "API_TOKENS", "AUDIT_LOG", "KILL_SWITCH", "LEASES", "METADATA", "ORDERS", "SNAPSHOTS"]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PKs only
_JSON = sa.JSON().with_variant(pg.JSONB(), "postgresql")

METADATA = sa.MetaData()


def _serial_id() -> sa.Column[int]:
    # An autoincrementing primary key (the keyset cursor of paged reads: newest first).
    return sa.Column("id", _ID, primary_key=True, autoincrement=True)


def _account(*, nullable: bool = False, primary_key: bool = False) -> sa.Column[str]:
    # The account a row is about: its name (``accounts.name``).
    return sa.Column("account", sa.String(200), nullable=nullable, primary_key=primary_key)


def _account_log(name: str, *columns: sa.Column[object], account_nullable: bool, by_time: bool) -> sa.Table:
    # An append-ordered table of rows about an account (None: not about one): its serial id, the
    # account and the time (UTC ns), then its own columns; indexed by account (and time when
    # ``by_time``), as ``ix_<table>_account[_ts]``.
    keys = ("account", "ts_ns") if by_time else ("account",)
    return sa.Table(
        name,
        METADATA,
        _serial_id(),
        _account(nullable=account_nullable),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        *columns,
        sa.Index(f"ix_{name}_account{'_ts' if by_time else ''}", *keys),
    )


ACCOUNTS = sa.Table(
    "accounts",
    METADATA,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("venue", sa.String(100), nullable=False),
    sa.Column("live_enabled", sa.Boolean(), nullable=False),
    sa.Column("policy", _JSON, nullable=True),
    sa.Column("kill_switch", sa.Boolean(), nullable=False),
    sa.Column("created_ns", sa.BigInteger(), nullable=False),
    sa.Column("disabled_reason", sa.Text(), nullable=True),
    sa.Column("disabled_ns", sa.BigInteger(), nullable=True),
    sa.Column("expected", _JSON, nullable=True),
    sa.Column("expected_ns", sa.BigInteger(), nullable=True),
)

KILL_SWITCH = sa.Table(
    "kill_switch",
    METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("on", sa.Boolean(), nullable=False),
)

SNAPSHOTS = _account_log(
    "snapshots",
    sa.Column("state", sa.String(50), nullable=False),
    sa.Column("figures", _JSON, nullable=False),
    account_nullable=False,
    by_time=True,
)

ALERTS = _account_log(
    "alerts",
    sa.Column("level", sa.String(50), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("data", _JSON, nullable=True),
    sa.Column("acked_ns", sa.BigInteger(), nullable=True),
    account_nullable=True,
    by_time=False,
)

AUDIT_LOG = _account_log(
    "audit_log",
    sa.Column("event", sa.String(100), nullable=False),
    sa.Column("inputs", _JSON, nullable=False),
    sa.Column("decision", _JSON, nullable=False),
    sa.Column("reasons", _JSON, nullable=False),
    account_nullable=True,
    by_time=True,
)

ORDERS = sa.Table(
    "orders",
    METADATA,
    sa.Column("client_order_id", sa.String(100), primary_key=True),
    _account(),
    sa.Column("symbol", sa.String(100), nullable=False),
    sa.Column("side", sa.String(10), nullable=False),
    sa.Column("qty", sa.Float(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("intent_ns", sa.BigInteger(), nullable=False),
    sa.Column("sent_ns", sa.BigInteger(), nullable=True),
    sa.Column("result_ns", sa.BigInteger(), nullable=True),
    sa.Column("filled", sa.Float(), nullable=False),
    sa.Column("average_price", sa.Float(), nullable=True),
    sa.Column("venue_order_id", sa.String(100), nullable=True),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("epoch", sa.BigInteger(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("late_until_ns", sa.BigInteger(), nullable=True),  # on the late watch until (UTC ns)
    sa.Column("late_as", sa.Text(), nullable=True),  # why it was taken as final
    sa.Index("ix_orders_account_status", "account", "status"),
)

LEASES = sa.Table(
    "leases",
    METADATA,
    _account(primary_key=True),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("expires_ns", sa.BigInteger(), nullable=False),
    sa.Column("instance", sa.String(100), nullable=True),
    sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("renewed_ns", sa.BigInteger(), nullable=True),
)


API_TOKENS = sa.Table(
    "api_tokens",
    METADATA,
    _serial_id(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_ns", sa.BigInteger(), nullable=False),
    sa.Column("revoked", sa.Boolean(), nullable=False),
)
