"""Hypothesis properties of the exact Aave v3 engine (``levguard.core.defi.aave``).

What the contracts guarantee, checked on random accounts (1-3 collaterals, 1-2 debts, realistic
decimals, prices and risk parameters that pass the PoolConfigurator's checks):

* WadRayMath / PercentageMath round half up: within one half of the exact quotient;
* the health factor never rises when a debt-only asset's price rises; it never falls when
  collateral grows or a collateral-only asset's price rises, exactly when all enabled collaterals
  share one liquidation threshold, and otherwise within one bps of the collateral value (the
  contract floors the average threshold; see the golden test of that case);
* a liquidation seizes ``debt repaid x debt price / collateral price x bonus`` within one
  collateral unit per rounding step (or, capped at the balance, repays within one debt unit per
  step), splits it exactly into the liquidator's part and the fee, never seizes more than the
  balance nor repays more than the debt or ``debtToCover``;
* 3.3 leaves no dust: the debt or the collateral reserve is cleared, or both keep at least
  ``MIN_LEFTOVER_BASE``; a deficit appears only when the account's last collateral is taken;
* the health factor after a liquidation is *not* guaranteed to reach 1 (or even to rise): it rises
  iff the health factor before exceeds ``bonus x LT`` of the seized collateral (checked with a 1 %
  margin for rounding).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from levguard.core.defi.aave import (
    AAVE_VERSIONS,
    MIN_LEFTOVER_BASE,
    AaveError,
    AaveReserve,
    LiquidationResult,
    get_user_account_data,
    liquidation_call,
)
from levguard.core.defi.wadray import UINT256_MAX, percent_div, percent_mul, ray_div, ray_mul, wad_div, wad_mul

SETTINGS = settings(max_examples=200, deadline=None)
E18 = 10**18


@st.composite
def reserve_params(draw: st.DrawFn, lt: int | None = None) -> dict[str, Any]:
    """Risk parameters the configurator accepts: ltv <= lt, bonus > 100 %, lt * bonus <= 100 %
    (thresholds 50-95 %, as listed reserves have them)."""
    lt = lt if lt is not None else draw(st.integers(5000, 9500))
    ltv = draw(st.integers(0, lt))
    max_bonus = min(20_000, (100_004_999) // lt)  # largest b with percentMul(lt, b) <= 10000
    bonus = draw(st.integers(10_001, max_bonus))
    return {
        "ltv": ltv,
        "lt": lt,
        "liquidation_bonus": bonus,
        "liquidation_protocol_fee": draw(st.sampled_from([0, 1000, draw(st.integers(0, 10_000))])),
    }


@st.composite
def accounts(draw: st.DrawFn, same_lt: bool = False, max_hf: float = 0.999) -> list[AaveReserve]:
    """1-3 collateral rows and 1-2 debt rows, the debt sized for a health factor in [0.3, max_hf]."""
    n_coll = draw(st.integers(1, 3))
    n_debt = draw(st.integers(1, 2))
    shared_lt = draw(st.integers(5000, 9500)) if same_lt else None
    rows: list[AaveReserve] = []
    weighted = Fraction(0)
    for i in range(n_coll + n_debt):
        decimals = draw(st.sampled_from([6, 8, 18]))
        price = draw(st.integers(10**6, 10**13))
        params = draw(reserve_params(shared_lt))
        unit = 10**decimals
        if i < n_coll:
            value = draw(st.integers(10**8, 10**14))  # 1 to 1,000,000 USD
            amount = max(value * unit // price, 1)
            weighted += Fraction(amount * price // unit * params["lt"], 10_000)
            rows.append(AaveReserve(f"C{i}", price, decimals, collateral=amount, **params))
        else:
            rows.append(AaveReserve(f"D{i}", price, decimals, **params))
    hf = Fraction(draw(st.integers(300, int(max_hf * 1000))), 1000)
    debt_rows = rows[n_coll:]
    share = Fraction(1, len(debt_rows))
    for j, r in enumerate(debt_rows):
        debt_value = weighted / hf * share
        debt_rows[j] = replace(r, debt=int(debt_value * 10**r.decimals / r.price) + 1)
    return rows[:n_coll] + debt_rows


def with_row(rows: list[AaveReserve], i: int, **changes: Any) -> list[AaveReserve]:
    out = list(rows)
    out[i] = replace(rows[i], **changes)
    return out


# ---------------------------------------------------------------- fixed-point libraries


@SETTINGS
@given(st.integers(0, 2**127), st.integers(1, 2**127))
def test_half_up_rounding(a: int, b: int) -> None:
    """Each product or quotient is the exact value rounded half up."""
    for got, exact in [
        (wad_mul(a, b), Fraction(a * b, E18)),
        (wad_div(a, b), Fraction(a * E18, b)),
        (ray_mul(a, b), Fraction(a * b, 10**27)),
        (ray_div(a, b), Fraction(a * 10**27, b)),
        (percent_mul(a, b), Fraction(a * b, 10**4)),
        (percent_div(a, b), Fraction(a * 10**4, b)),
    ]:
        assert exact - Fraction(1, 2) <= got <= exact + Fraction(1, 2)


# ---------------------------------------------------------------- health factor monotonicity


def hf(rows: list[AaveReserve]) -> int:
    return get_user_account_data(rows).health_factor


def floor_slack(rows: list[AaveReserve]) -> int:
    """Most the floor of the average threshold can cost: one bps of collateral value, in HF wad."""
    data = get_user_account_data(rows)
    return (data.total_collateral_base // 10_000 + 2) * E18 // max(data.total_debt_base, 1) + 1


@SETTINGS
@given(accounts(same_lt=True), st.data())
def test_hf_monotone_in_collateral_one_threshold(rows: list[AaveReserve], data: st.DataObject) -> None:
    """With one liquidation threshold, more collateral or a higher collateral price never lowers the HF."""
    i = data.draw(st.sampled_from([k for k, r in enumerate(rows) if r.collateral > 0]))
    more = data.draw(st.integers(1, 10**24))
    assert hf(with_row(rows, i, collateral=rows[i].collateral + more)) >= hf(rows)
    assert hf(with_row(rows, i, price=rows[i].price + more % 10**12 + 1)) >= hf(rows)


@SETTINGS
@given(accounts(), st.data())
def test_hf_monotone_in_collateral_up_to_the_floor(rows: list[AaveReserve], data: st.DataObject) -> None:
    """With mixed thresholds the HF may fall, but by less than one bps of the collateral value."""
    i = data.draw(st.sampled_from([k for k, r in enumerate(rows) if r.collateral > 0]))
    more = data.draw(st.integers(1, 10**24))
    for bigger in (
        with_row(rows, i, collateral=rows[i].collateral + more),
        with_row(rows, i, price=rows[i].price + more % 10**12 + 1),
    ):
        assert hf(bigger) + floor_slack(bigger) >= hf(rows)


@SETTINGS
@given(accounts(), st.data())
def test_hf_never_rises_with_debt_price(rows: list[AaveReserve], data: st.DataObject) -> None:
    """A debt-only asset's price rise never raises the HF (exactly)."""
    i = data.draw(st.sampled_from([k for k, r in enumerate(rows) if r.debt > 0]))
    up = data.draw(st.integers(1, 10**12))
    assert hf(with_row(rows, i, price=rows[i].price + up)) <= hf(rows)


