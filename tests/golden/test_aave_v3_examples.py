"""Golden cases of the exact Aave v3 engine (``levguard.core.defi``), from Aave's own sources.

Sources (commits pinned):

* ``CORE`` = aave/aave-v3-core @ 782f51917056a53a2c228701058a6c3fb233684a (v1.19.4 = Aave v3.0.2);
* ``ORIGIN`` = aave-dao/aave-v3-origin tag v3.3.0 @ 5431379f8beb4d7128c84a81ced3917d856efa84;
* Aave's developer docs, https://aave.com/docs/developers/liquidations (health factor example).

Numbers written down in a source are asserted as written.  Where a test suite computes its
expected values by running the contracts (forge / hardhat), the case is reconstructed from the
suite's configuration without the interest accrual (indexes stay at RAY, so current balances are
the supplied and borrowed amounts) and the expected values are derived by hand from the contract
arithmetic; each derivation is in the test's comments.

Testnet configuration of ORIGIN (``tests/mocks/AaveV3TestListing.sol``): USDX 6 decimals at
1e8, WBTC 8 decimals at 27000e8, WETH 18 decimals at 1800e8; each LTV 8250, LT 8600, bonus
10500 (the config engine's ``liqBonus: 5_00`` plus 100 %), protocol fee 1000.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from levguard.core.defi.aave import (
    AaveError,
    AaveReserve,
    EModeCategory,
    get_user_account_data,
    liquidation_call,
    validate_borrow,
    validate_hf_and_ltv,
    validate_use_as_collateral,
)
from levguard.core.defi.wadray import (
    UINT256_MAX,
    MathRevertError,
    percent_div,
    percent_mul,
    ray_div,
    ray_mul,
    ray_to_wad,
    wad_div,
    wad_mul,
    wad_to_ray,
)
from levguard.errors import InputError

E18 = 10**18
MAX = UINT256_MAX


def listed(symbol: str, price: int, decimals: int, **kw: object) -> dict[str, object]:
    """A reserve row with ORIGIN's testnet risk parameters (LTV 8250, LT 8600, bonus 10500, fee 1000)."""
    row: dict[str, object] = {
        "symbol": symbol,
        "price": price,
        "decimals": decimals,
        "ltv": 8250,
        "lt": 8600,
        "liquidation_bonus": 10500,
        "liquidation_protocol_fee": 1000,
        "collateral": 0,
        "debt": 0,
        "in_emode": False,
    }
    row.update(kw)
    return row


# ---------------------------------------------------------------- WadRayMath / PercentageMath


def test_wadraymath_written_values() -> None:
    """ORIGIN ``tests/protocol/libraries/math/WadRayMath.t.sol``: test_wadMul, test_wadDiv,
    test_rayMul, test_rayDiv, test_wadToRay, test_rayToWad (values as written)."""
    assert wad_mul(25 * 10**17, 5 * 10**17) == 125 * 10**16
    assert wad_mul(4122 * 10**17, E18) == 4122 * 10**17
    assert wad_mul(6 * E18, 2 * E18) == 12 * E18
    assert ray_mul(25 * 10**26, 5 * 10**26) == 125 * 10**25
    assert ray_mul(6 * 10**27, 2 * 10**27) == 12 * 10**27
    assert wad_div(25 * 10**17, 5 * 10**17) == 5 * E18
    assert wad_div(8745 * 10**15, 67 * 10**16) == 13_052238805970149254
    assert ray_div(8745 * 10**24, 67 * 10**25) == 13_052238805970149253731343284
    assert ray_div(6 * 10**27, 2 * 10**27) == 3 * 10**27
    assert wad_to_ray(4122 * 10**17) == 4122 * 10**26
    assert ray_to_wad(4122 * 10**26) == 4122 * 10**17
    assert wad_mul(0, E18) == 0
    assert wad_to_ray(0) == 0
    assert ray_to_wad(0) == 0


def test_percentagemath_written_values() -> None:
    """ORIGIN ``tests/protocol/libraries/math/PercentageMath.t.sol``: test_percentMul and
    test_percentDiv (values as written)."""
    assert percent_mul(E18, 50_00) == 5 * 10**17
    assert percent_mul(142515 * 10**14, 74_42) == 10_605966300000000000
    assert percent_mul(9087312 * 10**27, 13_33) == 1211338689600000000000000000000000
    assert percent_div(E18, 50_00) == 2 * E18
    assert percent_div(142515 * 10**14, 74_42) == 19_150094060736361193
    assert percent_div(9087312 * 10**27, 13_33) == 68171882970742685671417854463615904


A = 134534543232342353231234
B = 13265462389132757665657


