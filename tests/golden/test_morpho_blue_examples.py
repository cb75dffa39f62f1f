"""Golden tests: the Morpho Blue engine (``levguard.core.defi.morpho``) against Morpho's own cases.

Sources:

* morpho-org/morpho-blue at commit 3085651a79553bbabbfd8be309c262dab45b686e, the Foundry tests
  ``test/integration/LiquidateIntegrationTest.sol``, ``test/integration/AccrueInterestIntegrationTest.sol``
  and ``test/libraries/MathLibTest.sol`` (with ``test/BaseTest.sol``: default LLTV 0.8e18, oracle
  price 1e36, the IRM mock's rate ``wDivDown(totalBorrow, totalSupply) / 365 days``, one second
  per block).  Most of those tests are fuzzed: each case below fixes concrete inputs inside the
  test's bounds and states the numbers the test's own expected-value formulas (the contract's
  arithmetic) give for them, worked out by hand with integer arithmetic, not by this engine.
* The liquidation incentive factors published by Morpho's SDK: morpho-org/sdks,
  ``packages/blue-sdk/src/preLiquidation.ts`` at commit ff4785ab3176808249c191821dffd51795b5eab5
  (pre-liquidation defaults whose ``preLIF`` is the market's LIF) and
  ``packages/blue-sdk/src/market/MarketUtils.test.ts`` at commit
  a5ea9ba44a3291f52e0f1fa1f477d0702faf29f1 (LLTV 86 %: 1043841336116910229).

The markets start as Morpho's tests build them: ``supply`` mints ``toSharesDown(assets)`` supply
shares, ``borrow`` mints ``toSharesUp(assets)`` borrow shares (Morpho.sol ``supply``, ``borrow``),
so a fresh market holds exactly 1e6 shares per asset; no time passes between borrowing and
liquidating, so no interest accrues.
"""

from __future__ import annotations

import pickle
from decimal import Decimal, getcontext

import pytest

from levguard.core.defi.morpho import (
    HEALTHY_POSITION,
    INCONSISTENT_INPUT,
    MAX_FEE_EXCEEDED,
    MAX_LLTV_EXCEEDED,
    MAX_UINT128_EXCEEDED,
    ORACLE_PRICE_SCALE,
    PANIC_ARITHMETIC,
    PANIC_DIVISION_BY_ZERO,
    WAD,
    Market,
    MorphoError,
    Position,
    accrue_interest,
    is_healthy,
    liquidate,
    liquidation_incentive_factor,
    mul_div_down,
    mul_div_up,
    to_assets_down,
    to_shares_down,
    to_shares_up,
    w_taylor_compounded,
)
from levguard.errors import InputError

REPO = "morpho-org/morpho-blue@3085651a79553bbabbfd8be309c262dab45b686e"
LLTV_80 = 800_000_000_000_000_000
LLTV_86 = 860_000_000_000_000_000
YEAR = 365 * 86_400
USD = 10**24  # oracle price of 1 WETH (18 decimals) per USDC (6 decimals): 1e36 * 1e6 / 1e18


def _market(supplied: int, borrowed: int) -> tuple[Market, int]:
    """The market after ``supply(supplied)`` then ``borrow(borrowed)``, and the borrower's shares."""
    supply_shares = to_shares_down(supplied, 0, 0)
    borrow_shares = to_shares_up(borrowed, 0, 0)
    return Market(supplied, supply_shares, borrowed, borrow_shares), borrow_shares


