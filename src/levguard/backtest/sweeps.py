"""Parameter sweeps of the backtester: strategies x policies x run settings in one call.

:func:`sweep` expands the grids into configurations, packs each configuration as a row of
kernel settings plus indices into stacks of direction and leverage arrays, and runs them with
:data:`levguard.kernels.backtest.sweep_nb` (numba ``prange`` over configurations) in chunks,
locally or on a Dask cluster (where each worker receives the bars and the candidates once and
builds its chunks' signals itself).  Each configuration equals one :func:`levguard.backtest.engine.run`
with the same arguments (the tests compare them), and the chunking, the thread count and the
scheduler never change a result.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.backtest._inputs import _per_symbol, bar_data
from levguard.backtest._policy_paths import _path_cfg, _split_policy, side_dependent
from levguard.backtest._run_settings import RUN_PARAMS, _apply_run, _grid, _run_grid, check_run_setting
from levguard.backtest.engine import SHORT_RUN_DAYS, Prepared, prepare, simulate, span_days
from levguard.backtest.metrics import compute_metrics, drawdown
from levguard.core.validate import finite_number, number, positive_number, show
from levguard.data.frames import float_column, utc_frame
from levguard.errors import InputError
from levguard.kernels import backtest as kb
from levguard.kernels import load_numba
from levguard.kernels.backtest_metrics import (
    METRIC_DIRECTION,
    STATS_DTYPE,
    SWEEP_DIRECTION,
    TABLE_METRICS,
    TABLE_NAME,
    rank_order,
)
from levguard.kernels.backtest_orders import slipped_price
from levguard.kernels.backtest_records import ContractKind, MarginMode
from levguard.kernels.margin import position_notional, position_upnl
from levguard.parallel import Progress, dask_client, run_on_dask, task_size, worker_numba_threads

__all__ = [
    "METRIC_DIRECTION",
    "RUN_PARAMS",
    "SWEEP_METRICS",
    "Candidate",
    "WalkForward",
    "best",
    "check_run_setting",
    "objective_direction",
    "sweep",
    "walk_forward",
]

FloatArray = npt.NDArray[np.float64]

_TABLE_NAME = TABLE_NAME

# The run settings of the Rebalancer: read in band mode only.
_REBALANCER_SETTINGS = frozenset({"band", "min_trade", "max_step"})

# Metric columns of the sweep table: the per-run metrics (levguard.backtest.metrics.METRIC_NAMES)
# and the sweep's run statistics (levguard.kernels.backtest_metrics.RUN_STATS, ruin_bar as ruined).
SWEEP_METRICS: tuple[str, ...] = TABLE_METRICS


@dataclass(frozen=True)
class Candidate:
    """One expanded strategy or policy: its family name, parameters and the object itself."""

    family: str
    params: dict[str, Any]
    value: object


def _expand(spec: object, what: str) -> list[Candidate]:
    """``{name: obj}``, ``{name: (factory, grid)}`` or one object -> candidates."""
    if not isinstance(spec, Mapping):
        return [Candidate(str(getattr(spec, "name", what)), {}, spec)]
    if not spec:
        raise InputError(f"{what}: give at least one {what}")
    out: list[Candidate] = []
    for name, entry in spec.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"{what}: names must be non-empty strings, was {name!r}")
        if isinstance(entry, tuple) and len(entry) == 2 and callable(entry[0]) and isinstance(entry[1], Mapping):
            factory: Callable[..., object] = entry[0]
            for params in _grid(entry[1], f"{what} {name!r}"):
                try:
                    value = factory(**params)
                except InputError as exc:
                    raise InputError(f"{what} {name!r} with {params}: {exc}") from exc
                except TypeError as exc:
                    raise InputError(f"{what} {name!r}: bad parameters {sorted(params)} ({exc})") from exc
                out.append(Candidate(name, params, value))
        else:
            out.append(Candidate(name, {}, entry))
    return out


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(0, n, size):
        yield a, min(n, a + size)


Chunk = tuple[FloatArray, FloatArray, npt.NDArray[np.void], npt.NDArray[np.void], npt.NDArray[np.void]]


class _SweepPlan:
    """Everything a range of a sweep's configurations needs: the prepared bars, the expanded
    candidates and run settings, and caches of the strategies' directions and the policies'
    leverage paths.

    The same object runs the chunks in this process and, scattered once to each Dask worker, on
    the workers: a task ships only ``(a, b)``, and the worker builds the directions, leverage
    paths and kernel records of configurations ``a .. b - 1`` and returns their stats records.
    Configuration ``i`` is ``(strategy, policy, run setting) = (i // (P R), (i // R) % P, i % R)``
    (strategies varying slowest, so a chunk shares few direction arrays).  The caches are not
    pickled; each worker fills its own.
    """

    def __init__(
        self,
        base: Prepared,
        strategies: list[Candidate],
        policies: list[Candidate],
        runs: list[dict[str, Any]],
        chunk_size: int,
    ) -> None:
        self.base = base
        self.strategies = strategies
        self.policies = policies
        self.runs = runs
        self.chunk_size = chunk_size
        self._init_caches()

    def _init_caches(self) -> None:
        self._dirs: dict[int, FloatArray] = {}
        self._levs: dict[tuple[int, int], tuple[FloatArray, Any, Any]] = {}
        self._sided: dict[int, bool] = {}
        self._lock = threading.Lock()

    def _by_side(self, pi: int) -> bool:
        # Whether policy pi's path depends on the strategy's directions (cached).
        if pi not in self._sided:
            self._sided[pi] = side_dependent(self.policies[pi].value)
        return self._sided[pi]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_dirs", "_levs", "_sided", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_caches()

    def triple(self, i: int) -> tuple[int, int, int]:
        """Configuration ``i`` as (strategy, policy, run setting) indices."""
        n_p, n_r = len(self.policies), len(self.runs)
        return i // (n_p * n_r), (i // n_r) % n_p, i % n_r

    def arrays(self, a: int, b: int) -> Chunk:
        """Directions, leverage paths, instruments, configs and selectors of configurations
        ``a .. b - 1`` (the inputs of :data:`levguard.kernels.backtest.sweep_nb`)."""
        with self._lock:  # the caches are shared by a worker's threads
            return self._arrays(a, b)

    def _arrays(self, a: int, b: int) -> Chunk:
        base = self.base
        chunk = [self.triple(i) for i in range(a, b)]
        s_ids = sorted({si for si, _, _ in chunk})
        # A policy whose path reads the strategy's directions (a Kelly estimating the drift) has
        # one path per strategy: keyed (policy, strategy); the others (policy, -1).
        p_ids = sorted({(pi, si if self._by_side(pi) else -1) for si, pi, _ in chunk})
        # Bound memory on sweeps of many strategies or policies: keep only this chunk's arrays.
        if len(self._dirs) > 2 * self.chunk_size:
            for stale in [k for k in self._dirs if k not in s_ids]:
                del self._dirs[stale]
        if len(self._levs) > 2 * self.chunk_size:
            for stale_lev in [k for k in self._levs if k not in p_ids]:
                del self._levs[stale_lev]
        for si in s_ids:
            if si not in self._dirs:
                self._dirs[si] = _directions_for(base, self.strategies[si])
        for lev_id in p_ids:
            if lev_id not in self._levs:
                p_i, s_i = lev_id
                self._levs[lev_id] = _leverage_for(base, self.policies[p_i], None if s_i < 0 else self._dirs[s_i])
        dirs = np.ascontiguousarray(np.stack([self._dirs[si] for si in s_ids]))
        levs = np.ascontiguousarray(np.stack([self._levs[lev_id][0] for lev_id in p_ids]))
        cfgs = np.repeat(base.cfg, len(chunk))
        select = np.empty(len(chunk), dtype=kb.SELECT_DTYPE)
        insts: list[npt.NDArray[np.void]] = []
        inst_key: dict[tuple[tuple[str, Any], ...], int] = {}
        for i, (si, pi, ri) in enumerate(chunk):
            cfg = cfgs[i]
            lev_key = (pi, si if self._by_side(pi) else -1)
            _, dd, cppi = self._levs[lev_key]
            _path_cfg(cfg, dd, cppi, base.initial_equity)
            inst = base.inst.copy()
            _apply_run(cfg, inst, self.runs[ri], base.params)
            key = tuple(sorted((k, v) for k, v in self.runs[ri].items() if RUN_PARAMS[k][0] == "inst"))
            if key not in inst_key:
                inst_key[key] = len(insts)
                insts.append(inst)
            select[i] = (s_ids.index(si), p_ids.index(lev_key), inst_key[key])
        return dirs, levs, np.ascontiguousarray(np.stack(insts)), cfgs, select

    def run(self, a: int, b: int) -> npt.NDArray[np.void]:
        """The ``STATS_DTYPE`` records of configurations ``a .. b - 1``."""
        return self.simulate(self.arrays(a, b))

    def simulate(self, arrays: Chunk) -> npt.NDArray[np.void]:
        """The ``STATS_DTYPE`` records of a chunk built by :meth:`arrays`."""
        dirs, levs, insts, cfgs, select = arrays
        out = np.zeros(cfgs.shape[0], dtype=STATS_DTYPE)
        lanes = 2 * _numba_threads()  # two lanes a thread: balanced, and few buffers to allocate
        kb.sweep_nb(self.base.market, dirs, levs, insts, self.base.tiers, cfgs, select, self.base.ppy, out, lanes)
        return out


def _numba_threads() -> int:
    return int(load_numba().get_num_threads())


def _run_on_worker(plan: _SweepPlan, a: int, b: int) -> npt.NDArray[np.void]:
    # A Dask task: one numba thread per worker thread (levguard.parallel.worker_numba_threads).
    with worker_numba_threads():
        return plan.run(a, b)


def sweep(
    data: object,
    strategies: object,
    policies: object,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    scheduler: object = None,
    chunk_size: int = 64,
    progress: bool = False,
    **run_kwargs: Any,
) -> pd.DataFrame:
    """Backtest every combination of strategies, policies and run settings.

    Parameters
    ----------
    data : DataFrame, mapping symbol -> DataFrame, or path
        As for :func:`levguard.backtest.engine.run`.
    strategies : strategy, or mapping name -> strategy or (factory, {param: values})
        Each entry is a strategy (object with ``signal``, directions array...) or a factory and a
        grid expanded to every combination (``{"ema": (EmaCrossover, {"fast": [10, 20],
        "slow": [100, 200]})}``).
    policies : policy, or mapping name -> policy or (factory, {param: values})
        The same for leverage policies (``{"vt": (VolatilityTarget, {"target_vol": [0.3, 0.6]})}``);
        a number is a fixed leverage.
    grid : mapping setting -> values, optional
        Run settings to vary (:data:`RUN_PARAMS`: stop_loss, take_profit, cooldown_bars, band,
        min_trade, max_step, slip_bps, impact, limit_offset_bps, margin_mode, taker_fee,
        maker_fee, liquidation_fee_rate); ``band``, ``min_trade`` and ``max_step`` need
        ``rebalance="band"`` (or a Rebalancer).  A swept ``taker_fee`` moves what :func:`run` derives
        from the taker: the maker fee (unless ``maker_fee`` is swept too or ``fees`` gives one, as
        ``run(fees=x)`` sets both), the liquidation fee (unless given) and the venue's fee terms
        in the margins.
    scheduler : None, "local", str or dask.distributed.Client
        None runs the chunks in this process (numba threads over configurations); ``"local"``
        starts a Dask ``LocalCluster``; a string is a scheduler address; a Client is used as is.
        On Dask the prepared bars and the strategy and policy objects go to each worker once,
        each task builds its configurations' directions and leverage paths on the worker and
        returns only their metrics, and its kernel runs on one numba thread
        (:func:`levguard.parallel.worker_numba_threads`).  Results are identical in every case.
    chunk_size : int
        Configurations per kernel call; on Dask, at most this many per task and fewer when
        needed to give every worker thread eight tasks (:func:`levguard.parallel.task_size`).
    progress : bool
        Show a rich progress bar over chunks.
    **run_kwargs
        The other arguments of :func:`~levguard.backtest.engine.run` (venue, fees, slippage,
        margin_mode, initial_equity, rebalance, ...), shared by every configuration.

    Returns
    -------
    DataFrame
        One row per configuration: ``strategy``, ``policy``, the swept parameters (strategy,
        policy and run settings; a name used by both a strategy and a policy is prefixed
        ``strategy_`` / ``policy_``, and so is one named like a metric, e.g. DrawdownControl's
        ``policy_max_drawdown``) and the metrics :data:`SWEEP_METRICS`.  ``attrs`` holds
        ``symbols``, ``venue``, ``bars``, ``span_days`` and ``short_run`` (as
        :attr:`~levguard.backtest.engine.BacktestResult.short_run`).

    Raises
    ------
    InputError
        A bad grid, strategy, policy or run argument.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive integer, was {chunk_size!r}")
    strat_cands = _expand(strategies, "strategy")
    pol_cands = _expand(policies, "policy")
    run_combos = _run_grid(grid)
    base = prepare(data, strat_cands[0].value, pol_cands[0].value, **run_kwargs)
    rebalancing = sorted(_REBALANCER_SETTINGS & set(grid or {}))
    if rebalancing and base.params["rebalance"] == "never":  # the kernel never reads them then
        raise InputError(
            f"grid: {', '.join(rebalancing)}: no effect with rebalance='never' (it trades only when the "
            "direction changes); sweep them with rebalance='band' or a Rebalancer"
        )
    n_cfg = len(strat_cands) * len(pol_cands) * len(run_combos)
    # Columns: clashes between strategy and policy parameter names get a prefix.
    s_keys = {k for c in strat_cands for k in c.params}
    p_keys = {k for c in pol_cands for k in c.params}
    r_keys = {k for c in run_combos for k in c}
    clash = (s_keys & p_keys) | ((s_keys | p_keys) & r_keys) | ((s_keys | p_keys | r_keys) & set(SWEEP_METRICS))

    def col(kind: str, key: str) -> str:
        return f"{kind}_{key}" if key in clash else key

    # Configurations, strategies varying slowest so that a chunk shares few direction arrays.
    plan = _SweepPlan(base, strat_cands, pol_cands, run_combos, chunk_size)
    rows: list[dict[str, Any]] = []
    for i in range(n_cfg):
        si, pi, ri = plan.triple(i)
        row: dict[str, Any] = {"strategy": strat_cands[si].family, "policy": pol_cands[pi].family}
        row.update({col("strategy", k): v for k, v in strat_cands[si].params.items()})
        row.update({col("policy", k): v for k, v in pol_cands[pi].params.items()})
        row.update({col("run", k): v for k, v in run_combos[ri].items()})
        rows.append(row)
    stats = np.empty(n_cfg, dtype=STATS_DTYPE)
    with dask_client(scheduler) as client:
        if client is None:
            bounds = list(_chunks(n_cfg, chunk_size))
            # The next chunk's arrays are built on a second thread while the kernel (which releases
            # the GIL) runs this one: signal checks and stacking no longer stall numba's threads.
            with (
                Progress(progress, len(bounds), f"sweep of {n_cfg:,} configurations") as advance,
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="levguard-sweep") as pool,
            ):
                pending = pool.submit(plan.arrays, *bounds[0])
                for j, (a, b) in enumerate(bounds):
                    arrays = pending.result()
                    if j + 1 < len(bounds):
                        pending = pool.submit(plan.arrays, *bounds[j + 1])
                    stats[a:b] = plan.simulate(arrays)
                    advance()
        else:
            bounds = list(_chunks(n_cfg, task_size(n_cfg, chunk_size, client)))
            with Progress(progress, len(bounds), f"sweep of {n_cfg:,} configurations") as advance:
                # The plan (bars, candidates) goes to every worker once; a task ships two integers.
                run_on_dask(
                    client, plan, bounds, _run_on_worker, lambda a, b, r: stats.__setitem__(slice(a, b), r), advance
                )
    table = pd.DataFrame(rows)
    for field in STATS_DTYPE.names or ():
        if field == "ruin_bar":
            table["ruined"] = np.where(stats[field] >= 0.0, 1.0, 0.0)
        else:
            table[_TABLE_NAME.get(field, field)] = stats[field]
    table.attrs["symbols"] = base.symbols
    table.attrs["venue"] = base.params["venue"]
    table.attrs["bars"] = int(base.index.shape[0])
    table.attrs["span_days"] = days = span_days(int(base.index.shape[0]), base.ppy)
    table.attrs["short_run"] = bool(days < SHORT_RUN_DAYS)  # its tables read the annualised metrics n/a
    return table


