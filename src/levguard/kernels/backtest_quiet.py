"""Quiet stretches of a one-instrument backtest: bars on which nothing can happen but marking.

A bar is *quiet* when, after any funding settled on the open position, neither the liquidation
price nor a stop-loss or take-profit is crossed, no order changes the quantity and the account is not ruined
at the close.  Most bars of a sweep are quiet (a moving-average crossover changes side a few
hundred times in 50,000 bars).  :func:`quiet_stretch` runs them with the account held in scalars
and returns at the first bar that is not quiet, which :func:`levguard.kernels.backtest.simulate_py`
then runs through every step.  The test of each step is the full step's own predicate, so the
result is bit-identical to running every bar through the full steps (tested against the kernel
with the stretch turned off).
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jitable
from levguard.kernels.backtest_liquidation import Scratch, lp_memo, may_be_bankrupt, memo_holds
from levguard.kernels.backtest_orders import min_order_margin_at, path_cap, ruin_end, ruin_step
from levguard.kernels.backtest_records import (
    DUST_FRACTION,
    AccountOut,
    Book,
    ContractKind,
    MarginMode,
    Market,
    PositionsOut,
    RebalanceMode,
    Tiers,
)
from levguard.kernels.margin import position_notional, position_upnl
from levguard.typing import Float64Array1D, Float64Array2D

__all__ = ["quiet_stretch"]


@jitable
def quiet_stretch(
    t: int,
    market: Market,
    direction: Float64Array2D,
    target_leverage: Float64Array2D,
    inst: np.ndarray,
    cfg: np.void,
    tiers: Tiers,
    book: Book,
    scratch: Scratch,
    state: Float64Array1D,
    reopen_at: np.ndarray,
    out_acct: AccountOut,
    out_pos: PositionsOut,
) -> int:
    """Run the quiet bars of a one-instrument account from bar ``t``; return the first bar not run.

    Parameters
    ----------
    t : int
        First bar to try (the account is not ruined).
    market, direction, target_leverage, inst, cfg, out_acct, out_pos
        As for :func:`levguard.kernels.backtest.simulate_py` (``K = 1``).
    book : Book
        The account (wallet, quantity, entry, reference price); the wallet (funding settled) and
        ``ref_px`` (the mark close of the last bar run) are written.
    tiers : Tiers
        The tier rows (a funding payment moves the wallet, so the liquidation price is solved
        again through :func:`~levguard.kernels.backtest_liquidation.lp_memo`).
    scratch : Scratch
        The run's work arrays and liquidation-price memo; the stretch starts only where the memo
        holds (the quantity and entry do not change on a quiet bar, the wallet only by funding).
    state : (7,) float64
        ``idle`` capital, the minimum order margin's ``need`` and ``qty_need``, the stop block
        (+1/-1/0; cleared as the full step clears it), the equity and the peak equity at the
        previous close, the previous close's sleeve capital (the last three updated).
    reopen_at : (1,) int64
        First bar an order may be placed after a liquidation.
    out_acct, out_pos : AccountOut, PositionsOut
        Written for each bar run exactly as the full steps write them.

    Notes
    -----
    The predicates are those of ``simulate_py``'s steps 1-4 and 7: funding settles as step 1
    settles it when the bar's rate is not NaN (the liquidation price is then solved again for
    the new wallet); a long is liquidated when ``mark_open <= LP`` (gap) or ``mark_low <= LP``
    (intrabar), a short mirrored; stops on the last-price extremes; an order
    is placed when the side decided at ``t - 1`` differs from the position's (or a position is
    rebalanced, or closed because the capital cannot carry the venue's smallest order); ruin
    when the equity at the close is ``<= 0`` or below the minimum order margin or dust.  Any of
    them ends the stretch before anything of the bar is kept.
    """
    # The records' arrays bound once, in field order (as simulate_py binds them).
    _open, high, low, close, _volume, mark_open, mark_high, mark_low, mark_close, funding = market
    out_equity, out_cash, out_leverage, out_funding, out_fees = out_acct
    out_qty, out_entry, out_lev, out_lp, out_target, out_capital = out_pos
    n_t = close.shape[0]
    # One row per bar, or one row rewritten every bar (a sweep's, which keeps only statistics).
    row_step = 1 if out_qty.shape[0] == n_t else 0
    cash_step = 1 if out_cash.shape[0] == n_t else 0
    q = book.qty[0]
    en = book.entry[0]
    c = book.cash[0]
    m = scratch.memo[0]
    if not memo_holds(m, q, en, c):
        return t
    lp = m["lp"]
    kind = inst[0]["kind"]
    spot = kind == ContractKind.SPOT
    inverse = kind == ContractKind.INVERSE
    perp_open = q != 0.0 and not spot
    if perp_open and may_be_bankrupt(lp, m["coll"]):
        return t
    cross = cfg["margin_mode"] == MarginMode.CROSS
    never = cfg["rebalance"] == RebalanceMode.NEVER
    stop_loss = cfg["stop_loss"]
    take_profit = cfg["take_profit"]
    dust = DUST_FRACTION * cfg["initial_equity"]
    weight = inst[0]["weight"]
    idle, need, qty_need, blocked = state[0], state[1], state[2], state[3]
    eq_prev, peak, sleeve_prev = state[4], state[5], state[6]
    cur_side = 0.0
    if q > 0.0:
        cur_side = 1.0
    elif q < 0.0:
        cur_side = -1.0
    sl_px = en * (1.0 - stop_loss) if q > 0.0 else en * (1.0 + stop_loss)
    tp_px = en * (1.0 + take_profit) if q > 0.0 else en * (1.0 - take_profit)
    reopen = reopen_at[0]
    start = t
    while t < n_t:
        # Steps 1, 2 and 4: funding, gap and intrabar liquidation, stops.
        c_bar = c
        lp_bar = lp
        paid = 0.0
        if perp_open:
            rate = funding[t, 0]
            if not math.isnan(rate):
                # Settled as step 1 does; the wallet is restored if the bar turns out not quiet
                # (the full step settles it again, and finds the solved price in the memo).
                mo = mark_open[t, 0]
                base = q / mo if inverse else q * mo
                pay = -base * rate
                c_bar = c + pay
                paid = 0.0 - pay
                book.cash[0] = c_bar
                lp_bar, coll = lp_memo(0, cross, book, inst, tiers, scratch)
                book.cash[0] = c
                if may_be_bankrupt(lp_bar, coll):
                    break
            if q > 0.0:
                if mark_open[t, 0] <= lp_bar or mark_low[t, 0] <= lp_bar:
                    break
            elif mark_open[t, 0] >= lp_bar or mark_high[t, 0] >= lp_bar:
                break
        if q > 0.0:
            if (stop_loss > 0.0 and low[t, 0] <= sl_px) or (take_profit > 0.0 and high[t, 0] >= tp_px):
                break
        elif q < 0.0 and ((stop_loss > 0.0 and high[t, 0] >= sl_px) or (take_profit > 0.0 and low[t, 0] <= tp_px)):
            break
        # Step 3: the target leverage recorded, and no order.
        lev = 0.0
        new_blocked = blocked
        if t >= 1:
            lev = target_leverage[t - 1, 0]
            if not lev > 0.0:
                lev = 0.0
            lev = min(lev, path_cap(cfg, eq_prev, peak))
            if not math.isfinite(lev):
                lev = 0.0
            if spot:
                lev = min(lev, 1.0)
            if t >= reopen:
                d = direction[t - 1, 0]
                side = 0.0
                if d > 0.0:
                    side = 1.0
                elif d < 0.0 and not spot:
                    side = -1.0
                if new_blocked != 0.0 and side != new_blocked:
                    new_blocked = 0.0
                if new_blocked != 0.0:
                    side = 0.0
                px_dec = close[t - 1, 0]
                if not (sleeve_prev > 0.0 and px_dec > 0.0) or sleeve_prev < min_order_margin_at(
                    need, qty_need, inverse, px_dec
                ):
                    if q != 0.0:
                        break
                elif side != cur_side or (side != 0.0 and not never):
                    break
        # Step 6: marked at the close.
        mc = mark_close[t, 0]
        gross = 0.0
        wallet = idle + c_bar
        equity = wallet
        if q != 0.0:
            gross += position_notional(q, mc, inverse)
            equity += position_upnl(q, en, mc, inverse)
        # Step 7: a ruin is run by the full steps.
        floor = ruin_step(math.inf, min_order_margin_at(need, qty_need, inverse, close[t, 0]))
        if equity <= 0.0 or equity < max(ruin_end(floor), dust):
            break
        blocked = new_blocked
        c = c_bar
        lp = lp_bar
        r = t * row_step
        out_target[r, 0] = lev
        out_equity[t] = equity
        out_cash[t * cash_step] = wallet
        lev_acct = 0.0
        if gross > 0.0:
            lev_acct = gross / equity if equity > 0.0 else math.inf
        out_leverage[t] = lev_acct
        out_funding[t] = paid
        out_fees[t] = 0.0
        out_qty[r, 0] = q
        out_entry[r, 0] = en
        lev_k = 0.0
        if q != 0.0:
            lev_k = position_notional(q, mc, inverse) / equity if equity > 0.0 else math.inf
        out_lev[r, 0] = lev_k
        out_lp[r, 0] = lp
        if cross:
            sleeve = weight * equity
        else:
            sleeve = c
            if q != 0.0:
                sleeve += position_upnl(q, en, mc, inverse)
        out_capital[r, 0] = sleeve
        sleeve_prev = sleeve
        eq_prev = equity
        peak = max(peak, equity)
        t += 1
    if t > start:
        book.cash[0] = c
        book.ref_px[0] = mark_close[t - 1, 0]
        state[3] = blocked
        state[4] = eq_prev
        state[5] = peak
        state[6] = sleeve_prev
    return t
