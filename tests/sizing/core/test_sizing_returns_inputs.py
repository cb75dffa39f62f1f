"""Returns a policy or size_account reads: bools, strings and infinities are refused naming them.

``size_account(returns={"BTCUSDT": ["a", ...]})`` was a raw ValueError; ``[True, ...]`` was read as
returns of 1.0 (0.75x under Kelly); an infinite return was skipped by the EWMA; a NaN ending a
Kelly's window was reported as "the policy needs a volatility"; ``SizingState(returns=[True,
...])`` sized on returns of 1.0 (a 93.6 volatility).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from levguard.core.sizing.base import MarketContext, SeriesInputs, SizingState
from levguard.core.sizing.policies import VolatilityTarget
from levguard.errors import InputError
from levguard.sizing import size_account

SPEC: dict[str, Any] = {
    "venue": "binance-usdm",
    "margin_mode": "isolated",
    "wallet_balance": 0,
    "positions": [{"symbol": "BTCUSDT", "qty": 0.5, "entry_price": 60000, "mark_price": 60000, "leverage": 10}],
}
KELLY = {"policy": {"type": "kelly", "fraction": 0.5, "mu_estimator": "rolling_mean", "lookback": 30}}
VOL_TARGET = {"policy": {"type": "vol_target", "target_vol": 0.5, "estimator": "ewma"}}
GOOD = np.random.default_rng(0).normal(0.001, 0.03, 100)


@pytest.mark.parametrize("policy", [KELLY, VOL_TARGET])
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["a"] * 100, r"returns\['BTCUSDT'\] must be numbers \(not bools or strings\), was \['a'"),
        ("abc", r"returns\['BTCUSDT'\] must be numbers \(not bools or strings\), was 'abc'"),
        ([True] * 100, r"returns\['BTCUSDT'\] must be numbers \(not bools or strings\), was \[True"),
        (np.r_[GOOD, np.nan], r"returns\['BTCUSDT'\]\[100\] must be finite, was nan"),
        (np.r_[GOOD, np.inf], r"returns\['BTCUSDT'\]\[100\] must be finite, was inf"),
        (np.r_[GOOD, -np.inf], r"returns\['BTCUSDT'\]\[100\] must be finite, was -inf"),
        (np.r_[GOOD, 1e300], r"returns\['BTCUSDT'\]\[100\] is too large"),
    ],
)
def test_size_account_refuses_returns_that_are_not_finite_numbers(
    policy: dict[str, Any], values: object, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        size_account(SPEC, policy, returns={"BTCUSDT": values})


@pytest.mark.parametrize("policy", [KELLY, VOL_TARGET])
def test_too_few_returns_given_are_said_to_be_too_few_not_missing(policy: dict[str, Any]) -> None:
    """One return given, no volatility: it said "give a price history or a volatility" as if none were given."""
    with pytest.raises(InputError, match=r"no forecast from the 1 daily returns given of BTCUSDT \(too few"):
        size_account(SPEC, policy, returns={"BTCUSDT": [0.01]})


def test_size_account_sizes_on_finite_returns_given() -> None:
    out = size_account(SPEC, VOL_TARGET, returns={"BTCUSDT": GOOD})
    assert out.binding_constraint in ("vol_target", "max_leverage")
    assert math.isfinite(out.target_leverage)
    assert out.target_leverage > 0


CTX = MarketContext(venue="binance-usdm", symbol="BTCUSDT", side=1)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([True] * 100), r"returns must be numbers \(not bools or strings\)"),
        (["0.01"] * 40, r"returns must be numbers \(not bools or strings\)"),
        (np.r_[GOOD, np.inf], r"returns\[100\] must be finite \(NaN: a missing bar\), was inf"),
        (np.r_[-np.inf, GOOD], r"returns\[0\] must be finite \(NaN: a missing bar\), was -inf"),
    ],
)
def test_sizing_state_and_series_inputs_refuse_bools_strings_and_infinities(values: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        SizingState(equity=1e4, returns=values, context=CTX)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=message):
        SeriesInputs(np.asarray(values))


def test_a_nan_return_is_still_a_missing_bar() -> None:
    r = np.r_[np.nan, GOOD]
    state = SizingState(equity=1e4, returns=r, periods_per_year=365.0, context=CTX)
    policy = VolatilityTarget(0.5, max_leverage=10)
    path = policy.leverage_path(SeriesInputs(r, 365.0))
    assert policy.decide(state).target_leverage == path[-1] > 0
