"""Cross-margin evaluation cost per position against the number of positions (issue 17).

Run: ``.venv/bin/python bench/bench_cross_eval.py [--repeats 7]``.  One thread (plain Python
margin engine).  Accounts of 10, 100, 300 and 1,000 cross positions on Binance USDⓈ-M (BTCUSDT
and ETHUSDT on the built-in brackets, the others on a fixed 0.5 % rate), medians of ``--repeats``
evaluations; the bar is a 1,000-position account within 2x the per-position cost of a
10-position one.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from levguard.margin import evaluate_account


def account(n: int, seed: int = 7) -> dict[str, object]:
    """A cross account of ``n`` positions with random sides, sizes and marks."""
    rng = np.random.default_rng(seed)
    positions = []
    for i in range(n):
        symbol = ("BTCUSDT", "ETHUSDT")[i % 2] if i < 2 else f"ALT{i}USDT"
        entry = float(rng.uniform(10, 1000)) * (60 if i % 2 == 0 else 3)
        position: dict[str, object] = {
            "symbol": symbol,
            "qty": float(rng.choice([-1, 1]) * rng.uniform(0.01, 0.5)),
            "entry_price": entry,
            "mark_price": entry * float(rng.uniform(0.97, 1.03)),
        }
        if i >= 2:
            position["mmr"] = 0.005
        positions.append(position)
    return {"venue": "binance-usdm", "wallet_balance": 1e6, "positions": positions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    per: dict[int, float] = {}
    for n in (10, 100, 300, 1000):
        spec = account(n)
        evaluate_account(spec)
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            evaluate_account(spec)
            times.append(time.perf_counter() - started)
        per[n] = statistics.median(times) / n
        print(f"{n:5d} positions: {statistics.median(times) * 1e3:8.2f} ms, {per[n] * 1e6:6.1f} us a position")
    print(f"1,000 against 10 positions, per position: {per[1000] / per[10]:.2f}x (bar: at most 2x)")


if __name__ == "__main__":
    main()
