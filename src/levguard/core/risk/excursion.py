"""The calibrated liquidation forecaster: scaled empirical excursions with a Pareto tail.

A position is liquidated when the mark price touches its liquidation price.  With the mark at
``S_0`` (the close of the last bar at the forecast time) and ``b`` the log distance to the
liquidation price (``-ln(1 - d)`` for a long, ``ln(1 + d)`` for a short, ``d`` the fractional
distance), liquidation within ``H`` hours is the event ``A_H >= b`` where ``A_H`` is the
*adverse excursion*: ``ln S_0 - min ln(low)`` (long) or ``max ln(high) - ln S_0`` (short) over
the next ``H`` hourly bars.  Highs and lows are used, so the intrabar path counts.

The model (``excursion``, the default) writes ``A_H = sigma_t sqrt(H) U`` where ``sigma_t`` is
an hourly volatility known at the forecast time and ``U`` a standardised excursion whose
distribution is read from the asset's own history:

* ``sigma_t``: the square root of a blend of two exponentially weighted means of Parkinson's
  hourly range variance, ``w * ewma(h_short) + (1 - w) * ewma(h_long)`` (a two-component
  volatility in the spirit of Engle and Lee, 1999, and Corsi's HAR, 2009: the short component
  tracks clustering, the long one the level volatility reverts to over a week).
* ``U``: every past hourly start ``s`` whose ``H``-hour window closed by the last refit gives a
  sample ``A_H(s) / (sigma_s sqrt(H))``, long and short excursions pooled (filtered historical
  simulation, Barone-Adesi, Giannopoulos and Vosper, 1999, applied to the first passage rather
  than to the return).  The survival function is the empirical one up to the
  ``tail_quantile`` and a generalised Pareto tail beyond (peaks over threshold, Pickands 1975;
  Balkema and de Haan 1974), fitted by probability-weighted moments (Hosking and Wallis, 1987)
  with the shape held at or above 0 (a tail no thinner than exponential).

So the forecast is ``P = S_U(b / (sigma_t sqrt(H)))``: fat tails, jumps, the asymmetry of
the pooled sample and the intrabar path come from the data; clustering from ``sigma_t``.  With
too little history the reference excursions stand in (:func:`reference_distribution`: those of
the BTCUSDT and ETHUSDT marks to 2022, on the same scale), or, with
``short_history="brownian"``, the Brownian first passage ``S_U(z) = 2 Phi(-z)`` (reflection
principle, driftless), which is also the closed-form special case.

Everything here is arrays in, arrays out; :mod:`levguard.core.risk.forecast` holds the bars, the
refit schedule and the models; :func:`levguard.risk.liquidation_forecasts` is the pandas face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.special import ndtr

from levguard.core.risk.liquidation import prob_liquidation_gbm_list
from levguard.core.validate import no_bools_or_strings, non_negative, number, positive, show, side_sign
from levguard.errors import InputError
from levguard.kernels import readonly
from levguard.kernels.forecast import ewma_mean_nb, forward_max_nb, forward_min_nb
from levguard.typing import Float64Array1D

__all__ = [
    "HORIZON_GRID_HOURS",
    "REFERENCE_FIELDS",
    "REFERENCE_QUANTILES",
    "SHORT_HISTORY",
    "VARIANCE_PROXIES",
    "ExcursionDistribution",
    "ExcursionForecaster",
    "ExcursionParams",
    "GbmForecaster",
    "adverse_excursions",
    "blended_sigma",
    "brownian_sf",
    "combine_grid",
    "excursion_probabilities",
    "fit_excursion_distribution",
    "gpd_pwm",
    "grid_upper",
    "log_barrier",
    "reference_applies",
    "reference_distribution",
    "reference_table",
]


VARIANCE_PROXIES: tuple[str, ...] = ("parkinson", "close")
"""Per-bar variance proxies accepted by :class:`ExcursionParams`."""

HALF_LIFE_MAX_H = 876_000.0
"""Longest half-life :class:`ExcursionParams` takes, hours (a century)."""
DAYS_MAX = 36_500.0
"""Longest ``refit_days`` and ``min_history_days`` :class:`ExcursionParams` takes (a century)."""

SHORT_HISTORY: tuple[str, ...] = ("reference", "brownian")
"""What :class:`ExcursionParams` uses at a horizon whose own history is too short:
``reference`` (the reference excursions of :mod:`levguard.core.risk.excursion_reference`) or
``brownian`` (the closed form :func:`brownian_sf`)."""


@dataclass(frozen=True, slots=True)
class ExcursionParams:
    """Parameters of the ``excursion`` forecaster (the defaults are the validated model).

    Attributes
    ----------
    short_half_life_h : float
        Half-life of the short volatility component, hours (24).
    long_half_life_h : float
        Half-life of the long component, hours (720: 30 days).
    short_weight : float
        Weight ``w`` of the short component's variance, in ``[0, 1]`` (0.5).
    tail_quantile : float
        Quantile of the standardised excursions above which the Pareto tail replaces the
        empirical survival function, in ``(0.5, 1)`` (0.95).
    refit_days : float
        The empirical distribution is refitted every ``refit_days`` days on a grid anchored at
        the Unix epoch, so the fit used at a time never depends on later data (30).
    min_history_days : float
        Days of closed excursion windows needed before the empirical distribution is used;
        with fewer, ``short_history`` says what stands in (90).
    variance : {"parkinson", "close"}
        Per-bar variance proxy of :func:`blended_sigma` (``"parkinson"``).
    short_history : {"reference", "brownian"}
        The distribution used at a horizon with fewer than ``min_history_days`` of closed
        windows: the reference excursions (:func:`reference_distribution`, ``"reference"``) or
        the Brownian closed form (``"brownian"``, the only behaviour before this release).

    Notes
    -----
    Chosen on the BTCUSDT and ETHUSDT marks up to 2022-12-31 only (docs/validation.md).
    """

    short_half_life_h: float = 24.0
    long_half_life_h: float = 720.0
    short_weight: float = 0.5
    tail_quantile: float = 0.95
    refit_days: float = 30.0
    min_history_days: float = 90.0
    variance: str = "parkinson"
    short_history: str = "reference"

    def __post_init__(self) -> None:
        # A half-life of 1e17 hours rounds the decay 0.5**(1/h) to 1: the volatility was NaN and
        # every probability 0.  The bounds are far beyond any use: a century of hours or days.
        for name in ("short_half_life_h", "long_half_life_h"):
            if not positive(getattr(self, name), name) <= HALF_LIFE_MAX_H:
                raise InputError(f"{name} must be at most {HALF_LIFE_MAX_H:g} hours, was {show(getattr(self, name))}")
        for name in ("refit_days", "min_history_days"):
            if not non_negative(getattr(self, name), name) <= DAYS_MAX:
                raise InputError(f"{name} must be at most {DAYS_MAX:g} days, was {show(getattr(self, name))}")
        if not self.refit_days >= 1.0 / 24.0:  # refits on hourly bars; 1e-20 days was a step of 0 ns
            raise InputError(f"refit_days must be at least 1/24 (an hour), was {self.refit_days!r}")
        if self.variance not in VARIANCE_PROXIES:
            raise InputError(f"variance must be one of {', '.join(VARIANCE_PROXIES)}, was {self.variance!r}")
        if self.short_history not in SHORT_HISTORY:
            raise InputError(f"short_history must be one of {', '.join(SHORT_HISTORY)}, was {self.short_history!r}")
        if not 0.0 <= number(self.short_weight, "short_weight") <= 1.0:
            raise InputError(f"short_weight must be in [0, 1], was {self.short_weight!r}")
        if not 0.5 < number(self.tail_quantile, "tail_quantile") < 1.0:
            raise InputError(f"tail_quantile must be in (0.5, 1), was {self.tail_quantile!r}")


def log_barrier(side: Float64Array1D, distance: Float64Array1D) -> Float64Array1D:
    """Return the log distance ``b > 0`` from the mark to the liquidation price.

    Parameters
    ----------
    side : (N,) float64
        ``+1`` long, ``-1`` short.
    distance : (N,) float64
        Fractional adverse move to the liquidation price, ``>= 0`` (``< 1`` for a long).

    Returns
    -------
    (N,) float64
        ``-ln(1 - d)`` for a long, ``ln(1 + d)`` for a short (``inf`` for a long with
        ``d >= 1``: the price cannot reach 0).
    """
    d = np.asarray(distance, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        long_b = np.where(d < 1.0, -np.log1p(-np.minimum(d, 1.0)), np.inf)
    return np.where(np.asarray(side) > 0, long_b, np.log1p(d))


def blended_sigma(
    log_close: Float64Array1D, log_high: Float64Array1D, log_low: Float64Array1D, params: ExcursionParams
) -> Float64Array1D:
    """Return the hourly volatility known after each bar's close.

    Parameters
    ----------
    log_close, log_high, log_low : (N,) float64
        Log closes, highs and lows of consecutive hourly bars; a missing bar has a NaN close
        (and non-finite high/low) and contributes nothing.
    params : ExcursionParams
        Half-lives, weight and the variance input.

    Returns
    -------
    (N,) float64
        ``sigma[t] = sqrt(w ewma_short[t] + (1 - w) ewma_long[t])`` of the per-bar variance
        proxies up to and including bar ``t`` (NaN before the first finite proxy).

    Notes
    -----
    The per-bar variance proxy is Parkinson's range estimator ``(ln H - ln L)**2 / (4 ln 2)``
    (Parkinson, "The extreme value method for estimating the variance of the rate of return",
    *Journal of Business* 53(1), 1980), about five times as efficient as the squared
    close-to-close return (``variance="close"``) and driven by the same highs and lows that
    trigger liquidations.  Each component is the bias-corrected exponentially weighted mean of
    :func:`levguard.kernels.forecast.ewma_mean_py` with decay ``0.5 ** (1 / half_life)``.
    """
    if params.variance == "parkinson":
        with np.errstate(invalid="ignore"):
            proxy = (np.asarray(log_high, dtype=np.float64) - np.asarray(log_low, dtype=np.float64)) ** 2
        proxy = np.where(np.isfinite(proxy), proxy / (4.0 * math.log(2.0)), np.nan)
    else:
        x = np.asarray(log_close, dtype=np.float64)
        proxy = np.full(x.shape[0], np.nan)
        proxy[1:] = np.diff(x) ** 2
    short = np.empty_like(proxy)
    long_ = np.empty_like(proxy)
    ewma_mean_nb(proxy, 0.5 ** (1.0 / params.short_half_life_h), short)
    ewma_mean_nb(proxy, 0.5 ** (1.0 / params.long_half_life_h), long_)
    w = params.short_weight
    out: Float64Array1D = np.sqrt(w * short + (1.0 - w) * long_)
    return out


def adverse_excursions(
    log_close: Float64Array1D, log_low: Float64Array1D, log_high: Float64Array1D, hours: int
) -> tuple[Float64Array1D, Float64Array1D]:
    """Return the long and short adverse log excursions of every hourly start.

    Parameters
    ----------
    log_close, log_low, log_high : (N,) float64
        Log closes, lows and highs of consecutive hourly bars.
    hours : int
        Horizon ``H`` in bars, ``>= 1``.

    Returns
    -------
    (long, short) : two (N,) float64
        For the start after bar ``j`` (the mark at ``close[j]``): ``long[j] = log_close[j] -
        min(log_low[j+1 : j+1+H])`` and ``short[j] = max(log_high[j+1 : j+1+H]) -
        log_close[j]``; NaN where the window runs past the last bar.
    """
    n = log_close.shape[0]
    lo = np.empty(n)
    hi = np.empty(n)
    forward_min_nb(np.ascontiguousarray(log_low, dtype=np.float64), hours, lo)
    forward_max_nb(np.ascontiguousarray(log_high, dtype=np.float64), hours, hi)
    long_ = np.full(n, np.nan)
    short = np.full(n, np.nan)
    long_[:-1] = log_close[:-1] - lo[1:]
    short[:-1] = hi[1:] - log_close[:-1]
    return long_, short


def gpd_pwm(excesses: Float64Array1D) -> tuple[float, float]:
    """Fit a generalised Pareto distribution to excesses by probability-weighted moments.

    Parameters
    ----------
    excesses : (M,) float64
        Excesses over the threshold, ``>= 0``; ``M >= 2``.

    Returns
    -------
    (xi, beta) : (float, float)
        Shape (held at ``>= 0``) and scale ``> 0`` of ``P(Y > y) = (1 + xi y / beta) ** (-1 /
        xi)`` (``exp(-y / beta)`` at ``xi = 0``).

    Notes
    -----
    Hosking and Wallis, "Parameter and quantile estimation for the generalized Pareto
    distribution", *Technometrics* 29(3), 1987: with ``a0`` the mean and ``a1 = mean((1 - p_i)
    y_(i))``, ``p_i = (i - 0.35) / M`` over the ascending order statistics, ``k = a0 / (a0 - 2
    a1) - 2`` and ``beta = 2 a0 a1 / (a0 - 2 a1)``; their ``k`` is ``-xi``.  With ``xi`` held at
    0 the scale is the exponential's maximum-likelihood ``beta = a0``.
    """
    y = np.sort(np.asarray(excesses, dtype=np.float64))
    m = y.shape[0]
    if m < 2:
        raise InputError(f"excesses needs at least 2 values, had {m}")
    a0 = float(y.mean())
    p = (np.arange(1, m + 1) - 0.35) / m
    a1 = float(np.mean((1.0 - p) * y))
    den = a0 - 2.0 * a1
    if a0 <= 0.0 or den <= 0.0:
        return 0.0, max(a0, 1e-12)
    xi = -(a0 / den - 2.0)
    if xi <= 0.0:
        return 0.0, a0
    return xi, 2.0 * a0 * a1 / den


def brownian_sf(z: Float64Array1D) -> Float64Array1D:
    """Return ``P(max_{t<=1} W_t >= z) = 2 Phi(-z)`` (1 for ``z <= 0``).

    Notes
    -----
    Reflection principle for standard Brownian motion (Harrison, *Brownian Motion and
    Stochastic Flow Systems*, 1985, section 1.8): the driftless case of
    :func:`levguard.core.risk.first_passage.gbm_hit_prob`.
    """
    zz = np.asarray(z, dtype=np.float64)
    out: Float64Array1D = np.where(zz <= 0.0, 1.0, np.minimum(1.0, 2.0 * ndtr(-zz)))
    return out


@dataclass(frozen=True, slots=True)
class ExcursionDistribution:
    """Survival function of standardised excursions: empirical body, Pareto tail.

    Attributes
    ----------
    samples : (M,) float64
        The standardised excursions, sorted ascending (empty: Brownian fallback).
    threshold : float
        The tail threshold ``u`` (the ``tail_quantile`` of the samples).
    tail_mass : float
        Share of samples above ``u``.
    xi, beta : float
        Pareto shape (``>= 0``) and scale of the excesses over ``u``.
    source : {"history", "reference", "brownian"}
        Where it comes from: the asset's own history, the reference excursions
        (:func:`reference_distribution`; ``samples`` are then its quantiles), or the Brownian
        closed form (no samples).
    """

    samples: Float64Array1D
    threshold: float
    tail_mass: float
    xi: float
    beta: float
    source: str = "history"

    @property
    def empirical(self) -> bool:
        """Whether the distribution was fitted on the asset's own history."""
        return self.source == "history"

    def sf(self, z: Float64Array1D) -> Float64Array1D:
        """Return ``P(U >= z)`` for standardised distances ``z`` (non-increasing in ``z``).

        Notes
        -----
        ``#{U_i >= z} / M`` for ``z <= u``; ``tail_mass * (1 + xi (z - u) / beta) ** (-1 / xi)``
        beyond (the exponential at ``xi = 0``), which joins the empirical part without a rise
        because ``#{U_i >= z} >= #{U_i > u}`` for ``z <= u``.
        """
        zz = np.asarray(z, dtype=np.float64)
        if self.samples.shape[0] == 0:
            return brownian_sf(zz)
        m = self.samples.shape[0]
        body = 1.0 - np.searchsorted(self.samples, zz, side="left") / m
        y = np.maximum(zz - self.threshold, 0.0)
        if self.xi > 0.0:
            tail = self.tail_mass * (1.0 + self.xi * y / self.beta) ** (-1.0 / self.xi)
        else:
            tail = self.tail_mass * np.exp(-y / self.beta)
        out: Float64Array1D = np.where(zz <= self.threshold, body, tail)
        return np.where(zz <= 0.0, 1.0, out)


