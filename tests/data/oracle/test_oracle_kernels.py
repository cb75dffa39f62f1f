"""Oracle kernel parity: compiled == plain Python, and the scalar API == the series API row by row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from levguard.core import oracle as co
from levguard.errors import InputError
from levguard.kernels import oracle as ko
from levguard.kernels._jit import NUMBA_DISABLED

S = 1_000_000_000
NOW = 1_700_000_000 * S
HOUR = 3_600 * S
needs_numba = pytest.mark.skipif(NUMBA_DISABLED, reason="LEVGUARD_DISABLE_NUMBA=1: no compiled twin")


def market(t: int, s: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, S) quotes around a random walk with every kind of failure sprinkled in."""
    rng = np.random.default_rng(seed)
    base = 60_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, t)))[:, None]
    prices = base * (1 + rng.normal(0, 0.01, (t, s)))
    prices[rng.random((t, s)) < 0.05] *= rng.choice([0.5, 0.9, 1.08, 2.0], size=1)
    prices[rng.random((t, s)) < 0.02] = np.nan
    prices[rng.random((t, s)) < 0.01] = np.inf
    prices[rng.random((t, s)) < 0.01] = 0.0
    prices[rng.random((t, s)) < 0.01] = -5.0
    weights = rng.uniform(0.1, 10.0, (t, s))
    weights[rng.random((t, s)) < 0.01] = 0.0
    weights[rng.random((t, s)) < 0.01] = np.nan
    weights[rng.random((t, s)) < 0.01] = -1.0
    ages = rng.integers(-2 * S, 45 * S, (t, s)).astype(np.int64)
    return prices, weights, ages


def run_series(fn, prices, weights, ages, cfg):  # type: ignore[no-untyped-def]
    t, s = prices.shape
    out = (np.empty(t), np.empty(t, dtype=np.int8), np.empty(t), np.empty((t, s), dtype=np.int8))
    with np.errstate(all="ignore"):
        fn(prices, weights, ages, cfg.max_deviation, cfg.max_age_ns, cfg.min_sources, cfg.method_code, *out)
    return out


CONFIGS = [
    co.OracleConfig(),
    co.OracleConfig(method="weighted_median", min_sources=2, max_deviation=0.02),
    co.OracleConfig(min_sources=1, max_age_ns=10 * S, max_deviation=0.3),
]


@needs_numba
@pytest.mark.parametrize("cfg", CONFIGS)
def test_aggregate_series_compiled_equals_python(cfg: co.OracleConfig) -> None:
    prices, weights, ages = market(3_000, 6, 1)
    a = run_series(ko.aggregate_series_py, prices, weights, ages, cfg)
    b = run_series(ko.aggregate_series_nb, prices, weights, ages, cfg)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    codes = a[3]
    # The fixture exercises halting and most source codes under every config.
    assert set(np.unique(a[1])) >= {ko.STATUS_OK, ko.STATUS_HALTED}
    assert len(np.unique(codes)) >= 6


@pytest.mark.parametrize("cfg", CONFIGS)
def test_scalar_api_equals_series_api_row_by_row(cfg: co.OracleConfig) -> None:
    prices, weights, ages = market(400, 5, 2)
    series = co.aggregate_series(prices, weights, ages, cfg)
    names = [f"v{j}" for j in range(prices.shape[1])]
    statuses = set()
    for t in range(prices.shape[0]):
        quotes = [
            co.SourceQuote(names[j], prices[t, j], weights[t, j], NOW - int(ages[t, j])) for j in range(len(names))
        ]
        r = co.aggregate_index(quotes, NOW, cfg)
        statuses.add(r.status)
        assert r.status == co.STATUS_NAMES[series.status[t]]
        if math.isnan(r.price):
            assert math.isnan(series.index[t])
        else:
            assert r.price == series.index[t]
        assert r.used == tuple(n for j, n in enumerate(names) if series.used_mask[t, j])
        tags = {names[j]: co.SOURCE_CODE_NAMES[series.codes[t, j]] for j in range(len(names))}
        for name, reason in r.dropped.items():
            tag = tags[name]
            assert reason.startswith(
                {
                    "non_finite_price": "non-finite price",
                    "non_positive_price": "non-positive price",
                    "invalid_weight": "invalid weight",
                    "zero_weight": "zero weight",
                    "stale": "stale",
                    "deviation": "deviation",
                    "circuit_breaker": "circuit breaker",
                }[tag]
            )
    assert statuses == {"ok", "fallback_median", "halted"}
    np.testing.assert_array_equal(series.n_used, series.used_mask.sum(axis=1))


