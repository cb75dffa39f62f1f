"""Morpho Blue in contract units: the health check, the liquidation incentive factor, ``liquidate``
and interest accrual, exact to the wei.

The engine is :mod:`levguard.core.defi.morpho` (every formula lives there once); this module is
its public face.  :func:`is_healthy`, :func:`liquidate` and :func:`accrue_interest` take the market
and the position either as :class:`Market` / :class:`Position` or as mappings with the same field
names (``total_supply_assets, total_supply_shares, total_borrow_assets, total_borrow_shares``;
``borrow_shares, collateral``), which is what a JSON or YAML document gives.

Units are the contract's: token amounts and shares in smallest units, ``lltv`` and ``fee`` in WAD
(``86 * 10**16`` is 86 %), the oracle price of one smallest unit of collateral in smallest units of
the loan token scaled by ``1e36``.  A revert raises :class:`MorphoError` with the contract's reason.

Examples
--------
>>> from levguard.defi import morpho
>>> morpho.liquidation_incentive_factor(86 * 10**16)
1043841336116910229
>>> market = {"total_supply_assets": 10**12, "total_supply_shares": 10**18,
...           "total_borrow_assets": 8 * 10**11, "total_borrow_shares": 8 * 10**17}
>>> position = {"borrow_shares": 8 * 10**15, "collateral": 10 * 10**18}  # 8,000 USDC owed on 10 WETH
>>> morpho.is_healthy(market, position, 86 * 10**16, 1_000 * 10**24)  # WETH at 1,000 USDC
True
>>> morpho.is_healthy(market, position, 86 * 10**16, 930 * 10**24)  # 10 x 930 x 0.86 < 8,000
False

Notes
-----
Source: morpho-org/morpho-blue, commit 3085651a79553bbabbfd8be309c262dab45b686e: ``Morpho.sol``
(``liquidate``, ``_isHealthy``, ``_accrueInterest``), ``libraries/MathLib.sol``,
``libraries/SharesMathLib.sol``, ``libraries/ConstantsLib.sol``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, TypeVar

from levguard.core.defi import morpho as _engine
from levguard.core.defi.morpho import (
    INCONSISTENT_INPUT,
    LIQUIDATION_CURSOR,
    MAX_FEE,
    MAX_LIQUIDATION_INCENTIVE_FACTOR,
    MAX_UINT128_EXCEEDED,
    ORACLE_PRICE_SCALE,
    PANIC_ARITHMETIC,
    UINT128_MAX,
    UINT256_MAX,
    VIRTUAL_ASSETS,
    VIRTUAL_SHARES,
    WAD,
    AccrueInterestResult,
    LiquidateResult,
    Market,
    MorphoError,
    Position,
    liquidation_incentive_factor,
    mul_div_down,
    mul_div_up,
    to_assets_down,
    to_assets_up,
    to_shares_down,
    to_shares_up,
    w_div_down,
    w_div_up,
    w_mul_down,
    w_taylor_compounded,
)
from levguard.core.records import JsonRecord
from levguard.core.validate import contract_uint
from levguard.errors import InputError

__all__ = [
    "INSUFFICIENT_COLLATERAL",
    "INSUFFICIENT_LIQUIDITY",
    "LIQUIDATION_CURSOR",
    "MAX_FEE",
    "MAX_LIQUIDATION_INCENTIVE_FACTOR",
    "ORACLE_PRICE_SCALE",
    "VIRTUAL_ASSETS",
    "VIRTUAL_SHARES",
    "WAD",
    "AccrueInterestResult",
    "BorrowResult",
    "LiquidateResult",
    "Market",
    "MorphoError",
    "Position",
    "accrue_interest",
    "as_market",
    "as_position",
    "borrow",
    "health_factor",
    "is_healthy",
    "liquidate",
    "liquidation_incentive_factor",
    "mul_div_down",
    "mul_div_up",
    "repay",
    "to_assets_down",
    "to_assets_up",
    "to_shares_down",
    "to_shares_up",
    "w_div_down",
    "w_div_up",
    "w_mul_down",
    "w_taylor_compounded",
]

INSUFFICIENT_COLLATERAL: Final = "insufficient collateral"
"""ErrorsLib: ``borrow`` or ``withdrawCollateral`` would leave the position unhealthy."""
INSUFFICIENT_LIQUIDITY: Final = "insufficient liquidity"
"""ErrorsLib: ``borrow`` or ``withdraw`` would take more than the market's supply."""

_T = TypeVar("_T", Market, Position)
_MARKET_FIELDS: Final = tuple(f.name for f in fields(Market))
_POSITION_FIELDS: Final = tuple(f.name for f in fields(Position))


def _record(value: object, cls: type[_T], names: tuple[str, ...], what: str) -> _T:
    # A Market / Position as it is, or built from a mapping with exactly its fields.
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise InputError(f"{what} must be a {cls.__name__} or a mapping of {list(names)}, was {type(value).__name__}")
    keys = {str(k) for k in value}
    missing, unknown = sorted(set(names) - keys), sorted(keys - set(names))
    if missing or unknown:
        raise InputError(f"{what} must have the fields {list(names)}; missing {missing}, unknown {unknown}")
    kwargs: dict[str, Any] = {str(k): v for k, v in value.items()}
    return cls(**kwargs)


