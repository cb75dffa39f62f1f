"""One pass of the guardian over its accounts, in lanes that never wait on one another's venue.

An exchange account's cycle waits on its venue: a venue that times out costs its timeout at
every retry (with ccxt's 10 s and three retries, about 45 s a cycle). Accounts on other venues
must not wait for it, nor their leases go unrenewed, so a pass runs the accounts in *lanes* side
by side: one lane per venue object (the accounts a venue serves, one after another) and one lane
for every on-chain account (a signer's nonces want one writer). A pass renews the due leases,
starts each lane that is free and waits for them up to ``cycle_budget_s``. A lane still running
then is not interrupted: it finishes in the background and its reports reach
:attr:`Guardian.last_reports` when it does. Until then its accounts report their last report
marked ``busy`` (``status`` ``busy`` before any). Their leases are renewed by the passes for
half a lease (``lease_ttl_s``); a lane still waiting then gets a critical ``busy`` alert and its
leases are left to expire, so another guardian can take the accounts over (as from a process
stuck on the venue). A lane running for twice ``lease_ttl_s`` is
cancelled (a cycle stopped while an order is being sent leaves the order in flight, resolved by
client id like a crash), so a new cycle can start. Start-up reconciliation runs in the same
lanes (:func:`reconcile_lanes`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from levguard.live import onchain, watch
from levguard.live.setup import AccountSetup
from levguard.live.store import StoreUnavailable

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian

__all__ = [
    "Lane",
    "cycle_one",
    "drain",
    "error_audit",
    "failure_backoff",
    "lanes",
    "note_failure",
    "reconcile_lanes",
    "routine_audit",
    "run_pass",
    "settle",
    "write_routine",
]

log = logging.getLogger("levguard.guardian")
_PRUNE_EVERY_NS = 3_600 * 10**9
# The longest pause after refused credentials (at least; ``max_backoff_s`` if longer). It bounds how
# long an account whose key works again stays unread: the pause is not cut short, so a restored
# key is read again at most this long (plus one interval) later. A refused read a minute is far
# below the venues' limits, counted per IP and minute (Binance: request weight per minute, bans
# only for ignoring 429s).
AUTH_MAX_BACKOFF_S = 60.0


@dataclass
class Lane:
    """A lane's cycle running: its task, its accounts and when it started (the guardian's clock,
    UTC ns, as its leases)."""

    task: asyncio.Task[dict[str, dict[str, Any]]]
    names: tuple[str, ...]
    started_ns: int


def lanes(accounts: list[AccountSetup]) -> list[list[AccountSetup]]:
    """The accounts grouped into lanes: one per venue object, one for all on-chain accounts."""
    groups: dict[object, list[AccountSetup]] = {}
    for a in accounts:
        groups.setdefault("onchain" if onchain.is_onchain(a) else id(a.venue), []).append(a)
    return list(groups.values())


def _start(lane: list[AccountSetup], work: Callable[[AccountSetup], Awaitable[Any]]) -> asyncio.Task[dict[str, Any]]:
    # A task running ``work`` for the lane's accounts in turn: {account: what work returned}.
    async def run() -> dict[str, Any]:
        return {setup.name: await work(setup) for setup in lane}

    return asyncio.ensure_future(run())


async def cycle_one(g: Guardian, setup: AccountSetup) -> dict[str, Any]:
    """One account's cycle inside its boundary (never raises for the account's failures)."""
    try:
        report = await g.cycle_account(setup)
        st = g._state[setup.name]
        if report.get("status") in ("ok", "partial", "stale"):
            st.clear_failures()
    except StoreUnavailable as exc:
        await g._alert(setup.name, "critical", "database", f"database unavailable, no action: {exc}", dedup="database")
        report = {"account": setup.name, "status": "database_unavailable"}
    except Exception as exc:
        report = await g._contain(setup, exc)
    g.last_reports[setup.name] = report
    return report


def failure_backoff(g: Guardian, setup: AccountSetup, kind: str, errors: int) -> float:
    """The pause of an account (seconds) after its ``errors``-th consecutive contained failure of
    class ``kind`` (:func:`levguard.live._support.classify`): ``backoff_s`` doubling, at most
    ``max_backoff_s``; refused credentials (``auth``, also an RPC's 401/403 on chain, which some
    providers answer for an exhausted quota) at most ``max(max_backoff_s,``
    :data:`AUTH_MAX_BACKOFF_S` ``)``. The pause runs to its end (no read meanwhile) unless an
    operator re-enables the account; the first read after it that succeeds resets the count.

    Refused credentials had no pause: a revoked key was called, and audited, every cycle (720
    times an hour at 5 s cycles), where the venue may count every refused call against the key.
    """
    cap = max(g.max_backoff_s, AUTH_MAX_BACKOFF_S) if kind == "auth" else g.max_backoff_s
    # The exponent bounded: 2.0 ** 1024 overflows (a failure lasting 1,024 cycles raised in here).
    return float(min(setup.backoff_s * 2.0 ** min(max(errors - 1, 0), 64), cap))


def note_failure(g: Guardian, setup: AccountSetup, kind: str, now: int) -> float:
    """Count a contained failure of class ``kind`` and pause the account: the pause
    (:func:`failure_backoff`), seconds. The count is of consecutive failures of one class: a
    failure of another class starts it again (a refused key after a run of unrelated failures
    paused the account at once for the longest pause)."""
    st = g._state[setup.name]
    if kind != st.error_kind:
        st.errors, st.error_kind = 0, kind
    st.errors += 1
    delay_s = failure_backoff(g, setup, kind, st.errors)
    st.backoff_until_ns = now + int(delay_s * 1e9)
    return delay_s


def error_audit(g: Guardian, account: str, now: int, kind: str, text: str, backoff_s: float) -> bool:
    """Write the account's ``cycle_error`` audit row (the error's class ``kind``, its ``text`` and
    the pause) when the error differs from the last one written since the account last read its
    venue, or ``cycle_audit_every_s`` has passed since (0: every failure), as
    :func:`routine_audit` writes ``cycle`` rows; whether it was written. A row counts as written
    once the store took it: one it failed (StoreUnavailable, raised) is written by the next failure
    (it was counted, and the error left unaudited for ``cycle_audit_every_s``)."""
    st = g._state[account]
    key = (kind, text)
    if key == st.error_audited and now - st.error_audited_ns < g.cycle_audit_every_s * 1e9:
        return False
    g._audit(account, "cycle_error", {"error": text}, {"class": kind, "backoff_s": backoff_s}, [text])
    st.error_audited, st.error_audited_ns = key, now
    return True


async def _overdue(g: Guardian, now: int) -> tuple[set[str], set[str]]:
    # The accounts of lanes still running, and of those past half a lease (alerted, their leases
    # no longer renewed); a lane past two leases is cancelled.
    busy: set[str] = set()
    stuck: set[str] = set()
    for key, lane in list(g._lanes.items()):
        if lane.task.done():
            continue
        waited = (now - lane.started_ns) / 1e9
        if waited > 2.0 * g.lease_ttl_s:
            lane.task.cancel()
            await asyncio.gather(lane.task, return_exceptions=True)
            del g._lanes[key]
            for name in lane.names:
                await g._alert(
                    name,
                    "critical",
                    "busy",
                    f"cycle cancelled after {waited:,.0f} s waiting on the venue",
                    dedup="cancel",
                )
            continue
        busy.update(lane.names)
        if waited > 0.5 * g.lease_ttl_s:
            stuck.update(lane.names)
            for name in lane.names:
                await g._alert(
                    name,
                    "critical",
                    "busy",
                    f"the account's cycle has waited {waited:,.0f} s on the venue: not protected meanwhile; its "
                    "lease is left to expire so another guardian can take it over",
                    dedup="busy",
                )
    return busy, stuck


async def run_pass(g: Guardian) -> list[dict[str, Any]]:
    """One pass over every account (:meth:`Guardian.cycle`); each account's report, in order."""
    now = g.clock()
    busy, stuck = await _overdue(g, now)
    due = [
        a
        for a in g.accounts
        if a.name not in stuck and now >= g._state[a.name].lease_until_ns - int(g.lease_ttl_s * 0.5e9)
    ]
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
    free = [lane for lane in lanes(g.accounts) if not busy.intersection(a.name for a in lane)]
    started = []
    for lane in free:
        task = _start(lane, lambda setup: cycle_one(g, setup))
        g._lanes[lane[0].name] = Lane(task, tuple(a.name for a in lane), now)
        started.append(task)
    if started:
        await asyncio.wait(started, timeout=g.cycle_budget_s)
    reports: dict[str, dict[str, Any]] = {}
    for task in started:
        if task.done() and not task.cancelled():
            reports.update(task.result())
    return [reports.get(a.name) or _busy(g, a.name) for a in g.accounts]


