"""Morpho Blue's AdaptiveCurveIrm, exact to the wei: ``wExp``, the curve and the adaptive rate at target.

Every function mirrors the contract's signed ``int256`` arithmetic: products and sums are checked
(an overflow raises :class:`~levguard.core.defi.morpho.MorphoError` with
:data:`~levguard.core.defi.morpho.PANIC_ARITHMETIC`, as Solidity 0.8's ``Panic(0x11)``), and a
division truncates toward zero as Solidity's does (Python's ``//`` floors: ``-7 // 2 == -4``,
Solidity's ``-7 / 2 == -3``).  ``ExpLib.wExp`` is an ``unchecked`` block whose inputs are bounded,
so it needs no checks.

Units are the contract's: rates are per second, scaled by WAD (``1e18``); utilisation and the
normalised error ``err`` are WAD fractions (``0.9e18`` is 90 %); the rate at target is the
contract's ``rateAtTarget[id]`` (``int256``, 0 before the market's first interaction).

Source: morpho-org/morpho-blue-irm at tag v1.0.0 (commit a7d9cce3451b4a106bfd40933ac57a785b5228f3,
the deployed AdaptiveCurveIrm), ``src/AdaptiveCurveIrm.sol``, ``src/libraries/MathLib.sol``,
``src/libraries/UtilsLib.sol``, ``src/libraries/adaptive-curve/ExpLib.sol`` and
``ConstantsLib.sol``; their logic is unchanged at commit a1a87fd5a7ee13873ea9d2bbd87e9c7b2cdbbef3
(files moved under ``src/adaptive-curve-irm/``).  ``Morpho._accrueInterest`` (morpho-org/morpho-blue
``src/Morpho.sol``) calls the IRM only when time has passed and applies its rate with
``wTaylorCompounded`` (:func:`levguard.core.defi.morpho.accrue_interest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from levguard.core.defi.morpho import (
    PANIC_ARITHMETIC,
    PANIC_DIVISION_BY_ZERO,
    WAD,
    Market,
    MorphoError,
    accrue_interest,
    w_div_down,
)
from levguard.core.records import JsonRecord
from levguard.core.validate import contract_int, contract_sint, contract_uint
from levguard.errors import InputError

__all__ = [
    "ADJUSTMENT_SPEED",
    "CURVE_STEEPNESS",
    "INITIAL_RATE_AT_TARGET",
    "LN_2_INT",
    "LN_WEI_INT",
    "MAX_RATE_AT_TARGET",
    "MIN_RATE_AT_TARGET",
    "TARGET_UTILIZATION",
    "WEXP_UPPER_BOUND",
    "WEXP_UPPER_VALUE",
    "AdaptiveCurveAccrual",
    "AdaptiveCurveRate",
    "adaptive_curve_accrue_interest",
    "adaptive_curve_borrow_rate",
    "borrow_rate_view",
    "curve",
    "new_rate_at_target",
    "w_div_to_zero",
    "w_exp",
    "w_mul_to_zero",
]

_YEAR: Final = 365 * 86_400
INT256_MIN: Final = -(2**255)
INT256_MAX: Final = 2**255 - 1
_UINT256: Final = 2**256

CURVE_STEEPNESS: Final = 4 * WAD
"""Curve steepness C = 4 (WAD): the rate is ``rate_at_target / 4`` at 0 % and ``4 x`` at 100 %."""
ADJUSTMENT_SPEED: Final = 50 * WAD // _YEAR
"""50 per year, per second (WAD): ``1585489599188``."""
TARGET_UTILIZATION: Final = 9 * 10**17
"""Target utilisation, 90 % (WAD)."""
INITIAL_RATE_AT_TARGET: Final = 4 * 10**16 // _YEAR
"""Rate at target of a new market, 4 % a year, per second (WAD): ``1268391679``."""
MIN_RATE_AT_TARGET: Final = 10**15 // _YEAR
"""Floor of the rate at target, 0.1 % a year (so the lowest rate is 0.025 %)."""
MAX_RATE_AT_TARGET: Final = 2 * WAD // _YEAR
"""Cap of the rate at target, 200 % a year (so the highest rate is 800 %)."""
LN_2_INT: Final = 693_147_180_559_945_309
"""ln 2 (WAD), ExpLib."""
LN_WEI_INT: Final = -41_446_531_673_892_822_312
"""ln 1e-18 (WAD): below it ``wExp`` returns 0."""
WEXP_UPPER_BOUND: Final = 93_859_467_695_000_404_319
"""ln(type(int256).max / 1e36) (WAD, floored): from it on ``wExp`` returns :data:`WEXP_UPPER_VALUE`."""
WEXP_UPPER_VALUE: Final = 57_716_089_161_558_943_949_701_069_502_944_508_345_128_422_502_756_744_429_568
"""``wExp(WEXP_UPPER_BOUND)``."""


# --- int256 arithmetic as Solidity 0.8 checks it ---------------------------------------------------


def _chk(x: int, what: str) -> int:
    if not INT256_MIN <= x <= INT256_MAX:
        raise MorphoError(PANIC_ARITHMETIC, f"{what} overflows int256")
    return x


def _sdiv(a: int, b: int, what: str) -> int:
    # Solidity's signed division: truncation toward zero; x / 0 and int256.min / -1 panic.
    if b == 0:
        raise MorphoError(PANIC_DIVISION_BY_ZERO, what)
    if a == INT256_MIN and b == -1:
        raise MorphoError(PANIC_ARITHMETIC, f"{what}: int256.min / -1 overflows")
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _wmul0(x: int, y: int, what: str) -> int:
    return _sdiv(_chk(x * y, what), WAD, what)


def _wdiv0(x: int, y: int, what: str) -> int:
    return _sdiv(_chk(x * WAD, what), y, what)


def _bound(x: int, low: int, high: int) -> int:
    # UtilsLib.bound: min(x, high), then max(., low) (low when low > high).
    z = high if high < x else x
    return low if low > z else z


def _w_exp(x: int) -> int:
    # ExpLib.wExp: x = q ln2 + r with |r| <= ln2 / 2, e^r by 1 + r + r^2/2, times 2^q by shifts.
    if x < LN_WEI_INT:
        return 0
    if x >= WEXP_UPPER_BOUND:
        return WEXP_UPPER_VALUE
    adjustment = -(LN_2_INT // 2) if x < 0 else LN_2_INT // 2
    q = _sdiv(x + adjustment, LN_2_INT, "wExp")
    r = x - q * LN_2_INT
    exp_r = WAD + r + r * r // WAD // 2  # r * r >= 0: floor equals truncation
    return exp_r << q if q >= 0 else exp_r >> -q


def _curve(rate_at_target: int, err: int) -> int:
    coeff = WAD - _wdiv0(WAD, CURVE_STEEPNESS, "curve") if err < 0 else CURVE_STEEPNESS - WAD
    return _wmul0(_chk(_wmul0(coeff, err, "curve") + WAD, "curve"), rate_at_target, "curve")


def _new_rate_at_target(start: int, linear_adaptation: int) -> int:
    return _bound(_wmul0(start, _w_exp(linear_adaptation), "newRateAtTarget"), MIN_RATE_AT_TARGET, MAX_RATE_AT_TARGET)


# --- public mirrors of the libraries ---------------------------------------------------------------


def w_mul_to_zero(x: int, y: int) -> int:
    """Return ``x * y / WAD`` truncated toward zero (MathLib ``wMulToZero``, int256).

    Raises
    ------
    MorphoError
        ``x * y`` overflows int256 (:data:`~levguard.core.defi.morpho.PANIC_ARITHMETIC`).
    """
    return _wmul0(contract_sint(x, "x"), contract_sint(y, "y"), "wMulToZero")


def w_div_to_zero(x: int, y: int) -> int:
    """Return ``x * WAD / y`` truncated toward zero (MathLib ``wDivToZero``, int256).

    Raises
    ------
    MorphoError
        ``x * WAD`` overflows int256, or ``y`` is 0.
    """
    return _wdiv0(contract_sint(x, "x"), contract_sint(y, "y"), "wDivToZero")


def w_exp(x: int) -> int:
    """Return ``e^(x / 1e18)`` scaled by WAD, as ExpLib ``wExp`` approximates it.

    Parameters
    ----------
    x : int
        Exponent (WAD, int256).

    Returns
    -------
    int
        0 when ``x < ln(1e-18)`` (:data:`LN_WEI_INT`); :data:`WEXP_UPPER_VALUE` when
        ``x >= WEXP_UPPER_BOUND``; else ``2^q * (1 + r + r^2/2)`` (WAD).

    Notes
    -----
    ``q = trunc((x +- ln2/2) / ln2)`` (``x`` divided by ln 2 rounded half away from zero, the
    sign of the adjustment being the sign of ``x``), ``r = x - q ln2`` with ``|r| <= ln2 / 2``,
    ``e^r ~ 1e18 + r + floor(r^2 / 1e18) / 2`` (second-order Taylor polynomial, truncated
    divisions), then ``<< q`` or ``>> -q`` (floor).  The relative error of the polynomial on
    ``|r| <= ln2 / 2`` is below 1 % (ExpLibTest ``testWExp`` bounds it by 1 % on
    ``[ln 1e-9, WEXP_UPPER_BOUND]``); below ``ln 1e-9`` the shifts truncate to at most ``1e10``
    wei of absolute error (``testWExpSmall``).

    Source: morpho-org/morpho-blue-irm ``src/libraries/adaptive-curve/ExpLib.sol`` (v1.0.0).
    """
    return _w_exp(contract_sint(x, "x"))


def curve(rate_at_target: int, err: int) -> int:
    """Return the borrow rate at normalised error ``err`` on the curve through ``rate_at_target``.

    Parameters
    ----------
    rate_at_target : int
        Rate at target utilisation, per second (WAD, int256).
    err : int
        Normalised utilisation error (WAD, int256), -1e18 at 0 % utilisation, 0 at target,
        1e18 at 100 %.

    Returns
    -------
    int
        ``((1 - 1/C) err + 1) * rate_at_target`` when ``err < 0``, else
        ``((C - 1) err + 1) * rate_at_target`` (WAD, per second; int256).

    Notes
    -----
    With C = 4: the coefficient is ``WAD - wDivToZero(WAD, 4e18) = 0.75e18`` below target and
    ``3e18`` above; ``(wMulToZero(coeff, err) + WAD).wMulToZero(rate_at_target)``.

    Source: AdaptiveCurveIrm.sol ``_curve`` (morpho-org/morpho-blue-irm v1.0.0).
    """
    return _curve(contract_sint(rate_at_target, "rate_at_target"), contract_sint(err, "err"))


def new_rate_at_target(start_rate_at_target: int, linear_adaptation: int) -> int:
    """Return the rate at target after an adaptation of ``linear_adaptation`` (WAD, int256).

    Notes
    -----
    ``bound(wMulToZero(start, wExp(linear_adaptation)), MIN_RATE_AT_TARGET, MAX_RATE_AT_TARGET)``,
    ``linear_adaptation = speed * elapsed`` with ``speed = wMulToZero(ADJUSTMENT_SPEED, err)``.

    Source: AdaptiveCurveIrm.sol ``_newRateAtTarget`` (morpho-org/morpho-blue-irm v1.0.0).
    """
    return _new_rate_at_target(
        contract_sint(start_rate_at_target, "start_rate_at_target"),
        contract_sint(linear_adaptation, "linear_adaptation"),
    )


# --- the IRM ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdaptiveCurveRate(JsonRecord):
    """What ``AdaptiveCurveIrm._borrowRate`` returns, with the inputs of its curve.

    Attributes
    ----------
    avg_borrow_rate : int
        The rate Morpho applies over the elapsed period (WAD per second): the curve at the
        trapezoidal average of the rate at target (``borrowRate``'s return value).
    end_rate_at_target : int
        The rate at target at the end of the period, stored by ``borrowRate`` as
        ``rateAtTarget[id]`` (WAD per second).
    utilization : int
        ``wDivDown(total_borrow_assets, total_supply_assets)`` (0 without supply), WAD.
    err : int
        ``(utilization - 0.9) / 0.1`` above target, ``(utilization - 0.9) / 0.9`` at or below it
        (WAD, truncated toward zero).
    """

    avg_borrow_rate: int
    end_rate_at_target: int
    utilization: int
    err: int


@dataclass(frozen=True, slots=True)
class AdaptiveCurveAccrual(JsonRecord):
    """What ``Morpho._accrueInterest`` does to a market whose IRM is the AdaptiveCurveIrm.

    Attributes
    ----------
    interest : int
        Loan units added to total borrow and total supply assets.
    fee_shares : int
        Supply shares minted to the fee recipient.
    market : Market
        The market totals after accrual.
    avg_borrow_rate : int
        The rate the IRM returned (WAD per second); 0 when ``elapsed`` is 0 (Morpho does not call
        the IRM then).
    rate_at_target : int
        The IRM's stored rate at target after the call (unchanged when ``elapsed`` is 0).
    """

    interest: int
    fee_shares: int
    market: Market
    avg_borrow_rate: int
    rate_at_target: int


def _market(market: object) -> Market:
    if not isinstance(market, Market):
        raise InputError(f"market must be a levguard.core.defi.morpho.Market, was {type(market).__name__}")
    return market


def _borrow_rate(market: Market, start: int, elapsed: int) -> AdaptiveCurveRate:
    tsa, tba = market.total_supply_assets, market.total_borrow_assets
    utilization = w_div_down(tba, tsa) if tsa > 0 else 0  # < 2**188: the int256 cast is exact
    norm = WAD - TARGET_UTILIZATION if utilization > TARGET_UTILIZATION else TARGET_UTILIZATION
    err = _wdiv0(_chk(utilization - TARGET_UTILIZATION, "err"), norm, "err")
    if start == 0:  # first interaction
        avg = end = INITIAL_RATE_AT_TARGET
    else:
        speed = _wmul0(ADJUSTMENT_SPEED, err, "speed")
        seconds = elapsed - _UINT256 if elapsed > INT256_MAX else elapsed  # int256(uint256), unchecked
        linear_adaptation = _chk(speed * seconds, "linearAdaptation")
        if linear_adaptation == 0:
            avg = end = start
        else:
            end = _new_rate_at_target(start, linear_adaptation)
            mid = _new_rate_at_target(start, _sdiv(linear_adaptation, 2, "linearAdaptation / 2"))
            total = _chk(_chk(start + end, "avgRateAtTarget") + _chk(2 * mid, "avgRateAtTarget"), "avgRateAtTarget")
            avg = _sdiv(total, 4, "avgRateAtTarget")
    rate = _curve(avg, err) % _UINT256  # uint256(int256), unchecked
    return AdaptiveCurveRate(avg_borrow_rate=rate, end_rate_at_target=end, utilization=utilization, err=err)


def adaptive_curve_borrow_rate(market: Market, rate_at_target: int, elapsed: int) -> AdaptiveCurveRate:
    """Return the AdaptiveCurveIrm's borrow rate for ``market`` and its new rate at target.

    Parameters
    ----------
    market : Market
        The market's totals at its last update (``lastUpdate``), as Morpho passes them.
    rate_at_target : int
        The IRM's stored ``rateAtTarget[id]`` (WAD per second); 0 before the first interaction
        (Morpho's ``createMarket`` makes one, which stores :data:`INITIAL_RATE_AT_TARGET`).
    elapsed : int
        Seconds since the market's last update, ``block.timestamp - lastUpdate`` (uint256).

    Returns
    -------
    AdaptiveCurveRate
        ``avg_borrow_rate`` (``borrowRate`` / ``borrowRateView``) and ``end_rate_at_target``.

    Raises
    ------
    MorphoError
        An int256 overflow the contract would revert on (an absurd ``elapsed`` or rate at target).

    Notes
    -----
    With ``u`` the utilisation and ``err`` its normalised error (:class:`AdaptiveCurveRate`):
    ``speed = ADJUSTMENT_SPEED * err``, ``L = speed * elapsed``,
    ``end = clamp(start * wExp(L), MIN_RATE_AT_TARGET, MAX_RATE_AT_TARGET)``,
    ``mid = clamp(start * wExp(L / 2), ...)`` and the trapezoidal average of the rate at target
    over the period ``avg = (start + end + 2 mid) / 4`` (all divisions truncate toward zero);
    the borrow rate is ``curve(avg, err)``.  On the first interaction (``start == 0``) both are
    :data:`INITIAL_RATE_AT_TARGET`; when ``L == 0`` both stay ``start``.

    Source: AdaptiveCurveIrm.sol ``_borrowRate`` (morpho-org/morpho-blue-irm v1.0.0).
    """
    start = contract_int(rate_at_target, "rate_at_target", 0, INT256_MAX, "non-negative int256")
    seconds = contract_uint(elapsed, "elapsed")
    return _borrow_rate(_market(market), start, seconds)


def borrow_rate_view(market: Market, rate_at_target: int, elapsed: int) -> int:
    """Return ``AdaptiveCurveIrm.borrowRateView``: the average borrow rate (WAD per second).

    See :func:`adaptive_curve_borrow_rate` (this is its ``avg_borrow_rate``).
    """
    return adaptive_curve_borrow_rate(market, rate_at_target, elapsed).avg_borrow_rate


def adaptive_curve_accrue_interest(
    market: Market, rate_at_target: int, elapsed: int, fee: int = 0
) -> AdaptiveCurveAccrual:
    """Accrue ``elapsed`` seconds of interest on a market priced by the AdaptiveCurveIrm.

    Parameters
    ----------
    market : Market
        The market's totals at its last update.
    rate_at_target : int
        The IRM's stored rate at target (WAD per second; 0 before the first interaction).
    elapsed : int
        Seconds since the last update.
    fee : int, default 0
        The market's fee (WAD, at most 0.25e18).

    Returns
    -------
    AdaptiveCurveAccrual
        Interest, fee shares, the market after, the rate applied and the new rate at target.

    Notes
    -----
    ``Morpho._accrueInterest``: nothing happens when ``elapsed`` is 0; else the IRM's
    ``borrowRate`` (:func:`adaptive_curve_borrow_rate`) is applied as
    ``interest = wMulDown(total_borrow_assets, wTaylorCompounded(rate, elapsed))``
    (:func:`levguard.core.defi.morpho.accrue_interest`) and the IRM stores the end rate at target.
    Calling this once per block reproduces a market's path; one call over a long period applies
    one (trapezoidal) average rate, as the chain would if nobody touched the market.

    Source: morpho-org/morpho-blue ``src/Morpho.sol`` ``_accrueInterest`` (commit 3085651) and
    AdaptiveCurveIrm.sol ``borrowRate`` (morpho-org/morpho-blue-irm v1.0.0).
    """
    m = _market(market)
    start = contract_int(rate_at_target, "rate_at_target", 0, INT256_MAX, "non-negative int256")
    seconds = contract_uint(elapsed, "elapsed")
    if seconds == 0:
        same = accrue_interest(m, 0, 0, fee)  # validates the fee as the contract does
        return AdaptiveCurveAccrual(same.interest, same.fee_shares, same.market, 0, start)
    rate = _borrow_rate(m, start, seconds)
    accrual = accrue_interest(m, rate.avg_borrow_rate, seconds, fee)
    return AdaptiveCurveAccrual(
        interest=accrual.interest,
        fee_shares=accrual.fee_shares,
        market=accrual.market,
        avg_borrow_rate=rate.avg_borrow_rate,
        rate_at_target=rate.end_rate_at_target,
    )
