"""Orders in flight and positions changed outside the guardian.

An order whose outcome is unknown (a timeout after sending, a crash) stays *in flight* until the
venue answers for its client order id or it can no longer arrive; its fill, once known, is the
guardian's own and moves the expected position in the same transaction that records it.  A
position that differs from the expected one and that no order in flight can explain was changed by
the venue (liquidation, ADL) or by a person, and is alerted.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from levguard.errors import VenueAuthError, VenueError
from levguard.live.alerts import Alert
from levguard.live.setup import AccountSetup, AccountState
from levguard.live.store import LeaseLost, StoreUnavailable
from levguard.live.store_orders import fill_key
from levguard.venues.base import OrderState, Venue, VenuePosition

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian

logger = logging.getLogger(__name__)

__all__ = [
    "book_fill",
    "escalate",
    "expiry_s",
    "follow",
    "id_salt",
    "late_fills",
    "lease_lost",
    "legs",
    "load_orders",
    "resolve",
    "venue_changes",
    "waited_s",
    "write_ahead",
]

_FINAL = ("closed", "canceled", "rejected", "expired")


def expiry_s(g: Guardian, setup: AccountSetup) -> float:
    """Seconds after sending before an order the venue has not seen counts as never arrived: the
    venue's documented order expiry (or the set-up's assumed one) plus the guardian's margin."""
    caps = getattr(setup.venue, "capabilities", None)
    documented = getattr(caps, "order_expiry_s", None)
    expiry = float(documented) if documented is not None else setup.assume_order_expiry_s
    return expiry + g.order_expiry_margin_s


async def lease_lost(g: Guardian, setup: AccountSetup, st: AccountState, why: str) -> None:
    """Stop acting on the account: another process holds its lease (a fenced write was refused,
    ``why``); one critical alert.  The late watch in memory (``st.late``) is dropped: it is kept
    on the orders' rows, where the new holder takes it up (:func:`load_orders`) and records a late
    fill (once: the rows' writes are fenced by the holding)."""
    st.lease_until_ns, st.epoch, st.loaded = 0, -1, False
    st.late.clear()
    st.held.clear()  # judged against this holding's expected positions
    await g._alert(setup.name, "critical", "lease", why, dedup="fence")


async def write_ahead(
    g: Guardian,
    setup: AccountSetup,
    st: AccountState,
    cid: str,
    symbol: str,
    side: str,
    qty: float,
    reasons: list[str],
    audit: tuple[dict[str, Any], dict[str, Any], list[str]],
    *,
    refused: str,
    noun: str,
) -> int | str:
    """Record the intent of order ``cid`` (``side`` ``qty`` of ``symbol``, the ``reasons``) with its
    ``audit`` row, then mark it sent, both fenced by this process's lease epoch; return
    ``sent_ns``, or why it must not be sent: ``"duplicate"`` (recorded already) or
    ``"lease_lost"`` (alerted: ``refused`` when the intent is no longer one, ``"{noun} not sent:
    ..."`` when the fence fails)."""
    fence_s = min(5.0, g.lease_ttl_s * 0.25)
    try:
        recorded = g.store.record_intent(
            setup.name,
            cid,
            symbol,
            side,
            qty,
            g.clock(),  # the fence is checked at the time of recording, not of the cycle
            "; ".join(reasons),
            lease=(g.owner, g.instance, st.epoch),
            fence_s=fence_s,
            audit=audit,
        )
        if not recorded:
            return "duplicate"
        sent_ns, sent_mono = g.clock(), g.monotonic()
        # From here on the venue may have it.  Fenced again, and refused when the intent is
        # no longer one (a process that took the account over resolved it meanwhile).
        if g.store.mark_sent(cid, sent_ns, lease=(g.owner, g.instance, st.epoch), fence_s=fence_s):
            for done in [k for k in st.waiting if k not in st.inflight]:
                del st.waiting[done]
            st.waiting[cid] = (sent_mono, True)  # its wait is measured on this process's monotonic clock
            return sent_ns
        why = refused
    except LeaseLost as exc:
        why = f"{noun} not sent: {exc}"
    await lease_lost(g, setup, st, why)
    return "lease_lost"


