"""Unit tests of ``levguard.core.defi.irm`` (and its parts ``adaptive_curve_irm``, ``irm_apy``):
input validation, the contracts' revert paths, version differences, records and the APY helpers."""

from __future__ import annotations

import math
import pickle
from decimal import Decimal, localcontext

import numpy as np
import pytest

from levguard.core.defi import adaptive_curve_irm as ac
from levguard.core.defi import irm
from levguard.core.defi.aave_errors import AaveError
from levguard.core.defi.irm import (
    RATE_ERRORS,
    SECONDS_PER_YEAR,
    AaveInterestRateData,
    AaveInterestRates,
    AaveRateError,
    AaveRateStrategy,
    apr_to_apy,
    borrow_apy,
    calculate_compounded_interest,
    calculate_interest_rates,
    calculate_interest_rates_v2,
    calculate_linear_interest,
    get_normalized_debt,
    get_normalized_income,
    rate_to_apr,
    supply_apy,
)
from levguard.core.defi.morpho import PANIC_ARITHMETIC, PANIC_DIVISION_BY_ZERO, WAD, Market, MorphoError
from levguard.core.defi.wadray import RAY, MathRevertError
from levguard.errors import InputError

STRATEGY = AaveRateStrategy(8 * RAY // 10, 0, 4 * RAY // 100, 75 * RAY // 100)
USDX = AaveInterestRateData(80_00, 1_00, 4_00, 60_00)


# --- Aave 3.0 strategy -----------------------------------------------------------------------------


def test_v30_returns_a_record_with_usage_ratios() -> None:
    r = calculate_interest_rates(STRATEGY, total_variable_debt=50, underlying_balance=50, reserve_factor=1000)
    assert isinstance(r, AaveInterestRates)
    assert r.borrow_usage_ratio == r.supply_usage_ratio == RAY // 2
    assert r.to_dict() == {
        "current_liquidity_rate": r.current_liquidity_rate,
        "current_stable_borrow_rate": r.current_stable_borrow_rate,
        "current_variable_borrow_rate": 25 * RAY // 1000,  # 4 % * 0.5 / 0.8
        "borrow_usage_ratio": RAY // 2,
        "supply_usage_ratio": RAY // 2,
    }


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"total_variable_debt": 1, "underlying_balance": 5, "liquidity_taken": 6, "reserve_factor": 0}, "0x11"),
        ({"total_variable_debt": 1, "underlying_balance": 5, "reserve_factor": 10_001}, "0x11"),
        (
            {"total_variable_debt": 2**256 - 1, "total_stable_debt": 1, "underlying_balance": 0, "reserve_factor": 0},
            "0x11",
        ),
    ],
    ids=["taken above balance", "reserve factor above 100 %", "debt overflow"],
)
def test_v30_reverts_like_the_contract(kwargs: dict[str, int], code: str) -> None:
    with pytest.raises(MathRevertError) as info:
        calculate_interest_rates(STRATEGY, **kwargs)
    assert info.value.code == code


def test_v30_zero_optimal_usage_reverts_at_zero_usage_only() -> None:
    # slope1.rayMul(0).rayDiv(0): WadRayMath's bare revert, as the deployed contract does
    s = AaveRateStrategy(0, 0, RAY // 10, RAY)
    with pytest.raises(MathRevertError) as info:
        calculate_interest_rates(s, total_variable_debt=0, underlying_balance=10, reserve_factor=0)
    assert info.value.code == ""
    assert info.value.name == "rayDiv"
    r = calculate_interest_rates(s, total_variable_debt=1, underlying_balance=1, reserve_factor=0)
    assert r.current_variable_borrow_rate == RAY // 10 + RAY // 2


def test_strategy_validation() -> None:
    with pytest.raises(InputError, match=r"strategy\.variable_rate_slope1"):
        AaveRateStrategy(RAY, 0, 1.5, 0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"strategy\.base_variable_borrow_rate"):
        AaveRateStrategy(RAY, -1, 0, 0)
    with pytest.raises(AaveRateError) as info:
        AaveRateStrategy(RAY + 1, 0, 0, 0)
    assert (info.value.code, info.value.name) == ("83", "INVALID_OPTIMAL_USAGE_RATIO")
    assert isinstance(info.value, AaveError)
    assert isinstance(info.value, InputError)
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.code, again.name, str(again)) == (info.value.code, info.value.name, str(info.value))
    assert set(RATE_ERRORS.values()) == {"83", "84", "92", "95"}


