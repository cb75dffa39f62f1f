"""The local market-data cache: one Parquet file per (source, market, kind, symbol, interval, period).

Layout under the cache root::

    <root>/<source>/<market>/<kind>/<SYMBOL>/<interval or "-">/<period>.parquet
    e.g. ~/.cache/levguard/binance/um/ohlcv/BTCUSDT/1h/2024-01.parquet
         ~/.cache/levguard/binance/um/funding/BTCUSDT/-/2024-01.parquet
         ~/.cache/levguard/ccxt/bybit/ohlcv/BTC_USDT_USDT/1h/2024-01.parquet

The root is, in order of precedence: the ``root`` argument, the environment variable
``LEVGUARD_CACHE_DIR``, ``platformdirs.user_cache_dir("levguard")``.

Each file holds a ``timestamp`` column (``timestamp[ns, UTC]``) and the frame's float64 columns
(:mod:`levguard.data.frames`); the frame's provenance (``frame.attrs``) and the entry's
bookkeeping (rows, first/last timestamp, whether the period is complete, how far it is covered,
whether the venue has no such file) are stored as JSON in the Parquet schema metadata under the
key ``levguard``, so :meth:`ParquetCache.entry` answers "is this cached?" without reading data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq

from levguard.core.validate import path_arg
from levguard.data.frames import FUNDING_COLUMNS, INDEX_NAME, KINDS, OHLCV_COLUMNS, make_funding_frame, make_ohlcv_frame
from levguard.errors import DataError, InputError

__all__ = [
    "ENV_CACHE_DIR",
    "CacheEntry",
    "CacheKey",
    "ParquetCache",
    "cache_root",
    "empty_frame",
    "period_bounds",
    "safe_name",
]

logger = logging.getLogger(__name__)

ENV_CACHE_DIR = "LEVGUARD_CACHE_DIR"
_FORMAT = 1
_META_KEY = b"levguard"
_PERIOD = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def cache_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache root: ``root`` if given, else ``$LEVGUARD_CACHE_DIR``, else the platform's user cache dir.

    The platform default comes from ``platformdirs.user_cache_dir("levguard")`` (for example
    ``~/.cache/levguard`` on Linux, ``~/Library/Caches/levguard`` on macOS).
    """
    if root is not None and path_arg(root, "root") and str(root) != "":  # Path(nan) was a raw TypeError
        return Path(root).expanduser()
    env = os.environ.get(ENV_CACHE_DIR, "")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("levguard"))


def safe_name(text: str, what: str = "name") -> str:
    """Return ``text`` usable as one path component (characters outside ``[A-Za-z0-9._-]`` become ``_``).

    ``BTC/USDT:USDT`` becomes ``BTC_USDT_USDT``.

    Raises
    ------
    InputError
        Empty, ``.`` or ``..``.
    """
    if not isinstance(text, str) or text.strip() in ("", ".", ".."):
        raise InputError(f"{what} must be a non-empty name, was {text!r}")
    return _UNSAFE.sub("_", text.strip())


def period_bounds(period: str) -> tuple[int, int]:
    """Return ``[start, end)`` in ns (UTC) of a period label ``YYYY-MM`` (a month) or ``YYYY-MM-DD`` (a day).

    Raises
    ------
    InputError
        The label is not a valid month or day.
    """
    m = _PERIOD.match(period) if isinstance(period, str) else None
    try:
        if m is None:
            raise ValueError(period)
        year, month, day = int(m.group(1)), int(m.group(2)), m.group(3)
        if day is None:
            start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
            end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=dt.UTC)
        else:
            start = dt.datetime(year, month, int(day), tzinfo=dt.UTC)
            end = start + dt.timedelta(days=1)
    except ValueError:
        raise InputError(f"period must look like 2024-01 or 2024-01-31, was {period!r}") from None
    return int(start.timestamp()) * 1_000_000_000, int(end.timestamp()) * 1_000_000_000


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Identity of one cached file.

    Parameters
    ----------
    source : str
        Who produced the data: ``"binance"`` (public data archive) or ``"ccxt"``.
    market : str
        Market within the source: ``"um"`` (Binance USDⓈ-M) or the ccxt exchange id.
    kind : str
        ``ohlcv``, ``mark``, ``index`` or ``funding`` (:data:`levguard.data.frames.KINDS`).
    symbol : str
        Venue symbol as requested (made path-safe with :func:`safe_name`).
    interval : str
        Bar interval such as ``"1h"``; ``""`` for funding.
    period : str
        ``YYYY-MM`` (a month) or ``YYYY-MM-DD`` (a day).
    """

    source: str
    market: str
    kind: str
    symbol: str
    interval: str
    period: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}, was {self.kind!r}")
        for name in ("source", "market", "symbol"):
            safe_name(getattr(self, name), name)
        if self.interval:
            safe_name(self.interval, "interval")
        period_bounds(self.period)

    def dataset_parts(self) -> tuple[str, ...]:
        """Return the directory components of the dataset this period belongs to."""
        return _dataset_parts(self.source, self.market, self.kind, self.symbol, self.interval)

    def bounds(self) -> tuple[int, int]:
        """Return the period's ``[start, end)`` in ns."""
        return period_bounds(self.period)


