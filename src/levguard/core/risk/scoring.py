"""Scores of probability forecasts of a binary event: reliability, Brier, log score, AUC,
calibration in the large, the Wilson interval and the Diebold-Mariano test.

Every function takes forecasts ``p`` (probabilities in [0, 1]) and outcomes ``y`` (0/1) as 1-D
arrays of the same length ``n`` and returns plain floats or frozen results; nothing here knows
about markets.  :mod:`levguard.risk.validation` builds the forecasts and outcomes of
liquidation events and calls these functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from levguard.core.records import JsonRecord, json_dict, json_ready
from levguard.core.validate import array_1d, show
from levguard.errors import InputError
from levguard.typing import Float64Array1D

__all__ = [
    "LOG_CLIP",
    "LOW_FORECAST",
    "RELIABILITY_EDGES",
    "Z95",
    "DieboldMarianoResult",
    "ForecastScores",
    "ReliabilityBin",
    "auc",
    "brier_score",
    "calibration_in_the_large",
    "check_forecasts",
    "diebold_mariano",
    "json_dict",
    "json_ready",
    "log_score",
    "newey_west_variance",
    "reliability_table",
    "score_forecasts",
    "wilson_interval",
]

Z95 = 1.959963984540054
"""The 97.5 % quantile of the standard normal: the z of a two-sided 95 % interval."""

LOG_CLIP = 1e-6
"""Probabilities are clipped to ``[LOG_CLIP, 1 - LOG_CLIP]`` before taking logs in :func:`log_score`."""

LOW_FORECAST = 0.01
"""Forecasts at or below this probability are the "low" set of :class:`ForecastScores`."""

RELIABILITY_EDGES: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
"""Bucket edges of the reliability table: ``[0, 0.01], (0.01, 0.05], ..., (0.8, 1]``."""


# ----------------------------------------------------------------------------- input checks
def check_forecasts(p: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Float64Array1D, Float64Array1D]:
    """Validate forecasts and outcomes; return them as float64 arrays.

    Parameters
    ----------
    p : array_like, shape (n,)
        Probabilities in [0, 1].
    y : array_like, shape (n,)
        Outcomes, 0 or 1 (booleans accepted).

    Returns
    -------
    p, y : ndarray of float64, shape (n,)

    Raises
    ------
    InputError
        Not 1-D, different lengths, a probability outside [0, 1] or NaN, an outcome not 0/1.
    """
    try:
        pa = np.asarray(p, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"forecasts and outcomes must be numbers, were {type(p).__name__} and {type(y).__name__}"
        ) from None
    if pa.ndim != 1 or ya.ndim != 1:
        raise InputError(f"forecasts and outcomes must be 1-D, were shapes {pa.shape} and {ya.shape}")
    if pa.shape != ya.shape:
        raise InputError(f"forecasts and outcomes must have the same length, were {pa.size} and {ya.size}")
    bad = ~((pa >= 0.0) & (pa <= 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"forecasts[{i}] must be a probability in [0, 1], was {pa[i].item()!r}")
    bad = (ya != 0.0) & (ya != 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"outcomes[{i}] must be 0 or 1, was {ya[i].item()!r}")
    return pa, ya


def _nonempty(p: Float64Array1D, what: str) -> None:
    if p.size == 0:
        raise InputError(f"{what} needs at least one forecast, was empty")


# ----------------------------------------------------------------------------- proper scores
def brier_score(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Return the Brier score, the mean squared error of the probabilities.

    Parameters
    ----------
    p, y : array_like, shape (n,)
        Forecast probabilities and 0/1 outcomes.

    Returns
    -------
    float
        ``BS = (1/n) sum_i (p_i - y_i)^2``, in [0, 1]; lower is better.

    Notes
    -----
    Brier, G. W. (1950), "Verification of forecasts expressed in terms of probability",
    *Monthly Weather Review* 78(1), 1-3.  A strictly proper score: its expectation is minimised
    only by the true probability.
    """
    pa, ya = check_forecasts(p, y)
    _nonempty(pa, "brier_score")
    return float(np.mean((pa - ya) ** 2))


