"""ADL tie-break: a run of N counterparties whose ADL scores tie, ordered by size, margin and
entry (``levguard.kernels.cascade_sweep.break_score_ties``), against NumPy's ``lexsort`` of the
same keys and the kernel's plain-Python twin, in the same process.

Run: ``.venv/bin/python bench/bench_adl_ties.py [--n 160000] [--twin-n 20000] [--repeats 5]
[--json PATH]`` (small sizes smoke-test it).

Workload: the worst case for the tie-break, a book where every counterparty ties (one entry,
100, and one leverage, 5x: ADL scores ``PnL x leverage`` are all alike whatever the size, as in a
book opened at one price).  Sizes are lognormal (seed 3, sigma 1), with every fifth size repeated
so that the margin and entry keys decide some pairs; margin = |size| x entry / 5, a quarter more
for every tenth position, and every seventh entry 1e-9 higher (the scores still tie); the ids come in
a random order (as account order would).  The kernel orders the run in place inside a compiled
kernel, as the cascade rounds call it: here a one-line compiled wrapper calls it on a copy of the
ids.  The baseline is ``numpy.lexsort((entry[ids], margin[ids], -|size[ids]|))``: the same
order (both are stable, least significant key first), checked equal id for id in every run.  The
plain-Python twin (the same function uncompiled, as ``LEVGUARD_DISABLE_NUMBA=1`` runs it) is
timed at ``--twin-n``.

Both sides on one thread (``NUMBA_NUM_THREADS`` and the BLAS pools pinned to 1 before any
import; the kernel is serial).  The wrapper is compiled before timing; each variant runs
``--repeats`` times and the best and the median are reported; the order is checked once per
script run, before timing.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # run as a script: pin the pools before numba starts them
    for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _util import cpu_model, timeit
from levguard.kernels import load_numba
from levguard.kernels.cascade_sweep import break_score_ties

ENTRY = 100.0
LEVERAGE = 5.0


def book(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, scores, size, margin, entry)`` of ``n`` tied counterparties (module docstring)."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(0.0, 1.0, n)
    size[::5] = size[0]  # repeated sizes: the margin and entry keys decide some pairs
    margin = size * ENTRY / LEVERAGE
    margin[::10] *= 1.25  # among the repeated sizes every other one posts more: margin decides
    entry = np.full(n, ENTRY)
    entry[::7] = ENTRY * (1.0 + 1e-9)  # different entries, scores still tied within 1e-12
    ids = rng.permutation(n).astype(np.int64)
    scores = np.full(n, 0.25)
    return ids, scores, size, margin, entry


def lexsort_order(ids: np.ndarray, size: np.ndarray, margin: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """The baseline: NumPy's stable ``lexsort``, the last key the most significant."""
    return ids[np.lexsort((entry[ids], margin[ids], -np.abs(size[ids])))]


def _twin(ids: np.ndarray, scores: np.ndarray, size: np.ndarray, margin: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """The kernel on a copy of ``ids``: plain Python as written, compiled by :func:`_compiled`."""
    out = ids.copy()
    break_score_ties(out, scores, out.size, size, margin, entry)
    return out


def _compiled() -> Any:
    return load_numba().njit(cache=False)(_twin)


def _stats(times: list[float]) -> dict[str, Any]:
    return {"best": min(times), "median": statistics.median(times), "runs": times}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; return the results (printed and written by :func:`main`)."""
    numba = load_numba()
    numba.set_num_threads(1)
    out: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "numba_threads": int(numba.get_num_threads()),
        "load_average": os.getloadavg(),
        "n": args.n,
        "twin_n": args.twin_n,
    }
    kernel = _compiled()
    small = book(50)
    kernel(*small)  # compile before timing
    ids, scores, size, margin, entry = book(args.n)
    got, want = kernel(ids, scores, size, margin, entry), lexsort_order(ids, size, margin, entry)
    if not np.array_equal(got, want):
        raise SystemExit("the kernel's order differs from lexsort's")
    tk = timeit(lambda: kernel(ids, scores, size, margin, entry), args.repeats)
    tl = timeit(lambda: lexsort_order(ids, size, margin, entry), args.repeats)
    twin = book(args.twin_n)
    if not np.array_equal(_twin(*twin), lexsort_order(twin[0], twin[2], twin[3], twin[4])):
        raise SystemExit("the plain-Python twin's order differs from lexsort's")
    tt = timeit(lambda: _twin(*twin), max(1, min(args.repeats, 3)))
    out["kernel_s"] = _stats(tk)
    out["lexsort_s"] = _stats(tl)
    out["twin_s"] = _stats(tt)
    out["kernel_vs_lexsort"] = statistics.median(tl) / statistics.median(tk)
    out["kernel_positions_per_second"] = args.n / statistics.median(tk)
    out["twin_positions_per_second"] = args.twin_n / statistics.median(tt)
    # Growth: the same book at a tenth of the size, best against best (short runs are noisy, so
    # the tenth runs 4x as often); O(r log r) gives a little over 10, a cache-bound sort more, an
    # insertion sort (the first version's) about 100.
    tenth = book(max(args.n // 10, 2))
    t10 = timeit(lambda: kernel(*tenth), 4 * args.repeats)
    out["kernel_tenth_s"] = _stats(t10)
    out["growth_10x"] = min(tk) / min(t10)
    out["orders_equal"] = True
    out["load_average_end"] = os.getloadavg()
    print(json.dumps({k: v for k, v in out.items() if not k.endswith("_s")}, indent=1))
    for k in ("kernel_s", "kernel_tenth_s", "lexsort_s", "twin_s"):
        print(f"{k}: best {out[k]['best']:.4f} median {out[k]['median']:.4f}")
    return out


def parser() -> argparse.ArgumentParser:
    """The command line."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=160_000)
    ap.add_argument("--twin-n", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
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
