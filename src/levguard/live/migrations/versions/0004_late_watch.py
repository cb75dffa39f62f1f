"""The late watch on the order's row: it survives restarts and takeovers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

* ``orders.late_until_ns``: an order taken as final without the venue's word (never arrived, or
  after a status levguard does not know) is asked for again until this wall-clock time (UTC ns);
  None when it is not (or no longer) watched.  Any holder of the account derives its watch from it.
* ``orders.late_as``: why it was taken as final (named in the ``late_order`` alerts).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns (batch mode: SQLite rebuilds the table)."""
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("late_until_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("late_as", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("orders") as batch:
        for name in ("late_as", "late_until_ns"):
            batch.drop_column(name)