def _directions_for(base: Prepared, cand: Candidate) -> FloatArray:
    try:
        return base.directions_of(cand.value)
    except InputError as exc:
        raise InputError(f"strategy {cand.family!r} {cand.params or ''}: {exc}") from exc


def _leverage_for(base: Prepared, cand: Candidate, directions: FloatArray | None = None) -> tuple[FloatArray, Any, Any]:
    try:
        return base.leverage_of(cand.value, directions)
    except InputError as exc:
        raise InputError(f"policy {cand.family!r} {cand.params or ''}: {exc}") from exc


def objective_direction(objective: str, direction: str | None = None) -> str:
    """Return ``"max"`` or ``"min"``: ``direction`` checked, else the objective's own.

    Parameters
    ----------
    objective : str
        A metric of the sweep table (its direction is
        :data:`~levguard.kernels.backtest_metrics.SWEEP_DIRECTION`; ``"max"`` for another column,
        such as a policy's ``max_leverage``).
    direction : {"max", "min"}, optional
        Whether the highest or the lowest value is best; None for the objective's own.

    Raises
    ------
    InputError
        ``direction`` is neither None, ``"max"`` nor ``"min"``.
    """
    if direction is None:
        return SWEEP_DIRECTION.get(objective, "max") if isinstance(objective, str) else "max"
    if direction not in ("max", "min"):
        raise InputError(f"direction must be 'max', 'min' or None (the objective's own), was {show(direction)}")
    return direction


