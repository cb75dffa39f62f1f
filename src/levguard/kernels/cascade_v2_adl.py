"""Auto-deleveraging of the market cascade kernel (v2): the routing of a round's closes to ADL,
each venue's ranking, its fill price, and the close of one bankrupt position against the
opposite side of its book.

The routing and :func:`levguard.kernels.cascade_v2_rounds.close_in_books` share one test of
when a slice becomes a full close (:func:`slice_goes_whole`), so a slice that exhausts the
wallet is routed as the full close it settles as.

The ranking scores are the kernel twins of :mod:`levguard.core.rules.adl` (the same expressions
in the same order; tested equal): BitMEX through v1's :func:`levguard.kernels.cascade_rounds.adl_score`,
Binance USDⓈ-M, Bybit and Hyperliquid below.  ``equity`` is the account's equity at its venue's
marks (``wallet + sum uPnL``: Binance's WB + uPnL, Bybit's cross margin balance, Hyperliquid's
account value); BitMEX ranks on the position's bankruptcy price, with the account's collateral
allocated to its positions (:func:`collateral_share`).  An account whose equity is not positive
ranks last with :data:`~levguard.kernels.cascade_rounds.BANKRUPT_SCORE`, the lowest finite float,
as a BitMEX position at or past its bankruptcy price does (the core functions reject such an
account).  It was ``-inf``: the tie-break's tolerance ``1e-12 |score|`` was then infinite and
``-inf - -inf`` NaN, so several such accounts stayed in the order the accounts were given in.
"""

from __future__ import annotations

import math

from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jitable
from levguard.kernels.cascade_records import AccountStatus, EventKind
from levguard.kernels.cascade_rounds import BANKRUPT_SCORE, DUST, adl_score, bankruptcy_price, record_event
from levguard.kernels.cascade_sweep import break_score_ties, sort_deficits, sort_descending
from levguard.kernels.cascade_v2_records import (
    AdlRule,
    BookTiers,
    MarketState,
    MarketSteps,
    Record,
    RecordArray,
    RoundScratch,
    SideLists,
)
from levguard.kernels.cascade_v2_sweep import equity_and_mm, reprice, single_asset, tier_mm
from levguard.typing import BoolArray1D, Float64Array1D, Float64Array2D, Int64Array1D


@jitable
def leveraged_pnl(pnl_pct: float, leverage: float) -> float:
    """Return ``pnl_pct x leverage`` in profit (``>= 0``), ``pnl_pct / leverage`` in loss: the shape
    Binance and Bybit share (:func:`levguard.core.rules.adl.binance_adl_ranking`)."""
    return pnl_pct * leverage if pnl_pct >= 0 else pnl_pct / leverage


@jitable
def binance_score(q: float, entry: float, mark: float, equity: float) -> float:
    """Binance USDⓈ-M: ``PNL% x EffLev`` / ``PNL% / EffLev`` with ``PNL% = uPnL / |notional|`` and
    ``EffLev = |notional| / (WB + uPnL)``.

    Notes
    -----
    Binance FAQ 360033525471, as :func:`levguard.core.rules.adl.binance_adl_ranking`.
    """
    notional = abs(q * mark)
    upnl = q * (mark - entry)
    return leveraged_pnl(upnl / notional, notional / equity)


@jitable
def bybit_score(q: float, entry: float, mark: float, equity: float) -> float:
    """Bybit: ``PnL% x EffLev`` / ``PnL% / EffLev`` with ``PnL% = uPnL / |entry value|`` and
    ``EffLev = |mark value| / equity``.

    Notes
    -----
    Bybit help 900000031623, levguard's reading in :func:`levguard.core.rules.adl.bybit_adl_ranking`.
    """
    upnl = q * (mark - entry)
    return leveraged_pnl(upnl / abs(q * entry), abs(q * mark) / equity)


@jitable
def hyperliquid_score(q: float, entry: float, mark: float, equity: float) -> float:
    """Hyperliquid: ``(mark / entry) x (|notional| / account value)`` for a position in profit;
    ``-1 / index`` (below every position in profit) for one that is not.

    Notes
    -----
    hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging ranks "the affected users
    in profit" by the index; as :func:`levguard.core.rules.adl.hyperliquid_adl_score`.
    """
    index = (mark / entry) * (abs(q) * mark / equity)
    return index if q * (mark - entry) > 0.0 else -1.0 / index


