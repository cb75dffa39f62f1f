"""The backtest kernel alone on one configuration, for comparing two trees of the code.

Run: ``.venv/bin/python bench/bench_backtest_kernel.py [--repeats 40]``, and for the baseline the
same script with ``PYTHONPATH=<other tree>/src`` (each tree compiles its own numba cache on the
first call), alternating the two a few times on a quiet machine.  Workload: EmaCrossover 24/168
sized by VolatilityTarget 60 % / 5x, cross margin, slippage (1.0, 0.05), on the shared BTCUSDT
hourly bars with mark OHLC and 8-hourly funding (``../shared/data``); ``prepare`` once, then
``simulate`` timed ``--repeats`` times after a warm-up call.  The kernel runs on one thread.
Prints the tree imported, the median and the fastest call (wall and CPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import bench_backtest as bb
import levguard
from levguard.backtest.engine import prepare, simulate
from levguard.backtest.strategies import EmaCrossover
from levguard.core.sizing.policies import VolatilityTarget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    frames = bb._real_frames()
    if frames is None:
        sys.exit(f"needs the shared BTCUSDT bars under {bb.SHARED}")
    prep = prepare(
        frames[1],
        EmaCrossover(fast=24, slow=168),
        VolatilityTarget(target_vol=0.6, max_leverage=5.0),
        slippage=(1.0, 0.05),
        margin_mode="cross",
    )
    simulate(prep)  # compiles or loads the kernel
    wall, cpu = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        simulate(prep)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(
        f"{os.path.dirname(levguard.__file__)}: {len(frames[1])} bars, one thread, {args.repeats} calls; "
        f"wall median {statistics.median(wall) * 1e3:.1f} ms (fastest {min(wall) * 1e3:.1f}), "
        f"CPU median {statistics.median(cpu) * 1e3:.1f} ms (fastest {min(cpu) * 1e3:.1f})"
    )


if __name__ == "__main__":
    main()
