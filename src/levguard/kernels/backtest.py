"""Event-driven backtest kernel: one linear perpetual, bar by bar, with venue-exact liquidation.

Written once in plain Python (:func:`simulate_py`) and compiled by numba (:data:`simulate_nb`).
The pandas-facing wrapper is :func:`levguard.backtest.engine.run`.

Outputs are written into preallocated arrays whose columns are named by the ``BAR_*``,
``TRADE_*`` and ``LIQ_*`` constants below, so that more instruments can later be added as more
rows (events carry their bar index) without changing the layout of the per-bar table.

Failure is a value: the kernel never raises; NaN inputs are skipped as documented.
"""

from __future__ import annotations

import math

import numpy as np

from levguard._typing import Float64Array1D, Float64Array2D, Int64Array1D
from levguard.kernels._jit import jit, jitable
from levguard.kernels.margin import solve_liquidation_price, tiered_mm
from levguard.kernels.sizing import rebalance_step

# Per-bar output columns (``out_bars`` has shape (N, N_BAR_COLS)).
BAR_EQUITY = 0
BAR_QTY = 1
BAR_CASH = 2
BAR_LEVERAGE = 3
BAR_FUNDING = 4
BAR_FEES = 5
BAR_LIQ_PRICE = 6
N_BAR_COLS = 7

# Trade columns (``out_trades`` has shape (2 N, N_TRADE_COLS)): at most one order at the open
# and one intrabar exit (stop-loss or take-profit) per bar.
TRADE_BAR = 0
TRADE_QTY = 1
TRADE_PRICE = 2
TRADE_FEE = 3
TRADE_KIND = 4
N_TRADE_COLS = 5

# Trade kinds.
KIND_REBALANCE = 0
KIND_STOP_LOSS = 1
KIND_TAKE_PROFIT = 2

# Liquidation columns (``out_liqs`` has shape (N, N_LIQ_COLS)); ``LIQ_QTY`` is the signed size
# liquidated (its sign is the side).
LIQ_BAR = 0
LIQ_QTY = 1
LIQ_PRICE = 2
LIQ_LOSS = 3
LIQ_FEE = 4
LIQ_BAD_DEBT = 5
N_LIQ_COLS = 6

# Rebalancing modes.
REBALANCE_BAND = 0
REBALANCE_NEVER = 1

# Margin modes.
ISOLATED = 0
CROSS = 1


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
def liquidation_price(
    qty: float,
    entry_price: float,
    collateral: float,
    fee_in_mm: float,
    mm_at_entry: bool,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    zero_caps: Float64Array1D,
    zero: Float64Array1D,
) -> float:
    """Return the venue liquidation price of one linear position (NaN when flat or none).

    With ``mm_at_entry`` the maintenance margin is fixed at the entry notional (Bybit, BitMEX)
    and passed as the constant term of :func:`~levguard.kernels.margin.solve_liquidation_price`
    with one zero tier; otherwise the tiers are re-selected at the liquidation price.
    """
    if qty == 0.0 or not collateral > 0.0:
        return math.nan
    if mm_at_entry:
        k_const = tiered_mm(abs(qty) * entry_price, caps, mmrs, cums)
        return solve_liquidation_price(qty, entry_price, collateral, k_const, fee_in_mm, False, zero_caps, zero, zero)
    return solve_liquidation_price(qty, entry_price, collateral, 0.0, fee_in_mm, False, caps, mmrs, cums)


@jitable
def book_liquidation(
    t: int,
    qty: float,
    entry: float,
    px: float,
    cash: float,
    liquidation_fee_rate: float,
    out_liqs: Float64Array2D,
    row: int,
) -> tuple[float, float]:
    """Close ``qty`` at ``px`` with the liquidation fee, record the event in ``out_liqs[row]``.

    Returns the cash after the close and the fee.  Cash below zero is floored at zero and the
    shortfall recorded as bad debt (the venue's insurance fund takes it).
    """
    realised = qty * (px - entry)
    fee = liquidation_fee_rate * abs(qty) * px
    cash += realised - fee
    bad = 0.0
    if cash < 0.0:
        bad = -cash
        cash = 0.0
    out_liqs[row, LIQ_BAR] = t
    out_liqs[row, LIQ_QTY] = qty
    out_liqs[row, LIQ_PRICE] = px
    out_liqs[row, LIQ_LOSS] = -realised
    out_liqs[row, LIQ_FEE] = fee
    out_liqs[row, LIQ_BAD_DEBT] = bad
    return cash, fee


