"""The late watch survives a kill -9: a new process on the same store takes it up from the order's
row (``late_until_ns``, wall clock), records a late fill once (its alert in the same commit) and
says the watch's end once, after asking the venue (also past a deadline passed while no guardian
ran); a positions re-read failing after a late fill is stale inputs, not a cycle error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_guardian_clocks_fencing import T0, Exchange, Venue, _alerts, _guardian, _send_lost_order, _store

from levguard.errors import VenueAuthError, VenueRetryableError
from levguard.live.alerts import Alert, Alerter
from levguard.live.guardian import Guardian
from levguard.live.store import Store, StoreUnavailable
from levguard.venues.base import OrderState, VenuePosition

S = 10**9


def _restart(s: Store, ex: Exchange, n: int) -> Guardian:
    # The same identity started again after a kill -9: a new instance, its own monotonic epoch.
    g = _guardian(s, Venue(ex), "A", lambda: ex.ns())
    g.monotonic = lambda: ex.ns() + n * 10**15
    return g


async def _taken_as_never_arrived(ex: Exchange, s: Store, a: Guardian | None = None) -> str:
    # A sends an order whose answer is lost, takes it as never arrived at t=25 (watched until
    # t=225) and is killed: nothing of it is kept but the store.
    a = a or _guardian(s, Venue(ex), "A", lambda: ex.ns())
    cid = await _send_lost_order(ex, a)
    ex.mark = 60_000.0  # no second order
    a.accounts[0].venue.lose = False  # type: ignore[attr-defined]
    ex.t = 25.0
    await a.cycle()
    a.flush()
    order = s.order(cid)
    assert order is not None
    assert (order["status"], order.get("late_until_ns", ex.ns() + 200 * S)) == ("expired", ex.ns() + 200 * S)
    return cid


def test_a_late_fill_after_a_kill_is_recorded_by_the_restarted_guardian_once(tmp_path: Path) -> None:
    """kill -9 after an order was taken as never arrived; it filled at the venue after all: the
    restarted guardian never asked for it again, so its row stayed 'expired' with nothing filled
    (the fill seen only as a position change) and no late_order was alerted."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        cid = await _taken_as_never_arrived(ex, s)
        ex.t = 40.0
        ex.arrive(ex.travelling.pop(0))  # it lands while no guardian runs
        b = _restart(s, ex, 1)
        for t in (41.0, 42.0, 43.0):  # two cycles after the one that records it
            ex.t = t
            await b.cycle()
        b.flush()
        order = s.order(cid)
        assert order is not None
        assert (order["status"], order["filled"]) == ("closed", 0.484375)
        assert order["late_until_ns"] is None
        late = _alerts(s, "late_order")
        assert [(x["level"], x["ts_ns"]) for x in late] == [("critical", ex.ns() - 2 * S)]
        assert cid in late[0]["message"]
        assert "taken as never arrived" in late[0]["message"]
        changes = [(x["level"], x["data"]["before"], x["data"]["after"]) for x in _alerts(s, "venue_change")]
        assert changes == [("critical", 1.0, 1.0 - 0.484375)]
        assert b._state["acct"].late == {}
        # A third process finds the watch ended: nothing recorded or alerted again.
        c = _restart(s, ex, 2)
        ex.t = 44.0
        await c.cycle()
        c.flush()
        assert len(_alerts(s, "late_order")) == 1
        assert s.order(cid)["filled"] == 0.484375  # type: ignore[index]

    asyncio.run(go())