def fit_excursion_distribution(
    standardised: Float64Array1D, tail_quantile: float, min_samples: int
) -> ExcursionDistribution:
    """Fit :class:`ExcursionDistribution` to standardised excursions (NaN values dropped).

    Parameters
    ----------
    standardised : (M,) float64
        ``A_H / (sigma sqrt(H))`` samples.
    tail_quantile : float
        Where the Pareto tail starts, in ``(0.5, 1)``.
    min_samples : int
        Fewer finite samples than this give the Brownian closed form (``source="brownian"``).

    Notes
    -----
    The threshold is the ``tail_quantile`` empirical quantile; the excesses above it are
    fitted by :func:`gpd_pwm` (peaks over threshold: Balkema and de Haan, 1974; Pickands, 1975).
    """
    u = np.asarray(standardised, dtype=np.float64)
    u = np.sort(u[np.isfinite(u)])
    m = u.shape[0]
    if m < max(min_samples, 20):
        return ExcursionDistribution(np.empty(0), math.inf, 0.0, 0.0, 1.0, "brownian")
    threshold = float(np.quantile(u, tail_quantile))
    above = u[u > threshold]
    if above.shape[0] < 2:
        return ExcursionDistribution(u, math.inf, 0.0, 0.0, 1.0)
    xi, beta = gpd_pwm(above - threshold)
    return ExcursionDistribution(u, threshold, above.shape[0] / m, xi, beta)


