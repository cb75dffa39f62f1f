"""Validation of market-data frames: every problem named by file, row, timestamp and value.

Rules (``ValidationReport.issues``; all are errors except gaps):

====================  ==============================================================
rule                  meaning
====================  ==============================================================
``unsorted``          a timestamp is earlier than the one before it
``duplicate``         a timestamp repeats (funding: a print within a minute of the previous
                      one with a different rate; with the same rate it is dropped, with a note)
``nan``               a price or volume (or funding rate) is NaN or infinite
``non_positive``      a price is <= 0 (volume < 0 for volume)
``high_low``          high < low
``open_range``        open outside [low, high]
``close_range``       close outside [low, high]
``mixed_interval``    a step between bars is not a whole multiple of the bar interval
``misaligned``        a bar stamped with its close time: 1 ms (or 1 us) before the UTC grid of
                      its interval (1m to 1d intervals that divide a day: 08:59:59.999 for the
                      08:00 1h bar)
``interval``          the inferred interval differs from the declared one, or is not a whole
                      number of seconds
====================  ==============================================================

Gaps (steps of k > 1 bars) are reported and, on request, filled (flat bars at the previous
close with zero volume) or left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from levguard.core.validate import number, show
from levguard.data.frames import (
    _DAY_NS,
    FUNDING_COLUMNS,
    INDEX_NAME,
    OHLCV_COLUMNS,
    float_column,
    frame_arg,
    interval_to_ns,
    ns_to_interval,
    step_text,
    utc_iso,
)
from levguard.errors import DataError, InputError

__all__ = ["Gap", "Issue", "ValidationReport", "funding_interval_ns", "validate_funding", "validate_ohlcv"]

GapPolicy = Literal["leave", "fill", "error"]
_MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a frame.

    ``row`` is the 0-based data row; ``line`` the 1-based line in a CSV file (None for other
    formats, in-memory frames, or when it cannot be known).
    """

    rule: str
    row: int
    line: int | None
    timestamp: str
    column: str | None
    value: float | None
    message: str

    def where(self, source: str) -> str:
        """``file, row R (line L), 2024-01-01T00:00:00Z``."""
        line = f" (line {self.line})" if self.line is not None else ""
        return f"{source}, row {self.row}{line}, {self.timestamp}"


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars between ``after`` and ``before`` (ISO timestamps of the surrounding bars)."""

    after: str
    before: str
    missing_bars: int


@dataclass(frozen=True)
class ValidationReport:
    """What validation found in one frame."""

    source: str
    kind: str
    rows: int
    first: str | None
    last: str | None
    interval: str | None
    issues: tuple[Issue, ...] = ()
    gaps: tuple[Gap, ...] = ()
    filled_bars: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when there is no error (gaps alone do not make a frame invalid)."""
        return not self.issues

    @property
    def missing_bars(self) -> int:
        """Total bars missing in gaps."""
        return sum(g.missing_bars for g in self.gaps)

    def first_error(self) -> str:
        """The first error as one line naming file, row, timestamp and value."""
        if not self.issues:
            return ""
        i = self.issues[0]
        total = sum(self.counts.values())
        more = f" ({total - 1} more problem(s))" if total > 1 else ""
        return f"{i.where(self.source)}: {i.message}{more}"

    def raise_for_errors(self) -> None:
        """Raise :class:`~levguard.errors.DataError` with the first error when any exist."""
        if self.issues:
            raise DataError(self.first_error())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (at most 20 issues and gaps listed)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "rows": self.rows,
            "first": self.first,
            "last": self.last,
            "interval": self.interval,
            "ok": self.ok,
            "counts": dict(self.counts),
            "missing_bars": self.missing_bars,
            "filled_bars": self.filled_bars,
            "notes": list(self.notes),
            "issues": [asdict(i) for i in self.issues[:_MAX_LISTED]],
            "gaps": [asdict(g) for g in self.gaps[:_MAX_LISTED]],
        }


def csv_row_lines(data: bytes, rows: int, *, header: bool = True) -> list[int] | None:
    """The 1-based file line of each data row of CSV ``data`` as pandas reads it.

    pandas skips blank (and blank-but-for-spaces) lines, before the header too, so row ``r`` is
    not on line ``r + 2`` once a blank line comes before it. None when the non-blank lines do
    not match the ``rows`` one to one (a quoted cell across lines).
    """
    filled = [n for n, line in enumerate(data.splitlines(), start=1) if line.strip(b" \t")]
    if header:
        filled = filled[1:]
    return filled if len(filled) == rows else None


def with_lines(report: ValidationReport, lines: Sequence[int] | None) -> ValidationReport:
    """``report`` with each issue's file line read from ``lines`` (by the issue's row); unchanged
    where ``lines`` is None."""
    if lines is None or not report.issues:
        return report
    return replace(report, issues=tuple(replace(i, line=lines[i.row]) for i in report.issues))


