"""Public functions of backtest, data, sizing and defi that a second bad-input campaign (2026-12-06)
broke: each raised an exception not from levguard.errors, or answered with NaN or a wrong number.
Each now raises a LevguardError naming the value, or answers right."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fuzz_inputs import MORPHO

import levguard
from levguard import backtest as bt
from levguard import sizing
from levguard.config.policies import load_policy_file
from levguard.data import align_funding, build_index_frame, synth_market
from levguard.defi import positions, rates
from levguard.defi.analytics import liquidation_price
from levguard.errors import ConfigError, DataError, InputError, LevguardError


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return synth_market(years=0.1, seed=1, interval="1h").ohlcv


def _bars(hourly: pd.DataFrame) -> pd.DataFrame:
    d = hourly.iloc[:120].copy()
    d.attrs = {}
    return d


def _metrics(**changed: Any) -> dict[str, float]:
    args: dict[str, Any] = {
        "equity": np.array([1_000.0, 1_010.0, 990.0]),
        "initial_equity": 1_000.0,
        "periods_per_year": 365.0,
        "leverage": np.ones(3),
        "fees": np.zeros(3),
        "funding": np.zeros(3),
        "traded_notional": 0.0,
        "n_liquidations": 0,
        **changed,
    }
    return bt.compute_metrics(args.pop("equity"), args.pop("initial_equity"), args.pop("periods_per_year"), **args)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        # compute_metrics read None as a NaN equity and 0 as an infinite return.
        (lambda: _metrics(equity=None), "equity must be a 1-D array of numbers, was None"),
        (lambda: _metrics(initial_equity=0.0), "initial_equity must be > 0, was 0.0"),
        (lambda: _metrics(ruin_index=5), "ruin_index must be an integer in [0, 3), was 5"),
        (lambda: _metrics(leverage=np.ones(2)), "leverage must have one value per bar of equity (3), had 2"),
        (lambda: _metrics(n_liquidations=float("nan")), "n_liquidations must be an integer"),
        (lambda: _metrics(traded_notional="x"), "traded_notional must be a number, was 'x'"),
        (lambda: _metrics(equity=np.array([1_000.0, np.nan, 990.0])), "equity[1] must be finite, was nan"),
        # An integer past float64's range was an OverflowError in the shared validators.
        (lambda: sizing.FixedLeverage(10**400), "leverage must be a number within float64 range"),
        (
            lambda: levguard.isolated_liquidation_prices(
                [10**400], [6e4], [3e3], [{"mmr": 0.004, "max_leverage": 125}]
            ),
            "qty must be an array of numbers within float64 range, was [<integer of about 401 digits>]",
        ),
        (
            lambda: levguard.isolated_liquidation_prices(None, [6e4], [3e3], [{"mmr": 0.004, "max_leverage": 125}]),
            "qty must be a number or an array of numbers, was None",
        ),
        # An APR that compounds past float64 was an OverflowError ("math range error").
        (lambda: rates.apr_to_apy(1_000.0, "continuous"), "apr compounds past float64's range"),
        (lambda: rates.borrow_apy(10**30, "wad_per_second"), "apr compounds past float64's range"),
        (lambda: rates.apr_to_apy(10**400, "none"), "apr must be a finite number >= 0, was <integer of about 401"),
    ],
)
def test_bad_values_raise_input_error_naming_them(call: Callable[[], Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        call()
    assert needle in str(exc.value)


def test_valid_metrics_are_unchanged_by_the_checks() -> None:
    m = _metrics()
    assert m["total_return"] == pytest.approx(-0.01)
    ruined = _metrics(equity=np.array([1_000.0, 0.0, np.nan]), ruin_index=1)  # bars after the ruin do not count
    assert ruined["total_return"] == -1.0


@pytest.mark.parametrize(
    ("changed", "needle"),
    [
        # A slippage of 1e308 bps filled at -inf: the equity curve ended NaN.
        ({"slippage": 1e308}, "slippage: bps must be in [0, 10000), was 1e+308"),
        ({"slippage": {"bps": 0, "impact": 1e308}}, "slippage: impact coefficient must be in [0, 10], was 1e+308"),
        ({"slippage": {"bps": "x"}}, "slippage: bps must be a number, was 'x'"),
        ({"liquidation_first": "no"}, "liquidation_first must be True or False, was 'no'"),  # "no" was truthy
        ({"check_initial_margin": 1}, "check_initial_margin must be True or False, was 1"),
        ({"cooldown_bars": 10**400}, "cooldown_bars must be an integer from 0 to 2,147,483,647"),
        ({"initial_equity": 10**400}, "initial_equity must be a number within float64 range"),
        ({"fees": 10**400}, "fees must be a number within float64 range"),
        ({"fees": {"taker": None}}, "fees: taker must be a number, was None"),
    ],
)
def test_backtest_arguments_raise_input_error(hourly: pd.DataFrame, changed: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        bt.run(_bars(hourly), np.r_[np.ones(60), -np.ones(60)], 3.0, **changed)
    assert needle in str(exc.value)


def test_the_bounds_keep_real_slippage(hourly: pd.DataFrame) -> None:
    res = bt.run(_bars(hourly), np.r_[np.ones(60), -np.ones(60)], 3.0, slippage={"bps": 9_999.0, "impact": 10.0})
    assert np.isfinite(res.equity.to_numpy()).all()


# --- Data helpers ---------------------------------------------------------------------------


def test_oracle_index_weights_and_arguments_are_checked() -> None:
    idx = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC")
    f = pd.Series(np.linspace(100.0, 101.0, 5), index=idx)
    sources = {"a": f, "b": f, "c": f}
    # A negative, NaN or all-zero weight silently halted every row.
    for weights, needle in (
        ({"a": -1.0, "b": 1, "c": 1}, "weights['a'] must be >= 0, was -1.0"),
        ({"a": float("nan"), "b": 1, "c": 1}, "weights['a'] must be >= 0, was nan"),
        ({"a": "x", "b": 1, "c": 1}, "weights['a'] must be a number, was 'x'"),
        ({"a": 0, "b": 0, "c": 0}, "weights must not all be 0"),
    ):
        with pytest.raises(LevguardError) as exc:
            build_index_frame(sources, weights=weights)
        assert needle in str(exc.value)
    with pytest.raises(DataError, match="config must be an OracleConfig or None, was str"):
        build_index_frame(sources, config="x")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"column must be a column name, was \['close'\]"):
        build_index_frame(sources, column=["close"])  # type: ignore[arg-type]
    # One zero weight stays allowed: that source is left out (three others meet the breaker's 3).
    out = build_index_frame({**sources, "d": f}, weights={"a": 0, "b": 1, "c": 1, "d": 2})
    assert (out["status"] == "ok").all()
    assert not out["a_used"].any()


def test_funding_on_no_bars_is_a_data_error(hourly: pd.DataFrame) -> None:
    funding = synth_market(years=0.1, seed=1, interval="1h").funding
    with pytest.raises(DataError, match="bars must hold at least one bar"):  # was an IndexError
        align_funding(funding, hourly.iloc[:0])


# --- Calibration searches, DeFi units, policies (afternoon findings) ------------------------

_R = np.random.default_rng(0).normal(0.0, 0.01, 50)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        # Each was a TypeError, AttributeError, OverflowError or ValueError from NumPy or Python.
        (lambda: sizing.evaluate_path(np.ones(3), np.zeros(3), None), "periods_per_year must be a number, was None"),
        (lambda: sizing.evaluate_path(np.ones(3), "abc", 365.0), "returns must be a 1-D array of numbers, was str"),
        (
            lambda: sizing.evaluate_path(10**400, np.zeros(3), 365.0),
            "leverage must be an array of numbers, was <integer",
        ),
        (lambda: sizing.evaluate_path(np.ones(3), np.zeros(3), 365.0, funding="x"), "funding must be a 1-D array"),
        (lambda: sizing.evaluate_path(np.ones(3), np.zeros(3), 365.0, side=np.ones(2)), "side must be 1 (long) or -1"),
        # A negative or bool start was accepted; True was read as 1.0 for the maintenance rate.
        (lambda: sizing.evaluate_path(np.ones(3), np.zeros(3), 365.0, start=-1), "window must satisfy 1 <= start"),
        (lambda: sizing.evaluate_path(np.ones(3), np.zeros(3), 365.0, start=True), "start and stop must be integers"),
        (
            lambda: sizing.evaluate_path(np.ones(3), np.zeros(3), 365.0, maint_margin_rate=True),
            "maint_margin_rate must be a number, was True",
        ),
        (
            lambda: sizing.grid_search(sizing.FixedLeverage, {"leverage": [1, 2]}, _R, 365.0, window=None),
            "window must be a (start, stop) pair, was None",
        ),
        (
            lambda: sizing.grid_search(sizing.FixedLeverage, {"leverage": [1, 2]}, _R, 365.0, constraints="x"),
            "constraints must be a mapping",
        ),
        (
            lambda: sizing.grid_search(sizing.FixedLeverage, {"lev": [1, 2]}, _R, 365.0),
            "names parameter 'lev', which FixedLeverage does not take",
        ),
        (lambda: sizing.grid_search(None, {"leverage": [1]}, _R, 365.0), "policy_factory must be a callable"),
        (
            lambda: sizing.random_search(sizing.FixedLeverage, {"leverage": (0.5, np.inf)}, 3, 0, np.zeros(10), 365.0),
            "param_space['leverage'] bound must be finite, was inf",
        ),
        (
            lambda: sizing.random_search(sizing.FixedLeverage, {"leverage": (0.5, 3.0)}, 10**400, 0, _R, 365.0),
            "n must be a positive integer up to 1,000,000, was <integer",
        ),
        (
            lambda: sizing.random_search(sizing.FixedLeverage, {"leverage": (0.5, 3.0)}, 3, "x", _R, 365.0),
            "seed must be a non-negative integer or None, was 'x'",
        ),
        (
            lambda: sizing.screen_walk_forward(
                sizing.FixedLeverage, {"leverage": [1]}, _R, 365.0, train=20, test=10, constraints={"max_drawdown": "x"}
            ),
            "constraints['max_drawdown'] must be a number, was 'x'",
        ),
        # Token decimals of None, NaN or -inf were a TypeError, ValueError or OverflowError.
        (lambda: positions.to_units(1, None, "amount"), "decimals must be an integer (0 to 36), was None"),
        (lambda: positions.to_units(1, float("nan"), "amount"), "decimals must be an integer (0 to 36), was nan"),
        (lambda: positions.to_units(1, float("-inf"), "amount"), "decimals must be an integer (0 to 36), was -inf"),
        # A price of 1e400 gave an oracle price past uint256: an OverflowError in the analytics.
        (lambda: liquidation_price({**MORPHO, "collateral_price": 10**400}), "collateral_price must be at most 1e+30"),
        (lambda: liquidation_price({**MORPHO, "collateral_price": "1e400"}), "was '1e400'"),
        (lambda: liquidation_price({**MORPHO, "loan_price": 10**400}), "loan_price must be at most 1e+30"),
        # A mapping was an AttributeError ('dict' object has no attribute 'type').
        (lambda: sizing.build_policy({"type": "fixed", "leverage": 2}), "build_policy needs a validated policy config"),
        (lambda: bt.best(None), "table must be a sweep table (a pandas DataFrame), was NoneType"),
        # A negative target was held as given, a NaN one read as 0 (leverage is >= 0).
        (lambda: sizing.Rebalancer().apply(1.0, -1.0, 1e4), "target must be >= 0, was -1.0"),
        (lambda: sizing.Rebalancer().apply(1.0, float("nan"), 1e4), "target must be finite, was nan"),
    ],
)
def test_search_defi_and_policy_arguments_raise_input_error(call: Callable[[], Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        call()
    assert needle in str(exc.value)


def test_valid_search_and_defi_calls_still_answer() -> None:
    assert sizing.evaluate_path(np.ones(3), np.zeros(3), 365.0, start=0).n_bars == 2  # 0 reads as 1, as before
    res = sizing.grid_search(
        sizing.FixedLeverage, {"leverage": [1, 2]}, _R, 365.0, constraints={"allow_liquidation": 1.0}
    )
    assert res.best_params is not None
    assert sizing.random_search(sizing.FixedLeverage, {"leverage": (1, 3)}, 3, None, _R, 365.0).table.shape[0] == 3
    assert positions.to_units("1.5", 6, "amount") == 1_500_000
    assert liquidation_price({**MORPHO, "collateral_price": 1e30}).price is not None
    assert sizing.Rebalancer().apply(1.0, 2.0, 1e4) == 2.0
    with pytest.raises(ConfigError, match="path must be a file path"):
        load_policy_file(None)  # type: ignore[arg-type]


def test_an_order_many_times_a_thin_bars_volume_sells_at_a_positive_price() -> None:
    # Found while checking the bounds: with impact 1 and a bar volume of 0.001 BTC, a short's
    # entry slipped by more than 100 %: it sold at a negative price, the traded notional was
    # negative and compute_metrics refused it.  The slippage fraction is capped at 0.99, and the
    # fill is bounded by its bar's traded range: the sell gets the bar's low (it filled at 1 % of
    # the open, far below anything the bar traded, until the bound; docs/backtest.md step 3).
    from levguard.kernels.backtest_orders import SLIP_MAX, slippage_fraction

    assert slippage_fraction(1.0, 1e-3, 1.0, 1.0) == SLIP_MAX == 0.99
    assert slippage_fraction(1.0, 1e4, 1.0, 0.1) == pytest.approx(1e-4 + 0.1 * 0.01)
    bars = synth_market(years=0.02, seed=1, interval="1h").ohlcv.iloc[:48].copy()
    bars.attrs = {}
    bars["volume"] = 1e-3
    res = bt.run(bars, -np.ones(48), 3.0, slippage={"bps": 1, "impact": 1.0})
    fill = res.trades.iloc[0]
    assert fill["price"] == bars["low"].iloc[1]
    assert np.isfinite(res.metrics["total_return"])
