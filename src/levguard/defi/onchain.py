"""levguard's exact engines on a position read from a chain: the on-chain guardian's assessor.

:func:`assess` turns an :class:`~levguard.venues.onchain_read.AaveRead` or
:class:`~levguard.venues.onchain_read.MorphoRead` (contract units, one block) into the position
records of :mod:`levguard.defi.positions` (:func:`position_of`) and returns what the guardian
decides on (:class:`levguard.live.onchain.LendingAssessment`): the health factor, each
collateral's liquidation price (the others fixed) and, per token, the least repayment or supply
that restores the target, all from :mod:`levguard.defi.analytics`, exact to the contract unit.
The composition roots (``levguard guard``) pass it to
:class:`~levguard.live.onchain.OnchainAccountSetup` as ``assess``, with the two other hooks the
live layer may not import from here:

* :class:`HfForecasts`, the ``p_hf_below_one`` hook: P(HF < 1) over the account's horizon from
  its bars, through :mod:`levguard.defi.risk` (the collateral / debt price ratio and the one
  liquidation forecaster), refitted once an hour;
* :func:`unwind_plan`, the ``unwind`` hook: the rounds of withdraw-sell-repay that bring a looped
  position to the target, sized on the exact engines.

Notes
-----
Aave v3: ``GenericLogic.calculateUserAccountData`` (aave-v3-core
``contracts/protocol/libraries/logic/GenericLogic.sol``) through
:func:`levguard.core.defi.aave.get_user_account_data`; the balances read are the tokens'
``balanceOf`` at the block (scaled balance times the index), as the contract reads them, so the
health factor equals ``Pool.getUserAccountData`` of that block to the wei.  Morpho Blue:
``wDivDown(maxBorrow, borrowed)`` on the market accrued to the block (morpho-org/sdks
``MarketUtils.getHealthFactor``; ``Morpho._isHealthy``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from levguard.core.defi.aave import AaveError, validate_hf_and_ltv
from levguard.core.defi.aave_supply import validate_automatic_use_as_collateral
from levguard.core.defi.morpho import ORACLE_PRICE_SCALE, MorphoError, Position
from levguard.core.defi.wadray import UINT256_MAX, MathRevertError
from levguard.core.risk.forecast import (
    FORECAST_MODELS,
    HOUR_NS,
    LiquidationForecaster,
    fit_forecaster,
    horizon_hours,
    required_distance,
)
from levguard.defi import _aave_analytics as _aave
from levguard.defi import _morpho_analytics as _morpho
from levguard.defi import analytics, risk
from levguard.defi._search import first_true, last_true
from levguard.defi.morpho import repay as morpho_repay
from levguard.defi.positions import AavePosition, DefiPosition, MorphoPosition
from levguard.defi.risk import _distance
from levguard.errors import InputError
from levguard.live.onchain import AssetFigures, HfProbability, LendingAssessment
from levguard.live.onchain_unwind import UnwindParams, UnwindPlan, UnwindRound
from levguard.venues.onchain_read import AaveRead, LendingRead, MorphoRead

__all__ = ["HfForecasts", "assess", "position_of", "unwind_plan"]

_WAD = 10**18
S = TypeVar("S")


def position_of(read: LendingRead) -> DefiPosition:
    """The read as levguard's position record (contract units kept as they are)."""
    if isinstance(read, AaveRead):
        return AavePosition(reserves=read.reserves, emode_category=read.emode, version=read.version, name=read.wallet)
    if isinstance(read, MorphoRead):
        return MorphoPosition(
            market=read.market,
            position=read.position,
            lltv=read.lltv,
            oracle_price=read.oracle_price,
            collateral_decimals=read.collateral_decimals,
            loan_decimals=read.loan_decimals,
            collateral_symbol=read.collateral_symbol,
            loan_symbol=read.loan_symbol,
            name=read.wallet,
            market_given=True,
        )
    raise InputError(f"read must be an AaveRead or a MorphoRead, was {type(read).__name__}")


