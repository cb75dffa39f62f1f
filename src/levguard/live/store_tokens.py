"""The store's API token family: the ``api_tokens`` table (SHA-256 digests only, never a token).

Part of :class:`levguard.live.store.Store` (see :mod:`levguard.live.store` for the error contract).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from levguard.errors import InputError
from levguard.live.schema import API_TOKENS
from levguard.live.store_engine import StoreEngine, as_int

__all__ = ["TokenStore"]

# Key of the PostgreSQL advisory lock under which a token's name is checked and inserted (SQLite's
# BEGIN IMMEDIATE already serialises writers).
_TOKEN_NAME_LOCK_KEY = 0x6C67746B  # "lgtk"


class TokenStore:
    """The service's API tokens in the database ``db``, stored as digests with their scope."""

    def __init__(self, db: StoreEngine) -> None:
        self._db = db

    def add_token(self, name: str, scope: str, token_hash: str, ts_ns: int) -> int:
        """Store a token's SHA-256 hex digest with its scope (``read`` or ``admin``); never the token.

        Raises :class:`~levguard.errors.InputError` when an active (unrevoked) token already has
        this name: the check and the insert are one write transaction, serialised against other
        writers (SQLite's write lock, a PostgreSQL advisory lock), so two processes creating a
        token of one name at once cannot both succeed. Duplicates a store written before names
        were unique may hold are left alone (no constraint on the table).
        """
        if scope not in ("read", "admin"):
            raise InputError(f"scope must be read or admin, was {scope!r}")
        if not (isinstance(token_hash, str) and len(token_hash) == 64):
            raise InputError("token_hash must be a 64-character SHA-256 hex digest")
        values = {
            "name": str(name),
            "scope": scope,
            "token_hash": token_hash,
            "created_ns": as_int(ts_ns, "ts_ns"),
            "revoked": False,
        }
        with self._db.tx("add_token", write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _TOKEN_NAME_LOCK_KEY})
            taken = conn.execute(
                sa.select(API_TOKENS.c.id).where(API_TOKENS.c.name == values["name"], API_TOKENS.c.revoked.is_(False))
            ).first()
            if taken is not None:
                raise InputError(
                    f"an active token is already named {values['name']!r}: give another name (or revoke that one)"
                )
            return int(conn.execute(API_TOKENS.insert().values(**values).returning(API_TOKENS.c.id)).scalar_one())

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        """The unrevoked token with this digest: ``{"id", "name", "scope"}``, or None."""
        stmt = sa.select(API_TOKENS.c.id, API_TOKENS.c.name, API_TOKENS.c.scope).where(
            API_TOKENS.c.token_hash == token_hash, API_TOKENS.c.revoked.is_(False)
        )
        with self._db.tx("token_by_hash") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else {"id": int(row.id), "name": row.name, "scope": row.scope}

    def tokens(self) -> list[dict[str, Any]]:
        """Every token's ``id, name, scope, created_ns, revoked`` (no digests)."""
        stmt = sa.select(
            API_TOKENS.c.id, API_TOKENS.c.name, API_TOKENS.c.scope, API_TOKENS.c.created_ns, API_TOKENS.c.revoked
        ).order_by(API_TOKENS.c.id)
        with self._db.tx("tokens") as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token; True when it existed and was active."""
        stmt = API_TOKENS.update().where(API_TOKENS.c.id == int(token_id), API_TOKENS.c.revoked.is_(False))
        with self._db.tx("revoke_token", write=True) as conn:
            return bool(conn.execute(stmt.values(revoked=True)).rowcount == 1)
