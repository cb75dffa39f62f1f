"""Realised-volatility estimators on OHLC arrays: close-to-close, EWMA, Parkinson, Garman-Klass,
Rogers-Satchell and Yang-Zhang, as point estimates and rolling series, plus annualisation.

Every estimator returns a **variance per bar** (log-return units squared); :func:`annualise`
turns it into an annualised volatility with a 365-day year (24/7 markets).  Notation per bar
``i`` (Yang & Zhang 2000):

* ``o_i = ln O_i - ln C_{i-1}`` (opening jump; ~0 in a 24/7 market),
* ``u_i = ln H_i - ln O_i``, ``d_i = ln L_i - ln O_i``, ``c_i = ln C_i - ln O_i``,
* ``r_i = ln C_i - ln C_{i-1}`` (close-to-close log return).

The per-bar terms are computed once here (vectorised NumPy); point estimates average them and
the rolling forms aggregate the same terms with the O(N) kernels of :mod:`levguard.kernels.vol`,
so the two cannot drift apart.  Rolling outputs have the length of the input and hold at index
``t`` the estimate from the ``window`` bars ending at bar ``t`` (NaN before enough bars exist).

Invalid input raises :class:`~levguard.errors.InputError` naming the argument and the value:
non-finite or non-positive prices, ``high < low`` (or an open/close outside ``[low, high]``),
arrays of different lengths, ``window < 2``, ``lam`` outside ``(0, 1)``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import overload

import numpy as np

from levguard.core.validate import (
    array_1d,
    finite_number,
    no_bools_or_strings,
    number,
    positive_number,
    require_squarable,
    show,
)
from levguard.errors import InputError
from levguard.kernels.vol import ewma_nb, garch_step, rolling_mean_nb, rolling_var_nb
from levguard.typing import Float64Array1D

__all__ = [
    "DAYS_PER_YEAR",
    "RISKMETRICS_LAMBDA",
    "annualise",
    "close_to_close",
    "ewma_variance",
    "garch_partial_step",
    "garch_step_days",
    "garman_klass",
    "garman_klass_terms",
    "log_returns",
    "parkinson",
    "parkinson_terms",
    "periods_per_year",
    "rogers_satchell",
    "rogers_satchell_terms",
    "rolling_close_to_close",
    "rolling_garman_klass",
    "rolling_parkinson",
    "rolling_rogers_satchell",
    "rolling_yang_zhang",
    "yang_zhang",
    "yang_zhang_k",
]

DAYS_PER_YEAR = 365.0
"""A year of a 24/7 market (ARCHITECTURE.md, convention 5)."""

RISKMETRICS_LAMBDA = 0.94
"""RiskMetrics' decay factor for daily data (RiskMetrics Technical Document, 1996)."""

_LN2 = math.log(2.0)
_PARKINSON_DIVISOR = 4.0 * _LN2
_GK_CLOSE_COEF = 2.0 * _LN2 - 1.0
_YEAR_NS = DAYS_PER_YEAR * 86_400e9
_UNIT_NS = {"s": 1e9, "m": 60e9, "h": 3_600e9, "d": 86_400e9, "w": 604_800e9}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


# --------------------------------------------------------------------------- validation helpers


