"""Event-driven backtest kernel: K instruments sharing one account, bar by bar, with venue-exact
liquidation; and the sweep kernel that runs many configurations in parallel.

Written once in plain Python (:func:`simulate_py`, :func:`sweep_py`) and compiled by numba
(:data:`simulate_nb`, :data:`sweep_nb`).  The pandas-facing wrappers are
:func:`levguard.backtest.engine.run` and :func:`levguard.backtest.sweeps.sweep`.

Inputs are packed into arrays whose columns are named by the constants below:

* ``mkt`` (N_MKT, T, K): last-price OHLCV, mark-price OHLC and the funding rate per bar and
  instrument (``MKT_*``);
* ``inst`` (K, N_INST): per-instrument settings (``INST_*``): contract kind, capital weight, fee
  rates, maintenance conventions, the rows of the instrument's tiers in ``tiers``, the venue's
  minimum order notional and its liquidation rule (:mod:`levguard.kernels.liquidation`,
  ``N_RULE`` columns from ``INST_RULE``);
* ``tiers`` (R, N_TIER): tier rows of every instrument (``TIER_*``: cap, maintenance rate,
  maintenance amount, maximum leverage);
* ``cfg`` (N_CFG,): account-wide settings (``CFG_*``): initial equity, margin mode, slippage,
  rebalancing, stops, execution, the initial-margin check and the path-dependent leverage caps.

Failure is a value: the kernel never raises; NaN inputs are skipped as documented.
"""

from __future__ import annotations

import math

import numpy as np

from levguard._typing import Float64Array1D, Float64Array2D, Int64Array1D
from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jit, jit_parallel, jitable, prange
from levguard.kernels.margin import position_notional, position_upnl, solve_liquidation_price, tier_index, tiered_mm
from levguard.kernels.sizing import drawdown_scale, rebalance_step

# ``mkt`` fields (first axis).
MKT_OPEN = 0
MKT_HIGH = 1
MKT_LOW = 2
MKT_CLOSE = 3
MKT_VOLUME = 4
MKT_MARK_OPEN = 5
MKT_MARK_HIGH = 6
MKT_MARK_LOW = 7
MKT_MARK_CLOSE = 8
MKT_FUNDING = 9
N_MKT = 10

# Contract kinds (``inst[k, INST_KIND]``).
LINEAR = 0
INVERSE = 1
SPOT = 2

# ``inst`` columns.
INST_KIND = 0
INST_WEIGHT = 1
INST_TAKER = 2
INST_MAKER = 3
INST_LIQ_FEE = 4
INST_FEE_IN_MM = 5
INST_MM_AT_ENTRY = 6
INST_TIER_START = 7
INST_TIER_STOP = 8
INST_MIN_NOTIONAL = 9  # the venue's minimum order notional, quote currency (0: none known)
INST_RULE = 10  # first of the N_RULE columns of the liquidation rule (kernels.liquidation.RULE_*)
N_INST = INST_RULE + kl.N_RULE

# ``tiers`` columns.
TIER_CAP = 0
TIER_MMR = 1
TIER_CUM = 2
TIER_MAX_LEV = 3
N_TIER = 4

# ``cfg`` entries.
CFG_INITIAL_EQUITY = 0
CFG_MARGIN_MODE = 1
CFG_SLIP_BPS = 2
CFG_IMPACT = 3
CFG_REBALANCE = 4
CFG_BAND = 5
CFG_MIN_TRADE = 6
CFG_MAX_STEP = 7
CFG_STOP_LOSS = 8
CFG_TAKE_PROFIT = 9
CFG_LIQUIDATION_FIRST = 10
CFG_COOLDOWN = 11
CFG_EXECUTION = 12
CFG_LIMIT_OFFSET = 13
CFG_CHECK_IM = 14
CFG_DD_MAX = 15
CFG_DD_BASE = 16
CFG_DD_POWER = 17
CFG_CPPI_FLOOR = 18
CFG_CPPI_MULT = 19
CFG_CPPI_RATCHET = 20
CFG_CPPI_MAX = 21
CFG_CPPI_REF = 22
N_CFG = 23

# Account output columns (``out_acct`` has shape (T, N_ACCT)).
ACCT_EQUITY = 0
ACCT_CASH = 1
ACCT_LEVERAGE = 2
ACCT_FUNDING = 3
ACCT_FEES = 4
N_ACCT = 5

# Per-instrument output columns (``out_inst`` has shape (T, K, N_POS)).
POS_QTY = 0
POS_ENTRY = 1
POS_LEVERAGE = 2
POS_LIQ_PRICE = 3
POS_TARGET = 4
POS_EQUITY = 5
N_POS = 6

# Trade columns (``out_trades`` has :func:`trade_capacity` rows): at most one order at the open
# and one intrabar exit (stop-loss or take-profit) per bar and instrument, and the closes at ruin.
TRADE_BAR = 0
TRADE_INST = 1
TRADE_QTY = 2
TRADE_PRICE = 3
TRADE_FEE = 4
TRADE_KIND = 5
N_TRADE_COLS = 6

# Trade kinds.
KIND_REBALANCE = 0
KIND_STOP_LOSS = 1
KIND_TAKE_PROFIT = 2
KIND_LIMIT = 3
KIND_RUIN = 4  # the positions left when the account is ruined, closed at the bar's last close

# Liquidation columns (``out_liqs`` has :func:`liq_capacity` rows); ``LIQ_QTY`` is the signed
# size liquidated (its sign is the side).  ``LIQ_FEE`` is what the venue took from the trader's
# remaining equity (the liquidation fee, or a takeover's clearance), ``LIQ_BAD_DEBT`` what the
# insurance fund paid, ``LIQ_MARGIN`` the margin behind the position before the event and
# ``LIQ_KEPT`` the margin left to the trader after it (NaN for collateral sold to cover debt).
LIQ_BAR = 0
LIQ_INST = 1
LIQ_QTY = 2
LIQ_PRICE = 3
LIQ_LOSS = 4
LIQ_FEE = 5
LIQ_BAD_DEBT = 6
LIQ_MARGIN = 7
LIQ_KEPT = 8
LIQ_PARTIAL = 9  # 1: part of the position stays open
LIQ_TAKEN = 10  # 1: taken over at the bankruptcy price (takeover rule or backstop)
N_LIQ_COLS = 11

# ``out_counts`` entries.
COUNT_TRADES = 0
COUNT_LIQS = 1
COUNT_CLIPPED = 2
COUNT_UNFILLED = 3
COUNT_RUIN = 4  # bar at whose close the account was ruined, -1 if never
DUST_FRACTION = 1e-6  # an equity below this share of the initial equity is ruin, whatever the venue
N_COUNTS = 5

# Points of an incremental (restore) liquidation's walk along a bar's adverse path.
N_RESTORE_GRID = 33

# Rebalancing modes.
REBALANCE_BAND = 0
REBALANCE_NEVER = 1

# Margin modes.
ISOLATED = 0
CROSS = 1

# Execution of the orders decided at a close.
MARKET = 0
LIMIT = 1

# Sweep statistics (``out_stats`` has shape (C, N_STATS)).
STAT_TOTAL_RETURN = 0
STAT_CAGR = 1
STAT_VOLATILITY = 2
STAT_SHARPE = 3
STAT_SORTINO = 4
STAT_MAX_DRAWDOWN = 5
STAT_CALMAR = 6
STAT_TIME_UNDER_WATER = 7
STAT_N_LIQUIDATIONS = 8
STAT_FEES = 9
STAT_FUNDING = 10
STAT_TURNOVER = 11
STAT_AVG_LEVERAGE = 12
STAT_MAX_LEVERAGE = 13
STAT_WORST_BAR = 14
STAT_FINAL_EQUITY = 15
STAT_BAD_DEBT = 16
STAT_CLIPPED = 17
STAT_RUIN_BAR = 18  # -1 if never ruined
N_STATS = 19


@jitable
def trade_capacity(n_bars: int, n_inst: int) -> int:
    """Rows ``out_trades`` needs: two per bar and instrument plus the closes at ruin."""
    return 2 * n_bars * n_inst + n_inst


@jitable
def liq_capacity(n_bars: int, n_inst: int) -> int:
    """Rows ``out_liqs`` needs: a partial and a full liquidation per bar and instrument."""
    return 2 * n_bars * n_inst + n_inst


@jitable
def slippage_fraction(trade_qty: float, volume: float, slip_bps: float, impact_coef: float) -> float:
    """Return the slippage fraction ``slip_bps / 1e4 + impact_coef * sqrt(|trade_qty| / volume)``.

    The impact term is dropped when ``volume`` is not positive or not finite (no information).
    """
    frac = slip_bps * 1e-4
    if impact_coef > 0.0 and volume > 0.0 and math.isfinite(volume):
        frac += impact_coef * math.sqrt(abs(trade_qty) / volume)
    return frac


