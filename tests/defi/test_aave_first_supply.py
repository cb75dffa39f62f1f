"""Aave: whether a supply enables a reserve as collateral is the first supply's question.

``SupplyLogic.executeSupply`` (aave-v3-origin v3.6.0 ``SupplyLogic.sol:74-86``) sets the flag only
when the aToken's scaled balance was 0 before the mint (``isFirstSupply``) and
``ValidationLogic.validateAutomaticUseAsCollateral`` (``:623-644``) passes: false for a reserve
with a debt ceiling (3.6 has no ``ISOLATED_COLLATERAL_SUPPLIER_ROLE``; before it the role is not
assumed), else ``validateUseAsCollateral``.  A review found three ways levguard disagreed, each
checked on the real v3.6 Pool (tests/evm/test_aave_origin_first_supply.py):

1. an isolated reserve (AAVE, a debt ceiling) with no collateral enabled: ``supply_to_target``
   advised 20.5479 AAVE "to HF 1.5"; the Pool leaves the flag off, HF 0;
2. DAI never supplied, its flag read off (as every unused reserve): refused "does not count as
   collateral"; the Pool enables it (5,000 DAI: HF 1.10 -> 1.278);
3. DAI disabled by the user with 5,000 DAI held: the unwind's ``supply_counts`` counted it, so a
   refused sale's DAI went "back to the position"; the Pool leaves the flag off, HF unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.defi.aave import AaveReserve, get_user_account_data, validate_use_as_collateral
from levguard.core.defi.aave_supply import validate_automatic_use_as_collateral
from levguard.defi import analytics
from levguard.defi.onchain import _supply_counts
from levguard.defi.positions import AavePosition
from levguard.errors import InputError

P, E = 10**8, 10**18
VERSIONS = ("3.0", "3.1", "3.2", "3.3", "3.5", "3.6")


def _isolated(version: str) -> AavePosition:
    rows = (
        AaveReserve("USDC", P, 6, 7500, 7800, debt=1000 * 10**6),
        AaveReserve("AAVE", 100 * P, 18, 6600, 7300, debt_ceiling=100_000_000),
    )
    return AavePosition(reserves=rows, version=version, name="iso")


@pytest.mark.parametrize("version", VERSIONS)
def test_an_isolated_reserve_is_not_enabled_by_a_supply(version: str) -> None:
    pos = _isolated(version)
    # setUserUseReserveAsCollateral could enable it (no collateral yet); a supply does not.
    assert validate_use_as_collateral(pos.reserves, "AAVE", None, version) is True
    assert validate_automatic_use_as_collateral(pos.reserves, "AAVE", None, version) is False
    out = analytics.supply_to_target(pos, 1.5, "AAVE")
    assert (out.amount, out.health_factor_after) == (None, None)  # was 20.5479 AAVE "to HF 1.5"
    assert "cannot be enabled as collateral by a supply" in out.reason
    assert "AAVE" not in _supply_counts(pos)


def _weth_usdc(dai_balance: int, dai_flag: bool | None, version: str = "3.6") -> AavePosition:
    rows = (
        AaveReserve("WETH", 2000 * P, 18, 8000, 8250, collateral=10 * E, use_as_collateral=True),
        AaveReserve("USDC", P, 6, 7500, 7800, debt=15_000 * 10**6, use_as_collateral=False),
        AaveReserve("DAI", P, 18, 7000, 7500, collateral=dai_balance, use_as_collateral=dai_flag),
    )
    return AavePosition(reserves=rows, version=version, name="first")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("flag", [False, None])
def test_a_first_supply_to_a_reserve_read_off_enables_it(version: str, flag: bool | None) -> None:
    pos = _weth_usdc(0, flag, version)
    assert "DAI" in _supply_counts(pos)
    out = analytics.supply_to_target(pos, 1.2, "DAI")
    assert out.amount is not None, out.reason  # was None: "DAI does not count as collateral"
    assert out.health_factor_after is not None
    assert out.health_factor_after >= 1.2

    def hf(amount: int) -> int:
        dai = {"collateral": amount, "use_as_collateral": True}
        rows = tuple(replace(r, **dai) if r.symbol == "DAI" else r for r in pos.reserves)  # type: ignore[arg-type]
        return get_user_account_data(rows, None, version).health_factor

    # The Pool sets the flag on the first supply: its HF after it (the supply is the least reaching
    # the target, plus the margin of an unknown liquidity index: 1 unit, 3.5+ 2).
    assert hf(out.amount) >= 12 * 10**17 > hf(out.amount - 3)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_disabled_reserve_holding_a_balance_is_not_enabled_by_a_supply(version: str) -> None:
    pos = _weth_usdc(5000 * E, False, version)
    assert "DAI" not in _supply_counts(pos)  # was counted: the unwind supplied DAI "back"
    assert set(_supply_counts(pos)) >= {"WETH"}
    out = analytics.supply_to_target(pos, 1.2, "DAI")
    assert out.amount is None
    assert "disabled" in out.reason


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("check", [validate_use_as_collateral, validate_automatic_use_as_collateral])
def test_a_bad_emode_category_is_refused_on_every_version(version: str, check: object) -> None:
    rows = _weth_usdc(0, None).reserves
    for bad in ("garbage", 5, {"ltv": 1}):
        with pytest.raises(InputError, match="emode_category"):
            check(rows, "DAI", bad, version)  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from(VERSIONS),
    ltv=st.sampled_from([0, 5000, 8000]),
    ceiling=st.sampled_from([0, 1, 10**8]),
    weth_on=st.booleans(),
    weth_ceiling=st.sampled_from([0, 10**8]),
)
def test_a_supply_enables_no_more_than_the_user_could(
    version: str, ltv: int, ceiling: int, weth_on: bool, weth_ceiling: int
) -> None:
    """Automatic: exactly ``validate_use_as_collateral`` without a debt ceiling, never with one."""
    rows = (
        AaveReserve(
            "WETH", 2000 * P, 18, 8000, 8250, collateral=E, use_as_collateral=weth_on, debt_ceiling=weth_ceiling
        ),
        AaveReserve("X", P, 18, ltv, max(ltv, 1) + 100, debt_ceiling=ceiling),
    )
    auto = validate_automatic_use_as_collateral(rows, "X", None, version)
    assert auto is (ceiling == 0 and validate_use_as_collateral(rows, "X", None, version))
