"""The service runtime: the event bus, JSON cleaning, metrics, and the paper demo's shock."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

from prometheus_client import generate_latest

from levguard.service.auth import digest, ensure_admin_token, new_token
from levguard.service.runtime import EventBus, clean, paper_demo_runtime


def test_event_bus_fans_out_and_drops_the_oldest_for_slow_subscribers() -> None:
    async def go() -> tuple[list[int], list[int]]:
        bus = EventBus(maxsize=3)
        bus.bind(asyncio.get_running_loop())
        fast, slow = bus.subscribe(), bus.subscribe()
        seen = []
        for i in range(5):
            bus.publish("cycle", i)
            seen.append((await fast.get())["data"])
        bus.unsubscribe(fast)
        bus.publish("alert", 99)
        kept = []
        while not slow.empty():
            kept.append(slow.get_nowait()["data"])
        return seen, kept

    seen, kept = asyncio.run(go())
    assert seen == [0, 1, 2, 3, 4]
    assert kept == [3, 4, 99]  # bounded: the slow client lost the oldest events


def test_clean_makes_reports_json_safe() -> None:
    import numpy as np

    out = clean({"a": math.nan, "b": (1, math.inf), "c": np.float64(2.5), "d": {"e": object}})
    assert out["a"] is None
    assert out["b"] == [1, None]
    assert out["c"] == 2.5
    assert isinstance(out["d"]["e"], str)


def test_tokens_are_shown_once_and_stored_as_digests() -> None:
    rt = paper_demo_runtime("sqlite://")
    first = ensure_admin_token(rt.store)
    assert first is not None
    assert first.startswith("lg_")
    assert ensure_admin_token(rt.store) is None  # only on first start
    viewer = new_token(rt.store, "viewer", "read")
    assert rt.store.token_by_hash(digest(viewer))["scope"] == "read"
    assert all(first not in str(t) for t in rt.store.tokens())


def test_a_shock_moves_the_demo_account_to_act_and_the_guardian_deleverages() -> None:
    rt = paper_demo_runtime("sqlite://", interval_s=0.0)

    async def go() -> list[str]:
        rt.bus.bind(asyncio.get_running_loop())
        q = rt.bus.subscribe()
        await rt.guardian.reconcile()
        states = []
        for i in range(15):
            if i == 2:
                rt.venue("paper-btc").shock("BTCUSDT", 0.2, 5)
            reports = await rt.run_cycle()
            states.append(reports[0]["state"])
        # Alert sinks deliver from their own threads: the bus sink hands its events to this loop.
        await asyncio.to_thread(rt.guardian.alerter.flush)
        await asyncio.sleep(0.01)
        kinds = []
        while not q.empty():
            kinds.append(q.get_nowait()["kind"])
        assert "alert" in kinds
        assert "cycle" in kinds
        return states

    states = asyncio.run(go())
    rt.guardian.close()
    assert states[0] == "OK"
    assert "ACT" in states
    assert rt.store.orders(account="paper-btc")
    text = generate_latest(rt.metrics.registry).decode()
    assert "levguard_cycle_seconds_count 15.0" in text
    assert 'levguard_actions_total{kind="order"}' in text


def test_a_busy_account_is_not_counted_fresh(tmp_path: Path) -> None:
    """A venue that hangs after its first cycle: the account's report is its last one, marked
    busy, and the data_age gauge (docs/service.md: alert on it for a stalled venue) keeps growing."""
    from fakes.frozen_venue import FrozenVenue
    from levguard.live.alerts import Alerter
    from levguard.live.guardian import AccountSetup, Guardian
    from levguard.live.passes import drain
    from levguard.live.store import Store
    from levguard.service.runtime import Runtime

    pos = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 60_000.0}
    v = FrozenVenue("binance-usdm", [pos], 50_000.0, time.time_ns)
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("a", "binance-usdm", live_enabled=True)
    g = Guardian([AccountSetup("a", v, live=True, venue_bars=False, vol=None)], s, live=True, alerter=Alerter([]),
                 cycle_budget_s=0.05)  # fmt: skip
    rt = Runtime(g)

    async def go() -> list[float]:
        ages = []
        assert (await rt.run_cycle())[0]["status"] == "ok"
        v.hang = True
        for _ in range(2):
            await asyncio.sleep(0.2)
            (r,) = await rt.run_cycle()
            assert (r["status"], r["busy"]) == ("ok", True)
            ages.append(rt.metrics.data_age.labels(account="a")._value.get())
        await drain(g)
        return ages

    ages = asyncio.run(go())
    assert 0.15 < ages[0] < ages[1]
