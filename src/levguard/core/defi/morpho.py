"""Morpho Blue's lending arithmetic, exact to the wei: health, liquidation, interest accrual.

Every function here mirrors one piece of the Morpho Blue contract in the contract's own integer
units and rounding, so a result equals what the chain would compute, wei for wei, and an input
the contract would revert on raises :class:`MorphoError` with the contract's revert reason.

Source: github.com/morpho-org/morpho-blue, commit 3085651a79553bbabbfd8be309c262dab45b686e
(logic of ``src/Morpho.sol`` and ``src/libraries/`` unchanged since December 2023):

* ``src/Morpho.sol``: ``liquidate``, ``_isHealthy``, ``_accrueInterest``;
* ``src/libraries/MathLib.sol``: ``WAD``, ``wMulDown``, ``wDivDown``, ``wDivUp``,
  ``mulDivDown``, ``mulDivUp``, ``wTaylorCompounded``;
* ``src/libraries/SharesMathLib.sol``: ``VIRTUAL_SHARES = 1e6``, ``VIRTUAL_ASSETS = 1``,
  ``toSharesDown/Up``, ``toAssetsDown/Up``;
* ``src/libraries/ConstantsLib.sol``: ``ORACLE_PRICE_SCALE = 1e36``,
  ``LIQUIDATION_CURSOR = 0.3e18``, ``MAX_LIQUIDATION_INCENTIVE_FACTOR = 1.15e18``,
  ``MAX_FEE = 0.25e18``;
* ``src/libraries/UtilsLib.sol`` (``exactlyOneZero``, ``min``, ``toUint128``,
  ``zeroFloorSub``) and ``src/libraries/ErrorsLib.sol`` (the revert strings).

Units are the contract's: token amounts and shares are integers in the tokens' smallest units,
``lltv`` and ``fee`` are WAD fractions (``0.86e18`` is 86 %), the oracle price is the price of
one smallest unit of collateral in smallest units of the loan token scaled by ``1e36``
(``1e36 * 10**loan_decimals / 10**collateral_decimals`` per whole-token price unit: WETH priced
at 2,000 USDC is ``2_000 * 10**24``).  The arithmetic is checked as Solidity 0.8 checks it:
an overflow of 256 bits (or of a 128-bit storage slot), an underflow or a division by zero raises
:class:`MorphoError` with the panic's description as ``reason``.

Out of scope: the interest rate model (``accrue_interest`` takes the per-second rate the IRM
would return), oracles, token transfers, callbacks, authorisation and market creation.
``liquidate`` accrues no interest: pass the market as ``accrue_interest`` leaves it at the
liquidation's timestamp, as the contract accrues before it liquidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from levguard.core.records import JsonRecord
from levguard.core.validate import contract_uint
from levguard.errors import InputError

__all__ = [
    "HEALTHY_POSITION",
    "INCONSISTENT_INPUT",
    "LIQUIDATION_CURSOR",
    "MAX_FEE",
    "MAX_FEE_EXCEEDED",
    "MAX_LIQUIDATION_INCENTIVE_FACTOR",
    "MAX_LLTV_EXCEEDED",
    "MAX_UINT128_EXCEEDED",
    "ORACLE_PRICE_SCALE",
    "PANIC_ARITHMETIC",
    "PANIC_DIVISION_BY_ZERO",
    "UINT128_MAX",
    "UINT256_MAX",
    "VIRTUAL_ASSETS",
    "VIRTUAL_SHARES",
    "WAD",
    "AccrueInterestResult",
    "LiquidateResult",
    "Market",
    "MorphoError",
    "Position",
    "accrue_interest",
    "is_healthy",
    "liquidate",
    "liquidation_incentive_factor",
    "mul_div_down",
    "mul_div_up",
    "to_assets_down",
    "to_assets_up",
    "to_shares_down",
    "to_shares_up",
    "w_div_down",
    "w_div_up",
    "w_mul_down",
    "w_taylor_compounded",
]

WAD: Final = 10**18
"""Fixed-point one (MathLib)."""
ORACLE_PRICE_SCALE: Final = 10**36
"""Scale of the oracle price (ConstantsLib)."""
LIQUIDATION_CURSOR: Final = 3 * 10**17
"""The 0.3 (WAD) in the liquidation incentive factor (ConstantsLib)."""
MAX_LIQUIDATION_INCENTIVE_FACTOR: Final = 115 * 10**16
"""Cap of the liquidation incentive factor, 1.15 (WAD) (ConstantsLib)."""
MAX_FEE: Final = 25 * 10**16
"""Largest market fee, 25 % (WAD) (ConstantsLib)."""
VIRTUAL_SHARES: Final = 10**6
"""Virtual shares added to every share total (SharesMathLib)."""
VIRTUAL_ASSETS: Final = 1
"""Virtual assets added to every asset total (SharesMathLib)."""
UINT256_MAX: Final = 2**256 - 1
UINT128_MAX: Final = 2**128 - 1

# ErrorsLib revert strings (the ones the mirrored paths can hit).
HEALTHY_POSITION: Final = "position is healthy"
INCONSISTENT_INPUT: Final = "inconsistent input"
MAX_UINT128_EXCEEDED: Final = "max uint128 exceeded"
MAX_LLTV_EXCEEDED: Final = "max LLTV exceeded"
MAX_FEE_EXCEEDED: Final = "max fee exceeded"
# Solidity 0.8 panics: Panic(0x11) and Panic(0x12) carry no string; these are their descriptions.
PANIC_ARITHMETIC: Final = "arithmetic underflow or overflow"
PANIC_DIVISION_BY_ZERO: Final = "division or modulo by zero"


class MorphoError(InputError):
    """The Morpho Blue contract would revert on this input.

    ``reason`` is the revert string of ``ErrorsLib`` (e.g. ``"position is healthy"``), or for a
    Solidity panic (checked arithmetic) :data:`PANIC_ARITHMETIC` or
    :data:`PANIC_DIVISION_BY_ZERO`; ``detail`` says where it happened.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"Morpho Blue reverts: {reason}" + (f" ({detail})" if detail else ""))

    def __reduce__(self) -> tuple[type[MorphoError], tuple[str, str]]:
        return type(self), (self.reason, self.detail)


