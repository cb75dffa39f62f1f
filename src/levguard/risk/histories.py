"""The price histories of ``levguard risk``, ``levguard size`` and the guardian: which position reads which.

A history is the OHLC bars of one asset: the asset it is given for (``{"ETH": frame}``,
``--history ETH=FILE``) or the one its symbol names (a loaded file's ``attrs["symbol"]``, from its
name, :func:`levguard.core.symbols.named_asset`: ``BTCUSDT-PERP_1h.csv`` and ``BTCUSDT-MARK_1h.csv``
are BTC; ``history.csv``, ``binance-btc_1h.csv`` and a bare coin, Hyperliquid's ``ETH_1h.csv``, name none).
Each position (and option underlying) reads the history of its own asset (:func:`levguard.core.symbols.asset_key`); one
without a history of its asset gets the given volatility (the closed-form GBM for its probability
of liquidation), and with no volatility given it is an error naming it, never another asset's bars.
A single history whose asset is unknown (a frame without a symbol, a file whose name is no pair) is
the history of a book on one underlying only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

import pandas as pd

from levguard.core.symbols import asset_key, named_asset
from levguard.errors import InputError

__all__ = [
    "HISTORY_END_GAP",
    "HistoryBars",
    "PriceHistory",
    "book_as_of",
    "ends_apart_note",
    "frame_asset",
    "history_of",
    "history_option",
    "history_source",
    "hourly_of",
    "largest_position",
    "load_histories",
    "unused_notes",
    "vol_unused_note",
]


@dataclass(frozen=True, slots=True)
class PriceHistory:
    """One asset's OHLC bars.

    Attributes
    ----------
    asset : str or None
        The asset the bars are of (``"BTC"``); None when neither the caller nor the frame says.
    frame : DataFrame
        The bars (validated, as :func:`levguard.data.loaders.load_ohlcv` returns them).
    file : str or None
        The file name the bars were read from (None for a frame), for messages.
    """

    asset: str | None
    frame: pd.DataFrame
    file: str | None

    @property
    def name(self) -> str:
        """The file name, or ``history`` (with its asset when known) for a frame."""
        return self.file or ("history" if self.asset is None else f"the {self.asset} history")


def frame_asset(frame: pd.DataFrame) -> str | None:
    """Return the asset a frame's ``attrs["symbol"]`` names (:func:`levguard.core.symbols.named_asset`:
    ``BTCUSDT-MARK`` and ``BTC/USDT:USDT`` -> ``BTC``), or None when it names none: no symbol, or
    a loaded file's stem that is no pair (``history.csv``, ``btc.csv``, ``DATA.csv``, ``ETH_1h.csv``,
    ``binance-btc_1h.csv``)."""
    return named_asset(str(frame.attrs.get("symbol") or "").strip())


def _one(item: Any, asset: str | None) -> PriceHistory:
    file = None
    if isinstance(item, str | Path):
        from levguard.data.loaders import load_ohlcv

        file, item = Path(item).name, load_ohlcv(item)
    if not isinstance(item, pd.DataFrame):
        raise InputError(
            "history must be a DataFrame of OHLC bars or a file (levguard.data.fetch_history), "
            f"was {type(item).__name__}"
        )
    own = frame_asset(item)
    if asset is not None and own is not None and own != asset:
        raise InputError(f"{asset}={file or 'frame'}: the bars are of {own} ({item.attrs.get('symbol')}), not {asset}")
    out = PriceHistory(asset if asset is not None else own, item, file)
    _check_bars(out)
    return out


# The price columns a history is read on (the mark's when present): numbers, or a raw TypeError
# from np.log (an object column) or True read as a price of 1.0 (a bool column).
_PRICE_COLUMNS = ("open", "high", "low", "close", "mark_open", "mark_high", "mark_low", "mark_close")


def _check_bars(h: PriceHistory) -> None:
    # An empty frame was an IndexError (its first bar's time); a column that is not numbers a
    # TypeError deep in the daily returns.
    if len(h.frame) == 0:
        raise InputError(f"{h.name}: has no bars (an empty frame); give at least a few days of bars")
    for col in _PRICE_COLUMNS:
        if col in h.frame.columns and h.frame[col].dtype.kind not in "iuf":
            values = h.frame[col].to_numpy()
            i = next(
                (j for j, v in enumerate(values) if isinstance(v, bool | str | bytes) or not isinstance(v, Real)),
                0,
            )
            raise InputError(
                f"{h.name}: column {col!r} must hold numbers (float64), was {h.frame[col].dtype} dtype "
                f"({values[i]!r} at row {i}); convert it, e.g. frame[{col!r}].astype(float)"
            )


def load_histories(history: Any) -> list[PriceHistory]:
    """Return the histories of a ``history`` argument: None (none), a frame or a path (one), a
    mapping of asset to frame or path, or a sequence of frames or paths (each of the asset its
    symbol names).

    Raises
    ------
    InputError
        Two histories of one asset, a mapping key that is not the asset of its bars, or an item
        that is not a frame or a path.
    """
    if history is None:
        return []
    if isinstance(history, Mapping):
        out = [_one(h, asset_key(str(a))) for a, h in history.items()]
    elif isinstance(history, Sequence) and not isinstance(history, str):
        out = [_one(h, None) for h in history]
    else:
        out = [_one(history, None)]
    if len(out) > 1:
        unnamed = [h.name for h in out if h.asset is None]
        if unnamed:
            raise InputError(f"{unnamed[0]} does not say which asset it is (no symbol): give it as ASSET=FILE")
    seen: dict[str, str] = {}
    for h in out:
        if h.asset is not None and h.asset in seen:
            raise InputError(f"two histories of {h.asset} ({seen[h.asset]} and {h.name}): give one per asset")
        seen[h.asset or ""] = h.name
    return out


def history_of(
    histories: Sequence[PriceHistory], names: Sequence[str], *, vol_given: bool
) -> dict[str, PriceHistory | None]:
    """Return the history each position symbol or underlying of ``names`` reads (None: none of
    its asset, the given volatility is read instead).

    Raises
    ------
    InputError
        A history of unknown asset for a book on several underlyings; with histories given and
        ``vol_given`` False, a name without a history of its asset (the message names it and the histories given).
    """
    if not histories:  # nothing to mistake for another asset's bars
        return dict.fromkeys(names)
    assets = {n: asset_key(n) for n in names}
    if len(histories) == 1 and histories[0].asset is None:
        book = sorted(set(assets.values()))
        if len(book) > 1:
            raise InputError(
                f"{histories[0].name} does not say which asset it is (no symbol) and the book is on "
                f"{', '.join(book)}: give each underlying its history as ASSET=FILE"
            )
        return dict.fromkeys(names, histories[0])
    by_asset = {h.asset: h for h in histories}
    out = {n: by_asset.get(a) for n, a in assets.items()}
    missing = [n for n, h in out.items() if h is None]
    if missing and not vol_given:
        # One name per asset (a position's symbol before its underlying's bare name).
        missing = list({assets[n]: n for n in reversed(missing)}.values())[::-1]
        given = ", ".join(f"{h.name} ({h.asset})" for h in histories) or "none"
        raise InputError(
            f"{', '.join(missing)}: no price history of {', '.join(sorted({assets[n] for n in missing}))} "
            f"(histories given: {given}); give --history ASSET=FILE for each underlying, or --vol"
        )
    return out


def unused_notes(histories: Sequence[PriceHistory], assets: Sequence[str]) -> list[str]:
    """Return a note for each history of an asset the book does not hold (not read: a history of
    another asset never fails or shapes the report)."""
    held = {asset_key(a) for a in assets}
    return [
        f"{h.name}: not read (no position on {h.asset})"
        for h in histories
        if h.asset is not None and h.asset not in held
    ]


def _span(h: PriceHistory) -> tuple[pd.Timestamp, pd.Timestamp]:
    # The first bar's close and the last bar's close (open time plus the bar).
    from levguard.data.frames import frame_bar_ns

    bar = pd.Timedelta(frame_bar_ns(h.frame, h.name), unit="ns")
    return h.frame.index[0] + bar, h.frame.index[-1] + bar


def book_as_of(histories: Sequence[PriceHistory]) -> tuple[pd.Timestamp | None, str | None]:
    """Return the one as-of of a book read without ``as_of`` and a note saying it, or (None, None)
    when the book reads at most one history or all end together (each is read to its last bar).

    Histories ending at different times are all read to the latest time they all cover, the
    earliest of their last bars' closes: a book's probabilities of liquidation and VaR are of
    one date, not BTC's of 2022 beside ETH's of 2026.

    Raises
    ------
    InputError
        Histories that share no time (one ends before another starts), naming each file's span.
    """
    spans = {id(h.frame): (h, *_span(h)) for h in histories}
    if len({end for _h, _first, end in spans.values()}) <= 1:
        return None, None
    at = min(end for _h, _first, end in spans.values())
    if any(first > at for _h, first, _end in spans.values()):
        listed = ", ".join(
            f"{h.name} {first:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}" for h, first, end in spans.values()
        )
        raise InputError(
            f"the histories share no time ({listed} UTC): give histories of one period, or the account's as_of"
        )
    first_end = next(h.name for h, _first, end in spans.values() if end == at)
    return at, f"as of {at.isoformat()}, the last bar of {first_end}: every history is read to the time all cover"


def vol_unused_note(vol: float) -> str:
    """Return the note of a given volatility that no position read: every position's asset has
    a history, whose volatility it reads (``vol`` is the volatility of positions without one)."""
    return (
        f"--vol {vol:g} not used: every position's asset has a price history, whose volatility it reads "
        "(--vol is the volatility of positions on an asset without one)"
    )


HISTORY_END_GAP = pd.Timedelta("1D")
"""How far apart a book's histories may end before the guardian warns (:func:`ends_apart_note`):
one day, the step of the daily returns the volatility forecast reads, so histories within it give
forecasts of the same day."""


def ends_apart_note(
    histories: Sequence[PriceHistory], gap: pd.Timedelta = HISTORY_END_GAP, as_of: pd.Timestamp | None = None
) -> str | None:
    """Return a note when the histories of a book, read at ``as_of``, end more than ``gap`` apart
    (None otherwise): each is read to ``min(its last bar's close, as_of)`` (without ``as_of``, to
    its end), so files running past ``as_of`` are read to the same time.

    Read at one time (the guardian's now, an account's ``as_of``), each history is read to its
    own end (the guardian then appends the marks it sees), so each position's volatility and
    probability of liquidation are of its own history's end; ``levguard risk`` and ``levguard
    size`` without the account's ``as_of`` read every history to the earliest end instead
    (:func:`book_as_of`), and differ from the guardian's ``/risk``: the note says both, with
    each file's end.  The guardian alerts it and ``/risk`` lists it; the risk report and
    ``levguard size`` note it when read at the account's ``as_of``.
    """
    ends = {id(h.frame): (h, _span(h)[1] if as_of is None else min(_span(h)[1], as_of)) for h in histories}
    if len(ends) < 2:
        return None
    first = min(end for _h, end in ends.values())
    last = max(end for _h, end in ends.values())
    if last - first <= gap:
        return None
    listed = ", ".join(f"{h.name} {end:%Y-%m-%d %H:%M}" for h, end in ends.values())
    return (
        f"the histories end {_days(last - first)} apart ({listed} UTC; more than {_days(gap)}): read at one "
        "time, each position's volatility and P(liq) are of its own history's end; without the account's "
        f"as_of, levguard risk and levguard size read all of them to {first.isoformat()}"
    )


def _days(t: pd.Timedelta) -> str:
    # A gap for a note: whole days in days, else hours below two days, else days to a tenth:
    # "1 day", "10 days", "25 hours", "2.5 days".
    hours = t / pd.Timedelta("1h")
    days = round(hours / 24, 1)
    if hours % 24 == 0 or hours >= 48:
        return "1 day" if days == 1 else f"{days:g} days"
    return f"{hours:.0f} hours"


def largest_position(symbols: Sequence[str], notionals: Sequence[float]) -> str | None:
    """Return the symbol of the largest position (by notional in one unit; the first of equals):
    the one rule for whose forecaster, volatility and returns stand for the account (the
    ``liquidation_forecast`` of ``levguard risk`` and ``levguard size``, the policy's inputs)."""
    if not symbols:
        return None
    return max(zip(symbols, notionals, strict=True), key=lambda sn: sn[1])[0]


def hourly_of(h: PriceHistory) -> pd.DataFrame:
    """Return the hourly bars of ``h`` (:func:`levguard.risk.forecast.to_hourly`), an error naming
    its file when they cannot be had (bars coarser than an hour)."""
    from levguard.risk.forecast import to_hourly

    try:
        return to_hourly(h.frame)
    except InputError as exc:
        raise InputError(f"{h.name}: {exc}") from None


def history_source(frame: pd.DataFrame) -> str:
    """Return the source label of a forecaster fitted on ``frame``: ``FILE (mark bars, hourly)``
    (``last-price`` or ``index`` bars by :func:`levguard.data.frames.bar_prices`)."""
    from levguard.data.frames import bar_prices

    return f"{str(frame.attrs.get('source', '')) or 'history'} ({bar_prices(frame)} bars, hourly)"


def history_option(items: Sequence[str] | None) -> Any:
    """Return the ``history`` argument of ``--history`` given once or more: None, one path, a list
    of paths (each of the asset its file names), or ``{ASSET: path}`` from ``ASSET=FILE`` items.

    Raises
    ------
    InputError
        ``FILE`` and ``ASSET=FILE`` items mixed, or a malformed ``ASSET=FILE``.
    """
    from levguard.risk.joint import parse_asset_files

    items = list(items or ())
    keyed = [i for i in items if "=" in i and not Path(i).exists()]
    if not keyed:
        return None if not items else items[0] if len(items) == 1 else items
    if len(keyed) != len(items):
        bare = next(i for i in items if i not in keyed)
        raise InputError(f"--history {bare}: give every --history as ASSET=FILE when one is (e.g. BTC=btc_1h.csv)")
    return parse_asset_files(keyed)


class HistoryBars:
    """``bars(symbol)`` of the guardian's liquidation forecasters (``accounts[].history``): the
    hourly bars of the history of the symbol's own asset, by the rule ``levguard risk`` and
    ``levguard size`` apply (:func:`history_of`), or None when there is none (the guardian then
    reads its configured ``vol``, and :meth:`why_none` says so in the forecast's source).

    Parameters
    ----------
    history : path, mapping or sequence
        A ``history`` argument of :func:`load_histories`: one file, ``{ASSET: file}`` or
        ``{SYMBOL: file}`` (a symbol key is its asset: ``BTCUSDT`` is BTC), or a list of files.
        A file that names no asset is the history of an account on one underlying only: while
        the account holds several (:meth:`refresh` learns them every cycle), it is read for none
        (an InputError, which the forecasts log).
    """

    def __init__(self, history: Any) -> None:
        self.histories = load_histories(history)
        self._book: tuple[str, ...] = ()
        self._now: pd.Timestamp | None = None  # the guardian's now at the last refresh
        # Per book and now (None: past every history's end): the histories are fixed.
        self._notes: dict[tuple[tuple[str, ...], pd.Timestamp | None], list[str]] = {}
        self._last_end = max((_span(h)[1] for h in self.histories), default=None)
        # Read now: a file coarser than an hour is an error at start-up, naming it.
        self._hourly = {id(h.frame): hourly_of(h) for h in self.histories}

    async def refresh(self, symbols: Sequence[str], now_ns: int) -> None:
        """Learn the account's symbols of this cycle (the guardian calls it before its forecasts)."""
        self._book = tuple(dict.fromkeys(symbols))
        self._now = pd.Timestamp(now_ns, tz="UTC")

    def history(self, symbol: str) -> PriceHistory | None:
        """The history ``symbol`` reads (None: none of its asset).  InputError: a file that names no
        asset while the account holds several underlyings."""
        return history_of(self.histories, [symbol, *self._book], vol_given=True)[symbol]

    def __call__(self, symbol: str) -> pd.DataFrame | None:
        h = self.history(symbol)
        return None if h is None else self._hourly[id(h.frame)]

    def notes(self) -> list[str]:
        """What the account's histories say of this cycle's book: that they end more than
        :data:`HISTORY_END_GAP` apart (:func:`ends_apart_note`), or nothing."""
        # Read at now, as the forecasts: a now before a history's end clips it (ends_apart_note).
        now = self._now if self._now is not None and self._last_end is not None and self._now < self._last_end else None
        key = (self._book, now)
        if key not in self._notes:  # once per book (1 ms a call on two 200-day files)
            try:
                read = history_of(self.histories, self._book, vol_given=True).values()
            except InputError:  # a file naming no asset for several underlyings: the forecasts say it
                return []
            note = ends_apart_note(list({id(h.frame): h for h in read if h is not None}.values()), as_of=now)
            if len(self._notes) >= 64:  # bounded: books come and go
                self._notes.clear()
            self._notes[key] = [] if note is None else [note]
        return list(self._notes[key])

    def why_none(self, symbol: str) -> str:
        """Why ``symbol`` has no bars here: no history of its asset among those given."""
        given = ", ".join(f"{h.name} ({h.asset})" for h in self.histories)
        return f"no price history of {asset_key(symbol)}; histories given: {given}"
