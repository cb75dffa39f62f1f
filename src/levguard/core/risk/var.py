"""Value-at-Risk and Expected Shortfall from loss samples and parametric forms.

Conventions (every function here):

* **Losses are positive.**  A P&L sample is turned into losses by ``loss = -pnl``
  (``kind="pnl"``); VaR and ES are reported as positive loss amounts in the sample's unit.
* ``level`` is the **confidence**, ``0.5 < level < 1`` (0.99, never 99 or 0.01); the tail
  probability is ``1 - level``.
* ``horizon_days`` is the holding period.  Sample methods (historical, Monte Carlo) take a sample
  of losses *over the horizon* and only record it; parametric methods take moments *per day* and
  scale them to the horizon (see each function); filtered historical simulation simulates the
  horizon step by step.

Every function returns a frozen :class:`VarResult`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import bdtrik, ndtri, stdtrit

from levguard.core.records import Record, empty_mapping
from levguard.core.risk.cornish_fisher import cf_coefficients, cf_in_range, cf_is_monotone, cf_rearranged_var_es
from levguard.core.validate import (
    array_1d,
    finite,
    float_values,
    no_bools_or_strings,
    positive,
    positive_number,
    require_finite,
    rng_arg,
    show,
    whole_number,
)
from levguard.errors import InputError
from levguard.kernels.vol import garch_filter_nb, garch_step
from levguard.typing import Float64Array, Float64Array1D

__all__ = [
    "GarchParams",
    "SampleKind",
    "VarResult",
    "check_level",
    "cornish_fisher_var",
    "empirical_var_es",
    "fhs_returns",
    "fhs_var",
    "garch_filter",
    "garch_persistence",
    "historical_var",
    "monte_carlo_var",
    "normal_var",
    "standard_normal_var_es",
    "standard_t_var_es",
    "student_t_var",
    "var_from_sample",
]

SampleKind = Literal["loss", "pnl"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True, slots=True)
class VarResult(Record):
    """VaR and ES of one loss distribution (positive numbers are losses).

    Attributes
    ----------
    var : float
        Value-at-Risk: the ``level`` quantile of the loss.
    es : float
        Expected Shortfall: the mean loss in the worst ``1 - level`` of outcomes (>= ``var``).
    level : float
        Confidence, e.g. 0.99.
    method : str
        ``historical``, ``normal``, ``t``, ``cornish_fisher``, ``fhs`` or ``monte_carlo``.
    horizon_days : float
        Holding period in days.
    n : int
        Sample size (0 for closed forms without a sample).
    details : Mapping[str, float]
        Method-specific numbers (fitted parameters, quantile indices, confidence bounds).
    """

    var: float
    es: float
    level: float
    method: str
    horizon_days: float
    n: int
    details: Mapping[str, float] = field(default_factory=empty_mapping)


def _result(
    var: float, es: float, level: float, method: str, horizon_days: float, n: int, details: Mapping[str, float]
) -> VarResult:
    return VarResult(float(var), float(es), level, method, horizon_days, n, MappingProxyType(dict(details)))


def check_level(level: float, name: str = "level") -> float:
    """Return ``level`` if it is a confidence in (0.5, 1), else raise :class:`InputError`."""
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating):
        raise InputError(f"{name} must be a confidence in (0.5, 1) such as 0.99, was {show(level)}")
    try:
        lv = float(level)
    except OverflowError:  # an integer past float64's range (10**400)
        lv = math.nan
    if not (math.isfinite(lv) and 0.5 < lv < 1.0):
        raise InputError(f"{name} must be a confidence in (0.5, 1) such as 0.99, was {show(level)}")
    return lv


def _float(value: object, name: str) -> float:
    # float(value) (a number, a NumPy scalar or 0-d array) or InputError naming it: a bool, a
    # string or None is not a number here.
    if isinstance(value, bool | np.bool_ | str | bytes) or value is None:
        raise InputError(f"{name} must be a number, was {show(value)}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be a number, was {show(value)}") from None


def _horizon(horizon_days: float) -> float:
    return positive(_float(horizon_days, "horizon_days"), "horizon_days")


def _normal_moments(level: float, sd: float, mean: float, horizon_days: float) -> tuple[float, float, float, float]:
    # Validated (level, h) and the one-day loss's mean and sd scaled to the horizon as i.i.d.
    # days: (lv, h, mean h, sd sqrt(h)).
    lv = check_level(level)
    h = _horizon(horizon_days)
    sd_ = positive(_float(sd, "sd"), "sd")
    mean_ = finite(_float(mean, "mean"), "mean")
    return lv, h, mean_ * h, sd_ * math.sqrt(h)


def _z_phi(level: float) -> tuple[float, float]:
    # The standard normal quantile z = Phi^{-1}(level) and its density phi(z).
    z = float(ndtri(level))
    return z, _INV_SQRT_2PI * math.exp(-0.5 * z * z)


def _sample_inputs(
    sample: npt.ArrayLike, level: float, kind: SampleKind, horizon_days: float
) -> tuple[float, float, Float64Array1D]:
    # Validated (level, horizon, losses) of the sample-based estimators.
    return check_level(level), _horizon(horizon_days), _losses(sample, kind)


def _losses(sample: npt.ArrayLike, kind: SampleKind, name: str = "sample") -> Float64Array1D:
    """Validate a 1-D finite sample and return it as losses (``-pnl`` for P&L)."""
    if kind not in ("loss", "pnl"):
        raise InputError(f"kind must be 'loss' or 'pnl', was {kind!r}")
    no_bools_or_strings(sample, name)
    x = array_1d(sample, name)
    if x.size == 0:
        raise InputError(f"{name} must not be empty, was size 0")
    require_finite(x, name)
    return -x if kind == "pnl" else x


def empirical_var_es(losses: Float64Array1D, level: float) -> tuple[float, float, float]:
    """Return ``(var, es, m)`` of an empirical loss distribution; ``m = n (1 - level)``.

    Parameters
    ----------
    losses : ndarray, shape (n,)
        Finite losses (not validated here; see :func:`historical_var`).
    level : float
        Confidence in (0.5, 1).

    Notes
    -----
    VaR is the lower empirical quantile ``inf{x : F_n(x) >= level}``, the order statistic
    ``L_(ceil(n level))`` of the ascending losses.  ES is Acerbi & Tasche (2002, "On the
    coherence of Expected Shortfall", J. Banking & Finance 26, eq. 3.3) applied to the empirical
    distribution: the mean of the empirical quantile function over ``(level, 1)``,

    ``ES = (sum_{i=1}^{floor(m)} L_[i] + (m - floor(m)) L_[floor(m)+1]) / m``

    with ``L_[i]`` the i-th largest loss.  It is coherent, continuous in ``level`` and never
    below VaR (``L_[floor(m)+1]`` is VaR itself).  ``m`` within 1e-9 of an integer is rounded so
    that ``n = 100, level = 0.99`` gives ``m = 1`` exactly despite floating point.
    """
    x = np.sort(losses)
    n = x.size
    m = n * (1.0 - level)
    if abs(m - round(m)) <= 1e-9 * max(1.0, m):
        m = float(round(m))
    j = math.floor(m)
    var = float(x[n - j - 1])
    tail = math.fsum(x[n - j :].tolist()) if j > 0 else 0.0
    es = (tail + (m - j) * var) / m
    # The weighted mean of values >= var can land one ulp below it; ES >= VaR by construction.
    return var, max(es, var), m


def historical_var(
    sample: npt.ArrayLike, level: float, *, kind: SampleKind = "loss", horizon_days: float = 1.0
) -> VarResult:
    """Return historical VaR and ES of a sample of horizon losses (or P&L).

    Parameters
    ----------
    sample : array_like, shape (n,)
        Losses (``kind="loss"``, positive = loss) or P&L (``kind="pnl"``) over the horizon.
    level : float
        Confidence in (0.5, 1).
    kind : {"loss", "pnl"}
        How to read ``sample``.
    horizon_days : float
        Holding period the sample describes (recorded, not used to scale).

    Returns
    -------
    VarResult
        ``details``: ``n_tail`` = ``n (1 - level)``, the (fractional) number of tail points.

    Notes
    -----
    Quantile and ES definitions: :func:`empirical_var_es` (lower empirical quantile;
    Acerbi-Tasche ES).  Example: losses ``1..100`` at 0.99 give VaR 99 and ES 100; at 0.975,
    VaR 98 and ES ``(100 + 99 + 0.5 * 98) / 2.5 = 99.2``.
    """
    lv, h, x = _sample_inputs(sample, level, kind, horizon_days)
    var, es, m = empirical_var_es(x, lv)
    return _result(var, es, lv, "historical", h, x.size, {"n_tail": m})


def monte_carlo_var(
    sample: npt.ArrayLike, level: float, *, kind: SampleKind = "loss", horizon_days: float = 1.0
) -> VarResult:
    """Return VaR and ES of simulated horizon losses (or P&L) with sampling-error bounds.

    Parameters are those of :func:`historical_var`, for a simulated ``sample`` (e.g. from full
    revaluation, :func:`levguard.core.risk.portfolio.revalue`) and the ``horizon_days`` the
    simulation covers.

    Returns
    -------
    VarResult
        Estimates as in :func:`historical_var`; ``details``: ``var_ci_low``/``var_ci_high``, a
        distribution-free 95% confidence interval of the VaR from order statistics, and ``es_se``,
        the standard error of the ES estimate.

    Notes
    -----
    The number of simulated losses above the true VaR is Binomial(n, 1 - level), so the order
    statistics ``L_(k_lo)`` and ``L_(k_hi)`` with ``k`` the 2.5% and 97.5% binomial quantiles
    bracket the true quantile with probability about 0.95 (David & Nagaraja, "Order
    Statistics", 3rd ed., sec. 7.1).  ``es_se = sd(tail losses) / sqrt(n_tail)``.
    """
    lv, h, x = _sample_inputs(sample, level, kind, horizon_days)
    var, es, m = empirical_var_es(x, lv)
    n = x.size
    xs = np.sort(x)
    # Binomial(n, level) quantiles of the count of losses at or below the true VaR.
    k_lo = int(np.clip(math.floor(float(bdtrik(0.025, n, lv))), 1, n))
    k_hi = int(np.clip(math.ceil(float(bdtrik(0.975, n, lv))) + 1, 1, n))
    tail = xs[n - max(1, math.ceil(m)) :]
    es_se = float(np.std(tail, ddof=1) / math.sqrt(tail.size)) if tail.size > 1 else math.nan
    details = {"n_tail": m, "var_ci_low": float(xs[k_lo - 1]), "var_ci_high": float(xs[k_hi - 1]), "es_se": es_se}
    return _result(var, es, lv, "monte_carlo", h, n, details)


def normal_var(level: float, *, sd: float, mean: float = 0.0, horizon_days: float = 1.0) -> VarResult:
    """Return VaR and ES of a normal loss distribution.

    Parameters
    ----------
    level : float
        Confidence in (0.5, 1).
    sd : float
        Standard deviation of the one-day loss, > 0.
    mean : float
        Mean of the one-day **loss** (the negative of the mean P&L).
    horizon_days : float
        Holding period; moments scale as ``mean h`` and ``sd sqrt(h)`` (i.i.d. days).

    Notes
    -----
    With ``z = Phi^{-1}(level)`` and ``phi`` the standard normal density (Jorion, "Value at
    Risk", 3rd ed., ch. 5; McNeil, Frey & Embrechts, "Quantitative Risk Management", 2015,
    ex. 2.14):

    ``VaR = mu + sigma z``,  ``ES = mu + sigma phi(z) / (1 - level)``

    with ``mu = mean h`` and ``sigma = sd sqrt(h)``.  At 0.99, ``z = 2.3263`` and
    ``phi(z)/(1 - level) = 2.6652``.
    """
    lv, h, mu, sigma = _normal_moments(level, sd, mean, horizon_days)
    z, phi = _z_phi(lv)
    return _result(mu + sigma * z, mu + sigma * phi / (1.0 - lv), lv, "normal", h, 0, {"mean": mu, "sd": sigma, "z": z})


def standard_normal_var_es(level: float) -> tuple[float, float]:
    """Return the ``level`` quantile ``z`` and the ES ``phi(z) / (1 - level)`` of the standard normal.

    ``level`` is a confidence in (0.5, 1) (:func:`check_level`); formulas as in :func:`normal_var`.
    """
    lv = check_level(level)
    z, phi = _z_phi(lv)
    return z, phi / (1.0 - lv)


def standard_t_var_es(level: float, nu: float) -> tuple[float, float]:
    """Return the ``level`` quantile and the ES of the standard Student-t (location 0, scale 1).

    ``level`` is a confidence in (0.5, 1) (:func:`check_level`) and ``nu`` a finite number > 1 (the
    ES is infinite for ``nu <= 1``); formulas as in :func:`student_t_var`.
    """
    from scipy import stats  # on first use: scipy.stats costs ~0.5 s at import (the CLI's quick forms)

    lv = check_level(level)
    nu_ = _float(nu, "nu")
    if not (math.isfinite(nu_) and nu_ > 1.0):
        raise InputError(f"nu must be a finite number > 1 (for a finite expected shortfall), was {show(nu)}")
    q = float(stdtrit(nu_, lv))
    pdf = float(stats.t.pdf(q, nu_))
    return q, (nu_ + q * q) / (nu_ - 1.0) * pdf / (1.0 - lv)


def student_t_var(
    level: float,
    *,
    nu: float,
    sd: float | None = None,
    scale: float | None = None,
    mean: float = 0.0,
    horizon_days: float = 1.0,
) -> VarResult:
    """Return VaR and ES of a Student-t loss distribution.

    Parameters
    ----------
    level : float
        Confidence in (0.5, 1).
    nu : float
        Degrees of freedom, > 1 (> 2 when ``sd`` is given).
    sd, scale : float
        Exactly one: the one-day loss's standard deviation (the t is *scaled to unit variance*
        and multiplied by ``sd``: ``scale = sd sqrt((nu - 2)/nu)``), or the t's own scale
        parameter (``scipy.stats.t`` convention).
    mean : float
        Location (mean) of the one-day loss.
    horizon_days : float
        Holding period; ``mean h`` and ``scale sqrt(h)`` with the shape ``nu`` kept (an
        approximation: sums of t variables are not t).

    Notes
    -----
    With ``q = t_nu^{-1}(level)`` and ``f_nu`` the standard t density (McNeil, Frey & Embrechts
    2015, ex. 2.15):

    ``VaR = mu + s q``,  ``ES = mu + s (nu + q^2)/(nu - 1) f_nu(q) / (1 - level)``.

    For nu = 4 at 0.99 with unit variance: VaR = 2.649, ES = 3.692 (normal: 2.326, 2.665).
    """
    lv = check_level(level)
    h = _horizon(horizon_days)
    nu_ = finite(_float(nu, "nu"), "nu")
    mean_ = finite(_float(mean, "mean"), "mean")
    if (sd is None) == (scale is None):
        raise InputError(f"give exactly one of sd or scale, was sd={show(sd)}, scale={show(scale)}")
    if sd is not None:
        sd_ = positive(_float(sd, "sd"), "sd")
        if nu_ <= 2.0:
            raise InputError(f"nu must be > 2 for a finite standard deviation (sd given), was {nu!r}")
        s = sd_ * math.sqrt((nu_ - 2.0) / nu_)
    else:
        s = positive(_float(scale, "scale"), "scale")
        if nu_ <= 1.0:
            raise InputError(f"nu must be > 1 for a finite expected shortfall, was {nu!r}")
    mu, s_h = mean_ * h, s * math.sqrt(h)
    q, es_std = standard_t_var_es(lv, nu_)
    return _result(mu + s_h * q, mu + s_h * es_std, lv, "t", h, 0, {"nu": nu_, "mean": mu, "scale": s_h, "q": q})


def cornish_fisher_var(
    level: float,
    *,
    sd: float,
    mean: float = 0.0,
    skew: float = 0.0,
    excess_kurtosis: float = 0.0,
    horizon_days: float = 1.0,
) -> VarResult:
    """Return the Cornish-Fisher (modified) VaR and its ES.

    Parameters
    ----------
    level, sd, mean : float
        As in :func:`normal_var`, the case ``skew = excess_kurtosis = 0``.
    skew, excess_kurtosis : float
        Skewness and excess kurtosis of the one-day **loss** (a left-skewed P&L has a positive
        loss skew).
    horizon_days : float
        Holding period; cumulants of i.i.d. days add: ``mean h``, ``sd sqrt(h)``,
        ``skew / sqrt(h)``, ``excess_kurtosis / h``.

    Returns
    -------
    VarResult
        ``ES >= VaR`` always.  ``details``: ``z_cf`` (the adjusted standardised quantile, the VaR
        of the standardised loss), ``monotone`` (1.0 when the expansion is increasing in ``z``,
        its domain of validity; 0.0 outside it, where VaR and ES come from the rearranged
        expansion).

    Notes
    -----
    Cornish & Fisher (1938); Zangari (1996, RiskMetrics Monitor Q4) for VaR.  With
    ``z = Phi^{-1}(level)``, S the skew and K the excess kurtosis:

    ``w(z) = z + (z^2 - 1) S/6 + (z^3 - 3z) K/24 - (2z^3 - 5z) S^2/36``,  ``VaR = mu + sigma w(z)``.

    ES is the mean of the Cornish-Fisher quantile function over the tail,
    ``ES = mu + sigma/(1 - level) int_level^1 w(Phi^{-1}(u)) du``.  Because ``w`` is a cubic in
    ``z``, the integral is exact in closed form with the normal partial moments
    ``int_z^inf t^k phi(t) dt``: ``1 - level``, ``phi(z)``, ``z phi(z) + 1 - level``,
    ``(z^2 + 2) phi(z)`` for ``k = 0..3`` (tests check it against numerical quadrature).  With
    ``S = K = 0`` both reduce to the normal formulas.

    The expansion is increasing in ``z``, so ``u -> w(Phi^{-1}(u))`` is a quantile function, only
    for moderate S and K (the domain of Maillard 2012, "A user's guide to the Cornish Fisher
    expansion", SSRN 1997178; :func:`levguard.core.risk.cornish_fisher.cf_is_monotone`); the
    closed forms above hold there.  Outside it the curve crosses itself: with S = 2, K = 1 at 0.99
    it gave VaR 2.525 and ES 2.313 < VaR, and real 250-day windows of crypto returns (loss skew
    -6, excess kurtosis 65) gave a negative VaR and ES.  There VaR and ES are those of the
    monotone rearrangement of the curve (Chernozhukov, Fernández-Val & Galichon 2010, "Quantile
    and probability curves without crossing", Econometrica 78(3)): the quantile function of
    ``w(Z)``, ``Z`` standard normal, computed exactly
    (:func:`levguard.core.risk.cornish_fisher.cf_rearranged_var_es`).  It is a valid quantile
    function (VaR increasing in the level, ES >= VaR), not a better approximation of the loss:
    the expansion is still used outside its domain, and ``details["monotone"]`` says so.
    """
    lv, h, mu, sigma = _normal_moments(level, sd, mean, horizon_days)
    skew_ = finite(_float(skew, "skew"), "skew")
    exkurt = finite(_float(excess_kurtosis, "excess_kurtosis"), "excess_kurtosis")
    s, k = skew_ / math.sqrt(h), exkurt / h
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        c0, c1, c2, c3 = (float(c) for c in cf_coefficients(s, k))
    if not cf_in_range((c0, c1, c2, c3)):
        raise InputError(
            "skew and excess_kurtosis are too large for the Cornish-Fisher expansion (its terms overflow "
            f"float64), were skew={skew_!r}, excess_kurtosis={exkurt!r}"
        )
    z, phi = _z_phi(lv)
    monotone = cf_is_monotone(c1, c2, c3)
    if monotone:
        p = 1.0 - lv
        w = c0 + c1 * z + c2 * z * z + c3 * z**3
        integral = c0 * p + c1 * phi + c2 * (z * phi + p) + c3 * (z * z + 2.0) * phi
        es = mu + sigma * integral / p
    else:
        w, w_es = cf_rearranged_var_es((c0, c1, c2, c3), lv)
        es = mu + sigma * w_es
    details = {"mean": mu, "sd": sigma, "skew": s, "excess_kurtosis": k, "z": z, "z_cf": w, "monotone": float(monotone)}
    return _result(mu + sigma * w, es, lv, "cornish_fisher", h, 0, details)


def var_from_sample(
    sample: npt.ArrayLike,
    level: float,
    *,
    method: Literal["historical", "normal", "t", "cornish_fisher"],
    kind: SampleKind = "loss",
    horizon_days: float = 1.0,
    nu: float | None = None,
) -> VarResult:
    """Estimate VaR and ES from a time series of one-day losses (or P&L).

    Parameters
    ----------
    sample : array_like, shape (n,)
        One-day losses or P&L (``kind``) in time order.
    level : float
        Confidence in (0.5, 1).
    method : {"historical", "normal", "t", "cornish_fisher"}
        ``historical``: empirical quantile (:func:`empirical_var_es`) of the overlapping
        ``h``-day sums of the sample (``h = horizon_days`` must then be a whole number).
        ``normal``: sample mean and standard deviation (ddof=1).  ``t``: maximum-likelihood
        Student-t (``scipy.stats.t.fit``), with ``nu`` fixed when given.  ``cornish_fisher``:
        sample mean, sd, skewness and excess kurtosis (bias-corrected, ``scipy.stats``).
    kind : {"loss", "pnl"}
        How to read ``sample``.
    horizon_days : float
        Holding period; parametric methods scale as documented in each closed form.
    nu : float, optional
        Fixed degrees of freedom for ``method="t"``.

    Returns
    -------
    VarResult
        With ``n`` the sample size and the fitted moments in ``details``.
    """
    from scipy import stats  # on first use, as in standard_t_var_es

    lv, h, x = _sample_inputs(sample, level, kind, horizon_days)
    n = x.size
    if method == "historical":
        if abs(h - round(h)) > 1e-9:
            raise InputError(f"horizon_days must be a whole number of days for historical sums, was {horizon_days!r}")
        steps = round(h)
        if steps > n:
            raise InputError(f"horizon_days {steps} exceeds the sample length {n}")
        agg = np.convolve(x, np.ones(steps), mode="valid") if steps > 1 else x
        var, es, m = empirical_var_es(agg, lv)
        return _result(var, es, lv, "historical", h, n, {"n_tail": m, "n_windows": float(agg.size)})
    if n < 4:
        raise InputError(f"sample needs at least 4 points to fit {method}, had {n}")
    if method == "normal":
        r = normal_var(lv, sd=_sd(x), mean=float(np.mean(x)), horizon_days=h)
    elif method == "t":
        if nu is not None:
            df, loc, scale = stats.t.fit(x, f0=positive_number(nu, "nu"))
        else:
            df, loc, scale = stats.t.fit(x)
        if df <= 1.0:
            raise InputError(f"the fitted Student-t has nu = {df:.3g} <= 1 (infinite ES); pass nu")
        r = student_t_var(lv, nu=float(df), scale=float(scale), mean=float(loc), horizon_days=h)
    elif method == "cornish_fisher":
        r = cornish_fisher_var(
            lv,
            sd=_sd(x),
            mean=float(np.mean(x)),
            skew=float(stats.skew(x, bias=False)),
            excess_kurtosis=float(stats.kurtosis(x, fisher=True, bias=False)),
            horizon_days=h,
        )
    else:
        raise InputError(f"method must be historical, normal, t or cornish_fisher, was {method!r}")
    return _result(r.var, r.es, lv, r.method, h, n, r.details)


def _sd(x: Float64Array1D) -> float:
    sd = float(np.std(x, ddof=1))
    if not sd > 0.0:
        raise InputError("sample has zero variance; a parametric VaR needs dispersion")
    return sd


@dataclass(frozen=True, slots=True)
class GarchParams:
    """GARCH(1,1) / GJR-GARCH(1,1) parameters in the units of the returns they model.

    ``sigma2_{t+1} = omega + (alpha + gamma 1{eps_t < 0}) eps_t^2 + beta sigma2_t``,
    ``r_t = mu + eps_t``, ``eps_t = sigma_t z_t`` (Bollerslev 1986; Glosten, Jagannathan &
    Runkle 1993).  ``gamma = 0`` is plain GARCH.
    """

    omega: float
    alpha: float
    beta: float
    gamma: float = 0.0
    mu: float = 0.0

    def __post_init__(self) -> None:
        positive(self.omega, "garch.omega")
        for name in ("alpha", "beta", "gamma"):
            v = finite(getattr(self, name), f"garch.{name}")
            if v < 0.0:
                raise InputError(f"garch.{name} must be >= 0, was {v!r}")
        finite(self.mu, "garch.mu")

    @property
    def persistence(self) -> float:
        """``alpha + beta + gamma/2`` (:func:`garch_persistence`); < 1 for a stationary variance."""
        return garch_persistence(self.alpha, self.beta, self.gamma)


def garch_persistence(alpha: float, beta: float, gamma: float = 0.0) -> float:
    """Return the persistence of a (GJR-)GARCH(1,1) variance, ``alpha + beta + gamma / 2``.

    Notes
    -----
    ``E[sigma2_{t+1}] - sigma_bar^2 = p (sigma2_t - sigma_bar^2)`` with ``p = alpha + beta +
    gamma P(z < 0)`` and ``P(z < 0) = 1/2`` for symmetric innovations (Glosten, Jagannathan and
    Runkle 1993); the variance is stationary for ``p < 1``, with mean ``omega / (1 - p)``.
    """
    return alpha + beta + 0.5 * gamma


def garch_filter(
    returns: npt.ArrayLike, params: GarchParams, *, sigma2_0: float | None = None
) -> tuple[Float64Array1D, Float64Array1D]:
    """Run the GARCH variance recursion over returns with fixed parameters.

    Parameters
    ----------
    returns : array_like, shape (T,)
        Returns in the units of ``params``.
    params : GarchParams
        Model parameters.
    sigma2_0 : float, optional
        Variance of the first return; defaults to the sample mean of ``(r - mu)^2``.

    Returns
    -------
    sigma : ndarray, shape (T + 1,)
        Conditional volatility of every return and, last, the one-step forecast ``sigma_{T+1}``.
    z : ndarray, shape (T,)
        Standardised residuals ``(r_t - mu) / sigma_t``.

    Notes
    -----
    ``sigma2_{t+1} = omega + (alpha + gamma 1{eps_t < 0}) eps_t^2 + beta sigma2_t`` with
    ``eps_t = r_t - mu``; used to filter new data with parameters fitted earlier (rolling
    backtests refit every few days and filter in between).  The recursion is the one kernel
    :func:`levguard.kernels.vol.garch_filter_nb` (:func:`levguard.kernels.vol.gjr_garch_step`).
    """
    r = _losses(returns, "loss", "returns")
    eps = r - params.mu
    s2 = float(np.mean(eps * eps)) if sigma2_0 is None else positive_number(sigma2_0, "sigma2_0")
    var = np.empty(r.size + 1)
    var[0] = s2
    garch_filter_nb(np.ascontiguousarray(eps), params.omega, params.alpha, params.gamma, params.beta, var)
    sigma = np.sqrt(var)
    return sigma, eps / sigma[:-1]


_MAX_SIMS = 100_000_000
_MAX_FHS_HORIZON = 100_000
_MAX_FHS_CELLS = 500_000_000  # float64 cells of the (n, h, k) path array: 4 GB


def _per_asset(value: object, name: str, k: int) -> Float64Array1D:
    # A number or one number per asset (k), as a fresh float64 array of shape (k,).
    arr = float_values(value, name)
    if arr.size not in (1, k) or arr.ndim != 1:
        raise InputError(f"{name} must be a number or {k} numbers (one per asset), was {show(value)}")
    return np.broadcast_to(arr, (k,)).copy()


def _garch_list(garch: object) -> list[GarchParams]:
    # A sequence of GarchParams (one per asset) or InputError naming garch.
    params: list[object] = list(garch) if isinstance(garch, Iterable) else [garch]
    out: list[GarchParams] = []
    for g in params:
        if not isinstance(g, GarchParams):
            raise InputError(f"garch must be a GarchParams or one per asset, was {show(garch)}")
        out.append(g)
    return out


def _residual_matrix(residuals: npt.ArrayLike) -> Float64Array:
    try:
        z = np.asarray(residuals, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        raise InputError(f"residuals must be an array of numbers, was {show(residuals)}") from None
    if z.ndim not in (1, 2) or z.shape[0] < 2:
        raise InputError(f"residuals must be shape (T,) or (T, k) with T >= 2, was shape {z.shape}")
    bad = ~np.isfinite(z)
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), z.shape)
        where = ", ".join(str(int(v)) for v in i)
        raise InputError(f"residuals[{where}] must be finite (drop the GARCH burn-in NaNs), was {z[i].item()!r}")
    return z.reshape(z.shape[0], -1)


def fhs_returns(
    residuals: npt.ArrayLike,
    sigma_next: float | Sequence[float] | Float64Array,
    *,
    horizon_days: int = 1,
    garch: GarchParams | Sequence[GarchParams] | None = None,
    mean: float | Sequence[float] | Float64Array = 0.0,
    n_sims: int | None = None,
    seed: int | np.random.Generator | None = None,
) -> Float64Array:
    """Simulate per-day returns by filtered historical simulation.

    Parameters
    ----------
    residuals : array_like, shape (T,) or (T, k)
        Standardised residuals ``z_t = eps_t / sigma_t`` of a fitted volatility model, one column
        per asset; rows are dates and are resampled whole, keeping cross-asset dependence
        (Barone-Adesi, Giannopoulos & Vosper 1999).
    sigma_next : float or array_like, shape (k,)
        One-day-ahead volatility forecast ``sigma_{T+1}`` per asset (return units).
    horizon_days : int
        Number of daily steps ``h`` >= 1.
    garch : GarchParams or sequence of them, optional
        Per-asset variance recursion for ``h > 1``; without it the volatility stays at
        ``sigma_next`` over the horizon.
    mean : float or array_like, shape (k,)
        Daily mean return per asset (``garch.mu`` when ``garch`` is given and ``mean`` is 0).
    n_sims : int, optional
        Number of bootstrap paths.  ``None`` with ``h = 1`` uses every residual once (the exact
        filtered empirical distribution); with ``h > 1`` it defaults to 10,000.
    seed : int or numpy.random.Generator, optional
        Random source.

    Returns
    -------
    ndarray, shape (n, h, k)
        Daily returns ``r_{T+j} = mu + sigma_{T+j} z*`` of every path.

    Notes
    -----
    Barone-Adesi, Giannopoulos & Vosper (1999, "VaR without correlations for portfolios of
    derivative securities", J. Futures Markets 19).  Each step draws a residual row ``z*`` with
    replacement; with ``garch`` the variance follows the model,
    ``sigma2_{j+1} = omega + (alpha + gamma 1{eps_j < 0}) eps_j^2 + beta sigma2_j`` with
    ``eps_j = sigma_j z*_j``, so the horizon distribution carries volatility clustering and
    mean reversion; without it every step uses ``sigma_next`` (a constant-volatility bootstrap
    whose variance is ``h sigma_next^2``, the square-root-of-time rule, while the tail shape
    comes from the sum of resampled residuals rather than a rescaled one-day quantile).
    """
    z = _residual_matrix(residuals)
    T, k = z.shape
    h = whole_number(horizon_days, "horizon_days", 1, _MAX_FHS_HORIZON)
    sig = _per_asset(sigma_next, "sigma_next", k)
    if not (np.isfinite(sig).all() and (sig > 0).all()):
        raise InputError(f"sigma_next must be finite and > 0, was {show(sigma_next)}")
    mu = _per_asset(mean, "mean", k)
    if not np.isfinite(mu).all():
        raise InputError(f"mean must be finite, was {show(mean)}")
    params: list[GarchParams] | None = None
    if garch is not None:
        params = [garch] * k if isinstance(garch, GarchParams) else _garch_list(garch)
        if len(params) != k:
            raise InputError(f"garch must give one GarchParams per residual column ({k}), was {len(params)}")
        mu = np.where(mu == 0.0, np.array([g.mu for g in params]), mu)
    if n_sims is None and h == 1:
        return (mu + sig * z)[:, None, :]
    n = 10_000 if n_sims is None else whole_number(n_sims, "n_sims", 1, _MAX_SIMS)
    if n * h * k > _MAX_FHS_CELLS:
        raise InputError(
            f"n_sims * horizon_days * assets must be at most {_MAX_FHS_CELLS:.0e} (memory), was {n} * {h} * {k}"
        )
    rng = rng_arg(seed)
    draws = z[rng.integers(0, T, size=(n, h))]  # (n, h, k)
    if params is None:
        return mu + sig * draws
    omega = np.array([g.omega for g in params])
    alpha = np.array([g.alpha for g in params])
    beta = np.array([g.beta for g in params])
    gamma = np.array([g.gamma for g in params])
    out = np.empty((n, h, k))
    var = np.broadcast_to(sig * sig, (n, k)).copy()
    one = np.ones((n, k))  # eps_j**2 = 1 * eps_j**2: the raw-innovation form of garch_step
    for j in range(h):
        eps = np.sqrt(var) * draws[:, j, :]
        out[:, j, :] = mu + eps
        var = garch_step(var, one, eps, omega, alpha + gamma * (eps < 0.0), beta)
    return out


def fhs_var(
    residuals: npt.ArrayLike,
    sigma_next: float,
    level: float,
    *,
    horizon_days: int = 1,
    garch: GarchParams | None = None,
    mean: float = 0.0,
    n_sims: int | None = None,
    seed: int | np.random.Generator | None = None,
) -> VarResult:
    """Return filtered-historical-simulation VaR and ES of a unit long position's return.

    The loss is minus the ``h``-day sum of simulated returns, ``-sum_j r_{T+j}`` (log returns
    add); for ``h = 1`` without ``n_sims`` that is exactly ``-(mean + sigma_next z_t)`` over
    every residual.  Arguments as in :func:`fhs_returns` (one asset).  For a portfolio, feed the
    paths of :func:`fhs_returns` to :func:`levguard.core.risk.portfolio.revalue` instead.
    """
    lv = check_level(level)
    z = _residual_matrix(residuals)
    if z.shape[1] != 1:
        raise InputError(f"fhs_var takes one asset's residuals (shape (T,)), was shape {z.shape}")
    if isinstance(sigma_next, bool) or not isinstance(sigma_next, int | float | np.floating):
        raise InputError(f"sigma_next must be a number, was {sigma_next!r}")
    r = fhs_returns(z, sigma_next, horizon_days=horizon_days, garch=garch, mean=mean, n_sims=n_sims, seed=seed)
    losses = -r[:, :, 0].sum(axis=1)
    var, es, m = empirical_var_es(losses, lv)
    details = {"n_tail": m, "sigma_next": float(sigma_next), "n_residuals": float(z.shape[0])}
    return _result(var, es, lv, "fhs", float(horizon_days), losses.size, details)
