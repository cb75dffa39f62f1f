"""A bar interval label that the bars contradict is refused (found by the bad-input campaign of
2026-12-06): daily bars labelled ``"1h"`` were read as hourly, and ``size_account`` gave a 1-day
probability of liquidation of 0.197 where the hourly bars give about 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from levguard import sizing
from levguard.data import resample_ohlcv, synth_market
from levguard.data.frames import frame_bar_ns
from levguard.errors import DataError
from levguard.risk import realized_vol

HOUR = 3_600 * 10**9
SPEC = {
    "venue": "binance-usdm",
    "wallet_balance": 20_000,
    "positions": [{"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10}],
}
POLICY = {"policy": {"type": "fixed", "leverage": 2}}


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return synth_market(years=0.1, seed=1, interval="1h").ohlcv


def test_daily_bars_labelled_hourly_are_refused_not_read_as_hours(hourly: pd.DataFrame) -> None:
    # size_account gave a 1-day P(liq) of 0.197 (true: about 1e-9) from daily bars labelled "1h".
    daily = resample_ohlcv(hourly, "1d")
    daily.attrs["interval"] = "1h"
    with pytest.raises(DataError, match=r"attrs\['interval'\] is '1h' but the bars are 1d apart"):
        sizing.size_account(SPEC, POLICY, history=daily)
    with pytest.raises(DataError, match="bars are 1d apart"):
        realized_vol(daily, "close_to_close")
    daily.attrs["interval"] = "1d"
    assert realized_vol(daily, "close_to_close") > 0.0
    right = sizing.size_account(SPEC, POLICY, history=hourly).positions[0]["p_liq_1d"]
    assert 0.0 <= right < 1e-3


@pytest.mark.parametrize("label", ["0h", "abc", "1M"])
def test_a_label_that_is_not_an_interval_is_a_data_error(hourly: pd.DataFrame, label: str) -> None:
    bad = hourly.copy()
    bad.attrs["interval"] = label  # "0h" was a ZeroDivisionError, "abc" and "1M" pandas' ValueError
    with pytest.raises(DataError, match="interval must look like"):
        sizing.size_account(SPEC, POLICY, history=bad)


def _frame(times_h: list[int], label: str | None) -> pd.DataFrame:
    idx = pd.to_datetime(np.array(times_h, dtype=np.int64) * HOUR, utc=True)
    f = pd.DataFrame({"close": np.linspace(100.0, 101.0, len(times_h))}, index=idx)
    if label is not None:
        f.attrs["interval"] = label
    return f


def test_frame_bar_ns_checks_the_label_against_the_smallest_and_the_commonest_step() -> None:
    assert frame_bar_ns(_frame([0, 1, 2, 4, 5], "1h")) == HOUR  # gaps make steps longer, not the bars
    assert frame_bar_ns(_frame([0, 1, 3, 5, 7], "1h")) == HOUR  # sparse: the commonest step is 2 h
    assert frame_bar_ns(_frame([0, 2, 4, 5, 7, 9], "2h")) == 2 * HOUR  # one misplaced bar
    assert frame_bar_ns(_frame([0, 1, 2, 3], None)) == HOUR
    assert frame_bar_ns(_frame([0], "4h")) == 4 * HOUR  # one bar: the label stands
    with pytest.raises(DataError, match="'1h' but the bars are 4h apart"):
        frame_bar_ns(_frame([0, 4, 8, 12], "1h"))
    with pytest.raises(DataError, match="cannot infer the bar interval from 1 bar"):
        frame_bar_ns(_frame([0], None))
