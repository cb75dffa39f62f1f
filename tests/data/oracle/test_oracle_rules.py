"""Unit tests of the oracle rules (levguard.core.oracle): one test per rule, known numbers."""

from __future__ import annotations

import doctest
import math
from types import MappingProxyType

import numpy as np
import pytest

import levguard.core.oracle
from levguard.core.oracle import (
    EIGHT_HOURS_NS,
    OracleConfig,
    SourceQuote,
    aggregate_index,
    delivery_mark,
    mark_price,
    moving_average_basis,
    weighted_median,
)
from levguard.errors import InputError

S = 1_000_000_000
NOW = 1_700_000_000 * S
HOUR = 3_600 * S


def quotes(*rows: tuple[str, float] | tuple[str, float, float] | tuple[str, float, float, int]) -> list[SourceQuote]:
    """(name, price[, weight[, age in ns]]) rows -> quotes stamped relative to NOW."""
    out = []
    for row in rows:
        name, price = row[0], row[1]
        weight = row[2] if len(row) > 2 else 1.0
        age = row[3] if len(row) > 3 else 0
        out.append(SourceQuote(name, price, weight, NOW - age))
    return out


# --------------------------------------------------------------------------- index: combination
def test_weighted_mean_of_fresh_sources() -> None:
    r = aggregate_index(quotes(("a", 100.0, 1.0), ("b", 101.0, 1.0), ("c", 99.0, 2.0)), NOW)
    assert r.status == "ok"
    assert r.price == pytest.approx((100.0 + 101.0 + 2 * 99.0) / 4, rel=1e-15)
    assert r.used == ("a", "b", "c")
    assert dict(r.dropped) == {}
    assert r.deviating == ()
    assert r.median == 100.0
    assert r.detail == "weighted mean of 3 source(s)"
    assert r.ok


def test_weights_are_relative() -> None:
    a = aggregate_index(quotes(("a", 100.0, 1.0), ("b", 102.0, 3.0), ("c", 101.0, 4.0)), NOW)
    b = aggregate_index(quotes(("a", 100.0, 1e6), ("b", 102.0, 3e6), ("c", 101.0, 4e6)), NOW)
    assert a.price == pytest.approx(b.price, rel=1e-15)
    assert a.price == pytest.approx((100 + 306 + 404) / 8, rel=1e-15)


@pytest.mark.parametrize(
    ("prices", "weights", "expected"),
    [
        ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], 2.0),  # odd count, equal weights: the middle
        ([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0], 2.5),  # even count: midpoint of the middle two
        ([1.0, 2.0, 3.0], [1.0, 1.0, 3.0], 3.0),  # a weight above half wins
        ([1.0, 2.0, 3.0], [1.0, 3.0, 1.0], 2.0),
        ([1.0, 2.0, 3.0, 10.0], [1.0, 2.0, 2.0, 1.0], 2.5),  # cumulative weight exactly half at 2.0
        ([1.0, 2.0, 3.0, 10.0], [1.0, 2.0, 2.5, 1.0], 3.0),  # first cumulative weight above half
        ([1.0, 2.0, 3.0, 4.0], [0.1, 0.7, 0.3, 0.5], 2.5),  # 0.1 + 0.7 != 1.6 / 2 in float64: still a tie
        ([5.0, 1.0, 3.0], [1.0, 1.0, 1.0], 3.0),  # unsorted input
        ([7.0], [0.5], 7.0),
    ],
)
def test_weighted_median_definition(prices: list[float], weights: list[float], expected: float) -> None:
    assert weighted_median(prices, weights) == pytest.approx(expected, rel=1e-15)


def test_weighted_median_method_in_the_index() -> None:
    cfg = OracleConfig(method="weighted_median")
    r = aggregate_index(quotes(("a", 100.0, 1.0), ("b", 101.0, 1.0), ("c", 102.0, 3.0)), NOW, cfg)
    assert (r.price, r.status) == (102.0, "ok")
    r = aggregate_index(quotes(("a", 100.0), ("b", 101.0), ("c", 102.0), ("d", 103.0)), NOW, cfg)
    assert r.price == 101.5