def assess(read: LendingRead, target_hf: float) -> LendingAssessment:
    """Return levguard's health factor, liquidation prices and amounts to ``target_hf`` for ``read``.

    Parameters
    ----------
    read : AaveRead or MorphoRead
    target_hf : float
        The health factor an action restores (> 0).

    Returns
    -------
    LendingAssessment
        Values in USD (Aave's base currency) or in loan tokens (Morpho).  An Aave reserve the Pool
        refuses has no amount to the target (None, and its note says why): a paused or inactive
        one neither a repayment nor a supply, a frozen one no supply (``validateRepay``,
        ``validateSupply``).

    Raises
    ------
    InputError
        A read the engines refuse (a bad row, a target that is not a positive number).
    """
    pos = position_of(read)
    report = analytics.position_report(pos, target_hf=str(target_hf))
    repay = {t.symbol: t.amount for t in report.repay}
    repay_notes = {t.symbol: t.reason for t in report.repay if t.amount is None}
    supply = {t.symbol: t.amount for t in report.supply}
    figures: list[AssetFigures] = []
    if isinstance(pos, AavePosition):
        paused = set(read.paused) if isinstance(read, AaveRead) else set()
        frozen = set(read.frozen) if isinstance(read, AaveRead) else set()
        for r, line in zip(pos.reserves, report.assets, strict=True):
            counted = r.collateral if pos.counted(r) else 0
            lp = line.liquidation
            # The amounts the Pool refuses (ValidationLogic.validateRepay / validateSupply): none.
            to_repay = None if r.symbol in paused else repay.get(r.symbol)
            to_supply = None if r.symbol in paused | frozen else supply.get(r.symbol)
            refused = ""
            if (repay.get(r.symbol), supply.get(r.symbol)) != (to_repay, to_supply):
                refused = (
                    "paused: the Pool refuses its repay and supply (RESERVE_PAUSED or RESERVE_INACTIVE)"
                    if r.symbol in paused
                    else "frozen: the Pool refuses its supply (RESERVE_FROZEN)"
                )
            figures.append(
                AssetFigures(
                    symbol=r.symbol,
                    price=_aave.price_used(pos, r),  # 3.0 / 3.1: the e-mode price source's
                    decimals=r.decimals,
                    collateral=counted,
                    debt=r.debt,
                    liquidation_price=lp.value if lp is not None else None,
                    repay_to_target=to_repay,
                    supply_to_target=to_supply,
                    note="; ".join(x for x in (lp.reason if lp is not None else "", refused) if x),
                )
            )
    else:
        coll_line, loan_line = report.assets
        lp = coll_line.liquidation
        figures = [
            AssetFigures(
                symbol=pos.collateral_symbol,
                price=coll_line.price,
                decimals=pos.collateral_decimals,
                collateral=pos.position.collateral,
                debt=0,
                liquidation_price=lp.value if lp is not None else None,
                repay_to_target=None,
                supply_to_target=supply.get(pos.collateral_symbol),
                note=lp.reason if lp is not None else "",
            ),
            AssetFigures(
                symbol=pos.loan_symbol,
                price=loan_line.price,
                decimals=pos.loan_decimals,
                collateral=0,
                debt=int(report.exact["borrowed"]),
                liquidation_price=None,
                repay_to_target=repay.get(pos.loan_symbol),
                supply_to_target=None,
                note=repay_notes.get(pos.loan_symbol, ""),
                repay_max=_morpho_cap((pos.market, pos.position)),
            ),
        ]
    return LendingAssessment(
        health_factor_wad=report.health_factor_wad,
        target_hf=float(target_hf),
        value_unit=report.value_unit,
        collateral_value=float(report.collateral_value),
        debt_value=float(report.debt_value),
        assets=tuple(figures),
    )


# --- the unwind ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loop(Generic[S]):
    # A position the plan moves through: its state, and the exact engine's view of it.
    x: str  # the collateral sold
    y: str  # the debt repaid
    x_decimals: int
    y_decimals: int
    rate: Fraction  # debt base units per collateral base unit at the oracle
    start: S
    hf: Callable[[S], int]  # wad
    withdraw: Callable[[S, int], S]
    repay: Callable[[S, int], S]
    cap: Callable[[S], int]  # the most one repayment by amount takes
    held: Callable[[S], int]  # collateral x held
    refused: Callable[[S], str]  # after a withdrawal: why the protocol refuses it ("" accepted)


