"""Initial schema: accounts, kill switch, snapshots, alerts, append-only audit log, orders, leases.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

The audit log is append-only: triggers reject UPDATE and DELETE on SQLite and PostgreSQL (and
TRUNCATE on PostgreSQL). This migration is frozen: later schema changes get new revisions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(pg.JSONB(), "postgresql")
_NAME = sa.String(200)

_APPEND_ONLY = "audit_log is append-only"


def upgrade() -> None:
    """Create every table, index and the audit log's append-only triggers."""
    op.create_table(
        "accounts",
        sa.Column("name", _NAME, primary_key=True),
        sa.Column("venue", sa.String(100), nullable=False),
        sa.Column("live_enabled", sa.Boolean(), nullable=False),
        sa.Column("policy", _JSON, nullable=True),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "kill_switch",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("on", sa.Boolean(), nullable=False),
    )
    op.bulk_insert(
        sa.table("kill_switch", sa.column("id", sa.Integer()), sa.column("on", sa.Boolean())), [{"id": 1, "on": False}]
    )
    op.create_table(
        "snapshots",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("account", _NAME, nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(50), nullable=False),
        sa.Column("figures", _JSON, nullable=False),
    )
    op.create_index("ix_snapshots_account_ts", "snapshots", ["account", "ts_ns"])
    op.create_table(
        "alerts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("account", _NAME, nullable=True),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(50), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", _JSON, nullable=True),
        sa.Column("acked_ns", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_alerts_account", "alerts", ["account"])
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("account", _NAME, nullable=True),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("inputs", _JSON, nullable=False),
        sa.Column("decision", _JSON, nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
    )
    op.create_index("ix_audit_log_account_ts", "audit_log", ["account", "ts_ns"])
    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.String(100), primary_key=True),
        sa.Column("account", _NAME, nullable=False),
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
    )
    op.create_index("ix_orders_account_status", "orders", ["account", "status"])
    op.create_table(
        "leases",
        sa.Column("account", _NAME, primary_key=True),
        sa.Column("owner", _NAME, nullable=True),
        sa.Column("expires_ns", sa.BigInteger(), nullable=False),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}: {verb} rejected'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION levguard_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_APPEND_ONLY}: % rejected', TG_OP; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION levguard_audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION levguard_audit_log_append_only()"
        )
    else:
        raise NotImplementedError(f"levguard's store supports sqlite and postgresql, not {dialect}")


def downgrade() -> None:
    """Drop everything (the audit log included: dropping a table is not an UPDATE or DELETE)."""
    for table in ("leases", "orders", "audit_log", "alerts", "snapshots", "kill_switch", "accounts"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS levguard_audit_log_append_only()")
