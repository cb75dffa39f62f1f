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

import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from levguard.core.risk.excursion import ExcursionParams
from levguard.core.risk.forecast import (
    DEFAULT_MODEL,
    FORECAST_MODELS,
    HOUR_NS,
    MAX_HORIZON_DAYS,
    MAX_STALE_DAYS,
    LiquidationForecaster,
    annual_volatility,
    check_fresh,
    fit_forecaster,
    forecast_liquidations,
    position_probabilities,
)
from levguard.core.validate import show
from levguard.data.frames import frame_bar_ns, hourly_bars, utc_frame
from levguard.errors import DataError, InputError

if TYPE_CHECKING:
    from levguard.core.margin import AccountReport, PositionReport

__all__ = [
    "DEFAULT_MODEL",
    "FORECAST_MODELS",
    "MAX_HORIZON_DAYS",
    "MAX_STALE_DAYS",
    "LiquidationForecaster",
    "as_of_ns",
    "forecaster_info",
    "liquidation_forecaster",
    "liquidation_forecasts",
    "position_forecasts",
    "short_history_note",
    "to_hourly",
]

_PRICE_COLUMNS = ("open", "high", "low", "close")
_MARK_COLUMNS = tuple(f"mark_{c}" for c in _PRICE_COLUMNS)


def as_of_ns(as_of: Any) -> np.ndarray:
    """Return UTC nanoseconds of one or many timezone-aware timestamps.

    Raises
    ------
    InputError
        Naive timestamps, NaT, or values that are not timestamps (numbers, None, no value).
    """
    # None, NaN and numbers became NaT or naive 1970 times: name the value, not "naive".
    if as_of is None or as_of is pd.NaT or isinstance(as_of, bool | numbers.Number):
        raise InputError(f"as_of must be a timezone-aware timestamp or a sequence of them, was {show(as_of)}")
    try:
        idx = pd.DatetimeIndex(np.atleast_1d(pd.to_datetime(as_of)))
    except (TypeError, ValueError, OverflowError) as exc:  # OutOfBoundsDatetime is a ValueError
        raise InputError(f"as_of must be timestamps between 1677-09-22 and 2262-04-11 UTC, was {show(as_of)}") from exc
    if idx.size == 0:
        raise InputError(f"as_of must hold at least one timestamp, was {show(as_of)}")
    if idx.hasnans:
        i = int(np.flatnonzero(idx.isna())[0])
        raise InputError(f"as_of must not contain NaT, had one at position {i}: {show(as_of)}")
    if idx.tz is None:
        raise InputError(f"as_of must be timezone-aware (UTC), was naive: {show(as_of)}")
    try:  # a time in another unit (seconds, microseconds) can lie beyond int64 nanoseconds
        out: np.ndarray = np.asarray(idx.tz_convert("UTC").as_unit("ns").asi8, dtype=np.int64)
    except (ValueError, OverflowError):
        raise InputError(f"as_of must lie between 1677-09-22 and 2262-04-11 UTC, was {show(as_of)}") from None
    return out


