"""Orders waited for on one clock (another host's clock ahead, a wall-clock step, a late fill of an
order taken as never arrived), a holder whose read outlived its lease, and hedge-mode legs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from levguard.errors import VenueRetryableError
from levguard.live.alerts import Alerter
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.store import Store
from levguard.venues.base import Capabilities, OrderRequest, OrderState, VenueBalance, VenuePosition

S = 10**9
T0 = 1_700_000_000 * S


class Exchange:
    """One BTC long shared by every guardian's venue; orders may travel (land later) or be lost."""

    def __init__(self) -> None:
        self.t = 0.0  # true time, seconds
        self.legs: list[tuple[str, float]] = [("BTCUSDT", 1.0)]
        self.mark = 60_000.0
        self.orders: dict[str, OrderState] = {}
        self.travelling: list[OrderRequest] = []
        self.fills: list[str] = []

    def ns(self, skew_s: float = 0.0) -> int:
        return T0 + round((self.t + skew_s) * S)

    def arrive(self, r: OrderRequest) -> None:
        sym, qty = self.legs[0]
        self.legs[0] = (sym, qty - r.qty if r.side == "sell" else qty + r.qty)
        self.fills.append(r.client_order_id)
        self.orders[r.client_order_id] = OrderState(r.symbol, r.client_order_id, "closed", r.qty, self.mark, "v", 0)


class Venue:
    name = "binance-usdm"

    def __init__(self, ex: Exchange, *, skew_s: float = 0.0, gate: asyncio.Event | None = None) -> None:
        self.ex, self.skew_s, self.gate = ex, skew_s, gate
        self.capabilities = Capabilities(order_expiry_s=10.0)
        self.lose = False  # answers time out; the request travels on (lands when the test says)

    async def fetch_positions(self) -> list[VenuePosition]:
        if self.gate is not None:
            await self.gate.wait()
        now = self.ex.ns(self.skew_s)
        return [VenuePosition(s, q, 60_000.0, self.ex.mark, timestamp_ns=now) for s, q in self.ex.legs if q]

    async def fetch_balance(self) -> VenueBalance:
        return VenueBalance("USDT", 3_000.0, 3_000.0, self.ex.ns(self.skew_s))

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        return {s: self.ex.mark for s in symbols}

    async def fetch_tiers(self, symbol: str) -> Any:
        return None

    async def fetch_funding_rate(self, symbol: str) -> float:
        return 0.0

    async def create_order(self, r: OrderRequest) -> OrderState:
        if self.lose:
            self.ex.travelling.append(r)
            raise VenueRetryableError("create_order timed out")
        self.ex.arrive(r)
        return self.ex.orders[r.client_order_id]

    async def fetch_order(self, symbol: str, cid: str) -> OrderState | None:
        return self.ex.orders.get(cid)

    async def close(self) -> None:
        return None


def _store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("acct", "binance-usdm", live_enabled=True)
    return s


def _guardian(s: Store, v: Venue, owner: str, clock: Any, **kw: Any) -> Guardian:
    setup = AccountSetup("acct", v, live=True, venue_bars=False, vol=None, cooldown_s=0.0)  # type: ignore[arg-type]
    return Guardian([setup], s, live=True, alerter=Alerter([]), clock=clock, owner=owner, lease_ttl_s=30, **kw)


def _alerts(s: Store, kind: str) -> list[dict[str, Any]]:
    return [a for a in s.alerts(account="acct", limit=1_000) if a["kind"] == kind]


async def _send_lost_order(ex: Exchange, a: Guardian) -> str:
    # A watches from t=-14, then at t=0 (the mark down 4 %) sends an order whose answer is lost.
    ex.t = -14.0
    await a.cycle()
    ex.t, ex.mark = 0.0, 57_600.0
    a.accounts[0].venue.lose = True  # type: ignore[attr-defined]
    r = await a.cycle()
    a.flush()
    return str(r[0]["positions"][0]["action"]["client_order_id"])


