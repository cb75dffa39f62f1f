"""One venue's liquidation round in the market cascade kernel (v2), and the arbitrage between
venues.

Scalar helpers of :func:`levguard.kernels.cascade_v2.market_cascade_py`: the venue's marks, the
sizing of each account's order, the net flow and fill per book (v1's impact maths,
:func:`levguard.kernels.cascade_rounds.walk_impact`), the settlement of an account's close in
the books and of its close against ADL counterparties (through
:mod:`levguard.kernels.liquidation`), and the arbitrage that pulls venue prices together.  The
routing to ADL is :func:`levguard.kernels.cascade_v2_adl.route_to_adl`.

With one open position every expression here is v1's (:mod:`levguard.kernels.cascade_rounds`)
in the same order, so with one asset and one venue the kernel repeats v1 bit for bit.
"""

from __future__ import annotations

import math

from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jitable
from levguard.kernels.cascade import _median_mark
from levguard.kernels.cascade_records import AccountStatus, EventKind, ImpactModel, PartialMode
from levguard.kernels.cascade_rounds import (
    bankruptcy_price,
    exp_or_inf,
    impact_of,
    notional_for_impact,
    walk_fill,
    walk_impact,
)
from levguard.kernels.cascade_v2_adl import (
    bankruptcy_prices,
    closes_something,
    deleverage,
    position_bankruptcy,
    rank_list,
    record,
    settle_whole,
    slice_goes_whole,
    slice_settle,
    take_whole,
)
from levguard.kernels.cascade_v2_records import (
    AdlRule,
    BookTiers,
    BookTotals,
    MarketState,
    MarketSteps,
    Record,
    RecordArray,
    RoundScratch,
    SideLists,
    list_index,
)
from levguard.kernels.cascade_v2_sweep import book_mm, book_tier, push, rebuild, set_keys
from levguard.typing import Float64Array1D, Float64Array2D

Float64Array3D = Float64Array2D  # numpy's typing does not distinguish dimensions


@jitable
def venue_marks(
    v: int,
    t: int,
    lag: int,
    source: int,
    prices: Float64Array2D,
    exo: Float64Array2D,
    hist: Float64Array3D,
    oracle: Float64Array3D,
    scratch: Float64Array1D,
    marks: Float64Array1D,
) -> None:
    """Write venue ``v``'s mark of every asset: the median over its oracle sources of the source
    price ``lag`` steps ago (v1's ``_median_mark``; one source: ``price x multiplier``).

    ``source`` is the price the mark reads: 0 the venue's own traded price (v1), 1 the
    exogenous price (an index outside the simulated books), ``2 + w`` venue ``w``'s traded
    price (a lending pool's oracle reading a centralised venue)."""
    src = t - lag if t - lag >= 0 else 0
    one = oracle.shape[2] == 1
    w = v if source == 0 else source - 2
    for a in range(prices.shape[1]):
        p = exo[src, a] if source == 1 else (hist[w, a, src] if src < t else prices[w, a])
        if one:
            mult = oracle[v, t, 0]
            marks[a] = p if math.isnan(mult) else p * mult
        else:
            marks[a] = _median_mark(p, oracle[v, t], scratch)


