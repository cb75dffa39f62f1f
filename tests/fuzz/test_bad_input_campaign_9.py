"""Bad-input campaign 9 (2026-12-07): wrong types in tier tables, Python ints beyond float64,
finite returns whose squares overflow, unhashable options and arrays where a sequence or a
string option is expected.

Each case failed before the fix with a raw TypeError, ValueError or OverflowError (or returned
inf or a bool); every one must now raise a levguard error naming the argument and the value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from levguard import Tier, TierTable
from levguard.errors import InputError

BIG = 10**400  # a Python int beyond float64's range


def _tier(cap: object = 1e6, max_leverage: object = 125.0) -> TierTable:
    return TierTable((Tier(0.0, cap, 0.005, 0.0, max_leverage),))  # type: ignore[arg-type]


TIER_CASES: list[tuple[str, Callable[[], object], str]] = [
    ("cap text", lambda: _tier(cap="1e6"), r"tiers\[0\]\.notional_cap must be a number, was '1e6'"),
    ("cap None", lambda: _tier(cap=None), r"tiers\[0\]\.notional_cap must be a number, was None"),
    ("cap huge int", lambda: _tier(cap=BIG), r"tiers\[0\]\.notional_cap must be a number within float64"),
    ("cap bool", lambda: _tier(cap=True), r"tiers\[0\]\.notional_cap must be a number, was True"),
    ("cap array", lambda: _tier(cap=np.array([1e6, 2e6])), r"tiers\[0\]\.notional_cap must be a number"),
    ("max_leverage text", lambda: _tier(max_leverage="125"), r"tiers\[0\]\.max_leverage must be a number, was '125'"),
    ("max_leverage None", lambda: _tier(max_leverage=None), r"tiers\[0\]\.max_leverage must be a number, was None"),
    ("max_leverage bool", lambda: _tier(max_leverage=True), r"tiers\[0\]\.max_leverage must be a number, was True"),
    ("max_leverage huge int", lambda: _tier(max_leverage=BIG), r"tiers\[0\]\.max_leverage must be a number within"),
    ("max_leverage array", lambda: _tier(max_leverage=np.array([1.0])), r"tiers\[0\]\.max_leverage must be a number"),
]


@pytest.mark.parametrize(("call", "needle"), [(c[1], c[2]) for c in TIER_CASES], ids=[c[0] for c in TIER_CASES])
def test_tier_table_names_the_bad_tier_value(call: Callable[[], object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        call()


def test_tier_table_still_takes_an_infinite_cap_and_ints() -> None:
    table = TierTable((Tier(0, float("inf"), 0.005, 0, 125),))
    assert table.max_leverage(1000.0) == 125
