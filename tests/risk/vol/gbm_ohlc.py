"""Simulated GBM OHLC bars for the volatility-estimator tests.

Each bar is a geometric Brownian motion observed on a grid of ``m`` sub-steps.  Two ways to get
the bar's high and low:

* ``bridge=False``: the extremes of the grid prices (discrete monitoring, as an exchange's
  trade prints are; biased low by about ``0.5826 sigma sqrt(1/m)`` each, Broadie, Glasserman &
  Kou 1997);
* ``bridge=True``: the extremes of the continuous path, drawn exactly per sub-step from the
  Brownian-bridge maximum/minimum given its two grid ends, ``(a + b + sqrt((b - a)^2 - 2 s^2
  ln U)) / 2`` (inverting the bridge's crossing probability ``exp(-2 (y - a)(y - b) / s^2)``,
  e.g. Glasserman 2004, *Monte Carlo Methods in Financial Engineering*).  The sub-step maximum
  and minimum are drawn independently, which ignores their dependence only when both fall in
  the same sub-step (negligible for ``m = 64``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SIGMA = 0.01
"""Volatility per bar of every simulation (1% per bar)."""

N_BARS = 20_000


class Bars(NamedTuple):
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    prev_close: float
    sigma: float
    gap_sd: float
    m: int


def simulate_gbm_ohlc(
    n: int,
    m: int,
    *,
    sigma: float = SIGMA,
    drift: float = 0.0,
    gap_sd: float = 0.0,
    bridge: bool = False,
    seed: int = 0,
    chunk: int = 2_000,
) -> Bars:
    """Simulate ``n`` bars of ``m`` sub-steps.

    ``drift`` is the drift of the log price per bar; ``gap_sd`` the standard deviation of a
    normal opening jump ``ln O_i - ln C_{i-1}`` (0: a 24/7 market, open = previous close).
    """
    rng = np.random.default_rng(seed)
    s = sigma / np.sqrt(m)
    u_all = np.empty(n)
    d_all = np.empty(n)
    c_all = np.empty(n)
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        steps = rng.standard_normal((k, m)) * s + drift / m
        path = np.cumsum(steps, axis=1)
        grid = np.concatenate((np.zeros((k, 1)), path), axis=1)
        if bridge:
            a, b = grid[:, :-1], grid[:, 1:]
            jump2 = (b - a) ** 2
            hi = 0.5 * (a + b + np.sqrt(jump2 - 2.0 * s * s * np.log(rng.random((k, m)))))
            lo = 0.5 * (a + b - np.sqrt(jump2 - 2.0 * s * s * np.log(rng.random((k, m)))))
            u_all[start : start + k] = hi.max(axis=1)
            d_all[start : start + k] = lo.min(axis=1)
        else:
            u_all[start : start + k] = grid.max(axis=1)
            d_all[start : start + k] = grid.min(axis=1)
        c_all[start : start + k] = path[:, -1]
    gaps = rng.standard_normal(n) * gap_sd if gap_sd > 0.0 else np.zeros(n)
    ln_prev = np.log(100.0)
    ln_open = ln_prev + np.cumsum(gaps + np.concatenate(([0.0], c_all[:-1])))
    return Bars(
        open=np.exp(ln_open),
        high=np.exp(ln_open + u_all),
        low=np.exp(ln_open + d_all),
        close=np.exp(ln_open + c_all),
        prev_close=100.0,
        sigma=sigma,
        gap_sd=gap_sd,
        m=m,
    )
