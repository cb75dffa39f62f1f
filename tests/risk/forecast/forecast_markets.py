"""Synthetic hourly markets for the forecaster's tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def gbm_bars(hours: int, sigma_annual: float, seed: int, substeps: int = 30, start: str = "2021-01-01") -> pd.DataFrame:
    """Hourly bars of a driftless geometric Brownian motion sampled ``substeps`` times an hour."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / (365 * 24 * substeps)
    steps = rng.normal(-0.5 * sigma_annual**2 * dt, sigma_annual * np.sqrt(dt), size=hours * substeps)
    path = np.log(100.0) + np.concatenate([[0.0], np.cumsum(steps)])
    fine = path[1:].reshape(hours, substeps)
    opens = path[:-1:substeps]
    high = np.maximum(fine.max(axis=1), opens)
    low = np.minimum(fine.min(axis=1), opens)
    idx = pd.date_range(start, periods=hours, freq="1h", tz="UTC")
    return pd.DataFrame(
        {"open": np.exp(opens), "high": np.exp(high), "low": np.exp(low), "close": np.exp(fine[:, -1])}, index=idx
    )


def jumpy_bars(hours: int, seed: int, start: str = "2021-01-01") -> pd.DataFrame:
    """Hourly bars with Student-t returns and GARCH-like clustering (a crypto-like test market)."""
    rng = np.random.default_rng(seed)
    r = np.empty(hours)
    v = 0.006**2
    for i in range(hours):
        z = rng.standard_t(3) / np.sqrt(3.0)
        r[i] = np.sqrt(v) * z
        v = 0.000001 + 0.05 * r[i] ** 2 + 0.93 * v
    close = 100.0 * np.exp(np.cumsum(r))
    opens = np.concatenate([[100.0], close[:-1]])
    wig = np.abs(rng.normal(0.0, 0.002, size=(2, hours)))
    high = np.maximum(opens, close) * (1.0 + wig[0])
    low = np.minimum(opens, close) * (1.0 - wig[1])
    idx = pd.date_range(start, periods=hours, freq="1h", tz="UTC")
    return pd.DataFrame({"open": opens, "high": high, "low": low, "close": close}, index=idx)
