"""One cross-margin account in one kernel call: every position's margin figures at once.

:func:`levguard.core.margin.evaluate` works position by position in Python; for an account whose
positions are all in cross margin, :func:`cross_account_py` computes the same numbers from arrays
(the guardian evaluates 100 such accounts every second).  It calls the helpers of
:mod:`levguard.kernels.margin` (notional, uPnL, tiered maintenance margin, the liquidation-price
solver) in the same order on the same values, and sums the way ``evaluate`` does (``math.fsum``,
correctly rounded, :func:`exact_sum`), so every figure is bit for bit the one ``evaluate`` gives
(tests/core/test_margin_cross.py).

Failure is a value: a sum that is not finite returns status :data:`STATUS_NOT_FINITE` (the caller
then runs the scalar path, whose behaviour on such input is the reference).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from levguard.kernels._jit import jit, jitable
from levguard.kernels.margin import (
    close_fee_at_bankruptcy,
    leverage_tier_index,
    mm_in_tier,
    position_notional,
    position_upnl,
    solve_liquidation_price,
    tier_index,
)
from levguard.typing import Float64Array1D, Float64Array2D, Int64Array1D

__all__ = [
    "CROSS_OUT",
    "CROSS_TIER",
    "CROSS_TOTAL",
    "STATUS_NOT_FINITE",
    "STATUS_OK",
    "cross_account_nb",
    "cross_account_py",
    "exact_sum",
    "exact_sum_nb",
    "exact_sum_py",
]


class CrossOut(NamedTuple):
    """Rows of the float output of :func:`cross_account_py` (one column per position)."""

    NOTIONAL: int
    NOTIONAL_ENTRY: int
    UPNL: int
    BASE_MM: int
    MM: int
    BANKRUPTCY: int
    LIQUIDATION: int
    HEALTH: int


class CrossTier(NamedTuple):
    """Rows of the integer output: tier indices (0-based) into the position's table."""

    MM: int  # the tier of the notional on the venue's basis (entry or mark): the report's tier
    LEVERAGE_MARK: int  # the leverage tier of the notional at mark (the report's max_leverage)
    LEVERAGE_ENTRY: int  # the leverage tier of the entry notional (the default leverage, the cap)


class CrossTotal(NamedTuple):
    """Entries of the account totals output."""

    UPNL: int
    MM: int
    EQUITY: int


CROSS_OUT = CrossOut(*range(len(CrossOut._fields)))
CROSS_TIER = CrossTier(*range(len(CrossTier._fields)))
CROSS_TOTAL = CrossTotal(*range(len(CrossTotal._fields)))
STATUS_OK = 0
STATUS_NOT_FINITE = 1

# Local copies of the row numbers (numba reads module-level ints as compile-time constants).
_NOTIONAL = CROSS_OUT.NOTIONAL
_NOTIONAL_ENTRY = CROSS_OUT.NOTIONAL_ENTRY
_UPNL = CROSS_OUT.UPNL
_BASE_MM = CROSS_OUT.BASE_MM
_MM = CROSS_OUT.MM
_BANKRUPTCY = CROSS_OUT.BANKRUPTCY
_LIQUIDATION = CROSS_OUT.LIQUIDATION
_HEALTH = CROSS_OUT.HEALTH
_T_MM = CROSS_TIER.MM
_T_LEV_MARK = CROSS_TIER.LEVERAGE_MARK
_T_LEV_ENTRY = CROSS_TIER.LEVERAGE_ENTRY
_TOT_UPNL = CROSS_TOTAL.UPNL
_TOT_MM = CROSS_TOTAL.MM
_TOT_EQUITY = CROSS_TOTAL.EQUITY


