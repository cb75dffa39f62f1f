"""Realised volatility of a bar frame or OHLC arrays: one entry point over every estimator.

:func:`realized_vol` reads prices from a levguard OHLCV frame (``open, high, low, close``
columns, UTC index, ``attrs["interval"]``), from :class:`~levguard.data.frames.OHLCVArrays`, a
mapping of arrays, or a series/array of closes, and returns a point estimate (float) or a rolling
series with the frame's index.  The estimators themselves live in
:mod:`levguard.core.risk.volatility` (formulas and sources there and in docs/risk.md).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from levguard.core.risk import volatility as cv
from levguard.core.validate import array_1d, show
from levguard.data.daily import DailyReturns, daily_returns
from levguard.errors import InputError
from levguard.typing import Float64Array1D

__all__ = ["METHODS", "DailyReturns", "VolMethod", "daily_returns", "days_after", "realized_vol"]

VolMethod = Literal["close_to_close", "ewma", "parkinson", "garman_klass", "rogers_satchell", "yang_zhang"]

METHODS: tuple[VolMethod, ...] = get_args(VolMethod)
"""Estimator names accepted by :func:`realized_vol` (derived from :data:`VolMethod`)."""

_NEEDS: dict[VolMethod, tuple[str, ...]] = {
    "close_to_close": ("close",),
    "ewma": ("close",),
    "parkinson": ("high", "low"),
    "garman_klass": ("open", "high", "low", "close"),
    "rogers_satchell": ("open", "high", "low", "close"),
    "yang_zhang": ("open", "high", "low", "close"),
}
if tuple(_NEEDS) != METHODS:  # pragma: no cover - a method added to VolMethod needs its columns here
    raise ImportError(f"levguard.risk.vol: _NEEDS covers {tuple(_NEEDS)}, VolMethod is {METHODS}")


class _Prices:
    # Columns as float64 arrays, the index to label a rolling result with, the provenance
    # interval (attrs) if any.
    def __init__(self, columns: dict[str, Float64Array1D], index: pd.Index, interval: object) -> None:
        self.columns = columns
        self.index = index
        self.interval = interval


def _datetime_index(ts_ns: object) -> pd.DatetimeIndex:
    values = np.asarray(ts_ns, dtype=np.int64)
    return pd.DatetimeIndex(pd.to_datetime(values, unit="ns", utc=True), name="timestamp")


def _label(data: pd.DataFrame | pd.Series) -> Any:
    # attrs["interval"], checked against the bars of a UTC-indexed frame (a daily frame labelled
    # "1h" would be annualised with 8,760 bars a year): levguard.data.frames.frame_bar_ns.
    label = data.attrs.get("interval")
    if label and isinstance(data.index, pd.DatetimeIndex) and data.index.tz is not None:
        from levguard.data.frames import frame_bar_ns

        frame_bar_ns(data, "data")
    return label


def _time_ordered(index: pd.Index, field: str) -> None:
    # A dated index must run forward with one bar per time: sorted descending or with a
    # duplicated bar, returns and volatilities were computed across the wrong neighbours.
    if isinstance(index, pd.DatetimeIndex) and not (index.is_monotonic_increasing and index.is_unique):
        raise InputError(f"{field} must be in time order with no duplicated timestamps (sort it and drop duplicates)")


def _prices(data: object, needs: tuple[str, ...]) -> _Prices:
    # Normalise every accepted input shape to the columns an estimator needs.
    if isinstance(data, pd.DataFrame):
        missing = [c for c in needs if c not in data.columns]
        if missing:
            raise InputError(f"data must have column(s) {missing}, had {list(data.columns)}")
        _time_ordered(data.index, "data")
        cols = {c: array_1d(data[c], f"data[{c!r}]") for c in needs}
        return _Prices(cols, data.index, _label(data))
    if isinstance(data, pd.Series):
        if needs != ("close",):
            raise InputError(f"data must be an OHLC frame with columns {list(needs)}, was a Series of closes")
        _time_ordered(data.index, "data")
        return _Prices({"close": array_1d(data, "data")}, data.index, _label(data))
    mapping: Mapping[str, Any] | None = None
    if isinstance(data, Mapping):
        mapping = data
    elif hasattr(data, "_asdict"):  # OHLCVArrays and other named tuples
        mapping = data._asdict()
    if mapping is not None:
        missing = [c for c in needs if c not in mapping]
        if missing:
            raise InputError(f"data must have key(s) {missing}, had {sorted(mapping)}")
        cols = {c: array_1d(mapping[c], c) for c in needs}
        n = cols[needs[0]].shape[0]
        ts = mapping.get("ts_ns")
        index: pd.Index = _datetime_index(ts) if ts is not None and len(ts) == n else pd.RangeIndex(n)
        return _Prices(cols, index, mapping.get("interval"))
    if isinstance(data, np.ndarray | list | tuple):
        if needs != ("close",):
            raise InputError(f"data must be an OHLC frame or mapping with {list(needs)}, was an array of closes")
        close = array_1d(data, "close")
        return _Prices({"close": close}, pd.RangeIndex(close.shape[0]), None)
    raise InputError(f"data must be a DataFrame, OHLCVArrays, a mapping of arrays or closes, was {type(data).__name__}")


def _interval_ns(interval: object) -> str | int:
    # A str interval, or a bar length in ns from a timedelta-like.
    if isinstance(interval, pd.Timedelta | _dt.timedelta | np.timedelta64):
        ns = int(pd.Timedelta(interval).value)
        if ns <= 0:
            raise InputError(f"interval must be a positive duration, was {interval!r}")
        return ns
    if isinstance(interval, str | int | np.integer) and not isinstance(interval, bool):
        return interval if isinstance(interval, str) else int(interval)
    raise InputError(f"interval must be a string like '1h', a bar length in ns or a timedelta, was {interval!r}")


def _resolve_periods(interval: object, attrs_interval: object, index: pd.Index | None) -> float:
    # Bars per year from (1) the argument, (2) the provenance attribute, (3) the index spacing.
    if interval is not None:
        return cv.periods_per_year(_interval_ns(interval))
    if isinstance(attrs_interval, str) and attrs_interval.strip():
        return cv.periods_per_year(attrs_interval)
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 2:
        step = np.median(np.diff(index.as_unit("ns").asi8))
        if step > 0:
            return cv.periods_per_year(int(step))
    if isinstance(index, pd.DatetimeIndex):
        raise InputError(
            f"interval must be given to annualise: {len(index)} dated bar(s) do not show the bar spacing "
            "(at least 2 are needed), was None"
        )
    raise InputError("interval must be given to annualise: the data carry no bar times or interval, was None")


def _check_method(method: object) -> VolMethod:
    # A str first: an array compared element-wise (a raw "truth value of an array is ambiguous").
    for m in METHODS:
        if isinstance(method, str) and method == m:
            return m
    raise InputError(f"method must be one of {', '.join(METHODS)}, was {show(method)}")


def _variance(method: str, cols: dict[str, Float64Array1D], window: int | None, lam: float, demean: bool) -> Any:
    # Point (window None) or rolling variance per bar, aligned with the bars.
    o, h, lo, c = (cols.get(k) for k in ("open", "high", "low", "close"))
    if method == "close_to_close":
        return (
            cv.close_to_close(c, demean=demean)
            if window is None
            else cv.rolling_close_to_close(c, window, demean=demean)
        )
    if method == "ewma":
        ewma = cv.ewma_variance(cv.log_returns(c), lam=lam)
        if window is None:
            return float(ewma[-1])
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
            raise InputError(f"window must be an integer >= 1 (EWMA warm-up bars), was {window!r}")
        if window > 2**63 - 1:  # as the rolling estimators' (core.risk.volatility)
            raise InputError(f"window must be an integer <= 2**63 - 1 (the kernels' int64), was {show(window)}")
        out = np.concatenate(([np.nan], ewma))
        out[: int(window)] = np.nan
        return out
    if method == "parkinson":
        return cv.parkinson(h, lo) if window is None else cv.rolling_parkinson(h, lo, window)
    if method == "garman_klass":
        return cv.garman_klass(o, h, lo, c) if window is None else cv.rolling_garman_klass(o, h, lo, c, window)
    if method == "rogers_satchell":
        return cv.rogers_satchell(o, h, lo, c) if window is None else cv.rolling_rogers_satchell(o, h, lo, c, window)
    return cv.yang_zhang(o, h, lo, c) if window is None else cv.rolling_yang_zhang(o, h, lo, c, window)


def realized_vol(
    data: object,
    method: VolMethod = "close_to_close",
    *,
    window: int | None = None,
    interval: str | int | pd.Timedelta | None = None,
    lam: float = cv.RISKMETRICS_LAMBDA,
    annualise: bool = True,
    demean: bool = True,
) -> float | pd.Series:
    """Return the realised volatility of bars: a point estimate or a rolling series.

    Parameters
    ----------
    data : DataFrame, OHLCVArrays, mapping of arrays, Series or array
        Bars with ``open, high, low, close`` columns/keys (only ``close`` for close-to-close and
        EWMA, only ``high, low`` for Parkinson), or a Series/array of closes.  Prices must be
        finite, > 0, with ``low <= open, close <= high``.
    method : str
        ``"close_to_close"``, ``"ewma"``, ``"parkinson"``, ``"garman_klass"``,
        ``"rogers_satchell"`` or ``"yang_zhang"``.
    window : int, optional
        ``None``: one estimate over all bars (EWMA: the latest value).  An integer ``w >= 2``:
        a rolling estimate over the ``w`` bars (returns) ending at each bar, NaN before.  For
        EWMA ``w`` is the warm-up: the full recursion is returned with its first ``w`` bars NaN.
    interval : str, int or Timedelta, optional
        Bar interval (``"1h"``), bar length in ns, or a Timedelta.  Default: the frame's
        ``attrs["interval"]``, else the median spacing of a ``DatetimeIndex``.  Needed only to
        annualise.
    lam : float
        EWMA decay factor in ``(0, 1)`` (RiskMetrics: 0.94).
    annualise : bool
        ``True``: annualised volatility, ``sqrt(var_per_bar * bars per 365-day year)``.
        ``False``: volatility per bar.
    demean : bool
        Close-to-close only: subtract the mean return (sample variance) or assume zero mean.

    Returns
    -------
    float or pandas.Series
        A float when ``window`` is None, else a float64 Series named ``"<method>_vol"`` with the
        frame's index (a RangeIndex for plain arrays, timestamps for OHLCVArrays).

    Raises
    ------
    InputError
        Unknown method, missing columns, bad prices, a bad window or ``lam``, or no interval
        when annualising.

    Notes
    -----
    Close-to-close, EWMA (RiskMetrics 1996), Parkinson (1980), Garman & Klass (1980),
    Rogers & Satchell (1991), Yang & Zhang (2000); see :mod:`levguard.core.risk.volatility`.
    Yang-Zhang uses each bar's previous close, so its first bar only serves as that close.

    Examples
    --------
    >>> import numpy as np
    >>> close = 100 * np.exp(np.cumsum(np.r_[0.0, [0.01, -0.01] * 50]))
    >>> round(realized_vol(close, interval="1d", demean=False), 3)  # 1% a day: 0.01 * sqrt(365)
    0.191
    """
    name = _check_method(method)
    prices = _prices(data, _NEEDS[name])
    ppy = _resolve_periods(interval, prices.interval, prices.index) if annualise else None
    var = _variance(name, prices.columns, window, lam, demean)
    if window is None:
        v = float(var)
        return cv.annualise(v, ppy) if ppy is not None else float(np.sqrt(v))
    arr = np.asarray(var, dtype=np.float64)
    vol = cv.annualise(arr, ppy) if ppy is not None else np.sqrt(arr)
    return pd.Series(vol, index=prices.index, name=f"{name}_vol")


def days_after(
    end: pd.Timestamp, returns: Mapping[str, pd.Series], last_day: Mapping[str, tuple[float, float]]
) -> dict[str, list[tuple[float, float]]]:
    """Return each asset's days after ``end`` in order, as ``(log return, fraction elapsed)``.

    A multi-asset FHS fits GARCH on the complete days every asset has (to ``end``); an asset's
    own complete days after them (elapsed 1.0) and then its unfinished day (``last_day``, from
    :func:`daily_returns`) are its steps to the forecast
    (:func:`levguard.core.risk.volatility.garch_step_days`): histories ending either side of a
    UTC midnight leave one asset a complete day the others lack, which the forecast must not skip.
    """
    return {
        b: [(float(x), 1.0) for x in r[r.index > end]] + ([last_day[b]] if b in last_day else [])
        for b, r in returns.items()
    }
