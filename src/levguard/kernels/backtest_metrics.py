"""Performance statistics of an equity curve: the one implementation of Sharpe, Sortino, CAGR,
volatility, maximum drawdown, Calmar and the rest.

Written once in plain Python (:func:`metrics_into`, :func:`performance_ratios`) and called by the
sweep kernel (:func:`levguard.kernels.backtest.sweep_py`), by the pandas-facing
:func:`levguard.backtest.metrics.compute_metrics` (through :data:`metrics_nb`) and by the policy
evaluator's tables (:func:`levguard.backtest.calibrate.evaluate_paths`, through
:data:`ratios_batch_nb`), so every consumer reports the same numbers.

Per-bar returns are ``g_t = E_t / E_{t-1} - 1`` with ``E_{-1}`` the initial equity (NaN where
``E_{t-1} <= 0``); annualisation uses ``periods_per_year`` (a 24/7 market's year is 365 days).
"""

from __future__ import annotations

import math

import numpy as np

from levguard.kernels._jit import jit, jitable
from levguard.kernels.backtest_records import AccountOut
from levguard.typing import BoolArray1D, Float64Array1D, Int64Array1D

PERFORMANCE_METRICS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "time_under_water",
    "n_liquidations",
    "fees_paid",
    "funding_paid",
    "turnover",
    "avg_leverage",
    "max_leverage",
    "worst_bar",
)
"""The metrics of one run, in table order (:func:`metrics_into`)."""

RUN_STATS: tuple[str, ...] = (
    "final_equity",
    "bad_debt",
    "orders_clipped",
    "limit_orders_unfilled",
    "orders_below_minimum",
    "ruin_bar",
)
"""What a sweep adds per configuration: final equity, bad debt, orders clipped by the
initial-margin check, limit orders left unfilled, orders below the venue's minimum (skipped) and
the ruin bar (-1: never), as ``run()``'s metrics of those names."""

# Sweep-table names of the statistics: ``max_leverage`` is renamed so that it cannot clash with a
# policy parameter of that name, and the ruin bar is reported as ``ruined`` (1.0 for a ruined run).
TABLE_NAME: dict[str, str] = {"max_leverage": "max_leverage_used", "ruin_bar": "ruined"}

TABLE_METRICS: tuple[str, ...] = tuple(TABLE_NAME.get(m, m) for m in (*PERFORMANCE_METRICS, *RUN_STATS))
"""Metric columns of a sweep table, in order (the statistics under their table names)."""

METRIC_DIRECTION: dict[str, str] = {
    "total_return": "max",
    "cagr": "max",
    "volatility": "min",
    "sharpe": "max",
    "sortino": "max",
    "max_drawdown": "min",
    "calmar": "max",
    "time_under_water": "min",
    "n_liquidations": "min",
    "fees_paid": "min",
    "funding_paid": "min",
    "turnover": "min",
    "avg_leverage": "min",
    "max_leverage": "min",
    "max_leverage_used": "min",
    "worst_bar": "max",
    "final_equity": "max",
    "bad_debt": "min",
    "orders_clipped": "min",
    "ruined": "min",
    "limit_orders_unfilled": "min",
    "orders_below_minimum": "min",
}
"""Which way each metric of a run or a sweep table is better: ``"max"`` (returns, CAGR, the
ratios, the worst bar: higher is better) or ``"min"`` (drawdown, volatility, time under water,
liquidations, fees, funding paid, turnover, leverage, bad debt, clipped, unfilled and below-minimum orders, ruin:
lower is better).  The one source of the sweeps' objective direction
(:func:`levguard.backtest.sweeps.best`, :func:`levguard.backtest.sweeps.walk_forward`, the sweep
report's ranking and ``levguard backtest``); every name of :data:`PERFORMANCE_METRICS` and
:data:`TABLE_METRICS` has one."""

SWEEP_DIRECTION: dict[str, str] = {
    k: v for k, v in METRIC_DIRECTION.items() if k not in set(PERFORMANCE_METRICS) - set(TABLE_METRICS)
}
""":data:`METRIC_DIRECTION` of the sweep tables' metrics: a run's ``max_leverage`` is
``max_leverage_used`` there, so a ``max_leverage`` column is a policy's parameter (the highest
first, as any column that is not a metric)."""

STATS_DTYPE = np.dtype(
    [(name, np.int64 if name == "ruin_bar" else np.float64) for name in (*PERFORMANCE_METRICS, *RUN_STATS)]
)
"""One row of statistics per configuration (fields named by the two lists above; float64 but the
integer ``ruin_bar``)."""


_LOG_FLOAT_MAX = 709.78
"""Largest log growth rate whose ``expm1`` is a float64 (``log(max float64) = 709.7827...``)."""


