"""Evaluation time of a unified account against the single-wallet cross account (issue 18).

Run: ``.venv/bin/python bench/bench_unified.py [--positions 200] [--repeats 7]``.  One thread (the
plain-Python margin engine).  The same ``--positions`` linear USDT perpetuals (a fixed 0.5 %
maintenance rate) evaluated as a ``binance-pm`` account holding USDT and BTC collateral and,
side by side, as a ``binance-usdm`` cross account with the same USDT wallet (the baseline);
medians of ``--repeats`` calls of ``levguard.evaluate_account``.  The issue's bar: under 1 ms for
200 positions and 20 collateral assets.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from levguard.margin import evaluate_account


def positions(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` linear positions of random side and size around 60,000 and 3,000."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        entry = float((60_000, 3_000)[i % 2] * rng.uniform(0.8, 1.2))
        qty = float(rng.choice([-1, 1]) * rng.uniform(0.1, 3) * (1 if i % 2 == 0 else 20))
        mark = entry * float(rng.uniform(0.9, 1.1))
        out.append({"symbol": f"A{i}USDT", "qty": qty, "entry_price": entry, "mark_price": mark, "mmr": 0.005})
    return out


def median_ms(spec: dict[str, Any], repeats: int) -> float:
    evaluate_account(spec)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        evaluate_account(spec)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    pos = positions(args.positions)
    balances = {"USDT": 3e5, "BTC": 2.0}
    unified = {"venue": "binance-pm", "balances": balances, "prices": {"BTC": 60_000}, "positions": pos}
    cross = {"venue": "binance-usdm", "wallet_balance": 3e5, "positions": pos}
    u, c = median_ms(unified, args.repeats), median_ms(cross, args.repeats)
    print(
        f"{args.positions} positions, one thread: binance-pm {u:.2f} ms, binance-usdm cross {c:.2f} ms "
        f"({u / c:.1f}x); bar for unified: 1 ms"
    )


if __name__ == "__main__":
    main()
