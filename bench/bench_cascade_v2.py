"""Contagion simulator v2: one path of 1,000,000 accounts x 4 assets x 2 venues x 10,000 steps
on one core, and the one-asset case side by side with v1 (issue 20).

Run: ``.venv/bin/python bench/bench_cascade_v2.py [--accounts 1000000] [--steps 10000]
[--v1-accounts 1000000] [--v1-steps 10000] [--repeats 3] [--e2e-repeats 1] [--json PATH]``
(``--v1-accounts 0`` skips the side by side; small sizes smoke-test it).

Both sides on one thread: ``NUMBA_NUM_THREADS`` (and OpenMP/BLAS) pinned to 1 before any import
and ``numba.set_num_threads(1)``; the kernels are serial anyway.  Every kernel is compiled (or
loaded from numba's cache) on a tiny case before timing.  Each case runs ``--repeats`` times;
the best and the median are reported.

**Scale case** (the issue's target: within 5 s on one core).  ``random_market_population``
(seed 1): N accounts on 2 venues, each with 1..4 positions in distinct assets of 4 (BTC, ETH,
SOL, XRP-like starts 60,000 / 3,000 / 150 / 0.5), long or short with equal odds, lognormal
notional (median 5,000, sigma 1.5), v1's default retail leverage mixture.  One correlated path
of 10,000 one-minute steps (seed 7): a market factor (64 %/yr) with betas 1.0 / 1.2 / 1.5 / 0.7
and an idiosyncratic part per asset (48 %/yr; 80 %/yr in total for a beta of 1), and a 9 %
fall of the factor over 40-46 % of the path, half of it back by 70 %.  Every book linear, depth
2 M USD per basis point per 1M accounts (times 1 + asset/2), resilience half-life 30 steps;
venue 0 Binance-like (static 0.5 % maintenance, 0.5 % fee, fund 50 M USD per 1M accounts,
Binance's ADL ranking), venue 1 Hyperliquid-like (no fee, fund the same, Hyperliquid's ranking
and 20 % partial liquidation above 100 kUSD); arbitrage speed 0.3, no cap.  Timed: the kernel
(``market_cascade_nb`` on the prepared records, the number the target is about) and
``simulate_market`` end to end (inputs, kernel and the pandas tables).

**One asset, one venue, v1 side by side.**  v1's bench workload (``bench/bench_cascade.py``:
``population_from_distribution``, 10 bn USD open interest per 1M accounts, a Merton
jump-diffusion path, linear depth 5 M USD per bp, static 0.5 %, fund 50 M USD, ADL on) run by
``simulate_path`` (v1) and by ``simulate_market`` on ``MarketVenue.from_v1`` of the same
settings (v2), in the same process; both outputs are checked equal bit for bit.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # run as a script: pin the pools before numba starts them.  Imported
    # (the smoke test), the process's numba already runs: numba.set_num_threads(1) in run() pins the
    # kernels' threads, and the environment is left alone (numba re-reads NUMBA_NUM_THREADS at each
    # compile and refuses a value other than the pool it launched).
    for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import argparse
import datetime as dt
import gc
import json
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _util import cpu_model, timeit
from levguard.cascade import (
    MarginRegime,
    Market,
    VenueSettings,
    path_for,
    population_from_distribution,
    simulate_path,
)
from levguard.cascade import settings as v1_settings
from levguard.cascade.market import (
    Arbitrage,
    MarketPopulation,
    MarketResult,
    MarketSpec,
    MarketVenue,
    simulate_market,
)
from levguard.cascade.market_population import random_market_population
from levguard.cascade.market_settings import kernel_inputs
from levguard.kernels import cascade as v1_kernel
from levguard.kernels.cascade_v2 import market_cascade_nb
from levguard.kernels.cascade_v2_records import MarketCounts, MarketOutputs, new_market_outputs

S0 = np.array([60_000.0, 3_000.0, 150.0, 0.5])
BETA = np.array([1.0, 1.2, 1.5, 0.7])
ASSETS = ("BTC", "ETH", "SOL", "XRP")
MINUTES_A_YEAR = 525_600.0
TARGET_S = 5.0


# --------------------------------------------------------------------------- scale case


def scale_path(n_steps: int, n_assets: int = 4, seed: int = 7) -> np.ndarray:
    """Exogenous prices (T + 1, K): factor + idiosyncratic noise (80 %/yr in total), a 9 % sell-off
    of the factor over 40-46 % of the path, half of it recovered by 70 %."""
    rng = np.random.default_rng(seed)
    sd = 0.8 / np.sqrt(MINUTES_A_YEAR)
    f = rng.normal(0.0, 0.8 * sd, n_steps)
    lo, hi, back = int(0.40 * n_steps), max(int(0.46 * n_steps), int(0.40 * n_steps) + 1), int(0.70 * n_steps)
    f[lo:hi] += np.log(0.91) / (hi - lo)
    if back > hi:
        f[hi:back] -= 0.5 * np.log(0.91) / (back - hi)
    beta = BETA[:n_assets]
    r = f[:, None] * beta[None, :] + rng.normal(0.0, 0.6 * sd, (n_steps, n_assets))
    return S0[:n_assets][None, :] * np.exp(np.vstack([np.zeros(n_assets), np.cumsum(r, axis=0)]))


def scale_spec(n: int, n_assets: int = 4, n_venues: int = 2) -> MarketSpec:
    """Two venues (Binance-like, Hyperliquid-like) of linear books, depth and funds per 1M accounts."""
    per = n / 1_000_000
    books = [Market(depth=2e6 * per * (1.0 + 0.5 * a), half_life_steps=30.0) for a in range(n_assets)]
    kinds = [
        (MarginRegime(kind="static", mmr=0.005, liquidation_fee=0.005), "binance-usdm"),
        (
            MarginRegime(kind="static", mmr=0.005, liquidation_fee=0.0, partial=0.2, partial_min_notional=1e5),
            "hyperliquid",
        ),
    ]
    venues = []
    for v in range(n_venues):
        regime, rule = kinds[v % 2]
        venues.append(MarketVenue(f"v{v}", books, regime, None, VenueSettings(insurance_fund=5e7 * per), rule))
    return MarketSpec(list(ASSETS[:n_assets]), venues, Arbitrage(speed=0.3))


def scale_case(n: int, n_steps: int) -> tuple[MarketPopulation, np.ndarray, MarketSpec]:
    """The scale case's population, path and market."""
    pop = random_market_population(n, S0, n_venues=2, seed=1)
    return pop, scale_path(n_steps), scale_spec(n)


