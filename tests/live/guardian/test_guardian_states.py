"""The per-position state machine: thresholds, immediate escalation, hysteresis on the way down."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes.frozen_venue import FrozenVenue
from levguard.errors import InputError
from levguard.live.alerts import Alerter
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Level, Thresholds, next_level
from levguard.live.store import Store

T = Thresholds(margin_ratio=(0.5, 0.7, 0.85), distance=(0.15, 0.08, 0.04), p_liq=(0.05, 0.2, 0.5), hysteresis=0.1)
SAFE = (0.1, 0.5, 0.0)


@pytest.mark.parametrize(
    ("figures", "level"),
    [
        (SAFE, Level.OK),
        ((0.55, 0.5, 0.0), Level.WARN),
        ((0.1, 0.07, 0.0), Level.DANGER),
        ((0.1, 0.5, 0.6), Level.ACT),
        ((0.9, 0.5, 0.0), Level.ACT),
        ((math.nan, math.inf, math.nan), Level.OK),  # no liquidation price: safe
    ],
)
def test_each_figure_can_escalate(figures: tuple[float, float, float], level: Level) -> None:
    assert next_level(Level.OK, T, *figures) == level


def test_escalation_is_immediate_and_skips_levels() -> None:
    assert next_level(Level.OK, T, 0.9, 0.5, 0.0) == Level.ACT


def test_hysteresis_holds_a_level_until_the_figures_clear_it() -> None:
    # WARN starts at a margin ratio of 0.5; leaving it needs < 0.45.
    assert next_level(Level.WARN, T, 0.48, 0.5, 0.0) == Level.WARN
    assert next_level(Level.WARN, T, 0.44, 0.5, 0.0) == Level.OK
    # DANGER at distance 0.08; leaving it needs > 0.088, then WARN holds until > 0.165.
    assert next_level(Level.DANGER, T, 0.1, 0.085, 0.0) == Level.DANGER
    assert next_level(Level.DANGER, T, 0.1, 0.10, 0.0) == Level.WARN
    assert next_level(Level.DANGER, T, 0.1, 0.17, 0.0) == Level.OK


@given(
    st.floats(0.0, 2.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.sampled_from(list(Level)),
)
def test_never_below_the_entered_level_and_never_flaps(mr: float, dist: float, p: float, current: Level) -> None:
    entered = T.level_of(mr, dist, p)
    nxt = next_level(current, T, mr, dist, p)
    assert nxt >= entered
    # With the same figures the state is a fixed point: no flapping.
    assert next_level(nxt, T, mr, dist, p) == nxt


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"margin_ratio": (0.8, 0.7, 0.9)}, "margin_ratio must be increasing"),
        ({"distance": (0.05, 0.08, 0.04)}, "distance must be decreasing"),
        ({"p_liq": (0.1, 0.2)}, "p_liq must be three"),
        ({"hysteresis": 1.5}, "hysteresis"),
    ],
)
def test_bad_thresholds(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        Thresholds(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("figures", "level"),
    [
        ((math.inf, math.inf, math.nan), Level.ACT),  # margin balance <= 0: past liquidation
        ((0.1, -0.05, math.nan), Level.ACT),  # the mark went through the liquidation price
        ((math.nan, math.nan, math.nan), Level.OK),  # nothing known crosses nothing
    ],
)
def test_an_infinite_ratio_or_a_negative_distance_crosses_every_level(
    figures: tuple[float, float, float], level: Level
) -> None:
    assert T.level_of(*figures) == level
    assert next_level(Level.ACT, T, *figures) == level


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"retries": -1}, "retries must be an integer >= 0, was -1"),
        ({"retries": 1.5}, "retries must be an integer >= 0, was 1.5"),
        ({"retries": True}, "retries must be an integer >= 0, was True"),
        ({"backoff_s": -0.5}, "backoff_s must be a finite number >= 0, was -0.5"),
        ({"backoff_s": math.nan}, "backoff_s must be a finite number >= 0, was nan"),
        ({"backoff_s": math.inf}, "backoff_s must be a finite number >= 0, was inf"),
    ],
)
def test_bad_retries_or_backoff_are_refused_at_construction(kwargs: dict[str, object], match: str) -> None:
    """retries=-1 was accepted and every venue call then ended in ``AssertionError: unreachable``."""
    v = FrozenVenue("binance-usdm", [], 1_000.0, lambda: 0)
    with pytest.raises(InputError, match=f"a: {match}"):
        AccountSetup("a", v, venue_bars=False, **kwargs)  # type: ignore[arg-type]
    AccountSetup("a", v, venue_bars=False, retries=0, backoff_s=0)  # no retry, no wait: valid


@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_a_mark_through_the_liquidation_price_stays_in_act_and_keeps_deleveraging(tmp_path: Path, mode: str) -> None:
    """A long at 60,000 on 3,000 of margin: levguard's liquidation price is about 57,236. A mark
    that gaps through it (or a venue whose own price is further) must not read as safer the
    deeper it goes: the distance is signed and a margin balance at or below 0 is a ratio of inf."""
    now = [1_700_000_000 * 10**9]
    pos = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 60_000.0, "margin_mode": mode}
    if mode == "isolated":
        pos["isolated_margin"] = 3_000.0
    v = FrozenVenue("binance-usdm", [pos], 3_000.0, lambda: now[0])
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("a", "binance-usdm", live_enabled=True)
    g = Guardian([AccountSetup("a", v, live=True, venue_bars=False, vol=None, cooldown_s=0.0)], s, live=True,
                 clock=lambda: now[0], alerter=Alerter([]))  # fmt: skip
    seen = []
    for mark in (57_300.0, 56_500.0, 54_000.0, 50_000.0):
        v.move("BTCUSDT", mark)
        now[0] += 10**9
        (view,) = asyncio.run(g.cycle())[0]["positions"]
        seen.append((view["state"], view["distance"] < 0, view["action"] is not None))
    g.flush()
    assert seen[0] == ("ACT", False, True)
    assert seen[1:] == [("ACT", True, True)] * 3
    assert len(v.orders) == 4
    assert all(o.side == "sell" and o.reduce_only for o in v.orders)


def test_a_mark_the_venue_dates_too_old_makes_the_cycle_stale(tmp_path: Path) -> None:
    """A venue that dates its marks (ccxt: the venue's own time, ``CcxtVenue.mark_times``): a mark
    older than ``max_age_s`` is stale input, however fresh the read; no order is sent."""
    now = [1_700_000_000 * 10**9]
    pos = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 57_300.0}
    v = FrozenVenue("binance-usdm", [pos], 3_000.0, lambda: now[0])
    v.mark_times = {"BTCUSDT": now[0] - 30 * 10**9}  # type: ignore[attr-defined]
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("a", "binance-usdm", live_enabled=True)
    setup = AccountSetup("a", v, live=True, venue_bars=False, vol=None, cooldown_s=0.0, max_age_s=10.0)
    g = Guardian([setup], s, live=True, clock=lambda: now[0], alerter=Alerter([]))
    (report,) = asyncio.run(g.cycle())
    assert report["status"] == "stale"
    assert "30.0 s old" in report["reason"]
    assert v.orders == []  # at ACT, but nothing is sent on a stale mark
    v.mark_times = {"BTCUSDT": now[0]}  # type: ignore[attr-defined]
    (report,) = asyncio.run(g.cycle())
    g.flush()
    assert report["status"] == "ok"
    assert len(v.orders) == 1


def test_a_dry_run_alerts_a_change_since_a_stopped_live_guardian_once(tmp_path: Path) -> None:
    """The store keeps the positions a live guardian expected before it stopped (qty 1); the
    position was changed by hand since (qty 2). A dry run takes the store's view when it moves,
    not every cycle: one venue_change alert, not one a cycle."""
    now = [1_700_000_000 * 10**9]
    pos = {"symbol": "BTCUSDT", "qty": 2.0, "entry_price": 60_000.0, "mark_price": 60_000.0}
    v = FrozenVenue("binance-usdm", [pos], 50_000.0, lambda: now[0])
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("a", "binance-usdm", live_enabled=True)
    s.set_expected("a", {"BTCUSDT": 1.0}, now[0] - 86_400 * 10**9)
    g = Guardian([AccountSetup("a", v, live=True, venue_bars=False, vol=None)], s, live=False, clock=lambda: now[0],
                 alerter=Alerter([]))  # fmt: skip

    async def go() -> None:
        for _ in range(5):
            await g.cycle()
            now[0] += 5 * 10**9
        g.flush()

    asyncio.run(go())
    assert len([a for a in s.alerts(account="a", limit=100) if a["kind"] == "venue_change"]) == 1


def test_a_venue_without_reduce_only_orders_is_never_sent_a_plain_order(tmp_path: Path) -> None:
    """A venue whose capabilities say it cannot send reduce-only orders (ccxt without
    ``createReduceOnlyOrder``): at ACT the guardian sends nothing, audits why and alerts once per
    symbol, as a plain market order sized on a stale position could open the opposite side."""
    now = [1_700_000_000 * 10**9]
    pos = {"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60_000.0, "mark_price": 57_300.0}
    v = FrozenVenue("binance-usdm", [pos], 3_000.0, lambda: now[0])
    v.capabilities = dataclasses.replace(v.capabilities, reduce_only=False)
    s = Store(f"sqlite:///{tmp_path / 'g.db'}")
    s.upsert_account("a", "binance-usdm", live_enabled=True)
    g = Guardian([AccountSetup("a", v, live=True, venue_bars=False, vol=None, cooldown_s=0.0)], s, live=True,
                 clock=lambda: now[0], alerter=Alerter([]))  # fmt: skip
    for _ in range(3):
        (view,) = asyncio.run(g.cycle())[0]["positions"]
        now[0] += 10**9
        assert view["state"] == "ACT"
        assert view["action"]["skipped"] == "no_reduce_only"
    g.flush()
    assert v.orders == []
    alerts = [a for a in s.alerts(account="a", limit=100) if "reduce-only" in a["message"]]
    assert len(alerts) == 1
    assert alerts[0]["level"] == "critical"
