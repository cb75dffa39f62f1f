"""Guardian cycle time: one process watching 100 accounts x 10 positions at a 1 s interval (issue 8).

Run: ``.venv/bin/python bench/bench_guardian.py [--accounts 100] [--positions 10] [--cycles 60]
[--database sqlite:///...] [--json out.json] [--baseline]``.

Workload: 100 accounts, each holding 10 perpetual positions (Binance USD-M rules, cross margin,
BTCUSDT and ETHUSDT on their built-in brackets, eight others on two-tier tables the venue
reports), marks drifting on a seeded random walk.  The venue is a stub answering from memory, as
an exchange's JSON would arrive: a real venue's latency is network I/O the asyncio loop waits on,
not CPU (the paper venue would add its own margin-engine simulation to the figure).  The
guardian evaluates every account each cycle with the margin engine (liquidation
prices, margin ratio), computes each position's 1-day probability of liquidation, steps the state
machine, writes one snapshot and one audit row per account (SQLite file, WAL) and renews the
account's lease.  Dry run (no orders).  One process, one core (``NUMBA_NUM_THREADS=1``; the
guardian is single-threaded asyncio).

Reported: cycle wall time (median, p99, max over ``--cycles`` cycles after two warm-up cycles),
and the CPU share at a 1 s interval: process CPU time per cycle / 1 s.  The cycle's routine rows
(snapshots and "cycle" audit rows, one transaction) are written by a background thread in the
idle rest of the 1 s interval, as in the service: the timed cycle excludes that write, the CPU
share includes it (process CPU time over all threads).

``--baseline``: side by side in the same process, cycle for cycle on identical venues, the same
guardian doing what it did before issue 17: the account spec parsed into domain objects every
cycle (``account_from_spec``) and evaluated position by position (``levguard.core.margin.evaluate``),
and each position's probability of liquidation in its own call (``position_probabilities``, the
GBM closed form through ``prob_liquidation`` once per position), instead of the account kept
across cycles and evaluated in one kernel call (``AccountCache.report``) and one batched call
per forecaster (reports identical, checked at the end; tests/live/guardian/test_guardian_reuse.py,
tests/core/test_margin_cross.py, tests/core/test_prob_liquidation_gbm.py).  Each timed cycle
starts with both guardians' writes flushed, so neither one's background write runs during the
other's cycle; the CPU share is then the cycle's own CPU time (thread), writes excluded.

The heap is frozen (``gc.freeze``) after start-up and again after the first cycle, as
``Guardian.run`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model
from levguard.core.margin import AccountReport, evaluate
from levguard.core.positions import Account
from levguard.core.risk.excursion import GbmForecaster
from levguard.core.risk.forecast import LiquidationForecaster, position_probabilities
from levguard.core.risk.liquidation import prob_liquidation
from levguard.core.spec import account_from_spec
from levguard.core.tiers import TierTable
from levguard.live import guardian as guardian_module
from levguard.live.forecasts import probabilities
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.store import Store
from levguard.venues.base import Capabilities, OrderRequest, OrderState, VenueBalance, VenuePosition

SYMBOLS = ("BTCUSDT", "ETHUSDT")


class StubVenue:
    """Answers like an exchange from precomputed marks (the venue side costs no CPU here)."""

    name = "binance-usdm"
    capabilities = Capabilities(leverage_tiers=True)

    def __init__(
        self, symbols: list[str], qty: np.ndarray, entry: np.ndarray, marks: np.ndarray, tiers: dict[str, TierTable]
    ) -> None:
        self.symbols, self.qty, self.entry, self.marks, self.tiers = symbols, qty, entry, marks, tiers
        self.tick = 0
        self.now_ns = 1_700_000_000_000_000_000

    def step(self) -> None:
        self.tick += 1
        self.now_ns += 1_000_000_000

    async def fetch_positions(self) -> list[VenuePosition]:
        m = self.marks[self.tick]
        return [
            VenuePosition(s, float(q), float(e), float(mk), timestamp_ns=self.now_ns)
            for s, q, e, mk in zip(self.symbols, self.qty, self.entry, m, strict=True)
        ]

    async def fetch_balance(self) -> VenueBalance:
        return VenueBalance("USDT", 60_000.0, 30_000.0, self.now_ns)

    async def fetch_marks(self, symbols: list[str]) -> dict[str, float]:
        m = self.marks[self.tick]
        return dict(zip(self.symbols, m.tolist(), strict=True))

    async def fetch_tiers(self, symbol: str) -> TierTable | None:
        return self.tiers.get(symbol)

    async def fetch_funding_rate(self, symbol: str) -> float | None:
        return 0.0001

    async def create_order(self, request: OrderRequest) -> OrderState:  # pragma: no cover - dry run
        raise NotImplementedError

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        return None

    async def close(self) -> None:
        return None


def _venues(n_accounts: int, n_positions: int, n_ticks: int, seed: int) -> list[StubVenue]:
    rng = np.random.default_rng(seed)
    alt = TierTable.from_rows(
        [
            {"notional_floor": 0.0, "notional_cap": 50_000.0, "mmr": 0.01, "max_leverage": 50},
            {"notional_floor": 50_000.0, "notional_cap": "inf", "mmr": 0.02, "max_leverage": 20},
        ],
        source="bench",
    )
    out = []
    for a in range(n_accounts):
        symbols = [SYMBOLS[k] if k < 2 else f"ALT{k}USDT" for k in range(n_positions)]
        p0 = np.array(
            [
                60_000.0 if s == "BTCUSDT" else 3_000.0 if s == "ETHUSDT" else 10.0 * (k + 1)
                for k, s in enumerate(symbols)
            ]
        )
        marks = p0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, (n_ticks, n_positions)), axis=0))
        qty = (20_000.0 / p0) * np.array([1.0 if (a + k) % 3 else -1.0 for k in range(n_positions)])
        entry = p0 * (1 + rng.normal(0, 0.01, n_positions))
        out.append(StubVenue(symbols, qty, entry, marks, {s: alt for s in symbols[2:]}))
    return out


class _Rebuild:
    """The baseline's account: the spec parsed into domain objects every cycle."""

    def account(self, spec: dict[str, Any]) -> Account:
        return account_from_spec(spec)

    def report(self, spec: dict[str, Any]) -> AccountReport:
        # ... and evaluated position by position in Python (levguard.core.margin.evaluate).
        return evaluate(account_from_spec(spec))


