"""One liquidation round of the cascade kernel: order sizing, routing to ADL, book settlement.

Scalar helpers of :func:`levguard.kernels.cascade.cascade_py` (compiled into it), with the
formulas of a close: the bankruptcy price, BitMEX's ADL ranking, the price impact of the round's
net flow, the settlement of a (partial) close through
:mod:`levguard.kernels.liquidation`, and the event record it leaves.
"""

from __future__ import annotations

import math

from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jitable
from levguard.kernels.cascade_records import (
    AdlRanking,
    Book,
    CascadeConfig,
    ImpactModel,
    PartialMode,
    RecordArray,
    RoundOrders,
    Tiers,
)
from levguard.kernels.cascade_sweep import (
    break_score_ties,
    maintenance_of,
    open_accounts,
    sort_deficits,
    sort_descending,
    tier_of,
)
from levguard.typing import BoolArray1D, Float64Array1D, Int64Array1D


@jitable
def bankruptcy_price(side: float, qty: float, entry: float, margin: float) -> float:
    """Return the price at which the account's equity is 0: ``entry - side * margin / qty``."""
    return entry - side * margin / qty


DUST: float = 1e-9
"""What of a quantity ADL routes is rounding, relative to the position: the capacity the routing
sums in one order and the counterparties' takes sum in another differ by a few ulps, which must
not leave a dust position open (v1's and v2's ADL: a take within ``DUST`` of the size is the
whole, a remainder within it none)."""

BANKRUPT_SCORE = -1.7976931348623157e308
"""The ADL score of a position at or past its bankruptcy price (no equity left at the mark): the
lowest finite float, so it ranks after every position with equity, in profit or at a loss."""


@jitable
def adl_score(side: float, qty: float, entry: float, mark: float, bankruptcy: float) -> float:
    """BitMEX's ranking ``PnL% x effective leverage`` in profit, ``PnL% / effective leverage``
    otherwise; :data:`BANKRUPT_SCORE` at or past the bankruptcy price (the formula of
    :func:`levguard.core.rules.bitmex.adl_ranking`, which calls this one).

    Notes
    -----
    bitmex.com/app/autoDeleveraging: ``EffLev = |MV| / (MV - BV)``, ``PnL% = (MV - EV) / |EV|``
    (mark, entry and bankrupt values ``q x price``).  ``MV - BV = q (mark - bankruptcy)`` is the
    position's equity at the mark: the formula needs it positive.  At the bankruptcy price it is
    0 (the score was ``inf``) and past it negative, so ``EffLev`` turned negative and a loss over it
    a positive score (a long from 100 marked 89 with bankruptcy 90: 0.00124, ahead of a winner's
    0.00101).  BitMEX deleverages profitable positions as the counterparties of a bankrupt one; a
    position with no equity left is being liquidated itself, so it ranks last.  ``PnL%`` is
    computed as ``q (mark - entry) / |EV|``, whose sign is the sign of ``mark - entry`` (``MV - EV``
    rounds to 0 where ``q x mark`` and ``q x entry`` round alike).
    """
    q = side * qty
    mark_value = q * mark
    equity = mark_value - q * bankruptcy
    if not equity > 0.0:
        return BANKRUPT_SCORE
    eff_lev = abs(mark_value) / equity
    pnl_pct = q * (mark - entry) / abs(q * entry)
    if pnl_pct > 0.0:
        return pnl_pct * eff_lev
    return pnl_pct / eff_lev


@jitable
def record_event(
    out: RecordArray,
    row: int,
    t: int,
    account: int,
    qty: float,
    price: float,
    bankruptcy: float,
    fund_delta: float,
    kind: int,
    counterparty: int,
) -> bool:
    # Write one event record; False when the table is full (the caller counts the overflow).
    if row >= out.shape[0]:
        return False
    rec = out[row]
    rec["step"] = t
    rec["account"] = account
    rec["qty"] = qty
    rec["price"] = price
    rec["bankruptcy_price"] = bankruptcy
    rec["fund_delta"] = fund_delta
    rec["kind"] = kind
    rec["counterparty"] = counterparty
    return True


