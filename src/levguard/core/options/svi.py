"""Raw SVI smiles: evaluation, calibration to quotes, and static-arbitrage checks.

A smile is the total implied variance ``w(k) = sigma_imp(k)^2 * T`` as a function of forward
log-moneyness ``k = ln(K / F)`` at one expiry ``T``.  Raw SVI (Gatheral 2004) writes it as

    w(k) = a + b * (rho * (k - m) + sqrt((k - m)^2 + sigma^2)).

Checks follow Gatheral & Jacquier (2014), "Arbitrage-free SVI volatility surfaces",
Quantitative Finance 14(1): a slice is free of butterfly arbitrage iff Durrleman's function
``g(k) >= 0`` (the risk-neutral density is non-negative) and the wings obey Lee's moment bound;
a surface is free of calendar arbitrage iff ``w(k, T)`` is non-decreasing in ``T`` for every ``k``.
Violations are reported as values, never silently passed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt

from levguard.core.options.black76 import (
    Kind,
    Settlement,
    _as_array,
    _check_finite,
    _check_positive,
    _scalar,
)
from levguard.core.options.iv import implied_vol_array
from levguard.core.validate import instance_of, number, positive_number, show
from levguard.errors import InputError
from levguard.typing import Float64Array

__all__ = [
    "DEFAULT_K_GRID",
    "LEE_SLOPE_MAX",
    "ButterflyCheck",
    "CalendarCheck",
    "CalendarViolation",
    "SVIFit",
    "SVIParams",
    "butterfly_from_g",
    "check_butterfly",
    "check_butterfly_added_variance",
    "check_calendar",
    "durrleman_g",
    "durrleman_g_numeric",
    "fit_svi",
    "fit_svi_from_prices",
]

DEFAULT_K_GRID: Float64Array = np.linspace(-3.0, 3.0, 1201)
"""Log-moneyness grid for the arbitrage checks: ``ln(K/F)`` from -3 to 3 (K/F from 0.05 to 20)."""

LEE_SLOPE_MAX: float = 2.0
"""Lee (2004) moment formula: the wing slope ``lim w(k)/|k|`` of total variance is at most 2."""

_G_TOL: float = -1e-12
_CAL_TOL: float = 1e-12


@dataclass(frozen=True)
class SVIParams:
    """Raw SVI parameters of one smile (total variance on log-moneyness).

    Attributes
    ----------
    a : float
        Level of total variance.
    b : float
        Angle between the wings (>= 0).
    rho : float
        Rotation, in (-1, 1): negative for a downward (put) skew.
    m : float
        Horizontal translation (log-moneyness of the vertex).
    sigma : float
        ATM curvature, > 0.

    Raises
    ------
    InputError
        If a parameter is not finite, ``b < 0``, ``|rho| >= 1``, ``sigma <= 0`` or
        ``a + b sigma sqrt(1 - rho^2) < 0`` (negative minimum total variance).
    """

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def __post_init__(self) -> None:
        for name in ("a", "b", "rho", "m", "sigma"):
            value = getattr(self, name)
            x = number(value, f"SVI {name}")  # not a bool, a string or an int past float64
            if not math.isfinite(x):
                raise InputError(f"SVI {name} must be a finite number, was {value!r}")
            object.__setattr__(self, name, x)
        if self.b < 0.0:
            raise InputError(f"SVI b must be >= 0, was {self.b!r}")
        if not -1.0 < self.rho < 1.0:
            raise InputError(f"SVI rho must be in (-1, 1), was {self.rho!r}")
        if self.sigma <= 0.0:
            raise InputError(f"SVI sigma must be > 0, was {self.sigma!r}")
        if self.min_variance < -1e-14:
            raise InputError(
                f"SVI minimum total variance a + b*sigma*sqrt(1-rho^2) must be >= 0, was {self.min_variance!r}"
            )

    @property
    def min_variance(self) -> float:
        """Return the minimum total variance ``a + b sigma sqrt(1 - rho^2)``."""
        return self.a + self.b * self.sigma * math.sqrt(1.0 - self.rho * self.rho)

    @property
    def wing_slopes(self) -> tuple[float, float]:
        """Return the asymptotic slopes ``(b (1 - rho), b (1 + rho))`` of ``w`` for k -> -inf, +inf."""
        return self.b * (1.0 - self.rho), self.b * (1.0 + self.rho)

    def total_variance(self, k: npt.ArrayLike) -> Float64Array:
        """Return ``w(k)`` at log-moneyness ``k`` (array of the shape of ``k``)."""
        km = _check_finite(k, "k") - self.m
        out: Float64Array = self.a + self.b * (self.rho * km + np.sqrt(km * km + self.sigma * self.sigma))
        return out

    def derivatives(self, k: npt.ArrayLike) -> tuple[Float64Array, Float64Array, Float64Array]:
        """Return ``(w, w', w'')`` at ``k`` (derivatives in ``k``)."""
        km = _check_finite(k, "k") - self.m
        root = np.sqrt(km * km + self.sigma * self.sigma)
        w = self.a + self.b * (self.rho * km + root)
        w1 = self.b * (self.rho + km / root)
        w2 = self.b * self.sigma * self.sigma / (root * root * root)
        return w, w1, w2

    def implied_vol(self, k: npt.ArrayLike, t_years: float) -> Float64Array:
        """Return the implied volatility ``sqrt(w(k) / T)`` (total variance floored at 0)."""
        t = _scalar(_check_positive(t_years, "t_years"), "t_years")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
            out: Float64Array = np.sqrt(np.maximum(self.total_variance(k), 0.0) / t)
        _refuse_overflow(out, k, t_years)
        return out

    def as_array(self) -> Float64Array:
        """Return ``[a, b, rho, m, sigma]``."""
        return np.array([self.a, self.b, self.rho, self.m, self.sigma])


def _refuse_overflow(values: Float64Array, k: npt.ArrayLike, t_years: npt.ArrayLike) -> None:
    """Raise InputError naming ``k`` and ``t_years`` where ``values`` (their broadcast) is not finite.

    A finite log-moneyness past about 1e154 squares to inf in the SVI wings, a ``t_years`` of
    1e308 scales a total variance to inf: the values are out of range, never a result.
    """
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(np.ravel(bad)))
        kk, tt = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(t_years, dtype=np.float64))
        shape = np.shape(values)
        k_i, t_i = (np.ravel(np.broadcast_to(a, shape))[i].item() for a in (kk, tt))
        raise InputError(f"k and t_years overflow float64 on the smile (out of range), were k={k_i!r}, t_years={t_i!r}")


