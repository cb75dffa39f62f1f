"""Bearer tokens: generated with ``secrets``, stored as SHA-256 digests (the token itself is shown
once), two scopes: ``read`` and ``admin`` (admin includes read)."""

from __future__ import annotations

import hashlib
import secrets
import time

from levguard.live.store import Store

__all__ = ["digest", "ensure_admin_token", "new_token"]

PREFIX = "lg_"


def digest(token: str) -> str:
    """SHA-256 hex digest of a token (tokens carry 256 random bits: no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(store: Store, name: str, scope: str) -> str:
    """Create a token, store its digest, return the token (the only time it is visible)."""
    token = PREFIX + secrets.token_urlsafe(32)
    store.add_token(name, scope, digest(token), time.time_ns())
    return token


def ensure_admin_token(store: Store) -> str | None:
    """On first start (no token yet) create an admin token and return it; None otherwise."""
    if store.tokens():
        return None
    return new_token(store, "first-start admin", "admin")
