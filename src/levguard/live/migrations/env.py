"""Alembic environment for levguard's store.

``levguard.live.store.Store`` runs the migrations programmatically and passes its open connection
in ``config.attributes["connection"]`` (inside a transaction it commits). Run by hand (an
``alembic.ini`` whose ``script_location`` is this directory), the URL comes from ``sqlalchemy.url``
or the ``LEVGUARD_STORE_URL`` environment variable.

Logging is left to the application (no ``fileConfig``).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from levguard.live.store import METADATA, VERSION_TABLE

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit the migration SQL without a database (``alembic upgrade head --sql``)."""
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("LEVGUARD_STORE_URL")
    context.configure(url=url, target_metadata=METADATA, version_table=VERSION_TABLE, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the connection the store passed in, or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("LEVGUARD_STORE_URL")
    if not url:
        raise RuntimeError("set sqlalchemy.url or LEVGUARD_STORE_URL to run levguard's migrations")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
