"""Daily returns and hourly bars group by UTC days and hours whatever zone the index is in.

``daily_returns`` and ``to_hourly`` say UTC but grouped an Asia/Tokyo or Asia/Kolkata index by its
own days and hours (Tokyo days' returns, IST hours starting at hh:30 UTC); ``run`` converts to UTC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from levguard.data.daily import daily_returns
from levguard.risk.forecast import to_hourly


def _bars(n: int, freq: str, seed: int = 1) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC")
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, 0.01, n)))
    frame = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close}, index=idx)
    frame.attrs["interval"] = freq.replace("min", "m")
    return frame


def test_daily_returns_are_of_utc_days_in_any_zone() -> None:
    bars = _bars(24 * 6 + 5, "1h")
    utc = daily_returns(bars)
    tokyo = daily_returns(bars.tz_convert("Asia/Tokyo"))
    pd.testing.assert_series_equal(tokyo.complete, utc.complete)
    assert str(tokyo.complete.index.tz) == "UTC"
    assert (tokyo.partial, tokyo.elapsed) == (utc.partial, utc.elapsed)


def test_to_hourly_groups_utc_hours_in_any_zone() -> None:
    bars = _bars(4 * 10, "15min")
    utc = to_hourly(bars)
    kolkata = to_hourly(bars.tz_convert("Asia/Kolkata"))  # +05:30: its own hours start at hh:30 UTC
    assert len(kolkata) == len(utc) == 10
    pd.testing.assert_frame_equal(kolkata, utc)
    assert str(to_hourly(_bars(5, "1h").tz_convert("Asia/Tokyo")).index.tz) == "UTC"
