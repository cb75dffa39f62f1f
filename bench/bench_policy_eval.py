"""Vectorized policy evaluation over 10 years of 1-minute bars for 1,000 parameter sets (issue 5).

Run: ``.venv/bin/python bench/bench_policy_eval.py [--years 10] [--threads 2] [--repeats 3] [--json out.json]``.

Workload: 5.26 M simulated 1-minute log returns (Student-t, 60% annual vol, seed 20240605) and
1,000 parameter sets of a volatility-target policy ``L_t = min(target / sigma_hat_t, cap)``:
10 EWMA half-lives (1 h .. 7 d) x 20 targets (0.1 .. 2.0) x 5 caps (1, 2, 3, 5, 10), long,
maintenance margin rate 0.5%.  The EWMA forecast is computed once per half-life (10 x T doubles);
the 1,000 x T leverage matrix (42 GB) is never materialised: the kernel computes the leverage on
the fly per parameter set (``vol_target_batch_nb``, ``prange`` over parameter sets).

Variants, same inputs, same process, medians of ``--repeats`` runs after JIT compilation:

* numba batched kernel, all 1,000 sets, fee 0 (the head-to-head with the baseline);
* numba batched kernel, all 1,000 sets, fee 5 bp (adds the drift division per bar);
* NumPy baseline (vectorised per parameter set: leverage, lag, equity ``cumprod``, running peak,
  drawdown, sums, first liquidation) on ``--baseline-sets`` sets over the full series, fee 0,
  **extrapolated** to 1,000 sets by parameter-set-bars/s; parity checked against the kernel.
"""

from __future__ import annotations

import argparse
import os
import sys


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--years", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--baseline-sets", type=int, default=4)
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    return p.parse_args()


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None:
    os.environ["NUMBA_NUM_THREADS"] = str(ARGS.threads)
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import datetime as dt  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _util import cpu_model, timeit  # noqa: E402
from levguard.kernels import load_numba  # noqa: E402
from levguard.kernels import policy_eval as kp  # noqa: E402
from levguard.kernels.vol import ewma_nb  # noqa: E402

numba = load_numba()  # numba's TBB threading layer (kernels._jit._preload_tbb)

PPY = 525_600.0  # 1-minute bars in a 365-day year
MMR = 0.005


def make_returns(n: int, seed: int = 20240605) -> np.ndarray:
    """Student-t (4 dof) 1-minute log returns with 60% annual volatility."""
    rng = np.random.default_rng(seed)
    z = rng.standard_t(4, n) / math.sqrt(2.0)
    return 0.6 / math.sqrt(PPY) * z


