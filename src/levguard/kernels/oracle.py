"""Price-oracle kernels: multi-source index aggregation, basis moving average and mark price.

Written once in plain Python (``foo_py``) and compiled by numba (``foo_nb = jit(foo_py)``); the
scalar helpers are ``jitable`` so that :mod:`levguard.core.oracle` runs the very same code for
one quote set as the series kernels run for every row of a replay.

Conventions shared by every function here:

* A row of quotes is three aligned arrays over ``S`` sources: ``prices`` (quote per base),
  ``weights`` (any non-negative scale, e.g. volume; only ratios matter) and ``ages_ns``
  (``now - quote time`` in int64 nanoseconds).
* Each source gets a code (``SRC_*``) saying whether it was used and, if not, why not; each row
  gets a status (``STATUS_*``).  Failure is a value: a halted index is NaN, never an exception.
* ``method`` selects how the healthy sources are combined (``METHOD_*``).

Sources: Binance's price-index and mark-price FAQs (binance.com/en/support/faq/360033525071 and
binance.com/en/support/faq/fff6ec1b3f5845d19f1fb924644a0877); rules spelled out in
:mod:`levguard.core.oracle`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from levguard.kernels._jit import jit, jitable
from levguard.typing import Float64Array1D, Float64Array2D, Int64Array1D

Int8Array = npt.NDArray[np.int8]
Int64Array2D = npt.NDArray[np.int64]

# Row status.
STATUS_OK = 0
STATUS_FALLBACK_MEDIAN = 1
STATUS_HALTED = 2

# Per-source codes (int8).  Codes below SRC_DROPPED entered the published price.
SRC_USED = 0
SRC_USED_IN_MEDIAN = 1  # beyond the threshold, but one of the sources of the fallback median
SRC_DROPPED = 2
SRC_NON_FINITE = 2
SRC_NON_POSITIVE = 3
SRC_BAD_WEIGHT = 4
SRC_ZERO_WEIGHT = 5
SRC_STALE = 6
SRC_DEVIATION = 7  # the one source beyond the threshold: given zero weight
SRC_CIRCUIT_BREAKER = 8  # fresh and valid, but too few such sources: nothing was published

# Combination of the healthy sources.
METHOD_WEIGHTED_MEAN = 0
METHOD_WEIGHTED_MEDIAN = 1

# Chosen component of the perpetual mark price (int8); -1 when the mark is NaN.
CHOSEN_NONE = -1
CHOSEN_PRICE1 = 0
CHOSEN_PRICE2 = 1
CHOSEN_CONTRACT = 2

# Relative tolerance of the "cumulative weight is exactly half" test of the weighted median.
MEDIAN_TIE_TOL = 1e-12


@jitable
def midpoint(a: float, b: float) -> float:
    """Return ``(a + b) / 2`` for ``a <= b``, kept inside ``[a, b]``.

    Notes
    -----
    ``0.5*a + 0.5*b`` cannot overflow and halving is exact for normal numbers (so the result
    scales exactly by powers of two); the clamp covers subnormal underflow.
    """
    m: float = 0.5 * a + 0.5 * b
    return min(max(m, a), b)


@jitable
def sort_quotes(p: Float64Array1D, w: Float64Array1D, n: int) -> None:
    """Sort the first ``n`` entries of ``p`` and ``w`` in place by ``(price, weight)``.

    Notes
    -----
    Insertion sort (rows hold a handful of sources).  Sorting by the pair makes every later
    sum run in an order that does not depend on the order of the sources, so results are
    bitwise invariant under permutation of the sources.
    """
    for i in range(1, n):
        pi = p[i]
        wi = w[i]
        j = i - 1
        while j >= 0 and (p[j] > pi or (p[j] == pi and w[j] > wi)):
            p[j + 1] = p[j]
            w[j + 1] = w[j]
            j -= 1
        p[j + 1] = pi
        w[j + 1] = wi


@jitable
def sorted_median(p: Float64Array1D, n: int) -> float:
    """Return the ordinary (unweighted) median of the sorted ``p[:n]``; NaN when ``n == 0``.

    Notes
    -----
    Odd ``n``: the middle value; even ``n``: the midpoint of the two middle values.
    """
    if n == 0:
        return math.nan
    h = n // 2
    if n % 2 == 1:
        return float(p[h])
    return midpoint(p[h - 1], p[h])


@jitable
def weighted_mean_sorted(p: Float64Array1D, w: Float64Array1D, n: int) -> float:
    """Return ``sum(w*p) / sum(w)`` over the sorted ``p[:n]`` (``n >= 1``, weights > 0).

    Notes
    -----
    Computed as ``p_max * sum(v_i * p_i / p_max) / sum(v_i)`` with ``v_i = w_i / w_max``: every
    term is at most 1, so neither a huge weight nor a huge price can overflow the sums, and
    scaling all prices by a power of two scales the result exactly.  The result is clamped to
    ``[p[0], p[n-1]]``: the exact mean lies there, the clamp only removes rounding, so the
    aggregate never leaves the range of the sources it used.
    """
    wmax = 0.0
    for i in range(n):
        wmax = max(wmax, w[i])
    pmax = p[n - 1]
    num = 0.0
    den = 0.0
    for i in range(n):
        vi = w[i] / wmax
        num += vi * (p[i] / pmax)
        den += vi
    x: float = pmax * (num / den)
    return min(max(x, float(p[0])), float(pmax))


@jitable
def weighted_median_sorted(p: Float64Array1D, w: Float64Array1D, n: int) -> float:
    """Return the weighted median of the sorted ``p[:n]`` (``n >= 1``, weights > 0).

    Notes
    -----
    With ``W = sum(w)`` and cumulative weights ``C_k = w_0 + ... + w_k`` (prices ascending), the
    weighted median is ``p_k`` for the first ``k`` with ``C_k >= W/2``; when ``C_k`` equals
    ``W/2`` (within a relative ``MEDIAN_TIE_TOL``) every point of ``[p_k, p_{k+1}]`` minimises
    ``sum w_i |p_i - x|`` and the midpoint of the two is returned.  With equal weights this is
    the ordinary median (midpoint of the two middle values for even ``n``).
    """
    wmax = 0.0
    for i in range(n):
        wmax = max(wmax, w[i])
    total = 0.0
    for i in range(n):
        total += w[i] / wmax
    half = 0.5 * total
    tol = MEDIAN_TIE_TOL * total
    cum = 0.0
    for k in range(n):
        cum += w[k] / wmax
        if cum >= half - tol:
            if cum <= half + tol and k + 1 < n:
                return midpoint(p[k], p[k + 1])
            return float(p[k])
    return float(p[n - 1])


@jitable
def classify_source(price: float, weight: float, age_ns: int, max_age_ns: int) -> int:
    """Return ``SRC_USED`` for a fresh, valid quote, else the first reason it fails.

    Checks in order: non-finite price, price <= 0, weight non-finite or < 0, weight == 0,
    ``age_ns > max_age_ns`` (quotes stamped after ``now``, i.e. negative ages, count as fresh).
    """
    if not math.isfinite(price):
        return SRC_NON_FINITE
    if price <= 0.0:
        return SRC_NON_POSITIVE
    if not (math.isfinite(weight) and weight >= 0.0):
        return SRC_BAD_WEIGHT
    if weight == 0.0:
        return SRC_ZERO_WEIGHT
    if age_ns > max_age_ns:
        return SRC_STALE
    return SRC_USED


@jitable
def aggregate_row(
    prices: Float64Array1D,
    weights: Float64Array1D,
    ages_ns: Int64Array1D,
    max_deviation: float,
    max_age_ns: int,
    min_sources: int,
    method: int,
    codes: Int8Array,
    buf_p: Float64Array1D,
    buf_w: Float64Array1D,
) -> tuple[float, int, float]:
    """Aggregate one row of quotes into an index price (Binance index rule).

    Parameters
    ----------
    prices, weights : (S,) float64
        Quote prices and weights.
    ages_ns : (S,) int64
        Quote ages in nanoseconds.
    max_deviation : float
        Relative deviation from the median beyond which a source is flagged (0.05 = 5 %).
    max_age_ns : int
        Quotes older than this are stale.
    min_sources : int
        Circuit breaker: fewer fresh, valid sources than this halt the index.
    method : int
        ``METHOD_WEIGHTED_MEAN`` or ``METHOD_WEIGHTED_MEDIAN``.
    codes : (S,) int8
        Output: per-source code ``SRC_*``.
    buf_p, buf_w : (S,) float64
        Scratch space.

    Returns
    -------
    price : float
        The index price (NaN when halted).
    status : int
        ``STATUS_OK``, ``STATUS_FALLBACK_MEDIAN`` or ``STATUS_HALTED``.
    median : float
        The unweighted median ``m`` of the fresh, valid prices (NaN if there are none).

    Notes
    -----
    1. Screen: a source with a non-finite or non-positive price, a bad or zero weight, or an
       age above ``max_age_ns`` is dropped (:func:`classify_source`).
    2. Circuit breaker: fewer than ``min_sources`` remain -> halted, price NaN.
    3. ``m`` = median of the remaining prices; a source deviates when ``|p - m| / m > max_deviation``.
    4. No source deviates: combine all with ``method``.  One deviates: it gets zero weight and the
       others are combined with their weights renormalised.  More than one: the price is ``m``
       (status fallback_median) and every remaining source counts as used.

    Binance's price-index rule (paraphrased): a source deviating more than 5 % from the median of
    all sources gets zero weight; if more than one source deviates, the median is used instead.
    """
    s_count = prices.shape[0]
    n = 0
    for s in range(s_count):
        code = classify_source(prices[s], weights[s], ages_ns[s], max_age_ns)
        codes[s] = code
        if code == SRC_USED:
            buf_p[n] = prices[s]
            buf_w[n] = weights[s]
            n += 1
    sort_quotes(buf_p, buf_w, n)
    m = sorted_median(buf_p, n)
    if n < min_sources:
        for s in range(s_count):
            if codes[s] == SRC_USED:
                codes[s] = SRC_CIRCUIT_BREAKER
        return math.nan, STATUS_HALTED, m

    deviating = 0
    for s in range(s_count):
        if codes[s] == SRC_USED and abs(prices[s] - m) / m > max_deviation:
            deviating += 1
    if deviating > 1:
        for s in range(s_count):
            if codes[s] == SRC_USED and abs(prices[s] - m) / m > max_deviation:
                codes[s] = SRC_USED_IN_MEDIAN
        return m, STATUS_FALLBACK_MEDIAN, m
    if deviating == 1:
        n = 0
        for s in range(s_count):
            if codes[s] == SRC_USED:
                if abs(prices[s] - m) / m > max_deviation:
                    codes[s] = SRC_DEVIATION
                else:
                    buf_p[n] = prices[s]
                    buf_w[n] = weights[s]
                    n += 1
        sort_quotes(buf_p, buf_w, n)
    if method == METHOD_WEIGHTED_MEDIAN:
        return weighted_median_sorted(buf_p, buf_w, n), STATUS_OK, m
    return weighted_mean_sorted(buf_p, buf_w, n), STATUS_OK, m


def aggregate_series_py(
    prices: Float64Array2D,
    weights: Float64Array2D,
    ages_ns: Int64Array2D,
    max_deviation: float,
    max_age_ns: int,
    min_sources: int,
    method: int,
    out_index: Float64Array1D,
    out_status: Int8Array,
    out_median: Float64Array1D,
    out_codes: Int8Array,
) -> None:
    """Aggregate ``T`` rows of quotes from ``S`` sources (:func:`aggregate_row` per row).

    Parameters
    ----------
    prices, weights : (T, S) float64
    ages_ns : (T, S) int64
    max_deviation, max_age_ns, min_sources, method
        As :func:`aggregate_row`.
    out_index : (T,) float64
        Output: index price per row (NaN when halted).
    out_status : (T,) int8
        Output: ``STATUS_*`` per row.
    out_median : (T,) float64
        Output: median of the fresh, valid prices per row.
    out_codes : (T, S) int8
        Output: ``SRC_*`` per row and source.
    """
    t_count = prices.shape[0]
    s_count = prices.shape[1]
    buf_p = np.empty(s_count)
    buf_w = np.empty(s_count)
    for t in range(t_count):
        price, status, m = aggregate_row(
            prices[t],
            weights[t],
            ages_ns[t],
            max_deviation,
            max_age_ns,
            min_sources,
            method,
            out_codes[t],
            buf_p,
            buf_w,
        )
        out_index[t] = price
        out_status[t] = status
        out_median[t] = m


@jitable
def funding_adjusted_price(
    index: float, funding_rate: float, time_until_funding_ns: float, funding_interval_ns: float
) -> float:
    """Return Binance's ``Price1 = Index * (1 + lastFundingRate * timeUntilFunding / interval)``."""
    return index * (1.0 + funding_rate * (time_until_funding_ns / funding_interval_ns))


