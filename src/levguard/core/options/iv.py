"""Implied Black-76 volatility: no-arbitrage bounds first, then a bracketed, safeguarded Newton.

Two entry points share one solver:

* :func:`implied_vol_array` never raises for a price without a solution: it returns NaN there
  and a boolean mask plus a status code per element (for market-data cleaning and surfaces).
* :func:`implied_vol` raises :class:`~levguard.errors.InputError` naming the bounds when any
  element has no solution (for single quotes and user input).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from levguard.core.options.black76 import (
    FloatOrArray,
    Kind,
    Settlement,
    _as_array,
    _broadcast,
    _check_finite,
    _check_positive,
    _check_settlement,
    _undiscounted_otm,
    kind_sign,
)
from levguard.core.validate import number
from levguard.errors import InputError
from levguard.typing import Float64Array

__all__ = [
    "IV_S_MAX",
    "STATUS_ABOVE_UPPER",
    "STATUS_BELOW_INTRINSIC",
    "STATUS_NOT_FINITE",
    "STATUS_OK",
    "ImpliedVolResult",
    "implied_vol",
    "implied_vol_array",
]

STATUS_OK: int = 0
"""Solved."""
STATUS_BELOW_INTRINSIC: int = 1
"""Price below the discounted intrinsic value: no volatility reproduces it."""
STATUS_ABOVE_UPPER: int = 2
"""Price at or above the upper bound (discounted forward for calls, discounted strike for puts)."""
STATUS_NOT_FINITE: int = 3
"""Price is NaN or infinite."""

IV_S_MAX: float = 200.0
"""Largest total standard deviation ``sigma * sqrt(T)`` searched; beyond it every option price
equals its upper bound to double precision."""

_MAX_ITER: int = 300
_EPS: float = float(np.finfo(np.float64).eps)


class ImpliedVolResult(NamedTuple):
    """Implied volatilities with a per-element outcome.

    Attributes
    ----------
    vol : float or ndarray
        Implied Black volatility (fraction per sqrt(year)); NaN where ``ok`` is False.
    ok : bool or ndarray of bool
        True where a solution exists and was found.
    status : int or ndarray of int
        ``STATUS_OK`` (0), ``STATUS_BELOW_INTRINSIC`` (1), ``STATUS_ABOVE_UPPER`` (2) or
        ``STATUS_NOT_FINITE`` (3).
    lower : float or ndarray
        No-arbitrage lower bound of the price, ``D max(omega (F - K), 0)`` (divided by ``F``
        for coin settlement).
    upper : float or ndarray
        No-arbitrage upper bound (exclusive), ``D F`` for calls and ``D K`` for puts (divided by
        ``F`` for coin settlement).
    iterations : int
        Solver iterations used by the slowest element.
    """

    vol: FloatOrArray
    ok: npt.NDArray[np.bool_] | bool
    status: npt.NDArray[np.int64] | int
    lower: FloatOrArray
    upper: FloatOrArray
    iterations: int


def _solve_otm(
    c: Float64Array, F: Float64Array, K: Float64Array, w_otm: Float64Array, tol_s: Float64Array
) -> tuple[Float64Array, int]:
    # Solve otm(s) = c for s = sigma sqrt(T) > 0, elementwise, where otm is the undiscounted
    # out-of-the-money Black price (increasing in s from 0 to its upper bound) and 0 < c < bound.
    # Newton on ln(otm) below the inflection point s_c = sqrt(2|x|) (where otm is convex) and on
    # otm itself above it (where it is concave), kept inside a bracket [lo, hi] that every
    # evaluation tightens; a step that leaves the bracket or fails to halve the previous step
    # is replaced by bisection (Numerical Recipes' rtsafe), so every element terminates.
    n = c.shape[0]
    x = np.log(F / K)
    abs_x = np.abs(x)
    s_c = np.sqrt(2.0 * abs_x)

    def otm_and_vega(s: Float64Array, idx: npt.NDArray[np.intp]) -> tuple[Float64Array, Float64Array]:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            d1 = x[idx] / s + 0.5 * s
            d2 = d1 - s
            val = _undiscounted_otm(w_otm[idx], F[idx], K[idx], d1, d2)
            vega = F[idx] * np.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
        return val, vega

    all_idx = np.arange(n)
    # Upper end of the bracket: double from 1 until otm(hi) >= c.
    hi = np.ones(n)
    pending = all_idx
    while pending.size:
        val, _ = otm_and_vega(hi[pending], pending)
        short = val < c[pending]
        pending = pending[short & (hi[pending] < IV_S_MAX)]
        hi[pending] = np.minimum(2.0 * hi[pending], IV_S_MAX)
    lo = np.zeros(n)
    # Start: exact at the money (otm = F (2 N(s/2) - 1)), else the inflection point, in the bracket.
    atm = abs_x == 0.0
    from scipy.special import ndtri  # on first use: the margin engine imports this module (issue 16)

    with np.errstate(divide="ignore", invalid="ignore"):
        s_atm = 2.0 * ndtri(np.clip(0.5 * (1.0 + c / F), 0.5, 1.0))
    s = np.where(atm, s_atm, np.minimum(s_c, 0.5 * hi))
    s = np.where((s > lo) & (s < hi) & np.isfinite(s), s, 0.5 * (lo + hi))
    c_at_sc, _ = otm_and_vega(np.where(atm, 1.0, s_c), all_idx)
    log_branch = (c < c_at_sc) & ~atm
    with np.errstate(divide="ignore"):
        log_c = np.log(c)
    prev_step = hi - lo
    active = all_idx
    iterations = 0
    while active.size and iterations < _MAX_ITER:
        iterations += 1
        sa = s[active]
        val, vega = otm_and_vega(sa, active)
        f = val - c[active]
        lo[active] = np.where(f < 0.0, sa, lo[active])
        hi[active] = np.where(f > 0.0, sa, hi[active])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step_log = (np.log(val) - log_c[active]) * val / vega
            step_lin = f / vega
        step = np.where(log_branch[active], step_log, step_lin)
        s_new = sa - step
        lo_a, hi_a = lo[active], hi[active]
        tol_a = tol_s[active]
        inside = np.isfinite(s_new) & (s_new >= lo_a) & (s_new <= hi_a)
        # Newton has converged when its (in-bracket) step is below the tolerance; a step that
        # leaves the bracket or does not halve the previous one is replaced by bisection.
        converged = (f == 0.0) | (inside & (np.abs(step) <= tol_a))
        bad = ~inside | (np.abs(step) > 0.5 * prev_step[active])
        mid = 0.5 * (lo_a + hi_a)
        s_new = np.where(f == 0.0, sa, np.where(converged | ~bad, s_new, mid))
        prev_step[active] = np.where(bad, 0.5 * (hi_a - lo_a), np.abs(s_new - sa))
        s[active] = s_new
        done = converged | (hi_a - lo_a <= tol_a)
        active = active[~done]
    return s, iterations


def implied_vol_array(
    price: npt.ArrayLike,
    kind: Kind,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    settlement: Settlement = "usd",
    *,
    tol: float = 1e-10,
) -> ImpliedVolResult:
    r"""Return implied Black-76 volatilities, NaN (and ``ok=False``) where no solution exists.

    Parameters
    ----------
    price : array_like
        Option price: USD per coin for ``settlement="usd"``, coin per coin for ``"coin"``.
    kind : {"call", "put"} or array_like of +1/-1
        Option type.
    forward, strike : array_like
        Forward and strike, USD per coin, > 0.
    t_years : array_like
        Time to expiry in years, > 0 (at expiry the price carries no volatility information).
    rate : array_like, default 0.0
        Continuously compounded discount rate.
    settlement : {"usd", "coin"}, default "usd"
        Unit of ``price`` (see :func:`levguard.core.options.black76.black76`).
    tol : float, default 1e-10
        Absolute tolerance on the volatility (fraction per sqrt(year)).

    Returns
    -------
    ImpliedVolResult
        ``vol``, ``ok``, ``status``, the price bounds ``lower``/``upper`` and ``iterations``.

    Raises
    ------
    InputError
        For invalid ``forward``, ``strike``, ``t_years``, ``rate``, ``kind``, ``settlement`` or
        ``tol`` (never for a price without a solution).

    Notes
    -----
    No-arbitrage bounds (Merton 1973; for Black-76 with discount factor :math:`D = e^{-rT}`):
    :math:`D\max(\omega(F-K),0) \le V < D F` (call) or :math:`< D K` (put).  A price equal to
    the lower bound, or above it by no more than the rounding of ``V/D - intrinsic``
    (8 ulps of the larger), has implied volatility 0: such a time value carries no information
    (a deep in-the-money price whose time value is below double precision; quote the OTM
    option instead).  Prices outside the bounds have none.

    The in-the-money quote is mapped to the out-of-the-money one by put-call parity,
    :math:`V_{otm} = V/D - \max(\omega(F-K),0)`, and the total standard deviation
    :math:`s = \sigma\sqrt T` solves :math:`b(s) = V_{otm}` for the undiscounted OTM Black price
    :math:`b`, strictly increasing in :math:`s`.  The solver keeps a bracket
    :math:`[0, s_{hi}]` (``s_hi`` doubled from 1 up to :data:`IV_S_MAX`) and takes Newton steps on
    :math:`\ln b` below the inflection point :math:`s_c = \sqrt{2|\ln(F/K)|}` and on :math:`b`
    above it (the transformations Jäckel, "Let's be rational", Wilmott 2015, uses because they
    make each branch close to linear), falling back to bisection whenever a step leaves the
    bracket or does not halve the previous one (Press et al., *Numerical Recipes*, ``rtsafe``).
    It therefore cannot diverge, and stops when the step or bracket is below ``tol * sqrt(T)``.
    OTM prices are evaluated with the scaled complementary error function, so quotes down to
    about 1e-300 of the forward invert accurately.
    """
    coin = _check_settlement(settlement)
    if not (math.isfinite(number(tol, "tol")) and tol > 0.0):
        raise InputError(f"tol must be finite and > 0, was {tol!r}")
    w = kind_sign(kind)
    F = _check_positive(forward, "forward")
    K = _check_positive(strike, "strike")
    T = _check_positive(t_years, "t_years")
    r = _check_finite(rate, "rate")
    p = _as_array(price, "price")  # NaN and inf pass: their status is STATUS_NOT_FINITE
    p, w, F, K, T, r = _broadcast("price, kind, forward, strike, t_years and rate", p, w, F, K, T, r)
    shape = p.shape
    p, w, F, K, T, r = (np.ravel(a).astype(np.float64) for a in (p, w, F, K, T, r))
    df = np.exp(-r * T)
    scale = F if coin else np.ones_like(F)
    intrinsic = np.maximum(w * (F - K), 0.0)
    cap = np.where(w > 0.0, F, K)
    lower = df * intrinsic / scale
    upper = df * cap / scale
    finite = np.isfinite(p)
    und = np.where(finite, p, 0.0) * scale / df
    c = und - intrinsic
    itm = w * (F - K) > 0.0
    w_otm = np.where(itm, -w, w)
    c_max = np.where(w_otm > 0.0, F, K)
    # Rounding in und - intrinsic: a few ulps of the larger of them counts as "at the bound".
    slack = 8.0 * _EPS * np.maximum(und, intrinsic)
    status = np.full(p.shape, STATUS_OK, dtype=np.int64)
    status[c < -slack] = STATUS_BELOW_INTRINSIC
    status[c >= c_max] = STATUS_ABOVE_UPPER
    status[~finite] = STATUS_NOT_FINITE
    vol = np.full(p.shape, np.nan)
    # A time value within rounding of zero carries no volatility information: vol 0.
    at_lower = (status == STATUS_OK) & (c <= slack)
    vol[at_lower] = 0.0
    solve = np.nonzero((status == STATUS_OK) & (c > slack))[0]
    iterations = 0
    if solve.size:
        sqrt_t = np.sqrt(T[solve])
        s, iterations = _solve_otm(c[solve], F[solve], K[solve], w_otm[solve], tol * sqrt_t)
        # A price numerically at the upper bound cannot be bracketed below IV_S_MAX.
        d1 = np.log(F[solve] / K[solve]) / IV_S_MAX + 0.5 * IV_S_MAX
        top = _undiscounted_otm(w_otm[solve], F[solve], K[solve], d1, d1 - IV_S_MAX)
        unbracketed = np.asarray(top, dtype=np.float64) < c[solve]
        vol[solve] = np.where(unbracketed, np.nan, s / sqrt_t)
        status[solve[unbracketed]] = STATUS_ABOVE_UPPER
    ok = status == STATUS_OK
    if shape == ():
        return ImpliedVolResult(
            np.float64(vol[0]), bool(ok[0]), int(status[0]), np.float64(lower[0]), np.float64(upper[0]), iterations
        )
    return ImpliedVolResult(
        vol.reshape(shape),
        ok.reshape(shape),
        status.reshape(shape),
        lower.reshape(shape),
        upper.reshape(shape),
        iterations,
    )


def implied_vol(
    price: npt.ArrayLike,
    kind: Kind,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t_years: npt.ArrayLike,
    rate: npt.ArrayLike = 0.0,
    settlement: Settlement = "usd",
    *,
    tol: float = 1e-10,
) -> FloatOrArray:
    """Return the implied Black-76 volatility, raising when a price has no solution.

    Same arguments and method as :func:`implied_vol_array`; scalars in give a ``numpy.float64``.

    Raises
    ------
    InputError
        For invalid arguments, or when a price lies outside the no-arbitrage bounds
        ``[lower, upper)`` (the message gives the price, both bounds and which one is broken).
    """
    res = implied_vol_array(price, kind, forward, strike, t_years, rate, settlement, tol=tol)
    status = np.asarray(res.status)
    if not np.all(status == STATUS_OK):
        flat = np.ravel(status)
        i = int(np.argmax(flat != STATUS_OK))
        p_i = float(np.ravel(np.broadcast_to(np.asarray(price, dtype=np.float64), status.shape))[i])
        lo_i = float(np.ravel(np.asarray(res.lower))[i])
        up_i = float(np.ravel(np.asarray(res.upper))[i])
        where = "" if status.ndim == 0 else f" at index {tuple(int(j) for j in np.unravel_index(i, status.shape))}"
        unit = "coin" if settlement == "coin" else "USD"
        reason = {
            STATUS_BELOW_INTRINSIC: "is below the discounted intrinsic value (lower bound)",
            STATUS_ABOVE_UPPER: "is at or above the upper bound (discounted forward for a call, strike for a put)",
            STATUS_NOT_FINITE: "is not finite",
        }[int(flat[i])]
        raise InputError(
            f"price has no implied volatility{where}: price {p_i!r} {unit} {reason}; "
            f"a solution needs {lo_i!r} <= price < {up_i!r}"
        )
    return res.vol
