"""Crossing detection of the cascade kernel: the sorted sweep over liquidation prices.

Each side's open accounts are sorted once by their liquidation price (as a key, see
:func:`key`); a pointer advances as the mark moves, and accounts whose liquidation price changed
(a partial close, ADL, a margin rescale) are re-filed in a max-heap per side.  Stale entries (the
account's key changed since it was filed, or it is flat or pending) are dropped when met.  The
cost is ``O(N log N + T + events log N)`` per path instead of a scan of every account in every
round.  State lives in the records :class:`~levguard.kernels.cascade_records.Book` and
:class:`~levguard.kernels.cascade_records.Sweep`.
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jitable
from levguard.kernels.cascade_records import Book, Sweep, Tiers
from levguard.kernels.margin import size_tier_mm, solve_liquidation_price, tier_index, tiered_mm
from levguard.typing import Float64Array1D, Int64Array1D


@jitable
def liq_price(side: float, qty: float, entry: float, margin: float, tiers: Tiers) -> float:
    """Return the liquidation price of one isolated linear position (NaN when none: never crossed).

    By size the one tier of ``qty`` at every price (the last cap is infinite, and tiers by size
    carry no amount), as the margin engine reads them
    (:meth:`levguard.core.tiers.TierTable.at_quantity`)."""
    if qty <= 0.0:
        return math.nan
    if tiers.by_size:
        k = tier_index(qty, tiers.caps)
        caps, mmrs, cums = tiers.caps[-1:], tiers.mmrs[k : k + 1], tiers.cums[k : k + 1]
        return solve_liquidation_price(side * qty, entry, margin, 0.0, 0.0, False, caps, mmrs, cums)
    return solve_liquidation_price(side * qty, entry, margin, 0.0, 0.0, False, tiers.caps, tiers.mmrs, tiers.cums)


@jitable
def tier_of(qty: float, price: float, tiers: Tiers) -> int:
    """Return the tier of a position of size ``qty`` at ``price``: of its notional, or by size."""
    return tier_index(qty if tiers.by_size else qty * price, tiers.caps)


@jitable
def maintenance_of(qty: float, price: float, tiers: Tiers) -> float:
    """Return the maintenance margin of a position of size ``qty`` at ``price``: tiered by its
    notional (``N x mmr_k - cum_k``), or by size its tier's rate on the whole notional."""
    n = qty * price
    if tiers.by_size:
        return size_tier_mm(n, qty, tiers.caps, tiers.mmrs, tiers.cums)
    return tiered_mm(n, tiers.caps, tiers.mmrs, tiers.cums)


@jitable
def key(side: float, lp: float) -> float:
    """Return the sort key of an account on its side's list.

    Longs are crossed when ``lp >= mark`` (key ``lp``, threshold ``mark``), shorts when
    ``lp <= mark`` (key ``-lp``, threshold ``-mark``); both lists are kept in descending key
    order.  No liquidation price: ``-inf`` (never crossed).
    """
    if math.isnan(lp):
        return -math.inf
    return lp if side > 0.0 else -lp


@jitable
def open_accounts(s: int, book: Book, filed: bool, out: Int64Array1D) -> int:
    """Write side ``s``'s open accounts (0 longs, 1 shorts) to ``out`` in account order; return
    their count.  With ``filed`` only those the sweep files: not pending, with a liquidation price."""
    side = book.side
    qty = book.qty
    pending = book.pending
    key_at = book.key_at
    want = 1.0 if s == 0 else -1.0
    m = 0
    for i in range(side.shape[0]):
        if side[i] == want and qty[i] > 0.0 and not (filed and (pending[i] or not key_at[i] > -math.inf)):
            out[m] = i
            m += 1
    return m


@jitable
def sort_descending(ids: Int64Array1D, keys: Float64Array1D, m: int) -> None:
    """Sort the first ``m`` entries of ``ids`` and ``keys`` by descending key, in place; equal
    keys keep their order (a stable merge sort)."""
    idx = np.argsort(-keys[:m], kind="mergesort")
    ids[:m] = ids[:m][idx]
    keys[:m] = keys[:m][idx]


TIE_RTOL = 1e-12
"""Scores this close (relative) are a tie: positions of one entry and leverage score alike in
exact arithmetic whatever their size, and differ by a few ulps in floating point."""


@jitable
def break_score_ties(
    ids: Int64Array1D,
    scores: Float64Array1D,
    m: int,
    size: Float64Array1D,
    margin: Float64Array1D,
    entry: Float64Array1D,
) -> None:
    """Order each run of tied ``scores`` (within :data:`TIE_RTOL` of the run's first) among the
    first ``m`` (sorted, descending) entries of ``ids`` by the positions themselves, not by
    account order: the larger ``|size|`` first, then the lower ``margin`` (the higher leverage),
    then the lower ``entry``.  ``size``, ``margin`` and ``entry`` are per account (indexed by the
    ids).

    Notes
    -----
    Venues rank ADL counterparties by a PnL and leverage score, highest first, and publish no
    tie-break (BitMEX's ADL ranking; Binance's and Bybit's ADL indicators).  Positions tie at
    their entry (PnL 0 scores 0 at any leverage) and at the same entry and leverage whatever their
    size; accounts alike in size, margin and entry are alike for the book and the fund, so the
    result does not depend on the order the accounts are given in (docs/cascade.md).  Each run
    is ordered by three stable sorts, the least significant key first: O(r log r) for a run of
    r, as a book of one entry and leverage gives.
    """
    j = 0
    while j < m:
        e = j + 1
        tol = TIE_RTOL * abs(scores[j])
        while e < m and abs(scores[e] - scores[j]) <= tol:
            e += 1
        if e - j > 1:
            run = ids[j:e].copy()
            keys = np.empty(e - j)
            for level in range(3):  # entry, then margin, then -|size|: stable sorts
                for p in range(e - j):
                    u = run[p]
                    keys[p] = entry[u] if level == 0 else margin[u] if level == 1 else -abs(size[u])
                run = run[np.argsort(keys, kind="mergesort")]
            ids[j:e] = run
        j = e


