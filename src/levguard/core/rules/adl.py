"""Auto-deleveraging (ADL) by venue: who is closed first, how much, and at what price.

When a liquidated position cannot be closed at its bankruptcy price and the insurance fund (or,
on Hyperliquid, the liquidator vault) cannot take the loss, the venue closes positions on the
*opposite* side, best ranked first.  The venues differ in the ranking score, the queue indicator
shown to traders, the ADL trigger and the fill price; they share the queue (highest score
first) and the allocation (front first, each position closed up to its size).

One input shape serves every venue: :class:`AdlPosition` ``(qty, entry_price, mark_price,
equity)``, where ``equity`` is the collateral value behind the position at the mark (in the
settlement currency) in the venue's own sense:

=================  ======================================================================
venue              ``equity``
=================  ======================================================================
``bitmex``         margin + uPnL of the position, so ``bankruptcy = mark - equity / qty``
``binance-usdm``   wallet balance + unrealised PnL of the account (account level)
``bybit-linear``   position margin + uPnL (isolated) or the margin balance (cross)
``hyperliquid``    account value (cross) or the isolated position value
=================  ======================================================================

Sources (read 2026-12-04)
-------------------------
* BitMEX: :mod:`levguard.core.rules.bitmex` (``adl_ranking``, ``adl_queue``, ``adl_allocate``),
  reused here unchanged.
* Binance USDⓈ-M, FAQ "What Is Auto-Deleveraging (ADL) and How Does It Work?"
  (binance.com/en/support/faq/detail/360033525471), current text as quoted on 2025-12-29 (the
  stored copy of the page itself ends before the formula): ``PNL% = uPnL / |notional|``,
  ``EffLev = |notional| / (wallet balance + uPnL)`` (account level; portfolio margin: account
  equity), ranking ``PNL% x EffLev`` if ``PNL% >= 0`` else ``PNL% / EffLev``,
  ``quantile = rank / user count``; positions close "at the bankruptcy price of the initial
  liquidated order".  The 2019-2021 text ranked by ``max(0, uPnL) / max(1, WB) x MM / (WB +
  uPnL)``; that formula is not implemented.  API: ``GET /fapi/v1/adlQuantile`` returns 0-4,
  "queue position and possibility of ADL from low to high".
* Bybit: help article "What is Auto-Deleveraging (ADL)" (help.bybit.com/hc/en-us/articles/
  900000031623): ranking "in order of highest profit and effective leverage use", the selected
  positions are deleveraged "at the bankruptcy price of the liquidated order"; the current
  article (bybit.com/en/help-center/article/Auto-Deleveraging-ADL, zh-TW copy): ranking by
  leveraged return rate.  The trigger: bybit-exchange/docs ``docs/v5/market/adl-alert.mdx``
  (commit 3314fc0 of 2025-12-17 "add adl alert changes", three worked examples).
* Hyperliquid: hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging: when an
  account value or isolated position value becomes negative, users on the opposite side are
  ranked by ``(mark_price / entry_price) x (notional_position / account_value)`` and closed "at
  the previous mark price"; backstop-liquidated positions get no special treatment.  The
  backstop (liquidator vault below 2/3 of the maintenance margin) is
  :data:`levguard.core.rules.hyperliquid.LIQUIDATION`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Literal

import numpy as np

from levguard.core.records import JsonRecord, Record
from levguard.core.rules import bitmex
from levguard.core.rules.bitmex import adl_allocate
from levguard.core.rules.hyperliquid import LIQUIDATION as HYPERLIQUID_LIQUIDATION
from levguard.core.validate import finite_number, number, show
from levguard.errors import InputError

__all__ = [
    "ADL_VENUES",
    "AdlFill",
    "AdlPosition",
    "AdlQueue",
    "BybitAdlCheck",
    "adl_allocate",
    "adl_fill_price",
    "adl_queue",
    "adl_score",
    "binance_adl_ranking",
    "bybit_adl_check",
    "bybit_adl_ranking",
    "bybit_pnl_ratio",
    "deleverage",
    "hyperliquid_adl_index",
    "hyperliquid_adl_score",
    "hyperliquid_resolution",
]

ADL_VENUES = ("bitmex", "binance-usdm", "bybit-linear", "hyperliquid")
"""Venue names :func:`adl_queue` accepts (the :class:`~levguard.core.rules.base.VenueModel` names)."""

FILL_RULE = {
    "bitmex": "bankruptcy price of the liquidated position",
    "binance-usdm": "bankruptcy price of the initial liquidated order",
    "bybit-linear": "bankruptcy price of the liquidated order",
    "hyperliquid": "previous mark price",
}

LIGHTS = 5
"""Steps of the queue indicators levguard computes (BitMEX's 20 % steps, Binance's five levels 0-4)."""


@dataclass(frozen=True, slots=True)
class AdlPosition(Record):
    """One open position as an ADL candidate (see the module table for ``equity`` per venue).

    Attributes
    ----------
    qty : float
        Signed size in base units (> 0 long, < 0 short).
    entry_price, mark_price : float
        Average entry and mark price (quote per base), > 0.
    equity : float
        Collateral value behind the position at the mark (settlement currency), > 0.
    """

    qty: float
    entry_price: float
    mark_price: float
    equity: float

    def __post_init__(self) -> None:
        for name in ("qty", "entry_price", "mark_price", "equity"):
            # Stored as float (an int beyond float64's range was an OverflowError of math.isfinite).
            object.__setattr__(self, name, finite_number(getattr(self, name), name))
        if self.qty == 0:
            raise InputError("qty must be non-zero (signed: > 0 long, < 0 short), was 0")
        for name in ("entry_price", "mark_price", "equity"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be > 0, was {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class AdlQueue(JsonRecord):
    """The ADL queue of one liquidation: the opposite side's positions, best ranked first.

    Attributes
    ----------
    venue : str
        One of :data:`ADL_VENUES`.
    order : tuple of int
        Indices into the input positions, closed first to last (opposite side only; ties in
        input order).
    scores : tuple of float
        Per input position, the venue's ranking score (higher: closed earlier); NaN for the
        positions on the liquidated side.
    indicator : tuple of int or None
        Per input position, the lights the venue shows (5: the front fifth ... 1: the last
        fifth; 0 for the liquidated side); None where the venue publishes no rule for it
        (Bybit, Hyperliquid).  Binance's API value is ``indicator - 1``.
    fill_rule : str
        The price the queue's closes execute at (see :func:`adl_fill_price`).
    """

    venue: str
    order: tuple[int, ...]
    scores: tuple[float, ...]
    indicator: tuple[int, ...] | None
    fill_rule: str


@dataclass(frozen=True, slots=True)
class AdlFill(Record):
    """One counterparty close: input position ``index`` closes ``qty`` (its own sign) at ``price``."""

    index: int
    qty: float
    price: float


@dataclass(frozen=True, slots=True)
class BybitAdlCheck(Record):
    """Bybit's insurance-pool ADL test for one symbol.

    Attributes
    ----------
    triggered : bool
        Whether ADL runs.
    case : str
        ``"pnl_drawdown"`` (the symbol's 8-hour drawdown reached the threshold while the pool
        balance is above its trigger threshold), ``"pool_balance"`` (the pool balance is <= 0) or
        ``"none"``.
    pnl_ratio : float
        The symbol's 8-hour PnL drawdown ratio (<= 0).
    socialised : float
        Loss ADL covers: ``(insurance_pnl_ratio - pnl_ratio) x max_balance`` for a drawdown ADL
        (what brings the ratio back to the threshold), the pool's deficit ``-balance`` for a
        balance ADL, 0 otherwise.
    stops : bool
        Whether a running drawdown ADL stops here (``pnl_ratio > adl_stop_ratio``) or a balance
        ADL does (``balance > 0``).
    """

    triggered: bool
    case: str
    pnl_ratio: float
    socialised: float
    stops: bool


def _venue(venue: object) -> str:
    if not isinstance(venue, str) or venue.strip().lower() not in ADL_VENUES:
        raise InputError(f"venue must be one of {', '.join(ADL_VENUES)}, was {show(venue)}")
    return venue.strip().lower()


def _leveraged_pnl(pnl_pct: float, leverage: float) -> float:
    # The shape Binance and Bybit share: profit times leverage, a loss divided by it.
    return pnl_pct * leverage if pnl_pct >= 0 else pnl_pct / leverage


def binance_adl_ranking(qty: float, entry_price: float, mark_price: float, equity: float) -> float:
    """Return Binance USDⓈ-M's ADL ranking of one position (higher: deleveraged earlier).

    Parameters
    ----------
    qty : float
        Signed size (base units).
    entry_price, mark_price : float
        Average entry and mark price.
    equity : float
        Wallet balance + unrealised PnL of the account (portfolio margin: account equity), > 0.

    Notes
    -----
    Binance FAQ 360033525471 ("Calculation for Liquidation Priority Ranking")::

        PNL% = uPnL / |notional|,  EffLev = |notional| / (WB + uPnL),  notional = qty x mark
        ranking = PNL% x EffLev  if PNL% >= 0,  PNL% / EffLev  otherwise

    PNL% and the notional are per symbol, ``WB + uPnL`` per account.  In profit the ranking
    reduces to ``uPnL / equity``.
    """
    p = AdlPosition(qty, entry_price, mark_price, equity)
    notional = abs(p.qty * p.mark_price)
    upnl = p.qty * (p.mark_price - p.entry_price)
    return _leveraged_pnl(upnl / notional, notional / p.equity)


def bybit_adl_ranking(qty: float, entry_price: float, mark_price: float, equity: float) -> float:
    """Return Bybit's ADL ranking of one linear position (higher: deleveraged earlier).

    Parameters
    ----------
    qty, entry_price, mark_price : float
        As in :func:`binance_adl_ranking`.
    equity : float
        Position margin + uPnL (isolated) or the margin balance behind it (cross), > 0.

    Notes
    -----
    Bybit ranks "in order of highest profit and effective leverage use" (help article
    900000031623) / by leveraged return rate (current article); the article's formula itself
    could not be read (the stored copies stop at the table header).  levguard reads it as
    ``PnL% x EffLev`` in profit, ``PnL% / EffLev`` in loss with ``PnL% = uPnL / |entry value|``
    and ``EffLev = |mark value| / equity``: for an isolated position ``equity = mark value -
    bankrupt value``, so this equals BitMEX's :func:`~levguard.core.rules.bitmex.adl_ranking`
    wherever that is defined (positive bankruptcy price), and also covers longs below 1x.
    """
    p = AdlPosition(qty, entry_price, mark_price, equity)
    upnl = p.qty * (p.mark_price - p.entry_price)
    return _leveraged_pnl(upnl / abs(p.qty * p.entry_price), abs(p.qty * p.mark_price) / p.equity)


def hyperliquid_adl_index(qty: float, entry_price: float, mark_price: float, account_value: float) -> float:
    """Return Hyperliquid's ADL sorting index ``(mark / entry) x (|notional| / account value)``.

    Parameters
    ----------
    qty : float
        Signed size (base units); the notional is ``|qty| x mark``.
    entry_price, mark_price : float
        Average entry and mark price.
    account_value : float
        Account value (cross) or isolated position value, > 0.

    Notes
    -----
    hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging: "The specific sorting
    index to determine the affected users in profit is ``(mark_price / entry_price) *
    (notional_position / account_value)``".  levguard applies the printed ratio to both sides:
    for a short, ``mark / entry`` falls as its profit grows (the page states no short-side form).
    """
    p = AdlPosition(qty, entry_price, mark_price, account_value)
    return (p.mark_price / p.entry_price) * (abs(p.qty) * p.mark_price / p.equity)


def hyperliquid_adl_score(qty: float, entry_price: float, mark_price: float, account_value: float) -> float:
    """Return the score levguard ranks Hyperliquid's ADL queue by (higher: closed earlier).

    The sorting index (:func:`hyperliquid_adl_index`) for a position in profit; ``-1 / index``
    for a position at or below break-even, so it comes after every position in profit.

    Notes
    -----
    hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging ranks "the affected users
    in profit" by the index and names no order for the others; levguard closes them last (a
    last resort when the users in profit do not hold enough), those of higher index first.
    Ranking every opposite position by the index put a short at a loss (its ``mark / entry``
    above 1) ahead of shorts in profit.
    """
    index = hyperliquid_adl_index(qty, entry_price, mark_price, account_value)
    return index if qty * (mark_price - entry_price) > 0.0 else -1.0 / index


def _bitmex_score(p: AdlPosition, i: int) -> float:
    bankruptcy = p.mark_price - p.equity / p.qty
    if not bankruptcy > 0:
        raise InputError(
            f"positions[{i}]: BitMEX's ranking needs a positive bankruptcy price (mark - equity / qty), was "
            f"{bankruptcy!r} (qty={p.qty!r}, mark={p.mark_price!r}, equity={p.equity!r})"
        )
    return bitmex.adl_ranking(p.qty, p.entry_price, p.mark_price, bankruptcy)


_SCORES: dict[str, Callable[[AdlPosition, int], float]] = {
    "bitmex": _bitmex_score,
    "binance-usdm": lambda p, _i: binance_adl_ranking(p.qty, p.entry_price, p.mark_price, p.equity),
    "bybit-linear": lambda p, _i: bybit_adl_ranking(p.qty, p.entry_price, p.mark_price, p.equity),
    "hyperliquid": lambda p, _i: hyperliquid_adl_score(p.qty, p.entry_price, p.mark_price, p.equity),
}


def adl_score(venue: str, position: AdlPosition) -> float:
    """Return ``venue``'s ADL ranking score of one position (higher: closed earlier)."""
    if not isinstance(position, AdlPosition):
        raise InputError(f"position must be an AdlPosition, was {type(position).__name__}")
    return _SCORES[_venue(venue)](position, 0)


