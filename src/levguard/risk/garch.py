"""GARCH(1,1) and GJR-GARCH(1,1) with Student-t innovations, fitted with ``arch``.

:func:`fit_garch` wraps ``arch.arch_model`` (Sheppard, https://arch.readthedocs.io): it rescales
the returns to a range the optimiser handles well, fits by maximum likelihood, turns the
parameters and every output back into the original units, annualises the conditional
volatility with a 365-day year, and captures ``arch``'s warnings (a failed optimisation raises
:class:`~levguard.errors.DataError`; nothing is printed).  The result's standardised residuals
feed filtered historical simulation (FHS).

Model, per bar ``t`` (returns ``r_t`` as fractions, e.g. log returns):

``r_t = mu + e_t``, ``e_t = sigma_t z_t``, ``z_t ~ i.i.d. Student-t(nu)`` scaled to unit variance,

``sigma_t^2 = omega + (alpha + gamma 1{e_{t-1} < 0}) e_{t-1}^2 + beta sigma_{t-1}^2``

with ``gamma = 0`` for GARCH(1,1) (Bollerslev 1986, J. Econometrics 31(3); Student-t: Bollerslev
1987, Rev. Econ. Stat. 69(3)) and ``gamma`` free for GJR-GARCH (Glosten, Jagannathan & Runkle
1993, J. Finance 48(5)).  ``mu = 0`` with ``mean="zero"``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from levguard.core.risk import volatility as cv
from levguard.core.risk.var import garch_persistence
from levguard.core.validate import array_1d, require_squarable, show
from levguard.errors import DataError, InputError
from levguard.risk.vol import _interval_ns, _resolve_periods, _time_ordered
from levguard.typing import Float64Array1D

__all__ = ["GarchFit", "GarchForecast", "fit_garch"]

GarchModel = Literal["garch", "gjr"]
GarchDist = Literal["t", "normal"]
GarchMean = Literal["zero", "constant"]

MIN_OBS = 100
"""Fewest returns :func:`fit_garch` accepts."""

INTEGRATED_TOL = 1e-6
"""A fit with ``persistence >= 1 - INTEGRATED_TOL`` is treated as integrated (IGARCH)."""

# arch's parameter names -> levguard's.
_NAMES = {"mu": "mu", "omega": "omega", "alpha[1]": "alpha", "gamma[1]": "gamma", "beta[1]": "beta", "nu": "nu"}


@dataclass(frozen=True, eq=False)
class GarchForecast:
    """Variance forecasts for the next ``horizon`` bars after the fit sample.

    Attributes
    ----------
    horizon : int
        Number of steps ``h``.
    variance : (h,) ndarray
        ``E[sigma^2_{T+j}]`` per bar, ``j = 1 .. h`` (return units squared).
    vol : (h,) ndarray
        ``sqrt(variance)``: volatility per bar of each future bar.
    annualised_vol : (h,) ndarray
        ``sqrt(variance * periods_per_year)``.
    cumulative_variance : (h,) ndarray
        ``sum_{i <= j} variance[i]``: variance of the ``j``-bar aggregate return.
    cumulative_vol : (h,) ndarray
        ``sqrt(cumulative_variance)``: volatility of the return over the next ``j`` bars.
    """

    horizon: int
    variance: Float64Array1D
    vol: Float64Array1D
    annualised_vol: Float64Array1D
    cumulative_variance: Float64Array1D
    cumulative_vol: Float64Array1D


@dataclass(frozen=True, eq=False)
class GarchFit:
    """A fitted GARCH(1,1) or GJR-GARCH(1,1) model, in the units of the input returns.

    Attributes
    ----------
    model, dist, mean : str
        ``"garch"``/``"gjr"``, ``"t"``/``"normal"``, ``"zero"``/``"constant"``.
    params : Mapping[str, float]
        ``omega`` (per-bar variance units), ``alpha``, ``beta``, ``gamma`` (GJR), ``nu``
        (Student-t), ``mu`` (constant mean, return units).
    std_errors : Mapping[str, float]
        Robust (Bollerslev-Wooldridge) standard errors of ``params``, same units.
    loglik, aic, bic : float
        Log-likelihood of the original (unscaled) returns, and the information criteria.
    nobs : int
        Returns used.
    periods_per_year : float
        Bars per 365-day year used to annualise.
    scale : float
        The factor the returns were multiplied by for the optimiser (1 with ``rescale=False``).
    conditional_vol : ndarray or Series
        Annualised conditional volatility ``sigma_t sqrt(periods_per_year)`` of each bar
        (a Series with the input's index when the input had one).
    standardized_residuals : ndarray or Series
        ``z_t = (r_t - mu) / sigma_t`` (unit variance under the model): the innovations that
        filtered historical simulation resamples.
    nu : float
        Student-t degrees of freedom (NaN for normal innovations).
    persistence : float
        ``alpha + beta + gamma / 2`` (symmetric innovations): the decay rate of variance shocks.
        ``arch`` bounds it by 1; fits at the bound (IGARCH, common for hourly crypto returns)
        are flagged in ``warnings``.
    unconditional_variance : float
        ``omega / (1 - persistence)`` per bar (inf when ``persistence >= 1 - 1e-6``).
    unconditional_vol : float
        ``sqrt(unconditional_variance * periods_per_year)``, annualised.
    warnings : tuple of str
        Non-fatal ``arch`` warnings captured during the fit.
    """

    model: str
    dist: str
    mean: str
    params: Mapping[str, float]
    std_errors: Mapping[str, float]
    loglik: float
    aic: float
    bic: float
    nobs: int
    periods_per_year: float
    scale: float
    conditional_vol: Any
    standardized_residuals: Any
    nu: float
    persistence: float
    unconditional_variance: float
    unconditional_vol: float
    warnings: tuple[str, ...] = ()
    _result: Any = field(default=None, repr=False, compare=False)

    @property
    def half_life(self) -> float:
        """Return the half-life of a variance shock in bars, ``ln 0.5 / ln(persistence)``."""
        p = self.persistence
        return math.log(0.5) / math.log(p) if 0.0 < p < 1.0 else math.inf

    def forecast(self, h: int) -> GarchForecast:
        """Return the analytic variance forecasts for the next ``h`` bars.

        Parameters
        ----------
        h : int
            Horizon in bars, ``>= 1``.

        Returns
        -------
        GarchForecast
            Per-bar and annualised forecasts for steps ``1 .. h``.

        Notes
        -----
        ``sigma^2_{T+1}`` is known at ``T``; beyond, ``E[sigma^2_{T+j}] = sigma_bar^2 +
        persistence^(j-1) (sigma^2_{T+1} - sigma_bar^2)`` with ``sigma_bar^2`` the
        unconditional variance, so the forecasts converge to it geometrically (computed by
        ``arch``'s analytic forecaster).
        """
        if isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1:
            raise InputError(f"h must be an integer >= 1, was {h!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = self._result.forecast(horizon=int(h), reindex=False, method="analytic")
        var = np.asarray(fc.variance.to_numpy()[-1], dtype=np.float64) / self.scale**2
        cum = np.cumsum(var)
        return GarchForecast(
            horizon=int(h),
            variance=var,
            vol=np.sqrt(var),
            annualised_vol=np.sqrt(var * self.periods_per_year),
            cumulative_variance=cum,
            cumulative_vol=np.sqrt(cum),
        )


def _returns(returns: object) -> tuple[Float64Array1D, pd.Index | None, object]:
    # (values, index or None, attrs interval) from a Series, an OHLCV frame (log returns of its
    # closes) or an array.
    if isinstance(returns, pd.DataFrame | pd.Series):
        _time_ordered(returns.index, "returns")
    if isinstance(returns, pd.DataFrame):
        if "close" not in returns.columns:
            raise InputError(
                f"returns must be a Series of returns or a frame with a close column, had {list(returns.columns)}"
            )
        r = cv.log_returns(array_1d(returns["close"], "returns['close']"))
        return r, returns.index[1:], returns.attrs.get("interval")
    if isinstance(returns, pd.Series):
        return array_1d(returns, "returns"), returns.index, returns.attrs.get("interval")
    try:
        arr = np.ascontiguousarray(returns, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        raise InputError(f"returns must be a 1-D array of numbers, was {type(returns).__name__}") from None
    return arr, None, None


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    # A str first: an array compared element-wise (a raw "truth value of an array is ambiguous").
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, was {show(value)}")
    return value


def _scale_for(std: float) -> float:
    # A power of ten that puts the standard deviation in [1, 10): arch's optimiser is tuned for
    # returns in percent-like units (it warns when the variance is outside [1, 1000)).
    return float(10.0 ** math.ceil(-math.log10(std))) if std < 1.0 or std >= 10.0 else 1.0


def _wrap(values: Any, index: pd.Index | None, name: str) -> Any:
    arr = np.asarray(values, dtype=np.float64)
    return pd.Series(arr, index=index, name=name) if index is not None else arr


def fit_garch(
    returns: object,
    *,
    model: GarchModel = "garch",
    dist: GarchDist = "t",
    mean: GarchMean = "zero",
    interval: str | int | pd.Timedelta | None = None,
    rescale: bool = True,
    max_iter: int = 500,
) -> GarchFit:
    """Fit GARCH(1,1) or GJR-GARCH(1,1) to returns by maximum likelihood (``arch``).

    Parameters
    ----------
    returns : Series, ndarray or DataFrame
        Returns per bar as fractions (log returns), finite, at least 100; or an OHLCV frame,
        whose close-to-close log returns are used.
    model : {"garch", "gjr"}
        Symmetric GARCH(1,1) or GJR-GARCH(1,1) (``o = 1``: a leverage term ``gamma``).
    dist : {"t", "normal"}
        Innovation distribution: standardised Student-t (default) or normal.
    mean : {"zero", "constant"}
        Zero mean (usual for intraday crypto returns) or a constant ``mu``.
    interval : str, int or Timedelta, optional
        Bar interval for annualisation (``"1h"``).  Default: ``attrs["interval"]`` of the input,
        else the median spacing of its DatetimeIndex.
    rescale : bool
        Multiply the returns by a power of ten that puts their standard deviation in [1, 10)
        before fitting (results are reported in the original units either way).
    max_iter : int
        Iteration limit of the optimiser (SLSQP).

    Returns
    -------
    GarchFit
        Parameters, fit statistics, annualised conditional volatility, standardised residuals
        and an h-step :meth:`GarchFit.forecast`.

    Raises
    ------
    InputError
        Too few or non-finite returns, zero variance, an unknown option, no interval.
    DataError
        The optimiser did not converge or returned non-finite parameters.

    Notes
    -----
    Bollerslev (1986); GJR: Glosten, Jagannathan & Runkle (1993); Student-t innovations:
    Bollerslev (1987).  Fitted with ``arch.arch_model(y * scale, mean=..., vol="GARCH", p=1,
    o=0|1, q=1, dist=...)``.  Scaling by ``s`` multiplies ``omega`` by ``s^2`` and ``mu`` by
    ``s``; the log-likelihood of the original returns is ``loglik_scaled + n ln s``.
    """
    model_s = _check_choice(model, "model", get_args(GarchModel))
    dist_s = _check_choice(dist, "dist", get_args(GarchDist))
    mean_s = _check_choice(mean, "mean", get_args(GarchMean))
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InputError(f"max_iter must be an integer >= 1, was {max_iter!r}")
    r, index, attrs_interval = _returns(returns)
    if r.ndim != 1:
        raise InputError(f"returns must be 1-D, was an array of shape {r.shape}")
    if r.shape[0] < MIN_OBS:
        raise InputError(f"returns must hold at least {MIN_OBS} values for a GARCH fit, had {r.shape[0]}")
    bad = ~np.isfinite(r)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"returns must be finite, was returns[{i}]={float(r[i])!r}")
    require_squarable(r, "returns")  # 1e160 is finite, its square inf: the standard deviation was inf
    std = float(np.std(r))
    if not std > 0.0:
        raise InputError("returns must vary, had a standard deviation of 0")
    ppy = _resolve_periods(None if interval is None else _interval_ns(interval), attrs_interval, index)
    scale = _scale_for(std) if rescale else 1.0

    from arch import arch_model  # heavy import, deferred to first use

    am = arch_model(
        r * scale,
        mean="Zero" if mean_s == "zero" else "Constant",
        vol="GARCH",
        p=1,
        o=1 if model_s == "gjr" else 0,
        q=1,
        dist="t" if dist_s == "t" else "normal",
        rescale=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = am.fit(disp="off", show_warning=True, options={"maxiter": max_iter})
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise DataError(f"GARCH fit failed ({model_s}, dist={dist_s}): {exc}") from exc
    messages = tuple(f"{w.category.__name__}: {w.message}" for w in caught)
    if res.convergence_flag != 0:
        detail = getattr(res.optimization_result, "message", "")
        raise DataError(
            f"GARCH fit did not converge ({model_s}, dist={dist_s}, flag {res.convergence_flag}: {detail}); "
            "try more data, rescale=True or a larger max_iter"
        )
    raw = {_NAMES[str(k)]: float(v) for k, v in res.params.items()}
    if not all(math.isfinite(v) for v in raw.values()):
        raise DataError(f"GARCH fit returned non-finite parameters {raw}")
    raw_se = {_NAMES[str(k)]: float(v) for k, v in res.std_err.items()}
    unit = {"omega": scale**2, "mu": scale}
    params = {k: v / unit.get(k, 1.0) for k, v in raw.items()}
    std_errors = {k: v / unit.get(k, 1.0) for k, v in raw_se.items()}

    n = int(res.nobs)
    log_scale = n * math.log(scale)
    loglik = float(res.loglikelihood) + log_scale
    aic = float(res.aic) - 2.0 * log_scale
    bic = float(res.bic) - 2.0 * log_scale
    persistence = garch_persistence(params["alpha"], params["beta"], params.get("gamma", 0.0))
    if persistence < 1.0 - INTEGRATED_TOL:
        uncond = params["omega"] / (1.0 - persistence)
    else:
        uncond = math.inf
        messages += (
            f"IntegratedGarch: persistence {persistence:.10f} is at the stationarity bound (IGARCH); "
            "the unconditional variance is undefined and h-step variance forecasts grow without bound",
        )
    cond_vol = np.asarray(res.conditional_volatility, dtype=np.float64) / scale
    std_resid = np.asarray(res.std_resid, dtype=np.float64)
    return GarchFit(
        model=model_s,
        dist=dist_s,
        mean=mean_s,
        params=MappingProxyType(params),
        std_errors=MappingProxyType(std_errors),
        loglik=loglik,
        aic=aic,
        bic=bic,
        nobs=n,
        periods_per_year=ppy,
        scale=scale,
        conditional_vol=_wrap(cond_vol * math.sqrt(ppy), index, "conditional_vol"),
        standardized_residuals=_wrap(std_resid, index, "std_resid"),
        nu=params.get("nu", math.nan),
        persistence=persistence,
        unconditional_variance=uncond,
        unconditional_vol=math.sqrt(uncond * ppy),
        warnings=messages,
        _result=res,
    )