@jitable
def gross_notional(i: int, marks: Float64Array1D, st: MarketState, coll: BoolArray1D) -> float:
    """Return ``sum |q| m`` of account ``i``'s contracts at ``marks`` (collateral holdings,
    ``coll``, left out), or of all its positions when it holds no contract."""
    n_assets = st.qty.shape[1]
    base = st.venue[i] * n_assets
    g = 0.0
    g_all = 0.0
    for a in range(n_assets):
        q = st.qty[i, a]
        if q != 0.0:
            x = abs(q) * marks[a]
            g_all += x
            if not coll[base + a]:
                g += x
    return g if g > 0.0 else g_all


@jitable
def collateral_share(
    i: int, a: int, marks: Float64Array1D, st: MarketState, equity: float, gross: float, coll: BoolArray1D
) -> float:
    """Return the collateral behind account ``i``'s position in asset ``a``.

    One position: the wallet (its bankruptcy price is v1's ``entry - side wallet / |q|``).
    Several: ``W_a = q_a (entry_a - m_a) + E w_a`` with ``w_a = |q_a| m_a / sum |q| m``, so the
    position's equity is its notional share of the account's equity ``E`` at the marks and
    ``sum_a W_a = wallet``; its bankruptcy price ``entry_a - side W_a / |q_a|`` is
    ``m_a - E w_a / q_a`` and the account's equity is 0 with every position at its own.  A
    collateral holding (``coll``) of an account with contracts takes no share (``w_a = 0``, its
    bankruptcy price is its mark) and the sum runs over the contracts
    (:func:`gross_notional`): the contracts carry the whole deficit to their counterparties.
    """
    if st.n_open[i] == 1:
        return float(st.wallet[i])
    eq = 0.0 if _holding_of_trader(i, a, marks, st, coll) else equity
    return position_collateral(st.qty[i, a], st.entry[i, a], marks[a], eq, gross)


@jitable
def _holding_of_trader(i: int, a: int, marks: Float64Array1D, st: MarketState, coll: BoolArray1D) -> bool:
    # A collateral holding of an account that also holds a contract.
    n_assets = st.qty.shape[1]
    base = st.venue[i] * n_assets
    if not coll[base + a]:
        return False
    for b in range(n_assets):  # noqa: SIM110 (a loop: numba compiles no generator in any())
        if st.qty[i, b] != 0.0 and not coll[base + b]:
            return True
    return False


@jitable
def position_collateral(q: float, entry: float, mark: float, equity: float, gross: float) -> float:
    """Return ``W_a = q (entry - m) + E |q| m / G`` of a position of an account with several
    (:func:`collateral_share`; equity ``E`` and gross notional ``G`` at the marks)."""
    return float(q * (entry - mark) + equity * (abs(q) * mark / gross))


@jitable
def bankruptcy_prices(
    i: int,
    marks: Float64Array1D,
    qty: Float64Array2D,
    entry: Float64Array2D,
    wallet: Float64Array1D,
    n_open: Int64Array1D,
    coll: BoolArray1D,
    base: int,
    out: Float64Array1D,
) -> None:
    """Write the bankruptcy price of each of account ``i``'s positions at ``marks`` to ``out``
    (K,), NaN for no position: :func:`position_bankruptcy` of each, from the arrays, with the
    account's equity and gross notional computed once (``coll[base + a]``: asset ``a`` is
    collateral on the account's venue)."""
    n_assets = qty.shape[1]
    one = n_open[i] == 1
    eq = wallet[i]
    gross = 0.0
    g_all = 0.0
    if not one:
        for a in range(n_assets):  # equity_and_mm's equity
            q = qty[i, a]
            if q != 0.0:
                eq += q * (marks[a] - entry[i, a])
        for a in range(n_assets):  # gross_notional
            q = qty[i, a]
            if q != 0.0:
                x = abs(q) * marks[a]
                g_all += x
                if not coll[base + a]:
                    gross += x
    contracts = gross > 0.0
    if not contracts:
        gross = g_all
    for a in range(n_assets):
        q = qty[i, a]
        if q == 0.0:
            out[a] = math.nan
            continue
        side = 1.0 if q > 0.0 else -1.0
        if one:
            w = float(wallet[i])
        else:
            share = 0.0 if contracts and coll[base + a] else eq
            w = position_collateral(q, entry[i, a], marks[a], share, gross)
        out[a] = bankruptcy_price(side, abs(q), entry[i, a], w)


