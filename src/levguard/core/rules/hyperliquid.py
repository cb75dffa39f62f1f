"""Hyperliquid perpetuals: margin tiers with MM = half the initial margin at max leverage.

Sources
-------
hyperliquid.gitbook.io/hyperliquid-docs/trading/{liquidations, margin-tiers}:

* ``mmr(tier) = 1 / (2 * max_leverage(tier))``; ``MM = notional * mmr - maintenance_deduction``
  with the continuity rule for the deduction; for tiered assets the tier at the liquidation
  price applies.
* ``liq = price - side * margin_available / position_size / (1 - l * side)``, ``l = mmr``,
  ``margin_available = account_value - MM`` (cross) or ``isolated_margin - MM`` (isolated).
  This is algebraically the root of ``collateral + uPnL(P) = MM(P)``, which is what the shared
  solver computes; in cross mode the result does not depend on the chosen leverage.
* No clearance fee; positions above 100k USDC are liquidated 20 % at a time (a process, not a price: for the
  cascade simulator, not this price model).
"""

from __future__ import annotations

from types import MappingProxyType

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import VenueModel
from levguard.core.tiers import TierTable

TIER_SOURCE = (
    "hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers (mainnet table as read for "
    "levguard's reference notes, 2026; the page states no date)"
)

_GROUP_10X_20M = ("DOGE", "SUI", "AAVE", "LINK", "AVAX", "HYPE")
_GROUP_10X_3M = ("OP", "ARB", "BNB", "DOT")


def _tiers(cap: float, low: float, high: float) -> TierTable:
    return TierTable.from_max_leverage(((0.0, low), (cap, high)), source=TIER_SOURCE)


def _builtin() -> dict[str, TierTable]:
    out = {
        "BTC": _tiers(150e6, 40, 20),
        "ETH": _tiers(100e6, 25, 15),
        "SOL": _tiers(70e6, 20, 10),
        "XRP": _tiers(40e6, 20, 10),
    }
    for coin in _GROUP_10X_20M:
        out[coin] = _tiers(20e6, 10, 5)
    for coin in _GROUP_10X_3M:
        out[coin] = _tiers(3e6, 10, 5)
    return out


BUILTIN_TIERS = MappingProxyType(_builtin())


def coin_key(symbol: str) -> str:
    """Return the coin of a Hyperliquid or ccxt symbol: ``"BTC/USDC:USDC"`` -> ``"BTC"``."""
    s = symbol.strip().upper().split(":")[0].split("/")[0].split("-")[0]
    for suffix in ("USDC", "USD"):
        if s.endswith(suffix) and len(s) > len(suffix):
            return s[: -len(suffix)]
    return s


HYPERLIQUID = VenueModel(
    name="hyperliquid",
    title="Hyperliquid perpetuals",
    kind=ContractKind.LINEAR,
    settlement="USDC",
    source="hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations",
    builtin_tiers=BUILTIN_TIERS,
    tier_key=coin_key,
)
