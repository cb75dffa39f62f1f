// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.19;

/// A Chainlink-style price feed for levguard's on-chain guardian tests: `latestAnswer()` (what
/// AaveOracle reads), `latestRoundData()` and `decimals()` (what a careful consumer reads to see
/// staleness), and a price set by anyone, stamped with the block's time or a given one.
contract RoundAggregatorMock {
    uint8 public constant decimals = 8;
    int256 public latestAnswer;
    uint80 public roundId;
    uint256 public updatedAt;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(int256 answer) {
        setAnswer(answer);
    }

    /// A new round at the current block's time.
    function setAnswer(int256 answer) public {
        setRound(answer, block.timestamp);
    }

    /// A new round stamped `at` (a past time makes the answer stale).
    function setRound(int256 answer, uint256 at) public {
        roundId += 1;
        latestAnswer = answer;
        updatedAt = at;
        emit AnswerUpdated(answer, roundId, at);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, latestAnswer, updatedAt, updatedAt, roundId);
    }
}
