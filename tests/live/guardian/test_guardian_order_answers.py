"""Order answers out of order, and answers a guardian that lost its lease may not record.

A venue's answers about one order are not monotone (an acknowledgement that reports a partial fill,
then a lagging read that reports less): the fill is booked once, never 1.3 times, and no position
change is blamed on the venue.  A guardian whose lease another process took records no answer (the
new holder books the fill, once) and stops acting.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from guardian_helpers import guardian, store, venue

from levguard.errors import VenueRetryableError
from levguard.live.guardian import Guardian
from levguard.live.store import Store
from levguard.venues.base import OrderRequest, OrderState
from levguard.venues.paper import PaperVenue


class Answers:
    """A paper venue whose order answers can lag (``lagging``) or get lost (``lost``)."""

    def __init__(self, inner: PaperVenue, *, lagging: bool = False, lost: bool = False) -> None:
        self.inner, self.lagging, self.lost = inner, lagging, lost
        self.fetches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_order(self, request: OrderRequest) -> OrderState:
        state = await self.inner.create_order(request)  # executed in full
        if self.lost:
            raise VenueRetryableError("create_order timed out (the answer was lost)")
        if self.lagging:  # acknowledged as half filled so far
            return dataclasses.replace(state, status="open", filled=0.5 * state.filled)
        return state

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        state = await self.inner.fetch_order(symbol, client_order_id)
        self.fetches += 1
        if self.lagging and self.fetches == 1 and state is not None:  # a read older than the ack
            return dataclasses.replace(state, status="open", filled=0.2 * state.filled)
        return state


def _guard(w: Answers, s: Store) -> Guardian:
    g = guardian(w.inner, s, cooldown_s=10**9)  # one order only
    g.accounts[0].venue = w  # type: ignore[assignment]
    return g


def _until_an_order(w: Answers, g: Guardian, s: Store) -> None:
    async def go() -> None:
        await g.reconcile()
        while not s.orders(account="paper"):
            assert not w.inner.exhausted
            await g.cycle()
            await w.inner.step()

    asyncio.run(go())


def test_a_lagging_answer_books_the_fill_once_and_blames_nothing_on_the_venue(tmp_path: Path) -> None:
    """The ack's 0.5 q was booked, the lagging read's 0.2 q overwrote the stored fill, and the final
    answer booked 0.8 q again: 1.3 q in the expected position, a false venue_change alert."""
    w = Answers(venue(), lagging=True)
    s = store(tmp_path)
    g = _guard(w, s)
    _until_an_order(w, g, s)

    async def settle() -> None:
        for _ in range(4):  # the lagging read, the final answer, then two quiet cycles
            await g.cycle()
            await w.inner.step()
        g.flush()

    asyncio.run(settle())
    (order,) = s.orders(account="paper")
    assert order["status"] == "closed"
    assert w.fetches >= 2
    (pos,) = asyncio.run(w.inner.fetch_positions())
    assert pos.qty == pytest.approx(2.0 - order["filled"])
    assert s.account("paper")["expected"] == {"BTCUSDT": pytest.approx(pos.qty)}  # type: ignore[index]
    assert g._state["paper"].expected == {"BTCUSDT": pytest.approx(pos.qty)}
    assert not [a for a in s.alerts(account="paper", limit=1_000) if a["kind"] == "venue_change"]


def test_a_guardian_that_lost_its_lease_records_no_answer(tmp_path: Path) -> None:
    """resolve() wrote the venue's answer unfenced: a process the account was taken from booked the
    fill the new holder books too."""
    w = Answers(venue(), lost=True)
    s = store(tmp_path)
    g = _guard(w, s)
    _until_an_order(w, g, s)
    (order,) = s.orders(account="paper")
    assert order["status"] == "sent"  # executed, answer lost: in flight
    expected = s.account("paper")["expected"]  # type: ignore[index]
    # A restart of the same guardian (a new instance) takes the account over.
    s.take_leases(["paper"], g.owner, 3_600.0, w.inner.now_ns, instance="restarted")
    asyncio.run(w.inner.step())
    (report,) = asyncio.run(g.cycle())
    assert report["status"] == "lease_held_elsewhere"
    after = s.order(order["client_order_id"])
    assert after is not None
    assert (after["status"], after["filled"]) == ("sent", 0.0)  # the new holder's to resolve
    assert s.account("paper")["expected"] == expected  # type: ignore[index]
    (alert,) = [a for a in s.alerts(account="paper", limit=100) if a["kind"] == "lease"]
    assert alert["level"] == "critical"
    assert "not resolved" in alert["message"]
    assert g._state["paper"].epoch == -1


def test_a_venue_change_beside_a_lagging_answer_counts_the_fill_once(tmp_path: Path) -> None:
    """An ADL in the interval of a lagging answer: the read (our whole fill and the ADL) was adopted
    at once, the fill was booked again when the venue reported it, and the next cycle blamed a
    position increase on the venue (a false warning ``venue_change``, 0.47 -> 0.85)."""
    w = Answers(venue(), lagging=True)
    s = store(tmp_path)
    g = _guard(w, s)
    _until_an_order(w, g, s)
    w.inner.adl("BTCUSDT", 0.4)  # the venue's own cut, beside our order's fill

    async def settle() -> None:
        for _ in range(5):
            await g.cycle()
            await w.inner.step()
        g.flush()

    asyncio.run(settle())
    (order,) = s.orders(account="paper")
    assert order["status"] == "closed"
    (pos,) = asyncio.run(w.inner.fetch_positions())
    assert s.account("paper")["expected"] == {"BTCUSDT": pytest.approx(pos.qty)}  # type: ignore[index]
    assert g._state["paper"].expected == {"BTCUSDT": pytest.approx(pos.qty)}
    assert not g._state["paper"].held
    (change,) = [a for a in s.alerts(account="paper", limit=1_000) if a["kind"] == "venue_change"]
    assert change["level"] == "critical"
    assert "may be the fill of an order in flight on BTCUSDT" in change["message"]


class Delayed:
    """A venue that keeps the guardian's order (the request times out, the venue has not seen it)
    until ``land()`` delivers it."""

    def __init__(self, inner: PaperVenue) -> None:
        self.inner, self.kept = inner, {}  # type: ignore[var-annotated]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_order(self, request: OrderRequest) -> OrderState:
        self.kept.setdefault(request.client_order_id, request)
        raise VenueRetryableError("create_order timed out (not at the venue yet)")

    async def land(self) -> None:
        for request in list(self.kept.values()):
            await self.inner.create_order(request)
        self.kept.clear()


def test_a_held_venue_change_whose_order_lands_after_the_read_is_alerted_once(tmp_path: Path) -> None:
    """An ADL read while our order had not reached the venue: the order landed after the read, the
    read held (alerted) was no longer the position, and the ADL was alerted critical a second time
    ("from 1.24772 to 0.295435")."""
    v = venue()
    w = Delayed(v)
    s = store(tmp_path)
    g = guardian(v, s, cooldown_s=10**9)
    g.accounts[0].venue = w  # type: ignore[assignment]

    async def go() -> None:
        await g.reconcile()
        while not s.orders(account="paper"):
            assert not v.exhausted
            await g.cycle()
            await v.step()
        (order,) = s.orders(account="paper")
        v.adl("BTCUSDT", float(order["qty"]) + 0.2)  # more than the order could explain
        await g.cycle()
        await v.step()
        assert "BTCUSDT" in g._state["paper"].held
        await w.land()
        for _ in range(3):
            await g.cycle()
            await v.step()
        g.flush()

    asyncio.run(go())
    (pos,) = asyncio.run(v.fetch_positions())
    assert g._state["paper"].expected == {"BTCUSDT": pytest.approx(pos.qty)}
    assert not g._state["paper"].held
    (change,) = [a for a in s.alerts(account="paper", limit=1_000) if a["kind"] == "venue_change"]
    assert change["level"] == "critical"
