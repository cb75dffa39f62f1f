"""Probability of liquidation and the distribution of the time to liquidation.

A position is liquidated the first time the mark price ``S`` reaches its liquidation price
``LP``: from above for a long, from below for a short.  With ``X_t = ln(S_t / S_0)`` and the log
barrier ``b = ln(LP / S_0)``, the probability of liquidation within a horizon ``T`` is the
first-passage probability ``P(tau <= T)``, ``tau = inf{t : X_t <= b}`` for a long and
``inf{t : X_t >= b}`` for a short.  A short is handled as a long on the mirror image ``-X``
(drift, jumps and returns negated; barrier ``-b``), so every model is implemented once, for a
lower barrier.

Models (``model=``):

``"gbm"``
    Geometric Brownian motion: reflection-principle closed form; with ``monitoring_dt_days`` exact
    over the first 256 checks (:mod:`levguard.core.risk.discrete_monitoring`), then the
    Broadie-Glasserman-Kou continuity correction.  ``method="mc"`` runs the Monte Carlo kernel
    instead (used to validate the closed form).
``"kou"``
    Kou's double-exponential jump diffusion: Kou-Wang Laplace transform inverted by
    Gaver-Stehfest.  ``method="mc"`` as for GBM.
``"merton"``
    Merton's normal-jump diffusion: Monte Carlo.
``"garch_t"``
    GARCH(1,1) with Student-t innovations: Monte Carlo.
``"bootstrap"``
    Resampled historical log returns (i.i.d. or circular blocks): Monte Carlo.

Units: ``sigma`` and ``mu`` are annualised fractions (``sigma=0.8`` is 80 % a year); a year is
365 days (a 24/7 market); horizons and times are given and returned in days.  ``mu`` is the
expected *arithmetic* return of the price, ``E[S_t] = S_0 exp(mu t)``, and should include the
funding drift of the position's side if wanted; each model's log drift is derived from it.

Model parameters (``**model_params``) are listed in :func:`prob_liquidation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from levguard.core.risk._liquidation_models import (
    DAYS_PER_YEAR,
    _jumps,
    _log_drift,
    _Problem,
    _simulate,
)
from levguard.core.risk.discrete_monitoring import DiscreteGbm
from levguard.core.risk.first_passage import (
    GS_TERMS,
    bgk_barrier,
    compensated_drift,
    gaver_stehfest,
    gbm_hit_prob,
    gbm_hit_prob_list,
    kou_hit_inversion,
    kou_hit_laplace,
)
from levguard.core.validate import finite_number, integer_in, number, positive_number, side_sign
from levguard.errors import InputError
from levguard.typing import Float64Array1D

__all__ = [
    "DAYS_PER_YEAR",
    "GS_SETTLED",
    "MODELS",
    "TimeToLiquidation",
    "prob_liquidation",
    "prob_liquidation_curve",
    "prob_liquidation_gbm",
    "prob_liquidation_gbm_list",
    "time_to_liquidation",
]

MODELS: tuple[str, ...] = ("gbm", "kou", "merton", "garch_t", "bootstrap")
"""Model names accepted by :func:`prob_liquidation`."""

DEFAULT_LEVELS: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)

_MC_COMMON = ("n_paths", "seed", "step_days", "bridge", "method")
_MODEL_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # model: (required parameters, optional parameters)
    "gbm": ((), ("method", "n_paths", "seed", "step_days", "bridge")),
    "kou": (("lam", "p_up", "eta_up", "eta_down"), ("method", "gs_terms", "n_paths", "seed", "step_days", "bridge")),
    "merton": (("lam", "jump_mean", "jump_std"), _MC_COMMON),
    "garch_t": ((), ("omega", "alpha", "beta", "nu", "garch", "scale", *_MC_COMMON)),
    "bootstrap": (("returns",), ("block", "rescale", "demean", *_MC_COMMON)),
}


@dataclass(frozen=True, slots=True)
class TimeToLiquidation:
    """Distribution of the time to liquidation ``tau`` within a horizon (all times in days).

    Attributes
    ----------
    prob : float
        ``P(tau <= T)``, the probability of liquidation within the horizon.
    prob_std_error : float
        Monte Carlo standard error of ``prob``, ``sqrt(p (1 - p) / n_paths)``; 0 for the
        closed forms (whose numerical error is documented per model).
    expected_days_if_liquidated : float
        ``E[tau | tau <= T]``: the mean time to liquidation of the positions that are
        liquidated within the horizon (NaN when ``prob == 0``).
    expected_days_capped : float
        ``E[min(tau, T)]``: the mean time the position survives within the horizon (``T`` when
        it cannot be liquidated, 0 when it already is).
    quantile_levels : tuple of float
        Levels ``q`` of the quantiles below.
    quantiles_days : tuple of float
        Quantiles of the (defective) distribution of ``tau``: the first ``t`` with
        ``P(tau <= t) >= q``; ``inf`` when ``q > prob`` (not reached within the horizon).
    conditional_quantiles_days : tuple of float
        Quantiles of ``tau`` given ``tau <= T`` (NaN when ``prob == 0``).
    horizon_days : float
        Horizon ``T`` actually used: the requested horizon, or the last monitoring date for
        discrete monitoring, or a whole number of steps for GARCH and bootstrap paths.
    model : str
        Model name.
    method : str
        ``"closed_form"``, ``"laplace_gaver_stehfest"`` or ``"monte_carlo"``.
    n_paths : int
        Monte Carlo paths (0 for the closed forms).
    """

    prob: float
    prob_std_error: float
    expected_days_if_liquidated: float
    expected_days_capped: float
    quantile_levels: tuple[float, ...]
    quantiles_days: tuple[float, ...]
    conditional_quantiles_days: tuple[float, ...]
    horizon_days: float
    model: str
    method: str
    n_paths: int


# --- validation -----------------------------------------------------------------------------
_MIN_MONITORING_DAYS = 1e-8
"""Shortest discrete monitoring step (days) a probability accepts: about a millisecond."""
MAX_SIGMA: float = 1_000.0
"""The largest annualised volatility (a fraction: 100,000 % a year) a liquidation probability takes."""
MAX_HORIZON_DAYS: float = 36_500.0
"""The longest horizon (days) a liquidation probability is computed for: 100 years."""


def _problem(
    side: object,
    price: object,
    liq_price: object,
    sigma: object,
    horizon_days: object,
    mu: object,
    monitoring_dt_days: object,
    model: object,
) -> _Problem:
    sign = side_sign(side)
    s0 = positive_number(price, "price")
    vol = positive_number(sigma, "sigma")
    if vol > MAX_SIGMA:  # 1e308 broke the Kou root finders with a raw ValueError
        raise InputError(f"sigma must be an annualised volatility of at most {MAX_SIGMA:g} (a fraction), was {sigma!r}")
    horizon_d = positive_number(horizon_days, "horizon_days")
    if horizon_d > MAX_HORIZON_DAYS:  # 1e308 overflowed the Laplace inversion
        raise InputError(f"horizon_days must be at most {MAX_HORIZON_DAYS:g} (100 years), was {horizon_days!r}")
    horizon = horizon_d / DAYS_PER_YEAR
    drift = finite_number(mu, "mu")
    mon = None
    if monitoring_dt_days is not None:
        mon_days = positive_number(monitoring_dt_days, "monitoring_dt_days")
        if mon_days < _MIN_MONITORING_DAYS:  # 1e-320 made the count of checks infinite
            raise InputError(
                f"monitoring_dt_days must be at least {_MIN_MONITORING_DAYS:g} (about a millisecond; None "
                f"monitors continuously), was {monitoring_dt_days!r}"
            )
        mon = mon_days / DAYS_PER_YEAR
    if not isinstance(model, str) or model not in MODELS:
        raise InputError(f"model must be one of {', '.join(MODELS)}; was {model!r}")
    lp = math.nan if liq_price is None else number(liq_price, "liq_price")
    if not math.isfinite(lp) or lp <= 0.0:
        return _Problem(sign, "none", -math.inf, vol, drift, horizon, mon, model)
    if (sign > 0 and s0 <= lp) or (sign < 0 and s0 >= lp):
        return _Problem(sign, "past", 0.0, vol, drift, horizon, mon, model)
    ratio = lp / s0  # 0 or inf for a liquidation price 1e-320 against 60,000: the logs' difference then
    log_ratio = math.log(ratio) if 0.0 < ratio < math.inf else math.log(lp) - math.log(s0)
    return _Problem(sign, "live", sign * log_ratio, vol, drift, horizon, mon, model)


def _check_params(model: str, params: Mapping[str, Any]) -> None:
    required, optional = _MODEL_PARAMS[model]
    unknown = sorted(set(params) - set(required) - set(optional))
    if unknown:
        allowed = ", ".join((*required, *optional)) or "none"
        raise InputError(f"unknown parameter(s) for model {model!r}: {', '.join(unknown)} (allowed: {allowed})")
    missing = [k for k in required if k not in params]
    if missing:
        raise InputError(f"model {model!r} needs parameter(s) {', '.join(missing)}; missing")
    method = params.get("method", "analytic" if model in ("gbm", "kou") else "mc")
    if model in ("gbm", "kou"):
        if method not in ("analytic", "mc"):
            raise InputError(f"method must be 'analytic' or 'mc', was {method!r}")
    elif method != "mc":
        raise InputError(f"method for model {model!r} must be 'mc', was {method!r}")


GS_SETTLED = 2.5e-4
"""The largest ``|F_n(t) - F_{n-2}(t)|`` and ``|F_n(t) - F_{n-4}(t)|`` (``n`` = ``gs_terms``,
before clipping to ``[0, 1]``) at which the Gaver-Stehfest inversion of a Kou CDF is taken as
settled; above it, or with ``F_n(t)``
outside ``[-GS_SETTLED, 1 + GS_SETTLED]``, the default method is Monte Carlo."""


def _at_horizon(horizon: float) -> Sequence[float]:
    return (horizon,)


def _method(
    prob: _Problem, params: Mapping[str, Any], at: Callable[[float], Sequence[float]] = _at_horizon
) -> tuple[str, _Analytic | None]:
    # "analytic" (with the closed form, built once) or "mc": the method asked for, else the
    # closed form for GBM, and for Kou where its inversion settles at the times ``at(horizon)``
    # (years; the closed form's horizon, the last monitoring date where there is one) at which
    # the caller reads it (:func:`_kou_settles`).
    method = params.get("method")
    if method is None and prob.model == "kou" and prob.status == "live":
        an = _analytic(prob, params)
        return ("analytic", an) if _kou_settles(an, prob, params, at(an.horizon)) else ("mc", None)
    if method is None:
        method = "analytic" if prob.model in ("gbm", "kou") else "mc"
    if method == "analytic" and prob.status == "live":
        return "analytic", _analytic(prob, params)
    return str(method), None


def _kou_settles(an: _Analytic, prob: _Problem, params: Mapping[str, Any], times: Sequence[float]) -> bool:
    """Whether the Gaver-Stehfest inversion with ``n`` terms (``an``) agrees with those of ``n - 2``
    and ``n - 4`` terms to :data:`GS_SETTLED` at ``times`` (years), before clipping, and lies in
    ``[-GS_SETTLED, 1 + GS_SETTLED]``.

    Notes
    -----
    Gaver-Stehfest (Stehfest 1970) converges in ``n`` until float64 cancellation sets in, and is
    least accurate where the CDF rises like a step (Abate and Valko, *Int. J. Numer. Meth. Eng.*
    60, 2004).  A Kou process whose jump compensation makes its drift dominate (up jumps of mean
    size 50 %, ``eta_up = 2``, nine a year: the barrier is crossed about 1.3 days out, with
    little spread) gave P = 0.1413 at 1 day with 16 terms, 0.1541 with 14 and 0.1745 with 12,
    where Monte Carlo gives 0.126, and a 2-day probability above the 4-day one.  On the
    validated cases of docs/risk.md the three inversions agree to 4.2e-5; a disagreement above
    2.5e-4 marks a CDF the inversion cannot resolve.  Two neighbours can share a step's
    oscillation by chance (16 and 14 terms 3.0e-4 and 4.6e-4 where 12 give -1.4e-3 and the
    probability is about 0), so a third is asked.
    """
    if an.raw is None:  # no jumps (lam = 0): the GBM closed form, nothing inverted
        return True
    n = integer_in(params.get("gs_terms", GS_TERMS), "gs_terms", 2, 41)
    others = [_analytic(prob, {**params, "gs_terms": m}) for m in ((n - 2, n - 4) if n >= 6 else (n + 2, n + 4))]
    for t in times:
        if t > 0.0:
            x = an.raw(t)
            # Compared before clipping: two inversions below 0 would both clip to 0 and agree.
            if not -GS_SETTLED <= x <= 1.0 + GS_SETTLED:
                return False
            for other in others:
                assert other.raw is not None
                if abs(x - other.raw(t)) > GS_SETTLED:
                    return False
    return True


# --- closed forms ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Analytic:
    cdf: Callable[[float], float]  # t (years) -> P(tau <= t), for 0 < t <= horizon
    integral: Callable[[float], float]  # t -> integral_0^t P(tau <= s) ds (years)
    horizon: float
    method: str
    raw: Callable[[float], float] | None = None  # Kou: the inversion before clipping to [0, 1]
    dt: float | None = None  # discrete monitoring: cdf is a step function changing at k dt only


def _stepped(
    prob_at: Callable[[int], float],
    total: Callable[[int], float],
    dt: float,
    horizon: float,
    method: str,
    raw: Callable[[float], float] | None = None,
) -> _Analytic:
    # The CDF of a time checked at dt, 2 dt, ...: P(tau <= t) = prob_at(k) for k dt <= t < (k+1) dt,
    # its integral dt (prob_at(1) + ... + prob_at(k - 1)) + prob_at(k) (t - k dt), with
    # total(k) = prob_at(1) + ... + prob_at(k).
    def cdf(t: float) -> float:
        return prob_at(math.floor(t / dt + 1e-9)) if t > 0.0 else 0.0

    def integral(t: float) -> float:
        k = math.floor(t / dt + 1e-9) if t > 0.0 else 0
        return dt * total(k - 1) + prob_at(k) * max(0.0, t - k * dt) if k > 0 else 0.0

    return _Analytic(cdf, integral, horizon, method, raw, dt)


def _analytic(prob: _Problem, params: Mapping[str, Any]) -> _Analytic:
    jumps = _jumps(prob, params)
    nu = _log_drift(prob, jumps)
    b = prob.barrier
    horizon = prob.horizon
    sig = prob.sigma
    dt = prob.monitoring_dt
    if dt is not None:
        n_dates = math.floor(prob.horizon / dt + 1e-9)
        horizon = n_dates * dt  # stop at the last monitoring date
        if prob.model == "gbm" or jumps.lam == 0.0:
            # Exact over the first EXACT_MAX_DATES dates, then the BGK shift (DiscreteGbm).
            walk = DiscreteGbm(b, nu, sig, dt, n_dates)
            return _stepped(walk.prob, walk.total, dt, horizon, "closed_form")
        # Kou: Broadie-Glasserman-Kou, the barrier shifted away from the spot by beta sigma
        # sqrt(dt) (diffusive sigma, after Kou 2003), read at the monitoring dates.
        b = bgk_barrier(b, sig, dt)
    if prob.model == "gbm" or jumps.lam == 0.0:

        def cdf_gbm(t: float) -> float:
            return gbm_hit_prob(b, nu, sig, t)

        def integral_gbm(t: float) -> float:
            from scipy.integrate import quad  # on first use: about 0.15 s of imports

            return float(quad(cdf_gbm, 0.0, t, limit=200, epsabs=1e-13, epsrel=1e-11)[0])

        return _Analytic(cdf_gbm, integral_gbm, horizon, "closed_form")
    n_terms = integer_in(params.get("gs_terms", GS_TERMS), "gs_terms", 2, 41)
    if n_terms % 2:
        raise InputError(f"gs_terms must be even, was {n_terms!r}")
    lam, p_up, eta_up, eta_down = jumps.lam, jumps.j1, jumps.j2, jumps.j3

    @lru_cache(maxsize=256)  # memoised: the check (_kou_settles) reads a value the answer reads again
    def raw_kou(t: float) -> float:
        return kou_hit_inversion(b, nu, sig, lam, p_up, eta_up, eta_down, t, n_terms)

    def cdf_kou(t: float) -> float:
        # kou_hit_prob's answer, from the memoised inversion.
        if b >= 0.0:
            return 1.0
        return 0.0 if t <= 0.0 else min(1.0, max(0.0, raw_kou(t)))

    def integral_kou(t: float) -> float:
        # Laplace transform of integral_0^t F is E[exp(-a tau)] / a**2.
        val = gaver_stehfest(
            lambda a: kou_hit_laplace(a, b, nu, sig, lam, p_up, eta_up, eta_down) / (a * a), t, n_terms
        )
        return min(t, max(0.0, val))

    if dt is not None:

        def kou_date(k: int) -> float:
            return cdf_kou(k * dt) if k > 0 else 0.0

        def kou_total(k: int) -> float:
            # sum_{j=1}^{k} F(j dt) by the trapezoid rule on the dates (F(0) = 0): the BGK-shifted
            # F is smooth on the scale of dt, and the shift's own error is larger.
            return integral_kou(k * dt) / dt + 0.5 * kou_date(k) if k > 0 else 0.0

        return _stepped(kou_date, kou_total, dt, horizon, "laplace_gaver_stehfest", raw_kou)
    return _Analytic(cdf_kou, integral_kou, horizon, "laplace_gaver_stehfest", raw_kou)


# --- public API -----------------------------------------------------------------------------
def prob_liquidation(
    side: str | int,
    price: float,
    liq_price: float | None,
    sigma: float,
    horizon_days: float,
    mu: float = 0.0,
    monitoring_dt_days: float | None = None,
    model: str = "gbm",
    **model_params: Any,
) -> float:
    """Return the probability that a position is liquidated within ``horizon_days``.

    Parameters
    ----------
    side : {"long", "short", 1, -1}
        Position side.
    price : float
        Current mark price, > 0.
    liq_price : float or None
        Liquidation price.  None, NaN, infinite or <= 0 means the position cannot be
        liquidated (probability 0).  A price already at or past it (long: ``price <=
        liq_price``; short: ``price >= liq_price``) gives 1.
    sigma : float
        Annualised volatility as a fraction (> 0): of the log price for ``gbm``, of the
        diffusive part for ``kou`` and ``merton``, the current conditional volatility for
        ``garch_t`` (first-step variance ``sigma**2 dt``), and the target volatility of the
        resampled returns for ``bootstrap`` (``rescale=True``).
    horizon_days : float
        Horizon in days (> 0; 365-day year).
    mu : float
        Annualised expected return of the price, ``E[S_t] = S_0 exp(mu t)`` (include funding
        drift here).  Default 0.
    monitoring_dt_days : float or None
        None: the mark price is monitored continuously.  A number (at least 1e-8, about a
        millisecond): it is checked only every ``monitoring_dt_days`` days (at ``dt, 2 dt, ... <=
        T``); 0 when ``dt > T``.
    model : {"gbm", "kou", "merton", "garch_t", "bootstrap"}
        Price model (see below).
    **model_params
        Model parameters:

        * ``kou``: ``lam`` (jumps per year), ``p_up`` (probability a jump is up), ``eta_up``
          (> 1) and ``eta_down`` (> 0), the rates of the exponential jump sizes (mean log jump
          ``1/eta_up`` up and ``1/eta_down`` down); ``gs_terms`` (even, default 16).
        * ``merton``: ``lam`` (jumps per year), ``jump_mean`` and ``jump_std`` of the normal
          log jump.
        * ``garch_t``: ``omega``, ``alpha``, ``beta`` (GARCH(1,1) per step of ``step_days``,
          default 1 day, for log returns as fractions) and ``nu`` (Student-t degrees of
          freedom, > 2; ``inf`` for normal); or ``garch=`` an object or mapping with those
          attributes/keys (``alpha[1]``/``beta[1]`` accepted); ``scale`` (default 1) is the
          factor the returns were multiplied by for fitting (100 for percent returns;
          ``omega`` is divided by ``scale**2``).
        * ``bootstrap``: ``returns`` (1-D log returns per step of ``step_days``, default 1
          day), ``block`` (circular block length, default 1 = i.i.d.), ``demean`` (default
          True: replace the sample mean by ``mu dt - v/2``), ``rescale`` (default True: scale
          to volatility ``sigma``).
        * Monte Carlo (``merton``, ``garch_t``, ``bootstrap``; ``gbm``/``kou`` with
          ``method="mc"``): ``n_paths`` (default 100,000), ``seed`` (int in ``[0, 2**63)`` or a
          ``numpy.random.Generator``; default 0, so results are reproducible), ``step_days``
          and ``bridge`` (continuous monitoring only; default True).
        * ``gbm``/``kou``: ``method`` = ``"analytic"`` or ``"mc"``.  Default: the closed form,
          and for ``kou`` Monte Carlo where the Gaver-Stehfest inversions with ``gs_terms`` and
          ``gs_terms - 2`` terms have not settled (:data:`GS_SETTLED`: a CDF rising like a
          step, which the inversion cannot resolve).

    Returns
    -------
    float
        ``P(tau <= T)`` in ``[0, 1]``.

    Raises
    ------
    InputError
        Bad side, price, sigma, horizon, mu, monitoring interval, model or model parameters
        (the message names the argument and its value).

    Notes
    -----
    *GBM, continuous monitoring* (reflection principle; Harrison 1985): with
    ``nu = mu - sigma**2/2`` and ``b = ln(LP/S) < 0`` (long),
    ``P = Phi((b - nu T)/(sigma sqrt T)) + exp(2 nu b / sigma**2) Phi((b + nu T)/(sigma sqrt T))``;
    a short applies it to ``-X`` and ``-b``.

    *Discrete monitoring, GBM* (and ``kou`` with ``lam = 0``), over the last monitoring date:
    the checked log prices are a Gaussian random walk, and over at most
    :data:`~levguard.core.risk.discrete_monitoring.EXACT_MAX_DATES` (256) dates ``P`` is computed
    exactly by the recursion over the dates of
    :func:`~levguard.core.risk.discrete_monitoring.discrete_hit_probs` (Andricopoulos et al.
    2003; Fusai and Recchioni 2007): the first date in closed form, each later one by a
    quadrature of the Gaussian step, accurate to about 1e-12.  Beyond 256 dates (and where the
    recursion's grid would be too large, a drift of several deviations a date towards a far
    barrier) the Broadie, Glasserman and Kou (1997) correction: the continuous formula at the
    shifted barrier ``LP exp(-/+ beta sigma sqrt(dt))`` (away from the price), ``beta =
    -zeta(1/2)/sqrt(2 pi) ~ 0.5826``, never below the exact value at 256 dates.  The shift is
    asymptotic in the number ``m`` of dates (its error is ``o(1/sqrt(m))``) and understates the
    risk over few dates: one daily check at 80 % volatility with the LP 10 % below is 0.0063, the
    shift gave 0.0021.  Measured at 256 dates without drift its relative error is -0.03 % to
    -0.9 %; with a drift of 0.3 step deviations a date or more it is off by several per cent
    (:class:`~levguard.core.risk.discrete_monitoring.DiscreteGbm`).  For ``kou`` with jumps the
    same shift at every number of dates, with the diffusive ``sigma`` (Kou, "On pricing of
    discrete barrier options", *Statistica Sinica* 13, 2003); docs/risk.md measures it.

    *Kou* (Kou 2002; Kou and Wang 2003): ``X_t = nu t + sigma W_t + sum Y_i`` with
    double-exponential ``Y_i`` and ``nu = mu - sigma**2/2 - lam kappa``, ``kappa = p eta_up /
    (eta_up - 1) + q eta_down / (eta_down + 1) - 1``; ``P(tau <= T)`` is the Gaver (1966) -
    Stehfest (1970) inversion of the Kou-Wang transform ``E[exp(-a tau)] / a``.

    *Merton* (Merton 1976): normal log jumps ``N(m, s**2)``, ``nu = mu - sigma**2/2 - lam
    (exp(m + s**2/2) - 1)``.  *GARCH-t*: ``r_k = mu dt - h_k/2 + sqrt(h_k) z_k``,
    ``h_{k+1} = omega + alpha (sqrt(h_k) z_k)**2 + beta h_k`` (Bollerslev 1986, 1987).

    Monte Carlo uses :mod:`levguard.kernels.paths`: exact Gaussian steps and exact jump times
    with a Brownian-bridge crossing correction ``exp(-2 (y0 - b)(y1 - b)/(sigma**2 dt))``
    between monitoring points, which makes the jump-diffusion estimates unbiased at any step
    (the step only dates ``tau``), and is an approximation for GARCH-t and bootstrap paths.
    """
    prob = _problem(side, price, liq_price, sigma, horizon_days, mu, monitoring_dt_days, model)
    _check_params(prob.model, model_params)
    if prob.status == "none":
        return 0.0
    if prob.status == "past":
        return 1.0
    if prob.monitoring_dt is not None and prob.monitoring_dt > prob.horizon * (1.0 + 1e-9):
        return 0.0
    _, an = _method(prob, model_params)
    if an is not None:
        return an.cdf(an.horizon)
    sample = _simulate(prob, model_params)
    n_hit = int(np.count_nonzero(np.isfinite(sample.tau)))
    return n_hit / int(sample.tau.shape[0])


def prob_liquidation_gbm(
    side: object,
    price: object,
    liq_price: object,
    sigma: float,
    horizon_days: float,
    mu: float = 0.0,
) -> Float64Array1D:
    """Return :func:`prob_liquidation` (``model="gbm"``, closed form, continuous monitoring) of many
    positions at one volatility, drift and horizon, validated once per batch.

    Parameters
    ----------
    side : (N,) array of +1/-1
        Position sides (numbers; :func:`prob_liquidation` also reads ``"long"``/``"short"``).
    price : (N,) float64
        Mark prices, > 0.
    liq_price : (N,) float64
        Liquidation prices; NaN, infinite or <= 0: none (probability 0).
    sigma, horizon_days, mu : float
        As :func:`prob_liquidation`, shared by every position.

    Returns
    -------
    (N,) float64
        Per position exactly ``prob_liquidation(side[i], price[i], liq_price[i], sigma,
        horizon_days, mu)``.

    Raises
    ------
    InputError
        A bad ``sigma``, ``horizon_days`` or ``mu`` (checked first), then the first position with
        a bad side or price, with :func:`prob_liquidation`'s message (a side or price that is not
        a number at all fails NumPy's conversion first).

    Notes
    -----
    The reflection-principle formula of :func:`prob_liquidation`
    (:func:`levguard.core.risk.first_passage.gbm_hit_probs`, Harrison 1985) on arrays: the
    barrier ``b = s ln(LP/S)`` and drift ``nu = s (mu - sigma**2/2)`` of the mirrored path per
    position, the normal CDFs once per batch.
    """
    arrays: list[np.ndarray] = [np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (side, price, liq_price)]
    if not arrays[0].shape == arrays[1].shape == arrays[2].shape:
        arrays = list(np.broadcast_arrays(*arrays))
    sides, prices, liqs = (a.ravel().tolist() for a in arrays)
    probs = prob_liquidation_gbm_list(sides, prices, liqs, sigma, horizon_days, mu)
    return np.array(probs).reshape(arrays[0].shape)


def prob_liquidation_gbm_list(
    side: list[float],
    price: list[float],
    liq_price: list[float],
    sigma: float,
    horizon_days: float,
    mu: float = 0.0,
) -> list[float]:
    """Return :func:`prob_liquidation_gbm` of lists of floats (equal lengths) as a list.

    The same validation and numbers; no array round trip (a forecaster's handful of positions).
    """
    vol = positive_number(sigma, "sigma")
    horizon = positive_number(horizon_days, "horizon_days") / DAYS_PER_YEAR
    drift = finite_number(mu, "mu")
    nu0 = compensated_drift(drift, vol, 0.0, 0.0)
    out = [0.0] * len(side)
    live: list[int] = []
    barriers: list[float] = []
    nus: list[float] = []
    # Per position, _problem's classification (a few float tests: a Python loop beats NumPy on
    # the guardian's handful of positions); the normal CDFs once on the live ones.
    for i, (g, s0, lp) in enumerate(zip(side, price, liq_price, strict=True)):
        if not ((g == 1.0 or g == -1.0) and 0.0 < s0 < math.inf):
            _problem(g, s0, lp, vol, horizon_days, drift, None, "gbm")  # raises its message
        if not 0.0 < lp < math.inf:
            continue  # no liquidation price: 0
        if (g > 0.0 and s0 <= lp) or (g < 0.0 and s0 >= lp):
            out[i] = 1.0  # at or past it
            continue
        live.append(i)
        barriers.append(g * math.log(lp / s0))
        nus.append(g * nu0)
    if live:
        for i, p in zip(live, gbm_hit_prob_list(barriers, nus, vol, horizon), strict=True):
            out[i] = p
    return out


def prob_liquidation_curve(
    side: str | int,
    price: float,
    liq_price: float | None,
    sigma: float,
    horizons_days: Sequence[float],
    mu: float = 0.0,
    monitoring_dt_days: float | None = None,
    model: str = "gbm",
    **model_params: Any,
) -> tuple[float, ...]:
    """Return the probabilities of liquidation within each of several horizons.

    Parameters are those of :func:`prob_liquidation`, with ``horizons_days`` (a non-empty
    sequence of horizons in days, each > 0) in place of ``horizon_days``.

    Returns
    -------
    tuple of float
        ``P(tau <= h)`` for each ``h`` in ``horizons_days``, in the same order.

    Notes
    -----
    The closed forms are evaluated at each horizon.  Monte Carlo models simulate one set of
    paths to the longest horizon and read every probability off the same simulated
    first-passage times, so the curve is non-decreasing in the horizon.  For continuous
    monitoring the default step is then ``1/k`` day (``k = ceil(100 / longest horizon)``, at
    least 1), so whole-day horizons fall on the grid; other horizons are resolved to half a
    step.
    """
    try:
        hs = tuple(positive_number(h, "horizons_days") for h in horizons_days)
    except TypeError:
        raise InputError(f"horizons_days must be a sequence of numbers, was {horizons_days!r}") from None
    if not hs:
        raise InputError("horizons_days must not be empty")
    prob = _problem(side, price, liq_price, sigma, max(hs), mu, monitoring_dt_days, model)
    _check_params(prob.model, model_params)
    if prob.status != "live":
        return tuple(0.0 if prob.status == "none" else 1.0 for _ in hs)
    mon = prob.monitoring_dt
    years = [h / DAYS_PER_YEAR for h in hs]
    ends = [t if mon is None else math.floor(t / mon + 1e-9) * mon for t in years]  # the times read
    _, an = _method(prob, model_params, at=lambda _: ends)
    if an is not None:
        return tuple(an.cdf(t_end) if t_end > 0.0 else 0.0 for t_end in ends)
    sample = _simulate(prob, model_params, aligned=True)
    tau = np.sort(sample.tau)
    n = tau.shape[0]
    return tuple(int(np.searchsorted(tau, t * (1.0 + 1e-12), side="right")) / n for t in years)


def _levels(quantile_levels: Sequence[float]) -> tuple[float, ...]:
    out = tuple(number(q, "quantile_levels") for q in quantile_levels)
    for q in out:
        if not 0.0 < q < 1.0:
            raise InputError(f"quantile_levels must lie in (0, 1), was {q!r}")
    return out


def _analytic_quantiles(an: _Analytic, p: float, fractions: Sequence[float]) -> list[float]:
    # Conditional quantiles (years): solve F(t) = f p on (0, T] by Brent's method, or for the
    # step function of discrete monitoring find its first date with F >= f p by bisection.
    t_end = an.horizon
    lo = t_end * 1e-12
    out: list[float] = []
    if an.dt is not None:  # a step function: the first monitoring date k dt with F(k dt) >= f p
        dt = an.dt
        for f in fractions:
            below, above = 0, round(t_end / dt)  # F(below dt) < f p <= F(above dt) = p
            while above - below > 1:
                mid = (below + above) // 2
                below, above = (below, mid) if an.cdf(mid * dt) >= f * p else (mid, above)
            out.append(above * dt)
        return out
    from scipy.optimize import brentq  # on first use (module import stays light for the guardian)

    for f in fractions:
        target = f * p
        if an.cdf(lo) >= target:
            out.append(lo)
        elif target >= p:
            out.append(t_end)
        else:
            out.append(float(brentq(lambda t, y=target: an.cdf(t) - y, lo, t_end, xtol=1e-12 * t_end, maxiter=200)))
    return out


def time_to_liquidation(
    side: str | int,
    price: float,
    liq_price: float | None,
    sigma: float,
    horizon_days: float,
    mu: float = 0.0,
    monitoring_dt_days: float | None = None,
    model: str = "gbm",
    quantile_levels: Sequence[float] = DEFAULT_LEVELS,
    **model_params: Any,
) -> TimeToLiquidation:
    """Return the distribution of the time to liquidation within ``horizon_days``.

    Parameters are those of :func:`prob_liquidation`, plus ``quantile_levels`` (levels in
    ``(0, 1)``, default 5 %, 25 %, 50 %, 75 %, 95 %).

    Returns
    -------
    TimeToLiquidation
        Probability, expected times (conditional on liquidation within the horizon, and capped
        at the horizon) and quantiles, in days.

    Raises
    ------
    InputError
        As :func:`prob_liquidation`, or a level outside ``(0, 1)``.

    Notes
    -----
    With ``F(t) = P(tau <= t)`` and ``p = F(T)``:

    * ``E[min(tau, T)] = T - integral_0^T F(t) dt`` and
      ``E[tau | tau <= T] = (T p - integral_0^T F(t) dt) / p`` (integration by parts).
    * The unconditional ``q``-quantile solves ``F(t) = q`` (``inf`` when ``q > p``); the
      conditional one solves ``F(t) = q p``.

    Closed forms: ``F`` is the reflection formula (GBM) or the Gaver-Stehfest inversion of
    the Kou-Wang transform (whose integral is inverted from ``E[exp(-a tau)] / a**2``); the
    integral of the GBM ``F`` is taken by adaptive quadrature and quantiles by Brent's method.
    With discrete monitoring ``tau`` is a monitoring date and ``F`` a step function of the dates
    (:func:`prob_liquidation`'s discrete probabilities): its integral is the sum ``dt (F(dt) +
    ... + F((K-1) dt))`` (for GBM beyond 20,000 dates after the 256th, and for Kou with jumps,
    by the trapezoid rule on the continuous ``F``), and quantiles are the first dates with
    ``F >= q``.  Monte Carlo: sample moments and quantiles (NumPy's default
    linear interpolation) of the simulated first-passage times, which are dated at the middle
    of the step of a continuously monitored crossing (accuracy half a step) and at the
    monitoring date otherwise.
    """
    prob = _problem(side, price, liq_price, sigma, horizon_days, mu, monitoring_dt_days, model)
    _check_params(prob.model, model_params)
    levels = _levels(quantile_levels)
    method, analytic = _method(prob, model_params, at=lambda h: (h, h / 2.0, h / 4.0))
    label = {"gbm": "closed_form", "kou": "laplace_gaver_stehfest"}.get(prob.model, "monte_carlo")
    label = label if method == "analytic" else "monte_carlo"
    t_days = prob.horizon * DAYS_PER_YEAR
    nan_q = tuple(math.nan for _ in levels)
    inf_q = tuple(math.inf for _ in levels)
    too_coarse = prob.monitoring_dt is not None and prob.monitoring_dt > prob.horizon * (1.0 + 1e-9)
    if prob.status == "none" or too_coarse:
        return TimeToLiquidation(0.0, 0.0, math.nan, t_days, levels, inf_q, nan_q, t_days, prob.model, label, 0)
    if prob.status == "past":
        zeros = tuple(0.0 for _ in levels)
        return TimeToLiquidation(1.0, 0.0, 0.0, 0.0, levels, zeros, zeros, t_days, prob.model, label, 0)
    # Conditional quantiles at the requested levels and at q / p (the unconditional levels q <= p).
    if analytic is not None:
        an = analytic
        horizon = an.horizon
        n_paths = 0
        std_err = 0.0
        p = an.cdf(horizon)
        area = min(horizon, max(0.0, an.integral(horizon))) if p > 0.0 else 0.0
        e_capped = horizon - area
        e_cond = min(horizon, max(0.0, (horizon * p - area) / p)) if p > 0.0 else math.nan

        def cond_q(fractions: Sequence[float]) -> list[float]:
            return _analytic_quantiles(an, p, fractions)

    else:
        sample = _simulate(prob, model_params)
        horizon = sample.horizon
        n_paths = sample.tau.shape[0]
        hits = sample.tau[np.isfinite(sample.tau)]
        p = hits.shape[0] / n_paths
        std_err = math.sqrt(p * (1.0 - p) / n_paths)
        e_capped = float(np.minimum(sample.tau, horizon).mean())
        e_cond = float(hits.mean()) if p > 0.0 else math.nan

        def cond_q(fractions: Sequence[float]) -> list[float]:
            return [float(x) for x in np.quantile(hits, fractions)] if len(fractions) else []

    if p > 0.0:
        cond = cond_q(levels)
        reached = [q for q in levels if q <= p]
        at = iter(cond_q([q / p for q in reached]))
        uncond = [next(at) if q <= p else math.inf for q in levels]
    else:
        cond = [math.nan] * len(levels)
        uncond = [math.inf] * len(levels)
    return TimeToLiquidation(
        prob=p,
        prob_std_error=std_err,
        expected_days_if_liquidated=e_cond * DAYS_PER_YEAR,
        expected_days_capped=e_capped * DAYS_PER_YEAR,
        quantile_levels=levels,
        quantiles_days=tuple(x * DAYS_PER_YEAR for x in uncond),
        conditional_quantiles_days=tuple(x * DAYS_PER_YEAR for x in cond),
        horizon_days=horizon * DAYS_PER_YEAR,
        model=prob.model,
        method=label,
        n_paths=n_paths,
    )