@jitable
def size_orders(
    k: int,
    vp: Record,
    prices: Float64Array1D,
    marks: Float64Array1D,
    st: MarketState,
    tiers: BookTiers,
    scr: RoundScratch,
) -> None:
    """Size the round's orders (``scr.ids[:k]``): per position the quantity ``scr.c[j, a]``
    closed, ``scr.full[j]`` when the whole account goes; none routed to ADL yet.

    The account's notional ``sum |q| p`` is compared with ``partial_min``; a fraction slices
    every position (Hyperliquid's 20 %), the tier step-down cuts each position to its next lower
    tier's cap, and the incremental mode closes the same fraction ``x`` of every position with
    ``x`` from :func:`levguard.kernels.liquidation.restore_fraction` on the account's equity,
    maintenance and notional (the marginal rate: the position's tier rate, or with several
    positions their notional-weighted mean), at the marks, where the liquidation was found.
    Collateral holdings (``tiers.coll``) are sold only by a full close: the notional and the
    incremental mode's closed notional and rate are the contracts'; its equity and maintenance
    are the account's whole ``E`` and ``MM`` (the holdings' haircuts in ``MM``), summed as the
    detection's test sums them (:func:`~levguard.kernels.cascade_v2_sweep.equity_and_mm`), so
    an account found liquidatable always closes something and the restore margin is relative
    to the whole requirement (relative to the contracts' alone it can drown in the rounding of
    the haircut's terms, leaving ``E = MM`` to within rounding: slivers closed every round); an
    account left with collateral alone is closed whole, and so is one whose equity after
    haircuts at the marks does not exceed the fee on all its contracts (no partial close of
    contracts can then make it safe: the shortfall is the haircut's).
    """
    n_assets = prices.shape[0]
    mode = vp["partial_mode"]
    partial_min = vp["partial_min"]
    coll = tiers.coll
    for j in range(k):
        i = scr.ids[j]
        v = st.venue[i]
        base = v * n_assets
        notional = 0.0  # of the contracts; collateral holdings are sold only by a full close
        held = False
        for a in range(n_assets):
            q = st.qty[i, a]
            scr.c[j, a] = abs(q)
            if q != 0.0:
                if coll[base + a]:
                    held = True
                else:
                    notional += abs(q) * prices[a]
        full = True
        if held and not notional > 0.0:
            pass  # collateral alone (its contracts gone to ADL): sold whole
        elif held and not _partial_can_help(i, base, marks, vp["liq_fee"], st, tiers):
            pass  # the haircut's shortfall: sold whole
        elif mode == PartialMode.RESTORE:
            eq = st.wallet[i]
            mm = 0.0
            w_mmr = 0.0
            mmr = 0.0
            n_mark = 0.0
            n_contracts = 0
            for a in range(n_assets):
                q = st.qty[i, a]
                if q != 0.0:
                    jb = base + a
                    n_a = abs(q) * marks[a]
                    eq += q * (marks[a] - st.entry[i, a])
                    mm += book_mm(tiers, jb, n_a)  # a holding's: its haircut
                    if not coll[jb]:
                        mmr = tiers.mmrs[book_tier(tiers, jb, n_a)]
                        w_mmr += mmr * n_a
                        n_mark += n_a
                        n_contracts += 1
            if n_contracts > 1:
                mmr = w_mmr / n_mark
            x = kl.restore_fraction(eq, mm, n_mark, mmr, vp["liq_fee"], 0.0)
            if x < 1.0:
                for a in range(n_assets):
                    scr.c[j, a] = 0.0 if coll[base + a] else abs(st.qty[i, a]) * x
                full = False
        elif mode == PartialMode.TIER:
            if notional > partial_min:
                _size_step_downs(j, i, base, vp, prices, st, tiers, scr)
                for a in range(n_assets):
                    if not scr.c[j, a] >= abs(st.qty[i, a]):
                        full = False
        elif notional > partial_min:
            for a in range(n_assets):
                q = st.qty[i, a]
                if q != 0.0 and not coll[base + a]:
                    c = kl.slice_qty(abs(q), notional, vp["partial"], partial_min)
                    scr.c[j, a] = c
                    if not c >= abs(q):
                        full = False
        if held and not full:
            for a in range(n_assets):
                if coll[base + a]:
                    scr.c[j, a] = 0.0
        scr.full[j] = full
        scr.adl[j] = False