def rank_order(values: Float64Array1D, direction: str, last: BoolArray1D | None = None) -> Int64Array1D:
    """Return the positions of ``values`` best first: the one ranking rule of the sweeps.

    Parameters
    ----------
    values : (N,) float64
        An objective per configuration.
    direction : {"max", "min"}
        Whether the highest or the lowest value is best (:data:`METRIC_DIRECTION`).
    last : (N,) bool, optional
        Configurations ranked after every other whatever their value: the ruined runs, whose
        metrics stop at the ruin (a time under water or fees measured over its first bars would
        otherwise be the lowest).

    Notes
    -----
    ``+inf`` is the best value when maximising and ``-inf`` when minimising (a CAGR beyond
    float64's range is the highest); NaN is never best: NaN values come last.  Ties keep their
    order (a stable sort), so the first of equal configurations wins.  Used by
    :func:`levguard.backtest.sweeps.best` and the sweep report's ranking alike.
    """
    key = -values if direction == "max" else values
    after = np.zeros(key.shape[0], dtype=bool) if last is None else np.asarray(last, dtype=bool)
    order: Int64Array1D = np.lexsort((key, np.isnan(key), after)).astype(np.int64)
    return order


@jitable
def performance_ratios(
    growth: float, years: float, mean: float, sd: float, downside: float, max_drawdown: float, ppy: float, ruined: bool
) -> tuple[float, float, float, float, float]:
    """Return ``(cagr, volatility, sharpe, sortino, calmar)`` of a run's summary statistics.

    Parameters
    ----------
    growth : float
        ``E_T / E_0``.
    years : float
        Length of the run in years (bars over ``ppy``).
    mean, sd, downside : float
        Mean, sample standard deviation (ddof 1) and downside deviation
        ``sqrt(mean(min(g, 0)^2))`` of the per-bar returns ``g`` (NaN: unknown).
    max_drawdown : float
        Largest drawdown from the running peak, in [0, 1].
    ppy : float
        Bars per year.
    ruined : bool
        Whether the run lost everything (its ratios are NaN).

    Notes
    -----
    ``cagr = growth^(1 / years) - 1`` (-1 when ``growth <= 0``), the annualised geometric return
    (Bacon 2008, *Practical Portfolio Performance Measurement and Attribution*), computed as
    ``expm1(log(growth) / years)``: ``inf`` when the true value exceeds float64's range (a strong
    run of minutes), in both twins (Python's float power raised OverflowError, NumPy's warned);
    ``volatility = sd sqrt(ppy)``;
    ``sharpe = mean / sd sqrt(ppy)`` (zero risk-free rate); ``sortino = mean / downside
    sqrt(ppy)`` (Sortino & van der Meer 1991, target 0); ``calmar = cagr / max_drawdown``
    (Young 1991).  Ratios with a zero denominator are NaN, and so is every ratio of a ruined run:
    an arithmetic mean of per-bar returns can stay positive through a final -100 % bar while the
    growth rate is minus infinity.
    """
    nan = math.nan
    cagr = -1.0
    if growth > 0.0:
        rate = math.log(growth) / years
        cagr = math.expm1(rate) if rate < _LOG_FLOAT_MAX else math.inf
    ann = math.sqrt(ppy)
    sharpe = mean / sd * ann if sd > 0.0 and not ruined else nan
    sortino = mean / downside * ann if downside > 0.0 and not ruined else nan
    calmar = cagr / max_drawdown if max_drawdown > 0.0 and not ruined else nan
    return cagr, sd * ann, sharpe, sortino, calmar


@jitable
def _nan_metrics(out: np.void) -> None:
    # Every PERFORMANCE_METRICS field and final_equity to NaN (record fields need literal names).
    nan = math.nan
    out["total_return"] = nan
    out["cagr"] = nan
    out["volatility"] = nan
    out["sharpe"] = nan
    out["sortino"] = nan
    out["max_drawdown"] = nan
    out["calmar"] = nan
    out["time_under_water"] = nan
    out["n_liquidations"] = nan
    out["fees_paid"] = nan
    out["funding_paid"] = nan
    out["turnover"] = nan
    out["avg_leverage"] = nan
    out["max_leverage"] = nan
    out["worst_bar"] = nan
    out["final_equity"] = nan


