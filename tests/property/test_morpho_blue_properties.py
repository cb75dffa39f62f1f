"""Hypothesis properties of the Morpho Blue engine (``levguard.core.defi.morpho``).

For any market state, position, LLTV, oracle price and liquidation amount:

* a liquidation either reverts with one of the contract's reasons or conserves the books: total
  borrow shares and the position's shares fall by exactly the repaid plus bad-debt shares, total
  supply assets fall by exactly the bad debt (supply shares never move), total borrow assets by
  the repaid assets (floored at 0) plus the bad debt, the collateral by exactly the seized assets;
* bad debt is realised exactly when the collateral reaches 0, and then the position owes nothing;
* a healthy position cannot be liquidated, an unhealthy one can (within the amounts it holds);
* every rounding favours the protocol: the repaid assets are worth at least the repaid shares, and
  the liquidator never gets more collateral than the repaid assets buy at the incentive factor;
* the liquidation incentive factor is non-increasing in the LLTV, between 1 and 1.15;
* with LTV below 1 / LIF a liquidation leaves no bad debt and does not raise the position's
  shares per unit of collateral (Certora rule ``liquidateImprovePosition``,
  morpho-org/morpho-blue ``certora/specs/LiquidateBuffer.spec``, commit 3085651);
* interest accrual adds the same interest to borrow and supply, mints fee shares worth at most
  the fee, and ``wTaylorCompounded`` lies between simple interest and its third-order sum bound.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from levguard.core.defi import morpho as mb
from levguard.core.defi.morpho import (
    MAX_LIQUIDATION_INCENTIVE_FACTOR,
    ORACLE_PRICE_SCALE,
    VIRTUAL_ASSETS,
    VIRTUAL_SHARES,
    WAD,
    Market,
    MorphoError,
    Position,
)

SETTINGS = settings(max_examples=300, deadline=None)
REASONS = {
    mb.HEALTHY_POSITION,
    mb.INCONSISTENT_INPUT,
    mb.MAX_UINT128_EXCEEDED,
    mb.PANIC_ARITHMETIC,
    mb.PANIC_DIVISION_BY_ZERO,
}
COMMON_LLTVS = [0, 385, 625, 770, 800, 860, 915, 945, 965, 980]

lltvs = st.one_of(st.sampled_from([v * 10**15 for v in COMMON_LLTVS]), st.integers(0, WAD - 1))
prices = st.one_of(st.integers(1, 10**40), st.sampled_from([10**36, 2_000 * 10**24, 10**12]))


@st.composite
def states(draw: st.DrawFn) -> tuple[Market, Position]:
    """A market with plausible totals (borrow within supply, shares near 1e6 per asset) and a
    borrower owing part of its borrow shares."""
    tba = draw(st.integers(1, 10**30))
    tbs = draw(st.integers(max(1, tba * VIRTUAL_SHARES // 8), tba * VIRTUAL_SHARES * 2))
    tsa = draw(st.integers(tba, tba * 4))
    tss = draw(st.integers(tsa * VIRTUAL_SHARES // 8, tsa * VIRTUAL_SHARES * 2))
    borrow_shares = draw(st.one_of(st.just(tbs), st.integers(1, tbs)))
    collateral = draw(st.integers(1, 10**32))
    return Market(tsa, tss, tba, tbs), Position(borrow_shares, collateral)


def _attempt(
    market: Market, position: Position, lltv: int, price: int, seized: int, shares: int
) -> mb.LiquidateResult | str:
    """The liquidation's result, or the contract's revert reason."""
    try:
        return mb.liquidate(market, position, lltv, price, seized, shares)
    except MorphoError as err:
        return err.reason


def _check_books(market: Market, position: Position, r: mb.LiquidateResult) -> None:
    after_m, after_p = r.market, r.position
    assert market.total_borrow_shares - after_m.total_borrow_shares == r.repaid_shares + r.bad_debt_shares
    assert position.borrow_shares - after_p.borrow_shares == r.repaid_shares + r.bad_debt_shares
    assert market.total_supply_assets - after_m.total_supply_assets == r.bad_debt_assets
    assert after_m.total_supply_shares == market.total_supply_shares
    expected_tba = max(market.total_borrow_assets - r.repaid_assets, 0) - r.bad_debt_assets
    assert after_m.total_borrow_assets == expected_tba
    assert position.collateral - after_p.collateral == r.seized_assets
    assert r.seized_assets <= position.collateral
    if after_p.collateral == 0:
        assert after_p.borrow_shares == 0
    else:
        assert (r.bad_debt_assets, r.bad_debt_shares) == (0, 0)


def _check_rounding(market: Market, r: mb.LiquidateResult, price: int) -> None:
    a = market.total_borrow_assets + VIRTUAL_ASSETS
    s = market.total_borrow_shares + VIRTUAL_SHARES
    # Repaid assets are at least the exact value of the repaid shares (toAssetsUp) ...
    assert r.repaid_assets * s >= r.repaid_shares * a
    # ... and buy at least the seized collateral at the incentive: seized * price / 1e36 <= repaid * LIF.
    assert r.seized_assets * price * WAD <= r.repaid_assets * r.liquidation_incentive_factor * ORACLE_PRICE_SCALE


@SETTINGS
@given(state=states(), lltv=lltvs, price=prices, use_seized=st.booleans(), amount=st.integers(1, 2**130))
def test_any_liquidation_reverts_with_a_reason_or_balances_the_books(
    state: tuple[Market, Position], lltv: int, price: int, use_seized: bool, amount: int
) -> None:
    market, position = state
    seized, shares = (amount, 0) if use_seized else (0, amount)
    r = _attempt(market, position, lltv, price, seized, shares)
    event(r if isinstance(r, str) else "bad debt" if r.bad_debt_shares else "liquidated")
    if isinstance(r, str):
        assert r in REASONS
        return
    _check_books(market, position, r)
    _check_rounding(market, r, price)


def _bounded_amount(draw: st.DrawFn, market: Market, position: Position, lltv: int, price: int) -> tuple[int, int]:
    """(seized, 0) or (0, repaid shares) within what the position holds (Foundry's
    ``_boundLiquidateSeizedAssets`` / ``_boundLiquidateRepaidShares`` in test/BaseTest.sol)."""
    lif = mb.liquidation_incentive_factor(lltv)
    tba, tbs = market.total_borrow_assets, market.total_borrow_shares
    if draw(st.booleans()):
        max_repaid = mb.to_assets_down(position.borrow_shares, tba, tbs)
        max_seized = min(
            position.collateral, mb.mul_div_down(mb.w_mul_down(max_repaid, lif), ORACLE_PRICE_SCALE, price)
        )
        assume(max_seized > 0)
        return draw(st.integers(1, max_seized)), 0
    max_repaid_assets = mb.w_div_down(mb.mul_div_down(position.collateral, price, ORACLE_PRICE_SCALE), lif)
    max_shares = min(position.borrow_shares, mb.to_shares_down(max_repaid_assets, tba, tbs))
    assume(max_shares > 0)
    return 0, draw(st.integers(1, max_shares))


@st.composite
def liquidations(draw: st.DrawFn) -> tuple[Market, Position, int, int, int, int]:
    """An unhealthy position and an amount within what it holds."""
    market, position = draw(states())
    lltv = draw(lltvs)
    price = draw(prices)
    assume(not mb.is_healthy(market, position, lltv, price))
    return market, position, lltv, price, *_bounded_amount(draw, market, position, lltv, price)


@st.composite
def buffered(draw: st.DrawFn) -> tuple[Market, Position, int, int, int, int]:
    """An unhealthy position whose LTV is still below 1 / LIF, and an amount within what it holds."""
    market, position = draw(states())
    lltv = draw(st.integers(WAD // 100, WAD - WAD // 100))
    price = draw(prices)
    lif = mb.liquidation_incentive_factor(lltv)
    borrowed = mb.to_assets_up(position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares)
    # Collateral value (loan units) strictly between borrowed * LIF and borrowed / LLTV.
    lo, hi = borrowed * lif // WAD + 1, borrowed * WAD // lltv - 1
    assume(lo < hi)
    value = draw(st.integers(lo, hi))
    collateral = value * ORACLE_PRICE_SCALE // price
    assume(0 < collateral < 2**128)
    position = Position(position.borrow_shares, collateral)
    assume(not mb.is_healthy(market, position, lltv, price))
    return market, position, lltv, price, *_bounded_amount(draw, market, position, lltv, price)


@SETTINGS
@given(case=liquidations())
def test_bounded_liquidations_of_unhealthy_positions_succeed(case: tuple[Market, Position, int, int, int, int]) -> None:
    market, position, lltv, price, seized, shares = case
    r = mb.liquidate(market, position, lltv, price, seized, shares)
    _check_books(market, position, r)
    _check_rounding(market, r, price)
    if seized:
        assert r.seized_assets == seized
    else:
        assert r.repaid_shares == shares


@SETTINGS
@given(state=states(), lltv=lltvs, price=prices, use_seized=st.booleans(), amount=st.integers(1, 2**128 - 1))
def test_healthy_positions_cannot_be_liquidated(
    state: tuple[Market, Position], lltv: int, price: int, use_seized: bool, amount: int
) -> None:
    market, position = state
    # Enough collateral to be healthy: borrowed / lltv at this price, plus a margin.
    assume(lltv > 0)
    borrowed = mb.to_assets_up(position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares)
    value_needed = -(-borrowed * WAD // lltv)  # ceil(borrowed / lltv), loan units
    need = -(-value_needed * ORACLE_PRICE_SCALE // price) + 1  # in collateral units, plus a margin
    assume(need < 2**128)
    assume(need * price < 2**256)  # else the contract's mulDivDown(collateral, price) overflows
    healthy = Position(position.borrow_shares, need)
    assert mb.is_healthy(market, healthy, lltv, price)
    with pytest.raises(MorphoError) as info:
        mb.liquidate(market, healthy, lltv, price, *((amount, 0) if use_seized else (0, amount)))
    assert info.value.reason == mb.HEALTHY_POSITION


@SETTINGS
@given(a=st.integers(0, WAD - 1), b=st.integers(0, WAD - 1))
def test_incentive_factor_is_non_increasing_in_lltv_and_capped(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    lif_lo, lif_hi = mb.liquidation_incentive_factor(lo), mb.liquidation_incentive_factor(hi)
    assert lif_lo >= lif_hi
    assert WAD <= lif_hi <= lif_lo <= MAX_LIQUIDATION_INCENTIVE_FACTOR


@SETTINGS
@given(case=buffered())
def test_liquidation_below_one_over_lif_improves_the_position(
    case: tuple[Market, Position, int, int, int, int],
) -> None:
    """Certora LiquidateBuffer.spec ``liquidateImprovePosition``."""
    market, position, lltv, price, seized, shares = case
    lif = mb.liquidation_incentive_factor(lltv)
    a = market.total_borrow_assets + VIRTUAL_ASSETS
    s = market.total_borrow_shares + VIRTUAL_SHARES
    # The rule's premise, LTV < 1 / LIF, in its exact integer form.
    assume(position.collateral * price * s * WAD > position.borrow_shares * ORACLE_PRICE_SCALE * a * lif)
    r = mb.liquidate(market, position, lltv, price, seized, shares)
    assert r.position.collateral != 0
    assert position.borrow_shares * r.position.collateral >= r.position.borrow_shares * position.collateral


@SETTINGS
@given(
    state=states(),
    rate=st.integers(0, WAD // 20_000_000),
    elapsed=st.integers(0, 365 * 86_400),
    fee=st.integers(0, mb.MAX_FEE),
)
def test_accrual_adds_the_same_interest_to_both_sides(
    state: tuple[Market, Position], rate: int, elapsed: int, fee: int
) -> None:
    market, _ = state
    r = mb.accrue_interest(market, rate, elapsed, fee)
    m = r.market
    assert m.total_borrow_assets - market.total_borrow_assets == r.interest
    assert m.total_supply_assets - market.total_supply_assets == r.interest
    assert m.total_borrow_shares == market.total_borrow_shares
    assert m.total_supply_shares - market.total_supply_shares == r.fee_shares
    # Simple interest <= compounded interest (Taylor terms are non-negative); fee shares are worth
    # at most the fee amount at the post-accrual share price.
    assert r.interest >= market.total_borrow_assets * rate * elapsed // WAD
    fee_amount = r.interest * fee // WAD
    assert mb.to_assets_down(r.fee_shares, m.total_supply_assets, m.total_supply_shares) <= fee_amount


@SETTINGS
@given(assets=st.integers(0, 10**32), total_assets=st.integers(0, 10**32), total_shares=st.integers(0, 10**38))
def test_share_conversions_round_trip_in_the_protocols_favour(
    assets: int, total_assets: int, total_shares: int
) -> None:
    down = mb.to_shares_down(assets, total_assets, total_shares)
    up = mb.to_shares_up(assets, total_assets, total_shares)
    assert down <= up <= down + 1
    assert mb.to_assets_down(down, total_assets, total_shares) <= assets
    assert mb.to_assets_up(up, total_assets, total_shares) >= assets
