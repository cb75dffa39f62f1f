"""Frame conventions shared by every data module.

* OHLCV (klines, mark-price and index-price klines): columns ``open, high, low, close, volume``
  (float64); the index is the bar **open** time (Binance kline convention), UTC, named
  ``timestamp``; a bar of interval ``d`` covers ``[t, t + d)``.
* Funding: column ``funding_rate`` (fraction per funding interval, positive = longs pay shorts);
  the index is the settlement time.
* Provenance lives in ``frame.attrs``: ``kind`` (``ohlcv`` | ``mark`` | ``index`` | ``funding``),
  ``symbol``, ``interval`` (e.g. ``"1h"``; funding: the print interval or ``""``), ``source``
  (file path, URL or ``"synthetic(seed=7)"``).
* Time inside kernels is int64 nanoseconds since the epoch (``ts_ns``); :func:`ohlcv_arrays`
  gives zero-copy float64 views of a frame's columns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from levguard.core.risk.forecast import HourlyBars
from levguard.core.validate import show
from levguard.errors import DataError, InputError
from levguard.typing import Float64Array1D, Int64Array1D

__all__ = [
    "BINANCE_KLINE_COLUMNS",
    "FUNDING_COLUMNS",
    "INDEX_NAME",
    "KINDS",
    "OHLCV_COLUMNS",
    "OHLCVArrays",
    "bar_prices",
    "bar_step_ns",
    "epoch_to_ns",
    "epoch_unit_name",
    "epoch_unit_ns",
    "frame_bar_ns",
    "gap_note",
    "hourly_arrays",
    "hourly_bars",
    "interval_to_ns",
    "make_funding_frame",
    "make_ohlcv_frame",
    "ns_to_interval",
    "ohlcv_arrays",
    "ordered_ns",
    "step_text",
    "utc_frame",
    "utc_iso",
]

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
FUNDING_COLUMNS: tuple[str, ...] = ("funding_rate",)
INDEX_NAME = "timestamp"
BINANCE_KLINE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
"""The 12 columns of a Binance kline CSV (data.binance.vision), in order; ``open_time`` in epoch
ms (µs in spot files from 2025-01-01). Some files start with this header row, others have none."""
KINDS: tuple[str, ...] = ("ohlcv", "mark", "index", "funding")

_UNIT_NS = {
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
    "w": 7 * 86_400 * 1_000_000_000,
}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def timestamp_ns(ts: pd.Timestamp, name: str) -> int:
    """Return the UTC time ``ts`` as int64 nanoseconds since the epoch (levguard's time).

    Raises
    ------
    InputError
        ``ts`` lies outside 1677-09-22 to 2262-04-11 UTC, the range of int64 nanoseconds (the
        message names ``name``).
    """
    try:
        return int(ts.as_unit("ns").value)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise InputError(
            f"{name} must lie between 1677-09-22 and 2262-04-11 UTC (int64 nanoseconds), was {ts.isoformat()}"
        ) from None


def utc_frame(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with its tz-aware index converted to UTC (as is when UTC or not tz-aware).

    An aware time is unambiguous: every run, its rows and its reports are in UTC, whatever zone
    the bars came in; so are the days and hours the risk layer groups bars by.  The one
    conversion of the backtests (``run``, ``walk_forward``, ``replay_account``),
    :func:`levguard.data.daily.daily_returns` and :func:`levguard.risk.forecast.to_hourly`.
    """
    index = data.index
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None and str(index.tz) != "UTC":
        out = data.tz_convert("UTC")
        out.attrs.update(data.attrs)
        return out
    return data


def utc_time(value: object, name: str, *, naive_datetime: str = "refuse") -> pd.Timestamp | None:
    """A user-given time (a date or timestamp string, a datetime) as a UTC Timestamp; None stays None.

    A string without an offset is read as UTC.  A naive ``datetime`` object is refused
    (``naive_datetime="refuse"``) or read as UTC (``"utc"``).

    Raises
    ------
    InputError
        Not a time, or outside int64 nanoseconds (:func:`timestamp_ns`); the message names ``name``.
    """
    if value is None:
        return None
    if naive_datetime == "refuse" and isinstance(value, dt.datetime) and value.tzinfo is None:
        raise InputError(f"{name} must be timezone-aware (naive datetimes are refused), was {value!r}")
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be a date or timestamp such as 2024-01-01, was {value!r}") from None
    if not isinstance(ts, pd.Timestamp) or pd.isna(ts):
        raise InputError(f"{name} must be a date or timestamp such as 2024-01-01, was {value!r}")
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    timestamp_ns(ts, name)  # within int64 nanoseconds
    return ts


_DAY_NS = 86_400 * 10**9
_MAX_INTERVAL_NS = 10_000 * _DAY_NS  # a bar longer than the history any file holds


def ordered_ns(frame: pd.DataFrame | pd.Series, what: str) -> np.ndarray:
    """Return the UTC nanosecond times of ``frame``'s index, which must rise strictly.

    Raises
    ------
    DataError
        The index is not a UTC DatetimeIndex, or a time repeats or goes back (named, with its
        position): a repeated funding print would be paid twice, and bars out of order would be
        matched to the wrong prints.
    """
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise DataError(f"{what}: index must be a UTC DatetimeIndex")
    ts: np.ndarray = idx.as_unit("ns").asi8
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        how = "repeats" if ts[i] == ts[i - 1] else "goes back from"
        when = pd.Timestamp(int(ts[i]), unit="ns", tz="UTC").isoformat()
        raise DataError(
            f"{what}: the time at row {i} ({when}) {how} the previous row's; sort by time and drop duplicates"
        )
    return ts


def bar_step_ns(starts: np.ndarray) -> int:
    """The bar interval of rising bar-open times ``starts`` (int ns): their commonest positive
    step, so that gaps do not widen the bars (1 for fewer than two bars)."""
    d = np.diff(np.asarray(starts, dtype=np.int64))
    d = d[d > 0]
    if d.shape[0] == 0:
        return 1
    values, counts = np.unique(d, return_counts=True)
    return int(values[np.argmax(counts)])


def frame_bar_ns(frame: pd.DataFrame | pd.Series, what: str = "bars", ts: np.ndarray | None = None) -> int:
    """Return the bar length of ``frame`` in ns: its ``attrs["interval"]``, checked against the
    bars, else the commonest step between them (:func:`bar_step_ns`).

    A label is right when it equals the bars' smallest step (bars never overlap; gaps only make
    steps longer) or their commonest one (one misplaced bar does not change it).  A frame of
    daily bars labelled ``"1h"`` would otherwise be read as hourly: its volatility annualised
    with 8,760 bars a year and its probability of liquidation read off 24-hour ranges.

    Parameters
    ----------
    frame : pandas.DataFrame or Series
        Bars with a UTC ``DatetimeIndex`` of bar open times.
    what : str
        What the frame is, for the messages.
    ts : (N,) int64, optional
        The index's times when the caller has them (:func:`ordered_ns`).

    Raises
    ------
    DataError
        A label that is not an interval (:func:`interval_to_ns`) or that the bars contradict;
        no label and fewer than two bars; an index that does not rise (:func:`ordered_ns`).
    """
    if ts is None:
        ts = ordered_ns(frame, what)
    d = np.diff(np.asarray(ts, dtype=np.int64))
    d = d[d > 0]
    interval = str(frame.attrs.get("interval") or "")
    if interval:
        ns = interval_to_ns(interval)
        if d.shape[0] and ns != int(d.min()) and ns != (step := bar_step_ns(ts)):  # the sort only when needed
            raise DataError(
                f"{what}: attrs['interval'] is {interval!r} but the bars are {step_text(step)} apart "
                "(their commonest step); correct the label or resample the bars"
            )
        return ns
    if d.shape[0] == 0:
        raise DataError(
            f"{what}: cannot infer the bar interval from {len(ts)} bar(s): at least two bars are needed "
            "(a DataFrame may set attrs['interval'] instead)"
        )
    return bar_step_ns(ts)


def gap_note(ts: np.ndarray, what: str = "bars", *, annualised: bool = False) -> str | None:
    """Say where rising bar open times skip bars (steps longer than the median), or None.

    Nothing can happen inside such a gap in a replay of the bars: no funding settles, no order
    fills and no liquidation is checked there.  Real archives have gaps (Binance's BTCUSDT lacks
    five hours in 2021-04), so they are said, not refused.  With ``annualised`` (a backtest's
    note) it also says that figures annualised per bar (CAGR, volatility, the ratios) count the
    bars present, not the calendar time the bars span: with half a year missing from two
    years of 1h bars a CAGR annualises the whole move over 1.5 years.
    """
    if ts.shape[0] < 3:
        return None
    steps = np.diff(ts)
    step = int(np.median(steps))
    long_ = np.flatnonzero(steps > step)
    if not long_.size:
        return None
    missing = int(np.sum(np.ceil(steps[long_] / step) - 1))
    k = int(long_[np.argmax(steps[long_])])
    start = pd.Timestamp(int(ts[k]), unit="ns", tz="UTC").isoformat()
    length = pd.Timedelta(int(steps[k]), unit="ns")
    note = (
        f"{what} skip {long_.size:,} gap(s) longer than one bar ({missing:,} bar(s) missing; the longest, "
        f"{length}, after {start}): no funding, fills or liquidation checks inside them"
    )
    if annualised:
        present = ts.shape[0] * step / _DAY_NS
        spanned = (int(ts[-1]) - int(ts[0]) + step) / _DAY_NS
        note += (
            f"; CAGR, volatility and ratios are annualised over the {ts.shape[0]:,} bars present "
            f"({present:,.4g} days), not the {spanned:,.4g} days the bars span"
        )
    return note


def utc_iso(ts_ns: object) -> list[str]:
    """Format int64 nanosecond UTC times as ISO 8601 strings ending in ``Z``.

    Whole seconds print as ``2024-01-01T08:00:00Z``; otherwise every time gets the fraction
    digits the finest of them needs (3, 6 or 9: ``2024-01-01T08:59:59.999Z``), so nothing is cut
    off and the strings read back (:func:`pandas.to_datetime`) as the same nanoseconds.
    """
    ts = np.asarray(ts_ns, dtype=np.int64).ravel()
    frac = ts % 1_000_000_000  # 0 <= frac < 1 s, before 1970 too (the seconds are floored)
    unit: Literal["s", "ms", "us", "ns"] = (
        "s" if not frac.any() else "ms" if not (frac % 1_000_000).any() else "us" if not (frac % 1_000).any() else "ns"
    )
    times: np.ndarray = ts.view("M8[ns]")
    return [f"{t}Z" for t in np.datetime_as_string(times, unit=unit).tolist()]


def interval_to_ns(interval: str) -> int:
    """Return the length of a bar interval such as ``"1m"``, ``"4h"``, ``"1d"`` in nanoseconds.

    Raises
    ------
    DataError
        The interval is not ``<positive integer><s|m|h|d|w>`` (months are not fixed-length).
    """
    m = _INTERVAL.match(interval) if isinstance(interval, str) else None
    if m is None or int(m.group(1)) <= 0:
        raise DataError(f"interval must look like 1m, 15m, 1h, 4h, 1d, was {interval!r}")
    ns = int(m.group(1)) * _UNIT_NS[m.group(2)]
    if ns > _MAX_INTERVAL_NS:
        raise DataError(f"interval must be at most 10000d (about 27 years), was {interval!r}")
    return ns


def ns_to_interval(ns: int) -> str:
    """Return the canonical interval string for a bar length in nanoseconds (``3.6e12`` -> ``"1h"``)."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_NS[unit]
        if ns % size == 0 and ns >= size:
            if unit == "w" and ns // size != 1:
                continue
            return f"{ns // size}{unit}"
    raise DataError(f"bar length must be a whole number of seconds, was {ns!r} ns")


def step_text(ns: int) -> str:
    """A step between times for messages: ``"4h"`` (:func:`ns_to_interval`) when it is whole
    seconds, else the timedelta (``"0 days 00:00:00.003600"``)."""
    return ns_to_interval(ns) if ns % 1_000_000_000 == 0 else str(pd.Timedelta(ns, unit="ns"))


# Epoch units told apart by magnitude, one value at a time: below each bound, the unit's ns.
_EPOCH_UNITS: tuple[tuple[float, int, str], ...] = (
    (1e11, 1_000_000_000, "seconds"),
    (1e14, 1_000_000, "milliseconds"),
    (1e17, 1_000, "microseconds"),
)


def epoch_unit_ns(values: object) -> Int64Array1D:
    """Return the nanoseconds per unit of each epoch time in ``values``, read from its magnitude.

    ``|t| < 1e11`` counts seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds, else
    nanoseconds: value by value, so a file joining Binance's millisecond klines with its
    microsecond ones (its spot archive since 2025) reads right.  For times from 1973-03-03
    (1e11 ms) to 2262 the bands cannot be mistaken for one another.
    """
    size = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    out = np.ones(size.shape, dtype=np.int64)
    for bound, ns, _ in reversed(_EPOCH_UNITS):
        out[size < bound] = ns
    return out


def epoch_unit_name(unit_ns: int) -> str:
    """``"milliseconds"`` for 1_000_000 (a unit of :func:`epoch_unit_ns`), and so on."""
    return next((name for _, ns, name in _EPOCH_UNITS if ns == unit_ns), "nanoseconds")


def epoch_to_ns(values: object) -> Int64Array1D:
    """Convert whole epoch times to int64 nanoseconds, each in the unit its magnitude tells
    (:func:`epoch_unit_ns`: seconds, milliseconds, microseconds or nanoseconds).

    Raises DataError naming the first value whose time does not fit int64 nanoseconds
    (1677-09-21 to 2262-04-11): 10,413,792,000 read as seconds (the year 2300, or a kline time
    missing a digit) wrapped to 1715.
    """
    v = np.asarray(values, dtype=np.int64).ravel()
    unit = epoch_unit_ns(v)
    limit = np.iinfo(np.int64).max // unit
    bad = np.flatnonzero(np.abs(v) > limit)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"epoch time {int(v[i])} (row {i}, read in {epoch_unit_name(int(unit[i]))}) is outside "
            "1677-09-21..2262-04-11"
        )
    return v * unit


_NS_LIMIT = float(2**63)
OUT_OF_RANGE = "outside 1677-09-22 to 2262-04-11 UTC, the range of int64 nanoseconds"
"""What a time too far for int64 nanoseconds is, in messages."""


def number_epoch_to_ns(values: np.ndarray, name: str, where: Callable[[int], str]) -> Int64Array1D:
    """Convert numeric epoch times (each in the unit its magnitude tells) to int64 nanoseconds.

    ``values`` may be integers or floats (a CSV column with a fraction is read as float64).
    Raises DataError, its text starting with ``where(i)`` (the file and row or line of value
    ``i``) and naming ``name``, for the first value that is not finite, does not fit int64
    nanoseconds, or is not a whole number of its unit: ``astype(int64)`` would have cut
    ``1577836800000.7`` to ``1577836800000`` without a word, or wrapped a far time around.
    """
    number = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(number)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise DataError(f"{where(bad)}: {name} is not a finite number, was {values[bad]!r}")
    unit = epoch_unit_ns(number)
    far = np.abs(number) * unit >= _NS_LIMIT  # int64 nanoseconds would wrap around
    if far.any():
        bad = int(np.argmax(far))
        raise DataError(f"{where(bad)}: {name} {values[bad].item()!r} is {OUT_OF_RANGE}")
    part = number != np.floor(number)  # cut off by the conversion to integers
    if part.any():
        bad = int(np.argmax(part))
        raise DataError(
            f"{where(bad)}: {name} must be a whole number of {epoch_unit_name(int(unit[bad]))}, "
            f"was {values[bad].item()!r}"
        )
    return epoch_to_ns(np.asarray(values).astype(np.int64))


def _kind(value: object) -> str:
    return "None" if value is None else f"{type(value).__name__} {show(value)}"


def frame_arg(frame: object, what: str = "frame") -> pd.DataFrame:
    """Return ``frame`` if it is a pandas DataFrame, else raise InputError naming ``what`` (None
    or a dict was an AttributeError deep inside the function given it)."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, was {_kind(frame)}")
    return frame