def _busy(g: Guardian, name: str) -> dict[str, Any]:
    # An account whose cycle still runs: its last report (level and positions as last seen), marked.
    last = g.last_reports.get(name)
    why = "its cycle is still waiting on the venue"
    if last is None:
        return {"account": name, "status": "busy", "reason": why}
    return {**last, "busy": True, "busy_reason": why}


async def settle(g: Guardian, timeout_s: float) -> list[dict[str, Any]]:
    """Wait up to ``timeout_s`` for the lanes still running (a last pass before stopping, so a
    one-shot run reports its cycles); every account's last report."""
    running = [lane.task for lane in g._lanes.values() if not lane.task.done()]
    if running:
        await asyncio.wait(running, timeout=timeout_s)
    running_names = {n for lane in g._lanes.values() if not lane.task.done() for n in lane.names}
    return [
        _busy(g, a.name) if a.name in running_names else g.last_reports.get(a.name) or _busy(g, a.name)
        for a in g.accounts
    ]


async def drain(g: Guardian) -> None:
    """The guardian stops: cancel the lanes still running, wait for them to end, and write what
    the cycles that did finish left to store (then flush it)."""
    pending = [lane.task for lane in g._lanes.values() if not lane.task.done()]
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    g._lanes.clear()
    await write_routine(g)
    await g._flush_async()


