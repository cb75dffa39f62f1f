"""A liquidation budget's backtest path monitored at dates, beside the same budget monitored
continuously (the baseline, the numba kernel), in one run.

Run: ``.venv/bin/python bench/bench_budget_monitoring.py [--bars 1000] [--checks-per-day 24 1]``.
Workload: ``LiquidationBudget(0.01, 7 days, model="gbm")`` on a flat 0.5 % maintenance rate,
``leverage_path`` over ``--bars`` bars whose volatility changes every bar (uniform in 0.5-0.8,
seed 1), equity 10,000 and price 100 throughout.  With ``monitoring_dt_days`` the path solves in
Python through the exact recursion over the dates (``core.risk.discrete_monitoring``); monitored
continuously it runs on the kernel.  Both on one thread (``NUMBA_NUM_THREADS`` does not enter:
neither path uses numba's thread pool).  The warm-up call of each (compilation) is not timed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from levguard.core.sizing.base import MarketContext, SeriesInputs
from levguard.core.sizing.venue import LiquidationBudget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1000)
    ap.add_argument("--checks-per-day", type=float, nargs="+", default=[24.0, 1.0])
    args = ap.parse_args()
    n = args.bars
    vol = 0.5 + 0.3 * np.random.default_rng(1).random(n)
    inputs = SeriesInputs(returns=np.zeros(n), vol_forecast=vol, equity=np.full(n, 1e4), price=np.full(n, 100.0))
    warm = SeriesInputs(returns=np.zeros(2), vol_forecast=vol[:2], equity=np.full(2, 1e4), price=np.full(2, 100.0))
    ctx = MarketContext(mmr=0.005)
    cases = [("continuous (kernel, baseline)", None)] + [
        (f"{c:g} checks a day (exact recursion)", 1.0 / c) for c in args.checks_per_day
    ]
    for label, dt in cases:
        policy = LiquidationBudget(0.01, 7.0, model="gbm", monitoring_dt_days=dt, context=ctx)
        policy.leverage_path(warm)
        t0 = time.perf_counter()
        path = policy.leverage_path(inputs)
        elapsed = time.perf_counter() - t0
        per_bar = elapsed / n * 1e3
        print(f"{label:38s} {n} bars: {elapsed:8.3f} s ({per_bar:.2f} ms a bar), mean leverage {path.mean():.3f}")


if __name__ == "__main__":
    main()