def _finite(arr: Float64Array1D, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{name} must be finite, was {name}[{i}]={float(arr[i])!r}")


def _prices(values: object, name: str) -> Float64Array1D:
    # Finite, strictly positive prices.
    arr = array_1d(values, name)
    _finite(arr, name)
    bad = arr <= 0.0
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{name} must be > 0, was {name}[{i}]={float(arr[i])!r}")
    return arr


def _same_length(ref: Float64Array1D, ref_name: str, arr: Float64Array1D, name: str) -> None:
    if arr.shape[0] != ref.shape[0]:
        raise InputError(f"{name} must have the length of {ref_name} ({ref.shape[0]}), was {arr.shape[0]}")


def _min_length(arr: Float64Array1D, name: str, minimum: int, what: str) -> None:
    if arr.shape[0] < minimum:
        raise InputError(f"{name} must hold at least {minimum} values ({what}), had {arr.shape[0]}")


_WINDOW_MAX = 2**63 - 1  # the kernels take an int64 (2**70 was a raw OverflowError or a numba TypingError)


def _check_window(window: object) -> int:
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or int(window) < 2:
        raise InputError(f"window must be an integer >= 2, was {window!r}")
    if int(window) > _WINDOW_MAX:
        raise InputError(f"window must be an integer <= 2**63 - 1 (the kernels' int64), was {show(window)}")
    return int(window)


def _ordered(lower: Float64Array1D, lower_name: str, upper: Float64Array1D, upper_name: str) -> None:
    # lower <= upper bar by bar.
    bad = lower > upper
    if bad.any():
        i = int(np.argmax(bad))
        hi, lo = float(upper[i]), float(lower[i])
        was = f"{upper_name}[{i}]={hi!r} < {lower_name}[{i}]={lo!r}"
        raise InputError(f"{upper_name} must be >= {lower_name}, was {was}")


def _high_low(high: object, low: object) -> tuple[Float64Array1D, Float64Array1D]:
    h = _prices(high, "high")
    lo = _prices(low, "low")
    _same_length(h, "high", lo, "low")
    _ordered(lo, "low", h, "high")
    return h, lo


def _ohlc(
    open_: object, high: object, low: object, close: object
) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D, Float64Array1D]:
    o = _prices(open_, "open")
    h, lo = _high_low(high, low)
    c = _prices(close, "close")
    _same_length(h, "high", o, "open")
    _same_length(h, "high", c, "close")
    # Open and close inside [low, high]: otherwise the range terms lose their meaning (and the
    # Rogers-Satchell term can turn negative).
    _ordered(o, "open", h, "high")
    _ordered(c, "close", h, "high")
    _ordered(lo, "low", o, "open")
    _ordered(lo, "low", c, "close")
    return o, h, lo, c


def _check_prev_close(prev_close: float | None) -> float | None:
    if prev_close is None:
        return None
    if isinstance(prev_close, bool) or not isinstance(prev_close, numbers.Real):
        raise InputError(f"prev_close must be a number > 0 or None, was {prev_close!r}")
    value = float(prev_close)
    if not (math.isfinite(value) and value > 0.0):
        raise InputError(f"prev_close must be a finite number > 0, was {prev_close!r}")
    return value


def _real(value: numbers.Real) -> float:
    # float(value), NaN for an int beyond float64's range (10**400): every range check refuses it.
    try:
        return float(value)
    except OverflowError:
        return math.nan


def _check_lam(lam: object) -> float:
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not 0.0 < _real(lam) < 1.0:
        raise InputError(f"lam must be a number in (0, 1), was {show(lam)}")
    return float(lam)


# --------------------------------------------------------------------------- per-bar terms


def log_returns(close: object) -> Float64Array1D:
    """Return the close-to-close log returns ``r_i = ln(C_i / C_{i-1})``.

    Parameters
    ----------
    close : (N,) array_like
        Close prices, finite and > 0.

    Returns
    -------
    (N - 1,) float64
        ``r[i-1] = ln C_i - ln C_{i-1}`` for ``i = 1 .. N-1``.
    """
    c = _prices(close, "close")
    return np.diff(np.log(c))