def test_a_partial_late_fill_is_not_alerted_again_by_the_next_holder(tmp_path: Path) -> None:
    """A partial late fill recorded by A keeps the watch on the row; the restarted guardian sees
    the same answer (nothing new: no alert), then the rest (alerted for the rest), then ends it."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        cid = await _taken_as_never_arrived(ex, s)
        req = ex.travelling.pop(0)
        a2 = _restart(s, ex, 1)
        ex.legs[0] = ("BTCUSDT", 1.0 - 0.2)
        ex.orders[cid] = OrderState(req.symbol, cid, "open", 0.2, ex.mark, "v", 0)
        ex.t = 30.0
        await a2.cycle()  # the partial fill recorded and alerted; A2 is killed
        a3 = _restart(s, ex, 2)
        for t in (31.0, 32.0):
            ex.t = t
            await a3.cycle()
        a3.flush()
        assert [x["data"]["filled"] for x in _alerts(s, "late_order")] == [0.2]
        assert (s.order(cid)["status"], s.order(cid)["filled"]) == ("expired", 0.2)  # type: ignore[index]
        assert list(a3._state["acct"].late) == [cid]
        ex.legs[0] = ("BTCUSDT", 1.0 - req.qty)
        ex.orders[cid] = OrderState(req.symbol, cid, "closed", req.qty, ex.mark, "v", 0)
        for t in (33.0, 34.0):
            ex.t = t
            await a3.cycle()
        a3.flush()
        assert [x["data"]["filled"] for x in reversed(_alerts(s, "late_order"))] == [0.2, req.qty]
        order = s.order(cid)
        assert order is not None
        assert (order["status"], order["filled"]) == ("closed", req.qty)
        assert order["late_until_ns"] is None
        assert abs(s.account("acct")["expected"]["BTCUSDT"] - ex.legs[0][1]) < 1e-12  # type: ignore[index]

    asyncio.run(go())


def test_the_watch_ends_once_after_a_restart(tmp_path: Path) -> None:
    """The order truly never arrives: the restarted guardian drops the watch at its deadline with
    one warning (it said nothing: the watch was gone with the killed process), and a guardian
    started after that says nothing again."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        cid = await _taken_as_never_arrived(ex, s)
        ex.travelling.clear()  # lost for good
        b = _restart(s, ex, 1)
        for t in (100.0, 200.0, 224.0):
            ex.t = t
            await b.cycle()
        assert list(b._state["acct"].late) == [cid]
        assert _alerts(s, "late_order") == []
        for t in (226.0, 227.0):
            ex.t = t
            await b.cycle()
        c = _restart(s, ex, 2)
        ex.t = 228.0
        await c.cycle()
        b.flush()
        c.flush()
        late = _alerts(s, "late_order")
        assert [(x["level"], x["ts_ns"]) for x in late] == [("warning", ex.ns() - 2 * S)]
        assert cid in late[0]["message"]
        assert "no longer watched" in late[0]["message"]
        assert b._state["acct"].late == c._state["acct"].late == {}
        assert s.order(cid)["late_until_ns"] is None  # type: ignore[index]

    asyncio.run(go())


def test_a_watch_whose_deadline_passed_while_no_guardian_ran_ends_once(tmp_path: Path) -> None:
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        cid = await _taken_as_never_arrived(ex, s)
        ex.travelling.clear()
        for n, t in ((1, 3600.0), (2, 3700.0)):  # started after the deadline, twice
            ex.t = t
            g = _restart(s, ex, n)
            await g.cycle()
            g.flush()
            assert g._state["acct"].late == {}
        late = _alerts(s, "late_order")
        assert [(x["level"], x["ts_ns"]) for x in late] == [("warning", ex.ns() - 100 * S)]
        assert cid in late[0]["message"]
        assert s.order(cid)["status"] == "expired"  # type: ignore[index]

    asyncio.run(go())


class Counting(Venue):
    """Counts the fetch_order calls."""

    asked = 0

    async def fetch_order(self, symbol: str, cid: str) -> OrderState | None:
        self.asked += 1
        return await super().fetch_order(symbol, cid)


