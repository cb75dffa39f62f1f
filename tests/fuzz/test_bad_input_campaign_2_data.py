"""Data-module functions the second bad-input campaign (2026-12-06) broke with an exception not
from levguard.errors: a non-DataFrame or non-path argument, a string cell in a price column, bad
array arguments to the frame builders.  Each now raises a LevguardError naming the value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard import data
from levguard.data.frames import ohlcv_arrays
from levguard.errors import DataError, InputError

IDX = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC")
PRICE = pd.Series(np.linspace(100.0, 101.0, 5), index=IDX)


@pytest.fixture(scope="module")
def market() -> Any:
    return data.synth_market(years=0.01, seed=1, interval="1h")


def _with_text_close(bars: pd.DataFrame) -> pd.DataFrame:
    out = bars.copy()
    out["close"] = out["close"].astype(object)
    out.iloc[3, out.columns.get_loc("close")] = "abc"
    return out


def _frame(ts: Any, *cols: Any) -> pd.DataFrame:
    return data.make_ohlcv_frame(ts, *cols, symbol="X", interval="1h", source="test")


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        # None (or any non-frame) was an AttributeError inside each function.
        (lambda m: data.validate_ohlcv(None), "frame must be a pandas DataFrame, was None"),
        (lambda m: data.validate_funding(None), "frame must be a pandas DataFrame, was None"),
        (lambda m: ohlcv_arrays(None), "frame must be a pandas DataFrame, was None"),
        (lambda m: data.resample_ohlcv(None, "1d"), "frame must be a pandas DataFrame, was None"),
        (lambda m: data.align_funding(m.funding, None), "bars must be a pandas DataFrame, was None"),
        (lambda m: data.save_frame(None, "/tmp/never-written.csv"), "frame must be a pandas DataFrame, was None"),
        # A path that is neither str nor os.PathLike was Path()'s TypeError.
        (lambda m: data.load_ohlcv(None), "path must be a file path (str or os.PathLike), was None"),
        (lambda m: data.load_funding(3), "path must be a file path (str or os.PathLike), was int 3"),
        (lambda m: data.check_file(["a.csv"]), "path must be a file path"),
        (lambda m: data.validate_funding(m.funding, max_abs_rate=None), "max_abs_rate must be a number, was None"),
        # "fil" was silently read as "leave".
        (lambda m: data.validate_ohlcv(m.ohlcv, gaps="fil"), "gaps must be 'leave', 'fill' or 'error', was 'fil'"),
    ],
)
def test_bad_arguments_raise_input_error(market: Any, call: Callable[[Any], Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        call(market)
    assert needle in str(exc.value)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        # A string cell in a price column was NumPy's ValueError.
        (lambda m: data.validate_ohlcv(_with_text_close(m.ohlcv)), "column 'close' must hold numbers; row 3"),
        (lambda m: ohlcv_arrays(_with_text_close(m.ohlcv)), "was 'abc'"),
        (
            lambda m: data.build_index_frame({"a": PRICE.astype(object).where(PRICE.index != IDX[2], "x"), "b": PRICE}),
            "source 'a' must hold numbers; row 2",
        ),
        # A frame without close was a KeyError in the aggregation.
        (lambda m: data.resample_ohlcv(m.ohlcv.drop(columns="close"), "1d"), "lacks OHLCV column(s) ['close']"),
        # funding=0.0 was a TypeError (len), a dict an AttributeError.
        (lambda m: data.build_mark_frame(PRICE, PRICE, 0.0), "funding must be a funding DataFrame"),
        (lambda m: data.build_mark_frame(PRICE, PRICE, {"funding_rate": 1}), "or None, was dict"),
        # Frame builders: a length mismatch (ValueError), a scalar ts_ns (TypeError), 10**400 (OverflowError).
        (lambda m: _frame([1, 2], [1.0, 2, 3], [1.0, 2], [1.0, 2], [1.0, 2]), "open must have one value per timestamp"),
        (lambda m: _frame(5, [1.0], [1.0], [1.0], [1.0]), "ts_ns must be a 1-D array"),
        (lambda m: _frame([1, 2], [10**400, 2], [1.0, 2], [1.0, 2], [1.0, 2]), "open must be a 1-D array of numbers"),
        (lambda m: data.make_funding_frame([1, 2], [0.1], symbol="X", source="t"), "rate must have one value per"),
        (lambda m: data.make_funding_frame(5, [0.1], symbol="X", source="t"), "ts_ns must be a 1-D array"),
        (
            lambda m: data.make_funding_frame([10**400], [0.1], symbol="X", source="t"),
            "ts_ns must be a 1-D array of num",
        ),
    ],
)
def test_bad_data_raises_data_error(market: Any, call: Callable[[Any], Any], needle: str) -> None:
    with pytest.raises(DataError) as exc:
        call(market)
    assert needle in str(exc.value)


def test_valid_frames_are_unchanged(market: Any) -> None:
    arrays = ohlcv_arrays(market.ohlcv)
    assert np.shares_memory(arrays.close, market.ohlcv["close"].to_numpy())  # still a view
    assert data.validate_funding(market.funding, max_abs_rate=float("inf"))[1].ok  # inf: no limit
    frame = data.make_funding_frame([1, 2], [0.1, 0.2], symbol="X", source="t")
    assert frame["funding_rate"].tolist() == [0.1, 0.2]
    assert len(_frame([1, 2], [1.0, 2], [1.0, 2], [1.0, 2], [1.0, 2])) == 2