# --- liquidation incentive factor -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lltv", "lif"),
    [
        # morpho-org/sdks preLiquidation.ts (ff4785ab), the preLIF of each default LLTV.
        (625_000_000_000_000_000, 1_126_760_563_380_281_690),
        (770_000_000_000_000_000, 1_074_113_856_068_743_286),
        (LLTV_86, 1_043_841_336_116_910_229),  # also MarketUtils.test.ts (a5ea9ba4)
        (915_000_000_000_000_000, 1_026_167_265_264_238_070),
        (965_000_000_000_000_000, 1_010_611_419_909_044_972),
        # Keyed "0.985" at ff4785ab, "0.98" in a later build: 1e36 // (1e18 - 0.3 * 0.02e18) is this.
        (980_000_000_000_000_000, 1_006_036_217_303_822_937),
        # By hand: floor(1e36 / (1e18 - 0.3e18 * 0.055)) = floor(1e36 / 0.9835e18); the same value
        # is in a compiled blue-sdk build in the code index (its repository not identified).
        (945_000_000_000_000_000, 1_016_776_817_488_561_260),
        # By hand: floor(1e36 / 0.94e18); docs.morpho.org (liquidation concept): "approximately 1.06".
        (LLTV_80, 1_063_829_787_234_042_553),
        # 1 / (1 - 0.3 * 0.615) = 1.226 > 1.15: the cap (the SDK's 0.385 entry is 1.15).
        (385_000_000_000_000_000, 1_150_000_000_000_000_000),
        (0, 1_150_000_000_000_000_000),  # BaseTest enables LLTV 0
    ],
)
def test_liquidation_incentive_factor_matches_published_values(lltv: int, lif: int) -> None:
    assert liquidation_incentive_factor(lltv) == lif


def test_liquidation_incentive_factor_refuses_an_lltv_no_market_can_have() -> None:
    # Morpho.sol enableLltv: require(lltv < WAD, MAX_LLTV_EXCEEDED).
    with pytest.raises(MorphoError) as info:
        liquidation_incentive_factor(WAD)
    assert info.value.reason == MAX_LLTV_EXCEEDED


# --- liquidate: reverts --------------------------------------------------------------------------


def test_liquidate_zero_amounts_is_inconsistent_input() -> None:
    """LiquidateIntegrationTest.testLiquidateZeroAmount (REPO)."""
    market, shares = _market(10**18, 10**17)
    with pytest.raises(MorphoError) as info:
        liquidate(market, Position(shares, 1), LLTV_80, ORACLE_PRICE_SCALE, 0, 0)
    assert info.value.reason == INCONSISTENT_INPUT == "inconsistent input"


def test_liquidate_both_amounts_is_inconsistent_input() -> None:
    """LiquidateIntegrationTest.testLiquidateInconsistentInput (REPO), fuzzed; fixed: seized 1, shares 1."""
    market, shares = _market(10**18, 10**17)
    with pytest.raises(MorphoError) as info:
        liquidate(market, Position(shares, 1), LLTV_80, ORACLE_PRICE_SCALE, 1, 1)
    assert info.value.reason == INCONSISTENT_INPUT


def test_liquidate_healthy_position_reverts() -> None:
    """LiquidateIntegrationTest.testLiquidateHealthyPosition (REPO), fuzzed; fixed: LLTV 0.8, borrowed
    1e18, price 1e36, collateral the bound's minimum ``mulDivUp(wDivUp(1e18, 0.8e18), 1e36, 1e36)``
    = 1.25e18, so ``maxBorrow = wMulDown(1.25e18, 0.8e18) = 1e18 >= borrowed``: healthy at the edge."""
    market, shares = _market(2 * 10**18, 10**18)
    position = Position(shares, 1_250_000_000_000_000_000)
    assert is_healthy(market, position, LLTV_80, ORACLE_PRICE_SCALE)
    with pytest.raises(MorphoError) as info:
        liquidate(market, position, LLTV_80, ORACLE_PRICE_SCALE, 1, 0)
    assert info.value.reason == HEALTHY_POSITION == "position is healthy"
    # One unit of collateral less: maxBorrow = floor(0.8 * (1.25e18 - 1)) = 1e18 - 1 < 1e18.
    assert not is_healthy(market, Position(shares, 1_249_999_999_999_999_999), LLTV_80, ORACLE_PRICE_SCALE)


