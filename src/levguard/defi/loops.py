"""Leverage loops: supply, borrow, swap the borrowed asset into collateral, re-supply; repeat.

:func:`loop_position` runs the loop on the exact engines (each borrow is the most
``validateBorrow`` / ``Morpho.borrow`` allows at the step, scaled by ``borrow_fraction`` and kept
above ``min_hf``), and reports per step and at the end the leverage, the health factor, the
liquidation price of the collateral, what the swaps cost on the way in, and what unwinding the
whole loop would cost.

Examples
--------
>>> from levguard.defi.loops import loop_position
>>> spec = {"protocol": "morpho-blue", "lltv": 0.945, "collateral": 10, "borrow": 0,
...         "collateral_price": 1.18, "loan_price": 1, "collateral_decimals": 18,
...         "loan_decimals": 18, "collateral_symbol": "wstETH", "loan_symbol": "WETH"}
>>> r = loop_position(spec, target_leverage=5, swap_fee=0.0005)
>>> round(r.leverage, 4), r.reached_target, round(r.health_factor, 4)
(5.0, True, 1.1812)

Notes
-----
One step with collateral value ``C``, debt ``D``, equity ``E = C - D`` (oracle prices) and a swap
fee (plus slippage) ``f``: borrowing ``b`` buys ``b (1 - f)`` of collateral, so ``C' = C + b (1 -
f)``, ``D' = D + b`` and the leverage ``C' / (C' - D')`` reaches ``L`` at ``b = (L E - C) / (1 -
f + L f)``.  Unwinding sells collateral worth ``D / (1 - f)`` to repay ``D`` (with a flash loan
of ``D`` at ``flash_loan_fee``): it costs ``D f / (1 - f) + D flash_loan_fee``.  The net APY on
equity is ``(C (supply + staking_yield) - D borrow) / E``, with the rates from the protocol's
interest-rate model at the loop's end state when the spec has an ``irm:`` section
(:mod:`levguard.defi.loop_rates`), a given ``supply_rate`` / ``borrow_rate`` winning over the
model's.  With the debt reserve's state known, an Aave loop borrows at most its available
liquidity (a larger borrow reverts).  Leverage as in Aave's and Morpho's own looping interfaces
(collateral over equity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from levguard.core.defi.aave import (
    AaveError,
    borrow_isolation_debt,
    collateral_after_supply,
    variable_debt_after_borrow,
)
from levguard.core.defi.morpho import ORACLE_PRICE_SCALE, UINT128_MAX
from levguard.core.records import JsonRecord
from levguard.core.validate import show, yearly_rate
from levguard.defi import _aave_analytics as _aave
from levguard.defi import _morpho_analytics as _morpho
from levguard.defi.analytics import target_wad
from levguard.defi.loop_rates import AaveIrmState, IrmState, irm_state, loop_rates
from levguard.defi.positions import (
    AAVE_PRICE_DECIMALS,
    AavePosition,
    DefiPosition,
    MorphoPosition,
    _keys,
    load_position,
    parse_number,
)
from levguard.defi.results import LiquidationPrice, LoopRates
from levguard.documents import load_spec
from levguard.errors import InputError

__all__ = ["LoopReport", "LoopStep", "loop_options", "loop_position"]

DEFAULT_STEPS: Final = 5
MAX_STEPS: Final = 100
_LOOP_KEYS: Final = (
    "collateral",
    "debt",
    "steps",
    "target_leverage",
    "borrow_fraction",
    "min_hf",
    "swap_fee",
    "flash_loan_fee",
    "supply_rate",
    "borrow_rate",
    "staking_yield",
)


@dataclass(frozen=True, slots=True)
class LoopStep(JsonRecord):
    """The position after one loop step.

    Attributes
    ----------
    step : int
        1 for the first borrow-swap-supply.
    borrowed, bought : float
        Debt tokens borrowed and collateral tokens bought with them (after the swap fee).
    borrowed_units, bought_units : int
        The same in smallest units.
    collateral, debt : float
        Totals after the step, whole tokens of the looped collateral and debt.
    health_factor : float
    leverage : float or None
        Collateral / equity; None when the equity is 0 or below (no leverage: the position is
        already liquidatable).
    liquidation_price : float or None
        Of the collateral (USD for Aave, loan tokens per collateral token for Morpho).
    """

    step: int
    borrowed: float
    bought: float
    borrowed_units: int
    bought_units: int
    collateral: float
    debt: float
    health_factor: float
    leverage: float | None
    liquidation_price: float | None


@dataclass(frozen=True, slots=True)
class LoopReport(JsonRecord):
    """The loop's steps and the looped position.

    Attributes
    ----------
    protocol, collateral_symbol, debt_symbol : str
    steps : tuple of LoopStep
    leverage : float or None
        At the end (collateral / equity; None when the equity is 0 or below: HF below 1).
    health_factor : float
        At the end (``inf`` without debt).
    health_factor_wad : int
    liquidation : LiquidationPrice
        Of the collateral at the end (exact, see :func:`levguard.defi.analytics.liquidation_price`).
    collateral_value, debt_value, equity : float
        In ``value_unit`` at oracle prices.
    value_unit : str
    entry_swap_cost : float
        Value lost to the swap fee while looping in.
    unwind_cost : float
        Swap fee (and flash-loan fee) to sell collateral and repay the whole debt.
    equity_after_unwind : float
        ``equity - unwind_cost``.
    net_rate : float or None
        Net APY on equity, ``rates.net_apy`` (None without both rates).
    rates : LoopRates or None
        The supply and borrow APYs, where they come from (``rate_source``: ``"irm"``,
        ``"input"``, ``"mixed"``), the staking yield, the utilisation the loop leaves.
    target_leverage : float or None
    reached_target : bool or None
    stop_reason : str
        Why the loop stopped.
    position : AavePosition or MorphoPosition
        The looped position in contract units (left out of ``to_dict``).
    """

    protocol: str
    collateral_symbol: str
    debt_symbol: str
    steps: tuple[LoopStep, ...]
    leverage: float | None
    health_factor: float
    health_factor_wad: int
    liquidation: LiquidationPrice
    collateral_value: float
    debt_value: float
    equity: float
    value_unit: str
    entry_swap_cost: float
    unwind_cost: float
    equity_after_unwind: float
    net_rate: float | None
    rates: LoopRates | None
    target_leverage: float | None
    reached_target: bool | None
    stop_reason: str
    position: DefiPosition = field(repr=False)


def _fraction(value: object, field_name: str, lo: Fraction, hi: Fraction, *, open_hi: bool = False) -> Fraction:
    f = Fraction(parse_number(value, field_name))
    if not lo <= f <= hi or (open_hi and f == hi):
        raise InputError(f"{field_name} must be in [{lo}, {hi}{')' if open_hi else ']'}, was {show(value)}")
    return f


@dataclass(frozen=True, slots=True)
class _Settings:
    steps: int
    target: Fraction | None
    fraction: Fraction
    min_hf: int | None
    fee: Fraction
    flash_fee: Fraction
    supply_rate: float | None
    borrow_rate: float | None
    staking_yield: float


_RATE_ARGS = ("supply_rate", "borrow_rate")
_MAX_TARGET = 1_000
"""Largest target leverage of a loop: a lending market's LTV below 1 allows ``1 / (1 - LTV)``,
33x at the highest e-mode LTV of 97 %."""


def _settings(options: Mapping[str, Any]) -> _Settings:
    steps, target = options.get("steps"), options.get("target_leverage")
    if steps is None:
        steps = MAX_STEPS if target is not None else DEFAULT_STEPS
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InputError(f"steps must be an integer in [1, {MAX_STEPS}], was {show(steps)}")
    lev = None
    if target is not None:
        lev = Fraction(parse_number(target, "target_leverage"))
        if not 1 <= lev <= _MAX_TARGET:  # 10**400 overflowed the float of the result
            raise InputError(f"target_leverage must be between 1 and {_MAX_TARGET:,}, was {show(target)}")
    # Yearly rates in (-1, 100]: -100 %/yr or less loses everything (or more) in a year.
    rates = [None if options.get(name) is None else yearly_rate(options[name], name) for name in _RATE_ARGS]
    min_hf = options.get("min_hf")
    return _Settings(
        steps=steps,
        target=lev,
        fraction=_fraction(options.get("borrow_fraction", 1), "borrow_fraction", Fraction(0), Fraction(1)),
        min_hf=None if min_hf is None else target_wad(min_hf, "min_hf"),
        fee=_fraction(options.get("swap_fee", 0), "swap_fee", Fraction(0), Fraction(1), open_hi=True),
        flash_fee=_fraction(options.get("flash_loan_fee", 0), "flash_loan_fee", Fraction(0), Fraction(1)),
        supply_rate=rates[0],
        borrow_rate=rates[1],
        staking_yield=yearly_rate(options.get("staking_yield", 0), "staking_yield"),
    )


def _needed(coll: Fraction, debt: Fraction, s: _Settings) -> Fraction | None:
    # The borrow (in value) that takes the leverage to the target: b = (L E - C) / (1 - f + L f).
    # With E <= 0 there is no leverage to reach (the formula's b < 0 read as "reached").
    if s.target is None or coll <= debt:
        return None
    return (s.target * (coll - debt) - coll) / (1 - s.fee + s.target * s.fee)


# --- Aave v3 ---------------------------------------------------------------------------------------


def _aave_values(pos: AavePosition) -> tuple[Fraction, Fraction]:
    a = _aave.account(pos)
    unit = 10**AAVE_PRICE_DECIMALS
    return Fraction(a.total_collateral_base, unit), Fraction(a.total_debt_base, unit)


def _looped_values(pos: DefiPosition, coll: str, debt: str) -> tuple[Fraction, Fraction]:
    # The looped collateral's and debt's values alone (the account's other reserves zeroed), as
    # the engine values them; a Morpho market holds nothing else.
    if not isinstance(pos, AavePosition):
        return _values(pos)
    only_c = tuple(replace(r, collateral=r.collateral if r.symbol == coll else 0, debt=0) for r in pos.reserves)
    only_d = tuple(replace(r, collateral=0, debt=r.debt if r.symbol == debt else 0) for r in pos.reserves)
    unit = 10**AAVE_PRICE_DECIMALS
    return (
        Fraction(_aave.account(pos, only_c).total_collateral_base, unit),
        Fraction(_aave.account(pos, only_d).total_debt_base, unit),
    )


def _aave_loop(
    pos: AavePosition, coll: str, debt: str, s: _Settings, liquidity: int | None = None
) -> tuple[DefiPosition, list[LoopStep], Fraction, str]:
    # ``liquidity``: the debt reserve's available liquidity when the irm section gives it.
    c, d = pos.reserve(coll), pos.reserve(debt)
    if coll == debt:
        raise InputError(f"collateral and debt must be different reserves, were both {coll!r}")
    if not pos.counted(c):
        raise InputError(f"{coll} must be an enabled collateral with a balance and a threshold to loop")
    steps: list[LoopStep] = []
    cost = Fraction(0)
    stop = f"{s.steps} steps done"
    for n in range(1, s.steps + 1):
        cap = _aave.max_safe_borrow(pos, debt, s.min_hf).amount or 0
        b = math.floor(cap * s.fraction)
        if liquidity is not None and b > liquidity:
            b = liquidity
            if b == 0:
                stop = f"the {debt} reserve's available liquidity is used up"
                break
        cv, dv = _aave_values(pos)
        need = _needed(cv, dv, s)
        if need is not None:
            if need <= 0:
                stop = "target leverage reached"
                break
            b = min(b, math.ceil(need * 10**d.decimals * 10**AAVE_PRICE_DECIMALS / d.price))
        if b <= 0:
            stop = "no borrowing power left" if cap == 0 else "the borrow rounds to 0"
            break
        value = Fraction(b * d.price, 10 ** (d.decimals + AAVE_PRICE_DECIMALS))
        bought = math.floor(value * (1 - s.fee) * 10 ** (c.decimals + AAVE_PRICE_DECIMALS) / c.price)
        if bought == 0:
            stop = "the swap buys 0 collateral"
            break
        try:
            # The aToken's balance after the supply (its scaled mint; collateral + bought at RAY).
            supplied = collateral_after_supply(pos.reserve(coll), bought)
        except AaveError:
            stop = f"the swap's {bought} units of {coll} mint 0 aToken units (INVALID_MINT_AMOUNT)"
            break
        # The debt token's balance after the mint (its scaled rounding; debt + b at index RAY).
        rows = _aave.rows_with(pos, debt, debt=variable_debt_after_borrow(pos.reserve(debt), b))
        # In isolation mode the borrow counts against the ceiling at the next step (an audit: each
        # step re-used the whole room, 5,000 USDC against 1,000 USD of ceiling).
        pos = replace(pos, reserves=borrow_isolation_debt(rows, debt, b))
        pos = replace(pos, reserves=_aave.rows_with(pos, coll, collateral=supplied))
        cost += value * s.fee
        if liquidity is not None:
            liquidity -= b
        steps.append(_step(pos, n, b, bought, coll, debt))
    else:
        if s.target is not None:
            stop = f"stopped after {s.steps} steps"
    return pos, steps, cost, stop


# --- Morpho Blue -----------------------------------------------------------------------------------


def _morpho_values(pos: MorphoPosition) -> tuple[Fraction, Fraction]:
    unit = 10**pos.loan_decimals
    coll = Fraction(pos.position.collateral * pos.oracle_price, ORACLE_PRICE_SCALE * unit)
    return coll, Fraction(_morpho.borrowed(pos), unit)


def _morpho_loop(pos: MorphoPosition, s: _Settings) -> tuple[DefiPosition, list[LoopStep], Fraction, str]:
    if pos.position.collateral == 0 or pos.oracle_price == 0:
        raise InputError("the Morpho position needs collateral with a non-zero price to loop")
    steps: list[LoopStep] = []
    cost = Fraction(0)
    stop = f"{s.steps} steps done"
    unit = 10**pos.loan_decimals
    for n in range(1, s.steps + 1):
        most = _morpho.max_safe_borrow(pos, s.min_hf)
        cap = most.amount or 0
        b = math.floor(cap * s.fraction)
        need = _needed(*_morpho_values(pos), s)
        if need is not None:
            if need <= 0:
                stop = "target leverage reached"
                break
            b = min(b, math.ceil(need * unit))
        if b <= 0:
            stop = "no borrowing power left" if cap == 0 else "the borrow rounds to 0"
            if cap == 0 and "liquidity" in most.reason:
                stop = "the market's liquidity is used up"
            break
        bought = math.floor(Fraction(b * ORACLE_PRICE_SCALE, pos.oracle_price) * (1 - s.fee))
        if bought == 0 or pos.position.collateral + bought > UINT128_MAX:
            stop = "the swap buys 0 collateral" if bought == 0 else "collateral would exceed uint128"
            break
        after = _morpho.borrow_in_market(pos, b)
        position = replace(after.position, collateral=after.position.collateral + bought)
        pos = replace(pos, market=after.market, position=position)
        cost += Fraction(b, unit) * s.fee
        steps.append(_step(pos, n, b, bought, pos.collateral_symbol, pos.loan_symbol))
    else:
        if s.target is not None:
            stop = f"stopped after {s.steps} steps"
    return pos, steps, cost, stop


# --- shared ----------------------------------------------------------------------------------------


def _values(pos: DefiPosition) -> tuple[Fraction, Fraction]:
    return _aave_values(pos) if isinstance(pos, AavePosition) else _morpho_values(pos)


def _leverage(coll: Fraction, debt: Fraction) -> float | None:
    # Collateral / equity; None without equity (coll <= debt: the HF is below 1 at any LT < 1).
    return float(coll / (coll - debt)) if coll > debt else None


def _hf(pos: DefiPosition) -> int:
    return _aave.account(pos).health_factor if isinstance(pos, AavePosition) else _morpho.hf(pos)


def _liquidation(pos: DefiPosition, coll: str) -> LiquidationPrice:
    return _aave.liquidation_price(pos, coll) if isinstance(pos, AavePosition) else _morpho.liquidation_price(pos)


def _step(pos: DefiPosition, n: int, b: int, bought: int, coll: str, debt: str) -> LoopStep:
    if isinstance(pos, AavePosition):
        c, d = pos.reserve(coll), pos.reserve(debt)
        cd, dd, c_units, d_units = c.decimals, d.decimals, c.collateral, d.debt
    else:
        cd, dd = pos.collateral_decimals, pos.loan_decimals
        c_units, d_units = pos.position.collateral, _morpho.borrowed(pos)
    return LoopStep(
        step=n,
        borrowed=b / 10**dd,
        bought=bought / 10**cd,
        borrowed_units=b,
        bought_units=bought,
        collateral=c_units / 10**cd,
        debt=d_units / 10**dd,
        health_factor=_aave.hf_float(_hf(pos)),
        leverage=_leverage(*_values(pos)),
        liquidation_price=_liquidation(pos, coll).value,
    )


def loop_position(
    spec: Mapping[str, Any] | str | Path | AavePosition | MorphoPosition,
    collateral: str | None = None,
    debt: str | None = None,
    steps: int | None = None,
    target_leverage: object | None = None,
    borrow_fraction: object = 1,
    min_hf: object | None = None,
    swap_fee: object = 0,
    flash_loan_fee: object = 0,
    supply_rate: object | None = None,
    borrow_rate: object | None = None,
    staking_yield: object = 0,
    irm: Mapping[str, Any] | None = None,
) -> LoopReport:
    """Loop a position: borrow, swap into collateral, supply, ``steps`` times or to a leverage.

    Parameters
    ----------
    spec : mapping, path or position
        The starting position (its collateral is the first supply).
    collateral, debt : str, optional
        Aave: the looped reserves (default: the only collateral, and the only debt or else the
        only other reserve).  Morpho: the market's tokens.
    steps : int, optional
        Loop steps (default 5; with ``target_leverage``, up to 100 until it is reached).
    target_leverage : number, optional
        Stop at this leverage (collateral / equity); the last step borrows only what it needs.
    borrow_fraction : number, default 1
        Share of each step's borrowing capacity used (0 to 1).
    min_hf : number, optional
        Never borrow below this health factor (the protocol's limit alone by default: Aave's LTV,
        Morpho's LLTV).
    swap_fee : number, default 0
        Swap fee plus slippage as a fraction of each swap (0 to < 1), also charged on unwinding.
    flash_loan_fee : number, default 0
        Fee of the flash loan that unwinds the loop, as a fraction of the debt.
    supply_rate, borrow_rate : number, optional
        Yearly rates of the collateral and the debt; each wins over the interest-rate model's.
        Fractions in ``(-1, 100]``: a rate of -1 (-100 %/yr) or lower makes no sense (it loses
        the whole amount, or more, in a year), and 100 (10,000 %/yr) is above any market's.
    staking_yield : number, default 0
        Yearly yield of the collateral token itself (wstETH's staking, about 0.03), added to its
        supply APY in the net APY; in ``(-1, 100]`` as the rates.
    irm : mapping, optional
        The interest-rate model's state (:mod:`levguard.defi.loop_rates`); default the spec's
        ``irm:`` section.  The supply and borrow APYs are then the model's at the loop's end state.

    Returns
    -------
    LoopReport

    Raises
    ------
    InputError
        Invalid spec, settings or ``irm`` section; an Aave collateral that is not an enabled
        collateral.
    """
    raw = load_spec(spec) if isinstance(spec, str | Path) else spec
    pos = load_position(raw)
    section = irm if irm is not None else (raw.get("irm") if isinstance(raw, Mapping) else None)
    state: IrmState | None = None if section is None else irm_state(section, pos)
    s = _settings(
        {
            "steps": steps,
            "target_leverage": target_leverage,
            "borrow_fraction": borrow_fraction,
            "min_hf": min_hf,
            "swap_fee": swap_fee,
            "flash_loan_fee": flash_loan_fee,
            "supply_rate": supply_rate,
            "borrow_rate": borrow_rate,
            "staking_yield": staking_yield,
        }
    )
    if isinstance(pos, AavePosition):
        colls = [r.symbol for r in pos.reserves if pos.counted(r)]
        coll = collateral or (colls[0] if len(colls) == 1 else None)
        if coll is None:
            raise InputError(f"collateral is needed: the position has {len(colls)} collaterals {colls}")
        pos.reserve(coll)
        debts = [r.symbol for r in pos.reserves if r.debt > 0] or [r.symbol for r in pos.reserves if r.symbol != coll]
        debt_ = debt or (debts[0] if len(debts) == 1 else None)
        if debt_ is None:
            raise InputError(f"debt is needed: candidates {debts}")
        d_state = state.get(debt_) if isinstance(state, AaveIrmState) else None
        final, rows, cost, stop = _aave_loop(
            pos, coll, debt_, s, None if d_state is None else d_state.available_liquidity
        )
        unit = "USD"
    else:
        for given, expected, role in (
            (collateral, pos.collateral_symbol, "collateral"),
            (debt, pos.loan_symbol, "loan"),
        ):
            if given is not None and given != expected:
                raise InputError(f"{role} {show(given)} is not the market's {role} token {expected!r}")
        coll, debt_ = pos.collateral_symbol, pos.loan_symbol
        final, rows, cost, stop = _morpho_loop(pos, s)
        unit = _morpho.value_unit(pos)
    cv, dv = _values(final)
    scale = 1.0 if isinstance(final, AavePosition) or final.loan_price_usd is None else final.loan_price_usd
    unwind = dv * s.fee / (1 - s.fee) + dv * s.flash_fee
    equity = cv - dv
    rates = loop_rates(
        pos,
        final,
        coll,
        debt_,
        _looped_values(final, coll, debt_),
        state=state,
        supply_rate=s.supply_rate,
        borrow_rate=s.borrow_rate,
        staking_yield=s.staking_yield,
        totals=(cv, dv),
    )
    lev = _leverage(cv, dv)
    hf = _hf(final)
    return LoopReport(
        protocol=final.protocol,
        collateral_symbol=coll,
        debt_symbol=debt_,
        steps=tuple(rows),
        leverage=lev,
        health_factor=_aave.hf_float(hf),
        health_factor_wad=hf,
        liquidation=_liquidation(final, coll),
        collateral_value=float(cv) * scale,
        debt_value=float(dv) * scale,
        equity=float(equity) * scale,
        value_unit=unit,
        entry_swap_cost=float(cost) * scale,
        unwind_cost=float(unwind) * scale,
        equity_after_unwind=float(equity - unwind) * scale,
        net_rate=None if rates is None else rates.net_apy,
        rates=rates,
        target_leverage=None if s.target is None else float(s.target),
        reached_target=None if s.target is None else lev is not None and lev >= float(s.target) * (1 - 1e-9),
        stop_reason=stop,
        position=final,
    )


def loop_options(spec: Mapping[str, Any] | str | Path, **overrides: Any) -> dict[str, Any]:
    """The ``loop:`` section of a position spec (a mapping or a file, as :func:`loop_position`
    takes it) as keyword arguments of :func:`loop_position`.

    ``overrides`` (the same keywords, e.g. a command line's) win over the section where they are
    not None.

    Raises
    ------
    InputError
        The spec is not a mapping (or its file does not hold one); ``loop`` is not a mapping or
        has unknown keys; an unknown override.
    """
    unknown = sorted(k for k in overrides if k not in _LOOP_KEYS)
    if unknown:
        raise InputError(f"loop options have unknown names {unknown}; known: {sorted(_LOOP_KEYS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    raw = load_spec(spec) if isinstance(spec, str | Path) else spec
    if not isinstance(raw, Mapping):
        raise InputError(f"the position spec must be a mapping, was {type(raw).__name__}")
    section = raw.get("loop")
    if section is None:
        return given
    if not isinstance(section, Mapping):
        raise InputError(f"loop must be a mapping of loop settings, was {type(section).__name__}")
    _keys(section, "loop", (), _LOOP_KEYS)
    return {**{str(k): v for k, v in section.items()}, **given}
