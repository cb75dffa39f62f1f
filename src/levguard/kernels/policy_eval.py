"""Policy-evaluation kernels: the equity of a leveraged position rebalanced every bar.

Each kernel is written once in plain Python (``foo_py``) and compiled through the shim
(``foo_nb = jit(foo_py)``, batched kernels with ``jit_parallel`` and ``prange`` over parameter
sets).  Inputs are validated by the caller (:mod:`levguard.backtest.calibrate`); there are no
exceptions inside loops.

Semantics shared by every kernel (bars ``t`` of a window ``[start, stop)``, ``start >= 1``):

* ``simple[t] = exp(logret_t) - 1`` is the simple return of bar ``t``; ``lev[t]`` the target
  leverage decided at the close of bar ``t`` (data up to ``t``), held over bar ``t + 1``.  NaN or
  negative leverage counts as 0 (flat).
* The window starts flat with equity 1 at the close of bar ``start - 1`` and enters
  ``lev[start - 1]`` there.  For every bar::

      g_t = L_{t-1} s r_t - fee * |L_{t-1} - l_{t-1}| - s f_t L_{t-1}
      E_t = E_{t-1} (1 + g_t)
      l_t = L_{t-1} (1 + r_t) / (1 + g_t)            (leverage drifted by the bar, pre-rebalance)

  with side ``s = +1`` (long) or ``-1`` (short), per-bar funding rate ``f_t`` (positive: longs
  pay) and ``l_{start-1} = 0``.  With fees the loop runs in cash units (the same recursion
  without a division on the loop-carried chain), with the drifted notional ``N_t = l_t E_t``::

      E_t = E_{t-1} (1 + L_{t-1} s r_t - s f_t L_{t-1}) - fee |L_{t-1} E_{t-1} - N_{t-1}|
      N_t = L_{t-1} E_{t-1} (1 + r_t)

  The drifted notional is ``|q| P_t``: it follows the price whatever the side, so a short's
  grows when the price rises (``1 + r_t``, not ``1 + s r_t``, which undercharged a short's
  rebalancing: a 1x short after a 10 % rise paid the fee on 1 % of its equity instead of the
  21 % it buys back, as the event-driven backtester fills it).

* Liquidation (approximation until the event-driven backtester): bar ``t`` liquidates when
  ``1 + g_t <= mmr * L_{t-1} (1 + r_t)`` (equity after the bar's close-to-close move at or below
  the maintenance margin on the notional at the close, ``|q| P_t``, as venues valuing it at the
  mark do; with ``mmr = 0`` this is ruin, ``E <= 0``).  On the entry notional it liquidated a
  short too late and a long too early (10x, mmr 0.4 %: a short after +9.58 % survived at an
  equity of 0.042 against a margin of 0.0438).  The equity is then set to 0 (the account is
  lost) and the rest of the window is flat.

Statistics written per evaluated path (row of ``stats``, see the ``S_*`` indices): final equity,
``sum g``, ``M2 = sum (g - mean(g))^2`` over the window's bars (the flat bars after a liquidation
count as ``g = 0``), maximum drawdown ``max_t (1 - E_t / max_{u<=t} E_u)``, the liquidation bar
(``-1`` if none) and the number of bars.

``M2`` is accumulated by Welford's update ``mean_k = mean_{k-1} + (g_k - mean_{k-1}) / k``,
``M2 += (g_k - mean_{k-1}) (g_k - mean_k)`` (Welford 1962, "Note on a method for calculating
corrected sums of squares and products", Technometrics 4(3)), the increment multiplied by
``1 / k`` (no division on a loop-carried chain; equal returns leave the mean exact and M2 0), and
the flat tail is merged by Chan, Golub & LeVeque's pairwise rule
``M2 = M2_a + mean_a^2 n_a n_b / (n_a + n_b)`` for a part ``b`` of zeros (Chan, Golub & LeVeque
1983, "Algorithms for computing the sample variance: analysis and recommendations", The American
Statistician 37(3)).  ``sum g^2 - n mean^2`` cancelled: 5,000 equal returns of 0.1 % left a
variance of rounding noise and a Sharpe ratio of 3.6e8 instead of NaN (zero deviation).
"""

from __future__ import annotations

import math

from levguard.kernels._jit import jit, jit_parallel, jitable, prange
from levguard.typing import Float64Array1D, Float64Array2D, Int64Array1D

