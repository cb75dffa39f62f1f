"""The on-chain guardian's unwind of a looped position: withdraw collateral, sell it, repay.

A looped position holds collateral X bought with borrowed Y; the wallet that would repay Y is
often empty.  ``prefer: unwind`` protects it from inside: each **round** withdraws some X
(Aave ``Pool.withdraw``, Morpho ``withdrawCollateral``), sells it for Y through the venue's
:class:`~levguard.venues.onchain_swap.Swapper` and repays Y.  Before that, Y the paying wallet
already holds is repaid first (a plain repayment, up to what reaches the target).

**Sizing** is levguard's exact engines' (the injected :data:`Unwinder`, by default
:func:`levguard.defi.onchain.unwind_plan`), on a fresh read before every withdrawal: a round
withdraws the least X whose sale (at the oracle price less ``rules.max_slippage``, the
``min_out`` the swap must deliver) repays enough to reach the target, but never more than keeps
the health factor *after the withdrawal* at or above the floor ``min(rules.unwind_min_hf,
(1 + HF) / 2)`` (the withdrawal is the only moment the health factor falls: the contracts refuse
one leaving it below 1, the floor keeps a margin for the blocks in between); when the floor binds,
the target takes several rounds (at most ``rules.unwind_rounds`` per action).

**Transactions**, one after the other, each signed, journaled (its order row and audit row, which
carries the step's id, the leg and the amounts), sent and waited for as every on-chain
transaction (:mod:`levguard.live.onchain_tx`): ``withdraw``; ``approve`` of exactly the amount
to the swapper when short; ``swap`` with ``min_out``; ``approve`` to the protocol when short;
``repay`` of what the wallet now holds of Y (at most the debt).  The swapper's quote is checked
against ``min_out`` *before* the withdrawal: a swapper quoting less stops the unwind with nothing
withdrawn.  Before the sale ``min_out`` is priced again at the oracle of that read less the
slippage (:meth:`UnwindPlan.sale_min_out`; a collateral withdrawn in full from Aave left the read:
read again with its reserve kept, ``AaveOracle.getAssetPrice`` at that block; no price: no sale,
never the withdrawal's journaled ``min_out``) and the quote checked again.  A swapper quoting less
now (the price moved) or with no route (the quote reverts) has the collateral **supplied back**
(``approve`` to the protocol when short, Aave ``Pool.supply``, Morpho ``supplyCollateral``) and the
step closed with a critical alert saying so: withdrawn collateral left in the wallet protects
nothing.  Not when the supply would not count (:attr:`UnwindPlan.supply_counts`: Aave enables no
LTV-0 or isolated reserve, nor one disabled holding a balance, by a supply), nor when the node
does not answer the quote or the oracle does not price the sale: then the step stays open (the
sale again next cycle), with a critical alert once per step.  A leg not confirmed, or the chain
unavailable between legs, stops the action (alerted).

**Resuming** (:func:`open_step`): after a crash, a revert or an unconfirmed leg, the journal says
where the step stands: the newest unwind leg (approvals aside) is a confirmed withdrawal -> the
sale is next (of the amount withdrawn, at most what the wallet holds); a confirmed sale -> the
repayment; a rejected or expired sale or repayment -> it again (a sale priced again); a rejected
or expired supply back -> the sale again (then the supply); a confirmed one not followed by the
step's close (the process died in between) -> the close and its alert.  The next cycle finishes the step
whatever the position's level (collateral left in the wallet protects nothing), without any leg
sent twice: the transactions in flight are settled first by hash and nonce, and an amount already
withdrawn is never withdrawn again.  The withdrawal's journal row carries the collateral's token
address and decimals: a whole balance withdrawn leaves the position, and the reads after it no
longer carry the token that the sale needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from levguard.core.records import JsonRecord, empty_mapping
from levguard.core.validate import finite_number, flag, integer_in
from levguard.errors import InputError, VenueAuthError, VenueError, VenueRetryableError
from levguard.live.onchain_tx import _inputs, _send_one, _skipped, _transactions
from levguard.live.setup import AccountState, PositionState
from levguard.venues.onchain import OnchainVenue, TxRequest
from levguard.venues.onchain_read import AaveRead, LendingRead

if TYPE_CHECKING:
    from levguard.live.guardian import Guardian
    from levguard.live.onchain import LendingAssessment, OnchainAccountSetup

__all__ = ["Pending", "UnwindParams", "UnwindPlan", "UnwindRound", "Unwinder", "act", "open_step", "resume"]

_CLOSED_EVENT = "onchain_unwind_closed"  # an open step given up (its collateral left the wallet)
_LEGS_PER_ROUND = 3  # withdraw, swap, repay (approvals aside)
_MAX_ROUNDS = 1_000  # UnwindParams.rounds at most (the guardian's unwind_rounds: 20)


@dataclass(frozen=True, slots=True)
class UnwindParams(JsonRecord):
    """What an unwind is sized for (from :class:`~levguard.live.onchain.HealthRules`).

    Attributes
    ----------
    target_hf : float
        The health factor the unwind restores (> 0).
    floor_hf : float
        The least health factor a withdrawal may leave (> 1; the effective floor is
        ``min(floor_hf, (1 + HF) / 2)``, always between 1 and the health factor before it).
    max_slippage : float
        The sale must deliver at least the oracle value less this fraction (in [0, 1)).
    rounds : int
        Rounds planned at most (an integer in [1, 1000]).
    use_wallet : bool
        Repay first from the debt token the paying wallet holds.

    Raises
    ------
    InputError
        A field out of its range or of the wrong type, named.
    """

    target_hf: float
    floor_hf: float
    max_slippage: float
    rounds: int
    use_wallet: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        target = finite_number(self.target_hf, "target_hf")
        if target <= 0.0:
            raise InputError(f"target_hf must be > 0, was {target!r}")
        set_(self, "target_hf", target)
        floor = finite_number(self.floor_hf, "floor_hf")
        if floor <= 1.0:
            raise InputError(f"floor_hf must be > 1 (the contracts refuse a withdrawal below 1), was {floor!r}")
        set_(self, "floor_hf", floor)
        slip = finite_number(self.max_slippage, "max_slippage")
        if not 0.0 <= slip < 1.0:
            raise InputError(f"max_slippage must be a fraction in [0, 1), was {slip!r}")
        set_(self, "max_slippage", slip)
        set_(self, "rounds", integer_in(self.rounds, "rounds", 1, _MAX_ROUNDS + 1))
        set_(self, "use_wallet", flag(self.use_wallet, "use_wallet"))


@dataclass(frozen=True, slots=True)
class UnwindRound(JsonRecord):
    """One withdraw-sell-repay round as planned (contract units, health factors in wad).

    Attributes
    ----------
    round : int
        1 for the first.
    withdraw : int
        Collateral withdrawn (base units).
    min_out : int
        The least the sale delivers of the debt token: the oracle value less the slippage.
    repay : int
        What is repaid (``min_out``, at most the debt).
    health_factor_before, health_factor_after_withdraw, health_factor_after : int
        Exact engine, wad.
    """

    round: int
    withdraw: int
    min_out: int
    repay: int
    health_factor_before: int
    health_factor_after_withdraw: int
    health_factor_after: int


@dataclass(frozen=True, slots=True)
class UnwindPlan(JsonRecord):
    """The unwind of a position as the exact engines size it (what :data:`Unwinder` returns).

    Attributes
    ----------
    collateral, debt : str
        The collateral sold (X) and the debt repaid (Y); "" when there is none.
    collateral_decimals, debt_decimals : int
    out_num, out_den : int
        ``min_out(x) = x * out_num // out_den``: debt base units per collateral base unit at the
        oracle price less the slippage.
    repay_first : int
        Debt repaid first from the paying wallet's own holding of Y.
    repay_cap : int
        The most one repayment of ``debt`` by amount can take (the debt; on Morpho the largest
        amount whose shares do not exceed the position's).
    health_factor : int
        Now (wad).
    floor_hf : int
        The effective floor of the first withdrawal (wad).
    rounds : tuple of UnwindRound
    health_factor_after : int
        After ``repay_first`` and every round (wad).
    reaches_target : bool
    reason : str
        Why the plan stops short, or why there is none.
    repay_caps : mapping of str to int
        ``repay_cap`` of every debt the protocol lets repay now (Aave: not paused), by symbol, also
        when the plan is empty: a step's repayment is sized by its own debt's.
    sale_rates : mapping of str to (int, int)
        ``"X/Y" -> (num, den)`` for every pair of tokens the read prices (Aave: the reserves in
        use; Morpho: the market's collateral and loan), the oracle rate less the slippage as
        ``out_num / out_den``, also when the plan is empty: a step's sale left open is priced at
        the oracle of its resumption (:meth:`sale_min_out`).
    supply_counts : tuple of str
        The collaterals a supply would count (Aave: enabled, or enabled by a first supply, of a
        balance 0, not LTV-0 or isolated; Morpho: the market's): where a refused sale's may go back.
    """

    collateral: str
    debt: str
    collateral_decimals: int
    debt_decimals: int
    out_num: int
    out_den: int
    repay_first: int
    repay_cap: int
    health_factor: int
    floor_hf: int
    rounds: tuple[UnwindRound, ...]
    health_factor_after: int
    reaches_target: bool
    reason: str = ""
    repay_caps: Mapping[str, int] = field(default_factory=empty_mapping)
    sale_rates: Mapping[str, tuple[int, int]] = field(default_factory=empty_mapping)
    supply_counts: tuple[str, ...] = ()

    def min_out(self, amount: int) -> int:
        """The least the sale of ``amount`` collateral base units must deliver (debt base units)."""
        return _out(amount, self.out_num, self.out_den)

    def sale_min_out(self, sell: str, buy: str, amount: int) -> int | None:
        """The least the sale of ``amount`` base units of ``sell`` for ``buy`` must deliver at the
        read's oracle less the slippage, or None when the read does not price the pair (a
        collateral withdrawn in full leaves an Aave read)."""
        rate = self.sale_rates.get(f"{sell}/{buy}")
        return None if rate is None else _out(amount, int(rate[0]), int(rate[1]))


def _out(amount: int, num: int, den: int) -> int:
    # min_out(x) = x * num // den (UnwindPlan.out_num / out_den); 0 without a rate.
    return amount * num // den if den else 0


Unwinder = Callable[[LendingRead, UnwindParams], UnwindPlan]
"""``unwind(read, params) -> UnwindPlan``: the exact engines' sizing of an unwind (injected by the
composition root: :func:`levguard.defi.onchain.unwind_plan`)."""


@dataclass(frozen=True, slots=True)
class Pending(JsonRecord):
    """The next leg of an unwind step left open (:func:`open_step`).

    Attributes
    ----------
    leg : {"swap", "repay", "supplied"}
        "supplied": the collateral was supplied back (confirmed) but the step not yet closed.
    collateral, debt : str
    withdrawn, min_out : int
        The amount withdrawn in the step and the least its sale must deliver.
    step : str
        The step's id.
    asset : str
        The collateral's token address ("" in a journal written before it was recorded): a whole
        balance withdrawn leaves the position, and the reads after it no longer carry the token.
    decimals : int or None
        The collateral's decimals (None: from the read).
    """

    leg: Literal["swap", "repay", "supplied"]
    collateral: str
    debt: str
    withdrawn: int
    min_out: int
    step: str
    asset: str = ""
    decimals: int | None = None

    def on(self, read: LendingRead) -> tuple[LendingRead, int]:
        """``read`` carrying the collateral's token (when withdrawn in full it left the
        position), and the collateral's decimals."""
        if isinstance(read, AaveRead) and self.collateral not in read.assets and self.asset:
            read = replace(read, assets={**read.assets, self.collateral: self.asset})
        return read, (_decimals(read, self.collateral) if self.decimals is None else self.decimals)


