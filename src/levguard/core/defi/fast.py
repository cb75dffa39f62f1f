"""Health factors of many lending positions at once, in float64 (analytics at scale).

The friendly front of :mod:`levguard.kernels.defi`: each function checks its arrays, raises
:class:`~levguard.errors.InputError` naming the field and the first bad entry, and runs the
kernel once over every position.  The exact integer engines (:mod:`levguard.core.defi.aave`,
:mod:`levguard.core.defi.morpho`) reproduce the contracts to the wei one account at a time;
these functions compute the same ratios unrounded, for screening millions of positions (10
million in a fraction of a second on one thread, ``bench/bench_defi.py``).  Near a health
factor of 1 confirm with the exact engine: the contracts' roundings move the boundary by up to
about ``1 / LT_avg_bps`` of the HF on Aave and 2 loan-token units on Morpho.

Aave-style accounts use a CSR layout: ``indptr`` (N + 1,) points into reserve rows (R,) that
carry each reserve's collateral and debt value in the base currency, its liquidation threshold
and LTV as fractions, and optionally the e-mode category's threshold and LTV where they apply
(``emode_lt > 0``).  Morpho-style positions are one market each: collateral, borrowed assets,
the oracle price (loan-token units per collateral unit) and the market's LLTV.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Final

import numpy as np

from levguard.core.records import Record
from levguard.core.validate import array_1d, no_bools_or_strings, show
from levguard.errors import InputError
from levguard.kernels import defi as kd
from levguard.typing import Float64Array1D, Int64Array1D

__all__ = [
    "NUMBA_MIN_POSITIONS",
    "AaveAccountArrays",
    "MorphoPositionArrays",
    "aave_account_arrays",
    "aave_liquidation_prices",
    "morpho_position_arrays",
]

NUMBA_MIN_POSITIONS: Final = 20_000
"""From this many positions the compiled kernel runs (below it, the plain-Python twin unless
numba is already loaded: loading numba costs about half a second; both give the same bits)."""


@dataclass(frozen=True, slots=True)
class AaveAccountArrays(Record):
    """Per-account results of :func:`aave_account_arrays`, each (N,) float64.

    Attributes
    ----------
    health_factor : array
        ``sum(collateral x LT) / debt``; ``inf`` without debt.
    total_collateral, total_debt : array
        Collateral counted (reserves with a non-zero threshold) and debt, base currency.
    available_borrows : array
        ``max(sum(collateral x LTV) - debt, 0)``, base currency.
    """

    health_factor: Float64Array1D
    total_collateral: Float64Array1D
    total_debt: Float64Array1D
    available_borrows: Float64Array1D


@dataclass(frozen=True, slots=True)
class MorphoPositionArrays(Record):
    """Per-position results of :func:`morpho_position_arrays`, each (N,) float64.

    Attributes
    ----------
    health_factor : array
        ``collateral x price x lltv / borrow_assets``; ``inf`` without debt.
    liquidation_price : array
        ``borrow_assets / (collateral x lltv)`` in the units of ``price``: the position is
        liquidatable below it.  NaN without debt or without collateral (or with ``lltv = 0``).
    """

    health_factor: Float64Array1D
    liquidation_price: Float64Array1D


def _compiled(n: int) -> bool:
    return n >= NUMBA_MIN_POSITIONS or "numba" in sys.modules


def _indptr(indptr: object, n_rows: int) -> Int64Array1D:
    a = np.asarray(indptr)
    if a.ndim != 1 or a.shape[0] < 1 or not np.issubdtype(a.dtype, np.integer):
        raise InputError(f"indptr must be a 1-D integer array of length N + 1 >= 1, was {show(indptr)}")
    p: Int64Array1D = np.ascontiguousarray(a, dtype=np.int64)
    if p[0] != 0 or p[-1] != n_rows:
        raise InputError(f"indptr must start at 0 and end at the number of rows {n_rows}, was {p[0]} .. {p[-1]}")
    steps = p[1:] < p[:-1]
    if steps.any():
        i = int(np.argmax(steps))
        raise InputError(f"indptr must be non-decreasing, was indptr[{i + 1}] = {p[i + 1]} < indptr[{i}] = {p[i]}")
    return p


def _rows(n: int | None, **arrays: object) -> dict[str, Float64Array1D]:
    # Every array 1-D float64 of one length (the first's, or n).
    out: dict[str, Float64Array1D] = {}
    for name, values in arrays.items():
        no_bools_or_strings(values, name)  # NumPy reads True as 1.0 and "0.8" as 0.8
        a = array_1d(values, name)
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            first = next(iter(arrays))
            raise InputError(f"{name} must have the length of {first} ({n}), was {a.shape[0]}")
        out[name] = a
    return out


def _emode(emode_lt: object | None, emode_ltv: object | None, n_rows: int) -> tuple[Float64Array1D, Float64Array1D]:
    if emode_lt is None and emode_ltv is None:
        return np.empty(0), np.empty(0)
    if emode_lt is None or emode_ltv is None:
        missing = "emode_ltv" if emode_ltv is None else "emode_lt"
        raise InputError(f"emode_lt and emode_ltv must be given together, {missing} was None")
    e = _rows(n_rows, emode_lt=emode_lt, emode_ltv=emode_ltv)
    return e["emode_lt"], e["emode_ltv"]


def _bad_row(
    r: int,
    c: Float64Array1D,
    d: Float64Array1D,
    lt: Float64Array1D,
    ltv: Float64Array1D | None,
    emode_lt: Float64Array1D,
    emode_ltv: Float64Array1D,
) -> InputError:
    # Name the first failing condition of row r (the conditions of kernels.defi.aave_row_ok).
    for name, a in (("collateral_value", c), ("debt_value", d)):
        if not 0.0 <= a[r] < np.inf:
            return InputError(f"{name}[{r}] must be finite and >= 0, was {float(a[r])!r}")
    if not 0.0 <= lt[r] <= 1.0:
        return InputError(f"lt[{r}] must be a fraction in [0, 1] (not bps), was {float(lt[r])!r}")
    if ltv is not None and not 0.0 <= ltv[r] <= lt[r]:
        return InputError(f"ltv[{r}] must be in [0, lt[{r}] = {float(lt[r])!r}], was {float(ltv[r])!r}")
    if emode_lt.size and not 0.0 <= emode_lt[r] <= 1.0:
        return InputError(f"emode_lt[{r}] must be a fraction in [0, 1] (0: no override), was {float(emode_lt[r])!r}")
    if emode_ltv.size and not 0.0 <= emode_ltv[r] <= emode_lt[r]:
        return InputError(
            f"emode_ltv[{r}] must be in [0, emode_lt[{r}] = {float(emode_lt[r])!r}], was {float(emode_ltv[r])!r}"
        )
    return InputError(f"row {r} is invalid")  # pragma: no cover - the kernel checks the same conditions


def aave_account_arrays(
    indptr: object,
    collateral_value: object,
    debt_value: object,
    lt: object,
    ltv: object,
    *,
    emode_lt: object | None = None,
    emode_ltv: object | None = None,
) -> AaveAccountArrays:
    """Health factor, collateral, debt and available borrows of N Aave-style accounts.

    Parameters
    ----------
    indptr : array_like of int, shape (N + 1,)
        Rows of account ``i`` are ``indptr[i] .. indptr[i+1] - 1`` (``indptr[0] = 0``,
        non-decreasing, ``indptr[N] = R``).
    collateral_value, debt_value : array_like, shape (R,)
        Each reserve row's collateral (0 where not enabled as collateral) and debt, in the base
        currency (any unit, the same within an account), finite and >= 0.
    lt, ltv : array_like, shape (R,)
        The reserve's liquidation threshold and loan to value, fractions with ``ltv <= lt <= 1``.
    emode_lt, emode_ltv : array_like, shape (R,), optional
        The account's e-mode category threshold and LTV on rows whose reserve is in it, 0
        elsewhere (``emode_ltv <= emode_lt <= 1``); both or neither.

    Returns
    -------
    AaveAccountArrays

    Raises
    ------
    InputError
        Malformed ``indptr``, arrays of different lengths, or the first invalid row, named.

    Notes
    -----
    Aave v3 ``GenericLogic.calculateUserAccountData`` without the contract's roundings (see
    :func:`levguard.kernels.defi.aave_accounts_py`); HF as in the Aave docs, "Liquidations":
    ``sum(collateral x LT) / total borrows``.  A reserve with ``lt = 0`` is no collateral and
    one with ``ltv = 0`` lends nothing, in e-mode too.
    """
    rows = _rows(None, collateral_value=collateral_value, debt_value=debt_value, lt=lt, ltv=ltv)
    c, d, t, v = rows["collateral_value"], rows["debt_value"], rows["lt"], rows["ltv"]
    p = _indptr(indptr, c.shape[0])
    et, ev = _emode(emode_lt, emode_ltv, c.shape[0])
    n = p.shape[0] - 1
    hf, coll, debt, avail = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    kernel = kd.aave_accounts_nb if _compiled(n) else kd.aave_accounts_py
    bad = kernel(p, c, d, t, v, et, ev, hf, coll, debt, avail)
    if bad >= 0:
        raise _bad_row(bad, c, d, t, v, et, ev)
    return AaveAccountArrays(hf, coll, debt, avail)


def aave_liquidation_prices(
    indptr: object,
    collateral_value: object,
    debt_value: object,
    lt: object,
    asset_index: object,
    price: object,
    *,
    emode_lt: object | None = None,
) -> Float64Array1D:
    """The price of one reserve per account at which the health factor is 1, others fixed.

    Parameters
    ----------
    indptr, collateral_value, debt_value, lt, emode_lt
        As in :func:`aave_account_arrays` (LTVs play no part; ``emode_lt`` alone suffices).
    asset_index : array_like of int, shape (N,)
        The row of each account whose price moves, counted from the account's first row.
    price : array_like, shape (N,)
        That reserve's current price (> 0); its collateral and debt values move with it.

    Returns
    -------
    ndarray, shape (N,)
        The liquidation price, NaN when there is none (no debt, or the HF does not cross 1 as
        this price moves).  Where the row's weighted collateral exceeds its debt the account is
        liquidated when the price falls to it, otherwise when it rises to it.

    Raises
    ------
    InputError
        Malformed arrays, an ``asset_index`` outside the account's rows or a price not > 0.

    Notes
    -----
    ``HF(P m) = (S + m c LT) / (D + m d) = 1`` at ``m* = (D - S) / (c LT - d)`` (closed form,
    :func:`levguard.kernels.defi.aave_liquidation_prices_py`).
    """
    rows = _rows(None, collateral_value=collateral_value, debt_value=debt_value, lt=lt)
    c, d, t = rows["collateral_value"], rows["debt_value"], rows["lt"]
    p = _indptr(indptr, c.shape[0])
    n = p.shape[0] - 1
    et = np.empty(0) if emode_lt is None else _rows(c.shape[0], emode_lt=emode_lt)["emode_lt"]
    k = np.asarray(asset_index)
    if k.ndim != 1 or k.shape[0] != n or not np.issubdtype(k.dtype, np.integer):
        raise InputError(f"asset_index must be a 1-D integer array of length N = {n}, was {show(asset_index)}")
    k = np.ascontiguousarray(k, dtype=np.int64)
    px = _rows(n, price=price)["price"]
    out = np.empty(n)
    kernel = kd.aave_liquidation_prices_nb if _compiled(n) else kd.aave_liquidation_prices_py
    bad_row, bad_pos = kernel(p, c, d, t, et, k, px, out)
    if bad_row >= 0:
        raise _bad_row(bad_row, c, d, t, None, et, np.empty(0))
    if bad_pos >= 0:
        i = bad_pos
        size = int(p[i + 1] - p[i])
        if not 0 <= k[i] < size:
            raise InputError(f"asset_index[{i}] must be in [0, {size}) (the account's rows), was {k[i]}")
        raise InputError(f"price[{i}] must be finite and > 0, was {float(px[i])!r}")
    return out


def morpho_position_arrays(
    collateral: object, borrow_assets: object, price: object, lltv: object
) -> MorphoPositionArrays:
    """Health factor and liquidation price of N single-market (Morpho-style) positions.

    Parameters
    ----------
    collateral : array_like, shape (N,)
        Collateral posted (collateral-token units), finite and >= 0.
    borrow_assets : array_like, shape (N,)
        Debt in loan-token units (assets: ``toAssetsUp(borrow_shares)`` on Morpho Blue).
    price : float or array_like, shape (N,)
        Loan-token units per collateral-token unit (the oracle price / 1e36 in smallest units),
        finite and >= 0; a scalar for one price.
    lltv : float or array_like, shape (N,)
        Liquidation loan-to-value, a fraction in ``[0, 1]`` (``0.86``, not ``0.86e18``).

    Returns
    -------
    MorphoPositionArrays

    Raises
    ------
    InputError
        Arrays of different lengths, or the first invalid position, named.

    Notes
    -----
    Morpho Blue ``Morpho._isHealthy``: healthy iff ``borrowed <= collateral x price / 1e36 x
    lltv``; health factor ``collateral value x LLTV / debt`` (Morpho docs, "Blue Liquidation").
    See :func:`levguard.kernels.defi.morpho_positions_py`.
    """
    rows = _rows(None, collateral=collateral, borrow_assets=borrow_assets)
    c, b = rows["collateral"], rows["borrow_assets"]
    n = c.shape[0]
    shared: dict[str, Float64Array1D] = {}
    for name, values in (("price", price), ("lltv", lltv)):
        no_bools_or_strings(values, name)
        a = array_1d(values, name)  # a scalar becomes length 1
        if a.shape[0] != n and a.shape[0] != 1:
            raise InputError(f"{name} must be a scalar or have the length of collateral ({n}), was {a.shape[0]}")
        shared[name] = a
    px, q = shared["price"], shared["lltv"]
    hf, liq = np.empty(n), np.empty(n)
    kernel = kd.morpho_positions_nb if _compiled(n) else kd.morpho_positions_py
    bad = kernel(c, b, px, q, hf, liq)
    if bad >= 0:
        i = bad
        pi, qi = px[i if px.shape[0] == n else 0], q[i if q.shape[0] == n else 0]
        for name, x in (("collateral", c[i]), ("borrow_assets", b[i]), ("price", pi)):
            if not 0.0 <= x < np.inf:
                raise InputError(f"{name}[{i}] must be finite and >= 0, was {float(x)!r}")
        raise InputError(f"lltv[{i}] must be a fraction in [0, 1] (not WAD), was {float(qi)!r}")
    return MorphoPositionArrays(hf, liq)
