"""An account's equity and maintenance margin under many joint price scenarios (one kernel).

The account is flattened into arrays (built by :mod:`levguard.core.risk.joint_stress`):
positions (signed size ``q``, entry, mark, linear or inverse, tier table, fee term, which moved
asset reprices the mark) and collateral assets (net coins, USD price, margin-loan MM in coins,
progressive collateral tiers, which moved asset reprices them).  A scenario is one row of
``factors``: the price multiplier of each moved asset.  A single-wallet cross account is the
special case of one collateral row (its wallet, price 1, ratio 1) that no scenario moves.

Failure is a value: a NaN factor yields NaN equity and maintenance margin.
"""

from __future__ import annotations

import numpy as np

from levguard.kernels._jit import jit, jitable
from levguard.kernels.margin import position_notional, position_upnl, tiered_mm
from levguard.typing import BoolArray1D, Float64Array1D, Float64Array2D, Int64Array1D

__all__ = ["account_scenarios_nb", "account_scenarios_py", "haircut_value"]


@jitable
def haircut_value(
    amount: float, price: float, floors: Float64Array1D, ratios: Float64Array1D, qty_basis: bool
) -> float:
    """Return the USD value after progressive collateral ratios of ``amount`` coins at ``price``.

    Notes
    -----
    ``value = sum_k r_k * (min(x, f_{k+1}) - f_k)^+`` with ``x`` the amount (``qty_basis``, then
    times the price) or its USD value; a debt (``amount <= 0``) counts at face value (Bybit
    "Understanding Collateral Value Ratios in Unified Trading Account"; Binance "Cross Margin
    Collateral Haircuts").  The one implementation: :meth:`levguard.core.rules.collateral.
    CollateralTiers.value` calls it, and so does the scenario loop.
    """
    if amount <= 0.0:
        return amount * price
    x = amount if qty_basis else amount * price
    covered = 0.0
    n = floors.shape[0]
    # A while loop, not ``for ... break`` (numba compiles that one about 30x slower here); it
    # stops at the first tier whose floor is at or above x (NaN never stops early).
    k = 0
    while k < n and not x <= floors[k]:
        lo = floors[k]
        hi = floors[k + 1] if k + 1 < n else np.inf
        covered += ratios[k] * (min(x, hi) - lo)
        k += 1
    return covered * price if qty_basis else covered


@jitable
def _moved(value: float, move: int, factors: Float64Array2D, s: int) -> float:
    # A mark or price in scenario s: times the multiplier of the asset that moves it (move < 0: none).
    if move >= 0:
        moved: float = value * factors[s, move]
        return moved
    return value


def account_scenarios_py(
    factors: Float64Array2D,
    pos_q: Float64Array1D,
    pos_entry: Float64Array1D,
    pos_mark: Float64Array1D,
    pos_inverse: BoolArray1D,
    pos_move: Int64Array1D,
    pos_mark_basis: BoolArray1D,
    pos_mm_const: Float64Array1D,
    pos_fee_mm: Float64Array1D,
    tier_start: Int64Array1D,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    asset_net: Float64Array1D,
    asset_price: Float64Array1D,
    asset_loan: Float64Array1D,
    asset_move: Int64Array1D,
    asset_qty_basis: BoolArray1D,
    coll_start: Int64Array1D,
    floors: Float64Array1D,
    ratios: Float64Array1D,
    settle: int,
    upnl_in_haircut: bool,
    out_equity: Float64Array1D,
    out_mm: Float64Array1D,
) -> None:
    """Fill ``out_equity[s]`` and ``out_mm[s]`` (USD, or the wallet's currency) for each scenario.

    Parameters
    ----------
    factors : (S, K) float64
        Price multiplier of each of the K moved assets in each scenario (1 = unchanged).
    pos_* : (n,) arrays
        Per position: ``q`` (signed, settlement-neutral units), entry and mark prices, inverse
        flag, column of ``factors`` moving its mark (-1: none), whether the tiered MM is taken on
        the notional at the mark (else it is in ``pos_mm_const``), the constant MM part
        (tiered MM at entry where the venue values it there; a close-fee term) and the fee rate
        on the notional at the mark.
    tier_start : (n + 1,) int64
        Position ``i``'s tiers are ``caps/mmrs/cums[tier_start[i]:tier_start[i + 1]]``.
    asset_* : (m,) arrays
        Per collateral asset: coins net of loans, USD price, loan MM in coins
        (``borrowed * loan_mmr``), column of ``factors`` moving its price (-1: none), whether its
        tiers count coins (else USD), and ``coll_start`` (m + 1) offsets into ``floors/ratios``.
    settle : int
        Asset receiving the positions' PnL and valuing their MM (-1: none, no positions).
    upnl_in_haircut : bool
        The PnL joins the settlement asset's balance before its collateral ratio (Binance PM,
        OKX) instead of adding at face value (Bybit UTA, a single wallet).
    out_equity, out_mm : (S,) float64
        Written in place.

    Notes
    -----
    In scenario ``s`` with multipliers ``f``: position mark ``M_i f_{a(i)}``, its PnL ``U_i`` and
    MM ``MM_i = const_i + tiered(notional at the mark) [mark basis] + fee_i * notional`` in the
    settlement asset; asset price ``P_a f_a``.  Equity ``E = sum_{a != s} h_a(n_a) + h_s(n_s + U)``
    (PnL inside the haircut) or ``... + h_s(n_s) + P_s U``; maintenance ``MM = P_s sum_i MM_i +
    sum_a loan_a P_a``.  These are the terms of :func:`levguard.core.unified.evaluate_unified`
    (sources there and in docs/unified.md) and, with one face-value wallet row, of the cross part
    of :func:`levguard.core.margin.evaluate`.
    """
    n_s = factors.shape[0]
    n_pos = pos_q.shape[0]
    n_asset = asset_net.shape[0]
    for s in range(n_s):
        upnl = 0.0
        pos_mm = 0.0
        for i in range(n_pos):
            mark = _moved(pos_mark[i], pos_move[i], factors, s)
            upnl += position_upnl(pos_q[i], pos_entry[i], mark, pos_inverse[i])
            notional = position_notional(pos_q[i], mark, pos_inverse[i])
            mm = pos_mm_const[i] + pos_fee_mm[i] * notional
            if pos_mark_basis[i]:
                a, b = tier_start[i], tier_start[i + 1]
                mm += tiered_mm(notional, caps[a:b], mmrs[a:b], cums[a:b])
            pos_mm += mm
        equity = 0.0
        loan_mm = 0.0
        settle_price = 1.0
        for j in range(n_asset):
            price = _moved(asset_price[j], asset_move[j], factors, s)
            a, b = coll_start[j], coll_start[j + 1]
            amount = asset_net[j]
            if j == settle:
                settle_price = price
                if upnl_in_haircut:
                    amount += upnl
                else:
                    equity += price * upnl
            equity += haircut_value(amount, price, floors[a:b], ratios[a:b], asset_qty_basis[j])
            loan_mm += asset_loan[j] * price
        out_equity[s] = equity
        out_mm[s] = settle_price * pos_mm + loan_mm


account_scenarios_nb = jit(account_scenarios_py)
