"""Dask that pays: a sweep and a cascade Monte Carlo on 1 and 2 worker processes against in-process (issue 17).

Run: ``.venv/bin/python bench/bench_dask.py [--repeats 3] [--paths 1000] [--accounts 20000]
[--steps 1440] [--data PATH | --synthetic] [--dask-malloc] [--json out.json]``.

Workloads:

1. **Sweep of 1,000 SMA-crossover configurations** (fast 5, 10, ..., 50 x slow 60, 65, ..., 555;
   long when ``SMA_fast > SMA_slow``, flat otherwise; leverage 1; fee 5 bp; trades only when the
   side changes: bench/bench_backtest.py's grid) on Binance BTCUSDT perpetual 1h bars from
   ``../shared/data/ohlcv/BTCUSDT-PERP_1h.csv`` when present (synthetic GBM at 80 % vol, 5 years,
   otherwise or with ``--synthetic``).  The strategies are objects (``SmaCrossover`` below), so
   their signals are computed where the configuration runs: in this process, or on the workers.
2. **Cascade Monte Carlo** of ``--paths`` Merton jump-diffusion paths of ``--steps`` one-minute
   steps over ``population_from_distribution(--accounts)`` (linear depth, resilience, insurance
   fund, ADL), paths regenerated from ``(seed, k)`` on the workers.

Each runs in four modes: in this process with numba on 1 thread and on 2 threads
(``numba.set_num_threads``; numba's pool has ``NUMBA_NUM_THREADS`` = every core), and through a
real ``dask scheduler`` on 127.0.0.1 with one ``dask worker`` process and, on a second scheduler,
with two (each ``--nthreads 1 --nworkers 1``; the scheduler and worker programs of this venv).
Both clusters are started before timing, every worker is warmed up (a small sweep and Monte
Carlo run there, so numba's kernels are loaded from its on-disk cache), and each mode has one
untimed call whose result must equal the in-process one exactly.  The workers' nannies are told
not to set ``MALLOC_TRIM_THRESHOLD_`` (dask sets 65536 by default, which turns off glibc's
adaptive mmap threshold and costs the sweep ~40 % per core; ``--dask-malloc`` keeps dask's
default, levguard's ``scheduler="local"`` cluster does the same as the default here).  On a worker a task's kernel
runs on one numba thread (``levguard.parallel.worker_numba_threads``).  The timed calls run in
``--repeats`` interleaved rounds (one call of each mode per round), so a change in the load of
the machine hits every mode alike; reported are the medians per mode, the ratios of medians and
the ratios within each round, and the load average before and after each workload.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model
from _vbt_sma import config_grid, gapless_open, gbm_close, parse_windows
from levguard.backtest.sweeps import sweep
from levguard.cascade import MarginRegime, Market, VenueSettings, monte_carlo, population_from_distribution
from levguard.parallel import ProcessCluster

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data" / "ohlcv" / "BTCUSDT-PERP_1h.csv"
DASK = Path(sys.executable).with_name("dask")
FEE = 0.0005


@dataclass(frozen=True)
class SmaCrossover:
    """Long when the simple moving average of ``fast`` closes is above that of ``slow``, flat
    otherwise (bench/_vbt_sma.py's ``sma_state`` as a strategy object)."""

    fast: int
    slow: int
    name: str = "sma"

    def signal(self, frame: pd.DataFrame) -> np.ndarray:
        close = frame["close"].to_numpy(dtype=np.float64)
        c = np.concatenate(([0.0], np.cumsum(close)))
        fast = np.full(close.shape[0], np.nan)
        slow = np.full(close.shape[0], np.nan)
        fast[self.fast - 1 :] = (c[self.fast :] - c[: -self.fast]) / self.fast
        slow[self.slow - 1 :] = (c[self.slow :] - c[: -self.slow]) / self.slow
        with np.errstate(invalid="ignore"):
            return (fast > slow).astype(np.float64)


def _frame(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    path = Path(args.data) if args.data else DATA
    if not args.synthetic and path.exists():
        from levguard.data import load_ohlcv

        frame = load_ohlcv(path, symbol="BTCUSDT")
        return frame[["open", "high", "low", "close", "volume"]], str(path)
    close = gbm_close(5 * 8760, seed=0)
    idx = pd.date_range("2020-01-01", periods=close.shape[0], freq="1h", tz="UTC")
    open_ = gapless_open(close)
    frame = pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close), "close": close},
        index=idx,
    )
    frame["volume"] = 1e4
    frame.attrs["symbol"] = "BTCUSDT"
    return frame, "synthetic GBM, 80 % vol, 5 years of 1h bars, seed 0"


