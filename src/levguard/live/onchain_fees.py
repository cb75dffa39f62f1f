"""Replacing an on-chain transaction at its nonce: a fee bump when it is stuck, a cancel when stale.

:func:`levguard.live.onchain_tx.resolve` calls these on the transactions in flight.

**Fee bump** (a wallet's "speed up", a keeper's re-pricing): a transaction still pending after
``replace_after_cycles`` reconciliations (the venue's, default 2) whose ``maxFeePerGas`` is below
the latest block's base fee, or whose tip is below the node's priority fee, is signed again with
the *same* payload, gas limit and nonce, both fees raised by ``fee_bump`` (default 12.5 %) and
1 wei at least, and to what the market needs now (:func:`replacement_fees`).  A replacement the
node refused as underpriced (:func:`underpriced`: an older version pending, the newest not held)
is priced again from the newest when due; any other failed broadcast (a timeout, a rate limit,
insufficient funds) is sent again as it is (re-pricing it raised the fees 12.5 % every two cycles
while the node did not answer).  Nothing is signed under the kill switch, a dry run or an account
whose acting is disabled after an authentication failure (:func:`signing_stop`, checked by the
caller and again before signing): a replacement due then is audited (``onchain_not_replaced``) and
alerted instead, once per alert period.  No fee beyond the venue's
``max_fee_per_gas`` is ever signed: a replacement that would need more is refused with a critical
``action`` alert (one capped at the limit still goes, with the same alert).  A replacement is a
new version of the same order row: it is **journaled** (an ``onchain_replacement`` audit row with
the signed transaction, written fenced by the lease with the row) *before* it is broadcast, so a
process killed between the two finds it in the journal and broadcasts it then.

**Every version of a nonce** (the journaled transaction and its replacements, :func:`versions`) is
looked up: whichever is mined is the outcome, booked once (it is the same payload).

**A stale withdrawal is not sent again.** A transaction marked sent but unknown to the node, its
nonce still free, was broadcast again as it was signed.  A repayment, a supply or an approval
only makes the account safer (or spends nothing) and a sale carries its own ``min_out``: they go
as they are.  A withdrawal lowers the health factor, and was sized on the position of its time:
it goes only if the health factor after it still respects the unwind's floor ``min(unwind_min_hf,
(1 + HF) / 2)`` on a fresh read (:func:`stale_withdrawal`).  Else it is **cancelled**: a 0-value
transaction to the signer itself at the same nonce, priced as a replacement (a node we did not ask
may hold the withdrawal: "unknown" is one node's view, and a transaction marked sent may have left;
only a transaction mined at that nonce rules it out for good).  Whichever is mined settles the
row: the cancel leaves it ``expired`` (the next cycle decides again from the position then), the
withdrawal (it beat the cancel) ``closed``.  A withdrawal **pending** is checked the same way at
every reconciliation (the caller, :func:`levguard.live.onchain_tx.resolve`), whether or not it is
due for a fee bump: the position drifting while it waits, one that would now leave the health
factor below the floor is cancelled (at a replacement's fees) rather than left to be mined or
sped up.  A cancel due for a fee bump is bumped as a cancel (``purpose`` ``"cancel_speed_up"``)
and never checked again; a version is a cancel by its request's ``kind`` (:func:`is_cancel`),
whatever its fee.

**A cancel's gas** is the node's ``eth_estimateGas`` of the 0-value self-transfer times the
venue's ``gas_multiplier`` (:meth:`levguard.venues.onchain.OnchainVenue.estimate`), never below
21,000 (a plain transfer's intrinsic gas on Ethereum; on Arbitrum a transaction's gas also pays
its L1 data, so a plain transfer needs more, and one signed at 21,000 is refused as "intrinsic gas
too low").  The node's answer, the multiplier and the gas are journaled with the cancel
(``gas_from``, e.g. "eth_estimateGas 93000 x 1.25 = 116250").  When the estimate fails, an
authentication failure is raised (acting is disabled); any other failure is alerted and the cancel
signed at 21,000: enough on Ethereum, where the stale withdrawal could be mined in the next block
(12 s, under a cycle: signing nothing let it be mined, a review); a node that needs more refuses
it for its gas and the next cycle signs it again with its estimate (below).
No estimate (nor fee look-up) is asked when no cancel can be signed under ``max_fee_per_gas``:
the cap's critical alert says so, once per alert period.

**A version refused for its gas** (:func:`levguard.venues.onchain_errors.gas_refused`: "intrinsic
gas too low", "gas limit too low" and the like) was never accepted by the node, and its bytes never
will be: re-sending them would leave the nonce open for good (the stale withdrawal mined, or the
account stuck).  Its gas is estimated again (the L1 component of Arbitrum's gas moves with the L1
price) and a new version is signed at the same nonce with that gas, at fees at least the refused
version's (:func:`regas`), journaled before it is broadcast as every replacement, at most
:data:`MAX_REGAS` times per nonce and never above ``max_fee_per_gas`` (then a critical alert).
Any other refusal or failure sends the journaled bytes again, as they are.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from levguard.core.defi.aave import get_user_account_data
from levguard.core.defi.aave_records import collateral_after_withdraw
from levguard.core.defi.morpho import Position, is_healthy
from levguard.errors import InputError, VenueAuthError, VenueError
from levguard.live import inflight
from levguard.live.store import LeaseLost
from levguard.venues.onchain import OnchainVenue, SignedTx, TxRequest
from levguard.venues.onchain_errors import gas_refused
from levguard.venues.onchain_read import AaveRead, LendingRead, MorphoRead

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian
    from levguard.live.onchain import OnchainAccountSetup
    from levguard.live.setup import AccountState

__all__ = [
    "CANCEL_GAS",
    "MAX_REGAS",
    "REPLACEMENT_EVENT",
    "UNDERPRICED",
    "cancel",
    "cancel_gas",
    "gas_refused",
    "is_cancel",
    "not_replaced",
    "regas",
    "replacement_fees",
    "signing_stop",
    "speed_up",
    "stale_withdrawal",
    "underpriced",
    "versions",
]

REPLACEMENT_EVENT = "onchain_replacement"
"""The audit event journaling a replacement (its ``decision`` carries ``client_order_id`` and ``tx``)."""

_WAD = 10**18
CANCEL_GAS = 21_000
"""A plain transfer's intrinsic gas (Ethereum's ``G_transaction``): the least gas of a cancel."""
_JOURNAL_PAGES = 50

MAX_REGAS = 3
"""Versions of one nonce signed again for their gas (:func:`regas`) before a critical alert stops
it: a node whose estimate is always short of what it asks would be given a new version each cycle."""


def versions(g: Guardian, account: str, cid: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The signed versions of transaction ``cid`` at its nonce, oldest first: its journaled
    transaction (``row["tx"]``), then its journaled replacements (read from the audit log once
    per process, then kept in ``row``)."""
    reps = row.get("replacements")
    if reps is None:
        reps = []
        before: int | None = None
        for _ in range(_JOURNAL_PAGES):
            rows = g.store.audit_log(account=account, event=REPLACEMENT_EVENT, limit=200, before_id=before)
            for r in rows:
                d = r.get("decision") or {}
                if d.get("client_order_id") == cid and isinstance(d.get("tx"), dict):
                    reps.append(dict(d["tx"]))
            if len(rows) < 200:
                break
            before = int(rows[-1]["id"])
        reps.reverse()  # the log is newest first
        row["replacements"] = reps
    return [dict(row["tx"]), *reps]


