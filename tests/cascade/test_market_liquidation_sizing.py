"""How the market simulator (v2) and v1 size a liquidation: at the marks, where it was found;
collateral holdings that make a partial close useless; a holding in a tier at rate 1; and the
inverse of the collateral tiers at their edges (regressions found by review)."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.market import MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_collateral import COLLATERAL_TABLES, units_for_value
from levguard.cascade.population import Population
from levguard.cascade.simulator import simulate_path
from levguard.core.rules.collateral import CollateralTiers

DEEP = Market(depth=1e15)


@pytest.mark.parametrize("partial", [0.5, "tier", "restore", 1.0])
def test_a_shortfall_from_the_haircut_closes_the_account_whole(partial: object) -> None:
    # A 10 ETH long margined by 10,000 USDe at a 30 % haircut; ETH falls 35 %: the equity after
    # haircuts is negative, so no partial close of ETH can restore it.  Before, fraction slices
    # halved the ETH 100 times a step (down to subnormal slivers) and never sold the USDe.
    pop = MarketPopulation([0], [7_000.0], [[10.0, 0.0]], [[2_000.0, 1.0]]).with_collateral(1, 1.0, 1.0, 0.3)
    regime = MarginRegime(mmr=0.04, liquidation_fee=0.0, partial=partial, partial_min_notional=0.0)  # type: ignore[arg-type]
    venue = MarketVenue("x", DEEP, regime, collateral={"USDE": 0.3})
    path = np.array([[2_000.0, 1.0], [2_000.0, 1.0], [1_290.0, 1.0], [1_290.0, 1.0]])
    res = simulate_market(pop, path, MarketSpec(("ETH", "USDE"), [venue]))
    assert res.counts.events == 2  # one close of each
    np.testing.assert_array_equal(res.out.accounts.qty[0], [0.0, 0.0])
    assert res.out.steps.rounds[0].max() == 1


def test_v2_restore_is_sized_at_the_mark() -> None:
    # 1 ETH long at 100, wallet 10.8, mmr 1 %: liquidation price 90.  The mark lags one step, so
    # at step 2 the mark (89.9) is through it while the traded price (90.5) is not.  Sized at
    # the traded price the incremental close was 0 and the account was found again for 100
    # rounds and never liquidated.
    pop = MarketPopulation([0], [10.8], [[1.0]], [[100.0]])
    regime = MarginRegime(mmr=0.01, liquidation_fee=0.0, partial="restore")
    venue = MarketVenue("x", DEEP, regime, settings=VenueSettings(mark_lag_steps=1))
    res = simulate_market(pop, np.array([100.0, 89.9, 90.5, 90.5]), MarketSpec(("ETH",), [venue]))
    assert res.out.steps.rounds[0].tolist() == [0, 0, 1, 0]
    assert res.counts.events == 1
    assert res.accounts["status"].iloc[0] == "liquidated"
    assert 0.0 < res.events["qty"].iloc[0] < 1.0


def test_v1_restore_is_sized_at_the_mark_too() -> None:
    pop = Population(side=[1.0], qty=[1.0], entry_price=[100.0], margin=[10.8], cross=[False])
    res = simulate_path(
        pop,
        np.array([100.0, 89.9, 90.5, 90.5]),
        market=Market(depth=1e12),
        regime=MarginRegime(mmr=0.01, liquidation_fee=0.0, partial="restore"),
        venue=VenueSettings(mark_lag_steps=1),
    )
    assert res.steps["rounds"].tolist() == [0, 0, 1, 0]
    assert len(res.events) == 1
    assert 0.0 < res.accounts["qty"].iloc[0] < 1.0


def test_a_holding_liquidatable_at_every_price_is_found() -> None:
    # USDe alone in a tier at ratio 0 (haircut rate 1) with the equity after the haircut
    # negative: no liquidation price exists (it is liquidatable at every price).  Before, its
    # key was NaN and the sweep never found it.
    tiers = CollateralTiers("USDE", (0.0, 10.0), (0.0, 0.0), "usd_value")
    venue = MarketVenue("x", DEEP, MarginRegime(mmr=0.04), collateral={"USDE": tiers})
    pop = MarketPopulation([0], [0.0], [[0.0, 100.0]], [[2_000.0, 1.0]])  # a holding bought on credit
    path = np.column_stack([np.full(4, 2_000.0), np.ones(4)])
    for naive in (False, True):
        res = simulate_market(pop, path, MarketSpec(("ETH", "USDE"), [venue]), naive=naive)
        assert res.accounts["status"].iloc[0] == "liquidated"
        assert int(res.events["step"].min()) == 0


def test_units_for_value_at_the_edges() -> None:
    t = CollateralTiers("X", (0.0, 10.0), (0.0, 1.0), "qty")
    np.testing.assert_allclose(units_for_value(t, np.array([0.0, 5.0]), 2.0), [0.0, 12.5])
    capped = [(n, a, x) for n, t in COLLATERAL_TABLES.items() for a, x in t.assets.items() if x.ratios[-1] == 0.0]
    assert capped  # bybit-uta and okx-mcm BTC: the tiers' maximum itself is reachable
    for name, asset, tiers in capped:
        price = 45.36
        top = tiers.value(1e18, price)
        u = units_for_value(tiers, np.array([top]), price)
        assert tiers.value(float(u[0]), price) == pytest.approx(top, rel=1e-12), (name, asset)
