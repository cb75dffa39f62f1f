"""Compound III (Comet) balances, interest and reserves, exact to the wei.

Present and principal values at the stored indexes, the kink interest-rate model, interest and
reward-tracking accrual, balances and reserves: each function mirrors the ``Comet.sol`` /
``CometCore.sol`` function of the same name (snake_case) on a
:class:`~levguard.core.defi.comet_state.Comet`, in its units and rounding.  Functions evaluated at
``block.timestamp`` take ``now`` (seconds since the epoch); ``None`` means no time has passed
since ``last_accrual_time``.

Source: compound-finance/comet at commit d5a30b0aaeff7755f1431e87f818990902237b03,
``contracts/CometCore.sol`` and ``contracts/Comet.sol`` (the accrual is unchanged since commit
376fdeba, November 2022).
"""

from __future__ import annotations

import dataclasses
from typing import Final

from levguard.core.defi.comet_math import (
    FACTOR_SCALE,
    CometError,
    check_int256,
    check_uint,
    mul_factor,
    name_arg,
    panic,
    present_value_borrow,
    present_value_supply,
    principal_value_borrow,
    principal_value_supply,
    safe64,
    signed104,
    signed256,
    sint,
    uint,
)
from levguard.core.defi.comet_state import Comet, as_comet

__all__ = [
    "accrue",
    "accrued_interest_indices",
    "balance_of",
    "borrow_balance_of",
    "get_borrow_rate",
    "get_collateral_reserves",
    "get_reserves",
    "get_supply_rate",
    "get_utilization",
    "present_value",
    "principal_value",
]

_TIMESTAMP_LIMIT: Final = 2**40
_INT104_MIN: Final = -(2**103)
_INT256_MIN: Final = -(2**255)


def _elapsed(comet: Comet, now: int | None) -> int:
    # getNowInternal() - lastAccrualTime, in uint40.
    if now is None:
        return 0
    t = uint(now, "now")
    if t >= _TIMESTAMP_LIMIT:
        raise CometError("TimestampTooLarge", f"now = {t} >= 2**40")
    if t < comet.last_accrual_time:
        raise panic(f"now {t} - lastAccrualTime {comet.last_accrual_time} underflows uint40")
    return t - comet.last_accrual_time


# --- CometCore: present and principal value -------------------------------------------------------


def _present_value(comet: Comet, principal: int) -> int:
    if principal == _INT104_MIN:
        raise panic("-principal overflows int104")
    if principal >= 0:
        return present_value_supply(comet.base_supply_index, principal)
    return -present_value_borrow(comet.base_borrow_index, -principal)


def _principal_value(comet: Comet, value: int) -> int:
    if value == _INT256_MIN:
        raise panic("-presentValue overflows int256")
    if value >= 0:
        return signed104(principal_value_supply(comet.base_supply_index, value), "principalValue")
    return -signed104(principal_value_borrow(comet.base_borrow_index, -value), "principalValue")


def present_value(comet: Comet, principal: int) -> int:
    """Return the signed present value of a principal at the stored indexes (CometCore ``presentValue``).

    Parameters
    ----------
    comet : Comet
        The market (its ``base_supply_index`` and ``base_borrow_index`` are used).
    principal : int
        Signed principal (int104), base units at index 1.

    Returns
    -------
    int
        ``principal * base_supply_index // 1e15`` when ``principal >= 0``, else
        ``-(-principal * base_borrow_index // 1e15)``: both magnitudes rounded down.

    Notes
    -----
    CometCore.sol ``presentValue``, ``presentValueSupply``, ``presentValueBorrow``.
    """
    return _present_value(as_comet(comet), sint(principal, "principal", 104))


def principal_value(comet: Comet, present_value: int) -> int:
    """Return the signed principal of a present value at the stored indexes (CometCore ``principalValue``).

    Returns
    -------
    int
        ``floor(pv * 1e15 / base_supply_index)`` for ``pv >= 0`` (the supplier is credited less);
        ``-ceil(-pv * 1e15 / base_borrow_index)`` for ``pv < 0`` (the borrower owes more).

    Raises
    ------
    CometError
        ``InvalidUInt104`` or ``InvalidInt104`` when the principal does not fit int104.

    Notes
    -----
    CometCore.sol ``principalValue``, ``principalValueSupply`` (rounded down),
    ``principalValueBorrow`` (rounded up), with CometMath ``safe104`` and ``signed104``.  Hence
    ``present_value(principal_value(pv)) <= pv`` for ``pv >= 0`` and ``>= pv`` magnitude-wise for
    debts: every rounding favours the protocol.
    """
    return _principal_value(as_comet(comet), sint(present_value, "present_value"))