def test_liquidate_reverts_like_the_contract_on_impossible_amounts() -> None:
    market, shares = _market(10**10, 1_700_000_000)
    position = Position(shares, 10**18)
    price = 1_500 * USD  # unhealthy: 1,500 * 0.86 < 1,700
    # Repaying more shares than the position owes: position.borrowShares -= repaidShares underflows.
    with pytest.raises(MorphoError) as info:
        liquidate(market, position, LLTV_86, price, 0, shares + 1)
    assert info.value.reason == PANIC_ARITHMETIC
    # Seizing more collateral than posted: the implied repayment exceeds the debt first.
    with pytest.raises(MorphoError) as info:
        liquidate(market, position, LLTV_86, price, 10**18 + 1, 0)
    assert info.value.reason == PANIC_ARITHMETIC
    # Repaid-shares liquidation at price 0: mulDivDown(., 1e36, 0) divides by zero.
    with pytest.raises(MorphoError) as info:
        liquidate(market, position, LLTV_86, 0, 0, 1)
    assert info.value.reason == PANIC_DIVISION_BY_ZERO
    # seizedAssets above uint128 at price 1: the repayment is 1e6 shares, the cast then reverts.
    with pytest.raises(MorphoError) as info:
        liquidate(market, position, LLTV_86, 1, 2**128, 0)
    assert info.value.reason == MAX_UINT128_EXCEEDED == "max uint128 exceeded"


def test_liquidate_refuses_values_no_abi_can_encode() -> None:
    market, shares = _market(10**10, 1_700_000_000)
    with pytest.raises(InputError, match="seized_assets"):
        liquidate(market, Position(shares, 10**18), LLTV_86, USD, -1, 0)
    with pytest.raises(InputError, match=r"market\.total_borrow_assets"):
        Market(1, 1, 2**128, 1)
    with pytest.raises(InputError, match=r"position\.collateral"):
        Position(1, 1.5)  # type: ignore[arg-type]


# --- liquidate: amounts ------------------------------------------------------------------------


def test_seized_input_without_bad_debt() -> None:
    """LiquidateIntegrationTest.testLiquidateSeizedInputNoBadDebtRealized (REPO), fuzzed; fixed: LLTV
    0.8, supplied 5e18, borrowed 1e18, price 1_987_654_321_987_654_321e18 (so the bound's
    maxCollateral is 628_881_987_261_245_708), collateral 0.6e18, seized 123_456_789_012_345_678
    (below maxSeized 535_218_712_562_762_304).

    By hand, with LIF = floor(1e36 / 0.94e18) = 1_063_829_787_234_042_553:
    expectedRepaid = wDivUp(mulDivUp(seized, price, 1e36), LIF) = 230_666_055_043_560_431;
    expectedRepaidShares = 230_666_055_043_560_431e6 (the test rounds down, the contract up: equal
    on a fresh market's 1e6 shares per asset)."""
    market, shares = _market(5 * 10**18, 10**18)
    price = 1_987_654_321_987_654_321 * 10**18
    r = liquidate(market, Position(shares, 600_000_000_000_000_000), LLTV_80, price, 123_456_789_012_345_678, 0)
    assert r.seized_assets == 123_456_789_012_345_678
    assert r.repaid_assets == 230_666_055_043_560_431
    assert r.repaid_shares == 230_666_055_043_560_431_000_000
    assert r.liquidation_incentive_factor == 1_063_829_787_234_042_553
    assert r.position == Position(769_333_944_956_439_569_000_000, 476_543_210_987_654_322)
    assert r.market == Market(5 * 10**18, 5 * 10**24, 769_333_944_956_439_569, 769_333_944_956_439_569_000_000)
    assert (r.bad_debt_assets, r.bad_debt_shares) == (0, 0)


def test_shares_input_without_bad_debt() -> None:
    """LiquidateIntegrationTest.testLiquidateSharesInputNoBadDebtRealized (REPO), fuzzed; fixed to a
    WETH/USDC market: LLTV 0.86, 10,000 USDC supplied, 1,700 USDC borrowed against 1 WETH, WETH at
    1,950 USDC (healthy at 2,000: maxBorrow 1,720 USDC; at 1,950 1,677 < 1,700), sharesRepaid
    850_000_123_456_789 (below the bound's maxSharesRepaid 1_868_099_999_000_000).

    By hand: expectedRepaid = toAssetsUp(sharesRepaid) = ceil(850_000_123_456_789 * 1_700_000_001
    / 1_700_000_001_000_000) = 850_000_124; expectedSeized = mulDivDown(wMulDown(toAssetsDown(...)
    = 850_000_123, LIF86), 1e36, 1_950e24) = 455_007_827_692_307_692."""
    market, shares = _market(10_000_000_000, 1_700_000_000)
    position = Position(shares, 10**18)
    assert is_healthy(market, position, LLTV_86, 2_000 * USD)
    r = liquidate(market, position, LLTV_86, 1_950 * USD, 0, 850_000_123_456_789)
    assert r.repaid_assets == 850_000_124
    assert r.seized_assets == 455_007_827_692_307_692
    assert r.repaid_shares == 850_000_123_456_789
    assert r.position == Position(849_999_876_543_211, 544_992_172_307_692_308)
    assert r.market == Market(10_000_000_000, 10**16, 849_999_876, 849_999_876_543_211)