def test_another_hosts_clock_ahead_does_not_expire_an_order_still_travelling(tmp_path: Path) -> None:
    """B's clock 15 s ahead of A's: B took A's order (sent at t=0, landing at t=8 inside the venue's
    10 s window) as never arrived at t=6 ("21.0 s after sending (limit 20 s)"), sent a second
    order, and both filled; the first was recorded expired with 0 filled."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        b = _guardian(s, Venue(ex, skew_s=15.0), "B", lambda: ex.ns(15.0))
        first = await _send_lost_order(ex, a)
        for t in (1.0, 6.0):  # A is gone; B takes the account over (its clock: A's lease expired)
            ex.t = t
            await b.cycle()
            b.flush()
            assert s.order(first)["status"] == "sent"  # type: ignore[index]
        ex.t = 8.0
        ex.arrive(ex.travelling.pop())
        ex.t = 9.0
        await b.cycle()
        b.flush()
        assert ex.fills == [first]  # one reduction for one decision
        assert (s.order(first)["status"], s.order(first)["filled"]) == ("closed", 0.484375)  # type: ignore[index]
        assert _alerts(s, "venue_change") == []

    asyncio.run(go())


@pytest.mark.parametrize("step_s", [15.0, 60.0, 3_600.0])
def test_a_wall_clock_step_does_not_age_an_order(tmp_path: Path, step_s: float) -> None:
    """One guardian whose wall clock steps forward after sending: the order still travelling was
    taken as never arrived (15 s); then, by the wall bound meant for another process's orders, for
    a step beyond the TTL ("31.0 s after sending", a second order, the position reduced twice).
    The wait of an order this process sent is measured on its monotonic clock alone."""
    ex = Exchange()
    s = _store(tmp_path)
    step = [0.0]

    async def go() -> None:
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns(step[0]))
        a.monotonic = lambda: ex.ns()  # what time.monotonic_ns is to a stepped wall clock
        first = await _send_lost_order(ex, a)
        step[0] = step_s
        a.accounts[0].venue.lose = False  # type: ignore[attr-defined]
        a.accounts[0].venue.skew_s = step_s  # type: ignore[attr-defined]  # its reads stamped by the stepped clock
        for t in (1.0, 6.0):
            ex.t = t
            await a.cycle()
            a.flush()
        assert s.order(first)["status"] == "sent"  # type: ignore[index]
        assert ex.fills == []
        ex.t = 8.0
        ex.arrive(ex.travelling.pop())
        ex.t = 9.0
        await a.cycle()
        a.flush()
        assert ex.fills == [first]

    asyncio.run(go())


def test_an_order_taken_as_never_arrived_that_fills_later_is_one_change_and_alerted(tmp_path: Path) -> None:
    """Its fill is the venue's read (one critical venue_change, the position adopted) and the late
    watch records it on the order (closed with its fill) with a critical late_order alert."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        first = await _send_lost_order(ex, a)
        ex.mark = 60_000.0  # no second order
        ex.t = 25.0  # past 10 s + 10 s: never arrived (a venue whose clock disagrees takes it later)
        await a.cycle()
        a.flush()
        assert (s.order(first)["status"], s.order(first)["filled"]) == ("expired", 0.0)  # type: ignore[index]
        ex.arrive(ex.travelling.pop(0))
        ex.t = 26.0
        await a.cycle()
        a.flush()
        order = s.order(first)
        assert (order["status"], order["filled"]) == ("closed", 0.484375)  # type: ignore[index]
        late = _alerts(s, "late_order")
        assert [a["level"] for a in late] == ["critical"]
        assert first in late[0]["message"]
        changes = _alerts(s, "venue_change")
        assert [(x["level"], x["data"]["before"], x["data"]["after"]) for x in changes] == [
            ("critical", 1.0, 1.0 - 0.484375)
        ]
        real = sum(q for _, q in ex.legs)
        assert abs(s.account("acct")["expected"]["BTCUSDT"] - real) < 1e-12  # type: ignore[index]

    asyncio.run(go())