def params(setup: OnchainAccountSetup, target_hf: float) -> UnwindParams:
    """The unwind's parameters of ``setup`` for ``target_hf``."""
    r = setup.rules
    return UnwindParams(target_hf, r.unwind_min_hf, r.max_slippage, r.unwind_rounds)


def open_step(g: Guardian, setup: OnchainAccountSetup) -> Pending | None:
    """The open unwind step of the account, from its journal (module docstring), or None."""
    rows = g.store.audit_log(account=setup.name, event="deleverage", limit=4 * _LEGS_PER_ROUND)
    closed = g.store.audit_log(account=setup.name, event=_CLOSED_EVENT, limit=1)
    for row in rows:
        d = row.get("decision") or {}
        u = d.get("unwind")
        if not isinstance(u, dict):
            return None  # the newest transaction was no unwind's
        if u.get("leg") == "approve":
            continue
        if closed and int(closed[0]["id"]) > int(row["id"]):
            return None
        order = g.store.order(str(d.get("client_order_id")))
        status = order["status"] if order is not None else "expired"
        failed = status in ("rejected", "expired")
        step = Pending(
            "swap", str(u["collateral"]), str(u["debt"]), int(u["withdrawn"]), int(u["min_out"]), u["step"],
            str(u.get("asset") or ""), None if u.get("decimals") is None else int(u["decimals"]),
        )  # fmt: skip
        if u["leg"] == "withdraw":
            return step if status == "closed" else None
        if u["leg"] == "swap":
            return replace(step, leg="repay") if status == "closed" else step if failed else None
        if u["leg"] == "repay" and failed and u.get("after_swap"):
            return replace(step, leg="repay")
        if u["leg"] == "supply":  # the collateral put back (_put_back); not confirmed: the sale again
            return step if failed else replace(step, leg="supplied") if status == "closed" else None
        return None
    return None


