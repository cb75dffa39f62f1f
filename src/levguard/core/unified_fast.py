"""Unified accounts evaluated in one kernel call.

:func:`levguard.core.unified.evaluate_unified` takes this path: :func:`evaluate_unified_fast`
flattens the account into arrays (positions with their tier tables end to end, collateral assets
with their tiers end to end) and computes every figure (equity after collateral ratios,
maintenance margin, each position's liquidation and bankruptcy prices, the collateral rows) in
one call of :func:`levguard.kernels.unified.unified_account_nb`, then builds the same
:class:`~levguard.core.margin.AccountReport` from the arrays: the same helpers in the same order,
the same root search and the same correctly rounded sums as the Python path
(``levguard.core.unified._evaluate_python``), so the report equals it bit for bit
(tests/core/unified/test_unified_fast.py).

It returns None where the Python path must decide: no positions, a rate-based venue, a COIN-M
(inverse) position (its PnL and MM settle in its coin, which the kernel's one settlement asset
does not hold), a symbol without tiers or a leverage above its cap (the Python path raises the
error), or a sum that is not finite.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from levguard.core.margin import AccountReport, CollateralRow, PositionReport, resolve_tiers
from levguard.core.margin_cross import kernel_position_report, leverage_rows
from levguard.core.rules import MMBasis
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels import NUMBA_DISABLED
from levguard.kernels.unified import (
    STATUS_OK,
    UNIFIED_ASSET,
    UNIFIED_OUT,
    UNIFIED_TIER,
    UNIFIED_TOTAL,
    unified_account_nb,
)

if TYPE_CHECKING:
    from levguard.core.unified import UnifiedAccount, UnifiedVenue

__all__ = ["LIQUIDATION_PRICE_BASIS", "account_report", "evaluate_unified_fast", "fast_path_ready"]

LIQUIDATION_PRICE_BASIS = (
    "each position's liquidation and bankruptcy prices move that position's mark alone: every other mark "
    "and every collateral price is held where it is"
)
"""What a unified account's per-position liquidation prices hold fixed (the report's
``liquidation_price_basis``; docs/unified.md, "Liquidation prices")."""

_SETTLE = "USDT"
_N_OUT = len(UNIFIED_OUT)
_N_TIER = len(UNIFIED_TIER)
_N_ASSET = len(UNIFIED_ASSET)
_N_TOTAL = len(UNIFIED_TOTAL)
_evaluations = 0  # unified evaluations asked for in this process (see fast_path_ready)


def fast_path_ready() -> bool:
    """True when the compiled kernel is worth calling for the next unified evaluation.

    Importing numba and loading the kernel's machine code takes about half a second, some
    10,000 positions' worth of the Python path: a process that evaluates one account (a CLI
    command) stays in Python.  The kernel is used once numba is loaded in the process, from the
    second unified evaluation on, and always when numba is disabled (the kernel's plain-Python
    twin then runs, for tests and coverage).  Both paths give the same report.
    """
    global _evaluations
    _evaluations += 1
    return NUMBA_DISABLED or _evaluations > 1 or "numba" in sys.modules


def evaluate_unified_fast(ua: UnifiedAccount) -> AccountReport | None:
    """Return the report of ``ua`` computed in one kernel call, or None (see the module docstring).

    Notes
    -----
    Formulas and sources: :func:`levguard.core.unified.evaluate_unified` and docs/unified.md.
    The kernel keeps the Python path's arithmetic order and its root search, so every figure is
    the same float.
    """
    model = ua.model
    positions = ua.positions.positions
    if not positions or model.rate_based or ua.coin_positions:
        return None
    # Positions: each distinct tier table once (by identity), end to end.
    index: dict[int, int] = {}
    unique: list[TierTable] = []
    table_id: list[int] = []
    rates = model.rates
    for p in positions:
        if p.tiers is None and rates(p) is not None:
            return None  # pragma: no cover - the unified venues' linear rules carry no rate rule
        if p.tiers is not None and p.tiers.basis == "quantity":
            return None  # the Python path reports the tier of the size
        try:
            table = resolve_tiers(model, p)
        except InputError:
            return None  # the Python path raises it, with its message
        k = index.get(id(table))
        if k is None:
            k = index[id(table)] = len(unique)
            unique.append(table)
        table_id.append(k)
    starts = [0]
    for t in unique:
        starts.append(starts[-1] + len(t.tiers))
    caps = np.concatenate([t.caps for t in unique])
    mmrs = np.concatenate([t.mmrs for t in unique])
    cums = np.concatenate([t.cums for t in unique])
    fee_in_mm = model.fee_in_mm
    taker = model.taker_fee
    numbers = np.array(
        [
            [p.q for p in positions],
            [p.entry_price for p in positions],
            [p.mark_price for p in positions],
            [taker(p) if fee_in_mm else 0.0 for p in positions],
        ],
        dtype=np.float64,
    )
    # Collateral assets and their tiers, end to end.
    assets = ua.assets
    settle = next((j for j, a in enumerate(assets) if a.name == _SETTLE), -1)
    coll_start = [0]
    floors: list[float] = []
    ratios: list[float] = []
    for a in assets:
        floors.extend(a.tiers.floors)
        ratios.extend(a.tiers.ratios)
        coll_start.append(len(floors))
    asset_numbers = np.array(
        [[a.net for a in assets], [a.price for a in assets], [a.borrowed for a in assets]], dtype=np.float64
    )
    n, m = len(positions), len(assets)
    out = np.empty((_N_OUT, n))
    out_tier = np.empty((_N_TIER, n), dtype=np.int64)
    out_asset = np.empty((_N_ASSET, m))
    totals = np.empty(_N_TOTAL)
    venue = ua.venue
    status = unified_account_nb(
        numbers[0],
        numbers[1],
        numbers[2],
        numbers[3],
        np.array(table_id, dtype=np.int64),
        np.array(starts, dtype=np.int64),
        caps,
        mmrs,
        cums,
        model.mm_basis is MMBasis.ENTRY,
        asset_numbers[0],
        asset_numbers[1],
        asset_numbers[2],
        np.array([a.tiers.basis == "qty" for a in assets], dtype=np.bool_),
        np.array(coll_start, dtype=np.int64),
        np.array(floors, dtype=np.float64),
        np.array(ratios, dtype=np.float64),
        ua.loan_mmr,
        settle,
        venue.upnl_in_haircut,
        venue.liquidation_multiple,
        out,
        out_tier,
        out_asset,
        totals,
    )
    if status != STATUS_OK:
        return None
    notional, notional_entry, upnl, mm, lp, bp, health = out.tolist()
    k_mm, k_lev_mark, k_lev_entry = out_tier.tolist()
    _, _, equity, total_mm, wallet = totals.tolist()
    liquidatable = venue.liquidatable(equity, total_mm, exposed=ua.exposed)
    reports: list[PositionReport] = []
    margins = []
    rows = zip(
        positions,
        table_id,
        notional,
        notional_entry,
        upnl,
        mm,
        lp,
        bp,
        health,
        k_mm,
        k_lev_mark,
        k_lev_entry,
        strict=True,
    )
    for p, t_id, n_i, ne_i, u, mm_i, lp_i, bp_i, h, k, k_mark, k_entry in rows:
        fixed = (p.symbol, p.qty, p.margin_mode._value_, p.instrument.kind._value_, p.entry_price, p.mark_price)
        report = kernel_position_report(
            fixed,
            unique[t_id].tiers,
            p.leverage,
            p.imr,
            (n_i, u, mm_i, lp_i, bp_i, h),
            leverage_rows(unique[t_id], (k, k_mark, k_entry), n_i, ne_i),
            liquidatable,
        )
        if report is None:
            return None  # the Python path raises it, with its message
        margins.append(report.initial_margin)
        reports.append(report)
    amounts, values = out_asset.tolist()
    collateral = []
    for a, amount, value in zip(assets, amounts, values, strict=True):
        face = amount * a.price
        collateral.append(CollateralRow(a.name, amount, a.price, value / face if face > 0.0 else 1.0, value))
    usdt_price = assets[settle].price if settle >= 0 else 1.0
    initial = usdt_price * math.fsum(margins)
    return account_report(venue, wallet, equity, total_mm, initial, liquidatable, reports, collateral, ua.exposed)


def account_report(
    venue: UnifiedVenue,
    wallet: float,
    equity: float,
    total_mm: float,
    initial_margin: float,
    liquidatable: bool,
    reports: list[PositionReport],
    collateral: list[CollateralRow],
    exposed: bool,
) -> AccountReport:
    """The unified account's report from its totals, position reports and collateral rows (for
    the kernel path here and the Python path of :func:`levguard.core.unified.evaluate_unified`)."""
    return AccountReport.of(
        venue.name,
        "USD",
        wallet,
        equity,
        total_mm,
        initial_margin,
        liquidatable,
        reports,
        account_ratio=venue.ratio(equity, total_mm, exposed=exposed),
        account_ratio_name=venue.ratio_name,
        account_status=venue.status(equity, total_mm, exposed=exposed),
        collateral=tuple(collateral),
        liquidation_price_basis=LIQUIDATION_PRICE_BASIS,
    )
