"""Hypothesis properties of the Aave v3 engine's scaled-balance path (``liquidity_index``,
``variable_borrow_index`` of :class:`~levguard.core.defi.aave.AaveReserve`).

The tokens keep ``scaled`` balances and report ``rayMul(scaled, index)``; a liquidation burns and
transfers ``rayDiv(amount, index)`` (``LiquidationLogic.executeLiquidationCall``,
``ScaledBalanceTokenBase._burnScaled`` / ``_transfer``), and cuts the protocol fee to the user's
scaled balance left when the two roundings ask for more (the "1 wei imprecision" clamp).  On
random liquidatable accounts with indexes in [1, 2) ray:

* at ``RAY`` the balances after are plain differences and the fee is never cut;
* with grown indexes the seizure itself (debt repaid, collateral to the liquidator) is the same as
  at ``RAY`` (the contracts size it from ``balanceOf``), the fee is at most 2 wei lower, and the
  balances after differ from plain differences by at most 2 wei (collateral) and 1 wei (debt);
* every balance after is one a scaled balance can produce (the rows feed the next call).

tests/evm/test_aave_differential.py checks the same path to the wei against the v3.0.2 contracts.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from levguard.core.defi.aave import AAVE_VERSIONS, AaveError, AaveReserve, get_user_account_data, liquidation_call
from levguard.core.defi.wadray import RAY, UINT256_MAX, ray_div, ray_mul
from levguard.errors import InputError

SETTINGS = settings(max_examples=200, deadline=None)
indexes = st.integers(RAY, 2 * RAY - 1)


@st.composite
def liquidatable(draw: st.DrawFn) -> tuple[list[AaveReserve], int, bool]:
    """WETH collateral and USDC debt at grown indexes, HF < 1; a debt to cover and receive_atoken."""
    income, borrow_index = draw(indexes), draw(indexes)
    collateral = ray_mul(draw(st.integers(10**16, 10**24)), income)  # 0.01 to 1,000,000 WETH
    weth_price = draw(st.integers(10**10, 10**12))  # 100 to 10,000 USD
    coll_value = collateral * weth_price // 10**18
    debt_value = draw(st.integers(coll_value * 83 // 100 + 1, coll_value * 3 + 10**8))
    debt = ray_mul(max(ray_div(debt_value * 10**6 // 10**8, borrow_index), 1), borrow_index)
    rows = [
        AaveReserve("WETH", weth_price, 18, 8000, 8250, collateral=collateral, liquidation_bonus=10500,
                    liquidation_protocol_fee=draw(st.sampled_from([0, 1000, 5000, 10_000])),
                    liquidity_index=income),
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=debt, liquidation_bonus=10450,
                    variable_borrow_index=borrow_index),
    ]  # fmt: skip
    assume(get_user_account_data(rows).health_factor < 10**18)
    to_cover = draw(st.one_of(st.just(UINT256_MAX), st.integers(debt // 1000 + 1, 2 * debt)))
    return rows, to_cover, draw(st.booleans())


def at_ray(rows: list[AaveReserve]) -> list[AaveReserve]:
    return [replace(r, liquidity_index=RAY, variable_borrow_index=RAY) for r in rows]


@pytest.mark.parametrize(
    "version", AAVE_VERSIONS[:4]
)  # 3.0-3.3; 3.5+ rounds in the protocol's favour (test_aave_v35_rounding.py)
@SETTINGS
@given(case=liquidatable())
def test_scaled_burns_stay_within_wei_of_plain_differences(
    version: str, case: tuple[list[AaveReserve], int, bool]
) -> None:
    rows, to_cover, receive = case
    codes = []
    for variant in (at_ray(rows), rows):  # 103 (dust, 3.3) and 25 (nothing seized) alike either way
        try:
            liquidation_call(variant, "WETH", "USDC", to_cover, receive, version=version)
        except AaveError as exc:
            codes.append(exc.code)
    assert not codes or codes in (["103", "103"], ["25", "25"])
    assume(not codes)
    plain = liquidation_call(at_ray(rows), "WETH", "USDC", to_cover, receive, version=version)
    scaled = liquidation_call(rows, "WETH", "USDC", to_cover, receive, version=version)
    weth, usdc = rows
    # At RAY: plain differences, no cut.
    taken = plain.collateral_to_liquidator + plain.liquidation_protocol_fee
    assert plain.collateral_after["WETH"] == weth.collateral - taken
    if not plain.deficit:
        assert plain.debt_after["USDC"] == usdc.debt - plain.actual_debt_to_liquidate
    # Grown indexes: the same seizure, the fee cut by at most 2 wei, balances within 2 / 1 wei.
    assert scaled.actual_debt_to_liquidate == plain.actual_debt_to_liquidate
    assert scaled.collateral_to_liquidator == plain.collateral_to_liquidator
    assert 0 <= plain.liquidation_protocol_fee - scaled.liquidation_protocol_fee <= 2
    event(f"fee cut by the clamp: {plain.liquidation_protocol_fee != scaled.liquidation_protocol_fee}")
    assert abs(scaled.collateral_after["WETH"] - plain.collateral_after["WETH"]) <= 2
    assert abs(scaled.debt_after["USDC"] - plain.debt_after["USDC"]) <= 1
    # The rows after are valid inputs: balances a scaled balance gives at the same indexes.
    for r in scaled.positions_after:
        assert ray_mul(ray_div(r.collateral, r.liquidity_index), r.liquidity_index) == r.collateral
        assert ray_mul(ray_div(r.debt, r.variable_borrow_index), r.variable_borrow_index) == r.debt


def test_index_inputs_are_checked() -> None:
    """An index below RAY, or a balance no scaled balance gives at the index, is refused; at 1.5 ray
    ``rayMul(s, I)`` gives 2, 3, 5, 6, 8, ... so 4 is no balance."""
    weth = AaveReserve("WETH", 10**11, 18, 8000, 8250, collateral=5, liquidity_index=3 * RAY // 2)
    assert weth.collateral == 5
    with pytest.raises(InputError, match="liquidity_index"):
        replace(weth, collateral=4)
    with pytest.raises(InputError, match="variable_borrow_index"):
        AaveReserve("USDC", 10**8, 6, 7700, 8000, debt=10, variable_borrow_index=RAY - 1)
