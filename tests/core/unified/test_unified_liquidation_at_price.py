"""A unified position's reported liquidation price is liquidated when the account is evaluated there.

The search once summed the other positions' PnL and MM as ``(total - own) + own(P)`` while the
account's totals take the correctly rounded sum of every term: on 22 of 1,500 random accounts
the two differed by an ulp at the root and the account evaluated at the reported price was
safe (okx-mcm below: equity - MM = +3.6e-12 USD at the ETHUSDT liquidation price).  The search
keeps its fast sums; its root is then settled on the totals' own sums (a step of an ulp or none).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import levguard
from levguard.core.unified import _evaluate_python, unified_account_from_spec
from levguard.core.unified_fast import evaluate_unified_fast
from levguard.errors import LevguardError

Spec = dict[str, Any]

_ULP_CASE: Spec = {
    "venue": "okx-mcm",
    "balances": {"USDT": 49206.79313540069},
    "prices": {"BTC": 89193.41834435797},
    "positions": [
        {"symbol": "SOLUSDT", "qty": 675.575824227343, "entry_price": 174.42644626785273,
         "mark_price": 152.21700240423522, "mmr": 0.01},
        {"symbol": "ETHUSDT", "qty": -24.122117993629335, "entry_price": 3333.753225776609,
         "mark_price": 2415.0832913098156, "mmr": 0.01},
        {"symbol": "BTCUSDT", "qty": -4.5163063707346, "entry_price": 51326.11202762341,
         "mark_price": 61999.320806484364, "mmr": 0.01},
    ],
}  # fmt: skip


def _at(spec: Spec, j: int, price: float) -> Spec:
    s = copy.deepcopy(spec)
    s["positions"][j]["mark_price"] = price
    return s


@pytest.mark.parametrize("path", ["python", "kernel"])
def test_liquidated_at_the_reported_price(path: str) -> None:
    """ETHUSDT short: at its liquidation price the margin ratio reaches 100 % (was 100 % + 1e-15, safe)."""
    ua = unified_account_from_spec(_ULP_CASE)
    report = _evaluate_python(ua) if path == "python" else evaluate_unified_fast(ua)
    assert report is not None
    lp = report.positions[1].liquidation_price
    assert lp is not None
    at = levguard.evaluate_account(_at(_ULP_CASE, 1, lp))
    assert at.liquidatable, (lp, at.equity, at.maintenance_margin)
    before = levguard.evaluate_account(_at(_ULP_CASE, 1, math.nextafter(lp, 0.0)))
    assert not before.liquidatable  # the first such price: one float towards the mark is safe


def test_expansion_sums_exactly() -> None:
    """fsum of the expansion plus one term is fsum of the values plus it (1e16 + 1 + 1e-16 needs three floats)."""
    from levguard.core.unified import expansion

    values = [1e16, 1.0, 1e-16, -3.0]
    parts = expansion(values)
    assert len(parts) >= 2
    for x in (0.5, -1e16, 7.25e-17):
        assert math.fsum([*parts, x]) == math.fsum([*values, x])
    assert expansion([]) == []


_SYMBOLS = (("BTCUSDT", 60000.0), ("ETHUSDT", 3000.0), ("SOLUSDT", 150.0))


@st.composite
def _accounts(draw: st.DrawFn) -> Spec:
    venue = draw(st.sampled_from(["bybit-uta", "binance-pm", "okx-mcm"]))
    unit = st.floats(0.0, 1.0)
    balances = {"USDT": draw(st.floats(-20000.0, 1e6)), "BTC": draw(st.floats(-2.0, 60.0))}
    spec: Spec = {"venue": venue, "balances": balances, "prices": {"BTC": draw(st.floats(20000.0, 90000.0))}}
    if draw(st.booleans()):
        spec["borrowed"] = {"USDT": draw(st.floats(0.0, 10000.0))}
        spec["loan_mmr"] = draw(st.floats(0.0, 0.2))
    picks = draw(st.lists(st.sampled_from(range(3)), min_size=1, max_size=3, unique=True))
    positions = []
    for k in picks:
        symbol, px = _SYMBOLS[k]
        q = (draw(unit) * 10.0 - 5.0) * 60000.0 / px
        if q == 0.0:
            q = 1.0
        positions.append(
            {
                "symbol": symbol,
                "qty": q,
                "entry_price": px * (0.8 + 0.4 * draw(unit)),
                "mark_price": px * (0.8 + 0.4 * draw(unit)),
                "mmr": draw(st.sampled_from([0.005, 0.01, 0.05])),
            }
        )
    if venue == "binance-pm" and draw(st.booleans()):  # a COIN-M leg: its PnL and MM settle in BTC
        positions.append(
            {
                "symbol": "BTCUSD_PERP",
                "qty": float(draw(st.integers(-200, 200)) or 50),
                "entry_price": 60000.0 * (0.8 + 0.4 * draw(unit)),
                "mark_price": spec["prices"]["BTC"],
                "mmr": 0.005,
            }
        )
    spec["positions"] = positions
    return spec


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=_accounts())
def test_evaluated_at_its_liquidation_price_the_account_is_liquidatable(spec: Spec) -> None:
    """Property (bybit-uta, binance-pm with COIN-M legs, okx-mcm): at a safe account's reported
    liquidation price of any position, that position's mark moved there alone, the account is
    liquidatable; one float towards the mark it is not."""
    try:
        report = levguard.evaluate_account(spec)
    except LevguardError:
        return
    if report.liquidatable:
        return
    for j, p in enumerate(report.positions):
        lp = p.liquidation_price
        if lp is None or not math.isfinite(lp):
            continue
        at = levguard.evaluate_account(_at(spec, j, lp))
        assert at.liquidatable, (j, lp, at.equity, at.maintenance_margin)
        before = levguard.evaluate_account(_at(spec, j, math.nextafter(lp, p.mark_price)))
        assert not before.liquidatable, (j, lp, before.equity, before.maintenance_margin)


@pytest.mark.parametrize("seed", range(3))
def test_python_and_kernel_settle_on_the_same_float(seed: int) -> None:
    """The Python path and the kernel report the same liquidation and bankruptcy prices on
    accounts of many positions (the settle step runs in both)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for venue in ("bybit-uta", "binance-pm", "okx-mcm"):
        positions = [
            {
                "symbol": f"A{i}USDT",
                "qty": float(rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 3.0)),
                "entry_price": float(3000.0 * rng.uniform(0.8, 1.2)),
                "mark_price": float(3000.0 * rng.uniform(0.9, 1.1)),
                "mmr": 0.01,
            }
            for i in range(40)
        ]
        spec = {"venue": venue, "balances": {"USDT": float(rng.uniform(5000.0, 50000.0))}, "positions": positions}
        ua = unified_account_from_spec(spec)
        fast = evaluate_unified_fast(ua)
        assert fast is not None
        slow = _evaluate_python(ua)
        for a, b in zip(fast.positions, slow.positions, strict=True):
            assert (a.liquidation_price, a.bankruptcy_price) == (b.liquidation_price, b.bankruptcy_price)