@jitable
def maintenance(
    qty: float,
    entry: float,
    px: float,
    inverse: bool,
    mm_at_entry: bool,
    fee_in_mm: float,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
) -> float:
    """Return the maintenance requirement of one position at price ``px`` (0 when flat).

    Tiered maintenance margin of the notional at ``px`` (or at ``entry`` with ``mm_at_entry``)
    plus ``fee_in_mm`` times the notional at ``px``, in the settlement currency.
    """
    if qty == 0.0:
        return 0.0
    basis = entry if mm_at_entry else px
    return tiered_mm(position_notional(qty, basis, inverse), caps, mmrs, cums) + fee_in_mm * position_notional(
        qty, px, inverse
    )


@jitable
def liquidation_price(
    qty: float,
    entry_price: float,
    collateral: float,
    inverse: bool,
    fee_in_mm: float,
    mm_at_entry: bool,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    zero_caps: Float64Array1D,
    zero: Float64Array1D,
) -> float:
    """Return the venue liquidation price of one position (NaN when flat or none).

    With ``mm_at_entry`` the maintenance margin is fixed at the entry notional (Bybit, BitMEX)
    and passed as the constant term of :func:`~levguard.kernels.margin.solve_liquidation_price`
    with one zero tier; otherwise the tiers are re-selected at the liquidation price.
    ``collateral`` is the isolated margin, or the cross wallet plus the other positions'
    unrealised PnL minus their maintenance margin.
    """
    if qty == 0.0 or not collateral > 0.0:
        return math.nan
    if mm_at_entry:
        k_const = tiered_mm(position_notional(qty, entry_price, inverse), caps, mmrs, cums)
        return solve_liquidation_price(qty, entry_price, collateral, k_const, fee_in_mm, inverse, zero_caps, zero, zero)
    return solve_liquidation_price(qty, entry_price, collateral, 0.0, fee_in_mm, inverse, caps, mmrs, cums)


@jitable
def max_notional_for_margin(available: float, caps: Float64Array1D, max_levs: Float64Array1D) -> float:
    """Return the largest notional whose initial margin ``notional / max_leverage(tier)`` fits.

    The tier of a notional ``n`` is the first with ``n <= cap``; its initial margin is
    ``n / max_lev``.  Scanning the tiers gives the largest feasible ``n`` exactly (0 when
    ``available`` is not positive).
    """
    if not available > 0.0:
        return 0.0
    best = 0.0
    lo = 0.0
    for i in range(caps.shape[0]):
        ml = max_levs[i]
        n_i = caps[i]
        if ml > 0.0 and math.isfinite(ml):
            n_i = min(caps[i], available * ml)
        if n_i >= lo and n_i > best:
            best = n_i
        lo = caps[i]
    return best


@jitable
def initial_margin(notional: float, caps: Float64Array1D, max_levs: Float64Array1D) -> float:
    """Return ``notional / max_leverage`` of the notional's tier (0 for a non-positive notional)."""
    if not notional > 0.0:
        return 0.0
    n_tiers = caps.shape[0]
    k = n_tiers - 1
    for j in range(n_tiers - 1, -1, -1):
        if notional <= caps[j]:
            k = j
    ml = float(max_levs[k])
    if ml > 0.0 and math.isfinite(ml):
        return notional / ml
    return 0.0


@jitable
def _fill(qty: float, entry: float, dq: float, px: float, inverse: bool) -> float:
    # Realised PnL of a fill of dq at px against a position qty held at average entry.
    if qty == 0.0 or qty * dq > 0.0:
        return 0.0
    closed = min(abs(dq), abs(qty))
    sign = 1.0 if qty > 0.0 else -1.0
    return position_upnl(sign * closed, entry, px, inverse)


@jitable
def _new_entry(qty: float, entry: float, dq: float, px: float, inverse: bool) -> float:
    # Average entry after the fill: weighted on increases (harmonically for inverse contracts,
    # whose PnL is linear in 1/price), kept on reductions, px on reversals.
    new_qty = qty + dq
    if new_qty == 0.0:
        return 0.0
    if qty == 0.0 or qty * new_qty < 0.0:
        return px
    if qty * dq > 0.0:
        if inverse:
            return new_qty / (qty / entry + dq / px)
        return (qty * entry + dq * px) / new_qty
    return entry


@jitable
def _record_trade(
    out_trades: Float64Array2D, row: int, t: int, k: int, dq: float, px: float, fee: float, kind: int
) -> None:
    out_trades[row, TRADE_BAR] = t
    out_trades[row, TRADE_INST] = k
    out_trades[row, TRADE_QTY] = dq
    out_trades[row, TRADE_PRICE] = px
    out_trades[row, TRADE_FEE] = fee
    out_trades[row, TRADE_KIND] = kind


@jitable
def _record_liq(
    out_liqs: Float64Array2D,
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
    partial: float,
    taken: float,
) -> None:
    # Sized by liq_capacity (at most a partial and a full liquidation per bar and instrument); a
    # row beyond it is dropped rather than written out of bounds.
    if row >= out_liqs.shape[0]:
        return
    out_liqs[row, LIQ_BAR] = t
    out_liqs[row, LIQ_INST] = k
    out_liqs[row, LIQ_QTY] = dq
    out_liqs[row, LIQ_PRICE] = px
    out_liqs[row, LIQ_LOSS] = loss
    out_liqs[row, LIQ_FEE] = fee
    out_liqs[row, LIQ_BAD_DEBT] = bad_debt
    out_liqs[row, LIQ_MARGIN] = margin
    out_liqs[row, LIQ_KEPT] = kept
    out_liqs[row, LIQ_PARTIAL] = partial
    out_liqs[row, LIQ_TAKEN] = taken


@jitable
def _book_liquidation(
    t: int,
    k: int,
    qty: float,
    entry: float,
    px: float,
    inverse: bool,
    liquidation_fee_rate: float,
    out_liqs: Float64Array2D,
    row: int,
) -> tuple[float, float]:
    """Sell collateral ``qty`` at ``px`` with the liquidation fee (a cross account's spot leg
    covering a negative balance) and record it in ``out_liqs[row]``.

    Returns the wallet change (realised PnL minus fee) and the fee.
    """
    realised = position_upnl(qty, entry, px, inverse)
    fee = liquidation_fee_rate * position_notional(qty, px, inverse)
    _record_liq(out_liqs, row, t, k, qty, px, -realised, fee, 0.0, math.nan, math.nan, 0.0, 0.0)
    return realised - fee, fee


@jitable
def _collateral(
    k: int,
    n_inst: int,
    cross: bool,
    cash: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    ref_px: Float64Array1D,
    inst: Float64Array2D,
    tiers: Float64Array2D,
) -> float:
    # Collateral backing instrument k: its isolated wallet, or the cross wallet plus the other
    # positions' unrealised PnL minus their maintenance requirement at their reference prices.
    if not cross:
        return float(cash[k])
    c = float(cash[0])
    for j in range(n_inst):
        if j == k or qty[j] == 0.0:
            continue
        kind = int(inst[j, INST_KIND])
        inv = kind == INVERSE
        c += position_upnl(qty[j], entry[j], ref_px[j], inv)
        if kind != SPOT:
            a = int(inst[j, INST_TIER_START])
            b = int(inst[j, INST_TIER_STOP])
            c -= maintenance(
                qty[j],
                entry[j],
                ref_px[j],
                inv,
                inst[j, INST_MM_AT_ENTRY] > 0.0,
                inst[j, INST_FEE_IN_MM],
                tiers[a:b, TIER_CAP],
                tiers[a:b, TIER_MMR],
                tiers[a:b, TIER_CUM],
            )
    return c


@jitable
def _lp_of(
    k: int,
    n_inst: int,
    cross: bool,
    cash: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    ref_px: Float64Array1D,
    inst: Float64Array2D,
    tiers: Float64Array2D,
    zero_caps: Float64Array1D,
    zero: Float64Array1D,
) -> tuple[float, float]:
    # (liquidation price, collateral) of instrument k; NaN price for spot or flat.
    if qty[k] == 0.0 or int(inst[k, INST_KIND]) == SPOT:
        return math.nan, math.nan
    coll = _collateral(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers)
    a = int(inst[k, INST_TIER_START])
    b = int(inst[k, INST_TIER_STOP])
    lp = liquidation_price(
        qty[k],
        entry[k],
        coll,
        int(inst[k, INST_KIND]) == INVERSE,
        inst[k, INST_FEE_IN_MM],
        inst[k, INST_MM_AT_ENTRY] > 0.0,
        tiers[a:b, TIER_CAP],
        tiers[a:b, TIER_MMR],
        tiers[a:b, TIER_CUM],
        zero_caps,
        zero,
    )
    return lp, coll


