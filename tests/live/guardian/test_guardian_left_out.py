"""Positions the venue's wallet does not margin (a ccxt venue's ``left_out``: a Deribit
BTC-PERPETUAL beside the USDC perpetuals, a Binance USDⓈ-M ``BTC/USDC:USDC`` beside the USDT
wallet) are left out of the evaluation, never silently: a critical ``left_out`` alert naming them
and the fix, repeated per ``alert_repeat_s`` while they stay, and a ``partial`` cycle status naming
them; a stored expected position now left out raises no ``venue_change``, and a left-out
position's level is not kept (every evaluation failed before: "positions settle in BTC, USDC").
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from guardian_helpers import guardian, store, venue

from levguard.live.guardian import Guardian
from levguard.live.states import Level
from levguard.live.store import Store
from levguard.venues.base import VenuePosition
from levguard.venues.paper import PaperVenue

USDC = [{"symbol": "BTCUSDT", "settle": "USDC"}]


def _leaving(v: PaperVenue, leave: dict[str, bool]) -> None:
    # As CcxtVenue.fetch_positions with a USDT wallet: while ``leave["on"]``, the paper venue's
    # positions are read as settled in USDC, left out and named (none evaluated).
    read = v.fetch_positions

    async def fetch_positions() -> list[VenuePosition]:
        ps = await read()
        v.left_out = {p.symbol: "USDC" for p in ps} if leave["on"] else {}  # type: ignore[attr-defined]
        return [] if leave["on"] else ps

    v.fetch_positions = fetch_positions  # type: ignore[method-assign]
    v.settle = "USDT"  # type: ignore[attr-defined]


def _cycles(g: Guardian, n: int) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(n):
            out.extend(await g.cycle())
        return out

    return asyncio.run(go())


def _kinds(s: Store, kind: str) -> list[dict[str, Any]]:
    return [a for a in reversed(s.alerts(account="paper", limit=200)) if a["kind"] == kind]  # oldest first


def _expected(s: Store) -> Any:
    row = s.account("paper")
    assert row is not None
    return row["expected"]


def test_positions_of_another_wallet_are_critical_and_the_cycle_partial(tmp_path: Path) -> None:
    v = venue()
    others: dict[str, str] = {"BTC/USD:BTC": "BTC"}
    read = v.fetch_positions

    async def fetch_positions() -> list[VenuePosition]:
        # As CcxtVenue.fetch_positions: the other wallet's positions left out and named.
        v.left_out = dict(others)  # type: ignore[attr-defined]
        return await read()

    v.fetch_positions = fetch_positions  # type: ignore[method-assign]
    v.settle = "USDC"  # type: ignore[attr-defined]
    s = store(tmp_path)
    g = guardian(v, s)
    asyncio.run(g.reconcile())
    first = _cycles(g, 3)
    others.clear()
    between = _cycles(g, 1)
    others["BTC/USD:BTC"] = "BTC"
    again = _cycles(g, 1)
    g.flush()
    assert [r["status"] for r in first + between + again] == ["partial"] * 3 + ["ok", "partial"]
    # The position the wallet margins is evaluated as before; the other one is named.
    assert [p["symbol"] for p in first[0]["positions"]] == ["BTCUSDT"]
    assert first[0]["state"] == "DANGER"
    assert first[0]["left_out"] == [{"symbol": "BTC/USD:BTC", "settle": "BTC"}]
    assert "BTC/USD:BTC (BTC)" in first[0]["reason"]
    assert "left_out" not in between[0]
    alerts = _kinds(s, "left_out")
    assert len(alerts) == 2  # once for the three cycles (alert_repeat_s), once more after the set was empty
    assert {a["level"] for a in alerts} == {"critical"}
    assert "outside the USDC wallet are not evaluated or protected (1 cycle): BTC/USD:BTC (BTC)" in alerts[0]["message"]
    assert "venue.settle" in alerts[0]["message"]  # how to fix it
    snaps = s.snapshots("paper", limit=10)
    assert [x["figures"].get("left_out") for x in snaps] == [["BTC/USD:BTC"]] * 3 + [None, ["BTC/USD:BTC"]]


def test_a_left_out_set_is_alerted_again_every_alert_repeat_s_while_it_stays(tmp_path: Path) -> None:
    v = venue()
    _leaving(v, {"on": True})
    s = store(tmp_path)
    g = guardian(v, s)
    asyncio.run(g.reconcile())
    for _ in range(8):  # the paper venue's ticks are one minute: 8 minutes
        _cycles(g, 1)
        asyncio.run(v.step())
    g.flush()
    alerts = _kinds(s, "left_out")
    # alert_repeat_s is 300 s: at the first cycle and once the five minutes passed, with the count.
    assert [a["data"]["cycles"] for a in alerts] == [1, 6]
    assert [a["level"] for a in alerts] == ["critical", "critical"]
    assert "(4 similar alerts suppressed)" in alerts[1]["message"]


def test_the_only_position_left_out_is_not_an_ok_account(tmp_path: Path) -> None:
    # Binance USDⓈ-M, default settle USDT, one cross BTC/USDC:USDC long: evaluated before the
    # settlement check, then left out with the account "ok", level 0 and a warning only.
    v = venue()
    leave = {"on": False}
    _leaving(v, leave)
    s = store(tmp_path)
    g = guardian(v, s)
    asyncio.run(g.reconcile())
    before = _cycles(g, 1)
    assert before[0]["status"] == "ok"
    assert g.last_specs["paper"]["positions"]
    leave["on"] = True
    (report,) = _cycles(g, 1)
    g.flush()
    assert report["status"] == "partial"
    assert report["positions"] == []
    assert report["left_out"] == USDC
    assert "state" not in report  # nothing evaluated: no state, not OK
    assert "paper" not in g.last_specs  # /positions and /risk no longer serve the old spec
    (alert,) = _kinds(s, "left_out")
    assert alert["level"] == "critical"
    assert s.snapshots("paper", limit=1)[0]["figures"]["left_out"] == ["BTCUSDT"]


def test_all_positions_closed_leave_no_spec_behind(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    g = guardian(v, s)
    asyncio.run(g.reconcile())
    _cycles(g, 1)
    assert g.last_specs["paper"]["positions"]

    async def closed() -> list[VenuePosition]:
        return []

    v.fetch_positions = closed  # type: ignore[method-assign]
    (report,) = _cycles(g, 1)
    g.flush()
    assert report == {"account": "paper", "status": "ok", "level": 0, "positions": []}
    assert "paper" not in g.last_specs


def test_a_stored_expected_position_now_left_out_is_no_venue_change_after_a_restart(tmp_path: Path) -> None:
    v = venue()
    s = store(tmp_path)
    g1 = guardian(v, s)
    asyncio.run(g1.reconcile())
    _cycles(g1, 2)
    g1.close()
    assert _expected(s) == {"BTCUSDT": 2.0}
    # The upgrade: the same venue now leaves the position out (another settlement than `settle`).
    _leaving(v, {"on": True})
    s2 = store(tmp_path)
    g2 = guardian(v, s2)
    asyncio.run(g2.reconcile())
    (report,) = _cycles(g2, 1)
    g2.flush()
    assert _kinds(s2, "venue_change") == []  # was: critical "from 2 to 0 (liquidation, ADL or a manual trade)"
    assert report["status"] == "partial"
    assert [a["level"] for a in _kinds(s2, "left_out")] == ["critical"]
    assert _expected(s2) == {"BTCUSDT": 2.0}  # kept, quietly


def test_left_out_then_evaluated_again_is_no_venue_change_and_its_level_is_not_kept(tmp_path: Path) -> None:
    v = venue()
    leave = {"on": False}
    _leaving(v, leave)
    s = store(tmp_path)
    g = guardian(v, s)
    asyncio.run(g.reconcile())
    _cycles(g, 2)
    ps = g._state["paper"].positions["BTCUSDT"]
    levels = [ps.level]
    leave["on"] = True
    _cycles(g, 2)
    g.flush()
    assert _kinds(s, "venue_change") == []  # was: critical "from 2 to 0"
    levels.append(ps.level)
    assert levels == [Level.DANGER, Level.OK]  # not evaluated: its DANGER is not kept (it would hold by hysteresis)
    leave["on"] = False
    (back,) = _cycles(g, 1)
    g.flush()
    assert back["status"] == "ok"
    assert back["positions"][0]["state"] == "DANGER"
    assert _kinds(s, "venue_change") == []  # neither 2 -> 0 nor 0 -> 2
    # Evaluated again at DANGER: alerted again (it was unguarded in between).
    assert [a["message"].split(" (")[0] for a in _kinds(s, "state")] == ["BTCUSDT: OK -> DANGER"] * 2