class _GbmOneByOne:
    """``GbmForecaster.prob`` as it was before issue 17: ``prob_liquidation``, with its checks,
    once per position (the same numbers as the batch: tests/core/test_prob_liquidation_gbm.py)."""

    def __init__(self, f: GbmForecaster) -> None:
        self.sigma_annual = f.sigma_annual

    def prob(self, side: np.ndarray, distance: np.ndarray, hours: np.ndarray) -> np.ndarray:
        s, d, h = np.broadcast_arrays(np.atleast_1d(side), np.atleast_1d(distance), np.atleast_1d(hours))
        out = np.empty(s.shape[0])
        for i in range(s.shape[0]):
            if d[i] <= 0.0:
                out[i] = 1.0
                continue
            lp = 1.0 - d[i] if s[i] > 0 else 1.0 + d[i]
            if self.sigma_annual <= 0.0:
                out[i] = 0.0
                continue
            side_name = "long" if s[i] > 0 else "short"
            out[i] = prob_liquidation(side_name, 1.0, lp, self.sigma_annual, h[i] / 24.0) if lp > 0.0 else 0.0
        return out


def _per_position(
    forecasters: list[LiquidationForecaster | None],
    sides: list[object],
    marks: list[float],
    liq_prices: list[float | None],
    horizon_days: float,
) -> list[float]:
    # The baseline's P(liq): one position_probabilities call per position, the closed form
    # position by position.
    return [
        math.nan
        if f is None
        else float(
            position_probabilities(
                _GbmOneByOne(f) if isinstance(f, GbmForecaster) else f,  # type: ignore[arg-type]
                s,
                m,
                lp,
                horizon_days,
            )[0]
        )
        for f, s, m, lp in zip(forecasters, sides, marks, liq_prices, strict=True)
    ]


