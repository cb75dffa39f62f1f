"""Cascading-liquidation kernel: N leveraged accounts on one venue with finite depth.

One exogenous price path; each step applies the exogenous move, decays the liquidation impact,
marks the oracle price, then runs liquidation rounds to a fixed point: crossed accounts send
(partial) liquidation orders into the book, the flow moves the price, newly crossed accounts
follow.  Fills settle through the loss waterfall: the insurance fund, auto-deleveraging of
opposite positions at the bankruptcy price, and bad debt.

Written once in plain Python (:func:`cascade_py`) and compiled by numba (:data:`cascade_nb`);
``CFG_NAIVE`` switches the crossing detection from the sorted sweep (liquidation prices sorted
once, pointers advanced as the mark moves, a heap for accounts whose liquidation price changed)
to a full scan of every account in every round.  Both process the crossed set of a round in
account order, so they give identical results (tested); the sweep costs
``O(N log N + T + events log N)`` per path instead of ``O(N T)``.

Failure is a value: the kernel never raises.
"""

from __future__ import annotations

import math

import numpy as np

from levguard._typing import BoolArray1D, Float64Array1D, Float64Array2D, Int64Array1D
from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jit, jit_parallel, jitable, prange
from levguard.kernels.margin import solve_liquidation_price, tier_index, tiered_mm

Int64Array2D = Int64Array1D

# ``acc`` columns (N, N_ACC).
ACC_SIDE = 0
ACC_QTY = 1
ACC_ENTRY = 2
ACC_MARGIN = 3
N_ACC = 4

# ``tiers`` columns (R, N_TIER): notional cap, maintenance rate, maintenance amount.
TIER_CAP = 0
TIER_MMR = 1
TIER_CUM = 2
N_TIER = 3

# ``cfg`` entries.
CFG_FUND = 0
CFG_LIQ_FEE = 1
CFG_PARTIAL = 2
CFG_PARTIAL_MIN = 3
CFG_IMPACT_KIND = 4
CFG_DEPTH = 5
CFG_IMPACT_COEF = 6
CFG_SIGMA_DAILY = 7
CFG_HALF_LIFE = 8
CFG_LATENCY = 9
CFG_ADL = 10
CFG_MAX_ROUNDS = 11
CFG_MARK_LAG = 12
CFG_NAIVE = 13
CFG_DYN_ON = 14
CFG_DYN_BASE_VOL = 15
CFG_DYN_WINDOW = 16
CFG_DYN_EVERY = 17
CFG_DYN_MIN = 18
CFG_DYN_MAX = 19
CFG_STEPS_PER_YEAR = 20
CFG_OUTCOME = 21  # full-close outcome: kernels.liquidation.TAKEOVER (0, the margin goes) or BOOK
CFG_BACKSTOP = 22  # BOOK: taken over when equity at the fill < ratio x maintenance (0: never)
N_CFG = 23

# ``CFG_PARTIAL`` codes below 0: -1 tier step-down, -2 incremental restore (Deribit).
PARTIAL_TIER_CODE = -1.0
PARTIAL_RESTORE_CODE = -2.0

# Impact models.
IMPACT_LINEAR = 0
IMPACT_SQRT = 1

# Per-step outputs (``out_steps`` (T + 1, N_STEP)).
STEP_PRICE = 0
STEP_MARK = 1
STEP_EXO = 2
STEP_LIQ_NOTIONAL = 3
STEP_ADL_NOTIONAL = 4
STEP_N_LIQ = 5
STEP_FUND = 6
STEP_BAD_DEBT = 7
STEP_IMPACT = 8
STEP_MM_SCALE = 9
STEP_ROUNDS = 10
N_STEP = 11

# Events (``out_events`` (cap, N_EV)).
EV_STEP = 0
EV_ACCOUNT = 1
EV_QTY = 2
EV_PRICE = 3
EV_BANKRUPTCY = 4
EV_FUND_DELTA = 5
EV_KIND = 6
EV_COUNTERPARTY = 7
N_EV = 8

KIND_LIQUIDATION = 0  # (partial) liquidation filled in the book
KIND_ADL_LIQUIDATED = 1  # a bankrupt position closed against ADL counterparties at its bankruptcy price
KIND_ADL_VICTIM = 2  # a counterparty closed by ADL at the bankrupt position's bankruptcy price

# Per-account final state (``out_acc`` (N, N_OUT_ACC)).
OUT_QTY = 0
OUT_MARGIN = 1
OUT_PNL = 2
OUT_LIQUIDATED = 3
N_OUT_ACC = 4