class _Step:
    """One action's legs: sent one after the other, each journaled with the step's id."""

    def __init__(
        self,
        g: Guardian,
        setup: OnchainAccountSetup,
        st: AccountState,
        view: dict[str, Any],
        decision: dict[str, Any],
        reasons: list[str],
        step: str,
    ) -> None:
        self.g, self.setup, self.st, self.view, self.reasons, self.step = g, setup, st, view, reasons, step
        self.decision = decision
        self.outcomes: list[dict[str, Any]] = decision.setdefault("outcomes", [])
        self.withdrawn = 0  # collateral withdrawn by this action's confirmed legs
        self.supplied = 0  # and supplied back
        self.repaid: dict[str, int] = {}  # debt repaid by its confirmed legs, by token
        self.decimals: dict[str, int] = {}  # of the tokens sent (a read may no longer carry one)
        self.prices: dict[str, float] = {}  # value_unit per whole token, at the action's assessment
        venue = setup.venue
        assert isinstance(venue, OnchainVenue)
        self.venue = venue

    async def send(self, request: TxRequest, decimals: int, leg: dict[str, Any]) -> bool:
        # One leg (with its approvals sent before it by the caller); True when confirmed.
        slim = {k: v for k, v in self.decision.items() if k not in ("outcomes", "transactions")}
        info = {**leg, "step": self.step, "leg": request.kind, "amount": str(request.amount)}
        out = await _send_one(
            self.g, self.setup, self.st, self.view, {**slim, "unwind": info}, request, decimals, self.reasons
        )
        self.outcomes.append(out)
        self.decimals[request.symbol] = decimals
        ok = out.get("status") == "closed"
        if ok and request.kind == "withdraw":
            self.withdrawn += request.amount
        if ok and request.kind == "supply":
            self.supplied += request.amount
        if ok and request.kind == "repay":
            self.repaid[request.symbol] = self.repaid.get(request.symbol, 0) + request.amount
        return ok

    async def pay(
        self, read: LendingRead, symbol: str, amount: int, spender: str, decimals: int, leg: dict[str, Any]
    ) -> bool:
        # Approve ``spender`` for exactly ``amount`` when short (0 first if not zero: USDT).
        _, allowance = await self.venue.holdings(read, symbol, spender)
        if allowance >= amount:
            return True
        for value in ([0] if allowance > 0 else []) + [amount]:
            if not await self.send(self.venue.approve(read, symbol, value, spender), decimals, leg):
                return False
        return True


