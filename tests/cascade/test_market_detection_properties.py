"""Properties of the market simulator (v2) over random markets with every partial mode, collateral
holdings and mark sources: the sorted sweep finds what the naive scan finds, money is conserved,
and collateral holdings are never shorted."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.market import Arbitrage, MarketPopulation, MarketSpec, MarketVenue, simulate_market
from levguard.cascade.market_population import random_market_population

ASSETS = ("BTC", "ETH", "USDE")
S0 = np.array([60_000.0, 3_000.0, 1.0])
RULES = ("bitmex", "binance-usdm", "bybit-linear", "hyperliquid")


def _market(seed: int, partial: Any, with_collateral: bool, source: str) -> tuple[MarketPopulation, Any, MarketSpec]:
    rng = np.random.default_rng(seed)
    n_v = 2
    venues = []
    for j in range(n_v):
        books = [
            Market(depth=float(rng.choice([300.0, 3e3, 3e4])), half_life_steps=30),
            Market(depth=float(rng.choice([100.0, 1e3, 1e4])), half_life_steps=30),
            Market(depth=float(rng.choice([2e3, 1e5])), half_life_steps=60),
        ]
        regime = MarginRegime(
            mmr=float(rng.uniform(0.005, 0.03)),
            liquidation_fee=float(rng.choice([0.0, 0.005])),
            partial=partial,
            partial_min_notional=float(rng.choice([0.0, 500.0])),
        )
        settings_v = VenueSettings(
            insurance_fund=float(rng.choice([0.0, 1e4])),
            latency_steps=int(rng.integers(0, 2)),
            mark_lag_steps=int(rng.integers(0, 2)),
        )
        venues.append(
            MarketVenue(
                f"v{j}",
                books,
                regime,
                settings=settings_v,
                adl_rule=RULES[int(rng.integers(0, 4))],
                collateral={"USDE": float(rng.choice([0.0, 0.1, 0.3]))} if with_collateral and j == 0 else None,
                mark_source=source if j == 1 else "book",
            )
        )
    spec = MarketSpec(ASSETS, venues, Arbitrage(speed=float(rng.choice([0.0, 0.3])), capacity=1e6))
    crowd = random_market_population(150, S0[:2], n_venues=n_v, seed=seed, long_share=float(rng.uniform(0.3, 0.9)))
    qty = np.column_stack([np.asarray(crowd.qty), np.zeros(crowd.n)])
    entry = np.column_stack([np.asarray(crowd.entry), np.ones(crowd.n)])
    pop = MarketPopulation(crowd.venue, crowd.wallet, qty, entry)
    if with_collateral:
        frac = np.where(np.asarray(crowd.venue) == 0, rng.uniform(0.0, 1.0, crowd.n), 0.0)
        pop = pop.with_collateral(2, frac, 1.0, spec.venues[0].haircut("USDE"))  # type: ignore[arg-type]
    n = 80
    t = np.arange(n + 1)
    fall = np.minimum(np.maximum(t - 5, 0) / 30, 1.0) * float(rng.uniform(0.05, 0.3))
    sign = 1.0 if rng.random() < 0.7 else -0.6  # mostly crashes, some squeezes
    usde = 1.0 - float(rng.uniform(0.0, 0.2)) * np.minimum(np.maximum(t - 10, 0) / 20, 1.0)
    paths = np.column_stack([S0[0] * (1 - sign * fall), S0[1] * (1 - 1.3 * sign * fall), usde])
    return pop, paths, spec


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**20),
    partial=st.sampled_from([1.0, 0.3, "restore"]),
    with_collateral=st.booleans(),
    source=st.sampled_from(["book", "exogenous", "v0"]),
)
# Found by random draws (2026-12-05), restore with collateral: an account left at E = MM to within
# rounding (the restore margin was relative to the contracts' maintenance alone, and the sweep
# summed E - MM in another order than the scan) was closed by nothing every round up to the
# limit (626, 612903, 972849); a list sorted while a safe candidate was pending lost that
# account's other entries, and the sweep never found it again (4962, 25371).
@example(seed=626, partial="restore", with_collateral=True, source="v0")
@example(seed=612903, partial="restore", with_collateral=True, source="v0")
@example(seed=972849, partial="restore", with_collateral=True, source="exogenous")
@example(seed=4962, partial="restore", with_collateral=True, source="book")
@example(seed=25371, partial="restore", with_collateral=True, source="book")
def test_sweep_equals_scan_and_money_is_conserved(seed: int, partial: Any, with_collateral: bool, source: str) -> None:
    pop, paths, spec = _market(seed, partial, with_collateral, source)
    a = simulate_market(pop, paths, spec, max_events=500_000)
    b = simulate_market(pop, paths, spec, max_events=500_000, naive=True)
    for name in a.out.steps._fields:
        np.testing.assert_array_equal(getattr(a.out.steps, name), getattr(b.out.steps, name), err_msg=name)
    np.testing.assert_array_equal(a.out.accounts.qty, b.out.accounts.qty)
    led = a.ledger()
    assert abs(led["residual"]) <= 1e-9 * led["scale"]
    held = spec.collateral_mask()[np.asarray(pop.venue)]
    assert (a.out.accounts.qty[held] >= 0.0).all()