class KernelRun:
    """The kernel on prepared records (outputs allocated once, rewritten by every call)."""

    def __init__(self, pop: MarketPopulation, exo: np.ndarray, spec: MarketSpec) -> None:
        n_steps = exo.shape[0] - 1
        self.args = kernel_inputs(pop, spec, n_steps, MINUTES_A_YEAR, False)
        self.exo = exo
        n_pos = int(np.count_nonzero(np.asarray(pop.qty)))
        self.out = new_market_outputs(pop.n, spec.n_assets, spec.n_venues, n_steps + 1, 4 * n_pos + 1000)

    def __call__(self) -> MarketCounts:
        acc, tiers, dm, oracle, venues, books, cfg = self.args
        return market_cascade_nb(acc, tiers, self.exo, dm, oracle, venues, books, cfg, self.out)  # type: ignore[no-any-return]


def outputs_equal(a: MarketOutputs, b: MarketOutputs, ca: MarketCounts, cb: MarketCounts) -> bool:
    """Whether two runs' outputs are equal bit for bit (steps, events written, accounts, books)."""
    if ca != cb:
        return False
    for part in ("steps", "accounts", "books"):
        for x, y in zip(getattr(a, part), getattr(b, part), strict=True):
            if not np.array_equal(x, y, equal_nan=True):
                return False
    return bool(np.array_equal(a.events[: ca.events], b.events[: cb.events]))