async def act(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    ps: PositionState,
    read: LendingRead,
    a: LendingAssessment,
    view: dict[str, Any],
    now: int,
) -> dict[str, Any] | None:
    """Unwind at the acting level (module docstring): the decision, or None when no unwind is
    possible (no loop to unwind, nothing withdrawable): the caller repays or supplies instead."""
    assert setup.unwind is not None
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    plan = setup.unwind(read, params(setup, a.target_hf))
    if not plan.repay_first and not plan.rounds:
        g._audit(setup.name, "onchain_unwind_none", _inputs(view), {"plan": plan.to_dict()}, [plan.reason])
        return None
    x, y = plan.collateral, plan.debt
    # The transactions of the first leg group (the approvals the allowances now call for).
    requests: list[TxRequest] = []
    allowance = int(read.allowances.get(y, 0))
    if plan.repay_first:
        requests += [venue.approve(read, y, plan.repay_first)] if allowance < plan.repay_first else []
        requests.append(venue.repay(read, y, plan.repay_first))
    first = plan.rounds[0] if plan.rounds else None
    if first is not None:
        assert venue.swapper is not None
        try:
            _, to_swapper = await venue.holdings(read, x, venue.swapper.spender)
        except VenueAuthError:
            raise
        except VenueError:
            to_swapper = 0  # shown as needing an approval; the legs look again
        requests.append(venue.withdraw(read, x, first.withdraw))
        requests += (
            [venue.approve(read, x, first.withdraw, venue.swapper.spender)] if to_swapper < first.withdraw else []
        )
        requests.append(venue.swap(read, x, y, first.withdraw, first.min_out))
        requests += [venue.approve(read, y, first.repay)] if allowance < plan.repay_first + first.repay else []
        requests.append(venue.repay(read, y, first.repay))
    withdrawn = sum(r.withdraw for r in plan.rounds)
    only_repay = first is None  # the wallet's own debt token is enough: a plain repayment
    decision: dict[str, Any] = {
        "side": "repay" if only_repay else "unwind",
        "symbol": y if only_repay else x,
        "qty": (plan.repay_first / 10**plan.debt_decimals) if only_repay else withdrawn / 10**plan.collateral_decimals,
        "amount": str(plan.repay_first if only_repay else withdrawn),
        "debt_symbol": y,
        "repaid": 0.0,  # until a repayment is confirmed (a dry run, a skip: 0); the plan's in value_unit:
        "repaid_by_token": {},
        "repaid_planned": _price(a, y)
        * (plan.repay_first + sum(r.repay for r in plan.rounds))
        / 10**plan.debt_decimals,
        "value_unit": a.value_unit,
        "health_factor": a.health_factor,
        "target_hf": a.target_hf,
        "health_factor_after": _hf(plan.health_factor_after),
        "plan": plan.to_dict(),
        "transactions": _transactions(requests),
    }
    reasons = [f"health factor {a.health_factor:.4f}", f"target {a.target_hf:g}"]
    reasons += [f"{len(plan.rounds)} round(s) of withdraw {x}, sell for {y}, repay"] if plan.rounds else []
    reasons += [] if plan.reaches_target else [f"short of the target: {plan.reason}"]
    if first is not None and not await _quote_ok(g, setup, read, x, y, first.withdraw, first.min_out, decision):
        return decision
    if await _skipped(g, setup, st, ps, view, decision, reasons, now):
        return decision
    if not await _owner(g, setup, read, view, decision, reasons):
        return decision
    ps.last_order_ns = now
    step = _Step(g, setup, st, view, decision, reasons, f"unwind-{now}")
    step.prices = {f.symbol: f.price for f in a.assets}
    return await _run(step, read, a.target_hf, None, more=True)


