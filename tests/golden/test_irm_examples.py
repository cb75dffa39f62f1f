"""Golden tests: the interest-rate models (``levguard.core.defi.irm``) against the protocols' own tests.

Each test names the protocol's test file and test function it reproduces; the expected values are
computed the way that test computes them (its own formula, or its literal numbers):

* Aave v3.0: aave/aave-v3-core at commit 782f51917056a53a2c228701058a6c3fb233684a,
  ``test-suites/rate-strategy.spec.ts`` (suite "InterestRateStrategy"), whose strategy is
  ``rateStrategyStableTwo`` and reserve factor ``strategyDAI.reserveFactor`` = 1000 of
  aave/aave-v3-deploy ``markets/test/rateStrategies.ts`` and ``reservesConfigs.ts`` (commit
  09e91b80aff219da80f35a9fc55dafc5d698b574).  The suite's aDAI holds no DAI, so the available
  liquidity is the ``liquidityAdded`` it passes (``underlying_balance=0``).
* Aave v3.3: aave-dao/aave-v3-origin at tag v3.3.0 (commit 5431379f8beb4d7128c84a81ced3917d856efa84),
  ``tests/misc/rates/RateStrategy.calculateRates.t.sol`` and ``RateStrategy.t.sol``; the tests'
  reserve factor is the test market's USDX factor and their expectations hold for any, so each
  case runs with several.  ``tests/protocol/libraries/math/MathUtils.t.sol`` at v3.3.0 (the
  3.0 - 3.3 formula) and at commit fd1fbd9150426ca8ace9cee45b4acf912ae84f5b (3.4+).
* Morpho: morpho-org/morpho-blue-irm at commit a1a87fd5a7ee13873ea9d2bbd87e9c7b2cdbbef3,
  ``test/AdaptiveCurveIrmTest.sol`` and ``test/ExpLibTest.sol`` (the same tests as
  ``test/forge/`` at tag v1.0.0).  A test's ``Market`` with ``lastUpdate`` and ``vm.warp`` becomes
  the ``elapsed`` argument; the IRM's storage becomes ``rate_at_target``.
"""

from __future__ import annotations

import math

import pytest

from levguard.core.defi import adaptive_curve_irm as ac
from levguard.core.defi.irm import (
    SECONDS_PER_YEAR,
    AaveInterestRateData,
    AaveRateError,
    AaveRateStrategy,
    adaptive_curve_accrue_interest,
    adaptive_curve_borrow_rate,
    calculate_compounded_interest,
    calculate_interest_rates,
    calculate_interest_rates_v2,
    calculate_linear_interest,
    validate_interest_rate_data,
)
from levguard.core.defi.morpho import WAD, Market, w_div_down
from levguard.core.defi.wadray import RAY, percent_mul, ray_div, ray_mul

YEAR = SECONDS_PER_YEAR
DAY = 86_400


def _units(value: str, decimals: int) -> int:
    # ethers' parseUnits for the decimal strings of the Aave deploy config.
    whole, _, frac = value.partition(".")
    return int(whole) * 10**decimals + int((frac + "0" * decimals)[:decimals] or 0)


# ---------------------------------------------------------------------------------------------------
# Aave v3.0: aave-v3-core test-suites/rate-strategy.spec.ts
# ---------------------------------------------------------------------------------------------------

STABLE_TWO = AaveRateStrategy(
    optimal_usage_ratio=_units("0.8", 27),
    base_variable_borrow_rate=0,
    variable_rate_slope1=_units("0.04", 27),
    variable_rate_slope2=_units("0.75", 27),
    stable_rate_slope1=_units("0.02", 27),
    stable_rate_slope2=_units("0.75", 27),
    base_stable_rate_offset=_units("0.02", 27),
    stable_rate_excess_offset=_units("0.05", 27),
    optimal_stable_to_total_debt_ratio=_units("0.2", 27),
)
DAI_RESERVE_FACTOR = 1000
BASE_STABLE = STABLE_TWO.variable_rate_slope1 + STABLE_TWO.base_stable_rate_offset


def _v30(**kw: int) -> tuple[int, int, int]:
    r = calculate_interest_rates(STABLE_TWO, underlying_balance=0, reserve_factor=DAI_RESERVE_FACTOR, **kw)
    return r.current_liquidity_rate, r.current_stable_borrow_rate, r.current_variable_borrow_rate


