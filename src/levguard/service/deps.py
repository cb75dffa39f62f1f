"""Shared pieces of the API routers: the auth dependencies, the runtime and account look-ups, and
the worker threads of the CPU-bound routes.

Every store call of a route runs through :func:`~levguard.service.store_calls.store_call`: on a
store thread, never on the event loop, within the app's ``store_timeout_s`` (503 beyond)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request

from levguard.live.guardian import AccountSetup
from levguard.service.app import Principal, require_admin, require_compute, require_read
from levguard.service.runtime import Runtime
from levguard.service.store_calls import store_call

__all__ = [
    "Admin",
    "Compute",
    "Read",
    "account_row",
    "compute",
    "global_kill_switch",
    "read_scope",
    "runtime_of",
    "setup_of",
    "store_call",
    "stored_account",
]

T = TypeVar("T")

# The token checks run their store look-up on a store thread (store_call); the store serialises an
# in-memory database's single connection between those, the guardian's thread and the workers.
read_scope = require_read
admin_scope = require_admin


Read = Annotated[Principal, Depends(read_scope)]
Admin = Annotated[Principal, Depends(admin_scope)]
#: A read token on a route that runs the margin engine or P(liq): rate limited per token.
Compute = Annotated[Principal, Depends(require_compute)]


def runtime_of(request: Request) -> Runtime:
    """The app's runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def compute(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a CPU-bound ``fn(*args)`` on one of the app's few worker threads (``compute_threads``;
    further calls wait for a free one), off the server's event loop."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "compute_limiter", None)
    if limiter is None:  # created on the loop that uses it
        limiter = anyio.CapacityLimiter(state.compute_threads)
        state.compute_limiter = limiter
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def stored_account(rt: Runtime, name: str) -> dict[str, Any]:
    """The stored account, or a 404 (a blocking store call: from a store thread)."""
    row = rt.store.account(name)
    if row is None:
        raise HTTPException(404, f"unknown account {name!r}")
    return row


async def account_row(request: Request, name: str) -> dict[str, Any]:
    """The stored account (read on a store thread), or a 404."""
    return await store_call(request, stored_account, runtime_of(request), name)


def setup_of(rt: Runtime, name: str) -> AccountSetup | None:
    """The running guardian's setup of an account (None when the guardian does not watch it)."""
    for setup in rt.guardian.accounts:
        if setup.name == name:
            return setup
    return None


def global_kill_switch(rt: Runtime) -> bool:
    """The global kill switch alone (a blocking store call: routes run it through :func:`store_call`).

    :meth:`Store.kill_switch` ORs the global switch with an account's own; asked about a name no
    account has (the empty name: account names are non-empty) it answers the global one only.
    """
    return rt.store.kill_switch("")