def best(
    table: pd.DataFrame,
    objective: str = "sharpe",
    constraints: Mapping[str, float] | None = None,
    *,
    direction: str | None = None,
) -> pd.Series:
    """Return the sweep row with the best ``objective`` among rows meeting ``constraints``.

    Parameters
    ----------
    table : DataFrame
        A sweep table (:func:`sweep`).
    objective : str
        The column to rank by.
    constraints : mapping column -> upper bound, optional
        E.g. ``{"max_drawdown": 0.5, "n_liquidations": 0}``.
    direction : {"max", "min"}, optional
        Whether the highest or the lowest objective is best; default the metric's own
        (:func:`objective_direction`: lower is better for ``max_drawdown``, ``volatility``,
        ``fees_paid``, ``n_liquidations``, ``time_under_water``, ``turnover``...; higher for
        returns and ratios; higher for a column that is not a metric).

    Notes
    -----
    Rows are ranked as the sweep report ranks them
    (:func:`~levguard.kernels.backtest_metrics.rank_order`): an infinite objective counts (a
    CAGR beyond float64's range is the highest), a NaN one is never chosen, a ruined run (its
    metrics stop at the ruin: a time under water over its first bars) comes after every run
    that was not, and ties go to the first row.

    Raises
    ------
    InputError
        Unknown objective or constraint column, a bad direction, or no feasible row.
    """
    if not isinstance(table, pd.DataFrame):  # None was an AttributeError
        raise InputError(f"table must be a sweep table (a pandas DataFrame), was {type(table).__name__}")
    if constraints is not None and not isinstance(constraints, Mapping):
        raise InputError(f"constraints must be a mapping of column -> upper bound or None, was {show(constraints)}")
    if not isinstance(objective, str) or objective not in table.columns:
        raise InputError(f"objective {objective!r} is not a column of the sweep table")
    way = objective_direction(objective, direction)
    scored = ~np.isnan(float_column(table, objective, "sweep table"))
    mask = np.ones(len(table), dtype=bool)
    for key, bound in (constraints or {}).items():
        if key not in table.columns:
            raise InputError(f"constraint {key!r} is not a column of the sweep table")
        if not math.isfinite(number(bound, f"constraint {key!r}")):
            raise InputError(f"constraint {key!r} must be finite, was {bound!r}")
        mask &= float_column(table, key, "sweep table") <= float(bound)
    if not mask.any():
        raise InputError(f"no configuration meets the constraints {dict(constraints or {})}")
    if not (mask & scored).any():  # every row meeting them has a NaN objective (a ruined run's ratios)
        n_ruined = int((float_column(table, "ruined", "sweep table")[mask] > 0).sum()) if "ruined" in table else 0
        raise InputError(
            f"no configuration meeting the constraints {dict(constraints or {})} has a {objective} to rank by: "
            f"NaN in all {int(mask.sum()):,} of them ({n_ruined:,} ruined: a ruined run's ratios are NaN)"
        )
    feasible = table[mask & scored]
    # The first row with the best objective (by position: a label could repeat), by the sweep
    # report's rule (rank_order: +inf is the highest, NaN never best, ruined runs last).
    values = float_column(feasible, objective, "sweep table")
    ruined = float_column(feasible, "ruined", "sweep table") > 0.0 if "ruined" in feasible.columns else None
    row: pd.Series = feasible.iloc[int(rank_order(values, way, ruined)[0])]
    return row


