"""The paper venue's liquidation engine, run at the end of every tick.

An isolated position is liquidated when its margin balance is at or below its maintenance
margin; the cross account when its equity is at or below the cross maintenance margin.  What
the trader keeps is the venue's rule (:func:`levguard.core.liquidation_outcome.liquidation_outcome`)
at the current mark; see :class:`levguard.venues.paper.PaperVenue` (Notes, *Liquidation*).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from levguard.core.liquidation_outcome import LiquidationOutcome, liquidation_outcome
from levguard.core.margin import PositionReport, venue_tiers
from levguard.core.positions import MarginMode
from levguard.core.rules import MMBasis
from levguard.kernels.margin import position_upnl
from levguard.venues.paper_events import Liquidation

if TYPE_CHECKING:
    from levguard.venues.paper import PaperVenue, _Pos

__all__ = ["liquidate", "settle_cross_deficit", "triggered"]


def triggered(v: PaperVenue, rep: PositionReport) -> bool:
    """Return whether the position of ``rep`` (evaluated at the true marks) meets the liquidation
    trigger: its mark at or past its own reported liquidation price (strictly past on the venues
    whose trigger is strict, dYdX v4 and Hyperliquid), or the engine's flag (alone when it has no
    price).

    Notes
    -----
    The liquidation price solves ``balance = MM`` (``collateral + uPnL_i(P) = MM_i(P)``, docs/margin.md)
    and the engine's flag compares ``balance`` with ``MM`` (:meth:`levguard.core.rules.base.VenueModel.liquidatable`,
    ``<=``, or ``<`` where the venue's trigger is strict): the same condition on the price axis,
    but both are rounded, so at a mark equal to the reported price the flag said "not
    liquidatable" a part in 1e10 short of the equality on some accounts (a cross BTCUSD_PERP long
    on binance-coinm, LP 50,200: the mark at 50,200 liquidated nothing).  The reported price is
    what a user or a checker sets the mark to, so it triggers too: liquidated at it (for a strict
    trigger, one float past it).  The engine's flag triggers as well: a price is the lowest root,
    and where the margin jumps at a tier cap with no deduction (OKX) the balance falls below the
    MM beyond it (a cross long of 2 BTC at 99,900 whose notional crosses the 200k cap at 100,050:
    equity 1,299 against MM 2,001 with its price at 99,799; a review), and within an ulp or so of the price the
    flag may read liquidatable one float before it.  In cross margin every position's price
    holds the others at their marks, so any of them past its price is the account's trigger.
    A position with no liquidation price is never liquidated by its own mark (not liquidatable)
    or is at every price (liquidatable): the engine's flag is that (and dYdX's rule that an
    MM of 0 never triggers).
    """
    lp = rep.liquidation_price
    if rep.liquidatable or lp is None or (v.model.positive_mm_trigger and not rep.maintenance_margin > 0.0):
        return rep.liquidatable
    past = rep.side * (lp - rep.mark_price)  # > 0: the mark is beyond the price, adverse side
    return past > 0.0 if v.model.strict_trigger else past >= 0.0


def _cross_triggered(v: PaperVenue, cross: list[PositionReport]) -> bool:
    # The cross account's trigger: any cross position at or past its liquidation price.
    return any(triggered(v, r) for r in cross)


def liquidate(v: PaperVenue) -> list[Liquidation]:
    """Liquidate what meets the trigger on ``v`` now (:func:`triggered`: isolated positions, then
    the cross account); append the events to ``v.liquidations`` and return them."""
    if not v._positions:
        return []
    report = v.evaluate()
    out: list[Liquidation] = []
    for rep in report.positions:
        if rep.margin_mode == "isolated" and triggered(v, rep):
            liq = _liquidate_isolated(v, rep)
            if liq is not None:
                out.append(liq)
    if _cross_triggered(v, [r for r in report.positions if r.margin_mode == "cross"]):
        out.extend(_liquidate_cross(v))
    v.liquidations.extend(out)
    return out


def _outcome(
    v: PaperVenue, pos: _Pos, rep: PositionReport, margin: float, others_mm: float = 0.0
) -> LiquidationOutcome:
    # The venue's liquidation rule applied to one position at the current mark; in cross margin
    # ``margin`` is its collateral share and ``others_mm`` the other cross positions' maintenance.
    rule = v.model.liquidation
    # The cool-down after a partial liquidation is the account's, whichever position it cut
    # (Hyperliquid, "Liquidations": "after a block where any position of a user is partially
    # liquidated ... all market liquidation orders for that user will be for the entire position").
    cooling = v._partial_until > v.now_ns
    mm = rep.maintenance_margin
    if not rep.liquidatable:
        # Met by the price (:func:`triggered`) a part in 1e10 before the engine's rounded flag:
        # the balance is the maintenance margin, so an incremental rule (Deribit) closes a sliver
        # rather than nothing.
        mm = max(mm, margin + position_upnl(pos.qty, pos.entry, rep.mark_price, v._inverse))
    return liquidation_outcome(
        rule,
        pos.qty,
        pos.entry,
        rep.mark_price,
        margin,
        tiers=venue_tiers(v.model, v._position(pos, rep.mark_price)),
        maintenance_margin=mm,
        inverse=v._inverse,
        taker_fee=v.taker_fee,
        mm_at_entry=v.model.mm_basis is MMBasis.ENTRY,
        allow_partial=not cooling,
        others_maintenance=others_mm,
        size_coef=v.model.mm_size_coef(v._position(pos, rep.mark_price)),
        check_trigger=False,  # the report found it liquidatable, at the venue's trigger
    )


def _record(v: PaperVenue, pos: _Pos, rep: PositionReport, o: LiquidationOutcome, margin: float) -> Liquidation:
    # The event of one liquidation step; a takeover is closed at the bankruptcy price.
    bankruptcy = rep.bankruptcy_price if rep.bankruptcy_price is not None else o.bankruptcy_price
    price = (bankruptcy or rep.mark_price) if o.taken_over else o.fill_price
    if o.partial:
        v._partial_until = max(v._partial_until, v.now_ns + int(v.model.liquidation.partial_cooldown_s * 1e9))
    return Liquidation(
        v.now_ns,
        pos.symbol,
        o.closed_qty,
        price,
        rep.mark_price,
        rep.liquidation_price,
        pos.mode.value,
        o.kept - margin if not o.partial else o.trading_pnl - o.fee,
        o.fee,
        o.kept,
        o.partial,
        o.taken_over,
    )


def _liquidate_isolated(v: PaperVenue, rep: PositionReport) -> Liquidation | None:
    pos = v._positions[rep.symbol]
    margin = float(pos.isolated_margin or 0.0)
    o = _outcome(v, pos, rep, margin)
    if o.closed_qty == 0.0:
        # An incremental rule at exactly the maintenance margin closes nothing: the
        # position stays open with its margin (and its loss).
        return None
    if o.partial:
        # The loss and the fee come out of the isolated margin; the rest stays open.
        pos.qty = o.remaining_qty
        pos.isolated_margin = o.kept
    else:
        # What is kept (nothing after a takeover) is released to the cross wallet.
        del v._positions[rep.symbol]
        v.wallet_balance += o.kept
    return _record(v, pos, rep, o, margin)


def _liquidate_cross(v: PaperVenue) -> list[Liquidation]:
    # Largest notional first until the cross account meets its maintenance margin (no venue
    # in our sources states another order); a takeover or backstop bankrupts the account:
    # every cross position goes at its bankruptcy price and the cross wallet is 0.
    out: list[Liquidation] = []
    for _ in range(2 * len(v._positions) + 1):
        report = v.evaluate()
        cross = [r for r in report.positions if r.margin_mode == "cross"]
        if not cross or not _cross_triggered(v, cross):
            break
        rep = max(cross, key=lambda r: r.notional)
        pos = v._positions[rep.symbol]
        others = [r for r in cross if r is not rep]
        others_mm = math.fsum(r.maintenance_margin for r in others)
        collateral = v.wallet_balance + math.fsum(r.unrealized_pnl - r.maintenance_margin for r in others)
        o = _outcome(v, pos, rep, collateral, others_mm)
        if o.closed_qty == 0.0:
            break  # equity exactly at the maintenance margin: an incremental rule closes nothing
        if o.taken_over:
            out.extend(_take_over_cross(v, cross))
            break
        if o.partial:
            v.wallet_balance += o.trading_pnl - o.fee
            pos.qty = o.remaining_qty
        else:
            # The collateral behind the position less what is kept (realised PnL less the
            # fee; what the fund paid when the equity behind it was negative).
            v.wallet_balance += o.kept - collateral
            del v._positions[rep.symbol]
        settle_cross_deficit(v)
        out.append(_record(v, pos, rep, o, collateral))
        if o.partial:
            break  # re-evaluated at the next tick
    return out


def _take_over_cross(v: PaperVenue, cross: list[PositionReport]) -> list[Liquidation]:
    """Take every cross position over at its bankruptcy price; the cross wallet goes to 0.

    The account's equity at the marks, ``E = W + sum_i uPnL_i(mark)``, is the clearance the venue
    keeps (the fund pays ``-E`` when it is negative); nothing is kept.  Each row gets its share
    ``w_i`` of it (the position's share of the cross maintenance margin, else of the notional):
    ``fee_i = w_i max(E, 0)`` and ``realised_pnl_i = uPnL_i(mark) - fee_i + w_i max(-E, 0)``, so
    the rows sum to the account-level booking: ``sum fee_i = max(E, 0)`` and
    ``sum realised_pnl_i = -W`` (money is conserved).  With one position ``fee`` is the
    takeover's clearance of :func:`levguard.core.liquidation_outcome.liquidation_outcome` and
    ``realised_pnl`` the PnL at the bankruptcy price.
    """
    inverse = v._inverse
    wallet = v.wallet_balance
    positions = [v._positions.pop(r.symbol) for r in cross]
    upnl = [position_upnl(p.qty, p.entry, r.mark_price, inverse) for p, r in zip(positions, cross, strict=True)]
    equity = wallet + math.fsum(upnl)
    clearance, covered = max(equity, 0.0), max(-equity, 0.0)
    basis = [max(r.maintenance_margin, 0.0) for r in cross]
    if not math.fsum(basis) > 0.0:
        basis = [abs(r.notional) for r in cross]
    total = math.fsum(basis)
    weights = [b / total for b in basis] if total > 0.0 else [1.0 / len(cross)] * len(cross)
    out: list[Liquidation] = []
    for p, r, pnl, w in zip(positions, cross, upnl, weights, strict=True):
        price = r.bankruptcy_price if r.bankruptcy_price is not None else r.mark_price
        fee = clearance * w
        out.append(
            Liquidation(
                v.now_ns,
                p.symbol,
                p.qty,
                price,
                r.mark_price,
                r.liquidation_price,
                "cross",
                pnl - fee + covered * w,
                fee,
                0.0,
                False,
                True,
            )
        )
    v.wallet_balance = 0.0  # the cross margin balance goes to the insurance fund
    return out


def settle_cross_deficit(v: PaperVenue) -> float:
    """Bring a negative cross wallet back to 0 or more; return what the insurance fund paid.

    A realised loss (a fill, an ADL, a liquidation) or a funding payment larger than the cross
    wallet while other cross positions carry a profit leaves the account solvent with a negative
    balance, which the paper account's wallet cannot hold (core ``Account``): the open cross
    positions' uPnL is realised into the wallet at the current marks (entries reset to the marks),
    the equity ``W + sum uPnL`` unchanged.  A deficit left then (the account's equity is below 0)
    is bad debt: the fund brings the wallet to 0 and pays that deficit, the only money that enters
    the account.  Clamping the wallet at 0 instead created money in a solvent account (a 1,000
    wallet with BTC at -5,000 and ETH at +10,000, equity 6,000: closing BTC left a wallet of 0 and
    an equity of 10,000).
    """
    if v.wallet_balance >= 0.0:
        return 0.0
    marks = v.marks()
    for p in v._positions.values():
        if p.mode is MarginMode.CROSS:
            v.wallet_balance += position_upnl(p.qty, p.entry, marks[p.symbol], v._inverse)
            p.entry = marks[p.symbol]
    if v.wallet_balance >= 0.0:
        return 0.0
    covered, v.wallet_balance = -v.wallet_balance, 0.0
    return covered