def _mc_setup(args: argparse.Namespace) -> dict[str, Any]:
    spec = {
        "model": "jump",
        "s0": 60_000.0,
        "sigma": 0.8,
        "n_steps": args.steps,
        "dt_years": 1.0 / 525_600.0,
        "seed": 7,
        "lam": 2_000.0,
        "jump_mean": -0.02,
        "jump_std": 0.03,
    }
    pop = population_from_distribution(args.accounts, price=60_000.0, seed=1, total_notional=1e10 * args.accounts / 1e6)
    return {
        "population": pop,
        "paths": spec,
        "n_paths": args.paths,
        "market": Market(depth=5e6 * args.accounts / 1e6, half_life_steps=30.0),
        "regime": MarginRegime(mmr=0.005),
        "venue": VenueSettings(insurance_fund=5e7 * args.accounts / 1e6, adl=True),
        "chunk_size": 16,
    }


def _warm() -> str:
    """Run on a worker before timing: a small sweep and Monte Carlo in the worker's process, so
    numba's compiled kernels are loaded there (from the on-disk cache when it is filled)."""
    close = 30_000.0 * np.exp(np.cumsum(np.random.default_rng(3).normal(0.0, 0.01, 2000)))
    idx = pd.date_range("2020-01-01", periods=close.shape[0], freq="1h", tz="UTC")
    frame = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=idx)
    sweep(frame, {"s": SmaCrossover(5, 60)}, 1.0, rebalance="never", fees=FEE)
    pop = population_from_distribution(200, price=60_000.0, seed=1)
    spec = {"model": "jump", "s0": 6e4, "sigma": 0.8, "n_steps": 50, "dt_years": 1 / 525_600, "seed": 1}
    spec |= {"lam": 200.0, "jump_mean": -0.02, "jump_std": 0.03}
    monte_carlo(pop, spec, 4, market=Market(depth=1e3, half_life_steps=30.0), venue=VenueSettings(adl=True))
    return os.environ.get("NUMBA_NUM_THREADS", "unset")


