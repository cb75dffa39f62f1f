"""LiquidationBudget: the largest leverage within a liquidation-probability budget."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.venue import LiquidationBudget
from levguard.core.tiers import TierTable
from levguard.errors import InputError

CTX = MarketContext(mmr=0.005, taker_fee_rate=0.0005)
TIERED = MarketContext(tiers=TierTable.from_max_leverage([(0, 100), (1e5, 50), (1e6, 20), (1e7, 5)]), side=-1)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.001, 0.5),
    st.floats(0.1, 3.0),
    st.sampled_from([1.0, 7.0, 30.0]),
    st.sampled_from([CTX, TIERED]),
    st.floats(1e2, 1e7),
)
def test_budget_holds_and_is_tight(p: float, vol: float, horizon: float, ctx: MarketContext, equity: float) -> None:
    policy = LiquidationBudget(p, horizon, max_leverage=50.0)
    d = policy.decide(SizingState(equity=equity, price=250.0, vol_forecast=vol, context=ctx))
    lev = d.target_leverage
    assert math.isfinite(lev)
    assert 0.0 <= lev <= policy.cap
    assert policy.prob(ctx, equity, 250.0, vol, lev) <= p
    if d.binding_constraint == "liquidation_budget":
        assert policy.prob(ctx, equity, 250.0, vol, lev * (1 + 1e-3)) > p


def test_budget_monotone() -> None:
    state = SizingState(equity=1e4, price=100.0, vol_forecast=0.8, context=CTX)
    levs = [LiquidationBudget(p, 7.0).decide(state).target_leverage for p in (0.001, 0.01, 0.05, 0.2)]
    assert all(a < b for a, b in itertools.pairwise(levs))
    policy = LiquidationBudget(0.01, 7.0)
    by_vol = [
        policy.decide(SizingState(equity=1e4, price=100.0, vol_forecast=v, context=CTX)).target_leverage
        for v in (0.2, 0.5, 1.0, 2.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(by_vol))


def test_budget_funding_drift_lowers_payer_leverage() -> None:
    policy = LiquidationBudget(0.01, 30.0)
    base = policy.decide(SizingState(equity=1e4, vol_forecast=0.5, context=CTX)).target_leverage
    payer = MarketContext(mmr=0.005, taker_fee_rate=0.0005, funding_rate=0.001)
    receiver = MarketContext(mmr=0.005, taker_fee_rate=0.0005, funding_rate=0.001, side=-1)
    assert policy.drift(payer) < 0
    assert policy.drift(receiver) == 0.0
    assert policy.decide(SizingState(equity=1e4, vol_forecast=0.5, context=payer)).target_leverage < base


def test_budget_caps_and_failures() -> None:
    tiny_vol = SizingState(equity=1e4, vol_forecast=0.01, context=CTX)
    d = LiquidationBudget(0.01, 1.0, max_leverage=3.0).decide(tiny_vol)
    assert d.target_leverage == 3.0
    assert d.binding_constraint == "max_leverage"
    d = LiquidationBudget(0.01, 1.0).decide(SizingState(equity=1e4, context=CTX))
    assert d.target_leverage == 0.0
    assert d.binding_constraint == "no_forecast"
    d = LiquidationBudget(0.01, 1.0).decide(SizingState(equity=1e4, vol_forecast=0.5))
    assert d.target_leverage == 0.0  # generic venue without tiers or mmr
    assert d.binding_constraint == "no_tiers"
    d = LiquidationBudget(0.01, 1.0).decide(
        SizingState(equity=1e4, vol_forecast=0.5, context=MarketContext(venue="binance-usdm"))
    )
    assert 0.0 < d.target_leverage < 125.0


def test_budget_path_matches_decide() -> None:
    vols = np.array([0.5, 0.8, 0.5, np.nan, 1.2, 0.8])
    eq = np.array([1e4, 1e4, 2e4, 1e4, 3e6, 1e4])
    for ctx in (CTX, TIERED):
        policy = LiquidationBudget(0.02, 7.0, context=ctx)
        path = policy.leverage_path(SeriesInputs(np.zeros(6), vol_forecast=vols, equity=eq))
        for t in (0, 1, 2, 4, 5):
            state = SizingState(equity=float(eq[t]), vol_forecast=float(vols[t]), context=ctx)
            assert path[t] == pytest.approx(policy.decide(state).target_leverage, rel=1e-12)
        assert path[3] == 0.0
    assert np.all(LiquidationBudget(0.01, 1.0).leverage_path(SeriesInputs(np.zeros(2))) == 0.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_prob": 0.0, "horizon_days": 1.0}, "max_prob"),
        ({"max_prob": 1.0, "horizon_days": 1.0}, "max_prob"),
        ({"max_prob": 0.01, "horizon_days": 0.0}, "horizon_days"),
        ({"max_prob": 0.01, "horizon_days": 1.0, "max_leverage": -1.0}, "max_leverage"),
        ({"max_prob": 0.01, "horizon_days": 1.0, "model": "nope"}, "model"),
        ({"max_prob": 0.01, "horizon_days": 1.0, "monitoring_dt_days": 0.0}, "monitoring_dt_days"),
        ({"max_prob": 0.01, "horizon_days": 1.0, "model": "kou"}, "lam"),
    ],
)
def test_budget_bad_params(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=field):
        LiquidationBudget(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("side", [1, -1])
def test_budget_inverse_contract(side: int) -> None:
    ctx = MarketContext(venue="binance-coinm", symbol="BTCUSD_PERP", mmr=0.004, side=side, taker_fee_rate=0.0005)
    policy = LiquidationBudget(0.01, 7.0)
    d = policy.decide(SizingState(equity=1.0, price=60_000.0, vol_forecast=0.6, context=ctx))
    assert d.binding_constraint == "liquidation_budget"
    assert policy.prob(ctx, 1.0, 60_000.0, 0.6, d.target_leverage) <= 0.01
    assert policy.prob(ctx, 1.0, 60_000.0, 0.6, d.target_leverage * 1.001) > 0.01
