"""Margin and liquidation kernels, written once in plain Python and compiled by numba.

Conventions shared by every function here:

* ``q`` is the signed position size in *settlement-neutral units*: base-currency units for a
  linear contract (contracts x contract size) and quote-currency units (e.g. USD) for an inverse
  contract (contracts x contract face value).
* A tier table is three aligned arrays ``caps``, ``mmrs``, ``cums``: the notional cap, the
  maintenance margin rate and the maintenance amount (deduction) of each tier.  Tier ``k`` covers
  notionals ``[caps[k-1], caps[k])`` with ``caps[-1] = inf``; the first floor is 0.  Notionals
  are in the settlement currency (quote for linear, coin for inverse).
* ``collateral`` is the margin the position can draw on before it is bankrupt: the isolated
  margin, or for cross margin ``wallet + uPnL(others) - MM(others)``.
* ``k_const`` is a maintenance margin that does not move with price (Bybit and BitMEX value
  maintenance margin at entry; Bybit's inverse close fee at the bankruptcy price).
* ``fee`` is a rate on the notional at the liquidation price added to the tier's rate
  (OKX's and Gate's taker-fee term).

Failure is a value: a missing liquidation price is NaN, never an exception.
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jit, jitable
from levguard.typing import BoolArray1D, Float64Array1D, Float64Array2D, Int64Array1D


@jitable
def tier_index(notional: float, caps: Float64Array1D) -> int:
    """Return the index of the tier containing ``notional`` (floor inclusive, cap exclusive).

    Notionals beyond the last cap (and NaN) use the last tier.
    """
    # Branch-free first hit: scan every cap from the top and keep the lowest that holds (no
    # early exit, so compiled callers carry no unpredictable branch).
    n: int = caps.shape[0]
    k = n - 1
    for j in range(n - 2, -1, -1):
        if notional < caps[j]:
            k = j
    return k


@jitable
def leverage_tier_index(notional: float, caps: Float64Array1D) -> int:
    """Return the index of the tier whose leverage limit applies to ``notional`` (cap inclusive).

    Notes
    -----
    :func:`tier_index`, one tier lower when ``notional`` is at most the previous tier's cap
    (within a relative 1e-12): a bracket's notional cap is a position limit and includes the
    cap (Binance USDⓈ-M "Leverage and Margin", ``notionalCap``; Bybit's risk limit "position
    value <= riskLimitValue"), so a notional exactly at a cap keeps that bracket's leverage.
    """
    k = tier_index(notional, caps)
    if k > 0 and notional <= caps[k - 1] * (1.0 + 1e-12):
        k -= 1
    return k


@jitable
def tiered_mm(notional: float, caps: Float64Array1D, mmrs: Float64Array1D, cums: Float64Array1D) -> float:
    """Return the tiered maintenance margin ``notional * mmr_k - cum_k``.

    Notes
    -----
    Binance USDⓈ-M FAQ "Leverage and Margin": MM = notional x MMR(bracket) - maintenance
    amount; Bybit, Hyperliquid use the same form with their deduction.
    """
    k = tier_index(notional, caps)
    return mm_in_tier(notional, mmrs[k], cums[k])


@jitable
def mm_in_tier(notional: float, mmr: float, cum: float) -> float:
    """Return the maintenance margin ``notional * mmr - cum`` of one tier (see :func:`tiered_mm`)."""
    return notional * mmr - cum


@jitable
def size_tier_mm(
    notional: float, size: float, caps: Float64Array1D, mmrs: Float64Array1D, cums: Float64Array1D
) -> float:
    """Return the maintenance margin of a position of ``size`` on tiers counted by position size
    (``caps`` are sizes): the tier holding ``size`` applies to the whole ``notional``
    (:func:`mm_in_tier`; such tiers carry no amount).

    Notes
    -----
    OKX counts position tiers in contracts (``minSz``/``maxSz`` of ``GET
    /api/v5/public/position-tiers``); the price moves the notional, not the tier
    (:meth:`levguard.core.tiers.TierTable.at_quantity`).
    """
    k = tier_index(size, caps)
    return mm_in_tier(notional, mmrs[k], cums[k])


@jitable
def size_scaled_rate(rate: float, size_coef: float, size: float) -> float:
    """Return ``rate + size_coef * |size|``: a margin rate that grows linearly with the position size.

    ``size`` in the units the venue counts (base units for Deribit's linear perpetuals);
    ``size_coef`` 0 leaves ``rate`` as it is.

    Notes
    -----
    Deribit, "Linear Perpetual" (support.deribit.com/hc/en-us/articles/25944738177565): BTC_USDC
    initial margin rate 2 % + size_BTC x 0.005 %, maintenance rate 1 % + size_BTC x 0.005 %
    (350 BTC: IM 3.75 %).  The margin engine (:func:`levguard.core.rules.deribit.size_scaled_rates`)
    and the backtester (:mod:`levguard.kernels.backtest_liquidation`, the initial-margin check of
    :mod:`levguard.kernels.backtest`) read it here.
    """
    return rate + size_coef * abs(size)


@jitable
def position_notional(q: float, price: float, inverse: bool) -> float:
    """Return the notional in the settlement currency: ``|q| * price`` or ``|q| / price``."""
    if inverse:
        return abs(q) / price
    return abs(q) * price


@jitable
def position_upnl(q: float, entry_price: float, price: float, inverse: bool) -> float:
    """Return the unrealised PnL in the settlement currency at ``price``.

    Notes
    -----
    Linear: ``q * (P - EP)``.  Inverse: ``q * (1/EP - 1/P)`` (coin-settled, e.g. Binance COIN-M).
    """
    if inverse:
        return q * (1.0 / entry_price - 1.0 / price)
    return q * (price - entry_price)


@jitable
def solve_liquidation_price(
    q: float,
    entry_price: float,
    collateral: float,
    k_const: float,
    fee: float,
    inverse: bool,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
) -> float:
    """Return the price at which margin balance equals maintenance margin, or NaN.

    Solves ``collateral + uPnL(P) = MM(notional(P)) + fee * notional(P) + k_const`` for the mark
    price ``P`` of one position, with a tiered, continuous maintenance margin.  NaN means no
    positive liquidation price: the position is never liquidated by its own price moving, or
    it is liquidatable at every price.

    Notes
    -----
    Written in notional space ``n``: with ``a = C - k - q*EP`` (linear) or ``a = C - k + q/EP``
    (inverse) the distance to liquidation is ``f(n) = a + cum_k + (s - mmr_k - fee) * n`` with
    ``s = +1`` for linear longs and inverse shorts and ``-1`` otherwise, so ``f`` is monotone
    in ``n`` and piecewise linear.  The root lies in the first tier whose cap satisfies
    ``s * f(cap) >= 0``; that tier's rate and amount give it in closed form.  This is the
    Binance bracket re-selection rule (COIN-M FAQ: recompute with the bracket of the notional
    at the liquidation price) made exact: the selected bracket is the one the liquidation
    price falls in.  With one tier it reduces to Binance's one-way formula
    ``LP = (WB - TMM1 + UPNL1 + cum - s*Q*EP) / (Q*MMR - s*Q)`` (USDⓈ-M) and its COIN-M form.
    """
    if q == 0.0:
        return math.nan
    s = lp_side(q, inverse)
    a = lp_offset(q, entry_price, collateral, k_const, inverse)
    # f at n = 0 (first tier): if it already has the sign f keeps for all n > 0, no root.
    if lp_no_root(a, s, cums[0]):
        return math.nan
    # The first tier whose cap passes the test, found branch-free as in tier_index.
    n_tiers = caps.shape[0]
    k = n_tiers - 1
    for j in range(n_tiers - 2, -1, -1):
        if lp_root_by_cap(a, s, fee, caps[j], mmrs[j], cums[j]):
            k = j
    floor = caps[k - 1] if k > 0 else 0.0
    return lp_in_tier(abs(q), a, s, fee, mmrs[k], cums[k], floor, inverse)


@jitable
def close_fee_at_bankruptcy(q: float, entry_price: float, wallet: float, rate: float, inverse: bool) -> float:
    """Return the fee to close ``q`` at its bankruptcy price on ``wallet`` alone,
    ``|q| * rate / BP`` (0 without a fee rate or a bankruptcy price).

    ``BP`` solves ``wallet + uPnL(P) = rate * notional(P)``: :func:`solve_liquidation_price` with
    no tier and no constant, evaluated from its pieces (bitwise the same).

    Notes
    -----
    Bybit's inverse cross-margin equation (help.bybit.com 360039261334, "How to calculate
    Liquidation Price (Inverse Contract)") counts ``Qty x fee / BP`` in the maintenance margin:
    AB 0.5 BTC, long 10,000 contracts @ 8,000, fee 0.075 % -> BP 5,718.57.  The bankruptcy
    price is on the position's own collateral (the wallet), so the term does not move with other
    positions' marks; the margin engine, its cross kernel and the backtester all take it here.
    """
    if not rate > 0.0 or q == 0.0:
        return 0.0
    s = lp_side(q, inverse)
    a = lp_offset(q, entry_price, wallet, 0.0, inverse)
    if lp_no_root(a, s, 0.0):
        return 0.0
    bp = lp_in_tier(abs(q), a, s, rate, 0.0, 0.0, 0.0, inverse)
    if not math.isfinite(bp):
        return 0.0
    return abs(q) * rate / bp


# The pieces of :func:`solve_liquidation_price`, shared with the block kernel below so that both
# evaluate the same expressions in the same order (bitwise-identical results).


@jitable
def lp_side(q: float, inverse: bool) -> float:
    """Return ``s``: +1 for linear longs and inverse shorts, -1 otherwise (``q != 0``)."""
    if inverse:
        return -1.0 if q > 0.0 else 1.0
    return 1.0 if q > 0.0 else -1.0


@jitable
def lp_offset(q: float, entry_price: float, collateral: float, k_const: float, inverse: bool) -> float:
    """Return ``a = C - k - q*EP`` (linear) or ``a = C - k + q/EP`` (inverse)."""
    if inverse:
        return collateral - k_const + q / entry_price
    return collateral - k_const - q * entry_price


@jitable
def lp_no_root(a: float, s: float, cum0: float) -> bool:
    """Return whether ``s * f(0) >= 0`` in the first tier, i.e. no positive root exists."""
    return s * (a + cum0) >= 0.0


@jitable
def lp_root_by_cap(a: float, s: float, fee: float, cap: float, mmr: float, cum: float) -> bool:
    """Return whether ``s * f(cap) >= 0`` with this tier's rate: the root is at or below ``cap``."""
    return s * (a + cum + (s - mmr - fee) * cap) >= 0.0


@jitable
def lp_in_tier(
    abs_q: float, a: float, s: float, fee: float, mmr: float, cum: float, floor: float, inverse: bool
) -> float:
    """Return the liquidation price from the root ``n* = -(a + cum) / (s - mmr - fee)`` of the
    selected tier (at least its ``floor``), or NaN when the slope has the wrong sign or the price
    is not positive/finite.

    Notes
    -----
    With deductions by continuity the root lies in the selected tier.  Without them (OKX,
    BitMEX: the tier's rate on the whole position) the maintenance margin jumps up at each cap,
    and where ``s = -1`` the jump itself can cross the balance: the root of the selected tier's
    line then lies below its floor, and the position is liquidated where its notional reaches
    the floor (the price at which the higher rate starts to apply).
    """
    slope = s - mmr - fee
    if s * slope <= 0.0:
        return math.nan
    n_star: float = -(a + cum) / slope
    on_step = n_star < floor
    if on_step:
        n_star = floor
    if not n_star > 0.0:
        return math.nan
    price: float = abs_q / n_star if inverse else n_star / abs_q
    if not (price > 0.0 and price < math.inf):
        return math.nan
    if on_step:  # the rounded price must hold a notional of at least the floor (the higher rate)
        for _ in range(4):
            if (abs_q / price if inverse else abs_q * price) >= floor:
                break
            price = np.nextafter(price, 0.0) if inverse else np.nextafter(price, math.inf)
    return price


# Positions per block of the vectorized kernel: the block's scratch rows stay in L1.
_BLOCK = 512
BLOCK: int = _BLOCK
"""Positions per block of :func:`isolated_linear_py` (the length of scratch ``out_mm``/``out_ratio``)."""


AMOUNT_MIN = 1e-30
"""Smallest non-zero magnitude of a size, price or margin (``levguard.core.validate.NUMBER_MIN``)."""
AMOUNT_MAX = 1e30
"""Largest magnitude of a size, price or margin (``levguard.core.validate.NUMBER_MAX``): products
and quotients of a few such numbers stay far inside float64, so no margin overflows to NaN."""


@jitable
def first_invalid_row(
    q: Float64Array1D, entry_price: Float64Array1D, margin: Float64Array1D, mark_price: Float64Array1D
) -> int:
    """Return the first row whose ``|q|`` or a price or margin lies outside
    ``[AMOUNT_MIN, AMOUNT_MAX]`` (zero, negative, non-finite or absurd), or ``-1``, as the account
    evaluator refuses them.  One branch-free pass over the four arrays (NaN fails every
    comparison); the row is only searched for when one is bad."""
    n = q.shape[0]
    n_bad = 0
    for i in range(n):
        ok = (
            (abs(q[i]) >= AMOUNT_MIN)
            & (abs(q[i]) <= AMOUNT_MAX)
            & (entry_price[i] >= AMOUNT_MIN)
            & (entry_price[i] <= AMOUNT_MAX)
            & (margin[i] >= AMOUNT_MIN)
            & (margin[i] <= AMOUNT_MAX)
            & (mark_price[i] >= AMOUNT_MIN)
            & (mark_price[i] <= AMOUNT_MAX)
        )
        n_bad += 0 if ok else 1
    if n_bad == 0:
        return -1
    for i in range(n):
        if not (
            AMOUNT_MIN <= abs(q[i]) <= AMOUNT_MAX
            and AMOUNT_MIN <= entry_price[i] <= AMOUNT_MAX
            and AMOUNT_MIN <= margin[i] <= AMOUNT_MAX
            and AMOUNT_MIN <= mark_price[i] <= AMOUNT_MAX
        ):
            return i
    return -1


def isolated_linear_py(
    q: Float64Array1D,
    entry_price: Float64Array1D,
    margin: Float64Array1D,
    mark_price: Float64Array1D,
    fee: float,
    mm_at_entry: bool,
    by_size: bool,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    out_liq: Float64Array1D,
    out_mm: Float64Array1D,
    out_ratio: Float64Array1D,
) -> int:
    """Fill liquidation price, maintenance margin and margin ratio of N isolated linear positions.

    Parameters
    ----------
    q, entry_price, margin, mark_price : (N,) float64
        Signed base quantity, entry price, isolated margin, mark price.
    fee : float
        Rate added to the maintenance rate at the liquidation price (OKX/Gate taker term).
    mm_at_entry : bool
        Value maintenance margin at the entry notional (Bybit, BitMEX) instead of at price.
    by_size : bool
        The caps are position sizes ``|q|`` (OKX counts its tiers in contracts): each position
        is in the tier of its size at every price, so its liquidation price is solved with that
        one tier (:meth:`levguard.core.tiers.TierTable.at_quantity`, as the margin engine does).
    caps, mmrs, cums : (T,) float64
        The shared tier table.
    out_liq, out_mm, out_ratio : (N,) float64
        Outputs: liquidation price (NaN if none), maintenance margin at mark and
        ``MM / margin balance`` at mark (inf when the margin balance is not positive).
        ``out_mm`` and ``out_ratio`` may instead have length :data:`BLOCK`: they
        are then scratch, overwritten block by block, and only ``out_liq`` holds results.

    Returns
    -------
    int
        ``-1`` when every input row is valid, else the index of the first row with a
        non-finite value, a zero quantity or a non-positive price or margin (validation fused
        into the pass: the rows of a block are checked before the block is computed; the
        outputs of that block and later ones are then not written).

    Notes
    -----
    Per position the result is bit for bit that of :func:`tiered_mm` and
    :func:`solve_liquidation_price` (what :func:`levguard.margin.evaluate_account` calls): the
    same helpers evaluate the same expressions in the same order.  Only the loop order differs,
    for speed: positions are taken in blocks of ``_BLOCK`` whose scratch rows stay in L1, and
    within a block the loop over tiers is outside the loop over positions, so that every inner
    loop is branch-free and SIMD-vectorized.  Each tier search keeps, per position, the first
    tier whose test holds, and stops once every position of the block has found its tier.
    """
    n = q.shape[0]
    t = caps.shape[0]
    # MM fixed at entry: the liquidation price is solved with one zero tier and k_const = MM; by
    # size with one tier, the size's (its rate set per position below).
    one_tier = mm_at_entry or by_size
    lp_caps = np.full(1, np.inf) if one_tier else caps
    lp_mmrs = np.zeros(1) if one_tier else mmrs
    lp_cums = np.zeros(1) if one_tier else cums
    t_lp = lp_caps.shape[0]
    mm_notional = np.empty(_BLOCK)
    mm_rate = np.empty(_BLOCK)
    mm_cum = np.empty(_BLOCK)
    mm_found = np.empty(_BLOCK)
    lp_a = np.empty(_BLOCK)
    lp_s = np.empty(_BLOCK)
    lp_rate = np.empty(_BLOCK)
    lp_cum = np.empty(_BLOCK)
    lp_floor = np.empty(_BLOCK)
    lp_found = np.empty(_BLOCK)
    keep_all = out_mm.shape[0] == n
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        qb = q[start : start + m]
        eb = entry_price[start : start + m]
        gb = margin[start : start + m]
        kb = mark_price[start : start + m]
        bad = first_invalid_row(qb, eb, gb, kb)
        if bad >= 0:
            return start + bad
        liq_b = out_liq[start : start + m]
        mm_b = out_mm[start : start + m] if keep_all else out_mm[:m]
        ratio_b = out_ratio[start : start + m] if keep_all else out_ratio[:m]

        # Maintenance tier of the notional at mark (or at entry), or of the size: tier_index.
        for i in range(m):
            mm_notional[i] = abs(qb[i]) * (eb[i] if mm_at_entry else kb[i])
            mm_rate[i] = mmrs[t - 1]
            mm_cum[i] = cums[t - 1]
            mm_found[i] = 0.0
        found = 0
        for j in range(t - 1):
            if found == m:
                break
            cap, rate, cum = caps[j], mmrs[j], cums[j]
            for i in range(m):
                key = abs(qb[i]) if by_size else mm_notional[i]  # by size: the size's tier
                hit = (mm_found[i] == 0.0) & (key < cap)
                mm_rate[i] = rate if hit else mm_rate[i]
                mm_cum[i] = cum if hit else mm_cum[i]
                mm_found[i] = 1.0 if hit else mm_found[i]
                found += 1 if hit else 0

        # Maintenance margin, margin ratio and the solver's (a, s).
        for i in range(m):
            qi = qb[i]
            ep = eb[i]
            tier_mm = mm_in_tier(mm_notional[i], mm_rate[i], mm_cum[i])
            k_const = tier_mm if mm_at_entry else 0.0
            mm = tier_mm + fee * (abs(qi) * kb[i])
            mm_b[i] = mm
            balance = gb[i] + qi * (kb[i] - ep)
            ratio_b[i] = mm / balance if balance > 0.0 else np.inf
            # q = 0 has no liquidation price: a NaN offset carries that through to the solve.
            lp_a[i] = lp_offset(qi, ep, gb[i], k_const, False) if qi != 0.0 else math.nan
            lp_s[i] = lp_side(qi, False)
            lp_rate[i] = mm_rate[i] if by_size and not mm_at_entry else lp_mmrs[t_lp - 1]
            lp_cum[i] = lp_cums[t_lp - 1]
            lp_floor[i] = lp_caps[t_lp - 2] if t_lp > 1 else 0.0
            lp_found[i] = 0.0

        # Tier of the liquidation price: first cap with s * f(cap) >= 0.
        found = 0
        for j in range(t_lp - 1):
            if found == m:
                break
            cap, rate, cum = lp_caps[j], lp_mmrs[j], lp_cums[j]
            floor = lp_caps[j - 1] if j > 0 else 0.0
            for i in range(m):
                hit = (lp_found[i] == 0.0) & lp_root_by_cap(lp_a[i], lp_s[i], fee, cap, rate, cum)
                lp_rate[i] = rate if hit else lp_rate[i]
                lp_cum[i] = cum if hit else lp_cum[i]
                lp_floor[i] = floor if hit else lp_floor[i]
                lp_found[i] = 1.0 if hit else lp_found[i]
                found += 1 if hit else 0

        cum0 = lp_cums[0]
        for i in range(m):
            a = lp_a[i]
            s = lp_s[i]
            lp = lp_in_tier(abs(qb[i]), a, s, fee, lp_rate[i], lp_cum[i], lp_floor[i], False)
            liq_b[i] = math.nan if lp_no_root(a, s, cum0) else lp
    return -1


def isolated_linear_multi_py(
    q: Float64Array1D,
    entry_price: Float64Array1D,
    margin: Float64Array1D,
    mark_price: Float64Array1D,
    fee: float,
    mm_at_entry: bool,
    table_ids: Int64Array1D,
    by_size: BoolArray1D,
    caps: Float64Array2D,
    mmrs: Float64Array2D,
    cums: Float64Array2D,
    out_liq: Float64Array1D,
    out_mm: Float64Array1D,
    out_ratio: Float64Array1D,
) -> int:
    """Per-position tier tables: as :func:`isolated_linear_py` with ``table_ids[i]`` selecting
    a row of the (M, T) tables (rows padded with ``inf`` caps past their last tier), tiers by
    size where ``by_size[table_ids[i]]``.  Returns ``-1``, or the first invalid row (checked
    before anything is written)."""
    bad = first_invalid_row(q, entry_price, margin, mark_price)
    if bad >= 0:
        return bad
    zero_caps = np.full(1, np.inf)
    zero = np.zeros(1)
    for i in range(q.shape[0]):
        t = table_ids[i]
        c = caps[t]
        m = mmrs[t]
        u = cums[t]
        qi = q[i]
        if by_size[t]:  # the one tier of the size at every price
            kt = tier_index(abs(qi), c)
            c, m, u = zero_caps, m[kt : kt + 1], zero
        ep = entry_price[i]
        n_mark = abs(qi) * mark_price[i]
        if mm_at_entry:
            k_const = tiered_mm(abs(qi) * ep, c, m, u)
            out_liq[i] = solve_liquidation_price(qi, ep, margin[i], k_const, fee, False, zero_caps, zero, zero)
            mm = k_const + fee * n_mark
        else:
            out_liq[i] = solve_liquidation_price(qi, ep, margin[i], 0.0, fee, False, c, m, u)
            mm = tiered_mm(n_mark, c, m, u) + fee * n_mark
        out_mm[i] = mm
        balance = margin[i] + qi * (mark_price[i] - ep)
        out_ratio[i] = mm / balance if balance > 0.0 else np.inf
    return -1


def numpy_isolated_linear_liq(
    q: Float64Array1D,
    entry_price: Float64Array1D,
    margin: Float64Array1D,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
) -> Float64Array1D:
    """Plain NumPy baseline of the liquidation price (benchmark reference, Binance rule).

    Evaluates the closed form for every tier over the whole array and keeps, per position,
    the candidate whose notional falls inside its tier (the textbook vectorisation of the
    bracket re-selection rule).  Kept for benchmarks and as an independent parity check.
    """
    absq = np.abs(q)
    side = np.sign(q)
    floors = np.concatenate(([0.0], caps[:-1]))
    best = np.full(q.shape[0], np.nan)
    for k in range(caps.shape[0]):
        lp = (margin + cums[k] - q * entry_price) / (absq * mmrs[k] - q)
        n = absq * lp
        ok = (n >= floors[k] * (1 - 1e-12)) & (n <= caps[k] * (1 + 1e-12)) & (lp > 0)
        best = np.where(ok & np.isnan(best), lp, best)
    del side
    return best


isolated_linear_nb = jit(isolated_linear_py)
isolated_linear_multi_nb = jit(isolated_linear_multi_py)