def test_a_fill_inside_the_watch_found_after_its_deadline_is_recorded(tmp_path: Path) -> None:
    """Watched until t=225, filled at t=40 while no guardian ran, a guardian back at t=300: the
    watch was ended without asking the venue once (0 fetch_order calls), the row stayed 'expired'
    with 0 filled and the warning said the venue did not answer.  Now it is asked once: recorded
    'closed' 0.484375 and alerted critical, no warning."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        cid = await _taken_as_never_arrived(ex, s)
        ex.t = 40.0
        ex.arrive(ex.travelling.pop(0))
        v = Counting(ex)
        b = _guardian(s, v, "A", lambda: ex.ns())
        b.monotonic = lambda: ex.ns() + 10**15
        for t in (300.0, 301.0):
            ex.t = t
            await b.cycle()
        b.flush()
        assert v.asked == 1
        order = s.order(cid)
        assert order is not None
        assert (order["status"], order["filled"], order["late_until_ns"]) == ("closed", 0.484375, None)
        late = _alerts(s, "late_order")
        assert [(x["level"], x["ts_ns"]) for x in late] == [("critical", T0 + 300 * S)]
        assert "filled at the venue after all" in late[0]["message"]
        assert b._state["acct"].late == {}

    asyncio.run(go())


def test_a_store_failure_at_the_watch_end_keeps_the_watch_until_it_is_ended(tmp_path: Path) -> None:
    """end_late_watch failed once (database unavailable) at t=226: the watch had been dropped from
    memory before the write, so the row's watch stayed on and its end was never said until a
    restart.  Now the watch is kept and ended at the next cycle with its warning."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        cid = await _taken_as_never_arrived(ex, s, a)
        ex.travelling.clear()
        real = s.end_late_watch
        calls: list[int] = []

        def flaky(*args: Any, **kw: Any) -> bool:
            calls.append(1)
            if len(calls) == 1:
                raise StoreUnavailable("database unavailable (injected)")
            return real(*args, **kw)

        s.end_late_watch = flaky  # type: ignore[method-assign]
        ex.t = 226.0
        await a.cycle()
        assert list(a._state["acct"].late) == [cid]
        ex.t = 231.0
        await a.cycle()
        a.flush()
        assert len(calls) == 2
        assert a._state["acct"].late == {}
        assert s.order(cid)["late_until_ns"] is None  # type: ignore[index]
        late = _alerts(s, "late_order")
        assert [(x["level"], x["ts_ns"]) for x in late] == [("warning", T0 + 231 * S)]

    asyncio.run(go())


class Killed(BaseException):
    """A kill -9 at this point (nothing after it runs)."""


def test_a_kill_right_after_a_late_fill_is_recorded_keeps_its_alert(tmp_path: Path) -> None:
    """kill -9 right after the late fill's row was committed (closed, watch ended), before its
    late_order alert was stored: no process ever said it (0 late_order alerts).  Now the alert is
    stored in that commit."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        cid = await _taken_as_never_arrived(ex, s)
        ex.t = 40.0
        ex.arrive(ex.travelling.pop(0))
        b = _restart(s, ex, 1)
        real = s.mark_result

        def then_die(*args: Any, **kw: Any) -> float:
            out = real(*args, **kw)
            if kw.get("book") is False:
                raise Killed
            return out

        s.mark_result = then_die  # type: ignore[method-assign]
        ex.t = 41.0
        with pytest.raises(Killed):
            await b.cycle()
        s.mark_result = real  # type: ignore[method-assign]
        order = s.order(cid)
        assert order is not None
        assert (order["status"], order["filled"], order["late_until_ns"]) == ("closed", 0.484375, None)
        c = _restart(s, ex, 2)
        for t in (42.0, 43.0):
            ex.t = t
            await c.cycle()
        c.flush()
        late = _alerts(s, "late_order")
        assert [(x["level"], x["ts_ns"]) for x in late] == [("critical", T0 + 41 * S)]
        assert late[0]["data"]["filled"] == 0.484375

    asyncio.run(go())


class RereadFails(Venue):
    """fetch_positions fails from the read after a late fill was found (``after_fill``)."""

    after_fill = False

    async def fetch_order(self, symbol: str, cid: str) -> OrderState | None:
        state = await super().fetch_order(symbol, cid)
        self.after_fill = self.after_fill or (state is not None and state.filled > 0)
        return state

    async def fetch_positions(self) -> list[VenuePosition]:
        if self.after_fill:
            raise VenueRetryableError("fetch_positions timed out")
        return await super().fetch_positions()


def test_a_failed_re_read_after_a_late_fill_is_stale_not_a_cycle_error(tmp_path: Path) -> None:
    """The positions re-read after a late fill failed: a cycle_error (retryable, backoff) although
    the fill was recorded and the inputs were merely stale.  Now the cycle is stale (no order)."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        v = RereadFails(ex)
        b = _guardian(s, v, "A", lambda: ex.ns())
        cid = await _taken_as_never_arrived(ex, s, b)
        ex.t = 40.0
        ex.arrive(ex.travelling.pop(0))
        ex.t = 41.0
        r = await b.cycle()
        assert r[0]["status"] == "stale"
        assert "positions not read again after a fill" in r[0]["reason"]
        v.after_fill = False
        ex.t = 42.0
        r = await b.cycle()
        b.flush()
        assert r[0]["status"] == "ok"
        assert _alerts(s, "cycle_error") == []
        assert [x["level"] for x in _alerts(s, "late_order")] == ["critical"]
        assert (s.order(cid)["status"], s.order(cid)["filled"]) == ("closed", 0.484375)  # type: ignore[index]
        changes = [(x["level"], x["data"]["before"], x["data"]["after"]) for x in _alerts(s, "venue_change")]
        assert changes == [("critical", 1.0, 1.0 - 0.484375)]

    asyncio.run(go())