# --- validation and checked arithmetic -------------------------------------------------------


def _lltv(lltv: object) -> int:
    # enableLltv requires lltv < WAD, so no market has a larger one.
    x = contract_uint(lltv, "lltv")
    if x >= WAD:
        raise MorphoError(MAX_LLTV_EXCEEDED, f"lltv must be < 1e18, was {x}")
    return x


def _add(x: int, y: int, what: str, bits: int = 256) -> int:
    r = x + y
    if r >> bits:
        raise MorphoError(PANIC_ARITHMETIC, f"{what}: {x} + {y} overflows uint{bits}")
    return r


def _sub(x: int, y: int, what: str) -> int:
    if y > x:
        raise MorphoError(PANIC_ARITHMETIC, f"{what}: {x} - {y} underflows")
    return x - y


def _mul(x: int, y: int, what: str) -> int:
    r = x * y
    if r >> 256:
        raise MorphoError(PANIC_ARITHMETIC, f"{what}: {x} * {y} overflows uint256")
    return r


def _to_uint128(x: int, what: str) -> int:
    # UtilsLib.toUint128: a revert string, not a panic.
    if x > UINT128_MAX:
        raise MorphoError(MAX_UINT128_EXCEEDED, f"{what} = {x}")
    return x


def _mdd(x: int, y: int, d: int, what: str) -> int:
    # MathLib.mulDivDown: (x * y) / d, checked.
    p = _mul(x, y, what)
    if d == 0:
        raise MorphoError(PANIC_DIVISION_BY_ZERO, f"{what}: division by 0")
    return p // d


