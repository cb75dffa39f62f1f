"""Hypothesis properties of the interest-rate models (``levguard.core.defi.irm``).

Aave (3.0 strategy and 3.1+ V2 strategy), for any parameters and reserve state:

* the variable (and 3.0 stable) borrow rate is non-decreasing in the usage ratio, except at the
  kink where the half-up roundings of ``s1.rayMul(U).rayDiv(U*)`` may overshoot ``base + s1`` by at
  most ``RAY / (2 U*) + 1`` wei; it equals ``base + s1`` within that bound at the kink (continuity),
  ``base`` at zero usage and ``base + s1 + s2`` at full usage;
* the liquidity rate is at most the borrow rate times the supply usage and so times the borrow
  usage (``unbacked`` only lowers it), and falls as the reserve factor rises; in 3.0 the borrow rate
  is the debt-weighted mean of the variable and average stable rates, whose roundings may add
  ``1e18 / total_debt + 1`` ray (a debt of a few hundred wei can double it);
* index growth: the compounded factor (3.0 - 3.3 and 3.4+) is at least the linear one, at most
  ``e^(rate t)``, non-decreasing in time; normalized income and debt never fall below the index.

Morpho's AdaptiveCurveIrm:

* ``wExp`` is non-decreasing, within 1 % of ``exp`` on ``[ln 1e-9, WEXP_UPPER_BOUND)``, within
  1e10 wei of 0 below (ExpLibTest's bounds), exactly ``WAD`` at 0;
* the rate at target rises when utilisation is above target and falls below it (strictly, unless
  clamped), stays put at target, and stays within ``[MIN_RATE_AT_TARGET, MAX_RATE_AT_TARGET]``;
* the average rate lies between the curve at the start and at the end rate at target, and the
  borrow rate is non-decreasing in utilisation; the curve is ``r`` at target, ``r/4`` at 0 %,
  ``4 r`` at 100 %.

APYs: compounding never lowers the yield (continuous >= per second >= APR), and supply APY is at
most borrow APY times utilisation.
"""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from levguard.core.defi import adaptive_curve_irm as ac
from levguard.core.defi.irm import (
    SECONDS_PER_YEAR,
    AaveInterestRateData,
    AaveInterestRates,
    AaveRateStrategy,
    adaptive_curve_accrue_interest,
    adaptive_curve_borrow_rate,
    apr_to_apy,
    borrow_apy,
    calculate_compounded_interest,
    calculate_interest_rates,
    calculate_interest_rates_v2,
    calculate_linear_interest,
    get_normalized_debt,
    get_normalized_income,
    supply_apy,
)
from levguard.core.defi.morpho import WAD, Market
from levguard.core.defi.wadray import RAY, ray_mul

SETTINGS = settings(max_examples=250, deadline=None)
YEAR = SECONDS_PER_YEAR

