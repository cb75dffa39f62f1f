"""Resampling bars to a coarser interval and aligning funding prints to bars."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from levguard.core.validate import show
from levguard.data.frames import (
    INDEX_NAME,
    OHLCV_COLUMNS,
    bar_step_ns,
    float_column,
    frame_arg,
    frame_bar_ns,
    interval_to_ns,
    ns_to_interval,
    ordered_ns,
)
from levguard.errors import DataError, InputError

__all__ = ["align_funding", "bar_step_ns", "funding_bars", "in_gaps", "resample_ohlcv", "sum_into_bars"]


def sum_into_bars(starts: np.ndarray, bar_ns: int, times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum ``values`` stamped at ``times`` into the bars ``[start, start + bar_ns)`` that hold them.

    ``starts`` are rising bar-open times and ``times`` the stamps, both int ns. Returns one float64
    sum per bar (0.0 where nothing falls); a stamp before the first bar, after a bar's end or
    inside a gap between bars is dropped. This is how funding prints reach bars (the backtester
    through :func:`align_funding`, ``replay_account`` directly).
    """
    starts = np.asarray(starts, dtype=np.int64)
    t = np.asarray(times, dtype=np.int64)
    pos = np.searchsorted(starts, t, side="right") - 1
    inside = (pos >= 0) & (t < starts[np.clip(pos, 0, None)] + bar_ns)
    out = np.zeros(starts.shape[0])
    np.add.at(out, pos[inside], np.asarray(values, dtype=np.float64)[inside])
    return out


ON_OPEN_NS = 60 * 10**9
"""A print this close after a bar's open settles at that open (Binance's ``fundingTime`` is a
few milliseconds past the hour, ``08:00:00.016``); at most half a bar on shorter bars."""

BEFORE_FIRST, AFTER_END, AFTER_LAST_OPEN = -1, -2, -3
"""Codes of :func:`funding_bars` for prints no bar charges."""


