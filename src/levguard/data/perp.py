"""One backtest frame for a linear perpetual: last-price bars, mark-price OHLC and funding.

The frame is what :func:`levguard.backtest.engine.run` reads: columns ``open, high, low, close,
volume`` (last price), optionally ``mark_open, mark_high, mark_low, mark_close`` and
``funding_rate`` (the rate of the prints settling inside each bar, NaN where none settles).

Alignment rules (nothing is forward-filled or interpolated):

* **Mark price.** Only bars whose open time is in *both* the last-price and the mark-price
  series are kept (the intersection of timestamps). Last-price bars without a mark bar (before
  the mark series starts, after it ends, or missing inside it) are dropped, and so are mark bars
  without a last-price bar. Every drop is recorded in ``frame.attrs["notes"]``.
* **Funding.** Each print is assigned to the bar whose open charges it: the bar it settles at
  the open of, else the next one, charged to the position held through the print
  (:func:`levguard.data.resample.funding_bars`); several prints at one open are summed. Bars
  without a print get NaN (no settlement), so where the funding series does not cover the bars
  no funding is charged; that is recorded in the notes, as are prints outside the bars' span
  and prints settling inside a gap between bars (not charged either).

Provenance in ``frame.attrs``: ``symbol``, ``interval``, ``source`` (last price),
``mark_source`` and ``funding_source`` (``""`` when absent), ``notes`` (list of str).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from levguard.core.symbols import listed_pair, other_instrument
from levguard.data.frames import float_column, frame_bar_ns, interval_to_ns, ordered_ns, utc_time
from levguard.errors import DataError, InputError

if TYPE_CHECKING:
    from levguard.data.download import BinanceArchive

__all__ = [
    "FUNDING_FILE",
    "LAST_FILE",
    "MARK_COLUMNS",
    "MARK_FILE",
    "download_perp",
    "funding_mean_per_8h",
    "load_perp_dir",
    "load_perp_spec",
    "perp_frame",
    "perp_summary",
    "recent_span",
]

MARK_COLUMNS: tuple[str, ...] = ("mark_open", "mark_high", "mark_low", "mark_close")
LAST_FILE = "ohlcv/{symbol}-PERP_{interval}"
"""Last-price bars inside a data directory (``+ .csv``, ``.csv.gz`` or ``.parquet``)."""
MARK_FILE = "ohlcv/{symbol}-MARK_{interval}"
"""Mark-price bars inside a data directory (optional)."""
FUNDING_FILE = "funding/{symbol}_funding"
"""Funding prints inside a data directory (optional)."""

_SUFFIXES = (".csv", ".csv.gz", ".parquet")
_SYMBOL = re.compile(r"^[A-Za-z0-9_]{2,40}$")
_NS_PER_8H = 8 * 3_600 * 1_000_000_000
_NS_PER_YEAR = 365 * 86_400 * 1_000_000_000


def _when(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M")


def _same_instrument(last: pd.DataFrame, side: pd.DataFrame, what: str) -> None:
    """DataError when a side file (mark, funding) names another instrument than the last-price
    bars (:func:`~levguard.core.symbols.other_instrument`), both files named: BTC mark prices
    liquidated an ETH position (a return of 221,416,371.9 %).  A file naming no pair is not checked."""
    mine, theirs = (listed_pair(str(f.attrs.get("symbol") or "")) for f in (last, side))
    why = None if mine is None or theirs is None else other_instrument(theirs, mine)
    if why is not None:
        raise DataError(
            f"{what} file {side.attrs.get('source') or '(frame)'} is {theirs}, the last-price bars "
            f"{last.attrs.get('source') or '(frame)'} are {mine} ({why}); give the {what} of {mine}"
        )


MARK_SCALE_MAX = 1.25
"""Largest median ratio (either way) of the mark close to the last close that is one price:
mark and last price differ by basis points in the median (Binance's mark is the index plus a
capped basis), so a median factor past 1.25 is another scale or instrument (the mark of PEPEUSDT
beside 1000PEPEUSDT's bars: 1,000x), which liquidates every position at the first bar."""


def _same_scale(last: pd.DataFrame, mark: pd.DataFrame, frame: pd.DataFrame, side: pd.DataFrame) -> None:
    # DataError when the mark bars are not priced on the last-price bars' scale (MARK_SCALE_MAX).
    ratio = mark["close"].to_numpy(dtype=np.float64) / last["close"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = float(np.exp(np.nanmedian(np.abs(np.log(ratio))))) if ratio.size else 1.0
    if factor > MARK_SCALE_MAX:
        raise DataError(
            f"mark file {side.attrs.get('source') or '(frame)'} is priced {factor:,.4g}x apart from the last-price "
            f"bars {frame.attrs.get('source') or '(frame)'} (median of their closes' ratio, limit "
            f"{MARK_SCALE_MAX:g}x); "
            "give the mark of the same contract, on the same price scale (1000PEPEUSDT is not PEPEUSDT)"
        )


def _attach_mark(frame: pd.DataFrame, mark: pd.DataFrame, bar_ns: int, notes: list[str]) -> pd.DataFrame:
    """Keep the bars present in both series and add the mark OHLC columns; record the drops."""
    missing = [c for c in ("open", "high", "low", "close") if c not in mark.columns]
    if missing:
        raise DataError(f"mark frame lacks column(s) {missing}")
    if mark.attrs.get("interval"):
        mark_ns = frame_bar_ns(mark, "mark bars")
        if mark_ns != bar_ns:
            raise DataError(
                f"mark bars have interval {mark.attrs['interval']!r}, the last-price bars "
                f"{frame.attrs.get('interval')!r}; they must match"
            )
    last_ts, mark_ts = ordered_ns(frame, "last-price bars"), ordered_ns(mark, "mark bars")
    if len(mark_ts) == 0:
        raise DataError("mark frame is empty; pass mark=None to use the last price as mark")
    keep = np.isin(last_ts, mark_ts)
    if not keep.any():
        raise DataError(
            f"last-price bars ({_when(last_ts[0])} → {_when(last_ts[-1])}) and mark bars "
            f"({_when(mark_ts[0])} → {_when(mark_ts[-1])}) share no timestamp"
        )
    before = int(np.count_nonzero(~keep & (last_ts < mark_ts[0])))
    after = int(np.count_nonzero(~keep & (last_ts > mark_ts[-1])))
    inside = int(np.count_nonzero(~keep)) - before - after
    if before:
        notes.append(f"mark price starts {_when(mark_ts[0])}: {before:,} earlier last-price bar(s) dropped")
    if after:
        notes.append(f"mark price ends {_when(mark_ts[-1])}: {after:,} later last-price bar(s) dropped")
    if inside:
        notes.append(f"{inside:,} last-price bar(s) without a mark bar inside the common span dropped (not filled)")
    unused = int(np.count_nonzero(~np.isin(mark_ts, last_ts)))
    if unused:
        notes.append(f"{unused:,} mark bar(s) without a last-price bar ignored")
    out = frame.loc[keep].copy()
    aligned = mark.loc[out.index]
    _same_scale(out, aligned, frame, mark)
    for col in ("open", "high", "low", "close"):
        out[f"mark_{col}"] = aligned[col].to_numpy(dtype=np.float64)
    return out


def _attach_funding(frame: pd.DataFrame, funding: pd.DataFrame, bar_ns: int, notes: list[str]) -> None:
    """Add ``funding_rate`` (sum of the prints each bar's open charges, NaN where none:
    :func:`levguard.data.resample.funding_bars`); record coverage."""
    from levguard.data.resample import AFTER_LAST_OPEN, funding_bars, in_gaps

    if not isinstance(funding, pd.DataFrame) or "funding_rate" not in funding.columns:
        raise DataError("funding must be a DataFrame with a 'funding_rate' column (one row per print)")
    bars_ts = ordered_ns(frame, "bars")
    print_ts = ordered_ns(funding, "funding prints")
    at = funding_bars(bars_ts, bar_ns, print_ts)
    charged = at >= 0
    values = float_column(funding, "funding_rate", "funding")
    rates, hits = np.zeros(bars_ts.shape[0]), np.zeros(bars_ts.shape[0])
    np.add.at(rates, at[charged], values[charged])
    np.add.at(hits, at[charged], 1.0)
    frame["funding_rate"] = np.where(hits > 0, rates, np.nan)
    if len(print_ts) == 0:
        notes.append("funding series is empty: no funding charged")
        return
    span_end = bars_ts[-1] + bar_ns
    outside = int(np.count_nonzero((print_ts < bars_ts[0]) | (print_ts >= span_end)))
    used = int(np.count_nonzero(hits > 0))
    if used == 0:
        notes.append(
            f"no funding print ({_when(print_ts[0])} → {_when(print_ts[-1])}) falls on the bars: no funding charged"
        )
        return
    gaps = np.diff(print_ts)
    spacing = int(np.median(gaps)) if gaps.size else _NS_PER_8H
    inside = print_ts[(print_ts >= bars_ts[0]) & (print_ts < span_end)]
    if inside[0] - bars_ts[0] > spacing:
        notes.append(f"funding starts {_when(int(inside[0]))}: no funding charged before it")
    if span_end - inside[-1] > 2 * spacing:
        notes.append(f"funding ends {_when(int(inside[-1]))}: no funding charged after it")
    if outside:
        notes.append(f"{outside:,} funding print(s) outside the bars' span ignored")
    gap = charged & in_gaps(bars_ts, bar_ns, print_ts)
    n_gap = int(np.count_nonzero(gap))
    if n_gap > 0:
        notes.append(
            f"{n_gap:,} funding print(s) settle inside gaps between the bars: each is charged at the open after "
            "its gap, at that bar's mark (the position is held through the gap)"
        )
    if np.any(at == AFTER_LAST_OPEN):
        notes.append(
            f"{int(np.count_nonzero(at == AFTER_LAST_OPEN)):,} funding print(s) settle inside the last bar: "
            "no later open to charge them at"
        )
    moved = int(np.count_nonzero(charged & (print_ts - bars_ts[np.clip(at, 0, None)] < 0))) - n_gap
    if moved:
        notes.append(
            f"{moved:,} funding print(s) settle inside a bar (bars not aligned to the funding times): each is "
            "charged at the next bar's open, at its mark, to the position held through the print"
        )
    bunched = np.zeros(bars_ts.shape[0])  # prints a bar is charged besides those of a gap before it
    np.add.at(bunched, at[charged & ~gap], 1.0)
    crowded = int(np.count_nonzero(bunched > 1))
    if crowded:
        notes.append(
            f"{crowded:,} bar(s) are charged more than one funding print (bars longer than the funding interval): "
            "each print is charged to the position that held it, together at the mark of the open after them "
            "(venues use the mark at each print)"
        )


def perp_frame(
    last: pd.DataFrame, mark: pd.DataFrame | None = None, funding: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Combine last-price bars, mark-price bars and funding prints into one backtest frame.

    Parameters
    ----------
    last : DataFrame
        Last-price OHLCV bars (:mod:`levguard.data.frames` convention), e.g. from
        :func:`levguard.data.loaders.load_ohlcv`.
    mark : DataFrame, optional
        Mark-price OHLC bars of the same interval. None: no ``mark_*`` columns (the backtester
        then uses the last price as mark).
    funding : DataFrame, optional
        Funding prints (``funding_rate`` per settlement, positive = longs pay). None: no
        ``funding_rate`` column (no funding is charged).

    Returns
    -------
    DataFrame
        The last-price columns on the bars present in both ``last`` and ``mark`` (all of
        ``last`` without ``mark``), plus ``mark_open, mark_high, mark_low, mark_close`` and
        ``funding_rate`` (NaN where no print is charged at the bar's open). ``attrs`` hold ``symbol``,
        ``interval``, ``source``, ``mark_source``, ``funding_source`` and ``notes`` (what was
        dropped or not covered; see the module docstring).

    Raises
    ------
    DataError
        Missing columns, different bar intervals, no common timestamp, empty input, or a mark or
        funding frame whose ``attrs["symbol"]`` names another instrument than ``last``'s
        (:func:`~levguard.core.symbols.other_instrument`; a name without a pair is not checked).
    """
    missing = [c for c in ("open", "high", "low", "close") if c not in last.columns]
    if missing:
        raise DataError(f"last-price frame lacks column(s) {missing}")
    if len(last) == 0:
        raise DataError("last-price frame is empty")
    bar_ns = frame_bar_ns(last, "last-price bars")
    notes: list[str] = []
    frame = last.copy()
    for side, what in ((mark, "mark"), (funding, "funding")):
        if side is not None:
            _same_instrument(last, side, what)
    if mark is not None:
        frame = _attach_mark(frame, mark, bar_ns, notes)
    if funding is not None:
        _attach_funding(frame, funding, bar_ns, notes)
    frame.attrs = dict(last.attrs)
    frame.attrs.update(
        {
            "mark_source": str(mark.attrs.get("source", "")) if mark is not None else "",
            "funding_source": str(funding.attrs.get("source", "")) if funding is not None else "",
            "notes": notes,
        }
    )
    return frame


def _check_symbol(symbol: str) -> str:
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise InputError(f"symbol must be letters, digits or '_' such as BTCUSDT, was {symbol!r}")
    return symbol


def _find(directory: Path, pattern: str, symbol: str, interval: str) -> tuple[Path | None, Path]:
    """The first existing file for ``pattern`` among the suffixes, and the ``.csv`` path expected."""
    stem = pattern.format(symbol=symbol, interval=interval)
    for suffix in _SUFFIXES:
        p = directory / f"{stem}{suffix}"
        if p.is_file():
            return p, directory / f"{stem}.csv"
    return None, directory / f"{stem}.csv"


def perp_dir_files(directory: str | Path, symbol: str, interval: str = "1h") -> list[Path]:
    """The files :func:`load_perp_dir` reads for ``symbol`` in ``directory`` (those that exist): the
    last-price, mark-price and funding files, for commands that must never write over them."""
    found = (_find(Path(directory), pattern, symbol, interval)[0] for pattern in (LAST_FILE, MARK_FILE, FUNDING_FILE))
    return [p for p in found if p is not None]


def _slice(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    ts = ordered_ns(frame, str(frame.attrs.get("source", "frame")))
    keep = np.ones(len(ts), dtype=bool)
    if start is not None:
        keep &= ts >= start.value
    if end is not None:
        keep &= ts < end.value
    out = frame.loc[keep]
    out.attrs = dict(frame.attrs)
    return out


def load_perp_dir(
    directory: str | Path,
    symbol: str = "BTCUSDT",
    interval: str = "1h",
    *,
    start: object = None,
    end: object = None,
) -> pd.DataFrame:
    """Load a perpetual's last-price bars, mark-price bars and funding from a data directory.

    Layout (``.csv``, ``.csv.gz`` or ``.parquet``; formats of :mod:`levguard.data.loaders`)::

        DIR/ohlcv/{symbol}-PERP_{interval}.csv   last price (required)
        DIR/ohlcv/{symbol}-MARK_{interval}.csv   mark price (optional)
        DIR/funding/{symbol}_funding.csv         funding prints (optional)

    Parameters
    ----------
    directory : str or Path
    symbol : str
        E.g. ``BTCUSDT``.
    interval : str
        Bar interval in the file names, e.g. ``1h``.
    start, end : str or tz-aware Timestamp, optional
        Keep bars with open time in ``[start, end)`` (strings without an offset are UTC).

    Returns
    -------
    DataFrame
        :func:`perp_frame` of the files; a missing mark or funding file is recorded in
        ``attrs["notes"]``.

    Raises
    ------
    DataError
        The directory or the last-price file does not exist, a file is invalid, or no bar is
        left in ``[start, end)``.
    InputError
        Bad symbol, interval or bounds.
    """
    symbol = _check_symbol(symbol)
    step = pd.Timedelta(interval_to_ns(interval), "ns")
    lo, hi = utc_time(start, "start"), utc_time(end, "end")
    if lo is not None and hi is not None and hi <= lo:
        raise InputError(f"end must be after start, was start={start!r} end={end!r}")
    d = Path(directory)
    if not d.is_dir():
        raise DataError(f"data directory {str(d)!r} does not exist")
    from levguard.data.loaders import load_funding, load_ohlcv

    last_path, expected = _find(d, LAST_FILE, symbol, interval)
    if last_path is None:
        raise DataError(f"no last-price file for {symbol} {interval}: {str(expected)!r} does not exist")
    notes: list[str] = []
    last = _slice(load_ohlcv(last_path, symbol=symbol, interval=interval), lo, hi)
    if len(last) == 0:
        raise DataError(f"{last_path}: no bar in [{start}, {end})")

    def optional(
        pattern: str, load: Callable[[Path], pd.DataFrame], absent: str, need_bars: bool
    ) -> pd.DataFrame | None:
        # A file the frame can do without: a note names it when absent.
        path, expected = _find(d, pattern, symbol, interval)
        if path is None:
            notes.append(absent.format(expected))
            return None
        frame = _slice(load(path), lo, hi)
        if need_bars and len(frame) == 0:
            raise DataError(f"{path}: no bar in [{start}, {end})")
        return frame

    mark = optional(
        MARK_FILE,
        lambda p: load_ohlcv(p, symbol=symbol, interval=interval, kind="mark"),
        "no mark-price file ({}): the last price stands in for the mark price",
        True,
    )
    funding = optional(
        FUNDING_FILE, lambda p: load_funding(p, symbol=symbol), "no funding file ({}): no funding is charged", False
    )
    frame = perp_frame(last, mark, funding)
    # Bounds the files do not reach are said (`levguard demo --data DIR --end` after the data's
    # end ran to its last bar without a word).
    first, stop = frame.index[0], frame.index[-1] + step
    if lo is not None and lo <= first - step:
        notes.append(f"start {lo.isoformat()} is before the first bar, {first.isoformat()}: the data starts there")
    if hi is not None and hi >= stop + step:
        notes.append(f"end {hi.isoformat()} is after the last bar's close, {stop.isoformat()}: the data ends there")
    frame.attrs["notes"] = notes + list(frame.attrs["notes"])
    return frame


def recent_span(years: int = 3, now: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``years`` whole calendar years of months ending at the start of the current UTC month.

    The Binance archive publishes monthly files (funding: monthly only) after a month ends, so
    this span needs no daily file and has complete funding.
    """
    if isinstance(years, bool) or not isinstance(years, int) or years < 1:
        raise InputError(f"years must be an integer >= 1, was {years!r}")
    t = now if now is not None else pd.Timestamp.now(tz="UTC")
    if t.tz is None:
        raise InputError(f"now must be timezone-aware, was {now!r}")
    t = t.tz_convert("UTC")
    end = pd.Timestamp(year=t.year, month=t.month, day=1, tz="UTC")
    return end - pd.DateOffset(years=years), end


def download_perp(
    symbol: str,
    interval: str,
    start: object,
    end: object,
    *,
    archive: BinanceArchive | None = None,
) -> pd.DataFrame:
    """Download (or read from the cache) a Binance USDⓈ-M perpetual's klines, mark klines and funding.

    Uses :class:`levguard.data.download.BinanceArchive` (the ``levguard data download --source
    binance`` machinery: cached periods are not requested again) for the three series over
    ``[start, end)`` and combines them with :func:`perp_frame`. The downloaders' notes are kept
    in ``attrs["notes"]``.

    Raises
    ------
    DataError
        No klines in the range, or a malformed or corrupt archive file.
    VenueRetryableError, VenuePermanentError
        The archive could not be reached or refused a request.
    InputError
        Bad symbol, interval or range.
    """
    from levguard.data.download import BinanceArchive

    src = archive if archive is not None else BinanceArchive()
    notes: list[str] = []

    def fetch(kind: str) -> pd.DataFrame:
        result = src.download(symbol, kind, interval, start, end)
        notes.extend(f"{kind}: {note}" for note in result.notes)
        return result.frame

    last = fetch("ohlcv")
    if len(last) == 0:
        raise DataError(f"the Binance archive has no {symbol} {interval} klines in [{start}, {end})")
    mark: pd.DataFrame | None = fetch("mark")
    if mark is not None and len(mark) == 0:
        notes.append("no mark-price klines in the range: the last price stands in for the mark price")
        mark = None
    funding: pd.DataFrame | None = fetch("funding")
    if funding is not None and len(funding) == 0:
        notes.append("no funding prints in the range: no funding is charged")
        funding = None
    frame = perp_frame(last, mark, funding)
    frame.attrs["notes"] = notes + list(frame.attrs["notes"])
    return frame


def funding_mean_per_8h(rates: pd.Series) -> float | None:
    """Return the mean funding rate per 8 hours of settlements (a fraction; None without any).

    Parameters
    ----------
    rates : Series
        Funding rate per settlement (fraction per interval), indexed by the settlement times
        (UTC, rising); NaN rows (a bar frame's bars without a settlement) are skipped.

    Notes
    -----
    The rates paid after the first settlement, summed, divided by the time from the first to the
    last settlement, x 8 h: each print pays for the time since the previous one, so prints every
    4 h or 1 h (Binance moved symbols between 8h, 4h and 1h), or a change of interval, count at
    their rate per 8 h.  The plain mean of the rates was 8x too low for 1h prints.  A single
    settlement (or several at one time) gives the first rate.
    """
    paid = rates.dropna()
    if not len(paid):
        return None
    ts = ordered_ns(paid.to_frame(), "funding")
    values = paid.to_numpy(dtype=np.float64)
    span = int(ts[-1] - ts[0])
    return float(values[1:].sum() * _NS_PER_8H / span) if span > 0 else float(values[0])


def perp_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Describe a :func:`perp_frame`: span, volatility, worst intraday drop, mean funding.

    Returns
    -------
    dict
        ``symbol, interval, source, mark_source, funding_source, bars, first, last`` and
        ``annualised_vol`` (stdev of log close-to-close returns x sqrt(bars per 365-day year)),
        ``worst_intraday_drop`` (min over UTC days of day low / day open - 1, last price),
        ``worst_mark_intraday_drop`` (the same on the mark price, None without mark),
        ``funding_mean_per_8h`` (funding paid per 8 hours on average, None without funding),
        ``notes``.

    Notes
    -----
    ``funding_mean_per_8h`` is :func:`funding_mean_per_8h` of the charged bars: the funding
    charged after the first charged bar divided by the time from the first to the last charged
    bar, x 8h: each bar's rate pays for the time since the previous one, so it holds when the
    funding interval changes (Binance moved symbols between 8h, 4h and 1h) and on bars holding
    several prints.  It was the mean rate per print x
    8h / the median spacing, 2.9x too high for 90 days of 8h prints followed by 30 days of 1h
    prints at the same rate per 8h.  A single charged bar gives its rate.
    """
    bar_ns = frame_bar_ns(frame, "bars")
    close = frame["close"].to_numpy(dtype=np.float64)
    rets = np.diff(np.log(close))
    vol = float(np.std(rets, ddof=1) * np.sqrt(_NS_PER_YEAR / bar_ns)) if rets.size > 1 else float("nan")

    def worst_day(prefix: str) -> float:
        day_open = frame[f"{prefix}open"].resample("1D").first()
        day_low = frame[f"{prefix}low"].resample("1D").min()
        return float((day_low / day_open - 1.0).dropna().min())

    funding_mean = funding_mean_per_8h(frame["funding_rate"]) if "funding_rate" in frame.columns else None
    return {
        "symbol": frame.attrs.get("symbol"),
        "interval": frame.attrs.get("interval"),
        "source": frame.attrs.get("source"),
        "mark_source": frame.attrs.get("mark_source") or None,
        "funding_source": frame.attrs.get("funding_source") or None,
        "bars": len(frame),
        "first": str(frame.index[0]),
        "last": str(frame.index[-1]),
        "annualised_vol": vol,
        "worst_intraday_drop": worst_day(""),
        "worst_mark_intraday_drop": worst_day("mark_") if "mark_low" in frame.columns else None,
        "funding_mean_per_8h": funding_mean,
        "notes": list(frame.attrs.get("notes", [])),
    }


_SPEC_KEYS = {
    "default": set(),
    "synth": {"years", "interval", "seed"},
    "file": {"path", "mark", "funding"},
    "dir": {"path", "symbol", "interval", "start", "end"},
}


def load_perp_spec(spec: Any) -> pd.DataFrame:
    """Return the backtest frame a data spec names.

    ``{"source": "default"}`` (the embedded default market), ``{"source": "synth", "years": 3,
    "interval": "1h", "seed": 7}``, ``{"source": "file", "path": ..., "mark": ..., "funding":
    ...}`` (mark and funding optional) or ``{"source": "dir", "path": DIR, "symbol": "BTCUSDT",
    "interval": "1h", "start": ..., "end": ...}`` (the ``../shared/data`` layout, see
    :func:`load_perp_dir`).

    Raises
    ------
    InputError
        Not a mapping, an unknown source or an unknown key (the message names it).
    """
    if not hasattr(spec, "get") or not hasattr(spec, "keys"):
        raise InputError(f"data spec must be a mapping with a 'source', was {type(spec).__name__}")
    source = spec.get("source")
    if source not in _SPEC_KEYS:
        raise InputError(f"data spec: source must be one of {', '.join(_SPEC_KEYS)}, was {source!r}")
    unknown = set(spec.keys()) - _SPEC_KEYS[source] - {"source"}
    if unknown:
        raise InputError(f"data spec ({source}): unknown keys {sorted(unknown)}; use {sorted(_SPEC_KEYS[source])}")
    if source in ("default", "synth"):
        from levguard.data.default import default_market
        from levguard.data.synth import SynthConfig, synth_market

        if source == "default":
            market = default_market()
        else:
            cfg = SynthConfig(
                years=float(spec.get("years", 3.0)),
                interval=str(spec.get("interval", "1h")),
                seed=int(spec.get("seed", 7)),
            )
            market = synth_market(cfg)
        return perp_frame(market.ohlcv, market.mark, market.funding)
    if "path" not in spec:
        raise InputError(f"data spec ({source}): 'path' is required")
    if source == "dir":
        return load_perp_dir(
            spec["path"],
            str(spec.get("symbol", "BTCUSDT")),
            str(spec.get("interval", "1h")),
            start=spec.get("start"),
            end=spec.get("end"),
        )
    from levguard.data.loaders import load_funding, load_ohlcv

    frame = load_ohlcv(spec["path"])
    mark = load_ohlcv(spec["mark"], kind="mark") if spec.get("mark") else None
    funding = load_funding(spec["funding"]) if spec.get("funding") else None
    return perp_frame(frame, mark, funding)
