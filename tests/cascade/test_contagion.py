"""The contagion report of one market path: the asset attribution rule on hand-built events,
conservation (property), an ETH crash forcing BTC sales, arbitrage transmission between venues,
hedged owners and the per-venue table."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.contagion import (
    asset_transmission,
    contagion_report,
    hedged_owner_table,
    venue_matrices,
    venue_transmission,
)
from levguard.cascade.market import Arbitrage, MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_population import hedged_owners, random_market_population
from levguard.errors import InputError

ASSETS = ["BTC", "ETH"]
VENUES = ["a", "b"]


def events(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Events from (step, venue, asset, account, qty, price, kind) rows."""
    cols = ["step", "venue", "asset", "account", "qty", "price", "kind"]
    return pd.DataFrame(rows, columns=cols)


def marks(value: float = 1.0, n_t: int = 5) -> np.ndarray:
    return np.full((2, 2, n_t), value)


def test_loss_shares_split_each_closed_notional() -> None:
    # Long 1 BTC at 100 and 10 ETH at 10, liquidated at step 2: BTC fills at 98 (loss 2), ETH at
    # 8 (loss 20); shares 2/22 and 20/22 of each asset's closed notional (98 and 80).
    ev = events([(2, "a", "BTC", 0, 1.0, 98.0, "liquidation"), (2, "a", "ETH", 0, 10.0, 8.0, "liquidation")])
    t = asset_transmission(ev, [[1.0, 10.0]], [[100.0, 10.0]], marks(), ASSETS, VENUES)
    expected = np.array([[2 / 22 * 98.0, 2 / 22 * 80.0], [20 / 22 * 98.0, 20 / 22 * 80.0]])
    np.testing.assert_allclose(t.to_numpy(), expected, rtol=1e-12)
    assert list(t.index) == ASSETS
    assert list(t.columns) == ASSETS
    np.testing.assert_allclose(t.sum(axis=0).to_numpy(), [98.0, 80.0], rtol=1e-12)


def test_a_winning_leg_is_sold_for_the_losing_one() -> None:
    # Short 1 BTC at 100 (fills at 90: a gain) and long 10 ETH at 10 (fills at 5): every BTC
    # sale is ETH's contagion.
    ev = events([(1, "b", "BTC", 0, -1.0, 90.0, "adl_liquidated"), (1, "b", "ETH", 0, 10.0, 5.0, "liquidation")])
    t = asset_transmission(ev, [[-1.0, 10.0]], [[100.0, 10.0]], marks(), ASSETS, VENUES)
    np.testing.assert_allclose(t.to_numpy(), [[0.0, 0.0], [90.0, 50.0]], rtol=1e-12)


def test_position_is_what_earlier_closes_left() -> None:
    # Long 2 BTC at 100 and 10 ETH at 10.  At step 1 the account loses 1.5 BTC as an ADL
    # counterparty; at step 3 it is liquidated holding 0.5 BTC (loss 0.5 x 4 = 2) and 10 ETH
    # (loss 10 x 2 = 20).
    ev = events(
        [
            (1, "a", "BTC", 0, 1.5, 101.0, "adl_victim"),
            (3, "a", "BTC", 0, 0.5, 96.0, "liquidation"),
            (3, "a", "ETH", 0, 10.0, 8.0, "liquidation"),
        ]
    )
    t = asset_transmission(ev, [[2.0, 10.0]], [[100.0, 10.0]], marks(), ASSETS, VENUES)
    n_btc, n_eth = 0.5 * 96.0, 80.0
    np.testing.assert_allclose(
        t.to_numpy(), [[2 / 22 * n_btc, 2 / 22 * n_eth], [20 / 22 * n_btc, 20 / 22 * n_eth]], rtol=1e-12
    )


def test_an_asset_not_closed_in_the_step_is_priced_at_the_mark() -> None:
    # Only ETH is closed (a partial slice); BTC's loss comes from the venue's mark at the step.
    mk = marks(1.0)
    mk[1, 0, 2] = 95.0  # venue b, BTC, step 2
    ev = events([(2, "b", "ETH", 0, 5.0, 8.0, "liquidation")])
    t = asset_transmission(ev, [[1.0, 10.0]], [[100.0, 10.0]], mk, ASSETS, VENUES)
    # BTC loss 5, ETH loss 10 x 2 = 20 (the whole position held, not the slice).
    np.testing.assert_allclose(t.to_numpy(), [[0.0, 5 / 25 * 40.0], [0.0, 20 / 25 * 40.0]], rtol=1e-12)