@pytest.mark.parametrize(("prices", "weights"), [([], []), ([1.0], [1.0, 2.0]), ([1.0], [0.0]), ([math.nan], [1.0])])
def test_weighted_median_rejects_bad_input(prices: list[float], weights: list[float]) -> None:
    with pytest.raises(InputError):
        weighted_median(prices, weights)


# --------------------------------------------------------------------------- index: deviation rule
def test_one_deviating_source_gets_zero_weight_and_weights_renormalise() -> None:
    r = aggregate_index(quotes(("a", 100.0, 1.0), ("b", 101.0, 1.0), ("c", 99.0, 2.0), ("d", 120.0, 1.0)), NOW)
    assert r.status == "ok"
    assert r.median == 100.5
    assert r.used == ("a", "b", "c")
    assert r.deviating == ("d",)
    assert dict(r.dropped) == {"d": "deviation 19.4% > 5.0% from median 100.50"}
    assert r.price == pytest.approx((100.0 + 101.0 + 2 * 99.0) / 4, rel=1e-15)
    assert r.detail == "weighted mean of 3 source(s); d zero-weighted (deviation 19.4% > 5.0% from median 100.50)"


def test_deviation_reason_with_binance_scale_numbers() -> None:
    r = aggregate_index(
        quotes(("binance", 60_000.0), ("okx", 60_030.0), ("coinbase", 59_990.0), ("kraken", 63_660.0)), NOW
    )
    assert dict(r.dropped) == {"kraken": "deviation 6.1% > 5.0% from median 60,015.00"}


def test_exactly_at_the_threshold_is_not_a_deviation() -> None:
    # Binance: "deviates *more than* 5%".  |105 - 100| / 100 == 0.05 exactly in float64.
    r = aggregate_index(quotes(("a", 100.0), ("b", 100.0), ("c", 100.0), ("d", 105.0), ("e", 100.0)), NOW)
    assert r.status == "ok"
    assert r.deviating == ()
    assert r.price == pytest.approx(101.0, rel=1e-15)


def test_more_than_one_deviating_source_falls_back_to_the_median() -> None:
    r = aggregate_index(
        quotes(("a", 100.0, 5.0), ("b", 100.5, 1.0), ("c", 99.5, 1.0), ("d", 120.0, 1.0), ("e", 80.0, 1.0)), NOW
    )
    assert r.status == "fallback_median"
    assert r.price == 100.0 == r.median
    assert r.used == ("a", "b", "c", "d", "e")  # the median is taken over all fresh sources
    assert r.deviating == ("d", "e")
    assert dict(r.dropped) == {}
    assert r.detail == "2 sources deviate more than 5.0% from median 100.00 (d, e): median of 5 fresh sources used"


def test_fallback_median_of_an_even_count_is_the_midpoint_and_ignores_stale_sources() -> None:
    r = aggregate_index(
        quotes(("a", 100.0), ("b", 102.0), ("c", 150.0), ("d", 50.0), ("old", 1_000.0, 1.0, 60 * S)), NOW
    )
    assert r.status == "fallback_median"
    assert r.price == 101.0
    assert "old" in r.dropped


def test_custom_threshold() -> None:
    cfg = OracleConfig(max_deviation=0.01)
    r = aggregate_index(quotes(("a", 100.0), ("b", 100.5), ("c", 99.8), ("d", 102.0)), NOW, cfg)
    assert r.dropped["d"] == "deviation 1.7% > 1.0% from median 100.25"


# --------------------------------------------------------------------------- index: screening
def test_stale_source_is_dropped_by_age() -> None:
    r = aggregate_index(quotes(("a", 100.0), ("b", 101.0), ("c", 99.0), ("d", 100.0, 1.0, 42 * S)), NOW)
    assert dict(r.dropped) == {"d": "stale: age 42.0 s > 30.0 s"}
    assert r.price == 100.0


def test_age_equal_to_the_limit_is_fresh_and_future_stamps_count_as_fresh() -> None:
    r = aggregate_index(quotes(("a", 100.0, 1.0, 30 * S), ("b", 101.0, 1.0, -5 * S), ("c", 99.0)), NOW)
    assert r.used == ("a", "b", "c")


