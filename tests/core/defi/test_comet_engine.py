"""Unit tests of the Compound III engine: validation, reverts and the contract's rounding edges.

Contract references are to compound-finance/comet at commit d5a30b0a (``contracts/Comet.sol``,
``CometCore.sol``, ``CometMath.sol``); the numbers are worked out by hand.
"""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from levguard.core.defi.comet import (
    BASE_INDEX_SCALE,
    FACTOR_SCALE,
    PANIC_ARITHMETIC,
    PANIC_DIVISION_BY_ZERO,
    SECONDS_PER_YEAR,
    AssetInfo,
    Comet,
    CometAccount,
    CometError,
    InterestRateModel,
    absorb,
    accrue,
    balance_of,
    borrow_balance_of,
    buy_collateral,
    get_borrow_rate,
    get_collateral_reserves,
    get_reserves,
    get_supply_rate,
    is_borrow_collateralized,
    is_liquidatable,
    present_value,
    principal_value,
    quote_collateral,
)
from levguard.errors import InputError

E14 = 10**14


def asset(offset: int = 0, name: str = "ETH", price: int = 2000 * 10**8, scale: int = 10**18, **kw: int) -> AssetInfo:
    factors = {"borrow_collateral_factor": 8000 * E14, "liquidate_collateral_factor": 8500 * E14}
    factors["liquidation_factor"] = 9300 * E14
    factors.update(kw)
    return AssetInfo(offset=offset, asset=name, price=price, scale=scale, **factors)


def market(*assets: AssetInfo, **fields: object) -> Comet:
    base: dict[str, object] = {"base_token": "USDC", "base_decimals": 6, "base_price": 10**8}
    base["assets"] = assets or (asset(),)
    base.update(fields)
    return Comet(**base)  # type: ignore[arg-type]


def name_of(info: pytest.ExceptionInfo[CometError]) -> tuple[str, str]:
    return info.value.name, info.value.code


# --- records -----------------------------------------------------------------------------------------


def test_asset_info_from_config_truncates_to_four_decimals_and_whole_units() -> None:
    info = AssetInfo.from_config(0, "WETH", 3000 * 10**8, 18, 825 * 10**15 + 12345, 895 * 10**15 + 1, 95 * 10**16 - 1)
    assert (info.borrow_collateral_factor, info.liquidate_collateral_factor) == (8250 * E14, 8950 * E14)
    assert info.liquidation_factor == 9499 * E14  # 0.95e18 - 1 truncates down
    assert info.scale == 10**18
    capped = AssetInfo.from_config(0, "WBTC", 1, 8, 1, 2 * E14, 0, supply_cap=12_345 * 10**8 + 99)
    assert capped.supply_cap == 12_345 * 10**8


