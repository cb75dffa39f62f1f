"""Kernels of TierCap, LiquidationBudget and RegimeSwitch: py/nb parity, consistency, no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard.core.risk.first_passage import BGK_BETA, gbm_hit_prob
from levguard.core.sizing.base import FixedLeverage, MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.regime import RegimeSwitch, trailing_vol
from levguard.core.sizing.venue import LiquidationBudget, TierCap
from levguard.core.tiers import TierTable
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
    MarketContext(venue="bitmex", symbol="XBTUSD", mmr=0.005),
    MarketContext(venue="okx", symbol="BTC-USDT-SWAP", mmr=0.004, taker_fee_rate=0.0005),
)


def _inputs(seed: int, n: int = 40) -> SeriesInputs:
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.1, 2.0, n)
    vol[3] = np.nan
    equity = rng.uniform(1e3, 2e6, n)
    equity[5] = -1.0
    price = rng.uniform(10.0, 70_000.0, n)
    return SeriesInputs(rng.normal(0.0, 0.02, n), vol_forecast=vol, equity=equity, price=price)


# --------------------------------------------------------------------------- scalar helpers
def test_gbm_scalar_matches_first_passage() -> None:
    assert sv.BGK_BETA == BGK_BETA
    for b in (-1e-4, -0.01, -0.3, -2.0, 0.0):
        for nu in (-3.0, -0.2, 0.0, 0.4):
            for sigma in (0.05, 0.6, 2.5):
                for t in (0.0, 1 / 365, 0.1, 2.0):
                    ref = gbm_hit_prob(b, nu, sigma, t)
                    assert sv.gbm_hit_prob_scalar(b, nu, sigma, t) == pytest.approx(ref, rel=1e-12, abs=1e-300)


def test_log_norm_cdf_far_tail() -> None:
    from scipy.special import log_ndtr

    for x in (-34.9, -35.0, -40.0, -200.0, -3.0, 0.5, 6.0):
        assert sv.log_norm_cdf(x) == pytest.approx(float(log_ndtr(x)), rel=1e-13)


def test_quantile_sorted_is_numpy_linear() -> None:
    rng = np.random.default_rng(3)
    for m in (1, 2, 3, 10, 101, 999):
        x = np.sort(rng.lognormal(size=m))
        for q in (0.0, 0.05, 0.2, 0.5, 0.8, 0.999, 1.0):
            assert sv.quantile_sorted(x, m, q) == float(np.quantile(x, q))


# --------------------------------------------------------------------------- py / nb parity
@needs_numba
def test_tier_cap_parity() -> None:
    eq = np.concatenate((np.random.default_rng(0).lognormal(10.0, 3.0, 500), [0.0, -1.0, np.nan, np.inf]))
    caps = np.ascontiguousarray(TIERS.caps)
    floors = np.concatenate(([0.0], caps[:-1]))
    levs = np.array([t.max_leverage for t in TIERS.tiers], dtype=np.float64)
    for cap in (math.inf, 20.0, 3.0):
        a, ab, b, bb = (np.zeros(eq.shape[0]) for _ in range(4))
        brackets = sv.Brackets(caps, floors, levs, 1.0 - 1e-12, cap)
        ones = np.ones_like(eq)
        sv.tier_cap_path_py(eq, ones, brackets, a, ab)
        sv.tier_cap_path_nb(eq, ones, brackets, b, bb)
        assert np.array_equal(a, b)
        assert np.array_equal(ab, bb)


@needs_numba
@pytest.mark.parametrize("entry_basis", [False, True])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("monitoring", [0.0, 1.0 / (24 * 365)])
def test_liquidation_budget_parity(entry_basis: bool, inverse: bool, monitoring: float) -> None:
    si = _inputs(11, 60)
    assert si.vol_forecast is not None
    assert si.equity is not None
    assert si.price is not None
    caps = np.ascontiguousarray(TIERS.caps)
    floors = np.concatenate(([0.0], caps[:-1]))
    levs = np.array([t.max_leverage for t in TIERS.tiers], dtype=np.float64)
    for side, fee, mu in ((1.0, 0.0, 0.0), (-1.0, 0.0005, 0.3), (1.0, 0.0002, -0.5)):
        venue = sv.liq_spec(side, 1.0, inverse, fee, entry_basis, caps, TIERS.mmrs, TIERS.cums)
        brackets = sv.Brackets(caps, floors, levs, 1.0 - 1e-12, 100.0)
        budget = sv.Budget(7.0 / 365, monitoring, mu, 0.01)
        a, b = np.zeros(60), np.zeros(60)
        sv.liquidation_budget_path_py(si.vol_forecast, si.equity, si.price, venue, brackets, budget, a)
        sv.liquidation_budget_path_nb(si.vol_forecast, si.equity, si.price, venue, brackets, budget, b)
        assert np.array_equal(a, b)
        assert np.all(a[np.isfinite(si.vol_forecast) & (si.equity > 0)] > 0)
        s_py = sv.liquidation_budget_scalar_py(50.0, 1e4, 100.0, 0.8, venue, budget)
        s_nb = sv.liquidation_budget_scalar_nb(50.0, 1e4, 100.0, 0.8, venue, budget)
        assert tuple(s_py) == tuple(s_nb)


@needs_numba
def test_regime_kernels_parity() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0.0, 1.0, 3000) * np.where((np.arange(3000) // 250) % 2, 0.03, 0.01)
    vol = trailing_vol(r, 12)
    vol[700:705] = np.nan
    for lookback, min_obs, normal in ((500, 50, True), (60, 10, False), (5000, 100, True)):
        a = np.empty(3000, dtype=np.int64)
        b = np.empty(3000, dtype=np.int64)
        sv.quantile_regime_path_py(vol, lookback, min_obs, 0.2, 0.8, normal, a)
        sv.quantile_regime_path_nb(vol, lookback, min_obs, 0.2, 0.8, normal, b)
        assert np.array_equal(a, b)
        members = rng.uniform(0.0, 5.0, (3, 3000))
        x, y = np.zeros(3000), np.zeros(3000)
        sv.regime_select_path_py(a, members, x)
        sv.regime_select_path_nb(a, members, y)
        assert np.array_equal(x, y)
        assert np.array_equal(x, members[a, np.arange(3000)])
    b0, b1 = rng.uniform(0.0, 1.0, 3000), rng.uniform(0.0, 1.0, 3000)
    b0[10] = b1[10] = 0.0
    al_py, al_nb = np.empty((3000, 2)), np.empty((3000, 2))
    c_py, c_nb = np.empty(3000), np.empty(3000)
    sv.hmm_forward_py(b0, b1, 0.97, 0.03, 0.06, 0.94, 0.5, 0.5, al_py, c_py)
    sv.hmm_forward_nb(b0, b1, 0.97, 0.03, 0.06, 0.94, 0.5, 0.5, al_nb, c_nb)
    assert np.array_equal(al_py, al_nb)
    assert np.array_equal(c_py, c_nb)
    assert np.allclose(al_py.sum(axis=1), 1.0, atol=1e-12)


# --------------------------------------------------------------------------- policy consistency
def test_tier_cap_path_equals_decide() -> None:
    si = _inputs(1)
    assert si.equity is not None
    for ctx in CTXS:
        for policy in (TierCap(context=ctx), TierCap(max_leverage=12.0, context=ctx)):
            path = policy.leverage_path(si)
            for t in range(si.equity.shape[0]):
                if not si.equity[t] > 0:  # SizingState rejects it; the path gives 0
                    assert path[t] == 0.0
                    continue
                state = SizingState(equity=float(si.equity[t]), context=ctx)
                assert path[t] == policy.decide(state).target_leverage


@pytest.mark.parametrize("ctx", CTXS)
@pytest.mark.parametrize("monitoring", [None, 1.0 / 24])
def test_liquidation_budget_path_equals_decide(ctx: MarketContext, monitoring: float | None) -> None:
    si = _inputs(2, 25)
    assert si.vol_forecast is not None
    assert si.equity is not None
    assert si.price is not None
    policy = LiquidationBudget(0.01, 7.0, max_leverage=60.0, monitoring_dt_days=monitoring, context=ctx)
    # The kernel covers these contexts (its liquidation price matches the margin engine), when
    # monitored continuously; discrete monitoring (168 hourly checks) takes prob_liquidation's
    # exact recursion in Python.
    assert (policy._venue_args(ctx, 1e4, 100.0) is not None) == (monitoring is None)
    path = policy.leverage_path(si)
    for t in range(25):
        if not si.equity[t] > 0:  # SizingState rejects it; the path gives 0
            continue
        state = SizingState(
            equity=float(si.equity[t]), price=float(si.price[t]), vol_forecast=float(si.vol_forecast[t]), context=ctx
        )
        assert path[t] == policy.decide(state).target_leverage
    valid = np.isfinite(si.vol_forecast) & (si.equity > 0)
    assert np.all(path[valid] > 0)
    assert np.all(path[~valid] == 0)


def test_liquidation_budget_kernel_respects_budget() -> None:
    ctx = MarketContext(tiers=TIERS)
    policy = LiquidationBudget(0.02, 3.0, context=ctx)
    for sigma in (0.2, 0.8, 2.0):
        lev, binding, p = policy.solve(ctx, 2e4, 250.0, sigma)
        assert binding in ("liquidation_budget", "tier_cap", "max_leverage")
        assert p <= 0.02
        assert policy.prob(ctx, 2e4, 250.0, sigma, lev) <= 0.02 * (1 + 1e-9)
        if binding == "liquidation_budget":
            assert policy.prob(ctx, 2e4, 250.0, sigma, lev * (1 + 1e-6)) > 0.02


def test_liquidation_budget_other_models_stay_in_python() -> None:
    policy = LiquidationBudget(0.01, 2.0, model="kou", lam=5.0, p_up=0.4, eta_up=20.0, eta_down=15.0)
    assert policy._venue_args(MarketContext(tiers=TIERS), 1e4, 100.0) is None
    deribit = MarketContext(venue="deribit", symbol="BTC-PERPETUAL")
    assert LiquidationBudget(0.01, 2.0)._venue_args(deribit, 1.0, 60_000.0) is None


@pytest.mark.parametrize("classifier", ["quantile"])
def test_regime_path_equals_decide(classifier: str) -> None:
    # The HMM path carries its filter across refits while decide fits and filters its window
    # afresh, so only the quantile classifier's path equals decide bar by bar.
    rng = np.random.default_rng(4)
    n = 160
    r = rng.normal(0.0, 1.0, n) * np.where((np.arange(n) // 40) % 2, 0.04, 0.01)
    members = {"calm": FixedLeverage(3.0), "stress": FixedLeverage(1.0)}
    if classifier == "quantile":
        members["normal"] = FixedLeverage(2.0)
    policy = RegimeSwitch(members, classifier=classifier, lookback=400, vol_window=8, min_obs=30, refit_every=1)
    path = policy.leverage_path(SeriesInputs(r))
    for t in range(n):
        assert path[t] == policy.decide(SizingState(1.0, returns=r[: t + 1])).target_leverage
    assert len(set(path.tolist())) > 1


# --------------------------------------------------------------------------- no look-ahead
def test_no_look_ahead() -> None:
    si = _inputs(9, 80)
    assert si.vol_forecast is not None
    assert si.equity is not None
    assert si.price is not None
    k = 50
    later = SeriesInputs(
        np.concatenate((si.returns[:k], si.returns[k:] * 7.0)),
        vol_forecast=np.concatenate((si.vol_forecast[:k], si.vol_forecast[k:] * 3.0)),
        equity=np.concatenate((si.equity[:k], si.equity[k:] * 0.01)),
        price=np.concatenate((si.price[:k], si.price[k:] * 2.0)),
    )
    policies = (
        TierCap(context=CTXS[0]),
        LiquidationBudget(0.01, 7.0, context=CTXS[0]),
        LiquidationBudget(0.01, 7.0, monitoring_dt_days=1.0, context=CTXS[3]),
        RegimeSwitch({"calm": FixedLeverage(3.0), "stress": FixedLeverage(1.0)}, lookback=60, vol_window=5, min_obs=10),
        RegimeSwitch(
            {"calm": FixedLeverage(3.0), "stress": FixedLeverage(1.0)},
            classifier="hmm",
            lookback=60,
            min_obs=20,
            refit_every=15,
        ),
    )
    for policy in policies:
        a, b = policy.leverage_path(si), policy.leverage_path(later)
        assert np.array_equal(a[:k], b[:k]), policy
