"""Read OHLCV, mark/index klines and funding series from CSV or Parquet into validated frames.

Accepted layouts (detected from the header, case-insensitive):

* levguard / shared data: ``timestamp`` (ISO 8601 with a UTC offset: ``Z``, ``+00:00``,
  ``+0000`` or ``+00``; or epoch s/ms/µs/ns, the unit of each value told by its magnitude) +
  ``open, high, low, close, volume``; funding: ``timestamp`` + ``funding_rate``.
* Binance archive klines: ``open_time`` (epoch ms or µs) + ``open, high, low, close, volume`` ...,
  with that header or without one (12 numeric columns, :data:`BINANCE_KLINE_COLUMNS`).
* Binance funding: ``calc_time``/``fundingTime`` + ``last_funding_rate``/``fundingRate``.

A bar file's funding column (the rate settled on each bar, empty for none) goes by the same
names as a funding file's: ``funding_rate``, ``fundingRate``, ``last_funding_rate`` or ``rate``;
two of them in one file are refused as ambiguous.

Symbol and interval default to the file name (``BTCUSDT-PERP_1h.csv`` -> ``BTCUSDT-PERP``, ``1h``;
an archive file's ``BTCUSDT-1h-2024-01.csv`` -> ``BTCUSDT``, ``1h``; ``…-1M.csv``, one month in
Binance's names, declares no interval).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import re
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from levguard.core.validate import path_arg, show
from levguard.data.frames import (
    BINANCE_KLINE_COLUMNS,
    INDEX_NAME,
    OUT_OF_RANGE,
    frame_arg,
    make_funding_frame,
    make_ohlcv_frame,
    number_epoch_to_ns,
    utc_iso,
)
from levguard.data.validate import (
    GapPolicy,
    ValidationReport,
    csv_row_lines,
    validate_funding,
    validate_ohlcv,
    with_lines,
)
from levguard.errors import DataError
from levguard.files import replacing

__all__ = ["check_file", "detect_kind", "load_funding", "load_ohlcv", "load_series", "read_table", "save_frame"]

Kind = Literal["ohlcv", "mark", "index", "funding"]
_TIME_COLUMNS = ("timestamp", "time", "datetime", "date", "open_time", "opentime", "calc_time", "fundingtime", "ts")
_RATE_COLUMNS = ("funding_rate", "fundingrate", "last_funding_rate", "rate")
# An ISO time with its UTC offset: Z, +hh:mm, +hhmm, or +hh after the time's minutes or seconds
# (PostgreSQL's "2024-01-01 00:00:00+00"); a bare date "2024-01-01" ends in "-01", not an offset.
_HAS_OFFSET = r"(?:Z|[+-]\d\d:?\d\d|:\d\d(?:\.\d+)?[+-]\d\d)$"
_TIME_FORMS = "ISO 8601 with a UTC offset (2024-01-01T00:00:00Z, +00:00, +0000, +00 or UTC) or epoch s/ms/µs/ns"
# The unit's case matters for one letter only: ``1M`` is Binance's one month, not a minute.
# The bar kinds a data file's name says after its symbol (levguard.core.symbols.FILE_KIND_SUFFIXES).
_NAMED_KINDS: dict[str, Literal["mark", "index"]] = {"-MARK": "mark", "-INDEX": "index"}

_NAME = re.compile(r"^(?P<symbol>.+?)[_-](?P<interval>\d+[smhdwSHDWM])$")
# A data.binance.vision file: BTCUSDT-1h-2024-01 (a month) or BTCUSDT-1h-2024-01-15 (a day).
# The symbol may hold "_" (BTCUSD_PERP, BTCUSDT_240628); one month is "1mo" in the archive's names.
_ARCHIVE_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9_]+)-(?P<interval>\d+(?:mo|[smhdwM]))-\d{4}-\d\d(?:-\d\d)?$")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) or Parquet file as a raw table; errors name the file.

    A CSV without a header in the Binance kline layout (12 numeric columns, the first an integer
    epoch time: data.binance.vision's files of some years) gets :data:`BINANCE_KLINE_COLUMNS`.
    """
    p = path_arg(path)
    suffixes = "".join(p.suffixes).lower()
    try:
        if p.exists() and not (p.is_file() or p.is_dir()):  # a FIFO or device could block or never end
            raise DataError(f"{p}: cannot be read (not a regular file: a FIFO, socket or device)")
        if suffixes.endswith((".parquet", ".pq")):
            return pd.read_parquet(p)
        if suffixes.endswith((".csv", ".csv.gz", ".txt")):
            if _binance_headerless(_first_line(p)):
                return pd.read_csv(p, header=None, names=list(BINANCE_KLINE_COLUMNS))
            return pd.read_csv(p)
    except FileNotFoundError:
        raise DataError(f"file {str(p)!r} does not exist") from None
    except (OSError, ValueError, EOFError, zlib.error, pd.errors.ParserError) as exc:  # a corrupt or cut .gz too
        raise DataError(f"{p}: cannot be read ({type(exc).__name__}: {exc})") from None
    raise DataError(f"{p}: unknown format; use .csv, .csv.gz or .parquet")


