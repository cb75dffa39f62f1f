"""Daily log returns of a bar frame, the unfinished last UTC day apart.

The one place a bar frame becomes daily returns for the daily estimators: the risk report's
GARCH forecast, its historical and FHS VaR, the joint stress's covariance, and the returns the
sizing policies read (``levguard size`` and the guardian alike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from levguard.data.frames import frame_bar_ns, utc_frame
from levguard.errors import InputError

__all__ = ["DailyReturns", "daily_returns"]


@dataclass(frozen=True, slots=True)
class DailyReturns:
    """Daily log returns of a bar frame, split into complete UTC days and the unfinished last day.

    Attributes
    ----------
    complete : Series
        Close-to-close log returns of the complete days, indexed by day (UTC midnight): the
        return of day ``d`` is ``ln(C_d / C_{d'})`` with ``C`` a day's last close and ``d'`` the
        previous day with bars.
    partial : float or None
        The unfinished last day's log return so far (its last close over the previous day's
        close), or None when the last day is complete (or has no previous day).
    elapsed : float
        Fraction of the last day its bars cover, in (0, 1]: ``(t_close - midnight) / 1 day`` with
        ``t_close`` the last bar's close time (its open plus the bar interval, or the
        ``attrs["last_close_ns"]`` of an unfinished last hour: :func:`levguard.risk.forecast.to_hourly`);
        1 when complete.
    """

    complete: pd.Series
    partial: float | None
    elapsed: float


def daily_returns(frame: pd.DataFrame, what: str = "history") -> DailyReturns:
    """Return the daily log returns of ``frame``'s closes, the unfinished last day apart.

    The one place a bar frame becomes daily returns for the daily estimators (the report's
    GARCH forecast, its historical and FHS VaR, the joint stress's covariance).

    Parameters
    ----------
    frame : DataFrame
        Bars with a ``close`` column and a UTC ``DatetimeIndex`` of bar open times (another
        zone is converted to UTC: the days are UTC days),
        ``attrs["interval"]`` (else the commonest step between bars:
        :func:`levguard.data.frames.frame_bar_ns`).
    what : str
        What the frame is, for error messages.

    Returns
    -------
    DailyReturns
        ``complete`` returns, the last day's ``partial`` return and its ``elapsed`` fraction.

    Notes
    -----
    A day's bars cover [00:00, 24:00) UTC; the day is complete when its last bar closes at or
    after the next midnight.  Live, the last day is almost always unfinished: its return covers
    ``elapsed`` of a day and its expected square is about ``elapsed sigma^2`` (variance accrues
    through the day: Andersen & Bollerslev 1998, Int. Econ. Rev. 39(4)), so it is no draw of a
    daily return.  Estimators fit on ``complete``; the GARCH forecast then takes the partial day
    in one step with its unseen rest replaced by its expectation
    (:func:`levguard.core.risk.volatility.garch_partial_step`).
    """
    if not isinstance(frame, pd.DataFrame) or "close" not in frame.columns:
        raise InputError(f"{what} must be a DataFrame of bars with a close column, was {type(frame).__name__}")
    if frame["close"].dtype.kind not in "iuf":  # np.log of an object column was a raw TypeError
        raise InputError(
            f"{what}: column 'close' must hold numbers (float64), was {frame['close'].dtype} dtype; "
            "convert it, e.g. frame['close'].astype(float)"
        )
    frame = utc_frame(frame)  # days are UTC days, whatever zone the index is in
    end = frame.index[-1] + pd.Timedelta(frame_bar_ns(frame, what), unit="ns") if len(frame) else None
    # Hours aggregated from finer bars (risk.forecast.to_hourly) whose last hour is unfinished
    # say where its bars end: the same day as the bars read directly.
    mark = frame.attrs.get("last_close_ns")
    if end is not None and isinstance(mark, int) and frame.index[-1].value < mark < end.value:
        end = pd.Timestamp(mark, tz="UTC")
    daily = frame["close"].resample("1D").last().dropna()
    returns = np.log(daily).diff().dropna()
    day = pd.Timedelta(1, unit="D")
    elapsed = min((end - daily.index[-1]) / day, 1.0) if len(daily) and end is not None else 1.0
    if elapsed >= 1.0:
        return DailyReturns(returns, None, 1.0)
    if len(returns) and returns.index[-1] == daily.index[-1]:
        return DailyReturns(returns.iloc[:-1], float(returns.iloc[-1]), float(elapsed))
    return DailyReturns(returns, None, float(elapsed))
