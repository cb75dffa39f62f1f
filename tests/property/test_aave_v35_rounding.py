"""Hypothesis properties of the Aave v3.5+ directed rounding (``version="3.5"`` / ``"3.6"``).

From v3.5 (aave-dao/aave-v3-origin ``TokenMath.sol``, ``WadRayMath.sol``, ``LiquidationLogic.sol``)
every rounding favours the protocol: aToken balances round down, debt balances up, the scaled
collateral a liquidation moves rounds up, the scaled debt it burns rounds down.  So, against
plain subtraction, the user's collateral after a liquidation is never more and the debt never
less, by a few wei (index below two ray: at most 5 on the collateral, 3 on the debt); and the wadray helpers are the floors and ceilings of the exact
quotients.  (The engine is checked to the wei against the v3.6.0 contracts in
tests/evm/test_aave_origin_differential.py.)
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levguard.core.defi.aave import AaveError, AaveReserve, get_user_account_data, liquidation_call
from levguard.core.defi.aave_records import scaled_balance
from levguard.core.defi.wadray import (
    RAY,
    UINT256_MAX,
    MathRevertError,
    mul_div_ceil,
    percent_div_ceil,
    percent_mul_floor,
    ray_div_ceil,
    ray_div_floor,
    ray_mul_ceil,
    ray_mul_floor,
)
from levguard.errors import InputError

SETTINGS = settings(max_examples=200, deadline=None)
indexes = st.integers(RAY, 2 * RAY - 1)
words = st.integers(0, 2**128)


@SETTINGS
@given(a=words, b=st.integers(1, 2**100))
def test_directed_helpers_are_floor_and_ceil_of_the_exact_quotient(a: int, b: int) -> None:
    for floor, ceil, exact in (
        (ray_mul_floor(a, b), ray_mul_ceil(a, b), Fraction(a * b, RAY)),
        (ray_div_floor(a, b), ray_div_ceil(a, b), Fraction(a * RAY, b)),
    ):
        assert floor <= exact <= ceil
        assert ceil - floor == (0 if exact.denominator == 1 else 1)
    assert mul_div_ceil(a, b, 7) == -(-a * b // 7)
    assert percent_mul_floor(a, 7_500) == a * 7_500 // 10_000
    assert percent_div_ceil(a, 10_500) == -(-a * 10_000 // 10_500)


def test_directed_helpers_revert_as_the_assembly() -> None:
    with pytest.raises(MathRevertError):
        ray_div_floor(1, 0)
    with pytest.raises(MathRevertError):
        ray_mul_ceil(UINT256_MAX, 2)
    with pytest.raises(MathRevertError):
        mul_div_ceil(1, 1, 0)
    with pytest.raises(MathRevertError):
        percent_div_ceil(UINT256_MAX // 10_000 + 1, 10_000)


@SETTINGS
@given(scaled=st.integers(0, 10**30), index=indexes)
def test_directed_balances_give_back_their_scaled_balance(scaled: int, index: int) -> None:
    """``rayDivCeil`` inverts ``rayMulFloor`` and ``rayDivFloor`` inverts ``rayMulCeil`` (index >= RAY)."""
    assert scaled_balance(ray_mul_floor(scaled, index), index, "collateral", "directed") == scaled
    assert scaled_balance(ray_mul_ceil(scaled, index), index, "debt", "directed") == scaled


@st.composite
def liquidatable(draw: st.DrawFn) -> tuple[list[AaveReserve], int, bool]:
    """WETH collateral and USDC debt, v3.5 balances at grown indexes, HF < 1."""
    income, borrow_index = draw(indexes), draw(indexes)
    collateral = ray_mul_floor(draw(st.integers(10**16, 10**24)), income)
    weth_price = draw(st.integers(10**10, 10**12))
    coll_value = collateral * weth_price // 10**18
    debt_value = draw(st.integers(coll_value * 83 // 100 + 1, coll_value * 3 + 10**8))
    debt = ray_mul_ceil(max(ray_div_floor(debt_value * 10**6 // 10**8, borrow_index), 1), borrow_index)
    rows = [
        AaveReserve("WETH", weth_price, 18, 8000, 8250, collateral=collateral, liquidation_bonus=10500,
                    liquidation_protocol_fee=draw(st.sampled_from([0, 1000, 5000, 10_000])),
                    liquidity_index=income, balance_rounding="directed"),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=debt, liquidation_bonus=10450,
                    variable_borrow_index=borrow_index, balance_rounding="directed"),
    ]  # fmt: skip
    assume(get_user_account_data(rows, version="3.5").health_factor < 10**18)
    to_cover = draw(st.one_of(st.just(UINT256_MAX), st.integers(debt // 1000 + 1, 2 * debt)))
    return rows, to_cover, draw(st.booleans())


@pytest.mark.parametrize("version", ["3.5", "3.6"])
@SETTINGS
@given(case=liquidatable())
def test_v35_liquidations_round_for_the_protocol(version: str, case: tuple[list[AaveReserve], int, bool]) -> None:
    rows, to_cover, receive = case
    try:
        res = liquidation_call(rows, "WETH", "USDC", to_cover, receive, version=version)
    except AaveError:  # 103 (dust) or 25 (nothing to burn): not this property's subject
        assume(False)
        return
    weth, usdc = rows
    taken = res.collateral_to_liquidator + res.liquidation_protocol_fee
    # s = ceil(b / I): the two ceiled scaled moves and the floored balance lose < 1 + 2 * I / RAY wei.
    assert 0 <= weth.collateral - taken - res.collateral_after["WETH"] <= 5
    if not res.deficit:  # floor(D / I) burnt, the rest ceiled: owes < 1 + I / RAY wei more
        assert 0 <= res.debt_after["USDC"] - (usdc.debt - res.actual_debt_to_liquidate) <= 3
    else:
        assert res.debt_after["USDC"] == 0
        assert res.deficit["USDC"] == usdc.debt - res.actual_debt_to_liquidate
    for r in res.positions_after:  # balances after are v3.5 balances of their scaled balances
        assert r.balance_rounding == "directed"


def test_v35_account_data_rounds_debt_up_and_the_health_factor_down() -> None:
    """One wei of debt is worth one base unit (mulDivCeil), and the v3.5 health factor is the
    floor of ``sum(value * lt) * 1e18 / debt / 1e4`` where 3.3 rounds the average first."""
    rows = [
        AaveReserve("WETH", 300_000_000_000, 18, 8000, 8250, collateral=10**18),
        AaveReserve("DAI", 99_980_000, 18, 7700, 8000, debt=1),
    ]
    assert get_user_account_data(rows, version="3.3").total_debt_base == 0
    v35 = get_user_account_data(rows, version="3.5")
    assert v35.total_debt_base == 1
    assert v35.health_factor == 3000 * 10**8 * 8250 * 10**18 // 1 // 10**4


def test_rows_must_be_balances_of_their_rounding() -> None:
    """At 1.5 ray ``rayMulFloor`` gives 1, 3, 4, 6, ... and ``rayMul`` 2, 3, 5, 6, ...: 4 is a
    v3.5 balance, not a v3.0 one; 2 is the opposite."""
    half = 3 * RAY // 2
    AaveReserve("WETH", 10**11, 18, 8000, 8250, collateral=4, liquidity_index=half, balance_rounding="directed")
    with pytest.raises(InputError, match="liquidity_index"):
        AaveReserve("WETH", 10**11, 18, 8000, 8250, collateral=2, liquidity_index=half, balance_rounding="directed")
    with pytest.raises(InputError, match="balance_rounding"):
        AaveReserve("WETH", 10**11, 18, 8000, 8250, balance_rounding="down")


def test_v36_counts_lt_zero_emode_collateral_and_the_ltvzero_bitmap() -> None:
    """3.6: an lt-0 reserve in the category counts at the category's threshold; a reserve in the
    ltvzero bitmap adds no LTV; 3.5 ignores both (lt 0 is no collateral, the reserve's LTV decides)."""
    reth = AaveReserve("RETH", 300_000_000_000, 18, 0, 0, collateral=10**18, in_emode=True, use_as_collateral=True)
    wsteth = AaveReserve("WSTETH", 300_000_000_000, 18, 6900, 7950, collateral=10**18, in_emode=True,
                         emode_ltvzero=True)  # fmt: skip
    weth = AaveReserve("WETH", 300_000_000_000, 18, 8000, 8250, debt=10**18)
    emode = {"ltv": 9000, "lt": 9300, "liquidation_bonus": 10100}
    v36 = get_user_account_data([reth, wsteth, weth], emode, version="3.6")
    assert v36.total_collateral_base == 6000 * 10**8
    assert (v36.ltv, v36.current_liquidation_threshold, v36.has_zero_ltv_collateral) == (4500, 9300, True)
    v35 = get_user_account_data([reth, wsteth, weth], emode, version="3.5")
    assert v35.total_collateral_base == 3000 * 10**8
    assert (v35.ltv, v35.has_zero_ltv_collateral) == (9000, False)
    assert get_user_account_data([replace(reth, in_emode=False), weth], None, version="3.6").ltv == 0