def as_market(market: Market | Mapping[str, object]) -> Market:
    """Return ``market`` as a :class:`Market` (from a mapping of its four uint128 totals).

    Raises
    ------
    InputError
        A missing or unknown field, or a total that is not an integer in ``[0, 2**128)``.
    """
    return _record(market, Market, _MARKET_FIELDS, "market")


def as_position(position: Position | Mapping[str, object]) -> Position:
    """Return ``position`` as a :class:`Position` (from a mapping of ``borrow_shares, collateral``).

    Raises
    ------
    InputError
        As in :func:`as_market` (a missing or unknown field, a value outside uint128).
    """
    return _record(position, Position, _POSITION_FIELDS, "position")


def is_healthy(
    market: Market | Mapping[str, object],
    position: Position | Mapping[str, object],
    lltv: int,
    oracle_price: int,
) -> bool:
    """Return whether the position is healthy (not liquidatable) at ``oracle_price``.

    Parameters
    ----------
    market, position : Market / Position or mapping
        The market's totals (after interest accrual) and the borrower's position.
    lltv : int
        Liquidation loan-to-value (WAD).
    oracle_price : int
        Oracle price, scaled by ``1e36`` (module docstring).

    Returns
    -------
    bool

    Notes
    -----
    Morpho.sol ``_isHealthy``: ``wMulDown(mulDivDown(collateral, price, 1e36), lltv) >=
    toAssetsUp(borrow_shares)``; see :func:`levguard.core.defi.morpho.is_healthy`.
    """
    return _engine.is_healthy(as_market(market), as_position(position), lltv, oracle_price)


def liquidate(
    market: Market | Mapping[str, object],
    position: Position | Mapping[str, object],
    lltv: int,
    oracle_price: int,
    seized_assets: int,
    repaid_shares: int,
) -> LiquidateResult:
    """Liquidate a position as ``Morpho.liquidate`` does, to the wei.

    Exactly one of ``seized_assets`` (collateral units) and ``repaid_shares`` (borrow shares) is
    non-zero.  Returns ``seized_assets, repaid_assets, repaid_shares, bad_debt_assets,
    bad_debt_shares``, the factor applied and the market and position after.

    Notes
    -----
    Morpho.sol ``liquidate``; the formulas and rounding directions are in
    :func:`levguard.core.defi.morpho.liquidate` and docs/defi.md.
    """
    return _engine.liquidate(as_market(market), as_position(position), lltv, oracle_price, seized_assets, repaid_shares)


def accrue_interest(
    market: Market | Mapping[str, object], borrow_rate_per_second: int, elapsed: int, fee: int
) -> AccrueInterestResult:
    """Accrue interest on a market as ``Morpho._accrueInterest`` does, given the IRM's rate (WAD per
    second), the seconds elapsed and the market's fee (WAD).

    Notes
    -----
    Morpho.sol ``_accrueInterest`` with MathLib ``wTaylorCompounded``; see
    :func:`levguard.core.defi.morpho.accrue_interest`.
    """
    return _engine.accrue_interest(as_market(market), borrow_rate_per_second, elapsed, fee)


@dataclass(frozen=True, slots=True)
class BorrowResult(JsonRecord):
    """What one ``Morpho.borrow`` or ``Morpho.repay`` call does (return values and storage after).

    Attributes
    ----------
    assets, shares : int
        Loan units moved and borrow shares minted (borrow) or burnt (repay).
    market, position : Market, Position
        The market totals and the position after the call.
    """

    assets: int
    shares: int
    market: Market
    position: Position


def _assets_and_shares(
    m: Market,
    assets: int,
    shares: int,
    to_shares: Callable[[int, int, int], int],
    to_assets: Callable[[int, int, int], int],
) -> tuple[int, int]:
    # Exactly one of assets and shares is given (UtilsLib.exactlyOneZero); the other follows from
    # the market's borrow totals with the call's rounding.
    a, s = contract_uint(assets, "assets"), contract_uint(shares, "shares")
    if (a == 0) == (s == 0):
        raise MorphoError(INCONSISTENT_INPUT, f"assets = {a}, shares = {s}")
    if a > 0:
        return a, to_shares(a, m.total_borrow_assets, m.total_borrow_shares)
    return to_assets(s, m.total_borrow_assets, m.total_borrow_shares), s


def _u128_add(a: int, b: int, what: str) -> int:
    # A uint128 storage slot += toUint128(b): the cast reverts first, then the checked addition.
    if b > UINT128_MAX:
        raise MorphoError(MAX_UINT128_EXCEEDED, f"{what} = {b}")
    if a + b > UINT128_MAX:
        raise MorphoError(PANIC_ARITHMETIC, f"{what}: {a} + {b} overflows uint128")
    return a + b


def _u128_sub(a: int, b: int, what: str) -> int:
    if b > UINT128_MAX:
        raise MorphoError(MAX_UINT128_EXCEEDED, f"{what} = {b}")
    if b > a:
        raise MorphoError(PANIC_ARITHMETIC, f"{what}: {a} - {b} underflows")
    return a - b