def is_cancel(tx: dict[str, Any]) -> bool:
    """Whether the journaled version ``tx`` is a cancel of its nonce (a 0-value transaction to its
    sender), at whatever fee: the first cancel (``purpose`` ``"cancel"``) or a fee bump of one
    (``"cancel_speed_up"``; older journals wrote ``"speed_up"``, the request ``kind`` is
    ``"cancel"`` in both)."""
    return tx.get("kind") == "cancel" or tx.get("purpose") in ("cancel", "cancel_speed_up")


def signing_stop(g: Guardian, setup: OnchainAccountSetup, st: AccountState) -> str:
    """Why no replacement (fee bump or cancel) may be signed for the account now, or "" when one
    may: acting disabled after an authentication failure (``st.disabled``, until an operator
    re-enables the account), the kill switch, or a dry run (the guardian not live, or the account's
    ``live_enabled`` off).  Bytes already journaled are still broadcast: they send nothing new."""
    if st.disabled:
        return f"acting disabled: {st.disabled}"
    if g.store.kill_switch(setup.name) or not (g.live and setup.live):
        return "kill switch or dry run"
    row = g.store.account(setup.name)
    return "" if row is not None and row.get("live_enabled") else "kill switch or dry run"


async def not_replaced(
    g: Guardian, setup: OnchainAccountSetup, cid: str, row: dict[str, Any], what: str, stop: str, kind: str = "action"
) -> None:
    """A replacement of ``cid`` due but not signed for ``stop`` (:func:`signing_stop`; ``what``
    says which, why, and that it is not signed): a warning alert, once per alert period, audited
    (``onchain_not_replaced``) when it is raised."""
    text = f"{cid}: {what}"
    if await g._alert(setup.name, "warning", kind, text, dedup=f"not_replaced:{cid}", client_order_id=cid):
        g._audit(setup.name, "onchain_not_replaced", {"order": _plain(row)}, {"client_order_id": cid, "stop": stop},
                 [what, stop])  # fmt: skip