def _price(a: LendingAssessment, symbol: str) -> float:
    # The assessment's price of ``symbol`` (value_unit per whole token); NaN when it carries none.
    return next((f.price for f in a.assets if f.symbol == symbol), math.nan)


async def resume(
    g: Guardian,
    setup: OnchainAccountSetup,
    st: AccountState,
    ps: PositionState,
    read: LendingRead,
    a: LendingAssessment,
    view: dict[str, Any],
    now: int,
    pending: Pending,
    *,
    more: bool,
) -> dict[str, Any]:
    """Finish the open step ``pending`` (whatever the level; ``more``: go on with new rounds while
    below the target); the decision."""
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    decision: dict[str, Any] = {
        "side": "unwind",
        "symbol": pending.collateral,
        "qty": pending.withdrawn / 10 ** pending.on(read)[1],
        "amount": str(pending.withdrawn),
        "debt_symbol": pending.debt,
        "repaid": 0.0,
        "repaid_by_token": {},
        "value_unit": a.value_unit,
        "resumed": pending.to_dict(),
        "health_factor": a.health_factor,
        "target_hf": a.target_hf,
        "transactions": [{"kind": pending.leg, "call": f"resume step {pending.step}: {pending.leg} next"}],
    }
    reasons = [f"unwind step {pending.step} left open: {pending.leg} next", f"health factor {a.health_factor:.4f}"]
    if venue.swapper is None or setup.unwind is None:
        decision["skipped"] = "no_swapper"
        await g._alert(
            setup.name, "critical", "action", f"unwind step {pending.step} is open but no swapper is configured",
            dedup="unwind_open",
        )  # fmt: skip
        return decision
    # Live, at once (the step is half done); a dry run repeats its alert only after the cooldown.
    if await _skipped(g, setup, st, ps, view, decision, reasons, now, cooldown=not (g.live and setup.live)):
        return decision
    if not await _owner(g, setup, read, view, decision, reasons):
        return decision
    ps.last_order_ns = now
    step = _Step(g, setup, st, view, decision, reasons, pending.step)
    step.prices = {f.symbol: f.price for f in a.assets}
    return await _run(step, read, a.target_hf, pending, more=more)


