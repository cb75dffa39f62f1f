"""Monte Carlo of the cascade over many paths, calibration of the venue's parameters over the
same scenarios, and the binary search for the largest safe cap.

Paths are generated from ``(seed, k)`` inside the workers (never shipped), locally (numba
threads over the paths of a chunk) or on Dask (the accounts, spec and multipliers go to each
worker once; a task ships its range of paths and returns their summary records); every
parameter set of a calibration sees the same paths (common random numbers).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.cascade.population import Population
from levguard.cascade.price_paths import paths_for
from levguard.cascade.settings import (
    MarginRegime,
    Market,
    VenueSettings,
    _int,
    _pos,
    kernel_accounts,
    kernel_config,
    kernel_tiers,
)
from levguard.core.validate import flag, instance_of, show
from levguard.errors import InputError
from levguard.kernels import cascade as kc
from levguard.parallel import Progress, dask_client, run_chunks

__all__ = ["MonteCarloResult", "calibrate", "max_safe", "monte_carlo"]

FloatArray = npt.NDArray[np.float64]
RecordArray = npt.NDArray[np.void]

MAX_PATHS = 100_000_000
"""Most paths one Monte Carlo runs (its summary table is allocated up front: 2**62 paths was a
NumPy "array is too big" ValueError)."""


def _records(market: object, regime: object, venue: object) -> tuple[Market, MarginRegime, VenueSettings]:
    # The records' methods and dataclasses.replace were called on a str: AttributeError/TypeError.
    return (
        instance_of(market, Market, "market"),
        instance_of(MarginRegime() if regime is None else regime, MarginRegime, "regime"),
        instance_of(VenueSettings() if venue is None else venue, VenueSettings, "venue"),
    )


@dataclass(frozen=True)
class MonteCarloResult:
    """Summaries of many paths and their aggregates.

    Attributes
    ----------
    paths : DataFrame
        One row per path (``path`` index and the :class:`CascadeResult` summary fields).
    aggregates : dict
        ``mean_bad_debt``, ``bad_debt_p95``, ``bad_debt_p99`` (the "VaR" of insolvent debt),
        ``p_bad_debt_over_budget`` (``P(bad debt > budget)``), ``expected_liquidated_notional``,
        ``mean_overshoot``, ``p_adl`` (share of paths with ADL), ``mean_pending_bad_debt`` and
        ``p_pending_bad_debt`` (the deficit of positions still open at a path's end, and the share
        of paths with any: a path too short for its cascade), ``budget``, ``n_paths``.
    """

    paths: pd.DataFrame
    aggregates: dict[str, float]


def _aggregate(table: pd.DataFrame, budget: float) -> dict[str, float]:
    bad = table["bad_debt"].to_numpy()
    return {
        "n_paths": float(len(table)),
        "budget": budget,
        "mean_bad_debt": float(np.mean(bad)),
        "bad_debt_p95": float(np.quantile(bad, 0.95)),
        "bad_debt_p99": float(np.quantile(bad, 0.99)),
        "p_bad_debt_over_budget": float(np.mean(bad > budget)),
        "expected_liquidated_notional": float(table["liquidated_notional"].mean()),
        "mean_overshoot": float(table["overshoot"].mean()),
        "p_adl": float(np.mean(table["adl_events"].to_numpy() > 0)),
        "mean_pending_bad_debt": float(table["pending_bad_debt"].mean()),
        "p_pending_bad_debt": float(np.mean(table["pending_bad_debt"].to_numpy() > 0.0)),
    }


@dataclass(frozen=True, eq=False)
class _PathPlan:
    """What every chunk of a Monte Carlo needs: the kernel accounts, tiers and config, the path
    spec and the depth and oracle multipliers.  Scattered once to each Dask worker; a task ships
    only its range of paths, regenerates them from ``(seed, k)`` and returns their summaries."""

    acc: kc.Accounts
    tiers: kc.Tiers
    spec: Mapping[str, Any]
    depth_mult: FloatArray
    oracle: FloatArray
    cfg: kc.CascadeConfig

    def run(self, first: int, count: int) -> RecordArray:
        """Generate paths ``first .. first + count - 1`` of the spec and summarise their cascades
        (``SUMMARY_DTYPE`` records)."""
        exo = np.ascontiguousarray(paths_for(self.spec, count, first=first))
        out = np.zeros(count, dtype=kc.SUMMARY_DTYPE)
        kc.cascade_many_nb(self.acc, self.tiers, exo, self.depth_mult, self.oracle, self.cfg, out)
        return out


def _check_finite(table: pd.DataFrame, spec: Mapping[str, Any], market: Market) -> None:
    # As simulate_path's check: a path far from the accounts' entry prices on a thin book pushes
    # the liquidations' log impact past float64, and the summaries came out inf or NaN.
    values = table.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        k, j = (int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            f"the path spec paths = {show(dict(spec), 300)} and market.depth {market.depth!r} overflow float64: "
            f"path {k} moves the price so far from the accounts' entry prices that its {table.columns[j]} is "
            f"{values[k, j].item()!r}; use a deeper book or a spec (s0, sigma, mu, jumps) closer to the entry prices"
        )


def _n_steps(spec: Mapping[str, Any]) -> int:
    probe = paths_for(spec, 1)
    return int(probe.shape[1] - 1)


def monte_carlo(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    *,
    market: Market,
    regime: MarginRegime | None = None,
    venue: VenueSettings | None = None,
    budget: float = 0.0,
    steps_per_year: float = 525_600.0,
    scheduler: object = None,
    chunk_size: int = 16,
    progress: bool = False,
) -> MonteCarloResult:
    """Simulate ``n_paths`` paths of the spec ``paths`` and aggregate bad debt and liquidations.

    Parameters
    ----------
    population, market, regime, venue, steps_per_year
        As for :func:`simulate_path`.
    paths : mapping
        A path spec for :func:`levguard.cascade.price_paths.path_for` (model, s0, sigma, n_steps,
        dt_years, seed, ...): path ``k`` is regenerated from ``(seed, k)`` where it runs.
    n_paths : int
        Number of paths.
    budget : float
        Bad-debt budget ``K`` of ``P(bad debt > K)``.
    scheduler : None, "local", address or dask Client
        None: this process (numba threads over the paths of a chunk); ``"local"``: a Dask
        ``LocalCluster``; an address: that scheduler.  On Dask the accounts and the spec go to
        each worker once, each task regenerates its paths and returns only their summaries, and
        its kernel runs on one numba thread (:func:`levguard.parallel.worker_numba_threads`).
        Results are identical.
    chunk_size : int
        Paths per kernel call (memory per call: ``chunk_size x (T + 1)`` prices plus one path's
        state); on Dask, at most this many per task and fewer when needed to give every worker
        thread eight tasks (:func:`levguard.parallel.task_size`).
    progress : bool
        A rich progress bar over chunks.

    Raises
    ------
    InputError
        Bad argument, or a spec whose paths move the price so far from the accounts' entry
        prices that the cascade overflows float64 on the book of ``market.depth``.
    """
    regime = regime if regime is not None else MarginRegime()
    venue = venue if venue is not None else VenueSettings()
    n_paths = _int(n_paths, "n_paths", 1)
    if n_paths > MAX_PATHS:
        raise InputError(f"n_paths must be an integer in [1, {MAX_PATHS:,}], was {n_paths!r}")
    chunk_size = _int(chunk_size, "chunk_size", 1)
    _pos(budget, "budget", allow_zero=True)
    progress = flag(progress, "progress")
    if not isinstance(paths, Mapping):
        raise InputError(f"paths must be a path spec (mapping), was {type(paths).__name__}")
    if not isinstance(market, Market):
        raise InputError(f"market must be a levguard.cascade.Market, was {type(market).__name__}")
    regime = instance_of(regime, MarginRegime, "regime")
    venue = instance_of(venue, VenueSettings, "venue")
    n_steps = _n_steps(paths)
    acc = kernel_accounts(regime.apply_caps(population) if isinstance(population, Population) else population)
    tiers = kernel_tiers(regime)
    depth_mult = np.ascontiguousarray(market.multiplier(n_steps))
    oracle = np.ascontiguousarray(venue.oracle_matrix(n_steps))
    cfg = kernel_config(market, regime, venue, _pos(steps_per_year, "steps_per_year"), False)
    plan = _PathPlan(acc, tiers, dict(paths), depth_mult, oracle, cfg)
    out = np.zeros(n_paths, dtype=kc.SUMMARY_DTYPE)
    with dask_client(scheduler) as client:

        def store(a: int, b: int, part: RecordArray) -> None:
            out[a:b] = part

        run_chunks(plan, n_paths, chunk_size, client, progress, f"Monte Carlo of {n_paths:,} paths", store)
    # One float column per summary field (counts too, as before the records).
    table = pd.DataFrame({name: out[name].astype(np.float64) for name in kc.SUMMARY_DTYPE.names or ()})
    _check_finite(table, paths, market)
    table.insert(0, "path", np.arange(n_paths))
    return MonteCarloResult(table, _aggregate(table, float(budget)))


# --------------------------------------------------------------------------- calibration

_REGIME_PARAMS = (
    "kind",
    "mmr",
    "liquidation_fee",
    "partial",
    "partial_min_notional",
    "outcome",
    "backstop",
    "max_leverage",
    "oi_cap",
    "base_vol",
    "every_steps",
    "max_scale",
)
_VENUE_PARAMS = ("insurance_fund", "adl", "latency_steps", "mark_lag_steps")
_MARKET_PARAMS = ("depth", "half_life_steps")


def _with(
    market: Market, regime: MarginRegime, venue: VenueSettings, params: Mapping[str, Any]
) -> tuple[Market, MarginRegime, VenueSettings]:
    r = {k: v for k, v in params.items() if k in _REGIME_PARAMS}
    v = {k: v for k, v in params.items() if k in _VENUE_PARAMS}
    m = {k: v for k, v in params.items() if k in _MARKET_PARAMS}
    return replace(market, **m), replace(regime, **r), replace(venue, **v)


def calibrate(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    grid: Mapping[str, Sequence[Any]],
    *,
    market: Market,
    regime: MarginRegime | None = None,
    venue: VenueSettings | None = None,
    budget: float = 0.0,
    epsilon: float = 0.01,
    efficiency: str | None = None,
    steps_per_year: float = 525_600.0,
    scheduler: object = None,
    chunk_size: int = 16,
    progress: bool = False,
) -> pd.DataFrame:
    """Sweep venue parameters over the same Monte Carlo scenarios.

    Parameters
    ----------
    grid : mapping parameter -> values
        Regime parameters (``kind, mmr, liquidation_fee, partial, partial_min_notional,
        outcome, backstop, max_leverage, oi_cap, base_vol, every_steps, max_scale``), venue parameters
        (``insurance_fund, adl, latency_steps, mark_lag_steps``) and market parameters
        (``depth, half_life_steps``).
    budget, epsilon : float
        A parameter set is safe when ``P(bad debt > budget) <= epsilon``.
    efficiency : str, optional
        The capital-efficiency column to maximise among safe sets (e.g. ``max_leverage`` or
        ``oi_cap``); the best safe row is flagged ``best``.

    Returns
    -------
    DataFrame
        One row per parameter set: the parameters, the Monte Carlo aggregates, ``safe`` and
        ``best``.  Every set sees the same paths (common random numbers), so differences
        between rows are the parameters' effect, not noise.
    """
    market, regime, venue = _records(market, regime, venue)
    _pos(epsilon, "epsilon", allow_zero=True, upper=1.0)
    progress = flag(progress, "progress")
    if not isinstance(grid, Mapping) or not grid:
        raise InputError("grid must map at least one parameter to a list of values")
    allowed = set(_REGIME_PARAMS) | set(_VENUE_PARAMS) | set(_MARKET_PARAMS)
    unknown = set(grid) - allowed
    if unknown:
        raise InputError(f"grid: unknown parameters {sorted(unknown)}; use {sorted(allowed)}")
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], str) or not isinstance(grid[k], Sequence | np.ndarray) or len(grid[k]) == 0:
            raise InputError(f"grid: values of {k!r} must be a non-empty list, was {grid[k]!r}")
    if efficiency is not None and efficiency not in keys:
        raise InputError(f"efficiency must be one of the grid's parameters {keys}, was {efficiency!r}")
    if efficiency is not None and not all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in grid[efficiency]
    ):
        raise InputError(
            f"efficiency must be a grid parameter of numbers (e.g. max_leverage, oi_cap), "
            f"{efficiency!r} held {show(list(grid[efficiency]))}"
        )
    rows = []
    combos = list(itertools.product(*(list(grid[k]) for k in keys)))
    # One Dask client for the whole sweep (not one cluster per parameter set).
    with dask_client(scheduler) as client:
        rows = _calibrate_rows(
            population,
            paths,
            n_paths,
            keys,
            combos,
            market,
            regime,
            venue,
            budget,
            steps_per_year,
            client,
            chunk_size,
            progress,
        )
    table = pd.DataFrame(rows)
    table["safe"] = table["p_bad_debt_over_budget"] <= epsilon
    table["best"] = False
    if efficiency is not None and table["safe"].any():
        safe = table[table["safe"]]
        table.loc[safe[efficiency].astype(float).idxmax(), "best"] = True
    table.attrs.update({"budget": budget, "epsilon": epsilon, "n_paths": n_paths, "efficiency": efficiency})
    return table


def _calibrate_rows(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    keys: list[str],
    combos: list[tuple[Any, ...]],
    market: Market,
    regime: MarginRegime,
    venue: VenueSettings,
    budget: float,
    steps_per_year: float,
    scheduler: object,
    chunk_size: int,
    progress: bool,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with Progress(progress, len(combos), f"calibration of {len(combos)} parameter sets") as advance:
        for combo in combos:
            params = dict(zip(keys, combo, strict=True))
            try:
                m, r, v = _with(market, regime, venue, params)
            except InputError as exc:
                raise InputError(f"grid {params}: {exc}") from exc
            mc = monte_carlo(
                population,
                paths,
                n_paths,
                market=m,
                regime=r,
                venue=v,
                budget=budget,
                steps_per_year=steps_per_year,
                scheduler=scheduler,
                chunk_size=chunk_size,
            )
            rows.append({**params, **mc.aggregates})
            advance()
    return rows


def max_safe(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    parameter: Literal["max_leverage", "oi_cap"],
    lo: float,
    hi: float,
    *,
    market: Market,
    regime: MarginRegime | None = None,
    venue: VenueSettings | None = None,
    budget: float = 0.0,
    epsilon: float = 0.01,
    tolerance: float = 0.01,
    steps_per_year: float = 525_600.0,
    scheduler: object = None,
    chunk_size: int = 16,
) -> dict[str, Any]:
    """Binary-search the largest cap (``max_leverage`` or ``oi_cap``) in ``[lo, hi]`` with
    ``P(bad debt > budget) <= epsilon``, as Chaos Labs sizes supply caps.

    Assumes the risk is monotone in the cap (a larger cap never reduces bad debt; tested on the
    model).  Returns ``{"parameter", "safe_cap" (None if even lo is unsafe), "steps": [(cap,
    p_exceed), ...]}``; stops when ``hi - lo <= tolerance * hi``.
    """
    if parameter not in ("max_leverage", "oi_cap"):
        raise InputError(f"parameter must be 'max_leverage' or 'oi_cap', was {parameter!r}")
    lo = _pos(lo, "lo")
    hi = _pos(hi, "hi")
    if hi <= lo:
        raise InputError(f"hi must be > lo, was {hi!r} <= {lo!r}")
    _pos(tolerance, "tolerance", upper=1.0)
    # A probability, as calibrate and the cascade config take it: NaN made every cap unsafe.
    epsilon = _pos(epsilon, "epsilon", allow_zero=True, upper=1.0)
    market, regime, venue = _records(market, regime, venue)
    with dask_client(scheduler) as client:
        return _bisect(
            population,
            paths,
            n_paths,
            parameter,
            lo,
            hi,
            market,
            regime,
            venue,
            budget,
            epsilon,
            tolerance,
            steps_per_year,
            client,
            chunk_size,
        )


def _bisect(
    population: Population,
    paths: Mapping[str, Any],
    n_paths: int,
    parameter: str,
    lo: float,
    hi: float,
    market: Market,
    regime: MarginRegime,
    venue: VenueSettings | None,
    budget: float,
    epsilon: float,
    tolerance: float,
    steps_per_year: float,
    scheduler: object,
    chunk_size: int,
) -> dict[str, Any]:
    steps: list[tuple[float, float]] = []

    def p_exceed(cap: float) -> float:
        mc = monte_carlo(
            population,
            paths,
            n_paths,
            market=market,
            regime=replace(regime, max_leverage=cap) if parameter == "max_leverage" else replace(regime, oi_cap=cap),
            venue=venue,
            budget=budget,
            steps_per_year=steps_per_year,
            scheduler=scheduler,
            chunk_size=chunk_size,
        )
        p = mc.aggregates["p_bad_debt_over_budget"]
        steps.append((cap, p))
        return p

    if p_exceed(hi) <= epsilon:
        return {"parameter": parameter, "safe_cap": hi, "steps": steps}
    if p_exceed(lo) > epsilon:
        return {"parameter": parameter, "safe_cap": None, "steps": steps}
    while hi - lo > tolerance * hi:
        mid = 0.5 * (lo + hi)
        if p_exceed(mid) <= epsilon:
            lo = mid
        else:
            hi = mid
    return {"parameter": parameter, "safe_cap": lo, "steps": steps}
