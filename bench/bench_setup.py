"""Set-up of ``make test`` on a fresh clone: one ``make -j4`` against the former two stages.

Run: ``.venv/bin/python bench/bench_setup.py [--repeats 1]`` (from the repository; each run clones
it afresh into a temporary folder, so about 2.5 minutes a run and 5 minutes a repeat).  Both
layouts run the same Makefile targets on the same 2-core machine, alternating, each a fresh clone
with no venv, numba cache or contract build (the package index and npm cache as CI has them):

* ``two-stage`` (before 2026-12-06): ``make -j2 .venv/.installed tests/evm/node_modules/.installed``
  (install and npm download), then ``make -j3 lint typecheck layers warmup evm`` (checks, kernel
  warmup in two processes, contract build);
* ``one-stage`` (``make test`` now): ``make -j4 lint typecheck layers warmup evm``, each job
  starting when what it needs is there.

Reported: wall seconds of the set-up (everything ``make test`` does before pytest) and the CPU
seconds of all its processes.  ``--revs A B`` compares the one-stage set-up of two commits
instead (a change to what the set-up runs, such as the warmup's workloads).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _util import cpu_model

REPO = Path(__file__).resolve().parents[1]
SYNC = ["--no-print-directory", "--output-sync=target"]
LAYOUTS: dict[str, list[list[str]]] = {
    "two-stage": [
        ["make", *SYNC, "-j2", ".venv/.installed", "tests/evm/node_modules/.installed"],
        ["make", *SYNC, "-j3", "lint", "typecheck", "layers", "warmup", "evm"],
    ],
    "one-stage": [["make", *SYNC, "-j4", "lint", "typecheck", "layers", "warmup", "evm"]],
}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(layout: str, rev: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of ``layout``'s set-up on a fresh clone (of commit ``rev``, default
    the checked-out one)."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "levguard"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        if rev is not None:
            subprocess.run(["git", "checkout", "--quiet", "--detach", rev], cwd=clone, check=True)
        cpu, started = children_cpu(), time.perf_counter()
        for cmd in LAYOUTS[layout]:
            subprocess.run(cmd, cwd=clone, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started, children_cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--revs",
        nargs=2,
        metavar="REV",
        help="compare two commits' one-stage set-up (e.g. the one before a change and HEAD) instead of the layouts",
    )
    args = ap.parse_args()
    sides = [(f"one-stage@{r}", "one-stage", r) for r in args.revs] if args.revs else [(n, n, None) for n in LAYOUTS]
    what = f"commits {' and '.join(args.revs)}" if args.revs else "both layouts"
    print(f"# {cpu_model()}, fresh clones of {REPO}, {what} alternating, {args.repeats} repeat(s)")
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in sides}
    for _ in range(args.repeats):
        for label, layout, rev in sides:
            wall, cpu = run(layout, rev)
            results[label].append((wall, cpu))
            print(f"{label:10s} set-up {wall:6.1f} s wall, {cpu:6.1f} s CPU", flush=True)
    for label, rows in results.items():
        print(f"{label:10s} median {statistics.median(w for w, _ in rows):6.1f} s wall")


if __name__ == "__main__":
    main()
