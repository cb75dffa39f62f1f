"""Backtests of VaR and ES forecasts: Kupiec, Christoffersen, the Basel traffic light and the
Acerbi-Szekely Z2 test.

An *exception* (violation) on day t is ``I_t = 1{loss_t > VaR_t}``; with ``T`` days, ``x``
exceptions and ``p = 1 - level`` the expected exception rate, a correct model gives
``I_t ~ i.i.d. Bernoulli(p)``.  Likelihood-ratio tests use ``0 ln 0 = 0`` so that zero and all
exceptions are handled exactly.  Every test returns a frozen result with ``statistic``,
``pvalue`` and ``verdict`` (``"accept"``/``"reject"`` at ``significance``, or the Basel zone).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import bdtr, chdtrc, xlog1py, xlogy

from levguard.core.records import Record, empty_mapping, field_dict
from levguard.core.risk.var import check_level, standard_normal_var_es, standard_t_var_es
from levguard.core.validate import array_1d, number, require_finite, rng_arg, show, whole_number
from levguard.errors import InputError
from levguard.typing import BoolArray1D, Float64Array, Float64Array1D

__all__ = [
    "BacktestResult",
    "ChristoffersenResult",
    "TrafficLightResult",
    "acerbi_szekely_z2",
    "basel_traffic_light",
    "basel_zone",
    "check_significance",
    "christoffersen",
    "kupiec_pof",
    "var_exceptions",
    "z2_statistic",
]

# Basel Committee (1996), "Supervisory framework for the use of 'backtesting' in conjunction
# with the internal models approach to market risk capital requirements", Table 2: the
# increase of the multiplication factor for 5..9 exceptions in 250 days at 99%.
_BASEL_PLUS = {5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}


@dataclass(frozen=True, slots=True)
class BacktestResult(Record):
    """Outcome of one statistical backtest.

    Attributes
    ----------
    test : str
        ``kupiec_pof``, ``christoffersen_ind``, ``christoffersen_cc`` or ``acerbi_szekely_z2``.
    statistic, pvalue : float
        Test statistic and its p-value under the null of a correct model.
    verdict : str
        ``"reject"`` when ``pvalue < significance``, else ``"accept"``; ``"not computable"`` when
        the forecasts do not allow the test (``statistic`` and ``pvalue`` are then NaN).
    significance : float
        Size of the test.
    n, exceptions : int
        Observations and exceptions.
    details : Mapping[str, float]
        Test-specific numbers (degrees of freedom, rates, critical values).
    reason : str
        Why the test is not computable; ``""`` when it is.
    """

    test: str
    statistic: float
    pvalue: float
    verdict: str
    significance: float
    n: int
    exceptions: int
    details: Mapping[str, float] = field(default_factory=empty_mapping)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ChristoffersenResult:
    """Christoffersen (1998) interval-forecast tests.

    ``statistic``, ``pvalue`` and ``verdict`` are those of the conditional-coverage test (the
    joint test of the right rate and independence); the parts are ``pof`` (Kupiec),
    ``independence`` and ``conditional_coverage``.  ``n00 .. n11`` count the transitions
    ``I_{t-1} = i -> I_t = j``.
    """

    statistic: float
    pvalue: float
    verdict: str
    significance: float
    n: int
    exceptions: int
    pof: BacktestResult
    independence: BacktestResult
    conditional_coverage: BacktestResult
    n00: int
    n01: int
    n10: int
    n11: int

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return field_dict(
            self,
            omit=("n00", "n01", "n10", "n11"),
            pof=self.pof.to_dict(),
            independence=self.independence.to_dict(),
            conditional_coverage=self.conditional_coverage.to_dict(),
            transitions={"n00": self.n00, "n01": self.n01, "n10": self.n10, "n11": self.n11},
        )


@dataclass(frozen=True, slots=True)
class TrafficLightResult(Record):
    """Basel traffic-light zone of a VaR model.

    Attributes
    ----------
    zone, verdict : str
        ``"green"``, ``"yellow"`` or ``"red"`` (``verdict`` repeats ``zone``).
    statistic : float
        The number of exceptions.
    pvalue : float
        ``P(X >= x)`` for ``X ~ Binomial(n, 1 - level)``: the chance of this many exceptions or
        more from a correct model.
    cumulative_probability : float
        ``P(X <= x)``, the figure the Basel zones are defined on.
    green_max, yellow_max : int
        Most exceptions still green, still yellow, for this ``n`` and ``level``.
    plus_factor : float or None
        Basel's increase of the capital multiplier (0 green, 0.40-0.85 yellow, 1 red); only for
        the supervisory case ``n = 250``, ``level = 0.99``.
    """

    zone: str
    statistic: float
    pvalue: float
    verdict: str
    n: int
    exceptions: int
    level: float
    cumulative_probability: float
    green_max: int
    yellow_max: int
    plus_factor: float | None

    _dict_omit: ClassVar[tuple[str, ...]] = ("verdict",)  # it repeats zone


def check_significance(significance: object) -> float:
    """Return ``significance`` as float if it is a test size in (0, 1) such as 0.05, else raise
    :class:`InputError` naming it (a string, None or a bool is not a number here)."""
    try:
        s = number(significance, "significance")
    except InputError:
        s = math.nan
    if not (math.isfinite(s) and 0.0 < s < 1.0):
        raise InputError(f"significance must be in (0, 1) such as 0.05, was {show(significance)}")
    return s


def _exceptions(exceptions: npt.ArrayLike, name: str = "exceptions", min_n: int = 1) -> BoolArray1D:
    """Validate an exception indicator series: 1-D booleans (or 0/1 numbers)."""
    try:
        x = np.asarray(exceptions)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a 1-D boolean array, was {type(exceptions).__name__}") from None
    if x.ndim != 1:
        raise InputError(f"{name} must be a 1-D boolean array, was shape {x.shape}")
    if x.size < min_n:
        raise InputError(f"{name} must hold at least {min_n} observation(s), was size {x.size}")
    if x.dtype == np.bool_:
        return x
    if x.dtype.kind not in "iuf":
        raise InputError(f"{name} must be a boolean array (or 0/1 numbers), was dtype {x.dtype}")
    bad = (x != 0) & (x != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{name}[{i}] must be a boolean (0 or 1), was {x[i].item()!r}")
    return x.astype(np.bool_)


def _verdict(pvalue: float, significance: float) -> str:
    return "reject" if pvalue < significance else "accept"


def var_exceptions(losses: npt.ArrayLike, var_forecasts: npt.ArrayLike) -> BoolArray1D:
    """Return ``losses > var_forecasts`` elementwise (both positive-loss numbers, same shape)."""
    loss = _float_series(losses, "losses")
    var = _float_series(var_forecasts, "var_forecasts")
    if loss.shape != var.shape:
        raise InputError(f"losses and var_forecasts must have the same length, were {loss.size} and {var.size}")
    return loss > var


def _float_series(values: npt.ArrayLike, name: str) -> Float64Array1D:
    x = array_1d(values, name)
    if x.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D array, was shape {x.shape}")
    require_finite(x, name)
    return x


def _pof_lr(x: int, n: int, p: float) -> float:
    # -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x], with 0 ln 0 = 0.
    ll_null = xlog1py(n - x, -p) + xlogy(x, p)
    ll_alt = xlog1py(n - x, -x / n) + xlogy(x, x / n)
    return max(0.0, float(-2.0 * (ll_null - ll_alt)))


def kupiec_pof(exceptions: npt.ArrayLike, level: float, *, significance: float = 0.05) -> BacktestResult:
    """Kupiec (1995) proportion-of-failures test of the exception rate.

    Parameters
    ----------
    exceptions : array_like of bool, shape (T,)
        ``I_t = loss_t > VaR_t``.
    level : float
        VaR confidence in (0.5, 1); the expected exception rate is ``p = 1 - level``.
    significance : float
        Test size; the verdict is ``"reject"`` when ``pvalue < significance``.

    Returns
    -------
    BacktestResult
        ``details``: ``df`` (1), ``expected`` (``T p``), ``rate`` (``x / T``).

    Notes
    -----
    Kupiec (1995, "Techniques for verifying the accuracy of risk measurement models", J.
    Derivatives 3(2)); Jorion, "Value at Risk", 3rd ed., sec. 6.2:

    ``LR_POF = -2 ln[(1 - p)^(T-x) p^x] + 2 ln[(1 - x/T)^(T-x) (x/T)^x] ~ chi2(1)``.

    With ``0 ln 0 = 0``: no exceptions give ``LR = -2 T ln(1 - p)``, all exceptions
    ``LR = -2 T ln p``.  Example: 250 days at 99% with 8 exceptions give ``LR = 7.73`` (p-value 0.0054).
    """
    lv = check_level(level)
    sig = check_significance(significance)
    ind = _exceptions(exceptions)
    n, x = ind.size, int(ind.sum())
    p = 1.0 - lv
    lr = _pof_lr(x, n, p)
    pv = float(chdtrc(1, lr))
    details = {"df": 1.0, "expected": n * p, "rate": x / n}
    return BacktestResult("kupiec_pof", lr, pv, _verdict(pv, sig), sig, n, x, MappingProxyType(details))


def christoffersen(exceptions: npt.ArrayLike, level: float, *, significance: float = 0.05) -> ChristoffersenResult:
    """Christoffersen (1998) independence and conditional-coverage tests.

    Parameters
    ----------
    exceptions : array_like of bool, shape (T,)
        ``I_t = loss_t > VaR_t`` in time order, ``T >= 2``.
    level : float
        VaR confidence in (0.5, 1).
    significance : float
        Size of each test.

    Returns
    -------
    ChristoffersenResult
        Conditional coverage on top, with ``pof``, ``independence`` and
        ``conditional_coverage`` parts and the transition counts.

    Notes
    -----
    Christoffersen (1998, "Evaluating interval forecasts", Int. Economic Review 39(4)).  Count
    the ``N = T - 1`` transitions ``n_ij`` (``I_{t-1} = i``, ``I_t = j``); ``pi01 = n01 /
    (n00 + n01)``, ``pi11 = n11 / (n10 + n11)``, ``pi = (n01 + n11) / N``:

    ``LR_ind = -2 ln[(1 - pi)^(n00+n10) pi^(n01+n11)]
    + 2 ln[(1 - pi01)^n00 pi01^n01 (1 - pi11)^n10 pi11^n11] ~ chi2(1)``,

    ``LR_cc = LR_POF + LR_ind ~ chi2(2)`` (Kupiec on all ``T`` days plus independence on the
    transitions; Jorion, "Value at Risk", 3rd ed., sec. 6.2.3).  With ``0 ln 0 = 0`` an empty
    row (no exception before the last day, so ``n10 + n11 = 0``) contributes nothing and a
    series without exceptions, or of exceptions only, has ``LR_ind = 0``.
    """
    lv = check_level(level)
    sig = check_significance(significance)
    ind = _exceptions(exceptions, min_n=2)
    n, x = ind.size, int(ind.sum())
    prev, cur = ind[:-1], ind[1:]
    n00 = int(np.sum(~prev & ~cur))
    n01 = int(np.sum(~prev & cur))
    n10 = int(np.sum(prev & ~cur))
    n11 = int(np.sum(prev & cur))
    pi01 = n01 / (n00 + n01) if n00 + n01 > 0 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 > 0 else 0.0
    pi = (n01 + n11) / (n - 1)
    ll_null = xlog1py(n00 + n10, -pi) + xlogy(n01 + n11, pi)
    ll_alt = xlog1py(n00, -pi01) + xlogy(n01, pi01) + xlog1py(n10, -pi11) + xlogy(n11, pi11)
    lr_ind = max(0.0, float(-2.0 * (ll_null - ll_alt)))
    pof = kupiec_pof(ind, lv, significance=sig)
    lr_cc = pof.statistic + lr_ind
    pv_ind = float(chdtrc(1, lr_ind))
    pv_cc = float(chdtrc(2, lr_cc))
    rates = {"pi01": pi01, "pi11": pi11, "pi": pi}
    ind_res = BacktestResult(
        "christoffersen_ind", lr_ind, pv_ind, _verdict(pv_ind, sig), sig, n, x, MappingProxyType({"df": 1.0, **rates})
    )
    cc_res = BacktestResult(
        "christoffersen_cc",
        lr_cc,
        pv_cc,
        _verdict(pv_cc, sig),
        sig,
        n,
        x,
        MappingProxyType({"df": 2.0, "lr_pof": pof.statistic, "lr_ind": lr_ind}),
    )
    return ChristoffersenResult(lr_cc, pv_cc, cc_res.verdict, sig, n, x, pof, ind_res, cc_res, n00, n01, n10, n11)


_MAX_OBS = 10_000_000  # days: the binomial table below holds n_obs + 1 floats


def basel_zone(n_exceptions: int, n_obs: int, level: float = 0.99) -> TrafficLightResult:
    """Return the Basel traffic-light zone of ``n_exceptions`` in ``n_obs`` days.

    Parameters
    ----------
    n_exceptions : int
        Exceptions counted, ``0 <= n_exceptions <= n_obs``.
    n_obs : int
        Days observed (250 in the Basel rule), 1 to 10,000,000.
    level : float
        VaR confidence (0.99 in the Basel rule).

    Notes
    -----
    Basel Committee on Banking Supervision (1996), "Supervisory framework for the use of
    'backtesting' in conjunction with the internal models approach to market risk capital
    requirements", Table 2.  With ``F(x) = P(X <= x)``, ``X ~ Binomial(n, 1 - level)``: green
    while ``F(x) < 0.95``, yellow while ``F(x) < 0.9999``, red from there.  For 250 days at 99%
    ``F(4) = 0.8922``, ``F(5) = 0.9588``, ``F(9) = 0.99975``, ``F(10) = 0.99995``: green 0-4,
    yellow 5-9, red 10 or more, as in the Basel table.  Other ``n`` and ``level`` use the same
    probability thresholds.
    """
    lv = check_level(level)
    n = whole_number(n_obs, "n_obs", 1, _MAX_OBS)
    x = whole_number(n_exceptions, "n_exceptions", 0, n)
    p = 1.0 - lv
    cdf = np.asarray(bdtr(np.arange(n + 1), n, p), dtype=np.float64)
    # bdtr(n, n, p) is exactly 1; the first count reaching a threshold starts the next zone.
    green_max = int(np.argmax(cdf >= 0.95)) - 1
    yellow_max = int(np.argmax(cdf >= 0.9999)) - 1
    f = float(cdf[x])
    zone = "green" if f < 0.95 else ("yellow" if f < 0.9999 else "red")
    pvalue = 1.0 if x == 0 else float(1.0 - cdf[x - 1])
    plus: float | None = None
    if n == 250 and abs(lv - 0.99) < 1e-12:
        plus = 0.0 if zone == "green" else (1.0 if zone == "red" else _BASEL_PLUS[x])
    return TrafficLightResult(zone, float(x), pvalue, zone, n, x, lv, f, green_max, yellow_max, plus)


def basel_traffic_light(exceptions: npt.ArrayLike, level: float = 0.99) -> TrafficLightResult:
    """Return the Basel traffic-light zone of an exception series (see :func:`basel_zone`).

    The Basel rule applies it to the most recent 250 days at 99%; pass that window for the
    supervisory reading, or any window for the same binomial thresholds.
    """
    ind = _exceptions(exceptions)
    return basel_zone(int(ind.sum()), ind.size, level)


def z2_statistic(pnl: npt.ArrayLike, var_forecasts: npt.ArrayLike, es_forecasts: npt.ArrayLike, level: float) -> float:
    """Return the Acerbi-Szekely ``Z2`` statistic (see :func:`acerbi_szekely_z2`)."""
    lv = check_level(level)
    x, var, es = _z2_inputs(pnl, var_forecasts, es_forecasts)
    return float(_z2(x[None, :], var, es, lv)[0])


def _z2_inputs(
    pnl: npt.ArrayLike, var_forecasts: npt.ArrayLike, es_forecasts: npt.ArrayLike
) -> tuple[Float64Array1D, Float64Array1D, Float64Array1D]:
    x = _float_series(pnl, "pnl")
    var = _float_series(var_forecasts, "var_forecasts")
    es = _float_series(es_forecasts, "es_forecasts")
    if not x.size == var.size == es.size:
        raise InputError(
            f"pnl, var_forecasts and es_forecasts must have the same length, were {x.size}, {var.size}, {es.size}"
        )
    bad = es <= 0.0
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"es_forecasts[{i}] must be > 0 (a positive loss), was {es[i].item()!r}")
    bad = es < var
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"es_forecasts[{i}] must be >= var_forecasts[{i}], was {es[i].item()!r} < {var[i].item()!r}")
    return x, var, es


def _z2(x: Float64Array, var: Float64Array1D, es: Float64Array1D, level: float) -> Float64Array1D:
    # Rows of x are P&L paths; I_t = 1{X_t + VaR_t < 0}.
    T = x.shape[-1]
    hit = x + var < 0.0
    out: Float64Array1D = np.sum(np.where(hit, x / es, 0.0), axis=-1) / (T * (1.0 - level)) + 1.0
    return out


Simulator = Callable[[np.random.Generator, int], Float64Array]
"""``simulate(rng, n) -> (n, T)`` P&L paths drawn from the forecast distributions."""


def _location_scale(
    var: Float64Array1D, es: Float64Array1D, level: float, dist: Literal["normal", "t"], nu: float | None
) -> tuple[Float64Array1D, Float64Array1D, float]:
    """Return the loss location ``m``, scale ``s`` and the standard quantile matching (VaR, ES)."""
    if dist == "normal":
        q, es_std = standard_normal_var_es(level)
    else:
        assert nu is not None
        q, es_std = standard_t_var_es(level, nu)
    s = (es - var) / (es_std - q)
    return var - s * q, s, q


_MAX_Z2_SIMS = 100_000_000


def _nu_ok(nu: object) -> bool:
    # A real number (core.validate.number: not a bool, a string or None) > 1, finite.
    try:
        x = number(nu, "nu")
    except InputError:
        return False
    return math.isfinite(x) and x > 1.0


def acerbi_szekely_z2(
    pnl: npt.ArrayLike,
    var_forecasts: npt.ArrayLike,
    es_forecasts: npt.ArrayLike,
    level: float,
    *,
    simulate: Literal["normal", "t"] | Simulator = "normal",
    nu: float | None = None,
    n_sims: int = 10_000,
    seed: int | np.random.Generator | None = None,
    significance: float = 0.05,
) -> BacktestResult:
    """Acerbi-Szekely (2014) ``Z2`` test of Expected Shortfall forecasts.

    Parameters
    ----------
    pnl : array_like, shape (T,)
        Realised P&L (or returns) ``X_t``, gains positive.
    var_forecasts, es_forecasts : array_like, shape (T,)
        The day's VaR and ES forecasts as positive losses, ``ES_t >= VaR_t``, ``ES_t > 0``.
    level : float
        Confidence in (0.5, 1) of the forecasts (Acerbi-Szekely's ``alpha`` is ``1 - level``).
    simulate : {"normal", "t"} or callable
        The null distribution of ``X_t``.  ``"normal"``/``"t"``: the location-scale law whose
        VaR and ES at ``level`` equal the forecasts (solved per day, so the forecasts fully
        determine it; ``"t"`` needs ``nu``).  A callable ``simulate(rng, n)`` returns ``(n, T)``
        P&L paths from the model's own forecast distributions (e.g. a bootstrap of each day's
        historical window).
    nu : float, optional
        Degrees of freedom for ``simulate="t"``, > 1.
    n_sims : int
        Simulated paths for the null distribution of ``Z2`` (>= 100).
    seed : int or numpy.random.Generator, optional
        Random source.
    significance : float
        Test size.

    Returns
    -------
    BacktestResult
        ``statistic`` = observed ``Z2``; ``pvalue`` = ``(1 + #{Z2_sim <= Z2}) / (n_sims + 1)``;
        ``details``: ``critical_value`` (the ``significance`` quantile of simulated ``Z2``),
        ``sim_mean``, ``sim_sd``, ``n_sims``.

    Notes
    -----
    Acerbi & Szekely (2014, "Backtesting Expected Shortfall", Risk, December), test 2: with
    ``I_t = 1{X_t + VaR_t < 0}`` and ``alpha = 1 - level``,

    ``Z2 = sum_t X_t I_t / (T alpha ES_t) + 1``.

    Under the null (the forecast distributions are the true ones) ``E[Z2] = 0``; underestimated
    ES or VaR make ``Z2`` negative, so the test is one-sided on the left and the p-value is the
    simulated probability of a ``Z2`` at least as low.  Acerbi-Szekely report the 5% critical
    value ``-0.70`` across a range of distributions; this function simulates the exact one for
    the given forecasts.
    """
    lv = check_level(level)
    sig = check_significance(significance)
    x, var, es = _z2_inputs(pnl, var_forecasts, es_forecasts)
    T = x.size
    n_sims = whole_number(n_sims, "n_sims", 100, _MAX_Z2_SIMS)
    rng = rng_arg(seed)
    z_obs = float(_z2(x[None, :], var, es, lv)[0])
    sims = np.empty(int(n_sims))
    chunk = max(1, 2_000_000 // T)
    if callable(simulate):
        draw: Simulator = simulate
    elif simulate in ("normal", "t"):
        if simulate == "t" and not _nu_ok(nu):
            raise InputError(f"nu must be > 1 for simulate='t', was {show(nu)}")
        m, s, _ = _location_scale(var, es, lv, simulate, nu)
        if simulate == "normal":

            def draw(g: np.random.Generator, k: int) -> Float64Array:
                return -(m + s * g.standard_normal((k, T)))

        else:
            assert nu is not None
            df = float(nu)

            def draw(g: np.random.Generator, k: int) -> Float64Array:
                return -(m + s * g.standard_t(df, (k, T)))

    else:
        raise InputError(f"simulate must be 'normal', 't' or a callable, was {simulate!r}")
    done = 0
    while done < n_sims:
        k = min(chunk, int(n_sims) - done)
        paths = np.asarray(draw(rng, k), dtype=np.float64)
        if paths.shape != (k, T):
            raise InputError(f"simulate(rng, {k}) must return shape ({k}, {T}), was {paths.shape}")
        sims[done : done + k] = _z2(paths, var, es, lv)
        done += k
    pv = float((1 + np.sum(sims <= z_obs)) / (n_sims + 1))
    details = {
        "critical_value": float(np.quantile(sims, sig)),
        "sim_mean": float(np.mean(sims)),
        "sim_sd": float(np.std(sims, ddof=1)),
        "n_sims": float(n_sims),
        "expected_exceptions": T * (1.0 - lv),
    }
    hits = int(np.sum(x + var < 0.0))
    return BacktestResult("acerbi_szekely_z2", z_obs, pv, _verdict(pv, sig), sig, T, hits, MappingProxyType(details))