@jitable
def _lp_memo(
    k: int,
    n_inst: int,
    cross: bool,
    cash: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    ref_px: Float64Array1D,
    inst: Float64Array2D,
    tiers: Float64Array2D,
    zero_caps: Float64Array1D,
    zero: Float64Array1D,
    memo: Float64Array2D,
) -> tuple[float, float]:
    # _lp_of with a memo: when instrument k's LP depends only on its own (qty, entry, wallet)
    # -- isolated margin, or a single instrument -- the same inputs give the same result, so the
    # solve is skipped while they are unchanged (most bars).  Exact: no tolerance involved.
    w = 0 if cross else k
    if cross and n_inst > 1:
        return _lp_of(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers, zero_caps, zero)
    if memo[k, 0] == qty[k] and memo[k, 1] == entry[k] and memo[k, 2] == cash[w]:
        return memo[k, 3], memo[k, 4]
    lp, coll = _lp_of(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers, zero_caps, zero)
    memo[k, 0] = qty[k]
    memo[k, 1] = entry[k]
    memo[k, 2] = cash[w]
    memo[k, 3] = lp
    memo[k, 4] = coll
    return lp, coll


@jitable
def _settle_bad_debt(
    t: int,
    w: int,
    n_inst: int,
    cross: bool,
    cash: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    ref_px: Float64Array1D,
    inst: Float64Array2D,
    out_liqs: Float64Array2D,
    n_liqs: int,
    last_row: int,
) -> tuple[int, float]:
    """Settle wallet ``w`` once it holds no perpetual position; return (rows written, fees).

    A negative balance is bad debt: the venue's insurance fund pays it and the wallet is set to
    0, the amount recorded on the wallet's last liquidation row.  In cross margin spot legs are
    collateral: when the balance plus their value is negative they are sold at ``ref_px`` (the
    venue liquidates the collateral, with the liquidation fee) before the shortfall is settled.
    """
    eq = cash[w]
    for j in range(n_inst):
        if (cross or j == w) and qty[j] != 0.0:
            if int(inst[j, INST_KIND]) != SPOT:
                return 0, 0.0
            eq += position_upnl(qty[j], entry[j], ref_px[j], False)
    if not eq < 0.0:
        return 0, 0.0
    written = 0
    fees = 0.0
    for j in range(n_inst):
        if (cross or j == w) and qty[j] != 0.0:
            dw, fee = _book_liquidation(
                t, j, qty[j], entry[j], ref_px[j], False, inst[j, INST_LIQ_FEE], out_liqs, n_liqs + written
            )
            cash[w] += dw
            fees += fee
            last_row = n_liqs + written
            written += 1
            qty[j] = 0.0
            entry[j] = 0.0
    if cash[w] < 0.0 and last_row >= 0:
        out_liqs[last_row, LIQ_BAD_DEBT] += -cash[w]
        cash[w] = 0.0
    return written, fees


@jitable
def _mm_terms(
    k: int, q: float, ent: float, px: float, inst: Float64Array2D, tiers: Float64Array2D
) -> tuple[float, float, float]:
    # (maintenance margin at px, marginal maintenance rate, price the tier is read at) of a
    # position of instrument k: tiers at the entry notional for venues valuing MM at entry.
    inverse = int(inst[k, INST_KIND]) == INVERSE
    a = int(inst[k, INST_TIER_START])
    b = int(inst[k, INST_TIER_STOP])
    at_entry = inst[k, INST_MM_AT_ENTRY] > 0.0
    fee_mm = inst[k, INST_FEE_IN_MM]
    mm = maintenance(
        q, ent, px, inverse, at_entry, fee_mm, tiers[a:b, TIER_CAP], tiers[a:b, TIER_MMR], tiers[a:b, TIER_CUM]
    )
    basis = ent if at_entry else px
    kt = tier_index(position_notional(q, basis, inverse), tiers[a:b, TIER_CAP])
    return mm, tiers[a + kt, TIER_MMR] + fee_mm, basis


@jitable
def _close_whole(
    t: int,
    k: int,
    px: float,
    outcome: int,
    coll: float,
    w: int,
    cash: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    inst: Float64Array2D,
    out_liqs: Float64Array2D,
    row: int,
) -> tuple[float, float]:
    """Close all of instrument k at ``px`` under ``outcome`` (takeover or book) with the margin
    ``coll`` behind it; record the row; return (fee, taken-over flag)."""
    inverse = int(inst[k, INST_KIND]) == INVERSE
    q = qty[k]
    realised = position_upnl(q, entry[k], px, inverse)
    kept, fee, _fund, taken = kl.settle_close(
        outcome, coll, realised, position_notional(q, px, inverse), inst[k, INST_LIQ_FEE], 0.0, 0.0
    )
    equity = coll + realised
    cash[w] += kept - coll
    _record_liq(out_liqs, row, t, k, q, px, -realised, fee, -equity if equity < 0.0 else 0.0, coll, kept, 0.0, taken)
    qty[k] = 0.0
    entry[k] = 0.0
    return fee, taken


@jitable
def _restore_walk(
    t: int,
    k: int,
    p0: float,
    p1: float,
    n_inst: int,
    cross: bool,
    cash: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    ref_px: Float64Array1D,
    inst: Float64Array2D,
    tiers: Float64Array2D,
    out_liqs: Float64Array2D,
    row: int,
) -> tuple[int, float]:
    """Incremental liquidation of instrument k along prices from ``p0`` to ``p1`` (geometric
    grid of ``N_RESTORE_GRID`` points; one point when equal): wherever the equity is below the
    maintenance margin, close the fraction that restores it
    (:func:`~levguard.kernels.liquidation.restore_fraction`) in the book with the liquidation
    fee, or the whole position when none does or when the rest would be smaller than the
    venue's minimum order notional.  One aggregated row (volume-weighted price,
    harmonic for inverse contracts); returns (rows written, fees)."""
    inverse = int(inst[k, INST_KIND]) == INVERSE
    w = 0 if cross else k
    rule = inst[k, INST_RULE : INST_RULE + kl.N_RULE]
    fee_rate = inst[k, INST_LIQ_FEE]
    a = int(inst[k, INST_TIER_START])
    b = int(inst[k, INST_TIER_STOP])
    caps = tiers[a:b, TIER_CAP]
    sign = 1.0 if qty[k] > 0.0 else -1.0
    c0 = _collateral(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers)
    n_grid = 1 if p1 == p0 else N_RESTORE_GRID
    closed_sum = 0.0
    value_sum = 0.0
    loss = 0.0
    fees = 0.0
    bad = 0.0
    kept_final = 0.0
    taken = 0.0
    flat = False
    for i in range(n_grid):
        p = p0 if n_grid == 1 else p0 * (p1 / p0) ** (i / (n_grid - 1.0))
        q = qty[k]
        coll = _collateral(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers)
        equity = coll + position_upnl(q, entry[k], p, inverse)
        mm, mmr, basis = _mm_terms(k, q, entry[k], p, inst, tiers)
        closed, decision = kl.plan_close(
            rule, abs(q), position_notional(q, p, inverse), basis, inverse, equity, mm, mmr, fee_rate, caps, True
        )
        if decision == kl.CLOSE_NONE:
            continue
        rest_quote = (abs(q) - closed) * (1.0 if inverse else p)
        if decision == kl.CLOSE_PARTIAL and rest_quote >= inst[k, INST_MIN_NOTIONAL]:
            dq = sign * closed
            realised = position_upnl(dq, entry[k], p, inverse)
            left, fee = kl.settle_partial(coll, realised, position_notional(dq, p, inverse), fee_rate)
            if left > 0.0:
                cash[w] += realised - fee
                qty[k] -= dq
                closed_sum += closed
                value_sum += closed / p if inverse else closed * p
                loss -= realised
                fees += fee
                continue
        outcome = kl.TAKEOVER if decision == kl.CLOSE_BACKSTOP else int(rule[kl.RULE_KIND])
        realised = position_upnl(q, entry[k], p, inverse)
        kept, fee, _fund, taken = kl.settle_close(
            outcome, coll, realised, position_notional(q, p, inverse), fee_rate, 0.0, 0.0
        )
        cash[w] += kept - coll
        closed_sum += abs(q)
        value_sum += abs(q) / p if inverse else abs(q) * p
        loss -= realised
        fees += fee
        if coll + realised < 0.0:
            bad = -(coll + realised)
        kept_final = kept
        qty[k] = 0.0
        entry[k] = 0.0
        flat = True
        break
    if not closed_sum > 0.0:
        return 0, 0.0
    price = closed_sum / value_sum if inverse else value_sum / closed_sum
    kept_after = kept_final
    if not flat:
        kept_after = _collateral(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers)
    _record_liq(
        out_liqs, row, t, k, sign * closed_sum, price, loss, fees, bad, c0, kept_after, 0.0 if flat else 1.0, taken
    )
    return 1, fees