def _mdu(x: int, y: int, d: int, what: str) -> int:
    # MathLib.mulDivUp: (x * y + (d - 1)) / d; d = 0 underflows in d - 1 before the division.
    return _add(_mul(x, y, what), _sub(d, 1, what), what) // d


def _shares_down(assets: int, total_assets: int, total_shares: int, what: str) -> int:
    return _mdd(assets, _add(total_shares, VIRTUAL_SHARES, what), _add(total_assets, VIRTUAL_ASSETS, what), what)


def _shares_up(assets: int, total_assets: int, total_shares: int, what: str) -> int:
    return _mdu(assets, _add(total_shares, VIRTUAL_SHARES, what), _add(total_assets, VIRTUAL_ASSETS, what), what)


def _assets_down(shares: int, total_assets: int, total_shares: int, what: str) -> int:
    return _mdd(shares, _add(total_assets, VIRTUAL_ASSETS, what), _add(total_shares, VIRTUAL_SHARES, what), what)


def _assets_up(shares: int, total_assets: int, total_shares: int, what: str) -> int:
    return _mdu(shares, _add(total_assets, VIRTUAL_ASSETS, what), _add(total_shares, VIRTUAL_SHARES, what), what)


def _lif(lltv: int) -> int:
    return min(
        MAX_LIQUIDATION_INCENTIVE_FACTOR,
        _mdd(WAD, WAD, WAD - _mdd(LIQUIDATION_CURSOR, WAD - lltv, WAD, "LIF"), "LIF"),
    )


def _taylor(x: int, n: int) -> int:
    first = _mul(x, n, "wTaylorCompounded")
    second = _mdd(first, first, 2 * WAD, "wTaylorCompounded")
    third = _mdd(second, first, 3 * WAD, "wTaylorCompounded")
    return _add(_add(first, second, "wTaylorCompounded"), third, "wTaylorCompounded")


# --- state ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Market(JsonRecord):
    """The totals of one Morpho Blue market (the contract's ``Market`` struct, uint128 each).

    Attributes
    ----------
    total_supply_assets, total_supply_shares : int
        Loan-token units lent to the market, and the supply shares outstanding.
    total_borrow_assets, total_borrow_shares : int
        Loan-token units borrowed from the market, and the borrow shares outstanding.
    """

    total_supply_assets: int
    total_supply_shares: int
    total_borrow_assets: int
    total_borrow_shares: int

    def __post_init__(self) -> None:
        for name in ("total_supply_assets", "total_supply_shares", "total_borrow_assets", "total_borrow_shares"):
            object.__setattr__(self, name, contract_uint(getattr(self, name), f"market.{name}", 128))


@dataclass(frozen=True, slots=True)
class Position(JsonRecord):
    """A borrower's position in one market (the contract's ``Position``, borrow side).

    Attributes
    ----------
    borrow_shares : int
        Borrow shares owed (uint128).
    collateral : int
        Collateral-token units posted (uint128).
    """

    borrow_shares: int
    collateral: int

    def __post_init__(self) -> None:
        for name in ("borrow_shares", "collateral"):
            object.__setattr__(self, name, contract_uint(getattr(self, name), f"position.{name}", 128))


@dataclass(frozen=True, slots=True)
class LiquidateResult(JsonRecord):
    """What one ``Morpho.liquidate`` call does (its return values, its ``Liquidate`` event, the
    storage after it).

    Attributes
    ----------
    seized_assets : int
        Collateral units the liquidator receives (the contract's first return value).
    repaid_assets : int
        Loan units the liquidator pays (the second return value); may exceed the market's total
        borrow assets by 1, as the contract notes.
    repaid_shares : int
        Borrow shares the repayment removes.
    bad_debt_assets, bad_debt_shares : int
        Debt written off when the position's collateral reaches 0 (else 0): the shares the
        borrower still owes and their asset value, taken from lenders' total supply assets.
    liquidation_incentive_factor : int
        The factor applied (WAD).
    market : Market
        The market totals after the liquidation.
    position : Position
        The borrower's position after the liquidation.
    """

    seized_assets: int
    repaid_assets: int
    repaid_shares: int
    bad_debt_assets: int
    bad_debt_shares: int
    liquidation_incentive_factor: int
    market: Market
    position: Position


