"""Speed of the synthetic market generator: 10 years of 1-minute bars (issue 4).

Run: ``.venv/bin/python bench/bench_synth.py [--years 10] [--interval 1m] [--repeats 5] [--json out.json]``.

Variants, all on the same inputs in the same process, medians of ``--repeats`` runs, JIT compiled
(or loaded from numba's cache) before timing:

* ``synth_market`` end to end: random variates (NumPy PCG64), regime chain, path kernel,
  funding, and the pandas frames; and the random variates alone.
* the compiled path kernel ``market_path_nb`` alone, on the exact arrays ``synth_market`` passes
  it (captured from a real call).
* a plain NumPy baseline of the same model without crashes (GARCH recursion in a Python loop
  over hours, every per-bar quantity vectorised, the basis AR(1) by ``scipy.signal.lfilter``),
  against the compiled kernel on the same crash-free inputs; parity checked.
* the plain-Python twin ``market_path_py`` on the first ``--py-fraction`` of the bars (the full
  run would take minutes), against the compiled kernel on the same slice; per-bar ratio.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.signal import lfilter  # noqa: E402

import levguard.data.synth as sm  # noqa: E402
from _util import cpu_model, timeit  # noqa: E402
from levguard.kernels import load_numba  # noqa: E402
from levguard.kernels import synth as ks  # noqa: E402

numba = load_numba()  # numba's TBB threading layer (kernels._jit._preload_tbb)

SEED = 20240601


def capture_kernel_args(cfg: sm.SynthConfig) -> tuple[Any, ...]:
    """Run ``synth_market`` once and return the arguments it passed to ``market_path_nb``."""
    seen: list[tuple[Any, ...]] = []
    original = sm.market_path_nb

    def spy(*args: Any) -> None:
        seen.append(args)
        original(*args)

    sm.market_path_nb = spy
    try:
        sm.synth_market(cfg)
    finally:
        sm.market_path_nb = original
    return seen[0]


def numpy_market_path(
    k: int,
    p0: float,
    regime: np.ndarray,
    var_h: np.ndarray,
    drift_h: np.ndarray,
    garch: np.ndarray,
    jump_p: np.ndarray,
    jump_sizes: np.ndarray,
    vol_params: np.ndarray,
    vol_level: np.ndarray,
    mark_params: np.ndarray,
    z: np.ndarray,
    u_jump: np.ndarray,
    u_hi: np.ndarray,
    u_lo: np.ndarray,
    n_vol: np.ndarray,
    n_basis: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain NumPy version of ``market_path_py`` without crashes (the benchmark baseline)."""
    n = z.shape[0]
    hours = -(-n // k)
    alpha, beta = garch[0], garch[1]
    zpad = np.zeros(hours * k)
    zpad[:n] = z
    zh = zpad.reshape(hours, k).sum(axis=1) / math.sqrt(k)
    g = np.empty(hours)
    g[0] = 1.0
    omega = 1.0 - alpha - beta
    gv, zl = 1.0, zh.tolist()
    for h in range(1, hours):  # the GARCH recursion is sequential: one Python step per hour
        gv = omega + alpha * gv * zl[h - 1] * zl[h - 1] + beta * gv
        g[h] = gv
    reg = regime[:hours]
    s2 = np.repeat(var_h[reg] * g / k, k)[:n]
    s = np.sqrt(s2)
    step_reg = np.repeat(reg, k)[:n]
    jp = jump_p[step_reg]
    p_down, eta_d, eta_u = jump_sizes
    jump = np.zeros(n)
    hit = u_jump < jp
    v = u_jump[hit] / jp[hit]
    down = v < p_down
    sizes = np.empty(v.shape[0])
    sizes[down] = eta_d * np.log(1.0 - v[down] / p_down)
    sizes[~down] = -eta_u * np.log(1.0 - (v[~down] - p_down) / (1.0 - p_down))
    jump[hit] = sizes
    r = drift_h[step_reg] / k + s * z + jump
    x_close = math.log(p0) + np.cumsum(r)
    x_open = np.concatenate(([math.log(p0)], x_close[:-1]))
    root_hi = np.sqrt(r * r - 2.0 * s2 * np.log(1.0 - u_hi))
    root_lo = np.sqrt(r * r - 2.0 * s2 * np.log(1.0 - u_lo))
    o = np.exp(x_open)
    c = np.exp(x_close)
    h = np.exp(x_open + 0.5 * (r + root_hi))
    lo = np.exp(x_open + 0.5 * (r - root_lo))
    log_v, c_abs, sigma_v = vol_params
    a = np.minimum(np.abs(r) / s, 8.0)
    volume = np.exp(log_v - 0.5 * sigma_v**2 + vol_level[step_reg] + c_abs * (a - 0.8) + sigma_v * n_vol)
    phi_b, sigma_b, theta = mark_params
    b = lfilter([1.0], [1.0, -phi_b], sigma_b * math.sqrt(1.0 - phi_b * phi_b) * n_basis)
    mc = c * (1.0 + b)
    mo = np.concatenate(([p0], mc[:-1]))
    top, bot = np.maximum(o, c), np.minimum(o, c)
    mh = np.maximum(mo, mc) * (1.0 + theta * (h / top - 1.0))
    ml = np.minimum(mo, mc) * (1.0 - theta * (1.0 - lo / bot))
    return np.vstack([o, h, lo, c]), np.vstack([mo, mh, ml, mc]), volume


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--interval", default="1m")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--py-fraction", type=float, default=0.01, help="share of the bars run through the Python twin")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    cfg = sm.SynthConfig(years=args.years, interval=args.interval, seed=SEED)
    n = cfg.n_bars()
    reps = args.repeats

    # Warm-up: compile or load every kernel, fault in the allocator's pages.
    sm.synth_market(cfg.replace(years=0.01))
    kargs = capture_kernel_args(cfg)
    k = kargs[0]
    head, rand = kargs[:13], kargs[13:19]
    crash_start, crash_params = kargs[11], kargs[12]
    no_crash = (np.zeros(0, dtype=np.int64), np.zeros((0, 6)))
    outs = (np.empty((4, n)), np.empty((4, n)), np.empty(n))

    def pipeline() -> object:
        return sm.synth_market(cfg)

    def variates() -> object:
        # The six per-bar arrays synth_market draws (same generators and calls).
        _, g_z, g_u, g_n, _ = sm._streams(cfg.seed)
        nu = cfg.params.t_dof
        z = g_z.standard_t(nu, n) * math.sqrt((nu - 2.0) / nu)
        return z, g_u.random(n), g_u.random(n), g_u.random(n), g_n.standard_normal(n), g_n.standard_normal(n)

    def kernel() -> None:
        ks.market_path_nb(*head, *rand, *outs)

    def kernel_no_crash() -> None:
        ks.market_path_nb(*head[:11], *no_crash, *rand, *outs)

    def baseline() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return numpy_market_path(*head[:11], *rand)

    # Parity of the NumPy baseline with the compiled kernel (same crash-free model).
    kernel_no_crash()
    ref = baseline()
    names = ("ohlc", "mark", "volume")
    parity = {name: float(np.max(np.abs(a / b - 1.0))) for name, a, b in zip(names, ref, outs, strict=True)}
    print(f"parity numpy baseline vs kernel (no crashes), max rel diff: {parity}")

    # Python twin on a leading slice (whole hours, crashes that fit in it).
    m = max(k, (int(n * args.py_fraction) // k) * k)
    hours_m = m // k
    keep = crash_start + crash_params[:, 0].astype(np.int64) + 24 < hours_m
    small_head = (*head[:11], crash_start[keep], crash_params[keep])
    small_rand = tuple(a[:m] for a in rand)
    small_outs = (np.empty((4, m)), np.empty((4, m)), np.empty(m))
    small_outs_py = (np.empty((4, m)), np.empty((4, m)), np.empty(m))

    def kernel_small() -> None:
        ks.market_path_nb(*small_head, *small_rand, *small_outs)

    def python_small() -> None:
        ks.market_path_py(*small_head, *small_rand, *small_outs_py)

    kernel_small()
    python_small()
    twin_equal = all(np.array_equal(a, b) for a, b in zip(small_outs, small_outs_py, strict=True))
    print(f"python twin == compiled kernel bitwise on {m:,} bars: {twin_equal}")

    variants: dict[str, tuple[Callable[[], object], int, int]] = {
        "synth_market end to end (RNG + kernels + frames)": (pipeline, n, reps),
        "random variates only (NumPy PCG64: t, 3 uniforms, 2 normals per bar)": (variates, n, reps),
        "market_path_nb kernel (with crashes)": (kernel, n, reps),
        "market_path_nb kernel (no crashes)": (kernel_no_crash, n, reps),
        "NumPy baseline (no crashes)": (baseline, n, reps),
        f"market_path_nb kernel, first {m:,} bars": (kernel_small, m, max(reps, 51)),
        f"market_path_py Python twin, first {m:,} bars": (python_small, m, max(1, min(reps, 3))),
    }
    results: dict[str, dict[str, Any]] = {}
    for name, (fn, bars, r) in variants.items():
        times = timeit(fn, r)
        med = statistics.median(times)
        results[name] = {"median_s": med, "min_s": min(times), "times_s": times, "bars": bars, "bars_per_s": bars / med}
        print(f"  {name}: median {med:.4f} s, {bars / med / 1e6:.2f} M bars/s")
    kn = results["market_path_nb kernel (no crashes)"]["median_s"]
    np_base = results["NumPy baseline (no crashes)"]["median_s"]
    k_small = results[f"market_path_nb kernel, first {m:,} bars"]["median_s"]
    py_small = results[f"market_path_py Python twin, first {m:,} bars"]["median_s"]
    ratios = {
        "kernel_vs_numpy": np_base / kn,
        "kernel_vs_python_per_bar": (py_small / m) / (k_small / m),
        "python_twin_extrapolated_full_s": py_small / m * n,
    }
    info = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "pandas": pd.__version__,
        "bars": n,
        "years": args.years,
        "interval": args.interval,
        "crashes": int(crash_start.shape[0]),
        "repeats": reps,
        "seed": SEED,
    }
    print(
        f"N={n:,} bars ({args.years:g} years of {args.interval}), {info['crashes']} crashes, cpu={info['cpu']}, "
        f"numba={numba.__version__}, numpy={np.__version__}"
    )
    print(
        f"kernel vs NumPy baseline: {ratios['kernel_vs_numpy']:.1f}x; kernel vs Python twin per bar: "
        f"{ratios['kernel_vs_python_per_bar']:.0f}x (Python twin extrapolated to N: "
        f"{ratios['python_twin_extrapolated_full_s']:.0f} s)"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"machine": info, "parity": {"numpy_max_rel": parity, "twin_bitwise": twin_equal}, "results": results,
                 "ratios": ratios},
                fh,
                indent=2,
            )  # fmt: skip


if __name__ == "__main__":
    main()