@jitable
def exp_or_inf(x: float) -> float:
    """``exp(x)``, ``inf`` where it overflows float64 (as compiled code gives it; Python's
    ``math.exp`` raises OverflowError), so the twins agree and the callers name a price that left
    the floating-point range."""
    return math.inf if x > 709.782712893384 else math.exp(x)


@jitable
def impact_of(notional: float, depth: float, kind: int, coef: float, sigma_daily: float) -> float:
    """Return the log price change ``g(X)`` of a signed notional ``X`` (quote, > 0 sells) traded
    into a book from rest.

    Notes
    -----
    Linear depth: ``g(X) = -X / depth`` bp (``depth`` the notional per basis point).  Square-root
    law: ``g(X) = -sign(X) Y sigma_d sqrt(|X| / V)`` with ``Y = coef`` and ``V = depth`` the
    daily volume (Almgren, Thum, Hauptmann and Li 2005, *Risk*; Tóth et al. 2011, *Phys. Rev. X*),
    the impact of a whole metaorder of size ``X``.
    """
    if notional == 0.0 or not depth > 0.0:
        return 0.0
    if kind == ImpactModel.LINEAR:
        # depth = quote notional per basis point of price move.
        return -notional / depth * 1e-4
    move = coef * sigma_daily * math.sqrt(abs(notional) / depth)
    return -move if notional > 0.0 else move


@jitable
def notional_for_impact(move: float, depth: float, kind: int, coef: float, sigma_daily: float) -> float:
    """Return the signed notional ``X`` (quote, > 0 sells) that :func:`impact_of` maps to the log
    move ``move``: its inverse ``g^-1`` (0 when the book has no impact).

    Notes
    -----
    Linear depth: ``X = -move depth 1e4``.  Square-root law: ``X = -sign(move) V (move / (Y
    sigma_d))^2`` (Almgren et al. 2005; Tóth et al. 2011).  Applied to the book's impact left
    (decayed) at the start of a step, it is the metaorder the book is already depleted by: the
    latent liquidity the impact consumed and has not rebuilt (Donier, Bonart, Mastromatteo and
    Bouchaud 2015, *Quantitative Finance* 15(7)).
    """
    if move == 0.0 or not depth > 0.0:
        return 0.0
    if kind == ImpactModel.LINEAR:
        return -move * depth * 1e4
    scale = coef * sigma_daily
    if not scale > 0.0:
        return 0.0
    r = move / scale
    notional = depth * (r * r)  # r * r, not r ** 2: Python's pow may round one ulp off (the twin)
    return -notional if move > 0.0 else notional


@jitable
def walk_impact(done: float, notional: float, depth: float, kind: int, coef: float, sigma_daily: float) -> float:
    """Return the log price change of a slice ``notional`` (signed quote, > 0 sells) of a metaorder
    of which ``done`` (signed quote) has already traded into the book: ``g(done + notional) -
    g(done)`` with ``g`` :func:`impact_of`.

    Notes
    -----
    A step's liquidation rounds are slices of one metaorder per book, so the moves of its rounds
    sum to ``g`` of the step's whole flow however the flow is split into rounds (the square-root
    law holds for the metaorder, not per slice: Almgren et al. 2005; Tóth et al. 2011).  Linear
    impact is additive (``g`` of the slice).
    """
    if kind == ImpactModel.LINEAR or done == 0.0:
        return impact_of(notional, depth, kind, coef, sigma_daily)
    after = done + notional
    if notional == 0.0 or not depth > 0.0:
        return 0.0
    if after * done < 0.0:  # through the book's start: the two parts add up in size
        return impact_of(after, depth, kind, coef, sigma_daily) - impact_of(done, depth, kind, coef, sigma_daily)
    # Same sign (or to 0): |after| - |done| = sign(done) notional, so g(after) - g(done) =
    # -Y sigma_d notional / V / (sqrt(|after| / V) + sqrt(|done| / V)).
    root = math.sqrt(abs(after) / depth) + math.sqrt(abs(done) / depth)
    return -coef * sigma_daily * (notional / depth) / root