# ---------------------------------------------------------------- liquidation


@st.composite
def liquidations(
    draw: st.DrawFn, versions: tuple[str, ...] = AAVE_VERSIONS
) -> tuple[list[AaveReserve], str, str, int, str]:
    rows = draw(accounts())
    coll = draw(st.sampled_from([r for r in rows if r.collateral > 0]))
    debt = draw(st.sampled_from([r for r in rows if r.debt > 0]))
    amount = draw(st.one_of(st.just(UINT256_MAX), st.integers(1, debt.debt), st.integers(1, 2 * debt.debt)))
    return rows, coll.symbol, debt.symbol, amount, draw(st.sampled_from(versions))


def run(case: tuple[list[AaveReserve], str, str, int, str]) -> LiquidationResult:
    rows, coll, debt, amount, version = case
    try:
        return liquidation_call(rows, coll, debt, amount, version=version)
    except AaveError as exc:  # dust (3.3) and nothing-to-burn are valid reverts, not failures
        assume(exc.code not in ("103", "25"))
        raise


@SETTINGS
@given(liquidations())
def test_liquidation_conserves_value(case: tuple[list[AaveReserve], str, str, int, str]) -> None:
    """seized = repaid x Pd/Pc x Uc/Ud x bonus within one collateral unit per rounding step (a floor
    and a half-up percentMul); when the balance caps it, repaid = balance x Pc/Pd x Ud/Uc / bonus
    within one debt unit per step (a floor and a half-up percentDiv)."""
    rows, coll_sym, debt_sym, amount, _ = case
    res = run(case)
    coll = next(r for r in rows if r.symbol == coll_sym)
    debt = next(r for r in rows if r.symbol == debt_sym)
    b = res.liquidation_bonus
    seized = res.collateral_to_liquidator + res.liquidation_protocol_fee
    rate = Fraction(res.debt_price * 10**coll.decimals, res.collateral_price * 10**debt.decimals)
    requested = min(amount, res.max_liquidatable_debt)
    capped = percent_mul(int(requested * rate), b) > coll.collateral
    if not capped:
        assert res.actual_debt_to_liquidate == requested
        expected = requested * rate * b / 10_000
        assert abs(seized - expected) <= Fraction(b, 10_000) + Fraction(1, 2)
    else:
        assert seized == coll.collateral
        expected_debt = coll.collateral / rate * 10_000 / b
        assert abs(res.actual_debt_to_liquidate - expected_debt) <= Fraction(10_000, b) + Fraction(1, 2)
    # the fee is the protocol's share of the bonus part, nothing else
    bonus_part = seized - percent_div(seized, b)
    assert res.liquidation_protocol_fee == percent_mul(bonus_part, coll.liquidation_protocol_fee)
    assert res.liquidation_protocol_fee <= bonus_part


