"""Hypothesis properties of the Compound III engine (``levguard.core.defi.comet``).

For random markets (1 to 3 collaterals of 0 to 18 decimals, indexes above 1e15, prices, factors
as ``getAssetInfo`` returns them) and a ledger whose totals equal the sum of its principals:

* ``absorb`` either reverts with one of the contract's errors or conserves the books: every
  seized collateral unit leaves ``totalsCollateral`` and becomes collateral reserves, the account
  ends with no collateral, no assets and no debt, ``basePaidOut = max(deltaBalance, debt)``, the
  credited value never exceeds the seized value (liquidation factors at most 1), the totals still
  equal the sum of the principals, and base reserves fall by ``basePaidOut`` up to the rounding
  of the present values;
* present and principal values round trip in the contract's direction: a supplier is credited at
  most the value deposited, a borrower owes at least the value borrowed, each off by less than
  one index step; a principal never grows in magnitude through a round trip;
* ``quote_collateral`` is non-decreasing in the base amount and in the store-front price factor,
  at least the undiscounted quote (factor 0) and at most the quote at the liquidation factor's
  price (factor 1): the store front never sells below the price ``absorb`` credited;
* ``is_liquidatable`` implies not ``is_borrow_collateralized`` (borrow CF < liquidate CF);
* ``buy_collateral`` raises base reserves by exactly the base received and lowers collateral
  reserves by exactly the quote; ``get_reserves`` and ``balance_of`` at ``now`` equal their values
  on the market accrued to ``now``, whose indexes never fall.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from levguard.core.defi.comet import (
    BASE_INDEX_SCALE,
    FACTOR_SCALE,
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
    get_collateral_reserves,
    get_reserves,
    is_borrow_collateralized,
    is_liquidatable,
    present_value,
    principal_value,
    quote_collateral,
)

SETTINGS = settings(max_examples=300, deadline=None)
ABSORB_REVERTS = {"InvalidUInt104", "InvalidInt104", "Panic(0x11)"}
T = TypeVar("T")
STEP = 10**14  # getAssetInfo keeps 4 decimals of each factor


@st.composite
def asset_infos(draw: st.DrawFn, offset: int, surplus: bool = False) -> AssetInfo:
    """An asset; with ``surplus`` its liquidation factor exceeds its liquidate collateral factor."""
    liquidate = draw(st.integers(1, 9_999 if surplus else 10_000))
    return AssetInfo(
        offset=offset,
        asset=f"A{offset}",
        price=draw(st.integers(1, 10**14)),
        scale=10 ** draw(st.integers(0, 18)),
        borrow_collateral_factor=draw(st.integers(0, liquidate - 1)) * STEP,
        liquidate_collateral_factor=liquidate * STEP,
        liquidation_factor=draw(st.integers(liquidate + 1 if surplus else 0, 10_000)) * STEP,
    )


rates = st.builds(
    InterestRateModel,
    st.integers(0, FACTOR_SCALE),
    st.integers(0, 10**11),
    st.integers(0, 10**12),
    st.integers(0, 10**10),
    st.integers(0, FACTOR_SCALE),
    st.integers(0, 10**11),
    st.integers(0, 10**12),
    st.integers(0, 10**10),
)


@st.composite
def markets(draw: st.DrawFn, surplus: bool = False) -> Comet:
    """A market with a borrower ``b`` holding collateral, a second borrower ``c`` and a supplier
    ``s``; totals equal the sums of principals and balances; some collateral reserves.  With
    ``surplus``, b's debt lies between its collateral's value at the liquidate collateral factors
    and at the liquidation factors: liquidatable, and absorbing it leaves a surplus."""
    n = draw(st.integers(1, 3))
    assets = tuple(draw(asset_infos(i, surplus)) for i in range(n))
    low = 1 if surplus else 0
    collateral = {a.asset: draw(st.integers(low * a.scale, 10**6 * a.scale)) for a in assets}
    other = {a.asset: draw(st.integers(0, 10**3 * a.scale)) for a in assets}
    reserves = {a.asset: draw(st.integers(0, 10**3 * a.scale)) for a in assets}
    base_decimals, base_price = draw(st.integers(6, 18)), draw(st.integers(1, 10**12))
    debt_c, supply = draw(st.integers(1, 10**20)), draw(st.integers(1, 10**20))
    base_supply_index = draw(st.integers(BASE_INDEX_SCALE, 3 * BASE_INDEX_SCALE))
    base_borrow_index = draw(st.integers(base_supply_index, 4 * BASE_INDEX_SCALE))
    if surplus:  # value at the mid factor, in base units, as a borrow principal
        value = sum(
            collateral[a.asset] * a.price // a.scale * (a.liquidate_collateral_factor + a.liquidation_factor) // 2
            for a in assets
        )
        debt = value * 10**base_decimals * BASE_INDEX_SCALE // base_price // FACTOR_SCALE // base_borrow_index
        assume(0 < debt < 2**100)
    else:
        debt = draw(st.integers(1, 10**20))
    totals = {k: collateral[k] + other[k] for k in collateral}
    return Comet(
        base_token="BASE",
        base_decimals=base_decimals,
        base_price=base_price,
        assets=assets,
        accounts={
            "b": CometAccount(principal=-debt, collateral=collateral),
            "c": CometAccount(principal=-debt_c, collateral=other),
            "s": CometAccount(principal=supply),
        },
        base_supply_index=base_supply_index,
        base_borrow_index=base_borrow_index,
        total_supply_base=supply,
        total_borrow_base=debt + debt_c,
        totals_collateral=totals,
        collateral_balances={k: totals[k] + reserves[k] for k in totals},
        base_balance=draw(st.integers(0, 10**21)),
        store_front_price_factor=draw(st.integers(0, FACTOR_SCALE)),
        target_reserves=draw(st.integers(0, 10**21)),
        rates=draw(rates),
        last_accrual_time=1_700_000_000,
    )


def _attempt(call: Callable[[], T]) -> T | str:
    """The call's result, or the name of the contract's revert."""
    try:
        return call()
    except CometError as err:
        return err.name if err.name != "Panic" else f"Panic({err.code})"


def _principal_totals(comet: Comet) -> tuple[int, int]:
    principals = [a.principal for a in comet.accounts.values()]
    return sum(p for p in principals if p > 0), -sum(p for p in principals if p < 0)


@SETTINGS
@given(st.one_of(markets(), markets(surplus=True)))
def test_absorb_moves_collateral_to_reserves_and_forgives_the_debt(comet: Comet) -> None:
    assume(is_liquidatable(comet, "b"))
    result = _attempt(lambda: absorb(comet, ["b"]))
    if isinstance(result, str):
        event(f"reverted {result}")
        assert result in ABSORB_REVERTS
        return
    after, (a,) = result.comet, result.absorptions
    before_acc, acc = comet.accounts["b"], after.accounts["b"]
    seized = {c.asset: c.collateral_absorbed for c in a.collateral}
    for info in comet.assets:
        k = info.asset
        assert seized.get(k, 0) == before_acc.collateral.get(k, 0)
        assert after.totals_collateral.get(k, 0) == comet.totals_collateral.get(k, 0) - seized.get(k, 0)
        assert get_collateral_reserves(after, k) == get_collateral_reserves(comet, k) + seized.get(k, 0)
        assert after.collateral_balance(k) == comet.collateral_balance(k)
    assert not any(acc.collateral.values())
    assert after.assets_in("b") == 0
    assert acc.principal == a.new_principal >= 0
    assert not is_liquidatable(after, "b")
    # Value: credited at most what was seized (liquidation factors <= 1), debt forgiven in full.
    assert a.delta_value <= sum(c.usd_value for c in a.collateral)
    old_balance = present_value(comet, before_acc.principal)
    assert a.base_paid_out == max(a.delta_balance, -old_balance)
    assert present_value(after, acc.principal) <= a.base_paid_out + old_balance
    # Totals: still the sums of the principals; reserves fall by basePaidOut up to rounding.
    assert _principal_totals(after) == (after.total_supply_base, after.total_borrow_base)
    slack = comet.base_supply_index // BASE_INDEX_SCALE + 4
    change = get_reserves(after) - get_reserves(comet)
    assert -a.base_paid_out - slack <= change <= -a.base_paid_out + slack
    event("surplus credited" if a.new_principal > 0 else "all collateral to reserves")


@SETTINGS
@given(markets(), st.integers(0, 10**30))
def test_present_and_principal_values_round_in_the_protocols_favour(comet: Comet, value: int) -> None:
    step = comet.base_supply_index // BASE_INDEX_SCALE + 1
    supplied = present_value(comet, principal_value(comet, value))
    assert value - step <= supplied <= value  # the supplier is credited at most the deposit
    borrow_step = comet.base_borrow_index // BASE_INDEX_SCALE + 1
    owed = present_value(comet, principal_value(comet, -value))
    assert -value - borrow_step <= owed <= -value  # the borrower owes at least the loan
    for principal in (value % 2**100, -(value % 2**100)):
        back = principal_value(comet, present_value(comet, principal))
        assert abs(back) <= abs(principal)
        assert back * principal >= 0


@SETTINGS
@given(markets(), st.integers(0, 10**24), st.integers(0, 10**24))
def test_quote_collateral_is_monotone_and_between_market_and_liquidation_prices(comet: Comet, b1: int, b2: int) -> None:
    lo, hi = sorted((b1, b2))
    for info in comet.assets:
        k = info.asset
        if info.liquidation_factor > FACTOR_SCALE:
            continue
        undiscounted = quote_collateral(dataclasses.replace(comet, store_front_price_factor=0), k, hi)
        full = dataclasses.replace(comet, store_front_price_factor=FACTOR_SCALE)
        at_liquidation_price = _attempt(lambda: quote_collateral(full, k, hi))  # noqa: B023
        if isinstance(at_liquidation_price, str):  # the price at the liquidation factor rounds to 0
            assert at_liquidation_price == "Panic(0x12)"
            assert info.price * info.liquidation_factor < FACTOR_SCALE
            continue
        q = quote_collateral(comet, k, hi)
        assert quote_collateral(comet, k, lo) <= q
        assert undiscounted <= q <= at_liquidation_price


@SETTINGS
@given(markets())
def test_liquidatable_accounts_cannot_borrow(comet: Comet) -> None:
    for name in comet.accounts:
        liquidatable = is_liquidatable(comet, name)
        event(f"liquidatable={liquidatable}")
        assert not (liquidatable and is_borrow_collateralized(comet, name))


@SETTINGS
@given(markets(), st.integers(0, 10**12), st.data())
def test_buy_collateral_books_the_base_in_and_the_collateral_out(
    comet: Comet, base_amount: int, data: st.DataObject
) -> None:
    asset = data.draw(st.sampled_from(comet.assets)).asset
    result = _attempt(lambda: buy_collateral(comet, asset, 0, base_amount))
    if isinstance(result, str):
        event(f"reverted {result}")
        assert result in {"NotForSale", "InsufficientReserves", "Panic(0x12)"}
        return
    assert get_reserves(result.comet) - get_reserves(comet) == base_amount
    assert (
        get_collateral_reserves(comet, asset) - get_collateral_reserves(result.comet, asset) == result.collateral_amount
    )
    assert result.collateral_amount == quote_collateral(comet, asset, base_amount)


@SETTINGS
@given(markets(), st.integers(0, 10**8))
def test_view_functions_at_now_equal_the_accrued_market(comet: Comet, elapsed: int) -> None:
    now = comet.last_accrual_time + elapsed
    after = _attempt(lambda: accrue(comet, now))
    if isinstance(after, str):
        event(f"reverted {after}")
        assert after in {"InvalidUInt64", "Panic(0x11)"}
        return
    assert after.base_supply_index >= comet.base_supply_index
    assert after.base_borrow_index >= comet.base_borrow_index
    assert get_reserves(comet, now) == get_reserves(after)
    for name in comet.accounts:
        assert balance_of(comet, name, now) == balance_of(after, name)
        assert borrow_balance_of(comet, name, now) == borrow_balance_of(after, name)