def float_values(values: pd.Series, what: str) -> Float64Array1D:
    """``values`` as float64 (a view when it already is; NA as NaN), else raise DataError naming
    ``what`` and the first cell that is not a number (a string cell was NumPy's ValueError)."""
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        return np.ascontiguousarray(values.to_numpy(dtype=np.float64, copy=False))
    as_num = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(as_num.isna().to_numpy() & values.notna().to_numpy())
    if bad.size == 0:  # only pd.NA or None cells: missing values, read as NaN
        return np.ascontiguousarray(as_num.to_numpy(dtype=np.float64, na_value=np.nan))
    i = int(bad[0])
    raise DataError(f"{what} must hold numbers; row {i} ({values.index[i]}) was {show(values.iloc[i])}")


def float_column(frame: pd.DataFrame, column: str, what: str = "frame") -> Float64Array1D:
    """:func:`float_values` of ``frame[column]``; errors name ``what`` and the column."""
    return float_values(frame[column], f"{what}: column {column!r}")


def _array(values: object, name: str, dtype: type[np.generic]) -> np.ndarray:
    # A 1-D array of the argument, else DataError naming it (10**400, strings, a scalar).
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{name} must be a 1-D array of numbers, was {show(values)}") from None
    if arr.ndim != 1:
        raise DataError(f"{name} must be a 1-D array, was {show(values)} (shape {arr.shape})")
    return arr