@SETTINGS
@given(liquidations())
def test_liquidation_bounds(case: tuple[list[AaveReserve], str, str, int, str]) -> None:
    """Never seizes more than the balance, never repays more than the debt, the cap or debtToCover."""
    rows, coll_sym, debt_sym, amount, _ = case
    res = run(case)
    coll = next(r for r in rows if r.symbol == coll_sym)
    debt = next(r for r in rows if r.symbol == debt_sym)
    assert res.collateral_to_liquidator + res.liquidation_protocol_fee <= coll.collateral
    assert res.actual_debt_to_liquidate <= min(amount, debt.debt, res.max_liquidatable_debt)
    assert (
        res.collateral_after[coll_sym] == coll.collateral - res.collateral_to_liquidator - res.liquidation_protocol_fee
    )
    assert all(v >= 0 for v in res.debt_after.values())


@SETTINGS
@given(liquidations(versions=("3.3",)))
def test_v33_leaves_no_dust_and_books_deficit_only_without_collateral(
    case: tuple[list[AaveReserve], str, str, int, str],
) -> None:
    rows, coll_sym, debt_sym, _, _ = case
    res = run(case)
    coll = next(r for r in rows if r.symbol == coll_sym)
    debt = next(r for r in rows if r.symbol == debt_sym)
    coll_left = res.collateral_after[coll_sym]
    debt_left = debt.debt - res.actual_debt_to_liquidate
    if debt_left > 0 and coll_left > 0:
        assert debt_left * debt.price // 10**debt.decimals >= MIN_LEFTOVER_BASE
        assert coll_left * coll.price // 10**coll.decimals >= MIN_LEFTOVER_BASE
    if res.deficit:
        assert get_user_account_data(res.positions_after).total_collateral_base == 0
        assert sum(res.debt_after.values()) == 0


