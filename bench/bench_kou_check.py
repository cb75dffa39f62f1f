"""Cost of the Kou probability's default (closed form plus the settled check) against the closed
form alone (``method="analytic"``), and of a Monte Carlo fallback.

Run: ``.venv/bin/python bench/bench_kou_check.py [--repeats 7]``.  Both sides run in this process
on one thread (pure Python; numba's pool is set to one thread for the fallback's Monte Carlo),
alternating, after one warm-up call each; the report gives the median time per call.  The regular
case is a row of docs/risk.md's validation table (long, LP -20 %, 30 days, sigma 0.8, lam 10,
p_up 0.4, eta 12/8); the steep case is the one the check was written for (eta_up 2, p_up 1, lam 9,
LP -3.125 %, 1 day), where the default falls back to Monte Carlo.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from _util import cpu_model
from levguard.core.risk.first_passage import _kou_roots
from levguard.core.risk.liquidation import prob_liquidation

REGULAR = ("long", 100.0, 80.0, 0.8, 30.0, {"lam": 10.0, "p_up": 0.4, "eta_up": 12.0, "eta_down": 8.0})
STEEP = ("long", 100.0, 96.875, 0.109375, 1.0, {"lam": 9.0, "p_up": 1.0, "eta_up": 2.0, "eta_down": 2.0})


def per_call(case: tuple, calls: int, **extra: object) -> float:
    # Each call from a cold root cache (first_passage._kou_roots): a call with the same
    # parameters again would reuse the roots and time the cache.
    side, price, liq, sigma, days, jumps = case
    elapsed = 0.0
    for _ in range(calls):
        _kou_roots.cache_clear()
        t0 = time.perf_counter()
        prob_liquidation(side, price, liq, sigma, days, model="kou", **jumps, **extra)
        elapsed += time.perf_counter() - t0
    return elapsed / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()} on {cpu_model()}; one thread")
    for name, case, calls in (("regular", REGULAR, 200), ("steep", STEEP, 5)):
        per_call(case, 1)
        per_call(case, 1, method="analytic")
        default, analytic = [], []
        for _ in range(args.repeats):
            analytic.append(per_call(case, calls, method="analytic"))
            default.append(per_call(case, calls))
        a, d = statistics.median(analytic), statistics.median(default)
        print(f"{name}: method='analytic' {a * 1e3:.2f} ms, default {d * 1e3:.2f} ms per call ({d / a:.1f}x)")


if __name__ == "__main__":
    main()
