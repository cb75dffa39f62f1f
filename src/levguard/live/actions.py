"""The guardian's actions: one reduce-only deleverage step, written ahead and fenced.

:func:`deleverage` is called by :meth:`levguard.live.guardian.Guardian.cycle_account` for a
position at the account's acting level.  It sizes the step (capped to the market's largest
order where the venue gives one), skips it for the cooldown, an
unresolved order on the symbol, a kill switch, a disabled account, a step below the venue's
smallest order, a dry run or a venue that cannot send reduce-only orders (each audited),
then records the intent and its audit row in one transaction fenced by the lease epoch
(write-ahead), marks it sent (fenced again) and sends it; the venue's answer is recorded with the
fill booked to the expected positions.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from levguard.core.rules import get_venue
from levguard.errors import InputError, VenueAuthError, VenueError, VenueOrderRejectedError
from levguard.live import inflight
from levguard.live.setup import AccountSetup, AccountState, PositionState, client_order_id
from levguard.live.store import FINAL_ORDER_STATUSES, LeaseLost
from levguard.venues.base import OrderRequest, OrderState, VenuePosition

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian

__all__ = ["deleverage"]


@dataclass(frozen=True)
class _Step:
    # One deleverage step of a position: the guardian, the account and position it acts on, the
    # position's row of the cycle's report (``view``), the decision being built (filled in as the
    # step goes), its reasons and the cycle's time.
    g: Guardian
    setup: AccountSetup
    st: AccountState
    ps: PositionState
    pos: VenuePosition
    view: dict[str, Any]
    decision: dict[str, Any]
    reasons: list[str]
    now: int


async def deleverage(
    g: Guardian,
    setup: AccountSetup,
    st: AccountState,
    ps: PositionState,
    pos: VenuePosition,
    view: dict[str, Any],
    now: int,
) -> dict[str, Any] | None:
    """Size, record (write-ahead, fenced by the lease epoch) and, when live, send one
    reduce-only step of ``pos`` for the guardian ``g``; return the decision (None: nothing to
    reduce).

    The decision and its deterministic client order id are committed to the store with its
    audit row before the order is sent, so a crash never sends a duplicate; ``view`` is the
    position's row of the cycle's report.
    """
    sized = _size(setup, pos, view)
    if sized is None:
        return None
    qty, reasons = sized
    side = "sell" if pos.qty > 0 else "buy"
    decision: dict[str, Any] = {
        "symbol": pos.symbol,
        "side": side,
        "qty": qty,
        "target_leverage": float(view["target_leverage"]),
    }
    step = _Step(g, setup, st, ps, pos, view, decision, reasons, now)
    if await _skipped(step):
        return decision
    cid_sent = await _write_ahead(step)
    if cid_sent is None:
        return decision
    await _send(step, *cid_sent)
    return decision


def _size(setup: AccountSetup, pos: VenuePosition, view: dict[str, Any]) -> tuple[float, list[str]] | None:
    # The step: the excess over the target leverage times the step fraction (the step fraction
    # of the position when already at target), capped to max_order_notional and the position;
    # returns (qty > 0, reasons) or None.
    target = float(view["target_leverage"])
    lev = float(view["leverage"])
    reasons = [
        f"state {view['state']}",
        f"leverage {lev:.2f}x above target {target:.2f}x ({view['binding_constraint']})",
    ]
    if not lev > target:
        # At ACT with leverage already at target: reduce by the step fraction anyway.
        excess = abs(pos.qty) * setup.step_fraction
        reasons[1] = (
            f"leverage {lev:.2f}x at or below target {target:.2f}x: "
            f"reduce {setup.step_fraction:.0%} to restore the buffer"
        )
    else:
        excess = abs(pos.qty) * (1.0 - target / lev) * setup.step_fraction
    qty = min(excess, _cap_qty(setup, pos, float(view["mark"])), abs(pos.qty))
    if not qty > 0:
        return None
    return qty, reasons


def _cap_qty(setup: AccountSetup, pos: VenuePosition, mark: float) -> float:
    # max_order_notional (quote) in the position's units: base units of a linear contract at the
    # mark; an inverse one's quantity is quote (USD) already.
    return setup.max_order_notional / (1.0 if pos.inverse else mark)


async def _skipped(step: _Step) -> bool:
    # The checks before any order, in this order: cooldown, an unresolved order on the symbol,
    # the kill switch, acting disabled, dry run, a venue without reduce-only orders.  Each skip
    # is audited and noted in the decision; True when the step ends here.
    g, setup, st, ps, pos, now = step.g, step.setup, step.st, step.ps, step.pos, step.now
    view, decision, reasons = step.view, step.decision, step.reasons
    if (now - ps.last_order_ns) / 1e9 < setup.cooldown_s:
        decision["skipped"] = "cooldown"
        g._audit(setup.name, "deleverage_skipped", view, decision, [*reasons, "cooldown"])
        return True
    unknown = sorted(cid for cid, row in st.inflight.items() if row["symbol"] == pos.symbol)
    if unknown:
        # An earlier order's outcome is unknown (timeout, crash after sending): never decide
        # on top of an order that may still fill; wait for the venue's answer or its expiry.
        decision["skipped"] = "unresolved_order"
        decision["unresolved"] = unknown
        g._audit(setup.name, "deleverage_skipped", view, decision, [*reasons, "an earlier order is unresolved"])
        return True
    if g.store.kill_switch(setup.name):
        decision["skipped"] = "kill_switch"
        g._audit(setup.name, "deleverage_skipped", view, decision, [*reasons, "kill switch on"])
        return True
    if st.disabled:
        decision["skipped"] = "disabled"
        g._audit(setup.name, "deleverage_skipped", view, decision, [*reasons, f"acting disabled: {st.disabled}"])
        return True
    if await _below_minimum(step):
        return True
    row = g.store.account(setup.name) if g.live and setup.live else None
    acting = row is not None and bool(row.get("live_enabled"))
    if not acting:
        decision["dry_run"] = True
        ps.last_order_ns = now
        g._audit(setup.name, "deleverage_dry_run", view, decision, [*reasons, "dry run"])
        side, qty = decision["side"], decision["qty"]
        await g._alert(
            setup.name, "warning", "action", f"{pos.symbol}: would {side} {qty:g} reduce-only (dry run)", **decision
        )
        return True
    caps = getattr(setup.venue, "capabilities", None)
    if caps is not None and not caps.reduce_only:
        # A plain market order sized on a position read a moment ago can open the opposite
        # position when the position changed meanwhile (a fill, a venue liquidation): the
        # guardian sends reduce-only orders or none.
        decision["skipped"] = "no_reduce_only"
        why = "the venue cannot send reduce-only orders (Capabilities.reduce_only is False)"
        g._audit(setup.name, "deleverage_skipped", view, decision, [*reasons, why])
        await g._alert(
            setup.name, "critical", "action", f"{pos.symbol}: not deleveraged: {why}", dedup=pos.symbol, **decision
        )
        return True
    return False


def _model_minimum(venue_name: str, symbol: str, inverse: bool) -> float:
    # The venue rule set's smallest reduce-only order in the position's units (0: none known or
    # an unknown rule set): the minimum quantity (base units) of a linear contract, the minimum
    # notional of an inverse one (its quantity is USD: one contract on COIN-M and Bybit
    # inverse).  A linear contract's minimum notional does not bound a reduce-only order
    # (Binance -4164: "unless you choose reduce only").
    try:
        model = get_venue(venue_name)
        return float(model.min_notional(symbol) if inverse else model.min_qty(symbol))
    except (InputError, KeyError, ValueError):
        return 0.0


async def _capped_to_maximum(step: _Step) -> float:
    # The step capped to the market's largest order where the adapter gives it (ccxt's market
    # limits: Binance MARKET_LOT_SIZE maxQty): a larger step was refused by round_qty ("above the
    # maximum") and skipped every cycle, so no order ever protected the position; capped, it is
    # sent and the next cycle sends the next step.  Returns the (possibly capped) step.
    setup, pos, decision, reasons = step.setup, step.pos, step.decision, step.reasons
    qty = float(decision["qty"])
    market_maximum = getattr(setup.venue, "max_order_qty", None)
    maximum = None
    if callable(market_maximum):
        with contextlib.suppress(VenueError):  # round_qty below refuses what the market does not take
            maximum = await market_maximum(pos.symbol)
    if maximum is not None and 0.0 < float(maximum) < qty:
        decision["qty"] = qty = float(maximum)
        unit = "USD" if pos.inverse else "base units"
        reasons.append(f"capped to the venue's largest order {qty:g} ({unit}); the next cycle sends the next step")
    return qty


async def _below_minimum(step: _Step) -> bool:
    # A step larger than the market's largest order is capped to it (_capped_to_maximum).
    # A step smaller than the venue's smallest order (the larger of the rule set's and the
    # instrument's own, where the adapter gives it: ccxt's market limits) is raised to it when the
    # position and max_order_notional allow; else, and when the adapter's round_qty (the market's
    # limits and precision) refuses it, it is not sent nor recorded (the venue would refuse it,
    # and the write-ahead book it as an order): skipped, audited and alerted (critical when the
    # position itself is below the minimum: no step can ever reduce it).
    g, setup, pos, view, decision, reasons = step.g, step.setup, step.pos, step.view, step.decision, step.reasons
    qty = await _capped_to_maximum(step)
    why, skip, level = "", "below_min_order", "warning"
    minimum = _model_minimum(str(getattr(setup.venue, "name", "")), pos.symbol, pos.inverse)
    market_minimum = getattr(setup.venue, "min_order_qty", None)
    if callable(market_minimum):
        with contextlib.suppress(VenueError):  # round_qty below refuses what the market does not take
            minimum = max(minimum, float(await market_minimum(pos.symbol)))
    if minimum > 0.0 and qty < minimum * (1.0 - 1e-12):
        unit = "USD" if pos.inverse else "base units"
        if minimum <= min(abs(pos.qty), _cap_qty(setup, pos, float(view["mark"]))) * (1.0 + 1e-12):
            # A reduce-only step of the minimum reduces more than sized (up to the minimum) but
            # within the position and the order cap: one that protects beats none.
            decision["qty"] = qty = minimum
            reasons.append(f"raised to the venue's minimum order {minimum:g} ({unit})")
        else:
            limit = "the position" if abs(pos.qty) < minimum else "max_order_notional"
            level = "critical" if limit == "the position" else level
            why = f"{qty:g} is below the venue's minimum order {minimum:g} ({unit}), and {limit} is smaller"
    rounder = getattr(setup.venue, "round_qty", None)
    if not why and callable(rounder):
        try:
            await rounder(pos.symbol, qty)
        except VenueOrderRejectedError as exc:  # rounds to 0, below the minimum or above the maximum
            why = str(exc)
            skip = "below_min_order" if "below the minimum" in why else "order_size"
        except VenueError:
            pass  # the send reports a venue failure as it always has
    if not why:
        return False
    decision["skipped"] = skip
    g._audit(setup.name, "deleverage_skipped", view, decision, [*reasons, why])
    await g._alert(setup.name, level, "action", f"{pos.symbol}: not deleveraged: {why}", dedup=pos.symbol, **decision)
    return True


async def _write_ahead(step: _Step) -> tuple[str, int] | None:
    # Record the intent with its audit row, then mark it sent, both fenced by the lease epoch;
    # returns (client order id, sent_ns), or None when it must not be sent (decision["skipped"]).
    g, setup, st, pos = step.g, step.setup, step.st, step.pos
    view, decision, reasons = step.view, step.decision, step.reasons
    # Write-ahead: the sequence number comes from the orders already recorded, so the id
    # of this decision is the same if a crash interrupts us here and we decide again.  The
    # intent and its audit row are one transaction, fenced by this process's lease epoch.
    seq = g.store.order_count(setup.name, pos.symbol)
    cid = client_order_id(setup.name, pos.symbol, seq, inflight.id_salt(g, setup.name))
    decision["client_order_id"] = cid
    decision["epoch"] = st.epoch
    sent = await inflight.write_ahead(
        g,
        setup,
        st,
        cid,
        pos.symbol,
        decision["side"],
        decision["qty"],
        reasons,
        (view, decision, reasons),
        refused=f"order {cid} not sent: it was resolved by another process meanwhile",
        noun="order",
    )
    if isinstance(sent, str):
        decision["skipped"] = sent
        return None
    return cid, sent


async def _send(step: _Step, cid: str, sent_ns: int) -> None:
    # Send the recorded order (once: never retried blindly) and record the venue's answer; an
    # unknown outcome stays in flight.  The decision gets the outcome.
    g, setup, st, ps, pos = step.g, step.setup, step.st, step.ps, step.pos
    decision, now = step.decision, step.now
    side: str = decision["side"]
    qty: float = decision["qty"]
    intent = {"client_order_id": cid, "symbol": pos.symbol, "side": side, "qty": qty, "status": "sent"}
    st.inflight[cid] = {**intent, "sent_ns": sent_ns, "filled": 0.0}
    ps.last_order_ns = now
    try:
        state: OrderState = await g._call(
            setup,
            "create_order",
            lambda: setup.venue.create_order(
                OrderRequest(pos.symbol, side, qty, cid, sent_ns=sent_ns, margin_mode=pos.margin_mode)  # type: ignore[arg-type]
            ),
            retry=False,
        )
    except VenueAuthError as exc:
        # Refused before execution: the order is final (rejected) and acting stops.
        if await _record(step, cid, "rejected", error=f"auth: {exc}") is None:
            return
        st.inflight.pop(cid, None)
        await g._disable(setup, st, f"order {cid} refused: {exc}")
        decision.update({"status": "rejected", "error": str(exc)})
        return
    except VenueError as exc:
        if isinstance(exc, VenueOrderRejectedError):
            # The venue refused the order (it did not execute): final.
            if await _record(step, cid, "rejected", error=str(exc)) is None:
                return
            st.inflight.pop(cid, None)
            level = "warning"
        else:
            # Unknown outcome: the intent stays in flight until the venue answers or it expires.
            level = "critical"
        await g._alert(
            setup.name,
            level,
            "action",
            f"{pos.symbol}: order {cid} {'rejected' if level == 'warning' else 'outcome unknown'}: {exc}",
            client_order_id=cid,
        )
        decision["error"] = str(exc)
        return
    delta = await _record(step, cid, state.status, state.filled, state.average_price, state.venue_order_id)
    if delta is None:
        return
    inflight.book_fill(st, st.inflight[cid], delta)
    if state.status in FINAL_ORDER_STATUSES:
        st.inflight.pop(cid, None)
    else:
        filled = max(float(st.inflight[cid].get("filled") or 0.0), state.filled)  # the fill only grows
        st.inflight[cid] = {**st.inflight[cid], "status": state.status, "filled": filled}
    decision.update({"status": state.status, "filled": state.filled, "price": state.average_price})
    await g._alert(
        setup.name,
        "warning",
        "action",
        f"{pos.symbol}: {side} {state.filled:g} reduce-only at "
        f"{state.average_price or float('nan'):,.2f} ({state.status})",
        **decision,
    )


async def _record(
    step: _Step,
    cid: str,
    status: str,
    filled: float = 0.0,
    price: float | None = None,
    venue_order_id: str | None = None,
    *,
    error: str | None = None,
) -> float | None:
    # The venue's answer to order cid, fenced by the lease epoch (Store.mark_result): the fill
    # newly booked, or None when this process lost the account's lease (alerted; the order stays
    # unresolved for the new holder to resolve by client order id, booking its fill once).
    g, setup, st = step.g, step.setup, step.st
    try:
        return g.store.mark_result(
            cid, status, filled, price, venue_order_id, g.clock(), error=error, lease=(g.owner, g.instance, st.epoch)
        )
    except LeaseLost as exc:
        step.decision["error"] = f"answer ({status}) not recorded: the lease is lost"
        await inflight.lease_lost(g, setup, st, f"order {cid}: {exc}")
        return None