@jitable
def _exp_mean(d: float) -> float:
    # int_0^1 exp(d s) ds = expm1(d) / d: the mean of exp over a linear walk of d (inf past float64).
    if d == 0.0:
        return 1.0
    if d > 709.782712893384:
        return math.inf
    return math.expm1(d) / d


@jitable
def _exp_first_moment(d: float) -> float:
    # int_0^1 s exp(d s) ds = (e^d (d - 1) + 1) / d^2; its series sum_n d^n / (n! (n + 2)) for
    # |d| < 1, where the closed form cancels (25 terms: the remainder is below 1e-26).
    if abs(d) < 1.0:
        term = 1.0
        total = 0.5
        for n in range(1, 25):
            term *= d / n
            total += term / (n + 2)
        return total
    if d > 709.782712893384:
        return math.inf
    return (math.exp(d) * (d - 1.0) + 1.0) / (d * d)


@jitable
def _sqrt_walk_mean(a: float, d: float) -> float:
    # Mean of exp(g - a) over the square-root walk from the log impact a to a + d (same sign):
    # the traded quantity is proportional to g^2, so dx ~ |g| dg and, with g = a + d s,
    # mean = int_0^1 (a + d s) e^(d s) ds / int_0^1 (a + d s) ds = (2 a m0 + 2 d m1) / (2 a + d).
    den = 2.0 * a + d
    if den == 0.0:
        return 1.0
    if a == 0.0:  # from rest (0 x m0 is NaN, not 0, past exp's range: an up-walk's fill is inf)
        return (2.0 * d * _exp_first_moment(d)) / den
    return (2.0 * a * _exp_mean(d) + 2.0 * d * _exp_first_moment(d)) / den


@jitable
def walk_fill(price: float, level: float, d_log: float, kind: int) -> float:
    """Return the average price at which a slice of a metaorder fills: the round's price ``price``
    times the quantity-weighted mean of ``exp(g - level)`` over the book's walk from the log
    impact ``level`` (``g`` of the step's flow before the slice, :func:`impact_of`) to ``level +
    d_log`` (:func:`walk_impact`).

    Notes
    -----
    Square-root law: the quantity traded to the log impact ``g`` is ``(g / (Y sigma_d))^2 V``, so
    ``dx`` is proportional to ``|g| dg`` and the mean over the walk from ``a`` to ``b = a + d``
    is ``int_a^b g e^(g - a) dg / int_a^b g dg = (2 a m0(d) + 2 d m1(d)) / (a + b)`` with
    ``m0(d) = (e^d - 1) / d`` and ``m1(d) = (e^d (d - 1) + 1) / d^2`` (``int exp(k sqrt x) dx
    = 2 e^(k sqrt x) (k sqrt x - 1) / k^2``): from rest ``1 + 2 d / 3 + d^2 / 4 + ...`` (two
    thirds of the move), far from rest ``m0(d)``.  A walk through 0 (``a`` and ``b`` of opposite
    signs) is the walk to 0 and the walk from it, weighted by their quantities ``a^2`` and
    ``b^2``.  Linear depth: ``P exp(d / 2)``, the mean ``(e^d - 1) / d`` of the linear walk to
    second order (they differ by ``d^2 / 24``: 4e-6 relative for a 1 % move).
    """
    if d_log == 0.0:
        return price
    if kind == ImpactModel.LINEAR:
        return price * exp_or_inf(0.5 * d_log)
    b = level + d_log
    if level * b < 0.0:
        w0 = level * level
        w1 = b * b
        mean = (w0 * _sqrt_walk_mean(level, -level) + w1 * exp_or_inf(-level) * _sqrt_walk_mean(0.0, b)) / (w0 + w1)
        return price * mean
    return price * _sqrt_walk_mean(level, d_log)


