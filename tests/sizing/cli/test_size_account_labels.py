"""size_account: the book tier-cap label names the member and the position that bind; a trade
below the venue's smallest order is not made."""

from __future__ import annotations

from typing import Any

import pytest

from levguard.sizing import size_account

BUDGET = {"type": "liquidation_budget", "max_prob": 0.9, "horizon_days": 1, "model": "gbm"}


def _book(btc_usd: float, eth_usd: float) -> dict[str, Any]:
    # Hyperliquid: BTC 40x, ETH 25x at these notionals; equity 10,000.
    return {
        "venue": "hyperliquid",
        "wallet_balance": 10_000,
        "positions": [
            {"symbol": "BTC", "qty": btc_usd / 60_000, "entry_price": 60_000, "mark_price": 60_000},
            {"symbol": "ETH", "qty": eth_usd / 3_000, "entry_price": 3_000, "mark_price": 3_000},
        ],
    }


def test_a_composite_of_a_budget_and_a_tier_cap_names_the_tier_cap() -> None:
    """The book's tier bound was named after the first tier-bounded member: liquidation_budget:ETH."""
    policy = {"policy": {"type": "composite", "policies": [BUDGET, {"type": "tier_cap"}]}}
    out = size_account(_book(60_000, 40_000), policy, vol=0.5)
    assert out.target_leverage == pytest.approx(1.0 / (0.6 / 40 + 0.4 / 25), rel=1e-9)
    assert out.binding_constraint == "tier_cap:ETH"


@pytest.mark.parametrize(
    ("btc", "eth", "binding", "gross"),
    [(60_000, 40_000, "ETH", 1.0 / (0.6 / 40 + 0.4 / 25)), (99_000, 1_000, "BTC", 1.0 / (0.99 / 40 + 0.01 / 25))],
)
def test_the_book_label_names_the_position_whose_cap_binds_most(
    btc: float, eth: float, binding: str, gross: float
) -> None:
    """99 % BTC (40x) and 1 % ETH (25x) hold 39.76x: BTC's cap binds (its margin is 98 % of the
    equity), not ETH's 1 % that was named as the lowest cap."""
    out = size_account(_book(btc, eth), {"policy": {"type": "tier_cap"}})
    assert out.target_leverage == pytest.approx(gross, rel=1e-9)
    assert out.binding_constraint == f"tier_cap:{binding}"
    assert out.reasons[0].startswith(f"{binding}'s cap")


def _one(venue: str, **extra: Any) -> dict[str, Any]:
    position = {"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60_000, "mark_price": 60_000, **extra}
    return {"venue": venue, "wallet_balance": 10_000, "positions": [position]}


@pytest.mark.parametrize(
    ("venue", "leverage", "suppressed"),
    [
        ("binance-usdm", 3.005, True),  # adds 50 USD < the 100 USDT minimum of BTCUSDT
        ("binance-usdm", 3.02, False),  # adds 200 USD
        ("binance-usdm", 2.995, False),  # a reduction: no minimum notional (reduce-only)
        ("bybit-linear", 2.995, True),  # reduces 0.00083 BTC < Bybit's 0.001 BTC
        ("bybit-linear", 2.99, False),  # reduces 0.0017 BTC
    ],
)
def test_a_trade_below_the_venues_smallest_order_is_not_made(venue: str, leverage: float, suppressed: bool) -> None:
    """A 50 USD add on Binance's BTCUSDT (minimum 100 USDT) was reported as a trade of 0.00083."""
    extra = {"mmr": 0.005} if venue == "bybit-linear" else {}
    out = size_account(_one(venue, **extra), {"policy": {"type": "fixed", "leverage": leverage}})
    row = out.positions[0]
    if suppressed:
        assert row["trade_qty"] == 0.0
        assert row["target_qty"] == 0.5
        assert out.after_rebalance == pytest.approx(3.0, rel=1e-12)
        assert any("no trade" in n and "BTCUSDT" in n for n in out.notes)
    else:
        assert row["trade_qty"] == pytest.approx(0.5 * (leverage / 3.0 - 1.0), rel=1e-9)
        assert out.after_rebalance == pytest.approx(leverage, rel=1e-12)
