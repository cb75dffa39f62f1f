// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.19;

interface IAssetPrices {
    function getAssetPrice(address asset) external view returns (uint256);
}

interface ISwapToken {
    function decimals() external view returns (uint8);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// A swap venue for levguard's on-chain guardian tests (the interface of
/// levguard.venues.onchain_swap.ContractSwapper): it sells one token for another at the ratio of
/// their prices on an Aave oracle, less a fee in bps, paying out of its own balances (the test
/// funds it).  No pool, no price impact: the oracle price is the market.
contract OracleSwapMock {
    IAssetPrices public immutable ORACLE;
    uint256 public feeBps;

    event Swapped(
        address indexed tokenIn, address indexed tokenOut, uint256 amountIn, uint256 amountOut, address recipient
    );

    constructor(IAssetPrices oracle, uint256 fee) {
        ORACLE = oracle;
        setFee(fee);
    }

    /// A new fee (bps of the output).
    function setFee(uint256 fee) public {
        require(fee < 10_000, "fee");
        feeBps = fee;
    }

    /// What selling `amountIn` of `tokenIn` gives of `tokenOut`: amountIn * pIn * 10^decOut /
    /// (pOut * 10^decIn), less the fee, rounded down.
    function quote(address tokenIn, address tokenOut, uint256 amountIn) public view returns (uint256) {
        uint256 num = amountIn * ORACLE.getAssetPrice(tokenIn) * 10 ** ISwapToken(tokenOut).decimals();
        uint256 den = ORACLE.getAssetPrice(tokenOut) * 10 ** ISwapToken(tokenIn).decimals();
        return num / den * (10_000 - feeBps) / 10_000;
    }

    /// Sell exactly `amountIn` of `tokenIn` (pulled from the caller) for at least `minAmountOut`
    /// of `tokenOut`, paid to `recipient`.
    function swap(address tokenIn, address tokenOut, uint256 amountIn, uint256 minAmountOut, address recipient)
        external
        returns (uint256 amountOut)
    {
        amountOut = quote(tokenIn, tokenOut, amountIn);
        require(amountOut >= minAmountOut, "slippage");
        require(ISwapToken(tokenIn).transferFrom(msg.sender, address(this), amountIn), "transferFrom");
        require(ISwapToken(tokenOut).transfer(recipient, amountOut), "transfer");
        emit Swapped(tokenIn, tokenOut, amountIn, amountOut, recipient);
    }
}