async def resolve(g: Guardian, setup: AccountSetup, st: AccountState) -> list[dict[str, Any]]:
    """Ask the venue for every unresolved order of the account, by client order id.

    * The venue knows it: its state is recorded (a fill moves the expected position in the
      same transaction).
    * It does not, and the order was never marked sent (a crash between the record and the
      send): it was never sent; expired.
    * It does not, and it was sent: unknown until the venue's order expiry + the margin has
      passed (it may still arrive: a late request), then expired.  The time waited is measured
      on this process's monotonic clock (:attr:`Guardian.monotonic`), never by comparing clocks
      (:func:`waited_s`): from the sending for an order this process sent (a wall-clock step
      does not count); for one another process (or an earlier run) sent, from the first time
      this process saw it in flight, or, when larger, this process's wall clock minus the sending
      less ``lease_ttl_s``, so an order sent long before a restart is not waited for again.
    * The venue knows it, with a status levguard does not know (:attr:`OrderState.venue_status`):
      kept in flight and alerted, for ten times the expiry limit; then cancelled (if the venue
      accepts) and taken as final, and put on the late watch (:func:`_unknown_status`).
    * An order taken as never arrived (or final after an unknown status) is asked for again, for
      ten times that limit (:func:`late_fills`): should it have reached the venue after all, its fill is recorded on
      its row and alerted critical; the position it moved is the venue's read, alerted by
      :func:`venue_changes` (never booked by the watch: it is counted once).

    Every result is written fenced by this process's lease epoch: when another process took the
    account over, nothing is recorded (its fills are the new holder's to book, once), acting
    stops (:func:`lease_lost`) and the orders resolved so far are returned.  A dry run holds no
    lease and writes no shared state: the orders are the live guardian's to resolve; it follows
    the store instead, every cycle (:func:`follow`).
    """
    if not g.live:
        return []
    out: list[dict[str, Any]] = []
    lease = (g.owner, g.instance, st.epoch)  # every result is fenced: the holder books a fill once
    if st.late and not await late_fills(g, setup, st, out):
        return out
    for cid, row in list(st.inflight.items()):
        try:
            state = await g._call(setup, "fetch_order", _fetcher(setup.venue, row["symbol"], cid))
        except VenueAuthError:
            raise
        except VenueError as exc:
            await g._alert(
                setup.name,
                "warning",
                "reconcile",
                f"order {cid} not reconciled: {exc}",
                dedup=cid,
                client_order_id=cid,
            )
            continue
        now = g.clock()
        if state is None:
            sent = row.get("sent_ns")
            if sent is not None and row.get("status") != "intent":
                waited, here = waited_s(g, st, cid, int(sent))
                limit_s = expiry_s(g, setup)
                if waited <= limit_s:
                    continue  # may still arrive
                since = "sending" if here else "this process first saw it in flight"  # a lower bound
                status, why = "never_arrived", f"not at the venue {waited:.1f} s after {since} (limit {limit_s:g} s)"
                late = (now + round(10 * limit_s * 1e9), "taken as never arrived")  # on the row: durable
                watched = {**row, "late_until_ns": late[0], "late_as": late[1]}
                st.late[cid] = (watched, g.monotonic() + round(10 * limit_s * 1e9))
            else:
                status, why, late = "not_sent", "recorded but never sent (the process stopped before sending)", None
            resolved = {"account": setup.name, "client_order_id": cid, "status": status, "filled": 0.0}
            try:
                g.store.mark_result(
                    cid, "expired", 0.0, None, None, now, error=why, audit=_audit(row, resolved), lease=lease, late=late
                )
            except LeaseLost as exc:  # the account's new holder resolves it
                await lease_lost(g, setup, st, f"order {cid} not resolved: {exc}")
                return out
            st.inflight.pop(cid, None)
            st.waiting.pop(cid, None)
        else:
            if state.status == "open" and state.venue_status is not None:
                state = await _unknown_status(g, setup, st, cid, row, state)
            resolved = _answer(setup, cid, state)
            final = state.status in _FINAL
            on = st.late.get(cid) if final else None  # taken as final after an unknown status: watched
            late = None if on is None else (int(on[0]["late_until_ns"]), str(on[0]["late_as"]))
            try:
                delta = _mark_answer(g, cid, state, now, _audit(row, resolved) if final else None, lease, late=late)
            except LeaseLost as exc:  # the fill is the new holder's to book (once)
                await lease_lost(g, setup, st, f"order {cid} not resolved: {exc}")
                return out
            book_fill(st, row, delta)
            resolved["booked"] = delta
            if final:
                st.inflight.pop(cid, None)
            else:
                # A lagging answer may report less than was already booked: the fill only grows.
                filled = max(float(row.get("filled") or 0.0), state.filled)
                st.inflight[cid] = {**row, "status": state.status, "filled": filled}
                continue
        g._clear_alert(setup.name, "reconcile", cid)
        g._clear_alert(setup.name, "order_status", cid)
        out.append(resolved)
    return out


