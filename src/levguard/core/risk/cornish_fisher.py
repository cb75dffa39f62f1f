"""The Cornish-Fisher quantile function of a standardised loss, rearranged where it is not monotone.

The expansion ``w(z) = c0 + c1 z + c2 z^2 + c3 z^3`` of :func:`cf_coefficients` maps a normal
quantile ``z = Phi^{-1}(u)`` to the quantile of a skewed, fat-tailed standardised loss.  Inside
its domain of validity ``w`` increases and ``u -> w(Phi^{-1}(u))`` is a quantile function; outside
it the curve crosses itself, the "VaR" at a high level can fall below the VaR at a lower one and
the "ES" below the VaR.  :func:`cf_rearranged_var_es` then reads VaR and ES from the monotone
rearrangement of that curve, which is a quantile function again.
:func:`levguard.core.risk.var.cornish_fisher_var` is the public entry point.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

from levguard.typing import Float64Array

__all__ = ["cf_coefficients", "cf_in_range", "cf_is_monotone", "cf_rearranged_var_es"]

_Z_MAX = 40.0  # the normal mass beyond |z| = 40 is 0 in float64 (Phi(-38.5) is below 1e-323)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def cf_coefficients(
    skew: npt.ArrayLike, excess_kurtosis: npt.ArrayLike
) -> tuple[Float64Array, Float64Array, Float64Array, Float64Array]:
    """Return ``(c0, c1, c2, c3)`` of the Cornish-Fisher quantile ``w(z) = c0 + c1 z + c2 z^2 + c3 z^3``.

    Parameters
    ----------
    skew, excess_kurtosis : float or array_like
        Skewness ``S`` and excess kurtosis ``K`` of the standardised variable (broadcast).

    Returns
    -------
    tuple of ndarray
        ``c0 = -S/6``, ``c1 = 1 - K/8 + 5 S^2/36``, ``c2 = S/6``, ``c3 = K/24 - S^2/18``.

    Notes
    -----
    Cornish & Fisher (1938); Zangari (1996, RiskMetrics Monitor Q4):
    ``w(z) = z + (z^2 - 1) S/6 + (z^3 - 3z) K/24 - (2z^3 - 5z) S^2/36``, collected in powers of z.
    """
    s = np.asarray(skew, dtype=np.float64)
    k = np.asarray(excess_kurtosis, dtype=np.float64)
    return -s / 6.0, 1.0 - k / 8.0 + 5.0 * s * s / 36.0, s / 6.0, k / 24.0 - s * s / 18.0


def cf_is_monotone(c1: float, c2: float, c3: float) -> bool:
    """Return True when ``w'(z) = c1 + 2 c2 z + 3 c3 z^2`` is > 0 for every z.

    Notes
    -----
    A positive quadratic without a real root: ``c3 > 0`` and ``(2 c2)^2 < 12 c1 c3`` (or a line of
    positive slope).  In S and K: ``K/8 > S^2/6`` and ``S^2/9 < 4 (K/8 - S^2/6)(1 - K/8 + 5 S^2/36)``,
    the domain of validity of the expansion studied by Maillard (2012, "A user's guide to the
    Cornish Fisher expansion", SSRN 1997178).
    """
    return (c3 > 0.0 and 4.0 * c2 * c2 < 12.0 * c1 * c3) or (c3 == 0.0 and c2 == 0.0 and c1 > 0.0)


def cf_in_range(c: tuple[float, float, float, float]) -> bool:
    """True when the coefficients ``(c0, c1, c2, c3)`` and ``w(z)`` at ``|z| = 40`` (the range the
    tail integrals cover) are finite: a skew of 1e160 is finite, ``S^2`` is not, and the root
    finder of :func:`cf_rearranged_var_es` stopped on a NaN."""
    return all(math.isfinite(x) for x in (*c, _w(c, -_Z_MAX), _w(c, _Z_MAX)))


def _w(c: tuple[float, float, float, float], z: float) -> float:
    return c[0] + z * (c[1] + z * (c[2] + z * c[3]))


def _pieces(c: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    # [-Z_MAX, Z_MAX] cut at the real roots of w'(z) = c1 + 2 c2 z + 3 c3 z^2: (a, b, w(a), w(b))
    # of every piece, on each of which w is monotone.
    _, c1, c2, c3 = c
    roots: list[float] = []
    if c3 != 0.0:
        disc = c2 * c2 - 3.0 * c1 * c3
        if disc > 0.0:
            q = -(c2 + math.copysign(math.sqrt(disc), c2))  # no cancellation (Numerical Recipes 5.6)
            roots = [q / (3.0 * c3), c1 / q]  # q != 0: |q| >= sqrt(disc) > 0
    elif c2 != 0.0:
        roots = [-c1 / (2.0 * c2)]
    cuts = [-_Z_MAX, *sorted(r for r in roots if -_Z_MAX < r < _Z_MAX), _Z_MAX]
    return [(a, b, _w(c, a), _w(c, b)) for a, b in itertools.pairwise(cuts)]


def _normal_moments(a: float, b: float) -> tuple[float, float, float, float]:
    # int_a^b t^k phi(t) dt for k = 0..3 (a < b): the mass from the nearer tail keeps a far tail's
    # relative precision; int t phi = -phi, int t^2 phi = -t phi + Phi, int t^3 phi = -(t^2 + 2) phi.
    pa = _INV_SQRT_2PI * math.exp(-0.5 * a * a)
    pb = _INV_SQRT_2PI * math.exp(-0.5 * b * b)
    if a >= 0.0:
        m0 = float(ndtr(-a) - ndtr(-b))
    elif b <= 0.0:
        m0 = float(ndtr(b) - ndtr(a))
    else:
        m0 = float(1.0 - ndtr(a) - ndtr(-b))
    return m0, pa - pb, a * pa - b * pb + m0, (a * a + 2.0) * pa - (b * b + 2.0) * pb


def _tail(
    c: tuple[float, float, float, float], pieces: list[tuple[float, float, float, float]], y: float
) -> tuple[float, float]:
    # (P(w(Z) > y), E[(w(Z) - y)^+]) for Z standard normal: on each monotone piece {w > y} is one
    # interval, ended where w crosses y.
    from scipy.optimize import brentq  # on first use, as in levguard.core.risk.first_passage

    prob = excess = 0.0
    for a, b, wa, wb in pieces:
        if wa <= y and wb <= y:
            continue
        lo, hi = a, b
        if not (wa > y and wb > y):
            r = float(brentq(lambda z: _w(c, z) - y, a, b, xtol=1e-15, rtol=1e-15))
            lo, hi = (r, b) if wb > y else (a, r)
        if hi <= lo:
            continue
        m0, m1, m2, m3 = _normal_moments(lo, hi)
        prob += m0
        excess += (c[0] - y) * m0 + c[1] * m1 + c[2] * m2 + c[3] * m3
    return prob, max(excess, 0.0)


def cf_rearranged_var_es(c: tuple[float, float, float, float], level: float) -> tuple[float, float]:
    """Return the VaR and ES at ``level`` of the rearranged Cornish-Fisher quantile function.

    Parameters
    ----------
    c : tuple of 4 floats
        ``(c0, c1, c2, c3)`` of :func:`cf_coefficients`.
    level : float
        Confidence in (0.5, 1) (validated by the caller).

    Returns
    -------
    (float, float)
        ``(VaR, ES)`` of the standardised loss, ``ES >= VaR``.

    Notes
    -----
    Chernozhukov, Fernández-Val & Galichon (2010, "Quantile and probability curves without
    crossing", Econometrica 78(3)): sorting the values of a curve ``u -> Q(u)`` over ``u`` in
    ``(0, 1)`` gives a monotone curve ``Q*``, the quantile function of ``Q(U)`` for ``U`` uniform,
    which is never farther from a true quantile function than ``Q`` is.  For ``Q(u) =
    w(Phi^{-1}(u))``, ``Q(U)`` is ``w(Z)`` with ``Z`` standard normal, so the sort over an infinitely
    fine grid is computed exactly: ``VaR = Q*(level)`` solves ``P(w(Z) > VaR) = 1 - level`` and

    ``ES = 1/(1 - level) int_level^1 Q*(u) du = VaR + E[(w(Z) - VaR)^+] / (1 - level)``,

    with ``{z : w(z) > y}`` a union of at most three intervals (``w`` is monotone between the
    roots of ``w'``) and ``int t^k phi(t) dt`` in closed form on each.  Where ``w`` is increasing,
    ``Q* = Q`` and this is the closed form of :func:`levguard.core.risk.var.cornish_fisher_var`.
    """
    from scipy.optimize import brentq

    pieces = _pieces(c)
    p = 1.0 - level
    # The VaR lies between the least and the greatest w(z) over |z| <= L with 2 Phi(-L) = p/2:
    # beyond them only |Z| > L, of mass p/2 < p <= 1 - p, is left.
    big = float(-ndtri(0.25 * p))
    zs = [-big, big, *(b for _, b, _, _ in pieces[:-1] if -big < b < big)]
    values = [_w(c, z) for z in zs]
    lo, hi = min(values), max(values)
    var = float(brentq(lambda y: _tail(c, pieces, y)[0] - p, lo, hi, xtol=1e-14, rtol=1e-15, maxiter=500))
    _, excess = _tail(c, pieces, var)
    return var, var + excess / p