REFERENCE_QUANTILES = 200
"""Quantiles a reference table keeps of the body of each horizon's standardised excursions."""

REFERENCE_FIELDS: tuple[str, ...] = (
    "short_half_life_h",
    "long_half_life_h",
    "short_weight",
    "variance",
    "tail_quantile",
)
"""The :class:`ExcursionParams` fields that shape standardised excursions: the reference tables
are used only with the values they were built with."""


def reference_table(
    standardised: Float64Array1D, tail_quantile: float = 0.95, quantiles: int = REFERENCE_QUANTILES
) -> tuple[tuple[float, ...], tuple[float, float, float, float]]:
    """Summarise a pool of standardised excursions as a reference table (one grid horizon).

    Parameters
    ----------
    standardised : (M,) float64
        ``A_H / (sigma sqrt(H))`` samples of one horizon, pooled over the reference assets
        (NaN dropped); at least 20 finite values.
    tail_quantile : float
        Where the Pareto tail starts, in ``(0.5, 1)``.
    quantiles : int
        How many quantiles of the body are kept, ``>= 20``.

    Returns
    -------
    (tuple of float, (threshold, tail_mass, xi, beta))
        The quantiles at levels ``(i + 1/2) / quantiles`` (rounded to 1e-4) and the tail:
        threshold and Pareto parameters of :func:`fit_excursion_distribution` on the whole
        pool, the tail mass as the share of the kept quantiles above the threshold (so the body
        and the tail join without a rise).

    Notes
    -----
    :func:`reference_distribution` reads the tables back: the body's survival function is the
    empirical one of the kept quantiles (within ``1 / (2 quantiles)`` of the pool's), the tail
    the pool's generalised Pareto fit (Hosking and Wallis, 1987).
    """
    if not isinstance(quantiles, int) or quantiles < 20:
        raise InputError(f"quantiles must be an integer >= 20, was {quantiles!r}")
    u = np.asarray(standardised, dtype=np.float64)
    u = u[np.isfinite(u)]
    if u.shape[0] < 20:
        raise InputError(f"a reference table needs at least 20 finite samples, had {u.shape[0]}")
    full = fit_excursion_distribution(u, tail_quantile, 0)
    q = np.round(np.quantile(u, (np.arange(quantiles) + 0.5) / quantiles), 4)
    tail_mass = float(np.count_nonzero(q > full.threshold)) / quantiles
    return tuple(float(x) for x in q), (full.threshold, tail_mass, full.xi, full.beta)


