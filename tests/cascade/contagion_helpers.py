"""A small two-asset, two-venue market with factor-jump paths, shared by the contagion Monte
Carlo tests (in process and on Dask)."""

from __future__ import annotations

from typing import Any

from levguard.cascade import MarginRegime, Market, VenueSettings
from levguard.cascade.market import Arbitrage, MarketPopulation, MarketSpec, MarketVenue
from levguard.cascade.market_population import hedged_owners, random_market_population

S0 = [60_000.0, 3_000.0]

PARAMS: dict[str, Any] = {
    "assets": ["BTC", "ETH"],
    "factor": "BTC",
    "factor_mean": 0.0,
    "factor_vol": {"vol": 0.0008},
    "intercept": [0.0, 0.0],
    "beta": [1.0, 1.2],
    "idio_vol": [{"vol": 0.0}, {"vol": 0.0005}],
    "jump_intensity": 0.01,
    "jump_mean": -0.04,
    "jump_std": 0.03,
    "jump_beta": [1.0, 1.4],
    "jump_idio_std": [0.0, 0.01],
}


def path_spec(n_steps: int = 120, seed: int = 3) -> dict[str, Any]:
    return {"model": "factor_jump", "params": PARAMS, "n_steps": n_steps, "seed": seed, "s0": S0}


def market() -> tuple[MarketPopulation, MarketSpec]:
    crowd = random_market_population(400, S0, n_venues=2, seed=1, long_share=0.8)
    owners = hedged_owners(2, n_assets=2, asset=0, price=S0[0], qty=1.0, long_venue=1, short_venue=0,
                           long_leverage=3.0, short_leverage=20.0, owner_offset=10_000)  # fmt: skip
    venues = [
        MarketVenue("a", [Market(depth=2e3), Market(depth=400.0)], settings=VenueSettings(insurance_fund=0.0)),
        MarketVenue("b", [Market(depth=2e4), Market(depth=3e3)], MarginRegime(),
                    settings=VenueSettings(insurance_fund=5e4), adl_rule="binance-usdm"),
    ]  # fmt: skip
    return MarketPopulation.concat(crowd, owners), MarketSpec(["BTC", "ETH"], venues, Arbitrage(0.3, 5e6))
