"""Position analytics in human units, exact against the protocols' integer engines.

Every function takes a position spec (a mapping, a JSON/YAML path, or a position from
:func:`levguard.defi.positions.load_position`) and returns a frozen record with ``to_dict()``:

* :func:`position_report`: health factor, borrowing power, per-asset values, the liquidation
  price of each collateral (the others fixed), and with ``target_hf`` the least repayment or
  supply reaching it and the most that can be borrowed keeping it;
* :func:`liquidation_price`, :func:`repay_to_target`, :func:`supply_to_target`,
  :func:`max_safe_borrow`: the same one at a time;
* :func:`joint_liquidation_boundary`: for two Aave collaterals, the liquidation price of one for
  each price of the other (a grid).

Exactness: a boundary is searched with the engine itself (``getUserAccountData`` /
``validateBorrow`` for Aave, ``_isHealthy`` / ``borrow`` / ``repay`` for Morpho), so the reported
liquidation price ``p`` (contract units) has HF >= 1 at ``p`` and at every price above, and HF < 1
at ``p - 1``; a reported repayment reaches the target and one unit less does not.

Examples
--------
>>> from levguard.defi import analytics
>>> spec = {"protocol": "morpho-blue", "lltv": 0.86, "collateral": 10, "borrow": 20_000,
...         "collateral_price": 3_000, "collateral_decimals": 18, "loan_decimals": 6,
...         "collateral_symbol": "WETH", "loan_symbol": "USDC"}
>>> lp = analytics.liquidation_price(spec)
>>> round(lp.value, 6), round(lp.change, 4)   # 20,000 / (10 x 0.86)
(2325.581395, -0.2248)
>>> r = analytics.repay_to_target(spec, 1.5)
>>> r.amount_tokens, r.health_factor_after >= 1.5
(2800.0, True)

Notes
-----
Aave v3: GenericLogic.calculateUserAccountData (health factor, the floored average liquidation
threshold), ValidationLogic.validateBorrow (borrowing power).  Morpho Blue: Morpho.sol
``_isHealthy``, ``borrow``, ``repay``; health factor as morpho-org/sdks ``MarketUtils
.getHealthFactor``.  The saw-tooth of Aave's floored average threshold (HF can fall by up to one
bp of the threshold when a collateral with a lower threshold gains value) is handled by
:func:`levguard.defi._search.last_crossing`; docs/defi.md explains it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from levguard.core.validate import show
from levguard.defi import _aave_analytics as _aave
from levguard.defi import _morpho_analytics as _morpho
from levguard.defi.positions import (
    AAVE_PRICE_DECIMALS,
    AavePosition,
    DefiPosition,
    MorphoPosition,
    load_position,
    parse_number,
    to_units,
)
from levguard.defi.results import AssetLine, JointBoundary, LiquidationPrice, PositionReport, TargetAmount
from levguard.errors import InputError

__all__ = [
    "AssetLine",
    "JointBoundary",
    "LiquidationPrice",
    "PositionReport",
    "TargetAmount",
    "health_factor",
    "joint_liquidation_boundary",
    "liquidation_price",
    "max_safe_borrow",
    "position_report",
    "repay_to_target",
    "supply_to_target",
    "target_wad",
    "with_price",
]

Spec = Mapping[str, Any] | str | Path | AavePosition | MorphoPosition
_MAX_POINTS = 1001


def target_wad(target_hf: object, field: str = "target_hf") -> int:
    """Return a health-factor target (``1.5``, ``"1.25"``) as an exact wad integer.

    Raises
    ------
    InputError
        Not a number, not > 0, or finer than 1e-18.
    """
    wad = to_units(target_hf, 18, field, "wad")
    if wad == 0:
        raise InputError(f"{field} must be > 0, was {show(target_hf)}")
    return wad


def _target(target_hf: object | None) -> int | None:
    return None if target_hf is None else target_wad(target_hf)


def _pick(pos: AavePosition, symbol: str | None, candidates: list[str], role: str, arg: str = "symbol") -> str:
    # ``symbol`` (a reserve of ``pos``), or the only candidate; else the argument ``arg`` is needed.
    if symbol is not None:
        pos.reserve(symbol)
        return symbol
    if len(candidates) != 1:
        raise InputError(f"{arg} is needed: the position has {len(candidates)} {role} reserves {candidates}")
    return candidates[0]


def _morpho_symbol(pos: MorphoPosition, symbol: str | None, expected: str, role: str) -> None:
    if symbol is not None and symbol != expected:
        raise InputError(f"symbol {show(symbol)} is not the market's {role} token {expected!r}")


def _collaterals(pos: AavePosition) -> list[str]:
    return [r.symbol for r in pos.reserves if pos.counted(r)]


def _debts(pos: AavePosition) -> list[str]:
    return [r.symbol for r in pos.reserves if r.debt > 0]


def health_factor(spec: Spec) -> int:
    """Return the position's health factor in wad (``2**256 - 1`` without debt).

    Aave: ``getUserAccountData().healthFactor``; Morpho: ``wDivDown(maxBorrow, borrowed)``.
    """
    pos = load_position(spec)
    return _aave.account(pos).health_factor if isinstance(pos, AavePosition) else _morpho.hf(pos)


def liquidation_price(spec: Spec, symbol: str | None = None) -> LiquidationPrice:
    """Return the liquidation price of one collateral, every other price fixed.

    Parameters
    ----------
    spec : mapping, path or position
    symbol : str, optional
        The collateral (Aave: needed when there are several; Morpho: the market's collateral).

    Returns
    -------
    LiquidationPrice
        ``price`` in contract units (Aave: USD with 8 decimals; Morpho: the 1e36-scaled oracle
        price): HF >= 1 at ``price`` and above, HF < 1 at ``price - 1``; ``value`` in USD (Aave)
        or loan tokens per collateral token (Morpho).

    Raises
    ------
    InputError
        Unknown symbol, or several collaterals and no symbol.
    """
    pos = load_position(spec)
    if isinstance(pos, MorphoPosition):
        _morpho_symbol(pos, symbol, pos.collateral_symbol, "collateral")
        return _morpho.liquidation_price(pos)
    return _aave.liquidation_price(pos, _pick(pos, symbol, _collaterals(pos), "collateral"))


def repay_to_target(spec: Spec, target_hf: object, symbol: str | None = None) -> TargetAmount:
    """Return the least repayment of one debt that brings the health factor to ``target_hf``.

    ``amount`` is in the debt token's smallest units; HF after it is >= the target and (Aave,
    where HF is monotone in the debt) one unit less falls short.  None with a ``reason`` when
    even repaying all of that debt is not enough.
    """
    pos = load_position(spec)
    target = target_wad(target_hf)
    if isinstance(pos, MorphoPosition):
        _morpho_symbol(pos, symbol, pos.loan_symbol, "loan")
        return _morpho.repay_to_target(pos, target)
    return _aave.repay_to_target(pos, _pick(pos, symbol, _debts(pos), "borrowed"), target)


def supply_to_target(spec: Spec, target_hf: object, symbol: str | None = None) -> TargetAmount:
    """Return the least supply of one collateral that brings the health factor to ``target_hf``.

    ``amount`` is in the collateral's smallest units; HF is >= the target after it and after any
    larger supply, and below it one unit less.
    """
    pos = load_position(spec)
    target = target_wad(target_hf)
    if isinstance(pos, MorphoPosition):
        _morpho_symbol(pos, symbol, pos.collateral_symbol, "collateral")
        return _morpho.supply_to_target(pos, target)
    return _aave.supply_to_target(pos, _pick(pos, symbol, _collaterals(pos), "collateral"), target)


def max_safe_borrow(spec: Spec, symbol: str | None = None, target_hf: object | None = None) -> TargetAmount:
    """Return the most of one asset the protocol lends that keeps HF >= ``target_hf``.

    Aave: ``validateBorrow`` (LTV, isolation ceiling, e-mode, siloed borrowing) must pass and HF
    after the borrow must meet the target; Morpho: ``Morpho.borrow`` must succeed (healthy, and
    the market's liquidity when its totals were given) and meet the target.  Without a target,
    the protocol's own limit.  ``reason`` names what binds.
    """
    pos = load_position(spec)
    target = _target(target_hf)
    if isinstance(pos, MorphoPosition):
        _morpho_symbol(pos, symbol, pos.loan_symbol, "loan")
        return _morpho.max_safe_borrow(pos, target)
    return _aave.max_safe_borrow(pos, _pick(pos, symbol, _debts(pos), "borrowed"), target)


def position_report(spec: Spec, target_hf: object | None = None) -> PositionReport:
    """Return the analytics of one position (see :class:`PositionReport`).

    Parameters
    ----------
    spec : mapping, path or position
        A position spec (docs/defi.md, :mod:`levguard.defi.positions`).
    target_hf : number, optional
        Adds the least repayment per debt and supply per collateral reaching it, and bounds the
        max borrow by it.

    Raises
    ------
    InputError
        Any invalid field of the spec, or a target that is not a positive number.
    """
    pos = load_position(spec)
    target = _target(target_hf)
    return _aave.report(pos, target) if isinstance(pos, AavePosition) else _morpho.report(pos, target)


def with_price(spec: Spec, price: int, symbol: str | None = None) -> DefiPosition:
    """Return the position with one price replaced (contract units: Aave USD 8 decimals, Morpho
    oracle price), e.g. to check a liquidation price against the engine."""
    pos = load_position(spec)
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise InputError(f"price must be a non-negative integer (contract units), was {show(price)}")
    if isinstance(pos, MorphoPosition):
        _morpho_symbol(pos, symbol, pos.collateral_symbol, "collateral")
        return replace(pos, oracle_price=price)
    if symbol is None:
        raise InputError("symbol is needed to change an Aave reserve's price")
    return replace(pos, reserves=_aave.rows_with(pos, symbol, price=price))


def joint_liquidation_boundary(
    spec: Spec,
    x_symbol: str,
    y_symbol: str,
    x_prices_usd: Sequence[object] | None = None,
    points: int = 11,
    low: float = 0.5,
    high: float = 1.5,
) -> JointBoundary:
    """Return the liquidation price of collateral ``y_symbol`` for each price of ``x_symbol`` (Aave).

    Parameters
    ----------
    x_prices_usd : sequence of numbers, optional
        The ``x`` prices (USD, at most 8 decimals); default ``points`` prices evenly spaced from
        ``low`` to ``high`` times the current one (floored to the oracle's unit).
    points : int, default 11
    low, high : float, default 0.5, 1.5

    Returns
    -------
    JointBoundary
        Each ``y`` price is exact as in :func:`liquidation_price`: healthy at it and above,
        liquidatable one unit below, with ``x`` at its grid price.

    Raises
    ------
    InputError
        A Morpho position (one collateral per market), unknown or equal symbols, a symbol that is
        not a collateral of the account (no balance, not enabled, or threshold 0), a bad grid.
    """
    pos = load_position(spec)
    if not isinstance(pos, AavePosition):
        raise InputError("joint_liquidation_boundary needs two collaterals: an aave-v3 position")
    current = pos.reserve(x_symbol).price
    if x_prices_usd is not None:
        if isinstance(x_prices_usd, str | bytes) or not isinstance(x_prices_usd, Sequence) or not x_prices_usd:
            raise InputError(f"x_prices_usd must be a non-empty list of prices, was {show(x_prices_usd)}")
        grid = tuple(to_units(p, AAVE_PRICE_DECIMALS, f"x_prices_usd[{i}]", "USD") for i, p in enumerate(x_prices_usd))
    else:
        if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= _MAX_POINTS:
            raise InputError(f"points must be an integer in [2, {_MAX_POINTS}], was {show(points)}")
        lo, hi = Fraction(parse_number(low, "low")), Fraction(parse_number(high, "high"))
        if not 0 <= lo < hi:
            raise InputError(f"low and high must satisfy 0 <= low < high, were {low} and {high}")
        grid = tuple(int(current * (lo + (hi - lo) * k / (points - 1))) for k in range(points))
    return _aave.joint_boundary(pos, x_symbol, y_symbol, grid)