def test_bad_debt_realized() -> None:
    """LiquidateIntegrationTest.testLiquidateBadDebtRealized (REPO), fuzzed; fixed: the same WETH/USDC
    market, WETH falls to 1,500 USDC and the liquidator seizes the whole 1 WETH.

    By hand: expectedRepaid = wDivUp(mulDivUp(1e18, 1_500e24, 1e36) = 1_500e6, LIF86)
    = 1_437_000_001; expectedRepaidShares = 1_437_000_001e6; expectedBadDebt = toAssetsUp(
    1_700e12 - 1_437_000_001e6, 1_700e6 - 1_437_000_001, 1_700e12 - 1_437_000_001e6) = 262_999_999,
    bad-debt shares = expectedBadDebt * 1e6 (as the test's event states)."""
    market, shares = _market(10_000_000_000, 1_700_000_000)
    r = liquidate(market, Position(shares, 10**18), LLTV_86, 1_500 * USD, 10**18, 0)
    assert r.seized_assets == 10**18
    assert r.repaid_assets == 1_437_000_001
    assert r.repaid_shares == 1_437_000_001_000_000
    assert r.bad_debt_assets == 262_999_999
    assert r.bad_debt_shares == 262_999_999_000_000
    assert r.position == Position(0, 0)
    # totalBorrowShares 0, totalBorrow = 1_700e6 - repaid - badDebt, totalSupply = 10_000e6 - badDebt.
    assert r.market == Market(9_737_000_001, 10**16, 0, 0)


