"""Pieces shared by the downloaders: time parsing, calendar periods, progress reporting, results."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
import pandas as pd

from levguard.data.frames import timestamp_ns
from levguard.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as _RichProgress
    from rich.progress import ProgressColumn, Task, TaskID

    from levguard.data.cache import CacheEntry

__all__ = [
    "DownloadResult",
    "Downloader",
    "NullProgress",
    "Progress",
    "ProgressTask",
    "RichProgress",
    "combine_frames",
    "day_label",
    "index_ns",
    "iter_days",
    "iter_months",
    "month_label",
    "normalize_kind",
    "now_ns",
    "sorted_unique",
    "to_ns",
]

NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_MS = 1_000_000


# -- time --------------------------------------------------------------------------------------


def now_ns() -> int:
    """Return the current time in nanoseconds since the epoch (UTC)."""
    return time.time_ns()


def to_ns(value: object, name: str = "time") -> int:
    """Convert a user-given time to int64 nanoseconds since the epoch, UTC.

    Parameters
    ----------
    value : int, str, pandas.Timestamp or datetime.datetime
        ``int``: nanoseconds since the epoch. ``str``: an ISO date or timestamp
        (``"2020-01-01"``, ``"2020-01-01T08:00"``, ``"2020-01-01T08:00+02:00"``); a string without an
        offset is read as UTC. ``Timestamp``/``datetime``: must be timezone-aware.
    name : str
        Field name used in error messages (e.g. ``"--start"``).

    Raises
    ------
    InputError
        Unparseable, naive (for datetime objects) or before 1970-01-01.
    """
    if isinstance(value, bool):
        raise InputError(f"{name} must be a date or timestamp, was {value!r}")
    if isinstance(value, int):
        ns = value
    elif isinstance(value, str | pd.Timestamp | dt.datetime):
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise InputError(f"{name} must be timezone-aware (naive datetimes are refused), was {value!r}")
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise InputError(f"{name} must be a date or timestamp such as 2020-01-01, was {value!r}") from None
        if not isinstance(ts, pd.Timestamp):  # "NaT" parses to NaT
            raise InputError(f"{name} must be a date or timestamp such as 2020-01-01, was {value!r}")
        ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
        ns = timestamp_ns(ts, name)
    else:
        raise InputError(f"{name} must be a date or timestamp such as 2020-01-01, was {value!r}")
    if ns < 0:
        raise InputError(f"{name} must be at or after 1970-01-01, was {value!r}")
    return ns


def time_range(start: object, end: object, now: int) -> tuple[int, int]:
    """Return the half-open download range ``[start, end)`` in ns (``end`` None: ``now``).

    Raises
    ------
    InputError
        A bound :func:`to_ns` refuses, or ``end`` not after ``start``.
    """
    start_ns = to_ns(start, "start")
    end_ns = now if end is None else to_ns(end, "end")
    if end_ns <= start_ns:
        raise InputError(f"end must be after start, was start={start!r} end={end!r}")
    return start_ns, end_ns


def _utc(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC)


def _ns(d: dt.datetime) -> int:
    return int(d.timestamp()) * 1_000_000_000


def month_start(ns: int) -> int:
    """Return the start (00:00 UTC on the 1st) of the calendar month containing ``ns``."""
    d = _utc(ns)
    return _ns(dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC))


def next_month(ns: int) -> int:
    """Return the start of the calendar month after the one containing ``ns``."""
    d = _utc(ns)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return _ns(dt.datetime(y, m, 1, tzinfo=dt.UTC))


def day_start(ns: int) -> int:
    """Return 00:00 UTC of the day containing ``ns``."""
    return ns - ns % NS_PER_DAY


def month_label(ns: int) -> str:
    """Return ``YYYY-MM`` of the month containing ``ns`` (UTC)."""
    return _utc(ns).strftime("%Y-%m")


def day_label(ns: int) -> str:
    """Return ``YYYY-MM-DD`` of the day containing ``ns`` (UTC)."""
    return _utc(ns).strftime("%Y-%m-%d")


def iter_months(start_ns: int, end_ns: int) -> Iterator[tuple[int, int]]:
    """Yield ``(month_start, next_month_start)`` for every calendar month overlapping ``[start, end)``."""
    m = month_start(start_ns)
    while m < end_ns:
        nxt = next_month(m)
        yield m, nxt
        m = nxt


def iter_days(start_ns: int, end_ns: int) -> Iterator[tuple[int, int]]:
    """Yield ``(day_start, next_day_start)`` for every UTC day overlapping ``[start, end)``."""
    d = day_start(start_ns)
    while d < end_ns:
        yield d, d + NS_PER_DAY
        d += NS_PER_DAY


# -- kinds ------------------------------------------------------------------------------------

_KIND_ALIASES = {
    "ohlcv": "ohlcv",
    "klines": "ohlcv",
    "mark": "mark",
    "markpriceklines": "mark",
    "index": "index",
    "indexpriceklines": "index",
    "funding": "funding",
    "fundingrate": "funding",
}


def normalize_kind(kind: str) -> str:
    """Map ``klines``/``markPriceKlines``/``indexPriceKlines``/``fundingRate`` (and the frame kinds) to a frame kind.

    Raises
    ------
    InputError
        Not a known kind.
    """
    found = _KIND_ALIASES.get(kind.strip().lower()) if isinstance(kind, str) else None
    if found is None:
        raise InputError(f"kind must be klines, mark, index or funding, was {kind!r}")
    return found


# -- frames ------------------------------------------------------------------------------------


def combine_frames(frames: list[pd.DataFrame], attrs: dict[str, str], start_ns: int, end_ns: int) -> pd.DataFrame:
    """Concatenate period frames, sort by time, drop repeated timestamps (the later one wins) and
    keep ``[start_ns, end_ns)``; ``attrs`` become the result's provenance.

    ``frames`` must share one column layout (the cache and the parsers guarantee it); an empty
    list is not allowed (callers build an empty frame of the right kind themselves).
    """
    frame = pd.concat(frames) if len(frames) > 1 else frames[0].copy()
    frame = frame[~frame.index.duplicated(keep="last")].sort_index(kind="stable")
    ts = index_ns(frame)
    out: pd.DataFrame = frame[(ts >= start_ns) & (ts < end_ns)].copy()
    out.attrs.clear()
    out.attrs.update(attrs)
    return out


def index_ns(frame: pd.DataFrame) -> np.ndarray:
    """Return a frame's UTC ``DatetimeIndex`` as int64 nanoseconds."""
    return cast(pd.DatetimeIndex, frame.index).as_unit("ns").asi8


