"""Drawdown control and CPPI on the engine: evaluated bar by bar on the run's own equity."""

from __future__ import annotations

import numpy as np
import pytest
from multi_helpers import frame, random_frame

from levguard.backtest.engine import BacktestResult, run
from levguard.core.sizing.base import Composite, FixedLeverage, SizingState
from levguard.core.sizing.policies import CPPI, DrawdownControl

E0 = 10_000.0


def _decisions(res: BacktestResult, policy: object, cap: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    eq = res.equity.to_numpy()
    used = res.positions["target_leverage"].to_numpy()
    expected = np.zeros_like(used)
    peak = E0
    for t in range(1, eq.shape[0]):
        peak = max(peak, eq[t - 1])
        state = SizingState(equity=float(eq[t - 1]), peak_equity=float(peak))
        expected[t] = min(policy.decide(state).target_leverage, cap)  # type: ignore[attr-defined]
    return used, expected


@pytest.mark.parametrize("schedule", ["linear", "convex"])
def test_drawdown_control_uses_the_runs_own_equity(schedule: str) -> None:
    df = random_frame(n=400, seed=61, sigma=0.01)
    dd = DrawdownControl(max_drawdown=0.25, base_leverage=6.0, schedule=schedule)  # type: ignore[arg-type]
    res = run(df, np.ones(len(df)), dd)
    assert res.params["path_policies"] == ["DrawdownControl"]
    used, expected = _decisions(res, dd)
    assert res.metrics["max_drawdown"] > 0.05  # the cap moves
    assert np.ptp(used[1:]) > 1.0
    np.testing.assert_allclose(used, expected, rtol=1e-12, atol=1e-12)


def test_drawdown_control_in_a_composite_takes_the_minimum() -> None:
    df = random_frame(n=300, seed=62, sigma=0.01)
    dd = DrawdownControl(max_drawdown=0.3, base_leverage=8.0)
    res = run(df, np.ones(len(df)), Composite(FixedLeverage(4.0), dd))
    assert res.params["path_policies"] == ["DrawdownControl"]
    used, expected = _decisions(res, dd, cap=4.0)
    assert (used[1:] < 4.0).any()
    assert (used[1:] == 4.0).any()
    np.testing.assert_allclose(used, expected, rtol=1e-12, atol=1e-12)


def test_cppi_uses_the_runs_own_equity() -> None:
    df = random_frame(n=300, seed=63, sigma=0.01)
    cppi = CPPI(floor=0.8, multiplier=4.0, max_leverage=5.0, ratchet=True, initial_equity=E0)
    res = run(df, np.ones(len(df)), cppi)
    assert res.params["path_policies"] == ["CPPI"]
    used, expected = _decisions(res, cppi)
    np.testing.assert_allclose(used, expected, rtol=1e-12, atol=1e-12)
    assert np.ptp(used[1:]) > 0.1


def test_cppi_keeps_equity_above_the_floor_on_a_smooth_decline() -> None:
    n = 300
    close = 100.0 * np.exp(np.linspace(0.0, np.log(0.3), n))  # -70%, 0.4% per bar
    df = frame(close, wick=0.001)
    cppi = CPPI(floor=0.8, multiplier=3.0, max_leverage=5.0, initial_equity=E0)
    res = run(df, np.ones(n), cppi, fees=0.0004)
    assert res.equity.min() >= 0.8 * E0 * 0.995
    assert res.equity.iloc[-1] < E0 * 0.95  # it did take the losses down to near the floor
    # Without CPPI the same fixed-leverage long loses most of the account.
    naive = run(df, np.ones(n), 3.0, fees=0.0004)
    assert naive.equity.min() < 0.5 * E0