def _dataset_parts(source: str, market: str, kind: str, symbol: str, interval: str) -> tuple[str, ...]:
    return (
        safe_name(source, "source"),
        safe_name(market, "market"),
        safe_name(kind, "kind"),
        safe_name(symbol, "symbol"),
        safe_name(interval, "interval") if interval else "-",
    )


@dataclass(frozen=True)
class CacheEntry:
    """Bookkeeping of one cached file (read from its Parquet metadata, no data loaded).

    Attributes
    ----------
    key : CacheKey
    path : Path
    rows : int
    first_ns, last_ns : int or None
        First and last timestamp in the file (None when empty).
    complete : bool
        The period is finished and fully stored; it will not change on the venue.
    covered_until_ns : int or None
        Exclusive end of the time span the file is known to cover (for incomplete periods).
    missing : bool
        The venue has no data for this period (e.g. a month before the symbol listed).
    note : str
        Why the entry is missing or partial.
    attrs : dict
        The stored frame's provenance.
    written_at : str
        ISO time the file was written.
    """

    key: CacheKey
    path: Path
    rows: int
    first_ns: int | None
    last_ns: int | None
    complete: bool
    covered_until_ns: int | None
    missing: bool
    note: str
    attrs: dict[str, str] = field(default_factory=dict)
    written_at: str = ""

    def covers(self, end_ns: int) -> bool:
        """True when the entry can answer a request for its period up to ``end_ns`` (exclusive)."""
        if self.complete or self.missing:
            return True
        p_end = self.key.bounds()[1]
        return self.covered_until_ns is not None and self.covered_until_ns >= min(end_ns, p_end)


def _columns(kind: str) -> tuple[str, ...]:
    return FUNDING_COLUMNS if kind == "funding" else OHLCV_COLUMNS


def empty_frame(kind: str, symbol: str, interval: str, source: str) -> pd.DataFrame:
    """Return a frame of ``kind`` with no rows (the right columns, index and provenance)."""
    empty = np.zeros(0)
    if kind == "funding":
        return make_funding_frame(np.zeros(0, dtype=np.int64), empty, symbol=symbol, source=source, interval=interval)
    return make_ohlcv_frame(
        np.zeros(0, dtype=np.int64),
        empty,
        empty,
        empty,
        empty,
        empty,
        symbol=symbol,
        interval=interval,
        source=source,
        kind=kind,
    )


