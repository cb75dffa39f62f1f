"""levguard.risk.vol.realized_vol: every input shape, point and rolling, annualisation, errors."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from gbm_ohlc import simulate_gbm_ohlc

import levguard.risk.vol
from levguard.core.risk import volatility as v
from levguard.data.frames import interval_to_ns, make_ohlcv_frame, ohlcv_arrays
from levguard.errors import InputError
from levguard.risk.vol import METHODS, realized_vol

BARS = simulate_gbm_ohlc(500, 32, bridge=True, seed=21)
T0 = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % 3_600_000_000_000


def _frame(interval: str = "1h") -> pd.DataFrame:
    ts = T0 + np.arange(BARS.close.shape[0], dtype=np.int64) * interval_to_ns(interval)
    return make_ohlcv_frame(
        ts, BARS.open, BARS.high, BARS.low, BARS.close, symbol="SIM", interval=interval, source="synthetic(seed=21)"
    )


def _one_bar_no_interval() -> pd.DataFrame:
    frame = _frame().iloc[:1].copy()
    frame.attrs = {}
    return frame


def _core_var(method: str) -> float:
    o, h, lo, c = BARS.open, BARS.high, BARS.low, BARS.close
    return {
        "close_to_close": lambda: v.close_to_close(c),
        "ewma": lambda: float(v.ewma_variance(v.log_returns(c))[-1]),
        "parkinson": lambda: v.parkinson(h, lo),
        "garman_klass": lambda: v.garman_klass(o, h, lo, c),
        "rogers_satchell": lambda: v.rogers_satchell(o, h, lo, c),
        "yang_zhang": lambda: v.yang_zhang(o, h, lo, c),
    }[method]()


@pytest.mark.parametrize("method", METHODS)
def test_point_estimate_from_frame_is_annualised_core(method: str) -> None:
    got = realized_vol(_frame(), method)
    assert isinstance(got, float)
    assert got == pytest.approx(math.sqrt(_core_var(method) * 8760.0), rel=1e-12)
    # About the simulated 1% per bar, annualised with 365 days of 24 hours.
    assert got == pytest.approx(0.01 * math.sqrt(8760.0), rel=0.25)


@pytest.mark.parametrize("method", METHODS)
def test_rolling_series_has_frame_index(method: str) -> None:
    frame = _frame()
    got = realized_vol(frame, method, window=24)
    assert isinstance(got, pd.Series)
    assert got.index.equals(frame.index)
    assert got.name == f"{method}_vol"
    first_valid = 23 if method in ("parkinson", "garman_klass", "rogers_satchell") else 24
    assert got.iloc[:first_valid].isna().all()
    assert got.iloc[first_valid:].notna().all()
    assert got.iloc[-1] > 0


def test_rolling_matches_core_rolling() -> None:
    frame = _frame()
    got = realized_vol(frame, "garman_klass", window=48, annualise=False)
    core = np.sqrt(v.rolling_garman_klass(BARS.open, BARS.high, BARS.low, BARS.close, 48))
    np.testing.assert_allclose(got.to_numpy(), core, rtol=1e-14, equal_nan=True)


def test_ewma_rolling_is_the_recursion_with_warm_up() -> None:
    frame = _frame()
    got = realized_vol(frame, "ewma", window=30, lam=0.97, annualise=False)
    rec = np.sqrt(v.ewma_variance(v.log_returns(BARS.close), lam=0.97))
    assert got.iloc[:30].isna().all()
    np.testing.assert_allclose(got.to_numpy()[30:], rec[29:], rtol=1e-14)
    assert realized_vol(frame, "ewma", lam=0.97, annualise=False) == pytest.approx(rec[-1], rel=1e-14)


def test_annualisation_follows_the_interval() -> None:
    per_bar = realized_vol(_frame(), "parkinson", annualise=False)
    assert realized_vol(_frame("1h"), "parkinson") == pytest.approx(per_bar * math.sqrt(8760), rel=1e-14)
    assert realized_vol(_frame("1d"), "parkinson") == pytest.approx(per_bar * math.sqrt(365), rel=1e-14)
    assert realized_vol(_frame("4h"), "parkinson") == pytest.approx(per_bar * math.sqrt(2190), rel=1e-14)
    # The argument overrides attrs; without attrs the index spacing is used.
    assert realized_vol(_frame("1h"), "parkinson", interval="1d") == pytest.approx(per_bar * math.sqrt(365), rel=1e-14)
    bare = _frame("15m")
    bare.attrs.clear()
    assert realized_vol(bare, "parkinson") == pytest.approx(per_bar * math.sqrt(35_040), rel=1e-14)
    assert realized_vol(bare, "parkinson", interval=pd.Timedelta(hours=1)) == pytest.approx(
        per_bar * math.sqrt(8760), rel=1e-14
    )


def test_other_input_shapes() -> None:
    frame = _frame()
    expected = realized_vol(frame, "rogers_satchell")
    arrays = ohlcv_arrays(frame)
    assert realized_vol(arrays, "rogers_satchell") == pytest.approx(expected, rel=1e-14)  # interval from ts_ns
    mapping = {"open": BARS.open, "high": BARS.high, "low": BARS.low, "close": BARS.close}
    assert realized_vol(mapping, "rogers_satchell", interval="1h") == pytest.approx(expected, rel=1e-14)
    rolled = realized_vol(arrays, "rogers_satchell", window=10)
    assert isinstance(rolled.index, pd.DatetimeIndex)
    assert rolled.index.equals(frame.index)
    plain = realized_vol(mapping, "parkinson", window=10, interval="1h")
    assert isinstance(plain.index, pd.RangeIndex)
    cc = realized_vol(frame, "close_to_close")
    assert realized_vol(frame["close"], "close_to_close", interval="1h") == pytest.approx(cc, rel=1e-14)
    assert realized_vol(BARS.close, "close_to_close", interval="1h") == pytest.approx(cc, rel=1e-14)
    assert realized_vol(list(BARS.close), "close_to_close", interval=3_600_000_000_000) == pytest.approx(cc, rel=1e-14)


def test_facade_doctest() -> None:
    result = doctest.testmod(levguard.risk.vol)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: realized_vol(_frame(), "garch"), "method must be one of"),
        (lambda: realized_vol(BARS.close, "parkinson", interval="1h"), "OHLC frame or mapping"),
        (lambda: realized_vol(_frame()["close"], "yang_zhang"), "was a Series of closes"),
        (lambda: realized_vol(_frame()[["high", "close"]], "parkinson"), r"column\(s\) \['low'\]"),
        (lambda: realized_vol({"high": BARS.high}, "parkinson", interval="1h"), r"key\(s\) \['low'\]"),
        (lambda: realized_vol(BARS.close, "close_to_close"), "interval must be given to annualise: the data carry no"),
        (lambda: realized_vol(_one_bar_no_interval(), "parkinson"), r"1 dated bar\(s\) do not show the bar spacing"),
        (lambda: realized_vol(_frame(), "parkinson", interval="1y"), "interval must look like"),
        (lambda: realized_vol(_frame(), "parkinson", window=1), "window must be an integer >= 2, was 1"),
        (lambda: realized_vol(_frame(), "ewma", window=0), "window must be an integer >= 1"),
        (lambda: realized_vol(_frame(), "ewma", lam=1.0), r"lam must be a number in \(0, 1\), was 1.0"),
        (lambda: realized_vol(42, "close_to_close"), "data must be a DataFrame"),
    ],
)
def test_errors(call: object, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        call()  # type: ignore[operator]


def test_bad_prices_in_a_frame_are_reported() -> None:
    frame = _frame()
    frame.iloc[7, frame.columns.get_loc("low")] = frame["high"].iloc[7] * 1.01
    with pytest.raises(InputError, match=r"high must be >= low, was high\[7\]"):
        realized_vol(frame, "parkinson")


def test_annualise_false_on_arrays_needs_no_interval() -> None:
    got = realized_vol(BARS.close, "close_to_close", annualise=False)
    assert got == pytest.approx(math.sqrt(v.close_to_close(BARS.close)), rel=1e-14)


def test_method_lists_are_derived_from_the_literal() -> None:
    """The Literal is the one list: METHODS and the column table follow it (issue 15)."""
    import typing

    from levguard.risk import vol as rv

    assert typing.get_args(rv.VolMethod) == rv.METHODS
    assert tuple(rv._NEEDS) == rv.METHODS
    with pytest.raises(InputError, match="method must be one of close_to_close, ewma"):
        realized_vol(BARS, "garch")  # type: ignore[arg-type]
