"""Cascading-liquidation kernel: N leveraged accounts on one venue with finite depth.

One exogenous price path; each step applies the exogenous move, decays the liquidation impact,
marks the oracle price, then runs liquidation rounds to a fixed point: crossed accounts send
(partial) liquidation orders into the book, the flow moves the price, newly crossed accounts
follow.  Fills settle through the loss waterfall: the insurance fund, auto-deleveraging of
opposite positions at the bankruptcy price, and bad debt.

Written once in plain Python (:func:`cascade_py`) and compiled by numba (:data:`cascade_nb`).
Inputs, settings and outputs are records (:mod:`levguard.kernels.cascade_records`):
:class:`Accounts`, :class:`Tiers`, :class:`CascadeConfig`, :class:`CascadeOutputs` (a per-step
table, ``EVENT_DTYPE`` event records, the accounts' final state) and the returned
:class:`CascadeCounts`.  ``CascadeConfig.naive`` switches the crossing detection from the
sorted sweep (:mod:`levguard.kernels.cascade_sweep`) to a full scan of every account in every
round.  Both process the crossed set of a round in account order, so they give identical
results (tested); the sweep costs ``O(N log N + T + events log N)`` per path instead of
``O(N T)``.  A round's order sizing, routing to ADL and settlement live in
:mod:`levguard.kernels.cascade_rounds`.

Failure is a value: the kernel never raises.
"""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np

from levguard.kernels._jit import jit, jit_parallel, jitable, prange
from levguard.kernels.cascade_records import (
    EVENT_DTYPE,
    SUMMARY_DTYPE,
    Accounts,
    AccountStatus,
    AccountStatuses,
    AdlRanking,
    Book,
    CascadeConfig,
    CascadeCounts,
    CascadeOutputs,
    CascadeSteps,
    EventKind,
    EventKinds,
    FinalAccounts,
    ImpactModel,
    ImpactModels,
    PartialMode,
    PartialModes,
    RecordArray,
    RoundOrders,
    Sweep,
    Tiers,
    new_final_accounts,
    new_outputs,
    new_steps,
    new_sweep,
)
from levguard.kernels.cascade_rounds import (
    DUST,
    adl_capacity,
    adl_score,
    adl_sequence,
    bankruptcy_price,
    book_flow,
    book_rest,
    close_in_book,
    exp_or_inf,
    impact_of,
    notional_for_impact,
    rank_side,
    record_event,
    route_to_adl,
    size_orders,
    walk_fill,
    walk_impact,
)
from levguard.kernels.cascade_sweep import detect, key, liq_price, rebuild, reprice
from levguard.typing import Float64Array1D, Float64Array2D, Int64Array1D

__all__ = [
    "EVENT_DTYPE",
    "SUMMARY_DTYPE",
    "AccountStatus",
    "AccountStatuses",
    "Accounts",
    "CascadeConfig",
    "CascadeCounts",
    "CascadeOutputs",
    "CascadeSteps",
    "EventKind",
    "EventKinds",
    "FinalAccounts",
    "ImpactModel",
    "ImpactModels",
    "PartialMode",
    "PartialModes",
    "Tiers",
    "adl_score",
    "bankruptcy_price",
    "cascade_many_nb",
    "cascade_many_py",
    "cascade_nb",
    "cascade_py",
    "new_final_accounts",
    "new_outputs",
    "new_steps",
    "open_equity",
    "summarize",
]


# Deprecated names of enum values (before the records): old name -> (enum, field).
_DEPRECATED: dict[str, tuple[object, str]] = {
    "KIND_LIQUIDATION": (EventKind, "LIQUIDATION"),
    "KIND_ADL_LIQUIDATED": (EventKind, "ADL_LIQUIDATED"),
    "KIND_ADL_VICTIM": (EventKind, "ADL_VICTIM"),
    "IMPACT_LINEAR": (ImpactModel, "LINEAR"),
    "IMPACT_SQRT": (ImpactModel, "SQRT"),
}


