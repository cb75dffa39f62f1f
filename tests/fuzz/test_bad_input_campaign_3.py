"""Public functions of cascade, risk.forecast and data.frames found by the third bad-input campaign
(2026-12-06): each raised an exception not from levguard.errors, answered with inf or 0 prices, or
named the wrong value.  Each now raises a LevguardError naming the value, or answers right."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import levguard
from levguard.cascade import (
    Market,
    VenueSettings,
    calibrate,
    max_safe,
    path_for,
    population_from_distribution,
    simulate_path,
)
from levguard.cascade.population import Population
from levguard.errors import DataError, InputError
from levguard.risk import liquidation_forecaster, liquidation_forecasts
from levguard.risk.forecast import as_of_ns, forecaster_info, position_forecasts, short_history_note, to_hourly

BIG = 10**400
JUMP = {
    "model": "jump",
    "s0": 60_000.0,
    "sigma": 0.9,
    "n_steps": 30,
    "dt_years": 1 / 525_600,
    "seed": 7,
    "lam": 2_000.0,
    "jump_mean": -0.03,
    "jump_std": 0.03,
}
MARKET = Market(depth=2e3)


@pytest.fixture(scope="module")
def report() -> Any:
    return levguard.evaluate_account(
        {
            "venue": "binance-usdm",
            "wallet_balance": 20_000,
            "positions": [{"symbol": "BTCUSDT", "qty": 2, "entry_price": 60_000, "mark_price": 61_000, "leverage": 10}],
        }
    )


# --- 1. simulate_path's price path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        # 1e300 gave inf bad debt, liquidated notional, max price and overshoot.
        ([6e4, 1e300], "path[1] must be a finite price > 0 and <= 1e+30, was 1e+300"),
        ([6e4, BIG], "path must be an array of prices (one per step), was [60000.0, <integer of about 401"),  # Overflow
        ("x", "path must be an array of prices (one per step), was 'x'"),  # ValueError
        (None, "path must be an array of prices (one per step), was None"),
        ([6e4, float("nan")], "path[1] must be a finite price > 0 and <= 1e+30, was nan"),
        # Within the bound, a price the thin book's impact pushes past float64 is named too.
        ([6e4, 1e30], "path[1] = 1e+30 moves the price so far from the accounts' entry prices"),
    ],
)
def test_simulate_path_bounds_the_path(pop: Population, path: object, needle: str) -> None:
    with pytest.raises(InputError) as exc:
        simulate_path(pop, path, market=MARKET)
    assert needle in str(exc.value)


def test_simulate_path_keeps_valid_extreme_paths(pop: Population) -> None:
    for path in ([6e4, 1e8], [6e4, 1e-300]):
        s = simulate_path(pop, path, market=MARKET).summary
        assert all(np.isfinite(v) for v in s.values())


# --- 2. path specs: sigma and the generated prices -----------------------------------------------


@pytest.mark.parametrize(
    ("changed", "needle"),
    [
        # sigma 1e6 gave [60000, 0, 0, ...] (exp underflow).
        (
            {"sigma": 1e6},
            "sigma must be an annualised volatility from 0 to 20 (a fraction: 0.6 is 60 %), was 1000000.0",
        ),
        ({"sigma": 21}, "sigma must be an annualised volatility from 0 to 20"),
        ({"model": "garch_t", "sigma": 1e6}, "sigma must be an annualised volatility from 0 to 20"),
        ({"model": "crash", "name": "ftx", "sigma": 1e6}, "sigma must be an annualised volatility from 0 to 20"),
        # A path that leaves float64 is refused, not handed out as 0 or inf prices.
        (
            {"dt_years": 1.0, "lam": 1.0, "n_steps": 100_000, "jump_mean": -1.0},
            "the parameters give path 1 a price of 0.0",
        ),
    ],
)
def test_path_specs_bound_sigma_and_their_prices(changed: dict[str, Any], needle: str) -> None:
    spec = {**JUMP, **changed}
    if spec["model"] != "jump":
        spec = {k: v for k, v in spec.items() if k not in ("lam", "jump_mean", "jump_std", "dt_years")}
        if spec["model"] == "garch_t":
            spec["dt_years"] = JUMP["dt_years"]
        else:
            spec = {k: spec[k] for k in ("model", "name", "s0", "n_steps", "seed", "sigma")}
    with pytest.raises(InputError) as exc:
        path_for(spec, 1)
    assert needle in str(exc.value)


def test_path_specs_keep_the_edges_of_sigma() -> None:
    for sigma in (0, 0.0, 20, 20.0):
        p = path_for({**JUMP, "sigma": sigma}, 1)
        assert np.isfinite(p).all()
        assert (p > 0).all()


# --- 3. max_safe's epsilon ----------------------------------------------------------------------


@pytest.mark.parametrize("epsilon", [float("nan"), -1, 2, "x", None])
def test_max_safe_epsilon_is_a_probability(pop: Population, epsilon: object) -> None:
    # NaN answered (every cap unsafe), -1 and 2 were accepted.
    with pytest.raises(InputError, match="epsilon must"):
        max_safe(pop, JUMP, 2, "max_leverage", 1, 50, market=MARKET, epsilon=epsilon)  # type: ignore[arg-type]


def test_calibrate_epsilon_is_checked_the_same_way(pop: Population) -> None:
    with pytest.raises(InputError, match="epsilon must be finite and >= 0 and <= 1, was nan"):
        calibrate(pop, JUMP, 2, {"max_leverage": [5.0]}, market=MARKET, epsilon=float("nan"))


# --- 4. population_from_distribution ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changed", "needle"),
    [
        # Each was an OverflowError in _check_number.
        ({"price": BIG}, "price must be a number within float64 range (|x| < 1.8e308), was <integer of about 401"),
        ({"long_share": BIG}, "long_share must be a number within float64 range"),
        ({"notional": (BIG, 1.0)}, "notional median must be a number within float64 range"),
        ({"entry_spread": BIG}, "entry_spread must be a number within float64 range"),
        ({"max_leverage": BIG}, "max_leverage must be a number within float64 range"),
        ({"mmr": BIG}, "mmr must be a number within float64 range"),
        ({"total_notional": BIG}, "total_notional must be a number within float64 range"),
        # A price is an amount: at most 1e30, as everywhere else.
        ({"price": 1e300}, "price must be in (0, 1e+30], was 1e+300"),
        # n: 10**400 was a NumPy ValueError.
        ({"n": BIG}, "n must be at most 100,000,000, was <integer of about 401 digits>"),
        ({"n": 100_000_001}, "n must be at most 100,000,000, was 100000001"),
    ],
)
def test_population_numbers_are_bounded(changed: dict[str, Any], needle: str) -> None:
    kwargs: dict[str, Any] = {"n": 50, "price": 60_000.0, "seed": 3, **changed}
    with pytest.raises(InputError) as exc:
        population_from_distribution(kwargs.pop("n"), **kwargs)
    assert needle in str(exc.value)


# --- 5. VenueSettings.oracle ----------------------------------------------------------------------


def test_venue_oracle_is_checked(pop: Population) -> None:
    path = path_for(JUMP, 1)
    with pytest.raises(InputError, match=r"venue\.oracle must be None, a mapping .* was 'x'"):
        VenueSettings(oracle="x")  # was a ValueError in oracle_matrix, at the first simulation
    with pytest.raises(InputError, match=r"venue.oracle\[0, 0\] must be a multiplier > 0 \(NaN: source missing\)"):
        simulate_path(pop, path, market=MARKET, venue=VenueSettings(oracle=-np.ones((31, 2))))
    with pytest.raises(InputError, match=r"venue\.oracle must be an array"):
        simulate_path(pop, path, market=MARKET, venue=VenueSettings(oracle=[[1.0, "x"]] * 31))
    with pytest.raises(InputError, match=r"venue\.oracle\.corrupt must be a list of mappings"):
        simulate_path(pop, path, market=MARKET, venue=VenueSettings(oracle={"sources": 2, "corrupt": ["x"]}))
    # A valid matrix (NaN: a source missing) still runs.
    ok = np.ones((31, 3))
    ok[:, 0] = np.nan
    res = simulate_path(pop, path, market=MARKET, venue=VenueSettings(oracle=ok))
    assert np.isfinite(res.steps["mark"]).all()


# --- 6. risk.forecast -------------------------------------------------------------------------


def test_position_forecasts_arguments_are_checked(bars: pd.DataFrame, report: Any) -> None:
    f = liquidation_forecaster(bars)
    for call, needle in (
        (lambda: position_forecasts(report, f, None), "horizons must be a sequence of days in (0, 30], was None"),
        (lambda: position_forecasts(report, f, 7), "horizons must be a sequence of days in (0, 30], was 7"),
        (lambda: position_forecasts(None, f), "report must be an AccountReport or a sequence of PositionReport"),
        (lambda: position_forecasts("abc", f), "report must be an AccountReport or a sequence of PositionReport"),
        (lambda: position_forecasts([1], f), "report[0] must be a PositionReport, was 1"),
        (lambda: position_forecasts(report, None), "forecaster must be a fitted model"),
    ):
        with pytest.raises(InputError) as exc:
            call()  # type: ignore[no-untyped-call]
        assert needle in str(exc.value)
    # No horizons: rows without probabilities (was a NumPy ValueError), as for no positions.
    (row,) = position_forecasts(report, f, ())
    assert row["symbol"] == "BTCUSDT"
    assert not any(k.startswith("p_liq_") for k in row)
    assert position_forecasts(report, f, [1, 7])[0]["p_liq_7d"] >= position_forecasts(report, f, [1])[0]["p_liq_1d"]


def test_to_hourly_checks_the_price_columns(bars: pd.DataFrame) -> None:
    m = bars.resample("15min").ffill()
    m.attrs = {}
    with pytest.raises(DataError, match=r"bars lacks column\(s\) \['close'\]"):
        to_hourly(m.drop(columns="close"))  # a KeyError
    with pytest.raises(DataError, match=r"bars lacks column\(s\) \['high'\]"):
        to_hourly(m.drop(columns="high"))  # returned a frame without high
    text = m.assign(high=m["high"].astype(object).where(m.index != m.index[3], "x"))
    with pytest.raises(DataError, match=r"bars high must be numeric, was of dtype object at .*: 'x'"):
        to_hourly(text)  # a pandas TypeError
    assert list(to_hourly(m.drop(columns="open")).columns) == ["high", "low", "close"]  # open is optional


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda f: forecaster_info(f, as_of="abc"), "as_of must be a timestamp, was 'abc'"),  # DateParseError
        (lambda f: short_history_note(None), "info must be forecaster_info's mapping, was None"),  # AttributeError
        # Each was "as_of must be timezone-aware (UTC), was naive".
        (lambda f: as_of_ns(pd.NaT), "as_of must be a timezone-aware timestamp or a sequence of them, was NaT"),
        (lambda f: as_of_ns(None), "as_of must be a timezone-aware timestamp or a sequence of them, was None"),
        (lambda f: as_of_ns(5), "as_of must be a timezone-aware timestamp or a sequence of them, was 5"),
        (lambda f: as_of_ns(float("nan")), "as_of must be a timezone-aware timestamp or a sequence of them, was nan"),
        (lambda f: as_of_ns([]), "as_of must hold at least one timestamp, was []"),
        (lambda f: as_of_ns(pd.Timestamp("2024-01-01")), "as_of must be timezone-aware (UTC), was naive: Timestamp("),
    ],
)
def test_forecast_helpers_name_bad_values(bars: pd.DataFrame, call: Callable[[Any], Any], needle: str) -> None:
    f = liquidation_forecaster(bars)
    with pytest.raises(InputError) as exc:
        call(f)
    assert needle in str(exc.value)


def test_as_of_before_the_first_bar_is_named_in_iso_time(bars: pd.DataFrame) -> None:
    early = bars.index[0] - pd.Timedelta("5h")
    needle = "as_of 2020-12-31T19:00:00+00:00 is before the first bar closed (2021-01-01T01:00:00+00:00)"
    with pytest.raises(InputError) as exc:  # was in raw ns
        liquidation_forecasts(bars, early, "long", 0.05, 1)
    assert needle in str(exc.value)
    with pytest.raises(InputError, match="is before the first bar closed"):
        liquidation_forecaster(bars, early)


# --- 7. data.frames: the mark columns are named ---------------------------------------------------


def test_a_bad_mark_close_is_named(bars: pd.DataFrame) -> None:
    b = bars.iloc[:100].copy()
    for c in ("high", "low", "close"):
        b[f"mark_{c}"] = b[c]
    b.iloc[5, b.columns.get_loc("mark_close")] = np.nan
    with pytest.raises(InputError) as exc:  # was "bars close must be finite"
        liquidation_forecasts(b, b.index[-1], "long", 0.05, 1)
    assert "bars mark_close must be finite and > 0, was np.float64(nan) at row 5" in str(exc.value)
    b.iloc[5, b.columns.get_loc("mark_close")] = 3 * b["mark_high"].iat[5]
    with pytest.raises(InputError, match=r"bars mark_close must lie within \[mark_low, mark_high\]"):
        liquidation_forecasts(b, b.index[-1], "long", 0.05, 1)
    b = bars.iloc[:100].copy()
    b.iloc[5, b.columns.get_loc("close")] = np.nan  # without marks the close is named, as before
    with pytest.raises(InputError, match="bars close must be finite and > 0"):
        liquidation_forecasts(b, b.index[-1], "long", 0.05, 1)
