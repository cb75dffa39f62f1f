"""Orders taken as never arrived (a late fill counted once, from the venue's read; the late watch:
a failed re-ask, a takeover, its deadline), the wait after a restart, and hedge legs that go back
to one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_guardian_clocks_fencing import T0, Exchange, Venue, _alerts, _guardian, _send_lost_order, _store

from levguard.errors import VenueRetryableError
from levguard.live.store import Store
from levguard.venues.base import OrderRequest, OrderState


class FlakyVenue(Venue):
    """fetch_order times out while ``flaky``; counts the calls it refused."""

    flaky = False
    refused = 0

    async def fetch_order(self, symbol: str, cid: str) -> OrderState | None:
        if self.flaky:
            self.refused += 1
            raise VenueRetryableError("fetch_order timed out")
        return await super().fetch_order(symbol, cid)


def _real(ex: Exchange) -> float:
    return sum(q for _, q in ex.legs)


def _changes(s: Store) -> list[tuple[str, float, float]]:
    # The venue_change alerts, oldest first.
    return [(x["level"], x["data"]["before"], x["data"]["after"]) for x in reversed(_alerts(s, "venue_change"))]


def test_a_late_fill_seen_while_its_re_ask_fails_is_counted_once(tmp_path: Path) -> None:
    """The re-ask failed for one cycle as the late order landed: a critical venue_change took the
    fill into the expected position, then the late watch booked it again (expected 0.03125 - 0.484
    = a phantom short, a second venue_change).  Now the read's change is the only count."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        v = FlakyVenue(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        first = await _send_lost_order(ex, a)
        v.lose = False
        ex.t = 25.0
        await a.cycle()  # taken as never arrived; a second order is sent and fills
        before = _real(ex)
        ex.arrive(ex.travelling.pop(0))
        ex.t, v.flaky = 26.0, True
        await a.cycle()
        a.flush()
        assert _changes(s) == [("critical", before, _real(ex))]  # at once: no room for late orders
        assert [x["level"] for x in _alerts(s, "reconcile")] == ["warning"]  # the failed re-ask, once
        v.flaky = False
        for t in (27.0, 28.0):
            ex.t = t
            await a.cycle()
        a.flush()
        assert len(_alerts(s, "venue_change")) == 1
        assert [x["level"] for x in _alerts(s, "late_order")] == ["critical"]
        assert (s.order(first)["status"], s.order(first)["filled"]) == ("closed", 0.484375)  # type: ignore[index]
        assert abs(s.account("acct")["expected"]["BTCUSDT"] - _real(ex)) < 1e-12  # type: ignore[index]

    asyncio.run(go())


def test_a_late_fill_with_a_liquidation_is_one_change_and_recorded(tmp_path: Path) -> None:
    """The late order lands with a liquidation while its re-ask fails: one critical change (both),
    the position adopted; the late answer is then recorded on the order and alerted, not booked."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        v = FlakyVenue(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        first = await _send_lost_order(ex, a)
        ex.mark, v.lose = 60_000.0, False  # back up: no second order
        ex.t = 25.0
        await a.cycle()
        ex.arrive(ex.travelling.pop(0))
        ex.legs[0] = ("BTCUSDT", ex.legs[0][1] - 0.2)  # and a partial liquidation
        ex.t, v.flaky = 26.0, True
        await a.cycle()
        v.flaky = False
        for t in (27.0, 28.0):
            ex.t = t
            await a.cycle()
        a.flush()
        assert _changes(s) == [("critical", 1.0, _real(ex))]
        late = _alerts(s, "late_order")
        assert [x["level"] for x in late] == ["critical"]
        assert "0.484375 of a venue_change alerted on BTCUSDT" in late[0]["message"]
        assert "the rest of it the venue's doing" in late[0]["message"]
        assert (s.order(first)["status"], s.order(first)["filled"]) == ("closed", 0.484375)  # type: ignore[index]
        assert abs(s.account("acct")["expected"]["BTCUSDT"] - _real(ex)) < 1e-12  # type: ignore[index]

    asyncio.run(go())


def test_a_liquidation_is_not_masked_by_an_order_taken_as_never_arrived(tmp_path: Path) -> None:
    """The order truly never arrived and its re-ask kept failing: a partial liquidation within its
    quantity (0.3 of 0.484) raised no venue_change until the watch's deadline (t=226, 200 s late)."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        v = FlakyVenue(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        await _send_lost_order(ex, a)
        ex.mark, v.lose = 60_000.0, False
        ex.travelling.clear()  # it never arrives
        ex.t = 25.0
        await a.cycle()
        ex.legs[0] = ("BTCUSDT", 0.7)  # a partial liquidation
        ex.t, v.flaky = 26.0, True
        await a.cycle()
        a.flush()
        assert _changes(s) == [("critical", 1.0, 0.7)]
        assert s.account("acct")["expected"] == {"BTCUSDT": 0.7}  # type: ignore[index]

    asyncio.run(go())