@dataclass(frozen=True)
class WalkForward:
    """Walk-forward calibration on the backtester (see :func:`walk_forward`).

    Attributes
    ----------
    windows : DataFrame
        One row per window: ``train_start, train_stop, test_start, test_stop`` (timestamps of
        the first and the last bar of each period, both included), the chosen ``strategy``,
        ``policy`` and parameters, the in-sample objective ``is_<objective>`` and out-of-sample
        ``oos_total_return``, ``oos_max_drawdown``, ``oos_n_liquidations``.
    equity : Series
        The stitched out-of-sample equity: each test window runs its own choice from the
        previous window's final equity.  Each window ends flat: the positions left at its last
        close are closed there as market orders (:func:`walk_forward`, Notes), so its return is
        net of its exit costs.
    metrics : dict
        :func:`~levguard.backtest.metrics.compute_metrics` of the stitched path (up to the
        ruin when a test window is ruined), plus ``ruined`` (1.0 or 0.0).
    stability : dict
        ``modal_share``: share of windows choosing the most frequent configuration;
        ``n_distinct``: number of distinct choices.
    ruined_at : Timestamp or None
        The bar at whose close a test window's run was ruined (the later windows stay flat at
        what was left); None when never.
    untested_bars : int
        Bars after the last test window, fewer than ``test_bars``, that no window tests (the
        partial last window is dropped, as :func:`levguard.backtest.walkforward.screen_walk_forward`
        drops it); 0 when the windows end at the last bar.
    untested_start : Timestamp or None
        The first of those bars; None when there are none.
    """

    windows: pd.DataFrame
    equity: pd.Series
    metrics: dict[str, float]
    stability: dict[str, float]
    ruined_at: pd.Timestamp | None = None
    untested_bars: int = 0
    untested_start: pd.Timestamp | None = None