async def _unknown_status(
    g: Guardian, setup: AccountSetup, st: AccountState, cid: str, row: Mapping[str, Any], state: OrderState
) -> OrderState:
    """The answer on an order whose status the venue's adapter does not know
    (:attr:`OrderState.venue_status`: a status the venue added, which ccxt passes on raw).  It may
    be open or final: kept in flight (no new order on its symbol) and asked for again, with a
    ``order_status`` warning, for ten times the order expiry limit after the sending (as the late
    watch, :func:`late_fills`).  Then it is cancelled by its client order id
    (:func:`_cancel`) and taken as final with what it filled (booked): ``canceled`` when the venue
    accepted the cancel, else ``expired``; either way it goes on the late watch (``st.late``, ten
    times the expiry limit), so a fill of it after that (one the cancel raced, or any when the
    cancel failed: it may still be live) is recorded on its row and alerted ``late_order``.  A
    critical ``order_status`` alert says which.  Acting on the symbol resumes: a position left
    unguarded until the venue says more is the larger risk; an order not cancelled may then
    reduce the position a second time (reduce-only: never beyond flat), docs/guardian.md."""
    sent = row.get("sent_ns")
    waited, _ = waited_s(g, st, cid, int(sent) if sent is not None else None)
    limit_s = 10 * expiry_s(g, setup)
    what = f"order {cid} ({row['side']} {float(row['qty']):g} {row['symbol']})"
    status = state.venue_status
    if waited <= limit_s:
        await g._alert(
            setup.name,
            "warning",
            "order_status",
            f"{what}: the venue reports status {status!r}, unknown to levguard; kept in flight (no new order on "
            f"{row['symbol']}) and asked for again until {limit_s:g} s after sending",
            dedup=cid,
            client_order_id=cid,
            venue_status=status,
        )
        return state
    failure = await _cancel(g, setup, cid, row, state)
    late = {"late_until_ns": g.clock() + round(limit_s * 1e9), "late_as": f"taken as final after status {status!r}"}
    st.late[cid] = ({**row, **late}, g.monotonic() + round(limit_s * 1e9))  # on its row with its answer
    head = f"{what}: still status {status!r}, unknown to levguard, {waited:.0f} s after sending (limit {limit_s:g} s): "
    if failure is None:
        tail = (
            f"cancelled at the venue and taken as final (canceled) with the {state.filled:g} it filled; acting on "
            f"{row['symbol']} resumes; it is asked for again for {limit_s:g} s and a fill of it that raced the "
            "cancel is recorded on its row and alerted (late_order)"
        )
    else:
        tail = (
            f"NOT cancelled ({failure}): it may still be live at the venue; taken as final (expired) with the "
            f"{state.filled:g} it filled and acting on {row['symbol']} resumes, so should it fill later the "
            f"position is reduced twice (by it and by the guardian's next steps); it is asked for again for "
            f"{limit_s:g} s and a fill of it is recorded on its row and alerted (late_order): cancel it by hand"
        )
    await g._alert(
        setup.name,
        "critical",
        "order_status",
        head + tail,
        client_order_id=cid,
        venue_status=status,
        cancelled=failure is None,
    )
    return dataclasses.replace(state, status="canceled" if failure is None else "expired")


