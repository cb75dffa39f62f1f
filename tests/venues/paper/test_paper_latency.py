"""Orders that reach the paper venue late (Faults.order_latency) and the venue's order expiry."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from levguard.errors import InputError, VenuePermanentError, VenueRetryableError
from levguard.venues.base import OrderRequest
from levguard.venues.paper import Arrival, Faults, PaperVenue

SLIP = 2.0 / 10_000
TICK_NS = 60 * 10**9


def make_venue(**kwargs: Any) -> PaperVenue:
    return PaperVenue(
        feeds={"BTCUSDT": [60_000.0, 59_000.0, 58_000.0, 57_000.0, 56_000.0]},
        wallet_balance=20_000.0,
        positions=[{"symbol": "BTCUSDT", "qty": 2.0, "entry": 60_000.0}],
        tick_ns=TICK_NS,
        **kwargs,
    )


def order(cid: str, qty: float = 0.5, side: str = "sell", sent_ns: int = 0, **kw: Any) -> OrderRequest:
    return OrderRequest("BTCUSDT", side, qty, cid, sent_ns=sent_ns, **kw)  # type: ignore[arg-type]


def position(venue: PaperVenue) -> float:
    pos = asyncio.run(venue.fetch_positions())
    return pos[0].qty if pos else 0.0


def test_defaults_are_unchanged_and_every_arrival_is_recorded() -> None:
    venue = make_venue()
    heard: list[Arrival] = []
    venue.on_arrival = heard.append
    assert venue.capabilities.order_expiry_s is None
    state = asyncio.run(venue.create_order(order("a")))
    assert state.status == "closed"
    with pytest.raises(VenuePermanentError, match="increase"):
        asyncio.run(venue.create_order(order("b", side="buy")))
    assert set(venue.orders) == {"a"}  # an immediate rejection is raised, not recorded
    assert [(a.client_order_id, a.status, a.late) for a in venue.arrivals] == [
        ("a", "filled", False),
        ("b", "rejected", False),
    ]
    assert heard == venue.arrivals
    first = venue.arrivals[0]
    assert (first.position_before, first.position_after, first.filled) == (2.0, 1.5, 0.5)
    assert venue.in_flight == 0


def test_a_tick_delay_times_out_at_once_and_fills_at_the_arrival_tick_mark() -> None:
    venue = make_venue()
    venue.faults.order_latency(arrive_after_ticks=2, times=1)
    sent = venue.now_ns
    with pytest.raises(VenueRetryableError, match="timed out"):
        asyncio.run(venue.create_order(order("late", sent_ns=sent)))
    assert venue.in_flight == 1
    assert asyncio.run(venue.fetch_order("BTCUSDT", "late")) is None  # not there yet
    assert venue.step_sync().arrivals == ()
    assert position(venue) == 2.0
    report = venue.step_sync()
    (arrival,) = report.arrivals
    assert arrival == venue.arrivals[-1]
    assert arrival.status == "filled"
    assert arrival.late
    assert (arrival.sent_ns, arrival.arrival_ns) == (sent, sent + 2 * TICK_NS)
    assert (arrival.position_before, arrival.position_after) == (2.0, 1.5)
    assert arrival.price == pytest.approx(58_000.0 * (1 - SLIP))  # the mark when it arrived
    state = asyncio.run(venue.fetch_order("BTCUSDT", "late"))
    assert state is not None
    assert (state.status, state.filled) == ("closed", 0.5)
    assert venue.in_flight == 0
    # The rule was one-shot: the next order fills at once.
    assert asyncio.run(venue.create_order(order("now"))).status == "closed"


@pytest.mark.parametrize("side", ["sell", "buy"])
def test_a_late_order_that_cannot_reduce_is_recorded_as_rejected(side: str) -> None:
    venue = make_venue()
    venue.faults.order_latency(arrive_after_ticks=1, times=1)
    with pytest.raises(VenueRetryableError):
        asyncio.run(venue.create_order(order("late", qty=1.0, side=side)))
    if side == "sell":
        asyncio.run(venue.create_order(order("close-all", qty=2.0)))  # the position is gone first
    (arrival,) = venue.step_sync().arrivals
    assert arrival.status == "rejected"
    assert arrival.filled == 0.0
    state = asyncio.run(venue.fetch_order("BTCUSDT", "late"))
    assert state is not None
    assert (state.status, state.filled) == ("rejected", 0.0)
    assert [f.client_order_id for f in venue.fills] == (["close-all"] if side == "sell" else [])


def test_a_malformed_request_fails_at_once_even_with_latency() -> None:
    venue = make_venue()
    venue.faults.order_latency(arrive_after_ticks=1, times=None)
    with pytest.raises(VenuePermanentError, match="reduce-only"):
        asyncio.run(venue.create_order(order("x", reduce_only=False)))
    with pytest.raises(VenuePermanentError, match="symbol"):
        asyncio.run(venue.create_order(OrderRequest("DOGEUSDT", "sell", 1.0, "y")))
    assert venue.in_flight == 0


def test_seconds_of_latency_beyond_the_client_timeout_arrive_after_the_caller_gave_up() -> None:
    venue = make_venue()
    venue.faults.order_latency(arrive_after_s=0.15, client_timeout_s=0.03, times=1)

    async def go() -> None:
        t0 = time.perf_counter()
        with pytest.raises(VenueRetryableError, match="timed out"):
            await venue.create_order(order("slow"))
        assert 0.02 < time.perf_counter() - t0 < 0.14
        assert venue.in_flight == 1
        assert await venue.fetch_order("BTCUSDT", "slow") is None
        venue.step_sync()  # the market moves while the order travels
        await asyncio.sleep(0.3)
        assert venue.in_flight == 0

    asyncio.run(go())
    (arrival,) = venue.arrivals
    assert (arrival.status, arrival.late) == ("filled", True)
    assert arrival.price == pytest.approx(59_000.0 * (1 - SLIP))
    assert position(venue) == 1.5


def test_a_waiting_caller_gets_the_answer_and_its_own_timeout_does_not_cancel_the_order() -> None:
    venue = make_venue()
    venue.faults.order_latency(arrive_after_s=0.05, times=2)

    async def go() -> None:
        state = await venue.create_order(order("patient"))
        assert state.status == "closed"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(venue.create_order(order("impatient")), timeout=0.01)
        await asyncio.sleep(0.15)

    asyncio.run(go())
    assert [(a.client_order_id, a.status, a.late) for a in venue.arrivals] == [
        ("patient", "filled", False),
        ("impatient", "filled", False),
    ]
    assert position(venue) == 1.0


def test_duplicates_in_flight_keep_the_first_arrival() -> None:
    venue = make_venue()
    venue.faults.order_latency(arrive_after_ticks=2, times=1).order_latency(arrive_after_ticks=1, times=1)
    for _ in range(2):  # a retry of the same decision, which overtakes the first send
        with pytest.raises(VenueRetryableError):
            asyncio.run(venue.create_order(order("dup")))
    venue.step_sync()
    venue.step_sync()
    assert [a.status for a in venue.arrivals] == ["filled", "duplicate"]
    assert len(venue.fills) == 1
    assert position(venue) == 1.5


def test_an_order_arriving_after_the_order_expiry_is_refused_and_never_recorded() -> None:
    venue = make_venue(order_expiry_s=90.0)
    assert venue.capabilities.order_expiry_s == 90.0
    sent = venue.now_ns
    venue.faults.order_latency(arrive_after_ticks=1, times=1).order_latency(arrive_after_ticks=2, times=2)
    for cid in ("in-time", "too-late", "no-timestamp"):
        with pytest.raises(VenueRetryableError):
            asyncio.run(venue.create_order(order(cid, sent_ns=0 if cid == "no-timestamp" else sent)))
    venue.step_sync()
    venue.step_sync()
    status = {a.client_order_id: a.status for a in venue.arrivals}
    assert status == {"in-time": "filled", "too-late": "refused", "no-timestamp": "filled"}
    refused = next(a for a in venue.arrivals if a.status == "refused")
    assert (refused.position_before, refused.position_after) == (1.5, 1.5)
    for _ in range(3):
        venue.step_sync()
    assert asyncio.run(venue.fetch_order("BTCUSDT", "too-late")) is None  # forever
    assert "too-late" not in venue.orders
    assert position(venue) == 1.0


def test_a_stale_order_is_refused_even_without_latency_and_the_caller_hears_it() -> None:
    venue = make_venue(order_expiry_s=30.0)
    sent = venue.now_ns
    venue.step_sync()  # 60 s later
    with pytest.raises(VenueRetryableError, match="order expiry"):
        asyncio.run(venue.create_order(order("stale", sent_ns=sent)))
    assert venue.orders == {}
    assert [a.status for a in venue.arrivals] == ["refused"]


def test_the_paper_venue_reports_a_late_fill_through_fetch_order_and_positions() -> None:
    venue = make_venue()
    venue.faults.order_latency(arrive_after_ticks=1)  # every order, until cleared
    for cid in ("one", "two"):
        with pytest.raises(VenueRetryableError):
            asyncio.run(venue.create_order(order(cid)))
    assert venue.in_flight == 2
    venue.faults.clear()
    venue.step_sync()
    assert position(venue) == 1.0
    assert all(isinstance(a, Arrival) and a.status == "filled" for a in venue.arrivals)
    assert asyncio.run(venue.create_order(order("three"))).status == "closed"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"arrive_after_s": -1.0},
        {"arrive_after_s": float("nan")},
        {"arrive_after_ticks": -1},
        {"arrive_after_ticks": 1.5},
        {"arrive_after_s": 1.0, "arrive_after_ticks": 1},
        {"client_timeout_s": -0.1},
        {"times": 0},
    ],
)
def test_order_latency_is_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        Faults().order_latency(**kwargs)


@pytest.mark.parametrize("expiry", [0.0, -1.0, float("inf")])
def test_order_expiry_is_validated(expiry: float) -> None:
    with pytest.raises(InputError, match="order_expiry_s"):
        make_venue(order_expiry_s=expiry)