def test_a_late_fill_landing_before_the_re_read_is_counted_once(tmp_path: Path) -> None:
    """A late order L answered 'not found', then landed before the positions were re-read in the
    same cycle (after another order N's fill): the re-read's change was alerted and adopted, and
    the late watch booked L again next cycle (a phantom short, a bogus second venue_change)."""
    ex = Exchange()
    s = _store(tmp_path)

    class Landing(Venue):
        hook: tuple[str, list[OrderRequest]] | None = None

        async def fetch_order(self, symbol: str, cid: str) -> OrderState | None:
            if self.hook is not None and cid == self.hook[0]:
                for r in self.hook[1]:
                    self.ex.arrive(r)  # L lands (after L's own re-ask this cycle), then N
                self.hook = None
            return await super().fetch_order(symbol, cid)

    async def go() -> None:
        v = Landing(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        late = await _send_lost_order(ex, a)
        ex.t = 25.0
        r = await a.cycle()  # L taken as never arrived; N sent, its answer lost too
        n = str(r[0]["positions"][0]["action"]["client_order_id"])
        v.lose = False
        v.hook = (n, list(ex.travelling))
        ex.travelling.clear()
        for t in (26.0, 27.0, 28.0):
            ex.t = t
            await a.cycle()
        a.flush()
        assert _changes(s) == [("critical", 1.0 - 0.484375, _real(ex))]  # L's fill, once
        assert [x["level"] for x in _alerts(s, "late_order")] == ["critical"]
        assert (s.order(late)["status"], s.order(n)["status"]) == ("closed", "closed")  # type: ignore[index]
        assert abs(s.account("acct")["expected"]["BTCUSDT"] - _real(ex)) < 1e-12  # type: ignore[index]

    asyncio.run(go())


def test_a_late_fill_found_after_the_read_is_judged_in_the_same_cycle(tmp_path: Path) -> None:
    """The late order lands between the cycle's read and its re-ask: the positions are read again
    before judging and deciding, so its change is alerted with the late_order, in that cycle."""
    ex = Exchange()
    s = _store(tmp_path)

    class Landing(Venue):
        async def fetch_order(self, symbol: str, cid: str) -> OrderState | None:
            if self.ex.travelling and cid == self.ex.travelling[0].client_order_id:
                self.ex.arrive(self.ex.travelling.pop(0))
            return await super().fetch_order(symbol, cid)

    async def go() -> None:
        v = Landing(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        await _send_lost_order(ex, a)
        ex.mark, v.lose = 60_000.0, False
        held = list(ex.travelling)
        ex.travelling.clear()
        ex.t = 25.0
        await a.cycle()  # taken as never arrived
        ex.travelling[:] = held  # lands when asked for next
        ex.t = 26.0
        await a.cycle()
        a.flush()
        assert _changes(s) == [("critical", 1.0, _real(ex))]
        assert [x["level"] for x in _alerts(s, "late_order")] == ["critical"]
        assert s.account("acct")["expected"] == {"BTCUSDT": _real(ex)}  # type: ignore[index]

    asyncio.run(go())


def test_a_late_fill_after_a_larger_change_is_its_own_change(tmp_path: Path) -> None:
    """A liquidation larger than the late order was adopted while its re-ask failed; the order
    landed only a cycle later: it was recorded as 'already taken into the expected position' and
    its fill alerted as a second venue change although the first did not hold it.  Now each
    change is the read's, once, and the late watch names the order's."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        v = FlakyVenue(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        first = await _send_lost_order(ex, a)
        ex.mark, v.lose = 60_000.0, False
        ex.t = 25.0
        await a.cycle()
        ex.legs[0] = ("BTCUSDT", 0.4)  # a liquidation larger than the late order's quantity
        ex.t, v.flaky = 26.0, True
        await a.cycle()
        ex.arrive(ex.travelling.pop(0))  # the late order lands only now
        v.flaky = False
        for t in (27.0, 28.0):
            ex.t = t
            await a.cycle()
        a.flush()
        assert _changes(s) == [("critical", 1.0, 0.4), ("critical", 0.4, _real(ex))]
        late = _alerts(s, "late_order")
        assert [x["level"] for x in late] == ["critical"]
        assert "0.484375 of a venue_change alerted on BTCUSDT" in late[0]["message"]
        assert "the rest of it the venue's doing" in late[0]["message"]
        assert (s.order(first)["status"], s.order(first)["filled"]) == ("closed", 0.484375)  # type: ignore[index]
        assert abs(s.account("acct")["expected"]["BTCUSDT"] - _real(ex)) < 1e-12  # type: ignore[index]

    asyncio.run(go())


def test_a_late_fill_judged_by_another_holder_is_not_booked_again_on_taking_back(tmp_path: Path) -> None:
    """A took an order as never arrived and stalled; B took over and saw the order land (a
    venue_change); A took the account back and booked the fill again from its in-memory watch
    (expected 0.03125, then a bogus warning "from 0.03125 to 0.515625").  B takes the watch up from
    the order's row and records the fill (late_order once); A, taking back, finds it ended."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        b = _guardian(s, Venue(ex), "B", lambda: ex.ns())
        x = await _send_lost_order(ex, a)
        ex.mark = 60_000.0
        a.accounts[0].venue.lose = False  # type: ignore[attr-defined]
        ex.t = 25.0
        await a.cycle()
        assert list(a._state["acct"].late) == [x]
        ex.t = 60.0
        await b.cycle()  # A stalled past its lease
        ex.t = 61.0
        ex.arrive(ex.travelling.pop(0))
        for t in (62.0, 100.0, 101.0):  # B sees it, stops; A takes the account back
            ex.t = t
            await (b if t == 62.0 else a).cycle()
        a.flush()
        b.flush()
        assert a._state["acct"].late == {}
        assert [x["level"] for x in _alerts(s, "venue_change")] == ["critical"]  # B's, once
        assert [(x["level"], x["ts_ns"]) for x in _alerts(s, "late_order")] == [("critical", ex.ns() - 39 * 10**9)]
        assert (s.order(x)["status"], s.order(x)["filled"], s.order(x)["late_until_ns"]) == ("closed", 0.484375, None)  # type: ignore[index]
        assert abs(s.account("acct")["expected"]["BTCUSDT"] - _real(ex)) < 1e-12  # type: ignore[index]

    asyncio.run(go())


def test_a_lost_lease_drops_the_late_watch(tmp_path: Path) -> None:
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        b = _guardian(s, Venue(ex), "B", lambda: ex.ns())
        await _send_lost_order(ex, a)
        ex.mark = 60_000.0
        a.accounts[0].venue.lose = False  # type: ignore[attr-defined]
        ex.t = 25.0
        await a.cycle()
        assert a._state["acct"].late
        ex.t = 60.0
        await b.cycle()
        ex.t = 61.0
        r = await a.cycle()  # B holds it now
        assert r[0]["status"] == "lease_held_elsewhere"
        assert a._state["acct"].late == {}

    asyncio.run(go())


def test_an_order_sent_long_before_a_restart_is_not_waited_for_again(tmp_path: Path) -> None:
    """kill -9 with an order whose request was lost; the same identity restarts an hour later: the
    order waited the full limit (20 s) again from the restart, the position unprotected."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        first = await _send_lost_order(ex, a)
        ex.travelling.clear()  # lost for good; A is killed
        ex.t = 3600.0
        b = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        b.monotonic = lambda: ex.ns() + 10**15  # a new process: its own monotonic epoch
        r = await b.cycle()
        b.flush()
        assert s.order(first)["status"] == "expired"  # type: ignore[index]
        assert r[0]["positions"][0]["action"]["status"] == "closed"
        # An order sent just before the restart still waits the full limit from there.
        ex.t, ex.mark = 3700.0, 55_000.0
        b.accounts[0].venue.lose = True  # type: ignore[attr-defined]
        second = (await b.cycle())[0]["positions"][0]["action"]["client_order_id"]
        ex.travelling.clear()
        ex.t = 3701.0
        c = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        c.monotonic = lambda: ex.ns() + 2 * 10**15
        for t in (3701.0, 3720.0):
            ex.t = t
            await c.cycle()
            assert s.order(second)["status"] == "sent"  # type: ignore[index]
        ex.t = 3722.0
        await c.cycle()
        assert s.order(second)["status"] == "expired"  # type: ignore[index]

    asyncio.run(go())


def test_the_late_watch_ends_at_its_deadline_while_the_venue_fails(tmp_path: Path) -> None:
    """While fetch_order kept failing, the watch outlived its deadline (225 s): still there at
    86,400 s, asked every cycle with its retries.  Past it, it is asked once more (a fill found
    then is recorded) and ended when that fails."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        v = FlakyVenue(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        first = await _send_lost_order(ex, a)
        ex.mark, v.lose = 60_000.0, False
        ex.t = 25.0
        await a.cycle()
        st = a._state["acct"]
        until = st.late[first][1]
        v.flaky = True
        ex.t = 200.0
        await a.cycle()
        assert first in st.late
        assert v.refused > 0
        for t in (300.0, 3600.0):
            ex.t = t
            await a.cycle()
        a.flush()
        assert (until - T0) / 1e9 == 225.0
        assert st.late == {}
        # asked with its retries before the deadline, once (no retries) past it, then no more
        assert v.refused == 1 + a.accounts[0].retries + 1
        late = _alerts(s, "late_order")
        assert [x["level"] for x in late] == ["warning"]
        assert first in late[0]["message"]

    asyncio.run(go())


def test_hedge_legs_fold_back_to_the_symbol_and_own_fills_raise_no_change(tmp_path: Path) -> None:
    """Two legs, then one: the expected positions stayed keyed by leg ("BTCUSDT short") forever,
    the guardian's own fill on the one-way position was booked nowhere and alerted critical
    ("BTCUSDT short ... from -1 to -0.514423")."""
    ex = Exchange()
    ex.legs = [("BTCUSDT", 0.5), ("BTCUSDT", -1.0)]
    s = _store(tmp_path)

    async def go() -> None:
        g = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        for t in (0.0, 1.0):
            ex.t = t
            await g.cycle()
        ex.legs = [("BTCUSDT", -1.0)]  # the long leg goes
        ex.t = 2.0
        await g.cycle()
        g.flush()
        assert s.account("acct")["expected"] == {"BTCUSDT": -1.0}  # type: ignore[index]
        ex.t, ex.mark = 16.0, 62_400.0  # the short under pressure: the guardian buys
        r = await g.cycle()
        assert r[0]["positions"][0]["action"]["status"] == "closed"
        ex.t = 17.0
        await g.cycle()
        g.flush()
        short = ex.legs[0][1]
        assert s.account("acct")["expected"] == {"BTCUSDT": short}  # type: ignore[index]
        ex.legs.append(("BTCUSDT", 0.3))  # a long leg is opened again (by a person)
        for t in (18.0, 19.0):
            ex.t = t
            await g.cycle()
        g.flush()
        changes = [(x["level"], x["data"].get("leg"), x["data"]["after"]) for x in _alerts(s, "venue_change")]
        assert sorted(changes) == [("critical", "long", 0.0), ("warning", "long", 0.3)]
        assert s.account("acct")["expected"] == {"BTCUSDT short": short, "BTCUSDT long": 0.3}  # type: ignore[index]

    asyncio.run(go())


def test_a_leg_change_held_by_an_order_in_flight_is_not_folded_into_the_net(tmp_path: Path) -> None:
    """The short leg was liquidated while an order on the symbol was in flight (its room held the
    change): the legs were folded into the net (2 - 1 = 1) and, once the order was taken as never
    arrived, the liquidation was a warning 'from 1 to 2'."""
    ex = Exchange()
    ex.legs = [("BTCUSDT", 2.0), ("BTCUSDT", -1.0)]
    s = _store(tmp_path)

    async def go() -> None:
        v = FlakyVenue(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        ex.t = -14.0
        await a.cycle()
        st = a._state["acct"]
        lease = (a.owner, a.instance, st.epoch)
        s.record_intent("acct", "cidX", "BTCUSDT", "buy", 1.0, ex.ns(), "test", lease=lease)
        s.mark_sent("cidX", ex.ns(), lease=lease)
        st.loaded = False  # reloaded: the order is in flight, its answer unknown
        ex.legs = [("BTCUSDT", 2.0)]  # the short leg is liquidated
        ex.t, v.flaky = 1.0, True
        await a.cycle()
        assert s.account("acct")["expected"] == {"BTCUSDT long": 2.0, "BTCUSDT short": -1.0}  # type: ignore[index]
        v.flaky = False
        for t in (30.0, 52.0):
            ex.t = t
            await a.cycle()
        a.flush()
        assert s.order("cidX")["status"] == "expired"  # type: ignore[index]
        changes = [
            (x["level"], x["data"].get("leg"), x["data"]["before"], x["data"]["after"])
            for x in _alerts(s, "venue_change")
        ]
        assert changes == [("critical", "short", -1.0, 0.0)]
        assert s.account("acct")["expected"] == {"BTCUSDT": _real(ex)}  # type: ignore[index]

    asyncio.run(go())