def test_bad_debt_capped_at_total_borrow_assets() -> None:
    """LiquidateIntegrationTest.testBadDebtOverTotalBorrowAssets (REPO), fixed inputs: supply and borrow
    1e18 against 10e18 collateral (LLTV 0.8), ``borrow(0 assets, 1 share)`` to inflate the shares
    (toAssetsDown(1) = 0 assets), price 1e36 / 100, seize all 10e18.

    By hand: repaidShares = toSharesUp(wDivUp(1e17, LIF80) = 94e15 + 1) = 94_000_000_000_000_001_000_001,
    repaidAssets = 94_000_000_000_000_002; the remaining 905_999_999_999_999_999_000_000 shares are
    worth toAssetsUp = 905_999_999_999_999_999 > totalBorrowAssets 905_999_999_999_999_998, so the
    bad debt is capped at the latter (the test only checks that it does not revert)."""
    market, shares = _market(10**18, 10**18)
    extra = to_assets_down(1, market.total_borrow_assets, market.total_borrow_shares)
    assert extra == 0
    market = Market(10**18, market.total_supply_shares, 10**18 + extra, market.total_borrow_shares + 1)
    r = liquidate(market, Position(shares + 1, 10 * 10**18), LLTV_80, ORACLE_PRICE_SCALE // 100, 10 * 10**18, 0)
    assert r.repaid_shares == 94_000_000_000_000_001_000_001
    assert r.repaid_assets == 94_000_000_000_000_002
    assert r.bad_debt_shares == 905_999_999_999_999_999_000_000
    assert r.bad_debt_assets == 905_999_999_999_999_998
    assert r.market == Market(94_000_000_000_000_002, 10**24, 0, 0)


def test_seized_assets_round_down_repaid_assets_round_up() -> None:
    """LiquidateIntegrationTest.testSeizedAssetsRoundUp (REPO), fixed inputs: LLTV 0.75, supply 100e18,
    collateral 400, borrow 300 (maxBorrow exactly 300), price 1e36 - 0.01e18, repay 1 share:
    seizedAssets 0, repaidAssets 1."""
    market, shares = _market(100 * 10**18, 300)
    position = Position(shares, 400)
    assert is_healthy(market, position, 750_000_000_000_000_000, ORACLE_PRICE_SCALE)
    r = liquidate(market, position, 750_000_000_000_000_000, ORACLE_PRICE_SCALE - 10**16, 0, 1)
    assert r.seized_assets == 0
    assert r.repaid_assets == 1


def test_liquidation_after_interest_rounds_shares_up() -> None:
    """A seized-assets liquidation on the market ``test_accrue_interest_with_fee`` leaves (1.7e15 borrow
    shares now worth 1_723_920_146 USDC units: no longer 1e6 shares per asset), by hand from
    Morpho.sol ``liquidate``: seize 0.3 WETH at 1,950 USDC, quoted = 585_000_000,
    wDivUp(585_000_000, LIF86) = 560_430_001, toSharesUp = 552_653_789_630_797 (toSharesDown would
    give ...796), repaidAssets = toAssetsUp(552_653_789_630_797) = 560_430_002."""
    market = Market(10_023_920_146, 10_002_386_875_502_911, 1_723_920_146, 1_700_000_000_000_000)
    r = liquidate(market, Position(1_700_000_000_000_000, 10**18), LLTV_86, 1_950 * USD, 3 * 10**17, 0)
    assert r.repaid_shares == 552_653_789_630_797
    assert r.repaid_assets == 560_430_002
    assert r.position == Position(1_147_346_210_369_203, 7 * 10**17)
    assert r.market.total_borrow_assets == 1_163_490_144
    # The other branch on the same state: repay 1e15 shares.
    r = liquidate(market, Position(1_700_000_000_000_000, 10**18), LLTV_86, 1_950 * USD, 0, 10**15)
    assert r.repaid_assets == 1_014_070_675  # toAssetsDown gives 1_014_070_674
    assert r.seized_assets == 542_835_326_666_666_666


def test_liquidate_result_to_dict_and_error_pickle() -> None:
    market, shares = _market(10_000_000_000, 1_700_000_000)
    d = liquidate(market, Position(shares, 10**18), LLTV_86, 1_500 * USD, 10**18, 0).to_dict()
    assert d["bad_debt_assets"] == 262_999_999
    assert d["market"] == {
        "total_supply_assets": 9_737_000_001,
        "total_supply_shares": 10**16,
        "total_borrow_assets": 0,
        "total_borrow_shares": 0,
    }
    err = pickle.loads(pickle.dumps(MorphoError(HEALTHY_POSITION, "x")))
    assert err.reason == HEALTHY_POSITION


# --- accrue interest ------------------------------------------------------------------------------


def test_accrue_interest_no_time_elapsed() -> None:
    """AccrueInterestIntegrationTest.testAccrueInterestNoTimeElapsed (REPO): nothing changes."""
    market, _ = _market(10_000_000_000, 1_700_000_000)
    r = accrue_interest(market, 5_390_664_637, 0, 10**17)
    assert (r.interest, r.fee_shares, r.market) == (0, 0, market)


def test_accrue_interest_no_borrow() -> None:
    """AccrueInterestIntegrationTest.testAccrueInterestNoBorrow (REPO), fixed: 1e18 supplied, 1 day."""
    market = Market(10**18, 10**24, 0, 0)
    r = accrue_interest(market, 0, 86_400, 0)
    assert (r.interest, r.fee_shares, r.market) == (0, 0, market)


def test_accrue_interest_without_fee() -> None:
    """AccrueInterestIntegrationTest.testAccrueInterestNoFee (REPO), fuzzed; fixed: 10,000 USDC supplied,
    1,700 borrowed, 30 days.  By hand: borrowRate = wDivDown(1_700e6, 10_000e6) / 365 days =
    0.17e18 // 31_536_000 = 5_390_664_637; wTaylorCompounded(rate, 2_592_000) = 13_972_602_739_104_000
    + 97_616_813_652_408 + 454_653_652_607 = 14_070_674_206_409_015; interest = wMulDown(1_700e6, that)
    = 23_920_146."""
    market, _ = _market(10_000_000_000, 1_700_000_000)
    rate = 170_000_000_000_000_000 // YEAR
    assert rate == 5_390_664_637
    assert w_taylor_compounded(rate, 30 * 86_400) == 14_070_674_206_409_015
    r = accrue_interest(market, rate, 30 * 86_400, 0)
    assert r.interest == 23_920_146
    assert r.fee_shares == 0
    assert r.market == Market(10_023_920_146, 10**16, 1_723_920_146, 1_700_000_000_000_000)


def test_accrue_interest_with_fee() -> None:
    """AccrueInterestIntegrationTest.testAccrueInterestWithFees (REPO), fuzzed; fixed as above with fee
    0.1e18.  By hand: feeAmount = wMulDown(23_920_146, 0.1e18) = 2_392_014; feeShares = toSharesDown(
    2_392_014, 10_000e6 + 23_920_146 - 2_392_014, 1e16) = 2_386_875_502_911."""
    market, _ = _market(10_000_000_000, 1_700_000_000)
    r = accrue_interest(market, 5_390_664_637, 30 * 86_400, 10**17)
    assert r.interest == 23_920_146
    assert r.fee_shares == 2_386_875_502_911
    assert r.market == Market(10_023_920_146, 10_002_386_875_502_911, 1_723_920_146, 1_700_000_000_000_000)


def test_accrue_interest_refuses_a_fee_above_the_maximum() -> None:
    # Morpho.sol setFee: require(newFee <= MAX_FEE, MAX_FEE_EXCEEDED).
    market, _ = _market(10**18, 10**17)
    with pytest.raises(MorphoError) as info:
        accrue_interest(market, 1, 1, 25 * 10**16 + 1)
    assert info.value.reason == MAX_FEE_EXCEEDED


# --- MathLib ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "d"), [(7, 3, 2), (10**18, 10**18 + 1, 3 * 10**18), (1, 1, 2**255), (0, 5, 7), (2**200, 2**40, 1)]
)
def test_mul_div_up_formula(x: int, y: int, d: int) -> None:
    """MathLibTest.testMulDivUp (REPO): ``x * y == 0 ? 0 : (x * y - 1) / d + 1``."""
    expected = 0 if x * y == 0 else (x * y - 1) // d + 1
    assert mul_div_up(x, y, d) == expected
    assert mul_div_down(x, y, d) == x * y // d


