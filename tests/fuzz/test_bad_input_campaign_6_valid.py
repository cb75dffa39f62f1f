"""Valid input the sixth campaign's checks refused at first (found by a review of the change):
each of these worked before the campaign and works again.

A zero collateral price (a worthless collateral), Decimal and Fraction numbers, a list of
defaulted venues, a whole-number float count from a YAML file, a numpy Generator as a seed, a
dict's ``values()`` of quotes, a pandas Series of returns and a NumPy pair of health factors.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from levguard.cascade import Market
from levguard.cascade.market_pools import lending_pool_venue, random_borrowers
from levguard.core.options.surface import SmileQuotes, fit_surface
from levguard.core.options.svi import SVIParams
from levguard.core.risk.stress import Scenario
from levguard.core.sizing.base import SeriesInputs
from levguard.core.validate import number
from levguard.defi.positions import oracle_price_from
from levguard.errors import InputError
from levguard.risk import var_backtest


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Decimal("60000.5"), 60_000.5), (Fraction(1, 4), 0.25), (np.float32(1.5), 1.5), (np.array(2.0), 2.0)],
)
def test_number_takes_every_real_number(value: object, expected: float) -> None:
    assert number(value, "x") == expected


@pytest.mark.parametrize("value", [True, np.bool_(False), "1.5", None, np.array([1.0]), Decimal("sNaN")])
def test_number_still_refuses_what_is_not_one(value: object) -> None:
    with pytest.raises(InputError, match=r"^x must be a number"):
        number(value, "x")


def test_a_worthless_collateral_has_oracle_price_zero() -> None:
    assert oracle_price_from(Decimal(0), Decimal(1), 18, 6) == 0
    assert oracle_price_from(np.float32(2_000.5), 1, 18, 6) == oracle_price_from(2_000.5, 1, 18, 6)
    with pytest.raises(InputError, match=r"^loan_price must be > 0"):
        oracle_price_from(1, 0, 18, 6)


def test_a_scenario_takes_a_list_of_venues_and_a_whole_float_count() -> None:
    s = Scenario("x", -0.1, defaulted_venues=["ftx"], funding_intervals=3.0)  # type: ignore[arg-type]
    assert s.defaulted_venues == ("ftx",)
    assert s.funding_intervals == 3
    assert type(s.funding_intervals) is int
    with pytest.raises(InputError, match="funding_intervals must be a whole number"):
        Scenario("x", -0.1, funding_intervals=2.5)  # type: ignore[arg-type]


def test_var_backtest_takes_a_generator_seed() -> None:
    rng = np.random.default_rng(42)
    idx = pd.date_range("2022-01-01", periods=400, freq="D", tz="UTC")
    r = pd.Series(rng.standard_t(5, 400) * 0.03 / math.sqrt(5 / 3), index=idx)
    a = var_backtest(r, method="t", window=250, refit_every=100, n_sims=500, seed=1)
    b = var_backtest(r, method="t", window=250, refit_every=100, n_sims=500, seed=np.random.default_rng(1))
    assert a.z2 == b.z2  # the simulated null: the one place the seed is read


def test_fit_surface_takes_any_iterable_of_quotes() -> None:
    p, t, f0 = SVIParams(0.001, 0.012, -0.25, 0.0, 0.06), 0.1, 60_000.0
    k = np.linspace(-3.0, 2.0, 21) * 0.6 * math.sqrt(t)
    by_expiry = {"2026-12-31": SmileQuotes(t, f0, f0 * np.exp(k), p.implied_vol(k, t))}
    _, fits, report = fit_surface(by_expiry.values())
    assert report.ok
    assert len(fits) == 1


def test_series_inputs_take_a_series() -> None:
    returns = pd.Series(np.zeros(5))
    assert SeriesInputs(returns, equity=pd.Series(np.ones(5))).returns is returns  # type: ignore[arg-type]


def test_random_borrowers_take_a_numpy_pair() -> None:
    pool = lending_pool_venue("p", ["BTC"], lt=0.8, bonus=0.05, books=Market(depth=1e13, half_life_steps=0.0))
    a = random_borrowers(5, [60_000.0], pool, venue=0, hf=np.array([1.1, 2.0]), seed=3)
    b = random_borrowers(5, [60_000.0], pool, venue=0, hf=(1.1, 2.0), seed=3)
    np.testing.assert_array_equal(a.wallet, b.wallet)