def _aave_loop(read: AaveRead, pos: AavePosition) -> _Loop[Any] | str:
    # The largest debt, and the largest collateral that can be withdrawn (not paused, not borrowed,
    # one the Pool lets leave: validateHFAndLtv's LTV clause, see unwind_plan's Notes).
    def usd(r: Any, units: int) -> float:
        return float(units * r.price / 10**r.decimals)

    def row(rows: tuple[Any, ...], symbol: str) -> Any:
        return next(r for r in rows if r.symbol == symbol)

    def change(rows: tuple[Any, ...], symbol: str, **kw: Any) -> tuple[Any, ...]:
        return tuple(replace(r, **kw) if r.symbol == symbol else r for r in rows)

    def withdrawn(rows: tuple[Any, ...], symbol: str, w: int) -> tuple[Any, ...]:
        # SupplyLogic.executeWithdraw: withdrawing the whole balance switches the collateral off.
        # The aToken's balance after the scaled burn (exact with the index, else a margin below).
        r = row(rows, symbol)
        if w == 0:
            return rows
        left = _aave.collateral_after_withdraw_bound(pos, r, w)
        return change(rows, symbol, collateral=left, **({"use_as_collateral": False} if w == r.collateral else {}))

    def repaid(rows: tuple[Any, ...], symbol: str, amount: int) -> tuple[Any, ...]:
        # The debt token's balance after the scaled burn (exact with the index, else a margin above).
        return change(rows, symbol, debt=_aave.debt_after_repay(pos, row(rows, symbol), amount))

    def refused(rows: tuple[Any, ...], symbol: str) -> str:
        # ValidationLogic.validateHFAndLtv on the rows after the withdrawal of ``symbol``.
        try:
            validate_hf_and_ltv(rows, symbol, pos.emode_category, pos.version)
        except AaveError as exc:
            return str(exc)
        return ""

    def ltv_refused(r: Any) -> str:
        # The LTV clause alone: the least withdrawal, the debt left out (the HF clause then passes).
        # The least is the least that burns a scaled unit (1 unit at an index of 2 ray or more
        # burns none and reverts): doubled from 1 up to the whole balance.
        w = 1
        while True:
            try:
                after_w = withdrawn(pos.reserves, r.symbol, w)
                break
            except AaveError as exc:
                if w >= r.collateral:
                    return str(exc)
                w = min(2 * w, r.collateral)
        rows = tuple(replace(q, debt=0) for q in after_w)
        return refused(rows, r.symbol)

    debts = [r for r in pos.reserves if r.debt > 0 and r.symbol not in read.paused]
    if not debts:
        return "no debt that can be repaid (none, or its reserve is paused)"
    y = max(debts, key=lambda r: usd(r, r.debt))
    colls = [r for r in pos.reserves if pos.counted(r) and r.debt == 0 and r.symbol not in read.paused]
    if not colls:
        return "no collateral that can be withdrawn and sold (none counted, borrowed too, or paused)"
    verdicts = {r.symbol: ltv_refused(r) for r in colls}
    allowed = [r for r in colls if not verdicts[r.symbol]]
    if not allowed:
        return f"no collateral the Pool lets withdraw: {verdicts[colls[0].symbol]}"
    x = max(allowed, key=lambda r: usd(r, r.collateral))
    if x.price <= 0 or y.price <= 0:
        return f"a price of 0 ({x.symbol} or {y.symbol}): the sale cannot be valued"

    return _Loop(
        x.symbol,
        y.symbol,
        x.decimals,
        y.decimals,
        _aave_rate(x, y),
        pos.reserves,
        lambda rows: _aave.account(pos, rows).health_factor,
        lambda rows, w: withdrawn(rows, x.symbol, w),
        lambda rows, r: repaid(rows, y.symbol, r),
        lambda rows: int(row(rows, y.symbol).debt),
        lambda rows: int(row(rows, x.symbol).collateral),
        lambda rows: refused(rows, x.symbol),
    )