@dataclass(frozen=True, slots=True)
class AccrueInterestResult(JsonRecord):
    """What ``Morpho._accrueInterest`` does to a market.

    Attributes
    ----------
    interest : int
        Loan units of interest added to both total borrow and total supply assets.
    fee_shares : int
        Supply shares minted to the fee recipient.
    market : Market
        The market totals after accrual.
    """

    interest: int
    fee_shares: int
    market: Market


# --- MathLib and SharesMathLib ------------------------------------------------------------------


def mul_div_down(x: int, y: int, d: int) -> int:
    """Return ``floor(x * y / d)`` (MathLib ``mulDivDown``), reverting as Solidity 0.8 does.

    Raises
    ------
    MorphoError
        ``x * y`` overflows uint256, or ``d`` is 0.
    """
    return _mdd(contract_uint(x, "x"), contract_uint(y, "y"), contract_uint(d, "d"), "mulDivDown")


def mul_div_up(x: int, y: int, d: int) -> int:
    """Return ``(x * y + (d - 1)) // d``, ``x * y / d`` rounded up (MathLib ``mulDivUp``).

    Raises
    ------
    MorphoError
        The sum overflows uint256, or ``d`` is 0 (``d - 1`` underflows: a panic 0x11).
    """
    return _mdu(contract_uint(x, "x"), contract_uint(y, "y"), contract_uint(d, "d"), "mulDivUp")


def w_mul_down(x: int, y: int) -> int:
    """Return ``floor(x * y / WAD)`` (MathLib ``wMulDown``)."""
    return _mdd(contract_uint(x, "x"), contract_uint(y, "y"), WAD, "wMulDown")


def w_div_down(x: int, y: int) -> int:
    """Return ``floor(x * WAD / y)`` (MathLib ``wDivDown``)."""
    return _mdd(contract_uint(x, "x"), WAD, contract_uint(y, "y"), "wDivDown")


def w_div_up(x: int, y: int) -> int:
    """Return ``ceil(x * WAD / y)`` (MathLib ``wDivUp``)."""
    return _mdu(contract_uint(x, "x"), WAD, contract_uint(y, "y"), "wDivUp")


def w_taylor_compounded(x: int, n: int) -> int:
    """Return ``e^(x n) - 1`` (WAD) to three Taylor terms (MathLib ``wTaylorCompounded``).

    Parameters
    ----------
    x : int
        Rate per second (WAD).
    n : int
        Seconds elapsed.

    Notes
    -----
    ``first = x * n``, ``second = floor(first**2 / (2 WAD))``,
    ``third = floor(second * first / (3 WAD))``; the result is ``first + second + third``, below
    the continuous compounding ``e^(xn) - 1`` and above simple interest ``xn``.
    """
    return _taylor(contract_uint(x, "x"), contract_uint(n, "n"))


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    """Return ``assets`` in shares, rounded down (SharesMathLib ``toSharesDown``).

    Notes
    -----
    ``floor(assets * (total_shares + 1e6) / (total_assets + 1))``.
    """
    return _shares_down(
        contract_uint(assets, "assets"),
        contract_uint(total_assets, "total_assets"),
        contract_uint(total_shares, "total_shares"),
        "toSharesDown",
    )


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    """Return ``assets`` in shares, rounded up (SharesMathLib ``toSharesUp``)."""
    return _shares_up(
        contract_uint(assets, "assets"),
        contract_uint(total_assets, "total_assets"),
        contract_uint(total_shares, "total_shares"),
        "toSharesUp",
    )


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    """Return ``shares`` in assets, rounded down (SharesMathLib ``toAssetsDown``).

    Notes
    -----
    ``floor(shares * (total_assets + 1) / (total_shares + 1e6))``.
    """
    return _assets_down(
        contract_uint(shares, "shares"),
        contract_uint(total_assets, "total_assets"),
        contract_uint(total_shares, "total_shares"),
        "toAssetsDown",
    )


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    """Return ``shares`` in assets, rounded up (SharesMathLib ``toAssetsUp``)."""
    return _assets_up(
        contract_uint(shares, "shares"),
        contract_uint(total_assets, "total_assets"),
        contract_uint(total_shares, "total_shares"),
        "toAssetsUp",
    )