@jitable
def book_flow(k: int, side: Float64Array1D, orders: RoundOrders) -> float:
    # Net flow into the book of the round's orders (signed base units): a close not routed to
    # ADL, and of a routed one the part ADL cannot absorb (``c - adl_c``).
    ids = orders.ids
    c = orders.c
    adl = orders.adl
    flow = 0.0
    for j in range(k):
        if not adl[j]:
            flow += side[ids[j]] * c[j]
        elif c[j] > orders.adl_c[j]:
            flow += side[ids[j]] * (c[j] - orders.adl_c[j])
    return flow


@jitable
def route_to_adl(
    k: int,
    fund: float,
    fill: float,
    cfg: CascadeConfig,
    book: Book,
    tiers: Tiers,
    adl_dry: BoolArray1D,
    orders: RoundOrders,
    cap: Float64Array1D,
    order: Int64Array1D,
    scores: Float64Array1D,
) -> int:
    # One pass at ``fill`` (v2's route_to_adl, the same rule and expressions): net the fund over
    # every close of the round (they all fill at ``fill``): a full close adds what it gives the
    # fund (E under a takeover, under a book close the fee, or E below the backstop, not the
    # equity the account keeps; a deficit its E), a slice its fee, a close routed at an earlier
    # pass the E of its part ADL cannot absorb.  If the netted fund is below 0 and adl is on, the
    # full closes with a deficit go to ADL, largest deficit first (equal ones by size, then in
    # round order: sort_deficits), until the rest fits, each only as far as the opposite side's
    # remaining capacity absorbs it (round_capacity: ``cap[2 + o]`` from ``cap[o]``): the part it
    # cannot stays in the net and closes in the book (book_rest), a close it cannot absorb at
    # all is not routed and the next largest is (route_in_capacity).  A slice that slice_close
    # turns into a full close at the fill is one: sized whole and marked full here
    # (close_in_book then settles it as such), and routed as one.  Returns how many orders it
    # flagged or made full; the caller repeats the pass at the new fill until it flags nothing
    # (the fill the book settles at); each pass nets again from ``fund`` and skips the orders
    # routed at an earlier pass.  ``order``/``scores`` (N,) are work arrays.
    side = book.side
    qty = book.qty
    net = fund
    changed = 0
    m = 0
    for j in range(k):
        i = orders.ids[j]
        if adl_dry[i]:
            continue
        if orders.adl[j]:
            rest = orders.c[j] - orders.adl_c[j]
            if rest > 0.0:  # its part ADL cannot absorb closes in the book: its E
                bp = bankruptcy_price(side[i], qty[i], book.entry[i], book.margin[i])
                net += side[i] * rest * (fill - bp)
            continue
        if not orders.full[j]:
            c = orders.c[j]
            if c <= 0.0:
                continue
            whole, _left, fee, _realised = slice_close(i, c, False, fill, cfg, book, tiers)
            if not whole:
                net += fee  # a slice pays its fee to the fund
                continue
            orders.c[j] = qty[i]
            orders.full[j] = True
            changed += 1
        bp = bankruptcy_price(side[i], qty[i], book.entry[i], book.margin[i])
        delta = side[i] * qty[i] * (fill - bp)  # the fund's change of a takeover
        if delta < 0.0:
            order[m] = j
            scores[m] = -delta
            m += 1
        elif delta > 0.0 and cfg.outcome == kl.BOOK:
            # A book close leaves the account its equity: the fund gets the fee, not E.
            realised = slice_close(i, qty[i], True, fill, cfg, book, tiers)[3]
            delta = settle_whole(i, qty[i], realised, fill, cfg, book, tiers)[2]
        net += delta
    if not net < 0.0:
        return changed
    # Equal deficits by size: orders.c is the whole size of a full close (its notional / fill).
    sort_deficits(m, order, scores, orders.c)
    round_capacity(k, cap, book, orders)
    return changed + route_in_capacity(m, net, 0.0, order, scores, cap, book, orders)


