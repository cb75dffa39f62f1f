"""Fixtures shared by the bad-input campaigns of the forecasts and the cascade."""

from __future__ import annotations

import pandas as pd
import pytest

from levguard.cascade import population_from_distribution
from levguard.cascade.population import Population
from levguard.data import synth_market


@pytest.fixture(scope="module")
def pop() -> Population:
    """50 accounts around 60,000 (seed 3)."""
    return population_from_distribution(50, price=60_000.0, seed=3)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    """0.3 years of hourly synthetic bars with no interval label."""
    b = synth_market(years=0.3, seed=1, interval="1h").ohlcv
    b.attrs = {}
    return b
