"""The leverage a venue accepts: tier brackets, fee-adjusted caps and size-scaled initial rates.

The pieces :class:`~levguard.core.sizing.venue.TierCap` and
:class:`~levguard.core.sizing.venue.LiquidationBudget` share: the context's tier table, the
bracket fixed point and, on venues whose initial margin rate grows with the position's size
(Deribit), the largest leverage whose initial margin the equity covers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from levguard.core.margin import evaluate, instrument_for, venue_tiers
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.rules import get_venue
from levguard.core.sizing.base import MarketContext, SizingState
from levguard.core.tiers import TierTable
from levguard.core.validate import show
from levguard.errors import InputError
from levguard.kernels.sizing_venue import Brackets, tier_cap_path_nb
from levguard.typing import Float64Array1D

__all__ = [
    "BookCap",
    "RateCap",
    "book_cap",
    "context_tiers",
    "decision_rate_cap",
    "decision_tiers",
    "leverage_tiers",
    "rate_cap",
    "rate_scales",
    "tier_fixed_point",
]

# Strictly below a bracket's exclusive notional cap.
BELOW = 1.0 - 1e-12


# Contracts at which a rate is probed for a dependence on the size.
_BIG_SIZE = 1e6


def context_tiers(ctx: MarketContext, price: float | None = None) -> TierTable:
    """Return the tier table for ``ctx``: its own ``tiers``, a fixed ``mmr``, or the venue's.

    Tiers by position size (OKX's contracts) are valued at ``price`` when one is given
    (:meth:`~levguard.core.tiers.TierTable.in_notional`, exact at that price), else returned by
    size for the paths that value them bar by bar (:func:`tier_fixed_point` with prices).  On a
    venue whose rates scale with the size (Deribit) this is the table at one contract; the
    leverage it allows is :func:`rate_cap`'s.

    Raises
    ------
    InputError
        Unknown venue, or no built-in tiers for the symbol on the venue.
    """
    if ctx.mmr is not None and ctx.tiers is None:
        return TierTable.fixed_rate(ctx.mmr)
    table = ctx.tiers
    if table is None:
        model = get_venue(ctx.venue)
        inst = instrument_for(model, ctx.symbol, kind=ctx.contract_kind, contract_size=ctx.contract_size)
        px = 1.0 if price is None else price
        table = venue_tiers(model, Position(inst, float(ctx.side), px, px))
    if price is None or table.basis == "notional":
        return table
    return table.in_notional(price, inverse=is_inverse(ctx))


def decision_tiers(state: SizingState) -> TierTable:
    """Return the context's tiers for a decision at the state's price (by size, valued there).

    Raises
    ------
    InputError
        As :func:`context_tiers`; tiers by size without the state's price.
    """
    if state.price_given:
        return context_tiers(state.context, state.price)
    table = context_tiers(state.context)
    if table.basis == "quantity":
        raise InputError("tiers by position size need the decision's price (SizingState.price), was not given")
    return table


def is_inverse(ctx: MarketContext) -> bool:
    """Whether the context's instrument is an inverse contract."""
    model = get_venue(ctx.venue)
    return instrument_for(model, ctx.symbol, kind=ctx.contract_kind, contract_size=ctx.contract_size).inverse


def tier_fixed_point(
    table: TierTable,
    equity: Float64Array1D,
    max_leverage: float = math.inf,
    price: Float64Array1D | None = None,
    *,
    inverse: bool = False,
) -> tuple[Float64Array1D, Float64Array1D]:
    """Return the largest ``L <= max_leverage`` with ``L <= max_leverage_tier(L * equity)``.

    Parameters
    ----------
    table : TierTable
        Brackets ``[floor_k, cap_k)`` with leverage caps ``lambda_k``.
    equity : ndarray, shape (n,)
        Equity (settlement currency) per case; non-positive or NaN gives 0.
    max_leverage : float
        An extra global cap.
    price : ndarray, shape (n,), optional
        The price per case, needed by tiers by position size (a leverage ``L`` buys the size
        ``L E / price``, inverse ``L E price``: :func:`~levguard.kernels.sizing_venue.bracket_unit`).
    inverse : bool
        Inverse contract (with tiers by size).

    Returns
    -------
    leverage, bound : ndarray, shape (n,)
        The largest feasible leverage, and the tier bound before ``max_leverage`` (to tell which
        constraint binds).

    Notes
    -----
    Bracket ``k`` admits ``L in [floor_k / E, cap_k / E) ∩ [0, lambda_k]``; the answer is the
    largest point of the union over ``k`` (the exclusive cap is approached to 1e-12 relative).
    Runs on the numba kernel :func:`levguard.kernels.sizing_venue.tier_cap_path_nb`.
    """
    eq = np.array(equity, dtype=np.float64)  # fresh and writable: one compiled signature
    if table.basis == "quantity" and price is None:
        raise InputError("tiers by position size need the price to value a leverage at (price), was missing")
    try:  # a number or an array of equity's length
        px = np.array(np.broadcast_to(np.asarray(1.0 if price is None else price, dtype=np.float64), eq.shape))
    except ValueError:
        raise InputError(f"price must be a number or have the shape of equity {eq.shape}, was {show(price)}") from None
    lev = np.zeros_like(eq)
    bound = np.zeros_like(eq)
    tier_cap_path_nb(eq, px, brackets(table, max_leverage, inverse), lev, bound)
    return lev, bound


def brackets(table: TierTable | None, max_leverage: float, inverse: bool = False) -> Brackets:
    """Return the tier kernel's brackets of ``table``: caps (the last one the largest position,
    :attr:`~levguard.core.tiers.TierTable.max_position`), floors (0 then the previous caps) and
    max leverages (no brackets without a table); by size, with the contract kind that values a
    leverage."""
    if table is None:
        empty = np.zeros(0)
        return Brackets(empty, empty, empty, BELOW, float(max_leverage))
    caps = np.array(table.caps, dtype=np.float64)
    floors = np.concatenate(([0.0], caps[:-1]))
    caps[-1] = table.max_position  # the largest position, not the maintenance lookup's inf
    max_levs = np.array([float(t.max_leverage) for t in table.tiers], dtype=np.float64)
    return Brackets(caps, floors, max_levs, BELOW, float(max_leverage), table.basis == "quantity", bool(inverse))


def leverage_tiers(ctx: MarketContext, table: TierTable) -> TierTable:
    """Return ``table`` with the leverage caps a venue allows once its initial margin holds the
    fee to close: ``N / L + N t <= E`` is ``N / E <= 1 / (1 / L + t)`` (Gate, help 22148), so 50x
    with a 0.075 % taker fee is 48.19x on the equity.  Other venues: ``table`` itself.
    """
    model = get_venue(ctx.venue)
    # The context's taker fee, or the venue's when it gives none (0), as positions read it.
    fee = model.margin_fees(ctx.taker_fee_rate if ctx.taker_fee_rate > 0.0 else model.default_taker_fee)[1]
    if not fee > 0.0:
        return table
    rows = tuple(replace(t, max_leverage=1.0 / (1.0 / t.max_leverage + fee)) for t in table.tiers)
    return replace(table, tiers=rows)


@dataclass(frozen=True, slots=True)
class RateCap:
    """The largest leverage a size-scaled initial margin rate allows (:func:`rate_cap`).

    Attributes
    ----------
    leverage : float
        The leverage, at most the ``max_leverage`` asked for.
    bound : float
        The venue's bound before ``max_leverage`` (to tell which constraint binds).
    imr : float
        The initial rate (with any fee the venue adds to it) at the size ``bound`` buys.
    size : float
        That size in base units (``|qty| x contract_size``).
    source : str
        Where the venue's rates come from.
    """

    leverage: float
    bound: float
    imr: float
    size: float
    source: str


def rate_scales(ctx: MarketContext) -> bool:
    """True when the venue's initial rate changes with the position's size (Deribit), so every
    (equity, price) is its own case; False for a rate that does not (dYdX) or a tier table.

    Raises InputError where the venue's rates refuse the instrument (Deribit's inverse contracts).
    """
    if ctx.tiers is not None or ctx.mmr is not None:
        return False
    model = get_venue(ctx.venue)
    inst = instrument_for(model, ctx.symbol, kind=ctx.contract_kind, contract_size=ctx.contract_size)
    one = model.rates(Position(inst, float(ctx.side), 1.0, 1.0))
    if one is None:
        return False
    try:
        big = model.rates(Position(inst, ctx.side * _BIG_SIZE, 1.0, 1.0))
    except InputError:  # out of range at that size: it scales
        return True
    return big is None or big.imr != one.imr


def rate_cap(ctx: MarketContext, equity: float, price: float | None, max_leverage: float = math.inf) -> RateCap | None:
    """Return the largest leverage whose initial margin the equity covers on a rate-based venue.

    Parameters
    ----------
    ctx : MarketContext
        Instrument and venue; without ``tiers`` and ``mmr`` (those fix the rate).
    equity : float
        Equity (settlement currency), > 0.
    price : float or None
        The price the size is bought at, > 0 (None: unknown, for a rate that does not change
        with the size).
    max_leverage : float
        An extra global cap.

    Returns
    -------
    RateCap or None
        None where the venue's initial rate does not depend on the position (no
        :attr:`~levguard.core.rules.base.VenueModel.rates` for the context): the tier table
        decides (:func:`tier_fixed_point`).

    Raises
    ------
    InputError
        The venue's rates refuse the instrument (Deribit's inverse contracts), or they change
        with the size and no price was given.

    Notes
    -----
    A leverage ``L`` buys the notional ``N = L E`` and the size ``q = N / P`` (inverse ``N P``);
    the venue's initial margin is ``IM = N (imr(q) + f)`` with ``imr`` the venue's own rates
    (:attr:`VenueModel.rates <levguard.core.rules.base.VenueModel.rates>`, the margin engine's
    rates; Deribit "Linear Perpetual": 2 % + 0.005 % per BTC, so 350 BTC at 100,000 needs
    1,312,500 USDC) and ``f`` the fee the venue adds to it (:meth:`~levguard.core.rules.base.
    VenueModel.margin_fees`).  ``IM <= E`` is ``L (imr(q(L)) + f) <= 1``, increasing in ``L``
    since the rate does not fall with the size: the answer is bracketed from the rate at one
    contract and found by bisection to 1e-13 relative, then the leverage ``1 / (imr + f)`` of
    the rate there is taken when the equity covers it (a rate that does not scale gives exactly
    its ``1 / imr``).
    """
    if ctx.tiers is not None or ctx.mmr is not None:
        return None
    model = get_venue(ctx.venue)
    inst = instrument_for(model, ctx.symbol, kind=ctx.contract_kind, contract_size=ctx.contract_size)
    probe = Position(inst, float(ctx.side), price or 1.0, price or 1.0)  # one contract
    found = model.rates(probe)
    if found is None:
        return None
    if price is None:
        if rate_scales(ctx):
            raise InputError(
                "size-scaled initial margin rates need the decision's price (SizingState.price), was not given"
            )
        price = 1.0  # the rate is the same at every size
    fee = model.margin_fees(ctx.taker_fee_rate if ctx.taker_fee_rate > 0.0 else model.default_taker_fee)[1]

    def size(lev: float) -> float:
        notional = lev * equity
        return notional * price if inst.inverse else notional / price

    def rate(lev: float) -> float:
        # The venue's initial rate (plus its fee) at the size `lev` buys; inf where it refuses it.
        try:
            rates = model.rates(Position(inst, ctx.side * size(lev) / inst.contract_size, price, price))
        except InputError:
            return math.inf
        return math.inf if rates is None else rates.imr + fee

    def covered(lev: float) -> bool:
        return lev * rate(lev) <= 1.0

    # From the leverage of the rate at one contract: 1 / rate(L) jumps past the answer from below
    # (the rate does not fall with the size), so the answer lies in [lo, hi] after a few steps.
    lo, hi = 0.0, 1.0 / (found.imr + fee)
    for _ in range(64):
        if not covered(hi):
            break
        nxt = 1.0 / rate(hi)
        if nxt <= hi:  # the rate at hi allows exactly hi
            break
        lo, hi = hi, nxt
    if covered(hi):
        bound = hi
    else:
        while hi - lo > 1e-13 * hi:
            mid = 0.5 * (lo + hi)
            if covered(mid):
                lo = mid
            else:
                hi = mid
        exact = 1.0 / rate(lo) if lo > 0.0 else 0.0
        bound = exact if lo <= exact and covered(exact) else lo
    lev = min(bound, max_leverage)
    return RateCap(lev, bound, rate(bound) if bound > 0.0 else found.imr + fee, size(bound), found.source)


def decision_rate_cap(state: SizingState, max_leverage: float = math.inf) -> RateCap | None:
    """Return :func:`rate_cap` at the state's equity and price (None when the state has none).

    Raises
    ------
    InputError
        As :func:`rate_cap`.
    """
    return rate_cap(state.context, state.equity, state.price if state.price_given else None, max_leverage)


@dataclass(frozen=True, slots=True)
class BookCap:
    """The largest gross leverage of a book whose initial margin the equity covers (:func:`book_cap`).

    Attributes
    ----------
    leverage : float
        The gross leverage (at most the ``upper`` asked for).
    binding : int
        Index of the position whose cap binds the book most: the largest initial margin at that
        gross, ``s_i L / lambda_i`` (the elasticity of the book's gross to the position's cap,
        ``(dL/L) / (d lambda_i / lambda_i) = s_i L / lambda_i``).  Not the lowest cap: 1 % of the
        book at 25x binds less than 99 % at 40x.
    max_leverage : tuple of float
        Each position's leverage cap at its notional there (the margin engine's ``max_leverage``).
    """

    leverage: float
    binding: int
    max_leverage: tuple[float, ...]


def book_cap(account: Account, qty_per_leverage: Sequence[float], equity: float, upper: float) -> BookCap:
    """Return the largest gross ``L <= upper`` at which the book's initial margin is within ``equity``.

    Parameters
    ----------
    account : Account
        The positions (their instruments, tiers, rates and fees); quantities are replaced.
    qty_per_leverage : sequence of float
        Signed quantity (contracts) of each position per unit of gross leverage: at ``L`` the
        book holds ``L * qty_per_leverage[i]`` of position ``i``, opened at its mark.
    equity : float
        The equity the initial margin must stay within (the account's settlement units), > 0.
    upper : float
        The largest gross leverage asked for (finite, >= 0).

    Notes
    -----
    Each position pays the initial margin the margin engine computes for it alone
    (:func:`~levguard.core.margin.evaluate`: ``N_i / lambda_i(N_i)`` on the tier of its own
    notional, Deribit's size-scaled rate, Gate's close fee), so with shares ``s_i`` of the gross
    the condition is ``sum_i s_i L / lambda_i(s_i L E) <= 1``: a book of 60 % BTC (40x) and 40 %
    ETH (25x) on Hyperliquid holds 1 / (0.6 / 40 + 0.4 / 25) = 32.3x, not BTC's 40x.  The initial
    margin grows with ``L`` (a cap never rises with the notional), so bisection on ``[0, upper]``
    to 1e-12 relative finds it; positions are valued in cross mode with no leverage of their own
    (the venue's cap decides).  A quantity the venue refuses (a rate past 100 %) counts as not
    covered.
    """
    model = get_venue(account.venue)
    base = tuple(
        replace(
            p, qty=p.qty, entry_price=p.mark_price, margin_mode=MarginMode.CROSS, leverage=None, isolated_margin=None
        )
        for p in account.positions
    )

    def report(lev: float) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
        # The book's initial margin at gross `lev`, each position's cap (inf: refused) and
        # initial margin.
        held = [i for i, q in enumerate(qty_per_leverage) if lev * q != 0.0]
        caps = [math.inf] * len(base)
        ims = [0.0] * len(base)
        if not held:
            return 0.0, tuple(caps), tuple(ims)
        try:
            r = evaluate(
                Account(account.venue, 0.0, tuple(replace(base[i], qty=lev * qty_per_leverage[i]) for i in held)), model
            )
        except InputError:
            return math.inf, tuple(caps), tuple(ims)
        for i, pr in zip(held, r.positions, strict=True):
            caps[i] = float(pr.max_leverage)
            ims[i] = float(pr.initial_margin)
        return r.initial_margin, tuple(caps), tuple(ims)

    im, caps, ims = report(upper)
    lev = upper
    if not im <= equity:
        lo, hi = 0.0, upper
        while hi - lo > 1e-12 * hi:
            mid = 0.5 * (lo + hi)
            if report(mid)[0] <= equity:
                lo = mid
            else:
                hi = mid
        lev = lo
        _, caps, ims = report(lo)
    # The first position of the largest initial margin (ties: the lower cap, then the first).
    binding = max(range(len(caps)), key=lambda i: (ims[i], -caps[i], -i)) if caps else 0
    return BookCap(lev, binding, caps)
