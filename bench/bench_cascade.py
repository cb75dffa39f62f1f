"""Cascade simulator: one path with 1,000,000 accounts and 10,000 steps against a naive scan (issue 7).

Run: ``.venv/bin/python bench/bench_cascade.py [--accounts 1000000] [--steps 10000] [--repeats 3]
[--naive-accounts 100000] [--naive-steps 1000] [--json out.json]``.

Workload: ``population_from_distribution`` (the default retail leverage mixture, 10 bn USD of
open interest per side... two-sided, seed 1) around 60,000; one Merton jump-diffusion path of
one-minute steps (80 % vol, 200 jumps a year of mean -2 %, seed 7) so that a share of the book is
liquidated; linear depth of 5 M USD per basis point, 30-step resilience, Binance-like static
maintenance 0.5 %, insurance fund 50 M USD, ADL on.  The kernel runs on one core
(``cascade_nb`` is not parallel).

Baseline: the same kernel in its naive mode (``CascadeConfig.naive``: every account scanned in every
round) on ``--naive-accounts`` x ``--naive-steps`` (its cost is linear in accounts x rounds, and
the rounds per step do not depend on the number of accounts much), extrapolated to the full case
by accounts x steps; the sorted sweep is timed on that smaller case too, and both modes are
checked to give identical results there.  Medians of ``--repeats`` runs after a warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, timeit
from levguard.cascade.population import population_from_distribution
from levguard.cascade.price_paths import path_for
from levguard.cascade.simulator import MarginRegime, Market, VenueSettings, simulate_path


def _spec(n_steps: int) -> dict[str, Any]:
    return {
        "model": "jump",
        "s0": 60_000.0,
        "sigma": 0.8,
        "n_steps": n_steps,
        "dt_years": 1.0 / 525_600.0,
        "seed": 7,
        "lam": 200.0,
        "jump_mean": -0.02,
        "jump_std": 0.03,
    }


def _setup(n: int, n_steps: int) -> tuple[Any, np.ndarray]:
    pop = population_from_distribution(n, price=60_000.0, seed=1, total_notional=1e10 * n / 1_000_000)
    return pop, path_for(_spec(n_steps), 0)


MARKET = Market(depth=5e6, half_life_steps=30.0)
REGIME = MarginRegime(kind="static", mmr=0.005, liquidation_fee=0.005)
VENUE = VenueSettings(insurance_fund=5e7, adl=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--naive-accounts", type=int, default=100_000)
    ap.add_argument("--naive-steps", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "threads": os.environ.get("NUMBA_NUM_THREADS"),
    }
    # Small case: sweep vs naive, identical results, per account-step cost.
    pop_s, path_s = _setup(args.naive_accounts, args.naive_steps)

    def small(naive: bool) -> Any:
        return simulate_path(pop_s, path_s, market=MARKET, regime=REGIME, venue=VENUE, naive=naive)

    a, b = small(False), small(True)
    same = a.steps.equals(b.steps) and a.events.equals(b.events) and a.accounts.equals(b.accounts)
    t_sweep_s = statistics.median(timeit(lambda: small(False), args.repeats))
    t_naive_s = statistics.median(timeit(lambda: small(True), args.repeats))
    out["small"] = {
        "accounts": args.naive_accounts,
        "steps": args.naive_steps,
        "identical": bool(same),
        "sweep_s": t_sweep_s,
        "naive_s": t_naive_s,
        "accounts_liquidated": a.summary["accounts_liquidated"],
        "rounds": float(a.steps["rounds"].sum()),
    }
    print("small case:", json.dumps(out["small"]))
    # Full case: sweep only.
    t0 = time.perf_counter()
    pop, path = _setup(args.accounts, args.steps)
    out["setup_s"] = time.perf_counter() - t0

    def full() -> Any:
        return simulate_path(pop, path, market=MARKET, regime=REGIME, venue=VENUE)

    res = full()
    times = timeit(full, args.repeats)
    scale = (args.accounts * args.steps) / (args.naive_accounts * args.naive_steps)
    out["full"] = {
        "accounts": args.accounts,
        "steps": args.steps,
        "median_s": statistics.median(times),
        "runs_s": times,
        "accounts_liquidated": res.summary["accounts_liquidated"],
        "liquidated_notional": res.summary["liquidated_notional"],
        "adl_events": res.summary["adl_events"],
        "bad_debt": res.summary["bad_debt"],
        "overshoot": res.summary["overshoot"],
        "rounds": float(res.steps["rounds"].sum()),
        "naive_extrapolated_s": t_naive_s * scale,
        "speedup_vs_naive": t_naive_s * scale / statistics.median(times),
    }
    print("full case:", json.dumps({k: v for k, v in out["full"].items() if k != "runs_s"}))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
