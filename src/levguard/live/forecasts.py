"""The guardian's liquidation forecasters: one per symbol, fitted on hourly mark bars once an hour.

The guardian's probability of liquidation goes through the same path as ``levguard risk``,
``levguard size`` and the service (:func:`levguard.core.risk.forecast.fit_forecaster` and
:func:`levguard.core.risk.forecast.position_probabilities`).  Its bars are the account's own:

* a history (``bars(symbol)``, e.g. a file of mark-price klines, or the venue's last-price
  klines with its mark-price klines merged, :class:`~levguard.live.venue_bars.VenueBars`), read
  when a new hour starts;
* the marks the guardian sees, aggregated per UTC hour (high, low, last) and appended after the
  history's last bar (the first hour seen is skipped: the guardian saw only part of it).

The model is refitted when an hour closes (the fit at a time depends only on bars closed by
then, so one fit serves a whole hour) and cached.  With fewer than ``min_bars`` closed hourly
bars, or bars without any range (a flat feed: no volatility), the GBM closed form at a fallback
volatility is used (the forecaster's special case:
:class:`~levguard.core.risk.excursion.GbmForecaster`).  :meth:`LiquidationForecasts.source` says
which bars the forecaster in use was fitted on (the history's ``attrs["source"]``: mark-price
klines, or last-price klines standing in for the mark when those are unavailable).

When it refits, it also forecasts each symbol's volatility on the history's closed bars with the
injected ``volatility(frame)`` (:func:`levguard.risk.report.volatility_forecast`, the number
``levguard risk``, ``levguard size`` and the service show; the live layer sits below
:mod:`levguard.risk`, so the composition roots pass it in, as they pass the sizer), cached until
the next refit: :meth:`LiquidationForecasts.volatility`.  Without a history (or without the
function) the volatility is unknown here and the guardian falls back to the configured ``vol`` or
the EWMA of the marks seen (:meth:`levguard.live.guardian.Guardian.volatility`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from levguard.core.risk.excursion import ExcursionParams, GbmForecaster
from levguard.core.risk.forecast import (
    HOUR_NS,
    HourlyBars,
    LiquidationForecaster,
    annual_volatility,
    fit_forecaster,
    horizon_hours,
    liquidation_distance,
)
from levguard.core.validate import side_sign
from levguard.errors import InputError, LevguardError

__all__ = ["LiquidationForecasts", "VolatilitySource", "probabilities"]

log = logging.getLogger("levguard.guardian")

BarsSource = Callable[[str], Any]
"""``bars(symbol) -> DataFrame | None``: hourly bars of ``symbol`` (UTC index of bar open times,
``high, low, close``, ``mark_*`` columns used when present) up to now, or None."""

VolatilitySource = Callable[[Any], float]
"""``volatility(frame) -> float``: the annualised volatility forecast of a symbol's bars (a
DataFrame as :data:`BarsSource` returns, closed bars only): :func:`levguard.risk.report.volatility_forecast`."""


class LiquidationForecasts:
    """Per symbol, the liquidation forecaster fitted on the account's hourly mark bars.

    Parameters
    ----------
    bars : callable, optional
        ``bars(symbol)`` returning hourly bars up to now (see :data:`BarsSource`), or None;
        called once per symbol and hour.
    model : str
        Forecast model (``"default"``: the calibrated ``excursion`` model; ``"naive"``).
    params : ExcursionParams, optional
        Parameters of the ``excursion`` model.
    min_bars : int
        Closed hourly bars needed before the fitted model replaces the closed-form fallback.
    max_seen_hours : int
        Hours of seen marks kept per symbol.
    volatility : callable, optional
        ``volatility(frame)`` (see :data:`VolatilitySource`), called on the history's closed bars
        of a symbol when its forecaster is refitted (once an hour); None: no volatility forecast
        (:meth:`volatility` is None).
    """

    def __init__(
        self,
        bars: BarsSource | None = None,
        *,
        model: str = "default",
        params: ExcursionParams | None = None,
        min_bars: int = 24,
        max_seen_hours: int = 24 * 400,
        volatility: VolatilitySource | None = None,
    ) -> None:
        if not (isinstance(min_bars, int) and min_bars >= 2):
            raise InputError(f"min_bars must be an int >= 2, was {min_bars!r}")
        if not (isinstance(max_seen_hours, int) and max_seen_hours >= 1):
            raise InputError(f"max_seen_hours must be an int >= 1, was {max_seen_hours!r}")
        self.bars = bars
        self.model = model
        self.params = params
        self.min_bars = min_bars
        self.max_seen_hours = max_seen_hours
        self.volatility_of = volatility
        # symbol -> the history's closed bars read by the last hourly_bars (consumed by the refit)
        # and the volatility forecast of the last refit (None: no history or no forecast).
        self._frames: dict[str, Any] = {}
        self._vols: dict[str, float | None] = {}
        # symbol -> the complete days' log returns of the history at the last refit (sizing policies).
        self._returns: dict[str, np.ndarray] = {}
        # symbol -> {hour open ns: [high, low, close]}; the first (partial) hour seen per symbol.
        self._seen: dict[str, dict[int, list[float]]] = {}
        self._first_hour: dict[str, int] = {}
        # symbol -> (hour index of the fit, fitted model or None: too few bars)
        self._fits: dict[str, tuple[int, LiquidationForecaster | None]] = {}
        self._latest: dict[str, LiquidationForecaster] = {}
        self._bars_source: dict[str, str] = {}  # symbol -> the bars of the last hourly_bars
        self._no_bars: dict[str, str] = {}  # symbol -> why the bars source has none of it
        self._sources: dict[str, str] = {}  # symbol -> the source of the forecaster last used
        # symbol -> (hour, fallback volatility, forecaster) of the last call: a call that would
        # return the same answer changes nothing (no new fallback object, no copy of ``latest``).
        self._used: dict[str, tuple[int, float | None, LiquidationForecaster | None]] = {}
        # One closed-form fallback per volatility, shared by the symbols that use it, so that a
        # cycle's probabilities take one forecaster call for all of them (:func:`probabilities`).
        self._fallbacks: dict[float, GbmForecaster] = {}

    def observe(self, symbol: str, ts_ns: int, mark: float) -> None:
        """Record a mark seen at ``ts_ns`` (UTC ns) in its hour's bar."""
        if not (mark > 0.0 and math.isfinite(mark)):
            return
        hour = (int(ts_ns) // HOUR_NS) * HOUR_NS
        seen = self._seen.get(symbol)
        if seen is None:
            seen = self._seen[symbol] = {}
        if symbol not in self._first_hour:
            # A first mark exactly on the hour starts a whole hour; otherwise that hour is partial.
            self._first_hour[symbol] = hour if int(ts_ns) % HOUR_NS else hour - HOUR_NS
        bar = seen.get(hour)
        if bar is None:
            seen[hour] = [mark, mark, mark]
            if len(seen) > self.max_seen_hours:
                for h in sorted(seen)[: len(seen) - self.max_seen_hours]:
                    del seen[h]
        else:
            bar[0] = max(bar[0], mark)
            bar[1] = min(bar[1], mark)
            bar[2] = mark

    def hourly_bars(self, symbol: str, now_ns: int) -> HourlyBars | None:
        """The hourly bars of ``symbol`` closed by ``now_ns``: the history, then the seen hours after it.

        None when there are fewer than ``min_bars`` or the history cannot be read (logged).
        """
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        last_open = -(2**62)
        described: list[str] = []
        if self.bars is not None:
            try:
                frame = self.bars(symbol)
                why_none = getattr(self.bars, "why_none", None)  # a history of other assets only
                if frame is None and why_none is not None:
                    self._no_bars[symbol] = str(why_none(symbol))
                if frame is not None and len(frame):
                    from levguard.data.frames import hourly_arrays, reads_mark  # pandas, only when bars are given

                    ts, high, low, close = hourly_arrays(frame)
                    keep = ts + HOUR_NS <= now_ns
                    parts.append((ts[keep], high[keep], low[keep], close[keep]))
                    if keep.any():
                        if self.volatility_of is not None:
                            self._frames[symbol] = frame if keep.all() else _rows(frame, keep)
                        last_open = int(ts[keep][-1])
                        kind = "mark" if reads_mark(frame) else "price"
                        origin = str(getattr(frame, "attrs", {}).get("source") or f"history ({kind} bars)")
                        described.append(f"{int(keep.sum())} hourly bars of {origin}")
            except LevguardError as exc:
                log.warning("bars of %s unavailable (%s); the marks seen are used", symbol, exc)
        first = self._first_hour.get(symbol, 2**62)
        seen = self._seen.get(symbol, {})
        hours = [h for h in sorted(seen) if h > last_open and h > first and h + HOUR_NS <= now_ns]
        if hours:
            rows = np.array([seen[h] for h in hours], dtype=np.float64)
            parts.append((np.array(hours, dtype=np.int64), rows[:, 0], rows[:, 1], rows[:, 2]))
            described.append(f"{len(hours)} hour(s) of marks seen")
        self._bars_source[symbol] = " + ".join(described)
        if not parts:
            return None
        ts = np.concatenate([p[0] for p in parts])
        if ts.shape[0] < self.min_bars:
            return None
        high, low, close = (np.concatenate([p[k] for p in parts]) for k in (1, 2, 3))
        try:
            return HourlyBars.from_arrays(ts, high, low, close)
        except InputError as exc:
            log.warning("bars of %s rejected (%s); the closed-form fallback is used", symbol, exc)
            return None

    def forecaster(self, symbol: str, now_ns: int, fallback_vol: float | None) -> LiquidationForecaster | None:
        """The model fitted at ``now_ns`` for ``symbol`` (refitted when an hour has closed).

        Without enough bars: the GBM closed form at ``fallback_vol`` (annualised), or None when
        that volatility is unknown too (P(liq) unknown: no number is invented).
        """
        hour = int(now_ns) // HOUR_NS
        cached = self._fits.get(symbol)
        used = self._used.get(symbol)
        if used is not None and used[0] == hour and used[1] == fallback_vol and cached is not None:
            return used[2]  # the fit of this hour and the same fallback: the same answer as last time
        if cached is None or cached[0] != hour:
            fitted: LiquidationForecaster | None = None
            self._frames.pop(symbol, None)
            self._no_bars.pop(symbol, None)
            bars = self.hourly_bars(symbol, int(now_ns))
            # Copy-on-write (as ``_latest``): volatilities() may read it from another thread.
            self._vols = {**self._vols, symbol: self._forecast_volatility(symbol)}
            if bars is not None:
                try:
                    fitted = fit_forecaster(bars, int(now_ns), self.model, self.params)
                except InputError as exc:
                    log.warning("no liquidation forecaster for %s (%s); the closed-form fallback is used", symbol, exc)
                if fitted is not None and not annual_volatility(fitted) > 0.0:
                    fitted = None  # bars without any range (a flat feed) say nothing about the risk
            self._fits[symbol] = (hour, fitted)
            cached = self._fits[symbol]
            if fitted is not None:
                self._sources[symbol] = f"{self.model} model fitted on {self._bars_source.get(symbol, '')}"
        f = cached[1] if cached[1] is not None or fallback_vol is None else self._fallback(float(fallback_vol))
        if cached[1] is None:
            why = self._no_bars.get(symbol, "no fit: too few or flat hourly bars")
            self._sources[symbol] = (
                f"closed-form GBM at the fallback volatility {float(fallback_vol):.4g} ({why})"
                if fallback_vol is not None
                else f"none: {why}, and no volatility"
            )
        # Copy on write: sizers and the service read ``latest`` from other threads.
        self._latest = {**{k: v for k, v in self._latest.items() if k != symbol}, **({symbol: f} if f else {})}
        self._used[symbol] = (hour, fallback_vol, f)
        return f

    def _forecast_volatility(self, symbol: str) -> float | None:
        # The volatility forecast of the history's closed bars just read (not kept: the next
        # refit reads them again); None without them, or when the forecast fails or is not > 0.
        frame = self._frames.pop(symbol, None)
        self._returns.pop(symbol, None)
        if frame is None or self.volatility_of is None:
            return None
        try:
            from levguard.data.daily import daily_returns  # the returns levguard size reads of a history

            self._returns[symbol] = np.asarray(daily_returns(frame).complete, dtype=np.float64)
        except (LevguardError, ValueError) as exc:
            log.warning("no daily returns of %s (%s)", symbol, exc)
        try:
            v = float(self.volatility_of(frame))
        except (LevguardError, ValueError, ArithmeticError) as exc:  # numerical failures of the fit too
            log.warning("no volatility forecast for %s (%s); the fallback volatility is used", symbol, exc)
            return None
        return v if math.isfinite(v) and v > 0.0 else None

    def volatility(self, symbol: str) -> float | None:
        """The annualised volatility forecast of ``symbol`` made at the last refit (cached until the
        next one): ``volatility(frame)`` on the history's bars closed by then; None without a
        history, without the function, or before the first refit."""
        return self._vols.get(symbol)

    def volatilities(self) -> dict[str, float]:
        """The volatility forecast of each symbol with a history, made at its last refit (a copy:
        the guardian's sizer passes it to :func:`levguard.sizing.size_account`; safe to call from
        another thread)."""
        return {s: v for s, v in self._vols.items() if v is not None}

    def returns(self) -> dict[str, np.ndarray]:
        """The daily log returns (complete UTC days) of each symbol's history at its last refit,
        as ``levguard size --history`` reads them (:func:`levguard.risk.vol.daily_returns`): the
        guardian's sizer passes them to :func:`levguard.sizing.size_account` (a copy)."""
        return dict(self._returns)

    def _fallback(self, vol: float) -> GbmForecaster:
        f = self._fallbacks.get(vol)
        if f is None:
            if len(self._fallbacks) >= 1_000:  # an EWMA fallback moves every cycle: stay bounded
                self._fallbacks.clear()
            f = self._fallbacks[vol] = GbmForecaster(vol)
        return f

    def source(self, symbol: str) -> str:
        """What the forecaster last used for ``symbol`` was fitted on ("" before the first use).

        E.g. ``"default model fitted on 1000 hourly bars of mark-price klines (ccxt:binanceusdm
        fetch_mark_ohlcv BTC/USDT:USDT 1h) + 2 hour(s) of marks seen"``; when the mark klines were
        unavailable the history's source says that last-price klines stood in for the mark.
        """
        return self._sources.get(symbol, "")

    def notes(self) -> list[str]:
        """What the bars source says of the account's histories (``bars.notes()``, e.g.
        :meth:`levguard.risk.histories.HistoryBars.notes`: histories that end more than a day
        apart), or nothing; a failing source says nothing (logged)."""
        notes_of = getattr(self.bars, "notes", None)
        if notes_of is None:
            return []
        try:
            return [str(n) for n in notes_of()]
        except LevguardError as exc:
            log.warning("no notes of the bars (%s)", exc)
            return []

    def latest(self) -> dict[str, LiquidationForecaster]:
        """The forecaster last used per symbol (a copy; safe to call from another thread)."""
        return dict(self._latest)


def _rows(frame: Any, keep: np.ndarray) -> Any:
    # The rows of ``frame`` where ``keep`` holds, its attrs (interval, source) kept.
    out = frame[keep]
    out.attrs = dict(getattr(frame, "attrs", {}))
    return out


def probabilities(
    forecasters: Sequence[LiquidationForecaster | None],
    sides: Sequence[object],
    marks: Sequence[float],
    liq_prices: Sequence[float | None],
    horizon_days: float,
) -> list[float]:
    """Return the probability of liquidation of many positions at one horizon, in one forecaster
    call per distinct forecaster (the guardian's positions of one account, every cycle).

    Parameters
    ----------
    forecasters : sequence of LiquidationForecaster or None
        Each position's fitted model; None: unknown volatility, so is the probability (NaN).
    sides, marks, liq_prices
        Each position's side (+1/-1, "long"/"short"), mark price (> 0) and liquidation price
        (None: there is none), as :func:`levguard.core.risk.forecast.liquidation_distance` reads.
    horizon_days : float
        The one horizon, in ``(0, 30]`` days (rounded to whole hours).

    Returns
    -------
    list of float
        Per position, ``position_probabilities(f, side, mark, LP, horizon_days)[0]``
        (:func:`levguard.core.risk.forecast.position_probabilities`): 0 without a liquidation
        price, 1 at or past it, else ``clip(f.prob(side, distance, hours), 0, 1)``; NaN without a
        forecaster.  The positions left to a forecaster are passed to it together (its ``prob``
        works element by element, so the numbers are those of one call per position).

    Raises
    ------
    InputError
        A bad side, mark or horizon, as ``position_probabilities``; sequences of unequal length.
    """
    n = len(forecasters)
    if not (len(sides) == len(marks) == len(liq_prices) == n):
        raise InputError(
            f"forecasters, sides, marks and liq_prices must have one length, were "
            f"{n}, {len(sides)}, {len(marks)}, {len(liq_prices)}"
        )
    if not isinstance(horizon_days, int | float) or isinstance(horizon_days, bool):
        raise InputError(f"horizon_days must be one number of days, was {horizon_days!r}")
    hour = horizon_hours(horizon_days)[0]
    out = [math.nan] * n
    # id(forecaster) -> (forecaster, positions, sides, distances) of the positions it prices.
    groups: dict[int, tuple[LiquidationForecaster, list[int], list[float], list[float]]] = {}
    for i, f in enumerate(forecasters):
        if f is None:
            continue
        s = float(side_sign(sides[i]))
        d = liquidation_distance(s, marks[i], liq_prices[i])
        if math.isinf(d):
            out[i] = 0.0
        elif d <= 0.0:
            out[i] = 1.0
        else:
            group = groups.get(id(f))
            if group is None:
                group = groups[id(f)] = (f, [], [], [])
            group[1].append(i)
            group[2].append(s)
            group[3].append(d)
    for f, index, s_list, d_list in groups.values():
        k = len(index)
        p = np.asarray(f.prob(np.array(s_list), np.array(d_list), np.full(k, hour)), dtype=np.float64).tolist()
        for i, x in zip(index, p, strict=True):
            # np.clip(x, 0, 1) on one float (NaN stays NaN).
            out[i] = 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
    return out