rays = st.integers(0, 5 * RAY)
optimals = st.one_of(st.integers(RAY // 100, RAY), st.sampled_from([RAY // 100, 45 * RAY // 100, 8 * RAY // 10, RAY]))
amounts = st.one_of(st.integers(0, 10**30), st.integers(0, 1000))
factors = st.integers(0, 10_000)


@st.composite
def v30_strategies(draw: st.DrawFn) -> AaveRateStrategy:
    return AaveRateStrategy(
        optimal_usage_ratio=draw(optimals),
        base_variable_borrow_rate=draw(rays),
        variable_rate_slope1=draw(rays),
        variable_rate_slope2=draw(rays),
        stable_rate_slope1=draw(rays),
        stable_rate_slope2=draw(rays),
        base_stable_rate_offset=draw(rays),
        stable_rate_excess_offset=draw(rays),
        optimal_stable_to_total_debt_ratio=draw(st.integers(0, RAY)),
    )


rate_data = st.builds(
    AaveInterestRateData,
    optimal_usage_ratio=st.integers(1_00, 99_00),
    base_variable_borrow_rate=st.integers(0, 100_000),
    variable_rate_slope1=st.integers(0, 100_000),
    variable_rate_slope2=st.integers(0, 100_000),
)


def _kink_tolerance(optimal: int) -> int:
    return RAY // (2 * optimal) + 2


def _v30(s: AaveRateStrategy, debt: int, available: int, **kw: int) -> AaveInterestRates:
    return calculate_interest_rates(s, total_variable_debt=debt, underlying_balance=available, reserve_factor=0, **kw)


def _v2(d: AaveInterestRateData, debt: int, available: int, version: str = "3.3", **kw: int) -> AaveInterestRates:
    return calculate_interest_rates_v2(
        d, total_debt=debt, virtual_underlying_balance=available, reserve_factor=kw.pop("rf", 0), version=version, **kw
    )


# --- Aave: monotone, kink, ends --------------------------------------------------------------------


@SETTINGS
@given(v30_strategies(), st.integers(1, 10**30), st.integers(0, 10**6), st.integers(0, 10**6))
def test_v30_rates_non_decreasing_in_usage(s: AaveRateStrategy, total: int, a: int, b: int) -> None:
    # Same liquidity plus debt, more of it borrowed: usage rises.
    lo, hi = sorted((total * a // 10**6, total * b // 10**6))
    assume(lo > 0 or s.optimal_usage_ratio > 0)
    r1, r2 = _v30(s, lo, total - lo), _v30(s, hi, total - hi)
    assert r1.borrow_usage_ratio <= r2.borrow_usage_ratio
    crosses = r1.borrow_usage_ratio <= s.optimal_usage_ratio < r2.borrow_usage_ratio
    tol = _kink_tolerance(s.optimal_usage_ratio) if crosses else 0
    assert r2.current_variable_borrow_rate >= r1.current_variable_borrow_rate - tol
    assert r2.current_stable_borrow_rate >= r1.current_stable_borrow_rate - tol


@SETTINGS
@given(rate_data, st.integers(1, 10**30), st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from(["3.3", "3.4"]))
def test_v2_variable_rate_non_decreasing_in_usage(
    d: AaveInterestRateData, total: int, a: int, b: int, version: str
) -> None:
    lo, hi = sorted((total * a // 10**6, total * b // 10**6))
    r1, r2 = _v2(d, lo, total - lo, version), _v2(d, hi, total - hi, version)
    optimal = d.ray()[0]
    crosses = r1.borrow_usage_ratio <= optimal < r2.borrow_usage_ratio
    tol = _kink_tolerance(optimal) if crosses else 0
    assert r2.current_variable_borrow_rate >= r1.current_variable_borrow_rate - tol


@SETTINGS
@given(rate_data, st.integers(1, 10**24))
def test_v2_kink_continuity_and_ends(d: AaveInterestRateData, debt: int) -> None:
    optimal, base, slope1, slope2 = d.ray()
    # usage exactly at the kink (U* = k / 10_000): available = debt (10_000 - k) / k when that is exact
    k = d.optimal_usage_ratio
    debt_k = debt * k
    at_kink = _v2(d, debt_k, debt * (10_000 - k))
    assert at_kink.borrow_usage_ratio == optimal
    assert abs(at_kink.current_variable_borrow_rate - (base + slope1)) <= _kink_tolerance(optimal)
    assert _v2(d, 0, debt).current_variable_borrow_rate == base
    assert _v2(d, debt, 0).current_variable_borrow_rate == base + slope1 + slope2
    # just above the kink the rate is base + slope1 plus a little of slope2
    above = _v2(d, debt_k + 1, debt * (10_000 - k))
    tol = _kink_tolerance(optimal)  # the usage may round back onto the kink
    assert base + slope1 - tol <= above.current_variable_borrow_rate <= base + slope1 + slope2 + tol


@SETTINGS
@given(v30_strategies(), amounts, amounts, amounts, amounts, st.integers(0, 2 * RAY), factors)
def test_v30_liquidity_rate_at_most_borrow_rate_times_usage(
    s: AaveRateStrategy, variable: int, stable: int, available: int, unbacked: int, avg: int, rf: int
) -> None:
    assume(variable + stable > 0 or s.optimal_usage_ratio > 0)
    r = calculate_interest_rates(
        s,
        total_variable_debt=variable,
        total_stable_debt=stable,
        average_stable_borrow_rate=avg,
        underlying_balance=available,
        unbacked=unbacked,
        reserve_factor=rf,
    )
    assert r.supply_usage_ratio <= r.borrow_usage_ratio <= RAY
    debt = variable + stable
    if debt == 0:
        assert r.current_liquidity_rate == 0
        return
    # The overall rate is the debt-weighted mean of these two, computed as
    # (wadToRay(v).rayMul(r_v) + wadToRay(s).rayMul(avg)).rayDiv(wadToRay(D)): its roundings add at
    # most 1e18 / D + 1 ray (a wei-sized debt of 206 at 0.24 % doubles it; 1e18 / D is 1e-27 a year
    # on a debt of 1e9 tokens of 18 decimals).
    top = max(r.current_variable_borrow_rate, avg) + 10**18 // debt + 1
    assert r.current_liquidity_rate <= ray_mul(top, r.supply_usage_ratio) <= ray_mul(top, r.borrow_usage_ratio)


@SETTINGS
@given(rate_data, amounts, amounts, amounts, factors, factors)
def test_v2_liquidity_rate_bounds_and_reserve_factor(
    d: AaveInterestRateData, debt: int, available: int, unbacked: int, rf1: int, rf2: int
) -> None:
    lo, hi = sorted((rf1, rf2))
    r_lo = _v2(d, debt, available, unbacked=unbacked, rf=lo)
    r_hi = _v2(d, debt, available, unbacked=unbacked, rf=hi)
    assert r_lo.current_liquidity_rate <= ray_mul(r_lo.current_variable_borrow_rate, r_lo.supply_usage_ratio)
    assert r_lo.current_liquidity_rate <= ray_mul(r_lo.current_variable_borrow_rate, r_lo.borrow_usage_ratio)
    assert r_hi.current_liquidity_rate <= r_lo.current_liquidity_rate
    assert r_hi.current_variable_borrow_rate == r_lo.current_variable_borrow_rate
    # unbacked aTokens share the interest: the supply rate can only fall
    more_unbacked = _v2(d, debt, available, unbacked=unbacked + 10**18, rf=lo)
    assert more_unbacked.current_liquidity_rate <= r_lo.current_liquidity_rate


# --- Aave: index growth ----------------------------------------------------------------------------

rates_per_year = st.one_of(st.integers(0, 10 * RAY), st.integers(0, RAY // 10))
last_updates = st.integers(0, 2**40 - 1)
periods = st.one_of(st.integers(0, 10 * YEAR), st.integers(0, 86_400))


@SETTINGS
@given(rates_per_year, last_updates, periods, periods, st.sampled_from(["3.0", "3.3", "3.4"]))
def test_index_growth(rate: int, last: int, t1: int, t2: int, version: str) -> None:
    a, b = sorted((t1, t2))
    lin = calculate_linear_interest(rate, last, last + b)
    comp_a = calculate_compounded_interest(rate, last, last + a, version)
    comp_b = calculate_compounded_interest(rate, last, last + b, version)
    assert RAY <= lin <= comp_b + 1
    assert comp_a <= comp_b
    exact = math.exp(rate / RAY * b / YEAR)
    assert comp_b / RAY <= exact * (1 + 1e-12)
    x = rate / RAY * b / YEAR
    if x <= 0.05:
        # three terms of (1 + r/Y)^n (3.0 - 3.3, per-second compounding) or of e^x (3.4+): the
        # rest is at most about x^4 / 24; 3.0 - 3.3 floor rate^2 / Y^2 and rate^3 / Y^3 to whole
        # ray-wei first, losing up to n^2/2 + n^3/6 wei (never more than the cubic term itself)
        ideal = math.exp(b * math.log1p(rate / RAY / YEAR)) if version != "3.4" else exact
        floors = (b * b / 2 + min(b**3 / 6, x**3 / 6 * RAY)) / RAY if version != "3.4" else 0.0
        assert abs(ideal - comp_b / RAY) <= 1.1 * x**4 / 24 + floors + 5e-15  # + float64 ulps


@SETTINGS
@given(st.integers(RAY, 3 * RAY), rates_per_year, last_updates, periods, st.sampled_from(["3.0", "3.4"]))
def test_normalized_income_and_debt_not_below_index(index: int, rate: int, last: int, n: int, version: str) -> None:
    assert get_normalized_income(index, rate, last, last + n) >= index
    assert get_normalized_debt(index, rate, last, last + n, version) >= index
    assert get_normalized_debt(index, rate, last, last, version) == index


# --- Morpho: wExp ----------------------------------------------------------------------------------

LN_GWEI_INT = -2072 * 10**16
exponents = st.one_of(
    st.integers(ac.LN_WEI_INT - 10**18, ac.WEXP_UPPER_BOUND + 10**18),
    st.integers(-(10**18), 10**18),
    st.integers(-(2**255), 2**255 - 1),
)


@settings(max_examples=500, deadline=None)
@given(exponents, exponents)
def test_w_exp_monotone_and_accurate(x: int, y: int) -> None:
    lo, hi = sorted((x, y))
    assert ac.w_exp(lo) <= ac.w_exp(hi)
    e = ac.w_exp(lo)
    if LN_GWEI_INT <= lo < ac.WEXP_UPPER_BOUND:
        assert abs(e / (math.exp(lo / WAD) * WAD) - 1) <= 0.01
    elif ac.LN_WEI_INT <= lo < LN_GWEI_INT:
        assert 0 <= e <= 10**10
    assert e >= WAD if lo >= 0 else e <= WAD  # ExpLibTest testWExpPositive / testWExpNegative
    assert ac.w_exp(0) == WAD


# --- Morpho: the adaptive rate ---------------------------------------------------------------------

supplies = st.integers(1, 2**128 - 1)
starts = st.one_of(
    st.integers(ac.MIN_RATE_AT_TARGET, ac.MAX_RATE_AT_TARGET),
    st.sampled_from([ac.MIN_RATE_AT_TARGET, ac.INITIAL_RATE_AT_TARGET, ac.MAX_RATE_AT_TARGET]),
)
elapsed_s = st.one_of(st.integers(0, 2**48 - 1), st.integers(0, 30 * 86_400))


@st.composite
def markets(draw: st.DrawFn, supply_max: int = 2**128 - 1) -> Market:
    supply = draw(st.integers(1, supply_max))
    borrow = draw(st.one_of(st.integers(0, supply), st.just(supply * 9 // 10), st.just(supply)))
    return Market(supply, 0, borrow, 0)


@SETTINGS
@given(markets(), starts, elapsed_s)
def test_rate_at_target_moves_toward_utilization(m: Market, start: int, elapsed: int) -> None:
    r = adaptive_curve_borrow_rate(m, start, elapsed)
    end = r.end_rate_at_target
    assert ac.MIN_RATE_AT_TARGET <= end <= ac.MAX_RATE_AT_TARGET
    if r.utilization > ac.TARGET_UTILIZATION:
        assert end >= start
        if elapsed >= 86_400 and start < ac.MAX_RATE_AT_TARGET // 2 and r.err >= 10**16:
            assert end > start
    elif r.utilization < ac.TARGET_UTILIZATION:
        assert end <= start
        if elapsed >= 86_400 and start > 2 * ac.MIN_RATE_AT_TARGET and r.err <= -(10**16):
            assert end < start
    else:
        assert end == start
    # the applied rate lies on the curve between the start and the end rate at target
    lo, hi = sorted((start, end))
    assert ac.curve(lo, r.err) <= r.avg_borrow_rate <= ac.curve(hi, r.err)


@SETTINGS
@given(supplies, st.integers(0, 10**6), st.integers(0, 10**6), starts, elapsed_s)
def test_borrow_rate_non_decreasing_in_utilization(supply: int, a: int, b: int, start: int, elapsed: int) -> None:
    lo, hi = sorted((supply * a // 10**6, supply * b // 10**6))
    r1 = adaptive_curve_borrow_rate(Market(supply, 0, lo, 0), start, elapsed)
    r2 = adaptive_curve_borrow_rate(Market(supply, 0, hi, 0), start, elapsed)
    assert r1.avg_borrow_rate <= r2.avg_borrow_rate
    assert r1.end_rate_at_target <= r2.end_rate_at_target


@SETTINGS
@given(st.integers(0, 2**180))
def test_curve_anchors(rate_at_target: int) -> None:
    assert ac.curve(rate_at_target, 0) == rate_at_target
    assert ac.curve(rate_at_target, -WAD) == rate_at_target // 4
    assert ac.curve(rate_at_target, WAD) == 4 * rate_at_target


@SETTINGS
@given(markets(10**30), starts, st.integers(1, 365 * 86_400), st.integers(0, 25 * 10**16))  # no uint128 overflow
def test_accrual_adds_interest_at_the_rate(m: Market, start: int, elapsed: int, fee: int) -> None:
    step = adaptive_curve_accrue_interest(m, start, elapsed, fee)
    assert step.interest >= 0
    assert step.market.total_borrow_assets == m.total_borrow_assets + step.interest
    assert step.market.total_supply_assets == m.total_supply_assets + step.interest
    assert step.avg_borrow_rate == adaptive_curve_borrow_rate(m, start, elapsed).avg_borrow_rate
    # interest at most continuous compounding of the applied rate
    bound = m.total_borrow_assets * math.expm1(step.avg_borrow_rate * elapsed / WAD)
    assert step.interest <= bound * (1 + 1e-9) + 1


# --- APY -------------------------------------------------------------------------------------------


@SETTINGS
@given(st.one_of(st.just(0.0), st.floats(1e-12, 20)), st.one_of(st.just(0.0), st.floats(1e-12, 20)))
def test_apy_orderings(apr1: float, apr2: float) -> None:
    apr = min(apr1, apr2)
    per_second, continuous = apr_to_apy(apr, "per_second"), apr_to_apy(apr, "continuous")
    assert apr * (1 - 1e-12) <= per_second <= continuous * (1 + 1e-12)
    assert apr_to_apy(apr, "per_second") <= apr_to_apy(max(apr1, apr2), "per_second")


@SETTINGS
@given(st.integers(0, 10**11), st.floats(0, 1), st.floats(0, 1))
def test_supply_apy_at_most_borrow_apy_times_utilization(rate: int, u: float, fee: float) -> None:
    b = borrow_apy(rate, "wad_per_second")
    s = supply_apy(rate, "wad_per_second", utilization=u, fee=fee)
    assert 0 <= s <= b * u * (1 + 1e-12)
