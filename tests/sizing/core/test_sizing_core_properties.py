"""Properties of the core sizing policies: bounds, monotonicity, composition, no look-ahead, consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from levguard.core.sizing.base import Composite, FixedLeverage, Policy, SeriesInputs, SizingState
from levguard.core.sizing.policies import CPPI, DrawdownControl, GapCap, Kelly, Rebalancer, VolatilityTarget
from levguard.errors import InputError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

POLICIES: list[Policy] = [
    VolatilityTarget(0.4, lookback=5, max_leverage=4.0),
    VolatilityTarget(0.6, estimator="close_to_close", lookback=8, max_leverage=2.0),
    Kelly(0.5, mu_estimator="given", max_leverage=3.0, lookback=5),
    Kelly(0.3, mu_estimator="ewma_mean", sigma_estimator="close_to_close", shrinkage=0.5, lookback=6, rate=0.02),
    Kelly(1.0, mu_estimator="rolling_mean", lookback=7, max_leverage=5.0),
    DrawdownControl(0.2, base_leverage=3.0),
    DrawdownControl(0.3, base_leverage=2.0, schedule="convex", power=3.0),
    CPPI(0.8, multiplier=4.0, max_leverage=3.0),
    CPPI(0.7, multiplier=5.0, ratchet=True, max_leverage=2.5),
    CPPI(0.9, multiplier=3.0, initial_equity=100.0),
    GapCap(0.4),
]
IDS = [f"{type(p).__name__}-{i}" for i, p in enumerate(POLICIES)]

finite_returns = arrays(np.float64, st.integers(0, 60), elements=st.floats(-0.3, 0.3))
opt_pos = st.one_of(st.none(), st.floats(0.0, 5.0))


@st.composite
def states(draw: st.DrawFn) -> SizingState:
    equity = draw(st.floats(1e-3, 1e9))
    peak = draw(st.one_of(st.none(), st.floats(1.0, 1e3).map(lambda k: equity * k)))
    floor = draw(st.one_of(st.none(), st.floats(0.0, 2.0).map(lambda k: equity * k)))
    return SizingState(
        equity=equity,
        vol_forecast=draw(opt_pos),
        mu_forecast=draw(st.one_of(st.none(), st.floats(-3.0, 3.0))),
        peak_equity=peak,
        floor=floor,
        returns=draw(st.one_of(st.none(), finite_returns)),
        periods_per_year=draw(st.sampled_from([365.0, 8760.0])),
    )


@st.composite
def series(draw: st.DrawFn) -> SeriesInputs:
    n = draw(st.integers(1, 80))
    r = draw(arrays(np.float64, n, elements=st.floats(-0.2, 0.2)))
    eq = 100.0 * np.exp(np.cumsum(draw(arrays(np.float64, n, elements=st.floats(-0.3, 0.3)))))
    vol = draw(st.one_of(st.none(), arrays(np.float64, n, elements=st.floats(0.0, 3.0))))
    mu = draw(st.one_of(st.none(), arrays(np.float64, n, elements=st.floats(-2.0, 2.0))))
    return SeriesInputs(r, periods_per_year=365.0, vol_forecast=vol, mu_forecast=mu, equity=eq)


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
@FAST
@given(state=states())
def test_decide_is_finite_and_within_cap(policy: Policy, state: SizingState) -> None:
    d = policy.decide(state)
    assert math.isfinite(d.target_leverage)
    assert 0.0 <= d.target_leverage <= policy.cap * (1 + 1e-12)
    assert d.binding_constraint


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
@FAST
@given(inputs=series())
def test_path_is_finite_and_within_cap(policy: Policy, inputs: SeriesInputs) -> None:
    path = policy.leverage_path(inputs)
    assert path.shape == inputs.returns.shape
    assert np.all(np.isfinite(path))
    assert np.all(path >= 0.0)
    assert np.all(path <= policy.cap * (1 + 1e-12))


@FAST
@given(lo=st.floats(1e-4, 5.0), hi=st.floats(1e-4, 5.0), target=st.floats(0.01, 2.0))
def test_vol_target_is_monotone_decreasing_in_forecast(lo: float, hi: float, target: float) -> None:
    lo, hi = min(lo, hi), max(lo, hi)
    p = VolatilityTarget(target, max_leverage=5.0)
    a = p.decide(SizingState(1.0, vol_forecast=lo)).target_leverage
    b = p.decide(SizingState(1.0, vol_forecast=hi)).target_leverage
    assert b <= a


def test_vol_target_binding_constraints() -> None:
    p = VolatilityTarget(0.4, max_leverage=3.0)
    assert p.decide(SizingState(1.0, vol_forecast=0.8)).binding_constraint == "vol_target"
    assert p.decide(SizingState(1.0, vol_forecast=0.8)).target_leverage == pytest.approx(0.5)
    assert p.decide(SizingState(1.0, vol_forecast=0.1)).binding_constraint == "max_leverage"
    none = p.decide(SizingState(1.0))
    assert (none.target_leverage, none.binding_constraint) == (0.0, "no_forecast")


def test_kelly_values_and_constraints() -> None:
    k = Kelly(0.5, shrinkage=0.2, rate=0.01, max_leverage=10.0)
    d = k.decide(SizingState(1.0, vol_forecast=0.5, mu_forecast=0.3))
    assert d.target_leverage == pytest.approx(0.5 * (0.8 * 0.3 - 0.01) / 0.25)
    assert d.binding_constraint == "kelly"
    assert k.decide(SizingState(1.0, vol_forecast=0.5, mu_forecast=-0.3)).binding_constraint == "no_edge"
    assert k.decide(SizingState(1.0, vol_forecast=0.5)).binding_constraint == "no_forecast"
    assert (
        Kelly(1.0, max_leverage=1.0).decide(SizingState(1.0, vol_forecast=0.2, mu_forecast=1.0)).target_leverage == 1.0
    )


def test_drawdown_and_cppi_values() -> None:
    dd = DrawdownControl(0.2, base_leverage=2.0)
    assert dd.decide(SizingState(90.0, peak_equity=100.0)).target_leverage == pytest.approx(1.0)
    assert DrawdownControl(0.2, 2.0, "convex", 2.0).decide(SizingState(90.0, peak_equity=100.0)).target_leverage == (
        pytest.approx(0.5)
    )
    assert dd.decide(SizingState(80.0, peak_equity=100.0)).binding_constraint == "max_drawdown"
    # An equity summed from positions one ulp under the peak a user typed in is at the peak: the
    # reason read "drawdown 3.33e-16 of max 0.3 scales 3x to 3x" (`levguard size --peak-equity`).
    noisy = DrawdownControl(0.3, base_leverage=3.0).decide(SizingState(172229.99999999994, peak_equity=172230.0))
    assert (noisy.binding_constraint, noisy.reasons) == ("base_leverage", ("at the equity peak: 3x",))
    c = CPPI(0.8, multiplier=3.0, max_leverage=5.0)
    d = c.decide(SizingState(100.0, floor=90.0))
    assert d.target_leverage == pytest.approx(0.3)
    assert d.binding_constraint == "cppi"
    assert c.decide(SizingState(100.0, floor=100.0)).binding_constraint == "floor_breached"
    assert GapCap(0.5, safety_margin=0.1).cap == pytest.approx(1.8)


@FAST
@given(state=states(), inputs=series(), picks=st.lists(st.integers(0, len(POLICIES) - 1), min_size=1, max_size=4))
def test_composite_never_exceeds_a_member(state: SizingState, inputs: SeriesInputs, picks: list[int]) -> None:
    members = [POLICIES[i] for i in picks] + [FixedLeverage(2.0)]
    comp = Composite(*members)
    d = comp.decide(state).target_leverage
    path = comp.leverage_path(inputs)
    for m in members:
        assert d <= m.decide(state).target_leverage + 1e-12
        assert np.all(path <= m.leverage_path(inputs) + 1e-12)


def _replace_future(inputs: SeriesInputs, t: int, rng: np.random.Generator) -> SeriesInputs:
    def swap(a: np.ndarray | None, lo: float, hi: float) -> np.ndarray | None:
        if a is None:
            return None
        b = a.copy()
        b[t + 1 :] = rng.uniform(lo, hi, b.shape[0] - t - 1)
        return b

    return SeriesInputs(
        swap(inputs.returns, -0.2, 0.2),  # type: ignore[arg-type]
        inputs.periods_per_year,
        swap(inputs.vol_forecast, 0.0, 3.0),
        swap(inputs.mu_forecast, -2.0, 2.0),
        swap(inputs.equity, 1.0, 1000.0),
    )


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
@FAST
@given(inputs=series(), frac=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_no_look_ahead(policy: Policy, inputs: SeriesInputs, frac: float, seed: int) -> None:
    n = inputs.returns.shape[0]
    t = min(n - 1, int(frac * n))
    changed = _replace_future(inputs, t, np.random.default_rng(seed))
    np.testing.assert_array_equal(policy.leverage_path(inputs)[: t + 1], policy.leverage_path(changed)[: t + 1])


def _state_at_end(policy: Policy, inputs: SeriesInputs) -> SizingState:
    eq = inputs.equity
    assert eq is not None
    floor = None
    if isinstance(policy, CPPI) and not policy.ratchet and policy.initial_equity is None:
        floor = policy.floor * float(eq[0])
    return SizingState(
        equity=float(eq[-1]),
        vol_forecast=None if inputs.vol_forecast is None else float(inputs.vol_forecast[-1]),
        mu_forecast=None if inputs.mu_forecast is None else float(inputs.mu_forecast[-1]),
        peak_equity=float(np.max(eq)),
        floor=floor,
        returns=inputs.returns,
        periods_per_year=inputs.periods_per_year,
    )


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
@FAST
@given(inputs=series())
def test_decide_equals_last_bar_of_path(policy: Policy, inputs: SeriesInputs) -> None:
    state = _state_at_end(policy, inputs)
    assert policy.decide(state).target_leverage == pytest.approx(policy.leverage_path(inputs)[-1], rel=1e-9, abs=1e-12)


def test_path_estimators_match_volatility_module() -> None:
    from levguard.core.risk.volatility import ewma_variance

    r = np.random.default_rng(3).normal(0.0, 0.01, 200)
    p = VolatilityTarget(0.5, lookback=2, max_leverage=1e9)
    want = 0.5 / np.sqrt(ewma_variance(r) * 8760.0)
    np.testing.assert_allclose(p.leverage_path(SeriesInputs(r))[1:], want[1:], rtol=1e-12)
    q = VolatilityTarget(0.5, estimator="close_to_close", lookback=20, max_leverage=1e9)
    got = q.leverage_path(SeriesInputs(r))
    assert np.all(got[:19] == 0.0)
    assert got[50] == pytest.approx(0.5 / (np.std(r[31:51], ddof=1) * math.sqrt(8760.0)), rel=1e-12)


# --------------------------------------------------------------------------- rebalancer


def test_rebalancer_rules() -> None:
    rb = Rebalancer(band=0.1, min_trade=50.0, max_step=0.5)
    assert rb.apply(1.05, 1.0, 1000.0) == 1.05  # inside the band
    assert rb.apply(1.5, 1.0, 1000.0) == pytest.approx(1.0)
    assert rb.apply(0.0, 2.0, 1000.0) == pytest.approx(0.5)  # max step
    assert rb.apply(0.0, 0.04, 1000.0) == 0.0  # 40 notional < min_trade
    assert Rebalancer().apply(0.3, 2.0, 1.0) == 2.0


def test_rebalancer_drift_formula() -> None:
    # A huge band: no trades after the first, so leverage only drifts: L' = L (1 + r) / (1 + L r).
    rb = Rebalancer(band=0.99)
    x = np.array([0.0, 0.1, -0.05, 0.02])
    path = rb.apply_path(np.full(4, 2.0), x, initial_leverage=2.0)
    lev = 2.0
    for t in range(1, 4):
        r = math.expm1(x[t])
        lev = lev * (1 + r) / (1 + lev * r)
        assert path[t] == pytest.approx(lev)


def test_rebalancer_ruin_stays_flat() -> None:
    path = Rebalancer().apply_path(np.full(3, 4.0), np.array([0.0, math.log(0.7), 0.1]))
    assert list(path) == [4.0, 0.0, 0.0]


@FAST
@given(
    targets=arrays(np.float64, 30, elements=st.floats(0.0, 5.0)),
    x=arrays(np.float64, 30, elements=st.floats(-0.1, 0.1)),
    band=st.floats(0.0, 0.5),
    step=st.floats(0.05, 10.0),
)
def test_rebalancer_path_matches_scalar_apply(targets: np.ndarray, x: np.ndarray, band: float, step: float) -> None:
    rb = Rebalancer(band=band, min_trade=0.01, max_step=step)
    path = rb.apply_path(targets, x, equity0=10.0)
    lev, eq = 0.0, 10.0
    for t in range(30):
        r = math.expm1(x[t])
        growth = 1 + lev * r
        if eq <= 0.0 or growth <= 0.0:  # ruined: flat for good
            lev, eq = 0.0, 0.0
        else:
            lev, eq = lev * (1 + r) / growth, eq * growth
            lev = rb.apply(lev, float(targets[t]), eq)
        assert path[t] == pytest.approx(lev, rel=1e-12, abs=1e-12)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: VolatilityTarget(0.0), "target_vol must be > 0, was 0"),
        (lambda: VolatilityTarget(0.4, estimator="garch"), "estimator"),  # type: ignore[arg-type]
        (lambda: VolatilityTarget(0.4, lookback=1), "lookback"),
        (lambda: VolatilityTarget(0.4, lam=1.0), "lam"),
        (lambda: VolatilityTarget(0.4, max_leverage=-1.0), "max_leverage"),
        (lambda: Kelly(0.0), "fraction"),
        (lambda: Kelly(1.5), "fraction"),
        (lambda: Kelly(0.5, shrinkage=1.5), "shrinkage"),
        (lambda: Kelly(0.5, mu_estimator="oracle"), "mu_estimator"),  # type: ignore[arg-type]
        (lambda: Kelly(0.5, rate=math.nan), "rate"),
        (lambda: DrawdownControl(0.0), "max_drawdown"),
        (lambda: DrawdownControl(0.2, base_leverage=0.0), "base_leverage"),
        (lambda: DrawdownControl(0.2, schedule="step"), "schedule"),  # type: ignore[arg-type]
        (lambda: DrawdownControl(0.2, power=0.0), "power"),
        (lambda: CPPI(1.0), "floor"),
        (lambda: CPPI(0.8, multiplier=0.0), "multiplier"),
        (lambda: CPPI(0.8, initial_equity=-1.0), "initial_equity"),
        (lambda: GapCap(0.0), "max_gap"),
        (lambda: GapCap(0.3, safety_margin=1.0), "safety_margin"),
        (lambda: Rebalancer(band=1.0), "band"),
        (lambda: Rebalancer(min_trade=-1.0), "min_trade"),
        (lambda: Rebalancer(max_step=0.0), "max_step"),
    ],
)
def test_bad_parameters_raise_input_error(factory: object, field: str) -> None:
    with pytest.raises(InputError, match=field.split(" ")[0]) as exc:
        factory()  # type: ignore[operator]
    assert field in str(exc.value)


def test_paths_needing_equity_raise_without_it() -> None:
    inputs = SeriesInputs(np.zeros(3))
    for p in (DrawdownControl(0.2), CPPI(0.8)):
        with pytest.raises(InputError, match="equity"):
            p.leverage_path(inputs)
