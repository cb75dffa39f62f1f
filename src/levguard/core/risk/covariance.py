"""Covariance of assets' log moves for joint stress: an EWMA of returns or vols and correlations.

Used by :mod:`levguard.core.risk.joint_stress` (reverse stress) and the risk report's joint
section (:mod:`levguard.risk.joint`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from levguard.core.validate import array_1d, require_finite, show
from levguard.errors import InputError
from levguard.typing import Float64Array2D

__all__ = ["checked_covariance", "covariance_from_returns", "covariance_from_vols"]


def checked_covariance(cov: npt.ArrayLike, k: int, field_name: str = "cov") -> Float64Array2D:
    """Return ``cov`` as a (k, k) float64 covariance (symmetric, finite, positive definite).

    Notes
    -----
    Positive definite to working precision: the smallest eigenvalue above ``1e-12`` of the
    largest.  A Cholesky factorisation alone passes an exactly singular matrix such as
    ``[[a, a], [a, a]]`` (two assets given one history) through rounding, and the Mahalanobis
    norms of the reverse stress then divide by zero.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"the number of assets must be an integer >= 1, was {k!r}")
    try:
        if any(isinstance(x, bool | np.bool_) for x in np.asarray(cov, dtype=object).ravel()):
            raise TypeError  # [[True]] read as a variance of 1
        c = np.asarray(cov, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{field_name} must be a ({k}, {k}) matrix of numbers, was {show(cov)}") from None
    if c.shape != (k, k):
        raise InputError(f"{field_name} must be a ({k}, {k}) matrix for {k} assets, was shape {c.shape}")
    if not np.isfinite(c).all():
        i, j = np.argwhere(~np.isfinite(c))[0]
        raise InputError(f"{field_name}[{i}][{j}] must be finite, was {float(c[i, j])!r}")
    if not np.allclose(c, c.T, rtol=1e-10, atol=0.0):
        raise InputError(f"{field_name} must be symmetric, was {c.tolist()!r}")
    w = np.linalg.eigvalsh(c)
    if not w[0] > 1e-12 * max(float(w[-1]), 0.0) or w[-1] <= 0.0:
        raise InputError(
            f"{field_name} must be positive definite (no asset constant, none moving exactly with another: one "
            f"history given twice?), was {c.tolist()!r}"
        )
    return c


def covariance_from_returns(returns: npt.ArrayLike, *, lam: float = 0.94, horizon_bars: float = 1.0) -> Float64Array2D:
    """EWMA covariance of log returns, scaled to a horizon.

    Parameters
    ----------
    returns : (T, K) array_like
        Log returns per bar of the K assets, aligned in time, finite, ``T >= 2``.
    lam : float
        RiskMetrics decay in ``(0, 1)`` (0.94 for daily bars).
    horizon_bars : float
        Horizon of the shock in bars (> 0): the per-bar covariance times this.

    Returns
    -------
    (K, K) float64
        Positive definite covariance of the horizon's log moves.

    Notes
    -----
    ``Sigma_h = h * sum_t w_t r_t r_t^T`` with ``w_t`` proportional to ``(1 - lam) lam^(T-1-t)``
    (:func:`levguard.core.sizing.portfolio.ewma_covariance`, J.P. Morgan/Reuters 1996,
    RiskMetrics Technical Document) and the square-root-of-time rule for a horizon of ``h`` bars.
    """
    from levguard.core.sizing.portfolio import ewma_covariance

    try:
        r = np.asarray(returns, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"returns must be a (T, K) array of numbers, was {show(returns)}") from None
    if r.ndim != 2 or r.shape[0] < 2 or r.shape[1] < 1:
        raise InputError(f"returns must be a (T, K) array with T >= 2, was shape {r.shape}")
    if not np.isfinite(r).all():
        t, j = np.argwhere(~np.isfinite(r))[0]
        raise InputError(f"returns[{t}][{j}] must be finite, was {float(r[t, j])!r}")
    if not (isinstance(lam, int | float) and 0.0 < lam < 1.0):
        raise InputError(f"lam must be in (0, 1), was {lam!r}")
    if not (isinstance(horizon_bars, int | float) and math.isfinite(horizon_bars) and horizon_bars > 0.0):
        raise InputError(f"horizon_bars must be > 0, was {horizon_bars!r}")
    return checked_covariance(
        ewma_covariance(r, float(lam)) * float(horizon_bars), r.shape[1], "EWMA covariance of returns"
    )


def covariance_from_vols(vols: npt.ArrayLike, correlation: npt.ArrayLike, *, horizon_years: float) -> Float64Array2D:
    """Covariance of log moves over ``horizon_years`` from annualised vols and a correlation matrix.

    Notes
    -----
    ``Sigma_ij = rho_ij sigma_i sigma_j T`` (square-root-of-time; a year of 365 days).
    """
    v = array_1d(vols, "vols")
    require_finite(v, "vols")
    if v.shape[0] == 0 or (v <= 0.0).any():
        raise InputError(f"vols must be annualised fractions > 0, was {v.tolist()!r}")
    rho = checked_covariance(correlation, v.shape[0], "correlation")
    if not np.allclose(np.diag(rho), 1.0):
        raise InputError(f"correlation must have a unit diagonal, was {rho.tolist()!r}")
    if not (isinstance(horizon_years, int | float) and math.isfinite(horizon_years) and horizon_years > 0.0):
        raise InputError(f"horizon_years must be > 0, was {horizon_years!r}")
    return rho * np.outer(v, v) * float(horizon_years)