def _count_lights(n: int) -> list[int]:
    # Binance: quantile = rank / count with rank 1 the lowest score; the k-th of n in the queue
    # (0 first) has rank n - k.  Five levels in 20 % steps (levguard's reading of the 0-4 API).
    return [math.ceil((n - k) / n * LIGHTS - 1e-12) for k in range(n)]


def adl_queue(venue: str, positions: Sequence[AdlPosition], liquidated_qty: float) -> AdlQueue:
    """Rank the positions opposite a liquidated one into ``venue``'s ADL queue.

    Parameters
    ----------
    venue : str
        One of :data:`ADL_VENUES`.
    positions : sequence of AdlPosition
        Open positions of the symbol (both sides; only the opposite side is ranked).
    liquidated_qty : float
        Signed size of the liquidated position (only its sign is used).

    Returns
    -------
    AdlQueue
        Closing order, per-position scores and indicator lights.

    Notes
    -----
    Highest score first, ties in input order (a stable sort).  Indicator: BitMEX's size-weighted
    percentile (:func:`levguard.core.rules.bitmex.adl_queue`), lights ``6 - 5 x percentile``;
    Binance's count quantile ``rank / count`` (rank 1 the lowest score) in fifths,
    ``ceil(5 x quantile)``.  Bybit (API ``adlRankIndicator`` 1-5) and Hyperliquid publish no
    bucket rule, so their indicator is None.  Sources: the module docstring.
    """
    name = _venue(venue)
    try:  # 10**400 was an OverflowError of math.isfinite
        qty = finite_number(liquidated_qty, "liquidated_qty")
    except InputError:
        qty = 0.0
    if qty == 0:
        raise InputError(f"liquidated_qty must be a finite non-zero signed size, was {show(liquidated_qty)}")
    if isinstance(positions, str | bytes) or not isinstance(positions, Sequence):
        raise InputError(f"positions must be a sequence of AdlPosition, was {show(positions)}")
    for i, p in enumerate(positions):
        if not isinstance(p, AdlPosition):
            raise InputError(f"positions[{i}] must be an AdlPosition, was {type(p).__name__}")
    side = [i for i, p in enumerate(positions) if p.qty * qty < 0]
    scores = np.full(len(positions), np.nan)
    for i in side:
        scores[i] = _SCORES[name](positions[i], i)
    lights: list[int] = [0] * len(positions)
    if name == "bitmex":
        sub_order, pct = bitmex.adl_queue([scores[i] for i in side], [positions[i].qty for i in side])
        order = [side[k] for k in sub_order]
        for k, i in enumerate(side):
            lights[i] = round(LIGHTS + 1 - LIGHTS * float(pct[k]))
    else:
        order = [side[int(k)] for k in np.argsort(-scores[side], kind="stable")] if side else []
        for i, n_lights in zip(order, _count_lights(len(order)), strict=True):
            lights[i] = n_lights
    return AdlQueue(
        venue=name,
        order=tuple(int(i) for i in order),
        scores=tuple(float(s) for s in scores),
        indicator=tuple(lights) if name in ("bitmex", "binance-usdm") else None,
        fill_rule=FILL_RULE[name],
    )


