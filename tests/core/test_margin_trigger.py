"""The liquidation trigger at equality: ``balance <= MM`` on most venues, strictly below on dYdX
and Hyperliquid (``VenueModel.liquidatable``; sources in its docstring)."""

from __future__ import annotations

import pytest

import levguard
from levguard.core.margin_cross import CrossLayout, evaluate_cross
from levguard.core.spec import account_from_spec

CASES = [
    # venue, symbol, MM of 1 BTC @ 50,000 (dYdX Large-Cap 2 % x 60 %; Hyperliquid 1/(2 x 40); Binance 0.4 %)
    ("dydx-v4", "BTC-USD", 600.0, False),
    ("hyperliquid", "BTC", 625.0, False),
    ("binance-usdm", "BTCUSDT", 200.0, True),
]


@pytest.mark.parametrize(("venue", "symbol", "mm", "at_equality"), CASES)
@pytest.mark.parametrize("mode", ["cross", "isolated"])
def test_equity_equal_to_the_maintenance_margin(
    venue: str, symbol: str, mm: float, at_equality: bool, mode: str
) -> None:
    def spec(balance: float) -> dict[str, object]:
        pos: dict[str, object] = {"symbol": symbol, "qty": 1, "entry_price": 50_000, "mark_price": 50_000}
        if mode == "isolated":
            pos["isolated_margin"] = balance
        return {"venue": venue, "margin_mode": mode, "wallet_balance": balance if mode == "cross" else 0.0,
                "positions": [pos]}  # fmt: skip

    equal = levguard.evaluate_account(spec(mm))
    assert equal.positions[0].maintenance_margin == mm
    assert equal.liquidatable is at_equality
    assert levguard.evaluate_account(spec(mm * (1 - 1e-9))).liquidatable
    assert not levguard.evaluate_account(spec(mm * (1 + 1e-9))).liquidatable
    if mode == "cross":  # the one-kernel cross path applies the same trigger
        account = account_from_spec(spec(mm))
        assert (CrossLayout.of(account, None) is None) is (venue == "dydx-v4")  # rate-based: evaluate's path
        assert evaluate_cross(account).liquidatable is at_equality


@pytest.mark.parametrize(("venue", "symbol", "mm", "at_equality"), CASES)
def test_joint_stress_applies_the_venues_trigger(venue: str, symbol: str, mm: float, at_equality: bool) -> None:
    """The scenario kernel (liquidation surface, reverse stress, account replay) said
    liquidatable at equality on dYdX and Hyperliquid where the evaluator did not (a review)."""
    import numpy as np

    from levguard.core.risk.joint_stress import joint_for, scenario_values

    spec = {"venue": venue, "margin_mode": "cross", "wallet_balance": mm,
            "positions": [{"symbol": symbol, "qty": 1, "entry_price": 50_000, "mark_price": 50_000}]}  # fmt: skip
    account = account_from_spec(spec)
    equity, maintenance, liq = scenario_values(joint_for(account), ("BTC",), np.array([[1.0], [0.999]]))
    assert equity[0] == pytest.approx(mm)
    assert maintenance[0] == pytest.approx(mm)
    assert bool(liq[0]) is at_equality
    assert bool(liq[1])


def test_a_zero_maintenance_margin_on_the_strict_venues() -> None:
    """dYdX liquidates only with ``MMR > 0`` (``CanLiquidateSubaccount``); Hyperliquid when the
    equity "falls below" the MM, so a negative balance against an MM of 0 is liquidatable there."""
    assert not levguard.get_venue("dydx-v4").liquidatable(-1.0, 0.0)
    assert levguard.get_venue("hyperliquid").liquidatable(-1.0, 0.0)
    assert levguard.get_venue("binance-usdm").liquidatable(0.0, 0.0)
