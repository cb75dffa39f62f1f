"""Named BTC crashes: measured depth, speed and aftermath, and the rule that measures them.

The synthetic market generator (:mod:`levguard.data.synth`) injects crash events shaped like
these.  Only the measured magnitudes are recorded here, never the data they come from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.core.validate import pick_named
from levguard.errors import DataError, InputError

__all__ = ["NAMED_CRASHES", "CrashProfile", "ShockMeasure", "crash_by_name", "measure_crash", "measure_shock"]

_HOUR_NS = 3_600 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class CrashProfile:
    """Depth, speed and aftermath of one crash (fractions, hours).

    Attributes
    ----------
    name : str
        Short name, e.g. ``"2020-03-12 covid"``.
    date : str
        UTC day of the trough, ``YYYY-MM-DD``.
    depth : float
        Peak-to-trough fall ``1 - low_trough / high_peak`` within 24 hours, in (0, 1).
    speed_hours : int
        Hours from the peak bar to the trough bar, 1 to 24 (24: the slide began a day or more
        before the trough).
    trough_hour : int
        UTC hour of day (0-23) of the trough bar.
    wick : float
        ``close / low - 1`` of the trough bar (how far the trough bar closed above its low).
    rebound_24h : float
        Close of the bar 24 hours after the trough over the trough low, minus 1.
    volume_mult : float
        Mean hourly volume from peak to trough over the median hourly volume of the 30 days
        before the 24-hour window.
    funding_min : float
        Lowest funding print from 8 hours before to 48 hours after the trough (per 8 h).
    day_drop : float
        UTC-day open to the day's low, ``low / open - 1`` (negative).
    mark_excess : float
        How far the **mark price** stayed above the last-price low in the trough bar,
        ``mark_low / low - 1``.  Mark prices (index-based) skip most of a last-price wick, but
        not all of it: 0.2-3 % on these days, against wicks of 2-24 %.
    """

    name: str
    date: str
    depth: float
    speed_hours: int
    trough_hour: int
    wick: float
    rebound_24h: float
    volume_mult: float
    funding_min: float
    day_drop: float
    mark_excess: float = 0.0

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, bool, object], ...] = (
            ("depth", 0.0 < self.depth < 1.0, self.depth),
            ("speed_hours", isinstance(self.speed_hours, int) and 1 <= self.speed_hours <= 24, self.speed_hours),
            ("trough_hour", isinstance(self.trough_hour, int) and 0 <= self.trough_hour <= 23, self.trough_hour),
            ("wick", 0.0 <= self.wick < 1.0, self.wick),
            ("rebound_24h", -1.0 < self.rebound_24h < 10.0, self.rebound_24h),
            ("volume_mult", 0.0 < self.volume_mult < math.inf, self.volume_mult),
            ("funding_min", -0.1 < self.funding_min < 0.1, self.funding_min),
            ("day_drop", -1.0 < self.day_drop <= 0.0, self.day_drop),
            ("mark_excess", 0.0 <= self.mark_excess < 0.5, self.mark_excess),
        )
        for field, ok, value in checks:
            if not ok:
                raise InputError(f"CrashProfile.{field} is out of range, was {value!r}")


# Measured with measure_crash() from Binance USDⓈ-M BTCUSDT perpetual 1h klines and 8-hourly
# funding prints (data.binance.vision), via levguard's shared reference data
# (../shared/data/ohlcv/BTCUSDT-PERP_1h.csv, ../shared/data/funding/BTCUSDT_funding.csv; see its
# PROVENANCE.md).  tests/data/synth/test_synth_crashes.py recomputes every number from those files.
NAMED_CRASHES: tuple[CrashProfile, ...] = (
    # name, date, depth, speed_hours, trough_hour, wick, rebound_24h, volume_mult, funding_min, day_drop,
    # mark_excess (from the mark-price klines)
    CrashProfile("black-thursday", "2020-03-12", 0.4553, 24, 23, 0.0961, 0.2814, 6.16, -0.003000, -0.4524, 0.0233),
    CrashProfile("china-ban", "2021-05-19", 0.3494, 24, 13, 0.2427, 0.4538, 4.27, -0.000897, -0.3310, 0.0305),
    CrashProfile("celsius", "2022-06-13", 0.1939, 24, 23, 0.0261, 0.0102, 5.36, -0.000100, -0.1756, 0.0023),
    CrashProfile("ftx", "2022-11-08", 0.1942, 24, 19, 0.0837, -0.0039, 5.38, -0.001192, -0.1822, 0.0149),
    CrashProfile("yen-carry", "2024-08-05", 0.1994, 18, 6, 0.0547, 0.1405, 5.16, -0.000028, -0.1592, 0.0036),
    CrashProfile(
        "oct-2025-liquidations", "2025-10-10", 0.1713, 8, 21, 0.1156, 0.0918, 9.31, -0.000109, -0.1650, 0.0036
    ),
)
"""The named crashes, oldest first.

