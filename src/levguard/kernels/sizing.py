"""Sizing kernels: forecast paths, policy leverage paths and the sequential rebalancer.

Each kernel is written once in plain Python (``foo_py``) and compiled through the shim
(``foo_nb = jit(foo_py)``); :mod:`levguard.core.sizing.policies` validates parameters and calls
the compiled twin for both its scalar ``decide`` and its vectorized ``leverage_path`` so the two
cannot drift apart.

Conventions shared by every kernel here:

* ``out`` has the length of the input; ``out[t]`` uses inputs at indices ``<= t`` only (no
  look-ahead).
* Failure is a value: a missing estimate is NaN and a missing leverage is 0; no exceptions.
* Returns are per-bar log returns; volatilities and means are annualised with ``ppy`` bars per
  year (square-root-of-time for the volatility).
"""

from __future__ import annotations

import math

from levguard.kernels._jit import jit, jitable
from levguard.kernels.vol import ewma_step, garch_step, window_moments, window_sum
from levguard.typing import Float64Array1D


def ewma_vol_path_py(returns: Float64Array1D, lam: float, min_periods: int, ppy: float, out: Float64Array1D) -> None:
    """Fill ``out[t]`` with the annualised RiskMetrics EWMA volatility using returns up to ``t``.

    Parameters
    ----------
    returns : (N,) float64
        Per-bar log returns; non-finite values are skipped (treated as missing).
    lam : float
        Decay in ``(0, 1)``.
    min_periods : int
        Finite returns needed before a forecast is given (NaN before).
    ppy : float
        Bars per year.
    out : (N,) float64
        Output, written in place.

    Notes
    -----
    ``v_t = lam v_{t-1} + (1 - lam) r_t^2`` seeded with the first finite ``r^2`` (as
    :func:`levguard.core.risk.volatility.ewma_variance`); ``out[t] = sqrt(v_t ppy)``.  The update
    is the one recursion :func:`levguard.kernels.vol.garch_step` (``omega = 0``, ``r_t`` the raw
    innovation).
    """
    v = math.nan
    count = 0
    for t in range(returns.shape[0]):
        r = returns[t]
        if math.isfinite(r):
            v = r * r if count == 0 else garch_step(v, 1.0, r, 0.0, 1.0 - lam, lam)
            count += 1
        out[t] = math.sqrt(v * ppy) if count >= min_periods and count > 0 else math.nan


def ewma_mean_path_py(returns: Float64Array1D, lam: float, min_periods: int, ppy: float, out: Float64Array1D) -> None:
    """Fill ``out[t]`` with the annualised EWMA mean of the log returns up to ``t``.

    Notes
    -----
    ``m_t = lam m_{t-1} + (1 - lam) r_t`` (:func:`levguard.kernels.vol.ewma_step`) seeded with the
    first finite return;
    ``out[t] = m_t ppy`` (NaN before ``min_periods`` finite returns).
    """
    m = math.nan
    count = 0
    for t in range(returns.shape[0]):
        r = returns[t]
        if math.isfinite(r):
            m = r if count == 0 else ewma_step(m, r, lam)
            count += 1
        out[t] = m * ppy if count >= min_periods and count > 0 else math.nan


def rolling_std_path_py(returns: Float64Array1D, window: int, ppy: float, out: Float64Array1D) -> None:
    """Fill ``out[t]`` with the annualised sample std (ddof 1) of ``returns[t-window+1 .. t]``.

    NaN while ``t < window - 1`` or when the window holds a non-finite return.  Two passes per
    window (``O(N window)``): exact, and a NaN only affects the windows containing it.

    Notes
    -----
    Close-to-close estimator ``var = sum((r_i - mean r)^2) / (n - 1)``, annualised
    ``sqrt(var ppy)``.
    """
    n = returns.shape[0]
    for t in range(n):
        if t < window - 1:
            out[t] = math.nan
            continue
        m2 = window_moments(returns[t - window + 1 : t + 1])[1]
        out[t] = math.sqrt(m2 / (window - 1) * ppy)


def rolling_mean_path_py(returns: Float64Array1D, window: int, ppy: float, out: Float64Array1D) -> None:
    """Fill ``out[t]`` with the annualised mean ``ppy * mean(returns[t-window+1 .. t])`` (NaN in warm-up)."""
    n = returns.shape[0]
    for t in range(n):
        if t < window - 1:
            out[t] = math.nan
            continue
        out[t] = window_sum(returns[t - window + 1 : t + 1]) / window * ppy