@jitable
def _size_step_downs(
    j: int,
    i: int,
    base: int,
    vp: Record,
    prices: Float64Array1D,
    st: MarketState,
    tiers: BookTiers,
    scr: RoundScratch,
) -> None:
    # The account's risk-limit step-down under the venue's rule, its contracts stepped together
    # at the fill prices (with one contract: kernels.liquidation.tier_close to the bit).  A
    # fixed or one-tier step (each_trigger) cuts each contract as step_down_qty does, and sends
    # them all whole when the account's equity is below the stepped contracts' whole notional at
    # the target tier's rate plus the fee (OKX).  A step that must restore the margin lowers every
    # steppable contract by the same number of tiers, s = 1 (once) or 1, 2, ... (until_safe),
    # until the equity less the fees exceeds the account's maintenance after it; none does: the
    # whole account (scr.c keeps every |q|).  Stepping contracts one by one against the others'
    # full maintenance took over accounts that one joint step saves (a review).
    n_assets = prices.shape[0]
    fee = vp["liq_fee"]
    step_from = vp["step_from"]
    step_to = vp["step_to"]
    mode = vp["step_mode"]
    lowest = step_from if step_from > 1 else 1
    eq = st.wallet[i]
    mm_hold = 0.0  # collateral holdings' maintenance (their haircuts): they stay
    top = 0
    for a in range(n_assets):
        q = st.qty[i, a]
        if q != 0.0:
            jb = base + a
            n_a = abs(q) * prices[a]
            eq += q * (prices[a] - st.entry[i, a])
            if tiers.coll[jb]:
                mm_hold += book_mm(tiers, jb, n_a)
            else:
                k = book_tier(tiers, jb, n_a) - tiers.off[jb]
                if k > top:
                    top = k
    if mode == kl.STEP_EACH_TRIGGER:
        need = 0.0
        cut = False
        for a in range(n_assets):
            q = st.qty[i, a]
            jb = base + a
            if q == 0.0 or tiers.coll[jb]:
                continue
            lo = tiers.off[jb]
            hi = tiers.off[jb + 1]
            c = kl.step_down_qty(abs(q), prices[a], False, tiers.caps[lo:hi], step_from, step_to)
            scr.c[j, a] = c
            if c < abs(q):
                cut = True
                if 0 <= step_to < hi - lo:
                    need += abs(q) * prices[a] * (tiers.mmrs[lo + step_to] + fee)
        if cut and step_to >= 0 and eq - mm_hold < need:
            for a in range(n_assets):
                if st.qty[i, a] != 0.0 and not tiers.coll[base + a]:
                    scr.c[j, a] = abs(st.qty[i, a])
        return
    once = mode == kl.STEP_ONCE
    last = 1 if once else top
    for s in range(1, last + 1):
        left = eq
        mm_after = mm_hold
        closes = False
        for a in range(n_assets):
            q = st.qty[i, a]
            jb = base + a
            if q == 0.0 or tiers.coll[jb]:
                continue
            aq = abs(q)
            n_a = aq * prices[a]
            lo = tiers.off[jb]
            hi = tiers.off[jb + 1]
            k = book_tier(tiers, jb, n_a) - lo
            closed = 0.0
            if k >= lowest and n_a > 0.0:
                jt = k - s if k - s > 0 else 0
                cap = kl.step_rest_cap(jt, tiers.caps[lo:hi], tiers.mmrs[lo:hi], tiers.cums[lo:hi], once)
                c = aq - cap / prices[a]
                if c > 0.0 and c < aq:
                    closed = c
                    left = left - fee * n_a * c / aq
                    mm_after = mm_after + (cap * (tiers.mmrs[lo + jt] + 0.0) - tiers.cums[lo + jt])
                    closes = True
            if closed == 0.0:
                mm_after = mm_after + book_mm(tiers, jb, n_a)
            scr.c[j, a] = closed
        if closes and left > mm_after:
            return
    for a in range(n_assets):  # nothing restores: the whole account
        if st.qty[i, a] != 0.0 and not tiers.coll[base + a]:
            scr.c[j, a] = abs(st.qty[i, a])


@jitable
def _partial_can_help(i: int, base: int, marks: Float64Array1D, fee: float, st: MarketState, tiers: BookTiers) -> bool:
    # Whether closing contracts can make an account with collateral safe: its equity after the
    # haircuts at the marks exceeds the fee on all its contracts (closing them all leaves
    # E - H - fee > 0 = MM).
    eq = st.wallet[i]
    fees = 0.0
    for a in range(st.qty.shape[1]):
        q = st.qty[i, a]
        if q != 0.0:
            jb = base + a
            n_a = abs(q) * marks[a]
            eq += q * (marks[a] - st.entry[i, a])
            if tiers.coll[jb]:
                eq -= book_mm(tiers, jb, n_a)
            else:
                fees += fee * n_a
    return bool(eq > fees)


