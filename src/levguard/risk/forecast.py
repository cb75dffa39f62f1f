"""Probability-of-liquidation forecasts from hourly bars (pandas face of the one path).

:func:`liquidation_forecasts` and :func:`liquidation_forecaster` convert a frame and timestamps
and call :func:`levguard.core.risk.forecast.forecast_liquidations` /
:func:`~levguard.core.risk.forecast.fit_forecaster`, which the risk report, ``levguard size``,
the liquidation-budget policy, the guardian, the service and the dashboard all use
(docs/risk.md, "Probability of liquidation"); docs/validation.md scores them on real history.

Example (a synthetic hourly market; a 10x long, about 9.6 % from its liquidation price)::

    >>> import numpy as np, pandas as pd
    >>> from levguard.risk import liquidation_forecasts
    >>> idx = pd.date_range("2024-01-01", periods=24 * 200, freq="1h", tz="UTC")
    >>> rng = np.random.default_rng(0)
    >>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.006, idx.size)))
    >>> bars = pd.DataFrame({"open": close, "high": close * 1.002, "low": close * 0.998,
    ...                      "close": close}, index=idx)
    >>> p = liquidation_forecasts(bars, idx[-1], "long", [0.02, 0.096], [1, 7])
    >>> bool(p[0] > p[1] > 0)
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from levguard.core.risk.excursion import ExcursionParams
from levguard.core.risk.forecast import (
    DEFAULT_MODEL,
    FORECAST_MODELS,
    MAX_HORIZON_DAYS,
    LiquidationForecaster,
    fit_forecaster,
    forecast_liquidations,
)
from levguard.data.frames import hourly_bars
from levguard.errors import InputError

__all__ = [
    "DEFAULT_MODEL",
    "FORECAST_MODELS",
    "MAX_HORIZON_DAYS",
    "LiquidationForecaster",
    "as_of_ns",
    "liquidation_forecaster",
    "liquidation_forecasts",
]


def as_of_ns(as_of: Any) -> np.ndarray:
    """Return UTC nanoseconds of one or many timezone-aware timestamps.

    Raises
    ------
    InputError
        Naive timestamps, NaT, or values that are not timestamps.
    """
    try:
        idx = pd.DatetimeIndex(np.atleast_1d(pd.to_datetime(as_of)))
    except (TypeError, ValueError) as exc:
        raise InputError(f"as_of must be timestamps, was {as_of!r}") from exc
    if idx.tz is None:
        raise InputError("as_of must be timezone-aware (UTC), was naive")
    if idx.hasnans:
        raise InputError("as_of must not contain NaT")
    out: np.ndarray = np.asarray(idx.tz_convert("UTC").as_unit("ns").asi8, dtype=np.int64)
    return out


def liquidation_forecasts(
    bars: pd.DataFrame,
    as_of: Any,
    side: Any,
    distance: Any,
    horizon_days: Any,
    model: str = "default",
    params: ExcursionParams | None = None,
) -> np.ndarray:
    """Return probabilities that the mark touches a liquidation price within a horizon.

    Parameters
    ----------
    bars : pandas.DataFrame
        Hourly bars: a UTC ``DatetimeIndex`` of bar open times (on the hour; missing bars are
        allowed) and ``high, low, close`` (``open`` is not needed).  When ``mark_high,
        mark_low, mark_close`` are present the mark is what is forecast.
    as_of : timestamp or sequence of timestamps
        Forecast times (UTC).  The mark at ``as_of`` is the close of the last bar that closed
        at or before it; nothing later is read.
    side : "long", "short", +1, -1, or a sequence of them
        Position side.
    distance : float or sequence
        Fractional adverse move from that mark to the liquidation price, ``>= 0`` (``0.05``:
        the liquidation price is 5 % below the mark for a long, above it for a short).
    horizon_days : float or sequence
        Horizon in days, in ``(0, 30]``; rounded to whole hours (at least one).
    model : str
        ``"default"`` (= ``"excursion"``) or ``"naive"``; see :data:`FORECAST_MODELS`.
    params : ExcursionParams, optional
        Parameters of the ``excursion`` model (its validated defaults when omitted).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` float64 probabilities in ``[0, 1]``, ``N`` the broadcast length of ``as_of``,
        ``side``, ``distance`` and ``horizon_days``.

    Raises
    ------
    InputError
        Bars that are not hourly or not positive, naive timestamps, an ``as_of`` before the
        first bar closed, a negative distance, a horizon outside ``(0, 30]`` days, an unknown
        model, or inputs that do not broadcast.

    Notes
    -----
    :func:`levguard.core.risk.forecast.forecast_liquidations` (the models, their sources and
    the refit schedule).
    """
    return forecast_liquidations(hourly_bars(bars), as_of_ns(as_of), side, distance, horizon_days, model, params)


def liquidation_forecaster(
    bars: pd.DataFrame, as_of: Any = None, model: str = "default", params: ExcursionParams | None = None
) -> LiquidationForecaster:
    """Return the model fitted at ``as_of`` (default: the last bar's close) for many forecasts.

    ``forecaster.prob(side, distance, hours)`` (sides +1/-1, fractional distances, horizons in
    whole hours) equals :func:`liquidation_forecasts` at that ``as_of``.

    Raises
    ------
    InputError
        As :func:`liquidation_forecasts`; ``as_of`` must be one timestamp.
    """
    t = None
    if as_of is not None:
        ts = as_of_ns(as_of)
        if ts.shape[0] != 1:
            raise InputError(f"as_of must be one timestamp, had {ts.shape[0]}")
        t = int(ts[0])
    return fit_forecaster(hourly_bars(bars), t, model, params)
