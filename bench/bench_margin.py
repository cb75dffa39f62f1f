"""Throughput of the isolated liquidation kernel vs the plain NumPy baseline (issue 2).

Run: ``.venv/bin/python bench/bench_margin.py [--n 10000000] [--repeats 7] [--json out.json]``
(``make bench``).  One thread; JIT compiled before timing; medians of ``--repeats`` runs.
"""

from __future__ import annotations

import os

# One thread for numba (the kernel is serial anyway) and for any BLAS NumPy might touch.
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from _util import cpu_model, timeit  # noqa: E402
from levguard.core.rules.binance import BUILTIN_TIERS  # noqa: E402
from levguard.kernels import load_numba  # noqa: E402
from levguard.kernels.margin import (  # noqa: E402
    isolated_linear_nb,
    numpy_isolated_linear_liq,
    solve_liquidation_price,
)
from levguard.margin import isolated_liquidation_prices  # noqa: E402

numba = load_numba()  # numba's TBB threading layer (kernels._jit._preload_tbb)

SEED = 20240601


def make_positions(n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Random isolated BTCUSDT-style positions: both sides, prices 1k-100k, notionals
    log-uniform over 1k-50M (tiers 1-5), leverage uniform in [1, tier max], margin = N/lev,
    mark within ~1% of entry.  1% are over-collateralised longs (leverage 0.5-1): they have
    no liquidation price (NaN), so the parity check covers the NaN path too."""
    rng = np.random.default_rng(seed)
    tiers = BUILTIN_TIERS["BTCUSDT"]
    max_lev = np.array([t.max_leverage for t in tiers.tiers])
    price = rng.uniform(1_000.0, 100_000.0, n)
    notional = np.exp(rng.uniform(np.log(1_000.0), np.log(50_000_000.0), n))
    tier = np.searchsorted(tiers.caps, notional, side="right")
    leverage = rng.uniform(1.0, max_lev[tier])
    over = rng.random(n) < 0.01
    leverage[over] = rng.uniform(0.5, 1.0, int(over.sum()))
    side = np.where((rng.random(n) < 0.5) | over, 1.0, -1.0)
    return {
        "q": side * notional / price,
        "entry": price,
        "margin": notional / leverage,
        "mark": price * np.exp(rng.normal(0.0, 0.01, n)),
    }


@numba.njit(cache=True, nogil=True)
def _stream(a: Any, b: Any, c: Any, d: Any, x: Any, y: Any, z: Any) -> None:
    # Same memory traffic as the kernel (read 4 arrays, write 3) with trivial arithmetic.
    for i in range(a.shape[0]):
        x[i] = a[i] + b[i]
        y[i] = c[i] * d[i]
        z[i] = a[i] - d[i]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="number of positions")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per variant")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    args = ap.parse_args()
    n, reps = args.n, args.repeats

    t = BUILTIN_TIERS["BTCUSDT"]
    p = make_positions(n)
    q, ep, mg, mk = p["q"], p["entry"], p["margin"], p["mark"]
    out_lp, out_mm, out_ratio = np.empty(n), np.empty(n), np.empty(n)

    def kernel() -> None:
        isolated_linear_nb(q, ep, mg, mk, 0.0, False, False, t.caps, t.mmrs, t.cums, out_lp, out_mm, out_ratio)

    def wrapper() -> np.ndarray:
        return isolated_liquidation_prices(q, ep, mg, t, "binance-usdm", mark_price=mk)

    def baseline() -> np.ndarray:
        return numpy_isolated_linear_liq(q, ep, mg, t.caps, t.mmrs, t.cums)

    def stream() -> None:
        _stream(q, ep, mg, mk, out_lp, out_mm, out_ratio)

    # Warm-up: compile (or load from cache) and fault in every page outside the timing.
    for fn in (kernel, wrapper, baseline, stream):
        fn()

    # Parity: kernel vs NumPy baseline, and the public wrapper vs the raw kernel.
    kernel()
    ref = baseline()
    nan_k, nan_r = np.isnan(out_lp), np.isnan(ref)
    same_nan = bool(np.array_equal(nan_k, nan_r))
    close = bool(np.allclose(out_lp[~nan_k], ref[~nan_k], rtol=1e-9, atol=0.0)) if same_nan else False
    max_rel = float(np.max(np.abs(out_lp[~nan_k] / ref[~nan_k] - 1.0))) if same_nan and (~nan_k).any() else 0.0
    wrap_exact = bool(np.array_equal(wrapper(), out_lp, equal_nan=True))
    # The scalar solver evaluate_account uses, called from Python on a sample: bit for bit.
    m = min(n, 20_000)
    scalar = [solve_liquidation_price(q[i], ep[i], mg[i], 0.0, 0.0, False, t.caps, t.mmrs, t.cums) for i in range(m)]
    scalar_exact = bool(np.array_equal(np.array(scalar), out_lp[:m], equal_nan=True))
    print(
        f"parity kernel vs numpy: NaN positions equal={same_nan} ({int(nan_k.sum())} NaN), "
        f"allclose(rtol=1e-9)={close}, max rel diff={max_rel:.2e}"
    )
    print(f"parity wrapper == kernel bitwise: {wrap_exact}; kernel == scalar solver bitwise ({m:,}): {scalar_exact}")

    variants = {
        "numba kernel (raw, preallocated)": kernel,
        "public wrapper isolated_liquidation_prices": wrapper,
        "numpy baseline numpy_isolated_linear_liq": baseline,
        "memory-bound reference (4 reads, 3 writes)": stream,
    }
    results: dict[str, dict[str, Any]] = {}
    for name, fn in variants.items():
        times = timeit(fn, reps)
        med = statistics.median(times)
        results[name] = {"median_s": med, "min_s": min(times), "times_s": times, "positions_per_s": n / med}
    base = results["numpy baseline numpy_isolated_linear_liq"]["median_s"]
    for r in results.values():
        r["speedup_vs_numpy"] = base / r["median_s"]

    info = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "n": n,
        "repeats": reps,
        "seed": SEED,
        "tiers": "Binance BTCUSDT (builtin)",
    }
    print(
        f"N={n:,} repeats={reps} cpu={info['cpu']} cores={info['cores']} numba={numba.__version__} "
        f"numpy={np.__version__} numba threads={info['numba_threads']}"
    )
    print(f"{'variant':46s} {'median s':>9s} {'min s':>9s} {'Mpos/s':>9s} {'x numpy':>8s}")
    for name, r in results.items():
        print(
            f"{name:46s} {r['median_s']:9.4f} {r['min_s']:9.4f} {r['positions_per_s'] / 1e6:9.1f} "
            f"{r['speedup_vs_numpy']:8.1f}"
        )
    rate = results["numba kernel (raw, preallocated)"]["positions_per_s"]
    print(f"target 100M positions/s: {'MET' if rate >= 1e8 else 'NOT MET'} ({rate / 1e6:.1f}M/s)")
    if args.json:
        payload = {
            "machine": info,
            "parity": {
                "nan_equal": same_nan,
                "allclose_rtol_1e-9": close,
                "max_rel_diff": max_rel,
                "wrapper_bitwise": wrap_exact,
                "scalar_bitwise": scalar_exact,
            },
            "results": results,
        }
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2)


if __name__ == "__main__":
    main()
