"""Event-driven backtest kernel: K instruments sharing one account, bar by bar, with venue-exact
liquidation; and the sweep kernel that runs many configurations in parallel.

Written once in plain Python (:func:`simulate_py`, :func:`sweep_py`) and compiled by numba
(:data:`simulate_nb`, :data:`sweep_nb`).  The pandas-facing wrappers are
:func:`levguard.backtest.engine.run` and :func:`levguard.backtest.sweeps.sweep`.

Inputs and outputs are records (:mod:`levguard.kernels.backtest_records`): the bars as a
:class:`Market` of (T, K) arrays, per-instrument settings as an ``INST_DTYPE`` array, the tier
rows as :class:`Tiers`, the account settings as a ``CONFIG_DTYPE`` record; per-bar results in an
:class:`AccountOut` and a :class:`PositionsOut`, events in ``TRADE_DTYPE`` and ``LIQ_DTYPE``
arrays, and the counts returned as :class:`Counts`.  Liquidation events are
:mod:`levguard.kernels.backtest_liquidation`, the statistics of a run
:mod:`levguard.kernels.backtest_metrics`.

Failure is a value: the kernel never raises; NaN inputs are skipped as documented.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jit, jitable
from levguard.kernels.backtest_liquidation import (
    Scratch,
    bankrupt_at,
    clear_memo,
    left_bankrupt,
    liquidate,
    liquidation_price,
    lp_crossed,
    lp_memo,
    maintenance,
    may_be_bankrupt,
    memo_holds,
    settle_bad_debt,
)
from levguard.kernels.backtest_metrics import STATS_DTYPE
from levguard.kernels.backtest_orders import (
    below_minimum,
    caps_at,
    fill_pnl,
    initial_margin,
    margin_left,
    max_notional_for_margin,
    min_order_margin,
    min_order_margin_at,
    min_order_margin_quote,
    min_order_qty_margin,
    new_entry,
    path_cap,
    position_limit,
    record_trade,
    ruin_end,
    ruin_step,
    ruin_threshold,
    slippage_fraction,
    slipped_price,
    stop_first,
    traded_notional,
    write_ruined,
)
from levguard.kernels.backtest_quiet import quiet_stretch
from levguard.kernels.backtest_records import (
    CONFIG_DTYPE,
    DUST_FRACTION,
    INST_DTYPE,
    LIQ_DTYPE,
    MEMO_DTYPE,
    N_RESTORE_GRID,
    TRADE_DTYPE,
    AccountOut,
    Book,
    ContractKind,
    Counts,
    Execution,
    LiqState,
    MarginMode,
    Market,
    PositionsOut,
    RebalanceMode,
    Tiers,
    TradeKind,
    liq_capacity,
    trade_capacity,
)
from levguard.kernels.margin import position_notional, position_upnl
from levguard.kernels.sizing import rebalance_step
from levguard.typing import Float64Array2D

__all__ = [
    "CONFIG_DTYPE",
    "DUST_FRACTION",
    "INST_DTYPE",
    "LIQ_DTYPE",
    "N_RESTORE_GRID",
    "STATS_DTYPE",
    "TRADE_DTYPE",
    "AccountOut",
    "ContractKind",
    "Counts",
    "Execution",
    "MarginMode",
    "Market",
    "PositionsOut",
    "RebalanceMode",
    "Tiers",
    "TradeKind",
    "initial_margin",
    "liq_capacity",
    "liquidation_price",
    "maintenance",
    "max_notional_for_margin",
    "min_order_margin",
    "path_cap",
    "ruin_threshold",
    "simulate_nb",
    "simulate_py",
    "slippage_fraction",
    "trade_capacity",
    "traded_notional",
]

# Enum values under their former module-level names (deprecated: use the enum records), served
# by __getattr__: each enum's field names, RebalanceMode's prefixed REBALANCE_, TradeKind's KIND_.
_FORMER_NAMES: dict[str, int] = {
    prefix + name: getattr(enum, name)
    for enum, prefix in (
        (ContractKind, ""),
        (MarginMode, ""),
        (RebalanceMode, "REBALANCE_"),
        (Execution, ""),
        (TradeKind, "KIND_"),
    )
    for name in enum._fields
}


@jitable
def simulate_py(
    market: Market,
    direction: Float64Array2D,
    target_leverage: Float64Array2D,
    inst: np.ndarray,
    tiers: Tiers,
    cfg: np.void,
    out_acct: AccountOut,
    out_pos: PositionsOut,
    out_trades: np.ndarray,
    out_liqs: np.ndarray,
) -> Counts:
    """Simulate K leveraged instruments in one account, bar by bar.

    Parameters
    ----------
    market : Market
        Per bar and instrument, (T, K) each: last-price open, high, low, close, volume (in the
        instrument's quantity units: base for linear and spot, quote for inverse), mark open,
        high, low, close (pass the last prices when there is no mark data) and the funding rate
        settled at the bar's open time (NaN: no settlement).
    direction : (T, K) float64
        Side decided at bar ``t``'s close, in {-1, 0, +1} (NaN is 0; spot legs ignore -1).
    target_leverage : (T, K) float64
        Target leverage of each instrument on its capital (>= 0; NaN is 0; spot legs at most 1).
    inst : (K,) INST_DTYPE
        Per instrument: contract kind (:data:`ContractKind`: ``LINEAR``; ``INVERSE``, quantity
        in quote units, PnL in the base coin; ``SPOT``, fully paid, no funding, never
        liquidated), capital weight, taker and maker fee rates, liquidation fee rate, rate added
        to maintenance (OKX, Gate), maintenance valued at entry (Bybit, BitMEX), the rows of its
        tiers, the venue's minimum order notional and its liquidation rule (the ``N_RULE``
        entries of :mod:`levguard.kernels.liquidation`).
    tiers : Tiers
        Tier rows: cap (settlement-currency notional), maintenance rate, amount, max leverage.
    cfg : CONFIG_DTYPE record
        Account settings (see :data:`CONFIG_DTYPE` and :func:`levguard.backtest.engine.run`).
    out_acct : AccountOut
        Per bar at the close: equity (marked at the mark close), wallet balance, gross leverage
        (sum of notionals over equity), funding paid, fees paid (taker, maker, liquidation).
    out_pos : PositionsOut
        Per bar and instrument: signed quantity, entry price, leverage (notional over account
        equity), liquidation price (NaN when flat), the target leverage used at the bar's
        open, and the capital allocated to the instrument (its weight of the account equity,
        or its isolated sleeve's equity).
    out_trades : (trade_capacity(T, K),) TRADE_DTYPE
        Fills: bar, instrument, signed qty, price, fee, kind (:data:`TradeKind`).
    out_liqs : (liq_capacity(T, K),) LIQ_DTYPE
        Liquidations: bar, instrument, signed qty, price, loss, fee, bad debt, margin before,
        margin kept, partial flag, takeover flag.

    Returns
    -------
    Counts
        Rows written to ``out_trades`` and ``out_liqs``, orders clipped by the initial-margin
        check, limit orders left unfilled, the ruin bar (-1: never ruined) and orders below
        the venue's minimum.

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
       maximum leverage; the others' initial margin counted in cross) fits the capital, and
       at most the last tier's published cap (``max_position``).  An order whose opening part
       is below the venue's smallest order at ``close[t-1]`` (:func:`below_minimum`) is skipped,
       a reversal's cut to its close, and counted (``Counts.below_min``); reductions pass.
       ``MARKET``: fills at ``open[t] * (1 +- slippage)`` with the taker fee, slippage
       ``slip_bps / 1e4 + impact * sqrt(|dq| / volume[t-1])``, bounded by bar ``t``'s traded
       range (a buy pays at most ``high[t]``, a sell gets at least ``low[t]``:
       :func:`~levguard.kernels.backtest_orders.slipped_price`).  ``LIMIT``: a limit order at
       ``close[t-1] * (1 -+ offset)`` fills at its limit with the maker fee when the bar trades
       at or through it (buy: ``low <= limit``), else it expires unfilled.
    4. Intrabar, repeatedly until nothing happens: each position's liquidation price ``LP`` is
       solved (tier re-selection or MM at entry; in cross the others at ``mark_open``); a
       stop-loss/take-profit hit on the last-price extremes fills at its level (or the open if
       it gapped past) with slippage, bounded by the bar's ``[low, high]``, and the taker fee;
       when a liquidation is crossed in the same bar it comes first if ``liquidation_first``,
       else a take-profit, or a stop-loss whose level lies before the liquidation price on the
       adverse move, fills first;
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
       balance is set to 0 and recorded as bad debt too (after a liquidation, a trade or the
       ruin closes; a trade's on a settlement row: quantity 0 at the trade's price); in cross
       margin spot legs (collateral) are sold first when they cannot cover it.  An instrument
       may reopen ``cooldown`` bar opens after a liquidation.
    6. Equity is marked at each ``mark_close``: ``wallets + sum of uPnL``.
    7. Ruin: when the equity at the close is <= 0 or below :func:`ruin_threshold` (the initial
       margin of the venue's smallest order) or below ``DUST_FRACTION`` (1e-6) of the initial
       equity (where no minimum order is known, a wiped-out run must not trade dust), the
       positions left are closed at the bar's last close with the taker fee (trade kind
       ``TradeKind.RUIN``), the bar is returned as ``Counts.ruin_bar`` and the account
       stops: later bars repeat the equity left, with no funding, fees or trades.

    Money is conserved: ``equity_T - equity_0 = realised + unrealised PnL - fees - funding
    - liquidation fees + bad debt`` (a takeover's clearance is in the liquidation fees).
    """
    # The records' arrays bound once (unpacked in field order): numba pays a reference count each
    # time an array is taken out of a NamedTuple, so the loop reads locals.
    open_, high, low, close, volume, mark_open, mark_high, mark_low, mark_close, funding = market
    out_equity, out_cash, out_leverage, out_funding, out_fees = out_acct
    out_qty, out_entry, out_lev, out_lp, out_target, out_capital = out_pos
    n_t = close.shape[0]
    n_inst = close.shape[1]
    cross = cfg["margin_mode"] == MarginMode.CROSS
    equity0 = cfg["initial_equity"]
    never = cfg["rebalance"] == RebalanceMode.NEVER
    band = cfg["band"]
    min_trade = cfg["min_trade"]
    max_step = cfg["max_step"]
    stop_loss = cfg["stop_loss"]
    take_profit = cfg["take_profit"]
    liquidation_first = cfg["liquidation_first"]
    cooldown = cfg["cooldown"]
    limit_exec = cfg["execution"] == Execution.LIMIT
    limit_offset = cfg["limit_offset"]
    check_im = cfg["check_im"]

    cash = np.zeros(n_inst)
    if cross:
        cash[0] = equity0
    else:
        for k in range(n_inst):
            cash[k] = equity0 * inst[k]["weight"]
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
        sleeve_prev[k] = equity0 * inst[k]["weight"]
    liq_this_bar = np.zeros(n_inst, dtype=np.bool_)
    # Liquidation state of each instrument within the bar (LiqState).
    liq_state = np.zeros(n_inst, dtype=np.int64)
    last_liq_row = np.full(n_inst, -1, dtype=np.int64)
    memo = np.empty(n_inst, dtype=MEMO_DTYPE)
    for k in range(n_inst):
        clear_memo(memo[k])
    book = Book(cash, qty, entry, ref_px)
    scratch = Scratch(np.full(1, np.inf), np.zeros(1), memo)
    # The every-bar path calls no helper that takes the book, the instruments or the tiers: such a
    # call counts references on each of their arrays (and the instruments and tiers are shared by
    # the sweep's threads, so each count moves a cache line between cores).  The liquidation-price
    # memo is read here (lp_memo only on a miss), bankruptcy is asked of bankrupt_at only when it
    # can be, and the venue's minimum order margin is computed once (divided by the price per bar
    # for inverse contracts, as min_order_margin does).
    memo_on = not (cross and n_inst > 1)
    min_quote = np.zeros(n_inst)
    min_qty_need = np.zeros(n_inst)
    inverse_k = np.zeros(n_inst, dtype=np.bool_)
    for k in range(n_inst):
        min_quote[k] = min_order_margin_quote(inst, tiers, k)
        min_qty_need[k] = min_order_qty_margin(inst, tiers, k)
        inverse_k[k] = inst[k]["kind"] == ContractKind.INVERSE
    n_trades = 0
    n_liqs = 0
    n_clipped = 0
    n_unfilled = 0
    n_small = 0
    ruin_bar = -1
    peak = max(equity0, cfg["peak0"])  # a walk-forward window carries the stitched account's peak
    eq_prev = equity0
    # One instrument: quiet stretches run in quiet_stretch (exact; see its module).  After a try
    # that ran nothing the next one waits twice as long (at most 32 bars), so an account that
    # trades every bar pays its calls rarely.
    stretch = n_inst == 1
    state = np.zeros(7)
    skip_to = 0
    try_at = 0
    wait = 1
    # A sweep keeps only the statistics: its per-bar position and cash outputs may have one row,
    # rewritten every bar, instead of one row per bar.
    row_step = 1 if out_qty.shape[0] == n_t else 0
    cash_step = 1 if out_cash.shape[0] == n_t else 0
    for t in range(n_t):
        if t < skip_to:
            continue
        r = t * row_step
        rc = t * cash_step
        funding_paid = 0.0
        fees_paid = 0.0
        if stretch and t >= try_at:
            state[0] = idle
            state[1] = min_quote[0]
            state[2] = min_qty_need[0]
            state[3] = blocked[0]
            state[4] = eq_prev
            state[5] = peak
            state[6] = sleeve_prev[0]
            end = quiet_stretch(
                t,
                market,
                direction,
                target_leverage,
                inst,
                cfg,
                tiers,
                book,
                scratch,
                state,
                reopen_at,
                out_acct,
                out_pos,
            )
            if end > t:
                blocked[0] = state[3]
                eq_prev = state[4]
                peak = state[5]
                sleeve_prev[0] = state[6]
                skip_to = end
                try_at = end + 1
                wait = 1
                continue
            try_at = t + wait
            wait = min(2 * wait, 32)
        for k in range(n_inst):
            liq_this_bar[k] = False
            liq_state[k] = LiqState.NONE
            ref_px[k] = mark_open[t, k]
        # 1. Funding at the open.
        for k in range(n_inst):
            rate = funding[t, k]
            kind = inst[k]["kind"]
            if qty[k] != 0.0 and kind != ContractKind.SPOT and not math.isnan(rate):
                mo = mark_open[t, k]
                base = qty[k] / mo if kind == ContractKind.INVERSE else qty[k] * mo
                pay = -base * rate
                w = 0 if cross else k
                cash[w] += pay
                funding_paid -= pay
        # 2. Gap liquidations of the carried positions (repeated: in cross each changes the rest;
        # a partial liquidation may leave a position still beyond, liquidated whole next).
        for _ in range(2 * n_inst + 1):
            hit = -1
            for k in range(n_inst):
                if qty[k] == 0.0 or inst[k]["kind"] == ContractKind.SPOT or liq_state[k] == LiqState.RESTORED_AT_GAP:
                    continue
                m = memo[k]
                if memo_on and memo_holds(m, qty[k], entry[k], cash[0 if cross else k]):
                    lp, coll = m["lp"], m["coll"]
                else:
                    lp, coll = lp_memo(k, cross, book, inst, tiers, scratch)
                mo = mark_open[t, k]
                if lp_crossed(qty[k], mo, lp, inst[k]["strict"]) or (
                    may_be_bankrupt(lp, coll) and bankrupt_at(k, lp, coll, mo, cross, book, inst, tiers)
                ):
                    hit = k
                    break
            if hit < 0:
                break
            k = hit
            w = 0 if cross else k
            mo = mark_open[t, k]
            written, fee = liquidate(t, k, mo, mo, cross, book, inst, tiers, liq_state, out_liqs, n_liqs)
            if int(inst[k]["rule"][kl.RULE_PARTIAL]) == kl.PARTIAL_RESTORE and qty[k] != 0.0:
                liq_state[k] = LiqState.RESTORED_AT_GAP
            fees_paid += fee
            liq_this_bar[k] = True
            reopen_at[k] = t + 1 + cooldown
            if written > 1:
                # A cross takeover closed the whole account: nothing reopens this bar.
                for j in range(n_inst):
                    liq_this_bar[j] = True
                    reopen_at[j] = max(reopen_at[j], t + 1 + cooldown)
            n_liqs, extra_fees = _settle_wallet(t, w, k, mo, written, cross, book, inst, out_liqs, n_liqs, last_liq_row)
            fees_paid += extra_fees
        # 3. The orders decided at t - 1's close.
        cap = math.inf
        if t >= 1:
            cap = path_cap(cfg, eq_prev, peak)
        for k in range(n_inst):
            kind = inst[k]["kind"]
            inverse = kind == ContractKind.INVERSE
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
                if kind == ContractKind.SPOT:
                    lev = min(lev, 1.0)
            out_target[r, k] = lev
            if t < 1 or liq_this_bar[k] or t < reopen_at[k]:
                continue
            d = direction[t - 1, k]
            side = 0.0
            if d > 0.0:
                side = 1.0
            elif d < 0.0 and kind != ContractKind.SPOT:
                side = -1.0
            if blocked[k] != 0.0 and side != blocked[k]:
                blocked[k] = 0.0
            if blocked[k] != 0.0:
                side = 0.0
            px_dec = close[t - 1, k]
            eq_dec = sleeve_prev[k]
            new_qty = qty[k]
            if not (eq_dec > 0.0 and px_dec > 0.0) or eq_dec < min_order_margin_at(
                min_quote[k], min_qty_need[k], inverse, px_dec
            ):
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
                    # min_trade is a notional in the quote currency (USD): a coin equity at the mark.
                    eq_quote = eq_dec * px_dec if inverse else eq_dec
                    held = rebalance_step(cur_lev, lev, eq_quote, band, min_trade, max_step)
                    if held != cur_lev:
                        new_qty = side * held * unit
                if (
                    check_im
                    and kind != ContractKind.SPOT
                    and abs(new_qty) > abs(qty[k]) * (1.0 if qty[k] * new_qty > 0.0 else 0.0)
                ):
                    a = inst[k]["tier_start"]
                    b = inst[k]["tier_stop"]
                    avail = margin_left(eq_prev, k, qty, close[t - 1], inst, tiers) if cross else eq_dec
                    caps_k = caps_at(tiers.cap[a:b], inst[k]["by_size"], inverse, px_dec, abs(new_qty))
                    # Deribit's rate grows with the size: per unit of notional, |q| = n / price
                    # (inverse: n x price).
                    per_n = inst[k]["size_coef"] * (px_dec if inverse else 1.0 / px_dec)
                    n_max = max_notional_for_margin(
                        avail, caps_k, tiers.max_lev[a:b], inst[k]["fee_in_im"], per_n, inst[k]["lev_cap_excl"]
                    )
                    n_max = position_limit(n_max, inst[k], inverse, px_dec)
                    # Past the limit by more than rounding (1e-12 relative, as tier caps are
                    # compared in kernels.margin): a clip counted in orders_clipped.
                    if position_notional(new_qty, px_dec, inverse) > n_max * (1.0 + 1e-12):
                        q_max = n_max * px_dec if inverse else n_max / px_dec
                        if inst[k]["by_size"]:  # a clip to a tier's cap stays in that tier
                            q_max = kl.size_in_lower_tier(q_max, tiers.cap[a:b])
                            if inst[k]["max_position"] > 0.0:
                                q_max = min(q_max, inst[k]["max_position"])
                        if qty[k] * new_qty > 0.0:
                            # A refused increase leaves the position as it is: venues check the
                            # initial margin on the order, they do not cut what is already held.
                            q_max = max(q_max, abs(qty[k]))
                        new_qty = math.copysign(q_max, new_qty)
                        n_clipped += 1
            if below_minimum(inst[k], qty[k], new_qty, inverse, px_dec):
                # The venue refuses what opens less than its smallest order; a reduction passes.
                n_small += 1
                if qty[k] * new_qty >= 0.0:
                    continue
                new_qty = 0.0  # a reversal: its closing part alone
            dq = new_qty - qty[k]
            if dq == 0.0:
                continue
            if limit_exec:
                limit = px_dec * (1.0 - limit_offset) if dq > 0.0 else px_dec * (1.0 + limit_offset)
                touched = low[t, k] <= limit if dq > 0.0 else high[t, k] >= limit
                if not touched:
                    n_unfilled += 1
                    continue
                px = limit
                fee = inst[k]["maker"] * position_notional(dq, px, inverse)
                trade_kind = TradeKind.LIMIT
            else:
                px = slipped_price(open_[t, k], dq, volume[t - 1, k], cfg, low[t, k], high[t, k])
                fee = inst[k]["taker"] * position_notional(dq, px, inverse)
                trade_kind = TradeKind.REBALANCE
            if qty[k] * new_qty < 0.0:
                rate = inst[k]["maker"] if limit_exec else inst[k]["taker"]
                closed = cash[w] + fill_pnl(qty[k], entry[k], -qty[k], px, inverse)
                if left_bankrupt(w, k, cross, closed - rate * position_notional(qty[k], px, inverse), book, inst):
                    # A reversal whose closing part leaves the wallet to be settled as bad debt
                    # (a gap beyond the bankruptcy price; no other perpetual held) opens nothing:
                    # the new side's margin is checked on what is left. It closes (step 5).
                    new_qty, dq = 0.0, -qty[k]
                    if not limit_exec:
                        px = slipped_price(open_[t, k], dq, volume[t - 1, k], cfg, low[t, k], high[t, k])
                    fee = rate * position_notional(dq, px, inverse)
            cash[w] += fill_pnl(qty[k], entry[k], dq, px, inverse) - fee
            entry[k] = new_entry(qty[k], entry[k], dq, px, inverse)
            qty[k] = new_qty
            fees_paid += fee
            record_trade(out_trades, n_trades, t, k, dq, px, fee, trade_kind)
            n_trades += 1
            if cash[w] < 0.0 and new_qty == 0.0:  # closed beyond the bankruptcy price: step 5
                n_liqs, extra_fees = _settle_wallet(t, w, k, px, 0, cross, book, inst, out_liqs, n_liqs, last_liq_row)
                fees_paid += extra_fees
        # 4. Intrabar liquidations, stop-losses and take-profits, until nothing happens.
        for _ in range(4 * n_inst + 2):
            acted = False
            best = -1
            best_dist = math.inf
            best_lp = math.nan
            for k in range(n_inst):
                if qty[k] == 0.0:
                    continue
                kind = inst[k]["kind"]
                inverse = kind == ContractKind.INVERSE
                lp = math.nan
                broke = False
                if kind != ContractKind.SPOT and liq_state[k] != LiqState.WALKED:
                    m = memo[k]
                    if memo_on and memo_holds(m, qty[k], entry[k], cash[0 if cross else k]):
                        lp, coll = m["lp"], m["coll"]
                    else:
                        lp, coll = lp_memo(k, cross, book, inst, tiers, scratch)
                    # Liquidatable at every price (no liquidation price and the margin balance at
                    # the open mark within maintenance): liquidated at the open mark.
                    broke = may_be_bankrupt(lp, coll) and bankrupt_at(
                        k, lp, coll, mark_open[t, k], cross, book, inst, tiers
                    )
                    if broke:
                        lp = mark_open[t, k]
                o = open_[t, k]
                if qty[k] > 0.0:
                    liq_hit = broke or lp_crossed(qty[k], mark_low[t, k], lp, inst[k]["strict"])
                    sl_px = entry[k] * (1.0 - stop_loss)
                    tp_px = entry[k] * (1.0 + take_profit)
                    sl_hit = stop_loss > 0.0 and low[t, k] <= sl_px
                    tp_hit = take_profit > 0.0 and high[t, k] >= tp_px
                    sl_fill = min(o, sl_px)
                    tp_fill = max(o, tp_px)
                else:
                    liq_hit = broke or lp_crossed(qty[k], mark_high[t, k], lp, inst[k]["strict"])
                    sl_px = entry[k] * (1.0 + stop_loss)
                    tp_px = entry[k] * (1.0 - take_profit)
                    sl_hit = stop_loss > 0.0 and high[t, k] >= sl_px
                    tp_hit = take_profit > 0.0 and low[t, k] <= tp_px
                    sl_fill = max(o, sl_px)
                    tp_fill = min(o, tp_px)
                exit_hit = sl_hit or tp_hit
                # Both crossed: a stop between the open and the LP fills first (stop_first); else liquidation
                # first when asked; else a stop-loss first if its level lies before the LP on the adverse move.
                sl_first = liq_hit and sl_hit and not broke and stop_first(qty[k] > 0.0, sl_px, lp, market, t, k)
                beyond = sl_hit and ((qty[k] > 0.0 and sl_px < lp) or (qty[k] < 0.0 and sl_px > lp))
                liq_wins = liq_hit and not sl_first and (liquidation_first or beyond)
                if exit_hit and not liq_wins:
                    level = sl_fill if sl_hit else tp_fill
                    trade_kind = TradeKind.STOP_LOSS if sl_hit else TradeKind.TAKE_PROFIT
                    dq = -qty[k]
                    px = slipped_price(level, dq, volume[t - 1, k] if t >= 1 else math.nan, cfg, low[t, k], high[t, k])
                    fee = inst[k]["taker"] * position_notional(dq, px, inverse)
                    w = 0 if cross else k
                    cash[w] += position_upnl(qty[k], entry[k], px, inverse) - fee
                    fees_paid += fee
                    record_trade(out_trades, n_trades, t, k, dq, px, fee, trade_kind)
                    n_trades += 1
                    blocked[k] = 1.0 if qty[k] > 0.0 else -1.0
                    qty[k] = 0.0
                    entry[k] = 0.0
                    acted = True
                    if cash[w] < 0.0:  # filled beyond the bankruptcy price: step 5
                        n_liqs, fee = _settle_wallet(t, w, k, px, 0, cross, book, inst, out_liqs, n_liqs, last_liq_row)
                        fees_paid += fee
                elif liq_hit:
                    dist = abs(lp / mark_open[t, k] - 1.0)
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
            mo = mark_open[t, k]
            if (qty[k] > 0.0 and mo < px) or (qty[k] < 0.0 and mo > px):
                px = mo
            extreme = mark_low[t, k] if qty[k] > 0.0 else mark_high[t, k]
            restore = int(inst[k]["rule"][kl.RULE_PARTIAL]) == kl.PARTIAL_RESTORE
            written, fee = liquidate(t, k, px, extreme, cross, book, inst, tiers, liq_state, out_liqs, n_liqs)
            if restore:
                liq_state[k] = LiqState.WALKED
            fees_paid += fee
            reopen_at[k] = t + 1 + cooldown
            if written > 1:
                for j in range(n_inst):
                    reopen_at[j] = max(reopen_at[j], t + 1 + cooldown)
            n_liqs, extra_fees = _settle_wallet(t, w, k, px, written, cross, book, inst, out_liqs, n_liqs, last_liq_row)
            fees_paid += extra_fees
        # 6. Mark to market at the close.
        equity = 0.0
        wallet = idle
        gross = 0.0
        for k in range(n_inst):
            wallet += cash[k]
        for k in range(n_inst):
            mc = mark_close[t, k]
            ref_px[k] = mc
            inverse = inst[k]["kind"] == ContractKind.INVERSE
            if qty[k] != 0.0:
                gross += position_notional(qty[k], mc, inverse)
        equity = wallet
        for k in range(n_inst):
            if qty[k] != 0.0:
                equity += position_upnl(qty[k], entry[k], mark_close[t, k], inst[k]["kind"] == ContractKind.INVERSE)
        out_equity[t] = equity
        out_cash[rc] = wallet
        lev_acct = 0.0
        if gross > 0.0:
            lev_acct = gross / equity if equity > 0.0 else math.inf
        out_leverage[t] = lev_acct
        out_funding[t] = funding_paid
        out_fees[t] = fees_paid
        for k in range(n_inst):
            kind = inst[k]["kind"]
            inverse = kind == ContractKind.INVERSE
            mc = mark_close[t, k]
            out_qty[r, k] = qty[k]
            out_entry[r, k] = entry[k]
            lev_k = 0.0
            if qty[k] != 0.0:
                lev_k = position_notional(qty[k], mc, inverse) / equity if equity > 0.0 else math.inf
            out_lev[r, k] = lev_k
            m = memo[k]
            if memo_on and memo_holds(m, qty[k], entry[k], cash[0 if cross else k]):
                lp = m["lp"]
            else:
                lp, _coll = lp_memo(k, cross, book, inst, tiers, scratch)
            out_lp[r, k] = lp
            if cross:
                sleeve = inst[k]["weight"] * equity
            else:
                sleeve = cash[k]
                if qty[k] != 0.0:
                    sleeve += position_upnl(qty[k], entry[k], mc, inverse)
            out_capital[r, k] = sleeve
            sleeve_prev[k] = sleeve
        eq_prev = equity
        peak = max(peak, equity)
        # 7. Ruin: the account can no longer open the smallest order of its venue.
        # ruin_threshold(inst, tiers, close[t]) from the margins computed once.
        floor = math.inf
        for k in range(n_inst):
            floor = ruin_step(floor, min_order_margin_at(min_quote[k], min_qty_need[k], inverse_k[k], close[t, k]))
        if equity <= 0.0 or equity < max(ruin_end(floor), DUST_FRACTION * equity0):
            ruin_bar = t
            ruin_fees = 0.0
            for k in range(n_inst):
                if qty[k] != 0.0:
                    inverse = inst[k]["kind"] == ContractKind.INVERSE
                    px = close[t, k]
                    dq = -qty[k]
                    fee = inst[k]["taker"] * position_notional(dq, px, inverse)
                    w = 0 if cross else k
                    cash[w] += position_upnl(qty[k], entry[k], px, inverse) - fee
                    ruin_fees += fee
                    record_trade(out_trades, n_trades, t, k, dq, px, fee, TradeKind.RUIN)
                    n_trades += 1
                    qty[k] = 0.0
                    entry[k] = 0.0
            for w in range(n_inst):
                if cash[w] < 0.0:  # the closes left a negative balance: bad debt (step 5)
                    px = close[t, w]
                    n_liqs, _f = _settle_wallet(t, w, w, px, 0, cross, book, inst, out_liqs, n_liqs, last_liq_row)
            write_ruined(t, fees_paid + ruin_fees, cross, idle, cash, inst, out_acct, out_pos)
            break
    return Counts(n_trades, n_liqs, n_clipped, n_unfilled, ruin_bar, n_small)


@jitable
def _settle_wallet(
    t: int,
    w: int,
    k: int,
    px: float,
    written: int,
    cross: bool,
    book: Book,
    inst: np.ndarray,
    out_liqs: np.ndarray,
    n_liqs: int,
    last_liq_row: np.ndarray,
) -> tuple[int, float]:
    """Count the ``written`` rows a liquidation of wallet ``w`` wrote from row ``n_liqs`` (0 after
    a trade of instrument ``k`` at ``px``), then settle the wallet's bad debt
    (:func:`~levguard.kernels.backtest_liquidation.settle_bad_debt`: on the liquidation's row, or
    a settlement row of ``k`` at ``px``); ``last_liq_row[w]`` follows the wallet's last row.
    Returns (rows written so far, the settlement's fees)."""
    if written > 0:
        last_liq_row[w] = n_liqs + written - 1
    n_liqs += written
    extra, extra_fees = settle_bad_debt(t, w, k, px, cross, book, inst, out_liqs, n_liqs, last_liq_row[w])
    if extra > 0:
        last_liq_row[w] = n_liqs + extra - 1
    return n_liqs + extra, extra_fees


simulate_nb = jit(simulate_py)


def __getattr__(name: str) -> Any:
    if name in _FORMER_NAMES:
        return _FORMER_NAMES[name]
    # The sweep kernel lives in backtest_sweep (it calls simulate_py); its names stay reachable here.
    if name in ("SELECT_DTYPE", "sweep_nb", "sweep_py"):
        from levguard.kernels import backtest_sweep

        return getattr(backtest_sweep, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
