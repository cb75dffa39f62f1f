"""TierCap and LiquidationBudget on venues whose initial rate grows with the size (Deribit)."""

from __future__ import annotations

import numpy as np
import pytest

import levguard
from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.venue import LiquidationBudget, TierCap
from levguard.core.tiers import TierTable
from levguard.sizing import size_account

DERIBIT = MarketContext(venue="deribit", symbol="BTC_USDC-PERPETUAL")


def _im(qty: float, price: float, equity: float) -> float:
    spec = {
        "venue": "deribit",
        "wallet_balance": equity,
        "positions": [{"symbol": "BTC_USDC-PERPETUAL", "qty": qty, "entry_price": price, "mark_price": price}],
    }
    return float(levguard.evaluate_account(spec).positions[0].initial_margin)


def test_deribit_tier_cap_solves_the_size_the_leverage_buys() -> None:
    """1e6 USDC at 60,000 was 49.875x (the rate at one BTC): 831 BTC needing 3.07M of margin."""
    d = TierCap().decide(SizingState(equity=1e6, price=60_000.0, context=DERIBIT))
    # L (2 % + 0.005 % x L x 1e6 / 60,000) = 1
    assert d.target_leverage == pytest.approx(24.660605559647, rel=1e-10)
    assert d.binding_constraint == "tier_cap"
    qty = d.target_leverage * 1e6 / 60_000.0
    assert _im(qty, 60_000.0, 1e6) <= 1e6
    assert _im(qty * 1.001, 60_000.0, 1e6) > 1e6
    assert "size 411.01" in d.reasons[0]


def test_deribit_budget_upper_end_is_the_rate_cap() -> None:
    """A budget that never binds stops at TierCap's leverage, not at the one-contract rate."""
    state = SizingState(equity=1e6, price=60_000.0, vol_forecast=0.01, context=DERIBIT)
    d = LiquidationBudget(0.5, 1, model="gbm", max_leverage=1000).decide(state)
    assert d.target_leverage == pytest.approx(24.660605559647, rel=1e-10)
    assert d.binding_constraint == "tier_cap"


def test_deribit_tier_cap_path_matches_decide() -> None:
    eq = np.array([500.0, 1e6, 3e7, np.nan])
    px = np.array([60_000.0, 60_000.0, 30_000.0, 60_000.0])
    path = TierCap(context=DERIBIT).leverage_path(SeriesInputs(np.zeros(4), equity=eq, price=px))
    for t in range(3):
        d = TierCap().decide(SizingState(equity=float(eq[t]), price=float(px[t]), context=DERIBIT))
        assert path[t] == d.target_leverage
    assert path[3] == 0.0
    # Without prices the size a leverage buys is unknown: no leverage, and decide says why.
    assert np.all(TierCap(context=DERIBIT).leverage_path(SeriesInputs(np.zeros(4), equity=eq)) == 0.0)
    d = TierCap().decide(SizingState(equity=1e6, context=DERIBIT))
    assert (d.target_leverage, d.binding_constraint) == (0.0, "no_tiers")
    assert "SizingState.price" in d.reasons[0]


def test_rate_that_does_not_scale_keeps_its_exact_cap() -> None:
    """dYdX's liquidity-tier rate (2 % for BTC) does not change with the size: exactly 50x, no price needed."""
    ctx = MarketContext(venue="dydx-v4", symbol="BTC-USD")
    for state in (SizingState(equity=1e9, price=60_000.0, context=ctx), SizingState(equity=1e9, context=ctx)):
        assert TierCap().decide(state).target_leverage == 50.0


def test_size_account_on_deribit_targets_the_rate_cap() -> None:
    account = {
        "venue": "deribit",
        "wallet_balance": 1e6,
        "positions": [{"symbol": "BTC_USDC-PERPETUAL", "qty": 1, "entry_price": 60_000, "mark_price": 60_000}],
    }
    out = size_account(account, {"policy": {"type": "tier_cap"}})
    assert out.target_leverage == pytest.approx(24.660605559647, rel=1e-10)
    qty = out.positions[0]["target_qty"]
    assert _im(qty, 60_000.0, 1e6) <= 1e6


class _NearDistances:
    """A forecast path whose budget is met at any distance: the venue's cap binds."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def required_distances(self, side: object, max_prob: float, hours: int) -> np.ndarray:
        del side, max_prob, hours
        return np.full(self.n, 1e-6)


def test_gate_budget_never_exceeds_the_fee_adjusted_cap() -> None:
    """Gate's 50x tier less the 0.075 % close fee in the initial margin is 48.19x on the equity
    (Gate help 22148, TierCap's answer); the budget allowed 50x labelled tier_cap, in decide and path."""
    ctx = MarketContext(venue="gate", symbol="BTC_USDT", mmr=0.01)
    state = SizingState(equity=1e4, price=60_000.0, vol_forecast=0.05, context=ctx)
    cap = TierCap().decide(state).target_leverage
    assert cap == pytest.approx(1.0 / (1.0 / 50.0 + 0.00075), rel=1e-12)
    d = LiquidationBudget(0.5, 1, model="gbm", max_leverage=1000).decide(state)
    assert d.target_leverage <= cap
    assert d.target_leverage == pytest.approx(cap, rel=1e-9)
    inputs = SeriesInputs(np.zeros(2), vol_forecast=np.full(2, 0.05), equity=np.full(2, 1e4), price=np.full(2, 6e4))
    path = LiquidationBudget(0.5, 1, model="gbm", max_leverage=1000, context=ctx).leverage_path(inputs)
    assert np.all(path <= cap)
    forecasts = SeriesInputs(
        np.zeros(2), equity=np.full(2, 1e4), price=np.full(2, 6e4), liquidation_forecasts=_NearDistances(2)
    )
    path = LiquidationBudget(0.5, 1, max_leverage=1000, context=ctx).leverage_path(forecasts)
    assert np.all(path <= cap * (1 + 1e-12))
    assert path[0] == pytest.approx(cap, rel=1e-9)


@pytest.mark.parametrize(
    ("ctx", "model", "params"),
    [
        (DERIBIT, "gbm", {}),
        (
            MarketContext(venue="binance-usdm", symbol="BTCUSDT", tiers=TierTable.fixed_rate(0.005, 2_000.0, 50.0)),
            "kou",
            {"lam": 20.0, "p_up": 0.4, "eta_up": 30.0, "eta_down": 25.0},
        ),
    ],
    ids=["deribit-size-scaled", "one-tier-with-maint-amount"],
)
def test_budget_path_equals_decide_when_the_liquidation_price_depends_on_notional(
    ctx: MarketContext, model: str, params: dict[str, float]
) -> None:
    """The Python path cached by volatility alone: Deribit gbm at vol 0.6, equity [1e3, 1e7]
    gave [4.921, 4.921] where decide gives [4.921, 4.308]."""
    policy = LiquidationBudget(0.01, 7, model=model, context=ctx, **params)
    eq = np.array([1e3, 1e7, 1e3])
    px = np.array([60_000.0, 60_000.0, 30_000.0])
    inputs = SeriesInputs(np.zeros(3), vol_forecast=np.full(3, 0.6), equity=eq, price=px)
    path = policy.leverage_path(inputs)
    decided = [
        policy.decide(SizingState(equity=float(e), price=float(p), vol_forecast=0.6, context=ctx)).target_leverage
        for e, p in zip(eq, px, strict=True)
    ]
    assert path.tolist() == decided
    assert decided[1] < decided[0]
