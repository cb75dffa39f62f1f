"""Without a configured ``vol`` the guardian estimates one from the marks it sees through the
public vol functions, and says "unknown" until it has enough: no invented 0.8 (issue 15)."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from guardian_helpers import guardian, run_crash, store, venue

from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.volatility import annualise, ewma_variance, periods_per_year
from levguard.live._support import MIN_MARKS, ewma_vol

MINUTE = 60_000_000_000


def _marks(n: int, vol: float = 0.8, seed: int = 0) -> deque[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    step = vol / math.sqrt(365 * 24 * 60)
    p = 60_000.0 * np.exp(np.cumsum(rng.normal(0.0, step, n)))
    return deque((i * MINUTE, float(x)) for i, x in enumerate(p))


def test_marks_vol_is_the_public_ewma() -> None:
    hist = _marks(3_000)
    closes = np.array([p for _, p in hist])
    want = annualise(float(ewma_variance(np.log(closes[1:] / closes[:-1]))[-1]), periods_per_year(MINUTE))
    assert ewma_vol(hist) == pytest.approx(want, rel=1e-12)
    assert 0.5 < want < 1.3  # an EWMA of 1-minute returns at 0.8 true vol


def test_marks_vol_is_unknown_until_enough_marks() -> None:
    assert ewma_vol(None) is None
    assert ewma_vol(_marks(MIN_MARKS - 1)) is None
    assert ewma_vol(_marks(MIN_MARKS)) is not None
    flat = deque((i * MINUTE, 60_000.0) for i in range(50))
    assert ewma_vol(flat) is None  # marks that never move say nothing about the risk
    stale = deque((MINUTE, 60_000.0 + i) for i in range(50))
    assert ewma_vol(stale) is None  # no pair of marks with time between them


def test_guardian_without_vol_reports_p_liq_unknown_then_estimates_it(tmp_path: Path) -> None:
    v = venue(drop=0.05, ticks=40, qty=0.5)  # 2.5x: far from its liquidation price
    g = guardian(v, store(tmp_path), vol=None)
    assert g.vol("paper", "BTCUSDT") is None
    assert g.forecaster("paper", "BTCUSDT") is None
    (rep,) = asyncio.run(g.cycle())
    (pos,) = rep["positions"]
    assert math.isnan(pos["p_liq"])  # unknown, not a number made up
    assert pos["state"] == "OK"  # the margin ratio and the distance still classify the position
    reports = run_crash(v, g, steps=30)
    seen = reports[-1]["positions"][0]
    est = g.vol("paper", "BTCUSDT")
    assert est is not None
    assert est > 0.0
    assert isinstance(g.forecaster("paper", "BTCUSDT"), GbmForecaster)
    assert 0.0 <= seen["p_liq"] <= 1.0
    g.close()


def test_configured_vol_wins(tmp_path: Path) -> None:
    g = guardian(venue(drop=0.05, ticks=5), store(tmp_path), vol=0.7)
    assert g.vol("paper", "BTCUSDT") == 0.7
    assert g.forecaster("paper", "BTCUSDT") == GbmForecaster(0.7)
    g.close()
