"""LiquidationBudget on the liquidation forecaster (issue 13): decide, per-bar paths, kernels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.forecast import (
    ForecastPath,
    HourlyBars,
    LiquidationForecaster,
    fit_forecaster,
    forecast_liquidations,
    forecast_path,
    required_distance,
)
from levguard.core.risk.liquidation import prob_liquidation
from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.venue import LiquidationBudget
from levguard.core.tiers import TierTable
from levguard.errors import InputError
from levguard.kernels import sizing_venue as sv
from levguard.kernels._jit import NUMBA_DISABLED

needs_numba = pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA is set: no compiled twin")

TIERS = TierTable.from_max_leverage([(0, 50), (5e4, 25), (5e5, 10), (5e6, 5)])
CTXS = (
    MarketContext(tiers=TIERS),
    MarketContext(tiers=TIERS, side=-1, funding_rate=-0.0003),
    MarketContext(mmr=0.01, funding_rate=0.0002),
    MarketContext(venue="binance-usdm", symbol="BTCUSDT"),
    MarketContext(venue="binance-coinm", symbol="BTCUSD", mmr=0.005),
    MarketContext(venue="okx", symbol="BTC-USDT-SWAP", mmr=0.004, taker_fee_rate=0.0005),
)
HOUR = 3_600_000_000_000


def _hourly(n: int, seed: int) -> HourlyBars:
    # A clustered, fat-tailed hourly market (as tests/risk/forecast/forecast_markets.jumpy_bars).
    rng = np.random.default_rng(seed)
    r = np.empty(n)
    v = 0.006**2
    for i in range(n):
        r[i] = np.sqrt(v) * rng.standard_t(3) / np.sqrt(3.0)
        v = 1e-6 + 0.05 * r[i] ** 2 + 0.93 * v
    close = 250.0 * np.exp(np.cumsum(r))
    opens = np.concatenate([[250.0], close[:-1]])
    wig = np.abs(rng.normal(0.0, 0.002, size=(2, n)))
    t0 = pd.Timestamp("2022-01-01", tz="UTC").value
    return HourlyBars.from_arrays(
        t0 + np.arange(n, dtype=np.int64) * HOUR,
        np.maximum(opens, close) * (1 + wig[0]),
        np.minimum(opens, close) * (1 - wig[1]),
        close,
    )


@pytest.fixture(scope="module")
def bars() -> HourlyBars:
    return _hourly(24 * 150, 7)


@pytest.fixture(scope="module")
def fitted(bars: HourlyBars) -> LiquidationForecaster:
    return fit_forecaster(bars)


@pytest.mark.parametrize("ctx", CTXS)
@pytest.mark.parametrize("budget", [0.002, 0.01, 0.1])
def test_decide_is_tight_on_the_forecast(ctx: MarketContext, budget: float, fitted: LiquidationForecaster) -> None:
    policy = LiquidationBudget(budget, 7.0, max_leverage=60.0)
    state = SizingState(equity=2e4, price=250.0, context=ctx, liquidation_forecaster=fitted)
    d = policy.decide(state)
    lev = d.target_leverage
    assert 0.0 < lev <= 60.0
    assert "excursion forecaster" in d.reasons[0]
    p = policy.prob(ctx, 2e4, 250.0, fitted, lev)
    assert p == d.details["prob_liquidation"]
    assert p <= budget
    if d.binding_constraint == "liquidation_budget":
        assert policy.prob(ctx, 2e4, 250.0, fitted, lev * (1 + 1e-6)) > budget


def test_the_forecast_prob_is_the_forecast_at_the_venue_liquidation_price(
    bars: HourlyBars, fitted: LiquidationForecaster
) -> None:
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT", side=-1)
    policy = LiquidationBudget(0.01, 3.0)
    for lev in (2.0, 5.0, 20.0):
        lp = policy.liquidation_price(ctx, 1e4, 250.0, lev)
        assert lp is not None
        direct = forecast_liquidations(bars, bars.end_ns, -1, (lp - 250.0) / 250.0, 3.0)[0]
        assert policy.prob(ctx, 1e4, 250.0, fitted, lev) == direct


def test_the_forecaster_beats_the_volatility_and_the_budget_is_monotone(fitted: LiquidationForecaster) -> None:
    state = SizingState(equity=1e4, price=250.0, vol_forecast=5.0, context=CTXS[0], liquidation_forecaster=fitted)
    levs = [LiquidationBudget(p, 7.0).decide(state).target_leverage for p in (0.001, 0.01, 0.05, 0.2)]
    assert all(a < b for a, b in itertools.pairwise(levs))
    # model="gbm" ignores the forecaster and reads the (here absurd) volatility forecast.
    gbm = LiquidationBudget(0.01, 7.0, model="gbm").decide(state)
    assert "gbm closed form" in gbm.reasons[0]
    assert gbm.target_leverage < levs[1] / 3


def test_gbm_forecaster_is_the_closed_form() -> None:
    ctx = MarketContext(mmr=0.005, taker_fee_rate=0.0005)
    state = SizingState(equity=1e4, price=100.0, vol_forecast=0.8, context=ctx)
    closed = LiquidationBudget(0.01, 7.0, model="gbm").decide(state).target_leverage
    via = LiquidationBudget(0.01, 7.0).decide(
        SizingState(equity=1e4, price=100.0, context=ctx, liquidation_forecaster=GbmForecaster(0.8))
    )
    assert via.target_leverage == pytest.approx(closed, rel=1e-8)
    lp = LiquidationBudget(0.01, 7.0).liquidation_price(ctx, 1e4, 100.0, via.target_leverage)
    assert via.details["prob_liquidation"] == pytest.approx(prob_liquidation(1, 100.0, lp, 0.8, 7.0), rel=1e-9)


def test_funding_paid_is_taken_off_the_distance(fitted: LiquidationForecaster) -> None:
    policy = LiquidationBudget(0.01, 30.0)
    base = SizingState(equity=1e4, price=250.0, context=CTXS[2], liquidation_forecaster=fitted)
    receiver = MarketContext(mmr=0.01, funding_rate=0.0002, side=-1)
    assert policy.funding_distance(CTXS[2]) == pytest.approx(0.0002 * 720 / 8)
    assert policy.funding_distance(receiver) == 0.0
    free = MarketContext(mmr=0.01)
    l_pay = policy.decide(base).target_leverage
    l_free = policy.decide(
        SizingState(equity=1e4, price=250.0, context=free, liquidation_forecaster=fitted)
    ).target_leverage
    assert l_pay < l_free


def test_models_and_failures(fitted: LiquidationForecaster) -> None:
    d = LiquidationBudget(0.01, 7.0, model="forecast").decide(
        SizingState(equity=1e4, vol_forecast=0.5, context=CTXS[0])
    )
    assert (d.target_leverage, d.binding_constraint) == (0.0, "no_forecast")
    # default without a forecaster: the GBM closed form on the volatility forecast (as before).
    d = LiquidationBudget(0.01, 7.0).decide(SizingState(equity=1e4, vol_forecast=0.5, context=CTXS[0]))
    assert d.target_leverage > 0
    assert "gbm closed form" in d.reasons[0]
    with pytest.raises(InputError, match="model parameters"):
        LiquidationBudget(0.01, 7.0, lam=3.0)
    with pytest.raises(InputError, match="horizon_days must be <= 30"):
        LiquidationBudget(0.01, 60.0)
    LiquidationBudget(0.01, 60.0, model="gbm")  # the closed forms take any horizon
    with pytest.raises(InputError, match="monitoring_dt_days applies to the closed forms"):
        LiquidationBudget(0.01, 7.0, model="forecast", monitoring_dt_days=1.0)
    with pytest.raises(InputError, match="model must be one of default, forecast, gbm"):
        LiquidationBudget(0.01, 7.0, model="excursion")


# --------------------------------------------------------------------------- inverse and paths
@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("hours", [1, 24, 100, 168, 720])
def test_required_distance_inverts_the_forecast(fitted: LiquidationForecaster, side: int, hours: int) -> None:
    for p in (0.001, 0.01, 0.2):
        d = required_distance(fitted, side, p, hours)
        assert 0.0 < d < math.inf
        assert fitted.prob(side, d, hours)[0] <= p
        assert fitted.prob(side, d * (1 - 1e-6), hours)[0] > p
    g = GbmForecaster(0.7)
    d = required_distance(g, side, 0.05, hours)
    assert g.prob(side, d, hours)[0] <= 0.05 < g.prob(side, d * (1 - 1e-6), hours)[0]


def test_forecast_path_is_the_fit_at_each_time(bars: HourlyBars) -> None:
    ts = bars.start_ns + np.array([-5, 0, 1, 30, 24 * 60, 24 * 100 + 7, 24 * 149], dtype=np.int64) * HOUR
    for model in ("default", "naive"):
        path = forecast_path(bars, ts, model)
        assert len(path) == ts.shape[0]
        # Before a week of bars has closed (WARMUP_BARS): no forecast, the budget holds nothing.
        assert np.isnan(path.sigma[:4]).all()
        with pytest.raises(InputError, match="no forecast at time index 3"):
            path.at(3)
        need = path.required_distances(1, 0.01, 168)
        assert np.isnan(need[:4]).all()
        for i in range(4, ts.shape[0]):
            direct = forecast_liquidations(bars, ts[i], [1, -1], 0.05, 7, model)
            assert np.array_equal(path.at(i).prob([1, -1], 0.05, 168), direct)
            assert need[i] == pytest.approx(required_distance(path.at(i), 1, 0.01, 168), rel=1e-9)


@pytest.mark.parametrize("ctx", CTXS)
def test_budget_path_on_forecasts_equals_decide(bars: HourlyBars, ctx: MarketContext) -> None:
    n = 24 * 30
    ts = bars.end_ns - np.arange(n, 0, -1, dtype=np.int64) * HOUR + HOUR
    path = forecast_path(bars, ts)
    rng = np.random.default_rng(3)
    eq = rng.uniform(1e3, 2e6, n)
    eq[4] = -1.0
    px = np.exp(bars.log_close[-n:])
    policy = LiquidationBudget(0.01, 7.0, max_leverage=60.0, context=ctx)
    lev = policy.leverage_path(SeriesInputs(np.zeros(n), price=px, equity=eq, liquidation_forecasts=path))
    assert lev[4] == 0.0
    for t in range(0, n, 37):
        if t == 4:
            continue
        state = SizingState(equity=float(eq[t]), price=float(px[t]), context=ctx, liquidation_forecaster=path.at(t))
        assert lev[t] == pytest.approx(policy.decide(state).target_leverage, rel=1e-8)
    # Without per-bar forecasts: model "forecast" gives nothing, "default" reads vol_forecast.
    none = LiquidationBudget(0.01, 7.0, model="forecast", context=ctx).leverage_path(SeriesInputs(np.zeros(n)))
    assert np.all(none == 0.0)
    with pytest.raises(InputError, match="liquidation_forecasts must have the length of returns"):
        SeriesInputs(np.zeros(n + 1), liquidation_forecasts=path)


@pytest.mark.parametrize(
    ("ctx", "kernel"),
    [
        # Deribit's rates scale with size: the kernel does not cover them, Python solves.
        (MarketContext(venue="deribit", symbol="BTC-PERPETUAL"), False),
        # Bybit's inverse isolated formula has no close-fee term, so the kernel covers it (it
        # did not while levguard added the fee, which only the cross equation carries).
        (MarketContext(venue="bybit-inverse", symbol="BTCUSD", mmr=0.005), True),
    ],
)
def test_budget_path_python_fallback_matches_decide(bars: HourlyBars, ctx: MarketContext, kernel: bool) -> None:
    policy = LiquidationBudget(0.02, 3.0, context=ctx)
    assert (policy._lp_args(ctx, 1.0, 60_000.0) is not None) is kernel
    ts = bars.end_ns - np.arange(4, 0, -1, dtype=np.int64) * HOUR + HOUR
    path = forecast_path(bars, ts)
    px = np.full(4, 60_000.0)
    lev = policy.leverage_path(SeriesInputs(np.zeros(4), price=px, equity=np.ones(4), liquidation_forecasts=path))
    for t in range(4):
        state = SizingState(equity=1.0, price=60_000.0, context=ctx, liquidation_forecaster=path.at(t))
        assert lev[t] == pytest.approx(policy.decide(state).target_leverage, rel=1e-8)


@needs_numba
@pytest.mark.parametrize("entry_basis", [False, True])
@pytest.mark.parametrize("inverse", [False, True])
def test_distance_budget_kernel_parity(entry_basis: bool, inverse: bool) -> None:
    rng = np.random.default_rng(11)
    n = 60
    need = rng.uniform(0.001, 0.6, n)
    need[3] = np.nan
    need[7] = 0.0
    eq = rng.uniform(1e3, 2e6, n)
    eq[5] = -1.0
    px = rng.uniform(10.0, 70_000.0, n)
    caps = np.ascontiguousarray(TIERS.caps)
    floors = np.concatenate(([0.0], caps[:-1]))
    levs = np.array([t.max_leverage for t in TIERS.tiers], dtype=np.float64)
    for side, fee in ((1.0, 0.0), (-1.0, 0.0005)):
        venue = sv.liq_spec(side, 1.0, inverse, fee, entry_basis, caps, TIERS.mmrs, TIERS.cums)
        brackets = sv.Brackets(caps, floors, levs, 1.0 - 1e-12, 100.0)
        a, b = np.zeros(n), np.zeros(n)
        sv.distance_budget_path_py(need, eq, px, venue, brackets, a)
        sv.distance_budget_path_nb(need, eq, px, venue, brackets, b)
        assert np.array_equal(a, b)
        assert a[3] == a[5] == a[7] == 0.0
        assert np.all(a[np.isfinite(need) & (need > 0) & (eq > 0)] > 0)


def test_forecast_path_is_leakage_free(bars: HourlyBars) -> None:
    ts = bars.start_ns + np.array([24 * 100, 24 * 120], dtype=np.int64) * HOUR
    full = forecast_path(bars, ts)
    k = 24 * 100  # bars closed by ts[0]
    cut = HourlyBars(bars.start_ns, bars.log_close[:k], bars.log_high[:k], bars.log_low[:k], bars.present[:k])
    again = forecast_path(cut, ts[:1])
    assert np.array_equal(full.required_distances(-1, 0.01, 24)[:1], again.required_distances(-1, 0.01, 24))
    assert isinstance(full, ForecastPath)
