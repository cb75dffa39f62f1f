"""The sizing records refuse bad input when they are built, naming the field (an API audit).

A NaN funding rate in a MarketContext made LiquidationBudget skip the funding term and allow its
maximum leverage with a P(liq) of 0; strings for equity or a policy's parameter raised Python's
TypeError from deep inside; an unknown venue surfaced only as a ``reasons`` string.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from levguard.core.sizing.base import MarketContext, SizingState
from levguard.core.sizing.policies import VolatilityTarget
from levguard.core.sizing.venue import LiquidationBudget
from levguard.errors import InputError


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"funding_rate": math.nan}, "funding_rate"),
        ({"funding_rate": math.inf}, "funding_rate"),
        ({"funding_rate": "1e-4"}, "funding_rate"),
        ({"funding_rate": 1.5}, "funding_rate"),
        ({"funding_interval_hours": 0}, "funding_interval_hours"),
        ({"funding_interval_hours": "8"}, "funding_interval_hours"),
        ({"taker_fee_rate": -0.001}, "taker_fee_rate"),
        ({"mmr": 2.0}, "mmr"),
        ({"mmr": math.nan}, "mmr"),
        ({"venue": "binance"}, "venue"),
        ({"symbol": ""}, "symbol"),
        ({"side": 0}, "side"),
        ({"tiers": [{"mmr": 0.01}]}, "tiers"),
    ],
)
def test_market_context_refuses_bad_fields_by_name(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=field):
        MarketContext(**kwargs)  # type: ignore[arg-type]


def test_market_context_takes_long_and_short() -> None:
    assert MarketContext(side="short").side == -1  # type: ignore[arg-type]
    assert MarketContext(side="long").side == 1  # type: ignore[arg-type]


def test_a_nan_funding_rate_can_no_longer_reach_the_liquidation_budget() -> None:
    policy = LiquidationBudget(0.01, 7.0, model="gbm", max_leverage=50)
    ctx = MarketContext(venue="binance-usdm", symbol="BTCUSDT", funding_rate=1e-4)
    d = policy.decide(SizingState(equity=1e4, price=78_000, vol_forecast=0.5, context=ctx))
    assert 1.0 < d.target_leverage < 20.0
    assert d.binding_constraint != "max_leverage"
    with pytest.raises(InputError, match="funding_rate"):
        MarketContext(venue="binance-usdm", symbol="BTCUSDT", funding_rate=math.nan)


def test_the_funding_interval_is_the_venues_unless_given() -> None:
    """Hyperliquid and dYdX v4 settle funding hourly: the same funding per day, quoted per hour
    there and per 8 hours on Binance, sizes the same leverage."""
    assert MarketContext(venue="hyperliquid", symbol="BTC").funding_hours == 1.0
    assert MarketContext(venue="dydx-v4", symbol="BTC-USD").funding_hours == 1.0
    binance = MarketContext(venue="binance-usdm")
    assert (binance.funding_interval_hours, binance.funding_hours) == (None, 8.0)
    assert replace(binance, venue="hyperliquid").funding_hours == 1.0  # the new venue's, not 8 carried over
    assert MarketContext(venue="hyperliquid", funding_interval_hours=4).funding_hours == 4.0
    policy = LiquidationBudget(0.01, 7.0, model="gbm", max_leverage=50)
    hourly = MarketContext(venue="hyperliquid", symbol="BTC", mmr=0.01, funding_rate=1.25e-5)
    eight_hourly = MarketContext(venue="binance-usdm", symbol="BTCUSDT", mmr=0.01, funding_rate=1e-4)
    assert hourly.funding_rate_per_hour == pytest.approx(eight_hourly.funding_rate_per_hour)
    levs = [
        policy.decide(SizingState(equity=1e4, price=78_000, vol_forecast=0.5, context=ctx)).target_leverage
        for ctx in (hourly, eight_hourly, replace(hourly, funding_rate=0.0))
    ]
    assert levs[0] == pytest.approx(levs[1], rel=1e-9)
    assert levs[0] < levs[2]  # the funding the long pays costs leverage
    with pytest.raises(InputError, match="funding_interval_hours must be > 0, was 0"):
        MarketContext(venue="hyperliquid", funding_interval_hours=0)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: SizingState(equity="1e4"), "equity"),  # type: ignore[arg-type]
        (lambda: SizingState(equity=None), "equity"),  # type: ignore[arg-type]
        (lambda: SizingState(equity=1e4, price="60000"), "price"),  # type: ignore[arg-type]
        (lambda: VolatilityTarget("0.5"), "target_vol"),  # type: ignore[arg-type]
        (lambda: LiquidationBudget("0.01", 7.0), "max_prob"),  # type: ignore[arg-type]
    ],
)
def test_strings_for_numbers_are_input_errors(build: object, field: str) -> None:
    with pytest.raises(InputError, match=field):
        build()  # type: ignore[operator]


def test_a_venue_name_is_read_as_get_venue_reads_it() -> None:
    assert MarketContext(venue=" Binance-USDM ").venue == "binance-usdm"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("vol_forecast", -0.5, "vol_forecast must be >= 0"),
        ("vol_forecast", float("inf"), "vol_forecast must be >= 0"),
        ("vol_forecast", "x", "vol_forecast must be a number"),
        ("mu_forecast", float("inf"), "mu_forecast must be finite"),
        ("mu_forecast", "0.1", "mu_forecast must be a number"),
        ("floor", float("nan"), "floor must be finite"),
        ("floor", "x", "floor must be a number"),
        ("returns", np.zeros((40, 2)), "returns must be 1-D"),
        ("returns", ["a", "b"], r"returns must be numbers \(not bools or strings\)"),
    ],
)
def test_state_refuses_forecasts_floor_and_returns_naming_the_field(field: str, value: object, needle: str) -> None:
    """Kelly with vol_forecast=-0.5 sized 1.0x (sigma squared), "x" raised a raw ValueError and
    2-D returns a numba TypingError."""
    with pytest.raises(InputError, match=needle):
        SizingState(equity=1.0, **{field: value})  # type: ignore[arg-type]


def test_missing_vol_forecast_is_a_value_not_an_error() -> None:
    """NaN (a path's warm-up bar) and 0 give no exposure, as the paths do."""
    for vol in (float("nan"), 0.0):
        assert VolatilityTarget(0.4).decide(SizingState(equity=1.0, vol_forecast=vol)).target_leverage == 0.0


def test_state_keeps_valid_forecasts_and_reads_returns_as_float64() -> None:
    state = SizingState(equity=1.0, vol_forecast=0.5, mu_forecast=-0.2, floor=-10.0, returns=[0.01, -0.02])
    assert (state.vol_forecast, state.mu_forecast, state.floor) == (0.5, -0.2, -10.0)
    assert state.returns is not None
    assert state.returns.dtype == np.float64
    assert state.returns.shape == (2,)