async def _cancel(g: Guardian, setup: AccountSetup, cid: str, row: Mapping[str, Any], state: OrderState) -> str | None:
    """Cancel order ``cid`` at the venue by its client order id (the venue's ``cancel_order``, an
    optional method: :class:`~levguard.venues.ccxt_adapter.CcxtVenue` has it); None when the venue
    accepted the cancel, else why not.  An authentication failure is raised (acting is disabled)."""
    cancel = getattr(setup.venue, "cancel_order", None)
    if cancel is None:
        return "the venue's adapter cannot cancel orders"

    async def call() -> object:
        return await cancel(row["symbol"], cid, state.venue_order_id)

    try:
        await g._call(setup, "cancel_order", call)
    except VenueAuthError:
        raise
    except VenueError as exc:
        return f"cancel refused: {exc}"
    return None


def _answer(setup: AccountSetup, cid: str, state: OrderState) -> dict[str, Any]:
    # The venue's answer on an order, as a resolved row.
    return {"account": setup.name, "client_order_id": cid, "status": state.status, "filled": state.filled}


def _mark_answer(
    g: Guardian,
    cid: str,
    state: OrderState,
    now: int,
    audit: Any,
    lease: tuple[str, str, int],
    *,
    book: bool = True,
    late: tuple[int, str] | None = None,
    alert: Callable[[float], tuple[str, str, str, dict[str, Any]]] | None = None,
) -> float:
    # The venue's answer on the order's row (Store.mark_result, fenced by ``lease``): the fill
    # booked; ``late`` puts it on the late watch, a final answer takes it off; ``alert`` is
    # stored with a fill newly recorded.
    return g.store.mark_result(
        cid,
        state.status,
        state.filled,
        state.average_price,
        state.venue_order_id,
        now,
        audit=audit,
        lease=lease,
        book=book,
        late=late,
        late_end=late is None and state.status in _FINAL,
        alert=alert,
    )


def waited_s(g: Guardian, st: AccountState, cid: str, sent_ns: int | None = None) -> tuple[float, bool]:
    """Seconds order ``cid`` (sent at ``sent_ns`` by its sender's wall clock) has been waited for,
    and whether that wait counts from the sending (else from this process's first sight of it).

    An order this process sent: the wait on this process's monotonic clock
    (:attr:`Guardian.monotonic`) since its sending; no wall clock counts, so a step of it never
    ages an order still travelling.  An order another process (or an earlier run) sent: the larger
    of two lower bounds, the wait on the monotonic clock since this process first saw it in flight
    (no earlier than the sending) and this process's wall clock minus ``sent_ns`` less
    ``lease_ttl_s`` (hosts keep their clocks within the lease TTL of each other, docs/guardian.md,
    scale-out), so an order sent an hour before a restart is not waited for again from the
    restart."""
    mono = g.monotonic()
    since, here = st.waiting.setdefault(cid, (mono, False))
    waited = (mono - since) / 1e9
    if here or sent_ns is None:
        return waited, here
    wall = (g.clock() - sent_ns) / 1e9 - g.lease_ttl_s
    return max(waited, wall), wall > waited


