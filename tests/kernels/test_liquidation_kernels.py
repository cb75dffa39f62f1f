"""Tiers by position size valued at a price (:func:`levguard.kernels.liquidation.size_caps_at`):
the step-down kernels read a position's tier from caps valued at the fill, and a position must
keep the tier of its size there (OKX counts its tiers in contracts, caps inclusive: okx.com
docs-v5, "Get position tiers", ``minSz``/``maxSz``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.rules import get_venue
from levguard.core.tiers import TierTable
from levguard.kernels import liquidation as kl
from levguard.kernels.margin import tier_index

ROWS = [
    {"notional_floor": 0, "notional_cap": 10, "mmr": 0.004, "max_leverage": 100},
    {"notional_floor": 10, "notional_cap": 20, "mmr": 0.006, "max_leverage": 50},
    {"notional_floor": 20, "notional_cap": None, "mmr": 0.01, "max_leverage": 20},
]
EXCLUSIVE = TierTable.from_rows(ROWS, deduction=False, basis="quantity")
OKX = get_venue("okx").read_tiers(EXCLUSIVE)  # caps inclusive: 20 BTC is in the 0.6 % tier


def _valued(size: float, price: float, inverse: bool) -> float:
    return size / price if inverse else size * price


@settings(max_examples=400, deadline=None)
@given(
    price=st.floats(0.01, 1e7),
    cap=st.sampled_from([10.0, 20.0]),
    ulps=st.integers(-3, 3),
    inverse=st.booleans(),
    inclusive=st.booleans(),
)
def test_a_position_keeps_its_tier_by_size_in_caps_valued_at_any_price(
    price: float, cap: float, ulps: int, inverse: bool, inclusive: bool
) -> None:
    """At, just below and just above every cap, inclusive (OKX) or not, linear or inverse."""
    table = OKX if inclusive else EXCLUSIVE
    size = cap
    for _ in range(abs(ulps)):
        size = float(np.nextafter(size, np.inf if ulps > 0 else 0.0))
    before = table.caps.copy()
    valued = kl.size_caps_at(table.caps, inverse, price, size)
    k = tier_index(size, table.caps)
    assert tier_index(_valued(size, price, inverse), valued) == k
    # Only the position's own cap may move, by one float up; the table's caps are not written.
    plain = table.caps / price if inverse else table.caps * price
    moved = np.flatnonzero(valued != plain)
    assert moved.size == 0 or (moved.tolist() == [k] and valued[k] == np.nextafter(plain[k], np.inf))
    assert np.array_equal(table.caps, before)


def test_caps_valued_plainly_put_a_position_at_an_okx_cap_a_tier_up_at_some_prices() -> None:
    """The defect the helper removes: 20 BTC is in the 0.6 % tier by size, but ``caps x price``
    rounds its cap to the position's own notional at about 3 % of prices (the tier above)."""
    prices = np.random.default_rng(7).uniform(1_000.0, 200_000.0, 4_000)  # prices of full precision
    plain = sum(tier_index(20.0 * p, OKX.caps * p) != 1 for p in prices)
    fixed = sum(tier_index(20.0 * p, kl.size_caps_at(OKX.caps, False, p, 20.0)) != 1 for p in prices)
    assert plain > 40  # the test meets the rounding it guards against
    assert fixed == 0