_NAT = np.iinfo(np.int64).min  # pandas' NaT as int64


def _times(ts_ns: object) -> np.ndarray:
    # The bar or print times as int64 ns, else DataError naming ts_ns and the first bad entry.
    # NumPy casts a float NaN or inf to int64 as -2**63 (NaT) and 1.5 to 1 without an error, and a
    # DatetimeIndex as its own unit's integers (microseconds for "2024-01-01" in pandas 3): a NaT
    # index or times a thousand times too small, silently.
    dtype = getattr(ts_ns, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        try:
            idx = pd.DatetimeIndex(ts_ns)  # type: ignore[arg-type]
        except (TypeError, ValueError):  # 2-D
            raise DataError(f"ts_ns must be a 1-D array, was {show(ts_ns)}") from None
        if idx.tz is None and type(ts_ns) is np.ndarray:  # NumPy's datetime64 has no zone: UTC (not masked)
            idx = idx.tz_localize("UTC")  # (an aware index's .values, for one)
        if idx.tz is None:  # a naive pandas index or series: ambiguous, as levguard's loaders say
            raise DataError("ts_ns must be int64 nanoseconds since the epoch or UTC times, was naive datetimes")
        if idx.hasnans:
            raise DataError(f"ts_ns[{int(np.flatnonzero(idx.isna())[0])}] must be a time, was NaT")
        try:
            return np.asarray(idx.as_unit("ns").asi8, dtype=np.int64)
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            raise DataError("ts_ns must lie between 1677-09-22 and 2262-04-11 UTC (int64 nanoseconds)") from None
    raw = None
    with contextlib.suppress(TypeError, ValueError, OverflowError):  # ragged or not numbers: _array names it
        raw = np.asarray(ts_ns)
    if raw is not None and raw.dtype.kind == "O" and raw.ndim == 1 and raw.size:
        stamps = raw.tolist()
        if all(isinstance(x, dt.datetime) for x in stamps):  # a list of Timestamps or datetimes
            return _aware_times(stamps)
    if raw is not None and raw.dtype.kind == "f":
        f = _array(ts_ns, "ts_ns", np.float64)
        bad = ~(np.isfinite(f) & (f == np.round(f)) & (np.abs(f) < 2.0**63))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"ts_ns[{i}] must be a whole number of nanoseconds since the epoch, was {f[i].item()!r}")
    if raw is not None and raw.dtype.kind == "u" and raw.size and int(raw.max()) > np.iinfo(np.int64).max:
        raise DataError(f"ts_ns must be int64 nanoseconds since the epoch, was {show(ts_ns)}")
    ts = _array(ts_ns, "ts_ns", np.int64)
    nat = ts == _NAT
    if nat.any():
        raise DataError(f"ts_ns[{int(np.argmax(nat))}] must be a time, was {_NAT} (NaT)")
    return ts