# --- Morpho.sol -----------------------------------------------------------------------------------


def liquidation_incentive_factor(lltv: int) -> int:
    """Return the liquidation incentive factor (WAD) of a market with this LLTV.

    Parameters
    ----------
    lltv : int
        Liquidation loan-to-value (WAD), below ``1e18``.

    Returns
    -------
    int
        ``min(1.15e18, wDivDown(WAD, WAD - wMulDown(0.3e18, WAD - lltv)))``: 1 / (1 - 0.3 (1 - LLTV))
        rounded down, capped at 1.15; ``1_043_841_336_116_910_229`` for LLTV 86 %.

    Raises
    ------
    MorphoError
        ``"max LLTV exceeded"`` for ``lltv >= 1e18`` (no market can have it: ``enableLltv``).

    Notes
    -----
    Morpho.sol ``liquidate``; constants from ConstantsLib.
    """
    return _lif(_lltv(lltv))


def _healthy(market: Market, position: Position, lltv: int, price: int) -> bool:
    # Morpho._isHealthy(marketParams, id, borrower, collateralPrice).
    borrowed = _assets_up(
        position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares, "_isHealthy borrowed"
    )
    max_borrow = _mdd(
        _mdd(position.collateral, price, ORACLE_PRICE_SCALE, "_isHealthy maxBorrow"), lltv, WAD, "_isHealthy maxBorrow"
    )
    return max_borrow >= borrowed


def _state(market: object, position: object) -> tuple[Market, Position]:
    if not isinstance(market, Market):
        raise InputError(f"market must be a Market, was {type(market).__name__}")
    if not isinstance(position, Position):
        raise InputError(f"position must be a Position, was {type(position).__name__}")
    return market, position


def is_healthy(market: Market, position: Position, lltv: int, oracle_price: int) -> bool:
    """Return whether the position is healthy (not liquidatable) at this oracle price.

    Parameters
    ----------
    market : Market
        The market's totals (after interest accrual, for the chain's current answer).
    position : Position
        The borrower's position.
    lltv : int
        Liquidation loan-to-value (WAD).
    oracle_price : int
        Oracle price (scaled 1e36, see the module docstring).

    Returns
    -------
    bool
        ``maxBorrow >= borrowed`` with ``borrowed = toAssetsUp(borrow_shares)`` and
        ``maxBorrow = wMulDown(mulDivDown(collateral, price, 1e36), lltv)``; True without
        reading the price when the position owes no shares.

    Notes
    -----
    Morpho.sol ``_isHealthy`` (both overloads).  Both roundings favour the protocol: the debt
    rounds up, the borrowing capacity down, so a position at exactly the LLTV is healthy.
    """
    market, position = _state(market, position)
    lltv_ = _lltv(lltv)
    price = contract_uint(oracle_price, "oracle_price")
    if position.borrow_shares == 0:
        return True
    return _healthy(market, position, lltv_, price)