@jitable
def vol_target_leverage(sigma: float, target: float, max_leverage: float) -> float:
    """Return ``min(max_leverage, target / sigma)``; 0 unless ``sigma`` is finite and > 0.

    Notes
    -----
    Volatility targeting, ``w_t = min(L_max, sigma_target / sigma_hat_t)`` (Harvey et al. 2018).
    """
    if not (math.isfinite(sigma) and sigma > 0.0):
        return 0.0
    # Compare before dividing so a tiny forecast cannot overflow.
    if target >= max_leverage * sigma:
        return max_leverage
    return target / sigma


def vol_target_path_py(sigma: Float64Array1D, target: float, max_leverage: float, out: Float64Array1D) -> None:
    """Fill ``out[t]`` with :func:`vol_target_leverage` of ``sigma[t]`` (annualised forecasts)."""
    for t in range(sigma.shape[0]):
        out[t] = vol_target_leverage(sigma[t], target, max_leverage)


@jitable
def kelly_leverage(mu: float, sigma: float, fraction: float, shrinkage: float, rate: float, cap: float) -> float:
    """Return ``min(cap, max(0, c ((1 - s) mu - r) / sigma^2))``; 0 when an input is missing.

    Notes
    -----
    Continuous-time fractional Kelly on a GBM (Kelly 1956; Merton 1969; Thorp 2006):
    ``f* = (mu - r) / sigma^2`` scaled by the fraction ``c``; ``mu`` is shrunk towards 0 first.
    """
    var = sigma * sigma
    if not (math.isfinite(mu) and math.isfinite(var)) or var <= 0.0:
        return 0.0
    num = fraction * ((1.0 - shrinkage) * mu - rate)
    if not num > 0.0:
        return 0.0
    # Compare before dividing so a tiny variance cannot overflow.
    if num >= cap * var:
        return cap
    return num / var


def kelly_path_py(
    mu: Float64Array1D,
    sigma: Float64Array1D,
    fraction: float,
    shrinkage: float,
    rate: float,
    max_leverage: float,
    out: Float64Array1D,
) -> None:
    """Fill ``out[t]`` with :func:`kelly_leverage` of ``mu[t]`` and ``sigma[t]`` (both annualised)."""
    for t in range(mu.shape[0]):
        out[t] = kelly_leverage(mu[t], sigma[t], fraction, shrinkage, rate, max_leverage)


@jitable
def drawdown_scale(dd: float, max_drawdown: float, convex: bool, power: float) -> float:
    """Return ``s(dd)``: ``max(0, 1 - dd / max_dd)``, raised to ``power`` when ``convex``.

    ``dd`` within a relative 1e-12 of ``max_dd`` counts as reaching it (``1 - 80/100`` is not
    exactly 0.2 in floating point).
    """
    x = 1.0 - dd / max_drawdown
    if not x > 1e-12:
        return 0.0
    return x**power if convex else x


def drawdown_path_py(
    equity: Float64Array1D, max_drawdown: float, base: float, convex: bool, power: float, out: Float64Array1D
) -> None:
    """Fill ``out[t] = base * s(dd_t)`` with ``dd_t = 1 - equity[t] / max(equity[:t+1])``.

    Non-finite or non-positive equity gives 0 (and does not move the running peak).

    Notes
    -----
    Grossman & Zhou (1993): under a drawdown constraint the optimal exposure is proportional to
    the distance to the floor, ``1 - dd / max_dd``.
    """
    peak = 0.0
    for t in range(equity.shape[0]):
        v = equity[t]
        if not (math.isfinite(v) and v > 0.0):
            out[t] = 0.0
            continue
        if v > peak:
            peak = v
        out[t] = base * drawdown_scale(1.0 - v / peak, max_drawdown, convex, power)


