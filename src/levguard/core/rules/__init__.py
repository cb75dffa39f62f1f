"""Venue rule sets: one frozen :class:`VenueModel` per venue, each citing its source."""

from __future__ import annotations

from types import MappingProxyType

from levguard.core.rules.base import MMBasis, Rates, VenueModel, symbol_key
from levguard.core.rules.binance import COINM, USDM
from levguard.core.rules.bitmex import BITMEX
from levguard.core.rules.bybit import INVERSE as BYBIT_INVERSE
from levguard.core.rules.bybit import LINEAR as BYBIT_LINEAR
from levguard.core.rules.deribit import DERIBIT
from levguard.core.rules.dydx import DYDX
from levguard.core.rules.gate import GATE
from levguard.core.rules.generic import GENERIC
from levguard.core.rules.hyperliquid import HYPERLIQUID
from levguard.core.rules.okx import OKX
from levguard.core.validate import show
from levguard.errors import InputError

__all__ = ["MMBasis", "Rates", "VenueModel", "get_venue", "symbol_key", "venue_names"]

VENUES = MappingProxyType(
    {
        m.name: m
        for m in (
            USDM,
            COINM,
            BYBIT_LINEAR,
            BYBIT_INVERSE,
            OKX,
            GATE,
            HYPERLIQUID,
            DYDX,
            DERIBIT,
            BITMEX,
            GENERIC,
        )
    }
)


def venue_names() -> list[str]:
    """Return the rule-set names accepted in account specs."""
    return list(VENUES)


def get_venue(name: str) -> VenueModel:
    """Return the venue model called ``name`` or raise InputError listing the valid names."""
    if not isinstance(name, str) or name.strip().lower() not in VENUES:
        raise InputError(f"venue must be one of {', '.join(VENUES)}, was {show(name)}")
    return VENUES[name.strip().lower()]
