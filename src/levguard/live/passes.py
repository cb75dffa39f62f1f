"""One pass of the guardian over its accounts, in lanes that never wait on one another's venue.

An exchange account's cycle waits on its venue: a venue that times out costs its timeout at
every retry (with ccxt's 10 s and three retries, about 45 s a cycle). Accounts on other venues
must not wait for it, nor their leases go unrenewed, so a pass runs the accounts in *lanes* side
by side: one lane per venue object (the accounts a venue serves, one after another) and one lane
for every on-chain account (a signer's nonces want one writer). A pass renews the due leases,
starts each lane that is free and waits for them up to ``cycle_budget_s``; a lane still running
then is not interrupted (a cycle stopped between an order's intent and its answer would only
leave the order in flight, but there is no need to), it finishes in the background, its reports
reach :attr:`Guardian.last_reports` when it does, and until then its accounts report ``busy``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from levguard.live import onchain, watch
from levguard.live.setup import AccountSetup
from levguard.live.store import StoreUnavailable

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian

__all__ = ["cycle_one", "lanes", "run_pass", "stop_lanes"]

log = logging.getLogger("levguard.guardian")


def lanes(accounts: list[AccountSetup]) -> list[list[AccountSetup]]:
    """The accounts grouped into lanes: one per venue object, one for all on-chain accounts."""
    groups: dict[object, list[AccountSetup]] = {}
    for a in accounts:
        groups.setdefault("onchain" if onchain.is_onchain(a) else id(a.venue), []).append(a)
    return list(groups.values())


async def _lane(g: Guardian, lane: list[AccountSetup]) -> dict[str, dict[str, Any]]:
    return {setup.name: await cycle_one(g, setup) for setup in lane}


async def cycle_one(g: Guardian, setup: AccountSetup) -> dict[str, Any]:
    """One account's cycle inside its boundary (never raises for the account's failures)."""
    try:
        report = await g.cycle_account(setup)
        st = g._state[setup.name]
        if report.get("status") in ("ok", "stale"):
            st.errors, st.backoff_until_ns = 0, 0
    except StoreUnavailable as exc:
        await g._alert(setup.name, "critical", "database", f"database unavailable, no action: {exc}", dedup="database")
        report = {"account": setup.name, "status": "database_unavailable"}
    except Exception as exc:
        report = await g._contain(setup, exc)
    g.last_reports[setup.name] = report
    return report


async def run_pass(g: Guardian) -> list[dict[str, Any]]:
    """One pass over every account (:meth:`Guardian.cycle`); each account's report, in order."""
    now = g.clock()
    due = [a for a in g.accounts if now >= g._state[a.name].lease_until_ns - int(g.lease_ttl_s * 0.5e9)]
    if due:
        try:
            await watch.renew_leases(g, due, now)
        except StoreUnavailable as exc:
            await g._alert(None, "critical", "database", f"leases not renewed, no action: {exc}", dedup="leases")
            return [{"account": a.name, "status": "database_unavailable"} for a in g.accounts]
    try:
        await watch.check_unwatched(g, now)
    except StoreUnavailable as exc:
        log.warning("unwatched accounts not checked: %s", exc)
    reports: dict[str, dict[str, Any]] = {}
    started: list[asyncio.Task[dict[str, dict[str, Any]]]] = []
    for lane in lanes(g.accounts):
        key = lane[0].name
        running = g._lanes.get(key)
        if running is not None and not running.done():
            why = "its previous cycle is still waiting on the venue"
            reports.update({a.name: {"account": a.name, "status": "busy", "reason": why} for a in lane})
            continue
        g._lanes[key] = task = asyncio.ensure_future(_lane(g, lane))
        started.append(task)
    if started:
        await asyncio.wait(started, timeout=g.cycle_budget_s)
    for task in started:
        if task.done():
            reports.update(task.result())
    for a in g.accounts:
        reports.setdefault(a.name, {"account": a.name, "status": "busy", "reason": "its cycle is still running"})
    return [reports[a.name] for a in g.accounts]


async def stop_lanes(g: Guardian) -> None:
    """Cancel the lanes still running (the guardian stops) and wait for them to end."""
    pending = [t for t in g._lanes.values() if not t.done()]
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    g._lanes.clear()