def adl_fill_price(
    venue: str, *, bankruptcy_price: float | None = None, previous_mark_price: float | None = None
) -> float:
    """Return the price ``venue`` closes ADL counterparties at.

    Parameters
    ----------
    venue : str
        One of :data:`ADL_VENUES`.
    bankruptcy_price : float, optional
        Bankruptcy price of the liquidated order (BitMEX, Binance, Bybit).
    previous_mark_price : float, optional
        Mark price before the current one (Hyperliquid).

    Notes
    -----
    BitMEX, Binance ("closed out at the bankruptcy price of the initial liquidated order") and
    Bybit (help 900000031623) fill at the liquidated order's bankruptcy price; Hyperliquid "at
    the previous mark price".  Bybit's drawdown ADL prices the bankruptcy at the drawdown
    threshold instead (adl-alert example 1): pass that price.
    """
    name = _venue(venue)
    field, value = (
        ("previous_mark_price", previous_mark_price)
        if name == "hyperliquid"
        else ("bankruptcy_price", bankruptcy_price)
    )
    if value is None or isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{name} fills ADL at the {FILL_RULE[name]}: pass {field}, was {show(value)}")
    price = number(value, field)  # 10**400: an OverflowError of math.isfinite
    if not (math.isfinite(price) and price > 0):
        raise InputError(f"{field} must be a finite price > 0, was {value!r}")
    return price


