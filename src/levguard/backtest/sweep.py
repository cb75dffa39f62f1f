"""Parameter sweeps of the backtester: strategies x policies x run settings in one call.

:func:`sweep` expands the grids into configurations, packs each configuration as a row of
kernel settings plus indices into stacks of direction and leverage arrays, and runs them with
:data:`levguard.kernels.backtest.sweep_nb` (numba ``prange`` over configurations) in chunks,
locally or on a Dask cluster.  Each configuration equals one :func:`levguard.backtest.engine.run`
with the same arguments (the tests compare them), and the chunking, the thread count and the
scheduler never change a result.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.backtest.engine import Prepared, _path_cfg, prepare
from levguard.backtest.metrics import METRIC_NAMES
from levguard.errors import InputError
from levguard.kernels import backtest as kb

__all__ = ["RUN_PARAMS", "SWEEP_METRICS", "Candidate", "best", "sweep"]

FloatArray = npt.NDArray[np.float64]

# Run settings a sweep may vary, and where each lives in the kernel inputs.
RUN_PARAMS: dict[str, tuple[str, int]] = {
    "stop_loss": ("cfg", kb.CFG_STOP_LOSS),
    "take_profit": ("cfg", kb.CFG_TAKE_PROFIT),
    "cooldown_bars": ("cfg", kb.CFG_COOLDOWN),
    "band": ("cfg", kb.CFG_BAND),
    "min_trade": ("cfg", kb.CFG_MIN_TRADE),
    "max_step": ("cfg", kb.CFG_MAX_STEP),
    "slip_bps": ("cfg", kb.CFG_SLIP_BPS),
    "impact": ("cfg", kb.CFG_IMPACT),
    "limit_offset_bps": ("cfg", kb.CFG_LIMIT_OFFSET),
    "margin_mode": ("cfg", kb.CFG_MARGIN_MODE),
    "taker_fee": ("inst", kb.INST_TAKER),
    "maker_fee": ("inst", kb.INST_MAKER),
    "liquidation_fee_rate": ("inst", kb.INST_LIQ_FEE),
}

# Metric columns of the sweep table (the per-run metrics, ``max_leverage`` renamed so that it
# cannot clash with a policy parameter of that name).
SWEEP_METRICS: tuple[str, ...] = (
    *("max_leverage_used" if m == "max_leverage" else m for m in METRIC_NAMES),
    "final_equity",
    "bad_debt",
    "orders_clipped",
)
_STAT_COLUMNS = (
    kb.STAT_TOTAL_RETURN,
    kb.STAT_CAGR,
    kb.STAT_VOLATILITY,
    kb.STAT_SHARPE,
    kb.STAT_SORTINO,
    kb.STAT_MAX_DRAWDOWN,
    kb.STAT_CALMAR,
    kb.STAT_TIME_UNDER_WATER,
    kb.STAT_N_LIQUIDATIONS,
    kb.STAT_FEES,
    kb.STAT_FUNDING,
    kb.STAT_TURNOVER,
    kb.STAT_AVG_LEVERAGE,
    kb.STAT_MAX_LEVERAGE,
    kb.STAT_WORST_BAR,
    kb.STAT_FINAL_EQUITY,
    kb.STAT_BAD_DEBT,
    kb.STAT_CLIPPED,
)


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


def _grid(grid: Mapping[str, Sequence[Any]], what: str) -> list[dict[str, Any]]:
    keys = list(grid)
    values = []
    for k in keys:
        v = grid[k]
        if isinstance(v, str) or not isinstance(v, Sequence | np.ndarray) or len(v) == 0:
            raise InputError(f"{what}: grid values of {k!r} must be a non-empty list, was {v!r}")
        values.append(list(v))
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _run_grid(grid: Mapping[str, Sequence[Any]] | None) -> list[dict[str, Any]]:
    if not grid:
        return [{}]
    unknown = set(grid) - set(RUN_PARAMS)
    if unknown:
        raise InputError(f"grid: unknown run settings {sorted(unknown)}; sweepable: {sorted(RUN_PARAMS)}")
    combos = _grid(grid, "grid")
    for combo in combos:
        for key, value in combo.items():
            if key == "margin_mode":
                if value not in ("isolated", "cross"):
                    raise InputError(f"grid: margin_mode must be 'isolated' or 'cross', was {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not value >= 0.0:
                raise InputError(f"grid: {key} must be a number >= 0, was {value!r}")
            if key in ("stop_loss",) and not value < 1.0:
                raise InputError(f"grid: stop_loss must be a fraction in [0, 1), was {value!r}")
            if key in ("taker_fee", "maker_fee", "liquidation_fee_rate") and not value < 0.1:
                raise InputError(f"grid: {key} must be a fraction in [0, 0.1), was {value!r}")
    return combos


def _apply_run(cfg: FloatArray, inst: FloatArray, combo: Mapping[str, Any]) -> None:
    for key, value in combo.items():
        where, col = RUN_PARAMS[key]
        if key == "margin_mode":
            cfg[col] = kb.ISOLATED if value == "isolated" else kb.CROSS
        elif key == "limit_offset_bps":
            cfg[col] = float(value) * 1e-4
        elif where == "cfg":
            cfg[col] = float(value)
        else:
            inst[:, col] = float(value)
            if key == "taker_fee":
                inst[:, kb.INST_FEE_IN_MM] = np.where(inst[:, kb.INST_FEE_IN_MM] > 0.0, float(value), 0.0)


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(0, n, size):
        yield a, min(n, a + size)


def _run_chunk(
    mkt: FloatArray,
    directions: FloatArray,
    leverages: FloatArray,
    insts: FloatArray,
    tiers: FloatArray,
    cfgs: FloatArray,
    index: npt.NDArray[np.int64],
    ppy: float,
) -> FloatArray:
    out = np.zeros((cfgs.shape[0], kb.N_STATS))
    kb.sweep_nb(mkt, directions, leverages, insts, tiers, cfgs, index, ppy, out)
    return out


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
        maker_fee, liquidation_fee_rate).
    scheduler : None, "local", str or dask.distributed.Client
        None runs the chunks in this process (numba threads over configurations); ``"local"``
        starts a Dask ``LocalCluster``; a string is a scheduler address; a Client is used as is.
        Results are identical in every case.
    chunk_size : int
        Configurations per kernel call (and per Dask task).
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
        ``policy_max_drawdown``) and the metrics :data:`SWEEP_METRICS`.

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
    n_cfg = len(strat_cands) * len(pol_cands) * len(run_combos)
    # Columns: clashes between strategy and policy parameter names get a prefix.
    s_keys = {k for c in strat_cands for k in c.params}
    p_keys = {k for c in pol_cands for k in c.params}
    r_keys = {k for c in run_combos for k in c}
    clash = (s_keys & p_keys) | ((s_keys | p_keys) & r_keys) | ((s_keys | p_keys | r_keys) & set(SWEEP_METRICS))

    def col(kind: str, key: str) -> str:
        return f"{kind}_{key}" if key in clash else key

    # Configurations, strategies varying slowest so that a chunk shares few direction arrays.
    order = list(itertools.product(range(len(strat_cands)), range(len(pol_cands)), range(len(run_combos))))
    rows: list[dict[str, Any]] = []
    for si, pi, ri in order:
        row: dict[str, Any] = {"strategy": strat_cands[si].family, "policy": pol_cands[pi].family}
        row.update({col("strategy", k): v for k, v in strat_cands[si].params.items()})
        row.update({col("policy", k): v for k, v in pol_cands[pi].params.items()})
        row.update({col("run", k): v for k, v in run_combos[ri].items()})
        rows.append(row)
    # Path-independent leverage per policy (computed once each, on demand) and its overlay.
    lev_cache: dict[int, tuple[FloatArray, Any, Any]] = {}
    dir_cache: dict[int, FloatArray] = {}
    inst_rows: list[FloatArray] = []
    inst_key: dict[tuple[tuple[str, Any], ...], int] = {}

    def build(a: int, b: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64]]:
        chunk = order[a:b]
        s_ids = sorted({si for si, _, _ in chunk})
        p_ids = sorted({pi for _, pi, _ in chunk})
        for si in s_ids:
            if si not in dir_cache:
                if len(dir_cache) > 4 * chunk_size:  # bound memory on sweeps of many strategies
                    dir_cache.clear()
                dir_cache[si] = _directions_for(base, strat_cands[si])
        for pi in p_ids:
            if pi not in lev_cache:
                if len(lev_cache) > 4 * chunk_size:
                    lev_cache.clear()
                lev_cache[pi] = _leverage_for(base, pol_cands[pi])
        dirs = np.ascontiguousarray(np.stack([dir_cache[si] for si in s_ids]))
        levs = np.ascontiguousarray(np.stack([lev_cache[pi][0] for pi in p_ids]))
        cfgs = np.empty((len(chunk), kb.N_CFG))
        index = np.empty((len(chunk), 3), dtype=np.int64)
        local_insts: list[FloatArray] = []
        local_key: dict[int, int] = {}
        for i, (si, pi, ri) in enumerate(chunk):
            cfg = base.cfg.copy()
            for c in (
                kb.CFG_DD_MAX,
                kb.CFG_DD_BASE,
                kb.CFG_DD_POWER,
                kb.CFG_CPPI_FLOOR,
                kb.CFG_CPPI_MULT,
                kb.CFG_CPPI_RATCHET,
                kb.CFG_CPPI_MAX,
                kb.CFG_CPPI_REF,
            ):
                cfg[c] = 0.0
            _, dd, cppi = lev_cache[pi]
            _path_cfg(cfg, dd, cppi, float(base.cfg[kb.CFG_INITIAL_EQUITY]))
            inst = base.inst.copy()
            _apply_run(cfg, inst, run_combos[ri])
            key = tuple(sorted((k, v) for k, v in run_combos[ri].items() if RUN_PARAMS[k][0] == "inst"))
            if key not in inst_key:
                inst_key[key] = len(inst_rows)
                inst_rows.append(inst)
            g = inst_key[key]
            if g not in local_key:
                local_key[g] = len(local_insts)
                local_insts.append(inst_rows[g])
            cfgs[i] = cfg
            index[i] = (s_ids.index(si), p_ids.index(pi), local_key[g])
        return dirs, levs, np.ascontiguousarray(np.stack(local_insts)), cfgs, index

    stats = np.empty((n_cfg, kb.N_STATS))
    bounds = list(_chunks(n_cfg, chunk_size))
    client, own_cluster = _client(scheduler)
    try:
        with _Progress(progress, len(bounds), n_cfg) as advance:
            if client is None:
                for a, b in bounds:
                    dirs, levs, insts, cfgs, index = build(a, b)
                    stats[a:b] = _run_chunk(base.mkt, dirs, levs, insts, base.tiers, cfgs, index, base.ppy)
                    advance()
            else:
                mkt_f, tiers_f = client.scatter([base.mkt, base.tiers], broadcast=True)
                futures = {}
                for a, b in bounds:
                    dirs, levs, insts, cfgs, index = build(a, b)
                    fut = client.submit(
                        _run_chunk, mkt_f, dirs, levs, insts, tiers_f, cfgs, index, base.ppy, pure=False
                    )
                    futures[fut] = (a, b)
                from distributed import as_completed

                for fut in as_completed(list(futures)):  # type: ignore[no-untyped-call]
                    a, b = futures[fut]
                    stats[a:b] = fut.result()
                    advance()
    finally:
        if own_cluster is not None:
            client.close()
            own_cluster.close()
    table = pd.DataFrame(rows)
    for name, c in zip(SWEEP_METRICS, _STAT_COLUMNS, strict=True):
        table[name] = stats[:, c]
    table.attrs["symbols"] = base.symbols
    table.attrs["venue"] = base.params["venue"]
    table.attrs["bars"] = int(base.index.shape[0])
    return table


def _directions_for(base: Prepared, cand: Candidate) -> FloatArray:
    try:
        return base.directions_of(cand.value)
    except InputError as exc:
        raise InputError(f"strategy {cand.family!r} {cand.params or ''}: {exc}") from exc


def _leverage_for(base: Prepared, cand: Candidate) -> tuple[FloatArray, Any, Any]:
    try:
        return base.leverage_of(cand.value)
    except InputError as exc:
        raise InputError(f"policy {cand.family!r} {cand.params or ''}: {exc}") from exc


def _client(scheduler: object) -> tuple[Any, Any]:
    """Return (client, cluster we own or None) for a scheduler argument."""
    if scheduler is None:
        return None, None
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise InputError(f"scheduler: dask.distributed is not installed ({exc})") from exc
    if isinstance(scheduler, Client):
        return scheduler, None
    if scheduler == "local":
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster), cluster  # type: ignore[no-untyped-call]
    if isinstance(scheduler, str) and scheduler:
        try:
            return Client(scheduler, timeout="10s"), None  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise InputError(f"scheduler: cannot connect to {scheduler!r} ({exc})") from exc
    raise InputError(f"scheduler must be None, 'local', an address or a dask Client, was {scheduler!r}")


class _Progress:
    """A rich progress bar over chunks (a no-op when off)."""

    def __init__(self, on: bool, n_chunks: int, n_cfg: int) -> None:
        self.on = on
        self.n_chunks = n_chunks
        self.n_cfg = n_cfg
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[], None]:
        if self.on:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn(f"sweep of {self.n_cfg:,} configurations"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("sweep", total=self.n_chunks)
        return self._advance

    def _advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def best(table: pd.DataFrame, objective: str = "sharpe", constraints: Mapping[str, float] | None = None) -> pd.Series:
    """Return the sweep row maximising ``objective`` (minimising ``max_drawdown``-like metrics is
    done by passing their negation) among rows meeting ``constraints`` (``{"max_drawdown": 0.5,
    "n_liquidations": 0}``: upper bounds).

    Raises
    ------
    InputError
        Unknown objective or constraint column, or no feasible row.
    """
    if objective not in table.columns:
        raise InputError(f"objective {objective!r} is not a column of the sweep table")
    mask = np.isfinite(table[objective].to_numpy(dtype=float))
    for key, bound in (constraints or {}).items():
        if key not in table.columns:
            raise InputError(f"constraint {key!r} is not a column of the sweep table")
        if not math.isfinite(float(bound)):
            raise InputError(f"constraint {key!r} must be finite, was {bound!r}")
        mask &= table[key].to_numpy(dtype=float) <= float(bound)
    if not mask.any():
        raise InputError(f"no configuration meets the constraints {dict(constraints or {})}")
    feasible = table[mask]
    row: pd.Series = feasible.loc[feasible[objective].astype(float).idxmax()]
    return row