def borrow(
    market: Market | Mapping[str, object],
    position: Position | Mapping[str, object],
    lltv: int,
    oracle_price: int,
    assets: int = 0,
    shares: int = 0,
) -> BorrowResult:
    """Borrow ``assets`` (or ``shares``) as ``Morpho.borrow`` does, on an accrued market.

    Raises
    ------
    MorphoError
        ``"inconsistent input"`` (not exactly one of ``assets`` and ``shares``), ``"insufficient
        collateral"`` (unhealthy after the borrow), ``"insufficient liquidity"`` (total borrow
        above total supply), ``"max uint128 exceeded"`` or an overflow panic.

    Notes
    -----
    Morpho.sol ``borrow``: ``shares = toSharesUp(assets)`` (or ``assets = toAssetsDown(shares)``);
    the position and the totals grow by them; then ``_isHealthy`` and ``totalBorrowAssets <=
    totalSupplyAssets`` are required.
    """
    m, p = as_market(market), as_position(position)
    a, s = _assets_and_shares(m, assets, shares, to_shares_up, to_assets_down)
    position_shares = _u128_add(p.borrow_shares, s, "borrowShares")
    tbs = _u128_add(m.total_borrow_shares, s, "totalBorrowShares")
    tba = _u128_add(m.total_borrow_assets, a, "totalBorrowAssets")
    after_m = Market(m.total_supply_assets, m.total_supply_shares, tba, tbs)
    after_p = Position(position_shares, p.collateral)
    if not _engine.is_healthy(after_m, after_p, lltv, oracle_price):
        raise MorphoError(INSUFFICIENT_COLLATERAL)
    if tba > m.total_supply_assets:
        raise MorphoError(INSUFFICIENT_LIQUIDITY, f"total borrow {tba} > total supply {m.total_supply_assets}")
    return BorrowResult(a, s, after_m, after_p)


def repay(
    market: Market | Mapping[str, object], position: Position | Mapping[str, object], assets: int = 0, shares: int = 0
) -> BorrowResult:
    """Repay ``assets`` (or ``shares``) as ``Morpho.repay`` does, on an accrued market.

    Raises
    ------
    MorphoError
        ``"inconsistent input"``, or a panic when more shares would be burnt than the position
        owes (repay a whole debt by ``shares``, as the contract's own comments advise).

    Notes
    -----
    Morpho.sol ``repay``: ``shares = toSharesDown(assets)`` (or ``assets = toAssetsUp(shares)``);
    the position and total shares fall by ``shares``, ``totalBorrowAssets =
    zeroFloorSub(totalBorrowAssets, assets)`` (``assets`` may exceed it by 1).
    """
    m, p = as_market(market), as_position(position)
    a, s = _assets_and_shares(m, assets, shares, to_shares_down, to_assets_up)
    position_shares = _u128_sub(p.borrow_shares, s, "borrowShares")
    tbs = _u128_sub(m.total_borrow_shares, s, "totalBorrowShares")
    tba = max(m.total_borrow_assets - a, 0)
    return BorrowResult(
        a, s, Market(m.total_supply_assets, m.total_supply_shares, tba, tbs), Position(position_shares, p.collateral)
    )


def health_factor(
    market: Market | Mapping[str, object], position: Position | Mapping[str, object], lltv: int, oracle_price: int
) -> int:
    """Return the position's health factor in WAD (``2**256 - 1`` without debt).

    Morpho Blue has no health factor on chain; this is the one its SDK reports,
    ``wDivDown(maxBorrow, borrowed)``, so that ``>= 1e18`` exactly when :func:`is_healthy`.

    Raises
    ------
    InputError
        A bad market or position (:func:`as_market`, :func:`as_position`), ``lltv`` not an
        integer in ``[0, 1e18)`` or ``oracle_price`` not a uint256 (each named).

    Notes
    -----
    ``borrowed = toAssetsUp(borrow_shares)``, ``maxBorrow = wMulDown(mulDivDown(collateral,
    price, 1e36), lltv)`` (Morpho.sol ``_isHealthy``); morpho-org/sdks,
    ``packages/blue-sdk/src/market/MarketUtils.ts``, ``getHealthFactor``.
    """
    m, p = as_market(market), as_position(position)
    if not isinstance(lltv, int) or isinstance(lltv, bool) or not 0 <= lltv < WAD:
        raise InputError(f"lltv must be an integer in [0, 1e18), was {lltv!r:.60}")
    # Checked here, not by mul_div_down (whose message names its own argument "y"), and also
    # without debt, where the price is not used.
    price = contract_uint(oracle_price, "oracle_price")
    borrowed = to_assets_up(p.borrow_shares, m.total_borrow_assets, m.total_borrow_shares)
    if borrowed == 0:
        return UINT256_MAX
    max_borrow = w_mul_down(mul_div_down(p.collateral, price, ORACLE_PRICE_SCALE), lltv)
    return w_div_down(max_borrow, borrowed)