def deleverage(
    venue: str,
    positions: Sequence[AdlPosition],
    liquidated_qty: float,
    *,
    bankruptcy_price: float | None = None,
    previous_mark_price: float | None = None,
) -> tuple[AdlFill, ...]:
    """Close ``|liquidated_qty|`` against ``venue``'s ADL queue: the counterparty fills, front first.

    Parameters
    ----------
    venue, positions, liquidated_qty
        As in :func:`adl_queue`; ``|liquidated_qty|`` is the quantity to deleverage.
    bankruptcy_price, previous_mark_price : float, optional
        The fill price input the venue needs (:func:`adl_fill_price`).

    Returns
    -------
    tuple of AdlFill
        Each closes part or all of one opposite position (signed like that position); the
        quantities add up to ``min(|liquidated_qty|, opposite open interest)``.
    """
    price = adl_fill_price(venue, bankruptcy_price=bankruptcy_price, previous_mark_price=previous_mark_price)
    queue = adl_queue(venue, positions, liquidated_qty)
    sizes = [abs(p.qty) for p in positions]
    return tuple(
        AdlFill(index=i, qty=math.copysign(q, positions[i].qty), price=price)
        for i, q in adl_allocate(queue.order, sizes, abs(liquidated_qty))
    )


def bybit_pnl_ratio(symbol_pnl: float, symbol_max_pnl_8h: float, max_balance_8h: float) -> float:
    """Return Bybit's 8-hour PnL drawdown ratio of a symbol in its insurance pool.

    Notes
    -----
    bybit-exchange/docs ``docs/v5/market/adl-alert.mdx``: ``pnlRatio = (symbol's current PnL -
    symbol's 8h max PnL) / insurance pool's 8h max balance``.  The help article's example
    (zh-MY copy of 2025-11-07): pool 8h high 20,000 USDC, position margin 1,000, realised and
    unrealised losses 8,000: drawdown ``(8,000 - 1,000) / 20,000 = 35 %``.
    """
    symbol_pnl = finite_number(symbol_pnl, "symbol_pnl")
    symbol_max_pnl_8h = finite_number(symbol_max_pnl_8h, "symbol_max_pnl_8h")
    max_balance_8h = number(max_balance_8h, "max_balance_8h")
    if not (math.isfinite(max_balance_8h) and max_balance_8h > 0):
        raise InputError(f"max_balance_8h must be finite and > 0, was {max_balance_8h!r}")
    if symbol_pnl > symbol_max_pnl_8h:
        raise InputError(
            f"symbol_pnl ({symbol_pnl!r}) cannot exceed symbol_max_pnl_8h ({symbol_max_pnl_8h!r}), its 8-hour maximum"
        )
    return (symbol_pnl - symbol_max_pnl_8h) / max_balance_8h


