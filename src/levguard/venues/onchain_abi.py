"""The contract interfaces the on-chain venue calls, as ABI fragments (data, no logic).

Only the functions levguard reads or sends, with the signatures of the deployed contracts:

* Aave v3 ``Pool`` (aave/aave-v3-core ``contracts/interfaces/IPool.sol``, the same selectors in
  aave-dao/aave-v3-origin 3.1-3.6 for every function used here: ``getReserveData`` returns the
  legacy ``ReserveData`` layout there; the 3.2+ e-mode getters ``getEModeCategoryCollateralConfig``,
  ``getEModeCategoryCollateralBitmap``, ``getEModeCategoryBorrowableBitmap`` and the 3.6
  ``getEModeCategoryLtvzeroBitmap``, ``src/contracts/interfaces/IPool.sol`` at v3.6.0),
  ``IPoolAddressesProvider.getPriceOracle``, ``AaveOracle`` (``contracts/misc/AaveOracle.sol``),
  the aToken's and debt tokens' ``scaledTotalSupply`` / ``totalSupply`` and the 3.0 - 3.1
  ``StableDebtToken.getSupplyData`` (``contracts/interfaces/IScaledBalanceToken.sol``,
  ``IStableDebtToken.sol``);
* Chainlink's ``AggregatorV3Interface`` (``latestRoundData``, ``decimals``) and ``latestAnswer``
  (what ``AaveOracle`` reads);
* Morpho Blue (morpho-org/morpho-blue ``src/interfaces/IMorpho.sol``: ``IMorphoBase`` and
  ``IMorphoStaticTyping``), ``IOracle.price``, ``IIrm.borrowRateView``;
* ERC-20 (``balanceOf``, ``allowance``, ``approve``, ``decimals``, ``symbol``);
* the swap interface of :class:`levguard.venues.onchain_swap.ContractSwapper` (``quote``, ``swap``).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "AAVE_ORACLE",
    "AAVE_POOL",
    "AAVE_PROVIDER",
    "AAVE_TOKEN",
    "AGGREGATOR",
    "ERC20",
    "MORPHO",
    "MORPHO_IRM",
    "MORPHO_ORACLE",
    "SWAPPER",
]


def _param(t: Any, name: str) -> dict[str, Any]:
    # A parameter: a type name, or a list of component types (a tuple, i.e. a struct).
    if isinstance(t, list):
        return {"name": name, "type": "tuple", "components": [_param(c, f"{name}_{j}") for j, c in enumerate(t)]}
    return {"name": name, "type": t}


def _fn(name: str, inputs: list[Any], outputs: list[Any], *, view: bool = True) -> dict[str, Any]:
    # One function fragment; inputs and outputs are type names or component lists (structs).
    return {
        "type": "function",
        "name": name,
        "stateMutability": "view" if view else "nonpayable",
        "inputs": [_param(t, f"i{i}") for i, t in enumerate(inputs)],
        "outputs": [_param(t, f"o{i}") for i, t in enumerate(outputs)],
    }


_MARKET_PARAMS: Final = ["address", "address", "address", "address", "uint256"]
"""Morpho ``MarketParams``: loanToken, collateralToken, oracle, irm, lltv."""
_MARKET: Final = ["uint128", "uint128", "uint128", "uint128", "uint128", "uint128"]
"""Morpho ``Market``: totalSupplyAssets, totalSupplyShares, totalBorrowAssets, totalBorrowShares,
lastUpdate, fee."""
_RESERVE_DATA: Final = [
    ["uint256"],  # configuration (ReserveConfigurationMap)
    "uint128",  # liquidityIndex
    "uint128",  # currentLiquidityRate
    "uint128",  # variableBorrowIndex
    "uint128",  # currentVariableBorrowRate
    "uint128",  # currentStableBorrowRate
    "uint40",  # lastUpdateTimestamp
    "uint16",  # id
    "address",  # aTokenAddress
    "address",  # stableDebtTokenAddress
    "address",  # variableDebtTokenAddress
    "address",  # interestRateStrategyAddress
    "uint128",  # accruedToTreasury
    "uint128",  # unbacked
    "uint128",  # isolationModeTotalDebt
]

AAVE_POOL: Final = [
    _fn("getUserAccountData", ["address"], ["uint256"] * 6),
    _fn("getReservesList", [], ["address[]"]),
    _fn("getReserveData", ["address"], [_RESERVE_DATA]),
    _fn("getUserConfiguration", ["address"], [["uint256"]]),
    _fn("getUserEMode", ["address"], ["uint256"]),
    _fn("getEModeCategoryData", ["uint8"], [["uint16", "uint16", "uint16", "address", "string"]]),
    # 3.2+: CollateralConfig(ltv, liquidationThreshold, liquidationBonus) and the uint128 bitmaps.
    _fn("getEModeCategoryCollateralConfig", ["uint8"], [["uint16", "uint16", "uint16"]]),
    _fn("getEModeCategoryCollateralBitmap", ["uint8"], ["uint128"]),
    _fn("getEModeCategoryBorrowableBitmap", ["uint8"], ["uint128"]),
    _fn("getEModeCategoryLtvzeroBitmap", ["uint8"], ["uint128"]),  # 3.6
    _fn("ADDRESSES_PROVIDER", [], ["address"]),
    _fn("getReserveNormalizedIncome", ["address"], ["uint256"]),
    _fn("repay", ["address", "uint256", "uint256", "address"], ["uint256"], view=False),
    _fn("supply", ["address", "uint256", "address", "uint16"], [], view=False),
    # withdraw(asset, amount, to) -> amount withdrawn
    _fn("withdraw", ["address", "uint256", "address"], ["uint256"], view=False),
]
AAVE_PROVIDER: Final = [_fn("getPriceOracle", [], ["address"])]
AAVE_ORACLE: Final = [
    _fn("getAssetPrice", ["address"], ["uint256"]),
    _fn("getSourceOfAsset", ["address"], ["address"]),
    _fn("getFallbackOracle", [], ["address"]),
]
AGGREGATOR: Final = [
    _fn("latestAnswer", [], ["int256"]),  # what AaveOracle reads
    _fn("latestRoundData", [], ["uint80", "int256", "uint256", "uint256", "uint80"]),
    _fn("decimals", [], ["uint8"]),
]
MORPHO: Final = [
    _fn("idToMarketParams", ["bytes32"], _MARKET_PARAMS),
    _fn("market", ["bytes32"], _MARKET),
    _fn("position", ["bytes32", "address"], ["uint256", "uint128", "uint128"]),
    # repay(marketParams, assets, shares, onBehalf, data) -> (assetsRepaid, sharesRepaid)
    _fn("repay", [_MARKET_PARAMS, "uint256", "uint256", "address", "bytes"], ["uint256", "uint256"], view=False),
    # supplyCollateral(marketParams, assets, onBehalf, data)
    _fn("supplyCollateral", [_MARKET_PARAMS, "uint256", "address", "bytes"], [], view=False),
    # withdrawCollateral(marketParams, assets, onBehalf, receiver)
    _fn("withdrawCollateral", [_MARKET_PARAMS, "uint256", "address", "address"], [], view=False),
]
MORPHO_ORACLE: Final = [_fn("price", [], ["uint256"])]
MORPHO_IRM: Final = [_fn("borrowRateView", [_MARKET_PARAMS, _MARKET], ["uint256"])]
ERC20: Final = [
    _fn("balanceOf", ["address"], ["uint256"]),
    _fn("allowance", ["address", "address"], ["uint256"]),
    _fn("decimals", [], ["uint8"]),
    _fn("symbol", [], ["string"]),
    _fn("approve", ["address", "uint256"], ["bool"], view=False),
]
AAVE_TOKEN: Final = [  # an aToken or debt token's totals (supply caps)
    _fn("scaledTotalSupply", [], ["uint256"]),
    _fn("totalSupply", [], ["uint256"]),
    # StableDebtToken (3.0 - 3.1): principal, total, average rate, last update
    _fn("getSupplyData", [], ["uint256", "uint256", "uint256", "uint40"]),
]
SWAPPER: Final = [
    # quote(tokenIn, tokenOut, amountIn) -> amountOut; swap(tokenIn, tokenOut, amountIn, minAmountOut, recipient)
    _fn("quote", ["address", "address", "uint256"], ["uint256"]),
    _fn("swap", ["address", "address", "uint256", "uint256", "address"], ["uint256"], view=False),
]