@jitable
def _liquidate(
    t: int,
    k: int,
    px: float,
    extreme: float,
    n_inst: int,
    cross: bool,
    cash: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    ref_px: Float64Array1D,
    inst: Float64Array2D,
    tiers: Float64Array2D,
    liq_state: Int64Array1D,
    out_liqs: Float64Array2D,
    row: int,
) -> tuple[int, float]:
    """One liquidation event of instrument k under its venue's rule; return (rows, fees).

    ``px`` is the fill (the liquidation price, or the worse mark open), ``extreme`` the bar's
    adverse mark extreme (incremental liquidation walks from ``px`` to it).  The decision is
    :func:`~levguard.kernels.liquidation.plan_close` (backstop, partial rule, full outcome): a
    partial slice or step-down closes part at ``px`` with the liquidation fee and marks the
    instrument (``liq_state`` 1: the next liquidation in the bar is whole); a full close keeps
    what :func:`~levguard.kernels.liquidation.settle_close` leaves.  In cross margin a takeover
    makes the account bankrupt: every other cross position (spot legs included) is taken over
    too, at its reference price, and the cross wallet ends at 0.
    """
    w = 0 if cross else k
    rule = inst[k, INST_RULE : INST_RULE + kl.N_RULE]
    if int(rule[kl.RULE_PARTIAL]) == kl.PARTIAL_RESTORE:
        return _restore_walk(t, k, px, extreme, n_inst, cross, cash, qty, entry, ref_px, inst, tiers, out_liqs, row)
    inverse = int(inst[k, INST_KIND]) == INVERSE
    fee_rate = inst[k, INST_LIQ_FEE]
    a = int(inst[k, INST_TIER_START])
    b = int(inst[k, INST_TIER_STOP])
    q = qty[k]
    coll = _collateral(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers)
    equity = coll + position_upnl(q, entry[k], px, inverse)
    mm, mmr, basis = _mm_terms(k, q, entry[k], px, inst, tiers)
    room = row + 2 * n_inst < out_liqs.shape[0]
    closed, decision = kl.plan_close(
        rule,
        abs(q),
        position_notional(q, px, inverse),
        basis,
        inverse,
        equity,
        mm,
        mmr,
        fee_rate,
        tiers[a:b, TIER_CAP],
        liq_state[k] == 0 and room,
    )
    if decision == kl.CLOSE_PARTIAL:
        dq = closed if q > 0.0 else -closed
        realised = position_upnl(dq, entry[k], px, inverse)
        left, fee = kl.settle_partial(coll, realised, position_notional(dq, px, inverse), fee_rate)
        if left > 0.0:
            cash[w] += realised - fee
            qty[k] -= dq
            liq_state[k] = 1
            _record_liq(out_liqs, row, t, k, dq, px, -realised, fee, 0.0, coll, left, 1.0, 0.0)
            return 1, fee
    outcome = kl.TAKEOVER if decision == kl.CLOSE_BACKSTOP else int(rule[kl.RULE_KIND])
    if cross and outcome == kl.TAKEOVER:
        return _take_over_account(t, k, px, n_inst, cash, qty, entry, ref_px, inst, out_liqs, row)
    fees, _taken = _close_whole(t, k, px, outcome, coll, w, cash, qty, entry, inst, out_liqs, row)
    return 1, fees


@jitable
def _take_over_account(
    t: int,
    k: int,
    px: float,
    n_inst: int,
    cash: Float64Array1D,
    qty: Float64Array1D,
    entry: Float64Array1D,
    ref_px: Float64Array1D,
    inst: Float64Array2D,
    out_liqs: Float64Array2D,
    row: int,
) -> tuple[int, float]:
    """A cross takeover (or backstop) of instrument k: the account is bankrupt as a whole.

    Every other cross position (spot legs included) goes with it at its reference price: its
    PnL is realised into the wallet (its row: margin NaN, no fee, no bad debt, kept 0).  Then k
    is taken over at ``px`` with the whole wallet behind it: its row's ``fee`` is the account's
    equity left (the clearance) and its ``bad_debt`` the account's shortfall, each counted once
    (per-position shares would count the others' maintenance margin as a clearance on their
    rows and again as k's bad debt).  The wallet ends at 0.  Returns (rows written, fees).
    """
    written = 1
    for j in range(n_inst):
        if j != k and qty[j] != 0.0:
            realised = position_upnl(qty[j], entry[j], ref_px[j], int(inst[j, INST_KIND]) == INVERSE)
            cash[0] += realised
            _record_liq(out_liqs, row + written, t, j, qty[j], ref_px[j], -realised, 0.0, 0.0, math.nan, 0.0, 0.0, 1.0)
            qty[j] = 0.0
            entry[j] = 0.0
            written += 1
    fees, _taken = _close_whole(t, k, px, kl.TAKEOVER, cash[0], 0, cash, qty, entry, inst, out_liqs, row)
    return written, fees


@jitable
def path_cap(cfg: Float64Array1D, equity: float, peak: float) -> float:
    """Return the leverage cap of the path-dependent policies at account equity ``equity``.

    Notes
    -----
    Drawdown control (Grossman & Zhou 1993): ``base * max(0, 1 - dd / max_dd)^power`` with
    ``dd = 1 - V / peak``.  CPPI (Black & Perold 1992): ``min(m (1 - F / V), b)`` with the floor
    ``F = floor * max(peak, reference)`` (ratchet) or ``floor * reference``; 0 at or below the floor.  Both
    ``inf`` when off; the minimum of both when both are on.
    """
    cap = math.inf
    dd_max = cfg[CFG_DD_MAX]
    if dd_max > 0.0:
        dd = 1.0 - equity / peak if peak > 0.0 else 1.0
        cap = min(cap, cfg[CFG_DD_BASE] * drawdown_scale(dd, dd_max, True, cfg[CFG_DD_POWER]))
    floor = cfg[CFG_CPPI_FLOOR]
    if floor > 0.0:
        ref = max(peak, cfg[CFG_CPPI_REF]) if cfg[CFG_CPPI_RATCHET] > 0.0 else cfg[CFG_CPPI_REF]
        f_abs = floor * ref
        cushion = cfg[CFG_CPPI_MULT] * (1.0 - f_abs / equity) if equity > f_abs else 0.0
        cap = min(cap, cushion, cfg[CFG_CPPI_MAX])
    return cap


@jitable
def min_order_margin(inst: Float64Array2D, tiers: Float64Array2D, k: int, price: float) -> float:
    """Return the capital instrument ``k`` needs to open the venue's smallest order (0: none known).

    For a minimum order notional ``m`` (quote currency): its initial margin at the first
    tier's maximum leverage, ``m / max_leverage`` (spot: ``m``, fully paid; inverse contracts:
    ``m / price`` in the coin).
    """
    mn = float(inst[k, INST_MIN_NOTIONAL])
    if not mn > 0.0:
        return 0.0
    kind = int(inst[k, INST_KIND])
    need = mn
    if kind != SPOT:
        ml = tiers[int(inst[k, INST_TIER_START]), TIER_MAX_LEV]
        if ml > 0.0 and math.isfinite(ml):
            need = mn / ml
    if kind == INVERSE:
        need = need / price
    return need


@jitable
def ruin_threshold(inst: Float64Array2D, tiers: Float64Array2D, price: Float64Array1D) -> float:
    """Return the account equity below which no instrument's smallest order can be opened.

    The smallest :func:`min_order_margin` over the instruments that have a minimum order; 0
    when none has (then only ``equity <= 0`` ruins).
    """
    best = math.inf
    for k in range(inst.shape[0]):
        need = min_order_margin(inst, tiers, k, price[k])
        if need > 0.0:
            best = min(best, need)
    return best if math.isfinite(best) else 0.0


