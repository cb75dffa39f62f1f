"""Real market data of a historical crash replay: 1-minute klines, the sub-minute exogenous path
through each bar's open, high, low and close, and the per-asset statistics (volume, volatility)
that scale the population and the book of :mod:`levguard.cascade.replay`.

Everything here is asset-free: an asset enters only through its own klines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from levguard.core.validate import array_1d, no_bools_or_strings, whole_number
from levguard.data.frames import timestamp_ns
from levguard.errors import DataError, InputError

__all__ = [
    "NS_PER_SECOND",
    "AssetMarket",
    "bar_statistics",
    "intrabar_path",
    "load_asset_market",
    "range_sigma",
    "read_liq_adl_csv",
    "trailing_depth_multiplier",
]

FloatArray = npt.NDArray[np.float64]
NS_PER_SECOND = 1_000_000_000
_MINUTE_NS = 60 * NS_PER_SECOND
# E[high - low] of a standard Brownian motion over unit time (Feller 1951): sqrt(8 / pi).
_RANGE_MEAN = math.sqrt(8.0 / math.pi)
_MAX_STEPS_PER_BAR = 1_000_000  # a path of B * steps_per_bar + 1 floats


def _prices(values: object, field: str) -> FloatArray:
    # A 1-D array of numbers (no bools or strings: NumPy reads "1.0" and True as numbers).
    no_bools_or_strings(values, field)
    return array_1d(values, field)


def _check_bars(o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray) -> None:
    # Every bar spans its open and close: low <= min(open, close) <= max(open, close) <= high.
    bad = ~((lo <= np.minimum(o, c)) & (np.maximum(o, c) <= h))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"bar {i} must have low <= open, close <= high, was open={float(o[i])!r}, high={float(h[i])!r}, "
            f"low={float(lo[i])!r}, close={float(c[i])!r}"
        )


def intrabar_path(
    open_: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, steps_per_bar: int
) -> FloatArray:
    """Return a price path through every bar's open, high, low and close, ``steps_per_bar`` steps a bar.

    Parameters
    ----------
    open_, high, low, close : array_like, shape (B,)
        The bars, in time order (``low <= open, close <= high``, all > 0).
    steps_per_bar : int
        Steps per bar, a whole number >= 3 (one step per leg; e.g. 12 for 5-second steps of
        1-minute bars).

    Returns
    -------
    ndarray, shape (B * steps_per_bar + 1,)
        Step 0 is the first bar's open; step ``(b + 1) * steps_per_bar`` is bar ``b``'s close.

    Raises
    ------
    InputError
        ``steps_per_bar`` not a whole number >= 3 (``12.7`` was cut to 12 and ``"12"`` read as
        12); bars that are not arrays of finite prices > 0 of one length; a bar whose open or
        close lies outside ``[low, high]`` (an inverted bar, high < low, made a path above its
        stated high), naming the bar and its values.

    Notes
    -----
    A bar that closes below its open visits O -> H -> L -> C, any other O -> L -> H -> C (the
    usual convention of bar-based backtests: the extreme on the far side of the close comes
    first).  The path moves at a constant speed in log price within a bar: each leg gets steps
    in proportion to its log length, rounded to the step grid so that the high and the low are
    hit exactly on a step.  Between knots it is linear in log price.  Bar ``b > 0`` starts from
    bar ``b - 1``'s close (the one-tick gap to its own open is dropped), so the path is
    continuous.  No randomness: the path is a function of the bars alone.
    """
    m = whole_number(steps_per_bar, "steps_per_bar", 3, _MAX_STEPS_PER_BAR)
    o, h, lo, c = (_prices(x, name) for x, name in ((open_, "open"), (high, "high"), (low, "low"), (close, "close")))
    n = o.shape[0]
    if n == 0 or not (h.shape == lo.shape == c.shape == (n,)):
        raise InputError(f"open, high, low and close must be non-empty and of one length, had {n} bars")
    for name, arr in (("open", o), ("high", h), ("low", lo), ("close", c)):
        bad = ~(np.isfinite(arr) & (arr > 0.0))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"{name}[{i}] must be a finite price > 0, was {float(arr[i])!r}")
    _check_bars(o, h, lo, c)
    out = np.empty(n * m + 1)
    out[0] = math.log(o[0])
    grid = np.arange(m + 1, dtype=np.float64)
    prev = math.log(o[0])
    for b in range(n):
        first, second = (h[b], lo[b]) if c[b] < o[b] else (lo[b], h[b])
        v = np.array([prev, math.log(first), math.log(second), math.log(c[b])])
        d = np.abs(np.diff(v))
        total = float(d.sum())
        if total <= 0.0:
            out[b * m + 1 : (b + 1) * m + 1] = prev
            continue
        k1 = round(d[0] / total * m)
        k2 = round((d[0] + d[1]) / total * m)
        k1 = max(k1, 1 if d[0] > 0.0 else 0)
        k2 = max(k2, k1 + (1 if d[1] > 0.0 else 0))
        k2 = min(k2, m - (1 if d[2] > 0.0 else 0))
        k1 = min(k1, k2 - (1 if d[1] > 0.0 else 0))
        seg = np.interp(grid, np.array([0.0, k1, k2, m], dtype=np.float64), v)
        out[b * m + 1 : (b + 1) * m + 1] = seg[1:]
        prev = v[3]
    return np.exp(out)


def _log_ranges(high: object, low: object) -> FloatArray:
    # ln(high / low) per bar, NaN where the high or the low is NaN (a missing minute); any other
    # bar must have finite prices with 0 < low <= high.
    h, lo = _prices(high, "high"), _prices(low, "low")
    if h.shape != lo.shape:
        raise InputError(f"high and low must be of one length, had {h.shape[0]} and {lo.shape[0]} bars")
    present = ~(np.isnan(h) | np.isnan(lo))
    bad = present & ~(np.isfinite(h) & np.isfinite(lo) & (lo > 0.0) & (h >= lo))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"bar {i} must have finite prices with 0 < low <= high, was high={float(h[i])!r}, low={float(lo[i])!r}"
        )
    out: FloatArray = np.full(h.shape, np.nan)
    out[present] = np.log(h[present] / lo[present])
    return out


def range_sigma(high: npt.ArrayLike, low: npt.ArrayLike) -> float:
    """Return the volatility of one bar's log return from the bars' ranges (median-based).

    Parameters
    ----------
    high, low : array_like, shape (B,)
        The bars' highs and lows (``0 < low <= high``); a bar with a NaN high or low is a
        missing minute and is skipped.

    Raises
    ------
    InputError
        Not arrays of numbers of one length; a bar with ``low > high`` (which read as a negative
        range: ``range_sigma([1], [2])`` was -0.434) or a price that is not finite and > 0,
        naming the bar; no bar left.

    Notes
    -----
    ``sigma_bar = median(ln(high / low)) / sqrt(8 / pi)``: the range estimator of Parkinson
    (1980, *J. Business* 53(1)) in its mean-range form, ``E[range] = sqrt(8 / pi) sigma`` for a
    Brownian motion (Feller 1951, *Ann. Math. Stat.* 22(3)); the median instead of the mean keeps
    a few crash bars in the look-back from setting the scale.  On a Brownian motion it reads
    about 5 % low, the same for every asset: the median range of a standard Brownian motion over
    unit time is 1.5145, the root of ``8 sum_k (-1)^(k-1) k (1 - Phi(k r)) = 1/2`` (the tail of
    Feller's distribution of the range), which is 0.949 times its mean ``sqrt(8 / pi) = 1.5958``
    (the same series integrates to that mean; Monte Carlo of fine-grid paths, extrapolated in
    the step, gives 1.510).  Dividing by 1.5145
    would remove the bias, but every fitted replay parameter and figure (docs/cascade.md) was
    obtained with this scale, so it is kept.
    """
    r = _log_ranges(high, low)
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise InputError("range_sigma needs at least one bar with finite high and low")
    return float(np.median(r)) / _RANGE_MEAN


def bar_statistics(quote_volume: npt.ArrayLike, high: npt.ArrayLike, low: npt.ArrayLike) -> tuple[float, float]:
    """Return the daily quote volume and daily volatility of a run of 1-minute bars.

    Returns
    -------
    daily_volume, sigma_daily : float
        ``median(quote volume per minute) x 1440`` over the bars with a finite volume (NaN if
        none), and :func:`range_sigma` ``x sqrt(1440)``.

    Notes
    -----
    The one estimator of both the look-back's statistics (:func:`load_asset_market`) and the
    trailing ones of :func:`trailing_depth_multiplier`, so that a calm trailing window reads the
    look-back's book.  Parkinson (1980) range volatility in its median form (:func:`range_sigma`),
    scaled from one minute to a day by ``sqrt(1440)`` (Brownian scaling).
    """
    qv = _prices(quote_volume, "quote_volume")
    qv = qv[np.isfinite(qv)]
    volume = float(np.median(qv)) * 1440.0 if qv.size else math.nan
    return volume, range_sigma(high, low) * math.sqrt(1440.0)


def trailing_depth_multiplier(
    quote_volume: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    *,
    n_before: int,
    steps_per_bar: int,
    window_minutes: int,
    floor: float,
    daily_volume: float,
    sigma_daily: float,
) -> FloatArray:
    """Return the book's depth multiplier per step from the trailing 1-minute bars (causal).

    Parameters
    ----------
    quote_volume, high, low : array_like, shape (n_before + B,)
        The look-back's bars followed by the window's ``B`` bars, in time order.
    n_before : int
        How many of the bars precede the window (>= 1).
    steps_per_bar : int
        Simulation steps per bar (the path of :func:`intrabar_path`).
    window_minutes : int
        Trailing bars ``W`` (>= 1) of the statistics.
    floor : float
        The multiplier's lower bound, in ``(0, 1]``.
    daily_volume, sigma_daily : float
        ``V_0`` and ``sigma_0``: the calm book's statistics (the look-back's, :func:`bar_statistics`).

    Returns
    -------
    ndarray, shape (B * steps_per_bar + 1,)
        ``m_t`` for every step of the path; step ``t`` lies in window bar
        ``b = max(t - 1, 0) // steps_per_bar`` (step 0 is bar 0's open).

    Notes
    -----
    The square-root law with time-varying inputs, ``dP/P = Y sigma_t sqrt(|X| / V_t)``
    (Bouchaud, Bonart, Donier and Gould, *Trades, Quotes and Prices*, 2018, ch. 12; Tóth et
    al. 2011, *Phys. Rev. X* 1, 021006): the impact scale is ``sigma_t / sqrt(V_t)``.  The book's
    square-root impact falls as ``1 / sqrt(m)`` in the depth multiplier ``m``
    (``levguard.kernels.cascade_rounds.impact_of``), so with the calm book's ``V_0`` and
    ``sigma_0``

    ``m_t = clip((V_t / V_0) (sigma_0 / sigma_t)^2, floor, 1)``,

    where ``(V_t, sigma_t)`` = :func:`bar_statistics` of the ``W`` bars that closed before bar
    ``b`` (global bars ``[n_before + b - W, n_before + b)``, fewer if the data start later).
    Only bars closed before the current step's bar enter: the multiplier at a step never depends
    on that bar or later ones.  The upper bound 1 keeps the book never deeper than the calm one:
    a crash's volume is largely forced, one-sided flow (the liquidations the model itself sends)
    that takes liquidity rather than offers it, and counting it as depth would let a cascade
    thin its own impact.  A trailing window without a finite volume or with no range reads 1
    (the calm book).
    """
    qv = _prices(quote_volume, "quote_volume")
    h, lo = _prices(high, "high"), _prices(low, "low")
    n_all = qv.shape[0]
    if not (h.shape == lo.shape == (n_all,)):
        raise InputError(f"quote_volume, high and low must be of one length, had {qv.shape}, {h.shape}, {lo.shape}")
    _log_ranges(h, lo)  # every bar checked once: the InputError caught below is only "no bar"
    if isinstance(n_before, bool) or not isinstance(n_before, int) or not 1 <= n_before < n_all:
        raise InputError(f"n_before must be an integer in [1, {n_all - 1}] (bars before the window), was {n_before!r}")
    if isinstance(window_minutes, bool) or not isinstance(window_minutes, int) or window_minutes < 1:
        raise InputError(f"depth_window_minutes must be an integer >= 1, was {window_minutes!r}")
    if isinstance(steps_per_bar, bool) or not isinstance(steps_per_bar, int) or steps_per_bar < 1:
        raise InputError(f"steps_per_bar must be an integer >= 1, was {steps_per_bar!r}")
    if not (isinstance(floor, int | float) and 0.0 < floor <= 1.0):
        raise InputError(f"depth_floor must be in (0, 1], was {floor!r}")
    if not (math.isfinite(daily_volume) and daily_volume > 0.0 and math.isfinite(sigma_daily) and sigma_daily > 0.0):
        raise InputError(f"daily_volume and sigma_daily must be finite and > 0, were {daily_volume!r}, {sigma_daily!r}")
    n_bars = n_all - n_before
    per_bar = np.ones(n_bars)
    for b in range(n_bars):
        g = n_before + b
        lo_i = max(0, g - window_minutes)
        try:
            v_t, s_t = bar_statistics(qv[lo_i:g], h[lo_i:g], lo[lo_i:g])
        except InputError:
            continue  # no bar with a finite range: the calm book
        m = (v_t / daily_volume) * (sigma_daily / s_t) ** 2 if s_t > 0.0 else math.inf
        per_bar[b] = 1.0 if math.isnan(m) else min(max(m, float(floor)), 1.0)
    steps = np.arange(n_bars * steps_per_bar + 1)
    out: FloatArray = per_bar[np.maximum(steps - 1, 0) // steps_per_bar]
    return out


@dataclass(frozen=True)
class AssetMarket:
    """One asset's data in a replay window.

    Attributes
    ----------
    name : str
        The asset.
    bars : DataFrame
        The 1-minute bars of the window ``[start, end)`` (UTC index; open, high, low, close,
        volume, quote_volume).
    start_ns : int
        The window's start, int ns UTC (step 0 of the path).
    daily_volume : float
        Median quote volume per minute of the look-back, times 1,440 (quote per day).
    sigma_daily : float
        :func:`range_sigma` of the look-back's bars, times ``sqrt(1440)``.
    lookback_bars : int
        Bars the two statistics come from.
    lookback : DataFrame
        Those bars (same columns as :attr:`bars`): the trailing history of the window's first
        minutes for :meth:`depth_multiplier`.
    """

    name: str
    bars: pd.DataFrame
    start_ns: int
    daily_volume: float
    sigma_daily: float
    lookback_bars: int
    lookback: pd.DataFrame

    @property
    def start_price(self) -> float:
        """The open of the window's first bar."""
        return float(self.bars["open"].iloc[0])

    def path(self, steps_per_bar: int) -> FloatArray:
        """The exogenous path of the window (:func:`intrabar_path`)."""
        b = self.bars
        return intrabar_path(b["open"], b["high"], b["low"], b["close"], steps_per_bar)

    def depth_multiplier(self, steps_per_bar: int, window_minutes: int, floor: float) -> FloatArray:
        """The book's depth multiplier per step of :meth:`path` (:func:`trailing_depth_multiplier`)."""
        both = pd.concat([self.lookback, self.bars])
        return trailing_depth_multiplier(
            both["quote_volume"],
            both["high"],
            both["low"],
            n_before=len(self.lookback),
            steps_per_bar=steps_per_bar,
            window_minutes=window_minutes,
            floor=floor,
            daily_volume=self.daily_volume,
            sigma_daily=self.sigma_daily,
        )