Notes
-----
Measured from Binance USDⓈ-M BTCUSDT perpetual 1h klines (data.binance.vision), via levguard's
shared reference data, with :func:`measure_crash` (the rule is stated there).  Depths are
last-price (perpetual trade) moves, wicks included; Binance's mark price, which triggers
liquidations, fell less: ``mark_excess`` records by how much in each trough bar (measured from
Binance's mark-price klines; e.g. 2021-05-19 13:00 last low 28,688 vs mark low 29,563.37).
"""


def _day_ns(day: object) -> int:
    # The UTC midnight starting ``day`` in ns, or InputError naming it (pandas raised its own
    # DateParseError for "abc").
    try:
        return int(pd.Timestamp(day, tz="UTC").value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise InputError(f"day must be a date YYYY-MM-DD, was {day!r}") from None


def _prices(ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64], at: npt.NDArray[np.intp], col: str) -> None:
    # DataError naming the first bar among ``at`` whose ``col`` is not a finite price > 0: np.argmax
    # and np.argmin pick a NaN, so one missing high measured Black Thursday at 38.7 % for 51.0 %.
    bad = ~(np.isfinite(values[at]) & (values[at] > 0.0))
    if bad.any():
        i = int(at[int(np.argmax(bad))])
        when = pd.Timestamp(int(ts[i]), tz="UTC").isoformat()
        raise DataError(f"the {col} of the bar at {when} must be a finite price > 0, was {values[i].item()!r}")


def crash_by_name(name: str) -> CrashProfile:
    """Return the named crash whose ``name`` or ``date`` is ``name``."""
    return pick_named(NAMED_CRASHES, name, "crash")


def measure_crash(
    ohlcv: pd.DataFrame,
    day: str,
    funding: pd.DataFrame | None = None,
    name: str | None = None,
    mark: pd.DataFrame | None = None,
) -> CrashProfile:
    """Measure a crash's depth, speed and aftermath from hourly bars (and funding prints).

    Parameters
    ----------
    ohlcv : DataFrame
        Hourly OHLCV bars (index: bar open time, UTC), covering 31 days before and one day
        after ``day``.
    day : str
        The UTC day of the trough, ``YYYY-MM-DD``.
    funding : DataFrame, optional
        Funding prints (``funding_rate``, index: settlement time); without it ``funding_min``
        is recorded as 0.
    name : str, optional
        Name of the profile (default: ``day``).
    mark : DataFrame, optional
        Hourly mark-price bars; without them ``mark_excess`` is recorded as 0.

    Returns
    -------
    CrashProfile

    Raises
    ------
    InputError
        For a bad ``day`` or bars missing around it.
    DataError
        Naming the bar whose ``low`` (on ``day``) or ``high`` (in the 25 bars up to the trough)
        is not a finite price > 0.

    Notes
    -----
    The measurement rule:

    1. *Trough*: the bar with the lowest low among the bars opening on ``day`` (00:00-23:00 UTC),
       the first one on ties.
    2. *Peak*: the bar with the highest high among the 25 bars opening from 24 hours before the
       trough bar to the trough bar, the first one on ties.
    3. ``depth = 1 - low(trough) / high(peak)``; ``speed_hours`` = trough open - peak open.
    4. ``wick = close(trough) / low(trough) - 1``; ``rebound_24h = close(trough + 24 h) /
       low(trough) - 1``.
    5. ``volume_mult`` = mean volume of the bars from peak to trough / median volume of the 720
       bars opening in ``[trough - 24 h - 30 d, trough - 24 h)``.
    6. ``funding_min`` = lowest print settled in ``[trough - 8 h, trough + 48 h]``.
    7. ``day_drop`` = lowest low of ``day`` / open of its first bar - 1.
    8. ``mark_excess`` = mark-price low of the trough bar / last-price low of that bar - 1.
    """
    ts = pd.DatetimeIndex(ohlcv.index).as_unit("ns").asi8
    low = ohlcv["low"].to_numpy(dtype=np.float64)
    high = ohlcv["high"].to_numpy(dtype=np.float64)
    close = ohlcv["close"].to_numpy(dtype=np.float64)
    volume = ohlcv["volume"].to_numpy(dtype=np.float64)
    hour = _HOUR_NS
    t0 = _day_ns(day)
    in_day = np.flatnonzero((ts >= t0) & (ts < t0 + 24 * hour))
    if in_day.size != 24:
        raise InputError(f"ohlcv must hold the 24 hourly bars of {day}, has {in_day.size}")
    _prices(ts, low, in_day, "low")
    i_t = int(in_day[np.argmin(low[in_day])])  # argmin/argmax return the first on ties
    t_t = int(ts[i_t])
    window = np.flatnonzero((ts >= t_t - 24 * hour) & (ts <= t_t))
    _prices(ts, high, window, "high")
    i_p = int(window[np.argmax(high[window])])
    after = np.flatnonzero(ts == t_t + 24 * hour)
    if after.size != 1:
        raise InputError(f"ohlcv must hold the bar 24 hours after the trough of {day}")
    base = volume[(ts >= t_t - 24 * hour - 30 * 24 * hour) & (ts < t_t - 24 * hour)]
    if base.size == 0:
        raise InputError(f"ohlcv must hold the 30 days before {day}")
    f_min = 0.0
    if funding is not None:
        f_ts = pd.DatetimeIndex(funding.index).as_unit("ns").asi8
        rates = funding["funding_rate"].to_numpy(dtype=np.float64)
        sel = rates[(f_ts >= t_t - 8 * hour) & (f_ts <= t_t + 48 * hour)]
        f_min = float(sel.min()) if sel.size else 0.0
    mark_excess = 0.0
    if mark is not None:
        m_ts = pd.DatetimeIndex(mark.index).as_unit("ns").asi8
        at = np.flatnonzero(m_ts == t_t)
        if at.size != 1:
            raise InputError(f"mark must hold the trough bar of {day}")
        mark_excess = float(mark["low"].to_numpy(dtype=np.float64)[int(at[0])] / low[i_t] - 1.0)
    return CrashProfile(
        name=name or day,
        date=day,
        depth=1.0 - low[i_t] / high[i_p],
        speed_hours=(t_t - int(ts[i_p])) // hour,
        trough_hour=int((t_t // hour) % 24),
        wick=float(close[i_t] / low[i_t] - 1.0),
        rebound_24h=float(close[int(after[0])] / low[i_t] - 1.0),
        volume_mult=float(np.mean(volume[i_p : i_t + 1]) / np.median(base)),
        funding_min=f_min,
        day_drop=float(low[i_t] / ohlcv["open"].to_numpy(dtype=np.float64)[int(in_day[0])] - 1.0),
        mark_excess=mark_excess,
    )


@dataclass(frozen=True, slots=True)
class ShockMeasure:
    """The largest fall of a price from its running peak within a window (see :func:`measure_shock`).

    ``depth`` is ``1 - low(trough) / high(peak)`` in (0, 1); ``peak`` and ``trough`` are bar open
    times (UTC); ``window_hours`` the longest peak-to-trough span allowed.
    """

    date: str
    depth: float
    peak: pd.Timestamp
    trough: pd.Timestamp
    window_hours: int

    def to_dict(self) -> dict[str, object]:
        """JSON-able fields."""
        return {
            "date": self.date,
            "depth": self.depth,
            "peak": self.peak.isoformat(),
            "trough": self.trough.isoformat(),
            "window_hours": self.window_hours,
        }


def measure_shock(bars: pd.DataFrame, day: str, *, window_hours: int = 24, search_hours: int = 48) -> ShockMeasure:
    """Measure a crash's shock: the largest fall from a running peak within ``window_hours``.

    Parameters
    ----------
    bars : DataFrame
        Hourly bars with ``high`` and ``low`` (index: bar open time, UTC); for a stress scenario
        the venue's **mark-price** bars, which are what trigger liquidations.
    day : str
        The crash's UTC day, ``YYYY-MM-DD``.
    window_hours : int
        Longest span from the peak bar to the trough bar (24 by default).
    search_hours : int
        Troughs are sought among the bars opening from ``day`` 00:00 UTC for this many hours
        (48: a crash that starts late in a UTC day and bottoms the next is measured whole).

    Returns
    -------
    ShockMeasure

    Raises
    ------
    InputError
        For a bad ``day``, window or frame.
    DataError
        Naming the bar whose ``low`` (a candidate trough) or ``high`` (within ``window_hours`` of
        one) is not a finite price > 0.

    Notes
    -----
    For every candidate trough bar ``t`` the peak is the highest high of the bars opening in
    ``[t - window_hours, t]``, **across UTC day boundaries**; the shock is the largest
    ``1 - low(t) / peak`` (first trough and first peak on ties).  Seeking the trough within one
    calendar day, as :func:`measure_crash` does for crash *shapes*, understates crashes that span
    midnight: on Binance's BTCUSDT mark the 2020-03-12 crash ran from 50,953 at 2020-03-12 02:00
    to 24,979 at 2020-03-13 02:00 UTC, a fall of 50.98 %, against 45.5 % within 2020-03-12.
    """
    if not (isinstance(window_hours, int) and 1 <= window_hours <= 24 * 30):
        raise InputError(f"window_hours must be an int in [1, 720], was {window_hours!r}")
    if not (isinstance(search_hours, int) and 1 <= search_hours <= 24 * 30):
        raise InputError(f"search_hours must be an int in [1, 720], was {search_hours!r}")
    for col in ("high", "low"):
        if col not in bars.columns:
            raise InputError(f"bars must have a {col!r} column, has {list(bars.columns)}")
    t0 = _day_ns(day)
    ts = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
    high = bars["high"].to_numpy(dtype=np.float64)
    low = bars["low"].to_numpy(dtype=np.float64)
    candidates = np.flatnonzero((ts >= t0) & (ts < t0 + search_hours * _HOUR_NS))
    if candidates.size == 0:
        raise InputError(f"bars must cover {day} (no bar opens in the {search_hours} h from its start)")
    _prices(ts, low, candidates, "low")
    first, last = ts[candidates].min(), ts[candidates].max()
    _prices(ts, high, np.flatnonzero((ts >= first - window_hours * _HOUR_NS) & (ts <= last)), "high")
    best, best_peak, best_trough = -math.inf, -1, -1
    for t in candidates:
        window = np.flatnonzero((ts >= ts[t] - window_hours * _HOUR_NS) & (ts <= ts[t]))
        k = int(window[np.argmax(high[window])])
        fall = 1.0 - low[t] / high[k]
        if fall > best:
            best, best_peak, best_trough = float(fall), k, int(t)
    if not (0.0 < best < 1.0):
        raise InputError(f"bars show no fall from a peak around {day} (largest {best!r})")
    return ShockMeasure(
        day,
        best,
        pd.Timestamp(ts[best_peak], tz="UTC"),
        pd.Timestamp(ts[best_trough], tz="UTC"),
        window_hours,
    )
