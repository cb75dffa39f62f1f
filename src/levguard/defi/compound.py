"""Compound III (Comet) in contract units: collateralization, ``absorb``, the collateral store front
(``quoteCollateral``/``buyCollateral``), reserves and interest accrual, exact to the wei.

The engine is :mod:`levguard.core.defi.comet` (every formula lives there once); this module is its
public face.  A market is a :class:`Comet` record (configuration, storage, feed answers and token
balances); the functions take it and return values or, for state-changing calls, the market after.
Units are the contract's: token amounts in smallest units, prices as the feeds' 8-decimal answers,
factors scaled 1e18, indexes 1e15, principals signed (int104).  A call the contract would revert
raises :class:`CometError` carrying the revert's name (``NotLiquidatable``, ``NotForSale``,
``TooMuchSlippage``, ``InsufficientReserves``, ``BadPrice``, ... or ``"Panic"`` with its code); it
is a :class:`levguard.errors.InputError`.

Examples
--------
A USDC market with WETH collateral (borrow CF 0.825, liquidate CF 0.895, liquidation factor
0.95) where bob supplies 10,000 USDC and alice borrows 1,850 against 1 WETH at 2,000 USD: alice is
liquidatable (1,790 < 1,850); absorbing her credits 1,900 USDC, so her debt is repaid from reserves
and 50 USDC become her supply; the protocol then sells the WETH at a 2.5 % discount (store-front
price factor 0.5 of the 5 % penalty):

>>> from levguard.defi import compound
>>> weth = compound.AssetInfo.from_config(0, "WETH", 2_000 * 10**8, 18, 825 * 10**15, 895 * 10**15, 95 * 10**16)
>>> market = compound.Comet(
...     base_token="USDC", base_decimals=6, base_price=10**8, assets=(weth,),
...     accounts={"alice": compound.CometAccount(-1_850 * 10**6, {"WETH": 10**18}),
...               "bob": compound.CometAccount(10_000 * 10**6)},
...     total_supply_base=10_000 * 10**6, total_borrow_base=1_850 * 10**6, base_balance=8_150 * 10**6,
...     totals_collateral={"WETH": 10**18},
...     store_front_price_factor=5 * 10**17, target_reserves=10**12,
... )
>>> compound.is_liquidatable(market, "alice"), compound.is_borrow_collateralized(market, "alice")
(True, False)
>>> result = compound.absorb(market, ["alice"])
>>> result.absorptions[0].base_paid_out, result.comet.accounts["alice"].principal
(1900000000, 50000000)
>>> compound.get_reserves(market), compound.get_reserves(result.comet)
(0, -1900000000)
>>> compound.quote_collateral(result.comet, "WETH", 1_950 * 10**6)
1000000000000000000

Notes
-----
Source: compound-finance/comet at commit d5a30b0a, ``contracts/Comet.sol`` (``isLiquidatable``,
``isBorrowCollateralized``, ``absorb``/``absorbInternal``, ``quoteCollateral``, ``buyCollateral``,
``getReserves``, ``accrueInternal``), ``CometCore.sol`` and ``CometMath.sol``; formulas in the
engine's docstrings and docs/defi.md ("Compound III (Comet)").
"""

from __future__ import annotations

from levguard.core.defi import comet as _core
from levguard.core.defi.comet import *  # noqa: F403  (the public names are the core module's __all__)

__all__ = list(_core.__all__)
