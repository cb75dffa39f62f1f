"""Golden tests: the Compound III engine (``levguard.core.defi.comet``) against Comet's own test suite.

Source: compound-finance/comet at commit d5a30b0aaeff7755f1431e87f818990902237b03, the Hardhat
tests ``test/absorb-test.ts``, ``test/buy-collateral-test.ts``, ``test/quote-collateral-test.ts``,
``test/is-liquidatable-test.ts``, ``test/is-borrow-collateralized-test.ts``,
``test/reserves-test.ts``, ``test/interest-rate-test.ts`` and ``test/accrue-test.ts``.  Each test
below names the ``it(...)`` case it reproduces.  The suite builds its markets with
``makeProtocol`` (``test/helpers.ts``), mirrored by :func:`make_protocol` with the same defaults:
USDC base (6 decimals, price 1), COMP (18 decimals, price 175), WETH (18, 3000), WBTC (8, 41000);
borrow collateral factor ``1e18 - 1``, liquidate collateral and liquidation factors ``1e18``
(read back through ``getAssetInfo``'s 4-decimal truncation); store-front price factor 1, target
reserves 0; per-year rates supply kink 0.8, base 0, slopes 0.05 / 2, borrow kink 0.8, base
0.005, slopes 0.1 / 3; tracking index scale and speeds 1e15, ``baseMinForRewards`` one base unit.
The harness's setters (``setBasePrincipal``, ``setCollateralBalance``, ``setTotalsBasic``,
``setTotalsCollateral``, token ``allocateTo``) become fields of the :class:`Comet` state.  Numbers
the tests compute with their own formulas are restated as literals worked out by hand with integer
arithmetic (noted where they are).
"""

from __future__ import annotations

import pickle
from decimal import Decimal
from typing import Any

import pytest

from levguard.core.defi.comet import (
    FACTOR_SCALE,
    PANIC_ARITHMETIC,
    SECONDS_PER_YEAR,
    AssetInfo,
    Comet,
    CometAccount,
    CometError,
    InterestRateModel,
    absorb,
    accrue,
    buy_collateral,
    get_borrow_rate,
    get_collateral_reserves,
    get_reserves,
    get_supply_rate,
    get_utilization,
    is_borrow_collateralized,
    is_liquidatable,
    quote_collateral,
)

REPO = "compound-finance/comet@d5a30b0aaeff7755f1431e87f818990902237b03"
ONE = FACTOR_SCALE
START = 1_700_000_000  # lastAccrualTime after initializeStorage (any time: the tests freeze none)


def exp(i: float | int | str, d: int = 0, r: int = 6) -> int:
    """helpers.ts ``exp``: ``i * 10**d`` keeping ``r`` fractional digits of ``i``'s decimal text."""
    text = format(Decimal(repr(i)), "f") if isinstance(i, float) else str(i)  # JS toString: no exponent
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    scaled = int(whole + frac.ljust(r, "0")[:r])
    return sign * scaled * 10**d // 10**r


DEFAULT_ASSETS: dict[str, dict[str, Any]] = {
    "COMP": {"decimals": 18, "price": 175},
    "USDC": {"decimals": 6},
    "WETH": {"decimals": 18, "price": 3000},
    "WBTC": {"decimals": 8, "price": 41000},
}
DEFAULT_RATES = dict(
    supply_kink=exp(0.8, 18),
    supply_per_year_interest_rate_slope_low=exp(0.05, 18),
    supply_per_year_interest_rate_slope_high=exp(2, 18),
    supply_per_year_interest_rate_base=0,
    borrow_kink=exp(0.8, 18),
    borrow_per_year_interest_rate_slope_low=exp(0.1, 18),
    borrow_per_year_interest_rate_slope_high=exp(3, 18),
    borrow_per_year_interest_rate_base=exp(0.005, 18),
)
ZERO_RATES = {k: (v if k.endswith("kink") else 0) for k, v in DEFAULT_RATES.items()}