async def reconcile_lanes(g: Guardian) -> list[dict[str, Any]]:
    """Start-up reconciliation (:meth:`Guardian.reconcile_account`) in lanes, waiting up to
    ``cycle_budget_s``: a lane still waiting on its venue is cancelled (its orders stay in flight
    and the account's first cycle resolves them), so a slow venue delays no other account."""
    tasks = [_start(lane, g.reconcile_account) for lane in lanes(g.accounts)]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=g.cycle_budget_s)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return [r for t in tasks if t in done for resolved in t.result().values() for r in resolved]


def routine_audit(
    g: Guardian,
    account: str,
    now: int,
    inputs: dict[str, Any],
    decision: dict[str, Any],
    reasons: list[str],
    key: tuple[Any, ...],
) -> None:
    """Queue the account's routine ``cycle`` audit row when what it says (``key``: the state, the
    reasons, the positions) changed since the last one, or ``cycle_audit_every_s`` has passed.

    Every cycle wrote one: 17,280 rows a day per account at 5 s cycles in a table that never
    deletes. Decisions that lead to orders (and their skips) are audited apart, every time.
    """
    st = g._state[account]
    if key == st.audited and now - st.audited_ns < g.cycle_audit_every_s * 1e9:
        return
    st.audited, st.audited_ns = key, now
    g._pending_audits.append((account, now, "cycle", inputs, decision, reasons))


async def write_routine(g: Guardian) -> None:
    """Write the pass's routine rows (snapshots, ``cycle`` audit rows) in one commit, in the
    background while the next pass runs (flushed before it writes its own); once an hour a live
    guardian's commit deletes the snapshots of its accounts older than
    ``snapshot_retention_days``. Every decision that leads to an order is written synchronously
    before acting."""
    await g._flush_async()
    snaps, audits = g._pending_snapshots, g._pending_audits
    g._pending_snapshots, g._pending_audits = [], []
    now = g.clock()
    prune = None
    # A live guardian prunes the snapshots of the accounts it watches (a dry run writes no shared state).
    if g.live and g.snapshot_retention_days > 0 and now - g._pruned_ns >= _PRUNE_EVERY_NS:
        prune, g._pruned_ns = now - int(g.snapshot_retention_days * 86_400e9), now
    names = [a.name for a in g.accounts]
    if getattr(g.store, "concurrent_writes", True):
        g._write = g._writer.submit(g.store.record_cycle, snaps, audits, prune, names)
        return
    try:  # an in-memory database shares one connection: write here
        g.store.record_cycle(snaps, audits, prune, names)
    except StoreUnavailable as exc:
        await g._alert(None, "critical", "database", f"cycle snapshots not stored: {exc}", dedup="cycle")