def _iso(ts_ns: int | np.integer) -> str:
    # One time as ISO 8601 UTC, with its fraction of a second when it has one.
    return utc_iso([ts_ns])[0]


class _Collector:
    def __init__(self, ts: np.ndarray, line_offset: int | None) -> None:
        self.ts = ts
        self.line_offset = line_offset
        self.issues: list[Issue] = []
        self.counts: dict[str, int] = {}

    def add(self, rule: str, rows: np.ndarray, column: str | None, values: np.ndarray | None, text: str) -> None:
        rows = np.asarray(rows)
        if rows.size == 0:
            return
        self.counts[rule] = self.counts.get(rule, 0) + int(rows.size)
        for r in rows[:_MAX_LISTED]:
            r = int(r)
            value = None if values is None else float(values[r])
            shown = "" if value is None else f", was {value!r}"
            line = None if self.line_offset is None else r + self.line_offset
            self.issues.append(
                Issue(rule, r, line, _iso(self.ts[r]), column, value, text.format(column=column) + shown)
            )


def _check_index(frame: pd.DataFrame, what: str) -> pd.DatetimeIndex:
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataError(f"{what}: index must be a DatetimeIndex named {INDEX_NAME!r}, was {type(idx).__name__}")
    if idx.tz is None:
        raise DataError(f"{what}: timestamps must be timezone-aware UTC (naive datetimes are refused)")
    return idx.tz_convert("UTC")


def _time_rules(c: _Collector, ts: np.ndarray) -> np.ndarray:
    """Unsorted and duplicate timestamps; returns the positive steps (ns) between rows."""
    d = np.diff(ts)
    c.add("unsorted", np.flatnonzero(d < 0) + 1, None, None, "timestamp is earlier than the previous row's")
    c.add("duplicate", np.flatnonzero(d == 0) + 1, None, None, "timestamp repeats the previous row's")
    return d


def _infer_interval(d: np.ndarray) -> int | None:
    pos = d[d > 0]
    if pos.size == 0:
        return None
    values, counts = np.unique(pos, return_counts=True)
    return int(values[np.argmax(counts)])


_MINUTE_NS = 60 * 1_000_000_000
# Binance's close_time is the bar's open + interval - 1 ms (- 1 µs in its microsecond files).
_CLOSE_LAGS = ((1_000_000, "ms"), (1_000, "µs"))


def _aligned(c: _Collector, ts: np.ndarray, step: int) -> None:
    """Bars stamped with their close time: one millisecond (or microsecond) before the UTC grid
    of their interval, for whole-minute intervals that divide a day.

    Binance's ``close_time`` is the bar's open + interval - 1 ms (- 1 us in its microsecond
    files); bars stamped with it were loaded as open times and funding settling at 08:00 was
    charged to the wrong bar.  Other offsets from the grid are left alone: a venue may open its
    bars off 00:00 UTC (daily candles at 16:00 UTC for Hong Kong time, hourly bars at :30), and
    bars whose offset varies are the ``mixed_interval`` rule's.
    """
    if step % _MINUTE_NS != 0 or _DAY_NS % step != 0:
        return
    off = np.flatnonzero(ts % step != 0)
    if off.size == 0:
        return
    every = ns_to_interval(step)
    for lag, unit in _CLOSE_LAGS:
        close = off[(ts[off] + lag) % step == 0]
        text = (
            f"bar time is 1 {unit} before the {every} grid (multiples of {every} from 00:00 UTC): "
            f"a close time (open + {every} - 1 {unit}); stamp bars with their open time"
        )
        c.add("misaligned", close, None, None, text)


