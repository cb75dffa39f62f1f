"""Health factors and liquidation prices of many positions at once, in float64.

A thin re-export of :mod:`levguard.core.defi.fast` (kernels in :mod:`levguard.kernels.defi`):
screening millions of Aave-style accounts or Morpho-style positions in one pass; borderline
accounts are confirmed with the exact engines (:mod:`levguard.defi.aave`,
:mod:`levguard.defi.morpho`). See docs/defi.md, "Analytics at scale".
"""

from __future__ import annotations

from levguard.core.defi import fast as _core
from levguard.core.defi.fast import *  # noqa: F403  (the public names are the core module's __all__)

__all__ = list(_core.__all__)