def liquidate(
    market: Market,
    position: Position,
    lltv: int,
    oracle_price: int,
    seized_assets: int,
    repaid_shares: int,
) -> LiquidateResult:
    """Liquidate a position as ``Morpho.liquidate`` does, to the wei.

    Parameters
    ----------
    market : Market
        The market's totals after interest accrual at the liquidation's timestamp.
    position : Position
        The borrower's position.
    lltv : int
        The market's liquidation loan-to-value (WAD).
    oracle_price : int
        The oracle's price (scaled 1e36).
    seized_assets : int
        Collateral units to seize, or 0 to give ``repaid_shares``.
    repaid_shares : int
        Borrow shares to repay, or 0 to give ``seized_assets``; exactly one of the two is non-zero.

    Returns
    -------
    LiquidateResult
        Seized and repaid amounts, bad debt realised, and the market and position after.

    Raises
    ------
    MorphoError
        With the contract's reason: ``"inconsistent input"`` (not exactly one amount non-zero),
        ``"position is healthy"``, ``"max uint128 exceeded"``, a panic
        (:data:`PANIC_ARITHMETIC`: e.g. repaying more shares or seizing more collateral than the
        position holds; :data:`PANIC_DIVISION_BY_ZERO`: a repaid-shares liquidation at price 0),
        and ``"max LLTV exceeded"`` for an LLTV no market can have.
    InputError
        A value that is no uint (negative, too large, not an integer) or a state field beyond uint128.

    Notes
    -----
    Shares and assets convert on the borrow totals before the liquidation (SharesMathLib, with
    the virtual 1 asset and 1e6 shares); ``LIF`` is :func:`liquidation_incentive_factor`:

    * seized given: ``repaid_shares = toSharesUp(wDivUp(mulDivUp(seized, price, 1e36), LIF))``;
    * shares given: ``seized = mulDivDown(wMulDown(toAssetsDown(repaid_shares), LIF), 1e36, price)``;
    * ``repaid_assets = toAssetsUp(repaid_shares)``: every rounding favours the protocol;
    * the position loses ``repaid_shares`` and ``seized``; total borrow shares fall by
      ``repaid_shares``, total borrow assets by ``repaid_assets`` (floored at 0);
    * if the collateral is then 0, the remaining shares are bad debt: ``bad_debt_shares`` =
      the position's remaining shares, ``bad_debt_assets = min(total_borrow_assets,
      toAssetsUp(bad_debt_shares))`` on the updated totals, subtracted from total borrow and
      total supply assets (lenders take the loss); the position then owes nothing.

    Source: Morpho.sol ``liquidate`` (morpho-org/morpho-blue, commit 3085651).
    """
    market, position = _state(market, position)
    lltv_ = _lltv(lltv)
    price = contract_uint(oracle_price, "oracle_price")
    seized = contract_uint(seized_assets, "seized_assets")
    shares = contract_uint(repaid_shares, "repaid_shares")
    if (seized == 0) == (shares == 0):
        raise MorphoError(INCONSISTENT_INPUT, f"seized_assets = {seized}, repaid_shares = {shares}")
    if _healthy(market, position, lltv_, price):
        raise MorphoError(HEALTHY_POSITION)

    tba, tbs = market.total_borrow_assets, market.total_borrow_shares
    lif = _lif(lltv_)
    if seized > 0:
        quoted = _mdu(seized, price, ORACLE_PRICE_SCALE, "seizedAssetsQuoted")
        shares = _shares_up(_mdu(quoted, WAD, lif, "repaidShares"), tba, tbs, "repaidShares")
    else:
        value = _mdd(_assets_down(shares, tba, tbs, "seizedAssets"), lif, WAD, "seizedAssets")
        seized = _mdd(value, ORACLE_PRICE_SCALE, price, "seizedAssets")
    repaid_assets = _assets_up(shares, tba, tbs, "repaidAssets")

    borrow_shares = _sub(position.borrow_shares, _to_uint128(shares, "repaidShares"), "position.borrowShares")
    tbs = _sub(tbs, shares, "totalBorrowShares")
    tba = max(tba - repaid_assets, 0)  # zeroFloorSub; the result fits uint128
    collateral = _sub(position.collateral, _to_uint128(seized, "seizedAssets"), "position.collateral")

    tsa = market.total_supply_assets
    bad_shares = bad_assets = 0
    if collateral == 0:
        bad_shares = borrow_shares
        bad_assets = min(tba, _assets_up(bad_shares, tba, tbs, "badDebtAssets"))
        tba -= bad_assets
        tsa = _sub(tsa, bad_assets, "totalSupplyAssets")
        tbs = _sub(tbs, bad_shares, "totalBorrowShares")
        borrow_shares = 0

    return LiquidateResult(
        seized_assets=seized,
        repaid_assets=repaid_assets,
        repaid_shares=shares,
        bad_debt_assets=bad_assets,
        bad_debt_shares=bad_shares,
        liquidation_incentive_factor=lif,
        market=Market(tsa, market.total_supply_shares, tba, tbs),
        position=Position(borrow_shares, collateral),
    )