def _aware_times(stamps: list[dt.datetime]) -> np.ndarray:
    # Timestamps or datetimes, each with its zone, as int64 ns UTC; a naive one is ambiguous.
    for i, x in enumerate(stamps):
        if pd.isna(x):  # NaT is a datetime too, without an offset to ask for
            raise DataError(f"ts_ns[{i}] must be a time, was NaT")
        if x.utcoffset() is None:
            raise DataError(f"ts_ns[{i}] must be a time with its zone (UTC), was the naive datetime {x.isoformat()}")
    try:
        return _times(pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)))
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise DataError("ts_ns must lie between 1677-09-22 and 2262-04-11 UTC (int64 nanoseconds)") from None


def _columns_of(ts_ns: object, columns: dict[str, object]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    # The timestamps (int64 ns) and columns (float64) of a frame to build, all of one length.
    ts = _times(ts_ns)
    out = {name: _array(values, name, np.float64) for name, values in columns.items()}
    for name, arr in out.items():
        if arr.shape[0] != ts.shape[0]:
            raise DataError(f"{name} must have one value per timestamp ({ts.shape[0]}), had {arr.shape[0]}")
    return ts, out


def _index(ts_ns: object) -> pd.DatetimeIndex:
    values = np.asarray(ts_ns, dtype=np.int64)
    return pd.DatetimeIndex(pd.to_datetime(values, unit="ns", utc=True), name=INDEX_NAME)


def make_ohlcv_frame(
    ts_ns: object,
    open_: object,
    high: object,
    low: object,
    close: object,
    volume: object | None = None,
    *,
    symbol: str,
    interval: str,
    source: str,
    kind: str = "ohlcv",
) -> pd.DataFrame:
    """Build an OHLCV frame in levguard's convention (the values are not validated: see below).

    Parameters
    ----------
    ts_ns : (N,) int64
        Bar open times in nanoseconds since the epoch (UTC); integral floats, a UTC
        ``DatetimeIndex`` (any unit), a NumPy ``datetime64`` array (UTC by NumPy's convention)
        and a list of Timestamps or datetimes each with its zone are read too.
    open_, high, low, close : (N,) float64
    volume : (N,) float64, optional
        Volume in base units (zeros by default: mark and index klines have none).
    symbol, interval, source : str
        Provenance, written to ``attrs`` with ``kind``.
    kind : {"ohlcv", "mark", "index"}

    Returns
    -------
    pandas.DataFrame
        Columns ``open, high, low, close, volume`` (float64), a UTC ``DatetimeIndex`` named
        ``timestamp``.  Empty arrays give an empty frame with those columns and index (an empty
        download range is not an error).

    Raises
    ------
    DataError
        Arrays that are not 1-D numbers or not of one length; a time that is not one: NaN,
        infinite or fractional nanoseconds, NaT, a naive pandas index (each would have become a NaT
        or a wrong time in the index, silently).

    Notes
    -----
    Prices and volumes are kept as given, NaN and infinities included: a loader builds the frame
    first and :func:`levguard.data.validate.validate_ohlcv` then names each non-finite value by
    file, row and time (rule ``nan``), which is more than this builder can say.
    """
    if kind not in ("ohlcv", "mark", "index"):
        raise DataError(f"kind must be ohlcv, mark or index for a bar frame, was {kind!r}")
    ts = _times(ts_ns)
    vol = np.zeros(ts.shape[0]) if volume is None else volume
    ts, cols = _columns_of(ts, {"open": open_, "high": high, "low": low, "close": close, "volume": vol})
    frame = pd.DataFrame(cols, index=_index(ts))
    frame.attrs.update({"kind": kind, "symbol": symbol, "interval": interval, "source": source})
    return frame


def make_funding_frame(ts_ns: object, rate: object, *, symbol: str, source: str, interval: str = "") -> pd.DataFrame:
    """Build a funding frame (settlement times, rate as a fraction per interval).

    ``ts_ns`` is read and checked as in :func:`make_ohlcv_frame` (DataError for a NaN, infinite,
    fractional or NaT time); empty arrays give an empty frame; rates are kept as given, NaN and
    infinities included, for :func:`levguard.data.validate.validate_funding` to name by row.
    """
    ts, cols = _columns_of(ts_ns, {"rate": rate})
    frame = pd.DataFrame({"funding_rate": cols["rate"]}, index=_index(ts))
    frame.attrs.update({"kind": "funding", "symbol": symbol, "interval": interval, "source": source})
    return frame


class OHLCVArrays(NamedTuple):
    """Zero-copy numpy views of an OHLCV frame for kernels."""

    ts_ns: Int64Array1D
    open: Float64Array1D
    high: Float64Array1D
    low: Float64Array1D
    close: Float64Array1D
    volume: Float64Array1D


def ohlcv_arrays(frame: pd.DataFrame) -> OHLCVArrays:
    """Return the frame's timestamps (int64 ns, UTC) and columns as float64 arrays.

    The column arrays are views of the frame's memory when it is float64 and contiguous (the
    case for frames built by levguard), so kernels read them without a copy.
    """
    frame_arg(frame)
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"frame lacks OHLCV column(s) {missing}")
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise DataError("frame index must be a UTC DatetimeIndex")
    ts = idx.as_unit("ns").asi8
    return OHLCVArrays(ts, *(float_column(frame, c) for c in OHLCV_COLUMNS))