def sorted_unique(ts: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return the positions that sort ``ts`` keeping the last of repeated values, and whether any reordering
    or dropping was needed (False for already strictly increasing input)."""
    ts = np.asarray(ts)
    if ts.size < 2 or bool(np.all(np.diff(ts) > 0)):
        return np.arange(ts.size), False
    order = np.argsort(ts, kind="stable")
    keep = np.ones(order.size, dtype=bool)
    keep[:-1] = ts[order][1:] != ts[order][:-1]
    return order[keep], True


@dataclass(frozen=True, eq=False)
class DownloadResult:
    """What a download produced.

    Attributes
    ----------
    frame : DataFrame
        The requested range ``[start, end)`` in levguard's frame convention
        (:mod:`levguard.data.frames`), sorted, one row per timestamp, provenance in ``attrs``.
    cache_dir : Path
        Directory of the dataset in the cache (one Parquet file per period).
    periods : tuple of str
        Cache periods (``YYYY-MM`` or ``YYYY-MM-DD``) the frame was assembled from.
    fetched : tuple of str
        Periods that needed network requests in this call (empty on a full cache hit).
    notes : tuple of str
        Human-readable remarks: files absent on the venue, months not yet published, ...
    """

    frame: pd.DataFrame
    cache_dir: Path
    periods: tuple[str, ...]
    fetched: tuple[str, ...]
    notes: tuple[str, ...]


class Downloader(Protocol):
    """A source of market history that caches what it fetches, one period per file
    (:class:`~levguard.data.download.BinanceArchive`, :class:`~levguard.data.download.CcxtSource`)."""

    progress: Progress

    def download(
        self, symbol: str, kind: str, interval: str, start: object, end: object | None = None
    ) -> DownloadResult:
        """Return ``[start, end)`` of one series, fetching the periods not yet cached.

        Parameters
        ----------
        symbol : str
            The market's symbol, as the source names it.
        kind : str
            ``ohlcv`` (alias ``klines``), ``mark``, ``index`` or ``funding`` (see :func:`normalize_kind`).
        interval : str
            Candle interval; ignored for funding.
        start, end : int (ns), str or tz-aware Timestamp/datetime
            Half-open range; ``end`` defaults to now.

        Returns
        -------
        DownloadResult
        """


# -- progress ----------------------------------------------------------------------------------


class ProgressTask(Protocol):
    """One progress bar."""

    def set_total(self, total: float | None) -> None:
        """Set (or clear, with None) the total amount of work."""

    def set_completed(self, completed: float) -> None:
        """Set the amount of work done so far."""

    def advance(self, amount: float) -> None:
        """Add ``amount`` to the work done."""


class Progress(Protocol):
    """Something that shows progress bars (rich in a terminal; nothing when quiet)."""

    def task(
        self, description: str, total: float | None = None, unit: str = "B"
    ) -> AbstractContextManager[ProgressTask]:
        """Open a progress bar for the duration of a ``with`` block.

        ``unit`` is ``"B"`` for byte transfers (shown as sizes and speed) or a word such as
        ``"files"`` or ``"pages"`` for counters.
        """


class _NullTask:
    def set_total(self, total: float | None) -> None:
        del total

    def set_completed(self, completed: float) -> None:
        del completed

    def advance(self, amount: float) -> None:
        del amount


class NullProgress:
    """Progress that shows nothing (quiet mode, pipes, tests)."""

    @contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "B") -> Iterator[ProgressTask]:
        """Yield a task that ignores every update."""
        del description, total, unit
        yield _NullTask()


class _RichTask:
    def __init__(self, progress: _RichProgress, task_id: TaskID) -> None:
        self._progress = progress
        self._id = task_id

    def set_total(self, total: float | None) -> None:
        self._progress.update(self._id, total=total)

    def set_completed(self, completed: float) -> None:
        self._progress.update(self._id, completed=completed)

    def advance(self, amount: float) -> None:
        self._progress.advance(self._id, amount)


class RichProgress:
    """Rich progress bars on stderr; use as a context manager around the downloads.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where to draw (default: a stderr console).
    transient : bool
        Remove the bars when the ``with`` block ends.

    Examples
    --------
    >>> from levguard.data.download import BinanceArchive, RichProgress
    >>> with RichProgress() as progress:  # doctest: +SKIP
    ...     BinanceArchive(progress=progress).download("BTCUSDT", "ohlcv", "1h", "2024-01-01", "2024-02-01")
    """

    def __init__(self, console: Console | None = None, *, transient: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            _amount_column(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=transient,
        )

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    @contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "B") -> Iterator[ProgressTask]:
        """Show one bar while the ``with`` block runs; byte bars are removed afterwards, counters stay."""
        task_id = self._progress.add_task(description, total=total, unit=unit)
        try:
            yield _RichTask(self._progress, task_id)
        finally:
            if unit == "B":
                self._progress.remove_task(task_id)


def _amount_column() -> ProgressColumn:
    """A rich column showing sizes and speed for byte bars and ``done/total unit`` for counters."""
    from rich.progress import DownloadColumn, ProgressColumn, TransferSpeedColumn
    from rich.text import Text

    class _Amount(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._size = DownloadColumn()
            self._speed = TransferSpeedColumn()

        def render(self, task: Task) -> Text:
            unit = str(task.fields.get("unit", "B"))
            if unit == "B":
                return Text.assemble(self._size.render(task), " ", self._speed.render(task))
            total = "?" if task.total is None else f"{task.total:,.0f}"
            return Text(f"{task.completed:,.0f}/{total} {unit}", style="progress.download")

    return _Amount()


def assemble_result(
    frames: list[pd.DataFrame],
    used: list[CacheEntry],
    fetched: list[str],
    notes: list[str],
    *,
    kind: str,
    symbol: str,
    interval: str,
    source: str,
    start_ns: int,
    end_ns: int,
    cache_dir: Path,
) -> DownloadResult:
    """Combine cached period frames into one :class:`DownloadResult` (shared by every source).

    ``used`` are the cache entries read (their periods are the result's), ``fetched`` the
    periods downloaded now, ``notes`` what was skipped.  Funding frames report their print
    interval only when all periods agree on it.
    """
    from levguard.data.cache import empty_frame

    print_interval = interval
    if kind == "funding":
        seen = {str(f.attrs.get("interval", "")) for f in frames}
        print_interval = seen.pop() if len(seen) == 1 else ""
    attrs = {"kind": kind, "symbol": symbol, "interval": print_interval, "source": source}
    frame = (
        combine_frames(frames, attrs, start_ns, end_ns) if frames else empty_frame(kind, symbol, print_interval, source)
    )
    periods = tuple(e.key.period for e in used)
    return DownloadResult(frame=frame, cache_dir=cache_dir, periods=periods, fetched=tuple(fetched), notes=tuple(notes))
