"""Cross-margin accounts evaluated in one kernel call (the guardian's hot path).

:func:`levguard.core.margin.evaluate` is the reference: position by position in Python, about
14 us a position.  For an account whose positions are all in cross margin on a venue with tier
tables (not the rate-based Deribit and dYdX), :class:`CrossLayout` keeps what does not move
between evaluations (each position's instrument, tier table, fee terms, chosen leverage) and
:meth:`CrossLayout.evaluate` computes every figure from the numbers that do move (wallet,
quantities, entry and mark prices) in one call of
:func:`levguard.kernels.margin_cross.cross_account_nb`, then builds the same
:class:`~levguard.core.margin.AccountReport`: the same helpers in the same order and the same
correctly rounded sums, so the report equals ``evaluate``'s bit for bit
(tests/core/test_margin_cross.py).  :func:`evaluate_cross` is ``evaluate`` with that path taken
when it applies.

An account of fewer than :data:`COMPILED_FROM` positions goes through the kernel's plain-Python
twin :func:`~levguard.kernels.margin_cross.cross_account_py` instead (the same arithmetic, the
same report bit for bit): the compiled kernel's first call in a process imports numba and loads
the machine code, about half a second, which a guardian restarted after a crash would otherwise
spend before its first decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import numpy as np

from levguard.core.margin import AccountReport, PositionReport, evaluate, resolve_tiers
from levguard.core.positions import Account, Position, spec_place
from levguard.core.rules import MMBasis, VenueModel, get_venue
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels.margin_cross import (
    CROSS_OUT,
    CROSS_TIER,
    CROSS_TOTAL,
    STATUS_OK,
    cross_account_nb,
    cross_account_py,
)

__all__ = ["COMPILED_FROM", "CrossLayout", "evaluate_cross", "kernel_position_report"]

COMPILED_FROM = 8
"""Positions from which :meth:`CrossLayout.evaluate` calls the compiled kernel by default.