async def late_fills(g: Guardian, setup: AccountSetup, st: AccountState, out: list[dict[str, Any]]) -> bool:
    """Ask the venue again for the orders taken as never arrived, or as final after an unknown
    status (``st.late``, each watched for ten times the limit it was judged by).  One it reports
    filled after all is recorded on its row (the final status with its fill replaces
    ``expired``, fenced as :func:`resolve`'s results), appended to ``out`` and alerted critical
    (``late_order``) once, the alert stored in the transaction that records the fill (a kill
    between the two cannot lose it from the store; the sinks get it after the commit): by the
    holder whose write moved the row's fill (a second cycle, or a second holder, finds it
    recorded).  Its fill is never booked into the expected
    positions: those are adopted from the venue's reads only, so the position it moved is alerted
    once, as a critical ``venue_change`` (before or after the watch finds it), and counted once.
    A final answer (a fill or none) is recorded on the row and ends the watch.
    A failed re-ask is warned once per order (``reconcile``, as for the orders in flight).  The
    deadline is checked after asking: an order is asked for at least once (once more, without
    retries, past its deadline: one whose deadline passed while no process watched it is asked
    for at the start), and a watch past it still without a final answer (the asking failed or
    found nothing final) is ended with a warning naming the order, once (:func:`_late_expired`);
    a refused key (:class:`VenueAuthError`) ends every watch past its deadline, then disables the
    account as anywhere else (asked again every cycle, it kept the watch on and the account
    unevaluated; one ended a cycle, behind a watch still live, took a re-enable each); a store
    that fails to end them leaves them to the next cycle and the account is still disabled.
    The watch is kept on the orders' rows (``late_until_ns``, wall clock): a process that takes
    the account (a restart, a takeover) resumes it (:func:`load_orders`); in memory its deadline
    is on this process's monotonic clock.  A fill found is ``resolved["landed"]``: the cycle
    re-reads the positions before judging and deciding.  False when the lease was lost (alerted)."""
    lease = (g.owner, g.instance, st.epoch)
    for cid, (row, until) in list(st.late.items()):
        live = g.monotonic() <= until
        try:
            state = await g._call(setup, "fetch_order", _fetcher(setup.venue, row["symbol"], cid), retry=live)
        except VenueAuthError:  # the account is disabled (cycle()); the watches past their deadline end first
            try:  # every one of them: asked again, each would be refused too (one a cycle took a re-enable each)
                for due_cid, (due_row, due) in list(st.late.items()):
                    if g.monotonic() > due and not await _late_expired(g, setup, st, due_cid, due_row):
                        return False
            except StoreUnavailable as exc:  # ended next cycle; the refused key still disables the account
                logger.warning("%s: late watches not ended (%s); the refused key is raised", setup.name, exc)
            raise
        except VenueError as exc:
            if g.monotonic() > until:
                if not await _late_expired(g, setup, st, cid, row):
                    return False
            else:
                msg = f"order {cid}, {_late_as(row)}, not asked for again: {exc}"
                await g._alert(setup.name, "warning", "reconcile", msg, dedup=cid, client_order_id=cid)
            continue  # asked again next cycle
        g._clear_alert(setup.name, "reconcile", cid)
        if state is not None and (state.filled > 0 or state.status in _FINAL):  # something to record
            resolved = _answer(setup, cid, state)
            now = g.clock()
            said = _late_fill_alert(row, cid, state)
            try:  # not booked: the venue's read carries it into the expected positions (venue_changes)
                delta = _mark_answer(g, cid, state, now, _audit(row, resolved), lease, book=False, alert=said)
            except LeaseLost as exc:
                await lease_lost(g, setup, st, f"late order {cid} not recorded: {exc}")
                return False
            if state.status in _FINAL:  # recorded with the watch's end (Store.mark_result)
                st.late.pop(cid, None)
            if delta > 0:  # not booked: the position is re-read and judged (venue_changes)
                resolved["landed"] = delta
                g.alerter.submit(Alert(setup.name, now, *said(delta)))  # stored with the fill
            out.append(resolved)
            if state.status in _FINAL:
                continue
        if g.monotonic() > until and not await _late_expired(g, setup, st, cid, row):
            return False
    return True


def _late_fill_alert(
    row: Mapping[str, Any], cid: str, state: OrderState
) -> Callable[[float], tuple[str, str, str, dict[str, Any]]]:
    # The critical late_order alert of order cid's fill newly recorded (delta), stored with it.
    def said(delta: float) -> tuple[str, str, str, dict[str, Any]]:
        return (
            "critical",
            "late_order",
            f"order {cid} ({row['side']} {float(row['qty']):g} {row['symbol']}), {_late_as(row)}, "
            f"filled at the venue after all: {state.filled:g} filled; {delta:g} of a venue_change "
            f"alerted on {row['symbol']} (before this or next) is this order's fill, the rest of it the "
            "venue's doing; an order sent since on the symbol may have reduced it twice",
            {"client_order_id": cid, "symbol": row["symbol"], "filled": state.filled},
        )

    return said