async def _run(
    step: _Step, read: LendingRead, target_hf: float, pending: Pending | None, *, more: bool
) -> dict[str, Any]:
    # The legs until the target, the round limit, a failure or nothing left to do.
    g, setup, venue, decision = step.g, step.setup, step.venue, step.decision
    assert setup.unwind is not None
    assert setup.assess is not None
    assert venue.swapper is not None
    p = params(setup, target_hf)
    rounds = 0
    if pending is not None:
        # The collateral's decimals from the journal: withdrawn in full it left the reads, and this
        # run may send none of it (the repay leg, a quote refused, the token gone).
        step.decimals.setdefault(pending.collateral, pending.on(read)[1])
    for _ in range(_LEGS_PER_ROUND * (setup.rules.unwind_rounds + 1) + 1):
        try:
            pending, rounds, go_on = await _next(step, read, p, pending, rounds, more=more)
        except VenueAuthError:
            raise
        except VenueError as exc:
            await _unavailable(step, exc)
            break
        if not go_on and not step.supplied:
            break
        try:  # a supply back changed the position after the last read: read again
            read = await g._call(setup, "read", venue.read)
        except VenueAuthError:
            raise
        except VenueError as exc:
            if go_on:
                await _unavailable(step, exc)
            else:  # the step closed: the figures after it are the read's before the supply back
                decision["read_after"] = f"not read after the supply back: {exc}"
            break
        if not go_on:
            break
    after = setup.assess(read, target_hf)
    last = step.outcomes[-1] if step.outcomes else {}
    decision["status"] = last.get("status", "skipped" if not step.outcomes else "closed")
    decision["rounds_done"] = rounds
    decision["health_factor_after"] = after.health_factor
    symbol = str(decision["symbol"])
    # Repaid: the confirmed repayments (none when the sale was refused), not the plan, of every debt
    # token (Aave rounds repay the largest debt: they may alternate), by token and in value_unit at
    # the assessment's prices (the read after's for a token the assessment did not carry).
    by_token = {sym: paid / 10 ** step.decimals[sym] for sym, paid in step.repaid.items() if paid}
    decision["repaid_by_token"] = by_token
    decision["repaid"] = sum(q * step.prices.get(sym, _price(after, sym)) for sym, q in by_token.items())
    if decision["side"] == "unwind":
        dec = step.decimals.get(symbol)
        # Net of a supply back: the collateral this action withdrew and did not put back.
        net = max(step.withdrawn - step.supplied, 0)
        decision["filled"] = net / 10 ** (_decimals(read, symbol) if dec is None else dec)
    else:  # a plain repayment from the wallet: filled once its repay is confirmed
        done = any(o.get("kind") == "repay" and o.get("status") == "closed" for o in step.outcomes)
        decision["filled"] = float(decision["qty"]) if done else 0.0
    return decision