@jitable
def round_capacity(k: int, cap: Float64Array1D, book: Book, orders: RoundOrders) -> None:
    # The ADL capacity left per side for this pass, ``cap[2 + o]``: outside the round
    # (``cap[o]``, adl_capacity), plus what the round's closes in the book leave open (a slice's
    # rest: the allocation meets it after the book has settled), less what the closes routed at
    # earlier passes take (``adl_c``).
    cap[2] = cap[0]
    cap[3] = cap[1]
    side = book.side
    for j in range(k):
        i = orders.ids[j]
        if orders.adl[j]:
            cap[3 if side[i] > 0.0 else 2] -= orders.adl_c[j]
        elif not orders.full[j] and book.qty[i] > orders.c[j]:
            cap[2 if side[i] > 0.0 else 3] += book.qty[i] - orders.c[j]


@jitable
def route_in_capacity(
    m: int,
    net: float,
    floor: float,
    order: Int64Array1D,
    scores: Float64Array1D,
    cap: Float64Array1D,
    book: Book,
    orders: RoundOrders,
) -> int:
    # Flag for ADL the candidate closes order[:m] (sorted by sort_deficits), front first, while
    # the netted fund ``net`` is below ``floor``: each takes ``min(size, cap[2 + o])`` of the
    # opposite side o's remaining capacity (``adl_c``) and gives back that share of its deficit
    # ``scores[p]``; a close the side has no capacity left for is skipped (the next largest is
    # tried).  Capacity within ``DUST`` of the size is rounding of its sum: the whole is taken,
    # or none (v2's rule).  Returns how many it flagged.
    routed = 0
    for p in range(m):
        if not net < floor:
            break
        j = order[p]
        i = orders.ids[j]
        o = 1 if book.side[i] > 0.0 else 0
        size = book.qty[i]
        room = cap[2 + o]
        take = size if size <= room + DUST * size else room
        if not take > DUST * size:
            continue
        orders.adl[j] = True
        orders.adl_c[j] = take
        cap[2 + o] -= take
        net += scores[p] if take >= size else scores[p] * (take / size)
        routed += 1
    return routed


@jitable
def adl_capacity(o: int, key: int, book: Book, ranking: AdlRanking) -> float:
    # What the ADL allocation can take from side o (0 longs, 1 shorts) this round: the open
    # positions of accounts not pending in side o's ranking from its first entry not yet
    # consumed (the allocation's loop, rank_side's list), or all of side o's when the ranking
    # is of another mark key (the allocation builds it again).  The round's own accounts are
    # pending while it routes: a position being liquidated is no counterparty.
    qty = book.qty
    pending = book.pending
    total = 0.0
    if ranking.key[o] == key:
        for p in range(ranking.pos[o], ranking.length[o]):
            u = ranking.ids[o, p]
            if qty[u] > 0.0 and not pending[u]:
                total += qty[u]
        return total
    want = 1.0 if o == 0 else -1.0
    side = book.side
    for u in range(side.shape[0]):
        if side[u] == want and qty[u] > 0.0 and not pending[u]:
            total += qty[u]
    return total


@jitable
def book_rest(
    i: int,
    rest: float,
    routed: float,
    fill: float,
    cfg: CascadeConfig,
    book: Book,
    tiers: Tiers,
    pnl: Float64Array1D,
) -> tuple[float, float]:
    # Close ``rest`` of routed account i, the part the opposite side cannot absorb, in the book
    # at ``fill`` with its share of the margin (the routed part keeps the rest of the margin
    # and so its bankruptcy price), through the venue's outcome (settle_close: a deficit is the
    # fund's).  The position left is ``routed`` as routed (``qty - rest`` may round a few ulps
    # off it, a dust the deleveraging would not close).  Returns (the fund's change, the
    # bankruptcy price).
    side = book.side[i]
    qty = book.qty[i]
    bp = bankruptcy_price(side, qty, book.entry[i], book.margin[i])
    share = book.margin[i] * (rest / qty)
    realised = side * rest * (fill - book.entry[i])
    kept, _fee, delta, _taken = kl.settle_close(
        cfg.outcome,
        share,
        realised,
        rest * fill,
        cfg.liq_fee,
        maintenance_of(rest, fill, tiers),
        cfg.backstop,
        0.0,
        False,
    )
    pnl[i] += kept - share
    book.margin[i] -= share
    book.qty[i] = routed  # exactly what was routed (v2's adl_account)
    return delta, bp


