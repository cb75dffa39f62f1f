"""Orders of the backtest kernel: fills, slippage, initial-margin clipping, the path-dependent
leverage caps, the ruin threshold and the outputs after a ruin.

Plain Python marked ``jitable``; called from :func:`levguard.kernels.backtest.simulate_py`
(instruments as an ``INST_DTYPE`` array, tiers as :class:`~levguard.kernels.backtest_records.Tiers`,
fills written to ``TRADE_DTYPE`` records).
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels import liquidation as kl
from levguard.kernels._jit import jit, jitable
from levguard.kernels.backtest_records import AccountOut, ContractKind, Market, PositionsOut, Tiers
from levguard.kernels.margin import position_notional, position_upnl, size_scaled_rate
from levguard.kernels.sizing import drawdown_scale
from levguard.typing import Float64Array1D

SLIP_MAX = 0.99
"""Largest slippage fraction a fill pays: a sell fills at 1 % of the level at worst, never at 0 or
below, and a buy at 1.99 times it."""


@jitable
def slippage_fraction(trade_qty: float, volume: float, slip_bps: float, impact_coef: float) -> float:
    """Return the slippage fraction ``slip_bps / 1e4 + impact_coef * sqrt(|trade_qty| / volume)``,
    at most :data:`SLIP_MAX`.

    The impact term is dropped when ``volume`` is not positive or not finite (no information).
    The square-root law describes orders that are a fraction of the volume; an order many times
    a thin bar's volume gave a fraction above 1, a sell at a negative price and a negative traded
    notional, so the fraction is capped.
    """
    frac = slip_bps * 1e-4
    if impact_coef > 0.0 and volume > 0.0 and math.isfinite(volume):
        frac += impact_coef * math.sqrt(abs(trade_qty) / volume)
    return min(frac, SLIP_MAX)


@jitable
def slipped_price(level: float, dq: float, volume: float, cfg: np.void, low: float, high: float) -> float:
    """Return the fill of a taker order of ``dq`` at ``level`` in a bar that traded ``[low, high]``.

    ``level * (1 + slip)`` for a buy, at most ``high``; ``level * (1 - slip)`` for a sell, at
    least ``low``; ``slip`` the :func:`slippage_fraction` of the account's ``slip_bps`` and
    ``impact`` (``cfg``, a ``CONFIG_DTYPE`` record) at reference ``volume``.

    Notes
    -----
    A fill is bounded by the fill bar's traded (last-price) range: nothing traded above the
    bar's high or below its low, so no taker paid more or got less, whatever the impact model
    says.  The square-root impact uses the previous bar's volume, and a tiny one (a listing
    bar) made a buy pay 35 % above the high of the bar it filled in.  vectorbt caps a
    slippage-adjusted price to the bar's area the same way (``PriceAreaVioMode.Cap`` in
    ``vectorbt.portfolio.nb.core.check_adj_price_nb``).  A bound that is NaN is not applied.
    """
    slip = slippage_fraction(dq, volume, cfg["slip_bps"], cfg["impact"])
    if dq > 0.0:
        px = level * (1.0 + slip)
        if px > high:
            px = high
        return px
    px = level * (1.0 - slip)
    if px < low:
        px = low
    return px


@jitable
def max_notional_for_margin(
    available: float,
    caps: Float64Array1D,
    max_levs: Float64Array1D,
    fee_in_im: float = 0.0,
    size_rate: float = 0.0,
    cap_excl: bool = False,
) -> float:
    """Return the largest notional whose initial margin ``notional / max_leverage(tier)`` fits.

    The tier of a notional ``n`` is the first with ``n <= cap`` (``n < cap`` with ``cap_excl``,
    :func:`initial_margin`: the largest notional of a tier is then the float below its cap); its
    initial margin is
    ``n / max_lev`` (plus ``n x fee_in_im`` where the venue puts the fee to close in it: Gate,
    help 22148).  Scanning the tiers gives the largest feasible ``n`` exactly (0 when
    ``available`` is not positive).

    ``size_rate`` is the initial margin rate a position adds per unit of its notional (a rate
    that grows with the size: Deribit's 0.005 % per BTC is ``size_rate = 0.00005 / price``), so
    the margin ``n (b + size_rate n)`` with ``b = 1 / max_lev + fee_in_im`` is quadratic and the
    largest ``n`` is ``2 A / (b + sqrt(b^2 + 4 size_rate A))`` (``A = available``, the stable
    form of the positive root).

    Notes
    -----
    Deribit, "Linear Perpetual" (support.deribit.com/hc/en-us/articles/25944738177565): initial
    margin rate 2 % + size_BTC x 0.005 % (:func:`~levguard.kernels.margin.size_scaled_rate`).
    """
    if not available > 0.0:
        return 0.0
    best = 0.0
    lo = 0.0
    for i in range(caps.shape[0]):
        ml = max_levs[i]
        top = float(np.nextafter(caps[i], 0.0)) if cap_excl else caps[i]
        n_i = top
        finite = ml > 0.0 and math.isfinite(ml)
        if size_rate > 0.0:  # IM rate b + size_rate x n (Deribit)
            b = fee_in_im + (1.0 / ml if finite else 0.0)
            n_i = min(top, 2.0 * available / (b + math.sqrt(b * b + 4.0 * size_rate * available)))
        elif fee_in_im > 0.0:  # available / (1/ml + fee) (Gate)
            n_i = min(top, available / (fee_in_im + (1.0 / ml if finite else 0.0)))
        elif finite:  # the fee-less case as before, to the bit
            n_i = min(top, available * ml)
        if n_i >= lo and n_i > best:
            best = n_i
        lo = caps[i]
    return best


@jitable
def position_limit(n_max: float, spec: np.void, inverse: bool, price: float) -> float:
    """Return ``n_max`` (a notional) at most the largest position the instrument's tiers allow at
    ``price`` (``spec``, its ``INST_DTYPE`` record: ``max_position``, a notional, or by size a
    size valued ``size x price``, inverse ``size / price``; 0 is none).

    Notes
    -----
    The last bracket's ``notionalCap`` (Binance ``GET /fapi/v1/leverageBracket``) is the largest
    position the symbol allows (:attr:`levguard.core.tiers.TierTable.max_position`); the tier
    rows end in ``inf`` for the maintenance margin of a position the price carries beyond it.
    """
    top = float(spec["max_position"])
    if not top > 0.0:
        return n_max
    if spec["by_size"]:
        top = top / price if inverse else top * price
    return min(n_max, top)


@jitable
def initial_margin(
    notional: float, caps: Float64Array1D, max_levs: Float64Array1D, fee_in_im: float = 0.0, cap_excl: bool = False
) -> float:
    """Return ``notional / max_leverage`` of the notional's tier plus ``notional x fee_in_im``
    (0 for a non-positive notional).

    A notional exactly at a tier's cap keeps that tier's leverage (a bracket's cap is a position
    limit where the maintenance margin has a deduction: Binance, Bybit), or, with ``cap_excl``
    (tables without a deduction), takes the next tier's with its maintenance margin (BitMEX's
    "< 200 XBT"), as :meth:`levguard.core.tiers.TierTable.leverage_index` reads it.
    """
    if not notional > 0.0:
        return 0.0
    n_tiers = caps.shape[0]
    k = n_tiers - 1
    for j in range(n_tiers - 1, -1, -1):
        if notional < caps[j] or (notional == caps[j] and not cap_excl):
            k = j
    ml = float(max_levs[k])
    if ml > 0.0 and math.isfinite(ml):
        return notional / ml + notional * fee_in_im
    return notional * fee_in_im


@jitable
def fill_pnl(qty: float, entry: float, dq: float, px: float, inverse: bool) -> float:
    # Realised PnL of a fill of dq at px against a position qty held at average entry.
    if qty == 0.0 or qty * dq > 0.0:
        return 0.0
    closed = min(abs(dq), abs(qty))
    sign = 1.0 if qty > 0.0 else -1.0
    return position_upnl(sign * closed, entry, px, inverse)


@jitable
def new_entry(qty: float, entry: float, dq: float, px: float, inverse: bool) -> float:
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
def record_trade(out_trades: np.ndarray, row: int, t: int, k: int, dq: float, px: float, fee: float, kind: int) -> None:
    """Write one ``TRADE_DTYPE`` record (its fields, in order) at ``row``."""
    rec = out_trades[row]
    rec["bar"] = t
    rec["inst"] = k
    rec["qty"] = dq
    rec["price"] = px
    rec["fee"] = fee
    rec["kind"] = kind


@jitable
def stop_first(long: bool, stop: float, lp: float, market: Market, t: int, k: int) -> bool:
    """Whether a stop-loss crossed in bar ``t`` fills before the liquidation crossed in it, whatever
    ``liquidation_first`` says.  The stop triggers on the last price, the liquidation on the mark.

    True when the stop's fill level ``min(stop, open)`` (long; ``max`` for a short) lies beyond the
    liquidation price ``lp`` on the safe side by more than ``d``, the largest amount the mark was
    seen on the adverse side of the last price (a long: ``open - mark_open``, ``close -
    mark_close`` and ``low - mark_low``, the last a lower bound at the instant of the mark's low;
    a short the mirror, with the highs): if the mark was never further than ``d`` on that side,
    the last price was at or beyond ``lp + d`` (long) when the mark reached ``lp``, past the stop.
    A gap open beyond the stop triggers it on the bar's first trade, at the open, while the mark
    (at least ``open - d``) is still short of ``lp``: it fills first too (a 10x long from 100,000
    with a 95,000 stop and ``lp`` 90,402 opening at 93,000 was liquidated by default; it is stopped
    at 93,000, 3,000 left).  False (the flag decides) for a fill level within ``d`` of ``lp``, and
    NaN.
    """
    o: float = market.open[t, k]
    d: float = 0.0
    if long:
        d = max(0.0, o - market.mark_open[t, k], market.close[t, k] - market.mark_close[t, k])
        d = max(d, market.low[t, k] - market.mark_low[t, k])
        return lp + d < min(stop, o)
    d = max(0.0, market.mark_open[t, k] - o, market.mark_close[t, k] - market.close[t, k])
    d = max(d, market.mark_high[t, k] - market.high[t, k])
    return max(stop, o) < lp - d


@jitable
def path_cap(cfg: np.void, equity: float, peak: float) -> float:
    """Return the leverage cap of the path-dependent policies at account equity ``equity``.

    Notes
    -----
    Drawdown control (Grossman & Zhou 1993): ``base * max(0, 1 - dd / max_dd)^power`` with
    ``dd = 1 - V / peak``.  CPPI (Black & Perold 1992): ``min(m (1 - F / V), b)`` with the floor
    ``F = floor * max(peak, reference)`` (ratchet) or ``floor * reference``; 0 at or below the floor.  Both
    ``inf`` when off; the minimum of both when both are on.
    """
    cap = math.inf
    dd_max = cfg["dd_max"]
    if dd_max > 0.0:
        dd = 1.0 - equity / peak if peak > 0.0 else 1.0
        cap = min(cap, cfg["dd_base"] * drawdown_scale(dd, dd_max, True, cfg["dd_power"]))
    floor = cfg["cppi_floor"]
    if floor > 0.0:
        ref = max(peak, cfg["cppi_ref"]) if cfg["cppi_ratchet"] else cfg["cppi_ref"]
        f_abs = floor * ref
        cushion = cfg["cppi_mult"] * (1.0 - f_abs / equity) if equity > f_abs else 0.0
        cap = min(cap, cushion, cfg["cppi_max"])
    return cap


@jitable
def caps_at(caps: Float64Array1D, by_size: bool, inverse: bool, price: float, size: float) -> Float64Array1D:
    """Return tier ``caps`` as notional at ``price`` for a position of ``size`` (absolute): the
    caps themselves for tiers by notional; for tiers by position size
    :func:`~levguard.kernels.liquidation.size_caps_at` (``size x price``, inverse ``size /
    price``; a new array in which the position is in its tier by size).  For code that reads
    notional caps at one price: the initial-margin check of an order at its price, and a
    liquidation's step-down at its fill.
    """
    if not by_size:
        return caps
    return kl.size_caps_at(caps, inverse, price, size)


@jitable
def margin_left(avail: float, k: int, qty: Float64Array1D, px: Float64Array1D, inst: np.ndarray, tiers: Tiers) -> float:
    """Return ``avail`` less what a cross account's positions other than ``k`` hold at prices
    ``px``: the initial margin of each perpetual (its tier's maximum leverage; by size the caps
    valued at its price, :func:`caps_at`) and the value of each spot leg."""
    for j in range(qty.shape[0]):
        if j != k and qty[j] != 0.0 and inst[j]["kind"] != ContractKind.SPOT:
            a = inst[j]["tier_start"]
            b = inst[j]["tier_stop"]
            inverse = inst[j]["kind"] == ContractKind.INVERSE
            caps = caps_at(tiers.cap[a:b], inst[j]["by_size"], inverse, px[j], abs(qty[j]))
            n = position_notional(qty[j], px[j], inverse)
            # A rate that grows with the size (Deribit) adds size_coef x |q| to the IM rate.
            extra = size_scaled_rate(inst[j]["fee_in_im"], inst[j]["size_coef"], qty[j])
            avail -= initial_margin(n, caps, tiers.max_lev[a:b], extra, inst[j]["lev_cap_excl"])
        elif j != k and qty[j] != 0.0:
            avail -= abs(qty[j]) * px[j]
    return avail


@jitable
def below_minimum(spec: np.void, qty: float, new_qty: float, inverse: bool, price: float) -> bool:
    """True when the order from ``qty`` to ``new_qty`` opens or adds less than the venue's
    smallest order at ``price`` (``spec``, the instrument's ``INST_DTYPE`` record).

    The part that opens or adds: ``|new_qty|`` from flat or on a reversal, ``|new_qty| - |qty|``
    on an increase, nothing on a reduction (reduce-only orders have no minimum).  It is below the
    minimum when its notional is below ``min_notional`` or its size below ``min_qty`` (linear,
    spot; :meth:`levguard.core.rules.base.VenueModel.min_order_notional`); an inverse contract's
    quantity is its notional in the quote currency (contracts x face value), compared with
    ``min_notional`` alone, as :func:`min_order_margin` reads the two.

    Notes
    -----
    Binance USDⓈ-M rejects an order below the symbol's ``MIN_NOTIONAL`` filter unless it is
    reduce-only: error -4164 "Order's notional must be no smaller than 5 (unless you choose
    reduce only)" (developers.binance.com, derivatives "Error Codes"); ``LOT_SIZE.minQty`` bounds
    the quantity the same way.  :func:`ruin_threshold` is the margin of that smallest order at
    the first tier's leverage: an account above it can open one, below it can open none.
    """
    opened = abs(new_qty) - abs(qty) if qty * new_qty > 0.0 else abs(new_qty)
    if not opened > 0.0:
        return False
    mn = float(spec["min_notional"])
    if inverse:
        return mn > 0.0 and opened < mn
    if mn > 0.0 and opened * price < mn:
        return True
    mq = float(spec["min_qty"])
    return mq > 0.0 and opened < mq


@jitable
def min_order_margin(inst: np.ndarray, tiers: Tiers, k: int, price: float) -> float:
    """Return the capital instrument ``k`` needs to open the venue's smallest order (0: none known).

    For a minimum order notional ``m`` (quote currency): its initial margin at the first
    tier's maximum leverage, ``m / max_leverage`` (spot: ``m``, fully paid; inverse contracts:
    ``m / price`` in the coin).  A linear or spot instrument with a minimum quantity ``q_min``
    (base units) needs at least ``q_min * price / max_leverage`` too (the larger of the two:
    :meth:`levguard.core.rules.base.VenueModel.min_order_notional`).
    """
    return min_order_margin_at(
        min_order_margin_quote(inst, tiers, k),
        min_order_qty_margin(inst, tiers, k),
        inst[k]["kind"] == ContractKind.INVERSE,
        price,
    )


@jitable
def min_order_margin_quote(inst: np.ndarray, tiers: Tiers, k: int) -> float:
    """Return :func:`min_order_margin` before an inverse contract's division by the price
    (price-free: the kernel computes it once per run)."""
    mn = float(inst[k]["min_notional"])
    if not mn > 0.0:
        return 0.0
    need = mn
    if inst[k]["kind"] != ContractKind.SPOT:
        ml = tiers.max_lev[inst[k]["tier_start"]]
        if ml > 0.0 and math.isfinite(ml):
            need = mn / ml
    return need


@jitable
def min_order_qty_margin(inst: np.ndarray, tiers: Tiers, k: int) -> float:
    """Return the margin per unit of price of the venue's minimum quantity (``q_min / max_leverage``;
    spot ``q_min``; 0 for inverse contracts, whose minimum is a notional, and where none is known)."""
    mq = float(inst[k]["min_qty"])
    if not mq > 0.0 or inst[k]["kind"] == ContractKind.INVERSE:
        return 0.0
    if inst[k]["kind"] != ContractKind.SPOT:
        ml = tiers.max_lev[inst[k]["tier_start"]]
        if ml > 0.0 and math.isfinite(ml):
            if inst[k]["size_coef"] > 0.0:  # the IM rate at the minimum size (Deribit)
                return mq * size_scaled_rate(1.0 / float(ml), inst[k]["size_coef"], mq)
            return mq / float(ml)
    return mq


@jitable
def min_order_margin_at(need: float, qty_need: float, inverse: bool, price: float) -> float:
    """Return :func:`min_order_margin` from :func:`min_order_margin_quote`'s ``need`` and
    :func:`min_order_qty_margin`'s ``qty_need`` at ``price``."""
    if inverse:
        return need / price if need > 0.0 else need
    return max(need, qty_need * price)


