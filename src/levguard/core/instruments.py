"""Contracts: linear (quote-settled) and inverse (coin-settled) perpetuals and futures."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from levguard.core.validate import positive
from levguard.errors import InputError


class ContractKind(StrEnum):
    """How a contract settles.

    LINEAR: PnL and margin in the quote currency; ``contract_size`` is base units per contract.
    INVERSE: PnL and margin in the base coin; ``contract_size`` is quote units (e.g. USD) per
    contract (Binance COIN-M BTCUSD_PERP: 100 USD).
    """

    LINEAR = "linear"
    INVERSE = "inverse"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A perpetual or future.

    Parameters
    ----------
    symbol : str
        Venue symbol, e.g. ``"BTCUSDT"``.
    kind : ContractKind
        Linear or inverse.
    contract_size : float
        Base units per contract (linear) or quote units per contract (inverse).
    settlement : str
        Settlement (margin) currency, e.g. ``"USDT"`` or ``"BTC"``.
    """

    symbol: str
    kind: ContractKind = ContractKind.LINEAR
    contract_size: float = 1.0
    settlement: str = "USDT"

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise InputError(f"symbol must be a non-empty string, was {self.symbol!r}")
        positive(self.contract_size, "contract_size")
        if not isinstance(self.settlement, str):  # settlement=1 was accepted as a currency
            raise InputError(f"settlement must be a currency name (str), was {self.settlement!r}")
        if not isinstance(self.kind, ContractKind):
            try:
                object.__setattr__(self, "kind", ContractKind(str(self.kind).lower()))
            except ValueError:
                raise InputError(f"contract kind must be linear or inverse, was {self.kind!r}") from None

    @property
    def inverse(self) -> bool:
        """True for coin-settled (inverse) contracts."""
        return self.kind is ContractKind.INVERSE
