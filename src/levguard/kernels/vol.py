"""Volatility kernels: rolling means and variances in O(N), and the one GARCH/EWMA recursion.

Each kernel is written once in plain Python (``foo_py``) and compiled through the shim
(``foo_nb = jit(foo_py)``).  The per-bar variance terms of the range estimators are computed in
:mod:`levguard.core.risk.volatility` (vectorised NumPy); the kernels here only aggregate them.

Conventions shared by the rolling kernels:

* ``out`` has the length of ``x``; ``out[t]`` is the statistic of the window ``x[t-w+1 .. t]``
  (the window *ending* at ``t``, so no look-ahead) and NaN for ``t < w - 1``.
* Running sums are updated in O(1) per step and re-summed exactly at the start of every block of
  ``w`` outputs, so rounding error cannot accumulate beyond one block (O(N) overall: each
  re-sum costs ``w`` and happens ``N / w`` times).
* No exceptions inside loops: inputs are validated by the caller.

One recursion, many models: :func:`garch_step` is the GARCH(1,1) variance update, written once.
EWMA (RiskMetrics) is the same update with ``omega = 0``, ``alpha = 1 - lam``, ``beta = lam``
(as the ``arch`` package's ``EWMAVariance``), GJR-GARCH adds ``gamma`` to ``alpha`` after a
negative shock (:func:`gjr_garch_step`).  Every consumer calls it: :func:`ewma_py`,
:func:`garch_filter_py` (and through them :mod:`levguard.core.risk.volatility` and
:mod:`levguard.core.risk.var`), the first-passage paths (:mod:`levguard.kernels.paths`), the
synthetic market (:mod:`levguard.kernels.synth`), the sizing and forecaster kernels.
"""

from __future__ import annotations

import math
from typing import TypeVar

from levguard.kernels._jit import jit, jitable
from levguard.typing import Float64Array, Float64Array1D

__all__ = [
    "ewma_nb",
    "ewma_py",
    "ewma_step",
    "garch_filter_nb",
    "garch_filter_py",
    "garch_step",
    "gjr_garch_step",
    "rolling_mean_nb",
    "rolling_mean_py",
    "rolling_var_nb",
    "rolling_var_py",
    "window_moments",
    "window_sum",
]


# A scalar, or (from Python only) arrays that broadcast together.
_V = TypeVar("_V", float, Float64Array)


@jitable
def garch_step(h: _V, scale: _V, z: _V, omega: _V, alpha: _V, beta: _V) -> _V:
    """Return the next conditional variance of the GARCH(1,1) recursion.

    Parameters
    ----------
    h : float
        Conditional variance of the current step (``sigma2_t``).
    scale, z : float
        The current squared innovation is ``eps_t**2 = scale * z**2``: ``scale = h`` and ``z``
        the standardised shock (``eps_t = sqrt(h) z``), or ``scale = 1`` and ``z = eps_t`` the
        raw innovation, or ``scale = x`` and ``z = 1`` for a variance proxy ``x`` (a squared
        return) the average is taken of.
    omega, alpha, beta : float
        GARCH(1,1) parameters in the units of ``h``.

    Returns
    -------
    float
        ``sigma2_{t+1}``.

    Notes
    -----
    ``sigma2_{t+1} = omega + alpha eps_t**2 + beta sigma2_t`` (Bollerslev 1986, J. Econometrics
    31).  The RiskMetrics EWMA ``v_t = lam v_{t-1} + (1 - lam) x_t`` (J.P. Morgan/Reuters,
    *RiskMetrics Technical Document*, 4th ed., 1996) is this step with ``omega = 0``,
    ``alpha = 1 - lam``, ``beta = lam``, the parametrisation of the ``arch`` package
    (:func:`ewma_step`).  Evaluated as written, ``(omega + ((alpha scale) z) z) + beta h``, so
    every caller gets the same bits it got from its own copy of the formula before (with
    ``omega = 0`` the sum equals ``beta h + alpha x`` exactly).  Works on scalars and, from
    Python, on NumPy arrays.
    """
    return omega + alpha * scale * z * z + beta * h


@jitable
def ewma_step(v: float, x: float, lam: float) -> float:
    """Return the next exponentially weighted average ``lam v + (1 - lam) x`` (scalars).

    Notes
    -----
    The RiskMetrics recursion (J.P. Morgan/Reuters, *RiskMetrics Technical Document*, 4th ed.,
    1996) as :func:`garch_step` with ``omega = 0``, ``alpha = 1 - lam``, ``beta = lam``; with
    ``x`` a squared return it is the EWMA variance, with ``x`` a return the EWMA mean.
    """
    return garch_step(v, x, 1.0, 0.0, 1.0 - lam, lam)


@jitable
def gjr_garch_step(h: float, eps: float, omega: float, alpha: float, gamma: float, beta: float) -> float:
    """Return the next conditional variance of the GJR-GARCH(1,1) recursion (scalars).

    Notes
    -----
    ``sigma2_{t+1} = omega + (alpha + gamma 1{eps_t < 0}) eps_t**2 + beta sigma2_t`` (Glosten,
    Jagannathan and Runkle 1993, J. Finance 48): :func:`garch_step` with ``alpha + gamma`` after
    a negative shock; ``gamma = 0`` is plain GARCH.
    """
    a = alpha + gamma if eps < 0.0 else alpha
    return garch_step(h, 1.0, eps, omega, a, beta)


@jitable
def window_sum(w: Float64Array1D) -> float:
    """Return ``w[0] + w[1] + ... + w[-1]``, added left to right (``w`` a window of a series)."""
    s = 0.0
    for j in range(w.shape[0]):
        s += w[j]
    return s


