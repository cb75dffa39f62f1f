"""A step's liquidation rounds are one metaorder per book: the square-root law applies to the
step's whole flow, however it is split into rounds, and every slice fills at the average price
of its walk through the book.  Across steps the walk starts from the flow the book's impact left
(decayed) depletes it by, so without decay the whole cascade is one metaorder."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from levguard.cascade import MarginRegime, Market, Population, VenueSettings, simulate_path
from levguard.kernels.cascade_records import ImpactModel
from levguard.kernels.cascade_rounds import impact_of, notional_for_impact, walk_fill, walk_impact
from levguard.kernels.cascade_v2_rounds import flow_for_move

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
KINDS = st.sampled_from([ImpactModel.LINEAR, ImpactModel.SQRT])
SLICES = st.lists(st.floats(-1e7, 1e7, allow_nan=False).filter(lambda x: abs(x) > 1e-3), min_size=1, max_size=12)


def close_to(value: float, scale: float) -> object:
    """``value`` to 1e-9 relative, or 1e-12 of ``scale`` (the size of the moves summed)."""
    return pytest.approx(value, rel=1e-9, abs=1e-12 * scale + 1e-15)


@FAST
@given(slices=SLICES, depth=st.floats(1e4, 1e9), coef=st.floats(0.1, 2.0), sigma=st.floats(0.005, 0.1), kind=KINDS)
def test_splitting_a_step_into_rounds_keeps_its_total_impact(
    slices: list[float], depth: float, coef: float, sigma: float, kind: int
) -> None:
    done = 0.0
    total = 0.0
    size = 0.0
    for x in slices:
        d = walk_impact(done, x, depth, kind, coef, sigma)
        # each slice moves the price by the law's difference between its cumulative flows
        expect = impact_of(done + x, depth, kind, coef, sigma) - impact_of(done, depth, kind, coef, sigma)
        assert d == close_to(expect, abs(impact_of(abs(done) + abs(x), depth, kind, coef, sigma)))
        total += d
        size += abs(d)
        done += x
    assert total == close_to(impact_of(done, depth, kind, coef, sigma), size)


def _walk_mean(level_flow: float, notional: float, depth: float, kind: int) -> float:
    # The quantity-weighted mean of exp(g(x) - g(X)) over the walk from X to X + notional (quadrature).
    def g(x: float) -> float:
        return impact_of(x, depth, kind, 1.0, 0.05)

    a = g(level_flow)
    lo, hi = sorted((level_flow, level_flow + notional))
    points = [0.0] if lo < 0.0 < hi else None
    val, _ = quad(lambda x: math.exp(g(x) - a), lo, hi, points=points, limit=200, epsabs=0.0, epsrel=1e-13)
    return val / (hi - lo)


@FAST
@given(
    done=st.floats(-5e7, 5e7, allow_nan=False),
    x=st.floats(-5e7, 5e7, allow_nan=False).filter(lambda v: abs(v) > 1.0),
    depth=st.floats(1e5, 1e9),
    kind=KINDS,
)
def test_the_fill_lies_between_the_walks_start_and_end_prices(done: float, x: float, depth: float, kind: int) -> None:
    price = 100.0
    level = impact_of(done, depth, kind, 1.0, 0.05)
    d = walk_impact(done, x, depth, kind, 1.0, 0.05)
    fill = walk_fill(price, level, d, kind)
    lo, hi = sorted((price, price * math.exp(d)))
    assert lo * (1.0 - 1e-14) <= fill <= hi * (1.0 + 1e-14)
    if kind == ImpactModel.SQRT:
        # the exact average price of the walk (the closed form against quadrature)
        assert fill == close_to(price * _walk_mean(done, x, depth, kind), 1.0)


def test_a_liquidation_from_rest_fills_at_two_thirds_of_the_log_move_under_the_square_root_law() -> None:
    # One 10x long gapped through: its whole close walks the book from rest.  Before, it filled at
    # P exp(dI / 2) (84.6291) against the walk's average 84.5060.
    pop = Population([1.0], [100.0], [100.0], [1000.0], [False])
    path = np.array([100.0, 85.0, 85.0])
    market = Market(depth=1e5, impact="sqrt", sigma_daily=0.03, half_life_steps=1e12)
    res = simulate_path(
        pop, path, market=market, regime=MarginRegime(mmr=0.005, liquidation_fee=0.0), venue=VenueSettings(adl=False)
    )
    fill = float(res.events["price"].iloc[0])
    d = math.log(float(res.steps["price"].iloc[1]) / 85.0)
    walk, _ = quad(lambda u: 85.0 * math.exp(d * math.sqrt(u)), 0.0, 1.0, epsabs=0.0, epsrel=1e-13)
    assert fill == close_to(walk, 1.0)
    assert round(fill, 4) == 84.5060
    assert 0.6 < math.log(fill / 85.0) / d < 0.7


def _scaled_run(seed: int, m: float, *, steps: int | None = None) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    lev = rng.uniform(5, 80, n)
    entry = 100 * np.exp(rng.normal(0, 0.005, n))
    qty = rng.uniform(0.5, 30, n) * m
    t = int(rng.integers(3, 15)) if steps is None else steps
    path = 100 * np.exp(np.cumsum(np.r_[0, rng.normal(-0.004, 0.006, t)]))
    depth = float(10 ** rng.uniform(1.5, 3.5))
    pop = Population(np.ones(n), qty, entry, qty * entry / lev, np.zeros(n, bool))
    res = simulate_path(
        pop,
        path,
        market=Market(depth=depth, impact="sqrt", half_life_steps=1e12),
        regime=MarginRegime(mmr=0.005, liquidation_fee=0.0, partial=1.0),
        venue=VenueSettings(insurance_fund=1e12, adl=False),
    )
    return res.steps["price"].to_numpy(), float(res.summary["liquidated_notional"])


def test_more_liquidation_in_fewer_rounds_moves_the_price_further() -> None:
    # sqrt impact per round: every position x1.5 (same leverage) liquidated 1.5x the notional in
    # fewer rounds and the price fell less (seed 5: 60.7214 against 60.0269; 4 of 400 seeds).
    base, base_liq = _scaled_run(5, 1.0)
    more, more_liq = _scaled_run(5, 1.5)
    assert more_liq > base_liq
    assert more.min() <= base.min() * (1.0 + 1e-12)


@FAST
@given(seed=st.integers(0, 2**32 - 1), m=st.floats(1.0, 4.0))
def test_scaling_every_position_never_lifts_the_price_within_a_step(seed: int, m: float) -> None:
    # Whole closes, no ADL, latency, mark lag or decay; one exogenous move (one step: one
    # metaorder).
    base, _ = _scaled_run(seed, 1.0, steps=1)
    more, _ = _scaled_run(seed, m, steps=1)
    assert (more <= base * (1.0 + 1e-12)).all()


@FAST
@given(seed=st.integers(0, 2**32 - 1), m=st.floats(1.0, 4.0))
def test_scaling_every_position_never_lifts_the_price_across_steps_without_decay(seed: int, m: float) -> None:
    # 3 to 14 steps, no decay: the cascade is one metaorder.  With each step's walk from rest, a
    # larger population that liquidated in one step ended above a smaller one that split its
    # flow across steps (sqrt(a + b) < sqrt(a) + sqrt(b): 17 of 400 seeds).
    base, _ = _scaled_run(seed, 1.0)
    more, _ = _scaled_run(seed, m)
    assert (more <= base * (1.0 + 1e-12)).all()


def test_more_liquidation_split_across_steps_moves_the_price_further() -> None:
    # Seed 22 (of the 17): x1.5 every position liquidated 18838 against 12672 and its lowest price
    # was 84.3764 against 83.4022.
    base, base_liq = _scaled_run(22, 1.0)
    more, more_liq = _scaled_run(22, 1.5)
    assert more_liq > base_liq
    assert more.min() <= base.min() * (1.0 + 1e-12)


@FAST
@given(move=st.floats(-3.0, 3.0, allow_nan=False), depth=st.floats(1e4, 1e9), kind=KINDS)
def test_the_flow_behind_an_impact_is_the_laws_inverse(move: float, depth: float, kind: int) -> None:
    x = notional_for_impact(move, depth, kind, 0.7, 0.04)
    assert impact_of(x, depth, kind, 0.7, 0.04) == close_to(move, abs(move))
    assert x * move <= 0.0  # sells (> 0) move the price down


@FAST
@given(
    level=st.floats(-1.0, 1.0, allow_nan=False),
    move=st.floats(-0.5, 0.5, allow_nan=False),
    depth=st.floats(1e4, 1e9),
    kind=KINDS,
)
def test_arbitrage_walks_the_book_from_its_impact(level: float, move: float, depth: float, kind: int) -> None:
    """The flow ``simulate_market``'s arbitrage trades to move a book's impact from ``level`` by
    ``move`` (``g^-1(level + move) - g^-1(level)``), walked on from the book's depletion, moves it
    by exactly ``move``.  Sized from rest (``g^-1(move)``) it moved the book as much for several
    times less notional (a 2026-12-07 review: 3.8x to 3,000x)."""
    price = 100.0
    start = flow_for_move(level, price, depth, kind, 0.7, 0.04)
    flow = flow_for_move(level + move, price, depth, kind, 0.7, 0.04) - start
    got = walk_impact(start * price, flow * price, depth, kind, 0.7, 0.04)
    assert got == close_to(move, abs(move) + abs(level) + 0.01)  # a move of 1e-15 may round to 0
    if kind == ImpactModel.LINEAR:  # additive: the same flow as from rest (the kernel takes that one)
        assert flow == close_to(flow_for_move(move, price, depth, kind, 0.7, 0.04), abs(flow) + abs(start))


def _two_steps(half_life: float) -> tuple[np.ndarray, np.ndarray, float]:
    # A 10x and a 5x long liquidated in steps 1 and 3 (nothing in between); returns the log impact per
    # step, the book flows (quote, > 0 sells) per step and the per-step decay.
    pop = Population([1.0, 1.0], [100.0, 60.0], [100.0, 100.0], [1000.0, 1200.0], [False, False])
    path = np.array([100.0, 88.0, 88.0, 70.0, 70.0])
    market = Market(depth=1e5, impact="sqrt", sigma_daily=0.03, half_life_steps=half_life)
    res = simulate_path(
        pop, path, market=market, regime=MarginRegime(mmr=0.005, liquidation_fee=0.0), venue=VenueSettings(adl=False)
    )
    impact = res.steps["impact"].to_numpy()
    decay = 0.5 ** (1.0 / half_life)
    flows = np.zeros(len(path))
    for step, qty in zip(res.events["step"], res.events["qty"], strict=True):
        s = int(step)
        # a whole close: one round, at the step's price before it
        flows[s] += abs(float(qty)) * path[s] * math.exp(impact[s - 1] * decay)
    return impact, flows, decay


@pytest.mark.parametrize("half_life", [1e12, 2.0])
def test_a_step_walks_on_from_the_impact_the_earlier_steps_left(half_life: float) -> None:
    impact, flows, decay = _two_steps(half_life)
    assert flows[1] > 0.0
    assert flows[3] > 0.0
    assert flows[2] == 0.0
    g = [impact_of(x, 1e5, ImpactModel.SQRT, 1.0, 0.03) for x in (flows[1], flows[3])]
    assert impact[1] == close_to(g[0], 1.0)
    left = impact[1] * decay**2
    # the second step's metaorder starts where the first one's impact left the book
    walked = impact_of(
        notional_for_impact(left, 1e5, ImpactModel.SQRT, 1.0, 0.03) + flows[3], 1e5, ImpactModel.SQRT, 1.0, 0.03
    )
    assert impact[3] == close_to(walked, 1.0)
    if half_life > 1e6:
        # no decay: the two steps are one metaorder, not g(a) + g(b)
        assert impact[3] == close_to(impact_of(flows[1] + flows[3], 1e5, ImpactModel.SQRT, 1.0, 0.03), 1.0)
        assert impact[3] > g[0] + g[1]


def test_an_up_walk_from_rest_past_exps_range_fills_at_inf_not_nan() -> None:
    # From rest (level 0) the mean's ``2 a m0`` term was 0 x inf = NaN once exp(d) overflowed: a
    # fill of NaN where the walk's end price is inf (which the simulators refuse by name).
    for d in (709.0, 710.0, 800.0):
        assert walk_fill(100.0, 0.0, d, ImpactModel.SQRT) == math.inf
    # Below the overflow the from-rest mean is unchanged: 2 m1(d), two thirds of the move to first order.
    assert walk_fill(100.0, 0.0, 1e-3, ImpactModel.SQRT) == pytest.approx(100.0 * (1.0 + 2e-3 / 3.0), rel=1e-6)
