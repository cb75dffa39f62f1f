"""levguard: systematic leverage management for crypto derivatives.

The curated public API (re-exports only)::

    levguard.evaluate_account(spec) -> AccountReport
    levguard.margin.isolated_liquidation_prices(qty, entry_price, isolated_margin, tiers, venue)
    levguard.liquidation_outcome(venue, qty, entry_price, fill_price, margin) -> LiquidationOutcome

The facades are attributes imported on first use: ``levguard.risk``, ``levguard.backtest``,
``levguard.cascade``, ``levguard.sizing``, ``levguard.options``, ``levguard.defi``, ``levguard.data``,
``levguard.report``.
"""

from importlib import import_module
from typing import Any

from levguard.core.instruments import ContractKind, Instrument
from levguard.core.liquidation_outcome import LiquidationOutcome, liquidation_outcome
from levguard.core.margin import AccountReport, PositionReport, evaluate
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.rules import get_venue, venue_names
from levguard.core.rules.base import LiquidationRule
from levguard.core.tiers import Tier, TierTable
from levguard.errors import (
    ConfigError,
    DataError,
    InputError,
    LevguardError,
    VenueError,
    VenuePermanentError,
    VenueRetryableError,
)
from levguard.margin import evaluate_account, isolated_liquidation_prices, load_tiers

__version__ = "0.1.0"

# The facades are attributes of the package (``import levguard; levguard.risk.realized_vol``),
# imported on first access so that ``import levguard`` stays light (no pandas, no numba).
_SUBPACKAGES = frozenset(
    {
        "backtest",
        "config",
        "data",
        "defi",
        "live",
        "margin",
        "options",
        "report",
        "risk",
        "cascade",
        "sim",
        "sizing",
        "venues",
    }
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        module = import_module(f"levguard.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'levguard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)


__all__ = [
    "Account",
    "AccountReport",
    "ConfigError",
    "ContractKind",
    "DataError",
    "InputError",
    "Instrument",
    "LevguardError",
    "LiquidationOutcome",
    "LiquidationRule",
    "MarginMode",
    "Position",
    "PositionReport",
    "Tier",
    "TierTable",
    "VenueError",
    "VenuePermanentError",
    "VenueRetryableError",
    "__version__",
    "evaluate",
    "evaluate_account",
    "get_venue",
    "isolated_liquidation_prices",
    "liquidation_outcome",
    "load_tiers",
    "venue_names",
]
