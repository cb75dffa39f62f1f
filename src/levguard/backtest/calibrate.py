"""Vectorized evaluation of leverage-policy paths and walk-forward calibration.

The evaluator (:func:`evaluate_path`) turns a per-bar target-leverage path into the equity of a
constant-direction leveraged position rebalanced every bar, with fees, funding and an approximate
liquidation test; the searches (:func:`grid_search`, :func:`random_search`) score parameter sets
of a policy on a window; :func:`walk_forward` re-calibrates on rolling or anchored training
windows and evaluates the choice out of sample.  The loops run in the numba kernels of
:mod:`levguard.kernels.policy_eval` (many paths and windows in parallel).

Timing (no look-ahead): ``leverage[t]`` is decided at the close of bar ``t`` with data up to
``t`` and earns bar ``t + 1``'s return.  Because policy paths have no look-ahead, each parameter
set's path is computed once over the full series and sliced per window; every evaluation window
starts flat with fresh equity 1.
"""

from __future__ import annotations

import inspect
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import stdtr

from levguard.core.sizing.base import Policy, SeriesInputs
from levguard.core.validate import array_1d, finite_number, integer_in, number, require_finite, show
from levguard.errors import InputError
from levguard.kernels import backtest_metrics as km
from levguard.kernels import policy_eval as kp
from levguard.typing import Float64Array1D, Float64Array2D

__all__ = [
    "OBJECTIVES",
    "Metrics",
    "SearchResult",
    "equity_curve",
    "evaluate_path",
    "evaluate_paths",
    "grid_search",
    "random_search",
]

Objective = Literal["sharpe", "calmar", "growth"]
OBJECTIVES: tuple[str, ...] = ("sharpe", "calmar", "growth")
_OBJ_COLUMN = {"sharpe": "sharpe", "calmar": "calmar", "growth": "growth_rate"}
_CONSTRAINT_KEYS = ("max_drawdown", "max_liq_prob", "allow_liquidation")
# Student-t degrees of freedom of the per-bar liquidation-probability estimate.
LIQ_PROB_DOF = 4.0

PolicyFactory = Callable[..., Policy]
MAX_DRAWS = 1_000_000
"""Most parameter sets :func:`random_search` draws (``n``)."""


@dataclass(frozen=True)
class Metrics:
    """Performance of one leverage path on one window.

    Attributes
    ----------
    total_return : float
        ``E_T / E_0 - 1``.
    cagr : float
        ``(E_T / E_0)^(1 / years) - 1`` with ``years = n_bars / periods_per_year``.
    volatility : float
        ``std(g) sqrt(periods_per_year)`` of the per-bar equity returns ``g_t`` (ddof 1); also
        readable as the deprecated ``ann_vol``.
    sharpe : float
        ``mean(g) / std(g) sqrt(periods_per_year)`` (zero risk-free rate); NaN if ``std(g) = 0``
        or the path was liquidated (as a ruined run's in :mod:`levguard.backtest.metrics`: the
        mean of per-bar returns can stay positive through the -100 % bar).
    max_drawdown : float
        ``max_t (1 - E_t / max_{u<=t} E_u)`` in [0, 1].
    calmar : float
        ``cagr / max_drawdown``; NaN when there is no drawdown or the path was liquidated.
    growth_rate : float
        Annualised mean log return ``log(E_T / E_0) / years`` (``-inf`` after liquidation).
    liquidated : bool
        Whether the path was liquidated (or ruined) in the window.
    liquidation_bar : int or None
        Index (into the full series) of the liquidating bar.
    n_bars : int
        Number of return bars evaluated.
    years : float
        ``n_bars / periods_per_year``.
    liq_prob : float
        Estimated probability of at least one liquidation in the window (NaN unless computed;
        see :func:`grid_search`).
    """

    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    max_drawdown: float
    calmar: float
    growth_rate: float
    liquidated: bool
    liquidation_bar: int | None
    n_bars: int
    years: float
    liq_prob: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def ann_vol(self) -> float:
        """Deprecated alias of :attr:`volatility`."""
        warnings.warn("Metrics.ann_vol is deprecated; use Metrics.volatility", DeprecationWarning, stacklevel=2)
        return self.volatility


