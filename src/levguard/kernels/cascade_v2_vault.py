"""A venue's liquidator vault and the drawdown trigger of its ADL, in the market cascade kernel (v2).

Scalar helpers of :func:`levguard.kernels.cascade_v2.market_cascade_py`, both off for a venue
record whose fields are 0 (the kernel then takes none of these paths):

* **Liquidator vault** (Hyperliquid's backstop liquidator, part of HLP): an account whose order
  is due while its equity at the marks is below ``vault_backstop`` x its maintenance margin (and
  not negative) is taken over whole by the venue's vault at the marks: its positions become the
  vault's inventory and its equity the vault's cash, the account ends with nothing, nothing
  trades in the book and the insurance fund is untouched.  The vault's gains and losses are its
  own: it never pays bad debt and never stands in for ADL.
* **Drawdown trigger of ADL** (Bybit's grouped insurance pools): while the fund exceeds
  ``dd_min_fund``, a close that would take the fund's drawdown from its highest over the last
  ``dd_window`` steps beyond ``dd_ratio`` goes to ADL instead of drawing on the fund, and so does
  every close that would draw on it until the drawdown is back within ``dd_stop``.

Notes
-----
Hyperliquid, "Liquidations" (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations, read
2026-12-04): "If the account equity drops below 2/3 of the maintenance margin without successful
liquidation through the book, a backstop liquidation happens through the liquidator vault ...
the trader's cross positions and cross margin are all transferred to the liquidator ... the
maintenance margin is not returned to the user."  "Auto-deleveraging"
(.../trading/auto-deleveraging): "If a user's account value or isolated position value becomes
negative, the users on the opposite side of the position are ranked ... closed at the previous
oracle price".

Bybit, "Get ADL Alert" (bybit-exchange.github.io/docs/v5/market/adl-alert, read 2026-12-04;
the grouped insurance pools): contract PnL drawdown ADL triggers when ``balance >
adlTriggerThreshold`` and ``pnlRatio < insurancePnlRatio`` with ``pnlRatio = (symbol's current
PnL - symbol's 8h max PnL) / pool's 8h max balance``; it stops when ``pnlRatio >
adlStopRatio``; pool equity ADL triggers when ``balance <= 0``.  The published values are
``insurancePnlRatio = -0.3``, ``adlStopRatio = -0.25`` and ``adlTriggerThreshold`` 10,000 USDT
(the WebSocket "ADL Alert" example).  Here one venue has one pool, the fund's own change is the
symbol's PnL, so ``pnlRatio = (fund - peak) / peak`` with ``peak`` the fund's highest over the
window.
"""

from __future__ import annotations

import math

from levguard.kernels._jit import jitable
from levguard.kernels.cascade_records import AccountStatus
from levguard.kernels.cascade_v2_adl import bankruptcy_prices, record
from levguard.kernels.cascade_v2_records import (
    VAULT_TAKEOVER,
    BookTiers,
    BookTotals,
    MarketState,
    MarketSteps,
    Record,
    RecordArray,
    RoundScratch,
    SideLists,
    VaultOutputs,
)
from levguard.kernels.cascade_v2_sweep import equity_and_mm, reprice
from levguard.typing import Float64Array1D, Float64Array2D

Float64Array3D = Float64Array2D  # numpy's typing does not distinguish dimensions


@jitable
def vault_add(v: int, a: int, q: float, price: float, vault: VaultOutputs) -> None:
    """Add ``q`` (signed) of asset ``a`` at ``price`` to venue ``v``'s vault inventory.

    The same side averages the entry; the opposite side realises ``side c (price - entry)``
    into the vault's cash on the ``c`` it closes and opens any rest at ``price``.
    """
    q0 = vault.qty[v, a]
    e0 = vault.entry[v, a]
    if q0 == 0.0 or (q0 > 0.0) == (q > 0.0):
        vault.entry[v, a] = (q0 * e0 + q * price) / (q0 + q)
        vault.qty[v, a] = q0 + q
        return
    c = min(abs(q0), abs(q))
    side0 = 1.0 if q0 > 0.0 else -1.0
    vault.cash[v] += side0 * c * (price - e0)
    rest = q0 + q
    vault.qty[v, a] = rest
    if rest == 0.0:
        vault.entry[v, a] = 0.0
    elif (rest > 0.0) != (q0 > 0.0):
        vault.entry[v, a] = price


@jitable
def vault_equity(v: int, marks: Float64Array1D, vault: VaultOutputs) -> float:
    """Return venue ``v``'s vault equity ``cash + sum_a q_a (m_a - entry_a)`` at ``marks`` (K,)."""
    eq = vault.cash[v]
    for a in range(marks.shape[0]):
        q = vault.qty[v, a]
        if q != 0.0:
            eq += q * (marks[a] - vault.entry[v, a])
    return float(eq)


