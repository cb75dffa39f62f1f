"""Order helpers of the paper venue: the reducible quantity of an order and cancels.

Used by :class:`levguard.venues.paper.PaperVenue` (its Notes, *Orders*); import that class.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from levguard.core.symbols import contract_key
from levguard.core.validate import show
from levguard.errors import InputError, VenueOrderRejectedError
from levguard.venues.base import OrderRequest

if TYPE_CHECKING:
    from levguard.venues.paper import PaperVenue

__all__ = ["cancel", "reducible"]


def reducible(v: PaperVenue, request: OrderRequest, sym: str) -> float:
    """Return the quantity a reduce-only order can fill on ``v`` now: capped to the position,
    rounded down to the lot with ``Decimal``; :class:`VenueOrderRejectedError` when it cannot
    reduce (no position, the side would increase it, or it rounds to 0)."""
    pos = v._positions.get(sym)
    if pos is None:
        raise VenueOrderRejectedError(f"reduce-only order on {sym} rejected: no open position")
    if (request.side == "sell") != (pos.qty > 0):
        raise VenueOrderRejectedError(
            f"reduce-only {request.side} on {sym} rejected: it would increase the position {pos.qty!r}"
        )
    qty = min(float(request.qty), abs(pos.qty))
    if v.lot_size > 0.0:
        lot = Decimal(repr(v.lot_size))
        qty = float((Decimal(repr(qty)) / lot).to_integral_value(rounding=ROUND_DOWN) * lot)
        if qty <= 0.0:
            raise VenueOrderRejectedError(f"qty {request.qty!r} rounds to 0 at lot size {v.lot_size!r}")
    return qty


def order_ids(client_order_id: object, venue_order_id: object = None) -> None:
    """Refuse order ids that are not strings (a list was a raw ``TypeError``: unhashable)."""
    if not isinstance(client_order_id, str):
        raise InputError(f"client_order_id must be a string, was {show(client_order_id)}")
    if venue_order_id is not None and not isinstance(venue_order_id, str):
        raise InputError(f"venue_order_id must be a string or None, was {show(venue_order_id)}")


def cancel(v: PaperVenue, symbol: str, client_order_id: str, venue_order_id: str | None = None) -> None:
    """Cancel the open order of ``v`` with this client order id on ``symbol``, as a venue does.

    An order the venue holds as ``"open"`` becomes ``"canceled"`` (what it filled stays).  The
    paper venue's own orders are final the moment they reach it (filled, ``"closed"``, or
    ``"rejected"``), so for them, and for an order it has not seen (unknown, or still travelling
    to it under :meth:`~levguard.venues.paper.Faults.order_latency`: it arrives and fills
    anyway), the cancel is refused with :class:`VenueOrderRejectedError`, as
    :func:`levguard.venues.ccxt_orders.cancel_order` raises on ccxt's ``OrderNotFound`` (an
    ``InvalidOrder``: Binance -2011 "Unknown order sent." for a filled or unknown order).

    Raises
    ------
    VenuePermanentError
        ``symbol`` is not one of the venue's.
    VenueOrderRejectedError
        No open order with this client order id (and ``venue_order_id``, when given) on ``symbol``.
    InputError
        ``client_order_id`` is not a string, or ``venue_order_id`` neither a string nor None.
    """
    order_ids(client_order_id, venue_order_id)
    sym = v._sym(symbol)
    state = v.orders.get(client_order_id)
    what = f"paper venue: cancel_order({sym} client_order_id={client_order_id!r})"
    if (
        state is None
        or contract_key(state.symbol) != contract_key(sym)
        or (venue_order_id is not None and state.venue_order_id not in (None, venue_order_id))
    ):
        raise VenueOrderRejectedError(f"{what}: unknown order (the venue has not seen it)")
    if state.status != "open":
        raise VenueOrderRejectedError(f"{what}: the order is {state.status}, not open: nothing to cancel")
    v.orders[client_order_id] = dataclasses.replace(state, status="canceled", venue_status=None)
