"""Evaluation time of a unified account against the single-wallet cross account (issue 18).

Run: ``.venv/bin/python bench/bench_unified.py [--positions 200] [--repeats 300]``.  One thread.
The same ``--positions`` linear USDT perpetuals (a fixed 0.5 % maintenance rate) evaluated as a
unified account on each venue (``binance-pm``, ``bybit-uta``, ``okx-mcm``) holding 20 collateral
assets (USDT, USDC and 18 coins with tiered haircuts) and, side by side, as a ``binance-usdm``
cross account with a USDT wallet (the baseline).  Medians of ``--repeats`` calls after warm-up:

- ``evaluate_unified`` of the parsed account (the one-kernel path, :mod:`levguard.core.unified_fast`)
  against the Python path it replaces (``_evaluate_python``) and the cross account's
  ``evaluate_cross``: the issue's bar, under 1 ms for 200 positions and 20 collateral assets;
- ``levguard.evaluate_account`` of the spec (parsing and the report checks included), unified
  against cross.

The coins' prices and haircut tiers below are BENCH DATA: made up (plausible shapes: ratios
falling by tier, floors in coins on Bybit and OKX, in USD on Binance), not any venue's schedule.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from levguard.core.margin_cross import evaluate_cross
from levguard.core.spec import account_from_spec
from levguard.core.unified import _evaluate_python, evaluate_unified, unified_account_from_spec
from levguard.margin import evaluate_account

# BENCH DATA (made up): coin -> USD price.  With USDT and USDC, 20 collateral assets.
BENCH_PRICES: dict[str, float] = {
    "BTC": 60_000.0,
    "ETH": 3_000.0,
    "SOL": 150.0,
    "XRP": 0.6,
    "BNB": 600.0,
    "DOGE": 0.15,
    "ADA": 0.45,
    "AVAX": 35.0,
    "LINK": 15.0,
    "DOT": 7.0,
    "LTC": 80.0,
    "TRX": 0.12,
    "TON": 5.5,
    "ATOM": 9.0,
    "UNI": 8.0,
    "FIL": 5.0,
    "APT": 9.0,
    "ARB": 1.1,
}
# BENCH DATA (made up): haircut tiers by USD value of the holding (converted to coins for the venues
# whose tiers count coins): full ratio to 10,000 USD, then lower, the rest above 300,000 USD at 0.
BENCH_TIERS_USD = ((0.0, 0.95), (10_000.0, 0.9), (50_000.0, 0.8), (150_000.0, 0.5))
BENCH_TIERS_CAP_USD = 300_000.0


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


def unified_spec(venue: str, n: int) -> dict[str, Any]:
    """A unified account on ``venue``: ``n`` positions, 20 collateral assets (bench data).

    Each coin holds between 5,000 and 200,000 USD, so the holdings cross the tiers.
    """
    qty_basis = venue != "binance-pm"
    balances: dict[str, float] = {"USDT": 3e5, "USDC": 5e4}
    ratios: dict[str, Any] = {"USDC": 1.0}  # not in the Bybit and OKX example tables
    for i, (coin, price) in enumerate(BENCH_PRICES.items()):
        balances[coin] = (5_000.0 + 195_000.0 * i / (len(BENCH_PRICES) - 1)) / price
        unit = price if qty_basis else 1.0  # tier floors in coins (Bybit, OKX) or USD (Binance)
        bounds = [f / unit for f, _ in BENCH_TIERS_USD] + [BENCH_TIERS_CAP_USD / unit]
        ratios[coin] = [
            {"floor": bounds[k], "cap": bounds[k + 1], "ratio": r} for k, (_, r) in enumerate(BENCH_TIERS_USD)
        ]
    return {
        "venue": venue,
        "balances": balances,
        "prices": BENCH_PRICES,
        "collateral_ratios": ratios,
        "positions": positions(n),
    }


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    n, repeats = args.positions, args.repeats
    cross_spec = {"venue": "binance-usdm", "wallet_balance": 3e5, "positions": positions(n)}
    cross = account_from_spec(cross_spec)
    c_eval = median_ms(lambda: evaluate_cross(cross), repeats)
    c_account = median_ms(lambda: evaluate_account(cross_spec), max(repeats // 10, 7))
    print(f"{n} positions, one thread, load average {os.getloadavg()[0]:.2f}")
    print(f"  binance-usdm cross (USDT wallet): evaluate_cross {c_eval:.3f} ms, evaluate_account {c_account:.2f} ms")
    for venue in ("binance-pm", "bybit-uta", "okx-mcm"):
        spec = unified_spec(venue, n)
        ua = unified_account_from_spec(spec)
        fast = median_ms(partial(evaluate_unified, ua), repeats)
        python = median_ms(partial(_evaluate_python, ua), max(repeats // 10, 7))
        account = median_ms(partial(evaluate_account, spec), max(repeats // 10, 7))
        print(
            f"  {venue} ({len(ua.assets)} collateral assets): evaluate_unified {fast:.3f} ms "
            f"(Python path {python:.2f} ms, {python / fast:.1f}x; {fast / c_eval:.2f}x the cross kernel), "
            f"evaluate_account {account:.2f} ms; bar: 1 ms"
        )


if __name__ == "__main__":
    main()