# --- interest rates and accrual --------------------------------------------------------------------


def get_utilization(comet: Comet) -> int:
    """Return the utilization (1e18 scale) at the stored indexes (Comet.sol ``getUtilization``).

    Notes
    -----
    ``total_borrow * 1e18 // total_supply`` with ``total_supply = presentValueSupply(
    base_supply_index, total_supply_base)`` and ``total_borrow = presentValueBorrow(
    base_borrow_index, total_borrow_base)``; 0 when nothing is supplied.  It may exceed 1e18.
    """
    comet = as_comet(comet)
    supply = present_value_supply(comet.base_supply_index, comet.total_supply_base)
    borrow = present_value_borrow(comet.base_borrow_index, comet.total_borrow_base)
    return 0 if supply == 0 else borrow * FACTOR_SCALE // supply


def _kink_rate(utilization: int, kink: int, base: int, low: int, high: int, what: str) -> int:
    if utilization <= kink:
        return safe64(base + mul_factor(low, utilization, what), what)
    return safe64(base + mul_factor(low, kink, what) + mul_factor(high, utilization - kink, what), what)


def get_supply_rate(comet: Comet, utilization: int) -> int:
    """Return the supply rate per second (1e18 scale) at ``utilization`` (Comet.sol ``getSupplyRate``).

    Notes
    -----
    ``base + mulFactor(slope_low, u)`` up to the kink, else ``base + mulFactor(slope_low, kink) +
    mulFactor(slope_high, u - kink)``; each ``mulFactor`` rounds down; ``InvalidUInt64`` above
    uint64.
    """
    r = as_comet(comet).rates
    u = uint(utilization, "utilization")
    return _kink_rate(
        u,
        r.supply_kink,
        r.supply_per_second_interest_rate_base,
        r.supply_per_second_interest_rate_slope_low,
        r.supply_per_second_interest_rate_slope_high,
        "getSupplyRate",
    )


def get_borrow_rate(comet: Comet, utilization: int) -> int:
    """Return the borrow rate per second (1e18 scale) at ``utilization`` (Comet.sol ``getBorrowRate``).

    Notes
    -----
    The kink formula of :func:`get_supply_rate` with the borrow parameters.
    """
    r = as_comet(comet).rates
    u = uint(utilization, "utilization")
    return _kink_rate(
        u,
        r.borrow_kink,
        r.borrow_per_second_interest_rate_base,
        r.borrow_per_second_interest_rate_slope_low,
        r.borrow_per_second_interest_rate_slope_high,
        "getBorrowRate",
    )


def _indices(comet: Comet, elapsed: int) -> tuple[int, int]:
    supply_index, borrow_index = comet.base_supply_index, comet.base_borrow_index
    if elapsed > 0:
        u = get_utilization(comet)
        supply_rate, borrow_rate = get_supply_rate(comet, u), get_borrow_rate(comet, u)
        supply_index = check_uint(
            supply_index + safe64(mul_factor(supply_index, supply_rate * elapsed, "accrue"), "supply index delta"),
            "baseSupplyIndex",
            64,
        )
        borrow_index = check_uint(
            borrow_index + safe64(mul_factor(borrow_index, borrow_rate * elapsed, "accrue"), "borrow index delta"),
            "baseBorrowIndex",
            64,
        )
    return supply_index, borrow_index


def accrued_interest_indices(comet: Comet, time_elapsed: int) -> tuple[int, int]:
    """Return ``(base_supply_index, base_borrow_index)`` after ``time_elapsed`` seconds.

    Notes
    -----
    Comet.sol ``accruedInterestIndices``: with ``u = getUtilization()`` on the stored state,
    ``index += safe64(mulFactor(index, rate(u) * time_elapsed))`` for each side: simple interest
    over the interval, rounded down; the sum reverts (``Panic(0x11)``) past uint64.
    """
    return _indices(as_comet(comet), uint(time_elapsed, "time_elapsed", 40))


