"""Histories that are not bars of numbers are refused naming the column (size_account, risk_report).

An empty frame was an IndexError (its first bar's time, risk/histories.py); a ``close`` column of
object dtype holding a bool a TypeError from np.log (data/daily.py).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from forecast_markets import jumpy_bars

from levguard.errors import InputError
from levguard.risk.report import risk_report
from levguard.risk.vol import daily_returns
from levguard.sizing import size_account

SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "margin_mode": "isolated",
    "wallet_balance": 0,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60000, "mark_price": 60000, "leverage": 10}],
}
POLICY = {"policy": {"type": "vol_target", "target_vol": 0.5}}


def _bars() -> pd.DataFrame:
    bars = jumpy_bars(24 * 60, seed=1, start="2024-01-01") * 60_000
    bars.attrs["symbol"] = "BTCUSDT"
    return bars


def _object_close() -> pd.DataFrame:
    bars = _bars()
    bars["close"] = bars["close"].astype(object)
    bars.iloc[5, bars.columns.get_loc("close")] = True
    return bars


@pytest.mark.parametrize(
    "call", [lambda h: size_account(SPEC, POLICY, history=h), lambda h: risk_report(SPEC, history=h)]
)
def test_an_empty_history_is_refused_naming_it(call: Any) -> None:
    with pytest.raises(InputError, match=r"the BTC history: has no bars \(an empty frame\)"):
        call({"BTC": _bars().iloc[:0]})


@pytest.mark.parametrize(
    "call", [lambda h: size_account(SPEC, POLICY, history=h), lambda h: risk_report(SPEC, history=h)]
)
@pytest.mark.parametrize("column", ["close", "high"])
def test_a_price_column_that_is_not_numbers_is_refused_naming_it(call: Any, column: str) -> None:
    bars = _bars()
    bars[column] = bars[column].astype(object)
    bars.iloc[5, bars.columns.get_loc(column)] = True
    with pytest.raises(
        InputError,
        match=rf"the BTC history: column '{column}' must hold numbers \(float64\), was object dtype \(True at row 5\)",
    ):
        call({"BTC": bars})


def test_daily_returns_refuses_a_close_column_that_is_not_numbers() -> None:
    with pytest.raises(InputError, match=r"column 'close' must hold numbers \(float64\), was object dtype"):
        daily_returns(_object_close())
    bools = _bars()
    bools["close"] = True
    with pytest.raises(InputError, match=r"column 'close' must hold numbers \(float64\), was bool dtype"):
        daily_returns(bools)
