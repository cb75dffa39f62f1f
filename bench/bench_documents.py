"""The documents' limits (``levguard.documents.check_structure``) against a walk of every use.

Run: ``.venv/bin/python bench/bench_documents.py [--repeats 7]``.

Workloads, each a parsed document as ``load_spec`` hands it over:

- ``billion laughs``: ten levels of a list holding the level below ten times (YAML aliases),
  10**10 values by the count of every use: refused;
- ``shared tiers``: an account of 1,000 positions that all name one tier table of 20 rows (one
  YAML anchor, 1,000 aliases): accepted;
- ``wide``: an account of 10,000 positions, nothing shared: accepted.

Side by side in the same run, medians of ``--repeats`` checks: ``check_structure`` (a shared
object walked once, its count and height added at each later use) and the baseline, the plain
walk of every use with a cut-off at the value limit (``reference`` in
tests/fuzz/test_document_limits.py, loaded from there; it gives the same verdicts, which the run
checks).  Pure Python on one thread, both sides.
"""

from __future__ import annotations

import argparse
import platform
import statistics
from typing import Any

from _util import cpu_model, load_test_module, timeit
from levguard.documents import MAX_NESTING, MAX_VALUES, check_structure
from levguard.errors import InputError


def _laughs() -> Any:
    level: Any = [0] * 10
    for _ in range(10):
        level = [level] * 10
    return level


def _account(n: int, tiers: Any | None) -> dict[str, Any]:
    def tier(k: int) -> dict[str, float]:
        return {"notional_floor": 1e4 * k, "notional_cap": 1e4 * (k + 1), "mmr": 0.004 + 0.001 * k, "max_leverage": 50}

    positions = [
        {"symbol": f"S{i}USDT", "qty": 1.0 + i, "entry_price": 100.0, "mark_price": 101.0,
         "tiers": tiers if tiers is not None else [tier(k) for k in range(3)]}
        for i in range(n)
    ]  # fmt: skip
    return {"venue": "binance-usdm", "wallet_balance": 1e6, "positions": positions}


def _verdict(check: Any) -> str:
    try:
        check()
    except InputError:
        return "refused"
    return "accepted"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    reference = load_test_module("fuzz/test_document_limits.py").reference
    shared = [
        {"notional_floor": 1e4 * k, "notional_cap": 1e4 * (k + 1), "mmr": 0.004, "max_leverage": 50} for k in range(20)
    ]
    workloads = {
        "billion laughs": _laughs(),
        "shared tiers": _account(1_000, shared),
        "wide": _account(10_000, None),
    }
    print(f"{cpu_model()}; Python {platform.python_version()}; one thread; medians of {args.repeats}")
    print(f"{'workload':16s} {'verdict':9s} {'check_structure':>16s} {'walk every use':>15s} {'ratio':>7s}")
    for name, doc in workloads.items():
        ours = _verdict(lambda d=doc: check_structure(d, "doc"))
        broken = reference(doc, MAX_NESTING, MAX_VALUES)[0]
        if (ours == "refused") != bool(broken):
            raise SystemExit(f"{name}: check_structure {ours}, the baseline breaks {sorted(broken)}")
        fast = statistics.median(timeit(lambda d=doc: _verdict(lambda: check_structure(d, "doc")), args.repeats))
        slow = statistics.median(timeit(lambda d=doc: reference(d, MAX_NESTING, MAX_VALUES), args.repeats))
        print(f"{name:16s} {ours:9s} {fast * 1e3:13.3f} ms {slow * 1e3:12.3f} ms {slow / fast:6.1f}x")


if __name__ == "__main__":
    main()
