"""A fixed tier's maintenance amount is a deduction that never makes the maintenance margin
negative (a review: ``maint_amount`` -1,000 was accepted, and 1,000 on 1 BTC @ 60,000 at 0.5 %
gave MM -700, so an account with negative equity was reported as not liquidatable).

Binance: ``MM = notional x MMR - cum`` with ``cum`` built by the continuity rule from 0 (USDⓈ-M FAQ
"Leverage and Margin"), so ``0 <= cum_n <= floor_n x MMR_n``: a bracket's MM is never negative.
"""

from __future__ import annotations

import pytest

import levguard
from levguard.core.tiers import Tier, TierTable


def _spec(maint: float, wallet: float = 3_000.0, mark: float = 60_000.0) -> dict[str, object]:
    return {"venue": "binance-usdm", "wallet_balance": wallet, "positions": [
        {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60_000, "mark_price": mark, "mmr": 0.005, "maint_amount": maint}]}  # fmt: skip


def test_a_negative_deduction_is_refused_by_name() -> None:
    with pytest.raises(levguard.InputError, match=r"positions\[0\]\.maint_amount must be >= 0 .*was -1000\.0"):
        levguard.evaluate_account(_spec(-1_000))
    with pytest.raises(levguard.InputError, match=r"maint_amount must be >= 0"):
        TierTable.fixed_rate(0.005, -1.0)
    with pytest.raises(levguard.InputError, match=r"tiers\[0\]\.maint_amount must be >= 0"):
        TierTable((Tier(0.0, float("inf"), 0.005, -1.0, 100.0),), fixed=True)


def test_a_deduction_above_notional_times_rate_is_refused() -> None:
    with pytest.raises(levguard.InputError, match=r"positions\[0\]\.maint_amount must be at most notional x mmr = 300"):
        levguard.evaluate_account(_spec(1_000))
    # The review's account: negative equity with MM -700.05 read as not liquidatable.
    with pytest.raises(levguard.InputError, match=r"maint_amount must be at most"):
        levguard.evaluate_account(_spec(1_000, wallet=0.0, mark=59_990))


def test_the_maintenance_margin_is_never_negative_and_the_lp_never_past_bankruptcy() -> None:
    p = levguard.evaluate_account(_spec(300)).positions[0]  # MM exactly 0 at the mark
    assert p.maintenance_margin == 0.0
    assert p.liquidation_price == p.bankruptcy_price == 57_000.0  # was 56,984.92, past bankruptcy
    assert TierTable.fixed_rate(0.005, 300.0).maintenance_margin(10_000.0) == 0.0  # was -250
