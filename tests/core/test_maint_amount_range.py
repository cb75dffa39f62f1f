"""A fixed tier's maintenance amount is a deduction that never makes the maintenance margin
negative (a review: ``maint_amount`` -1,000 was accepted, and 1,000 on 1 BTC @ 60,000 at 0.5 %
gave MM -700, so an account with negative equity was reported as not liquidatable).

Binance: ``MM = notional x MMR - cum`` with ``cum`` built by the continuity rule from 0 (USDⓈ-M FAQ
"Leverage and Margin"), so ``0 <= cum_n <= floor_n x MMR_n``: a bracket's MM is never negative.
"""

from __future__ import annotations

import numpy as np
import pytest

import levguard
from levguard.core.tiers import Tier, TierTable
from levguard.margin import isolated_margin_arrays


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


def test_a_fixed_pair_gives_the_same_numbers_in_the_evaluator_and_the_array_functions() -> None:
    """At the bound (MM exactly 0 at the mark) the pair is accepted; below ``maint_amount / mmr``
    it gives MM < 0 in every path alike (one formula), so the liquidation price of the account
    evaluator and the array functions stay equal (a first version clamped the evaluator only)."""
    spec = _spec(300)
    spec["positions"][0].update(margin_mode="isolated", isolated_margin=3_000.0)  # type: ignore[index]
    p = levguard.evaluate_account(spec).positions[0]
    assert p.maintenance_margin == 0.0
    table = TierTable.fixed_rate(0.005, 300.0)
    lp, mm, _ = isolated_margin_arrays(np.array([1.0]), np.array([60_000.0]), np.array([3_000.0]), table)
    assert (float(lp[0]), float(mm[0])) == (p.liquidation_price, p.maintenance_margin)
    assert p.liquidation_price is not None
    assert p.liquidation_price < p.bankruptcy_price  # MM < 0 there: the pair is not the venue's table
