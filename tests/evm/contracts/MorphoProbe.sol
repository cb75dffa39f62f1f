// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.19;

// Test driver for levguard's Morpho Blue differential tests (tests/evm/test_morpho_differential.py).
// It only calls the real Morpho contract and its mocks and reports what they did: one transaction
// runs a batch of calls (multicall); each call is logged with the market and the position read
// from Morpho's storage after it, and each liquidation attempt with its return values or its raw
// revert data (Morpho's own events log the rest).

import {IMorpho, Id, MarketParams} from "../src/interfaces/IMorpho.sol";
import {MorphoStorageLib} from "../src/libraries/periphery/MorphoStorageLib.sol";

interface IMockToken {
    function setBalance(address account, uint256 amount) external;
    function approve(address spender, uint256 amount) external returns (bool);
}

interface IMockOracle {
    function setPrice(uint256 newPrice) external;
}

/// A borrower account: the probe opens its positions (any number of markets) through it.
contract MorphoBorrower {
    IMorpho internal immutable MORPHO;
    address internal immutable PROBE;

    constructor(IMorpho morpho) {
        MORPHO = morpho;
        PROBE = msg.sender;
    }

    function open(MarketParams memory marketParams, uint256 collateral, uint256 borrowed) external {
        require(msg.sender == PROBE, "not the probe");
        IMockToken(marketParams.collateralToken).setBalance(address(this), collateral);
        IMockToken(marketParams.collateralToken).approve(address(MORPHO), collateral);
        MORPHO.supplyCollateral(marketParams, collateral, address(this), "");
        MORPHO.borrow(marketParams, borrowed, 0, address(this), address(this));
    }
}

contract MorphoProbe {
    using MorphoStorageLib for Id;

    IMorpho public immutable MORPHO;

    /// `state` is Morpho's storage read in one `extSloads` call (slots of MorphoStorageLib):
    /// [totalSupplyAssets | totalSupplyShares << 128, totalBorrowAssets | totalBorrowShares << 128,
    ///  lastUpdate | fee << 128, borrowShares | collateral << 128 of the borrower].
    event Borrower(address borrower);
    event Opened(Id indexed id, address indexed borrower, bytes32[] state);
    event Accrued(Id indexed id, bytes32[] before, bytes32[] afterwards);
    event Liquidated(
        Id indexed id,
        address indexed borrower,
        bool ok,
        uint256 seizedAssets,
        uint256 repaidAssets,
        bytes revertData,
        bytes32[] state
    );

    constructor(IMorpho morpho) {
        MORPHO = morpho;
    }

    /// Run `calls` (ABI-encoded calls of this contract) in order; bubble up the first revert.
    function multicall(bytes[] calldata calls) external {
        for (uint256 i; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = address(this).delegatecall(calls[i]);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }

    function newBorrowers(uint256 count) external {
        for (uint256 i; i < count; ++i) {
            emit Borrower(address(new MorphoBorrower(MORPHO)));
        }
    }

    /// Give this contract (the liquidator) 2**128 - 1 loan tokens, approved to Morpho.
    function fund(address token) external {
        IMockToken(token).setBalance(address(this), type(uint128).max);
        IMockToken(token).approve(address(MORPHO), type(uint256).max);
    }

    function supply(MarketParams memory marketParams, uint256 assets) external {
        IMockToken(marketParams.loanToken).setBalance(address(this), assets);
        IMockToken(marketParams.loanToken).approve(address(MORPHO), assets);
        MORPHO.supply(marketParams, assets, 0, address(this), "");
    }

    function open(MarketParams memory marketParams, MorphoBorrower borrower, uint256 collateral, uint256 borrowed)
        external
    {
        borrower.open(marketParams, collateral, borrowed);
        Id id = _id(marketParams);
        emit Opened(id, address(borrower), MORPHO.extSloads(_slots(id, address(borrower))));
    }

    function setPrice(MarketParams memory marketParams, uint256 price) external {
        IMockOracle(marketParams.oracle).setPrice(price);
    }

    function accrue(MarketParams memory marketParams) external {
        Id id = _id(marketParams);
        bytes32[] memory slots = _slots(id, address(0));
        bytes32[] memory before = MORPHO.extSloads(slots);
        MORPHO.accrueInterest(marketParams);
        emit Accrued(id, before, MORPHO.extSloads(slots));
    }

    /// Set the oracle price, then liquidate `borrower` with this contract as the liquidator
    /// (`fund` the loan token first); log the outcome and the state after.
    function liquidate(
        MarketParams memory marketParams,
        address borrower,
        uint256 price,
        uint256 seizedAssets,
        uint256 repaidShares
    ) external {
        IMockOracle(marketParams.oracle).setPrice(price);
        bool ok;
        uint256 seized;
        uint256 repaid;
        bytes memory revertData;
        try MORPHO.liquidate(marketParams, borrower, seizedAssets, repaidShares, "") returns (uint256 s, uint256 r) {
            (ok, seized, repaid) = (true, s, r);
        } catch (bytes memory reason) {
            revertData = reason;
        }
        Id id = _id(marketParams);
        emit Liquidated(id, borrower, ok, seized, repaid, revertData, MORPHO.extSloads(_slots(id, borrower)));
    }

    function _id(MarketParams memory marketParams) internal pure returns (Id) {
        return Id.wrap(keccak256(abi.encode(marketParams)));
    }

    function _slots(Id id, address user) internal pure returns (bytes32[] memory slots) {
        slots = new bytes32[](4);
        slots[0] = id.marketTotalSupplyAssetsAndSharesSlot();
        slots[1] = id.marketTotalBorrowAssetsAndSharesSlot();
        slots[2] = id.marketLastUpdateAndFeeSlot();
        slots[3] = id.positionBorrowSharesAndCollateralSlot(user);
    }
}
