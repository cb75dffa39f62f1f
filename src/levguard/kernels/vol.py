"""Volatility kernels: rolling means and variances in O(N), and the EWMA recursion.

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
"""

from __future__ import annotations

import math

from levguard._typing import Float64Array1D
from levguard.kernels._jit import jit


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
            s = 0.0
            for j in range(t - window + 1, t + 1):
                s += x[j]
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
            s = 0.0
            for j in range(t - window + 1, t + 1):
                s += x[j]
            mean = s / window
            m2 = 0.0
            for j in range(t - window + 1, t + 1):
                dev = x[j] - mean
                m2 += dev * dev
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
    """
    v = seed
    one_minus = 1.0 - lam
    for t in range(x.shape[0]):
        v = lam * v + one_minus * x[t]
        out[t] = v


rolling_mean_nb = jit(rolling_mean_py)
rolling_var_nb = jit(rolling_var_py)
ewma_nb = jit(ewma_py)
