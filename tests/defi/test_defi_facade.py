"""The public ``levguard.defi`` facade: the issue's contract-unit API, re-exported from the engines in
``levguard.core.defi`` (one formula, one place), and Morpho's ``borrow`` / ``repay`` entry points."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

import levguard
import levguard.core.defi.aave as core_aave
import levguard.core.defi.morpho as core_morpho
from levguard.defi import aave, analytics, loops, morpho, positions
from levguard.errors import InputError

E18 = 10**18
LLTV = 86 * 10**16


def test_defi_is_an_attribute_of_levguard() -> None:
    assert levguard.defi.aave is aave
    assert "defi" in dir(levguard)
    assert set(levguard.defi.__all__) >= {"aave", "morpho", "positions", "analytics", "loops"}


def test_import_defi_does_not_import_pandas() -> None:
    code = "import sys, levguard.defi; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "name",
    ["get_user_account_data", "liquidation_call", "validate_borrow", "validate_hf_and_ltv", "AaveError", "AaveReserve"],
)
def test_aave_facade_is_the_engine(name: str) -> None:
    assert getattr(aave, name) is getattr(core_aave, name)


def test_morpho_facade_reexports_the_engine() -> None:
    assert morpho.liquidation_incentive_factor is core_morpho.liquidation_incentive_factor
    assert morpho.Market is core_morpho.Market
    assert morpho.liquidation_incentive_factor(LLTV) == 1_043_841_336_116_910_229  # Morpho docs, LLTV 86 %


@pytest.mark.parametrize("module", [aave, morpho, analytics, loops])
def test_facade_doctests(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


def test_aave_liquidation_call_raises_the_protocols_code() -> None:
    """3.3: HF 0.9375 <= 0.95 allows the whole debt; a partial liquidation leaving less than
    MIN_LEFTOVER_BASE (1,000 USD) of debt reverts 103, the whole debt does not."""
    rows = [
        {"symbol": "WETH", "price": 2_000 * 10**8, "decimals": 18, "ltv": 8000, "lt": 8250,
         "liquidation_bonus": 10500, "collateral": 5 * E18, "debt": 0},
        {"symbol": "USDC", "price": 10**8, "decimals": 6, "ltv": 7500, "lt": 7800,
         "collateral": 0, "debt": 8_800 * 10**6},
    ]  # fmt: skip
    assert aave.get_user_account_data(rows).health_factor < E18
    with pytest.raises(aave.AaveError) as info:
        aave.liquidation_call(rows, "WETH", "USDC", 8_300 * 10**6)
    assert (info.value.code, info.value.name) == ("103", "MUST_NOT_LEAVE_DUST")
    done = aave.liquidation_call(rows, "WETH", "USDC", 8_800 * 10**6)
    assert done.actual_debt_to_liquidate == 8_800 * 10**6
    assert done.debt_after["USDC"] == 0


MARKET = {
    "total_supply_assets": 10**12,
    "total_supply_shares": 10**18,
    "total_borrow_assets": 8 * 10**11,
    "total_borrow_shares": 8 * 10**17,
}
POSITION = {"borrow_shares": 8 * 10**15, "collateral": 10 * E18}  # 8,000 USDC on 10 WETH


def test_morpho_takes_mappings_and_records_alike() -> None:
    price = 930 * 10**24
    as_records = morpho.is_healthy(morpho.as_market(MARKET), morpho.as_position(POSITION), LLTV, price)
    assert morpho.is_healthy(MARKET, POSITION, LLTV, price) is as_records is False
    r1 = morpho.liquidate(MARKET, POSITION, LLTV, price, 0, 10**15)
    r2 = core_morpho.liquidate(morpho.as_market(MARKET), morpho.as_position(POSITION), LLTV, price, 0, 10**15)
    assert r1 == r2
    assert r1.repaid_shares == 10**15


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"total_supply_assets": 1}, "missing"),
        ({**MARKET, "extra": 1}, "unknown"),
        ([1, 2, 3, 4], "must be a Market or a mapping"),
        ({**MARKET, "total_borrow_assets": -1}, "total_borrow_assets"),
    ],
)
def test_morpho_bad_market_names_the_field(value: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        morpho.is_healthy(value, POSITION, LLTV, 10**36)  # type: ignore[arg-type]


def test_morpho_health_factor_matches_is_healthy() -> None:
    """HF (SDK's wDivDown(maxBorrow, borrowed)) >= 1e18 exactly when ``_isHealthy``."""
    for whole in (929, 930, 931, 1_000):
        for extra in (-1, 0, 1):
            p = whole * 10**24 + extra * 10**20
            assert (morpho.health_factor(MARKET, POSITION, LLTV, p) >= E18) == morpho.is_healthy(
                MARKET, POSITION, LLTV, p
            )
    assert morpho.health_factor(MARKET, {"borrow_shares": 0, "collateral": 1}, LLTV, 1) == 2**256 - 1


def test_morpho_borrow_and_repay_mirror_the_contract() -> None:
    """Morpho.sol ``borrow`` mints ``toSharesUp(assets)``; ``repay`` burns ``toSharesDown(assets)``
    and floors total borrow assets at zero."""
    price = 1_000 * 10**24
    m, p = morpho.as_market(MARKET), morpho.as_position(POSITION)
    b = morpho.borrow(m, p, LLTV, price, assets=10**8)
    assert b.shares == morpho.to_shares_up(10**8, m.total_borrow_assets, m.total_borrow_shares)
    assert b.market.total_borrow_assets == m.total_borrow_assets + 10**8
    assert b.market.total_borrow_shares == m.total_borrow_shares + b.shares
    assert b.position.borrow_shares == p.borrow_shares + b.shares
    r = morpho.repay(b.market, b.position, assets=10**8)
    assert r.shares == morpho.to_shares_down(10**8, b.market.total_borrow_assets, b.market.total_borrow_shares)
    assert r.shares <= b.shares  # both roundings favour the protocol
    full = morpho.repay(m, p, shares=p.borrow_shares)
    assert full.position.borrow_shares == 0
    assert full.assets == morpho.to_assets_up(p.borrow_shares, m.total_borrow_assets, m.total_borrow_shares)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"assets": 10**8, "shares": 1}, morpho.INCONSISTENT_INPUT),
        ({"assets": 0, "shares": 0}, morpho.INCONSISTENT_INPUT),
        ({"assets": 1_000 * 10**6}, morpho.INSUFFICIENT_COLLATERAL),  # 10 WETH x 1000 x 0.86 < 9,000
        ({"assets": 300_000 * 10**6}, morpho.INSUFFICIENT_LIQUIDITY),
    ],
)
def test_morpho_borrow_reverts_with_the_contracts_reason(kwargs: dict[str, int], reason: str) -> None:
    rich = {**POSITION, "collateral": 10**6 * E18} if reason == morpho.INSUFFICIENT_LIQUIDITY else POSITION
    with pytest.raises(morpho.MorphoError) as info:
        morpho.borrow(MARKET, rich, LLTV, 1_000 * 10**24, **kwargs)
    assert info.value.reason == reason


def test_morpho_repay_of_more_shares_than_owed_panics() -> None:
    with pytest.raises(morpho.MorphoError) as info:
        morpho.repay(MARKET, POSITION, shares=POSITION["borrow_shares"] + 1)
    assert info.value.reason == core_morpho.PANIC_ARITHMETIC


def test_positions_module_is_exported() -> None:
    assert positions.load_position is levguard.defi.positions.load_position


@pytest.mark.parametrize("positions", [None, 5, 3.5])
def test_aave_positions_that_are_not_rows_are_input_errors(positions: object) -> None:
    # An audit: None and 5 raised TypeError ("'NoneType' object is not iterable").
    with pytest.raises(InputError, match="positions must be a sequence of rows"):
        aave.get_user_account_data(positions)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="positions must be a sequence of rows"):
        aave.validate_borrow(positions, "USDC", 1)  # type: ignore[arg-type]
