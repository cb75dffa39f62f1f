"""Aave v3 supply caps: how much more of a reserve the Pool accepts in a ``supply``.

Integers in the contracts' units (token base units, ray indexes, bps).
"""

from __future__ import annotations

from typing import Final

from levguard.core.defi.wadray import PERCENTAGE_FACTOR, as_uint256, ray_mul
from levguard.errors import InputError

__all__ = ["SUPPLY_CAP_MARGIN_BPS", "debt_interest_bound", "supply_cap_room"]

SUPPLY_CAP_MARGIN_BPS: Final = 1
"""Room left unused below a supply cap (bps of the cap): the supply is mined some blocks after the
read, while the liquidity index and the treasury's accrual keep growing (1 bp is about 9 hours of
a 10 % supply rate)."""


def supply_cap_room(
    supply_cap: int,
    decimals: int,
    scaled_total_supply: int,
    accrued_to_treasury: int,
    liquidity_index: int,
    debt_accrued: int,
    reserve_factor: int,
    margin_bps: int = SUPPLY_CAP_MARGIN_BPS,
) -> int | None:
    """Return the most a ``supply`` of the reserve may add under its supply cap (a lower bound).

    Parameters
    ----------
    supply_cap : int
        Whole tokens (the configuration's bits 116-151); 0 means no cap.
    decimals : int
        The reserve's decimals.
    scaled_total_supply : int
        ``AToken.scaledTotalSupply()``.
    accrued_to_treasury : int
        ``ReserveData.accruedToTreasury`` as stored (scaled units).
    liquidity_index : int
        The liquidity index at the block (ray): ``Pool.getReserveNormalizedIncome``, the
        ``nextLiquidityIndex`` a supply in that block computes.
    debt_accrued : int
        At least the debt interest accrued since the reserve's last update (base units): the part
        of it the next update adds to ``accruedToTreasury``.
    reserve_factor : int
        Bps.
    margin_bps : int
        Part of the cap left unused, for the blocks until the supply is mined.

    Returns
    -------
    int or None
        Base units, >= 0; None when the reserve has no cap.

    Notes
    -----
    ``ValidationLogic.validateSupply`` (aave-v3-core v1.19 ``contracts/protocol/libraries/logic/
    ValidationLogic.sol``) requires ``supplyCap == 0 || (scaledTotalSupply + accruedToTreasury)
    .rayMul(nextLiquidityIndex) + amount <= supplyCap * 10**decimals`` (error 51
    ``SUPPLY_CAP_EXCEEDED``), after ``ReserveLogic.updateState`` has added
    ``(debtAccrued.percentMul(reserveFactor)).rayDiv(nextLiquidityIndex)`` to ``accruedToTreasury``
    (``_accrueToTreasury``).  The room is therefore::

        cap * 10**decimals - (S + a).rayMul(I) - ceil(debt_accrued * rf / 10000) - 2 - margin

    (the 2 units cover the two half-up roundings of the treasury's scaled amount).  aave-v3-origin
    3.5+ adds the supply's scaled amount inside the product and floors it
    (``getATokenBalance``), which this bound also covers.
    """
    cap = as_uint256(supply_cap, "supply_cap")
    if not isinstance(decimals, int) or not 0 <= decimals <= 77:
        raise InputError(f"decimals must be an integer in [0, 77], was {decimals!r}")
    if not isinstance(margin_bps, int) or not 0 <= margin_bps <= PERCENTAGE_FACTOR:
        raise InputError(f"margin_bps must be an integer in [0, 10000], was {margin_bps!r}")
    if cap == 0:
        return None
    scaled = as_uint256(scaled_total_supply, "scaled_total_supply") + as_uint256(
        accrued_to_treasury, "accrued_to_treasury"
    )
    index = as_uint256(liquidity_index, "liquidity_index")
    # percentMul of the treasury's share and the margin, both rounded up.
    treasury = _ceil_div(as_uint256(debt_accrued, "debt_accrued") * as_uint256(reserve_factor, "reserve_factor"))
    limit: int = cap * 10**decimals
    used = int(ray_mul(scaled, index)) + treasury + 2 + _ceil_div(limit * margin_bps)
    return max(0, limit - used)


def _ceil_div(bps_product: int) -> int:
    # ceil(x / 10000) of a product by a value in bps.
    return -(-bps_product // PERCENTAGE_FACTOR)


def debt_interest_bound(
    variable_scaled: int,
    variable_index: int,
    variable_debt: int,
    stable_principal: int = 0,
    stable_debt: int = 0,
) -> int:
    """Return an upper bound of a reserve's debt interest since its last update (base units).

    Parameters
    ----------
    variable_scaled : int
        ``VariableDebtToken.scaledTotalSupply()``.
    variable_index : int
        ``ReserveData.variableBorrowIndex`` as stored at the last update (ray).
    variable_debt : int
        ``VariableDebtToken.totalSupply()`` at the block (the scaled supply at the index now).
    stable_principal, stable_debt : int
        3.0 - 3.1: ``StableDebtToken.getSupplyData()``'s principal and total (0 from 3.2).

    Notes
    -----
    ``ReserveLogic._accrueToTreasury`` (aave-v3-core v1.19): ``debtAccrued = currTotalVariableDebt
    + currTotalStableDebt - prevTotalVariableDebt - prevTotalStableDebt`` with
    ``prevTotalVariableDebt = scaled.rayMul(storedIndex)`` and ``prevTotalStableDebt =
    principal.rayMul(compounded interest to the last update) >= principal``; the bound takes
    ``principal`` for the latter and adds 1 for the rounding of the index's product.
    """
    scaled = as_uint256(variable_scaled, "variable_scaled")
    index = as_uint256(variable_index, "variable_index")
    variable = max(0, as_uint256(variable_debt, "variable_debt") - int(ray_mul(scaled, index)))
    principal, stable = as_uint256(stable_principal, "stable_principal"), as_uint256(stable_debt, "stable_debt")
    return variable + max(0, stable - principal) + 1
