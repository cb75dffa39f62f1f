"""Health factors of 10 million lending positions on one thread vs NumPy (issue 19).

Run: ``.venv/bin/python bench/bench_defi.py [--n 10000000] [--repeats 7] [--json PATH]``
(``make bench``).  Both sides on one thread (numba, OpenMP, BLAS pinned to 1 before any import).
Kernels are compiled (or loaded from numba's cache) and every array faulted in before timing;
each variant runs ``--repeats`` times and the best and the median are reported.  Results go to
``bench/results/bench_defi.json`` unless ``--json`` says otherwise.

Two workloads, each against a plain NumPy vectorisation of the same formula in the same run:

* **Morpho-style**: N single-market positions (collateral, borrowed assets, price, LLTV per
  position): health factor and liquidation price (``levguard.kernels.defi.morpho_positions_nb``).
* **Aave-style**: N accounts of 3 reserve rows in CSR layout (2 collaterals, 1 debt; 20 % of the
  accounts in an e-mode category that overrides the first collateral's threshold and LTV): health
  factor, total collateral, total debt, available borrows (``aave_accounts_nb``), and the
  liquidation price of the first collateral holding the others fixed
  (``aave_liquidation_prices_nb``).

The target is under 1 s for N = 10,000,000 on one thread, for both workloads (the median).
"""

from __future__ import annotations

import os

# One thread on both sides: numba (the kernels are serial anyway), OpenMP and any BLAS.
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from _util import cpu_model, timeit  # noqa: E402
from levguard.core.defi.fast import aave_account_arrays, aave_liquidation_prices, morpho_position_arrays  # noqa: E402
from levguard.kernels import load_numba  # noqa: E402
from levguard.kernels.defi import (  # noqa: E402
    aave_accounts_nb,
    aave_liquidation_prices_nb,
    morpho_positions_nb,
    numpy_aave_accounts,
    numpy_morpho_positions,
)

numba = load_numba()  # numba's TBB threading layer (kernels._jit._preload_tbb)

SEED = 20240619
RESULTS = Path(__file__).resolve().parent / "results" / "bench_defi.json"
LLTVS = np.array([0.625, 0.77, 0.86, 0.915, 0.945])  # LLTVs Morpho Blue governance enabled