async def _late_expired(g: Guardian, setup: AccountSetup, st: AccountState, cid: str, row: Mapping[str, Any]) -> bool:
    # The late watch of order cid ended without a final answer: its row's watch ended (fenced) with
    # its warning in one commit, said once (not when another holder, or this one before a restart,
    # ended it), then dropped here (a failed write keeps it: ended next cycle). False: lease lost.
    now = g.clock()
    said = (
        "warning",
        "late_order",
        f"order {cid} ({row['side']} {float(row['qty']):g} {row['symbol']}), {_late_as(row)}, is no "
        "longer watched: no final answer from the venue for it within ten times its limit; a fill of it "
        "from now on is alerted as a position change",
        {"client_order_id": cid, "symbol": row["symbol"]},
    )
    try:
        ended = g.store.end_late_watch(cid, now, lease=(g.owner, g.instance, st.epoch), alert=said)
    except LeaseLost as exc:
        await lease_lost(g, setup, st, f"late watch of order {cid} not ended: {exc}")
        return False
    st.late.pop(cid, None)
    if ended:  # stored with the watch's end
        g.alerter.submit(Alert(setup.name, now, *said))
    return True


def load_orders(g: Guardian, setup: AccountSetup, st: AccountState) -> None:
    """The account's orders from the store, on taking its lease (:meth:`Guardian.load`): those
    still unresolved (``st.inflight``) and, for a live guardian, those on the late watch
    (``st.late``: :meth:`Store.late_orders`), each watched until its row's wall-clock
    ``late_until_ns``, turned into this process's monotonic clock (a deadline that passed while no
    process watched is in the past: the order is asked for once, then the watch is ended, said
    once, unless that answer was final, :func:`late_fills`)."""
    st.inflight = {r["client_order_id"]: r for r in g.store.unresolved_orders(setup.name)}
    if not g.live:  # a dry run resolves nothing (:func:`follow`)
        return
    now, mono = g.clock(), g.monotonic()
    st.late = {r["client_order_id"]: (r, mono + int(r["late_until_ns"]) - now) for r in g.store.late_orders(setup.name)}


def _late_as(row: Mapping[str, Any]) -> str:
    # Why an order on the late watch was taken as final: never arrived, or an unknown status.
    return str(row.get("late_as") or "taken as never arrived")


def id_salt(g: Guardian, account: str) -> int:
    """The salt of the account's client order ids: its row's creation time in the store (the same
    across restarts on one database, new on a new one; :func:`levguard.live.setup.client_order_id`)."""
    row = g.store.account(account)
    return int(row["created_ns"]) if row is not None else 0


def follow(g: Guardian, setup: AccountSetup, st: AccountState) -> None:
    """A dry run's view, read from the store every cycle: the orders still in flight and, where a
    live guardian keeps them, the positions it expects (moved by its fills, partial ones too, in
    the transaction that records them), so the live guardian's own fills are never taken for the
    venue's changes. The store's positions are taken when they moved since the last read (a live
    guardian that stopped leaves them as they were: the dry run then keeps its own view, alerting
    a change once). Without a live guardian the dry run keeps the positions it saw itself."""
    st.inflight = {r["client_order_id"]: r for r in g.store.unresolved_orders(setup.name)}
    row = g.store.account(setup.name) or {}
    expected = row.get("expected")
    if isinstance(expected, dict) and row.get("expected_ns") != st.followed_ns:
        st.expected = {str(k): float(v) for k, v in expected.items()}
        st.followed_ns = row.get("expected_ns")


async def escalate(g: Guardian, setup: AccountSetup, st: AccountState, noun: str, consequence: str) -> None:
    """Count the cycles that end with ``noun`` (order, transaction) of the account still in flight
    (after resolving them); the ``escalate_after``-th alerts critical, saying ``consequence``."""
    if not st.inflight:
        st.inflight_cycles = 0
        return
    st.inflight_cycles += 1
    if st.inflight_cycles == g.escalate_after:
        await g._alert(
            setup.name,
            "critical",
            "unresolved_order",
            f"{len(st.inflight)} {noun}(s) unresolved for {st.inflight_cycles} cycles; {consequence}",
            orders=sorted(st.inflight),
        )


def _audit(row: Mapping[str, Any], resolved: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any], list[str]]:
    # The reconcile audit row, written in the transaction that records the venue's answer.
    return ("reconcile", {"order": dict(row)}, dict(resolved), ["unresolved order: asked the venue by client order id"])