@jitable
def basis_price(index: float, basis_ma: float) -> float:
    """Return Binance's ``Price2 = Index + MovingAverage(basis)`` (also the delivery mark)."""
    return index + basis_ma


@jitable
def median_of_three(a: float, b: float, c: float) -> tuple[float, int]:
    """Return the median of three values and which one it is (0, 1, 2); ``(nan, -1)`` on NaN.

    Notes
    -----
    Ties resolve as a stable sort of ``(a, b, c)`` would: the value ranked second, counting
    equal values in argument order, is reported.
    """
    if math.isnan(a) or math.isnan(b) or math.isnan(c):
        return math.nan, CHOSEN_NONE
    rank_a = (1 if b < a else 0) + (1 if c < a else 0)
    rank_b = (1 if a <= b else 0) + (1 if c < b else 0)
    if rank_a == 1:
        return a, CHOSEN_PRICE1
    if rank_b == 1:
        return b, CHOSEN_PRICE2
    return c, CHOSEN_CONTRACT


def mark_series_py(
    index: Float64Array1D,
    basis_ma: Float64Array1D,
    funding_rate: Float64Array1D,
    time_until_funding_ns: Float64Array1D,
    contract_price: Float64Array1D,
    funding_interval_ns: float,
    out_mark: Float64Array1D,
    out_price1: Float64Array1D,
    out_price2: Float64Array1D,
    out_chosen: Int8Array,
) -> None:
    """Fill the perpetual mark price ``Median(Price1, Price2, ContractPrice)`` of ``T`` rows.

    Parameters
    ----------
    index, basis_ma, funding_rate, contract_price : (T,) float64
        Index price, moving average of the basis, last funding rate (fraction per interval),
        contract (last traded) price.
    time_until_funding_ns : (T,) float64
        Nanoseconds to the next funding settlement.
    funding_interval_ns : float
        The funding interval (Binance's formula divides by 8 h).
    out_mark, out_price1, out_price2 : (T,) float64
        Outputs (NaN where any input is NaN).
    out_chosen : (T,) int8
        Output: ``CHOSEN_*``, the component that is the median.
    """
    for t in range(index.shape[0]):
        p1 = funding_adjusted_price(index[t], funding_rate[t], time_until_funding_ns[t], funding_interval_ns)
        p2 = basis_price(index[t], basis_ma[t])
        mark, which = median_of_three(p1, p2, contract_price[t])
        out_price1[t] = p1
        out_price2[t] = p2
        out_mark[t] = mark
        out_chosen[t] = which