def hourly_bars(frame: pd.DataFrame) -> HourlyBars:
    """Return the :class:`~levguard.core.risk.forecast.HourlyBars` a liquidation forecast reads.

    Parameters
    ----------
    frame : pandas.DataFrame
        Hourly bars with a UTC ``DatetimeIndex`` of bar open times and ``high, low, close``;
        when ``mark_high, mark_low, mark_close`` are present they are used (liquidations are
        triggered by the mark).  Missing hours are allowed.

    Raises
    ------
    InputError
        Not a frame, a naive or non-datetime index, missing columns, or bad prices
        (:meth:`HourlyBars.from_arrays`).
    """
    arrays = hourly_arrays(frame)
    try:
        return HourlyBars.from_arrays(*arrays)
    except InputError as exc:
        if not reads_mark(frame):
            raise
        # from_arrays names its arguments high, low, close: name the mark columns read instead
        # (a NaN mark_close was "bars close must be finite").
        raise InputError(re.sub(r"\b(high|low|close)\b", r"mark_\1", str(exc))) from None


def reads_mark(frame: pd.DataFrame) -> bool:
    """Whether the forecasts read ``frame``'s mark-price bars: its ``mark_high, mark_low,
    mark_close`` replace ``high, low, close`` when all three are present."""
    return {"mark_high", "mark_low", "mark_close"} <= set(frame.columns)