def _first_line(path: Path) -> bytes:
    # The first non-blank line of a (gzipped) CSV file, b"" for none; up to 64 KiB of it.
    with gzip.open(path) if path.name.lower().endswith(".gz") else path.open("rb") as fh:
        for line in fh:
            if line.strip():
                return line[:65_536]
    return b""


def _is_number(cell: bytes) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _binance_headerless(line: bytes) -> bool:
    # A Binance kline row, not a header: 12 numbers, the open time a whole epoch time in ms (13
    # digits) or µs (16: spot from 2025), the close time (column 7) a later one in the same unit;
    # a row id or a YYYYMMDD date in the first of 12 columns is not a kline.
    cells = line.lstrip(b"\xef\xbb\xbf").strip().split(b",")
    if len(cells) != len(BINANCE_KLINE_COLUMNS) or not all(map(_is_number, cells)):
        return False
    opened, closed = cells[0].strip(), cells[6].strip()
    return (
        opened.isdigit() and closed.isdigit() and len(opened) in (13, 16) and len(closed) == len(opened)
        and int(closed) > int(opened)
    )  # fmt: skip


def _numeric_header(table: pd.DataFrame) -> bool:
    # Every column name reads as a number: the file's first line was data, not a header.
    return len(table.columns) > 0 and all(_is_number(str(c).encode()) for c in table.columns)


def _no_header(table: pd.DataFrame, source: str) -> str:
    # The one line for a CSV whose first line is data, naming the layouts levguard reads.
    return (
        f"{source}: no header row (the first line is data, {len(table.columns)} columns); expected a header "
        "naming timestamp, open, high, low, close[, volume] (or timestamp, funding_rate) or a header-less "
        "Binance kline file of 12 columns (open_time in epoch ms or µs, open, high, low, close, volume, "
        "close_time, ...)"
    )


def _columns(table: pd.DataFrame) -> dict[str, str]:
    return {str(c).strip().lower().replace(" ", "_"): str(c) for c in table.columns}


def detect_kind(table: pd.DataFrame, *, source: str | None = None) -> Kind:
    """``ohlcv`` when OHLC columns are present (a saved perp frame with its ``funding_rate``
    column too), else ``funding`` when a funding-rate column is; ``source`` names the file in
    the error for a table whose header is a row of numbers."""
    cols = _columns(table)
    if all(c in cols for c in ("open", "high", "low", "close")):
        return "ohlcv"
    if any(c in cols for c in _RATE_COLUMNS):
        return "funding"
    if _numeric_header(table):
        raise DataError(_no_header(table, source or "the table"))
    raise DataError(f"cannot tell the kind of data from columns {list(table.columns)[:8]}")


@dataclasses.dataclass(frozen=True)
class _RowAt:
    """Where a data row of a file is: ``file, row R (line L)``, the form of the validator's issues
    (the line in a CSV file, found only when an error names a row; the row alone elsewhere)."""

    path: Path
    rows: int

    @property
    def source(self) -> str:
        return str(self.path)

    def __call__(self, row: int) -> str:
        lines = _csv_lines(self.path, self.rows)
        line = f" (line {lines[row]})" if lines is not None and 0 <= row < len(lines) else ""
        return f"{self.source}, row {row}{line}"