def test_inputs_are_checked_by_name() -> None:
    with pytest.raises(InputError, match="total_variable_debt"):
        calculate_interest_rates(STRATEGY, total_variable_debt=-1, underlying_balance=0, reserve_factor=0)
    with pytest.raises(InputError, match="underlying_balance"):
        calculate_interest_rates(STRATEGY, total_variable_debt=1, underlying_balance=True, reserve_factor=0)
    with pytest.raises(InputError, match="strategy must be"):
        calculate_interest_rates(USDX, total_variable_debt=1, underlying_balance=0, reserve_factor=0)  # type: ignore[arg-type]
    # NumPy integers are integers
    r = calculate_interest_rates(
        STRATEGY, total_variable_debt=np.int64(50), underlying_balance=np.uint64(50), reserve_factor=np.int32(0)
    )
    assert r.borrow_usage_ratio == RAY // 2


# --- Aave 3.1+ strategy ----------------------------------------------------------------------------


def test_v2_rate_data_widths_and_ray() -> None:
    assert USDX.ray() == (8 * RAY // 10, RAY // 100, 4 * RAY // 100, 6 * RAY // 10)
    with pytest.raises(InputError, match="optimal_usage_ratio"):
        AaveInterestRateData(2**16, 0, 0, 0)
    with pytest.raises(InputError, match="variable_rate_slope2"):
        AaveInterestRateData(1, 0, 0, 2**32)


def test_v2_versions() -> None:
    kw = {"total_debt": 8 * 10**17, "virtual_underlying_balance": 2 * 10**17, "reserve_factor": 10_00}
    r33 = calculate_interest_rates_v2(USDX, **kw, version="3.3")
    assert calculate_interest_rates_v2(USDX, **kw, version="3.2") == r33
    assert calculate_interest_rates_v2(USDX, **kw, version="3.4") == r33
    # 3.1 without stable debt is the same curve
    assert calculate_interest_rates_v2(USDX, **kw, version="3.1") == r33
    # GHO-like reserves: 3.1 - 3.3 short-circuit, 3.4 ignores the deprecated flag
    off = calculate_interest_rates_v2(USDX, **kw, using_virtual_balance=False, version="3.3")
    assert (off.current_liquidity_rate, off.current_variable_borrow_rate) == (0, RAY // 100)
    assert calculate_interest_rates_v2(USDX, **kw, using_virtual_balance=False, version="3.4") == r33
    with pytest.raises(InputError, match=r"3\.0 has no V2"):
        calculate_interest_rates_v2(USDX, **kw, version="3.0")
    with pytest.raises(InputError, match="version must be one of"):
        calculate_interest_rates_v2(USDX, **kw, version="4.0")
    with pytest.raises(InputError, match="no stable debt"):
        calculate_interest_rates_v2(USDX, **kw, total_stable_debt=1, version="3.2")
    with pytest.raises(InputError, match="using_virtual_balance"):
        calculate_interest_rates_v2(USDX, **kw, using_virtual_balance=1)  # type: ignore[arg-type]


def test_v31_stable_debt_enters_usage_and_the_overall_rate() -> None:
    r = calculate_interest_rates_v2(
        USDX,
        total_debt=4 * 10**17,
        total_stable_debt=4 * 10**17,
        average_stable_borrow_rate=RAY // 10,
        virtual_underlying_balance=2 * 10**17,
        reserve_factor=0,
        version="3.1",
    )
    assert r.borrow_usage_ratio == 8 * RAY // 10
    assert r.current_variable_borrow_rate == 5 * RAY // 100
    assert r.current_liquidity_rate == (5 * RAY // 100 + RAY // 10) // 2 * 8 // 10  # 7.5 % at 80 % usage
    assert r.current_stable_borrow_rate == 0


def test_validate_interest_rate_data_passes_valid_data() -> None:
    assert irm.validate_interest_rate_data(USDX) is USDX
    with pytest.raises(InputError, match="rate_data must be"):
        irm.validate_interest_rate_data(STRATEGY)  # type: ignore[arg-type]


# --- MathUtils and normalized indexes --------------------------------------------------------------


def test_index_growth_reverts_and_edges() -> None:
    with pytest.raises(MathRevertError) as info:
        calculate_linear_interest(RAY, 100, 99)
    assert info.value.code == "0x11"
    with pytest.raises(MathRevertError):
        calculate_compounded_interest(RAY, 100, 99, "3.4")  # the subtraction is checked in 3.4 too
    with pytest.raises(InputError, match="last_update_timestamp"):
        calculate_linear_interest(RAY, 2**40, 2**41)
    with pytest.raises(InputError, match="version"):
        calculate_compounded_interest(RAY, 0, 1, "2.0")
    assert calculate_compounded_interest(RAY, 5, 5, "3.0") == RAY
    assert calculate_linear_interest(RAY, 5, 5) == RAY


def test_compounded_interest_unchecked_in_3_4() -> None:
    # 2**255 * 2 wraps to 0 in 3.4's unchecked block; 3.0 - 3.3 revert in rayMul(rate, rate)
    assert calculate_compounded_interest(2**255, 0, 2, "3.4") == RAY
    with pytest.raises(MathRevertError) as info:
        calculate_compounded_interest(2**255, 0, 2, "3.3")
    assert info.value.name == "rayMul"


def test_compounded_interest_two_seconds_by_hand() -> None:
    # 3.0: n = 2, rate = 1e27 (100 %): RAY + 2 rate / Y + 2 * 1 * floor(rayMul(r, r) / Y^2) / 2
    year = SECONDS_PER_YEAR
    b2 = RAY // (year * year)
    assert calculate_compounded_interest(RAY, 0, 2, "3.0") == RAY + 2 * RAY // year + 2 * b2 // 2
    x = 2 * RAY // year
    assert (
        calculate_compounded_interest(RAY, 0, 2, "3.4")
        == RAY + x + (x * ((x // 2) + (x * (x // 6) + RAY // 2) // RAY) + RAY // 2) // RAY
    )


def test_normalized_income_and_debt() -> None:
    year = SECONDS_PER_YEAR
    index = 11 * RAY // 10
    assert get_normalized_income(index, RAY // 10, 0, 0) == index
    assert get_normalized_income(index, RAY // 10, 0, year) == 121 * RAY // 100
    debt = get_normalized_debt(index, RAY // 10, 0, year, "3.3")
    assert 121 * RAY // 100 < debt < index * math.exp(0.1)
    assert get_normalized_debt(index, RAY // 10, 7, 7) == index
    with pytest.raises(InputError, match="current_liquidity_rate"):
        get_normalized_income(index, -1, 0, 0)


# --- Morpho AdaptiveCurveIrm -----------------------------------------------------------------------


def test_signed_division_truncates_toward_zero() -> None:
    assert ac.w_div_to_zero(-7, 2 * WAD) == -3  # Python's floor would give -4
    assert ac.w_mul_to_zero(-7, WAD // 2) == -3
    assert ac.w_mul_to_zero(7, WAD // 2) == 3
    with pytest.raises(MorphoError) as info:
        ac.w_div_to_zero(1, 0)
    assert info.value.reason == PANIC_DIVISION_BY_ZERO
    with pytest.raises(MorphoError) as info:
        ac.w_mul_to_zero(2**254, 2**10)
    assert info.value.reason == PANIC_ARITHMETIC
    with pytest.raises(InputError, match="x must be an integer"):
        ac.w_exp(2**255)


def test_adaptive_rate_inputs_and_overflow() -> None:
    m = Market(WAD, 0, WAD, 0)
    with pytest.raises(InputError, match="rate_at_target"):
        ac.adaptive_curve_borrow_rate(m, -1, 0)
    with pytest.raises(InputError, match="elapsed"):
        ac.adaptive_curve_borrow_rate(m, 1, -1)
    with pytest.raises(InputError, match="market must be"):
        ac.adaptive_curve_borrow_rate({"total_supply_assets": 1}, 1, 0)  # type: ignore[arg-type]
    with pytest.raises(MorphoError) as info:  # start * wExp overflows int256
        ac.adaptive_curve_borrow_rate(m, 2**250, 100)
    assert info.value.reason == PANIC_ARITHMETIC


def test_elapsed_cast_to_int256_is_unchecked() -> None:
    # int256(block.timestamp - lastUpdate) wraps: 2**256 - 1 seconds adapt like -1 second
    start = ac.INITIAL_RATE_AT_TARGET
    r = ac.adaptive_curve_borrow_rate(Market(WAD, 0, WAD, 0), start, 2**256 - 1)
    linear = -ac.ADJUSTMENT_SPEED  # speed at err = 1, times -1 second
    end = ac.new_rate_at_target(start, linear)
    mid = ac.new_rate_at_target(start, -(ac.ADJUSTMENT_SPEED // 2))
    assert r.end_rate_at_target == end < start
    assert r.avg_borrow_rate == ac.curve((start + end + 2 * mid) // 4, WAD)


def test_borrow_rate_view_and_reexports() -> None:
    m = Market(10 * WAD, 0, 9 * WAD, 0)
    assert irm.borrow_rate_view(m, ac.INITIAL_RATE_AT_TARGET, 1000) == ac.INITIAL_RATE_AT_TARGET
    assert irm.adaptive_curve_borrow_rate is ac.adaptive_curve_borrow_rate
    assert irm.w_exp is ac.w_exp
    assert ac.new_rate_at_target(ac.MAX_RATE_AT_TARGET, 10**18) == ac.MAX_RATE_AT_TARGET
    assert ac.new_rate_at_target(ac.MIN_RATE_AT_TARGET, -(10**18)) == ac.MIN_RATE_AT_TARGET


def test_accrue_without_elapsed_time_calls_no_irm() -> None:
    m = Market(10 * WAD, 10 * WAD * 10**6, 9 * WAD, 9 * WAD * 10**6)
    step = ac.adaptive_curve_accrue_interest(m, 12345, 0, fee=10**17)
    assert (step.interest, step.fee_shares, step.market, step.avg_borrow_rate, step.rate_at_target) == (
        0,
        0,
        m,
        0,
        12345,
    )
    with pytest.raises(MorphoError, match="max fee exceeded"):
        ac.adaptive_curve_accrue_interest(m, 12345, 0, fee=WAD)
    step = ac.adaptive_curve_accrue_interest(m, 0, 3600, fee=10**17)
    assert step.rate_at_target == ac.INITIAL_RATE_AT_TARGET
    assert step.fee_shares > 0
    assert step.to_dict()["market"]["total_borrow_assets"] == 9 * WAD + step.interest


# --- APY -------------------------------------------------------------------------------------------


def test_apr_and_apy_conventions() -> None:
    assert rate_to_apr(3 * RAY // 100, "ray_per_year") == pytest.approx(0.03)
    per_second_rate = 10**17 // SECONDS_PER_YEAR  # 10 % a year in Morpho's unit
    assert rate_to_apr(per_second_rate, "wad_per_second") == pytest.approx(0.1, rel=1e-9)
    # Aave: (1 + APR / Y)^Y - 1; Morpho: e^APR - 1
    with localcontext() as ctx:
        ctx.prec = 50
        exact = (1 + Decimal("0.03") / SECONDS_PER_YEAR) ** SECONDS_PER_YEAR - 1
    assert borrow_apy(3 * RAY // 100, "ray_per_year") == pytest.approx(float(exact), rel=1e-12)
    assert borrow_apy(per_second_rate, "wad_per_second") == pytest.approx(math.expm1(0.1), rel=1e-9)
    assert borrow_apy(per_second_rate, "wad_per_second", "none") == pytest.approx(0.1, rel=1e-9)
    assert supply_apy(per_second_rate, "wad_per_second", utilization=0.9, fee=0.1) == pytest.approx(
        math.expm1(0.1) * 0.9 * 0.9, rel=1e-9
    )
    assert supply_apy(3 * RAY // 100, "ray_per_year") == borrow_apy(3 * RAY // 100, "ray_per_year")
    assert apr_to_apy(0.0, "per_second") == 0.0
    assert apr_to_apy(1e-12, "per_second") == pytest.approx(1e-12, rel=1e-6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rate_to_apr(-1, "ray_per_year"), "rate must be"),
        (lambda: rate_to_apr(1.5, "ray_per_year"), "rate must be"),  # type: ignore[arg-type]
        (lambda: rate_to_apr(1, "ray"), "unit must be"),  # type: ignore[arg-type]
        (lambda: borrow_apy(1, "wad"), "unit must be"),  # type: ignore[arg-type]
        (lambda: apr_to_apy(float("nan"), "continuous"), "apr must be"),
        (lambda: apr_to_apy(-0.1, "continuous"), "apr must be"),
        (lambda: apr_to_apy(0.1, "daily"), "compounding must be"),  # type: ignore[arg-type]
        (lambda: supply_apy(1, "ray_per_year", utilization=1.5), "utilization must be"),
        (lambda: supply_apy(1, "ray_per_year", fee=float("nan")), "fee must be"),
    ],
)
def test_apy_inputs(call: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()  # type: ignore[operator]
