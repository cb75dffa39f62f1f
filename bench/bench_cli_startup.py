"""Start-up time of ``levguard margin account.yaml`` against ``python -c "import numpy"`` (issue 16).

Run: ``.venv/bin/python bench/bench_cli_startup.py [--repeats 21] [--json out.json]
[--command "risk book.yaml --vol 0.6"]`` (``--command``: another command of the samples instead of
``margin account.yaml``).

Both commands run as fresh processes, alternating, in a temporary folder where ``levguard init``
wrote the samples; the report gives the medians and their ratio (the bar: at most 3x).  Each is
one process on one thread; nothing is warmed except what ``levguard warmup`` leaves on disk (the
bytecode), as after ``make demo``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import cpu_model

# The console script beside this interpreter (what a user runs), else the same entry point.
_SCRIPT = Path(sys.executable).with_name("levguard")
LEVGUARD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from levguard.cli.main import run; run()"]


def wall(cmd: list[str], cwd: str) -> float:
    """Seconds of one run of ``cmd`` (it must exit 0)."""
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--command", default="margin account.yaml", help="levguard's arguments (shell words)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([*LEVGUARD, "init"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
        numpy_cmd = [sys.executable, "-c", "import numpy"]
        margin_cmd = [*LEVGUARD, *shlex.split(args.command)]
        wall(numpy_cmd, folder), wall(margin_cmd, folder)  # page cache
        numpy_s, margin_s = [], []
        for _ in range(args.repeats):
            numpy_s.append(wall(numpy_cmd, folder))
            margin_s.append(wall(margin_cmd, folder))
    result = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "repeats": args.repeats,
        "command": f"levguard {args.command}",
        "import_numpy_median_s": statistics.median(numpy_s),
        "levguard_margin_median_s": statistics.median(margin_s),
        "ratio": statistics.median(margin_s) / statistics.median(numpy_s),
    }
    print(
        f"python -c 'import numpy': {result['import_numpy_median_s'] * 1e3:.0f} ms   "
        f"{result['command']}: {result['levguard_margin_median_s'] * 1e3:.0f} ms   "
        f"ratio {result['ratio']:.2f}x (medians of {args.repeats}, one thread each)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