@pytest.mark.parametrize(
    ("price", "weight", "reason"),
    [
        (math.nan, 1.0, "non-finite price: nan"),
        (math.inf, 1.0, "non-finite price: inf"),
        (-math.inf, 1.0, "non-finite price: -inf"),
        (0.0, 1.0, "non-positive price: 0.0"),
        (-3.5, 1.0, "non-positive price: -3.5"),
        (100.0, 0.0, "zero weight"),
        (100.0, -1.0, "invalid weight: -1.0 (must be finite and >= 0)"),
        (100.0, math.nan, "invalid weight: nan (must be finite and >= 0)"),
        (100.0, math.inf, "invalid weight: inf (must be finite and >= 0)"),
        (math.nan, 0.0, "non-finite price: nan"),  # the first failing check is the reason
    ],
)
def test_invalid_quotes_are_dropped_with_a_reason(price: float, weight: float, reason: str) -> None:
    r = aggregate_index(quotes(("a", 100.0), ("b", 101.0), ("c", 99.0), ("x", price, weight)), NOW)
    assert r.status == "ok"
    assert r.used == ("a", "b", "c")
    assert dict(r.dropped) == {"x": reason}
    assert r.price == 100.0


def test_invalid_sources_do_not_enter_the_median() -> None:
    r = aggregate_index(quotes(("a", 100.0), ("b", 101.0), ("c", 102.0), ("z", 0.0), ("n", math.nan)), NOW)
    assert r.median == 101.0


# --------------------------------------------------------------------------- index: circuit breaker
def test_circuit_breaker_halts_with_reasons_kept() -> None:
    r = aggregate_index(quotes(("a", 100.0), ("b", 101.0), ("c", 99.0, 1.0, 31 * S)), NOW)
    assert r.status == "halted"
    assert not r.ok
    assert math.isnan(r.price)
    assert r.used == ()
    assert dict(r.dropped) == {
        "a": "circuit breaker: 2 fresh valid source(s) < min_sources 3",
        "b": "circuit breaker: 2 fresh valid source(s) < min_sources 3",
        "c": "stale: age 31.0 s > 30.0 s",
    }
    assert r.median == 100.5
    assert r.detail == "circuit breaker: 2 fresh valid source(s) < min_sources 3"


def test_a_deviating_source_does_not_trip_the_breaker() -> None:
    # Health is freshness and validity; Binance keeps publishing when one source deviates.
    r = aggregate_index(quotes(("a", 100.0), ("b", 101.0), ("c", 130.0)), NOW)
    assert r.status == "ok"
    assert r.used == ("a", "b")


def test_no_quotes_halts() -> None:
    r = aggregate_index([], NOW)
    assert r.status == "halted"
    assert math.isnan(r.price)
    assert math.isnan(r.median)


def test_min_sources_one_publishes_a_single_source() -> None:
    r = aggregate_index(quotes(("a", 100.0)), NOW, OracleConfig(min_sources=1))
    assert (r.price, r.status, r.used) == (100.0, "ok", ("a",))


def test_dropped_is_read_only() -> None:
    r = aggregate_index(quotes(("a", 100.0), ("b", 101.0), ("c", 99.0), ("x", 0.0)), NOW)
    assert isinstance(r.dropped, MappingProxyType)
    with pytest.raises(TypeError):
        r.dropped["y"] = "nope"  # type: ignore[index]


