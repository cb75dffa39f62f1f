"""Start-up of a guardian process (import, one account, first cycle) against ``import numpy``.

Run: ``.venv/bin/python bench/bench_guardian_startup.py [--repeats 15]``.  Each side is a fresh
process on one thread (``NUMBA_NUM_THREADS=1``), alternating; the report gives the medians, their
ratio and the heavy modules the guardian process loaded.  The guardian side imports
``levguard.live.guardian``, builds one BTCUSDT account on a paper venue (no candles) with a SQLite
store, and runs one cycle: what a supervisor's restart after a crash pays before it watches again
(the chaos harness restarts dozens of such processes).  ``--mode`` chooses the position's margin
mode: ``isolated`` (the margin engine's Python path) or ``cross`` (the one-call cross layout of
:mod:`levguard.core.margin_cross`, whose compiled kernel loads numba).
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

from _util import cpu_model, load_test_module


def _scenario() -> str:
    # The guardian process of tests/live/guardian/test_guardian_startup.py (one scenario, timed
    # here and held there): it prints ``STATUS <status> <p_liq known> [<heavy modules loaded>]``.
    return str(load_test_module("live/guardian/test_guardian_startup.py").CODE)


def wall(cmd: list[str]) -> tuple[float, str]:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - t0, out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--mode", choices=("isolated", "cross"), default="cross")
    args = ap.parse_args()
    code = _scenario()
    numpy_t, guard_t, loaded = [], [], ""
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats + 1):  # the first pair warms the disk cache
            db = f"sqlite:///{Path(tmp) / f'g{i}.db'}"
            t_np, _ = wall([sys.executable, "-c", "import numpy"])
            t_g, printed = wall([sys.executable, "-c", code, db, args.mode])
            status = printed.splitlines()[-1]
            if not status.startswith("STATUS ok True"):
                raise SystemExit(f"the guardian did not cycle: {status}")
            loaded = status.split(" ", 3)[3]
            if i:
                numpy_t.append(t_np)
                guard_t.append(t_g)
    n, g = statistics.median(numpy_t), statistics.median(guard_t)
    print(f"# {cpu_model()}, Python {platform.python_version()}, one thread on both sides, medians of {args.repeats}")
    print(f"import numpy              {n:.3f} s")
    print(f"guardian start + 1 cycle  {g:.3f} s  ({g / n:.1f}x import numpy), {args.mode} account")
    heavy = ", ".join(load_test_module("live/guardian/test_guardian_startup.py").HEAVY)
    print(f"heavy modules loaded      {loaded} (checked: {heavy})")


if __name__ == "__main__":
    main()
