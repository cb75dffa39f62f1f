"""Monte Carlo probability of liquidation: path-steps per second, numba kernels vs plain NumPy (issue 3).

Run: ``.venv/bin/python bench/bench_liquidation.py [--paths 200000] [--steps 1000] [--repeats 5]
[--threads 2] [--json out.json]``.  The numba kernels run on ``--threads`` threads (prange over
paths); the NumPy baselines are single-threaded, vectorised over paths with a Python loop over
steps.  JIT compiled before timing; medians of ``--repeats`` runs.
"""

from __future__ import annotations

import os
import sys

# Parse --threads before numba is imported: NUMBA_NUM_THREADS is read at import.
_threads = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _threads = sys.argv[_i + 1]
    elif _a.startswith("--threads="):
        _threads = _a.split("=", 1)[1]
os.environ["NUMBA_NUM_THREADS"] = _threads
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from _util import cpu_model, timeit  # noqa: E402
from levguard.kernels import load_numba  # noqa: E402
from levguard.kernels.paths import (  # noqa: E402
    JUMP_NONE,
    JUMP_NORMAL,
    garch_t_fpt_nb,
    garch_t_fpt_py,
    jump_diffusion_fpt_nb,
    jump_diffusion_fpt_py,
)

numba = load_numba()  # numba's TBB threading layer (kernels._jit._preload_tbb)

SEED = 20240601
DAYS = 365.0


@dataclass(frozen=True)
class Workload:
    """One benchmark model: BTC-like long, 80 % vol, 30-day horizon, continuous monitoring."""

    name: str
    model: str  # "gbm", "merton" or "garch_t"
    liq_ratio: float  # liquidation price / price
    sigma: float = 0.8
    horizon_days: float = 30.0
    lam: float = 0.0  # Merton: jumps per year
    jump_mean: float = 0.0
    jump_std: float = 0.0
    alpha: float = 0.0  # GARCH(1,1)-t per step
    beta: float = 0.0
    dof: float = math.inf

    @property
    def barrier(self) -> float:
        return math.log(self.liq_ratio)

    def nu(self) -> float:
        kappa = math.expm1(self.jump_mean + 0.5 * self.jump_std**2) if self.lam > 0 else 0.0
        return -0.5 * self.sigma**2 - self.lam * kappa  # mu = 0


WORKLOADS = [
    Workload("GBM, LP 50% below (P~0.4%)", "gbm", 0.5),
    Workload("GBM, LP 20% below (P~37%, early exit)", "gbm", 0.8),
    Workload("Merton jumps (20/yr, -5% +/- 8%), LP 50% below", "merton", 0.5, lam=20.0, jump_mean=-0.05, jump_std=0.08),
    Workload("GARCH(1,1)-t(5) (alpha .05, beta .94), LP 50% below", "garch_t", 0.5, alpha=0.05, beta=0.94, dof=5.0),
]


# --- the numba kernels ------------------------------------------------------------------------
def kernel_call(w: Workload, n_paths: int, n_steps: int, py: bool = False) -> Callable[[], tuple[Any, Any]]:
    dt_y = w.horizon_days / DAYS / n_steps
    hit = np.zeros(n_paths, dtype=np.bool_)
    tau = np.full(n_paths, math.inf)
    if w.model == "garch_t":
        h0 = w.sigma**2 * dt_y
        omega = h0 * (1.0 - w.alpha - w.beta)  # unconditional variance = sigma^2 dt
        fn = garch_t_fpt_py if py else garch_t_fpt_nb

        def run_garch() -> tuple[Any, Any]:
            fn(SEED, n_steps, dt_y, 0.0, -0.5, omega, w.alpha, w.beta, w.dof, h0, w.barrier, True, 1, hit, tau)
            return hit, tau

        return run_garch
    kind = JUMP_NORMAL if w.model == "merton" else JUMP_NONE
    jd = jump_diffusion_fpt_py if py else jump_diffusion_fpt_nb

    def run_jd() -> tuple[Any, Any]:
        jd(SEED, n_steps, dt_y, w.nu(), w.sigma, w.barrier, True, w.lam, kind, w.jump_mean, w.jump_std, 0.0, hit, tau)
        return hit, tau

    return run_jd


