"""Fault injection of the paper venue: errors, latency, stale marks, a crash after accept."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from levguard.errors import (
    InputError,
    VenueAuthError,
    VenueError,
    VenueOrderRejectedError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.venues.base import OrderRequest
from levguard.venues.paper import VENUE_METHODS, Faults, PaperVenue, scripted_crash


def make_venue(**kwargs: Any) -> PaperVenue:
    return PaperVenue(
        feeds={"BTCUSDT": [60_000.0, 59_000.0, 58_000.0, 57_000.0, 56_000.0]},
        wallet_balance=20_000.0,
        positions=[{"symbol": "BTCUSDT", "qty": 2.0, "entry": 60_000.0}],
        **kwargs,
    )


def sell(cid: str, qty: float = 0.5) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side="sell", qty=qty, client_order_id=cid)


def calls(venue: PaperVenue) -> dict[str, Callable[[], Coroutine[Any, Any, object]]]:
    return {
        "fetch_positions": venue.fetch_positions,
        "fetch_balance": venue.fetch_balance,
        "fetch_marks": lambda: venue.fetch_marks(["BTCUSDT"]),
        "fetch_tiers": lambda: venue.fetch_tiers("BTCUSDT"),
        "fetch_funding_rate": lambda: venue.fetch_funding_rate("BTCUSDT"),
        "create_order": lambda: venue.create_order(sell("c")),
        "fetch_order": lambda: venue.fetch_order("BTCUSDT", "c"),
        "cancel_order": lambda: _cancel(venue),
        "close": venue.close,
    }


async def _cancel(venue: PaperVenue) -> None:
    # A paper order is final once it reaches the venue: the cancel that goes through is refused.
    with contextlib.suppress(VenueOrderRejectedError):
        await venue.cancel_order("BTCUSDT", "c")


@pytest.mark.parametrize(
    ("kind", "error", "not_error"),
    [
        ("timeout", VenueRetryableError, VenueRateLimitError),
        ("5xx", VenueRetryableError, VenueRateLimitError),
        ("retryable", VenueRetryableError, VenuePermanentError),
        ("rate_limit", VenueRateLimitError, VenuePermanentError),
        ("auth", VenueAuthError, VenueRetryableError),
        ("permanent", VenuePermanentError, VenueAuthError),
    ],
)
@pytest.mark.parametrize("method", VENUE_METHODS)
def test_next_n_calls_fail(kind: str, error: type[VenueError], not_error: type[VenueError], method: str) -> None:
    venue = make_venue()
    venue.faults.fail(method, times=2, error=kind)
    call = calls(venue)[method]
    for _ in range(2):
        with pytest.raises(error) as info:
            asyncio.run(call())
        assert not isinstance(info.value, not_error)
    asyncio.run(call())  # the third call goes through
    assert venue.calls[method] == 3


def test_a_failed_order_is_not_filled() -> None:
    venue = make_venue()
    venue.faults.fail("create_order", error="timeout")
    with pytest.raises(VenueRetryableError):
        asyncio.run(venue.create_order(sell("x")))
    assert asyncio.run(venue.fetch_order("BTCUSDT", "x")) is None
    assert venue.fills == []
    assert asyncio.run(venue.fetch_positions())[0].qty == 2.0


def test_wildcard_persistent_and_targeted_faults() -> None:
    venue = make_venue()
    venue.faults.fail("fetch_balance", times=1, error="5xx")
    asyncio.run(venue.fetch_positions())  # another method is unaffected
    with pytest.raises(VenueRetryableError):
        asyncio.run(venue.fetch_balance())
    venue.faults.fail("*", times=None, error="auth")
    for _ in range(3):  # every method fails while the auth failure lasts
        for call in calls(venue).values():
            with pytest.raises(VenueAuthError):
                asyncio.run(call())
    venue.faults.clear()
    asyncio.run(venue.fetch_balance())


def test_rules_are_consumed_in_order_and_accept_an_exception() -> None:
    custom = VenueRetryableError("HTTP 502 from the gateway")
    faults = Faults().fail("fetch_marks", error="rate_limit").fail("fetch_marks", error=custom)
    venue = make_venue(faults=faults)
    with pytest.raises(VenueRateLimitError):
        asyncio.run(venue.fetch_marks(["BTCUSDT"]))
    with pytest.raises(VenueRetryableError) as info:
        asyncio.run(venue.fetch_marks(["BTCUSDT"]))
    assert info.value is custom
    assert asyncio.run(venue.fetch_marks(["BTCUSDT"])) == {"BTCUSDT": 60_000.0}


@pytest.mark.parametrize(
    "bad", [lambda f: f.fail("fetch_everything"), lambda f: f.fail(error="oops"), lambda f: f.fail(times=0)]
)
def test_fault_scripts_are_validated(bad: Callable[[Faults], object]) -> None:
    with pytest.raises(InputError):
        bad(Faults())


def test_latency_delays_calls() -> None:
    venue = make_venue()
    venue.faults.add_latency("fetch_marks", 0.5)

    async def probe() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(venue.fetch_marks(["BTCUSDT"]), timeout=0.02)
        assert await asyncio.wait_for(venue.fetch_balance(), timeout=0.5)  # other methods: no delay
        venue.faults.add_latency("*", 0.01)
        await asyncio.wait_for(venue.fetch_balance(), timeout=1.0)
        assert venue.faults.latency("fetch_balance") == 0.01

    asyncio.run(probe())


def test_frozen_marks_are_stale_while_the_market_moves() -> None:
    venue = make_venue()
    venue.step_sync()
    t_frozen = venue.now_ns
    venue.faults.freeze_marks()
    for _ in range(2):
        venue.step_sync()
    assert venue.now_ns > t_frozen
    assert asyncio.run(venue.fetch_marks(["BTCUSDT"])) == {"BTCUSDT": 59_000.0}
    pos = asyncio.run(venue.fetch_positions())[0]
    assert (pos.mark_price, pos.timestamp_ns) == (59_000.0, t_frozen)
    assert asyncio.run(venue.fetch_balance()).timestamp_ns == t_frozen
    assert venue.marks() == {"BTCUSDT": 57_000.0}  # the truth moved on
    # Fills use the true mark.
    state = asyncio.run(venue.create_order(sell("during-freeze")))
    assert state.average_price == pytest.approx(57_000.0 * (1 - 2e-4))
    venue.faults.freeze_marks(False)
    pos = asyncio.run(venue.fetch_positions())[0]
    assert (pos.mark_price, pos.timestamp_ns) == (57_000.0, venue.now_ns)


def test_the_venue_liquidates_on_true_marks_while_reporting_stale_ones() -> None:
    venue = PaperVenue(
        feeds={"BTCUSDT": scripted_crash(60_000.0, 0.2, 4, flat=1)},
        wallet_balance=0.0,
        positions=[{"symbol": "BTCUSDT", "qty": 1.0, "entry": 60_000.0, "margin_mode": "isolated", "leverage": 20}],
    )
    venue.faults.freeze_marks()
    for _ in range(4):
        venue.step_sync()
    assert len(venue.liquidations) == 1
    assert asyncio.run(venue.fetch_positions()) == []  # positions are account state, not market data
    assert asyncio.run(venue.fetch_marks(["BTCUSDT"])) == {"BTCUSDT": 60_000.0}


def test_crash_after_accept_needs_reconciliation_by_client_id() -> None:
    venue = make_venue()
    venue.faults.crash_after_accept()
    with pytest.raises(VenueRetryableError, match="accepted"):
        asyncio.run(venue.create_order(sell("wal-1")))
    recorded = asyncio.run(venue.fetch_order("BTCUSDT", "wal-1"))
    assert recorded is not None
    assert recorded.status == "closed"
    assert recorded.filled == 0.5
    assert asyncio.run(venue.fetch_positions())[0].qty == 1.5
    # Resending the same client id fills nothing more.
    assert asyncio.run(venue.create_order(sell("wal-1"))) == recorded
    assert asyncio.run(venue.fetch_positions())[0].qty == 1.5
    assert len(venue.fills) == 1
    # The fault was one-shot.
    asyncio.run(venue.create_order(sell("wal-2")))
    assert asyncio.run(venue.fetch_positions())[0].qty == 1.0


def test_reported_liquidation_price_can_drift() -> None:
    venue = make_venue()
    true_lp = asyncio.run(venue.fetch_positions())[0].liquidation_price
    venue.faults.liquidation_price_drift = 0.02
    drifted = asyncio.run(venue.fetch_positions())[0].liquidation_price
    assert true_lp is not None
    assert drifted == pytest.approx(true_lp * 1.02)
    venue.faults.clear()
    assert asyncio.run(venue.fetch_positions())[0].liquidation_price == true_lp