def liquidation_forecasts(
    bars: pd.DataFrame,
    as_of: Any,
    side: Any,
    distance: Any,
    horizon_days: Any,
    model: str = "default",
    params: ExcursionParams | None = None,
    *,
    max_stale_days: float | None = MAX_STALE_DAYS,
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
    max_stale_days : float or None, default 30
        Longest time from the close of the last bar closed by an ``as_of`` to that ``as_of``
        (:data:`MAX_STALE_DAYS`, the longest horizon); None (or inf) forecasts from bars of any
        age.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` float64 probabilities in ``[0, 1]``, ``N`` the broadcast length of ``as_of``,
        ``side``, ``distance`` and ``horizon_days``; NaN (no forecast) where the ``excursion``
        model knows no volatility yet (``variance="close"`` at the first bar's close).

    Raises
    ------
    InputError
        Bars that are not hourly or not positive, naive timestamps, an ``as_of`` before the
        first bar closed or more than ``max_stale_days`` after the last bar closed by then, a
        negative distance, a horizon outside ``(0, 30]`` days, distances or horizons given as
        bools or strings, an unknown model, or inputs that do not broadcast.

    Notes
    -----
    :func:`levguard.core.risk.forecast.forecast_liquidations` (the models, their sources and
    the refit schedule).
    """
    hourly, t = hourly_bars(bars), as_of_ns(as_of)
    out = forecast_liquidations(hourly, t, side, distance, horizon_days, model, params)
    check_fresh(hourly, t, max_stale_days)  # after: any other bad input is named first
    return out


def liquidation_forecaster(
    bars: pd.DataFrame,
    as_of: Any = None,
    model: str = "default",
    params: ExcursionParams | None = None,
    *,
    max_stale_days: float | None = MAX_STALE_DAYS,
) -> LiquidationForecaster:
    """Return the model fitted at ``as_of`` (default: the last bar's close) for many forecasts.

    ``forecaster.prob(side, distance, hours)`` (sides +1/-1 or ``"long"``/``"short"``,
    fractional distances ``>= 0``, horizons in whole hours from 1 to 720; anything else raises
    InputError) equals :func:`liquidation_forecasts` at that ``as_of``.

    Raises
    ------
    InputError
        As :func:`liquidation_forecasts` (``max_stale_days`` too); ``as_of`` must be one
        timestamp.
    """
    hourly = hourly_bars(bars)
    t = None
    if as_of is not None:
        ts = as_of_ns(as_of)
        if ts.shape[0] != 1:
            raise InputError(f"as_of must be one timestamp, had {ts.shape[0]}")
        t = int(ts[0])
    fitted = fit_forecaster(hourly, t, model, params)
    check_fresh(hourly, np.array([hourly.end_ns if t is None else t], dtype=np.int64), max_stale_days)
    return fitted


LAST_CLOSE_ATTR = "last_close_ns"
"""``attrs`` key of :func:`to_hourly`'s output whose last hour is unfinished: its last bar's close
time (int ns UTC), before the hour's end."""


def to_hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the hourly bars a liquidation forecast reads from bars of one hour or less.

    Hourly bars are returned as they are; finer bars (``1m`` ... ``30m``, from
    ``attrs["interval"]`` or the most common step) are aggregated per UTC hour (an index in
    another zone is converted to UTC first, hourly bars too): ``open`` first,
    ``high`` max, ``low`` min, ``close`` last, and the same for ``mark_*`` columns when present
    (hours without a bar stay missing).  A last hour the bars do not fill (a file ending at
    05:15 on 15-minute bars) is kept, and ``attrs["last_close_ns"]`` (:data:`LAST_CLOSE_ATTR`)
    says where it ends (05:30): :func:`levguard.risk.vol.daily_returns` reads the same unfinished
    day from the hours as from the bars.

    Raises
    ------
    InputError
        Bars coarser than an hour (the forecaster reads hourly highs and lows), or a frame
        without a UTC ``DatetimeIndex``.
    DataError
        Times that do not rise, or an ``attrs["interval"]`` the bars contradict
        (:func:`levguard.data.frames.frame_bar_ns`).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"bars must be a pandas DataFrame, was {type(frame).__name__}")
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise InputError("bars must have a UTC DatetimeIndex of bar open times")
    frame = utc_frame(frame)  # UTC hours (an Asia/Kolkata index, +05:30, was grouped by its own)
    interval = frame.attrs.get("interval")
    step = frame_bar_ns(frame, "bars")
    if step == HOUR_NS:
        return frame
    if step <= 0 or step > HOUR_NS or HOUR_NS % step != 0:
        label = interval or pd.Timedelta(step, unit="ns")
        raise InputError(
            f"bars must be hourly or finer for the probability of liquidation (the forecaster reads hourly "
            f"highs and lows), were {label}"
        )
    how = {"open": "first", "high": "max", "low": "min", "close": "last"}
    agg = {c: how[c.removeprefix("mark_")] for c in (*_PRICE_COLUMNS, *_MARK_COLUMNS) if c in frame.columns}
    _check_price_columns(frame, list(agg))
    out = frame[list(agg)].resample("1h", origin="epoch", label="left", closed="left").agg(agg)
    out = out[frame["close"].resample("1h", origin="epoch", label="left", closed="left").count() > 0]
    out.attrs = {**frame.attrs, "interval": "1h"}
    last_close = int(idx[-1].value) + step
    if len(out) and last_close < int(out.index[-1].value) + HOUR_NS:  # the last hour is unfinished: say
        out.attrs[LAST_CLOSE_ATTR] = last_close  # where it ends (daily_returns reads it, not a full hour)
    return out


def _check_price_columns(frame: pd.DataFrame, present: list[str]) -> None:
    # Before aggregating: without close the hours were a KeyError, without high a frame the
    # forecast could not read came back, a string cell was a pandas TypeError.
    missing = [c for c in ("high", "low", "close") if c not in frame.columns]
    if missing:
        raise DataError(f"bars lacks column(s) {missing}: to_hourly aggregates high, low and close")
    for c in present:
        col = frame[c]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
            where = f" at {col.index[int(np.argmax(bad.to_numpy()))]}: {show(col[bad].iloc[0])}" if bad.any() else ""
            raise DataError(f"bars {c} must be numeric, was of dtype {col.dtype}{where}")


def forecaster_info(forecaster: LiquidationForecaster, *, as_of: Any = None, source: str = "") -> dict[str, Any]:
    """Return what a report says about the forecaster its P(liq) came from (JSON-ready).

    ``model`` (``excursion``: the calibrated default; ``gbm``: the closed-form special case),
    ``annual_vol`` (its volatility scale, :func:`levguard.core.risk.forecast.annual_volatility`),
    ``empirical`` (whether the excursion distributions were fitted on the asset's own history at
    every horizon), ``short_history`` (what stands in where the history is too short:
    ``"reference"`` for the reference excursions, ``"brownian"`` for the closed form, None when
    nothing does), ``as_of`` and ``source``.
    """
    from levguard.core.risk.excursion import ExcursionForecaster

    excursion = isinstance(forecaster, ExcursionForecaster)
    sources = {d.source for d in forecaster.distributions} if isinstance(forecaster, ExcursionForecaster) else set()
    stand_in = "brownian" if "brownian" in sources else "reference" if "reference" in sources else None
    return {
        "model": "excursion" if excursion else "gbm",
        "annual_vol": annual_volatility(forecaster),
        "empirical": excursion and stand_in is None,
        "short_history": stand_in,
        "as_of": None if as_of is None else _timestamp(as_of).isoformat(),
        "source": source,
    }


def _timestamp(as_of: object) -> pd.Timestamp:
    # forecaster_info's as_of (naive times are kept as they are, as before): "abc" was a pandas
    # DateParseError.
    bad = InputError(f"as_of must be a timestamp, was {show(as_of)}")
    if isinstance(as_of, bool | numbers.Number):
        raise bad
    try:
        ts = pd.Timestamp(as_of)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise bad from None
    if pd.isna(ts):
        raise bad
    return ts


_STAND_INS = {"reference": "reference excursions", "brownian": "Brownian closed form"}


def short_history_note(info: Mapping[str, Any]) -> str:
    """Return what a report's text adds about a short history (``""`` when the history sufficed).

    ``info`` is :func:`forecaster_info`'s dict; the note names what stood in (its ``short_history``).
    """
    if not isinstance(info, Mapping):
        raise InputError(f"info must be forecaster_info's mapping, was {show(info)}")
    stand_in = _STAND_INS.get(str(info.get("short_history") or ""), "")
    return f" (history too short at some horizons: {stand_in})" if stand_in else ""


def position_forecasts(
    report: AccountReport | Sequence[PositionReport],
    forecaster: LiquidationForecaster,
    horizons: Sequence[float] = (1, 7, 30),
) -> list[dict[str, Any]]:
    """Return each position's probability of liquidation at several horizons (JSON-ready rows).

    Parameters
    ----------
    report : AccountReport or sequence of PositionReport
        The margin engine's report, or some of its positions (marks and liquidation prices).
    forecaster : LiquidationForecaster
        The model fitted at the report's time (:func:`liquidation_forecaster`).
    horizons : sequence of float
        Horizons in days, in ``(0, 30]``.

    Returns
    -------
    list of dict
        Per position: ``symbol``, ``side``, ``mark_price``, ``liquidation_price``, ``health``,
        ``distance`` (fraction of the mark; None without a liquidation price) and
        ``p_liq_<h>d`` per horizon, from
        :func:`levguard.core.risk.forecast.position_probabilities` (the one formula the guardian
        and the service use too).
    """
    from levguard.core.margin import AccountReport, PositionReport
    from levguard.core.risk.excursion import ExcursionForecaster, GbmForecaster
    from levguard.core.risk.forecast import liquidation_distance

    if isinstance(report, AccountReport):
        positions: Sequence[Any] = report.positions
    elif isinstance(report, Sequence) and not isinstance(report, str | bytes):
        positions = report
    else:
        raise InputError(f"report must be an AccountReport or a sequence of PositionReport, was {show(report)}")
    for i, p in enumerate(positions):
        if not isinstance(p, PositionReport):
            raise InputError(f"report[{i}] must be a PositionReport, was {show(p)}")
    if not isinstance(forecaster, ExcursionForecaster | GbmForecaster):
        raise InputError(
            "forecaster must be a fitted model (liquidation_forecaster), an ExcursionForecaster or a GbmForecaster, "
            f"was {type(forecaster).__name__}"
        )
    if not isinstance(horizons, Sequence | np.ndarray) or isinstance(horizons, str | bytes):
        raise InputError(f"horizons must be a sequence of days in (0, {MAX_HORIZON_DAYS:g}], was {show(horizons)}")
    days = list(horizons)
    rows = []
    for p in positions:
        # No horizons: rows without probabilities, as liquidation_forecasts answers [] for none.
        probs = np.zeros(0)
        if days:
            probs = position_probabilities(forecaster, p.side, p.mark_price, p.liquidation_price, days)
        d = liquidation_distance(p.side, p.mark_price, p.liquidation_price)
        row: dict[str, Any] = {
            "symbol": p.symbol,
            "side": p.side_name,
            "mark_price": p.mark_price,
            "liquidation_price": p.liquidation_price,
            "health": p.health,
            "distance": None if np.isinf(d) else d,
        }
        for h, v in zip(days, probs, strict=True):
            row[f"p_liq_{float(h):g}d"] = float(v)
        rows.append(row)
    return rows