def parameter_sets() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Half-lives (bars), and per set: vol row index, target, cap (1,000 sets)."""
    half_lives = np.geomspace(60, 7 * 1440, 10)
    targets = np.linspace(0.1, 2.0, 20)
    caps = np.array([1.0, 2.0, 3.0, 5.0, 10.0])
    k, t, c = np.meshgrid(np.arange(10), targets, caps, indexing="ij")
    return half_lives, k.ravel().astype(np.int64), t.ravel(), c.ravel()


def inverse_vol(x: np.ndarray, half_lives: np.ndarray) -> np.ndarray:
    """``1 / sigma_hat_t`` (annualised EWMA of squared log returns), one row per half-life."""
    out = np.empty((half_lives.shape[0], x.shape[0]))
    x2 = x * x
    seed = float(np.mean(x2[:1440]))
    for i, hl in enumerate(half_lives):
        lam = math.exp(-math.log(2.0) / hl)
        ewma_nb(x2, lam, seed, out[i])
        np.multiply(out[i], PPY, out=out[i])
        np.sqrt(out[i], out=out[i])
        np.divide(1.0, out[i], out=out[i])
    return out


def numpy_vol_target(
    simple: np.ndarray, iv: np.ndarray, target: float, cap: float, mmr: float, start: int, stop: int
) -> np.ndarray:
    """NumPy baseline of one parameter set (fee 0): the statistics row of the kernel."""
    lev = np.minimum(target * iv[start - 1 : stop - 1], cap)
    lev = np.where(lev > 0, lev, 0.0)
    g = lev * simple[start:stop]
    bad = np.flatnonzero(1.0 + g <= mmr * lev)
    liq = -1.0
    if bad.size:
        k = int(bad[0])
        g = g[: k + 1].copy()
        g[k] = -1.0
        liq = float(start + k)
    eq = np.cumprod(1.0 + g)
    peak = np.maximum(np.maximum.accumulate(eq), 1.0)
    maxdd = float(np.max(1.0 - eq / peak))
    return np.array([eq[-1], g.sum(), (g * g).sum(), max(maxdd, 0.0), liq, float(stop - start)])


def main() -> None:
    assert ARGS is not None
    n = round(ARGS.years * 365 * 1440)
    x = make_returns(n)
    simple = np.expm1(x)
    half_lives, vidx, targets, caps = parameter_sets()
    n_sets = targets.shape[0]
    t0 = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    iv_times = timeit(lambda: inverse_vol(x, half_lives), 1)
    iv = inverse_vol(x, half_lives)
    start, stop = 1441, n  # after a one-day warm-up
    bars = stop - start

    # compile, then time
    small = np.empty((2, kp.N_STATS))
    kp.vol_target_batch_nb(simple[:5000], iv[:, :5000], vidx[:2], targets[:2], caps[:2], 0.0, MMR, 1441, 5000, small)
    stats0 = np.empty((n_sets, kp.N_STATS))
    stats_fee = np.empty((n_sets, kp.N_STATS))
    nb0 = timeit(
        lambda: kp.vol_target_batch_nb(simple, iv, vidx, targets, caps, 0.0, MMR, start, stop, stats0), ARGS.repeats
    )
    nbf = timeit(
        lambda: kp.vol_target_batch_nb(simple, iv, vidx, targets, caps, 5e-4, MMR, start, stop, stats_fee),
        ARGS.repeats,
    )
    # NumPy baseline on a spread of parameter sets
    pick = np.linspace(0, n_sets - 1, ARGS.baseline_sets).astype(int)
    base_rows: list[np.ndarray] = []

    def run_base() -> None:
        base_rows.clear()
        for p in pick:
            base_rows.append(numpy_vol_target(simple, iv[vidx[p]], targets[p], caps[p], MMR, start, stop))

    npt = timeit(run_base, ARGS.repeats)
    ref = np.vstack(base_rows)
    got = stats0[pick]
    rel = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)))
    parity_ok = bool(np.allclose(got, ref, rtol=1e-9, atol=1e-12))

    med_nb0 = statistics.median(nb0)
    med_nbf = statistics.median(nbf)
    med_np = statistics.median(npt)
    rate_nb0 = n_sets * bars / med_nb0
    rate_nbf = n_sets * bars / med_nbf
    rate_np = ARGS.baseline_sets * bars / med_np
    res: dict[str, Any] = {
        "when_utc": t0.isoformat(timespec="seconds"),
        "load_avg_before": load_before,
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "numba_threads": numba.get_num_threads(),
        "bars": bars,
        "parameter_sets": n_sets,
        "ewma_forecasts_s": iv_times[0],
        "numba_fee0_median_s": med_nb0,
        "numba_fee0_min_s": min(nb0),
        "numba_fee0_set_bars_per_s": rate_nb0,
        "numba_fee5bp_median_s": med_nbf,
        "numba_fee5bp_min_s": min(nbf),
        "numba_fee5bp_set_bars_per_s": rate_nbf,
        "numpy_sets_timed": ARGS.baseline_sets,
        "numpy_median_s": med_np,
        "numpy_set_bars_per_s": rate_np,
        "numpy_extrapolated_1000_sets_s": n_sets * bars / rate_np,
        "speedup_fee0": rate_nb0 / rate_np,
        "parity_max_rel_diff": rel,
        "parity_ok": parity_ok,
        "liquidated_sets_fee0": int(np.sum(stats0[:, kp.S_LIQ] >= 0)),
        "liquidated_sets_fee5bp": int(np.sum(stats_fee[:, kp.S_LIQ] >= 0)),
        "load_avg_after": os.getloadavg(),
    }
    for k, v in res.items():
        print(f"{k:32s} {v}")
    if ARGS.json:
        with open(ARGS.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
