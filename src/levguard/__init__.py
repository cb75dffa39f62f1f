"""levguard: systematic leverage management for crypto derivatives.

The curated public API (re-exports only)::

    levguard.evaluate_account(spec) -> AccountReport
    levguard.margin.isolated_liquidation_prices(qty, entry_price, isolated_margin, tiers, venue)
"""

from levguard.core.instruments import ContractKind, Instrument
from levguard.core.margin import AccountReport, PositionReport, evaluate
from levguard.core.positions import Account, MarginMode, Position
from levguard.core.rules import get_venue, venue_names
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
    "load_tiers",
    "venue_names",
]
