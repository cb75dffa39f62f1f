"""Kernels of the liquidation forecaster: a bias-corrected EWMA and forward window extremes.

Each kernel is plain Python (``*_py``) compiled through :func:`levguard.kernels._jit.jit`
(``*_nb``); tests hold the twins together.
"""

from __future__ import annotations

import math

from levguard.kernels._jit import jit, jitable
from levguard.kernels.vol import ewma_step
from levguard.typing import Float64Array1D

__all__ = [
    "ewma_mean_nb",
    "ewma_mean_py",
    "forward_max_nb",
    "forward_max_py",
    "forward_min_nb",
    "forward_min_py",
]


def ewma_mean_py(x: Float64Array1D, lam: float, out: Float64Array1D) -> None:
    """Fill ``out[t]`` with the exponentially weighted mean of ``x[0..t]``, bias-corrected.

    Parameters
    ----------
    x : (N,) float64
        Values (per-bar variance proxies); a NaN value (a missing bar) adds nothing but its
        step still ages the older values.
    lam : float
        Decay per step in ``(0, 1)`` (``0.5 ** (1 / half_life)``).
    out : (N,) float64
        Output, written in place; NaN until the first finite value.

    Notes
    -----
    ``out[t] = sum_i lam**(t-i) x_i / sum_i lam**(t-i)`` over the finite ``x_i``, ``i <= t``
    (weights by age in steps, missing steps included):
    the RiskMetrics recursion (J.P. Morgan/Reuters, *RiskMetrics Technical Document*, 4th ed.,
    1996) divided by the sum of its weights, so that it needs no seed and uses no value after
    ``t`` (the start-up correction of Kingma and Ba, *Adam*, 2015, section 3).  Numerator and
    denominator are each the one recursion :func:`levguard.kernels.vol.ewma_step`.
    """
    num = 0.0
    den = 0.0
    for t in range(x.shape[0]):
        v = x[t]
        if math.isnan(v):
            num = lam * num
            den = lam * den
        else:
            num = ewma_step(num, v, lam)
            den = ewma_step(den, 1.0, lam)
        out[t] = num / den if den > 0.0 else math.nan


@jitable
def _forward_extreme(x: Float64Array1D, window: int, sign: float, out: Float64Array1D) -> None:
    # min over forward windows of sign * x, times sign (sign = 1: min, -1: max).
    n = x.shape[0]
    w = window
    if w < 1:
        for s in range(n):
            out[s] = math.nan
        return
    prefix = sign * x
    suffix = sign * x
    for i in range(n):
        if i % w != 0 and prefix[i - 1] < prefix[i]:
            prefix[i] = prefix[i - 1]
    for i in range(n - 2, -1, -1):
        if (i + 1) % w != 0 and suffix[i + 1] < suffix[i]:
            suffix[i] = suffix[i + 1]
    for s in range(n):
        e = s + w - 1
        if e >= n:
            out[s] = math.nan
        else:
            a = suffix[s]
            b = prefix[e]
            out[s] = sign * (a if a < b else b)


def forward_min_py(x: Float64Array1D, window: int, out: Float64Array1D) -> None:
    """Fill ``out[s]`` with ``min(x[s : s + window])``; NaN where the window runs past the end.

    Parameters
    ----------
    x : (N,) float64
        Values (log lows), finite.
    window : int
        Window length in steps, ``>= 1`` (NaN everywhere otherwise).
    out : (N,) float64
        Output, written in place.

    Notes
    -----
    Van Herk (1992) / Gil and Werman (1993): split ``x`` into blocks of ``window``; a window is
    the suffix of one block and the prefix of the next, so ``min = min(suffix[s],
    prefix[s + window - 1])``.  O(N) whatever the window.
    """
    _forward_extreme(x, window, 1.0, out)


def forward_max_py(x: Float64Array1D, window: int, out: Float64Array1D) -> None:
    """Fill ``out[s]`` with ``max(x[s : s + window])``; NaN where the window runs past the end.

    Notes
    -----
    :func:`forward_min_py` on ``-x`` (van Herk 1992; Gil and Werman 1993).
    """
    _forward_extreme(x, window, -1.0, out)


ewma_mean_nb = jit(ewma_mean_py)
forward_min_nb = jit(forward_min_py)
forward_max_nb = jit(forward_max_py)