def _aave_rate(x: Any, y: Any) -> Fraction:
    # Debt base units of reserve y per collateral base unit of reserve x at the AaveOracle prices.
    return Fraction(x.price * 10**y.decimals, y.price * 10**x.decimals)


def _morpho_rate(pos: MorphoPosition) -> Fraction:
    # Loan base units per collateral base unit at the market's oracle (Morpho ``price / 1e36``).
    return Fraction(pos.oracle_price, ORACLE_PRICE_SCALE)


def _sale_rates(pos: DefiPosition, slip: Fraction) -> dict[str, tuple[int, int]]:
    # UnwindPlan.sale_rates: every pair the read prices, at the oracle rate less the slippage.
    rates: dict[str, Fraction] = {}
    if isinstance(pos, AavePosition):
        priced = [r for r in pos.reserves if r.price > 0]
        rates = {f"{x.symbol}/{y.symbol}": _aave_rate(x, y) for x in priced for y in priced if x is not y}
    elif isinstance(pos, MorphoPosition) and pos.oracle_price > 0:
        rates = {f"{pos.collateral_symbol}/{pos.loan_symbol}": _morpho_rate(pos)}
    return {k: ((q := v * (1 - slip)).numerator, q.denominator) for k, v in rates.items()}


def _supply_counts(pos: DefiPosition) -> tuple[str, ...]:
    # UnwindPlan.supply_counts: the collaterals a supply (back) would count.  Aave: an enabled one;
    # else only a first supply (aToken balance 0: a disabled reserve still holding a balance stays
    # disabled) enables the flag, where validate_automatic_use_as_collateral allows it (no debt
    # ceiling, the user's LTV of it not 0, no isolation mode).
    if isinstance(pos, MorphoPosition):
        return (pos.collateral_symbol,)
    if not isinstance(pos, AavePosition):
        return ()
    rows, em, v = pos.reserves, pos.emode_category, pos.version

    def first(r: Any) -> bool:
        return r.collateral == 0 and validate_automatic_use_as_collateral(rows, r.symbol, em, v)

    return tuple(r.symbol for r in rows if r.collateral_enabled or first(r))


def _morpho_repaid(s: tuple[Any, Position], r: int) -> tuple[Any, Position]:
    # Morpho.repay of ``r`` assets on the state (market, position).
    if r == 0:
        return s
    out = morpho_repay(s[0], s[1], assets=r)
    return out.market, out.position


def _morpho_cap(s: tuple[Any, Position]) -> int:
    # The largest repayment by amount whose shares (toSharesDown) the position owes.
    return _morpho.max_repay_by_assets(s[0], s[1])


def _repay_caps(read: LendingRead, pos: DefiPosition) -> dict[str, int]:
    # UnwindPlan.repay_caps: every debt the protocol lets repay now, and the most one repayment takes.
    if isinstance(pos, AavePosition):
        paused = set(read.paused) if isinstance(read, AaveRead) else set()
        return {r.symbol: int(r.debt) for r in pos.reserves if r.debt > 0 and r.symbol not in paused}
    if isinstance(pos, MorphoPosition) and pos.position.borrow_shares > 0:
        return {pos.loan_symbol: _morpho_cap((pos.market, pos.position))}
    return {}


def _morpho_loop(pos: MorphoPosition) -> _Loop[Any] | str:
    if pos.position.borrow_shares == 0:
        return "no debt"
    if pos.position.collateral == 0 or pos.oracle_price == 0:
        return "no collateral to withdraw, or an oracle price of 0"
    return _Loop(
        pos.collateral_symbol,
        pos.loan_symbol,
        pos.collateral_decimals,
        pos.loan_decimals,
        _morpho_rate(pos),
        (pos.market, pos.position),
        lambda s: _morpho.hf(pos, s[0], s[1]),
        lambda s, w: (s[0], Position(s[1].borrow_shares, s[1].collateral - w)),
        _morpho_repaid,
        _morpho_cap,
        lambda s: int(s[1].collateral),
        lambda s: "",  # withdrawCollateral's _isHealthy: the floor (> 1) keeps it
    )