def _timestamps(table: pd.DataFrame, at: _RowAt) -> np.ndarray:
    source = at.source
    cols = _columns(table)
    name = next((cols[c] for c in _TIME_COLUMNS if c in cols), None)
    if name is None:
        if isinstance(table.index, pd.DatetimeIndex):
            idx = table.index
            if idx.tz is None:
                raise DataError(f"{source}: timestamps must be timezone-aware UTC (naive datetimes are refused)")
            return _utc_ns(idx.tz_convert("UTC"), source, "index")
        raise DataError(f"{source}: no timestamp column (expected one of {', '.join(_TIME_COLUMNS)})")
    raw = table[name]
    if pd.api.types.is_numeric_dtype(raw):
        return number_epoch_to_ns(raw.to_numpy(), name, at)
    if pd.api.types.is_datetime64_any_dtype(raw):
        ser = pd.Series(raw)
        if ser.dt.tz is None:
            raise DataError(f"{source}: column {name!r} holds naive datetimes; levguard needs UTC")
        if ser.isna().any():  # a null time in a Parquet column
            raise DataError(f"{at(int(np.flatnonzero(ser.isna().to_numpy())[0]))}: {name} is missing")
        return _utc_ns(pd.DatetimeIndex(ser.dt.tz_convert("UTC")), source, name)
    try:
        text = raw.astype(str)
    except UnicodeDecodeError:  # a Parquet column of bytes that are not text
        raise DataError(f"{source}: column {name!r} holds bytes that are not UTF-8 text, not times") from None
    # Surrounding blanks go; a trailing " UTC" (SQL exports' "2024-01-01 00:00:00 UTC") is +00:00.
    text = text.str.strip().str.replace(r"(?<=\d)\s*UTC$", "+00:00", regex=True)
    naive = ~text.str.contains(_HAS_OFFSET, regex=True)
    if naive.any():
        row = int(np.flatnonzero(naive.to_numpy())[0])
        raise DataError(
            f"{at(row)}: timestamp {text.iloc[row]!r} has no UTC offset (naive datetimes are refused); "
            f"expected {_TIME_FORMS}"
        )
    try:
        parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise DataError(f"{source}: column {name!r} has a time {OUT_OF_RANGE}") from None
    except (ValueError, TypeError) as exc:
        raise DataError(f"{source}: column {name!r} is not {_TIME_FORMS} ({exc})") from None
    return _utc_ns(pd.DatetimeIndex(parsed), source, name)


# Times are int64 nanoseconds since the epoch (ARCHITECTURE.md), pandas' datetime64[ns] range.


def _utc_ns(index: pd.DatetimeIndex, source: str, name: str) -> np.ndarray:
    # A UTC index as int64 nanoseconds; a time the nanosecond clock cannot hold names the column.
    try:
        return index.as_unit("ns").asi8
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise DataError(f"{source}: column {name!r} has a time {OUT_OF_RANGE}") from None


def _name_parts(path: Path) -> tuple[str, str | None]:
    stem = path.name.split(".")[0]
    m = _NAME.match(stem) or _ARCHIVE_NAME.match(stem)
    if m:
        interval = m.group("interval")
        # A month has no fixed length: the bars' own spacing tells, not the name.
        return m.group("symbol"), None if interval.endswith(("M", "mo")) else interval.lower()
    return stem, None


def _numeric(table: pd.DataFrame, name: str, at: _RowAt) -> np.ndarray:
    if pd.api.types.is_bool_dtype(table[name]):  # read as 1.0 and 0.0 before
        raise DataError(f"{at.source}: column {name!r} holds true/false values, not numbers")
    try:
        return pd.to_numeric(table[name], errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError, OverflowError):  # OverflowError: an integer beyond float64's range
        for row, value in enumerate(table[name].to_numpy()):
            problem = _not_a_float(value)
            if problem is not None:
                raise DataError(f"{at(row)}: {name} {problem}, was {show(value, 40)}") from None
        # A cell Python reads but pandas does not (``1_000``): the first that pandas cannot read.
        unread = pd.to_numeric(table[name], errors="coerce").isna().to_numpy() & table[name].notna().to_numpy()
        row = int(np.flatnonzero(unread)[0]) if unread.any() else 0
        raise DataError(f"{at(row)}: {name} is not a number, was {show(table[name].iloc[row], 40)}") from None


