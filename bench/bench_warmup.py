"""Compile time of the kernels that call other kernels: the callee's twin linked, or compiled again.

Run: ``.venv/bin/python bench/bench_warmup.py [--repeats 2] [--workloads cascade sweep] [--json out.json]``.

With ``--layout [--jobs 2]`` it measures instead how ``levguard warmup`` lays its workloads out
over processes: ``grouped`` runs each group of workloads that share helpers in one process
(``levguard.cli.warmup.GROUPS``, the default), ``apart`` gives every workload to the next free
process (as before); each side is the whole warmup in a fresh process with an empty numba cache,
its pool's CPU counted, alternating.

A Monte Carlo that runs the cascade once per path (``cascade_many``) and a sweep that runs the
backtest once per configuration (``sweep``) call another kernel.  The shim
(``levguard.kernels._jit``) compiles the callee once, as its own compiled twin, and links it into
the caller; before, numba compiled the callee a second time inside the caller.  Each side runs
``levguard warmup``'s workloads in a fresh process with an empty numba cache
(``NUMBA_CACHE_DIR`` in a temporary folder), one thread (``NUMBA_NUM_THREADS=1``), alternating:
``linked`` is the code as it is, ``inline`` the same process with the shim's linking turned off
(the callee compiled inside the caller, as before).  Reports wall and CPU seconds per run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import cpu_model

_CHILD = """
import sys
import levguard.kernels._jit as j
if sys.argv[1] == "inline":
    j._calling_twins = lambda fn: fn  # the callee compiled again inside its caller, as before
from levguard.cli.warmup import WORKLOADS
for name in sys.argv[2:]:
    WORKLOADS[name]()
"""


def _fresh_process(argv: list[str], **env: str) -> tuple[float, float]:
    """Wall and CPU seconds (its children included) of ``python -c argv...`` with an empty numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", *argv], env={**os.environ, "NUMBA_CACHE_DIR": cache, **env}, check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(side: str, workloads: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process compiling ``workloads`` with an empty cache."""
    return _fresh_process([_CHILD, side, *workloads], NUMBA_NUM_THREADS="1")


_LAYOUT_CHILD = """
import sys
from levguard.cli.warmup import warm
warm(int(sys.argv[2]), grouped=sys.argv[1] == "grouped")
"""


def run_layout(side: str, jobs: int) -> tuple[float, float]:
    """Wall and CPU seconds (the pool's processes included) of a whole warmup laid out ``side``."""
    return _fresh_process([_LAYOUT_CHILD, side, str(jobs)])


def main_layout(repeats: int, jobs: int, out: Path | None) -> None:
    runs: dict[str, list[tuple[float, float]]] = {"apart": [], "grouped": []}
    for _ in range(repeats):
        for side in runs:
            runs[side].append(run_layout(side, jobs))
            print(f"{side}: wall {runs[side][-1][0]:.1f} s, CPU {runs[side][-1][1]:.1f} s", flush=True)
    result = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "jobs": jobs,
        "repeats": repeats,
        **{f"{side}_wall_s": [round(w, 2) for w, _ in runs[side]] for side in runs},
        **{f"{side}_cpu_s": [round(c, 2) for _, c in runs[side]] for side in runs},
        "cpu_ratio_median": statistics.median(c for _, c in runs["grouped"])
        / statistics.median(c for _, c in runs["apart"]),
        "wall_ratio_median": statistics.median(w for w, _ in runs["grouped"])
        / statistics.median(w for w, _ in runs["apart"]),
    }
    print(json.dumps(result, indent=2))
    if out:
        out.write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workloads", nargs="+", default=["cascade", "sweep"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--layout", action="store_true", help="compare warmup's process layouts instead")
    parser.add_argument("--jobs", type=int, default=2, help="with --layout: warmup's processes")
    args = parser.parse_args()
    if args.layout:
        from levguard.cli.warmup import GROUPS

        if not 2 <= args.jobs <= len(GROUPS):
            parser.error(f"--jobs must be 2 to {len(GROUPS)} with --layout (more processes than groups: one layout)")
        main_layout(args.repeats, args.jobs, args.json)
        return
    runs: dict[str, list[tuple[float, float]]] = {"inline": [], "linked": []}
    for _ in range(args.repeats):
        for side in ("inline", "linked"):
            runs[side].append(run(side, args.workloads))
            print(f"{side}: wall {runs[side][-1][0]:.1f} s, CPU {runs[side][-1][1]:.1f} s", flush=True)
    result = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "threads": 1,
        "workloads": args.workloads,
        "repeats": args.repeats,
        **{f"{side}_wall_s": [round(w, 2) for w, _ in runs[side]] for side in runs},
        **{f"{side}_cpu_s": [round(c, 2) for _, c in runs[side]] for side in runs},
        "cpu_ratio_median": statistics.median(c for _, c in runs["linked"])
        / statistics.median(c for _, c in runs["inline"]),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
