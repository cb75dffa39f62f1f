"""The settle step of unified liquidation prices: exact within its reach, cheap beyond it.

On accounts whose sums dwarf a position's terms (PnL of 1e8-1e9 USD beside positions of 1-5,000
USD) the totals' correctly rounded sums cross thousands to millions of floats from the search's
root.  The step once walked 64 floats each way there and kept the root (evaluate_unified of such
an account 200 USD above its trigger: 1.31 -> 3.09 ms); it now tests the root and its neighbour,
gallops 1, 2, 4 floats and bisects, and keeps the root beyond :data:`SETTLE_REACH` floats.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import levguard
from levguard.core.unified import _evaluate_python, _settle, unified_account_from_spec
from levguard.core.unified_fast import evaluate_unified_fast
from levguard.errors import LevguardError
from levguard.kernels.unified import SETTLE_REACH, float_at_ordinal, float_ordinal

Spec = dict[str, Any]


def _moved(x: float, floats: int) -> float:
    return float_at_ordinal(float_ordinal(x) + floats)


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, SETTLE_REACH, -1, -2, -3, -SETTLE_REACH])
def test_the_first_liquidated_float_within_reach(side: int, offset: int) -> None:
    """A monotone g crossing ``offset`` floats from the root (positive: towards liquidation):
    the first liquidated float is found, with two tests when it is the root or its neighbour."""
    root = 3863.4809186532098
    first = _moved(root, -side * offset)  # a long is liquidated below
    calls: list[float] = []

    def g(x: float) -> float:
        calls.append(x)
        return 1.0 if side * (x - first) > 0.0 else -1.0

    assert _settle(g, root, side) == first
    if offset in (0, 1):
        assert len(calls) == 2


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("liquidated", [False, True])
def test_beyond_reach_the_root_is_kept_after_few_tests(side: int, liquidated: bool) -> None:
    """Crossing a million floats away (as on a large account): the root is kept after at most
    2 + log2(SETTLE_REACH) tests, one more from a liquidated root (64 floats walked each way
    before, 65 or more tests)."""
    root = 3863.4809186532098
    calls: list[float] = []

    def g(x: float) -> float:
        calls.append(x)
        return -1.0 if liquidated else 1.0

    assert _settle(g, root, side) == root
    assert len(calls) <= 2 + int(math.log2(SETTLE_REACH)) + liquidated, len(calls)


def test_float_ordinal_is_the_bit_pattern() -> None:
    import struct

    for x in (0.0, 5e-324, 2.2250738585072014e-308, 1.0, 3863.4809186532098, 1.7976931348623157e308, math.inf):
        bits = struct.unpack("<q", struct.pack("<d", x))[0]
        assert float_ordinal(x) == bits
        assert float_at_ordinal(bits) == x
    assert _moved(1.0, 1) == math.nextafter(1.0, 2.0)
    assert _moved(5e-324, -1) == 0.0


def _large_and_small(venue: str, n_small: int, seed: int, above: float) -> Spec:
    import numpy as np

    rng = np.random.default_rng(seed)
    positions = [
        {"symbol": "BTCUSDT", "qty": -15000.0, "entry_price": 30000.0, "mark_price": 60000.0, "mmr": 0.005},
        {"symbol": "ETHUSDT", "qty": 1e5, "entry_price": 2000.0, "mark_price": 3000.0, "mmr": 0.005},
    ]
    for i in range(n_small):
        px = float(rng.uniform(1.0, 5000.0))
        positions.append(
            {
                "symbol": f"A{i}USDT",
                "qty": float(rng.choice([-1.0, 1.0]) * rng.uniform(0.01, 1.0)),
                "entry_price": px * float(rng.uniform(0.9, 1.1)),
                "mark_price": px,
                "mmr": 0.01,
            }
        )
    spec: Spec = {"venue": venue, "balances": {"USDT": 0.0}, "positions": positions}
    r0 = levguard.evaluate_account(spec)
    c = 1.05 if venue == "binance-pm" else 1.0
    spec["balances"]["USDT"] = c * r0.maintenance_margin - r0.equity + above
    return spec


def _at(spec: Spec, j: int, price: float) -> Spec:
    s = copy.deepcopy(spec)
    s["positions"][j]["mark_price"] = price
    return s


def _exact_or_out_of_reach(spec: Spec, j: int, lp: float, mark: float) -> None:
    # The reported price is the first liquidated float, or the crossing lies beyond the reach.
    side = 1 if mark > lp else -1  # a long's lies below its mark
    at = levguard.evaluate_account(_at(spec, j, lp)).liquidatable
    before = levguard.evaluate_account(_at(spec, j, _moved(lp, side))).liquidatable
    if at and not before:
        return
    if at:  # liquidated one float towards the mark too: still at the reach's end
        assert levguard.evaluate_account(_at(spec, j, _moved(lp, side * SETTLE_REACH))).liquidatable, (j, lp)
    else:  # safe at the root: still safe at the reach's end towards liquidation
        assert not levguard.evaluate_account(_at(spec, j, _moved(lp, -side * SETTLE_REACH))).liquidatable, (j, lp)


@st.composite
def _mixed(draw: st.DrawFn) -> Spec:
    venue = draw(st.sampled_from(["bybit-uta", "binance-pm", "okx-mcm"]))
    unit = st.floats(0.0, 1.0)
    positions = []
    big = draw(st.floats(1e5, 1e9))  # USD of PnL of the large position
    px_big = 60000.0
    q_big = draw(st.sampled_from([-1.0, 1.0])) * big / (0.5 * px_big)
    positions.append(
        {
            "symbol": "BTCUSDT",
            "qty": q_big,
            "entry_price": px_big,
            "mark_price": px_big * (1.0 + 0.5 * math.copysign(1.0, q_big)),
            "mmr": 0.005,
        }
    )
    for i in range(draw(st.integers(1, 4))):
        px = 1.0 + 4999.0 * draw(unit)
        q = (draw(unit) - 0.5) * 2.0 or 0.5
        positions.append(
            {
                "symbol": f"A{i}USDT",
                "qty": q,
                "entry_price": px * (0.9 + 0.2 * draw(unit)),
                "mark_price": px,
                "mmr": 0.01,
            }
        )
    spec: Spec = {"venue": venue, "balances": {"USDT": 0.0}, "positions": positions}
    try:
        r0 = levguard.evaluate_account(spec)
    except LevguardError:
        return spec
    c = 1.05 if venue == "binance-pm" else 1.0
    spec["balances"]["USDT"] = c * r0.maintenance_margin - r0.equity + draw(st.floats(1.0, 1e9))
    return spec  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=_mixed())
def test_large_and_small_positions_exact_within_reach(spec: Spec) -> None:
    """Property (balances up to 1e9 USD, a large position beside small ones): each reported
    liquidation price is liquidated with one float towards the mark safe, or the totals cross
    beyond SETTLE_REACH floats of it (safe or liquidated all the way there)."""
    try:
        report = levguard.evaluate_account(spec)
    except LevguardError:
        return
    if report.liquidatable:
        return
    for j, p in enumerate(report.positions):
        lp = p.liquidation_price
        if lp is None or not math.isfinite(lp) or lp <= 0.0:
            continue
        _exact_or_out_of_reach(spec, j, lp, p.mark_price)


@pytest.mark.parametrize("venue", ["bybit-uta", "binance-pm", "okx-mcm"])
def test_large_account_python_and_kernel_agree(venue: str) -> None:
    """The Python twin and the kernel settle on the same floats on a large account (200 USD above
    its trigger), and every reported price is exact or out of reach."""
    spec = _large_and_small(venue, 30, 5, 200.0)
    ua = unified_account_from_spec(spec)
    fast = evaluate_unified_fast(ua)
    assert fast is not None
    slow = _evaluate_python(ua)
    for a, b in zip(fast.positions, slow.positions, strict=True):
        assert (a.liquidation_price, a.bankruptcy_price) == (b.liquidation_price, b.bankruptcy_price)
    for j, p in enumerate(slow.positions[:8]):
        lp = p.liquidation_price
        if lp is not None and math.isfinite(lp) and lp > 0.0:
            _exact_or_out_of_reach(spec, j, lp, p.mark_price)
