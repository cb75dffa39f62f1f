"""Shared pieces of the API routers: the auth dependencies, the runtime and account look-ups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from levguard.live.guardian import AccountSetup
from levguard.service.app import Principal, require_admin, require_read
from levguard.service.runtime import Runtime

__all__ = ["Admin", "Read", "account_row", "global_kill_switch", "read_scope", "runtime_of", "setup_of"]

# The token checks are async dependencies (levguard.service.app), so they run on the event loop's
# thread, as the guardian's store writes do: an in-memory SQLite store (the paper demo, tests)
# shares one connection that a worker thread must not use at the same time.
read_scope = require_read
admin_scope = require_admin


Read = Annotated[Principal, Depends(read_scope)]
Admin = Annotated[Principal, Depends(admin_scope)]


def runtime_of(request: Request) -> Runtime:
    """The app's runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def account_row(rt: Runtime, name: str) -> dict[str, Any]:
    """The stored account, or a 404."""
    row = rt.store.account(name)
    if row is None:
        raise HTTPException(404, f"unknown account {name!r}")
    return row


def setup_of(rt: Runtime, name: str) -> AccountSetup | None:
    """The running guardian's setup of an account (None when the guardian does not watch it)."""
    for setup in rt.guardian.accounts:
        if setup.name == name:
            return setup
    return None


def global_kill_switch(rt: Runtime) -> bool:
    """The global kill switch alone.

    :meth:`Store.kill_switch` ORs the global switch with an account's own; asked about a name no
    account has (the empty name: account names are non-empty) it answers the global one only.
    """
    return rt.store.kill_switch("")