def moving_average_basis_py(
    mid_prices: Float64Array1D,
    index_prices: Float64Array1D,
    window: int,
    min_periods: int,
    out: Float64Array1D,
) -> None:
    """Fill the trailing moving average of the basis ``mid - index`` over ``window`` samples.

    Parameters
    ----------
    mid_prices, index_prices : (T,) float64
        Contract mid price ``(bid1 + ask1) / 2`` and index price, sampled on one clock.
    window : int
        Samples in the trailing window (the current one included).
    min_periods : int
        Fewest finite basis points the window must hold, else the output is NaN.
    out : (T,) float64
        Output.

    Notes
    -----
    ``out[t] = mean{ b[i] : t - window < i <= t, b[i] finite }`` with ``b = mid - index``.  A
    running sum over the finite points; non-finite points (a missing quote or index) are left
    out.  Binance: "Price2 = Price Index + Moving Average (30-second Basis)", basis sampled
    every second (announcement of 2025-09-16; before it, 2.5 minutes sampled every 5 s).
    """
    total = 0.0
    count = 0
    for t in range(mid_prices.shape[0]):
        if t >= window and t % window == 0:
            # Re-sum the window from scratch now and then: the running sum cannot drift.
            total = 0.0
            count = 0
            for i in range(t - window + 1, t + 1):
                b = mid_prices[i] - index_prices[i]
                if math.isfinite(b):
                    total += b
                    count += 1
        else:
            b = mid_prices[t] - index_prices[t]
            if math.isfinite(b):
                total += b
                count += 1
            if t >= window:
                old = mid_prices[t - window] - index_prices[t - window]
                if math.isfinite(old):
                    total -= old
                    count -= 1
            if count == 0:
                total = 0.0
        out[t] = total / count if count >= min_periods and count > 0 else math.nan


aggregate_series_nb = jit(aggregate_series_py)
mark_series_nb = jit(mark_series_py)
moving_average_basis_nb = jit(moving_average_basis_py)