def accrue_interest(market: Market, borrow_rate_per_second: int, elapsed: int, fee: int) -> AccrueInterestResult:
    """Accrue interest on a market as ``Morpho._accrueInterest`` does, given the IRM's rate.

    Parameters
    ----------
    market : Market
        The market's totals at its last update.
    borrow_rate_per_second : int
        The borrow rate per second (WAD) the market's IRM returns for these totals.
    elapsed : int
        Seconds since the market's last update.
    fee : int
        The market's fee (WAD), at most ``0.25e18``.

    Returns
    -------
    AccrueInterestResult
        The interest, the fee shares minted and the market after.

    Raises
    ------
    MorphoError
        ``"max fee exceeded"`` for a fee no market can have (``setFee``), ``"max uint128
        exceeded"`` or a panic when a total would overflow.

    Notes
    -----
    ``interest = wMulDown(total_borrow_assets, wTaylorCompounded(rate, elapsed))`` is added to
    total borrow and total supply assets; with a fee, ``fee_amount = wMulDown(interest, fee)``
    and ``fee_shares = toSharesDown(fee_amount, total_supply_assets_after - fee_amount,
    total_supply_shares)`` are minted to the fee recipient.  Nothing changes when ``elapsed``
    is 0.  A market without an IRM accrues nothing: pass rate 0.

    Source: Morpho.sol ``_accrueInterest`` (morpho-org/morpho-blue, commit 3085651).
    """
    if not isinstance(market, Market):
        raise InputError(f"market must be a Market, was {type(market).__name__}")
    rate = contract_uint(borrow_rate_per_second, "borrow_rate_per_second")
    seconds = contract_uint(elapsed, "elapsed")
    fee_ = contract_uint(fee, "fee", 128)
    if fee_ > MAX_FEE:
        raise MorphoError(MAX_FEE_EXCEEDED, f"fee must be <= 0.25e18, was {fee_}")
    if seconds == 0:
        return AccrueInterestResult(interest=0, fee_shares=0, market=market)

    interest = _mdd(market.total_borrow_assets, _taylor(rate, seconds), WAD, "interest")
    interest_128 = _to_uint128(interest, "interest")
    tba = _add(market.total_borrow_assets, interest_128, "totalBorrowAssets", 128)
    tsa = _add(market.total_supply_assets, interest_128, "totalSupplyAssets", 128)
    tss = market.total_supply_shares
    fee_shares = 0
    if fee_ != 0:
        fee_amount = _mdd(interest, fee_, WAD, "feeAmount")
        fee_shares = _shares_down(fee_amount, tsa - fee_amount, tss, "feeShares")
        tss = _add(tss, _to_uint128(fee_shares, "feeShares"), "totalSupplyShares", 128)
    return AccrueInterestResult(
        interest=interest, fee_shares=fee_shares, market=Market(tsa, tss, tba, market.total_borrow_shares)
    )
