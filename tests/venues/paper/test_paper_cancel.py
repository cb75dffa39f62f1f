"""``PaperVenue.cancel_order``: the optional method the guardian cancels an order with
(:func:`levguard.live.inflight`), absent before (``getattr`` found None: "the venue's adapter
cannot cancel orders").  A paper order is final the moment it reaches the venue, so the cancel is
refused as ccxt refuses a filled or unknown order (``OrderNotFound``, an ``InvalidOrder``:
:class:`VenueOrderRejectedError`); an order the venue holds open is cancelled."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from levguard.errors import VenueOrderRejectedError, VenuePermanentError, VenueRetryableError
from levguard.venues.base import OrderRequest, OrderState
from levguard.venues.paper import VENUE_METHODS, PaperVenue


def make_venue() -> PaperVenue:
    return PaperVenue(
        feeds={"BTCUSDT": [60_000.0, 59_000.0, 58_000.0, 57_000.0], "ETHUSDT": [3_000.0] * 4},
        wallet_balance=20_000.0,
        positions=[{"symbol": "BTCUSDT", "qty": 2.0, "entry": 60_000.0}],
    )


def sell(cid: str, qty: float = 0.5, symbol: str = "BTCUSDT", side: str = "sell") -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, qty=qty, client_order_id=cid)  # type: ignore[arg-type]


def test_the_paper_venue_has_the_guardians_cancel_method() -> None:
    venue = make_venue()
    assert callable(getattr(venue, "cancel_order", None))
    assert "cancel_order" in VENUE_METHODS


def test_a_filled_order_is_not_cancelled() -> None:
    venue = make_venue()
    state = asyncio.run(venue.create_order(sell("a")))
    assert state.status == "closed"
    with pytest.raises(VenueOrderRejectedError, match="is closed, not open"):
        asyncio.run(venue.cancel_order("BTCUSDT", "a", state.venue_order_id))
    assert asyncio.run(venue.fetch_order("BTCUSDT", "a")) == state  # unchanged, still filled
    assert venue.calls["cancel_order"] == 1


@pytest.mark.parametrize(
    ("symbol", "cid", "venue_order_id"),
    [("BTCUSDT", "never-sent", None), ("ETHUSDT", "a", None), ("BTCUSDT", "a", "paper-99")],
    ids=["unknown-id", "other-symbol", "other-venue-id"],
)
def test_an_unknown_order_is_not_found(symbol: str, cid: str, venue_order_id: str | None) -> None:
    venue = make_venue()
    asyncio.run(venue.create_order(sell("a")))
    with pytest.raises(VenueOrderRejectedError, match="unknown order"):
        asyncio.run(venue.cancel_order(symbol, cid, venue_order_id))


def test_an_unknown_symbol_is_refused() -> None:
    with pytest.raises(VenuePermanentError, match="symbol must be one of"):
        asyncio.run(make_venue().cancel_order("DOGEUSDT", "a"))


def test_a_recorded_rejection_is_not_cancelled() -> None:
    # A late order that cannot reduce is recorded "rejected": final as well.
    venue = make_venue()
    venue.faults.order_latency(arrive_after_ticks=1, times=1)
    with pytest.raises(VenueRetryableError):
        asyncio.run(venue.create_order(sell("r", side="buy")))
    venue.step_sync()
    assert asyncio.run(venue.fetch_order("BTCUSDT", "r")).status == "rejected"  # type: ignore[union-attr]
    with pytest.raises(VenueOrderRejectedError, match="is rejected, not open"):
        asyncio.run(venue.cancel_order("BTCUSDT", "r"))


def test_an_order_still_travelling_cannot_be_cancelled_and_fills() -> None:
    """A cancel that overtakes its order finds nothing (the venue has not seen it); the order
    arrives at the next tick and fills, as on a real venue."""
    venue = make_venue()
    venue.faults.order_latency(arrive_after_ticks=1, times=1)
    with pytest.raises(VenueRetryableError):
        asyncio.run(venue.create_order(sell("late")))
    assert venue.in_flight == 1
    with pytest.raises(VenueOrderRejectedError, match="unknown order"):
        asyncio.run(venue.cancel_order("BTCUSDT", "late"))
    venue.step_sync()
    state = asyncio.run(venue.fetch_order("BTCUSDT", "late"))
    assert state is not None
    assert state.status == "closed"
    assert state.filled == 0.5


def test_an_open_order_is_cancelled_once() -> None:
    """An order the venue holds open (a subclass's: the base venue fills at once) is cancelled
    with what it filled; a second cancel is refused."""
    venue = make_venue()
    venue.orders["held"] = OrderState("BTCUSDT", "held", "open", 0.1, 60_000.0, "paper-held", venue.now_ns, "new")
    asyncio.run(venue.cancel_order("BTCUSDT", "held", "paper-held"))
    state = asyncio.run(venue.fetch_order("BTCUSDT", "held"))
    assert state == dataclasses.replace(venue.orders["held"], status="canceled", venue_status=None)
    assert state is not None
    assert (state.status, state.filled, state.venue_status) == ("canceled", 0.1, None)
    with pytest.raises(VenueOrderRejectedError, match="is canceled, not open"):
        asyncio.run(venue.cancel_order("BTCUSDT", "held"))


def test_faults_target_the_cancel() -> None:
    venue = make_venue()
    venue.orders["held"] = OrderState("BTCUSDT", "held", "open", venue_order_id="paper-held")
    venue.faults.fail("cancel_order", error="timeout")
    with pytest.raises(VenueRetryableError, match="cancel_order timed out"):
        asyncio.run(venue.cancel_order("BTCUSDT", "held"))
    assert venue.orders["held"].status == "open"  # the failed call cancelled nothing
    asyncio.run(venue.cancel_order("BTCUSDT", "held"))
    assert venue.orders["held"].status == "canceled"
    assert venue.calls["cancel_order"] == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda v: v.cancel_order("BTCUSDT", ["a"]), "client_order_id must be a string, was"),
        (lambda v: v.cancel_order("BTCUSDT", "a", 7), "venue_order_id must be a string or None, was 7"),
        (lambda v: v.fetch_order("BTCUSDT", {"a": 1}), "client_order_id must be a string, was"),
    ],
)
def test_order_ids_that_are_not_strings_are_refused_by_name(call: object, message: str) -> None:
    # A list as client id was a raw TypeError (unhashable) in cancel_order and fetch_order (a review).
    from levguard.errors import InputError

    venue = make_venue()
    with pytest.raises(InputError, match=message):
        asyncio.run(call(venue))  # type: ignore[operator]
