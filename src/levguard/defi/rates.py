"""Interest-rate models of the lending protocols, exact to the wei.

A thin re-export of :mod:`levguard.core.defi.irm` (Aave v3.0 to 3.4+ rate strategies and index
growth, Morpho Blue's AdaptiveCurveIrm, supply and borrow APY per protocol convention). See
docs/defi.md, "Interest-rate models".
"""

from __future__ import annotations

from levguard.core.defi import irm as _core
from levguard.core.defi.irm import *  # noqa: F403  (the public names are the core module's __all__)

__all__ = list(_core.__all__)
