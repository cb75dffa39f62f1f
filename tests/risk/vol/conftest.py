"""Session fixtures: simulated GBM OHLC bars (see gbm_ohlc.py) shared by the volatility tests."""

from __future__ import annotations

import numpy as np
import pytest
from gbm_ohlc import N_BARS, SIGMA, Bars, simulate_gbm_ohlc


@pytest.fixture(scope="session")
def continuous_bars() -> Bars:
    """Driftless 24/7 GBM with exact (continuous-path) highs and lows."""
    return simulate_gbm_ohlc(N_BARS, 64, bridge=True, seed=11)


@pytest.fixture(scope="session")
def discrete_bars_100() -> Bars:
    """Driftless 24/7 GBM, highs and lows from 100 prices per bar."""
    return simulate_gbm_ohlc(N_BARS, 100, seed=12)


@pytest.fixture(scope="session")
def discrete_bars_400() -> Bars:
    """Driftless 24/7 GBM, highs and lows from 400 prices per bar."""
    return simulate_gbm_ohlc(N_BARS, 400, seed=13)


@pytest.fixture(scope="session")
def drift_bars() -> Bars:
    """GBM with a log drift of one standard deviation per bar (continuous extremes)."""
    return simulate_gbm_ohlc(N_BARS, 64, drift=SIGMA, bridge=True, seed=14)


@pytest.fixture(scope="session")
def gap_bars() -> Bars:
    """GBM with drift and opening jumps of variance 0.5 sigma^2 (continuous extremes)."""
    return simulate_gbm_ohlc(N_BARS, 64, drift=0.5 * SIGMA, gap_sd=np.sqrt(0.5) * SIGMA, bridge=True, seed=15)