@jitable
def simulate_py(
    mkt: Float64Array2D,
    direction: Float64Array2D,
    target_leverage: Float64Array2D,
    inst: Float64Array2D,
    tiers: Float64Array2D,
    cfg: Float64Array1D,
    out_acct: Float64Array2D,
    out_inst: Float64Array2D,
    out_trades: Float64Array2D,
    out_liqs: Float64Array2D,
    out_counts: Int64Array1D,
) -> None:
    """Simulate K leveraged instruments in one account, bar by bar.

    Parameters
    ----------
    mkt : (N_MKT, T, K) float64
        Per bar and instrument: last-price open, high, low, close, volume (in the instrument's
        quantity units: base for linear and spot, quote for inverse), mark
        open, high, low, close (pass the last prices when there is no mark data) and the funding
        rate settled at the bar's open time (NaN: no settlement).
    direction : (T, K) float64
        Side decided at bar ``t``'s close, in {-1, 0, +1} (NaN is 0; spot legs ignore -1).
    target_leverage : (T, K) float64
        Target leverage of each instrument on its capital (>= 0; NaN is 0; spot legs at most 1).
    inst : (K, N_INST) float64
        Contract kind (``LINEAR``, ``INVERSE``: quantity in quote units, PnL in the base coin;
        ``SPOT``: fully paid, no funding, never liquidated), capital weight, taker and maker fee
        rates, liquidation fee rate, rate added to maintenance (OKX, Gate), maintenance valued at
        entry (Bybit, BitMEX), the row range of the instrument's tiers, the venue's minimum
        order notional and its liquidation rule (``INST_RULE``: the ``N_RULE`` entries of
        :mod:`levguard.kernels.liquidation`).
    tiers : (R, N_TIER) float64
        Tier rows: cap (settlement-currency notional), maintenance rate, amount, max leverage.
    cfg : (N_CFG,) float64
        Account settings (see the ``CFG_*`` constants and :func:`levguard.backtest.engine.run`).
    out_acct : (T, N_ACCT) float64
        Per bar at the close: equity (marked at the mark close), wallet balance, gross leverage
        (sum of notionals over equity), funding paid, fees paid (taker, maker, liquidation).
    out_inst : (T, K, N_POS) float64
        Per bar and instrument: signed quantity, entry price, leverage (notional over account
        equity), liquidation price (NaN when flat), the target leverage used at the bar's
        open, and the capital allocated to the instrument (its weight of the account equity,
        or its isolated sleeve's equity).
    out_trades : (trade_capacity(T, K), N_TRADE_COLS) float64
        Fills: bar, instrument, signed qty, price, fee, kind (rebalance, stop, take profit,
        limit, ruin).
    out_liqs : (liq_capacity(T, K), N_LIQ_COLS) float64
        Liquidations: bar, instrument, signed qty, price, loss, fee, bad debt, margin before,
        margin kept, partial flag, takeover flag.
    out_counts : (N_COUNTS,) int64
        Rows written to ``out_trades`` and ``out_liqs``, orders clipped by the initial-margin
        check, limit orders left unfilled and the ruin bar (-1: never ruined).

    Notes
    -----
    Capital: instrument ``k`` trades ``weight_k`` of the account.  In cross margin one wallet
    backs every position and the target quantity is ``side * lev * weight_k * E / price`` (E
    the account equity at the decision).  In isolated margin each instrument is a sleeve
    started with ``weight_k`` of the initial equity whose wallet is its isolated margin: a
    liquidation consumes that sleeve only (capital left unallocated, when the weights sum below
    1, stays idle in the account).  With one instrument both modes give the same path.

    Order of events inside bar ``t``:

    1. Funding settles at the bar's open time on each perpetual carried from ``t - 1``, at its
       ``mark_open``: the wallet changes by ``-qty * mark * rate`` (linear) or
       ``-qty / mark * rate`` (inverse); a positive rate makes longs pay.
    2. Gap liquidation: a carried position whose ``mark_open`` is already beyond its
       liquidation price (or whose collateral is gone) is liquidated at ``mark_open`` (the worse
       price, see 4 for what the venue's rule leaves) and its order for the bar is cancelled.
       In cross margin the other positions enter the collateral at their own ``mark_open``
       (``WB + sum of others' uPnL - MM``, the margin engine's cross rule), re-evaluated after
       each liquidation.
    3. The orders decided at ``t - 1``'s close (skipped during a cooldown): target quantity from
       the side, the target leverage (capped by the path-dependent policies at the account's
       equity and peak at ``t - 1``), the capital at ``t - 1`` and ``close[t-1]``; rebalanced
       through :func:`~levguard.kernels.sizing.rebalance_step`.  An instrument whose capital
       cannot open the venue's smallest order (:func:`min_order_margin`) closes its position
       and opens none (no dust trading).  With the initial-margin check
       an increase is clipped to the largest size whose initial margin (notional over the tier's
       maximum leverage; the others' initial margin counted in cross) fits the capital.
       ``MARKET``: fills at ``open[t] * (1 +- slippage)`` with the taker fee, slippage
       ``slip_bps / 1e4 + impact * sqrt(|dq| / volume[t-1])``.  ``LIMIT``: a limit order at
       ``close[t-1] * (1 -+ offset)`` fills at its limit with the maker fee when the bar trades
       at or through it (buy: ``low <= limit``), else it expires unfilled.
    4. Intrabar, repeatedly until nothing happens: each position's liquidation price ``LP`` is
       solved (tier re-selection or MM at entry; in cross the others at ``mark_open``); a
       stop-loss/take-profit hit on the last-price extremes fills at its level (or the open if
       it gapped past) with slippage and the taker fee; when a liquidation is crossed in the
       same bar it comes first if ``liquidation_first``, else a take-profit, or a stop-loss
       whose level lies before the liquidation price on the adverse move, fills first;
       otherwise the position whose adverse mark extreme crosses its ``LP`` nearest to the open
       (relative distance) is liquidated at ``LP`` (or the worse ``mark_open``) under its venue's
       rule (:func:`_liquidate`): a takeover (Binance, Bybit, OKX, Gate, BitMEX) keeps nothing
       of the margin behind the position, the rest going to the insurance fund; a book close
       (Hyperliquid, dYdX, Deribit, generic) pays ``liquidation_fee_rate * notional`` (capped at
       what is left) and keeps the rest; Hyperliquid's backstop below 2/3 of the maintenance
       margin is a takeover.  Partial rules close part first: Hyperliquid 20 % slices above
       100k, risk-limit step-downs (one per bar; the next liquidation in the bar is whole),
       Deribit's incremental closes along the bar's adverse path from the fill to the mark
       extreme (one aggregated row).  In cross margin a takeover takes the whole account.
       After a stop or take profit no position is reopened on that side until the signal
       leaves it.
    5. Bad debt: what the insurance fund pays when the equity at a liquidation's fill is
       negative is recorded on its row; once a wallet holds no perpetual position, a negative
       balance is set to 0 and recorded as bad debt too; in cross margin spot legs (collateral)
       are sold first when they cannot cover it.  An instrument may reopen ``cooldown`` bar
       opens after a liquidation.
    6. Equity is marked at each ``mark_close``: ``wallets + sum of uPnL``.
    7. Ruin: when the equity at the close is <= 0 or below :func:`ruin_threshold` (the initial
       margin of the venue's smallest order) or below ``DUST_FRACTION`` (1e-6) of the initial
       equity (where no minimum order is known, a wiped-out run must not trade dust), the
       positions left are closed at the bar's last close with the taker fee (trade kind
       ``KIND_RUIN``), the bar is recorded in ``out_counts[COUNT_RUIN]`` and the account
       stops: later bars repeat the equity left, with no funding, fees or trades.

    Money is conserved: ``equity_T - equity_0 = realised + unrealised PnL - fees - funding
    - liquidation fees + bad debt`` (a takeover's clearance is in the liquidation fees).
    """
    n_t = mkt.shape[1]
    n_inst = mkt.shape[2]
    zero_caps = np.full(1, np.inf)
    zero = np.zeros(1)
    cross = cfg[CFG_MARGIN_MODE] == CROSS
    equity0 = cfg[CFG_INITIAL_EQUITY]
    slip_bps = cfg[CFG_SLIP_BPS]
    impact = cfg[CFG_IMPACT]
    never = cfg[CFG_REBALANCE] == REBALANCE_NEVER
    band = cfg[CFG_BAND]
    min_trade = cfg[CFG_MIN_TRADE]
    max_step = cfg[CFG_MAX_STEP]
    stop_loss = cfg[CFG_STOP_LOSS]
    take_profit = cfg[CFG_TAKE_PROFIT]
    liquidation_first = cfg[CFG_LIQUIDATION_FIRST] > 0.0
    cooldown = int(cfg[CFG_COOLDOWN])
    limit_exec = cfg[CFG_EXECUTION] == LIMIT
    limit_offset = cfg[CFG_LIMIT_OFFSET]
    check_im = cfg[CFG_CHECK_IM] > 0.0

    cash = np.zeros(n_inst)
    if cross:
        cash[0] = equity0
    else:
        for k in range(n_inst):
            cash[k] = equity0 * inst[k, INST_WEIGHT]
    # Isolated: capital not allocated to any sleeve (weights summing below 1) stays idle.
    idle = 0.0
    if not cross:
        idle = equity0
        for k in range(n_inst):
            idle -= cash[k]
        # Weights summing to 1 up to rounding (1/3 each) leave no idle capital: a residue of
        # 1e-11 would be equity that never trades, and a wiped-out account would never be 0.
        if abs(idle) <= 1e-9 * abs(equity0):
            idle = 0.0
    qty = np.zeros(n_inst)
    entry = np.zeros(n_inst)
    ref_px = np.zeros(n_inst)
    reopen_at = np.zeros(n_inst, dtype=np.int64)
    blocked = np.zeros(n_inst)
    sleeve_prev = np.zeros(n_inst)
    for k in range(n_inst):
        sleeve_prev[k] = equity0 * inst[k, INST_WEIGHT]
    liq_this_bar = np.zeros(n_inst, dtype=np.bool_)
    # Liquidation state within the bar: 0 none, 1 partially liquidated (the next liquidation is
    # whole), 2 incremental liquidation walked (no more this bar), 3 restored at the open gap.
    liq_state = np.zeros(n_inst, dtype=np.int64)
    last_liq_row = np.full(n_inst, -1, dtype=np.int64)
    memo = np.full((n_inst, 5), np.nan)
    n_trades = 0
    n_liqs = 0
    n_clipped = 0
    n_unfilled = 0
    ruin_bar = -1
    peak = equity0
    eq_prev = equity0
    for t in range(n_t):
        funding_paid = 0.0
        fees_paid = 0.0
        if ruin_bar >= 0:
            # Ruined: nothing trades any more; the equity stays what was left.
            wallet = idle
            for k in range(n_inst):
                wallet += cash[k]
            out_acct[t, ACCT_EQUITY] = wallet
            out_acct[t, ACCT_CASH] = wallet
            out_acct[t, ACCT_LEVERAGE] = 0.0
            out_acct[t, ACCT_FUNDING] = 0.0
            out_acct[t, ACCT_FEES] = 0.0
            for k in range(n_inst):
                out_inst[t, k, POS_QTY] = 0.0
                out_inst[t, k, POS_ENTRY] = 0.0
                out_inst[t, k, POS_LEVERAGE] = 0.0
                out_inst[t, k, POS_LIQ_PRICE] = math.nan
                out_inst[t, k, POS_TARGET] = 0.0
                out_inst[t, k, POS_EQUITY] = inst[k, INST_WEIGHT] * wallet if cross else cash[k]
            continue
        for k in range(n_inst):
            liq_this_bar[k] = False
            liq_state[k] = 0
            ref_px[k] = mkt[MKT_MARK_OPEN, t, k]
        # 1. Funding at the open.
        for k in range(n_inst):
            rate = mkt[MKT_FUNDING, t, k]
            kind = int(inst[k, INST_KIND])
            if qty[k] != 0.0 and kind != SPOT and not math.isnan(rate):
                mo = mkt[MKT_MARK_OPEN, t, k]
                base = qty[k] / mo if kind == INVERSE else qty[k] * mo
                pay = -base * rate
                w = 0 if cross else k
                cash[w] += pay
                funding_paid -= pay
        # 2. Gap liquidations of the carried positions (repeated: in cross each changes the rest;
        # a partial liquidation may leave a position still beyond, liquidated whole next).
        for _ in range(2 * n_inst + 1):
            hit = -1
            for k in range(n_inst):
                if qty[k] == 0.0 or int(inst[k, INST_KIND]) == SPOT or liq_state[k] == 3:
                    continue
                lp, coll = _lp_memo(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers, zero_caps, zero, memo)
                mo = mkt[MKT_MARK_OPEN, t, k]
                if (qty[k] > 0.0 and mo <= lp) or (qty[k] < 0.0 and mo >= lp) or not coll > 0.0:
                    hit = k
                    break
            if hit < 0:
                break
            k = hit
            w = 0 if cross else k
            mo = mkt[MKT_MARK_OPEN, t, k]
            written, fee = _liquidate(
                t, k, mo, mo, n_inst, cross, cash, qty, entry, ref_px, inst, tiers, liq_state, out_liqs, n_liqs
            )
            if int(inst[k, INST_RULE + kl.RULE_PARTIAL]) == kl.PARTIAL_RESTORE and qty[k] != 0.0:
                liq_state[k] = 3
            if written > 0:
                last_liq_row[w] = n_liqs + written - 1
            n_liqs += written
            fees_paid += fee
            liq_this_bar[k] = True
            reopen_at[k] = t + 1 + cooldown
            if written > 1:
                # A cross takeover closed the whole account: nothing reopens this bar.
                for j in range(n_inst):
                    liq_this_bar[j] = True
                    reopen_at[j] = max(reopen_at[j], t + 1 + cooldown)
            extra, extra_fees = _settle_bad_debt(
                t, w, n_inst, cross, cash, qty, entry, ref_px, inst, out_liqs, n_liqs, last_liq_row[w]
            )
            if extra > 0:
                last_liq_row[w] = n_liqs + extra - 1
            n_liqs += extra
            fees_paid += extra_fees
        # 3. The orders decided at t - 1's close.
        cap = math.inf
        if t >= 1:
            cap = path_cap(cfg, eq_prev, peak)
        for k in range(n_inst):
            kind = int(inst[k, INST_KIND])
            inverse = kind == INVERSE
            w = 0 if cross else k
            lev = 0.0
            if t >= 1:
                # inf means "no limit of its own" (a path-dependent policy alone): the cap decides.
                lev = target_leverage[t - 1, k]
                if not lev > 0.0:
                    lev = 0.0
                lev = min(lev, cap)
                if not math.isfinite(lev):
                    lev = 0.0
                if kind == SPOT:
                    lev = min(lev, 1.0)
            out_inst[t, k, POS_TARGET] = lev
            if t < 1 or liq_this_bar[k] or t < reopen_at[k]:
                continue
            d = direction[t - 1, k]
            side = 0.0
            if d > 0.0:
                side = 1.0
            elif d < 0.0 and kind != SPOT:
                side = -1.0
            if blocked[k] != 0.0 and side != blocked[k]:
                blocked[k] = 0.0
            if blocked[k] != 0.0:
                side = 0.0
            px_dec = mkt[MKT_CLOSE, t - 1, k]
            eq_dec = sleeve_prev[k]
            new_qty = qty[k]
            if not (eq_dec > 0.0 and px_dec > 0.0) or eq_dec < min_order_margin(inst, tiers, k, px_dec):
                # No capital, or too little to open the venue's smallest order: close, no dust.
                new_qty = 0.0
            else:
                cur_side = 0.0
                if qty[k] > 0.0:
                    cur_side = 1.0
                elif qty[k] < 0.0:
                    cur_side = -1.0
                # Quantity per unit of leverage: base units (linear, spot) or quote (inverse).
                unit = eq_dec * px_dec if inverse else eq_dec / px_dec
                if side != cur_side:
                    new_qty = side * lev * unit
                elif side != 0.0 and not never:
                    cur_lev = abs(qty[k]) / unit
                    held = rebalance_step(cur_lev, lev, eq_dec, band, min_trade, max_step)
                    if held != cur_lev:
                        new_qty = side * held * unit
                if check_im and kind != SPOT and abs(new_qty) > abs(qty[k]) * (1.0 if qty[k] * new_qty > 0.0 else 0.0):
                    a = int(inst[k, INST_TIER_START])
                    b = int(inst[k, INST_TIER_STOP])
                    avail = eq_dec
                    if cross:
                        avail = eq_prev
                        for j in range(n_inst):
                            if j != k and qty[j] != 0.0 and int(inst[j, INST_KIND]) != SPOT:
                                aj = int(inst[j, INST_TIER_START])
                                bj = int(inst[j, INST_TIER_STOP])
                                nj = position_notional(
                                    qty[j], mkt[MKT_CLOSE, t - 1, j], int(inst[j, INST_KIND]) == INVERSE
                                )
                                avail -= initial_margin(nj, tiers[aj:bj, TIER_CAP], tiers[aj:bj, TIER_MAX_LEV])
                            elif j != k and qty[j] != 0.0:
                                avail -= abs(qty[j]) * mkt[MKT_CLOSE, t - 1, j]
                    n_max = max_notional_for_margin(avail, tiers[a:b, TIER_CAP], tiers[a:b, TIER_MAX_LEV])
                    if position_notional(new_qty, px_dec, inverse) > n_max:
                        q_max = n_max * px_dec if inverse else n_max / px_dec
                        new_qty = math.copysign(q_max, new_qty)
                        n_clipped += 1
            dq = new_qty - qty[k]
            if dq == 0.0:
                continue
            if limit_exec:
                limit = px_dec * (1.0 - limit_offset) if dq > 0.0 else px_dec * (1.0 + limit_offset)
                touched = mkt[MKT_LOW, t, k] <= limit if dq > 0.0 else mkt[MKT_HIGH, t, k] >= limit
                if not touched:
                    n_unfilled += 1
                    continue
                px = limit
                fee = inst[k, INST_MAKER] * position_notional(dq, px, inverse)
                trade_kind = KIND_LIMIT
            else:
                slip = slippage_fraction(dq, mkt[MKT_VOLUME, t - 1, k], slip_bps, impact)
                px = mkt[MKT_OPEN, t, k] * (1.0 + slip) if dq > 0.0 else mkt[MKT_OPEN, t, k] * (1.0 - slip)
                fee = inst[k, INST_TAKER] * position_notional(dq, px, inverse)
                trade_kind = KIND_REBALANCE
            cash[w] += _fill(qty[k], entry[k], dq, px, inverse) - fee
            entry[k] = _new_entry(qty[k], entry[k], dq, px, inverse)
            qty[k] = new_qty
            fees_paid += fee
            _record_trade(out_trades, n_trades, t, k, dq, px, fee, trade_kind)
            n_trades += 1
        # 4. Intrabar liquidations, stop-losses and take-profits, until nothing happens.
        for _ in range(4 * n_inst + 2):
            acted = False
            best = -1
            best_dist = math.inf
            best_lp = math.nan
            for k in range(n_inst):
                if qty[k] == 0.0:
                    continue
                kind = int(inst[k, INST_KIND])
                inverse = kind == INVERSE
                lp = math.nan
                broke = False
                if kind != SPOT and liq_state[k] != 2:
                    lp, coll = _lp_memo(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers, zero_caps, zero, memo)
                    # No collateral left (fees or the others' losses): liquidated at the open mark.
                    broke = not coll > 0.0
                    if broke:
                        lp = mkt[MKT_MARK_OPEN, t, k]
                o = mkt[MKT_OPEN, t, k]
                if qty[k] > 0.0:
                    liq_hit = broke or mkt[MKT_MARK_LOW, t, k] <= lp
                    sl_px = entry[k] * (1.0 - stop_loss)
                    tp_px = entry[k] * (1.0 + take_profit)
                    sl_hit = stop_loss > 0.0 and mkt[MKT_LOW, t, k] <= sl_px
                    tp_hit = take_profit > 0.0 and mkt[MKT_HIGH, t, k] >= tp_px
                    sl_fill = min(o, sl_px)
                    tp_fill = max(o, tp_px)
                else:
                    liq_hit = broke or mkt[MKT_MARK_HIGH, t, k] >= lp
                    sl_px = entry[k] * (1.0 + stop_loss)
                    tp_px = entry[k] * (1.0 - take_profit)
                    sl_hit = stop_loss > 0.0 and mkt[MKT_HIGH, t, k] >= sl_px
                    tp_hit = take_profit > 0.0 and mkt[MKT_LOW, t, k] <= tp_px
                    sl_fill = max(o, sl_px)
                    tp_fill = min(o, tp_px)
                exit_hit = sl_hit or tp_hit
                # Both crossed: liquidation first when asked; otherwise a stop-loss fills first
                # only if its level lies before the liquidation price on the adverse move (a stop
                # beyond the bankruptcy side cannot fill before the liquidation engine acts).
                liq_wins = liq_hit and (
                    liquidation_first or (sl_hit and ((qty[k] > 0.0 and sl_px < lp) or (qty[k] < 0.0 and sl_px > lp)))
                )
                if exit_hit and not liq_wins:
                    level = sl_fill if sl_hit else tp_fill
                    trade_kind = KIND_STOP_LOSS if sl_hit else KIND_TAKE_PROFIT
                    dq = -qty[k]
                    ref_vol = mkt[MKT_VOLUME, t - 1, k] if t >= 1 else math.nan
                    slip = slippage_fraction(dq, ref_vol, slip_bps, impact)
                    px = level * (1.0 + slip) if dq > 0.0 else level * (1.0 - slip)
                    fee = inst[k, INST_TAKER] * position_notional(dq, px, inverse)
                    w = 0 if cross else k
                    cash[w] += position_upnl(qty[k], entry[k], px, inverse) - fee
                    fees_paid += fee
                    _record_trade(out_trades, n_trades, t, k, dq, px, fee, trade_kind)
                    n_trades += 1
                    blocked[k] = 1.0 if qty[k] > 0.0 else -1.0
                    qty[k] = 0.0
                    entry[k] = 0.0
                    acted = True
                elif liq_hit:
                    dist = abs(lp / mkt[MKT_MARK_OPEN, t, k] - 1.0)
                    if dist < best_dist:
                        best_dist = dist
                        best = k
                        best_lp = lp
            if acted:
                continue
            if best < 0:
                break
            k = best
            w = 0 if cross else k
            # A position opened this bar beyond its own LP fills at the worse open mark.
            px = best_lp
            mo = mkt[MKT_MARK_OPEN, t, k]
            if (qty[k] > 0.0 and mo < px) or (qty[k] < 0.0 and mo > px):
                px = mo
            extreme = mkt[MKT_MARK_LOW, t, k] if qty[k] > 0.0 else mkt[MKT_MARK_HIGH, t, k]
            restore = int(inst[k, INST_RULE + kl.RULE_PARTIAL]) == kl.PARTIAL_RESTORE
            written, fee = _liquidate(
                t, k, px, extreme, n_inst, cross, cash, qty, entry, ref_px, inst, tiers, liq_state, out_liqs, n_liqs
            )
            if restore:
                liq_state[k] = 2
            if written > 0:
                last_liq_row[w] = n_liqs + written - 1
            n_liqs += written
            fees_paid += fee
            reopen_at[k] = t + 1 + cooldown
            if written > 1:
                for j in range(n_inst):
                    reopen_at[j] = max(reopen_at[j], t + 1 + cooldown)
            extra, extra_fees = _settle_bad_debt(
                t, w, n_inst, cross, cash, qty, entry, ref_px, inst, out_liqs, n_liqs, last_liq_row[w]
            )
            if extra > 0:
                last_liq_row[w] = n_liqs + extra - 1
            n_liqs += extra
            fees_paid += extra_fees
        # 6. Mark to market at the close.
        equity = 0.0
        wallet = idle
        gross = 0.0
        for k in range(n_inst):
            wallet += cash[k]
        for k in range(n_inst):
            mc = mkt[MKT_MARK_CLOSE, t, k]
            ref_px[k] = mc
            inverse = int(inst[k, INST_KIND]) == INVERSE
            if qty[k] != 0.0:
                gross += position_notional(qty[k], mc, inverse)
        equity = wallet
        for k in range(n_inst):
            if qty[k] != 0.0:
                equity += position_upnl(qty[k], entry[k], mkt[MKT_MARK_CLOSE, t, k], int(inst[k, INST_KIND]) == INVERSE)
        out_acct[t, ACCT_EQUITY] = equity
        out_acct[t, ACCT_CASH] = wallet
        lev_acct = 0.0
        if gross > 0.0:
            lev_acct = gross / equity if equity > 0.0 else math.inf
        out_acct[t, ACCT_LEVERAGE] = lev_acct
        out_acct[t, ACCT_FUNDING] = funding_paid
        out_acct[t, ACCT_FEES] = fees_paid
        for k in range(n_inst):
            kind = int(inst[k, INST_KIND])
            inverse = kind == INVERSE
            mc = mkt[MKT_MARK_CLOSE, t, k]
            out_inst[t, k, POS_QTY] = qty[k]
            out_inst[t, k, POS_ENTRY] = entry[k]
            lev_k = 0.0
            if qty[k] != 0.0:
                lev_k = position_notional(qty[k], mc, inverse) / equity if equity > 0.0 else math.inf
            out_inst[t, k, POS_LEVERAGE] = lev_k
            lp, _coll = _lp_memo(k, n_inst, cross, cash, qty, entry, ref_px, inst, tiers, zero_caps, zero, memo)
            out_inst[t, k, POS_LIQ_PRICE] = lp
            if cross:
                sleeve = inst[k, INST_WEIGHT] * equity
            else:
                sleeve = cash[k]
                if qty[k] != 0.0:
                    sleeve += position_upnl(qty[k], entry[k], mc, inverse)
            out_inst[t, k, POS_EQUITY] = sleeve
            sleeve_prev[k] = sleeve
        eq_prev = equity
        peak = max(peak, equity)
        # 7. Ruin: the account can no longer open the smallest order of its venue.
        if equity <= 0.0 or equity < max(ruin_threshold(inst, tiers, mkt[MKT_CLOSE, t]), DUST_FRACTION * equity0):
            ruin_bar = t
            ruin_fees = 0.0
            for k in range(n_inst):
                if qty[k] != 0.0:
                    inverse = int(inst[k, INST_KIND]) == INVERSE
                    px = mkt[MKT_CLOSE, t, k]
                    dq = -qty[k]
                    fee = inst[k, INST_TAKER] * position_notional(dq, px, inverse)
                    w = 0 if cross else k
                    cash[w] += position_upnl(qty[k], entry[k], px, inverse) - fee
                    ruin_fees += fee
                    _record_trade(out_trades, n_trades, t, k, dq, px, fee, KIND_RUIN)
                    n_trades += 1
                    qty[k] = 0.0
                    entry[k] = 0.0
            for w in range(n_inst):
                if cash[w] < 0.0 and last_liq_row[w] >= 0:
                    out_liqs[last_liq_row[w], LIQ_BAD_DEBT] += -cash[w]
                    cash[w] = 0.0
            wallet = idle
            for k in range(n_inst):
                wallet += cash[k]
            out_acct[t, ACCT_EQUITY] = wallet
            out_acct[t, ACCT_CASH] = wallet
            out_acct[t, ACCT_LEVERAGE] = 0.0
            out_acct[t, ACCT_FEES] = fees_paid + ruin_fees
            for k in range(n_inst):
                out_inst[t, k, POS_QTY] = 0.0
                out_inst[t, k, POS_ENTRY] = 0.0
                out_inst[t, k, POS_LEVERAGE] = 0.0
                out_inst[t, k, POS_LIQ_PRICE] = math.nan
                out_inst[t, k, POS_EQUITY] = inst[k, INST_WEIGHT] * wallet if cross else cash[k]
    out_counts[COUNT_TRADES] = n_trades
    out_counts[COUNT_LIQS] = n_liqs
    out_counts[COUNT_CLIPPED] = n_clipped
    out_counts[COUNT_UNFILLED] = n_unfilled
    out_counts[COUNT_RUIN] = ruin_bar


