"""Binance public data archive (data.binance.vision): USDⓈ-M klines, mark/index klines, funding rates.

Layout of the archive (paths relative to the base URL, default ``https://data.binance.vision``)::

    data/futures/um/{monthly|daily}/{klines|markPriceKlines|indexPriceKlines}/{SYMBOL}/{interval}/
        {SYMBOL}-{interval}-{YYYY-MM|YYYY-MM-DD}.zip
    data/futures/um/monthly/fundingRate/{SYMBOL}/{SYMBOL}-fundingRate-{YYYY-MM}.zip

Every zip has a sibling ``<file>.zip.CHECKSUM`` holding ``<sha256 hex>  <file>.zip`` and contains
one CSV of the same base name. Kline CSV columns: ``open_time, open, high, low, close, volume,
close_time, quote_volume, count, taker_buy_volume, taker_buy_quote_volume, ignore`` (newer files
start with this header row, older ones have none); funding CSV columns: ``calc_time,
funding_interval_hours, last_funding_rate`` (with a header). Times are epoch milliseconds
(microseconds in some newer files: values above 1e14 are read as µs).

Monthly files exist only for complete months, daily files only for complete days. The
downloader uses monthly files up to the month before last, tries the monthly file of the most
recent complete month and falls back to its daily files, and uses daily files (up to
yesterday) for the current month. Funding rates are published monthly only.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from levguard.data.cache import CacheEntry, CacheKey, ParquetCache
from levguard.data.download._common import (
    NS_PER_DAY,
    DownloadResult,
    NullProgress,
    Progress,
    assemble_result,
    day_label,
    day_start,
    iter_days,
    iter_months,
    month_label,
    month_start,
    normalize_kind,
    now_ns,
    time_range,
)
from levguard.data.download.http import HttpClient, RateLimiter, part_path
from levguard.data.frames import (
    BINANCE_KLINE_COLUMNS,
    epoch_to_ns,
    make_funding_frame,
    make_ohlcv_frame,
    number_epoch_to_ns,
    utc_iso,
)
from levguard.data.validate import csv_row_lines, validate_funding, validate_ohlcv, with_lines
from levguard.errors import DataError, InputError

__all__ = [
    "ARCHIVE_INTERVALS",
    "BINANCE_ARCHIVE_URL",
    "ENV_ARCHIVE_URL",
    "FUNDING_CSV_COLUMNS",
    "KLINE_CSV_COLUMNS",
    "BinanceArchive",
    "archive_path",
    "epoch_to_ns",
    "parse_checksum",
    "parse_funding_csv",
    "parse_kline_csv",
]

logger = logging.getLogger(__name__)

BINANCE_ARCHIVE_URL = "https://data.binance.vision"
ENV_ARCHIVE_URL = "LEVGUARD_BINANCE_ARCHIVE_URL"
"""Environment variable overriding the archive's base URL (mirrors, tests)."""

KLINE_CSV_COLUMNS: tuple[str, ...] = BINANCE_KLINE_COLUMNS
FUNDING_CSV_COLUMNS: tuple[str, ...] = ("calc_time", "funding_interval_hours", "last_funding_rate")
ARCHIVE_INTERVALS: tuple[str, ...] = (
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
)
"""Kline intervals of the archive (its ``1mo`` files are not supported: months are not fixed-length)."""

_DIRS = {"ohlcv": "klines", "mark": "markPriceKlines", "index": "indexPriceKlines", "funding": "fundingRate"}
_SYMBOL = re.compile(r"^[A-Z0-9_]{2,40}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_NOT_LISTED = "not on the archive (before the symbol listed, or after it delisted); skipped"


# -- file format -------------------------------------------------------------------------------


def archive_path(kind: str, symbol: str, interval: str, period: str) -> str:
    """Return the archive path (relative to the base URL) of one zip file.

    Parameters
    ----------
    kind : {"ohlcv", "mark", "index", "funding"}
    symbol : str
        USDⓈ-M symbol such as ``BTCUSDT``.
    interval : str
        Kline interval (ignored for funding).
    period : str
        ``YYYY-MM`` for a monthly file, ``YYYY-MM-DD`` for a daily file.

    Examples
    --------
    >>> archive_path("ohlcv", "BTCUSDT", "1h", "2024-01")
    'data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip'
    >>> archive_path("funding", "BTCUSDT", "", "2024-01")
    'data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip'
    """
    granularity = "monthly" if len(period) == 7 else "daily"
    if kind == "funding":
        if granularity != "monthly":
            raise InputError(f"funding rates are archived monthly only; period must be YYYY-MM, was {period!r}")
        return f"data/futures/um/monthly/fundingRate/{symbol}/{symbol}-fundingRate-{period}.zip"
    return f"data/futures/um/{granularity}/{_DIRS[kind]}/{symbol}/{interval}/{symbol}-{interval}-{period}.zip"


def parse_checksum(text: str, filename: str) -> str:
    """Return the SHA-256 hex digest from a ``.CHECKSUM`` file (``<sha256 hex>  <file>.zip``).

    Raises
    ------
    DataError
        The content is not a 64-digit hex digest followed by ``filename``.
    """
    parts = text.strip().split()
    if len(parts) != 2 or not _HEX64.match(parts[0]) or parts[1].lstrip("*") != filename:
        shown = text.strip()[:120]
        raise DataError(f"{filename}.CHECKSUM: expected '<sha256 hex>  {filename}', was {shown!r}")
    return parts[0].lower()


def _has_header(data: bytes) -> bool:
    first = data.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].split(b",", 1)[0].strip()
    return not first.lstrip(b"-").isdigit()


