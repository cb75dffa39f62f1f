"""Performance and risk metrics of a backtest's equity curve and event tables.

Plain functions over arrays (no pandas needed).  Per-bar equity returns are
``g_t = E_t / E_{t-1} - 1`` with ``E_{-1}`` the initial equity; annualisation uses
``periods_per_year`` (a 24/7 market's year is 365 days).  A ruined run's metrics are computed on
its bars up to and including the ruin bar (``ruin_index``): nothing after the ruin counts (no
flat tail), and its Sharpe, Sortino and Calmar ratios are NaN: an arithmetic mean of per-bar
returns can stay positive through a final -100 % bar, while the run's growth rate is minus
infinity, so no ratio of it describes a run that lost everything.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["METRIC_NAMES", "compute_metrics", "drawdown", "equity_returns"]

METRIC_NAMES: tuple[str, ...] = (
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

FloatArray = npt.NDArray[np.float64]


def equity_returns(equity: FloatArray, initial_equity: float) -> FloatArray:
    """Return the per-bar simple returns ``E_t / E_{t-1} - 1`` (NaN after ruin, E_{t-1} <= 0)."""
    prev = np.concatenate(([initial_equity], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(prev > 0.0, equity / prev - 1.0, np.nan)
    return out


def drawdown(equity: FloatArray, initial_equity: float) -> FloatArray:
    """Return ``1 - E_t / max(E_0, max_{u<=t} E_u)`` per bar, in [0, 1]."""
    peak = np.maximum.accumulate(np.concatenate(([initial_equity], equity)))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        dd: FloatArray = np.where(peak > 0.0, 1.0 - equity / peak, 0.0)
    return dd


def compute_metrics(
    equity: FloatArray,
    initial_equity: float,
    periods_per_year: float,
    *,
    leverage: FloatArray,
    fees: FloatArray,
    funding: FloatArray,
    traded_notional: float,
    n_liquidations: int,
    ruin_index: int | None = None,
) -> dict[str, float]:
    """Return the metrics named in :data:`METRIC_NAMES`.

    Parameters
    ----------
    equity : (N,) float64
        Equity at each bar's close.
    initial_equity : float
        Equity before the first bar.
    periods_per_year : float
        Bars per year.
    leverage : (N,) float64
        Leverage held at each close (non-finite values are ignored).
    fees, funding : (N,) float64
        Fees (taker and liquidation) and funding paid per bar (positive = paid).
    traded_notional : float
        Sum of ``|qty| * price`` over all fills and liquidations.
    n_liquidations : int
        Number of liquidations.
    ruin_index : int, optional
        Bar at whose close the run was ruined; the metrics use bars ``0 .. ruin_index`` only
        (CAGR over the time to ruin, volatility and worst bar of the returns up to it) and
        ``sharpe``, ``sortino`` and ``calmar`` are NaN.

    Notes
    -----
    ``cagr = (E_T / E_0)^(1 / years) - 1`` with ``years = N / periods_per_year`` (-1 when ruined);
    ``volatility = std(g) sqrt(ppy)`` (ddof 1); ``sharpe = mean(g) / std(g) sqrt(ppy)``;
    ``sortino = mean(g) / sqrt(mean(min(g, 0)^2)) sqrt(ppy)``; ``calmar = cagr / max_drawdown``;
    ``time_under_water`` is the fraction of bars below the previous peak; ``turnover`` is the
    traded notional divided by the mean equity; ``worst_bar`` is ``min(g)``.  Ratios with a zero
    denominator are NaN.
    """
    if ruin_index is not None:
        stop = int(ruin_index) + 1
        equity, leverage, fees, funding = equity[:stop], leverage[:stop], fees[:stop], funding[:stop]
    n = int(equity.shape[0])
    nan = math.nan
    if n == 0:
        return dict.fromkeys(METRIC_NAMES, nan)
    e_t = float(equity[-1])
    total = e_t / initial_equity - 1.0
    years = n / periods_per_year
    cagr = (e_t / initial_equity) ** (1.0 / years) - 1.0 if e_t > 0.0 else -1.0
    g = equity_returns(equity, initial_equity)
    g = g[np.isfinite(g)]
    sd = float(np.std(g, ddof=1)) if g.shape[0] > 1 else nan
    mean = float(np.mean(g)) if g.shape[0] > 0 else nan
    ann = math.sqrt(periods_per_year)
    downside = float(np.sqrt(np.mean(np.minimum(g, 0.0) ** 2))) if g.shape[0] > 0 else nan
    dd = drawdown(equity, initial_equity)
    mdd = float(np.max(dd))
    lev = leverage[np.isfinite(leverage)]
    mean_equity = float(np.mean(equity))
    ruined = ruin_index is not None
    return {
        "total_return": total,
        "cagr": cagr,
        "volatility": sd * ann,
        "sharpe": mean / sd * ann if sd > 0.0 and not ruined else nan,
        "sortino": mean / downside * ann if downside > 0.0 and not ruined else nan,
        "max_drawdown": mdd,
        "calmar": cagr / mdd if mdd > 0.0 and not ruined else nan,
        "time_under_water": float(np.mean(dd > 0.0)),
        "n_liquidations": float(n_liquidations),
        "fees_paid": float(np.sum(fees)),
        "funding_paid": float(np.sum(funding)),
        "turnover": traded_notional / mean_equity if mean_equity > 0.0 else nan,
        "avg_leverage": float(np.mean(lev)) if lev.shape[0] else nan,
        "max_leverage": float(np.max(lev)) if lev.shape[0] else nan,
        "worst_bar": float(np.min(g)) if g.shape[0] else nan,
    }
