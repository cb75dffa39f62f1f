"""Cost of starting pytest where PYTHONDONTWRITEBYTECODE is set (as on the CI machines) against
unset (what ``make test`` does): pytest rewrites its plugins' modules at start-up, before the
repository's conftest.py can let it cache them.

Run: ``.venv/bin/python bench/bench_pytest_start.py [--repeats 7]`` (from the repository).  Each
side runs ``pytest --collect-only -q`` of one small test file in a fresh process, alternating;
the unset side after one run that writes the plugins' rewrites (as the controller does before
the workers start), the set side with none cached (moved aside during each of its runs).
Reported: the median wall and CPU seconds of a start (one process, single-threaded).
``make test`` starts one controller and one process per worker (three on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _util import cpu_model

REPO = Path(__file__).resolve().parents[1]
PYTEST = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
TARGET = "tests/golden/test_adl_examples.py"


def rewritten_plugins() -> list[Path]:
    """The cached assertion rewrites of the installed plugins (``*-pytest-<version>.pyc``)."""
    site = Path(pytest_module().__file__).resolve().parents[1]
    return list(site.glob("**/__pycache__/*-pytest-*.pyc"))


def pytest_module():  # type: ignore[no-untyped-def]
    import pytest

    return pytest


def start(dont_write: bool) -> tuple[float, float]:
    """Wall and CPU seconds of one pytest start (the collection of :data:`TARGET`).

    With ``dont_write`` the plugins' cached rewrites are moved aside for the run: with the
    variable set none is ever written, so a fresh machine has none, whichever process starts."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    aside: list[tuple[Path, Path]] = []
    if dont_write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        aside = [(pyc, pyc.with_name(pyc.name + ".aside")) for pyc in rewritten_plugins()]
        for pyc, moved in aside:
            pyc.rename(moved)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([*PYTEST, TARGET], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        for pyc, moved in aside:
            moved.rename(pyc)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"{cpu_model()}; one process per start, single-threaded")
    start(False)
    start(True)
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(args.repeats):
        for dont_write in (True, False):
            runs[dont_write].append(start(dont_write))
    for dont_write, label in ((True, "PYTHONDONTWRITEBYTECODE=1"), (False, "unset (make test)")):
        wall = statistics.median(r[0] for r in runs[dont_write])
        cpu = statistics.median(r[1] for r in runs[dont_write])
        print(f"{label:27s} wall {wall:.2f} s, CPU {cpu:.2f} s per pytest start")


if __name__ == "__main__":
    main()
