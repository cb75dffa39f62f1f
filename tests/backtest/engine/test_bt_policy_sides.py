"""Strategies that flip between long and short: every bar is sized for the side it holds.

The backtester's :class:`MarketContext` carries one side (the first trade's); the policy paths read
each bar's side from ``SeriesInputs.side`` instead.  Pinned here for every sizing policy: the
backtest's path at a bar equals ``decide`` for that bar's side and inputs (the engine was right on
c25c5c1).  Two callers gave the paths other sides than the ones evaluated:

- a sweep reused one liquidation-budget path for every strategy (``side_dependent`` did not list
  the budget): a short strategy sized by the long's path;
- a search (``grid_search``, ``random_search``, ``screen_walk_forward``) evaluating ``side=-1``
  built its paths without sides, as the long's (a Kelly on the asset's drift sized a short in a
  falling market at the long's edge).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from levguard.backtest._policy_paths import (
    SHARED_VOL_LAM,
    SHARED_VOL_WARMUP,
    _own_estimators,
    _split_policy,
    _uses_forecasts,
    _with_context,
    side_dependent,
)
from levguard.backtest.calibrate import evaluate_path, grid_search
from levguard.backtest.engine import prepare, run
from levguard.backtest.sweeps import sweep
from levguard.core.risk.forecast import ForecastPath
from levguard.core.sizing.base import Composite, FixedLeverage, SeriesInputs, SizingState
from levguard.core.sizing.health import HealthFactorTarget, LendingTerms
from levguard.core.sizing.policies import CPPI, DrawdownControl, GapCap, Kelly, VolatilityTarget
from levguard.core.sizing.portfolio import PortfolioCap, RiskBudget
from levguard.core.sizing.regime import RegimeSwitch
from levguard.core.sizing.venue import LiquidationBudget, TierCap
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels.sizing import ewma_vol_path_nb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bt_engine_helpers import random_frame

N = 400
DF = random_frame(n=N, seed=7, sigma=0.006)
INVERSE_TIERS = TierTable.from_max_leverage([(0, 125), (5, 50), (50, 20), (500, 10)])
GBM_BUDGET = LiquidationBudget(0.01, 7.0, max_leverage=100.0, model="gbm")
POLICIES = {
    "fixed": FixedLeverage(3.0),
    "vol_target": VolatilityTarget(0.5, max_leverage=10.0),
    "kelly": Kelly(mu_estimator="ewma_mean", max_leverage=10.0),
    "kelly_own_sigma": Kelly(
        mu_estimator="rolling_mean", sigma_estimator="close_to_close", lookback=48, max_leverage=10.0
    ),
    "gap_cap": GapCap(0.3),
    "tier_cap": TierCap(),
    "budget_gbm": GBM_BUDGET,
    "portfolio_cap": PortfolioCap(4.0),
    "risk_budget": RiskBudget(0.4),
    "health": HealthFactorTarget(1.5, LendingTerms(0.8)),
    "regime": RegimeSwitch({"calm": Kelly(mu_estimator="ewma_mean", max_leverage=10.0), "stress": GapCap(0.2)}),
    "composite": Composite(
        VolatilityTarget(0.5, max_leverage=10.0),
        Kelly(mu_estimator="ewma_mean", max_leverage=10.0),
        GapCap(0.2),
        TierCap(),
        GBM_BUDGET,
        DrawdownControl(0.5, 10.0),
    ),
}
VENUES = (("binance-usdm", "BTCUSDT", None), ("binance-coinm", "BTCUSD", INVERSE_TIERS))


@st.composite
def flips(draw: st.DrawFn, n: int = N) -> np.ndarray:
    """Directions in runs of 20-150 bars, each long, short or flat, with at least one of each side."""
    out = np.empty(n)
    t = 0
    while t < n:
        k = draw(st.integers(20, 150))
        out[t : t + k] = draw(st.sampled_from([1.0, -1.0, -1.0, 1.0, 0.0]))
        t += k
    out[0:1], out[-1:] = 1.0, -1.0  # both sides held somewhere
    return out


def _fitted(forecasts: ForecastPath | None, t: int) -> object:
    # The forecaster fitted at bar t, None before the first (the first week of mark bars).
    if forecasts is None or not forecasts.sigma[t] > 0.0:
        return None
    return forecasts.at(t)


def _decided(policy: object, prep: object, dirs: np.ndarray, bars: range) -> dict[int, float]:
    # decide at each bar for its own side (flat: the long's, as the paths read it), with the
    # backtest's inputs as of that bar: its close, the shared volatility forecast, the returns
    # so far, the instrument's initial equity.
    close = prep.market.close[:, 0]  # type: ignore[attr-defined]
    returns = np.concatenate(([0.0], np.diff(np.log(close))))
    vol = np.empty(close.shape[0])
    ewma_vol_path_nb(returns, SHARED_VOL_LAM, SHARED_VOL_WARMUP, prep.ppy, vol)  # type: ignore[attr-defined]
    rest = _split_policy(policy)[0]
    forecasts = prep.forecasts(0) if _uses_forecasts(rest) else None  # type: ignore[attr-defined]
    out = {}
    for t in bars:
        ctx = dataclasses.replace(prep.contexts[0], side=-1 if dirs[t] < 0 else 1)  # type: ignore[attr-defined]
        state = SizingState(
            equity=prep.initial_equity,  # type: ignore[attr-defined]
            price=float(close[t]),
            vol_forecast=float(vol[t]),
            returns=returns[: t + 1],
            periods_per_year=prep.ppy,  # type: ignore[attr-defined]
            context=ctx,
            liquidation_forecaster=_fitted(forecasts, t),
        )
        out[t] = _own_estimators(_with_context(rest, ctx)).decide(state).target_leverage
    return out


@pytest.mark.parametrize(("venue", "symbol", "tiers"), VENUES, ids=[v[0] for v in VENUES])
@pytest.mark.parametrize("name", list(POLICIES))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dirs=flips())
def test_backtest_path_is_decide_for_each_bars_side(name: str, venue: str, symbol: str, tiers: object, dirs) -> None:
    policy = POLICIES[name]
    prep = prepare(DF, dirs, policy, venue=venue, symbol=symbol, tiers=tiers)
    lev = prep.leverage[:, 0]
    want = _decided(policy, prep, dirs, range(SHARED_VOL_WARMUP + 5, N, 13))
    for t, w in want.items():
        assert lev[t] == pytest.approx(w, rel=1e-9, abs=1e-12), (t, dirs[t])


@pytest.mark.parametrize("model", ["default", "forecast"])
def test_budget_on_the_forecaster_is_decide_for_each_bars_side(model: str) -> None:
    # Both models read the liquidation forecaster fitted at each bar's close; before the first
    # (bar 168: a week of mark bars) decide has none: model default takes the closed form on the
    # volatility forecast (0 before its 30-bar warm-up), model forecast holds nothing.  On 55048aa
    # the default's path was 0 there (bar 35: 0 where decide gives 5.665x).
    dirs = np.where(np.arange(N) < 250, 1.0, -1.0)
    dirs[60:120] = -1.0
    dirs[140:150] = 0.0
    dirs[300:330] = 0.0
    policy = LiquidationBudget(0.01, 7.0, max_leverage=100.0, model=model)
    prep = prepare(DF, dirs, policy, symbol="BTCUSDT")
    first = int(np.argmax(prep.forecasts(0).sigma > 0.0))
    assert first == 168
    bars = sorted({*range(0, N, 7), first - 1, first})
    want = _decided(policy, prep, dirs, bars)
    lev = prep.leverage[:, 0]
    assert {np.sign(dirs[t]) for t in want if t < first} == {-1.0, 0.0, 1.0}
    early = [t for t in want if SHARED_VOL_WARMUP < t < first]
    assert early
    assert all(want[t] > 1.0 if model == "default" else want[t] == 0.0 for t in early)
    for t, w in want.items():
        assert lev[t] == pytest.approx(w, rel=1e-9, abs=1e-12), (t, dirs[t])


# ------------------------------------------------------------------------------------ sweeps

SWEPT = {
    "budget": GBM_BUDGET,
    "composite": Composite(VolatilityTarget(3.0, max_leverage=10.0), GBM_BUDGET),
    "per_symbol": {"BTCUSDT": GBM_BUDGET},
}


@pytest.mark.parametrize("name", list(SWEPT))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=flips(), b=flips())
def test_sweep_rows_of_flipping_strategies_equal_their_runs(name: str, a: np.ndarray, b: np.ndarray) -> None:
    # On c25c5c1 the budget's path was built once, for the first strategy's sides, and reused for
    # the second: its row was not the second's run.
    policy = SWEPT[name]
    table = sweep(DF, {"a": a, "b": b}, {"p": policy}, symbol="BTCUSDT")
    for key, dirs in (("a", a), ("b", b)):
        row = table[table.strategy == key].iloc[0]
        res = run(DF, dirs, policy, symbol="BTCUSDT")
        for col in ("total_return", "max_drawdown", "avg_leverage"):
            assert row[col] == pytest.approx(res.metrics[col], rel=1e-9, abs=1e-12), (key, col)


def test_sweep_short_after_long_is_sized_as_a_short() -> None:
    # BTC-like walk, a long and a short strategy, 1 % in 7 days (closed form): the short's row
    # took the long's path (on c25c5c1 its avg leverage was the long's).
    long, short = np.ones(N), -np.ones(N)
    table = sweep(DF, {"long": long, "short": short}, {"p": GBM_BUDGET}, symbol="BTCUSDT")
    lev_short = prepare(DF, short, GBM_BUDGET, symbol="BTCUSDT").leverage[:, 0]
    lev_long = prepare(DF, long, GBM_BUDGET, symbol="BTCUSDT").leverage[:, 0]
    assert not np.allclose(lev_short[100:], lev_long[100:])  # the sides do differ
    row = table[table.strategy == "short"].iloc[0]
    assert row["avg_leverage"] == pytest.approx(run(DF, short, GBM_BUDGET, symbol="BTCUSDT").metrics["avg_leverage"])


@pytest.mark.parametrize(
    ("policy", "sided"),
    [
        (3.0, False),
        (FixedLeverage(2.0), False),
        (VolatilityTarget(0.5), False),
        (Kelly(), False),  # a given mu is already the side's
        (Kelly(mu_estimator="ewma_mean"), True),
        (GapCap(0.3), True),
        (LiquidationBudget(0.01, 7.0), True),
        (TierCap(), False),
        (PortfolioCap(3.0), False),
        (RiskBudget(0.4), False),
        (HealthFactorTarget(1.5, LendingTerms(0.8)), False),
        (DrawdownControl(0.3, 3.0), False),
        (CPPI(0.8, 3.0), False),
        (Composite(VolatilityTarget(0.5), LiquidationBudget(0.01, 7.0)), True),
        (Composite(VolatilityTarget(0.5), TierCap()), False),
        (RegimeSwitch({"calm": VolatilityTarget(0.5), "stress": LiquidationBudget(0.01, 7.0)}), True),
        ({"BTCUSDT": LiquidationBudget(0.01, 7.0)}, True),
        ({"BTCUSDT": VolatilityTarget(0.5)}, False),
    ],
)
def test_side_dependent_lists_every_policy_whose_path_reads_the_side(policy: object, sided: bool) -> None:
    assert side_dependent(policy) is sided


def test_a_policy_of_ones_own_may_read_the_side() -> None:
    class Own:
        name, cap = "own", 5.0

        def decide(self, state: SizingState) -> object:
            raise NotImplementedError

        def leverage_path(self, inputs: SeriesInputs) -> np.ndarray:
            side = np.ones(inputs.returns.shape[0]) if inputs.side is None else inputs.side
            return np.where(side < 0, 1.0, 2.0)

    assert side_dependent(Own())


# ------------------------------------------------------------------------------ searches

PPY = 8760.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), side=st.sampled_from([1, -1]), drift=st.floats(-8e-4, 8e-4))
def test_search_paths_are_the_evaluated_sides(seed: int, side: int, drift: float) -> None:
    # The paths of a search evaluating `side` are the side's: each row equals evaluate_path of the
    # policy's path for that side at every bar.  On c25c5c1 a short search sized the long.
    r = np.random.default_rng(seed).normal(drift, 0.01, 1500)

    def factory(fraction: float) -> Composite:
        return Composite(Kelly(fraction=fraction, mu_estimator="ewma_mean", max_leverage=5.0), GapCap(0.25))

    sides = {s: np.full(r.shape[0], float(s)) for s in (1, -1)}
    paths = [factory(f).leverage_path(SeriesInputs(r, PPY, side=sides[side])) for f in (0.25, 0.5)]
    others = [factory(f).leverage_path(SeriesInputs(r, PPY, side=sides[-side])) for f in (0.25, 0.5)]
    assume(not all(np.array_equal(p, o) for p, o in zip(paths, others, strict=True)))
    res = grid_search(factory, {"fraction": [0.25, 0.5]}, r, PPY, side=side)
    for i, path in enumerate(paths):
        want = evaluate_path(path, r, PPY, side=side)
        got = res.table.iloc[i]
        for col in ("total_return", "growth_rate", "max_drawdown"):
            w = getattr(want, col)
            assert got[col] == pytest.approx(w, rel=1e-9, abs=1e-12) or (math.isnan(w) and math.isnan(got[col]))


def test_short_search_in_a_falling_market_reads_the_shorts_drift() -> None:
    # A falling market: a long Kelly has no edge, a short one has.  On c25c5c1 the short search
    # read the long's edge (both candidates lost, -6.6 % and -42 %).
    r = np.random.default_rng(1).normal(-0.0004, 0.01, 2000)

    def kelly(fraction: float) -> Kelly:
        return Kelly(fraction=fraction, mu_estimator="ewma_mean", max_leverage=5.0)

    res = grid_search(kelly, {"fraction": [0.25, 0.5]}, r, PPY, side=-1, objective="growth")
    short = kelly(0.25).leverage_path(SeriesInputs(r, PPY, side=-np.ones(2000)))
    assert res.table["total_return"].iloc[0] == pytest.approx(evaluate_path(short, r, PPY, side=-1).total_return)
    assert res.table["total_return"].iloc[0] > 0.0


def test_search_refuses_inputs_holding_the_other_side() -> None:
    r = np.random.default_rng(2).normal(0.0, 0.01, 100)
    sides = np.ones(100)
    sides[40] = -1.0
    with pytest.raises(InputError, match=r"inputs.side\[40\] is -1.0, against side=1"):
        grid_search(FixedLeverage, {"leverage": [1.0]}, SeriesInputs(r, PPY, side=sides), side=1)


@pytest.mark.parametrize("flat", [0.0, math.nan])
def test_short_search_sizes_flat_bars_of_its_inputs_as_the_short(flat: float) -> None:
    # The searched position is short at every bar (evaluate_path): flat or NaN bars of the inputs'
    # side are sized for the short too.  On 55048aa they passed through and the paths read them as
    # the long (a falling market, Kelly ewma_mean 0.25: +145.1 % with side -1 everywhere, +808.5 %
    # with -1/0 alternating, the path differing on 985 of 2000 bars).
    r = np.random.default_rng(1).normal(-0.0004, 0.01, 2000)

    def kelly(fraction: float) -> Kelly:
        return Kelly(fraction=fraction, mu_estimator="ewma_mean", max_leverage=5.0)

    held = -np.ones(2000)
    held[::2] = flat
    got = grid_search(kelly, {"fraction": [0.25]}, SeriesInputs(r, PPY, side=held), side=-1, objective="growth")
    short = kelly(0.25).leverage_path(SeriesInputs(r, PPY, side=-np.ones(2000)))
    want = evaluate_path(short, r, PPY, side=-1).total_return
    assert got.table["total_return"].iloc[0] == pytest.approx(want, rel=1e-12)