def _not_a_float(value: Any) -> str | None:
    # Why a cell cannot be read as a float64 (None for a number or an empty cell).
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return "is beyond float64's range"
    except (ValueError, TypeError):
        return "is not a number"
    return None if math.isfinite(number) else "is beyond float64's range"


def load_ohlcv(
    path: str | Path,
    *,
    symbol: str | None = None,
    interval: str | None = None,
    kind: Literal["ohlcv", "mark", "index"] = "ohlcv",
    gaps: GapPolicy = "leave",
    validate: bool = True,
    return_report: bool = False,
) -> Any:
    """Load and validate OHLCV bars (or mark/index klines) from CSV or Parquet.

    Returns the frame, or ``(frame, report)`` with ``return_report=True``.

    Raises
    ------
    DataError
        Unreadable file, missing columns, or any validation error (naming file, row, line,
        timestamp and value).
    """
    p = path_arg(path)
    table = read_table(p)
    src = str(p)
    cols = _columns(table)
    missing = [c for c in ("open", "high", "low", "close") if c not in cols]
    if missing and _numeric_header(table):
        raise DataError(_no_header(table, src))
    if missing:
        raise DataError(f"{src}: missing column(s) {missing}; found {list(table.columns)[:8]}")
    rate_col = _rate_column(cols, src)
    at = _RowAt(p, len(table))
    ts = _timestamps(table, at)
    name_symbol, name_interval = _name_parts(p)
    # Parquet files written by levguard carry their provenance; it beats the file name.
    name_symbol = str(table.attrs.get("symbol") or name_symbol)
    name_interval = str(table.attrs.get("interval") or "") or name_interval
    if table.attrs.get("kind") in ("mark", "index") and kind == "ohlcv":
        kind = table.attrs["kind"]
    elif kind == "ohlcv":  # a mark- or index-price kline file by its name (BTCUSDT-MARK_1h.csv)
        kind = next((k for suffix, k in _NAMED_KINDS.items() if name_symbol.upper().endswith(suffix)), "ohlcv")
    vol = _numeric(table, cols["volume"], at) if "volume" in cols else None
    o, h, lo, c = (_numeric(table, cols[name], at) for name in ("open", "high", "low", "close"))
    frame = make_ohlcv_frame(
        ts,
        o,
        h,
        lo,
        c,
        vol,
        symbol=symbol or name_symbol,
        interval=interval or name_interval or "",
        source=src,
        kind=kind,
    )
    marks = _mark_columns(table, cols, at)
    for name, values in marks.items():
        frame[name] = values
    if rate_col is not None:  # a saved perp frame: the rate settled on each bar, NaN for none
        frame["funding_rate"] = _numeric(table, rate_col, at)
    if not validate:
        return (frame, None) if return_report else frame
    unfilled = frame
    frame, report = validate_ohlcv(frame, source=src, interval=interval or name_interval, gaps=gaps)
    report = _with_lines(report, p)
    report.raise_for_errors()
    if marks:  # the mark bars obey the price rules too (named as mark_* columns)
        _check_marks(unfilled, marks, p, src)
    settled = _settlement_report(unfilled, src)
    if settled is not None:
        _with_lines(settled, p).raise_for_errors()
    if not frame.attrs.get("interval") and report.interval:
        frame.attrs["interval"] = report.interval
    return (frame, report) if return_report else frame


_MARK_OHLC = ("mark_open", "mark_high", "mark_low", "mark_close")


def _mark_columns(table: pd.DataFrame, cols: dict[str, str], at: _RowAt) -> dict[str, np.ndarray]:
    # The file's mark-price bars (mark_high, mark_low, mark_close, and mark_open when given), which
    # the forecasts read instead of the last price (liquidations trigger on the mark); a partial
    # set would be read as last-price bars without a word, so it is refused.
    present = [c for c in _MARK_OHLC if c in cols]
    if not present:
        return {}
    missing = [c for c in _MARK_OHLC[1:] if c not in cols]
    if missing:
        raise DataError(f"{at.source}: mark columns need mark_high, mark_low and mark_close; missing {missing}")
    return {c: _numeric(table, cols[c], at) for c in present}