def log_score(p: npt.ArrayLike, y: npt.ArrayLike, *, clip: float = LOG_CLIP) -> float:
    """Return the log score: the mean negative log likelihood of the outcomes.

    Parameters
    ----------
    p, y : array_like, shape (n,)
        Forecast probabilities and 0/1 outcomes.
    clip : float
        Probabilities are clipped to ``[clip, 1 - clip]`` first (default 1e-6), so a forecast of
        exactly 0 or 1 that turns out wrong costs ``-ln(1e-6) ≈ 13.8`` instead of infinity.

    Returns
    -------
    float
        ``LS = -(1/n) sum_i [y_i ln p_i + (1 - y_i) ln(1 - p_i)]`` (nats); lower is better.

    Notes
    -----
    Good, I. J. (1952), "Rational decisions", *Journal of the Royal Statistical Society B*
    14(1), 107-114: the logarithmic scoring rule, strictly proper.  The clip is ours (stated so
    that scores from different tools compare).
    """
    pa, ya = check_forecasts(p, y)
    _nonempty(pa, "log_score")
    if not (0.0 < clip < 0.5):
        raise InputError(f"clip must be in (0, 0.5), was {clip!r}")
    q = np.clip(pa, clip, 1.0 - clip)
    return float(-np.mean(ya * np.log(q) + (1.0 - ya) * np.log1p(-q)))


def _midranks(x: Float64Array1D) -> Float64Array1D:
    # Ranks 1..n with ties given the mean of the ranks they span.
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    _, first, counts = np.unique(sorted_x, return_index=True, return_counts=True)
    mid = first + (counts + 1) / 2.0  # 1-based mean rank of each block of ties
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(mid, counts)
    return ranks


