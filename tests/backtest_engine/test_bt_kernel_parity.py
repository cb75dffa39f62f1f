"""The backtest kernel: compiled twin equals the plain-Python one."""

from __future__ import annotations

import numpy as np
import pytest
from bt_engine_helpers import random_frame

from levguard.kernels import backtest as kb
from levguard.kernels._jit import NUMBA_DISABLED


def _run(fn: object, mm_at_entry: bool, mode: int, liq_first: bool) -> tuple[np.ndarray, ...]:
    df = random_frame(n=500, seed=7, sigma=0.01)
    n = len(df)
    rng = np.random.default_rng(3)
    direction = np.sign(np.sin(np.arange(n) / 15.0)).astype(float)
    lev = rng.uniform(0.0, 40.0, n)
    cols = [df[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    marks = [cols[0] * 1.0001, cols[1] * 1.0002, cols[2] * 0.9998, cols[3] * 1.0001]
    bars = np.zeros((n, kb.N_BAR_COLS))
    trades = np.zeros((2 * n, kb.N_TRADE_COLS))
    liqs = np.zeros((n, kb.N_LIQ_COLS))
    counts = np.zeros(2, dtype=np.int64)
    caps = np.array([50_000.0, 600_000.0, np.inf])
    mmrs = np.array([0.004, 0.005, 0.01])
    cums = np.array([0.0, 50.0, 3050.0])
    fn(  # type: ignore[operator]
        *cols,
        *marks,
        df["funding_rate"].to_numpy(),
        direction,
        lev,
        10_000.0,
        0.0005,
        2.0,
        0.1,
        mode,
        caps,
        mmrs,
        cums,
        mm_at_entry,
        0.0005 if mm_at_entry else 0.0,
        0.005,
        kb.REBALANCE_BAND,
        0.1,
        10.0,
        5.0,
        0.04,
        0.06,
        liq_first,
        3,
        bars,
        trades,
        liqs,
        counts,
    )
    return bars, trades[: counts[0]], liqs[: counts[1]]


@pytest.mark.skipif(NUMBA_DISABLED, reason="numba disabled: simulate_nb is simulate_py")
@pytest.mark.parametrize(("mm_at_entry", "mode", "liq_first"), [(False, 0, True), (True, 1, False)])
def test_simulate_py_and_nb_agree(mm_at_entry: bool, mode: int, liq_first: bool) -> None:
    py = _run(kb.simulate_py, mm_at_entry, mode, liq_first)
    nb = _run(kb.simulate_nb, mm_at_entry, mode, liq_first)
    assert py[2].shape[0] > 0 or not liq_first  # the scenario exercises liquidations
    assert py[1].shape[0] > 10
    for a, b in zip(py, nb, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