def reference_applies(params: ExcursionParams, known_ns: int) -> bool:
    """Whether the reference tables may stand in for a short history.

    Parameters
    ----------
    params : ExcursionParams
        The model's parameters: ``short_history="reference"`` and the values of
        :data:`REFERENCE_FIELDS` the tables were built with.
    known_ns : int
        A time (UTC ns) the forecast is known at: the tables' windows must all have closed by
        it (their ``CUTOFF_NS``), so a forecast never reads the reference assets' later prices.
    """
    from levguard.core.risk import excursion_reference as ref

    if params.short_history != "reference" or known_ns < ref.CUTOFF_NS:
        return False
    return all(getattr(params, f) == ref.PARAMS[f] for f in REFERENCE_FIELDS)


@cache
def reference_distribution(k: int) -> ExcursionDistribution:
    """Return the reference excursion distribution of grid horizon ``k`` (``source="reference"``).

    Notes
    -----
    The tables of :mod:`levguard.core.risk.excursion_reference`: the standardised excursions
    of the BTCUSDT and ETHUSDT marks, every window closed by the refit of 2022-12-24 (its
    ``CUTOFF_NS``; :func:`reference_applies` keeps earlier forecasts off them), summarised by
    :func:`reference_table`.  The ``excursion`` model uses them at a horizon where the asset's
    own history is too short (``ExcursionParams.short_history="reference"``): the shape of a
    crypto mark's excursions in units of its own volatility, scaled by the asset's volatility.
    """
    from levguard.core.risk import excursion_reference as ref

    if not 0 <= k < len(ref.QUANTILES):
        raise InputError(f"grid horizon index must be in [0, {len(ref.QUANTILES)}), was {k!r}")
    samples = readonly(np.array(ref.QUANTILES[k], dtype=np.float64))  # shared between calls
    threshold, tail_mass, xi, beta = ref.TAILS[k]
    return ExcursionDistribution(samples, threshold, tail_mass, xi, beta, "reference")