def auc(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Return the area under the ROC curve (NaN when all outcomes are equal).

    Parameters
    ----------
    p, y : array_like, shape (n,)
        Forecast probabilities (any scores) and 0/1 outcomes.

    Returns
    -------
    float
        ``AUC = U / (n1 n0)`` with the Mann-Whitney statistic
        ``U = R1 - n1 (n1 + 1) / 2``, ``R1`` the sum of the midranks of the forecasts of the
        ``n1`` events among all ``n`` forecasts and ``n0 = n - n1``: the probability that a
        random event got a higher forecast than a random non-event, ties counting one half.

    Notes
    -----
    Hanley, J. A. and McNeil, B. J. (1982), "The meaning and use of the area under a receiver
    operating characteristic (ROC) curve", *Radiology* 143(1), 29-36; Mann, H. B. and Whitney,
    D. R. (1947), *Annals of Mathematical Statistics* 18(1), 50-60.
    """
    pa, ya = check_forecasts(p, y)
    n1 = int(ya.sum())
    n0 = pa.size - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    r1 = float(_midranks(pa)[ya == 1.0].sum())
    return (r1 - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def calibration_in_the_large(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Return observed events over expected events, ``sum(y) / sum(p)`` (NaN when ``sum(p) = 0``).

    Notes
    -----
    The observed/expected ratio of "calibration in the large": Steyerberg, E. W. et al. (2010),
    "Assessing the performance of prediction models", *Epidemiology* 21(1), 128-138.  1 means
    the forecasts predict as many events as happen; above 1 they are too low.
    """
    pa, ya = check_forecasts(p, y)
    expected = float(pa.sum())
    if expected <= 0.0:
        return math.nan
    return float(ya.sum()) / expected


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Return the Wilson score interval of a binomial proportion ``k / n``.

    Parameters
    ----------
    k, n : int
        Successes and trials, ``0 <= k <= n``.  With ``n = 0`` the interval is ``(0, 1)``.
    z : float
        Normal quantile; the default gives a two-sided 95 % interval.

    Returns
    -------
    (low, high) : tuple of float

    Notes
    -----
    Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical
    inference", *JASA* 22(158), 209-212; Brown, Cai and DasGupta (2001), *Statistical Science*
    16(2), 101-133, recommend it over the Wald interval for small ``n`` or ``k``::

        centre = (k + z^2/2) / (n + z^2)
        half   = z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)
    """
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise InputError(f"k and n must be integers, were {k!r} and {n!r}")
    if not (0 <= k <= n):
        raise InputError(f"k must be in [0, n={n}], was {k!r}")
    if not (math.isfinite(z) and z > 0.0):
        raise InputError(f"z must be > 0 and finite, was {z!r}")
    if n == 0:
        return 0.0, 1.0
    z2 = z * z
    centre = (k + z2 / 2.0) / (n + z2)
    half = z / (n + z2) * math.sqrt(k * (n - k) / n + z2 / 4.0)
    # Exactly 0 at k = 0 and 1 at k = n (the formula's values, without the rounding residue).
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


# ----------------------------------------------------------------------------- reliability
@dataclass(frozen=True, slots=True)
class ReliabilityBin(JsonRecord):
    """One bucket of a reliability table: forecasts in ``(lower, upper]`` (``[0, upper]`` first).

    ``mean_forecast`` and ``observed`` (the event frequency) are NaN in an empty bucket;
    ``wilson_low``/``wilson_high`` is the 95 % Wilson interval of ``observed``.
    """

    lower: float
    upper: float
    count: int
    events: int
    mean_forecast: float
    observed: float
    wilson_low: float
    wilson_high: float


def _edges(edges: Sequence[float]) -> Float64Array1D:
    try:
        e = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        e = np.empty(0)  # refused below, with the edges given
    if e.ndim != 1 or e.size < 2 or e[0] != 0.0 or e[-1] != 1.0 or not np.all(np.diff(e) > 0):
        raise InputError(f"edges must increase from 0 to 1 such as (0, 0.01, 0.05, ..., 1), was {show(edges)}")
    return e


def _bucket(p: Float64Array1D, e: Float64Array1D) -> npt.NDArray[np.intp]:
    # Bucket b holds (e[b], e[b+1]]; the first also holds 0.
    return np.searchsorted(e[1:-1], p, side="left")


def reliability_table(
    p: npt.ArrayLike, y: npt.ArrayLike, edges: Sequence[float] = RELIABILITY_EDGES, z: float = Z95
) -> tuple[ReliabilityBin, ...]:
    """Return the reliability table: count, mean forecast, observed frequency and Wilson interval per bucket.

    Parameters
    ----------
    p, y : array_like, shape (n,)
        Forecast probabilities and 0/1 outcomes.
    edges : sequence of float
        Increasing bucket edges from 0 to 1; bucket ``b`` holds ``(edges[b], edges[b+1]]`` and
        the first also 0.
    z : float
        Normal quantile of the Wilson interval (95 % by default).

    Returns
    -------
    tuple of ReliabilityBin
        One per bucket, empty buckets included.

    Notes
    -----
    The reliability diagram of Murphy, A. H. and Winkler, R. L. (1977), "Reliability of
    subjective probability forecasts of precipitation and temperature", *Applied Statistics*
    26(1), 41-47: a calibrated forecaster's observed frequency in each bucket matches its mean
    forecast up to sampling error (here the Wilson interval, :func:`wilson_interval`).
    """
    pa, ya = check_forecasts(p, y)
    e = _edges(edges)
    b = _bucket(pa, e)
    nb = e.size - 1
    counts = np.bincount(b, minlength=nb)
    events = np.bincount(b, weights=ya, minlength=nb)
    sums = np.bincount(b, weights=pa, minlength=nb)
    out = []
    for i in range(nb):
        n, k = int(counts[i]), round(float(events[i]))
        lo, hi = wilson_interval(k, n, z)
        out.append(
            ReliabilityBin(
                lower=float(e[i]),
                upper=float(e[i + 1]),
                count=n,
                events=k,
                mean_forecast=float(sums[i] / n) if n else math.nan,
                observed=k / n if n else math.nan,
                wilson_low=lo,
                wilson_high=hi,
            )
        )
    return tuple(out)


# ----------------------------------------------------------------------------- summary
@dataclass(frozen=True, slots=True)
class ForecastScores(JsonRecord):
    """Every score of one set of forecasts against its outcomes.

    Attributes
    ----------
    n, events : int
        Forecasts and events (outcomes equal to 1).
    mean_forecast, observed : float
        Mean probability and event frequency.
    brier, log_score, auc : float
        :func:`brier_score`, :func:`log_score` (clipped at 1e-6) and :func:`auc` (NaN without
        both outcomes).
    calibration_in_the_large : float
        ``events / sum(p)`` (:func:`calibration_in_the_large`).
    low_n, low_events : int
        Forecasts at or below :data:`LOW_FORECAST` (1 %) and how many of them were followed by
        the event.
    low_share, low_observed : float
        ``low_n / n`` and ``low_events / low_n`` (NaN when ``low_n = 0``).
    reliability : tuple of ReliabilityBin
        :func:`reliability_table` on :data:`RELIABILITY_EDGES` unless other edges are given.
    """

    n: int
    events: int
    mean_forecast: float
    observed: float
    brier: float
    log_score: float
    auc: float
    calibration_in_the_large: float
    low_n: int
    low_events: int
    low_share: float
    low_observed: float
    reliability: tuple[ReliabilityBin, ...]


def score_forecasts(
    p: npt.ArrayLike, y: npt.ArrayLike, *, edges: Sequence[float] = RELIABILITY_EDGES, low: float = LOW_FORECAST
) -> ForecastScores:
    """Return every score of ``p`` against ``y`` (see :class:`ForecastScores`).

    Parameters
    ----------
    p, y : array_like, shape (n,)
        Forecast probabilities and 0/1 outcomes, ``n >= 1``.
    edges : sequence of float
        Reliability buckets.
    low : float
        Threshold of the low-forecast set (1 %).

    Notes
    -----
    See :func:`brier_score`, :func:`log_score`, :func:`auc`, :func:`calibration_in_the_large`
    and :func:`reliability_table` for each formula and its source.
    """
    pa, ya = check_forecasts(p, y)
    _nonempty(pa, "score_forecasts")
    n = pa.size
    events = int(ya.sum())
    is_low = pa <= low
    low_n = int(is_low.sum())
    low_events = int(ya[is_low].sum())
    return ForecastScores(
        n=n,
        events=events,
        mean_forecast=float(pa.mean()),
        observed=events / n,
        brier=brier_score(pa, ya),
        log_score=log_score(pa, ya),
        auc=auc(pa, ya),
        calibration_in_the_large=calibration_in_the_large(pa, ya),
        low_n=low_n,
        low_events=low_events,
        low_share=low_n / n,
        low_observed=low_events / low_n if low_n else math.nan,
        reliability=reliability_table(pa, ya, edges),
    )


# ----------------------------------------------------------------------------- Diebold-Mariano
def newey_west_variance(x: npt.ArrayLike, lag: int) -> float:
    """Return the Newey-West (Bartlett kernel) long-run variance of a series.

    Parameters
    ----------
    x : array_like, shape (T,)
        The series, ``T >= 1``.
    lag : int
        Truncation lag ``L >= 0``; autocovariances up to lag ``L`` enter.

    Returns
    -------
    float
        ``S = g_0 + 2 sum_{k=1}^{L} (1 - k / (L + 1)) g_k`` with the autocovariances
        ``g_k = (1/T) sum_{t=k+1}^{T} (x_t - xbar)(x_{t-k} - xbar)``; ``S / T`` estimates the
        variance of the sample mean.  ``S >= 0`` always.

    Notes
    -----
    Newey, W. K. and West, K. D. (1987), "A simple, positive semi-definite, heteroskedasticity
    and autocorrelation consistent covariance matrix", *Econometrica* 55(3), 703-708.
    """
    xa = array_1d(x, "x")
    if xa.size == 0:
        raise InputError(f"x must be a non-empty 1-D array, was shape {xa.shape}")
    if not np.isfinite(xa).all():
        i = int(np.argmax(~np.isfinite(xa)))
        raise InputError(f"x[{i}] must be finite, was {xa[i].item()!r}")
    if isinstance(lag, bool) or int(lag) != lag or lag < 0:
        raise InputError(f"lag must be an integer >= 0, was {lag!r}")
    t = xa.size
    d = xa - xa.mean()
    s = float(d @ d) / t
    for k in range(1, min(int(lag), t - 1) + 1):
        s += 2.0 * (1.0 - k / (lag + 1.0)) * float(d[k:] @ d[:-k]) / t
    return max(s, 0.0)


@dataclass(frozen=True, slots=True)
class DieboldMarianoResult(JsonRecord):
    """Diebold-Mariano test of equal expected loss of two forecasts.

    Attributes
    ----------
    n : int
        Length ``T`` of the loss-differential series.
    lag : int
        Newey-West truncation lag.
    mean_difference : float
        ``dbar``, mean of ``d_t = loss_a_t - loss_b_t``; negative when ``a`` is better.
    long_run_variance : float
        Newey-West ``S`` of ``d``.
    statistic : float
        ``DM = dbar / sqrt(S / T)``; NaN when ``S = 0`` or ``T < 2``.
    pvalue : float
        Two-sided, ``2 (1 - Phi(|DM|))``.
    pvalue_better : float
        One-sided for "``a`` has lower expected loss": ``Phi(DM)``.
    """

    n: int
    lag: int
    mean_difference: float
    long_run_variance: float
    statistic: float
    pvalue: float
    pvalue_better: float


def diebold_mariano(loss_a: npt.ArrayLike, loss_b: npt.ArrayLike, lag: int) -> DieboldMarianoResult:
    """Test whether forecast ``a`` and forecast ``b`` have equal expected loss.

    Parameters
    ----------
    loss_a, loss_b : array_like, shape (T,)
        Losses of the two forecasts at the same ``T`` dates in time order (levguard passes the
        day-averaged Brier losses of the model and of the naive baseline).
    lag : int
        Newey-West truncation lag; for ``h``-step forecasts use ``h`` (at least ``h - 1``,
        the order of the moving average the overlap induces).

    Returns
    -------
    DieboldMarianoResult

    Notes
    -----
    Diebold, F. X. and Mariano, R. S. (1995), "Comparing predictive accuracy", *Journal of
    Business & Economic Statistics* 13(3), 253-263: with ``d_t = L_a,t - L_b,t``,
    ``DM = dbar / sqrt(S / T)`` is asymptotically standard normal under ``E[d_t] = 0``, with
    ``S`` the long-run variance of ``d`` estimated by Newey and West (1987) with the Bartlett
    kernel (:func:`newey_west_variance`).  No small-sample correction (Harvey, Leybourne and
    Newbold 1997) is applied.
    """
    a = array_1d(loss_a, "loss_a")
    b = array_1d(loss_b, "loss_b")
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"loss_a and loss_b must be 1-D of the same length, were shapes {a.shape} and {b.shape}")
    d = a - b
    s = newey_west_variance(d, lag)
    t = d.size
    dbar = float(d.mean())
    if t < 2 or s <= 0.0:
        return DieboldMarianoResult(t, int(lag), dbar, s, math.nan, math.nan, math.nan)
    stat = dbar / math.sqrt(s / t)
    return DieboldMarianoResult(
        n=t,
        lag=int(lag),
        mean_difference=dbar,
        long_run_variance=s,
        statistic=stat,
        pvalue=float(2.0 * ndtr(-abs(stat))),
        pvalue_better=float(ndtr(stat)),
    )
