"""The on-chain guardian's actions: repay or supply, written ahead, reconciled by hash and nonce.

:func:`protect` is called by :func:`levguard.live.onchain.cycle` at the account's acting level.
It picks the action (:func:`plan`: repay the debt from the paying wallet, or supply collateral,
the amount that restores the target health factor from levguard's engines, capped by what the
wallet holds and ``max_order_notional``), skips it for the cooldown, a transaction in flight, a
kill switch, a disabled account or a dry run (each audited; a dry run alerts the transactions it
would send), then sends its transactions one after the other (``approve`` of exactly the amount
when the allowance is short, preceded by ``approve(0)`` when it is short but not zero, as tokens
such as USDT require; then ``repay`` / ``supply``).  Each one is, in order:

1. signed (nonce: the signer's pending count; gas: ``eth_estimateGas``; a transaction the chain
   would revert is refused here, audited and alerted, nothing sent);
2. **journaled**: the order row (``orders``: the deterministic client id, the token, the kind,
   the amount) and, in the same transaction, its audit row carrying the signed transaction
   (nonce, to, data, value, gas, fees, hash, the raw bytes), fenced by the lease epoch;
3. marked sent (fenced again), then broadcast; the row becomes ``open`` with the hash;
4. waited for (``rules.confirm_wait_s``): mined and successful is ``closed``, reverted is
   ``rejected`` (critical alert), not yet mined stays in flight.

:func:`resolve` settles the transactions in flight (the guardian's start-up reconciliation and
every cycle before deciding): a row never marked sent was never broadcast (``expired``,
``not_sent``); otherwise every signed version of its nonce (the journaled transaction and the
replacements journaled since, :func:`levguard.live.onchain_fees.versions`) is looked up: one mined
-> recorded once (closed or rejected; a cancel mined: ``expired``); one pending -> wait, and
replace it with higher fees when it has been pending ``replace_after_cycles`` cycles priced below
the market (:func:`levguard.live.onchain_fees.speed_up`; a newest version journaled but unknown to
the node, a crash between its journal and its broadcast, is broadcast first; a withdrawal pending
is checked against the position at every cycle and cancelled at its nonce once it would leave the
health factor below the unwind's floor, :func:`levguard.live.onchain_fees.stale_withdrawal`); none
known to the node -> the sender's mined nonce decides: beyond the journaled one, the nonce went
to another transaction (``expired``, after a last look for a receipt of ours); not yet, the newest
signed bytes are broadcast again, unless they are a withdrawal the position no longer allows
(:func:`levguard.live.onchain_fees.stale_withdrawal`), which is cancelled at its nonce instead.
Newest bytes the node refuses for their gas ("intrinsic gas too low": never accepted) are
estimated again and signed anew at the nonce (:func:`levguard.live.onchain_fees.regas`).
A nonce is therefore only ever re-sent with its own payload, or a cancel, each journaled before it
is broadcast, and no decision is taken while any transaction of the account is in flight.  No fee
bump or cancel is signed under the kill switch, a dry run or acting disabled after an
authentication failure (:func:`levguard.live.onchain_fees.signing_stop`): one due is alerted and
audited instead.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from levguard.errors import VenueAuthError, VenueError, VenueOrderRejectedError
from levguard.live import inflight, onchain_fees
from levguard.live.setup import AccountState, PositionState, client_order_id
from levguard.live.store import LeaseLost
from levguard.venues.onchain import OnchainVenue, SignedTx, TxRequest
from levguard.venues.onchain_read import AaveRead, LendingRead

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian
    from levguard.live.onchain import AssetFigures, LendingAssessment, OnchainAccountSetup

__all__ = ["plan", "protect", "resolve"]

_JOURNAL_PAGES = 50  # audit pages of 200 rows searched for a transaction's journal entry


def plan(setup: OnchainAccountSetup, read: LendingRead, a: LendingAssessment) -> tuple[str, str, int, list[str]] | None:
    """The action restoring the target: ``(kind, symbol, amount, reasons)`` or None when the
    paying wallet holds none of the tokens that would help.

    ``rules.prefer`` first (repay, else supply, or the reverse; after an unwind that is not
    possible, repay first); per kind the tokens by value
    (largest debt, largest collateral first), leaving out the Aave reserves the Pool refuses:
    paused or inactive ones (``ValidationLogic.validateRepay`` and ``validateSupply``:
    ``RESERVE_PAUSED``, ``RESERVE_INACTIVE``), and frozen ones for a supply (``validateSupply``:
    ``RESERVE_FROZEN``).  The amount is the least one reaching the target
    (the whole debt, or the wallet's balance, when that is all there is), capped by the wallet's
    balance and ``max_order_notional`` (in the assessment's value unit).  An Aave supply is also
    capped by the room under the reserve's supply cap (``AaveRead.supply_room``;
    ``validateSupply``: ``SUPPLY_CAP_EXCEEDED``): none left, the reserve is passed over.  An
    action cut short of the target (by the wallet, ``max_order_notional`` or the cap, or a token
    that cannot reach it alone) yields to the first later action that reaches it; when none does,
    the one that raises the health factor most goes (a partial amount still raises it; a
    repayment of value ``v``: ``h x D / (D - v)``; a supply of ``s`` of the ``n`` reaching the
    target: ``h + (target - h) x s / n``; the preferred kind on a tie), so a supply cut to one
    wei does not go before a repayment of nearly all the debt needed.
    """
    kinds = ("supply", "repay") if setup.rules.prefer == "supply" else ("repay", "supply")
    paused = set(read.paused) if isinstance(read, AaveRead) else set()
    frozen = set(read.frozen) if isinstance(read, AaveRead) else set()
    room = dict(read.supply_room) if isinstance(read, AaveRead) else {}
    deferred: list[tuple[tuple[str, str, int, list[str]], float]] = []  # actions short of the target
    for kind in kinds:
        refused = paused | (frozen if kind == "supply" else set())
        assets = [x for x in a.assets if (x.debt if kind == "repay" else x.collateral) > 0 and x.symbol not in refused]
        assets.sort(key=lambda x: -(x.debt if kind == "repay" else x.collateral) / 10**x.decimals * x.price)
        for x in assets:
            need = x.repay_to_target if kind == "repay" else x.supply_to_target
            if kind == "supply" and need is None:
                continue  # supplying this token cannot count (not a collateral)
            have = int(read.balances.get(x.symbol, 0))
            cap = math.floor(setup.max_order_notional / x.price * 10**x.decimals) if x.price > 0 else have
            full = x.debt if kind == "repay" else have
            amount = min(full if need is None else need, have, cap)
            if kind == "repay":  # Morpho.repay by assets refuses more shares than owed (repay_max)
                amount = min(amount, x.debt if x.repay_max is None else x.repay_max)
            at_cap = kind == "supply" and room.get(x.symbol, amount) < amount
            if at_cap:
                amount = room[x.symbol]
            if amount <= 0:
                continue
            whole = amount / 10**x.decimals
            reasons = [f"health factor {a.health_factor:.4f}", f"target {a.target_hf:g}"]
            if need is None:
                reasons.append(f"the target is out of reach with {x.symbol} alone: {kind} what helps")
            elif amount < need:
                short = (
                    "the room under its supply cap" if at_cap
                    else "the wallet's balance" if amount == have
                    else "max_order_notional"
                )  # fmt: skip
                reasons.append(f"{kind} {whole:g} {x.symbol} of {need / 10**x.decimals:g} needed (capped by {short})")
            if at_cap or need is None or amount < need:
                deferred.append(((kind, x.symbol, amount, reasons), _hf_after(a, x, kind, amount, need)))
                continue  # a later action that reaches the target goes first
            return kind, x.symbol, amount, reasons
    # None reaches the target: the one raising the health factor most (the preferred one on a tie).
    return max(deferred, key=lambda c: c[1])[0] if deferred else None


def _hf_after(a: LendingAssessment, x: AssetFigures, kind: str, amount: int, need: int | None) -> float:
    # The health factor after one action: a repayment of value v takes the debt D to D - v with the
    # collateral's weighted value h x D unchanged; a supply adds weighted value linearly in its
    # amount, and ``need`` of it reaches the target (so h + (target - h) x amount / need).
    h, debt = a.health_factor, a.debt_value
    if kind == "repay":
        left = debt - amount / 10**x.decimals * x.price
        return h * debt / left if left > 0 else math.inf
    return h + (a.target_hf - h) * amount / need if need else h


async def protect(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    ps: PositionState,
    read: LendingRead,
    a: LendingAssessment,
    view: dict[str, Any],
    now: int,
) -> dict[str, Any]:
    """Decide, and when live send, the transactions restoring the target (the module docstring);
    return the decision (the cycle report's ``action``)."""
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    if a.health_factor >= a.target_hf:  # at the acting level by P(HF < 1) alone, and at the target
        decision: dict[str, Any] = {"skipped": "at_target", "health_factor": a.health_factor, "target_hf": a.target_hf}
        g._audit(setup.name, "onchain_skipped", _inputs(view), decision, ["the health factor is at the target"])
        return decision
    chosen = plan(setup, read, a)
    # A Morpho debt whose every repayment by assets would burn more shares than owed (repay_max 0).
    by_shares = [x for x in a.assets if x.debt > 0 and x.repay_max == 0 and read.balances.get(x.symbol, 0) > 0]
    if chosen is None and by_shares:
        x = by_shares[0]
        decision = {"skipped": "repay_by_shares_only", "symbol": x.symbol, "debt": x.debt, "payer": read.payer}
        text = (
            f"{view['symbol']}: health factor {a.health_factor:.4f}; the {x.debt} base units of {x.symbol} "
            "owed can be repaid only by shares (Morpho.repay by assets would burn more shares than owed and "
            "revert), and levguard repays by assets: repay them by shares"
        )
        g._audit(setup.name, "onchain_skipped", _inputs(view), decision, [text])
        await g._alert(setup.name, "critical", "action", text, dedup="repay_by_shares_only")
        return decision
    if chosen is None:
        decision = {"skipped": "no_funds", "payer": read.payer}
        refused = ""
        full = sorted(s for s, left in read.supply_room.items() if left == 0) if isinstance(read, AaveRead) else []
        if isinstance(read, AaveRead) and (read.paused or read.frozen or full):
            decision.update(paused=list(read.paused), frozen=list(read.frozen), supply_cap_reached=full)
            refused = (
                f" the Pool accepts (paused: {list(read.paused)}, frozen for supply: {list(read.frozen)}, "
                f"at its supply cap: {full})"
            )
        g._audit(setup.name, "onchain_skipped", _inputs(view), decision, ["the paying wallet holds nothing that helps"])
        await g._alert(
            setup.name,
            "critical",
            "action",
            f"{view['symbol']}: health factor {a.health_factor:.4f} and the paying wallet {read.payer} holds none "
            f"of the debt or collateral tokens{refused}: the position cannot be protected",
            dedup="no_funds",
        )
        return decision
    kind, symbol, amount, reasons = chosen
    x = a.asset(symbol)
    tokens = amount / 10**x.decimals
    requests: list[TxRequest] = []
    allowance = int(read.allowances.get(symbol, 0))
    if allowance < amount:
        if allowance > 0:  # tokens such as USDT refuse to change a non-zero allowance: 0 first
            requests.append(venue.approve(read, symbol, 0))
        requests.append(venue.approve(read, symbol, amount))
    requests.append(venue.repay(read, symbol, amount) if kind == "repay" else venue.supply(read, symbol, amount))
    decision = {
        "side": kind,
        "symbol": symbol,
        "qty": tokens,
        "amount": str(amount),
        "amount_value": tokens * x.price,
        "value_unit": a.value_unit,
        "health_factor": a.health_factor,
        "target_hf": a.target_hf,
        "transactions": _transactions(requests),
    }
    if await _skipped(g, setup, st, ps, view, decision, reasons, now):
        return decision
    ps.last_order_ns = now
    outcomes: list[dict[str, Any]] = []
    decision["outcomes"] = outcomes
    for request in requests:
        outcome = await _send_one(g, setup, st, view, decision, request, x.decimals, reasons)
        outcomes.append(outcome)
        if outcome.get("status") != "closed":
            break  # a refused, reverted or unconfirmed step stops the sequence (the next cycle decides again)
    last = outcomes[-1] if outcomes else {}
    decision["status"] = last.get("status", "skipped")
    decision["filled"] = tokens if last.get("kind") == kind and last.get("status") == "closed" else 0.0
    return decision


def _transactions(requests: list[TxRequest]) -> list[dict[str, Any]]:
    # A decision's ``transactions``, as its report and audit row show them.
    return [{"kind": r.kind, "to": r.to, "data": r.data, "value": str(r.value), "call": r.call} for r in requests]


def _inputs(view: dict[str, Any]) -> dict[str, Any]:
    # The audit inputs of a decision: the position's figures without the per-asset detail.
    return {k: v for k, v in view.items() if k not in ("assets", "action")}


async def _skipped(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    ps: PositionState,
    view: dict[str, Any],
    decision: dict[str, Any],
    reasons: list[str],
    now: int,
    *,
    cooldown: bool = True,
) -> bool:
    # Cooldown (unless ``cooldown`` is False: a step left open is finished at once), a transaction
    # in flight, the kill switch, acting disabled, dry run, no key (in this order); each audited;
    # True when nothing is sent.
    name = setup.name
    why: str | None = None
    if cooldown and (now - ps.last_order_ns) / 1e9 < setup.cooldown_s:
        why, text = "cooldown", "cooldown"
    elif st.inflight:
        why, text = "unresolved_order", "a transaction of the account is in flight"
        decision["unresolved"] = sorted(st.inflight)
    elif g.store.kill_switch(name):
        why, text = "kill_switch", "kill switch on"
    elif st.disabled:
        why, text = "disabled", f"acting disabled: {st.disabled}"
    if why is not None:
        decision["skipped"] = why
        g._audit(name, "onchain_skipped", _inputs(view), decision, [*reasons, text])
        return True
    row = g.store.account(name) if g.live and setup.live else None
    if row is None or not row.get("live_enabled"):
        decision["dry_run"] = True
        ps.last_order_ns = now
        g._audit(name, "onchain_dry_run", _inputs(view), decision, [*reasons, "dry run"])
        calls = " + ".join(t["call"].split("(")[0] for t in decision["transactions"])
        await g._alert(
            name,
            "warning",
            "action",
            f"{view['symbol']}: would {decision['side']} {decision['qty']:g} {decision['symbol']} ({calls}) to bring "
            f"the health factor from {decision['health_factor']:.4f} to {decision['target_hf']:g} (dry run)",
            **decision,
        )
        return True
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    if venue.signer is None:
        decision["skipped"] = "no_key"
        g._audit(name, "onchain_skipped", _inputs(view), decision, [*reasons, "live, but no signing key"])
        await g._alert(name, "critical", "action", "live, but the account has no signing key (key_env)", dedup="key")
        return True
    return False


async def _send_one(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    view: dict[str, Any],
    decision: dict[str, Any],
    request: TxRequest,
    decimals: int,
    reasons: list[str],
) -> dict[str, Any]:
    # Sign, journal (fenced), mark sent (fenced), broadcast, wait: one transaction (``decimals``
    # of its token: the order row holds whole tokens).
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    out: dict[str, Any] = {"kind": request.kind, "call": request.call}
    try:
        signed = await venue.prepare(request)
    except VenueOrderRejectedError as exc:  # eth_estimateGas: it would revert; nothing signed or sent
        out.update(status="refused", error=str(exc))
        g._audit(setup.name, "onchain_refused", _inputs(view), {**decision, "refused": out}, [*reasons, str(exc)])
        await g._alert(
            setup.name, "critical", "action", f"{request.call} not sent: {exc}", dedup=f"refused:{request.call}",
            call=request.call,
        )  # fmt: skip
        return out
    except VenueAuthError:
        raise
    except VenueError as exc:
        out.update(status="not_sent", error=str(exc))
        await g._alert(setup.name, "warning", "action", f"{request.call} not prepared: {exc}", dedup="prepare")
        return out
    tx = signed.journal()
    seq = g.store.order_count(setup.name, request.symbol)
    cid = client_order_id(setup.name, request.symbol, seq, inflight.id_salt(g, setup.name))
    out.update(client_order_id=cid, hash=signed.hash, nonce=signed.nonce)
    whole = request.amount / 10**decimals
    sent = await inflight.write_ahead(
        g,
        setup,
        st,
        cid,
        request.symbol,
        request.kind,
        whole,
        reasons,
        (_inputs(view), {**decision, "client_order_id": cid, "tx": tx}, reasons),
        refused=f"{cid} not sent: resolved by another process",
        noun="transaction",
    )
    if isinstance(sent, str):
        out["status"] = sent
        return out
    sent_ns = sent
    row = {"client_order_id": cid, "symbol": request.symbol, "side": request.kind, "qty": whole}
    st.inflight[cid] = {**row, "status": "sent", "sent_ns": sent_ns, "filled": 0.0, "tx": tx}
    try:
        await venue.broadcast(signed.raw, signed.hash)
    except VenueError as exc:  # it may still have reached the node: resolved by hash and nonce
        out.update(status="unknown", error=str(exc))
        await g._alert(
            setup.name, "critical", "action", f"{request.call} ({signed.hash}) outcome unknown: {exc}", hash=signed.hash
        )
        return out
    if not await _mark(g, setup, st, cid, "open", 0.0, None, signed.hash, g.clock()):
        out["status"] = "lease_lost"
        return out
    st.inflight[cid]["status"] = "open"
    return {**out, **await _settle(g, setup, st, cid, signed, setup.rules.confirm_wait_s)}


async def _settle(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    cid: str,
    signed: SignedTx | dict[str, Any],
    wait_s: float,
) -> dict[str, Any]:
    # Wait for the receipt up to wait_s; record a mined transaction once (closed or rejected).
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    tx_hash = signed.hash if isinstance(signed, SignedTx) else str(signed["hash"])
    try:
        status = await venue.wait(tx_hash, wait_s)
    except VenueError as exc:
        return {"status": "open", "error": str(exc)}
    if status.state != "mined":
        return {"status": "open", "state": status.state}
    return await _record_mined(g, setup, st, cid, tx_hash, bool(status.success), status.block_number, status.gas_used)


async def _record_mined(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    cid: str,
    tx_hash: str,
    success: bool,
    block: int | None,
    gas_used: int | None,
    *,
    reconciled: bool = False,
) -> dict[str, Any]:
    # The mined transaction's final row (the audit row in the same transaction), once.
    row = st.inflight.get(cid, {})
    qty = float(row.get("qty") or 0.0)
    status = "closed" if success else "rejected"
    error = None if success else f"reverted in block {block} (gas used {gas_used})"
    resolved: dict[str, Any] = {
        "client_order_id": cid,
        "hash": tx_hash,
        "status": status,
        "block": block,
        "gas_used": gas_used,
    }
    audit = (
        "reconcile" if reconciled else "onchain_mined",
        {"order": _plain(row)},
        resolved,
        [f"mined in block {block}"],
    )
    if not await _mark(
        g, setup, st, cid, status, qty if success else 0.0, None, tx_hash, g.clock(), error=error, audit=audit
    ):
        return {**resolved, "status": "lease_lost"}
    st.inflight.pop(cid, None)
    g._clear_alert(setup.name, "reconcile", cid)
    what = f"{row.get('side', 'transaction')} {qty:g} {row.get('symbol', '')}".strip()
    if success:
        await g._alert(setup.name, "warning", "action", f"{what}: confirmed in block {block} ({tx_hash})", **resolved)
    else:
        await g._alert(setup.name, "critical", "action", f"{what}: reverted in block {block} ({tx_hash})", **resolved)
    return resolved


async def _mark(g: Guardian, setup: OnchainAccountSetup, st: AccountState, cid: str, *args: Any, **kw: Any) -> bool:
    # Store.mark_result fenced by this process's lease epoch (as the exchange orders'): False,
    # nothing written, acting stopped and one critical alert, when another process took the
    # account over; its new holder resolves the transaction by hash and nonce.
    try:
        g.store.mark_result(cid, *args, lease=(g.owner, g.instance, st.epoch), **kw)
    except LeaseLost as exc:
        await inflight.lease_lost(g, setup, st, f"transaction {cid} not recorded: {exc}")
        return False
    return True


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    # An in-flight row for the audit log, without the raw transaction (it is in the journal).
    return {k: v for k, v in row.items() if k not in ("tx", "replacements", "stale_audited")}


def journaled(g: Guardian, account: str, cid: str) -> dict[str, Any] | None:
    """The signed transaction journaled with the intent ``cid`` (its audit row), or None."""
    before: int | None = None
    for _ in range(_JOURNAL_PAGES):
        rows = g.store.audit_log(account=account, event="deleverage", limit=200, before_id=before)
        for r in rows:
            d = r.get("decision") or {}
            if d.get("client_order_id") == cid and isinstance(d.get("tx"), dict):
                return dict(d["tx"])
        if len(rows) < 200:
            return None
        before = int(rows[-1]["id"])
    return None


async def resolve(g: Guardian, setup: OnchainAccountSetup, st: AccountState) -> list[dict[str, Any]]:
    """Settle the account's transactions in flight (the module docstring); return what resolved."""
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    out: list[dict[str, Any]] = []
    for cid, row in sorted(st.inflight.items(), key=lambda kv: int((kv[1].get("tx") or {}).get("nonce", 0))):
        now = g.clock()
        if row.get("status") == "intent":  # never marked sent, so never broadcast
            resolved = {"client_order_id": cid, "status": "not_sent"}
            if not await _mark(
                g, setup, st, cid, "expired", 0.0, None, None, now,
                error="recorded but never sent (the process stopped before)",
                audit=("reconcile", {"order": _plain(row)}, resolved, ["journaled, never broadcast"]),
            ):  # fmt: skip
                return out
            st.inflight.pop(cid, None)
            out.append(resolved)
            continue
        tx = row.get("tx") or journaled(g, setup.name, cid)
        if tx is None:
            await g._alert(
                setup.name, "critical", "reconcile", f"{cid}: sent but no journaled transaction found", dedup=cid
            )
            continue
        row["tx"] = tx
        try:
            done = await _resolve_one(g, setup, st, cid, row)
        except VenueAuthError:
            raise
        except VenueError as exc:
            await g._alert(
                setup.name, "warning", "reconcile", f"{cid} not reconciled: {exc}", dedup=cid, client_order_id=cid
            )
            continue
        if done is not None:
            out.append(done)
            if done["status"] == "lease_lost":
                return out
    return out


async def _resolve_one(
    g: Guardian, setup: OnchainAccountSetup, st: AccountState, cid: str, row: dict[str, Any]
) -> dict[str, Any] | None:
    # One transaction sent (the module docstring): what resolved, or None (still in flight).
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    vs = onchain_fees.versions(g, setup.name, cid, row)
    tx, last = vs[0], vs[-1]
    looks = [await venue.status(v["hash"]) for v in vs]
    for v, status in zip(vs, looks, strict=True):
        if status.state == "mined":
            return await _mined(g, setup, st, cid, v, status.success, status.block_number, status.gas_used)
    if any(s.state == "pending" for s in looks):
        if not onchain_fees.is_cancel(last) and tx.get("kind") == "withdraw":
            # Every cycle while it waits: the position may have drifted under it (fee bump due or not).
            why = onchain_fees.stale_withdrawal(setup, await g._call(setup, "read", venue.read), tx)
            if why:
                return await _cancel_stale(g, setup, st, cid, row, vs, why)
        refused = ""
        if looks[-1].state != "pending":  # journaled, not broadcast (a crash between the two), or refused
            try:
                await venue.broadcast(last["raw"], last["hash"])
                return None
            except VenueAuthError:
                raise
            except VenueError as exc:
                if onchain_fees.gas_refused(str(exc)):  # never accepted: signed again with new gas
                    regassed = await onchain_fees.regas(g, setup, st, cid, row, vs, str(exc))
                    return None if regassed is None else await _settled(g, setup, st, cid, regassed)
                if not onchain_fees.underpriced(str(exc)):
                    return None  # a timeout, a rate limit, funds: the same bytes are sent again next cycle
                refused = str(exc)  # an older version waits: re-priced when due (onchain_fees)
        stop = onchain_fees.signing_stop(g, setup, st)
        if stop and not st.disabled:
            return None  # the kill switch or a dry run: the operator's choice, nothing is counted
        bumped = await onchain_fees.speed_up(g, setup, st, cid, row, vs, refused, stop)
        return None if bumped is None else await _settled(g, setup, st, cid, bumped)
    mined_nonce = await venue.confirmed_nonce(tx["from"])
    if mined_nonce > int(tx["nonce"]):
        for v in vs:  # mined between the two looks?
            again = await venue.status(v["hash"])
            if again.state == "mined":
                return await _mined(g, setup, st, cid, v, again.success, again.block_number, again.gas_used)
        resolved = {"client_order_id": cid, "hash": tx["hash"], "status": "replaced", "nonce": tx["nonce"]}
        if not await _mark(
            g, setup, st, cid, "expired", 0.0, None, tx["hash"], g.clock(),
            error=f"nonce {tx['nonce']} was used by another transaction",
            audit=("reconcile", {"order": _plain(row)}, resolved, ["the nonce went to another transaction"]),
        ):  # fmt: skip
            return {**resolved, "status": "lease_lost"}
        st.inflight.pop(cid, None)
        await g._alert(
            setup.name, "warning", "reconcile", f"{tx['call']}: nonce {tx['nonce']} used by another transaction"
        )
        return resolved
    # No node holds any version and the nonce is free: the newest signed bytes again, unless they
    # are a withdrawal the position no longer allows (onchain_fees.stale_withdrawal).
    if not onchain_fees.is_cancel(last) and tx.get("kind") == "withdraw":
        why = onchain_fees.stale_withdrawal(setup, await g._call(setup, "read", venue.read), tx)
        if why:
            return await _cancel_stale(g, setup, st, cid, row, vs, why)
    try:
        await venue.broadcast(last["raw"], last["hash"])
    except VenueAuthError:
        raise
    except VenueError as exc:
        if not onchain_fees.gas_refused(str(exc)):
            raise  # a timeout, a rate limit, funds: the same bytes are sent again next cycle
        regassed = await onchain_fees.regas(g, setup, st, cid, row, vs, str(exc))
        return None if regassed is None else await _settled(g, setup, st, cid, regassed)
    if row.get("status") != "open":
        if not await _mark(g, setup, st, cid, "open", 0.0, None, tx["hash"], g.clock()):
            return {"client_order_id": cid, "status": "lease_lost"}
        row["status"] = "open"
    g._audit(setup.name, "onchain_rebroadcast", {"order": _plain(row)}, {"hash": last["hash"]}, ["unknown to the node"])
    return await _settled(g, setup, st, cid, last)


async def _cancel_stale(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    cid: str,
    row: dict[str, Any],
    vs: list[dict[str, Any]],
    why: str,
) -> dict[str, Any] | None:
    # A withdrawal the position no longer allows (``why``), pending or unknown to the node: cancel
    # it at its nonce, unless nothing may be signed (then it is not sent either: alerted, audited).
    stop = onchain_fees.signing_stop(g, setup, st)
    if stop:
        await onchain_fees.not_replaced(g, setup, cid, row, f"{why}; not cancelled ({stop})", stop, "reconcile")
        return None
    # Audited once per version and kind of reason (its figures aside: a moving oracle changes the
    # health factor in it at every cycle) or alert period, not at every cycle it waits.
    now, seen = g.clock(), row.get("stale_audited")
    key = f"{vs[-1]['hash']} {re.sub(r'[0-9][0-9.,]*', '#', why)}"
    if seen is None or seen[0] != key or now - int(seen[1]) >= g.alert_repeat_s * 1e9:
        g._audit(setup.name, "onchain_stale", {"order": _plain(row)}, {"hash": vs[-1]["hash"]}, [why])
        row["stale_audited"] = (key, now)
    cancelled = await onchain_fees.cancel(g, setup, st, cid, row, vs, why)
    return None if cancelled is None else await _settled(g, setup, st, cid, cancelled)


async def _settled(
    g: Guardian, setup: OnchainAccountSetup, st: AccountState, cid: str, tx: dict[str, Any]
) -> dict[str, Any] | None:
    # Wait for version ``tx`` of ``cid`` (rules.confirm_wait_s): what resolved, or None.
    if onchain_fees.is_cancel(tx):
        venue = setup.venue
        assert isinstance(venue, OnchainVenue)
        status = await venue.wait(str(tx["hash"]), setup.rules.confirm_wait_s)
        if status.state != "mined":
            return None
        return await _mined(g, setup, st, cid, tx, status.success, status.block_number, status.gas_used)
    settled = await _settle(g, setup, st, cid, tx, setup.rules.confirm_wait_s)
    return settled if settled.get("status") in ("closed", "rejected", "lease_lost") else None


async def _mined(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    cid: str,
    tx: dict[str, Any],
    success: bool | None,
    block: int | None,
    gas_used: int | None,
) -> dict[str, Any]:
    # Version ``tx`` of ``cid`` mined: its payload's outcome, or the cancel's (expired).
    if not onchain_fees.is_cancel(tx):
        return await _record_mined(g, setup, st, cid, str(tx["hash"]), bool(success), block, gas_used, reconciled=True)
    row = st.inflight.get(cid, {})
    resolved = {"client_order_id": cid, "hash": tx["hash"], "status": "cancelled", "block": block}
    error = f"not sent: cancelled at nonce {tx['nonce']} in block {block} (signed on an older position)"
    audit = ("reconcile", {"order": _plain(row)}, resolved, [error])
    if not await _mark(g, setup, st, cid, "expired", 0.0, None, str(tx["hash"]), g.clock(), error=error, audit=audit):
        return {**resolved, "status": "lease_lost"}
    st.inflight.pop(cid, None)
    g._clear_alert(setup.name, "reconcile", cid)
    await g._alert(setup.name, "warning", "reconcile", f"{row.get('side', 'transaction')} {cid}: {error}", **resolved)
    return resolved