def make_protocol(
    assets: dict[str, dict[str, Any]] | None = None,
    base: str = "USDC",
    rates: dict[str, int] | None = None,
    store_front_price_factor: int = ONE,
    target_reserves: int = 0,
    base_min_for_rewards: int | None = None,
    **storage: Any,
) -> Comet:
    """helpers.ts ``makeProtocol``: the market the suite deploys, then the harness's storage writes."""
    assets = DEFAULT_ASSETS if assets is None else assets
    infos = []
    for symbol, cfg in assets.items():
        if symbol == base:
            continue
        decimals = cfg.get("decimals", 18)
        infos.append(
            AssetInfo.from_config(
                offset=len(infos),
                asset=symbol,
                price=exp(cfg.get("price", 1), 8),
                decimals=decimals,
                borrow_collateral_factor=cfg.get("borrow_cf", ONE - 1),
                liquidate_collateral_factor=cfg.get("liquidate_cf", ONE),
                liquidation_factor=cfg.get("liquidation_factor", ONE),
                supply_cap=cfg.get("supply_cap", exp(100, decimals)),
            )
        )
    base_decimals = assets[base].get("decimals", 18)
    fields: dict[str, Any] = dict(
        base_token=base,
        base_decimals=base_decimals,
        base_price=exp(assets[base].get("price", 1), 8),
        assets=tuple(infos),
        last_accrual_time=START,
        store_front_price_factor=store_front_price_factor,
        target_reserves=target_reserves,
        tracking_index_scale=exp(1, 15),
        base_tracking_supply_speed=exp(1, 15),
        base_tracking_borrow_speed=exp(1, 15),
        base_min_for_rewards=exp(1, base_decimals) if base_min_for_rewards is None else base_min_for_rewards,
        rates=InterestRateModel.from_per_year(**(DEFAULT_RATES if rates is None else rates)),
    )
    fields.update(storage)
    return Comet(**fields)


def accounts(**principals_and_collateral: tuple[int, dict[str, int]]) -> dict[str, CometAccount]:
    return {k: CometAccount(principal=p, collateral=c) for k, (p, c) in principals_and_collateral.items()}


def revert_name(excinfo: pytest.ExceptionInfo[CometError]) -> str:
    return excinfo.value.name


# --- absorb-test.ts --------------------------------------------------------------------------------


def test_absorb_reverts_if_total_borrows_underflows() -> None:
    """absorb-test.ts 'reverts if total borrows underflows' (REPO): Panic 0x11."""
    comet = make_protocol(accounts=accounts(underwater=(-100, {})))
    with pytest.raises(CometError) as info:
        absorb(comet, ["underwater"], now=START + 3)  # the call accrues first, as absorb does
    assert (info.value.name, info.value.code) == ("Panic", PANIC_ARITHMETIC)


def test_absorbs_one_account() -> None:
    """absorb-test.ts 'absorbs 1 account and pays out the absorber' (REPO)."""
    comet = make_protocol(rates=ZERO_RATES, total_borrow_base=100, accounts=accounts(underwater=(-100, {})))
    assert get_reserves(comet) == 100
    result = absorb(comet, ["underwater"], now=START + 12)
    after = result.comet
    assert (after.total_supply_base, after.total_borrow_base, get_reserves(after)) == (0, 0, 0)
    assert after.accounts["underwater"].principal == 0
    (debt,) = result.absorptions
    # AbsorbDebt: basePaidOut 100, usdValue mulPrice(100, 1e8, 1e6) = 10000.
    assert (debt.base_paid_out, debt.usd_value, debt.collateral) == (100, 10_000, ())


def test_absorbs_two_accounts() -> None:
    """absorb-test.ts 'absorbs 2 accounts and pays out the absorber' (REPO)."""
    comet = make_protocol(rates=ZERO_RATES, total_borrow_base=2000, accounts=accounts(u1=(-100, {}), u2=(-700, {})))
    assert get_reserves(comet) == 2000
    result = absorb(comet, ["u1", "u2"])
    after = result.comet
    assert (after.total_supply_base, after.total_borrow_base, get_reserves(after)) == (0, 1200, 1200)
    assert [(a.borrower, a.base_paid_out, a.usd_value) for a in result.absorptions] == [
        ("u1", 100, 10_000),
        ("u2", 700, 70_000),
    ]