``bench/bench_cross_layout.py`` (2-core EPYC, one thread, 2026-12-06): the plain-Python twin
takes 22 us an evaluation for 1 position, 54 us for 4, 99 us for 8 and 354 us for 32; the
compiled kernel 11, 19, 30 and 94 us, but its first call in a fresh process costs 0.55 s (numba's
import and the cached machine code's load) against 0.1 ms for the twin's.  Below 8 positions the
twin's extra cost stays under 70 us, tens of thousands of evaluations before the load is paid
back; a guardian evaluates an account once a cycle (docs/benchmarks.md).
"""


def _kernel(compiled: object, n: int) -> Any:
    # The cross kernel for ``n`` positions: the compiled one or its Python twin (``compiled``: True,
    # False or None, by size from COMPILED_FROM).
    if compiled is None:
        compiled = n >= COMPILED_FROM
    elif not isinstance(compiled, bool):
        raise InputError(f"compiled must be True, False or None, was {compiled!r}")
    return cross_account_nb if compiled else cross_account_py


# The fields of PositionReport, set through their slots in declaration order (half the time of
# the frozen dataclass's __init__, which sets each through object.__setattr__).
_REPORT_SETTERS = tuple(getattr(PositionReport, f.name).__set__ for f in fields(PositionReport))


def _report(values: tuple[Any, ...]) -> PositionReport:
    # A PositionReport of ``values`` (in its fields' order), as PositionReport(**...) builds it.
    report: PositionReport = object.__new__(PositionReport)
    for setter, value in zip(_REPORT_SETTERS, values, strict=True):
        setter(report, value)
    return report


def leverage_rows(
    table: TierTable, tier_rows: tuple[int, int, int], notional: float, notional_entry: float
) -> tuple[int, int, int]:
    """Return a margin kernel's (maintenance, leverage-at-mark, leverage-at-entry) tier indices
    with the leverage tiers of ``table`` (:meth:`~levguard.core.tiers.TierTable.leverage_index`):
    the kernels' lookup includes every cap, right where the maintenance margin is continuous;
    a table without deduction takes the maintenance margin's tier (BitMEX: "< 200 XBT")."""
    if table.deduction:
        return tier_rows
    return (tier_rows[0], table.leverage_index(notional), table.leverage_index(notional_entry))


def kernel_position_report(
    fixed: tuple[str, float, str, str, float, float],
    tiers: tuple[Any, ...],
    leverage: float | None,
    imr: float | None,
    out: tuple[float, float, float, float, float, float],
    tier_rows: tuple[int, int, int],
    liquidatable: bool,
    fee_im: float = 0.0,
) -> PositionReport | None:
    """The :class:`PositionReport` of one cross position from a margin kernel's outputs.

    ``fixed`` is (symbol, qty, margin mode, contract kind, entry, mark); ``out`` the kernel's
    (notional, unrealised PnL, maintenance margin, liquidation price, bankruptcy price, health);
    ``tier_rows`` its (maintenance, leverage-at-mark, leverage-at-entry) tier indices into
    ``tiers``.  The leverage and initial margin follow ``evaluate``'s terms on a tiered cross
    venue (``fee_im``: the close-fee rate the venue puts in the initial margin, Gate's).  None
    when the given leverage exceeds its tier's cap (the caller raises, or falls back to the Python
    path, which raises).  Shared by this module and :mod:`levguard.core.unified_fast`.
    """
    symbol, qty, mode, kind, entry, mark = fixed
    notional, upnl, mm, lp, bp, health = out
    k, k_mark, k_entry = tier_rows
    if leverage is not None:
        if leverage > tiers[k_entry].max_leverage * (1 + 1e-12):
            return None
    elif imr is not None:
        leverage = 1.0 / imr
    else:
        leverage = tiers[k_entry].max_leverage
    initial = notional * ((imr if imr is not None else 1.0 / leverage) + fee_im)
    tier = tiers[k]
    live = math.isfinite(lp)
    return _report(
        (
            symbol,
            qty,
            1 if qty > 0 else -1,
            mode,
            kind,
            entry,
            mark,
            notional,
            leverage,
            initial,
            mm,
            upnl,
            None,
            lp if live else None,
            bp if math.isfinite(bp) else None,
            tier.mmr,
            tier.maint_amount,
            tiers[k_mark].max_leverage,
            k + 1,
            health if live else None,
            liquidatable,
        )
    )


_N_OUT = len(CROSS_OUT)
_N_TIER = len(CROSS_TIER)
_N_TOTAL = len(CROSS_TOTAL)


class CrossLayout:
    """What stays fixed between evaluations of one cross-margin account.

    Build it with :meth:`of` (None when the fast path does not apply: an empty account, an
    isolated position, a rate-based venue, a symbol without tiers); then :meth:`evaluate` gives
    ``evaluate(account)`` for any wallet, quantities and prices of the same positions.
    """

    __slots__ = (
        "_caps",
        "_close_fee",
        "_contract_size",
        "_cums",
        "_fee_mm",
        "_inverse",
        "_mm_at_entry",
        "_mmrs",
        "_n_tiers",
        "_static",
        "_table_id",
        "model",
        "positions",
        "settlement",
    )

    def __init__(self, model: VenueModel, positions: tuple[Position, ...], tables: Sequence[TierTable]) -> None:
        self.model = model
        self.positions = positions
        self.settlement = positions[0].instrument.settlement
        taker = [model.taker_fee(p) for p in positions]
        # Per position: symbol, margin mode, contract kind, tiers, chosen leverage, imr, IM fee.
        self._static = tuple(
            (
                p.symbol,
                p.margin_mode.value,
                p.instrument.kind.value,
                t,
                p.leverage,
                p.imr,
                model.margin_fees(f)[1],
            )
            for p, t, f in zip(positions, tables, taker, strict=True)
        )
        self._mm_at_entry = model.mm_basis is MMBasis.ENTRY
        self._fee_mm = np.array([model.margin_fees(f)[0] for f in taker], dtype=np.float64)
        self._close_fee = np.array([model.cross_close_fee(f) for f in taker], dtype=np.float64)
        self._contract_size = np.array([p.instrument.contract_size for p in positions], dtype=np.float64)
        self._inverse = np.array([1.0 if p.instrument.inverse else 0.0 for p in positions])
        # Each distinct table once (by identity), padded to the longest.
        index: dict[int, int] = {}
        unique: list[TierTable] = []
        ids = []
        for table in tables:
            k = index.get(id(table))
            if k is None:
                k = index[id(table)] = len(unique)
                unique.append(table)
            ids.append(k)
        width = max(len(t.tiers) for t in unique)
        self._n_tiers = np.array([len(t.tiers) for t in unique], dtype=np.int64)
        self._caps = np.full((len(unique), width), np.inf)
        self._mmrs = np.zeros((len(unique), width))
        self._cums = np.zeros((len(unique), width))
        for k, t in enumerate(unique):
            self._caps[k, : len(t.tiers)] = t.caps
            self._mmrs[k, : len(t.tiers)] = t.mmrs
            self._cums[k, : len(t.tiers)] = t.cums
        self._table_id = np.array(ids, dtype=np.int64)

    @classmethod
    def of(cls, account: Account, model: VenueModel | None = None) -> CrossLayout | None:
        """Return the layout of ``account`` (rules: ``model`` or its venue's), or None when
        :func:`~levguard.core.margin.evaluate` must do the work (see the class docstring)."""
        model = model or get_venue(account.venue)
        positions = account.positions
        if not positions or model.rate_based:
            return None
        tables = []
        for p in positions:
            if p.isolated or p.isolated_margin is not None or model.rates(p) is not None:
                return None
            if p.tiers is not None and p.tiers.basis == "quantity":
                return None  # its tier follows its size, which a layout's evaluations change
            try:
                tables.append(resolve_tiers(model, p))
            except InputError:
                return None  # evaluate raises it, with its message
        return cls(model, positions, tables)

    def evaluate(
        self,
        wallet_balance: float,
        qty: Sequence[float],
        entry_price: Sequence[float],
        mark_price: Sequence[float],
        *,
        compiled: bool | None = None,
    ) -> AccountReport:
        """Return ``evaluate`` of the layout's account with these numbers.

        Parameters
        ----------
        wallet_balance : float
            Cross wallet balance, finite and >= 0 (as :class:`~levguard.core.positions.Account`
            checks).
        qty, entry_price, mark_price : sequence of float
            Per position, in the layout's order: signed quantity (finite, non-zero), entry and
            mark prices (finite, > 0), as :class:`~levguard.core.positions.Position` checks.
        compiled : bool, optional
            Call the compiled kernel (True) or its plain-Python twin (False); by default the
            kernel from :data:`COMPILED_FROM` positions.  The report is the same either way.

        Raises
        ------
        InputError
            A chosen leverage above the tier's maximum, as ``evaluate`` raises it.
        """
        n = len(self.positions)
        kernel = _kernel(compiled, n)
        if not (len(qty) == len(entry_price) == len(mark_price) == n):
            raise InputError(
                f"qty, entry_price and mark_price must have one value per position ({n}), were "
                f"{len(qty)}, {len(entry_price)}, {len(mark_price)}"
            )
        numbers = np.array((qty, entry_price, mark_price), dtype=np.float64)
        out = np.empty((_N_OUT, n))
        out_tier = np.empty((_N_TIER, n), dtype=np.int64)
        totals = np.empty(_N_TOTAL)
        wb = float(wallet_balance)
        status = kernel(
            wb,
            numbers[0],
            numbers[1],
            numbers[2],
            self._contract_size,
            self._inverse,
            self._fee_mm,
            self._close_fee,
            self._table_id,
            self._n_tiers,
            self._caps,
            self._mmrs,
            self._cums,
            self._mm_at_entry,
            out,
            out_tier,
            totals,
        )
        if status != STATUS_OK:
            # A sum the kernel could not finish (not finite): the scalar path decides.
            rows_in = zip(self.positions, qty, entry_price, mark_price, strict=True)
            positions = tuple(replace(p, qty=q, entry_price=e, mark_price=m) for p, q, e, m in rows_in)
            return evaluate(Account(self.model.name, wallet_balance, positions), self.model)
        notional, notional_entry, upnl, _, mm, bp, lp, health = out.tolist()
        k_mm, k_lev_mark, k_lev_entry = out_tier.tolist()
        _, cross_mm, equity = totals.tolist()
        liquidatable = self.model.liquidatable(equity, cross_mm)
        reports = []
        margins = []
        rows = zip(
            self._static,
            qty,
            entry_price,
            mark_price,
            notional,
            upnl,
            mm,
            bp,
            lp,
            health,
            k_mm,
            k_lev_mark,
            k_lev_entry,
            strict=True,
        )
        for i, (static, q, e, m, n_i, u, mm_i, bp_i, lp_i, h, k, k_mark, k_entry) in enumerate(rows):
            symbol, mode, kind, table, leverage, imr, fee_im = static
            tiers = table.tiers
            k, k_mark, k_entry = leverage_rows(table, (k, k_mark, k_entry), n_i, notional_entry[i])
            report = kernel_position_report(
                (symbol, q, mode, kind, e, m),
                tiers,
                leverage,
                imr,
                (n_i, u, mm_i, lp_i, bp_i, h),
                (k, k_mark, k_entry),
                liquidatable,
                fee_im,
            )
            if report is None:
                place = spec_place(self.positions[i], i)
                raise InputError(
                    f"positions[{place}].leverage {leverage!r} exceeds the maximum {tiers[k_entry].max_leverage:g} for "
                    f"notional {notional_entry[i]:,.2f} of {symbol} on {self.model.name}"
                )
            margins.append(report.initial_margin)
            reports.append(report)
        initial = math.fsum(margins)
        return AccountReport.of(self.model.name, self.settlement, wb, equity, cross_mm, initial, liquidatable, reports)


def evaluate_cross(account: Account, model: VenueModel | None = None, *, compiled: bool | None = None) -> AccountReport:
    """Return :func:`~levguard.core.margin.evaluate` of ``account``, in one kernel call when all its
    positions are in cross margin (:class:`CrossLayout`; ``compiled`` as in
    :meth:`CrossLayout.evaluate`).

    Notes
    -----
    The same report, bit for bit, and the same errors as ``evaluate``: the kernel runs
    ``evaluate``'s arithmetic (docs/margin.md) in the same order with the same helpers and the
    same correctly rounded sums.
    """
    _kernel(compiled, len(account.positions))  # checked on evaluate's path too
    layout = CrossLayout.of(account, model)
    if layout is None:
        return evaluate(account, model)
    ps = account.positions
    return layout.evaluate(
        account.wallet_balance,
        [p.qty for p in ps],
        [p.entry_price for p in ps],
        [p.mark_price for p in ps],
        compiled=compiled,
    )
