"""Liquidation events of the backtest kernel: collateral, liquidation prices, and what each
venue's rule closes and leaves (takeover, book close, slices, step-downs, incremental restore,
cross-account takeover, bad debt).

Plain Python marked ``jitable``; called from :func:`levguard.kernels.backtest.simulate_py`.  The
account's state travels as a :class:`~levguard.kernels.backtest_records.Book`, the instruments as
an ``INST_DTYPE`` array and their tiers as :class:`~levguard.kernels.backtest_records.Tiers`;
events are written to ``LIQ_DTYPE`` records.  The outcome arithmetic is
:mod:`levguard.kernels.liquidation` (shared with the cascade simulator and the paper venue).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jitable
from levguard.kernels.backtest_orders import caps_at
from levguard.kernels.backtest_records import N_RESTORE_GRID, Book, ContractKind, LiqState, Tiers
from levguard.kernels.margin import (
    close_fee_at_bankruptcy,
    position_notional,
    position_upnl,
    size_scaled_rate,
    size_tier_mm,
    solve_liquidation_price,
    tier_index,
    tiered_mm,
)
from levguard.typing import Float64Array1D, Int64Array1D


class Scratch(NamedTuple):
    """Work arrays of one run: a single zero tier (the constant-MM solve of venues valuing
    maintenance at entry) and the liquidation-price memo (``MEMO_DTYPE``, (K,))."""

    zero_caps: Float64Array1D
    zero: Float64Array1D
    memo: np.ndarray


@jitable
def maintenance(
    qty: float,
    entry: float,
    px: float,
    inverse: bool,
    mm_at_entry: bool,
    fee_in_mm: float,
    by_size: bool,
    size_coef: float,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
) -> float:
    """Return the maintenance requirement of one position at price ``px`` (0 when flat).

    Tiered maintenance margin of the notional at ``px`` (or at ``entry`` with ``mm_at_entry``)
    plus ``fee_in_mm`` times the notional at ``px``, in the settlement currency.  With
    ``by_size`` the caps are position sizes: the rate of the tier holding ``|qty|`` applies to
    the whole notional (no deduction; :meth:`levguard.core.tiers.TierTable.at_quantity`).  A
    rate that grows with the size (``size_coef``, Deribit's 0.005 % per BTC) adds
    ``size_coef x |qty|`` to the tier's rate (:func:`~levguard.kernels.margin.size_scaled_rate`).
    """
    if qty == 0.0:
        return 0.0
    basis = entry if mm_at_entry else px
    notional = position_notional(qty, basis, inverse)
    mm = size_tier_mm(notional, abs(qty), caps, mmrs, cums) if by_size else tiered_mm(notional, caps, mmrs, cums)
    if size_coef > 0.0:
        mm += size_scaled_rate(0.0, size_coef, qty) * notional
    return mm + fee_in_mm * position_notional(qty, px, inverse)


@jitable
def liquidation_price(
    qty: float,
    entry_price: float,
    collateral: float,
    inverse: bool,
    fee_in_mm: float,
    close_fee: float,
    mm_at_entry: bool,
    by_size: bool,
    size_coef: float,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    zero_caps: Float64Array1D,
    zero: Float64Array1D,
) -> float:
    """Return the venue liquidation price of one position (NaN when flat or none).

    With ``mm_at_entry`` the maintenance margin is fixed at the entry notional (Bybit, BitMEX)
    and passed as the constant term of :func:`~levguard.kernels.margin.solve_liquidation_price`
    with one zero tier; otherwise the tiers are re-selected at the liquidation price.  With
    ``by_size`` (tiers by position size, OKX) the tier of ``|qty|`` holds at every price: the
    table is that one tier, as the margin engine reads it
    (:meth:`levguard.core.tiers.TierTable.at_quantity`).
    ``collateral`` is the isolated margin, or the cross wallet plus the other positions'
    unrealised PnL minus their maintenance margin.  It may be negative (funding or fees paid
    from it): the position's own unrealised PnL still counts, so a long then has a liquidation
    price above its entry, not none.
    ``close_fee`` is a maintenance amount that does not move with price: the fee to close at the
    bankruptcy price that Bybit's inverse cross equation counts
    (:func:`~levguard.kernels.margin.close_fee_at_bankruptcy`; 0 elsewhere), as the margin engine
    adds it (:func:`levguard.core.margin.evaluate`).
    ``size_coef`` (Deribit) adds ``size_coef x |qty|`` to the maintenance rate: the size is
    fixed while the price moves, so it is a rate on the notional at the price (at the entry with
    ``mm_at_entry``), as the margin engine reads the rate at the position's size.

    Notes
    -----
    Binance, "How to Check Futures Wallet Balance" (support FAQ 5d62f8be18d24544b5b6156094c16bf7):
    margin balance = wallet balance + unrealised PnL, and positions are liquidated once the margin
    balance is at or below the maintenance margin; the isolated margin's "max removable amount"
    (FAQ 360038447311) likewise counts ``isolatedWalletBalance + size * (mark - entry)``.
    """
    if qty == 0.0 or not math.isfinite(collateral):
        return math.nan
    if by_size:  # the one tier of the size at every price (TierTable.at_quantity)
        kt = tier_index(abs(qty), caps)
        caps, mmrs, cums = zero_caps, mmrs[kt : kt + 1], zero
    size_rate = size_scaled_rate(0.0, size_coef, qty)
    if mm_at_entry:
        n_entry = position_notional(qty, entry_price, inverse)
        k_const = tiered_mm(n_entry, caps, mmrs, cums) + close_fee
        if size_rate > 0.0:
            k_const += size_rate * n_entry
        return solve_liquidation_price(qty, entry_price, collateral, k_const, fee_in_mm, inverse, zero_caps, zero, zero)
    return solve_liquidation_price(
        qty, entry_price, collateral, close_fee, fee_in_mm + size_rate, inverse, caps, mmrs, cums
    )


@jitable
def bankrupt_at(
    k: int, lp: float, coll: float, price: float, cross: bool, book: Book, inst: np.ndarray, tiers: Tiers
) -> bool:
    """Return whether position ``k`` is liquidatable at every price: it has no liquidation price
    and its margin balance at ``price`` (collateral plus unrealised PnL) is at or below its
    maintenance margin there (strictly below on a strict-trigger venue).

    A non-positive collateral alone is not bankruptcy: a position whose unrealised profit covers
    what funding took from its margin is alive on the venue (margin balance = wallet balance +
    unrealised PnL, see :func:`liquidation_price`).
    """
    if not may_be_bankrupt(lp, coll):
        return False
    if not math.isfinite(coll):
        return True
    q = book.qty[k]
    ent = book.entry[k]
    inverse = inst[k]["kind"] == ContractKind.INVERSE
    balance = coll + position_upnl(q, ent, price, inverse)
    mm = _maintenance_of(k, q, ent, price, cross, book, inst, tiers)
    return balance < mm if inst[k]["strict"] else balance <= mm


@jitable
def lp_crossed(qty: float, price: float, lp: float, strict: bool) -> bool:
    """Return whether a mark at ``price`` reaches the liquidation price ``lp`` of a position of
    sign ``qty``: at or beyond it, strictly beyond on a strict-trigger venue.

    Notes
    -----
    At ``lp`` the margin balance equals the maintenance margin.  Most venues liquidate there
    (``balance <= MM``); dYdX v4 (``CanLiquidateSubaccount``: TMMR > TNC) and Hyperliquid
    ("account equity falls below the maintenance margin") only below it
    (:meth:`levguard.core.rules.base.VenueModel.liquidatable`, ``strict_trigger``).
    """
    if qty > 0.0:
        return price < lp if strict else price <= lp
    return price > lp if strict else price >= lp


@jitable
def may_be_bankrupt(lp: float, coll: float) -> bool:
    """Return whether :func:`bankrupt_at` has to evaluate the margin: only without a liquidation
    price and with non-positive collateral.

    A liquidation price, or positive collateral (the margin balance then exceeds the maintenance
    margin at some price, so not at every price), settles it without evaluating the margin.  The
    kernel asks this first, every bar for every open position (a low-leverage position has no
    liquidation price), and calls :func:`bankrupt_at` only when it is true: a call passes the
    book, the instruments and the tiers, whose reference counts (shared by the sweep's threads)
    cost more than the check.
    """
    return math.isnan(lp) and not coll > 0.0


@jitable
def tier_rows(spec: np.void, tiers: Tiers) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    """Return the (cap, mmr, cum) tier rows of one instrument (``spec``, its ``INST_DTYPE`` record)."""
    a = spec["tier_start"]
    b = spec["tier_stop"]
    return tiers.cap[a:b], tiers.mmr[a:b], tiers.cum[a:b]


@jitable
def _maintenance_of(
    j: int, q: float, ent: float, px: float, cross: bool, book: Book, inst: np.ndarray, tiers: Tiers
) -> float:
    # maintenance() of a position of instrument j, its settings read from its record; in cross
    # margin plus the close fee at its bankruptcy price on the wallet (close_fee_term).
    spec = inst[j]
    caps, mmrs, cums = tier_rows(spec, tiers)
    inverse = spec["kind"] == ContractKind.INVERSE
    mm = maintenance(
        q,
        ent,
        px,
        inverse,
        spec["mm_at_entry"],
        spec["fee_in_mm"],
        spec["by_size"],
        spec["size_coef"],
        caps,
        mmrs,
        cums,
    )
    return mm + close_fee_term(j, q, ent, cross, book, inst)


@jitable
def close_fee_term(j: int, q: float, ent: float, cross: bool, book: Book, inst: np.ndarray) -> float:
    """Return the maintenance amount a cross position of instrument ``j`` (size ``q``, entry
    ``ent``) owes its close fee at the bankruptcy price on the cross wallet
    (:func:`~levguard.kernels.margin.close_fee_at_bankruptcy`, Bybit inverse: the instrument's
    ``close_fee`` rate); 0 in isolated margin, whose equation has no fee term."""
    if not cross:
        return 0.0
    spec = inst[j]
    return close_fee_at_bankruptcy(q, ent, book.cash[0], spec["close_fee"], spec["kind"] == ContractKind.INVERSE)


@jitable
def record_liq(
    out_liqs: np.ndarray,
    row: int,
    t: int,
    k: int,
    dq: float,
    px: float,
    loss: float,
    fee: float,
    bad_debt: float,
    margin: float,
    kept: float,
    partial: bool,
    taken: bool,
) -> None:
    """Write one ``LIQ_DTYPE`` record (its fields, in order) at ``row``.

    Sized by :func:`~levguard.kernels.backtest_records.liq_capacity` (at most a partial and a
    full liquidation per bar and instrument); a row beyond it is dropped rather than written out
    of bounds.
    """
    if row >= out_liqs.shape[0]:
        return
    rec = out_liqs[row]
    rec["bar"] = t
    rec["inst"] = k
    rec["qty"] = dq
    rec["price"] = px
    rec["loss"] = loss
    rec["fee"] = fee
    rec["bad_debt"] = bad_debt
    rec["margin"] = margin
    rec["kept"] = kept
    rec["partial"] = partial
    rec["taken"] = taken


@jitable
def _book_liquidation(
    t: int, k: int, qty: float, entry: float, px: float, liquidation_fee_rate: float, out_liqs: np.ndarray, row: int
) -> tuple[float, float]:
    """Sell spot collateral ``qty`` at ``px`` with the liquidation fee (a cross account's spot leg
    covering a negative balance) and record it in ``out_liqs[row]``.

    Returns the wallet change (realised PnL minus fee) and the fee.
    """
    realised = position_upnl(qty, entry, px, False)
    fee = liquidation_fee_rate * position_notional(qty, px, False)
    record_liq(out_liqs, row, t, k, qty, px, -realised, fee, 0.0, math.nan, math.nan, False, False)
    return realised - fee, fee


@jitable
def collateral(k: int, cross: bool, book: Book, inst: np.ndarray, tiers: Tiers) -> float:
    """Return the collateral backing instrument ``k``: its isolated wallet, or the cross wallet
    plus the other positions' unrealised PnL minus their maintenance requirement at their
    reference prices."""
    if not cross:
        return float(book.cash[k])
    qty = book.qty
    entry = book.entry
    ref_px = book.ref_px
    c = float(book.cash[0])
    for j in range(qty.shape[0]):
        if j == k or qty[j] == 0.0:
            continue
        kind = inst[j]["kind"]
        c += position_upnl(qty[j], entry[j], ref_px[j], kind == ContractKind.INVERSE)
        if kind != ContractKind.SPOT:
            c -= _maintenance_of(j, qty[j], entry[j], ref_px[j], True, book, inst, tiers)
    return c


@jitable
def others_maintenance(k: int, cross: bool, book: Book, inst: np.ndarray, tiers: Tiers) -> float:
    """Return the maintenance requirement of the cross positions other than instrument ``k`` at
    their reference prices (what :func:`collateral` subtracts); 0 in isolated margin.

    A cross account's backstop tests its equity against its total maintenance margin
    (:func:`~levguard.kernels.liquidation.below_backstop`), which is ``k``'s plus this.
    """
    if not cross:
        return 0.0
    qty = book.qty
    out = 0.0
    for j in range(qty.shape[0]):
        if j != k and qty[j] != 0.0 and inst[j]["kind"] != ContractKind.SPOT:
            out += _maintenance_of(j, qty[j], book.entry[j], book.ref_px[j], True, book, inst, tiers)
    return out


@jitable
def lp_of(k: int, cross: bool, book: Book, inst: np.ndarray, tiers: Tiers, scratch: Scratch) -> tuple[float, float]:
    """Return (liquidation price, collateral) of instrument ``k``; NaN for spot or flat."""
    spec = inst[k]
    if book.qty[k] == 0.0 or spec["kind"] == ContractKind.SPOT:
        return math.nan, math.nan
    coll = collateral(k, cross, book, inst, tiers)
    caps, mmrs, cums = tier_rows(spec, tiers)
    lp = liquidation_price(
        book.qty[k],
        book.entry[k],
        coll,
        spec["kind"] == ContractKind.INVERSE,
        spec["fee_in_mm"],
        close_fee_term(k, book.qty[k], book.entry[k], cross, book, inst),
        spec["mm_at_entry"],
        spec["by_size"],
        spec["size_coef"],
        caps,
        mmrs,
        cums,
        scratch.zero_caps,
        scratch.zero,
    )
    return lp, coll


@jitable
def lp_memo(k: int, cross: bool, book: Book, inst: np.ndarray, tiers: Tiers, scratch: Scratch) -> tuple[float, float]:
    """:func:`lp_of` with a memo: when instrument ``k``'s LP depends only on its own (qty, entry,
    wallet) -- isolated margin, or a single instrument -- the same inputs give the same result,
    so the solve is skipped while they are unchanged (most bars).  Exact: no tolerance."""
    w = 0 if cross else k
    if cross and book.qty.shape[0] > 1:
        return lp_of(k, cross, book, inst, tiers, scratch)
    m = scratch.memo[k]
    if memo_holds(m, book.qty[k], book.entry[k], book.cash[w]):
        return m["lp"], m["coll"]
    lp, coll = lp_of(k, cross, book, inst, tiers, scratch)
    m["qty"] = book.qty[k]
    m["entry"] = book.entry[k]
    m["wallet"] = book.cash[w]
    m["lp"] = lp
    m["coll"] = coll
    return lp, coll


@jitable
def memo_holds(m: np.void, qty: float, entry: float, wallet: float) -> bool:
    """Return whether the memo entry ``m`` (``MEMO_DTYPE``) was solved for these inputs, so that
    its ``lp`` and ``coll`` are :func:`lp_of`'s result (see :func:`lp_memo`).

    The kernel reads a hit itself, every bar, and calls :func:`lp_memo` only on a miss or when
    the memo is off (cross margin over several instruments): a call passes the book, the
    instruments, the tiers and the scratch arrays, whose reference counts cost more than the
    lookup.
    """
    return bool(m["qty"] == qty and m["entry"] == entry and m["wallet"] == wallet)


@jitable
def left_bankrupt(w: int, k: int, cross: bool, balance: float, book: Book, inst: np.ndarray) -> bool:
    """Whether wallet ``w`` at ``balance`` is to be settled as bad debt once instrument ``k`` is
    closed (``k = -1``: as it is): no other perpetual position in it, and the balance plus its spot
    legs at ``ref_px`` (cross margin's collateral) below 0 (:func:`settle_bad_debt`'s rule)."""
    qty = book.qty
    eq = balance
    for j in range(qty.shape[0]):
        if j != k and (cross or j == w) and qty[j] != 0.0:
            if inst[j]["kind"] != ContractKind.SPOT:
                return False
            eq += position_upnl(qty[j], book.entry[j], book.ref_px[j], False)
    return eq < 0.0


@jitable
def settle_bad_debt(
    t: int,
    w: int,
    k: int,
    px: float,
    cross: bool,
    book: Book,
    inst: np.ndarray,
    out_liqs: np.ndarray,
    n_liqs: int,
    last_row: int,
) -> tuple[int, float]:
    """Settle wallet ``w`` once it holds no perpetual position; return (rows written, fees).

    A negative balance is bad debt: the venue's insurance fund pays it and the wallet is set to
    0, the amount recorded on the wallet's liquidation row ``last_row`` when that row is of bar
    ``t``.  Otherwise (a trade, not a liquidation, left the balance negative: a stop or market
    close filled beyond the bankruptcy price while the mark had not reached the liquidation
    price) a settlement row of instrument ``k`` is written: quantity 0 at ``px`` (the trade's
    price), no loss or fee, the bad debt, ``margin`` the negative balance, ``kept`` 0.  In
    cross margin spot legs are collateral: when the balance plus their value is negative they
    are sold at ``ref_px`` (the venue liquidates the collateral, with the liquidation fee)
    before the shortfall is settled.
    """
    cash = book.cash
    qty = book.qty
    entry = book.entry
    n_inst = qty.shape[0]
    if not left_bankrupt(w, -1, cross, cash[w], book, inst):
        return 0, 0.0
    written = 0
    fees = 0.0
    for j in range(n_inst):
        if (cross or j == w) and qty[j] != 0.0:
            dw, fee = _book_liquidation(
                t, j, qty[j], entry[j], book.ref_px[j], inst[j]["liq_fee"], out_liqs, n_liqs + written
            )
            cash[w] += dw
            fees += fee
            last_row = n_liqs + written
            written += 1
            qty[j] = 0.0
            entry[j] = 0.0
    if cash[w] < 0.0:
        n_rows = out_liqs.shape[0]
        if last_row < 0 or last_row >= n_rows or out_liqs[last_row]["bar"] != t:
            last_row = n_liqs + written
            record_liq(out_liqs, last_row, t, k, 0.0, px, 0.0, 0.0, 0.0, cash[w], 0.0, False, False)
            written += 1
        if last_row < n_rows:
            out_liqs[last_row]["bad_debt"] += -cash[w]
        cash[w] = 0.0
    return written, fees


@jitable
def _mm_terms(
    k: int, q: float, ent: float, px: float, cross: bool, book: Book, inst: np.ndarray, tiers: Tiers
) -> tuple[float, float, float, float]:
    # (maintenance margin at px, marginal maintenance rate, price the tier is read at, the part of
    # that rate proportional to the size) of a position of instrument k: tiers at the entry
    # notional for venues valuing MM at entry, the tier of the size for tiers by size; the size
    # term of a rate that grows with the size (Deribit: size_coef x |q|, 0 elsewhere), which an
    # incremental liquidation solves against (kernels.liquidation.restore_fraction).
    spec = inst[k]
    inverse = spec["kind"] == ContractKind.INVERSE
    caps, mmrs, _cums = tier_rows(spec, tiers)
    mm = _maintenance_of(k, q, ent, px, cross, book, inst, tiers)
    basis = ent if spec["mm_at_entry"] else px
    kt = tier_index(abs(q) if spec["by_size"] else position_notional(q, basis, inverse), caps)
    size_rate = size_scaled_rate(0.0, spec["size_coef"], q)
    return mm, mmrs[kt] + spec["fee_in_mm"] + size_rate, basis, size_rate


@jitable
def _close_whole(
    t: int,
    k: int,
    px: float,
    outcome: int,
    coll: float,
    mm: float,
    others_mm: float,
    w: int,
    book: Book,
    inst: np.ndarray,
    out_liqs: np.ndarray,
    row: int,
) -> tuple[float, float]:
    """Close all of instrument k at ``px`` under ``outcome`` (takeover or book) with the margin
    ``coll`` behind it (``mm`` its maintenance at ``px``, ``others_mm`` the other cross
    positions': dYdX's fee cap, :func:`~levguard.kernels.liquidation.fee_cap`); record the row;
    return (fee, taken-over flag).  The bad debt is what the fund pays beyond the fee."""
    inverse = inst[k]["kind"] == ContractKind.INVERSE
    q = book.qty[k]
    realised = position_upnl(q, book.entry[k], px, inverse)
    share = inst[k]["rule"][kl.RULE_FEE_CAP] == kl.FEE_CAP_SHARE
    kept, fee, fund, taken = kl.settle_close(
        outcome, coll, realised, position_notional(q, px, inverse), inst[k]["liq_fee"], mm, 0.0, others_mm, share
    )
    book.cash[w] += kept - coll
    bad = fee - fund if fee > fund else 0.0  # what the fund pays beyond the fee (settle_close's)
    record_liq(out_liqs, row, t, k, q, px, -realised, fee, bad, coll, kept, False, taken > 0.0)
    book.qty[k] = 0.0
    book.entry[k] = 0.0
    return fee, taken


@jitable
def _restore_walk(
    t: int,
    k: int,
    p0: float,
    p1: float,
    cross: bool,
    book: Book,
    inst: np.ndarray,
    tiers: Tiers,
    out_liqs: np.ndarray,
    row: int,
) -> tuple[int, float]:
    """Incremental liquidation of instrument k along prices from ``p0`` to ``p1`` (geometric
    grid of ``N_RESTORE_GRID`` points; one point when equal): wherever the equity is below the
    maintenance margin, close the fraction that restores it
    (:func:`~levguard.kernels.liquidation.restore_fraction`) in the book with the liquidation
    fee, or the whole position when none does or when the rest would be smaller than the
    venue's minimum order (its notional, or for a linear contract its quantity at the price,
    whichever is larger: :meth:`levguard.core.rules.base.VenueModel.min_order_notional`).  One
    aggregated row (volume-weighted price,
    harmonic for inverse contracts); returns (rows written, fees).

    A maintenance rate that grows with the size (Deribit: the instrument's ``size_coef``,
    0.005 % per BTC on top of its 1 % rate) is read at the position's size at each grid point,
    and the restore solves against it (``size_rate``), as the scalar API
    (:func:`levguard.core.liquidation_outcome.liquidation_outcome`) and the paper venue do.  A
    takeover (the rule's, or the backstop) in cross margin takes the account over
    (:func:`_take_over_account`) after the row of the closes before it."""
    spec = inst[k]
    inverse = spec["kind"] == ContractKind.INVERSE
    w = 0 if cross else k
    rule = spec["rule"]
    fee_rate = spec["liq_fee"]
    caps, mmrs, cums = tier_rows(spec, tiers)
    cash = book.cash
    qty = book.qty
    entry = book.entry
    sign = 1.0 if qty[k] > 0.0 else -1.0
    c0 = collateral(k, cross, book, inst, tiers)
    others_mm = others_maintenance(k, cross, book, inst, tiers)
    n_grid = 1 if p1 == p0 else N_RESTORE_GRID
    closed_sum = 0.0
    value_sum = 0.0
    loss = 0.0
    fees = 0.0
    bad = 0.0
    kept_final = 0.0
    taken = 0.0
    flat = False
    over_px = math.nan  # a cross takeover (or backstop) ends the walk at this price
    for i in range(n_grid):
        p = p0 if n_grid == 1 else p0 * (p1 / p0) ** (i / (n_grid - 1.0))
        q = qty[k]
        coll = collateral(k, cross, book, inst, tiers)
        equity = coll + position_upnl(q, entry[k], p, inverse)
        mm, mmr, basis, size_rate = _mm_terms(k, q, entry[k], p, cross, book, inst, tiers)
        n_fill = position_notional(q, p, inverse)
        closed, decision = kl.plan_close(
            rule, abs(q), n_fill, basis, inverse, equity, mm, mmr, fee_rate,
            caps_at(caps, spec["by_size"], inverse, basis, abs(q)), mmrs, cums, True, others_mm, size_rate,
        )  # fmt: skip
        if decision == kl.CLOSE_NONE:
            continue
        rest_quote = (abs(q) - closed) * (1.0 if inverse else p)
        min_rest = spec["min_notional"] if inverse else max(spec["min_notional"], spec["min_qty"] * p)
        if decision == kl.CLOSE_PARTIAL and rest_quote >= min_rest:
            dq = sign * closed
            realised = position_upnl(dq, entry[k], p, inverse)
            left, fee = kl.settle_partial(coll, realised, position_notional(dq, p, inverse), fee_rate)
            if left + others_mm > 0.0:
                cash[w] += realised - fee
                qty[k] -= dq
                closed_sum += closed
                value_sum += closed / p if inverse else closed * p
                loss -= realised
                fees += fee
                continue
        outcome = kl.TAKEOVER if decision == kl.CLOSE_BACKSTOP else int(rule[kl.RULE_KIND])
        if cross and outcome == kl.TAKEOVER:  # the account is bankrupt: after the closes so far
            over_px = p
            break
        realised = position_upnl(q, entry[k], p, inverse)
        share = rule[kl.RULE_FEE_CAP] == kl.FEE_CAP_SHARE
        kept, fee, fund, taken = kl.settle_close(
            outcome, coll, realised, position_notional(q, p, inverse), fee_rate, mm, 0.0, others_mm, share
        )
        cash[w] += kept - coll
        closed_sum += abs(q)
        value_sum += abs(q) / p if inverse else abs(q) * p
        loss -= realised
        fees += fee
        if fee > fund:  # what the fund pays beyond the fee (settle_close's)
            bad = fee - fund
        kept_final = kept
        qty[k] = 0.0
        entry[k] = 0.0
        flat = True
        break
    written = 0
    if closed_sum > 0.0:
        price = closed_sum / value_sum if inverse else value_sum / closed_sum
        kept_after = kept_final
        if not flat:
            kept_after = collateral(k, cross, book, inst, tiers)
        record_liq(
            out_liqs, row, t, k, sign * closed_sum, price, loss, fees, bad, c0, kept_after, not flat, taken > 0.0
        )
        written = 1
    if not math.isnan(over_px):
        n_over, fees_over = _take_over_account(t, k, over_px, book, inst, out_liqs, row + written)
        return written + n_over, fees + fees_over
    return written, fees


@jitable
def cooling_down(k: int, liq_state: Int64Array1D, inst: np.ndarray) -> bool:
    """Return whether instrument ``k`` is in a partial-liquidation cool-down this bar (its next
    liquidation takes the whole position).

    After its own partial liquidation (``liq_state`` PARTIAL, or another liquidation state of
    the bar); under a slicing rule (Hyperliquid) also after a slice of any of the account's
    instruments, cross or isolated: the cool-down is the user's.  A risk-limit step-down cools
    its own instrument only.

    Notes
    -----
    Hyperliquid, "Liquidations" (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations):
    "After a block where any position of a user is partially liquidated, there is a cooldown
    period of 30 seconds. During this cooldown period, all market liquidation orders for that
    user will be for the entire position."  The backtester's cool-down is the rest of the bar.
    """
    if liq_state[k] != LiqState.NONE:
        return True
    if int(inst[k]["rule"][kl.RULE_PARTIAL]) != kl.PARTIAL_SLICE:
        return False
    for j in range(liq_state.shape[0]):
        if liq_state[j] == LiqState.PARTIAL and int(inst[j]["rule"][kl.RULE_PARTIAL]) == kl.PARTIAL_SLICE:
            return True
    return False


@jitable
def liquidate(
    t: int,
    k: int,
    px: float,
    extreme: float,
    cross: bool,
    book: Book,
    inst: np.ndarray,
    tiers: Tiers,
    liq_state: Int64Array1D,
    out_liqs: np.ndarray,
    row: int,
) -> tuple[int, float]:
    """One liquidation event of instrument k under its venue's rule; return (rows, fees).

    ``px`` is the fill (the liquidation price, or the worse mark open), ``extreme`` the bar's
    adverse mark extreme (incremental liquidation walks from ``px`` to it).  The decision is
    :func:`~levguard.kernels.liquidation.plan_close` (backstop, partial rule, full outcome): a
    partial slice or step-down closes part at ``px`` with the liquidation fee and marks the
    instrument (``liq_state`` PARTIAL: the next liquidation in the bar is whole, of every
    instrument of the account after a slice: :func:`cooling_down`); a full close
    keeps what :func:`~levguard.kernels.liquidation.settle_close` leaves.  In cross margin a
    takeover makes the account bankrupt: every other cross position (spot legs included) is
    taken over too, at its reference price, and the cross wallet ends at 0.
    """
    spec = inst[k]
    w = 0 if cross else k
    rule = spec["rule"]
    if int(rule[kl.RULE_PARTIAL]) == kl.PARTIAL_RESTORE:
        return _restore_walk(t, k, px, extreme, cross, book, inst, tiers, out_liqs, row)
    inverse = spec["kind"] == ContractKind.INVERSE
    fee_rate = spec["liq_fee"]
    q = book.qty[k]
    coll = collateral(k, cross, book, inst, tiers)
    equity = coll + position_upnl(q, book.entry[k], px, inverse)
    mm, mmr, basis, size_rate = _mm_terms(k, q, book.entry[k], px, cross, book, inst, tiers)
    others_mm = others_maintenance(k, cross, book, inst, tiers)
    room = row + 2 * book.qty.shape[0] < out_liqs.shape[0]
    caps, mmrs, cums = tier_rows(spec, tiers)
    n_fill = position_notional(q, px, inverse)
    allow = not cooling_down(k, liq_state, inst) and room
    closed, decision = kl.plan_close(
        rule, abs(q), n_fill, basis, inverse, equity, mm, mmr, fee_rate,
        caps_at(caps, spec["by_size"], inverse, basis, abs(q)), mmrs, cums, allow, others_mm, size_rate,
    )  # fmt: skip
    if decision == kl.CLOSE_PARTIAL:
        rest = abs(q) - closed
        if spec["by_size"]:  # the rest stays in the tier it was stepped down to
            rest = kl.size_in_lower_tier(rest, caps)
            closed = abs(q) - rest
        dq = closed if q > 0.0 else -closed
        realised = position_upnl(dq, book.entry[k], px, inverse)
        left, fee = kl.settle_partial(coll, realised, position_notional(dq, px, inverse), fee_rate)
        if left + others_mm > 0.0:
            book.cash[w] += realised - fee
            if spec["by_size"]:
                book.qty[k] = rest if q > 0.0 else -rest
            else:
                book.qty[k] -= dq
            liq_state[k] = LiqState.PARTIAL
            record_liq(out_liqs, row, t, k, dq, px, -realised, fee, 0.0, coll, left, True, False)
            return 1, fee
    outcome = kl.TAKEOVER if decision == kl.CLOSE_BACKSTOP else int(rule[kl.RULE_KIND])
    if cross and outcome == kl.TAKEOVER:
        return _take_over_account(t, k, px, book, inst, out_liqs, row)
    fees, _taken = _close_whole(t, k, px, outcome, coll, mm, others_mm, w, book, inst, out_liqs, row)
    return 1, fees


@jitable
def _take_over_account(
    t: int, k: int, px: float, book: Book, inst: np.ndarray, out_liqs: np.ndarray, row: int
) -> tuple[int, float]:
    """A cross takeover (or backstop) of instrument k: the account is bankrupt as a whole.

    Every other cross position (spot legs included) goes with it at its reference price: its
    PnL is realised into the wallet (its row: margin NaN, no fee, no bad debt, kept 0).  Then k
    is taken over at ``px`` with the whole wallet behind it: its row's ``fee`` is the account's
    equity left (the clearance) and its ``bad_debt`` the account's shortfall, each counted once
    (per-position shares would count the others' maintenance margin as a clearance on their
    rows and again as k's bad debt).  The wallet ends at 0.  Returns (rows written, fees).
    """
    qty = book.qty
    entry = book.entry
    ref_px = book.ref_px
    written = 1
    for j in range(qty.shape[0]):
        if j != k and qty[j] != 0.0:
            realised = position_upnl(qty[j], entry[j], ref_px[j], inst[j]["kind"] == ContractKind.INVERSE)
            book.cash[0] += realised
            record_liq(
                out_liqs, row + written, t, j, qty[j], ref_px[j], -realised, 0.0, 0.0, math.nan, 0.0, False, True
            )
            qty[j] = 0.0
            entry[j] = 0.0
            written += 1
    fees, _taken = _close_whole(t, k, px, kl.TAKEOVER, book.cash[0], 0.0, 0.0, 0, book, inst, out_liqs, row)
    return written, fees


@jitable
def clear_memo(m: np.void) -> None:
    # An empty liquidation-price memo entry (NaN never equals an input).
    m["qty"] = math.nan
    m["entry"] = math.nan
    m["wallet"] = math.nan
    m["lp"] = math.nan
    m["coll"] = math.nan