@jitable
def ruin_threshold(inst: np.ndarray, tiers: Tiers, price: Float64Array1D) -> float:
    """Return the account equity below which no instrument's smallest order can be opened.

    The smallest :func:`min_order_margin` over the instruments that have a minimum order; 0
    when none has (then only ``equity <= 0`` ruins).
    """
    best = math.inf
    for k in range(inst.shape[0]):
        best = ruin_step(best, min_order_margin(inst, tiers, k, price[k]))
    return ruin_end(best)


@jitable
def ruin_step(best: float, need: float) -> float:
    # One instrument of ruin_threshold's minimum (from inf; instruments without a minimum skipped).
    return min(best, need) if need > 0.0 else best


@jitable
def ruin_end(best: float) -> float:
    # ruin_threshold's minimum, 0 when no instrument has a minimum order.
    return best if math.isfinite(best) else 0.0


@jitable
def traded_notional(trades: np.ndarray, n_trades: int, liqs: np.ndarray, n_liqs: int, inst: np.ndarray) -> float:
    """Return the notional traded (settlement currency) over fills and liquidations."""
    total = 0.0
    for i in range(n_trades):
        tr = trades[i]
        total += position_notional(tr["qty"], tr["price"], inst[tr["inst"]]["kind"] == ContractKind.INVERSE)
    for i in range(n_liqs):
        lq = liqs[i]
        total += position_notional(lq["qty"], lq["price"], inst[lq["inst"]]["kind"] == ContractKind.INVERSE)
    return total


