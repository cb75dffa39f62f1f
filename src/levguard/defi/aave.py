"""Aave v3 (3.0 to 3.3) in contract units: ``Pool.getUserAccountData``, ``Pool.liquidationCall`` and
the ValidationLogic checks, exact to the wei.

The engine is :mod:`levguard.core.defi.aave` (every formula lives there once); this module is its
public face.  Units are the contracts': balances in the token's smallest unit, prices in the
oracle's base currency (USD with 8 decimals), LTV / liquidation threshold / bonus / protocol fee
in basis points, the health factor in wad (``10**18`` is 1.0, ``2**256 - 1`` without debt).  A
``require`` the Pool would fail raises :class:`AaveError` carrying the protocol's code
(``Errors.sol``); an arithmetic revert raises :class:`MathRevertError`; both are
:class:`levguard.errors.InputError`.

Examples
--------
Aave's own health-factor example (developer docs, "Liquidations"): 10,000 USD of ETH at an 80 %
liquidation threshold against 6,000 USD of GHO has a health factor of 1.333:

>>> from levguard.defi import aave
>>> rows = [
...     {"symbol": "WETH", "price": 2_500 * 10**8, "decimals": 18, "ltv": 7500, "lt": 8000,
...      "collateral": 4 * 10**18, "debt": 0},
...     {"symbol": "GHO", "price": 10**8, "decimals": 18, "ltv": 0, "lt": 0,
...      "collateral": 0, "debt": 6_000 * 10**18},
... ]
>>> data = aave.get_user_account_data(rows)
>>> data.health_factor, data.total_collateral_base, data.available_borrows_base
(1333333333333333333, 1000000000000, 150000000000)

Notes
-----
Sources: ``GenericLogic.calculateUserAccountData``, ``LiquidationLogic.executeLiquidationCall``
and ``ValidationLogic`` of aave/aave-v3-core v1.19.4 (Aave 3.0.2) and aave-dao/aave-v3-origin tags
v3.1.0 to v3.3.0; the versions' differences are listed in :mod:`levguard.core.defi.aave` and
docs/defi.md.
"""

from __future__ import annotations

from levguard.core.defi import aave as _core
from levguard.core.defi.aave import *  # noqa: F403  (the engine's public names but CUSTOM_ERRORS, below)
from levguard.core.defi.wadray import (
    PERCENTAGE_FACTOR,
    RAY,
    UINT256_MAX,
    WAD,
    MathRevertError,
    percent_div,
    percent_mul,
    ray_div,
    ray_mul,
    ray_to_wad,
    wad_div,
    wad_mul,
    wad_to_ray,
)

# The engine's names (less CUSTOM_ERRORS, the v3.4+ custom errors, which this 3.0-3.3 face keeps
# out) and the WadRayMath names the contracts' units call for.
__all__ = [name for name in _core.__all__ if name != "CUSTOM_ERRORS"]
__all__ += [
    "PERCENTAGE_FACTOR",
    "RAY",
    "UINT256_MAX",
    "WAD",
    "MathRevertError",
    "percent_div",
    "percent_mul",
    "ray_div",
    "ray_mul",
    "ray_to_wad",
    "wad_div",
    "wad_mul",
    "wad_to_ray",
]
