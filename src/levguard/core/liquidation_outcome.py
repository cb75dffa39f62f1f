"""What a liquidation leaves the trader, per venue: one model for every consumer.

Each venue's :class:`~levguard.core.rules.base.LiquidationRule` (its ``liquidation`` field)
says how it books a liquidation; :func:`liquidation_outcome` evaluates one liquidation step of
one position under it and returns a :class:`LiquidationOutcome` (size closed, fill, fee, the
insurance fund's change, what the trader keeps, and why).  The arithmetic is the kernels'
(:mod:`levguard.kernels.liquidation`), which the backtester, the cascade simulator and the
paper venue call in their loops, so the scalar answer and the simulations cannot drift apart.

* ``binance-usdm``, ``binance-coinm``: takeover; Smart Liquidation's partial IOC is not modelled
  (its size is not published).
* ``bybit-linear``, ``bybit-inverse``, ``gate``: takeover, after one risk-limit step-down to the
  highest lower tier that restores the margin when one does.
* ``bitmex``: takeover, after one step below the next lower risk limit when that restores the
  margin.
* ``okx``: takeover; tier 3+ positions are first reduced to tier 1.
* ``hyperliquid``: book close without fee; 20 % slices above 100k USDC, the whole position in the
  30 s cool-down; backstop takeover below 2/3 of the maintenance margin.
* ``dydx-v4``: book close, the fund takes at most 1.5 % of the quote, capped at the position's
  share of the account's equity (the remainder when isolated).
* ``deribit``: book close with a 0.75 % fee on top of the taker fee, incremental: just enough to
  restore equity > MM.
* ``generic``: book close with the taker fee.

Sources are in each rule's ``source`` and in docs/margin.md ("Liquidation outcomes").
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from levguard.core.instruments import ContractKind
from levguard.core.margin import PositionReport, instrument_for, venue_tiers
from levguard.core.positions import Position
from levguard.core.records import Record
from levguard.core.rules import get_venue
from levguard.core.rules.base import LiquidationRule, MMBasis, NamedKind, VenueModel
from levguard.core.tiers import TierTable
from levguard.core.validate import (
    NUMBER_MAX,
    as_amount,
    finite_number,
    flag,
    non_negative_number,
    number,
    rate,
    show,
)
from levguard.errors import InputError
from levguard.kernels import liquidation as kl
from levguard.kernels.margin import position_notional, position_upnl, tier_index

__all__ = [
    "LiquidationOutcome",
    "book_fee_rate",
    "cascade_regime_fields",
    "liquidation_outcome",
    "liquidation_rest",
    "liquidation_rule",
    "venue_model",
]

_NO_CAPS = np.array([np.inf])
_NO_RATES = np.zeros(1)


def venue_model(venue: str | VenueModel | LiquidationRule) -> VenueModel | None:
    """Return the venue behind a name or a model (its default taker fee, MM basis, how it reads
    tiers); None for a bare :class:`LiquidationRule`."""
    if isinstance(venue, VenueModel):
        return venue
    return get_venue(venue) if isinstance(venue, str) else None


def liquidation_rule(venue: str | VenueModel | LiquidationRule) -> LiquidationRule:
    """Return the liquidation rule of a venue (a rule set name, a venue model, or a rule itself).

    Raises
    ------
    InputError
        Unknown venue name (the message lists the valid names).
    """
    if isinstance(venue, LiquidationRule):
        return venue
    if isinstance(venue, VenueModel):
        return venue.liquidation
    return get_venue(venue).liquidation


def cascade_regime_fields(venue: str | VenueModel | LiquidationRule) -> dict[str, object]:
    """Return the cascade simulator's regime fields that a venue's liquidation rule sets.

    ``outcome`` and ``backstop``; ``liquidation_fee`` when the rule has a fee; ``partial``
    (the slice fraction, ``"tier"`` or ``"restore"``); for slices ``partial_min_notional``, for
    tier step-downs ``step_from``, ``step_to`` and ``step_mode`` (see
    :class:`levguard.cascade.simulator.MarginRegime`).
    """
    rule = liquidation_rule(venue)
    out: dict[str, object] = {"outcome": rule.kind, "backstop": rule.backstop}
    if rule.fee_rate is not None:
        # Deribit's fee comes on top of the taker fee: the venue's default taker, when known.
        model = venue_model(venue)
        out["liquidation_fee"] = rule.resolved_fee(model.default_taker_fee if model is not None else 0.0)
    if rule.partial == "slice":
        out["partial"] = rule.fraction
        out["partial_min_notional"] = rule.min_notional
    elif rule.partial == "tier":
        out.update(partial="tier", step_from=rule.step_from, step_to=rule.step_to, step_mode=rule.step_mode)
    elif rule.partial == "restore":
        out["partial"] = "restore"
    return out


@dataclass(frozen=True, slots=True)
class LiquidationOutcome(Record):
    """One liquidation step of one position (amounts in the settlement currency).

    Attributes
    ----------
    kind : str
        The rule's outcome kind (``"takeover"`` or ``"book"``).
    closed_qty : float
        Signed size closed (the position's sign); 0 when nothing had to be closed.
    remaining_qty : float
        Signed size left open (0 after a full liquidation).
    fill_price : float
        Price the liquidation executed at.
    bankruptcy_price : float or None
        Price at which the position's margin is exhausted (``margin + uPnL = 0``); None when
        none is positive.
    margin : float
        Margin behind the position before the liquidation.
    trading_pnl : float
        Realised PnL of the closed part at the fill.
    fee : float
        What the venue took from the trader's remaining equity: the liquidation fee of a book
        close, or the clearance (everything left) of a takeover.
    insurance_fund : float
        The insurance fund's (or liquidator's) change: the fee, less what it pays when the
        fill is beyond the bankruptcy price.
    kept : float
        Margin left to the trader: all of it after a full liquidation, or what stays behind the
        remaining position after a partial one.  Negative only in cross margin on dYdX, whose
        fee (capped by the position's share of the account's equity) may exceed the collateral
        share behind the position: the rest of the account pays the difference.
    taken_over : bool
        The position went to the insurance fund / liquidator at its bankruptcy price.
    partial : bool
        Part of the position stays open.
    reason : str
        Which rule decided, in words.
    """

    kind: str
    closed_qty: float
    remaining_qty: float
    fill_price: float
    bankruptcy_price: float | None
    margin: float
    trading_pnl: float
    fee: float
    insurance_fund: float
    kept: float
    taken_over: bool
    partial: bool
    reason: str


def _amount(value: object, name: str) -> float:
    # A number (NumPy's too: np.float32 was refused) in as_amount's range; bools, strings and None
    # are refused by name (validate.number), NaN and inf pass for the caller's check to name.
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return as_amount(value, name)
    return as_amount(number(value, name), name)


def _positive(value: object, name: str) -> float:
    x = _amount(value, name)
    if not (math.isfinite(x) and x > 0):
        raise InputError(f"{name} must be a finite number > 0, was {show(value)}")
    return x


def _bankruptcy_price(q: float, entry: float, margin: float, inverse: bool) -> float | None:
    # margin + uPnL(P) = 0: linear P = EP - margin / q; inverse 1/P = 1/EP + margin / q.
    if inverse:
        inv = 1.0 / entry + margin / q
        return 1.0 / inv if inv > 0.0 else None
    bp = entry - margin / q
    return bp if bp > 0.0 else None


def book_fee_rate(rule: LiquidationRule, taker_fee: float, fee_rate: float | None = None) -> float:
    """Return the liquidation fee rate of book closes and partial slices: ``fee_rate``, or the
    rule's resolved with the account's taker fee (:meth:`LiquidationRule.resolved_fee`; Deribit
    charges both).

    Raises
    ------
    InputError
        The rate is not a fraction in [0, 0.1), naming ``fee_rate``, or the taker fee that made it.
    """
    fee = (
        rule.resolved_fee(finite_number(taker_fee, "taker_fee"))
        if fee_rate is None
        else finite_number(fee_rate, "fee_rate")
    )
    if not (math.isfinite(fee) and 0.0 <= fee < 0.1):
        if fee_rate is None and fee < 0.0:  # the taker fee itself is out of range
            raise InputError(f"taker_fee must be a fraction in [0, 0.1), was {show(taker_fee)}")
        if fee_rate is None:  # the rule's fee with the account's taker fee (Deribit adds both)
            raise InputError(f"taker_fee {show(taker_fee)} makes a liquidation fee of {show(fee)}, above 10 %")
        raise InputError(f"fee_rate must be a fraction in [0, 0.1), was {show(fee)}")
    return fee


def _inverse_refusal(model: VenueModel) -> str:
    # Why ``model`` takes no inverse position ("" when it may): a venue listing none
    # (inverse_refusal: Hyperliquid, dYdX), or one whose rates refuse its inverse contracts
    # (Deribit's deribit_rates; its symbol_kind says why).
    if model.inverse_refusal:
        return model.inverse_refusal
    if model.rate_based and model.kind is ContractKind.LINEAR and isinstance(model.symbol_kind, NamedKind):
        return model.symbol_kind.advice
    return ""


def _default_kind(model: VenueModel, symbol: str | None) -> ContractKind:
    # The contract kind the margin engine gives a position that does not state one: the
    # symbol's on the venue (NamedKind refuses a name of the kind the venue does not list),
    # else the venue's own.
    if symbol is None:
        return model.kind
    if not isinstance(symbol, str) or not symbol.strip():
        raise InputError(f"symbol must be a non-empty string or None, was {show(symbol)}")
    return model.kind_for(symbol)


def _venue_rates(
    model: VenueModel, symbol: str | None, q: float, entry: float, fill: float
) -> tuple[TierTable | None, float]:
    # (tiers, size coefficient) of a rate-based venue's built-in rates for ``symbol`` at size q
    # (core.margin.venue_tiers, the margin engine's table); (None, 0) where the venue has no
    # rate by size and no symbol was given.
    sym = "BTC" if symbol is None else symbol
    if not isinstance(sym, str) or not sym.strip():
        raise InputError(f"symbol must be a non-empty string or None, was {show(symbol)}")
    position = Position(instrument_for(model, sym), q, entry, fill)
    coef = model.mm_size_coef(position)
    if symbol is None and not coef > 0.0:
        return None, 0.0
    return venue_tiers(model, position), coef


def _triggered(model: VenueModel | None, equity: float, maintenance: float) -> bool:
    # The venue's liquidation trigger (VenueModel.liquidatable); a bare rule's: E <= MM.
    if model is not None:
        return model.liquidatable(equity, maintenance)
    return equity <= maintenance


def liquidation_outcome(
    rule: str | VenueModel | LiquidationRule,
    qty: float,
    entry_price: float,
    fill_price: float,
    margin: float,
    *,
    tiers: TierTable | None = None,
    maintenance_margin: float | None = None,
    inverse: bool | None = None,
    fee_rate: float | None = None,
    taker_fee: float | None = None,
    mm_at_entry: bool | None = None,
    allow_partial: bool = True,
    others_maintenance: float = 0.0,
    size_coef: float | None = None,
    symbol: str | None = None,
    check_trigger: bool = False,
) -> LiquidationOutcome:
    """Evaluate one liquidation step of one position under a venue's rule.

    Parameters
    ----------
    rule : str, VenueModel or LiquidationRule
        A rule set name (``"binance-usdm"``), a venue model or a rule.
    qty : float
        Signed position size (base units; quote units for inverse contracts), non-zero.
    entry_price : float
        Average entry price (> 0).
    fill_price : float
        Price the liquidation executes at (> 0): the liquidation price, or a worse price after
        a gap.
    margin : float
        Margin behind the position (isolated margin, or its cross collateral); may be <= 0
        when the account is already bankrupt.
    tiers : TierTable, optional
        The position's maintenance tiers: the maintenance margin at the fill (backstop,
        incremental liquidation), its marginal rate and the tier caps (step-down).  Read as the
        venue applies them where ``rule`` names one
        (:meth:`~levguard.core.rules.base.VenueModel.read_tiers`, as the margin engine does):
        without maintenance amounts on OKX and BitMEX, refused by quantity on a venue that
        deducts an amount by notional tier.  Tiers by quantity (OKX's contracts) are valued at
        the price the tier is read at (the fill, or the entry where the maintenance margin is at
        entry).
    maintenance_margin : float, optional
        Maintenance margin at the fill; overrides ``tiers`` for the amount (without tiers its
        ratio to the notional is the marginal rate).  Default from ``tiers``: their maintenance
        margin plus, where the venue adds the taker fee to the maintenance rate (OKX, Gate:
        :meth:`~levguard.core.rules.base.VenueModel.margin_fees`), ``taker_fee`` x the notional
        at the fill, as the margin engine reads it.
    inverse : bool, optional
        Inverse (coin-settled) contract; refused on a venue that lists none, or whose inverse
        contracts levguard does not model (Hyperliquid, dYdX v4, Deribit), as the margin engine
        refuses them.  Default the contract kind the margin engine gives a position that does not
        state its own (:meth:`~levguard.core.rules.base.VenueModel.kind_for`): the venue's kind
        (inverse on ``binance-coinm`` and ``bybit-inverse``), or the kind ``symbol`` names there,
        refused where it names a kind the venue does not list (``BTCUSDT`` on Binance COIN-M);
        False for a bare rule.  Given, it is the position's own kind, as the engine takes a
        position's ``contract_kind`` (a linear contract on ``binance-coinm`` is read as linear).
    fee_rate : float, optional
        Liquidation fee rate of book closes and partial slices, the whole of it (Deribit's taker
        fee included); default the rule's (plus ``taker_fee`` where the venue charges both,
        Deribit), else ``taker_fee``.
    taker_fee : float, optional
        The account's taker fee rate (the fee of partial reductions on venues without a
        liquidation fee); default the venue's (OKX and Deribit 0.05 %, Gate and Bybit inverse
        0.075 %; 0 where levguard has none, and for a bare rule).
    mm_at_entry : bool, optional
        Tiers are read at the entry notional for the step-down; default the venue's (Bybit,
        BitMEX), False for a bare rule.
    allow_partial : bool
        False within the cool-down after a partial liquidation: the whole position goes.
    others_maintenance : float
        Cross margin: the maintenance margin of the account's other cross positions (>= 0; the
        ``margin`` is then their collateral share, ``wallet + others' uPnL - others' MM``).  The
        backstop tests the account's equity against its total maintenance margin
        (:func:`levguard.kernels.liquidation.below_backstop`), and dYdX caps its fee by the
        position's share of the account's equity (:func:`levguard.kernels.liquidation.fee_cap`);
        0 (default): isolated.
    size_coef : float, optional
        Maintenance rate added per unit of position size (>= 0; Deribit's linear perpetuals:
        0.005 % per BTC, :meth:`levguard.core.rules.base.VenueModel.mm_size_coef`), included in
        the rate of ``tiers`` or ``maintenance_margin``: an incremental liquidation solves
        against that size-dependent maintenance
        (:func:`levguard.kernels.liquidation.restore_fraction`).  Default 0 (a flat or tiered
        rate), or the venue's where its built-in rates apply (below).
    symbol : str, optional
        The instrument whose built-in rates a venue with rates by size applies when neither
        ``tiers`` nor ``maintenance_margin`` is given: Deribit's linear perpetuals, maintenance
        rate 1 % + 0.005 % per BTC at the position's size (default its BTC perpetual,
        ``BTC_USDC-PERPETUAL``), with their ``size_coef``.  Given, any rate-based venue reads its
        rates for it (dYdX v4's ``BTC-USD``).  Without either, other venues value the
        maintenance margin at 0.  On every venue it gives the default ``inverse``.
    check_trigger : bool
        False (default): the position is in liquidation (the caller found it so, or the fill is
        the liquidation price or worse, as ``fill_price`` says) and the rule applies as it is:
        at the margin engine's own liquidation price, where the equity and the maintenance
        margin agree only up to rounding, a trigger test would flip either way, and a venue may
        fill better than the price that triggered it (dYdX's contract-loss example, filled at
        0.85 with 25 of equity against 15).  True: for a caller that does not know, nothing is
        closed unless, where a maintenance margin is known (``tiers``, ``maintenance_margin`` or
        the venue's rates), the equity at the fill meets the venue's liquidation trigger
        (:meth:`~levguard.core.rules.base.VenueModel.liquidatable`: ``E <= MM``, strictly below
        on dYdX and Hyperliquid, never with no maintenance margin on dYdX; ``E <= MM`` for a bare
        rule), in cross margin the account's (``E + others_maintenance`` against
        ``MM + others_maintenance``).

    Returns
    -------
    LiquidationOutcome

    Raises
    ------
    InputError
        A bad argument (the message names it).

    Notes
    -----
    With ``C`` the margin, ``R`` the realised PnL of the closed part and ``E = C + R``: a
    takeover keeps 0 and gives the fund ``E``; a book close pays ``min(fee_rate x notional,
    max(E, 0))`` isolated, ``max(E + O, 0)`` the account's equity in cross (``O`` =
    ``others_maintenance``), and keeps the rest (dYdX in cross margin: the cap is the position's
    share of the account's equity, ``(E + O) MM / (MM + O)``, reference section 6
    ``[DYDX_INSURANCE_DELTA]``); a partial close keeps ``C + R - fee`` behind the rest of the
    position.  Money is conserved: ``margin = kept + insurance_fund - trading_pnl``.  The
    order (backstop, partial rule, full outcome) and every formula are
    :func:`levguard.kernels.liquidation.plan_close`, ``settle_close`` and ``settle_partial``,
    whose docstrings cite the venues.  With ``check_trigger``, a healthy position closes nothing
    on every venue, as Deribit's incremental liquidation stops "as soon as the maintenance margin is
    below the margin balance": a risk-limit step-down or a takeover is the venue's answer to a
    position in liquidation, not to one whose equity covers its maintenance margin.
    """
    r = liquidation_rule(rule)
    model = venue_model(rule)
    if taker_fee is None:
        taker_fee = model.default_taker_fee if model is not None else 0.0
    # A fraction like every fee here (-0.5 was refused as "above 10 %").
    taker_fee = rate(finite_number(taker_fee, "taker_fee"), "taker_fee", upper=0.1)
    # Flags are bools ("yes" and "x" were read as True).
    if inverse is None:
        # The engine's kind for a position without contract_kind; a linear default on an
        # inverse-only venue read 10,000 USD at 60,000 as 0.01 BTC (fund change -3e7).
        inverse = model is not None and _default_kind(model, symbol) is ContractKind.INVERSE
    inverse = flag(inverse, "inverse")
    if inverse and model is not None:
        refusal = _inverse_refusal(model)
        if refusal:
            raise InputError(f"inverse must be False on {model.name} ({refusal}), was True")
    allow_partial = flag(allow_partial, "allow_partial")
    check_trigger = flag(check_trigger, "check_trigger")
    if mm_at_entry is None:
        mm_at_entry = model is not None and model.mm_basis is MMBasis.ENTRY
    mm_at_entry = flag(mm_at_entry, "mm_at_entry")
    # Amounts at most 1e30 in magnitude (a qty of 1e308 gave a P&L of -inf).
    q = _amount(qty, "qty")
    if not math.isfinite(q) or q == 0:
        raise InputError(f"qty must be a finite non-zero number, was {show(qty)}")
    entry = _positive(entry_price, "entry_price")
    fill = _positive(fill_price, "fill_price")
    c = finite_number(margin, "margin")
    if abs(c) > NUMBER_MAX:  # any margin, even <= 0, but no P&L past float64
        raise InputError(f"margin must be at most 1e30 in magnitude, was {show(margin)}")
    fee = book_fee_rate(r, taker_fee, fee_rate)
    if maintenance_margin is not None:  # a number (True was read as 1.0), >= 0, at most 1e30
        maintenance_margin = non_negative_number(maintenance_margin, "maintenance_margin")
        if maintenance_margin > NUMBER_MAX:
            raise InputError(f"maintenance_margin must be at most 1e30, was {show(maintenance_margin)}")
    others_mm = non_negative_number(others_maintenance, "others_maintenance")
    if tiers is None and maintenance_margin is None and model is not None and model.rate_based:
        # The venue's built-in rates at the position's size (Deribit: 1 % + 0.005 % per BTC),
        # as the margin engine reads them (venue_tiers); 0 was an account never liquidated.
        tiers, venue_coef = _venue_rates(model, symbol, q, entry, fill)
        if size_coef is None:
            size_coef = venue_coef
    size_rate = non_negative_number(0.0 if size_coef is None else size_coef, "size_coef") * abs(q)
    basis = entry if mm_at_entry else fill
    notional = position_notional(q, fill, inverse)
    if tiers is not None and not isinstance(tiers, TierTable):  # 'abc'.caps was a raw AttributeError
        raise InputError(f"tiers must be a TierTable or None, was {type(tiers).__name__} {show(tiers)}")
    if tiers is not None and model is not None:
        # As the venue applies them, whoever built the table (the margin engine's venue_tiers):
        # no maintenance amount where the tier's rate is on the whole position (OKX, BitMEX),
        # and no tiers by size where the venue deducts an amount by notional tier.
        try:
            tiers = model.read_tiers(tiers)
        except InputError as exc:
            raise InputError(f"tiers: {exc}") from None
    size_caps = tiers.caps if tiers is not None and tiers.basis == "quantity" else None
    # Tiers by quantity: the caps valued where the tier is read, the position in its tier by size
    # (kernels.liquidation.size_caps_at) and its maintenance margin at that tier's rate.
    own_tier = tiers.at_quantity(q) if tiers is not None and size_caps is not None else tiers
    if tiers is not None:
        tiers = tiers.in_notional(basis, inverse=inverse)
    caps = tiers.caps if tiers is not None else _NO_CAPS
    if size_caps is not None:
        caps = kl.size_caps_at(size_caps, inverse, basis, abs(q))
    mmr = 0.0
    if tiers is not None:
        k = tier_index(position_notional(q, basis, inverse), caps)
        mmr = float(tiers.mmrs[k])
    if maintenance_margin is not None:
        mm = float(maintenance_margin)
        if tiers is None:
            # A flat rate: the maintenance margin over the notional it is valued on.
            basis_notional = position_notional(q, basis, inverse)
            mmr = mm / basis_notional if basis_notional > 0 else 0.0
    elif own_tier is not None:
        # The venue's maintenance as the margin engine reads it (core.margin): the tiers plus the
        # taker fee the venue adds to the rate (OKX, Gate: VenueModel.margin_fees) on the
        # notional at the fill; a tier step-down reads that fee term from ``mm``.
        fee_mm = model.margin_fees(float(taker_fee))[0] if model is not None else 0.0
        mm = own_tier.maintenance_margin(position_notional(q, basis, inverse)) + fee_mm * notional
        mmr += fee_mm
    else:
        mm = 0.0
    vec = r.vector(fee)
    aq = abs(q)
    sign = 1.0 if q > 0 else -1.0
    equity = c + position_upnl(q, entry, fill, inverse)
    bp = _bankruptcy_price(q, entry, c, inverse) if c > 0 else None
    mmrs = tiers.mmrs if tiers is not None else _NO_RATES
    cums = tiers.cums if tiers is not None else _NO_RATES
    mm_known = own_tier is not None or maintenance_margin is not None  # else 0 by default: no trigger to test
    if check_trigger and mm_known and not _triggered(model, equity + others_mm, mm + others_mm):
        closed_raw, decision = 0.0, kl.CLOSE_NONE
    else:
        closed_raw, decision = kl.plan_close(
            vec,
            aq,
            notional,
            basis,
            inverse,
            equity,
            mm,
            mmr,
            fee,
            caps,
            mmrs,
            cums,
            allow_partial,
            others_mm,
            size_rate,
        )
    closed = float(closed_raw)
    rest_size = None  # by size, the rest stays in the tier it is stepped down to
    if decision == kl.CLOSE_PARTIAL and size_caps is not None:
        rest_size = float(kl.size_in_lower_tier(aq - closed, size_caps))
        closed = aq - rest_size
    if decision == kl.CLOSE_NONE:
        return LiquidationOutcome(
            r.kind, 0.0, q, fill, bp, c, 0.0, 0.0, 0.0, c, False, False, "equity covers the maintenance margin"
        )
    if decision == kl.CLOSE_PARTIAL:
        part = sign * closed
        realised = position_upnl(part, entry, fill, inverse)
        left_raw, paid_raw = kl.settle_partial(c, realised, position_notional(part, fill, inverse), fee)
        left, paid = float(left_raw), float(paid_raw)
        if left + others_mm > 0.0:
            why = {"slice": "slice", "tier": "tier step-down", "restore": "incremental (restore)"}[r.partial]
            rest = q - part if rest_size is None else sign * rest_size
            return LiquidationOutcome(
                r.kind, part, rest, fill, bp, c, realised, paid, paid, left, False, True, f"partial: {why}"
            )
        decision = kl.CLOSE_FULL  # nothing would be left behind the rest: the whole position goes
    realised = position_upnl(q, entry, fill, inverse)
    kind = kl.TAKEOVER if decision == kl.CLOSE_BACKSTOP else r.kind_code
    share = r.fee_cap == "share"
    kept, paid, fund, taken = (
        float(x) for x in kl.settle_close(kind, c, realised, notional, fee, mm, 0.0, others_mm, share)
    )
    if decision == kl.CLOSE_BACKSTOP:
        why = f"backstop: equity {equity + others_mm:.6g} below {r.backstop:.4g} x maintenance {mm + others_mm:.6g}"
    elif taken > 0.0:
        why = "taken over at the bankruptcy price"
    else:
        why = "closed in the book with the liquidation fee"
    return LiquidationOutcome(r.kind, q, 0.0, fill, bp, c, realised, paid, fund, kept, taken > 0.0, False, why)


def liquidation_rest(
    model: VenueModel,
    position: Position,
    report: PositionReport,
    fill_price: float,
    *,
    fee_rate: float | None = None,
    funding: float | npt.ArrayLike = 0.0,
) -> Any:
    """Return what a whole liquidation of an isolated ``position`` at ``fill_price`` leaves of its
    margin, as ``model`` books it (:func:`liquidation_outcome` with no partial step).

    ``report`` is the margin engine's report of the position at its mark (its margin balance and
    uPnL give the posted margin); ``funding`` (a number, or an array: one result each) is paid
    (< 0) or received into that margin before the liquidation.  0 where the venue takes the
    position over (Binance, Bybit, OKX, Gate, BitMEX); the margin plus the P&L at the fill less
    the fee, at least 0, where the book closes it (Hyperliquid, dYdX, Deribit).  The VaR
    revaluation and the stress scenarios book liquidations with it; one outcome is evaluated per
    distinct funding amount.
    """
    balance = report.margin_balance if report.margin_balance is not None else 0.0
    flows = np.asarray(funding, dtype=np.float64)
    amounts, where = np.unique(flows, return_inverse=True)
    tiers = venue_tiers(model, position)
    kept = np.array(
        [
            liquidation_outcome(
                model,
                position.q,
                position.entry_price,
                fill_price,
                balance - report.unrealized_pnl + float(f),
                tiers=tiers,
                inverse=position.instrument.inverse,
                fee_rate=fee_rate,
                taker_fee=model.taker_fee(position),
                allow_partial=False,
                check_trigger=False,
            ).kept
            for f in amounts
        ]
    )
    out = kept[where].reshape(flows.shape)
    return float(out) if out.ndim == 0 else out
