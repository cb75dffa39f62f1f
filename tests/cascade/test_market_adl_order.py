"""The routing to ADL and the ADL ranking of both simulators (v1 ``simulate_path``, v2
``simulate_market``): the fund first, ADL only for what it cannot take, whatever the account order,
and the ranking at the marks of the round that deleverages.

A hunt (2026-12-07) found the routing walking a round's closes in account order with a running
estimate of the fund: a deficit close was compared against the fund plus only the surpluses of the
closes listed before it, although all settle at the same fill.  Two longs liquidated in one round
on a fund of 5, one giving the fund -10 and the other +30, sent the first to ADL in one account
order (adl_notional 940, fund 35) and none in the other (fund 25).  The same hunt found the
ranking built once per step and reused after the mark had moved within it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levguard.cascade import MarginRegime, Market, Population, VenueSettings, simulate_path
from levguard.cascade.market import Arbitrage, MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_population import random_market_population
from levguard.core.rules.adl import AdlPosition, adl_queue

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# (side, qty, entry, wallet).  mmr 5 %, no impact, fund 5, the price gaps 100 -> 93.  A (liq 98.9,
# BP 94) gives the fund 10 (93 - 94) = -10, B (liq 94.7, BP 90) +30: the round nets +20.
A = (1.0, 10.0, 100.0, 60.0)
B = (1.0, 10.0, 100.0, 100.0)
C = (-1.0, 20.0, 100.0, 1e6)  # the ADL counterparty
GAP = np.array([100.0, 93.0, 93.0])


def _v2(accts: list[tuple[float, float, float, float]], path: np.ndarray, *, fund: float, market: Market) -> Any:
    venue = MarketVenue(
        "v",
        [market],
        MarginRegime(mmr=0.05, liquidation_fee=0.0),
        settings=VenueSettings(insurance_fund=fund, adl=True),
        adl_rule="bitmex",
    )
    pop = MarketPopulation(
        [0] * len(accts), [a[3] for a in accts], [[a[0] * a[1]] for a in accts], [[a[2]] for a in accts]
    )
    return simulate_market(pop, path[:, None], MarketSpec(["X"], [venue]))


def _v1(accts: list[tuple[float, float, float, float]], path: np.ndarray, *, fund: float, market: Market) -> Any:
    pop = Population(
        np.array([a[0] for a in accts]),
        np.array([a[1] for a in accts]),
        np.array([a[2] for a in accts]),
        np.array([a[3] for a in accts]),
        np.zeros(len(accts), dtype=bool),
    )
    return simulate_path(
        pop,
        path,
        market=market,
        regime=MarginRegime(mmr=0.05, liquidation_fee=0.0),
        venue=VenueSettings(insurance_fund=fund, adl=True),
    )


def _totals(res: Any) -> dict[str, float]:
    s = dict(res.summary)
    if "fund_end" not in s:  # v2: the venue's table
        s["fund_end"] = res.venues["fund_end"].iloc[0]
    return {k: float(s[k]) for k in ("bad_debt", "adl_notional", "fund_end", "liquidated_notional")}


@pytest.mark.parametrize("sim", [_v1, _v2])
@pytest.mark.parametrize("order", [(A, B, C), (B, A, C), (C, A, B)])
def test_the_fund_takes_a_round_it_can_net_whatever_the_order(sim: Any, order: Any) -> None:
    res = sim(list(order), GAP, fund=5.0, market=Market(depth=1e15))
    got = _totals(res)
    assert got["adl_notional"] == 0.0
    assert got["bad_debt"] == 0.0
    assert got["fund_end"] == pytest.approx(25.0, abs=1e-9)
    assert got["liquidated_notional"] == pytest.approx(20 * 93.0)


@pytest.mark.parametrize("sim", [_v1, _v2])
@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2)])
def test_the_largest_deficits_go_to_adl_until_the_rest_fits(sim: Any, order: tuple[int, ...]) -> None:
    # Fund 12; at 93: D1 (BP 94.5) -15, A (BP 94) -10, D2 (BP 93.5) -5: the round nets -18.  D1
    # goes to ADL (-3 left), then A (7): D2 settles in the book, the fund ends at 7.  (Walking
    # D1, A, D2 in order used to route D1, let A through on the fund alone and route D2: 2.)
    deficits = [(1.0, 10.0, 100.0, 55.0), A, (1.0, 10.0, 100.0, 65.0)]
    res = sim([deficits[o] for o in order] + [C], GAP, fund=12.0, market=Market(depth=1e15))
    got = _totals(res)
    assert got["adl_notional"] == pytest.approx(10 * 94.5 + 10 * 94.0)
    assert got["fund_end"] == pytest.approx(7.0, abs=1e-9)
    assert got["bad_debt"] == 0.0


def _accounts(draw: Any) -> list[tuple[float, float, float, float]]:
    n = draw(st.integers(2, 7))
    out = []
    for _ in range(n):
        side = draw(st.sampled_from([1.0, -1.0]))
        qty = float(draw(st.integers(1, 20)))
        entry = float(draw(st.integers(90, 110)))
        lev = float(draw(st.integers(2, 40)))
        out.append((side, qty, entry, qty * entry / lev))
    return out


@st.composite
def _cases(draw: Any) -> Any:
    accts = _accounts(draw)
    # A deep-pocketed counterparty on each side, so ADL always finds one.
    accts += [(1.0, 5.0, 100.0, 1e6), (-1.0, 5.0, 100.0, 1e6)]
    gap = float(draw(st.integers(80, 120)))
    fund = float(draw(st.sampled_from([0.0, 5.0, 50.0, 500.0])))
    depth = draw(st.sampled_from([1e15, 2e3]))
    perm = draw(st.permutations(range(len(accts))))
    return accts, gap, fund, depth, list(perm)


@pytest.mark.parametrize("sim", [_v1, _v2])
@given(case=_cases())
@settings(FAST, max_examples=60)
def test_permuting_the_accounts_leaves_the_venue_totals(sim: Any, case: Any) -> None:
    accts, gap, fund, depth, perm = case
    path = np.array([100.0, gap, gap, gap])
    market = Market(depth=depth)
    base = _totals(sim(accts, path, fund=fund, market=market))
    moved = _totals(sim([accts[p] for p in perm], path, fund=fund, market=market))
    for key, want in base.items():
        assert moved[key] == pytest.approx(want, rel=1e-9, abs=1e-6), (key, base, moved)


# --------------------------------------------------------------------------- stale ranking

# BitMEX rule, fund 0, mmr 5 %, mark lag 0, an impact that keeps.  Round 1 at mark 88: L1 goes to
# ADL (its deficit, about -46, beyond B's surplus), B closes in the book and moves the price (and the mark) to about 80.99; round 2: L2 is
# crossed and goes to ADL.  At 88 S_A ranks first, at 80.99 S_B does.
#         side  qty    entry wallet
STALE = [
    (1.0, 10.0, 94.0, 50.0),  # 0 L1: BP 89, bankrupt at 88 by more than B's sale gives the fund
    (1.0, 100.0, 94.0, 1000.0),  # 1 B: liq 88.4, BP 84, closed in the book
    (1.0, 50.0, 94.0, 600.0),  # 2 L2: liq 86.3, BP 82: crossed after B's sale
    (-1.0, 100.0, 99.0, 3000.0),  # 3 S_A
    (-1.0, 100.0, 94.0, 2000.0),  # 4 S_B
]
STALE_PATH = np.array([94.0, 88.0, 88.0])
STALE_BOOK = Market(depth=10.6, half_life_steps=math.inf)


def _bitmex_first(mark: float) -> int:
    # The short core's BitMEX queue puts first at ``mark`` (3 or 4), from the account figures.
    shorts = [3, 4]
    pos = [
        AdlPosition(-STALE[i][1], STALE[i][2], mark, STALE[i][3] + STALE[i][1] * (STALE[i][2] - mark)) for i in shorts
    ]
    return shorts[adl_queue("bitmex", pos, liquidated_qty=1.0).order[0]]


def _round_2_mark(res: Any) -> float:
    # The mark after step 1 (lag 0: the price after B's sale), the mark of round 2.
    if hasattr(res, "book_steps"):
        return float(res.book_steps("v", "X")["mark"].iloc[1])
    return float(res.steps["mark"].iloc[1])


@pytest.mark.parametrize("sim", [_v1, _v2])
def test_the_ranking_follows_the_mark_within_a_step(sim: Any) -> None:
    res = sim(STALE, STALE_PATH, fund=0.0, market=STALE_BOOK)
    ev = res.events
    assert ev.loc[ev["kind"] == "liquidation", "account"].tolist() == [1]
    assert ev.loc[ev["kind"] == "adl_liquidated", "account"].tolist() == [0, 2]
    victims = ev.loc[ev["kind"] == "adl_victim", "account"].tolist()
    # L1's ADL in round 1 at mark 88: S_A first; L2's in round 2, at the mark B's sale left:
    # S_B first (it was filled against S_A, ranked at the stale mark 88).
    assert _bitmex_first(88.0) == 3
    assert _bitmex_first(_round_2_mark(res)) == 4
    assert victims == [3, 4]


# --------------------------------------------------------------------------- random markets


def _random_market(seed: int) -> tuple[MarketPopulation, np.ndarray, MarketSpec]:
    # The hunt's random markets: 1-2 assets and venues, each rule, fund, latency, mark lag,
    # depth and partial mode drawn; a crash of 5-30 % over steps 10-30 with noise.
    r = np.random.default_rng(seed)
    n_assets = int(r.integers(1, 3))
    n_venues = int(r.integers(1, 3))
    s0 = list(r.uniform(50, 5000, n_assets))
    pop = random_market_population(int(r.integers(20, 200)), s0, n_venues=n_venues, seed=seed, entry_spread=0.03)
    venues = []
    for v in range(n_venues):
        liq = str(r.choice(["none", "hyperliquid", "binance-usdm"]))  # the same draw as the hunt's None
        reg = (
            MarginRegime.for_venue(liq)
            if liq != "none"
            else MarginRegime(
                mmr=float(r.uniform(0.003, 0.05)),
                liquidation_fee=float(r.uniform(0, 0.01)),
                partial=float(r.choice([1.0, 0.3])),
            )
        )
        vs = VenueSettings(
            insurance_fund=float(r.choice([0.0, 1e3, 1e5])),
            adl=bool(r.integers(0, 2)),
            latency_steps=int(r.integers(0, 3)),
            mark_lag_steps=int(r.integers(0, 2)),
        )
        books = [
            Market(depth=float(r.choice([1e2, 1e3, 1e5])), half_life_steps=float(r.choice([5.0, 30.0])))
            for _ in range(n_assets)
        ]
        rule = str(r.choice(["bitmex", "binance-usdm", "bybit-linear", "hyperliquid"]))
        venues.append(MarketVenue(f"v{v}", books, reg, settings=vs, adl_rule=rule))
    spec = MarketSpec(
        [f"A{k}" for k in range(n_assets)], venues, Arbitrage(speed=float(r.choice([0.0, 0.3])), capacity=1e7)
    )
    t = np.arange(81)
    sign = r.choice([-1, 1], n_assets)
    drop = r.uniform(0.05, 0.3, n_assets)
    crash = np.clip((t - 10) / 20, 0, 1)
    paths = np.column_stack(
        [
            s0[k] * np.exp(sign[k] * np.log(1 - drop[k]) * crash + 0.002 * np.cumsum(r.standard_normal(81)))
            for k in range(n_assets)
        ]
    )
    return pop, paths, spec


@pytest.mark.parametrize("seed", [56])
def test_a_random_market_gives_the_same_totals_whatever_the_account_order(seed: int) -> None:
    # Seed 56 (two venues, Binance's ADL with a fund of 1,000): the bad debt was 1,044,568 in the
    # drawn order and 1,170,184 with the accounts shuffled.
    pop, paths, spec = _random_market(seed)
    p = np.random.default_rng(seed).permutation(pop.n)
    moved = MarketPopulation(
        np.asarray(pop.venue)[p], np.asarray(pop.wallet)[p], np.asarray(pop.qty)[p], np.asarray(pop.entry)[p],
        np.asarray(pop.owner)[p],
    )  # fmt: skip
    a = simulate_market(pop, paths, spec)
    b = simulate_market(moved, paths, spec)
    for key in ("bad_debt", "liquidated_notional", "adl_notional", "accounts_liquidated"):
        assert b.summary[key] == pytest.approx(a.summary[key], rel=1e-9, abs=1e-6), key
    cols = ["fund_end", "bad_debt"]
    np.testing.assert_allclose(b.venues[cols].to_numpy(float), a.venues[cols].to_numpy(float), rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 2, 0), (2, 0, 1)])
def test_a_close_adl_cannot_take_is_not_routed_and_the_next_deficit_is(order: tuple[int, ...]) -> None:
    # One venue, fund 60: A long X (deficit 100 at the fills, nobody short X), B long Y (deficit
    # 20), C short Y. The round nets 60 - 120 < 0; A has no counterparty, so B is routed and
    # deleveraged against C, and the fund pays A: bad debt 40 (routing A left it to the book a
    # round later and the fund paid B: bad debt 60).
    venue = MarketVenue(
        "v",
        [Market(depth=1e15), Market(depth=1e15)],
        MarginRegime(mmr=0.05, liquidation_fee=0.0),
        settings=VenueSettings(insurance_fund=60.0, adl=True),
        adl_rule="bitmex",
    )
    spec = MarketSpec(["X", "Y"], [venue])
    accts = [
        (100.0, [10.0, 0.0]),  # A
        (80.0, [0.0, 10.0]),  # B
        (1e6, [0.0, -20.0]),  # C
    ]
    pop = MarketPopulation([0] * 3, [accts[a][0] for a in order], [accts[a][1] for a in order], [[100.0, 100.0]] * 3)
    paths = np.array([[100.0, 100.0], [80.0, 90.0], [80.0, 90.0]])
    res = simulate_market(pop, paths, spec)
    pos = {name: order.index(a) for a, name in enumerate("ABC")}
    assert res.summary["bad_debt"] == pytest.approx(40.0)
    ev = res.events
    adl = ev[ev["kind"] == "adl_liquidated"]
    assert adl["account"].tolist() == [pos["B"]]
    victims = ev[ev["kind"] == "adl_victim"]
    assert victims["account"].tolist() == [pos["C"]]
    assert victims["counterparty"].tolist() == [pos["B"]]
    led = res.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]


# Counterparties whose ADL scores tie exactly: a hunt (2026-12-07) found them ranked in account
# order (a stable sort), so the input order chose who was deleveraged. (side, qty, entry, wallet),
# mmr 5 %, fund 0. L is bankrupt at the first price; S1 and S2 score alike.
_L = (1.0, 1.0, 107.0, 6.6875)  # bankruptcy 100.3125: bankrupt at 100, to ADL
_S1 = (-1.0, 1.0, 100.0, 100.0 / 6.0)  # 6x from 100
_S2 = (-1.0, 5.0, 100.0, 1e6)
_TIES = [
    # PnL 0 at the entry scores 0 at any leverage: S2 (the larger) is deleveraged, S1 is then
    # liquidated at 112. In account order S1 was closed by ADL in one order (liquidated 0, fund 0)
    # and S2 in the other (liquidated 112, fund 4.667).
    ((_L, _S1, _S2), np.array([100.0, 112.0]), {"fund_end": 100.0 / 6.0 - 12.0, "liquidated_notional": 112.0}),
    # The same entry and leverage tie at every mark whatever the size (fund 10 and liquidated 590
    # in one order, fund 2 and 118 in the other).
    (
        ((1.0, 1.0, 100.0, 8.0), (-1.0, 1.0, 100.0, 20.0), (-1.0, 5.0, 100.0, 100.0)),
        np.array([100.0, 90.0, 118.0]),
        {"fund_end": 2.0, "liquidated_notional": 118.0},
    ),
    # Sizes 0.7 and 1.3 at 5x from 100 score alike in exact arithmetic but a few ulps apart in
    # floating point, which ranked the smaller first (a review): ties are scores within 1e-12.
    (
        ((1.0, 1.0, 100.0, 8.0), (-1.0, 0.7, 100.0, 14.0), (-1.0, 1.3, 100.0, 26.0)),
        np.array([100.0, 90.0, 118.0]),
        {"fund_end": 1.4, "liquidated_notional": 82.6},
    ),
]


@pytest.mark.parametrize("sim", [_v1, _v2])
@pytest.mark.parametrize(("accts", "path", "want"), _TIES)
def test_tied_adl_scores_rank_the_larger_position_first_whatever_the_order(
    sim: Any, accts: tuple[Any, ...], path: np.ndarray, want: dict[str, float]
) -> None:
    long_, small, large = accts
    for order in ((long_, small, large), (long_, large, small), (large, small, long_)):
        res = sim(list(order), path, fund=0.0, market=Market(depth=1e15))
        totals = _totals(res)
        for key, value in want.items():
            assert totals[key] == pytest.approx(value, abs=1e-9), (key, order)
        ev = res.events
        victims = ev.loc[ev["kind"] == "adl_victim", "account"].tolist()
        assert victims == [order.index(large)], order  # the larger of the tied positions
