"""One unified account in one kernel call: equity, maintenance margin and liquidation prices.

:func:`levguard.core.unified.evaluate_unified` values the account in Python and searches each
position's liquidation and bankruptcy prices with :func:`bracket_probes` on a Python closure
(about 45 us a position).  :func:`unified_account_py` computes the same numbers from arrays: the
same helpers (:func:`levguard.kernels.margin.position_upnl`, :func:`~levguard.kernels.margin.tiered_mm`,
:func:`levguard.kernels.joint.haircut_value`) in the same order, the same search (over
:func:`unified_g`) and the same correctly rounded sums (:func:`levguard.kernels.margin_cross.exact_sum`
for ``math.fsum``), so every figure is bit for bit the one the Python path gives
(tests/core/unified/test_unified_fast.py).

Failure is a value: a sum that is not finite returns :data:`STATUS_NOT_FINITE` (the caller then
runs the Python path, whose behaviour on such input is the reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from levguard.kernels._jit import jit, jitable
from levguard.kernels.joint import haircut_value
from levguard.kernels.margin import (
    leverage_tier_index,
    mm_in_tier,
    position_notional,
    position_upnl,
    tier_index,
    tiered_mm,
)
from levguard.kernels.margin_cross import CROSS_TIER, STATUS_NOT_FINITE, STATUS_OK, CrossTier, exact_sum
from levguard.typing import BoolArray1D, Float64Array1D, Float64Array2D, Int64Array1D

__all__ = [
    "MAX_PARTS",
    "SETTLE_REACH",
    "STATUS_NOT_FINITE",
    "STATUS_OK",
    "UNIFIED_ASSET",
    "UNIFIED_G",
    "UNIFIED_OUT",
    "UNIFIED_TIER",
    "UNIFIED_TOTAL",
    "bracket_probes",
    "expansion",
    "float_at_ordinal",
    "float_ordinal",
    "settle_probes",
    "unified_account_nb",
    "unified_account_py",
    "unified_g",
    "unified_g_at",
]


class UnifiedOut(NamedTuple):
    """Rows of the float output of :func:`unified_account_py` (one column per position)."""

    NOTIONAL: int
    NOTIONAL_ENTRY: int
    UPNL: int
    MM: int
    LIQUIDATION: int
    BANKRUPTCY: int
    HEALTH: int


# The integer output's rows are the cross kernel's: tier indices (0-based) into the position's table.
UnifiedTier = CrossTier


class UnifiedAsset(NamedTuple):
    """Rows of the per-asset output (one column per collateral asset)."""

    AMOUNT: int  # coins counted: net of loans, plus the PnL where it joins the haircut
    VALUE: int  # USD value after the collateral ratios


class UnifiedTotal(NamedTuple):
    """Entries of the account totals output."""

    UPNL: int  # positions' unrealised PnL (USDT)
    POSITIONS_MM: int  # positions' maintenance margin (USDT)
    EQUITY: int  # equity after collateral ratios (USD)
    MM: int  # total maintenance margin: positions' plus loans' (USD)
    WALLET: int  # face value of the balances net of loans (USD)


class UnifiedG(NamedTuple):
    """Entries of the parameter record of :func:`unified_g` (one position's terms)."""

    Q: int  # signed base quantity
    ENTRY: int  # entry price
    NOTIONAL_ENTRY: int  # |q| * entry
    FEE_MM: int  # rate on the notional at the price added to the maintenance margin (OKX)
    MM_AT_ENTRY: int  # 1.0: tiered MM on the entry notional (Bybit); 0.0: at the price
    OTHER_UPNL: int  # every other position's PnL (USDT)
    OTHER_MM: int  # every other position's maintenance margin (USDT)
    OTHERS_VALUE: int  # haircut value of every asset the PnL does not touch (USD)
    HAS_SETTLE: int  # 1.0 when the account holds a USDT row
    SETTLE_NET: int  # USDT net of loans (coins)
    SETTLE_PRICE: int  # USD price of USDT
    SETTLE_VALUE: int  # haircut value of SETTLE_NET (USD; the PnL-free term of Bybit)
    SETTLE_QTY_BASIS: int  # 1.0: USDT's tiers count coins; 0.0: USD
    UPNL_IN_HAIRCUT: int  # 1.0: the PnL joins USDT before its ratio (Binance, OKX); 0.0: Bybit
    LOAN_MM: int  # loans' maintenance margin (USD)


UNIFIED_OUT = UnifiedOut(*range(len(UnifiedOut._fields)))
UNIFIED_TIER = CROSS_TIER
UNIFIED_ASSET = UnifiedAsset(*range(len(UnifiedAsset._fields)))
UNIFIED_TOTAL = UnifiedTotal(*range(len(UnifiedTotal._fields)))
UNIFIED_G = UnifiedG(*range(len(UnifiedG._fields)))

# Local copies of the row numbers (numba reads module-level ints as compile-time constants).
_NOTIONAL = UNIFIED_OUT.NOTIONAL
_NOTIONAL_ENTRY = UNIFIED_OUT.NOTIONAL_ENTRY
_UPNL = UNIFIED_OUT.UPNL
_MM = UNIFIED_OUT.MM
_LIQUIDATION = UNIFIED_OUT.LIQUIDATION
_BANKRUPTCY = UNIFIED_OUT.BANKRUPTCY
_HEALTH = UNIFIED_OUT.HEALTH
_T_MM = UNIFIED_TIER.MM
_T_LEV_MARK = UNIFIED_TIER.LEVERAGE_MARK
_T_LEV_ENTRY = UNIFIED_TIER.LEVERAGE_ENTRY
_A_AMOUNT = UNIFIED_ASSET.AMOUNT
_A_VALUE = UNIFIED_ASSET.VALUE
_TOT_UPNL = UNIFIED_TOTAL.UPNL
_TOT_POS_MM = UNIFIED_TOTAL.POSITIONS_MM
_TOT_EQUITY = UNIFIED_TOTAL.EQUITY
_TOT_MM = UNIFIED_TOTAL.MM
_TOT_WALLET = UNIFIED_TOTAL.WALLET
_G_Q = UNIFIED_G.Q
_G_ENTRY = UNIFIED_G.ENTRY
_G_NOTIONAL_ENTRY = UNIFIED_G.NOTIONAL_ENTRY
_G_FEE_MM = UNIFIED_G.FEE_MM
_G_MM_AT_ENTRY = UNIFIED_G.MM_AT_ENTRY
_G_OTHER_UPNL = UNIFIED_G.OTHER_UPNL
_G_OTHER_MM = UNIFIED_G.OTHER_MM
_G_OTHERS_VALUE = UNIFIED_G.OTHERS_VALUE
_G_HAS_SETTLE = UNIFIED_G.HAS_SETTLE
_G_SETTLE_NET = UNIFIED_G.SETTLE_NET
_G_SETTLE_PRICE = UNIFIED_G.SETTLE_PRICE
_G_SETTLE_VALUE = UNIFIED_G.SETTLE_VALUE
_G_SETTLE_QTY_BASIS = UNIFIED_G.SETTLE_QTY_BASIS
_G_UPNL_IN_HAIRCUT = UNIFIED_G.UPNL_IN_HAIRCUT
_G_LOAN_MM = UNIFIED_G.LOAN_MM
_N_G = len(UNIFIED_G)
MAX_PARTS = 64
"""Most terms of an :func:`expansion` (a sum of floats spans at most about 2,100 bits, 53 a term)."""
SETTLE_REACH = 1 << 2
"""Most floats :func:`settle_probes` moves a root (its neighbour in most accounts).  Four: on an
account whose sums dwarf a position's terms (PnL 1e8-1e9 USD beside positions of 1-5,000 USD)
the totals cross 10^3 to 10^6 floats from the search's root, which a gallop of 2^22 floats reached
at +75 % of evaluate_unified's time (each test is an exact sum); four floats cost about +13 %."""
_FRACTION = (1 << 52) - 1
_HIDDEN = 1 << 52
_TINY = 2.2250738585072014e-308  # the least normal float, 2^-1022
_ORDINAL_INF = 0x7FF0000000000000  # float_ordinal(inf)


@jitable
def expansion(values: Float64Array1D, parts: Float64Array1D, scratch: Float64Array1D) -> int:
    """Fill ``parts`` with floats whose exact sum is that of ``values``; return how many.

    ``parts`` holds at least :data:`MAX_PARTS` floats, ``scratch`` at least ``len(values) +
    MAX_PARTS``.  :func:`levguard.core.unified.expansion` term for term (formula and source
    there): ``r_{j+1} = exact_sum(values - r_1 - ... - r_j)`` until it is 0 (or not finite).
    """
    n = values.shape[0]
    buf = np.empty(n + MAX_PARTS)
    buf[:n] = values
    m = 0
    for _ in range(MAX_PARTS):
        r = exact_sum(buf[: n + m], scratch)
        if r == 0.0:
            break
        parts[m] = r
        buf[n + m] = -r
        m += 1
        if not math.isfinite(r):
            break
    return m


@jitable
def unified_equity(upnl: float, gp: Float64Array1D, floors: Float64Array1D, ratios: Float64Array1D) -> float:
    """Return the equity after collateral ratios (USD) given the positions' total PnL ``upnl``.

    Notes
    -----
    :meth:`levguard.core.unified._State.equity`, term for term: ``others + h_s(n_s + U)`` where
    the PnL joins USDT before its ratio (Binance PM, OKX), else ``others + h_s(n_s) + P_s U``
    (Bybit UTA); ``others + U`` without a USDT row.  ``floors``/``ratios``: USDT's tiers.
    """
    others: float = gp[_G_OTHERS_VALUE]
    if gp[_G_HAS_SETTLE] == 0.0:
        return others + upnl
    price: float = gp[_G_SETTLE_PRICE]
    if gp[_G_UPNL_IN_HAIRCUT] != 0.0:
        return others + haircut_value(gp[_G_SETTLE_NET] + upnl, price, floors, ratios, gp[_G_SETTLE_QTY_BASIS] != 0.0)
    settle_value: float = gp[_G_SETTLE_VALUE]
    return others + settle_value + price * upnl


@jitable
def unified_g(
    price: float,
    k: float,
    gp: Float64Array1D,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    floors: Float64Array1D,
    ratios: Float64Array1D,
) -> float:
    """Return ``E(P) - k * MM(P)`` (USD) with one position's mark at ``price``, the rest fixed.

    Parameters
    ----------
    price : float
        The position's mark (USDT per base).
    k : float
        The venue's liquidation multiple (the liquidation price), or 0 (the bankruptcy price).
    gp : (len(UNIFIED_G),) float64
        The position's record :data:`UNIFIED_G`.
    caps, mmrs, cums : (T,) float64
        The position's tier table.
    floors, ratios : float64
        USDT's collateral tiers.

    Notes
    -----
    The function ``g`` of :func:`levguard.core.unified.evaluate_unified`: ``E(U_others + q (P -
    EP)) - k (P_s (MM_others + MM_i(P)) + loan MM)`` with ``MM_i(P)`` the tiered maintenance
    margin on the venue's basis plus the fee term (``_mm_at``).
    """
    upnl, mm_i, mm_price = _own_terms(price, gp, caps, mmrs, cums)
    equity = unified_equity(gp[_G_OTHER_UPNL] + upnl, gp, floors, ratios)
    mm: float = mm_price * (gp[_G_OTHER_MM] + mm_i) + gp[_G_LOAN_MM]
    return equity - k * mm


@jitable
def _own_terms(
    price: float, gp: Float64Array1D, caps: Float64Array1D, mmrs: Float64Array1D, cums: Float64Array1D
) -> tuple[float, float, float]:
    # The position's PnL and maintenance margin (tiered on the venue's basis plus the fee term)
    # with its mark at ``price``, and the price its MM is valued at (the settlement coin's, or 1).
    q = gp[_G_Q]
    upnl = position_upnl(q, gp[_G_ENTRY], price, False)
    notional = position_notional(q, price, False)
    basis = gp[_G_NOTIONAL_ENTRY] if gp[_G_MM_AT_ENTRY] != 0.0 else notional
    mm_i = tiered_mm(basis, caps, mmrs, cums) + gp[_G_FEE_MM] * notional
    mm_price = gp[_G_SETTLE_PRICE] if gp[_G_HAS_SETTLE] != 0.0 else 1.0
    return upnl, mm_i, mm_price


@jitable
def unified_g_at(
    price: float,
    k: float,
    gp: Float64Array1D,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    floors: Float64Array1D,
    ratios: Float64Array1D,
    u_terms: Float64Array1D,
    m_terms: Float64Array1D,
    scratch: Float64Array1D,
) -> float:
    """Return :func:`unified_g` at ``price`` in the arithmetic of the account's totals.

    ``u_terms`` (``m_terms``): the :func:`expansion` of the positions' total PnL (MM), then minus
    the position's own term at its mark, then a slot this function fills with its term at
    ``price``; ``scratch`` holds at least as many floats.

    Notes
    -----
    ``E(U(P)) - k (P_s MM(P) + loan MM)`` with ``U(P)`` (``MM(P)``) the correctly rounded sum of
    every position's PnL (maintenance margin), this position's at ``P``: the floats the totals
    take with its mark at ``P``, so ``g <= 0`` is the account's own liquidatable test there
    (:func:`unified_g` adds the others' float sum to its term, which may differ by an ulp).
    """
    upnl, mm_i, mm_price = _own_terms(price, gp, caps, mmrs, cums)
    u_terms[u_terms.shape[0] - 1] = upnl
    m_terms[m_terms.shape[0] - 1] = mm_i
    equity = unified_equity(exact_sum(u_terms, scratch), gp, floors, ratios)
    mm: float = mm_price * exact_sum(m_terms, scratch) + gp[_G_LOAN_MM]
    return equity - k * mm


@jitable
def _toward(x: float, y: float) -> float:
    # The float next to x in the direction of y (math.nextafter, which numba < 0.60 does not compile).
    return float(np.nextafter(x, y))


@jitable
def _narrow(
    x: float, gx: float, good: float, g_good: float, bad: float, g_bad: float
) -> tuple[float, float, float, float]:
    # The bracket (good, g_good, bad, g_bad) with the end on x's side moved to x, where g is gx.
    if gx > 0.0:
        return x, gx, bad, g_bad
    return good, g_good, x, gx


@jitable
def bracket_probes(
    mark: float, side: int, box: Float64Array1D | list[float], toward: Callable[[float, float], float]
) -> Iterator[float]:
    """Yield the prices at which the liquidation-price search tests ``g``, starting at ``mark``.

    The caller stores ``g`` of each yielded price in ``box[0]`` before taking the next one; when
    the generator is exhausted ``box[1]`` holds the price where ``g`` turns from > 0 (safe) to
    <= 0, NaN when no positive price crosses.  ``side`` is +1 for a long, -1 for a short.
    ``toward(x, y)`` is the float next to ``x`` in the direction of ``y``: ``math.nextafter`` from
    Python, :func:`_toward` from compiled kernels (the same floats).  The one root search of unified
    accounts: :func:`unified_account_py` drives it with :func:`unified_g`, the Python path of
    :func:`levguard.core.unified.evaluate_unified` with a closure over its domain objects, so both
    find the same float (the caller evaluates ``g``: no function or arrays pass through here).

    Notes
    -----
    Safe at the mark: move the adverse way until ``g <= 0`` (down to 0 for a long; doubling the
    price up to 80 times for a short); already liquidated: move the favourable way until ``g > 0``.
    Then shrink the bracket to adjacent floats and return its liquidated end.  ``g`` is piecewise
    linear in the price (linear PnL, tiered maintenance and collateral ratios), so a secant
    (regula falsi) step lands on a linear piece's root to a few ulps; that point and its
    neighbour towards the other end are tested, which closes the bracket when the root lies
    between them.  A bisection step follows whenever the bracket did not halve (a kink between
    the ends), so the search never takes more than about three times bisection's steps; the
    result is the float bisection gives, as both stop at the adjacent pair around the root.
    """
    box[1] = math.nan
    yield mark
    g_mark = box[0]
    safe_now = g_mark > 0.0
    down = (side > 0) == safe_now  # direction in which the other state lies
    if down:
        far = 0.0
        yield far
        g_far = box[0]
        if (g_far > 0.0) == safe_now:
            return
        # Equity and MM both vanish at a price of 0 (a long backed by exactly its own loss): the
        # account ends only at 0 unless it is already liquidated just above it (rounding aside).
        if safe_now and g_far == 0.0:
            yield mark * 1e-9
            if box[0] > 0.0:
                return
    else:
        far = mark
        g_far = g_mark
        crossed = False
        for _ in range(80):
            far *= 2.0
            yield far
            g_far = box[0]
            if (g_far > 0.0) != safe_now:
                crossed = True
                break
        if not crossed:
            return
    if safe_now:
        good, bad, g_good, g_bad = mark, far, g_mark, g_far
    else:
        good, bad, g_good, g_bad = far, mark, g_far, g_mark
    for _ in range(2200):  # adjacent floats are reached long before
        if toward(good, bad) == bad:
            break
        width = abs(bad - good)
        den = g_good - g_bad
        x = bad - g_bad * (good - bad) / den if den > 0.0 and math.isfinite(den) else math.nan
        if min(good, bad) < x < max(good, bad):
            # On a linear piece x is the root to a few ulps: test it and its neighbour towards
            # the far end of the bracket, which closes the bracket when the root lies between.
            yield x
            good, g_good, bad, g_bad = _narrow(x, box[0], good, g_good, bad, g_bad)
            y = toward(x, bad if x == good else good)
            if min(good, bad) < y < max(good, bad):
                yield y
                good, g_good, bad, g_bad = _narrow(y, box[0], good, g_good, bad, g_bad)
        if abs(bad - good) > 0.5 * width:  # a kink in between: bisect once
            mid = 0.5 * (good + bad)
            if mid in (good, bad):
                break
            yield mid
            good, g_good, bad, g_bad = _narrow(mid, box[0], good, g_good, bad, g_bad)
    box[1] = bad


@jitable
def float_ordinal(x: float) -> int:
    """The position of a float ``x >= 0`` on the float line: its IEEE 754 bits as an integer
    (adjacent floats differ by 1, order kept; ``inf`` is ``0x7FF0000000000000``).

    Notes
    -----
    ``x = m 2^e`` with ``m`` in [0.5, 1) (``math.frexp``): the biased exponent is ``e + 1022``
    and the fraction ``m 2^53 - 2^52``, so the bits are ``(e + 1021) 2^52 + m 2^53`` (exact);
    below 2^-1022 (subnormal) they are ``x 2^1074``.  IEEE 754-2019, section 3.4.
    """
    if x == math.inf:
        return _ORDINAL_INF
    if x < _TINY:
        return int(math.ldexp(x, 1074))
    m, e = math.frexp(x)
    return ((e + 1021) << 52) + int(math.ldexp(m, 53))


@jitable
def float_at_ordinal(o: int) -> float:
    """The float at position ``o`` (0 to ``0x7FF0000000000000``) of :func:`float_ordinal`."""
    if o >= _ORDINAL_INF:
        return math.inf
    biased = o >> 52
    fraction = o & _FRACTION
    if biased == 0:
        return math.ldexp(float(fraction), -1074)
    return math.ldexp(float(fraction + _HIDDEN), biased - 1075)


@jitable
def settle_probes(root: float, side: int, box: Float64Array1D | list[float]) -> Iterator[float]:
    """Yield the prices at which the account's own test checks a root of :func:`bracket_probes`.

    The caller stores ``g`` in the totals' arithmetic (:func:`unified_g_at`) of each yielded
    price in ``box[0]``; when the generator is exhausted ``box[1]`` holds the first float on the
    liquidated side by that test when it lies within :data:`SETTLE_REACH` floats of ``root``
    (``root`` itself or its neighbour in most accounts: the search sums the others' float total
    and its own term, the totals every term, which may differ by an ulp at the root; on accounts
    whose sums dwarf a position's term the totals cross thousands to millions of floats away),
    else ``root``.  ``side`` is +1 for a long (liquidated downwards), -1 for a short.  A root
    that is not a finite price >= 0: kept.

    Notes
    -----
    ``g`` in the totals' arithmetic is monotone in the price (correctly rounded sums of monotone
    terms), so the crossing is found on the float grid (:func:`float_ordinal`): test ``root``,
    then floats 1, 2, 4, ... away from it (towards liquidation when ``root`` is safe, towards
    safety when it is liquidated) until the state changes, then bisect the integers between the
    last float on ``root``'s side and the first beyond.  Two tests when ``root`` or its neighbour
    is the answer; at most ``2 log2(SETTLE_REACH) + 4``.  Both paths (Python and kernel) drive it
    the same way.
    """
    box[1] = root
    if not (math.isfinite(root) and root >= 0.0):
        return
    r = float_ordinal(root)
    yield root
    liquidated = box[0] <= 0.0
    # Towards safety from a liquidated root, else towards liquidation (a long's lies below).
    d = -1 if (side > 0) != liquidated else 1
    near = r  # the last float known on root's side
    # From a liquidated root the float past the reach's last one is tested too: the first safe
    # float shows where the liquidated side ends (a review found one 4 floats away kept the root).
    limit = SETTLE_REACH + 1 if liquidated else SETTLE_REACH
    step = 1
    while True:
        s = min(step, limit)
        o = min(max(r + d * s, 0), _ORDINAL_INF)
        if o == near:
            return
        yield float_at_ordinal(o)
        if (box[0] <= 0.0) != liquidated:
            far = o  # the first float known beyond
            while abs(far - near) > 1:
                mid = near + (far - near) // 2
                yield float_at_ordinal(mid)
                if (box[0] <= 0.0) != liquidated:
                    far = mid
                else:
                    near = mid
            box[1] = float_at_ordinal(near if liquidated else far)
            return
        if s == limit:
            return
        near = o
        step *= 2


def unified_account_py(
    q: Float64Array1D,
    entry_price: Float64Array1D,
    mark_price: Float64Array1D,
    fee_mm: Float64Array1D,
    table_id: Int64Array1D,
    tier_start: Int64Array1D,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    mm_at_entry: bool,
    asset_net: Float64Array1D,
    asset_price: Float64Array1D,
    asset_borrowed: Float64Array1D,
    asset_qty_basis: BoolArray1D,
    coll_start: Int64Array1D,
    floors: Float64Array1D,
    ratios: Float64Array1D,
    loan_mmr: float,
    settle: int,
    upnl_in_haircut: bool,
    liquidation_multiple: float,
    out: Float64Array2D,
    out_tier: np.ndarray,
    out_asset: Float64Array2D,
    totals: Float64Array1D,
) -> int:
    """Fill the figures of one unified account of N linear USDT positions and M collateral assets.

    Parameters
    ----------
    q, entry_price, mark_price : (N,) float64
        Signed base quantity (contracts x contract size), entry and mark prices (USDT).
    fee_mm : (N,) float64
        Rate on the notional added to the maintenance margin (OKX's taker fee; else 0).
    table_id : (N,) int64
        The tier table each position uses.
    tier_start : (K + 1,) int64
        Table ``t`` is ``caps/mmrs/cums[tier_start[t]:tier_start[t + 1]]``.
    caps, mmrs, cums : float64
        The K tables end to end (:mod:`levguard.kernels.margin`).
    mm_at_entry : bool
        Maintenance margin valued at the entry notional (Bybit) instead of at the mark.
    asset_net, asset_price, asset_borrowed : (M,) float64
        Per asset: coins net of loans, USD price, coins borrowed.
    asset_qty_basis : (M,) bool
        The asset's collateral tiers count coins (else USD value).
    coll_start : (M + 1,) int64
        Asset ``j``'s collateral tiers are ``floors/ratios[coll_start[j]:coll_start[j + 1]]``.
    floors, ratios : float64
        The collateral tiers (:func:`levguard.kernels.joint.haircut_value`).
    loan_mmr : float
        Maintenance rate of margin loans.
    settle : int
        The USDT asset (receives the PnL, values the positions' MM); -1 when absent (then N = 0).
    upnl_in_haircut : bool
        The PnL joins USDT before its collateral ratio (Binance PM, OKX) instead of at face value.
    liquidation_multiple : float
        ``c``: liquidated when ``equity <= c * MM``.
    out : (len(UNIFIED_OUT), N) float64
        Output rows :data:`UNIFIED_OUT`: notional at mark and at entry, uPnL, maintenance margin,
        liquidation and bankruptcy prices (NaN: none), health ``side * (mark - LP) / mark``.
    out_tier : (len(UNIFIED_TIER), N) int64
        Output rows :data:`UNIFIED_TIER`.
    out_asset : (len(UNIFIED_ASSET), M) float64
        Output rows :data:`UNIFIED_ASSET`: the amount counted and its value after haircut.
    totals : (len(UNIFIED_TOTAL),) float64
        Output :data:`UNIFIED_TOTAL`.

    Returns
    -------
    int
        :data:`STATUS_OK`, or :data:`STATUS_NOT_FINITE` when a sum is not finite (the outputs are
        then incomplete).

    Notes
    -----
    :func:`levguard.core.unified.evaluate_unified` step for step (formulas and sources there and
    in docs/unified.md): ``others = fsum_{a != USDT} h_a(n_a)``, ``loan MM = fsum_a borrowed_a *
    loan_mmr * P_a``, ``U = fsum_i uPnL_i``, ``MM_pos = fsum_i MM_i``, equity ``E(U)``, ``MM =
    P_USDT MM_pos + loan MM``; position ``i``'s liquidation (bankruptcy) price is the root of
    :func:`unified_g` with ``k = c`` (``k = 0``) and the other positions' PnL and MM taken as the
    sums less its own terms, settled by :func:`settle_probes` on :func:`unified_g_at` (the
    totals' sums: the account evaluated there is liquidatable, one float before it is not);
    collateral rows ``h_a(n_a (+ U))``; wallet ``fsum_a n_a P_a``.
    """
    n = q.shape[0]
    m = asset_net.shape[0]
    scratch = np.empty(max(n, m, 1) + MAX_PARTS + 2)  # the expansions, and u_terms (parts + 2)
    values = np.empty(max(m, 1))
    gp = np.zeros(_N_G)
    box = np.zeros(2)  # the root search's exchange: g at the price it yields, then the root
    # Assets: the haircut value of each one the PnL does not touch, the loans' MM, the wallet.
    s_floors = floors[0:0]
    s_ratios = ratios[0:0]
    k_val = 0
    for j in range(m):
        if j != settle:
            a, b = coll_start[j], coll_start[j + 1]
            values[k_val] = haircut_value(asset_net[j], asset_price[j], floors[a:b], ratios[a:b], asset_qty_basis[j])
            k_val += 1
    others = exact_sum(values[:k_val], scratch)
    for j in range(m):
        values[j] = asset_borrowed[j] * loan_mmr * asset_price[j]
    loan_mm = exact_sum(values[:m], scratch)
    for j in range(m):
        values[j] = asset_net[j] * asset_price[j]
    wallet = exact_sum(values[:m], scratch)
    if not (math.isfinite(others) and math.isfinite(loan_mm) and math.isfinite(wallet)):
        return STATUS_NOT_FINITE
    # Positions: notional, PnL, maintenance margin and tiers at the mark.
    for i in range(n):
        t = table_id[i]
        lo, hi = tier_start[t], tier_start[t + 1]
        c = caps[lo:hi]
        qi = q[i]
        notional = position_notional(qi, mark_price[i], False)
        notional_entry = position_notional(qi, entry_price[i], False)
        basis = notional_entry if mm_at_entry else notional
        kt = tier_index(basis, c)
        out[_NOTIONAL, i] = notional
        out[_NOTIONAL_ENTRY, i] = notional_entry
        out[_UPNL, i] = position_upnl(qi, entry_price[i], mark_price[i], False)
        out[_MM, i] = mm_in_tier(basis, mmrs[lo + kt], cums[lo + kt]) + fee_mm[i] * notional
        out_tier[_T_MM, i] = kt
        out_tier[_T_LEV_MARK, i] = leverage_tier_index(notional, c)
        out_tier[_T_LEV_ENTRY, i] = leverage_tier_index(notional_entry, c)
    upnl_total = exact_sum(out[_UPNL], scratch)
    mm_total = exact_sum(out[_MM], scratch)
    if not (math.isfinite(upnl_total) and math.isfinite(mm_total)):
        return STATUS_NOT_FINITE
    # The account: equity after collateral ratios and maintenance margin (USD).
    gp[_G_OTHERS_VALUE] = others
    gp[_G_LOAN_MM] = loan_mm
    gp[_G_UPNL_IN_HAIRCUT] = 1.0 if upnl_in_haircut else 0.0
    gp[_G_MM_AT_ENTRY] = 1.0 if mm_at_entry else 0.0
    if settle >= 0:
        a, b = coll_start[settle], coll_start[settle + 1]
        s_floors = floors[a:b]
        s_ratios = ratios[a:b]
        gp[_G_HAS_SETTLE] = 1.0
        gp[_G_SETTLE_NET] = asset_net[settle]
        gp[_G_SETTLE_PRICE] = asset_price[settle]
        gp[_G_SETTLE_QTY_BASIS] = 1.0 if asset_qty_basis[settle] else 0.0
        gp[_G_SETTLE_VALUE] = haircut_value(
            asset_net[settle], asset_price[settle], s_floors, s_ratios, asset_qty_basis[settle]
        )
    equity = unified_equity(upnl_total, gp, s_floors, s_ratios)
    mm_price = asset_price[settle] if settle >= 0 else 1.0
    totals[_TOT_UPNL] = upnl_total
    totals[_TOT_POS_MM] = mm_total
    totals[_TOT_EQUITY] = equity
    totals[_TOT_MM] = mm_price * mm_total + loan_mm
    totals[_TOT_WALLET] = wallet
    # Each position's liquidation and bankruptcy prices, every other mark held fixed: searched on
    # the others' float sums, then settled on the totals' correctly rounded sums.
    parts = np.empty(MAX_PARTS)
    n_u = expansion(out[_UPNL], parts, scratch)
    u_terms = np.empty(n_u + 2)
    u_terms[:n_u] = parts[:n_u]
    n_m = expansion(out[_MM], parts, scratch)
    m_terms = np.empty(n_m + 2)
    m_terms[:n_m] = parts[:n_m]
    for i in range(n):
        t = table_id[i]
        lo, hi = tier_start[t], tier_start[t + 1]
        qi = q[i]
        gp[_G_Q] = qi
        gp[_G_ENTRY] = entry_price[i]
        gp[_G_NOTIONAL_ENTRY] = out[_NOTIONAL_ENTRY, i]
        gp[_G_FEE_MM] = fee_mm[i]
        gp[_G_OTHER_UPNL] = upnl_total - out[_UPNL, i]
        gp[_G_OTHER_MM] = mm_total - out[_MM, i]
        u_terms[n_u] = -out[_UPNL, i]
        m_terms[n_m] = -out[_MM, i]
        mark = mark_price[i]
        side = 1 if qi > 0.0 else -1
        c, r, d = caps[lo:hi], mmrs[lo:hi], cums[lo:hi]
        for x in bracket_probes(mark, side, box, _toward):
            box[0] = unified_g(x, liquidation_multiple, gp, c, r, d, s_floors, s_ratios)
        for x in settle_probes(box[1], side, box):
            box[0] = unified_g_at(x, liquidation_multiple, gp, c, r, d, s_floors, s_ratios, u_terms, m_terms, scratch)
        lp = out[_LIQUIDATION, i] = box[1]
        for x in bracket_probes(mark, side, box, _toward):
            box[0] = unified_g(x, 0.0, gp, c, r, d, s_floors, s_ratios)
        for x in settle_probes(box[1], side, box):
            box[0] = unified_g_at(x, 0.0, gp, c, r, d, s_floors, s_ratios, u_terms, m_terms, scratch)
        out[_BANKRUPTCY, i] = box[1]
        out[_HEALTH, i] = side * (mark - lp) / mark if math.isfinite(lp) else math.nan
    # Collateral rows: the amount counted (the PnL joins USDT where it takes the haircut).
    for j in range(m):
        amount = asset_net[j] + (upnl_total if upnl_in_haircut and j == settle else 0.0)
        a, b = coll_start[j], coll_start[j + 1]
        out_asset[_A_AMOUNT, j] = amount
        out_asset[_A_VALUE, j] = haircut_value(amount, asset_price[j], floors[a:b], ratios[a:b], asset_qty_basis[j])
    return STATUS_OK


unified_account_nb = jit(unified_account_py)
