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

from levguard._typing import Float64Array1D, Float64Array2D, Int64Array1D
from levguard.kernels._jit import jit, jitable


@jitable
def tier_index(notional: float, caps: Float64Array1D) -> int:
    """Return the index of the tier containing ``notional`` (floor inclusive, cap exclusive).

    Notionals beyond the last cap use the last tier.
    """
    n: int = caps.shape[0]
    for k in range(n - 1):
        if notional < caps[k]:
            return k
    return n - 1


@jitable
def tiered_mm(notional: float, caps: Float64Array1D, mmrs: Float64Array1D, cums: Float64Array1D) -> float:
    """Return the tiered maintenance margin ``notional * mmr_k - cum_k``.

    Notes
    -----
    Binance USDⓈ-M FAQ "Leverage and Margin": MM = notional x MMR(bracket) - maintenance
    amount; Bybit, Hyperliquid use the same form with their deduction.
    """
    k = tier_index(notional, caps)
    rate: float = mmrs[k]
    amount: float = cums[k]
    return notional * rate - amount


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
    long = q > 0.0
    if inverse:
        a = collateral - k_const + q / entry_price
        s = -1.0 if long else 1.0
    else:
        a = collateral - k_const - q * entry_price
        s = 1.0 if long else -1.0
    # f at n = 0 (first tier): if it already has the sign f keeps for all n > 0, no root.
    if s * (a + cums[0]) >= 0.0:
        return math.nan
    n_tiers = caps.shape[0]
    k = n_tiers - 1
    for j in range(n_tiers - 1):
        f_cap = a + cums[j] + (s - mmrs[j] - fee) * caps[j]
        if s * f_cap >= 0.0:
            k = j
            break
    slope = s - mmrs[k] - fee
    if s * slope <= 0.0:
        return math.nan
    n_star: float = -(a + cums[k]) / slope
    if not n_star > 0.0:
        return math.nan
    price = abs(q) / n_star if inverse else n_star / abs(q)
    if not (price > 0.0 and price < math.inf):
        return math.nan
    return price


def isolated_linear_py(
    q: Float64Array1D,
    entry_price: Float64Array1D,
    margin: Float64Array1D,
    mark_price: Float64Array1D,
    fee: float,
    mm_at_entry: bool,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    out_liq: Float64Array1D,
    out_mm: Float64Array1D,
    out_ratio: Float64Array1D,
) -> None:
    """Fill liquidation price, maintenance margin and margin ratio of N isolated linear positions.

    Parameters
    ----------
    q, entry_price, margin, mark_price : (N,) float64
        Signed base quantity, entry price, isolated margin, mark price.
    fee : float
        Rate added to the maintenance rate at the liquidation price (OKX/Gate taker term).
    mm_at_entry : bool
        Value maintenance margin at the entry notional (Bybit, BitMEX) instead of at price.
    caps, mmrs, cums : (T,) float64
        The shared tier table.
    out_liq, out_mm, out_ratio : (N,) float64
        Outputs: liquidation price (NaN if none), maintenance margin at mark and
        ``MM / margin balance`` at mark (inf when the margin balance is not positive).
    """
    zero_caps = np.full(1, np.inf)
    zero = np.zeros(1)
    for i in range(q.shape[0]):
        qi = q[i]
        ep = entry_price[i]
        n_mark = abs(qi) * mark_price[i]
        if mm_at_entry:
            k_const = tiered_mm(abs(qi) * ep, caps, mmrs, cums)
            out_liq[i] = solve_liquidation_price(qi, ep, margin[i], k_const, fee, False, zero_caps, zero, zero)
            mm = k_const + fee * n_mark
        else:
            out_liq[i] = solve_liquidation_price(qi, ep, margin[i], 0.0, fee, False, caps, mmrs, cums)
            mm = tiered_mm(n_mark, caps, mmrs, cums) + fee * n_mark
        out_mm[i] = mm
        balance = margin[i] + qi * (mark_price[i] - ep)
        out_ratio[i] = mm / balance if balance > 0.0 else np.inf


def isolated_linear_multi_py(
    q: Float64Array1D,
    entry_price: Float64Array1D,
    margin: Float64Array1D,
    mark_price: Float64Array1D,
    fee: float,
    mm_at_entry: bool,
    table_ids: Int64Array1D,
    caps: Float64Array2D,
    mmrs: Float64Array2D,
    cums: Float64Array2D,
    out_liq: Float64Array1D,
    out_mm: Float64Array1D,
    out_ratio: Float64Array1D,
) -> None:
    """Per-position tier tables: as :func:`isolated_linear_py` with ``table_ids[i]`` selecting
    a row of the (M, T) tables (rows padded with ``inf`` caps past their last tier)."""
    zero_caps = np.full(1, np.inf)
    zero = np.zeros(1)
    for i in range(q.shape[0]):
        t = table_ids[i]
        c = caps[t]
        m = mmrs[t]
        u = cums[t]
        qi = q[i]
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
