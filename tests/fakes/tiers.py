"""Tier tables the venue-rule tests share (levguard's notional tiers, not a venue's snapshot)."""

from __future__ import annotations

from levguard.core.tiers import TierTable

#: Two tiers at a 1M cap: 0.5 % (100x) then 1 % (50x).
TWO_TIER_ROWS: list[dict[str, float | None]] = [
    {"notional_floor": 0, "notional_cap": 1_000_000, "mmr": 0.005, "max_leverage": 100},
    {"notional_floor": 1_000_000, "notional_cap": None, "mmr": 0.01, "max_leverage": 50},
]

#: Four risk limits of 1M each: 0.5 %, 1 %, 1.5 %, 2 % (with their continuity amounts).
FOUR_TIERS = TierTable.from_rows(
    [
        {"notional_floor": 0, "notional_cap": 1e6, "mmr": 0.005, "max_leverage": 100},
        {"notional_floor": 1e6, "notional_cap": 2e6, "mmr": 0.01, "max_leverage": 50},
        {"notional_floor": 2e6, "notional_cap": 3e6, "mmr": 0.015, "max_leverage": 40},
        {"notional_floor": 3e6, "notional_cap": None, "mmr": 0.02, "max_leverage": 25},
    ]
)