# ``out_counts``.
COUNT_EVENTS = 0
COUNT_OVERFLOW = 1
COUNT_ACCOUNTS_LIQUIDATED = 2
COUNT_ADL_EVENTS = 3
N_COUNTS = 4

# Monte Carlo summary per path (``out_summary`` (P, N_SUM)).
SUM_BAD_DEBT = 0
SUM_LIQ_NOTIONAL = 1
SUM_ADL_NOTIONAL = 2
SUM_N_LIQUIDATED = 3
SUM_FUND_END = 4
SUM_FUND_MIN = 5
SUM_MIN_PRICE = 6
SUM_MIN_EXO = 7
SUM_MAX_PRICE = 8
SUM_MAX_EXO = 9
SUM_OVERSHOOT = 10
SUM_ADL_EVENTS = 11
N_SUM = 12


@jitable
def bankruptcy_price(side: float, qty: float, entry: float, margin: float) -> float:
    """Return the price at which the account's equity is 0: ``entry - side * margin / qty``."""
    return entry - side * margin / qty


@jitable
def adl_score(side: float, qty: float, entry: float, mark: float, bankruptcy: float) -> float:
    """BitMEX's ranking ``PnL% x effective leverage`` in profit, ``PnL% / effective leverage``
    otherwise (the formula of :func:`levguard.core.rules.bitmex.adl_ranking`)."""
    q = side * qty
    mark_value = q * mark
    entry_value = q * entry
    denom = mark_value - q * bankruptcy
    if denom == 0.0:
        return math.inf
    eff_lev = abs(mark_value) / denom
    pnl_pct = (mark_value - entry_value) / abs(entry_value)
    if pnl_pct > 0.0:
        return pnl_pct * eff_lev
    return pnl_pct / eff_lev


@jitable
def _lp(
    side: float,
    qty: float,
    entry: float,
    margin: float,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
) -> float:
    # Liquidation price of one isolated linear position; NaN when none (treated as never).
    if qty <= 0.0:
        return math.nan
    return solve_liquidation_price(side * qty, entry, margin, 0.0, 0.0, False, caps, mmrs, cums)


@jitable
def _key(side: float, lp: float) -> float:
    # Sort key of an account on its side's list: longs are crossed when ``lp >= mark`` (key
    # ``lp``, threshold ``mark``), shorts when ``lp <= mark`` (key ``-lp``, threshold ``-mark``);
    # both lists are kept in descending key order.  No liquidation price: never crossed.
    if math.isnan(lp):
        return -math.inf
    return lp if side > 0.0 else -lp


@jitable
def _rebuild(
    s: int,
    side: Float64Array1D,
    qty: Float64Array1D,
    pending: BoolArray1D,
    key_at: Float64Array1D,
    ordk: Float64Array2D,
    ordi: Int64Array2D,
    length: Int64Array1D,
    ptr: Int64Array1D,
    hsize: Int64Array1D,
) -> None:
    # Sort side s's open, non-pending accounts by key (descending); empty its heap.
    want = 1.0 if s == 0 else -1.0
    m = 0
    for i in range(side.shape[0]):
        if side[i] == want and qty[i] > 0.0 and not pending[i] and key_at[i] > -math.inf:
            ordi[s, m] = i
            ordk[s, m] = key_at[i]
            m += 1
    idx = np.argsort(-ordk[s, :m], kind="mergesort")
    ids = ordi[s, :m][idx]
    keys = ordk[s, :m][idx]
    ordi[s, :m] = ids
    ordk[s, :m] = keys
    length[s] = m
    ptr[s] = 0
    hsize[s] = 0


@jitable
def _heap_push(keys: Float64Array1D, ids: Int64Array1D, size: int, key: float, idx: int) -> int:
    # Max-heap on key; returns the new size.
    i = size
    keys[i] = key
    ids[i] = idx
    size += 1
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] >= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        ids[parent], ids[i] = ids[i], ids[parent]
        i = parent
    return size


@jitable
def _heap_pop(keys: Float64Array1D, ids: Int64Array1D, size: int) -> int:
    # Remove the top; returns the new size (the popped item was keys[0], ids[0] before the call).
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
        keys[best], keys[i] = keys[i], keys[best]
        ids[best], ids[i] = ids[i], ids[best]
        i = best
    return size


