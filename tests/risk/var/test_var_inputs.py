"""levguard.risk.var_inputs: the return histories portfolio_var and var_backtest take.

A dated history must run forward with one row per day (as realized_vol and fit_garch require:
one check, levguard.risk.vol._time_ordered), and bools or strings are refused from a pandas
object as from an array or a list.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levguard.errors import InputError
from levguard.risk.var import portfolio_var, var_backtest

ORDER = "must be in time order with no duplicated timestamps"
BTC = {"symbol": "BTCUSDT", "qty": 1, "entry_price": 60000, "mark_price": 60000, "leverage": 5}
ETH = {"symbol": "ETHUSDT", "qty": -5, "entry_price": 3000, "mark_price": 3000, "leverage": 5}
SPEC = {"venue": "binance-usdm", "margin_mode": "isolated", "wallet_balance": 0, "positions": [BTC]}
SPEC2 = {**SPEC, "positions": [BTC, ETH]}


def _returns(n: int = 400, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2023-01-01", periods=n, freq="D", tz="UTC")
    return pd.Series(rng.standard_t(4, n) * 0.03 / math.sqrt(2.0), index=idx)


@pytest.mark.parametrize(
    "reorder",
    [
        pytest.param(lambda r: r.iloc[::-1], id="reversed"),
        pytest.param(lambda r: pd.concat([r.iloc[:300], r.iloc[250:]]), id="duplicated-days"),
        pytest.param(lambda r: r.sample(frac=1.0, random_state=0), id="shuffled"),
    ],
)
def test_var_backtest_refuses_a_dated_history_out_of_order(reorder: object) -> None:
    # Was accepted: the reversed real BTC history backtested 36 exceptions instead of 38, its
    # first forecast dated at the end; 100 repeated days counted n = 2039 instead of 1939.
    r = _returns()
    with pytest.raises(InputError, match=ORDER):
        var_backtest(reorder(r), method="normal", window=100, seed=1)  # type: ignore[operator]


@pytest.mark.parametrize("method", ["historical", "normal", "monte_carlo"])
def test_portfolio_var_refuses_a_dated_history_out_of_order(method: str) -> None:
    # Was accepted: historical 5-day VaR on a shuffled index 8,636 instead of 10,147 (real BTC).
    r = _returns()
    shuffled = r.sample(frac=1.0, random_state=0)
    with pytest.raises(InputError, match=ORDER):
        portfolio_var(SPEC, method=method, returns=shuffled, horizon_days=5, seed=1)  # type: ignore[arg-type]
    frame = pd.DataFrame({"BTC": r, "ETH": _returns(seed=4)}).iloc[::-1]
    with pytest.raises(InputError, match=ORDER):
        portfolio_var(SPEC2, method=method, returns=frame, horizon_days=5, seed=1)  # type: ignore[arg-type]
    dup = pd.concat([r.iloc[:200], r.iloc[199:]])
    with pytest.raises(InputError, match=ORDER):
        portfolio_var(SPEC, method=method, returns=dup, horizon_days=5, seed=1)  # type: ignore[arg-type]


def test_bools_are_refused_from_a_series_as_from_an_array() -> None:
    # A bool Series was read as 1.0/0.0 (a backtest of 0 exceptions, a VaR of -0.0) while a bool
    # array or list was refused.
    flags = [True, False] * 200
    for returns in (pd.Series(flags), np.array(flags), flags):
        with pytest.raises(InputError, match="returns must be numbers \\(not bools or strings\\)"):
            var_backtest(returns, method="normal", window=100)
        with pytest.raises(InputError, match="returns must be numbers \\(not bools or strings\\)"):
            portfolio_var(SPEC, method="historical", returns=returns)
    frame = pd.DataFrame({"BTC": _returns().to_numpy(), "ETH": flags})
    with pytest.raises(InputError, match="returns\\['ETH'\\] must be numbers \\(not bools or strings\\)"):
        portfolio_var(SPEC2, method="historical", returns=frame)


def test_strings_are_refused_from_a_series() -> None:
    # pandas' astype read "0.01" as 0.01; float_values refuses strings in an array.
    text = pd.Series(["0.01", "-0.02"] * 200)
    with pytest.raises(InputError, match="not bools or strings"):
        var_backtest(text, method="normal", window=100)
    with pytest.raises(InputError, match="not bools or strings"):
        portfolio_var(SPEC, method="historical", returns=text)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), missing=st.lists(st.integers(0, 299), max_size=20))
def test_an_ordered_dated_history_backtests_as_its_values(seed: int, missing: list[int]) -> None:
    # In time order (gaps allowed: a missing day is no duplicate), the index only labels the
    # forecasts: the same exceptions and VaR as the bare values.
    r = _returns(300, seed).drop(_returns(300, seed).index[sorted(set(missing))])
    dated = var_backtest(r, method="normal", window=60, n_sims=100, seed=1)
    bare = var_backtest(r.to_numpy(), method="normal", window=60, n_sims=100, seed=1)
    assert dated.kupiec.exceptions == bare.kupiec.exceptions
    np.testing.assert_array_equal(dated.forecasts["var"].to_numpy(), bare.forecasts["var"].to_numpy())
    assert (dated.forecasts.index == r.index[60:]).all()
