"""Fixtures for the forecaster's tests."""

from __future__ import annotations

import pandas as pd
import pytest
from forecast_markets import jumpy_bars


@pytest.fixture(scope="session")
def market() -> pd.DataFrame:
    """Two years of a clustered, fat-tailed hourly market."""
    return jumpy_bars(24 * 730, seed=11)