def parkinson_terms(high: object, low: object) -> Float64Array1D:
    """Return Parkinson's per-bar variance ``(ln H_i - ln L_i)^2 / (4 ln 2)``.

    Parameters
    ----------
    high, low : (N,) array_like
        Bar highs and lows, finite, > 0, ``high >= low``.

    Returns
    -------
    (N,) float64
        Unbiased per-bar variances for driftless continuous-path GBM.

    Notes
    -----
    Parkinson (1980), "The Extreme Value Method for Estimating the Variance of the Rate of
    Return", J. Business 53(1): ``E[(ln H/L)^2] = 4 ln 2 sigma^2`` for a driftless Brownian
    motion observed continuously over the bar.
    """
    h, lo = _high_low(high, low)
    hl = np.log(h) - np.log(lo)
    out: Float64Array1D = hl * hl / _PARKINSON_DIVISOR
    return out


def _udc(
    o: Float64Array1D, h: Float64Array1D, lo: Float64Array1D, c: Float64Array1D
) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    # Normalised high, low and close of each bar: u, d, c in the module notation.
    lno = np.log(o)
    return np.log(h) - lno, np.log(lo) - lno, np.log(c) - lno


def _rs(u: Float64Array1D, d: Float64Array1D, c: Float64Array1D) -> Float64Array1D:
    # Rogers-Satchell term of each bar from its normalised u, d, c.
    out: Float64Array1D = u * (u - c) + d * (d - c)
    return out


def garman_klass_terms(open: object, high: object, low: object, close: object) -> Float64Array1D:
    """Return Garman-Klass per-bar variances ``0.5 (u - d)^2 - (2 ln 2 - 1) c^2``.

    Parameters
    ----------
    open, high, low, close : (N,) array_like
        Bar prices, finite, > 0, with ``low <= open, close <= high``.

    Returns
    -------
    (N,) float64
        Non-negative per-bar variances (``|c| <= u - d`` makes every term >= 0).

    Notes
    -----
    Garman & Klass (1980), "On the Estimation of Security Price Volatilities from Historical
    Data", J. Business 53(1): their practical estimator (efficiency 7.4 relative to the squared
    close-to-close return for driftless GBM).  It omits the opening jump; add it with
    :func:`yang_zhang` when the market has gaps.
    """
    u, d, cc = _udc(*_ohlc(open, high, low, close))
    ud = u - d
    out: Float64Array1D = 0.5 * ud * ud - _GK_CLOSE_COEF * cc * cc
    return out


def rogers_satchell_terms(open: object, high: object, low: object, close: object) -> Float64Array1D:
    """Return Rogers-Satchell per-bar variances ``u (u - c) + d (d - c)``.

    Parameters and returns are those of :func:`garman_klass_terms`; these terms are unbiased for
    GBM with any drift.

    Notes
    -----
    Rogers & Satchell (1991), "Estimating Variance from High, Low and Closing Prices", Ann. Appl.
    Probab. 1(4): ``E[u (u - c) + d (d - c)] = sigma^2`` whatever the drift.
    """
    return _rs(*_udc(*_ohlc(open, high, low, close)))


# --------------------------------------------------------------------------- point estimates


def _mean_per_bar(terms: Float64Array1D, name: str) -> float:
    # A range estimator's point estimate: the mean of its per-bar terms over N >= 1 bars.
    _min_length(terms, name, 1, "one bar")
    return float(np.mean(terms))


def close_to_close(close: object, *, demean: bool = True) -> float:
    """Return the close-to-close variance per bar.

    Parameters
    ----------
    close : (N,) array_like
        Close prices, finite and > 0; ``N >= 3`` (``N >= 2`` with ``demean=False``).
    demean : bool
        ``True``: sample variance about the mean return, ``sum (r_i - r_bar)^2 / (n - 1)``.
        ``False``: zero-mean estimate ``sum r_i^2 / n`` (usual for intraday bars).

    Returns
    -------
    float
        Variance of the log return per bar over the ``n = N - 1`` returns.

    Notes
    -----
    The classical estimator (Garman & Klass 1980, ``sigma_0``); the benchmark every range
    estimator's efficiency is measured against.
    """
    r = log_returns(close)
    if demean:
        _min_length(r, "close", 2, "3 closes make 2 returns for a sample variance")
        return float(np.var(r, ddof=1))
    _min_length(r, "close", 1, "2 closes make 1 return")
    return float(np.mean(r * r))