def _utc_ns(value: object, name: str) -> int:
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an ISO-8601 UTC time, was {value!r}") from None
    if pd.isna(ts):
        raise InputError(f"{name} must be an ISO-8601 UTC time, was {value!r}")
    if ts.tzinfo is None:
        raise InputError(f"{name} must carry a time zone (e.g. 'Z' for UTC), was {value!r}")
    return timestamp_ns(ts.tz_convert("UTC"), name)


def window_ns(start: object, end: object) -> tuple[int, int]:
    """A replay window's ``start`` and ``end`` (ISO-8601 with a time zone, whole minutes, ``end``
    after ``start``) as UTC int-ns; :class:`~levguard.cascade.replay_config.ReplayConfig` checks
    its window with it when it is built, so a config file's error names the file."""
    t0 = _utc_ns(start, "window.start")
    t1 = _utc_ns(end, "window.end")
    if t0 % _MINUTE_NS or t1 % _MINUTE_NS:
        raise InputError(f"window.start and window.end must be whole minutes, were {start!r} and {end!r}")
    if t1 <= t0:
        raise InputError(f"window.end must be after window.start, was {end!r} <= {start!r}")
    return t0, t1


def load_asset_market(name: str, path: str | Path, start: object, end: object, lookback_minutes: int) -> AssetMarket:
    """Load one asset's 1-minute klines and cut the window ``[start, end)`` and its look-back.

    Parameters
    ----------
    name : str
        The asset.
    path : str or Path
        CSV or Parquet of 1-minute bars (Binance kline layout or any file
        :func:`levguard.data.loaders.load_ohlcv` reads); ``quote_volume`` is used when present,
        else ``volume x (high + low + close) / 3``.
    start, end : str or Timestamp
        The window (UTC, on minute boundaries).
    lookback_minutes : int
        Minutes before ``start`` whose bars give the volume and volatility (>= 10).

    Raises
    ------
    DataError
        The file is missing or unreadable, is not 1-minute bars, or does not cover the window and
        its look-back (minutes missing inside the look-back are allowed: the bars present are
        read, and :attr:`AssetMarket.lookback_bars` counts them).
    InputError
        Bad window or look-back.
    """
    from levguard.data.loaders import load_ohlcv, read_table

    t0, t1 = window_ns(start, end)
    if isinstance(lookback_minutes, bool) or not isinstance(lookback_minutes, int) or lookback_minutes < 10:
        raise InputError(f"window.lookback_minutes must be an integer >= 10, was {lookback_minutes!r}")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"asset {name}: klines file {p} does not exist (is the shared data present?)")
    frame = load_ohlcv(p)
    table = read_table(p)
    cols = {str(c).lower(): c for c in table.columns}
    if "quote_volume" in cols and len(table) == len(frame):
        qv = pd.to_numeric(table[cols["quote_volume"]], errors="coerce").to_numpy(dtype=np.float64)
    else:
        vol = frame["volume"].to_numpy(dtype=np.float64) if "volume" in frame else np.full(len(frame), np.nan)
        qv = vol * (frame["high"] + frame["low"] + frame["close"]).to_numpy(dtype=np.float64) / 3.0
    frame = frame.assign(quote_volume=qv)
    idx = frame.index.asi8
    step = np.diff(idx)
    if step.size and int(np.median(step)) != _MINUTE_NS:
        raise DataError(f"asset {name}: {p} must hold 1-minute bars, its median spacing is {np.median(step) / 1e9:g} s")
    win = frame[(idx >= t0) & (idx < t1)]
    n_need = (t1 - t0) // _MINUTE_NS
    if len(win) != n_need or int(win.index.asi8[0]) != t0:
        raise DataError(
            f"asset {name}: {p} has {len(win)} of the window's {n_need} minutes from {pd.Timestamp(t0, tz='UTC')}"
        )
    first = int(idx[0]) if idx.size else t0
    if first > t0 - lookback_minutes * _MINUTE_NS:
        have = max((t0 - first) // _MINUTE_NS, 0)
        fix = f"lower it to at most {have} or give" if have >= 10 else "give at least 10 minutes of"
        raise DataError(
            f"asset {name}: {p} starts {have} minute(s) before window.start, window.lookback_minutes asks for "
            f"{lookback_minutes}: {fix} bars from earlier"
        )
    look = frame[(idx >= t0 - lookback_minutes * _MINUTE_NS) & (idx < t0)]
    if len(look) < 10:
        raise DataError(f"asset {name}: {p} has {len(look)} bars before the window; the look-back needs >= 10")
    qv_look = look["quote_volume"].to_numpy(dtype=np.float64)
    qv_look = qv_look[np.isfinite(qv_look)]
    if qv_look.size < 10 or not np.median(qv_look) > 0.0:
        raise DataError(f"asset {name}: {p} has no usable volume in the look-back (volume or quote_volume column)")
    daily_volume, sigma = bar_statistics(look["quote_volume"], look["high"], look["low"])
    if not sigma > 0.0:
        raise DataError(f"asset {name}: {p}: the look-back's bars have no range (high == low throughout)")
    return AssetMarket(
        name=name,
        bars=win,
        start_ns=t0,
        daily_volume=daily_volume,
        sigma_daily=sigma,
        lookback_bars=len(look),
        lookback=look,
    )


def read_liq_adl_csv(path: str | Path, asset: str) -> dict[str, float]:
    """Read a venue's liquidation and ADL totals of one asset (``ticker, liq_notional, adl_notional``).

    The layout of ``combined_impact_by_ticker.csv`` (ConejoCapital/HyperMultiAssetedADL), as in
    ``../shared/data/events/2025-10-10/hyperliquid_liq_adl_BTC.csv``.

    Raises
    ------
    DataError
        Missing file, columns or asset row, or a non-numeric value.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"observed figures file {p} does not exist (is the shared data present?)")
    try:
        table = pd.read_csv(p)
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: cannot read ({exc})") from None
    need = {"ticker", "liq_notional", "adl_notional"}
    if not need <= set(table.columns):
        raise DataError(f"{p}: needs columns {sorted(need)}, has {list(table.columns)}")
    row = table[table["ticker"].astype(str) == asset]
    if len(row) != 1:
        raise DataError(f"{p}: needs one row with ticker {asset!r}, has {len(row)}")
    out = {}
    for col, key in (("liq_notional", "liquidated_notional"), ("adl_notional", "adl_notional")):
        v = pd.to_numeric(row[col], errors="coerce").iloc[0]
        if not (np.isfinite(v) and v >= 0.0):
            raise DataError(f"{p}: {col} of {asset} must be a number >= 0, was {row[col].iloc[0]!r}")
        out[key] = float(v)
    return out