@jitable
def book_fills(
    k: int,
    t: int,
    v: int,
    prices: Float64Array1D,
    books: RecordArray,
    depth_mult: Float64Array3D,
    st: MarketState,
    scr: RoundScratch,
) -> None:
    """Net the round's orders not routed to ADL, and the parts of routed ones the opposite sides
    cannot absorb (``c - adl_c``), into one flow per book (signed base units, > 0 sells), a slice
    of the book's metaorder of the step (``scr.done`` before it), and write each book's log move
    ``scr.d_log`` (:func:`~levguard.kernels.cascade_rounds.walk_impact`) and fill (the average
    price of the walk, :func:`~levguard.kernels.cascade_rounds.walk_fill`)."""
    n_assets = prices.shape[0]
    for a in range(n_assets):
        scr.flow[a] = 0.0
    for j in range(k):
        i = scr.ids[j]
        routed = scr.adl[j]
        for a in range(n_assets):
            q = st.qty[i, a]
            if q != 0.0:
                if not routed:
                    scr.flow[a] += (1.0 if q > 0.0 else -1.0) * scr.c[j, a]
                elif scr.c[j, a] > scr.adl_c[j, a]:  # the part ADL cannot absorb
                    scr.flow[a] += (1.0 if q > 0.0 else -1.0) * (scr.c[j, a] - scr.adl_c[j, a])
    for a in range(n_assets):
        bk = books[v, a]
        kind = bk["impact_model"]
        depth = bk["depth"] * depth_mult[v, a, t]
        coef = bk["impact_coef"]
        sigma = bk["sigma_daily"]
        d = walk_impact(scr.done[a], scr.flow[a] * prices[a], depth, kind, coef, sigma)
        scr.d_log[a] = d
        scr.fill[a] = walk_fill(prices[a], impact_of(scr.done[a], depth, kind, coef, sigma), d, kind)


@jitable
def add_draw(delta: float, c: Float64Array1D, price: Float64Array1D, draw: Float64Array1D) -> None:
    """A close that draws on the fund (``delta < 0``) spreads the draw over its assets by the
    notional ``c price`` of each (added to ``draw`` (K,))."""
    if not delta < 0.0:
        return
    total = 0.0
    for a in range(c.shape[0]):
        total += c[a] * price[a]
    if total > 0.0:
        for a in range(c.shape[0]):
            draw[a] += -delta * (c[a] * price[a] / total)