def validate_ohlcv(
    frame: pd.DataFrame,
    *,
    source: str | None = None,
    interval: str | None = None,
    gaps: GapPolicy = "leave",
    line_offset: int | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate an OHLCV (or mark/index kline) frame.

    Parameters
    ----------
    frame : DataFrame
        Columns ``open, high, low, close, volume``; UTC ``DatetimeIndex``.
    source : str, optional
        Name used in messages (default ``frame.attrs["source"]``).
    interval : str, optional
        Declared bar interval (default ``frame.attrs["interval"]`` or inferred as the most
        common step).
    gaps : {"leave", "fill", "error"}
        Keep gaps, fill them with flat bars at the previous close and zero volume, or treat
        them as errors.
    line_offset : int, optional
        CSV line number of data row 0 (2 for a file with one header line).

    Returns
    -------
    (frame, report)
        The frame (gap-filled when asked; otherwise unchanged) and the report.  Errors do not
        raise here: call ``report.raise_for_errors()`` (the loaders do).
    """
    frame_arg(frame)
    if gaps not in ("leave", "fill", "error"):  # "fil" was read as "leave"
        raise InputError(f"gaps must be 'leave', 'fill' or 'error', was {show(gaps)}")
    src = source or str(frame.attrs.get("source", "<frame>"))
    missing = [col for col in OHLCV_COLUMNS if col not in frame.columns]
    if missing:
        raise DataError(f"{src}: missing column(s) {missing}; expected {list(OHLCV_COLUMNS)}")
    idx = _check_index(frame, src)
    ts = idx.as_unit("ns").asi8
    c = _Collector(ts, line_offset)
    d = _time_rules(c, ts)
    o, h, lo, cl, v = (float_column(frame, col, src) for col in OHLCV_COLUMNS)
    for col, arr in zip(OHLCV_COLUMNS, (o, h, lo, cl, v), strict=True):
        c.add("nan", np.flatnonzero(~np.isfinite(arr)), col, arr, "{column} is not a finite number")
    with np.errstate(invalid="ignore"):
        for col, arr in zip(OHLCV_COLUMNS[:4], (o, h, lo, cl), strict=True):
            c.add("non_positive", np.flatnonzero(arr <= 0), col, arr, "{column} must be > 0")
        c.add("non_positive", np.flatnonzero(v < 0), "volume", v, "volume must be >= 0")
        c.add("high_low", np.flatnonzero(h < lo), "high", h, "high is below low")
        c.add("open_range", np.flatnonzero((o < lo) | (o > h)), "open", o, "open is outside [low, high]")
        c.add("close_range", np.flatnonzero((cl < lo) | (cl > h)), "close", cl, "close is outside [low, high]")
    declared = interval or (str(frame.attrs.get("interval")) if frame.attrs.get("interval") else None)
    # Infer from the sorted, distinct times so that disorder is reported once, as disorder.
    inferred = _infer_interval(np.diff(np.unique(ts)))
    if inferred is not None and inferred % 1_000_000_000 != 0:
        # No bar interval is a fraction of a second: times read in the wrong unit, usually (this
        # was a DataError naming neither the file nor a row).
        c.add(
            "interval",
            np.array([int(np.argmax(d == inferred)) + 1]),
            None,
            None,
            f"bars are {step_text(inferred)} apart, not a whole number of seconds (times in the wrong unit?)",
        )
        inferred = None
    step = interval_to_ns(declared) if declared else inferred
    steps = np.diff(np.unique(ts))
    # A declared interval that never occurs over several steps is a wrong declaration (4h bars
    # called 1h); one that occurs at least once leaves the longer steps to be reported as gaps.
    if declared and inferred is not None and inferred != step and steps.size >= 3 and not (steps == step).any():
        c.add(
            "interval",
            np.array([int(np.argmax(d == inferred)) + 1]),
            None,
            None,
            f"bars are {step_text(inferred)} apart but the declared interval is {declared}",
        )
    gap_list: list[Gap] = []
    if step:
        pos = d > 0
        mixed = np.flatnonzero(pos & (d % step != 0)) + 1
        c.add(
            "mixed_interval",
            mixed,
            None,
            None,
            f"step to this bar is not a multiple of the {ns_to_interval(step)} interval",
        )
        _aligned(c, ts, step)
        gap_rows = np.flatnonzero(pos & (d % step == 0) & (d > step)) + 1
        after, before = utc_iso(ts[gap_rows - 1]), utc_iso(ts[gap_rows])
        for r, a, b in zip(gap_rows.tolist(), after, before, strict=True):
            gap_list.append(Gap(a, b, int(d[r - 1] // step) - 1))
        if gaps == "error" and gap_rows.size:
            c.add("gap", gap_rows, None, None, "bars are missing before this row")
    out = frame
    filled = 0
    if gaps == "fill" and gap_list and not c.issues and step:
        full = pd.date_range(idx[0], idx[-1], freq=pd.Timedelta(step, unit="ns"), name=INDEX_NAME)
        out = frame.reindex(full)
        new = out["close"].isna()
        filled = int(new.sum())
        prev_close = out["close"].ffill()
        for col in ("open", "high", "low", "close"):
            out[col] = out[col].fillna(prev_close)
        out["volume"] = out["volume"].fillna(0.0)
        if "mark_close" in out.columns:  # mark-price bars travel with the last price: flat too
            prev_mark = out["mark_close"].ffill()
            for col in ("mark_open", "mark_high", "mark_low", "mark_close"):
                if col in out.columns:
                    out[col] = out[col].fillna(prev_mark)
        out.attrs.update(frame.attrs)
    report = ValidationReport(
        source=src,
        kind=str(frame.attrs.get("kind", "ohlcv")),
        rows=len(frame),
        first=_iso(ts[0]) if len(ts) else None,
        last=_iso(ts[-1]) if len(ts) else None,
        interval=ns_to_interval(step) if step else None,
        issues=tuple(sorted(c.issues, key=lambda i: i.row)),
        gaps=tuple(gap_list),
        filled_bars=filled,
        counts=c.counts,
    )
    return out, report


# Funding prints closer than this are one settlement printed twice: no venue settles funding
# more often than hourly (Binance's shortest interval is 1h).
_NEAR_NS = _MINUTE_NS


def funding_interval_ns(ts: np.ndarray) -> int | None:
    """The most common step between funding prints, each step rounded to the whole minute
    (``None`` when no two prints are a minute or more apart).

    Notes
    -----
    Binance's ``fundingTime`` carries a few milliseconds past the hour (``1667462400016``,
    08:00:00.016; PROVENANCE.md), so the raw steps (8h - 9 ms) are no whole number of seconds
    and differ print to print; rounded to the minute they are the interval.  Never raises.
    """
    t = np.unique(np.asarray(ts, dtype=np.int64))
    d = np.diff(t)
    steps = (d + _MINUTE_NS // 2) // _MINUTE_NS * _MINUTE_NS
    steps = steps[steps > 0]
    if steps.size == 0:
        return None
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def _near_duplicates(c: _Collector, ts: np.ndarray, d: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Prints within a minute of the previous one: the same rate is dropped (returned, with a
    note); a different rate is a ``duplicate`` error naming both times."""
    near = np.flatnonzero((d > 0) & (d < _NEAR_NS)) + 1
    if near.size == 0:
        return near, []
    same = r[near] == r[near - 1]
    drop = near[same]
    clash = near[~same]
    for row in clash[:_MAX_LISTED].tolist():
        c.add(
            "duplicate",
            np.array([row]),
            "funding_rate",
            r,
            f"print {step_text(int(d[row - 1]))} after the one at {_iso(ts[row - 1])} "
            f"(rate {float(r[row - 1])!r}): one settlement printed twice with different rates",
        )
    if clash.size > _MAX_LISTED:
        c.counts["duplicate"] += int(clash.size - _MAX_LISTED)
    notes = []
    if drop.size:
        notes.append(
            f"{drop.size:,} funding print(s) within a minute of the previous one with the same rate "
            f"dropped as repeats of one settlement (first {_iso(ts[drop[0]])}, "
            f"after {_iso(ts[drop[0] - 1])})"
        )
    return drop, notes