@jitable
def _detect(
    s: int,
    thr: float,
    qty: Float64Array1D,
    pending: BoolArray1D,
    key_at: Float64Array1D,
    ordk: Float64Array2D,
    ordi: Int64Array2D,
    length: Int64Array1D,
    ptr: Int64Array1D,
    hk: Float64Array2D,
    hi: Int64Array2D,
    hsize: Int64Array1D,
    found: Int64Array1D,
    n_found: int,
) -> int:
    # Append side s's accounts crossed at threshold ``thr`` (key >= thr) to ``found``: the
    # sorted list's prefix past the pointer, then the heap's top entries.  Stale entries (the
    # account's key changed since it was filed, or it is flat or pending) are dropped.
    p = ptr[s]
    while p < length[s] and ordk[s, p] >= thr:
        i = ordi[s, p]
        if qty[i] > 0.0 and not pending[i] and key_at[i] == ordk[s, p]:
            found[n_found] = i
            n_found += 1
            pending[i] = True
        p += 1
    ptr[s] = p
    while hsize[s] > 0 and hk[s, 0] >= thr:
        key = hk[s, 0]
        i = hi[s, 0]
        hsize[s] = _heap_pop(hk[s], hi[s], hsize[s])
        if qty[i] > 0.0 and not pending[i] and key_at[i] == key:
            found[n_found] = i
            n_found += 1
            pending[i] = True
    return n_found


@jitable
def _refile(
    i: int,
    side: Float64Array1D,
    key_at: Float64Array1D,
    hk: Float64Array2D,
    hi: Int64Array2D,
    hsize: Int64Array1D,
    qty: Float64Array1D,
    pending: BoolArray1D,
    ordk: Float64Array2D,
    ordi: Int64Array2D,
    length: Int64Array1D,
    ptr: Int64Array1D,
) -> None:
    # File account i under its new key in its side's heap; a full heap is compacted by sorting
    # the side again (stale entries dropped).
    s = 0 if side[i] > 0.0 else 1
    if hsize[s] >= hk.shape[1]:
        _rebuild(s, side, qty, pending, key_at, ordk, ordi, length, ptr, hsize)
        return
    hsize[s] = _heap_push(hk[s], hi[s], hsize[s], key_at[i], i)


