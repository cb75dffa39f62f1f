"""Health factors and liquidation prices of many positions at once, in float64.

A thin re-export of :mod:`levguard.core.defi.fast` (kernels in :mod:`levguard.kernels.defi`):
screening millions of Aave-style accounts or Morpho-style positions in one pass; borderline
accounts are confirmed with the exact engines (:mod:`levguard.defi.aave`,
:mod:`levguard.defi.morpho`). See docs/defi.md, "Analytics at scale".
"""

from __future__ import annotations

from levguard.core.defi.fast import (
    NUMBA_MIN_POSITIONS,
    AaveAccountArrays,
    MorphoPositionArrays,
    aave_account_arrays,
    aave_liquidation_prices,
    morpho_position_arrays,
)

__all__ = [
    "NUMBA_MIN_POSITIONS",
    "AaveAccountArrays",
    "MorphoPositionArrays",
    "aave_account_arrays",
    "aave_liquidation_prices",
    "morpho_position_arrays",
]