@jitable
def window_moments(w: Float64Array1D) -> tuple[float, float]:
    """Return the mean and the sum of squared deviations ``M2`` of the window ``w`` (non-empty).

    Notes
    -----
    Two passes: ``mean = sum(w) / n`` (:func:`window_sum`), then ``M2 = sum((w_i - mean)^2)``;
    accurate whatever the window's level (no cancellation as in ``sum(w^2) - n mean^2``).
    """
    n = w.shape[0]
    mean = window_sum(w) / n
    m2 = 0.0
    for j in range(n):
        dev = w[j] - mean
        m2 += dev * dev
    return mean, m2


def rolling_mean_py(x: Float64Array1D, window: int, out: Float64Array1D) -> None:
    """Fill ``out[t]`` with the mean of ``x[t-window+1 .. t]`` (NaN while ``t < window - 1``).

    Parameters
    ----------
    x : (N,) float64
        Values (e.g. per-bar variance terms).
    window : int
        Window length ``w >= 1``.
    out : (N,) float64
        Output, written in place.

    Notes
    -----
    Running sum ``S_t = S_{t-1} + x_t - x_{t-w}``, re-summed from scratch every ``w`` steps.
    """
    n = x.shape[0]
    for t in range(min(window - 1, n)):
        out[t] = math.nan
    s = 0.0
    for t in range(window - 1, n):
        if (t - window + 1) % window == 0:
            s = window_sum(x[t - window + 1 : t + 1])
        else:
            s += x[t] - x[t - window]
        out[t] = s / window


def rolling_var_py(x: Float64Array1D, window: int, ddof: int, out: Float64Array1D) -> None:
    """Fill ``out[t]`` with the variance of ``x[t-window+1 .. t]`` about its own mean.

    Parameters
    ----------
    x : (N,) float64
        Values (e.g. log returns).
    window : int
        Window length ``w``, with ``w > ddof``.
    ddof : int
        Delta degrees of freedom: the divisor is ``w - ddof`` (1 for the sample variance).
    out : (N,) float64
        Output, written in place; NaN while ``t < window - 1``.

    Notes
    -----
    Welford's update (Welford 1962, Technometrics 4(3)) applied to a window that drops
    ``x_o = x_{t-w}`` and adds ``x_n = x_t``:
    ``m' = m + (x_n - x_o) / w`` and ``M2' = M2 + (x_n - x_o)(x_n - m' + x_o - m)``.
    ``M2`` is recomputed by two passes every ``w`` steps; a tiny negative ``M2`` from rounding
    is reported as 0.
    """
    n = x.shape[0]
    for t in range(min(window - 1, n)):
        out[t] = math.nan
    mean = 0.0
    m2 = 0.0
    for t in range(window - 1, n):
        if (t - window + 1) % window == 0:
            mean, m2 = window_moments(x[t - window + 1 : t + 1])
        else:
            x_old = x[t - window]
            x_new = x[t]
            delta = x_new - x_old
            new_mean = mean + delta / window
            m2 += delta * (x_new - new_mean + x_old - mean)
            mean = new_mean
        out[t] = m2 / (window - ddof) if m2 > 0.0 else 0.0


def ewma_py(x: Float64Array1D, lam: float, seed: float, out: Float64Array1D) -> None:
    """Fill ``out`` with the exponentially weighted moving average of ``x``.

    Parameters
    ----------
    x : (N,) float64
        Values (squared returns for the RiskMetrics variance).
    lam : float
        Decay factor in ``(0, 1)``.
    seed : float
        The average before the first value (``out[-1]``).
    out : (N,) float64
        Output, written in place.

    Notes
    -----
    ``out[t] = lam * out[t-1] + (1 - lam) * x[t]`` with ``out[-1] = seed`` (RiskMetrics
    Technical Document, J.P. Morgan/Reuters, 4th ed., 1996).
    Computed by :func:`garch_step` with ``omega = 0, alpha = 1 - lam, beta = lam``.
    """
    v = seed
    one_minus = 1.0 - lam
    for t in range(x.shape[0]):
        v = garch_step(v, x[t], 1.0, 0.0, one_minus, lam)
        out[t] = v


def garch_filter_py(
    eps: Float64Array1D, omega: float, alpha: float, gamma: float, beta: float, var: Float64Array1D
) -> None:
    """Run the GJR-GARCH(1,1) variance recursion over innovations (in place).

    Parameters
    ----------
    eps : (T,) float64
        Innovations ``eps_t = r_t - mu``.
    omega, alpha, gamma, beta : float
        Parameters in the units of ``eps**2`` (``gamma = 0``: plain GARCH).
    var : (T + 1,) float64
        ``var[0]`` is the variance of the first innovation (set by the caller); ``var[t + 1]``
        is written for every ``t``, the last one being the one-step forecast.

    Notes
    -----
    ``var[t+1] = omega + (alpha + gamma 1{eps_t < 0}) eps_t**2 + beta var[t]``
    (:func:`gjr_garch_step`; Bollerslev 1986; Glosten, Jagannathan and Runkle 1993).
    """
    for t in range(eps.shape[0]):
        var[t + 1] = gjr_garch_step(var[t], eps[t], omega, alpha, gamma, beta)


rolling_mean_nb = jit(rolling_mean_py)
rolling_var_nb = jit(rolling_var_py)
ewma_nb = jit(ewma_py)
garch_filter_nb = jit(garch_filter_py)