class KeyRefused(Venue):
    """fetch_order (only) refuses the key from ``refused_from`` (seconds); counts those asks."""

    refused_from = 30.0
    asked = 0

    async def fetch_order(self, symbol: str, cid: str) -> OrderState | None:
        if self.ex.t >= self.refused_from:
            self.asked += 1
            raise VenueAuthError("key refused (injected)")
        return await super().fetch_order(symbol, cid)


def test_a_refused_key_past_the_deadline_ends_the_watch(tmp_path: Path) -> None:
    """fetch_order refused the key (VenueAuthError) from t=30 for an order watched until t=225:
    the error was raised before the deadline was looked at, so the watch was never ended (no
    warning, the row's watch on), and every cycle asked again and was disabled again, re-enabled
    or not: the account was never evaluated again.  Now before the deadline it disables the
    account and keeps the watch; past it the watch ends (its warning, once), then the account is
    disabled, and a re-enable resumes normal cycles (nothing asked again)."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        v = KeyRefused(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        cid = await _taken_as_never_arrived(ex, s, a)
        ex.travelling.clear()
        statuses = []
        for t in (30.0, 230.0, 240.0, 250.0):
            ex.t = t
            r = await a.cycle()
            statuses.append(r[0]["status"])
            if t == 30.0:  # before the deadline: disabled, the watch kept
                assert list(a._state["acct"].late) == [cid]
                assert s.order(cid)["late_until_ns"] is not None  # type: ignore[index]
            s.set_disabled("acct", None, ex.ns())  # an operator re-enables it
        a.flush()
        assert statuses == ["disabled", "disabled", "ok", "ok"]
        assert v.asked == 2  # at t=30 and, once more, at t=230
        assert a._state["acct"].late == {}
        assert s.order(cid)["late_until_ns"] is None  # type: ignore[index]
        late = _alerts(s, "late_order")
        assert [(x["level"], x["ts_ns"]) for x in late] == [("warning", T0 + 230 * S)]
        assert cid in late[0]["message"]

    asyncio.run(go())


class Recorder:
    """A sink recording what it was sent."""

    def __init__(self) -> None:
        self.got: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.got.append(alert)


@pytest.mark.parametrize("lands", [True, False])
def test_the_late_fill_and_the_watch_end_reach_the_sinks_once(tmp_path: Path, lands: bool) -> None:
    """The late fill's critical alert (it lands at t=40) and the watch's end warning (it never
    lands: t=225) are stored with the write they are about, then sent to the sinks once each,
    the messages stored."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        rec = Recorder()
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        a.alerter = Alerter([rec])
        await _taken_as_never_arrived(ex, s, a)
        ex.t = 40.0
        request = ex.travelling.pop(0)
        if lands:
            ex.arrive(request)
        for t in (41.0, 42.0, 226.0, 227.0, 231.0):
            ex.t = t
            await a.cycle()
        a.flush()
        assert a.alerter.flush(5)
        sent = [(x.level, x.ts_ns, x.message) for x in rec.got if x.kind == "late_order"]
        stored = [(x["level"], x["ts_ns"], x["message"]) for x in _alerts(s, "late_order")]
        assert [(level, ts) for level, ts, _ in sent] == [
            ("critical", T0 + 41 * S) if lands else ("warning", T0 + 226 * S)
        ]
        assert sent == stored

    asyncio.run(go())