def test_v30_rates_at_0_percent_usage_empty_reserve() -> None:
    # "Checks rates at 0% usage ratio, empty reserve"
    assert _v30(total_variable_debt=0) == (0, BASE_STABLE, STABLE_TWO.base_variable_borrow_rate)


def test_v30_rates_at_80_percent_usage() -> None:
    # "Checks rates at 80% usage ratio"
    liquidity, stable, variable = _v30(liquidity_added=2 * 10**17, total_variable_debt=8 * 10**17)
    expected_variable = STABLE_TWO.base_variable_borrow_rate + STABLE_TWO.variable_rate_slope1
    assert variable == expected_variable
    assert liquidity == percent_mul(percent_mul(expected_variable, 8000), 10_000 - DAI_RESERVE_FACTOR)
    assert stable == BASE_STABLE + STABLE_TWO.stable_rate_slope1


def test_v30_rates_at_100_percent_usage() -> None:
    # "Checks rates at 100% usage ratio"
    liquidity, stable, variable = _v30(total_variable_debt=10**18)
    s = STABLE_TWO
    expected_variable = s.base_variable_borrow_rate + s.variable_rate_slope1 + s.variable_rate_slope2
    assert variable == expected_variable == 790 * 10**24
    assert liquidity == percent_mul(expected_variable, 10_000 - DAI_RESERVE_FACTOR)
    assert stable == BASE_STABLE + s.stable_rate_slope1 + s.stable_rate_slope2


