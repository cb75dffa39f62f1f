"""The guardian store's tables (SQLAlchemy Core); the Alembic migrations in
``levguard/live/migrations`` create exactly these (a test compares them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

__all__ = ["ACCOUNTS", "ALERTS", "API_TOKENS", "AUDIT_LOG", "KILL_SWITCH", "LEASES", "METADATA", "ORDERS", "SNAPSHOTS"]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PKs only
_JSON = sa.JSON().with_variant(pg.JSONB(), "postgresql")

METADATA = sa.MetaData()

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

SNAPSHOTS = sa.Table(
    "snapshots",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(200), nullable=False),
    sa.Column("ts_ns", sa.BigInteger(), nullable=False),
    sa.Column("state", sa.String(50), nullable=False),
    sa.Column("figures", _JSON, nullable=False),
    sa.Index("ix_snapshots_account_ts", "account", "ts_ns"),
)

ALERTS = sa.Table(
    "alerts",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(200), nullable=True),
    sa.Column("ts_ns", sa.BigInteger(), nullable=False),
    sa.Column("level", sa.String(50), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("data", _JSON, nullable=True),
    sa.Column("acked_ns", sa.BigInteger(), nullable=True),
    sa.Index("ix_alerts_account", "account"),
)

AUDIT_LOG = sa.Table(
    "audit_log",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(200), nullable=True),
    sa.Column("ts_ns", sa.BigInteger(), nullable=False),
    sa.Column("event", sa.String(100), nullable=False),
    sa.Column("inputs", _JSON, nullable=False),
    sa.Column("decision", _JSON, nullable=False),
    sa.Column("reasons", _JSON, nullable=False),
    sa.Index("ix_audit_log_account_ts", "account", "ts_ns"),
)

ORDERS = sa.Table(
    "orders",
    METADATA,
    sa.Column("client_order_id", sa.String(100), primary_key=True),
    sa.Column("account", sa.String(200), nullable=False),
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
    sa.Index("ix_orders_account_status", "account", "status"),
)

LEASES = sa.Table(
    "leases",
    METADATA,
    sa.Column("account", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("expires_ns", sa.BigInteger(), nullable=False),
    sa.Column("instance", sa.String(100), nullable=True),
    sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("renewed_ns", sa.BigInteger(), nullable=True),
)


API_TOKENS = sa.Table(
    "api_tokens",
    METADATA,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_ns", sa.BigInteger(), nullable=False),
    sa.Column("revoked", sa.Boolean(), nullable=False),
)