@jitable
def exact_sum(values: Float64Array1D, partials: Float64Array1D) -> float:
    """Return the correctly rounded sum of finite ``values`` (what ``math.fsum`` returns).

    ``partials`` is scratch of at least ``len(values)`` floats.  A non-finite value or an
    overflowing sum gives a non-finite result (``math.fsum`` raises or returns inf/NaN there).

    Notes
    -----
    Shewchuk, "Adaptive precision floating-point arithmetic and fast robust geometric
    predicates", Discrete Comput. Geom. 18 (1997): the running sum is kept exactly as a list of
    non-overlapping partials, each new value added by two-sum (``hi = x + y``, ``lo = y - (hi -
    x)`` with ``|x| >= |y|``).  The partials are then added from the largest down while the sum
    stays exact, and the result is rounded half-to-even across the remaining partials (when the
    last rounding error and the next partial have the same sign, twice that error may round
    ``hi`` up to the neighbouring float), which makes the result the correctly rounded sum.
    Zero partials are not kept, so an all-zero sum is ``+0.0`` as in ``math.fsum``.
    """
    m = 0
    for v in range(values.shape[0]):
        x = values[v]
        i = 0
        for j in range(m):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        m = i
        if x != 0.0:
            if not math.isfinite(x):
                return x if math.isinf(x) else math.nan
            partials[m] = x
            m += 1
    if m == 0:
        return 0.0
    m -= 1
    total: float = partials[m]
    lo = 0.0
    while m > 0:
        x = total
        m -= 1
        y = partials[m]
        total = x + y
        lo = y - (total - x)
        if lo != 0.0:
            break
    if m > 0 and ((lo < 0.0 and partials[m - 1] < 0.0) or (lo > 0.0 and partials[m - 1] > 0.0)):
        y = lo * 2.0
        x = total + y
        if y == x - total:
            total = x
    return total


def exact_sum_py(values: Float64Array1D) -> float:
    """Return :func:`exact_sum` of ``values`` (its own scratch; the compiled twin is ``exact_sum_nb``)."""
    return exact_sum(values, np.empty(values.shape[0]))