def test_v30_rates_at_100_percent_usage_half_stable_debt_at_10_percent() -> None:
    # "Checks rates at 100% usage ratio, 50% stable debt and 50% variable debt, with a 10% avg stable rate"
    liquidity, stable, variable = _v30(
        total_stable_debt=4 * 10**17, total_variable_debt=4 * 10**17, average_stable_borrow_rate=10**26
    )
    s = STABLE_TWO
    assert variable == s.base_variable_borrow_rate + s.variable_rate_slope1 + s.variable_rate_slope2
    assert liquidity == percent_mul((variable + _units("0.1", 27)) // 2, 10_000 - DAI_RESERVE_FACTOR)
    excess = ray_mul(s.stable_rate_excess_offset, _units("0.375", 27))
    assert stable == BASE_STABLE + s.stable_rate_slope1 + s.stable_rate_slope2 + excess


def test_v30_80_percent_borrow_usage_50_percent_supply_usage_from_unbacked() -> None:
    # "Checks rates at 80% borrow usage ratio and 50% supply usage due to minted tokens"
    liquidity, stable, variable = _v30(unbacked=6 * 10**17, liquidity_added=2 * 10**17, total_variable_debt=8 * 10**17)
    expected_variable = STABLE_TWO.base_variable_borrow_rate + STABLE_TWO.variable_rate_slope1
    assert variable == expected_variable
    assert liquidity == percent_mul(percent_mul(expected_variable, 5000), 10_000 - DAI_RESERVE_FACTOR)
    assert stable == BASE_STABLE + STABLE_TWO.stable_rate_slope1


def test_v30_80_percent_borrow_usage_08_percent_supply_usage_from_unbacked() -> None:
    # "Checks rates at 80% borrow usage ratio and 0.8% supply usage due to minted tokens"
    available, debt = 2 * 10**17, 8 * 10**17
    liquidity, stable, variable = _v30(
        unbacked=debt * 124 - available, liquidity_added=available, total_variable_debt=debt
    )
    expected_variable = STABLE_TWO.base_variable_borrow_rate + STABLE_TWO.variable_rate_slope1
    assert variable == expected_variable
    assert liquidity == percent_mul(percent_mul(expected_variable, 80), 10_000 - DAI_RESERVE_FACTOR)
    assert stable == BASE_STABLE + STABLE_TWO.stable_rate_slope1


def test_v30_rates_at_08_percent_usage() -> None:
    # "Checks rates at 0.8% usage"
    liquidity, stable, variable = _v30(liquidity_added=9920 * 10**18, total_variable_debt=80 * 10**18)
    usage = percent_mul(RAY, 80)
    s = STABLE_TWO
    expected_variable = s.base_variable_borrow_rate + ray_mul(
        s.variable_rate_slope1, ray_div(usage, s.optimal_usage_ratio)
    )
    assert variable == expected_variable
    assert liquidity == percent_mul(percent_mul(expected_variable, 80), 10_000 - DAI_RESERVE_FACTOR)
    assert stable == BASE_STABLE + ray_mul(s.stable_rate_slope1, ray_div(usage, s.optimal_usage_ratio))


def test_v30_getters() -> None:
    # "Checks getters"
    s = STABLE_TWO
    assert s.max_variable_borrow_rate == s.base_variable_borrow_rate + s.variable_rate_slope1 + s.variable_rate_slope2
    assert s.max_excess_usage_ratio == RAY - s.optimal_usage_ratio
    assert s.max_excess_stable_to_total_debt_ratio == RAY - s.optimal_stable_to_total_debt_ratio
    assert s.base_stable_borrow_rate == BASE_STABLE


@pytest.mark.parametrize(
    ("field", "code"),
    [("optimal_usage_ratio", "83"), ("optimal_stable_to_total_debt_ratio", "84")],
    ids=["optimalUsageRatio out of range", "optimalStableToTotalDebtRatio out of range"],
)
def test_v30_deploy_with_ratio_out_of_range_reverts(field: str, code: str) -> None:
    # "Deploy an interest rate strategy with optimalUsageRatio out of range (expect revert)" and
    # "... optimalStableToTotalDebtRatio out of range (expect revert)": parseUnits('1.0', 28)
    kwargs = {**STABLE_TWO.to_dict(), field: _units("1.0", 28)}
    with pytest.raises(AaveRateError) as info:
        AaveRateStrategy(**kwargs)
    assert info.value.code == code


# ---------------------------------------------------------------------------------------------------
# Aave v3.3: aave-v3-origin tests/misc/rates/RateStrategy.calculateRates.t.sol, RateStrategy.t.sol
# ---------------------------------------------------------------------------------------------------

USDX = AaveInterestRateData(
    optimal_usage_ratio=80_00, base_variable_borrow_rate=1_00, variable_rate_slope1=4_00, variable_rate_slope2=60_00
)
RESERVE_FACTORS = [0, 10_00, 15_00, 100_00]
OPTIMAL, BASE, SLOPE1, SLOPE2 = USDX.ray()


def _v33(rf: int, **kw: object) -> tuple[int, int]:
    r = calculate_interest_rates_v2(USDX, reserve_factor=rf, version="3.3", **kw)  # type: ignore[arg-type]
    assert r.current_stable_borrow_rate == 0
    return r.current_liquidity_rate, r.current_variable_borrow_rate


@pytest.mark.parametrize("rf", RESERVE_FACTORS)
def test_v33_calculate_rates_80_percent_usage(rf: int) -> None:
    # test_calculate_rates_80_percent_usage
    liquidity, variable = _v33(rf, total_debt=8 * 10**17, virtual_underlying_balance=2 * 10**17)
    assert variable == BASE + SLOPE1
    assert liquidity == percent_mul(percent_mul(BASE + SLOPE1, 8000), 100_00 - rf)


@pytest.mark.parametrize("rf", RESERVE_FACTORS)
def test_v33_calculate_rates_100_percent_usage(rf: int) -> None:
    # test_calculate_rates_100_percent_usage
    liquidity, variable = _v33(rf, total_debt=10**18, virtual_underlying_balance=0)
    assert variable == BASE + SLOPE1 + SLOPE2
    assert liquidity == percent_mul(BASE + SLOPE1 + SLOPE2, 100_00 - rf)


@pytest.mark.parametrize("rf", RESERVE_FACTORS)
def test_v33_80_percent_usage_and_50_percent_supply_usage_due_minted_tokens(rf: int) -> None:
    # test_calculate_rates_80_percent_usage_and_50_percent_supply_usage_due_minted_tokens
    liquidity, variable = _v33(rf, unbacked=6 * 10**17, total_debt=8 * 10**17, virtual_underlying_balance=2 * 10**17)
    assert variable == BASE + SLOPE1
    assert liquidity == percent_mul(percent_mul(BASE + SLOPE1, 5000), 100_00 - rf)


@pytest.mark.parametrize("rf", RESERVE_FACTORS)
def test_v33_80_percent_usage_and_80_bps_supply_usage_due_minted_tokens(rf: int) -> None:
    # test_calculate_rates_80_percent_usage_and_80_bps_supply_usage_due_minted_tokens
    liquidity, variable = _v33(
        rf, unbacked=8 * 10**17 * 124 - 2 * 10**17, total_debt=8 * 10**17, virtual_underlying_balance=2 * 10**17
    )
    assert variable == BASE + SLOPE1
    assert liquidity == percent_mul(percent_mul(BASE + SLOPE1, 80), 100_00 - rf)


@pytest.mark.parametrize("rf", RESERVE_FACTORS)
def test_v33_calculate_rates_80_bps_usage(rf: int) -> None:
    # test_calculate_rates_80_bps_usage
    liquidity, variable = _v33(rf, total_debt=80 * 10**18, virtual_underlying_balance=9920 * 10**18)
    expected = BASE + ray_mul(SLOPE1, ray_div(80 * 10**23, OPTIMAL))
    assert variable == expected
    assert liquidity == percent_mul(percent_mul(expected, 80), 100_00 - rf)


@pytest.mark.parametrize("virtual", [0, 1, 10**17, 2 * 10**17 - 1, 2 * 10**17])
def test_v33_fuzz_80_percent_usage_added_and_virtual_equal(virtual: int) -> None:
    # test_fuzz_calculate_rates_80_percent_usage_added_and_virtual_equal (bound [0, 2e17])
    rf = 10_00
    one = _v33(rf, total_debt=8 * 10**17, virtual_underlying_balance=2 * 10**17)
    two = _v33(rf, total_debt=8 * 10**17, virtual_underlying_balance=virtual, liquidity_added=2 * 10**17 - virtual)
    assert one == two == (percent_mul(percent_mul(BASE + SLOPE1, 8000), 100_00 - rf), BASE + SLOPE1)


@pytest.mark.parametrize(
    "data",
    [USDX, AaveInterestRateData(1_00, 0, 0, 0), AaveInterestRateData(99_00, 100_000, 0, 0)],
    ids=["usdx", "min", "max"],
)
@pytest.mark.parametrize(("added", "virtual"), [(0, 0), (10**24, 7), (0, 10**30)])
def test_v33_empty_reserve_or_no_virtual_balance(data: AaveInterestRateData, added: int, virtual: int) -> None:
    # test_calculate_rates_empty_reserve, test_calculate_rates_when_total_debt_0,
    # test_calculate_rates_when_not_using_virtual_valance
    base = data.ray()[1]
    for using_virtual, debt in ((True, 0), (False, 0), (False, 10**18)):
        r = calculate_interest_rates_v2(
            data,
            total_debt=debt,
            virtual_underlying_balance=virtual,
            liquidity_added=added,
            reserve_factor=10_00,
            using_virtual_balance=using_virtual,
            version="3.3",
        )
        assert (r.current_liquidity_rate, r.current_variable_borrow_rate) == (0, base)


@pytest.mark.parametrize(
    ("available", "debt", "virtual"), [(10**27, 10**20, 0), (5 * 10**18, 10**18, 10**18), (1e28 - 1, 3, 10**28)]
)
def test_v33_calculate_rates_below_op_usage(available: int, debt: int, virtual: int) -> None:
    # test_calculate_rates_below_op_usage: expected within 100 wei of the test's own formula
    available = int(available)
    rf = 10_00
    plus_debt = debt + available + virtual
    usage = ray_div(debt, plus_debt)
    assert usage < OPTIMAL
    liquidity, variable = _v33(rf, total_debt=debt, virtual_underlying_balance=virtual, liquidity_added=available)
    expected = BASE + ray_mul(SLOPE1, ray_div(usage, OPTIMAL))
    assert abs(variable - expected) <= 100
    assert abs(liquidity - percent_mul(ray_mul(expected, ray_div(debt, plus_debt)), 100_00 - rf)) <= 100


@pytest.mark.parametrize(("available", "debt", "virtual"), [(10**18, 10**18, 0), (10**20, 10**21, 10**19), (1, 1, 0)])
def test_v33_calculate_rates_above_op_usage(available: int, debt: int, virtual: int) -> None:
    # test_calculate_rates_above_op_usage: exact
    rf = 15_00
    data = AaveInterestRateData(45_00, 0, 7_00, 300_00)
    optimal, base, slope1, slope2 = data.ray()
    plus_debt = debt + available + virtual
    usage = ray_div(debt, plus_debt)
    assert usage > optimal
    r = calculate_interest_rates_v2(
        data, total_debt=debt, virtual_underlying_balance=virtual, liquidity_added=available, reserve_factor=rf
    )
    excess = ray_div(usage - optimal, RAY - optimal)
    expected = base + slope1 + ray_mul(slope2, excess)
    assert r.current_variable_borrow_rate == expected
    assert r.current_liquidity_rate == percent_mul(ray_mul(expected, ray_div(debt, plus_debt)), 100_00 - rf)


def test_v33_zero_rates_strategy_calculate_rates() -> None:
    # test_zero_rates_strategy_calculate_rates: a reserve the strategy never configured (all zeros)
    r = calculate_interest_rates_v2(
        AaveInterestRateData(0, 0, 0, 0),
        unbacked=10,
        liquidity_added=1000,
        liquidity_taken=50,
        total_debt=20,
        reserve_factor=10_00,
        virtual_underlying_balance=30000,
    )
    assert (r.current_liquidity_rate, r.current_variable_borrow_rate) == (0, 0)


def test_v33_initialization_and_max_variable_borrow_rate() -> None:
    # RateStrategy.t.sol test_initialization, test_getInterestRateDataRay, test_getMaxVariableBorrowRate
    assert AaveInterestRateData(0, 0, 0, 0).ray() == (0, 0, 0, 0)
    assert USDX.ray() == (80_00 * 10**23, 1_00 * 10**23, 4_00 * 10**23, 60_00 * 10**23)
    assert sum(USDX.ray()[1:]) == (1_00 + 4_00 + 60_00) * 10**23


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (AaveInterestRateData(99_01, 0, 0, 0), "83"),  # test_reverts_..._when_gt_max_op
        (AaveInterestRateData(99, 0, 0, 0), "83"),  # test_reverts_..._when_lt_min_op
        (AaveInterestRateData(50_00, 1, 50_000, 50_000), "92"),  # test_reverts_..._when_gt_maxRate
        (AaveInterestRateData(50_00, 0, 2, 1), "95"),  # test_reverts_..._when_slope1_gt_slope2
    ],
)
def test_v33_set_interest_rate_params_reverts(data: AaveInterestRateData, code: str) -> None:
    with pytest.raises(AaveRateError) as info:
        validate_interest_rate_data(data)
    assert info.value.code == code


