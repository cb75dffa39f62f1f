"""Hypothesis properties: the leverage TierCap allows is one the margin engine accepts.

For any equity and price, long or short, on every venue whose leverage limit comes from tiers
or rates (built-in brackets, Gate's fee-adjusted caps, Deribit's size-scaled and dYdX's
liquidity-tier rates), the position TierCap sizes has an initial margin, computed by
:func:`levguard.evaluate_account`, within the equity; and where a size-scaled rate binds, a
hair more leverage needs more margin than the equity (the cap is the largest such leverage).
A liquidation budget that never binds stops at that same leverage, never above it.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import levguard
from levguard.core.sizing.base import MarketContext, SizingState
from levguard.core.sizing.venue import LiquidationBudget, TierCap

# (venue, symbol, context and position extras)
MARKETS: list[tuple[str, str, dict[str, Any]]] = [
    ("binance-usdm", "BTCUSDT", {}),
    ("hyperliquid", "BTC", {}),
    ("dydx-v4", "BTC-USD", {}),
    ("deribit", "BTC_USDC-PERPETUAL", {}),
    ("deribit", "SOL_USDC-PERPETUAL", {}),
    ("gate", "BTC_USDT", {"mmr": 0.01}),
]
# Rounding of L x rate x equity: a few ulps.
_ULPS = 1e-12


def _initial_margin(venue: str, symbol: str, extra: dict[str, Any], qty: float, price: float, equity: float) -> float:
    pos = {"symbol": symbol, "qty": qty, "entry_price": price, "mark_price": price, **extra}
    report = levguard.evaluate_account({"venue": venue, "wallet_balance": equity, "positions": [pos]})
    return float(report.positions[0].initial_margin)


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(MARKETS),
    st.sampled_from([1, -1]),
    st.floats(10.0, 1e9),
    st.floats(1.0, 2e5),
)
def test_tier_cap_initial_margin_within_equity(
    market: tuple[str, str, dict[str, Any]], side: int, equity: float, price: float
) -> None:
    venue, symbol, extra = market
    ctx = MarketContext(venue=venue, symbol=symbol, side=side, **extra)
    d = TierCap().decide(SizingState(equity=equity, price=price, context=ctx))
    lev = d.target_leverage
    assert d.binding_constraint == "tier_cap"
    assert math.isfinite(lev)
    assert lev > 0.0
    qty = side * lev * equity / price
    assert _initial_margin(venue, symbol, extra, qty, price, equity) <= equity * (1 + _ULPS)
    if venue == "deribit":  # the size-scaled rate binds: any more leverage is not covered
        try:
            more = _initial_margin(venue, symbol, extra, qty * (1 + 1e-9), price, equity)
        except levguard.InputError:  # the rate passes 100 %: the venue takes no such position
            more = math.inf
        assert more > equity
    budget = LiquidationBudget(0.999, 1, model="gbm", max_leverage=1e4).decide(
        SizingState(equity=equity, price=price, vol_forecast=1e-3, context=ctx)
    )
    assert budget.target_leverage <= lev * (1 + 1e-12)
