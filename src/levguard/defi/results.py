"""Result records of the DeFi analytics: frozen dataclasses with ``to_dict()`` (JSON-ready).

Each record carries the exact contract-unit integers the engine found (``price``, ``amount``,
``health_factor_wad``) next to their human readings (floats in tokens or USD), and a ``reason``
when a value does not exist (no debt, not a collateral, target out of reach).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from levguard.core.records import JsonRecord

__all__ = [
    "AssetLine",
    "JointBoundary",
    "LiquidationPrice",
    "LoopRates",
    "OraclePriceLine",
    "PositionReport",
    "PositionValuation",
    "TargetAmount",
]


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


@dataclass(frozen=True, slots=True)
class LoopRates(JsonRecord):
    """The rates of a looped position and its net APY on equity (:mod:`levguard.defi.loop_rates`).

    Attributes
    ----------
    rate_source : str
        ``"irm"``: both rates from the protocol's interest-rate model at the loop's end state;
        ``"input"``: both given (``supply_rate``, ``borrow_rate``); ``"mixed"``: one given (it wins
        over the model), the other from the model.
    supply_apy : float
        The collateral's supply APY (Aave: the collateral reserve's liquidity rate compounded per
        second; Morpho: 0, collateral is not lent), or the given ``supply_rate``.
    borrow_apy : float
        The debt's borrow APY, or the given ``borrow_rate``.
    staking_yield : float
        Yearly yield of the collateral token itself (given), added to ``supply_apy``.
    net_apy : float or None
        ``(C (supply_apy + staking_yield) - D borrow_apy) / E`` at the end, ``C`` and ``D`` the
        looped collateral and debt, ``E`` the account's equity (None at ``E <= 0``).
    supply_apy_before, borrow_apy_before : float or None
        The model's APYs before the loop moved the utilisation (None for a given rate).
    lender_apy : float or None
        The debt asset's suppliers' APY after the loop (Aave: the debt reserve's liquidity rate;
        Morpho: ``borrowAPY * utilization * (1 - fee)``); None for a given borrow rate.
    debt_utilization, debt_utilization_before : float or None
        After and before the loop: the debt reserve's borrow usage ratio (Aave) or the market's
        utilisation (Morpho).
    collateral_utilization : float or None
        Aave: the collateral reserve's supply usage ratio after the loop's supplies.
    rate_unit : str
        Unit of the rates in ``exact``: ``"ray_per_year"`` (Aave), ``"wad_per_second"`` (Morpho),
        ``""`` without a model.
    exact : Mapping[str, int]
        The contract's rates and the end state they come from (Aave: ``borrow_rate``,
        ``supply_rate``, the debt reserve's ``debt_total_debt``, ``debt_available_liquidity``,
        ``debt_borrow_usage_ratio``, ``debt_liquidity_rate``, the collateral reserve's
        ``collateral_available_liquidity``, ``collateral_supply_usage_ratio``; Morpho:
        ``borrow_rate``, ``utilization``, ``rate_at_target``, ``fee``).
    other_collateral_value, other_debt_value : float
        The account's collateral and debt besides the looped reserves (oracle units: USD on
        Aave; 0 on a Morpho market), counted at 0 % in ``net_apy``: their rates are not given.
    """

    rate_source: str
    supply_apy: float
    borrow_apy: float
    staking_yield: float
    net_apy: float | None
    supply_apy_before: float | None
    borrow_apy_before: float | None
    lender_apy: float | None
    debt_utilization: float | None
    debt_utilization_before: float | None
    collateral_utilization: float | None
    rate_unit: str
    exact: Mapping[str, int]
    other_collateral_value: float = 0.0
    other_debt_value: float = 0.0


@dataclass(frozen=True, slots=True)
class OraclePriceLine(JsonRecord):
    """One asset priced by the protocol's oracle and by the market (:mod:`levguard.defi.valuation`).

    Attributes
    ----------
    symbol : str
    source : str
        ``"feed"`` (a Chainlink-style answer), ``"capo"`` (Aave's CAPO adapter for an LST over its
        base feed), ``"capo_stable"`` (Aave's stablecoin CAPO) or ``"spec"`` (no reading given:
        the spec's price is both).
    amount : float
        Signed whole tokens: collateral positive, debt negative.
    answer : int or None
        The feed's answer (contract units, the feed's decimals).
    price : int or None
        What the protocol reads, in its units (Aave: USD with 8 decimals after the adapter and the
        fallback; Morpho: the feed's answer); None when the read reverts.
    oracle_price, market_price : float or None
        Per whole token (``price / 10**decimals``; the market price given, or the oracle's).
    gap : float or None
        ``oracle_price / market_price - 1`` (< 0: the protocol prices the token below the market).
    outcome : str
        ``"answer"``, ``"fallback"`` (Aave's fallback oracle priced it), ``"revert"`` (no price)
        or ``"spec"``.
    reason : str
        Why the answer was not used ("" when it was).
    failures : tuple of str
        The consumer checks that fail (``"non_positive_answer"``, ``"incomplete_round"``,
        ``"stale"``), which the protocol does not apply.
    age, heartbeat : int or None
        Seconds since ``updated_at``, and the feed's heartbeat.
    detail : str
        The failing values in words.
    capped : bool or None
        CAPO: the cap binds (``isCapped``).
    cap_headroom : float or None
        CAPO: ``max_ratio / ratio - 1`` (LST) or ``price_cap / answer - 1`` (stablecoin); < 0 when
        capped.
    oracle_value, market_value : float or None
        ``amount * price`` at each price.
    """

    symbol: str
    source: str
    amount: float
    answer: int | None
    price: int | None
    oracle_price: float | None
    market_price: float | None
    gap: float | None
    outcome: str
    reason: str
    failures: tuple[str, ...]
    age: int | None
    heartbeat: int | None
    detail: str
    capped: bool | None
    cap_headroom: float | None
    oracle_value: float | None
    market_value: float | None


@dataclass(frozen=True, slots=True)
class PositionValuation(JsonRecord):
    """A position valued at its protocol's oracle prices beside the market's.

    Attributes
    ----------
    protocol : str
    policy : str
        The read policy applied: ``"aave"`` (AaveOracle: answer <= 0 goes to the fallback) or
        ``"morpho"`` (ChainlinkDataFeedLib: a negative answer reverts, 0 passes).
    block_timestamp : int
        "Now" of the readings, Unix seconds.
    value_unit : str
    assets : tuple of OraclePriceLine
    health_factor_oracle : float or None
        The protocol's health factor at the oracle prices (None when a read reverts).
    health_factor_oracle_wad : int or None
    health_factor_market, health_factor_market_wad : float, int
        The health factor with the market prices in place of the oracle's.
    health_factor_gap : float or None
        ``health_factor_oracle / health_factor_market - 1``.
    oracle_value, market_value : float or None
        Net value (collateral minus debt) at each price.
    value_gap, gap : float or None
        ``oracle_value - market_value`` and the relative equity gap
        (:func:`levguard.defi.oracles.value_at_oracle`); None when a price is missing or 0.
    failures : tuple of str
        ``"SYMBOL: check"`` for every failed feed check.
    reason : str
        Why ``health_factor_oracle`` is None ("" otherwise).
    exact : Mapping[str, int]
        Morpho: ``oracle_price`` (the oracle's 1e36-scaled price) and ``market_oracle_price`` (the
        market prices in the same scale); Aave: the price used per symbol (8 decimals).
    """

    protocol: str
    policy: str
    block_timestamp: int
    value_unit: str
    assets: tuple[OraclePriceLine, ...]
    health_factor_oracle: float | None
    health_factor_oracle_wad: int | None
    health_factor_market: float
    health_factor_market_wad: int
    health_factor_gap: float | None
    oracle_value: float | None
    market_value: float | None
    value_gap: float | None
    gap: float | None
    failures: tuple[str, ...]
    reason: str
    exact: Mapping[str, int]