# ---------------------------------------------------------------------------------------------------
# Aave MathUtils.t.sol (v3.3.0 for the 3.0 - 3.3 formula, fd1fbd91 for 3.4+)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.0", "3.3"])
def test_mathutils_v33_interest(version: str) -> None:
    # test_constants, test_calculateLinearInterest, test_calculateCompoundInterest_1/_2/_edge
    assert YEAR == 365 * DAY
    half_year = YEAR // 2
    assert calculate_linear_interest(10005 * 10**23, 0, half_year) == 150025 * 10**22
    assert calculate_compounded_interest(10005 * 10**23, 0, half_year, version) == 1_646239361880034706419516000
    assert calculate_compounded_interest(10005 * 10**23, half_year, half_year, version) == RAY


def test_mathutils_v34_interest() -> None:
    # test_calculateLinearInterest, test_calculateCompoundInterest_1/_2 (0.3 %), _edge, _shouldNotOverflow
    start = 1_700_000_000
    assert calculate_linear_interest(8 * 10**25, start, start + 7 * YEAR) == 156 * 10**25
    got = calculate_compounded_interest(8 * 10**25, start, start + 7 * YEAR, "3.4")
    assert abs(got / 1_750672500296101082549976435 - 1) <= 0.003
    assert calculate_compounded_interest(8 * 10**25, start, start, "3.4") == RAY
    assert (
        calculate_compounded_interest(1000 * RAY, start, start + 10_000 * YEAR, "3.4")
        == 166666716666676666667666666666666600000000000000
    )


