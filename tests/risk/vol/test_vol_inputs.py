"""EWMA recursion, annualisation, hand-computed estimator values and bad-input errors."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd
import pytest

from levguard.core.risk import volatility as v
from levguard.errors import InputError
from levguard.risk.vol import realized_vol

# One hand-checkable bar: O=100, H=110, L=95, C=105.
O1, H1, L1, C1 = [100.0], [110.0], [95.0], [105.0]
U, D, CC = math.log(1.10), math.log(0.95), math.log(1.05)


# --------------------------------------------------------------------------- hand-computed values


def test_single_bar_formulas() -> None:
    assert v.parkinson(H1, L1) == pytest.approx((U - D) ** 2 / (4 * math.log(2)), rel=1e-14)
    assert v.garman_klass(O1, H1, L1, C1) == pytest.approx(
        0.5 * (U - D) ** 2 - (2 * math.log(2) - 1) * CC**2, rel=1e-14
    )
    assert v.rogers_satchell(O1, H1, L1, C1) == pytest.approx(U * (U - CC) + D * (D - CC), rel=1e-14)


def test_close_to_close_hand_example() -> None:
    close = [100.0, 101.0, 99.0, 102.0]
    r = np.log([1.01, 99 / 101, 102 / 99])
    assert v.close_to_close(close) == pytest.approx(float(np.sum((r - r.mean()) ** 2) / 2), rel=1e-13)
    assert v.close_to_close(close, demean=False) == pytest.approx(float(np.mean(r**2)), rel=1e-13)


def test_yang_zhang_hand_example() -> None:
    o = [100.0, 103.0, 101.0]
    h = [104.0, 106.0, 102.0]
    lo = [99.0, 100.0, 97.0]
    c = [102.0, 101.0, 98.0]
    prev = 99.0
    jump = np.log(np.array(o) / np.array([prev, 102.0, 101.0]))
    u, d, cc = np.log(np.array(h) / o), np.log(np.array(lo) / o), np.log(np.array(c) / o)
    k = 0.34 / (1.34 + 4.0 / 2.0)
    rs = np.mean(u * (u - cc) + d * (d - cc))
    expected = np.var(jump, ddof=1) + k * np.var(cc, ddof=1) + (1 - k) * rs
    assert v.yang_zhang(o, h, lo, c, prev_close=prev) == pytest.approx(float(expected), rel=1e-13)
    # Without prev_close the first bar only supplies the close of bar 1.
    jump2 = jump[1:]
    k2 = 0.34 / (1.34 + 3.0)
    rs2 = np.mean((u * (u - cc) + d * (d - cc))[1:])
    expected2 = np.var(jump2, ddof=1) + k2 * np.var(cc[1:], ddof=1) + (1 - k2) * rs2
    assert v.yang_zhang(o, h, lo, c) == pytest.approx(float(expected2), rel=1e-13)


# --------------------------------------------------------------------------- EWMA


def test_ewma_hand_recursion() -> None:
    out = v.ewma_variance([0.01, -0.02, 0.03], lam=0.9, seed_var=1e-4)
    # 0.9*1e-4 + 0.1*1e-4; 0.9*1e-4 + 0.1*4e-4; 0.9*1.3e-4 + 0.1*9e-4
    np.testing.assert_allclose(out, [1.0e-4, 1.3e-4, 2.07e-4], rtol=1e-13)


def test_ewma_default_lambda_is_riskmetrics() -> None:
    assert inspect.signature(v.ewma_variance).parameters["lam"].default == 0.94
    assert v.RISKMETRICS_LAMBDA == 0.94
    r = np.random.default_rng(1).standard_normal(300) * 0.01
    # Default seed r0^2: pandas' adjust=False EWM of the squared returns.
    expected = pd.Series(r**2).ewm(alpha=0.06, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(v.ewma_variance(r), expected, rtol=1e-12)
    np.testing.assert_allclose(v.ewma_variance(r), v.ewma_variance(r, lam=0.94, seed_var=r[0] ** 2), rtol=1e-15)


# --------------------------------------------------------------------------- annualisation


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ("1h", 8760.0),
        ("4h", 2190.0),
        ("1d", 365.0),
        ("15m", 35_040.0),
        ("1m", 525_600.0),
        ("30s", 1_051_200.0),
        ("1w", 365.0 / 7.0),
        (3_600_000_000_000, 8760.0),
        (np.int64(86_400_000_000_000), 365.0),
    ],
)
def test_periods_per_year(interval: str | int, expected: float) -> None:
    assert v.periods_per_year(interval) == pytest.approx(expected, rel=1e-14)


def test_annualise_hourly() -> None:
    assert v.annualise(1e-4, v.periods_per_year("1h")) == pytest.approx(0.01 * math.sqrt(8760), rel=1e-14)
    arr = v.annualise(np.array([1e-4, np.nan, 4e-4]), 365.0)
    np.testing.assert_allclose(arr, [0.01 * math.sqrt(365), np.nan, 0.02 * math.sqrt(365)], rtol=1e-14)


@pytest.mark.parametrize("interval", ["1M", "0h", "h", "1y", "", -5, 0, True, 1.5, None])
def test_bad_interval(interval: object) -> None:
    with pytest.raises(InputError, match="interval"):
        v.periods_per_year(interval)  # type: ignore[arg-type]


def test_bad_annualise_arguments() -> None:
    with pytest.raises(InputError, match=r"var_per_bar must be >= 0, was -1"):
        v.annualise(-1.0, 365.0)
    with pytest.raises(InputError, match=r"var_per_bar\[1\]"):
        v.annualise(np.array([1.0, -1.0]), 365.0)
    with pytest.raises(InputError, match="periods_per_year"):
        v.annualise(1.0, 0.0)


# --------------------------------------------------------------------------- bad input


GOOD = {
    "open": [100.0, 101.0, 102.0],
    "high": [102.0, 103.0, 104.0],
    "low": [99.0, 100.0, 101.0],
    "close": [101.0, 102.0, 103.0],
}


def _with(**changes: list[float]) -> dict[str, list[float]]:
    return {**GOOD, **changes}


@pytest.mark.parametrize(
    ("bars", "pattern"),
    [
        (_with(close=[101.0, math.nan, 103.0]), r"close must be finite, was close\[1\]=nan"),
        (_with(open=[100.0, 0.0, 102.0]), r"open must be > 0, was open\[1\]=0.0"),
        (_with(low=[-1.0, 100.0, 101.0]), r"low must be > 0, was low\[0\]=-1.0"),
        (_with(high=[102.0, 99.0, 104.0]), r"high must be >= low, was high\[1\]=99.0 < low\[1\]=100.0"),
        (_with(open=[100.0, 103.5, 102.0]), r"high must be >= open, was high\[1\]=103.0 < open\[1\]=103.5"),
        (_with(close=[101.0, 102.0, 100.5]), r"close must be >= low, was close\[2\]=100.5 < low\[2\]=101.0"),
        (_with(close=[101.0, 102.0]), r"close must have the length of high \(3\), was 2"),
        (_with(high=[[102.0, 103.0, 104.0]]), r"high must be 1-D"),  # type: ignore[list-item]
        (_with(close=["a", "b", "c"]), r"close must be a 1-D array of numbers"),  # type: ignore[list-item]
        (_with(high=[102.0, math.inf, 104.0]), r"high must be finite, was high\[1\]=inf"),
    ],
)
def test_bad_prices(bars: dict[str, list[float]], pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        v.garman_klass(bars["open"], bars["high"], bars["low"], bars["close"])


@pytest.mark.parametrize(
    "call",
    [
        lambda: v.parkinson([1.0, 2.0], [1.0]),
        lambda: v.rogers_satchell([1.0], [2.0], [1.0], [math.nan]),
        lambda: v.yang_zhang([1.0], [2.0], [1.0], [1.5], prev_close=0.0),
        lambda: v.rolling_yang_zhang([1.0], [2.0], [1.0], [1.5], 2, prev_close=-1.0),
        lambda: v.close_to_close([1.0, 0.0, 2.0]),
    ],
)
def test_every_estimator_validates(call: object) -> None:
    with pytest.raises(InputError):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("window", [1, 0, -3, 2.5, True, None, "5"])
def test_bad_window(window: object) -> None:
    with pytest.raises(InputError, match=f"window must be an integer >= 2, was {window!r}"):
        v.rolling_parkinson(GOOD["high"], GOOD["low"], window)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="window"):
        v.rolling_close_to_close(GOOD["close"], window)  # type: ignore[arg-type]


@pytest.mark.parametrize("lam", [0.0, 1.0, -0.5, 1.5, math.nan, True, "0.9"])
def test_bad_lambda(lam: object) -> None:
    with pytest.raises(InputError, match=r"lam must be a number in \(0, 1\)"):
        v.ewma_variance([0.01, 0.02], lam=lam)  # type: ignore[arg-type]


def test_bad_ewma_inputs() -> None:
    with pytest.raises(InputError, match=r"returns must be finite, was returns\[1\]=nan"):
        v.ewma_variance([0.01, math.nan])
    with pytest.raises(InputError, match="returns must hold at least 1"):
        v.ewma_variance([])
    with pytest.raises(InputError, match="seed_var must be a finite number >= 0, was -1"):
        v.ewma_variance([0.01], seed_var=-1.0)


def test_too_few_bars() -> None:
    with pytest.raises(InputError, match="close must hold at least 2 values"):
        v.close_to_close([100.0, 101.0])
    assert v.close_to_close([100.0, 101.0], demean=False) == pytest.approx(math.log(1.01) ** 2)
    with pytest.raises(InputError, match="high must hold at least 1"):
        v.parkinson([], [])
    with pytest.raises(InputError, match="at least 2 bars"):
        v.yang_zhang([100.0, 101.0], [102.0, 103.0], [99.0, 100.0], [101.0, 102.0])
    with pytest.raises(InputError, match="n must be an integer >= 2, was 1"):
        v.yang_zhang_k(1)


@pytest.mark.parametrize("method", ["close_to_close", "ewma", "parkinson", "yang_zhang"])
@pytest.mark.parametrize("window", [2**63, 2**70, 10**30])
def test_a_window_beyond_int64_is_refused(method: str, window: int) -> None:
    """2**70 was a raw OverflowError or a numba TypingError."""
    bars = {k: np.array(v) for k, v in _with().items()}
    with pytest.raises(InputError, match=r"window must be an integer .*2\*\*63 - 1"):
        realized_vol(bars, method, window=window, interval="1h")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", [np.array(["ewma", "parkinson"]), np.array([1, 2]), ["ewma"]])
def test_a_method_that_is_not_a_string_is_refused(method: object) -> None:
    """An array was a raw "truth value of an array is ambiguous" ValueError."""
    with pytest.raises(InputError, match="method must be one of"):
        realized_vol(np.exp(np.arange(10) * 0.01), method, interval="1h")  # type: ignore[arg-type]
