"""Aave v3 supply: whether a first supply enables the reserve as the user's collateral.

Integers in the contracts' units, rows as :func:`levguard.core.defi.aave.get_user_account_data` takes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from levguard.core.defi.aave import validate_use_as_collateral
from levguard.core.defi.aave_records import (
    AaveReserve,
    EModeCategory,
    check_version,
    find_reserve,
    parse_emode,
    parse_positions,
)

__all__ = ["validate_automatic_use_as_collateral"]


def validate_automatic_use_as_collateral(
    positions: Iterable[Mapping[str, object] | AaveReserve],
    asset: str,
    emode_category: Mapping[str, object] | EModeCategory | None = None,
    version: str = "3.3",
) -> bool:
    """Return whether a first supply of ``asset`` enables it as collateral.

    False for a reserve with a debt ceiling (an isolated asset), else
    :func:`~levguard.core.defi.aave.validate_use_as_collateral` (the user's LTV of it not 0; no
    collateral enabled yet, or no isolation mode).  Only a *first* supply asks: one to a reserve
    whose aToken balance is not 0 leaves the flag as it is.

    Notes
    -----
    ``ValidationLogic.validateAutomaticUseAsCollateral``, called by ``SupplyLogic.executeSupply``
    when the aToken's scaled balance was 0 before the mint (``isFirstSupply``,
    ``ScaledBalanceTokenBase._mintScaled``); aave-v3-origin v3.6.0 ``SupplyLogic.sol:74-86``,
    ``ValidationLogic.sol:623-644`` (a debt ceiling: false; 3.6 has no role).  Where the version has
    ``ISOLATED_COLLATERAL_SUPPLIER_ROLE`` (3.0: @aave/core-v3 ``ValidationLogic.sol:738-755``) a
    sender holding it gets an isolated asset enabled too; the role is not assumed.
    """
    version = check_version(version)
    reserves = parse_positions(positions)
    target = find_reserve(reserves, asset, "asset")
    emode = parse_emode(emode_category)
    if target.debt_ceiling != 0:
        return False
    return validate_use_as_collateral(reserves, asset, emode, version)