HORIZON_GRID_HOURS: tuple[int, ...] = (1, 2, 4, 8, 12, 24, 48, 72, 120, 168, 240, 336, 504, 720)
"""Horizons (hours) at which excursion distributions are fitted; others are interpolated."""


def grid_upper(hours: np.ndarray) -> np.ndarray:
    """Return, per horizon in hours, the index of the first grid horizon ``>=`` it."""
    out: np.ndarray = np.searchsorted(np.asarray(HORIZON_GRID_HOURS), hours, side="left")
    return out


def combine_grid(survival: Float64Array1D, hours: np.ndarray) -> Float64Array1D:
    """Combine survival probabilities at the grid horizons into one per case.

    Parameters
    ----------
    survival : (K, N) float64
        ``survival[k, i]``: probability of case ``i`` at grid horizon ``k``, for ``k`` up to at
        least :func:`grid_upper` of every case.
    hours : (N,) int
        Each case's horizon in hours.

    Returns
    -------
    (N,) float64
        The grid probabilities made non-decreasing along the grid (a running maximum, so a
        longer horizon never lowers a forecast), then interpolated linearly in ``ln(hours)``
        between the two grid horizons around each case's horizon (exact on the grid).
    """
    surv = np.maximum.accumulate(np.asarray(survival, dtype=np.float64), axis=0)
    grid = np.asarray(HORIZON_GRID_HOURS, dtype=np.float64)
    k_hi = grid_upper(hours)
    k_lo = np.maximum(k_hi - 1, 0)
    cols = np.arange(surv.shape[1])
    g_lo = np.log(grid[k_lo])
    g_hi = np.log(grid[k_hi])
    x = np.log(np.asarray(hours, dtype=np.float64))
    span = np.where(g_hi > g_lo, g_hi - g_lo, 1.0)
    w = np.where(g_hi > g_lo, (x - g_lo) / span, 1.0)
    lo, hi = surv[k_lo, cols], surv[k_hi, cols]
    # ``lo + w (hi - lo)``, kept within [lo, hi]: ``(1 - w) lo + w hi`` rounded to one unit below
    # ``lo`` where lo == hi (0.99 at 168 h, 0.9899999999999999 at 271 h), breaking monotonicity
    # in the horizon (found by a deep hypothesis run, 2026-12-05).
    out: Float64Array1D = np.clip(lo + w * (hi - lo), lo, hi)
    return out


