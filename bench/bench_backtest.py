"""Backtester throughput, and a side-by-side SMA-crossover sweep against vectorbt (issue 6).

Run: ``.venv/bin/python bench/bench_backtest.py [--data auto|synthetic] [--years 5] [--repeats 5]
[--fast 5:55:5] [--slow 60:560:5] [--threads 1,2] [--sweep-only] [--no-vectorbt] [--json out.json]``.
``--sweep-only`` skips workload 1; with ``--no-vectorbt`` too, only levguard's sweeps run.  The
sweeps run on numba's thread pool at each ``--threads`` count; vectorbt on one thread.

Data: with ``--data auto`` (the default) the real Binance BTCUSDT perpetual's hourly bars from
``../shared/data/ohlcv/BTCUSDT-PERP_1h.csv`` when that folder is present (its mark-price bars and
8-hourly funding for the full-model sweep), else ``--years`` of synthetic GBM at 80 % vol, seed 0.

Workloads:

1. **Single configuration** through the public API :func:`levguard.backtest.engine.run`: an
   EMA-crossover long/short strategy sized by a 60 % volatility target on Binance BTCUSDT's
   tiered brackets, with mark prices, 8-hourly funding, taker fee, slippage and impact,
   intrabar liquidation and the initial-margin check; and the kernel call alone.
2. **1,000-configuration sweep** (``levguard.backtest.sweeps.sweep``): every SMA pair
   ``fast < slow`` from ``--fast`` x ``--slow`` (10 x 100 = 1,000 by default), long when ``SMA_fast > SMA_slow``, flat
   otherwise, leverage 1, fee 5 bp, trades only when the side changes; run twice: without
   funding and with mark prices, funding and tiers (the full model, which vectorbt lacks).  The
   timing includes building the signals (one moving average per distinct window, as vectorbt's
   ``MA.run`` does) and runs on each ``--threads`` count (``numba.set_num_threads``).
3. **vectorbt** (``bench/_vbt_sma.py`` in its own venv ``bench/.venv-vbt``, subprocess, same
   closes and opens saved to .npy): ``Portfolio.from_signals`` on the identical signals, filled
   at the next open with the same fee.  Its first five configurations' returns re-booked with a
   perpetual's accounting must equal levguard's (printed as a parity check).

Medians of ``--repeats`` timed runs after a warm-up call that pays JIT compilation (its time is
reported as "first call").  Throughput is bar-steps per second: bars x configurations / wall.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, timeit
from _vbt_sma import config_grid, gapless_open, gbm_close, parse_windows
from levguard.backtest.engine import prepare, run, simulate
from levguard.backtest.strategies import EmaCrossover
from levguard.backtest.sweeps import sweep
from levguard.core.sizing.policies import VolatilityTarget
from levguard.kernels import load_numba

numba = load_numba()  # numba's TBB threading layer (kernels._jit._preload_tbb)

ROOT = Path(__file__).resolve().parent
VBT_PYTHON = ROOT / ".venv-vbt" / "bin" / "python"
FEE = 0.0005


def _frame(close: np.ndarray, full: bool, seed: int = 1) -> pd.DataFrame:
    """Bars with gapless opens; wicks from a second stream; optional mark and 8-hourly funding."""
    rng = np.random.default_rng(seed)
    open_ = gapless_open(close)
    wick = np.abs(rng.normal(0.0, 0.003, (2, close.shape[0])))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    idx = pd.date_range("2020-01-01", periods=close.shape[0], freq="1h", tz="UTC")
    df = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1e4}, index=idx)
    if full:
        basis = 1.0 + rng.normal(0.0, 2e-4, close.shape[0])
        for c in ("open", "high", "low", "close"):
            df[f"mark_{c}"] = df[c] * basis
        df["mark_high"] = df[["mark_open", "mark_high", "mark_close"]].max(axis=1)
        df["mark_low"] = df[["mark_open", "mark_low", "mark_close"]].min(axis=1)
        funding = np.full(close.shape[0], np.nan)
        funding[::8] = rng.normal(1e-4, 1e-4, funding[::8].shape[0])
        df["funding_rate"] = funding
    df.attrs["symbol"] = "BTCUSDT"
    return df


SHARED = ROOT.parent.parent / "shared" / "data"


def _real_frames() -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The real BTCUSDT perpetual's hourly bars (lean) and with mark bars and funding (full)."""
    from levguard.data.loaders import load_funding, load_ohlcv

    perp = SHARED / "ohlcv" / "BTCUSDT-PERP_1h.csv"
    if not perp.exists():
        return None
    lean = load_ohlcv(perp)
    lean = lean[lean["volume"] > 0.0]
    mark = load_ohlcv(SHARED / "ohlcv" / "BTCUSDT-MARK_1h.csv")
    funding = load_funding(SHARED / "funding" / "BTCUSDT_funding.csv")
    rate = funding.iloc[:, 0] if isinstance(funding, pd.DataFrame) else funding
    full = lean.copy()
    for c in ("open", "high", "low", "close"):
        full[f"mark_{c}"] = mark[c].reindex(full.index).to_numpy()
    full["funding_rate"] = rate.reindex(full.index).to_numpy()
    full = full.dropna(subset=["mark_open", "mark_high", "mark_low", "mark_close"])
    lean = lean.loc[full.index]
    for df in (lean, full):
        df.attrs["symbol"] = "BTCUSDT"
    return lean, full