def _read_columns(data: bytes, name: str, n: int) -> tuple[pd.DataFrame, list[int] | None]:
    """Read the first ``n`` columns of a headered or header-less CSV; return (table, file line of
    each row, or None when the lines cannot be matched to the rows)."""
    header = _has_header(data)
    try:
        table = pd.read_csv(
            io.BytesIO(data),
            header=None,
            skiprows=1 if header else 0,
            usecols=list(range(n)),
            skip_blank_lines=True,
            keep_default_na=False,  # keep "n/a", "" as text so that errors can show them
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame({i: pd.Series(dtype=np.float64) for i in range(n)}), []
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{name}: unreadable CSV ({exc})") from None
    return table, csv_row_lines(data, len(table), header=header)


def _where(name: str, lines: list[int] | None) -> Callable[[int], str]:
    # "file: line N" for row r (its line in the file), or "file: row r" where lines are unknown.
    return lambda r: f"{name}: line {lines[r]}" if lines is not None else f"{name}: row {r}"


def _numeric(table: pd.DataFrame, col: int, label: str, where: Callable[[int], str]) -> np.ndarray:
    values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        row = int(bad[0])
        raise DataError(f"{where(row)}: {label} is not a number, was {str(table[col].iloc[row])!r}")
    return values


def _without_repeats(
    ts: np.ndarray, values: dict[str, np.ndarray], what: str, where: Callable[[int], str]
) -> np.ndarray:
    """Return the positions that sort ``ts`` (stable), dropping each row that repeats the previous
    row's time *and* values (a kline or print written twice).

    Raises DataError naming the time and both rows' lines and values when a time repeats with
    other values: which one is right cannot be told, and keeping the last was a silent pick.
    """
    order = np.argsort(ts, kind="stable")
    if order.size < 2:
        return order
    same_time = ts[order][1:] == ts[order][:-1]
    same = same_time.copy()
    for column in values.values():
        same &= column[order][1:] == column[order][:-1]
    clash = np.flatnonzero(same_time & ~same)
    if clash.size:
        first, second = (int(order[i]) for i in (clash[0], clash[0] + 1))

        def shown(row: int) -> str:
            return ", ".join(f"{k} {float(v[row])!r}" for k, v in values.items())

        raise DataError(
            f"{where(second)}: {what} at {utc_iso(ts[second : second + 1])[0]} repeats the one of "
            f"{where(first).rsplit(': ', 1)[-1]} with other values ({shown(first)}; here {shown(second)}); "
            f"refusing to pick one ({clash.size:,} such time(s) in the file)"
        )
    keep = np.ones(order.size, dtype=bool)
    keep[1:] = ~same
    return order[keep]


def _sorted_lines(lines: list[int] | None, order: np.ndarray) -> list[int] | None:
    # The file line of each row once the rows are sorted by time.
    return None if lines is None else [lines[int(i)] for i in order]


def parse_kline_csv(data: bytes, *, name: str, symbol: str, interval: str, kind: str, source: str) -> pd.DataFrame:
    """Parse an archive kline CSV (with or without header; ms or µs times) into a validated OHLCV frame.

    Parameters
    ----------
    data : bytes
        CSV content.
    name : str
        File name for messages.
    symbol, interval, kind, source : str
        Provenance stored in ``frame.attrs`` (kind ``ohlcv``, ``mark`` or ``index``).

    Returns
    -------
    DataFrame
        Index = bar open time (UTC), sorted and unique; columns ``open, high, low, close, volume``.
        A kline repeated with the same open time and OHLCV is kept once.

    Raises
    ------
    DataError
        Non-numeric cells or rows that break the OHLCV rules (named by file, line or row, value),
        and two klines with the same open time and different OHLCV (naming both lines).
    """
    table, lines = _read_columns(data, name, 6)
    where = _where(name, lines)
    open_time = _numeric(table, 0, "open_time", where)
    cols = [_numeric(table, i, KLINE_CSV_COLUMNS[i], where) for i in range(1, 6)]
    ts = number_epoch_to_ns(open_time, "open_time", where)
    order = _without_repeats(ts, dict(zip(KLINE_CSV_COLUMNS[1:6], cols, strict=True)), "kline", where)
    frame = make_ohlcv_frame(
        ts[order], *(c[order] for c in cols), symbol=symbol, interval=interval, source=source, kind=kind
    )
    _, report = validate_ohlcv(frame, source=name)
    with_lines(report, _sorted_lines(lines, order)).raise_for_errors()
    return frame


def parse_funding_csv(data: bytes, *, name: str, symbol: str, source: str) -> pd.DataFrame:
    """Parse an archive funding CSV (``calc_time, funding_interval_hours, last_funding_rate``) into a funding frame.

    ``attrs["interval"]`` is the funding interval (``"8h"``) when every row has the same one, else ``""``.
    A print repeated with the same time, interval and rate is kept once.

    Raises
    ------
    DataError
        Non-numeric cells or rates that fail :func:`levguard.data.validate.validate_funding`,
        and two prints at the same time with different rates (naming both lines).
    """
    table, lines = _read_columns(data, name, 3)
    where = _where(name, lines)
    calc_time = _numeric(table, 0, "calc_time", where)
    hours = _numeric(table, 1, "funding_interval_hours", where)
    rate = _numeric(table, 2, "last_funding_rate", where)
    ts = number_epoch_to_ns(calc_time, "calc_time", where)
    order = _without_repeats(ts, {"funding_interval_hours": hours, "last_funding_rate": rate}, "funding print", where)
    distinct = np.unique(hours)
    interval = (
        f"{int(distinct[0])}h" if distinct.size == 1 and distinct[0] > 0 and distinct[0] == int(distinct[0]) else ""
    )
    frame = make_funding_frame(ts[order], rate[order], symbol=symbol, source=source, interval=interval)
    frame, report = validate_funding(frame, source=name)  # a print repeated ms apart is dropped
    with_lines(report, _sorted_lines(lines, order)).raise_for_errors()
    return frame


def _read_zip(path: Path) -> bytes:
    """Return the one CSV inside an archive zip (named like the zip)."""
    expected = path.name[: -len(".zip")] + ".csv"
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if len(names) != 1 or Path(names[0]).name != expected:
                raise DataError(f"{path.name}: expected one member {expected!r}, found {names}")
            return zf.read(names[0])
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path.name}: not a valid zip file ({exc})") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- downloader --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """One archive file to obtain: a month, or a day; ``recent`` months fall back to daily files."""

    period: str
    start_ns: int
    end_ns: int
    recent: bool = False


class BinanceArchive:
    """Download USDⓈ-M history from Binance's public data archive into the Parquet cache.

    Parameters
    ----------
    cache : ParquetCache, optional
        Where frames are stored (default: ``ParquetCache()`` at :func:`levguard.data.cache.cache_root`).
    base_url : str, optional
        Archive root (default ``$LEVGUARD_BINANCE_ARCHIVE_URL`` or ``https://data.binance.vision``).
    client : HttpClient, optional
        HTTP client (default: 30 s timeout, 5 tries with backoff, at most 10 requests/s).
    progress : Progress, optional
        Progress display (default: none; see :class:`~levguard.data.download.RichProgress`).
    keep_zips : bool
        Keep verified zip files under ``<cache>/raw/binance`` after unpacking (default: delete).
    clock : callable
        Returns "now" in ns; decides which months and days are published (injectable for tests).

    Notes
    -----
    A period already in the cache is never requested again (a symbol's months before listing
    are remembered as *missing*), so repeating a download of a past range sends no request.
    """

    SOURCE = "binance"
    MARKET = "um"

    def __init__(
        self,
        cache: ParquetCache | None = None,
        *,
        base_url: str | None = None,
        client: HttpClient | None = None,
        progress: Progress | None = None,
        keep_zips: bool = False,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        self.cache = cache if cache is not None else ParquetCache()
        self.base_url = (base_url or os.environ.get(ENV_ARCHIVE_URL) or BINANCE_ARCHIVE_URL).rstrip("/")
        self.client = client if client is not None else HttpClient(limiter=RateLimiter(0.1))
        self.progress: Progress = progress if progress is not None else NullProgress()
        self.keep_zips = keep_zips
        self._clock = clock

    def url(self, kind: str, symbol: str, interval: str, period: str) -> str:
        """Return the URL of one archive zip (append ``.CHECKSUM`` for its checksum file)."""
        return f"{self.base_url}/{archive_path(kind, symbol, interval, period)}"

    def raw_path(self, kind: str, symbol: str, interval: str, period: str) -> Path:
        """Return where the zip is downloaded to (``.part`` appended while incomplete)."""
        return self.cache.raw_dir(self.SOURCE).joinpath(*archive_path(kind, symbol, interval, period).split("/"))

    def download(
        self, symbol: str, kind: str, interval: str, start: object, end: object | None = None
    ) -> DownloadResult:
        """Return ``[start, end)`` of one series, downloading the archive files not yet cached.

        The parameters are :meth:`Downloader.download`'s: ``symbol`` a USDⓈ-M symbol, e.g.
        ``BTCUSDT`` (upper-cased); ``kind`` ``ohlcv`` (``klines``), ``mark``
        (``markPriceKlines``), ``index`` (``indexPriceKlines``) or ``funding`` (``fundingRate``);
        ``interval`` one of :data:`ARCHIVE_INTERVALS`; ``start`` and ``end`` strings without an
        offset are UTC.

        Returns
        -------
        DownloadResult

        Raises
        ------
        InputError
            Bad symbol, kind, interval or range.
        DataError
            A checksum mismatch (the file is deleted) or a malformed file, named in the message.
        VenueRetryableError, VenuePermanentError
            The archive could not be reached, or refused a request.
        """
        kind = normalize_kind(kind)
        symbol = _check_symbol(symbol)
        interval = "" if kind == "funding" else _check_interval(interval)
        now = self._clock()
        start_ns, end_ns = time_range(start, end, now)
        items, notes = self._plan(kind, symbol, interval, start_ns, end_ns, now)
        used: list[CacheEntry] = []
        fetched: list[str] = []
        label = f"{symbol} {interval} {_DIRS[kind]}".replace("  ", " ")
        total = len(items)
        with self.progress.task(label, total=total, unit="files") as overall:
            queue = list(items)
            while queue:
                item = queue.pop(0)
                key = CacheKey(self.SOURCE, self.MARKET, kind, symbol, interval, item.period)
                entry = self.cache.entry(key)
                if entry is None:
                    entry = self._fetch(key)
                    if entry is not None:
                        fetched.append(item.period)
                if entry is None:
                    extra = self._absent(key, item, start_ns, end_ns, now, notes)
                    if extra:  # daily files instead of a monthly one
                        queue[0:0] = extra
                        total += len(extra)
                        overall.set_total(total)
                elif entry.missing:
                    notes.append(f"{item.period}: {entry.note}")
                else:
                    used.append(entry)
                overall.advance(1)
        for note in notes:
            logger.info("%s %s: %s", symbol, kind, note)
        prefix = f"{self.base_url}/data/futures/um"
        source = (
            f"{prefix}/monthly/fundingRate/{symbol}"
            if kind == "funding"
            else f"{prefix}/{{monthly,daily}}/{_DIRS[kind]}/{symbol}/{interval}"
        )
        return assemble_result(
            [self.cache.read(e.key) for e in used if e.rows],
            used,
            fetched,
            notes,
            kind=kind,
            symbol=symbol,
            interval=interval,
            source=source,
            start_ns=start_ns,
            end_ns=end_ns,
            cache_dir=self.cache.dataset_dir(self.SOURCE, self.MARKET, kind, symbol, interval),
        )

    # -- internals ----------------------------------------------------------------------------

    def _plan(
        self, kind: str, symbol: str, interval: str, start_ns: int, end_ns: int, now: int
    ) -> tuple[list[_Item], list[str]]:
        """List the files covering ``[start_ns, end_ns)`` given what is published at ``now``."""
        today = day_start(now)
        current = month_start(now)
        previous = month_start(current - 1)
        items: list[_Item] = []
        notes: list[str] = []
        for m0, m1 in iter_months(start_ns, end_ns):
            label = month_label(m0)
            lo, hi = max(start_ns, m0), min(end_ns, m1)
            if m0 >= current:
                if kind == "funding":
                    notes.append(
                        f"{label}: funding rates are archived monthly, after the month ends "
                        "(use --source ccxt for recent funding)"
                    )
                    continue
                items.extend(self._days(lo, min(hi, today)))
            elif kind != "funding" and self._days_instead(kind, symbol, interval, label, lo, hi):
                # Days fetched while the monthly file was not out yet: complete, no need to ask again.
                items.extend(self._days(lo, hi))
            else:
                items.append(_Item(label, m0, m1, recent=m0 == previous))
        if end_ns > today and kind != "funding":
            notes.append(f"{day_label(today)}: days from today on are not in the archive yet")
        return items, notes

    @staticmethod
    def _days(lo: int, hi: int) -> list[_Item]:
        return [_Item(day_label(d0), d0, d1) for d0, d1 in iter_days(lo, hi)] if hi > lo else []

    def _days_instead(self, kind: str, symbol: str, interval: str, month: str, lo: int, hi: int) -> bool:
        """True when the month's file is not cached but its days in ``[lo, hi)`` are (an earlier fallback)."""

        def cached(period: str) -> bool:
            return self.cache.entry(CacheKey(self.SOURCE, self.MARKET, kind, symbol, interval, period)) is not None

        days = self._days(lo, hi)
        return not cached(month) and bool(days) and all(cached(d.period) for d in days)

    def _absent(
        self, key: CacheKey, item: _Item, start_ns: int, end_ns: int, now: int, notes: list[str]
    ) -> list[_Item]:
        """Handle a 404: return daily fallback items, or record a note (and a *missing* marker when final)."""
        yesterday = day_start(now) - NS_PER_DAY
        if len(item.period) == 7:  # a month
            if item.recent and key.kind != "funding":
                notes.append(f"{item.period}: monthly file not published yet; using daily files")
                return self._days(max(start_ns, item.start_ns), min(end_ns, item.end_ns, day_start(now)))
            if item.recent:
                notes.append(f"{item.period}: monthly file not published yet")
                return []
        elif item.start_ns >= yesterday:
            notes.append(f"{item.period}: daily file not published yet")
            return []
        self.cache.write_missing(key, _NOT_LISTED, source=self.url(key.kind, key.symbol, key.interval, key.period))
        notes.append(f"{item.period}: {_NOT_LISTED}")
        return []

    def _fetch(self, key: CacheKey) -> CacheEntry | None:
        """Download, verify, unpack and cache one archive file; None when the archive has no such file."""
        url = self.url(key.kind, key.symbol, key.interval, key.period)
        zip_path = self.raw_path(key.kind, key.symbol, key.interval, key.period)
        filename = zip_path.name
        raw = self.client.get_bytes(url + ".CHECKSUM")
        if raw is None:
            return None
        expected = parse_checksum(raw.decode("utf-8", errors="replace"), filename)
        have = zip_path.is_file() and _sha256(zip_path) == expected
        if not have:
            with self.progress.task(filename) as task:
                if not self.client.download(url, zip_path, task):
                    return None
            actual = _sha256(zip_path)
            if actual != expected:
                zip_path.unlink(missing_ok=True)
                part_path(zip_path).unlink(missing_ok=True)
                raise DataError(
                    f"{filename}: SHA-256 mismatch (expected {expected}, got {actual}); "
                    "the file was deleted, download it again"
                )
        data = _read_zip(zip_path)
        csv_name = filename[: -len(".zip")] + ".csv"
        if key.kind == "funding":
            frame = parse_funding_csv(data, name=csv_name, symbol=key.symbol, source=url)
        else:
            frame = parse_kline_csv(
                data, name=csv_name, symbol=key.symbol, interval=key.interval, kind=key.kind, source=url
            )
        entry = self.cache.write(key, frame, complete=True)
        if not self.keep_zips:
            zip_path.unlink(missing_ok=True)
        return entry


def _check_symbol(symbol: str) -> str:
    s = symbol.strip().upper() if isinstance(symbol, str) else ""
    if not _SYMBOL.match(s):
        raise InputError(f"symbol must be a Binance USDⓈ-M symbol such as BTCUSDT, was {symbol!r}")
    return s


def _check_interval(interval: str) -> str:
    if interval not in ARCHIVE_INTERVALS:
        raise InputError(f"interval must be one of {', '.join(ARCHIVE_INTERVALS)}, was {interval!r}")
    return interval
