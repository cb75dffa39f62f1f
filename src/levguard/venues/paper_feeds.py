"""Price feeds of the paper venue: last and mark prices per tick, scripted and historical crashes.

Re-exported by :mod:`levguard.venues.paper` (import them from there).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from levguard.core.validate import float_values, integer_in, number, whole_number
from levguard.errors import InputError
from levguard.typing import Float64Array1D

__all__ = ["MAX_FEED_TICKS", "CrashShape", "PriceFeed", "crash_feed", "scripted_crash"]

MAX_FEED_TICKS = 10_000_000
"""Bound (exclusive) of the ticks of a scripted part of a feed (:func:`scripted_crash`,
``PaperVenue.shock``): 116 days of one-second ticks, 80 MB of prices (10**19 was a NumPy
ValueError)."""
_NS_MAX = 2**63 - 1  # int64 nanoseconds


def _prices(values: object, field: str) -> Float64Array1D:
    # A copy (it is made read-only below); text, a dict or 10**400 were NumPy's errors.
    arr = float_values(values, field).reshape(-1).copy()
    if arr.size == 0:
        raise InputError(f"{field} must hold at least one price, was empty")
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0.0)):
        bad = int(np.flatnonzero(~(np.isfinite(arr) & (arr > 0.0)))[0])
        raise InputError(f"{field}[{bad}] must be a finite price > 0, was {arr[bad]!r}")
    arr.setflags(write=False)
    return arr


# --- price feeds ------------------------------------------------------------------------------
class PriceFeed:
    """Last and mark prices per tick of one symbol.

    Parameters
    ----------
    last : array of float, shape (n,)
        Last (trade) price at each tick, quote per base.
    mark : array of float, shape (n,), optional
        Mark price at each tick (liquidations, uPnL and fills use it); defaults to ``last``.
    start_ns, tick_ns : int, optional
        Timestamp of tick 0 and tick length of a replayed file; a :class:`PaperVenue` built
        without its own ``start_ns``/``tick_ns`` takes them from its first feed that has them.
    source : str
        Where the prices come from.

    Notes
    -----
    After its last tick a feed holds its last prices (the venue's clock keeps running).  The
    arrays are read-only.
    """

    __slots__ = ("last", "mark", "source", "start_ns", "tick_ns")

    def __init__(
        self,
        last: object,
        mark: object | None = None,
        *,
        start_ns: int | None = None,
        tick_ns: int | None = None,
        source: str = "path",
    ) -> None:
        self.last: Float64Array1D = _prices(last, "last")
        self.mark: Float64Array1D = self.last if mark is None else _prices(mark, "mark")
        if self.mark.shape != self.last.shape:
            raise InputError(f"mark must have the length of last ({self.last.size}), was {self.mark.size}")
        self.start_ns = None if start_ns is None else whole_number(start_ns, "start_ns", -_NS_MAX, _NS_MAX)
        self.tick_ns = None if tick_ns is None else whole_number(tick_ns, "tick_ns", 1, _NS_MAX)
        self.source = source

    def __repr__(self) -> str:
        return f"PriceFeed({self.source!r}, {self.last.size} ticks)"

    def __len__(self) -> int:
        return int(self.last.size)

    def at(self, tick: int) -> tuple[float, float]:
        """Return ``(last, mark)`` at ``tick`` (the final prices beyond the end)."""
        i = min(max(integer_in(tick, "tick", -_NS_MAX, _NS_MAX), 0), self.last.size - 1)
        return float(self.last[i]), float(self.mark[i])

    @classmethod
    def from_path(cls, last: object, mark: object | None = None, *, source: str = "path") -> PriceFeed:
        """Build a feed from a synthetic path (e.g. a row of :func:`levguard.cascade.price_paths.path_for`)."""
        return cls(last, mark, source=source)

    @classmethod
    def from_frame(cls, bars: Any, mark_bars: Any | None = None) -> PriceFeed:
        """Replay bars: ``close`` per tick, with the bars' timestamps and interval.

        ``bars`` (and ``mark_bars``, mark-price klines on the same index) are levguard frames
        with a UTC ``DatetimeIndex``: a replayed file loaded with
        ``levguard.data.loaders.load_ohlcv(path)``, or ``synth_market(...).ohlcv`` and ``.mark``.
        (The layer contract keeps ``venues`` from importing ``data``: the caller loads the file.)
        """
        ts = np.asarray(bars.index.as_unit("ns").asi8, dtype=np.int64)
        if ts.size == 0:
            raise InputError("bars must hold at least one bar, was empty")
        tick_ns = int(ts[1] - ts[0]) if ts.size > 1 else None
        mark = None
        if mark_bars is not None:
            m_ts = np.asarray(mark_bars.index.as_unit("ns").asi8, dtype=np.int64)
            if m_ts.shape != ts.shape or not np.array_equal(m_ts, ts):
                raise InputError("mark_bars must have the timestamps of bars")
            mark = mark_bars["close"].to_numpy(dtype=np.float64)
        source = str(bars.attrs.get("source") or "frame")
        last = bars["close"].to_numpy(dtype=np.float64)
        return cls(last, mark, start_ns=int(ts[0]), tick_ns=tick_ns, source=source)


def scripted_crash(
    start: float,
    drop: float,
    ticks: int,
    *,
    flat: int = 10,
    rebound: float = 0.0,
    rebound_ticks: int = 0,
    tail: int = 10,
    mark_excess: float = 0.0,
) -> PriceFeed:
    """Return a crash feed: flat, a fall of ``drop`` over ``ticks`` ticks, an optional rebound.

    Parameters
    ----------
    start : float
        Price of the flat part (ticks ``0 .. flat - 1``).
    drop : float
        Fall as a fraction of ``start``, in (0, 1): the trough is ``start * (1 - drop)``.
    ticks : int
        Ticks of the fall (>= 1); the trough is tick ``flat + ticks - 1``.
    flat : int
        Ticks at ``start`` before the fall (>= 1).
    rebound : float
        Rise after the trough as a fraction of the trough price (>= 0), over ``rebound_ticks``.
    tail : int
        Ticks holding the final price at the end.
    mark_excess : float
        How far the mark stays above the last price at the trough (fraction; the mark skips part
        of a wick, see :class:`levguard.data.crashes.CrashProfile`).

    Notes
    -----
    The fall and the rebound are geometric (a constant log return per tick):
    ``last[flat - 1 + j] = start * (1 - drop) ** (j / ticks)`` for ``j = 0 .. ticks``.  The mark is
    ``last * (1 + mark_excess * w)`` with ``w = (start - last) / (start - trough)`` clipped to
    [0, 1], the share of the fall achieved.
    """
    # Numbers as float, tick counts as ints: a string was a TypeError, True a tick count, 10**19
    # ticks a NumPy ValueError.
    start, drop, rebound, mark_excess = (
        number(value, name)
        for name, value in (("start", start), ("drop", drop), ("rebound", rebound), ("mark_excess", mark_excess))
    )
    if not (math.isfinite(start) and start > 0.0):
        raise InputError(f"start must be a price > 0, was {start!r}")
    if not 0.0 < drop < 1.0:
        raise InputError(f"drop must be a fraction in (0, 1), was {drop!r}")
    ticks, flat, rebound_ticks, tail = (
        integer_in(value, name, low, MAX_FEED_TICKS)
        for name, value, low in (
            ("ticks", ticks, 1),
            ("flat", flat, 1),
            ("rebound_ticks", rebound_ticks, 0),
            ("tail", tail, 0),
        )
    )
    if not (math.isfinite(rebound) and rebound >= 0.0):
        raise InputError(f"rebound must be a fraction >= 0, was {rebound!r}")
    if rebound > 0.0 and rebound_ticks == 0:
        raise InputError("rebound_ticks must be >= 1 when rebound > 0, was 0")
    if not 0.0 <= mark_excess < 0.5:
        raise InputError(f"mark_excess must be a fraction in [0, 0.5), was {mark_excess!r}")
    trough = start * (1.0 - drop)
    fall = start * (1.0 - drop) ** (np.arange(1, ticks + 1) / ticks)
    up = trough * (1.0 + rebound) ** (np.arange(1, rebound_ticks + 1) / max(rebound_ticks, 1))
    body = np.concatenate([np.full(flat, start), fall, up])
    last = np.concatenate([body, np.full(tail, body[-1])])
    w = np.clip((start - last) / (start - trough), 0.0, 1.0)
    mark = last * (1.0 + mark_excess * w)
    return PriceFeed(last, mark, source=f"scripted crash: -{drop:.2%} over {ticks} ticks")


class CrashShape(Protocol):
    """What :func:`crash_feed` reads of a crash (:class:`levguard.data.crashes.CrashProfile`)."""

    @property
    def depth(self) -> float: ...
    @property
    def speed_hours(self) -> int: ...
    @property
    def rebound_24h(self) -> float: ...
    @property
    def mark_excess(self) -> float: ...


def crash_feed(crash: CrashShape, start: float, *, ticks_per_hour: int = 1, flat: int = 10) -> PriceFeed:
    """Return a :func:`scripted_crash` shaped like a historical crash.

    ``crash`` is e.g. ``levguard.data.crashes.crash_by_name("ftx")``: its ``depth`` over
    ``speed_hours``, its ``rebound_24h`` over 24 hours and its ``mark_excess``, at
    ``ticks_per_hour`` ticks per simulated hour (give the venue ``tick_ns = 3600e9 / ticks_per_hour``).
    """
    integer_in(ticks_per_hour, "ticks_per_hour", 1, 3_600_000)  # True was 1 tick an hour
    return scripted_crash(
        start,
        crash.depth,
        crash.speed_hours * ticks_per_hour,
        flat=flat,
        rebound=max(crash.rebound_24h, 0.0),
        rebound_ticks=24 * ticks_per_hour if crash.rebound_24h > 0 else 0,
        mark_excess=crash.mark_excess,
    )