# --------------------------------------------------------------------------- one asset vs v1

V1_MARKET = Market(depth=5e6, half_life_steps=30.0)
V1_REGIME = MarginRegime(kind="static", mmr=0.005, liquidation_fee=0.005)
V1_VENUE = VenueSettings(insurance_fund=5e7, adl=True)


def v1_case(n: int, n_steps: int) -> tuple[Any, np.ndarray]:
    """bench/bench_cascade.py's population and jump-diffusion path."""
    spec = {
        "model": "jump",
        "s0": 60_000.0,
        "sigma": 0.8,
        "n_steps": n_steps,
        "dt_years": 1.0 / MINUTES_A_YEAR,
        "seed": 7,
        "lam": 200.0,
        "jump_mean": -0.02,
        "jump_std": 0.03,
    }
    pop = population_from_distribution(n, price=60_000.0, seed=1, total_notional=1e10 * n / 1_000_000)
    return pop, path_for(spec, 0)


class V1KernelRun:
    """v1's kernel (``cascade_nb``) on the records ``simulate_path`` builds (outputs allocated once)."""

    def __init__(self, pop: Any, path: np.ndarray) -> None:
        n_steps = path.shape[0] - 1
        self.args = (
            v1_settings.kernel_accounts(V1_REGIME.apply_caps(pop)),
            v1_settings.kernel_tiers(V1_REGIME),
            np.ascontiguousarray(path, dtype=np.float64),
            np.ascontiguousarray(V1_MARKET.multiplier(n_steps)),
            np.ascontiguousarray(V1_VENUE.oracle_matrix(n_steps)),
            v1_settings.kernel_config(V1_MARKET, V1_REGIME, V1_VENUE, MINUTES_A_YEAR, False),
        )
        self.out = v1_kernel.new_outputs(pop.n, n_steps + 1, 4 * pop.n + 1000)

    def __call__(self) -> Any:
        acc, tiers, exo, dm, oracle, cfg = self.args
        return v1_kernel.cascade_nb(acc, tiers, exo, dm, oracle, cfg, self.out)


def v1_side_by_side(n: int, n_steps: int, repeats: int) -> dict[str, Any]:
    """v1 (``simulate_path``) and v2 (``simulate_market``) on one asset and one venue, same run."""
    pop, path = v1_case(n, n_steps)
    mpop = MarketPopulation.from_population(pop, regime=V1_REGIME)
    spec = MarketSpec(["BTC"], [MarketVenue.from_v1(V1_MARKET, V1_REGIME, V1_VENUE)])

    def v1() -> Any:
        return simulate_path(pop, path, market=V1_MARKET, regime=V1_REGIME, venue=V1_VENUE)

    def v2() -> MarketResult:
        return simulate_market(mpop, path, spec)

    r1, r2 = v1(), v2()
    same = same_as_v1(r1, r2)
    k1 = V1KernelRun(pop, path)
    k2 = KernelRun(mpop, path[:, None].copy(), spec)
    same = same and k1().accounts_liquidated == k2().accounts_liquidated
    t1 = timeit(v1, repeats)
    t2 = timeit(v2, repeats)
    tk1 = timeit(k1, repeats)
    tk2 = timeit(k2, repeats)
    return {
        "accounts": n,
        "steps": n_steps,
        "threads": {"v1": _threads(), "v2": _threads()},
        "identical": bool(same),
        "accounts_liquidated": r1.summary["accounts_liquidated"],
        "v1_simulate_path_s": _stats(t1),
        "v2_simulate_market_s": _stats(t2),
        "v1_kernel_s": _stats(tk1),
        "v2_kernel_s": _stats(tk2),
        "v2_over_v1": statistics.median(t2) / statistics.median(t1),
        "v2_over_v1_kernel": statistics.median(tk2) / statistics.median(tk1),
    }