def validate_funding(
    frame: pd.DataFrame, *, source: str | None = None, line_offset: int | None = None, max_abs_rate: float = 0.1
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate a funding frame: sorted, unique times, finite rates with ``|rate| < max_abs_rate``.

    Funding intervals may legitimately change over a symbol's life (Binance moved symbols
    between 8h, 4h and 1h), so steps are reported (``interval`` = the most common, by
    :func:`funding_interval_ns`) but not required to be uniform.  A print within a minute of
    the previous one is the same settlement printed twice (freqtrade's ``1h`` and ``8h`` files
    hold 08:00:00.000 and 08:00:00.005, PROVENANCE.md): with the same rate it is dropped from
    the returned frame (``report.notes`` says so), with a different rate it is a ``duplicate``
    error naming both times.
    """
    frame_arg(frame)
    limit = number(max_abs_rate, "max_abs_rate")  # inf: no limit
    if not limit > 0.0:
        raise InputError(f"max_abs_rate must be > 0, was {max_abs_rate!r}")
    src = source or str(frame.attrs.get("source", "<frame>"))
    if FUNDING_COLUMNS[0] not in frame.columns:
        raise DataError(f"{src}: missing column 'funding_rate'")
    idx = _check_index(frame, src)
    ts = idx.as_unit("ns").asi8
    c = _Collector(ts, line_offset)
    d = _time_rules(c, ts)
    r = float_column(frame, "funding_rate", src)
    c.add("nan", np.flatnonzero(~np.isfinite(r)), "funding_rate", r, "{column} is not a finite number")
    with np.errstate(invalid="ignore"):
        c.add(
            "range",
            np.flatnonzero(np.abs(r) >= limit),
            "funding_rate",
            r,
            f"|funding_rate| must be below {max_abs_rate} (a fraction per interval)",
        )
    drop, notes = _near_duplicates(c, ts, d, r)
    out = frame
    if drop.size:
        keep = np.ones(len(frame), dtype=bool)
        keep[drop] = False
        out = frame.iloc[keep].copy()
        out.attrs.update(frame.attrs)
    step = funding_interval_ns(np.delete(ts, drop))
    report = ValidationReport(
        source=src,
        kind="funding",
        rows=len(frame),
        first=_iso(ts[0]) if len(ts) else None,
        last=_iso(ts[-1]) if len(ts) else None,
        interval=ns_to_interval(step) if step else None,
        issues=tuple(sorted(c.issues, key=lambda i: i.row)),
        counts=c.counts,
        notes=tuple(notes),
    )
    return out, report