__all__ = [
    "N_STATS",
    "S_FINAL",
    "S_LIQ",
    "S_M2",
    "S_MAXDD",
    "S_N",
    "S_SUM",
    "equity_path_nb",
    "equity_path_py",
    "eval_batch_nb",
    "eval_batch_py",
    "eval_window_nb",
    "eval_window_py",
    "vol_target_batch_nb",
    "vol_target_batch_py",
]

S_FINAL = 0
S_SUM = 1
S_M2 = 2
S_MAXDD = 3
S_LIQ = 4
S_N = 5
N_STATS = 6


@jitable
def _clean(lev: float) -> float:
    # NaN or non-positive target leverage means flat (failure is a value).
    if lev > 0.0:
        return lev
    return 0.0


@jitable
def _capped(x: float, cap: float) -> float:
    # min(x, cap) that keeps NaN (then _clean makes it 0) identically in Python and numba.
    if x > cap:
        return cap
    return x


@jitable
def _window(
    lev: Float64Array1D,
    scale: float,
    cap: float,
    simple: Float64Array1D,
    funding: Float64Array1D,
    has_funding: bool,
    fee_rate: float,
    mmr: float,
    side: float,
    start: int,
    stop: int,
    equity_out: Float64Array1D,
    write_equity: bool,
    stats: Float64Array1D,
) -> None:
    # The shared loop of every kernel (see the module docstring).  The leverage decided at bar t
    # is min(scale * lev[t], cap), NaN or negative meaning flat: scale 1 and cap inf hold lev[t]
    # itself (exactly), a volatility target passes its target, 1 / sigma_hat and its cap.
    e = 1.0
    peak = 1.0
    maxdd = 0.0
    s1 = 0.0
    m2 = 0.0
    mean = 0.0
    k = 0
    liq = -1.0
    notional = 0.0
    prev = _clean(_capped(scale * lev[start - 1], cap))
    t = start
    while t < stop:
        sr = side * simple[t]
        gross = prev * sr
        if has_funding:
            gross -= side * funding[t] * prev
        if fee_rate > 0.0:
            # In cash units (equity E, drifted notional N): no division on the loop-carried chain.
            e_new = e * (1.0 + gross) - fee_rate * abs(prev * e - notional)
            g = e_new / e - 1.0
            # |q| P_t: the position's notional follows the price, long or short.
            notional = prev * e * (1.0 + simple[t])
        else:
            g = gross
            e_new = e * (1.0 + g)
        # Maintenance on the notional at the close, |q| P_t = L E (1 + r_t), long or short.
        liquidated = 1.0 + g <= mmr * prev * (1.0 + simple[t])
        if liquidated:
            g = -1.0
        # Welford's update (module docstring); 1 / k is off the loop-carried chains.
        s1 += g
        k += 1
        dev = g - mean
        mean += dev * (1.0 / k)
        m2 += dev * (g - mean)
        if liquidated:
            # The account is lost, flat afterwards.
            e = 0.0
            maxdd = 1.0
            liq = float(t)
            if write_equity:
                for u in range(t, stop):
                    equity_out[u] = 0.0
            break
        e = e_new
        if e > peak:
            peak = e
        elif peak - e > maxdd * peak:
            maxdd = 1.0 - e / peak
        if write_equity:
            equity_out[t] = e
        prev = _clean(_capped(scale * lev[t], cap))
        t += 1
    n = stop - start
    if k < n:  # the flat bars after a liquidation: n - k returns of 0 (Chan, Golub & LeVeque)
        m2 += mean * mean * (k * (n - k) / n)
    stats[0] = e
    stats[1] = s1
    stats[2] = m2
    stats[3] = maxdd
    stats[4] = liq
    stats[5] = float(stop - start)


def equity_path_py(
    lev: Float64Array1D,
    simple: Float64Array1D,
    funding: Float64Array1D,
    has_funding: bool,
    fee_rate: float,
    mmr: float,
    side: float,
    start: int,
    stop: int,
    equity_out: Float64Array1D,
    stats: Float64Array1D,
) -> None:
    """Equity curve and statistics of one leverage path over bars ``[start, stop)``.

    Parameters
    ----------
    lev : (T,) float64
        Target leverage decided at each bar's close.
    simple : (T,) float64
        Simple returns ``exp(logret) - 1``.
    funding : (T,) float64
        Funding rate charged over each bar (ignored unless ``has_funding``).
    has_funding : bool
        Whether to charge ``funding``.
    fee_rate : float
        Fee per unit of traded notional (fraction of notional), >= 0.
    mmr : float
        Maintenance margin rate for the liquidation test (0: ruin only).
    side : float
        ``+1`` long, ``-1`` short.
    start, stop : int
        Window ``[start, stop)`` with ``1 <= start < stop <= T``.
    equity_out : (T,) float64
        Equity ``E_t`` written for ``t`` in the window (``E_{start-1} = 1``).
    stats : (N_STATS,) float64
        Statistics (see the module docstring), written in place.

    Notes
    -----
    ``E_t = E_{t-1}(1 + g_t)``, ``g_t = L_{t-1} s r_t - fee |L_{t-1} - l_{t-1}| - s f_t L_{t-1}``,
    ``l_t = L_{t-1} (1 + r_t) / (1 + g_t)`` (the notional ``|q| P`` follows the price on both sides).
    """
    _window(lev, 1.0, math.inf, simple, funding, has_funding, fee_rate, mmr, side, start, stop, equity_out, True, stats)


