"""Bearer tokens: generated with ``secrets``, stored as SHA-256 digests (the token itself is shown
once), two scopes: ``read`` and ``admin`` (admin includes read)."""

from __future__ import annotations

import hashlib
import secrets
import time

from levguard.core.validate import short_name
from levguard.errors import InputError
from levguard.live.store import Store

__all__ = ["TOKEN_NAME_MAX", "digest", "ensure_admin_token", "new_token"]

PREFIX = "lg_"
TOKEN_NAME_MAX = 200
"""Longest token name (characters): who or what uses the token, shown in the audit log and in
``levguard serve-token --list``, one line per token."""


def digest(token: str) -> str:
    """SHA-256 hex digest of a token (tokens carry 256 random bits: no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(store: Store, name: str, scope: str) -> str:
    """Create a token, store its digest, return the token (the only time it is visible).

    Raises
    ------
    InputError
        ``name`` is not a non-empty string of at most :data:`TOKEN_NAME_MAX` printable characters
        (a newline broke ``serve-token --list``'s one line per token), ``scope`` is not ``read``
        or ``admin``, or an active token already has this name (the audit log and the token list
        tell tokens apart by name).
    """
    short_name(name, "name", limit=TOKEN_NAME_MAX)
    token = PREFIX + secrets.token_urlsafe(32)
    store.add_token(name, scope, digest(token), time.time_ns())
    return token


def ensure_admin_token(store: Store) -> str | None:
    """On first start (no token yet) create an admin token and return it; None otherwise.

    Two services starting at once on a new store both find no token: the one whose token the
    store refuses by its name (:meth:`Store.add_token`'s serialised check) returns None, as a
    service that found the other's token would.
    """
    if store.tokens():
        return None
    try:
        return new_token(store, "first-start admin", "admin")
    except InputError:
        if store.tokens():  # the other process's first-start token
            return None
        raise