def test_no_losing_position_keeps_the_closes_on_the_diagonal() -> None:
    ev = events([(1, "a", "BTC", 0, 1.0, 101.0, "liquidation"), (1, "a", "ETH", 0, 1.0, 11.0, "liquidation")])
    t = asset_transmission(ev, [[1.0, 1.0]], [[100.0, 10.0]], marks(), ASSETS, VENUES)
    np.testing.assert_allclose(t.to_numpy(), [[101.0, 0.0], [0.0, 11.0]])


def test_victim_events_are_not_forced_sales() -> None:
    ev = events([(1, "a", "BTC", 0, 1.0, 90.0, "adl_victim")])
    t = asset_transmission(ev, [[1.0, 0.0]], [[100.0, 1.0]], marks(), ASSETS, VENUES)
    assert (t.to_numpy() == 0.0).all()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda e: e.assign(asset="DOGE"), r"events.asset\[0\] must be one of \['BTC', 'ETH'\], was 'DOGE'"),
        (lambda e: e.assign(venue="c"), r"events.venue\[0\] must be one of"),
        (lambda e: e.drop(columns="price"), r"lacked \['price'\]"),
        (lambda e: e.assign(account=3), r"events.account must be in \[0, 1\), was 3"),
    ],
)
def test_bad_events_are_named(mutate: Any, match: str) -> None:
    ev = mutate(events([(1, "a", "BTC", 0, 1.0, 90.0, "liquidation")]))
    with pytest.raises(InputError, match=match):
        asset_transmission(ev, [[1.0, 0.0]], [[100.0, 1.0]], marks(), ASSETS, VENUES)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),  # step
            st.integers(0, 1),  # venue
            st.integers(0, 1),  # asset
            st.integers(0, 3),  # account
            st.floats(-5.0, 5.0).filter(lambda x: abs(x) > 1e-3),
            st.floats(1.0, 200.0),
            st.sampled_from(["liquidation", "adl_liquidated", "adl_victim"]),
        ),
        max_size=25,
    ),
    st.lists(st.floats(-5.0, 5.0), min_size=8, max_size=8),
    st.lists(st.floats(50.0, 150.0), min_size=8, max_size=8),
)
def test_columns_sum_to_the_force_closed_notional(
    rows: list[tuple[Any, ...]], q0: list[float], e0: list[float]
) -> None:
    ev = events([(s, VENUES[v], ASSETS[a], i, q, p, k) for s, v, a, i, q, p, k in rows])
    t = asset_transmission(ev, np.reshape(q0, (4, 2)), np.reshape(e0, (4, 2)), marks(100.0), ASSETS, VENUES)
    m = t.to_numpy()
    assert (m >= 0.0).all()
    forced = ev[ev["kind"] != "adl_victim"]
    want = [float((forced["qty"].abs() * forced["price"])[forced["asset"] == a].sum()) for a in ASSETS]
    np.testing.assert_allclose(m.sum(axis=0), want, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- simulated markets
def two_venue_spec(arb: float = 0.0) -> MarketSpec:
    venues = [
        MarketVenue("a", [Market(depth=2e3), Market(depth=300.0)], settings=VenueSettings(insurance_fund=0.0)),
        MarketVenue("b", [Market(depth=2e4), Market(depth=3e3)], settings=VenueSettings(insurance_fund=1e6)),
    ]
    return MarketSpec(ASSETS, venues, Arbitrage(speed=arb, capacity=1e7))


def eth_crash(n: int = 91, fall: float = 0.3) -> np.ndarray:
    t = np.arange(n)
    crash = np.where(t < 20, 0.0, np.minimum(t - 20, 20) / 20)
    return np.column_stack([np.full(n, 60_000.0), 3_000.0 * (1.0 - fall * crash)])


def forced_notional(res: Any) -> np.ndarray:
    ev = res.events
    f = ev[ev["kind"].isin(["liquidation", "adl_liquidated"])]
    return np.array([float((f["qty"].abs() * f["price"])[f["asset"] == a].sum()) for a in ASSETS])


def test_an_eth_crash_forces_btc_sales() -> None:
    # 200 accounts long 0.2 BTC and 4 ETH (entries at the start prices), 10-20x, on both venues.
    n = 200
    rng = np.random.default_rng(3)
    qty = np.column_stack([np.full(n, 0.2), np.full(n, 4.0)])
    entry = np.tile([60_000.0, 3_000.0], (n, 1))
    wallet = (0.2 * 60_000.0 + 4 * 3_000.0) / rng.uniform(10.0, 20.0, n)
    pop = MarketPopulation(rng.integers(0, 2, n), wallet, qty, entry)
    res = simulate_market(pop, eth_crash(), two_venue_spec())
    rep = contagion_report(res)
    m = rep.asset_matrix
    assert m.loc["ETH", "BTC"] > 0.0  # BTC sold because of ETH losses
    assert m.loc["ETH", "BTC"] > 10.0 * m.loc["BTC", "BTC"]  # BTC's own loss is only its impact
    assert m.loc["BTC", "ETH"] < 0.1 * m.loc["ETH", "ETH"]
    np.testing.assert_allclose(m.sum(axis=0).to_numpy(), forced_notional(res), rtol=1e-12)
    by_venue = sum(rep.asset_by_venue[v].to_numpy() for v in VENUES)
    np.testing.assert_allclose(by_venue, m.to_numpy(), rtol=1e-12)
    assert 0.3 < rep.cross_asset_share < 0.6


def test_single_position_accounts_give_a_diagonal_matrix() -> None:
    pop = random_market_population(400, [60_000.0, 3_000.0], n_venues=2, seed=2, max_positions=1, long_share=0.9)
    res = simulate_market(pop, eth_crash(fall=0.25), two_venue_spec(arb=0.3))
    m = contagion_report(res).asset_matrix.to_numpy()
    assert m[1, 1] > 0.0
    assert m[0, 1] == 0.0
    assert m[1, 0] == 0.0
    np.testing.assert_allclose(np.diag(m), forced_notional(res), rtol=1e-12)


def test_a_one_asset_market_has_only_its_own_asset() -> None:
    pop = random_market_population(300, [3_000.0], seed=4, long_share=0.9)
    spec = MarketSpec(["ETH"], [MarketVenue("a", Market(depth=300.0))])
    res = simulate_market(pop, eth_crash()[:, 1], spec)
    m = contagion_report(res).asset_matrix
    assert m.shape == (1, 1)
    assert m.iloc[0, 0] > 0.0
    ev = res.events[res.events["kind"] != "adl_victim"]
    assert m.iloc[0, 0] == pytest.approx(float((ev["qty"].abs() * ev["price"]).sum()), rel=1e-12)


def test_arbitrage_carries_the_crashing_venue_into_the_other() -> None:
    # Every account is on venue a; b only sees a's selling through arbitrage.
    n = 300
    pop = random_market_population(n, [60_000.0, 3_000.0], seed=5, long_share=1.0)
    pop = MarketPopulation(np.zeros(n, dtype=np.int64), pop.wallet, pop.qty, pop.entry)
    res = simulate_market(pop, eth_crash(), two_venue_spec(arb=0.5))
    rep = contagion_report(res)
    vm = rep.venue_matrix
    assert vm.loc["a", "b"] > 0.0
    assert vm.loc["b", "a"] == 0.0
    assert np.trace(vm.to_numpy()) == 0.0
    flows = venue_transmission(res)
    assert set(flows["direction"]) == {"down"}
    assert flows["notional"].sum() == pytest.approx(vm.to_numpy().sum(), rel=1e-12)
    # The carried notional is what arbitrage sold into b's books.
    arb_b = res.out.steps.arb_notional[1].sum()
    assert flows["notional"].sum() == pytest.approx(arb_b, rel=1e-9)
    assert res.books.set_index(["venue", "asset"]).loc[("b", "ETH"), "liquidated_notional"] == 0.0


def test_venue_matrices_direction_by_hand() -> None:
    # Two venues, one asset, equal depth: after step 0 venue 0 sits at I = -0.02, venue 1 at 0;
    # step 1's arbitrage buys 10 on venue 0 and sells 10 on venue 1 (I_bar = -0.01 < 0: down).
    impact = np.array([[[-0.02, -0.015]], [[0.0, -0.005]]])
    arb = np.array([[[0.0, 10.0]], [[0.0, 10.0]]])
    depth = np.ones_like(impact)
    down, up = venue_matrices(impact, arb, depth, np.ones((2, 1)))
    np.testing.assert_allclose(down[0], [[0.0, 10.0], [0.0, 0.0]])
    assert (up == 0.0).all()
    # A squeeze on venue 1 (I_bar > 0): the pressure goes from 1 to 0.
    down, up = venue_matrices(-impact[::-1], arb, depth, np.ones((2, 1)))
    np.testing.assert_allclose(up[0], [[0.0, 0.0], [10.0, 0.0]])
    assert (down == 0.0).all()


def hedged_result() -> Any:
    s0 = [60_000.0, 150.0]
    crowd = random_market_population(2_000, s0, n_venues=2, seed=1)
    owner = hedged_owners(2, n_assets=2, asset=0, price=60_000.0, qty=5.0, long_venue=1, short_venue=0,
                          long_leverage=3.0, short_leverage=25.0, owner_offset=10_000)  # fmt: skip
    pop = MarketPopulation.concat(crowd, owner)
    venues = [
        MarketVenue("hl", [Market(depth=2e3), Market(depth=200.0)], MarginRegime.for_venue("hyperliquid"),
                    settings=VenueSettings(insurance_fund=0.0), adl_rule="hyperliquid"),
        MarketVenue("binance", [Market(depth=2e4), Market(depth=2e3)], MarginRegime(),
                    settings=VenueSettings(insurance_fund=1e5), adl_rule="binance-usdm"),
    ]  # fmt: skip
    spec = MarketSpec(["BTC", "SOL"], venues, Arbitrage(speed=0.3, capacity=5e6))
    t = np.arange(121)
    crash = np.where(t < 30, 0.0, np.minimum(t - 30, 20) / 20)
    paths = np.column_stack([60_000.0 * (1 - 0.14 * crash), 150.0 * (1 - 0.33 * crash)])
    return simulate_market(pop, paths, spec)


def test_hedged_owners_show_each_venues_outcome() -> None:
    res = hedged_result()
    h = hedged_owner_table(res)
    assert list(h["owner"]) == [10_000, 10_001]
    row = h.iloc[0]
    assert row["outcome"] == "binance: open; hl: adl"
    assert row["hit"]
    assert row["left_exposed"]
    assert row["net_notional0"] == 0.0 < row["net_notional"]
    assert row["pnl"] == pytest.approx(row["pnl_hl"] + row["pnl_binance"], rel=1e-12)
    # The long left open on binance lost with the crash.  Both owners' whole shorts on hl were
    # ADL counterparties at the crash's first step (in profit there at 25x, ranked ahead of the
    # crowd's shorts at a loss; before Hyperliquid's queue took the users in profit first, owner
    # 10001's short was only partly taken and the rest gained 6,502 with the crash), at
    # Hyperliquid's previous mark, their entry: neither gained nor lost.
    assert row["pnl_binance"] < 0.0 == row["pnl_hl"]
    pop = res.population
    ev = res.events
    for owner in (10_000, 10_001):
        i = int(np.flatnonzero((pop.owner == owner) & (pop.venue == 0))[0])
        hit = ev[(ev["account"] == i) & (ev["kind"] == "adl_victim")]
        assert set(hit["step"]) == {31}
        assert set(hit["price"]) == {pop.entry[i, 0]} == {60_000.0}
    assert h.iloc[1]["pnl_hl"] == 0.0


def test_per_venue_table_and_json() -> None:
    res = hedged_result()
    rep = contagion_report(res)
    pv = rep.per_venue
    ven = res.venues.set_index("venue")
    np.testing.assert_allclose(pv["bad_debt"], ven.loc[pv.index, "bad_debt"])
    assert (pv["fund_used"] >= 0.0).all()
    assert pv.loc["hl", "adl_notional"] > 0.0
    assert pv["liquidated_notional"].sum() == pytest.approx(res.summary["liquidated_notional"], rel=1e-12)
    doc = rep.to_dict()
    assert doc["pool_to_venue"] is None
    assert rep.pool_to_venue is None
    again = json.loads(json.dumps(doc, allow_nan=False))
    assert again["hedged"][0]["outcome"] == "binance: open; hl: adl"
    assert set(again["asset_matrix"]) == {"BTC", "SOL"}


def test_per_venue_counts_adl_counterparties_as_deleveraged_not_liquidated() -> None:
    # venue_outcomes counted status != "ok": the hedged owners' shorts closed at a profit by ADL
    # on hl (status "deleveraged") were liquidated accounts too.
    res = hedged_result()
    pv = contagion_report(res).per_venue
    acc = res.accounts
    assert (acc["status"] == "deleveraged").sum() > 0
    for venue in pv.index:
        mine = acc[acc["venue"] == venue]
        assert pv.loc[venue, "accounts_liquidated"] == (mine["status"] == "liquidated").sum()
        assert pv.loc[venue, "accounts_deleveraged"] == mine["deleveraged"].sum()


def test_report_needs_a_market_result() -> None:
    with pytest.raises(InputError, match="result must be a MarketResult, was dict"):
        contagion_report({})  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 4),
    st.integers(2, 12),
    st.integers(0, 2**32 - 1),
)
def test_venue_matrices_are_non_negative_off_diagonal_and_bounded(n_v: int, n_t: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    impact = rng.normal(0.0, 0.01, (n_v, 1, n_t))
    arb = rng.uniform(0.0, 100.0, (n_v, 1, n_t))
    depth = rng.uniform(0.5, 2.0, (n_v, 1, n_t))
    down, up = venue_matrices(impact, arb, depth, rng.uniform(0.5, 1.0, (n_v, 1)))
    for m in (down[0], up[0]):
        assert (m >= 0.0).all()
        assert (np.diag(m) == 0.0).all()
    # Every destination receives at most the arbitrage traded in its book after step 0.
    received = (down[0] + up[0]).sum(axis=0)
    assert (received <= arb[:, 0, 1:].sum(axis=1) * (1 + 1e-12)).all()