def replacement_fees(max_fee: int, tip: int, base_fee: int | None, market_tip: int, bump: float) -> tuple[int, int]:
    """The fees ``(maxFeePerGas, maxPriorityFeePerGas)`` of a replacement of a transaction paying
    ``max_fee`` and ``tip`` (wei per gas), with the latest base fee ``base_fee`` (None: a chain
    without EIP-1559, where both are the gas price) and the node's priority fee ``market_tip``.

    Notes
    -----
    geth's transaction pool (``core/txpool/legacypool``, ``list.Add``, ``PriceBump`` 10) takes a
    transaction at a nonce it holds only when both its fee cap and its tip are *strictly* above the
    held one's, and then at least 110 % of them; Nethermind and Erigon apply the same 10 %.  The
    replacement raises both by ``bump`` (>= 0.10, rounded up) and by 1 wei at least (a tip of 0
    times 1.1 is still 0), and to what a new transaction would carry now
    (:meth:`levguard.venues.onchain.OnchainVenue.prepare`: twice the base fee plus the tip)::

        tip' = max(ceil(tip x (1 + bump)), tip + 1, market_tip)
        max' = max(ceil(max x (1 + bump)), max + 1, 2 x base_fee + tip')
    """
    scale = 10_000
    up = scale + round(bump * scale)
    least_max = max(-(-max_fee * up // scale), max_fee + 1)
    least_tip = max(-(-tip * up // scale), tip + 1)
    if base_fee is None:
        price = max(least_max, market_tip)
        return price, price
    new_tip = max(least_tip, market_tip)
    return max(least_max, 2 * base_fee + new_tip), new_tip


def stale_withdrawal(setup: OnchainAccountSetup, read: LendingRead, tx: dict[str, Any]) -> str:
    """Why the journaled withdrawal ``tx`` must not be sent on the position ``read`` ("" when it
    may): the health factor after it below the floor ``min(rules.unwind_min_hf, (1 + HF) / 2)``
    of the unwind (:mod:`levguard.live.onchain_unwind`), or more than the position holds.

    Notes
    -----
    Aave: ``GenericLogic.calculateUserAccountData`` on the reserves with the withdrawn one's
    balance after the burn (:func:`levguard.core.defi.aave.get_user_account_data`,
    :func:`levguard.core.defi.aave_records.collateral_after_withdraw`; the whole balance switches
    the collateral off).  Morpho: ``HF >= floor`` is ``_isHealthy`` at the LLTV divided by the floor
    (``maxBorrow = collateral x price x lltv``, so ``HF = maxBorrow / borrowed``), rounded down:
    :func:`levguard.core.defi.morpho.is_healthy`.
    """
    assert setup.assess is not None
    symbol, amount = str(tx["symbol"]), int(tx["amount"])
    h = setup.assess(read, setup.rules.target_hf).health_factor
    floor = min(setup.rules.unwind_min_hf, (1.0 + h) / 2.0)
    what = f"withdrawal of {amount} {symbol} signed on an older position"
    try:
        if isinstance(read, AaveRead):
            rows = list(read.reserves)
            i = next((k for k, r in enumerate(rows) if r.symbol == symbol), None)
            if i is None or rows[i].collateral < amount:
                return f"{what}: the position no longer holds that much {symbol}"
            left = collateral_after_withdraw(rows[i], amount)
            rows[i] = replace(rows[i], collateral=left)
            if left == 0:  # SupplyLogic.executeWithdraw: the whole balance switches the collateral off
                rows[i] = replace(rows[i], use_as_collateral=False)
            after = get_user_account_data(rows, read.emode, read.version).health_factor / _WAD
            ok = after >= floor
        elif isinstance(read, MorphoRead):
            pos = read.position
            if symbol != read.collateral_symbol or pos.collateral < amount:
                return f"{what}: the position no longer holds that much {symbol}"
            lltv = read.lltv * _WAD // math.ceil(floor * _WAD)
            ok = is_healthy(read.market, Position(pos.borrow_shares, pos.collateral - amount), lltv, read.oracle_price)
            after = None
        else:
            return f"{what}: an unknown position"
    except InputError as exc:  # the engines refuse it (the contracts would too)
        return f"{what}: {exc}"
    if ok:
        return ""
    shown = "" if after is None else f" {after:.4f}"
    return f"{what}: it would leave the health factor{shown} below the floor {floor:.4f} (health factor now {h:.4f})"


#: What nodes answer a replacement that does not pay enough over the version they hold (geth and
#: its forks: "replacement transaction underpriced", "transaction underpriced"; Nethermind:
#: "ReplacementNotAllowed", "FeeTooLow..."; Besu: "REPLACEMENT_UNDERPRICED").
UNDERPRICED: tuple[str, ...] = ("underpriced", "replacementnotallowed", "feetoolow", "fee too low")


def underpriced(error: str) -> bool:
    """True when a node refused a transaction for its fees (:data:`UNDERPRICED`), not for a
    timeout, a rate limit or the account's funds."""
    text = error.lower().replace("_", "")
    return any(k.replace("_", "") in text for k in UNDERPRICED)


async def speed_up(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    cid: str,
    row: dict[str, Any],
    vs: list[dict[str, Any]],
    refused: str = "",
    stop: str = "",
) -> dict[str, Any] | None:
    """Count one more reconciliation that finds ``cid`` pending; once ``replace_after_cycles``
    did and its newest version pays less than the market (module docstring), or the node
    ``refused`` it (its error: an older version waits, the newest is not held), replace the newest
    version with the same payload and higher fees; a stale withdrawal is the caller's to cancel
    first (:func:`stale_withdrawal`).  The replacement's journal entry, or None (not replaced;
    when due but ``stop`` says why nothing may be signed, alerted and audited: :func:`not_replaced`)."""
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    row["pending_cycles"] = int(row.get("pending_cycles", 0)) + 1
    if row["pending_cycles"] < venue.replace_after_cycles:
        return None
    last = vs[-1]
    base, tip = await venue.fees()
    paid_max, paid_tip = int(last["max_fee_per_gas"]), int(last["max_priority_fee_per_gas"])
    if not refused and not ((base is not None and paid_max < base) or paid_tip < tip):
        return None  # priced for the market: it waits its turn
    why = (
        f"pending for {row['pending_cycles']} cycles with maxFeePerGas {_gwei(paid_max)} and tip "
        f"{_gwei(paid_tip)} (base fee {_gwei(base)}, priority fee {_gwei(tip)})"
    )
    if refused:
        why = f"{last['hash']} refused by the node ({refused}); {why}"
    if stop:
        word = "cancel" if is_cancel(last) else "fee bump"
        await not_replaced(g, setup, cid, row, f"{word} due: {why}; not signed ({stop})", stop)
        return None
    if is_cancel(last):  # a cancel is never re-checked, and is bumped as a cancel
        return await _replace(
            g, setup, st, cid, row, last, _request(last, cancel=True), int(last["gas"]), "cancel_speed_up", why,
            base, tip,
        )  # fmt: skip
    return await _replace(
        g, setup, st, cid, row, last, _request(last, cancel=False), int(last["gas"]), "speed_up", why, base, tip
    )


async def cancel(
    g: Guardian, setup: OnchainAccountSetup, st: AccountState, cid: str, row: dict[str, Any], vs: list[dict[str, Any]],
    why: str,
) -> dict[str, Any] | None:  # fmt: skip
    """Replace ``cid`` (a withdrawal not to be mined: ``why``) with a 0-value transaction to the
    signer at its nonce, its gas estimated (:func:`cancel_gas`; module docstring).  Its journal
    entry, or None: nothing signed when no cancel fits under ``max_fee_per_gas`` (a critical
    alert, no fee or gas asked of the node) or when the estimate fails (a warning; again next
    cycle)."""
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    last = vs[-1]
    if await capped_out(g, setup, cid, last, why, "cancel"):
        return None
    base, tip = await venue.fees()
    request = _request(last, cancel=True)
    try:
        gas, source = await cancel_gas(venue, request)
    except VenueAuthError:
        raise
    except VenueError as exc:
        # A plain transfer's intrinsic gas: enough on Ethereum, where the withdrawal may be mined
        # in the next block (12 s, under a cycle); a node that needs more (Arbitrum's L1 data)
        # refuses it for its gas and the next cycle signs it again with its estimate (regas).
        gas, source = CANCEL_GAS, f"{CANCEL_GAS} (eth_estimateGas failed: {exc})"
        await g._alert(
            setup.name, "warning", "reconcile",
            f"{cid}: cancel of {last['hash']} ({why}) signed at {CANCEL_GAS} gas: eth_estimateGas failed: {exc}",
            dedup=f"cancel_gas:{cid}", client_order_id=cid,
        )  # fmt: skip
    return await _replace(g, setup, st, cid, row, last, request, gas, "cancel", why, base, tip, gas_from=source)


async def capped_out(
    g: Guardian, setup: OnchainAccountSetup, cid: str, last: dict[str, Any], why: str, purpose: str
) -> bool:
    """True (and a critical alert, once per alert period) when no replacement of ``last`` can be
    priced under the venue's ``max_fee_per_gas``: the least fee cap above it (:func:`replacement_fees`
    with no market) is already beyond (the tip's least is never above the fee cap's)."""
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    cap = venue.max_fee_per_gas
    paid_max, paid_tip = int(last["max_fee_per_gas"]), int(last["max_priority_fee_per_gas"])
    least_max, _ = replacement_fees(paid_max, paid_tip, None, 0, venue.fee_bump)
    if cap is None or cap >= least_max:
        return False
    text = (
        f"{last['call']} (nonce {last['nonce']}, {last['hash']}): {why}; its {purpose.replace('_', ' ')} needs "
        f"maxFeePerGas {_gwei(least_max)} at least, above max_fee_per_gas {_gwei(cap)}: not replaced"
    )
    await g._alert(setup.name, "critical", "action", text, dedup=f"fee_cap_reached:{cid}")
    return True


async def cancel_gas(venue: OnchainVenue, request: TxRequest) -> tuple[int, str]:
    """The gas limit of the cancel ``request`` (0 to its sender) and where it came from: the node's
    ``eth_estimateGas`` of it times ``gas_multiplier``, at least :data:`CANCEL_GAS`.  A failed
    estimate is raised (a :class:`~levguard.errors.VenueError`): nothing is signed on a guess.

    Notes
    -----
    21,000 is Ethereum's intrinsic gas of a transaction (yellow paper, ``G_transaction``), all a
    0-value transfer to an account without code costs there.  Arbitrum's ``eth_estimateGas`` adds
    the L1 data's cost in L2 gas ("Gas and fees", Arbitrum docs: the gas limit covers the L1
    component), so a plain transfer there needs more than 21,000 and is refused at 21,000.
    """
    estimated = await venue.estimate(request, request.to)
    gas = max(estimated, CANCEL_GAS)
    return gas, _gas_from(venue, estimated) + ("" if gas == estimated else f", raised to {CANCEL_GAS}")


def _gas_from(venue: OnchainVenue, gas: int) -> str:
    # "eth_estimateGas <the node's answer> x <multiplier> = <gas>": estimate() returns
    # int(answer x m); for m >= 1 the answer is the one integer n with int(n x m) == gas, ceil(gas / m).
    m = float(getattr(venue, "gas_multiplier", 1.0))
    answer = math.ceil(gas / m) if m >= 1.0 else None
    if answer is None or int(answer * m) != gas:
        return f"eth_estimateGas x {m} = {gas}"
    return f"eth_estimateGas {answer}" + ("" if m == 1.0 else f" x {m} = {gas}")


async def regas(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    cid: str,
    row: dict[str, Any],
    vs: list[dict[str, Any]],
    refused: str,
) -> dict[str, Any] | None:
    """A new version of ``cid``'s newest version (refused by the node for its gas: ``refused``,
    :func:`gas_refused`), at the same nonce, with the same payload (a cancel stays a cancel), its
    gas estimated again and fees at least the refused version's (raised to the market's: twice the
    base fee plus the priority fee, under ``max_fee_per_gas``); journaled before it is broadcast.
    None, nothing signed, when :func:`signing_stop` says so, the estimate fails (again next cycle)
    or is not above the refused gas (a critical alert: the node contradicts itself)."""
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    last = vs[-1]
    why = f"{last['hash']} refused by the node for its gas {last['gas']} ({refused})"
    stop = signing_stop(g, setup, st)
    if stop:
        await not_replaced(g, setup, cid, row, f"new gas due: {why}; not signed ({stop})", stop, "reconcile")
        return None
    regassed = sum(1 for v in vs if str(v.get("purpose", "")).endswith("regas"))
    cap = venue.max_fee_per_gas
    if regassed >= MAX_REGAS or (cap is not None and int(last["max_fee_per_gas"]) > cap):
        limit = f"{regassed} versions signed again for their gas" if regassed >= MAX_REGAS else (
            f"its fee cap {_gwei(int(last['max_fee_per_gas']))} is above max_fee_per_gas {_gwei(cap or 0)}"
        )  # fmt: skip
        await g._alert(
            setup.name, "critical", "reconcile", f"{cid}: {why}; {limit}: not signed again (check the node and the "
            "nonce by hand)", dedup=f"regas:{cid}", client_order_id=cid,
        )  # fmt: skip
        return None
    cancelling = is_cancel(last)
    request = _request(last, cancel=cancelling)
    try:
        if cancelling:
            gas, source = await cancel_gas(venue, request)
        else:
            estimated = await venue.estimate(request, str(last["from"]))
            gas, source = estimated, _gas_from(venue, estimated)
    except VenueAuthError:
        raise
    except VenueError as exc:
        await g._alert(
            setup.name, "warning", "reconcile", f"{cid}: {why}; not signed again this cycle: eth_estimateGas failed: "
            f"{exc}; asked again next cycle", dedup=f"regas:{cid}", client_order_id=cid,
        )  # fmt: skip
        return None
    if gas <= int(last["gas"]):
        await g._alert(
            setup.name, "critical", "reconcile",
            f"{cid}: {why}; the node estimates {gas} ({source}), not above it: not signed again",
            dedup=f"regas:{cid}", client_order_id=cid,
        )  # fmt: skip
        return None
    base, tip = await venue.fees()
    paid_max, paid_tip = int(last["max_fee_per_gas"]), int(last["max_priority_fee_per_gas"])
    new_tip = max(paid_tip, tip)
    max_fee = max(paid_max, new_tip if base is None else 2 * base + new_tip)
    if cap is not None:  # never above the cap, never below the refused version (signed under it)
        max_fee, new_tip = max(min(max_fee, cap), paid_max), max(min(new_tip, cap), paid_tip)
    if base is None:
        new_tip = max_fee
    purpose = "cancel_regas" if cancelling else "regas"
    return await _sign_journal_send(
        g, setup, st, cid, row, last, request, gas, purpose, f"{why}; {source}", max_fee, new_tip, base is None,
        source,
    )  # fmt: skip


def _request(tx: dict[str, Any], *, cancel: bool) -> TxRequest:
    # The payload of a journaled transaction, or the cancel of its nonce (0 to its sender).
    if cancel:
        sender = str(tx["from"])
        return TxRequest("cancel", str(tx["symbol"]), 0, sender, "0x", f"cancel of nonce {tx['nonce']} ({sender})")
    return TxRequest(
        str(tx["kind"]), str(tx["symbol"]), int(tx["amount"]), str(tx["to"]), str(tx["data"]), str(tx["call"]),
        int(tx.get("value", 0)),
    )  # fmt: skip


async def _replace(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    cid: str,
    row: dict[str, Any],
    last: dict[str, Any],
    request: TxRequest,
    gas: int,
    purpose: str,
    why: str,
    base: int | None,
    tip: int,
    *,
    gas_from: str = "",
) -> dict[str, Any] | None:
    # Price (capped), sign, journal (fenced), broadcast one replacement of ``last``; nothing when
    # signing_stop says so (checked by the callers; again here, the last moment before signing).
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    stop = signing_stop(g, setup, st)
    if stop:
        text = f"{purpose.replace('_', ' ')} of {last['hash']}: {why}; not signed ({stop})"
        await not_replaced(g, setup, cid, row, text, stop)
        return None
    nonce = int(last["nonce"])
    paid_max, paid_tip = int(last["max_fee_per_gas"]), int(last["max_priority_fee_per_gas"])
    max_fee, new_tip = replacement_fees(paid_max, paid_tip, base, tip, venue.fee_bump)
    cap = venue.max_fee_per_gas
    what = f"{last['call']} (nonce {nonce}, {last['hash']})"
    if cap is not None and max_fee > cap:
        least_max, least_tip = replacement_fees(paid_max, paid_tip, None if base is None else 0, 0, venue.fee_bump)
        text = (
            f"{what}: {why}; its {purpose.replace('_', ' ')} needs maxFeePerGas {_gwei(max_fee)}, above "
            f"max_fee_per_gas {_gwei(cap)}"
        )
        if cap < least_max or (base is not None and cap < least_tip):
            await g._alert(setup.name, "critical", "action", f"{text}: not replaced", dedup=f"fee_cap_reached:{cid}")
            return None
        max_fee, new_tip = cap, min(new_tip, cap) if base is not None else cap
        await g._alert(setup.name, "critical", "action", f"{text}: replaced at the cap", dedup=f"fee_cap:{cid}")
    return await _sign_journal_send(
        g, setup, st, cid, row, last, request, gas, purpose, why, max_fee, new_tip, base is None, gas_from
    )


async def _sign_journal_send(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    cid: str,
    row: dict[str, Any],
    last: dict[str, Any],
    request: TxRequest,
    gas: int,
    purpose: str,
    why: str,
    max_fee: int,
    new_tip: int,
    legacy: bool,
    gas_from: str,
) -> dict[str, Any] | None:
    # Sign the version of ``last``'s nonce, journal it (fenced by the lease), then broadcast it.
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    what = f"{last['call']} (nonce {last['nonce']}, {last['hash']})"
    signed: SignedTx = await venue.sign(request, int(last["nonce"]), gas, max_fee, new_tip, legacy=legacy)
    entry = {**signed.journal(), "purpose": purpose, "replaces": last["hash"]}
    if gas_from:
        entry["gas_from"] = gas_from
    decision = {"client_order_id": cid, "tx": entry, "purpose": purpose}
    try:
        g.store.mark_result(
            cid, "open", 0.0, None, None, g.clock(),
            audit=(REPLACEMENT_EVENT, {"order": _plain(row)}, decision, [why]),
            lease=(g.owner, g.instance, st.epoch),
        )  # fmt: skip
    except LeaseLost as exc:
        await inflight.lease_lost(g, setup, st, f"replacement of {cid} not journaled: {exc}")
        return None
    row.setdefault("replacements", []).append(entry)
    row["status"], row["pending_cycles"] = "open", 0
    word = {
        "cancel": "cancelled", "cancel_speed_up": "cancel sped up", "cancel_regas": "cancel signed again with more gas",
        "regas": "signed again with more gas",
    }.get(purpose, "sped up")  # fmt: skip
    await g._alert(
        setup.name, "warning", "action",
        f"{what} {word}: {why}; now {signed.hash} at maxFeePerGas {_gwei(max_fee)}, tip {_gwei(new_tip)}, gas {gas}",
        client_order_id=cid, hash=signed.hash, replaces=last["hash"],
    )  # fmt: skip
    try:
        await venue.broadcast(signed.raw, signed.hash)
    except VenueError as exc:  # journaled: the next reconciliation broadcasts it again (or regas)
        await g._alert(setup.name, "warning", "reconcile", f"{signed.hash} not sent: {exc}", dedup=cid)
    return entry


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    # An in-flight row for the audit log, without the signed transactions (they are journaled).
    return {k: v for k, v in row.items() if k not in ("tx", "replacements", "stale_audited")}


def _gwei(wei: int | None) -> str:
    return "none" if wei is None else f"{wei / 1e9:g} gwei"