def _safe(ok: Callable[[int], bool]) -> Callable[[int], bool]:
    # A predicate that is False where the engine reverts (a repayment beyond the shares owed).
    def wrapped(v: int) -> bool:
        try:
            return ok(v)
        except (MorphoError, MathRevertError, AaveError):
            return False

    return wrapped


def unwind_plan(read: LendingRead, params: UnwindParams) -> UnwindPlan:
    """Size the unwind of a looped position: repay from the wallet, then withdraw-sell-repay rounds.

    Parameters
    ----------
    read : AaveRead or MorphoRead
        The position at one block (contract units) and the paying wallet's balances.
    params : UnwindParams
        Target, floor, slippage, rounds (:class:`levguard.live.onchain_unwind.UnwindParams`).

    Returns
    -------
    UnwindPlan
        Empty (no rounds, nothing repaid first) with a ``reason`` when there is no loop to unwind
        or no withdrawal is possible (the guardian then repays or supplies from the wallet).

    Raises
    ------
    InputError
        ``params`` not an :class:`~levguard.live.onchain_unwind.UnwindParams` (which validates
        its fields), or a target finer than 1e-18.

    Notes
    -----
    The collateral X sold is the largest one that can be withdrawn (Aave: counted, not borrowed,
    not paused, and one the Pool lets leave: ``ValidationLogic.validateHFAndLtv`` requires
    ``!hasZeroLtvCollateral || getLtv() == 0``, so while an LTV-0 collateral is held only LTV-0
    collateral is withdrawn; checked with :func:`levguard.core.defi.aave.validate_hf_and_ltv`
    after the withdrawal, a whole balance switched off as ``SupplyLogic.executeWithdraw`` does;
    none: an empty plan), the debt Y the largest.  On the state ``s`` (health factor ``h``, wad):

    1. ``repay_first``: the least of the wallet's Y reaching the target, else all of it (at most
       the repayment cap);
    2. per round, ``floor = min(params.floor_hf, (1 + h) / 2)`` and ``w_max`` the largest
       withdrawal with ``HF(withdraw(s, w)) >= floor`` that the protocol accepts; ``min_out(w) = floor(w * rate * (1 -
       max_slippage))`` with ``rate`` the oracle's debt units per collateral unit (Aave: ``p_X
       10^dec_Y / (p_Y 10^dec_X)``, AaveOracle prices; Morpho: ``price / 1e36``); the round
       withdraws the least ``w <= w_max`` with ``HF(repay(withdraw(s, w), min_out(w))) >=
       target``, else ``w_max``, and stops when that does not raise the health factor (the sale
       at that price loses more than the position's margin).

    ``sale_rates`` is ``rate * (1 - max_slippage)`` of every pair the read prices (Aave: the
    reserves in use and those read with ``keep``; Morpho: collateral and loan), for a sale left
    open by an earlier step; ``supply_counts`` the collaterals a supply back would count (Aave:
    enabled, or one ``SupplyLogic.executeSupply`` enables on a first supply -- a balance of 0 --,
    see ``_supply_counts``).

    Every health factor is the exact engine's: Aave ``GenericLogic.calculateUserAccountData``
    (:func:`levguard.core.defi.aave.get_user_account_data`) on the rows with the collateral and
    the debt changed as the tokens' scaled burns change them (``_aave.collateral_after_withdraw_bound``
    and ``debt_after_repay``: exact with the reserve's index, else ``collateral - w`` less and
    ``debt - r`` plus a unit (3.5+: two), a bound for a true index below 2 RAY, so a planned health
    factor is never above the chain's); Morpho ``_isHealthy`` after ``withdrawCollateral`` and ``repay``
    (:func:`levguard.defi.morpho.repay`, its share rounding).  The contracts refuse a withdrawal
    that leaves HF below 1 (aave-v3-core ``SupplyLogic.executeWithdraw`` ->
    ``ValidationLogic.validateHFAndLtv``; morpho-blue ``Morpho.withdrawCollateral``:
    ``require(_isHealthy(...), INSUFFICIENT_COLLATERAL)``); the floor keeps a margin above that
    for the interest of the blocks until the withdrawal is mined.
    """
    if not isinstance(params, UnwindParams):
        raise InputError(f"params must be an UnwindParams, was {type(params).__name__}")
    target = analytics.target_wad(str(params.target_hf), "target_hf")
    floor = analytics.target_wad(str(params.floor_hf), "floor_hf")
    slip = Fraction(str(params.max_slippage))  # UnwindParams: finite, in [0, 1)
    pos = position_of(read)
    loop = _aave_loop(read, pos) if isinstance(pos, AavePosition) and isinstance(read, AaveRead) else None
    if isinstance(pos, MorphoPosition):
        loop = _morpho_loop(pos)
    hf0 = analytics.health_factor(pos)
    caps = _repay_caps(read, pos)
    rates, counts = MappingProxyType(_sale_rates(pos, slip)), _supply_counts(pos)
    if loop is None or isinstance(loop, str):
        why = str(loop or "no position")
        return UnwindPlan(
            "", "", 0, 0, 0, 1, 0, 0, hf0, floor, (), hf0, hf0 >= target, why, MappingProxyType(caps), rates, counts
        )  # fmt: skip
    plan = _plan(loop, read, params, target, floor, loop.rate * (1 - slip), caps)
    return replace(plan, sale_rates=rates, supply_counts=counts)