@jitable
def vault_takeovers(
    k: int,
    t: int,
    v: int,
    vp: Record,
    marks: Float64Array1D,
    naive: bool,
    st: MarketState,
    sl: SideLists,
    tiers: BookTiers,
    scr: RoundScratch,
    steps: MarketSteps,
    books_out: BookTotals,
    events: RecordArray,
    cnt: RecordArray,
    vault: VaultOutputs,
) -> None:
    """Let venue ``v``'s vault take over the round's orders (``scr.ids[:k]``) whose account's
    equity ``E`` at the marks is ``0 <= E < vault_backstop x MM``; called before the book flows.

    A taken account's positions join the vault's inventory at the marks (:func:`vault_add`), its
    equity ``E = wallet + sum q (m - entry)`` is the vault's cash, its wallet is zeroed (``pnl``
    falls by the wallet, ``kept`` unchanged) and it is flat (its keys set again,
    :func:`~levguard.kernels.cascade_v2_sweep.reprice`); one ``VAULT_TAKEOVER`` event per
    position at the mark with the position's bankruptcy price, no change of the fund.  Its order
    is then no full close (``scr.full`` False): it neither trades in the book nor goes to ADL.
    An account with ``E < 0`` is left to the book, the fund and ADL (the vault does not take it).
    """
    ratio = vp["vault_backstop"]
    n_assets = marks.shape[0]
    for j in range(k):
        i = scr.ids[j]
        if st.n_open[i] == 0:
            continue
        eq, mm = equity_and_mm(i, marks, st, tiers)
        if not (eq >= 0.0 and eq < ratio * mm):
            continue
        bankruptcy_prices(i, marks, st.qty, st.entry, st.wallet, st.n_open, tiers.coll, v * n_assets, scr.adl_bp)
        for a in range(n_assets):
            q = st.qty[i, a]
            if q == 0.0:
                continue
            vault_add(v, a, q, marks[a], vault)
            vault.taken[v, t] += abs(q) * marks[a]
            if books_out.first_liq[v, a] < 0:
                books_out.first_liq[v, a] = t
            record(events, cnt, t, v, a, i, q, marks[a], scr.adl_bp[a], 0.0, VAULT_TAKEOVER, -1)
            st.qty[i, a] = 0.0
            scr.c[j, a] = 0.0
        vault.cash[v] += eq
        vault.received[v] += eq
        st.pnl[i] -= st.wallet[i]
        st.wallet[i] = 0.0
        # Every account's first liquidation counts, an ADL counterparty's (DELEVERAGED) too.
        if st.status[i] != AccountStatus.LIQUIDATED:
            cnt[0]["accounts_liquidated"] += 1
        st.status[i] = AccountStatus.LIQUIDATED
        steps.n_liq[v, t] += 1
        scr.full[j] = False
        reprice(i, marks, naive, st, sl, tiers)


@jitable
def fund_peak(v: int, t: int, window: int, fund0: float, fund_now: float, hist: Float64Array2D) -> float:
    """Return venue ``v``'s highest fund over the last ``window`` steps before ``t`` and now:
    ``max(fund_now, hist[v, t - window : t])``, with the starting fund ``fund0`` while the
    window reaches back before step 0 (``hist`` the funds at the ends of the steps)."""
    peak = fund_now
    s0 = t - window
    if s0 < 0:
        s0 = 0
        if fund0 > peak:
            peak = fund0
    for s in range(s0, t):
        if hist[v, s] > peak:
            peak = hist[v, s]
    return float(peak)


@jitable
def adl_floor(vp: Record, fund: float, peak: float, on: bool) -> tuple[float, bool]:
    """Return the fund level below which a close goes to ADL this round, and whether the drawdown
    trigger is (still) on.

    With the rule off (``dd_ratio = 0``), or the fund at or below ``dd_min_fund``, the floor is 0
    (pool equity ADL: the fund never goes below 0).  Otherwise the trigger goes off once the
    drawdown ``(fund - peak) / peak`` is above ``-dd_stop``; while on, the floor is ``+inf``
    (every close that draws on the fund goes to ADL); while off, it is ``peak (1 - dd_ratio)``.
    """
    ratio = vp["dd_ratio"]
    if not ratio > 0.0 or not peak > 0.0:
        return 0.0, on
    if on and (fund - peak) / peak > -vp["dd_stop"]:
        on = False
    if not fund > vp["dd_min_fund"]:
        return 0.0, on
    if on:
        return math.inf, on
    floor = peak * (1.0 - ratio)
    return (floor if floor > 0.0 else 0.0), on
