"""The cross layout's compiled kernel against its plain-Python twin (``COMPILED_FROM``).

Run: ``.venv/bin/python bench/bench_cross_layout.py [--repeats 7]``.  One thread
(``NUMBA_NUM_THREADS=1``).  For Binance USD-M cross accounts of 1 to 32 positions (two-tier
tables given in the spec), :meth:`levguard.core.margin_cross.CrossLayout.evaluate` with
``compiled=True`` (the numba kernel) and ``compiled=False`` (its Python twin), alternating in one
process after a warm-up call: medians of ``--repeats`` batches of 200 evaluations, per evaluation.
Then, in fresh processes (alternating, medians), the first evaluation of a one-position account
each way: what the first guardian cycle after a restart pays (numba's import and the cached
machine code's load, or neither).  The reports are checked equal.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from _util import cpu_model
from levguard.core.margin_cross import COMPILED_FROM, CrossLayout
from levguard.core.spec import account_from_spec
from levguard.core.tiers import TierTable

SIZES = (1, 2, 4, 8, 16, 32)
BATCH = 200

FIRST_CALL = """
import sys, time
from levguard.core.margin_cross import CrossLayout
from levguard.core.spec import account_from_spec
spec = {"venue": "binance-usdm", "margin_mode": "cross", "wallet_balance": 1e5,
        "positions": [{"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60000.0, "mark_price": 59000.0}]}
layout = CrossLayout.of(account_from_spec(spec))
started = time.perf_counter()
layout.evaluate(1e5, [0.1], [60000.0], [59000.0], compiled=sys.argv[1] == "kernel")
print(time.perf_counter() - started)
"""


def spec(n: int) -> dict[str, object]:
    """A cross account of ``n`` positions on their own two-tier tables, longs and shorts."""
    rows = [
        {"notional_floor": 0, "notional_cap": 50_000, "mmr": 0.004, "max_leverage": 125},
        {"notional_floor": 50_000, "notional_cap": 1e9, "mmr": 0.01, "max_leverage": 20},
    ]
    symbols = [f"C{i}USDT" for i in range(n)]
    positions = [
        {"symbol": s, "qty": (1.0 if i % 2 else -1.0) * 10.0, "entry_price": 100.0 + i, "mark_price": 101.0 + i}
        for i, s in enumerate(symbols)
    ]
    tiers = {s: TierTable.from_rows(rows) for s in symbols}
    return {
        "venue": "binance-usdm",
        "margin_mode": "cross",
        "wallet_balance": 1e6,
        "tiers": tiers,
        "positions": positions,
    }


def per_call(layout: CrossLayout, args: tuple[float, list[float], list[float], list[float]], compiled: bool) -> float:
    started = time.perf_counter()
    for _ in range(BATCH):
        layout.evaluate(*args, compiled=compiled)
    return (time.perf_counter() - started) / BATCH


def first_call(way: str) -> float:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", FIRST_CALL, way], check=True, capture_output=True, text=True, env=env)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"# {cpu_model()}, Python {platform.python_version()}, one thread, medians of {args.repeats}")
    print(f"# COMPILED_FROM = {COMPILED_FROM}: the default below it is the twin, from it the kernel")
    print("positions   kernel    twin   twin/kernel")
    for n in SIZES:
        account = account_from_spec(spec(n))
        layout = CrossLayout.of(account)
        if layout is None:
            raise SystemExit(f"no cross layout for {n} positions")
        ps = account.positions
        call = (account.wallet_balance, [p.qty for p in ps], [p.entry_price for p in ps], [p.mark_price for p in ps])
        if layout.evaluate(*call, compiled=True) != layout.evaluate(*call, compiled=False):
            raise SystemExit(f"the kernel and the twin disagree on {n} positions")
        kernel, twin = [], []
        for _ in range(args.repeats):
            kernel.append(per_call(layout, call, True))
            twin.append(per_call(layout, call, False))
        k, t = statistics.median(kernel), statistics.median(twin)
        print(f"{n:9d} {k * 1e6:7.1f} us {t * 1e6:6.1f} us {t / k:8.1f}x")
    first_call("kernel"), first_call("twin")  # page cache
    firsts: dict[str, list[float]] = {"kernel": [], "twin": []}
    for _ in range(args.repeats):
        for way in firsts:
            firsts[way].append(first_call(way))
    k, t = statistics.median(firsts["kernel"]), statistics.median(firsts["twin"])
    print(f"first evaluation in a fresh process (1 position): kernel {k:.3f} s, twin {t * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
