"""Analytics of DeFi positions: worked examples derived by hand from the contracts' arithmetic, the
report's contents, and input errors.  The exactness properties over random positions are in
``test_defi_analytics_properties.py``."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from levguard.defi import analytics
from levguard.defi.aave import get_user_account_data, validate_borrow_after_mint
from levguard.defi.morpho import health_factor, is_healthy, mul_div_up, to_assets_up, w_mul_down
from levguard.defi.positions import AavePosition, MorphoPosition, load_position
from levguard.defi.risk import health_curves
from levguard.defi.stress import DepegScenario, stress_position
from levguard.errors import InputError

E18 = 10**18


def single() -> dict[str, Any]:
    """10 WETH (LT 82.5 %) against 12,000 USDC."""
    return {
        "protocol": "aave-v3",
        "reserves": [
            {"symbol": "WETH", "price_usd": 2000, "decimals": 18, "ltv": 0.8, "lt": 0.825, "bonus": 0.05,
             "collateral": 10},
            {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045,
             "debt": 12_000},
        ],
    }  # fmt: skip


def two_collaterals() -> dict[str, Any]:
    spec = single()
    spec["reserves"].insert(
        1, {"symbol": "WBTC", "price_usd": 60_000, "decimals": 8, "ltv": 0.73, "lt": 0.78, "bonus": 0.05,
            "collateral": 0.1}
    )  # fmt: skip
    spec["reserves"][2]["debt"] = 15_000
    return spec


MORPHO = {
    "protocol": "morpho-blue", "lltv": 0.86, "collateral": 10, "borrow": 20_000, "collateral_price": 3_000,
    "collateral_decimals": 18, "loan_decimals": 6, "collateral_symbol": "WETH", "loan_symbol": "USDC",
}  # fmt: skip


def hf_at(spec: Any, symbol: str, price: int) -> int:
    pos = analytics.with_price(spec, price, symbol)
    assert isinstance(pos, AavePosition)
    return get_user_account_data(pos.reserves, pos.emode_category, pos.version).health_factor


def test_aave_single_collateral_liquidation_price_by_hand() -> None:
    """HF = wadDiv(percentMul(10 p, 8250), 12000e8) >= 1e18 <=> percentMul(10 p, 8250) >= 1.2e12
    (wadDiv's half-up adds less than one unit) <=> 82500 p + 5000 >= 1.2e16 <=> p >= 145454545454.48,
    so the liquidation price is 145454545455 (1,454.54545455 USD)."""
    lp = analytics.liquidation_price(single())
    assert lp.price == 145_454_545_455
    assert lp.value == pytest.approx(1454.54545455, abs=1e-9)
    assert lp.change == pytest.approx(1454.54545455 / 2000 - 1)
    assert hf_at(single(), "WETH", 145_454_545_455) >= E18 > hf_at(single(), "WETH", 145_454_545_454)
    # One bp (0.01 %) below it is liquidatable, as any price below.
    assert hf_at(single(), "WETH", 145_454_545_455 * 9999 // 10_000) < E18


def test_aave_repay_and_supply_to_target_by_hand() -> None:
    """Target 1.5: debt must fall to 16,500 / 1.5 = 11,000 USDC -> repay exactly 1,000 USDC; or the
    collateral value rise to 12,000 x 1.5 / 0.825 = 21,818.18 USD -> 0.90909... WETH more.  With
    the index unknown the burn may leave a unit more debt (rayDiv then rayMul): one unit more is
    repaid, and HF 1.5 is read on 11,000.000000 of debt.  Likewise the aToken's mint may credit a
    unit less than the supply: one unit more is supplied."""
    r = analytics.repay_to_target(single(), 1.5)
    assert (r.symbol, r.amount, r.health_factor_after_wad) == ("USDC", 1_000 * 10**6 + 1, 15 * 10**17)
    s = analytics.supply_to_target(single(), 1.5)
    assert s.symbol == "WETH"
    assert s.amount is not None
    pos = load_position(single())
    assert isinstance(pos, AavePosition)

    def hf_with(extra: int) -> int:
        rows = list(pos.reserves)
        rows[0] = rows[0].__class__(**{**rows[0].to_dict(), "collateral": rows[0].collateral + extra})
        return get_user_account_data(rows).health_factor

    assert hf_with(s.amount - 1) >= 15 * 10**17 > hf_with(s.amount - 2)
    assert s.amount == pytest.approx(0.909090909090909 * E18, rel=1e-12)


def test_aave_max_safe_borrow() -> None:
    """Borrowing power 16,000 - 12,000 = 4,000 USDC (LTV 80 %); keeping HF >= 1.25 allows
    8,250 x 2000 x 10 / 1e4 / 1.25 - 12,000 = 1,200 USDC, less the unit the debt token's mint may
    add with the index unknown (rayDiv then rayMul, half up: HF 1.25 on 1,200.000000 of debt)."""
    b = analytics.max_safe_borrow(single())
    assert b.amount == 4_000 * 10**6  # validateBorrow prices the amount before the mint (3.3)
    assert "COLLATERAL_CANNOT_COVER_NEW_BORROW" in b.reason
    t = analytics.max_safe_borrow(single(), "USDC", target_hf=1.25)
    assert t.amount == 1_200 * 10**6 - 1
    assert t.health_factor_after_wad == 125 * 10**16
    assert "target" in t.reason


def test_morpho_liquidation_price_exact_and_against_the_sdk() -> None:
    """Healthy iff wMulDown(mulDivDown(c, p, 1e36), 0.86e18) >= 20000e6: the least collateral value is
    ceil(2e10 / 0.86) = 23255813954 and the least price 23255813954e36 / 1e19.  The Morpho SDK's
    closed form (MarketUtils.getLiquidationPrice: mulDivUp(borrowed, 1e36, wMulDown(c, lltv)))
    agrees to its rounding."""
    lp = analytics.liquidation_price(MORPHO)
    assert lp.price == 23_255_813_954 * 10**17
    pos = load_position(MORPHO)
    assert isinstance(pos, MorphoPosition)
    assert is_healthy(pos.market, pos.position, pos.lltv, lp.price)
    assert not is_healthy(pos.market, pos.position, pos.lltv, lp.price - 1)
    m = pos.market
    borrowed = to_assets_up(pos.position.borrow_shares, m.total_borrow_assets, m.total_borrow_shares)
    sdk = mul_div_up(borrowed, 10**36, w_mul_down(pos.position.collateral, pos.lltv))
    assert abs(sdk - lp.price) / lp.price < 1e-9
    assert lp.unit == "USDC per WETH"


def test_morpho_targets() -> None:
    """Target 1.5 on 25,800 USDC of borrowing capacity (10 WETH x 3,000 x 0.86): owe 17,200 -> repay
    2,800 USDC; or lift the capacity to 30,000 -> 30,000 / 0.86 / 3,000 - 10 = 1.6279... WETH more."""
    r = analytics.repay_to_target(MORPHO, 1.5)
    assert r.amount == 2_800 * 10**6
    assert r.health_factor_after_wad == 15 * 10**17
    s = analytics.supply_to_target(MORPHO, "1.5")
    pos = load_position(MORPHO)
    assert isinstance(pos, MorphoPosition)
    assert s.amount is not None
    more = pos.position.__class__(pos.position.borrow_shares, pos.position.collateral + s.amount)
    less = pos.position.__class__(pos.position.borrow_shares, pos.position.collateral + s.amount - 1)
    assert health_factor(pos.market, more, pos.lltv, pos.oracle_price) >= 15 * 10**17
    assert health_factor(pos.market, less, pos.lltv, pos.oracle_price) < 15 * 10**17
    assert s.amount_tokens == pytest.approx(30_000 / 0.86 / 3_000 - 10, rel=1e-9)  # 1.6279... WETH
    b = analytics.max_safe_borrow(MORPHO, target_hf=1.2)
    assert b.amount == 1_500 * 10**6  # 25,800 / 1.2 - 20,000
    assert b.health_factor_after_wad == 12 * 10**17


def test_report_contents_and_json() -> None:
    report = analytics.position_report(two_collaterals(), target_hf=1.4)
    d = report.to_dict()
    json.dumps(d, allow_nan=False)  # JSON-ready (no inf, no NaN)
    assert d["protocol"] == "aave-v3"
    assert d["value_unit"] == "USD"
    assert report.collateral_value == pytest.approx(26_000.0)
    assert report.debt_value == pytest.approx(15_000.0)
    assert report.health_factor == pytest.approx(report.health_factor_wad / E18)
    assert report.leverage == pytest.approx(26_000 / 11_000)
    liq = {a.symbol: a.liquidation for a in report.assets}
    assert liq["USDC"] is None
    assert liq["WETH"] is not None
    assert liq["WBTC"] is not None
    assert [t.symbol for t in report.repay] == ["USDC"]
    assert {t.symbol for t in report.supply} == {"WETH", "WBTC"}
    assert report.exact["total_debt_base"] == 15_000 * 10**8


def test_report_without_debt() -> None:
    spec = single()
    spec["reserves"][1]["debt"] = 0
    report = analytics.position_report(spec, target_hf=2)
    assert math.isinf(report.health_factor)
    assert report.to_dict()["health_factor"] is None
    assert report.assets[0].liquidation is not None
    assert report.assets[0].liquidation.reason == "no debt"
    assert report.repay == ()
    assert report.supply == ()


def emode_only(version: str) -> dict[str, Any]:
    """10 wstETH at 4,000 against 10 WETH at 3,500; wstETH's own LTV and LT are 0, its e-mode
    category's 90 % and 93 % (Aave 3.6 decouples e-mode from the reserve's own parameters)."""
    return {
        "protocol": "aave-v3", "version": version,
        "emode_category": {"ltv": 0.90, "lt": 0.93, "bonus": 0.01},
        "reserves": [
            {"symbol": "wstETH", "price_usd": 4000, "decimals": 18, "ltv": 0, "lt": 0, "collateral": 10,
             "in_emode": True},
            {"symbol": "WETH", "price_usd": 3500, "decimals": 18, "ltv": 0.8, "lt": 0.83, "debt": 10,
             "in_emode": True},
        ],
    }  # fmt: skip


def test_a_collateral_counted_only_through_emode_has_its_figures_from_3_6() -> None:
    """GenericLogic 3.6 counts wstETH at the category's 93 %: HF = 40,000 x 0.93 / 35,000, and the
    liquidation price solves 10 p 0.93 = 35,000 (p = 3,763.44086...). Every analytic sees it."""
    spec = emode_only("3.6")
    lp = analytics.liquidation_price(spec, "wstETH")
    assert lp.price is not None
    assert hf_at(spec, "wstETH", lp.price) >= E18 > hf_at(spec, "wstETH", lp.price - 1)
    assert lp.value == pytest.approx(35_000 / 9.3, rel=1e-9)
    s = analytics.supply_to_target(spec, 1.5, "wstETH")
    assert s.amount is not None
    assert s.health_factor_after_wad >= 15 * 10**17
    rep = analytics.position_report(spec, 1.5)
    assert (rep.assets[0].lt, rep.assets[0].ltv) == (0.93, 0.90)
    assert rep.assets[0].liquidation == lp
    assert [t.symbol for t in rep.supply] == ["wstETH"]
    shocked = stress_position(spec, [DepegScenario("wstETH -10 %", {"WSTETH": -0.10})])[0]
    assert shocked.liquidatable
    assert shocked.liquidation is not None
    assert shocked.liquidation.collateral_symbol == "wstETH"
    assert [c.symbol for c in health_curves(spec)] == ["wstETH"]


def test_before_3_6_a_reserve_with_threshold_0_is_no_collateral_even_in_emode() -> None:
    spec = emode_only("3.5")
    pos = load_position(spec)
    assert isinstance(pos, AavePosition)
    assert get_user_account_data(pos.reserves, pos.emode_category, "3.5").total_collateral_base == 0
    assert analytics.liquidation_price(spec, "wstETH").price is None
    assert analytics.supply_to_target(spec, 1.5, "wstETH").amount is None
    assert analytics.position_report(spec, 1.5).assets[0].lt == 0.0
    assert health_curves(spec) == ()


def test_liquidation_price_reasons() -> None:
    spec = two_collaterals()
    spec["reserves"][1]["collateral"] = 10  # 600,000 USD of WBTC covers the debt alone
    lp = analytics.liquidation_price(spec, "WETH")
    assert lp.price is None
    assert "even at a price of 0" in lp.reason
    assert hf_at(spec, "WETH", 0) >= E18


def test_joint_boundary_is_exact_at_every_point() -> None:
    spec = two_collaterals()
    joint = analytics.joint_liquidation_boundary(spec, "WETH", "WBTC", points=5, low=0.5, high=1.5)
    assert joint.x_prices[2] == 2_000 * 10**8
    for px, py in zip(joint.x_prices, joint.y_prices, strict=True):
        if py is None:
            continue
        moved = analytics.with_price(spec, px, "WETH")  # a position is accepted wherever a spec is
        assert hf_at(moved, "WBTC", py) >= E18 > hf_at(moved, "WBTC", py - 1)
    # The boundary falls as the other collateral gains.
    ys = [y for y in joint.y_prices if y is not None]
    assert ys == sorted(ys, reverse=True)
    given = analytics.joint_liquidation_boundary(spec, "WETH", "WBTC", x_prices_usd=[1500, "2500.5"])
    assert given.x_prices == (1_500 * 10**8, 250_050_000_000)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: analytics.liquidation_price(two_collaterals()), r"symbol is needed: .* 2 collateral"),
        (lambda: analytics.liquidation_price(single(), "DAI"), r"symbol 'DAI' is not among"),
        (lambda: analytics.repay_to_target(single(), 0), r"target_hf must be > 0"),
        (lambda: analytics.repay_to_target(single(), "x"), r"target_hf must be a number"),
        (lambda: analytics.position_report(single(), target_hf=-1), r"target_hf must be >= 0"),
        (lambda: analytics.liquidation_price(MORPHO, "USDC"), r"not the market's collateral token"),
        (lambda: analytics.joint_liquidation_boundary(MORPHO, "a", "b"), r"aave-v3 position"),
        (lambda: analytics.joint_liquidation_boundary(two_collaterals(), "WETH", "WETH"), r"must differ"),
        (lambda: analytics.joint_liquidation_boundary(two_collaterals(), "WETH", "WBTC", points=1), r"points"),
        (lambda: analytics.joint_liquidation_boundary(two_collaterals(), "WETH", "WBTC", low=2, high=1), r"low"),
        # USDC is borrowed only: "two collaterals" (it gave a table of "not a collateral" rows).
        (
            lambda: analytics.joint_liquidation_boundary(two_collaterals(), "WETH", "USDC"),
            r"y_symbol 'USDC' is not a collateral of the account",
        ),
        (
            lambda: analytics.joint_liquidation_boundary(two_collaterals(), "USDC", "WETH"),
            r"x_symbol 'USDC' is not a collateral of the account",
        ),
        (lambda: analytics.with_price(single(), 10**8), r"symbol is needed"),
        (lambda: analytics.with_price(single(), -1, "WETH"), r"price must be a non-negative integer"),
    ],
)
def test_bad_input_names_the_value(call: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()


def test_repay_out_of_reach_and_borrow_refused() -> None:
    spec = two_collaterals()
    spec["reserves"][0]["debt"] = 0
    spec["reserves"].append(
        {"symbol": "DAI", "price_usd": 1, "decimals": 18, "ltv": 0.63, "lt": 0.77, "bonus": 0.05, "debt": 10_000}
    )
    r = analytics.repay_to_target(spec, 3, "USDC")  # 10,000 DAI stays: 20,580 / 10,000 < 3
    assert r.amount is None
    assert "below the target" in r.reason
    emode = single() | {"emode_category": {"ltv": 0.9, "lt": 0.93, "bonus": 0.02}}
    emode["reserves"][0]["in_emode"] = True
    b = analytics.max_safe_borrow(emode, "USDC")
    assert b.amount == 0
    assert "NOT_BORROWABLE_IN_EMODE" in b.reason


def test_max_safe_borrow_on_3_6_passes_the_check_after_the_mint_and_one_unit_more_does_not() -> None:
    """3.5+ values the whole debt after the mint rounding up (mulDivCeil) and asks
    ``collateral >= debt.percentDivCeil(ltv)``: the amount's own floored value against the
    headroom allowed one unit the Pool refuses here (ValidationLogic.validateHFAndLtv, v3.6.0).
    With the index unknown the debt after the mint is taken 2 units above ``debt + x``
    (rayDivCeil, rayMulCeil), so the answer is 2 below the Pool's limit on ``debt + x``."""
    spec = {"protocol": "aave-v3", "version": "3.6", "reserves": [
        {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.8, "lt": 0.83, "bonus": 0.05,
         "collateral": "1.597687"},
        {"symbol": "USDC", "price_usd": "1.00824543", "decimals": 6, "ltv": 0.75, "lt": 0.78,
         "debt": "1235.209546"}]}  # fmt: skip
    pos = load_position(spec)
    assert isinstance(pos, AavePosition)
    b = analytics.max_safe_borrow(spec, "USDC")
    assert b.amount == 2_567_881_133  # 2_567_881_135 at index RAY exactly
    assert "after the mint" in b.reason
    usdc = pos.reserve("USDC")

    def after(x: int) -> tuple[Any, ...]:
        return tuple(replace(r, debt=usdc.debt + x) if r is usdc else r for r in pos.reserves)

    validate_borrow_after_mint(after(b.amount + 2), version="3.6")
    with pytest.raises(InputError, match="COLLATERAL_CANNOT_COVER_NEW_BORROW"):
        validate_borrow_after_mint(after(b.amount + 3), version="3.6")
    with pytest.raises(InputError, match=r"3\.5 or later"):
        validate_borrow_after_mint(pos.reserves, version="3.3")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("R", None, "3.4"), r"version must be one of .*was '3\.4'"),
        (("R", None, 3.6), r"version must be one of"),
        (({"symbol": "WETH"}, None, "3.6"), r"reserve must be an AaveReserve, was"),
        (("R", {"lt": 9300}, "3.6"), r"emode must be an EModeCategory or None, was"),
    ],
)
@pytest.mark.parametrize("fn", ["collateral_ltv", "collateral_threshold"])
def test_the_user_ltv_and_threshold_refuse_bad_input_by_name(fn: str, args: tuple[Any, ...], match: str) -> None:
    from levguard.defi import aave

    pos = load_position(single())
    assert isinstance(pos, AavePosition)
    reserve = pos.reserves[0] if args[0] == "R" else args[0]
    with pytest.raises(InputError, match=match):
        getattr(aave, fn)(reserve, *args[1:])