simulate_nb = jit(simulate_py)


@jitable
def traded_notional(
    trades: Float64Array2D, n_trades: int, liqs: Float64Array2D, n_liqs: int, inst: Float64Array2D
) -> float:
    """Return the notional traded (settlement currency) over fills and liquidations."""
    total = 0.0
    for i in range(n_trades):
        k = int(trades[i, TRADE_INST])
        total += position_notional(trades[i, TRADE_QTY], trades[i, TRADE_PRICE], int(inst[k, INST_KIND]) == INVERSE)
    for i in range(n_liqs):
        k = int(liqs[i, LIQ_INST])
        total += position_notional(liqs[i, LIQ_QTY], liqs[i, LIQ_PRICE], int(inst[k, INST_KIND]) == INVERSE)
    return total


@jitable
def metrics_into(
    acct: Float64Array2D,
    initial_equity: float,
    periods_per_year: float,
    n_liquidations: int,
    traded: float,
    out: Float64Array1D,
    ruined: bool = False,
) -> None:
    """Write the metrics of one run into ``out[:STAT_FINAL_EQUITY + 1]``.

    The same definitions as :func:`levguard.backtest.metrics.compute_metrics` (tests compare
    them): per-bar returns ``g = E_t / E_{t-1} - 1`` (``E_{-1}`` the initial equity; NaN where
    ``E_{t-1} <= 0``), ``volatility = std(g, ddof 1) sqrt(ppy)``, Sharpe, Sortino, drawdown from the running
    peak (initial equity included), CAGR, Calmar, time under water, turnover on the mean
    equity, average and maximum leverage over finite values and the worst bar.  A ruined run is
    passed its bars up to and including the ruin bar (:func:`sweep_py`) and ``ruined``: its
    Sharpe, Sortino and Calmar ratios are NaN.
    """
    n = acct.shape[0]
    nan = math.nan
    for i in range(STAT_FINAL_EQUITY + 1):
        out[i] = nan
    if n == 0:
        return
    e_t = acct[n - 1, ACCT_EQUITY]
    out[STAT_FINAL_EQUITY] = e_t
    out[STAT_TOTAL_RETURN] = e_t / initial_equity - 1.0
    years = n / periods_per_year
    cagr = (e_t / initial_equity) ** (1.0 / years) - 1.0 if e_t > 0.0 else -1.0
    out[STAT_CAGR] = cagr
    prev = initial_equity
    peak = initial_equity
    m = 0
    s1 = 0.0
    worst = math.inf
    down2 = 0.0
    mdd = 0.0
    under = 0
    eq_sum = 0.0
    fees = 0.0
    funding = 0.0
    lev_n = 0
    lev_sum = 0.0
    lev_max = -math.inf
    for t in range(n):
        e = acct[t, ACCT_EQUITY]
        eq_sum += e
        fees += acct[t, ACCT_FEES]
        funding += acct[t, ACCT_FUNDING]
        lv = acct[t, ACCT_LEVERAGE]
        if math.isfinite(lv):
            lev_n += 1
            lev_sum += lv
            lev_max = max(lev_max, lv)
        if prev > 0.0:
            g = e / prev - 1.0
            if math.isfinite(g):
                m += 1
                s1 += g
                worst = min(worst, g)
                if g < 0.0:
                    down2 += g * g
        prev = e
        peak = max(peak, e)
        dd = 1.0 - e / peak if peak > 0.0 else 0.0
        mdd = max(mdd, dd)
        if dd > 0.0:
            under += 1
    mean = s1 / m if m > 0 else nan
    sd = nan
    if m > 1:
        ss = 0.0
        prev = initial_equity
        for t in range(n):
            e = acct[t, ACCT_EQUITY]
            if prev > 0.0:
                g = e / prev - 1.0
                if math.isfinite(g):
                    ss += (g - mean) ** 2
            prev = e
        sd = math.sqrt(ss / (m - 1))
    ann = math.sqrt(periods_per_year)
    downside = math.sqrt(down2 / m) if m > 0 else nan
    out[STAT_VOLATILITY] = sd * ann
    out[STAT_SHARPE] = mean / sd * ann if sd > 0.0 and not ruined else nan
    out[STAT_SORTINO] = mean / downside * ann if downside > 0.0 and not ruined else nan
    out[STAT_MAX_DRAWDOWN] = mdd
    out[STAT_CALMAR] = cagr / mdd if mdd > 0.0 and not ruined else nan
    out[STAT_TIME_UNDER_WATER] = under / n
    out[STAT_N_LIQUIDATIONS] = n_liquidations
    out[STAT_FEES] = fees
    out[STAT_FUNDING] = funding
    mean_equity = eq_sum / n
    out[STAT_TURNOVER] = traded / mean_equity if mean_equity > 0.0 else nan
    out[STAT_AVG_LEVERAGE] = lev_sum / lev_n if lev_n > 0 else nan
    out[STAT_MAX_LEVERAGE] = lev_max if lev_n > 0 else nan
    out[STAT_WORST_BAR] = worst if m > 0 else nan