def cross_account_py(
    wallet: float,
    qty: Float64Array1D,
    entry_price: Float64Array1D,
    mark_price: Float64Array1D,
    contract_size: Float64Array1D,
    inverse: Float64Array1D,
    fee_mm: Float64Array1D,
    close_fee: Float64Array1D,
    table_id: Int64Array1D,
    n_tiers: Int64Array1D,
    caps: Float64Array2D,
    mmrs: Float64Array2D,
    cums: Float64Array2D,
    mm_at_entry: bool,
    out: Float64Array2D,
    out_tier: np.ndarray,
    totals: Float64Array1D,
) -> int:
    """Fill the margin figures of the N positions of one cross-margin account.

    Parameters
    ----------
    wallet : float
        Cross wallet balance (settlement currency).
    qty, entry_price, mark_price : (N,) float64
        Signed size in contracts, entry and mark prices (quote per base), all non-zero/positive.
    contract_size : (N,) float64
        Contract size (``q = qty * contract_size``, :attr:`levguard.core.positions.Position.q`).
    inverse : (N,) float64
        1.0 for an inverse contract, 0.0 for a linear one.
    fee_mm, close_fee : (N,) float64
        Rate added to the maintenance rate (OKX, Gate; else 0) and the close-fee rate of the
        bankruptcy price (Bybit inverse; else 0).
    table_id : (N,) int64
        Row of the tier tables each position uses.
    n_tiers : (M,) int64
        Tiers of each table.
    caps, mmrs, cums : (M, T) float64
        The tables (:mod:`levguard.kernels.margin`), row ``t`` valid in ``[:n_tiers[t]]``.
    mm_at_entry : bool
        Maintenance margin valued at the entry notional (Bybit, BitMEX) instead of at price.
    out : (len(CROSS_OUT), N) float64
        Output rows :data:`CROSS_OUT`: notional at mark and at entry, uPnL, maintenance margin
        before and with the close-fee term, bankruptcy and liquidation prices (NaN: none), and
        health ``side * (mark - LP) / mark`` (NaN without a liquidation price).
    out_tier : (len(CROSS_TIER), N) int64
        Output rows :data:`CROSS_TIER`: tier indices.
    totals : (len(CROSS_TOTAL),) float64
        Output: the account's uPnL and maintenance margin (correctly rounded sums) and its
        equity ``wallet + uPnL``.

    Returns
    -------
    int
        :data:`STATUS_OK`, or :data:`STATUS_NOT_FINITE` when a sum is not finite (the outputs are
        then incomplete).

    Notes
    -----
    :func:`levguard.core.margin.evaluate` for cross positions, step for step: the collateral of
    position ``i`` is ``WB + sum_{j != i}(uPnL_j - MM_j)``, taken as the account's sums less
    the position's own terms (O(N)); the bankruptcy price solves ``WB + uPnL_others + uPnL_i(P)
    = close fee``; the Bybit inverse close fee at the bankruptcy price on the wallet alone joins
    the maintenance margin; the liquidation price solves ``collateral + uPnL_i(P) = MM_i(P)``
    (:func:`levguard.kernels.margin.solve_liquidation_price`, with MM fixed at entry when the
    venue values it there).  Formulas and sources: docs/margin.md.
    """
    n = qty.shape[0]
    no_caps = np.full(1, np.inf)
    no_tier = np.zeros(1)
    scratch = np.empty(max(n, 1))
    q = np.empty(n)
    for i in range(n):
        t = table_id[i]
        nt = n_tiers[t]
        c = caps[t, :nt]
        inv = inverse[i] != 0.0
        qi = qty[i] * contract_size[i]
        q[i] = qi
        notional = position_notional(qi, mark_price[i], inv)
        notional_entry = position_notional(qi, entry_price[i], inv)
        basis = notional_entry if mm_at_entry else notional
        k = tier_index(basis, c)
        out[_NOTIONAL, i] = notional
        out[_NOTIONAL_ENTRY, i] = notional_entry
        out[_UPNL, i] = position_upnl(qi, entry_price[i], mark_price[i], inv)
        out[_BASE_MM, i] = mm_in_tier(basis, mmrs[t, k], cums[t, k]) + fee_mm[i] * notional
        out_tier[_T_MM, i] = k
        out_tier[_T_LEV_MARK, i] = leverage_tier_index(notional, c)
        out_tier[_T_LEV_ENTRY, i] = leverage_tier_index(notional_entry, c)
    cross_upnl = exact_sum(out[_UPNL], scratch)
    if not math.isfinite(cross_upnl):
        return STATUS_NOT_FINITE
    # Bankruptcy prices first: Bybit's inverse maintenance includes the close fee at BP.
    for i in range(n):
        inv = inverse[i] != 0.0
        qi = q[i]
        other = cross_upnl - out[_UPNL, i]
        out[_BANKRUPTCY, i] = solve_liquidation_price(
            qi, entry_price[i], wallet + other, 0.0, close_fee[i], inv, no_caps, no_tier, no_tier
        )
        # On the position's own collateral (the wallet): it does not move with other marks.
        out[_MM, i] = out[_BASE_MM, i] + close_fee_at_bankruptcy(qi, entry_price[i], wallet, close_fee[i], inv)
    cross_mm = exact_sum(out[_MM], scratch)
    if not math.isfinite(cross_mm):
        return STATUS_NOT_FINITE
    for i in range(n):
        t = table_id[i]
        nt = n_tiers[t]
        inv = inverse[i] != 0.0
        qi = q[i]
        mm = out[_MM, i]
        other = cross_upnl - out[_UPNL, i]
        collateral = wallet + other - (cross_mm - mm)
        if mm_at_entry:
            k_const = mm - fee_mm[i] * out[_NOTIONAL, i]
            lp = solve_liquidation_price(
                qi, entry_price[i], collateral, k_const, fee_mm[i], inv, no_caps, no_tier, no_tier
            )
        else:
            lp = solve_liquidation_price(
                qi,
                entry_price[i],
                collateral,
                mm - out[_BASE_MM, i],
                fee_mm[i],
                inv,
                caps[t, :nt],
                mmrs[t, :nt],
                cums[t, :nt],
            )
        out[_LIQUIDATION, i] = lp
        side = 1.0 if qty[i] > 0.0 else -1.0
        mark = mark_price[i]
        out[_HEALTH, i] = side * (mark - lp) / mark if math.isfinite(lp) else math.nan
    totals[_TOT_UPNL] = cross_upnl
    totals[_TOT_MM] = cross_mm
    totals[_TOT_EQUITY] = wallet + cross_upnl
    return STATUS_OK


cross_account_nb = jit(cross_account_py)
exact_sum_nb = jit(exact_sum_py)