def test_absorbs_three_accounts_with_collateral() -> None:
    """absorb-test.ts 'absorbs 3 accounts with collateral and pays out the absorber' (REPO)."""
    comp_total = exp(1e-6, 18) + exp(10, 18) + exp(10000, 18)
    comet = make_protocol(
        rates=ZERO_RATES,
        total_borrow_base=exp(3e15, 6),
        total_supply_base=exp(4e15, 6),
        totals_collateral={"COMP": comp_total, "WETH": exp(1, 18) + exp(50, 18), "WBTC": exp(50, 8)},
        accounts=accounts(
            u1=(-exp(1, 6), {"COMP": exp(1e-6, 18)}),
            u2=(-exp(1, 12), {"COMP": exp(10, 18), "WETH": exp(1, 18)}),
            u3=(-exp(1, 18), {"COMP": exp(10000, 18), "WETH": exp(50, 18), "WBTC": exp(50, 8)}),
        ),
    )
    assert exp(1e-6, 18) == 10**12
    assert get_reserves(comet) == -exp(1e15, 6)
    result = absorb(comet, ["u1", "u2", "u3"])
    after = result.comet
    assert after.total_supply_base == exp(4e15, 6)
    assert after.total_borrow_base == exp(3e15, 6) - exp(1, 18) - exp(1, 12) - exp(1, 6)
    assert dict(after.totals_collateral) == {"COMP": 0, "WETH": 0, "WBTC": 0}
    assert {a: get_collateral_reserves(after, a) for a in ("COMP", "WETH", "WBTC")} == {
        "COMP": comp_total,
        "WETH": exp(1, 18) + exp(50, 18),
        "WBTC": exp(50, 8),
    }
    assert get_reserves(after) == -exp(1e15, 6) - exp(1, 6) - exp(1, 12) - exp(1, 18)
    # Events: AbsorbCollateral usdValue = mulPrice(amount, price, scale), AbsorbDebt basePaidOut and
    # usdValue = mulPrice(basePaidOut, 1e8, 1e6).
    events = [
        (
            a.borrower,
            [(c.asset, c.collateral_absorbed, c.usd_value) for c in a.collateral],
            a.base_paid_out,
            a.usd_value,
        )
        for a in result.absorptions
    ]
    assert events == [
        ("u1", [("COMP", 10**12, 10**12 * 175 * 10**8 // 10**18)], 10**6, 10**8),
        ("u2", [("COMP", 10 * 10**18, 1750 * 10**8), ("WETH", 10**18, 3000 * 10**8)], 10**12, 10**14),
        (
            "u3",
            [
                ("COMP", 10_000 * 10**18, 1_750_000 * 10**8),
                ("WETH", 50 * 10**18, 150_000 * 10**8),
                ("WBTC", 50 * 10**8, 2_050_000 * 10**8),
            ],
            10**18,
            10**20,
        ),
    ]
    for name in ("u1", "u2", "u3"):
        acc = after.accounts[name]
        assert (acc.principal, dict(acc.collateral), after.assets_in(name)) == (0, {}, 0)


def test_absorbs_an_account_with_more_than_enough_collateral() -> None:
    """absorb-test.ts 'absorbs an account with more than enough collateral to still cover debt' (REPO)."""
    assets = {
        name: {**cfg, "borrow_cf": exp(1 / 2, 18), "liquidate_cf": exp(2 / 3, 18)}
        for name, cfg in DEFAULT_ASSETS.items()
    }
    final_debt = 1
    starting_debt = final_debt - (exp(41000, 6) + exp(3000, 6) + exp(175, 6))
    comet = make_protocol(
        assets=assets,
        rates=ZERO_RATES,
        total_borrow_base=-starting_debt,
        totals_collateral={"COMP": exp(1, 18), "WETH": exp(1, 18), "WBTC": exp(1, 8)},
        accounts=accounts(underwater=(starting_debt, {"COMP": exp(1, 18), "WETH": exp(1, 18), "WBTC": exp(1, 8)})),
    )
    # factor(2/3) = exp(0.666666..., 18) = 666666e12, read back by getAssetInfo as 0.6666e18.
    assert comet.assets[0].liquidate_collateral_factor == 6666 * 10**14
    assert get_reserves(comet) == -starting_debt
    result = absorb(comet, ["underwater"])
    after = result.comet
    assert (after.total_supply_base, after.total_borrow_base, get_reserves(after)) == (final_debt, 0, -final_debt)
    assert after.accounts["underwater"].principal == 1
    (a,) = result.absorptions
    assert [(c.asset, c.usd_value) for c in a.collateral] == [
        ("COMP", 175 * 10**8),
        ("WETH", 3000 * 10**8),
        ("WBTC", 41000 * 10**8),
    ]
    # AbsorbDebt basePaidOut = pU1.internal.USDC - startingDebt; Transfer(0, underwater, finalDebt).
    assert a.base_paid_out == 1 - starting_debt
    assert a.usd_value == (1 - starting_debt) * 10**8 // 10**6
    assert a.transfer_amount == final_debt


def test_absorb_reverts_if_an_account_is_not_underwater() -> None:
    """absorb-test.ts 'reverts if an account is not underwater' (REPO)."""
    with pytest.raises(CometError) as info:
        absorb(make_protocol(), ["bob"])
    assert revert_name(info) == "NotLiquidatable"


def test_absorb_reverts_if_absorb_is_paused() -> None:
    """absorb-test.ts 'reverts if absorb is paused' (REPO): pause(false, false, false, true, false)."""
    with pytest.raises(CometError) as info:
        absorb(make_protocol(pause_flags=1 << 3), ["alice"])
    assert revert_name(info) == "Paused"


def test_absorb_updates_assets_in() -> None:
    """absorb-test.ts 'updates assetsIn for liquidated account' (REPO): $4k debt > $3,175 collateral."""
    comet = make_protocol(
        totals_collateral={"COMP": exp(1, 18), "WETH": exp(1, 18)},
        total_borrow_base=exp(4000, 6),
        accounts=accounts(underwater=(-exp(4000, 6), {"COMP": exp(1, 18), "WETH": exp(1, 18)})),
    )
    assert comet.assets_in("underwater") == 0b011  # getAssetList: [COMP, WETH]
    assert is_liquidatable(comet, "underwater")
    after = absorb(comet, ["underwater"]).comet
    assert after.assets_in("underwater") == 0


def test_absorb_updates_assets_in_with_24_assets() -> None:
    """absorb-test.ts 'updates assetsIn for liquidated account in 24 assets' (REPO):
    ``CometWithExtendedAssetList``, offsets 16-23 kept in ``userBasic._reserved``."""
    assets: dict[str, dict[str, Any]] = {
        "COMP": {"decimals": 18, "price": 175},
        "WETH": {"decimals": 18, "price": 3000},
        "WBTC": {"decimals": 8, "price": 41000},
        **{f"ASSET{i}": {} for i in range(3, 24)},
        "USDC": {"decimals": 6},
    }
    held = ["COMP", "WETH", *(f"ASSET{i}" for i in range(3, 24))]
    comet = make_protocol(
        assets=assets,
        totals_collateral=dict.fromkeys(held, exp(1, 18)),
        total_borrow_base=exp(4000, 6),
        accounts=accounts(underwater=(-exp(4000, 6), dict.fromkeys(held, exp(1, 18)))),
    )
    assert len(comet.assets) == 24
    assert comet.assets_in("underwater") == (1 << 24) - 1 - (1 << 2)  # all but WBTC
    assert is_liquidatable(comet, "underwater")
    assert absorb(comet, ["underwater"]).comet.assets_in("underwater") == 0


# --- buy-collateral-test.ts and quote-collateral-test.ts -------------------------------------------


def _store_front(
    target_reserves: int, liquidation_factor: int = ONE, store_front: int = exp(0.5, 18), base: str = "USDC", **kw: Any
) -> Comet:
    assets = {
        base: {"decimals": 6, "price": 1},
        "COMP": {"decimals": 18, "price": 1, "liquidation_factor": liquidation_factor},
    }
    return make_protocol(
        assets=assets, base=base, store_front_price_factor=store_front, target_reserves=target_reserves, **kw
    )


def test_buy_collateral_when_reserves_below_target() -> None:
    """buy-collateral-test.ts 'allows buying collateral when reserves < target reserves' (REPO)."""
    comet = _store_front(100, exp(0.8, 18), collateral_balances={"COMP": exp(60, 18)})
    assert get_reserves(comet) == 0
    result = buy_collateral(comet, "COMP", exp(50, 18), 50 * 10**6)
    assert result.collateral_amount == 55_555_555_555_555_555_555  # BuyCollateral event
    assert (result.base_amount, result.reserves) == (exp(50, 6), 0)
    assert get_reserves(result.comet) == exp(50, 6)
    assert result.comet.collateral_balances["COMP"] == exp(60, 18) - 55_555_555_555_555_555_555


def test_buy_collateral_when_reserves_negative_and_target_zero() -> None:
    """buy-collateral-test.ts 'allows buying collateral when reserves < 0 and target reserves is 0' (REPO)."""
    comet = _store_front(0, exp(0.8, 18), collateral_balances={"COMP": exp(60, 18)}, total_supply_base=100 * 10**6)
    assert get_reserves(comet) == -100 * 10**6
    result = buy_collateral(comet, "COMP", exp(50, 18), 50 * 10**6)
    assert result.collateral_amount == 55_555_555_555_555_555_555
    assert get_reserves(result.comet) == -50 * 10**6


def test_buy_any_excess_collateral_not_owned_by_users() -> None:
    """buy-collateral-test.ts 'can buy any excess collateral which does not belong to users' (REPO)."""
    comet = _store_front(
        exp(100e6, 6), exp(1.0, 18), collateral_balances={"COMP": exp(60, 18)}, totals_collateral={"COMP": exp(10, 18)}
    )
    result = buy_collateral(comet, "COMP", exp(50, 18), 50 * 10**6)
    assert result.collateral_amount == exp(50, 18)
    assert get_reserves(result.comet) == 50 * 10**6
    assert get_collateral_reserves(result.comet, "COMP") == 0


def test_buy_collateral_owned_by_users_reverts() -> None:
    """buy-collateral-test.ts 'reverts if trying to buy collateral which belongs to users' (REPO)."""
    comet = _store_front(
        exp(100e6, 6), exp(1.0, 18), collateral_balances={"COMP": exp(60, 18)}, totals_collateral={"COMP": exp(20, 18)}
    )
    with pytest.raises(CometError) as info:
        buy_collateral(comet, "COMP", exp(50, 18), 50 * 10**6)
    assert revert_name(info) == "InsufficientReserves"


def test_buy_collateral_above_target_reserves_reverts() -> None:
    """buy-collateral-test.ts 'reverts if reserves are above target reserves' (REPO)."""
    comet = make_protocol(
        target_reserves=0,
        base_balance=100 * 10**6,
        totals_collateral={"COMP": exp(50, 18)},
        accounts=accounts(comet=(0, {"COMP": exp(50, 18)})),
    )
    assert get_reserves(comet) == 100 * 10**6
    with pytest.raises(CometError) as info:
        buy_collateral(comet, "COMP", exp(50, 18), 50 * 10**6)
    assert revert_name(info) == "NotForSale"


def test_buy_collateral_with_too_much_slippage_reverts() -> None:
    """buy-collateral-test.ts 'reverts if slippage is too high' (REPO): 50 USDC buys 50 COMP, not 100."""
    comet = _store_front(100, store_front=ONE, totals_collateral={"COMP": exp(50, 18)})
    assert quote_collateral(comet, "COMP", 50 * 10**6) == exp(50, 18)
    with pytest.raises(CometError) as info:
        buy_collateral(comet, "COMP", exp(100, 18), 50 * 10**6)
    assert revert_name(info) == "TooMuchSlippage"


def test_buy_more_collateral_than_reserves_reverts() -> None:
    """buy-collateral-test.ts 'reverts if not enough collateral to buy' (REPO)."""
    comet = _store_front(100, store_front=ONE, totals_collateral={"COMP": exp(50, 18)})
    with pytest.raises(CometError) as info:
        buy_collateral(comet, "COMP", exp(200, 18), 200 * 10**6)
    assert revert_name(info) == "InsufficientReserves"


def test_buy_collateral_when_paused_reverts() -> None:
    """buy-collateral-test.ts 'reverts if buy is paused' (REPO): pause(false, false, false, false, true)."""
    with pytest.raises(CometError) as info:
        buy_collateral(make_protocol(pause_flags=1 << 4), "COMP", exp(50, 18), 50 * 10**6)
    assert revert_name(info) == "Paused"


def test_buy_collateral_with_fee_on_transfer_tokens() -> None:
    """buy-collateral-test.ts 'buys the correct amount in a fee-like situation' (REPO): 1 % token fees,
    Comet receives 49.5 USDT and quotes 49.5 / 0.9 = 55 COMP."""
    comet = _store_front(100, exp(0.8, 18), base="USDT", collateral_balances={"COMP": exp(60, 18)})
    result = buy_collateral(comet, "COMP", exp(50, 18), 50 * 10**6, base_amount_received=exp(49.5, 6))
    assert (result.base_amount, result.collateral_amount) == (exp(49.5, 6), exp(55, 18))
    assert get_reserves(result.comet) == exp(49.5, 6)


@pytest.mark.parametrize(
    ("case", "store_front", "price", "liquidation_factor", "base_amount", "quote"),
    [
        ("quotes the collateral correctly for a positive base amount", 0.5, 200, 0.6, exp(200, 6), exp(1.25, 18)),
        ("quotes the collateral correctly for a zero base amount", 1, 200, 1, 0, 0),
        (
            "quotes the collateral at market price when storeFrontPriceFactor is 0%",
            0,
            200,
            0.6,
            exp(200, 6),
            exp(1, 18),
        ),
        (
            "properly calculates price without truncating integer during intermediate calculations",
            0.5,
            9,
            0.8,
            exp(810, 6),
            exp(100, 18),
        ),
        ("does not overflow for large amounts", 0.8, 200, 0.75, exp(1e15, 6), exp(6.25, 12 + 18)),
    ],
)
def test_quote_collateral(
    case: str, store_front: float, price: int, liquidation_factor: float, base_amount: int, quote: int
) -> None:
    """quote-collateral-test.ts, the case named ``case`` (REPO)."""
    assets = {
        "USDC": {"decimals": 6, "price": 1},
        "COMP": {"decimals": 18, "price": price, "liquidation_factor": exp(liquidation_factor, 18)},
    }
    comet = make_protocol(assets=assets, store_front_price_factor=exp(store_front, 18), target_reserves=100)
    assert quote_collateral(comet, "COMP", base_amount) == quote


# --- is-liquidatable-test.ts and is-borrow-collateralized-test.ts ----------------------------------


def _comp_market(principal: int, comp: int, price: float = 1, **cfg: int) -> Comet:
    assets = {"USDC": {"decimals": 6}, "COMP": {"decimals": 18, "price": price, **cfg}}
    collateral = {"COMP": comp} if comp else {}
    return make_protocol(assets=assets, accounts=accounts(alice=(principal, collateral)))


@pytest.mark.parametrize(
    ("case", "comet", "expected"),
    [
        ("defaults to false", make_protocol(), False),
        ("is false when user is owed principal", _comp_market(1_000_000, 0), False),
        ("is true when user owes principal", _comp_market(-1_000_000, 0), True),
        (
            "is false when collateral can cover the borrowed principal",
            _comp_market(-100_000_000_000, exp(100_000, 18)),
            False,
        ),
        (
            "is true when the collateral cannot cover the borrowed principal",
            _comp_market(-100_000_000_000, exp(95_000, 18)),
            True,
        ),
        (
            "takes liquidateCollateralFactor into account when comparing principal to collateral",
            _comp_market(-100_000_000_000, exp(100_000, 18), borrow_cf=exp(0.75, 18), liquidate_cf=exp(0.8, 18)),
            True,
        ),
        (
            "changes when the underlying asset price changes (before)",
            _comp_market(-100_000_000_000, exp(100_000, 18)),
            False,
        ),
        (
            "changes when the underlying asset price changes (after)",
            _comp_market(-100_000_000_000, exp(100_000, 18), 0.5),
            True,
        ),
    ],
)
def test_is_liquidatable(case: str, comet: Comet, expected: bool) -> None:
    """is-liquidatable-test.ts, the case named ``case`` (REPO)."""
    assert is_liquidatable(comet, "alice") is expected


@pytest.mark.parametrize(
    ("case", "comet", "expected"),
    [
        ("defaults to true", make_protocol(), True),
        ("is true when user is owed principal", _comp_market(1_000_000, 0), True),
        ("is false when user owes principal", _comp_market(-1_000_000, 0), False),
        (
            "is true when value of collateral is greater than principal owed",
            _comp_market(-exp(1, 6), exp(1.2, 18), borrow_cf=exp(0.9, 18)),
            True,
        ),
        (
            "takes borrow collateral factor into account when valuing collateral",
            _comp_market(-1_000_000, exp(1, 18), borrow_cf=exp(0.9, 18)),
            False,
        ),
        # 5 COMP at $1 x 0.2 covers exactly $1: liquidity 0 counts as collateralized.
        (
            "changes when the underlying asset price changes (before)",
            _comp_market(-exp(1, 6), exp(5, 18), borrow_cf=exp(0.2, 18)),
            True,
        ),
        (
            "changes when the underlying asset price changes (after)",
            _comp_market(-exp(1, 6), exp(5, 18), 0.5, borrow_cf=exp(0.2, 18)),
            False,
        ),
    ],
)
def test_is_borrow_collateralized(case: str, comet: Comet, expected: bool) -> None:
    """is-borrow-collateralized-test.ts, the case named ``case`` (REPO)."""
    assert is_borrow_collateralized(comet, "alice") is expected


# --- reserves-test.ts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("elapsed", [0, 1, 15])
@pytest.mark.parametrize(
    ("case", "balance", "supply_index", "borrow_index", "supply", "borrow", "reserves"),
    [
        ("calculates 0 reserves", 100, 4 * 10**15, 3 * 10**15, 25, 0, 0),
        ("calculates positive reserves", 100, 2 * 10**15, 5 * 10**15, 50, 10, 50),
        ("calculates negative reserves", 0, 2 * 10**15, 3 * 10**15, 50, 0, -100),
    ],
)
def test_get_reserves(
    case: str, balance: int, supply_index: int, borrow_index: int, supply: int, borrow: int, reserves: int, elapsed: int
) -> None:
    """reserves-test.ts, the case named ``case`` (REPO), default rates: the few seconds the harness
    lets pass before the call move the indexes too little to change a present value of 50 units."""
    comet = make_protocol(
        base_balance=balance,
        base_supply_index=supply_index,
        base_borrow_index=borrow_index,
        total_supply_base=supply,
        total_borrow_base=borrow,
    )
    assert get_reserves(comet, now=START + elapsed) == reserves


# --- interest-rate-test.ts ----------------------------------------------------------------------------

IRT_RATES = dict(
    supply_kink=exp(0.8, 18),
    supply_per_year_interest_rate_base=exp(0, 18),
    supply_per_year_interest_rate_slope_low=exp(0.04, 18),
    supply_per_year_interest_rate_slope_high=exp(0.4, 18),
    borrow_kink=exp(0.8, 18),
    borrow_per_year_interest_rate_base=exp(0.01, 18),
    borrow_per_year_interest_rate_slope_low=exp(0.05, 18),
    borrow_per_year_interest_rate_slope_high=exp(0.3, 18),
)


@pytest.mark.parametrize(
    ("case", "totals", "utilization", "supply_apr", "borrow_apr", "supply_rate", "borrow_rate"),
    [
        # Per second, by hand: supply slope low 0.04e18 // 31_536_000 = 1_268_391_679; at u = 0.1,
        # mulFactor gives 126_839_167; borrow base 317_097_919 + mulFactor(1_585_489_599, 0.1e18).
        ("when below kink utilization", (2e15, 4e15, 500, 25), exp(0.1, 18), 0.004, 0.015, 126_839_167, 475_646_878),
        # Above the kink: 1_014_713_343 + mulFactor(12_683_916_793, 0.1e18) = 2_283_105_022 (supply);
        # 317_097_919 + 1_268_391_679 + mulFactor(9_512_937_595, 0.1e18) = 2_536_783_357 (borrow).
        ("when above kink utilization", (2e15, 3e15, 50, 30), exp(0.9, 18), 0.072, 0.08, 2_283_105_022, 2_536_783_357),
        ("when 0 utilization", (2e15, 3e15, 50, 0), 0, 0, 0.01, 0, 317_097_919),
    ],
)
def test_interest_rates(
    case: str,
    totals: tuple[float, float, int, int],
    utilization: int,
    supply_apr: float,
    borrow_apr: float,
    supply_rate: int,
    borrow_rate: int,
) -> None:
    """interest-rate-test.ts, the case named ``case`` (REPO): utilization exact, the annualised
    rates within the test's ``MINIMUM_PRECISION_WEI = 1e8`` of the per-year parameters."""
    supply_index, borrow_index, supply, borrow = totals
    comet = make_protocol(
        rates=IRT_RATES,
        base_supply_index=int(supply_index),
        base_borrow_index=int(borrow_index),
        total_supply_base=supply,
        total_borrow_base=borrow,
    )
    u = get_utilization(comet)
    assert u == utilization
    s, b = get_supply_rate(comet, u), get_borrow_rate(comet, u)
    assert abs(s * SECONDS_PER_YEAR - exp(supply_apr, 18)) <= 10**8
    assert abs(b * SECONDS_PER_YEAR - exp(borrow_apr, 18)) <= 10**8
    assert (s, b) == (supply_rate, borrow_rate)


# --- accrue-test.ts -------------------------------------------------------------------------------------


def test_accrue_with_no_time_elapsed() -> None:
    """accrue-test.ts 'accrues correctly with no time elapsed' (REPO): a second accrue at the same
    timestamp changes nothing."""
    now = 1_750_000_000
    comet = make_protocol(
        base_supply_index=2 * 10**15,
        base_borrow_index=3 * 10**15,
        total_supply_base=1000,
        total_borrow_base=1000,
        last_accrual_time=0,
    )
    t1 = accrue(comet, now)
    assert t1.last_accrual_time == now
    assert accrue(t1, now) == t1


@pytest.mark.parametrize(
    ("case", "base_min", "supply", "borrow", "indexes", "tracking"),
    [
        # u = 1: supply rate 1_268_391_679 + mulFactor(63_419_583_967, 0.2e18) = 13_952_308_472 per
        # second, borrow 158_548_959 + 2_536_783_358 + 19_025_875_190 = 21_721_207_507 (by hand);
        # index + index * rate * 1000 / 1e18 (the test's projectBaseIndex).
        (
            "accrues correctly with time elapsed and less than min rewards",
            12000,
            11000,
            11000,
            (1_000_013_952_308_472, 1_000_021_721_207_507),
            (0, 0),
        ),
        # u = 13/14; tracking: 1e15 * 1000 * 1e6 // 14000e6 and // 13000e6 (projectTrackingIndex).
        (
            "accrues correctly with time elapsed and more than min rewards",
            exp(12000, 6),
            exp(14000, 6),
            exp(13000, 6),
            (1_000_009_422_338_189, 1_000_014_926_252_082),
            (71_428_571_428_571, 76_923_076_923_076),
        ),
    ],
)
def test_accrue_with_time_elapsed(
    case: str, base_min: int, supply: int, borrow: int, indexes: tuple[int, int], tracking: tuple[int, int]
) -> None:
    """accrue-test.ts, the case named ``case`` (REPO): 1000 seconds."""
    comet = make_protocol(base_min_for_rewards=base_min, total_supply_base=supply, total_borrow_base=borrow)
    after = accrue(comet, START + 1000)
    assert (after.base_supply_index, after.base_borrow_index) == indexes
    assert (after.tracking_supply_index, after.tracking_borrow_index) == tracking
    assert after.last_accrual_time == START + 1000


def test_accrue_overflows_if_base_min_rewards_too_low() -> None:
    """accrue-test.ts 'overflows if baseMinRewards is set too low and accrues no interest' (REPO):
    1e15 * 1000 * 1e6 // 14000 = 7.1e19 > 2**64."""
    comet = make_protocol(base_min_for_rewards=12000, total_supply_base=14000, total_borrow_base=13000)
    with pytest.raises(CometError) as info:
        accrue(comet, START + 1000)
    assert revert_name(info) == "InvalidUInt64"


@pytest.mark.parametrize(
    "storage",
    [
        {"base_supply_index": 2**64 - 1, "total_supply_base": 14000, "total_borrow_base": 13000},
        {"base_borrow_index": 2**64 - 1},
    ],
)
def test_accrue_reverts_on_overflows(storage: dict[str, int]) -> None:
    """accrue-test.ts 'reverts on overflows' (REPO): Panic 0x11 when an index passes uint64."""
    with pytest.raises(CometError) as info:
        accrue(make_protocol(**storage), START + 1000)
    assert (info.value.name, info.value.code) == ("Panic", PANIC_ARITHMETIC)


def test_accrue_breaks_past_the_maximum_timestamp() -> None:
    """accrue-test.ts 'supports up to the maximum timestamp then breaks' (REPO)."""
    comet = accrue(make_protocol(), START + 100)
    with pytest.raises(CometError) as info:
        accrue(comet, START + 100 + 2**40)
    assert revert_name(info) == "TimestampTooLarge"
    assert pickle.loads(pickle.dumps(info.value)).name == "TimestampTooLarge"