def sweep_py(
    mkt: Float64Array2D,
    directions: Float64Array2D,
    leverages: Float64Array2D,
    insts: Float64Array2D,
    tiers: Float64Array2D,
    cfgs: Float64Array2D,
    index: Int64Array1D,
    periods_per_year: float,
    out_stats: Float64Array2D,
) -> None:
    """Run ``C`` configurations of :func:`simulate_py` on one market, in parallel over configurations.

    Parameters
    ----------
    mkt : (N_MKT, T, K) float64
        The market, shared by every configuration.
    directions : (S, T, K) float64
        Candidate direction arrays (strategies).
    leverages : (P, T, K) float64
        Candidate target-leverage arrays (policies and their parameters).
    insts : (I, K, N_INST) float64
        Candidate instrument settings (fees, weights...).
    tiers : (R, N_TIER) float64
        Tier rows referenced by every ``insts`` entry.
    cfgs : (C, N_CFG) float64
        One account configuration per run.
    index : (C, 3) int64
        Per configuration: the rows of ``directions``, ``leverages`` and ``insts`` it uses.
    periods_per_year : float
        Bars per year (annualisation of the metrics).
    out_stats : (C, N_STATS) float64
        Per configuration: :func:`metrics_into`'s metrics (on the bars up to the ruin when the
        run is ruined), final equity, bad debt, the number of orders clipped by the
        initial-margin check and the ruin bar (-1: never).

    Notes
    -----
    Iterations are independent (each allocates its own event tables and writes its own row),
    so results do not depend on the number of threads and equal one :func:`simulate_py` call
    per configuration.
    """
    n_c = cfgs.shape[0]
    n_t = mkt.shape[1]
    n_inst = mkt.shape[2]
    for c in prange(n_c):
        # Every cell of acct and pos is written each bar; event rows are read only below counts.
        acct = np.empty((n_t, N_ACCT))
        pos = np.empty((n_t, n_inst, N_POS))
        trades = np.empty((trade_capacity(n_t, n_inst), N_TRADE_COLS))
        liqs = np.empty((liq_capacity(n_t, n_inst), N_LIQ_COLS))
        counts = np.zeros(N_COUNTS, dtype=np.int64)
        inst = insts[index[c, 2]]
        simulate_py(
            mkt, directions[index[c, 0]], leverages[index[c, 1]], inst, tiers, cfgs[c], acct, pos, trades, liqs, counts
        )
        traded = traded_notional(trades, counts[COUNT_TRADES], liqs, counts[COUNT_LIQS], inst)
        row = out_stats[c]
        ruined = counts[COUNT_RUIN] >= 0
        n_eff = counts[COUNT_RUIN] + 1 if ruined else n_t
        metrics_into(
            acct[:n_eff], cfgs[c, CFG_INITIAL_EQUITY], periods_per_year, counts[COUNT_LIQS], traded, row, ruined
        )
        bad = 0.0
        for i in range(counts[COUNT_LIQS]):
            bad += liqs[i, LIQ_BAD_DEBT]
        row[STAT_BAD_DEBT] = bad
        row[STAT_CLIPPED] = counts[COUNT_CLIPPED]
        row[STAT_RUIN_BAR] = counts[COUNT_RUIN]


sweep_nb = jit_parallel(sweep_py)