def bar_prices(frame: pd.DataFrame) -> str:
    """Return which price the forecasts read of ``frame``: ``"mark"`` (its ``mark_*`` columns, see
    :func:`reads_mark`, or bars that are mark-price klines, ``attrs["kind"] == "mark"``, as a
    ``*-MARK`` file loads), ``"index"`` (index-price klines) or ``"last-price"``."""
    if reads_mark(frame):
        return "mark"
    kind = frame.attrs.get("kind")
    return kind if kind in ("mark", "index") else "last-price"


def hourly_arrays(frame: pd.DataFrame) -> tuple[Int64Array1D, Float64Array1D, Float64Array1D, Float64Array1D]:
    """Return ``(open_ns, high, low, close)`` of the bars :func:`hourly_bars` reads (mark columns when present).

    Raises
    ------
    InputError
        As :func:`hourly_bars` (prices are validated by :meth:`HourlyBars.from_arrays`).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"bars must be a pandas DataFrame, was {type(frame).__name__}")
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise InputError("bars must have a DatetimeIndex of bar open times")
    if idx.tz is None:
        raise InputError("bars index must be timezone-aware (UTC), was naive")
    prefix = "mark_" if reads_mark(frame) else ""
    cols = [f"{prefix}{c}" for c in ("high", "low", "close")]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"bars has no column(s) {', '.join(missing)}")
    values = []
    for c in cols:
        try:
            values.append(pd.to_numeric(frame[c], errors="raise").to_numpy(dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise InputError(f"bars {c} must be numeric") from exc
    ts: Int64Array1D = np.asarray(idx.tz_convert("UTC").as_unit("ns").asi8, dtype=np.int64)
    return ts, values[0], values[1], values[2]
