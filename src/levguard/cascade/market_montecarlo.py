"""Monte Carlo of the market simulator (v2) over correlated K-asset paths, and the calibration of
venue parameters against a joint bad-debt budget.

:func:`market_monte_carlo` runs :func:`~levguard.cascade.market.simulate_market` on paths
``0 .. n_paths - 1`` of a :func:`~levguard.cascade.market_paths.market_paths_for` spec (joint
bootstrap or factor model with common jumps: the assets crash together) and returns per path the
bad debt, ADL and liquidated notional, fund use and liquidation fees (to the fund, or paid out to
liquidators) of every venue and the transmission matrices of :mod:`levguard.cascade.contagion`;
their distribution and ``P(total bad debt > budget)``.

Path ``k`` is regenerated from ``(seed, k)`` where it runs.  On Dask the plan (accounts, market,
path spec with its data) is scattered once to every worker and a task carries two integers,
``(first, count)``; results equal the in-process run exactly.  :func:`calibrate_market` runs the
same paths (common random numbers) for every point of a grid over the insurance fund and the
maintenance rate and picks the cheapest setting that meets the budget.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.cascade.contagion import _num, _venue_arrays, asset_matrices
from levguard.cascade.market import MarketResult, simulate_market
from levguard.cascade.market_paths import market_paths_for
from levguard.cascade.market_settings import MarketPopulation, MarketSpec, MarketVenue
from levguard.cascade.settings import _int, _pos
from levguard.core.validate import show
from levguard.errors import InputError
from levguard.kernels.cascade_records import AccountStatus
from levguard.parallel import dask_client, run_chunks

__all__ = [
    "CALIBRATION_PARAMS",
    "MarketCalibration",
    "MarketMonteCarloResult",
    "MarketPlan",
    "calibrate_market",
    "market_monte_carlo",
]

FloatArray = npt.NDArray[np.float64]

CALIBRATION_PARAMS: tuple[str, ...] = ("insurance_fund", "mmr")
"""The venue parameters :func:`calibrate_market` can grid: ``VenueSettings.insurance_fund``
(quote) and the static ``MarginRegime.mmr`` (a fraction)."""

_PER_VENUE = (
    "bad_debt",
    "pending_bad_debt",
    "adl_notional",
    "liquidated_notional",
    "fund_used",
    "fund_fees",
    "liquidator_fees",
)


@dataclass(frozen=True, eq=False)
class MarketPlan:
    """What every chunk of a market Monte Carlo needs: the accounts, the market, the path spec
    (with its data: returns to bootstrap or the factor model) and ``steps_per_year``.  Scattered
    once to each Dask worker; a task ships ``(first, count)`` and returns per-path arrays."""

    population: MarketPopulation
    spec: MarketSpec
    paths: Mapping[str, Any]
    steps_per_year: float = 525_600.0

    def simulate(self, k: int) -> MarketResult:
        """Simulate path ``k`` alone (the same result as inside :meth:`run`)."""
        exo = market_paths_for(self.paths, 1, first=_int(k, "k"))[0]
        return simulate_market(self.population, exo, self.spec, steps_per_year=self.steps_per_year)

    def run(self, first: int, count: int) -> dict[str, FloatArray]:
        """Simulate paths ``first .. first + count - 1``; per path and venue ``bad_debt``,
        ``pending_bad_debt`` (:func:`~levguard.cascade.market.pending_bad_debt`), ``adl_notional``,
        ``liquidated_notional``, ``fund_used``, ``fund_fees`` and ``liquidator_fees`` (:func:`_fees`);
        ``accounts_liquidated`` (final status liquidated, as :func:`venue_outcomes` counts them),
        ``accounts_deleveraged`` (accounts ever an ADL counterparty), ``hedged_hit`` (hedged
        owners with a leg liquidated or closed by ADL); ``asset`` (K, K) and ``venue`` (V, V)
        transmission matrices."""
        spec = self.spec
        n_v, k = spec.n_venues, spec.n_assets
        exo = market_paths_for(self.paths, count, first=first)
        out: dict[str, FloatArray] = {name: np.zeros((count, n_v)) for name in _PER_VENUE}
        out["accounts_liquidated"] = np.zeros(count)
        out["accounts_deleveraged"] = np.zeros(count)
        out["hedged_hit"] = np.zeros(count)
        out["asset"] = np.zeros((count, k, k))
        out["venue"] = np.zeros((count, n_v, n_v))
        fund0 = np.array([mv.settings.insurance_fund for mv in spec.venues], dtype=np.float64)
        hedged = _hedged_accounts(self.population)
        pop = self.population
        names = [mv.name for mv in spec.venues]
        for j in range(count):
            res = simulate_market(pop, exo[j], spec, steps_per_year=self.steps_per_year)
            if res.counts.overflow:
                raise InputError(f"path {first + j}: {res.counts.overflow} events dropped; the report needs all")
            st = res.out.steps
            out["bad_debt"][j] = st.bad_debt[:, -1]
            out["pending_bad_debt"][j] = res.venues["pending_bad_debt"].to_numpy()  # computed by simulate_market
            out["adl_notional"][j] = st.adl_notional.sum(axis=(1, 2))
            out["liquidated_notional"][j] = st.liq_notional.sum(axis=(1, 2))
            out["fund_used"][j] = fund0 - np.minimum(fund0, st.fund.min(axis=1))
            out["fund_fees"][j], out["liquidator_fees"][j] = _fees(res)
            fin = res.out.accounts
            # Final status liquidated (not the ADL counterparties), as venue_outcomes counts them.
            out["accounts_liquidated"][j] = float(np.count_nonzero(fin.status == AccountStatus.LIQUIDATED))
            out["accounts_deleveraged"][j] = float(np.count_nonzero(fin.deleveraged))
            hit = (fin.status != 0) | fin.deleveraged
            out["hedged_hit"][j] = float(np.unique(np.asarray(pop.owner)[hedged & hit]).size)
            out["asset"][j] = asset_matrices(res.events, pop.qty, pop.entry, st.mark, spec.assets, names).sum(axis=0)
            down, up = _venue_arrays(res)
            out["venue"][j] = (down + up).sum(axis=0)
        return out


def _fees(res: MarketResult) -> tuple[FloatArray, FloatArray]:
    """Return per venue the liquidation fees the insurance fund received and those paid out to
    liquidators over the path (quote, each ``(V,)``).

    Notes
    -----
    The kernel books each close's change of the venue fund on its first event, ``fund_delta =
    fee + min(E, 0)`` (a full close, ``E`` the equity at the fills; the fee is 0 whenever
    ``E <= 0``, and a takeover's clearance ``max(E, 0)`` counts as its fee) or ``fee`` (a
    partial close) (:func:`levguard.kernels.liquidation.settle_close`, ``settle_partial``); on
    a ``fee_to_fund=False`` venue the fee is not in ``fund_delta`` but in
    ``MarketOutputs.fees_paid`` (cumulative).  So the fund's fees are ``sum max(fund_delta, 0)``
    exactly and the liquidators' ``fees_paid[:, -1]`` (:attr:`MarketResult.venues`
    ``liquidator_fees``), as :func:`levguard.cascade.contagion.pool_outcomes` splits a pool's
    bonus.  Money: ``fund_end - fund_start = fund_fees - sum max(-fund_delta, 0) + bad_debt``.
    """
    ev = res.out.events[: res.counts.events]
    n_v = res.spec.n_venues
    to_fund = np.bincount(ev["venue"], weights=np.maximum(ev["fund_delta"], 0.0), minlength=n_v)
    return to_fund.astype(np.float64), np.array(res.out.fees_paid[:, -1], dtype=np.float64)


def _hedged_accounts(pop: MarketPopulation) -> npt.NDArray[np.bool_]:
    # Accounts whose owner has accounts on two venues or more.
    owner = np.asarray(pop.owner)
    venue = np.asarray(pop.venue)
    pairs = np.unique(np.column_stack([owner, venue]), axis=0)
    owners, n_venues = np.unique(pairs[:, 0], return_counts=True)
    return np.isin(owner, owners[n_venues >= 2])


def _quantile_name(q: float) -> str:
    return f"q{q * 100:g}"


@dataclass(frozen=True)
class MarketMonteCarloResult:
    """Bad debt, ADL and transmission over many paths of the market.

    Attributes
    ----------
    assets, venues : tuple of str
        Names in the market's order.
    paths : DataFrame
        One row per path: ``path``, ``bad_debt`` (total), per venue ``bad_debt_<v>``,
        ``pending_bad_debt_<v>`` (the deficit of accounts still open and underwater at the
        path's end, :func:`~levguard.cascade.market.pending_bad_debt`), ``adl_notional_<v>``,
        ``liquidated_notional_<v>``, ``fund_used_<v>``, ``fund_fees_<v>`` (liquidation fees credited to the insurance
        fund, takeover clearances included) and
        ``liquidator_fees_<v>`` (fees paid out to liquidators, ``fee_to_fund=False`` venues such
        as lending pools);
        ``accounts_liquidated`` (ADL counterparties not included), ``accounts_deleveraged`` (ever an
        ADL counterparty), ``hedged_hit``, ``cross_asset_share`` (off-diagonal share of the
        path's force-closed notional, NaN without any).
    distribution : DataFrame
        One row per venue and ``total``: ``bad_debt_mean``, ``bad_debt_<q>`` per quantile,
        ``pending_bad_debt_mean``, ``pending_bad_debt_<q>``, ``adl_mean``, ``adl_<q>``, ``fund_fees_mean``,
        ``fund_fees_<q>``, ``liquidator_fees_mean``, ``liquidator_fees_<q>``, ``p_bad_debt`` (``P(bad debt > 0)``),
        ``p_adl`` and
        ``p_over_budget`` (``P(bad debt > budget)``, the ``total`` row only: the budget is joint).
    asset_matrix, venue_matrix : DataFrame
        The transmission matrices averaged over paths (quote notional per path).
    budget : float
        The joint bad-debt budget.
    seed, n_paths : int
        The path spec's seed and the number of paths.
    """

    assets: tuple[str, ...]
    venues: tuple[str, ...]
    paths: pd.DataFrame
    distribution: pd.DataFrame
    asset_matrix: pd.DataFrame
    venue_matrix: pd.DataFrame
    budget: float
    seed: int | None
    n_paths: int

    @property
    def p_over_budget(self) -> float:
        """``P(total bad debt > budget)`` over the paths."""
        return float(cast(float, self.distribution.loc["total", "p_over_budget"]))

    @property
    def worst_path(self) -> int:
        """The path with the largest total bad debt (the first on ties; path 0 without any)."""
        return int(self.paths["bad_debt"].to_numpy().argmax())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (matrices as ``{source: {destination: notional}}``)."""

        def frame(f: pd.DataFrame) -> dict[str, dict[str, Any]]:
            return {str(i): {str(c): _num(v) for c, v in row.items()} for i, row in f.iterrows()}

        return {
            "assets": list(self.assets),
            "venues": list(self.venues),
            "n_paths": self.n_paths,
            "seed": self.seed,
            "budget": self.budget,
            "p_over_budget": self.p_over_budget,
            "worst_path": self.worst_path,
            "distribution": frame(self.distribution),
            "asset_matrix": frame(self.asset_matrix),
            "venue_matrix": frame(self.venue_matrix),
            "paths": [{k: _num(v) for k, v in r.items()} for r in self.paths.to_dict(orient="records")],
        }


def _path_spec(paths: object, spec: MarketSpec, seed: int | None) -> dict[str, Any]:
    if not isinstance(paths, Mapping):
        raise InputError(f"paths must be a market path spec (mapping with 'model'), was {type(paths).__name__}")
    p = dict(paths)
    assets = list(spec.assets)
    if "assets" in p and [str(a) for a in p["assets"]] != assets:
        raise InputError(f"paths['assets'] must be the market's assets {assets}, was {p['assets']!r}")
    p["assets"] = assets
    if seed is not None:
        if p.get("model") == "user":
            raise InputError("seed: user paths have no seed; leave seed unset")
        p["seed"] = _int(seed, "seed")
    return p


def _distribution(table: pd.DataFrame, venues: Sequence[str], budget: float, qs: Sequence[float]) -> pd.DataFrame:
    rows = {}
    for name in [*venues, "total"]:
        picked = list(venues) if name == "total" else [name]
        row: dict[str, float] = {}
        for label, column in _DISTRIBUTED:
            x = table[[f"{column}_{v}" for v in picked]].to_numpy().sum(axis=1)
            row[f"{label}_mean"] = float(x.mean())
            for q in qs:
                row[f"{label}_{_quantile_name(q)}"] = float(np.quantile(x, q))
        bad = table["bad_debt" if name == "total" else f"bad_debt_{name}"].to_numpy()
        adl = table[[f"adl_notional_{v}" for v in picked]].to_numpy().sum(axis=1)
        row["p_bad_debt"] = float(np.mean(bad > 0.0))
        row["p_adl"] = float(np.mean(adl > 0.0))
        row["p_over_budget"] = float(np.mean(bad > budget)) if name == "total" else float("nan")
        rows[name] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "venue"
    return out


# (distribution label, per-venue column of the paths table)
_DISTRIBUTED = (
    ("bad_debt", "bad_debt"),
    ("pending_bad_debt", "pending_bad_debt"),
    ("adl", "adl_notional"),
    ("fund_fees", "fund_fees"),
    ("liquidator_fees", "liquidator_fees"),
)


def _quantiles(values: object) -> tuple[float, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InputError(f"quantiles must be a non-empty list of fractions, was {values!r}")
    return tuple(_pos(q, f"quantiles[{i}]", allow_zero=True, upper=1.0) for i, q in enumerate(values))


_MAX_RESULT_BYTES = 4 * 2**30
"""Most memory the per-path results of one Monte Carlo may take (4 GiB)."""


def market_monte_carlo(
    population: MarketPopulation,
    spec: MarketSpec,
    paths: Mapping[str, Any],
    n_paths: int,
    *,
    seed: int | None = None,
    budget: float = 0.0,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    steps_per_year: float = 525_600.0,
    scheduler: object = None,
    chunk_size: int = 4,
    progress: bool = False,
) -> MarketMonteCarloResult:
    """Simulate the market on ``n_paths`` correlated K-asset paths and aggregate bad debt, ADL and transmission.

    Parameters
    ----------
    population : MarketPopulation
        The accounts (the same on every path).
    spec : MarketSpec
        Assets, venues and arbitrage.
    paths : mapping
        A :func:`~levguard.cascade.market_paths.market_paths_for` spec (``bootstrap`` or
        ``factor_jump`` with ``params``; ``user``); its ``assets`` default to the market's.
    n_paths : int
        Number of paths (>= 1).
    seed : int, optional
        Overrides the spec's ``seed``.
    budget : float
        The joint bad-debt budget ``K`` of ``P(sum over venues of bad debt > K)``.
    quantiles : sequence of float
        Quantiles of the per-venue and total bad debt and ADL notional.
    steps_per_year : float
        As for :func:`~levguard.cascade.market.simulate_market`.
    scheduler : None, "local", address or dask Client
        None: this process; ``"local"``: a two-process ``LocalCluster``; an address: that
        scheduler (:func:`levguard.parallel.dask_client`).  The plan goes to every worker once
        (``scatter(broadcast=True)``), a task carries ``(first, count)``.  Results are identical.
    chunk_size : int
        Paths per task (fewer on Dask when needed to give every worker thread eight tasks).
    progress : bool
        A rich progress bar over chunks.

    Notes
    -----
    The paths' joint law (co-crashes, betas above 1, common jumps) is the spec's model: Politis
    and Romano (1994) for the joint bootstrap, the one-factor jump model (Sharpe 1963, Merton
    1976) for ``factor_jump`` (docs/cascade.md, "Markets of several assets").  Quantiles are
    numpy's linear interpolation of the empirical distribution.
    """
    if not isinstance(spec, MarketSpec):
        raise InputError(f"spec must be a MarketSpec, was {type(spec).__name__}")
    if not isinstance(population, MarketPopulation):
        raise InputError(f"population must be a MarketPopulation, was {type(population).__name__}")
    n_paths = _int(n_paths, "n_paths", 1)
    chunk_size = _int(chunk_size, "chunk_size", 1)
    budget = _pos(budget, "budget", allow_zero=True)
    qs = _quantiles(quantiles)
    plan = MarketPlan(population, spec, _path_spec(paths, spec, seed), _pos(steps_per_year, "steps_per_year"))
    market_paths_for(plan.paths, 1)  # validate the spec here, not in a worker
    names = [mv.name for mv in spec.venues]
    k, n_v = spec.n_assets, spec.n_venues
    need = n_paths * 8 * (len(_PER_VENUE) * n_v + 3 + k * k + n_v * n_v)  # the per-path results below
    if need > _MAX_RESULT_BYTES:
        raise InputError(
            f"n_paths {n_paths:,} needs {need / 2**30:,.1f} GiB for its per-path results; "
            f"at most {_MAX_RESULT_BYTES // 2**30} GiB (fewer paths)"
        )
    acc: dict[str, FloatArray] = {name: np.zeros((n_paths, n_v)) for name in _PER_VENUE}
    acc.update(
        accounts_liquidated=np.zeros(n_paths),
        accounts_deleveraged=np.zeros(n_paths),
        hedged_hit=np.zeros(n_paths),
        asset=np.zeros((n_paths, k, k)),
        venue=np.zeros((n_paths, n_v, n_v)),
    )

    def store(a: int, b: int, part: Mapping[str, FloatArray]) -> None:
        for key, arr in part.items():
            acc[key][a:b] = arr

    with dask_client(scheduler) as client:
        run_chunks(plan, n_paths, chunk_size, client, progress, f"market Monte Carlo of {n_paths:,} paths", store)
    cols: dict[str, Any] = {"path": np.arange(n_paths), "bad_debt": acc["bad_debt"].sum(axis=1)}
    for name in _PER_VENUE:
        for v, vn in enumerate(names):
            cols[f"{name}_{vn}"] = acc[name][:, v]
    cols["accounts_liquidated"] = acc["accounts_liquidated"]
    cols["accounts_deleveraged"] = acc["accounts_deleveraged"]
    cols["hedged_hit"] = acc["hedged_hit"]
    total = acc["asset"].sum(axis=(1, 2))
    diag = np.trace(acc["asset"], axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["cross_asset_share"] = np.where(total > 0.0, (total - diag) / np.where(total > 0.0, total, 1.0), np.nan)
    table = pd.DataFrame(cols)
    assets = list(spec.assets)
    return MarketMonteCarloResult(
        assets=tuple(assets),
        venues=tuple(names),
        paths=table,
        distribution=_distribution(table, names, budget, qs),
        asset_matrix=pd.DataFrame(
            acc["asset"].mean(axis=0),
            index=pd.Index(assets, name="source"),
            columns=pd.Index(assets, name="destination"),
        ),
        venue_matrix=pd.DataFrame(
            acc["venue"].mean(axis=0),
            index=pd.Index(names, name="source"),
            columns=pd.Index(names, name="destination"),
        ),
        budget=budget,
        seed=int(plan.paths["seed"]) if "seed" in plan.paths else None,
        n_paths=n_paths,
    )


# --------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class MarketCalibration:
    """The grid of a calibration and its choice.

    Attributes
    ----------
    table : DataFrame
        One row per grid point: the parameters, ``cost``, ``p_over_budget``, ``bad_debt_mean``,
        ``bad_debt_q99`` (total), ``adl_mean``, ``feasible`` (``p_over_budget <= alpha``) and
        ``best``; sorted by cost.
    best : dict or None
        The chosen parameters (None: no grid point meets the budget).
    budget, alpha : float
        The joint budget and the tolerated probability of exceeding it.
    venues : tuple of str
        The venues the grid's values were applied to.
    """

    table: pd.DataFrame
    best: dict[str, float] | None
    budget: float
    alpha: float
    venues: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "budget": self.budget,
            "alpha": self.alpha,
            "venues": list(self.venues),
            "best": self.best,
            "table": [{k: _num(v) for k, v in r.items()} for r in self.table.to_dict(orient="records")],
        }


def _with_params(mv: MarketVenue, params: Mapping[str, float]) -> MarketVenue:
    out = mv
    if "insurance_fund" in params:
        out = replace(out, settings=replace(out.settings, insurance_fund=float(params["insurance_fund"])))
    if "mmr" in params:
        out = replace(out, regime=replace(out.regime, mmr=float(params["mmr"])))
    return out


def _grid(grid: object) -> dict[str, tuple[float, ...]]:
    if not isinstance(grid, Mapping) or not grid:
        raise InputError(f"grid must map {list(CALIBRATION_PARAMS)} to lists of values, was {grid!r}")
    out = {}
    for key, values in grid.items():
        if key not in CALIBRATION_PARAMS:
            raise InputError(f"grid: unknown parameter {key!r}; use {list(CALIBRATION_PARAMS)}")
        if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray) or len(values) == 0:
            raise InputError(f"grid.{key} must be a non-empty list of numbers, was {values!r}")
        upper = 0.5 if key == "mmr" else float("inf")
        out[str(key)] = tuple(
            _pos(v, f"grid.{key}[{i}]", allow_zero=key == "insurance_fund", upper=upper) for i, v in enumerate(values)
        )
    return out


def calibrate_market(
    population: MarketPopulation,
    spec: MarketSpec,
    paths: Mapping[str, Any],
    n_paths: int,
    grid: Mapping[str, Sequence[float]],
    *,
    budget: float,
    alpha: float = 0.05,
    venues: Sequence[str] | None = None,
    seed: int | None = None,
    steps_per_year: float = 525_600.0,
    scheduler: object = None,
    chunk_size: int = 4,
) -> MarketCalibration:
    """Find the cheapest venue setting whose ``P(total bad debt > budget) <= alpha``.

    Parameters
    ----------
    population, spec, paths, n_paths, seed, steps_per_year, scheduler, chunk_size
        As for :func:`market_monte_carlo`; every grid point runs the same paths.
    grid : mapping
        Values of ``insurance_fund`` (quote, per venue) and/or ``mmr`` (static maintenance
        rate); the product of the lists is tried.
    budget : float
        The joint bad-debt budget (quote, summed over venues).
    alpha : float
        The tolerated probability of exceeding it.
    venues : sequence of str, optional
        The venues the values apply to (default: all).

    Returns
    -------
    MarketCalibration

    Notes
    -----
    The cost of a setting is the capital it ties up, a convention: the insurance funds plus the
    maintenance margin the venues' traders must hold at the start,
    ``sum_v fund_v + sum_v mmr_v x sum_{i on v, a} |q_ia| s0_a``.  A larger fund and a higher
    maintenance rate both cut bad debt (the first absorbs losses, the second closes accounts
    earlier with more collateral left); the calibration prices both in the same unit and returns
    the cheapest feasible point, the lowest ``p_over_budget`` breaking ties.  Common random
    numbers: the differences between rows are the parameters' effect, not noise (Glasserman,
    *Monte Carlo Methods in Financial Engineering*, 2003, section 4.2).  ``mmr`` needs a static
    regime and no per-asset ``maintenance`` on the venues it applies to.
    """
    if not isinstance(spec, MarketSpec):
        raise InputError(f"spec must be a MarketSpec, was {type(spec).__name__}")
    if not isinstance(population, MarketPopulation):
        raise InputError(f"population must be a MarketPopulation, was {type(population).__name__}")
    g = _grid(grid)
    budget = _pos(budget, "budget", allow_zero=True)
    alpha = _pos(alpha, "alpha", allow_zero=True, upper=1.0)
    names = [mv.name for mv in spec.venues]
    if venues is not None and (isinstance(venues, str) or not isinstance(venues, Iterable)):
        raise InputError(f"venues must be a list of names of the market's venues {names}, was {show(venues)}")
    chosen = tuple(names) if venues is None else tuple(str(v) for v in venues)
    unknown = [v for v in chosen if v not in names]
    if unknown or not chosen:
        raise InputError(f"venues must be names of the market's venues {names}, was {list(chosen)!r}")
    if "mmr" in g:
        for mv in spec.venues:
            if mv.name in chosen and (mv.regime.kind != "static" or mv.maintenance is not None):
                raise InputError(
                    f"grid.mmr: venue {mv.name!r} must have a static regime without per-asset maintenance, "
                    f"had kind {mv.regime.kind!r}"
                )
    p_spec = _path_spec(paths, spec, seed)
    s0 = market_paths_for(p_spec, 1)[0, 0]
    held = spec.collateral_mask()[np.asarray(population.venue)]  # holdings are margin, not open interest
    gross = np.where(held, 0.0, np.abs(np.asarray(population.qty))) @ s0
    oi = np.bincount(np.asarray(population.venue), weights=gross, minlength=spec.n_venues)
    keys = list(g)
    rows = []
    with dask_client(scheduler) as client:
        for combo in itertools.product(*(g[k] for k in keys)):
            params = dict(zip(keys, combo, strict=True))
            vs = [_with_params(mv, params) if mv.name in chosen else mv for mv in spec.venues]
            trial = replace(spec, venues=vs)
            res = market_monte_carlo(
                population, trial, p_spec, n_paths, budget=budget, quantiles=(0.99,),
                steps_per_year=steps_per_year, scheduler=client, chunk_size=chunk_size,
            )  # fmt: skip
            cost = sum(
                mv.settings.insurance_fund + (mv.regime.mmr if mv.regime.kind == "static" else 0.0) * oi[v]
                for v, mv in enumerate(vs)
            )
            d = res.distribution.loc["total"].to_dict()
            rows.append(
                {
                    **params,
                    "cost": float(cost),
                    "p_over_budget": float(d["p_over_budget"]),
                    "bad_debt_mean": float(d["bad_debt_mean"]),
                    "bad_debt_q99": float(d["bad_debt_q99"]),
                    "adl_mean": float(d["adl_mean"]),
                }
            )
    table = pd.DataFrame(rows).sort_values(["cost", "p_over_budget"], kind="stable").reset_index(drop=True)
    table["feasible"] = table["p_over_budget"] <= alpha
    table["best"] = False
    best = None
    if table["feasible"].any():
        i = int(table.index[table["feasible"]][0])
        table.loc[i, "best"] = True
        best = {k: float(cast(float, table.loc[i, k])) for k in keys}
    return MarketCalibration(table=table, best=best, budget=budget, alpha=alpha, venues=chosen)