async def _guardian(args: argparse.Namespace, db: str | None) -> tuple[Guardian, list[StubVenue], Store]:
    venues = _venues(args.accounts, args.positions, args.cycles + 5, seed=1)
    store = Store(db or f"sqlite:///{tempfile.mkdtemp(prefix='lg-bench-')}/guard.db")
    setups = []
    for i, v in enumerate(venues):
        store.upsert_account(f"acct{i:03d}", v.name)
        setups.append(AccountSetup(name=f"acct{i:03d}", venue=v, vol=0.8, max_age_s=1e9))

    async def no_sleep(_s: float) -> None:
        return None

    g = Guardian(setups, store, live=False, clock=lambda: venues[0].now_ns, sleep=no_sleep)
    await g.reconcile()
    return g, venues, store


def _figures(wall: list[float], cpu: list[float], accounts: int) -> dict[str, float]:
    wall_ms = np.array(wall) * 1e3
    return {
        "median_ms": float(np.median(wall_ms)),
        "p99_ms": float(np.quantile(wall_ms, 0.99)),
        "max_ms": float(wall_ms.max()),
        "cpu_share_at_1s": float(statistics.median(cpu)),
        "per_account_ms": float(np.median(wall_ms) / accounts),
    }


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    g, venues, store = await _guardian(args, args.database)
    base = await _guardian(args, None) if args.baseline else None
    if base is not None:
        for a in base[0].accounts:
            base[0]._state[a.name].margin = _Rebuild()  # type: ignore[assignment]
    g.freeze_heap()  # as Guardian.run does after start-up
    runs: list[tuple[Guardian, list[StubVenue], bool]] = [(g, venues, False)]
    if base is not None:
        runs.append((base[0], base[1], True))
    timed: dict[bool, tuple[list[float], list[float]]] = {False: ([], []), True: ([], [])}
    reports: dict[bool, list[dict[str, Any]]] = {}
    for k in range(args.cycles + 2):  # two warm-up cycles
        for guard, vs, baseline in runs:
            # Alone: process CPU time (all threads) from before the previous cycle's write is
            # flushed to the end of the cycle.  Side by side: the cycle's own thread time.
            cpu_clock = time.thread_time if base is not None else time.process_time
            c0 = cpu_clock()
            guard.flush()  # the previous cycle's rows are written in the idle part of the 1 s interval
            if baseline:
                setattr(guardian_module, "probabilities", _per_position)  # noqa: B010 (module attribute patched)
            t0 = time.perf_counter()
            try:
                reports[baseline] = await guard.cycle()
            finally:
                setattr(guardian_module, "probabilities", probabilities)  # noqa: B010
            t1, c1 = time.perf_counter(), cpu_clock()
            if base is not None:
                guard.flush()  # its write done before the other guardian's cycle starts
            if k >= 2:
                timed[baseline][0].append(t1 - t0)
                timed[baseline][1].append(c1 - c0)
            for v in vs:
                v.step()
        if k == 0:
            g.freeze_heap()  # as Guardian.run does after its first cycle (process-wide)
    for guard, _, _ in runs:
        guard.close()
    for rep in reports.values():
        assert all(r["status"] == "ok" for r in rep), rep[:2]
    if base is not None:
        assert json.dumps(reports[False], sort_keys=True) == json.dumps(reports[True], sort_keys=True)
    out: dict[str, Any] = {
        "accounts": args.accounts,
        "positions_per_account": args.positions,
        "cycles": args.cycles,
        "database": store.url_redacted.split("/")[0],
        **_figures(*timed[False], args.accounts),
    }
    if base is not None:
        out["baseline"] = _figures(*timed[True], args.accounts)
        out["median_ratio"] = out["baseline"]["median_ms"] / out["median_ms"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--positions", type=int, default=10)
    ap.add_argument("--cycles", type=int, default=60)
    ap.add_argument("--database", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="also run, cycle for cycle, the guardian parsing every spec and pricing every position apart",
    )
    args = ap.parse_args()
    out = {"date": dt.date.today().isoformat(), "cpu": cpu_model(), "python": platform.python_version()}
    out.update(asyncio.run(_bench(args)))
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
