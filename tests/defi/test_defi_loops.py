"""Leverage loops on the exact engines: each step is a borrow the protocol accepts, the swap buys what
the fee leaves, and the end state's HF and liquidation price are the engine's."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.defi import analytics
from levguard.defi.aave import get_user_account_data
from levguard.defi.loops import loop_options, loop_position
from levguard.defi.morpho import health_factor
from levguard.defi.positions import AavePosition, MorphoPosition, load_position
from levguard.errors import InputError

E18 = 10**18


def aave_spec() -> dict[str, Any]:
    return {
        "protocol": "aave-v3",
        "emode_category": {"ltv": 0.93, "lt": 0.95, "bonus": 0.01},
        "reserves": [
            {"symbol": "wstETH", "price_usd": 3540, "decimals": 18, "ltv": 0.785, "lt": 0.81, "bonus": 0.06,
             "collateral": 10, "in_emode": True},
            {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05,
             "in_emode": True},
        ],
    }  # fmt: skip


def morpho_spec() -> dict[str, Any]:
    return {
        "protocol": "morpho-blue", "lltv": 0.945, "collateral": 10, "borrow": 0, "collateral_price": 3540,
        "loan_price": 3000, "collateral_decimals": 18, "loan_decimals": 18,
        "collateral_symbol": "wstETH", "loan_symbol": "WETH",
    }  # fmt: skip


def test_aave_loop_steps_follow_the_engine() -> None:
    r = loop_position(aave_spec(), steps=6, swap_fee=0.0005)
    assert len(r.steps) == 6
    assert r.stop_reason == "6 steps done"
    # Step 1 borrows the whole e-mode borrowing power, 10 x 3540 x 0.93 = 32,922 USD: validateBorrow
    # prices the amount as floor(3000e8 x / 1e18) and needs percentDiv(that, 9300) <= 35,400e8, so
    # it accepts up to floor(3000e8 x / 1e18) = 32,922e8, i.e. x < (32,922e8 + 1) 1e18 / 3000e8.
    first = -(-(32_922 * 10**8 + 1) * E18 // (3_000 * 10**8)) - 1
    assert first == 10_974_000_000_003_333_333
    assert r.steps[0].borrowed_units == first
    # ... and buys x x 3000 x (1 - 0.0005) / 3540 wstETH (floored to the wei).
    assert r.steps[0].bought_units == int(Fraction(first * 3000) * Fraction(9995, 10_000) / 3540)
    levs = [s.leverage for s in r.steps]
    assert levs == sorted(levs)
    final = r.position
    assert isinstance(final, AavePosition)
    acct = get_user_account_data(final.reserves, final.emode_category, final.version)
    assert r.health_factor_wad == acct.health_factor
    assert final.reserve("WETH").debt == sum(s.borrowed_units for s in r.steps)
    assert final.reserve("wstETH").collateral == 10 * E18 + sum(s.bought_units for s in r.steps)
    assert r.liquidation == analytics.liquidation_price(final, "wstETH")
    assert r.leverage == pytest.approx(acct.total_collateral_base / (acct.total_collateral_base - acct.total_debt_base))
    json.dumps(r.to_dict(), allow_nan=False)
    assert "position" not in r.to_dict()


def test_loop_to_a_target_leverage_and_costs() -> None:
    r = loop_position(morpho_spec(), target_leverage=8, swap_fee=0.0003, supply_rate=0.03, borrow_rate=0.025)
    assert r.reached_target
    assert r.stop_reason == "target leverage reached"
    assert r.leverage == pytest.approx(8, rel=1e-9)
    assert r.value_unit == "USD"
    # Unwinding sells collateral worth D / (1 - f) to repay D: the cost is D f / (1 - f).
    assert r.unwind_cost == pytest.approx(r.debt_value * 0.0003 / 0.9997, rel=1e-12)
    assert r.equity_after_unwind == pytest.approx(r.equity - r.unwind_cost, rel=1e-12)
    assert r.entry_swap_cost == pytest.approx(sum(s.borrowed for s in r.steps) * 3000 * 0.0003, rel=1e-9)
    assert r.net_rate == pytest.approx((r.collateral_value * 0.03 - r.debt_value * 0.025) / r.equity, rel=1e-9)
    final = r.position
    assert isinstance(final, MorphoPosition)
    assert r.health_factor_wad == health_factor(final.market, final.position, final.lltv, final.oracle_price)


def test_loop_keeps_min_hf_and_borrow_fraction() -> None:
    r = loop_position(aave_spec(), steps=20, min_hf=1.2, borrow_fraction=0.5)
    assert all(s.health_factor >= 1.2 for s in r.steps)
    half = loop_position(aave_spec(), steps=1, borrow_fraction=0.5)
    assert half.steps[0].borrowed_units == 10_974_000_000_003_333_333 // 2


def test_unreachable_target_stops_after_the_steps() -> None:
    r = loop_position(aave_spec(), target_leverage=50, steps=3)
    assert r.reached_target is False
    assert r.stop_reason == "stopped after 3 steps"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, r"steps must be an integer in \[1, 100\]"),
        ({"target_leverage": 0.5}, r"target_leverage must be between 1 and 1,000, was 0.5"),
        ({"target_leverage": 10**400}, r"target_leverage must be between 1 and 1,000, was <integer of about 401"),
        ({"swap_fee": 1}, r"swap_fee must be in \[0, 1\)"),
        ({"borrow_fraction": 1.5}, r"borrow_fraction must be in \[0, 1\]"),
        ({"min_hf": 0}, r"min_hf must be > 0"),
        ({"collateral": "WETH"}, r"WETH must be an enabled collateral"),
        ({"collateral": "DAI"}, r"symbol 'DAI' is not among"),
        ({"debt": "wstETH"}, r"must be different reserves"),
    ],
)
def test_bad_loop_settings_name_the_value(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        loop_position(aave_spec(), **kwargs)


def test_loop_options_section() -> None:
    assert loop_options({"loop": {"steps": 3, "swap_fee": 0.001}}) == {"steps": 3, "swap_fee": 0.001}
    assert loop_options({}) == {}
    with pytest.raises(InputError, match="unknown fields"):
        loop_options({"loop": {"stepz": 3}})


@settings(max_examples=40, deadline=None)
@given(
    lltv=st.sampled_from([0.77, 0.86, 0.915, 0.945]),
    fee=st.sampled_from([0, 0.0001, 0.003, 0.01]),
    fraction=st.sampled_from([0.5, 0.9, 1]),
    steps=st.integers(1, 8),
)
def test_morpho_loop_is_healthy_and_levered(lltv: float, fee: float, fraction: float, steps: int) -> None:
    """Every step ends healthy (each borrow is one ``Morpho.borrow`` accepts before the collateral
    arrives), leverage grows step by step, and the end state is the engine's."""
    spec = morpho_spec() | {"lltv": lltv}
    r = loop_position(spec, steps=steps, swap_fee=fee, borrow_fraction=fraction)
    assert all(s.health_factor >= 1 for s in r.steps)
    levs = [1.0, *(s.leverage for s in r.steps)]
    assert levs == sorted(levs)
    final = load_position(r.position)
    assert isinstance(final, MorphoPosition)
    assert final.position.collateral == 10 * E18 + sum(s.bought_units for s in r.steps)


