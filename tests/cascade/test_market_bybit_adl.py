"""Bybit's drawdown trigger of ADL in the market simulator (v2).

Bybit, "Get ADL Alert" (bybit-exchange.github.io/docs/v5/market/adl-alert): ADL triggers when
the pool's balance exceeds ``adlTriggerThreshold`` and the 8-hour drawdown ratio falls below
``insurancePnlRatio`` (-0.3), and stops once the ratio is above ``adlStopRatio`` (-0.25).  A
hand-built market on a flat book: three bankrupt longs, gapped one after the other, draw 2,800,
500 and 100 on a 10,000 fund.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.market import MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.core.rules.adl import bybit_adl_check
from levguard.errors import InputError
from levguard.kernels import cascade_v2_records as r2
from levguard.kernels.cascade_v2_vault import adl_floor, fund_peak

FLAT = Market(depth=1e9, impact="sqrt", impact_coef=0.0)
EXO = np.array([60_000.0, 60_000.0, 59_000.0, 59_000.0, 58_000.0, 58_000.0, 57_000.0, 57_000.0])[:, None]


def _market(**venue: Any) -> tuple[MarketPopulation, MarketSpec]:
    # B1 (10 @ 60,000, wallet 7,200) is at -2,800 at 59,000; B2 (10 @ 59,000, 9,500) at -500 at
    # 58,000; B3 (10 @ 58,000, 9,900) at -100 at 57,000; C a large profitable short.
    qty = np.array([[10.0], [10.0], [10.0], [-40.0]])
    entry = np.array([[60_000.0], [59_000.0], [58_000.0], [61_000.0]])
    wallet = np.array([7_200.0, 9_500.0, 9_900.0, 1_000_000.0])
    pop = MarketPopulation(np.zeros(4, dtype=np.int64), wallet, qty, entry)
    regime = MarginRegime(mmr=0.01, liquidation_fee=0.0, outcome="book")
    vs = VenueSettings(insurance_fund=10_000.0, **venue)
    return pop, MarketSpec(["BTC"], [MarketVenue("bybit", FLAT, regime, None, vs, "bybit-linear")])


BYBIT = {"adl_drawdown": 0.3, "adl_drawdown_stop": 0.25, "adl_drawdown_min_fund": 1.0}


def _adl_accounts(res: Any) -> list[int]:
    ev = res.events
    return sorted(ev.loc[ev["kind"] == "adl_liquidated", "account"].unique().tolist())


def _balanced(res: Any) -> None:
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]


def test_without_the_rule_the_fund_pays_every_loss() -> None:
    pop, spec = _market()
    res = simulate_market(pop, EXO, spec)
    assert _adl_accounts(res) == []
    assert res.venues.loc[0, "fund_end"] == pytest.approx(10_000.0 - 2_800.0 - 500.0 - 100.0, abs=1e-6)
    assert res.venues.loc[0, "adl_trigger_steps"] == 0
    _balanced(res)


def test_the_drawdown_beyond_30_percent_triggers_adl_and_it_runs_until_back_within_25() -> None:
    pop, spec = _market(**BYBIT)
    res = simulate_market(pop, EXO, spec)
    # B1 takes the fund to 7,200 (-28 %: no ADL); B2 would take it to 6,700 (-33 %): ADL; the
    # fund stays at 7,200 (-28 %, not back within -25 %), so B3's 100 goes to ADL as well.
    assert _adl_accounts(res) == [1, 2]
    victims = res.events[res.events["kind"] == "adl_victim"]
    assert set(victims["account"]) == {3}
    np.testing.assert_allclose(sorted(set(victims["price"])), [57_010.0, 58_050.0])  # bankruptcy prices
    assert res.venues.loc[0, "fund_end"] == pytest.approx(7_200.0, abs=1e-6)
    v = res.out.vault
    np.testing.assert_array_equal(v.adl_on[0], [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(v.peak[0], 10_000.0)
    _balanced(res)


def test_with_the_stop_at_the_trigger_adl_ends_as_soon_as_the_drawdown_is_within_it() -> None:
    pop, spec = _market(**{**BYBIT, "adl_drawdown_stop": 0.3})
    res = simulate_market(pop, EXO, spec)
    assert _adl_accounts(res) == [1]
    assert res.venues.loc[0, "fund_end"] == pytest.approx(7_100.0, abs=1e-6)
    _balanced(res)


def test_the_rule_sleeps_while_the_fund_is_at_or_below_the_trigger_threshold() -> None:
    pop, spec = _market(**{**BYBIT, "adl_drawdown_min_fund": 8_000.0})
    res = simulate_market(pop, EXO, spec)
    assert _adl_accounts(res) == []  # 7,200 <= 8,000: only the balance rule (fund below 0) applies
    _balanced(res)


def test_the_peak_rolls_out_of_the_window() -> None:
    # A window of 1 step: at step 4 the peak is the fund at the end of step 3 (7,200), so B2's
    # 500 is a drawdown of 7 %: the fund pays.
    pop, spec = _market(**{**BYBIT, "adl_drawdown_window_steps": 1})
    res = simulate_market(pop, EXO, spec)
    assert _adl_accounts(res) == []
    np.testing.assert_allclose(res.out.vault.peak[0, 4], 7_200.0)
    _balanced(res)


def test_the_rule_needs_adl_on() -> None:
    pop, spec = _market(adl=False, **BYBIT)
    res = simulate_market(pop, EXO, spec)
    assert _adl_accounts(res) == []
    assert res.venues.loc[0, "fund_end"] == pytest.approx(6_600.0, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"adl_drawdown": 1.0}, "adl_drawdown"),
        ({"adl_drawdown": -0.1}, "adl_drawdown"),
        ({"adl_drawdown": 0.2, "adl_drawdown_stop": 0.25}, "adl_drawdown_stop"),
        ({"adl_drawdown_window_steps": 0}, "adl_drawdown_window_steps"),
        ({"adl_drawdown_min_fund": -1.0}, "adl_drawdown_min_fund"),
    ],
)
def test_bad_drawdown_settings_are_named(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError, match=field):
        VenueSettings(**kwargs)


def _record(ratio: float, stop: float, min_fund: float) -> Any:
    rec = np.zeros(1, dtype=r2.VENUE_DTYPE)[0]
    rec["dd_ratio"], rec["dd_stop"], rec["dd_min_fund"] = ratio, stop, min_fund
    return rec


@given(
    fund=hs.floats(0.0, 2e6, allow_nan=False),
    draw=hs.floats(0.0, 2e6, allow_nan=False),
    peak=hs.floats(1.0, 2e6, allow_nan=False),
    threshold=hs.floats(0.0, 1e6, allow_nan=False),
)
def test_the_floor_is_bybits_trigger(fund: float, draw: float, peak: float, threshold: float) -> None:
    # Off: a close taking the fund from `fund` to `fund - draw` goes to ADL exactly when core's
    # bybit_adl_check of the balance after it triggers (a drawdown case, or the balance below 0),
    # away from the boundaries (the kernel's comparisons are strict).
    peak = max(peak, fund)
    floor, on = adl_floor(_record(0.3, 0.25, threshold), fund, peak, False)
    assert not on
    after = fund - draw
    routed = after < floor
    ratio = (after - peak) / peak
    if abs(after) < 1e-9 * peak or abs(ratio + 0.3) < 1e-9 or abs(fund - threshold) < 1e-9 * peak:
        return
    # core tests the balance the pool would have; the kernel tests at the fund it has before the
    # close (the rule applies while that exceeds the threshold) and with the balance rule < 0
    check = bybit_adl_check(after, min(ratio, 0.0), peak, trigger_threshold=threshold)
    if fund > threshold and after > threshold:
        assert routed == check.triggered
    if after < 0.0:
        assert routed


def test_fund_peak_reads_the_window() -> None:
    hist = np.array([[5.0, 9.0, 7.0, 6.0, 0.0]])
    assert fund_peak(0, 4, 2, 3.0, 1.0, hist) == 7.0
    assert fund_peak(0, 4, 3, 3.0, 1.0, hist) == 9.0
    assert fund_peak(0, 1, 3, 8.0, 1.0, hist) == 8.0  # before step 0: the starting fund counts
    assert fund_peak(0, 4, 1, 3.0, 10.0, hist) == 10.0


def test_while_on_every_draw_goes_to_adl_and_it_stops_within_the_stop_ratio() -> None:
    rec = _record(0.3, 0.25, 0.0)
    assert adl_floor(rec, 7_200.0, 10_000.0, True) == (math.inf, True)
    assert adl_floor(rec, 7_600.0, 10_000.0, True) == (7_000.0, False)
    assert adl_floor(_record(0.0, 0.0, 0.0), 7_600.0, 10_000.0, True)[0] == 0.0
