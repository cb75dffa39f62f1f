"""Shared pieces of the API routers: the auth dependencies, the runtime and account look-ups, and
the worker threads of the CPU-bound routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request

from levguard.live.guardian import AccountSetup
from levguard.service.app import Principal, require_admin, require_compute, require_read
from levguard.service.runtime import Runtime

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
]

T = TypeVar("T")

# The token checks run on the server's event loop; the store serialises an in-memory database's
# single connection between it, the guardian's thread and the worker threads (Runtime).
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
