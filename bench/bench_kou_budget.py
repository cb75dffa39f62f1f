"""A Kou liquidation budget in a backtest: the memoised Laplace roots against solving them at
every barrier the leverage search tries.

Run: ``.venv/bin/python bench/bench_kou_budget.py [--bars 500] [--repeats 3]``.  Real XRPUSDT
perpetual 1h bars from ``../shared/data`` (the last ``--bars``), buy and hold under
``LiquidationBudget(0.01, 7, model="kou", lam=20, p_up=0.4, eta_up=30, eta_down=25,
max_leverage=20)`` on a two-tier table (the case an API audit timed at 62 ms a bar).  Both sides
in this process on one thread (pure Python), alternating, after a warm-up run: ``memoised`` is
levguard as it is; ``per barrier`` replaces ``first_passage._kou_roots`` by its unmemoised
function, as the code was before.  The two must give the same equity curve to the bit.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import levguard.backtest as bt
from _util import cpu_model
from levguard.core.risk import first_passage as fp
from levguard.core.sizing.venue import LiquidationBudget
from levguard.data.loaders import load_ohlcv

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv" / "XRPUSDT-PERP_1h.csv"
TIERS = [
    {"notional_floor": 0, "notional_cap": 1e6, "mmr": 0.005, "max_leverage": 50},
    {"notional_floor": 1e6, "notional_cap": None, "mmr": 0.01, "max_leverage": 25},
]


def one_run(bars: object, memoised: object) -> tuple[float, list[float]]:
    policy = LiquidationBudget(0.01, 7.0, model="kou", lam=20, p_up=0.4, eta_up=30, eta_down=25, max_leverage=20)
    memoised.cache_clear()  # type: ignore[attr-defined]  # every run starts cold
    t0 = time.perf_counter()
    res = bt.run(bars, bt.BuyAndHold(), policy, symbol="XRPUSDT", tiers=TIERS)
    return time.perf_counter() - t0, res.equity.tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not DATA.is_file():
        raise SystemExit(f"{DATA} is missing (../shared beside the repository)")
    bars = load_ohlcv(DATA).iloc[-args.bars :]
    print(f"{platform.python_implementation()} {platform.python_version()} on {cpu_model()}; one thread")
    memoised = fp._kou_roots
    plain = memoised.__wrapped__
    one_run(bars, memoised)  # warm-up: imports, kernels
    times: dict[str, list[float]] = {"memoised": [], "per barrier": []}
    curves: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, fn in (("memoised", memoised), ("per barrier", plain)):
            fp._kou_roots = fn  # type: ignore[assignment]
            try:
                dt, curve = one_run(bars, memoised)
            finally:
                fp._kou_roots = memoised
            times[name].append(dt)
            curves[name] = curve
    assert curves["memoised"] == curves["per barrier"], "the memoised roots changed the result"
    n = len(bars)
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name}: {m:.2f} s for {n} bars ({m / n * 1e3:.2f} ms a bar; runs {', '.join(f'{t:.2f}' for t in ts)})")
    print(f"speed-up {statistics.median(times['per barrier']) / statistics.median(times['memoised']):.1f}x")


if __name__ == "__main__":
    main()
