"""Liquidation outcome kernels: how much of a liquidated position's margin the trader keeps.

Written once in plain Python and marked ``jitable``: the backtest, cascade and paper-venue code
paths and the core scalar API (:func:`levguard.core.liquidation_outcome.liquidation_outcome`)
all call these functions, so every consumer books a liquidation the same way.

A venue's rule is a small float vector (``RULE_*`` entries, :data:`N_RULE` long) whose first
entry is the outcome kind:

* ``TAKEOVER``: the position is closed at its bankruptcy price and taken over by the insurance
  fund (Binance, Bybit, OKX, Gate, BitMEX): the trader keeps nothing of the margin behind it;
  what the fill earns beyond the bankruptcy price goes to the fund (Binance's clearance fee),
  what it falls short is paid by the fund.
* ``BOOK``: the position is closed in the order book at the fill price with a liquidation fee
  on the liquidated notional (Hyperliquid: none; dYdX: at most the position's share of the
  account's equity, :func:`fee_cap`; Deribit); the
  trader keeps the rest.  A ``BOOK`` venue with a backstop ratio (Hyperliquid, 2/3) takes the
  position over like ``TAKEOVER`` when the equity at the fill is below that fraction of the
  maintenance margin (in cross margin the account's equity and total maintenance margin:
  :func:`below_backstop`).

Partial liquidation kinds (``RULE_PARTIAL``): ``PARTIAL_SLICE`` closes a fixed fraction of
positions above a notional (Hyperliquid 20 % above 100k USDC); ``PARTIAL_TIER`` steps the
position down to a lower tier's cap (Bybit, BitMEX, Gate risk limits; OKX tier 3+ to tier 1);
``PARTIAL_RESTORE`` closes just enough to bring the maintenance margin back below the equity
(Deribit's incremental liquidation).

Money is conserved by every function here: with ``C`` the margin (collateral) behind the
closed part, ``R`` its realised PnL at the fill, ``kept`` what the trader keeps and ``fund``
the insurance fund's change (fees included), ``C = kept + fund - R``.

Failure is a value: no exceptions; degenerate inputs close the whole position.
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jitable
from levguard.kernels.margin import tier_index
from levguard.typing import Float64Array1D

# Outcome kinds (``rule[RULE_KIND]``).
TAKEOVER = 0
BOOK = 1

# Partial-liquidation kinds (``rule[RULE_PARTIAL]``).
PARTIAL_NONE = 0
PARTIAL_SLICE = 1
PARTIAL_TIER = 2
PARTIAL_RESTORE = 3

# Rule vector entries.
RULE_KIND = 0
RULE_FEE = 1  # liquidation fee rate on the liquidated notional (NaN: the caller's default)
RULE_PARTIAL = 2
RULE_FRACTION = 3  # PARTIAL_SLICE: fraction of the position closed per slice
RULE_MIN_NOTIONAL = 4  # PARTIAL_SLICE: positions at or below this notional are closed whole
RULE_BACKSTOP = 5  # BOOK: taken over when equity < ratio * maintenance margin (0: never)
RULE_STEP_FROM = 6  # PARTIAL_TIER: lowest tier index (0-based) that is stepped down
RULE_STEP_TO = 7  # PARTIAL_TIER: target tier index, -1 for one tier down
RULE_STEP_MODE = 8  # PARTIAL_TIER: STEP_EACH_TRIGGER, STEP_ONCE or STEP_UNTIL_SAFE
RULE_FEE_CAP = 9  # BOOK: what caps the fee, FEE_CAP_REMAINDER or FEE_CAP_SHARE (settle_close)
N_RULE = 10

# What caps a book close's fee (``rule[RULE_FEE_CAP]``).
FEE_CAP_REMAINDER = 0  # the equity behind the position (its collateral plus its PnL at the fill)
FEE_CAP_SHARE = 1  # dYdX: the position's share of the account's equity, TNC x MM_i / TMMR

# How far one tier step-down goes (``rule[RULE_STEP_MODE]``).
STEP_EACH_TRIGGER = 0  # one step to the target tier; a later trigger steps again (OKX's fixed target)
STEP_ONCE = 1  # one step strictly below the next lower limit; taken over if that does not restore (BitMEX)
STEP_UNTIL_SAFE = 2  # down to the highest lower tier that restores, in one order; else taken over (Bybit, Gate)

# Relative tolerance on a notional sitting exactly on a tier cap (it belongs to the lower tier
# for the step-down: closing down to a cap must not leave the position a tier too high).
_CAP_TOL = 1e-9


@jitable
def below_backstop(equity: float, maintenance: float, others_mm: float, backstop: float) -> bool:
    """Return whether a ``BOOK`` venue's backstop takes the account over: its equity below
    ``backstop`` times its maintenance margin (0: no backstop).

    ``equity`` and ``maintenance`` are one position's (isolated margin; in cross margin the
    collateral ``wallet + others' uPnL - others' MM`` plus its own uPnL), ``others_mm`` the
    maintenance margin of the account's other cross positions (0 when isolated).  The test is on
    the account: ``equity + others_mm < backstop * (maintenance + others_mm)``.

    Notes
    -----
    Hyperliquid (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations): when the equity
    falls below 2/3 of the maintenance margin the liquidator vault takes over; in cross margin
    every cross position and the cross margin move to it, an isolated liquidation moves only that
    position.  The account's equity and its total maintenance margin, not one position's share: with
    ``others_mm > 0`` a per-position test ``E_i < r MM_i`` fires on a solvent account (1,600 of
    equity against 2,125 of maintenance is above 2/3 of it, while ``E_BTC = 600 < 2/3 x 1,125``).
    """
    return backstop > 0.0 and equity + others_mm < backstop * (maintenance + others_mm)


@jitable
def fee_cap(equity: float, maintenance: float, others_mm: float, share: bool) -> float:
    """Return what a book close may take from the account, the fee's cap (< 0: the insurance fund
    pays its opposite).

    ``equity`` is the position's collateral plus its PnL at the fill (cross: ``wallet + others'
    uPnL - others' MM + own PnL``), ``maintenance`` its maintenance margin and ``others_mm`` the
    other cross positions' (0 when isolated).  The account's equity ``equity + others_mm`` (the
    remainder behind the position when isolated: the cross account pays the fee from all its
    margin); with ``share`` (dYdX) and other positions, the position's share of the account's
    equity by maintenance margin, ``TNC x MM_i / TMMR`` with ``TNC = equity + others_mm`` and
    ``TMMR = maintenance + others_mm`` (the three agree when isolated).

    Notes
    -----
    dYdX v4 (reference section 6, ``x/clob/keeper/liquidations.go``): the bankruptcy quote of a
    close is ``-DNNV - TNC |DMMR| / TMMR`` (``GetBankruptcyPriceInQuoteQuantums``) and the
    insurance fund's delta ``d = quote received - bankruptcy quote``, the fee
    ``min(maxLiquidationFee x |quote|, d)`` when ``d > 0``, ``d`` (the fund pays) otherwise
    ``[DYDX_INSURANCE_DELTA]``.  Closing the whole position at the fill (``DNNV = -q P``,
    ``DMMR = -MM_i``, the fill taken as the oracle price) gives ``d = TNC x MM_i / TMMR``: the
    exact integer forms are :func:`levguard.core.rules.dydx.bankruptcy_quote_quantums` and
    :func:`~levguard.core.rules.dydx.insurance_fund_delta`.  Wallet 1,800 with 1 BTC @ 100,000
    and 40 ETH @ 2,500 (MM 1,200 each): ``d = 1,800 x 1,200 / 2,400 = 900``, where the
    remainder behind BTC, 1,800 - 1,200 = 600, capped the 1.5 % fee at 600.  Without ``share``
    a cross close takes its fee from the account's equity (Deribit cross, wallet 65,000, 10 BTC
    at 100,000 and others' MM 60,000: the 0.8 % fee 8,000, not the 5,000 left behind BTC).
    """
    if share and others_mm > 0.0:
        return (equity + others_mm) * maintenance / (maintenance + others_mm)
    if others_mm > 0.0:
        return equity + others_mm
    return equity


@jitable
def settle_close(
    kind: int,
    collateral: float,
    realised: float,
    notional: float,
    fee_rate: float,
    maintenance: float,
    backstop: float,
    others_mm: float,
    share: bool,
) -> tuple[float, float, float, float]:
    """Book the close of a position (or of a whole slice) and return who gets the money.

    Parameters
    ----------
    kind : int
        ``TAKEOVER`` or ``BOOK``.
    collateral : float
        Margin behind the closed part ``C`` (isolated margin, or the cross collateral
        ``wallet + others' uPnL - others' MM``), settlement currency.
    realised : float
        Realised PnL ``R`` of the close at the fill price.
    notional : float
        Liquidated notional at the fill price (the fee base).
    fee_rate : float
        Liquidation fee rate of a ``BOOK`` close.
    maintenance : float
        Maintenance margin of the closed part at the fill price (for the backstop test).
    backstop : float
        Backstop ratio (0: none).
    others_mm : float
        Cross margin: the maintenance margin of the account's other positions ``O`` (the
        collateral already subtracts it); 0 for an isolated position.
    share : bool
        A book close's fee is capped by the position's share of the account's equity (dYdX,
        ``RULE_FEE_CAP`` = ``FEE_CAP_SHARE``: :func:`fee_cap`), not by the remainder behind it.

    Returns
    -------
    kept, fee, fund, taken_over : float
        What the trader keeps (>= 0 when isolated; in cross margin it may be negative: the
        fee (``share``) or the position's loss is then paid from the other positions' margin),
        what the venue takes from the trader's remaining equity (liquidation fee, or the
        clearance of a takeover), the insurance fund's change (the
        fee, less what it pays when the equity at the fill is negative) and 1.0 when the
        position was taken over (0.0 otherwise).

    Notes
    -----
    With ``E = C + R`` the equity at the fill:

    * takeover (``TAKEOVER``, or ``BOOK`` with ``E + O < backstop * (MM + O)``: the account's
      equity below the backstop share of its total maintenance, :func:`below_backstop`): ``kept = 0``,
      ``fee = max(E, 0)``, ``fund = E``.  Binance: the position is closed at the bankruptcy
      price and "a portion of the remaining collateral (if any)" goes to the insurance fund
      (binance.com/en/support/faq/360033525271); Bybit, Gate, BitMEX and OKX take it over at
      the bankruptcy price; Hyperliquid's backstop keeps the maintenance margin.
    * book: with ``D`` the cap (:func:`fee_cap`: the account's equity ``E + O``, ``O`` the
      other positions' maintenance (``E`` isolated), or dYdX's share ``(E + O) MM / (MM + O)``),
      ``fee = min(fee_rate * notional, max(D, 0))``, ``kept = E - S - fee``,
      ``fund = fee + S`` with the shortfall ``S = min(D, 0)``; with ``D = E`` isolated:
      ``kept = max(E, 0) - fee``.  dYdX's ``insurance_fund_delta`` caps its fee at ``D``, and
      the fund pays ``-D`` when ``D < 0``.  In cross margin with the remainder cap the fund
      pays only the account's shortfall, ``S = min(E + O, 0)``: a position whose share ``E`` is
      below 0 in a solvent account keeps ``E < 0`` (the other positions' margin bears it).

    ``C = kept + fund - R`` in both cases.
    """
    equity = collateral + realised
    if kind == TAKEOVER or below_backstop(equity, maintenance, others_mm, backstop):
        fee = equity if equity > 0.0 else 0.0
        return 0.0, fee, equity, 1.0
    cap = fee_cap(equity, maintenance, others_mm, share)
    positive = cap if cap > 0.0 else 0.0
    # Cross margin with the account's cap (D = E + O): the fund pays only what the account cannot,
    # its equity below 0; a position whose share E is negative in a solvent account leaves the
    # loss and the fee to the other positions' margin (kept = E - fee < 0).
    shortfall = cap if cap < 0.0 else 0.0
    fee = fee_rate * notional
    if fee > positive:
        fee = positive
    if fee < 0.0:
        fee = 0.0
    fund = fee + shortfall
    return (equity - shortfall) - fee, fee, fund, 0.0


@jitable
def slice_qty(abs_qty: float, notional: float, fraction: float, min_notional: float) -> float:
    """Return the size a sliced liquidation closes: ``fraction * |q|`` above ``min_notional``.

    Notes
    -----
    Hyperliquid (hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations): liquidatable
    positions above 100k USDC send 20 % of the position as a market liquidation order; smaller
    ones (and any order during the 30 s cooldown after a partial liquidation) the whole size.
    """
    if 0.0 < fraction < 1.0 and notional > min_notional:
        return abs_qty * fraction
    return abs_qty


@jitable
def step_down_qty(
    abs_qty: float,
    basis_price: float,
    inverse: bool,
    caps: Float64Array1D,
    step_from: int,
    step_to: int,
) -> float:
    """Return the size a risk-limit step-down closes (``abs_qty``: the whole position).

    The position's tier is that of its notional at ``basis_price`` (the price maintenance is
    valued at: entry for Bybit and BitMEX); a position in tier ``k >= max(step_from, 1)`` is
    reduced to the cap of tier ``step_to`` (``-1``: tier ``k - 1``).  Positions in the lowest
    tiers are liquidated whole (``abs_qty``).

    Notes
    -----
    Bybit (help.bybit.com "Liquidation Process (USDT Contract)"), BitMEX
    (bitmex.com/app/liquidation) and Gate (gate.com help 22159): a position above the lowest
    risk limit is brought down to a lower risk limit by a reduce order of the difference; OKX
    (okx.com help 360020411711): positions in tier 3 or above are reduced to tier 1.
    """
    notional = abs_qty / basis_price if inverse else abs_qty * basis_price
    k = tier_index(notional * (1.0 - _CAP_TOL), caps)
    lowest = step_from if step_from > 1 else 1
    if k < lowest:
        return abs_qty
    target = k - 1 if step_to < 0 else step_to
    if target >= k:
        target = k - 1
    cap = float(caps[target])
    q_cap = cap * basis_price if inverse else cap / basis_price
    closed = abs_qty - q_cap
    if not (closed > 0.0) or closed >= abs_qty:
        return abs_qty
    return closed


@jitable
def step_rest_cap(j: int, caps: Float64Array1D, mmrs: Float64Array1D, cums: Float64Array1D, below: bool) -> float:
    """Return the notional the rest of a step-down to tier ``j`` keeps (``j`` below the last tier).

    Tier ``j``'s cap, or just below it (a relative ``1e-9``) where the step must go below the
    limit (``below``: BitMEX's "below a lower tier Risk Limit") or where the table's maintenance
    margin jumps at the cap, which then belongs to the next tier (a table without deduction
    and exclusive caps): the rest is then in tier ``j`` and pays its rate.  With a deduction the
    maintenance margin is continuous across the cap and the rest keeps the cap itself.
    """
    cap = float(caps[j])
    if below or cap * mmrs[j + 1] - cums[j + 1] > (cap * mmrs[j] - cums[j]) * (1.0 + _CAP_TOL):
        cap = cap * (1.0 - _CAP_TOL)
    return cap


@jitable
def size_caps_at(caps: Float64Array1D, inverse: bool, price: float, size: float) -> Float64Array1D:
    """Return tier ``caps`` by position size valued at ``price`` (``size x price``; inverse
    ``size / price``, coins), a new array in which a position of ``size`` stays in its own tier.

    Valued caps place a position in its tier by size at every price but where the two products
    round to one float: a position exactly at an inclusive cap (``TierTable.caps`` holds the float
    above OKX's cap, so the cap itself is in the lower tier) would read the tier above at about 3 %
    of prices, and a step-down planned on that tier closes the wrong size (with exclusive caps,
    BitMEX-like, a size one float below a cap did).  Where ``size`` and its tier's cap value to
    the same notional, that cap moves up one float: the notional ``size`` values to is then below
    it, as ``size`` is below the cap.  Whoever steps a position down or checks its margin at one
    price reads the caps this way (:func:`tier_close` through :func:`plan_close`).
    """
    out = caps / price if inverse else caps * price
    k = tier_index(size, caps)
    notional = size / price if inverse else size * price
    if k < out.shape[0] - 1 and not (notional < out[k]):
        out[k] = np.nextafter(out[k], np.inf)
    return out


@jitable
def size_in_lower_tier(size: float, caps: Float64Array1D) -> float:
    """Return ``size``, or where it lies within a relative ``1e-9`` above a cap of ``caps``
    (tiers by position size), the largest size of the tier below that cap.

    A step-down or an initial-margin clip worked out on caps valued at a price
    (``size x price``, then divided by the price again) lands a rounding error above the size cap
    it aimed at; by size that puts the position one tier up for as long as it is held, not
    only at that price.  The caps as the margin engine reads them (``TierTable.caps``: an
    inclusive cap is nudged up one float), so the result is the cap itself where it belongs to
    the lower tier (OKX) and the float below it where it does not.
    """
    k = tier_index(size, caps)
    if k > 0 and size < caps[k - 1] * (1.0 + _CAP_TOL):
        return float(np.nextafter(caps[k - 1], 0.0))
    return size


@jitable
def tier_close(
    abs_qty: float,
    notional: float,
    basis_price: float,
    inverse: bool,
    equity: float,
    maintenance: float,
    fee_rate: float,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    step_from: int,
    step_to: int,
    step_mode: int,
) -> float:
    """Return the size a risk-limit step-down closes under a venue's step rule (``abs_qty``: the
    whole position goes).

    The position's tier ``k`` is that of its notional at ``basis_price``; positions below
    ``max(step_from, 1)`` go whole.

    * :data:`STEP_EACH_TRIGGER`: :func:`step_down_qty` to tier ``step_to`` (``-1``: one tier
      down); a step to a fixed tier (``step_to >= 0``) is skipped, and the whole position goes,
      when the equity is below the whole position's requirement at that tier's rate plus the
      liquidation fee.
    * :data:`STEP_ONCE` and :data:`STEP_UNTIL_SAFE`: the step must restore the margin.  A
      reduction to tier ``j < k`` keeps the notional ``cap_j`` at ``basis_price`` and restores
      the position when the equity less the liquidation fee on the closed part exceeds the
      rest's maintenance margin, ``cap_j x (mmr_j + f) - cum_j`` (``f``: the fee term the
      caller's ``maintenance`` carries beyond its tier's rate, e.g. Gate's close fee).
      ``STEP_UNTIL_SAFE``: the highest such ``j`` (one order); ``STEP_ONCE``: only
      ``j = k - 1``, with the rest strictly below ``cap_j`` (:func:`step_rest_cap`).  No ``j``
      restores: the whole position (taken over).

    The backtester, the cascade simulators and :func:`plan_close` (the scalar
    :func:`levguard.core.liquidation_outcome.liquidation_outcome`) all step down through this.

    Notes
    -----
    OKX (okx.com help 360020411711, "Partial liquidation"): positions in tier 3 or above are
    reduced to tier 1 unless the margin ratio is already below tier 1's MMR plus the liquidation
    fee, in which case the position goes whole to the liquidation engine.  Bybit
    (help.bybit.com 900000167723): one FillOrKill "of the difference between the current
    position value and the lower margin tier value which satisfies the margin requirement"; if
    the position is still in liquidation, it is taken over.  Gate (help 22159): the risk limit is
    lowered one tier at a time until the maintenance ratio is back above 100 %.  BitMEX
    (bitmex.com/app/liquidationExamples): one FillOrKill to bring the position value below a
    lower tier's risk limit; if it is still in liquidation after it, the whole position is taken
    over.
    """
    if step_mode == STEP_EACH_TRIGGER:
        closed = step_down_qty(abs_qty, basis_price, inverse, caps, step_from, step_to)
        if closed < abs_qty and 0 <= step_to < mmrs.shape[0] and equity < notional * (mmrs[step_to] + fee_rate):
            return abs_qty
        return closed
    until_safe = step_mode == STEP_UNTIL_SAFE
    n_basis = abs_qty / basis_price if inverse else abs_qty * basis_price
    # The tier the maintenance margin was read in (the caps say whether a cap is in it), and the
    # fee term the caller's maintenance carries beyond it.
    k = tier_index(n_basis, caps)
    lowest = step_from if step_from > 1 else 1
    if k < lowest or not (n_basis > 0.0) or not (notional > 0.0):
        return abs_qty
    fee_term = (maintenance - (n_basis * mmrs[k] - cums[k])) / n_basis
    if not (fee_term > 0.0):
        fee_term = 0.0
    j = k - 1
    while j >= 0:
        cap = step_rest_cap(j, caps, mmrs, cums, not until_safe)
        q_rest = cap * basis_price if inverse else cap / basis_price
        closed = abs_qty - q_rest
        if closed > 0.0 and closed < abs_qty:
            left = equity - fee_rate * notional * closed / abs_qty
            if left > cap * (mmrs[j] + fee_term) - cums[j]:
                return closed
        if not until_safe:
            break
        j -= 1
    return abs_qty


RESTORE_MARGIN: float = 1e-10
"""Relative margin by which an incremental liquidation leaves the equity above the maintenance
margin (:func:`restore_fraction`): numerical, so that the restored account is strictly safe and
is not found liquidatable again at the same price by a rounding."""


@jitable
def restore_fraction(
    equity: float, maintenance: float, notional: float, mmr: float, fee_rate: float, size_rate: float
) -> float:
    """Return the fraction of a position an incremental liquidation closes (1: the whole).

    Closing ``x`` of the position at the current price costs ``fee_rate * x * notional`` and
    lowers the maintenance margin by ``mmr * x * notional`` (the marginal rate of the current
    tier; across a lower tier boundary the requirement falls further, so ``x`` is enough).  The
    smallest ``x`` with ``equity - fee >= (1 + m) x maintenance after`` is
    ``((1 + m) MM - E) / (notional ((1 + m) mmr - fee_rate))`` with ``m`` =
    :data:`RESTORE_MARGIN`, so the account ends strictly above its maintenance (an account at
    ``E = MM`` exactly, liquidatable by the ``E <= MM`` test, closes a sliver instead of
    nothing); no ``x < 1`` works when ``E <= 0`` or ``mmr <= fee_rate``.  0 when the equity is
    above the maintenance margin.

    A rate that grows with the size (``size_rate``: the part of ``mmr`` proportional to the
    size, ``c |q|``; 0 for a flat or tiered rate) makes the requirement after the close
    quadratic in ``x``: the rest ``(1 - x)`` pays ``mmr - size_rate x``, so
    ``MM(x) = MM - (mmr + s) x N + s N x^2`` (``s = size_rate``, ``N = notional``).  The
    smallest root of ``(1 + m) MM(x) = E - fee_rate x N`` is, with ``u = 1 + m``,
    ``b = N (u (mmr + s) - fee_rate)``, ``a = u s N`` and ``c = u MM - E``,
    ``x = 2 c / (b + sqrt(b^2 - 4 a c))`` (the stable form of the smaller root; none when
    ``b <= 0`` or ``b^2 < 4 a c``: the whole position).  ``size_rate = 0`` is the linear formula.

    Notes
    -----
    Deribit (support.deribit.com/hc/en-us/articles/25944769313309-Liquidations): the
    incremental liquidation closes part of the position and stops as soon as the maintenance
    margin is below the margin balance again.  Deribit's linear perpetuals
    (support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual,
    ``[DERIBIT_LINEAR_SM]``): maintenance rate 1 % + size_BTC x 0.005 %, so
    ``MM = (1 % + 0.005 % |q|) |q| P``.  100 BTC at 100,000 with 140,000 of margin (MM 150,000,
    fee 0.8 %): the rate's size term gives ``x = 0.0864``, 8.64 BTC; the one-rate formula closed
    14.29 BTC.
    """
    if equity > maintenance:
        return 0.0
    if not (equity > 0.0) or not (notional > 0.0):
        return 1.0
    up = 1.0 + RESTORE_MARGIN
    if size_rate > 0.0:
        b = notional * (up * (mmr + size_rate) - fee_rate)
        a = up * size_rate * notional
        c = up * maintenance - equity
        disc = b * b - 4.0 * a * c
        if not (b > 0.0) or not (disc >= 0.0):
            return 1.0
        x = 2.0 * c / (b + math.sqrt(disc))
    else:
        if not (mmr > fee_rate):
            return 1.0
        x = (up * maintenance - equity) / (notional * (up * mmr - fee_rate))
    if x >= 1.0:
        return 1.0
    if x < 0.0:
        return 0.0
    return x


# What :func:`plan_close` decides.
CLOSE_PARTIAL = 0  # close the returned size in the book; the rest of the position stays open
CLOSE_FULL = 1  # close the whole position under the rule's outcome kind
CLOSE_BACKSTOP = 2  # the whole position is taken over by the backstop (kept 0)
CLOSE_NONE = 3  # nothing to close (an incremental liquidation whose equity covers the maintenance)


@jitable
def plan_close(
    rule: Float64Array1D,
    abs_qty: float,
    notional: float,
    basis_price: float,
    inverse: bool,
    equity: float,
    maintenance: float,
    mmr: float,
    fee_rate: float,
    caps: Float64Array1D,
    mmrs: Float64Array1D,
    cums: Float64Array1D,
    allow_partial: bool,
    others_mm: float,
    size_rate: float,
) -> tuple[float, int]:
    """Decide what one liquidation step of a position closes under ``rule``.

    Parameters
    ----------
    rule : (N_RULE,) float64
        The venue's rule vector.
    abs_qty : float
        Position size (absolute; base units, or quote units for inverse contracts).
    notional : float
        Notional at the fill price.
    basis_price : float
        Price the tier is read at (entry for venues valuing maintenance at entry, else the fill).
    inverse : bool
        Inverse contract.
    equity, maintenance : float
        Equity (collateral + uPnL) and maintenance margin at the fill.
    mmr : float
        Marginal maintenance rate at the fill (tier rate plus any fee term).
    fee_rate : float
        Liquidation fee rate of book closes.
    caps, mmrs, cums : (T,) float64
        Tier caps, maintenance rates and maintenance amounts of the position (tier step-down).
    allow_partial : bool
        False after a partial liquidation in the same cool-down (Hyperliquid's 30 s; one bar in
        the backtester): the whole position goes.
    others_mm : float
        Cross margin: the maintenance margin of the account's other positions (``equity`` is
        then the collateral ``wallet + others' uPnL - others' MM`` plus the own uPnL); 0 when
        isolated.  The backstop tests the account (:func:`below_backstop`).
    size_rate : float
        The part of ``mmr`` proportional to the position size (Deribit's ``c |q|``), 0 for a
        flat or tiered rate: the incremental liquidation solves against the size-dependent
        maintenance (:func:`restore_fraction`).

    Returns
    -------
    closed, decision : float, int
        Size to close (absolute) and ``CLOSE_PARTIAL``, ``CLOSE_FULL``, ``CLOSE_BACKSTOP`` or
        ``CLOSE_NONE``.

    Notes
    -----
    Order: the backstop test (the account's equity below ``backstop`` times its maintenance
    margin, :func:`below_backstop`) first, then the partial rule
    (only while the equity at the fill exceeds the partial close's fee: a position bankrupt at
    the fill goes whole), then the full outcome (see the module docstring for the sources).
    A risk-limit step-down is :func:`tier_close` (``RULE_STEP_FROM``, ``RULE_STEP_TO`` and
    ``RULE_STEP_MODE``).
    """
    if below_backstop(equity, maintenance, others_mm, rule[RULE_BACKSTOP]):
        return abs_qty, CLOSE_BACKSTOP
    partial = int(rule[RULE_PARTIAL])
    if allow_partial and partial != PARTIAL_NONE:
        closed = abs_qty
        if partial == PARTIAL_SLICE:
            closed = slice_qty(abs_qty, notional, rule[RULE_FRACTION], rule[RULE_MIN_NOTIONAL])
        elif partial == PARTIAL_TIER:
            closed = tier_close(
                abs_qty,
                notional,
                basis_price,
                inverse,
                equity,
                maintenance,
                fee_rate,
                caps,
                mmrs,
                cums,
                int(rule[RULE_STEP_FROM]),
                int(rule[RULE_STEP_TO]),
                int(rule[RULE_STEP_MODE]),
            )
        else:
            x = restore_fraction(equity, maintenance, notional, mmr, fee_rate, size_rate)
            if x <= 0.0:
                return 0.0, CLOSE_NONE
            if x < 1.0:
                closed = abs_qty * x
        # A partial close needs equity left behind the rest once its fee is paid (in cross margin
        # the account's, equity + others_mm): a position bankrupt at the fill is liquidated whole.
        if closed < abs_qty and equity + others_mm - fee_rate * notional * closed / abs_qty > 0.0:
            return closed, CLOSE_PARTIAL
    return abs_qty, CLOSE_FULL


@jitable
def settle_partial(collateral: float, realised: float, notional: float, fee_rate: float) -> tuple[float, float]:
    """Book a partial liquidation in the book; return (margin left, fee).

    The closed part realises ``realised`` at the fill and pays ``fee_rate * notional``; the
    trader keeps the position's rest with ``collateral + realised - fee`` behind it (the fee
    goes to the insurance fund).  A caller whose margin left is not positive (in cross margin:
    with the other positions' maintenance added back, the account's equity) liquidates the
    whole position instead (:func:`settle_close`).
    """
    fee = fee_rate * notional
    if fee < 0.0:
        fee = 0.0
    return collateral + realised - fee, fee
