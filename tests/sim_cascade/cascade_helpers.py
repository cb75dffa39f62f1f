"""Small populations and paths for the cascade-kernel tests."""

from __future__ import annotations

import numpy as np

from levguard.kernels import cascade as kc


def inputs(
    n: int = 400,
    n_steps: int = 300,
    seed: int = 0,
    *,
    partial: float = 1.0,
    adl: bool = True,
    latency: int = 0,
    lag: int = 0,
    fund: float = 1e5,
    depth: float = 2e4,
    dyn: bool = False,
    sources: int = 1,
) -> tuple[np.ndarray, ...]:
    """A two-sided population around 60,000, a noisy path with a sell-off, thin depth."""
    rng = np.random.default_rng(seed)
    p0 = 60_000.0
    side = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    lev = rng.choice(np.array([3.0, 5.0, 10.0, 20.0, 50.0]), n)
    entry = p0 * np.exp(rng.normal(0.0, 0.01, n))
    notional = np.exp(rng.normal(np.log(20_000.0), 1.0, n))
    qty = notional / entry
    acc = np.ascontiguousarray(np.column_stack([side, qty, entry, notional / lev]))
    tiers = np.array([[50_000.0, 0.004, 0.0], [250_000.0, 0.005, 50.0], [np.inf, 0.01, 1_300.0]])
    r = rng.normal(0.0, 0.002, n_steps)
    r[n_steps // 3 : n_steps // 3 + 20] -= 0.004
    r[2 * n_steps // 3 : 2 * n_steps // 3 + 15] += 0.005
    exo = p0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    dm = np.ones(n_steps + 1)
    dm[n_steps // 3 : n_steps // 2] = 0.3
    oracle = np.ones((n_steps + 1, sources))
    cfg = np.zeros(kc.N_CFG)
    cfg[kc.CFG_FUND] = fund
    cfg[kc.CFG_LIQ_FEE] = 0.005
    cfg[kc.CFG_PARTIAL] = partial
    cfg[kc.CFG_PARTIAL_MIN] = 30_000.0
    cfg[kc.CFG_IMPACT_KIND] = kc.IMPACT_LINEAR
    cfg[kc.CFG_DEPTH] = depth
    cfg[kc.CFG_HALF_LIFE] = 30.0
    cfg[kc.CFG_LATENCY] = latency
    cfg[kc.CFG_ADL] = 1.0 if adl else 0.0
    cfg[kc.CFG_MAX_ROUNDS] = 100
    cfg[kc.CFG_MARK_LAG] = lag
    cfg[kc.CFG_DYN_ON] = 1.0 if dyn else 0.0
    cfg[kc.CFG_DYN_BASE_VOL] = 0.5
    cfg[kc.CFG_DYN_WINDOW] = 60
    cfg[kc.CFG_DYN_EVERY] = 30
    cfg[kc.CFG_DYN_MIN] = 1.0
    cfg[kc.CFG_DYN_MAX] = 3.0
    cfg[kc.CFG_STEPS_PER_YEAR] = 525_600.0
    return acc, tiers, exo, dm, oracle, cfg


def run(fn: object, args: tuple[np.ndarray, ...], *, naive: bool = False, cap: int = 100_000) -> tuple[np.ndarray, ...]:
    """Call a cascade kernel; return (steps, events, accounts, counts)."""
    acc, tiers, exo, dm, oracle, cfg = args
    cfg = cfg.copy()
    cfg[kc.CFG_NAIVE] = 1.0 if naive else 0.0
    steps = np.zeros((exo.shape[0], kc.N_STEP))
    events = np.zeros((cap, kc.N_EV))
    out_acc = np.zeros((acc.shape[0], kc.N_OUT_ACC))
    counts = np.zeros(kc.N_COUNTS, dtype=np.int64)
    fn(acc, tiers, exo, dm, oracle, cfg, steps, events, out_acc, counts)  # type: ignore[operator]
    return steps, events[: counts[kc.COUNT_EVENTS]], out_acc, counts