@pytest.mark.parametrize(
    ("rows", "symbol"),
    [
        # An LTV-0 reserve (validateUseAsCollateral: false whatever the position).
        (
            [
                {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05, "collateral": 10},
                {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045, "debt": 24000},
                {"symbol": "CRV", "price_usd": 0.5, "decimals": 18, "ltv": 0, "lt": 0.35, "bonus": 0.08, "collateral": 0},
            ],
            "CRV",
        ),
        # Isolation mode (an isolated collateral enabled): no other asset can be enabled.
        (
            [
                {"symbol": "AAVE", "price_usd": 100, "decimals": 18, "ltv": 0.66, "lt": 0.73, "bonus": 0.075,
                 "collateral": 100, "debt_ceiling_usd": 1_000_000},
                {"symbol": "USDC", "price_usd": 1, "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045,
                 "debt": 7000, "borrowable_in_isolation": True},
                {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05, "collateral": 0},
            ],
            "WETH",
        ),
    ],
)  # fmt: skip
def test_supply_to_target_refuses_an_asset_the_pool_will_not_enable_as_collateral(
    rows: list[dict[str, Any]], symbol: str
) -> None:
    """A first supply enables the collateral flag only where ValidationLogic.validateUseAsCollateral
    allows it.  The supply was advised anyway: 22,297 CRV (about 11,000 USD) "to HF 1.2", after which
    the Pool leaves the HF at 1.0375."""
    spec = {"protocol": "aave-v3", "version": "3.3", "reserves": rows}
    before = analytics.position_report(spec).health_factor
    out = analytics.supply_to_target(spec, 1.2, symbol)
    assert out.amount is None
    assert out.health_factor_after is None
    assert "cannot be enabled as collateral" in out.reason
    assert before is not None
    assert before < 1.2


