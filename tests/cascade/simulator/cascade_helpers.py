"""Small populations and paths for the cascade-kernel tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from levguard.kernels import cascade as kc
from levguard.kernels import readonly

Case = tuple[Any, ...]  # (Accounts, Tiers, exo, depth_mult, oracle, CascadeConfig)
Out = tuple[Any, ...]  # (CascadeSteps, events (EVENT_DTYPE), FinalAccounts, CascadeCounts)

TIERS = ((50_000.0, 0.004, 0.0), (250_000.0, 0.005, 50.0), (np.inf, 0.01, 1_300.0))
# A jump path for simulate_path (path_for's spec): 240 one-minute steps from 60,000 with
# frequent -3 % jumps, the engine tests' and the v1 = v2 test's.
JUMPS: dict[str, Any] = {
    "model": "jump",
    "s0": 60_000.0,
    "sigma": 0.9,
    "n_steps": 240,
    "dt_years": 1 / 525_600,
    "seed": 7,
    "lam": 2_000.0,
    "jump_mean": -0.03,
    "jump_std": 0.03,
}


def accounts_from_rows(rows: np.ndarray) -> kc.Accounts:
    """Accounts from rows (side, qty, entry, margin)."""
    rows = np.asarray(rows, dtype=float)
    return kc.Accounts(*(np.ascontiguousarray(rows[:, j]) for j in range(4)))


def tiers_from_rows(rows: object) -> kc.Tiers:
    """Tiers from rows (cap, rate, amount)."""
    arr = np.asarray(rows, dtype=float)
    return kc.Tiers(*(np.ascontiguousarray(arr[:, j]) for j in range(3)))


def partial_fields(partial: float | str) -> dict[str, Any]:
    """Config fields of a partial rule: a fraction, "tier" (step-down) or "restore"."""
    if partial == "tier":
        return {"partial_mode": kc.PartialMode.TIER, "partial": 1.0}
    if partial == "restore":
        return {"partial_mode": kc.PartialMode.RESTORE, "partial": 1.0}
    return {"partial_mode": kc.PartialMode.FRACTION, "partial": float(partial)}


def copy_case(args: Case) -> list[Any]:
    """A copy of a case whose arrays can be changed without touching ``args``."""
    acc, tiers, exo, dm, oracle, cfg = args
    return [
        kc.Accounts(*(a.copy() for a in acc)),
        kc.Tiers(*(a.copy() for a in tiers[:3]), tiers.by_size),
        exo.copy(),
        dm.copy(),
        oracle.copy(),
        cfg,
    ]


def with_cfg(args: Case, **fields: Any) -> Case:
    """The case with these config fields replaced."""
    acc, tiers, exo, dm, oracle, cfg = args
    return acc, tiers, exo, dm, oracle, cfg._replace(**fields)


def inputs(
    n: int = 400,
    n_steps: int = 300,
    seed: int = 0,
    *,
    partial: float | str = 1.0,
    adl: bool = True,
    latency: int = 0,
    lag: int = 0,
    fund: float = 1e5,
    depth: float = 2e4,
    dyn: bool = False,
    sources: int = 1,
    impact: str = "linear",
) -> Case:
    """A two-sided population around 60,000, a noisy path with a sell-off, thin depth (linear
    impact; ``impact="sqrt"``: the square-root law, ``depth`` the daily volume)."""
    rng = np.random.default_rng(seed)
    p0 = 60_000.0
    side = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    lev = rng.choice(np.array([3.0, 5.0, 10.0, 20.0, 50.0]), n)
    entry = p0 * np.exp(rng.normal(0.0, 0.01, n))
    notional = np.exp(rng.normal(np.log(20_000.0), 1.0, n))
    qty = notional / entry
    acc = kc.Accounts(side, qty, entry, notional / lev)
    tiers = tiers_from_rows(TIERS)
    r = rng.normal(0.0, 0.002, n_steps)
    r[n_steps // 3 : n_steps // 3 + 20] -= 0.004
    r[2 * n_steps // 3 : 2 * n_steps // 3 + 15] += 0.005
    exo = p0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    dm = np.ones(n_steps + 1)
    dm[n_steps // 3 : n_steps // 2] = 0.3
    oracle = np.ones((n_steps + 1, sources))
    cfg = kc.CascadeConfig(
        fund=fund,
        liq_fee=0.005,
        **partial_fields(partial),
        partial_min=30_000.0,
        impact_model=kc.ImpactModel.LINEAR if impact == "linear" else kc.ImpactModel.SQRT,
        impact_coef=1.0,
        sigma_daily=0.03,  # used by square-root impact only (depth then the daily volume)
        depth=depth,
        half_life=30.0,
        latency=latency,
        adl=adl,
        max_rounds=100,
        mark_lag=lag,
        dynamic=dyn,
        dyn_base_vol=0.5,
        dyn_window=60,
        dyn_every=30,
        dyn_min=1.0,
        dyn_max=3.0,
        steps_per_year=525_600.0,
    )
    return acc, tiers, exo, dm, oracle, cfg


def run(fn: object, args: Case, *, naive: bool = False, cap: int = 100_000) -> Out:
    """Call a cascade kernel; return (steps, events, accounts, counts)."""
    acc, tiers, exo, dm, oracle, cfg = args
    out = kc.new_outputs(acc.side.shape[0], exo.shape[0], cap)
    acc = kc.Accounts(*(readonly(a) for a in acc))  # read-only, as the simulator passes them
    counts = fn(acc, tiers, exo, dm, oracle, cfg._replace(naive=naive), out)  # type: ignore[operator]
    return out.steps, out.events[: counts.events], out.accounts, counts


def event_values(acc: kc.Accounts, events: np.ndarray) -> np.ndarray:
    """Value traded by each event against the book or the ADL counterparty, from the outputs:
    ``qty_signed * (price - entry)`` (book fills at the fill price, both ADL legs at the
    bankruptcy price)."""
    i = events["account"]
    return events["qty"] * (events["price"] - acc.entry[i])


def money_residual(args: Case, out: Out) -> tuple[float, float]:
    """(lhs - rhs, scale) of ``sum PnL + (fund_end - fund0) - bad_debt == sum event values``."""
    acc, cfg = args[0], args[5]
    steps, events, out_acc, counts = out
    assert counts.overflow == 0
    values = event_values(acc, events)
    pnl = out_acc.pnl
    fund_change = steps.fund[-1] - cfg.fund
    bad = steps.bad_debt[-1]
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
    partial: float | str = 1.0,
    latency: int = 0,
    lag: int = 0,
    fund: float = 0.0,
    adl: bool = True,
    depth: float = 2e3,
    half_life: float = 20.0,
    zero_impact: bool = False,
    sources: int = 1,
    impact: str = "linear",
) -> Case:
    """A small random case: leverage 2-50, entries around 60,000, a random walk with a sell-off
    (or, ``falling``, a non-increasing path), constant depth (linear impact; ``impact="sqrt"``:
    the square-root law, ``depth`` the daily volume; ``zero_impact``: none)."""
    rng = np.random.default_rng(seed)
    p0 = 60_000.0
    side = np.ones(n) if longs_only else np.where(rng.random(n) < 0.5, 1.0, -1.0)
    lev = rng.uniform(2.0, 50.0, n)
    entry = p0 * np.exp(rng.normal(0.0, 0.01, n))
    notional = np.exp(rng.normal(np.log(20_000.0), 0.8, n))
    acc = kc.Accounts(side, notional / entry, entry, notional / lev)
    tiers = tiers_from_rows(TIERS)
    if falling:
        r = -np.abs(rng.normal(0.0, 0.004, n_steps))
    else:
        r = rng.normal(0.0, 0.004, n_steps)
        r[n_steps // 3 : n_steps // 3 + 8] -= 0.006
    exo = p0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    dm = np.ones(n_steps + 1)
    oracle = np.ones((n_steps + 1, sources))
    cfg = kc.CascadeConfig(
        fund=fund,
        liq_fee=0.005,
        **partial_fields(partial),
        partial_min=10_000.0,
        impact_model=kc.ImpactModel.SQRT if zero_impact or impact == "sqrt" else kc.ImpactModel.LINEAR,
        depth=1e9 if zero_impact else depth,
        impact_coef=1.0 if impact == "sqrt" and not zero_impact else 0.0,
        sigma_daily=0.03,  # used by square-root impact only
        half_life=half_life,
        latency=latency,
        adl=adl,
        max_rounds=100,
        mark_lag=lag,
        dyn_base_vol=0.5,
        dyn_window=20,
        dyn_every=10,
        dyn_min=1.0,
        dyn_max=3.0,
        steps_per_year=525_600.0,
    )
    return acc, tiers, exo, dm, oracle, cfg
