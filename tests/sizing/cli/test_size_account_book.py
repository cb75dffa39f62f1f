"""size_account on books of several positions and on inverse accounts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import levguard
from levguard.sizing import size_account

# Hyperliquid margin tiers (built in): BTC 40x, ETH 25x at these notionals.
HL_BOOK: dict[str, Any] = {
    "venue": "hyperliquid",
    "wallet_balance": 10_000,
    "positions": [
        {"symbol": "BTC", "qty": 1, "entry_price": 60_000, "mark_price": 60_000},
        {"symbol": "ETH", "qty": 40_000 / 3_000, "entry_price": 3_000, "mark_price": 3_000},
    ],
}


def _book_margin(out: levguard.sizing.SizingReport, spec: dict[str, Any]) -> levguard.AccountReport:
    marks = {p["symbol"]: p["mark_price"] for p in spec["positions"]}
    positions = [
        {
            "symbol": r["symbol"],
            "qty": r["target_qty"],
            "entry_price": marks[r["symbol"]],
            "mark_price": marks[r["symbol"]],
        }
        for r in out.positions
    ]
    return levguard.evaluate_account({**spec, "positions": positions})


def test_tier_cap_bounds_the_book_by_every_symbols_cap() -> None:
    """60 % BTC (40x) and 40 % ETH (25x): 1 / (0.6/40 + 0.4/25) = 32.26x gross, not BTC's 40x
    (which put ETH's 40 % at 16x of notional backed at 25x: IM 12,400 > equity 10,000)."""
    out = size_account(HL_BOOK, {"policy": {"type": "tier_cap"}})
    assert out.target_leverage == pytest.approx(1.0 / (0.6 / 40 + 0.4 / 25), rel=1e-9)
    assert out.binding_constraint == "tier_cap:ETH"
    assert "ETH's cap 25x binds the book" in out.reasons[0]
    after = _book_margin(out, HL_BOOK)
    assert after.initial_margin <= after.equity * (1 + 1e-12)
    # Shares and directions are kept.
    assert out.positions[0]["target_qty"] * 60_000 == pytest.approx(0.6 * out.target_leverage * 10_000, rel=1e-9)


def test_book_cap_inside_a_composite_and_when_it_does_not_bind() -> None:
    policy = {"policy": {"type": "composite", "policies": [{"type": "fixed", "leverage": 50}, {"type": "tier_cap"}]}}
    out = size_account(HL_BOOK, policy)
    assert out.target_leverage == pytest.approx(32.258064516, rel=1e-9)
    assert out.binding_constraint == "tier_cap:ETH"
    low = size_account(
        HL_BOOK, {"policy": {"type": "composite", "policies": [{"type": "fixed", "leverage": 3}, {"type": "tier_cap"}]}}
    )
    assert (low.target_leverage, low.binding_constraint) == (3.0, "fixed")


@settings(max_examples=25, deadline=None)
@given(st.floats(100.0, 1e8), st.floats(0.01, 0.99), st.sampled_from([1, -1]), st.sampled_from([1, -1]))
def test_book_initial_margin_within_equity(wallet: float, btc_share: float, btc_side: int, eth_side: int) -> None:
    """Any split, any directions: the sized book's initial margin (margin engine) is within the equity."""
    gross = 10.0 * wallet
    spec = {
        "venue": "hyperliquid",
        "wallet_balance": wallet,
        "positions": [
            {
                "symbol": "BTC",
                "qty": btc_side * btc_share * gross / 60_000,
                "entry_price": 60_000,
                "mark_price": 60_000,
            },
            {
                "symbol": "ETH",
                "qty": eth_side * (1 - btc_share) * gross / 3_000,
                "entry_price": 3_000,
                "mark_price": 3_000,
            },
        ],
    }
    out = size_account(spec, {"policy": {"type": "tier_cap"}})
    after = _book_margin(out, spec)
    assert after.initial_margin <= after.equity * (1 + 1e-12)


@pytest.mark.parametrize(
    ("venue", "symbol", "wallet", "qty"),
    [("binance-coinm", "BTCUSD_PERP", 1.0, 60.0), ("binance-usdm", "BTCUSDT", 60_000.0, 0.1)],
)
def test_portfolio_policy_reads_exposures_in_the_equity_unit(
    venue: str, symbol: str, wallet: float, qty: float
) -> None:
    """60 contracts of 100 USD on 1 BTC is 0.1x, as 0.1 BTC on 60,000 USDT: a coin-M account's
    USD exposures against its BTC equity read 6000x and targeted 1,800 contracts.  The cap's
    target is its 3x (the book scaled by 30), as its leverage_path's."""
    position = {"symbol": symbol, "qty": qty, "entry_price": 60_000, "mark_price": 60_000, "mmr": 0.005}
    spec = {"venue": venue, "wallet_balance": wallet, "positions": [position]}
    out = size_account(spec, {"policy": {"type": "portfolio_cap", "max_gross_leverage": 3}})
    assert out.binding_constraint == "max_gross_leverage"
    assert out.target_leverage == pytest.approx(3.0, rel=1e-12)
    assert out.reasons[0] == "gross 0.1x, net 0.1x before scaling"
    assert out.positions[0]["policy_target_leverage"] == pytest.approx(3.0, rel=1e-12)


@pytest.mark.parametrize(
    ("policy", "vol", "binding"),
    [
        ({"type": "regime", "policies": {"calm": {"type": "tier_cap"}, "stress": {"type": "tier_cap"}}}, None,
         "tier_cap:ETH"),
        ({"type": "composite", "policies": [{"type": "liquidation_budget", "max_prob": 0.9, "horizon_days": 1,
                                            "model": "gbm"}]}, 0.5, "liquidation_budget:ETH"),
    ],
)  # fmt: skip
def test_the_book_bound_reaches_tier_caps_in_regimes_and_liquidation_budgets(
    policy: dict[str, Any], vol: float | None, binding: str
) -> None:
    """A tier_cap inside a regime switch, and a liquidation budget (whose upper end is the
    largest position's tier cap), sized the book at BTC's 40x: IM 1.24 x the equity."""
    out = size_account(HL_BOOK, {"policy": policy}, vol=vol)
    assert out.target_leverage == pytest.approx(1.0 / (0.6 / 40 + 0.4 / 25), rel=1e-9)
    assert out.binding_constraint == binding
    after = _book_margin(out, HL_BOOK)
    assert after.initial_margin <= after.equity * (1 + 1e-12)


def test_state_takes_a_series_of_exposures_and_a_missing_mu() -> None:
    """A pandas Series of exposures was refused (not a Mapping) and a NaN mu raised, where Kelly's
    path reads NaN as no forecast yet (0, no_forecast): decide and the path agree again."""
    import math

    import pandas as pd

    from levguard.core.sizing.base import SizingState
    from levguard.core.sizing.policies import Kelly

    state = SizingState(equity=100.0, exposures=pd.Series({"A": 10.0, "B": -5.0}))
    assert dict(state.exposures) == {"A": 10.0, "B": -5.0}
    d = Kelly().decide(SizingState(equity=100.0, vol_forecast=0.5, mu_forecast=math.nan))
    assert (d.target_leverage, d.binding_constraint) == (0.0, "no_forecast")


def test_only_a_rate_that_changes_with_the_size_is_solved_bar_by_bar() -> None:
    """dYdX's initial rate does not change with the size: its paths read the tier table (numba),
    not a solve per (equity, price) as Deribit's must (gbm budget paths ran 9x slower on dYdX)."""
    from levguard.core.sizing.caps import rate_scales
    from levguard.core.sizing.venue import MarketContext

    assert rate_scales(MarketContext(venue="deribit", symbol="BTC_USDC-PERPETUAL"))
    assert not rate_scales(MarketContext(venue="dydx-v4", symbol="BTC-USD"))
    assert not rate_scales(MarketContext(venue="binance-usdm", symbol="BTCUSDT"))
