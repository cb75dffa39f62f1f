"""Crossing detection of the market cascade kernel (v2): per book and side, a sorted sweep over
price keys, generalised from :mod:`levguard.kernels.cascade_sweep` to cross-margin accounts.

Every open position is filed on its book's side list under a price key:

* an account with **one** open position under its liquidation price (the same key and the
  same solver as v1: :func:`levguard.kernels.cascade_sweep.liq_price`), so with one asset and
  one venue detection is v1's exactly;
* an account with **several** positions under a *band*: with ``s = E - MM > 0`` the account's
  slack at the reference marks ``m`` and ``G = sum_long |q| m + sum_short |q| m (1 + mmr_max)``,
  every position is filed at ``m (1 - b)`` (long) or ``m (1 + b)`` (short) with ``b = s / G``.
  ``E - MM`` is separable in the assets and each asset's term falls by at most ``|q| dm``
  (long, falling) or ``|q| (1 + mmr_max) dm`` (short, rising) when its mark moves against it
  (continuous tiered maintenance), so while no mark crosses its band the account cannot be
  liquidatable.  A crossed band triggers an exact test (``E <= MM`` at the current marks);
  a safe account is filed again around the current marks.

Keys are v1's: a long list is crossed when ``key >= mark``, a short list (keys negated) when
``key >= -mark``; stale entries (position closed, account pending, key changed) are dropped.

Speed: every array a compiled call receives costs numba an atomic reference-count increment
and decrement, so a helper called per account that takes the record bundles (``MarketState``,
``SideLists``, ``BookTiers``: 32 arrays) pays hundreds of atomic operations per call.  The
per-candidate and per-order loops (:func:`check_candidates`, the kernel's settlement) therefore
take the arrays out of the bundles once per call and call only helpers on a few arrays
(:func:`set_keys`, :func:`push`, :func:`tier_mm`); at 1M accounts x 4 assets x 2 venues this
took the kernel from about 13-15 s to about 4.5 s with the same outputs bit for bit (issue 20,
docs/benchmarks.md).
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jitable
from levguard.kernels.cascade_records import Tiers
from levguard.kernels.cascade_sweep import key, liq_price, sort_descending
from levguard.kernels.cascade_v2_records import BookTiers, MarketState, SideLists, VenueQueues, list_index
from levguard.kernels.margin import mm_in_tier
from levguard.typing import Float64Array1D, Float64Array2D, Int64Array1D

# Relative rounding allowance on the slack of a band (so float error never makes it unsafe).
_BAND_TOL = 1e-12
# Children per node of the re-filing heaps: a shallow heap whose sibling keys share cache lines
# (re-filed bands sit just below the mark, near the top, so every push climbs the whole heap).
_ARITY = 8


@jitable
def heap_push(keys: Float64Array1D, ids: Int64Array1D, base: int, size: int, k: float, idx: int) -> int:
    """Push ``(k, idx)`` on the ``_ARITY``-ary max-heap stored at ``keys[base:]``/``ids[base:]``
    with ``size`` entries; return the new size (offsets, not views: no reference counting)."""
    i = size
    while i > 0:
        parent = (i - 1) // _ARITY
        if keys[base + parent] >= k:
            break
        keys[base + i] = keys[base + parent]
        ids[base + i] = ids[base + parent]
        i = parent
    keys[base + i] = k
    ids[base + i] = idx
    return size + 1


@jitable
def heap_pop(keys: Float64Array1D, ids: Int64Array1D, base: int, size: int) -> int:
    """Remove the top of the ``_ARITY``-ary max-heap at ``keys[base:]``; return the new size."""
    size -= 1
    k = keys[base + size]
    idx = ids[base + size]
    i = 0
    while True:
        first = _ARITY * i + 1
        if first >= size:
            break
        last = min(first + _ARITY, size)
        best = first
        bk = keys[base + first]
        for c in range(first + 1, last):
            if keys[base + c] > bk:
                best = c
                bk = keys[base + c]
        if not bk > k:
            break
        keys[base + i] = bk
        ids[base + i] = ids[base + best]
        i = best
    keys[base + i] = k
    ids[base + i] = idx
    return size


@jitable
def tier_row(caps: Float64Array1D, off: Int64Array1D, j: int, notional: float) -> int:
    """Return the flat row of book ``j``'s tier holding ``notional``
    (:func:`~levguard.kernels.margin.tier_index`'s search, on the flat arrays)."""
    o0 = int(off[j])
    k = int(off[j + 1]) - 1
    for r in range(k - 1, o0 - 1, -1):
        if notional < caps[r]:
            k = r
    return k


@jitable
def tier_mm(
    caps: Float64Array1D, mmrs: Float64Array1D, cums: Float64Array1D, off: Int64Array1D, j: int, notional: float
) -> float:
    """Return book ``j``'s tiered maintenance margin of ``notional`` from the flat tier arrays:
    v1's :func:`~levguard.kernels.margin.tiered_mm` (the same tier search and
    :func:`~levguard.kernels.margin.mm_in_tier`), without array views."""
    k = tier_row(caps, off, j, notional)
    return mm_in_tier(notional, mmrs[k], cums[k])


@jitable
def book_mm(tiers: BookTiers, j: int, notional: float) -> float:
    """Return book ``j``'s tiered maintenance margin of ``notional`` (:func:`tier_mm`)."""
    return tier_mm(tiers.caps, tiers.mmrs, tiers.cums, tiers.off, j, notional)


@jitable
def book_tier(tiers: BookTiers, j: int, notional: float) -> int:
    """Return the flat row of book ``j``'s tier holding ``notional`` (:func:`tier_row`)."""
    return tier_row(tiers.caps, tiers.off, j, notional)


@jitable
def equity_and_mm(i: int, marks: Float64Array1D, st: MarketState, tiers: BookTiers) -> tuple[float, float]:
    """Return account ``i``'s equity ``wallet + sum q (m - entry)`` and maintenance margin
    ``sum MM_a(|q| m)`` at its venue's ``marks`` (K,)."""
    venue = st.venue
    qty = st.qty
    entry = st.entry
    wallet = st.wallet
    n_assets = marks.shape[0]
    v = venue[i]
    eq = wallet[i]
    mm = 0.0
    for a in range(n_assets):
        q = qty[i, a]
        if q != 0.0:
            m = marks[a]
            eq += q * (m - entry[i, a])
            mm += book_mm(tiers, v * n_assets + a, abs(q) * m)
    return eq, mm


@jitable
def single_asset(i: int, st: MarketState) -> int:
    """Return the asset of account ``i``'s one open position (-1 when it has none or several)."""
    qty = st.qty
    n_open = st.n_open
    if n_open[i] != 1:
        return -1
    for a in range(qty.shape[1]):
        if qty[i, a] != 0.0:
            return a
    return -1


@jitable
def liquidatable(i: int, marks: Float64Array1D, st: MarketState, tiers: BookTiers) -> bool:
    """Whether account ``i`` is liquidatable at ``marks``: its one position's liquidation price is
    crossed (v1's test, through the filed key), or, with several positions, ``E <= MM``."""
    qty = st.qty
    key_at = st.key_at
    n_open = st.n_open
    a = single_asset(i, st)
    if a >= 0:
        k = key_at[i, a]
        return bool(k >= (marks[a] if qty[i, a] > 0.0 else -marks[a]))
    if n_open[i] == 0:
        return False
    eq, mm = equity_and_mm(i, marks, st, tiers)
    return eq - mm <= 0.0


@jitable
def rebuild(b: int, st: MarketState, sl: SideLists) -> None:
    """Sort list ``b``'s filed positions (open, not pending, with a key) by descending key; empty
    its heap."""
    qty = st.qty
    key_at = st.key_at
    pending = st.pending
    s_off = sl.off
    ids = sl.ids
    ordk = sl.ordk
    ordi = sl.ordi
    length = sl.length
    ptr = sl.ptr
    hsize = sl.hsize
    a = (b // 2) % qty.shape[1]
    o0 = s_off[b]
    o1 = s_off[b + 1]
    m = 0
    for p in range(o0, o1):
        i = ids[p]
        if qty[i, a] != 0.0 and not pending[i] and key_at[i, a] > -math.inf:
            ordi[o0 + m] = i
            ordk[o0 + m] = key_at[i, a]
            m += 1
    sort_descending(ordi[o0:o1], ordk[o0:o1], m)
    length[b] = m
    ptr[b] = 0
    hsize[b] = 0


@jitable
def detect(b: int, thr: float, st: MarketState, sl: SideLists, found: Int64Array1D, n_found: int) -> int:
    """Append list ``b``'s positions crossed at ``thr`` (key >= thr) to ``found`` and mark their
    accounts pending (an account found on another list already is skipped); return the count."""
    qty = st.qty
    key_at = st.key_at
    pending = st.pending
    s_off = sl.off
    ordk = sl.ordk
    ordi = sl.ordi
    length = sl.length
    ptr = sl.ptr
    hoff = sl.hoff
    hk = sl.hk
    hi = sl.hi
    hsize = sl.hsize
    a = (b // 2) % qty.shape[1]
    o0 = s_off[b]
    p = ptr[b]
    n = length[b]
    while p < n and ordk[o0 + p] >= thr:
        i = ordi[o0 + p]
        if key_at[i, a] == ordk[o0 + p] and qty[i, a] != 0.0 and not pending[i]:  # stale entries fail first
            found[n_found] = i
            n_found += 1
            pending[i] = True
        p += 1
    ptr[b] = p
    h0 = hoff[b]
    while hsize[b] > 0 and hk[h0] >= thr:
        k = hk[h0]
        i = hi[h0]
        hsize[b] = heap_pop(hk, hi, h0, hsize[b])
        if key_at[i, a] == k and qty[i, a] != 0.0 and not pending[i]:
            found[n_found] = i
            n_found += 1
            pending[i] = True
    return n_found


@jitable
def push(
    b: int, i: int, k: float, hoff: Int64Array1D, hk: Float64Array1D, hi: Int64Array1D, hsize: Int64Array1D
) -> bool:
    """Push account ``i`` under key ``k`` on list ``b``'s heap; return False (nothing pushed) when
    the heap is full (the caller sorts the list again: :func:`rebuild`)."""
    h0 = hoff[b]
    if hsize[b] >= hoff[b + 1] - h0:
        return False
    hsize[b] = heap_push(hk, hi, h0, hsize[b], k, i)
    return True


@jitable
def band_width(eq: float, mm: float, mag: float, g: float) -> float:
    """Return the relative band ``b = s / G`` of an account with equity ``eq``, maintenance ``mm``,
    magnitude ``mag`` (the size of the terms, for the rounding allowance) and slope ``g`` at the
    reference marks, shrunk by the allowance; -1 when it has no slack there (see the module
    docstring)."""
    slack = eq - mm - _BAND_TOL * mag
    return slack / g * (1.0 - _BAND_TOL) if slack > 0.0 and g > 0.0 else -1.0


@jitable
def band_key(q: float, m: float, band: float) -> float:
    """Return the key of a position of size ``q`` under relative band ``band`` around mark ``m``:
    ``m (1 - b)`` (long), ``-m (1 + b)`` (short, keys negated); ``+inf`` (crossed at once) when
    ``band < 0``."""
    if band < 0.0:
        return math.inf
    return m * (1.0 - band) if q > 0.0 else -(m * (1.0 + band))


@jitable
def set_keys(
    i: int,
    marks: Float64Array1D,
    v: int,
    qty: Float64Array2D,
    entry: Float64Array2D,
    wallet: Float64Array1D,
    key_at: Float64Array2D,
    n_open: Int64Array1D,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    off: Int64Array1D,
    mmr_hi: Float64Array1D,
) -> None:
    """Set the keys of account ``i`` (on venue ``v``) from the state and tier arrays: its
    liquidation price (one position) or its bands around ``marks`` (several; ``+inf`` when it is
    not safe there); closed positions get ``-inf``.  It takes the arrays, not the bundles:
    numba counts references on every array a call receives, per call."""
    n_assets = qty.shape[1]
    cnt = 0
    one = -1
    for a in range(n_assets):
        if qty[i, a] != 0.0:
            cnt += 1
            if one < 0:
                one = a
        else:
            key_at[i, a] = -math.inf
    n_open[i] = cnt
    if cnt == 0:
        return
    if cnt == 1:
        a = one
        q = qty[i, a]
        side = 1.0 if q > 0.0 else -1.0
        jb = v * n_assets + a
        o0 = off[jb]
        o1 = off[jb + 1]
        lp = liq_price(side, abs(q), entry[i, a], wallet[i], Tiers(caps[o0:o1], mmrs[o0:o1], cums[o0:o1], False))
        if math.isnan(lp):
            # No liquidation price: a holding in a tier at rate 1, whose equity after the haircut
            # does not move with the price there.  Liquidatable at every price (key +inf, always
            # crossed) when it is at the marks, else never.
            e_mm = wallet[i] + q * (marks[a] - entry[i, a]) - tier_mm(caps, mmrs, cums, off, jb, abs(q) * marks[a])
            key_at[i, a] = math.inf if e_mm <= 0.0 else -math.inf
        else:
            key_at[i, a] = key(side, lp)
        return
    eq = wallet[i]
    mm = 0.0
    mag = abs(eq)
    g = 0.0
    for a in range(n_assets):
        q = qty[i, a]
        if q != 0.0:
            j = v * n_assets + a
            m = marks[a]
            n = abs(q) * m
            eq += q * (m - entry[i, a])
            mm_a = tier_mm(caps, mmrs, cums, off, j, n)
            mm += mm_a
            mag += abs(q) * (m + entry[i, a]) + mm_a
            g += n if q > 0.0 else n * (1.0 + mmr_hi[j])
    band = band_width(eq, mm, mag, g)
    for a in range(n_assets):
        q = qty[i, a]
        if q != 0.0:
            key_at[i, a] = band_key(q, marks[a], band)


@jitable
def reprice(i: int, marks: Float64Array1D, naive: bool, st: MarketState, sl: SideLists, tiers: BookTiers) -> None:
    """After account ``i``'s positions or wallet changed (or a band was crossed by a safe
    account): set its keys again (:func:`set_keys`) and push its open positions on their lists'
    heaps (:func:`push`; a full heap: its list is sorted again, :func:`rebuild`)."""
    qty = st.qty
    key_at = st.key_at
    v = st.venue[i]
    set_keys(
        i,
        marks,
        v,
        qty,
        st.entry,
        st.wallet,
        key_at,
        st.n_open,
        tiers.caps,
        tiers.mmrs,
        tiers.cums,
        tiers.off,
        tiers.mmr_hi,
    )
    if naive:
        return
    n_assets = qty.shape[1]
    hoff = sl.hoff
    hk = sl.hk
    hi = sl.hi
    hsize = sl.hsize
    for a in range(n_assets):
        q = qty[i, a]
        if q != 0.0:
            b = list_index(v, a, 0 if q > 0.0 else 1, n_assets)
            if not push(b, i, key_at[i, a], hoff, hk, hi, hsize):
                rebuild(b, st, sl)


@jitable
def new_lists(st: MarketState, n_venues: int) -> tuple[SideLists, VenueQueues, int]:
    """Build the side lists (positions per book and side, in account order) and the venue
    queues of the accounts in ``st``; return them and the longest side list's length."""
    n = st.qty.shape[0]
    n_assets = st.qty.shape[1]
    n_lists = 2 * n_venues * n_assets
    count = np.zeros(n_lists, dtype=np.int64)
    per_venue = np.zeros(n_venues, dtype=np.int64)
    for i in range(n):
        v = st.venue[i]
        per_venue[v] += 1
        for a in range(n_assets):
            q = st.qty[i, a]
            if q != 0.0:
                count[list_index(v, a, 0 if q > 0.0 else 1, n_assets)] += 1
    off = np.zeros(n_lists + 1, dtype=np.int64)
    hoff = np.zeros(n_lists + 1, dtype=np.int64)
    longest = 0
    for b in range(n_lists):
        off[b + 1] = off[b] + count[b]
        hoff[b + 1] = hoff[b] + 2 * count[b] + 16
        longest = max(longest, count[b])
    n_pos = off[n_lists]
    ids = np.empty(n_pos, dtype=np.int64)
    fill = off[:n_lists].copy()
    aoff = np.zeros(n_venues + 1, dtype=np.int64)
    qoff = np.zeros(n_venues + 1, dtype=np.int64)
    for v in range(n_venues):
        aoff[v + 1] = aoff[v] + per_venue[v]
        qoff[v + 1] = qoff[v] + per_venue[v] + 1
    acc = np.empty(n, dtype=np.int64)
    afill = aoff[:n_venues].copy()
    for i in range(n):
        v = st.venue[i]
        acc[afill[v]] = i
        afill[v] += 1
        for a in range(n_assets):
            q = st.qty[i, a]
            if q != 0.0:
                b = list_index(v, a, 0 if q > 0.0 else 1, n_assets)
                ids[fill[b]] = i
                fill[b] += 1
    sl = SideLists(
        off,
        ids,
        np.empty(n_pos),
        np.empty(n_pos, dtype=np.int64),
        np.zeros(n_lists, dtype=np.int64),
        np.zeros(n_lists, dtype=np.int64),
        hoff,
        np.empty(hoff[n_lists]),
        np.empty(hoff[n_lists], dtype=np.int64),
        np.zeros(n_lists, dtype=np.int64),
        np.empty(n_pos, dtype=np.int64),
        np.zeros(n_lists, dtype=np.int64),
        np.zeros(n_lists, dtype=np.int64),
        np.full(n_lists, -1, dtype=np.int64),
    )
    vq = VenueQueues(
        aoff,
        acc,
        qoff,
        np.empty(qoff[n_venues], dtype=np.int64),
        np.empty(qoff[n_venues], dtype=np.int64),
        np.zeros(n_venues, dtype=np.int64),
        np.zeros(n_venues, dtype=np.int64),
    )
    return sl, vq, longest


@jitable
def crossed(
    v: int,
    marks: Float64Array1D,
    naive: bool,
    st: MarketState,
    sl: SideLists,
    vq: VenueQueues,
    tiers: BookTiers,
    found: Int64Array1D,
) -> int:
    """Write venue ``v``'s newly liquidatable accounts to ``found`` (marked pending), in account
    order; return their number.  Sweep and full scan give the same set."""
    n_found = 0
    if naive:
        for p in range(vq.aoff[v], vq.aoff[v + 1]):
            i = vq.acc[p]
            if st.n_open[i] > 0 and not st.pending[i] and liquidatable(i, marks, st, tiers):
                found[n_found] = i
                n_found += 1
                st.pending[i] = True
        return n_found
    n_assets = st.qty.shape[1]
    for b2 in range(2 * n_assets):  # per asset its longs, then its shorts
        a = b2 // 2
        thr = marks[a] if b2 % 2 == 0 else -marks[a]
        n_found = detect(list_index(v, a, b2 % 2, n_assets), thr, st, sl, found, n_found)
    if n_found > 1:
        found[:n_found].sort()  # in place (the accounts are distinct: any sort gives this order)
    return check_candidates(v, marks, st, sl, tiers, found, n_found)


@jitable
def _term(
    q: float,
    entry: float,
    price: float,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    off: Int64Array1D,
    j: int,
) -> float:
    # One position's part of E - MM at a price: q (price - entry) - MM(|q| price).
    return q * (price - entry) - tier_mm(caps, mmrs, cums, off, j, abs(q) * price)


@jitable
def check_candidates(
    v: int,
    marks: Float64Array1D,
    st: MarketState,
    sl: SideLists,
    tiers: BookTiers,
    found: Int64Array1D,
    n_found: int,
) -> int:
    """Keep the candidates ``found[:n_found]`` (venue ``v``, pending) that are liquidatable at
    ``marks``; return their number.  An account with one position is liquidatable (its key is
    its exact liquidation price); one with several (a crossed band) is tested exactly
    (``E <= MM``) and, when safe, gets new bands for its crossed positions only (the others keep
    theirs), is filed again and is no longer pending.

    Notes
    -----
    ``E - MM = wallet + sum_a phi_a(m_a)`` with ``phi_a`` increasing (long) or decreasing
    (short) in ``m_a``, so over the box of prices on the safe side of every band the minimum is
    at the corner where each asset sits at its band.  Keeping the uncrossed bands, the crossed
    positions share what that corner leaves with the crossed assets at their current marks,
    ``slack = wallet + sum_uncrossed phi(band) + sum_crossed phi(m)``, as one relative band
    ``slack / sum_crossed g m`` (the slopes of :func:`set_keys`).  No slack left: every band is
    set again around the marks and every position filed again (:func:`reprice`).  A full heap is
    not pushed on; its list is sorted again (:func:`rebuild`) after the loop, when the safe
    candidates are no longer pending (sorted while they were, it would leave out their entries).

    The loop runs over arrays taken from the bundles once per call, not per candidate: numba
    counts references on every array a call receives, and a call per candidate taking the
    bundles cost about 500 atomic operations (most of the v2 kernel's time at 1M accounts).
    """
    qty = st.qty
    entry = st.entry
    wallet = st.wallet
    key_at = st.key_at
    n_open = st.n_open
    pending = st.pending
    caps = tiers.caps
    mmrs = tiers.mmrs
    cums = tiers.cums
    off = tiers.off
    mmr_hi = tiers.mmr_hi
    hoff = sl.hoff
    hk = sl.hk
    hi = sl.hi
    hsize = sl.hsize
    n_assets = qty.shape[1]
    m_out = 0
    b0 = list_index(v, 0, 0, n_assets)  # venue v's lists: b0 .. b0 + 2 K - 1
    full = np.zeros(2 * n_assets, dtype=np.bool_)
    for jf in range(n_found):
        i = found[jf]
        if n_open[i] <= 1:
            found[m_out] = i
            m_out += 1
            continue
        # One pass over the positions: E and MM at the marks (equity_and_mm's sums, in its order:
        # the scan's test, bit for bit), E - MM with the crossed ones at the marks and the others
        # at their bands (the corner), and the sums of set_keys at the marks (for new bands).
        corner = wallet[i]
        mag = abs(corner)
        g = 0.0
        eq_m = wallet[i]
        mm_m = 0.0
        mag_m = abs(eq_m)
        g_m = 0.0
        cnt = 0
        for a in range(n_assets):
            q = qty[i, a]
            if q != 0.0:
                cnt += 1
                j = v * n_assets + a
                m = marks[a]
                e = entry[i, a]
                n = abs(q) * m
                mm_a = tier_mm(caps, mmrs, cums, off, j, n)
                here = q * (m - e) - mm_a  # _term at the mark
                eq_m += q * (m - e)
                mm_m += mm_a
                mag_m += abs(q) * (m + e) + mm_a
                g_m += n if q > 0.0 else n * (1.0 + mmr_hi[j])
                k = key_at[i, a]
                if k >= (m if q > 0.0 else -m):  # crossed (the test of detect)
                    corner += here
                    g += abs(q) * m if q > 0.0 else abs(q) * m * (1.0 + mmr_hi[j])
                    mag += abs(q) * (m + e) + mm_a
                else:
                    band = max(k, 0.0) if q > 0.0 else -k
                    corner += _term(q, e, band, caps, mmrs, cums, off, j)
                    mag += abs(q) * (band + e) + tier_mm(caps, mmrs, cums, off, j, abs(q) * band)
        if eq_m - mm_m <= 0.0:  # liquidatable's test (not the sum of the terms: ties round apart)
            found[m_out] = i
            m_out += 1
            continue
        width = band_width(corner, 0.0, mag, g)
        everything = width < 0.0
        if everything:
            # No slack at the corner: every band again around the marks (set_keys, its sums above).
            if cnt == 1:
                set_keys(i, marks, v, qty, entry, wallet, key_at, n_open, caps, mmrs, cums, off, mmr_hi)
            else:
                n_open[i] = cnt
                width = band_width(eq_m, mm_m, mag_m, g_m)
                for a in range(n_assets):
                    q = qty[i, a]
                    key_at[i, a] = band_key(q, marks[a], width) if q != 0.0 else -math.inf
        for a in range(n_assets):
            q = qty[i, a]
            if q == 0.0:
                continue
            if not everything:
                m = marks[a]
                if not key_at[i, a] >= (m if q > 0.0 else -m):
                    continue
                key_at[i, a] = band_key(q, m, width)
            b = list_index(v, a, 0 if q > 0.0 else 1, n_assets)
            if not push(b, i, key_at[i, a], hoff, hk, hi, hsize):
                full[b - b0] = True
        pending[i] = False
    # The full heaps' lists sorted again once every safe candidate is no longer pending: a list
    # sorted while a candidate is pending leaves out its entries, and a safe candidate files
    # again only its crossed positions (or, for itself, pushes on no heap), so its other entries
    # were lost from that list and never detected again.
    for r in range(2 * n_assets):
        if full[r]:
            rebuild(b0 + r, st, sl)
    return m_out