def test_series_input_validation() -> None:
    with pytest.raises(InputError, match="prices must be 2-D"):
        co.aggregate_series(np.ones(3))
    with pytest.raises(InputError, match="must have the shape of prices"):
        co.aggregate_series(np.ones((3, 2)), np.ones((3, 3)))
    r = co.aggregate_series(np.array([[100.0, 101.0, 99.0]]))  # default weights 1, ages 0
    assert r.index[0] == 100.0


def mark_inputs(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    index = 60_000 + rng.normal(0, 100, n)
    basis = rng.normal(5, 20, n)
    rate = rng.normal(1e-4, 3e-4, n)
    until = rng.uniform(0, 8 * HOUR, n)
    contract = index + rng.normal(5, 30, n)
    for arr in (index, basis, rate, contract):
        arr[rng.random(n) < 0.02] = np.nan
    contract[::50] = index[::50]  # ties
    return index, basis, rate, until, contract


def run_mark(fn, *arrays):  # type: ignore[no-untyped-def]
    n = arrays[0].shape[0]
    out = (np.empty(n), np.empty(n), np.empty(n), np.empty(n, dtype=np.int8))
    fn(*arrays, float(co.EIGHT_HOURS_NS), *out)
    return out


@needs_numba
def test_mark_series_compiled_equals_python() -> None:
    arrays = mark_inputs(5_000, 3)
    a = run_mark(ko.mark_series_py, *arrays)
    b = run_mark(ko.mark_series_nb, *arrays)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert set(np.unique(a[3])) == {-1, 0, 1, 2}


def test_mark_price_equals_mark_series_row_by_row() -> None:
    index, basis, rate, until, contract = mark_inputs(500, 4)
    series = co.mark_series(index, basis, rate, until, contract)
    for t in range(index.shape[0]):
        r = co.mark_price(index[t], basis[t], rate[t], until[t], contract[t])
        assert r.chosen == co.CHOSEN_NAMES[int(series.chosen[t])]
        for x, y in ((r.price, series.mark[t]), (r.price1, series.price1[t]), (r.price2, series.price2[t])):
            assert (math.isnan(x) and math.isnan(y)) or x == y


def test_mark_series_validation() -> None:
    one = np.ones(2)
    with pytest.raises(InputError, match="one length"):
        co.mark_series(one, one, one, np.ones(3), one)
    with pytest.raises(InputError, match=r"time_until_funding_ns must be >= 0, was -1\.0"):
        co.mark_series(one, one, one, np.array([0.0, -1.0]), one)
    with pytest.raises(InputError, match="funding_interval_ns must be a finite number > 0"):
        co.mark_series(one, one, one, one, one, funding_interval_ns=0.0)


@needs_numba
def test_moving_average_compiled_equals_python() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    index = 60_000 + np.cumsum(rng.normal(0, 3, n))
    mid = index + rng.normal(4, 2, n)
    mid[rng.random(n) < 0.03] = np.nan
    for window, min_periods in ((1, 1), (30, 30), (30, 1), (150, 100)):
        a, b = np.empty(n), np.empty(n)
        ko.moving_average_basis_py(mid, index, window, min_periods, a)
        ko.moving_average_basis_nb(mid, index, window, min_periods, b)
        np.testing.assert_array_equal(a, b)


def test_kernel_helpers() -> None:
    assert ko.median_of_three(1.0, 2.0, 3.0) == (2.0, ko.CHOSEN_PRICE2)
    assert ko.median_of_three(3.0, 1.0, 2.0) == (2.0, ko.CHOSEN_CONTRACT)
    assert ko.median_of_three(2.0, 3.0, 1.0) == (2.0, ko.CHOSEN_PRICE1)
    assert ko.median_of_three(2.0, 2.0, 2.0) == (2.0, ko.CHOSEN_PRICE2)  # stable middle of equals
    value, which = ko.median_of_three(math.nan, 1.0, 2.0)
    assert math.isnan(value)
    assert which == ko.CHOSEN_NONE
    assert ko.midpoint(5e-324, 5e-324) == 5e-324  # no underflow to zero
    assert ko.midpoint(1e308, 1.7e308) == 1.35e308  # no overflow
    p, w = np.array([3.0, 1.0, 3.0, 2.0]), np.array([2.0, 1.0, 1.0, 5.0])
    ko.sort_quotes(p, w, 4)
    assert p.tolist() == [1.0, 2.0, 3.0, 3.0]
    assert w.tolist() == [1.0, 5.0, 1.0, 2.0]