def accrue(comet: Comet, now: int) -> Comet:
    """Return the market after interest and reward tracking accrue up to ``now`` (``accrueInternal``).

    Parameters
    ----------
    comet : Comet
        The market as last written.
    now : int
        ``block.timestamp`` (seconds, below 2**40, not before ``last_accrual_time``).

    Raises
    ------
    CometError
        ``TimestampTooLarge`` at ``now >= 2**40``; ``InvalidUInt64`` when an index increment
        exceeds uint64; ``Panic(0x11)`` when an index overflows uint64 or ``now`` is before the
        last accrual.

    Notes
    -----
    Comet.sol ``accrueInternal``: the base indexes move as in :func:`accrued_interest_indices`;
    when ``total_supply_base >= base_min_for_rewards``, ``tracking_supply_index +=
    safe64(speed * elapsed * baseScale // total_supply_base)`` (``divBaseWei``), likewise for
    borrows; ``last_accrual_time = now``.  Nothing changes when no time has passed.
    """
    comet = as_comet(comet)
    elapsed = _elapsed(comet, now)
    if elapsed == 0:
        return comet
    supply_index, borrow_index = _indices(comet, elapsed)
    ts_index, tb_index = comet.tracking_supply_index, comet.tracking_borrow_index
    if comet.total_supply_base >= comet.base_min_for_rewards:
        step = comet.base_tracking_supply_speed * elapsed * comet.base_scale // comet.total_supply_base
        ts_index = check_uint(ts_index + safe64(step, "tracking supply increment"), "trackingSupplyIndex", 64)
    if comet.total_borrow_base >= comet.base_min_for_rewards:
        step = comet.base_tracking_borrow_speed * elapsed * comet.base_scale // comet.total_borrow_base
        tb_index = check_uint(tb_index + safe64(step, "tracking borrow increment"), "trackingBorrowIndex", 64)
    return dataclasses.replace(
        comet,
        base_supply_index=supply_index,
        base_borrow_index=borrow_index,
        tracking_supply_index=ts_index,
        tracking_borrow_index=tb_index,
        last_accrual_time=comet.last_accrual_time + elapsed,
    )


# --- balances and reserves -----------------------------------------------------------------------


def balance_of(comet: Comet, account: str, now: int | None = None) -> int:
    """Return the account's supplied base balance at ``now``, or 0 (Comet.sol ``balanceOf``).

    Notes
    -----
    ``presentValueSupply(accrued supply index, principal)`` for a positive principal.
    """
    comet = as_comet(comet)
    supply_index, _ = _indices(comet, _elapsed(comet, now))
    p = comet.account(name_arg(account, "account")).principal
    return present_value_supply(supply_index, p) if p > 0 else 0


def borrow_balance_of(comet: Comet, account: str, now: int | None = None) -> int:
    """Return the account's borrowed base balance at ``now``, or 0 (Comet.sol ``borrowBalanceOf``).

    Notes
    -----
    ``presentValueBorrow(accrued borrow index, -principal)`` for a negative principal.
    """
    comet = as_comet(comet)
    _, borrow_index = _indices(comet, _elapsed(comet, now))
    p = comet.account(name_arg(account, "account")).principal
    return present_value_borrow(borrow_index, -p) if p < 0 else 0


def get_reserves(comet: Comet, now: int | None = None) -> int:
    """Return the protocol's base reserves at ``now`` (Comet.sol ``getReserves``), signed.

    Returns
    -------
    int
        ``base_balance - total_supply + total_borrow`` in base units, where the totals are the
        present values of ``total_supply_base`` and ``total_borrow_base`` at the indexes accrued
        to ``now`` (each rounded down).  Negative when suppliers are owed more than the market
        holds plus its loans.

    Notes
    -----
    Comet.sol ``getReserves`` (with ``accruedInterestIndices``, CometMath ``signed256``).
    """
    comet = as_comet(comet)
    supply_index, borrow_index = _indices(comet, _elapsed(comet, now))
    supply = present_value_supply(supply_index, comet.total_supply_base)
    borrow = present_value_borrow(borrow_index, comet.total_borrow_base)
    balance = signed256(comet.base_balance, "balance")
    return check_int256(check_int256(balance - supply, "getReserves") + borrow, "getReserves")


def get_collateral_reserves(comet: Comet, asset: str) -> int:
    """Return the collateral the protocol owns (Comet.sol ``getCollateralReserves``).

    Notes
    -----
    ``balanceOf(comet) - totalsCollateral[asset].totalSupplyAsset``; reverts (``Panic(0x11)``) if
    negative, as the contract does.
    """
    comet = as_comet(comet)
    key = name_arg(asset, "asset")
    balance, total = comet.collateral_balance(key), comet.totals_collateral.get(key, 0)
    if total > balance:
        raise panic(f"collateral reserves of {key!r}: balance {balance} - total supplied {total} underflows")
    return balance - total