@dataclass(frozen=True)
class SearchResult:
    """Outcome of a parameter search on one window.

    ``table`` has one row per candidate: its parameters, the :class:`Metrics` fields,
    ``liq_prob``, ``feasible`` and ``score`` (the objective, ``-inf`` when infeasible or NaN), in
    candidate order; a parameter named like one of those columns is prefixed ``policy_`` (e.g.
    DrawdownControl's ``policy_max_drawdown``), as in :func:`levguard.backtest.sweeps.sweep`.
    ``best_params`` (unprefixed) is None when no candidate is feasible.
    """

    best_params: dict[str, Any] | None
    best_index: int | None
    best_metrics: Metrics | None
    objective: str
    table: pd.DataFrame = field(repr=False)


def _as_returns(returns: object) -> Float64Array1D:
    arr = array_1d(returns, "returns")
    if arr.shape[0] < 2:
        raise InputError(f"returns must have at least 2 bars, was {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"returns must be finite, first bad index {int(np.flatnonzero(~np.isfinite(arr))[0])}")
    return arr


def _check_scalar(value: object, name: str, *, lo: float, hi: float = math.inf, lo_open: bool = False) -> float:
    v = number(value, name)  # not a bool (True was read as 1.0), a string, None or an array
    if not math.isfinite(v) or v < lo or v > hi or (lo_open and v <= lo):
        rng = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise InputError(f"{name} must be in {rng}, was {show(value)}")
    return v


def _check_leverage(leverage: object, n: int, name: str = "leverage") -> npt.NDArray[np.float64]:
    if leverage is None:  # NumPy would read None as NaN (flat)
        raise InputError(f"{name} must be an array of numbers, was None")
    try:
        arr = np.asarray(leverage, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        raise InputError(f"{name} must be an array of numbers, was {show(leverage)}") from None
    if arr.shape[-1:] != (n,) or arr.ndim not in (1, 2):
        raise InputError(f"{name} must have shape (..., {n}) like returns, was {arr.shape}")
    if np.any(arr < 0) or np.any(np.isinf(arr)):
        raise InputError(f"{name} must be >= 0 and finite (NaN means flat), was min {np.nanmin(arr)!r}")
    return np.ascontiguousarray(arr)


@dataclass(frozen=True)
class _Costs:
    # Validated cost model shared by every evaluation.
    fee_rate: float
    funding: Float64Array1D
    has_funding: bool
    mmr: float
    side: float


def _costs(n: int, fee_rate: float, funding: object | None, maint_margin_rate: float | None, side: int) -> _Costs:
    fee = _check_scalar(fee_rate, "fee_rate", lo=0.0, hi=1.0)
    mmr = 0.0 if maint_margin_rate is None else _check_scalar(maint_margin_rate, "maint_margin_rate", lo=0.0, hi=1.0)
    if isinstance(side, bool) or not isinstance(side, int | float | np.integer | np.floating) or side not in (1, -1):
        raise InputError(f"side must be 1 (long) or -1 (short), was {show(side)}")
    if funding is None:
        return _Costs(fee, np.zeros(1), False, mmr, float(side))
    f = array_1d(funding, "funding")
    if f.shape != (n,):
        raise InputError(f"funding must have the length of returns ({n}), was shape {f.shape}")
    require_finite(f, "funding")
    return _Costs(fee, f, True, mmr, float(side))


def _check_window(start: object, stop: object, n: int, what: str = "window") -> tuple[int, int]:
    # start 0 reads as 1 (bar 0 has no decision before it); negative and bool bounds are refused.
    ok = all(not isinstance(v, bool) and isinstance(v, int | np.integer) for v in (start, stop) if v is not None)
    if start is None or not ok:
        raise InputError(
            f"{what} start and stop must be integers (stop may be None), was start={show(start)}, stop={show(stop)}"
        )
    b = n if stop is None else int(stop)  # type: ignore[call-overload]
    a = int(start)  # type: ignore[call-overload]
    if a < 0 or not 1 <= max(a, 1) < b <= n:
        raise InputError(f"{what} must satisfy 1 <= start < stop <= {n}, was start={start!r}, stop={stop!r}")
    return max(a, 1), b


def _check_pair(window: object, what: str) -> tuple[object, object]:
    # A (start, stop) pair: a window=None or a bare int was a TypeError where it was unpacked.
    if isinstance(window, str | bytes) or not isinstance(window, Sequence | np.ndarray) or len(window) != 2:
        raise InputError(f"{what} must be a (start, stop) pair, was {show(window)}")
    return window[0], window[1]


# --------------------------------------------------------------------------------------------
# metrics


def _metrics_arrays(stats: Float64Array2D, periods_per_year: float) -> dict[str, npt.NDArray[Any]]:
    # Vectorised Metrics fields from kernel statistics (rows of stats); CAGR, volatility, Sharpe
    # and Calmar through the one metrics kernel (levguard.kernels.backtest_metrics).
    final = np.ascontiguousarray(stats[:, kp.S_FINAL])
    n = stats[:, kp.S_N]
    years = n / periods_per_year
    mean = stats[:, kp.S_SUM] / n
    maxdd = np.ascontiguousarray(stats[:, kp.S_MAXDD])
    with np.errstate(divide="ignore", invalid="ignore"):
        # M2 / (n - 1): the kernel's Welford sum of squared deviations (no cancellation, so equal
        # returns have sd 0 and a NaN Sharpe ratio, not one of rounding noise).
        sd = np.sqrt(np.maximum(stats[:, kp.S_M2], 0.0) / np.maximum(n - 1.0, 1.0))
        growth = np.where(final > 0, np.log(np.maximum(final, 1e-300)) / years, -np.inf)
    liq = stats[:, kp.S_LIQ]
    # A liquidated path lost everything: its Sharpe and Calmar are NaN, as a ruined run's are
    # (levguard.backtest.metrics), so a search scores it -inf; the mean of its per-bar returns,
    # zeros after the -100 % bar, could be positive and rank it first.
    ruined = np.ascontiguousarray(liq >= 0)
    cagr, vol, sharpe, calmar = (np.empty(final.shape[0]) for _ in range(4))
    km.ratios_batch_nb(final, years, mean, sd, maxdd, ruined, float(periods_per_year), cagr, vol, sharpe, calmar)
    return {
        "total_return": final - 1.0,
        "cagr": cagr,
        "volatility": vol,
        "sharpe": sharpe,
        "max_drawdown": maxdd,
        "calmar": calmar,
        "growth_rate": growth,
        "liquidated": liq >= 0,
        "liquidation_bar": liq,
        "n_bars": n.astype(np.int64),
        "years": years,
    }


def _metrics_at(arrays: Mapping[str, npt.NDArray[Any]], i: int, liq_prob: float = math.nan) -> Metrics:
    lb = float(arrays["liquidation_bar"][i])
    return Metrics(
        total_return=float(arrays["total_return"][i]),
        cagr=float(arrays["cagr"][i]),
        volatility=float(arrays["volatility"][i]),
        sharpe=float(arrays["sharpe"][i]),
        max_drawdown=float(arrays["max_drawdown"][i]),
        calmar=float(arrays["calmar"][i]),
        growth_rate=float(arrays["growth_rate"][i]),
        liquidated=bool(arrays["liquidated"][i]),
        liquidation_bar=int(lb) if lb >= 0 else None,
        n_bars=int(arrays["n_bars"][i]),
        years=float(arrays["years"][i]),
        liq_prob=liq_prob,
    )


# --------------------------------------------------------------------------------------------
# evaluator


def evaluate_path(
    leverage: npt.ArrayLike,
    returns: npt.ArrayLike,
    periods_per_year: float,
    *,
    fee_rate: float = 0.0,
    funding: npt.ArrayLike | None = None,
    maint_margin_rate: float | None = None,
    side: int = 1,
    start: int = 1,
    stop: int | None = None,
) -> Metrics:
    """Evaluate a target-leverage path over log returns (vectorized policy path evaluator).

    Parameters
    ----------
    leverage : (T,) array_like
        Target leverage decided at the close of each bar (>= 0; NaN means flat).
    returns : (T,) array_like
        Per-bar log returns of the instrument.
    periods_per_year : float
        Bars per 365-day year.
    fee_rate : float, default 0
        Fee per unit of traded notional (e.g. 0.0005 taker).
    funding : (T,) array_like, optional
        Funding rate charged over each bar (positive: longs pay), already per bar.
    maint_margin_rate : float, optional
        Maintenance margin rate for the liquidation test; None tests ruin (``E <= 0``) only.
    side : {1, -1}
        Direction of the position (long or short).
    start, stop : int
        Evaluate return bars ``[start, stop)`` (default all tradable bars ``[1, T)``); the window
        starts flat with equity 1 at the close of bar ``start - 1``.

    Returns
    -------
    Metrics

    Raises
    ------
    InputError
        An argument is invalid (the message names it).

    Notes
    -----
    With simple returns ``r_t = exp(logret_t) - 1`` and side ``s``::

        g_t = L_{t-1} s r_t - fee |L_{t-1} - l_{t-1}| - s f_t L_{t-1}
        E_t = E_{t-1} (1 + g_t),      l_t = L_{t-1} (1 + r_t) / (1 + g_t)

    ``l_t`` is the leverage after the bar's drift and before rebalancing (so the fee is paid on
    the notional actually traded at the close of ``t - 1``; the first entry from flat pays
    ``fee L``).  The drifted notional ``|q| P_t`` follows the price on either side: a short's
    grows by ``1 + r_t`` when the price rises, as a long's does.  Funding is charged on the entry
    notional ``L_{t-1} E_{t-1}``.

    Liquidation is an approximation until the event-driven backtester: bar ``t`` liquidates when
    ``1 + g_t <= mmr L_{t-1} (1 + r_t)``, the maintenance margin on the notional at the close
    (for ``fee = f = 0``: ``s r_t <= -(1 - mmr L) / (L (1 - s mmr))``), using the
    close-to-close move only (intra-bar extremes are ignored, which understates liquidations).
    The account is then lost (``E = 0``) and flat afterwards.
    """
    r = _as_returns(returns)
    n = r.shape[0]
    lev = _check_leverage(leverage, n)
    if lev.ndim != 1:
        raise InputError(f"leverage must be one-dimensional, was shape {lev.shape}")
    ppy = _check_scalar(periods_per_year, "periods_per_year", lo=0.0, lo_open=True)
    c = _costs(n, fee_rate, funding, maint_margin_rate, side)
    a, b = _check_window(start, stop, n)
    stats = np.empty((1, kp.N_STATS))
    kp.eval_window_nb(lev, np.expm1(r), c.funding, c.has_funding, c.fee_rate, c.mmr, c.side, a, b, stats[0])
    return _metrics_at(_metrics_arrays(stats, ppy), 0)


def equity_curve(
    leverage: npt.ArrayLike,
    returns: npt.ArrayLike,
    *,
    fee_rate: float = 0.0,
    funding: npt.ArrayLike | None = None,
    maint_margin_rate: float | None = None,
    side: int = 1,
) -> Float64Array1D:
    """Equity ``E_t`` (``E_0 = 1``) of :func:`evaluate_path`'s model over all bars, shape (T,)."""
    r = _as_returns(returns)
    n = r.shape[0]
    lev = _check_leverage(leverage, n)
    if lev.ndim != 1:
        raise InputError(f"leverage must be one-dimensional, was shape {lev.shape}")
    c = _costs(n, fee_rate, funding, maint_margin_rate, side)
    out = np.empty(n)
    out[0] = 1.0
    stats = np.empty(kp.N_STATS)
    kp.equity_path_nb(lev, np.expm1(r), c.funding, c.has_funding, c.fee_rate, c.mmr, c.side, 1, n, out, stats)
    return out


def _batch_stats(
    levs: Float64Array2D, simple: Float64Array1D, c: _Costs, windows: Sequence[tuple[int, int]]
) -> Float64Array2D:
    # Kernel statistics, shape (P, W, N_STATS).
    starts = np.array([w[0] for w in windows], dtype=np.int64)
    stops = np.array([w[1] for w in windows], dtype=np.int64)
    stats = np.empty((levs.shape[0] * len(windows), kp.N_STATS))
    kp.eval_batch_nb(levs, simple, c.funding, c.has_funding, c.fee_rate, c.mmr, c.side, starts, stops, stats)
    return stats.reshape(levs.shape[0], len(windows), kp.N_STATS)


def evaluate_paths(
    leverages: npt.ArrayLike,
    returns: npt.ArrayLike,
    periods_per_year: float,
    *,
    windows: Sequence[tuple[int, int]] | None = None,
    fee_rate: float = 0.0,
    funding: npt.ArrayLike | None = None,
    maint_margin_rate: float | None = None,
    side: int = 1,
) -> pd.DataFrame:
    """Evaluate many leverage paths (rows) on many windows in parallel.

    Parameters
    ----------
    leverages : (P, T) array_like
        One target-leverage path per row.
    returns, periods_per_year, fee_rate, funding, maint_margin_rate, side
        As in :func:`evaluate_path`.
    windows : sequence of (start, stop), optional
        Half-open bar windows (default the whole series ``[(1, T)]``).

    Returns
    -------
    pandas.DataFrame
        One row per (path, window) with columns ``path``, ``window`` and the :class:`Metrics`
        fields; equal to :func:`evaluate_path` row by row.
    """
    r = _as_returns(returns)
    n = r.shape[0]
    levs = _check_leverage(leverages, n, "leverages")
    if levs.ndim != 2:
        raise InputError(f"leverages must be two-dimensional (P, T), was shape {levs.shape}")
    ppy = _check_scalar(periods_per_year, "periods_per_year", lo=0.0, lo_open=True)
    c = _costs(n, fee_rate, funding, maint_margin_rate, side)
    if windows is not None and (isinstance(windows, str | bytes) or not isinstance(windows, Sequence)):
        raise InputError(f"windows must be a sequence of (start, stop) pairs, was {show(windows)}")
    wins = [(1, n)] if windows is None else [_check_window(*_check_pair(w, "windows"), n, "windows") for w in windows]
    stats = _batch_stats(levs, np.expm1(r), c, wins).reshape(-1, kp.N_STATS)
    frame = pd.DataFrame(_metrics_arrays(stats, ppy))
    frame.insert(0, "window", np.tile(np.arange(len(wins)), levs.shape[0]))
    frame.insert(0, "path", np.repeat(np.arange(levs.shape[0]), len(wins)))
    return frame


# --------------------------------------------------------------------------------------------
# searches


def _check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {OBJECTIVES}, was {objective!r}")
    return objective


def _check_constraints(constraints: Mapping[str, float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if constraints is None:
        return out
    if not isinstance(constraints, Mapping):
        raise InputError(f"constraints must be a mapping of {_CONSTRAINT_KEYS} or None, was {show(constraints)}")
    for key, value in constraints.items():
        if key not in _CONSTRAINT_KEYS:
            raise InputError(f"constraints key must be one of {_CONSTRAINT_KEYS}, was {key!r}")
        if key == "allow_liquidation":
            if not isinstance(value, bool | np.bool_):  # True/False, or a number: "no" was truthy
                number(value, "constraints['allow_liquidation']")
            out[key] = float(bool(value))
        else:
            out[key] = _check_scalar(value, f"constraints[{key!r}]", lo=0.0, hi=1.0)
    return out


def _inputs_for(returns: npt.ArrayLike | SeriesInputs, periods_per_year: float | None) -> SeriesInputs:
    if isinstance(returns, SeriesInputs):
        r = _as_returns(returns.returns)
        if periods_per_year is not None and periods_per_year != returns.periods_per_year:
            raise InputError(
                f"periods_per_year must match inputs.periods_per_year {returns.periods_per_year!r}, "
                f"was {periods_per_year!r}"
            )
        return returns
    if periods_per_year is None:
        raise InputError("periods_per_year must be given with plain returns, was None")
    ppy = _check_scalar(periods_per_year, "periods_per_year", lo=0.0, lo_open=True)
    r = _as_returns(returns)
    return SeriesInputs(returns=r, periods_per_year=ppy)


@dataclass(frozen=True)
class _Problem:
    # A validated search problem: policy inputs, simple returns, cost model, objective, constraints.
    inputs: SeriesInputs
    simple: Float64Array1D
    costs: _Costs
    objective: str
    constraints: dict[str, float]

    @property
    def n(self) -> int:
        return int(self.inputs.returns.shape[0])

    def search(
        self, levs: Float64Array2D, windows: Sequence[tuple[int, int]]
    ) -> list[tuple[dict[str, npt.NDArray[Any]], npt.NDArray[np.bool_], Float64Array1D, Float64Array1D]]:
        # Per window: metrics arrays, feasibility, score and liquidation probability of every path.
        ppy = self.inputs.periods_per_year
        return _search_window(levs, self.simple, self.costs, ppy, windows, self.objective, self.constraints)


def _problem(
    returns: npt.ArrayLike | SeriesInputs,
    periods_per_year: float | None,
    objective: str,
    constraints: Mapping[str, float] | None,
    fee_rate: float,
    funding: npt.ArrayLike | None,
    maint_margin_rate: float | None,
    side: int,
) -> _Problem:
    # Validate the arguments every search shares (in this order: objective, constraints, inputs, costs).
    obj = _check_objective(objective)
    cons = _check_constraints(constraints)
    inputs = _inputs_for(returns, periods_per_year)
    c = _costs(inputs.returns.shape[0], fee_rate, funding, maint_margin_rate, side)
    return _Problem(_sided(inputs, int(c.side)), np.expm1(_as_returns(inputs.returns)), c, obj, cons)


def _sided(inputs: SeriesInputs, side: int) -> SeriesInputs:
    """``inputs`` whose ``side`` is the searched position's at every bar, as the paths read it.

    Without it the policy paths sized the long whatever ``side`` the search evaluated (a Kelly on
    the asset's drift, a gap cap on an inverse contract, a liquidation budget); a ``side`` array
    of the inputs must not hold the other direction (InputError naming its first such bar). Its
    flat (0) or NaN bars are sized for ``side`` too: the searched position holds that direction at
    every bar (``evaluate_path``), where a path reads them as long.
    """
    n = inputs.returns.shape[0]
    if inputs.side is not None:
        held = np.asarray(inputs.side, dtype=np.float64)
        other = np.flatnonzero(held * side < 0.0)
        if other.size:
            i = int(other[0])
            raise InputError(
                f"inputs.side[{i}] is {held[i].item()!r}, against side={side}: the search evaluates one direction"
            )
    return replace(inputs, side=np.full(n, float(side)))


def _paths(factory: PolicyFactory, candidates: Sequence[Mapping[str, Any]], inputs: SeriesInputs) -> Float64Array2D:
    # One leverage path per candidate over the full series (valid: paths have no look-ahead).
    _check_factory(factory, list(candidates[0]) if candidates else [], "the search space")
    n = inputs.returns.shape[0]
    out = np.empty((len(candidates), n))
    for i, params in enumerate(candidates):
        policy = _make_policy(factory, params)
        path = np.asarray(policy.leverage_path(inputs), dtype=np.float64)
        out[i] = _check_leverage(path, n, f"leverage_path of candidate {dict(params)!r}")
    return out


def _check_factory(factory: object, names: Sequence[str], what: str) -> None:
    # A factory that is not callable, or a parameter name it does not take, was the factory's TypeError.
    if not callable(factory):
        raise InputError(f"policy_factory must be a callable returning a Policy, was {show(factory)}")
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: the call below reports
        return
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    takes = [
        p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    for name in names:
        if name not in takes:
            label = getattr(factory, "__name__", type(factory).__name__)
            raise InputError(f"{what} names parameter {name!r}, which {label} does not take (it takes {takes})")


def _make_policy(factory: PolicyFactory, params: Mapping[str, Any]) -> Policy:
    try:
        policy = factory(**params)
    except TypeError as exc:  # a factory's own argument error, e.g. a required parameter missing
        raise InputError(f"policy_factory(**{show(dict(params))}) failed: {exc}") from None
    if not callable(getattr(policy, "leverage_path", None)):
        raise InputError(f"policy_factory must return a Policy (with leverage_path), returned {show(policy)}")
    return policy


def _liq_prob(
    levs: Float64Array2D, simple: Float64Array1D, mmr: float, side: float, window: tuple[int, int]
) -> Float64Array1D:
    # P(at least one liquidation in the window) per path: per bar p_t = P(s r <= -d_t) under a
    # Student-t (LIQ_PROB_DOF) scaled to the window's per-bar sd, independent bars, and the
    # distance d_t = (1 - mmr L) / (L (1 - s mmr)) at which 1 + L s r = mmr L (1 + r): the
    # maintenance margin on the notional at the close, as the evaluator's kernel tests it.
    a, b = window
    sd = float(np.std(simple[a:b], ddof=1)) if b - a > 1 else 0.0
    lev = np.nan_to_num(levs[:, a - 1 : b - 1], nan=0.0)
    if sd <= 0:
        return np.zeros(levs.shape[0])
    scale = sd / math.sqrt(LIQ_PROB_DOF / (LIQ_PROB_DOF - 2.0))
    with np.errstate(divide="ignore"):
        dist = np.where(lev > 0, (1.0 - mmr * lev) / (lev * (1.0 - side * mmr)), np.inf)
    p = np.where(dist > 0, stdtr(LIQ_PROB_DOF, -dist / scale), 1.0)
    out: Float64Array1D = -np.expm1(np.sum(np.log1p(-np.minimum(p, 1.0 - 1e-16)), axis=1))
    return out


def _score_window(
    arrays: Mapping[str, npt.NDArray[Any]],
    objective: str,
    cons: Mapping[str, float],
    liq_prob: Float64Array1D,
) -> tuple[npt.NDArray[np.bool_], Float64Array1D]:
    # Feasibility mask and score (-inf when infeasible or NaN).
    feasible = np.ones(arrays["cagr"].shape[0], dtype=bool)
    if not cons.get("allow_liquidation", 0.0):
        feasible &= ~arrays["liquidated"]
    if "max_drawdown" in cons:
        feasible &= arrays["max_drawdown"] <= cons["max_drawdown"]
    if "max_liq_prob" in cons:
        feasible &= liq_prob <= cons["max_liq_prob"]
    raw = np.asarray(arrays[_OBJ_COLUMN[objective]], dtype=np.float64)
    score = np.where(feasible & ~np.isnan(raw), raw, -np.inf)
    return feasible, score


def _search_window(
    levs: Float64Array2D,
    simple: Float64Array1D,
    c: _Costs,
    ppy: float,
    windows: Sequence[tuple[int, int]],
    objective: str,
    cons: Mapping[str, float],
) -> list[tuple[dict[str, npt.NDArray[Any]], npt.NDArray[np.bool_], Float64Array1D, Float64Array1D]]:
    # Per window: metrics arrays over candidates, feasibility, score, liquidation probability.
    stats = _batch_stats(levs, simple, c, windows)
    out = []
    for w, win in enumerate(windows):
        arrays = _metrics_arrays(np.ascontiguousarray(stats[:, w, :]), ppy)
        lp = _liq_prob(levs, simple, c.mmr, c.side, win) if "max_liq_prob" in cons else np.full(levs.shape[0], np.nan)
        feasible, score = _score_window(arrays, objective, cons, lp)
        out.append((arrays, feasible, score, lp))
    return out


def _best(score: Float64Array1D) -> int | None:
    # First candidate with the highest score (stable tie-break by candidate order) by the sweeps'
    # rule (rank_order: +inf the highest, NaN never best); -inf marks an infeasible candidate.
    feasible = score > -np.inf
    if not feasible.any():
        return None
    return int(km.rank_order(np.where(feasible, score, np.nan), "max")[0])


def _grid(param_grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not isinstance(param_grid, Mapping) or not param_grid:
        raise InputError(f"param_grid must be a non-empty mapping of name -> values, was {param_grid!r}")
    for k, v in param_grid.items():
        if isinstance(v, str | bytes) or not isinstance(v, Sequence | np.ndarray) or len(v) == 0:
            raise InputError(f"param_grid[{k!r}] must be a non-empty sequence of values, was {v!r}")
    keys = list(param_grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(param_grid[k] for k in keys))]


def _draw(param_space: Mapping[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    # (low, high) tuple: uniform (integers if both ints); list / ndarray: uniform choice.
    if not isinstance(param_space, Mapping) or not param_space:
        raise InputError(f"param_space must be a non-empty mapping of name -> range or values, was {param_space!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= MAX_DRAWS:
        raise InputError(f"n must be a positive integer up to {MAX_DRAWS:,}, was {show(n)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        # default_rng's TypeError ("SeedSequence expects int ...") otherwise
        raise InputError(f"seed must be a non-negative integer or None, was {show(seed)}")
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {}
    for k, spec in param_space.items():
        if isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(x, int | float) for x in spec):
            if all(isinstance(x, int) and not isinstance(x, bool) for x in spec):
                lo, hi = (integer_in(x, f"param_space[{k!r}] bound", -(2**62), 2**62) for x in spec)
            else:  # inf was an OverflowError in Generator.uniform
                lo, hi = (finite_number(x, f"param_space[{k!r}] bound") for x in spec)  # type: ignore[assignment]
            if not hi >= lo:
                raise InputError(f"param_space[{k!r}] must be (low, high) with high >= low, was {spec!r}")
            if isinstance(lo, int) and isinstance(hi, int):
                cols[k] = [int(x) for x in rng.integers(lo, hi + 1, n)]
            else:
                cols[k] = [float(x) for x in rng.uniform(lo, hi, n)]
        elif isinstance(spec, list | np.ndarray) and len(spec) > 0:
            idx = rng.integers(0, len(spec), n)
            cols[k] = [spec[i] for i in idx]
        else:
            raise InputError(f"param_space[{k!r}] must be a (low, high) tuple or a non-empty list, was {spec!r}")
    return [{k: cols[k][i] for k in cols} for i in range(n)]


def _search(
    factory: PolicyFactory, candidates: list[dict[str, Any]], problem: _Problem, window: tuple[int, int | None]
) -> SearchResult:
    win = _check_window(*_check_pair(window, "window"), problem.n)
    levs = _paths(factory, candidates, problem.inputs)
    arrays, feasible, score, lp = problem.search(levs, [win])[0]
    metrics: dict[str, Any] = {**arrays, "liq_prob": lp, "feasible": feasible, "score": score}
    # A parameter named like a metric column (DrawdownControl's max_drawdown) is prefixed
    # ``policy_``, as in the backtester's sweep table; the metric was written over it.
    table = pd.DataFrame(candidates)
    table.columns = [f"policy_{k}" if k in metrics else k for k in table.columns]
    for k, v in metrics.items():
        table[k] = v
    best = _best(score)
    return SearchResult(
        best_params=None if best is None else dict(candidates[best]),
        best_index=best,
        best_metrics=None if best is None else _metrics_at(arrays, best, float(lp[best])),
        objective=problem.objective,
        table=table,
    )


def grid_search(
    policy_factory: PolicyFactory,
    param_grid: Mapping[str, Sequence[Any]],
    returns: npt.ArrayLike | SeriesInputs,
    periods_per_year: float | None = None,
    *,
    objective: Objective = "sharpe",
    constraints: Mapping[str, float] | None = None,
    window: tuple[int, int | None] = (1, None),
    fee_rate: float = 0.0,
    funding: npt.ArrayLike | None = None,
    maint_margin_rate: float | None = None,
    side: int = 1,
) -> SearchResult:
    """Evaluate every combination of ``param_grid`` and pick the best feasible one.

    Parameters
    ----------
    policy_factory : callable
        ``policy_factory(**params) -> Policy``; its ``leverage_path`` is evaluated.
    param_grid : mapping of str to sequence
        Values per parameter; the Cartesian product is searched (in ``itertools.product`` order).
    returns : (T,) array_like or SeriesInputs
        Log returns, or full policy inputs (forecasts etc.).
    periods_per_year : float, optional
        Bars per year (required with plain returns).
    objective : {"sharpe", "calmar", "growth"}
        Metric maximised (``growth`` is the annualised mean log return).
    constraints : mapping, optional
        ``max_drawdown`` (in-sample maximum drawdown limit), ``max_liq_prob`` (budget for the
        estimated probability of at least one liquidation in the window) and
        ``allow_liquidation`` (default false: any in-sample liquidation is infeasible).
    window : (start, stop)
        Bars searched (default all).
    fee_rate, funding, maint_margin_rate, side
        Cost and liquidation model of :func:`evaluate_path`.

    Returns
    -------
    SearchResult

    Notes
    -----
    The liquidation probability is estimated per path, assuming independent bars whose simple
    return is Student-t with ``LIQ_PROB_DOF = 4`` degrees of freedom scaled to the window's
    per-bar standard deviation ``sigma``: ``p_t = F_4(-d_t / (sigma / sqrt(2)))`` with distance
    to liquidation ``d_t = (1 - mmr L_{t-1}) / (L_{t-1} (1 - s mmr))``, and
    ``P(liq) = 1 - prod_t (1 - p_t)``.  It is a screening estimate (volatility clustering and
    intra-bar moves are ignored), not a forecast.  Ties go to the first candidate.
    """
    candidates = _grid(param_grid)
    problem = _problem(returns, periods_per_year, objective, constraints, fee_rate, funding, maint_margin_rate, side)
    return _search(policy_factory, candidates, problem, window)


def random_search(
    policy_factory: PolicyFactory,
    param_space: Mapping[str, Any],
    n: int,
    seed: int,
    returns: npt.ArrayLike | SeriesInputs,
    periods_per_year: float | None = None,
    *,
    objective: Objective = "sharpe",
    constraints: Mapping[str, float] | None = None,
    window: tuple[int, int | None] = (1, None),
    fee_rate: float = 0.0,
    funding: npt.ArrayLike | None = None,
    maint_margin_rate: float | None = None,
    side: int = 1,
) -> SearchResult:
    """Evaluate ``n`` random parameter sets drawn from ``param_space`` and pick the best feasible.

    ``param_space`` maps a name to ``(low, high)`` (uniform; integers when both bounds are
    ints) or to a list of values (uniform choice); draws use ``numpy.random.default_rng(seed)``.
    Other parameters and the selection rule are those of :func:`grid_search`.
    """
    candidates = _draw(param_space, n, seed)
    problem = _problem(returns, periods_per_year, objective, constraints, fee_rate, funding, maint_margin_rate, side)
    return _search(policy_factory, candidates, problem, window)


# --------------------------------------------------------------------------------------------
# walk-forward