def test_a_holder_whose_read_outlived_its_lease_neither_alerts_nor_writes(tmp_path: Path) -> None:
    """A's read hung past its lease; B took over and deleveraged.  A raised a critical venue_change
    for B's own fill and overwrote the expected positions B had booked it into."""
    ex = Exchange()
    s = _store(tmp_path)
    gate = asyncio.Event()
    gate.set()

    async def go() -> None:
        clock = lambda: ex.ns()  # noqa: E731
        a = _guardian(s, Venue(ex, gate=gate), "A", clock, cycle_budget_s=0.05)
        b = _guardian(s, Venue(ex), "B", clock, cycle_budget_s=0.05)
        await a.cycle()
        a.flush()
        gate.clear()
        ex.t = 1.0
        await a.cycle()  # A's read hangs
        ex.t, ex.mark = 41.0, 57_600.0  # A's lease expired; B takes over and sells
        await b.cycle()
        b.flush()
        assert ex.fills
        booked = s.account("acct")["expected"]  # type: ignore[index]
        gate.set()
        report = await a._lanes["acct"].task
        a.flush()
        assert report["acct"]["status"] == "lease_held_elsewhere"
        assert _alerts(s, "venue_change") == []
        assert s.account("acct")["expected"] == booked  # type: ignore[index]

    asyncio.run(go())


def test_a_stale_holder_judging_changes_checks_its_lease_and_writes_fenced(tmp_path: Path) -> None:
    """The same, the read ending inside the lease A's clock still counts: the lease row decides."""
    ex = Exchange()
    s = _store(tmp_path)

    async def go() -> None:
        a = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        b = _guardian(s, Venue(ex, skew_s=60.0), "B", lambda: ex.ns(60.0))  # B's clock: A's lease is over
        await a.cycle()
        a.flush()
        ex.mark = 57_600.0
        await b.cycle()
        b.flush()
        assert ex.fills
        booked = s.account("acct")["expected"]  # type: ignore[index]
        ex.t = 1.0
        r = await a.cycle()  # A's clock: its lease still runs
        a.flush()
        assert r[0]["status"] == "lease_held_elsewhere"
        assert _alerts(s, "venue_change") == []
        assert s.account("acct")["expected"] == booked  # type: ignore[index]

    asyncio.run(go())


def test_a_vanished_hedge_leg_is_a_venue_change_and_evaluation_is_alerted_once(tmp_path: Path) -> None:
    """Hedge mode (a long and a short of one symbol): the expected positions kept one entry per
    symbol (the last leg), so a liquidated long leg raised nothing; the evaluation alert repeated
    every cycle."""
    ex = Exchange()
    ex.legs = [("BTCUSDT", 0.5), ("BTCUSDT", -0.2)]
    s = _store(tmp_path)

    async def go() -> None:
        g = _guardian(s, Venue(ex), "A", lambda: ex.ns())
        for t in (0.0, 1.0, 2.0):
            ex.t = t
            r = await g.cycle()
            assert r[0]["status"] == "error"
        g.flush()
        assert len(_alerts(s, "evaluation")) == 1
        assert s.account("acct")["expected"] == {"BTCUSDT long": 0.5, "BTCUSDT short": -0.2}  # type: ignore[index]
        ex.legs = [("BTCUSDT", -0.2)]  # the long leg is liquidated
        ex.t = 3.0
        await g.cycle()
        g.flush()
        changes = _alerts(s, "venue_change")
        assert [(a["level"], a["data"]["symbol"], a["data"]["before"], a["data"]["after"]) for a in changes] == [
            ("critical", "BTCUSDT", 0.5, 0.0)
        ]
        assert s.account("acct")["expected"] == {"BTCUSDT": -0.2}  # one leg left: kept by the symbol again

    asyncio.run(go())