def funding_bars(starts: np.ndarray, bar_ns: int, times: np.ndarray) -> np.ndarray:
    """Return, for each funding print, the index of the bar whose open charges it, else a code.

    A venue charges a print to whoever holds the position at its settlement time (Binance:
    "traders are only liable for funding payments if they have open positions at the
    pre-specified funding times", FAQ 360033525031).  The backtester charges a bar's
    ``funding_rate`` at its open to the position carried from the bar before (docs/backtest.md,
    event order), so a print settling inside the bar ``[s, s + bar)`` belongs to the *next* bar's
    open: the position carried into it is the one held through the print.  A print at a bar's
    open (within :data:`ON_OPEN_NS`, half a bar at most) is charged at that open, to the position
    held up to it.  A print inside a gap between bars is charged at the open after the gap: no
    trade happens in a gap, so the position carried into that bar held it (at that bar's mark).

    Returns int64 indices into ``starts``, or :data:`BEFORE_FIRST` (before the first bar),
    :data:`AFTER_END` (at or after the last bar's end) and :data:`AFTER_LAST_OPEN` (inside the
    last bar): no later open to charge them at.

    Notes
    -----
    With bars no longer than the funding interval and aligned to it (1h bars and 8h prints) every
    print falls on an open and nothing moves.  On 6h bars the 08:00 print lies inside the
    06:00 bar: it was charged at 06:00 to the position held *before* that bar's trade (a position
    held 12:00-18:00 paid nothing for the 16:00 print; one closed at 12:00 paid a print it never
    held); it is now charged at 12:00 to the position held through 08:00, at the 12:00 mark.
    """
    starts = np.asarray(starts, dtype=np.int64)
    t = np.asarray(times, dtype=np.int64)
    tol = min(ON_OPEN_NS, int(bar_ns) // 2)
    k = np.searchsorted(starts, t, side="right") - 1
    base = starts[np.clip(k, 0, None)]
    out = np.where(t - base <= tol, k, k + 1).astype(np.int64)
    last = k == starts.shape[0] - 1
    out[last & (out == starts.shape[0])] = AFTER_LAST_OPEN
    out[last & (t >= base + bar_ns)] = AFTER_END
    out[k < 0] = BEFORE_FIRST
    return out


def in_gaps(starts: np.ndarray, bar_ns: int, times: np.ndarray) -> np.ndarray:
    """Return which ``times`` lie inside a gap between the bars ``[start, start + bar_ns)``: after
    a bar's end and before the next bar's open (not before the first bar, not after the last's
    end).  :func:`funding_bars` charges such a print at the open after the gap."""
    starts = np.asarray(starts, dtype=np.int64)
    t = np.asarray(times, dtype=np.int64)
    k = np.searchsorted(starts, t, side="right") - 1
    inside: np.ndarray = (k >= 0) & (k < starts.shape[0] - 1) & (t >= starts[np.clip(k, 0, None)] + bar_ns)
    return inside


_OHLC_RULES = {"open": "first", "high": "max", "low": "min", "close": "last"}


def _aggregations(frame: pd.DataFrame) -> dict[str, str]:
    """The aggregation of every bar column resampling keeps: OHLCV, then the mark-price and
    index-price OHLC families present (dropping them switched the forecasts from mark to last
    price without a word)."""
    rules = {**_OHLC_RULES, "volume": "sum"}
    for prefix in ("mark_", "index_"):
        rules.update({prefix + c: r for c, r in _OHLC_RULES.items() if prefix + c in frame.columns})
    return rules


def resample_ohlcv(frame: pd.DataFrame, interval: str, *, partial: Literal["drop", "keep"] = "drop") -> pd.DataFrame:
    """Aggregate bars to ``interval`` (a whole multiple of the frame's interval).

    open = first, high = max, low = min, close = last, volume = sum, and the same rules for the
    mark-price (``mark_open`` .. ``mark_close``) and index-price (``index_*``) bars a frame
    carries; a perp frame's ``funding_rate`` is summed into the first target bar opening at or
    after each print (the bar whose open charges the position that held it, as
    :func:`funding_bars` places prints; NaN where none is); bars are labelled by their
    open time and cover ``[t, t + interval)`` anchored at the Unix epoch (so 1h bars become
    UTC-midnight-aligned days), except whole weeks, which start on Monday 00:00 UTC as
    Binance's weekly klines do (the epoch was a Thursday).  Target bars with no source bar are
    omitted (gaps stay gaps);
    ``partial="drop"`` also omits target bars missing any source bar (e.g. the current,
    unfinished day).

    Raises
    ------
    DataError
        ``interval`` is not a multiple of the source interval; the times do not rise strictly (a
        repeated source bar made its target bar look complete or short); a source bar crosses a
        target bar's boundary (Thursday weekly bars to Monday weeks).
    """
    frame_arg(frame)
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:  # a KeyError in the aggregation
        raise DataError(f"frame lacks OHLCV column(s) {missing}")
    if partial not in ("drop", "keep"):
        raise InputError(f"partial must be 'drop' or 'keep', was {show(partial)}")
    ts = ordered_ns(frame, "bars")
    src_ns = frame_bar_ns(frame, "bars", ts)
    dst_ns = interval_to_ns(interval)
    if dst_ns % src_ns != 0 or dst_ns < src_ns:
        raise DataError(
            f"cannot resample {ns_to_interval(src_ns)} bars to {interval}: not a whole multiple of the source interval"
        )
    rule = pd.Timedelta(dst_ns, unit="ns")
    week = 7 * 86_400 * 10**9
    monday = 4 * 86_400 * 10**9  # 1970-01-05, the first Monday after the epoch
    origin_ns = monday if dst_ns % week == 0 else 0
    offset = (ts - origin_ns) % dst_ns
    if ts.shape[0] and int(np.max(offset)) + src_ns > dst_ns:
        # A source bar that straddles two target bars (weekly bars that start on a Thursday,
        # hourly bars at :30 into days) would be labelled with the earlier one: look-ahead.
        k = int(np.argmax(offset + src_ns > dst_ns))
        raise DataError(
            f"cannot resample to {interval}: the bar at {pd.Timestamp(int(ts[k]), unit='ns', tz='UTC').isoformat()} "
            f"crosses a {interval} boundary (days start at 00:00 UTC, weeks on Monday)"
        )
    origin = pd.Timestamp(origin_ns, unit="ns", tz="UTC")
    grouped = frame.resample(rule, origin=origin, label="left", closed="left")
    out = grouped.agg(_aggregations(frame))
    counts = grouped["close"].count()
    keep = counts > 0
    if partial == "drop":
        keep &= counts == dst_ns // src_ns
    dropped = out.index[(counts > 0).to_numpy() & ~keep.to_numpy()]
    out = out[keep.to_numpy()]
    notes = list(frame.attrs.get("notes", ()))
    if len(dropped):
        notes.append(
            f"{len(dropped):,} partial {interval} bar(s) dropped (missing some of their "
            f"{dst_ns // src_ns} {ns_to_interval(src_ns)} bars): {_when(dropped)}"
        )
    if "funding_rate" in frame.columns:  # NaN = no settlement in the bar (the backtester's contract)
        out["funding_rate"] = _funding_after(frame, ts, origin_ns, dst_ns, out.index, interval, notes)
    out.index.name = INDEX_NAME
    out.attrs.update(frame.attrs)
    out.attrs["interval"] = interval
    out.attrs["notes"] = notes
    return out


def _when(times: pd.Index) -> str:
    # The first (and last) of some bar or print times, for a note.
    first = pd.Timestamp(times[0]).isoformat()
    return first if len(times) == 1 else f"{first} to {pd.Timestamp(times[-1]).isoformat()}"


def align_funding(funding: pd.DataFrame, bars: pd.DataFrame) -> pd.Series:
    """Map funding prints onto bars: each print to the bar whose open charges it
    (:func:`funding_bars`): the bar it settles at the open of, else the next bar, whose open
    charges the position held through the print.

    Returns a float64 Series indexed like ``bars`` (0.0 where no print is charged; the sum when
    several are, e.g. hourly funding on 4h bars: 00:00 at the 00:00 open, 01:00-04:00 at the
    04:00 one; a print inside a gap between bars at the open after it).  Prints before the first
    bar, inside the last bar or after its end are dropped.  The backtester pays ``-qty *
    mark_open * rate`` at the bar's open for the linear position carried into it
    (docs/backtest.md).
    """
    if not isinstance(funding, pd.DataFrame) or "funding_rate" not in funding.columns:
        raise DataError("funding must be a DataFrame with a 'funding_rate' column (one row per print)")
    frame_arg(bars, "bars")
    starts = ordered_ns(bars, "bars")
    if starts.shape[0] == 0:
        raise DataError("bars must hold at least one bar to align funding to, was empty")
    bar_ns = frame_bar_ns(bars, "bars", starts)
    t = ordered_ns(funding, "funding prints")
    at = funding_bars(starts, bar_ns, t)
    keep = at >= 0
    out = np.zeros(starts.shape[0])
    np.add.at(out, at[keep], float_column(funding, "funding_rate", "funding")[keep])
    return pd.Series(out, index=bars.index, name="funding_rate")


def _funding_after(
    frame: pd.DataFrame,
    ts: np.ndarray,
    origin_ns: int,
    dst_ns: int,
    index: pd.Index,
    interval: str,
    notes: list[str],
) -> np.ndarray:
    # A source bar's print is charged at its open to the position carried into it, held through
    # ``(s - src, s]``; a target bar's open charges what its carried position held, so a print at a
    # source open ``s`` goes to the first target open at or after it (``(T - dst, T]`` -> T, or
    # the next bar kept when that one is missing or partial, as funding_bars does past a gap):
    # summed into the bar that holds it, the 08:00 print of 1h bars was charged at 06:00 of 6h
    # bars to the position held before it (funding_bars).  NaN where no print is charged.  A
    # print charged past its own target bar (dropped as partial) or never charged (after the last
    # bar kept) is noted.
    rate = frame["funding_rate"].to_numpy(dtype=np.float64)
    has = ~np.isnan(rate)
    label = origin_ns - ((origin_ns - ts[has]) // dst_ns) * dst_ns  # ceil onto the target grid
    target = pd.DatetimeIndex(index).as_unit("ns").asi8
    at = np.searchsorted(target, label)  # the first target bar kept at or after it (after a gap too)
    ok = at < target.shape[0]
    when = frame.index[has]
    if not ok.all():
        lost = when[~ok]
        notes.append(
            f"{len(lost):,} funding print(s) after the last {interval} bar's open dropped (no bar "
            f"charges them; sum {float(rate[has][~ok].sum()):.6g}): {_when(lost)}"
        )
    late = ok & (target[np.minimum(at, target.shape[0] - 1)] != label)
    if late.any():
        moved = when[late]
        notes.append(
            f"{len(moved):,} funding print(s) charged at the next {interval} bar kept, their own "
            f"being partial and dropped or missing: {_when(moved)}"
        )
    out = np.zeros(target.shape[0])
    hits = np.zeros(target.shape[0])
    np.add.at(out, at[ok], rate[has][ok])
    np.add.at(hits, at[ok], 1.0)
    return np.where(hits > 0, out, np.nan)