def test_mul_div_reverts() -> None:
    """MathLibTest testMulDivDownOverflow, testMulDivDownZeroDenominator, testMulDivUpZeroDenominator,
    testMulDivUpOverflow (REPO): all revert; which panic is Solidity 0.8's."""
    cases = [
        (mul_div_down, (2**255, 2, 1), PANIC_ARITHMETIC),
        (mul_div_down, (3, 4, 0), PANIC_DIVISION_BY_ZERO),
        (mul_div_up, (3, 4, 0), PANIC_ARITHMETIC),  # d - 1 underflows before the division
        (mul_div_up, (0, 0, 0), PANIC_ARITHMETIC),
        (mul_div_up, (2**255 - 1, 2, 3), PANIC_ARITHMETIC),  # x * y + (d - 1) overflows
    ]
    for fn, args, reason in cases:
        with pytest.raises(MorphoError) as info:
            fn(*args)
        assert info.value.reason == reason


def test_w_taylor_compounded_bounds_at_the_test_limits() -> None:
    """MathLibTest.testWTaylorCompounded (REPO), fuzzed; fixed at its bounds: rate WAD / 20_000_000,
    365 days.  The result (plus WAD) lies between simple interest and e^(rate t), within 8 %."""
    rate, t = WAD // 20_000_000, YEAR
    result = w_taylor_compounded(rate, t) + WAD
    getcontext().prec = 60
    exact = int((Decimal(rate * t) / WAD).exp() * WAD)
    assert WAD + rate * t <= result <= exact
    assert (exact - result) * 10_000 // exact <= 800