@jitable
def _record_event(
    out: Float64Array2D,
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
    # Write one event row; False when the table is full (the caller counts the overflow).
    if row >= out.shape[0]:
        return False
    out[row, EV_STEP] = t
    out[row, EV_ACCOUNT] = account
    out[row, EV_QTY] = qty
    out[row, EV_PRICE] = price
    out[row, EV_BANKRUPTCY] = bankruptcy
    out[row, EV_FUND_DELTA] = fund_delta
    out[row, EV_KIND] = kind
    out[row, EV_COUNTERPARTY] = counterparty
    return True


@jitable
def _reprice(
    i: int,
    naive: bool,
    side: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    margin: Float64Array1D,
    lp: Float64Array1D,
    key_at: Float64Array1D,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    hk: Float64Array2D,
    hi: Int64Array2D,
    hsize: Int64Array1D,
    pending: BoolArray1D,
    ordk: Float64Array2D,
    ordi: Int64Array2D,
    length: Int64Array1D,
    ptr: Int64Array1D,
) -> None:
    # After account i's position or margin changed: solve its liquidation price again and file it
    # under the new key (a flat account is never crossed).
    if qty[i] > 0.0:
        lp[i] = _lp(side[i], qty[i], entry[i], margin[i], caps, mmrs, cums)
        key_at[i] = _key(side[i], lp[i])
        if not naive:
            _refile(i, side, key_at, hk, hi, hsize, qty, pending, ordk, ordi, length, ptr)
    else:
        key_at[i] = -math.inf


@jitable
def _impact(flow: float, price: float, depth: float, kind: int, coef: float, sigma_daily: float) -> float:
    # Log price change caused by a net liquidation flow ``flow`` (signed base units: > 0 sells).
    notional = flow * price
    if notional == 0.0 or not depth > 0.0:
        return 0.0
    if kind == IMPACT_LINEAR:
        # depth = quote notional per basis point of price move.
        return -notional / depth * 1e-4
    # Square-root law: |dP/P| = coef * sigma_daily * sqrt(|X| / V_daily).
    move = coef * sigma_daily * math.sqrt(abs(notional) / depth)
    return -move if notional > 0.0 else move


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
def cascade_py(
    acc: Float64Array2D,
    tiers: Float64Array2D,
    exo: Float64Array1D,
    depth_mult: Float64Array1D,
    oracle: Float64Array2D,
    cfg: Float64Array1D,
    out_steps: Float64Array2D,
    out_events: Float64Array2D,
    out_acc: Float64Array2D,
    out_counts: Int64Array1D,
) -> None:
    """Simulate one price path of a venue with N leveraged accounts.

    Parameters
    ----------
    acc : (N, N_ACC) float64
        Side (+1/-1), size (base units, > 0), entry price, margin (isolated margin or the
        wallet of a one-position cross account), per account.
    tiers : (R, N_TIER) float64
        The venue's maintenance tiers (cap, rate, amount); scaled by the dynamic-margin factor.
    exo : (T + 1,) float64
        Exogenous (fundamental) price path; ``exo[0]`` is the starting price.
    depth_mult : (T + 1,) float64
        Multiplier of the book depth per step (1 normal, < 1 thinned under stress).
    oracle : (T + 1, S) float64
        Per step and oracle source, the multiplier of the traded price the source reports (1: an
        honest source; NaN: missing); the mark is the median over sources of the lagged price.
    cfg : (N_CFG,) float64
        Settings (``CFG_*``): initial insurance fund, liquidation fee rate, partial-liquidation
        fraction (or ``-1`` tier step-down, ``-2`` incremental restore) and the notional below
        which a position is closed whole, impact model, depth
        (linear: quote notional per bp; square-root: daily volume in quote), impact coefficient,
        daily volatility (square-root law), impact half-life (steps; resilience), liquidator
        latency (steps), ADL on/off, maximum rounds per step, mark lag (steps), naive detection,
        dynamic margin (on, base volatility, window and recalibration interval in steps, scale
        bounds), steps per year, the full-close outcome (takeover or book) and the backstop ratio.
    out_steps : (T + 1, N_STEP) float64
        Per step after the rounds: price, mark, exogenous price, liquidated notional (book),
        notional deleveraged by ADL, accounts liquidated, insurance fund, cumulative bad debt,
        accumulated impact (log), dynamic-margin scale, rounds run.
    out_events : (cap, N_EV) float64
        Liquidations and ADL closes: step, account, qty, price, bankruptcy price, fund change,
        kind, counterparty (ADL) or -1.  Rows beyond ``cap`` are counted, not written.
    out_acc : (N, N_OUT_ACC) float64
        Final size, margin, realised PnL (fees included; -margin when wiped out) and whether
        the account was liquidated (1) or deleveraged (2).
    out_counts : (N_COUNTS,) int64
        Events written, events not written (overflow), accounts liquidated, ADL events.

    Notes
    -----
    Step ``t``: ``P = exo[t] * exp(I)`` with the impact ``I`` decayed by ``0.5^(1/half_life)``
    (resilience); mark ``M = median_s(P[t - lag] * oracle[t, s])``.  Rounds: accounts whose
    liquidation price is crossed by ``M`` (longs ``LP >= M``, shorts ``LP <= M``) are
    triggered and executed ``latency`` steps later; the round's orders (a fraction ``partial``
    of the position, or with ``partial < 0`` what takes the notional down to the next lower
    maintenance tier's cap (tier step-down); the whole position below ``partial_min`` notional,
    in the first tier, or when the margin is exhausted) net into one flow whose impact is
    linear in notional (``-X / depth`` bp) or the square-root law ``Y sigma_d sqrt(|X| / V)``
    (Almgren et al. 2005; Tóth et al. 2011), with the depth scaled by ``depth_mult[t]``; every
    order fills at the average of the walk, ``P exp(dI / 2)``, and the price moves by ``dI``.
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
    Incremental liquidation (``partial = -2``) sizes each order to restore the maintenance
    margin at the current price (:func:`~levguard.kernels.liquidation.restore_fraction`).
    When a close would take the fund below 0 and ADL is on, the position is instead closed
    against the opposite side's most profitable, most leveraged positions (BitMEX ranking
    :func:`adl_score`) at its bankruptcy price, off the book; without ADL (or without
    counterparties) the fund's shortfall is bad debt and the fund is floored at 0.  Dynamic
    margin: every ``every`` steps the maintenance tiers are scaled by ``clip(realised vol over
    window / base vol, min, max)`` and every liquidation price is solved again.

    Money is conserved: for every event, the account's and the fund's changes sum to the value
    traded against the book or the ADL counterparty (tested from the outputs).
    """
    n = acc.shape[0]
    n_t = exo.shape[0]
    fund = cfg[CFG_FUND]
    liq_fee = cfg[CFG_LIQ_FEE]
    partial = cfg[CFG_PARTIAL]
    partial_min = cfg[CFG_PARTIAL_MIN]
    kind_impact = int(cfg[CFG_IMPACT_KIND])
    depth = cfg[CFG_DEPTH]
    coef = cfg[CFG_IMPACT_COEF]
    sigma_d = cfg[CFG_SIGMA_DAILY]
    half_life = cfg[CFG_HALF_LIFE]
    decay = 0.5 ** (1.0 / half_life) if half_life > 0.0 else 0.0
    latency = int(cfg[CFG_LATENCY])
    adl_on = cfg[CFG_ADL] > 0.0
    max_rounds = int(cfg[CFG_MAX_ROUNDS])
    lag = int(cfg[CFG_MARK_LAG])
    naive = cfg[CFG_NAIVE] > 0.0
    dyn_on = cfg[CFG_DYN_ON] > 0.0
    dyn_base = cfg[CFG_DYN_BASE_VOL]
    dyn_window = int(cfg[CFG_DYN_WINDOW])
    dyn_every = int(cfg[CFG_DYN_EVERY])
    dyn_min = cfg[CFG_DYN_MIN]
    dyn_max = cfg[CFG_DYN_MAX]
    steps_per_year = cfg[CFG_STEPS_PER_YEAR]
    outcome = int(cfg[CFG_OUTCOME])
    backstop = cfg[CFG_BACKSTOP]

    caps = tiers[:, TIER_CAP].copy()
    base_mmrs = tiers[:, TIER_MMR].copy()
    base_cums = tiers[:, TIER_CUM].copy()
    mmrs = base_mmrs.copy()
    cums = base_cums.copy()
    scale = 1.0

    side = acc[:, ACC_SIDE].copy()
    qty = acc[:, ACC_QTY].copy()
    entry = acc[:, ACC_ENTRY].copy()
    margin = acc[:, ACC_MARGIN].copy()
    pnl = np.zeros(n)
    status = np.zeros(n)
    lp = np.empty(n)
    key_at = np.empty(n)  # the key under which each account is filed (sorted list or heap)
    pending = np.zeros(n, dtype=np.bool_)
    adl_dry = np.zeros(n, dtype=np.bool_)  # ADL found no counterparty for it: use the book
    # Sorted sweep state per side (0 longs, 1 shorts) and a heap per side for re-filed accounts.
    ordk = np.empty((2, n))
    ordi = np.empty((2, n), dtype=np.int64)
    length = np.zeros(2, dtype=np.int64)
    ptr = np.zeros(2, dtype=np.int64)
    h_cap = 2 * n + 16
    hk = np.empty((2, h_cap))
    hi = np.empty((2, h_cap), dtype=np.int64)
    hsize = np.zeros(2, dtype=np.int64)
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
    oracle_scratch = np.empty(oracle.shape[1])
    adl_order = np.empty(n, dtype=np.int64)
    adl_scores = np.empty(n)
    rank_ids = np.empty((2, n), dtype=np.int64)
    rank_len = np.zeros(2, dtype=np.int64)
    rank_pos = np.zeros(2, dtype=np.int64)
    rank_step = np.full(2, -1, dtype=np.int64)
    n_events = 0
    overflow = 0
    n_accounts_liq = 0
    n_adl = 0
    bad_debt = 0.0
    impact = 0.0

    for i in range(n):
        lp[i] = _lp(side[i], qty[i], entry[i], margin[i], caps, mmrs, cums)
        key_at[i] = _key(side[i], lp[i]) if qty[i] > 0.0 else -math.inf
    if not naive:
        for sd in range(2):
            _rebuild(sd, side, qty, pending, key_at, ordk, ordi, length, ptr, hsize)

    price_hist = out_steps[:, STEP_PRICE]
    for t in range(n_t):
        # 1. Exogenous move and resilience.
        impact *= decay
        price = exo[t] * math.exp(impact)
        price_hist[t] = price
        liq_notional = 0.0
        adl_notional = 0.0
        n_liq_step = 0
        rounds = 0
        # Dynamic margin: rescale the tiers and re-solve every liquidation price.
        if dyn_on and dyn_every > 0 and t > 0 and t % dyn_every == 0:
            lo = max(1, t - dyn_window + 1)
            m_k = 0
            s1 = 0.0
            s2 = 0.0
            for u in range(lo, t + 1):
                r = math.log(price_hist[u] / price_hist[u - 1])
                s1 += r
                s2 += r * r
                m_k += 1
            if m_k > 1:
                var = (s2 - s1 * s1 / m_k) / (m_k - 1)
                vol = math.sqrt(max(var, 0.0) * steps_per_year)
                scale = min(max(vol / dyn_base, dyn_min), dyn_max)
                for j in range(mmrs.shape[0]):
                    mmrs[j] = base_mmrs[j] * scale
                    cums[j] = base_cums[j] * scale
                for i in range(n):
                    if qty[i] > 0.0:
                        lp[i] = _lp(side[i], qty[i], entry[i], margin[i], caps, mmrs, cums)
                        key_at[i] = _key(side[i], lp[i])
                if not naive:
                    for sd in range(2):
                        _rebuild(sd, side, qty, pending, key_at, ordk, ordi, length, ptr, hsize)
        # 2. Rounds to a fixed point.
        mark = price
        while rounds < max_rounds:
            src = t - lag if t - lag >= 0 else 0
            mark = _median_mark(price_hist[src] if src < t else price, oracle[t], oracle_scratch)
            # Newly crossed accounts, in account order (the same set and order in both modes).
            n_found = 0
            if naive:
                for i in range(n):
                    if qty[i] > 0.0 and not pending[i]:
                        li = lp[i]
                        if (side[i] > 0.0 and li >= mark) or (side[i] < 0.0 and li <= mark):
                            found[n_found] = i
                            n_found += 1
                            pending[i] = True
            else:
                n_found = _detect(0, mark, qty, pending, key_at, ordk, ordi, length, ptr, hk, hi, hsize, found, 0)
                n_found = _detect(
                    1, -mark, qty, pending, key_at, ordk, ordi, length, ptr, hk, hi, hsize, found, n_found
                )
                if n_found > 1:
                    found[:n_found] = np.sort(found[:n_found])
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
            # Sizes: partial slices above the minimum notional, else the whole position.
            for j in range(k):
                i = round_ids[j]
                c = qty[i]
                full = True
                notional = qty[i] * price
                if partial == PARTIAL_RESTORE_CODE:
                    # Incremental: just enough to restore equity >= MM at the current price.
                    eq_i = margin[i] + side[i] * qty[i] * (price - entry[i])
                    mm_i = tiered_mm(notional, caps, mmrs, cums)
                    mmr_i = mmrs[tier_index(notional, caps)]
                    x = kl.restore_fraction(eq_i, mm_i, notional, mmr_i, liq_fee)
                    if x < 1.0:
                        c = qty[i] * x
                        full = False
                elif partial < 0.0 and notional > partial_min:
                    # Tier step-down: close down to the cap of the next lower maintenance tier.
                    c = kl.step_down_qty(qty[i], price, False, caps, 1, -1)
                    full = c >= qty[i]
                elif notional > partial_min:
                    c = kl.slice_qty(qty[i], notional, partial, partial_min)
                    full = c >= qty[i]
                round_c[j] = c
                round_full[j] = full
                round_adl[j] = False
            # Route: orders that would take the fund below 0 go to ADL (when on).
            flow = 0.0
            for j in range(k):
                flow += side[round_ids[j]] * round_c[j]
            d_log = _impact(flow, price, depth * depth_mult[t], kind_impact, coef, sigma_d)
            fill = price * math.exp(0.5 * d_log)
            if adl_on:
                f_est = fund
                for j in range(k):
                    i = round_ids[j]
                    if round_full[j] and not adl_dry[i]:
                        bp = bankruptcy_price(side[i], qty[i], entry[i], margin[i])
                        delta = side[i] * qty[i] * (fill - bp)  # the fund's change of a takeover
                        if f_est + delta < 0.0:
                            round_adl[j] = True
                        else:
                            f_est += delta
                flow = 0.0
                for j in range(k):
                    if not round_adl[j]:
                        flow += side[round_ids[j]] * round_c[j]
                d_log = _impact(flow, price, depth * depth_mult[t], kind_impact, coef, sigma_d)
                fill = price * math.exp(0.5 * d_log)
            # Settle.
            for j in range(k):
                i = round_ids[j]
                c = round_c[j]
                pending[i] = False
                if round_adl[j]:
                    continue
                if not c <= 0.0:  # something to close (otherwise only reprice the account)
                    realised = side[i] * c * (fill - entry[i])
                    left, fee = kl.settle_partial(margin[i], realised, c * fill, liq_fee)
                    if not round_full[j]:
                        whole_equity = margin[i] + side[i] * qty[i] * (fill - entry[i])
                        if not left > 0.0 or (
                            backstop > 0.0 and whole_equity < backstop * tiered_mm(qty[i] * fill, caps, mmrs, cums)
                        ):
                            round_full[j] = True
                            c = qty[i]
                            round_c[j] = c
                            realised = side[i] * c * (fill - entry[i])
                    bp = bankruptcy_price(side[i], qty[i], entry[i], margin[i])
                    if round_full[j]:
                        kept, _fee, delta, _taken = kl.settle_close(
                            outcome,
                            margin[i],
                            realised,
                            c * fill,
                            liq_fee,
                            tiered_mm(c * fill, caps, mmrs, cums),
                            backstop,
                        )
                        pnl[i] += kept - margin[i]
                        fund += delta
                        qty[i] = 0.0
                        margin[i] = 0.0
                    else:
                        delta = fee
                        pnl[i] += realised - fee
                        margin[i] = left
                        qty[i] -= c
                        fund += fee
                    if status[i] == 0.0:
                        n_accounts_liq += 1
                    status[i] = 1.0
                    liq_notional += c * fill
                    n_liq_step += 1
                    if _record_event(out_events, n_events, t, i, side[i] * c, fill, bp, delta, KIND_LIQUIDATION, -1):
                        n_events += 1
                    else:
                        overflow += 1
                _reprice(
                    i,
                    naive,
                    side,
                    qty,
                    entry,
                    margin,
                    lp,
                    key_at,
                    caps,
                    mmrs,
                    cums,
                    hk,
                    hi,
                    hsize,
                    pending,
                    ordk,
                    ordi,
                    length,
                    ptr,
                )
            # ADL-routed orders: close against the opposite side's ranking at the bankruptcy price.
            for j in range(k):
                if not round_adl[j]:
                    continue
                i = round_ids[j]
                bp = bankruptcy_price(side[i], qty[i], entry[i], margin[i])
                left = qty[i]
                # Counterparties: the opposite side's open positions ranked by BitMEX's score at
                # the mark, built once per step and side and consumed front first.
                o = 1 if side[i] > 0.0 else 0
                if rank_step[o] != t:
                    want = 1.0 if o == 0 else -1.0
                    m_c = 0
                    for u in range(n):
                        if side[u] == want and qty[u] > 0.0:
                            adl_order[m_c] = u
                            adl_scores[m_c] = -adl_score(
                                side[u], qty[u], entry[u], mark, bankruptcy_price(side[u], qty[u], entry[u], margin[u])
                            )
                            m_c += 1
                    idx = np.argsort(adl_scores[:m_c], kind="mergesort")
                    rank_ids[o, :m_c] = adl_order[:m_c][idx]
                    rank_len[o] = m_c
                    rank_pos[o] = 0
                    rank_step[o] = t
                while left > 0.0 and rank_pos[o] < rank_len[o]:
                    u = rank_ids[o, rank_pos[o]]
                    if qty[u] <= 0.0 or pending[u]:
                        rank_pos[o] += 1
                        continue
                    take = min(qty[u], left)
                    if take >= qty[u]:
                        rank_pos[o] += 1
                    gain = side[u] * take * (bp - entry[u])
                    pnl[u] += gain
                    margin[u] += gain
                    qty[u] -= take
                    left -= take
                    if status[u] == 0.0:
                        status[u] = 2.0
                    adl_notional += take * bp
                    n_adl += 1
                    if _record_event(out_events, n_events, t, u, side[u] * take, bp, bp, 0.0, KIND_ADL_VICTIM, i):
                        n_events += 1
                    else:
                        overflow += 1
                    _reprice(
                        u,
                        naive,
                        side,
                        qty,
                        entry,
                        margin,
                        lp,
                        key_at,
                        caps,
                        mmrs,
                        cums,
                        hk,
                        hi,
                        hsize,
                        pending,
                        ordk,
                        ordi,
                        length,
                        ptr,
                    )
                closed = qty[i] - left
                if closed > 0.0:
                    # The bankrupt part leaves the account at its bankruptcy price: margin gone.
                    share = closed / qty[i]
                    lost = margin[i] * share
                    pnl[i] -= lost
                    margin[i] -= lost
                    qty[i] = left
                    if status[i] == 0.0:
                        n_accounts_liq += 1
                    status[i] = 1.0
                    n_liq_step += 1
                    if _record_event(
                        out_events, n_events, t, i, side[i] * closed, bp, bp, 0.0, KIND_ADL_LIQUIDATED, -1
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
            # Impact of the book flow.
            impact += d_log
            price = price * math.exp(d_log)
            price_hist[t] = price
            if fund < 0.0:
                bad_debt += -fund
                fund = 0.0
        src = t - lag if t - lag >= 0 else 0
        mark = _median_mark(price_hist[src] if src < t else price, oracle[t], oracle_scratch)
        out_steps[t, STEP_PRICE] = price
        out_steps[t, STEP_MARK] = mark
        out_steps[t, STEP_EXO] = exo[t]
        out_steps[t, STEP_LIQ_NOTIONAL] = liq_notional
        out_steps[t, STEP_ADL_NOTIONAL] = adl_notional
        out_steps[t, STEP_N_LIQ] = n_liq_step
        out_steps[t, STEP_FUND] = fund
        out_steps[t, STEP_BAD_DEBT] = bad_debt
        out_steps[t, STEP_IMPACT] = impact
        out_steps[t, STEP_MM_SCALE] = scale
        out_steps[t, STEP_ROUNDS] = rounds
    for i in range(n):
        out_acc[i, OUT_QTY] = qty[i]
        out_acc[i, OUT_MARGIN] = margin[i]
        out_acc[i, OUT_PNL] = pnl[i]
        out_acc[i, OUT_LIQUIDATED] = status[i]
    out_counts[COUNT_EVENTS] = n_events
    out_counts[COUNT_OVERFLOW] = overflow
    out_counts[COUNT_ACCOUNTS_LIQUIDATED] = n_accounts_liq
    out_counts[COUNT_ADL_EVENTS] = n_adl


cascade_nb = jit(cascade_py)


@jitable
def summarize(steps: Float64Array2D, counts: Int64Array1D, fund0: float, out: Float64Array1D) -> None:
    """Write one path's summary (``SUM_*``) from its per-step table and counts."""
    n_t = steps.shape[0]
    liq = 0.0
    adl = 0.0
    fund_min = fund0
    p_min = math.inf
    x_min = math.inf
    p_max = -math.inf
    x_max = -math.inf
    for t in range(n_t):
        liq += steps[t, STEP_LIQ_NOTIONAL]
        adl += steps[t, STEP_ADL_NOTIONAL]
        fund_min = min(fund_min, steps[t, STEP_FUND])
        p_min = min(p_min, steps[t, STEP_PRICE])
        x_min = min(x_min, steps[t, STEP_EXO])
        p_max = max(p_max, steps[t, STEP_PRICE])
        x_max = max(x_max, steps[t, STEP_EXO])
    out[SUM_BAD_DEBT] = steps[n_t - 1, STEP_BAD_DEBT]
    out[SUM_LIQ_NOTIONAL] = liq
    out[SUM_ADL_NOTIONAL] = adl
    out[SUM_N_LIQUIDATED] = counts[COUNT_ACCOUNTS_LIQUIDATED]
    out[SUM_FUND_END] = steps[n_t - 1, STEP_FUND]
    out[SUM_FUND_MIN] = fund_min
    out[SUM_MIN_PRICE] = p_min
    out[SUM_MIN_EXO] = x_min
    out[SUM_MAX_PRICE] = p_max
    out[SUM_MAX_EXO] = x_max
    # Overshoot: the extra fall (or rise) the cascade adds beyond the exogenous path's extreme.
    down = x_min / p_min - 1.0 if p_min > 0.0 else math.inf
    up = p_max / x_max - 1.0 if x_max > 0.0 else 0.0
    out[SUM_OVERSHOOT] = max(down, up)
    out[SUM_ADL_EVENTS] = counts[COUNT_ADL_EVENTS]


def cascade_many_py(
    acc: Float64Array2D,
    tiers: Float64Array2D,
    exo: Float64Array2D,
    depth_mult: Float64Array1D,
    oracle: Float64Array2D,
    cfg: Float64Array1D,
    out_summary: Float64Array2D,
) -> None:
    """Run :func:`cascade_py` on every row of ``exo`` (P, T + 1) in parallel (``prange`` over
    paths); write each path's summary into ``out_summary`` (P, N_SUM).  Events are not kept
    (capacity 0: counted only), so memory is O(N + T) per thread."""
    n_paths = exo.shape[0]
    n_t = exo.shape[1]
    n = acc.shape[0]
    for p in prange(n_paths):
        steps = np.empty((n_t, N_STEP))
        events = np.empty((0, N_EV))
        out_acc = np.empty((n, N_OUT_ACC))
        counts = np.zeros(N_COUNTS, dtype=np.int64)
        cascade_py(acc, tiers, exo[p], depth_mult, oracle, cfg, steps, events, out_acc, counts)
        summarize(steps, counts, cfg[CFG_FUND], out_summary[p])


cascade_many_nb = jit_parallel(cascade_many_py)