async def _next(
    step: _Step, read: LendingRead, p: UnwindParams, pending: Pending | None, rounds: int, *, more: bool
) -> tuple[Pending | None, int, bool]:
    # The next leg group (module docstring): ``(pending, rounds done, go on)``; every amount from
    # ``read`` (fresh: read again after each group).
    g, setup, venue, decision = step.g, step.setup, step.venue, step.decision
    assert setup.unwind is not None
    assert venue.swapper is not None
    stop = (pending, rounds, False)
    if pending is None:
        if not more or rounds >= setup.rules.unwind_rounds:
            return stop
        plan = setup.unwind(read, p)
        if _hf(plan.health_factor) >= p.target_hf:
            return stop
        leg: dict[str, Any] = {"collateral": plan.collateral, "debt": plan.debt, "withdrawn": 0, "min_out": 0}
        if plan.repay_first:  # the debt token the wallet holds, first
            y, amount, dec = plan.debt, plan.repay_first, plan.debt_decimals
            ok = await step.pay(read, y, amount, read.spender, dec, leg)
            return (None, rounds, ok and await step.send(venue.repay(read, y, amount), dec, leg))
        if not plan.rounds:
            decision.setdefault("stopped", plan.reason)
            return stop
        r = plan.rounds[0]
        x, y = plan.collateral, plan.debt
        if not await _quote_ok(g, setup, read, x, y, r.withdraw, r.min_out, decision):
            return stop
        token, dec = read.assets.get(x, ""), plan.collateral_decimals
        leg.update(withdrawn=r.withdraw, min_out=r.min_out, round=rounds + 1, asset=token, decimals=dec)
        if not await step.send(venue.withdraw(read, x, r.withdraw), dec, leg):
            return stop
        return Pending("swap", x, y, r.withdraw, r.min_out, step.step, token, dec), rounds, True
    leg = {k: v for k, v in pending.to_dict().items() if k != "leg"}
    if pending.leg == "supplied":  # supplied back, confirmed, before the step was closed
        what = f"{pending.withdrawn / 10 ** step.decimals[pending.collateral]:g} {pending.collateral}"
        await _close(step, pending, f"the {what} withdrawn by unwind step {pending.step} were supplied back")
        return None, rounds, False
    if pending.leg == "swap":
        x, y = pending.collateral, pending.debt
        if isinstance(read, AaveRead) and pending.asset and all(r.symbol != x for r in read.reserves):
            # Withdrawn in full it left the read: read again with its reserve (price, configuration).
            asset = pending.asset
            read = await g._call(setup, "read", lambda: venue.read(keep=(asset,)))
        read, dec = pending.on(read)
        held, _ = await venue.holdings(read, x, venue.swapper.spender)
        amount = min(pending.withdrawn, held)
        if amount <= 0:
            await _close(step, pending, f"the {x} withdrawn is no longer in the paying wallet")
            return None, rounds, False
        # At the oracle of now (the journal's is the withdrawal's); none: no sale.
        plan = setup.unwind(read, p)
        min_out = plan.sale_min_out(x, y, amount)
        what = f"{amount / 10**dec:g} {x} withdrawn by unwind step {pending.step}"
        if min_out is None:
            decision.update(skipped="no_price", refused=f"the oracle at block {read.block_number} prices no {x} -> {y}")
            await _idle(step, pending, what, "the sale cannot be priced")
            return stop
        leg["sale_min_out"] = str(min_out)
        decision.setdefault("min_out", str(min_out))  # of the action's first sale
        quoted = await _quote_ok(
            g, setup, read, x, y, amount, min_out, decision, withdrawn=what, key=f"quote_withdrawn:{pending.step}"
        )
        if quoted is None:  # the node did not answer (alerted): the sale again next cycle
            decision["stopped"] = f"{decision['refused']}; the {what} stay in the wallet until the next cycle"
            return stop
        if not quoted and x in plan.supply_counts:
            await _put_back(step, read, pending, amount, dec, leg)
            return None, rounds, False
        if not quoted:
            why = "supplied back they would not count as collateral (LTV 0, a debt ceiling, or disabled)"
            await _idle(step, pending, what, why)
            return stop
        if not await step.pay(read, x, amount, venue.swapper.spender, dec, leg):
            return stop
        if not await step.send(venue.swap(read, x, y, amount, min_out), dec, leg):
            return stop
        return replace(pending, leg="repay"), rounds, True
    y = pending.debt
    held, _ = await venue.holdings(read, y, read.spender)
    amount = min(held, setup.unwind(read, p).repay_caps.get(y, 0))  # the step's debt's own cap
    if amount <= 0:
        why = "in the paying wallet to repay with" if held <= 0 else "debt the protocol lets repay (none, or paused)"
        await _close(step, pending, f"no {y} {why}")
        return None, rounds, False
    leg["after_swap"] = True
    dec = _decimals(read, y)
    if not await step.pay(read, y, amount, read.spender, dec, leg):
        return stop
    if not await step.send(venue.repay(read, y, amount), dec, leg):
        return stop
    return None, rounds + 1, True


def _hf(wad: int) -> float:
    return math.inf if wad == 2**256 - 1 else wad / 10**18


def _decimals(read: LendingRead, symbol: str) -> int:
    # A token's decimals from the read.
    if isinstance(read, AaveRead):
        for r in read.reserves:
            if r.symbol == symbol:
                return r.decimals
        raise InputError(f"symbol must be one of the position's reserves, was {symbol!r}")
    return read.collateral_decimals if symbol == read.collateral_symbol else read.loan_decimals


async def _quote_ok(
    g: Guardian,
    setup: OnchainAccountSetup,
    read: LendingRead,
    x: str,
    y: str,
    amount: int,
    min_out: int,
    decision: dict[str, Any],
    *,
    withdrawn: str = "",
    key: str = "quote",
) -> bool | None:
    # The swapper's quote for ``amount`` must reach ``min_out`` (oracle less slippage); else stop:
    # False (below, no route), None (the node did not answer: retryable).  Before a withdrawal it
    # alerts "nothing withdrawn"; after one (``withdrawn``: what was withdrawn, in words) the caller
    # alerts what became of the collateral (decision["refused"] says why the sale is not made),
    # except a retryable failure: alerted here that the collateral sits in the wallet, under its
    # own dedup ``key`` (the one before a withdrawal is "quote": one must not swallow the other).
    venue = setup.venue
    assert isinstance(venue, OnchainVenue)
    try:
        quoted = await venue.quote(read, x, y, amount)
    except VenueAuthError:
        raise
    except VenueError as exc:
        decision.update(skipped="swap_quote", error=str(exc), refused=f"no quote for {x} -> {y}: {exc}")
        retry = isinstance(exc, VenueRetryableError)
        if not withdrawn:
            text = f"unwind: {decision['refused']}: nothing withdrawn"
            await g._alert(setup.name, "critical", "action", text, dedup=key)
        elif retry:
            text = (
                f"unwind: {decision['refused']}: the {withdrawn} sit in the paying wallet {read.payer} (withdrawn, "
                "not yet sold) and protect nothing until the sale (tried again next cycle)"
            )
            await g._alert(setup.name, "critical", "action", text, dedup=key)
        return None if retry else False
    decision["quote"] = str(quoted)
    if quoted >= min_out:
        return True
    decision["skipped"] = "swap_quote"
    decision["refused"] = (
        f"the swapper quotes {quoted} {y} units for {amount} {x} units, below the {min_out} the oracle price "
        f"less max_slippage {setup.rules.max_slippage:g} requires"
    )
    g._audit(setup.name, "onchain_skipped", {"quote": str(quoted)}, decision, ["quote below min_out"])
    if not withdrawn:
        await g._alert(
            setup.name,
            "critical",
            "action",
            f"unwind: {decision['refused']}: nothing withdrawn",
            dedup="quote",
            quote=str(quoted),
            min_out=str(min_out),
        )
    return False


