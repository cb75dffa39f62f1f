"""Liquidation forecasts: 28,000 daily forecasts over six years of hourly bars (issue 13).

Run: ``.venv/bin/python bench/bench_forecast.py [--bars PATH] [--repeats 3] [--json out.json]``.
By default it reads ``../shared/data/ohlcv/BTCUSDT-MARK_1h.csv`` (the synthetic default market
when that is absent).  Workload: every day at 00:00 UTC, a long and a short at liquidation
distances of 19.6 %, 9.6 % and 4.6 % (5x, 10x and 20x), horizons 1 and 7 days.  Timed side by
side in one process on one thread (the kernels are serial): the ``excursion`` model (the
default), the ``naive`` closed-form baseline, and the forward-extreme kernel compiled against
its plain-Python twin.  JIT compiled before timing; medians of ``--repeats`` runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from _util import cpu_model, timeit  # noqa: E402
from levguard.data import load_ohlcv  # noqa: E402
from levguard.data.default import default_market  # noqa: E402
from levguard.kernels.forecast import forward_min_nb, forward_min_py  # noqa: E402
from levguard.risk import liquidation_forecasts  # noqa: E402

DEFAULT_BARS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv" / "BTCUSDT-MARK_1h.csv"
DISTANCES = (0.196, 0.096, 0.046)
HORIZONS = (1.0, 7.0)


def _bars(path: Path | None) -> tuple[pd.DataFrame, str]:
    if path is not None and path.exists():
        return load_ohlcv(path), str(path)
    market = default_market()
    return market.mark, "synthetic default market (mark)"


def _workload(bars: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    idx = bars.index
    days = idx[idx.hour == 0]
    days = days[(days >= idx[0] + pd.Timedelta("31D")) & (days <= idx[-1] - pd.Timedelta("7D"))]
    combos = [(s, d, h) for s in (1, -1) for d in DISTANCES for h in HORIZONS]
    n = len(days)
    as_of = pd.DatetimeIndex(np.repeat(days.values, len(combos))).tz_localize("UTC")
    side = np.tile([c[0] for c in combos], n)
    dist = np.tile([c[1] for c in combos], n)
    hor = np.tile([c[2] for c in combos], n)
    return as_of, side, dist, hor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bars", type=Path, default=DEFAULT_BARS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    bars, source = _bars(args.bars)
    as_of, side, dist, hor = _workload(bars)
    n = as_of.size
    # Compile (or load from cache) before timing.
    liquidation_forecasts(bars.iloc[:2000], bars.index[1999], 1, 0.05, 1)
    x = np.log(bars["low"].to_numpy())
    out = np.empty_like(x)
    forward_min_nb(x[:100], 5, out[:100])
    runs = {
        "excursion (default)": timeit(lambda: liquidation_forecasts(bars, as_of, side, dist, hor), args.repeats),
        "naive (GBM, 30-day vol)": timeit(
            lambda: liquidation_forecasts(bars, as_of, side, dist, hor, model="naive"), args.repeats
        ),
        "forward_min_nb, 168 h": timeit(lambda: forward_min_nb(x, 168, out), args.repeats),
        "forward_min_py, 168 h": timeit(lambda: forward_min_py(x, 168, out), 1),
    }
    result = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "python": platform.python_version(), "threads": 1},
        "bars": {"source": source, "rows": len(bars), "first": str(bars.index[0]), "last": str(bars.index[-1])},
        "forecasts": n,
        "median_s": {k: statistics.median(v) for k, v in runs.items()},
        "min_s": {k: min(v) for k, v in runs.items()},
    }
    med = result["median_s"]
    result["forecasts_per_s"] = {k: n / med[k] for k in list(med)[:2]}
    result["kernel_speedup"] = med["forward_min_py, 168 h"] / med["forward_min_nb, 168 h"]
    print(f"{n:,} forecasts over {len(bars):,} hourly bars ({source}), one thread")
    for k, v in runs.items():
        print(f"  {k:28s} median {statistics.median(v):8.3f} s  (min {min(v):.3f})")
    print(f"  forward-extreme kernel: numba {result['kernel_speedup']:.0f}x the plain-Python twin")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