def test_loop_options_overrides_win_where_given() -> None:
    from levguard.defi.loops import loop_options
    from levguard.errors import InputError

    spec = {"loop": {"steps": 3, "swap_fee": 0.001}}
    assert loop_options(spec) == {"steps": 3, "swap_fee": 0.001}
    assert loop_options(spec, steps=5, swap_fee=None) == {"steps": 5, "swap_fee": 0.001}
    assert loop_options({}, steps=2) == {"steps": 2}
    with pytest.raises(InputError, match="unknown names"):
        loop_options(spec, stepz=1)


def test_an_isolation_mode_loop_stops_at_the_debt_ceiling() -> None:
    # LINK isolated with 1,000 USD of ceiling room.  Every step re-used the whole room (5 x 1,000
    # USDC borrowed; an audit): BorrowLogic.executeBorrow adds each borrow to the collateral's
    # isolationModeTotalDebt, so the next validateBorrow counts it.  Below 0.01 USDC a borrow
    # counts 0 units (integer division), as on chain: those dust borrows still pass.
    from levguard.core.defi.aave import AaveError, validate_borrow

    spec = {
        "protocol": "aave-v3", "version": "3.3",
        "reserves": [
            {"symbol": "LINK", "price_usd": 15, "decimals": 18, "ltv": 0.5, "lt": 0.65, "bonus": 0.07,
             "collateral": 1000, "debt_ceiling_usd": 1_000_000, "isolation_mode_total_debt_usd": 999_000},
            {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045,
             "debt": 2000, "borrowable_in_isolation": True},
        ],
    }  # fmt: skip
    lp = loop_position(spec, collateral="LINK", debt="USDC", supply_rate=0, borrow_rate=0)
    borrowed = [s.borrowed for s in lp.steps]
    assert borrowed[0] == pytest.approx(1000.009999)
    assert all(b < 0.01 for b in borrowed[1:])
    end = lp.position
    assert isinstance(end, AavePosition)
    link = end.reserve("LINK")
    assert link.isolation_mode_total_debt == link.debt_ceiling  # 1,000,000.00 USD in 0.01 units
    with pytest.raises(AaveError, match="DEBT_CEILING_EXCEEDED"):
        validate_borrow(end.reserves, "USDC", 10_000)  # 0.01 USDC: one unit more


def test_loop_options_read_a_spec_file_as_loop_position_does(tmp_path: Any) -> None:
    # loop_options("spec.yaml") raised AttributeError ('str' object has no attribute 'get').
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(aave_spec() | {"loop": {"steps": 2}}))
    assert loop_options(str(path)) == {"steps": 2}
    assert loop_options(path, steps=3) == {"steps": 3}
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="must be a mapping"):
        loop_options(path)
