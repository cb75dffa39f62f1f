"""A leverage loop's rates from the protocols' own interest-rate models, after the loop.

A position spec may carry an ``irm:`` section with the reserve (Aave v3) or market (Morpho Blue)
state the protocol's rate model needs.  :func:`loop_rates` prices the loop's end state: the borrow
rate of the debt after the loop's own borrows and the supply rate of the collateral after its own
supplies, each moving the utilisation as the contract would, and the net APY on equity.

Aave v3 (one entry per reserve, keyed by symbol; the rate form follows the position's
``version``: 3.0's ``DefaultReserveInterestRateStrategy``, 3.1+'s ``...StrategyV2`` in bps)::

    irm:
      WETH:                              # the debt reserve: its variable borrow rate
        optimal_usage_ratio: 0.9         # fractions (3.1+: whole bps; 3.0: ray precision)
        base_variable_borrow_rate: 0
        variable_rate_slope1: 0.027
        variable_rate_slope2: 0.8
        reserve_factor: 0.15
        total_debt: 2500000              # tokens: the reserve's whole debt, this position's included
        available_liquidity: 300000      # tokens it can still lend (3.1+: its virtual balance)
      wstETH: {...}                      # the collateral reserve: its liquidity (supply) rate

Morpho Blue (the market's totals come from the spec's ``market``)::

    irm:
      rate_at_target: 0.04               # AdaptiveCurveIrm's rateAtTarget as a yearly rate ...
      # rate_at_target_per_second: 1268391679  ... or the stored integer (WAD a second)
      fee: 0.1                           # the market's fee (the lenders' APY; default 0)

Notes
-----
Aave: a borrow of ``b`` (``BorrowLogic.executeBorrow``) and a supply of ``s``
(``SupplyLogic.executeSupply``) end in ``ReserveLogic.updateInterestRatesAndVirtualBalance``, which
calls the strategy's ``calculateInterestRates`` with the reserve's total debt after the action and
its liquidity before it plus ``liquidityAdded`` minus ``liquidityTaken``.  After the whole loop
the debt reserve holds ``D + sum b`` of debt and ``A - sum b`` of liquidity and the collateral
reserve ``A_c + sum s`` of liquidity: the rates are those of
:func:`levguard.defi.rates.calculate_interest_rates` (3.0) or
:func:`~levguard.defi.rates.calculate_interest_rates_v2` (3.1+) on that state (aave-dao/aave-v3-origin
v3.3.0 5431379f, ``BorrowLogic.sol``, ``SupplyLogic.sol``, ``ReserveLogic.sol``; aave-v3-core
v3.0.2 782f5191 ``updateInterestRates``).  Stable debt is taken as zero.

Morpho: the borrow rate is ``AdaptiveCurveIrm.borrowRateView`` of the market after the loop's
borrows with no time elapsed, i.e. ``curve(rateAtTarget, err(u))``
(:func:`levguard.defi.rates.adaptive_curve_borrow_rate`); collateral is not lent in Morpho Blue
(``Morpho.supplyCollateral`` only credits ``position.collateral``), so it earns no supply rate.

APYs use each protocol's compounding (:func:`levguard.defi.rates.borrow_apy`,
:func:`~levguard.defi.rates.supply_apy`).  The net APY on equity ``E = C - D`` is
``(C (supply_apy + staking_yield) - D borrow_apy) / E``, the staking yield of the collateral
(wstETH's exchange-rate growth) added to its supply APY.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final

from levguard.core.defi.irm import (
    MAX_RATE_AT_TARGET,
    MIN_RATE_AT_TARGET,
    SECONDS_PER_YEAR,
    AaveInterestRateData,
    AaveInterestRates,
    AaveRateStrategy,
    adaptive_curve_borrow_rate,
    borrow_apy,
    calculate_interest_rates,
    calculate_interest_rates_v2,
    supply_apy,
    validate_interest_rate_data,
)
from levguard.core.defi.morpho import MAX_FEE, Market
from levguard.core.records import JsonRecord
from levguard.core.validate import contract_sint, instance_of, non_negative_number, show, yearly_rate
from levguard.defi.positions import (
    AavePosition,
    DefiPosition,
    MorphoPosition,
    _keys,
    _mapping,
    bps,
    parse_number,
    to_units,
)
from levguard.defi.results import LoopRates
from levguard.errors import InputError

__all__ = ["AaveIrmState", "AaveReserveState", "MorphoIrmState", "aave_reserve_rates", "irm_state", "loop_rates"]

_RAY_DECIMALS: Final = 27
_RAY: Final = 10**27
_WAD: Final = 10**18
_AAVE_KEYS: Final = (
    "optimal_usage_ratio",
    "base_variable_borrow_rate",
    "variable_rate_slope1",
    "variable_rate_slope2",
    "reserve_factor",
    "total_debt",
    "available_liquidity",
)
_MORPHO_KEYS: Final = ("rate_at_target", "rate_at_target_per_second", "fee")
_MAX_RATE: Final = Decimal(10)  # 1,000 % a year: the V2 strategy's MAX_BORROW_RATE for the sum


@dataclass(frozen=True, slots=True)
class AaveReserveState(JsonRecord):
    """An Aave reserve's rate strategy and balances, in contract units.

    Attributes
    ----------
    symbol : str
    rate_data : AaveInterestRateData or None
        3.1+: the reserve's ``InterestRateData`` (bps); None for 3.0.
    strategy : AaveRateStrategy or None
        3.0: the strategy's immutables (ray); None for 3.1+.
    reserve_factor : int
        bps.
    total_debt, available_liquidity : int
        Token units before the loop (the debt includes the position's own).
    """

    symbol: str
    rate_data: AaveInterestRateData | None
    strategy: AaveRateStrategy | None
    reserve_factor: int
    total_debt: int
    available_liquidity: int


@dataclass(frozen=True, slots=True)
class AaveIrmState(JsonRecord):
    """The ``irm:`` section of an Aave spec: one :class:`AaveReserveState` per reserve given."""

    reserves: tuple[AaveReserveState, ...]

    def get(self, symbol: str) -> AaveReserveState | None:
        """Return ``symbol``'s state, or None when the section does not give it."""
        return next((r for r in self.reserves if r.symbol == symbol), None)


@dataclass(frozen=True, slots=True)
class MorphoIrmState(JsonRecord):
    """The ``irm:`` section of a Morpho spec.

    Attributes
    ----------
    rate_at_target : int
        ``AdaptiveCurveIrm.rateAtTarget(id)``, WAD a second (0: the IRM has not seen the market).
    fee : int
        The market's fee, WAD (at most 0.25e18).
    """

    rate_at_target: int
    fee: int = 0


IrmState = AaveIrmState | MorphoIrmState


# --- the spec section ------------------------------------------------------------------------------


def _aave_reserve(row: Mapping[str, Any], symbol: str, decimals: int, version: str) -> AaveReserveState:
    where = f"irm.{symbol}"
    _keys(row, where, _AAVE_KEYS, _AAVE_KEYS)
    curve = _AAVE_KEYS[:4]
    rate_data: AaveInterestRateData | None = None
    strategy: AaveRateStrategy | None = None
    if version == "3.0":
        # The 3.0 strategy holds ray immutables: a fraction converts exactly to 27 decimals.
        rays = {k: to_units(row[k], _RAY_DECIMALS, f"{where}.{k}", "ray") for k in curve}
        if not 0 < rays["optimal_usage_ratio"] <= _RAY:
            raise InputError(f"{where}.optimal_usage_ratio must be in (0, 1], was {show(row['optimal_usage_ratio'])}")
        strategy = AaveRateStrategy(**rays)
    else:
        points = {k: bps(row[k], f"{where}.{k}", Decimal(1) if k == curve[0] else _MAX_RATE) for k in curve}
        try:
            rate_data = validate_interest_rate_data(AaveInterestRateData(**points))
        except InputError as exc:  # the setter's require, named with the reserve
            raise InputError(f"{where}: {exc}") from None
    return AaveReserveState(
        symbol=symbol,
        rate_data=rate_data,
        strategy=strategy,
        reserve_factor=bps(row["reserve_factor"], f"{where}.reserve_factor"),
        total_debt=to_units(row["total_debt"], decimals, f"{where}.total_debt"),
        available_liquidity=to_units(row["available_liquidity"], decimals, f"{where}.available_liquidity"),
    )


def _morpho_state(section: Mapping[str, Any]) -> MorphoIrmState:
    unknown = sorted(str(k) for k in section if k not in _MORPHO_KEYS)
    if unknown:
        raise InputError(f"irm has unknown fields {unknown}; known for morpho-blue: {sorted(_MORPHO_KEYS)}")
    given = [k for k in ("rate_at_target", "rate_at_target_per_second") if k in section]
    if len(given) != 1:
        raise InputError("irm needs one of rate_at_target (a yearly rate) or rate_at_target_per_second (WAD)")
    if given[0] == "rate_at_target":
        yearly = parse_number(section["rate_at_target"], "irm.rate_at_target")
        if yearly < 0:
            raise InputError(f"irm.rate_at_target must be >= 0, was {yearly}")
        # Floored to WAD a second as the IRM's own constants are (INITIAL_RATE_AT_TARGET = 0.04e18 / 365 days).
        rate = math.floor(Fraction(yearly) * _WAD / SECONDS_PER_YEAR)
    else:
        raw = section["rate_at_target_per_second"]
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InputError(f"irm.rate_at_target_per_second must be an integer (WAD a second), was {show(raw)}")
        rate = raw
    if rate != 0 and not MIN_RATE_AT_TARGET <= rate <= MAX_RATE_AT_TARGET:
        raise InputError(
            f"irm.{given[0]} must be 0 (a new market) or within the IRM's bounds 0.1 % to 200 % a year "
            f"({MIN_RATE_AT_TARGET} to {MAX_RATE_AT_TARGET} WAD a second), was {show(section[given[0]])}"
        )
    fee = to_units(section.get("fee", 0), 18, "irm.fee", "WAD")
    if fee > MAX_FEE:
        raise InputError(f"irm.fee must be at most 0.25 (Morpho's MAX_FEE), was {show(section['fee'])}")
    return MorphoIrmState(rate_at_target=rate, fee=fee)


def irm_state(section: object, position: DefiPosition) -> IrmState:
    """Parse a spec's ``irm:`` section for ``position`` (module docstring), exactly.

    Raises
    ------
    InputError
        Not a mapping, unknown or missing fields, a symbol that is no reserve, a value that does
        not convert exactly (a slope finer than a bp in 3.1+), a rate strategy its setter would
        refuse, a Morpho position without the market's totals.
    """
    s = _mapping(section, "irm")
    if isinstance(position, MorphoPosition):
        if not position.market_given:
            raise InputError("irm needs the market's totals (market: ...): a position alone in its market says nothing")
        return _morpho_state(s)
    rows = []
    for symbol, row in s.items():
        reserve = position.reserve(str(symbol))
        rows.append(_aave_reserve(_mapping(row, f"irm.{symbol}"), reserve.symbol, reserve.decimals, position.version))
    if not rows:
        raise InputError("irm must give at least one reserve (the debt's and the collateral's)")
    return AaveIrmState(tuple(rows))


# --- the rates -------------------------------------------------------------------------------------


def aave_reserve_rates(
    state: AaveReserveState, version: str, debt_change: int = 0, liquidity_change: int = 0
) -> AaveInterestRates:
    """Return the rates of an Aave reserve with ``debt_change`` more debt and ``liquidity_change`` more liquidity.

    Raises
    ------
    InputError
        ``state`` not an :class:`AaveReserveState`, a change not an int256; the liquidity would
        be negative (the borrow would revert), or the strategy reverts.

    Notes
    -----
    ``calculateInterestRates`` with the total debt ``D + debt_change`` and the balance
    ``A + liquidity_change`` (3.0: ``balanceOf(aToken)``; 3.1+: the virtual balance), which is
    what ``updateInterestRatesAndVirtualBalance`` passes after the actions (module Notes).
    """
    instance_of(state, AaveReserveState, "state")  # a str was an AttributeError
    debt = state.total_debt + contract_sint(debt_change, "debt_change")
    liquidity = state.available_liquidity + contract_sint(liquidity_change, "liquidity_change")
    if liquidity < 0 or debt < 0:
        raise InputError(
            f"irm.{state.symbol}: the loop takes more than available_liquidity "
            f"({state.available_liquidity} units, change {liquidity_change})"
        )
    if version == "3.0":
        assert state.strategy is not None  # parsed for 3.0
        return calculate_interest_rates(
            state.strategy, total_variable_debt=debt, underlying_balance=liquidity, reserve_factor=state.reserve_factor
        )
    assert state.rate_data is not None  # parsed for 3.1+
    return calculate_interest_rates_v2(
        state.rate_data,
        total_debt=debt,
        virtual_underlying_balance=liquidity,
        reserve_factor=state.reserve_factor,
        version="3.4" if version in ("3.5", "3.6") else version,  # irm's "3.4" covers 3.4 and later
    )


@dataclass(frozen=True, slots=True)
class _ModelRates:
    supply: float | None
    borrow: float | None
    supply_before: float | None
    borrow_before: float | None
    lender: float | None
    debt_util: float | None
    debt_util_before: float | None
    coll_util: float | None
    unit: str
    exact: Mapping[str, int]


def _ray(x: int) -> float:
    return x / _RAY


def _aave_model(
    state: AaveIrmState, start: AavePosition, end: AavePosition, coll: str, debt: str, need: tuple[bool, bool]
) -> _ModelRates:
    need_supply, need_borrow = need
    exact: dict[str, int] = {}
    supply = supply_before = borrow = borrow_before = lender = du = du0 = cu = None
    for symbol, needed, role, alternative in ((coll, need_supply, "collateral", "supply_rate"),
                                              (debt, need_borrow, "debt", "borrow_rate")):  # fmt: skip
        if needed and state.get(symbol) is None:
            raise InputError(
                f"irm has no state for the {role} reserve {symbol!r}: add irm.{symbol} or give {alternative}"
            )
    d = state.get(debt)
    if need_borrow and d is not None:
        own = start.reserve(debt).debt
        if d.total_debt < own:
            raise InputError(
                f"irm.{debt}.total_debt must include the position's own debt ({own} units), was {d.total_debt}"
            )
        borrowed = end.reserve(debt).debt - own
        before = aave_reserve_rates(d, start.version)
        after = aave_reserve_rates(d, start.version, borrowed, -borrowed)
        borrow = borrow_apy(after.current_variable_borrow_rate, "ray_per_year")
        borrow_before = borrow_apy(before.current_variable_borrow_rate, "ray_per_year")
        lender = supply_apy(after.current_liquidity_rate, "ray_per_year")
        du, du0 = _ray(after.borrow_usage_ratio), _ray(before.borrow_usage_ratio)
        exact |= {
            "borrow_rate": after.current_variable_borrow_rate,
            "debt_liquidity_rate": after.current_liquidity_rate,
            "debt_borrow_usage_ratio": after.borrow_usage_ratio,
            "debt_total_debt": d.total_debt + borrowed,
            "debt_available_liquidity": d.available_liquidity - borrowed,
        }
    c = state.get(coll)
    if need_supply and c is not None:
        supplied = end.reserve(coll).collateral - start.reserve(coll).collateral
        before = aave_reserve_rates(c, start.version)
        after = aave_reserve_rates(c, start.version, 0, supplied)
        supply = supply_apy(after.current_liquidity_rate, "ray_per_year")
        supply_before = supply_apy(before.current_liquidity_rate, "ray_per_year")
        cu = _ray(after.supply_usage_ratio)
        exact |= {
            "supply_rate": after.current_liquidity_rate,
            "collateral_supply_usage_ratio": after.supply_usage_ratio,
            "collateral_available_liquidity": c.available_liquidity + supplied,
        }
    return _ModelRates(supply, borrow, supply_before, borrow_before, lender, du, du0, cu, "ray_per_year", exact)


def _morpho_model(state: MorphoIrmState, start: MorphoPosition, end: MorphoPosition) -> _ModelRates:
    def rate(market: Market) -> tuple[int, int]:
        r = adaptive_curve_borrow_rate(market, state.rate_at_target, 0)
        return r.avg_borrow_rate, r.utilization

    before, u0 = rate(start.market)
    after, u1 = rate(end.market)
    lender = supply_apy(after, "wad_per_second", utilization=min(u1 / _WAD, 1.0), fee=state.fee / _WAD)
    exact = {"borrow_rate": after, "utilization": u1, "rate_at_target": state.rate_at_target, "fee": state.fee}
    return _ModelRates(
        supply=0.0,  # Morpho Blue collateral is not lent: no supply rate
        borrow=borrow_apy(after, "wad_per_second"),
        supply_before=0.0,
        borrow_before=borrow_apy(before, "wad_per_second"),
        lender=lender,
        debt_util=u1 / _WAD,
        debt_util_before=u0 / _WAD,
        coll_util=None,
        unit="wad_per_second",
        exact=MappingProxyType(exact),
    )


def _value_pair(value: object, name: str) -> tuple[Fraction, Fraction]:
    # (collateral value, debt value): two numbers >= 0, exact when Fractions or ints (a str or
    # None was a raw unpacking error, a NaN a net APY of None).
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InputError(f"{name} must be a pair (collateral value, debt value), was {show(value)}")
    out = []
    for i, v in enumerate(value):
        exact = isinstance(v, Fraction | int) and not isinstance(v, bool) and v >= 0
        out.append(Fraction(v) if exact else Fraction(non_negative_number(v, f"{name}[{i}]")))
    return out[0], out[1]


def loop_rates(
    start: DefiPosition,
    end: DefiPosition,
    collateral: str,
    debt: str,
    values: tuple[Fraction, Fraction],
    *,
    state: IrmState | None = None,
    supply_rate: float | None = None,
    borrow_rate: float | None = None,
    staking_yield: float = 0.0,
    totals: tuple[Fraction, Fraction] | None = None,
) -> LoopRates | None:
    """Return the rates of the looped position and its net APY on equity (None without rates).

    Parameters
    ----------
    start, end : AavePosition or MorphoPosition
        The position before and after the loop.
    collateral, debt : str
        The looped symbols.
    values : (Fraction, Fraction)
        The looped collateral's and the looped debt's value at the end, in one unit (oracle
        prices).
    totals : (Fraction, Fraction), optional
        The whole account's collateral and debt value at the end (default ``values``): the
        equity is theirs; what they hold beyond ``values`` earns and pays 0 in ``net_apy``
        (its rates are not given) and is reported as ``other_collateral_value`` and
        ``other_debt_value``.
    state : AaveIrmState or MorphoIrmState, optional
        The rate model's state (:func:`irm_state`).
    supply_rate, borrow_rate : float, optional
        Given yearly rates: each wins over the model's.  Fractions in ``(-1, 100]``
        (:func:`levguard.core.validate.yearly_rate`: -100 %/yr or less makes no sense).
    staking_yield : float, default 0
        Yearly yield of the collateral token itself, added to its supply APY; in ``(-1, 100]``.

    Returns
    -------
    LoopRates or None
        None when neither the model nor the inputs give both rates.

    Raises
    ------
    InputError
        ``start``, ``end`` or ``state`` of another type, ``values`` or ``totals`` not two numbers
        >= 0; a given rate outside ``(-1, 100]`` or not finite; the model lacks the state of a
        reserve whose rate is not given, or the loop takes more than the reserve's liquidity.

    Notes
    -----
    ``net = (C (supply + staking_yield) - D borrow) / E`` with ``C`` and ``D`` the looped
    collateral and debt and ``E`` the account's equity (the yearly return on equity of holding
    ``C`` at ``supply`` and owing ``D`` at ``borrow``; other holdings at 0); the model's rates as
    in the module Notes (Aave ``updateInterestRatesAndVirtualBalance`` after the loop's actions,
    Morpho ``AdaptiveCurveIrm.borrowRateView``), compounded per the protocols' docs (Aave
    "APY and APR", Morpho "Interest Rate Models").
    """
    for name, pos in (("start", start), ("end", end)):
        if not isinstance(pos, AavePosition | MorphoPosition):  # an int was an AttributeError
            raise InputError(
                f"{name} must be an AavePosition or a MorphoPosition, was {type(pos).__name__} {show(pos)}"
            )
    if state is not None and not isinstance(state, AaveIrmState | MorphoIrmState):
        raise InputError(
            f"state must be an AaveIrmState, a MorphoIrmState or None, was {type(state).__name__} {show(state)}"
        )
    supply_rate = None if supply_rate is None else yearly_rate(supply_rate, "supply_rate")
    borrow_rate = None if borrow_rate is None else yearly_rate(borrow_rate, "borrow_rate")
    staking_yield = yearly_rate(staking_yield, "staking_yield")
    need = (supply_rate is None, borrow_rate is None)
    model: _ModelRates | None = None
    if state is not None and any(need):
        if isinstance(start, MorphoPosition) and isinstance(end, MorphoPosition) and isinstance(state, MorphoIrmState):
            model = _morpho_model(state, start, end)
        elif isinstance(start, AavePosition) and isinstance(end, AavePosition) and isinstance(state, AaveIrmState):
            model = _aave_model(state, start, end, collateral, debt, need)
        else:
            raise InputError(f"irm state {type(state).__name__} does not fit a {start.protocol} position")
    supply = supply_rate if supply_rate is not None else (None if model is None else model.supply)
    borrow = borrow_rate if borrow_rate is not None else (None if model is None else model.borrow)
    if supply is None or borrow is None:
        return None
    source = "input" if model is None else ("irm" if all(need) else "mixed")
    # The looped reserves earn and pay their rates; the account's other collateral and debt
    # (their rates not given) count at 0: the looped asset's rates were put on all of them (an
    # audit: -9.63 % where -12.03 % is the sample's net APY with its 30,000 USD of WBTC at 0).
    cv, dv = _value_pair(values, "values")
    tc, td = (cv, dv) if totals is None else _value_pair(totals, "totals")
    equity = tc - td
    net = None
    if equity > 0:
        net = float((cv * (Fraction(supply) + Fraction(staking_yield)) - dv * Fraction(borrow)) / equity)
    m = model if model is not None else _ModelRates(None, None, None, None, None, None, None, None, "", {})
    return LoopRates(
        rate_source=source,
        supply_apy=supply,
        borrow_apy=borrow,
        staking_yield=staking_yield,
        net_apy=net,
        supply_apy_before=m.supply_before if supply_rate is None else None,
        borrow_apy_before=m.borrow_before if borrow_rate is None else None,
        lender_apy=m.lender if borrow_rate is None else None,
        debt_utilization=m.debt_util,
        debt_utilization_before=m.debt_util_before,
        collateral_utilization=m.coll_util,
        rate_unit=m.unit,
        exact=MappingProxyType(dict(m.exact)),
        other_collateral_value=float(tc - cv),
        other_debt_value=float(td - dv),
    )