def _check_marks(frame: pd.DataFrame, marks: dict[str, np.ndarray], path: Path, src: str) -> None:
    # The mark bars through the price rules of the last price (finite, > 0, low <= open, close <=
    # high; a missing mark_open reads as mark_close), on the file's own rows; the times were
    # checked with the last price.
    close = marks["mark_close"]
    mark = make_ohlcv_frame(
        pd.DatetimeIndex(frame.index).asi8,
        marks.get("mark_open", close),
        marks["mark_high"],
        marks["mark_low"],
        close,
        symbol="",
        interval="",
        source=src,
        kind="mark",
    )
    _, report = validate_ohlcv(mark, source=src)
    price_rules = {"nan", "non_positive", "high_low", "open_range", "close_range"}
    issues = tuple(
        dataclasses.replace(
            i,
            column=f"mark_{i.column}",
            message=re.sub(r"\b(open|high|low|close)\b", r"mark_\1", i.message),
        )
        for i in report.issues
        if i.rule in price_rules and i.column not in (None, "volume")
    )
    if issues:
        counts = {rule: sum(i.rule == rule for i in issues) for rule in price_rules}
        marked = dataclasses.replace(report, issues=issues, counts={k: v for k, v in counts.items() if v})
        _with_lines(marked, path).raise_for_errors()


def _rate_column(cols: dict[str, str], source: str) -> str | None:
    # The file's funding-rate column by any of its names (_RATE_COLUMNS), bar and funding files
    # alike; None without one.  Two are refused: which one holds the rate cannot be told.
    found = [cols[c] for c in _RATE_COLUMNS if c in cols]
    if len(found) > 1:
        raise DataError(
            f"{source}: funding-rate columns {' and '.join(map(repr, found))} are ambiguous; keep one of them"
        )
    return found[0] if found else None


def _settlement_report(frame: pd.DataFrame, src: str) -> ValidationReport | None:
    """The funding rules on a bar frame's ``funding_rate`` settlements (the non-NaN rows: NaN is
    no settlement, the backtester's contract), with the bar frame's rows; None without the column."""
    if "funding_rate" not in frame.columns:
        return None
    rows = np.flatnonzero(frame["funding_rate"].notna().to_numpy())
    _, report = validate_funding(frame[["funding_rate"]].iloc[rows], source=src)
    issues = tuple(dataclasses.replace(i, row=int(rows[i.row])) for i in report.issues)
    return dataclasses.replace(report, rows=len(frame), issues=issues)


def load_funding(
    path: str | Path, *, symbol: str | None = None, validate: bool = True, return_report: bool = False
) -> Any:
    """Load and validate a funding-rate series (settlement time, rate per interval as a fraction)."""
    p = path_arg(path)
    table = read_table(p)
    src = str(p)
    cols = _columns(table)
    rate_col = _rate_column(cols, src)
    if rate_col is None and _numeric_header(table):
        raise DataError(_no_header(table, src))
    if rate_col is None:
        raise DataError(f"{src}: no funding-rate column (expected one of {', '.join(_RATE_COLUMNS)})")
    at = _RowAt(p, len(table))
    ts = _timestamps(table, at)
    name_symbol = str(table.attrs.get("symbol") or p.name.split(".")[0].removesuffix("_funding"))
    frame = make_funding_frame(ts, _numeric(table, rate_col, at), symbol=symbol or name_symbol, source=src)
    if not validate:
        return (frame, None) if return_report else frame
    frame, report = validate_funding(frame, source=src)
    report = _with_lines(report, p)
    report.raise_for_errors()
    frame.attrs["interval"] = report.interval or ""
    return (frame, report) if return_report else frame


def load_series(path: str | Path, **kwargs: Any) -> Any:
    """Load a file of any supported kind, detected from its columns."""
    kind = detect_kind(read_table(path), source=str(path))
    if kind == "funding":
        return load_funding(path, **kwargs)
    return load_ohlcv(path, **kwargs)


