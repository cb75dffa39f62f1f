"""Result records of the DeFi analytics: frozen dataclasses with ``to_dict()`` (JSON-ready).

Each record carries the exact contract-unit integers the engine found (``price``, ``amount``,
``health_factor_wad``) next to their human readings (floats in tokens or USD), and a ``reason``
when a value does not exist (no debt, not a collateral, target out of reach).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from levguard.core.records import JsonRecord

__all__ = ["AssetLine", "JointBoundary", "LiquidationPrice", "PositionReport", "TargetAmount"]


@dataclass(frozen=True, slots=True)
class LiquidationPrice(JsonRecord):
    """The price of one collateral at which the position becomes liquidatable, the others fixed.

    Attributes
    ----------
    symbol : str
        The collateral.
    price : int or None
        Contract units (Aave: USD with 8 decimals; Morpho: the 1e36-scaled oracle price): the
        smallest price with the position healthy (HF >= 1) at it and at every price above; one
        unit lower it is liquidatable.  None when no such price exists (see ``reason``).
    value : float or None
        ``price`` in ``unit``.
    current : float
        The price now, in ``unit``.
    change : float or None
        ``value / current - 1`` (``-0.25``: a 25 % fall liquidates).
    unit : str
        ``"USD"`` (Aave) or ``"<loan> per <collateral>"`` (Morpho).
    reason : str
        Why ``price`` is None ("" otherwise).
    """

    symbol: str
    price: int | None
    value: float | None
    current: float
    change: float | None
    unit: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TargetAmount(JsonRecord):
    """An amount that brings the position to a target health factor (or the most that keeps it).

    Attributes
    ----------
    action : str
        ``"repay"``, ``"supply"`` or ``"borrow"``.
    symbol : str
        The asset repaid, supplied or borrowed.
    amount : int or None
        Smallest units (repay, supply: the least amount reaching the target; borrow: the most
        that the protocol allows and keeps the target); None with ``reason`` when impossible.
    amount_tokens, amount_usd : float or None
        ``amount`` in whole tokens and its value (USD, or loan tokens for a Morpho market
        without a USD price).
    target_hf : float or None
        The target (None: the protocol's own limit alone, for ``borrow``).
    health_factor_after : float or None
        After the action (``inf`` without debt: None in JSON).
    health_factor_after_wad : int or None
        The same in wad, as the engine computes it.
    reason : str
        Why ``amount`` is None, or what bounds a borrow ("" otherwise).
    """

    action: str
    symbol: str
    amount: int | None
    amount_tokens: float | None
    amount_usd: float | None
    target_hf: float | None
    health_factor_after: float | None
    health_factor_after_wad: int | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AssetLine(JsonRecord):
    """One asset of a position in human units.

    Attributes
    ----------
    symbol : str
    price : float
        USD per token (Morpho collateral: loan tokens per token when no USD price is known).
    collateral, debt : float
        Whole tokens.
    collateral_value, debt_value : float
        In the report's ``value_unit``.
    ltv, lt : float or None
        The reserve's (or market's) loan to value and liquidation threshold as fractions.
    liquidation : LiquidationPrice or None
        For a collateral, its liquidation price with the others fixed.
    """

    symbol: str
    price: float
    collateral: float
    debt: float
    collateral_value: float
    debt_value: float
    ltv: float | None
    lt: float | None
    liquidation: LiquidationPrice | None


@dataclass(frozen=True, slots=True)
class PositionReport(JsonRecord):
    """Health, borrowing power, liquidation prices and target amounts of one DeFi position.

    Attributes
    ----------
    protocol, version, name : str
        ``"aave-v3"`` (version ``"3.0"`` - ``"3.3"``) or ``"morpho-blue"`` (version "").
    health_factor : float
        ``inf`` without debt (None in JSON).
    health_factor_wad : int
        Exact (Aave: ``getUserAccountData``; Morpho: ``wDivDown(maxBorrow, borrowed)``).
    liquidatable : bool
        HF < 1.
    collateral_value, debt_value, available_borrows : float
        In ``value_unit``; ``available_borrows`` is what the protocol would still lend (Aave:
        ``availableBorrowsBase``; Morpho: up to the LLTV).
    value_unit : str
        ``"USD"``, or the loan token of a Morpho market without a USD price.
    max_ltv, liquidation_threshold : float
        Aave: the collateral-weighted LTV and threshold; Morpho: the LLTV for both.
    current_ltv, leverage : float
        ``debt / collateral`` and ``collateral / (collateral - debt)`` (``inf`` at or below zero
        equity).
    assets : tuple of AssetLine
    target_hf : float or None
        The target the amounts below aim at.
    repay, supply, borrow : tuple of TargetAmount
        Least repayment per debt asset and least supply per collateral to reach ``target_hf``;
        the most each asset can be borrowed keeping ``target_hf`` (or the protocol's limit).
    exact : Mapping[str, int]
        The engine's integers (Aave: ``getUserAccountData``; Morpho: borrowed, max borrow,
        collateral value in loan units, oracle price, shares).
    """

    protocol: str
    version: str
    name: str
    health_factor: float
    health_factor_wad: int
    liquidatable: bool
    collateral_value: float
    debt_value: float
    available_borrows: float
    value_unit: str
    max_ltv: float
    liquidation_threshold: float
    current_ltv: float
    leverage: float
    assets: tuple[AssetLine, ...]
    target_hf: float | None
    repay: tuple[TargetAmount, ...]
    supply: tuple[TargetAmount, ...]
    borrow: tuple[TargetAmount, ...]
    exact: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class JointBoundary(JsonRecord):
    """Where two collaterals' prices together make the position liquidatable (Aave).

    For each price of ``x_symbol`` on a grid, the liquidation price of ``y_symbol`` with every
    other reserve fixed: the position is healthy above the curve and liquidatable below it.

    Attributes
    ----------
    x_symbol, y_symbol : str
    x_prices : tuple of int
        Grid of ``x`` prices (USD, 8 decimals).
    y_prices : tuple of int or None
        The ``y`` liquidation price at each (None where no ``y`` price helps, or where ``y`` is not
        needed: see ``reasons``).
    x_prices_usd, y_prices_usd : tuple of float or None
        The same in USD.
    reasons : tuple of str
        Per grid point, why ``y_prices`` is None ("" otherwise).
    """

    x_symbol: str
    y_symbol: str
    x_prices: tuple[int, ...]
    y_prices: tuple[int | None, ...]
    x_prices_usd: tuple[float, ...]
    y_prices_usd: tuple[float | None, ...]
    reasons: tuple[str, ...]