@jitable
def sort_deficits(m: int, order: Int64Array1D, scores: Float64Array1D, notional: Float64Array1D) -> None:
    """Sort the candidate closes ``order[:m]`` (round positions) by deficit ``scores[:m]``,
    largest first, equal deficits by the close's notional ``notional[order[p]]``, largest first
    (then in round order: two closes alike in both give the fund and the books the same)."""
    sort_descending(order, scores, m)
    s = 0
    while s < m:
        e = s + 1
        while e < m and scores[e] == scores[s]:
            e += 1
        if e - s > 1:
            d = scores[s]
            for p in range(s, e):
                scores[p] = notional[order[p]]
            sort_descending(order[s:e], scores[s:e], e - s)
            for p in range(s, e):
                scores[p] = d
        s = e


@jitable
def rebuild(s: int, book: Book, sw: Sweep) -> None:
    """Sort side ``s``'s open, non-pending accounts by key (descending); empty its heap."""
    ids = sw.ordi[s]
    keys = sw.ordk[s]
    key_at = book.key_at
    m = open_accounts(s, book, True, ids)
    for j in range(m):
        keys[j] = key_at[ids[j]]
    sort_descending(ids, keys, m)
    sw.length[s] = m
    sw.ptr[s] = 0
    sw.hsize[s] = 0


@jitable
def _swap(keys: Float64Array1D, ids: Int64Array1D, a: int, b: int) -> None:
    # Exchange heap entries a and b (key and account).
    keys[a], keys[b] = keys[b], keys[a]
    ids[a], ids[b] = ids[b], ids[a]


@jitable
def heap_push(keys: Float64Array1D, ids: Int64Array1D, size: int, k: float, idx: int) -> int:
    """Push ``(k, idx)`` on the max-heap ``keys``/``ids`` of ``size`` entries; return the new size."""
    i = size
    keys[i] = k
    ids[i] = idx
    size += 1
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] >= keys[i]:
            break
        _swap(keys, ids, parent, i)
        i = parent
    return size


@jitable
def heap_pop(keys: Float64Array1D, ids: Int64Array1D, size: int) -> int:
    """Remove the top (``keys[0]``, ``ids[0]`` before the call); return the new size."""
    size -= 1
    keys[0] = keys[size]
    ids[0] = ids[size]
    i = 0
    while True:
        left = 2 * i + 1
        right = left + 1
        best = i
        if left < size and keys[left] > keys[best]:
            best = left
        if right < size and keys[right] > keys[best]:
            best = right
        if best == i:
            break
        _swap(keys, ids, best, i)
        i = best
    return size


@jitable
def detect(s: int, thr: float, book: Book, sw: Sweep, found: Int64Array1D, n_found: int) -> int:
    """Append side ``s``'s accounts crossed at threshold ``thr`` (key >= thr) to ``found``.

    The sorted list's prefix past the pointer, then the heap's top entries; stale entries are
    dropped; found accounts are marked pending.  Returns the new count.
    """
    qty = book.qty
    pending = book.pending
    key_at = book.key_at
    ordk = sw.ordk
    ordi = sw.ordi
    length = sw.length
    hk = sw.hk
    hi = sw.hi
    hsize = sw.hsize
    p = sw.ptr[s]
    while p < length[s] and ordk[s, p] >= thr:
        i = ordi[s, p]
        if qty[i] > 0.0 and not pending[i] and key_at[i] == ordk[s, p]:
            found[n_found] = i
            n_found += 1
            pending[i] = True
        p += 1
    sw.ptr[s] = p
    while hsize[s] > 0 and hk[s, 0] >= thr:
        k = hk[s, 0]
        i = hi[s, 0]
        hsize[s] = heap_pop(hk[s], hi[s], hsize[s])
        if qty[i] > 0.0 and not pending[i] and key_at[i] == k:
            found[n_found] = i
            n_found += 1
            pending[i] = True
    return n_found


@jitable
def refile(i: int, book: Book, sw: Sweep) -> None:
    """File account ``i`` under its new key in its side's heap; a full heap is compacted by
    sorting the side again (stale entries dropped)."""
    s = 0 if book.side[i] > 0.0 else 1
    hsize = sw.hsize
    if hsize[s] >= sw.hk.shape[1]:
        rebuild(s, book, sw)
        return
    hsize[s] = heap_push(sw.hk[s], sw.hi[s], hsize[s], book.key_at[i], i)


@jitable
def reprice(i: int, naive: bool, book: Book, tiers: Tiers, sw: Sweep) -> None:
    """After account ``i``'s position or margin changed: solve its liquidation price again and
    file it under the new key (a flat account is never crossed)."""
    qty = book.qty
    key_at = book.key_at
    if qty[i] > 0.0:
        side = book.side
        lp = book.lp
        lp[i] = liq_price(side[i], qty[i], book.entry[i], book.margin[i], tiers)
        key_at[i] = key(side[i], lp[i])
        if not naive:
            refile(i, book, sw)
    else:
        key_at[i] = -math.inf