def eval_window_py(
    lev: Float64Array1D,
    simple: Float64Array1D,
    funding: Float64Array1D,
    has_funding: bool,
    fee_rate: float,
    mmr: float,
    side: float,
    start: int,
    stop: int,
    stats: Float64Array1D,
) -> None:
    """Statistics only (no equity curve) of one leverage path over ``[start, stop)``.

    Parameters are those of :func:`equity_path_py` without ``equity_out``.
    """
    _window(lev, 1.0, math.inf, simple, funding, has_funding, fee_rate, mmr, side, start, stop, simple, False, stats)


def eval_batch_py(
    levs: Float64Array2D,
    simple: Float64Array1D,
    funding: Float64Array1D,
    has_funding: bool,
    fee_rate: float,
    mmr: float,
    side: float,
    starts: Int64Array1D,
    stops: Int64Array1D,
    stats: Float64Array2D,
) -> None:
    """Statistics of many leverage paths (rows of ``levs``) over many windows, in parallel.

    Parameters
    ----------
    levs : (P, T) float64
        One leverage path per parameter set.
    simple, funding, has_funding, fee_rate, mmr, side
        As in :func:`equity_path_py`.
    starts, stops : (W,) int64
        Windows ``[starts[w], stops[w])``.
    stats : (P * W, N_STATS) float64
        Row ``p * W + w`` receives path ``p`` on window ``w``.

    Notes
    -----
    ``prange`` runs over the ``P * W`` (path, window) pairs; each writes its own row, so the result
    does not depend on the thread count.
    """
    n_w = starts.shape[0]
    n_jobs = levs.shape[0] * n_w
    for j in prange(n_jobs):
        p = j // n_w
        w = j - p * n_w
        _window(
            levs[p],
            1.0,
            math.inf,
            simple,
            funding,
            has_funding,
            fee_rate,
            mmr,
            side,
            starts[w],
            stops[w],
            simple,
            False,
            stats[j],
        )


def vol_target_batch_py(
    simple: Float64Array1D,
    inv_vol: Float64Array2D,
    vol_index: Int64Array1D,
    targets: Float64Array1D,
    caps: Float64Array1D,
    fee_rate: float,
    mmr: float,
    start: int,
    stop: int,
    stats: Float64Array2D,
) -> None:
    """Evaluate volatility-target leverage paths computed on the fly (no ``(P, T)`` matrix).

    Parameters
    ----------
    simple : (T,) float64
        Simple returns.
    inv_vol : (K, T) float64
        ``1 / sigma_hat_t`` for ``K`` volatility forecasts (e.g. EWMA with ``K`` lambdas); NaN
        before the forecast exists.
    vol_index : (P,) int64
        Row of ``inv_vol`` used by parameter set ``p``.
    targets, caps : (P,) float64
        Target volatility and maximum leverage of each parameter set.
    fee_rate, mmr : float
        As in :func:`equity_path_py` (long only, no funding).
    start, stop : int
        Window, ``1 <= start < stop <= T``.
    stats : (P, N_STATS) float64
        Statistics per parameter set.

    Notes
    -----
    ``L_t = min(target * inv_vol_t, cap)`` (NaN gives 0), then the loop of :func:`equity_path_py`.
    Memory is ``O(K T + P)`` instead of ``O(P T)``.  ``prange`` over parameter sets.
    """
    n_p = targets.shape[0]
    for p in prange(n_p):
        _window(
            inv_vol[vol_index[p]],
            targets[p],
            caps[p],
            simple,
            simple,
            False,
            fee_rate,
            mmr,
            1.0,
            start,
            stop,
            simple,
            False,
            stats[p],
        )


equity_path_nb = jit(equity_path_py)
eval_window_nb = jit(eval_window_py)
eval_batch_nb = jit_parallel(eval_batch_py)
vol_target_batch_nb = jit_parallel(vol_target_batch_py)