@jitable
def adl_sequence(
    k: int, fill: float, book: Book, orders: RoundOrders, order: Int64Array1D, scores: Float64Array1D, out: Int64Array1D
) -> int:
    # The round's orders routed to ADL, into ``out`` in the order they deleverage: the routing's
    # (sort_deficits: largest deficit at the fill first), so which close meets which
    # counterparty, and which finds none when the side runs out, does not depend on the order
    # of the accounts (v2's adl_sequence).  Returns how many.
    m = 0
    for j in range(k):
        if orders.adl[j]:
            i = orders.ids[j]
            bp = bankruptcy_price(book.side[i], book.qty[i], book.entry[i], book.margin[i])
            order[m] = j
            scores[m] = -book.side[i] * book.qty[i] * (fill - bp)
            m += 1
    sort_deficits(m, order, scores, orders.c)
    out[:m] = order[:m]
    return m


@jitable
def slice_close(
    i: int, c: float, full: bool, fill: float, cfg: CascadeConfig, book: Book, tiers: Tiers
) -> tuple[bool, float, float, float]:
    # Closing ``c`` of account i at ``fill``: (full, margin left, fee, realised PnL), the close
    # realising side c (fill - entry) and paying the fee from the margin (settle_partial).  A
    # partial close (``full`` False) that exhausts the margin, or leaves the equity at the fill
    # below the backstop x the whole position's maintenance, becomes a full close.
    side = book.side
    qty = book.qty
    entry = book.entry
    margin = book.margin
    backstop = cfg.backstop
    realised = side[i] * c * (fill - entry[i])
    left, fee = kl.settle_partial(margin[i], realised, c * fill, cfg.liq_fee)
    if not full:
        whole_equity = margin[i] + side[i] * qty[i] * (fill - entry[i])
        if not left > 0.0 or (backstop > 0.0 and whole_equity < backstop * maintenance_of(qty[i], fill, tiers)):
            full = True
    return full, left, fee, realised


@jitable
def settle_whole(
    i: int, c: float, realised: float, fill: float, cfg: CascadeConfig, book: Book, tiers: Tiers
) -> tuple[float, float, float, float]:
    # The full close of account i (c its whole size) at ``fill`` through the venue's outcome:
    # settle_close's (kept, fee, fund's change, taken over), the margin as collateral.
    return kl.settle_close(
        cfg.outcome,
        book.margin[i],
        realised,
        c * fill,
        cfg.liq_fee,
        maintenance_of(c, fill, tiers),
        cfg.backstop,
        0.0,
        False,
    )


@jitable
def close_in_book(
    i: int, c: float, full: bool, fill: float, cfg: CascadeConfig, book: Book, tiers: Tiers, pnl: Float64Array1D
) -> tuple[float, bool, float, float]:
    # Close ``c`` of account i at ``fill`` (the whole position when ``full``); a partial close
    # that exhausts the margin, or leaves equity below the backstop, becomes a full close
    # (slice_close).  Updates the position, margin and PnL; returns (closed qty, full, the
    # fund's change, the bankruptcy price before the close).
    side = book.side
    qty = book.qty
    entry = book.entry
    margin = book.margin
    whole, left, fee, realised = slice_close(i, c, full, fill, cfg, book, tiers)
    if whole and not full:
        full = True
        c = qty[i]
        realised = slice_close(i, c, True, fill, cfg, book, tiers)[3]
    bp = bankruptcy_price(side[i], qty[i], entry[i], margin[i])
    if full:
        kept, _fee, delta, _taken = settle_whole(i, c, realised, fill, cfg, book, tiers)
        pnl[i] += kept - margin[i]
        qty[i] = 0.0
        margin[i] = 0.0
    else:
        delta = fee
        pnl[i] += realised - fee
        margin[i] = left
        qty[i] -= c
        if tiers.by_size and cfg.partial_mode == PartialMode.TIER:  # the rest in the tier stepped down to
            qty[i] = kl.size_in_lower_tier(qty[i], tiers.caps)
    return c, full, delta, bp