@SETTINGS
@given(liquidations())
def test_hf_after_rises_iff_above_bonus_times_threshold(case: tuple[list[AaveReserve], str, str, int, str]) -> None:
    """HF' > HF iff HF > bonus x LT of the seized collateral (exact arithmetic: removing D of debt and
    D x bonus of collateral weighted by LT).  The contract's floors (values, average threshold) move
    the HF by less than 2 x 1 bps / LT, so the direction is checked for liquidations repaying at
    least 5 % of the debt value, outside a 2 % band around the pivot, and seizing at least 1,000
    token units (the seized amount is floored to whole units: 8.65 units of a coin worth 0.6 cents
    a unit moved the HF of a 1-dollar position the other way, a counterexample hypothesis found).
    Nothing guarantees HF' >= 1."""
    rows, coll_sym, _, _, _ = case
    res = run(case)
    assume(not res.deficit)
    assume(res.collateral_to_liquidator + res.liquidation_protocol_fee >= 1_000)
    coll = next(r for r in rows if r.symbol == coll_sym)
    pivot = Fraction(res.liquidation_bonus * coll.lt, 10**8) * E18
    before_data = get_user_account_data(rows)
    data = get_user_account_data(res.positions_after)
    assume(data.health_factor != UINT256_MAX)  # the whole debt repaid
    assume(before_data.total_debt_base - data.total_debt_base >= before_data.total_debt_base // 20)
    before, after = res.health_factor_before, data.health_factor
    if before > pivot * Fraction(102, 100):
        event("HF above the pivot: rises")
        assert after >= before
    elif before < pivot * Fraction(98, 100):
        event("HF below the pivot: falls")
        assert after <= before


def test_partial_liquidation_can_lower_the_health_factor() -> None:
    """LT 8600 and bonus 10500 give a pivot of 0.903: a position at HF 0.90 gets *worse* when a quarter
    of its debt is liquidated (20,000 USD of ETH at LT 86 % against 19,111 USDC: HF 0.9000 -> 0.8989),
    so HF >= 1 after a liquidation is no invariant of the contracts."""
    rows = [
        AaveReserve("WETH", 2000 * 10**8, 18, 8250, 8600, collateral=10 * E18, liquidation_bonus=10500),
        AaveReserve("USDC", 10**8, 6, 8000, 8500, debt=19_111_111_112, liquidation_bonus=10500),
    ]
    res = liquidation_call(rows, "WETH", "USDC", 5_000 * 10**6)
    before = res.health_factor_before
    after = get_user_account_data(res.positions_after).health_factor
    assert 899 * 10**15 < before < 901 * 10**15
    assert after < before


@pytest.mark.parametrize("version", AAVE_VERSIONS)
def test_positions_after_round_trip(version: str) -> None:
    """``positions_after`` feeds the next call: liquidating again continues from the new balances."""
    rows = [
        AaveReserve("WETH", 1500 * 10**8, 18, 8250, 8600, collateral=10 * E18, liquidation_bonus=10500),
        AaveReserve("USDC", 10**8, 6, 8000, 8500, debt=14_000 * 10**6, liquidation_bonus=10500),
    ]
    first = liquidation_call(rows, "WETH", "USDC", 3_000 * 10**6, version=version)
    second = liquidation_call(first.positions_after, "WETH", "USDC", 3_000 * 10**6, version=version)
    assert second.debt_after["USDC"] == 14_000 * 10**6 - 6_000 * 10**6
    assert second.health_factor_before == get_user_account_data(first.positions_after, version=version).health_factor