@jitable
def position_bankruptcy(i: int, a: int, marks: Float64Array1D, st: MarketState, tiers: BookTiers) -> float:
    """Return the bankruptcy price of account ``i``'s position in asset ``a`` at ``marks``."""
    q = st.qty[i, a]
    side = 1.0 if q > 0.0 else -1.0
    if st.n_open[i] == 1:
        return bankruptcy_price(side, abs(q), st.entry[i, a], st.wallet[i])
    eq, _mm = equity_and_mm(i, marks, st, tiers)
    w = collateral_share(i, a, marks, st, eq, gross_notional(i, marks, st, tiers.coll), tiers.coll)
    return bankruptcy_price(side, abs(q), st.entry[i, a], w)


@jitable
def position_score(rule: int, i: int, a: int, marks: Float64Array1D, st: MarketState, tiers: BookTiers) -> float:
    """Return venue rule ``rule``'s ADL score of account ``i``'s position in asset ``a`` at ``marks``."""
    q = st.qty[i, a]
    e = st.entry[i, a]
    m = marks[a]
    side = 1.0 if q > 0.0 else -1.0
    if rule == AdlRule.BITMEX:
        return adl_score(side, abs(q), e, m, position_bankruptcy(i, a, marks, st, tiers))
    eq, _mm = equity_and_mm(i, marks, st, tiers)
    if not eq > 0.0:
        return BANKRUPT_SCORE  # last, and tied with the others at it (-inf left them in account order)
    if rule == AdlRule.BINANCE:
        return binance_score(q, e, m, eq)
    if rule == AdlRule.BYBIT:
        return bybit_score(q, e, m, eq)
    return hyperliquid_score(q, e, m, eq)