def _slice(data: object, a: int, b: int) -> object:
    if isinstance(data, pd.DataFrame):
        out = data.iloc[a:b]
        out.attrs.update(data.attrs)
        return out
    if isinstance(data, Mapping):
        return {k: _slice(v, a, b) for k, v in data.items()}
    raise InputError("walk_forward: data must be a DataFrame or a mapping symbol -> DataFrame")


def _n_bars(data: object) -> int:
    if isinstance(data, pd.DataFrame):
        return len(data)
    if isinstance(data, Mapping) and data:
        for sym, frame in data.items():
            if not isinstance(frame, pd.DataFrame):
                raise InputError(f"walk_forward: data[{show(sym)}] must be a DataFrame of bars, was {show(frame)}")
        return len(next(iter(data.values())))
    raise InputError("walk_forward: data must be a DataFrame or a non-empty mapping symbol -> DataFrame")


def walk_forward(
    data: object,
    strategies: object,
    policies: object,
    *,
    train_bars: int,
    test_bars: int,
    objective: str = "sharpe",
    constraints: Mapping[str, float] | None = None,
    direction: str | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    warmup_bars: int | None = None,
    initial_equity: float = 10_000.0,
    scheduler: object = None,
    progress: bool = False,
    **run_kwargs: Any,
) -> WalkForward:
    """Choose the best configuration on each training window, trade it on the next test window.

    Parameters
    ----------
    data, strategies, policies, grid, scheduler, **run_kwargs
        As for :func:`sweep` (the sweep runs on each training window).
    train_bars, test_bars : int
        Window lengths in bars; windows roll forward by ``test_bars`` while a whole test window
        fits.  The bars after the last one (fewer than ``test_bars``) are not tested: the result
        counts them in ``untested_bars`` from ``untested_start``.
    objective : str
        Metric of the sweep table to optimise (e.g. ``sharpe``, ``cagr``, ``max_drawdown``).
    constraints : mapping column -> upper bound, optional
        E.g. ``{"n_liquidations": 0, "max_drawdown": 0.3}``; a window with no feasible
        configuration stays flat.
    direction : {"max", "min"}, optional
        Whether the highest or the lowest objective is best; default the metric's own, as in
        :func:`best`.
    warmup_bars : int, optional
        Bars before each test window given to the strategy and policy for their indicators and
        volatility forecast without trading (default ``train_bars``).
    initial_equity : float
        Equity at the start of the first test window.

    Returns
    -------
    WalkForward

    Notes
    -----
    Out-of-sample bars are never seen by the choice made for them: the sweep uses bars
    ``[s, s + train)`` and the test run trades ``[s + train, s + train + test)`` (its warm-up
    bars before ``s + train`` are flat).  Pardo (2008), *The Evaluation and Optimization of
    Trading Strategies*, ch. 11 (walk-forward analysis).

    A window's choice does not carry over to the next, so each test window ends flat: the
    positions left at its last close are closed at that close as the engine fills a market
    order (slippage with that bar's volume as reference, bounded by the bar's ``[low, high]``,
    the taker fee; :func:`~levguard.kernels.backtest_orders.slipped_price`), and the last
    equity of the window is the cash left (a negative sleeve or cross account ends at 0, the
    rest being bad debt, as the engine settles it).  The next window enters at its first open
    and pays its own entry.
    """
    data = bar_data(data)  # a path or a source spec, as run and sweep take them
    n = _n_bars(data)
    # In UTC as every run is (a Tokyo index gave UTC traded windows and Tokyo flat ones).
    if isinstance(data, pd.DataFrame):
        data = utc_frame(data)
    elif isinstance(data, Mapping):
        data = {k: utc_frame(v) for k, v in data.items()}
    for name, v in (("train_bars", train_bars), ("test_bars", test_bars)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise InputError(f"{name} must be an integer >= 2, was {v!r}")
    warm = train_bars if warmup_bars is None else warmup_bars
    if isinstance(warm, bool) or not isinstance(warm, int) or warm < 0:
        raise InputError(f"warmup_bars must be an integer >= 0, was {warmup_bars!r}")
    if train_bars + test_bars > n:
        raise InputError(f"train_bars + test_bars ({train_bars + test_bars}) exceeds the {n} bars of data")
    if objective not in SWEEP_METRICS:
        raise InputError(f"objective must be one of {', '.join(SWEEP_METRICS)}, was {objective!r}")
    direction = objective_direction(objective, direction)
    if constraints is not None and not isinstance(constraints, Mapping):  # a list was an AttributeError
        raise InputError(f"constraints must be a mapping of metric -> upper bound or None, was {show(constraints)}")
    for key, bound in (constraints or {}).items():
        if key not in SWEEP_METRICS:
            raise InputError(f"constraints: {key!r} is not a metric ({', '.join(SWEEP_METRICS)})")
        finite_number(bound, f"constraints: {key} bound")
    strat_cands = _expand(strategies, "strategy")
    pol_cands = _expand(policies, "policy")
    run_combos = _run_grid(grid)
    order = list(itertools.product(range(len(strat_cands)), range(len(pol_cands)), range(len(run_combos))))
    rows: list[dict[str, Any]] = []
    pieces: list[pd.Series] = []
    levs: list[FloatArray] = []
    fees: list[FloatArray] = []
    funding: list[FloatArray] = []
    traded = 0.0
    n_liq = 0
    equity = equity0 = positive_number(initial_equity, "initial_equity")
    peak = equity0  # the stitched account's running peak, which drawdown control reads in every window
    choices: list[tuple[int, ...] | None] = []
    full_index: pd.DatetimeIndex | None = None
    ruined_at: pd.Timestamp | None = None
    ruin_pos: int | None = None
    stitched_len = 0
    tested_to = 0
    # One Dask client (and for "local" one cluster) for every window's sweep.
    n_windows = max(1, (n - train_bars) // test_bars)
    with dask_client(scheduler) as client, Progress(progress, n_windows, "walk-forward windows") as advance:
        for s in range(0, n - train_bars - test_bars + 1, test_bars):
            a, b, c = s, s + train_bars, s + train_bars + test_bars
            tested_to = c
            train = _slice(data, a, b)
            chosen: pd.Series | None = None
            choice: tuple[int, ...] | None = None
            table = pd.DataFrame()
            if ruined_at is None:  # a ruined account trades no more windows: they stay flat
                table = sweep(
                    train, strategies, policies, grid=grid, scheduler=client, initial_equity=equity, **run_kwargs
                )
                try:
                    chosen = best(table, objective, constraints, direction=direction)
                    choice = order[int(table.index.get_loc(chosen.name))]  # type: ignore[arg-type]
                except InputError:  # nothing feasible in this window: stay flat
                    chosen, choice = None, None
            w0 = max(0, b - warm)
            test = _slice(data, w0, c)
            offset = b - w0
            if choice is not None:
                si, pi, ri = choice
                prep = prepare(test, strat_cands[si].value, pol_cands[pi].value, initial_equity=equity, **run_kwargs)
                # Flat through the warm-up; the decision at its last close fills at the test's first open.
                prep.directions[: max(0, offset - 1)] = 0.0
                _apply_run(prep.cfg[0], prep.inst, run_combos[ri], prep.params)
                # One account: CPPI's floor on the run's initial equity, drawdown from the stitched peak.
                _, dd, cppi = _split_policy(_per_symbol(pol_cands[pi].value, prep.symbols, "policy")[0])
                _path_cfg(prep.cfg[0], dd, cppi, equity0)
                prep.cfg[0]["peak0"] = peak
                res = simulate(prep)
                peak = max(peak, float(res.equity.iloc[offset:].max()))
                eq = res.equity.iloc[offset:].copy()
                eq.iloc[-1], close_fees, close_notional = _close_out(prep, res)
                levs.append(res.positions["leverage"].to_numpy()[offset:])
                fees.append(res.fees.to_numpy()[offset:].copy())
                fees[-1][-1] += close_fees
                funding.append(res.funding.to_numpy()[offset:])
                traded += res.traded_notional + close_notional
                window_liq = int(res.metrics["n_liquidations"])
                n_liq += window_liq
                if res.ruined_at is not None:  # (in the flat warm-up at the latest at the test's first bar)
                    ruined_at = max(res.ruined_at, eq.index[0])
                    ruin_pos = max(
                        stitched_len, stitched_len + int(res.equity.index.searchsorted(res.ruined_at)) - offset
                    )
                elif _ruined_by_close(prep, float(eq.iloc[-1]), equity0):  # at the window's last close
                    ruined_at = eq.index[-1]
                    ruin_pos = stitched_len + len(eq) - 1
            else:
                window_liq = 0
                idx = _index_of(test)[offset:]
                eq = pd.Series(equity, index=idx, name="equity")
                zeros = np.zeros(len(idx))
                levs.append(zeros)
                fees.append(zeros)
                funding.append(zeros)
            start_equity = equity
            pieces.append(eq)
            stitched_len += len(eq)
            equity = float(eq.iloc[-1])
            choices.append(choice)
            idx = _index_of(test)
            full_index = idx if full_index is None else full_index
            row: dict[str, Any] = {
                "train_start": _index_of(train)[0],
                "train_stop": _index_of(train)[-1],
                "test_start": idx[offset],
                "test_stop": idx[-1],
                "strategy": strat_cands[choice[0]].family if choice else None,
                "policy": pol_cands[choice[1]].family if choice else None,
            }
            if choice is not None and chosen is not None:
                for k in table.columns:
                    if k not in SWEEP_METRICS and k not in ("strategy", "policy"):
                        row[k] = chosen[k]
                row[f"is_{objective}"] = chosen[objective]
            # A window after a ruin starts (and stays) at what was left: nothing traded, 0 return.
            row["oos_total_return"] = equity / start_equity - 1.0 if start_equity > 0 else 0.0
            # From the window's start; 1 in the window of the ruin, 0 in those after it (nothing left).
            row["oos_max_drawdown"] = float(drawdown(eq.to_numpy(), start_equity).max(initial=0.0))
            row["oos_n_liquidations"] = window_liq
            rows.append(row)
            advance()
    stitched = pd.concat(pieces)
    stitched.name = "equity"
    ppy = float(_periods(stitched.index))
    metrics = compute_metrics(
        stitched.to_numpy(),
        float(initial_equity),
        ppy,
        leverage=np.concatenate(levs),
        fees=np.concatenate(fees),
        funding=np.concatenate(funding),
        traded_notional=traded,
        n_liquidations=n_liq,
        ruin_index=ruin_pos,
    )
    metrics["ruined"] = 1.0 if ruined_at is not None else 0.0
    made = [c for c in choices if c is not None]
    counts = pd.Series([str(c) for c in made]).value_counts() if made else pd.Series(dtype=int)
    stability = {
        "modal_share": float(counts.iloc[0] / len(choices)) if made else 0.0,
        "n_distinct": float(len(counts)),
        "n_windows": float(len(choices)),
        "n_flat": float(len(choices) - len(made)),
    }
    # The bars after the last test window (fewer than test_bars): not tested, reported.
    untested_start = _index_of(data)[tested_to] if tested_to < n else None
    return WalkForward(pd.DataFrame(rows), stitched, metrics, stability, ruined_at, n - tested_to, untested_start)


def _ruined_by_close(prep: Prepared, equity: float, equity0: float) -> bool:
    # The engine's ruin rule on the equity a window's close leaves: at or below 0, under the margin
    # of the venue's smallest order at the last close, or under DUST_FRACTION of the initial equity
    # (kernels.backtest.simulate_py); the next window would be ruined at its first bar.
    floor = kb.ruin_threshold(prep.inst, prep.tiers, prep.market.close[-1])
    return not equity > 0.0 or equity < max(floor, kb.DUST_FRACTION * equity0)


def _close_out(prep: Prepared, res: Any) -> tuple[float, float, float]:
    """Close the positions test run ``res`` ends with at its last close (:func:`walk_forward`,
    Notes); return (the equity after, the taker fees, the notional traded)."""
    market, cfg = prep.market, prep.cfg[0]
    cross = cfg["margin_mode"] == MarginMode.CROSS
    change = fees = notional = 0.0
    for j, sym in enumerate(prep.symbols):
        held = res.instruments[sym].iloc[-1]
        q = float(held["qty"])
        if q == 0.0:
            continue
        inverse = bool(prep.inst[j]["kind"] == ContractKind.INVERSE)
        px = slipped_price(market.close[-1, j], -q, market.volume[-1, j], cfg, market.low[-1, j], market.high[-1, j])
        fee = float(prep.inst[j]["taker"]) * position_notional(q, px, inverse)
        entry = float(held["entry_price"])
        # From the equity marked at the mark close to the cash the fill leaves.
        d = position_upnl(q, entry, px, inverse) - position_upnl(q, entry, market.mark_close[-1, j], inverse) - fee
        if not cross:
            d = max(d, -float(held["capital"]))  # an isolated sleeve ends at 0 at worst: bad debt
        change += d
        fees += fee
        notional += position_notional(q, px, inverse)
    after = float(res.equity.iloc[-1]) + change
    return (max(after, 0.0) if cross else after), fees, notional


def _index_of(data: object) -> pd.DatetimeIndex:
    frame = data if isinstance(data, pd.DataFrame) else next(iter(data.values()))  # type: ignore[attr-defined]
    index = frame.index
    assert isinstance(index, pd.DatetimeIndex)
    return index


def _periods(index: pd.Index) -> float:
    step = float(np.median(np.diff(pd.DatetimeIndex(index).as_unit("ns").asi8)))
    return 365.0 * 86_400e9 / step
