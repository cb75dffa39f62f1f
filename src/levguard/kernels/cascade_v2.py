"""Market cascade kernel (v2): N cross-margin accounts over K assets on V venues.

Every ``(venue, asset)`` pair is a book with finite depth and resilience, v1's impact maths; a
venue's price of an asset is the exogenous price times ``exp`` of the book's accumulated impact,
and arbitrage pulls the venues' prices of an asset together with a finite speed and capacity.
An account lives on one venue and holds positions in several assets behind one cross-margin
wallet; it is liquidated when its equity falls to its maintenance margin, and the whole account
goes (or a partial slice of every position).  Each venue has its own insurance fund, liquidator
latency, oracle, outcome rule and ADL ranking; a loss beyond the wallet draws on the venue's fund,
ADL covers what the fund cannot, and the rest is bad debt.

Written once in plain Python (:func:`market_cascade_py`) and compiled by numba
(:data:`market_cascade_nb`).  Records: :mod:`levguard.kernels.cascade_v2_records`; detection:
:mod:`~levguard.kernels.cascade_v2_sweep`; a round: :mod:`~levguard.kernels.cascade_v2_rounds`;
ADL: :mod:`~levguard.kernels.cascade_v2_adl`.  With one asset, one venue and v1's settings it
repeats :func:`levguard.kernels.cascade.cascade_py` bit for bit (tested).  Failure is a value:
the kernel never raises.
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jit, jitable
from levguard.kernels.cascade import dynamic_scale
from levguard.kernels.cascade_records import AccountStatus
from levguard.kernels.cascade_rounds import exp_or_inf, notional_for_impact
from levguard.kernels.cascade_v2_adl import adl_capacity, adl_sequence, route_to_adl
from levguard.kernels.cascade_v2_records import (
    COUNT_DTYPE,
    BookTiers,
    MarketAccounts,
    MarketConfig,
    MarketCounts,
    MarketOutputs,
    MarketState,
    MarketSteps,
    Record,
    RecordArray,
    RoundScratch,
    SideLists,
    VenueQueues,
    list_index,
)
from levguard.kernels.cascade_v2_rounds import (
    adl_account,
    arbitrage,
    book_fills,
    close_in_books,
    size_orders,
    venue_marks,
)
from levguard.kernels.cascade_v2_sweep import crossed, new_lists, rebuild, set_keys
from levguard.kernels.cascade_v2_vault import adl_floor, fund_peak, vault_equity, vault_takeovers
from levguard.typing import Float64Array1D, Float64Array2D, Int64Array1D

Float64Array3D = Float64Array2D

__all__ = ["market_cascade_nb", "market_cascade_py"]


@jitable
def _enqueue(vq: VenueQueues, v: int, i: int, due: int) -> None:
    # Append account i to venue v's ring of liquidation orders (due steps never decrease).
    q0 = vq.qoff[v]
    cap = vq.qoff[v + 1] - q0
    pos = q0 + (vq.q_head[v] + vq.q_len[v]) % cap
    vq.q_ids[pos] = i
    vq.q_due[pos] = due
    vq.q_len[v] += 1


@jitable
def _due_orders(v: int, t: int, st: MarketState, vq: VenueQueues, ids: Int64Array1D) -> int:
    # Pop venue v's orders due at step t into ids; an account flat by now is dropped.
    q0 = vq.qoff[v]
    cap = vq.qoff[v + 1] - q0
    k = 0
    while vq.q_len[v] > 0 and vq.q_due[q0 + vq.q_head[v]] <= t:
        i = vq.q_ids[q0 + vq.q_head[v]]
        vq.q_head[v] = (vq.q_head[v] + 1) % cap
        vq.q_len[v] -= 1
        if st.n_open[i] == 0:
            st.pending[i] = False
            continue
        ids[k] = i
        k += 1
    return k


@jitable
def _file_all(ids: Int64Array1D, open_only: bool, marks: Float64Array1D, st: MarketState, tiers: BookTiers) -> None:
    # Set the keys of accounts ids (with open_only, of those with an open position) at marks
    # (set_keys of each, the arrays taken from the bundles once, not per account).
    venue = st.venue
    qty = st.qty
    entry = st.entry
    wallet = st.wallet
    key_at = st.key_at
    n_open = st.n_open
    caps = tiers.caps
    mmrs = tiers.mmrs
    cums = tiers.cums
    off = tiers.off
    mmr_hi = tiers.mmr_hi
    for p in range(ids.shape[0]):
        i = ids[p]
        if not open_only or n_open[i] > 0:
            set_keys(i, marks, venue[i], qty, entry, wallet, key_at, n_open, caps, mmrs, cums, off, mmr_hi)


@jitable
def _rescale(
    v: int,
    t: int,
    vp: Record,
    steps_per_year: float,
    base: BookTiers,
    tiers: BookTiers,
    scale: Float64Array2D,
    marks: Float64Array1D,
    naive: bool,
    st: MarketState,
    sl: SideLists,
    vq: VenueQueues,
    steps: MarketSteps,
) -> None:
    # Dynamic margin of venue v: scale each book's tiers by v1's dynamic_scale of its own traded
    # price, then set every open account's keys again and re-sort the venue's lists.
    n_assets = scale.shape[1]
    any_done = False
    for a in range(n_assets):
        done, s = dynamic_scale(
            t, vp["dyn_window"], vp["dyn_base_vol"], vp["dyn_min"], vp["dyn_max"], steps_per_year, steps.price[v, a]
        )
        if done:
            any_done = True
            scale[v, a] = s
            jb = v * n_assets + a
            for r in range(tiers.off[jb], tiers.off[jb + 1]):
                tiers.mmrs[r] = base.mmrs[r] * s
                tiers.cums[r] = base.cums[r] * s
            tiers.mmr_lo[jb] = base.mmr_lo[jb] * s
            tiers.mmr_hi[jb] = base.mmr_hi[jb] * s
    if not any_done:
        return
    _file_all(vq.acc[vq.aoff[v] : vq.aoff[v + 1]], True, marks, st, tiers)
    if not naive:
        for a in range(n_assets):
            for s_ in range(2):
                rebuild(list_index(v, a, s_, n_assets), st, sl)


@jitable
def _marks_moved(marks: Float64Array1D, seen: Float64Array1D) -> bool:
    # Whether any of a venue's marks differs from those its ADL rankings were keyed at.
    for a in range(marks.shape[0]):  # noqa: SIM110 (a loop: numba compiles no generator in any())
        if marks[a] != seen[a]:
            return True
    return False


@jitable
def market_cascade_py(
    acc: MarketAccounts,
    tiers: BookTiers,
    exo: Float64Array2D,
    depth_mult: Float64Array3D,
    oracle: Float64Array3D,
    venues: RecordArray,
    books: RecordArray,
    cfg: MarketConfig,
    out: MarketOutputs,
) -> MarketCounts:
    """Simulate one path of a market of K assets on V venues with N cross-margin accounts.

    Parameters
    ----------
    acc : MarketAccounts
        Venue, wallet, signed sizes (N, K) and entry prices (N, K) of every account.
    tiers : BookTiers
        Maintenance tiers of every ``(venue, asset)`` book.
    exo : (T + 1, K) float64
        Exogenous price path of every asset; ``exo[0]`` the start.
    depth_mult : (V, K, T + 1) float64
        Depth multiplier of every book per step.
    oracle : (V, T + 1, S) float64
        Per venue, step and source the multiplier of the (lagged) traded price the source
        reports (NaN: missing); a venue's mark is the median over its sources.
    venues : (V,) VENUE_DTYPE
        Each venue's fund, fee, order sizing, latency, ADL switch and rule, rounds, mark lag,
        outcome and backstop, liquidator vault and drawdown trigger of ADL.
    books : (V, K) BOOK_DTYPE
        Each book's impact model, depth and resilience.
    cfg : MarketConfig
        Arbitrage speed and capacity; naive detection.
    out : MarketOutputs
        Written in place (steps, events, final accounts, per-book totals, vaults, fees paid).

    Returns
    -------
    MarketCounts

    Notes
    -----
    Step ``t``: every book's impact decays by ``0.5^(1/half_life)`` and its price is
    ``exo[t] exp(I)``; arbitrage moves ``I`` (:func:`~levguard.kernels.cascade_v2_rounds.arbitrage`);
    then each venue runs liquidation rounds to a fixed point, as v1 does
    (:func:`levguard.kernels.cascade.cascade_py`): marks, newly liquidatable accounts queued
    (``latency``), due orders sized, one net flow per book moving its price by v1's impact law
    as a slice of the book's metaorder (the venue's rounds of a step are one metaorder per book,
    its walk starting from the flow ``g^-1(I)`` the book's impact left, decayed, depletes it by;
    ``I`` includes arbitrage's moves, trades in the same book) with every order filling at the
    average price of the walk
    (:func:`~levguard.kernels.cascade_rounds.walk_fill`); when the round's closes, netted, would take
    the fund below 0, full closes with a deficit routed to ADL, largest first, until the rest
    fits (a slice that goes whole at the fills is one; the routing and the netting repeated
    until the routing flags nothing at the fills the books settle at,
    :func:`~levguard.kernels.cascade_v2_adl.route_to_adl`), book closes settled, ADL closes
    against the ranking at the round's marks (ranked again whenever the marks moved; the
    account settled as a takeover), the impact applied, a
    negative fund booked as bad debt (on a ``fee_out`` venue the liquidation fees go to the
    liquidators, ``out.fees_paid``, never to the fund).  A venue with a liquidator vault lets
    it take over, before the book flows, the due accounts whose equity at the marks is below
    ``vault_backstop`` x their maintenance (and not negative); a venue with a drawdown trigger
    raises the fund's floor of the routing to ADL (:mod:`~levguard.kernels.cascade_v2_vault`).
    An account is liquidatable when ``E <= MM`` with ``E = wallet + sum_a q_a (m_a - entry_a)``
    and ``MM = sum_a MM_a(|q_a| m_a)`` (each asset's tiers); with one position this is v1's
    liquidation-price test.  Money is conserved: every close's account and fund changes (and
    the fees paid out) sum to the value it traded, ``q (price - entry)``, against a book or an
    ADL counterparty (tested from the outputs).
    """
    n = acc.wallet.shape[0]
    n_assets = acc.qty.shape[1]
    base = tiers
    tiers = BookTiers(
        base.caps, base.mmrs.copy(), base.cums.copy(), base.off, base.mmr_lo.copy(), base.mmr_hi.copy(), base.coll
    )
    scale = np.ones((venues.shape[0], n_assets))
    n_venues = venues.shape[0]
    n_t = exo.shape[0]
    steps = out.steps
    fin = out.accounts
    totals = out.books
    events = out.events
    naive = cfg.naive

    qty = fin.qty
    qty[:, :] = acc.qty
    wallet = fin.wallet
    wallet[:] = acc.wallet
    fin.pnl[:] = 0.0
    fin.status[:] = AccountStatus.OK
    fin.deleveraged[:] = False
    fin.kept[:] = 0.0
    st = MarketState(
        acc.venue,
        qty,
        acc.entry.copy(),
        wallet,
        fin.pnl,
        fin.status,
        fin.deleveraged,
        fin.kept,
        np.full((n, n_assets), -math.inf),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.bool_),
        np.zeros(n, dtype=np.bool_),
    )
    sl, vq, _longest = new_lists(st, n_venues)
    # The ADL rankings' mark key per venue: a new one each step and whenever the marks move.
    rank_key = np.zeros(n_venues, dtype=np.int64)
    key_marks = np.empty((n_venues, n_assets))
    next_key = 0
    cnt = np.zeros(1, dtype=COUNT_DTYPE)
    scr = RoundScratch(
        np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int64),
        np.zeros((n, n_assets)),
        np.zeros(n, dtype=np.bool_),
        np.zeros(n, dtype=np.bool_),
        np.zeros(n_assets),
        np.zeros(n_assets),
        np.zeros(n_assets),
        np.zeros(n_assets),
        np.zeros(n_assets),
        np.zeros(n_assets),
        np.empty(n, dtype=np.int64),
        np.empty(n),
        np.empty(n),
        np.empty(oracle.shape[2]),
        np.zeros((n, n_assets)),
        np.zeros(4 * n_assets),
        np.zeros(n_assets),
    )
    fund = np.empty(n_venues)
    bad = np.zeros(n_venues)
    decay = np.empty((n_venues, n_assets))
    for v in range(n_venues):
        fund[v] = venues[v]["fund"]
        for a in range(n_assets):
            hl = books[v, a]["half_life"]
            decay[v, a] = 0.5 ** (1.0 / hl) if hl > 0.0 else 0.0
    impact = np.zeros((n_venues, n_assets))
    prices = np.empty((n_venues, n_assets))
    marks = np.empty((n_venues, n_assets))
    prev_marks = np.empty((n_venues, n_assets))
    for v in range(n_venues):
        for a in range(n_assets):
            prev_marks[v, a] = exo[0, a]
    arb_flows = np.zeros(n_venues)
    arb_on = n_venues > 1 and cfg.arb_speed > 0.0
    vault = out.vault
    fees_paid = out.fees_paid
    dd_on = np.zeros(n_venues, dtype=np.bool_)
    for v in range(n_venues):
        vault.cash[v] = venues[v]["vault_capital"]
        vault.received[v] = 0.0
        for a in range(n_assets):
            vault.qty[v, a] = 0.0
            vault.entry[v, a] = 0.0

    start = exo[0].copy()
    _file_all(np.arange(n), False, start, st, tiers)
    if not naive:
        for b in range(sl.length.shape[0]):
            rebuild(b, st, sl)

    for t in range(n_t):
        # 1. Exogenous move, resilience, arbitrage.
        for v in range(n_venues):
            for a in range(n_assets):
                impact[v, a] *= decay[v, a]
                prices[v, a] = exo[t, a] * exp_or_inf(impact[v, a])
        if arb_on:
            arbitrage(t, cfg.arb_speed, cfg.arb_capacity, exo, books, depth_mult, impact, prices, steps, arb_flows)
        for v in range(n_venues):
            for a in range(n_assets):
                steps.price[v, a, t] = prices[v, a]
                steps.liq_notional[v, a, t] = 0.0
                steps.adl_notional[v, a, t] = 0.0
            steps.n_liq[v, t] = 0
        # 2. Each venue's rounds to a fixed point.
        for v in range(n_venues):
            vp = venues[v]
            lag = vp["mark_lag"]
            latency = vp["latency"]
            every = vp["dyn_every"]
            if vp["dynamic"] and every > 0 and t > 0 and t % every == 0:
                venue_marks(v, t, lag, vp["mark_src"], prices, exo, steps.price, oracle, scr.oracle, marks[v])
                _rescale(v, t, vp, cfg.steps_per_year, base, tiers, scale, marks[v], naive, st, sl, vq, steps)
            for a in range(n_assets):
                steps.mm_scale[v, a, t] = scale[v, a]
            dd = vp["dd_ratio"] > 0.0
            peak = fund_peak(v, t, vp["dd_window"], vp["fund"], fund[v], steps.fund) if dd else 0.0
            vault.taken[v, t] = 0.0
            fees_paid[v, t] = fees_paid[v, t - 1] if t > 0 else 0.0
            rounds = 0
            for a in range(n_assets):
                # Each book's metaorder so far (signed quote, > 0 sells): the walk starts from the
                # flow its impact left (decayed, arbitrage's moves included) depletes it by.
                bk = books[v, a]
                scr.done[a] = notional_for_impact(
                    impact[v, a],
                    bk["depth"] * depth_mult[v, a, t],
                    bk["impact_model"],
                    bk["impact_coef"],
                    bk["sigma_daily"],
                )
            while rounds < vp["max_rounds"]:
                venue_marks(v, t, lag, vp["mark_src"], prices, exo, steps.price, oracle, scr.oracle, marks[v])
                if rounds == 0 or _marks_moved(marks[v], key_marks[v]):
                    next_key += 1
                    rank_key[v] = next_key
                    key_marks[v, :] = marks[v]
                n_found = crossed(v, marks[v], naive, st, sl, vq, tiers, scr.found)
                for j in range(n_found):
                    _enqueue(vq, v, scr.found[j], t + latency)
                k = _due_orders(v, t, st, vq, scr.ids)
                if k == 0:
                    break
                rounds += 1
                for a in range(n_assets):
                    scr.draw[a] = 0.0
                size_orders(k, vp, prices[v], marks[v], st, tiers, scr)
                if vp["vault_backstop"] > 0.0:
                    vault_takeovers(k, t, v, vp, marks[v], naive, st, sl, tiers, scr, steps, totals, events, cnt, vault)
                book_fills(k, t, v, prices[v], books, depth_mult, st, scr)
                if vp["adl"]:
                    floor = 0.0
                    if dd:
                        peak = max(peak, fund[v])
                        floor, on = adl_floor(vp, fund[v], peak, dd_on[v])
                        dd_on[v] = on
                    # To a fixed point: route at the fills, net the flow again, until a pass at
                    # the fills the books settle at flags nothing, within what the opposite sides
                    # can absorb (adl_capacity, taken down as closes are routed).
                    for a in range(n_assets):
                        for s in range(2):
                            scr.cap[2 * a + s] = adl_capacity(list_index(v, a, s, n_assets), a, rank_key[v], st, sl)
                    while True:
                        routed, promoted = route_to_adl(k, vp, fund[v], floor, marks[v], st, tiers, scr)
                        if routed > 0 and floor > 0.0:
                            dd_on[v] = True
                        if routed == 0 and promoted == 0:
                            break
                        book_fills(k, t, v, prices[v], books, depth_mult, st, scr)
                # Settle in the books (and file every order's account again).
                fund[v] = close_in_books(
                    k, t, v, vp, marks[v], naive, fund[v], st, sl, tiers, scr, steps, totals, events, cnt, fees_paid
                )
                # ADL-routed accounts, largest deficit first: closed against the opposite sides'
                # rankings.
                for p in range(adl_sequence(k, st, scr)):
                    j = scr.found[p]
                    i = scr.ids[j]
                    fund[v] += adl_account(
                        j,
                        t,
                        rank_key[v],
                        vp,
                        marks[v],
                        prev_marks[v],
                        naive,
                        st,
                        sl,
                        tiers,
                        scr,
                        steps,
                        totals,
                        events,
                        cnt,
                        fees_paid,
                    )
                    if st.n_open[i] > 0:
                        # No counterparty left for the rest: it goes to the book in the next round.
                        st.adl_dry[i] = True
                        st.pending[i] = True
                        _enqueue(vq, v, i, t)
                    else:
                        for a in range(n_assets):
                            st.key_at[i, a] = -math.inf
                # Impact of the book flows.
                for a in range(n_assets):
                    scr.done[a] += scr.flow[a] * prices[v, a]
                    impact[v, a] += scr.d_log[a]
                    prices[v, a] = prices[v, a] * exp_or_inf(scr.d_log[a])
                    steps.price[v, a, t] = prices[v, a]
                if fund[v] < 0.0:
                    short = -fund[v]
                    bad[v] += short
                    total = 0.0
                    for a in range(n_assets):
                        total += scr.draw[a]
                    for a in range(n_assets):
                        share = scr.draw[a] / total if total > 0.0 else 1.0 / n_assets
                        totals.bad_debt[v, a] += short * share
                    fund[v] = 0.0
            venue_marks(v, t, lag, vp["mark_src"], prices, exo, steps.price, oracle, scr.oracle, marks[v])
            for a in range(n_assets):
                steps.price[v, a, t] = prices[v, a]
                steps.mark[v, a, t] = marks[v, a]
                steps.impact[v, a, t] = impact[v, a]
            steps.fund[v, t] = fund[v]
            steps.bad_debt[v, t] = bad[v]
            steps.rounds[v, t] = rounds
            vault.equity[v, t] = vault_equity(v, marks[v], vault)
            if dd:
                peak = max(peak, fund[v])
                _floor, on = adl_floor(vp, fund[v], peak, dd_on[v])
                dd_on[v] = on
                vault.peak[v, t] = peak
                vault.adl_on[v, t] = 1 if dd_on[v] else 0
        for v in range(n_venues):
            for a in range(n_assets):
                prev_marks[v, a] = marks[v, a]
    c = cnt[0]
    return MarketCounts(int(c["events"]), int(c["overflow"]), int(c["accounts_liquidated"]), int(c["adl_events"]))


market_cascade_nb = jit(market_cascade_py)