def parkinson(high: object, low: object) -> float:
    """Return Parkinson's variance per bar ``sum (ln H_i / L_i)^2 / (4 n ln 2)``.

    Parameters are those of :func:`parkinson_terms`, with ``N >= 1`` bars.

    Notes
    -----
    Parkinson (1980), J. Business 53(1).  Variance ``0.407 sigma^4`` per bar against ``2 sigma^4``
    for a squared return: 4.9 times as efficient (driftless, continuous monitoring).  Biased up
    by drift and down by discrete monitoring of the high and low (see :func:`garman_klass`).
    """
    return _mean_per_bar(parkinson_terms(high, low), "high")


def garman_klass(open: object, high: object, low: object, close: object) -> float:
    """Return the Garman-Klass variance per bar ``(1/n) sum 0.5 (u - d)^2 - (2 ln 2 - 1) c^2``.

    Parameters are those of :func:`garman_klass_terms`, with ``N >= 1`` bars.

    Notes
    -----
    Garman & Klass (1980), J. Business 53(1).  Efficiency 7.4 against the squared return for
    driftless GBM.  A high and low taken from ``m`` discrete prices per bar understate the
    continuous extremes by about ``0.5826 sigma sqrt(T/m)`` each (Broadie, Glasserman & Kou 1997,
    Math. Finance 7(4)), which biases Parkinson by ``-1.34/sqrt(m)`` and Garman-Klass and
    Rogers-Satchell by ``-1.86/sqrt(m)`` (relative, first order; measured in docs/risk.md).
    """
    return _mean_per_bar(garman_klass_terms(open, high, low, close), "open")


def rogers_satchell(open: object, high: object, low: object, close: object) -> float:
    """Return the Rogers-Satchell variance per bar ``(1/n) sum u (u - c) + d (d - c)``.

    Parameters are those of :func:`rogers_satchell_terms`, with ``N >= 1`` bars.  The estimate
    is unbiased under any drift.

    Notes
    -----
    Rogers & Satchell (1991), Ann. Appl. Probab. 1(4); efficiency about 6 against the squared
    return for driftless GBM.
    """
    return _mean_per_bar(rogers_satchell_terms(open, high, low, close), "open")