# --- the NumPy baselines (same model, step and bridge correction; NumPy's PCG64 variates) -------
def numpy_paths(w: Workload, n_paths: int, n_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised over paths, Python loop over steps; every path runs every step (no early exit).

    Per step: Gaussian (or standardised Student-t) increment, optional Merton jumps (Poisson
    count and a normal sum, applied at the end of the step, after the bridge test of the
    diffusive part), the Brownian-bridge crossing test with a uniform, and the first-passage
    time (middle of the step, as in the kernel).
    """
    rng = np.random.default_rng(seed)
    dt_y = w.horizon_days / DAYS / n_steps
    b = w.barrier
    y = np.zeros(n_paths)
    hit = np.zeros(n_paths, dtype=np.bool_)
    tau = np.full(n_paths, np.inf)
    yn = np.empty(n_paths)
    e = np.empty(n_paths)
    now = np.empty(n_paths, dtype=np.bool_)
    garch = w.model == "garch_t"
    h = np.full(n_paths, w.sigma**2 * dt_y)
    omega = w.sigma**2 * dt_y * (1.0 - w.alpha - w.beta)
    t_scale = math.sqrt((w.dof - 2.0) / w.dof) if garch and math.isfinite(w.dof) else 1.0
    drift, vol = w.nu() * dt_y, w.sigma * math.sqrt(dt_y)
    var_dt = w.sigma**2 * dt_y
    for i in range(n_steps):
        if garch:
            z = rng.standard_t(w.dof, n_paths) if math.isfinite(w.dof) else rng.standard_normal(n_paths)
            z *= t_scale
            eps = np.sqrt(h)
            eps *= z
            np.subtract(y, 0.5 * h, out=yn)
            yn += eps
            var = h
        else:
            z = rng.standard_normal(n_paths)
            z *= vol
            np.add(y, drift, out=yn)
            yn += z
            var = var_dt
        # Bridge: P(cross) = exp(-2 (y - b)(yn - b) / var) when both are above b.
        np.subtract(y, b, out=e)
        e *= yn - b
        e *= -2.0
        e /= var
        np.minimum(e, 0.0, out=e)
        np.exp(e, out=e)
        u = rng.random(n_paths)
        np.less(u, e, out=now)
        now |= yn <= b
        now &= ~hit
        tau[now] = (i + 0.5) * dt_y
        hit |= now
        if w.model == "merton":
            k = rng.poisson(w.lam * dt_y, n_paths)
            jumped = k > 0
            m = int(jumped.sum())
            if m:
                kk = k[jumped]
                yn[jumped] += kk * w.jump_mean + np.sqrt(kk) * w.jump_std * rng.standard_normal(m)
                after = jumped & (yn <= b) & ~hit
                tau[after] = (i + 1) * dt_y
                hit |= after
        if garch:
            h = omega + w.alpha * (eps * eps) + w.beta * h
        y, yn = yn, y
    return hit, tau


def simulated_steps(tau: np.ndarray, n_steps: int, dt_y: float) -> int:
    # Steps a kernel actually runs: up to the step of the first passage (it stops there).
    hit = np.isfinite(tau)
    steps = np.full(tau.shape[0], n_steps, dtype=np.int64)
    steps[hit] = np.minimum(np.floor(tau[hit] / dt_y + 1e-9).astype(np.int64) + 1, n_steps)
    return int(steps.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--paths", type=int, default=200_000, help="Monte Carlo paths")
    ap.add_argument("--steps", type=int, default=1_000, help="steps per path (30-day horizon)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per variant")
    ap.add_argument("--threads", type=int, default=2, help="numba threads (read before import)")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    args = ap.parse_args()
    n_paths, n_steps, reps = args.paths, args.steps, args.repeats
    nominal = n_paths * n_steps
    threads = numba.get_num_threads()

    info = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_avg_1m_at_start": os.getloadavg()[0],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": threads,
        "threading_layer": None,
        "paths": n_paths,
        "steps": n_steps,
        "repeats": reps,
        "seed": SEED,
    }
    print(
        f"paths={n_paths:,} steps={n_steps:,} repeats={reps} cpu={info['cpu']} cores={info['cores']} "
        f"numba={numba.__version__} numpy={np.__version__} numba threads={threads} "
        f"load(1m)={info['load_avg_1m_at_start']:.2f}"
    )

    # Parity: Python twin vs compiled kernel on the first paths (per-path streams, so the first
    # k paths of the big run are exactly the k-path run).
    k = 64
    parity = {}
    for w in WORKLOADS:
        hit_py, tau_py = kernel_call(w, k, n_steps, py=True)()
        hit_nb, tau_nb = kernel_call(w, k, n_steps)()
        parity[w.name] = bool(np.array_equal(hit_py, hit_nb) and np.array_equal(tau_py, tau_nb))
    info["threading_layer"] = numba.threading_layer()
    print(f"parity python twin == compiled kernel bitwise ({k} paths x {n_steps} steps): {parity}")

    results: list[dict[str, Any]] = []
    for w in WORKLOADS:
        kern = kernel_call(w, n_paths, n_steps)
        kern()  # warm-up (compile or load from cache, fault in pages)
        hit, tau = kern()
        p_k = float(hit.mean())
        steps_k = simulated_steps(tau, n_steps, w.horizon_days / DAYS / n_steps)
        t_kernel = timeit(kern, reps)
        t_one: list[float] = []
        if w is WORKLOADS[0] and threads > 1:
            numba.set_num_threads(1)
            t_one = timeit(kern, reps)
            numba.set_num_threads(threads)
        seeds = iter(range(SEED, SEED + reps + 1))
        hit_np, _ = numpy_paths(w, n_paths, n_steps, next(seeds))
        p_np = float(hit_np.mean())
        t_numpy = timeit(lambda w=w, s=seeds: numpy_paths(w, n_paths, n_steps, next(s)), reps)
        se = math.sqrt(max(p_k * (1 - p_k), 1e-12) / n_paths)
        med_k, med_np = statistics.median(t_kernel), statistics.median(t_numpy)
        r: dict[str, Any] = {
            "workload": w.name,
            "prob_kernel": p_k,
            "prob_numpy": p_np,
            "diff_in_se": (p_k - p_np) / (math.sqrt(2.0) * se),
            "kernel_median_s": med_k,
            "kernel_min_s": min(t_kernel),
            "kernel_times_s": t_kernel,
            "numpy_median_s": med_np,
            "numpy_min_s": min(t_numpy),
            "numpy_times_s": t_numpy,
            "nominal_path_steps": nominal,
            "kernel_simulated_path_steps": steps_k,
            "kernel_nominal_path_steps_per_s": nominal / med_k,
            "kernel_simulated_path_steps_per_s": steps_k / med_k,
            "numpy_path_steps_per_s": nominal / med_np,
            "speedup_vs_numpy": med_np / med_k,
        }
        if t_one:
            r["kernel_1thread_median_s"] = statistics.median(t_one)
            r["kernel_1thread_simulated_path_steps_per_s"] = steps_k / statistics.median(t_one)
        results.append(r)
        print(
            f"{w.name}\n  P kernel {p_k:.5f} vs NumPy {p_np:.5f} ({r['diff_in_se']:+.2f} SE of the difference)\n"
            f"  numba ({threads} thr) median {med_k:.3f} s (min {min(t_kernel):.3f}): "
            f"{steps_k / med_k / 1e6:.1f} M simulated path-steps/s, {nominal / med_k / 1e6:.1f} M nominal\n"
            f"  NumPy       median {med_np:.3f} s (min {min(t_numpy):.3f}): "
            f"{nominal / med_np / 1e6:.1f} M path-steps/s\n"
            f"  speedup {med_np / med_k:.1f}x"
            + (
                f"\n  numba 1 thread median {statistics.median(t_one):.3f} s: "
                f"{steps_k / statistics.median(t_one) / 1e6:.1f} M simulated path-steps/s"
                if t_one
                else ""
            )
        )
    head = results[0]["kernel_simulated_path_steps_per_s"]
    print(
        f"target 1e8 path-steps/s (GBM with bridge, {threads} threads): "
        f"{'MET' if head >= 1e8 else 'NOT MET'} ({head / 1e6:.1f} M/s)"
    )
    info["load_avg_1m_at_end"] = os.getloadavg()[0]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": info, "parity_bitwise": parity, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
