"""Guardian hardening: persisted acting-disabled state and expected positions, fenced leases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

* ``accounts.disabled_reason`` / ``disabled_ns``: acting stopped by an authentication failure,
  until an operator re-enables the account (survives restarts).
* ``accounts.expected`` / ``expected_ns``: the positions the guardian last saw, adjusted by its own
  fills (JSON ``{symbol: qty}``), so a liquidation that happened while no guardian watched is
  detected on restart.
* ``leases.instance`` / ``epoch`` / ``renewed_ns``: the process instance holding the lease under
  a stable guardian identity, a fencing epoch bumped whenever the holder changes, the last renewal.
* ``orders.owner`` / ``epoch`` / ``error``: the lease identity and epoch under which an intent was
  recorded, and the last error of the order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(pg.JSONB(), "postgresql")


def upgrade() -> None:
    """Add the columns (batch mode: SQLite rebuilds the tables)."""
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("disabled_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("expected", _JSON, nullable=True))
        batch.add_column(sa.Column("expected_ns", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("instance", sa.String(100), nullable=True))
        batch.add_column(sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("renewed_ns", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("epoch", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("orders") as batch:
        for name in ("error", "epoch", "owner"):
            batch.drop_column(name)
    with op.batch_alter_table("leases") as batch:
        for name in ("renewed_ns", "epoch", "instance"):
            batch.drop_column(name)
    with op.batch_alter_table("accounts") as batch:
        for name in ("expected_ns", "expected", "disabled_ns", "disabled_reason"):
            batch.drop_column(name)