def morpho_book(n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """N Morpho-style positions: collateral log-uniform over 1e-3..1e4 tokens, a price per
    position (1..1e5 loan units a collateral unit), an LLTV from the enabled list, borrowed for
    an LTV uniform in (0, 1.1 x LLTV) (about 9 % liquidatable), 1 % without debt."""
    rng = np.random.default_rng(seed)
    collateral = np.exp(rng.uniform(np.log(1e-3), np.log(1e4), n))
    price = np.exp(rng.uniform(0.0, np.log(1e5), n))
    lltv = LLTVS[rng.integers(0, LLTVS.shape[0], n)]
    borrow = collateral * price * lltv * rng.uniform(0.0, 1.1, n)
    borrow[rng.random(n) < 0.01] = 0.0
    return {"collateral": collateral, "borrow_assets": borrow, "price": price, "lltv": lltv}


def aave_book(n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """N accounts x 3 rows: collateral A (LT 0.83, LTV 0.8; e-mode 0.93 / 0.9 for 20 % of the
    accounts), collateral B (LT 0.78, LTV 0.73), debt C (no collateral); values log-uniform
    1..1e6 USD, the debt for an HF uniform in (0.5, 3)."""
    rng = np.random.default_rng(seed)
    rows = 3 * n
    indptr = np.arange(0, rows + 1, 3, dtype=np.int64)
    coll = np.zeros(rows)
    coll[0::3] = np.exp(rng.uniform(0.0, np.log(1e6), n))
    coll[1::3] = np.exp(rng.uniform(0.0, np.log(1e6), n))
    lt = np.tile(np.array([0.83, 0.78, 0.0]), n)
    ltv = np.tile(np.array([0.8, 0.73, 0.0]), n)
    emode = rng.random(n) < 0.2
    emode_lt, emode_ltv = np.zeros(rows), np.zeros(rows)
    emode_lt[0::3] = np.where(emode, 0.93, 0.0)
    emode_ltv[0::3] = np.where(emode, 0.9, 0.0)
    weighted = coll[0::3] * np.where(emode, 0.93, 0.83) + coll[1::3] * 0.78
    debt = np.zeros(rows)
    debt[2::3] = weighted / rng.uniform(0.5, 3.0, n)
    return {
        "indptr": indptr,
        "collateral_value": coll,
        "debt_value": debt,
        "lt": lt,
        "ltv": ltv,
        "emode_lt": emode_lt,
        "emode_ltv": emode_ltv,
    }


def numpy_aave_liquidation_prices(b: dict[str, np.ndarray], k: np.ndarray, price: np.ndarray) -> np.ndarray:
    """NumPy baseline of the liquidation price: segment sums, then the moving row subtracted."""
    counted = b["lt"] > 0.0
    t = np.where(counted, np.where(b["emode_lt"] > 0.0, b["emode_lt"], b["lt"]), 0.0)
    w = b["collateral_value"] * t
    starts = b["indptr"][:-1]
    moving = starts + k
    slope = w[moving] - b["debt_value"][moving]
    others_w = np.add.reduceat(w, starts) - w[moving]
    others_d = np.add.reduceat(b["debt_value"], starts) - b["debt_value"][moving]
    with np.errstate(divide="ignore", invalid="ignore"):
        m = (others_d - others_w) / slope
        lp = price * m
    return np.where((m > 0.0) & (lp < np.inf), lp, np.nan)


@numba.njit(cache=True, nogil=True)
def _stream(a: Any, b: Any, c: Any, d: Any, x: Any, y: Any) -> None:
    # Morpho's memory traffic (read 4 arrays, write 2) with trivial arithmetic.
    for i in range(a.shape[0]):
        x[i] = a[i] + b[i]
        y[i] = c[i] * d[i]


def rel_diff(a: np.ndarray, b: np.ndarray) -> tuple[bool, float]:
    """Same non-finite pattern, and the largest relative difference of the finite entries."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    same = bool(np.array_equal(fa, fb) and np.array_equal(np.isnan(a), np.isnan(b)))
    if not same or not fa.any():
        return same, 0.0
    return same, float(np.max(np.abs(a[fa] - b[fa]) / np.maximum(np.abs(b[fa]), 1e-300)))


def measure(variants: dict[str, Callable[[], object]], n: int, reps: int, baseline: str) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, fn in variants.items():
        times = timeit(fn, reps)
        med = statistics.median(times)
        results[name] = {"median_s": med, "best_s": min(times), "times_s": times, "positions_per_s": n / med}
    base = results[baseline]["median_s"]
    for r in results.values():
        r["speedup_vs_numpy"] = base / r["median_s"]
    return results


def show(title: str, results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'variant':50s} {'median s':>9s} {'best s':>9s} {'Mpos/s':>8s} {'x numpy':>8s}")
    for name, r in results.items():
        print(
            f"{name:50s} {r['median_s']:9.4f} {r['best_s']:9.4f} {r['positions_per_s'] / 1e6:8.1f} "
            f"{r['speedup_vs_numpy']:8.1f}"
        )


def run_morpho(n: int, reps: int) -> dict[str, Any]:
    p = morpho_book(n)
    c, b, px, q = p["collateral"], p["borrow_assets"], p["price"], p["lltv"]
    hf, liq = np.empty(n), np.empty(n)

    def kernel() -> None:
        morpho_positions_nb(c, b, px, q, hf, liq)

    def facade() -> object:
        return morpho_position_arrays(c, b, px, q)

    def baseline() -> object:
        return numpy_morpho_positions(c, b, px, q)

    def stream() -> None:
        _stream(c, b, px, q, hf, liq)

    for fn in (kernel, facade, baseline, stream):  # compile or load, fault every page in
        fn()
    kernel()
    ref_hf, ref_liq = numpy_morpho_positions(c, b, px, q)
    parity = {
        "hf_vs_numpy": rel_diff(hf, ref_hf),
        "liquidation_price_vs_numpy": rel_diff(liq, ref_liq),
        "facade_bitwise": bool(np.array_equal(morpho_position_arrays(c, b, px, q).health_factor, hf)),
        "liquidatable_share": float(np.mean(hf < 1.0)),
    }
    print(f"Morpho parity: {parity}")
    variants = {
        "numba kernel morpho_positions_nb (preallocated)": kernel,
        "facade morpho_position_arrays (checks, allocates)": facade,
        "numpy baseline numpy_morpho_positions": baseline,
        "memory-bound reference (4 reads, 2 writes)": stream,
    }
    results = measure(variants, n, reps, "numpy baseline numpy_morpho_positions")
    show(f"Morpho-style, N = {n:,} positions, 1 thread", results)
    return {"parity": parity, "results": results}


def run_aave(n: int, reps: int) -> dict[str, Any]:
    bk = aave_book(n)
    keys = ("indptr", "collateral_value", "debt_value", "lt", "ltv", "emode_lt", "emode_ltv")
    args = [bk[k] for k in keys]
    outs = [np.empty(n) for _ in range(4)]
    k = np.zeros(n, dtype=np.int64)  # the first collateral moves
    price = np.full(n, 3_000.0)
    lp = np.empty(n)
    liq_args = [bk[key] for key in ("indptr", "collateral_value", "debt_value", "lt", "emode_lt")]

    def kernel() -> None:
        aave_accounts_nb(*args, *outs)

    def facade() -> object:
        return aave_account_arrays(*args[:5], emode_lt=bk["emode_lt"], emode_ltv=bk["emode_ltv"])

    def baseline() -> object:
        return numpy_aave_accounts(*args)

    def liq_kernel() -> None:
        aave_liquidation_prices_nb(*liq_args, k, price, lp)

    def liq_facade() -> object:
        return aave_liquidation_prices(*liq_args[:4], k, price, emode_lt=bk["emode_lt"])

    def liq_baseline() -> object:
        return numpy_aave_liquidation_prices(bk, k, price)

    for fn in (kernel, facade, baseline, liq_kernel, liq_facade, liq_baseline):
        fn()
    kernel()
    liq_kernel()
    ref = numpy_aave_accounts(*args)
    names = ("health_factor", "total_collateral", "total_debt", "available_borrows")
    parity: dict[str, Any] = {f"{nm}_vs_numpy": rel_diff(o, r) for nm, o, r in zip(names, outs, ref, strict=True)}
    parity["liquidation_price_vs_numpy"] = rel_diff(lp, numpy_aave_liquidation_prices(bk, k, price))
    got = facade()
    parity["facade_bitwise"] = bool(all(np.array_equal(getattr(got, nm), o) for nm, o in zip(names, outs, strict=True)))
    parity["liquidatable_share"] = float(np.mean(outs[0] < 1.0))
    print(f"Aave parity: {parity}")
    del ref, got
    gc.collect()
    variants = {
        "numba kernel aave_accounts_nb (preallocated)": kernel,
        "facade aave_account_arrays (checks, allocates)": facade,
        "numpy baseline numpy_aave_accounts": baseline,
    }
    results = measure(variants, n, reps, "numpy baseline numpy_aave_accounts")
    show(f"Aave-style, N = {n:,} accounts x 3 rows (2 collaterals + 1 debt, 20 % e-mode), 1 thread", results)
    liq_variants = {
        "numba kernel aave_liquidation_prices_nb": liq_kernel,
        "facade aave_liquidation_prices": liq_facade,
        "numpy baseline (segment sums minus the row)": liq_baseline,
    }
    liq_results = measure(liq_variants, n, reps, "numpy baseline (segment sums minus the row)")
    show("Aave-style liquidation price of the first collateral, same accounts, 1 thread", liq_results)
    return {"parity": parity, "results": results, "liquidation_price_results": liq_results}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="positions (accounts) per workload")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per variant")
    ap.add_argument("--json", metavar="PATH", default=str(RESULTS), help="write the results as JSON here")
    args = ap.parse_args()
    n, reps = args.n, args.repeats
    info = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "omp_threads": os.environ["OMP_NUM_THREADS"],
        "n": n,
        "repeats": reps,
        "seed": SEED,
    }
    print(
        f"N={n:,} repeats={reps} cpu={info['cpu']} cores={info['cores']} load={info['load_average_1m']:.2f} "
        f"numba={numba.__version__} numpy={np.__version__} numba threads={info['numba_threads']} "
        f"OMP/BLAS threads={info['omp_threads']}"
    )
    morpho = run_morpho(n, reps)
    gc.collect()
    aave = run_aave(n, reps)
    verdicts = {}
    for label, res, key in (
        ("Morpho", morpho["results"], "numba kernel morpho_positions_nb (preallocated)"),
        ("Aave", aave["results"], "numba kernel aave_accounts_nb (preallocated)"),
    ):
        med = res[key]["median_s"] * 1e7 / n
        verdicts[label] = med < 1.0
        verdict = "MET" if med < 1.0 else "NOT MET"
        scaled = "" if n == 10_000_000 else f", scaled from N = {n:,}"
        print(f"target HF of 10M {label}-style positions < 1 s on 1 thread: {verdict} ({med:.3f} s{scaled})")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"machine": info, "morpho": morpho, "aave": aave, "target_met": verdicts}
        path.write_text(json.dumps(payload, indent=2))
        print(f"results: {path}")


if __name__ == "__main__":
    main()
