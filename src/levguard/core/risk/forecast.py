"""Liquidation forecasts from hourly bars: the one path every P(liquidation) goes through.

:func:`forecast_liquidations` is vectorised and leakage-free: each forecast reads only bars that
closed at or before its ``as_of``, and the ``excursion`` model is refitted on a fixed calendar
grid (:attr:`~levguard.core.risk.excursion.ExcursionParams.refit_days` days, anchored at the Unix
epoch), so a forecast never changes when later bars change.  :func:`fit_forecaster` returns the
model fitted at one time, whose ``prob`` gives the same numbers for many positions (the live
paths).  :func:`levguard.risk.liquidation_forecasts` is the pandas face; the data layer's
:func:`levguard.data.frames.hourly_bars` builds :class:`HourlyBars` from a frame.

Models: ``excursion`` (the default; :mod:`levguard.core.risk.excursion`) and ``naive`` (GBM first
passage with the last 30 days of realised volatility: the validation baseline).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from levguard.core.risk.excursion import (
    HORIZON_GRID_HOURS,
    ExcursionDistribution,
    ExcursionForecaster,
    ExcursionParams,
    GbmForecaster,
    adverse_excursions,
    blended_sigma,
    excursion_probabilities,
    fit_excursion_distribution,
    grid_upper,
    log_barrier,
    reference_applies,
    reference_distribution,
)
from levguard.core.validate import float_values, iso_utc, number, side_sign
from levguard.errors import InputError
from levguard.typing import Float64Array1D

__all__ = [
    "DEFAULT_MODEL",
    "FORECAST_MODELS",
    "HOUR_NS",
    "MAX_HORIZON_DAYS",
    "MAX_STALE_DAYS",
    "ForecastPath",
    "HourlyBars",
    "LiquidationForecaster",
    "annual_volatility",
    "check_fresh",
    "fit_forecaster",
    "forecast_liquidations",
    "forecast_path",
    "horizon_hours",
    "liquidation_distance",
    "parse_sides",
    "position_probabilities",
    "refit_time_ns",
    "required_distance",
    "standardised_pools",
]

FORECAST_MODELS: tuple[str, ...] = ("default", "excursion", "naive")
"""Model names: ``default`` (an alias of ``excursion``, the calibrated model), ``excursion``
and ``naive`` (GBM first passage with 30-day realised volatility, the baseline)."""

DEFAULT_MODEL = "excursion"
"""The model ``"default"`` stands for."""

MAX_HORIZON_DAYS = 30.0
"""Longest horizon accepted, days."""

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS
HOURS_PER_YEAR = 365 * 24

WARMUP_BARS = 168
"""Excursions starting in the first week of the bars are not pooled (the volatility estimate is
still settling)."""

NAIVE_WINDOW = 30 * 24
"""Hourly returns in the naive model's realised volatility (30 days)."""

LiquidationForecaster = ExcursionForecaster | GbmForecaster
"""A model fitted at one time; ``prob(side, distance, hours)`` gives its forecasts."""


