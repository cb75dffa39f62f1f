"""The store's JSON conversion of one guardian cycle's snapshots: ``jsonable`` against its baseline.

Run: ``.venv/bin/python bench/bench_store_json.py [--accounts 100] [--positions 10] [--repeats 21]``.

Workload: the snapshots one guardian cycle hands its background writer for ``--accounts``
accounts of ``--positions`` positions each, with the figures and per-position fields
``Guardian.cycle_account`` writes (floats, strings, None, an infinite leverage).  Side by side in
the same run, medians of ``--repeats`` conversions of the whole cycle:

- ``levguard.live.store_engine.jsonable`` (the store's conversion);
- the baseline: the recursive definition it replaced, which formats every element's path on the
  way down (``reference`` in tests/live/store/test_jsonable.py, loaded from there).

Pure Python on one thread, both sides (no numba or BLAS involved).  Both sides must give the same
documents; the run stops if they do not.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from typing import Any

from _util import cpu_model, load_test_module
from levguard.live.store_engine import jsonable


def _cycle(accounts: int, positions: int) -> list[dict[str, Any]]:
    # One cycle's snapshot figures, shaped as Guardian.cycle_account writes them.
    out = []
    for a in range(accounts):
        views = [
            {
                "symbol": f"S{p}USDT",
                "qty": 0.5 + p,
                "mark": 60_000.0 + a + p,
                "liquidation_price": 50_000.0 + p,
                "venue_liquidation_price": None,
                "margin_ratio": 0.1 + p / 100,
                "distance": 0.17,
                "p_liq": 0.004,
                "state": "OK",
                "leverage": math.inf if p == 0 and a % 10 == 0 else 3.0,
                "target_leverage": 3.0,
                "binding_constraint": "fixed target",
                "forecast_source": "gbm",
                "action": None,
            }
            for p in range(positions)
        ]
        out.append({"equity": 10_000.0 + a, "wallet_balance": 10_000.0, "margin_ratio": 0.12, "positions": views})
    return out


def _median_ms(fn: Any, figures: list[dict[str, Any]], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for f in figures:
            fn(f, "figures")
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--positions", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    reference = load_test_module("live/store/test_jsonable.py").reference
    figures = _cycle(args.accounts, args.positions)
    for f in figures:  # same documents on both sides
        if json.dumps(jsonable(f, "figures"), sort_keys=True) != json.dumps(reference(f, "figures"), sort_keys=True):
            raise SystemExit("jsonable and the baseline disagree")
    ours = _median_ms(jsonable, figures, args.repeats)
    base = _median_ms(reference, figures, args.repeats)
    print(
        json.dumps(
            {
                "machine": cpu_model(),
                "python": platform.python_version(),
                "threads": 1,
                "accounts": args.accounts,
                "positions": args.positions,
                "repeats": args.repeats,
                "jsonable_ms_per_cycle": round(ours, 3),
                "baseline_ms_per_cycle": round(base, 3),
                "speedup": round(base / ours, 2),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
