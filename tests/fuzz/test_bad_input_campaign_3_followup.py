"""Findings of the third bad-input campaign left open: a Monte Carlo whose cascade overflows
float64, bools and numeric strings read as numbers by the forecasts, flags that took any value,
and a NaN volatility forecast as a confident 0.  Each now raises InputError naming the argument,
or answers NaN (no forecast)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from levguard.cascade import Market, calibrate, monte_carlo, simulate_path
from levguard.cascade.population import Population
from levguard.core.risk.excursion import (
    HORIZON_GRID_HOURS,
    ExcursionForecaster,
    ExcursionParams,
    excursion_probabilities,
    reference_distribution,
)
from levguard.errors import InputError
from levguard.risk import liquidation_forecaster, liquidation_forecasts
from levguard.risk.forecast import position_forecasts
from levguard.risk.validation import validate_liquidation

MARKET = Market(depth=2e3)
GBM = {"model": "gbm", "s0": 60_000.0, "sigma": 0.0, "mu": 0.0, "n_steps": 2, "dt_years": 1.0, "seed": 1}


# --- 1. monte_carlo: a cascade that overflows float64 ----------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        # A drift within its bounds (any finite mu): prices of about 1e22 by the second step, whose
        # liquidations on a 2,000-unit book gave inf mean bad debt and NaN quantiles.
        {**GBM, "mu": 20.0},
        {"model": "user", "path": [60_000.0, 1e30]},
    ],
)
def test_monte_carlo_refuses_a_cascade_that_overflows(pop: Population, spec: dict[str, Any]) -> None:
    with pytest.raises(InputError) as exc:
        monte_carlo(pop, spec, 2, market=MARKET)
    msg = str(exc.value)
    assert msg.startswith(f"the path spec paths = {{'{sorted(spec)[0]}'")
    assert "and market.depth 2000.0 overflow float64: path 0 moves the price so far" in msg
    assert "bad_debt is inf" in msg
    # calibrate and max_safe run monte_carlo: the same error, not an inf row.
    with pytest.raises(InputError, match="overflow float64"):
        calibrate(pop, spec, 2, {"mmr": [0.005]}, market=MARKET)


def test_monte_carlo_keeps_large_finite_cascades(pop: Population) -> None:
    for spec in ({**GBM, "mu": 2.0}, {"model": "user", "path": [60_000.0, 1e8]}):
        agg = monte_carlo(pop, spec, 2, market=MARKET).aggregates
        assert all(np.isfinite(v) for v in agg.values())


# --- 2. bools and numeric strings are not numbers ----------------------------------------------


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        # Each was read as a number: True as a 100 % distance (P = 0), "0.05" as 5 %.
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", True, 1), "distance must be numbers"),
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", "0.05", 1), "was '0.05'"),
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", ["0.05", 0.1], 1), "was ['0.05', 0.1]"),
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", [0.05, True], 1), "distance must be numbers"),
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", np.array([True]), 1), "distance must be"),
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", 0.05, "1"), "horizon_days must be numbers"),
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", 0.05, True), "horizon_days must be numbers"),
        (lambda b, f: liquidation_forecasts(b, b.index[-1], "long", 0.05, ["7"]), "horizon_days must be numbers"),
        (lambda b, f: f.prob(1, True, 24), "distance must be numbers (not bools or strings), was True"),
        (lambda b, f: f.prob(1, "0.05", 24), "distance must be numbers (not bools or strings), was '0.05'"),
        (lambda b, f: f.prob(1, 0.05, "24"), "hours must be numbers (not bools or strings), was '24'"),
        (lambda b, f: f.prob(1, 0.05, True), "hours must be numbers (not bools or strings), was True"),
    ],
)
def test_bools_and_strings_are_not_distances_or_horizons(
    bars: pd.DataFrame, call: Callable[..., Any], needle: str
) -> None:
    forecaster = liquidation_forecaster(bars)
    with pytest.raises(InputError) as exc:
        call(bars, forecaster)
    assert needle in str(exc.value)


def test_position_forecasts_refuses_string_horizons(bars: pd.DataFrame) -> None:
    import levguard

    report = levguard.evaluate_account(
        {
            "venue": "binance-usdm",
            "wallet_balance": 20_000,
            "positions": [{"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10}],
        }
    )
    f = liquidation_forecaster(bars)
    for horizons in (["1"], [True, 7]):
        with pytest.raises(InputError, match=r"horizon_days must be numbers \(not bools or strings\)"):
            position_forecasts(report, f, horizons)
    assert "p_liq_7d" in position_forecasts(report, f, [np.float64(7)])[0]


def test_numbers_in_any_container_still_pass(bars: pd.DataFrame) -> None:
    t = bars.index[-1]
    expected = liquidation_forecasts(bars, t, "long", [0.05, 0.1], [1, 7])
    for d, h in (
        (np.array([0.05, 0.1]), np.array([1, 7])),
        (pd.Series([0.05, 0.1]), pd.Series([1.0, 7.0])),
        ((np.float64(0.05), Decimal("0.1")), [np.int64(1), 7]),
        (np.array([0.05, 0.1], dtype=object), (1, 7)),
    ):
        np.testing.assert_array_equal(liquidation_forecasts(bars, t, "long", d, h), expected)
    from levguard.core.validate import float_values

    assert float_values(3, "x").tolist() == [3.0]
    with pytest.raises(InputError, match="x must be numbers within float64 range, was <integer of about 401 digits>"):
        float_values(10**400, "x")


# --- 3. flags and callbacks ---------------------------------------------------------------------


def test_flags_must_be_bools(pop: Population, bars: pd.DataFrame) -> None:
    for call, needle in (
        (lambda: simulate_path(pop, [6e4, 5.9e4], market=MARKET, naive="x"), "naive must be True or False, was 'x'"),
        (lambda: monte_carlo(pop, GBM, 2, market=MARKET, progress="x"), "progress must be True or False, was 'x'"),
        (
            lambda: calibrate(pop, GBM, 2, {"mmr": [0.005]}, market=MARKET, progress="x"),
            "progress must be True or False, was 'x'",
        ),
        (lambda: validate_liquidation(bars, by_side="x"), "by_side must be True or False, was 'x'"),
        (lambda: validate_liquidation(bars, by_leverage=1), "by_leverage must be True or False, was 1"),
        # A TypeError ('str' object is not callable) at the first step.
        (lambda: validate_liquidation(bars, progress="x"), "progress must be a callable"),
    ):
        with pytest.raises(InputError) as exc:
            call()  # type: ignore[no-untyped-call]
        assert needle in str(exc.value)


def test_simulate_market_naive_must_be_a_bool() -> None:
    from levguard.cascade.market import MarketSpec, MarketVenue, simulate_market
    from levguard.cascade.market_population import random_market_population

    pop = random_market_population(20, [60_000.0], n_venues=1, seed=1)
    spec = MarketSpec(["BTC"], [MarketVenue("a", Market(depth=3e3))])
    with pytest.raises(InputError, match="naive must be True or False, was 'x'"):
        simulate_market(pop, np.linspace(60_000.0, 50_000.0, 5), spec, naive="x")


# --- 4. a NaN volatility is no forecast, not P = 0 ----------------------------------------------


def test_nan_volatility_is_no_forecast() -> None:
    dists = [reference_distribution(k) for k in range(len(HORIZON_GRID_HOURS))]
    sigma = np.array([np.nan, np.nan, 0.01, 0.0])
    barrier = np.array([0.05, 0.0, 0.05, 0.05])
    p = excursion_probabilities(dists, sigma, barrier, np.full(4, 24))
    assert np.isnan(p[0])  # was 0.0
    assert p[1] == 1.0  # at the liquidation price whatever the volatility
    assert 0.0 < p[2] < 1.0
    assert p[3] == 0.0  # a price that does not move
    out = ExcursionForecaster(float("nan"), tuple(dists)).prob(1, [0.05, 0.0], 24)
    assert np.isnan(out[0])
    assert out[1] == 1.0


def test_liquidation_forecasts_without_a_volatility_yet_are_nan(bars: pd.DataFrame) -> None:
    # variance="close" has no return at the first bar's close: its forecast was a confident 0.
    t = bars.index[0] + pd.Timedelta(hours=1)
    p = liquidation_forecasts(
        bars, [t, t + pd.Timedelta(hours=1)], "long", 0.05, 1, params=ExcursionParams(variance="close")
    )
    assert np.isnan(p[0])
    assert 0.0 <= p[1] <= 1.0
    assert liquidation_forecasts(bars, t, "long", 0.0, 1, params=ExcursionParams(variance="close"))[0] == 1.0
