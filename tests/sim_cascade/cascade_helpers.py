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


def event_values(acc: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Value traded by each event against the book or the ADL counterparty, from the outputs:
    ``qty_signed * (price - entry)`` (book fills at the fill price, both ADL legs at the
    bankruptcy price)."""
    i = events[:, kc.EV_ACCOUNT].astype(np.int64)
    return events[:, kc.EV_QTY] * (events[:, kc.EV_PRICE] - acc[i, kc.ACC_ENTRY])


def money_residual(args: tuple[np.ndarray, ...], out: tuple[np.ndarray, ...]) -> tuple[float, float]:
    """(lhs - rhs, scale) of ``sum PnL + (fund_end - fund0) - bad_debt == sum event values``."""
    acc, cfg = args[0], args[5]
    steps, events, out_acc, counts = out
    assert counts[kc.COUNT_OVERFLOW] == 0
    values = event_values(acc, events)
    pnl = out_acc[:, kc.OUT_PNL]
    fund_change = steps[-1, kc.STEP_FUND] - cfg[kc.CFG_FUND]
    bad = steps[-1, kc.STEP_BAD_DEBT]
    lhs = float(np.sum(pnl) + fund_change - bad)
    rhs = float(np.sum(values))
    scale = float(np.sum(np.abs(values)) + np.sum(np.abs(pnl)) + abs(fund_change) + bad + 1.0)
    return lhs - rhs, scale


def small_case(
    seed: int,
    *,
    n: int = 40,
    n_steps: int = 60,
    longs_only: bool = False,
    falling: bool = False,
    partial: float = 1.0,
    latency: int = 0,
    lag: int = 0,
    fund: float = 0.0,
    adl: bool = True,
    depth: float = 2e3,
    half_life: float = 20.0,
    zero_impact: bool = False,
    sources: int = 1,
) -> tuple[np.ndarray, ...]:
    """A small random case: leverage 2-50, entries around 60,000, a random walk with a sell-off
    (or, ``falling``, a non-increasing path), constant depth."""
    rng = np.random.default_rng(seed)
    p0 = 60_000.0
    side = np.ones(n) if longs_only else np.where(rng.random(n) < 0.5, 1.0, -1.0)
    lev = rng.uniform(2.0, 50.0, n)
    entry = p0 * np.exp(rng.normal(0.0, 0.01, n))
    notional = np.exp(rng.normal(np.log(20_000.0), 0.8, n))
    acc = np.ascontiguousarray(np.column_stack([side, notional / entry, entry, notional / lev]))
    tiers = np.array([[50_000.0, 0.004, 0.0], [250_000.0, 0.005, 50.0], [np.inf, 0.01, 1_300.0]])
    if falling:
        r = -np.abs(rng.normal(0.0, 0.004, n_steps))
    else:
        r = rng.normal(0.0, 0.004, n_steps)
        r[n_steps // 3 : n_steps // 3 + 8] -= 0.006
    exo = p0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    dm = np.ones(n_steps + 1)
    oracle = np.ones((n_steps + 1, sources))
    cfg = np.zeros(kc.N_CFG)
    cfg[kc.CFG_FUND] = fund
    cfg[kc.CFG_LIQ_FEE] = 0.005
    cfg[kc.CFG_PARTIAL] = partial
    cfg[kc.CFG_PARTIAL_MIN] = 10_000.0
    if zero_impact:
        cfg[kc.CFG_IMPACT_KIND] = kc.IMPACT_SQRT
        cfg[kc.CFG_DEPTH] = 1e9
        cfg[kc.CFG_IMPACT_COEF] = 0.0
    else:
        cfg[kc.CFG_IMPACT_KIND] = kc.IMPACT_LINEAR
        cfg[kc.CFG_DEPTH] = depth
    cfg[kc.CFG_HALF_LIFE] = half_life
    cfg[kc.CFG_LATENCY] = latency
    cfg[kc.CFG_ADL] = 1.0 if adl else 0.0
    cfg[kc.CFG_MAX_ROUNDS] = 100
    cfg[kc.CFG_MARK_LAG] = lag
    cfg[kc.CFG_DYN_BASE_VOL] = 0.5
    cfg[kc.CFG_DYN_WINDOW] = 20
    cfg[kc.CFG_DYN_EVERY] = 10
    cfg[kc.CFG_DYN_MIN] = 1.0
    cfg[kc.CFG_DYN_MAX] = 3.0
    cfg[kc.CFG_STEPS_PER_YEAR] = 525_600.0
    return acc, tiers, exo, dm, oracle, cfg