# ---------------------------------------------------------------------------------------------------
# Morpho: morpho-blue-irm test/AdaptiveCurveIrmTest.sol
# ---------------------------------------------------------------------------------------------------

ZERO = Market(0, 0, 0, 0)
INITIAL = ac.INITIAL_RATE_AT_TARGET


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_first_borrow_rate_utilization_zero() -> None:
    # testFirstBorrowRateUtilizationZero: within 0.01 % of INITIAL / 4; rateAtTarget = INITIAL
    r = adaptive_curve_borrow_rate(ZERO, 0, 0)
    assert _rel(r.avg_borrow_rate, INITIAL // 4) <= 1e-4
    assert r.end_rate_at_target == INITIAL


def test_first_borrow_rate_utilization_one() -> None:
    # testFirstBorrowRateUtilizationOne: exactly INITIAL * 4
    r = adaptive_curve_borrow_rate(Market(WAD, 0, WAD, 0), 0, 0)
    assert r.avg_borrow_rate == INITIAL * 4
    assert r.end_rate_at_target == INITIAL


def test_rate_after_utilization_one() -> None:
    # testRateAfterUtilizationOne: 5 days at 100 % after a first call at 0 % (all within 10 %)
    first = adaptive_curve_borrow_rate(ZERO, 0, 0)
    assert _rel(first.avg_borrow_rate, INITIAL // 4) <= 1e-3
    rate = adaptive_curve_borrow_rate(Market(WAD, 0, WAD, 0), first.end_rate_at_target, 5 * DAY).avg_borrow_rate
    speed = ac.ADJUSTMENT_SPEED
    assert _rel(rate, ac.w_mul_to_zero(INITIAL * 4, (19836 * 10**14 - WAD) * WAD // (speed * 5 * DAY))) <= 0.1
    assert _rel(rate, ac.w_mul_to_zero(INITIAL * 4, 14361 * 10**14)) <= 0.1
    assert _rel(rate, 22976 * 10**13 // YEAR) <= 0.1  # "Expected rate: 22.976%"


def test_rate_after_utilization_zero() -> None:
    # testRateAfterUtilizationZero
    first = adaptive_curve_borrow_rate(ZERO, 0, 0)
    rate = adaptive_curve_borrow_rate(Market(WAD, 0, 0, 0), first.end_rate_at_target, 5 * DAY).avg_borrow_rate
    speed = ac.ADJUSTMENT_SPEED
    expected_1 = ac.w_mul_to_zero(INITIAL // 4, ac.w_div_to_zero(5041 * 10**14 - WAD, -speed * 5 * DAY))
    assert _rel(rate, expected_1) <= 0.1
    assert _rel(rate, ac.w_mul_to_zero(INITIAL // 4, 724 * 10**15)) <= 0.1
    assert _rel(rate, 724 * 10**13 // YEAR) <= 0.1  # "Expected rate: 0.7240%"


def test_rate_after_45_days_utilization_above_target_no_ping() -> None:
    # testRateAfter45DaysUtilizationAboveTargetNoPing: 4% * exp(50 * 45 / 365 * 50%) = 87.22% (0.5 %)
    target = Market(WAD, 0, ac.TARGET_UTILIZATION, 0)
    first = adaptive_curve_borrow_rate(target, 0, 0)
    assert (first.avg_borrow_rate, first.end_rate_at_target) == (INITIAL, INITIAL)
    above = Market(WAD, 0, (ac.TARGET_UTILIZATION + WAD) // 2, 0)  # err = 50 %
    end = adaptive_curve_borrow_rate(above, INITIAL, 45 * DAY).end_rate_at_target
    assert _rel(end, 8722 * 10**14 // YEAR) <= 0.005


def _ping_every_minute(borrow: int, minutes: int) -> tuple[Market, int]:
    # The tests' loop: borrowRate every minute, interest wMulDown(borrow, wTaylorCompounded(rate, 60))
    # added to supply and borrow -- Morpho._accrueInterest with no fee.
    market, rate_at_target = (
        Market(WAD, 0, borrow, 0),
        adaptive_curve_borrow_rate(Market(WAD, 0, ac.TARGET_UTILIZATION, 0), 0, 0).end_rate_at_target,
    )
    for _ in range(minutes):
        step = adaptive_curve_accrue_interest(market, rate_at_target, 60)
        market, rate_at_target = step.market, step.rate_at_target
    return market, rate_at_target


def test_rate_after_45_days_utilization_above_target_ping_every_minute() -> None:
    # testRateAfter45DaysUtilizationAboveTargetPingEveryMinute
    initial_borrow = (ac.TARGET_UTILIZATION + WAD) // 2
    market, rate_at_target = _ping_every_minute(initial_borrow, 45 * DAY // 60)
    assert _rel(w_div_down(market.total_borrow_assets, market.total_supply_assets), 95 * 10**16) <= 0.01
    expected = 8722 * 10**14 // YEAR
    assert rate_at_target >= expected
    assert _rel(rate_at_target, expected) <= 0.08
    assert _rel(market.total_borrow_assets, initial_borrow * 1457 * 10**15 // WAD) <= 0.3


def test_rate_after_3_weeks_utilization_target_ping_every_minute() -> None:
    # testRateAfter3WeeksUtilizationTargetPingEveryMinute
    market, rate_at_target = _ping_every_minute(ac.TARGET_UTILIZATION, 3 * 7 * DAY // 60)
    utilization = w_div_down(market.total_borrow_assets, market.total_supply_assets)
    assert _rel(utilization, ac.TARGET_UTILIZATION) <= 0.01
    assert rate_at_target >= INITIAL
    assert _rel(rate_at_target, INITIAL) <= 0.1


@pytest.mark.parametrize("elapsed", [0, 1, 3600, 365 * DAY, 2**48 - 1])
def test_rate_after_utilization_target_no_ping(elapsed: int) -> None:
    # testRateAfterUtilizationTargetNoPing (elapsed bounded to uint48)
    target = Market(WAD, 0, ac.TARGET_UTILIZATION, 0)
    assert adaptive_curve_borrow_rate(target, 0, 0).avg_borrow_rate == INITIAL
    assert adaptive_curve_borrow_rate(target, INITIAL, elapsed).end_rate_at_target == INITIAL


def _err(m: Market) -> int:
    # AdaptiveCurveIrmTest._err
    if m.total_supply_assets == 0:
        return -WAD
    u = w_div_down(m.total_borrow_assets, m.total_supply_assets)
    if u > ac.TARGET_UTILIZATION:
        return ac.w_div_to_zero(u - ac.TARGET_UTILIZATION, WAD - ac.TARGET_UTILIZATION)
    return ac.w_div_to_zero(u - ac.TARGET_UTILIZATION, ac.TARGET_UTILIZATION)


@pytest.mark.parametrize(
    "market", [Market(10**18, 0, 1, 0), Market(10**18, 0, 10**18, 0), Market(2**128 - 1, 0, 12345, 0)], ids=str
)
def test_first_borrow_rate(market: Market) -> None:
    # testFirstBorrowRate / testFirstBorrowRateView: avg = _curve(INITIAL, _err(market))
    r = adaptive_curve_borrow_rate(market, 0, 0)
    assert r.avg_borrow_rate == ac.curve(INITIAL, _err(market))
    assert r.end_rate_at_target == INITIAL


def test_borrow_rate_after_a_first_call() -> None:
    # testBorrowRate / testBorrowRateNoUtilizationChange: avg within 11 % of the test's
    # closed form (newRate - curve(start)) / linearAdaptation, rateAtTarget within 0.1 %
    market0, market1 = Market(10**18, 0, 5 * 10**17, 0), Market(10**18, 0, 99 * 10**16, 0)
    start = adaptive_curve_borrow_rate(market0, 0, 0).end_rate_at_target
    for market in (market0, market1):
        for elapsed in (1, 3600, 5 * DAY):
            r = adaptive_curve_borrow_rate(market, start, elapsed)
            err = _err(market)
            linear = ac.w_mul_to_zero(ac.ADJUSTMENT_SPEED, err) * elapsed
            expected_end = max(
                min(ac.w_mul_to_zero(start, ac.w_exp(linear)), ac.MAX_RATE_AT_TARGET), ac.MIN_RATE_AT_TARGET
            )
            expected_avg = ac.w_div_to_zero(ac.curve(expected_end, err) - ac.curve(start, err), linear)
            assert _rel(r.end_rate_at_target, expected_end) <= 1e-3
            assert _rel(r.avg_borrow_rate, expected_avg) <= 0.11


@pytest.mark.parametrize("start", [ac.MIN_RATE_AT_TARGET, INITIAL, ac.MAX_RATE_AT_TARGET])
def test_invariants_ge_min_and_le_max_rate_at_target(start: int) -> None:
    # invariantGeMinRateAtTarget, invariantLeMaxRateAtTarget (market at 90 %)
    m = Market(10 * WAD, 0, 9 * WAD, 0)
    rate = adaptive_curve_borrow_rate(m, start, 30 * DAY).avg_borrow_rate
    assert ac.w_div_to_zero(ac.MIN_RATE_AT_TARGET, ac.CURVE_STEEPNESS) <= rate
    assert rate <= ac.w_mul_to_zero(ac.MAX_RATE_AT_TARGET, ac.CURVE_STEEPNESS)


def test_constants() -> None:
    # testConstants, and ConstantsLib's values
    assert WAD <= ac.CURVE_STEEPNESS <= 100 * WAD
    assert 0 <= ac.ADJUSTMENT_SPEED <= 1000 * WAD // YEAR
    assert 0 < ac.TARGET_UTILIZATION < WAD
    assert ac.MIN_RATE_AT_TARGET <= INITIAL <= ac.MAX_RATE_AT_TARGET
    assert (ac.ADJUSTMENT_SPEED, INITIAL, ac.MIN_RATE_AT_TARGET, ac.MAX_RATE_AT_TARGET) == (
        1585489599188,
        1268391679,
        31709791,
        63419583967,
    )


# ---------------------------------------------------------------------------------------------------
# Morpho: morpho-blue-irm test/ExpLibTest.sol
# ---------------------------------------------------------------------------------------------------

LN_GWEI_INT = -2072 * 10**16  # ln(1e-9) truncated at 2 decimals


@pytest.mark.parametrize("x", [LN_GWEI_INT, -5 * WAD, -1, 0, 1, WAD // 3, 10 * WAD, 60 * WAD, ac.WEXP_UPPER_BOUND - 1])
def test_w_exp_within_one_percent(x: int) -> None:
    # testWExp: within 1 % of exp on [ln 1e-9, WEXP_UPPER_BOUND]
    assert _rel(ac.w_exp(x), math.exp(x / WAD) * WAD) <= 0.01


@pytest.mark.parametrize("x", [ac.LN_WEI_INT, ac.LN_WEI_INT + 1, -30 * WAD, LN_GWEI_INT])
def test_w_exp_small(x: int) -> None:
    # testWExpSmall: |wExp| <= 1e10 on [ln 1e-18, ln 1e-9]
    assert abs(ac.w_exp(x)) <= 10**10


@pytest.mark.parametrize("x", [-(2**255), ac.LN_WEI_INT - 1])
def test_w_exp_too_small(x: int) -> None:
    # testWExpTooSmall
    assert ac.w_exp(x) == 0


@pytest.mark.parametrize("x", [ac.WEXP_UPPER_BOUND, ac.WEXP_UPPER_BOUND + 1, 2**255 - 1])
def test_w_exp_too_large(x: int) -> None:
    # testWExpTooLarge, testWExpDoesNotLeadToOverflow, testWExpWMulMaxRate
    assert ac.w_exp(x) == ac.WEXP_UPPER_VALUE
    assert 0 < ac.WEXP_UPPER_VALUE * WAD < 2**255
    ac.w_mul_to_zero(ac.w_exp(x), ac.MAX_RATE_AT_TARGET)  # no overflow


def test_w_exp_continuous_upper_bound() -> None:
    # testWExpContinuousUpperBound: wExp(UPPER - 1) within 1e-10 of the clip value, and the
    # unbounded formula at UPPER is exactly WEXP_UPPER_VALUE
    assert _rel(ac.w_exp(ac.WEXP_UPPER_BOUND - 1), ac.WEXP_UPPER_VALUE) <= 1e-10
    x = ac.WEXP_UPPER_BOUND
    q = (x + ac.LN_2_INT // 2) // ac.LN_2_INT
    r = x - q * ac.LN_2_INT
    assert (WAD + r + r * r // WAD // 2) << q == ac.WEXP_UPPER_VALUE


@pytest.mark.parametrize("x", [0, 1, WAD, 2**255 - 1])
def test_w_exp_positive(x: int) -> None:
    # testWExpPositive
    assert ac.w_exp(x) >= WAD


@pytest.mark.parametrize("x", [-(2**255), -WAD, -1, 0])
def test_w_exp_negative(x: int) -> None:
    # testWExpNegative
    assert ac.w_exp(x) <= WAD