def __getattr__(name: str) -> int:
    # The old enum constants, with a DeprecationWarning; the old column numbers are gone (the
    # kernel's inputs and outputs are records now).
    if name in _DEPRECATED:
        import warnings

        enum, fld = _DEPRECATED[name]
        qual = f"{type(enum).__name__[:-1]}.{fld}"
        warnings.warn(f"levguard.kernels.cascade.{name} is deprecated; use {qual}", DeprecationWarning, stacklevel=2)
        value: int = getattr(enum, fld)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@jitable
def _median_mark(price: float, mult: Float64Array1D, scratch: Float64Array1D) -> float:
    # Median over the oracle's sources of price * multiplier (NaN multipliers: source missing).
    k = 0
    for s in range(mult.shape[0]):
        m = mult[s]
        if not math.isnan(m):
            scratch[k] = price * m
            k += 1
    if k == 0:
        return price
    sub = np.sort(scratch[:k])
    if k % 2 == 1:
        return float(sub[k // 2])
    return 0.5 * (float(sub[k // 2 - 1]) + float(sub[k // 2]))


@jitable
def dynamic_scale(
    t: int,
    window: int,
    base_vol: float,
    lo_scale: float,
    hi_scale: float,
    steps_per_year: float,
    price_hist: Float64Array1D,
) -> tuple[bool, float]:
    """Return ``(done, scale)`` of dynamic margin at step ``t``: ``clip(realised vol / base_vol,
    lo_scale, hi_scale)`` with the annualised sample volatility of the log returns of
    ``price_hist`` over the last ``window`` steps up to ``t``; not done with fewer than 2 returns."""
    lo = max(1, t - window + 1)
    m_k = 0
    s1 = 0.0
    s2 = 0.0
    for u in range(lo, t + 1):
        r = math.log(price_hist[u] / price_hist[u - 1])
        s1 += r
        s2 += r * r
        m_k += 1
    if m_k <= 1:
        return False, 0.0
    var = (s2 - s1 * s1 / m_k) / (m_k - 1)
    vol = math.sqrt(max(var, 0.0) * steps_per_year)
    return True, min(max(vol / base_vol, lo_scale), hi_scale)


@jitable
def _rescale(
    t: int, cfg: CascadeConfig, price_hist: Float64Array1D, base: Tiers, tiers: Tiers, book: Book, sw: Sweep
) -> tuple[bool, float]:
    # Dynamic margin: scale the tiers by dynamic_scale, solve every liquidation price again and
    # re-sort; returns (done, scale).
    done, scale = dynamic_scale(
        t, cfg.dyn_window, cfg.dyn_base_vol, cfg.dyn_min, cfg.dyn_max, cfg.steps_per_year, price_hist
    )
    if not done:
        return False, 0.0
    for j in range(tiers.mmrs.shape[0]):
        tiers.mmrs[j] = base.mmrs[j] * scale
        tiers.cums[j] = base.cums[j] * scale
    side = book.side
    qty = book.qty
    for i in range(side.shape[0]):
        if qty[i] > 0.0:
            book.lp[i] = liq_price(side[i], qty[i], book.entry[i], book.margin[i], tiers)
            book.key_at[i] = key(side[i], book.lp[i])
    if not cfg.naive:
        for sd in range(2):
            rebuild(sd, book, sw)
    return True, scale


@jitable
def _crossed(mark: float, naive: bool, book: Book, sw: Sweep, found: Int64Array1D) -> int:
    # Newly crossed accounts into ``found`` (marked pending), in account order (the same set and
    # order in both modes); returns their number.
    n_found = 0
    if naive:
        side = book.side
        qty = book.qty
        pending = book.pending
        lp = book.lp
        for i in range(side.shape[0]):
            if qty[i] > 0.0 and not pending[i]:
                li = lp[i]
                if (side[i] > 0.0 and li >= mark) or (side[i] < 0.0 and li <= mark):
                    found[n_found] = i
                    n_found += 1
                    pending[i] = True
    else:
        n_found = detect(0, mark, book, sw, found, 0)
        n_found = detect(1, -mark, book, sw, found, n_found)
        if n_found > 1:
            found[:n_found] = np.sort(found[:n_found])
    return n_found


@jitable
def cascade_py(
    acc: Accounts,
    tiers: Tiers,
    exo: Float64Array1D,
    depth_mult: Float64Array1D,
    oracle: Float64Array2D,
    cfg: CascadeConfig,
    out: CascadeOutputs,
) -> CascadeCounts:
    """Simulate one price path of a venue with N leveraged accounts.

    Parameters
    ----------
    acc : Accounts
        Side (+1/-1), size (base units, > 0), entry price, margin (isolated margin or the
        wallet of a one-position cross account), per account ((N,) float64 each).
    tiers : Tiers
        The venue's maintenance tiers (cap, rate, amount); scaled by the dynamic-margin factor.
    exo : (T + 1,) float64
        Exogenous (fundamental) price path; ``exo[0]`` is the starting price.
    depth_mult : (T + 1,) float64
        Multiplier of the book depth per step (1 normal, < 1 thinned under stress).
    oracle : (T + 1, S) float64
        Per step and oracle source, the multiplier of the traded price the source reports (1: an
        honest source; NaN: missing); the mark is the median over sources of the lagged price.
    cfg : CascadeConfig
        Settings: insurance fund, liquidation fee, order sizing (``partial_mode``, ``partial``,
        ``partial_min``), impact model and depth, resilience, latency, ADL, rounds, mark lag,
        naive detection, dynamic margin, steps per year, full-close outcome and backstop.
    out : CascadeOutputs
        Written in place: ``out.steps`` (T + 1 rows) per step after the rounds; ``out.events``
        (``EVENT_DTYPE``, capacity rows) the liquidations and ADL closes (rows beyond the
        capacity are counted, not written); ``out.accounts`` (N) the final size, margin,
        realised PnL (fees included; -margin when wiped out) and :data:`AccountStatus`.

    Returns
    -------
    CascadeCounts
        Events written, events not written (overflow), accounts liquidated, ADL events.

    Notes
    -----
    Step ``t``: ``P = exo[t] * exp(I)`` with the impact ``I`` decayed by ``0.5^(1/half_life)``
    (resilience); mark ``M = median_s(P[t - lag] * oracle[t, s])``.  Rounds: accounts whose
    liquidation price is crossed by ``M`` (longs ``LP >= M``, shorts ``LP <= M``) are
    triggered and executed ``latency`` steps later; the round's orders (a fraction ``partial``
    of the position, or with ``partial_mode`` ``TIER`` what takes the notional down to the next
    lower maintenance tier's cap (tier step-down); the whole position below ``partial_min``
    notional, in the first tier, or when the margin is exhausted) net into one flow ``x``, a slice
    of the step's metaorder on the book: the price moves by ``dI = g(X + x P) - g(X)``
    (:func:`~levguard.kernels.cascade_rounds.walk_impact`), ``X`` the step's flow before the round
    (quote, each round's at its price ``P``), ``g`` linear in notional (``-X / depth`` bp) or
    the square-root law ``Y sigma_d sqrt(|X| / V)`` (Almgren et al. 2005; Tóth et al. 2011),
    with the depth scaled by ``depth_mult[t]``; every order fills at the average price of the
    walk (:func:`~levguard.kernels.cascade_rounds.walk_fill`; ``P exp(dI / 2)`` under linear
    depth).  Across steps the book stays depleted by the impact not yet decayed: a step's walk
    starts from ``X = g^-1(I)`` (:func:`~levguard.kernels.cascade_rounds.notional_for_impact`,
    the latent-liquidity picture of Donier, Bonart, Mastromatteo and Bouchaud 2015), so without
    decay the whole cascade is one metaorder and with it the state decays as ``I`` does.
    With ``lag = 0`` the new mark crosses the next layer within the same step (the cascade);
    rounds stop at a fixed point or ``max_rounds``.

    Settlement of a full close of ``q`` at ``p`` follows the venue's outcome
    (:func:`levguard.kernels.liquidation.settle_close`): a takeover (the default; Binance,
    Bybit, OKX, Gate, BitMEX) leaves the account nothing and the insurance fund receives
    ``side q (p - BP)`` (negative when the fill is worse than the bankruptcy price
    ``BP = entry - side margin / q``); a book close (Hyperliquid, dYdX, Deribit) pays the fee
    ``min(fee q p, equity)`` to the fund and the account keeps the rest, unless the equity at
    the fill is below ``backstop`` times the maintenance margin (Hyperliquid's backstop: a
    takeover of the whole position).  A partial close
    (:func:`~levguard.kernels.liquidation.settle_partial`) realises ``side c (p - entry)`` and
    pays ``fee c p`` to the fund from the margin; the remaining position's liquidation price is
    solved again (it moves away: margin balance is unchanged while maintenance falls).
    Incremental liquidation (``partial_mode`` ``RESTORE``) sizes each order to restore the
    maintenance margin at the current price (:func:`~levguard.kernels.liquidation.restore_fraction`).
    The fund is netted over the round's closes (one fill); when it would go below 0 and ADL is
    on, the full closes with a deficit, largest first, until the rest fits
    (:func:`~levguard.kernels.cascade_rounds.route_to_adl`), are instead closed against the
    opposite side's most profitable, most leveraged positions (BitMEX ranking :func:`adl_score`
    at the round's mark, ranked again when the mark moved) at their bankruptcy price, off the
    book, each as far as the opposite side's capacity left absorbs it
    (:func:`~levguard.kernels.cascade_rounds.adl_capacity`): the rest closes in the book in the
    same round, its deficit the fund's (:func:`~levguard.kernels.cascade_rounds.book_rest`), and
    a close nothing of which fits is not routed.  A quantity within
    :data:`~levguard.kernels.cascade_rounds.DUST` (1e-9) of the position is rounding, not a
    quantity (v2's rule): the routing takes the whole or none, a counterparty within it of what
    is left closes whole and a remainder within it is 0, and the routed part is written as
    routed, so no float dust stays open.  Without ADL (or without counterparties) the
    fund's shortfall is bad debt and the fund is floored at 0.  Dynamic
    margin: every ``dyn_every`` steps the maintenance tiers are scaled by ``clip(realised vol
    over dyn_window / dyn_base_vol, dyn_min, dyn_max)`` and every liquidation price is solved
    again.

    Money is conserved: for every event, the account's and the fund's changes sum to the value
    traded against the book or the ADL counterparty (tested from the outputs).
    """
    n = acc.side.shape[0]
    n_t = exo.shape[0]
    fund = cfg.fund
    kind_impact = cfg.impact_model
    depth = cfg.depth
    coef = cfg.impact_coef
    sigma_d = cfg.sigma_daily
    half_life = cfg.half_life
    decay = 0.5 ** (1.0 / half_life) if half_life > 0.0 else 0.0
    latency = cfg.latency
    adl_on = cfg.adl
    max_rounds = cfg.max_rounds
    lag = cfg.mark_lag
    naive = cfg.naive
    dyn_every = cfg.dyn_every
    dyn_on = cfg.dynamic and dyn_every > 0

    base = Tiers(tiers.caps.copy(), tiers.mmrs.copy(), tiers.cums.copy(), tiers.by_size)
    now = Tiers(base.caps, base.mmrs.copy(), base.cums.copy(), base.by_size)  # scaled by the dynamic margin
    scale = 1.0

    fin = out.accounts
    side = acc.side.copy()
    qty = fin.qty
    qty[:] = acc.qty
    entry = acc.entry.copy()
    margin = fin.margin
    margin[:] = acc.margin
    pnl = fin.pnl
    pnl[:] = 0.0
    status = fin.status
    status[:] = AccountStatus.OK
    lp = np.empty(n)
    key_at = np.empty(n)  # the key under which each account is filed (sorted list or heap)
    pending = np.zeros(n, dtype=np.bool_)
    book = Book(side, qty, entry, margin, lp, key_at, pending)
    adl_dry = np.zeros(n, dtype=np.bool_)  # ADL found no counterparty for it: use the book
    sw = new_sweep(n)
    # Latency queue: a ring (at most one live entry per account); due steps never decrease.
    q_cap = n + 1
    q_ids = np.empty(q_cap, dtype=np.int64)
    q_due = np.empty(q_cap, dtype=np.int64)
    q_head = 0
    q_len = 0
    # Scratch.
    found = np.empty(n, dtype=np.int64)
    round_ids = np.empty(n, dtype=np.int64)
    round_c = np.empty(n)
    round_full = np.empty(n, dtype=np.bool_)
    round_adl = np.empty(n, dtype=np.bool_)
    round_adl_c = np.zeros(n)
    adl_cap = np.zeros(4)  # per side: ADL capacity outside the round, and left in the routing
    oracle_scratch = np.empty(oracle.shape[1])
    adl_order = np.empty(n, dtype=np.int64)
    adl_scores = np.empty(n)
    rank_ids = np.empty((2, n), dtype=np.int64)
    rank_len = np.zeros(2, dtype=np.int64)
    rank_pos = np.zeros(2, dtype=np.int64)
    rank_key_at = np.full(2, -1, dtype=np.int64)
    rank_key = 0
    key_mark = math.nan
    orders = RoundOrders(round_ids, round_c, round_full, round_adl, round_adl_c)
    ranking = AdlRanking(rank_ids, rank_len, rank_pos, rank_key_at, adl_order, adl_scores)
    events = out.events
    n_events = 0
    overflow = 0
    n_accounts_liq = 0
    n_adl = 0
    bad_debt = 0.0
    impact = 0.0

    for i in range(n):
        lp[i] = liq_price(side[i], qty[i], entry[i], margin[i], now)
        key_at[i] = key(side[i], lp[i]) if qty[i] > 0.0 else -math.inf
    if not naive:
        for sd in range(2):
            rebuild(sd, book, sw)

    steps = out.steps
    price_hist = steps.price
    for t in range(n_t):
        # 1. Exogenous move and resilience.
        impact *= decay
        price = exo[t] * exp_or_inf(impact)
        price_hist[t] = price
        liq_notional = 0.0
        adl_notional = 0.0
        n_liq_step = 0
        rounds = 0
        # The book's metaorder so far (signed quote notional, > 0 sells): the step's walk starts
        # from the flow the impact left (decayed) depletes the book by, g^-1(I).
        step_flow = notional_for_impact(impact, depth * depth_mult[t], kind_impact, coef, sigma_d)
        # Dynamic margin: rescale the tiers and re-solve every liquidation price.
        if dyn_on and t > 0 and t % dyn_every == 0:
            done, new_scale = _rescale(t, cfg, price_hist, base, now, book, sw)
            if done:
                scale = new_scale
        # 2. Rounds to a fixed point.
        mark = price
        while rounds < max_rounds:
            src = t - lag if t - lag >= 0 else 0
            mark = _median_mark(price_hist[src] if src < t else price, oracle[t], oracle_scratch)
            if rounds == 0 or mark != key_mark:  # the ADL rankings' key: a new one each step and mark
                rank_key += 1
                key_mark = mark
            n_found = _crossed(mark, naive, book, sw, found)
            for j in range(n_found):
                pos = (q_head + q_len) % q_cap
                q_ids[pos] = found[j]
                q_due[pos] = t + latency
                q_len += 1
            # Orders due now.
            k = 0
            while q_len > 0 and q_due[q_head] <= t:
                i = q_ids[q_head]
                q_head = (q_head + 1) % q_cap
                q_len -= 1
                if qty[i] <= 0.0:
                    pending[i] = False
                    continue
                round_ids[k] = i
                k += 1
            if k == 0:
                break
            rounds += 1
            size_orders(k, price, mark, cfg, book, now, orders)
            # Route: when the round's closes, netted, would take the fund below 0, the largest
            # deficits go to ADL (when on) until the rest fits.
            flow = book_flow(k, side, orders)
            depth_t = depth * depth_mult[t]
            level = impact_of(step_flow, depth_t, kind_impact, coef, sigma_d)
            d_log = walk_impact(step_flow, flow * price, depth_t, kind_impact, coef, sigma_d)
            fill = walk_fill(price, level, d_log, kind_impact)
            if adl_on:
                # To a fixed point: route at the fill, net the flow again, until a pass at the
                # fill the book settles at flags nothing (route_to_adl), within what the opposite
                # sides can absorb (adl_capacity, taken down as closes are routed).
                for o in range(2):
                    adl_cap[o] = adl_capacity(o, rank_key, book, ranking)
                while route_to_adl(k, fund, fill, cfg, book, now, adl_dry, orders, adl_cap, adl_order, adl_scores) > 0:
                    flow = book_flow(k, side, orders)
                    d_log = walk_impact(step_flow, flow * price, depth_t, kind_impact, coef, sigma_d)
                    fill = walk_fill(price, level, d_log, kind_impact)
            # Settle.
            for j in range(k):
                i = round_ids[j]
                c = round_c[j]
                if round_adl[j]:
                    continue  # pending until its own ADL: a bankrupt position is no counterparty
                pending[i] = False
                if not c <= 0.0:  # something to close (otherwise only reprice the account)
                    c, full, delta, bp = close_in_book(i, c, round_full[j], fill, cfg, book, now, pnl)
                    round_c[j] = c
                    round_full[j] = full
                    fund += delta
                    if status[i] != AccountStatus.LIQUIDATED:  # an ADL counterparty's (DELEVERAGED) first too
                        n_accounts_liq += 1
                    status[i] = AccountStatus.LIQUIDATED
                    liq_notional += c * fill
                    n_liq_step += 1
                    if record_event(events, n_events, t, i, side[i] * c, fill, bp, delta, EventKind.LIQUIDATION, -1):
                        n_events += 1
                    else:
                        overflow += 1
                reprice(i, naive, book, now, sw)
            # ADL-routed orders, largest deficit first: close against the opposite side's ranking
            # at the bankruptcy price.
            for p in range(adl_sequence(k, fill, book, orders, adl_order, adl_scores, found)):
                j = found[p]
                i = round_ids[j]
                pending[i] = False
                rest = round_c[j] - round_adl_c[j]
                if rest > 0.0:
                    # The part the opposite side cannot absorb closes in the book, the fund's.
                    delta, bp = book_rest(i, rest, round_adl_c[j], fill, cfg, book, now, pnl)
                    fund += delta
                    if status[i] != AccountStatus.LIQUIDATED:
                        n_accounts_liq += 1
                    status[i] = AccountStatus.LIQUIDATED
                    liq_notional += rest * fill
                    n_liq_step += 1
                    if record_event(events, n_events, t, i, side[i] * rest, fill, bp, delta, EventKind.LIQUIDATION, -1):
                        n_events += 1
                    else:
                        overflow += 1
                bp = bankruptcy_price(side[i], qty[i], entry[i], margin[i])
                left = qty[i]
                # Counterparties: the opposite side's open positions ranked by BitMEX's score at
                # the mark, built once per side and mark key (a step, or a move of the mark within
                # it) and consumed front first.  Within DUST of the size is rounding (v2's
                # deleverage): a counterparty that close to what is left closes whole, and what
                # is left that close to 0 is 0, so no dust stays open.
                o = 1 if side[i] > 0.0 else 0
                if rank_key_at[o] != rank_key:
                    rank_side(o, rank_key, mark, book, ranking)
                tiny = DUST * left
                while left > tiny and rank_pos[o] < rank_len[o]:
                    u = rank_ids[o, rank_pos[o]]
                    if qty[u] <= 0.0 or pending[u]:
                        rank_pos[o] += 1
                        continue
                    take = qty[u] if qty[u] <= left + tiny else left
                    if take >= qty[u]:
                        rank_pos[o] += 1
                    gain = side[u] * take * (bp - entry[u])
                    pnl[u] += gain
                    margin[u] += gain
                    qty[u] -= take
                    left -= take
                    if status[u] == AccountStatus.OK:
                        status[u] = AccountStatus.DELEVERAGED
                    adl_notional += take * bp
                    n_adl += 1
                    if record_event(events, n_events, t, u, side[u] * take, bp, bp, 0.0, EventKind.ADL_VICTIM, i):
                        n_events += 1
                    else:
                        overflow += 1
                    reprice(u, naive, book, now, sw)
                if not left > tiny:
                    left = 0.0
                closed = qty[i] - left
                if closed > 0.0:
                    # The bankrupt part leaves the account at its bankruptcy price: margin gone.
                    share = closed / qty[i]
                    lost = margin[i] * share
                    pnl[i] -= lost
                    margin[i] -= lost
                    qty[i] = left
                    if status[i] != AccountStatus.LIQUIDATED:  # an ADL counterparty's (DELEVERAGED) first too
                        n_accounts_liq += 1
                    status[i] = AccountStatus.LIQUIDATED
                    if not round_c[j] > round_adl_c[j]:  # one close of the account (book_rest counted it)
                        n_liq_step += 1
                    if record_event(
                        events, n_events, t, i, side[i] * closed, bp, bp, 0.0, EventKind.ADL_LIQUIDATED, -1
                    ):
                        n_events += 1
                    else:
                        overflow += 1
                if qty[i] > 0.0:
                    # No counterparty left for the rest: it goes to the book in the next round.
                    adl_dry[i] = True
                    pending[i] = True
                    pos = (q_head + q_len) % q_cap
                    q_ids[pos] = i
                    q_due[pos] = t
                    q_len += 1
                else:
                    key_at[i] = -math.inf
            # Impact of the book flow: a slice of the step's metaorder.
            step_flow += flow * price
            impact += d_log
            price = price * exp_or_inf(d_log)
            price_hist[t] = price
            if fund < 0.0:
                bad_debt += -fund
                fund = 0.0
        src = t - lag if t - lag >= 0 else 0
        mark = _median_mark(price_hist[src] if src < t else price, oracle[t], oracle_scratch)
        steps.price[t] = price
        steps.mark[t] = mark
        steps.exo[t] = exo[t]
        steps.liq_notional[t] = liq_notional
        steps.adl_notional[t] = adl_notional
        steps.n_liq[t] = n_liq_step
        steps.fund[t] = fund
        steps.bad_debt[t] = bad_debt
        steps.impact[t] = impact
        steps.mm_scale[t] = scale
        steps.rounds[t] = rounds
    return CascadeCounts(n_events, overflow, n_accounts_liq, n_adl)


cascade_nb = jit(cascade_py)


@overload
def open_equity(margin: float, side: float, qty: float, entry: float, mark: float) -> float: ...
@overload
def open_equity(
    margin: Float64Array1D, side: Float64Array1D, qty: Float64Array1D, entry: Float64Array1D, mark: float
) -> Float64Array1D: ...
@jitable
def open_equity(margin: Any, side: Any, qty: Any, entry: Any, mark: float) -> Any:
    """Return an account's equity at ``mark``: ``margin + side qty (mark - entry)`` (its margin when
    closed, ``qty = 0``).  Plain Python outside the kernels, so it also takes arrays."""
    return margin + side * qty * (mark - entry)


@jitable
def summarize(
    steps: CascadeSteps,
    counts: CascadeCounts,
    fund0: float,
    acc: Accounts,
    fin: FinalAccounts,
    out: RecordArray,
    row: int,
) -> None:
    """Write one path's summary into ``out[row]`` (``SUMMARY_DTYPE``) from its steps, counts and
    final accounts.

    ``pending_bad_debt`` is the deficit of the positions still open at the last mark,
    ``sum max(-(margin + side q (mark - entry)), 0)`` (the equity the rounds test): bad debt no
    close has booked because the path ended first (an order in the latency queue, a gap on the
    last step).  It is not in ``bad_debt``.
    """
    n_t = steps.price.shape[0]
    mark = steps.mark[n_t - 1]
    pending = 0.0
    for i in range(fin.qty.shape[0]):
        if fin.qty[i] > 0.0:
            equity = open_equity(fin.margin[i], acc.side[i], fin.qty[i], acc.entry[i], mark)
            if equity < 0.0:
                pending -= equity
    liq = 0.0
    adl = 0.0
    fund_min = fund0
    p_min = math.inf
    x_min = math.inf
    p_max = -math.inf
    x_max = -math.inf
    for t in range(n_t):
        liq += steps.liq_notional[t]
        adl += steps.adl_notional[t]
        fund_min = min(fund_min, steps.fund[t])
        p_min = min(p_min, steps.price[t])
        x_min = min(x_min, steps.exo[t])
        p_max = max(p_max, steps.price[t])
        x_max = max(x_max, steps.exo[t])
    rec = out[row]
    rec["bad_debt"] = steps.bad_debt[n_t - 1]
    rec["pending_bad_debt"] = pending
    rec["liquidated_notional"] = liq
    rec["adl_notional"] = adl
    rec["accounts_liquidated"] = counts.accounts_liquidated
    rec["fund_end"] = steps.fund[n_t - 1]
    rec["fund_min"] = fund_min
    rec["min_price"] = p_min
    rec["min_exogenous"] = x_min
    rec["max_price"] = p_max
    rec["max_exogenous"] = x_max
    # Overshoot: the extra fall (or rise) the cascade adds beyond the exogenous path's extreme.
    down = x_min / p_min - 1.0 if p_min > 0.0 else math.inf
    up = p_max / x_max - 1.0 if x_max > 0.0 else 0.0
    rec["overshoot"] = max(down, up)
    rec["adl_events"] = counts.adl_events


def cascade_many_py(
    acc: Accounts,
    tiers: Tiers,
    exo: Float64Array2D,
    depth_mult: Float64Array1D,
    oracle: Float64Array2D,
    cfg: CascadeConfig,
    out_summary: RecordArray,
) -> None:
    """Run :func:`cascade_py` on every row of ``exo`` (P, T + 1) in parallel (``prange`` over
    paths); write each path's summary into ``out_summary`` (P,) ``SUMMARY_DTYPE`` records.
    Events are not kept (capacity 0: counted only), so memory is O(N + T) per thread."""
    n_paths = exo.shape[0]
    n_t = exo.shape[1]
    n = acc.side.shape[0]
    for p in prange(n_paths):
        out = CascadeOutputs(new_steps(n_t), np.empty(0, dtype=EVENT_DTYPE), new_final_accounts(n))
        counts = cascade_py(acc, tiers, exo[p], depth_mult, oracle, cfg, out)
        summarize(out.steps, counts, cfg.fund, acc, out.accounts, out_summary, p)


cascade_many_nb = jit_parallel(cascade_many_py)