async def _owner(
    g: Guardian,
    setup: OnchainAccountSetup,
    read: LendingRead,
    view: dict[str, Any],
    decision: dict[str, Any],
    reasons: list[str],
) -> bool:
    # A withdrawal is the owner's: the signing key must be the watched wallet's.
    if read.payer.lower() == read.wallet.lower():
        return True
    decision["skipped"] = "not_owner"
    g._audit(setup.name, "onchain_skipped", _inputs(view), decision, [*reasons, "the key is not the wallet's"])
    await g._alert(
        setup.name,
        "critical",
        "action",
        f"unwind needs the wallet's own key (withdrawals are the owner's); the key is {read.payer}",
        dedup="owner",
    )
    return False


async def _put_back(
    step: _Step, read: LendingRead, pending: Pending, amount: int, dec: int, leg: dict[str, Any]
) -> None:
    # The sale refused at the oracle of now: the collateral withdrawn is supplied back to the
    # position (in the wallet it protects nothing) and the step closes; a supply not confirmed
    # leaves the step open (the next cycle tries the sale, then this, again).
    g, setup, venue, x = step.g, step.setup, step.venue, pending.collateral
    what = f"{amount / 10**dec:g} {x} withdrawn by unwind step {pending.step}"
    refused = str(step.decision.get("refused", "the sale is refused"))
    ok = await step.pay(read, x, amount, read.spender, dec, leg)
    if ok and await step.send(venue.supply(read, x, amount), dec, leg):
        step.decision["supplied_back"] = str(amount)
        await _close(step, pending, f"{refused}: the {what} were supplied back to the position")
        return
    status = step.outcomes[-1].get("status") if step.outcomes else "not sent"
    step.decision["stopped"] = f"{refused}; supplying the collateral back was not confirmed ({status})"
    await g._alert(
        setup.name,
        "critical",
        "action",
        f"unwind: {refused}, and supplying the {what} back was not confirmed ({status}): until it is, they lie "
        "in the wallet and protect nothing (the next cycle tries the sale, then the supply, again)",
        dedup=f"unwind_idle:{pending.step}",
    )


async def _idle(step: _Step, pending: Pending, what: str, why: str) -> None:
    # The sale refused, the collateral not put back: the step stays open (the sale next cycle).
    refused = str(step.decision.get("refused", "the sale is refused"))
    step.decision["stopped"] = f"{refused}; {why}: the {what} stay in the wallet"
    await step.g._alert(
        step.setup.name,
        "critical",
        "action",
        f"unwind: {refused}; {why}: the {what} lie in the wallet and protect nothing (the next cycle tries "
        "the sale again)",
        dedup=f"unwind_idle:{pending.step}",
    )


async def _unavailable(step: _Step, exc: VenueError) -> None:
    # A look or a read between legs failed: the step stops where the journal says (resumed next cycle).
    step.decision["stopped"] = f"chain unavailable between legs: {exc}"
    await step.g._alert(
        step.setup.name,
        "critical",
        "action",
        f"unwind step {step.step} stopped, chain unavailable between legs: {exc} (the next cycle resumes it; "
        "collateral withdrawn meanwhile lies in the wallet)",
        dedup="between_legs",
    )


async def _close(step: _Step, pending: Pending, why: str) -> None:
    # Give up an open step (audited, so that the journal no longer resumes it) and alert.
    step.decision["stopped"] = why
    step.g._audit(step.setup.name, _CLOSED_EVENT, {"step": pending.to_dict()}, {"closed": pending.step}, [why])
    await step.g._alert(step.setup.name, "critical", "action", f"unwind step {pending.step} closed: {why}")
