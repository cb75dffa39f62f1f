"""levguard: systematic leverage management for crypto derivatives.

The curated public API (re-exports only)::

    levguard.evaluate_account(spec) -> AccountReport
    levguard.margin.isolated_liquidation_prices(qty, entry_price, isolated_margin, tiers, venue)
    levguard.liquidation_outcome(venue, qty, entry_price, fill_price, margin) -> LiquidationOutcome
"""

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
