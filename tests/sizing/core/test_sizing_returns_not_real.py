"""Returns and arrays of numbers refuse complex numbers, dates and durations, naming them.

``SizingState(returns=np.full(40, 0.01+0.5j))`` was sized on the real part (3x, the policy's
maximum), and datetime64 or timedelta64 returns were read as nanoseconds since the epoch or counts
of days (a 2e-14x volatility target): the shared validators looked only for bools and strings.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.core.sizing.base import SizingState
from levguard.core.sizing.policies import VolatilityTarget
from levguard.core.validate import array_1d, float_values, no_bools_or_strings
from levguard.errors import InputError
from levguard.sizing import size_account

SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "wallet_balance": 10000,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.1, "entry_price": 60000, "mark_price": 60000}],
}
DATES = pd.Series(pd.date_range("2024-01-01", periods=40, freq="D"))
NOT_REAL = {
    "complex": np.full(40, 0.01 + 0.5j),
    "complex list": [0.01 + 0.5j] * 40,
    "datetime Series": DATES,
    "datetime64": DATES.to_numpy(),
    "aware datetime Series": pd.Series(pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC")),
    "timedelta64": np.arange(40).astype("timedelta64[D]"),
    "Timestamps among numbers": [0.01] * 39 + [pd.Timestamp("2024-01-01")],
    "object array with a complex": np.array([0.01] * 39 + [1j], dtype=object),
    "timedeltas": [dt.timedelta(days=1)] * 40,
}
MESSAGE = r"must be real numbers \(not complex numbers, dates or durations\), was "


@pytest.mark.parametrize("values", NOT_REAL.values(), ids=NOT_REAL.keys())
def test_a_policy_refuses_returns_that_are_not_real_numbers(values: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's ComplexWarning was the only sign
        with pytest.raises(InputError, match="returns " + MESSAGE):
            VolatilityTarget(0.5, estimator="close_to_close", lookback=10).decide(
                SizingState(equity=1.0, returns=values)
            )


@pytest.mark.parametrize("values", NOT_REAL.values(), ids=NOT_REAL.keys())
def test_size_account_refuses_returns_that_are_not_real_numbers(values: object) -> None:
    policy = {"policy": {"type": "kelly", "mu_estimator": "rolling_mean", "lookback": 10}}
    with pytest.raises(InputError, match=r"returns\['BTCUSDT'\] " + MESSAGE):
        size_account(SPEC, policy, returns={"BTCUSDT": values})


@pytest.mark.parametrize("values", NOT_REAL.values(), ids=NOT_REAL.keys())
@pytest.mark.parametrize("check", [array_1d, float_values, no_bools_or_strings])
def test_the_shared_validators_name_the_value(check: Any, values: object) -> None:
    with pytest.raises(InputError, match="x " + MESSAGE):
        check(values, "x")


@pytest.mark.parametrize("scalar", [0.5j, np.complex128(1.0), np.datetime64("2024-01-01"), pd.Timedelta(1)])
def test_scalars_that_are_not_real_numbers_are_refused(scalar: object) -> None:
    with pytest.raises(InputError, match="x " + MESSAGE):
        float_values(scalar, "x")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True)), min_size=1))
def test_real_numbers_still_pass(values: list[float]) -> None:
    """Lists, arrays, object arrays and Series of real numbers (NaN and inf included) are read as before."""
    expected = np.asarray(values, dtype=np.float64)
    for given_as in (values, expected, np.asarray(values, dtype=object), pd.Series(expected)):
        assert np.array_equal(array_1d(given_as, "x"), expected, equal_nan=True)
        assert np.array_equal(float_values(given_as, "x"), expected, equal_nan=True)
        no_bools_or_strings(given_as, "x")
