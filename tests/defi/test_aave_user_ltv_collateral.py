"""Aave v3.6: whether a supply enables a reserve as collateral follows the *user's* LTV of it.

``SupplyLogic.executeSupply`` -> ``ValidationLogic.validateAutomaticUseAsCollateral`` ->
``validateUseAsCollateral`` (aave-v3-origin v3.6.0 ``ValidationLogic.sol:590-609``) returns false
when ``getUserReserveLtv`` (``:653-674``) is 0: the e-mode category's LTV for a reserve of the
user's category, 0 when it is on the category's ltvzero bitmap, else the reserve's own.  3.0 - 3.5
test the reserve's own LTV (``reserveConfig.getLtv() == 0``; @aave/core-v3 ``ValidationLogic.sol:714``).

A review found levguard reading the reserve's own LTV at 3.6 too.  The account: e-mode category
LTV 90 % / LT 93 %, 10 WETH (2,000 USD) in it, 18,000 USDC owed (HF 1.0333), reserve X of the
category not yet supplied.  Case A, X's own LTV 0: levguard said X cannot be enabled, the Pool
enables it.  Case B, X's own LTV 75 % and on the ltvzero bitmap: levguard advised 1.61 X "to HF
1.20"; the Pool leaves the flag off and the HF at 1.0333.  The EVM check on the real v3.6 Pool is
tests/evm/test_aave_origin_read.py (RETH and WSTETH of its category 2).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from levguard.core.defi.aave import AaveReserve, EModeCategory, get_user_account_data, validate_use_as_collateral
from levguard.defi import analytics
from levguard.defi.onchain import _supply_counts
from levguard.defi.positions import AavePosition

P, E = 10**8, 10**18
CATEGORY = EModeCategory(ltv=9000, lt=9300, liquidation_bonus=10100)


def _position(x_ltv: int, x_ltvzero: bool, version: str = "3.6") -> AavePosition:
    rows = (
        AaveReserve("WETH", 2000 * P, 18, 8000, 8250, collateral=10 * E, in_emode=True, liquidation_bonus=10500),
        AaveReserve("X", 2000 * P, 18, x_ltv, 8000, in_emode=True, emode_ltvzero=x_ltvzero, liquidation_bonus=10500),
        AaveReserve("USDC", P, 6, 7500, 7800, debt=18_000 * 10**6, in_emode=True),
    )
    return AavePosition(reserves=rows, emode_category=CATEGORY, version=version, name="t")


CASE_A = (0, False)  # own LTV 0, the category's 90 %
CASE_B = (7500, True)  # own LTV 75 %, on the category's ltvzero bitmap


@pytest.mark.parametrize(("case", "enabled"), [(CASE_A, True), (CASE_B, False)])
def test_3_6_asks_for_the_users_ltv_of_the_reserve(case: tuple[int, bool], enabled: bool) -> None:
    pos = _position(*case)
    assert validate_use_as_collateral(pos.reserves, "X", CATEGORY, "3.6") is enabled
    # Outside e-mode the reserve's own LTV decides, as before.
    assert validate_use_as_collateral(pos.reserves, "X", None, "3.6") is (case[0] != 0)
    assert ("X" in _supply_counts(pos)) is enabled  # the on-chain unwind plan's supplies that count


@pytest.mark.parametrize("version", ["3.0", "3.2", "3.3", "3.5"])
@pytest.mark.parametrize("case", [CASE_A, CASE_B])
def test_before_3_6_the_reserves_own_ltv_decides(version: str, case: tuple[int, bool]) -> None:
    """``reserveConfig.getLtv() == 0`` (no ltvzero bitmap before 3.6)."""
    x_ltv = case[0]
    pos = _position(*case, version)  # the row's emode_ltvzero is ignored before 3.6, as AaveReserve says
    assert validate_use_as_collateral(pos.reserves, "X", CATEGORY, version) is (x_ltv != 0)
    assert validate_use_as_collateral(pos.reserves, "X") is (x_ltv != 0)  # the defaults: 3.3, no e-mode


def test_supply_to_target_enables_case_a_and_reaches_the_target_on_the_pool() -> None:
    pos = _position(*CASE_A)
    out = analytics.supply_to_target(pos, 1.2, "X")
    assert out.amount is not None
    assert out.health_factor_after is not None
    assert out.health_factor_after >= 1.2
    # The Pool enables the flag (validateUseAsCollateral true): the HF it reports after the supply.
    supplied = tuple(replace(r, collateral=out.amount) if r.symbol == "X" else r for r in pos.reserves)
    assert get_user_account_data(supplied, CATEGORY, "3.6").health_factor >= 12 * 10**17


def test_supply_to_target_refuses_case_b_whose_flag_the_pool_leaves_off() -> None:
    pos = _position(*CASE_B)
    out = analytics.supply_to_target(pos, 1.2, "X")
    assert (out.amount, out.health_factor_after) == (None, None)
    assert "cannot be enabled as collateral" in out.reason
    # What the advised 1.61 X would have left: the flag off, the HF where it was (1.0333).
    off = tuple(
        replace(r, collateral=1_612_903_225_810_000_000, use_as_collateral=False) if r.symbol == "X" else r
        for r in pos.reserves
    )
    assert get_user_account_data(off, CATEGORY, "3.6").health_factor == 1_033_333_333_333_333_333