def book_fill(st: AccountState, row: Mapping[str, Any], delta: float) -> None:
    # Mirror of Store.mark_result's move of the expected position (already persisted there).
    key = fill_key(st.expected, row["symbol"], row["side"]) if st.expected is not None else None
    if delta > 0 and st.expected is not None and key is not None:
        sign = -1.0 if row["side"] == "sell" else 1.0
        st.expected[key] += sign * delta


async def venue_changes(
    g: Guardian,
    setup: AccountSetup,
    st: AccountState,
    positions: list[VenuePosition],
    *,
    skip: Collection[str] = (),
) -> None:
    """Compare the positions read with the expected ones (what was seen, moved by our own
    fills); alert on what the venue (or a person) changed.  A change that an order still in
    flight could explain is not judged until that order is resolved.  One it cannot explain is
    alerted at once but, while an order on its symbol is in flight, not adopted (``st.held``): the
    read may hold that order's fill, which :func:`resolve` books when the venue reports it (a
    lagging answer reports it later), and adopting the read counted it twice (a false
    ``venue_change`` the other way next).  Once the symbol's orders are resolved, a read still
    equal to the one alerted, or to it moved by the fills booked since (an order that reached
    the venue after that read), is adopted quietly; any other is judged as usual.  An order taken as never
    arrived (``st.late``) explains nothing: should it land, the change is alerted and adopted
    here, once, and :func:`late_fills` says whose it was.  The symbols of ``skip``
    (positions the venue read but left out of ``positions``: :func:`levguard.live.watch.left_out`)
    are not compared: their expected quantities are kept as they are, quietly (they were not
    changed, only not evaluated; should they be evaluated again, they are compared then).

    A symbol the venue reports in two legs (hedge, dual-side mode: a long and a short position)
    is compared leg by leg (keys ``"SYMBOL long"``, ``"SYMBOL short"``, :func:`legs`), so a leg
    liquidated while the other stays is a change; once the venue reports one leg (or none) again
    and every leg expected equals the read (no leg's change is on hold for an order in flight),
    the symbol is kept under its own key (the remaining leg's quantity, 0 when none), where the
    guardian's fills are booked.  A live guardian first checks that it still
    holds the account's lease (the read may have outlived it: the change may be its successor's
    own fill) and writes the expected positions fenced by its holding: when another process took
    the account over, nothing is alerted nor written and acting stops (:func:`lease_lost`)."""
    lease = (g.owner, g.instance, st.epoch)
    current = legs(positions, st.expected or {})
    if st.expected is None:  # first sight of this account: nothing to compare with
        st.expected = dict(current)
        if g.live:  # a dry run writes no shared state
            await _store_expected(g, setup, st, lease)
        return
    hedged = {_symbol(k) for k in current if k != _symbol(k)}
    expected = {_leg(k, q) if k in hedged else k: q for k, q in st.expected.items()}
    changed = expected != st.expected
    st.expected = expected
    pending: dict[str, float] = {}
    for row in st.inflight.values():
        pending[row["symbol"]] = pending.get(row["symbol"], 0.0) + float(row["qty"]) - float(row.get("filled") or 0)
    for key, (read, then) in list(st.held.items()):
        if _symbol(key) in pending:
            continue  # its orders are not resolved yet
        del st.held[key]
        now = current.get(key, 0.0)
        # The read alerted, or it moved by the fills booked since (an order that reached the venue
        # after that read): alerted already, adopted quietly.  Any other is judged as usual.
        landed = read + (expected.get(key, 0.0) - then)
        if _symbol(key) not in skip and any(math.isclose(now, q, rel_tol=1e-9, abs_tol=1e-12) for q in (read, landed)):
            if abs(now) > 0:
                expected[key] = now
            else:
                expected.pop(key, None)
            changed = True
    checked = not g.live  # a dry run holds no lease
    for key in sorted(set(expected) | set(current)):
        sym = _symbol(key)
        if sym in skip:
            continue
        before = expected.get(key, 0.0)
        after = current.get(key, 0.0)
        if math.isclose(before, after, rel_tol=1e-9, abs_tol=1e-12):
            continue
        room = pending.get(sym, 0.0)
        if room > 0 and abs(after) <= abs(before) + 1e-12 and abs(before) - abs(after) <= room * (1 + 1e-9) + 1e-12:
            continue  # possibly our own order landing: judged once it is resolved
        if key in st.held and math.isclose(st.held[key][0], after, rel_tol=1e-9, abs_tol=1e-12):
            continue  # alerted, held until its symbol's orders are resolved
        if not checked and not g.store.holds(setup.name, lease):
            await lease_lost(g, setup, st, f"position changes of {sym} not judged: another process holds the account")
            return
        checked = True
        hold = sym in pending
        await g._alert(
            setup.name,
            "critical" if abs(after) < abs(before) else "warning",
            "venue_change",
            f"{key}: position changed by the venue from {before:g} to {after:g} (liquidation, ADL or a manual trade)"
            + (f"; part of it may be the fill of an order in flight on {sym}" if hold else ""),
            symbol=sym,
            before=before,
            after=after,
            **({"leg": key.rsplit(" ", 1)[1]} if key != sym else {}),
        )
        g._audit(
            setup.name,
            "venue_change",
            {"symbol": sym, "leg": key, "before": before, "after": after},
            {},
            ["position changed outside the guardian"],
        )
        if hold:  # the read may hold a fill resolve() books later: adopted once the orders are resolved
            st.held[key] = (after, st.held[key][1] if key in st.held else before)
            continue
        if abs(after) > 0:
            expected[key] = after
        else:
            expected.pop(key, None)
        changed = True
    reported: dict[str, int] = {}
    for p in positions:
        reported[p.symbol] = reported.get(p.symbol, 0) + 1
    for sym in (
        {_symbol(k) for k in expected if k != _symbol(k)} - set(skip) - {s for s, n in reported.items() if n > 1}
    ):
        # One leg (or none) left: kept by the symbol again, so the guardian's fills book to it;
        # not while a leg's change is on hold (it is judged by leg once the order is resolved).
        keys = [k for k in (f"{sym} long", f"{sym} short") if k in expected or k in current]
        if any(not math.isclose(expected.get(k, 0.0), current.get(k, 0.0), rel_tol=1e-9, abs_tol=1e-12) for k in keys):
            continue
        expected[sym] = sum(expected.pop(k, 0.0) for k in keys)
        changed = True
    if changed and g.live:  # a dry run writes no shared state
        await _store_expected(g, setup, st, lease)