def _loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fast", default="5:55:5")
    ap.add_argument("--slow", default="60:560:5")
    ap.add_argument("--data", default=None, help=f"bars CSV/Parquet (default {DATA})")
    ap.add_argument("--synthetic", action="store_true", help="synthetic GBM bars even when the data file exists")
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--steps", type=int, default=1440)
    ap.add_argument("--chunk-size", type=int, default=128, help="sweep chunk_size (bench_backtest.py's)")
    ap.add_argument(
        "--dask-malloc",
        action="store_true",
        help="keep the nanny's MALLOC_TRIM_THRESHOLD_=65536 in the workers (dask's default)",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not DASK.exists():
        print(f"the dask command-line program is missing ({DASK})", file=sys.stderr)
        return 1
    from levguard.kernels import load_numba

    numba = load_numba()
    from distributed import Client

    POOL = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]

    frame, source = _frame(args)
    fast, slow = config_grid(parse_windows(args.fast), parse_windows(args.slow))
    strategies = {f"sma_{f}_{s}": SmaCrossover(int(f), int(s)) for f, s in zip(fast, slow, strict=True)}
    mc = _mc_setup(args)
    out: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numba_pool_threads": POOL,
        "data": source,
        "bars": len(frame),
        "configs": len(strategies),
        "mc": {"paths": args.paths, "accounts": args.accounts, "steps": args.steps},
        "loadavg_start": _loadavg(),
    }

    def run_sweep(scheduler: object = None) -> pd.DataFrame:
        return sweep(
            frame, strategies, 1.0, rebalance="never", fees=FEE, chunk_size=args.chunk_size, scheduler=scheduler
        )

    def run_mc(scheduler: object = None) -> pd.DataFrame:
        table: pd.DataFrame = monte_carlo(**mc, scheduler=scheduler).paths
        return table

    reference: dict[str, pd.DataFrame] = {}

    def check(name: str, got: pd.DataFrame) -> bool:
        # The first in-process result is the reference; every other must equal it exactly.
        pd.testing.assert_frame_equal(got, reference.setdefault(name, got), check_exact=True)
        return True

    modes = ["in_process_1_thread", "in_process_2_thread", "1_worker", "2_worker"]
    times: dict[str, dict[str, list[float]]] = {w: {m: [] for m in modes} for w in ("sweep", "monte_carlo")}
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clusters: dict[str, ProcessCluster] = {}
        clients: dict[str, Any] = {}
        try:
            for n in (1, 2):
                (tmp / str(n)).mkdir()
                # Without adaptive_malloc, dask's nanny gives its workers MALLOC_TRIM_THRESHOLD_=65536.
                clusters[f"{n}_worker"] = ProcessCluster(
                    tmp / str(n), n, threads=1, adaptive_malloc=not args.dask_malloc
                ).start()
            for n in (1, 2):
                mode = f"{n}_worker"
                client = Client(clusters[mode].address, timeout="30s")  # type: ignore[no-untyped-call]
                clients[mode] = client
                client.wait_for_workers(n, timeout=120)
                t0 = time.perf_counter()
                # Warm up every worker (numba kernels loaded there) before anything is timed.
                warm = [client.submit(_warm, workers=[w], pure=False) for w in client.nthreads()]  # type: ignore[no-untyped-call]
                client.gather(warm)  # type: ignore[no-untyped-call]
                extra[f"warmup_{mode}_s"] = time.perf_counter() - t0
                trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset"))
                extra[f"workers_malloc_trim_threshold_{mode}"] = sorted(set(trim.values()))

            def call(name: str, mode: str) -> pd.DataFrame:
                fn = run_sweep if name == "sweep" else run_mc
                if mode.startswith("in_process"):
                    numba.set_num_threads(int(mode.split("_")[2]))
                    try:
                        return fn()
                    finally:
                        numba.set_num_threads(POOL)
                return fn(clients[mode])

            for name in ("sweep", "monte_carlo"):
                extra[f"loadavg_before_{name}"] = _loadavg()
                for mode in modes:  # untimed first calls, checked against the reference
                    t0 = time.perf_counter()
                    check(name, call(name, mode))
                    extra[f"first_call_{name}_{mode}_s"] = time.perf_counter() - t0
                # Interleaved rounds: a change in the machine's load hits every mode alike.
                for _ in range(args.repeats):
                    for mode in modes:
                        t0 = time.perf_counter()
                        call(name, mode)
                        times[name][mode].append(time.perf_counter() - t0)
                extra[f"loadavg_after_{name}"] = _loadavg()
                print(name, {m: round(statistics.median(v), 3) for m, v in times[name].items()}, _loadavg())
        finally:
            for client in clients.values():
                client.close()
            for cluster in clusters.values():
                cluster.close()
    results: dict[str, dict[str, Any]] = {}
    for name, by_mode in times.items():
        r: dict[str, Any] = {m: {"median_s": statistics.median(v), "runs_s": v} for m, v in by_mode.items()}
        med = {m: r[m]["median_s"] for m in modes}
        r["speedup_2_vs_1_worker"] = med["1_worker"] / med["2_worker"]
        r["speedup_2_workers_vs_in_process_2_threads"] = med["in_process_2_thread"] / med["2_worker"]
        r["speedup_in_process_2_vs_1_thread"] = med["in_process_1_thread"] / med["in_process_2_thread"]
        # The same ratios within each round (robust to load changing between rounds).
        rounds = list(zip(*(by_mode[m] for m in modes), strict=True))
        r["round_ratios_2_vs_1_worker"] = [t[2] / t[3] for t in rounds]
        r["round_ratios_2_workers_vs_in_process_2_threads"] = [t[1] / t[3] for t in rounds]
        results[name] = r
        print(
            f"{name}: 2 workers {r['speedup_2_vs_1_worker']:.2f}x 1 worker; "
            f"{r['speedup_2_workers_vs_in_process_2_threads']:.2f}x in process on 2 threads "
            f"(in process: 2 threads {r['speedup_in_process_2_vs_1_thread']:.2f}x 1 thread)"
        )
    out.update(extra)
    out.update(results)
    out["loadavg_end"] = _loadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