@jitable
def close_in_books(
    k: int,
    t: int,
    v: int,
    vp: Record,
    marks: Float64Array1D,
    naive: bool,
    fund: float,
    st: MarketState,
    sl: SideLists,
    tiers: BookTiers,
    scr: RoundScratch,
    steps: MarketSteps,
    books_out: BookTotals,
    events: RecordArray,
    cnt: RecordArray,
    fees_paid: Float64Array2D,
) -> float:
    """Settle the round's orders (``scr.ids[:k]``, venue ``v``) in order: each is no longer
    pending; one not routed to ADL closes its sizes ``scr.c[j]`` at the books' fills; each then
    gets its keys again and is filed (:func:`~levguard.kernels.cascade_v2_sweep.reprice`).
    Return the venue's fund ``fund`` after the closes' changes.

    A partial close realises ``sum side c (fill - entry)`` and pays ``fee x sum c fill`` from
    the wallet (:func:`~levguard.kernels.liquidation.settle_partial`); it becomes a full close
    when that exhausts the wallet or leaves the account's equity at the fills below
    ``backstop`` x its maintenance (:func:`~levguard.kernels.cascade_v2_adl.slice_goes_whole`;
    with ADL on, the routing applies it first, at the fills before the routed orders leave the
    books, and marks such a slice full).  A
    full close settles the whole account through the venue's outcome
    (:func:`~levguard.kernels.liquidation.settle_close`, the wallet as collateral).
    One event per closed position; the fund's change is on the first.  On a ``fee_out`` venue
    the liquidation fee (on the contracts' notional: collateral sold pays none) of a book close
    (partial, or full and not taken over) leaves the venue
    for the liquidators: it is added to ``fees_paid[v, t]`` (cumulative over the steps) instead
    of the fund, whose change is then ``min(E, 0)`` (a full close) or 0 (a partial one).

    One call per round, the arrays taken from the bundles once: a call per order taking the
    bundles cost a few hundred of numba's atomic reference-count operations per order.
    """
    qty = st.qty
    entry = st.entry
    wallets = st.wallet
    pnl = st.pnl
    kept_out = st.kept
    status = st.status
    pending = st.pending
    key_at = st.key_at
    n_open = st.n_open
    caps = tiers.caps
    mmrs = tiers.mmrs
    cums = tiers.cums
    off = tiers.off
    mmr_hi = tiers.mmr_hi
    coll = tiers.coll
    hoff = sl.hoff
    hk = sl.hk
    hi = sl.hi
    hsize = sl.hsize
    ids = scr.ids
    cc = scr.c
    fill = scr.fill
    adl_bp = scr.adl_bp
    draw = scr.draw
    n_liq = steps.n_liq
    liq_notional = steps.liq_notional
    first_liq = books_out.first_liq
    n_assets = qty.shape[1]
    fee_rate = vp["liq_fee"]
    backstop = vp["backstop"]
    outcome = vp["outcome"]
    fee_out = vp["fee_out"]
    for j in range(k):
        i = ids[j]
        if scr.adl[j]:
            continue  # pending until its own ADL (adl_account): a bankrupt position is no counterparty
        pending[i] = False
        if closes_something(j, i, qty, cc):
            full = scr.full[j]
            wallet = wallets[i]
            base = v * n_assets
            left, fee, realised = slice_settle(j, i, base, fee_rate, fill, qty, entry, wallet, cc, coll)
            if not full and slice_goes_whole(left, i, base, backstop, fill, qty, entry, wallet, caps, mmrs, cums, off):
                full = True
                take_whole(j, i, qty, cc)
                _left, _fee, realised = slice_settle(j, i, base, fee_rate, fill, qty, entry, wallet, cc, coll)
            bankruptcy_prices(i, marks, qty, entry, wallets, n_open, tiers.coll, v * n_assets, adl_bp)
            if full:
                kept, fee_f, delta, taken = settle_whole(
                    j, i, base, outcome, fee_rate, backstop, fee_out, realised, fill, qty, wallet, cc,
                    caps, mmrs, cums, off, coll,
                )  # fmt: skip
                if fee_out and taken == 0.0:
                    fees_paid[v, t] += fee_f
                pnl[i] += kept - wallet
                wallets[i] = 0.0
                kept_out[i] += kept
            else:
                if fee_out:
                    delta = 0.0
                    fees_paid[v, t] += fee
                else:
                    delta = fee
                pnl[i] += realised - fee
                wallets[i] = left
            scr.full[j] = full
            # Every account's first liquidation counts, an ADL counterparty's (DELEVERAGED) too.
            if status[i] != AccountStatus.LIQUIDATED:
                cnt[0]["accounts_liquidated"] += 1
            status[i] = AccountStatus.LIQUIDATED
            n_liq[v, t] += 1
            first = True
            for a in range(n_assets):
                q = qty[i, a]
                if q != 0.0 and cc[j, a] > 0.0:
                    side = 1.0 if q > 0.0 else -1.0
                    liq_notional[v, a, t] += cc[j, a] * fill[a]
                    if first_liq[v, a] < 0:
                        first_liq[v, a] = t
                    record(
                        events,
                        cnt,
                        t,
                        v,
                        a,
                        i,
                        side * cc[j, a],
                        fill[a],
                        adl_bp[a],
                        delta if first else 0.0,
                        EventKind.LIQUIDATION,
                        -1,
                    )
                    first = False
                    qty[i, a] = 0.0 if full else side * (abs(q) - cc[j, a])
            add_draw(delta, cc[j], fill, draw)
            fund += float(delta)
        # reprice: keys again, open positions filed again
        set_keys(i, marks, v, qty, entry, wallets, key_at, n_open, caps, mmrs, cums, off, mmr_hi)
        if not naive:
            for a in range(n_assets):
                q = qty[i, a]
                if q != 0.0:
                    b = list_index(v, a, 0 if q > 0.0 else 1, n_assets)
                    if not push(b, i, key_at[i, a], hoff, hk, hi, hsize):
                        rebuild(b, st, sl)
    return fund


