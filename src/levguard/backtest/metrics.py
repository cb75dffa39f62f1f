"""Performance and risk metrics of a backtest's equity curve and event tables.

The pandas-free wrapper of the one metrics implementation,
:func:`levguard.kernels.backtest_metrics.metrics_into` (the sweep kernel and the policy
evaluator's tables use the same kernel).  Per-bar equity returns are ``g_t = E_t / E_{t-1} - 1``
with ``E_{-1}`` the initial equity; annualisation uses ``periods_per_year`` (a 24/7 market's year
is 365 days).  A ruined run's metrics are computed on its bars up to and including the ruin bar
(``ruin_index``): nothing after the ruin counts (no flat tail), and its Sharpe, Sortino and
Calmar ratios are NaN: an arithmetic mean of per-bar returns can stay positive through a final
-100 % bar, while the run's growth rate is minus infinity, so no ratio of it describes a run that
lost everything.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from levguard.core.validate import array_1d, integer_in, non_negative_number, number, positive_number, require_finite
from levguard.errors import InputError
from levguard.kernels import readonly
from levguard.kernels.backtest_metrics import PERFORMANCE_METRICS, STATS_DTYPE, metrics_nb
from levguard.kernels.backtest_records import AccountOut

__all__ = ["METRIC_NAMES", "compute_metrics", "drawdown", "equity_returns"]

METRIC_NAMES: tuple[str, ...] = PERFORMANCE_METRICS
"""The metrics of one run (:data:`levguard.kernels.backtest_metrics.PERFORMANCE_METRICS`)."""

FloatArray = npt.NDArray[np.float64]


def equity_returns(equity: FloatArray, initial_equity: float) -> FloatArray:
    """Return the per-bar simple returns ``E_t / E_{t-1} - 1`` (NaN after ruin, E_{t-1} <= 0)."""
    prev = np.concatenate(([initial_equity], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(prev > 0.0, equity / prev - 1.0, np.nan)
    return out


def _non_negative(equity: FloatArray, field: str = "equity") -> None:
    # Equity never falls below 0 in a run (a liquidation leaves at worst 0; bad debt is the
    # venue's): a negative value is bad input, and 1 - E/peak would exceed 1 (a drawdown of 118 %).
    neg = equity < 0.0
    if neg.any():
        i = int(np.argmax(neg))
        raise InputError(
            f"{field} must be >= 0 (a ruined run's equity stops at 0), was {field}[{i}]={float(equity[i])!r}"
        )


def drawdown(equity: FloatArray, initial_equity: float) -> FloatArray:
    """Return ``1 - E_t / max(E_0, max_{u<=t} E_u)`` per bar, in [0, 1].

    Parameters
    ----------
    equity : (N,) float64
        Equity at each bar's close, >= 0.
    initial_equity : float
        Equity before the first bar, >= 0.  Bars whose running peak is 0 (a window that starts
        ruined and trades nothing) have drawdown 0.

    Raises
    ------
    InputError
        A negative equity or initial equity (named with its index): no run produces one, and the
        drawdown would leave [0, 1].
    """
    equity = array_1d(equity, "equity")
    _non_negative(equity)
    _non_negative(np.array([number(initial_equity, "initial_equity")]), "initial_equity")
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
        Equity at each bar's close; N >= 1 and finite (up to ``ruin_index``).
    initial_equity : float
        Equity before the first bar (> 0).
    periods_per_year : float
        Bars per year (> 0, finite).
    leverage : (N,) float64
        Leverage held at each close.  Non-finite values (NaN, +-inf: a leverage that is not
        defined at zero equity) are skipped; with none finite, ``avg_leverage`` and
        ``max_leverage`` are NaN.
    fees, funding : (N,) float64
        Fees (taker and liquidation) and funding paid per bar (positive = paid); finite (up to
        ``ruin_index``).
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
    Computed by :func:`levguard.kernels.backtest_metrics.metrics_into`:
    ``cagr = (E_T / E_0)^(1 / years) - 1`` with ``years = N / periods_per_year`` (-1 when ruined);
    ``volatility = std(g) sqrt(ppy)`` (ddof 1); ``sharpe = mean(g) / std(g) sqrt(ppy)``;
    ``sortino = mean(g) / sqrt(mean(min(g, 0)^2)) sqrt(ppy)``; ``calmar = cagr / max_drawdown``;
    ``time_under_water`` is the fraction of bars below the previous peak; ``turnover`` is the
    traded notional divided by the mean equity; ``worst_bar`` is ``min(g)``.  Ratios with a zero
    denominator are NaN, and so are ``volatility`` and ``sharpe`` of a single bar (a standard
    deviation needs two returns).

    Raises
    ------
    InputError
        An empty ``equity``; arrays of other lengths; a NaN or infinite equity, fee or funding
        payment in the bars that count (a Sharpe ratio or a sum over them would be NaN or computed
        over the other bars only, silently); a negative equity in them (no run produces one: a
        drawdown above 1, a total return below -1); a bad scalar argument (each named).
    """
    equity = array_1d(equity, "equity")
    n = equity.shape[0]
    if n == 0:
        raise InputError("equity must hold at least one bar, was empty")
    columns = {"leverage": leverage, "fees": fees, "funding": funding}
    leverage, fees, funding = (array_1d(a, name) for name, a in columns.items())
    for name, a in zip(columns, (leverage, fees, funding), strict=True):
        if a.shape[0] != n:
            raise InputError(f"{name} must have one value per bar of equity ({n}), had {a.shape[0]}")
    equity0 = positive_number(initial_equity, "initial_equity")
    ppy = positive_number(periods_per_year, "periods_per_year")
    traded = non_negative_number(traded_notional, "traded_notional")
    n_liq = integer_in(n_liquidations, "n_liquidations", 0, 2**62)
    if ruin_index is not None:
        stop = integer_in(ruin_index, "ruin_index", 0, n) + 1
        equity, leverage, fees, funding = equity[:stop], leverage[:stop], fees[:stop], funding[:stop]
    # The bars that count (after a ruin the run has stopped): a NaN equity would leave Sharpe,
    # volatility and drawdown over the other bars, a NaN fee a fees_paid of NaN, silently.
    for name, a in (("equity", equity), ("fees", fees), ("funding", funding)):
        require_finite(a, name)
    _non_negative(equity)
    # The wallet is not read (the equity stands in); inputs read-only, one compiled signature.
    acct = AccountOut(*(readonly(a) for a in (equity, equity, leverage, funding, fees)))
    out = np.zeros(1, dtype=STATS_DTYPE)
    metrics_nb(acct, equity0, ppy, n_liq, traded, ruin_index is not None, out[0])
    return {name: float(out[0][name]) for name in METRIC_NAMES}
