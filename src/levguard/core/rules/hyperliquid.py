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
* Liquidation process: market orders for the full position go to the book, with no clearance
  fee, and any remaining collateral stays with the trader; liquidatable positions above 100k
  USDC (10k on testnet) send 20 % of the position, and during the 30 s after a partial
  liquidation orders are for the whole position.  When the equity falls below 2/3 of the
  maintenance margin without a successful book liquidation, the liquidator vault takes over
  (cross: every cross position and the cross margin; isolated: that position and its margin) and
  the maintenance margin is not returned.  The liquidation price does not depend on this; the
  outcome is :data:`LIQUIDATION`.
* Minimum order value 10 USDC (third-party API guides; not on the liquidation page).
"""

from __future__ import annotations

from types import MappingProxyType

from levguard.core.instruments import ContractKind
from levguard.core.rules.base import LiquidationRule, SymbolConstant, VenueModel
from levguard.core.symbols import base_asset
from levguard.core.tiers import TierTable
from levguard.core.validate import positive

TIER_SOURCE = (
    "hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers, 'Mainnet Margin Tiers' "
    "(read 2026-12-07; the page states no date)"
)

# The page's two 10x groups, in its order and spelling ("kPEPE" is keyed "KPEPE", coin_key).
_GROUP_10X_20M = (
    "DOGE", "kPEPE", "SUI", "WLD", "TRUMP", "LTC", "ENA", "POPCAT", "WIF", "AAVE", "kBONK",
    "LINK", "CRV", "AVAX", "ADA", "UNI", "NEAR", "TIA", "APT", "BCH", "HYPE", "FARTCOIN",
)  # fmt: skip
_GROUP_10X_3M = ("OP", "ARB", "LDO", "TON", "MKR", "ONDO", "JUP", "INJ", "kSHIB", "SEI", "TRX", "BNB", "DOT")


def coin_key(symbol: str) -> str:
    """Return the coin of a Hyperliquid or ccxt symbol: ``"BTC/USDC:USDC"`` -> ``"BTC"``."""
    return base_asset(symbol, quotes=("USDC", "USD"))


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
        out[coin_key(coin)] = _tiers(20e6, 10, 5)
    for coin in _GROUP_10X_3M:
        out[coin_key(coin)] = _tiers(3e6, 10, 5)
    return out


BUILTIN_TIERS = MappingProxyType(_builtin())


def single_tier(max_leverage: float, *, source: str = "") -> TierTable:
    """Return the one tier of a coin without a margin table: ``mmr = 1 / (2 max_leverage)``.

    Notes
    -----
    hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers lists the coins whose max
    leverage falls with the position (:data:`BUILTIN_TIERS`) and says a margin table id below
    50 is one tier at max leverage = the id; the maintenance margin is half the initial margin
    at it (/trading/liquidations).  A coin whose table levguard did not read gets one tier at
    its ``maxLeverage`` only as an assumption
    (:func:`levguard.venues.ccxt_margin_tables.hyperliquid_tiers`).
    """
    return TierTable.from_max_leverage(((0.0, positive(max_leverage, "max_leverage")),), source=source)


LIQUIDATION = LiquidationRule(
    kind="book",
    fee_rate=0.0,
    partial="slice",
    fraction=0.2,
    min_notional=100_000.0,
    backstop=2.0 / 3.0,
    partial_cooldown_s=30.0,
    source="hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations",
    keeps=(
        "the equity left at the fill (no clearance fee); nothing when the equity is below 2/3 of the "
        "maintenance margin (backstop liquidation by the liquidator vault)"
    ),
    modelled=(
        "20 % slices above 100k USDC, the whole position within the same bar after a slice (the 30 s "
        "cool-down); backstop tested at the fill; cross backstop takes every cross position"
    ),
)
"""Hyperliquid: book liquidation (remainder kept), 20 % slices above 100k USDC, backstop below 2/3 MM."""


HYPERLIQUID = VenueModel(
    name="hyperliquid",
    title="Hyperliquid perpetuals",
    kind=ContractKind.LINEAR,
    settlement="USDC",
    source="hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations",
    builtin_tiers=BUILTIN_TIERS,
    tier_key=coin_key,
    strict_trigger=True,
    liquidation=LIQUIDATION,
    min_notional=SymbolConstant(10.0),
    min_notional_source="minimum order value 10 USDC (third-party Hyperliquid API guides)",
    funding_interval_hours=1.0,  # "funding is paid every hour": hyperliquid-docs/trading/funding
    inverse_refusal="Hyperliquid lists USDC-margined perpetuals only",
    settlements=("USDC",),
)