@jitable
def rank_list(
    b: int,
    key: int,
    rule: int,
    marks: Float64Array1D,
    st: MarketState,
    sl: SideLists,
    tiers: BookTiers,
    order: Int64Array1D,
    scores: Float64Array1D,
) -> None:
    """Rank list ``b``'s open positions (pending accounts included, skipped when met) by the
    venue's score at ``marks``, best first (ties: the larger position, the lower wallet, the lower
    entry, :func:`~levguard.kernels.cascade_sweep.break_score_ties`), under the mark key
    ``key`` (:func:`levguard.kernels.cascade_v2.market_cascade_py` gives a new key each step
    and whenever the venue's marks move, so a ranking is never used at other marks)."""
    a = (b // 2) % st.qty.shape[1]
    o0 = sl.off[b]
    m = 0
    for p in range(o0, sl.off[b + 1]):
        i = sl.ids[p]
        if st.qty[i, a] != 0.0:
            order[m] = i
            m += 1
    for j in range(m):
        scores[j] = position_score(rule, order[j], a, marks, st, tiers)
    sort_descending(order, scores, m)
    break_score_ties(order, scores, m, st.qty[:, a], st.wallet, st.entry[:, a])  # not account order
    sl.rank[o0 : o0 + m] = order[:m]
    sl.rank_len[b] = m
    sl.rank_pos[b] = 0
    sl.rank_key[b] = key


@jitable
def record(
    events: RecordArray,
    cnt: RecordArray,
    t: int,
    v: int,
    a: int,
    account: int,
    qty: float,
    price: float,
    bankruptcy: float,
    fund_delta: float,
    kind: int,
    counterparty: int,
) -> int:
    """Write one event record (v1's fields through
    :func:`~levguard.kernels.cascade_rounds.record_event`, then the venue and asset); return its
    row, or -1 when the table is full (counted as overflow)."""
    c = cnt[0]
    row = c["events"]
    if not record_event(events, row, t, account, qty, price, bankruptcy, fund_delta, kind, counterparty):
        c["overflow"] += 1
        return -1
    rec = events[row]
    rec["venue"] = v
    rec["asset"] = a
    c["events"] += 1
    return int(row)


@jitable
def deleverage(
    i: int,
    a: int,
    left: float,
    price: float,
    bp: float,
    b: int,
    t: int,
    marks: Float64Array1D,
    naive: bool,
    st: MarketState,
    sl: SideLists,
    tiers: BookTiers,
    steps: MarketSteps,
    events: RecordArray,
    cnt: RecordArray,
) -> float:
    """Close up to ``left`` of bankrupt account ``i``'s position in asset ``a`` against list
    ``b``'s ranking (the opposite side), front first, at ``price``; return what is left.

    Each counterparty ``u`` closes ``take = min(|q_u|, left)`` and realises
    ``side_u take (price - entry_u)`` into its wallet (the bankrupt's leg is booked by the
    caller at the same price, so the two legs' cash nets to zero).  Rounding is not a quantity:
    a take within ``DUST`` of the bankrupt's size of ``|q_u|`` closes ``u`` whole, and what is
    left within ``DUST`` of that size is 0 (the capacity the routing summed in one order, the
    takes sum in another).
    """
    v = st.venue[i]
    o0 = sl.off[b]
    tiny = DUST * left
    while left > tiny and sl.rank_pos[b] < sl.rank_len[b]:
        u = sl.rank[o0 + sl.rank_pos[b]]
        qu = st.qty[u, a]
        if qu == 0.0 or st.pending[u]:
            sl.rank_pos[b] += 1
            continue
        size = abs(qu)
        take = size if size <= left + tiny else left
        if take >= size:
            sl.rank_pos[b] += 1
        side_u = 1.0 if qu > 0.0 else -1.0
        gain = side_u * take * (price - st.entry[u, a])
        st.pnl[u] += gain
        st.wallet[u] += gain
        st.qty[u, a] = side_u * (size - take)
        left -= take
        if st.status[u] == AccountStatus.OK:
            st.status[u] = AccountStatus.DELEVERAGED
        st.deleveraged[u] = True
        steps.adl_notional[v, a, t] += take * price
        cnt[0]["adl_events"] += 1
        record(events, cnt, t, v, a, u, side_u * take, price, bp, 0.0, EventKind.ADL_VICTIM, i)
        reprice(u, marks, naive, st, sl, tiers)
    return left if left > tiny else 0.0


@jitable
def closes_something(j: int, i: int, qty: Float64Array2D, cc: Float64Array2D) -> bool:
    """Whether order ``j`` (account ``i``) closes some of an open position (``cc[j, a] > 0``)."""
    for a in range(qty.shape[1]):  # noqa: SIM110 (a loop: numba compiles no generator in any())
        if qty[i, a] != 0.0 and not cc[j, a] <= 0.0:
            return True
    return False


@jitable
def slice_settle(
    j: int,
    i: int,
    base: int,
    fee_rate: float,
    fill: Float64Array1D,
    qty: Float64Array2D,
    entry: Float64Array2D,
    wallet: float,
    cc: Float64Array2D,
    coll: BoolArray1D,
) -> tuple[float, float, float]:
    """Return ``(left, fee, realised)`` of order ``j``'s closes ``cc[j]`` of account ``i`` at the
    fills: ``realised = sum side c (fill - entry)`` and
    :func:`~levguard.kernels.liquidation.settle_partial` of ``wallet`` with the fee on the
    contracts' notional ``sum c fill`` (collateral sold pays none; ``coll[base + a]``: asset
    ``a`` is collateral on the account's venue)."""
    realised = 0.0
    notional = 0.0
    for a in range(qty.shape[1]):
        q = qty[i, a]
        if q != 0.0:
            realised += (1.0 if q > 0.0 else -1.0) * cc[j, a] * (fill[a] - entry[i, a])
            if not coll[base + a]:
                notional += cc[j, a] * fill[a]
    left, fee = kl.settle_partial(wallet, realised, notional, fee_rate)
    return left, fee, realised


@jitable
def whole_equity(i: int, fill: Float64Array1D, qty: Float64Array2D, entry: Float64Array2D, wallet: float) -> float:
    """Account ``i``'s equity at the fills, ``wallet + sum q (fill - entry)``: what a full close
    leaves before the venue's outcome (the fund's change of a takeover)."""
    pnl = 0.0
    for a in range(qty.shape[1]):
        q = qty[i, a]
        if q != 0.0:
            pnl += q * (fill[a] - entry[i, a])
    return wallet + pnl


@jitable
def slice_goes_whole(
    left: float,
    i: int,
    base: int,
    backstop: float,
    fill: Float64Array1D,
    qty: Float64Array2D,
    entry: Float64Array2D,
    wallet: float,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    off: Int64Array1D,
) -> bool:
    """Whether a slice of account ``i`` that leaves ``left`` in the wallet (:func:`slice_settle`)
    becomes a full close: it exhausts the wallet (``left <= 0``), or the account's equity at
    the fills (:func:`whole_equity`) is below ``backstop`` x its maintenance
    ``sum MM(|q| fill)`` (each book's tiers from ``base``)."""
    if not left > 0.0:
        return True
    if not backstop > 0.0:
        return False
    mm_whole = 0.0
    for a in range(qty.shape[1]):
        q = qty[i, a]
        if q != 0.0:
            mm_whole += tier_mm(caps, mmrs, cums, off, base + a, abs(q) * fill[a])
    return bool(whole_equity(i, fill, qty, entry, wallet) < backstop * mm_whole)


@jitable
def settle_whole(
    j: int,
    i: int,
    base: int,
    outcome: int,
    fee_rate: float,
    backstop: float,
    fee_out: bool,
    realised: float,
    fill: Float64Array1D,
    qty: Float64Array2D,
    wallet: float,
    cc: Float64Array2D,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    off: Int64Array1D,
    coll: BoolArray1D,
) -> tuple[float, float, float, float]:
    """Return ``(kept, fee, delta, taken)`` of order ``j``'s full close of account ``i`` at the
    fills through the venue's outcome: :func:`~levguard.kernels.liquidation.settle_close` with
    the wallet as collateral, ``realised`` (:func:`slice_settle` of the whole sizes), the fee
    on the contracts' notional ``sum c fill`` and the maintenance ``sum MM(c fill)``.  On a
    ``fee_out`` venue a close not taken over pays its fee to the liquidators: ``delta`` is then
    ``fee + min(E, 0) - fee`` (exact: the fee is 0 when ``E < 0``)."""
    notional_f = 0.0
    mm_f = 0.0
    for a in range(qty.shape[1]):
        if qty[i, a] != 0.0:
            if not coll[base + a]:
                notional_f += cc[j, a] * fill[a]
            mm_f += tier_mm(caps, mmrs, cums, off, base + a, cc[j, a] * fill[a])
    kept, fee_f, delta, taken = kl.settle_close(
        outcome, wallet, realised, notional_f, fee_rate, mm_f, backstop, 0.0, False
    )
    if fee_out and taken == 0.0:
        delta -= fee_f
    return kept, fee_f, delta, taken


@jitable
def take_whole(j: int, i: int, qty: Float64Array2D, cc: Float64Array2D) -> None:
    """Size order ``j`` as the whole account ``i`` (``cc[j, a] = |q_a|``)."""
    for a in range(qty.shape[1]):
        cc[j, a] = abs(qty[i, a])


@jitable
def takeover_delta(i: int, fill: Float64Array1D, st: MarketState) -> float:
    """Return the fund's change of account ``i``'s full close at ``fill`` as a takeover: its equity
    there (:func:`whole_equity`; one position: v1's ``side |q| (fill - BP)``)."""
    a1 = single_asset(i, st)
    if a1 >= 0:
        q = st.qty[i, a1]
        side = 1.0 if q > 0.0 else -1.0
        bp = bankruptcy_price(side, abs(q), st.entry[i, a1], st.wallet[i])
        return float(side * abs(q) * (fill[a1] - bp))
    return float(whole_equity(i, fill, st.qty, st.entry, st.wallet[i]))


@jitable
def close_notional(j: int, fill: Float64Array1D, cc: Float64Array2D) -> float:
    """Return order ``j``'s notional ``sum_a c_a fill_a``."""
    x = 0.0
    for a in range(cc.shape[1]):
        x += cc[j, a] * fill[a]
    return x


@jitable
def adl_capacity(b: int, a: int, key: int, st: MarketState, sl: SideLists) -> float:
    """Return what the ADL allocation (:func:`deleverage`) can take from list ``b`` (asset ``a``)
    this round: ``sum |q_u|`` of the open positions of accounts not pending in the list's
    ranking from its first entry not yet consumed, or of all the list's when the ranking is of
    another mark key than ``key`` (:func:`rank_list` builds it again).  The round's own
    accounts are pending while it routes: a position being liquidated is no counterparty."""
    total = 0.0
    if sl.rank_key[b] == key:
        o0 = sl.off[b]
        for p in range(o0 + sl.rank_pos[b], o0 + sl.rank_len[b]):
            u = sl.rank[p]
            q = st.qty[u, a]
            if q != 0.0 and not st.pending[u]:
                total += abs(q)
        return total
    want = 1.0 if b % 2 == 0 else -1.0
    for p in range(sl.off[b], sl.off[b + 1]):
        u = sl.ids[p]
        q = st.qty[u, a]
        if q * want > 0.0 and not st.pending[u]:
            total += abs(q)
    return total


@jitable
def rest_delta(j: int, i: int, fill: Float64Array1D, st: MarketState, scr: RoundScratch) -> float:
    """Return the fund's change of the parts of routed order ``j``'s positions the opposite sides
    cannot absorb, closed at the fills: ``sum side (|q| - adl_c) (fill - BP)`` (the bankruptcy
    prices in ``scr.adl_bp``, :func:`bankruptcy_prices`): their share of the account's equity at
    the fills."""
    x = 0.0
    for a in range(st.qty.shape[1]):
        q = st.qty[i, a]
        if q != 0.0:
            rest = abs(q) - scr.adl_c[j, a]
            if rest > 0.0:
                x += (1.0 if q > 0.0 else -1.0) * rest * (fill[a] - scr.adl_bp[a])
    return x


@jitable
def adl_sequence(k: int, st: MarketState, scr: RoundScratch) -> int:
    """Write the round's orders routed to ADL to ``scr.found`` in the order they deleverage, the
    routing's (:func:`~levguard.kernels.cascade_sweep.sort_deficits`: largest deficit at the
    fills first), and return how many: which close meets which counterparty, and which finds
    none when the side runs out, does not depend on the order of the accounts."""
    m = 0
    for j in range(k):
        if scr.adl[j]:
            scr.order[m] = j
            scr.scores[m] = -takeover_delta(scr.ids[j], scr.fill, st)
            scr.notional[j] = close_notional(j, scr.fill, scr.c)
            m += 1
    sort_deficits(m, scr.order, scr.scores, scr.notional)
    scr.found[:m] = scr.order[:m]
    return m


@jitable
def route_to_adl(
    k: int,
    vp: Record,
    fund: float,
    floor: float,
    marks: Float64Array1D,
    st: MarketState,
    tiers: BookTiers,
    scr: RoundScratch,
) -> tuple[int, int]:
    """One pass of the routing to ADL at the fills ``scr.fill``: when the round's closes would
    take the fund below ``floor`` all netted, flag full closes with a deficit for ADL, largest
    deficit first, until the rest fits, each only as far as the opposite sides' remaining
    capacity absorbs it (:func:`route_in_capacity`); return how many this pass flagged and how
    many slices it made full.

    A slice that :func:`slice_goes_whole` at the fills (it exhausts the wallet, or leaves the
    equity below the venue's backstop x maintenance) is a full close: it is sized whole and
    marked full here, as :func:`~levguard.kernels.cascade_v2_rounds.close_in_books` would
    settle it, and routed as one.  The fund's change of a full close is the account's equity
    at the fills (:func:`whole_equity`; one position: v1's ``side q (fill - BP)``); only a
    close that draws on the fund (``delta < 0``) is routed.  Every close of the round settles
    at the same fills, so the fund is netted over all of them first: ``fund`` plus each close's
    change, ``E`` under a takeover, under the ``book`` outcome what :func:`settle_whole` gives
    the fund (the fee, or ``E`` below the backstop; the account keeps the rest), a deficit's
    ``E``, a slice's fee (none on a ``fee_out`` venue), and of a close routed at an earlier pass
    the part ADL cannot absorb (:func:`rest_delta`).  If that is below ``floor``, the deficits
    are routed, largest first (equal ones by notional,
    :func:`~levguard.kernels.cascade_sweep.sort_deficits`), each giving back the share of its
    deficit the opposite sides absorb, until the netted fund reaches ``floor``: the fewest
    closes, and a result independent of the order of the accounts.  The opposite side of each
    book absorbs at most what its open positions hold (:func:`adl_capacity` before the first
    pass, :func:`round_capacity` at each, taken down by every routed close): a position's part
    beyond it stays
    with the fund (it closes in the book in the same round, its deficit the fund's, bad debt
    if the fund cannot pay it), and a close nothing of which can be absorbed is not routed, the
    next largest deficit is.  ``floor`` is 0 (the fund never goes
    below 0) unless the venue's drawdown trigger raises it
    (:func:`levguard.kernels.cascade_v2_vault.adl_floor`).

    The caller repeats the pass at the new fills until it flags nothing
    (:func:`levguard.kernels.cascade_v2.market_cascade_py`): a slice made full adds its rest
    to the flow and a routed close takes its own out, so the fills move and a close let
    through, or a slice, may settle otherwise there.  Each pass nets the fund again from
    ``fund``, over the orders not yet routed, at the current fills (a slice made full at an
    earlier pass is a full close); a pass only flags orders, never clears a flag, so the
    repeats end within ``2 k`` passes.

    Notes
    -----
    The insurance fund absorbs the round's losses and ADL is the last resort, used only when the
    fund cannot: Binance FAQ 360033525471 ("the final step taken only when the Insurance Fund
    cannot accept"), BitMEX's Auto-Deleveraging page (the fund takes over positions while it
    can; ADL when it cannot), Bybit's ADL article.  The venues liquidate one order at a time; a
    round's closes fill at one price, so levguard nets them and routes the largest deficits (the
    positions furthest past bankruptcy) first, as far as ADL can take them: the counterparties
    close what the bankrupt position closes, so the side absorbs no more than it holds; routing
    beyond it would count a deficit as absorbed that nobody takes (it went to the book a round
    later, no longer weighed against the others, while the fund paid a deficit ADL could have
    taken).
    """
    n_assets = st.qty.shape[1]
    promoted = 0
    net = fund
    m = 0
    order = scr.order
    scores = scr.scores
    notional = scr.notional
    for j in range(k):
        i = scr.ids[j]
        if st.adl_dry[i]:
            continue
        base = st.venue[i] * n_assets
        if scr.adl[j]:
            bankruptcy_prices(i, marks, st.qty, st.entry, st.wallet, st.n_open, tiers.coll, base, scr.adl_bp)
            net += rest_delta(j, i, scr.fill, st, scr)
            continue
        wallet = st.wallet[i]
        if not scr.full[j]:
            if not closes_something(j, i, st.qty, scr.c):
                continue
            left, fee, _realised = slice_settle(
                j, i, base, vp["liq_fee"], scr.fill, st.qty, st.entry, wallet, scr.c, tiers.coll
            )
            if not slice_goes_whole(
                left, i, base, vp["backstop"], scr.fill, st.qty, st.entry, wallet,
                tiers.caps, tiers.mmrs, tiers.cums, tiers.off,
            ):  # fmt: skip
                if not vp["fee_out"]:
                    net += fee  # a slice pays its fee to the fund
                continue
            take_whole(j, i, st.qty, scr.c)
            scr.full[j] = True
            promoted += 1
        delta = takeover_delta(i, scr.fill, st)
        if delta < 0.0:
            order[m] = j
            scores[m] = -delta
            notional[j] = close_notional(j, scr.fill, scr.c)
            m += 1
        elif delta > 0.0 and vp["outcome"] == kl.BOOK:
            # A book close leaves the account its equity: the fund gets the fee, not E.
            _left, _fee, realised = slice_settle(
                j, i, base, vp["liq_fee"], scr.fill, st.qty, st.entry, wallet, scr.c, tiers.coll
            )
            delta = settle_whole(
                j, i, base, kl.BOOK, vp["liq_fee"], vp["backstop"], vp["fee_out"], realised, scr.fill,
                st.qty, wallet, scr.c, tiers.caps, tiers.mmrs, tiers.cums, tiers.off, tiers.coll,
            )[2]  # fmt: skip
        net += delta
    if not net < floor:
        return 0, promoted
    sort_deficits(m, order, scores, notional)
    round_capacity(k, st, scr)
    return route_in_capacity(m, net, floor, marks, st, tiers, scr), promoted


@jitable
def round_capacity(k: int, st: MarketState, scr: RoundScratch) -> None:
    """Write the ADL capacity left per asset and side for this pass, ``scr.cap[2K + 2a + s]``:
    outside the round (``scr.cap[2a + s]``, :func:`adl_capacity`), plus what the round's closes
    in the books leave open (a slice's rest: :func:`deleverage` meets it after the books have
    settled), less what the orders routed at earlier passes take (``scr.adl_c``)."""
    n_assets = st.qty.shape[1]
    w = 2 * n_assets
    for x in range(w):
        scr.cap[w + x] = scr.cap[x]
    for j in range(k):
        i = scr.ids[j]
        for a in range(n_assets):
            q = st.qty[i, a]
            if q == 0.0:
                continue
            if scr.adl[j]:
                scr.cap[w + 2 * a + (1 if q > 0.0 else 0)] -= scr.adl_c[j, a]
            elif not scr.full[j] and abs(q) > scr.c[j, a]:
                scr.cap[w + 2 * a + (0 if q > 0.0 else 1)] += abs(q) - scr.c[j, a]


@jitable
def route_in_capacity(
    m: int, net: float, floor: float, marks: Float64Array1D, st: MarketState, tiers: BookTiers, scr: RoundScratch
) -> int:
    """Flag for ADL the candidate closes ``scr.order[:m]`` (sorted by
    :func:`~levguard.kernels.cascade_sweep.sort_deficits`), front first, while the netted fund
    ``net`` is below ``floor``; return how many it flagged.

    Each position of a candidate takes ``min(|q|, cap)`` of its book's opposite side's capacity
    left (``scr.cap[2K:]``, :func:`round_capacity`; written to ``scr.adl_c``) and the close gives back its deficit
    ``scr.scores[p]`` when whole, else the absorbed parts' ``-sum side c (fill - BP)`` (the
    bankruptcy prices at ``marks``).  A candidate nothing of which can be absorbed (or whose
    absorbed parts are no deficit) is skipped: the next largest is tried.
    """
    n_assets = st.qty.shape[1]
    routed = 0
    for p in range(m):
        if not net < floor:
            break
        j = scr.order[p]
        i = scr.ids[j]
        whole = True
        some = False
        for a in range(n_assets):
            q = st.qty[i, a]
            take = 0.0
            if q != 0.0:
                size = abs(q)
                room = scr.cap[2 * n_assets + 2 * a + (1 if q > 0.0 else 0)]
                # Within DUST of the size is rounding of the capacity's sum: whole, or none.
                take = size if size <= room + DUST * size else room
                if take <= DUST * size:
                    take = 0.0
                if take < size:
                    whole = False
                if take > 0.0:
                    some = True
            scr.adl_c[j, a] = take
        if not some:
            continue
        a1 = single_asset(i, st)
        if whole:
            back = scr.scores[p]
        elif a1 >= 0:  # v1's share of the deficit (route_in_capacity there)
            back = scr.scores[p] * (scr.adl_c[j, a1] / abs(st.qty[i, a1]))
        else:
            bankruptcy_prices(
                i, marks, st.qty, st.entry, st.wallet, st.n_open, tiers.coll, st.venue[i] * n_assets, scr.adl_bp
            )
            back = 0.0
            for a in range(n_assets):
                q = st.qty[i, a]
                if q != 0.0 and scr.adl_c[j, a] > 0.0:
                    back -= (1.0 if q > 0.0 else -1.0) * scr.adl_c[j, a] * (scr.fill[a] - scr.adl_bp[a])
            if not back > 0.0:
                continue
        for a in range(n_assets):
            q = st.qty[i, a]
            if q != 0.0:
                scr.cap[2 * n_assets + 2 * a + (1 if q > 0.0 else 0)] -= scr.adl_c[j, a]
        scr.adl[j] = True
        net += back
        routed += 1
    return routed