def _prob_args(side: object, distance: object, hours: object) -> tuple[Float64Array1D, Float64Array1D, np.ndarray]:
    # The arguments of a forecaster's prob(), checked as liquidation_forecasts checks its own
    # (an API audit: side 0 or 2 was read as a short, hours 721 raised IndexError, hours 0 gave
    # the 1-hour probability, 1.5 hours the 1-hour one, a NaN distance 0, unequal lengths
    # NumPy's ValueError): sides +1/-1 (or "long"/"short"), distances >= 0 (inf: never), whole
    # hours in [1, 720]; broadcast to one length (at least 1).
    try:
        s = np.atleast_1d(np.asarray(side, dtype=np.float64))
    except (TypeError, ValueError):
        s = np.array([float(side_sign(x)) for x in np.atleast_1d(np.asarray(side, dtype=object))])
    no_bools_or_strings(distance, "distance")
    no_bools_or_strings(hours, "hours")
    try:
        d = np.atleast_1d(np.asarray(distance, dtype=np.float64))
        hf = np.atleast_1d(np.asarray(hours, dtype=np.float64))
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64's range
        raise InputError(
            f"distance and hours must be numbers within float64 range, were {show(distance)} and {show(hours)}"
        ) from None
    if not ((s == 1.0) | (s == -1.0)).all():
        bad = s[(s != 1.0) & (s != -1.0)][0]
        raise InputError(f"side must be +1 (long) or -1 (short), was {float(bad)!r}")
    if not (d >= 0.0).all():  # NaN too
        raise InputError(f"distance must be >= 0 (a fraction; inf: never reached), was {float(d[~(d >= 0.0)][0])!r}")
    top = HORIZON_GRID_HOURS[-1]
    ok = (hf >= 1.0) & (hf <= top) & (hf == np.floor(hf))
    if not ok.all():
        raise InputError(f"hours must be whole hours from 1 to {top}, was {float(hf[~ok][0])!r}")
    h = hf.astype(np.int64)
    if s.ndim == d.ndim == h.ndim == 1 and s.shape == d.shape == h.shape:
        return s, d, h  # already one length (the guardian's call)
    try:
        s, d, h = np.broadcast_arrays(s, d, h)
    except ValueError:
        raise InputError(
            f"side, distance and hours must broadcast to one length, had shapes {s.shape}, {d.shape} and {h.shape}"
        ) from None
    if s.ndim != 1:
        raise InputError(f"side, distance and hours must be scalars or one-dimensional, had shape {s.shape}")
    return s, d, h


