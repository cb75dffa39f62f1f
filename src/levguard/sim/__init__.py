"""L3: cascading-liquidation simulation: many leveraged accounts on one venue with finite depth,
liquidations feeding back into price, the insurance fund and auto-deleveraging; Monte Carlo and
calibration of the venue's margin parameters (locally or on Dask).  See docs/cascade.md.

* Inputs: :class:`Population` and :func:`population_from_distribution` (:mod:`levguard.sim.population`),
  exogenous price paths (:mod:`levguard.sim.paths`).
* The model's settings: :class:`Market`, :class:`MarginRegime`, :class:`VenueSettings`
  (:mod:`levguard.sim.settings`).
* One path: :func:`simulate_path` (:mod:`levguard.sim.engine`); many: :func:`monte_carlo`,
  :func:`calibrate`, :func:`max_safe` (:mod:`levguard.sim.montecarlo`).

The names below are imported on first use.
"""

from __future__ import annotations

from levguard.lazy import lazy_getattr

_EXPORTS: dict[str, str] = {
    "Population": "levguard.sim.population",
    "population_from_distribution": "levguard.sim.population",
    "load_population": "levguard.sim.population",
    "save_population": "levguard.sim.population",
    "path_for": "levguard.sim.paths",
    "paths_for": "levguard.sim.paths",
    "depth_multiplier_path": "levguard.sim.paths",
    "Market": "levguard.sim.settings",
    "MarginRegime": "levguard.sim.settings",
    "VenueSettings": "levguard.sim.settings",
    "CascadeResult": "levguard.sim.engine",
    "MonteCarloResult": "levguard.sim.montecarlo",
    "simulate_path": "levguard.sim.engine",
    "monte_carlo": "levguard.sim.montecarlo",
    "calibrate": "levguard.sim.montecarlo",
    "max_safe": "levguard.sim.montecarlo",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
