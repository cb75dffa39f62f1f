"""Deprecated alias of :mod:`levguard.cascade` (the cascade simulator's package until 0.1.0).

``levguard.sim``, ``levguard.sim.engine`` (now :mod:`levguard.cascade.simulator`),
``levguard.sim.paths`` (now :mod:`levguard.cascade.price_paths`), ``levguard.sim.montecarlo``,
``levguard.sim.population`` and ``levguard.sim.settings`` still import, with a
``DeprecationWarning``, for one release (CHANGELOG.md lists the renames).
"""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from typing import Any

warnings.warn(
    "levguard.sim is deprecated: use levguard.cascade (sim.engine is cascade.simulator, sim.paths is "
    "cascade.price_paths)",
    DeprecationWarning,
    stacklevel=2,
)

_MOVED = {
    "engine": "levguard.cascade.simulator",
    "paths": "levguard.cascade.price_paths",
    "montecarlo": "levguard.cascade.montecarlo",
    "population": "levguard.cascade.population",
    "settings": "levguard.cascade.settings",
}
for _old, _new in _MOVED.items():
    sys.modules[f"{__name__}.{_old}"] = import_module(_new)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return sys.modules[f"{__name__}.{name}"]
    return getattr(import_module("levguard.cascade"), name)
