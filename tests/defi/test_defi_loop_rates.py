"""A loop's rates from the protocols' interest-rate models (levguard.defi.loop_rates): the APYs are
``levguard.defi.rates`` on the state the loop leaves, given rates win, and the golden points of the
protocols' own rate tests come out when the loop drives a reserve there."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.defi.wadray import percent_mul
from levguard.defi import rates
from levguard.defi.loops import loop_position
from levguard.defi.positions import AavePosition, MorphoPosition, load_position
from levguard.errors import InputError

E18 = 10**18
RAY = 10**27


def aave_spec(version: str = "3.3", **irm: Any) -> dict[str, Any]:
    return {
        "protocol": "aave-v3",
        "version": version,
        "emode_category": {"ltv": 0.93, "lt": 0.95, "bonus": 0.01},
        "reserves": [
            {"symbol": "wstETH", "price_usd": 3540, "decimals": 18, "ltv": 0.785, "lt": 0.81, "bonus": 0.06,
             "collateral": 10, "in_emode": True},
            {"symbol": "WETH", "price_usd": 3000, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05,
             "debt": 2, "in_emode": True},
        ],
        "irm": {
            "WETH": {"optimal_usage_ratio": 0.9, "base_variable_borrow_rate": 0, "variable_rate_slope1": 0.027,
                     "variable_rate_slope2": 0.8, "reserve_factor": 0.15, "total_debt": 900,
                     "available_liquidity": 150},
            "wstETH": {"optimal_usage_ratio": 0.8, "base_variable_borrow_rate": 0, "variable_rate_slope1": 0.045,
                       "variable_rate_slope2": 0.8, "reserve_factor": 0.15, "total_debt": 40,
                       "available_liquidity": 400},
        } | irm,
    }  # fmt: skip


def morpho_spec(**over: Any) -> dict[str, Any]:
    return {
        "protocol": "morpho-blue", "lltv": 0.945, "collateral": 10, "borrow": 0, "collateral_price": 3540,
        "loan_price": 3000, "collateral_decimals": 18, "loan_decimals": 18,
        "collateral_symbol": "wstETH", "loan_symbol": "WETH",
        "market": {"total_supply_assets": str(1_000 * E18), "total_supply_shares": str(1_000 * E18 * 10**6),
                   "total_borrow_assets": str(800 * E18), "total_borrow_shares": str(800 * E18 * 10**6)},
        "irm": {"rate_at_target": 0.03, "fee": 0.1},
    } | over  # fmt: skip


def _rate_data(row: dict[str, Any]) -> rates.AaveInterestRateData:
    return rates.AaveInterestRateData(
        optimal_usage_ratio=round(row["optimal_usage_ratio"] * 10_000),
        base_variable_borrow_rate=round(row["base_variable_borrow_rate"] * 10_000),
        variable_rate_slope1=round(row["variable_rate_slope1"] * 10_000),
        variable_rate_slope2=round(row["variable_rate_slope2"] * 10_000),
    )


def test_aave_rates_are_the_strategy_on_the_state_the_loop_leaves() -> None:
    spec = aave_spec()
    start = load_position(spec)
    r = loop_position(spec, target_leverage=6, swap_fee=0.0005)
    end = r.position
    assert isinstance(start, AavePosition)
    assert isinstance(end, AavePosition)
    assert r.rates is not None
    assert r.rates.rate_source == "irm"
    assert r.rates.rate_unit == "ray_per_year"
    borrowed = end.reserve("WETH").debt - start.reserve("WETH").debt
    supplied = end.reserve("wstETH").collateral - start.reserve("wstETH").collateral
    assert borrowed > 0
    assert supplied > 0
    weth, wsteth = spec["irm"]["WETH"], spec["irm"]["wstETH"]
    # As BorrowLogic.executeBorrow calls it for the last borrow: total debt after, liquidity taken.
    debt_after = rates.calculate_interest_rates_v2(
        _rate_data(weth), total_debt=900 * E18 + borrowed, virtual_underlying_balance=150 * E18,
        liquidity_taken=borrowed, reserve_factor=1500, version="3.3",
    )  # fmt: skip
    coll_after = rates.calculate_interest_rates_v2(
        _rate_data(wsteth), total_debt=40 * E18, virtual_underlying_balance=400 * E18,
        liquidity_added=supplied, reserve_factor=1500, version="3.3",
    )  # fmt: skip
    ex = r.rates.exact
    assert ex["borrow_rate"] == debt_after.current_variable_borrow_rate
    assert ex["debt_liquidity_rate"] == debt_after.current_liquidity_rate
    assert ex["debt_borrow_usage_ratio"] == debt_after.borrow_usage_ratio
    assert ex["supply_rate"] == coll_after.current_liquidity_rate
    assert ex["collateral_supply_usage_ratio"] == coll_after.supply_usage_ratio
    assert (ex["debt_total_debt"], ex["debt_available_liquidity"]) == (900 * E18 + borrowed, 150 * E18 - borrowed)
    assert r.rates.borrow_apy == rates.borrow_apy(debt_after.current_variable_borrow_rate, "ray_per_year")
    assert r.rates.supply_apy == rates.supply_apy(coll_after.current_liquidity_rate, "ray_per_year")
    assert r.rates.lender_apy == rates.supply_apy(debt_after.current_liquidity_rate, "ray_per_year")
    # The loop's own borrow raised the WETH rate, its supply lowered wstETH's.
    before = rates.calculate_interest_rates_v2(
        _rate_data(weth), total_debt=900 * E18, virtual_underlying_balance=150 * E18, reserve_factor=1500
    )
    assert r.rates.borrow_apy_before == rates.borrow_apy(before.current_variable_borrow_rate, "ray_per_year")
    assert r.rates.borrow_apy > r.rates.borrow_apy_before
    assert r.rates.supply_apy_before is not None
    assert r.rates.supply_apy < r.rates.supply_apy_before
    assert r.rates.debt_utilization == pytest.approx((900 + borrowed / E18) / 1_050, rel=1e-12)
    expected = (r.collateral_value * r.rates.supply_apy - r.debt_value * r.rates.borrow_apy) / r.equity
    assert r.net_rate == r.rates.net_apy == pytest.approx(expected, rel=1e-12)


def test_aave_30_uses_the_ray_strategy() -> None:
    spec = aave_spec("3.0")
    start = load_position(spec)
    r = loop_position(spec, steps=3)
    assert isinstance(start, AavePosition)
    assert isinstance(r.position, AavePosition)
    assert r.rates is not None
    borrowed = r.position.reserve("WETH").debt - start.reserve("WETH").debt
    strategy = rates.AaveRateStrategy(
        optimal_usage_ratio=9 * RAY // 10, base_variable_borrow_rate=0,
        variable_rate_slope1=27 * RAY // 1000, variable_rate_slope2=8 * RAY // 10,
    )  # fmt: skip
    after = rates.calculate_interest_rates(
        strategy, total_variable_debt=900 * E18 + borrowed, underlying_balance=150 * E18 - borrowed, reserve_factor=1500
    )
    assert r.rates.exact["borrow_rate"] == after.current_variable_borrow_rate


def test_aave_loop_draining_the_reserve_reaches_the_100_percent_point() -> None:
    """aave-v3-origin v3.3.0 tests/misc/rates/RateStrategy.calculateRates.t.sol
    ``test_calculate_rates_100_percent_usage``: variable = base + slope1 + slope2 and liquidity =
    percentMul(variable, 100 % - reserve factor), with the USDX data (80 %, 1 %, 4 %, 60 %).  A loop
    against a WETH reserve holding 1.5 WETH of liquidity borrows exactly that and stops there."""
    usdx = {"optimal_usage_ratio": 0.8, "base_variable_borrow_rate": 0.01, "variable_rate_slope1": 0.04,
            "variable_rate_slope2": 0.6, "reserve_factor": 0.1, "total_debt": 100, "available_liquidity": 1.5}  # fmt: skip
    r = loop_position(aave_spec(WETH=usdx), steps=10)
    assert r.stop_reason == "the WETH reserve's available liquidity is used up"
    assert sum(s.borrowed_units for s in r.steps) == 15 * 10**17
    assert r.rates is not None
    assert r.rates.exact["borrow_rate"] == 65 * RAY // 100
    assert r.rates.exact["debt_liquidity_rate"] == percent_mul(65 * RAY // 100, 9_000)
    assert r.rates.debt_utilization == 1.0


def test_aave_loop_landing_on_the_kink_gives_base_plus_slope1() -> None:
    """``test_calculate_rates_80_percent_usage`` (same file): at 80 % usage the variable rate is
    base + slope1 and the liquidity rate percentMul(percentMul(base + slope1, 80 %), 100 % - rf).
    The reserve's state is set so that the loop's own borrows bring it to exactly 80 %."""
    probe = loop_position(aave_spec(), steps=2)
    assert isinstance(probe.position, AavePosition)
    borrowed = probe.position.reserve("WETH").debt - 2 * E18
    total = 1_000 * E18
    debt, liquidity = 8 * total // 10 - borrowed, 2 * total // 10 + borrowed
    usdx = {"optimal_usage_ratio": 0.8, "base_variable_borrow_rate": 0.01, "variable_rate_slope1": 0.04,
            "variable_rate_slope2": 0.6, "reserve_factor": 0.15, "total_debt": f"{debt}e-18",
            "available_liquidity": f"{liquidity}e-18"}  # fmt: skip
    r = loop_position(aave_spec(WETH=usdx), steps=2)
    assert r.rates is not None
    assert r.rates.exact["debt_borrow_usage_ratio"] == 8 * RAY // 10
    assert r.rates.exact["borrow_rate"] == 5 * RAY // 100
    assert r.rates.exact["debt_liquidity_rate"] == percent_mul(percent_mul(5 * RAY // 100, 8_000), 8_500)


def test_morpho_rate_is_the_adaptive_curve_after_the_loop() -> None:
    spec = morpho_spec()
    r = loop_position(spec, target_leverage=6, swap_fee=0.0003, staking_yield=0.03)
    end = r.position
    assert isinstance(end, MorphoPosition)
    assert r.rates is not None
    rat = 3 * E18 // 100 // rates.SECONDS_PER_YEAR
    view = rates.adaptive_curve_borrow_rate(end.market, rat, 0)
    assert r.rates.exact["borrow_rate"] == view.avg_borrow_rate == rates.borrow_rate_view(end.market, rat, 0)
    assert r.rates.exact["utilization"] == view.utilization
    assert view.utilization > 8 * 10**17  # the loop's borrow raised it from 80 %
    assert r.rates.borrow_apy == rates.borrow_apy(view.avg_borrow_rate, "wad_per_second")
    assert r.rates.borrow_apy == pytest.approx(math.expm1(view.avg_borrow_rate * rates.SECONDS_PER_YEAR / 1e18))
    assert r.rates.borrow_apy > r.rates.borrow_apy_before  # type: ignore[operator]
    assert r.rates.supply_apy == 0.0  # Morpho Blue does not lend collateral
    assert r.rates.lender_apy == pytest.approx(r.rates.borrow_apy * view.utilization / 1e18 * 0.9, rel=1e-12)
    expected = (r.collateral_value * 0.03 - r.debt_value * r.rates.borrow_apy) / r.equity
    assert r.net_rate == pytest.approx(expected, rel=1e-12)


def test_morpho_loop_draining_the_market_prices_at_four_times_the_target() -> None:
    """morpho-blue-irm test/AdaptiveCurveIrmTest.sol ``testFirstBorrowRateUtilizationOne``: a market
    at 100 % utilisation on its first interaction borrows at INITIAL_RATE_AT_TARGET * 4."""
    market = {"total_supply_assets": str(20 * E18), "total_supply_shares": str(20 * E18 * 10**6),
              "total_borrow_assets": str(10 * E18), "total_borrow_shares": str(10 * E18 * 10**6)}  # fmt: skip
    r = loop_position(morpho_spec(market=market, irm={"rate_at_target_per_second": 0}), target_leverage=8)
    assert r.stop_reason == "the market's liquidity is used up"
    assert r.rates is not None
    assert r.rates.exact["utilization"] == E18
    assert r.rates.exact["borrow_rate"] == rates.INITIAL_RATE_AT_TARGET * 4


def test_given_rates_win_and_say_so() -> None:
    both = loop_position(aave_spec(), steps=2, supply_rate=0.01, borrow_rate=0.02)
    assert both.rates is not None
    assert (both.rates.rate_source, both.rates.supply_apy, both.rates.borrow_apy) == ("input", 0.01, 0.02)
    assert both.rates.exact == {}
    assert both.rates.borrow_apy_before is None
    one = loop_position(aave_spec(), steps=2, borrow_rate=0.02)
    model = loop_position(aave_spec(), steps=2)
    assert one.rates is not None
    assert model.rates is not None
    assert one.rates.rate_source == "mixed"
    assert (one.rates.borrow_apy, one.rates.supply_apy) == (0.02, model.rates.supply_apy)
    plain = aave_spec()
    del plain["irm"]
    assert loop_position(plain, steps=2).rates is None  # no model, no rates: no net rate
    assert loop_position(plain, steps=2, borrow_rate=0.02).net_rate is None


def test_staking_yield_adds_to_the_collateral_side() -> None:
    base = loop_position(aave_spec(), steps=3)
    staked = loop_position(aave_spec(), steps=3, staking_yield=0.03)
    assert base.net_rate is not None
    assert staked.net_rate is not None
    assert staked.net_rate - base.net_rate == pytest.approx(0.03 * staked.collateral_value / staked.equity, rel=1e-9)
    section = aave_spec() | {"loop": {"steps": 3, "staking_yield": 0.03}}
    from levguard.defi.loops import loop_options

    assert loop_position(section, **loop_options(section)).net_rate == staked.net_rate


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (aave_spec(wstETH=None), "irm.wstETH must be a mapping"),
        ({**aave_spec(), "irm": {"WETH": aave_spec()["irm"]["WETH"]}},
         "irm has no state for the collateral reserve 'wstETH': add irm.wstETH or give supply_rate"),
        (aave_spec(WETH=aave_spec()["irm"]["WETH"] | {"variable_rate_slope1": 0.02705}),
         r"irm.WETH.variable_rate_slope1 must be whole basis points"),
        (aave_spec(WETH=aave_spec()["irm"]["WETH"] | {"optimal_usage_ratio": 0.995}),
         r"irm.WETH: INVALID_OPTIMAL_USAGE_RATIO \(83\)"),
        (aave_spec(WETH=aave_spec()["irm"]["WETH"] | {"total_debt": 1}),
         r"irm.WETH.total_debt must include the position's own debt"),
        (aave_spec(WETH={"optimal_usage_ratio": 0.9}), r"irm.WETH is missing \['base_variable_borrow_rate'"),
        (aave_spec(WETH=aave_spec()["irm"]["WETH"] | {"slope": 1}), r"irm.WETH has unknown fields \['slope'\]"),
        (aave_spec(DAI={}), r"symbol 'DAI' is not among the reserves"),
        (aave_spec("3.0", WETH=aave_spec()["irm"]["WETH"] | {"optimal_usage_ratio": 0}),
         r"irm.WETH.optimal_usage_ratio must be in \(0, 1\]"),
        (morpho_spec(market=None), "irm needs the market's totals"),
        (morpho_spec(irm={"rate_at_target": 3}), r"irm.rate_at_target must be 0 \(a new market\) or within"),
        (morpho_spec(irm={"rate_at_target": 0.03, "rate_at_target_per_second": 1}), "irm needs one of"),
        (morpho_spec(irm={"rate_at_target": 0.03, "fee": 0.3}), r"irm.fee must be at most 0.25"),
        (morpho_spec(irm={"rate_at_target": 0.03, "kink": 1}), r"irm has unknown fields \['kink'\]"),
        (morpho_spec(irm=[1]), "irm must be a mapping"),
    ],
)  # fmt: skip
def test_bad_irm_sections_name_the_field(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        loop_position(spec, steps=2)


def test_bad_staking_yield_is_refused() -> None:
    with pytest.raises(InputError, match=r"staking_yield must be in \(-1, 100\]"):
        loop_position(aave_spec(), steps=1, staking_yield=101)


@settings(max_examples=25, deadline=None)
@given(
    debt=st.integers(1, 2_000),
    liquidity=st.integers(0, 2_000),
    coll_liquidity=st.integers(0, 2_000),
    slope1=st.integers(0, 900),
    extra=st.integers(0, 5_000),
    optimal=st.integers(1_00, 99_00),
    steps=st.integers(1, 6),
)
def test_model_rates_equal_the_strategy_and_move_with_utilisation(
    debt: int, liquidity: int, coll_liquidity: int, slope1: int, extra: int, optimal: int, steps: int
) -> None:
    """For any reserve state: the loop never takes more than the liquidity, its borrow rate is
    the strategy's at the end state, the borrow APY never falls and the collateral's supply APY
    never rises (borrowing raises the debt reserve's usage, supplying lowers the collateral's)."""
    row = {"optimal_usage_ratio": optimal / 10_000, "base_variable_borrow_rate": 0.01,
           "variable_rate_slope1": slope1 / 10_000, "variable_rate_slope2": (slope1 + extra) / 10_000,
           "reserve_factor": 0.1}  # fmt: skip
    spec = aave_spec(
        WETH=row | {"total_debt": debt + 2, "available_liquidity": liquidity},
        wstETH=row | {"total_debt": debt, "available_liquidity": coll_liquidity},
    )
    r = loop_position(spec, steps=steps)
    assert isinstance(r.position, AavePosition)
    assert r.rates is not None
    borrowed = r.position.reserve("WETH").debt - 2 * E18
    assert borrowed <= liquidity * E18
    direct = rates.calculate_interest_rates_v2(
        _rate_data(row), total_debt=(debt + 2) * E18 + borrowed, virtual_underlying_balance=liquidity * E18 - borrowed,
        reserve_factor=1000,
    )  # fmt: skip
    assert r.rates.exact["borrow_rate"] == direct.current_variable_borrow_rate
    assert r.rates.borrow_apy >= r.rates.borrow_apy_before  # type: ignore[operator]
    assert r.rates.supply_apy <= r.rates.supply_apy_before  # type: ignore[operator]


def test_other_collateral_and_debt_count_at_zero_in_the_net_apy() -> None:
    # The packaged Aave sample loops WETH against USDC beside 30,000 USD of WBTC.  The net APY put
    # WETH's supply rate on the WBTC too (-9.63 % where -12.03 % holds; an audit): only the looped
    # reserves earn and pay, the rest counts in the equity at 0.
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "src" / "levguard" / "resources" / "samples" / "defi_aave.yaml"
    from levguard.defi.loops import loop_options

    r = loop_position(str(sample), **{**loop_options(str(sample)), "supply_rate": 0.02, "borrow_rate": 0.06})
    assert r.rates is not None
    assert (r.rates.other_collateral_value, r.rates.other_debt_value) == pytest.approx((30_000.0, 0.0))
    looped = r.collateral_value - r.rates.other_collateral_value
    assert r.net_rate == pytest.approx((looped * 0.02 - r.debt_value * 0.06) / r.equity, rel=1e-9)
    single = loop_position(aave_spec(), steps=2, supply_rate=0.02, borrow_rate=0.06)  # nothing else held
    assert single.rates is not None
    assert (single.rates.other_collateral_value, single.rates.other_debt_value) == (0.0, 0.0)
    assert single.net_rate == pytest.approx(
        (single.collateral_value * 0.02 - single.debt_value * 0.06) / single.equity, rel=1e-9
    )
