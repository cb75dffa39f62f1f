"""Start-up of a guardian process (import, one account, first cycle) against ``import numpy``.

Run: ``.venv/bin/python bench/bench_guardian_startup.py [--repeats 15]``.  Each side is a fresh
process on one thread (``NUMBA_NUM_THREADS=1``), alternating; the report gives the medians, their
ratio and the heavy modules the guardian process loaded.  The guardian side imports
``levguard.live.guardian``, builds one isolated BTCUSDT account on a paper venue (no candles) with a
SQLite store, and runs one cycle: what a supervisor's restart after a crash pays before it watches
again (the chaos harness restarts dozens of such processes).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import cpu_model

GUARDIAN = """
import asyncio, sys
from levguard.live.guardian import AccountSetup, Guardian
from levguard.live.states import Thresholds
from levguard.live.store import Store
from levguard.venues.paper import PaperVenue, PriceFeed

venue = PaperVenue("binance-usdm", feeds={"BTCUSDT": PriceFeed.from_path([60000.0] * 10)}, wallet_balance=50_000.0,
    positions=[{"symbol": "BTCUSDT", "qty": 1.0, "entry_price": 60000.0, "margin_mode": "isolated",
                "isolated_margin": 6000.0}], funding_rate=0.0, start_ns=1_700_000_000_000_000_000)
store = Store(sys.argv[1])
store.upsert_account("a", venue.name, live_enabled=False)
thresholds = Thresholds(margin_ratio=(0.3, 0.5, 0.6), distance=(0.3, 0.2, 0.1), p_liq=(0.2, 0.5, 0.8))
setup = AccountSetup(name="a", venue=venue, thresholds=thresholds, vol=0.8, max_age_s=3600.0)
guardian = Guardian([setup], store, live=False, owner="bench", clock=lambda: venue.now_ns)
asyncio.run(guardian.cycle())
assert guardian.last_reports["a"]["status"] == "ok"
print(",".join(m for m in ("pandas", "scipy.special", "scipy.integrate", "scipy.optimize") if m in sys.modules))
"""


def wall(cmd: list[str]) -> tuple[float, str]:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - t0, out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    numpy_t, guard_t, loaded = [], [], ""
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats + 1):  # the first pair warms the disk cache
            db = f"sqlite:///{Path(tmp) / f'g{i}.db'}"
            t_np, _ = wall([sys.executable, "-c", "import numpy"])
            t_g, loaded = wall([sys.executable, "-c", GUARDIAN, db])
            if i:
                numpy_t.append(t_np)
                guard_t.append(t_g)
    n, g = statistics.median(numpy_t), statistics.median(guard_t)
    print(f"# {cpu_model()}, Python {platform.python_version()}, one thread on both sides, medians of {args.repeats}")
    print(f"import numpy              {n:.3f} s")
    print(f"guardian start + 1 cycle  {g:.3f} s  ({g / n:.1f}x import numpy)")
    print(f"heavy modules loaded      {loaded or 'none'}")


if __name__ == "__main__":
    main()