def test_a_refused_key_ends_every_watch_past_its_deadline_behind_a_live_one(tmp_path: Path) -> None:
    """Two orders on the watch: Y live until t=400 first in the loop, X past its t=225 deadline.
    The refused key at Y's ask was raised at once, so X's watch stayed on until t=420 behind it
    (a review: 195 s late, 20 re-enables).  Now the refused key ends every watch past its
    deadline before the account is disabled: X at t=230."""
    import sqlalchemy as sa

    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        x = await _taken_as_never_arrived(ex, s)
        ex.travelling.clear()
        with sa.create_engine(
            f"sqlite:///{tmp_path / 'g.db'}"
        ).begin() as c:  # a copy of X, watched to t=400, sent first
            row = dict(c.execute(sa.text("select * from orders where client_order_id=:c"), {"c": x}).mappings().one())
            row.update(client_order_id="Y", intent_ns=row["intent_ns"] - 1, late_until_ns=T0 + 400 * S)
            c.execute(sa.text(f"insert into orders ({','.join(row)}) values ({','.join(':' + k for k in row)})"), row)
        b = _guardian(s, KeyRefused(ex), "A", lambda: ex.ns())
        b.monotonic = lambda: ex.ns() + 10**15  # a restart: another monotonic clock
        ex.t = 230.0
        r = await b.cycle()
        assert r[0]["status"] == "disabled"
        assert s.order(x)["late_until_ns"] is None  # type: ignore[index]
        assert s.order("Y")["late_until_ns"] is not None  # type: ignore[index]
        assert list(b._state["acct"].late) == ["Y"]
        b.flush()
        late = _alerts(s, "late_order")
        assert [(a["level"], a["ts_ns"]) for a in late] == [("warning", T0 + 230 * S)]
        assert x in late[0]["message"]

    asyncio.run(go())


def test_a_store_failure_ending_a_watch_on_a_refused_key_still_disables_the_account(tmp_path: Path) -> None:
    """The watch's end failing (StoreUnavailable) replaced the refused key's error: the account
    was not disabled and the refused key was asked every cycle (a review).  Now the refused key
    is raised (the account disabled) and the watch is ended at a later cycle, said once."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        v = KeyRefused(ex)
        a = _guardian(s, v, "A", lambda: ex.ns())
        cid = await _taken_as_never_arrived(ex, s, a)
        ex.travelling.clear()
        real, calls = s.end_late_watch, []

        def flaky(*args: Any, **kw: Any) -> bool:
            calls.append(1)
            if len(calls) == 1:
                raise StoreUnavailable("injected")
            return real(*args, **kw)

        s.end_late_watch = flaky  # type: ignore[method-assign]
        ex.t = 230.0
        r = await a.cycle()
        assert r[0]["status"] == "disabled"
        assert a._state["acct"].disabled is not None
        assert s.order(cid)["late_until_ns"] is not None  # type: ignore[index]
        s.set_disabled("acct", None, ex.ns())  # re-enabled
        ex.t = 240.0
        await a.cycle()
        assert s.order(cid)["late_until_ns"] is None  # type: ignore[index]
        a.flush()
        assert [x["level"] for x in _alerts(s, "late_order")] == ["warning"]

    asyncio.run(go())