@dataclass(frozen=True, slots=True)
class ExcursionForecaster:
    """The ``excursion`` model fitted at one time: forecasts for any side, distance, horizon.

    Attributes
    ----------
    sigma : float
        Hourly volatility at the forecast time (:func:`blended_sigma`).
    distributions : tuple of ExcursionDistribution
        One per :data:`HORIZON_GRID_HOURS` entry.

    Notes
    -----
    ``P = combine_grid([S_g(b / (sigma sqrt(g)))]_g, H)`` with ``b`` from :func:`log_barrier`:
    the same arithmetic :func:`levguard.core.risk.forecast.forecast_liquidations` performs, so a
    forecaster fitted at ``as_of`` returns exactly its forecasts at that ``as_of``.
    """

    sigma: float
    distributions: tuple[ExcursionDistribution, ...]

    def prob(self, side: Float64Array1D, distance: Float64Array1D, hours: np.ndarray) -> Float64Array1D:
        """Return probabilities for sides (+1/-1), distances (fractions) and horizons (hours)."""
        s, d, h = _prob_args(side, distance, hours)
        return excursion_probabilities(self.distributions, np.full(s.shape[0], self.sigma), log_barrier(s, d), h)


def excursion_probabilities(
    distributions: tuple[ExcursionDistribution, ...] | list[ExcursionDistribution],
    sigma: Float64Array1D,
    barrier: Float64Array1D,
    hours: np.ndarray,
) -> Float64Array1D:
    """Return first-passage probabilities from grid distributions (see :func:`combine_grid`).

    Parameters
    ----------
    distributions : sequence of ExcursionDistribution
        Fitted distributions for the grid horizons ``0 .. K-1`` (at least up to
        :func:`grid_upper` of every case).
    sigma : (N,) float64
        Hourly volatility of each case at its forecast time; NaN (none known yet) gives a NaN
        probability (no forecast, not a confident 0) unless the barrier is already reached.
    barrier : (N,) float64
        Log distance to the liquidation price (:func:`log_barrier`).
    hours : (N,) int
        Horizons in hours, in ``[1, 720]``.
    """
    if barrier.shape[0] == 0:  # no case (the max below would be NumPy's ValueError)
        return np.empty(0)
    k_max = int(grid_upper(hours).max())
    surv = np.empty((k_max + 1, barrier.shape[0]))
    for k in range(k_max + 1):
        g = HORIZON_GRID_HOURS[k]
        with np.errstate(divide="ignore", invalid="ignore"):  # zero volatility: z = inf, P = 0
            z = barrier / (sigma * math.sqrt(g))
        surv[k] = distributions[k].sf(np.where(np.isnan(z), np.inf, z))
    p = np.where(np.isnan(sigma), np.nan, np.clip(combine_grid(surv, hours), 0.0, 1.0))
    out: Float64Array1D = np.where(barrier <= 0.0, 1.0, p)
    return out