class ParquetCache:
    """A directory of Parquet files holding downloaded market data with its provenance.

    Parameters
    ----------
    root : str or path-like, optional
        Cache directory (default: :func:`cache_root`).

    Examples
    --------
    >>> cache = ParquetCache("/tmp/levguard-cache")  # doctest: +SKIP
    >>> cache.cached_range("binance", "um", "ohlcv", "BTCUSDT", "1h")  # doctest: +SKIP
    (1704067200000000000, 1706742000000000000)
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = cache_root(root)

    def __repr__(self) -> str:
        return f"ParquetCache({str(self.root)!r})"

    # -- paths --------------------------------------------------------------------------------

    def dataset_dir(self, source: str, market: str, kind: str, symbol: str, interval: str) -> Path:
        """Return the directory holding every period of one dataset."""
        return self.root.joinpath(*_dataset_parts(source, market, kind, symbol, interval))

    def path(self, key: CacheKey) -> Path:
        """Return the Parquet file of ``key``."""
        return self.root.joinpath(*key.dataset_parts(), f"{key.period}.parquet")

    def snapshot_path(self, source: str, market: str, name: str, symbol: str, label: str) -> Path:
        """Return ``<root>/<source>/<market>/<name>/<symbol>/<label>.json`` for non-tabular snapshots (tiers)."""
        parts = (safe_name(p, "path component") for p in (source, market, name, symbol))
        return self.root.joinpath(*parts, f"{safe_name(label, 'label')}.json")

    def raw_dir(self, source: str) -> Path:
        """Return the directory for raw downloads (zip files and their ``.part`` files) of ``source``."""
        return self.root / "raw" / safe_name(source, "source")

    # -- metadata -----------------------------------------------------------------------------

    def entry(self, key: CacheKey) -> CacheEntry | None:
        """Return the entry of ``key`` or None when it is not cached (an unreadable file counts as absent)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            meta = pq.read_schema(path).metadata or {}
            info = json.loads(meta[_META_KEY])
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            logger.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None
        return _entry_from_info(key, path, info)

    def entries(self, source: str, market: str, kind: str, symbol: str, interval: str) -> list[CacheEntry]:
        """Return every cached entry of a dataset, ordered by period start (months before their days)."""
        folder = self.dataset_dir(source, market, kind, symbol, interval)
        if not folder.is_dir():
            return []
        found: list[CacheEntry] = []
        for path in folder.glob("*.parquet"):
            period = path.stem
            if _PERIOD.match(period) is None:
                continue
            entry = self.entry(CacheKey(source, market, kind, symbol, interval, period))
            if entry is not None:
                found.append(entry)
        found.sort(key=lambda e: (e.key.bounds()[0], len(e.key.period)))
        return found

    def cached_range(self, source: str, market: str, kind: str, symbol: str, interval: str) -> tuple[int, int] | None:
        """Return ``(first_ns, last_ns)``, the first and last cached timestamps of a dataset, or None.

        Only metadata is read. The range may contain holes (periods never downloaded);
        :meth:`entries` lists what is there.
        """
        firsts = []
        lasts = []
        for e in self.entries(source, market, kind, symbol, interval):
            if e.rows and e.first_ns is not None and e.last_ns is not None:
                firsts.append(e.first_ns)
                lasts.append(e.last_ns)
        if not firsts:
            return None
        return min(firsts), max(lasts)

    # -- data ---------------------------------------------------------------------------------

    def write(
        self,
        key: CacheKey,
        frame: pd.DataFrame,
        *,
        complete: bool = True,
        covered_until_ns: int | None = None,
        missing: bool = False,
        note: str = "",
    ) -> CacheEntry:
        """Store ``frame`` (levguard frame convention, kind matching ``key.kind``) as the file of ``key``.

        The write is atomic (a temporary file renamed into place), so a crash never leaves a
        half-written entry that later reads as cached.

        Raises
        ------
        DataError
            The frame lacks the kind's columns or a UTC ``DatetimeIndex``.
        """
        cols = _columns(key.kind)
        missing_cols = [c for c in cols if c not in frame.columns]
        if missing_cols:
            raise DataError(f"cannot cache {key.kind} frame for {key.symbol}: missing column(s) {missing_cols}")
        idx = frame.index
        if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
            raise DataError(f"cannot cache frame for {key.symbol}: index must be a UTC DatetimeIndex")
        ts = idx.as_unit("ns").asi8
        arrays = {INDEX_NAME: pa.array(ts, type=pa.int64()).cast(pa.timestamp("ns", tz="UTC"))}
        for c in cols:
            arrays[c] = pa.array(frame[c].to_numpy(dtype=np.float64))
        attrs = {k: str(v) for k, v in frame.attrs.items() if k in ("kind", "symbol", "interval", "source")}
        info = {
            "format": _FORMAT,
            "key": {f: getattr(key, f) for f in ("source", "market", "kind", "symbol", "interval", "period")},
            "attrs": attrs,
            "rows": len(ts),
            "first_ns": int(ts.min()) if len(ts) else None,
            "last_ns": int(ts.max()) if len(ts) else None,
            "complete": bool(complete),
            "covered_until_ns": None if covered_until_ns is None else int(covered_until_ns),
            "missing": bool(missing),
            "note": note,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        table = pa.table(arrays).replace_schema_metadata({_META_KEY: json.dumps(info).encode()})
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
        return _entry_from_info(key, path, info)

    def write_missing(self, key: CacheKey, note: str, *, source: str = "") -> CacheEntry:
        """Record that the venue has no data for ``key``'s period, so later calls skip it without a request."""
        frame = empty_frame(key.kind, key.symbol, key.interval, source)
        return self.write(key, frame, complete=True, missing=True, note=note)

    def read(self, key: CacheKey) -> pd.DataFrame:
        """Return the cached frame of ``key`` with its stored provenance in ``attrs``.

        Raises
        ------
        DataError
            Not cached, or the file is unreadable.
        """
        path = self.path(key)
        try:
            table = pq.read_table(path)
            info = json.loads((table.schema.metadata or {})[_META_KEY])
        except FileNotFoundError:
            raise DataError(f"{path}: not in the cache") from None
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"{path}: unreadable cache file ({exc})") from None
        attrs: Mapping[str, str] = info.get("attrs", {})
        symbol = attrs.get("symbol", key.symbol)
        interval = attrs.get("interval", key.interval)
        source = attrs.get("source", str(path))
        ts = table.column(INDEX_NAME).cast(pa.int64()).to_numpy()
        cols = {c: table.column(c).to_numpy() for c in _columns(key.kind)}
        if key.kind == "funding":
            return make_funding_frame(ts, cols["funding_rate"], symbol=symbol, source=source, interval=interval)
        bars = (cols[c] for c in OHLCV_COLUMNS)
        return make_ohlcv_frame(ts, *bars, symbol=symbol, interval=interval, source=source, kind=key.kind)

    def read_range(
        self,
        source: str,
        market: str,
        kind: str,
        symbol: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> pd.DataFrame:
        """Return every cached row of a dataset in ``[start_ns, end_ns)``, sorted, one row per timestamp.

        Overlapping periods (a month and some of its days) are merged; no network is used.
        The result's ``attrs["source"]`` is the dataset directory.
        """
        lo = 0 if start_ns is None else start_ns
        hi = np.iinfo(np.int64).max if end_ns is None else end_ns
        frames = []
        for e in self.entries(source, market, kind, symbol, interval):
            p0, p1 = e.key.bounds()
            if e.rows and p0 < hi and p1 > lo:
                frames.append(self.read(e.key))
        folder = self.dataset_dir(source, market, kind, symbol, interval)
        if not frames:
            return empty_frame(kind, symbol, interval, str(folder))
        frame = pd.concat(frames) if len(frames) > 1 else frames[0]
        frame = frame[~frame.index.duplicated(keep="last")].sort_index(kind="stable")
        ts = cast(pd.DatetimeIndex, frame.index).as_unit("ns").asi8
        out: pd.DataFrame = frame[(ts >= lo) & (ts < hi)].copy()
        first_attrs = frames[0].attrs
        out.attrs.clear()
        out.attrs.update(
            {
                "kind": kind,
                "symbol": str(first_attrs.get("symbol", symbol)),
                "interval": str(first_attrs.get("interval", interval)),
                "source": str(folder),
            }
        )
        return out


def _entry_from_info(key: CacheKey, path: Path, info: Mapping[str, object]) -> CacheEntry:
    def opt_int(name: str) -> int | None:
        v = info.get(name)
        return int(v) if isinstance(v, int | float) else None

    attrs_raw = info.get("attrs")
    attrs = {str(k): str(v) for k, v in attrs_raw.items()} if isinstance(attrs_raw, Mapping) else {}
    rows = info.get("rows", 0)
    return CacheEntry(
        key=key,
        path=path,
        rows=int(rows) if isinstance(rows, int | float) else 0,
        first_ns=opt_int("first_ns"),
        last_ns=opt_int("last_ns"),
        complete=bool(info.get("complete", False)),
        covered_until_ns=opt_int("covered_until_ns"),
        missing=bool(info.get("missing", False)),
        note=str(info.get("note", "")),
        attrs=attrs,
        written_at=str(info.get("written_at", "")),
    )