def bybit_adl_check(
    balance: float,
    pnl_ratio: float,
    max_balance_8h: float,
    *,
    trigger_threshold: float,
    insurance_pnl_ratio: float = -0.3,
    adl_stop_ratio: float = -0.25,
) -> BybitAdlCheck:
    """Test Bybit's insurance-pool ADL trigger for one symbol.

    Parameters
    ----------
    balance : float
        Insurance pool balance.
    pnl_ratio : float
        The symbol's 8-hour drawdown ratio (:func:`bybit_pnl_ratio`), <= 0.
    max_balance_8h : float
        The pool's 8-hour maximum balance, > 0.
    trigger_threshold : float
        ``adlTriggerThreshold``: the drawdown case applies only while ``balance`` exceeds it.
    insurance_pnl_ratio, adl_stop_ratio : float, default -0.3, -0.25
        Trigger and stop ratios (``insurancePnlRatio``, ``adlStopRatio``; per symbol in
        ``GET /v5/market/adlAlert``; -0.3 and -0.25 in every published example).

    Notes
    -----
    bybit-exchange/docs ``docs/v5/market/adl-alert.mdx`` (2025-12-17):

    * drawdown ADL: ``balance > adlTriggerThreshold`` and ``pnlRatio <= insurancePnlRatio``
      (the text writes ``<``; example 2 triggers at exactly -0.30 with ``<=``); the bankruptcy
      price is set at the threshold, so ADL covers ``(insurancePnlRatio - pnlRatio) x
      maxBalance`` (example 1: 1M pool, 350K loss, ADL covers 50K); stops once ``pnlRatio >
      adlStopRatio``;
    * balance ADL: ``balance <= 0``, stops once ``balance > 0`` (example 3).
    """
    balance, trigger_threshold, insurance_pnl_ratio, adl_stop_ratio = (
        finite_number(value, name)
        for name, value in (
            ("balance", balance),
            ("trigger_threshold", trigger_threshold),
            ("insurance_pnl_ratio", insurance_pnl_ratio),
            ("adl_stop_ratio", adl_stop_ratio),
        )
    )
    pnl_ratio, max_balance_8h = number(pnl_ratio, "pnl_ratio"), number(max_balance_8h, "max_balance_8h")
    if not (math.isfinite(pnl_ratio) and pnl_ratio <= 0):
        raise InputError(f"pnl_ratio must be finite and <= 0 (a drawdown), was {pnl_ratio!r}")
    if not (math.isfinite(max_balance_8h) and max_balance_8h > 0):
        raise InputError(f"max_balance_8h must be finite and > 0, was {max_balance_8h!r}")
    if not insurance_pnl_ratio < adl_stop_ratio <= 0:
        raise InputError(
            "insurance_pnl_ratio < adl_stop_ratio <= 0 is required (trigger below stop), was "
            f"{insurance_pnl_ratio!r} and {adl_stop_ratio!r}"
        )
    if balance <= 0:
        return BybitAdlCheck(True, "pool_balance", pnl_ratio, -balance, False)
    if balance > trigger_threshold and pnl_ratio <= insurance_pnl_ratio:
        covered = (insurance_pnl_ratio - pnl_ratio) * max_balance_8h
        return BybitAdlCheck(True, "pnl_drawdown", pnl_ratio, covered, pnl_ratio > adl_stop_ratio)
    return BybitAdlCheck(False, "none", pnl_ratio, 0.0, pnl_ratio > adl_stop_ratio)