def same_as_v1(r1: Any, r2: MarketResult) -> bool:
    """Whether v2's one-asset run equals v1's bit for bit: every step column, every event field,
    every account's size, margin, PnL and status."""
    steps = r2.book_steps(0, 0)
    cols = ["price", "exogenous", "mark", "liquidated_notional", "adl_notional", "insurance_fund", "bad_debt"]
    cols += ["impact", "mm_scale", "liquidations", "rounds"]
    same = all(np.array_equal(r1.steps[c].to_numpy(), steps[c].to_numpy()) for c in cols)
    ev = ["step", "account", "qty", "price", "bankruptcy_price", "fund_delta", "kind", "counterparty"]
    same = same and r1.events[ev].reset_index(drop=True).equals(r2.events[ev].reset_index(drop=True))
    acc1, acc2 = r1.accounts, r2.accounts
    same = same and np.array_equal(acc1["qty"].to_numpy() * acc1["side"].to_numpy(), acc2["qty_BTC"].to_numpy())
    for c1, c2 in (("margin", "wallet"), ("pnl", "pnl"), ("status", "status")):
        same = same and np.array_equal(acc1[c1].to_numpy(), acc2[c2].to_numpy())
    return bool(same)


# --------------------------------------------------------------------------- driver


def _stats(times: list[float]) -> dict[str, Any]:
    return {"best": min(times), "median": statistics.median(times), "runs": times}


def _threads() -> int:
    from levguard.kernels import load_numba

    numba = load_numba()

    numba.set_num_threads(1)
    return int(numba.get_num_threads())


def warm_up() -> None:
    """Compile (or load from the cache) every kernel on a tiny case."""
    pop, exo, spec = scale_case(200, 20)
    KernelRun(pop, exo, spec)()
    simulate_market(pop, exo, spec)
    p1, path = v1_case(200, 20)
    simulate_path(p1, path, market=V1_MARKET, regime=V1_REGIME, venue=V1_VENUE)
    V1KernelRun(p1, path)()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; return the results (printed and written by :func:`main`)."""
    out: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numba_threads": _threads(),
        "load_average": os.getloadavg(),
        "target_s": TARGET_S,
    }
    warm_up()
    pop, exo, spec = scale_case(args.accounts, args.steps)
    kernel = KernelRun(pop, exo, spec)
    gc.collect()
    counts = kernel()
    tk = timeit(kernel, args.repeats)
    te = timeit(lambda: simulate_market(pop, exo, spec), args.e2e_repeats) if args.e2e_repeats else []
    st = kernel.out.steps
    out["scale"] = {
        "accounts": args.accounts,
        "assets": spec.n_assets,
        "venues": spec.n_venues,
        "steps": args.steps,
        "positions": int(np.count_nonzero(np.asarray(pop.qty))),
        "kernel_s": _stats(tk),
        "simulate_market_s": _stats(te) if te else None,
        "meets_target": statistics.median(tk) <= TARGET_S,
        "accounts_liquidated": counts.accounts_liquidated,
        "events": counts.events,
        "adl_events": counts.adl_events,
        "liquidated_notional": float(st.liq_notional.sum()),
        "bad_debt": float(st.bad_debt[:, -1].sum()),
        "rounds": int(st.rounds.sum()),
        "exo_low": [float(x) for x in (exo.min(axis=0) / exo[0])],
    }
    print("scale case:", json.dumps({k: v for k, v in out["scale"].items()}))
    if args.v1_accounts:
        out["one_asset"] = v1_side_by_side(args.v1_accounts, args.v1_steps, args.repeats)
        print("one asset vs v1:", json.dumps(out["one_asset"]))
    out["load_average_end"] = os.getloadavg()
    return out


def parser() -> argparse.ArgumentParser:
    """The command line (sizes default to the issue's)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--v1-accounts", type=int, default=1_000_000, help="0: skip the v1 side by side")
    ap.add_argument("--v1-steps", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--e2e-repeats", type=int, default=1, help="simulate_market end-to-end runs (0: none)")
    ap.add_argument("--json", default=None)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
