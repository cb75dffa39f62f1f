"""The chaos checker on hand-made histories (each violation is found, a clean history has none),
and the remote paper venue's client and server in one event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from chaos_harness import VIOLATIONS, check_episode

from fakes.paper_remote import PaperServer, RemotePaperVenue
from levguard.errors import VenuePermanentError, VenueRetryableError
from levguard.live.guardian import client_order_id
from levguard.venues.base import OrderRequest, Venue

ACCOUNT = "acc"
S = 1_000_000_000


def cid(seq: int) -> str:
    return client_order_id(ACCOUNT, "BTCUSDT", seq)


def request(seq: int, t: float, sent_ns: int = 0) -> dict[str, Any]:
    return {"event": "request", "cid": cid(seq), "received_ns": int(t * S), "sent_ns": sent_ns}


def arrival(seq: int, t: float, before: float, after: float, lev: float, status: str = "filled") -> dict[str, Any]:
    filled = before - after if status == "filled" else 0.0
    return {
        "event": "arrival",
        "cid": cid(seq),
        "wall_ns": int(t * S),
        "status": status,
        "filled": filled,
        "position_before": before,
        "position_after": after,
        "leverage_after": lev,
    }


def order(seq: int, t: float, status: str = "closed", filled: float = 0.5) -> dict[str, Any]:
    return {"client_order_id": cid(seq), "intent_ns": int(t * S), "status": status, "filled": filled}


def audit(seq: int, qty: float) -> dict[str, Any]:
    return {"event": "deleverage", "inputs": {"qty": qty}, "decision": {"client_order_id": cid(seq)}}


def clean() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    # Two steps, the second decided after the first filled and was seen.
    events = [request(0, 1.0), arrival(0, 2.5, 2.0, 1.5, 8.0), request(1, 3.0), arrival(1, 3.5, 1.5, 1.0, 5.0)]
    orders = [order(0, 0.9), order(1, 2.9)]
    audits = [audit(0, 2.0), audit(1, 1.5)]
    return events, orders, audits


def check(
    events: list[Any], orders: list[Any], audits: list[Any], counts: tuple[int, ...] = (10, 12)
) -> dict[str, int]:
    found, details = check_episode(
        events, orders, audits, list(counts), account=ACCOUNT, target_leverage=3.0, client_timeout_s=1.0
    )
    assert len(details) >= sum(found.violations().values())
    return found.violations()


def only(name: str, n: int = 1) -> dict[str, int]:
    return {k: (n if k == name else 0) for k in VIOLATIONS}


def test_a_clean_history_has_no_violation() -> None:
    events, orders, audits = clean()
    assert check(events, orders, audits) == dict.fromkeys(VIOLATIONS, 0)
    found, _ = check_episode(events, orders, audits, [1, 2], account=ACCOUNT, target_leverage=3.0, client_timeout_s=1.0)
    assert (found.requests, found.fills, found.late_fills) == (2, 2, 1)


def test_an_order_sent_while_an_earlier_one_was_in_flight_is_stacked() -> None:
    events, orders, audits = clean()
    events[2] = request(1, 2.0)  # sent before order 0 landed at 2.5 s, decided on the old position
    orders[1] = order(1, 1.9)
    audits[1] = audit(1, 2.0)
    assert check(events, orders, audits) == only("stacked_reductions")


def test_a_fill_below_the_target_leverage_or_a_flip_is_an_over_reduction() -> None:
    events, orders, audits = clean()
    events[3] = arrival(1, 3.5, 1.5, 0.2, 0.9)
    orders[1] = order(1, 2.9, filled=1.3)
    assert check(events, orders, audits) == only("over_reductions")


def test_one_decision_filled_twice_is_a_duplicate() -> None:
    events, orders, audits = clean()
    events.append(arrival(1, 3.6, 1.0, 0.5, 3.5))  # the venue filled the same client id again
    found = check(events, orders, audits)
    assert found["duplicate_fills"] == 1
    assert found["stacked_reductions"] == 1  # the second fill was on a position nobody looked at


def test_an_order_at_the_venue_without_an_earlier_intent_breaks_the_write_ahead() -> None:
    events, orders, audits = clean()
    orders[1] = order(1, 3.1)  # recorded after it reached the venue
    assert check(events, orders, audits) == only("orders_without_write_ahead")
    assert check(events, orders[:1], audits) == only("orders_without_write_ahead")
    events[2] = request(1, 3.0, sent_ns=int(2.8 * S))  # a send time before the intent
    assert check(events, [orders[0], order(1, 2.9)], audits) == only("orders_without_write_ahead")


def test_lost_or_shrinking_audit_rows_are_counted() -> None:
    events, orders, audits = clean()
    assert check(events, orders, audits[:1]) == only("lost_audit_rows")
    assert check(events, orders, audits, counts=(10, 9, 12)) == only("lost_audit_rows")


def test_a_venue_fill_the_store_calls_expired_is_counted() -> None:
    events, orders, audits = clean()
    orders[0] = order(0, 0.9, status="expired", filled=0.0)
    assert check(events, orders, audits) == only("fills_recorded_unfilled")


def test_the_remote_paper_venue_round_trip(tmp_path: Path) -> None:
    async def go() -> None:
        server = PaperServer(tmp_path / "log.jsonl")
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        stepper = asyncio.create_task(server.step_forever())
        try:
            with pytest.raises(VenueRetryableError):
                await RemotePaperVenue.connect(port, attempts=1)  # no scenario yet
            server.reset({"order_expiry_s": 5.0, "latency_lo": 0.3, "latency_hi": 0.3, "qty": 2.0})
            before = server.state()["mark"]
            drop = (await server.dispatch("shock", {"to_leverage": 12.0}))["drop"]
            # The drop lands on the venue's next tick (the stepper, 10 ms): wait for it, so that
            # the position and the marks below are read at one price.
            for _ in range(500):
                if server.state()["mark"] == pytest.approx(before * (1.0 - drop), rel=1e-9):
                    break
                await asyncio.sleep(0.01)
            assert server.state()["mark"] == pytest.approx(before * (1.0 - drop), rel=1e-9)
            venue = await RemotePaperVenue.connect(port, timeout_s=0.1)
            assert isinstance(venue, Venue)
            assert (venue.name, venue.capabilities.order_expiry_s) == ("binance-usdm", 5.0)
            (pos,) = await venue.fetch_positions()
            assert pos.qty == 2.0
            assert (await venue.fetch_balance()).wallet_balance == 12_000.0
            assert (await venue.fetch_marks(["BTCUSDT"]))["BTCUSDT"] == pytest.approx(pos.mark_price)
            tiers = await venue.fetch_tiers("BTCUSDT")
            assert tiers is not None
            assert len(tiers) > 1
            assert await venue.fetch_funding_rate("BTCUSDT") == 0.0
            with pytest.raises(VenuePermanentError):
                await venue.fetch_marks(["DOGEUSDT"])
            # 0.3 s of latency, a 0.1 s client timeout: the order lands after the caller gave up.
            with pytest.raises(VenueRetryableError, match="timed out"):
                await venue.create_order(OrderRequest("BTCUSDT", "sell", 0.5, "c1"))
            assert await venue.fetch_order("BTCUSDT", "c1") is None
            await asyncio.sleep(0.4)
            state = await venue.fetch_order("BTCUSDT", "c1")
            assert state is not None
            assert (state.status, state.filled) == ("closed", 0.5)
            assert server.state()["position"] == 1.5
            await venue.close()
        finally:
            server.stop.set()
            stepper.cancel()
            listener.close()
            server.close()

    asyncio.run(go())
    rows = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [r.split('"event": "')[1].split('"')[0] for r in rows] == ["reset", "shock", "request", "arrival"]