@jitable
def adl_account(
    j: int,
    t: int,
    rank_key: int,
    vp: Record,
    marks: Float64Array1D,
    prev_marks: Float64Array1D,
    naive: bool,
    st: MarketState,
    sl: SideLists,
    tiers: BookTiers,
    scr: RoundScratch,
    steps: MarketSteps,
    books_out: BookTotals,
    events: RecordArray,
    cnt: RecordArray,
    fees_paid: Float64Array2D,
) -> float:
    """Close order ``j``'s whole account, against ADL counterparties as far as the routing
    found them (``scr.adl_c``), the rest in the books at the fills; return the fund's change.

    The part of a position the opposite side cannot absorb (``|q| - adl_c``) closes first, in the
    book at ``scr.fill`` (its share of the deficit is the fund's: v1's booking settles it through
    the venue's outcome with its share of the wallet, otherwise it is realised into the
    account's settlement below).  Each position's routed part closes against its book's opposite
    side, ranked by the venue's rule at the marks (built once per mark key ``rank_key`` and
    side: again whenever the marks moved), at its bankruptcy price (BitMEX, Binance, Bybit) or
    the previous mark (Hyperliquid).  One position at its bankruptcy price: v1's booking (the
    closed share of the wallet is lost, the fund unchanged).  Otherwise each closed position
    realises ``side c (price - entry)`` and, once the account is flat, the rest settles as a
    takeover (:func:`~levguard.kernels.liquidation.settle_close` with ``TAKEOVER``): the account
    was bankrupt at the fills (why it was routed here) and keeps nothing, the fund receives or
    pays its equity at the ADL prices (at bankruptcy prices 0 up to rounding; at the previous
    mark the account's equity there).  A ``fee_out`` venue (a lending pool's: its fund takes no
    fee and no clearance) settles through its outcome instead and pays the outcome's liquidation
    fee to the liquidators (``fees_paid[v, t]``), as :func:`close_in_books` does.  A rest
    without counterparties stays open and is sent to the book in the next round (the caller
    queues it).  The routed part is written as routed (``adl_c``, not ``|q| - rest``), and
    what :func:`~levguard.kernels.cascade_v2_adl.deleverage` leaves within ``DUST`` of the
    size is 0: rounding leaves no dust position open, which would keep the account from
    settling (and its result would depend on the order of the accounts).

    Notes
    -----
    The takeover settlement is the venues' ADL: the bankrupt position is closed against the
    counterparties and nothing is paid out to its account.

    * Hyperliquid, hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging: "If a
      user's account value or isolated position value becomes negative, the users on the
      opposite side of the position are ranked ... Those traders' positions are closed at the
      previous mark price against the now underwater user, ensuring that the platform has no
      bad debt."  The account is underwater (why it was routed here), so its value at the
      previous mark is not collateral it keeps: /trading/liquidations leaves the trader "any
      remaining collateral" only when the book closes "such that the maintenance margin
      requirements are met", and below 2/3 of the maintenance margin the liquidator vault
      takes the positions and the margin over ("the maintenance margin is not returned to the
      user"; :mod:`levguard.core.rules.hyperliquid`).
    * BitMEX (bitmex.com/app/autoDeleveraging), Binance USD-M
      (binance.com/en/support/faq/detail/360033525471) and Bybit
      (bybit.com/en/help-center/article/Auto-Deleveraging-ADL): the counterparties are closed
      "at the bankruptcy price of the liquidated order", where the account's equity is 0, so
      the takeover pays and receives nothing (:mod:`levguard.core.rules.adl` quotes the pages).
    """
    i = scr.ids[j]
    v = st.venue[i]
    st.pending[i] = False
    n_assets = st.qty.shape[1]
    rule = vp["adl_rule"]
    v1_booking = st.n_open[i] == 1 and rule != AdlRule.HYPERLIQUID
    for a in range(n_assets):
        if st.qty[i, a] != 0.0:
            bp = position_bankruptcy(i, a, marks, st, tiers)
            scr.adl_bp[a] = bp
            scr.adl_price[a] = prev_marks[a] if rule == AdlRule.HYPERLIQUID else bp
        else:
            scr.adl_bp[a] = math.nan
            scr.adl_price[a] = 0.0
    realised = 0.0
    notional = 0.0
    mm = 0.0
    first_row = -1
    closed_any = False
    booked = 0.0  # the fund's change of v1 booking's parts closed in the books
    for a in range(n_assets):
        q = st.qty[i, a]
        if q == 0.0:
            continue
        side = 1.0 if q > 0.0 else -1.0
        routed = scr.adl_c[j, a]
        rest = abs(q) - routed
        if rest > 0.0:
            fill = scr.fill[a]
            d = 0.0
            if v1_booking:
                share = st.wallet[i] * (rest / abs(q))
                kept, fee, d, taken = kl.settle_close(
                    vp["outcome"], share, side * rest * (fill - st.entry[i, a]), rest * fill, vp["liq_fee"],
                    book_mm(tiers, v * n_assets + a, rest * fill), vp["backstop"], 0.0, False,
                )  # fmt: skip
                if vp["fee_out"] and taken == 0.0:
                    d -= fee
                    fees_paid[v, t] += fee
                st.pnl[i] += kept - share
                st.wallet[i] -= share
                st.kept[i] += kept
                booked += d
                if routed > 0.0:  # the routed part's bankruptcy price, from what it keeps (v1's)
                    bp = bankruptcy_price(side, routed, st.entry[i, a], st.wallet[i])
                    scr.adl_price[a] = bp
            else:
                realised += side * rest * (fill - st.entry[i, a])
                notional += rest * fill
                mm += book_mm(tiers, v * n_assets + a, rest * fill)
            st.qty[i, a] = side * routed  # exactly what was routed (|q| - rest may round)
            steps.liq_notional[v, a, t] += rest * fill
            if books_out.first_liq[v, a] < 0:
                books_out.first_liq[v, a] = t
            if st.status[i] != AccountStatus.LIQUIDATED:
                cnt[0]["accounts_liquidated"] += 1
            st.status[i] = AccountStatus.LIQUIDATED
            if not closed_any:
                steps.n_liq[v, t] += 1
            closed_any = True
            row = record(events, cnt, t, v, a, i, side * rest, fill, scr.adl_bp[a], d, EventKind.LIQUIDATION, -1)
            if first_row < 0 and not v1_booking:
                first_row = row
            if v1_booking:
                scr.adl_bp[a] = scr.adl_price[a]
            q = st.qty[i, a]
            if q == 0.0:
                scr.c[j, a] = rest
                continue
        else:
            rest = 0.0
        size = abs(q)
        price = scr.adl_price[a]
        b = list_index(v, a, 1 if side > 0.0 else 0, n_assets)
        if sl.rank_key[b] != rank_key:
            rank_list(b, rank_key, rule, marks, st, sl, tiers, scr.order, scr.scores)
        left = deleverage(i, a, size, price, scr.adl_bp[a], b, t, marks, naive, st, sl, tiers, steps, events, cnt)
        closed = size - left
        if closed > 0.0:
            if books_out.first_adl[v, a] < 0:
                books_out.first_adl[v, a] = t
            if books_out.first_liq[v, a] < 0:
                books_out.first_liq[v, a] = t
            if v1_booking:
                share = closed / size
                lost = st.wallet[i] * share
                st.pnl[i] -= lost
                st.wallet[i] -= lost
            else:
                realised += side * closed * (price - st.entry[i, a])
                notional += closed * price
                mm += book_mm(tiers, v * n_assets + a, closed * price)
            scr.c[j, a] = closed + rest
            st.qty[i, a] = side * left
            # Every account's first liquidation counts, an ADL counterparty's (DELEVERAGED) too.
            if st.status[i] != AccountStatus.LIQUIDATED:
                cnt[0]["accounts_liquidated"] += 1
            st.status[i] = AccountStatus.LIQUIDATED
            if not closed_any:
                steps.n_liq[v, t] += 1
            closed_any = True
            row = record(
                events, cnt, t, v, a, i, side * closed, price, scr.adl_bp[a], 0.0, EventKind.ADL_LIQUIDATED, -1
            )
            if first_row < 0:
                first_row = row
        else:
            scr.c[j, a] = rest
    cnt_open = 0
    for a in range(n_assets):
        if st.qty[i, a] != 0.0:
            cnt_open += 1
    st.n_open[i] = cnt_open
    delta = 0.0
    if closed_any and not v1_booking:
        if cnt_open == 0:
            wallet = st.wallet[i]
            kind = vp["outcome"] if vp["fee_out"] else kl.TAKEOVER
            kept, fee, delta, taken = kl.settle_close(
                kind, wallet, realised, notional, vp["liq_fee"], mm, vp["backstop"], 0.0, False
            )
            if vp["fee_out"] and taken == 0.0:
                delta -= fee
                fees_paid[v, t] += fee
            st.pnl[i] += kept - wallet
            st.wallet[i] = 0.0
            st.kept[i] += kept
            if first_row >= 0:
                events[first_row]["fund_delta"] = delta
            add_draw(delta, scr.c[j], scr.adl_price, scr.draw)
        else:
            st.pnl[i] += realised
            st.wallet[i] += realised
    if booked != 0.0:
        add_draw(booked, scr.c[j], scr.fill, scr.draw)
    return float(delta + booked)