def sma_states(close: np.ndarray, fast: np.ndarray, slow: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`_vbt_sma.sma_state` of every pair, each distinct window's average computed once."""
    c = np.concatenate(([0.0], np.cumsum(close)))
    sma = {}
    for w in np.union1d(fast, slow):
        w = int(w)
        out = np.full(close.shape[0], np.nan)
        out[w - 1 :] = (c[w:] - c[:-w]) / w
        sma[w] = out
    with np.errstate(invalid="ignore"):
        return {f"sma_{f}_{s}": (sma[int(f)] > sma[int(s)]).astype(np.float64) for f, s in zip(fast, slow, strict=True)}


def _single(df: pd.DataFrame, repeats: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"slippage": (1.0, 0.05), "margin_mode": "cross"}
    strategy = EmaCrossover(fast=24, slow=168)
    policy = VolatilityTarget(target_vol=0.6, max_leverage=5.0)
    t0 = time.perf_counter()
    res = run(df, strategy, policy, **kwargs)
    first = time.perf_counter() - t0
    api = timeit(lambda: run(df, strategy, policy, **kwargs), repeats)
    prep = prepare(df, strategy, policy, **kwargs)
    kernel = timeit(lambda: simulate(prep), repeats)
    n = len(df)
    return {
        "bars": n,
        "first_call_s": first,
        "api_median_s": statistics.median(api),
        "simulate_median_s": statistics.median(kernel),
        "api_bar_steps_per_s": n / statistics.median(api),
        "simulate_bar_steps_per_s": n / statistics.median(kernel),
        "total_return": res.metrics["total_return"],
        "n_trades": len(res.trades),
        "n_liquidations": int(res.metrics["n_liquidations"]),
    }


def _sweep(df: pd.DataFrame, fast: np.ndarray, slow: np.ndarray, repeats: int, threads: int) -> dict[str, Any]:
    close = df["close"].to_numpy()
    numba.set_num_threads(threads)

    def go() -> pd.DataFrame:
        strategies = sma_states(close, fast, slow)
        return sweep(df, strategies, 1.0, rebalance="never", fees=FEE, chunk_size=128)

    t0 = time.perf_counter()
    table = go()
    first = time.perf_counter() - t0
    times = timeit(go, repeats)
    t0 = time.perf_counter()
    for _ in range(repeats):
        sma_states(close, fast, slow)
    signals = (time.perf_counter() - t0) / repeats
    steps = len(df) * len(fast)
    return {
        "configs": len(fast),
        "threads": threads,
        "first_call_s": first,
        "median_s": statistics.median(times),
        "signals_s": signals,
        "runs_s": times,
        "bar_steps_per_s": steps / statistics.median(times),
        "total_return_sample": table["total_return"].to_numpy()[:5].tolist(),
        "liquidations": int(table["n_liquidations"].sum()),
    }


def _vectorbt(close: np.ndarray, open_: np.ndarray, fast: str, slow: str, repeats: int) -> dict[str, Any] | None:
    if not VBT_PYTHON.exists():
        print(f"vectorbt venv missing ({VBT_PYTHON}); see bench/_vbt_sma.py for the recipe", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "close.npy"
        np.save(path, close)
        opens = Path(tmp) / "open.npy"
        np.save(opens, open_)
        out = Path(tmp) / "vbt.json"
        cmd = [
            str(VBT_PYTHON),
            str(ROOT / "_vbt_sma.py"),
            "--close-npy",
            str(path),
            "--open-npy",
            str(opens),
            "--fast",
            fast,
            "--slow",
            slow,
            "--fee",
            str(FEE),
            "--repeats",
            str(repeats),
            "--fill",
            "next_open",
            "--json",
            str(out),
        ]
        env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=["auto", "synthetic"], default="auto", help="real BTCUSDT when present")
    ap.add_argument("--years", type=float, default=5.0, help="synthetic data: years of hourly bars")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fast", default="5:55:5", help="fast SMA windows (list or start:stop:step)")
    ap.add_argument("--slow", default="60:560:5", help="slow SMA windows; default 10 x 100 = 1,000 pairs")
    ap.add_argument("--threads", default="1,2", help="numba threads of the levguard sweeps (comma list)")
    ap.add_argument("--sweep-only", action="store_true", help="skip the single-configuration workload")
    ap.add_argument("--no-vectorbt", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    real = _real_frames() if args.data == "auto" else None
    if real is not None:
        lean, full = real
        source = f"Binance BTCUSDT perpetual 1h, {lean.index[0]:%Y-%m-%d} to {lean.index[-1]:%Y-%m-%d} (../shared/data)"
    else:
        n = int(args.years * 8760)
        close = gbm_close(n, seed=0)
        lean = _frame(close, full=False)
        full = _frame(close, full=True)
        source = "synthetic GBM, 80 % vol, seed 0"
    fast, slow = config_grid(parse_windows(args.fast), parse_windows(args.slow))
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    out: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "data": source,
        "bars": len(lean),
        "load_average_start": os.getloadavg()[0],
    }
    print(f"data: {source}, {len(lean):,} bars; {len(fast):,} configurations")
    if not args.sweep_only:
        out["single"] = _single(full, args.repeats)
        print("single configuration:", json.dumps(out["single"], indent=1))
    out["sweeps"] = []
    for th in threads:
        for label, df in (("lean", lean), ("full", full)):
            row = _sweep(df, fast, slow, args.repeats, th)
            row["model"] = label
            out["sweeps"].append(row)
            print(
                f"levguard sweep ({label}, {th} thread{'s' if th > 1 else ''}): median {row['median_s']:.2f} s "
                f"(signals {row['signals_s']:.2f} s), {row['bar_steps_per_s'] / 1e6:.1f} M bar-steps/s"
            )
    if not args.no_vectorbt:
        vbt = _vectorbt(lean["close"].to_numpy(), lean["open"].to_numpy(), args.fast, args.slow, args.repeats)
        if vbt is not None:
            out["vectorbt"] = vbt
            print(
                f"vectorbt {vbt['vectorbt_version']} (1 thread): median {vbt['median_s']:.2f} s "
                f"({vbt['bar_steps_per_s'] / 1e6:.1f} M bar-steps/s)"
            )
            for row in out["sweeps"]:
                if row["model"] == "lean":
                    row["vs_vectorbt"] = vbt["median_s"] / row["median_s"]
                    parity = np.max(
                        np.abs(np.array(vbt["total_return_sample_perp"]) - np.array(row["total_return_sample"]))
                    )
                    row["parity_max_abs_diff"] = float(parity)
                    print(
                        f"  levguard on {row['threads']} thread(s) is {row['vs_vectorbt']:.2f}x vectorbt; "
                        f"parity of re-booked returns {parity:.1e}"
                    )
    out["load_average_end"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
