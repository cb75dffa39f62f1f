"""Lending health-factor kernels in float64: Aave-style accounts and Morpho-style positions.

Each kernel is written once in plain Python (``foo_py``) and compiled through the shim
(``foo_nb = jit(foo_py)``); both evaluate the same expressions in the same order, so they agree
bit for bit.  They are serial (one thread): 10 million positions take a fraction of a second,
bound by memory traffic (``bench/bench_defi.py``).  The exact integer paths that reproduce the
contracts to the wei are :mod:`levguard.core.defi.aave` and :mod:`levguard.core.defi.morpho`;
these kernels compute the same ratios unrounded, for analytics over many positions.

Conventions shared by the Aave-style kernels (a CSR layout of positions x reserve rows):

* ``indptr`` (N + 1,) int64: the rows of position ``i`` are ``indptr[i] .. indptr[i+1] - 1``
  (``indptr[0] = 0``, non-decreasing, ``indptr[N] = R``; checked by the caller);
* per row (R,) float64: ``collateral_value`` and ``debt_value`` in the base currency (any unit,
  the same for every row of a position; 0 where the reserve is not enabled as collateral),
  ``lt`` and ``ltv`` as fractions (``0.825``, never bps);
* e-mode: ``emode_lt`` and ``emode_ltv`` (R,) override a row's threshold and LTV where
  ``emode_lt > 0`` (the position is in an e-mode category and the row's reserve belongs to it),
  or have length 0 for no overrides.  As in the contract, a reserve whose own ``lt`` is 0 is no
  collateral even in e-mode, and one whose own ``ltv`` is 0 lends nothing even in e-mode.

Inputs are checked in the same pass: each kernel returns the first invalid row (or position),
``-1`` when all are valid; the caller raises naming the field.  No exceptions inside loops.
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jit, jitable
from levguard.typing import Float64Array1D, Int64Array1D

__all__ = [
    "aave_accounts_nb",
    "aave_accounts_py",
    "aave_liquidation_prices_nb",
    "aave_liquidation_prices_py",
    "aave_row_ok",
    "morpho_positions_nb",
    "morpho_positions_py",
    "numpy_aave_accounts",
    "numpy_morpho_positions",
    "row_lt",
    "row_ltv",
]


@jitable
def row_lt(lt: float, emode_lt: float) -> float:
    """Return the liquidation threshold a row's collateral is weighted by.

    Notes
    -----
    Aave v3 GenericLogic.calculateUserAccountData: only reserves with a non-zero threshold count
    as collateral; in e-mode the category's threshold replaces the reserve's (``emode_lt > 0``).
    """
    if lt <= 0.0:
        return 0.0
    return emode_lt if emode_lt > 0.0 else lt


@jitable
def row_ltv(lt: float, ltv: float, emode_lt: float, emode_ltv: float) -> float:
    """Return the loan to value a row's collateral lends at (0 when the reserve's own ``ltv`` or
    ``lt`` is 0, the e-mode category's where ``emode_lt > 0``, else the reserve's).

    Notes
    -----
    Aave v3 GenericLogic.calculateUserAccountData: the reserve's own LTV decides whether the
    collateral adds to the borrowing power at all, even in e-mode.
    """
    if lt <= 0.0 or ltv <= 0.0:
        return 0.0
    return emode_ltv if emode_lt > 0.0 else ltv


@jitable
def aave_row_ok(collateral: float, debt: float, lt: float, ltv: float, emode_lt: float, emode_ltv: float) -> bool:
    """Return whether a row is valid: values finite and >= 0, ``0 <= ltv <= lt <= 1`` and
    ``0 <= emode_ltv <= emode_lt <= 1`` (NaN fails every comparison; branch-free)."""
    return (
        (collateral >= 0.0)
        & (collateral < math.inf)
        & (debt >= 0.0)
        & (debt < math.inf)
        & (ltv >= 0.0)
        & (ltv <= lt)
        & (lt <= 1.0)
        & (emode_ltv >= 0.0)
        & (emode_ltv <= emode_lt)
        & (emode_lt <= 1.0)
    )


def aave_accounts_py(
    indptr: Int64Array1D,
    collateral_value: Float64Array1D,
    debt_value: Float64Array1D,
    lt: Float64Array1D,
    ltv: Float64Array1D,
    emode_lt: Float64Array1D,
    emode_ltv: Float64Array1D,
    out_hf: Float64Array1D,
    out_collateral: Float64Array1D,
    out_debt: Float64Array1D,
    out_available: Float64Array1D,
) -> int:
    """Fill health factor, total collateral, total debt and available borrows of N accounts.

    Parameters
    ----------
    indptr : (N + 1,) int64
        CSR row pointer (module docstring).
    collateral_value, debt_value, lt, ltv : (R,) float64
        Per reserve row: collateral and debt in the base currency, threshold and LTV (fractions).
    emode_lt, emode_ltv : (R,) or (0,) float64
        E-mode overrides where ``emode_lt > 0``; length 0 for none.
    out_hf, out_collateral, out_debt, out_available : (N,) float64
        Outputs: health factor (``inf`` without debt), collateral counted (rows with ``lt > 0``),
        debt, and ``max(borrowing power - debt, 0)``, all in the rows' currency except the HF.

    Returns
    -------
    int
        ``-1``, or the first row failing :func:`aave_row_ok` (the outputs are written anyway).

    Notes
    -----
    Aave v3 GenericLogic.calculateUserAccountData and calculateAvailableBorrows, unrounded;
    Aave docs, "Liquidations" (aave.com/docs/developers/liquidations)::

        HF = sum(collateral_i * LT_i) / sum(debt_j)
        available_borrows = max(sum(collateral_i * LTV_i) - sum(debt_j), 0)

    The contract floors each value to the base currency's unit, floors the weighted average
    threshold to a whole bps and rounds the products half up, so its HF differs from this one by
    less than about ``HF / LT_avg_bps`` (1.2e-4 of the HF at an 82.5 % threshold) and equals it
    to 1e-12 when those roundings are exact (tests/kernels/test_defi_kernels.py).
    """
    n = indptr.shape[0] - 1
    n_rows = collateral_value.shape[0]
    has_emode = emode_lt.shape[0] > 0
    first_bad = n_rows
    for i in range(n):
        coll = 0.0
        weighted = 0.0
        power = 0.0
        debt = 0.0
        for r in range(indptr[i], indptr[i + 1]):
            c = collateral_value[r]
            d = debt_value[r]
            t = lt[r]
            v = ltv[r]
            et = emode_lt[r] if has_emode else 0.0
            ev = emode_ltv[r] if has_emode else 0.0
            first_bad = min(first_bad, n_rows if aave_row_ok(c, d, t, v, et, ev) else r)
            coll += c if t > 0.0 else 0.0
            weighted += c * row_lt(t, et)
            power += c * row_ltv(t, v, et, ev)
            debt += d
        out_collateral[i] = coll
        out_debt[i] = debt
        out_hf[i] = weighted / debt if debt > 0.0 else math.inf
        out_available[i] = power - debt if power > debt else 0.0
    return -1 if first_bad == n_rows else first_bad


def aave_liquidation_prices_py(
    indptr: Int64Array1D,
    collateral_value: Float64Array1D,
    debt_value: Float64Array1D,
    lt: Float64Array1D,
    emode_lt: Float64Array1D,
    asset_index: Int64Array1D,
    price: Float64Array1D,
    out: Float64Array1D,
) -> tuple[int, int]:
    """Fill the price of one reserve of each account at which its health factor is 1, the
    others held fixed.

    Parameters
    ----------
    indptr, collateral_value, debt_value, lt, emode_lt
        As in :func:`aave_accounts_py` (LTVs play no part).
    asset_index : (N,) int64
        Which row of position ``i`` moves, counted from its first row (``0 <= k < rows``).
    price : (N,) float64
        That reserve's current price (> 0); its collateral and debt values scale with it.
    out : (N,) float64
        The liquidation price, or NaN when none is positive and finite: no debt at any price,
        or the account's health does not cross 1 as this price moves.

    Returns
    -------
    (int, int)
        The first invalid row and the first invalid position (``asset_index`` out of range,
        ``price`` not in ``(0, inf)``), each ``-1`` when there is none.

    Notes
    -----
    With the moving row's collateral ``c`` and debt ``d`` at the current price ``P``, ``lt`` its
    (e-mode) threshold, and ``S``, ``D`` the weighted collateral and the debt of the other rows,
    the health factor at price ``P m`` is ``(S + m c lt) / (D + m d)`` (Aave docs,
    "Liquidations"), so it equals 1 at ``m* = (D - S) / (c lt - d)`` and the liquidation price
    is ``P m*`` when ``m* > 0``.  Where ``c lt > d`` the health factor rises with the price and
    the account is liquidated when the price falls to it; where ``c lt < d`` (a net debt) when
    the price rises to it.  The contract's roundings (see :func:`aave_accounts_py`) move the
    on-chain crossing by the same relative amount as the health factor.
    """
    n = indptr.shape[0] - 1
    n_rows = collateral_value.shape[0]
    has_emode = emode_lt.shape[0] > 0
    first_bad_row = n_rows
    first_bad_pos = n
    for i in range(n):
        lo = indptr[i]
        hi = indptr[i + 1]
        k = asset_index[i]
        p = price[i]
        pos_ok = (k >= 0) & (k < hi - lo) & (p > 0.0) & (p < math.inf)
        first_bad_pos = min(first_bad_pos, n if pos_ok else i)
        moving = lo + k
        others_weighted = 0.0
        others_debt = 0.0
        slope = 0.0
        for r in range(lo, hi):
            c = collateral_value[r]
            d = debt_value[r]
            t = lt[r]
            et = emode_lt[r] if has_emode else 0.0
            first_bad_row = min(first_bad_row, n_rows if aave_row_ok(c, d, t, 0.0, et, 0.0) else r)
            w = c * row_lt(t, et)
            if r == moving:
                slope = w - d
            else:
                others_weighted += w
                others_debt += d
        m = (others_debt - others_weighted) / slope if slope != 0.0 else math.nan
        lp = p * m
        out[i] = lp if (pos_ok and m > 0.0 and lp < math.inf) else math.nan
    return (
        -1 if first_bad_row == n_rows else first_bad_row,
        -1 if first_bad_pos == n else first_bad_pos,
    )


def morpho_positions_py(
    collateral: Float64Array1D,
    borrow_assets: Float64Array1D,
    price: Float64Array1D,
    lltv: Float64Array1D,
    out_hf: Float64Array1D,
    out_liquidation_price: Float64Array1D,
) -> int:
    """Fill health factor and liquidation price of N single-market (Morpho-style) positions.

    Parameters
    ----------
    collateral : (N,) float64
        Collateral posted, in collateral-token units.
    borrow_assets : (N,) float64
        Debt in loan-token units (assets, not shares).
    price : (N,) or (1,) float64
        Loan-token units per collateral-token unit (Morpho's oracle price divided by ``1e36``
        when both are in smallest units); length 1 for one price shared by all.
    lltv : (N,) or (1,) float64
        Liquidation loan-to-value, a fraction in ``[0, 1]`` (the contract's ``lltv < 1e18`` may
        round to 1.0 in float64); length 1 for one market.
    out_hf, out_liquidation_price : (N,) float64
        ``collateral * price * lltv / borrow_assets`` (``inf`` without debt) and
        ``borrow_assets / (collateral * lltv)``, the price at which the health factor is 1
        (NaN without debt or without weighted collateral).

    Returns
    -------
    int
        ``-1``, or the first position with a value not finite and >= 0 or ``lltv`` outside
        ``[0, 1]`` (the outputs are written anyway).

    Notes
    -----
    Morpho Blue ``Morpho._isHealthy`` (morpho-org/morpho-blue ``src/Morpho.sol``): healthy iff
    ``borrowed <= collateral * price / ORACLE_PRICE_SCALE * lltv``, so the health factor
    ``collateral value x LLTV / debt`` of the Morpho docs ("Blue Liquidation",
    docs.morpho.org/learn/concepts/blue/liquidation; collateral value in loan token
    ``collateral x oracle price / 1e36``, "Collateral, LTV & Health") is liquidatable below 1.
    The contract rounds the debt up and the capacity down (two floors), so on-chain the boundary
    sits within 2 loan-token units of this one.
    """
    n = collateral.shape[0]
    step_p = 1 if price.shape[0] == n else 0
    step_l = 1 if lltv.shape[0] == n else 0
    first_bad = n
    for i in range(n):
        c = collateral[i]
        b = borrow_assets[i]
        p = price[i * step_p]
        q = lltv[i * step_l]
        ok = (c >= 0.0) & (c < math.inf) & (b >= 0.0) & (b < math.inf) & (p >= 0.0) & (p < math.inf)
        ok = ok & (q >= 0.0) & (q <= 1.0)
        first_bad = min(first_bad, n if ok else i)
        out_hf[i] = c * p * q / b if b > 0.0 else math.inf
        weighted = c * q
        out_liquidation_price[i] = b / weighted if (b > 0.0 and weighted > 0.0) else math.nan
    return -1 if first_bad == n else first_bad


def numpy_aave_accounts(
    indptr: Int64Array1D,
    collateral_value: Float64Array1D,
    debt_value: Float64Array1D,
    lt: Float64Array1D,
    ltv: Float64Array1D,
    emode_lt: Float64Array1D,
    emode_ltv: Float64Array1D,
) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D, Float64Array1D]:
    """Plain NumPy baseline of :func:`aave_accounts_py` (benchmark reference, no validation).

    The textbook vectorisation: effective thresholds with ``np.where``, row products, and
    per-position sums with ``np.add.reduceat`` over the CSR offsets (empty positions masked,
    since ``reduceat`` returns the next row for them).  Returns HF, collateral, debt, available.
    """
    if emode_lt.shape[0] > 0:
        t = np.where(emode_lt > 0.0, emode_lt, lt)
        v = np.where(emode_lt > 0.0, emode_ltv, ltv)
    else:
        t, v = lt, ltv
    counted = lt > 0.0
    t = np.where(counted, t, 0.0)
    v = np.where(counted & (ltv > 0.0), v, 0.0)
    starts = indptr[:-1]
    nonempty = indptr[1:] > starts
    safe = np.minimum(starts, max(collateral_value.shape[0] - 1, 0))

    def seg_sum(x: Float64Array1D) -> Float64Array1D:
        if x.shape[0] == 0:
            return np.zeros(starts.shape[0])
        return np.where(nonempty, np.add.reduceat(x, safe), 0.0)

    coll = seg_sum(np.where(counted, collateral_value, 0.0))
    weighted = seg_sum(collateral_value * t)
    power = seg_sum(collateral_value * v)
    debt = seg_sum(debt_value)
    with np.errstate(divide="ignore", invalid="ignore"):
        hf = np.where(debt > 0.0, weighted / debt, np.inf)
    return hf, coll, debt, np.maximum(power - debt, 0.0)


def numpy_morpho_positions(
    collateral: Float64Array1D, borrow_assets: Float64Array1D, price: Float64Array1D, lltv: Float64Array1D
) -> tuple[Float64Array1D, Float64Array1D]:
    """Plain NumPy baseline of :func:`morpho_positions_py` (benchmark reference, no validation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        hf = np.where(borrow_assets > 0.0, collateral * price * lltv / borrow_assets, np.inf)
        weighted = collateral * lltv
        liq = np.where((borrow_assets > 0.0) & (weighted > 0.0), borrow_assets / weighted, np.nan)
    return hf, liq


aave_accounts_nb = jit(aave_accounts_py)
aave_liquidation_prices_nb = jit(aave_liquidation_prices_py)
morpho_positions_nb = jit(morpho_positions_py)