@jitable
def metrics_into(
    acct: AccountOut,
    initial_equity: float,
    periods_per_year: float,
    n_liquidations: int,
    traded: float,
    ruined: bool,
    out: np.void,
) -> None:
    """Write the :data:`PERFORMANCE_METRICS` of one run and its final equity into the record ``out``.

    Parameters
    ----------
    acct : AccountOut
        The run's bars (up to and including the ruin bar for a ruined run); ``equity``,
        ``leverage``, ``fees`` and ``funding`` are read.
    initial_equity : float
        Equity before the first bar.
    periods_per_year : float
        Bars per year.
    n_liquidations : int
        Number of liquidations.
    traded : float
        Notional traded over fills and liquidations (settlement currency).
    ruined : bool
        Whether the run was ruined (its Sharpe, Sortino and Calmar ratios are NaN).
    out : record of STATS_DTYPE
        Written in place.

    Notes
    -----
    :func:`performance_ratios` on the bar returns, plus ``max_drawdown`` from the running peak
    (initial equity included), ``time_under_water`` (share of bars below the peak),
    ``turnover`` (traded notional over the mean equity), average and maximum leverage over the
    finite values and ``worst_bar = min(g)``.
    """
    equity = acct.equity
    n = equity.shape[0]
    nan = math.nan
    if n == 0:
        _nan_metrics(out)
        return
    e_t = equity[n - 1]
    out["final_equity"] = e_t
    out["total_return"] = e_t / initial_equity - 1.0
    prev = initial_equity
    peak = initial_equity
    m = 0
    s1 = 0.0
    worst = math.inf
    down2 = 0.0
    mdd = 0.0
    under = 0
    eq_sum = 0.0
    fees = 0.0
    funding = 0.0
    lev_n = 0
    lev_sum = 0.0
    lev_max = -math.inf
    for t in range(n):
        e = equity[t]
        eq_sum += e
        fees += acct.fees[t]
        funding += acct.funding[t]
        lv = acct.leverage[t]
        if math.isfinite(lv):
            lev_n += 1
            lev_sum += lv
            lev_max = max(lev_max, lv)
        if prev > 0.0:
            g = e / prev - 1.0
            if math.isfinite(g):
                m += 1
                s1 += g
                worst = min(worst, g)
                # Branch-free (the sign of a return is a coin flip for the predictor): adding
                # the square of min(g, 0) adds exactly 0.0 for a gain.
                gn = min(g, 0.0)
                down2 += gn * gn
        prev = e
        peak = max(peak, e)
        dd = 1.0 - e / peak if peak > 0.0 else 0.0
        mdd = max(mdd, dd)
        under += dd > 0.0
    mean = s1 / m if m > 0 else nan
    sd = nan
    if m > 1:
        ss = 0.0
        prev = initial_equity
        for t in range(n):
            e = equity[t]
            if prev > 0.0:
                g = e / prev - 1.0
                if math.isfinite(g):
                    dev = g - mean
                    ss += dev * dev  # not ** 2: Python's pow may round one ulp off (the twin)
            prev = e
        sd = math.sqrt(ss / (m - 1))
    downside = math.sqrt(down2 / m) if m > 0 else nan
    cagr, vol, sharpe, sortino, calmar = performance_ratios(
        e_t / initial_equity, n / periods_per_year, mean, sd, downside, mdd, periods_per_year, ruined
    )
    out["cagr"] = cagr
    out["volatility"] = vol
    out["sharpe"] = sharpe
    out["sortino"] = sortino
    out["max_drawdown"] = mdd
    out["calmar"] = calmar
    out["time_under_water"] = under / n
    out["n_liquidations"] = n_liquidations
    out["fees_paid"] = fees
    out["funding_paid"] = funding
    mean_equity = eq_sum / n
    out["turnover"] = traded / mean_equity if mean_equity > 0.0 else nan
    out["avg_leverage"] = lev_sum / lev_n if lev_n > 0 else nan
    out["max_leverage"] = lev_max if lev_n > 0 else nan
    out["worst_bar"] = worst if m > 0 else nan


metrics_nb = jit(metrics_into)


def ratios_batch_py(
    growth: Float64Array1D,
    years: Float64Array1D,
    mean: Float64Array1D,
    sd: Float64Array1D,
    max_drawdown: Float64Array1D,
    ruined: BoolArray1D,
    ppy: float,
    out_cagr: Float64Array1D,
    out_volatility: Float64Array1D,
    out_sharpe: Float64Array1D,
    out_calmar: Float64Array1D,
) -> None:
    """Apply :func:`performance_ratios` to many runs (no downside deviation).

    Inputs are (N,) arrays of the same length (``ruined``: whether each run lost everything, so
    that its Sharpe and Calmar ratios are NaN); outputs are written in place.
    """
    for i in range(growth.shape[0]):
        cagr, vol, sharpe, _sortino, calmar = performance_ratios(
            growth[i], years[i], mean[i], sd[i], math.nan, max_drawdown[i], ppy, ruined[i]
        )
        out_cagr[i] = cagr
        out_volatility[i] = vol
        out_sharpe[i] = sharpe
        out_calmar[i] = calmar


ratios_batch_nb = jit(ratios_batch_py)
