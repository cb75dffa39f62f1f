"""Helpers of the liquidation-forecast validation tests: small bar frames and a stand-in forecaster."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

HOUR = pd.Timedelta(hours=1)


def hourly_bars(
    start: str,
    closes: np.ndarray,
    *,
    lows: np.ndarray | None = None,
    highs: np.ndarray | None = None,
    mark: bool = True,
    asset: str = "TEST",
) -> pd.DataFrame:
    """1h bars opening at ``start`` with the given closes (open = previous close); mark = last price."""
    c = np.asarray(closes, dtype=np.float64)
    o = np.concatenate([[c[0]], c[:-1]])
    lo = np.minimum(o, c) if lows is None else np.asarray(lows, dtype=np.float64)
    hi = np.maximum(o, c) if highs is None else np.asarray(highs, dtype=np.float64)
    idx = pd.date_range(start, periods=c.size, freq="1h", tz="UTC")
    frame = pd.DataFrame({"open": o, "high": hi, "low": lo, "close": c, "volume": 1.0}, index=idx)
    if mark:
        for col in ("open", "high", "low", "close"):
            frame[f"mark_{col}"] = frame[col]
    frame.attrs.update({"asset": asset, "interval": "1h", "source": "test"})
    return frame


def naive_gbm(
    bars: pd.DataFrame, as_of: Any, side: Any, distance: Any, horizon_days: Any, model: str = "naive"
) -> np.ndarray:
    """A stand-in forecaster: GBM first passage, zero drift, 30-day realised vol of hourly close log returns.

    ``P = 2 Phi(-b / (sigma sqrt(T)))`` with ``b = |ln(1 -/+ distance)|``; ``model="half"``
    halves it, ``model="oracle"`` is never called here.
    """
    col = "mark_close" if "mark_close" in bars.columns else "close"
    close = bars[col].to_numpy(dtype=np.float64)
    close_ns = pd.DatetimeIndex(bars.index).as_unit("ns").asi8 + 3_600 * 10**9
    r = np.diff(np.log(close), prepend=np.nan)
    vol = pd.Series(r).rolling(720, min_periods=24).std().to_numpy()
    ts = pd.DatetimeIndex(as_of).as_unit("ns").asi8
    i = np.searchsorted(close_ns, ts, side="right") - 1
    sigma = vol[i]
    s = np.broadcast_to(np.asarray(side), ts.shape)
    d = np.broadcast_to(np.asarray(distance, dtype=np.float64), ts.shape)
    t = np.broadcast_to(np.asarray(horizon_days, dtype=np.float64), ts.shape) * 24.0
    b = np.where(s > 0, -np.log1p(-d), np.log1p(d))
    p = 2.0 * ndtr(-b / (sigma * np.sqrt(t)))
    if model == "half":
        p = p / 2.0
    return np.asarray(p, dtype=np.float64)