# --------------------------------------------------------------------------- index: bad parameters
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_deviation": 0.0}, "max_deviation must be a finite fraction > 0, was 0.0"),
        ({"max_deviation": math.nan}, "max_deviation must be a finite fraction > 0, was nan"),
        ({"max_deviation": -0.05}, "max_deviation must be a finite fraction > 0, was -0.05"),
        ({"max_age_ns": 0}, "max_age_ns must be an integer > 0 (nanoseconds), was 0"),
        ({"max_age_ns": 30.0}, "max_age_ns must be an integer > 0 (nanoseconds), was 30.0"),
        ({"min_sources": 0}, "min_sources must be an integer >= 1, was 0"),
        ({"min_sources": True}, "min_sources must be an integer >= 1, was True"),
        ({"min_sources": 2**64}, "min_sources must be at most 2**63 - 1, was 18446744073709551616"),
        ({"method": "mean"}, "method must be one of ['weighted_mean', 'weighted_median'], was 'mean'"),
    ],
)
def test_config_validation_names_field_and_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as err:
        OracleConfig(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_quote_and_call_validation() -> None:
    with pytest.raises(InputError, match="source must be a non-empty string, was ''"):
        SourceQuote("", 1.0, 1.0, 0)
    with pytest.raises(InputError, match=r"ts_ns must be an integer \(nanoseconds\), was 1.5"):
        SourceQuote("a", 1.0, 1.0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="price must be a real number, was '100'"):
        SourceQuote("a", "100", 1.0, 0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="weight must be a real number, was None"):
        SourceQuote("a", 100.0, None, 0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"duplicated \['a'\]"):
        aggregate_index(quotes(("a", 1.0), ("a", 2.0)), NOW)
    with pytest.raises(InputError, match="now_ns must be an integer"):
        aggregate_index([], 1.0)  # type: ignore[arg-type]
    # Ages beyond int64 (two int64 times 2**64 ns apart) are held at its bounds: stale, or fresh
    # (stamped after now); they raised OverflowError.
    far = aggregate_index([SourceQuote("a", 1.0, 1.0, -(2**63))], 2**63 - 1, OracleConfig(min_sources=1))
    assert far.dropped["a"].startswith("stale")
    ahead = aggregate_index([SourceQuote("a", 1.0, 1.0, 2**63 - 1)], -(2**63), OracleConfig(min_sources=1))
    assert ahead.used == ("a",)


# --------------------------------------------------------------------------- mark price
def test_funding_adjusted_price1_known_numbers() -> None:
    # Price1 = Index * (1 + lastFundingRate * timeUntilFunding / 8h)
    r = mark_price(50_000.0, 0.0, 0.0003, 2 * HOUR, 50_000.0)
    assert r.price1 == pytest.approx(50_000.0 * (1 + 0.0003 * 0.25), rel=1e-15)
    assert r.price1 == pytest.approx(50_003.75, rel=1e-15)
    r = mark_price(50_000.0, 0.0, -0.0008, 6 * HOUR, 50_000.0)
    assert r.price1 == pytest.approx(49_970.0, rel=1e-15)
    r = mark_price(50_000.0, 0.0, 0.0003, 0, 50_000.0)  # at settlement the funding term vanishes
    assert r.price1 == 50_000.0
    r = mark_price(2_000.0, 0.0, 0.0001, 2 * HOUR, 2_000.0, funding_interval_ns=4 * HOUR)  # a 4h symbol
    assert r.price1 == pytest.approx(2_000.1, rel=1e-15)


@pytest.mark.parametrize(
    ("basis_ma", "contract", "price", "chosen"),
    [
        (12.0, 60_020.0, 60_012.0, "price2"),  # price1 60,003 < price2 60,012 < contract 60,020
        (12.0, 60_008.0, 60_008.0, "contract_price"),  # the last trade sits between the two
        (12.0, 59_990.0, 60_003.0, "price1"),  # funding-adjusted index in the middle
        (-40.0, 60_100.0, 60_003.0, "price1"),
        (12.0, 60_012.0, 60_012.0, "price2"),  # ties: stable order price1, price2, contract_price
    ],
)
def test_perpetual_mark_is_the_median_of_three(basis_ma: float, contract: float, price: float, chosen: str) -> None:
    r = mark_price(60_000.0, basis_ma, 0.0001, 4 * HOUR, contract)
    assert r.price1 == pytest.approx(60_003.0, rel=1e-15)
    assert r.price2 == 60_000.0 + basis_ma
    assert r.contract_price == contract
    assert r.price == pytest.approx(price, rel=1e-15)
    assert (r.chosen, r.status) == (chosen, "ok")


def test_mark_tie_between_price1_and_price2_reports_price2() -> None:
    r = mark_price(60_000.0, 0.0, 0.0, 4 * HOUR, 60_010.0)  # sorted: price1, price2, contract_price
    assert (r.price, r.chosen) == (60_000.0, "price2")


def test_mark_detail_names_the_components() -> None:
    r = mark_price(60_000.0, 12.0, 0.0001, 4 * HOUR, 60_020.0)
    assert r.detail == "median(price1 60,003.00, price2 60,012.00, contract_price 60,020.00) = price2"


def test_mark_of_a_halted_index_is_nan_with_a_reason() -> None:
    r = mark_price(math.nan, 12.0, 0.0001, HOUR, 60_020.0)
    assert math.isnan(r.price)
    assert (r.chosen, r.status) == ("none", "halted")
    assert r.detail == "index is not finite (nan)"
    r = mark_price(60_000.0, 12.0, math.nan, HOUR, math.inf)
    assert r.detail == "last_funding_rate is not finite (nan); contract_price is not finite (inf)"


@pytest.mark.parametrize(
    ("time_until", "interval", "message"),
    [
        (-1, EIGHT_HOURS_NS, "time_until_funding_ns must be a finite number >= 0, was -1"),
        (math.nan, EIGHT_HOURS_NS, "time_until_funding_ns must be a finite number >= 0, was nan"),
        (HOUR, 0, "funding_interval_ns must be a finite number > 0, was 0"),
    ],
)
def test_mark_parameter_errors(time_until: float, interval: float, message: str) -> None:
    with pytest.raises(InputError) as err:
        mark_price(60_000.0, 0.0, 0.0001, time_until, 60_000.0, interval)
    assert str(err.value) == message


def test_delivery_mark_is_index_plus_basis_average() -> None:
    r = delivery_mark(60_000.0, 150.25)
    assert (r.price, r.price2, r.chosen, r.status) == (60_150.25, 60_150.25, "price2", "ok")
    assert math.isnan(r.price1)
    assert math.isnan(r.contract_price)
    r = delivery_mark(math.nan, 1.0)
    assert math.isnan(r.price)
    assert r.status == "halted"


# --------------------------------------------------------------------------- basis moving average
def test_basis_moving_average_known_numbers() -> None:
    mid = [60_010.0, 60_020.0, 60_030.0, 60_000.0, 60_060.0]
    idx = [60_000.0, 60_000.0, 60_000.0, 60_000.0, 60_000.0]
    out = moving_average_basis(mid, idx, window=3)
    np.testing.assert_allclose(out[2:], [20.0, 50.0 / 3, 30.0], rtol=1e-15)
    assert np.isnan(out[:2]).all()
    out = moving_average_basis(mid, idx, window=3, min_periods=1)
    np.testing.assert_allclose(out, [10.0, 15.0, 20.0, 50.0 / 3, 30.0], rtol=1e-15)


def test_basis_moving_average_skips_missing_points() -> None:
    mid = [101.0, math.nan, 103.0, 104.0, math.inf, math.nan, math.nan, 108.0]
    idx = [100.0] * 8
    out = moving_average_basis(mid, idx, window=3, min_periods=1)
    np.testing.assert_allclose(out, [1.0, 1.0, 2.0, 3.5, 3.5, 4.0, math.nan, 8.0], rtol=1e-15)
    out = moving_average_basis(mid, idx, window=3, min_periods=2)
    assert np.isnan(out[[0, 1, 5, 6, 7]]).all()


def test_basis_moving_average_matches_a_direct_mean_over_long_series() -> None:
    rng = np.random.default_rng(3)
    n, w = 5_000, 30  # Binance: 30 one-second samples
    idx = 60_000 + np.cumsum(rng.normal(0, 5, n))
    mid = idx + rng.normal(8, 3, n)
    mid[rng.random(n) < 0.05] = np.nan
    out = moving_average_basis(mid, idx, window=w, min_periods=1)
    basis = mid - idx
    ref = np.array(
        [
            np.nanmean(basis[max(0, t - w + 1) : t + 1])
            if np.isfinite(basis[max(0, t - w + 1) : t + 1]).any()
            else np.nan
            for t in range(n)
        ]
    )
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 0}, "window must be an integer >= 1, was 0"),
        ({"window": 2.0}, "window must be an integer >= 1, was 2.0"),
        ({"window": 3, "min_periods": 4}, r"min_periods must be an integer in \[1, window=3\], was 4"),
    ],
)
def test_basis_moving_average_parameter_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        moving_average_basis([1.0, 2.0], [1.0, 1.0], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="one length"):
        moving_average_basis([1.0, 2.0], [1.0], window=1)


def test_docstring_examples() -> None:
    result = doctest.testmod(levguard.core.oracle)
    assert result.attempted >= 7
    assert result.failed == 0