def legs(positions: list[VenuePosition], expected: Mapping[str, float]) -> dict[str, float]:
    """The positions by key: the symbol, or ``"SYMBOL long"`` / ``"SYMBOL short"`` (by the sign of
    the quantity) for a symbol in hedge mode: reported in two legs, or kept by leg in
    ``expected`` (until :func:`venue_changes` folds it back, once one leg is left).  Quantities of
    one key are summed."""
    count: dict[str, int] = {}
    for p in positions:
        count[p.symbol] = count.get(p.symbol, 0) + 1
    hedged = {s for s, n in count.items() if n > 1} | {_symbol(k) for k in expected if k != _symbol(k)}
    out: dict[str, float] = {}
    for p in positions:
        key = _leg(p.symbol, p.qty) if p.symbol in hedged else p.symbol
        out[key] = out.get(key, 0.0) + p.qty
    return out


def _leg(symbol: str, qty: float) -> str:
    return f"{symbol} {'long' if qty > 0 else 'short'}"


def _symbol(key: str) -> str:
    # The symbol of a key of legs(): "BTCUSDT long" -> "BTCUSDT".
    head, _, tail = key.rpartition(" ")
    return head if head and tail in ("long", "short") else key


async def _store_expected(g: Guardian, setup: AccountSetup, st: AccountState, lease: tuple[str, str, int]) -> None:
    # The expected positions, fenced by the holding (a successor's booked fills are never overwritten).
    try:
        g.store.set_expected(setup.name, st.expected or {}, g.clock(), lease=lease)
    except LeaseLost as exc:
        await lease_lost(g, setup, st, f"expected positions not stored: {exc}")


def _fetcher(venue: Venue, symbol: str, cid: str) -> Callable[[], Awaitable[OrderState | None]]:
    async def fetch() -> OrderState | None:
        return await venue.fetch_order(symbol, cid)

    return fetch
