"""Positions and accounts: signed quantities, margin modes, wallet balance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from levguard.core.instruments import Instrument
from levguard.core.records import empty_mapping
from levguard.core.symbols import coin_name, contract_key
from levguard.core.tiers import TierTable
from levguard.core.validate import finite, non_negative, positive, show
from levguard.errors import InputError

__all__ = ["Account", "MarginMode", "Position"]


class MarginMode(StrEnum):
    """Isolated: the position draws only on its own margin.  Cross: on the shared wallet."""

    CROSS = "cross"
    ISOLATED = "isolated"


@dataclass(frozen=True)
class Position:
    """One open position (one-way mode: at most one per symbol and account).

    Parameters
    ----------
    instrument : Instrument
        The contract.
    qty : float
        Signed size in contracts: > 0 long, < 0 short.
    entry_price, mark_price : float
        Average entry price and current mark price (quote per base).
    margin_mode : MarginMode
        Cross or isolated.
    leverage : float or None
        Chosen initial leverage; None lets the venue model pick (see ``docs/margin.md``).
    isolated_margin : float or None
        Margin posted to an isolated position (initial + added, settlement currency).
    tiers : TierTable or None
        Tier table overriding the venue's built-in one.
    taker_fee_rate : float or None
        Taker fee as a fraction, for venues whose liquidation includes the fee to close.
    imr : float or None
        Initial margin rate overriding ``1 / leverage`` (generic, Deribit- and dYdX-style).
    params : Mapping[str, float]
        Venue-specific extras (e.g. dYdX ``open_interest``, Deribit size coefficients).
    spec_index : int or None
        The position's index in the spec it was read from (errors name it: an empty ccxt
        position skipped before it shifts it from the index in :attr:`Account.positions`);
        None: its index there.  Not part of equality.
    """

    instrument: Instrument
    qty: float
    entry_price: float
    mark_price: float
    margin_mode: MarginMode = MarginMode.CROSS
    leverage: float | None = None
    isolated_margin: float | None = None
    tiers: TierTable | None = None
    taker_fee_rate: float | None = None
    imr: float | None = None
    params: Mapping[str, float] = field(default_factory=empty_mapping)
    spec_index: int | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.instrument, Instrument):  # None.symbol was a raw AttributeError
            raise InputError(
                f"instrument must be an Instrument, was {type(self.instrument).__name__} {show(self.instrument)}"
            )
        sym = self.instrument.symbol
        if self.tiers is not None and not isinstance(self.tiers, TierTable):
            raise InputError(f"{sym}.tiers must be a TierTable or None, was {show(self.tiers)}")
        if not isinstance(self.margin_mode, MarginMode):
            try:
                object.__setattr__(self, "margin_mode", MarginMode(str(self.margin_mode).lower()))
            except ValueError:
                raise InputError(f"{sym}.margin_mode must be cross or isolated, was {show(self.margin_mode)}") from None
        finite(self.qty, f"{sym}.qty")
        if self.qty == 0.0:
            raise InputError(f"{sym}.qty must be non-zero (signed: > 0 long, < 0 short), was 0")
        positive(self.entry_price, f"{sym}.entry_price")
        positive(self.mark_price, f"{sym}.mark_price")
        if self.leverage is not None:
            positive(self.leverage, f"{sym}.leverage")
        if self.isolated_margin is not None:
            positive(self.isolated_margin, f"{sym}.isolated_margin")
        if self.taker_fee_rate is not None:
            non_negative(self.taker_fee_rate, f"{sym}.taker_fee_rate")
            if self.taker_fee_rate >= 0.1:
                raise InputError(f"{sym}.taker_fee_rate must be a fraction below 0.1, was {self.taker_fee_rate!r}")
        if self.imr is not None:
            positive(self.imr, f"{sym}.imr")
            if self.imr > 1.0:
                raise InputError(f"{sym}.imr must be a fraction <= 1, was {self.imr!r}")
        for key, value in self.params.items():
            finite(value, f"{sym}.{key}")

    @property
    def symbol(self) -> str:
        """The instrument's symbol."""
        return self.instrument.symbol

    @property
    def side(self) -> int:
        """+1 long, -1 short (derived from the sign of ``qty``)."""
        return 1 if self.qty > 0 else -1

    @property
    def q(self) -> float:
        """Signed size in base units (linear) or quote units (inverse): qty x contract size."""
        return self.qty * self.instrument.contract_size

    @property
    def isolated(self) -> bool:
        """True in isolated margin mode."""
        return self.margin_mode is MarginMode.ISOLATED


def spec_place(p: Position, i: int) -> int:
    """The index errors name for position ``p``, ``i``-th of its account: its
    :attr:`Position.spec_index` when it has one, else ``i``."""
    return i if p.spec_index is None else p.spec_index


def duplicate_message(where: str, symbol: str, first: str) -> str:
    """The error of a position whose contract (:func:`~levguard.core.symbols.contract_key`) an
    earlier position, spelt ``first``, already holds: one-way mode, hedge mode not modelled."""
    same = "appears twice" if symbol == first else f"is the contract of {show(first)} again"
    return (
        f"{where}.symbol {show(symbol)} {same}; one-way mode holds one position per symbol (a long and a short "
        "of one contract are hedge mode, not modelled)"
    )


@dataclass(frozen=True)
class Account:
    """A margin account on one venue.

    Parameters
    ----------
    venue : str
        Rule-set name (see :func:`levguard.core.rules.venue_names`).
    wallet_balance : float
        Cross wallet balance in the settlement currency (realised, excluding isolated margin).
    positions : tuple of Position
        Open positions, at most one per symbol.
    """

    venue: str
    wallet_balance: float
    positions: tuple[Position, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.venue, str):  # venue=1 was accepted and failed later in get_venue
            raise InputError(f"venue must be a rule-set name (str), was {show(self.venue)}")
        non_negative(self.wallet_balance, "wallet_balance")
        seen: dict[str, str] = {}  # contract key -> its first spelling
        settlements = {coin_name(p.instrument.settlement) for p in self.positions}  # XBT is BTC
        if len(settlements) > 1:
            raise InputError(
                f"positions settle in {', '.join(sorted(settlements))}; an account holds one settlement "
                "currency (split coin-margined positions into one account per coin)"
            )
        for i, p in enumerate(self.positions):
            key = contract_key(p.symbol)
            if key in seen:
                raise InputError(duplicate_message(f"positions[{spec_place(p, i)}]", p.symbol, seen[key]))
            seen[key] = p.symbol
