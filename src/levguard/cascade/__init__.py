"""L3: cascading-liquidation simulation: many leveraged accounts on one venue with finite depth,
liquidations feeding back into price, the insurance fund and auto-deleveraging; Monte Carlo and
calibration of the venue's margin parameters (locally or on Dask).  See docs/cascade.md.

* Inputs: :class:`Population` and :func:`population_from_distribution` (:mod:`levguard.cascade.population`),
  exogenous price paths (:mod:`levguard.cascade.price_paths`), markets of several assets
  (:mod:`levguard.cascade.market_paths`: joint bootstrap, fitted factor model with jumps).
* The model's settings: :class:`Market`, :class:`MarginRegime`, :class:`VenueSettings`
  (:mod:`levguard.cascade.settings`).
* Several assets and venues (v2): :func:`simulate_market` (:mod:`levguard.cascade.market`).
* One path: :func:`simulate_path` (:mod:`levguard.cascade.simulator`); many: :func:`monte_carlo`,
  :func:`calibrate`, :func:`max_safe` (:mod:`levguard.cascade.montecarlo`).

The names below are imported on first use.
"""

from __future__ import annotations

from levguard.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Population": "levguard.cascade.population",
    "population_from_distribution": "levguard.cascade.population",
    "load_population": "levguard.cascade.population",
    "save_population": "levguard.cascade.population",
    "path_for": "levguard.cascade.price_paths",
    "paths_for": "levguard.cascade.price_paths",
    "depth_multiplier_path": "levguard.cascade.price_paths",
    "market_paths_for": "levguard.cascade.market_paths",
    "market_path_for": "levguard.cascade.market_paths",
    "joint_bootstrap_paths": "levguard.cascade.market_paths",
    "factor_jump_paths": "levguard.cascade.market_paths",
    "user_market_paths": "levguard.cascade.market_paths",
    "fit_factor_jump": "levguard.cascade.market_paths",
    "FactorJumpModel": "levguard.cascade.market_paths",
    "simulate_market": "levguard.cascade.market",
    "run_replay": "levguard.cascade.replay",
    "ReplayResult": "levguard.cascade.replay",
    "load_replay_config": "levguard.cascade.replay_config",
    "calibrate_replay": "levguard.cascade.replay_calibrate",
    "contagion_report": "levguard.cascade.contagion",
    "ContagionReport": "levguard.cascade.contagion",
    "market_monte_carlo": "levguard.cascade.market_montecarlo",
    "MarketMonteCarloResult": "levguard.cascade.market_montecarlo",
    "calibrate_market": "levguard.cascade.market_montecarlo",
    "load_contagion_config": "levguard.cascade.contagion_config",
    "lending_pool_venue": "levguard.cascade.market_pools",
    "LendingPoolVenue": "levguard.cascade.market_pools",
    "lending_borrowers": "levguard.cascade.market_pools",
    "random_borrowers": "levguard.cascade.market_pools",
    "borrowers_from_positions": "levguard.cascade.market_pools",
    "MarketResult": "levguard.cascade.market",
    "MarketSpec": "levguard.cascade.market_settings",
    "MarketVenue": "levguard.cascade.market_settings",
    "MarketPopulation": "levguard.cascade.market_settings",
    "Arbitrage": "levguard.cascade.market_settings",
    "Market": "levguard.cascade.settings",
    "MarginRegime": "levguard.cascade.settings",
    "VenueSettings": "levguard.cascade.settings",
    "CascadeResult": "levguard.cascade.simulator",
    "MonteCarloResult": "levguard.cascade.montecarlo",
    "simulate_path": "levguard.cascade.simulator",
    "monte_carlo": "levguard.cascade.montecarlo",
    "calibrate": "levguard.cascade.montecarlo",
    "max_safe": "levguard.cascade.montecarlo",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