@pytest.mark.parametrize(
    ("borrow", "liquidate", "name"),
    [
        (9 * 10**17, 9 * 10**17, "BorrowCFTooLarge"),
        (80005 * 10**13, 80009 * 10**13, "BorrowCFTooLarge"),  # equal once truncated to 4 decimals
        (9 * 10**17, FACTOR_SCALE + 1, "LiquidateCFTooLarge"),
    ],
)
def test_asset_info_from_config_reverts_like_the_constructor(borrow: int, liquidate: int, name: str) -> None:
    with pytest.raises(CometError) as info:
        AssetInfo.from_config(0, "X", 1, 18, borrow, liquidate, FACTOR_SCALE)
    assert name_of(info) == (name, "")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"borrow_collateral_factor": 8000 * E14 + 1}, "multiple of 1e14"),
        ({"scale": 12}, "10**decimals"),
        ({"price": True}, "ETH.price must be an integer"),
        ({"liquidation_factor": -1}, "ETH.liquidation_factor must be an integer in the uint64 range, was -1"),
        ({"offset": 256}, "ETH.offset must be an integer in the uint8 range, was 256"),
    ],
)
def test_asset_info_rejects_values_get_asset_info_cannot_return(kw: dict[str, int], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("*", r"\*")):
        asset(**kw)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"base_decimals": 5}, "BadDecimals"),
        ({"base_decimals": 19}, "BadDecimals"),
        ({"store_front_price_factor": FACTOR_SCALE + 1}, "BadDiscount"),
        ({"base_min_for_rewards": 0}, "BadMinimum"),
        ({"assets": tuple(asset(i, f"A{i}") for i in range(25))}, "TooManyAssets"),
    ],
)
def test_comet_applies_the_constructor_sanity_checks(fields: dict[str, object], name: str) -> None:
    with pytest.raises(CometError) as info:
        market(**fields)
    assert name_of(info) == (name, "")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"assets": (asset(1),)}, r"assets\[0\].offset must be 0"),
        ({"assets": (asset(0, "A"), asset(1, "A"))}, "unique"),
        ({"assets": (asset(0, "USDC"),)}, "differ from base_token"),
        ({"accounts": {"a": CometAccount(collateral={"BTC": 1})}}, "no listed asset"),
        ({"totals_collateral": {"BTC": 1}}, "totals_collateral has keys"),
        ({"base_borrow_index": BASE_INDEX_SCALE - 1}, "base_borrow_index must be >= 1e15"),
        ({"total_borrow_base": 2**104}, "total_borrow_base must be an integer in the uint104 range"),
        ({"last_accrual_time": -1}, "last_accrual_time"),
        ({"accounts": {"a": 1}}, "accounts must map str to CometAccount"),
        ({"tracking_index_scale": 0}, "tracking_index_scale must be >= 1"),
    ],
)
def test_comet_rejects_states_no_deployment_holds(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        market(**fields)


def test_comet_account_bounds_are_the_storage_types() -> None:
    CometAccount(principal=-(2**103))
    with pytest.raises(InputError, match="int104"):
        CometAccount(principal=2**103)
    with pytest.raises(InputError, match="uint128"):
        CometAccount(collateral={"ETH": 2**128})
    with pytest.raises(InputError, match="uint24"):
        CometAccount(assets_in=2**24)


def test_interest_rate_model_from_per_year_divides_down() -> None:
    m = InterestRateModel.from_per_year(8 * 10**17, 4 * 10**16, 0, 0, 9 * 10**17, 0, 0, 10**16)
    assert m.supply_per_second_interest_rate_slope_low == 4 * 10**16 // SECONDS_PER_YEAR == 1_268_391_679
    assert m.borrow_per_second_interest_rate_base == 317_097_919
    assert m.borrow_kink == 9 * 10**17


def test_comet_error_carries_the_revert_and_pickles() -> None:
    err = CometError("Panic", "x", PANIC_ARITHMETIC)
    assert isinstance(err, InputError)
    assert str(err) == "Comet reverts: Panic(0x11) (x)"
    again = pickle.loads(pickle.dumps(err))
    assert (again.name, again.code, again.detail) == ("Panic", "0x11", "x")
    assert str(CometError("NotForSale")) == "Comet reverts: NotForSale()"
    with pytest.raises(ValueError, match="unknown Comet error"):
        CometError("NoSuchError")


def test_results_serialise_to_json() -> None:
    comet = market(
        accounts={"a": CometAccount(-(10**9), {"ETH": 10**17})},
        total_borrow_base=10**9,
        totals_collateral={"ETH": 10**17},
    )
    result = absorb(comet, ["a"])
    data = json.loads(json.dumps(result.to_dict()))
    assert data["absorptions"][0]["collateral"][0] == {
        "asset": "ETH",
        "collateral_absorbed": 10**17,
        "usd_value": 200 * 10**8,
    }
    assert data["comet"]["accounts"]["a"]["principal"] == 0


# --- present and principal value ------------------------------------------------------------------------


def test_present_and_principal_value_round_as_comet_core() -> None:
    comet = market(base_supply_index=15 * 10**14, base_borrow_index=15 * 10**14)
    assert principal_value(comet, 10) == 6  # floor(10 / 1.5): the supplier gets less
    assert principal_value(comet, -10) == -7  # ceil(10 / 1.5): the borrower owes more
    assert present_value(comet, 6) == 9
    assert present_value(comet, -7) == -10  # floor(7 * 1.5)
    assert present_value(comet, 0) == principal_value(comet, 0) == 0


def test_principal_value_reverts_past_int104() -> None:
    comet = market()
    assert principal_value(comet, 2**103 - 1) == 2**103 - 1
    with pytest.raises(CometError) as info:
        principal_value(comet, 2**103)  # fits uint104, not int104
    assert name_of(info) == ("InvalidInt104", "")
    with pytest.raises(CometError) as info:
        principal_value(comet, 2**104)
    assert name_of(info) == ("InvalidUInt104", "")
    with pytest.raises(CometError) as info:
        present_value(comet, -(2**103))  # -principal overflows int104
    assert name_of(info) == ("Panic", PANIC_ARITHMETIC)


# --- collateralization ---------------------------------------------------------------------------------


def test_debt_value_truncates_toward_zero() -> None:
    # signedMulPrice(-1, 99_999_999, 1e6) = -99 (Solidity truncates), not -100 (floor); one unit of
    # a 0-decimal collateral at 100 price units is worth mulFactor(100, 0.9999e18) = 99 to borrow.
    coin = asset(price=100, scale=1, borrow_collateral_factor=9999 * E14, liquidate_collateral_factor=FACTOR_SCALE)
    comet = market(coin, base_price=99_999_999, accounts={"a": CometAccount(-1, {"ETH": 1})})
    assert is_borrow_collateralized(comet, "a")  # liquidity -99 + 99 = 0
    assert not is_liquidatable(comet, "a")


def test_prices_are_read_only_when_needed() -> None:
    bad = asset(1, "BAD", price=0)
    comet = market(asset(), bad, base_price=10**8, accounts={"a": CometAccount(-(10**9), {"ETH": 10**18, "BAD": 1})})
    # ETH alone covers the debt: the loop returns before it reads BAD's feed.
    assert is_borrow_collateralized(comet, "a")
    assert not is_liquidatable(comet, "a")
    poor = dataclasses.replace(comet, accounts={"a": CometAccount(-(10**10), {"ETH": 10**18, "BAD": 1})})
    with pytest.raises(CometError) as info:
        is_liquidatable(poor, "a")
    assert name_of(info) == ("BadPrice", "")
    no_base_price = market(base_price=-5, accounts={"s": CometAccount(10)})
    assert not is_liquidatable(no_base_price, "s")  # no debt: the base price is not read
    with pytest.raises(CometError) as info:
        is_borrow_collateralized(dataclasses.replace(no_base_price, accounts={"s": CometAccount(-1)}), "s")
    assert name_of(info) == ("BadPrice", "")


def test_stored_assets_in_decides_which_collateral_counts() -> None:
    held = CometAccount(-(10**9), {"ETH": 10**18})
    comet = market(accounts={"a": held})
    assert comet.assets_in("a") == 1
    assert not is_liquidatable(comet, "a")
    hidden = dataclasses.replace(comet, accounts={"a": dataclasses.replace(held, assets_in=0)})
    assert is_liquidatable(hidden, "a")  # the balance is not in assetsIn: it does not count
    after = absorb(dataclasses.replace(hidden, total_borrow_base=10**9), ["a"]).comet
    assert dict(after.accounts["a"].collateral) == {"ETH": 10**18}  # not seized either
    assert after.accounts["a"].assets_in == 0


# --- absorb ----------------------------------------------------------------------------------------------


def test_absorb_the_same_account_twice_reverts() -> None:
    comet = market(accounts={"a": CometAccount(-100)}, total_borrow_base=100)
    with pytest.raises(CometError) as info:
        absorb(comet, ["a", "a"])
    assert name_of(info) == ("NotLiquidatable", "")
    with pytest.raises(InputError, match="not one str"):
        absorb(comet, "a")


def test_absorb_accrues_first_and_settles_reward_tracking() -> None:
    rates = InterestRateModel(borrow_per_second_interest_rate_base=10**12)  # 1e-6 per second
    comet = market(
        accounts={"a": CometAccount(-(10**6), base_tracking_index=2 * 10**15)},
        total_borrow_base=10**6,
        tracking_borrow_index=5 * 10**15,
        tracking_supply_index=7 * 10**15,
        rates=rates,
        last_accrual_time=1000,
    )
    result = absorb(comet, ["a"], now=1100)
    after = result.comet
    # 100 s at 1e-6/s: borrow index 1e15 + mulFactor(1e15, 1e14) = 1.0001e15, debt 1_000_100.
    assert after.base_borrow_index == 1_000_100_000_000_000
    assert result.absorptions[0].base_paid_out == 1_000_100
    acc = after.accounts["a"]
    # updateBasePrincipal: 1e6 * (5e15 - 2e15) / 1e15 / (1e6 / 1e6) = 3e6; new index: supply side.
    assert (acc.base_tracking_accrued, acc.base_tracking_index) == (3 * 10**6, 7 * 10**15)
    assert after.last_accrual_time == 1100


def test_absorb_reverts_when_collateral_totals_are_short() -> None:
    comet = market(accounts={"a": CometAccount(-(10**10), {"ETH": 10**18})}, total_borrow_base=10**10)
    with pytest.raises(CometError) as info:  # totalsCollateral 0 - 1e18 underflows
        absorb(comet, ["a"])
    assert name_of(info) == ("Panic", PANIC_ARITHMETIC)


# --- store front, reserves, accrual -------------------------------------------------------------------------


def test_quote_collateral_reverts_on_unlisted_assets_and_bad_factors() -> None:
    comet = market()
    for key in ("BTC", "USDC"):
        with pytest.raises(CometError) as info:
            quote_collateral(comet, key, 1)
        assert name_of(info) == ("BadAsset", "")
    boosted = market(asset(liquidation_factor=11_000 * E14))  # packed factors may exceed 1
    with pytest.raises(CometError) as info:
        quote_collateral(boosted, "ETH", 1)
    assert name_of(info) == ("Panic", PANIC_ARITHMETIC)
    dust = market(asset(price=1, liquidation_factor=0))  # mulFactor(1, 0) = 0: division by zero
    with pytest.raises(CometError) as info:
        quote_collateral(dust, "ETH", 1)
    assert name_of(info) == ("Panic", PANIC_DIVISION_BY_ZERO)
    with pytest.raises(InputError, match="base_amount"):
        quote_collateral(comet, "ETH", -1)


def test_buy_collateral_books_the_trade() -> None:
    comet = market(store_front_price_factor=5 * 10**17, target_reserves=10**12, collateral_balances={"ETH": 10**18})
    # discount 0.5 * 0.07 = 0.035: 1,930 USDC buy 1 ETH at 2,000 USD.
    assert quote_collateral(comet, "ETH", 1930 * 10**6) == 10**18
    result = buy_collateral(comet, "ETH", 10**18, 1930 * 10**6)
    assert (result.collateral_amount, result.comet.base_balance) == (10**18, 1930 * 10**6)
    assert get_collateral_reserves(result.comet, "ETH") == 0
    with pytest.raises(InputError, match="base_amount_received"):
        buy_collateral(comet, "ETH", 0, 10, base_amount_received=11)


def test_collateral_reserves_below_zero_revert() -> None:
    comet = market(totals_collateral={"ETH": 10}, collateral_balances={"ETH": 9})
    with pytest.raises(CometError) as info:
        get_collateral_reserves(comet, "ETH")
    assert name_of(info) == ("Panic", PANIC_ARITHMETIC)


def test_time_must_move_forward_and_fit_uint40() -> None:
    comet = market(last_accrual_time=1000)
    for call in (lambda: accrue(comet, 999), lambda: get_reserves(comet, 999)):
        with pytest.raises(CometError) as info:
            call()
        assert name_of(info) == ("Panic", PANIC_ARITHMETIC)
    with pytest.raises(CometError) as info:
        get_reserves(comet, 2**40)
    assert name_of(info) == ("TimestampTooLarge", "")
    assert accrue(comet, 1000) is comet


def test_balances_use_the_indexes_accrued_to_now() -> None:
    rates = InterestRateModel(
        supply_per_second_interest_rate_base=10**11, borrow_per_second_interest_rate_base=2 * 10**11
    )
    comet = market(
        accounts={"s": CometAccount(10**9), "b": CometAccount(-(10**9))},
        total_supply_base=10**9,
        total_borrow_base=10**9,
        rates=rates,
    )
    assert (balance_of(comet, "s"), borrow_balance_of(comet, "s")) == (10**9, 0)
    # 1000 s: supply index + mulFactor(1e15, 1e14) = 1.0001e15, borrow 1.0002e15.
    assert balance_of(comet, "s", now=1000) == 1_000_100_000
    assert borrow_balance_of(comet, "b", now=1000) == 1_000_200_000
    assert (balance_of(comet, "b", now=1000), borrow_balance_of(comet, "nobody", now=1000)) == (0, 0)


def test_absorb_credits_collateral_at_the_liquidation_factor() -> None:
    # 1 ETH at 1,100 USD against 1,000 USDC: 935 at the liquidate CF 0.85 does not cover the debt;
    # absorb credits 1,100 * 0.93 = 1,023 USDC: the debt is repaid and 23 USDC become a supply.
    comet = market(
        asset(price=1100 * 10**8),
        accounts={"a": CometAccount(-1000 * 10**6, {"ETH": 10**18})},
        total_borrow_base=1000 * 10**6,
        totals_collateral={"ETH": 10**18},
    )
    result = absorb(comet, ["a"])
    (a,) = result.absorptions
    assert (a.collateral[0].usd_value, a.delta_value, a.delta_balance) == (1100 * 10**8, 1023 * 10**8, 1023 * 10**6)
    assert (a.base_paid_out, a.usd_value, a.new_principal, a.transfer_amount) == (
        1023 * 10**6,
        1023 * 10**8,
        23 * 10**6,
        23 * 10**6,
    )
    assert (result.comet.total_supply_base, result.comet.total_borrow_base) == (23 * 10**6, 0)


def test_supply_and_borrow_rates_use_their_own_kinks() -> None:
    rates = InterestRateModel(
        supply_kink=5 * 10**17,
        supply_per_second_interest_rate_slope_low=10**9,
        supply_per_second_interest_rate_slope_high=10**10,
        borrow_kink=9 * 10**17,
        borrow_per_second_interest_rate_slope_low=2 * 10**9,
        borrow_per_second_interest_rate_slope_high=10**11,
        borrow_per_second_interest_rate_base=10**8,
    )
    comet = market(rates=rates)
    u = 7 * 10**17
    # supply above its kink: 1e9 * 0.5 + 1e10 * 0.2; borrow below its kink: 1e8 + 2e9 * 0.7.
    assert get_supply_rate(comet, u) == 5 * 10**8 + 2 * 10**9
    assert get_borrow_rate(comet, u) == 10**8 + 14 * 10**8
    with pytest.raises(CometError) as info:  # past uint64
        get_borrow_rate(comet, 2**200)
    assert name_of(info) == ("InvalidUInt64", "")


def test_the_public_compound_module_re_exports_the_engine_and_its_example_runs() -> None:
    import doctest

    import levguard.core.defi.comet as engine
    from levguard.defi import compound

    for name in ("is_liquidatable", "is_borrow_collateralized", "absorb", "quote_collateral", "buy_collateral"):
        assert getattr(compound, name) is getattr(engine, name)
    assert compound.get_reserves is engine.get_reserves
    assert set(compound.__all__) <= set(engine.__all__)
    result = doctest.testmod(compound)
    assert (result.failed, result.attempted) == (0, 8)