@pytest.mark.parametrize(
    ("fn", "unit", "half"),
    [(wad_mul, E18, E18 // 2), (ray_mul, 10**27, 10**27 // 2), (percent_mul, 10**4, 5000)],
)
def test_mul_overflow_boundary(fn: Callable[[int, int], int], unit: int, half: int) -> None:
    """CORE ``test-suites/wadraymath.spec.ts`` wadMul()/rayMul(): ``tooLargeA = (MAX - HALF) / b + 1``
    reverts, the value just below does not; a zero factor gives 0."""
    b = B if unit != 10**4 else 7442
    ok = (MAX - half) // b
    assert fn(ok, b) == (ok * b + half) // unit
    with pytest.raises(MathRevertError):
        fn(ok + 1, b)
    assert fn(A, 0) == 0
    assert fn(0, b) == 0


@pytest.mark.parametrize(("fn", "unit"), [(wad_div, E18), (ray_div, 10**27), (percent_div, 10**4)])
def test_div_overflow_boundary(fn: Callable[[int, int], int], unit: int) -> None:
    """CORE ``test-suites/wadraymath.spec.ts`` wadDiv()/rayDiv(): ``tooLargeA = (MAX - b/2) / UNIT + 1``
    reverts, as does a zero divisor."""
    b = B if unit != 10**4 else 7442
    ok = (MAX - b // 2) // unit
    assert fn(ok, b) == (ok * unit + b // 2) // b
    with pytest.raises(MathRevertError):
        fn(ok + 1, b)
    with pytest.raises(MathRevertError):
        fn(A, 0)


def test_ray_to_wad_rounding_and_wad_to_ray_overflow() -> None:
    """CORE ``test-suites/wadraymath.spec.ts`` rayToWad()/wadToRay(): half rounds up, never reverts;
    ``MAX / 1e9 + 1`` overflows wadToRay."""
    half = 10**9 // 2
    assert ray_to_wad(10**27 + half - 1) == E18
    assert ray_to_wad(10**27 + half) == E18 + 1
    assert ray_to_wad(MAX - half + 1) == (MAX - half + 1) // 10**9 + 1
    with pytest.raises(MathRevertError):
        wad_to_ray(MAX // 10**9 + 1)


# ---------------------------------------------------------------- getUserAccountData


def test_docs_health_factor_example() -> None:
    """Aave docs (developers/liquidations): $10,000 of ETH at an 80 % liquidation threshold
    against $6,000 of GHO has a health factor of 1.333 (4 ETH at 2,500 USD here).

    wadDiv(percentMul(10000e8, 8000), 6000e8) = 8000e26 / 6000e8 = 1.3333... -> half up 1333333333333333333.
    """
    positions = [
        {"symbol": "WETH", "price": 2500 * 10**8, "decimals": 18, "ltv": 7500, "lt": 8000,
         "collateral": 4 * E18, "debt": 0, "in_emode": False},
        {"symbol": "GHO", "price": 10**8, "decimals": 18, "ltv": 0, "lt": 0,
         "collateral": 0, "debt": 6000 * E18, "in_emode": False},
    ]  # fmt: skip
    data = get_user_account_data(positions)
    assert data.total_collateral_base == 10_000 * 10**8
    assert data.total_debt_base == 6_000 * 10**8
    assert data.health_factor == 1_333333333333333333
    assert data.current_liquidation_threshold == 8000
    assert data.ltv == 7500
    assert data.available_borrows_base == 1_500 * 10**8  # percentMul(10000e8, 7500) - 6000e8


def test_no_debt_health_factor_is_uint256_max() -> None:
    """GenericLogic: ``healthFactor = type(uint256).max`` without debt (and for an empty account)."""
    only_collateral = [listed("WETH", 1800 * 10**8, 18, collateral=E18)]
    assert get_user_account_data(only_collateral).health_factor == MAX
    empty = get_user_account_data([listed("WETH", 1800 * 10**8, 18)])
    assert empty.to_dict() == {
        "total_collateral_base": 0,
        "total_debt_base": 0,
        "available_borrows_base": 0,
        "current_liquidation_threshold": 0,
        "ltv": 0,
        "health_factor": MAX,
        "has_zero_ltv_collateral": False,
    }


def test_ltv_zero_collateral_blocks_borrow() -> None:
    """CORE ``test-suites/ltv-validation.spec.ts`` "User 1 deposit dai, DAI ltv drops to 0, then
    tries borrow": configureReserveAsCollateral(dai, 0, 8000, 10500); the borrow reverts with
    LTV_VALIDATION_FAILED and ``totalCollateralBase`` is 10e8 (as written)."""
    positions = [
        {"symbol": "DAI", "price": 10**8, "decimals": 18, "ltv": 0, "lt": 8000,
         "liquidation_bonus": 10500, "collateral": 10 * E18, "debt": 0, "in_emode": False},
        listed("WETH", 1800 * 10**8, 18),
    ]  # fmt: skip
    data = get_user_account_data(positions)
    assert data.total_collateral_base == 10 * 10**8
    assert data.total_debt_base == 0
    assert data.has_zero_ltv_collateral
    with pytest.raises(AaveError) as err:
        validate_borrow(positions, "WETH", 5 * E18)
    assert (err.value.code, err.value.name) == ("57", "LTV_VALIDATION_FAILED")


def test_ltv_zero_collateral_must_leave_first() -> None:
    """CORE ``test-suites/ltv-validation.spec.ts`` "Tries to withdraw USDC (revert expected)" and
    "Withdraws DAI": with LTV-0 DAI enabled, withdrawing USDC fails validateHFAndLtv with
    LTV_VALIDATION_FAILED, withdrawing DAI passes (positions after 1 unit is withdrawn)."""
    positions = [
        {"symbol": "DAI", "price": 10**8, "decimals": 18, "ltv": 0, "lt": 8000,
         "liquidation_bonus": 10500, "collateral": 9 * E18},
        {"symbol": "USDC", "price": 10**8, "decimals": 6, "ltv": 8000, "lt": 8500,
         "liquidation_bonus": 10500, "collateral": 9 * 10**6},
        listed("WETH", 1800 * 10**8, 18, debt=414 * 10**12),
    ]  # fmt: skip
    with pytest.raises(AaveError) as err:
        validate_hf_and_ltv(positions, "USDC")
    assert err.value.code == "57"
    assert validate_hf_and_ltv(positions, "DAI").health_factor > E18
    assert not validate_use_as_collateral(positions, "DAI")  # LTV 0 cannot be (re-)enabled


def test_health_factor_floor_of_average_threshold_can_lower_it() -> None:
    """GenericLogic floors ``avgLiquidationThreshold`` before percentMul, so adding collateral with a
    lower threshold can lower the health factor (derived by hand).

    10,000 USD at LT 8000 against 5,000 USD: percentMul(1e12, 8000) = 8e11, HF = 1.6e18.
    Add 1 base unit at LT 5000: avg = (8e15 + 5000) // (1e12 + 1) = 7999,
    percentMul(1e12 + 1, 7999) = 799900000001 -> HF = wadDiv(799900000001, 5e11) = 1599800000002000000.
    """
    base = [
        {"symbol": "WETH", "price": 2500 * 10**8, "decimals": 18, "ltv": 7500, "lt": 8000, "collateral": 4 * E18},
        {"symbol": "USDC", "price": 10**8, "decimals": 6, "ltv": 0, "lt": 0, "debt": 5000 * 10**6},
    ]
    dust = {"symbol": "X", "price": 10**8, "decimals": 8, "ltv": 4000, "lt": 5000, "collateral": 1}
    before = get_user_account_data(base).health_factor
    after = get_user_account_data([*base, dust]).health_factor
    assert before == 16 * 10**17
    assert after == 1_599800000002000000


# ---------------------------------------------------------------- liquidationCall, v3.3


def test_partial_liquidation_variable_borrow_v33() -> None:
    """ORIGIN ``tests/protocol/pool/Pool.Liquidations.t.sol`` test_partial_liquidate_variable_borrow:
    supply 1 WBTC, borrow 20500 USDX, WBTC price -25 % (``_calcPrice``: 27000e8 -> 20250e8),
    liquidate 106e6 USDX.  Reconstructed (the suite reads its expectations from a data provider).

    HF = wadDiv(percentMul(20250e8, 8600), 20500e8) = 1741500000000e18 / 2050000000000 -> 849512195121951220
    (<= 0.95: close factor 100 %).  base = 1e8 * 106e6 * 1e8 / (20250e8 * 1e6) = 523456;
    seized = percentMul(523456, 10500) = 549629; bonus = 549629 - percentDiv(549629, 10500) = 26173;
    fee = percentMul(26173, 1000) = 2617; to liquidator 547012.
    """
    positions = [listed("WBTC", 20250 * 10**8, 8, collateral=10**8), listed("USDX", 10**8, 6, debt=20500 * 10**6)]
    res = liquidation_call(positions, "WBTC", "USDX", 106 * 10**6)
    assert res.health_factor_before == 849512195121951220
    assert res.close_factor == 10_000
    assert res.actual_debt_to_liquidate == 106 * 10**6
    assert res.collateral_to_liquidator == 547012
    assert res.liquidation_protocol_fee == 2617
    assert res.collateral_after["WBTC"] == 10**8 - 549629
    assert res.debt_after["USDX"] == 20394 * 10**6
    assert res.deficit == {}


def test_close_factor_50_without_fee_v33() -> None:
    """ORIGIN Pool.Liquidations.t.sol test_liquidate_variable_borrow_no_fee: 1 WBTC, 20500 USDX,
    WBTC fee 0, price -16 % (22680e8), debtToCover = max.  Reconstructed.

    HF = wadDiv(percentMul(22680e8, 8600), 20500e8) = 951453658536585366 > 0.95 and both sides
    >= 2000e8: max = percentMul(20500e8, 5000) * 1e6 / 1e8 = 10250e6.
    base = 1e8 * 10250e6 * 1e8 / (22680e8 * 1e6) = 45194003; seized = percentMul(., 10500) = 47453703.
    """
    positions = [
        listed("WBTC", 22680 * 10**8, 8, collateral=10**8, liquidation_protocol_fee=0),
        listed("USDX", 10**8, 6, debt=20500 * 10**6),
    ]
    res = liquidation_call(positions, "WBTC", "USDX", MAX)
    assert res.health_factor_before == 951453658536585366
    assert res.close_factor == 5_000
    assert res.max_liquidatable_debt == 10250 * 10**6
    assert res.actual_debt_to_liquidate == 10250 * 10**6
    assert res.collateral_to_liquidator == 47453703
    assert res.liquidation_protocol_fee == 0


def test_close_factor_50_weth_collateral_v33() -> None:
    """ORIGIN ``tests/protocol/pool/Pool.Liquidations.CloseFactor.t.sol``
    test_hf_gt_095_supply_gt_threshold_closeFactorShouldBe50 (0.97 ether, 100 ether): supply 100 WETH,
    borrow USDX as ``_borrowToBeBelowHf`` does, liquidate max; the close factor is 50 %.  Reconstructed.

    borrows = percentMul(180000e8, 8601) * 1e18 / 0.97e18 = 15960618556701 -> 159606185567 USDX units;
    debt base 15960618556700, HF = 969887222416060787; max = percentMul(debt base, 5000) * 1e6 / 1e8
    = 79803092783; base = 1e8 * 79803092783 * 1e18 / (1800e8 * 1e6) = 44335051546111111111;
    seized = 46551804123416666667; fee = percentMul(seized - percentDiv(seized, 10500), 1000)
    = 221675257730555556; to liquidator 46330128865686111111.
    """
    positions = [listed("WETH", 1800 * 10**8, 18, collateral=100 * E18), listed("USDX", 10**8, 6, debt=159606185567)]
    res = liquidation_call(positions, "WETH", "USDX", MAX)
    assert res.health_factor_before == 969887222416060787
    assert res.close_factor == 5_000
    assert res.actual_debt_to_liquidate == 79803092783
    assert res.collateral_to_liquidator == 46330128865686111111
    assert res.liquidation_protocol_fee == 221675257730555556


def test_must_not_leave_dust_v33() -> None:
    """ORIGIN Pool.Liquidations.CloseFactor.t.sol test_shouldRevertIfCloseFactorIs100ButCollateralIsBelowThreshold:
    2000 USDX + 4 WETH supplied, USDX borrowed to HF 0.93, liquidating (2000e6 / 2 - 44e6) USDX
    against USDX reverts MUST_NOT_LEAVE_DUST (as written; amounts reconstructed).

    borrows = percentMul(9200e8, 8601) * 1e18 / 0.93e18 = 850851612903 -> 8508516129 USDX units.
    seized = percentMul(956e6, 10500) = 1003.8e6 leaves 996.2e6 USDX = 996.2e8 base < 1000e8.
    """
    positions = [
        listed("USDX", 10**8, 6, collateral=2000 * 10**6, debt=8508516129),
        listed("WETH", 1800 * 10**8, 18, collateral=4 * E18),
    ]
    assert get_user_account_data(positions).health_factor == 929891873041544304
    with pytest.raises(AaveError) as err:
        liquidation_call(positions, "USDX", "USDX", 1000 * 10**6 - 44 * 10**6)
    assert (err.value.code, err.value.name) == ("103", "MUST_NOT_LEAVE_DUST")
    # 3.2 had no dust rule: the same call goes through.
    assert (
        liquidation_call(positions, "USDX", "USDX", 956 * 10**6, version="3.2").actual_debt_to_liquidate == 956 * 10**6
    )


def test_bad_debt_becomes_deficit_v33() -> None:
    """ORIGIN Pool.Liquidations.t.sol test_deficit_increased_after_liquidate_bad_debt: 0.5 WBTC,
    11000 USDX, WBTC -20 % (21600e8), liquidate max; the deficit equals the debt left (DeficitCreated).
    Reconstructed without the 30-day warp.

    base = 1e8 * 11000e6 * 1e8 / (21600e8 * 1e6) = 50925925; seized 53472221 > 0.5e8, so the whole
    5e7 is seized and debt = percentDiv(21600e8 * 5e7 * 1e6 / (1e8 * 1e8), 10500) = 10285714286;
    fee = percentMul(5e7 - percentDiv(5e7, 10500), 1000) = 238095; deficit 11000e6 - 10285714286.
    """
    positions = [listed("WBTC", 21600 * 10**8, 8, collateral=5 * 10**7), listed("USDX", 10**8, 6, debt=11000 * 10**6)]
    res = liquidation_call(positions, "WBTC", "USDX", MAX)
    assert res.actual_debt_to_liquidate == 10285714286
    assert res.collateral_to_liquidator == 49761905
    assert res.liquidation_protocol_fee == 238095
    assert res.deficit == {"USDX": 714285714}
    assert res.debt_after == {"WBTC": 0, "USDX": 0}
    assert res.collateral_after["WBTC"] == 0
    assert get_user_account_data(res.positions_after).health_factor == MAX
    # Before 3.3 the remaining debt stays on the account.
    old = liquidation_call(positions, "WBTC", "USDX", MAX, version="3.2")
    assert old.deficit == {}
    assert old.debt_after["USDX"] == 11000 * 10**6 - 10285714286


def test_bad_debt_burns_every_debt_v33() -> None:
    """ORIGIN Pool.Liquidations.t.sol test_liquidate_borrow_burn_multiple_assets_bad_debt: when the last
    collateral is seized, the other borrowed reserves' debt is burnt too (``_burnBadDebt``) and booked
    as their deficit; the suite asserts the second debt token balance is 0.  Reconstructed at RAY."""
    positions = [
        listed("WBTC", 21600 * 10**8, 8, collateral=5 * 10**7, debt=2 * 10**5),
        listed("USDX", 10**8, 6, debt=11000 * 10**6),
        listed("WETH", 1800 * 10**8, 18, debt=2 * 10**15),
    ]
    res = liquidation_call(positions, "WBTC", "USDX", MAX)
    assert res.debt_after == {"WBTC": 0, "USDX": 0, "WETH": 0}
    assert res.deficit == {"USDX": 11000 * 10**6 - res.actual_debt_to_liquidate, "WBTC": 2 * 10**5, "WETH": 2 * 10**15}


def test_docs_position_size_close_factor_v33() -> None:
    """ORIGIN ``docs/3.3/Aave-v3.3-features.md`` 2.2 (1200 USD collateral, 900 USD debt, HF 0.96,
    threshold 1000e8): with the deployed threshold 2000e8 the example scales to 2400 / 1800 USD.
    HF = wadDiv(percentMul(2400e8, 7200), 1800e8) = 0.96e18 exactly; the debt is below the threshold,
    so all 1800 USDC can be liquidated (seized percentMul(0.75e18, 10500) = 0.7875 ETH); 3.2 stops at 50 %."""
    positions = [
        {"symbol": "WETH", "price": 2400 * 10**8, "decimals": 18, "ltv": 7000, "lt": 7200,
         "liquidation_bonus": 10500, "collateral": E18},
        {"symbol": "USDC", "price": 10**8, "decimals": 6, "ltv": 0, "lt": 0, "debt": 1800 * 10**6},
    ]  # fmt: skip
    v33 = liquidation_call(positions, "WETH", "USDC", MAX)
    assert v33.health_factor_before == 96 * 10**16
    assert v33.close_factor == 10_000
    assert v33.actual_debt_to_liquidate == 1800 * 10**6
    assert v33.collateral_to_liquidator == 7875 * 10**14
    v32 = liquidation_call(positions, "WETH", "USDC", MAX, version="3.2")
    assert v32.close_factor == 5_000
    assert v32.actual_debt_to_liquidate == 900 * 10**6
    assert v32.collateral_to_liquidator == 39375 * 10**13


def test_docs_close_factor_on_total_debt_v33() -> None:
    """ORIGIN ``docs/3.3/Aave-v3.3-features.md`` 2.1: three 3k USD debts; 3.3 applies the 50 % close
    factor to the whole position, so one 3k debt can be liquidated entirely.  Collateral 5.5 ETH at
    2000 USD, LT 8000, so HF = wadDiv(8800e8, 9000e8) = 977777777777777778 (> 0.95).

    3.3: percentMul(9000e8, 5000) = 4500e8 >= 3000e8, so max = 3000e6; seized 1.575 ETH, fee
    percentMul(0.075e18, 1000) = 0.0075 ETH.  3.2: max = percentMul(3000e6, 5000) = 1500e6."""
    positions = [
        listed("WETH", 2000 * 10**8, 18, ltv=7500, lt=8000, collateral=55 * 10**17),
        listed("GHO", 10**8, 18, debt=3000 * E18),
        listed("USDC", 10**8, 6, debt=3000 * 10**6),
        listed("DAI", 10**8, 18, debt=3000 * E18),
    ]
    v33 = liquidation_call(positions, "WETH", "USDC", MAX)
    assert v33.health_factor_before == 977777777777777778
    assert v33.actual_debt_to_liquidate == 3000 * 10**6
    assert v33.collateral_to_liquidator == 15675 * 10**14
    assert v33.liquidation_protocol_fee == 75 * 10**14
    assert get_user_account_data(v33.positions_after).health_factor == 1_046666666666666667
    v32 = liquidation_call(positions, "WETH", "USDC", MAX, version="3.2")
    assert v32.actual_debt_to_liquidate == 1500 * 10**6
    assert v32.collateral_to_liquidator == 78375 * 10**13


DUST_EXAMPLE = [  # docs 2.3 scaled by 2: collateral A 800, B 2000; debt A 1800, B 800 (USD)
    {"symbol": "A", "price": 10**8, "decimals": 6, "ltv": 8000, "lt": 8700, "liquidation_bonus": 10500,
     "collateral": 800 * 10**6, "debt": 1800 * 10**6},
    {"symbol": "B", "price": 10**8, "decimals": 6, "ltv": 8000, "lt": 8700, "liquidation_bonus": 10500,
     "collateral": 2000 * 10**6, "debt": 800 * 10**6},
]  # fmt: skip


@pytest.mark.parametrize(
    ("collateral", "debt", "amount", "repaid", "seized"),
    [
        ("B", "B", MAX, 800 * 10**6, 840 * 10**6),  # 100 % of debt B
        ("A", "A", MAX, 761904762, 800 * 10**6),  # 100 % of collateral A: percentDiv(800e6, 10500)
        ("B", "A", 800 * 10**6, 800 * 10**6, 840 * 10**6),  # leaves exactly 1000e8 of debt A
    ],
)
def test_docs_forced_cleanup_allowed(collateral: str, debt: str, amount: int, repaid: int, seized: int) -> None:
    """ORIGIN ``docs/3.3/Aave-v3.3-features.md`` 2.3 (MIN_LEFTOVER_BASE example, scaled by 2 to the
    deployed 1000e8): HF = wadDiv(percentMul(2800e8, 8700), 2600e8) = 936923076923076923 (close factor 100 %)."""
    res = liquidation_call(DUST_EXAMPLE, collateral, debt, amount)
    assert res.health_factor_before == 936923076923076923
    assert res.actual_debt_to_liquidate == repaid
    assert res.collateral_to_liquidator == seized


@pytest.mark.parametrize(
    ("collateral", "debt", "amount"),
    [("B", "A", 800 * 10**6 + 1), ("B", "B", 400 * 10**6), ("A", "A", 400 * 10**6)],
)
def test_docs_forced_cleanup_reverts(collateral: str, debt: str, amount: int) -> None:
    """ORIGIN docs 2.3: any other amount leaves dust on one side and reverts MUST_NOT_LEAVE_DUST."""
    with pytest.raises(AaveError) as err:
        liquidation_call(DUST_EXAMPLE, collateral, debt, amount)
    assert err.value.code == "103"


# ---------------------------------------------------------------- validation failures


def test_liquidation_validation_codes() -> None:
    """ORIGIN Pool.Liquidations.t.sol test_reverts_liquidation_hf_gt_liquidation_threshold ('45'),
    test_reverts_liquidation_collateral_not_active ('46'), test_reverts_liquidation_invalid_borrow
    ('47'); a zero ``debtToCover`` burns nothing and reverts INVALID_BURN_AMOUNT ('25',
    ScaledBalanceTokenBase._burnScaled)."""
    healthy = [listed("WBTC", 27000 * 10**8, 8, collateral=10**8), listed("USDX", 10**8, 6, debt=20500 * 10**6)]
    with pytest.raises(AaveError) as err:
        liquidation_call(healthy, "WBTC", "USDX", MAX)
    assert (err.value.code, err.value.name) == ("45", "HEALTH_FACTOR_NOT_BELOW_THRESHOLD")
    assert isinstance(err.value, InputError)
    sick = [
        listed("WBTC", 20250 * 10**8, 8, collateral=10**8),
        listed("USDX", 10**8, 6, debt=20500 * 10**6),
        listed("WETH", 1800 * 10**8, 18, collateral=E18, use_as_collateral=False),
    ]
    cases = [("WETH", "USDX", MAX, "46"), ("WBTC", "WETH", MAX, "47"), ("WBTC", "USDX", 0, "25")]
    for coll, debt, amount, code in cases:
        with pytest.raises(AaveError) as err:
            liquidation_call(sick, coll, debt, amount)
        assert err.value.code == code


# ---------------------------------------------------------------- e-mode


CATEGORY = {"ltv": 9800, "lt": 9850, "liquidation_bonus": 10100}


def test_emode_liquidation_v30() -> None:
    """CORE ``test-suites/liquidation-emode.spec.ts``: category (9800, 9850, 10100), 10000 USDC supplied
    in e-mode, DAI borrowed at 98 % LTV, DAI price moved to HF * price / 1e18 and then +1, half the
    debt liquidated; HF rises and collateral falls.  Reconstructed at RAY with 1e8 prices, fee 0.

    available = percentMul(10000e8, 9800) = 9800e8 -> 9800 DAI; HF = wadDiv(9850e8, 9800e8)
    = 1005102040816326531 -> DAI price 100510204 (HF 1000000000812182742), then 100510205
    (HF 999999990862944246 > 0.95: close factor 50 %, 4900 DAI).  base = 100510205 * 4900e18 * 1e6
    / (1e8 * 1e18) = 4925000045; seized = percentMul(4925000045, 10100) = 4974250045.
    """
    usdc = {"symbol": "USDC", "price": 10**8, "decimals": 6, "ltv": 8000, "lt": 8500, "liquidation_bonus": 10500,
            "collateral": 10_000 * 10**6, "in_emode": True}  # fmt: skip
    dai = {"symbol": "DAI", "price": 10**8, "decimals": 18, "ltv": 7500, "lt": 8000, "liquidation_bonus": 10500,
           "in_emode": True}  # fmt: skip
    data = get_user_account_data([usdc, dai], CATEGORY, version="3.0")
    assert data.available_borrows_base == 9800 * 10**8
    borrowed = [usdc, {**dai, "debt": 9800 * E18}]
    hf = get_user_account_data(borrowed, CATEGORY, version="3.0").health_factor
    assert hf == 1_005102040816326531
    mid = [usdc, {**dai, "debt": 9800 * E18, "price": 10**8 * hf // E18}]
    assert get_user_account_data(mid, CATEGORY, version="3.0").health_factor == 1_000000000812182742
    sick = [usdc, {**dai, "debt": 9800 * E18, "price": 100510205}]
    res = liquidation_call(sick, "USDC", "DAI", 4900 * E18, emode_category=CATEGORY, version="3.0")
    assert res.health_factor_before == 999999990862944246
    assert res.liquidation_bonus == 10100
    assert res.actual_debt_to_liquidate == 4900 * E18
    assert res.collateral_to_liquidator == 4974250045
    after = get_user_account_data(res.positions_after, CATEGORY, version="3.0")
    assert after.health_factor > res.health_factor_before


def test_emode_price_source_only_before_v32() -> None:
    """CORE ``contracts/protocol/libraries/logic/GenericLogic.sol`` and ``EModeLogic.getEModeConfiguration``
    (v3.0; same at ORIGIN v3.1.0): a category price source prices every reserve of the category; 3.2
    removed it (ORIGIN v3.2.0 GenericLogic reads each reserve's oracle price).  With the category
    priced at 1e8, the depegged DAI of the previous case is healthy in 3.0 (HF 1005102040816326531)
    and liquidatable in 3.2."""
    category = {**CATEGORY, "price": 10**8}
    sick = [
        {"symbol": "USDC", "price": 10**8, "decimals": 6, "ltv": 8000, "lt": 8500, "liquidation_bonus": 10500,
         "collateral": 10_000 * 10**6, "in_emode": True},
        {"symbol": "DAI", "price": 100510205, "decimals": 18, "ltv": 7500, "lt": 8000, "debt": 9800 * E18,
         "in_emode": True},
    ]  # fmt: skip
    assert get_user_account_data(sick, category, version="3.0").health_factor == 1_005102040816326531
    with pytest.raises(AaveError, match="HEALTH_FACTOR_NOT_BELOW_THRESHOLD"):
        liquidation_call(sick, "USDC", "DAI", MAX, emode_category=category, version="3.1")
    res = liquidation_call(sick, "USDC", "DAI", MAX, emode_category=category, version="3.2")
    assert res.debt_price == 100510205


def test_emode_category_testnet_v33() -> None:
    """ORIGIN ``tests/utils/TestnetProcedures.sol`` _genCategoryOne (95_00, 96_00, 101_00): an e-mode
    collateral uses the category's LT and bonus (3.2+: collateral bitmap ``in_emode``); a reserve outside
    the borrowable bitmap cannot be borrowed (NOT_BORROWABLE_IN_EMODE '100'; 3.0 raises '58').

    HF = wadDiv(percentMul(1800e8, 9600), 1700e8) = 1016470588235294118."""
    category = EModeCategory(ltv=9500, lt=9600, liquidation_bonus=10100)
    rows = [
        AaveReserve("WETH", 1800 * 10**8, 18, 8250, 8600, collateral=E18, in_emode=True, liquidation_bonus=10500),
        AaveReserve("USDX", 10**8, 6, 8250, 8600, debt=1700 * 10**6, in_emode=False),
    ]
    assert get_user_account_data(rows, category).health_factor == 1_016470588235294118
    assert get_user_account_data(rows).health_factor < E18  # outside e-mode the LT is 8600
    with pytest.raises(AaveError) as err:
        validate_borrow(rows, "USDX", 10**6, category)
    assert err.value.code == "100"
    with pytest.raises(AaveError) as err:
        validate_borrow(rows, "USDX", 10**6, category, version="3.0")
    assert err.value.code == "58"


# ---------------------------------------------------------------- isolation mode, siloed borrowing


def isolated(total: int = 0, collateral: int = 100 * E18, price: int = 100 * 10**8) -> list[dict[str, object]]:
    """CORE ``test-suites/isolation-mode.spec.ts`` setup: AAVE isolated with a debt ceiling of 10000
    (100.00 USD), DAI and USDC borrowable in isolation, WETH not."""
    return [
        {"symbol": "AAVE", "price": price, "decimals": 18, "ltv": 6000, "lt": 7000, "liquidation_bonus": 10750,
         "collateral": collateral, "debt_ceiling": 10_000, "isolation_mode_total_debt": total},
        {"symbol": "DAI", "price": 10**8, "decimals": 18, "ltv": 7500, "lt": 8000, "borrowable_in_isolation": True},
        {"symbol": "WETH", "price": 1800 * 10**8, "decimals": 18, "ltv": 8000, "lt": 8250},
    ]  # fmt: skip


def test_isolation_mode_borrow_rules() -> None:
    """CORE isolation-mode.spec.ts: borrowing WETH reverts ASSET_NOT_BORROWABLE_IN_ISOLATION; 10 DAI count
    1000 against the ceiling (``IsolationModeTotalDebtUpdated(aave, 1000)``, then 2000 for a second user);
    100 more DAI at a total of 2000 reverts DEBT_CEILING_EXCEEDED (values as written)."""
    with pytest.raises(AaveError) as err:
        validate_borrow(isolated(), "WETH", 10**16)
    assert (err.value.code, err.value.name) == ("60", "ASSET_NOT_BORROWABLE_IN_ISOLATION")
    validate_borrow(isolated(total=0), "DAI", 10 * E18)
    validate_borrow(isolated(total=1000), "DAI", 10 * E18)
    with pytest.raises(AaveError) as err:
        validate_borrow(isolated(total=2000, collateral=600 * E18), "DAI", 100 * E18)
    assert err.value.code == "53"
    assert not validate_use_as_collateral(isolated(), "WETH")  # USER_IN_ISOLATION_MODE_OR_LTV_ZERO


def test_isolation_mode_liquidation_reduces_isolated_debt() -> None:
    """CORE isolation-mode.spec.ts "Perform liquidation of isolation mode asset" (v3.0): 50 DAI borrowed
    against 1 AAVE, DAI price x10, half the debt liquidated; the isolated total falls by 25e18 / 1e16
    = 2500 (as written).  AAVE at 300 USD here so the collateral is not exhausted: HF = 0.42e18.
    In 3.3 the same partial liquidation of this small position leaves 250 USD of debt and reverts
    MUST_NOT_LEAVE_DUST."""
    rows = isolated(total=5000, collateral=E18, price=300 * 10**8)
    rows[1] = {**rows[1], "debt": 50 * E18, "price": 10 * 10**8}
    for version in ("3.0", "3.1", "3.2"):
        res = liquidation_call(rows, "AAVE", "DAI", 25 * E18, version=version)
        assert res.health_factor_before == 42 * 10**16
        assert res.collateral_to_liquidator == 895833333333333333  # percentMul(25e18 * 10 / 300, 10750)
        assert res.positions_after[0].isolation_mode_total_debt == 2500
    with pytest.raises(AaveError, match="MUST_NOT_LEAVE_DUST"):
        liquidation_call(rows, "AAVE", "DAI", 25 * E18, version="3.3")


def test_isolation_debt_when_collateral_exhausted() -> None:
    """CORE LiquidationLogic (3.0) clears the collateral flag before ``updateIsolatedDebtIfIsolated``, so a
    liquidation that takes all the isolated collateral leaves the isolated total unchanged; ORIGIN v3.3.0
    discounts it whenever the collateral has a ceiling.  Derived by hand: all 1 AAVE seized, debt repaid
    percentDiv(300e8 * 1e18 * 1e18 / (10e8 * 1e18), 10750) = 27906976744186046512 -> 2790 counted."""
    rows = isolated(total=5000, collateral=E18, price=300 * 10**8)
    rows[1] = {**rows[1], "debt": 50 * E18, "price": 10 * 10**8}
    old = liquidation_call(rows, "AAVE", "DAI", MAX, version="3.0")
    assert old.actual_debt_to_liquidate == 27906976744186046512
    assert old.positions_after[0].isolation_mode_total_debt == 5000
    assert old.positions_after[0].use_as_collateral is False
    new = liquidation_call(rows, "AAVE", "DAI", MAX, version="3.3")
    assert new.positions_after[0].isolation_mode_total_debt == 5000 - 2790
    assert new.deficit == {"DAI": 50 * E18 - 27906976744186046512}


def test_siloed_borrowing() -> None:
    """CORE ``test-suites/siloed-borrowing.spec.ts``: with DAI siloed, a user borrowing DAI cannot borrow
    USDC, a user borrowing USDC cannot borrow DAI, more DAI is fine (SILOED_BORROWING_VIOLATION '89')."""

    def rows(dai: int, usdc: int) -> list[dict[str, object]]:
        return [
            listed("WETH", 1800 * 10**8, 18, collateral=10 * E18),
            listed("DAI", 10**8, 18, debt=dai, siloed_borrowing=True),
            listed("USDC", 10**8, 6, debt=usdc),
        ]

    with pytest.raises(AaveError) as err:
        validate_borrow(rows(100 * E18, 0), "USDC", 10 * 10**6)
    assert (err.value.code, err.value.name) == ("89", "SILOED_BORROWING_VIOLATION")
    with pytest.raises(AaveError, match="SILOED"):
        validate_borrow(rows(0, 100 * 10**6), "DAI", E18)
    validate_borrow(rows(100 * E18, 0), "DAI", E18)
    validate_borrow(rows(0, 0), "DAI", E18)


def test_close_factor_100_where_the_default_does_not_bind_v33() -> None:
    """LiquidationLogic v3.3: ``maxLiquidatableDebt = userReserveDebt`` unless that reserve's debt in
    base exceeds ``percentMul(totalDebtInBase, 5000)``.  10 WETH at 3,000 (lt 83 %) against 8,000
    USDC and 17,200 DAI: HF 0.988 > 0.95, total debt 25,200 USD; the 50 % cap is 12,600 USD, above
    the USDC debt, so the whole USDC debt is repaid: the close factor applied is 100 % (it was
    reported as 50 %)."""
    positions = [
        listed("WETH", 3000 * 10**8, 18, collateral=10 * E18, lt=8300),
        listed("USDC", 10**8, 6, debt=8000 * 10**6),
        listed("DAI", 10**8, 18, debt=17200 * E18),
    ]
    res = liquidation_call(positions, "WETH", "USDC", MAX, version="3.3")
    assert 95 * 10**16 < res.health_factor_before < E18
    assert res.max_liquidatable_debt == 8000 * 10**6
    assert res.actual_debt_to_liquidate == 8000 * 10**6
    assert res.close_factor == 10_000
    # The DAI leg is above the cap: there the default close factor binds.
    dai = liquidation_call(positions, "WETH", "DAI", MAX, version="3.3")
    assert dai.close_factor == 5_000
    assert dai.max_liquidatable_debt == 12_600 * E18
