"""A position exactly at a tier's cap: its leverage limit follows the tier of its maintenance margin
wherever that margin jumps at the cap (no deduction: BitMEX excludes the cap, OKX includes it), and
keeps the bracket's leverage where the margin is continuous (Binance, Bybit: the cap included).

Source: bitmex.com/app/riskLimitsExamples ("< 200 XBT: 0.50 %", then 1.00 %), the repository's
docs/margin.md section 3.
"""

from __future__ import annotations

import math

import pytest

import levguard
from levguard.core.margin_cross import evaluate_cross
from levguard.core.spec import account_from_spec
from levguard.core.tiers import Tier, TierTable
from levguard.errors import InputError

# XBTUSD risk limits: < 200 XBT at 0.5 % and 100x, then 1 % and 50x; 2,000,000 USD at 10,000 is 200 XBT.
BITMEX_TIERS = [
    {"notional_floor": 0, "notional_cap": 200, "mmr": 0.005, "max_leverage": 100},
    {"notional_floor": 200, "notional_cap": None, "mmr": 0.01, "max_leverage": 50},
]


def _spec(**extra: object) -> dict[str, object]:
    pos = {"symbol": "XBTUSD", "qty": 2_000_000, "entry_price": 10_000, "mark_price": 10_000, "tiers": BITMEX_TIERS}
    pos.update(extra)
    return {"venue": "bitmex", "wallet_balance": 10, "positions": [pos]}


def test_bitmex_at_the_cap_refuses_the_lower_limits_leverage() -> None:
    """100x at exactly 200 XBT would post 2 XBT against a 1 % maintenance margin of 2 XBT."""
    with pytest.raises(InputError, match=r"leverage 100.0 exceeds the maximum 50 for notional 200\.00"):
        levguard.evaluate_account(_spec(leverage=100, margin_mode="isolated"))


def test_bitmex_at_the_cap_defaults_to_the_next_limits_leverage() -> None:
    """Default leverage 50x: IM 4 XBT, MM 2 XBT; LP solves 4 + 2e6 (1/10,000 - 1/P) = 2: 9,900.99."""
    p = levguard.evaluate_account(_spec(margin_mode="isolated")).positions[0]
    assert (p.tier, p.leverage, p.max_leverage) == (2, 50.0, 50.0)
    assert p.initial_margin == pytest.approx(4.0)
    assert p.maintenance_margin == pytest.approx(2.0)
    assert p.liquidation_price == pytest.approx(1_000_000 / 101)
    assert not p.liquidatable


@pytest.mark.parametrize("compiled", [False, None])
def test_bitmex_cross_fast_path_reads_the_same_leverage_tier(compiled: bool | None) -> None:
    account = account_from_spec(_spec())
    p = evaluate_cross(account, compiled=compiled).positions[0]
    assert (p.tier, p.leverage, p.max_leverage) == (2, 50.0, 50.0)
    assert p.initial_margin == pytest.approx(4.0)
    with pytest.raises(InputError, match="exceeds the maximum 50"):
        evaluate_cross(account_from_spec(_spec(leverage=100)), compiled=compiled)


def test_table_leverage_follows_the_maintenance_tier_without_deduction() -> None:
    rows = (Tier(0.0, 200.0, 0.005, 0.0, 100.0), Tier(200.0, math.inf, 0.01, 0.0, 50.0))
    bitmex = TierTable(rows, deduction=False)  # BitMEX: the cap belongs to the next limit
    okx = TierTable(rows, deduction=False, cap_inclusive=True)  # OKX: "Tier 1: 0-5,000"
    assert [bitmex.max_leverage(x) for x in (199.99, 200.0, 200.01)] == [100.0, 50.0, 50.0]
    assert [okx.max_leverage(x) for x in (199.99, 200.0, 200.01)] == [100.0, 100.0, 50.0]
    for table in (bitmex, okx):
        for x in (0.0, 199.99, 200.0, 200.01, 1e9):
            assert table.leverage_index(x) == table.index(x)


def test_table_with_deduction_keeps_the_bracket_cap_inclusive() -> None:
    """Binance USDⓈ-M: "0 - 50,000" at 125x; the maintenance margin is continuous there."""
    table = TierTable.from_rows(
        [
            {"notional_floor": 0, "notional_cap": 50_000, "mmr": 0.004, "max_leverage": 125},
            {"notional_floor": 50_000, "notional_cap": None, "mmr": 0.005, "max_leverage": 100},
        ]
    )
    assert [table.max_leverage(x) for x in (50_000.0, 50_000.01)] == [125.0, 100.0]
    assert table.maintenance_margin(50_000.0) == pytest.approx(200.0)