def simulate_py(
    open_: Float64Array1D,
    high: Float64Array1D,
    low: Float64Array1D,
    close: Float64Array1D,
    volume: Float64Array1D,
    mark_open: Float64Array1D,
    mark_high: Float64Array1D,
    mark_low: Float64Array1D,
    mark_close: Float64Array1D,
    funding_rate: Float64Array1D,
    direction: Float64Array1D,
    target_leverage: Float64Array1D,
    initial_equity: float,
    taker_fee: float,
    slip_bps: float,
    impact_coef: float,
    margin_mode: int,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    mm_at_entry: bool,
    fee_in_mm: float,
    liquidation_fee_rate: float,
    rebalance_mode: int,
    band: float,
    min_trade: float,
    max_step: float,
    stop_loss: float,
    take_profit: float,
    liquidation_first: bool,
    cooldown_bars: int,
    out_bars: Float64Array2D,
    out_trades: Float64Array2D,
    out_liqs: Float64Array2D,
    out_counts: Int64Array1D,
) -> None:
    """Simulate one leveraged linear perpetual position bar by bar.

    Parameters
    ----------
    open_, high, low, close, volume : (N,) float64
        Last-price bars (quote per base; volume in base units).
    mark_open, mark_high, mark_low, mark_close : (N,) float64
        Mark-price bars (pass the last-price arrays when there is no mark data).
    funding_rate : (N,) float64
        Funding rate settled at bar ``t``'s open time; NaN where there is no settlement.
    direction : (N,) float64
        Side decided at bar ``t``'s close, in {-1, 0, +1} (NaN is 0).
    target_leverage : (N,) float64
        Target leverage (>= 0, NaN is 0) decided at bar ``t``'s close.
    initial_equity : float
        Starting wallet balance (settlement currency).
    taker_fee : float
        Taker fee rate on traded notional (every fill is a taker fill).
    slip_bps, impact_coef : float
        Slippage: fraction ``slip_bps / 1e4 + impact_coef * sqrt(|trade qty| / volume[t-1])``.
    margin_mode : int
        ``ISOLATED`` (0) or ``CROSS`` (1); identical with one instrument (see Notes).
    caps, mmrs, cums : (T,) float64
        Maintenance tier table of the instrument.
    mm_at_entry : bool
        Maintenance margin valued at the entry notional (Bybit, BitMEX).
    fee_in_mm : float
        Rate added to the maintenance rate at the liquidation price (OKX, Gate: the taker fee).
    liquidation_fee_rate : float
        Liquidation (clearance) fee rate on the notional at the liquidation fill price.
    rebalance_mode : int
        ``REBALANCE_BAND`` (0): trade towards the target with ``band``, ``min_trade`` and
        ``max_step`` (:func:`~levguard.kernels.sizing.rebalance_step`); ``REBALANCE_NEVER`` (1):
        trade only when the side changes (from flat, to flat or a reversal).
    stop_loss, take_profit : float
        Exit when the last price moves against / in favour of the entry price by this fraction
        (0 disables).
    liquidation_first : bool
        When a bar crosses both the liquidation price and a stop-loss/take-profit level, the
        liquidation happens first (conservative default True); False lets the stop fill first.
    cooldown_bars : int
        Bar opens skipped after a liquidation before a new position may be opened.
    out_bars : (N, N_BAR_COLS) float64
        Per bar at the close: equity (marked at ``mark_close``), qty, cash (wallet balance),
        leverage ``|qty| mark_close / equity``, funding paid, fees paid (taker + liquidation),
        liquidation price of the position held at the close.
    out_trades : (2 N, N_TRADE_COLS) float64
        Fills: bar, signed qty traded, fill price, fee, kind (0 rebalance, 1 stop, 2 take profit).
    out_liqs : (N, N_LIQ_COLS) float64
        Liquidations: bar, signed qty liquidated, price, loss, fee, bad debt.
    out_counts : (2,) int64
        Number of trade and liquidation rows written.

    Notes
    -----
    Order of events inside bar ``t``:

    1. Funding settles at the bar's open time on the position carried from ``t - 1``, at
       ``mark_open[t]``: cash changes by ``-qty * mark_open * rate`` (positive rate: longs pay).
    2. Gap liquidation: if ``mark_open[t]`` is already beyond the carried position's liquidation
       price, it is liquidated at ``mark_open[t]`` (the worse price) and the bar's order is
       cancelled.
    3. The order decided at ``t - 1``'s close fills at ``open[t] * (1 +- slippage)`` with the
       taker fee on the traded notional (skipped during a cooldown).  The target quantity is
       ``direction * leverage * equity[t-1] / close[t-1]`` (everything known at the decision);
       impact uses ``volume[t-1]`` for the same reason.
    4. Intrabar: the liquidation price ``LP`` is solved with
       :func:`~levguard.kernels.margin.solve_liquidation_price` (tier re-selection, or MM at
       entry; ``fee_in_mm``) for collateral = the wallet balance (cash).  The adverse mark
       extreme (``mark_low`` for longs, ``mark_high`` for shorts) crossing ``LP`` liquidates the
       whole position at ``LP`` with fee ``liquidation_fee_rate * |qty| * LP`` (no taker fee).
       Stop-loss/take-profit trigger on the last-price extremes and fill at their level (or at
       the open if it gapped past) with slippage and the taker fee; a stop-loss takes
       precedence over a take-profit in the same bar; ``liquidation_first`` orders them
       against a liquidation.  After a stop or take-profit no position is reopened until the
       signal changes side.
    5. If the wallet is negative after a liquidation, it is floored at 0 and the excess is bad
       debt (the venue's insurance fund pays it).  The run continues; a new position may open
       ``cooldown_bars`` bar opens after the liquidation bar.
    6. Equity is marked at ``mark_close[t]``: ``cash + qty * (mark_close - entry_price)``.

    One instrument: an isolated position is posted the whole wallet (the equity allocated to
    it) and funding and fees are drawn from that margin, so its collateral equals the cross
    wallet and both modes give the same path; ``margin_mode`` matters once several instruments
    share a wallet.  Only linear contracts are simulated (inverse: later).

    Money is conserved: ``equity_T - equity_0 = realised + unrealised PnL - fees - funding
    - liquidation fees + bad debt``.
    """
    n = open_.shape[0]
    zero_caps = np.full(1, np.inf)
    zero = np.zeros(1)
    cash = initial_equity
    qty = 0.0
    entry = 0.0
    n_trades = 0
    n_liqs = 0
    # Bar index from which a new position may open (after a liquidation).
    reopen_at = 0
    # Side stopped out by a stop-loss/take-profit: blocked until the signal leaves that side.
    blocked_side = 0.0
    _ = margin_mode  # one instrument: isolated == cross (see Notes)
    for t in range(n):
        funding_paid = 0.0
        fees_paid = 0.0
        liquidated = False
        # 1. Funding at the open.
        rate = funding_rate[t]
        if qty != 0.0 and not math.isnan(rate):
            pay = -qty * mark_open[t] * rate
            cash += pay
            funding_paid -= pay
        # 2. Gap liquidation of the carried position.
        if qty != 0.0:
            lp = liquidation_price(qty, entry, cash, fee_in_mm, mm_at_entry, caps, mmrs, cums, zero_caps, zero)
            mo = mark_open[t]
            gapped = (qty > 0.0 and mo <= lp) or (qty < 0.0 and mo >= lp) or not cash > 0.0
            if gapped:
                px = mo
                cash, fee = book_liquidation(t, qty, entry, px, cash, liquidation_fee_rate, out_liqs, n_liqs)
                n_liqs += 1
                fees_paid += fee
                qty = 0.0
                entry = 0.0
                liquidated = True
                reopen_at = t + 1 + cooldown_bars
        # 3. The order decided at t - 1's close.
        if t >= 1 and not liquidated and t >= reopen_at:
            d = direction[t - 1]
            side = 0.0
            if d > 0.0:
                side = 1.0
            elif d < 0.0:
                side = -1.0
            if blocked_side != 0.0 and side != blocked_side:
                blocked_side = 0.0
            if blocked_side != 0.0:
                side = 0.0
            lev = target_leverage[t - 1]
            if not (lev > 0.0 and math.isfinite(lev)):
                lev = 0.0
            px_dec = close[t - 1]
            eq_dec = out_bars[t - 1, BAR_EQUITY]
            new_qty = qty
            if not (eq_dec > 0.0 and px_dec > 0.0):
                new_qty = 0.0
            else:
                cur_side = 0.0
                if qty > 0.0:
                    cur_side = 1.0
                elif qty < 0.0:
                    cur_side = -1.0
                if side != cur_side:
                    new_qty = side * lev * eq_dec / px_dec
                elif side != 0.0 and rebalance_mode == REBALANCE_BAND:
                    cur_lev = abs(qty) * px_dec / eq_dec
                    held = rebalance_step(cur_lev, lev, eq_dec, band, min_trade, max_step)
                    if held != cur_lev:
                        new_qty = side * held * eq_dec / px_dec
            dq = new_qty - qty
            if dq != 0.0:
                slip = slippage_fraction(dq, volume[t - 1], slip_bps, impact_coef)
                px = open_[t] * (1.0 + slip) if dq > 0.0 else open_[t] * (1.0 - slip)
                fee = taker_fee * abs(dq) * px
                cash += _fill(qty, entry, dq, px) - fee
                entry = _new_entry(qty, entry, dq, px)
                qty = new_qty
                fees_paid += fee
                out_trades[n_trades, TRADE_BAR] = t
                out_trades[n_trades, TRADE_QTY] = dq
                out_trades[n_trades, TRADE_PRICE] = px
                out_trades[n_trades, TRADE_FEE] = fee
                out_trades[n_trades, TRADE_KIND] = KIND_REBALANCE
                n_trades += 1
        # 4. Intrabar liquidation, stop-loss and take-profit.
        if qty != 0.0:
            lp = liquidation_price(qty, entry, cash, fee_in_mm, mm_at_entry, caps, mmrs, cums, zero_caps, zero)
            if qty > 0.0:
                liq_hit = mark_low[t] <= lp
                sl_px = entry * (1.0 - stop_loss)
                tp_px = entry * (1.0 + take_profit)
                sl_hit = stop_loss > 0.0 and low[t] <= sl_px
                tp_hit = take_profit > 0.0 and high[t] >= tp_px
                sl_fill = min(open_[t], sl_px)
                tp_fill = max(open_[t], tp_px)
            else:
                liq_hit = mark_high[t] >= lp
                sl_px = entry * (1.0 + stop_loss)
                tp_px = entry * (1.0 - take_profit)
                sl_hit = stop_loss > 0.0 and high[t] >= sl_px
                tp_hit = take_profit > 0.0 and low[t] <= tp_px
                sl_fill = max(open_[t], sl_px)
                tp_fill = min(open_[t], tp_px)
            exit_hit = sl_hit or tp_hit
            if liq_hit and (liquidation_first or not exit_hit):
                # A position opened this bar beyond its own LP fills at the worse open mark.
                px = lp
                if (qty > 0.0 and mark_open[t] < lp) or (qty < 0.0 and mark_open[t] > lp):
                    px = mark_open[t]
                cash, fee = book_liquidation(t, qty, entry, px, cash, liquidation_fee_rate, out_liqs, n_liqs)
                n_liqs += 1
                fees_paid += fee
                qty = 0.0
                entry = 0.0
                reopen_at = t + 1 + cooldown_bars
            elif exit_hit:
                level = sl_fill if sl_hit else tp_fill
                kind = KIND_STOP_LOSS if sl_hit else KIND_TAKE_PROFIT
                dq = -qty
                ref_vol = volume[t - 1] if t >= 1 else math.nan
                slip = slippage_fraction(dq, ref_vol, slip_bps, impact_coef)
                px = level * (1.0 + slip) if dq > 0.0 else level * (1.0 - slip)
                fee = taker_fee * abs(dq) * px
                cash += qty * (px - entry) - fee
                fees_paid += fee
                out_trades[n_trades, TRADE_BAR] = t
                out_trades[n_trades, TRADE_QTY] = dq
                out_trades[n_trades, TRADE_PRICE] = px
                out_trades[n_trades, TRADE_FEE] = fee
                out_trades[n_trades, TRADE_KIND] = kind
                n_trades += 1
                blocked_side = 1.0 if qty > 0.0 else -1.0
                qty = 0.0
                entry = 0.0
        # 6. Mark to market at the close.
        mc = mark_close[t]
        equity = cash + qty * (mc - entry)
        out_bars[t, BAR_EQUITY] = equity
        out_bars[t, BAR_QTY] = qty
        out_bars[t, BAR_CASH] = cash
        lev_out = 0.0
        if qty != 0.0:
            lev_out = abs(qty) * mc / equity if equity > 0.0 else math.inf
        out_bars[t, BAR_LEVERAGE] = lev_out
        out_bars[t, BAR_FUNDING] = funding_paid
        out_bars[t, BAR_FEES] = fees_paid
        out_bars[t, BAR_LIQ_PRICE] = (
            liquidation_price(qty, entry, cash, fee_in_mm, mm_at_entry, caps, mmrs, cums, zero_caps, zero)
            if qty != 0.0
            else math.nan
        )
    out_counts[0] = n_trades
    out_counts[1] = n_liqs


@jitable
def _fill(qty: float, entry: float, dq: float, px: float) -> float:
    # Realised PnL of a fill of dq at px against a position qty held at average entry.
    if qty == 0.0 or qty * dq > 0.0:
        return 0.0
    closed = min(abs(dq), abs(qty))
    return (1.0 if qty > 0.0 else -1.0) * closed * (px - entry)


@jitable
def _new_entry(qty: float, entry: float, dq: float, px: float) -> float:
    # Average entry after the fill: weighted on increases, kept on reductions, px on reversals.
    new_qty = qty + dq
    if new_qty == 0.0:
        return 0.0
    if qty == 0.0 or qty * new_qty < 0.0:
        return px
    if qty * dq > 0.0:
        return (qty * entry + dq * px) / new_qty
    return entry


simulate_nb = jit(simulate_py)