@jitable
def flow_for_move(move: float, price: float, depth: float, kind: int, coef: float, sigma_daily: float) -> float:
    """Return the flow (signed base units, > 0 sells) whose notional
    :func:`~levguard.kernels.cascade_rounds.impact_of` maps to the log move ``move`` (its inverse:
    :func:`~levguard.kernels.cascade_rounds.notional_for_impact`; 0 when the book has no impact)."""
    return notional_for_impact(move, depth, kind, coef, sigma_daily) / price


@jitable
def arbitrage(
    t: int,
    speed: float,
    capacity: float,
    exo: Float64Array2D,
    books: RecordArray,
    depth_mult: Float64Array3D,
    impact: Float64Array2D,
    prices: Float64Array2D,
    steps: MarketSteps,
    flows: Float64Array1D,
) -> None:
    """Pull every venue's log deviation from the exogenous price toward the depth-weighted mean
    over venues, a fraction ``speed`` per step, within ``capacity`` notional bought (and sold)
    per asset and step.

    Notes
    -----
    Venue ``v``'s price is ``exo x exp(I_v)``. Arbitrageurs trade the flow that moves ``I_v`` by
    ``speed (I_bar - I_v)`` in venue ``v``'s book, walked from the book's impact ``I_v`` as the
    liquidations' flow is (``g^-1(I_v + move) - g^-1(I_v)``, :func:`flow_for_move`, and the move
    back through :func:`~levguard.kernels.cascade_rounds.walk_impact`), with ``I_bar = sum_v D_v
    I_v / sum_v D_v`` over the effective depths ``D_v``; under linear impact the buys and sells
    then match in notional (the trade is self-financing). When either side exceeds ``capacity``
    every flow is scaled down by the same factor and the moves follow from the scaled flows
    through the impact law.
    """
    n_venues = prices.shape[0]
    for a in range(prices.shape[1]):
        w_sum = 0.0
        i_sum = 0.0
        for v in range(n_venues):
            d = books[v, a]["depth"] * depth_mult[v, a, t]
            w_sum += d
            i_sum += d * impact[v, a]
        if not w_sum > 0.0:
            continue
        mean = i_sum / w_sum
        buys = 0.0
        sells = 0.0
        for v in range(n_venues):
            bk = books[v, a]
            d = bk["depth"] * depth_mult[v, a, t]
            # The flow that walks the book from its impact I_v to I_v + speed (I_bar - I_v): g^-1
            # of the end less g^-1 of the start (its impact so far is a metaorder the book is
            # depleted by, as the liquidations' walk is: walk_impact); under linear impact g^-1 of
            # the move alone (the same, without the difference's cancellation).
            target = speed * (mean - impact[v, a])
            kind, coef, sigma = bk["impact_model"], bk["impact_coef"], bk["sigma_daily"]
            if kind == ImpactModel.LINEAR:
                f = flow_for_move(target, prices[v, a], d, kind, coef, sigma)
            else:
                end = flow_for_move(impact[v, a] + target, prices[v, a], d, kind, coef, sigma)
                f = end - flow_for_move(impact[v, a], prices[v, a], d, kind, coef, sigma)
            flows[v] = f
            x = f * prices[v, a]
            if x > 0.0:
                sells += x
            else:
                buys -= x
        scale = 1.0
        if buys > capacity:
            scale = capacity / buys
        if sells * scale > capacity:
            scale = capacity / sells
        for v in range(n_venues):
            bk = books[v, a]
            f = flows[v] * scale
            d = bk["depth"] * depth_mult[v, a, t]
            done = notional_for_impact(impact[v, a], d, bk["impact_model"], bk["impact_coef"], bk["sigma_daily"])
            move = walk_impact(done, f * prices[v, a], d, bk["impact_model"], bk["impact_coef"], bk["sigma_daily"])
            steps.arb_notional[v, a, t] = abs(f * prices[v, a])
            impact[v, a] += move
            prices[v, a] = exo[t, a] * exp_or_inf(impact[v, a])
