"""The shape every venue rule set fills in: a small, frozen description of its margin model.

A venue's liquidation arithmetic differs from another's in a few switches only, so one
evaluator (:mod:`levguard.core.margin`) serves them all:

* where maintenance margin is valued: at the price being tested (Binance, Hyperliquid, OKX,
  Gate, dYdX, Deribit, generic) or at the entry notional (Bybit, BitMEX);
* whether the taker fee to close is part of the maintenance requirement (OKX, Gate) or of the
  bankruptcy price (Bybit inverse);
* where tiers come from: built-in snapshots, or rates computed from the position (Deribit's
  size-scaled rates, dYdX's liquidity tiers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from levguard.core.instruments import ContractKind
from levguard.core.positions import Position
from levguard.core.tiers import TierTable


class MMBasis(StrEnum):
    """Where a venue values maintenance margin when testing a liquidation price."""

    PRICE = "price"
    ENTRY = "entry"


@dataclass(frozen=True, slots=True)
class Rates:
    """Initial and maintenance rates computed from a position (rate-based venues)."""

    imr: float
    mmr: float
    source: str


def symbol_key(symbol: str) -> str:
    """Normalise a venue or ccxt symbol: ``"BTC/USDT:USDT"`` -> ``"BTCUSDT"``, upper case."""
    s = symbol.strip().upper()
    if ":" in s:
        s = s.split(":", 1)[0]
    return s.replace("/", "").replace("-", "").replace("_", "")


def _no_rates(position: Position) -> Rates | None:
    del position
    return None


def _unit_size(symbol: str) -> float:
    del symbol
    return 1.0


def _empty_tiers() -> Mapping[str, TierTable]:
    return MappingProxyType({})


@dataclass(frozen=True)
class VenueModel:
    """A venue's margin model.

    Parameters
    ----------
    name : str
        Rule-set name used in account specs (``"binance-usdm"``).
    title : str
        Human-readable name.
    kind : ContractKind
        Default contract kind.
    settlement : str
        Default settlement currency.
    source : str
        Documentation the model follows.
    mm_basis : MMBasis
        Where maintenance margin is valued when solving the liquidation price.
    fee_in_mm : bool
        Add the taker fee rate to the maintenance rate (OKX, Gate).
    bankruptcy_close_fee : bool
        Include the fee to close at the bankruptcy price in the bankruptcy price and in the
        maintenance requirement (Bybit inverse).
    default_taker_fee : float
        Taker fee rate used when a position does not give one.
    builtin_tiers : Mapping[str, TierTable]
        Packaged tier snapshots keyed by :func:`symbol_key`.
    rates : callable
        For rate-based venues, the position's (imr, mmr); None otherwise.
    contract_size : callable
        Default contract size for a symbol.
    tier_key : callable
        Key of a symbol in ``builtin_tiers``.
    rate_based : bool
        Rates come from ``rates`` (a spec's ``mmr`` is a base rate, not a fixed tier).
    """

    name: str
    title: str
    kind: ContractKind
    settlement: str
    source: str
    mm_basis: MMBasis = MMBasis.PRICE
    fee_in_mm: bool = False
    bankruptcy_close_fee: bool = False
    default_taker_fee: float = 0.0
    builtin_tiers: Mapping[str, TierTable] = field(default_factory=_empty_tiers)
    rates: Callable[[Position], Rates | None] = _no_rates
    contract_size: Callable[[str], float] = _unit_size
    tier_key: Callable[[str], str] = symbol_key
    rate_based: bool = False

    def taker_fee(self, position: Position) -> float:
        """Return the position's taker fee rate, or the venue default."""
        if position.taker_fee_rate is not None:
            return position.taker_fee_rate
        return self.default_taker_fee
