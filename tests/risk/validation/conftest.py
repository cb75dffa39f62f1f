"""Fixtures of the liquidation-forecast validation tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from validation_helpers import hourly_bars


@pytest.fixture
def random_walk() -> pd.DataFrame:
    """400 days of a seeded hourly random walk (60 % annualised vol), mark = last price."""
    rng = np.random.default_rng(11)
    n = 400 * 24
    r = rng.standard_normal(n) * 0.6 / math.sqrt(24 * 365)
    close = 100.0 * np.exp(np.cumsum(r))
    return hourly_bars("2022-01-01", close, asset="RW")