@jitable
def cppi_leverage(equity: float, floor: float, multiplier: float, max_leverage: float) -> float:
    """Return ``min(m (V - F), b V) / V``; 0 at or below the floor or with a missing input.

    Notes
    -----
    Black & Perold (1992): exposure ``E = min(m C, b V)`` with cushion ``C = V - F``.
    """
    if not (math.isfinite(equity) and math.isfinite(floor)) or equity <= 0.0:
        return 0.0
    cushion = equity - floor
    if not cushion > 0.0:
        return 0.0
    return min(multiplier * cushion / equity, max_leverage)


def cppi_path_py(
    equity: Float64Array1D,
    floor_fraction: float,
    multiplier: float,
    max_leverage: float,
    ratchet: bool,
    reference: float,
    out: Float64Array1D,
) -> None:
    """Fill ``out[t]`` with the CPPI leverage at ``equity[t]``.

    The floor is ``floor_fraction * reference`` (fixed), or with ``ratchet``
    ``floor_fraction * max(reference, equity[:t+1])``.  ``reference`` NaN means ``equity[0]``.
    """
    ref = reference
    for t in range(equity.shape[0]):
        v = equity[t]
        if not math.isfinite(ref) and math.isfinite(v) and v > 0.0:
            ref = v
        if ratchet and math.isfinite(v) and v > ref:
            ref = v
        out[t] = cppi_leverage(v, floor_fraction * ref, multiplier, max_leverage)


@jitable
def rebalance_step(
    current: float, target: float, equity: float, band: float, min_trade: float, max_step: float
) -> float:
    """Return the leverage held after one rebalancing decision.

    No trade when ``current`` lies in ``[target (1 - band), target (1 + band)]`` or when the
    trade notional ``|new - current| * equity`` is below ``min_trade`` (both in the quote
    currency: a coin-margined equity times the mark); otherwise move towards
    ``target`` by at most ``max_step`` leverage.
    """
    if not math.isfinite(target):
        target = 0.0
    if not math.isfinite(current):
        current = 0.0
    if target * (1.0 - band) <= current <= target * (1.0 + band):
        return current
    delta = target - current
    if delta > max_step:
        delta = max_step
    elif delta < -max_step:
        delta = -max_step
    if abs(delta) * equity < min_trade:
        return current
    return current + delta


def rebalance_path_py(
    targets: Float64Array1D,
    returns: Float64Array1D,
    initial_leverage: float,
    equity0: float,
    band: float,
    min_trade: float,
    max_step: float,
    out: Float64Array1D,
) -> None:
    """Fill ``out[t]`` with the leverage held after the decision at bar ``t``.

    Parameters
    ----------
    targets : (N,) float64
        Target leverage decided at each bar's close.
    returns : (N,) float64
        Per-bar log returns ``x_t``; bar ``t``'s return moves the leverage held from ``t - 1``.
    initial_leverage, equity0 : float
        Leverage held and equity before bar 0.
    band, min_trade, max_step : float
        The rules of :func:`rebalance_step`.
    out : (N,) float64
        Output, written in place.

    Notes
    -----
    Between decisions the position drifts with the asset: with the simple return
    ``r = exp(x) - 1``, equity becomes ``V (1 + L r)`` and exposure ``L V (1 + r)``, so
    ``L' = L (1 + r) / (1 + L r)``.  When ``1 + L r <= 0`` the account is wiped out: equity and
    leverage stay 0 from then on.  A non-finite return counts as no move.
    """
    lev = initial_leverage
    eq = equity0
    for t in range(targets.shape[0]):
        x = returns[t]
        if eq > 0.0 and math.isfinite(x):
            r = math.expm1(x)
            growth = 1.0 + lev * r
            if growth <= 0.0:
                eq = 0.0
                lev = 0.0
            else:
                lev = lev * (1.0 + r) / growth
                eq = eq * growth
        lev = rebalance_step(lev, targets[t], eq, band, min_trade, max_step) if eq > 0.0 else 0.0
        out[t] = lev


ewma_vol_path_nb = jit(ewma_vol_path_py)
ewma_mean_path_nb = jit(ewma_mean_path_py)
rolling_std_path_nb = jit(rolling_std_path_py)
rolling_mean_path_nb = jit(rolling_mean_path_py)
vol_target_path_nb = jit(vol_target_path_py)
kelly_path_nb = jit(kelly_path_py)
drawdown_path_nb = jit(drawdown_path_py)
cppi_path_nb = jit(cppi_path_py)
rebalance_path_nb = jit(rebalance_path_py)