def check_file(path: str | Path, *, kind: str = "auto", interval: str | None = None) -> ValidationReport:
    """Validate a file without raising on data errors; the report lists every problem."""
    p = path_arg(path)
    table = read_table(p)
    k = detect_kind(table, source=str(p)) if kind == "auto" else kind
    if k == "funding":
        frame = load_funding(p, validate=False)
        return _with_lines(validate_funding(frame, source=str(p))[1], p)
    bar_kind: Literal["ohlcv", "mark", "index"] = "mark" if k == "mark" else "index" if k == "index" else "ohlcv"
    frame = load_ohlcv(p, validate=False, interval=interval, kind=bar_kind)
    _, name_interval = _name_parts(p)
    report = validate_ohlcv(frame, source=str(p), interval=interval or name_interval)[1]
    settled = _settlement_report(frame, str(p))
    if settled is not None and settled.issues:
        counts = dict(report.counts)
        for rule, n in settled.counts.items():
            counts[rule] = counts.get(rule, 0) + n
        issues = tuple(sorted(report.issues + settled.issues, key=lambda i: i.row))
        report = dataclasses.replace(report, issues=issues, counts=counts)
    return _with_lines(report, p)


def _with_lines(report: ValidationReport, path: Path) -> ValidationReport:
    # The report with each issue's line in a CSV file (None in Parquet, or when unknown).
    if not report.issues:
        return report
    return with_lines(report, _csv_lines(path, report.rows))


def _csv_lines(path: Path, rows: int) -> list[int] | None:
    # The file line of each of the ``rows`` data rows of a CSV file (None: not a CSV file, or unknown).
    if ".csv" not in "".join(path.suffixes).lower():
        return None
    try:
        with gzip.open(path) if path.name.lower().endswith(".gz") else path.open("rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error):
        return None
    first = next((line for line in data.splitlines() if line.strip()), b"")
    return csv_row_lines(data, rows, header=not _binance_headerless(first))


def save_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame to Parquet (attrs kept in the file's metadata) or CSV (ISO 8601 UTC times).

    The index must be a timezone-aware ``DatetimeIndex`` (Parquet also takes a frame that keeps
    its times in a column); CSV times are converted to UTC and written with a ``Z`` and the
    fraction of a second they need (``2024-01-01T08:59:59.999Z``), so the file loads back as
    the same nanoseconds.

    Raises
    ------
    DataError
        An unknown suffix; naive times or a missing time (NaT) in the index; for CSV, an index
        that is not a ``DatetimeIndex``; a path that cannot be written (the previous file, if any,
        is left as it was: the frame is written to a temporary file beside it, then moved over it).
    """
    frame_arg(frame)
    p = path_arg(path)
    csv = p.suffix.lower() == ".csv"
    if not csv and p.suffix.lower() not in (".parquet", ".pq"):
        raise DataError(f"{p}: unknown format; use .parquet or .csv")
    idx = frame.index
    if csv and not isinstance(idx, pd.DatetimeIndex):  # a RangeIndex was written as 1970-01-01 rows
        raise DataError(f"{p}: the index must be a DatetimeIndex of UTC times to write a CSV, was {type(idx).__name__}")
    if isinstance(idx, pd.DatetimeIndex):
        if idx.tz is None:  # written with a Z, they would claim to be UTC
            raise DataError(f"{p}: the index holds naive datetimes; levguard needs UTC (index.tz_localize('UTC'))")
        if idx.hasnans:
            raise DataError(f"{p}: row {int(np.flatnonzero(idx.isna())[0])} of the index is a missing time (NaT)")
    if csv:
        out = frame.copy()
        times = _utc_ns(pd.DatetimeIndex(idx).tz_convert("UTC"), str(p), INDEX_NAME)
        out.index = pd.Index(utc_iso(times), name=INDEX_NAME)
    try:
        # Written beside the target and moved over it at the end: a failed or killed write
        # (a full disk, a file-size limit) leaves the previous file whole.
        with replacing(p) as (temp,):
            if csv:
                out.to_csv(temp)
            else:
                frame.to_parquet(temp)
    except OSError as exc:  # a directory, a full disk, a path under a file
        raise DataError(f"{p}: cannot be written ({exc.strerror or type(exc).__name__})") from None
    return p
