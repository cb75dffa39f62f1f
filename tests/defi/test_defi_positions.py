"""Position specs in human units convert exactly to contract units, or are refused naming the field."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.defi.aave import AaveReserve, EModeCategory, get_user_account_data
from levguard.defi.morpho import Market, Position, to_assets_up
from levguard.defi.positions import (
    AavePosition,
    MorphoPosition,
    bps,
    load_position,
    oracle_price_from,
    parse_number,
    to_units,
)
from levguard.errors import InputError

E18 = 10**18


def aave_spec(**top: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "protocol": "aave-v3",
        "reserves": [
            {"symbol": "WETH", "price_usd": 3000.5, "decimals": 18, "ltv": 0.805, "lt": 0.83, "bonus": 0.05,
             "protocol_fee": 0.1, "collateral": "10.123456789012345678"},
            {"symbol": "USDC", "price_usd": "0.99987654", "decimals": 6, "ltv": 0.75, "lt": 0.78, "bonus": 0.045,
             "debt": 12345.678901},
        ],
    }  # fmt: skip
    spec.update(top)
    return spec


def morpho_spec(**top: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "protocol": "morpho-blue",
        "lltv": 0.86,
        "collateral": 10,
        "borrow": 20_000.5,
        "collateral_price": 3_000,
        "loan_price": 1,
        "collateral_decimals": 18,
        "loan_decimals": 6,
        "collateral_symbol": "WETH",
        "loan_symbol": "USDC",
    }
    spec.update(top)
    return spec


def test_aave_spec_converts_exactly() -> None:
    pos = load_position(aave_spec(version=3.2))
    assert isinstance(pos, AavePosition)
    assert pos.version == "3.2"  # YAML reads 3.2 as a float
    weth, usdc = pos.reserves
    assert weth == AaveReserve(
        symbol="WETH", price=300_050_000_000, decimals=18, ltv=8050, lt=8300, collateral=10_123_456_789_012_345_678,
        liquidation_bonus=10_500, liquidation_protocol_fee=1000,
    )  # fmt: skip
    assert usdc.price == 99_987_654
    assert usdc.debt == 12_345_678_901
    assert usdc.liquidation_bonus == 10_450
    assert pos.emode_category is None


def test_aave_emode_and_flags() -> None:
    spec = aave_spec(emode_category={"ltv": 0.93, "lt": 0.95, "bonus": 0.01, "label": "ETH correlated"})
    spec["reserves"][0].update(in_emode=True, debt_ceiling_usd=1_000_000.5, use_as_collateral=True)
    pos = load_position(spec)
    assert isinstance(pos, AavePosition)
    assert pos.emode_category == EModeCategory(ltv=9300, lt=9500, liquidation_bonus=10_100)
    assert pos.emode_label == "ETH correlated"
    assert pos.reserves[0].in_emode
    assert pos.reserves[0].use_as_collateral is True
    assert pos.reserves[0].debt_ceiling == 100_000_050  # 0.01 USD units (DEBT_CEILING_DECIMALS)


def test_morpho_spec_converts_exactly() -> None:
    pos = load_position(morpho_spec())
    assert isinstance(pos, MorphoPosition)
    assert pos.lltv == 86 * 10**16
    assert pos.oracle_price == 3_000 * 10**24  # 1e36 * 3000 * 1e6 / 1e18
    assert pos.position == Position(20_000_500_000 * 10**6, 10 * E18)
    m = pos.market
    assert m == Market(20_000_500_000, 20_000_500_000 * 10**6, 20_000_500_000, 20_000_500_000 * 10**6)
    # The position owes exactly what it borrowed.
    assert to_assets_up(pos.position.borrow_shares, m.total_borrow_assets, m.total_borrow_shares) == 20_000_500_000
    assert not pos.market_given
    assert pos.price_scale == 10**24


def test_morpho_oracle_price_floors_like_the_oracle() -> None:
    # 1e36 * 1/3 * 1e6/1e18 = 3.33...e23 -> floored.
    assert oracle_price_from(Decimal(1), Decimal(3), 18, 6) == 10**24 // 3
    pos = load_position(morpho_spec(collateral_price=3540, loan_price=3000, loan_decimals=18))
    assert isinstance(pos, MorphoPosition)
    assert pos.oracle_price == 118 * 10**34  # 1.18 exactly
    spec = morpho_spec(oracle_price=str(3_000 * 10**24))
    del spec["collateral_price"], spec["loan_price"]
    given = load_position(spec)
    assert isinstance(given, MorphoPosition)
    assert given.oracle_price == 3_000 * 10**24
    assert given.loan_price_usd is None


def test_morpho_with_market_totals_converts_the_borrow_as_borrow_does() -> None:
    market = {"total_supply_assets": 10**12, "total_supply_shares": 10**18,
              "total_borrow_assets": 8 * 10**11, "total_borrow_shares": 7 * 10**17}  # fmt: skip
    pos = load_position(morpho_spec(market=market, borrow=1_000))
    assert isinstance(pos, MorphoPosition)
    assert pos.market_given
    m = pos.market
    shares = pos.position.borrow_shares
    # toSharesUp(1000e6, 8e11, 7e17) = ceil(1e9 * (7e17 + 1e6) / (8e11 + 1))
    assert shares == -(-(10**9) * (7 * 10**17 + 10**6) // (8 * 10**11 + 1))
    assert to_assets_up(shares, m.total_borrow_assets, m.total_borrow_shares) >= 10**9
    spec = morpho_spec(market=market, borrow_shares=str(shares))
    del spec["borrow"]
    by_shares = load_position(spec)
    assert isinstance(by_shares, MorphoPosition)
    assert by_shares.position == pos.position


def test_spec_file_yaml_and_json(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "protocol: aave-v3\nversion: 3.0\nreserves:\n"
        "  - {symbol: WETH, price_usd: 1800, decimals: 18, ltv: 0.8, lt: 0.825, collateral: 1.5}\n",
        encoding="utf-8",
    )
    pos = load_position(path)
    assert isinstance(pos, AavePosition)
    assert pos.version == "3.0"
    assert pos.reserves[0].collateral == 15 * 10**17
    assert load_position(str(path)) == pos
    assert load_position(pos) is pos


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda s: s["reserves"][0].update(collateral="1.0000000000000000001"),
            r"reserves\[0\]\.collateral .*18 decimals",
        ),
        (lambda s: s["reserves"][1].update(debt=0.0000001), r"reserves\[1\]\.debt .*6 decimals"),
        (lambda s: s["reserves"][0].update(price_usd=3000.123456789), r"reserves\[0\]\.price_usd .*8 decimals"),
        (lambda s: s["reserves"][0].update(ltv=0.80005), r"reserves\[0\]\.ltv must be whole basis points"),
        (lambda s: s["reserves"][0].update(lt=1.2), r"reserves\[0\]\.lt must be a fraction in \[0, 1\]"),
        (lambda s: s["reserves"][0].update(collateral=-1), r"reserves\[0\]\.collateral must be >= 0"),
        (lambda s: s["reserves"][0].update(collateral="ten"), r"reserves\[0\]\.collateral must be a number"),
        (lambda s: s["reserves"][0].update(collateral=True), r"reserves\[0\]\.collateral must be a number"),
        (lambda s: s["reserves"][0].update(collateral=float("nan")), r"reserves\[0\]\.collateral must be finite"),
        (lambda s: s["reserves"][0].update(decimals=40), r"reserves\[0\]\.decimals must be an integer"),
        (lambda s: s["reserves"][0].update(colateral=1), r"reserves\[0\] has unknown fields \['colateral'\]"),
        (lambda s: s["reserves"][0].pop("lt"), r"reserves\[0\] is missing \['lt'\]"),
        (lambda s: s["reserves"][0].update(ltv=0.9), r"WETH\.ltv must be <= lt"),
        (lambda s: s["reserves"][1].update(symbol="WETH"), r"symbols must be unique"),
        (lambda s: s["reserves"][0].update(in_emode="yes"), r"reserves\[0\]\.in_emode must be true or false"),
        (lambda s: s.update(version="3.4"), r"version must be one of"),
        (lambda s: s.update(version=10**42), r"version must be one of .*, was '1000000000"),  # was OverflowError
        (lambda s: s.update(reserves=[]), r"reserves must be a non-empty list"),
        (lambda s: s.update(emode_category={"ltv": 0.9}), r"emode_category is missing \['lt', 'bonus'\]"),
        (lambda s: s.update(protocol="compound"), r"protocol must be one of"),
        (lambda s: s.update(extra=1), r"aave-v3 spec has unknown fields \['extra'\]"),
        # each fits uint256 alone; the contract's amount x price does not (was a bare Panic 0x11 message)
        (lambda s: s["reserves"][1].update(debt=1e70), r"reserves\[1\]\.debt x price_usd overflows uint256"),
        (
            lambda s: s["reserves"][0].update(decimals=0, collateral=10**65),
            r"reserves' values overflow the contract's sums in getUserAccountData: uint256",
        ),
    ],
)
def test_bad_aave_spec_names_the_field(mutate: Any, match: str) -> None:
    spec = aave_spec()
    mutate(spec)
    with pytest.raises(InputError, match=match):
        load_position(spec)


@pytest.mark.parametrize(
    ("top", "match"),
    [
        ({"lltv": 1.0}, r"lltv must be a fraction in \[0, 1\)"),
        ({"lltv": "0.8600000000000000001"}, r"lltv must have at most 18 decimals"),
        ({"borrow": 0.0000001}, r"borrow must have at most 6 decimals"),
        ({"collateral": -2}, r"collateral must be >= 0"),
        ({"loan_price": 0}, r"loan_price must be > 0"),
        ({"collateral_price": None}, r"collateral_price must be a number"),
        ({"oracle_price": 5}, r"either oracle_price or collateral_price"),
        ({"borrow_shares": 5}, r"either borrow .* or borrow_shares"),
        ({"collateral_decimals": -1}, r"collateral_decimals must be an integer"),
        ({"market": {"total_supply_assets": 1}}, r"market is missing"),
        ({"market": {"total_supply_assets": 1, "total_supply_shares": 1, "total_borrow_assets": 1,
                     "total_borrow_shares": 1}, "borrow": 10}, r"exceed market\.total_borrow_shares"),
        ({"market": {"total_supply_assets": 1.5, "total_supply_shares": 1, "total_borrow_assets": 1,
                     "total_borrow_shares": 1}}, r"market\.total_supply_assets must be an integer"),
        # A borrow past uint128 shares in a market of the position alone named market.total_supply_shares,
        # a field the spec never gave.
        ({"borrow": 400_000_000_000_000, "loan_decimals": 18, "loan_price": 0.00001, "collateral": 5000},
         r"borrow 400000000000000 is too large for a market of this position alone .*market: \.\.\."),
    ],
)  # fmt: skip
def test_bad_morpho_spec_names_the_field(top: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_position(morpho_spec(**top))


def test_morpho_needs_a_price() -> None:
    spec = morpho_spec()
    del spec["collateral_price"], spec["loan_price"]
    with pytest.raises(InputError, match=r"collateral_price .* or oracle_price"):
        load_position(spec)


def test_spec_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="must be a mapping"):
        load_position(path)


@pytest.mark.parametrize("name", ["defi_aave.yaml", "defi_morpho.yaml"])
def test_packaged_samples_load(name: str) -> None:
    text = resources.files("levguard.resources").joinpath("samples", name).read_text(encoding="utf-8")
    assert text.startswith("#")
    path = Path(str(resources.files("levguard.resources").joinpath("samples", name)))
    pos = load_position(path)
    if isinstance(pos, AavePosition):
        assert get_user_account_data(pos.reserves, pos.emode_category, pos.version).health_factor > E18
    else:
        assert pos.oracle_price == 118 * 10**34


@settings(max_examples=300, deadline=None)
@given(
    units=st.integers(0, 10**40),
    decimals=st.integers(0, 24),
)
def test_to_units_round_trips_exact_decimals(units: int, decimals: int) -> None:
    """Any amount written with at most ``decimals`` places converts to exactly its units."""
    digits = str(units).rjust(decimals + 1, "0")
    text = f"{digits[:-decimals]}.{digits[-decimals:]}" if decimals else digits
    assert to_units(text, decimals, "amount") == units
    if decimals > 0 and units % 10 != 0:
        with pytest.raises(InputError, match="at most"):
            to_units(text, decimals - 1, "amount")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000))
def test_bps_of_a_float_fraction_is_exact(b: int) -> None:
    """A YAML float like 0.8255 is read through its shortest repr, so it gives 8255 bps, not 8254."""
    assert bps(b / 10_000, "ltv") == b
    assert parse_number(b / 10_000, "x") == Decimal(repr(b / 10_000))