@jitable
def n_liquidation_rows(liqs: np.ndarray, n_liqs: int) -> int:
    """Return the liquidations among the first ``n_liqs`` ``LIQ_DTYPE`` rows: the rows that
    closed a quantity (a settlement row of a negative balance, quantity 0, is not one)."""
    n = 0
    for i in range(n_liqs):
        if liqs[i]["qty"] != 0.0:
            n += 1
    return n


@jitable
def write_ruined(
    t: int,
    fees: float,
    cross: bool,
    idle: float,
    cash: Float64Array1D,
    inst: np.ndarray,
    out_acct: AccountOut,
    out_pos: PositionsOut,
) -> None:
    """Write the outputs of ruin bar ``t`` and of every later bar: nothing trades any more, the
    positions are flat and the equity stays the wallet left (``idle`` plus the wallets ``cash``).

    Bar ``t`` pays ``fees`` (its own and the ruin closes') and keeps the funding and target
    leverage its steps wrote; later bars pay no funding or fees and target nothing.
    """
    out_equity, out_cash, out_leverage, out_funding, out_fees = out_acct
    out_qty, out_entry, out_lev, out_lp, out_target, out_capital = out_pos
    n_t = out_equity.shape[0]
    n_inst = cash.shape[0]
    # One row per bar, or one row rewritten every bar (a sweep's), as simulate_py writes them.
    row_step = 1 if out_qty.shape[0] == n_t else 0
    cash_step = 1 if out_cash.shape[0] == n_t else 0
    wallet = idle
    for k in range(n_inst):
        wallet += cash[k]
    for s in range(t, n_t):
        r = s * row_step
        out_equity[s] = wallet
        out_cash[s * cash_step] = wallet
        out_leverage[s] = 0.0
        out_fees[s] = fees if s == t else 0.0
        if s > t:
            out_funding[s] = 0.0
        for k in range(n_inst):
            out_qty[r, k] = 0.0
            out_entry[r, k] = 0.0
            out_lev[r, k] = 0.0
            out_lp[r, k] = math.nan
            if s > t:
                out_target[r, k] = 0.0
            out_capital[r, k] = inst[k]["weight"] * wallet if cross else cash[k]


traded_notional_nb = jit(traded_notional)