def hyperliquid_resolution(
    account_value: float, maintenance_margin: float
) -> Literal["healthy", "book", "backstop", "adl"]:
    """Return which Hyperliquid mechanism an account (or isolated position) is in.

    ``"healthy"`` at or above the maintenance margin; ``"book"`` below it (market liquidation);
    ``"backstop"`` below ``2/3`` of it (the liquidator vault, HLP, takes the position and the
    margin over); ``"adl"`` once the account value is negative.

    Notes
    -----
    hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations (backstop below 2/3 of the
    maintenance margin, :data:`levguard.core.rules.hyperliquid.LIQUIDATION` ``.backstop``) and
    /trading/auto-deleveraging ("If a user's account value or isolated position value becomes
    negative, the users on the opposite side of the position are ranked ...").
    """
    account_value = finite_number(account_value, "account_value")
    maintenance_margin = number(maintenance_margin, "maintenance_margin")
    if not (math.isfinite(maintenance_margin) and maintenance_margin > 0):
        raise InputError(f"maintenance_margin must be finite and > 0, was {maintenance_margin!r}")
    if account_value < 0:
        return "adl"
    if account_value < HYPERLIQUID_LIQUIDATION.backstop * maintenance_margin:
        return "backstop"
    if account_value < maintenance_margin:
        return "book"
    return "healthy"