def yang_zhang_k(n: int) -> float:
    """Return Yang and Zhang's weight ``k = 0.34 / (1.34 + (n + 1) / (n - 1))`` for ``n >= 2`` bars.

    Notes
    -----
    Yang & Zhang (2000), J. Business 73(3), with ``alpha = 1.34``: the ``k`` minimising
    the estimator's variance (for ``alpha`` near its value for driftless GBM).
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) < 2:
        raise InputError(f"n must be an integer >= 2, was {n!r}")
    return 0.34 / (1.34 + (n + 1) / (n - 1))


def _yz_parts(
    open_: object, high: object, low: object, close: object, prev_close: float | None
) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    # (o, c, rs) per bar with an opening jump defined: all N bars when prev_close is given,
    # else bars 1..N-1 (the first bar has no previous close).
    o, h, lo, c = _ohlc(open_, high, low, close)
    prev = _check_prev_close(prev_close)
    u, d, cc = _udc(o, h, lo, c)
    rs = _rs(u, d, cc)
    lnc = np.log(c)
    if prev is None:
        jump = np.log(o[1:]) - lnc[:-1]
        return jump, cc[1:], rs[1:]
    prev_lnc = np.concatenate(([math.log(prev)], lnc[:-1]))
    return np.log(o) - prev_lnc, cc, rs


def yang_zhang(open: object, high: object, low: object, close: object, *, prev_close: float | None = None) -> float:
    """Return the Yang-Zhang variance per bar ``V_o + k V_c + (1 - k) V_RS``.

    Parameters
    ----------
    open, high, low, close : (N,) array_like
        Bar prices.
    prev_close : float, optional
        The close before the first bar, which defines the first bar's opening jump.  Without it
        the first bar is used only as the previous close of the second (``n = N - 1`` bars).

    Returns
    -------
    float
        Variance per bar of the close-to-close return (opening jump plus the bar), over
        ``n >= 2`` bars.

    Notes
    -----
    Yang & Zhang (2000), "Drift-Independent Volatility Estimation Based on High, Low, Open, and
    Close Prices", J. Business 73(3):  ``V_o`` and ``V_c`` are the sample variances (divisor
    ``n - 1``) of the opening jumps ``o_i`` and the open-to-close returns ``c_i``, ``V_RS`` the
    Rogers-Satchell mean and ``k`` from :func:`yang_zhang_k`.  Unbiased under drift and opening
    jumps, and the minimum-variance unbiased combination of its three parts.  In a 24/7 market
    ``o_i`` is ~0 and the estimator reduces to ``k V_c + (1 - k) V_RS``.
    """
    jump, cc, rs = _yz_parts(open, high, low, close, prev_close)
    n = jump.shape[0]
    if n < 2:
        raise InputError(
            f"open must hold at least 2 bars with a previous close for yang_zhang, had {n} "
            "(pass prev_close to use the first bar)"
        )
    k = yang_zhang_k(n)
    return float(np.var(jump, ddof=1) + k * np.var(cc, ddof=1) + (1.0 - k) * np.mean(rs))


def ewma_variance(returns: object, lam: float = RISKMETRICS_LAMBDA, seed_var: float | None = None) -> Float64Array1D:
    """Return the RiskMetrics EWMA variance after each return.

    Parameters
    ----------
    returns : (N,) array_like
        Log returns per bar, finite, ``N >= 1``.
    lam : float
        Decay factor in ``(0, 1)``; RiskMetrics uses 0.94 for daily data.  The weights have
        centre of mass ``lam / (1 - lam)`` bars.
    seed_var : float, optional
        Variance before the first return (>= 0).  Default ``returns[0]**2``, which makes the
        series equal ``pandas.Series(r**2).ewm(alpha=1-lam, adjust=False).mean()``.  The seed's
        weight decays as ``lam**t``: discard the first few ``1/(1-lam)`` values or pass a seed.

    Returns
    -------
    (N,) float64
        ``v[t] = lam * v[t-1] + (1 - lam) * r[t]^2`` with ``v[-1] = seed_var``: the variance
        estimate using returns up to and including ``t``, i.e. the forecast for return ``t + 1``.

    Notes
    -----
    J.P. Morgan/Reuters (1996), RiskMetrics Technical Document, 4th ed.:
    ``sigma^2_{t+1|t} = lam sigma^2_{t|t-1} + (1 - lam) r_t^2`` (zero mean).
    """
    no_bools_or_strings(returns, "returns")
    r = array_1d(returns, "returns")
    _finite(r, "returns")
    _min_length(r, "returns", 1, "one return")
    require_squarable(r, "returns")  # 1e200 is finite, its square inf
    lam_f = _check_lam(lam)
    if seed_var is None:
        seed = float(r[0] * r[0])
    else:
        if isinstance(seed_var, bool) or not isinstance(seed_var, numbers.Real):
            raise InputError(f"seed_var must be a number >= 0 or None, was {seed_var!r}")
        seed = number(seed_var, "seed_var")  # an int beyond float64's range is refused by name
        if not (math.isfinite(seed) and seed >= 0.0):
            raise InputError(f"seed_var must be a finite number >= 0, was {seed_var!r}")
    out = np.empty(r.shape[0])
    ewma_nb(r * r, lam_f, seed, out)
    return out


# --------------------------------------------------------------------------- rolling estimates


def _rolling_mean(terms: Float64Array1D, window: int) -> Float64Array1D:
    out = np.empty(terms.shape[0])
    rolling_mean_nb(terms, window, out)
    return out


def _rolling_var(values: Float64Array1D, window: int) -> Float64Array1D:
    out = np.empty(values.shape[0])
    rolling_var_nb(values, window, 1, out)
    return out


def _nan_front(values: Float64Array1D, pad: int) -> Float64Array1D:
    # Prepend `pad` NaNs (to re-align a series of returns with its bars).
    return np.concatenate((np.full(pad, np.nan), values))


def rolling_close_to_close(close: object, window: int, *, demean: bool = True) -> Float64Array1D:
    """Return the rolling close-to-close variance per bar over ``window`` returns.

    Parameters
    ----------
    close : (N,) array_like
        Close prices.
    window : int
        Returns per estimate, ``>= 2``.
    demean : bool
        As in :func:`close_to_close`.

    Returns
    -------
    (N,) float64
        ``out[t] = close_to_close(close[t-window : t+1])``; NaN for ``t < window``.
    """
    w = _check_window(window)
    r = log_returns(close)
    rolled = _rolling_var(r, w) if demean else _rolling_mean(r * r, w)
    return _nan_front(rolled, 1)


def rolling_parkinson(high: object, low: object, window: int) -> Float64Array1D:
    """Return the rolling Parkinson variance per bar.

    Returns
    -------
    (N,) float64
        ``out[t] = parkinson(high[t-window+1 : t+1], low[...])``; NaN for ``t < window - 1``.
    """
    w = _check_window(window)
    return _rolling_mean(parkinson_terms(high, low), w)


def rolling_garman_klass(open: object, high: object, low: object, close: object, window: int) -> Float64Array1D:
    """Return the rolling Garman-Klass variance per bar (NaN for ``t < window - 1``)."""
    w = _check_window(window)
    return _rolling_mean(garman_klass_terms(open, high, low, close), w)


def rolling_rogers_satchell(open: object, high: object, low: object, close: object, window: int) -> Float64Array1D:
    """Return the rolling Rogers-Satchell variance per bar (NaN for ``t < window - 1``)."""
    w = _check_window(window)
    return _rolling_mean(rogers_satchell_terms(open, high, low, close), w)


def rolling_yang_zhang(
    open: object, high: object, low: object, close: object, window: int, *, prev_close: float | None = None
) -> Float64Array1D:
    """Return the rolling Yang-Zhang variance per bar.

    Returns
    -------
    (N,) float64
        ``out[t] = yang_zhang(open[t-window+1 : t+1], ..., prev_close=close[t-window])`` with
        ``k = yang_zhang_k(window)``; NaN for ``t < window`` (``t < window - 1`` when
        ``prev_close`` is given, which then serves the first bar).
    """
    w = _check_window(window)
    jump, cc, rs = _yz_parts(open, high, low, close, prev_close)
    k = yang_zhang_k(w)
    rolled = _rolling_var(jump, w) + k * _rolling_var(cc, w) + (1.0 - k) * _rolling_mean(rs, w)
    return _nan_front(rolled, 0 if prev_close is not None else 1)


# --------------------------------------------------------------------------- annualisation


def periods_per_year(interval: str | int) -> float:
    """Return the number of bars in a 365-day year.

    Parameters
    ----------
    interval : str or int
        A bar interval ``"<n><s|m|h|d|w>"`` (``"1m"``, ``"15m"``, ``"1h"``, ``"4h"``, ``"1d"``,
        ``"1w"``) or a bar length in nanoseconds (> 0).

    Returns
    -------
    float
        ``365 days / bar length``: 8760 for ``"1h"``, 365 for ``"1d"``, 525600 for ``"1m"``.

    Notes
    -----
    Crypto perpetuals trade 24/7, so the year has 365 days of 24 hours (no 252-day convention).
    """
    if isinstance(interval, str):
        m = _INTERVAL.match(interval)
        if m is None or int(m.group(1)) <= 0:
            raise InputError(f"interval must look like 1m, 15m, 1h, 4h, 1d, 1w, was {interval!r}")
        ns = int(m.group(1)) * _UNIT_NS[m.group(2)]
    elif isinstance(interval, numbers.Integral) and not isinstance(interval, bool) and 0 < int(interval) < 2**63:
        ns = float(int(interval))
    else:
        raise InputError(
            f"interval must be a string like '1h' or a bar length in ns from 1 to 2**63 - 1, was {show(interval)}"
        )
    return _YEAR_NS / ns


@overload
def annualise(var_per_bar: float, periods_per_year: float) -> float: ...
@overload
def annualise(var_per_bar: Float64Array1D, periods_per_year: float) -> Float64Array1D: ...
def annualise(var_per_bar: float | Float64Array1D, periods_per_year: float) -> float | Float64Array1D:
    """Return the annualised volatility ``sqrt(var_per_bar * periods_per_year)``.

    Parameters
    ----------
    var_per_bar : float or ndarray
        Variance per bar (>= 0; NaN passes through, e.g. a rolling warm-up).
    periods_per_year : float
        Bars per year, > 0 (see :func:`periods_per_year`).

    Returns
    -------
    float or ndarray
        Annualised volatility, the same shape as ``var_per_bar``.

    Notes
    -----
    Square-root-of-time scaling, exact for i.i.d. returns: ``sigma_year = sigma_bar sqrt(P)``.
    """
    ppy = periods_per_year
    p = (
        ppy
        if type(ppy) is float
        else _real(ppy)
        if isinstance(ppy, numbers.Real) and not isinstance(ppy, bool)
        else -1.0
    )
    if not (math.isfinite(p) and p > 0.0):
        raise InputError(f"periods_per_year must be a finite number > 0, was {show(ppy)}")
    if type(var_per_bar) is float:
        if var_per_bar < 0.0:
            raise InputError(f"var_per_bar must be >= 0, was {var_per_bar!r}")
        return math.sqrt(var_per_bar * p)
    if isinstance(var_per_bar, numbers.Real) and not isinstance(var_per_bar, bool):
        v = _real(var_per_bar)
        if math.isnan(v) and not isinstance(var_per_bar, float | np.floating):
            raise InputError(f"var_per_bar must be a number within float64 range, was {show(var_per_bar)}")
        if v < 0.0:
            raise InputError(f"var_per_bar must be >= 0, was {var_per_bar!r}")
        return math.sqrt(v * float(ppy))
    no_bools_or_strings(var_per_bar, "var_per_bar")
    arr = array_1d(var_per_bar, "var_per_bar")
    bad = arr < 0.0
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"var_per_bar must be >= 0, was var_per_bar[{i}]={float(arr[i])!r}")
    out: Float64Array1D = np.sqrt(arr * float(ppy))
    return out


def garch_partial_step(
    sigma2: float,
    eps_partial: float,
    elapsed: float,
    omega: float,
    alpha: float,
    beta: float,
    gamma: float = 0.0,
) -> float:
    """Return the next period's (GJR-)GARCH(1,1) variance after a period seen only in part.

    Parameters
    ----------
    sigma2 : float
        Conditional variance of the current period (``sigma2_T``, > 0), forecast from the
        complete periods before it.
    eps_partial : float
        The innovation observed so far in the current period (a zero-mean model: its return so
        far, e.g. the log return from the last complete day's close to the last bar's close).
    elapsed : float
        Fraction ``h`` of the period observed, in [0, 1] (a day's bars cover [00:00, 24:00) UTC).
    omega, alpha, beta : float
        GARCH(1,1) parameters in the units of ``sigma2``.
    gamma : float
        GJR leverage term (0: plain GARCH).

    Returns
    -------
    float
        ``sigma2_{T+1} = omega + (alpha + gamma 1{eps_partial < 0}) eps_partial^2
        + (alpha + gamma / 2) (1 - h) sigma2_T + beta sigma2_T``.

    Raises
    ------
    InputError
        ``sigma2`` not > 0, ``elapsed`` outside [0, 1], a non-finite input.

    Notes
    -----
    The GARCH(1,1) recursion (Bollerslev 1986) needs the period's squared innovation
    ``eps_T^2``.  Part of the period is still to come: ``eps_T = eps_partial + eps_rest`` with
    ``eps_rest`` unobserved, of mean 0, uncorrelated with the past, and of variance
    ``(1 - h) sigma2_T`` when the period's variance accrues evenly through it (the diffusion
    limit in which a day's variance is the sum of its intraday ones: Andersen & Bollerslev 1998,
    Int. Econ. Rev. 39(4), "Answering the skeptics").  Its conditional expectation given what is
    known is ``E[eps_T^2 | F] = eps_partial^2 + (1 - h) sigma2_T``, which replaces ``eps_T^2``.
    ``h = 1`` is the ordinary step; ``h = 0`` with no move gives the two-step forecast ``omega +
    (alpha + beta) sigma2_T``.  A partial period's squared return alone has expectation about
    ``h sigma2_T``: fed to the recursion as a whole period's, it biases the forecast down.  GJR
    (Glosten, Jagannathan & Runkle 1993): the seen part takes the leverage term by its sign, the
    unseen (symmetric) part by its mean ``gamma / 2`` (exact at ``h = 1`` and at
    ``eps_partial = 0``; in between an approximation, the sign of the whole period's innovation
    not being known).  The step is :func:`levguard.kernels.vol.garch_step` with the weighted
    variance proxy ``x`` (``scale = x``, ``z = 1``, ``alpha = 1``).
    """
    s2 = positive_number(sigma2, "sigma2")
    e = finite_number(eps_partial, "eps_partial")
    h = finite_number(elapsed, "elapsed")
    if not 0.0 <= h <= 1.0:
        raise InputError(f"elapsed must be a fraction in [0, 1], was {elapsed!r}")
    w, a, b, g = (
        finite_number(v, k) for k, v in (("omega", omega), ("alpha", alpha), ("beta", beta), ("gamma", gamma))
    )
    proxy = (a + (g if e < 0.0 else 0.0)) * e * e + (a + 0.5 * g) * (1.0 - h) * s2
    return float(garch_step(s2, proxy, 1.0, w, 1.0, b))


def garch_step_days(
    sigma2: float,
    days: Sequence[tuple[float, float]],
    omega: float,
    alpha: float,
    beta: float,
    gamma: float = 0.0,
) -> float:
    """Return the (GJR-)GARCH(1,1) variance after stepping through ``days`` in order.

    Parameters
    ----------
    sigma2 : float
        Conditional variance of the first of ``days`` (> 0), forecast from the periods before it.
    days : Sequence[tuple[float, float]]
        Per period, in order: its innovation (a zero-mean model: its log return) and the
        fraction of it elapsed; complete periods have ``1.0``, an unfinished last one less.
    omega, alpha, beta, gamma : float
        (GJR-)GARCH(1,1) parameters in the units of ``sigma2``.

    Returns
    -------
    float
        The variance of the period after the last of ``days`` (``sigma2`` for no days).

    Notes
    -----
    GARCH steps through every innovation in order (Bollerslev 1986): each period is one
    :func:`garch_partial_step`, the ordinary step for a complete one (``h = 1``).  A
    multi-asset FHS fits on the days all assets have; an asset whose complete days run past
    them takes those, then its unfinished day, before its forecast.
    """
    s2 = sigma2
    for eps, elapsed in days:
        s2 = garch_partial_step(s2, eps, elapsed, omega, alpha, beta, gamma)
    return s2