@dataclass(frozen=True)
class HourlyBars:
    """Hourly bars on a gap-free grid: log closes, highs and lows (missing bars marked).

    Build it with :meth:`from_arrays` (or :func:`levguard.data.frames.hourly_bars` from a
    frame).  A missing bar has a NaN close, a ``+inf`` low and a ``-inf`` high, so it makes no
    extreme and no return.

    Attributes
    ----------
    start_ns : int
        Open time of the first bar, UTC ns, on the hour.
    log_close, log_high, log_low : (N,) float64
        Per grid hour.
    present : (N,) bool
        Whether the bar exists.
    """

    start_ns: int
    log_close: Float64Array1D = field(repr=False)
    log_high: Float64Array1D = field(repr=False)
    log_low: Float64Array1D = field(repr=False)
    present: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        """Grid hours from the first bar to the last."""
        return int(self.log_close.shape[0])

    @property
    def end_ns(self) -> int:
        """Close time of the last bar, UTC ns."""
        return self.start_ns + self.n * HOUR_NS

    @classmethod
    def from_arrays(
        cls, open_ns: np.ndarray, high: Float64Array1D, low: Float64Array1D, close: Float64Array1D
    ) -> HourlyBars:
        """Validate hourly bars and place them on the grid.

        Parameters
        ----------
        open_ns : (N,) int64
            Bar open times, UTC ns, strictly increasing, on the hour.
        high, low, close : (N,) float64
            Prices, finite and > 0.

        Raises
        ------
        InputError
            Fewer than 2 bars, times not increasing or not on the hour, or a price that is not
            finite and positive (named with its position).
        """
        t = np.asarray(open_ns, dtype=np.int64)
        cols = {"high": high, "low": low, "close": close}
        values = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
        if t.ndim != 1 or any(v.shape != t.shape for v in values.values()):
            raise InputError("bars times, high, low and close must be one-dimensional and of one length")
        if t.shape[0] < 2:
            raise InputError(f"bars needs at least 2 hourly bars, had {t.shape[0]}")
        steps = np.diff(t)
        if np.any(steps <= 0):
            raise InputError("bars times must be strictly increasing")
        if np.any(steps % HOUR_NS != 0) or t[0] % HOUR_NS != 0:
            raise InputError("bars must be hourly, opening on the hour; resample with levguard.data.resample")
        for name, v in values.items():
            bad = ~(np.isfinite(v) & (v > 0.0))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(f"bars {name} must be finite and > 0, was {v[i]!r} at row {i}")
        if np.any(values["low"] > values["high"]):
            i = int(np.flatnonzero(values["low"] > values["high"])[0])
            raise InputError(f"bars low must be <= high, was {values['low'][i]!r} > {values['high'][i]!r} at row {i}")
        # The close lies within its bar (a mark close at 3x its high scored a validation's Brier
        # ratio 0.13 instead of 0.97: the mark a forecast starts from was off its bar).
        lo, hi, c = values["low"], values["high"], values["close"]
        off = (c < lo * (1 - 1e-12)) | (c > hi * (1 + 1e-12))
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise InputError(
                f"bars close must lie within [low, high], was {c[i]!r} outside [{lo[i]!r}, {hi[i]!r}] at row {i}"
            )
        n = int((t[-1] - t[0]) // HOUR_NS) + 1
        pos = (t - t[0]) // HOUR_NS
        present = np.zeros(n, dtype=bool)
        present[pos] = True
        log_close = np.full(n, np.nan)
        log_close[pos] = np.log(values["close"])
        log_low = np.full(n, np.inf)
        log_low[pos] = np.log(values["low"])
        log_high = np.full(n, -np.inf)
        log_high[pos] = np.log(values["high"])
        return cls(int(t[0]), log_close, log_high, log_low, present)

    @classmethod
    def from_finer(
        cls, open_ns: np.ndarray, high: Float64Array1D, low: Float64Array1D, close: Float64Array1D
    ) -> HourlyBars | None:
        """Return hourly bars from bars of one hour or a divisor of it (None for coarser bars).

        Each UTC hour's bar is the highest high, the lowest low and the last close of the bars
        opening in it; an hour whose bars are not all there is still used (missing bars only
        drop extremes).  Hourly bars are taken as they are (:meth:`from_arrays`).

        Raises
        ------
        InputError
            As :meth:`from_arrays`, or a bar length that does not divide an hour.
        """
        t = np.asarray(open_ns, dtype=np.int64)
        if t.ndim != 1 or t.shape[0] < 2:
            return cls.from_arrays(t, high, low, close)
        step = int(np.min(np.diff(t)))
        if step >= HOUR_NS:
            return cls.from_arrays(t, high, low, close) if step == HOUR_NS else None
        if step <= 0 or HOUR_NS % step != 0:
            raise InputError(f"bars of {step} ns do not divide an hour; resample with levguard.data.resample")
        h = np.asarray(high, dtype=np.float64)
        lo = np.asarray(low, dtype=np.float64)
        c = np.asarray(close, dtype=np.float64)
        hour = t // HOUR_NS
        starts = np.flatnonzero(np.concatenate(([True], hour[1:] != hour[:-1])))
        ends = np.concatenate((starts[1:], [t.shape[0]])) - 1
        return cls.from_arrays(
            hour[starts] * HOUR_NS, np.maximum.reduceat(h, starts), np.minimum.reduceat(lo, starts), c[ends]
        )

    def last_closed(self, as_of_ns: np.ndarray) -> np.ndarray:
        """Return the grid index of the last present bar closed (open + 1 h) at or before each time.

        Raises
        ------
        InputError
            An ``as_of`` before the first bar closed.
        """
        t = np.asarray(as_of_ns, dtype=np.int64)
        k = np.minimum((t - self.start_ns) // HOUR_NS - 1, self.n - 1)
        if np.any(k < 0):
            i, first = int(np.flatnonzero(k < 0)[0]), iso_utc(self.start_ns + HOUR_NS)
            raise InputError(f"as_of {iso_utc(t[i])} is before the first bar closed ({first})")
        present_idx = np.flatnonzero(self.present)
        out: np.ndarray = present_idx[np.searchsorted(present_idx, k, side="right") - 1]
        return out


MAX_STALE_DAYS = 30.0
"""Default ``max_stale_days`` of :func:`check_fresh`: the longest horizon."""


def check_fresh(
    bars: HourlyBars, as_of_ns: np.ndarray, max_stale_days: object = MAX_STALE_DAYS, what: str = "bar"
) -> None:
    """Refuse (``InputError``) an ``as_of`` (UTC ns, 1-D) more than ``max_stale_days`` (``>= 0``;
    None or inf: no limit) after the last ``what`` closed by then: a forecast from older bars would
    state an old market's risk as today's.  The message names the first such ``as_of``, its age."""
    if max_stale_days is None:
        return
    limit = number(max_stale_days, "max_stale_days")
    if not limit >= 0.0:
        raise InputError(f"max_stale_days must be a number of days >= 0 (None: no limit), was {max_stale_days!r}")
    t = np.asarray(as_of_ns, dtype=np.int64).reshape(-1)
    closed = bars.start_ns + (bars.last_closed(t) + 1) * HOUR_NS
    stale = (t - closed) > limit * DAY_NS
    if np.any(stale):
        i = int(np.flatnonzero(stale)[0])
        when, last = iso_utc(t[i]), iso_utc(closed[i])
        raise InputError(
            f"as_of {when} is {timedelta(microseconds=int(t[i] - closed[i]) // 1_000)} after the last {what} closed "
            f"by then ({last}); a forecast reads bars at most max_stale_days={limit:g} days old"
        )


def parse_sides(side: object) -> Float64Array1D:
    """Return +1/-1 per side given as ``"long"``/``"short"``/``+1``/``-1`` (a scalar or a sequence).

    Raises
    ------
    InputError
        Any other value, named.
    """
    if isinstance(side, str | int | float | np.integer | np.floating):  # one side: no object array
        return np.array([float(side_sign(side))])
    arr = np.atleast_1d(np.asarray(side, dtype=object))
    if arr.ndim != 1:
        raise InputError(f"side must be a scalar or one-dimensional, had shape {arr.shape}")
    out = np.empty(arr.shape[0], dtype=np.float64)
    for i, s in enumerate(arr):
        out[i] = float(side_sign(s))
    return out


def _floats(value: object, field_name: str) -> Float64Array1D:
    arr = float_values(value, field_name)  # not bools or strings ("0.05")
    if arr.ndim != 1:
        raise InputError(f"{field_name} must be a scalar or one-dimensional, had shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{field_name} must be finite, was {arr[bad][0]!r}")
    return arr


def horizon_hours(horizon_days: object) -> np.ndarray:
    """Return horizons in whole hours (rounded, at least 1) from days in ``(0, 30]``.

    Raises
    ------
    InputError
        A horizon outside ``(0, 30]`` days or not a number.
    """
    if isinstance(horizon_days, int | float) and not isinstance(horizon_days, bool):
        # One horizon (the guardian's, every position every cycle): the same checks and rounding.
        x = number(horizon_days, "horizon_days")
        if not math.isfinite(x):
            raise InputError(f"horizon_days must be finite, was {x!r}")
        if not (0.0 < x <= MAX_HORIZON_DAYS):
            raise InputError(f"horizon_days must be in (0, {MAX_HORIZON_DAYS:g}], was {x!r}")
        return np.array([max(1, round(x * 24.0))], dtype=np.int64)
    h = _floats(horizon_days, "horizon_days")
    bad = (h <= 0.0) | (h > MAX_HORIZON_DAYS)
    if bad.any():
        raise InputError(f"horizon_days must be in (0, {MAX_HORIZON_DAYS:g}], was {h[bad][0]!r}")
    out: np.ndarray = np.maximum(1, np.rint(h * 24.0)).astype(np.int64)
    return out


def _check_model(model: str, params: ExcursionParams | None) -> ExcursionParams:
    if model not in FORECAST_MODELS:
        raise InputError(f"model must be one of {', '.join(FORECAST_MODELS)}, was {model!r}")
    if params is not None and not isinstance(params, ExcursionParams):
        raise InputError(f"params must be an ExcursionParams, was {type(params).__name__}")
    return params or ExcursionParams()


def refit_time_ns(as_of_ns: np.ndarray, params: ExcursionParams) -> np.ndarray:
    """Return the refit time (UTC ns) at or before each ``as_of_ns``: the calendar grid of
    ``params.refit_days`` days anchored at the Unix epoch (the ``excursion`` model's fits, and the
    reference tables' cutoff)."""
    step = round(params.refit_days * DAY_NS)
    out: np.ndarray = (np.asarray(as_of_ns, dtype=np.int64) // step) * step
    return out


class _ExcursionFit:
    # Standardised excursions per grid horizon (computed once) and fits per (refit bar, horizon).
    def __init__(self, bars: HourlyBars, params: ExcursionParams) -> None:
        self.bars = bars
        self.params = params
        self.sigma = blended_sigma(bars.log_close, bars.log_high, bars.log_low, params)
        self.min_samples = round(params.min_history_days * 24) * 2
        self._standardised: dict[int, np.ndarray] = {}

    def refit_bar(self, as_of_ns: np.ndarray) -> np.ndarray:
        # The last grid bar closed by the refit time on the calendar grid at or before each as_of.
        refit_ns = refit_time_ns(np.asarray(as_of_ns, dtype=np.int64), self.params)
        out: np.ndarray = np.clip((refit_ns - self.bars.start_ns) // HOUR_NS - 1, -1, self.bars.n - 1)
        return out

    def pool(self, refit_bar: int, k: int) -> Float64Array1D:
        # The standardised long and short excursions of grid horizon k known at the refit.
        g = HORIZON_GRID_HOURS[k]
        if g not in self._standardised:
            b = self.bars
            long_x, short_x = adverse_excursions(b.log_close, b.log_low, b.log_high, g)
            # A flat stretch (zero volatility) standardises to NaN and is left out of the pool.
            scale = np.where(self.sigma > 0.0, self.sigma * math.sqrt(g), np.nan)
            self._standardised[g] = np.stack([long_x / scale, short_x / scale])
        u = self._standardised[g]
        # Starts after bar s whose window (bars s+1 .. s+g) closed by the refit: s + g <= refit_bar.
        last_start = refit_bar - g
        out: Float64Array1D = u[:, WARMUP_BARS : last_start + 1].ravel() if last_start >= WARMUP_BARS else np.empty(0)
        return out

    def distribution(self, refit_bar: int, k: int) -> ExcursionDistribution:
        fitted = fit_excursion_distribution(self.pool(refit_bar, k), self.params.tail_quantile, self.min_samples)
        # The reference stands in only when every window it pools had closed by the refit (the
        # close of its last bar, a lower bound of what the forecast knows) and its parameters hold.
        known_ns = self.bars.start_ns + (refit_bar + 1) * HOUR_NS
        if fitted.source == "brownian" and reference_applies(self.params, known_ns):
            return reference_distribution(k)
        return fitted


def standardised_pools(bars: HourlyBars, as_of_ns: int, params: ExcursionParams | None = None) -> list[Float64Array1D]:
    """Return, per grid horizon, the standardised excursions the ``excursion`` model pools at a time.

    Parameters
    ----------
    bars : HourlyBars
        The hourly bars (the mark's).
    as_of_ns : int
        The time, UTC ns: the pools are those of the last refit at or before it (only windows
        closed by then).
    params : ExcursionParams, optional
        The model's parameters (its defaults when omitted).

    Returns
    -------
    list of (M_k,) float64
        One array per :data:`~levguard.core.risk.excursion.HORIZON_GRID_HOURS` entry: the long
        and short ``A_H / (sigma sqrt(H))`` samples, NaN (flat stretches) dropped.  Pooled over
        several assets and passed to :func:`~levguard.core.risk.excursion.reference_table`,
        they make the reference tables (:mod:`levguard.risk.excursion_reference`).
    """
    p = _check_model("excursion", params)
    if not isinstance(bars, HourlyBars):
        raise InputError(f"bars must be HourlyBars, was {type(bars).__name__}")
    fit = _ExcursionFit(bars, p)
    r = int(fit.refit_bar(np.array([as_of_ns], dtype=np.int64))[0])
    out = []
    for k in range(len(HORIZON_GRID_HOURS)):
        u = fit.pool(r, k)
        out.append(u[np.isfinite(u)])
    return out


def _naive_sigma(bars: HourlyBars, j: int) -> float:
    # Sample standard deviation of the last 30 days of hourly close log returns up to bar j,
    # annualised over 365 days.
    lo = max(0, j - NAIVE_WINDOW)
    r = np.diff(bars.log_close[lo : j + 1])
    r = r[np.isfinite(r)]
    if r.shape[0] < 2:
        raise InputError(f"the naive model needs two closed hourly returns before as_of, had {r.shape[0]}")
    return float(np.std(r, ddof=1)) * math.sqrt(HOURS_PER_YEAR)


def _naive_forecaster(bars: HourlyBars, j: int) -> GbmForecaster:
    return GbmForecaster(_naive_sigma(bars, j))


def forecast_liquidations(
    bars: HourlyBars,
    as_of_ns: np.ndarray,
    side: object,
    distance: object,
    horizon_days: object,
    model: str = "default",
    params: ExcursionParams | None = None,
) -> Float64Array1D:
    """Return probabilities that the mark touches a liquidation price within a horizon.

    Parameters
    ----------
    bars : HourlyBars
        The hourly bars (the mark's, when forecasting liquidations).
    as_of_ns : (N,) int64
        Forecast times, UTC ns.  The mark at ``as_of`` is the close of the last bar closed at
        or before it; nothing later is read.
    side : "long", "short", +1, -1, or a sequence of them
        Position side.
    distance : float or (N,) float
        Fractional adverse move from that mark to the liquidation price, ``>= 0``.
    horizon_days : float or (N,) float
        Horizon in days, in ``(0, 30]``; rounded to whole hours (at least one).
    model : str
        See :data:`FORECAST_MODELS`.
    params : ExcursionParams, optional
        Parameters of the ``excursion`` model (its validated defaults when omitted).

    Returns
    -------
    (N,) float64
        Probabilities in ``[0, 1]``; ``N`` the broadcast length of the inputs.

    Raises
    ------
    InputError
        Bad inputs, each named: a negative distance, a horizon outside ``(0, 30]``, an unknown
        model or side, an ``as_of`` before the first bar closed, inputs that do not broadcast.

    Notes
    -----
    ``excursion``: :class:`~levguard.core.risk.excursion.ExcursionForecaster` arithmetic with
    the distributions fitted at the refit on or before each ``as_of`` and the volatility at
    ``as_of`` (scaled empirical first passage with a generalised Pareto tail; Barone-Adesi et
    al. 1999; Hosking and Wallis 1987).  ``naive``: reflection-principle GBM first passage with
    zero expected return and the sample standard deviation of the last 30 days of hourly close
    log returns, annualised over 365 days.  A distance of 0 is a probability of 1.
    """
    p_params = _check_model(model, params)
    if not isinstance(bars, HourlyBars):
        raise InputError(f"bars must be HourlyBars, was {type(bars).__name__}")
    arrays = [
        np.atleast_1d(np.asarray(as_of_ns, dtype=np.int64)),
        parse_sides(side),
        _floats(distance, "distance"),
        horizon_hours(horizon_days),
    ]
    try:
        t, s, d, hours = np.broadcast_arrays(*arrays)
    except ValueError as exc:
        lengths = ", ".join(str(a.shape[0]) for a in arrays)
        raise InputError(f"as_of, side, distance and horizon_days must broadcast, had lengths {lengths}") from exc
    if np.any(d < 0.0):
        raise InputError(f"distance must be >= 0, was {d[d < 0.0][0]!r}")
    j = bars.last_closed(t)
    out = np.empty(t.shape[0])
    if model == "naive":
        for jj in np.unique(j):
            rows = np.flatnonzero(j == jj)
            out[rows] = _naive_forecaster(bars, int(jj)).prob(s[rows], d[rows], hours[rows])
    else:
        fit = _ExcursionFit(bars, p_params)
        refit = fit.refit_bar(t)
        upper = grid_upper(hours)
        b = log_barrier(s, d)
        for r in np.unique(refit):
            rows = np.flatnonzero(refit == r)
            dists = [fit.distribution(int(r), k) for k in range(int(upper[rows].max()) + 1)]
            out[rows] = excursion_probabilities(dists, fit.sigma[j[rows]], b[rows], hours[rows])
    result: Float64Array1D = np.ascontiguousarray(np.where(d <= 0.0, 1.0, np.clip(out, 0.0, 1.0)))
    return result


def fit_forecaster(
    bars: HourlyBars, as_of_ns: int | None = None, model: str = "default", params: ExcursionParams | None = None
) -> LiquidationForecaster:
    """Return the model fitted at ``as_of_ns`` (default: the last bar's close).

    ``forecaster.prob(side, distance, hours)`` (sides +1/-1, fractional distances, horizons in
    whole hours, see :func:`horizon_hours`) equals :func:`forecast_liquidations` at that time:
    the live paths fit once and evaluate many positions.
    """
    p_params = _check_model(model, params)
    if not isinstance(bars, HourlyBars):
        raise InputError(f"bars must be HourlyBars, was {type(bars).__name__}")
    t = np.array([bars.end_ns if as_of_ns is None else as_of_ns], dtype=np.int64)
    j = int(bars.last_closed(t)[0])
    if model == "naive":
        return _naive_forecaster(bars, j)
    fit = _ExcursionFit(bars, p_params)
    r = int(fit.refit_bar(t)[0])
    dists = tuple(fit.distribution(r, k) for k in range(len(HORIZON_GRID_HOURS)))
    return ExcursionForecaster(float(fit.sigma[j]), dists)


def liquidation_distance(side: object, mark: float, liq_price: float | None) -> float:
    """Return the fractional adverse move from ``mark`` to ``liq_price`` (the forecasts' ``distance``).

    Parameters
    ----------
    side : "long", "short", +1 or -1
        Position side.
    mark : float
        Mark price now, > 0.
    liq_price : float or None
        Liquidation price; None, NaN, +/-inf or <= 0 means there is none.

    Returns
    -------
    float
        ``(mark - LP) / mark`` for a long, ``(LP - mark) / mark`` for a short, at least 0 (a
        mark at or past the liquidation price is a distance of 0: a probability of 1); ``inf``
        without a liquidation price.

    Raises
    ------
    InputError
        A bad side, or a mark that is not finite and > 0.
    """
    # One side (the usual call): side_sign itself, as parse_sides would call it, without an array.
    s = float(side_sign(side)) if isinstance(side, str | int | float) else float(parse_sides(side)[0])
    if not (math.isfinite(mark) and mark > 0.0):
        raise InputError(f"mark must be finite and > 0, was {mark!r}")
    if liq_price is None or not (math.isfinite(liq_price) and liq_price > 0.0):
        return math.inf
    return max(0.0, s * (mark - liq_price) / mark)


def position_probabilities(
    forecaster: LiquidationForecaster,
    side: object,
    mark: float,
    liq_price: float | None,
    horizon_days: object,
) -> Float64Array1D:
    """Return one position's probabilities of liquidation at several horizons from a fitted model.

    The one formula every consumer (risk report, ``levguard size``, the guardian, the service and
    its dashboard) uses to turn a position into forecasts: ``forecaster.prob(side,
    liquidation_distance(side, mark, LP), horizon_hours(horizon_days))``; 0 without a
    liquidation price, 1 at or past it.

    Parameters
    ----------
    forecaster : LiquidationForecaster
        A model fitted at the forecast time (:func:`fit_forecaster`, or a
        :class:`~levguard.core.risk.excursion.GbmForecaster` for the closed-form special case).
    side, mark, liq_price
        As :func:`liquidation_distance`.
    horizon_days : float or sequence of float
        Horizons in days, in ``(0, 30]`` (rounded to whole hours, :func:`horizon_hours`).

    Returns
    -------
    (H,) float64
        One probability per horizon.
    """
    hours = horizon_hours(horizon_days)
    s = float(parse_sides(side)[0])
    d = liquidation_distance(s, mark, liq_price)
    if math.isinf(d):
        return np.zeros(hours.shape[0])
    if d <= 0.0:
        return np.ones(hours.shape[0])
    out: Float64Array1D = np.clip(
        np.asarray(forecaster.prob(np.full(hours.shape[0], s), np.full(hours.shape[0], d), hours), dtype=np.float64),
        0.0,
        1.0,
    )
    return out


def annual_volatility(forecaster: LiquidationForecaster) -> float:
    """Return the annualised volatility a fitted model scales its forecasts with (365-day year).

    ``sigma * sqrt(8760)`` of the ``excursion`` model's hourly volatility, or the ``naive``/GBM
    model's own annual volatility: what the service reports next to P(liq) and values its
    delta-normal VaR with.
    """
    if isinstance(forecaster, ExcursionForecaster):
        return float(forecaster.sigma) * math.sqrt(HOURS_PER_YEAR)
    if isinstance(forecaster, GbmForecaster):
        return float(forecaster.sigma_annual)
    raise InputError(f"forecaster must be an ExcursionForecaster or a GbmForecaster, was {type(forecaster).__name__}")


def _distance_of_barrier(side: float, b: Float64Array1D) -> Float64Array1D:
    # Inverse of log_barrier: d = 1 - exp(-b) (long), exp(b) - 1 (short).
    out: Float64Array1D = -np.expm1(-b) if side > 0 else np.expm1(b)
    return out


def _first_below(f: Callable[[float], float], max_prob: float, lo: float, hi: float) -> float:
    # Smallest x (to a relative 1e-12) with f(x) <= max_prob for a non-increasing f with
    # f(lo) > max_prob; hi is grown until f(hi) <= max_prob.  Returns the feasible end.
    for _ in range(200):
        if f(hi) <= max_prob:
            break
        lo, hi = hi, hi * 2.0
    else:
        return math.inf
    while hi - lo > 1e-12 * hi:
        mid = 0.5 * (lo + hi)
        if f(mid) <= max_prob:
            hi = mid
        else:
            lo = mid
    return hi


def required_distance(forecaster: LiquidationForecaster, side: object, max_prob: float, hours: int) -> float:
    """Return the smallest distance to a liquidation price whose forecast is at most ``max_prob``.

    The inverse of ``forecaster.prob`` in the distance, which never rises with the distance: a
    position whose liquidation price is at least this far from the mark (fraction of the mark)
    has ``P <= max_prob`` over ``hours`` (to a relative 1e-12 in the log distance, on the feasible
    side).  :class:`~levguard.core.sizing.venue.LiquidationBudget` uses it through
    :class:`ForecastPath` in backtests.

    Raises
    ------
    InputError
        ``max_prob`` outside ``(0, 1)``, a bad side or horizon.
    """
    if not 0.0 < max_prob < 1.0:
        raise InputError(f"max_prob must be in (0, 1), was {max_prob!r}")
    s = float(parse_sides(side)[0])
    h = np.array([int(hours)], dtype=np.int64)
    if not 1 <= h[0] <= round(MAX_HORIZON_DAYS * 24):
        raise InputError(f"hours must be in [1, {round(MAX_HORIZON_DAYS * 24)}], was {hours!r}")
    sv = np.array([s])

    def p_of_barrier(b: float) -> float:
        d = _distance_of_barrier(s, np.array([b]))
        return float(forecaster.prob(sv, d, h)[0])

    b_star = _first_below(p_of_barrier, max_prob, 0.0, 1e-3)
    return float(_distance_of_barrier(s, np.array([b_star]))[0]) if math.isfinite(b_star) else math.inf


@dataclass(frozen=True)
class ForecastPath:
    """The model fitted at many times (one per bar of a backtest), without look-ahead.

    Build it with :func:`forecast_path`.  ``at(i)`` is the forecaster at time ``i`` (equal to
    :func:`fit_forecaster` at that time); :meth:`required_distances` inverts every time's
    forecast at once.

    Attributes
    ----------
    model : str
        ``"excursion"`` or ``"naive"``.
    sigma : (N,) float64
        Hourly volatility (excursion) or annual volatility (naive) at each time; NaN where the
        model has none.
    refit : (N,) int64
        Index into ``distributions`` of each time's fit (excursion; -1 for naive).
    distributions : tuple of tuples of ExcursionDistribution
        The fits used, one tuple (per grid horizon) per refit.
    """

    model: str
    sigma: Float64Array1D = field(repr=False)
    refit: np.ndarray = field(repr=False)
    distributions: tuple[tuple[ExcursionDistribution, ...], ...] = field(repr=False)

    def __len__(self) -> int:
        return int(self.sigma.shape[0])

    def at(self, i: int) -> LiquidationForecaster:
        """The forecaster at time ``i``.

        Raises
        ------
        InputError
            No forecast at that time (no positive volatility yet).
        """
        s = float(self.sigma[i])
        if not (math.isfinite(s) and s > 0.0):
            raise InputError(f"no forecast at time index {i}: no positive volatility yet")
        if self.model == "naive":
            return GbmForecaster(s)
        return ExcursionForecaster(s, self.distributions[int(self.refit[i])])

    def required_distances(self, side: object, max_prob: float, hours: int) -> Float64Array1D:
        """Return :func:`required_distance` at every time (NaN where there is no forecast).

        Notes
        -----
        The ``excursion`` forecast depends on the log distance ``b`` only through ``b /
        sigma_t`` with the distributions of the time's refit (:func:`excursion_probabilities`),
        so one standardised threshold ``z*`` per refit gives every time's ``b* = sigma_t z*``.
        The ``naive`` forecast is inverted per distinct volatility.
        """
        if not 0.0 < max_prob < 1.0:
            raise InputError(f"max_prob must be in (0, 1), was {max_prob!r}")
        s = float(parse_sides(side)[0])
        out = np.full(len(self), np.nan)
        ok = np.isfinite(self.sigma) & (self.sigma > 0.0)
        if self.model == "naive":
            for v in np.unique(self.sigma[ok]):
                out[ok & (self.sigma == v)] = required_distance(GbmForecaster(float(v)), s, max_prob, hours)
            return out
        h = np.array([int(hours)], dtype=np.int64)
        one = np.ones(1)
        for r in np.unique(self.refit[ok]):
            dists = self.distributions[int(r)]

            def p_of_z(z: float, dists: tuple[ExcursionDistribution, ...] = dists) -> float:
                return float(excursion_probabilities(dists, one, np.array([z]), h)[0])

            z_star = _first_below(p_of_z, max_prob, 0.0, 1e-3)
            rows = ok & (self.refit == r)
            out[rows] = _distance_of_barrier(s, self.sigma[rows] * z_star)
        return out


def forecast_path(
    bars: HourlyBars, as_of_ns: np.ndarray, model: str = "default", params: ExcursionParams | None = None
) -> ForecastPath:
    """Return the model fitted at each of many times (no look-ahead; one fit per refit).

    Parameters
    ----------
    bars : HourlyBars
        The (mark) bars.
    as_of_ns : (N,) int64
        Forecast times, UTC ns (e.g. each backtest bar's close).  A time with fewer than
        :data:`WARMUP_BARS` hours of bars closed before it has no forecast (NaN volatility)
        while the volatility estimate settles, instead of an error: a backtest's ``default``
        liquidation budget takes the GBM closed form on its EWMA volatility there, a
        ``forecast`` budget holds no position.
    model, params
        As :func:`forecast_liquidations`.

    Notes
    -----
    ``ForecastPath.at(i).prob(...)`` equals :func:`forecast_liquidations` at ``as_of_ns[i]``
    where there is a forecast.
    """
    p_params = _check_model(model, params)
    if not isinstance(bars, HourlyBars):
        raise InputError(f"bars must be HourlyBars, was {type(bars).__name__}")
    t = np.atleast_1d(np.asarray(as_of_ns, dtype=np.int64))
    early = t < bars.start_ns + (WARMUP_BARS + 1) * HOUR_NS
    sigma = np.full(t.shape[0], np.nan)
    refit_idx = np.full(t.shape[0], -1, dtype=np.int64)
    if early.all():
        return ForecastPath("naive" if model == "naive" else DEFAULT_MODEL, sigma, refit_idx, ())
    j = np.full(t.shape[0], -1, dtype=np.int64)
    j[~early] = bars.last_closed(t[~early])
    if model == "naive":
        for jj in np.unique(j[~early]):
            try:
                sigma[j == jj] = _naive_forecaster(bars, int(jj)).sigma_annual
            except InputError:
                continue
        return ForecastPath("naive", sigma, refit_idx, ())
    fit = _ExcursionFit(bars, p_params)
    refit = fit.refit_bar(t)
    fits: list[tuple[ExcursionDistribution, ...]] = []
    for r in np.unique(refit[~early]):
        rows = ~early & (refit == r)
        refit_idx[rows] = len(fits)
        fits.append(tuple(fit.distribution(int(r), k) for k in range(len(HORIZON_GRID_HOURS))))
    sigma[~early] = fit.sigma[j[~early]]
    return ForecastPath(DEFAULT_MODEL, sigma, refit_idx, tuple(fits))