def _plan(
    loop: _Loop[Any],
    read: LendingRead,
    params: UnwindParams,
    target: int,
    floor: int,
    out: Fraction,
    caps: dict[str, int],
) -> UnwindPlan:
    # The sizing of unwind_plan's Notes on ``loop``.
    s = loop.start
    hf0 = loop.hf(s)
    cap0 = caps[loop.y]  # loop.cap(s): y is a debt the protocol lets repay

    def done(rounds: list[UnwindRound], first_floor: int, repay_first: int, reason: str) -> UnwindPlan:
        h = loop.hf(s)
        ok = h >= target
        why = "the health factor is at or above the target" if ok and not rounds and not repay_first else reason
        return UnwindPlan(
            loop.x, loop.y, loop.x_decimals, loop.y_decimals, out.numerator, out.denominator, repay_first, cap0,
            hf0, first_floor, tuple(rounds), h, ok, "" if ok and (rounds or repay_first) else why,
            MappingProxyType(caps),
        )  # fmt: skip

    def floor_of(h: int) -> int:
        return min(floor, _WAD + (h - _WAD) // 2)

    if hf0 >= target:
        return done([], floor_of(hf0), 0, "")
    repay_first = 0
    have = min(int(read.balances.get(loop.y, 0)), cap0) if params.use_wallet else 0
    if have > 0:
        start = s
        reach = _safe(lambda r: loop.hf(loop.repay(start, r)) >= target)
        repay_first = first_true(reach, 0, have) if reach(have) else have
        try:
            s = loop.repay(s, repay_first)
        except AaveError:  # too little to burn a scaled unit of debt (a 1-unit wallet balance)
            repay_first = 0
    rounds: list[UnwindRound] = []
    first_floor = floor_of(loop.hf(s))
    reason = ""
    while True:
        h = loop.hf(s)
        if h >= target:
            break
        if len(rounds) >= params.rounds:
            reason = f"the target needs more than {params.rounds} round(s)"
            break
        if h <= _WAD:
            reason = "the health factor is at or below 1: the protocol refuses any withdrawal"
            break
        if loop.held(s) == 0:
            reason = f"all the {loop.x} is withdrawn: the next plan, on a fresh read, sells another collateral"
            break
        fl = floor_of(h)
        w, nxt, r = _round(loop, s, fl, target, out)
        if w == 0:
            reason = f"no withdrawal keeps the health factor at the floor {fl / _WAD:.4f}"
            break
        h_after = loop.hf(nxt)
        if h_after <= h:
            reason = "selling the collateral at the oracle price less the slippage does not raise the health factor"
            break
        mid = loop.hf(loop.withdraw(s, w))
        rounds.append(UnwindRound(len(rounds) + 1, w, w * out.numerator // out.denominator, r, h, mid, h_after))
        s = nxt
    return done(rounds, first_floor, repay_first, reason)


def _round(loop: _Loop[Any], s: Any, fl: int, target: int, out: Fraction) -> tuple[int, Any, int]:
    # One round on state ``s``: ``(w, state after, repaid)``; ``w`` the least withdrawal reaching
    # the target, at most the largest keeping HF >= ``fl`` after it (0: none does).
    cap = loop.cap(s)

    def after(w: int) -> tuple[Any, int]:
        r = min(w * out.numerator // out.denominator, cap)
        return loop.repay(loop.withdraw(s, w), r), r

    def above_floor(w: int) -> bool:
        mid = loop.withdraw(s, w)
        return loop.hf(mid) >= fl and not loop.refused(mid)

    def reaches(w: int) -> bool:
        return loop.hf(after(w)[0]) >= target

    w_max = last_true(_safe(above_floor), 0, loop.held(s))
    if w_max == 0:
        return 0, s, 0
    w = first_true(_safe(reaches), 1, w_max) if _safe(reaches)(w_max) else w_max
    try:
        nxt, r = after(w)
    except AaveError:  # its repayment too small to burn a scaled unit: no round from here
        return 0, s, 0
    return w, nxt, r


# --- P(HF < 1) -----------------------------------------------------------------------------------------


class HfForecasts:
    """P(HF < 1) of on-chain positions from the account's bars: the guardian's ``p_hf_below_one``.

    Parameters
    ----------
    bars : callable or mapping
        ``bars(symbol) -> DataFrame | None`` (hourly or finer bars of an asset, as ``levguard
        guard`` loads the account's ``history``) or a mapping of symbol to frame or CSV/Parquet
        path.  Symbols match case-insensitively; stablecoins (USDC, USDT, DAI) may be left out.
    model : str
        The forecaster's model (``"default"``, ``"excursion"``, ``"naive"``).
    high_low : {"synchronous", "bound"}
        How a ratio's intrabar extremes are built (:mod:`levguard.defi.risk`).

    Notes
    -----
    ``P = forecaster.prob(+1, d, hours)`` with the forecaster fitted on
    :func:`levguard.defi.risk.ratio_bars` of the position at the read's time (bars closed by
    then; refitted when an hour has closed or the position's mix of assets changes) and ``d`` the
    ratio's fall to HF = 1 from the exact engine, as :func:`levguard.defi.risk.position_risk`
    computes it (the two agree).  The safe health factor for ``max_p`` is ``1 / (1 - d*)`` with
    ``d* = required_distance(forecaster, +1, max_p, hours)``
    (:func:`levguard.core.risk.forecast.required_distance`): the health factor of a position whose
    ratio is ``d*`` above its value at HF = 1.  A missing or unusable history gives NaN and says
    why (the state then follows the health factor alone).
    """

    def __init__(
        self,
        bars: Callable[[str], Any] | Mapping[str, Any],
        *,
        model: str = "default",
        high_low: str = "synchronous",
    ) -> None:
        if model not in FORECAST_MODELS:
            raise InputError(f"model must be one of {list(FORECAST_MODELS)}, was {model!r}")
        if high_low not in risk.HIGH_LOW:
            raise InputError(f"high_low must be one of {list(risk.HIGH_LOW)}, was {high_low!r}")
        if not (callable(bars) or isinstance(bars, Mapping)):
            raise InputError(f"bars must be a callable or a mapping, was {type(bars).__name__}")
        self.bars = bars
        self.model = model
        self.high_low = high_low
        # (mix of assets) -> (hour, forecaster, source) of the last fit.
        self._fits: dict[tuple[Any, ...], tuple[int, LiquidationForecaster, str]] = {}

    def frames(self, symbols: list[str]) -> dict[str, Any]:
        """The bars of ``symbols`` that the source has (by symbol, any case)."""
        out: dict[str, Any] = {}
        if isinstance(self.bars, Mapping):
            given = {str(k).upper(): v for k, v in self.bars.items()}
            return {s: given[s.upper()] for s in symbols if s.upper() in given}
        for s in symbols:
            for name in dict.fromkeys((s, s.upper(), s.lower())):
                frame = self.bars(name)
                if frame is not None:
                    out[s] = frame
                    break
        return out

    def __call__(self, read: LendingRead, a: LendingAssessment, horizon_days: float, max_p: float) -> HfProbability:
        """P(HF < 1) within ``horizon_days`` of the read's position, and the health factor at which
        it is ``max_p`` (class Notes); NaN with the reason when the bars cannot give it."""
        try:
            return self._compute(read, a, horizon_days, max_p)
        except InputError as exc:
            return HfProbability(math.nan, f"none: {exc}: the state follows the health factor alone")

    def _compute(self, read: LendingRead, a: LendingAssessment, horizon_days: float, max_p: float) -> HfProbability:
        hours = int(horizon_hours(horizon_days)[0])
        if a.health_factor_wad == UINT256_MAX or not any(x.debt for x in a.assets):
            return HfProbability(0.0, "no debt")
        pos = position_of(read)
        distance, how, reason = _distance(pos, a.health_factor_wad)
        if distance is None:
            return HfProbability(0.0, f"0: {reason}")
        f, source = self._forecaster(read, a, pos)
        p = (
            1.0
            if distance <= 0.0
            else float(np.clip(f.prob(np.ones(1), np.array([distance]), np.array([hours]))[0], 0, 1))
        )
        safe: float | None = None
        if 0.0 < max_p < 1.0:
            d_req = required_distance(f, 1, max_p, hours)
            safe = 1.0 / (1.0 - d_req) if d_req < 1.0 else None
        return HfProbability(p, f"{source}; distance to HF 1: {how}", distance, safe)

    def _forecaster(
        self, read: LendingRead, a: LendingAssessment, pos: DefiPosition
    ) -> tuple[LiquidationForecaster, str]:
        # The fit of this hour for the position's mix of assets (value shares to 1 %).
        now = int(read.read_ns)
        hour = now // HOUR_NS
        key = _mix(a)
        cached = self._fits.get(key)
        if cached is not None and cached[0] == hour:
            return cached[1], cached[2]
        symbols = [x.symbol for x in a.assets if x.collateral or x.debt]
        rb = risk.ratio_bars(pos, self.frames(symbols), as_of=pd.Timestamp(now, tz="UTC"), high_low=self.high_low)
        f = fit_forecaster(rb.bars, rb.as_of_ns, self.model)
        j = int(rb.bars.last_closed(np.array([rb.as_of_ns], dtype=np.int64))[0])
        end = rb.bars.start_ns + (j + 1) * HOUR_NS
        age = (now - end) / HOUR_NS
        when = pd.Timestamp(end, tz="UTC").strftime("%Y-%m-%dT%H:%MZ")
        source = (
            f"{self.model} model fitted on {int(rb.bars.present[: j + 1].sum())} hourly bars of {rb.label} "
            f"(bars of {', '.join(sorted(set(rb.collateral_assets + rb.debt_assets) - set(rb.constant_assets)))}"
            f"{'; ' + ', '.join(rb.constant_assets) + ' held at the oracle' if rb.constant_assets else ''}) "
            f"to {when} ({age:.0f} h before the read)"
        )
        self._fits = {k: v for k, v in self._fits.items() if v[0] == hour}
        self._fits[key] = (hour, f, source)
        return f, source


def _mix(a: LendingAssessment) -> tuple[Any, ...]:
    # The position's assets and their value shares per side (to 1 %): a ratio basket's weights.
    coll = {x.symbol: x.collateral / 10**x.decimals * x.price for x in a.assets if x.collateral}
    debt = {x.symbol: x.debt / 10**x.decimals * x.price for x in a.assets if x.debt}
    out: list[tuple[str, str, float]] = []
    for side, values in (("c", coll), ("d", debt)):
        total = sum(values.values()) or 1.0
        out += [(side, k, round(v / total, 2)) for k, v in sorted(values.items())]
    return tuple(out)