# 1.1 loan units per 1e6 borrow shares: the debt toAssetsUp(shares) burns more shares, by assets,
# than the position owes (Morpho.sol repay: borrowShares -= assets.toSharesDown(...) underflows).
_ODD_SHARES = {
    "protocol": "morpho-blue", "lltv": "0.86", "collateral_decimals": 18, "loan_decimals": 6,
    "oracle_price": 3000 * 10**24, "borrow_shares": 123_456_789_123,
    "market": {"total_supply_assets": 2 * 10**12, "total_supply_shares": 2 * 10**18,
               "total_borrow_assets": 11 * 10**11, "total_borrow_shares": 10**18},
}  # fmt: skip


def test_morpho_repay_to_target_is_an_amount_the_contract_accepts_by_assets() -> None:
    from levguard.core.defi.morpho import MorphoError, to_assets_up
    from levguard.defi import morpho

    dust = load_position(_ODD_SHARES | {"collateral": "0.000000000000000001"})  # 1 wei: no reach
    assert isinstance(dust, MorphoPosition)
    m, p = dust.market, dust.position
    owed = to_assets_up(p.borrow_shares, m.total_borrow_assets, m.total_borrow_shares)
    with pytest.raises(MorphoError):
        morpho.repay(m, p, assets=owed)  # the whole debt by assets reverts
    r = analytics.repay_to_target(dust, "1.5")
    assert r.amount is None
    assert f"costs {owed}" in r.reason
    assert f"at most {owed - 1}" in r.reason
    # A reachable target: the least amount, accepted by assets, and one unit less misses it.
    rich = load_position(_ODD_SHARES | {"collateral": "0.00006"})  # HF 0.1548 / 0.1358 = 1.14
    assert isinstance(rich, MorphoPosition)
    r = analytics.repay_to_target(rich, "1.5")
    assert r.amount is not None
    assert r.amount > 0
    after = morpho.repay(rich.market, rich.position, assets=r.amount)
    assert health_factor(after.market, after.position, rich.lltv, rich.oracle_price) >= 15 * 10**17
    less = morpho.repay(rich.market, rich.position, assets=r.amount - 1)
    assert health_factor(less.market, less.position, rich.lltv, rich.oracle_price) < 15 * 10**17


def test_morpho_safe_borrow_never_advises_a_repayment_the_contract_refuses() -> None:
    """At 1x (no debt wanted) the policy repays the whole debt, 135,803 units, which burns more
    shares by assets than owed: Morpho.repay reverts; the advice is the largest it accepts."""
    from levguard.defi import morpho
    from levguard.defi.health_target import safe_borrow

    spec = _ODD_SHARES | {"collateral": "0.00006"}
    pos = load_position(spec)
    assert isinstance(pos, MorphoPosition)
    s = safe_borrow(spec, 1.5, max_leverage=1.0)
    assert s.borrow_units == -135_802
    morpho.repay(pos.market, pos.position, assets=-s.borrow_units)  # accepted