def _g_from_derivatives(w: Float64Array, w1: Float64Array, w2: Float64Array, k: Float64Array) -> Float64Array:
    # Durrleman's condition; w <= 0 has no density interpretation and is reported as -inf.
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (1.0 - k * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2
    out: Float64Array = np.where(w > 0.0, g, -np.inf)
    return out


def durrleman_g(params: SVIParams, k: npt.ArrayLike) -> Float64Array:
    r"""Return Durrleman's function ``g(k)`` of an SVI smile (butterfly-free iff ``g >= 0``).

    Notes
    -----
    Gatheral & Jacquier (2014), Lemma 2.2 / eq. (2.1): with :math:`w = w(k)`,

    .. math::

        g(k) = \Bigl(1 - \frac{k w'}{2w}\Bigr)^2 - \frac{w'^2}{4}\Bigl(\frac1w + \frac14\Bigr)
               + \frac{w''}{2},

    and the risk-neutral density is :math:`p(k) = g(k)/\sqrt{2\pi w}\,e^{-d_2^2/2}`.  For raw
    SVI, :math:`w' = b(\rho + (k-m)/\sqrt{(k-m)^2+\sigma^2})` and
    :math:`w'' = b\sigma^2/((k-m)^2+\sigma^2)^{3/2}`.
    """
    params = instance_of(params, SVIParams, "params")
    kk = _check_finite(k, "k")
    w, w1, w2 = params.derivatives(kk)
    return _g_from_derivatives(w, w1, w2, kk)


def durrleman_g_numeric(k: npt.ArrayLike, w: npt.ArrayLike) -> Float64Array:
    """Return Durrleman's ``g`` from total variance sampled on a strictly increasing grid.

    Derivatives are second-order finite differences (``numpy.gradient``); use a fine grid.
    This checks any smile, including shocked surfaces that are no longer SVI.
    """
    kk = np.asarray(k, dtype=np.float64)
    ww = np.asarray(w, dtype=np.float64)
    if kk.ndim != 1 or kk.shape != ww.shape or kk.size < 3:
        raise InputError(f"k and w must be 1-D of equal length >= 3, shapes were {kk.shape} and {ww.shape}")
    if not np.all(np.diff(kk) > 0.0):
        raise InputError("k must be strictly increasing")
    w1 = np.gradient(ww, kk, edge_order=2)
    w2 = np.gradient(w1, kk, edge_order=2)
    return _g_from_derivatives(ww, w1, w2, kk)


@dataclass(frozen=True)
class ButterflyCheck:
    """Outcome of a butterfly-arbitrage check of one smile.

    Attributes
    ----------
    ok : bool
        True when ``g >= 0`` on the grid and the wings satisfy Lee's bound.
    min_g : float
        Smallest ``g`` on the grid.
    k_at_min : float
        Log-moneyness where ``g`` is smallest.
    violations : ndarray
        Grid points with ``g < 0``.
    wing_slope : float
        ``max(b (1 - rho), b (1 + rho)) = b (1 + |rho|)`` (SVI) or the grid's edge slope.
    lee_ok : bool
        ``wing_slope <= 2`` (Lee 2004); otherwise ``g < 0`` far in the wings, off any grid.
    """

    ok: bool
    min_g: float
    k_at_min: float
    violations: Float64Array = field(repr=False)
    wing_slope: float
    lee_ok: bool


def _grid(k_grid: npt.ArrayLike | None) -> Float64Array:
    kk = DEFAULT_K_GRID if k_grid is None else _as_array(k_grid, "k_grid")
    if kk.ndim != 1 or kk.size < 3 or not np.all(np.isfinite(kk)) or not np.all(np.diff(kk) > 0.0):
        raise InputError("k_grid must be a strictly increasing, finite 1-D array of >= 3 points")
    return kk


def butterfly_from_g(k: Float64Array, g: Float64Array, wing_slope: float) -> ButterflyCheck:
    """Summarise ``g`` on a grid and the wing slope into a :class:`ButterflyCheck`."""
    i = int(np.argmin(g))
    bad = g < _G_TOL
    lee_ok = wing_slope <= LEE_SLOPE_MAX + 1e-12
    return ButterflyCheck(
        ok=bool(not bad.any() and lee_ok),
        min_g=float(g[i]),
        k_at_min=float(k[i]),
        violations=k[bad],
        wing_slope=float(wing_slope),
        lee_ok=bool(lee_ok),
    )


def check_butterfly(params: SVIParams, k_grid: npt.ArrayLike | None = None) -> ButterflyCheck:
    """Check one SVI smile for butterfly arbitrage: ``g(k) >= 0`` on a grid and Lee's wing bound.

    Parameters
    ----------
    params : SVIParams
        The smile.
    k_grid : array_like, optional
        Strictly increasing log-moneyness grid; :data:`DEFAULT_K_GRID` by default.

    Returns
    -------
    ButterflyCheck
        ``ok`` is False when any grid point has ``g < 0`` or ``b (1 + |rho|) > 2``.

    Notes
    -----
    Gatheral & Jacquier (2014), Definition 2.3 and Lemma 2.2 (``g``); Lee (2004), "The moment
    formula for implied volatility at extreme strikes", Math. Finance 14(3) (slope <= 2, which
    is also ``lim g = 1/4 - slope^2/16 >= 0`` in the wings).
    """
    params = instance_of(params, SVIParams, "params")
    kk = _grid(k_grid)
    return butterfly_from_g(kk, durrleman_g(params, kk), max(params.wing_slopes))


def check_butterfly_added_variance(params: SVIParams, k_grid: npt.ArrayLike | None = None) -> ButterflyCheck:
    r"""Check the smiles ``w(k) + c`` for every ``c >= 0`` at once (the surface past its last expiry).

    Parameters
    ----------
    params : SVIParams
        The smile ``w``; ``w + c`` is raw SVI with ``a + c``.
    k_grid : array_like, optional
        Strictly increasing log-moneyness grid; :data:`DEFAULT_K_GRID` by default.

    Returns
    -------
    ButterflyCheck
        ``min_g`` is the smallest ``g`` over the grid and over every ``c >= 0`` (``c = 0`` is the
        smile itself, so this is never above :func:`check_butterfly`'s); ``ok`` is False when it
        is negative or the wings break Lee's bound (adding a constant keeps the wing slopes).

    Notes
    -----
    Durrleman's ``g`` (Gatheral & Jacquier 2014, Lemma 2.2) depends on ``c`` only through
    :math:`u = 1/(w + c) \in (0, 1/w]`, and is a convex quadratic in ``u``:

    .. math::

        g(u) = \Bigl(1 - \frac{k w' u}{2}\Bigr)^2 - \frac{w'^2}{4}u - \frac{w'^2}{16} + \frac{w''}{2},
        \qquad u^\ast = \frac{2}{k w'} + \frac{1}{2k^2}\ \text{(where } k w' \ne 0\text{)},

    so its least value over ``c >= 0`` is at ``u = 1/w`` (``c = 0``) or at ``u*`` clipped into
    ``[0, 1/w]`` (``u = 0`` is the limit ``c -> inf``), each evaluated with the one ``g``
    formula.  Adding total variance does not keep every butterfly-free smile so: steep, strongly
    rotated smiles (|rho| near 1, large sigma) dip below 0 for some ``c``.  In the wings
    ``u*`` tends to twice ``1/w``, so beyond the grid the bound is Lee's (2004) slope <= 2, as
    for the smile itself.
    """
    params = instance_of(params, SVIParams, "params")
    kk = _grid(k_grid)
    w, w1, w2 = params.derivatives(kk)
    u0 = np.where(w > 0.0, 1.0 / np.where(w > 0.0, w, 1.0), 0.0)
    kw = kk * w1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u_star = np.where(kw != 0.0, 2.0 / np.where(kw != 0.0, kw, 1.0) + 0.5 / (kk * kk), u0)
        u_min = np.clip(u_star, 0.0, u0)
        g_shift = _g_from_derivatives(np.where(u_min > 0.0, 1.0 / u_min, np.inf), w1, w2, kk)
    g = np.minimum(_g_from_derivatives(w, w1, w2, kk), g_shift)
    return butterfly_from_g(kk, g, max(params.wing_slopes))


@dataclass(frozen=True)
class CalendarViolation:
    """Two expiries whose total variances cross: ``w(k, t_long) < w(k, t_short)`` somewhere.

    ``k`` lists the offending grid points (empty when only the wings cross, off the grid);
    ``max_gap`` is the largest ``w(k, t_short) - w(k, t_long)`` on the grid; ``wings`` is True
    when an asymptotic wing slope of the longer expiry is below the shorter one's.
    """

    t_short: float
    t_long: float
    k: Float64Array = field(repr=False)
    max_gap: float
    wings: bool


@dataclass(frozen=True)
class CalendarCheck:
    """Outcome of a calendar-arbitrage check: ``ok`` iff there are no violations."""

    ok: bool
    violations: tuple[CalendarViolation, ...]


def check_calendar(
    slices: Sequence[tuple[float, SVIParams]],
    k_grid: npt.ArrayLike | None = None,
) -> CalendarCheck:
    r"""Check that total variance is non-decreasing in expiry at every log-moneyness.

    Parameters
    ----------
    slices : sequence of (t_years, SVIParams)
        Smiles with distinct expiries (any order).
    k_grid : array_like, optional
        Log-moneyness grid; :data:`DEFAULT_K_GRID` by default.

    Returns
    -------
    CalendarCheck
        One :class:`CalendarViolation` per adjacent pair of expiries that cross on the grid or
        whose wing slopes make them cross beyond it.

    Notes
    -----
    Gatheral & Jacquier (2014), Lemma 2.1: no calendar spread arbitrage iff
    :math:`\partial_t w(k, t) \ge 0` for all ``k`` (forward log-moneyness, deterministic rates).
    Adjacent pairs suffice because the condition is transitive.  Two SVI slices eventually cross
    in a wing iff the longer one's asymptotic slope there is smaller, which the grid alone cannot
    see; it is checked from ``b (1 -+ rho)``.
    """
    kk = _grid(k_grid)
    ordered = sorted(_calendar_slices(slices), key=lambda s: s[0])
    ts = [float(t) for t, _ in ordered]
    if len(set(ts)) != len(ts):
        raise InputError(f"slices must have distinct expiries, t_years were {ts}")
    violations: list[CalendarViolation] = []
    for (t0, p0), (t1, p1) in pairwise(ordered):
        gap = p0.total_variance(kk) - p1.total_variance(kk)
        bad = gap > _CAL_TOL
        l0, r0 = p0.wing_slopes
        l1, r1 = p1.wing_slopes
        wings = (l1 < l0 - 1e-12) or (r1 < r0 - 1e-12)
        if bad.any() or wings:
            violations.append(CalendarViolation(float(t0), float(t1), kk[bad], float(gap.max()), bool(wings)))
    return CalendarCheck(ok=not violations, violations=tuple(violations))


@dataclass(frozen=True)
class SVIFit:
    """A calibrated SVI smile with its fit quality and butterfly check.

    Attributes
    ----------
    params : SVIParams
        Fitted raw SVI parameters.
    t_years, forward : float
        Expiry and forward of the slice.
    rmse_vol : float
        Root mean square implied-volatility error over the quotes (unweighted).
    max_abs_vol_error : float
        Largest absolute implied-volatility error.
    n_quotes : int
        Quotes used.
    butterfly : ButterflyCheck
        Butterfly check of the fitted smile (it is reported, not enforced).
    success : bool
        The optimiser's convergence flag.
    message : str
        The optimiser's message.
    """

    params: SVIParams
    t_years: float
    forward: float
    rmse_vol: float
    max_abs_vol_error: float
    n_quotes: int
    butterfly: ButterflyCheck
    success: bool
    message: str

    @property
    def arbitrage_free(self) -> bool:
        """Return True when the fitted smile passed the butterfly check."""
        return self.butterfly.ok


_T_MAX = 1000.0  # years: past it no option quote exists


def _calendar_slices(slices: object) -> list[tuple[float, SVIParams]]:
    # (t_years, SVIParams) pairs with a finite t_years > 0, each named by its index.
    if isinstance(slices, str | bytes) or not isinstance(slices, Iterable):
        raise InputError(f"slices must be a sequence of (t_years, SVIParams) pairs, was {show(slices)}")
    out = []
    for i, item in enumerate(slices):
        if not (isinstance(item, Sequence) and not isinstance(item, str | bytes) and len(item) == 2):
            raise InputError(f"slices[{i}] must be a (t_years, SVIParams) pair, was {show(item)}")
        t = positive_number(item[0], f"slices[{i}] t_years")
        out.append((t, instance_of(item[1], SVIParams, f"slices[{i}] params")))
    return out


def _to_params(theta: Float64Array) -> SVIParams:
    # Optimiser coordinates (v_min, b, rho, m, sigma) -> raw SVI; v_min >= 0 is the minimum total
    # variance, so a + b sigma sqrt(1 - rho^2) >= 0 is a box bound.
    vmin, b, rho, m, sig = (float(x) for x in theta)
    a = vmin - b * sig * math.sqrt(1.0 - rho * rho)
    return SVIParams(a, b, rho, m, sig)


def _quote_weights(weights: npt.ArrayLike, n: int) -> Float64Array:
    # Quote weights: one per quote, finite, >= 0 and not all 0.
    wts = np.ravel(_as_array(weights, "weights"))
    if wts.size != n or not np.all(np.isfinite(wts)) or np.any(wts < 0.0) or not np.any(wts > 0.0):
        raise InputError(f"weights must be finite, >= 0, not all 0 and one per quote ({n} quotes), was {show(weights)}")
    return wts


def fit_svi(
    strike: npt.ArrayLike,
    vol: npt.ArrayLike,
    forward: float,
    t_years: float,
    weights: npt.ArrayLike | None = None,
    *,
    space: Literal["vol", "variance"] = "vol",
    k_grid: npt.ArrayLike | None = None,
) -> SVIFit:
    r"""Fit a raw SVI smile to implied volatilities of one expiry.

    Parameters
    ----------
    strike : array_like, shape (n,)
        Strikes, USD per coin, > 0 (n >= 5).
    vol : array_like, shape (n,)
        Implied Black volatilities (fractions), > 0.
    forward : float
        Forward of the expiry, > 0.
    t_years : float
        Expiry in years, > 0.
    weights : array_like, shape (n,), optional
        Non-negative quote weights (e.g. vega or 1/spread); equal by default.
    space : {"vol", "variance"}, default "vol"
        Residuals in implied volatility or in total variance.
    k_grid : array_like, optional
        Grid for the butterfly check (:data:`DEFAULT_K_GRID` by default).

    Returns
    -------
    SVIFit
        Parameters, errors and the butterfly check (an arbitrageable fit is returned with
        ``butterfly.ok = False``, not rejected).

    Raises
    ------
    InputError
        For fewer than 5 quotes, mismatched shapes, or non-positive strikes, vols, forward, expiry
        or weights.

    Notes
    -----
    Weighted non-linear least squares (``scipy.optimize.least_squares``, trust-region reflective)
    over :math:`(v_{min}, b, \rho, m, \sigma)` with :math:`a = v_{min} - b\sigma\sqrt{1-\rho^2}`, so
    the bounds :math:`v_{min} \ge 0`, :math:`0 \le b \le 4`, :math:`|\rho| \le 0.999`,
    :math:`\sigma \in [10^{-4}, 5]` and ``m`` within the quoted range widened by its width on each
    side are box constraints (Gatheral 2004; the :math:`v_{min}` reparametrisation keeps
    :math:`w \ge 0`).  The best of several starts is kept: one from the quotes' wing slopes
    (:math:`b = (s_R - s_L)/2`, :math:`\rho = (s_R + s_L)/(s_R - s_L)`) and a small grid over
    :math:`(\rho, m, \sigma)`.
    """
    K = np.ravel(_check_positive(strike, "strike"))
    iv = np.ravel(_check_positive(vol, "vol"))
    F = _scalar(_check_positive(forward, "forward"), "forward")
    T = _scalar(_check_positive(t_years, "t_years"), "t_years")
    if T > _T_MAX:  # the fit's variance box spans float64's range: least_squares crawls for minutes
        raise InputError(f"t_years must be at most {_T_MAX:g} years, was {show(t_years)}")
    if K.shape != iv.shape:
        raise InputError(f"strike and vol must have the same length, were {K.size} and {iv.size}")
    if K.size < 5:
        raise InputError(f"SVI needs at least 5 quotes per expiry, was {K.size}")
    wts = np.ones_like(K) if weights is None else _quote_weights(weights, K.size)
    if not isinstance(space, str) or space not in ("vol", "variance"):
        raise InputError(f"space must be 'vol' or 'variance', was {show(space)}")
    k = np.log(K / F)
    order = np.argsort(k)
    k, iv, wts = k[order], iv[order], wts[order]
    w_mkt = iv * iv * T
    sqrt_w = np.sqrt(wts)

    def residuals(theta: Float64Array) -> Float64Array:
        vmin, b, rho, m, sig = theta
        a = vmin - b * sig * math.sqrt(max(1.0 - rho * rho, 0.0))
        km = k - m
        w = a + b * (rho * km + np.sqrt(km * km + sig * sig))
        if space == "vol":
            out: Float64Array = sqrt_w * (np.sqrt(np.maximum(w, 0.0) / T) - iv)
        else:
            out = sqrt_w * (w - w_mkt)
        return out

    span = max(float(k[-1] - k[0]), 0.05)
    lower = np.array([0.0, 0.0, -0.999, float(k[0]) - span, 1e-4])
    upper = np.array([max(2.0 * float(w_mkt.max()), 1e-8), 4.0, 0.999, float(k[-1]) + span, 5.0])
    # Starts: wing slopes from the outermost quotes around the variance minimum.
    i_min = int(np.argmin(w_mkt))
    k_min = float(k[i_min])
    s_r = (w_mkt[-1] - w_mkt[i_min]) / max(float(k[-1]) - k_min, 1e-6)
    s_l = (w_mkt[0] - w_mkt[i_min]) / min(float(k[0]) - k_min, -1e-6)
    b0 = float(np.clip(0.5 * (s_r - s_l), 1e-4, 3.9))
    rho0 = float(np.clip((s_r + s_l) / (s_r - s_l) if s_r - s_l > 1e-12 else 0.0, -0.9, 0.9))
    vmin0 = 0.9 * float(w_mkt.min())
    starts = [np.array([vmin0, b0, rho0, k_min, 0.1 * span + 0.01])]
    for rho_s in (-0.5, 0.0, 0.5):
        for sig_s in (0.05 * span + 0.005, 0.3 * span + 0.01):
            starts.append(np.array([vmin0, b0, rho_s, k_min, sig_s]))
    from scipy.optimize import least_squares  # on first use: the margin engine imports this module

    best = None
    for x0 in starts:
        x0 = np.clip(x0, lower + 1e-12, upper - 1e-12)
        try:
            res = least_squares(residuals, x0, bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=2000)
        except ValueError:  # residuals overflow: quotes of extreme size (t_years 1e-300)
            raise InputError(
                f"the quotes overflow float64 in the SVI fit (out of range): t_years={T!r}, forward={F!r}"
            ) from None
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None
    params = _to_params(np.asarray(best.x, dtype=np.float64))
    fitted = params.implied_vol(k, T)
    err = fitted - iv
    return SVIFit(
        params=params,
        t_years=T,
        forward=F,
        rmse_vol=float(np.sqrt(np.mean(err * err))),
        max_abs_vol_error=float(np.max(np.abs(err))),
        n_quotes=int(K.size),
        butterfly=check_butterfly(params, k_grid),
        success=bool(best.success),
        message=str(best.message),
    )


def fit_svi_from_prices(
    price: npt.ArrayLike,
    kind: Kind,
    strike: npt.ArrayLike,
    forward: float,
    t_years: float,
    rate: float = 0.0,
    settlement: Settlement = "usd",
    weights: npt.ArrayLike | None = None,
    *,
    space: Literal["vol", "variance"] = "vol",
    k_grid: npt.ArrayLike | None = None,
) -> SVIFit:
    """Fit a raw SVI smile to option prices of one expiry.

    Prices are inverted with :func:`levguard.core.options.iv.implied_vol_array`; quotes without an
    implied volatility (outside the no-arbitrage bounds) or with zero implied volatility are
    dropped, and :func:`fit_svi` is run on the rest (it raises if fewer than 5 remain).
    ``settlement="coin"`` takes Deribit-style prices in coin.
    """
    K = np.ravel(_check_positive(strike, "strike"))
    res = implied_vol_array(price, kind, forward, K, t_years, rate, settlement)
    if np.shape(res.vol) != K.shape:  # price or kind of another shape broadcast against the strikes
        raise InputError(
            f"price, kind and strike must be one per quote (1-D, same length), "
            f"the implied vols had shape {np.shape(res.vol)} for {K.size} strikes"
        )
    iv = np.ravel(np.asarray(res.vol, dtype=np.float64))
    keep = np.ravel(np.asarray(res.ok)) & (iv > 0.0)
    # Weights are checked against the quotes before the quotes without a vol are dropped.
    wts = None if weights is None else _quote_weights(weights, K.size)[keep]
    return fit_svi(K[keep], iv[keep], forward, t_years, wts, space=space, k_grid=k_grid)