@jitable
def rank_side(o: int, key: int, mark: float, book: Book, ranking: AdlRanking) -> None:
    # ADL counterparties on side o (0 longs, 1 shorts) under mark key ``key``: the open positions
    # ranked by BitMEX's score at the mark, best first (ties by size, margin and entry:
    # break_score_ties), consumed front first from ranking.pos.
    order = ranking.order
    scores = ranking.scores
    m_c = open_accounts(o, book, False, order)
    for j in range(m_c):
        u = order[j]
        bp = bankruptcy_price(book.side[u], book.qty[u], book.entry[u], book.margin[u])
        scores[j] = adl_score(book.side[u], book.qty[u], book.entry[u], mark, bp)
    sort_descending(order, scores, m_c)
    break_score_ties(order, scores, m_c, book.qty, book.margin, book.entry)  # not account order
    ranking.ids[o, :m_c] = order[:m_c]
    ranking.length[o] = m_c
    ranking.pos[o] = 0
    ranking.key[o] = key


@jitable
def size_orders(
    k: int, price: float, mark: float, cfg: CascadeConfig, book: Book, tiers: Tiers, orders: RoundOrders
) -> None:
    # Sizes of the round's orders: partial slices above the minimum notional, else the whole
    # position (``round_full``); none routed to ADL yet.  The incremental mode is sized at the
    # mark, where the liquidation was found (Deribit's maintenance is at the mark price).
    side = book.side
    qty = book.qty
    caps = tiers.caps
    mmrs = tiers.mmrs
    mode = cfg.partial_mode
    partial_min = cfg.partial_min
    for j in range(k):
        i = orders.ids[j]
        c = qty[i]
        full = True
        notional = qty[i] * price
        if mode == PartialMode.RESTORE:
            # Incremental: just enough to restore equity >= MM at the mark.
            n_mark = qty[i] * mark
            eq_i = book.margin[i] + side[i] * qty[i] * (mark - book.entry[i])
            mm_i = maintenance_of(qty[i], mark, tiers)
            mmr_i = mmrs[tier_of(qty[i], mark, tiers)]
            x = kl.restore_fraction(eq_i, mm_i, n_mark, mmr_i, cfg.liq_fee, 0.0)
            if x < 1.0:
                c = qty[i] * x
                full = False
        elif mode == PartialMode.TIER:
            if notional > partial_min:
                # Risk-limit step-down under the venue's rule, at the fill price.
                eq_i = book.margin[i] + side[i] * qty[i] * (price - book.entry[i])
                mm_i = maintenance_of(qty[i], price, tiers)
                c = kl.tier_close(
                    qty[i],
                    notional,
                    price,
                    False,
                    eq_i,
                    mm_i,
                    cfg.liq_fee,
                    kl.size_caps_at(caps, False, price, qty[i]) if tiers.by_size else caps,  # at the fill
                    mmrs,
                    tiers.cums,
                    cfg.step_from,
                    cfg.step_to,
                    cfg.step_mode,
                )
                if tiers.by_size and c < qty[i]:  # the rest at the lower cap itself
                    c = qty[i] - kl.size_in_lower_tier(qty[i] - c, caps)
                full = c >= qty[i]
        elif notional > partial_min:
            c = kl.slice_qty(qty[i], notional, cfg.partial, partial_min)
            full = c >= qty[i]
        orders.c[j] = c
        orders.full[j] = full
        orders.adl[j] = False
        orders.adl_c[j] = 0.0