@dataclass(frozen=True, slots=True)
class GbmForecaster:
    """Brownian first passage with a given annual volatility (the ``naive`` baseline).

    Attributes
    ----------
    sigma_annual : float
        Annualised volatility (fraction), ``>= 0`` (0: a price that does not move is never
        liquidated at a positive distance).

    Notes
    -----
    :func:`levguard.core.risk.liquidation.prob_liquidation` with ``model="gbm"`` and zero
    expected return (reflection principle; Harrison 1985, section 1.8).
    """

    sigma_annual: float

    def prob(self, side: Float64Array1D, distance: Float64Array1D, hours: np.ndarray) -> Float64Array1D:
        """Return probabilities for sides (+1/-1), distances (fractions) and horizons (hours)."""
        s, d, h = _prob_args(side, distance, hours)
        # At or past the barrier: 1; a price that does not move, or no positive barrier: 0.
        out = [1.0 if x <= 0.0 else 0.0 for x in d.tolist()]
        if self.sigma_annual <= 0.0:
            return np.array(out)
        # Per horizon, the positions left to the closed form as prob_liquidation(side, 1, LP, ...)
        # with LP = 1 -/+ distance (one call per horizon, validated once).
        groups: dict[int, tuple[list[int], list[float], list[float]]] = {}
        for i, (si, di, hi) in enumerate(zip(s.tolist(), d.tolist(), h.tolist(), strict=True)):
            if di <= 0.0:
                continue
            lp = 1.0 - di if si > 0 else 1.0 + di
            if not lp > 0.0:
                continue
            group = groups.get(hi)
            if group is None:
                group = groups[hi] = ([], [], [])
            group[0].append(i)
            group[1].append(1.0 if si > 0 else -1.0)
            group[2].append(lp)
        for hi, (index, sides, lps) in groups.items():
            # The horizon as the scalar path computed it (NumPy's int64 / 24).
            p = prob_liquidation_gbm_list(sides, [1.0] * len(index), lps, self.sigma_annual, np.int64(hi) / 24.0)
            for i, x in zip(index, p, strict=True):
                out[i] = x
        return np.array(out)
