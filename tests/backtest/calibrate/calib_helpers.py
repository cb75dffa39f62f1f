"""Shared helpers for the calibration tests: synthetic returns and a small vol-target policy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from levguard.core.sizing.base import SeriesInputs, SizingDecision, SizingState


def gbm_log_returns(n: int, mu: float, sigma: float, ppy: float, seed: int) -> np.ndarray:
    """Log returns of a GBM (annual drift ``mu``, vol ``sigma``) with exactly these sample moments."""
    z = np.random.default_rng(seed).standard_normal(n)
    z = (z - z.mean()) / z.std()
    return (mu - 0.5 * sigma**2) / ppy + sigma / math.sqrt(ppy) * z


@dataclass(frozen=True)
class EwmaVolTarget:
    """``L_t = min(target / sigma_hat_t, cap)`` with an EWMA variance of log returns up to ``t``."""

    target: float
    cap: float
    lam: float = 0.94
    name: str = "ewma_vol_target"

    def decide(self, state: SizingState) -> SizingDecision:
        vol = state.vol_forecast or math.nan
        return SizingDecision(min(self.target / vol, self.cap), self.name)

    def leverage_path(self, inputs: SeriesInputs) -> np.ndarray:
        x = inputs.returns
        var = np.empty_like(x)
        v = float(np.mean(x[:20] ** 2))  # warm start from the first bars (known by bar 19)
        for t in range(x.shape[0]):
            v = self.lam * v + (1 - self.lam) * x[t] ** 2
            var[t] = v
        vol = np.sqrt(var * inputs.periods_per_year)
        lev = np.minimum(self.target / vol, self.cap)
        lev[:20] = np.nan  # no forecast during warm-up: flat
        return lev
